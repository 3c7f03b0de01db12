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

__all__ = ["check_columns", "exam_doses", "exam_times"]

_UNITS_PER_DAY = {"ns": 86_400 * 10**9, "us": 86_400 * 10**6, "ms": 86_400 * 10**3}
_MAX_SHOWN = 5


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
    for col in ("patient_id", "exam_date"):
        s = df.get_column(col)
        if s.null_count():
            bad = np.flatnonzero(s.is_null().to_numpy())
            raise DataError(
                f"{fn}: column {col!r} is null in {_rows(bad)} (0-based); "
                "drop or fix these exams first"
            )


def exam_times(df: pl.DataFrame, fn: str) -> tuple[np.ndarray, int]:
    """Exam timestamps (int64; a Date's int32 days as they are, not copied) and the number
    of units per calendar day."""
    s = df.get_column("exam_date")
    dtype = s.dtype
    if dtype == pl.Date:
        return s.to_physical().to_numpy(), 1
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:  # calendar days of the local wall-clock time
            s = s.dt.replace_time_zone(None)
        unit = dtype.time_unit or "us"
        return s.to_physical().to_numpy(), _UNITS_PER_DAY[unit]
    raise ParameterError(
        f"{fn}: column 'exam_date' must be a Date or Datetime, got {dtype}; "
        "parse it first, e.g. pl.col('exam_date').str.to_date() (pandas: "
        "pd.to_datetime(df['exam_date'])), or read the table with recurct.validate()"
    )


def exam_doses(df: pl.DataFrame, fn: str) -> np.ndarray:
    s = df.get_column("effective_dose_msv")
    if not s.dtype.is_numeric():
        raise ParameterError(
            f"{fn}: column 'effective_dose_msv' must be numeric (mSv), got {s.dtype}"
        )
    if s.null_count():
        bad = np.flatnonzero(s.is_null().to_numpy())
        raise DataError(
            f"{fn}: column 'effective_dose_msv' is null in {_rows(bad)} (0-based); "
            "compute or drop these doses first"
        )
    if s.dtype in (pl.Float32, pl.Float16):  # as written: 12.3, not 12.300000190734863
        s = s.to_frame().select(as_written(pl.col(s.name), s.dtype)).to_series()
    d = s.cast(pl.Float64).to_numpy()
    bad, total = _k.first_bad_dose(d) if d.size else (-1, 0.0)
    if bad >= 0:
        bad = np.flatnonzero(~(np.isfinite(d) & (d >= 0)))
        raise DataError(
            f"{fn}: column 'effective_dose_msv' is negative, NaN or infinite in "
            f"{_rows(bad)} (0-based); doses must be finite and >= 0 mSv"
        )
    if not math.isfinite(total):
        _checks.dose_sum(d, fn)  # names the rows of the largest doses
    return d
