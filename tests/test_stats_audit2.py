"""Fixes of the second statistics audit, each checked against an independent computation.

* the GLMM of ``meta_proportion(model="glmm")`` against a likelihood integrated here on a fine
  trapezoid grid (cross-checked with ``scipy.integrate.quad``) and maximised by Nelder-Mead;
* the HKSJ interval's floor against closed forms and statsmodels' ``combine_effects``;
* input checks of ``extrapolate``, ``single_exam_share``, ``proportion_ci``;
* the labels, units and cells of ``readable`` and ``publication_table``, formatted by hand.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import integrate, optimize, special, stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.tools.sm_exceptions import InvalidTestWarning

from recurct.errors import DataError, ParameterError
from recurct.stats import (
    _glmm,
    dose_bands,
    extrapolate,
    meta_proportion,
    proportion_ci,
    publication_table,
    readable,
    single_exam_share,
    site_table,
)
from recurct.stats.meta import glmm_proportion

# ------------------------------------------------------------------ 1. the GLMM

_Z = np.linspace(-20.0, 20.0, 8001)  # b / tau: a fixed grid, no mode search
_LOGPDF = stats.norm.logpdf(_Z)


def ref_site_loglik(mu: float, tau: float, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log of integral Binomial-kernel(x | n, expit(mu + tau z)) phi(z) dz, by trapezoid."""
    eta = mu + tau * _Z[None, :]
    lf = x[:, None] * eta - n[:, None] * np.logaddexp(0.0, eta) + _LOGPDF[None, :]
    m = lf.max(axis=1)
    return np.log(np.trapezoid(np.exp(lf - m[:, None]), _Z, axis=1)) + m


def ref_nll(par: np.ndarray, x: np.ndarray, n: np.ndarray) -> float:
    return -float(np.sum(ref_site_loglik(par[0], abs(par[1]), x, n)))


def ref_fit(x: np.ndarray, n: np.ndarray) -> tuple[float, float, float, float]:
    """ML of the binomial-normal model (mu, tau2, se of mu, nll) with the trapezoid
    likelihood: Nelder-Mead from several starts, se from a finite-difference Hessian."""
    best = None
    for tau0 in (0.3, 1.0, 2.5):
        res = optimize.minimize(
            ref_nll,
            [special.logit(x.sum() / n.sum()), tau0],
            args=(x, n),
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-11, "maxiter": 4000},
        )
        if best is None or res.fun < best.fun:
            best = res
    b0 = np.array([best.x[0], abs(best.x[1])])
    h = 1e-4
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hess[i, j] = (
                ref_nll(b0 + ei + ej, x, n)
                - ref_nll(b0 + ei - ej, x, n)
                - ref_nll(b0 - ei + ej, x, n)
                + ref_nll(b0 - ei - ej, x, n)
            ) / (4 * h * h)
    return float(b0[0]), float(b0[1] ** 2), float(np.sqrt(np.linalg.inv(hess)[0, 0])), best.fun


def quad_site_loglik(mu: float, tau: float, xi: float, ni: float) -> float:
    """The same integral by adaptive quadrature (scipy.integrate.quad), in b."""
    c = xi * mu - ni * np.logaddexp(0.0, mu)

    def f(b: float) -> float:
        eta = mu + b
        return np.exp(xi * eta - ni * np.logaddexp(0.0, eta) - c + stats.norm.logpdf(b, 0, tau))

    val, _ = integrate.quad(f, -20 * tau, 20 * tau, points=[0.0], limit=400, epsabs=0)
    return float(np.log(val) + c)


AUDIT_X = np.array([300.0, 10.0, 10.0])
AUDIT_N = np.array([1000.0, 1000.0, 1000.0])


