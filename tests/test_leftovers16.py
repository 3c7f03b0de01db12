"""Small leftovers: an undefined incidence rate (no person-time) is named, never silent."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl
import pytest

import recurct
from recurct.errors import RecurctWarning
from recurct.stats import incidence_rate, poisson_ci


def _patients() -> pl.DataFrame:
    # facility x: one patient, one exam of 150 mSv on the last day of x's data: an event on
    # the entry day and no person-time at risk; facility y: two patients followed a year
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c", "c"],
            "exam_date": [dt.date(y, 1, 1) for y in (2020, 2021, 2020, 2021)],
            "effective_dose_msv": [150.0, 5.0, 10.0, 10.0],
            "facility": ["x", "y", "y", "y"],
        }
    )
    return recurct.cumulative_dose(exams)


def test_a_stratum_without_person_time_is_named_in_a_warning() -> None:
    with pytest.warns(RecurctWarning, match=r"no person-time at risk.*facility='x' \(1 event"):
        out = incidence_rate(_patients(), 100, by="facility")
    x = out.filter(pl.col("facility") == "x").row(0, named=True)
    assert x["person_years"] == 0.0 and x["n_events"] == 1
    assert x["rate"] is None and x["rate_lo"] is None and x["rate_hi"] is None  # not 0
    y = out.filter(pl.col("facility") == "y").row(0, named=True)
    assert y["rate"] == 0.0 and y["rate_hi"] > 0  # a defined rate of zero stays zero


def test_no_warning_when_every_stratum_has_person_time() -> None:
    patients = _patients().filter(pl.col("facility") == "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = incidence_rate(patients, 100, by="facility", horizons=(3,))
    assert out["rate"].null_count() == 0
    assert out["incidence_3y"].null_count() == out.height  # no one eligible: null, documented


def test_poisson_ci_keeps_its_documented_nan_for_exposure_zero() -> None:
    lo, hi = poisson_ci([1, 0], [0.0, 2.0])
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert lo[1] == 0.0 and hi[1] > 0
