"""Edge cases of the curves (Kaplan-Meier, Aalen-Johansen) and of incidence_rate: reading a
settled curve after its last time, T reached after death, end before entry, entry on the last
day of observation, the plain interval at S = 0, and error messages that name the rows."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl
import pytest

from recurct.errors import CompetingRiskWarning, DataError, DroppedRowsWarning
from recurct.stats import cumulative_incidence, incidence_rate, time_to_threshold

D = dt.date


def _all_reached() -> pl.DataFrame:
    """Site Y: its 3 patients all reach 100 mSv within 60 days; site X: one does."""
    return pl.DataFrame(
        {
            "patient_id": list("abcdef"),
            "first_exam": [D(2018, 1, 1)] * 6,
            "last_exam": [D(2018, 2, 1), D(2018, 3, 1), D(2021, 1, 1)] + [D(2019, 1, 1)] * 3,
            "reached_100": [True, True, True, False, True, False],
            "days_to_100": [31, 59, 40, None, 100, None],
            "facility": ["Y", "Y", "Y", "X", "X", "X"],
        }
    )


def test_settled_km_curve_is_carried_after_its_last_time() -> None:
    lifelines = pytest.importorskip("lifelines")
    p = _all_reached()
    km = time_to_threshold(p, 100, by="facility", end="2021-01-01")
    y = km.at([0.1, 1, 2]).filter(pl.col("facility") == "Y")
    kmf = lifelines.KaplanMeierFitter().fit([31, 59, 40], [1, 1, 1])
    expected = 1 - kmf.survival_function_at_times([0.1 * 365.25, 365.25, 730.5]).to_numpy()
    np.testing.assert_allclose(y["prob_reached"].to_numpy(), expected, atol=1e-12)
    assert y["prob_reached_lo"].to_list()[1:] == [1.0, 1.0]
    assert y["prob_reached_hi"].to_list()[1:] == [1.0, 1.0]
    assert y["n_at_risk"].to_list()[1:] == [0, 0]
    # X is not settled (its last time is a censoring): null after it, as before
    x = km.at([10]).filter(pl.col("facility") == "X")
    assert x["prob_reached"].to_list() == [None]


def test_settled_aj_curve_is_carried_after_its_last_time() -> None:
    p = _all_reached().with_columns(
        pl.Series("death", [None, D(2018, 1, 20), None, None, None, None], dtype=pl.Date),
        pl.Series("reached_100", [True, False, True, False, True, False]),
        pl.Series("days_to_100", [31, None, 40, None, 100, None]),
    )
    aj = cumulative_incidence(p, 100, by="facility", death="death", end="2021-01-01")
    y = aj.at([0.5, 3]).filter(pl.col("facility") == "Y")
    assert y["prob_reached"].to_list() == pytest.approx([2 / 3, 2 / 3])
    assert y["prob_died"].to_list() == pytest.approx([1 / 3, 1 / 3])
    assert y["prob_reached_lo"][1] == pytest.approx(y["prob_reached_lo"][0])
    x = aj.at([10]).filter(pl.col("facility") == "X")
    assert x["prob_reached"].to_list() == [None]
    # without deaths the Aalen-Johansen estimate is still that of Kaplan-Meier there
    no_death = cumulative_incidence(_all_reached(), 100, by="facility", end="2021-01-01")
    assert no_death.at([2]).filter(pl.col("facility") == "Y")["prob_reached"][0] == 1.0


def _death_table(days_to: list[int | None], death: list[dt.date | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "first_exam": [D(2020, 1, 1)] * 3,
            "last_exam": [D(2020, 6, 1), D(2021, 1, 1), D(2020, 3, 1)],
            "reached_100": [d is not None for d in days_to],
            "days_to_100": days_to,
            "death": pl.Series(death, dtype=pl.Date),
        }
    )


def test_threshold_reached_after_death_is_an_error() -> None:
    p = _death_table([152, None, 60], [D(2020, 2, 1), None, D(2020, 3, 1)])
    with pytest.raises(
        DataError, match=r"after their death date in column 'death' \(row 0 \(0-based\)"
    ):
        cumulative_incidence(p, 100, death="death", end="2021-01-01")
    with pytest.raises(DataError, match=r"patient\(s\) \['a'\].*wrong death date"):
        cumulative_incidence(p, 100, death="death", end="2021-01-01")
    # a death on the day T is reached counts as reaching T
    ok = _death_table([None, None, 60], [D(2020, 2, 1), None, D(2020, 3, 1)])
    aj = cumulative_incidence(ok, 100, death="death", end="2021-01-01")
    assert aj.events["event"].to_list() == [2, 0, 1]


def _entry_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "first_exam": [D(2018, 1, 1)] * 3,
            "last_exam": [D(2018, 6, 1), D(2019, 1, 1), D(2020, 1, 1)],
            "reached_100": [True, False, False],
            "days_to_100": [30, None, None],
            "facility": ["X", "X", "Y"],
        }
    ).with_columns(date_reached_100=pl.col("first_exam") + pl.duration(days="days_to_100"))


def test_end_before_entry_is_an_error_for_prevalent_patients_too() -> None:
    # patient a is prevalent (T on day 30) and enters after the end of his site's observation
    p = _entry_table().with_columns(
        pl.Series("entry", [D(2019, 6, 1), D(2018, 3, 1), D(2018, 3, 1)])
    )
    end = {"X": D(2019, 1, 1), "Y": D(2020, 1, 1)}
    for fn in (time_to_threshold, cumulative_incidence):
        with pytest.raises(
            DataError, match=r"end observation before their entry date \(row 0 \(0-based\)"
        ):
            fn(p, 100, entry="entry", end=end)
    msg = (
        r"end before their entry date \(column 'entry'\) \(row 0 \(0-based\), patient\(s\) \['a'\]"
    )
    with pytest.raises(DataError, match=msg):
        incidence_rate(p, 100, entry="entry", end=end)


def test_entry_on_the_last_day_is_counted_and_warned() -> None:
    # patient b enters on 2019-01-01, the day his observation ends (the end of site X's data)
    p = _entry_table().with_columns(
        pl.Series("entry", [D(2018, 1, 1), D(2019, 1, 1), D(2018, 3, 1)])
    )
    end = {"X": D(2019, 1, 1), "Y": D(2020, 1, 1)}
    for fn in (time_to_threshold, cumulative_incidence):
        with pytest.warns(
            DroppedRowsWarning, match=r"left out 1 patient\(s\) who enter on the day"
        ):
            r = fn(p, 100, entry="entry", end=end)
        assert r.n_not_at_risk == 1
        assert r.n_prevalent == 0
        assert r.events["patient_id"].to_list() == ["a", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert time_to_threshold(p.drop("entry"), 100, end=end).n_not_at_risk == 0


def test_death_on_the_entry_day_is_counted_and_warned() -> None:
    p = _entry_table().with_columns(
        pl.Series("entry", [D(2018, 1, 1), D(2018, 3, 1), D(2018, 3, 1)]),
        pl.Series("death", [None, D(2018, 3, 1), None], dtype=pl.Date),
    )
    with pytest.warns(CompetingRiskWarning, match=r"died before or on their entry date"):
        aj = cumulative_incidence(p, 100, death="death", entry="entry", end="2020-01-01")
    assert aj.n_not_at_risk == 1
    assert aj.events["patient_id"].to_list() == ["a", "c"]


def test_plain_interval_collapses_at_probability_one() -> None:
    p = pl.DataFrame(
        {
            "first_exam": [D(2018, 1, 1)] * 3,
            "last_exam": [D(2018, 2, 1), D(2018, 3, 1), D(2019, 1, 1)],
            "reached_100": [True, True, True],
            "days_to_100": [31, 59, 200],
        }
    )
    for ci in ("plain", "log-log"):
        r = time_to_threshold(p, 100, ci=ci, end="2019-01-01")
        last = r.curve.filter(pl.col("time_days") == 200)
        assert last["prob_reached_lo"].to_list() == [1.0]
        assert last["prob_reached_hi"].to_list() == [1.0]
        first = r.curve.filter(pl.col("time_days") == 0)
        assert first["prob_reached_lo"].to_list() == [0.0]
        assert first["prob_reached_hi"].to_list() == [0.0]
        assert r.at([0.9])["prob_reached_lo"].to_list() == [1.0]


def test_errors_name_the_function_column_and_rows() -> None:
    p = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "first_exam": [D(2018, 1, 1), D(2019, 6, 1), D(2018, 1, 1)],
            "last_exam": [D(2018, 2, 1), D(2019, 7, 1), D(2019, 1, 1)],
            "reached_100": [True, False, False],
            "days_to_100": [31, None, None],
            "study_end": pl.Series([D(2020, 1, 1), None, D(2020, 1, 1)], dtype=pl.Date),
        }
    )
    for fn in (time_to_threshold, incidence_rate, cumulative_incidence):
        name = fn.__name__
        msg = rf"{name}: 1 patient\(s\) have no end of observation \(null in column 'study_end'"
        with pytest.raises(DataError, match=msg + r"; row 1 \(0-based\), patient\(s\) \['b'\]"):
            fn(p, 100, end="study_end")
        with pytest.raises(DataError, match=rf"{name}: 1 patient\(s\) end before their first"):
            fn(p, 100, end="2019-01-01")
        with pytest.raises(DataError, match=r"\(row 1 \(0-based\), patient\(s\) \['b'\]\)"):
            fn(p, 100, end="2019-01-01")
