"""Lagged cumulative dose as a time-varying exposure, in counting-process form.

Cohort studies of CT and cancer (e.g. Pearce et al. 2012, docs/sources.md, and later work)
relate an outcome to the dose accrued up to some years before: a cancer diagnosed today cannot
be caused by last month's scan. :func:`lagged_dose` writes one row per patient and interval
``(start, stop]`` over which every lagged CED is constant, ready for lifelines'
``CoxTimeVaryingFitter`` and statsmodels' ``PHReg`` (``entry=start + 0.5``, see
:func:`lagged_dose`).

Definitions (days; one patient)
    * follow-up runs from ``entry`` to ``exit`` (two date columns of the subjects table), on the
      time scale "days since entry": ``start`` and ``stop`` are days since entry, the first row
      starts at 0 and the last stops at ``exit - entry``;
    * the CED with lag L at time t is the sum of the doses of the patient's exams with
      ``exam_day <= t - L`` (exams before entry included: they are accrued dose). It changes at
      ``exam_day + L``; the intervals are cut at every such day inside ``(entry, exit)``, for
      every lag, so over ``(start, stop]`` each ``ced_lag<L>`` holds the CED accrued up to
      ``start - L`` (the value at the start of the interval, as a Cox model needs: known just
      before any event in the interval);
    * ``event`` is the subject's event flag on his last interval, 0 on the others;
    * lags are in years of 365.25 days, rounded to whole days by Python's ``round``, which
      rounds a half day to the even number of days: 2 years (730.5 days) are 730 days,
      6 years (2191.5) 2192, 10 years (3652.5) 3652 and 14 years (5113.5) 5114
      (:func:`lag_days`).

The kernel makes one pass per patient, merging the K sorted sequences ``exam_day + L_k`` with
K pointers (a count pass sizes the output, a fill pass writes it), parallel over patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._exam_arrays import check_columns, check_day_range, exam_doses, exam_times
from recurct._frames import from_polars, param_label, rows_text, to_polars
from recurct._jit import njit
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.kernels import _neumaier_add

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["lag_days", "lagged_dose", "lagged_dose_kernel"]

DAYS_PER_YEAR = 365.25


@njit(cache=True)
def _walk(a, b, day, dose, e0, e1, lags, out_start, out_stop, out_ced, offset, fill):
    k_n = lags.size
    ptr = np.full(k_n, a)
    cptr = np.full(k_n, a)
    csum = np.zeros(k_n)  # compensated (:func:`recurct.kernels._neumaier_add`): csum + ccomp
    ccomp = np.zeros(k_n)
    prev = e0
    row = 0
    while True:
        nxt = e1
        for k in range(k_n):
            while ptr[k] < b and day[ptr[k]] + lags[k] <= prev:
                ptr[k] += 1
            if ptr[k] < b:
                cand = day[ptr[k]] + lags[k]
                if cand < nxt:
                    nxt = cand
        if fill:
            for k in range(k_n):
                while cptr[k] < b and day[cptr[k]] + lags[k] <= prev:
                    csum[k], ccomp[k] = _neumaier_add(csum[k], ccomp[k], dose[cptr[k]])
                    cptr[k] += 1
                sk = csum[k]  # (an overflowed sum as added: its compensation is NaN)
                out_ced[offset + row, k] = sk + ccomp[k] if abs(sk) < np.inf else sk
            out_start[offset + row] = prev - e0
            out_stop[offset + row] = nxt - e0
        row += 1
        if nxt >= e1:
            break
        prev = nxt
    return row


@njit(parallel=True, cache=True)
def _lagged_dose_kernel(
    starts: np.ndarray,
    day: np.ndarray,
    dose: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    lags: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counting-process rows of every subject.

    Parameters
    ----------
    starts : int64 array (P + 1)
        Offsets of each subject's exams (sorted by day within a subject).
    day, dose : int64 and float64 arrays (N)
        Exam day and dose.
    entry, exit_ : int64 arrays (P)
        Follow-up of each subject, ``entry < exit_``.
    lags : int64 array (K)
        Lags in days (>= 0).

    Returns
    -------
    (row_starts, start, stop, ced)
        ``row_starts`` (P + 1) offsets of each subject's rows; ``start``, ``stop`` (days since
        entry) and ``ced`` (rows x K) of each interval.
    """
    p_n = entry.size
    k_n = lags.size
    counts = np.empty(p_n, np.int64)
    dummy_i = np.empty(0, np.int64)
    dummy_f = np.empty((0, k_n), np.float64)
    for p in nb.prange(p_n):
        counts[p] = _walk(
            starts[p], starts[p + 1], day, dose, entry[p], exit_[p], lags,
            dummy_i, dummy_i, dummy_f, 0, False,
        )  # fmt: skip
    row_starts = np.zeros(p_n + 1, np.int64)
    for p in range(p_n):
        row_starts[p + 1] = row_starts[p] + counts[p]
    n = row_starts[p_n]
    start = np.empty(n, np.int64)
    stop = np.empty(n, np.int64)
    ced = np.empty((n, k_n), np.float64)
    for p in nb.prange(p_n):
        _walk(
            starts[p], starts[p + 1], day, dose, entry[p], exit_[p], lags,
            start, stop, ced, row_starts[p], True,
        )  # fmt: skip
    return row_starts, start, stop, ced


