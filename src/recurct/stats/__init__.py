"""Statistics over the patients table: magnitude tables, CIs, time to threshold, dose bands,
multi-site pooling, age standardisation, regression and extrapolation.

Three functions share their name with the module that defines them (``magnitude``,
``standardise``, ``extrapolate``). They are imported here eagerly, so that
``recurct.stats.magnitude`` is always the function: a later ``import`` of the submodule finds
it in ``sys.modules`` and does not rebind the package attribute.
"""

from __future__ import annotations

from recurct.stats.bands import dose_bands, dose_share, exams_per_patient, single_exam_share
from recurct.stats.competing import cumulative_incidence
from recurct.stats.extrapolate import extrapolate
from recurct.stats.incidence import incidence_rate, poisson_ci
from recurct.stats.magnitude import age_band, magnitude, reached_expr
from recurct.stats.meta import MetaResult, meta_proportion
from recurct.stats.multisite import SiteTable, site_table
from recurct.stats.proportion import proportion_ci
from recurct.stats.publish import export_table, publication_table, readable
from recurct.stats.regression import exam_rate, risk_factors
from recurct.stats.standardise import standardise
from recurct.stats.survival import observation_end, time_to_threshold

__all__ = [
    "MetaResult",
    "SiteTable",
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
    "reached_expr",
    "readable",
    "risk_factors",
    "single_exam_share",
    "site_table",
    "standardise",
    "time_to_threshold",
]