def test_reference_integral_agrees_with_quad() -> None:
    # the test's trapezoid reference is itself checked against scipy's adaptive quadrature
    for mu, tau in ((-3.35, 1.787), (-2.8, 0.4), (-1.0, 3.0)):
        want = [quad_site_loglik(mu, tau, xi, ni) for xi, ni in zip(AUDIT_X, AUDIT_N)]
        got = ref_site_loglik(mu, tau, AUDIT_X, AUDIT_N)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)


@pytest.mark.parametrize(("mu", "tau"), [(-3.35, 1.787), (-6.0, 5.0), (0.0, 3.0), (-2.0, 0.5)])
def test_glmm_site_loglik_equals_direct_integration(mu: float, tau: float) -> None:
    # the per-site likelihood far from a site's own logit (mu = -3.35 with a site at 30%):
    # the undamped Newton search for the mode oscillated there and gave -1.4e6
    got = _glmm._glmm_site_loglik(mu, tau, AUDIT_X, AUDIT_N)
    np.testing.assert_allclose(got, ref_site_loglik(mu, tau, AUDIT_X, AUDIT_N), atol=1e-7)


def test_glmm_audit_example_equals_reference_ml() -> None:
    # before the fix: effect -2.837, se 4.6e-07, tau2 3.43, share 5.535% (5.53534-5.53535%)
    got = glmm_proportion(AUDIT_X, AUDIT_N)
    mu, tau2, se, _ = ref_fit(AUDIT_X, AUDIT_N)
    assert mu == pytest.approx(-3.3528, abs=2e-3)  # the auditor's independent ML
    assert got["mu"] == pytest.approx(mu, abs=1e-4)
    assert got["tau2"] == pytest.approx(tau2, rel=1e-3)
    assert got["se"] == pytest.approx(se, rel=1e-2)
    row = meta_proportion(
        pl.DataFrame(
            {"site": ["a", "b", "c"], "n_patients": [1000] * 3, "n_reached": [300, 10, 10]}
        ),
        model="glmm",
    ).pooled.row(0, named=True)
    z = stats.norm.ppf(0.975)
    assert row["share"] == pytest.approx(special.expit(mu), abs=1e-4)  # 3.38%
    assert row["share_lo"] == pytest.approx(special.expit(mu - z * se), rel=1e-2)  # 0.45%
    assert row["share_hi"] == pytest.approx(special.expit(mu + z * se), rel=1e-2)  # 21.3%


@pytest.mark.slow  # the multistart Nelder-Mead reference takes 1 to 4 s per data set
@pytest.mark.parametrize(
    ("x", "n"),
    [  # k = 10, tau2 = 1 draws (numpy default_rng(2024)); the old fit failed on the last two
        (
            [86, 328, 106, 401, 177, 170, 82, 51, 656, 206],
            [1724, 3027, 1277, 1642, 1952, 1928, 3726, 3398, 3746, 3987],
        ),
        (
            [86, 47, 9, 332, 24, 104, 454, 70, 45, 108],
            [2461, 3894, 1724, 3694, 1587, 1237, 1950, 1735, 2918, 1554],
        ),
        (
            [52, 362, 48, 44, 606, 17, 54, 62, 38, 44],
            [1091, 3749, 2775, 2005, 2617, 3332, 1830, 2432, 1015, 1257],
        ),
        ([0, 3, 0, 1, 0], [40, 300, 25, 90, 12]),  # sites without events
    ],
)
def test_glmm_random_datasets_equal_reference_ml(x: list, n: list) -> None:
    xa, na = np.array(x, float), np.array(n, float)
    got = glmm_proportion(xa, na)
    mu, tau2, se, f = ref_fit(xa, na)
    # recurct's estimate is a maximum of the independent likelihood ...
    assert ref_nll(np.array([got["mu"], math.sqrt(got["tau2"])]), xa, na) <= f + 1e-6
    # ... and the same one, with the same standard error
    assert got["mu"] == pytest.approx(mu, abs=1e-3)
    assert got["tau2"] == pytest.approx(tau2, rel=1e-2, abs=1e-4)
    assert got["se"] == pytest.approx(se, rel=2e-2)


