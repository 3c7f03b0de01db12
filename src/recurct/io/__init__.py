"""Readers: exam tables (CSV / Parquet / frames), DICOM CT dose reports, OpenREM exports.

Submodules are imported on first use, so pydicom is needed only by :func:`read_rdsr`.
"""

from __future__ import annotations

from recurct._lazy import lazy_getattr

_LAZY: dict[str, str] = {
    "ReadResult": "recurct.io._result",
    "read_exams": "recurct.io.exams",
    "read_rdsr": "recurct.io.rdsr",
    "ReadReport": "recurct.io.rdsr",
    "read_openrem_ct": "recurct.io.openrem",
}

__all__ = list(_LAZY)


__getattr__ = lazy_getattr("recurct.io", _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
