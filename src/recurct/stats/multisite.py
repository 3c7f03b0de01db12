"""Per-site shares of patients reaching a threshold, with a pooled summary.

Multi-centre surveys report one proportion per institution (Frija et al. 2021, Eur Radiol
31:5514-5523, doi 10.1007/s00330-021-07696-1: 18 institutions, 0% to 2.72%, mean 0.5%,
pooled 6,082 / 1,218,429 = 0.499%). :func:`site_table` gives the same four kinds of summary
(pooled share, unweighted mean of the site shares, median, range) from either a patients table
or a table of site aggregates (``site``, ``n_patients``, ``n_reached``).

The pooled share here is the crude ratio ``sum(n_reached) / sum(n_patients)`` with a binomial CI
that treats all patients as one sample; for an inverse-variance pooled estimate that accounts
for between-site heterogeneity use :func:`recurct.stats.meta_proportion`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import FrameKind, from_polars, param_label, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.stats._common import (
    check_patients,
    check_stripped_keys,
    reached_expr,
    result_repr,
    unknown_column,
    unknown_reached,
)
from recurct.stats.proportion import proportion_ci

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = ["SiteTable", "as_aggregates", "is_aggregates", "site_aggregates", "site_table"]

AGGREGATE_COLUMNS = ("site", "n_patients", "n_reached")
OPTIONAL_SITE_COLUMNS = ("country", "academic", "period_start", "period_end")


@dataclass(frozen=True, repr=False)
class SiteTable:
    """Result of :func:`site_table`.

    Attributes
    ----------
    sites : DataFrame
        One row per site: ``site`` (Utf8), ``n_patients``, ``n_reached``, ``share`` (fraction),
        ``share_lo``, ``share_hi``, and the optional ``country``, ``academic``,
        ``period_start``, ``period_end`` where the input had them. These are what a forest plot
        needs (label, estimate, CI, size).
    summary : DataFrame
        One row: ``n_sites``, ``n_patients``, ``n_reached``, ``share``, ``share_lo``,
        ``share_hi`` (the crude pooled share and its CI), ``mean_share`` (unweighted mean of the
        site shares), ``median_share``, ``min_share``, ``max_share``, ``ci``, ``alpha``,
        ``threshold`` (Float64; null for site aggregates, whose threshold is not known).
    """

    sites: Frame
    summary: Frame

    def __repr__(self) -> str:
        return result_repr(self)


def site_aggregates(
    patients: Any, threshold: float = 100, *, site: str = "facility", func: str = "site_table"
) -> Frame:
    """Aggregate a patients table to one row per site: ``site``, ``n_patients``, ``n_reached``.

    ``n_reached`` counts the patients whose ``reached_<T>`` is true; when that column is absent it
    is computed as ``ced_msv >= threshold``. Patients for whom it is unknown (a null
    ``reached_<T>``, or without it a null or NaN ``ced_msv``) are dropped before counting,
    with a :class:`~recurct.errors.DroppedRowsWarning` that counts them and names ``func``
    (the public function that called this one); a site left without patients has no row.
    """
    site = _checks.column_name(site, func, "site")
    df, kind = to_polars(patients)
    check_patients(df, func)
    if site not in df.columns:
        raise ParameterError(
            f"site column {site!r} is not in the patients table (columns: {df.columns}); "
            "pass site=<the column that names the site>"
        )
    threshold = _checks.threshold(threshold, func)
    flag = reached_expr(df, threshold, func)
    n_null = df.get_column(site).null_count()
    if n_null:
        raise DataError(
            f"{n_null} patients have a null {site!r}; fill it (e.g. 'unknown') or drop those rows"
        )
    unknown = unknown_reached(df, threshold)
    if unknown.any():
        n_sites = df.get_column(site).n_unique()
        df = df.filter(~unknown)
        lost = n_sites - df.get_column(site).n_unique()
        warnings.warn(
            f"{func}: dropped {int(unknown.sum())} of {unknown.len()} patient(s) with a null "
            f"{unknown_column(df, threshold)!r} (not known whether they reached "
            f"{param_label(threshold)} mSv) before counting the sites"
            + (f"; {lost} site(s) have no patient left and no row" if lost else ""),
            DroppedRowsWarning,
            stacklevel=user_stacklevel(),
        )
    agg = (
        df.group_by(pl.col(site).cast(pl.Utf8).alias("site"))
        .agg(
            pl.len().cast(pl.Int64).alias("n_patients"),
            flag.sum().cast(pl.Int64).alias("n_reached"),
        )
        .sort("site")
    )
    return from_polars(agg, kind)


def whole_counts(df: pl.DataFrame, cols: tuple[str, ...], what: str) -> pl.DataFrame:
    """``df`` with the count columns ``cols`` as Int64: numbers that are whole (``3.0`` is 3;
    ``2.5`` is refused, never truncated). Nulls stay null (the caller decides on them);
    booleans, text and fractional, NaN or infinite values are a :class:`DataError` naming the
    column and the rows (0-based)."""
    for col in cols:
        s = df.get_column(col)
        if s.dtype == pl.Boolean or not s.dtype.is_numeric():
            raise DataError(f"{what}: column {col!r} must hold whole numbers, got {s.dtype}")
        if s.dtype.is_integer():
            continue
        x = s.cast(pl.Float64)
        bad = (~x.is_finite() | (x != x.floor())).fill_null(False)
        if bad.any():
            rows = bad.arg_true().head(5).to_list()
            shown = ", ".join(f"{v:g}" for v in x.filter(bad).head(5))
            raise DataError(
                f"{what}: column {col!r} must hold whole numbers (counts), got {shown} in "
                f"rows {rows} (0-based); counts are not rounded or truncated"
            )
    return df.with_columns(pl.col(c).cast(pl.Int64) for c in cols)


def check_aggregates(df: pl.DataFrame) -> pl.DataFrame:
    """Validate a site-aggregate table; return it with ``site`` Utf8 and counts Int64."""
    missing = [c for c in AGGREGATE_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"site aggregates lack column(s) {missing}; need {list(AGGREGATE_COLUMNS)}")
    n_null = df.get_column("site").null_count()
    if n_null:
        rows = df.get_column("site").is_null().arg_true().head(5).to_list()
        raise DataError(
            f"site aggregates: {n_null} row(s) have a null 'site' (rows {rows}, 0-based); "
            "name every site (e.g. 'unknown') or drop those rows"
        )
    df = whole_counts(df, ("n_patients", "n_reached"), "site aggregates")
    df = df.with_columns(pl.col("site").cast(pl.Utf8))
    bad = df.with_row_index("row").filter(
        pl.col("n_patients").is_null()
        | pl.col("n_reached").is_null()
        | (pl.col("n_patients") <= 0)
        | (pl.col("n_reached") < 0)
        | (pl.col("n_reached") > pl.col("n_patients"))
    )
    if bad.height:
        rows = bad.select("row", "site", "n_patients", "n_reached").head(5).rows()
        raise DataError(
            "site aggregates need 0 <= n_reached <= n_patients and n_patients > 0; "
            f"bad rows (row, site, n_patients, n_reached): {rows}"
        )
    check_stripped_keys(df, "site", [], "site aggregates", "site label")
    if df.get_column("site").is_duplicated().any():
        dup = df.filter(pl.col("site").is_duplicated()).get_column("site").unique().to_list()
        raise DataError(f"site labels must be unique; duplicated: {dup}")
    return df


def is_aggregates(df: pl.DataFrame) -> bool:
    """Is ``df`` a table of site aggregates (``n_patients``, ``n_reached``)? An old
    ``n_high`` column (recurct 0.1) is refused with an error naming ``n_reached``."""
    if "n_high" in df.columns and "n_reached" not in df.columns:
        raise DataError(
            "site aggregates: the column 'n_high' was renamed to 'n_reached' in recurct 0.2 "
            "(patients reaching the threshold); rename it"
        )
    return "n_patients" in df.columns and "n_reached" in df.columns


def as_aggregates(
    data: Any, threshold: float = 100, site: str = "facility", *, func: str = "site_table"
) -> tuple[pl.DataFrame, FrameKind]:
    """Site aggregates from either aggregates (has n_patients/n_reached) or a patients table
    (:func:`site_aggregates`; ``func`` names the public caller in its warnings and errors)."""
    df, kind = to_polars(data)
    if is_aggregates(df):
        if "site" not in df.columns and site in df.columns:
            df = df.rename({site: "site"})
        return check_aggregates(df), kind
    agg, _ = to_polars(site_aggregates(df, threshold=threshold, site=site, func=func))
    return check_aggregates(agg), kind


@renamed(by="site", patients_or_aggregates="table")
def site_table(
    table: Any,
    threshold: float = 100,
    *,
    site: str = "facility",
    ci: str = "wilson",
    alpha: float = 0.05,
) -> SiteTable:
    """Per-site share of patients reaching ``threshold`` mSv, and a summary across sites.

    Parameters
    ----------
    table : DataFrame (polars, pandas or pyarrow)
        Either a patients table (from :func:`recurct.cumulative_dose`; aggregated by ``site``,
        counting ``reached_<T>`` or, if absent, ``ced_msv >= threshold``) or site aggregates
        (detected by the columns ``n_patients`` and ``n_reached``; ``site`` names the site, and the
        optional ``country``, ``academic``, ``period_start``, ``period_end`` are carried). The
        counts of aggregates must be whole numbers (``10.0`` is 10; ``10.7`` is a
        :class:`~recurct.errors.DataError`, never truncated) and every site named (a null
        ``site`` is refused, as it is in a patients table). Two site labels that differ only
        by surrounding whitespace (``"Site A"``, ``"Site A "``) are refused
        (:class:`~recurct.errors.DataError` naming both); labels that differ only in case
        stay two sites.
    threshold : float
        Threshold in mSv (ignored for aggregates, whose ``n_reached`` already counts it: it
        is not checked there, and the summary's ``threshold`` is null). Patients for whom it
        is unknown whether they reached it (a null ``reached_<T>``, or without it a null or
        NaN ``ced_msv``) are dropped before counting, with a
        :class:`~recurct.errors.DroppedRowsWarning` that counts them.
    site : str, default "facility"
        Column of the patients table that names the site (of aggregates, used when they
        have no ``site`` column).
    ci : str
        Binomial CI method (see :func:`recurct.stats.proportion_ci`: ``"wilson"``,
        ``"clopper-pearson"``/``"exact"``/``"beta"``, ``"jeffreys"``, ``"agresti-coull"``,
        ``"normal"``/``"wald"``), for the sites and the pooled share.
    alpha : float
        1 - confidence level.

    Returns
    -------
    SiteTable
        ``.sites`` (one row per site, sorted by ``site``) and ``.summary`` (one row); see
        :class:`SiteTable`. pandas in, pandas out.

    Notes
    -----
    The summary's ``share`` is ``sum(n_reached) / sum(n_patients)`` (every patient weighs the same);
    ``mean_share`` is the unweighted mean of the site shares (every site weighs the same), the
    "mean 0.5%" kind of figure of Frija et al. 2021. Its CI is not given: use
    :func:`recurct.stats.meta_proportion` for a pooled estimate with heterogeneity.
    """
    alpha = _checks.alpha(alpha, "site_table")
    df, kind = to_polars(table)
    # aggregates already count their own threshold: none is stated (null), none is checked
    stated = None if is_aggregates(df) else _checks.threshold(threshold, "site_table")
    agg, _ = as_aggregates(df, threshold=threshold, site=site)
    if agg.height == 0:
        raise DataError("no sites: the table is empty")
    x = agg.get_column("n_reached").to_numpy()
    n = agg.get_column("n_patients").to_numpy()
    lo, hi = proportion_ci(x, n, alpha, ci)
    keep = [c for c in OPTIONAL_SITE_COLUMNS if c in agg.columns]
    sites = (
        agg.select("site", "n_patients", "n_reached", *keep)
        .with_columns(
            (pl.col("n_reached") / pl.col("n_patients")).alias("share"),
            pl.Series("share_lo", lo),
            pl.Series("share_hi", hi),
        )
        .select("site", "n_patients", "n_reached", "share", "share_lo", "share_hi", *keep)
        .sort("site")
    )
    shares = sites.get_column("share")
    xt, nt = int(x.sum()), int(n.sum())
    plo, phi = proportion_ci(xt, nt, alpha, ci)
    summary = pl.DataFrame(
        {
            "n_sites": [sites.height],
            "n_patients": [nt],
            "n_reached": [xt],
            "share": [xt / nt],
            "share_lo": [float(plo)],
            "share_hi": [float(phi)],
            "mean_share": [float(shares.mean())],
            "median_share": [float(shares.median())],
            "min_share": [float(shares.min())],
            "max_share": [float(shares.max())],
            "ci": [ci],
            "alpha": [float(alpha)],
            "threshold": pl.Series([stated], dtype=pl.Float64),
        }
    )
    return SiteTable(sites=from_polars(sites, kind), summary=from_polars(summary, kind))