def test_glmm_mode_search_that_does_not_converge_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_glmm, "_MODE_MAXITER", 1)
    with pytest.raises(DataError, match="did not converge"):
        glmm_proportion(AUDIT_X, AUDIT_N)


def test_glmm_subgroup_without_events_is_named() -> None:
    table = pl.DataFrame(
        {
            "site": list("abcd"),
            "n_patients": [100, 100, 200, 300],
            "n_reached": [0, 0, 30, 12],
            "country": ["IT", "IT", "FR", "FR"],
        }
    )
    with pytest.raises(DataError, match=r"subgroup country='IT'.*0 of 200.*model='random'"):
        meta_proportion(table, model="glmm", subgroup="country")
    # the whole table has events: no error without subgroups, and the random-effects model
    # (continuity correction) handles the subgroup
    assert meta_proportion(table, model="glmm").pooled["share"][0] > 0
    assert meta_proportion(table, subgroup="country").subgroups.height == 2


# ------------------------------------------------------------------ 2./3. the HKSJ floor


def test_hksj_interval_of_identical_sites_is_not_empty() -> None:
    table = pl.DataFrame({"site": list("abc"), "n_patients": [20] * 3, "n_reached": [0] * 3})
    row = meta_proportion(table).pooled.row(0, named=True)
    # closed form: 0.5 of 21 after the continuity correction, tau2 = 0, se = sqrt(v / 3)
    y, v = math.log(0.5 / 20.5), 1 / 0.5 + 1 / 20.5
    half = stats.t.ppf(0.975, 2) * math.sqrt(v / 3)
    assert row["tau2"] == 0.0 and row["ci"] == "hksj"
    assert row["share"] == pytest.approx(special.expit(y), rel=1e-12)
    assert row["share_lo"] == pytest.approx(special.expit(y - half), rel=1e-9)
    assert row["share_hi"] == pytest.approx(special.expit(y + half), rel=1e-9)
    assert row["share_lo"] < row["share"] < row["share_hi"]


def test_hksj_se_floored_at_z_for_homogeneous_sites() -> None:
    x, n = np.array([10.0, 11.0, 9.0, 10.0]), np.full(4, 1000.0)
    table = pl.DataFrame({"site": list("abcd"), "n_patients": n, "n_reached": x})
    row = meta_proportion(table, tau2="dl").pooled.row(0, named=True)
    # closed form: the sites agree more than their variances imply, so DL's tau2 is 0 and the
    # plain HKSJ se (the scale q/(k-1) < 1) is below the z one; the interval uses the z se
    y, v = np.log(x / (n - x)), 1 / x + 1 / (n - x)
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    se_z = math.sqrt(1 / np.sum(w))
    se_hk = math.sqrt(np.sum(w * (y - mu) ** 2) / (3 * np.sum(w)))
    assert row["tau2"] == 0.0 and se_hk < se_z
    assert row["se"] == pytest.approx(se_z, rel=1e-12)
    t = stats.t.ppf(0.975, 3)
    assert row["effect_lo"] == pytest.approx(mu - t * se_z, rel=1e-10)
    assert row["effect_hi"] == pytest.approx(mu + t * se_z, rel=1e-10)


def test_hksj_se_unchanged_where_it_exceeds_z() -> None:
    table = pl.DataFrame(
        {"site": list("abcd"), "n_patients": [1000, 2000, 1500, 800], "n_reached": [5, 40, 12, 30]}
    )
    res = meta_proportion(table, tau2="dl", ci="hksj")
    row = res.pooled.row(0, named=True)
    y, v = res.sites["effect"].to_numpy(), res.sites["variance"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvalidTestWarning)
        sm = combine_effects(y, v, method_re="dl", use_t=True).summary_frame()
    se_hk, se_z = sm.loc["random effect wls", "sd_eff"], sm.loc["random effect", "sd_eff"]
    assert se_hk > se_z
    assert row["se"] == pytest.approx(se_hk, rel=1e-8)
    assert row["effect_lo"] == pytest.approx(sm.loc["random effect wls", "ci_low"], rel=1e-8)


