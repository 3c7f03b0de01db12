"""The magnitude table: how many patients reach a cumulative effective dose (CED) >= T mSv.

This is the analysis of Rehani et al. 2020 ("Patients undergoing recurrent CT scans: assessing
the magnitude", Eur Radiol 30:1828-1836): patients, exams, patients with CED >= 100 mSv, their
share, their CED (median, maximum), the share aged <= 50 and the shortest time it took them
(the paper gives the minimum, "a single day"). recurct adds the median time and the exam count
it took them (the paper's median time and exams per high-dose patient are not known:
docs/sources.md), the quartiles and minimum of their CED, the shares of women and men among
them, a confidence interval on the share and optional strata. The column names follow the
contract in CONTRIBUTING.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars, param_label
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, DroppedRowsWarning, ParameterError, RecurctWarning
from recurct.stats._common import (
    AGE_EDGES,
    ALL,
    FEW_CLUSTERS,
    TMP,
    band_expr,
    by_list,
    check_by_names,
    check_column,
    check_nonempty,
    check_patients,
    column_name,
    ratio,
    reached_expr,
    require,
    share_interval,
    stats_frame,
    stratum_keys,
    unknown_column,
    unknown_reached,
    unsigned_zeros,
)
from recurct.stats.proportion import CI_ALIASES, ci_method, proportion_ci

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from recurct._frames import Frame
    from recurct.io._result import ReadResult

__all__ = [
    "AGE_EDGES",
    "MAGNITUDE_COLUMNS",
    "age_band",
    "magnitude",
]

#: Coverage of the cluster bootstrap's nominal 95% interval with few sites, measured by
#: simulation (docs/statistics.md, "Confidence intervals"), quoted by its warning.
_FEW_COVERAGE = "71-76% of the time with 3 sites, 81% with 5 and 87% with 10"

#: Columns of the magnitude table after the ``by`` columns, in order (CONTRIBUTING.md).
MAGNITUDE_COLUMNS: tuple[str, ...] = (
    "threshold",
    "n_patients",
    "n_exams",
    "n_reached",
    "share",
    "share_lo",
    "share_hi",
    "ced_median",
    "ced_q1",
    "ced_q3",
    "ced_min",
    "ced_max",
    "days_to_median",
    "days_to_min",
    "exams_to_median",
    "n_age_le_cut",
    "share_age_le_cut",
    "share_female",
    "share_male",
)


def age_band(
    patients: Any,
    edges: Sequence[float] = AGE_EDGES,
    *,
    column: str = "age_first_exam",
    name: str = "age_band",
    labels: str = "dash",
) -> Frame:
    """Add an age-band column to the patients table, for ``by="age_band"``.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (or any table with ``column``).
    edges : sequence of float, default ``(0, 18, 30, 50, 65, inf)``
        Band edges in years; bands are left-closed, ``[lo, hi)``, labelled ``"18-30"``, and
        ``"65+"`` for an infinite upper edge.
    column : str, default "age_first_exam"
        The age column (age at the first exam in the patients table).
    name : str, default "age_band"
        Name of the new column.
    labels : {"dash", "interval", "integer"}, default "dash"
        Label style (see :func:`band_labels`): ``"51-75"``, ``"[51, 75)"`` or ``"51-74"``
        for the band of ages ``>= 51`` and ``< 75``.

    Returns
    -------
    The table with ``name`` added: a polars ``Enum`` or, for pandas input, an ordered
    pandas ``Categorical`` of the band labels (so strata sort by age, not alphabetically).
    Null where the age is null or outside the edges.
    """
    df, kind = stats_frame(patients)
    column_name(name, "age_band")
    require(df, [column], "age_band")
    check_patients(df, "age_band")
    check_column(df, column, "numeric", "age_band")
    out = df.with_columns(band_expr(column, edges, labels).alias(name))
    return from_polars(out, kind)


def _reached_columns(df: pl.DataFrame, t: float) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Expressions for reached / days_to / exams_to at threshold ``t``.

    Without ``reached_T`` (computed from ``ced_msv``), when (days) and after how many exams T
    was reached are unknown: null.
    """
    lab = param_label(t)
    reached = reached_expr(df, t)
    days = (
        pl.col(f"days_to_{lab}").cast(pl.Float64)
        if f"days_to_{lab}" in df.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    exams = (
        pl.col(f"exams_to_{lab}").cast(pl.Float64)
        if f"exams_to_{lab}" in df.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    return reached, days, exams


def _slim(
    df: pl.DataFrame, by_cols: list[str], cluster: str | None, ts: list[float]
) -> pl.DataFrame:
    """The columns the magnitude table needs, computed once: ``_r{i}`` (reached threshold i),
    ``_d{i}``, ``_x{i}`` (days and exams to it), ``_ced``, ``_nx``, ``_age``, ``_sex`` (each
    name prefixed with :data:`TMP`)."""
    cols: list[pl.Expr] = [pl.col(c) for c in by_cols]
    if cluster is not None and cluster not in by_cols:
        cols.append(pl.col(cluster))
    cols += [
        pl.col("ced_msv").cast(pl.Float64).alias(f"{TMP}ced"),
        pl.col("n_exams").cast(pl.Int64).alias(f"{TMP}nx"),
    ]
    if "age_first_exam" in df.columns:
        cols.append(pl.col("age_first_exam").cast(pl.Float64).alias(f"{TMP}age"))
    if "sex" in df.columns:  # upper-cased in _aggregations, on the patients >= T only
        cols.append(pl.col("sex").cast(pl.Utf8).alias(f"{TMP}sex"))
    for i, t in enumerate(ts):
        reached, days, exams = _reached_columns(df, t)
        cols += [reached.alias(f"{TMP}r{i}"), days.alias(f"{TMP}d{i}"), exams.alias(f"{TMP}x{i}")]
        cols.append(unknown_reached(df, t).alias(f"{TMP}u{i}"))
    # one stratum (and one cluster) 0.0 for 0.0 and -0.0, whatever the row order: polars
    # groups the two as one value labelled by whichever comes first
    keys = [*by_cols, cluster] if cluster is not None else by_cols
    return unsigned_zeros(df.select(cols), keys)


def _drop_unknown(
    slim: pl.DataFrame, df: pl.DataFrame, ts: list[float], by_cols: list[str]
) -> list[pl.DataFrame]:
    """The rows of the slim frame counted at each threshold: the patients for whom it is
    known whether they reached it (:func:`unknown_reached`). One
    :class:`~recurct.errors.DroppedRowsWarning` counts the others, per threshold, and names
    the strata left without patients (which have no row at that threshold)."""
    parts: list[pl.DataFrame] = []
    dropped: list[str] = []
    every: pl.DataFrame | None = None  # the strata, found only where patients are dropped
    for i, t in enumerate(ts):
        unknown = slim.get_column(f"{TMP}u{i}")
        n = int(unknown.sum())
        parts.append(slim.filter(~unknown) if n else slim)
        if n:
            dropped.append(f"{n} at {param_label(t)} mSv (null {unknown_column(df, t)!r})")
            if by_cols and parts[-1].height:
                every = stratum_keys(slim, by_cols) if every is None else every
                gone = every.join(
                    parts[-1].select(by_cols).unique(),
                    on=by_cols,
                    how="anti",
                    nulls_equal=True,
                    maintain_order="left",
                )
                if gone.height:
                    keys = [list(r) for r in gone.select(pl.all().cast(pl.Utf8)).iter_rows()]
                    dropped[-1] += (
                        f", leaving {gone.height} stratum(s) without patients and without a "
                        f"row there ({', '.join(map(str, keys[:10]))}"
                        f"{', ...' if len(keys) > 10 else ''})"
                    )
    if dropped:
        warnings.warn(
            f"magnitude: dropped patient(s) of {slim.height} for whom it is not known whether "
            f"they reached the threshold: {'; '.join(dropped)}; they are not counted in "
            "n_patients, n_exams or n_reached of that threshold",
            DroppedRowsWarning,
            stacklevel=user_stacklevel(),
        )
    if any(p.height == 0 for p in parts):
        raise DataError(
            "magnitude: no patients left: it is unknown for every patient whether they "
            "reached the threshold"
        )
    return parts


def _counts(i: int) -> list[pl.Expr]:
    """Aggregations over every patient of the slim frame for threshold number ``i``."""
    return [
        pl.len().cast(pl.Int64).alias("n_patients"),
        pl.col(f"{TMP}nx").sum().alias("n_exams"),
        pl.col(f"{TMP}r{i}").cast(pl.Int64).sum().alias("n_reached"),
    ]


def _aggregations(df: pl.DataFrame, i: int, age_cut: float) -> list[pl.Expr]:
    """Aggregations over the patients >= T (rows of the slim frame of :func:`_slim` with
    ``_r{i}``) for threshold number ``i``; of an empty set they are null (counts 0)."""
    aggs = [
        pl.col(f"{TMP}ced").median().alias("ced_median"),
        pl.col(f"{TMP}ced").quantile(0.25, interpolation="linear").alias("ced_q1"),
        pl.col(f"{TMP}ced").quantile(0.75, interpolation="linear").alias("ced_q3"),
        pl.col(f"{TMP}ced").min().alias("ced_min"),
        pl.col(f"{TMP}ced").max().alias("ced_max"),
        pl.col(f"{TMP}d{i}").median().alias("days_to_median"),
        pl.col(f"{TMP}d{i}").min().alias("days_to_min"),
        pl.col(f"{TMP}x{i}").median().alias("exams_to_median"),
    ]
    if f"{TMP}age" in df.columns:
        age = pl.col(f"{TMP}age")
        n_le = (age <= age_cut).fill_null(False).cast(pl.Int64).sum()
        n_known = age.is_not_null().cast(pl.Int64).sum()
        aggs += [n_le.alias("n_age_le_cut"), ratio(n_le, n_known).alias("share_age_le_cut")]
    else:
        aggs += [
            pl.lit(None, dtype=pl.Int64).alias("n_age_le_cut"),
            pl.lit(None, dtype=pl.Float64).alias("share_age_le_cut"),
        ]
    if f"{TMP}sex" in df.columns:
        sex = pl.col(f"{TMP}sex").str.to_uppercase()
        n_known = sex.is_not_null().cast(pl.Int64).sum()
        for code, col in (("F", "share_female"), ("M", "share_male")):
            n_code = (sex == code).fill_null(False).cast(pl.Int64).sum()
            aggs.append(ratio(n_code, n_known).alias(col))
    else:
        aggs += [
            pl.lit(None, dtype=pl.Float64).alias("share_female"),
            pl.lit(None, dtype=pl.Float64).alias("share_male"),
        ]
    return aggs


def _block(slim: pl.DataFrame, by_cols: list[str], i: int, age_cut: float) -> pl.DataFrame:
    """The "all" row and one row per stratum for threshold number ``i``.

    Counts scan every patient once; every other statistic is over the patients >= T only,
    a small part of the table, filtered once (no per-aggregation filter over all rows).
    """
    hit = slim.filter(pl.col(f"{TMP}r{i}"))
    aggs = _aggregations(slim, i, age_cut)
    block = pl.concat([slim.select(_counts(i)), hit.select(aggs)], how="horizontal")
    block = block.with_columns(*(pl.lit(ALL, dtype=pl.Utf8).alias(c) for c in by_cols))
    if not by_cols:
        return block
    groups = (
        slim.group_by(by_cols)
        .agg(_counts(i))
        .join(hit.group_by(by_cols).agg(aggs), on=by_cols, how="left", nulls_equal=True)
    )
    groups = stratum_keys(slim, by_cols).join(
        groups, on=by_cols, how="left", nulls_equal=True, maintain_order="left"
    )
    if f"{TMP}age" in slim.columns:  # strata without a patient >= T: a count of 0, as for "all"
        groups = groups.with_columns(pl.col("n_age_le_cut").fill_null(0))
    groups = groups.with_columns(pl.col(c).cast(pl.Utf8) for c in by_cols)
    return pl.concat([block, groups], how="diagonal_relaxed")


def _bootstrap_rows(
    slim: pl.DataFrame,
    block: pl.DataFrame,
    by_cols: list[str],
    cluster: str | None,
    i: int,
    n_boot: int,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The interval of ``ci="bootstrap"`` of the share on every row of ``block`` (in row
    order; :func:`share_interval`), warning once if a bootstrapped row has fewer than
    ``FEW_CLUSTERS`` clusters."""
    lo = np.empty(block.height)
    hi = np.empty(block.height)
    per_stratum: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
    overall: tuple[np.ndarray, np.ndarray] | None = None
    if cluster is not None:
        stats = [
            pl.len().alias(f"{TMP}n"),
            pl.col(f"{TMP}r{i}").cast(pl.Int64).sum().alias(f"{TMP}k"),
        ]
        # clusters in a fixed order (by their string form) so that a seed reproduces a result
        g = slim.group_by(cluster).agg(stats).sort(pl.col(cluster).cast(pl.Utf8))
        overall = (g[f"{TMP}n"].to_numpy(), g[f"{TMP}k"].to_numpy())
        if by_cols:
            keys = list(dict.fromkeys([*by_cols, cluster]))
            g = slim.group_by(keys).agg(stats)
            g = g.with_columns(pl.col(c).cast(pl.Utf8) for c in by_cols)
            g = g.sort([*by_cols, pl.col(cluster).cast(pl.Utf8)], nulls_last=True)
            for key, part in g.partition_by(by_cols, as_dict=True, maintain_order=True).items():
                per_stratum[tuple(key)] = (part[f"{TMP}n"].to_numpy(), part[f"{TMP}k"].to_numpy())
    n_all, k_all = block["n_patients"].to_numpy(), block["n_reached"].to_numpy()
    few: list[int] = []  # the clusters of each bootstrapped row with fewer than FEW_CLUSTERS
    # rows drawn from the one generator in a fixed order (by the strata's string form, the
    # overall row's included), so that a seed gives the same intervals whatever the order
    # of the patients table's rows (in which the strata first appear)
    keys = block.select(pl.col(c).cast(pl.Utf8) for c in by_cols).rows() if by_cols else []
    rows = range(block.height)
    for r in sorted(rows, key=lambda r: [(v is None, v or "") for v in keys[r]]) if keys else rows:
        if cluster is None:
            n_c, k_c = np.array([n_all[r]]), np.array([k_all[r]])
        elif r == 0:
            assert overall is not None
            n_c, k_c = overall
        else:
            n_c, k_c = per_stratum[tuple(block.row(r, named=True)[c] for c in by_cols)]
        lo[r], hi[r], boot = share_interval(n_c, k_c, n_boot=n_boot, alpha=alpha, rng=rng)
        if boot and n_c.size < FEW_CLUSTERS:
            few.append(int(n_c.size))
    if few:
        m = f"{min(few)}" if min(few) == max(few) else f"{min(few)}-{max(few)}"
        warnings.warn(
            f"magnitude: the cluster bootstrap resamples fewer than {FEW_CLUSTERS} clusters "
            f"({m} {cluster!r} values) on {len(few)} row(s); with so few "
            "its percentile interval is too narrow: in simulations a nominal 95% interval "
            f"covered {_FEW_COVERAGE} (docs/statistics.md, 'Confidence intervals'). Report "
            "recurct.stats.meta_proportion (random effects) beside it",
            RecurctWarning,
            stacklevel=user_stacklevel(),
        )
    return lo, hi


@overload
def magnitude(
    patients: pl.DataFrame | pl.LazyFrame | ReadResult[pl.DataFrame],
    thresholds: float | Sequence[float] = ...,
    by: str | Sequence[str] | None = ...,
    *,
    ci: str = ...,
    alpha: float = ...,
    age_cut: float = ...,
    cluster: str | None = ...,
    n_boot: int = ...,
    seed: int = ...,
    population: Any = ...,
) -> pl.DataFrame: ...
@overload
def magnitude(
    patients: pd.DataFrame | ReadResult[pd.DataFrame],
    thresholds: float | Sequence[float] = ...,
    by: str | Sequence[str] | None = ...,
    *,
    ci: str = ...,
    alpha: float = ...,
    age_cut: float = ...,
    cluster: str | None = ...,
    n_boot: int = ...,
    seed: int = ...,
    population: Any = ...,
) -> pd.DataFrame: ...
@overload
def magnitude(
    patients: pl.DataFrame | pd.DataFrame | ReadResult[Any],
    thresholds: float | Sequence[float] = ...,
    by: str | Sequence[str] | None = ...,
    *,
    ci: str = ...,
    alpha: float = ...,
    age_cut: float = ...,
    cluster: str | None = ...,
    n_boot: int = ...,
    seed: int = ...,
    population: Any = ...,
) -> pl.DataFrame | pd.DataFrame: ...
@overload
def magnitude(
    patients: pa.Table | pa.RecordBatch,
    thresholds: float | Sequence[float] = ...,
    by: str | Sequence[str] | None = ...,
    *,
    ci: str = ...,
    alpha: float = ...,
    age_cut: float = ...,
    cluster: str | None = ...,
    n_boot: int = ...,
    seed: int = ...,
    population: Any = ...,
) -> pl.DataFrame: ...
@renamed(threshold="thresholds")
def magnitude(
    patients: Any,
    thresholds: float | Sequence[float] = 100,
    by: str | Sequence[str] | None = None,
    *,
    ci: str = "wilson",
    alpha: float = 0.05,
    age_cut: float = 50,
    cluster: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    population: Any = None,
) -> Frame:
    """The magnitude table: patients reaching CED >= ``thresholds`` mSv, overall and by stratum.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table of :func:`recurct.cumulative_dose` (one row per patient). Needs
        ``n_exams``, ``ced_msv`` and, per threshold ``T``, ``reached_T``, ``days_to_T`` and
        ``exams_to_T``; ``age_first_exam`` and ``sex`` are used when present (else the
        age and sex columns of the result are null). If ``reached_T`` is missing, it is computed
        as ``ced_msv >= T``, exactly what ``reached_T`` would be: every path of
        :func:`recurct.cumulative_dose` (totals only too) sums the doses by one rule, the
        correctly rounded sum (in practice) in any order, so ``ced_msv`` is the last value
        of the running CED, which never decreases (doses >= 0, rounding monotone); and the
        ``days_to_*`` / ``exams_to_*`` statistics are null: the time to reach T needs the
        exams; rerun ``cumulative_dose(..., thresholds=[T])`` to get them. Patients for whom
        it is unknown whether they reached T (a null ``reached_T``, or without it a null or
        NaN ``ced_msv``) are left out of that threshold's block, with a
        :class:`~recurct.errors.DroppedRowsWarning` that counts them (a stratum left without
        patients has no row there).
    thresholds : float or sequence of float, default 100
        Threshold(s) in mSv, each > 0 and distinct. Several give a long table (one block per
        threshold, in the order given).
    by : str or sequence of str, optional
        Column(s) of the patients table to stratify by (e.g. ``"facility"``, or ``"age_band"``
        from :func:`age_band`). Their values are cast to strings in the result.
    ci : str, default "wilson"
        Interval for ``share``: a method of :func:`recurct.stats.proportion_ci` (``"wilson"``,
        ``"clopper-pearson"``/``"exact"``/``"beta"``, ``"jeffreys"``, ``"agresti-coull"``,
        ``"normal"``/``"wald"``; the names :func:`recurct.stats.site_table` accepts), or
        ``"bootstrap"``: a percentile bootstrap of the clusters with ``n_boot`` replicates
        (see ``cluster``), on the rows with two or more clusters and some but not all of
        their patients >= T. Every other row (one cluster, no ``cluster=`` at all, or 0 or
        all patients >= T) gets the Clopper-Pearson interval instead (without ``cluster=`` a
        :class:`recurct.errors.RecurctWarning` says so): there the percentile
        bootstrap is a binomial draw around the observed share, or has width 0, and covers
        too rarely (64% for a nominal 95% interval at 50 patients and a share of 0.02;
        docs/statistics.md).
    alpha : float, default 0.05
        ``1 - confidence level``.
    age_cut : float, default 50
        ``n_age_le_cut`` / ``share_age_le_cut`` count patients >= T whose age at the first
        exam is <= ``age_cut`` (Rehani et al. 2020 report the share aged <= 50; which reading
        of the age they used is not recorded in docs/sources.md). The age compared is the
        exact (decimal) age at the first exam, ``age_first_exam`` as given: with
        ``age_cut=50`` a patient aged 50.5 counts as > 50, though aged 50 in completed years.
        To count completed years, floor the age column first
        (``pl.col("age_first_exam").floor()``), as :func:`recurct.stats.standardise` does for
        its age groups. The synthetic cohorts' ages are continuous, and their calibration
        target for the share aged <= 50 compares the exact age in the same way.
    cluster : str, optional
        With ``ci="bootstrap"``: the column of the sampling unit (e.g. ``"facility"``). Each
        row's interval then resamples the clusters present in that row with replacement (a
        cluster bootstrap: it includes the between-site variation of a multi-site pooled share).
        A row with a single cluster (e.g. ``by="facility"``), and every row without
        ``cluster``, gets the Clopper-Pearson interval (see ``ci``). Fewer than 10 clusters
        on a bootstrapped row give a :class:`recurct.errors.RecurctWarning`: a nominal 95%
        interval then covered 71-76% of the time with 3 sites, 81% with 5 and 87% with 10
        in simulations (docs/statistics.md, "Confidence intervals").
    n_boot : int, default 2000
        Bootstrap replicates (of the bootstrapped rows).
    seed : int, default 0
        Seed of the ``numpy.random.Generator`` used by the bootstrap: the same seed gives the
        same interval.
    population : int or table, optional
        A population denominator (people with and without CT): adds ``n_population``,
        ``share_population`` (``n_reached / n_population``), ``share_population_lo`` and
        ``share_population_hi`` (the ``ci`` interval; Wilson when ``ci="bootstrap"``; see
        :mod:`recurct.stats.population`).

    Returns
    -------
    polars.DataFrame (pandas if ``patients`` was pandas)
        The ``by`` columns (strings; ``"all"`` on the overall row, which comes first in each
        threshold block; strata follow in the order of an ``Enum`` band's categories or of a
        pandas ordered ``Categorical``'s categories, else in the order their values first
        appear in the table, null last), then
        ``threshold``, ``n_patients``, ``n_exams``, ``n_reached``, ``share`` (a fraction),
        ``share_lo``, ``share_hi``, ``ced_median``, ``ced_q1``, ``ced_q3``, ``ced_min``,
        ``ced_max`` (CED of the patients >= T; quartiles by linear interpolation, numpy's
        default), ``days_to_median``, ``days_to_min`` (days from the first exam to the exam that
        reached T), ``exams_to_median``, ``n_age_le_cut``, ``share_age_le_cut`` (denominator:
        patients >= T with a known age), ``share_female``, ``share_male`` (denominator: patients
        >= T with a known sex; ``"O"`` and ``"U"`` count in it). Statistics of an empty set
        (no patient >= T in a stratum) are null, never NaN.

    Raises
    ------
    ParameterError
        On a threshold that is not finite and > 0 (or repeated), an ``age_cut`` that is not
        an age, a ``by`` column missing from the table or given twice, an unknown ``ci``,
        ``cluster`` without ``ci="bootstrap"``, or a bad ``alpha``, ``seed`` or ``n_boot``.
    DataError
        On an empty table (or one where it is unknown for every patient whether they
        reached a threshold), a missing ``n_exams`` or ``ced_msv`` column, values of them that
        are not finite numbers >= 0, a ``by`` value ``"all"`` (the label of the overall row;
        the message names the column and the rows), or a null in the ``cluster`` column.
        (Both are ``ValueError`` subclasses.)

    Notes
    -----
    The Wilson interval treats patients as independent draws. In a pooled multi-site cohort
    the share varies between sites far more than binomial sampling explains; report the
    cluster bootstrap (``ci="bootstrap", cluster="facility"``) or a random-effects pooled
    share (``recurct.stats.meta_proportion``) for the "all" row.
    """
    df, kind = stats_frame(patients)
    ts = _checks.some_thresholds(thresholds, "magnitude")
    age_cut = _checks.age(age_cut, "magnitude", "age_cut")
    if age_cut is None:
        raise ParameterError("magnitude: age_cut must be an age in years, got None")
    by_cols = by_list(by, df)
    check_by_names(by_cols, [*MAGNITUDE_COLUMNS, "n_population"], "magnitude")
    check_nonempty(df)
    require(df, ["n_exams", "ced_msv"], "magnitude")  # (their values checked here)
    check_patients(df, "magnitude", [c for c in df.columns if c not in ("n_exams", "ced_msv")])
    if not isinstance(ci, str) or ci != "bootstrap":
        try:
            ci_method(ci)
        except ValueError:
            raise ParameterError(
                f"unknown ci {ci!r}; use one of {', '.join(CI_ALIASES)} or 'bootstrap'"
            ) from None
    alpha = _checks.alpha(alpha, "magnitude")
    if cluster is not None:
        if ci != "bootstrap":
            raise ParameterError("cluster= is used by the bootstrap only: pass ci='bootstrap'")
        require(df, [cluster], "magnitude(cluster=...)")
        n_null = df[cluster].null_count()
        if n_null:
            raise DataError(
                f"cluster column {cluster!r} has {n_null} null value(s); fill or drop them"
            )
    _checks.integer(seed, "magnitude", "seed")
    _checks.integer(n_boot, "magnitude", "n_boot", lo=1, hi=10_000_000)
    if ci == "bootstrap" and cluster is None:
        warnings.warn(
            "magnitude: ci='bootstrap' without cluster= resamples nothing that varies beyond a "
            "binomial draw: every row gets the Clopper-Pearson interval (pass "
            "ci='clopper-pearson' to say so, or cluster='facility' for a cluster bootstrap)",
            RecurctWarning,
            stacklevel=user_stacklevel(),
        )
    rng = np.random.default_rng(seed)

    parts = _drop_unknown(_slim(df, by_cols, cluster, ts), df, ts, by_cols)
    blocks: list[pl.DataFrame] = []
    for i, t in enumerate(ts):
        slim = parts[i]
        block = _block(slim, by_cols, i, float(age_cut)).with_columns(
            pl.lit(t, dtype=pl.Float64).alias("threshold"),
            ratio(pl.col("n_reached"), pl.col("n_patients")).alias("share"),
        )
        if ci == "bootstrap":
            lo, hi = _bootstrap_rows(slim, block, by_cols, cluster, i, int(n_boot), alpha, rng)
        else:
            lo, hi = proportion_ci(
                block["n_reached"].to_numpy(), block["n_patients"].to_numpy(), alpha, ci
            )
        block = block.with_columns(
            pl.Series("share_lo", lo, dtype=pl.Float64),
            pl.Series("share_hi", hi, dtype=pl.Float64),
        )
        blocks.append(block)

    out = pl.concat(blocks, how="vertical")
    counts = ("n_patients", "n_exams", "n_reached", "n_age_le_cut")
    casts = {c: (pl.Int64 if c in counts else pl.Float64) for c in MAGNITUDE_COLUMNS}
    out = out.select(
        *(pl.col(c) for c in by_cols),
        *(pl.col(c).cast(casts[c]) for c in MAGNITUDE_COLUMNS),
    )
    out = out.with_columns(pl.col(pl.Float64).fill_nan(None))
    if population is not None:
        from recurct.stats.population import add_population

        out = add_population(out, population, by_cols, "n_reached", patients=df, alpha=alpha, ci=ci)
    return from_polars(out, kind)
