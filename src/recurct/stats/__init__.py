"""Statistics over the patients table: magnitude tables, CIs, time to threshold, dose bands,
multi-site pooling, age standardisation, regression and extrapolation.

The functions ``magnitude``, ``standardise`` and ``extrapolate`` live in the private modules
``_magnitude``, ``_standardise`` and ``_extrapolate``, so that no submodule shares a name with a
function: ``recurct.stats.magnitude`` is the function, always. Helpers shared by several
modules live in ``_common`` (strata, bands, "reached T"), ``_followup`` (end of observation,
entry, death) and ``_curve`` (the curve result objects).
"""

from __future__ import annotations

from recurct.stats._curve import CurveResult
from recurct.stats._extrapolate import extrapolate
from recurct.stats._followup import observation_end
from recurct.stats._magnitude import age_band, magnitude
from recurct.stats._standardise import standardise
from recurct.stats.bands import dose_bands, dose_share, exams_per_patient, single_exam_share
from recurct.stats.competing import CumulativeIncidence, cumulative_incidence
from recurct.stats.incidence import incidence_rate, poisson_ci
from recurct.stats.meta import MetaResult, meta_proportion
from recurct.stats.multisite import SiteTable, site_table
from recurct.stats.proportion import proportion_ci
from recurct.stats.publish import export_table, publication_table, readable
from recurct.stats.regression import RegressionResult, exam_rate, risk_factors
from recurct.stats.survival import TimeToThreshold, time_to_threshold

__all__ = [
    "CumulativeIncidence",
    "CurveResult",
    "MetaResult",
    "RegressionResult",
    "SiteTable",
    "TimeToThreshold",
    "age_band",
    "cumulative_incidence",
    "dose_bands",
    "dose_share",
    "exam_rate",
    "exams_per_patient",
    "export_table",
    "extrapolate",
    "incidence_rate",
    "magnitude",
    "meta_proportion",
    "observation_end",
    "poisson_ci",
    "proportion_ci",
    "publication_table",
    "readable",
    "risk_factors",
    "single_exam_share",
    "site_table",
    "standardise",
    "time_to_threshold",
]