def test_between_subgroup_q_with_identical_sites_in_a_subgroup() -> None:
    table = pl.DataFrame(
        {
            "site": list("abcd"),
            "n_patients": [100, 100, 200, 300],
            "n_reached": [5, 5, 30, 12],
            "country": ["IT", "IT", "FR", "FR"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was a RuntimeWarning and q_between NaN
        res = meta_proportion(table, subgroup="country")
    it = res.subgroups.filter(pl.col("country") == "IT").row(0, named=True)
    v = 1 / 5 + 1 / 95  # two identical sites: tau2 = 0, se = sqrt(v / 2)
    assert it["se"] == pytest.approx(math.sqrt(v / 2), rel=1e-9)
    assert math.isfinite(res.q_between) and 0 <= res.p_between <= 1


# ------------------------------------------------------------------ 4./5. extrapolate


def _countries(**cols: list) -> pl.DataFrame:
    base = {"country": ["A", "B"], "rate_per_1000": [1.0, 2.0], "population": [1e6, 2e6]}
    return pl.DataFrame({**base, **cols})


@pytest.mark.parametrize(
    ("cols", "column"),
    [
        ({"rate_per_1000": [1.0, float("nan")]}, "rate_per_1000"),
        ({"population": [1e6, float("nan")]}, "population"),
        ({"population": [1e6, float("inf")]}, "population"),
        ({"rate_per_1000": [1.0, 2000.0]}, "rate_per_1000"),
        (
            {"rate_per_1000_lo": [0.5, 1.0], "rate_per_1000_hi": [1.5, float("inf")]},
            "rate_per_1000_hi",
        ),
    ],
)
def test_per_country_refuses_non_finite_and_too_large_values(cols: dict, column: str) -> None:
    with pytest.raises(DataError, match=rf"'{column}'.*\(1, 'B'\)"):
        extrapolate(per_country=_countries(**cols))


@pytest.mark.parametrize("value", [["1", "2"], [True, False]])
def test_per_country_refuses_text_and_booleans(value: list) -> None:
    with pytest.raises(DataError, match="'rate_per_1000' must hold numbers"):
        extrapolate(per_country=_countries(rate_per_1000=value))


def test_rate_per_1000_is_at_most_1000() -> None:
    with pytest.raises(ParameterError, match=r"rate_per_1000.*\[0, 1000\]"):
        extrapolate(2000.0, 1e6)
    with pytest.raises(ParameterError, match="rate_ci"):
        extrapolate(900.0, 1e6, rate_ci=(800.0, 1200.0))
    everyone = extrapolate(1000.0, 1e6)  # the bound itself: everyone reaches T
    assert everyone["share"][0] == 1.0 and everyone["expected"][0] == 1e6


# ------------------------------------------------------------------ 6./9. publish


def test_readable_converts_every_share_column_of_a_site_summary() -> None:
    sites = pl.DataFrame(
        {
            "site": ["A", "B", "C"],
            "n_patients": [120_000, 85_000, 40_000],
            "n_reached": [900, 310, 0],
        }
    )
    summary = site_table(sites).summary
    out = readable(summary, threshold=100)
    shares = [c for c in summary.columns if "share" in c.split("_")]
    assert len(shares) == 7  # share, share_lo, share_hi, mean, median, min, max
    labels = [c for c in out.columns if c.endswith("(%)")]
    assert len(labels) == 7
    for c, label in zip(shares, labels):
        assert out[label][0] == pytest.approx(100 * summary[c][0], rel=1e-12)
    assert out["Highest site share ≥ 100 mSv (%)"][0] == pytest.approx(100 * 900 / 120_000)


def test_readable_meta_pooled_prediction_interval_in_percent() -> None:
    sites = pl.DataFrame(
        {"site": list("abcd"), "n_patients": [1000, 2000, 1500, 800], "n_reached": [5, 40, 12, 30]}
    )
    pooled = meta_proportion(sites).pooled
    out = readable(pooled, threshold=100)
    assert out["95% prediction interval low (%)"][0] == pytest.approx(
        100 * pooled["share_pred_lo"][0]
    )
    assert out["95% prediction interval high (%)"][0] == pytest.approx(
        100 * pooled["share_pred_hi"][0]
    )
    assert out["Pooled share ≥ 100 mSv (%)"][0] == pytest.approx(100 * pooled["share"][0])
    assert out["I² (%)"][0] == pytest.approx(100 * pooled["i2"][0])


def test_readable_dose_bands_share_is_not_labelled_as_the_threshold() -> None:
    patients = pl.DataFrame({"patient_id": range(50), "ced_msv": np.linspace(0, 300, 50)})
    bands = dose_bands(patients)
    out = readable(bands)
    assert not any("≥" in c for c in out.columns)
    assert out["Share (%)"].to_list() == pytest.approx((100 * bands["share"]).to_list())
    assert out["cum_share_ge (%)"].to_list() == pytest.approx(
        (100 * bands["cum_share_ge"]).to_list()
    )


def test_publication_table_of_a_meta_pooled_row() -> None:
    sites = pl.DataFrame(
        {
            "site": ["A", "B", "C"],
            "n_patients": [120_000, 85_000, 40_000],
            "n_reached": [900, 310, 0],
        }
    )
    pooled = meta_proportion(sites).pooled
    r = pooled.row(0, named=True)
    cells = publication_table(pooled, threshold=100).row(0, named=True)
    # the crude count with its own crude share, never with the pooled share
    assert (
        cells["Patients with CED ≥ 100 mSv, n (crude %)"] == f"1,210 ({100 * 1210 / 245_000:.2f}%)"
    )
    # a lower limit above 0 that rounds to 0.00% is shown as "<0.01"
    assert 0 < 100 * r["share_lo"] < 0.005
    assert cells["Pooled share ≥ 100 mSv, % (95% CI)"] == (
        f"{100 * r['share']:.2f}%, <0.01–{100 * r['share_hi']:.2f}"
    )
    assert cells["Sites"] == "3" and cells["Patients"] == "245,000"
    assert cells["Method"] == "random effects, logit, REML τ², HKSJ CI"


def test_publication_table_prints_float_counts_as_integers() -> None:
    table = pd.DataFrame(
        {
            "threshold": [100.0, 100.0],
            "n_patients": [1000, None],  # a NaN makes the count columns float
            "n_exams": [2500, 3],
            "n_reached": [33, None],
            "share": [0.033, None],
            "share_lo": [0.0236, None],
            "share_hi": [0.0460, None],
        }
    )
    assert table["n_patients"].dtype == float
    row = publication_table(table).iloc[0]
    assert row["Patients"] == "1,000"
    assert row["Patients with CED ≥ 100 mSv, n (%, 95% CI)"] == "33 (3.30%, 2.36–4.60)"
    assert publication_table(table).iloc[1]["Patients"] == "–"


# ------------------------------------------------------------------ 7. single_exam_share


def test_single_exam_share_refuses_null_patient_ids() -> None:
    exams = pl.DataFrame({"patient_id": [1, 1, 2, None], "effective_dose_msv": [1.0, 120, 3, 4]})
    with pytest.raises(DataError, match=r"'patient_id' is null in row\(s\) 3"):
        single_exam_share(exams)


# ------------------------------------------------------------------ proportion_ci


@pytest.mark.parametrize(
    ("count", "nobs"), [("1", 10), (True, 10), (1, True), (["1", "2"], [3, 4])]
)
def test_proportion_ci_refuses_text_and_booleans(count: object, nobs: object) -> None:
    with pytest.raises(ParameterError, match="must be numbers"):
        proportion_ci(count, nobs)
