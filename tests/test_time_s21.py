"""Findings of the audit of the time-dependent outputs (twenty-first session).

- ``period_dose(periods=...)``: one period given in two spellings (a date end and its last
  microsecond, a string, pandas' ``Period.end_time``) counted every exam twice, although
  both rows showed the same bounds and the docstring says a period given twice is one.
- ``lagged_dose`` ordered ``Enum`` subject ids by their categories, the other functions by
  their text.
- ``trailing_dose`` gave each identifier warning twice (the table read twice).
"""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct.errors import IdentifierWarning

D = dt.date


def _exams(dtype: pl.DataType = pl.Date) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": pl.Series([D(2020, 3, 1), D(2020, 12, 31), D(2021, 1, 1)]).cast(dtype),
            "effective_dose_msv": [60.0, 50.0, 7.0],
            "risk": [1.0, 1.0, 1.0],
        }
    )


SPELLINGS = [
    dt.datetime(2020, 12, 31, 23, 59, 59, 999999),
    "2020-12-31 23:59:59.999999",
    pd.Period("2020", "Y").end_time,
]


@pytest.mark.parametrize("dtype", [pl.Date, pl.Datetime("us")])
@pytest.mark.parametrize("end", SPELLINGS, ids=["datetime", "text", "pandas"])
def test_one_period_in_two_spellings_counts_each_exam_once(dtype: pl.DataType, end: object) -> None:
    ex = _exams(dtype)
    once = recurct.period_dose(ex, periods=[(D(2020, 1, 1), end)], sums=["risk"])
    twice = recurct.period_dose(
        ex, periods=[(D(2020, 1, 1), D(2020, 12, 31)), (D(2020, 1, 1), end)], sums=["risk"]
    )
    assert twice.rows() == once.rows()
    assert twice.select("n_exams", "ced_msv", "risk").rows() == [(2, 110.0, 2.0)]


def test_two_different_periods_are_kept() -> None:
    ex = _exams()
    got = recurct.period_dose(
        ex,
        periods=[
            (D(2020, 1, 1), D(2020, 12, 31)),
            (D(2020, 1, 1), dt.datetime(2020, 12, 30, 12, 0)),
        ],
    )
    assert got.select("n_exams", "ced_msv").rows() == [(1, 60.0), (2, 110.0)]


def test_lagged_dose_orders_enum_ids_by_text() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["b", "a", "a"],
            "exam_date": [D(2020, 1, 1), D(2020, 1, 1), D(2020, 6, 1)],
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    subjects = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "entry": [D(2019, 1, 1)] * 2,
            "exit": [D(2021, 1, 1)] * 2,
            "event": [0, 1],
        }
    )
    want = recurct.lagged_dose(ex, subjects, lags=[0])
    enum = pl.Enum(["b", "a"])
    for e, s in [
        (ex, subjects.with_columns(pl.col("patient_id").cast(enum))),
        (ex.with_columns(pl.col("patient_id").cast(enum)), subjects),
        (
            ex.with_columns(pl.col("patient_id").cast(enum)),
            subjects.with_columns(pl.col("patient_id").cast(enum)),
        ),
    ]:
        got = recurct.lagged_dose(e, s, lags=[0])
        assert got["patient_id"].cast(pl.String).to_list() == want["patient_id"].to_list()
        assert got.drop("patient_id").equals(want.drop("patient_id"))


def test_trailing_dose_warns_once_per_problem() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["A", " A "],
            "exam_date": [D(2020, 1, 1), D(2020, 2, 1)],
            "effective_dose_msv": [60.0, 50.0],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = recurct.trailing_dose(ex, thresholds=[100], window_days=[90])
    ids = [w for w in caught if issubclass(w.category, IdentifierWarning)]
    assert len(ids) == 1, [str(w.message) for w in ids]
    assert ids[0].filename == __file__
    assert res.patients.height == 1


def test_lagged_dose_refuses_days_out_of_range() -> None:
    far = pl.Series([0, 10**18], dtype=pl.Int64).cast(pl.Datetime("ms"))
    ex = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "exam_date": [D(2020, 1, 1), D(2020, 2, 1)],
            "effective_dose_msv": [1.0, 2.0],
        }
    )
    subjects = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "entry": [D(2019, 1, 1)] * 2,
            "exit": far,
            "event": [0, 1],
        }
    )
    with pytest.raises(recurct.errors.DataError, match=r"lagged_dose: column 'exit' .* row 1"):
        recurct.lagged_dose(ex, subjects, lags=[0])
    with pytest.raises(recurct.errors.DataError, match=r"column 'exam_date' .* row 1"):
        recurct.lagged_dose(
            ex.with_columns(exam_date=far), subjects.with_columns(exit=far), lags=[0]
        )
