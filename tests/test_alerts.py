"""recurct.alerts.trailing_dose and its numba kernel against a naive per-exam loop."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct
from recurct.alerts import trailing_dose, trailing_kernel


def naive(exams: pl.DataFrame, w: int, t: float):
    """Per exam (patient/time order): fsum of the patient's exams j <= i within w days."""
    rows = sorted(
        enumerate(exams.iter_rows(named=True)),
        key=lambda r: (r[1]["patient_id"], r[1]["exam_date"], r[0]),
    )
    out, first = [], {}
    for k, (_, r) in enumerate(rows):
        day = r["exam_date"] if isinstance(r["exam_date"], dt.date) else None
        day = r["exam_date"].date() if isinstance(r["exam_date"], dt.datetime) else day
        mine = [
            (rr["exam_date"], rr["effective_dose_msv"], kk)
            for kk, (_, rr) in enumerate(rows[: k + 1])
            if rr["patient_id"] == r["patient_id"]
        ]
        win = [
            (d, x, kk)
            for d, x, kk in mine
            if (day - (d.date() if isinstance(d, dt.datetime) else d)).days < w
        ]
        ced = math.fsum(x for _, x, _ in win)
        out.append(ced)
        if ced >= t and r["patient_id"] not in first:
            first[r["patient_id"]] = (day, len(win), [kk for _, _, kk in win])
    return out, first


exam_tables = st.integers(1, 60).flatmap(
    lambda n: st.builds(
        lambda pids, days, doses: pl.DataFrame(
            {
                "patient_id": pids,
                "exam_date": [dt.date(2020, 1, 1) + dt.timedelta(days=d) for d in days],
                "effective_dose_msv": doses,
            }
        ),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.integers(0, 400), min_size=n, max_size=n),
        st.lists(
            st.one_of(st.floats(0, 60, allow_nan=False), st.integers(0, 40).map(float)),
            min_size=n,
            max_size=n,
        ),
    )
)


@given(exam_tables, st.sampled_from([1, 2, 30, 90, 365]), st.sampled_from([10.0, 50.0, 100.0]))
@settings(max_examples=40, deadline=None)
def test_trailing_dose_equals_naive(exams: pl.DataFrame, w: int, t: float) -> None:
    res = trailing_dose(exams, thresholds=[t], window_days=[w])
    want, first = naive(exams, w, t)
    wl, tl = f"{w}", f"{t:g}"
    got = res.exams[f"trailing_ced_{wl}"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert res.exams[f"reached_{tl}_in_{wl}"].to_list() == [x >= t for x in want]
    pat = res.patients
    for row in pat.iter_rows(named=True):
        f = first.get(row["patient_id"])
        if f is None:
            assert row[f"date_reached_{tl}_in_{wl}"] is None
        else:
            assert row[f"date_reached_{tl}_in_{wl}"] == f[0]
            assert row[f"exams_in_window_{tl}_in_{wl}"] == f[1]
    assert res.alerts.height == sum(f[1] for f in first.values())
    # the alert exams are exactly those of each first window
    rows = res.exams.with_row_index("_k")
    want_k = sorted(k for f in first.values() for k in f[2])
    got_k = sorted(
        rows.join(
            res.alerts.select("patient_id", "exam_date", "exam_index"),
            on=["patient_id", "exam_date", "exam_index"],
        )["_k"].to_list()
    )
    assert got_k == want_k


def test_agrees_with_max_ced_window_of_the_patients_table() -> None:
    exams = recurct.synthetic.generate("small", seed=3)
    res = trailing_dose(exams, thresholds=[50, 100], window_days=[90, 365])
    p = recurct.cumulative_dose(exams, thresholds=[50, 100], window_days=[90, 365])
    top = res.exams.group_by("patient_id").agg(pl.col("trailing_ced_365").max()).sort("patient_id")
    np.testing.assert_allclose(top["trailing_ced_365"], p["max_ced_365"], rtol=1e-12)
    j = p.join(res.patients, on="patient_id")
    assert (j["reached_100_in_90"] == j["date_reached_100_in_90"].is_not_null()).all()


def test_kernel_long_history_has_no_drift() -> None:
    n = 200_000
    day = np.arange(n, dtype=np.int64)
    dose = np.full(n, 0.1)
    dose[::7] = 1e6  # large doses leaving the window would leave rounding residue
    ced, lo = trailing_kernel(np.array([0, n], np.int64), day, dose, 3)
    want = np.array([math.fsum(dose[max(0, i - 2) : i + 1]) for i in range(n - 50, n)])
    np.testing.assert_allclose(ced[-50:], want, rtol=1e-15)
    assert (lo[-50:] == np.arange(n - 52, n - 2)).all()


def test_pandas_and_time_zone_and_errors() -> None:
    ex = pd.DataFrame(
        {
            "patient_id": ["a", "a", "a"],
            "exam_date": pd.to_datetime(
                ["2020-01-01 23:30", "2020-01-02 01:00", "2020-03-31 12:00"]
            ).tz_localize("America/New_York"),
            "effective_dose_msv": [40.0, 40.0, 30.0],
        }
    )
    res = trailing_dose(ex, thresholds=[100], window_days=[90])
    assert isinstance(res.exams, pd.DataFrame)
    # local days 2020-01-01, 01-02, 03-31: 31 Mar - 1 Jan = 90 days, so the first exam left
    assert res.exams["trailing_ced_90"].tolist() == [40.0, 80.0, 70.0]
    assert res.patients["date_reached_100_in_90"].isna().all()
    with pytest.raises(ValueError, match="window_days"):
        trailing_dose(ex, window_days=[0])
    with pytest.raises(ValueError, match="thresholds"):
        trailing_dose(ex, thresholds=[-1])


def test_dates_are_the_local_calendar_day_of_time_zone_aware_exams() -> None:
    """08:30 in Tokyo on 2 January is 1 January in UTC: dates follow the local day, as the
    windows (and cumulative_dose) do."""
    times = [dt.datetime(2024, 1, 2, 8, 30), dt.datetime(2024, 3, 1, 9, 0)]
    ex = pl.DataFrame(
        {"patient_id": [1, 1], "exam_date": times, "effective_dose_msv": [60.0, 50.0]}
    ).with_columns(pl.col("exam_date").dt.replace_time_zone("Asia/Tokyo"))
    res = trailing_dose(ex, thresholds=[100], window_days=[90])
    row = res.patients.row(0, named=True)
    assert row["date_reached_100_in_90"] == dt.date(2024, 3, 1)
    assert row["window_start_100_in_90"] == dt.date(2024, 1, 2)
