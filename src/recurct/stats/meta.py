"""Inverse-variance meta-analysis of site proportions (share of patients reaching T).

Notes
-----
Each site contributes ``x`` events (``n_high``) out of ``n`` (``n_patients``). Its proportion is
moved to a transformed scale, pooled there with inverse-variance weights and back-transformed.

``transform="logit"``
    ``y = log(x / (n - x))``, ``v = 1/x + 1/(n - x)``. Sites with 0 or ``n`` events get the
    continuity correction ``continuity`` (default 0.5) added to events and non-events
    (``x + c`` out of ``n + 2c``); other sites are left untouched (the "only zero cells"
    convention of the R package *meta*). Back-transform: ``expit``.
``transform="raw"``
    ``y = x/n``, ``v = y(1-y)/n``, with the same correction for 0 or ``n`` events (otherwise
    the variance is 0). Back-transform: identity, clipped to [0, 1]: the reported shares
    (``share``, ``share_lo``/``share_hi`` of the CI and of each site, ``pi_lo``/``pi_hi`` of the
    prediction interval) stay in [0, 1], while ``effect``, ``effect_lo`` and ``effect_hi`` keep
    the unclipped normal-theory values (a bound clipped at 0 shows the interval is not
    trustworthy for such small shares: prefer ``"logit"`` or ``"arcsine"`` there).
``transform="arcsine"``
    Freeman-Tukey double arcsine on the half scale used by *metafor* (``measure="PFT"``):
    ``y = (asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1)))) / 2``, ``v = 1/(4n + 2)``; defined at
    0 and ``n`` events, so no correction. Back-transform: Miller's (1978) inversion,
    ``p = (1 - sign(cos 2y) sqrt(1 - (sin 2y + (sin 2y - 1/sin 2y)/n)^2)) / 2``, with ``n``
    the site's own size for site rows and the harmonic mean of the site sizes for pooled
    estimates, CIs and prediction intervals (as *metafor*'s ``transf.ipft.hm``; see Schwarzer
    et al. 2019, Res Synth Methods 10:476, for the caveats of this choice).

Fixed effect: weights ``1/v``. Random effects: DerSimonian-Laird ``tau^2 =
max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))``, weights ``1/(v + tau^2)``. ``Q`` is Cochran's
heterogeneity statistic (``k - 1`` df, chi-squared p-value), ``I^2 = max(0, (Q - df)/Q)``.
The prediction interval (random effects, ``k >= 3``) is ``mu +- t_{k-2} sqrt(tau^2 + se^2)``
(Higgins, Thompson & Spiegelhalter 2009, J R Stat Soc A 172:137). The CI of the pooled effect
is normal (z). These equal ``statsmodels.stats.meta_analysis.combine_effects(y, v,
method_re="dl")`` on the same ``y`` and ``v`` whenever ``Q > k - 1``; when ``Q <= k - 1``
statsmodels (0.15) returns the untruncated, negative moment estimate of ``tau^2``, whereas this
module truncates it at 0 as DerSimonian & Laird (1986) do, so the random-effects estimate then
equals the fixed-effect one.

Subgroups (``subgroup="country"`` or ``"academic"``) are pooled separately (each with its own
``tau^2``); the between-group test is ``Q_between = sum_g W_g (mu_g - mu_w)^2`` over the
subgroup estimates ``mu_g`` with weights ``W_g = 1/se_g^2`` and ``mu_w`` their weighted mean,
``G - 1`` df (the "separate tau^2" test of RevMan and *meta*). A null subgroup value forms its
own group, labelled ``"not stated"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from recurct._frames import from_polars
from recurct.stats.multisite import as_aggregates

__all__ = ["MetaResult", "back_transform", "effect_sizes", "meta_proportion"]

Transform = Literal["logit", "arcsine", "raw"]
MISSING_GROUP = "not stated"


@dataclass(frozen=True)
class MetaResult:
    """Result of :func:`meta_proportion`.

    Attributes
    ----------
    pooled : DataFrame
        One row: ``method``, ``transform``, ``k``, ``n_patients``, ``n_high``, ``effect``,
        ``se``, ``effect_lo``, ``effect_hi`` (transformed scale), ``share``, ``share_lo``,
        ``share_hi`` (back-transformed, always in [0, 1]: with ``transform="raw"`` clipped),
        ``pi_lo``, ``pi_hi`` (prediction interval on the share scale, in [0, 1]; random
        effects with k >= 3, else null), ``tau2``, ``i2``, ``q``, ``q_df``, ``q_p``.
    sites : DataFrame
        One row per site: ``site``, ``n_patients``, ``n_high``, ``share`` (x/n), ``share_lo``,
        ``share_hi`` (the site's CI on the transformed scale, back-transformed, so it matches
        the pooled estimate in a forest plot), ``effect``, ``variance``, ``corrected`` (a
        continuity correction was applied), ``weight`` (relative weight of the chosen model),
        and the subgroup column if any.
    subgroups : DataFrame or None
        One row per subgroup (first column named after ``subgroup``) with the columns of
        ``pooled``; None without ``subgroup``.
    q_between, df_between, p_between : float or None
        Between-subgroup heterogeneity test (None without ``subgroup``).
    """

    pooled: Any
    sites: Any
    subgroups: Any = None
    q_between: float | None = None
    df_between: int | None = None
    p_between: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


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
    if transform not in ("logit", "raw"):
        raise ValueError(f"transform must be 'logit', 'arcsine' or 'raw', got {transform!r}")
    corrected = (x == 0) | (x == n)
    if corrected.any() and not continuity > 0:
        raise ValueError(
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
        raise ValueError(f"transform must be 'logit', 'arcsine' or 'raw', got {transform!r}")
    if n is None:
        raise ValueError("the arcsine back-transform needs n")
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


def _pool(y: np.ndarray, v: np.ndarray, method: str, alpha: float) -> dict[str, float | int | None]:
    k = y.size
    w = 1.0 / v
    mu_fe = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mu_fe) ** 2))
    df = k - 1
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c) if df > 0 and c > 0 else 0.0
    if method == "fixed":
        ww = w
        tau2_used = 0.0
    else:
        ww = 1.0 / (v + tau2)
        tau2_used = tau2
    mu = float(np.sum(ww * y) / np.sum(ww))
    se = float(np.sqrt(1.0 / np.sum(ww)))
    z = stats.norm.ppf(1 - alpha / 2)
    pi_lo = pi_hi = None
    if method == "random" and k >= 3:
        tcrit = stats.t.ppf(1 - alpha / 2, k - 2)
        half = tcrit * np.sqrt(tau2_used + se**2)
        pi_lo, pi_hi = mu - half, mu + half
    return {
        "k": k,
        "effect": mu,
        "se": se,
        "effect_lo": mu - z * se,
        "effect_hi": mu + z * se,
        "pi_lo": pi_lo,
        "pi_hi": pi_hi,
        "tau2": tau2,
        "i2": max(0.0, (q - df) / q) if df > 0 and q > 0 else (0.0 if df > 0 else None),
        "q": q,
        "q_df": df,
        "q_p": float(stats.chi2.sf(q, df)) if df > 0 else None,
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
) -> tuple[dict[str, Any], np.ndarray]:
    r = _pool(y, v, method, alpha)
    weights = r.pop("_weights")
    n_bt = float(y.size / np.sum(1.0 / n)) if transform == "arcsine" else None  # harmonic mean

    def bt(val: float | None) -> float | None:
        return None if val is None else float(back_transform(val, transform, n_bt))

    row = {
        "method": method,
        "transform": transform,
        "k": r["k"],
        "n_patients": int(n.sum()),
        "n_high": int(x.sum()),
        "effect": r["effect"],
        "se": r["se"],
        "effect_lo": r["effect_lo"],
        "effect_hi": r["effect_hi"],
        "share": bt(r["effect"]),
        "share_lo": bt(r["effect_lo"]),
        "share_hi": bt(r["effect_hi"]),
        "pi_lo": bt(r["pi_lo"]),
        "pi_hi": bt(r["pi_hi"]),
        "tau2": r["tau2"],
        "i2": r["i2"],
        "q": r["q"],
        "q_df": r["q_df"],
        "q_p": r["q_p"],
    }
    return row, weights


_SCHEMA = {
    "method": pl.Utf8,
    "transform": pl.Utf8,
    "k": pl.Int64,
    "n_patients": pl.Int64,
    "n_high": pl.Int64,
    "effect": pl.Float64,
    "se": pl.Float64,
    "effect_lo": pl.Float64,
    "effect_hi": pl.Float64,
    "share": pl.Float64,
    "share_lo": pl.Float64,
    "share_hi": pl.Float64,
    "pi_lo": pl.Float64,
    "pi_hi": pl.Float64,
    "tau2": pl.Float64,
    "i2": pl.Float64,
    "q": pl.Float64,
    "q_df": pl.Int64,
    "q_p": pl.Float64,
}


def meta_proportion(
    aggregates: Any,
    method: Literal["random", "fixed"] = "random",
    transform: Transform = "logit",
    *,
    continuity: float = 0.5,
    subgroup: str | None = None,
    alpha: float = 0.05,
    threshold: float = 100,
    by: str = "facility",
) -> MetaResult:
    """Pool site proportions by inverse-variance meta-analysis.

    Parameters
    ----------
    aggregates : DataFrame (polars, pandas or pyarrow)
        Site aggregates (``site``, ``n_patients``, ``n_high``, optional ``country``,
        ``academic``, ...) or a patients table (aggregated by ``by`` at ``threshold``, as in
        :func:`recurct.stats.site_table`; a subgroup column must then be constant per site).
    method : {"random", "fixed"}
        DerSimonian-Laird random effects or fixed (common) effect.
    transform : {"logit", "arcsine", "raw"}
        Scale of pooling; "arcsine" is Freeman-Tukey (see the module docstring).
    continuity : float
        Added to events and non-events of sites with 0 or all events (logit and raw only).
    subgroup : str, optional
        Column to pool within (e.g. ``"country"``, ``"academic"``), with a between-group Q test.
    alpha : float
        1 - confidence level, for CIs and the prediction interval.
    threshold, by : float, str
        Used only when a patients table is given.

    Returns
    -------
    MetaResult
        ``.pooled``, ``.sites``, ``.subgroups`` and the between-group test; pandas in, pandas out.
    """
    if method not in ("random", "fixed"):
        raise ValueError(f"method must be 'random' or 'fixed', got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if subgroup is not None and subgroup not in _columns(aggregates):
        raise ValueError(f"subgroup column {subgroup!r} is not in the table")
    agg, kind = _aggregates_with_subgroup(aggregates, threshold, by, subgroup)
    x = agg.get_column("n_high").to_numpy().astype(float)
    n = agg.get_column("n_patients").to_numpy().astype(float)
    y, v, corrected = effect_sizes(x, n, transform, continuity)
    row, weights = _pooled_row(y, v, x, n, method, transform, alpha)
    pooled = pl.DataFrame([row], schema=_SCHEMA)

    z = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(v)
    n_site = n if transform == "arcsine" else None
    sites = agg.select(
        "site", "n_patients", "n_high", *([subgroup] if subgroup else [])
    ).with_columns(
        (pl.col("n_high") / pl.col("n_patients")).alias("share"),
        pl.Series("share_lo", back_transform(y - z * se, transform, n_site)),
        pl.Series("share_hi", back_transform(y + z * se, transform, n_site)),
        pl.Series("effect", y),
        pl.Series("variance", v),
        pl.Series("corrected", corrected),
        pl.Series("weight", weights),
    )

    subgroups = q_b = df_b = p_b = None
    if subgroup is not None:
        labels = agg.get_column(subgroup).to_numpy()
        rows = []
        for g in sorted(set(labels.tolist())):
            m = labels == g
            r, _ = _pooled_row(y[m], v[m], x[m], n[m], method, transform, alpha)
            rows.append({subgroup: g, **r})
        subgroups = pl.DataFrame(rows, schema={subgroup: pl.Utf8, **_SCHEMA})
        mu_g = subgroups.get_column("effect").to_numpy()
        w_g = 1.0 / subgroups.get_column("se").to_numpy() ** 2
        mu_w = np.sum(w_g * mu_g) / np.sum(w_g)
        q_b = float(np.sum(w_g * (mu_g - mu_w) ** 2))
        df_b = len(rows) - 1
        p_b = float(stats.chi2.sf(q_b, df_b)) if df_b > 0 else None
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
    from recurct._frames import to_polars

    df, _ = to_polars(data)
    return df.columns


def _aggregates_with_subgroup(
    data: Any, threshold: float, by: str, subgroup: str | None
) -> tuple[pl.DataFrame, Any]:
    from recurct._frames import to_polars

    df, kind = to_polars(data)
    is_agg = "n_patients" in df.columns and "n_high" in df.columns
    agg, _ = as_aggregates(df, threshold=threshold, by=by)
    if subgroup is not None and not is_agg:
        per_site = df.group_by(pl.col(by).cast(pl.Utf8).alias("site")).agg(
            pl.col(subgroup).n_unique().alias("_nu"), pl.col(subgroup).first()
        )
        if (per_site.get_column("_nu") > 1).any():
            raise ValueError(f"subgroup {subgroup!r} must be constant within each site ({by!r})")
        agg = agg.join(per_site.drop("_nu"), on="site", how="left")
    if subgroup is not None:
        agg = agg.with_columns(pl.col(subgroup).cast(pl.Utf8).fill_null(MISSING_GROUP))
    if agg.height == 0:
        raise ValueError("no sites: the table is empty")
    return agg.sort("site"), kind
