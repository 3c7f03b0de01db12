"""CED per patient and fixed calendar period (:func:`recurct.cumulative.period_dose`).

Periods are calendar arithmetic in polars: kept apart from the engine of
:mod:`recurct.cumulative`, which re-exports :func:`period_dose`. The sums of doses (and of
``sums=`` columns) are the engine's, compensated (:func:`recurct.kernels.segment_sums`,
:func:`list_sums`), not polars' ``sum``: a period covering a patient's whole follow-up has
the ``ced_msv`` of :func:`recurct.cumulative_dose`, whatever the order of the rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct import kernels as _k
from recurct._casts import as_written
from recurct._compat import renamed
from recurct._dates import as_date
from recurct._exam_arrays import check_columns, exam_doses, exam_times
from recurct._frames import from_polars, is_enum, to_polars
from recurct.errors import DataError, ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["period_dose"]

_PERIOD = re.compile(r"^\s*(\d*)\s*(y|q|mo)\s*$")
#: The longest period of ``every=`` in months: whole years of up to 366 days within the
#: longest window recurct accepts (:data:`recurct._checks.MAX_WINDOW_DAYS`), i.e. 273 years
#: (``'273y'``, ``'1092q'``, ``'3276mo'``). Unbounded, the period ends left the dates
#: polars computes (``'1000000000y'``) or Python reads (``'100000y'``).
MAX_PERIOD_MONTHS = 12 * (_checks.MAX_WINDOW_DAYS // 366)
#: The columns of :func:`period_dose`'s output before ``keep`` and ``sums``.
OUTPUT_COLUMNS = ("patient_id", "period_start", "period_end", "n_exams", "ced_msv")


def _local_days(df: pl.DataFrame) -> pl.DataFrame:
    """Time-zone-aware exam dates as local wall-clock times: the calendar day of an exam is
    the one :func:`cumulative_dose` counts (a cast to Date would take the UTC day)."""
    dtype = df.get_column("exam_date").dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return df.with_columns(pl.col("exam_date").dt.replace_time_zone(None))
    return df


def _period_months(every: str) -> int:
    m = _PERIOD.match(str(every))
    digits = m.group(1).lstrip("0") if m else ""
    if not m or (m.group(1) and not digits):  # (no number is one period; zero is none)
        raise ParameterError(
            f"period_dose: every must be a calendar period such as '1y', '5y', '1q' or '6mo', "
            f"got {every!r}"
        )
    digits, unit = digits or "1", m.group(2)
    per = {"y": 12, "q": 3, "mo": 1}[unit]
    # (the digits' count first: Python refuses to read an integer of over 4,300 digits)
    if len(digits) > 6 or int(digits) * per > MAX_PERIOD_MONTHS:
        raise ParameterError(
            f"period_dose: every={every!r:.40} is too long; periods of at most "
            f"{MAX_PERIOD_MONTHS // per}{unit} ({MAX_PERIOD_MONTHS // 12} years) are accepted"
        )
    return int(digits) * per


#: The last instant of a day, as a ``Datetime("us")`` period end shows a date end.
_DAY_END = dt.time(23, 59, 59, 999999)

Bound = dt.date | dt.datetime
"""A period bound: a date (the whole day) or a naive datetime (that instant)."""


def period_bound(value: Any, name: str) -> Bound:
    """A period bound as :func:`period_dose` reads it: a ``date``, or a naive ``datetime``
    when it has a time of day other than midnight.

    Dates, ISO date strings (``YYYY-MM-DD``) and datetimes at midnight (what pandas makes of
    a date: ``pd.Timestamp("2020-12-31")``) are days. A datetime, ``numpy.datetime64`` or
    ISO string (``2020-01-01T12:00``, ``2020-01-01 12:00:30``) with another time of day is
    that instant, read to the microsecond as its wall-clock time (a time-zone-aware one in
    its own zone, as exam dates are read). Missing values and other types are refused as
    :func:`recurct._dates.as_date` refuses them.
    """
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            return _day_or_instant(dt.datetime.fromisoformat(value))
        except ValueError:
            raise ParameterError(
                f"{name}={value!r} is not a date; use YYYY-MM-DD (or YYYY-MM-DD HH:MM:SS "
                "for a time of day)"
            ) from None
    if isinstance(value, np.datetime64) and not np.isnat(value):
        unit = np.datetime_data(value.dtype)[0]
        if unit not in ("Y", "M", "W", "D", "generic"):
            got = value.astype("datetime64[us]").item()
            if isinstance(got, dt.datetime):  # (numpy gives an int outside years 1-9999)
                return _day_or_instant(got)
    elif isinstance(value, dt.datetime) and value == value:  # (NaT is unequal to itself)
        return _day_or_instant(value)
    day = as_date(value, name)
    assert day is not None  # (none_ok is False)
    return day


def _day_or_instant(t: dt.datetime) -> Bound:
    """``t``'s wall-clock time as a naive ``datetime`` (pandas' nanoseconds dropped), or
    its date when that time is midnight."""
    naive = dt.datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)
    return naive.date() if naive.time() == dt.time() else naive


def _first_instant(b: Bound) -> dt.datetime:
    return b if isinstance(b, dt.datetime) else dt.datetime.combine(b, dt.time())


def _last_instant(b: Bound) -> dt.datetime:
    return b if isinstance(b, dt.datetime) else dt.datetime.combine(b, _DAY_END)


def _period_rows(df: pl.DataFrame, periods: Any, every: str | None) -> tuple[pl.DataFrame, bool]:
    """One row per exam (``_row``, its 0-based row) and period holding it: ``patient_id``,
    ``effective_dose_msv``, ``period_start``, ``period_end``; and whether a bound has a
    time of day (the period columns are then ``Datetime("us")``, else ``Date``).

    A bound with a time of day is compared with the exam's time where ``exam_date`` is a
    ``Datetime`` (local wall-clock time, as :func:`_local_days` gives it), with the exam's
    day where it is a ``Date``; a date bound with the exam's day."""
    df = _local_days(df)
    timed_exams = isinstance(df.get_column("exam_date").dtype, pl.Datetime)
    base = df.select(
        "patient_id",
        pl.col("exam_date").cast(pl.Date).alias("_day"),
        *([pl.col("exam_date").alias("_time")] if timed_exams else []),
        as_written(pl.col("effective_dose_msv"), df.schema["effective_dose_msv"]),
    ).with_row_index("_row")
    parts: list[pl.DataFrame | tuple[Bound, Bound]] = []
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
                month_date(start_mi).cast(pl.Date).alias("period_start"),
                (month_date(end_mi) - pl.duration(days=1)).cast(pl.Date).alias("period_end"),
            )
        )
    if periods is not None and (isinstance(periods, str) or not isinstance(periods, Iterable)):
        raise ParameterError(
            "period_dose: periods must be a list of (start, end) pairs of dates, "
            f"got {periods!r:.80}"
        )
    seen: set[tuple[Bound, Bound]] = set()
    for pair in [] if periods is None else periods:
        try:
            lo, hi = pair
        except (TypeError, ValueError):
            raise ParameterError(
                f"period_dose: periods must be (start, end) pairs of dates, got {pair!r}"
            ) from None
        lo = period_bound(lo, "period_dose: periods start")
        hi = period_bound(hi, "period_dose: periods end")
        if _last_instant(hi) < _first_instant(lo):
            raise ParameterError(f"period_dose: period {pair!r} ends before it starts")
        seen.add((lo, hi))
        parts.append((lo, hi))
    timed = any(isinstance(b, dt.datetime) for pair in seen for b in pair)
    kind = pl.Datetime("us") if timed else pl.Date
    frames = [_as_bounds(p, timed) for p in parts if isinstance(p, pl.DataFrame)]
    done: set[tuple[Bound, Bound]] = set()
    for lo, hi in (p for p in parts if isinstance(p, tuple)):
        # a period given twice is one period, identified by the bounds shown: where any
        # bound has a time of day, a date bound is its first (start) or last (end) instant,
        # so 2020-12-31 and 2020-12-31 23:59:59.999999 end one period, each exam counted once
        shown = (_first_instant(lo), _last_instant(hi)) if timed else (lo, hi)
        if shown in done:
            continue
        done.add(shown)
        cond = _after(lo, timed_exams) & _before(hi, timed_exams)
        frames.append(
            base.filter(cond).with_columns(
                pl.lit(shown[0], kind).alias("period_start"),
                pl.lit(shown[1], kind).alias("period_end"),
            )
        )
    if not frames:
        empty = base.head(0).with_columns(
            pl.lit(None, kind).alias(c) for c in ("period_start", "period_end")
        )
        frames = [empty]
    rows = pl.concat(frames).drop("_day", "_time", strict=False)
    if every is not None and seen:  # an explicit period equal to one of every= is that period
        rows = rows.unique(["_row", "period_start", "period_end"], maintain_order=True)
    return rows, timed


