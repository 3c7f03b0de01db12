"""lagged_dose, trailing_dose and Cohort: no exam lost without a word, errors that name the
rows, names that cannot clash, the documented lag rounding, the order of coded ids and
Cohort.period's bounds with a time of day.

Expected values are worked out by hand in the comments, never by recurct.
"""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct import Cohort
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.timevarying import lag_days

D = dt.date
T = dt.datetime

EXAMS = pl.DataFrame(
    {
        "patient_id": [1, 1, 2],
        "exam_date": [D(2000, 1, 1), D(2001, 1, 1), D(2000, 6, 1)],
        "effective_dose_msv": [5.0, 7.0, 3.0],
    }
)
SUBJECTS = pl.DataFrame(
    {
        "patient_id": [1, 2],
        "entry": [D(2000, 1, 1)] * 2,
        "exit": [D(2010, 1, 1)] * 2,
        "event": [1, 0],
    }
)
# lag 0, entry 2000-01-01 (day 0), exit 2010-01-01 (day 3653). Patient 1: exams on day 0
# (5 mSv, counted from day 0) and 2001-01-01, day 366 (7 mSv): rows (0, 366] CED 5 and
# (366, 3653] CED 12, event on the last. Patient 2: exam 2000-06-01, day 152: (0, 152] CED 0,
# (152, 3653] CED 3.
WANT = [
    (1, 0, 366, 0, 5.0),
    (1, 366, 3653, 1, 12.0),
    (2, 0, 152, 0, 0.0),
    (2, 152, 3653, 0, 3.0),
]


def lagged(ex: pl.DataFrame = EXAMS, sub: pl.DataFrame = SUBJECTS, **kw) -> pl.DataFrame:
    return recurct.lagged_dose(ex, sub, lags=[0], **kw)  # type: ignore[return-value]


def test_reference_table() -> None:
    assert lagged().rows() == WANT


# ---------------------------------------------------------------- 1. no exam lost silently
def test_null_exam_id_is_refused_naming_the_row() -> None:
    ex = EXAMS.with_columns(pl.Series("patient_id", [1, None, 2]))
    with pytest.raises(DataError, match=r"lagged_dose: column 'patient_id' is null in row 1 "):
        lagged(ex)


def test_exams_of_no_subject_are_counted_in_a_warning() -> None:
    # two exams of patient 9 and one of patient 8 (rows 1, 4, 5) are not among the subjects
    ex = pl.concat(
        [
            EXAMS.head(1),
            pl.DataFrame(
                {"patient_id": [9], "exam_date": [D(2000, 1, 1)], "effective_dose_msv": [50.0]}
            ),
            EXAMS.slice(1),
            pl.DataFrame(
                {
                    "patient_id": [9, 8],
                    "exam_date": [D(2000, 2, 1), D(2000, 3, 1)],
                    "effective_dose_msv": [1.0, 2.0],
                }
            ),
        ]
    )
    with pytest.warns(
        DroppedRowsWarning, match=r"3 exam\(s\) of 2 patient\(s\) \(rows 1, 4, 5 of the exam"
    ) as rec:
        got = lagged(ex)
    assert got.rows() == WANT  # ignored, as before: the result is that of the subjects' exams
    assert rec[0].filename == __file__  # the warning points at the caller


def test_ids_that_match_no_subject_at_all_are_refused() -> None:
    # the same patient written "123" in the exams and "00123" in the subjects: before, one
    # row with CED 0 and no word
    ex = pl.DataFrame(
        {"patient_id": ["123"], "exam_date": [D(2001, 1, 1)], "effective_dose_msv": [50.0]}
    )
    sub = SUBJECTS.head(1).with_columns(pl.lit("00123").alias("patient_id"))
    with pytest.raises(DataError, match=r"no exam matches a subject: 1 exam\(s\) of 1 patient"):
        lagged(ex, sub)


def test_no_exams_at_all_is_no_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = lagged(EXAMS.head(0))
    # every subject one row over his whole follow-up with CED 0
    assert got.rows() == [(1, 0, 3653, 1, 0.0), (2, 0, 3653, 0, 0.0)]


# ---------------------------------------------------------------- 2. errors name the rows
def _with(col: str, values: list) -> pl.DataFrame:
    return SUBJECTS.with_columns(pl.Series(col, values))


