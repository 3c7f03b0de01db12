"""Patients per cumulative-dose band and exams per patient.

Dose bands are the form of Sodickson et al. 2009 (Radiology 251:175-184) and Stopsack &
Cerhan 2019: how many patients fall in each CED band. Exams per patient is the form of
Ferretti et al. 2025: the share of patients with at least k exams, and the full distribution.
recurct takes no figure from these studies (docs/sources.md, "Studies whose table forms
recurct follows").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import polars as pl

from recurct import _checks
from recurct import kernels as _k
from recurct._casts import as_written
from recurct._compat import renamed
from recurct._frames import from_polars
from recurct._periods import list_sums
from recurct.errors import DataError, ParameterError
from recurct.stats._common import (
    TMP,
    _rows,
    band_expr,
    band_labels,
    block_counts,
    block_group_by,
    block_labels,
    block_sizes,
    block_sums,
    by_list,
    check_by_names,
    check_column,
    check_exam_doses,
    check_nonempty,
    check_patients,
    require,
    stats_frame,
    stratum_rows,
)
from recurct.stats.population import add_population
from recurct.stats.proportion import proportion_ci

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = [
    "DOSE_BANDS",
    "ExamsPerPatient",
    "dose_bands",
    "dose_share",
    "exams_per_patient",
    "single_exam_share",
]

DOSE_BANDS: tuple[float, ...] = (0, 10, 25, 50, 100, 250, 1000, math.inf)
"""Default CED bands in mSv, left-closed: [0, 10), [10, 25), ..., [1000, inf)."""


def _with_ci(df: pl.DataFrame, k: str, n: str, alpha: float, method: str) -> pl.DataFrame:
    lo, hi = proportion_ci(df[k].to_numpy(), df[n].to_numpy(), alpha, method)
    return df.with_columns(
        pl.Series("share_lo", lo, dtype=pl.Float64),
        pl.Series("share_hi", hi, dtype=pl.Float64),
    ).with_columns(pl.col("share_lo", "share_hi").fill_nan(None))


@renamed(bands="edges")
def dose_bands(
    patients: Any,
    edges: Sequence[float] = DOSE_BANDS,
    by: str | Sequence[str] | None = None,
    *,
    column: str = "ced_msv",
    ci: str = "wilson",
    alpha: float = 0.05,
    labels: str = "dash",
    population: Any = None,
) -> Frame:
    """Patients and share per CED band, overall and by stratum.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (needs ``column``, by default ``ced_msv``).
    edges : sequence of float, default ``(0, 10, 25, 50, 100, 250, 1000, inf)``
        Band edges in mSv; bands are left-closed, ``[lo, hi)``, labelled ``"100-250"`` and
        ``"1000+"`` for an infinite upper edge. Every CED must fall in a band.
    by : str or sequence of str, optional
        Stratify (``"all"`` rows first, then one block per stratum).
    column : str, default "ced_msv"
        The dose column to band (e.g. ``"max_ced_1826"`` for the largest 5-year CED).
    ci, alpha
        Interval for each band's share (see :func:`recurct.stats.proportion_ci`).
    labels : {"dash", "interval", "integer"}, default "dash"
        Band label style (:func:`recurct.stats._common.band_labels`): ``"100-250"``,
        ``"[100, 250)"`` or ``"100-249"``. ``"integer"`` needs whole-number doses (a
        :class:`recurct.errors.DataError` names the rows of others: 249.5 mSv is in the band
        it would label ``"100-249"``).
    population : int or table, optional
        A population denominator (people with and without CT, see
        :mod:`recurct.stats.population`): adds ``n_population`` and ``share_population``
        (``n_patients / n_population``) with its interval.

    Returns
    -------
    polars.DataFrame (pandas if ``patients`` was pandas)
        The ``by`` columns (strings), ``band`` (label), ``band_lo``, ``band_hi`` (mSv),
        ``n_patients`` (in the band), ``n_total`` (in the stratum), ``share``, ``share_lo``,
        ``share_hi``, ``cum_share_ge`` (share of the stratum at or above ``band_lo``), and the
        population columns where asked. Every band appears in every stratum, with 0 patients
        where empty.

    Raises
    ------
    ValueError
        On an empty table, bad edges, or a dose that is null or outside the bands.
    """
    df, kind = stats_frame(patients)
    by_cols = by_list(by, df)
    check_nonempty(df)
    require(df, [column], "dose_bands")
    check_patients(df, "dose_bands")
    check_column(df, column, "dose", "dose_bands")
    names = band_labels(edges, labels)
    edges = [float(b) for b in edges]
    check_by_names(by_cols, _BAND_COLUMNS, "dose_bands")
    if labels == "integer" and df.schema[column].is_float():
        frac = df[column] != df[column].floor()
        if frac.any():  # 9.6 mSv is in [0, 10), which this style labels "0-9"
            raise DataError(
                f"dose_bands: labels='integer' names a band by its whole numbers (0-9 for "
                f"[0, 10)), which misreads the doses of column {column!r} that are not whole "
                f"numbers: {_rows(frac)} (0-based); use labels='dash' or 'interval'"
            )
    band = df.select(band_expr(column, edges, labels).to_physical().alias("band"))["band"]
    if band.null_count():
        null = df[column].is_null()
        if null.any():
            raise DataError(
                f"dose_bands: column {column!r} is null in {_rows(null)} (0-based); drop "
                "these patients or fill the dose first"
            )
        raise DataError(
            f"dose_bands: column {column!r} is outside the bands [{edges[0]:g}, "
            f"{edges[-1]:g}) in {_rows(band.is_null())} (0-based); widen the band edges"
        )
    k = len(names)
    idx = band.to_numpy().astype(np.int64)
    groups = stratum_rows(df, by_cols)
    n = block_counts(groups, idx, k)  # block x band
    blocks = n.shape[0]
    n_total = n.sum(axis=1)
    ge = n[:, ::-1].cumsum(axis=1)[:, ::-1] / n_total[:, None]
    out = pl.DataFrame(
        [
            *block_labels(by_cols, groups, np.repeat(np.arange(blocks), k)),
            pl.Series("band", names * blocks, pl.Utf8),
            pl.Series("band_lo", edges[:-1] * blocks, pl.Float64),
            pl.Series("band_hi", edges[1:] * blocks, pl.Float64),
            pl.Series("n_patients", n.ravel(), pl.Int64),
            pl.Series("n_total", np.repeat(n_total, k), pl.Int64),
            pl.Series("cum_share_ge", ge.ravel(), pl.Float64),
        ]
    )
    out = out.with_columns((pl.col("n_patients") / pl.col("n_total")).alias("share"))
    out = _with_ci(out, "n_patients", "n_total", alpha, ci)
    out = out.select(
        *by_cols,
        "band",
        "band_lo",
        "band_hi",
        "n_patients",
        "n_total",
        "share",
        "share_lo",
        "share_hi",
        "cum_share_ge",
    )
    if population is not None:
        out = add_population(
            out, population, by_cols, "n_patients", patients=df, alpha=alpha, ci=ci
        )
    return from_polars(out, kind)


# the output columns of each function (a ``by`` column may not take their names)
_SHARE_COLUMNS = ("n_exams", "dose_msv", "dose_share", "exam_share", "mean_dose_msv")
_SINGLE_COLUMNS = ("n_exams", "n_exams_ge", "n_patients", "n_patients_ge", "share_exams")
_SINGLE_COLUMNS += ("share_exams_lo", "share_exams_hi", "share_patients", "share_patients_lo")
_SINGLE_COLUMNS += ("share_patients_hi",)
_EXAMS_COLUMNS = ("at_least", "n_patients", "n_total", "share", "share_lo", "share_hi")
_EXAMS_COLUMNS += ("n_exams", "cum_share_ge")
_BAND_COLUMNS = ("band", "band_lo", "band_hi", "n_patients", "n_total", "share", "share_lo")
_BAND_COLUMNS += ("share_hi", "cum_share_ge", "n_population", "share_population")


class ExamsPerPatient(NamedTuple):
    """Result of :func:`exams_per_patient`: two tables."""

    #: share of patients with at least k exams, per k (and stratum)
    at_least: Frame
    #: n_exams -> number and share of patients (and stratum)
    distribution: Frame


def exams_per_patient(
    patients: Any,
    at_least: Sequence[int] = (2, 5, 10),
    by: str | Sequence[str] | None = None,
    *,
    ci: str = "wilson",
    alpha: float = 0.05,
) -> ExamsPerPatient:
    """Share of patients with at least k exams, and the distribution of exams per patient.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (needs ``n_exams``).
    at_least : sequence of int, default (2, 5, 10)
        The k of "patients with >= k exams" (each >= 1).
    by : str or sequence of str, optional
        Stratify (``"all"`` rows first).
    ci, alpha
        Interval for the shares (see :func:`recurct.stats.proportion_ci`).

    Returns
    -------
    ExamsPerPatient
        A named tuple of two tables (polars, or pandas for pandas input):
        ``at_least`` -- the ``by`` columns, ``at_least`` (the k), ``n_patients`` (with >= k exams),
        ``n_total``, ``share``, ``share_lo``, ``share_hi``; and ``distribution`` -- the ``by``
        columns, ``n_exams``, ``n_patients``, ``share`` (of the stratum), ``cum_share_ge`` (share
        with at least that many exams), for each observed number of exams.
    """
    df, kind = stats_frame(patients)
    by_cols = by_list(by, df)
    check_nonempty(df)
    require(df, ["n_exams"], "exams_per_patient")
    check_patients(df, "exams_per_patient")
    ks = []
    for k in _checks.many(at_least):
        x = _checks.number(k, "exams_per_patient", "at_least", hi=1e9, what=" exams")
        if x != int(x):
            raise ParameterError(f"at_least: give whole numbers of exams, got {k!r}")
        ks.append(int(x))
    if not ks or any(k < 1 for k in ks):
        raise ParameterError(
            f"at_least: give exam counts >= 1, got {list(np.atleast_1d(at_least))}"
        )
    if df["n_exams"].null_count():
        raise DataError(
            f"exams_per_patient: column 'n_exams' is null in {_rows(df['n_exams'].is_null())} "
            "(0-based); drop these patients or rebuild the table with recurct.cumulative_dose()"
        )
    check_by_names(by_cols, _EXAMS_COLUMNS, "exams_per_patient")
    n = df["n_exams"].cast(pl.Int64).to_numpy()
    groups = stratum_rows(df, by_cols)
    size = block_sizes(groups, n.size)
    blocks = size.size
    at = np.stack([block_sums(groups, n >= k) for k in ks], axis=1)  # block x k
    ge = pl.DataFrame(
        [
            *block_labels(by_cols, groups, np.repeat(np.arange(blocks), len(ks))),
            pl.Series("at_least", ks * blocks, pl.Int64),
            pl.Series("n_patients", at.ravel(), pl.Int64),
            pl.Series("n_total", np.repeat(size, len(ks)), pl.Int64),
        ]
    )
    ge = ge.with_columns((pl.col("n_patients") / pl.col("n_total")).alias("share"))
    ge = _with_ci(ge, "n_patients", "n_total", alpha, ci)
    ge = ge.select(*by_cols, "at_least", "n_patients", "n_total", "share", "share_lo", "share_hi")
    count = pl.len().cast(pl.Int64).alias("n_patients")
    dist = block_group_by(
        pl.DataFrame({"n_exams": n}), groups, ["n_exams"], [count], [pl.col("n_patients").sum()]
    ).sort(f"{TMP}block", "n_exams")
    b = dist[f"{TMP}block"].to_numpy()
    total = pl.Series(size[b])
    dist = dist.with_columns(
        (pl.col("n_patients") / total).alias("share"),
        (pl.col("n_patients").cum_sum(reverse=True).over(f"{TMP}block") / total).alias(
            "cum_share_ge"
        ),
    ).drop(f"{TMP}block")
    dist = dist.with_columns(*block_labels(by_cols, groups, b))
    dist = dist.select(*by_cols, "n_exams", "n_patients", "share", "cum_share_ge")
    return ExamsPerPatient(from_polars(ge, kind), from_polars(dist, kind))


def dose_share(
    exams: Any,
    column: str = "body_region",
    by: str | Sequence[str] | None = None,
) -> Frame:
    """Share of the collective dose (sum of effective doses) by a category of exam.

    The form of the table in Stopsack & Cerhan 2019 (each CT type's share of the estimated
    dose; docs/sources.md).

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        The exam table (``effective_dose_msv`` and ``column``).
    column : str, default "body_region"
        The category (a null category is its own row, labelled ``"not stated"``).
    by : str or sequence of str, optional
        Strata (an ``"all"`` block first); the shares sum to 1 within each.

    Returns
    -------
    polars.DataFrame (pandas if ``exams`` was pandas)
        The ``by`` columns, ``column`` (strings), ``n_exams``, ``dose_msv`` (sum), ``dose_share``
        (of the stratum's dose), ``exam_share`` (of its exams), ``mean_dose_msv``; sorted by
        decreasing dose within each stratum.
    """
    df, kind = stats_frame(exams)
    by_cols = by_list(by, df, "exam table")
    check_nonempty(df, "exam table")
    require(df, ["effective_dose_msv", column], "dose_share", "exam table")
    check_exam_doses(df, "dose_share")
    if df["effective_dose_msv"].null_count():  # (check_exam_doses refused the rest)
        raise DataError(
            "dose_share: column 'effective_dose_msv' is null in "
            f"{_rows(df['effective_dose_msv'].is_null())} (0-based); compute or drop these "
            "exams first"
        )
    check_by_names(by_cols, [column, *_SHARE_COLUMNS], "dose_share")
    groups = stratum_rows(df, by_cols)
    work = df.select(
        pl.col(column).cast(pl.Utf8).fill_null("not stated"),
        as_written(pl.col("effective_dose_msv"), df["effective_dose_msv"].dtype),
    )
    # doses summed by recurct's rule (:func:`recurct.kernels.segment_sums`, as a CED), each
    # sum over the exams themselves (the "all" block's too, not a sum of the strata's sums):
    # the same in any row order
    dose = work.get_column("effective_dose_msv").to_numpy()
    whole = _k.segment_sums(np.array([0, dose.size], np.int64), dose)
    totals = (
        whole
        if groups is None
        else np.concatenate((whole, _k.segment_sums(groups.bounds, dose[groups.order])))
    )
    sums = [pl.col("n_exams").sum(), pl.col("dose_msv").explode()]  # (the doses' lists joined)
    g = block_group_by(
        work,
        groups,
        [column],
        [pl.len().cast(pl.Int64).alias("n_exams"), pl.col("effective_dose_msv").alias("dose_msv")],
        sums,
    )
    g = g.with_columns(
        list_sums(g.get_column("dose_msv")),
        pl.Series(f"{TMP}total", totals[g.get_column(f"{TMP}block").to_numpy()]),
        pl.col("n_exams").sum().over(f"{TMP}block").alias(f"{TMP}exams"),
    ).sort([f"{TMP}block", "dose_msv", column], descending=[False, True, False])
    g = g.with_columns(
        pl.when(pl.col(f"{TMP}total") > 0)
        .then(pl.col("dose_msv") / pl.col(f"{TMP}total"))
        .alias("dose_share"),
        (pl.col("n_exams") / pl.col(f"{TMP}exams")).alias("exam_share"),
        (pl.col("dose_msv") / pl.col("n_exams")).alias("mean_dose_msv"),
    )
    b = g[f"{TMP}block"].to_numpy()
    out = g.drop(f"{TMP}block", f"{TMP}total", f"{TMP}exams").with_columns(
        *block_labels(by_cols, groups, b)
    )
    out = out.select(
        *by_cols, column, "n_exams", "dose_msv", "dose_share", "exam_share", "mean_dose_msv"
    )
    return from_polars(out, kind)


def single_exam_share(
    exams: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    ci: str = "beta",
    alpha: float = 0.05,
) -> Frame:
    """Probability that a single exam delivers an effective dose >= ``threshold``.

    The form of the estimate in Jeukens et al. 2021 (the probability that a single exam
    reaches 100 mSv; docs/sources.md). Reported per exam and per patient (patients with at
    least one such exam).

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        The exam table (``patient_id``, ``effective_dose_msv``; neither may be null: a
        null ``patient_id`` raises :class:`recurct.errors.DataError` naming the rows, as in
        :func:`recurct.cumulative_dose`).
    threshold : float, default 100
        T in mSv.
    by : str or sequence of str, optional
        Strata of the exam table.
    ci, alpha
        Binomial interval (Clopper-Pearson by default, right for very small shares).

    Returns
    -------
    polars.DataFrame (pandas if ``exams`` was pandas)
        The ``by`` columns, ``threshold``, ``n_exams``, ``n_exams_ge``, ``share_exams``,
        ``share_exams_lo``, ``share_exams_hi``, ``n_patients``, ``n_patients_ge``,
        ``share_patients``, ``share_patients_lo``, ``share_patients_hi``.
    """
    df, kind = stats_frame(exams)
    t = [_checks.threshold(threshold, "single_exam_share")]
    alpha = _checks.alpha(alpha, "single_exam_share")
    by_cols = by_list(by, df, "exam table")
    check_nonempty(df, "exam table")
    require(df, ["patient_id", "effective_dose_msv"], "single_exam_share", "exam table")
    check_exam_doses(df, "single_exam_share")
    if df["patient_id"].null_count():  # a null id is no patient (as in cumulative_dose)
        bad = df["patient_id"].is_null().arg_true()
        shown = ", ".join(str(i) for i in bad.head(5).to_list())
        more = f" (first 5 of {bad.len()})" if bad.len() > 5 else ""
        raise DataError(
            f"single_exam_share: column 'patient_id' is null in row(s) {shown}{more} "
            "(0-based); drop or fix these exams first"
        )
    if df["effective_dose_msv"].null_count():
        raise DataError(
            "single_exam_share: column 'effective_dose_msv' is null in "
            f"{_rows(df['effective_dose_msv'].is_null())} (0-based); compute or drop these "
            "exams first"
        )
    check_by_names(by_cols, ["threshold", *_SINGLE_COLUMNS], "single_exam_share")
    groups = stratum_rows(df, by_cols)
    dose = df["effective_dose_msv"]
    if dose.dtype in (pl.Float32, pl.Float16):  # as written: 12.3, not 12.300000190734863
        dose = dose.to_frame().select(as_written(pl.first(), dose.dtype)).to_series()
    ge = (dose >= t[0]).to_numpy()
    blocks = 1 if groups is None else groups.bounds.size
    ids = df.select("patient_id", pl.Series(f"{TMP}block", np.zeros(ge.size, np.int64)))
    if groups is not None:
        ids = ids.with_columns(pl.Series(f"{TMP}block", groups.codes + 1))

    def distinct(rows: pl.DataFrame) -> np.ndarray:  # patients per block
        out = np.zeros(blocks, np.int64)
        out[0] = rows["patient_id"].n_unique()
        if groups is not None and rows.height:
            per = rows.group_by(f"{TMP}block").agg(pl.col("patient_id").n_unique())
            out[per[f"{TMP}block"].to_numpy()] = per["patient_id"].to_numpy()
        return out

    out = pl.DataFrame(
        [
            *block_labels(by_cols, groups, np.arange(blocks)),
            pl.Series("threshold", [t[0]] * blocks, pl.Float64),
            pl.Series("n_exams", block_sizes(groups, ge.size), pl.Int64),
            pl.Series("n_exams_ge", block_sums(groups, ge), pl.Int64),
            pl.Series("n_patients", distinct(ids), pl.Int64),
            pl.Series("n_patients_ge", distinct(ids.filter(pl.Series(ge))), pl.Int64),
        ]
    )
    for unit in ("exams", "patients"):
        k = out[f"n_{unit}_ge"].to_numpy()
        n = out[f"n_{unit}"].to_numpy()
        lo, hi = proportion_ci(k, n, alpha, ci)
        out = out.with_columns(
            pl.Series(f"share_{unit}", k / n),
            pl.Series(f"share_{unit}_lo", np.asarray(lo, float)),
            pl.Series(f"share_{unit}_hi", np.asarray(hi, float)),
        )
    cols = ["threshold", "n_exams", "n_exams_ge", "share_exams", "share_exams_lo"]
    cols += ["share_exams_hi", "n_patients", "n_patients_ge", "share_patients"]
    cols += ["share_patients_lo", "share_patients_hi"]
    return from_polars(out.select(*by_cols, *cols), kind)
