"""Review of the s18 statistics changes: the threshold an aggregates site table states, one
rule for a patient whose reaching T is unknown (dropped and counted, everywhere), the
threshold checks of the plots, the value a (sites, summary) pair carries, the caption of a
cumulative-incidence subclass, and the wording of the death check."""

from __future__ import annotations

import datetime as dt
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest

from recurct import plot
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.stats import cumulative_incidence, magnitude, meta_proportion, site_table
from recurct.stats.publish import (
    _carried_threshold,
    carried_alpha,
    publication_table,
    readable,
)

D = dt.date

AGG = pl.DataFrame({"site": ["A", "B"], "n_patients": [100, 200], "n_reached": [5, 9]})


def _patients(ced: list[float | None]) -> pl.DataFrame:
    n = len(ced)
    return pl.DataFrame(
        {
            "patient_id": [str(i) for i in range(n)],
            "n_exams": [2] * n,
            "first_exam": [D(2020, 1, 1)] * n,
            "last_exam": [D(2021, 1, 1)] * n,
            "followup_days": [366] * n,
            "ced_msv": pl.Series(ced, dtype=pl.Float64),
            "facility": ["A"] * (n // 2) + ["B"] * (n - n // 2),
            "age_first_exam": [40.0] * n,
        }
    )


# ------------------------------------------------------------------ 1: aggregates' threshold
@pytest.mark.parametrize("threshold", [None, 100, 50.0])
def test_site_table_of_aggregates_states_no_threshold(threshold) -> None:
    st = site_table(AGG, threshold=threshold)
    assert st.summary.schema["threshold"] == pl.Float64
    assert st.summary["threshold"].to_list() == [None]
    # so its table is not labelled with a threshold its counts were not made at
    cols = publication_table(st).columns
    assert "Patients with CED ≥ the threshold, n (%, 95% CI)" in cols, cols
    assert not any("100 mSv" in c for c in cols), cols
    assert "Patients with CED ≥ 50 mSv, n (%, 95% CI)" in publication_table(st, threshold=50)


def test_site_table_of_patients_states_its_checked_threshold() -> None:
    p = _patients([150.0, 50.0, 120.0, 10.0])
    assert site_table(p, 50).summary["threshold"].to_list() == [50.0]
    cols = publication_table(site_table(p)).columns
    assert "Patients with CED ≥ 100 mSv, n (%, 95% CI)" in cols
    with pytest.raises(ParameterError, match="site_table: threshold"):
        site_table(p, threshold=None)


# ------------------------------------------------------------------ 2: one rule for unknown
def test_unknown_outcome_is_dropped_alike_by_every_site_function() -> None:
    p = _patients([150.0, 50.0, None, 120.0, 10.0, 20.0, 130.0, 5.0])
    with pytest.warns(DroppedRowsWarning, match=r"site_table: dropped 1 of 8 patient\(s\)"):
        st = site_table(p)
    with pytest.warns(DroppedRowsWarning, match=r"meta_proportion: dropped 1 of 8"):
        meta = meta_proportion(p, model="fixed")
    with pytest.warns(DroppedRowsWarning, match=r"magnitude: dropped .*1 at 100 mSv"):
        m = magnitude(p, by="facility")
    with pytest.warns(DroppedRowsWarning, match="site_table: dropped 1 of 8"):
        plot.forest(site_table(p))
    want = [("A", 3, 2), ("B", 4, 1)]
    assert st.sites.select("site", "n_patients", "n_reached").rows() == want
    assert meta.sites.select("site", "n_patients", "n_reached").rows() == want
    assert m.select("facility", "n_patients", "n_reached").rows() == [("all", 7, 3), *want]
    assert st.summary.select("n_patients", "n_reached").row(0) == (7, 3)


def test_a_null_reached_column_is_unknown_too() -> None:
    p = _patients([150.0, 50.0, 120.0, 10.0]).with_columns(
        reached_100=pl.Series([True, None, True, False])
    )
    with pytest.warns(DroppedRowsWarning, match="null 'reached_100'"):
        st = site_table(p)
    assert st.sites.select("n_patients", "n_reached").rows() == [(1, 1), (2, 1)]
    with pytest.warns(DroppedRowsWarning, match="null 'reached_100'"):
        assert magnitude(p)["n_patients"].item() == 3


def test_magnitude_drops_per_threshold_and_refuses_when_none_is_known() -> None:
    p = _patients([150.0, 50.0, 120.0, 10.0]).with_columns(
        reached_100=pl.Series([True, False, True, False]),
        reached_20=pl.Series([True, None, True, False]),
    )
    with pytest.warns(DroppedRowsWarning, match=r"1 at 20 mSv \(null 'reached_20'\)"):
        m = magnitude(p, [100, 20])
    assert m.select("threshold", "n_patients", "n_reached").rows() == [
        (100.0, 4, 2),
        (20.0, 3, 2),
    ]
    with pytest.raises(DataError, match="no patients left"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRowsWarning)
        magnitude(_patients([None, None]))


def test_tables_without_unknown_outcomes_are_unchanged_and_silent() -> None:
    p = _patients([150.0, 50.0, 100.0, 120.0, 10.0, 20.0, 130.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st = site_table(p)
        meta = meta_proportion(p, model="fixed")
        m = magnitude(p, by="facility")
    want = [("A", 4, 3), ("B", 4, 1)]
    assert st.sites.select("site", "n_patients", "n_reached").rows() == want
    assert meta.sites.select("site", "n_patients", "n_reached").rows() == want
    assert m.select("n_patients", "n_reached").rows() == [(8, 4), (4, 3), (4, 1)]


# ------------------------------------------------------------------ 3, 4: plot thresholds
def test_share_above_names_the_threshold_not_the_grid() -> None:
    p = _patients([150.0, 50.0, 120.0, 10.0])
    with pytest.raises(ParameterError, match=r"share_above: threshold must be at most 1e\+06"):
        plot.share_above(p, threshold=2e6)
    with pytest.raises(ParameterError, match=r"share_above: thresholds must be at most"):
        plot.share_above(p, thresholds=[10, 2e6])


@pytest.mark.parametrize("bad", [float("nan"), 0, -1])
def test_ced_distribution_checks_its_threshold(bad) -> None:
    p = _patients([150.0, 50.0])
    with pytest.raises(ParameterError, match="ced_distribution: threshold must be a finite"):
        plot.ced_distribution(p, threshold=bad)


# ------------------------------------------------------------------ 8: a (sites, summary) pair
def test_a_sites_summary_pair_carries_its_level_and_threshold() -> None:
    p = _patients([150.0, 50.0, 120.0, 10.0])
    st = site_table(p, 50, alpha=0.1)
    pair = (st.sites, st.summary)
    assert carried_alpha(pair) == pytest.approx(0.1)
    assert carried_alpha(st) == pytest.approx(0.1)
    assert carried_alpha(st.sites) is None
    fig = plot.forest(pair)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert "site (90% CI)" in [t.get_text() for lg in legends for t in lg.get_texts()]
    assert _carried_threshold(pair, None) == 50.0
    assert _carried_threshold(st, None) == 50.0
    assert _carried_threshold(st, 20.0) == 20.0
    assert _carried_threshold(site_table(AGG), None) is None
    assert "90% CI low (%)" in readable(st).columns


# ------------------------------------------------------------------ 9: caption of a subclass
def test_caption_of_a_cumulative_incidence_subclass_is_aalen_johansen() -> None:
    p = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "first_exam": [D(2020, 1, 1)] * 4,
            "last_exam": [D(2020, 6, 1)] * 4,
            "reached_100": [True, False, True, False],
            "days_to_100": [30, None, 60, None],
            "death": pl.Series([None, D(2020, 3, 1), None, None], dtype=pl.Date),
        }
    )
    ci = cumulative_incidence(p, 100, death="death", end="2021-01-01")
    obj = object.__new__(type("MyIncidence", (type(ci),), {}))  # only its class is read
    assert plot._curve_caption(obj).startswith("Aalen-Johansen cumulative incidence")
    assert plot._curve_caption(ci, 0.1).count("pointwise 90% CI") == 1
    assert not hasattr(plot, "curve_caption")


# ------------------------------------------------------------------ 11: the death check
def test_the_death_check_says_what_it_checks() -> None:
    p = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "first_exam": [D(2020, 1, 1)] * 2,
            "last_exam": [D(2020, 6, 1)] * 2,
            "reached_100": [True, False],
            "days_to_100": [152, None],
            "death": pl.Series([D(2020, 2, 1), None], dtype=pl.Date),
        }
    )
    with pytest.raises(DataError) as err:
        cumulative_incidence(p, 100, death="death", end="2021-01-01")
    msg = str(err.value)
    assert "row 0 (0-based), patient(s) ['a']" in msg
    assert "the exam that reached the threshold is dated after death" in msg
    assert "only that exam's date is checked" in msg
    assert "exams after death mean" not in msg
    # a patient whose later exams fall after death but T before it is not refused
    ok = p.with_columns(days_to_100=pl.Series([10, None]))
    assert cumulative_incidence(ok, 100, death="death", end="2021-01-01").events.height == 2
    assert np.isfinite(ok["days_to_100"][0])
