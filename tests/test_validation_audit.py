"""The validation audit's findings: duplicates that depended on a third row or on a second
``validate``, region texts, NaN identifiers, dtypes polars cannot cast, null dates, bad optional
attributes that cost an exam its dose, DICOM ages, and temporary column names."""

from __future__ import annotations

import math
import warnings
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from recurct import read_exams
from recurct._validation import check_exams
from recurct.cohort import Cohort
from recurct.errors import DataError
from recurct.schema import (
    DroppedRowsWarning,
    ExamValidationError,
    UnmappedValuesWarning,
    duplicate_mask,
    validate,
)

TODAY = "2024-01-01"
D = date(2020, 1, 1)


def quiet_validate(exams: object, **kw: object) -> pl.DataFrame:
    """``validate(strict=False)`` without its warnings."""
    kw.setdefault("today", TODAY)
    kw.setdefault("strict", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRowsWarning)
        warnings.simplefilter("ignore", UnmappedValuesWarning)
        return validate(exams, **kw)


def two(**columns: list) -> pl.DataFrame:
    """Two exams of patient a on one day, 1.5 mSv each, and ``columns``."""
    base = {"patient_id": ["a", "a"], "exam_date": [D, D], "effective_dose_msv": [1.5, 1.5]}
    return pl.DataFrame({**base, **columns}, strict=False)


# --- B1: the region text as given is part of the duplicate key on date-only rows ------------


def test_unmapped_regions_stay_two_exams_after_validate() -> None:
    ex = two(body_region=["Hip left", "Shoulder right"])
    v = quiet_validate(ex, strict=True)
    assert v.height == 2 and v["body_region"].to_list() == [None, None]
    assert duplicate_mask(ex).to_list() == [False, False]
    assert duplicate_mask(v).to_list() == [False, False]
    assert Cohort(v).dedupe().exams.height == 2
    assert quiet_validate(v).height == 2


def test_region_texts_of_one_region_on_one_day_are_two_exams() -> None:
    ex = two(body_region=["CT Thorax nativ", "CT Thorax mit KM"])
    v = quiet_validate(ex)
    assert v["body_region"].to_list() == ["chest", "chest"]
    assert v["body_region_raw"].to_list() == ["CT Thorax nativ", "CT Thorax mit KM"]
    assert duplicate_mask(ex).to_list() == duplicate_mask(v).to_list() == [False, False]
    assert quiet_validate(v).height == 2


def test_timed_rows_compare_the_mapped_region_and_the_text_of_an_unknown_one() -> None:
    at = datetime(2020, 1, 1, 9, 30)
    unknown = two(body_region=["Hip left", "Shoulder right"]).with_columns(exam_date=pl.lit(at))
    v = quiet_validate(unknown)
    assert v.height == 2
    assert duplicate_mask(unknown).to_list() == duplicate_mask(v).to_list() == [False, False]
    # one region, spelled twice, at one instant: one exam (rule 2 compares canonical values)
    spelled = two(body_region=["Chest", "CHEST"]).with_columns(exam_date=pl.lit(at))
    assert quiet_validate(spelled).height == 1
    assert duplicate_mask(spelled).to_list() == [False, True]


# --- B2: blank and unmapped codes compared alike in every call; validate idempotent ---------


def test_blank_and_null_sex_compare_alike_whatever_the_other_rows() -> None:
    pair = two(sex=["  ", None]).with_columns(effective_dose_msv=pl.lit(2.0))
    other = pl.DataFrame(
        {
            "patient_id": ["b"],
            "exam_date": [date(2020, 3, 1)],
            "effective_dose_msv": [1.0],
            "sex": ["Q"],
        }
    )
    both = pl.concat([pair, other])
    assert quiet_validate(pair).height == 1
    assert quiet_validate(both).filter(pl.col("patient_id") == "a").height == 1
    assert duplicate_mask(pair).to_list() == [False, True]
    assert duplicate_mask(both).to_list() == [False, True, False]