def _after(lo: Bound, timed_exams: bool) -> pl.Expr:
    """Exams at or after the period start ``lo``."""
    if isinstance(lo, dt.datetime):
        return pl.col("_time") >= lo if timed_exams else pl.col("_day") >= lo.date()
    return pl.col("_day") >= lo


def _before(hi: Bound, timed_exams: bool) -> pl.Expr:
    """Exams at or before the period end ``hi``."""
    if isinstance(hi, dt.datetime):
        return pl.col("_time") <= hi if timed_exams else pl.col("_day") <= hi.date()
    return pl.col("_day") <= hi


def _as_bounds(rows: pl.DataFrame, timed: bool) -> pl.DataFrame:
    """Calendar periods of ``every=`` (``Date`` bounds) as the period columns are typed:
    ``Date``, or ``Datetime("us")`` from the first to the last microsecond of the days."""
    if not timed:
        return rows
    start = pl.col("period_start").cast(pl.Datetime("us"))
    end = pl.col("period_end").cast(pl.Datetime("us")) + pl.duration(days=1, microseconds=-1)
    return rows.with_columns(start, end.alias("period_end"))


def list_sums(lists: pl.Series) -> pl.Series:
    """The sum of each list of a numeric ``List`` series by recurct's summation rule
    (:func:`recurct.kernels.segment_sums`: compensated, the correctly rounded sum whatever
    the order of each list; an empty list sums to 0.0), as a ``Float64`` series of the same
    name.

    The lists and their values must not be null (the callers drop or refuse null values
    first): a null would be neither summed nor kept apart, and is refused with a
    ``ValueError`` (an internal error, not the user's).
    """
    if lists.null_count():
        raise ValueError(  # internal: not a user error
            f"list_sums: {lists.null_count()} null list(s) in {lists.name!r}"
        )
    lengths = lists.list.len().cast(pl.Int64).to_numpy()
    starts = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    values = lists.explode().drop_nulls()  # (polars 1.x explodes an empty list to a null)
    if values.len() != starts[-1]:  # a null value (counted by list.len, then dropped)
        raise ValueError(  # internal: not a user error
            f"list_sums: {int(starts[-1]) - values.len()} null value(s) in the lists of "
            f"{lists.name!r}; drop or refuse them before summing"
        )
    return pl.Series(lists.name, _k.segment_sums(starts, values.cast(pl.Float64).to_numpy()))


