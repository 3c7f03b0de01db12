"""recurct.schema.validate: canonical casts, one error listing every problem, strict=False."""

from __future__ import annotations

import math
import warnings
from datetime import date, datetime

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from recurct._validation import check_exams
from recurct.schema import (
    BODY_REGIONS,
    DroppedRowsWarning,
    ExamValidationError,
    UnmappedValuesWarning,
    ValidationReport,
    dicom_age_years,
    duplicate_mask,
    parse_dicom_age,
    validate,
)

TODAY = date(2024, 6, 30)


def with_raw(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` as validate returns it: ``body_region_raw`` (the text as given) after
    ``body_region``."""
    raw = df.get_column("body_region").cast(pl.Utf8).alias("body_region_raw")
    at = df.columns.index("body_region") + 1
    return df.insert_column(at, raw)


def clean() -> pl.DataFrame:
    """Four good exams of three patients, every canonical column, one unknown column."""
    return pl.DataFrame(
        {
            "patient_id": ["p1", "p1", "p2", "p3"],
            "exam_date": [
                datetime(2019, 1, 2, 8, 30),
                datetime(2019, 3, 4, 9, 0),
                datetime(2020, 5, 6, 10, 0),
                datetime(2021, 7, 8, 11, 0),
            ],
            "effective_dose_msv": [7.5, 12.0, 0.0, 3.25],
            "dlp_mgycm": [500.0, 800.0, 0.0, 200.0],
            "ctdivol_mgy": [10.0, 12.0, 0.0, 5.0],
            "body_region": ["chest", "abdomen_pelvis", "head", "chest"],
            "age_years": [54.0, 54.2, 0.0, 130.0],
            "sex": ["F", "F", "M", "U"],
            "facility": ["A", "A", "B", "B"],
            "study_uid": ["1.2.1", "1.2.2", "1.2.3", "1.2.4"],
            "indication": ["oncology", "oncology", "trauma", None],
            "ward": [1, 2, 3, 4],
        }
    )


def with_value(column: str, row: int, value: object) -> pl.DataFrame:
    """clean() with one cell replaced (the column becomes an object-free polars column)."""
    df = clean()
    values = df.get_column(column).to_list()
    values[row] = value
    return df.with_columns(pl.Series(column, values, strict=False))


def problems_of(df: pl.DataFrame, **kw: object) -> pl.DataFrame:
    kw.setdefault("today", TODAY)
    with pytest.raises(ExamValidationError) as info:
        validate(df, **kw)
    err = info.value
    assert isinstance(err, ValueError)
    return err.problems


def assert_one_problem(df: pl.DataFrame, row: int, column: str, reason: str) -> None:
    with pytest.raises(ExamValidationError) as info:
        validate(df, today=TODAY)
    probs = info.value.problems
    assert probs.select("row", "column", "reason").rows() == [(row, column, reason)]
    assert f"row {row}, column {column!r}" in str(info.value)


def test_clean_input_round_trips_unchanged() -> None:
    df = clean()
    out = validate(df, today=TODAY)
    assert_frame_equal(out, with_raw(df))
    out, report = check_exams(df, today=TODAY)
    assert (report.n_rows_in, report.n_rows_out, report.dropped_by_reason) == (4, 4, {})
    assert report.is_clean and report.problems.height == 0


def test_missing_required_columns_listed_together() -> None:
    probs = problems_of(clean().drop("exam_date", "effective_dose_msv"))
    missing = probs.filter(pl.col("reason") == "missing column")
    assert missing.get_column("column").to_list() == ["exam_date", "effective_dose_msv"]
    assert missing.get_column("row").null_count() == 2


def test_missing_column_raises_even_when_not_strict() -> None:
    with pytest.raises(ExamValidationError, match="'effective_dose_msv': missing column"):
        validate(clean().drop("effective_dose_msv"), strict=False, today=TODAY)


def test_required_can_be_narrowed() -> None:
    out = validate(clean().drop("effective_dose_msv"), today=TODAY, required=["patient_id"])
    assert out.height == 4


def test_null_patient_id() -> None:
    assert_one_problem(with_value("patient_id", 2, None), 2, "patient_id", "missing patient id")


def test_blank_patient_id() -> None:
    assert_one_problem(with_value("patient_id", 1, "  "), 1, "patient_id", "missing patient id")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-0.5, "negative dose"),
        (math.nan, "NaN dose"),
        (math.inf, "infinite dose"),
        (-math.inf, "infinite dose"),
        (None, "missing dose"),
    ],
)
def test_bad_effective_dose(value: float | None, reason: str) -> None:
    assert_one_problem(with_value("effective_dose_msv", 3, value), 3, "effective_dose_msv", reason)


@pytest.mark.parametrize("column", ["dlp_mgycm", "ctdivol_mgy"])
def test_bad_optional_dose_but_null_allowed(column: str) -> None:
    assert_one_problem(with_value(column, 1, -1.0), 1, column, "negative dose")
    assert validate(with_value(column, 1, None), today=TODAY).get_column(column)[1] is None


def test_dose_text_that_is_not_a_number() -> None:
    df = clean().with_columns(pl.Series("effective_dose_msv", ["1.5", "2", "abc", "0"]))
    assert_one_problem(df, 2, "effective_dose_msv", "not a number")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2019-02-30", "unparseable date"),
        ("yesterday", "unparseable date"),
        ("1899-12-31", "date before 1900-01-01"),
        ("2024-07-01", "date after today"),
        (None, "missing exam date"),
    ],
)
def test_bad_date_strings(value: str | None, reason: str) -> None:
    df = clean().with_columns(
        pl.Series("exam_date", ["2019-01-02", "2019-03-04 09:00", "2020-05-06", "x"])
    )
    df = df.with_columns(pl.Series("exam_date", [*df.get_column("exam_date")[:3], value]))
    assert_one_problem(df, 3, "exam_date", reason)


def test_impossible_datetime_and_today_argument() -> None:
    df = with_value("exam_date", 0, datetime(1850, 1, 1))
    assert_one_problem(df, 0, "exam_date", "date before 1900-01-01")
    # the latest exam is 2021-07-08: a `today` before it makes it impossible
    probs = problems_of(clean(), today="2021-07-07")
    assert probs.select("row", "reason").rows() == [(3, "date after today")]
    assert validate(clean(), today=datetime(2021, 7, 8)).height == 4


def test_default_today_is_the_real_today() -> None:
    future = date.today().replace(year=date.today().year + 1)
    df = clean().with_columns(pl.Series("exam_date", [date(2019, 1, 1)] * 3 + [future]))
    with pytest.raises(ExamValidationError, match="row 3, column 'exam_date': date after today"):
        validate(df)


@pytest.mark.parametrize("age", [-0.1, 130.5, math.inf])
def test_age_outside_range(age: float) -> None:
    assert_one_problem(with_value("age_years", 0, age), 0, "age_years", "age outside 0-130")


def test_nan_age_is_unknown_as_in_pandas() -> None:
    out = validate(with_value("age_years", 0, math.nan), today=TODAY)
    assert out.get_column("age_years").to_list()[0] is None
    pd_out = validate(with_value("age_years", 0, math.nan).to_pandas(), today=TODAY)
    assert isinstance(pd_out, pd.DataFrame)
    assert pd.isna(pd_out["age_years"].iloc[0])
    assert pl.from_pandas(pd_out)["age_years"].to_list()[0] is None


def test_unknown_sex_code_is_set_null_and_counted() -> None:
    with pytest.warns(UnmappedValuesWarning, match="1 unknown sex code"):
        out, report = check_exams(with_value("sex", 2, "Q"), today=TODAY)
    assert out.height == 4 and out.get_column("sex").to_list() == ["F", "F", None, "U"]
    assert report.set_null_by_reason == {"unknown sex code": 1}
    assert report.dropped_by_reason == {} and not report.is_clean
    assert report.problems.select("row", "column", "value", "reason").rows() == [
        (2, "sex", "Q", "unknown sex code (set null)")
    ]


def test_sex_is_upper_cased() -> None:
    df = clean().with_columns(pl.Series("sex", ["f", " m ", "Female", "u"]))
    assert validate(df, today=TODAY).get_column("sex").to_list() == ["F", "M", "F", "U"]
    df = clean().with_columns(pl.Series("sex", ["W", "D", "männlich", "X"]))
    assert validate(df, today=TODAY).get_column("sex").to_list() == ["F", "O", "M", "O"]


def test_unknown_body_region_is_set_null_exam_kept() -> None:
    with pytest.warns(UnmappedValuesWarning, match="1 unknown body region"):
        out = validate(with_value("body_region", 1, "Topogram"), today=TODAY)
    assert out.height == 4
    assert out.get_column("body_region").to_list() == ["chest", None, "head", "chest"]
    assert out.get_column("body_region_raw").to_list()[1] == "Topogram"
    assert out.get_column("effective_dose_msv").to_list()[1] == 12.0


def test_body_region_text_mapped_with_user_rules_first() -> None:
    df = clean().with_columns(
        pl.Series("body_region", ["ABDOMEN/PELVIS", "Thorax^TAP (Adult)", "Schädel", "Hüfte"])
    )
    out = validate(df, today=TODAY, region_rules={r" hufte ": "pelvis"})
    assert out.get_column("body_region").to_list() == [
        "abdomen_pelvis",
        "chest_abdomen_pelvis",
        "head",
        "pelvis",
    ]
    assert out.get_column("body_region_raw").to_list() == df.get_column("body_region").to_list()


def test_body_region_normalised_case_and_spaces() -> None:
    df = clean().with_columns(pl.Series("body_region", ["Chest", "abdomen pelvis", "HEAD", None]))
    out = validate(df, today=TODAY).get_column("body_region").to_list()
    assert out == ["chest", "abdomen_pelvis", "head", None]
    assert set(out[:3]) <= set(BODY_REGIONS)


def test_duplicate_by_study_uid() -> None:
    df = pl.concat([clean(), clean()[1:2].with_columns(pl.lit(99.0).alias("effective_dose_msv"))])
    assert_one_problem(df, 4, "exam_date", "duplicate exam")


def test_same_day_different_study_is_not_duplicate() -> None:
    df = pl.concat([clean(), clean()[1:2].with_columns(pl.lit("1.2.9").alias("study_uid"))])
    assert validate(df, today=TODAY).height == 5


def test_duplicate_without_study_uid_uses_the_dose() -> None:
    base = clean().drop("study_uid")
    same = pl.concat([base, base[0:1]])
    assert_one_problem(same, 4, "exam_date", "duplicate exam")
    other_dose = pl.concat([base, base[0:1].with_columns(pl.lit(1.0).alias("effective_dose_msv"))])
    assert validate(other_dose, today=TODAY).height == 5


def test_first_of_several_copies_is_kept() -> None:
    df = pl.concat([clean()[2:3]] * 3 + [clean()])
    probs = problems_of(df)
    assert probs.select("row", "reason").rows() == [
        (1, "duplicate exam"),
        (2, "duplicate exam"),
        (5, "duplicate exam"),
    ]


def test_every_problem_listed_in_one_error_in_row_order() -> None:
    df = clean().with_columns(
        pl.Series("effective_dose_msv", [-1.0, 1.0, 2.0, math.nan]),
        pl.Series("age_years", [1.0, -3.0, 2.0, 3.0]),
        pl.Series("patient_id", [None, "p1", "p2", "p3"]),
    )
    probs = problems_of(df)
    assert probs.select("row", "column", "reason").rows() == [
        (0, "patient_id", "missing patient id"),
        (0, "effective_dose_msv", "negative dose"),
        (1, "age_years", "age outside 0-130"),
        (3, "effective_dose_msv", "NaN dose"),
    ]
    assert probs.get_column("value").to_list() == [None, "-1.0", "-3.0", "NaN"]


def test_message_shows_first_20_and_total() -> None:
    n = 45
    df = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "exam_date": [date(2020, 1, 1)] * n,
            "effective_dose_msv": [-1.0] * n,
        }
    )
    with pytest.raises(ExamValidationError) as info:
        validate(df, today=TODAY)
    msg = str(info.value)
    assert msg.startswith("45 problems")
    assert "row 19," in msg and "row 20," not in msg and "25 more" in msg
    assert info.value.problems.height == n


def test_strict_false_drops_counts_and_warns_once() -> None:
    # (a bad optional attribute, such as an age of 200, is set null instead: see
    # tests/test_validation_audit.py)
    df = clean().with_columns(
        pl.Series("effective_dose_msv", [-1.0, math.nan, -2.0, 3.0]),
    )
    with pytest.warns(DroppedRowsWarning) as record:
        out, report = check_exams(df, strict=False, today=TODAY)
    assert len(record) == 1
    assert "dropped 3 of 4 rows" in str(record[0].message)
    assert "2 negative dose" in str(record[0].message)
    assert out.get_column("patient_id").to_list() == ["p3"]
    assert isinstance(report, ValidationReport)
    assert (report.n_rows_in, report.n_rows_out, report.n_dropped) == (4, 1, 3)
    assert report.dropped_by_reason == {"negative dose": 2, "NaN dose": 1}
    text = str(report)
    assert "rows in: 4, rows out: 1" in text and "row 1, column 'effective_dose_msv'" in text


def test_strict_false_without_report_returns_frame() -> None:
    with pytest.warns(DroppedRowsWarning, match="1 negative dose"):
        out = validate(with_value("effective_dose_msv", 0, -1.0), strict=False, today=TODAY)
    assert isinstance(out, pl.DataFrame) and out.height == 3


def test_good_copy_of_a_bad_row_survives() -> None:
    df = pl.concat([with_value("effective_dose_msv", 0, -5.0)[0:1], clean()])
    with pytest.warns(DroppedRowsWarning):
        out, report = check_exams(df, strict=False, today=TODAY)
    assert report.dropped_by_reason == {"negative dose": 1}
    assert_frame_equal(out, with_raw(clean()))


def test_dtypes_are_made_canonical() -> None:
    df = pl.DataFrame(
        {
            "patient_id": pl.Series([1, 2], dtype=pl.Int32),
            "exam_date": pl.Series([datetime(2020, 1, 1), datetime(2020, 1, 2)])
            .cast(pl.Datetime("ns"))
            .dt.replace_time_zone("Europe/Paris"),
            "effective_dose_msv": pl.Series([1, 2], dtype=pl.Int16),
            "age_years": pl.Series([40, 50], dtype=pl.UInt8),
            "facility": pl.Series(["a", "b"], dtype=pl.Categorical),
            "study_uid": [11, 12],
        }
    )
    out = validate(df, today=TODAY)
    assert out.schema == pl.Schema(
        {
            "patient_id": pl.Int64,
            "exam_date": pl.Datetime("us"),
            "effective_dose_msv": pl.Float64,
            "age_years": pl.Float64,
            "facility": pl.Utf8,
            "study_uid": pl.Utf8,
        }
    )
    # the local wall-clock time is kept
    assert out.get_column("exam_date").to_list() == [datetime(2020, 1, 1), datetime(2020, 1, 2)]


def test_string_dates_parse_to_date_or_datetime() -> None:
    base = clean().select("patient_id", "effective_dose_msv")
    days = base.with_columns(
        pl.Series("exam_date", ["2019-01-02", "20190304", "2020-05-06", "2021-07-08"])
    )
    out = validate(days, today=TODAY).get_column("exam_date")
    assert out.dtype == pl.Date
    assert out.to_list() == [date(2019, 1, 2), date(2019, 3, 4), date(2020, 5, 6), date(2021, 7, 8)]
    times = base.with_columns(
        pl.Series(
            "exam_date",
            ["2019-01-02T08:30:00", "2019-03-04 09:00", "2020-05-06", "2021-07-08 11:00:00.25Z"],
        )
    )
    out = validate(times, today=TODAY).get_column("exam_date")
    assert out.dtype == pl.Datetime("us")
    assert out.to_list()[0] == datetime(2019, 1, 2, 8, 30)
    assert out.to_list()[3] == datetime(2021, 7, 8, 11, 0, 0, 250000)


def test_year_first_slashed_dates_are_unambiguous() -> None:
    df = clean().with_columns(
        pl.Series("exam_date", ["2019/01/02", "2019/03/04 09:00", "2020/05/06", "2021-07-08"])
    )
    out = validate(df, today=TODAY).get_column("exam_date").to_list()
    assert out[:2] == [datetime(2019, 1, 2), datetime(2019, 3, 4, 9, 0)]


def test_empty_table() -> None:
    empty = clean().clear()
    assert_frame_equal(validate(empty, today=TODAY), with_raw(empty))
    text_dates = pl.DataFrame(
        schema={"patient_id": pl.Utf8, "exam_date": pl.Utf8, "effective_dose_msv": pl.Float64}
    )
    out, report = check_exams(text_dates, strict=False)
    assert out.height == 0 and report.is_clean


def test_integral_float_patient_ids_become_int64() -> None:
    df = clean().with_columns(pl.Series("patient_id", [1.0, 1.0, 2.0, 3.5]))
    assert_one_problem(df, 3, "patient_id", "patient id is not an integer")
    ok = validate(df[:3], today=TODAY).get_column("patient_id")
    assert ok.dtype == pl.Int64 and ok.to_list() == [1, 1, 2]


def test_pandas_input_round_trip() -> None:
    df = clean()
    pd_out = validate(df.to_pandas(), today=TODAY)
    assert isinstance(pd_out, pd.DataFrame)  # pandas in, pandas out
    out = pl.from_pandas(pd_out)
    assert_frame_equal(out, with_raw(df), check_dtypes=False)
    back = pl.from_pandas(out.to_pandas())
    assert_frame_equal(back, out)
    assert_frame_equal(validate(back, today=TODAY), back)  # validated twice: unchanged


def test_pandas_nan_dose_is_missing() -> None:
    pdf = clean().to_pandas()
    pdf.loc[2, "effective_dose_msv"] = float("nan")
    with pytest.raises(ExamValidationError, match="row 2, column 'effective_dose_msv': missing"):
        validate(pdf, today=TODAY)


def test_arrow_input_round_trip() -> None:
    df = clean()
    table = df.to_arrow()
    assert isinstance(table, pa.Table)
    out = validate(table, today=TODAY)
    assert_frame_equal(out, with_raw(df))
    assert out.to_arrow().equals(validate(out.to_arrow(), today=TODAY).to_arrow())


def test_not_a_frame() -> None:
    with pytest.raises(TypeError, match="read_exams"):
        validate({"patient_id": [1]})


def test_bad_today() -> None:
    with pytest.raises(ValueError, match="today="):
        validate(clean(), today="last week")


# --- property: strict=False never loses a good row -------------------------------------------

ROW = st.fixed_dictionaries(
    {
        "patient_id": st.sampled_from(["a", "b", "c", None]),
        "day": st.integers(-2, 4),  # offsets from 2020-01-01; -2 impossible, 4 after today
        "dose": st.sampled_from([0.0, 1.5, 2.0, -1.0, math.nan, math.inf, None]),
        "uid": st.sampled_from(["u1", "u2", None]),
        "sex": st.sampled_from(["F", "M", "q", None]),  # q: unmapped, set null, row kept
        "age": st.sampled_from([0.0, 45.0, 131.0, None]),
    }
)
BASE = date(2020, 1, 1)
TODAY_P = date(2020, 1, 4)


def to_date(day: int) -> date:
    """Day offsets from BASE; negative offsets are impossible dates (1899-12-31, 1899-12-30)."""
    return date.fromordinal((BASE if day >= 0 else date(1900, 1, 1)).toordinal() + day)


def age_of(r: dict) -> float | None:
    """The age as validate(strict=False) returns it: outside 0-130 set null."""
    return r["age"] if r["age"] is not None and 0 <= r["age"] <= 130 else None


def naive_good_rows(rows: list[dict]) -> list[int]:
    """Indices of the rows validate must keep, computed row by row."""
    good = []
    for i, r in enumerate(rows):
        d = r["dose"]
        ok = (
            r["patient_id"] is not None
            and r["day"] >= 0
            and r["day"] <= (TODAY_P - BASE).days
            and d is not None
            and math.isfinite(d)
            and d >= 0
        )  # an age outside 0-130 is set null, the row kept
        if ok:
            good.append(i)
    # DUPLICATE_RULE written out: a uid is one exam (the earliest day kept, ties: first row);
    # without a uid and with dates only, a copy repeats every column
    first: dict[tuple, tuple[int, int]] = {}
    for i in good:
        r = rows[i]
        if r["uid"] is not None:
            key: tuple = ("uid", r["patient_id"], r["uid"])
            rank = (r["day"], i)
        else:
            sex = None if r["sex"] == "q" else r["sex"]
            key = ("row", *(r[k] for k in ("patient_id", "day", "dose")), age_of(r), sex)
            rank = (0, i)
        if key not in first or rank < first[key]:
            first[key] = rank
    return sorted(i for _, i in first.values())


@given(st.lists(ROW, max_size=25))
def test_strict_false_keeps_every_good_row_in_order(rows: list[dict]) -> None:
    df = pl.DataFrame(
        {
            "patient_id": pl.Series([r["patient_id"] for r in rows], dtype=pl.Utf8),
            "exam_date": pl.Series(
                [to_date(r["day"]) for r in rows],
                dtype=pl.Date,
            ),
            "effective_dose_msv": pl.Series([r["dose"] for r in rows], dtype=pl.Float64),
            "study_uid": pl.Series([r["uid"] for r in rows], dtype=pl.Utf8),
            "sex": pl.Series([r["sex"] for r in rows], dtype=pl.Utf8),
            "age_years": pl.Series([r["age"] for r in rows], dtype=pl.Float64),
        }
    )
    expected = naive_good_rows(rows)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out, report = check_exams(df, strict=False, today=TODAY_P)
    kinds = {type(w.message) for w in record}
    assert (DroppedRowsWarning in kinds) == (len(expected) < len(rows))
    n_q = sum(rows[i]["sex"] == "q" for i in expected)
    n_age = sum(age_of(rows[i]) != rows[i]["age"] for i in expected)
    assert (UnmappedValuesWarning in kinds) == (n_q + n_age > 0)
    nulled = {"unknown sex code": n_q, "age outside 0-130": n_age}
    assert report.set_null_by_reason == {k: n for k, n in nulled.items() if n}
    # no row number column: it would make every date-only row unique (DUPLICATE_RULE, 3)
    want = [(*(None if v == "q" else v for v in df.row(i)[:-1]), age_of(rows[i])) for i in expected]
    assert out.rows() == want
    assert report.n_rows_out == len(expected)
    dropped = set(range(len(rows))) - set(expected)
    dropped_rows = report.problems.filter(~pl.col("reason").str.ends_with("(set null)"))
    assert set(dropped_rows.get_column("row").to_list()) == dropped


def test_pandas_frame_kinds_accepted() -> None:
    pdf = pd.DataFrame(
        {
            "patient_id": [1, 2],
            "exam_date": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "effective_dose_msv": [1.0, 2.0],
        }
    )
    out = validate(pdf, today=TODAY)
    assert isinstance(out, pd.DataFrame)
    assert str(out["patient_id"].dtype) == "Int64"
    assert str(out["exam_date"].dtype).startswith("datetime64")
    out_pl = check_exams(pdf, today=TODAY)[0]  # the polars frame behind it
    assert out_pl.schema["patient_id"] == pl.Int64
    assert out_pl.schema["exam_date"] == pl.Datetime("us")


def test_eager_date_parsing_agrees_with_the_expression() -> None:
    from recurct._dates import parse_date_series
    from recurct.schema import parse_dates

    values = [
        "2019-12-31",
        "2019-12-31 08:15",
        "2019-12-31T08:15:00.5Z",
        "20191231",
        "20191231 081500.25",
        "20191231081500",
        "31/12/2019",
        "31.12.2019 08:15",
        "2019/12/31",
        "not a date",
        None,
    ]
    column = pl.Series("d", [values[(i * 7) % len(values)] for i in range(997)])
    for dayfirst in (False, True):
        eager = parse_date_series(column, dayfirst=dayfirst)
        lazy = pl.select(parse_dates(pl.lit(column), dayfirst=dayfirst)).to_series()
        assert eager.to_list() == lazy.to_list()
        assert eager.null_count() < column.len()
    assert column[4] == "31/12/2019"
    assert parse_date_series(column, dayfirst=True)[4] == datetime(2019, 12, 31)
    assert parse_date_series(column)[4] is None


def test_error_pickles() -> None:
    import pickle

    with pytest.raises(ExamValidationError) as info:
        validate(with_value("age_years", 0, 200.0), today=TODAY)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)
    assert_frame_equal(again.problems, info.value.problems)


# DICOM Age Strings -----------------------------------------------------------------------

AGES = [
    ("067Y", 67.0),
    ("018M", 18 / 12),
    ("006W", 6 * 7 / 365.25),
    ("010D", 10 / 365.25),
    ("000D", 0.0),
    (" 045y ", 45.0),  # case and spaces ignored
    ("1,5Y", 1.5),  # decimal comma (non-standard exports)
    ("067", None),  # unit required
    ("67 years", None),
    ("Y", None),
    ("012X", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "years"), AGES)
def test_dicom_age_years_scalar(text: str | None, years: float | None) -> None:
    got = dicom_age_years(text)
    assert got is None if years is None else got == pytest.approx(years, rel=1e-12)


def test_parse_dicom_age_series_and_expression_agree_with_scalar() -> None:
    texts = [t for t, _ in AGES]
    want = [y for _, y in AGES]
    series = parse_dicom_age(pl.Series("age", texts, dtype=pl.Utf8))
    expr = pl.DataFrame({"age": texts}).select(parse_dicom_age(pl.col("age"))).to_series()
    for got in (series, expr):
        assert got.dtype == pl.Float64
        assert [g is None for g in got.to_list()] == [w is None for w in want]
        pairs = [(g, w) for g, w in zip(got.to_list(), want, strict=True) if w is not None]
        assert all(g == pytest.approx(w, rel=1e-12) for g, w in pairs)
    assert series.to_list() == [dicom_age_years(t) for t in texts]


@given(st.integers(0, 999), st.sampled_from("YMWD"))
def test_dicom_age_divisors(n: int, unit: str) -> None:
    per_year = {"Y": 1, "M": 12, "W": 365.25 / 7, "D": 365.25}[unit]
    assert dicom_age_years(f"{n:03d}{unit}") == pytest.approx(n / per_year, rel=1e-12)


# One rule for duplicate exams (duplicate_mask, used by validate and Cohort.dedupe) ---------


def _mask(df: pl.DataFrame) -> list[bool]:
    return duplicate_mask(df).to_list()


def test_duplicate_mask_study_uid_is_one_exam_whatever_its_values() -> None:
    t = datetime
    df = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "a", "a"],
            "exam_date": [t(2020, 1, 2, 9), t(2020, 1, 1, 8), t(2020, 1, 1, 8)]
            + [t(2020, 1, 1, 8)] * 2,
            "effective_dose_msv": [5.0, 4.0, 4.0, 4.0, 4.0],
            "study_uid": ["s1", "s1", "s1", None, "s2"],
        }
    )
    # row 0 repeats row 1's study a day later with another dose: row 1 (earlier) is kept;
    # another patient's s1, a row without a uid and another uid are other exams
    assert _mask(df) == [True, False, False, False, False]
    probs = problems_of(df)
    assert probs.select("row", "reason").rows() == [(0, "duplicate exam")]


def test_duplicate_mask_without_uid_needs_every_canonical_column() -> None:
    base = clean().drop("study_uid")
    copy = base[0:1].with_columns(ward=pl.lit(99, dtype=pl.Int64))  # unknown column differs
    assert _mask(pl.concat([base, copy])) == [False] * 4 + [True]
    for column, value in [
        ("dlp_mgycm", 501.0),
        ("ctdivol_mgy", 11.0),
        ("body_region", "head"),
        ("facility", "Z"),
        ("age_years", 55.0),
        ("indication", "trauma"),
    ]:
        other = base[0:1].with_columns(pl.lit(value).alias(column))
        assert _mask(pl.concat([base, other])) == [False] * 5, column
        assert validate(pl.concat([base, other]), today=TODAY).height == 5


def test_null_uid_rows_compared_like_rows_without_uid() -> None:
    df = clean().with_columns(pl.lit(None, dtype=pl.Utf8).alias("study_uid"))
    assert _mask(pl.concat([df, df[1:2]])) == [False] * 4 + [True]
    assert _mask(pl.concat([df, clean()[1:2]])) == [False] * 5  # uid vs no uid: never copies


@pytest.mark.parametrize("midnight_datetimes", [False, True])
def test_same_day_exams_without_time_or_uid(midnight_datetimes: bool) -> None:
    # a date-only export with a tabulated dose per exam type: two head CTs on one day
    df = pl.DataFrame(
        {
            "patient_id": ["p", "p", "q", "q"],
            "exam_date": [date(2020, 3, 1)] * 4,
            "effective_dose_msv": [2.0] * 4,
            "body_region": ["head"] * 4,
            "accession": ["A1", "A2", "B1", "B1"],
        }
    )
    if midnight_datetimes:
        df = df.with_columns(pl.col("exam_date").cast(pl.Datetime("us")))
    # an unknown column that differs keeps real exams apart; identical rows are one exam
    assert _mask(df) == [False, False, False, True]
    with pytest.warns(DroppedRowsWarning, match="1 duplicate exam"):
        assert validate(df, strict=False, today=TODAY).height == 3
    # no column tells them apart: identical rows, counted once (stated in DUPLICATE_RULE)
    assert _mask(df.drop("accession")) == [False, True, False, True]


def test_same_timestamp_rows_ignore_unknown_columns() -> None:
    df = pl.DataFrame(
        {
            "patient_id": ["p", "p"],
            "exam_date": [datetime(2020, 3, 1, 10, 30)] * 2,
            "effective_dose_msv": [2.0, 2.0],
            "source_file": ["a.csv", "b.csv"],
        }
    )
    assert _mask(df) == [False, True]
    # midnight: no time of day, so the unknown column keeps them apart
    midnight = df.with_columns(pl.Series("exam_date", [datetime(2020, 3, 1)] * 2))
    assert _mask(midnight) == [False, False]
    # decided per pair: a row with a time of day elsewhere changes nothing (it used to flip
    # the rule for the whole table)
    mixed = pl.concat([midnight, df[0:1]])
    assert _mask(mixed) == [False, False, False]
    assert _mask(pl.concat([df, midnight])) == [False, True, False, False]


def test_duplicate_mask_inputs_and_errors() -> None:
    df = pl.concat([clean(), clean()[2:3]])
    assert _mask(df.to_pandas()) == [False] * 4 + [True]
    text = df.with_columns(pl.col("exam_date").dt.strftime("%Y-%m-%d %H:%M"))
    assert _mask(text) == [False] * 4 + [True]  # compared after the canonical casts
    assert duplicate_mask(df.head(0)).to_list() == []
    with pytest.raises(ValueError, match="lacks column"):
        duplicate_mask(df.drop("exam_date"))


def test_as_date_converts_and_names_the_argument() -> None:
    import datetime as dt

    import numpy as np

    from recurct._dates import as_date

    want = dt.date(2020, 1, 2)
    for v in ("2020-01-02", dt.datetime(2020, 1, 2, 5), np.datetime64("2020-01-02T05"), want):
        assert as_date(v, "x") == want
    assert as_date(None, "x", none_ok=True) is None
    with pytest.raises(ValueError, match=r"period\(start\)='last week' is not a date"):
        as_date("last week", "period(start)")
    with pytest.raises(TypeError, match="windows end must be a date"):
        as_date(5, "windows end")
    with pytest.raises(TypeError, match="x must be a date"):
        as_date(None, "x")


def test_duplicate_mask_pandas_in_pandas_out() -> None:
    """pandas in, pandas out: a boolean Series on the frame's own index."""
    import pandas as pd

    df = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": ["2020-01-01"] * 3,
            "study_uid": ["1", "1", "2"],
        },
        index=[10, 11, 12],
    )
    mask = duplicate_mask(df)
    assert isinstance(mask, pd.Series) and mask.dtype == bool
    assert mask.index.tolist() == [10, 11, 12] and mask.tolist() == [False, True, False]
    assert len(df[~mask]) == 2
