"""The index rule: a pandas result holding rows of the user's exam table keeps their labels.

As ``df.dropna()`` and ``df.sort_values()`` do: rows kept keep their index label, rows moved
take it along, so the rows dropped can be seen and the result joined back. Polars results
are unchanged (they have no index).
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct
from recurct.errors import DroppedRowsWarning

TODAY = "2024-01-01"


def _exams(index: list | pd.Index | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["b", "a", "b", "c"],
            "exam_date": pd.to_datetime(["2021-01-01", "2020-01-01", "2020-01-01", "2019-05-05"]),
            "effective_dose_msv": [1.0, 2.0, 3.0, 4.0],
            "facility": ["x", "y", "x", "y"],
            "modality": ["CT", "CT", "MR", "CT"],
        },
        index=[10, 20, 30, 40] if index is None else index,
    )


def test_validate_keeps_the_labels_of_the_rows_kept() -> None:
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "exam_date": ["2020-01-01"] * 3,
            "effective_dose_msv": [1.0, -2.0, 3.0],
        },
        index=[10, 20, 30],
    )
    with pytest.warns(DroppedRowsWarning):
        out = recurct.validate(df, strict=False, today=TODAY)
    assert out.index.tolist() == [10, 30]  # was [0, 1]: row 20 could not be told apart
    assert out["effective_dose_msv"].tolist() == [1.0, 3.0]
    # nothing dropped: the input's index itself
    same = recurct.validate(df.drop(index=20), today=TODAY)
    assert same.index.tolist() == [10, 30]


def test_read_exams_of_a_pandas_frame_keeps_the_labels() -> None:
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "exam_date": ["2020-01-01"] * 3,
            "effective_dose_msv": [1.0, -2.0, 3.0],
        },
        index=pd.Index(["r1", "r2", "r3"], name="record"),
    )
    with pytest.warns(DroppedRowsWarning):
        read = recurct.read_exams(df, strict=False, today=TODAY)
    assert read.exams.index.tolist() == ["r1", "r3"]
    assert read.exams.index.name == "record"
    unchecked = recurct.read_exams(df, validate=False).exams
    assert unchecked.index.tolist() == ["r1", "r2", "r3"]
    # the result itself is an exam table: validated again, it keeps the labels it has
    again = recurct.validate(read, today=TODAY)  # (was a ParameterError on a ReadResult)
    assert again.index.tolist() == ["r1", "r3"]


def test_running_dose_moves_the_labels_with_the_rows() -> None:
    df = _exams()
    out = recurct.running_dose(df)
    assert out.index.tolist() == [20, 30, 10, 40]  # sorted by patient, then time
    # each row is the input row of its label, so the new columns join back
    pd.testing.assert_frame_equal(out[df.columns], df.loc[out.index], check_dtype=False)
    joined = df.join(out["running_ced_msv"])
    assert joined["running_ced_msv"].tolist() == [4.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("ids", [["b", "a", "b", "c"], [2, 1, 2, 3], "category"])
def test_prepare_exams_moves_the_labels_with_the_rows(ids: object) -> None:
    df = _exams()
    if ids == "category":
        df["patient_id"] = df["patient_id"].astype("category")
    else:
        df["patient_id"] = ids
    out = recurct.prepare_exams(df)
    assert out.index.tolist() == [20, 30, 10, 40]
    assert out["effective_dose_msv"].tolist() == df.loc[out.index, "effective_dose_msv"].tolist()
    # and the later calls on the prepared table keep those labels
    assert recurct.running_dose(out).index.tolist() == [20, 30, 10, 40]


def test_cohort_exams_keep_the_labels_through_sort_and_filters() -> None:
    df = _exams(pd.Index([10, 20, 30, 40], name="row"))
    cohort = recurct.Cohort(df)
    assert cohort.exams.index.tolist() == [20, 30, 10, 40]
    assert cohort.exams.index.name == "row"
    assert cohort.facilities("x").exams.index.tolist() == [30, 10]
    assert cohort.period("2020-01-01").modality().exams.index.tolist() == [20, 10]
    assert cohort.where(pl.lit(True)).exams.index.tolist() == [20, 30, 10, 40]
    assert cohort.where(pl.col("effective_dose_msv") > 2.5).exams.index.tolist() == [30, 40]
    twice = pd.concat([df, df.iloc[[0]].set_axis([50])])
    assert recurct.Cohort(twice).dedupe().exams.index.tolist() == [20, 30, 10, 40]
    # patient-level rules keep whole patients, with their labels
    aged = df.assign(age_years=[40.0, 10.0, 40.0, 70.0])
    assert recurct.Cohort(aged).adults().exams.index.tolist() == [30, 10, 40]


def test_dose_functions_keep_the_index() -> None:
    df = pd.DataFrame(
        {"dlp_mgycm": [500.0, 1000.0], "body_region": ["chest", "head"]}, index=[7, 3]
    )
    assert recurct.effective_dose(df).index.tolist() == [7, 3]
    flags = recurct.flag_above_drl(df.assign(exam_type=["chest", "head"]), drl="arpansa_adult")
    assert flags.index.tolist() == [7, 3]


def test_a_multiindex_is_kept() -> None:
    index = pd.MultiIndex.from_tuples([("s", 1), ("s", 2), ("t", 1), ("t", 2)])
    out = recurct.running_dose(_exams(index))
    assert out.index.tolist() == [("s", 2), ("t", 1), ("s", 1), ("t", 2)]


def test_polars_results_are_unchanged() -> None:
    df = _exams()
    polars_in = pl.from_pandas(df)
    for fn in (recurct.running_dose, recurct.prepare_exams):
        got = fn(polars_in)
        assert isinstance(got, pl.DataFrame)
        pd.testing.assert_frame_equal(
            got.to_pandas().astype({"patient_id": str}),
            fn(df).reset_index(drop=True).astype({"patient_id": str}),
            check_dtype=False,
        )


_DAY = dt.date(2020, 1, 1)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 30), st.sampled_from([1.0, 2.5, -1.0])),
        min_size=0,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_labels_follow_rows_on_random_tables(rows: list, rnd: object) -> None:
    labels = list(range(100, 100 + 3 * len(rows), 3))
    rnd.shuffle(labels)  # type: ignore[attr-defined]
    df = pd.DataFrame(
        {
            "patient_id": [f"p{p}" for p, _, _ in rows],
            "exam_date": pd.to_datetime([_DAY + dt.timedelta(days=d) for _, d, _ in rows]),
            "effective_dose_msv": [x for _, _, x in rows],
            "row": np.arange(len(rows)),
        },
        index=pd.Index(labels, dtype="int64"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = recurct.validate(df, strict=False, today=TODAY)
    # the labels of the rows kept, in input order; each row its own label's
    want = [lab for lab, (_, _, x) in zip(labels, rows) if x >= 0]
    assert out.index.tolist() == want
    assert out["row"].tolist() == df.loc[want, "row"].tolist()
    if out.empty:
        return
    run = recurct.running_dose(out)
    assert sorted(run.index.tolist()) == sorted(want)
    assert run["row"].tolist() == df.loc[run.index, "row"].tolist()
    cohort = recurct.Cohort(out).period(_DAY + dt.timedelta(days=10))
    assert cohort.exams["row"].tolist() == df.loc[cohort.exams.index, "row"].tolist()


def test_trailing_dose_exams_and_alerts_keep_the_input_labels() -> None:
    df = pd.DataFrame(
        {
            "patient_id": ["b", "a", "b", "b"],
            "exam_date": pd.to_datetime(["2020-01-05", "2020-01-01", "2020-01-01", "2020-01-03"]),
            "effective_dose_msv": [60.0, 1.0, 50.0, 10.0],
        },
        index=["w", "x", "y", "z"],
    )
    got = recurct.trailing_dose(df, (20, 100), window_days=30)
    assert got.exams.index.tolist() == ["x", "y", "z", "w"]  # patient/time order
    # every label names the same exam as in the input
    assert (got.exams["effective_dose_msv"] == df.loc[got.exams.index, "effective_dose_msv"]).all()
    assert got.alerts.index.tolist() == ["y", "y", "z", "w"]  # T = 20: y alone; T = 100: all
    assert (
        got.alerts["effective_dose_msv"] == df.loc[got.alerts.index, "effective_dose_msv"]
    ).all()
    assert isinstance(got.patients.index, pd.RangeIndex)  # patients are not input rows