def lagged_dose_kernel(
    starts: np.ndarray,
    day: np.ndarray,
    dose: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    lags: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counting-process rows of every subject, from plain arrays (the kernel of
    :func:`lagged_dose`, whose parameters and result it shares).

    The arrays are checked first (:class:`~recurct.errors.ParameterError` naming the argument):
    ``starts`` integer offsets ascending from 0 to N, with P + 1 entries; ``day``, ``entry``,
    ``exit_`` and ``lags`` integer arrays (whole days); ``dose`` finite numbers; ``day``
    non-decreasing within each subject; ``entry < exit_``; lags in 0..100,000 days.
    """
    fn = "lagged_dose_kernel"
    day_a = _checks.int_array(day, fn, "day")
    dose_a = _checks.float_array(dose, fn, "dose")
    if dose_a.size != day_a.size:
        raise ParameterError(f"{fn}: dose has {dose_a.size} values, day {day_a.size}")
    starts_a = _checks.offsets(starts, day_a.size, fn)
    entry_a = _checks.int_array(entry, fn, "entry")
    exit_a = _checks.int_array(exit_, fn, "exit_")
    lags_a = _checks.int_array(lags, fn, "lags")
    if entry_a.size != starts_a.size - 1 or exit_a.size != entry_a.size:
        raise ParameterError(
            f"{fn}: entry ({entry_a.size}) and exit_ ({exit_a.size}) must have one value per "
            f"subject, len(starts) - 1 = {starts_a.size - 1}"
        )
    if (entry_a >= exit_a).any():
        raise ParameterError(f"{fn}: every entry must be before its exit_ (entry < exit_)")
    if ((lags_a < 0) | (lags_a > _checks.MAX_WINDOW_DAYS)).any():
        raise ParameterError(
            f"{fn}: lags must be whole days in 0..{_checks.MAX_WINDOW_DAYS}, got {lags_a.tolist()}"
        )
    _checks.sorted_within(day_a, starts_a, fn)
    return _lagged_dose_kernel(starts_a, day_a, dose_a, entry_a, exit_a, lags_a)  # type: ignore[no-any-return]


def _lag_years(lags_years: Any, fn: str) -> list[float]:
    """The lags in years: one or more finite numbers in [0, 130] (no booleans, no text)."""
    ls = _checks.many(lags_years)
    if not ls:
        raise ParameterError(f"{fn}: give at least one of lags in years, e.g. lags=[0, 5]")
    top = _checks.MAX_AGE_YEARS
    return [_checks.number(x, fn, "lags", lo=0.0, hi=top, what=" years") for x in ls]


def lag_days(lags_years: float | Sequence[float]) -> list[int]:
    """Lags in whole days from years: ``round(years * 365.25)``.

    The rounding is Python's ``round``, half to even: a lag of a whole number of years plus
    a half day goes to the even number of days, down for some lags and up for others. So
    2 years (730.5 days) are 730 days, 6 years (2191.5) 2192, 10 years (3652.5) 3652 and
    14 years (5113.5) 5114; 5 years (1826.25) are 1826. :func:`lagged_dose` uses the same
    days.

    Each lag must be a finite number of years in [0, 130]; booleans and text are refused
    (:class:`~recurct.errors.ParameterError`).

    >>> lag_days([0, 2, 5, 6, 10, 14])
    [0, 730, 1826, 2192, 3652, 5114]
    """
    return _round_days(_lag_years(lags_years, "lag_days"))


def _round_days(years: list[float]) -> list[int]:
    """Years to whole days, rounded half to even (the rule :func:`lag_days` documents)."""
    return [round(x * DAYS_PER_YEAR) for x in years]


def day_numbers(s: pl.Series, fn: str = "lagged_dose") -> pl.Series:
    """Days since 1970-01-01 of dates or datetimes (Int64); a time-zone-aware datetime counts
    on its local calendar day. A datetime out of the range of days recurct counts is a
    ``DataError`` naming ``fn``, the column and the rows (:func:`check_day_range`)."""
    dtype = s.dtype
    check_day_range(s, fn)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        s = s.dt.replace_time_zone(None)  # the local calendar day
    return s.cast(pl.Date).to_physical().cast(pl.Int64)


@renamed(entry="entry_column", exit="exit_column", event="event_column")
def lagged_dose(
    exams: Any,
    subjects: Any,
    lags: float | Sequence[float] = (0, 5),
    *,
    entry_column: str = "entry",
    exit_column: str = "exit",
    event_column: str = "event",
    covariates: Sequence[str] = (),
) -> pl.DataFrame | pd.DataFrame:
    """Counting-process table of lagged CED for a Cox model with time-varying exposure.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        The exams (``patient_id``, ``exam_date``, ``effective_dose_msv``). Exams of patients
        absent from ``subjects`` are ignored, with a
        :class:`~recurct.errors.DroppedRowsWarning` that counts them and their patients
        (ids written differently in the two tables, ``"123"`` and ``"00123"``, match no
        subject).
    subjects : polars, pandas or pyarrow table
        One row per patient: ``patient_id``, the entry and exit dates of follow-up (exit on
        a later calendar day than entry: follow-up is counted in whole days), the event flag
        (Boolean or 0/1: the outcome at exit) and the ``covariates`` (copied to every row of
        the patient).
    lags : float or sequence of float, default (0, 5)
        Lags in years (finite numbers in [0, 130]); one column ``ced_lag<L>`` each
        (``ced_lag5``, ``ced_lag2.5``). A lag of L years is ``round(L * 365.25)`` days,
        rounded half to even as :func:`lag_days` documents (2 years are 730 days, 6 years
        2192, 10 years 3652, 14 years 5114).
    entry_column, exit_column, event_column : str
        The columns of ``subjects`` holding the entry date, the exit date and the event flag.
    covariates : sequence of str
        Further subject columns to carry, under their own names (any name but those of the
        output columns: ``patient_id``, ``start``, ``stop``, ``event`` and the
        ``ced_lag<L>``).

    Returns
    -------
    polars.DataFrame (pandas if ``exams`` was pandas)
        ``patient_id``, ``start``, ``stop`` (Int64 days since entry, ``start < stop``),
        ``event`` (Int64, 0/1), one ``ced_lag<L>`` (Float64, mSv) per lag, then the covariates;
        sorted by patient and start. For lifelines:
        ``CoxTimeVaryingFitter().fit(df, id_col="patient_id", start_col="start",
        stop_col="stop", event_col="event")``; for statsmodels:
        ``PHReg(df["stop"], df[cols], status=df["event"], entry=df["start"] + 0.5,
        ties="efron")`` -- statsmodels (0.15) counts a subject at risk at its entry time
        (``entry <= t``), not in ``(start, stop]``: without the half-day shift a patient whose
        interval starts on an event day would be in that day's risk set twice. With the
        shift both give the same estimates (the tests check it to 1e-5).

    Raises
    ------
    ParameterError
        Missing columns; lags that are not finite numbers of years in [0, 130] (booleans and
        text included) or repeat; ``exam_date``, ``entry`` or ``exit`` not a Date or Datetime;
        an event column that is neither Boolean nor numeric; ``patient_id`` types of the
        two tables that cannot match (text in one, numbers in the other); a covariate given
        twice or named like an output column.
    DataError
        A null ``patient_id`` or ``exam_date`` in the exam table; doses null, negative, NaN or
        infinite (as :func:`recurct.cumulative_dose` checks them); exams of which none
        matches a subject; a null or repeated subject ``patient_id``; a null entry, exit or
        event; an exit before the entry, or on the same calendar day; an event flag other
        than 0/1 (``0.5`` is not cast to 0); an exam date, entry or exit beyond the days
        recurct counts (as :func:`recurct.cumulative_dose` says). Messages name the rows
        (0-based) of the table concerned.

    Warns
    -----
    DroppedRowsWarning
        Exams whose ``patient_id`` matches no subject (ignored): the message counts the exams
        and patients and names the first rows.
    """
    fn = "lagged_dose"
    entry = _checks.column_name(entry_column, fn, "entry_column")
    exit = _checks.column_name(exit_column, fn, "exit_column")
    event = _checks.column_name(event_column, fn, "event_column")
    covariates = _checks.names(covariates, fn, "covariates", allow_empty=True)
    ex, kind = to_polars(exams)
    sub, _ = to_polars(subjects)
    need_ex = ["patient_id", "exam_date", "effective_dose_msv"]
    need_sub = ["patient_id", entry, exit, event, *covariates]
    for df, need, what in ((ex, need_ex, "exam table"), (sub, need_sub, "subjects table")):
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise ParameterError(f"lagged_dose: the {what} lacks column(s) {missing}")
    years = _lag_years(lags, "lagged_dose")
    lag_d = _round_days(years)
    names = [f"ced_lag{param_label(x)}" for x in years]
    if len(set(names)) != len(names):
        raise ParameterError(f"lagged_dose: repeated lag in {lags}")
    _check_covariates(covariates, names)
    check_columns(ex, "lagged_dose")  # patient_id and exam_date not null, rows named
    exam_times(ex, "lagged_dose")  # exam_date a Date or Datetime
    # finite, >= 0, not null, a float32 dose as written: as cumulative_dose reads them
    dose = exam_doses(ex, "lagged_dose")
    key = _join_key(ex["patient_id"].dtype, sub["patient_id"].dtype)
    sub, helpers = _subjects(sub, entry, exit, event)
    # the helper columns live in frames of their own: no column of the user's can clash
    codes_of = pl.DataFrame(
        {
            "_pid": sub["patient_id"].cast(key),
            "_code": np.arange(sub.height, dtype=np.int64),
        }
    )
    work = (
        ex.select(
            pl.col("patient_id").cast(key).alias("_pid"),
            day_numbers(ex["exam_date"]).alias("_day"),
            pl.Series("_dose", dose, dtype=pl.Float64),
        )
        .join(codes_of, on="_pid", how="inner")
        .sort("_code", "_day")
    )
    if work.height < ex.height:
        _unmatched(ex, codes_of, key, work.height, sub.height)
    codes = work["_code"].to_numpy()
    starts = np.searchsorted(codes, np.arange(sub.height + 1)).astype(np.int64)
    row_starts, start, stop, ced = _lagged_dose_kernel(
        starts,
        work["_day"].to_numpy(),
        work["_dose"].to_numpy(),
        helpers["_e0"].to_numpy(),
        helpers["_e1"].to_numpy(),
        np.asarray(lag_d, dtype=np.int64),
    )
    reps = np.diff(row_starts)
    owner = np.repeat(np.arange(sub.height), reps)
    last = np.zeros(start.size, dtype=bool)
    last[row_starts[1:] - 1] = True
    ev_np = helpers["_event"].to_numpy()
    out = pl.DataFrame(
        {
            "patient_id": sub["patient_id"].gather(owner),
            "start": start,
            "stop": stop,
            "event": np.where(last, ev_np[owner], 0).astype(np.int64),
        }
    ).with_columns(pl.Series(name, ced[:, k]) for k, name in enumerate(names))
    if covariates:
        out = out.hstack(sub.select(covariates).gather(owner))
    return from_polars(out, kind)  # type: ignore[no-any-return]


def _check_covariates(covariates: list[str], ced_names: list[str]) -> None:
    """Covariates given once each, none named like an output column of :func:`lagged_dose`."""
    repeated = sorted({c for c in covariates if covariates.count(c) > 1})
    if repeated:
        raise ParameterError(f"lagged_dose: covariates names {repeated} more than once")
    outputs = ("patient_id", "start", "stop", "event", *ced_names)
    clash = [c for c in covariates if c in outputs]
    if clash:
        raise ParameterError(
            f"lagged_dose: covariate(s) {clash} have the name of an output column of "
            f"lagged_dose ({list(outputs)}); rename them first"
        )


def _unmatched(
    ex: pl.DataFrame, codes_of: pl.DataFrame, key: pl.DataType, n_matched: int, n_subjects: int
) -> None:
    """Count the exams whose ``patient_id`` matches no subject: a
    :class:`~recurct.errors.DroppedRowsWarning` (they are ignored), or a
    :class:`~recurct.errors.DataError` when there are subjects and no exam matches any."""
    lost = (
        ex.select(pl.col("patient_id").cast(key).alias("_pid"))
        .with_row_index("_row")
        .join(codes_of.select("_pid"), on="_pid", how="anti")
    )
    n_exams = lost.height
    n_patients = lost["_pid"].n_unique()
    mask = np.zeros(ex.height, dtype=bool)
    mask[lost["_row"].to_numpy()] = True
    rows = _rows(pl.Series(mask))
    said = (
        f"{n_exams:,} exam(s) of {n_patients:,} patient(s) ({rows} of the exam table, "
        "0-based) have a patient_id that matches no subject"
    )
    if n_matched == 0 and n_subjects:
        raise DataError(
            f"lagged_dose: no exam matches a subject: {said}, so every CED would be 0. Check "
            "that both tables write the ids alike (e.g. '00123' and '123' differ; cast or "
            "pad them first)"
        )
    warnings.warn(
        f"lagged_dose: {said} and were ignored (ids written differently in the two tables, "
        "e.g. '00123' and '123', do not match)",
        DroppedRowsWarning,
        stacklevel=user_stacklevel(),
    )


def _subjects(
    sub: pl.DataFrame, entry: str, exit: str, event: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The subjects checked (errors name their 0-based input rows) and sorted by patient,
    and beside them, in the same order, a frame of their own with ``_e0``/``_e1`` (entry and
    exit day numbers) and ``_event`` (the event flag as Int64 0/1)."""
    ids = sub["patient_id"]
    if ids.null_count():
        raise DataError(
            f"lagged_dose: column 'patient_id' of the subjects table is null in "
            f"{_rows(ids.is_null())} (0-based); give each subject an id"
        )
    twice = ids.is_duplicated()
    if twice.any():
        raise DataError(
            f"lagged_dose: column 'patient_id' of the subjects table repeats an id in "
            f"{_rows(twice)} (0-based); give each subject one row"
        )
    for col in (entry, exit):
        dtype = sub[col].dtype
        if not (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            raise ParameterError(
                f"lagged_dose: column {col!r} of the subjects table must be a Date or "
                f"Datetime, got {dtype}; parse it first, e.g. pl.col({col!r}).str.to_date()"
            )
    ev = _event_flags(sub[event], event)
    for col in (entry, exit):
        if sub[col].null_count():
            raise DataError(
                f"lagged_dose: column {col!r} of the subjects table is null in "
                f"{_rows(sub[col].is_null())} (0-based); give each subject an entry and an "
                "exit date"
            )
    e0, e1 = day_numbers(sub[entry]), day_numbers(sub[exit])
    before = e1 < e0
    if before.any():
        raise DataError(
            f"lagged_dose: {exit!r} is before {entry!r} in {_rows(before)} of the subjects "
            "table (0-based)"
        )
    same = e1 == e0
    if same.any():
        raise DataError(
            f"lagged_dose: {exit!r} is on the same calendar day as {entry!r} in "
            f"{_rows(same)} of the subjects table (0-based); follow-up is counted in whole "
            "days (start and stop are days since entry), so exit must be on a later day"
        )
    pid = pl.col("patient_id")  # coded ids by their text, as the other functions order them
    coded = isinstance(sub.schema["patient_id"], pl.Enum | pl.Categorical)
    order = sub.select(pl.arg_sort_by(pid.cast(pl.String) if coded else pid)).to_series()
    helpers = pl.DataFrame({"_e0": e0, "_e1": e1, "_event": ev}).gather(order)
    return sub.gather(order), helpers


def _rows(mask: pl.Series) -> str:
    """The 0-based rows where ``mask`` is true (:func:`recurct._frames.rows_text`: the first
    10 and how many more)."""
    return rows_text(mask.arg_true().to_list())


def _event_flags(ev: pl.Series, event: str) -> pl.Series:
    """The event flag as Int64 0/1: Boolean, or numbers that are exactly 0 or 1."""
    if not (ev.dtype == pl.Boolean or ev.dtype.is_numeric()):
        raise ParameterError(
            f"lagged_dose: column {event!r} of the subjects table must be Boolean or 0/1, "
            f"got {ev.dtype}; map it first, e.g. pl.col({event!r}) == 'yes'"
        )
    if ev.null_count():
        raise DataError(
            f"lagged_dose: column {event!r} of the subjects table is null in "
            f"{_rows(ev.is_null())} (0-based); give each subject 0 or 1"
        )
    if ev.dtype == pl.Boolean:
        return ev.cast(pl.Int64)
    flt = ev.cast(pl.Float64)
    bad = ~flt.is_in([0.0, 1.0])
    if bad.any():
        shown = ", ".join(f"{x:g}" for x in flt.filter(bad).head(5))
        raise DataError(
            f"lagged_dose: column {event!r} of the subjects table must be Boolean or 0/1, "
            f"got {shown} in {_rows(bad)} (0-based)"
        )
    return flt.cast(pl.Int64)


_TEXT = (pl.Utf8, pl.Categorical, pl.Enum)


def _join_key(ex_type: pl.DataType, sub_type: pl.DataType) -> pl.DataType:
    """The type both ``patient_id`` columns are matched as: their own when they agree, Int64
    for two integer types, text for text and categories; otherwise an error."""
    if ex_type == sub_type:
        return ex_type
    if ex_type.is_integer() and sub_type.is_integer():
        return pl.Int64
    if isinstance(ex_type, _TEXT) and isinstance(sub_type, _TEXT):
        return pl.Utf8
    raise ParameterError(
        f"lagged_dose: column 'patient_id' is {ex_type} in the exam table but {sub_type} in "
        "the subjects table, so no patient would match; cast one to the other's type first "
        "(e.g. pl.col('patient_id').cast(pl.Utf8))"
    )
