"""Nanosecond timestamps spanning more than 2^63 ns (about 292 years: a placeholder 1900-01-01
beside a typo 2220), where ``t - tmin`` no longer fits int64: the engine must not pack such
times into its grouping keys (it lost exams, returned uninitialised memory or crashed)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import naive_patients, naive_running
from test_cumulative import assert_rows_equal

from recurct import prepare_exams
from recurct.cumulative import cumulative_dose, running_dose

# 1900-01-01 to 2220-03-01 is 320 years: more than 2^63 ns
WIDE = [dt.datetime(1900, 1, 1), dt.datetime(2220, 3, 1, 8, 30)]


@st.composite
def wide_tables(draw) -> pl.DataFrame:
    """Random exams, nanosecond times, in random row order; some at both ends of the span."""
    n = draw(st.integers(2, 30))
    ids = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    times = draw(
        st.lists(
            st.one_of(
                st.sampled_from(WIDE),
                st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
            ),
            min_size=n,
            max_size=n,
        )
    )
    times[0], times[-1] = WIDE  # the span is always over 2^63 ns
    doses = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.0, 60.0]), min_size=n, max_size=n))
    text = draw(st.booleans())
    return pl.DataFrame(
        {
            "patient_id": [f"P{i}" for i in ids] if text else ids,
            "exam_date": pl.Series(times, dtype=pl.Datetime("ns")),
            "effective_dose_msv": doses,
        }
    )


@settings(max_examples=40, deadline=None)
@given(wide_tables())
def test_wide_span_matches_naive(exams: pl.DataFrame) -> None:
    assert exams["exam_date"].max() - exams["exam_date"].min() > dt.timedelta(days=292 * 366)
    want = naive_patients(exams, (5.0, 100.0), (30,))
    got = cumulative_dose(exams, thresholds=(5.0, 100.0), window_days=30)
    assert_rows_equal(got.to_dicts(), want)
    prepared = cumulative_dose(prepare_exams(exams), thresholds=(5.0, 100.0), window_days=30)
    assert_rows_equal(prepared.to_dicts(), want)
    assert_rows_equal(running_dose(exams).to_dicts(), naive_running(exams))


def test_wide_span_pandas_example() -> None:
    """The auditor's case: pandas' default ``datetime64[ns]``; patient a has 2 exams, 4 mSv."""
    exams = pd.DataFrame(
        {
            "patient_id": ["a", "b", "a"],
            "exam_date": pd.to_datetime(["1900-01-01", "2020-05-05", "2220-03-01"]),
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    got = cumulative_dose(exams, window_days=5).set_index("patient_id")
    assert got.loc["a", "n_exams"] == 2
    assert got.loc["a", "ced_msv"] == 4.0
    assert got.loc["a", "last_exam"] == pd.Timestamp("2220-03-01")
    assert got.loc["a", "max_ced_5"] == 3.0
    assert list(running_dose(exams)["running_ced_msv"]) == [1.0, 4.0, 2.0]
    assert len(prepare_exams(exams)) == 3
