"""The second audit's findings on the engine's entry points and the date readers.

Column names the code uses internally never take a user's column (running_dose, period_dose
keep/sums); a missing or out-of-range date argument, a period of ``every=`` too long to
represent, repeated keep/sums names, and patient ids or attribute columns of unusable dtypes
are refused with recurct's errors, not polars' or Python's; an Enum id sorts by its text in
period_dose as elsewhere; text ages are read, or set null with a count, never costing an
exam its dose; a DICOM date needs all of its digits and a leap second keeps its day.
"""

from __future__ import annotations

import datetime as dt
import decimal
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
from recurct import cumulative_dose, period_dose, running_dose
from recurct._dates import as_date, parse_date_series
from recurct.errors import DataError, ParameterError, UnmappedValuesWarning
from recurct.schema import parse_dates

d = dt.date


def _exams(**extra: list) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["b", "a", "b", "a"],
            "exam_date": [d(2020, 3, 1), d(2019, 1, 1), d(2021, 6, 1), d(2020, 2, 2)],
            "effective_dose_msv": [1.0, 2.0, 4.0, 8.0],
            **extra,
        }
    )


# --------------------------------------------------------------------------- B4


@pytest.mark.parametrize("name", ["exam_index", "running_ced_msv"])
def test_running_dose_refuses_a_column_it_would_overwrite(name: str) -> None:
    ex = _exams(**{name: ["ACC-1", "ACC-2", "ACC-3", "ACC-4"]})
    with pytest.raises(DataError, match=name):
        running_dose(ex)
    with pytest.raises(DataError, match=name):  # pandas in: the same
        running_dose(ex.to_pandas())
    # the output of a call, given again, is refused too; without those columns it is as it was
    run = running_dose(_exams())
    with pytest.raises(DataError, match="rename or drop"):
        running_dose(run)
    assert running_dose(run.drop("exam_index", "running_ced_msv")).equals(run)


@pytest.mark.parametrize("name", ["_day", "_row", "_a0", "_a1", "_attr"])
def test_period_keep_and_sums_named_like_helper_columns_keep_their_values(name: str) -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": [d(2020, 1, 1), d(2020, 5, 1)],
            "effective_dose_msv": [1.0, 2.0],
            name: [3.0, 5.0],
            "other": [10.0, 20.0],
        }
    )
    got = period_dose(ex, every="1y", sums=[name])
    assert got.columns[-1] == name and got[name].to_list() == [8.0]
    got = period_dose(ex, every="1y", keep=[name])
    assert got.columns[-1] == name and got[name].to_list() == [3.0]
    got = period_dose(ex, every="1y", keep=["other", name])
    assert got.select("other", name).row(0) == (10.0, 3.0)
    got = period_dose(ex, every="1y", keep=[name], sums=["other"])
    assert got.select(name, "other").row(0) == (3.0, 30.0)


