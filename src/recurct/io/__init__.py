"""Readers: exam tables (CSV / Parquet / frames), DICOM CT dose reports, OpenREM exports.

Submodules are imported on first use, so pydicom is needed only by :func:`read_rdsr`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recurct._lazy import lazy_getattr

_LAZY: dict[str, str] = {
    "ReadResult": "recurct.io._result",
    "read_exams": "recurct.io.exams",
    "read_rdsr": "recurct.io.rdsr",
    "ReadReport": "recurct.io.rdsr",
    "read_openrem_ct": "recurct.io.openrem",
}

__all__ = list(_LAZY)


# Type checkers see the real objects (and no ``__getattr__``, which would make every
# attribute ``Any`` to them); at run time the names are imported on first use.
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from recurct.io._result import ReadResult as ReadResult
    from recurct.io.exams import read_exams as read_exams
    from recurct.io.openrem import read_openrem_ct as read_openrem_ct
    from recurct.io.rdsr import ReadReport as ReadReport
    from recurct.io.rdsr import read_rdsr as read_rdsr
else:
    __getattr__ = lazy_getattr("recurct.io", _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
