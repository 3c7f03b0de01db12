"""Inverse-variance meta-analysis of site proportions (share of patients reaching T).

Notes
-----
Each site contributes ``x`` events (``n_reached``) out of ``n`` (``n_patients``). Its proportion is
moved to a transformed scale, pooled there with inverse-variance weights and back-transformed.

``transform="logit"``
    ``y = log(x / (n - x))``, ``v = 1/x + 1/(n - x)``. Sites with 0 or ``n`` events get the
    continuity correction ``continuity`` (default 0.5) added to events and non-events
    (``x + c`` out of ``n + 2c``); other sites are left untouched (the "only zero cells"
    convention of the R package *meta*). Back-transform: ``expit``.
``transform="raw"``
    ``y = x/n``, ``v = y(1-y)/n``, with the same correction for 0 or ``n`` events (otherwise
    the variance is 0). Back-transform: identity, clipped to [0, 1]: the reported shares
    (``share``, ``share_lo``/``share_hi`` of the CI and of each site, ``share_pred_lo``/
    ``share_pred_hi`` of the prediction interval) stay in [0, 1], while ``effect``,
    ``effect_lo`` and ``effect_hi`` keep the unclipped normal-theory values (a bound clipped
    at 0 shows the interval is not trustworthy for such small shares: prefer ``"logit"`` or
    ``"arcsine"`` there).
``transform="arcsine"``
    Freeman-Tukey double arcsine on the half scale used by *metafor* (``measure="PFT"``):
    ``y = (asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1)))) / 2``, ``v = 1/(4n + 2)``; defined at
    0 and ``n`` events, so no correction. Back-transform: Miller's (1978) inversion,
    ``p = (1 - sign(cos 2y) sqrt(1 - (sin 2y + (sin 2y - 1/sin 2y)/n)^2)) / 2``, with ``n``
    the site's own size for site rows and the harmonic mean of the site sizes for pooled
    estimates, CIs and prediction intervals (as *metafor*'s ``transf.ipft.hm``; see Schwarzer
    et al. 2019, Res Synth Methods 10:476, for the caveats of this choice).

Fixed effect: weights ``1/v``. Random effects: weights ``1/(v + tau^2)`` with the
between-site variance ``tau^2`` estimated by (``tau2=``):

``"reml"`` (default)
    Restricted maximum likelihood (the default of R's *metafor*): the ``tau^2 >= 0`` that
    minimises ``0.5 (sum log(v + tau^2) + log sum w + sum w (y - mu)^2)`` with
    ``w = 1/(v + tau^2)``, found by direct minimisation, not by metafor's Fisher-scoring
    fixed point (Viechtbauer 2005, J Educ Behav Stat 30:261), which can stop at the lesser
    of two maxima of the restricted likelihood (one of them at 0): a search over a grid
    (0 and 241 log-spaced values from ``1e-6`` to ``100`` times
    ``max(var(y), mean(v))``), then a bounded Brent minimisation
    (``scipy.optimize.minimize_scalar(method="bounded")``) between the neighbours of the best
    grid value; 0 where the likelihood is highest at 0. Where the fixed point converges to
    the global maximum the two give the same ``tau^2``.
``"pm"``
    Paule-Mandel: the ``tau^2 >= 0`` at which the generalised Q statistic
    ``sum w (y - mu)^2`` equals ``k - 1`` (0 where it is below ``k - 1`` at ``tau^2 = 0``).
``"dl"``
    DerSimonian-Laird ``max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))``.

``Q`` is Cochran's heterogeneity statistic (``k - 1`` df, chi-squared p-value), ``I^2 =
max(0, (Q - df)/Q)``. The CI of the pooled random effect (``ci=``) is ``"hksj"`` (default):
Hartung-Knapp-Sidik-Jonkman, ``mu +- t_{k-1} se`` with ``se = max(se_HK, se_z)``,
``se_HK^2 = sum w (y - mu)^2 / ((k - 1) sum w)`` and ``se_z^2 = 1 / sum w``, or ``"z"``:
``mu +- z se_z``. The floor at ``se_z`` is the ad hoc modification of Knapp & Hartung (2003,
Stat Med 22:2693) discussed by Jackson, Law, Rücker & Schwarzer (2017, Stat Med 36:3923):
without it the interval has zero width where every site has the same effect (e.g. three sites
with 0 events each), and is narrower than the z interval whenever the sites agree more than
their variances imply. It makes the interval conservative with very few, homogeneous sites.
Coverage of the true pooled logit by 95% intervals (REML ``tau^2``, 2,000 simulated data sets
each): 3 sites of 20 patients, share 3%, ``tau^2 = 0``: 1.000 with the floor, 0.769 without it
(436 intervals of zero width), 0.958 for ``"z"``; 5 sites of 200, pooled share 5%,
``tau^2 = 0.3``: 0.965, 0.952 without, 0.891 ``"z"``; 10 sites of 500, pooled share 2%,
``tau^2 = 0.5``: 0.947, 0.946 without, 0.905 ``"z"``. Where ``se_HK >= se_z`` the interval is
the plain HKSJ one, that of ``statsmodels.stats.meta_analysis.combine_effects(...,
use_t=True)`` (with ``tau2="pm"`` and ``tau^2 > 0`` the two standard errors are equal). A
fixed effect always has the z interval; so has a single site.
The prediction interval (random effects, ``k >= 3``) is ``mu +- t_{k-2} sqrt(tau^2 + se^2)``
(Higgins, Thompson & Spiegelhalter 2009, J R Stat Soc A 172:137), with the ``se`` of the chosen
CI. With ``tau2="dl"`` and ``ci="z"`` the results equal
``statsmodels.stats.meta_analysis.combine_effects(y, v, method_re="dl")`` whenever ``Q > k - 1``;
when ``Q <= k - 1`` statsmodels (0.15) returns the untruncated, negative moment estimate of
``tau^2``, whereas this module truncates it at 0 as DerSimonian & Laird (1986) do.

``model="glmm"`` fits the binomial-normal random-intercept model (logit transform only):
``x_i ~ Binomial(n_i, expit(mu + b_i))``, ``b_i ~ N(0, tau^2)``, by maximum likelihood; the
integral over ``b_i`` is computed by adaptive Gauss-Hermite quadrature (30 nodes around each
site's mode) and the likelihood maximised over ``(mu, tau)`` with ``scipy.optimize``; the CI is
Wald (z) with the standard error of ``mu`` from the observed information. Before the
quadrature each site's integrand is centred on its mode, found by Newton's method started
between ``mu`` and the site's own logit ``logit((x + 1/2)/(n + 1))`` (their precision-weighted
mean) and kept inside a bracket that always holds the mode (a step leaving it is replaced by
bisection), so the search converges (it stops when a step is below ``1e-12`` relative; a
failure would raise ``DataError``). It needs no continuity correction (sites with 0 events
enter as they are), but the pooled logit is only finite if some site has an event and some
patient has none: a table, or with ``subgroup`` a subgroup, without events raises
``DataError`` naming it (use ``model="random"``, whose continuity correction handles it).
``sites.weight`` then holds the inverse-variance weights ``1/(v + tau^2)`` for display only.

Why REML and HKSJ by default: recurct's multi-site studies pool few sites (4 to 20), where the
DerSimonian-Laird estimate of ``tau^2`` is biased downwards and the z interval is too narrow;
REML is the default of *metafor* and, with Paule-Mandel, the estimator recommended by Veroniki
et al. (2016, Res Synth Methods 7:55), and the HKSJ interval keeps close to its nominal
coverage with few studies (IntHout, Ioannidis & Borm 2014, BMC Med Res Methodol 14:25). For
rare events (shares near 0, sites with no event) ``model="glmm"`` models the binomial counts
exactly instead of a normal approximation on the logit scale, so its point estimate needs no
continuity correction; but its Wald interval ignores the uncertainty in ``tau^2`` and
undercovers with few sites: in simulations of 300 data sets each, a 95% interval covered the
true pooled logit 0.830 of the time with 5 sites of about 200 patients (``tau^2 = 0.3``,
pooled share about 5%), 0.913 with 8 sites of about 1,000 (``tau^2 = 0.5``, about 2%) and
0.907 with 10 of about 2,000 (``tau^2 = 1``, about 5%). With few sites report the REML + HKSJ
interval, the GLMM as a sensitivity analysis.

Subgroups (``subgroup="country"`` or ``"academic"``) are pooled separately (each with its own
``tau^2``); the between-group test is ``Q_between = sum_g W_g (mu_g - mu_w)^2`` over the
subgroup estimates ``mu_g`` with weights ``W_g = 1/se_g^2`` and ``mu_w`` their weighted mean,
``G - 1`` df (the "separate tau^2" test of RevMan and *meta*). A null subgroup value forms its
own group, labelled ``"not stated"`` (a subgroup value ``"not stated"`` is refused,
``DataError``: it would merge with it); a subgroup column may not be named like an output
column (``ParameterError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from scipy import optimize, stats

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars, to_polars
from recurct.errors import DataError, ParameterError
from recurct.stats._common import TMP, result_repr
from recurct.stats._glmm import glmm_proportion
from recurct.stats.multisite import as_aggregates, is_aggregates

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = [
    "MetaResult",
    "back_transform",
    "effect_sizes",
    "glmm_proportion",
    "meta_proportion",
    "tau2_estimate",
]

Transform = Literal["logit", "arcsine", "raw"]
Tau2Method = Literal["reml", "pm", "dl"]
CIMethod = Literal["hksj", "z"]
TAU2_METHODS = ("reml", "pm", "dl")
CI_METHODS = ("hksj", "z")
MISSING_GROUP = "not stated"


@dataclass(frozen=True, repr=False)
class MetaResult:
    """Result of :func:`meta_proportion`.

    Attributes
    ----------
    pooled : DataFrame
        One row: ``model``, ``transform``, ``n_sites``, ``n_patients``, ``n_reached``, ``effect``,
        ``se``, ``effect_lo``, ``effect_hi`` (transformed scale), ``share``, ``share_lo``,
        ``share_hi`` (back-transformed, always in [0, 1]: with ``transform="raw"`` clipped),
        ``share_pred_lo``, ``share_pred_hi`` (prediction interval on the share scale, in
        [0, 1]; random effects with k >= 3, else null), ``tau2``, ``i2``, ``q``, ``q_df``, ``q_p``,
        ``tau2_method`` (``"reml"``, ``"pm"``, ``"dl"``, ``"ml"`` for the GLMM; a fixed effect
        reports ``tau2`` for information but does not use it) and ``ci``
        (``"hksj"`` or ``"z"``: the interval used).
    sites : DataFrame
        One row per site: ``site``, ``n_patients``, ``n_reached``, ``share`` (x/n), ``share_lo``,
        ``share_hi`` (the site's CI on the transformed scale, back-transformed, so it matches
        the pooled estimate in a forest plot; a site with 0 events has ``share_lo = 0``, one
        with all events ``share_hi = 1``, so that the interval holds ``share``), ``effect``,
        ``variance``, ``corrected`` (a continuity correction was applied), ``weight``
        (relative weight of the chosen model), and the subgroup column if any.
    subgroups : DataFrame or None
        One row per subgroup (first column named after ``subgroup``) with the columns of
        ``pooled``; None without ``subgroup``.
    q_between, df_between, p_between : float or None
        Between-subgroup heterogeneity test (None without ``subgroup``).
    """

    pooled: Frame
    sites: Frame
    subgroups: Frame | None = None
    q_between: float | None = None
    df_between: int | None = None
    p_between: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return result_repr(self)


def effect_sizes(
    x: np.ndarray, n: np.ndarray, transform: Transform = "logit", continuity: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transformed proportions and their variances: ``(effect, variance, corrected)``.

    See the module docstring for the formulas and the continuity correction.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    if transform == "arcsine":
        y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
        return y, 1.0 / (4 * n + 2), np.zeros(x.shape, dtype=bool)
    if not isinstance(transform, str) or transform not in ("logit", "raw"):
        raise ParameterError(f"transform must be 'logit', 'arcsine' or 'raw', got {transform!r}")
    corrected = (x == 0) | (x == n)
    if corrected.any() and not continuity > 0:
        raise ParameterError(
            f"{int(corrected.sum())} site(s) have 0 or all events: the {transform} transform "
            "needs continuity > 0 (or use transform='arcsine')"
        )
    xc = np.where(corrected, x + continuity, x)
    nc = np.where(corrected, n + 2 * continuity, n)
    if transform == "logit":
        return np.log(xc / (nc - xc)), 1.0 / xc + 1.0 / (nc - xc), corrected
    p = xc / nc
    return p, p * (1 - p) / nc, corrected


def back_transform(y: Any, transform: Transform, n: Any = None) -> np.ndarray:
    """Proportion from a transformed value (``n``: sample size for the Miller inversion)."""
    y = np.asarray(y, dtype=float)
    if transform == "logit":
        return 1.0 / (1.0 + np.exp(-y))
    if transform == "raw":
        return np.clip(y, 0.0, 1.0)  # a proportion; the normal-theory bounds can pass 0 or 1
    if transform != "arcsine":
        raise ParameterError(f"transform must be 'logit', 'arcsine' or 'raw', got {transform!r}")
    if n is None:
        raise ParameterError("the arcsine back-transform needs n")
    n = np.asarray(n, dtype=float)
    t = 2.0 * y
    s = np.sin(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 - (s + (s - 1.0 / s) / n) ** 2
        p = 0.5 * (1.0 - np.sign(np.cos(t)) * np.sqrt(np.clip(inner, 0.0, None)))
    # outside the range reachable with n (0 or n events), the inversion is 0 or 1
    y0 = 0.5 * np.arcsin(np.sqrt(1.0 / (n + 1)))
    y1 = 0.5 * (np.arcsin(np.sqrt(n / (n + 1))) + np.pi / 2)
    p = np.where(y <= y0, 0.0, np.where(y >= y1, 1.0, p))
    return np.clip(p, 0.0, 1.0)


def _q_gen(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Generalised Q: ``sum w (y - mu)^2`` with ``w = 1/(v + tau2)``."""
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mu) ** 2))


