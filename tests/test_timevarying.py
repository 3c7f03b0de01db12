"""lagged_dose (counting-process lagged CED) against a naive loop; Cox fits with lifelines and
statsmodels on its output agree."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct.errors import DataError, DroppedRowsWarning
from recurct.timevarying import lag_days, lagged_dose

D0 = dt.date(2000, 1, 1)


def naive(exams: pl.DataFrame, subjects: pl.DataFrame, lags_years):
    lags = [round(x * 365.25) for x in lags_years]
    rows = []
    for s in subjects.sort("patient_id").iter_rows(named=True):
        e0 = (s["entry"] - D0).days
        e1 = (s["exit"] - D0).days
        mine = [
            ((r["exam_date"] - D0).days, r["effective_dose_msv"])
            for r in exams.iter_rows(named=True)
            if r["patient_id"] == s["patient_id"]
        ]
        cuts = sorted({d + lag for d, _ in mine for lag in lags if e0 < d + lag < e1})
        bounds = [e0, *cuts, e1]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            rec = {
                "patient_id": s["patient_id"],
                "start": a - e0,
                "stop": b - e0,
                "event": int(s["event"]) if i == len(bounds) - 2 else 0,
            }
            for lag, x in zip(lags, lags_years):
                rec[f"ced_lag{x:g}"] = math.fsum(v for d, v in mine if d + lag <= a)
            rows.append(rec)
    return rows


@st.composite
def cohorts(draw):
    n_sub = draw(st.integers(1, 6))
    subs, exams = [], []
    for pid in range(n_sub):
        e0 = draw(st.integers(0, 3000))
        e1 = e0 + draw(st.integers(1, 4000))
        subs.append(
            {
                "patient_id": pid * 7,
                "entry": D0 + dt.timedelta(days=e0),
                "exit": D0 + dt.timedelta(days=e1),
                "event": draw(st.booleans()),
            }
        )
        for _ in range(draw(st.integers(0, 8))):
            exams.append(
                {
                    "patient_id": pid * 7,
                    "exam_date": D0 + dt.timedelta(days=draw(st.integers(0, 7000))),
                    "effective_dose_msv": draw(st.floats(0, 50, allow_nan=False)),
                }
            )
    exams.append({"patient_id": 999, "exam_date": D0, "effective_dose_msv": 1.0})  # no subject
    lags = draw(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), min_size=1, max_size=3, unique=True)
    )
    schema = {"patient_id": pl.Int64, "exam_date": pl.Date, "effective_dose_msv": pl.Float64}
    return pl.DataFrame(exams, schema=schema), pl.DataFrame(subs), lags


@given(cohorts())
@settings(max_examples=40, deadline=None)
def test_lagged_dose_equals_naive(data) -> None:
    exams, subjects, lags = data
    if not exams["patient_id"].is_in(subjects["patient_id"].implode()).any():
        # only the exam of patient 999 (no subject): every CED would be 0, refused
        with pytest.raises(DataError, match="no exam matches a subject"):
            lagged_dose(exams, subjects, lags=lags)
        return
    # the exam of patient 999 matches no subject: ignored, and counted
    with pytest.warns(DroppedRowsWarning, match=r"1 exam\(s\) of 1 patient\(s\)"):
        got = lagged_dose(exams, subjects, lags=lags)
    want = naive(exams, subjects, lags)
    assert got.height == len(want)
    for g, w in zip(got.iter_rows(named=True), want):
        for key, val in w.items():
            if key.startswith("ced"):
                assert g[key] == pytest.approx(val, rel=1e-12, abs=1e-12)
            else:
                assert g[key] == val
    assert (got["start"] < got["stop"]).all()


def simulated_cohort(seed: int, n: int = 1500):
    """Exams, and an outcome whose hazard rises with the 5-year-lagged CED."""
    rng = np.random.default_rng(seed)
    ex_rows, subs = [], []
    for pid in range(n):
        n_ex = rng.poisson(3)
        days = np.sort(rng.integers(0, 3650, n_ex))
        doses = rng.gamma(1.5, 10, n_ex)
        ex_rows += [
            {
                "patient_id": pid,
                "exam_date": D0 + dt.timedelta(days=int(d)),
                "effective_dose_msv": x,
            }
            for d, x in zip(days, doses)
        ]
        # piecewise-constant hazard, simulated day by day in yearly steps
        sex = rng.choice(["F", "M"])
        t, event = 0, False
        while t < 15 * 365:
            lag = sum(x for d, x in zip(days, doses) if d + 1826 <= t)
            h = 0.01 * np.exp(0.01 * lag + (0.3 if sex == "M" else 0.0)) / 365
            step = 365
            if rng.random() < 1 - np.exp(-h * step):
                t += int(rng.integers(1, step))
                event = True
                break
            t += step
        subs.append(
            {"patient_id": pid, "entry": D0, "exit": D0 + dt.timedelta(days=max(t, 1)),
             "event": event, "male": int(sex == "M")}
        )  # fmt: skip
    return pl.DataFrame(ex_rows), pl.DataFrame(subs)


def test_cox_lifelines_equals_statsmodels_phreg() -> None:
    lifelines = pytest.importorskip("lifelines")
    from statsmodels.duration.hazard_regression import PHReg

    exams, subjects = simulated_cohort(0)
    cp = lagged_dose(exams.to_pandas(), subjects, lags=[5], covariates=["male"])
    assert isinstance(cp, pd.DataFrame)
    ctv = lifelines.CoxTimeVaryingFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctv.fit(cp, id_col="patient_id", start_col="start", stop_col="stop", event_col="event")
    sm = PHReg(
        cp["stop"].to_numpy(float),
        cp[["ced_lag5", "male"]].to_numpy(float),
        status=cp["event"].to_numpy(),
        # PHReg counts a subject at risk at its entry time: shift the (start, stop] rows by
        # half a day so that an interval starting on an event day does not join its risk set
        entry=cp["start"].to_numpy(float) + 0.5,
        ties="efron",
    ).fit()
    np.testing.assert_allclose(ctv.params_[["ced_lag5", "male"]].to_numpy(), sm.params, rtol=1e-5)
    np.testing.assert_allclose(
        ctv.standard_errors_[["ced_lag5", "male"]].to_numpy(), sm.bse, rtol=1e-4
    )
    assert 0.004 < sm.params[0] < 0.016  # the simulated 0.01 per mSv


def test_errors_and_lag_days() -> None:
    assert lag_days([0, 2, 5]) == [0, 730, 1826]
    ex = pl.DataFrame({"patient_id": [1], "exam_date": [D0], "effective_dose_msv": [1.0]})
    sub = pl.DataFrame({"patient_id": [1], "entry": [D0], "exit": [D0], "event": [False]})
    with pytest.raises(ValueError, match="exit"):
        lagged_dose(ex, sub)
    with pytest.raises(ValueError, match="lags"):
        lagged_dose(ex, sub, lags=[-1])
    with pytest.raises(ValueError, match="lacks"):
        lagged_dose(ex, sub.drop("event"))
