"""Cohort filters: counts in the flow table, immutability, periods, dedupe."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recurct.cohort import Cohort
from recurct.io import read_exams

d = dt.date
FLOW_COLUMNS = [
    "step",
    "rule",
    "patients_in",
    "exams_in",
    "patients_kept",
    "exams_kept",
    "patients_dropped",
    "exams_dropped",
]


def _exams() -> pl.DataFrame:
    """Four patients, nine exams.

    1: ages 17.5 -> 19.5, F, at A then B, exams 2019-01-01, 2019-06-01, 2021-01-01
    2: 40, M, at B, two rows on 2020-01-01 (a duplicate)
    3: first age unknown (70 fourteen months later), sex first unknown then "f", at A
    4: 10, M, at C
    """
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 1, 2, 2, 3, 3, 4, 2],
            "exam_date": [
                d(2019, 1, 1),
                d(2019, 6, 1),
                d(2021, 1, 1),
                d(2020, 1, 1),
                d(2020, 1, 1),
                d(2018, 1, 1),
                d(2019, 3, 1),
                d(2020, 5, 5),
                d(2020, 3, 1),
            ],
            "effective_dose_msv": [10.0, 20.0, 30.0, 5.0, 5.0, 50.0, 60.0, 1.0, 8.0],
            "age_years": [17.5, 18.0, 19.5, 40.0, 40.0, None, 70.0, 10.0, 40.2],
            "sex": ["F", "F", "F", "M", "M", None, "f", "M", "M"],
            "facility": ["A", "A", "B", "B", "B", "A", "A", "C", "B"],
            "indication": ["onc", "onc", "trauma", "onc", "onc", "trauma", "trauma", "onc", "onc"],
        }
    )


def _counts(c: Cohort) -> tuple[int, int]:
    return c.n_patients, c.n_exams


def test_input_step_and_repr() -> None:
    c = Cohort(_exams())
    # exams sorted by patient, then time; same-time rows keep input order
    assert c.exams["patient_id"].to_list() == [1, 1, 1, 2, 2, 2, 3, 3, 4]
    assert c.exams["exam_date"][3:6].to_list() == [d(2020, 1, 1), d(2020, 1, 1), d(2020, 3, 1)]
    assert c.steps.columns == FLOW_COLUMNS
    assert c.flow().row(0) == (0, "input", 4, 9, 4, 9, 0, 0)
    assert repr(c) == "Cohort(4 patients, 9 exams; steps: input)"


def test_adults_keeps_whole_patients_by_age_at_first_exam() -> None:
    c = Cohort(_exams()).adults()
    # patient 1 was 17.5 at the first exam (dropped with all 3 exams, also the adult ones);
    # patient 3's first age is carried back from 70 -> about 68.8; patient 4 is 10
    assert sorted(c.exams["patient_id"].unique().to_list()) == [2, 3]
    assert _counts(c) == (2, 5)
    row = c.flow().row(1, named=True)
    assert row["patients_in"] == 4 and row["exams_in"] == 9
    assert row["patients_dropped"] == 2 and row["exams_dropped"] == 4
    assert Cohort(_exams()).ages(69, 80).n_patients == 0  # 70 - 14 months < 69
    assert Cohort(_exams()).ages(68.5, 69).exams["patient_id"].unique().to_list() == [3]


def test_ages_each_keeps_exams() -> None:
    c = Cohort(_exams()).ages(lo=18, at="each")
    # patient 1 keeps 2 of 3 exams; patient 3 keeps the exam with a known age; 4 dropped
    assert _counts(c) == (3, 6)
    children = Cohort(_exams()).ages(0, 18, at="each")
    assert sorted(children.exams["age_years"].to_list()) == [10.0, 17.5]
    with pytest.raises(ValueError, match="'first' or 'each'"):
        Cohort(_exams()).ages(18, at="last")


def test_sex_uses_first_known_value_case_insensitive() -> None:
    c = Cohort(_exams()).sex("F")
    assert sorted(c.exams["patient_id"].unique().to_list()) == [1, 3]
    assert _counts(Cohort(_exams()).sex("m", "f")) == (4, 9)


def test_exam_level_filters() -> None:
    c = Cohort(_exams())
    assert _counts(c.facilities("A")) == (2, 4)
    assert _counts(c.facilities("B", "C")) == (3, 5)
    assert _counts(c.indication("trauma")) == (2, 3)
    assert _counts(c.period("2019-01-01", "2019-12-31")) == (2, 3)
    assert _counts(c.period(start=d(2020, 1, 1))) == (3, 5)
    assert c.period(end="2020-12-31").study_end == d(2020, 12, 31)
    assert _counts(c.where(pl.col("effective_dose_msv") > 25, "dose > 25 mSv")) == (2, 3)


def test_period_per_facility() -> None:
    c = Cohort(_exams()).period(
        per_facility={"A": ("2019-01-01", "2019-12-31"), "B": (d(2020, 1, 1), d(2021, 12, 31))}
    )
    # A in 2019: exams of 1 (2) and 3 (1); B in 2020-21: 1 (1), 2 (3); C not listed: 4 dropped
    assert _counts(c) == (3, 7)
    assert c.study_end == {"A": d(2019, 12, 31), "B": d(2021, 12, 31)}
    assert c.flow().row(1, named=True)["exams_dropped"] == 2
    with pytest.raises(ValueError, match="not both"):
        Cohort(_exams()).period("2019-01-01", per_facility={"A": ("2019-01-01", "2020-01-01")})
    with pytest.raises(ValueError, match="per_facility must map each facility"):
        Cohort(_exams()).period(per_facility=True)  # type: ignore[arg-type]


def test_min_followup_observed_and_to_study_end() -> None:
    c = Cohort(_exams())
    # observed follow-up: 1: 731 days, 2: 60, 3: 424, 4: 0
    assert sorted(c.min_followup(365).exams["patient_id"].unique().to_list()) == [1, 3]
    assert c.min_followup(0).n_patients == 4
    # to a common study end 2021-12-31: everyone has >= 365 days of potential follow-up
    assert c.min_followup(365, end="2021-12-31").n_patients == 4
    assert c.min_followup(700, end=d(2021, 12, 31)).n_patients == 3  # 4: 2020-05-05 -> 605
    # per facility (the patient's most frequent facility): 1 -> A (2 of 3 exams)
    p = c.period(per_facility={"A": ("2019-01-01", "2019-12-31"), "B": ("2020-01-01", None)})
    ends = {"A": d(2019, 12, 31), "B": d(2021, 12, 31)}
    kept = p.min_followup(365, end=ends)
    # 1: 2019-01-01 -> A's end 2019-12-31 = 364 days (dropped); 2: B, 730; 3: 2019-03-01 -> 305
    assert kept.exams["patient_id"].unique().to_list() == [2]
    assert kept.flow()["rule"][-1].startswith("min_followup")
    with pytest.raises(ValueError, match="lacks facilities"):
        c.min_followup(10, end={"A": d(2022, 1, 1)})


def test_dedupe_without_and_with_study_uid() -> None:
    c = Cohort(_exams()).dedupe()
    assert _counts(c) == (4, 8)
    row = c.flow().row(1, named=True)
    assert row["exams_dropped"] == 1 and row["patients_dropped"] == 0
    # two exams of patient 1 share a study uid (a re-sent report); same-day exams of patient 2
    # have different uids (two real scans) and are both kept
    uid = ["u1", "u1", "u3", "u4", "u5", None, None, "u8", "u9"]
    with_uid = Cohort(_exams().with_columns(study_uid=pl.Series(uid)))
    deduped = with_uid.dedupe()
    assert _counts(deduped) == (4, 8)
    kept_1 = deduped.exams.filter(pl.col("patient_id") == 1)["exam_date"].to_list()
    assert kept_1 == [d(2019, 1, 1), d(2021, 1, 1)]  # the earlier copy kept
    assert deduped.exams.filter(pl.col("patient_id") == 2).height == 3


def test_dedupe_keeps_earliest_copy_and_same_timestamp_only() -> None:
    t = dt.datetime
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a", "a"],
            "exam_date": [
                t(2020, 1, 1, 14),
                t(2020, 1, 1, 9),
                t(2020, 1, 1, 14),
                t(2020, 1, 1, 14),
            ],
            "effective_dose_msv": [1.0, 2.0, 1.0, 3.0],
            "row": [0, 1, 2, 3],  # unknown column: ignored when dates have a time of day
        }
    )
    out = Cohort(ex).dedupe().exams
    # sorted by patient and time: 09:00, then the first of the two identical 14:00 rows; the
    # 14:00 row with another dose is another exam (a copy must repeat every canonical column)
    assert out["row"].to_list() == [1, 0, 3]


def test_dedupe_same_day_real_exams_without_time_or_uid() -> None:
    # date-only export, typical dose per exam type: two head CTs of one patient on one day
    # are two exams when any column tells them apart, one exam when the rows are identical
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a", "b", "b"],
            "exam_date": [d(2020, 1, 1)] * 5,
            "effective_dose_msv": [2.0] * 5,
            "body_region": ["head"] * 5,
            "accession": ["x1", "x2", "x2", "y1", "y1"],
        }
    )
    c = Cohort(ex).dedupe()
    assert c.exams.select("patient_id", "accession").rows() == [
        ("a", "x1"),
        ("a", "x2"),
        ("b", "y1"),
    ]
    assert c.flow()["exams_dropped"][1] == 2
    # without any column to tell them apart, identical same-day rows are counted once
    assert Cohort(ex.drop("accession")).dedupe().n_exams == 2


def test_dedupe_study_uid_whatever_the_time_and_dose() -> None:
    t = dt.datetime
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a", "a"],
            "exam_date": [t(2020, 1, 2, 9), t(2020, 1, 1, 8), t(2020, 1, 1, 8), t(2020, 1, 1, 8)],
            "effective_dose_msv": [5.0, 4.0, 4.0, 4.0],
            "study_uid": ["s1", "s1", None, "s2"],
        }
    )
    out = Cohort(ex).dedupe().exams
    # s1 twice (other time and dose): the earlier kept; the row without a uid and s2 stay
    assert out.select("exam_date", "study_uid").rows() == [
        (t(2020, 1, 1, 8), "s1"),
        (t(2020, 1, 1, 8), None),
        (t(2020, 1, 1, 8), "s2"),
    ]


@pytest.mark.parametrize("with_uid", [False, True])
@pytest.mark.parametrize("with_time", [False, True])
def test_dedupe_and_validate_agree(with_uid: bool, with_time: bool) -> None:
    from recurct.schema import DroppedRowsWarning, duplicate_mask

    ex = _exams().with_columns(
        study_uid=pl.Series(["u1", "u1", "u3", None, None, None, None, "u8", "u9"])
    )
    # more copies: patient 4's exam repeated; patient 3's first exam with another dose
    ex = pl.concat([ex, ex[7:8], ex[5:6].with_columns(effective_dose_msv=pl.lit(51.0))])
    if not with_uid:
        ex = ex.drop("study_uid")
    if with_time:
        ex = ex.with_columns(pl.col("exam_date").cast(pl.Datetime("us")) + pl.duration(hours=9))
    with pytest.warns(DroppedRowsWarning, match="duplicate exam"):
        result = read_exams(ex, strict=False, today="2024-01-01")
    valid, report = result.exams, result.report
    deduped = Cohort(ex).dedupe()
    assert report.n_dropped == deduped.flow()["exams_dropped"][1] == int(duplicate_mask(ex).sum())
    # the same rows, not only the same counts
    # (validate also normalises sex codes, "f" -> "F", so sex is left out)
    assert sorted(valid.drop("sex").rows()) == sorted(deduped.exams.drop("sex").rows())
    # independent count: patients 2 (same day, identical) and 4 (repeated) always; patient 1's
    # re-sent study only with uids; patient 3's other dose is never a copy
    assert report.n_dropped == (3 if with_uid else 2)


def test_chain_immutability_and_flow_counts() -> None:
    base = Cohort(_exams())
    before = base.exams.clone()
    chained = base.dedupe().adults().facilities("B")
    assert base.exams.equals(before)
    assert base.steps.height == 1
    flow = chained.flow()
    assert flow["step"].to_list() == [0, 1, 2, 3]
    # each step starts where the previous one ended
    assert flow["patients_in"][1:].to_list() == flow["patients_kept"][:-1].to_list()
    assert flow["exams_in"][1:].to_list() == flow["exams_kept"][:-1].to_list()
    assert (flow["exams_in"] - flow["exams_kept"]).to_list() == flow["exams_dropped"].to_list()
    # dedupe 9 -> 8; adults: 2 and 3 (2 + 2 exams); B: only patient 2's two exams
    assert flow["exams_kept"].to_list() == [9, 8, 4, 2]
    assert repr(chained) == "Cohort(1 patients, 2 exams; steps: input, dedupe, ages, facilities)"


def test_errors() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        Cohort(_exams().drop("exam_date"))
    with pytest.raises(TypeError, match="Date or Datetime"):
        Cohort(_exams().with_columns(pl.col("exam_date").cast(pl.Utf8)))
    with pytest.raises(ValueError, match="no 'modality' column"):
        Cohort(_exams()).modality("CT")
    with pytest.raises(ValueError, match="no column"):
        Cohort(_exams().drop("facility")).facilities("A")
    mixed = _exams().with_columns(modality=pl.Series(["CT"] * 8 + ["mr"]))
    assert _counts(Cohort(mixed).modality("ct")) == (4, 8)


def test_pandas_input() -> None:
    c = Cohort(_exams().to_pandas()).adults()
    assert isinstance(c.exams, pd.DataFrame)
    assert isinstance(c.steps, pd.DataFrame) and isinstance(c.flow(), pd.DataFrame)
    assert isinstance(c.patients(), pd.DataFrame)
    assert _counts(c) == (2, 5)
    polars_c = Cohort(_exams()).adults()
    assert_frame_equal(pl.from_pandas(c.steps), polars_c.steps)
    assert sorted(c.patients()["patient_id"]) == sorted(polars_c.patients()["patient_id"])


def test_patients_calls_cumulative_dose() -> None:
    pts = Cohort(_exams()).dedupe().patients(thresholds=(50, 100))
    by_id = {r["patient_id"]: r for r in pts.to_dicts()}
    assert set(by_id) == {1, 2, 3, 4}
    # CED written out: 1: 10+20+30; 2: 5+8 (the duplicate dropped); 3: 50+60; 4: 1
    assert by_id[1]["ced_msv"] == pytest.approx(60.0)
    assert by_id[2]["ced_msv"] == pytest.approx(13.0)
    assert by_id[3]["n_exams"] == 2
    assert by_id[3]["reached_50"] and by_id[3]["days_to_50"] == 0
    assert by_id[3]["reached_100"] and by_id[3]["days_to_100"] == 424
    assert by_id[1]["reached_50"] and by_id[1]["days_to_50"] == 731
    assert not by_id[1]["reached_100"] and by_id[1]["days_to_100"] is None


# ------------------------------------------------------------------ parameters and meaning
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.ages(lo=float("nan")), r"Cohort.ages: lo must be a finite number"),
        (lambda c: c.ages(hi=float("inf")), r"Cohort.ages: hi must be a finite number"),
        (lambda c: c.ages(lo=True), r"Cohort.ages: lo must be a number, got True"),
        (lambda c: c.ages(lo=-1), r"in \[0, 130\] years"),
        (lambda c: c.adults(age="18"), r"Cohort.adults: age must be a number"),
        (lambda c: c.min_followup(float("nan")), r"min_followup: days must be a finite"),
        (lambda c: c.min_followup(1.5), r"whole number of days"),
        (lambda c: c.facilities(None), r"facility names must be non-empty text"),
        (lambda c: c.facilities(""), r"facility names must be non-empty text"),
        (lambda c: c.indication(float("nan")), r"indications must be non-empty text"),
        (lambda c: c.sex("Z"), r"unknown sex code 'Z'"),
    ],
)
def test_bad_parameters_are_refused(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call(Cohort(_exams()))


def test_sex_codes_go_through_the_sex_table() -> None:
    c = Cohort(_exams())
    assert c.sex("W").n_patients == c.sex("F").n_patients == c.sex("female").n_patients


def test_nan_age_means_unknown_in_polars_and_pandas() -> None:
    df = _exams().with_columns(pl.col("age_years").fill_null(float("nan")))
    polars_c = Cohort(df).ages(lo=18)
    pandas_c = Cohort(df.to_pandas()).ages(lo=18)
    assert polars_c.steps.equals(pl.from_pandas(pandas_c.steps))
    assert polars_c.exams.equals(Cohort(_exams()).ages(lo=18).exams)


def test_placeholder_uids_are_no_uid_in_dedupe() -> None:
    df = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": [d(2020, 1, 1), d(2020, 6, 1)],
            "study_uid": ["N/A", ""],
        }
    )
    assert Cohort(df).dedupe().n_exams == 2
