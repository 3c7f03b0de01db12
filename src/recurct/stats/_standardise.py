"""Direct age standardisation of the share of patients reaching a threshold.

The share ``p_i = x_i / n_i`` of patients reaching T is computed in each age group ``i`` (age at
the first exam, ``age_first_exam``) and averaged with the weights ``w_i`` of a standard
population: ``ASR = sum_i w_i p_i`` (weights normalised to sum to 1). The default standard is
the European Standard Population 2013 (Eurostat, "Revision of the European Standard Population
- Report of Eurostat's task force", 2013 edition, KS-RA-13-028-EN-N, doi 10.2785/11470), shipped
as ``recurct/data/esp2013.csv`` (5-year groups 0-4 ... 85-89, 90+).

Age groups
    ``age_lo`` and ``age_hi`` are completed years, both inclusive: a patient aged 4.9 belongs to
    0-4 (``age_lo <= floor(age) <= age_hi``); a null (or infinite) ``age_hi`` is open-ended.
    Patients with a null, NaN or infinite age or an age in no group are dropped, with a
    :class:`StandardisationWarning` saying how many; so are patients whose outcome is
    unknown (a null ``reached_<T>``, or without that column a null or NaN ``ced_msv``),
    never counted as not reached. A stratum all of whose patients are
    dropped keeps its row (one row per stratum), with ``n_patients`` and ``n_reached`` 0 and
    null shares; the warning counts such strata.
Empty age groups
    An age group with no patients in a stratum has no share; its weight is dropped and the
    remaining weights are renormalised to sum to 1, with a :class:`StandardisationWarning`
    naming the stratum. ``weight_covered`` reports the fraction of the standard's weight that
    the stratum's groups carried (1.0 when no group was empty). A stratum with
    ``weight_covered < 1`` is standardised to a different (truncated) standard population: its
    ``std_share`` is not comparable with that of fully covered strata (nor with published
    rates on the full standard); compare only rows with ``weight_covered == 1``, or merge age
    groups (pass a coarser ``standard``) until every stratum covers them all.
Confidence intervals
    ``ci="gamma"`` (default): Fay & Feuer (1997, Stat Med 16:791) gamma interval, with
    ``v = sum w_i^2 x_i / n_i^2`` and ``w_M = max_i w_i / n_i``; for a single age group it is
    the exact Poisson (Garwood) interval of ``x / n``. It treats counts as Poisson, so it is
    conservative for proportions; the upper bound is capped at 1.
    ``ci="normal"``: ``ASR +- z sqrt(sum w_i^2 p_i (1 - p_i) / n_i)`` (binomial variances),
    clipped to [0, 1]; its width is 0 when every group share is 0 or 1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from recurct import _checks
from recurct._frames import from_polars, param_label, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, ParameterError, StandardisationWarning
from recurct.stats._common import (
    TMP,
    block_counts,
    block_labels,
    by_list,
    check_by_names,
    check_column,
    check_patients,
    reached_expr,
    stats_frame,
    stratum_rows,
    unknown_reached,
)

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = ["StandardisationWarning", "load_standard", "standardise"]


def load_standard(standard: str | Any = "esp2013") -> pl.DataFrame:
    """The standard population as a polars table ``age_lo``, ``age_hi``, ``weight``.

    ``standard`` is ``"esp2013"`` or a table (polars, pandas, pyarrow) with those columns.
    """
    if isinstance(standard, str):
        if standard.lower() != "esp2013":
            raise ParameterError(f"unknown standard {standard!r}; use 'esp2013' or pass a table")
        path = resources.files("recurct") / "data" / "esp2013.csv"
        with resources.as_file(path) as p:
            df = pl.read_csv(p, comment_prefix="#")
    else:
        df, _ = to_polars(standard)
    missing = [c for c in ("age_lo", "age_hi", "weight") if c not in df.columns]
    if missing:
        raise DataError(f"the standard population lacks column(s) {missing}")
    df = df.select(
        pl.col("age_lo").cast(pl.Float64),
        pl.col("age_hi").cast(pl.Float64).fill_null(math.inf),
        pl.col("weight").cast(pl.Float64),
    )
    lo = df.get_column("age_lo").to_numpy()
    hi = df.get_column("age_hi").to_numpy()
    w = df.get_column("weight").to_numpy()
    if df.height == 0 or np.isnan(lo).any() or np.isnan(w).any():
        raise DataError("the standard population needs non-null age_lo and weight in every row")
    if (w < 0).any() or w.sum() <= 0:
        raise DataError("standard weights must be >= 0 with a positive sum")
    if (hi < lo).any() or (np.diff(lo) <= 0).any() or (lo[1:] <= hi[:-1]).any():
        raise DataError(
            "standard age groups must be sorted by age_lo and not overlap (age_hi inclusive)"
        )
    return df


def _age_group(age: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Index of each age's group, or -1 (null or infinite age, or in no group)."""
    a = np.floor(age)
    idx = np.searchsorted(lo, a, side="right") - 1
    ok = np.isfinite(a) & (idx >= 0)
    ok[ok] &= a[ok] <= hi[idx[ok]]
    return np.where(ok, idx, -1)