@pytest.mark.parametrize("name", ["period_start", "period_end", "n_exams", "ced_msv"])
@pytest.mark.parametrize("where", ["keep", "sums"])
def test_period_keep_or_sums_named_like_an_output_column_refused(name: str, where: str) -> None:
    ex = _exams(**{name: [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ParameterError, match=f"{name}.*output column"):
        period_dose(ex, every="1y", **{where: [name]})


# --------------------------------------------------------------------------- B5


@pytest.mark.parametrize("today", [np.datetime64("NaT"), pd.NaT, pd.NA, float("nan")])
def test_a_missing_today_is_refused(today: object) -> None:
    future = pl.DataFrame(
        {"patient_id": ["a"], "exam_date": [d(2200, 1, 1)], "effective_dose_msv": [1.0]}
    )
    with pytest.raises(ParameterError, match="today"):
        recurct.validate(future, today=today)


@pytest.mark.parametrize(
    "bad",
    [np.datetime64("NaT"), pd.NaT, pd.NA, np.datetime64("100000-01-01"), np.datetime64("-5-01-01")],
)
def test_a_missing_or_out_of_range_period_bound_is_refused(bad: object) -> None:
    with pytest.raises(ParameterError, match="period_dose: periods start"):
        period_dose(_exams(), periods=[(bad, d(2021, 1, 1))])
    with pytest.raises(ParameterError, match="period_dose: periods end"):
        period_dose(_exams(), periods=[(d(2019, 1, 1), bad)])


def test_as_date_refuses_missing_values_even_when_none_is_allowed() -> None:
    for bad in (np.datetime64("NaT"), pd.NaT, pd.NA, float("nan"), np.float64("nan")):
        with pytest.raises(ParameterError, match="missing"):
            as_date(bad, "x", none_ok=True)
    assert as_date(None, "x", none_ok=True) is None
    assert as_date(pd.Timestamp("2020-01-03 12:00", tz="UTC"), "x") == d(2020, 1, 3)
    assert as_date(np.datetime64("2020-01-02T05:00:00.000000000"), "x") == d(2020, 1, 2)


# --------------------------------------------------------------------------- B6


@pytest.mark.parametrize("every", ["273y", "1092q", "3276mo"])
def test_every_up_to_273_years(every: str) -> None:
    got = period_dose(_exams(), every=every)
    assert got["period_start"].unique().to_list() == [d(1970, 1, 1)]
    assert got["period_end"].unique().to_list() == [d(2242, 12, 31)]


@pytest.mark.parametrize(
    "every",
    ["274y", "1093q", "3277mo", "100000y", "1000000000y", "200000000000mo",
     "99999999999999999999y", pytest.param("9" * 5000 + "y", id="5000-digits")],
)  # fmt: skip
def test_every_too_long_is_refused(every: str) -> None:
    with pytest.raises(ParameterError, match="too long"):
        period_dose(_exams(), every=every)


# --------------------------------------------------------------------------- B7


@pytest.mark.parametrize("kind", ["enum", "categorical", "pandas"])
def test_period_rows_sorted_by_id_text_like_the_other_outputs(kind: str) -> None:
    ex = _exams()
    if kind == "enum":
        ex = ex.with_columns(pl.col("patient_id").cast(pl.Enum(["b", "a"])))
    elif kind == "categorical":
        ex = ex.with_columns(pl.col("patient_id").cast(pl.Categorical))
    got = period_dose(ex.to_pandas() if kind == "pandas" else ex, every="1y")
    ids = list(got["patient_id"]) if kind == "pandas" else got["patient_id"].cast(pl.String)
    assert list(ids) == ["a", "a", "b", "b"]
    assert list(running_dose(ex)["patient_id"].cast(pl.String)) == ["a", "a", "b", "b"]
    assert cumulative_dose(ex)["patient_id"].to_list() == ["a", "b"]
    if kind == "enum":  # the column keeps its dtype
        assert got["patient_id"].dtype == pl.Enum(["b", "a"])


# --------------------------------------------------------------------------- B8


def test_text_ages_are_read_and_bad_ones_set_null_with_a_count() -> None:
    ex = _exams(age_years=["40", " 067Y ", "x", ""])
    with pytest.warns(UnmappedValuesWarning, match=r"1 value\(s\).*'x'.*set null"):
        got = cumulative_dose(ex, thresholds=5)
    assert got["ced_msv"].to_list() == [10.0, 5.0]  # no exam lost its dose
    assert got["age_first_exam"].to_list() == [67.0, 40.0]
    assert got["age_reached_5"].to_list() == [None, None]  # a's: "" (missing); b's: "x"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_enum = ex.with_columns(pl.Series("age_years", ["40", "67", "30.5", None]))
        assert cumulative_dose(as_enum.with_columns(pl.col("age_years").cast(pl.Categorical)))[
            "age_first_exam"
        ].to_list() == [67.0, 40.0]


@pytest.mark.parametrize(
    ("col", "values"),
    [
        ("sex", pl.Series([["F"], ["M"], None, ["F"]])),
        ("sex", pl.Series([["F"], ["M"], ["M"], ["F"]], dtype=pl.Array(pl.String, 1))),
        ("facility", pl.Series([{"a": 1}, {"a": 2}, None, None])),
        ("facility", pl.Series(["x", "y", "x", "y"], dtype=pl.Object)),
        ("indication", pl.Series([dt.timedelta(1)] * 4)),
        ("age_years", pl.Series([d(2000, 1, 1)] * 4)),
        ("age_years", pl.Series([dt.datetime(2000, 1, 1)] * 4)),
        ("age_years", pl.Series([dt.timedelta(days=3)] * 4)),
        ("age_years", pl.Series([True, False, True, None])),
        ("age_years", pl.Series([b"30", b"31", None, None])),
        ("age_years", pl.Series([[30.0], [31.0], None, None])),
        ("age_years", pl.Series([30.0, 31.0, 3.0, 4.0], dtype=pl.Object)),
    ],
)
def test_attribute_columns_of_unusable_dtypes_refused(col: str, values: pl.Series) -> None:
    ex = _exams().with_columns(values.alias(col))
    with pytest.raises(DataError, match=f"column '{col}' has dtype"):
        cumulative_dose(ex, thresholds=1, window_days=10)


def test_attribute_dtypes_that_have_a_text_form_still_work() -> None:
    ex = _exams(
        sex=pl.Series([b"F", b"M", b"F", None]),
        facility=pl.Series([True, False, True, True]),
        age_years=pl.Series([decimal.Decimal("40.5")] * 4),
    )
    got = cumulative_dose(ex)
    assert got["sex"].to_list() == ["M", "F"]
    assert got["age_first_exam"].to_list() == [40.5, 40.5]


# --------------------------------------------------------------------------- B9


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"keep": ["sex", "sex"]}, "keep names"), ({"sums": ["risk", "risk"]}, "sums names")],
)
def test_repeated_keep_or_sums_names_refused(kw: dict, match: str) -> None:
    ex = _exams(sex=["F", "M", "F", "M"], risk=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ParameterError, match=f"{match}.*more than once"):
        period_dose(ex, every="1y", **kw)