@pytest.mark.parametrize("hour", [None, 9])
@pytest.mark.parametrize("blank", ["  ", ""])
def test_blank_and_null_region_compare_alike(blank: str, hour: int | None) -> None:
    ex = two(body_region=[blank, None])
    if hour is not None:
        ex = ex.with_columns(exam_date=pl.lit(datetime(2020, 1, 1, hour)))
    assert quiet_validate(ex).height == 1
    assert duplicate_mask(ex).to_list() == [False, True]
    assert duplicate_mask(ex.to_pandas()).to_list() == [False, True]


def test_unmapped_sex_codes_compare_as_the_null_validate_returns() -> None:
    at = datetime(2020, 1, 1, 9, 30)
    ex = two(sex=["Q", "Z"]).with_columns(exam_date=pl.lit(at))
    v = quiet_validate(ex)
    assert v.height == 1  # one patient, one instant, one dose: the sex is no exam attribute
    assert duplicate_mask(ex).to_list() == [False, True]
    assert_frame_equal(quiet_validate(v), v)


ROW = st.fixed_dictionaries(
    {
        "patient_id": st.sampled_from(["a", "b"]),
        "day": st.sampled_from([0, 1]),
        "hour": st.sampled_from([None, 0, 9]),  # None: a Date column
        "dose": st.sampled_from([1.0, 2.0]),
        "sex": st.sampled_from(["F", "w", "Q", "Z", "  ", None]),
        "region": st.sampled_from(["chest", "Thorax", "Hip left", "Knie", "  ", None]),
        "age": st.sampled_from([40.0, 150.0, -1.0, None]),
        "dlp": st.sampled_from([100.0, -5.0, math.nan, None]),
        "acc": st.sampled_from(["x", "y", None]),
    }
)


@given(st.lists(ROW, min_size=1, max_size=12), st.booleans())
def test_validate_twice_keeps_the_same_rows_and_agrees_with_duplicate_mask(
    rows: list[dict], timed: bool
) -> None:
    def when(r: dict) -> date | datetime:
        day = D + timedelta(days=r["day"])
        return datetime.combine(day, datetime.min.time()) + timedelta(hours=r["hour"] or 0)

    ex = pl.DataFrame(
        {
            "patient_id": [r["patient_id"] for r in rows],
            "exam_date": [when(r) if timed else D + timedelta(days=r["day"]) for r in rows],
            "effective_dose_msv": [r["dose"] for r in rows],
            "dlp_mgycm": pl.Series([r["dlp"] for r in rows], dtype=pl.Float64),
            "sex": pl.Series([r["sex"] for r in rows], dtype=pl.Utf8),
            "body_region": pl.Series([r["region"] for r in rows], dtype=pl.Utf8),
            "age_years": pl.Series([r["age"] for r in rows], dtype=pl.Float64),
            "acc": pl.Series([r["acc"] for r in rows], dtype=pl.Utf8),
        },
        strict=False,
    )
    once = quiet_validate(ex)
    # rows that differed only in values validation set null (age 150, a negative DLP) are
    # two exams the first time and equal afterwards: a second validation counts them once
    # (documented: validate once, as read_exams does); from then on it is idempotent
    twice = quiet_validate(once)
    assert twice.height == once.height - int(duplicate_mask(once).sum())
    assert_frame_equal(quiet_validate(twice), twice)
    # no row is dropped for another reason here: the copies are exactly those validate drops
    copies = duplicate_mask(ex)
    assert once.height == int((~copies).sum())


# --- B3: a NaN study_uid (or another text attribute) is null, not the text "NaN" ------------


def test_nan_study_uid_is_no_study_uid() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": [date(2020, 1, 1), date(2021, 6, 1)],
            "effective_dose_msv": [10.0, 20.0],
            "study_uid": [math.nan, math.nan],
            "facility": [math.nan, 1.0],
        }
    )
    out = quiet_validate(ex)
    assert out["effective_dose_msv"].to_list() == [10.0, 20.0]
    assert out["study_uid"].to_list() == [None, None]
    assert out["facility"].to_list() == [None, "1.0"]
    assert duplicate_mask(ex).to_list() == [False, False]


