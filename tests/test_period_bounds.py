"""period_dose with period bounds that carry a time of day.

Before: a datetime bound was cut to its date, so an exam at 08:00 counted in a period
starting at 12:00 the same day, and an end at 08:00 counted the exams of that whole day.
The rule: a bound with a time of day compares with the exam's wall-clock time where
``exam_date`` is a ``Datetime``, with the exam's day where it is a ``Date``; a datetime at
midnight is its date (the whole day). Checked against a plain-Python reference.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct import period_dose
from recurct._periods import period_bound
from recurct.errors import ParameterError

T0 = dt.datetime(2020, 1, 1)
DAY_END = dt.time(23, 59, 59, 999999)


def _timed() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "a"],
            "exam_date": [T0.replace(hour=8), T0.replace(hour=13), T0.replace(day=2, hour=9)],
            "effective_dose_msv": [1.0, 2.0, 4.0],
            "x": [10.0, 20.0, 40.0],
        }
    )


def test_a_start_with_a_time_of_day_is_not_cut_to_its_date() -> None:
    got = period_dose(_timed(), periods=[(T0.replace(hour=12), "2020-12-31")])
    assert got["n_exams"].to_list() == [2]  # was 3: the 08:00 exam was counted
    assert got["ced_msv"].to_list() == [6.0]
    assert got["period_start"].to_list() == [T0.replace(hour=12)]
    assert got["period_end"].to_list() == [dt.datetime.combine(dt.date(2020, 12, 31), DAY_END)]


def test_an_end_with_a_time_of_day_ends_there() -> None:
    got = period_dose(_timed(), periods=[("2020-01-01", dt.datetime(2020, 1, 2, 8, 30))])
    assert got["ced_msv"].to_list() == [3.0]  # was 7.0: the 09:00 exam of Jan 2 counted


@pytest.mark.parametrize(
    "bound",
    [
        dt.datetime(2020, 1, 1, 12),
        pd.Timestamp("2020-01-01 12:00"),
        np.datetime64("2020-01-01T12:00:00"),
        "2020-01-01 12:00",
        "2020-01-01T12:00:00",
        dt.datetime(2020, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    ],
)
def test_every_form_of_a_timed_bound_is_read_alike(bound: object) -> None:
    assert period_bound(bound, "start") == dt.datetime(2020, 1, 1, 12)
    got = period_dose(_timed(), periods=[(bound, "2020-01-01")])
    assert got["ced_msv"].to_list() == [2.0]


@pytest.mark.parametrize(
    "bound",
    [
        dt.date(2020, 1, 1),
        dt.datetime(2020, 1, 1),
        pd.Timestamp("2020-01-01"),
        np.datetime64("2020-01-01"),
        np.datetime64("2020-01-01T00:00:00.000000000"),
        "2020-01-01",
        "2020-01-01 00:00",
    ],
)
def test_a_midnight_bound_is_its_whole_day(bound: object) -> None:
    assert period_bound(bound, "end") == dt.date(2020, 1, 1)
    got = period_dose(_timed(), periods=[("2019-01-01", bound)])
    assert got["ced_msv"].to_list() == [3.0]  # both exams of Jan 1 (08:00 and 13:00)
    assert got.schema["period_end"] == pl.Date  # no time given: the columns stay dates


def test_date_exams_compare_with_the_bound_date() -> None:
    dates = _timed().with_columns(pl.col("exam_date").cast(pl.Date))
    got = period_dose(dates, periods=[(T0.replace(hour=12), dt.datetime(2020, 1, 1, 18))])
    assert got["ced_msv"].to_list() == [3.0]  # the day of the exams, which have no time
    assert got["period_start"].to_list() == [T0.replace(hour=12)]


def test_periods_differing_by_a_time_are_two_periods_and_keep_agrees() -> None:
    got = period_dose(
        _timed(),
        periods=[(T0.replace(hour=12), "2020-01-02"), ("2020-01-01", "2020-01-02")],
        every="1y",
        keep=["x"],
    )
    assert got["n_exams"].to_list() == [3, 3, 2]  # 2020 (every=), Jan 1-2 (same exams), noon on
    assert got["x"].to_list() == [10.0, 10.0, 20.0]  # first in time order within the period
    summed = period_dose(
        _timed().rename({"x": "risk"}), periods=[(T0.replace(hour=12), "2020-01-02")], sums=["risk"]
    )
    assert summed["risk"].to_list() == [60.0]


def test_a_period_ending_before_its_start_the_same_day_is_refused() -> None:
    with pytest.raises(ParameterError, match="ends before it starts"):
        period_dose(_timed(), periods=[(T0.replace(hour=12), T0.replace(hour=11))])
    # a date end is the whole day: after a start at noon of that day
    assert period_dose(_timed(), periods=[(T0.replace(hour=12), T0.date())]).height == 1
    with pytest.raises(ParameterError, match="not a date"):
        period_dose(_timed(), periods=[("2020-01-01 25:00", "2020-02-01")])


def test_a_time_zone_aware_exam_date_is_compared_in_its_own_zone() -> None:
    aware = _timed().with_columns(pl.col("exam_date").dt.replace_time_zone("Europe/Berlin"))
    got = period_dose(aware, periods=[(T0.replace(hour=12), "2020-01-01")])
    assert got["ced_msv"].to_list() == [2.0]  # 13:00 wall clock in Berlin


# ---------------------------------------------------------------- against a reference

_START = dt.datetime(2020, 1, 1)
minutes = st.integers(0, 3 * 24 * 60 - 1)  # three days, minute resolution


def _moment(m: int) -> dt.datetime:
    return _START + dt.timedelta(minutes=m)


bounds = st.one_of(
    minutes.map(_moment),  # a datetime (midnight ones are days)
    st.integers(0, 2).map(lambda k: (_START + dt.timedelta(days=k)).date()),
)


def _reference(
    exams: list[tuple[str, dt.datetime, float]], periods: list[tuple[object, object]], dated: bool
) -> dict[tuple[str, object, object], tuple[int, float]]:
    """Plain Python: per patient and period, the exams with start <= exam <= end."""

    def norm(b: object) -> object:
        if isinstance(b, dt.datetime) and b.time() == dt.time():
            return b.date()
        return b

    def lo_ok(t: dt.datetime, lo: object) -> bool:
        if isinstance(lo, dt.datetime):
            return t.date() >= lo.date() if dated else t >= lo
        return t.date() >= lo

    def hi_ok(t: dt.datetime, hi: object) -> bool:
        if isinstance(hi, dt.datetime):
            return t.date() <= hi.date() if dated else t <= hi
        return t.date() <= hi

    timed = any(isinstance(norm(b), dt.datetime) for p in periods for b in p)
    out: dict[tuple[str, object, object], tuple[int, float]] = {}
    for lo, hi in {(norm(a), norm(b)) for a, b in periods}:
        key_lo, key_hi = lo, hi
        if timed:
            key_lo = lo if isinstance(lo, dt.datetime) else dt.datetime.combine(lo, dt.time())
            key_hi = hi if isinstance(hi, dt.datetime) else dt.datetime.combine(hi, DAY_END)
        for pid, t, dose in exams:
            if lo_ok(t, lo) and hi_ok(t, hi):
                n, s = out.get((pid, key_lo, key_hi), (0, 0.0))
                out[(pid, key_lo, key_hi)] = (n + 1, s + dose)
    return out


def _ordered(lo: object, hi: object) -> bool:
    first = lo if isinstance(lo, dt.datetime) else dt.datetime.combine(lo, dt.time())
    last = hi if isinstance(hi, dt.datetime) else dt.datetime.combine(hi, DAY_END)
    return last >= first


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["p", "q"]), minutes.map(_moment), st.sampled_from([1.0, 2.5])),
        min_size=1,
        max_size=10,
    ),
    st.lists(st.tuples(bounds, bounds), min_size=1, max_size=3),
    st.booleans(),
)
def test_period_dose_matches_a_plain_python_reference(
    exams: list[tuple[str, dt.datetime, float]], periods: list[tuple[object, object]], dated: bool
) -> None:
    periods = [p for p in periods if _ordered(period_bound(p[0], "s"), period_bound(p[1], "e"))]
    if not periods:
        return
    df = pl.DataFrame(
        {
            "patient_id": [p for p, _, _ in exams],
            "exam_date": [t for _, t, _ in exams],
            "effective_dose_msv": [x for _, _, x in exams],
        }
    )
    if dated:
        df = df.with_columns(pl.col("exam_date").cast(pl.Date))
    got = period_dose(df, periods=periods)
    table = {
        (r["patient_id"], r["period_start"], r["period_end"]): (r["n_exams"], r["ced_msv"])
        for r in got.iter_rows(named=True)
    }
    want = _reference(exams, periods, dated)
    assert table.keys() == want.keys()
    for key, (n, s) in want.items():
        assert table[key][0] == n
        assert table[key][1] == pytest.approx(s)