def _fay_feuer(
    x: np.ndarray, n: np.ndarray, w: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fay and Feuer's gamma interval of the standardised share of each row (a stratum) of
    the counts ``x`` of ``n`` by age group, weights ``w`` (zero where ``n`` is 0)."""
    present = n > 0
    nn = np.where(present, n, 1.0)
    y = np.sum(w * x / nn, axis=1)
    v = np.sum(w**2 * x / nn**2, axis=1)
    wm = np.max(np.where(present, w / nn, 0.0), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(y == 0, 0.0, stats.gamma.ppf(alpha / 2, y**2 / v, scale=v / y))
    hi = stats.gamma.ppf(1 - alpha / 2, (y + wm) ** 2 / (v + wm**2), scale=(v + wm**2) / (y + wm))
    return y, lo, np.minimum(hi, 1.0)


def _normal(
    x: np.ndarray, n: np.ndarray, w: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal-approximation interval, as :func:`_fay_feuer`."""
    p = x / np.where(n > 0, n, 1.0)
    y = np.sum(w * p, axis=1)
    se = np.sqrt(np.sum(w**2 * p * (1 - p) / np.where(n > 0, n, 1.0), axis=1))
    z = stats.norm.ppf(1 - alpha / 2)
    return y, np.maximum(0.0, y - z * se), np.minimum(1.0, y + z * se)


def standardise(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    standard: str | Any = "esp2013",
    age_column: str = "age_first_exam",
    ci: Literal["gamma", "normal"] = "gamma",
    alpha: float = 0.05,
) -> Frame:
    """Age-standardised share of patients reaching ``threshold`` mSv, per stratum.

    Parameters
    ----------
    patients : DataFrame (polars, pandas or pyarrow)
        Patients table with ``age_column`` and ``reached_<T>`` (or ``ced_msv``).
    threshold : float, default 100
        Threshold in mSv (one).
    by : str or sequence of str, optional
        Strata (e.g. ``"facility"``); each is standardised separately, plus an ``"all"`` row.
    standard : "esp2013" or DataFrame
        Standard population (``age_lo``, ``age_hi``, ``weight``; see the module docstring).
    age_column : str
        Age used for the age groups.
    ci : {"gamma", "normal"}
        Fay-Feuer gamma interval or normal approximation (module docstring).
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        One row per stratum, the ``"all"`` row first, then the strata in the order of
        :func:`recurct.stats.magnitude` (an ``Enum`` band in its own order, other values in
        the order they first appear; never alphabetical): the ``by`` columns (Utf8), ``threshold``,
        ``n_patients``, ``n_reached``, ``crude_share``, ``std_share``, ``std_share_lo``,
        ``std_share_hi``, ``n_groups`` (age groups with patients), ``n_groups_empty``,
        ``weight_covered`` (share of the standard's weight in the groups present; below 1 the
        weights were renormalised and ``std_share`` is **not comparable with fully covered
        strata**), ``ci``. pandas in, pandas out.

    Warns
    -----
    StandardisationWarning
        When patients are dropped (no age or no group, or a null ``reached_<T>`` or
        ``ced_msv``; a stratum left with no patient keeps
        its row, with ``n_patients`` 0 and null shares, and is counted in the warning) or a
        stratum lacks age groups.
    """
    fn = "standardise"
    if not isinstance(ci, str) or ci not in ("gamma", "normal"):
        raise ParameterError(f"ci must be 'gamma' or 'normal', got {ci!r}")
    alpha = _checks.alpha(alpha, fn)
    threshold = _checks.threshold(threshold, fn)
    age_column = _checks.column_name(age_column, fn, "age_column")
    df, kind = stats_frame(patients)
    if age_column not in df.columns:
        raise ParameterError(
            f"age column {age_column!r} is not in the patients table; pass age_column=..."
        )
    check_patients(df, fn)
    check_column(df, age_column, "numeric", fn)
    by_cols = by_list(by, df)
    check_by_names(by_cols, ["threshold", *_SCHEMA], fn)
    std = load_standard(standard)
    weights = std.get_column("weight").to_numpy()
    grp = _age_group(
        df.get_column(age_column).cast(pl.Float64).fill_null(np.nan).to_numpy(),
        std.get_column("age_lo").to_numpy(),
        std.get_column("age_hi").to_numpy(),
    )
    work = df.select(
        *by_cols, reached_expr(df, threshold, fn).alias(f"{TMP}high"), pl.Series(f"{TMP}grp", grp)
    )
    unknown = unknown_reached(df, threshold).to_numpy()
    no_group = grp < 0
    valid = ~no_group & ~unknown
    if not valid.any():
        raise DataError("no patients left to standardise")
    share = weights / weights.sum()
    # the strata of every patient, so that a stratum whose patients all lack an age keeps
    # its row (counts 0, shares null); only the patients with an age group are counted
    groups = stratum_rows(work, by_cols)
    k = share.size
    grp = np.where(valid, grp, 0).astype(np.int64)
    high = work[f"{TMP}high"].fill_null(False).to_numpy()
    blocks = 1 if groups is None else groups.bounds.size
    n = block_counts(groups, grp, k, where=valid).astype(np.float64)  # block x age group
    x = block_counts(groups, grp, k, where=valid & high).astype(np.float64)
    w = np.where(n > 0, share, 0.0)  # the weights of the age groups present
    covered = w.sum(axis=1)
    n_empty = (share > 0).sum() - (w > 0).sum(axis=1)
    labels = block_labels(by_cols, groups, np.arange(blocks))
    vacant = n.sum(axis=1) == 0
    dropped = int(no_group.sum())
    n_unknown = int((unknown & ~no_group).sum())
    keys = [[c[int(b)] for c in labels] for b in np.flatnonzero(vacant)]
    left = (
        f"; {len(keys)} stratum(s) have no patient left ({', '.join(map(str, keys[:10]))}"
        f"{', ...' if len(keys) > 10 else ''}): their rows have n_patients 0 and null shares"
        if keys
        else ""
    )
    if dropped:
        warnings.warn(
            f"standardise: dropped {dropped} patient(s) with a null {age_column!r}, a "
            "non-finite age or an age outside every age group of the standard"
            f"{'' if n_unknown else left}",
            StandardisationWarning,
            stacklevel=user_stacklevel(),
        )
    if n_unknown:
        col = f"reached_{param_label(threshold)}"
        warnings.warn(
            f"standardise: dropped {n_unknown} patient(s) with a null "
            f"{col if col in df.columns else 'ced_msv'!r} (not known whether they reached "
            f"{param_label(threshold)} mSv){left}",
            StandardisationWarning,
            stacklevel=user_stacklevel(),
        )
    for b in np.flatnonzero((n_empty > 0) & ~vacant):
        key = [c[int(b)] for c in labels]
        warnings.warn(
            f"standardise: stratum {key or 'all'} has no patients in {n_empty[b]} age "
            f"group(s) of the standard; weights renormalised over the groups present "
            f"(covering {covered[b]:.1%} of the standard's weight)",
            StandardisationWarning,
            stacklevel=user_stacklevel(),
        )
    interval = _fay_feuer if ci == "gamma" else _normal
    some = covered > 0
    with np.errstate(divide="ignore", invalid="ignore"):  # (a stratum with no patient: null)
        y, lo, hi = interval(x, n, w / np.where(some, covered, 1.0)[:, None], alpha)
    none = pl.lit(None, pl.Float64)
    out = pl.DataFrame(
        [
            *labels,
            pl.Series("n_patients", n.sum(axis=1), pl.Int64),
            pl.Series("n_reached", x.sum(axis=1), pl.Int64),
            pl.Series("crude_share", x.sum(axis=1) / np.maximum(n.sum(axis=1), 1.0)),
            pl.Series("std_share", y, pl.Float64),
            pl.Series("std_share_lo", lo, pl.Float64),
            pl.Series("std_share_hi", hi, pl.Float64),
            pl.Series("n_groups", (n > 0).sum(axis=1), pl.Int64),
            pl.Series("n_groups_empty", n_empty, pl.Int64),
            pl.Series("weight_covered", covered, pl.Float64),
            pl.Series("ci", [ci] * blocks, pl.Utf8),
            pl.Series(f"{TMP}some", some),
        ]
    )
    out = out.with_columns(
        pl.when(pl.col(f"{TMP}some")).then(pl.col(c)).otherwise(none).alias(c)
        for c in ("crude_share", "std_share", "std_share_lo", "std_share_hi")
    ).drop(f"{TMP}some")
    out = out.select(*by_cols, pl.lit(threshold, pl.Float64).alias("threshold"), *_SCHEMA)
    return from_polars(out, kind)


_SCHEMA = {
    "n_patients": pl.Int64,
    "n_reached": pl.Int64,
    "crude_share": pl.Float64,
    "std_share": pl.Float64,
    "std_share_lo": pl.Float64,
    "std_share_hi": pl.Float64,
    "n_groups": pl.Int64,
    "n_groups_empty": pl.Int64,
    "weight_covered": pl.Float64,
    "ci": pl.Utf8,
}