def test_nan_sex_is_missing_not_an_unknown_code() -> None:
    ex = two(sex=[math.nan, 1.0], effective_dose_msv=[1.0, 2.0])
    with pytest.warns(UnmappedValuesWarning, match="1 unknown sex code"):
        out, report = check_exams(ex, today=TODAY)
    assert out["sex"].to_list() == [None, None]
    assert report.problems["value"].to_list() == ["1.0"]


# --- B9: dtypes that cannot hold a column's values: DataError naming column and dtype -------

WRONG = [
    ("exam_date", pl.Series("exam_date", [[1], [2]])),
    ("exam_date", pl.Series("exam_date", [timedelta(1), timedelta(2)])),
    ("patient_id", pl.Series("patient_id", [["a"], ["a"]])),
    ("effective_dose_msv", pl.Series("effective_dose_msv", [[1.0], [2.0]])),
    ("effective_dose_msv", pl.Series("effective_dose_msv", [D, D])),
    ("age_years", pl.Series("age_years", [timedelta(1), timedelta(2)])),
    *(
        (name, pl.Series(name, ["x", "y"], dtype=pl.Object))
        for name in ("study_uid", "patient_id", "exam_date", "effective_dose_msv", "sex")
    ),
    ("facility", pl.Series("facility", ["x", "y"], dtype=pl.Object)),
    ("indication", pl.Series("indication", [{"a": 1}, {"a": 2}])),
    ("body_region", pl.Series("body_region", [b"\xff", b"x"])),
]


@pytest.mark.parametrize(("column", "values"), WRONG, ids=lambda v: str(getattr(v, "dtype", v)))
def test_wrong_dtype_is_a_data_error_naming_column_and_dtype(
    column: str, values: pl.Series
) -> None:
    ex = two().with_columns(values)
    for call in (
        lambda: validate(ex, today=TODAY),
        lambda: validate(ex, strict=False, today=TODAY),
        lambda: duplicate_mask(ex),
        lambda: read_exams(ex, validate=False),
    ):
        with pytest.raises(DataError, match=f"column '{column}'") as info:
            call()
        dtype = "Binary" if values.dtype == pl.Binary else str(values.dtype)
        assert dtype in str(info.value)


def test_accepted_dtypes_still_read() -> None:
    ex = two(
        sex=pl.Series(["F", "M"], dtype=pl.Categorical),
        age_years=pl.Series(["40", "067Y"], dtype=pl.Categorical),
        facility=pl.Series([b"A", b"B"]),
    )
    out = validate(ex, today=TODAY)
    assert out["age_years"].to_list() == [40.0, 67.0]
    assert out["facility"].to_list() == ["A", "B"]


# --- B11: a null date has no time of day, whatever the column's dtype -----------------------


@pytest.mark.parametrize("dtype", [pl.Date, pl.Datetime("us")])
def test_null_dates_compare_every_column_whatever_the_dtype(dtype: pl.DataType) -> None:
    ex = two(acc=["x", "y"]).with_columns(pl.lit(None, dtype=dtype).alias("exam_date"))
    assert duplicate_mask(ex).to_list() == [False, False]
    same = ex.with_columns(acc=pl.lit("x"))
    assert duplicate_mask(same).to_list() == [False, True]


# --- B12: a bad optional attribute is set null, the exam and its dose kept ------------------

BAD_ATTRIBUTES = [
    ("age_years", 150.0, "age outside 0-130"),
    ("age_years", -1.0, "age outside 0-130"),
    ("age_years", "old", "not a number"),
    ("dlp_mgycm", -1.0, "negative dose"),
    ("dlp_mgycm", math.nan, "NaN dose"),
    ("dlp_mgycm", math.inf, "infinite dose"),
    ("dlp_mgycm", 1e9, "DLP above"),
    ("ctdivol_mgy", -1.0, "negative dose"),
    ("ctdivol_mgy", math.nan, "NaN dose"),
    ("ctdivol_mgy", -math.inf, "infinite dose"),
    ("ctdivol_mgy", "n/a mGy", "not a number"),
]


