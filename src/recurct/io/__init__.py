"""Readers: exam tables (CSV / Parquet / frames), DICOM CT dose reports, OpenREM exports.

Submodules are imported on first use, so pydicom is needed only by :func:`read_rdsr`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "ReadResult": "recurct.io._result",
    "read_exams": "recurct.io.exams",
    "read_rdsr": "recurct.io.rdsr",
    "ReadReport": "recurct.io.rdsr",
    "read_openrem_ct": "recurct.io.openrem",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'recurct.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