def _period_table(rows: pl.DataFrame, coded_ids: bool = False) -> pl.DataFrame:
    """The periods' rows (:data:`OUTPUT_COLUMNS`) of :func:`_period_rows`, sorted by
    patient, start, end; ``coded_ids``: ``patient_id`` is an ``Enum`` or ``Categorical``,
    sorted by its text (as :func:`recurct.cumulative_dose` and
    :func:`recurct.running_dose` order it), not by its codes. ``ced_msv`` is summed as
    the engine sums a CED (:func:`list_sums`), not by polars' ``sum`` (in the order of the
    rows)."""
    by_id = pl.col("patient_id").cast(pl.String) if coded_ids else pl.col("patient_id")
    out = rows.group_by("patient_id", "period_start", "period_end").agg(
        pl.len().cast(pl.Int64).alias("n_exams"),
        pl.col("effective_dose_msv").alias("ced_msv"),
    )
    return out.with_columns(list_sums(out.get_column("ced_msv"))).sort(
        by_id, "period_start", "period_end"
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
        its two bounds: one given twice, or equal to a period of ``every``, is one period (one
        row per patient, each exam counted once). A bound may be a datetime with a time of
        day (``datetime``, ``pd.Timestamp``, ``numpy.datetime64``, ``"2020-01-01 12:00"``):
        on a ``Datetime`` ``exam_date`` it is compared with the exam's local wall-clock time
        (``start <= exam <= end``, to the microsecond); on a ``Date`` ``exam_date``, which
        has no time, with the exam's day (the bound's date). A datetime at midnight is its
        date, the whole day (what pandas makes of a date: ``pd.Timestamp("2020-12-31")``
        as an end includes that day's exams).
    every
        Consecutive calendar periods of ``'Ny'`` years, ``'Nq'`` quarters or ``'Nmo'``
        months, aligned to 1970-01-01 (so ``'5y'`` gives 2000-2004, 2005-2009, ...); at most
        273 years (``'273y'``, ``'1092q'``, ``'3276mo'``: whole years within the longest
        window recurct accepts, 100,000 days).
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
        ``patient_id``, ``period_start``, ``period_end`` (Date, inclusive; ``Datetime("us")``
        when a bound has a time of day, a date then shown from its first to its last
        microsecond, ``2020-12-31 23:59:59.999999`` for an end), ``n_exams``,
        ``ced_msv``, then the ``keep`` and ``sums`` columns; one row per patient and period
        that holds at least one of the patient's exams, sorted by patient (an ``Enum`` or
        ``Categorical`` id by its text, as :func:`cumulative_dose` sorts it; the column keeps
        its dtype), period start, period end.

    Raises
    ------
    recurct.errors.ParameterError
        ``patient_id`` neither text nor integer (as :func:`cumulative_dose`); a ``keep`` or
        ``sums`` name given twice, or named like an output column (``period_start``,
        ``period_end``, ``n_exams``, ``ced_msv``, ``patient_id``); a period bound
        that is neither a date nor a datetime (``NaT`` included), a period that ends before it
        starts; ``every`` not a period or over 273 years.
    recurct.errors.DataError
        Missing required columns, null ids or dates, bad doses, nulls in a ``sums`` column;
        an ``exam_date`` beyond the days recurct counts (as :func:`recurct.cumulative_dose`
        says), naming the rows.

    Notes
    -----
    An exam belongs to the calendar day of its local wall-clock time: a time-zone-aware
    ``exam_date`` is read in its own zone, as :func:`cumulative_dose` reads it (not in UTC).
    ``ced_msv`` and the ``sums`` columns are summed as :func:`cumulative_dose` sums a CED
    (compensated: in practice the correctly rounded sum, whatever the order of the rows), so
    a period that covers a patient's whole follow-up has the patients table's ``ced_msv``.
    """
    from recurct.cumulative import check_id_dtype  # (which imports this module)

    _checks.exams_path(exams, "period_dose")
    keep = _checks.names(keep, "period_dose", "keep columns", allow_empty=True)
    sums = _checks.names(sums, "period_dose", "sums columns", allow_empty=True)
    for name, given in (("keep", keep), ("sums", sums)):
        repeated = sorted({c for c in given if given.count(c) > 1})
        if repeated:
            raise ParameterError(f"period_dose: {name} names {repeated} more than once")
    prep_df, kind = to_polars(exams)
    check_columns(prep_df, "period_dose")
    ids = prep_df.get_column("patient_id")
    coded_ids = is_enum(ids)  # (an Enum's dtype is slow to read: not read)
    if not coded_ids:
        if ids.len() == 0 and ids.dtype == pl.Null:  # (an empty pandas category column)
            ids = ids.cast(pl.String)
            prep_df = prep_df.with_columns(ids)
        check_id_dtype(ids.dtype, "period_dose")
        coded_ids = isinstance(ids.dtype, pl.Categorical)
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
    clash = [c for c in (*keep, *sums) if c in OUTPUT_COLUMNS]
    if clash:
        raise ParameterError(
            f"period_dose: keep/sums column(s) {clash} have the name of an output column of "
            "period_dose; rename them first"
        )
    prep_df = _local_days(prep_df)
    rows, _ = _period_rows(prep_df, periods, every)
    out = _period_table(rows, coded_ids)
    if keep or sums:
        out = _period_attributes(out, rows, prep_df, keep, sums)
    return from_polars(out, kind)  # type: ignore[arg-type]


def _period_attributes(
    periods: pl.DataFrame, rows: pl.DataFrame, df: pl.DataFrame, keep: list[str], sums: list[str]
) -> pl.DataFrame:
    """Per patient and period: the first non-null value of each ``keep`` column in time
    order, and the sum of each ``sums`` column, over the exams ``rows`` puts in the period
    (:func:`_period_rows`, so both tables count the same exams).

    The columns are carried under names of their own (``_a0``, ``_a1``, ...) beside the
    helper columns (``_row``, ``_time``), so that no exam column's name can clash with
    them; their own names are given back at the end.
    """
    own = {f"_a{i}": c for i, c in enumerate([*keep, *sums])}
    tmp = list(own)
    ex = df.select(
        pl.col("exam_date").alias("_time"), *(pl.col(c).alias(t) for t, c in own.items())
    ).with_row_index("_row")
    keys = ("patient_id", "period_start", "period_end")
    attrs = (
        rows.select(*keys, "_row")
        .join(ex, on="_row", how="inner")
        .sort("_time", "_row")  # time order (ties: input order) within each period
        .group_by(*keys, maintain_order=True)
        .agg(
            *(pl.col(t).drop_nulls().first() for t in tmp[: len(keep)]),
            *(as_written(pl.col(t), ex.schema[t]) for t in tmp[len(keep) :]),
        )
    )
    # the sums as the doses are summed (:func:`list_sums`), not by polars' ``sum``
    attrs = attrs.with_columns(list_sums(attrs.get_column(t)) for t in tmp[len(keep) :])
    out = periods.join(attrs, on=list(keys), how="left", maintain_order="left", nulls_equal=True)
    return out.rename(own)
