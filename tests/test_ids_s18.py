"""Integer ids outside the int64 range (Int128, UInt64) are refused naming the row, and a
text ``exam_date`` from pandas gets a pandas hint."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from recurct import cumulative_dose
from recurct.errors import DataError, ParameterError

DAYS = [dt.date(2020, 1, 1), dt.date(2020, 1, 2), dt.date(2020, 1, 3)]


@pytest.mark.parametrize(
    ("values", "dtype", "row"),
    [
        ([1, 2**100, 3], pl.Int128, 1),
        ([1, 2, -(2**70)], pl.Int128, 2),
        ([2**63, 1, 2], pl.UInt64, 0),
    ],
)
def test_ids_outside_int64_refused_naming_the_row(values, dtype, row) -> None:
    exams = pl.DataFrame(
        {
            "patient_id": pl.Series(values, dtype=dtype),
            "exam_date": DAYS,
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(DataError, match=rf"row {row} \(0-based\).*64-bit signed integers"):
        cumulative_dose(exams)


def test_int128_ids_within_int64_work() -> None:
    exams = pl.DataFrame(
        {
            "patient_id": pl.Series([5, 5, -7], dtype=pl.Int128),
            "exam_date": DAYS,
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    got = cumulative_dose(exams, thresholds=())
    assert got.select("patient_id", "ced_msv").rows() == [(-7, 3.0), (5, 3.0)]


def test_text_dates_get_a_hint_that_names_pd_to_datetime() -> None:
    # the hint names both pd.to_datetime and str.to_date, whatever the input's library
    exams = pd.DataFrame(
        {"patient_id": ["a"], "exam_date": ["2020-01-01"], "effective_dose_msv": [1.0]}
    )
    with pytest.raises(ParameterError, match=r"pd\.to_datetime"):
        cumulative_dose(exams)
