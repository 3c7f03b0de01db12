"""REML, Paule-Mandel, HKSJ and the binomial-normal GLMM of recurct.stats.meta, each against an
independent implementation: statsmodels' combine_effects, a direct scipy maximisation of the
restricted likelihood, and a GLMM likelihood integrated by scipy.integrate.quad."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.tools.sm_exceptions import InvalidTestWarning

from recurct.stats.meta import glmm_proportion, meta_proportion, tau2_estimate

FOUR = pl.DataFrame(
    {"site": list("abcd"), "n_patients": [1000, 2000, 1500, 800], "n_reached": [5, 40, 12, 30]}
)


def restricted_nll(t: float, y: np.ndarray, v: np.ndarray) -> float:
    """Negative restricted log-likelihood of the normal-normal model at tau2 = ``t``."""
    w = 1 / (v + t)
    mu = np.sum(w * y) / np.sum(w)
    return 0.5 * (np.sum(np.log(v + t)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))


def reml_by_scipy(y: np.ndarray, v: np.ndarray) -> float:
    """Maximise the restricted log-likelihood of the normal-normal model with scipy."""

    def nll(t: float) -> float:
        return restricted_nll(t, y, v)

    # multistart L-BFGS-B on log(tau2) and a check of the boundary tau2 = 0
    best_t, best_f = 0.0, nll(0.0)
    for start in (-9.0, -5.0, -2.0, 0.0, 2.0):
        res = optimize.minimize(
            lambda a: nll(np.exp(a[0])),
            [start],
            method="L-BFGS-B",
            bounds=[(-20.0, 6.0)],
            options={"ftol": 1e-15, "gtol": 1e-12},
        )
        if res.fun < best_f - 1e-13:
            best_t, best_f = float(np.exp(res.x[0])), res.fun
    if best_t > 0:  # polish on log(tau2) by a bounded scalar search: where the likelihood is
        # flat, L-BFGS-B stops up to ~0.5 % short (3 sites with 1 event each, for example)
        a = np.log(best_t)
        res = optimize.minimize_scalar(
            lambda a: nll(np.exp(a)), bounds=(a - 1.0, a + 1.0), method="bounded",
            options={"xatol": 1e-12},
        )  # fmt: skip
        if res.fun < best_f:
            best_t = float(np.exp(res.x))
    return best_t


def effects(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.log(x / (n - x)), 1 / x + 1 / (n - x)


sites_strategy = st.lists(
    st.tuples(st.integers(50, 5000), st.floats(0.005, 0.5)), min_size=3, max_size=10
)


@given(sites_strategy)
@example(sites=[(50, 0.015625), (50, 0.015625), (279, 0.005)])  # a flat likelihood
@settings(max_examples=15, deadline=None)
def test_reml_equals_direct_likelihood_maximisation(sites: list) -> None:
    n = np.array([s[0] for s in sites], dtype=float)
    x = np.maximum(1, np.round(np.array([s[1] for s in sites]) * n))
    y, v = effects(x, n)
    want = reml_by_scipy(y, v)
    got = tau2_estimate(y, v, "reml")
    # the REML estimate maximises the restricted likelihood: at least as well as scipy, and
    # equal to scipy's maximiser unless the likelihood is flat (to 1e-12) between the two
    assert restricted_nll(got, y, v) <= restricted_nll(want, y, v) + 1e-12
    flat = abs(restricted_nll(got, y, v) - restricted_nll(want, y, v)) < 1e-12
    assert flat or got == pytest.approx(want, rel=1e-5, abs=1e-8)


@given(sites_strategy)
@settings(max_examples=40, deadline=None)
def test_paule_mandel_equals_statsmodels(sites: list) -> None:
    n = np.array([s[0] for s in sites], dtype=float)
    x = np.maximum(1, np.round(np.array([s[1] for s in sites]) * n))
    y, v = effects(x, n)
    got = tau2_estimate(y, v, "pm")
    w0 = 1 / v
    q0 = np.sum(w0 * (y - np.sum(w0 * y) / np.sum(w0)) ** 2)
    if q0 <= len(y) - 1:  # no excess heterogeneity: tau2 = 0
        assert got == 0.0
    else:
        # statsmodels iterates to its own tolerance (about 1e-5 relative)
        sm = combine_effects(y, v, method_re="pm")
        assert got == pytest.approx(sm.tau2, rel=1e-4, abs=1e-9)
        # the defining equation: generalised Q = k - 1
        w = 1 / (v + got)
        mu = np.sum(w * y) / np.sum(w)
        assert np.sum(w * (y - mu) ** 2) == pytest.approx(len(y) - 1, rel=1e-8)


def test_hksj_equals_statsmodels_wls_with_t() -> None:
    res = meta_proportion(FOUR, tau2="pm", ci="hksj")
    row = res.pooled.row(0, named=True)
    y = res.sites["effect"].to_numpy()
    v = res.sites["variance"].to_numpy()
    with warnings.catch_warnings():  # statsmodels: site CIs need nobs (not used here)
        warnings.simplefilter("ignore", InvalidTestWarning)
        sm = combine_effects(y, v, method_re="pm", use_t=True)
        frame = sm.summary_frame()
    assert row["tau2"] == pytest.approx(sm.tau2, rel=1e-8)
    assert row["effect"] == pytest.approx(frame.loc["random effect wls", "eff"], rel=1e-10)
    assert row["se"] == pytest.approx(frame.loc["random effect wls", "sd_eff"], rel=1e-8)
    assert row["effect_lo"] == pytest.approx(frame.loc["random effect wls", "ci_low"], rel=1e-8)
    assert row["effect_hi"] == pytest.approx(frame.loc["random effect wls", "ci_upp"], rel=1e-8)
    assert row["tau2_method"] == "pm" and row["ci"] == "hksj"


def test_default_reml_hksj_closed_form() -> None:
    res = meta_proportion(FOUR)
    row = res.pooled.row(0, named=True)
    y = res.sites["effect"].to_numpy()
    v = res.sites["variance"].to_numpy()
    tau2 = reml_by_scipy(y, v)
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    se = np.sqrt(np.sum(w * (y - mu) ** 2) / (3 * np.sum(w)))
    t = stats.t.ppf(0.975, 3)
    assert row["tau2"] == pytest.approx(tau2, rel=1e-6)
    assert row["share"] == pytest.approx(special.expit(mu), rel=1e-7)
    assert row["share_lo"] == pytest.approx(special.expit(mu - t * se), rel=1e-6)
    assert row["share_hi"] == pytest.approx(special.expit(mu + t * se), rel=1e-6)
    # few sites: the HKSJ interval is wider than DerSimonian-Laird's z interval here
    dl = meta_proportion(FOUR, tau2="dl", ci="z").pooled.row(0, named=True)
    assert row["share_lo"] < dl["share_lo"] and row["share_hi"] > dl["share_hi"]


def test_fixed_effect_ignores_tau2_and_hksj() -> None:
    a = meta_proportion(FOUR, model="fixed").pooled.row(0, named=True)
    b = meta_proportion(FOUR, model="fixed", tau2="dl", ci="z").pooled.row(0, named=True)
    for key in ("effect", "se", "effect_lo", "effect_hi", "share_lo", "share_hi"):
        assert a[key] == b[key]
    assert a["ci"] == "z" and a["share_pred_lo"] is None
    assert a["tau2"] == pytest.approx(
        reml_by_scipy(*effects(FOUR["n_reached"].to_numpy(), FOUR["n_patients"].to_numpy())),
        rel=1e-6,
    )


def glmm_by_quad(x: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """ML of the binomial-normal model: quad integration, Nelder-Mead on (mu, log tau)."""

    def site_lik(mu: float, tau: float, xi: float, ni: float) -> float:
        def f(b: float) -> float:
            eta = mu + b
            return np.exp(
                xi * eta - ni * np.logaddexp(0, eta) + stats.norm.logpdf(b, 0, tau) + c[0]
            )

        c = [-(xi * mu - ni * np.logaddexp(0, mu))]  # scale so the integrand is near 1
        val, _ = integrate.quad(f, -12 * tau, 12 * tau, points=[0.0], limit=200, epsabs=0)
        return np.log(val) - c[0]

    def nll(par: np.ndarray) -> float:
        mu, tau = par[0], np.exp(par[1])
        return -sum(site_lik(mu, tau, xi, ni) for xi, ni in zip(x, n))

    start = np.array([special.logit(x.sum() / n.sum()), np.log(0.5)])
    res = optimize.minimize(
        nll, start, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000}
    )
    return float(res.x[0]), float(np.exp(res.x[1]) ** 2)


@pytest.mark.slow  # the quad + Nelder-Mead reference takes a few seconds per case
@pytest.mark.parametrize(
    "x, n",
    [
        ([5, 40, 12, 30], [1000, 2000, 1500, 800]),
        ([0, 3, 9, 1, 20], [400, 900, 1200, 300, 2500]),  # a site without events
        ([30, 60, 10, 45, 25, 5], [200, 300, 150, 250, 100, 90]),
    ],
)
def test_glmm_equals_quadrature_likelihood(x: list, n: list) -> None:
    xa, na = np.array(x, float), np.array(n, float)
    got = glmm_proportion(xa, na)
    mu, tau2 = glmm_by_quad(xa, na)
    assert got["mu"] == pytest.approx(mu, abs=1e-4)
    assert got["tau2"] == pytest.approx(tau2, rel=2e-3)
    agg = pl.DataFrame({"site": [f"s{i}" for i in range(len(x))], "n_patients": n, "n_reached": x})
    row = meta_proportion(agg, model="glmm").pooled.row(0, named=True)
    assert row["share"] == pytest.approx(special.expit(got["mu"]))
    assert row["tau2_method"] == "ml" and row["ci"] == "z"
    z = stats.norm.ppf(0.975)
    assert row["effect_lo"] == pytest.approx(got["mu"] - z * got["se"])


def test_glmm_homogeneous_sites_reduce_to_binomial() -> None:
    x, n = np.array([10.0, 20.0, 30.0]), np.array([100.0, 200.0, 300.0])
    got = glmm_proportion(x, n)
    assert got["tau2"] == pytest.approx(0, abs=1e-6)
    assert got["mu"] == pytest.approx(special.logit(0.1), abs=1e-6)
    assert got["se"] == pytest.approx(1 / np.sqrt(600 * 0.1 * 0.9), rel=1e-4)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="tau2"):
        meta_proportion(FOUR, tau2="sj")
    with pytest.raises(ValueError, match="ci must"):
        meta_proportion(FOUR, ci="t")
    with pytest.raises(ValueError, match="logit"):
        meta_proportion(FOUR, model="glmm", transform="arcsine")
    with pytest.raises(ValueError, match="no site has an event"):
        glmm_proportion([0, 0], [10, 20])
