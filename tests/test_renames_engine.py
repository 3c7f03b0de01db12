"""The names recurct 0.2 renamed or removed in the engine (cumulative, outofcore, Cohort) raise
a TypeError naming the new one (issue 19)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct.cohort import Cohort
from recurct.outofcore import cumulative_dose_chunked, write_patients


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2021, 6, 1), dt.date(2020, 3, 1)],
            "effective_dose_msv": [10.0, 20.0, 5.0],
        }
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: recurct.cumulative_dose(_exams(), windows=[("2020-01-01", "2020-12-31")]),
            r"cumulative_dose\(\) argument 'windows' was removed .*period_dose\(exams, periods=",
        ),
        (
            lambda: recurct.cumulative_dose(_exams(), by_period="1y"),
            r"cumulative_dose\(\) argument 'by_period' was removed .*period_dose\(exams, every=",
        ),
        (
            lambda: recurct.period_dose(_exams(), windows=[("2020-01-01", "2020-12-31")]),
            r"period_dose\(\) argument 'windows' was renamed to 'periods'",
        ),
        (
            lambda: recurct.period_dose(_exams(), by_period="1y"),
            r"period_dose\(\) argument 'by_period' was renamed to 'every'",
        ),
        (
            lambda: cumulative_dose_chunked(_exams().lazy(), out="x"),
            r"cumulative_dose_chunked\(\) argument 'out' was removed .*write_patients\(source, out",
        ),
    ],
)
def test_old_names_raise_naming_the_new(call, match) -> None:
    with pytest.raises(TypeError, match=match):
        call()


def test_new_names_work(tmp_path) -> None:
    ex = _exams()
    a = recurct.period_dose(ex, periods=[("2020-01-01", "2020-12-31")])
    b = recurct.period_dose(ex, every="1y").filter(pl.col("period_start") == dt.date(2020, 1, 1))
    assert a.equals(b)
    table = cumulative_dose_chunked(ex.lazy(), buckets=2)
    assert isinstance(table, pl.DataFrame)
    folder = write_patients(ex.lazy(), tmp_path / "p", buckets=2)
    got = pl.read_parquet(str(folder / "part-*.parquet")).sort("patient_id")
    assert got.equals(table)


def test_keyword_only_after_thresholds() -> None:
    with pytest.raises(TypeError):
        recurct.cumulative_dose(_exams(), 100, 365)  # window_days is keyword-only
    with pytest.raises(TypeError):
        recurct.period_dose(_exams(), [("2020-01-01", "2020-12-31")])


def test_cohort_from_pandas_returns_pandas() -> None:
    c = Cohort(_exams().to_pandas()).dedupe()
    for table in (c.exams, c.steps, c.flow(), c.patients(thresholds=10)):
        assert isinstance(table, pd.DataFrame)
    c = Cohort(_exams())
    for table in (c.exams, c.steps, c.flow(), c.patients(thresholds=10)):
        assert isinstance(table, pl.DataFrame)
