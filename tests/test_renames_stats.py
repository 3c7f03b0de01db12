"""recurct 0.2 names of recurct.stats, plot, survey and distributed (issue 19).

Every renamed or removed keyword raises a TypeError naming its replacement; the one threshold
checker and the one ``end`` checker behave the same in every function; the curve and
regression functions return frozen result objects that keep their settings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from recurct import _checks, plot, stats
from recurct.errors import ParameterError
from recurct.survey import eurosafe2021, survey_table

D0 = dt.date(2015, 1, 1)


def _patients() -> pl.DataFrame:
    """Eight patients, two facilities, T = 100 reached by four."""
    days_to = [100, None, 400, None, 30, 900, None, 200]
    span = [500, 600, 700, 800, 300, 1000, 50, 250]
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(8)],
            "facility": ["A", "A", "B", "B", "A", "B", "A", "B"],
            "sex": ["F", "M", "F", "M", "F", "M", "F", "M"],
            "age_first_exam": [30.0, 45.0, 60.0, 70.0, 20.0, 55.0, 35.0, 80.0],
            "n_exams": [3, 2, 5, 1, 4, 6, 1, 3],
            "ced_msv": [150.0, 40.0, 120.0, 10.0, 300.0, 110.0, 5.0, 105.0],
            "days_to_100": days_to,
            "reached_100": [d is not None for d in days_to],
            "span": span,
        }
    ).with_columns(
        first_exam=pl.lit(D0),
        last_exam=pl.lit(D0) + pl.duration(days=pl.col("span")),
    )


P = _patients()
AGG = pl.DataFrame({"site": ["a", "b", "c"], "n_patients": [100, 200, 50], "n_reached": [4, 9, 1]})

# (call with the OLD keyword, the new name the error must give)
OLD_KEYWORDS = [
    (lambda: stats.magnitude(P, threshold=100), "'thresholds'"),
    (lambda: stats.site_table(P, 100, by="facility"), "'site'"),
    (lambda: stats.meta_proportion(AGG, method="fixed"), "'model'"),
    (lambda: stats.meta_proportion(P, by="facility"), "'site'"),
    (lambda: stats.proportion_ci(1, 10, method="wilson"), "'ci'"),
    (lambda: stats.time_to_threshold(P, ci_transform="plain"), "'ci'"),
    (lambda: stats.time_to_threshold(P, at=[1]), ".at(years)"),
    (lambda: stats.cumulative_incidence(P, at=[1]), ".at(years)"),
    (lambda: stats.dose_bands(P, bands=(0, 100, np.inf)), "'edges'"),
    (lambda: stats.risk_factors(P, age_bands=(0, 50, np.inf)), "'age_edges'"),
    (lambda: stats.risk_factors(P, return_model=True), "risk_factors(...).model"),
    (lambda: stats.exam_rate(P, age_bands=(0, 50, np.inf)), "'age_edges'"),
    (lambda: stats.exam_rate(P, return_model=True), "exam_rate(...).model"),
    (lambda: stats.incidence_rate(P, window=30), "'window_days'"),
    (lambda: survey_table(eurosafe2021(), decimals=1), "'digits'"),
    (lambda: plot.forest(AGG, method="fixed"), "'model'"),
    (lambda: plot.time_to_threshold_curve(km_table=None), "'result'"),
]


@pytest.mark.parametrize("call, new", OLD_KEYWORDS)
def test_old_keyword_raises_type_error_naming_the_new_one(call, new) -> None:
    with pytest.raises(TypeError, match=r"recurct 0\.2") as err:
        call()
    assert new in str(err.value)


def test_distributed_magnitude_threshold_renamed() -> None:
    from recurct import distributed

    with pytest.raises(TypeError, match="'thresholds'"):
        distributed.magnitude(None, threshold=100)


# ------------------------------------------------------------------ one threshold checker
@pytest.mark.parametrize(
    "call",
    [
        lambda t: stats.magnitude(P, t),
        lambda t: stats.time_to_threshold(P, t),
        lambda t: stats.cumulative_incidence(P, t),
        lambda t: stats.site_table(P, t),
        lambda t: stats.standardise(P, t),
        lambda t: stats.incidence_rate(P, t),
    ],
)
def test_text_threshold_is_refused_everywhere(call) -> None:
    with pytest.raises(ParameterError, match="'100'"):
        call("100")


def test_repeated_thresholds_are_refused_not_doubled() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        stats.magnitude(P, [100, 100])
    with pytest.raises(ParameterError, match="distinct"):
        stats.magnitude(P, [100, 100.0])
    two = stats.magnitude(P, [100, 50])
    assert two["threshold"].to_list() == [100.0, 50.0]  # in the order given
    with pytest.raises(ParameterError, match="once per threshold"):
        stats.time_to_threshold(P, [100, 200])


def test_one_threshold_checker_module() -> None:
    assert _checks.threshold(np.float32(0.1), "f") == 0.1
    with pytest.raises(ParameterError):
        _checks.threshold(True, "f")
    with pytest.raises(ParameterError, match="at least one"):
        _checks.some_thresholds([], "f")


# ------------------------------------------------------------------ one end checker
def test_end_as_iso_string_is_a_date() -> None:
    a = stats.time_to_threshold(P, end="2017-01-01").at([1, 1.9])
    b = stats.time_to_threshold(P, end=dt.date(2017, 1, 1)).at([1, 1.9])
    assert a.equals(b)
    assert stats.observation_end(P, "2021-01-01").to_list() == [dt.date(2021, 1, 1)] * P.height
    c = stats.cumulative_incidence(P, end="2017-01-01").curve
    assert c.equals(stats.cumulative_incidence(P, end=dt.date(2017, 1, 1)).curve)
    r1 = stats.incidence_rate(P, end="2018-01-01")
    assert r1.equals(stats.incidence_rate(P, end=dt.date(2018, 1, 1)))
    m1 = stats.exam_rate(P, "n_repeat ~ 1", end="2018-01-01").table
    m2 = stats.exam_rate(P, "n_repeat ~ 1", end=dt.date(2018, 1, 1)).table
    assert m1.equals(m2)


def test_end_mapping_of_iso_strings_and_column_wins() -> None:
    ends = {"A": "2016-06-01", "B": "2018-01-01"}
    got = stats.time_to_threshold(P, end=ends).curve
    want = stats.time_to_threshold(
        P, end={"A": dt.date(2016, 6, 1), "B": dt.date(2018, 1, 1)}
    ).curve
    assert got.equals(want)
    # a column named like a date is the column (a column wins over the date reading)
    q = P.with_columns(pl.col("last_exam").alias("2017-01-01"))
    col = stats.time_to_threshold(q, end="2017-01-01").curve
    assert col.equals(stats.time_to_threshold(P, end="last_exam").curve)


def test_end_neither_column_nor_date_names_both_readings() -> None:
    with pytest.raises(ParameterError, match=r"neither a column of the table .* nor an ISO date"):
        stats.time_to_threshold(P, end="study_end")
    with pytest.raises(ParameterError, match="neither"):
        stats.observation_end(P, "2021-13-01")
    with pytest.raises(ParameterError, match="end must be"):
        stats.time_to_threshold(P, end=3)


def test_entry_as_iso_string_and_cohort_end() -> None:
    a = stats.time_to_threshold(P, entry="2015-03-01").curve
    assert a.equals(stats.time_to_threshold(P, entry=dt.date(2015, 3, 1)).curve)
    b = stats.incidence_rate(P, entry="2015-03-01")
    assert b.equals(stats.incidence_rate(P, entry=dt.date(2015, 3, 1)))
    from recurct import Cohort

    exams = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [
                dt.datetime(2020, 1, 1),
                dt.datetime(2020, 6, 1),
                dt.datetime(2020, 11, 1),
            ],
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    c = Cohort(exams)
    s = c.min_followup(100, end="2021-01-01").patients()
    assert sorted(s["patient_id"].to_list()) == ["a"]
    with pytest.raises(ParameterError, match="ISO date"):
        c.min_followup(100, end="sometime")
    assert c.period(end="2020-07-01").study_end == dt.date(2020, 7, 1)


# ------------------------------------------------------------------ result objects
def test_time_to_threshold_result_keeps_settings_and_does_not_mutate() -> None:
    res = stats.time_to_threshold(P, 100, "sex", end="2018-01-01", ci="plain", alpha=0.1)
    assert isinstance(res, stats.TimeToThreshold)
    assert (res.threshold, res.by, res.end, res.ci, res.alpha) == (
        100.0,
        ("sex",),
        "2018-01-01",
        "plain",
        0.1,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.threshold = 50  # type: ignore[misc]
    before = res.curve.clone()
    at = res.at([0.5, 1, 2])
    assert res.curve.equals(before)
    assert at.columns == [
        "sex",
        "time_years",
        "n_at_risk",
        "n_events",
        "prob_reached",
        "se",
        "prob_reached_lo",
        "prob_reached_hi",
    ]
    assert at["sex"].to_list() == ["all"] * 3 + ["F"] * 3 + ["M"] * 3
    # the curve read at t is the last step at or before t
    for s in ("all", "F", "M"):
        c = res.curve.filter(pl.col("sex") == s)
        for t, p in zip([0.5, 1, 2], at.filter(pl.col("sex") == s)["prob_reached"]):
            step = c.filter(pl.col("time_years") <= t)["prob_reached"][-1]
            assert p == pytest.approx(step)
    ev = res.events
    assert ev.columns == ["patient_id", "sex", "time_days", "time_years", "event", "entry_days"]
    assert ev.height == P.height and ev["event"].sum() == res.curve["n_events"].sum() // 2


def test_results_are_pandas_for_pandas() -> None:
    res = stats.time_to_threshold(P.to_pandas(), by="facility")
    assert isinstance(res.curve, pd.DataFrame) and isinstance(res.events, pd.DataFrame)
    assert isinstance(res.at(1), pd.DataFrame)
    ci = stats.cumulative_incidence(P.to_pandas())
    assert isinstance(ci.curve, pd.DataFrame) and isinstance(ci.at([1, 2]), pd.DataFrame)
    rf = stats.risk_factors(P.to_pandas(), "reached_100 ~ sex")
    assert isinstance(rf.table, pd.DataFrame)
    assert list(rf.table.columns[:4]) == ["term", "odds_ratio", "odds_ratio_lo", "odds_ratio_hi"]
    assert rf.model.params.shape == (2,) and rf.formula == "reached_100 ~ sex"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rf.alpha = 0.1  # type: ignore[misc]
    from recurct.stats.incidence import event_dates
    from recurct.stats.multisite import site_aggregates

    assert isinstance(stats.observation_end(P.to_pandas()), pd.Series)
    assert isinstance(event_dates(P.to_pandas()), pd.Series)
    assert isinstance(site_aggregates(P.to_pandas()), pd.DataFrame)


def test_cumulative_incidence_at_matches_its_curve() -> None:
    q = P.with_columns(
        death=pl.when(pl.col("patient_id") == "p1")
        .then(pl.lit(D0) + pl.duration(days=200))
        .otherwise(None)
    )
    res = stats.cumulative_incidence(q, death="death", by="facility")
    assert isinstance(res, stats.CumulativeIncidence) and res.death == "death"
    at = res.at([0.3, 1.5])
    for s in ("all", "A", "B"):
        c = res.curve.filter(pl.col("facility") == s)
        got = at.filter(pl.col("facility") == s)
        for t, p, d in zip([0.3, 1.5], got["prob_reached"], got["prob_died"]):
            if t > c["time_years"].max() and p is None:
                continue
            row = c.filter(pl.col("time_years") <= t).row(-1, named=True)
            assert p == pytest.approx(row["prob_reached"])
            assert d == pytest.approx(row["prob_died"])
    assert res.events["event"].to_list().count(2) == 1


def test_strata_in_order_of_first_appearance_everywhere() -> None:
    q = P.reverse()  # facility "B" now comes first: not alphabetical
    one = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})
    tables = {
        "magnitude": stats.magnitude(q, 100, "facility"),
        "standardise": stats.standardise(q, 100, "facility", standard=one),
        "time_to_threshold": stats.time_to_threshold(q, 100, "facility").at(1),
        "cumulative_incidence": stats.cumulative_incidence(q, 100, "facility").at(1),
        "incidence_rate": stats.incidence_rate(q, 100, "facility"),
        "dose_bands": stats.dose_bands(q, (0, 100, np.inf), "facility"),
    }
    for name, t in tables.items():
        assert t["facility"].unique(maintain_order=True).to_list() == ["all", "B", "A"], name
    # an Enum band keeps its own order whatever the row order
    banded = stats.age_band(q, (0, 40, 60, np.inf))
    got = stats.magnitude(banded, 100, "age_band")["age_band"].to_list()
    assert got == ["all", "0-40", "40-60", "60+"]



@pytest.mark.parametrize(
    ("func", "old", "new"),
    [
        (plot.forest, "site_table_or_meta", "result"),
        (plot.funnel, "site_table", "result"),
        (stats.site_table, "patients_or_aggregates", "table"),
    ],
)
def test_first_argument_renames(func, old: str, new: str) -> None:
    with pytest.raises(TypeError, match=f"'{old}' was renamed to '{new}'"):
        func(**{old: None})


def test_distributed_exams_rename() -> None:
    pytest.importorskip("dask")
    from recurct import distributed

    with pytest.raises(TypeError, match="'ddf' was renamed to 'exams'"):
        distributed.cumulative_dose(ddf=None)


def test_results_print_their_settings_not_their_rows() -> None:
    """A result in a notebook shows its settings and table shapes, not every row."""
    patients = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "first_exam": [dt.date(2020, 1, 1)] * 4,
            "last_exam": [dt.date(2021, 1, 1)] * 4,
            "ced_msv": [10.0, 120.0, 60.0, 200.0],
            "days_to_100": [None, 100, None, 30],
            "reached_100": [False, True, False, True],
        }
    )
    text = repr(stats.time_to_threshold(patients, 100))
    assert text.startswith("TimeToThreshold(curve=<") and "threshold=100.0" in text
    assert "ci='log-log'" in text and "rows x" in text and "\n" not in text
