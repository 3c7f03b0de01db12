"""Tests of recurct.stats.meta.meta_proportion against statsmodels' combine_effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from statsmodels.stats.meta_analysis import combine_effects

from recurct.stats.meta import back_transform, effect_sizes, meta_proportion

AGG = pl.DataFrame(
    {
        "site": list("abcdefg"),
        "n_patients": [1000, 2000, 500, 800, 1500, 300, 1200],
        "n_reached": [5, 20, 0, 12, 3, 4, 9],
        "country": ["FR", "FR", "IT", "IT", "IT", None, "ES"],
        "academic": [True, False, True, True, False, True, False],
    }
)


@pytest.mark.parametrize("transform", ["logit", "arcsine", "raw"])
@pytest.mark.parametrize("method", ["random", "fixed"])
def test_equals_statsmodels_combine_effects(transform: str, method: str) -> None:
    res = meta_proportion(AGG, model=method, transform=transform, tau2="dl", ci="z")
    y = res.sites.get_column("effect").to_numpy()
    v = res.sites.get_column("variance").to_numpy()
    sm = combine_effects(y, v, method_re="dl")
    frame = sm.summary_frame()
    key = "random effect" if method == "random" else "fixed effect"
    row = res.pooled.row(0, named=True)
    assert row["effect"] == pytest.approx(frame.loc[key, "eff"], rel=1e-10)
    assert row["se"] == pytest.approx(frame.loc[key, "sd_eff"], rel=1e-10)
    assert row["effect_lo"] == pytest.approx(frame.loc[key, "ci_low"], rel=1e-10)
    assert row["effect_hi"] == pytest.approx(frame.loc[key, "ci_upp"], rel=1e-10)
    assert row["tau2"] == pytest.approx(sm.tau2, rel=1e-10)
    assert row["q"] == pytest.approx(sm.q, rel=1e-10)
    assert row["i2"] == pytest.approx(sm.i2, rel=1e-10)
    assert row["q_p"] == pytest.approx(stats.chi2.sf(sm.q, 6))
    weights = frame["w_re" if method == "random" else "w_fe"].iloc[:7].to_numpy()
    np.testing.assert_allclose(res.sites.get_column("weight").to_numpy(), weights, rtol=1e-10)


def test_logit_effects_and_continuity_only_for_zero_sites() -> None:
    y, v, corrected = effect_sizes(np.array([0, 5, 10]), np.array([10, 10, 10]), "logit", 0.5)
    assert corrected.tolist() == [True, False, True]
    assert y == pytest.approx([np.log(0.5 / 10.5), 0.0, np.log(10.5 / 0.5)])
    assert v == pytest.approx([1 / 0.5 + 1 / 10.5, 0.4, 1 / 10.5 + 1 / 0.5])
    yr, vr, _ = effect_sizes(np.array([0, 5]), np.array([10, 10]), "raw", 0.5)
    assert yr == pytest.approx([0.5 / 11, 0.5])
    assert vr == pytest.approx([(0.5 / 11) * (10.5 / 11) / 11, 0.025])
    with pytest.raises(ValueError, match="continuity"):
        effect_sizes(np.array([0]), np.array([10]), "logit", 0.0)


def test_arcsine_roundtrip_and_back_transform() -> None:
    n = np.array([10, 100, 1000, 50, 7])
    x = np.array([0, 5, 1000, 49, 3])
    y, v, corrected = effect_sizes(x, n, "arcsine")
    assert not corrected.any()
    assert v == pytest.approx(1 / (4 * n + 2))
    np.testing.assert_allclose(back_transform(y, "arcsine", n), x / n, atol=1e-12)
    p = back_transform(np.array([-1.0, 0.3]), "logit")
    assert p == pytest.approx([1 / (1 + np.e), 1 / (1 + np.exp(-0.3))])


def test_prediction_interval_higgins() -> None:
    res = meta_proportion(AGG, transform="logit")
    r = res.pooled.row(0, named=True)
    half = stats.t.ppf(0.975, 7 - 2) * np.sqrt(r["tau2"] + r["se"] ** 2)
    assert r["share_pred_lo"] == pytest.approx(1 / (1 + np.exp(-(r["effect"] - half))))
    assert r["share_pred_hi"] == pytest.approx(1 / (1 + np.exp(-(r["effect"] + half))))
    assert r["share"] == pytest.approx(1 / (1 + np.exp(-r["effect"])))
    assert r["share_pred_lo"] < r["share_lo"] < r["share"] < r["share_hi"] < r["share_pred_hi"]
    fixed = meta_proportion(AGG, model="fixed").pooled.row(0, named=True)
    assert fixed["share_pred_lo"] is None


def test_homogeneous_sites_have_zero_tau2() -> None:
    agg = pl.DataFrame({"site": ["a", "b", "c"], "n_patients": [100] * 3, "n_reached": [10] * 3})
    r = meta_proportion(agg).pooled.row(0, named=True)
    assert r["tau2"] == 0 and r["i2"] == 0 and r["q"] == pytest.approx(0, abs=1e-12)
    assert r["share"] == pytest.approx(0.1)


def test_subgroups_and_between_q() -> None:
    res = meta_proportion(AGG, subgroup="country")
    sg = res.subgroups
    assert sg.get_column("country").to_list() == ["ES", "FR", "IT", "not stated"]
    assert sg.get_column("n_sites").to_list() == [1, 2, 3, 1]
    # each subgroup equals a separate meta-analysis of its sites
    fr = meta_proportion(AGG.filter(pl.col("country") == "FR")).pooled.row(0, named=True)
    assert sg.row(1, named=True)["effect"] == pytest.approx(fr["effect"])
    mu = sg.get_column("effect").to_numpy()
    w = 1 / sg.get_column("se").to_numpy() ** 2
    qb = np.sum(w * (mu - np.sum(w * mu) / np.sum(w)) ** 2)
    assert res.q_between == pytest.approx(qb)
    assert res.df_between == 3
    assert res.p_between == pytest.approx(stats.chi2.sf(qb, 3))


def test_fixed_subgroup_q_partitions_total_q() -> None:
    # fixed effect: Q_total = sum Q_within + Q_between
    res = meta_proportion(AGG, model="fixed", subgroup="academic")
    q_within = res.subgroups.get_column("q").sum()
    assert res.pooled.item(0, "q") == pytest.approx(q_within + res.q_between)


def test_from_patients_and_pandas() -> None:
    patients = pd.DataFrame(
        {
            "facility": ["x"] * 4 + ["y"] * 5 + ["z"] * 3,
            "reached_100": [True, False, False, False, True, True, False, False, False]
            + [False] * 3,
            "academic": [True] * 4 + [False] * 5 + [True] * 3,
        }
    )
    res = meta_proportion(patients, subgroup="academic")
    assert isinstance(res.pooled, pd.DataFrame)
    assert res.sites["n_reached"].tolist() == [1, 2, 0]
    assert res.sites["corrected"].tolist() == [False, False, True]
    bad = patients.assign(academic=[True] * 3 + [False] * 9)
    with pytest.raises(ValueError, match="constant within each site"):
        meta_proportion(bad, subgroup="academic")


@given(
    st.lists(st.tuples(st.integers(1, 5000), st.floats(0, 1)), min_size=2, max_size=12),
    st.sampled_from(["logit", "arcsine", "raw"]),
)
@settings(max_examples=40)
def test_property_random_effects_match_statsmodels(sites: list, transform: str) -> None:
    n = np.array([s[0] for s in sites])
    x = np.round(np.array([s[1] for s in sites]) * n).astype(int)
    agg = pl.DataFrame(
        {"site": [f"s{i:02d}" for i in range(len(n))], "n_patients": n, "n_reached": x}
    )
    res = meta_proportion(agg, transform=transform, tau2="dl", ci="z")
    y = res.sites.get_column("effect").to_numpy()
    v = res.sites.get_column("variance").to_numpy()
    row = res.pooled.row(0, named=True)
    if row["q"] > row["q_df"]:
        sm = combine_effects(y, v, method_re="dl")
        assert row["effect"] == pytest.approx(sm.mean_effect_re, rel=1e-9, abs=1e-12)
        assert row["se"] == pytest.approx(sm.sd_eff_w_re, rel=1e-9)
        assert row["tau2"] == pytest.approx(sm.tau2, rel=1e-9, abs=1e-15)
    else:
        # DerSimonian-Laird truncates tau^2 at 0 (statsmodels 0.15 does not): fixed effect
        assert row["tau2"] == 0
        assert row["effect"] == pytest.approx(np.sum(y / v) / np.sum(1 / v), rel=1e-12)
        assert row["se"] == pytest.approx(np.sqrt(1 / np.sum(1 / v)), rel=1e-12)
    # every reported share lies in [0, 1], the raw (identity) transform included
    assert 0.0 <= row["share_lo"] <= row["share"] <= row["share_hi"] <= 1.0
    if row["share_pred_lo"] is not None:
        assert 0.0 <= row["share_pred_lo"] <= row["share"] <= row["share_pred_hi"] <= 1.0
    assert ((res.sites["share_lo"] >= 0) & (res.sites["share_hi"] <= 1)).all()


def test_raw_transform_clips_shares_but_not_effects() -> None:
    # small, heterogeneous shares: the raw prediction interval mu - t sqrt(tau2 + se2) < 0
    agg = pl.DataFrame(
        {"site": ["a", "b", "c", "d"], "n_patients": [1000] * 4, "n_reached": [1, 2, 30, 3]}
    )
    res = meta_proportion(agg, transform="raw", tau2="dl", ci="z")
    row = res.pooled.row(0, named=True)
    y = res.sites["effect"].to_numpy()
    v = res.sites["variance"].to_numpy()
    w = 1 / v
    q = np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2)
    tau2 = max(0.0, (q - 3) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    wr = 1 / (v + tau2)
    mu, se = np.sum(wr * y) / np.sum(wr), np.sqrt(1 / np.sum(wr))
    pi_lo = mu - stats.t.ppf(0.975, 2) * np.sqrt(tau2 + se**2)
    assert pi_lo < 0  # the unclipped bound
    assert row["share_pred_lo"] == 0.0
    assert row["share_pred_hi"] == pytest.approx(mu + stats.t.ppf(0.975, 2) * np.sqrt(tau2 + se**2))
    assert row["effect"] == pytest.approx(mu) and row["share"] == pytest.approx(mu)
    assert row["effect_lo"] == pytest.approx(mu - stats.norm.ppf(0.975) * se)
    assert row["share_lo"] == pytest.approx(max(0.0, row["effect_lo"]))
    site_a = res.sites.row(0, named=True)
    assert site_a["share_lo"] == pytest.approx(max(0.0, y[0] - 1.959964 * np.sqrt(v[0])))


def test_one_and_two_sites() -> None:
    one = meta_proportion(AGG.head(1)).pooled.row(0, named=True)
    assert one["n_sites"] == 1 and one["tau2"] == 0
    assert one["q_p"] is None and one["share_pred_lo"] is None
    assert one["share"] == pytest.approx(5 / 1000)
    two = meta_proportion(AGG.head(2)).pooled.row(0, named=True)
    assert two["n_sites"] == 2 and two["share_pred_lo"] is None and two["q_df"] == 1


@pytest.mark.parametrize("transform", ["logit", "raw", "arcsine"])
def test_site_intervals_hold_the_site_share(transform: str) -> None:
    """A site with 0 or all events: its interval holds its share (0 or 1); others unchanged."""
    agg = pd.DataFrame(
        {"site": list("abcd"), "n_patients": [147, 200, 30, 400], "n_reached": [0, 7, 30, 12]}
    )
    sites = meta_proportion(agg, transform=transform).sites
    assert ((sites["share_lo"] <= sites["share"]) & (sites["share"] <= sites["share_hi"])).all()
    assert sites["share_lo"][0] == 0.0 and sites["share_hi"][2] == 1.0
    if transform == "logit":
        # the other bounds: the Wald interval on the logit scale, by hand (scipy's normal
        # quantile and expit), with the 0.5 correction for site a's upper and c's lower bound
        z = stats.norm.ppf(0.975)
        for i, (x, n) in enumerate([(0.5, 148.0), (7, 200), (30.5, 31.0), (12, 400)]):
            y, se = np.log(x / (n - x)), np.sqrt(1 / x + 1 / (n - x))
            if i != 0:
                assert sites["share_lo"][i] == pytest.approx(special.expit(y - z * se), rel=1e-12)
            if i != 2:
                assert sites["share_hi"][i] == pytest.approx(special.expit(y + z * se), rel=1e-12)