@pytest.mark.parametrize(
    "ex, sub, pattern",
    [
        (
            EXAMS.with_columns(pl.Series("exam_date", [D(2000, 1, 1), None, D(2000, 6, 1)])),
            SUBJECTS,
            r"column 'exam_date' is null in row 1 \(0-based\)",
        ),
        (
            EXAMS,
            pl.concat([SUBJECTS, SUBJECTS.head(1)]),
            r"'patient_id' of the subjects table repeats an id in rows 0, 2 \(0-based\)",
        ),
        (
            EXAMS,
            _with("patient_id", [1, None]),
            r"'patient_id' of the subjects table is null in row 1",
        ),
        (
            EXAMS,
            _with("entry", [D(2000, 1, 1), None]),
            r"column 'entry' of the subjects table is null in row 1",
        ),
        (
            EXAMS,
            _with("exit", [None, D(2010, 1, 1)]),
            r"column 'exit' of the subjects table is null in row 0",
        ),
        (
            EXAMS,
            _with("exit", [D(2010, 1, 1), D(1999, 1, 1)]),
            r"'exit' is before 'entry' in row 1 of the subjects table",
        ),
        (
            EXAMS,
            _with("exit", [D(2010, 1, 1), D(2000, 1, 1)]),
            r"'exit' is on the same calendar day as 'entry' in row 1 .*whole days",
        ),
    ],
    ids=[
        "null exam_date",
        "repeated id",
        "null id",
        "null entry",
        "null exit",
        "exit before",
        "same day",
    ],
)
def test_errors_name_the_rows(ex: pl.DataFrame, sub: pl.DataFrame, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        lagged(ex, sub)


def test_rows_are_those_of_the_input_not_of_the_sorted_subjects() -> None:
    # subjects given as 2, 1: patient 1's null exit is on input row 1
    sub = SUBJECTS.reverse().with_columns(pl.Series("exit", [D(2010, 1, 1), None]))
    with pytest.raises(DataError, match=r"'exit' of the subjects table is null in row 1 "):
        lagged(EXAMS, sub)


def test_same_day_datetimes_are_not_called_exit_before_entry() -> None:
    sub = pl.DataFrame(
        {"patient_id": [1], "entry": [T(2000, 1, 1, 8)], "exit": [T(2000, 1, 1, 20)], "event": [1]}
    )
    with pytest.raises(DataError, match="same calendar day") as err:
        lagged(EXAMS.head(1), sub)
    assert "before" not in str(err.value) and "<=" not in str(err.value)


# ---------------------------------------------------------------- 3. covariate names
@pytest.mark.parametrize("cov", ["patient_id", "start", "stop", "event", "ced_lag0"])
def test_covariates_named_like_an_output_column_are_refused(cov: str) -> None:
    sub = SUBJECTS.with_columns(pl.lit(1).alias(cov)) if cov not in SUBJECTS.columns else SUBJECTS
    with pytest.raises(
        ParameterError, match=rf"covariate\(s\) \['{cov}'\] have the name of an output"
    ):
        lagged(EXAMS, sub, covariates=[cov])


def test_a_covariate_given_twice_is_refused() -> None:
    sub = SUBJECTS.with_columns(pl.lit(1).alias("male"))
    with pytest.raises(ParameterError, match=r"covariates names \['male'\] more than once"):
        lagged(EXAMS, sub, covariates=["male", "male"])


HELPER_NAMES = ["_code", "_event", "_e0", "_e1", "_pid", "_day", "_dose", "_row"]


def test_subject_columns_named_like_helpers_are_no_trouble() -> None:
    sub = SUBJECTS.with_columns(pl.lit(40 + i).alias(c) for i, c in enumerate(HELPER_NAMES))
    assert lagged(EXAMS, sub).rows() == WANT  # not covariates: not carried, no clash
    got = lagged(EXAMS, sub, covariates=HELPER_NAMES)
    assert got.columns[5:] == HELPER_NAMES
    assert got.select(HELPER_NAMES).rows() == [tuple(range(40, 48))] * 4  # as given
    assert got.select(got.columns[:5]).rows() == WANT


# ---------------------------------------------------------------- 4. trailing_dose names
TRAIL = pl.DataFrame(
    {
        "patient_id": [1, 1],
        "exam_date": [D(2020, 1, 1), D(2020, 2, 1)],
        "effective_dose_msv": [60.0, 50.0],
    }
)


@pytest.mark.parametrize(
    "col", ["trailing_ced_90", "reached_100_in_90", "threshold", "window_days", "alert_date"]
)
def test_trailing_dose_refuses_columns_it_would_overwrite(col: str) -> None:
    ex = TRAIL.with_columns(pl.lit(-1.0).alias(col))
    with pytest.raises(ParameterError, match=rf"\['{col}'\] have the name of an output column"):
        recurct.trailing_dose(ex, thresholds=[100], window_days=[90])
    with pytest.raises(ParameterError, match=col):  # pandas alike
        recurct.trailing_dose(ex.to_pandas(), thresholds=[100], window_days=[90])


def test_trailing_dose_keeps_columns_of_other_windows() -> None:
    ex = TRAIL.with_columns(pl.lit(-1.0).alias("trailing_ced_30"))
    got = recurct.trailing_dose(ex, thresholds=[100], window_days=[90])
    assert got.exams["trailing_ced_30"].to_list() == [-1.0, -1.0]
    # 60 on 2020-01-01, then 60 + 50 = 110 within 90 days on 2020-02-01
    assert got.exams["trailing_ced_90"].to_list() == [60.0, 110.0]


# ---------------------------------------------------------------- 5. lag rounding, documented
def test_lag_days_rounds_half_days_to_even() -> None:
    # 2 y = 730.5 d, 6 y = 2191.5, 10 y = 3652.5, 14 y = 5113.5: to the even day;
    # 5 y = 1826.25 -> 1826
    assert lag_days([2, 5, 6, 10, 14]) == [730, 1826, 2192, 3652, 5114]
    for fn in (lag_days, recurct.lagged_dose):
        assert "half to even" in " ".join((fn.__doc__ or "").split())
    for y, days in ((2, 730), (6, 2192)):
        assert f"{y} years" in " ".join((lag_days.__doc__ or "").split())
        assert str(days) in (lag_days.__doc__ or "")


@pytest.mark.parametrize("years, days", [(2, 730), (6, 2192), (10, 3652), (14, 5114)])
def test_lagged_dose_cuts_at_the_documented_day(years: int, days: int) -> None:
    # one exam on the entry day: the lagged CED changes at day 0 + lag
    sub = SUBJECTS.head(1).with_columns(pl.lit(D(2020, 1, 1)).alias("exit"))
    got = recurct.lagged_dose(EXAMS.head(1), sub, lags=[years])
    assert got["stop"].to_list()[0] == days
    assert got[f"ced_lag{years}"].to_list() == [0.0, 5.0]


def test_epidemiology_page_states_the_rule() -> None:
    from pathlib import Path

    text = " ".join((Path(__file__).parents[1] / "docs" / "epidemiology.md").read_text().split())
    assert "half to even" in text
    for s in ("730.5 days) are 730", "(2191.5) 2192", "(3652.5) 3652", "(5113.5) 5114"):
        assert s in text


# ---------------------------------------------------------------- 6. Cohort order of coded ids
@pytest.mark.parametrize("dtype", [pl.Enum(["b", "a"]), pl.Categorical()])
def test_cohort_orders_coded_ids_by_text(dtype: pl.DataType) -> None:
    en = pl.DataFrame(
        {
            "patient_id": pl.Series(["b", "a", "b"]).cast(dtype),
            "exam_date": [D(2020, 1, 2), D(2020, 1, 1), D(2020, 1, 1)],
            "effective_dose_msv": [1.0, 2.0, 3.0],
            "age_years": [30.0, 10.0, 31.0],
        }
    )
    c = Cohort(en)
    assert c.exams["patient_id"].cast(pl.String).to_list() == ["a", "b", "b"]
    assert c.exams["exam_date"].to_list() == [D(2020, 1, 1), D(2020, 1, 1), D(2020, 1, 2)]
    assert c.exams["patient_id"].dtype == en["patient_id"].dtype  # the column keeps its type
    run = recurct.running_dose(en)
    assert (
        c.exams.select("patient_id", "exam_date").rows()
        == run.select("patient_id", "exam_date").rows()
    )
    # patient-level rules still read each patient's first exam: b's is 2020-01-01 (31 y)
    assert c.ages(lo=31).exams["patient_id"].cast(pl.String).to_list() == ["b", "b"]
    pd_exams = Cohort(en.to_pandas()).exams
    assert list(pd_exams["patient_id"].astype(str)) == ["a", "b", "b"]
    assert list(pd_exams.index) == [1, 2, 0]  # the input's labels move with the rows


# ---------------------------------------------------------------- 7. Cohort.period bounds
TIMED = pl.DataFrame(
    {
        "patient_id": [1, 1, 1],
        "exam_date": [T(2019, 12, 31, 23), T(2020, 1, 1, 8), T(2020, 1, 1, 13)],
        "effective_dose_msv": [1.0, 1.0, 1.0],
        "facility": ["A"] * 3,
    }
)


@pytest.mark.parametrize(
    "bound",
    [
        T(2020, 1, 1, 12),
        "2020-01-01 12:00",
        "2020-01-01T12:00:30",
        pd.Timestamp("2020-01-01 12:00"),
    ],
)
def test_cohort_period_reads_a_bound_with_a_time_as_its_calendar_day(bound: object) -> None:
    # start: both exams of 2020-01-01 (08:00 and 13:00) are kept, whatever the time
    assert Cohort(TIMED).period(bound).n_exams == 2
    # end: every exam of 2020-01-01 kept, the study end is that day
    c = Cohort(TIMED).period(end=bound)
    assert c.n_exams == 3 and c.study_end == D(2020, 1, 1)
    c = Cohort(TIMED).period(per_facility={"A": (bound, bound)})
    assert c.n_exams == 2 and c.study_end == {"A": D(2020, 1, 1)}


def test_cohort_period_still_refuses_text_that_is_no_date() -> None:
    with pytest.raises(ParameterError, match=r"period\(start\)='last week' is not a date"):
        Cohort(TIMED).period("last week")
    with pytest.raises(ParameterError, match=r"Cohort\.period: end='2020-13-01 12:00'"):
        Cohort(TIMED).period(end="2020-13-01 12:00")


def test_cohort_period_documents_whole_days() -> None:
    doc = " ".join((Cohort.period.__doc__ or "").split())
    assert "whole calendar days" in doc and '"2020-01-01 12:00"' in doc and "period_dose" in doc
