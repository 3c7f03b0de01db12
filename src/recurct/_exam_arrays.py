"""The three required exam columns as checked plain arrays (shared by the engine and periods).

Cheap O(N) checks of ``patient_id``/``exam_date`` nulls, the date type and the doses (finite,
>= 0, a sum that cannot overflow); full validation belongs at ingestion
(:func:`recurct.schema.validate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from recurct import _checks
from recurct import kernels as _k
from recurct._casts import as_written
from recurct.errors import DataError, ParameterError
from recurct.schema import REQUIRED_COLUMNS

__all__ = ["BAD_EXAM_CHECKS", "check_columns", "exam_doses", "exam_times"]

_UNITS_PER_DAY = {"ns": 86_400 * 10**9, "us": 86_400 * 10**6, "ms": 86_400 * 10**3}
_MAX_SHOWN = 5

#: The checks of bad exams, in the order they are made, as (column, what is wrong, what to
#: do): the texts of every engine path's error (in memory here; out of core and on Dask,
#: :class:`recurct.outofcore._BadRows`, naming the input's rows), so that they read alike.
BAD_EXAM_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("patient_id", "is null", "drop or fix these exams first"),
    ("exam_date", "is null", "drop or fix these exams first"),
    ("effective_dose_msv", "is null", "compute or drop these doses first"),
    ("effective_dose_msv", "is negative, NaN or infinite", "doses must be finite and >= 0 mSv"),
)


def _rows(idx: np.ndarray | Sequence[int]) -> str:
    shown = ", ".join(str(int(i)) for i in list(idx)[:_MAX_SHOWN])
    more = f" (first {_MAX_SHOWN} of {len(idx)})" if len(idx) > _MAX_SHOWN else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def check_columns(df: pl.DataFrame, fn: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{fn}: missing required column(s) {missing}; the exam table needs "
            f"{list(REQUIRED_COLUMNS)} (rename columns or use recurct.read_exams with a mapping)"
        )
    for col, what, fix in BAD_EXAM_CHECKS[:2]:
        s = df.get_column(col)
        if s.null_count():
            bad = np.flatnonzero(s.is_null().to_numpy())
            raise DataError(f"{fn}: column {col!r} {what} in {_rows(bad)} (0-based); {fix}")


def exam_times(df: pl.DataFrame, fn: str) -> tuple[np.ndarray, int]:
    """Exam timestamps (int64; a Date's int32 days as they are, not copied) and the number
    of units per calendar day."""
    s = df.get_column("exam_date")
    dtype = s.dtype
    if dtype == pl.Date:
        return s.to_physical().to_numpy(), 1
    if isinstance(dtype, pl.Datetime):
        unit = dtype.time_unit or "us"
        check_day_range(s, fn)  # (no pass over the column where no value can be out)
        if dtype.time_zone is not None:  # calendar days of the local wall-clock time
            s = s.dt.replace_time_zone(None)
        return s.to_physical().to_numpy(), _UNITS_PER_DAY[unit]
    raise ParameterError(
        f"{fn}: column 'exam_date' must be a Date or Datetime, got {dtype}; "
        "parse it first, e.g. pl.col('exam_date').str.to_date() (pandas: "
        "pd.to_datetime(df['exam_date'])), or read the table with recurct.validate()"
    )


#: The day numbers recurct counts (int32 days since 1970-01-01, a polars ``Date``'s range):
#: about 5.88 million years either side of 1970. A ``Datetime("ms")`` reaches some 292
#: million years, whose day would wrap (int64 microseconds and nanoseconds stay within).
_DAYS = (int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max))
#: The day numbers of a time-zone-aware ``Datetime`` read as local time: those of the
#: dates polars (chrono) can convert, -262143-01-01 to 262142-12-31, less two days at
#: either end (where a zone's offset takes the local time out of that range).
_ZONED_DAYS = (-96_465_293 + 2, 95_026_236 - 2)
_INT64 = (int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max))


def check_day_range(s: pl.Series, fn: str) -> None:
    """Refuse dates (exam dates, a subject's entry or exit) whose calendar day is out of the
    range recurct counts (:data:`_DAYS`; :data:`_ZONED_DAYS` for a time-zone-aware
    ``Datetime``) with a ``DataError`` naming ``fn``, the column and the rows, rather than
    wrap them into other days (or let polars fail on converting them to local time)."""
    dtype = s.dtype
    if not isinstance(dtype, pl.Datetime):
        return  # (a Date is an int32 day number: always in range)
    unit, zoned = dtype.time_unit or "us", dtype.time_zone is not None
    per_day = _UNITS_PER_DAY[unit]
    first, last = _ZONED_DAYS if zoned else _DAYS
    lo, hi = first * per_day, (last + 1) * per_day
    t = s.to_physical()
    # a bound beyond int64 is no bound (nanoseconds: every int64 value is in range)
    sides = [t < lo] if lo > _INT64[0] else []
    sides += [t >= hi] if hi <= _INT64[1] else []
    if not sides:
        return
    out = (sides[0] | sides[1] if len(sides) == 2 else sides[0]).fill_null(False)
    if not out.any():
        return
    bad = np.flatnonzero(out.to_numpy())
    span = (
        "the years -262,143 to 262,142 in which a time-zone-aware date is read as local time"
        if zoned
        else "about 5.88 million years either side of 1970, the range of a polars Date"
    )
    raise DataError(
        f"{fn}: column {s.name!r} is out of the range of dates recurct counts ({span}) in "
        f"{_rows(bad)} (0-based); fix or drop these rows first"
    )


def exam_doses(df: pl.DataFrame, fn: str) -> np.ndarray:
    s = df.get_column("effective_dose_msv")
    if not s.dtype.is_numeric():
        raise ParameterError(
            f"{fn}: column 'effective_dose_msv' must be numeric (mSv), got {s.dtype}"
        )
    if s.null_count():
        bad = np.flatnonzero(s.is_null().to_numpy())
        _, what, fix = BAD_EXAM_CHECKS[2]
        raise DataError(
            f"{fn}: column 'effective_dose_msv' {what} in {_rows(bad)} (0-based); {fix}"
        )
    if s.dtype in (pl.Float32, pl.Float16):  # as written: 12.3, not 12.300000190734863
        s = s.to_frame().select(as_written(pl.col(s.name), s.dtype)).to_series()
    d = s.cast(pl.Float64).to_numpy()
    bad, total = _k.first_bad_dose(d) if d.size else (-1, 0.0)
    if bad >= 0:
        bad = np.flatnonzero(~(np.isfinite(d) & (d >= 0)))
        _, what, fix = BAD_EXAM_CHECKS[3]
        raise DataError(
            f"{fn}: column 'effective_dose_msv' {what} in {_rows(bad)} (0-based); {fix}"
        )
    if not math.isfinite(total):
        _checks.dose_sum(d, fn)  # names the rows of the largest doses
    return d
