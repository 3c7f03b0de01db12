"""The same cumulative-dose analysis on Dask, for exam tables larger than one machine.

Install with ``pip install "recurct[dask]"``. The computation is the in-memory one
(:func:`recurct.cumulative_dose`, numba kernels) run once per partition after the exams have
been shuffled so that each patient's exams lie in one partition:

1. a global row number is attached (one pass over partition lengths), so that ties in time
   keep the input order exactly as on one machine;
2. ``shuffle(on="patient_id")`` moves every exam to the partition of its patient (skipped when
   the caller declares the input already partitioned by patient);
3. ``map_partitions`` runs :func:`recurct.cumulative_dose` on each partition and returns a
   Dask DataFrame of patients.

What moves over the network is the exam table once (the shuffle: about 30-40 bytes per exam
for the id, timestamp, dose and row number, plus any optional columns carried); what comes
back to the client is only what the statistics need. :func:`magnitude` computes counts by a
reduction and collects only the small subset of patients at or above the threshold, so its
medians, quartiles and maxima are exact, not approximations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import param_label
from recurct.cumulative import USED_COLUMNS
from recurct.schema import REQUIRED_COLUMNS

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["cumulative_dose", "magnitude"]

_ROW = "__recurct_row"


def _dd() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError('recurct.distributed needs dask: pip install "recurct[dask]"') from err
    return dd


def _fake_row(meta: pd.DataFrame) -> pd.DataFrame:
    """One plausible row with the dtypes of ``meta``, to let recurct build the result's meta."""
    values: dict[str, Any] = {}
    for col, dtype in meta.dtypes.items():
        if col == "exam_date":
            values[col] = pd.Series([pd.Timestamp("2000-01-01")]).astype(dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            values[col] = pd.Series([False], dtype=dtype)
        elif pd.api.types.is_numeric_dtype(dtype):
            values[col] = pd.Series([1], dtype=dtype)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            values[col] = pd.Series([pd.Timestamp("2000-01-01")]).astype(dtype)
        else:
            values[col] = pd.Series(["x"], dtype=dtype)
    return pd.DataFrame(values)


def _patients_partition(
    pdf: pd.DataFrame, thresholds: tuple[float, ...], window_days: tuple[int, ...] | None
) -> pd.DataFrame:
    from recurct.outofcore import chunk_patients

    # in input order (the shuffle mixes the rows): ties in time keep it, as in memory
    exams = pl.from_pandas(pdf, include_index=False)
    if not exams[_ROW].is_sorted():
        exams = exams.sort(_ROW)
    rows = exams[_ROW].to_numpy()
    exams = exams.drop(_ROW)
    out = chunk_patients(
        exams, rows, "recurct.distributed.cumulative_dose", thresholds, window_days
    )
    return out.to_pandas(use_pyarrow_extension_array=True)


@renamed(ddf="exams")
def cumulative_dose(
    exams: Any,
    thresholds: Sequence[float] | float = (100.0,),
    window_days: Sequence[int] | int | None = None,
    *,
    partitioned_by_patient: bool = False,
) -> dd.DataFrame:
    """The patients table of a Dask DataFrame of exams, computed partition by partition.

    Parameters
    ----------
    exams
        ``dask.dataframe.DataFrame`` with the canonical exam columns (``patient_id``,
        ``exam_date``, ``effective_dose_msv``; ``age_years``, ``sex``, ``facility``,
        ``indication`` are used where present).
    thresholds, window_days
        As for :func:`recurct.cumulative_dose`.
    partitioned_by_patient
        Declare that every patient's exams already lie in a single partition (e.g. the data
        were written partitioned by patient); the shuffle is then skipped. A wrong
        declaration gives wrong results, so only use it when it is guaranteed.

    Returns
    -------
    dask.dataframe.DataFrame
        The patients table (lazy). A bad exam (e.g. a null ``patient_id``) raises at
        ``compute()`` a ``ValueError`` naming its row in the input (0-based, in the order of
        the partitions), not in its partition. Each patient appears exactly once; rows are
        sorted by ``patient_id`` within a partition, not globally. ``.compute()`` gives a
        pandas frame equal, after sorting by ``patient_id``, to ``recurct.cumulative_dose`` on
        the whole table.
    """
    _dd()
    thr = (float(thresholds),) if np.isscalar(thresholds) else tuple(map(float, thresholds))
    if window_days is None:
        win = None
    else:
        win = (int(window_days),) if np.isscalar(window_days) else tuple(map(int, window_days))
    missing = [c for c in REQUIRED_COLUMNS if c not in exams.columns]
    if missing:
        raise ValueError(f"recurct.distributed.cumulative_dose: missing column(s) {missing}")
    exams = exams[[c for c in USED_COLUMNS if c in exams.columns]]

    # 1. global row numbers: partition lengths, then offsets per partition
    lengths = exams.map_partitions(len).compute()
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]])

    def _number(pdf: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        start = int(offsets[partition_info["number"]]) if partition_info else 0
        return pdf.assign(**{_ROW: np.arange(start, start + len(pdf), dtype=np.int64)})

    meta_in = exams._meta.assign(**{_ROW: np.array([], dtype=np.int64)})
    exams = exams.map_partitions(_number, meta=meta_in)

    # 2. every patient's exams into one partition
    if not partitioned_by_patient:
        exams = exams.shuffle(on="patient_id")

    # 3. the in-memory computation per partition
    fake = _fake_row(meta_in.drop(columns=_ROW)).assign(**{_ROW: np.array([0])})
    meta_out = _patients_partition(fake, thr, win).iloc[:0]

    def _part(pdf: pd.DataFrame) -> pd.DataFrame:
        if len(pdf) == 0:
            return meta_out
        return _patients_partition(pdf, thr, win)

    return exams.map_partitions(_part, meta=meta_out)


@renamed(threshold="thresholds")
def magnitude(
    patients: Any,
    thresholds: float | Sequence[float] = 100.0,
    by: str | Sequence[str] | None = None,
    **kwargs: Any,
) -> pl.DataFrame:
    """The magnitude table of a Dask patients table, exact, without collecting all patients.

    Counts (patients, exams) are computed by a reduction on the cluster; the patients at or
    above the threshold (a small subset: 1-2 % in published cohorts) are collected to the
    client, where :func:`recurct.stats.magnitude` computes their medians, quartiles, extremes
    and shares exactly. The share and its confidence interval then use the reduced counts.

    Parameters
    ----------
    patients
        Dask DataFrame from :func:`cumulative_dose` (must hold ``reached_T`` for each
        threshold).
    thresholds
        Threshold(s) in mSv; several give one block per threshold, as in
        :func:`recurct.stats.magnitude`.
    by
        Stratification column(s), as in :func:`recurct.stats.magnitude`.
    **kwargs
        ``ci``, ``alpha``, ``age_cut`` as in :func:`recurct.stats.magnitude` (the cluster
        bootstrap needs all patients and is not available here).

    Returns
    -------
    polars.DataFrame
        The magnitude table, equal to ``recurct.stats.magnitude(patients.compute(), ...)``.
    """
    if kwargs.get("cluster") is not None or kwargs.get("ci") == "bootstrap":
        raise ValueError("the cluster bootstrap needs every patient: compute() the table first")
    ts = _checks.some_thresholds(thresholds, "distributed.magnitude")
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    blocks = [_magnitude_one(patients, t, cols, kwargs) for t in ts]
    return pl.concat(blocks, how="vertical_relaxed")


def _magnitude_one(
    patients: Any, threshold: float, cols: list[str], kwargs: dict[str, Any]
) -> pl.DataFrame:
    """The magnitude block of one threshold (see :func:`magnitude`)."""
    from recurct.stats import magnitude as stats_magnitude
    from recurct.stats.proportion import proportion_ci

    reached = f"reached_{param_label(threshold)}"
    if reached not in patients.columns:
        raise ValueError(f"patients table has no column {reached!r}; recompute with threshold")

    # the patients >= T, plus one patient below T per stratum so that every stratum (and the
    # "all" row) appears in the table even where nobody reached T; their counts are replaced
    # by the reduced ones below, and statistics among patients >= T ignore them.
    flag = patients[reached]
    high = patients[flag].compute()
    below = patients[~flag]
    if cols:
        reps = below.drop_duplicates(subset=cols, split_out=1).compute()
    else:
        reps = below.head(1, npartitions=-1)
    subset = pl.from_pandas(pd.concat([high, reps], ignore_index=True), include_index=False)
    if subset.height == 0:
        raise ValueError("the patients table is empty")
    table = stats_magnitude(subset, thresholds=threshold, by=cols or None, **kwargs)

    if cols:
        str_cols = {c: patients[c].astype("string") for c in cols}
        counts = (
            patients.assign(**str_cols)
            .groupby(cols, dropna=False)
            .agg({"patient_id": ["count", "min"], "n_exams": "sum"})
            .compute()
        )
        counts.columns = ["n_patients", "_first_id", "n_exams"]
        table = _with_stratum_counts(table, pl.from_pandas(counts.reset_index()), cols)
    else:
        n_patients = int(patients["patient_id"].count().compute())
        n_exams = int(patients["n_exams"].sum().compute())
        table = table.with_columns(
            pl.lit(n_patients, dtype=pl.Int64).alias("n_patients"),
            pl.lit(n_exams, dtype=pl.Int64).alias("n_exams"),
        )
    n = table["n_patients"].to_numpy()
    k = table["n_reached"].to_numpy()
    lo, hi = proportion_ci(k, n, alpha=kwargs.get("alpha", 0.05), ci=kwargs.get("ci", "wilson"))
    table = table.with_columns(
        pl.Series("share", k / n, dtype=pl.Float64),
        pl.Series("share_lo", np.asarray(lo, dtype=np.float64)),
        pl.Series("share_hi", np.asarray(hi, dtype=np.float64)),
    )
    order = [*cols, *[c for c in _magnitude_columns() if c in table.columns]]
    return table.select(order)


def _with_stratum_counts(
    table: pl.DataFrame, counts: pl.DataFrame, cols: list[str]
) -> pl.DataFrame:
    """The reduced counts joined on the strata of ``table``, whose strata rows are put in the
    order of :func:`recurct.stats.magnitude` on the patients table of
    :func:`recurct.cumulative_dose` (sorted by ``patient_id``): the order of each stratum's
    first patient, null strata last."""
    counts = counts.with_columns(pl.col(c).cast(pl.Utf8) for c in cols)
    order = counts.sort([*(pl.col(c).is_null() for c in cols), "_first_id"]).select(cols)
    all_row = counts.select(
        *(pl.lit("all", dtype=pl.Utf8).alias(c) for c in cols),
        pl.col("n_patients").sum(),
        pl.col("n_exams").sum(),
    )
    counts = pl.concat([counts.drop("_first_id"), all_row], how="vertical_relaxed")
    table = table.drop("n_patients", "n_exams").join(
        counts, on=cols, how="left", nulls_equal=True, maintain_order="left"
    )
    strata = order.join(
        table.slice(1), on=cols, how="left", nulls_equal=True, maintain_order="left"
    )
    return pl.concat([table.slice(0, 1), strata], how="vertical_relaxed")


def _magnitude_columns() -> tuple[str, ...]:
    from recurct.stats._magnitude import MAGNITUDE_COLUMNS

    return MAGNITUDE_COLUMNS