# --------------------------------------------------------------------------- B10


@pytest.mark.parametrize(
    "ids",
    [
        pl.Series([1.5, 2.5, 1.5, 2.5]),
        pl.Series([True, True, False, False]),
        pl.Series([d(2000, 1, 1)] * 4),
        pl.Series([b"a", b"b", b"a", b"b"]),
        pl.Series([decimal.Decimal("1.5")] * 4),
        pl.Series(["a", "b", "a", "b"], dtype=pl.Object),
    ],
)
def test_period_dose_refuses_the_ids_cumulative_dose_refuses(ids: pl.Series) -> None:
    ex = _exams().with_columns(ids.alias("patient_id"))
    for fn in (period_dose, cumulative_dose, running_dose):
        kw = {"every": "1y"} if fn is period_dose else {}
        with pytest.raises(ParameterError, match="'patient_id' must be a string or integer"):
            fn(ex, **kw)


# --------------------------------------------------------------------------- B14


@pytest.mark.parametrize(
    "text",
    ["2020111", "2020 111", "2020\xa011", "202011 1", "2020111123000", "20201101 23300",
     "2020110123 300", "202011012330 0"],
)  # fmt: skip
def test_dicom_dates_need_all_their_digits(text: str) -> None:
    s = pl.Series([text, "20201101"])
    assert parse_date_series(s).to_list() == [None, dt.datetime(2020, 11, 1)]
    lazy = pl.DataFrame({"s": s}).select(parse_dates(pl.col("s"))).to_series()
    assert lazy.to_list() == [None, dt.datetime(2020, 11, 1)]


def test_dicom_dates_and_date_times_with_all_digits_still_parse() -> None:
    s = pl.Series(["20201101", "20201101233000", "20201101233000.5", "20201101 233000.25"])
    want = [
        dt.datetime(2020, 11, 1),
        dt.datetime(2020, 11, 1, 23, 30),
        dt.datetime(2020, 11, 1, 23, 30, 0, 500000),
        dt.datetime(2020, 11, 1, 23, 30, 0, 250000),
    ]
    assert parse_date_series(s).to_list() == want
    assert pl.DataFrame({"s": s}).select(parse_dates(pl.col("s"))).to_series().to_list() == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2016-12-31 23:59:60", dt.datetime(2016, 12, 31, 23, 59, 59)),
        ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59)),
        ("2016-12-31T23:59:60.25+01:00", dt.datetime(2016, 12, 31, 23, 59, 59, 250000)),
        ("20161231235960", dt.datetime(2016, 12, 31, 23, 59, 59)),
        ("20161231235960+0100", dt.datetime(2016, 12, 31, 23, 59, 59)),
        ("20161231 235960", dt.datetime(2016, 12, 31, 23, 59, 59)),
        ("2016-12-31 23:59:61", None),
        ("2016-12-31 23:60", None),
    ],
)
def test_a_leap_second_keeps_its_calendar_day(text: str, want: dt.datetime | None) -> None:
    s = pl.Series([text, "2016-12-31 10:00:00"])
    assert parse_date_series(s).to_list()[0] == want
    assert pl.DataFrame({"s": s}).select(parse_dates(pl.col("s"))).item(0, 0) == want


def test_validate_keeps_a_leap_second_exam_on_its_day_and_refuses_a_short_date() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": ["2016-12-31 23:59:60", "2020111"],
            "effective_dose_msv": [1.0, 1.0],
        }
    )
    with pytest.warns(recurct.errors.DroppedRowsWarning, match="unparseable date"):
        got = recurct.validate(ex, strict=False, today="2024-01-01")
    assert got["exam_date"].to_list() == [dt.datetime(2016, 12, 31, 23, 59, 59)]
