"""Edge cases of Cohort, period_dose, lagged_dose, survey_table and site_table.

Expected values are computed by hand (the comments show the arithmetic), never by recurct.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import recurct
from recurct import Cohort
from recurct.errors import DataError, ParameterError, RecurctError, UnmappedValuesWarning
from recurct.stats import site_table
from recurct.survey import survey_table

d = dt.date

EXAMS = pl.DataFrame(
    {
        "patient_id": ["A", "A", "B"],
        "exam_date": [d(2020, 3, 1), d(2021, 5, 1), d(2020, 7, 1)],
        "effective_dose_msv": [10.0, 20.0, 5.0],
        "risk": [1.0, 2.0, 0.5],
    }
)
SUBJECTS = pl.DataFrame(
    {
        "patient_id": ["A", "B"],
        "entry": [d(2019, 1, 1)] * 2,
        "exit": [d(2023, 1, 1)] * 2,
        "event": [0, 1],
    }
)
Y2020 = (d(2020, 1, 1), d(2020, 12, 31))
Y2021 = (d(2021, 1, 1), d(2021, 12, 31))


# ---------------------------------------------------------------- period_dose: repeated periods
def test_period_equal_to_an_every_period_counts_its_exams_once() -> None:
    got = recurct.period_dose(EXAMS, every="1y", periods=[Y2020], sums=["risk"])
    # A: 2020 holds the 2020-03-01 exam (10 mSv, risk 1), 2021 the 2021-05-01 one (20, 2);
    # B: 2020 holds 2020-07-01 (5 mSv, risk 0.5). Each exam once, though 2020 is named twice.
    assert got.rows() == [
        ("A", *Y2020, 1, 10.0, 1.0),
        ("A", *Y2021, 1, 20.0, 2.0),
        ("B", *Y2020, 1, 5.0, 0.5),
    ]


def test_period_given_twice_is_one_period() -> None:
    got = recurct.period_dose(EXAMS, periods=[("2020-01-01", "2020-12-31")] * 2)
    assert got.rows() == [("A", *Y2020, 1, 10.0), ("B", *Y2020, 1, 5.0)]


def test_overlapping_periods_each_count_their_exams_once() -> None:
    p2 = (d(2020, 6, 1), d(2021, 6, 30))
    got = recurct.period_dose(EXAMS, periods=[Y2020, p2, Y2020])
    # A: Y2020 has 2020-03-01 (10); p2 has 2021-05-01 (20). B: 2020-07-01 (5) is in both.
    assert got.rows() == [
        ("A", *Y2020, 1, 10.0),
        ("A", *p2, 1, 20.0),
        ("B", *Y2020, 1, 5.0),
        ("B", *p2, 1, 5.0),
    ]


def test_identical_exams_still_count_twice_in_a_repeated_period() -> None:
    ex = pl.DataFrame(
        {"patient_id": [1, 1], "exam_date": [d(2020, 5, 5)] * 2, "effective_dose_msv": [2.0] * 2}
    )
    got = recurct.period_dose(ex, every="1y", periods=[Y2020, Y2020])
    assert got.rows() == [(1, *Y2020, 2, 4.0)]  # two exams of 2 mSv, not four


# ---------------------------------------------------------------- lagged_dose: doses and events
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_lagged_dose_refuses_nan_and_infinite_doses(bad: float) -> None:
    ex = EXAMS.with_columns(pl.Series("effective_dose_msv", [1.0, bad, 2.0]))
    with pytest.raises(DataError, match=r"effective_dose_msv.*row 1"):
        recurct.lagged_dose(ex, SUBJECTS, lags=[0])


@pytest.mark.parametrize("flag", [0.5, 1.5, 2])
def test_lagged_dose_refuses_event_flags_other_than_0_1(flag: float) -> None:
    sub = SUBJECTS.with_columns(pl.Series("event", [1.0, flag]))
    with pytest.raises(DataError, match=r"'event'.*row 1"):
        recurct.lagged_dose(EXAMS, sub, lags=[0])


def test_lagged_dose_accepts_whole_float_event_flags() -> None:
    sub = SUBJECTS.with_columns(pl.Series("event", [1.0, 0.0]))
    got = recurct.lagged_dose(EXAMS, sub, lags=[0])
    # A: exams on days 2020-03-01 and 2021-05-01 cut follow-up into 3 rows, event on the last
    assert got.filter(pl.col("patient_id") == "A")["event"].to_list() == [0, 0, 1]
    assert got.filter(pl.col("patient_id") == "B")["event"].to_list() == [0, 0]


def test_lagged_dose_patient_id_types_must_agree() -> None:
    sub = SUBJECTS.with_columns(pl.Series("patient_id", [1, 2]))
    with pytest.raises(ParameterError, match="patient_id"):
        recurct.lagged_dose(EXAMS, sub)


def test_lagged_dose_text_event_is_refused() -> None:
    sub = SUBJECTS.with_columns(pl.lit("yes").alias("event"))
    with pytest.raises(ParameterError, match="'event'"):
        recurct.lagged_dose(EXAMS, sub)


@pytest.mark.parametrize("col", ["entry", "exit"])
def test_lagged_dose_text_dates_are_refused(col: str) -> None:
    sub = SUBJECTS.with_columns(pl.col(col).cast(pl.Utf8))
    with pytest.raises(ParameterError, match=f"'{col}'.*str.to_date"):
        recurct.lagged_dose(EXAMS, sub)


def test_lagged_dose_text_exam_date_is_refused() -> None:
    ex = EXAMS.with_columns(pl.col("exam_date").cast(pl.Utf8))
    with pytest.raises(ParameterError, match="exam_date"):
        recurct.lagged_dose(ex, SUBJECTS)


@pytest.mark.parametrize("lags", [[True], True, ["5"], "5", [0, float("nan")]])
def test_lagged_dose_lags_must_be_numbers(lags: object) -> None:
    with pytest.raises(ParameterError, match="lags"):
        recurct.lagged_dose(EXAMS, SUBJECTS, lags=lags)  # type: ignore[arg-type]


# ---------------------------------------------------------------- survey_table, site_table counts
def test_survey_table_refuses_fractional_counts() -> None:
    answers = pl.DataFrame({"question": ["Q", "Q"], "answer": ["y", "n"], "count": [2.5, 1.7]})
    with pytest.raises(DataError, match=r"count.*rows? \[?0"):
        survey_table(answers)


def test_survey_table_accepts_whole_float_counts() -> None:
    answers = pl.DataFrame({"question": ["Q", "Q"], "answer": ["y", "n"], "count": [3.0, 1.0]})
    got = survey_table(answers)
    assert got["count"].to_list() == [3, 1]
    assert got["share"].to_list() == [0.75, 0.25]  # 3 / 4 and 1 / 4


def test_survey_table_refuses_text_counts() -> None:
    answers = pl.DataFrame({"question": ["Q"], "answer": ["y"], "count": ["many"]})
    with pytest.raises(RecurctError, match="count"):
        survey_table(answers)


@pytest.mark.parametrize(
    ("n_patients", "n_reached"), [([10.7, 20.0], [1.0, 2.0]), ([10.0, 20.0], [1.9, 2.0])]
)
def test_site_table_refuses_fractional_aggregates(n_patients: list, n_reached: list) -> None:
    agg = pl.DataFrame({"site": ["A", "B"], "n_patients": n_patients, "n_reached": n_reached})
    with pytest.raises(DataError, match="whole"):
        site_table(agg)


def test_site_table_accepts_whole_float_aggregates() -> None:
    agg = pl.DataFrame({"site": ["A", "B"], "n_patients": [10.0, 20.0], "n_reached": [1.0, 2.0]})
    got = site_table(agg)
    assert got.sites.select("n_patients", "n_reached").rows() == [(10, 1), (20, 2)]
    assert got.summary["share"][0] == 3 / 30


def test_site_table_refuses_a_null_site_in_aggregates() -> None:
    agg = pl.DataFrame({"site": ["A", None], "n_patients": [10, 20], "n_reached": [1, 2]})
    with pytest.raises(DataError, match="null"):
        site_table(agg)


# ---------------------------------------------------------------- Cohort.period keeps the end
def test_period_start_only_keeps_the_end_set_before() -> None:
    c = Cohort(EXAMS).period(end="2021-12-31").period(start="2020-01-01")
    assert c.study_end == d(2021, 12, 31)


def test_period_later_end_keeps_the_earlier_one() -> None:
    c = Cohort(EXAMS).period(end="2021-12-31")
    assert c.period(end="2022-06-30").study_end == d(2021, 12, 31)  # exams after 2021 are gone
    assert c.period(end="2021-01-31").study_end == d(2021, 1, 31)


def test_period_start_only_keeps_per_facility_ends() -> None:
    ex = EXAMS.with_columns(pl.Series("facility", ["x", "x", "y"]))
    c = Cohort(ex).period(per_facility={"x": ("2019-01-01", "2021-12-31"), "y": (None, None)})
    assert c.study_end == {"x": d(2021, 12, 31)}
    assert c.period(start="2020-01-01").study_end == {"x": d(2021, 12, 31)}


# ---------------------------------------------------------------- Cohort: local wall-clock order
def _dst_exams() -> pl.DataFrame:
    # Europe/Berlin, 2021-10-31: 00:30 UTC is 02:30 CEST, 01:10 UTC is 02:10 CET (local order:
    # the second instant comes first)
    return pl.DataFrame(
        {
            "patient_id": ["A", "A"],
            "exam_date": [dt.datetime(2021, 10, 31, 0, 30), dt.datetime(2021, 10, 31, 1, 10)],
            "effective_dose_msv": [1.0, 2.0],
            "sex": ["F", "M"],
            "age_years": [40.0, 17.0],
        }
    ).with_columns(
        pl.col("exam_date").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Berlin")
    )


def test_cohort_orders_time_zone_aware_exams_by_local_time() -> None:
    c = Cohort(_dst_exams())
    assert c.exams["effective_dose_msv"].to_list() == [2.0, 1.0]  # 02:10 before 02:30


def test_cohort_sex_and_patients_agree_on_local_first_exam() -> None:
    c = Cohort(_dst_exams())
    assert c.sex("F").n_patients == 0  # the first exam in local time says M
    males = c.sex("M")
    assert males.n_patients == 1
    assert males.patients()["sex"].to_list() == ["M"]


def test_cohort_age_at_first_exam_uses_local_order() -> None:
    c = Cohort(_dst_exams())
    assert c.adults().n_patients == 0  # 17 years at 02:10 CET, the first local exam
    assert c.ages(hi=18).n_patients == 1


# ---------------------------------------------------------------- Cohort.sex: uncoded data
def test_cohort_sex_warns_about_values_that_are_not_codes() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "exam_date": [d(2020, 1, 1)] * 4,
            "effective_dose_msv": [1.0] * 4,
            "sex": ["female", "W", " F", "F"],
        }
    )
    with pytest.warns(UnmappedValuesWarning, match=r"3 patient.*recurct\.validate"):
        c = Cohort(ex).sex("F")
    assert c.n_patients == 1


def test_cohort_sex_is_silent_on_codes() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": [1, 2, 3],
            "exam_date": [d(2020, 1, 1)] * 3,
            "effective_dose_msv": [1.0] * 3,
            "sex": ["F", "m", None],
        }
    )
    assert Cohort(ex).sex("F", "M").n_patients == 2  # 'm' is taken as M, as before


def test_period_end_after_per_facility_narrows_each_facility() -> None:
    ex = EXAMS.with_columns(pl.Series("facility", ["x", "x", "y"]))
    c = Cohort(ex).period(per_facility={"x": (None, "2021-12-31"), "y": (None, None)})
    # x: min(2021-12-31, 2021-06-30); y had an open end and now ends on 2021-06-30
    assert c.period(end="2021-06-30").study_end == {"x": d(2021, 6, 30), "y": d(2021, 6, 30)}


def test_per_facility_after_a_common_end_keeps_the_earlier() -> None:
    ex = EXAMS.with_columns(pl.Series("facility", ["x", "x", "y"]))
    c = Cohort(ex).period(end="2021-06-30")
    c = c.period(per_facility={"x": ("2019-01-01", "2021-12-31"), "y": ("2020-01-01", None)})
    assert c.study_end == {"x": d(2021, 6, 30), "y": d(2021, 6, 30)}
    c2 = c.period(per_facility={"x": (None, "2021-03-31"), "y": (None, None)})
    assert c2.study_end == {"x": d(2021, 3, 31), "y": d(2021, 6, 30)}
