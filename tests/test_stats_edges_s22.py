"""Edge cases of the statistics found by the 22nd audit (findings F1-F7).

* F1: a stratum whose patients all enter late and never reach T is observed (S = 1, as
  lifelines' ``KaplanMeierFitter(entry=...)``), not "nobody observed" (null);
* F2: a stratum whose patients are all left out (prevalent at a delayed entry, or never at
  risk) keeps a time-0 row of null estimates in ``.curve`` and nulls in ``.at()``;
* F3: ``.at()`` keeps the order of a pandas ordered ``Categorical``, as ``.curve`` does;
* F4: ``tau2="dl", ci="z"`` equals statsmodels' ``combine_effects`` only when Q > k - 1;
* F5: a population table whose ``by`` column is a float (``1.0``) matches integer strata
  (``1``); text against numbers is refused, naming the column and both dtypes;
* F6: ``poisson_ci`` with shapes that do not broadcast raises ``ParameterError``;
* F7: ``magnitude``'s warning names a stratum left without patients.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from lifelines import KaplanMeierFitter
from scipy.stats import chi2
from statsmodels.stats.meta_analysis import combine_effects

from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.stats import (
    cumulative_incidence,
    incidence_rate,
    magnitude,
    meta_proportion,
    poisson_ci,
    time_to_threshold,
)
from recurct.stats.meta import effect_sizes

D = dt.date
CURVES = (time_to_threshold, cumulative_incidence)
ESTIMATES = ("prob_reached", "se", "prob_reached_lo", "prob_reached_hi")
ENTRY, END = "2019-01-01", "2021-01-01"
ENTRY_DAYS, END_DAYS = 365, 1096  # days from 2018-01-01


def _cohort(reached: list[bool], days: list[int | None], g: list[str | None]) -> pl.DataFrame:
    n = len(g)
    return pl.DataFrame(
        {
            "patient_id": list(range(1, n + 1)),
            "first_exam": [D(2018, 1, 1)] * n,
            "last_exam": [D(2021, 1, 1)] * n,
            "reached_100": reached,
            "days_to_100": pl.Series(days, dtype=pl.Int64),
            "g": pl.Series(g, dtype=pl.Utf8),
        }
    )


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _block(table: pl.DataFrame | pd.DataFrame, label: str | None) -> pl.DataFrame:
    df = table if isinstance(table, pl.DataFrame) else pl.from_pandas(table)
    return df.filter(pl.col("g").is_null() if label is None else pl.col("g") == label)


# F1 ---------------------------------------------------------------------------------------


def _late_cohort() -> pl.DataFrame:
    # "cens": all enter late (2019-01-01), none reaches T; "x": late too, one reaches T
    return _cohort(
        [False, False, False, True, False],
        [None, None, None, 800, None],
        ["cens", "cens", "x", "x", "x"],
    )


def _lifelines_prob(times: np.ndarray, events: np.ndarray, at_days: np.ndarray) -> np.ndarray:
    entry = np.full(times.size, float(ENTRY_DAYS))
    km = KaplanMeierFitter().fit(times, events, entry=entry)
    # lifelines' timeline starts at the first entry; before it nobody can have reached T
    # (S = 1, recurct's time-0 row): read lifelines there
    return 1.0 - km.survival_function_at_times(np.maximum(at_days, ENTRY_DAYS)).to_numpy()


@pytest.mark.parametrize("fn", CURVES)
def test_late_entrants_without_event_are_observed_as_lifelines(fn) -> None:
    r = _quiet(fn, _late_cohort(), 100, by="g", entry=ENTRY, end=END)
    cens = _block(r.curve, "cens")
    # lifelines: S = 1 everywhere (probability 0), not an undefined curve
    expected = _lifelines_prob(np.full(2, float(END_DAYS)), np.zeros(2), np.array([0.0]))
    assert cens.select("time_days", "n_at_risk").rows() == [(0, 0)]
    assert cens["prob_reached"].to_list() == pytest.approx(expected.tolist())
    assert cens.select(ESTIMATES).row(0) == (0.0, 0.0, 0.0, 0.0)
    at = _block(r.at([0, 1, 2, 3.5]), "cens")
    days = np.array([0, 1, 2, 3.5]) * 365.25
    want = _lifelines_prob(np.full(2, float(END_DAYS)), np.zeros(2), days)
    # (lifelines carries S beyond the last time; recurct does not: 3.5 y > 1096 days)
    assert at["prob_reached"].to_list()[:3] == pytest.approx(want[:3].tolist())
    assert at["prob_reached"][3] is None
    assert at["n_at_risk"].to_list() == [0, 2, 2, 0]
    # the curve and .at() agree at time 0
    assert at["prob_reached"][0] == cens["prob_reached"][0]


def test_late_entrants_with_an_event_match_lifelines() -> None:
    r = _quiet(time_to_threshold, _late_cohort(), 100, by="g", entry=ENTRY, end=END)
    x = _block(r.curve, "x")
    want = _lifelines_prob(
        np.array([END_DAYS, 800.0, END_DAYS]), np.array([0, 1, 0]), x["time_days"].to_numpy()
    )
    np.testing.assert_allclose(x["prob_reached"].to_numpy(), want, rtol=1e-12)
    assert x["time_days"].to_list() == [0, 800]


def test_aalen_johansen_late_entrants_without_event_is_zero() -> None:
    p = _late_cohort().with_columns(death=pl.lit(None, dtype=pl.Date))
    r = _quiet(cumulative_incidence, p, 100, by="g", death="death", entry=ENTRY, end=END)
    cens = _block(r.curve, "cens")
    assert cens.select(*ESTIMATES, "prob_died").row(0) == (0.0, 0.0, 0.0, 0.0, 0.0)


# F2 ---------------------------------------------------------------------------------------


def _prevalent_cohort() -> pl.DataFrame:
    # "ok" first appears after "prev", whose patients all reached T before the entry date
    return _cohort(
        [True, True, False, True, True],
        [10, 20, None, 800, 900],
        ["prev", "prev", "ok", "ok", None],
    )


@pytest.mark.parametrize("fn", CURVES)
@pytest.mark.parametrize("pandas", [False, True])
def test_all_prevalent_stratum_keeps_a_null_block(fn, pandas: bool) -> None:
    p = _prevalent_cohort()
    r = _quiet(fn, p.to_pandas() if pandas else p, 100, by="g", entry=ENTRY, end=END)
    assert r.n_prevalent == 2
    curve = r.curve if isinstance(r.curve, pl.DataFrame) else pl.from_pandas(r.curve)
    order = ["all", "prev", "ok", None]
    assert curve["g"].unique(maintain_order=True).to_list() == order
    # the order of strata of incidence_rate, which kept the stratum already
    rates = _quiet(incidence_rate, p, by="g", entry=ENTRY, end=END)
    assert rates["g"].to_list() == order
    prev = _block(curve, "prev")
    assert prev.select("time_days", "n_at_risk", "n_events").rows() == [(0, 0, 0)]
    assert prev.select(ESTIMATES).null_count().row(0) == (1, 1, 1, 1)
    at = r.at([0, 1, 2.5])
    at = at if isinstance(at, pl.DataFrame) else pl.from_pandas(at)
    assert at["g"].unique(maintain_order=True).to_list() == order
    prev_at = _block(at, "prev")
    assert prev_at["n_at_risk"].to_list() == [0, 0, 0]
    assert prev_at.select(ESTIMATES).null_count().row(0) == (3, 3, 3, 3)
    # the other strata are those of the table without the prevalent patients
    alone = _quiet(fn, p.filter(pl.col("g").ne_missing("prev")), 100, by="g", entry=ENTRY, end=END)
    assert _block(curve, "ok").equals(_block(alone.curve, "ok"))
    assert _block(at, None).equals(_block(alone.at([0, 1, 2.5]), None))


def test_stratum_never_at_risk_keeps_a_null_block() -> None:
    # "dead" died before the delayed entry: never at risk (n_not_at_risk)
    p = _cohort([False, False, False], [None, None, None], ["dead", "ok", "ok"])
    p = p.with_columns(death=pl.Series([D(2018, 6, 1), None, None]))
    r = _quiet(cumulative_incidence, p, 100, by="g", death="death", entry=ENTRY, end=END)
    assert r.n_not_at_risk == 1
    dead = _block(r.curve, "dead")
    assert dead.select(*ESTIMATES, "prob_died").null_count().row(0) == (1,) * 5
    assert _block(r.at([1]), "dead")["prob_reached"].to_list() == [None]
    assert _block(r.curve, "ok")["prob_reached"].to_list() == [0.0]


# F3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", CURVES)
def test_at_keeps_a_pandas_ordered_categorical_order(fn) -> None:
    rng = np.random.default_rng(4)
    n = 60
    days = rng.integers(0, 1000, n)
    reached = rng.random(n) < 0.5
    band = np.array(["old"] * 20 + ["mid"] * 20 + ["young"] * 20)  # "old" appears first
    p = pd.DataFrame(
        {
            "patient_id": np.arange(n),
            "first_exam": pd.Timestamp("2018-01-01"),
            "last_exam": pd.Timestamp("2021-01-01"),
            "reached_100": reached,
            "days_to_100": pd.array(np.where(reached, days, 0), dtype="Int64"),
            "band": pd.Categorical(band, categories=["young", "mid", "old"], ordered=True),
        }
    )
    p.loc[~p["reached_100"], "days_to_100"] = pd.NA
    r = _quiet(fn, p, 100, by="band")
    order = ["all", "young", "mid", "old"]
    assert list(dict.fromkeys(r.curve["band"])) == order
    at = r.at([1, 2])
    assert list(dict.fromkeys(at["band"])) == order
    # each stratum's values are its own (not another stratum's in the wrong place)
    for label in order[1:]:
        alone = _quiet(fn, p[p["band"] == label].reset_index(drop=True), 100).at([1, 2])
        got = at[at["band"] == label]["prob_reached"].to_numpy()
        np.testing.assert_allclose(got, alone["prob_reached"].to_numpy(), rtol=1e-12)


# F4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xs", "ns", "heterogeneous"),
    [([4, 6, 5, 7], [100, 110, 90, 120], False), ([2, 15, 5, 30], [100, 110, 90, 120], True)],
)
def test_dl_equals_statsmodels_only_when_q_exceeds_its_df(xs, ns, heterogeneous) -> None:
    sites = pl.DataFrame({"site": list("abcd"), "n_patients": ns, "n_reached": xs})
    r = _quiet(meta_proportion, sites, tau2="dl", ci="z").pooled
    y, v, _ = effect_sizes(np.array(xs, float), np.array(ns, float))
    sm = combine_effects(y, v, method_re="dl")
    assert r["q"][0] == pytest.approx(sm.q, rel=1e-10)
    assert (sm.q > len(xs) - 1) == heterogeneous
    if heterogeneous:
        assert r["tau2"][0] == pytest.approx(sm.tau2, rel=1e-10)
        assert r["effect"][0] == pytest.approx(sm.mean_effect_re, rel=1e-10)
    else:  # statsmodels keeps a negative tau2; DerSimonian-Laird truncates it at 0
        assert sm.tau2 < 0 and r["tau2"][0] == 0.0
        assert r["effect"][0] == pytest.approx(sm.mean_effect_fe, rel=1e-10)
        assert r["effect"][0] != pytest.approx(sm.mean_effect_re, rel=1e-6)


# F5 ---------------------------------------------------------------------------------------


def _patients(region: pl.Series) -> pl.DataFrame:
    n = region.len()
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "n_exams": [2] * n,
            "ced_msv": [150.0, 20.0] * (n // 2),
            "reached_100": [True, False] * (n // 2),
            "region": region,
        }
    )


def test_float_population_keys_match_integer_strata() -> None:
    p = _patients(pl.Series("region", [1, 1, 2, 2, 2, 1]))
    # 1.5 and NaN equal no integer region: counted in the total, in no stratum
    pop = pl.DataFrame({"region": [1.0] * 50 + [2.0] * 40 + [1.5, float("nan")]})
    m = magnitude(p, by="region", population=pop)
    assert m.select("region", "n_population").rows() == [("all", 92), ("1", 50), ("2", 40)]
    share = m.filter(pl.col("region") == "1")["share_population"][0]
    n_reached = m.filter(pl.col("region") == "1")["n_reached"][0]
    assert share == pytest.approx(n_reached / 50)
    # the other way round, and integers of another width, as before
    pf = p.with_columns(pl.col("region").cast(pl.Float64))
    pop_int = pl.DataFrame({"region": [1] * 50 + [2] * 40})
    m = magnitude(pf, by="region", population=pop_int)
    assert m.select("region", "n_population").rows() == [("all", 90), ("1.0", 50), ("2.0", 40)]
    m = magnitude(p, by="region", population=pop_int.cast({"region": pl.Int32}))
    assert m["n_population"].to_list() == [90, 50, 40]


def test_text_population_keys_against_numbers_are_refused() -> None:
    p = _patients(pl.Series("region", [1, 1, 2, 2, 2, 1]))
    pop = pl.DataFrame({"region": ["1"] * 50 + ["2"] * 50})
    with pytest.raises(DataError, match=r"'region' is String, the patients table's is Int64"):
        magnitude(p, by="region", population=pop)
    # text of another text dtype is still text
    pt = p.with_columns(pl.col("region").cast(pl.Utf8))
    m = magnitude(pt, by="region", population=pop.cast({"region": pl.Categorical}))
    assert m["n_population"].to_list() == [100, 50, 50]


# F6 ---------------------------------------------------------------------------------------


def test_poisson_ci_refuses_shapes_that_do_not_broadcast() -> None:
    with pytest.raises(
        ParameterError, match=r"count \(shape \(2,\)\) and exposure \(shape \(3,\)\)"
    ):
        poisson_ci([1, 2], [5, 5, 5])
    lo, hi = poisson_ci([0, 3], 2.0)  # (broadcasting still works: closed form)
    np.testing.assert_allclose(lo, [0.0, chi2.ppf(0.025, 6) / 2 / 2.0], rtol=1e-12)
    np.testing.assert_allclose(hi, chi2.ppf(0.975, [2, 8]) / 2 / 2.0, rtol=1e-12)


# F7 ---------------------------------------------------------------------------------------


def test_magnitude_names_the_stratum_left_without_patients() -> None:
    p = _patients(pl.Series("region", ["a", "a", "b", "b", "c", "c"])).with_columns(
        reached_50=pl.Series([True, False] * 3)
    )
    p = p.with_columns(
        pl.when(pl.col("region") == "b")
        .then(None)
        .otherwise(pl.col("reached_100"))
        .alias("reached_100")
    )
    with pytest.warns(DroppedRowsWarning) as caught:
        m = magnitude(p, thresholds=[50, 100], by="region")
    (message,) = [str(w.message) for w in caught if issubclass(w.category, DroppedRowsWarning)]
    assert "2 at 100 mSv (null 'reached_100'), leaving 1 stratum(s) without patients" in message
    assert "(['b'])" in message
    # the table is as documented: no row for "b" at 100 mSv, its row at 50 mSv
    assert m.filter(pl.col("threshold") == 100)["region"].to_list() == ["all", "a", "c"]
    assert m.filter(pl.col("threshold") == 50)["region"].to_list() == ["all", "a", "b", "c"]