def tau2_estimate(y: Any, v: Any, method: Tau2Method = "reml") -> float:
    """Between-study variance ``tau^2`` of effects ``y`` with within-study variances ``v``.

    Parameters
    ----------
    y, v : array of float
        Effects and their (positive) variances, one per study or site.
    method : {"reml", "pm", "dl"}
        Restricted maximum likelihood, Paule-Mandel or DerSimonian-Laird (see the module
        docstring for the formulas).

    Returns
    -------
    float
        ``tau^2 >= 0`` (0 for fewer than 2 studies).
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    k = y.size
    if not isinstance(method, str) or method not in TAU2_METHODS:
        raise ParameterError(f"tau2 must be one of {TAU2_METHODS}, got {method!r}")
    if k < 2:
        return 0.0
    w = 1.0 / v
    if method == "dl":
        mu = np.sum(w * y) / np.sum(w)
        q = float(np.sum(w * (y - mu) ** 2))
        c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
        return max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    if method == "pm":
        if _q_gen(y, v, 0.0) <= k - 1:
            return 0.0
        hi = max(float(np.var(y, ddof=1)), 1e-12)
        while _q_gen(y, v, hi) > k - 1:  # Q decreases in tau2: bracket the root
            hi *= 2.0
        return float(optimize.brentq(lambda t: _q_gen(y, v, t) - (k - 1), 0.0, hi, xtol=1e-14))
    # REML: the restricted likelihood can have two maxima (one at 0), so a fixed-point
    # iteration alone may stop at the lesser; search a grid, refine with Brent's method
    scale = max(float(np.var(y, ddof=1)), float(np.mean(v)), 1e-12)
    grid = np.concatenate([[0.0], scale * np.geomspace(1e-6, 100.0, 241)])
    vals = np.array([_reml_nll(y, v, t) for t in grid])
    i = int(np.argmin(vals))
    if i == 0 and vals[0] <= _reml_nll(y, v, grid[1] * 1e-3):
        return 0.0
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        lambda t: _reml_nll(y, v, t),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-14 * scale},
    )
    return float(res.x) if res.fun <= vals[i] else float(grid[i])


def _reml_nll(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return 0.5 * float(np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))


def _pool(
    y: np.ndarray,
    v: np.ndarray,
    method: str,
    alpha: float,
    tau2_method: Tau2Method = "reml",
    ci: CIMethod = "hksj",
    x: np.ndarray | None = None,
    n: np.ndarray | None = None,
) -> dict[str, Any]:
    k = y.size
    w = 1.0 / v
    mu_fe = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mu_fe) ** 2))
    df = k - 1
    z = stats.norm.ppf(1 - alpha / 2)
    if method == "glmm":
        fit = glmm_proportion(x, n)  # type: ignore[arg-type]
        tau2 = fit["tau2"]
        mu, se = fit["mu"], fit["se"]
        ww = 1.0 / (v + tau2)
        lo, hi, ci_used = mu - z * se, mu + z * se, "z"
    else:
        tau2 = tau2_estimate(y, v, tau2_method)
        ww = w if method == "fixed" else 1.0 / (v + tau2)
        mu = float(np.sum(ww * y) / np.sum(ww))
        se = float(np.sqrt(1.0 / np.sum(ww)))
        if method == "random" and ci == "hksj" and k >= 2:
            # Knapp & Hartung's (2003) ad hoc floor: never below the z interval's se (the
            # plain HKSJ se is 0 where every site has the same effect)
            se_hk = float(np.sqrt(np.sum(ww * (y - mu) ** 2) / (df * np.sum(ww))))
            se = max(se_hk, se)
            crit = stats.t.ppf(1 - alpha / 2, df)
            ci_used = "hksj"
        else:
            crit, ci_used = z, "z"
        lo, hi = mu - crit * se, mu + crit * se
    pi_lo = pi_hi = None
    if method != "fixed" and k >= 3:
        tcrit = stats.t.ppf(1 - alpha / 2, k - 2)
        half = tcrit * np.sqrt(tau2 + se**2)
        pi_lo, pi_hi = mu - half, mu + half
    return {
        "n_sites": k,
        "effect": mu,
        "se": se,
        "effect_lo": lo,
        "effect_hi": hi,
        "pred_lo": pi_lo,
        "pred_hi": pi_hi,
        "tau2": tau2,
        "i2": max(0.0, (q - df) / q) if df > 0 and q > 0 else (0.0 if df > 0 else None),
        "q": q,
        "q_df": df,
        "q_p": float(stats.chi2.sf(q, df)) if df > 0 else None,
        "tau2_method": "ml" if method == "glmm" else tau2_method,
        "ci": ci_used,
        "_weights": ww / np.sum(ww),
    }


def _pooled_row(
    y: np.ndarray,
    v: np.ndarray,
    x: np.ndarray,
    n: np.ndarray,
    method: str,
    transform: Transform,
    alpha: float,
    tau2_method: Tau2Method = "reml",
    ci: CIMethod = "hksj",
) -> tuple[dict[str, Any], np.ndarray]:
    r = _pool(y, v, method, alpha, tau2_method, ci, x, n)
    weights = r.pop("_weights")
    n_bt = float(y.size / np.sum(1.0 / n)) if transform == "arcsine" else None  # harmonic mean

    def bt(val: float | None) -> float | None:
        return None if val is None else float(back_transform(val, transform, n_bt))

    row = {
        "model": method,
        "transform": transform,
        "n_sites": r["n_sites"],
        "n_patients": int(n.sum()),
        "n_reached": int(x.sum()),
        "effect": r["effect"],
        "se": r["se"],
        "effect_lo": r["effect_lo"],
        "effect_hi": r["effect_hi"],
        "share": bt(r["effect"]),
        "share_lo": bt(r["effect_lo"]),
        "share_hi": bt(r["effect_hi"]),
        "share_pred_lo": bt(r["pred_lo"]),
        "share_pred_hi": bt(r["pred_hi"]),
        "tau2": r["tau2"],
        "i2": r["i2"],
        "q": r["q"],
        "q_df": r["q_df"],
        "q_p": r["q_p"],
        "tau2_method": r["tau2_method"],
        "ci": r["ci"],
    }
    return row, weights


_SCHEMA = {
    "model": pl.Utf8,
    "transform": pl.Utf8,
    "n_sites": pl.Int64,
    "n_patients": pl.Int64,
    "n_reached": pl.Int64,
    "effect": pl.Float64,
    "se": pl.Float64,
    "effect_lo": pl.Float64,
    "effect_hi": pl.Float64,
    "share": pl.Float64,
    "share_lo": pl.Float64,
    "share_hi": pl.Float64,
    "share_pred_lo": pl.Float64,
    "share_pred_hi": pl.Float64,
    "tau2": pl.Float64,
    "i2": pl.Float64,
    "q": pl.Float64,
    "q_df": pl.Int64,
    "q_p": pl.Float64,
    "tau2_method": pl.Utf8,
    "ci": pl.Utf8,
}


#: The columns of the tables of :class:`MetaResult` (``pooled``, ``subgroups``, ``sites``):
#: a ``subgroup`` column may not have one of these names.
_OUTPUT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "site",
            *_SCHEMA,
            "share",
            "share_lo",
            "share_hi",
            "effect",
            "variance",
            "corrected",
            "weight",
        ]
    )
)


@renamed(method="model", by="site")
def meta_proportion(
    aggregates: Any,
    *,
    model: Literal["random", "fixed", "glmm"] = "random",
    transform: Transform = "logit",
    tau2: Tau2Method = "reml",
    ci: CIMethod = "hksj",
    continuity: float = 0.5,
    subgroup: str | None = None,
    alpha: float = 0.05,
    threshold: float = 100,
    site: str = "facility",
) -> MetaResult:
    """Pool site proportions by inverse-variance meta-analysis.

    Parameters
    ----------
    aggregates : DataFrame (polars, pandas or pyarrow)
        Site aggregates (``site``, ``n_patients``, ``n_reached``, optional ``country``,
        ``academic``, ...) or a patients table (aggregated by ``site`` at ``threshold``, as in
        :func:`recurct.stats.site_table`; a subgroup column must then be constant per site).
    model : {"random", "fixed", "glmm"}
        Inverse-variance random effects (``tau^2`` by ``tau2``), fixed (common) effect, or
        the binomial-normal random-intercept model fitted by maximum likelihood (``"glmm"``,
        logit transform only; see the module docstring).
    transform : {"logit", "arcsine", "raw"}
        Scale of pooling; "arcsine" is Freeman-Tukey (see the module docstring).
    tau2 : {"reml", "pm", "dl"}, default "reml"
        Estimator of the between-site variance for ``model="random"``: restricted maximum
        likelihood, Paule-Mandel or DerSimonian-Laird.
    ci : {"hksj", "z"}, default "hksj"
        Interval of the pooled random effect: Hartung-Knapp-Sidik-Jonkman (t with k-1 df,
        its standard error never below that of ``"z"``: Knapp & Hartung's ad hoc floor, see
        the module docstring) or normal. Fixed effect and GLMM always use ``"z"``.
    continuity : float
        Added to events and non-events of sites with 0 or all events (logit and raw only).
    subgroup : str, optional
        Column to pool within (e.g. ``"country"``, ``"academic"``), with a between-group Q test.
        Null values form the group ``"not stated"`` (the value ``"not stated"`` itself is
        refused, ``DataError``); the column may not be named like an output column
        (``"site"``, ``"model"``, ``"effect"``, ``"share"``, ...: ``ParameterError``).
    alpha : float
        1 - confidence level, for CIs and the prediction interval.
    threshold, site : float, str
        Used only when a patients table is given (``site``: the column naming the site).

    Returns
    -------
    MetaResult
        ``.pooled``, ``.sites``, ``.subgroups`` and the between-group test; pandas in, pandas out.
    """
    if not isinstance(transform, str) or transform not in ("logit", "arcsine", "raw"):
        raise ParameterError(f"transform must be 'logit', 'arcsine' or 'raw', got {transform!r}")
    method = model
    if not isinstance(method, str) or method not in ("random", "fixed", "glmm"):
        raise ParameterError(f"model must be 'random', 'fixed' or 'glmm', got {method!r}")
    if not isinstance(tau2, str) or tau2 not in TAU2_METHODS:
        raise ParameterError(f"tau2 must be one of {TAU2_METHODS}, got {tau2!r}")
    if not isinstance(ci, str) or ci not in CI_METHODS:
        raise ParameterError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if method == "glmm" and transform != "logit":
        raise ParameterError("model='glmm' is a logit model: use transform='logit'")
    alpha = _checks.alpha(alpha, "meta_proportion")
    continuity = _checks.number(
        continuity, "meta_proportion", "continuity", lo=0.0, hi=100.0, lo_open=True
    )
    if subgroup is not None:
        subgroup = _checks.column_name(subgroup, "meta_proportion", "subgroup")
    if subgroup is not None and subgroup not in _columns(aggregates):
        raise ParameterError(f"subgroup column {subgroup!r} is not in the table")
    if subgroup is not None and (subgroup in _OUTPUT_COLUMNS or subgroup.startswith(TMP)):
        raise ParameterError(
            f"meta_proportion: subgroup column {subgroup!r} has the name of an output column "
            f"of meta_proportion ({', '.join(_OUTPUT_COLUMNS)}) or starts with {TMP!r}; "
            "rename it first"
        )
    agg, kind = _aggregates_with_subgroup(aggregates, threshold, site, subgroup)
    x = agg.get_column("n_reached").to_numpy().astype(float)
    n = agg.get_column("n_patients").to_numpy().astype(float)
    y, v, corrected = effect_sizes(x, n, transform, continuity)
    row, weights = _pooled_row(y, v, x, n, method, transform, alpha, tau2, ci)
    pooled = pl.DataFrame([row], schema=_SCHEMA)

    sites = _sites(agg, (y, v, corrected, weights), transform, alpha, subgroup)
    subgroups = q_b = df_b = p_b = None
    if subgroup is not None:
        subgroups, q_b, df_b, p_b = _subgroups(
            agg, subgroup, (y, v, x, n), (method, transform, alpha, tau2, ci)
        )
        subgroups = from_polars(subgroups, kind)

    return MetaResult(
        pooled=from_polars(pooled, kind),
        sites=from_polars(sites, kind),
        subgroups=subgroups,
        q_between=q_b,
        df_between=df_b,
        p_between=p_b,
        info={"continuity": continuity, "alpha": alpha, "n_corrected": int(corrected.sum())},
    )


def _columns(data: Any) -> list[str]:
    df, _ = to_polars(data)
    return df.columns


def _aggregates_with_subgroup(
    data: Any, threshold: float, site: str, subgroup: str | None
) -> tuple[pl.DataFrame, Any]:
    df, kind = to_polars(data)
    is_agg = is_aggregates(df)
    if not is_agg:
        threshold = _checks.threshold(threshold, "meta_proportion")
    # (patients whose reaching T is unknown are dropped there, with a counted warning)
    agg, _ = as_aggregates(df, threshold=threshold, site=site, func="meta_proportion")
    if subgroup is not None and not is_agg:
        per_site = df.group_by(pl.col(site).cast(pl.Utf8).alias("site")).agg(
            pl.col(subgroup).n_unique().alias(f"{TMP}nu"), pl.col(subgroup).first()
        )
        if (per_site.get_column(f"{TMP}nu") > 1).any():
            raise DataError(f"subgroup {subgroup!r} must be constant within each site ({site!r})")
        agg = agg.join(per_site.drop(f"{TMP}nu"), on="site", how="left")
    if subgroup is not None:
        agg = agg.with_columns(pl.col(subgroup).cast(pl.Utf8))
        clash = agg.filter(pl.col(subgroup) == MISSING_GROUP).get_column("site")
        if clash.len():  # it would merge with the sites whose subgroup is null
            raise DataError(
                f"meta_proportion: subgroup column {subgroup!r} holds the value "
                f"{MISSING_GROUP!r}, the label of the sites whose subgroup is null, at site(s) "
                f"{clash.head(5).to_list()}; rename that value first"
            )
        agg = agg.with_columns(pl.col(subgroup).fill_null(MISSING_GROUP))
    if agg.height == 0:
        raise DataError("no sites: the table is empty")
    return agg.sort("site"), kind


def _sites(
    agg: pl.DataFrame,
    fit: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    transform: Transform,
    alpha: float,
    subgroup: str | None,
) -> pl.DataFrame:
    """The per-site table of :class:`MetaResult` (``fit``: effects, variances, corrected,
    weights)."""
    y, v, corrected, weights = fit
    x = agg.get_column("n_reached").to_numpy().astype(float)
    n = agg.get_column("n_patients").to_numpy().astype(float)
    z = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(v)
    n_site = n if transform == "arcsine" else None
    site_lo = back_transform(y - z * se, transform, n_site)
    site_hi = back_transform(y + z * se, transform, n_site)
    # a site with 0 (or all) events: the continuity correction moves its effect off the
    # boundary, but its interval must still hold its share x/n of 0 (or 1)
    site_lo = np.where(x == 0, 0.0, site_lo)
    site_hi = np.where(x == n, 1.0, site_hi)
    return agg.select(
        "site", "n_patients", "n_reached", *([subgroup] if subgroup else [])
    ).with_columns(
        (pl.col("n_reached") / pl.col("n_patients")).alias("share"),
        pl.Series("share_lo", site_lo),
        pl.Series("share_hi", site_hi),
        pl.Series("effect", y),
        pl.Series("variance", v),
        pl.Series("corrected", corrected),
        pl.Series("weight", weights),
    )


def _subgroups(
    agg: pl.DataFrame,
    subgroup: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: tuple[Any, ...],
) -> tuple[pl.DataFrame, float, int, float | None]:
    """One pooled row per subgroup and the between-subgroup Q test (``data``: effects,
    variances, events, sizes; ``settings``: model, transform, alpha, tau2, ci)."""
    y, v, x, n = data
    labels = agg.get_column(subgroup).to_numpy()
    rows = []
    for g in sorted(set(labels.tolist())):
        m = labels == g
        events, size = int(x[m].sum()), int(n[m].sum())
        if settings[0] == "glmm" and events in (0, size):
            raise DataError(
                f"meta_proportion(model='glmm'): no site of subgroup {subgroup}={g!r} has "
                f"{'an event' if events == 0 else 'a patient without one'} ({events:,} of "
                f"{size:,} patients reach the threshold): its maximum-likelihood pooled logit "
                "is not finite; use model='random' (continuity correction) or leave the "
                "subgroup out"
            )
        r, _ = _pooled_row(y[m], v[m], x[m], n[m], *settings)
        if not (np.isfinite(r["se"]) and r["se"] > 0):  # not seen: every se here is > 0
            raise DataError(
                f"meta_proportion: subgroup {subgroup}={g!r} has no usable standard error "
                f"({r['se']!r}); the between-subgroup test cannot weight it"
            )
        rows.append({subgroup: g, **r})
    table = pl.DataFrame(rows, schema={subgroup: pl.Utf8, **_SCHEMA})
    mu_g = table.get_column("effect").to_numpy()
    w_g = 1.0 / table.get_column("se").to_numpy() ** 2
    mu_w = np.sum(w_g * mu_g) / np.sum(w_g)
    q_b = float(np.sum(w_g * (mu_g - mu_w) ** 2))
    df_b = len(rows) - 1
    p_b = float(stats.chi2.sf(q_b, df_b)) if df_b > 0 else None
    return table, q_b, df_b, p_b
