"""recurct: cumulative radiation dose from recurrent CT examinations.

The public API is listed in ``__all__``. Submodules are imported on first use
(PEP 562 ``__getattr__``), so ``import recurct`` stays fast and optional extras
(``pydicom``, ``dask``) are only needed by the functions that use them. The errors and
warnings (:mod:`recurct.errors`, which imports nothing) are loaded at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recurct import errors
from recurct._lazy import lazy_getattr
from recurct._version import __version__
from recurct.errors import *  # noqa: F403 (tiny, imports nothing: loaded eagerly)

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # schema and readers
    "validate": "recurct.schema",
    "ValidationReport": "recurct.schema",
    "read_exams": "recurct.io",
    "read_rdsr": "recurct.io",
    "read_openrem_ct": "recurct.io",
    "ReadResult": "recurct.io",
    # dose
    "effective_dose": "recurct.dose",
    "normalise_region": "recurct.dose",
    "compare_to_drl": "recurct.dose",
    "flag_above_drl": "recurct.dose",
    "k_factors": "recurct.dose",
    # engine
    "cumulative_dose": "recurct.cumulative",
    "running_dose": "recurct.cumulative",
    "period_dose": "recurct.cumulative",
    "prepare_exams": "recurct.prepare",
    "trailing_dose": "recurct.alerts",
    "lagged_dose": "recurct.timevarying",
    # cohorts
    "Cohort": "recurct.cohort",
}

_SUBMODULES = (
    "alerts",
    "schema",
    "io",
    "dose",
    "errors",
    "cumulative",
    "cohort",
    "stats",
    "survey",
    "synthetic",
    "studies",
    "plot",
    "distributed",
    "outofcore",
    "prepare",
    "cli",
    "timevarying",
)

__all__ = [
    "Cohort",
    "ReadResult",
    "ValidationReport",
    "__version__",
    "alerts",
    "cli",
    "cohort",
    "compare_to_drl",
    "cumulative",
    "cumulative_dose",
    "distributed",
    "dose",
    "effective_dose",
    "errors",
    "flag_above_drl",
    "io",
    "k_factors",
    "lagged_dose",
    "normalise_region",
    "outofcore",
    "period_dose",
    "plot",
    "prepare",
    "prepare_exams",
    "read_exams",
    "read_openrem_ct",
    "read_rdsr",
    "running_dose",
    "schema",
    "stats",
    "studies",
    "survey",
    "synthetic",
    "timevarying",
    "trailing_dose",
    "validate",
]
__all__ += errors.__all__  # every error and warning, also at the top level
assert set(__all__) == {"__version__", *_LAZY, *_SUBMODULES, *errors.__all__}


# Type checkers see the real objects through the imports below, and no ``__getattr__``: a
# module ``__getattr__`` would make every attribute, a misspelt one too, ``Any`` to them.
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from recurct import alerts as alerts
    from recurct import cli as cli
    from recurct import cohort as cohort
    from recurct import cumulative as cumulative
    from recurct import distributed as distributed
    from recurct import dose as dose
    from recurct import io as io
    from recurct import outofcore as outofcore
    from recurct import plot as plot
    from recurct import prepare as prepare
    from recurct import schema as schema
    from recurct import stats as stats
    from recurct import studies as studies
    from recurct import survey as survey
    from recurct import synthetic as synthetic
    from recurct import timevarying as timevarying
    from recurct.alerts import trailing_dose as trailing_dose
    from recurct.cohort import Cohort as Cohort
    from recurct.cumulative import cumulative_dose as cumulative_dose
    from recurct.cumulative import period_dose as period_dose
    from recurct.cumulative import running_dose as running_dose
    from recurct.dose import compare_to_drl as compare_to_drl
    from recurct.dose import effective_dose as effective_dose
    from recurct.dose import flag_above_drl as flag_above_drl
    from recurct.dose import k_factors as k_factors
    from recurct.dose import normalise_region as normalise_region
    from recurct.io import ReadResult as ReadResult
    from recurct.io import read_exams as read_exams
    from recurct.io import read_openrem_ct as read_openrem_ct
    from recurct.io import read_rdsr as read_rdsr
    from recurct.prepare import prepare_exams as prepare_exams
    from recurct.schema import ValidationReport as ValidationReport
    from recurct.schema import validate as validate
    from recurct.timevarying import lagged_dose as lagged_dose
else:
    __getattr__ = lazy_getattr("recurct", _LAZY, _SUBMODULES)


def __dir__() -> list[str]:
    return sorted(__all__)
