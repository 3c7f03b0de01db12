"""Synthetic CT exam cohorts from a generative model calibrated to published figures.

Patient-level dose data cannot be shared, so benchmarks, teaching and the reproduction of
published tables use synthetic cohorts. The model (:mod:`recurct.synthetic.model`) describes
a health system's CT use: sites with a study period, patients with a clinical group, age and
sex, a renewal process of exams truncated at the period end, body regions, lognormal DLP and
effective dose ``k(region, age) x DLP``. Its free parameters are fitted to published marginals
by :func:`calibrate` (:mod:`recurct.synthetic.calibration`; re-run with
``python -m recurct.synthetic.calibration <profile>``).

Public functions: :func:`generate` (a table), :func:`write_cohort` (a folder of Parquet),
:func:`sites`, :func:`calibrate`, :func:`load_profile`,
:func:`describe`, :func:`profile_names`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

# The fit (recurct.synthetic.calibration) is imported on first use: its shipped targets read the
# study modules, which import this package. Type checkers see the real objects, and no
# ``__getattr__`` (which would make every attribute ``Any`` to them).
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from recurct.synthetic.calibration._fit import CalibrationResult as CalibrationResult
    from recurct.synthetic.calibration._fit import calibrate as calibrate
else:

    def __getattr__(name: str) -> Any:
        if name in ("calibrate", "CalibrationResult"):
            from recurct.synthetic.calibration import _fit

            return getattr(_fit, name)
        raise AttributeError(f"module 'recurct.synthetic' has no attribute {name!r}")
