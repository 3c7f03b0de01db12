"""CED per patient and fixed calendar period (:func:`recurct.cumulative.period_dose`).

Periods are calendar arithmetic in polars (no kernel): kept apart from the engine of
:mod:`recurct.cumulative`, which re-exports :func:`period_dose`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._dates import as_date
from recurct._exam_arrays import check_columns, exam_doses, exam_times
from recurct._frames import from_polars, to_polars
from recurct.errors import DataError, ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["period_dose"]

_PERIOD = re.compile(r"^\s*(\d*)\s*(y|q|mo)\s*$")


def _local_days(df: pl.DataFrame) -> pl.DataFrame:
    """Time-zone-aware exam dates as local wall-clock times: the calendar day of an exam is
    the one :func:`cumulative_dose` counts (a cast to Date would take the UTC day)."""
    dtype = df.get_column("exam_date").dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return df.with_columns(pl.col("exam_date").dt.replace_time_zone(None))
    return df


def _period_months(every: str) -> int:
    m = _PERIOD.match(str(every))
    if not m or (m.group(1) and int(m.group(1)) == 0):
        raise ParameterError(
            f"period_dose: every must be a calendar period such as '1y', '5y', '1q' or '6mo', "
            f"got {every!r}"
        )
    k = int(m.group(1) or 1)
    return k * {"y": 12, "q": 3, "mo": 1}[m.group(2)]


def _period_table(df: pl.DataFrame, periods: Any, every: str | None) -> pl.DataFrame:
    df = _local_days(df)
    base = df.select(
        "patient_id",
        pl.col("exam_date").cast(pl.Date).alias("_day"),
        pl.col("effective_dose_msv").cast(pl.Float64),
    ).with_row_index("_row")
    parts = []
    if every is not None:
        months = _period_months(every)
        mi = (pl.col("_day").dt.year().cast(pl.Int64) - 1970) * 12 + (
            pl.col("_day").dt.month().cast(pl.Int64) - 1
        )
        start_mi = (mi // months) * months
        end_mi = start_mi + months

        def month_date(e: pl.Expr) -> pl.Expr:
            return pl.date(1970 + e // 12, e % 12 + 1, 1)

        parts.append(
            base.with_columns(
                month_date(start_mi).alias("period_start"),
                (month_date(end_mi) - pl.duration(days=1)).alias("period_end"),
            )
        )
    if periods is not None and (isinstance(periods, str) or not isinstance(periods, Iterable)):
        raise ParameterError(
            "period_dose: periods must be a list of (start, end) pairs of dates, "
            f"got {periods!r:.80}"
        )
    seen: set[tuple[Any, Any]] = set()
    for pair in [] if periods is None else periods:
        try:
            lo, hi = pair
        except (TypeError, ValueError):
            raise ParameterError(
                f"period_dose: periods must be (start, end) pairs of dates, got {pair!r}"
            ) from None
        lo, hi = as_date(lo, "periods start"), as_date(hi, "periods end")
        if hi < lo:
            raise ParameterError(f"period_dose: period {pair!r} ends before it starts")
        if (lo, hi) in seen:  # a period given twice is one period
            continue
        seen.add((lo, hi))
        parts.append(
            base.filter(pl.col("_day").is_between(lo, hi)).with_columns(
                pl.lit(lo).alias("period_start"), pl.lit(hi).alias("period_end")
            )
        )
    schema = {"period_start": pl.Date, "period_end": pl.Date}
    if not parts:
        empty = base.head(0).with_columns(pl.lit(None, pl.Date).alias(c) for c in schema)
        parts = [empty]
    parts = [p.with_columns(pl.col(c).cast(t) for c, t in schema.items()) for p in parts]
    rows = pl.concat(parts)
    if every is not None and seen:  # an explicit period equal to one of every= is that period
        rows = rows.unique(["_row", "period_start", "period_end"], maintain_order=True)
    return (
        rows.group_by("patient_id", "period_start", "period_end")
        .agg(
            pl.len().cast(pl.Int64).alias("n_exams"),
            pl.col("effective_dose_msv").sum().alias("ced_msv"),
        )
        .sort("patient_id", "period_start", "period_end")
    )


@renamed(windows="periods", by_period="every")
def period_dose(
    exams: Any,
    *,
    periods: Sequence[tuple[Any, Any]] | None = None,
    every: str | None = None,
    keep: Sequence[str] | None = None,
    sums: Sequence[str] | None = None,
) -> pl.DataFrame | pd.DataFrame:
    """CED per patient and fixed calendar period, in long format.

    Parameters
    ----------
    exams
        Exam table (polars, pandas or pyarrow) as for :func:`cumulative_dose`.
    periods
        Explicit periods as ``(start, end)`` pairs of dates (or ISO strings), both ends
        inclusive; periods may overlap (each counts its own exams). A period is identified by
        its two dates: one given twice, or equal to a period of ``every``, is one period (one
        row per patient, each exam counted once).
    every
        Consecutive calendar periods of ``'Ny'`` years, ``'Nq'`` quarters or ``'Nmo'``
        months, aligned to 1970-01-01 (so ``'5y'`` gives 2000-2004, 2005-2009, ...).
    keep
        Exam columns to carry as patient attributes (e.g. ``["sex", "facility",
        "age_years"]``): each row gets the first non-null value among the patient's exams of
        that period, in time order (so ``age_years`` is the age at the first exam of the
        period). Without ``keep`` no attribute is added.
    sums
        Further numeric exam columns to sum per patient and period, as the dose is (e.g. a
        per-exam risk estimate or an organ dose): one column each, named as in the exam
        table. Nulls are not allowed (they would be silently dropped from a sum).

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        ``patient_id``, ``period_start``, ``period_end`` (Date, inclusive), ``n_exams``,
        ``ced_msv``, then the ``keep`` and ``sums`` columns; one row per patient and period
        that holds at least one of the patient's exams, sorted by patient, period start,
        period end.

    Notes
    -----
    An exam belongs to the calendar day of its local wall-clock time: a time-zone-aware
    ``exam_date`` is read in its own zone, as :func:`cumulative_dose` reads it (not in UTC).
    """
    _checks.exams_path(exams, "period_dose")
    keep = _checks.names(keep, "period_dose", "keep columns", allow_empty=True)
    sums = _checks.names(sums, "period_dose", "sums columns", allow_empty=True)
    prep_df, kind = to_polars(exams)
    check_columns(prep_df, "period_dose")
    exam_times(prep_df, "period_dose")
    exam_doses(prep_df, "period_dose")
    if periods is None and every is None:
        raise ParameterError("period_dose: give periods=[(start, end), ...] or every='1y'")
    missing = [c for c in keep if c not in prep_df.columns]
    if missing:
        raise ParameterError(f"period_dose: keep columns {missing} are not in the exam table")
    bad = [c for c in keep if c in ("patient_id", "exam_date", "effective_dose_msv")]
    if bad:
        raise ParameterError(f"period_dose: keep cannot hold {bad}; name patient attributes")
    reserved = {"patient_id", "exam_date", "effective_dose_msv", *keep}
    for c in sums:
        if c not in prep_df.columns or c in reserved:
            raise ParameterError(f"period_dose: sums column {c!r} is not a further exam column")
        if not prep_df.get_column(c).dtype.is_numeric():
            raise ParameterError(f"period_dose: sums column {c!r} must be numeric")
        if prep_df[c].null_count():
            raise DataError(
                f"period_dose: sums column {c!r} is null in {prep_df[c].null_count()} row(s); "
                "fill or drop them first"
            )
    prep_df = _local_days(prep_df)
    out = _period_table(prep_df, periods, every)
    if keep or sums:
        out = _period_attributes(out, prep_df, keep, sums)
    return from_polars(out, kind)  # type: ignore[arg-type]


def _period_attributes(
    periods: pl.DataFrame, df: pl.DataFrame, keep: list[str], sums: list[str]
) -> pl.DataFrame:
    """Per patient and period: the first non-null value of each ``keep`` column in time
    order, and the sum of each ``sums`` column."""
    ex = (
        df.select("patient_id", "exam_date", *keep, *sums)
        .with_row_index("_row")
        .sort("patient_id", "exam_date", "_row")
        .with_columns(pl.col("exam_date").cast(pl.Date).alias("_day"))
    )
    keys = ("patient_id", "period_start", "period_end")
    attrs = (
        periods.select(*keys)
        .join(ex, on="patient_id", how="inner", maintain_order="left_right")
        .filter(pl.col("_day").is_between(pl.col("period_start"), pl.col("period_end")))
        .group_by(*keys, maintain_order=True)
        .agg(
            *(pl.col(c).drop_nulls().first() for c in keep),
            *(pl.col(c).cast(pl.Float64).sum() for c in sums),
        )
    )
    return periods.join(attrs, on=list(keys), how="left", maintain_order="left", nulls_equal=True)