def with_bad(column: str, value: object) -> pl.DataFrame:
    good = {"age_years": 40.0, "dlp_mgycm": 300.0, "ctdivol_mgy": 10.0}[column]
    values = [good, value] if isinstance(value, float) else [str(good), value]
    return pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": [D, D],
            "effective_dose_msv": [4.0, 5.0],
            column: values,
        }
    )


@pytest.mark.parametrize(("column", "value", "reason"), BAD_ATTRIBUTES)
def test_bad_optional_attribute_set_null_exam_and_dose_kept(
    column: str, value: object, reason: str
) -> None:
    ex = with_bad(column, value)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out, report = check_exams(ex, strict=False, today=TODAY)
    assert [type(w.message) for w in seen] == [UnmappedValuesWarning]
    assert out["effective_dose_msv"].to_list() == [4.0, 5.0]
    assert out[column][1] is None and out[column][0] is not None
    assert report.dropped_by_reason == {}
    assert [r.startswith(reason) for r in report.set_null_by_reason] == [True]
    assert report.problems.select("row", "column").rows() == [(1, column)]
    assert report.problems["reason"][0].endswith("(set null)")
    # strict=True still raises, naming the row and the column
    with pytest.raises(ExamValidationError, match=f"row 1, column '{column}': {reason}"):
        validate(ex, today=TODAY)


def test_dlp_is_the_dose_of_a_row_without_an_effective_dose() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "exam_date": [D] * 3,
            "effective_dose_msv": [4.0, None, None],
            "dlp_mgycm": [-1.0, -1.0, 300.0],
        }
    )
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = read_exams(ex, strict=False, today=TODAY)  # effective dose not required
        report = result.report
    assert result.exams["patient_id"].to_list() == ["a", "c"]
    assert report.dropped_by_reason == {"negative dose": 1}
    assert report.set_null_by_reason == {"negative dose": 1}
    no_dose = ex.drop("effective_dose_msv")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = read_exams(no_dose, strict=False, today=TODAY).exams
    assert out["patient_id"].to_list() == ["c"]


def test_a_required_attribute_is_never_set_null() -> None:
    ex = with_bad("age_years", 150.0)
    with pytest.warns(DroppedRowsWarning, match="1 age outside 0-130"):
        out = validate(
            ex,
            strict=False,
            today=TODAY,
            required=["patient_id", "exam_date", "effective_dose_msv", "age_years"],
        )
    assert out["patient_id"].to_list() == ["a"]


def test_dicom_age_strings_read_by_validate_as_by_read_exams() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "exam_date": [D] * 4,
            "effective_dose_msv": [1.0] * 4,
            "age_years": ["067Y", "018M", "45", "010D"],
        }
    )
    want = [67.0, 1.5, 45.0, 10 / 365.25]
    assert validate(ex, today=TODAY)["age_years"].to_list() == pytest.approx(want)
    got = read_exams(ex, strict=False, today=TODAY).exams["age_years"].to_list()
    assert got == pytest.approx(want)


# --- B13: user columns never clash with the temporary names of validate --------------------


@pytest.mark.parametrize("name", ["__cast_exam_date", "__cast_sex", "__row", "__key", "k0"])
def test_user_columns_named_like_temporary_ones(name: str) -> None:
    ex = two(sex=["F", "F"], **{name: ["p", "q"]})
    out = quiet_validate(ex)
    assert out.height == 2 and out[name].to_list() == ["p", "q"]
    assert duplicate_mask(ex).to_list() == [False, False]
    same = two(sex=["F", "F"], **{name: ["p", "p"]})
    assert quiet_validate(same).height == 1
    assert duplicate_mask(same).to_list() == [False, True]


def test_read_exams_names_the_file_of_a_column_of_the_wrong_dtype(tmp_path) -> None:
    path = tmp_path / "exams.parquet"
    pl.DataFrame(
        {
            "patient_id": ["a"],
            "exam_date": [[date(2020, 1, 1)]],
            "effective_dose_msv": [1.0],
        }
    ).write_parquet(path)
    for check in (True, False):
        with pytest.raises(DataError, match=r"exams\.parquet: column 'exam_date' has dtype List"):
            read_exams(path, validate=check)
