"""Synthetic CT exam cohorts from a generative model calibrated to published figures.

Patient-level dose data cannot be shared, so benchmarks, teaching and the reproduction of
published tables use synthetic cohorts. The model (:mod:`recurct.synthetic.model`) describes
a health system's CT use: sites with a study period, patients with a clinical group, age and
sex, a renewal process of exams truncated at the period end, body regions, lognormal DLP and
effective dose ``k(region, age) x DLP``. Its free parameters are fitted to published marginals
by :func:`calibrate` (re-run with ``python -m recurct.synthetic.calibrate <profile>``).

Public functions: :func:`generate` (a table), :func:`write_cohort` (a folder of Parquet),
:func:`sites`, :func:`calibrate`, :func:`load_profile`,
:func:`describe`, :func:`profile_names`.
"""

from __future__ import annotations

from typing import Any

from recurct.synthetic._cohort import generate, write_cohort
from recurct.synthetic._simulate import iter_chunks, site_sizes, sites
from recurct.synthetic.model import (
    GROUPS,
    REGIONS,
    Profile,
    defaults,
    describe,
    load_profile,
    profile_names,
)

__all__ = [
    "GROUPS",
    "REGIONS",
    "CalibrationResult",
    "Profile",
    "calibrate",
    "defaults",
    "describe",
    "generate",
    "iter_chunks",
    "load_profile",
    "profile_names",
    "site_sizes",
    "sites",
    "write_cohort",
]


def __getattr__(name: str) -> Any:
    # ``calibrate`` is the module recurct.synthetic.calibrate, which is callable (it calls
    # its function calibrate()), imported on first use so that ``python -m`` runs it cleanly.
    if name in ("calibrate", "CalibrationResult"):
        import importlib

        mod = importlib.import_module("recurct.synthetic.calibrate")
        return mod if name == "calibrate" else mod.CalibrationResult
    raise AttributeError(f"module 'recurct.synthetic' has no attribute {name!r}")
