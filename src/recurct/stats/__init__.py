"""Statistics over the patients table: magnitude tables, CIs, time to threshold, dose bands,
multi-site pooling, age standardisation, regression and extrapolation.

Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    # proportions and the magnitude table (issue 6)
    "proportion_ci": "recurct.stats.proportion",
    "magnitude": "recurct.stats.magnitude",
    "time_to_threshold": "recurct.stats.survival",
    "dose_bands": "recurct.stats.bands",
    "exams_per_patient": "recurct.stats.bands",
    # multi-site (issue 7)
    "site_table": "recurct.stats.multisite",
    "meta_proportion": "recurct.stats.meta",
    "standardise": "recurct.stats.standardise",
    "risk_factors": "recurct.stats.regression",
    "exam_rate": "recurct.stats.regression",
    "extrapolate": "recurct.stats.extrapolate",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'recurct.stats' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
