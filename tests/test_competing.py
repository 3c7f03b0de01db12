"""Aalen-Johansen cumulative incidence and delayed entry against lifelines (and a simulation)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl
import pytest

from recurct.errors import CompetingRiskWarning
from recurct.stats.competing import aalen_johansen, cumulative_incidence
from recurct.stats.survival import kaplan_meier, time_to_threshold

lifelines = pytest.importorskip("lifelines")


def untied(seed: int, n: int = 300, with_entry: bool = False):
    rng = np.random.default_rng(seed)
    time = rng.permutation(np.arange(1, n + 1)).astype(float) + rng.uniform(0, 0.5, n)
    event = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    entry = np.minimum(rng.uniform(0, 0.6 * n, n), time - 0.1) if with_entry else None
    if entry is not None:
        entry = np.maximum(entry, 0.0)
    return time, event, entry


def lifelines_aj(time, event, entry):
    import pandas as pd

    fit = lifelines.AalenJohansenFitter(calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' own deprecation chatter
        fit.fit(pd.Series(time), pd.Series(event), event_of_interest=1, entry=entry)
    return fit


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_entry", [False, True])
def test_aalen_johansen_equals_lifelines(seed: int, with_entry: bool) -> None:
    time, event, entry = untied(seed, with_entry=with_entry)
    got = aalen_johansen(time, event, entry)
    fit = lifelines_aj(time, event, entry)
    cif = fit.cumulative_density_.iloc[:, 0]
    var = fit.variance_
    t = got["time"]
    np.testing.assert_allclose(got["cif"], cif.loc[t].to_numpy(), rtol=1e-10, atol=1e-14)
    ok = np.isfinite(got["var"]) & np.isfinite(var.loc[t].to_numpy())
    assert ok.sum() > 0.9 * t.size
    np.testing.assert_allclose(got["var"][ok], var.loc[t].to_numpy()[ok], rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(
        got["n_at_risk"], fit.event_table["at_risk"].loc[t].to_numpy(), rtol=0
    )


def test_kaplan_meier_with_entry_equals_lifelines() -> None:
    rng = np.random.default_rng(5)
    n = 400
    time = rng.integers(1, 200, n).astype(float)  # ties included
    entry = np.floor(rng.uniform(0, 1, n) * time)
    event = rng.random(n) < 0.5
    got = kaplan_meier(time, event, entry)
    km = lifelines.KaplanMeierFitter().fit(time, event, entry=entry)
    sf = km.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(got["surv"], sf.loc[got["time"]].to_numpy(), rtol=1e-12)
    # lifelines' event table counts those entering at t in at_risk, its estimate does not
    table = km.event_table.loc[got["time"]]
    np.testing.assert_allclose(got["n_at_risk"], (table["at_risk"] - table["entrance"]).to_numpy())
    # Greenwood log(-log) interval = lifelines' default interval of S
    ci = km.confidence_interval_survival_function_.loc[got["time"]].to_numpy()
    from recurct.stats.survival import _ci_reached

    lo, hi = _ci_reached(got["surv"], got["se"], 0.05, "log-log")
    ok = np.isfinite(lo)
    np.testing.assert_allclose(1 - hi[ok], ci[ok, 0], rtol=1e-9)
    np.testing.assert_allclose(1 - lo[ok], ci[ok, 1], rtol=1e-9)


def patients_table(seed: int, n: int = 400) -> pl.DataFrame:
    """Patients with untied event days: T reached, death, or censored at the study end."""
    rng = np.random.default_rng(seed)
    days = rng.permutation(np.arange(1, 3 * n + 1))[:n]
    kind = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
    first = [dt.date(2010, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 30, n)]
    reached = kind == 1
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "first_exam": first,
            "last_exam": first,
            "sex": rng.choice(["F", "M"], n),
            "reached_100": reached,
            "days_to_100": pl.Series(np.where(reached, days, 0)).cast(pl.Int64),
            "death": [
                f + dt.timedelta(days=int(d)) if k == 2 else None
                for f, d, k in zip(first, days, kind)
            ],
        }
    ).with_columns(pl.when(pl.col("reached_100")).then(pl.col("days_to_100")).alias("days_to_100"))


def test_cumulative_incidence_by_sex_equals_lifelines() -> None:
    p = patients_table(3)
    end = dt.date(2020, 1, 1)
    got = cumulative_incidence(p, 100, by="sex", death="death", end=end).at([0.5, 1, 2])
    for sex in ("F", "M"):
        part = p.filter(pl.col("sex") == sex)
        start = part["first_exam"].to_numpy().astype("datetime64[D]")
        t_ev = np.where(part["reached_100"], part["days_to_100"].fill_null(0), np.inf)
        death = part["death"].to_numpy().astype("datetime64[D]")
        t_d = (death - start).astype(float)
        t_d[np.isnat(death)] = np.inf
        cens = (np.datetime64(end) - start).astype(float)
        time = np.minimum(np.minimum(t_ev, t_d), cens)
        ev = np.where(time == t_ev, 1, np.where(time == t_d, 2, 0))
        fit = lifelines_aj(time, ev, None)
        rows = got.filter(pl.col("sex") == sex)
        for row in rows.iter_rows(named=True):
            f = fit.cumulative_density_.iloc[:, 0]
            want = f.loc[: row["time_years"] * 365.25].iloc[-1]
            assert row["prob_reached"] == pytest.approx(want, rel=1e-10)


def test_competing_risk_simulation_km_overstates() -> None:
    """Deaths remove patients: Aalen-Johansen recovers the true risk, KM with death as
    censoring overstates it (the problem stated in issue 21)."""
    rng = np.random.default_rng(11)
    n = 20_000
    t_reach = rng.exponential(6 * 365.25, n)
    t_death = rng.exponential(4 * 365.25, n)
    first = dt.date(2010, 1, 1)
    end_days = 10 * 365
    true = np.mean(t_reach <= np.minimum(t_death, 3 * 365.25))
    reached = t_reach <= np.minimum(t_death, end_days)
    died = (t_death < t_reach) & (t_death <= end_days)
    p = pl.DataFrame(
        {
            "first_exam": [first] * n,
            "last_exam": [first] * n,
            "reached_100": reached,
            "days_to_100": pl.Series(np.floor(t_reach)).cast(pl.Int64),
            "death_date": [
                first + dt.timedelta(days=int(d)) if k else None for d, k in zip(t_death, died)
            ],
        }
    )
    p = p.with_columns(
        pl.when(pl.col("reached_100")).then(pl.col("days_to_100")).alias("days_to_100")
    )
    end = first + dt.timedelta(days=end_days)
    aj = cumulative_incidence(p, 100, death="death_date", end=end).at(3).row(0, named=True)
    assert aj["prob_reached"] == pytest.approx(true, abs=0.01)
    assert aj["prob_reached_lo"] < true < aj["prob_reached_hi"]
    p2 = p.with_columns(pl.coalesce(pl.col("death_date"), pl.lit(end)).alias("death_date"))
    with pytest.warns(CompetingRiskWarning, match="cumulative_incidence"):
        km = time_to_threshold(p2, 100, end="death_date").at(3).row(0, named=True)
    assert km["prob_reached"] > aj["prob_reached"] + 0.05


def test_without_death_equals_kaplan_meier_and_prevalent_entry() -> None:
    p = patients_table(4).drop("death")
    end = dt.date(2016, 1, 1)
    a = cumulative_incidence(p, 100, end=end).at([1, 2])
    b = time_to_threshold(p, 100, end=end).at([1, 2])
    np.testing.assert_allclose(a["prob_reached"], b["prob_reached"], rtol=1e-12)
    # an entry date after some events: those patients are prevalent and left out
    entry = dt.date(2010, 6, 1)
    c = cumulative_incidence(p, 100, end=end, entry=entry).curve
    d = time_to_threshold(p, 100, end=end, entry=entry).curve
    assert c["prob_reached"].to_list() == pytest.approx(d["prob_reached"].to_list(), rel=1e-12)
    assert c["n_at_risk"][0] < p.height
