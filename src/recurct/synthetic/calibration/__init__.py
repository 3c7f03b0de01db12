"""Fit free model parameters so that the analysed synthetic cohort matches published figures.

:func:`calibrate` minimises the sum of squared, tolerance-scaled differences between target
statistics (:func:`statistics`) and those of a generated cohort, over a chosen set of free
parameters, with :func:`scipy.optimize.least_squares` on parameters mapped to [0, 1] by their
bounds. Every evaluation uses the same seed (common random numbers: the generator's per-exam
random numbers are counter-based, so a small parameter change moves few exams and the
objective is smooth up to small steps). With ``seeds=[...]`` every evaluation is the mean of
the statistics over those seeds (the same seeds at every evaluation): the fit then matches
the model's expectation rather than one seed's noise; :mod:`recurct.studies.validate` checks
it on other seeds. Evaluations use a reduced cohort (a fraction of each
site: the first patients of the full cohort) and scale counts up; the fitted profile is then
generated at full scale and the achieved values are recorded with the targets, the seed and
the date in ``profiles/<name>.toml``.

Re-run a shipped calibration with ``python -m recurct.synthetic.calibration rehani2020``
(:mod:`recurct.cli._calibrate`). The statistics are in :mod:`._statistics`, the parameter
paths in :mod:`._params`, the fit in :mod:`._fit`, the shipped targets in :mod:`.shipped`.
"""

from __future__ import annotations

from recurct.synthetic.calibration._fit import CalibrationResult, calibrate, write_profile
from recurct.synthetic.calibration._params import get_param, set_param
from recurct.synthetic.calibration._statistics import (
    COUNT_STATISTICS,
    cohort_statistics,
    expected_max,
    patient_summary,
    statistics,
)
from recurct.synthetic.calibration.shipped import CALIBRATIONS

__all__ = [
    "CALIBRATIONS",
    "COUNT_STATISTICS",
    "CalibrationResult",
    "calibrate",
    "cohort_statistics",
    "expected_max",
    "get_param",
    "patient_summary",
    "set_param",
    "statistics",
    "write_profile",
]
