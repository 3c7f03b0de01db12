"""Trailing-window cumulative dose at each exam, and the first time it reached a threshold.

What dose-monitoring systems call a cumulative-dose alert: at each exam, the CED of the
patient's exams in the trailing W days (that exam included), whether it reached T, and per
patient the first date it did, with the exams that made up that window.

A quality and research tool, not a gate on care. The joint statement of the AAPM, the ACR and
the Health Physics Society (August 2021, reproduced by Image Wisely, 8 November 2021,
https://www.imagewisely.org/News/General/Appropriate-Exam-Ordering-Without-Dose-Tracking)
reads: "the decision to perform a medical imaging exam should be based on clinical grounds,
including the information available from prior imaging results, and not on the dose from prior
imaging-related radiation exposures". recurct's alerts are meant for protocol review,
justification audits and research on recurrent imaging, never to decide whether an exam is
ordered.

Window
    At exam i of a patient (exams in time order, ties in input order), the trailing W-day CED is
    the sum over that patient's exams j <= i with ``day_i - day_j < W`` (calendar days of the
    local wall-clock time, as :func:`recurct.cumulative_dose` counts them): W = 1 is the exams
    of the same day up to exam i, W = 90 the exams of the last 90 days. The largest such sum
    is ``max_ced_W`` of the patients table: both are compensated sums (recurct's one
    summation rule, :func:`recurct.kernels._neumaier_add`), so ten exams of 0.1 mSv make
    1.0 in both (0.9999999999999999 added one by one). The window sum here also subtracts
    the exams that leave it; its compensation keeps it the correctly rounded sum of the
    window in practice (the tests compare it with ``math.fsum`` and with ``max_ced_W``),
    though not by construction as for a sum of doses >= 0.

Kernel
    One pass per patient with two pointers (the window start moves forward only), parallel over
    patients. The window sum adds the new exam and subtracts those leaving, with Neumaier's
    compensated summation (:func:`recurct.kernels._neumaier_add`, the rule of every dose sum
    in recurct), so rounding does not accumulate along a long history (the tests compare it
    with an exact ``math.fsum`` of each window).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numba as nb
import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import as_written
from recurct._compat import renamed
from recurct._frames import _unwrap, frame_kind, from_polars, param_label, to_polars
from recurct._jit import njit
from recurct.cumulative import RUNNING_COLUMNS, running_dose
from recurct.errors import ParameterError
from recurct.kernels import _neumaier_add
from recurct.timevarying import day_numbers

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrailingDose", "trailing_dose", "trailing_kernel"]


@njit(parallel=True, cache=True)
def _trailing_kernel(
    starts: np.ndarray, day: np.ndarray, dose: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing-window CED at each exam and the index of its window's first exam.

    Parameters
    ----------
    starts : int64 array (P + 1)
        Offsets of each patient's exams in the sorted arrays.
    day : int64 array (N)
        Calendar day of each exam, non-decreasing within a patient.
    dose : float64 array (N)
        Effective dose of each exam.
    window : int
        W in days (>= 1).

    Returns
    -------
    (ced, lo) : float64 array (N), int64 array (N)
        ``ced[i]`` = sum of ``dose[j]`` for the patient's ``j <= i`` with
        ``day[i] - day[j] < window``; ``lo[i]`` the first such j.
    """
    n = day.size
    ced = np.empty(n, np.float64)
    lo_out = np.empty(n, np.int64)
    for p in nb.prange(starts.size - 1):
        a = starts[p]
        b = starts[p + 1]
        lo = a
        s = 0.0  # Neumaier-compensated window sum: s + c
        c = 0.0
        for i in range(a, b):
            while day[i] - day[lo] >= window:
                s, c = _neumaier_add(s, c, -dose[lo])
                lo += 1
            s, c = _neumaier_add(s, c, dose[i])
            ced[i] = s + c
            lo_out[i] = lo
    return ced, lo_out


def trailing_kernel(
    starts: np.ndarray, day: np.ndarray, dose: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing-window CED at each exam and the index of its window's first exam, from plain
    arrays (the kernel of :func:`trailing_dose`, whose parameters and result it shares).

    The arguments are checked first (:class:`~recurct.errors.ParameterError` naming the
    argument): ``starts`` integer offsets ascending from 0 to N; ``day`` an integer array,
    non-decreasing within each patient; ``dose`` finite numbers, one per exam; ``window`` a
    whole number of days in 1..100,000.
    """
    fn = "trailing_kernel"
    w = _checks.whole(window, fn, "window", hi=_checks.MAX_WINDOW_DAYS, what=" of days")
    day_a = _checks.int_array(day, fn, "day")
    dose_a = _checks.float_array(dose, fn, "dose")
    if dose_a.size != day_a.size:
        raise ParameterError(f"{fn}: dose has {dose_a.size} values, day {day_a.size}")
    starts_a = _checks.offsets(starts, day_a.size, fn)
    _checks.sorted_within(day_a, starts_a, fn)
    return _trailing_kernel(starts_a, day_a, dose_a, w)  # type: ignore[no-any-return]


class TrailingDose(NamedTuple):
    """Result of :func:`trailing_dose`: three tables (polars, or pandas for pandas input)."""

    #: every exam in patient/time order with ``exam_index``, ``running_ced_msv`` and, per
    #: window W, ``trailing_ced_W`` and per threshold T ``reached_T_in_W`` (pandas: each exam
    #: keeps its index label from the input, as :func:`recurct.running_dose` keeps it)
    exams: pl.DataFrame | pd.DataFrame
    #: one row per patient: ``patient_id``, ``n_exams`` and, per (T, W),
    #: ``date_reached_T_in_W`` (first exam date the trailing CED reached T, null if never),
    #: ``window_start_T_in_W`` (first exam date of that window), ``exams_in_window_T_in_W``
    #: and ``ced_in_window_T_in_W`` (the trailing CED at that exam)
    patients: pl.DataFrame | pd.DataFrame
    #: the exams that made up each patient's first window reaching T: the columns of
    #: ``exams`` plus ``threshold``, ``window_days``, ``alert_date`` (the date T was reached);
    #: pandas: each row the input label of its exam (an exam in several alerts: repeated)
    alerts: pl.DataFrame | pd.DataFrame


@renamed(windows="window_days")
def trailing_dose(
    exams: Any,
    thresholds: float | Sequence[float] = (100,),
    *,
    window_days: int | Sequence[int] = (90,),
) -> TrailingDose:
    """Trailing W-day CED at each exam, and per patient the first exam at which it reached T.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        The exam table (``patient_id``, ``exam_date``, ``effective_dose_msv``; other columns
        are carried through).
    thresholds : float or sequence of float, default (100,)
        T in mSv (each > 0).
    window_days : int or sequence of int, default (90,)
        W in whole days (each >= 1), several at once.

    Returns
    -------
    TrailingDose
        ``exams``, ``patients`` and ``alerts`` tables (see :class:`TrailingDose`). Column
        names carry T and W in their shortest form: ``trailing_ced_90``, ``reached_100_in_90``,
        ``date_reached_100_in_90``.

    Raises
    ------
    recurct.errors.ParameterError
        Thresholds or windows out of range; an exam column named like a column
        ``trailing_dose`` adds (``exam_index``, ``running_ced_msv``, ``trailing_ced_W`` and
        ``reached_T_in_W`` of the ``thresholds`` and ``window_days`` given, ``threshold``,
        ``window_days``, ``alert_date``): it is never overwritten; rename or drop it first.
    recurct.errors.DataError
        As :func:`recurct.running_dose` (bad required columns).

    Notes
    -----
    A quality and research tool: prior dose must not decide whether an exam is ordered (see
    the module docstring for the AAPM/ACR/HPS statement).
    """
    # NaN, inf, booleans, text and out-of-range values refused (recurct._checks)
    ws = sorted(_checks.window_days(window_days, "trailing_dose", "window_days").tolist())
    ts = sorted(_checks.thresholds(thresholds, "trailing_dose").tolist())
    if not ws or not ts:
        raise ParameterError("trailing_dose: give at least one window (days) and one threshold")
    table = _unwrap(exams)  # (read once, by running_dose: its warnings given once)
    kind = frame_kind(table)
    _check_names(_column_names(table, kind), ts, ws)
    run = running_dose(exams)
    index = run.index if kind == "pandas" else None  # the input's labels, in exam order
    ex, _ = to_polars(run)
    walk = _Walk(ex)
    new_cols = []
    alert_parts = []
    for w in ws:
        wl = param_label(w)
        ced, lo = (
            _trailing_kernel(walk.starts, walk.day, walk.dose, w)
            if ex.height
            else (walk.dose, np.arange(ex.height))
        )
        new_cols.append(pl.Series(_trailing_name(w), ced))
        for t in ts:
            hit = ced >= t
            new_cols.append(pl.Series(_reached_name(t, w), hit))
            first_hit = walk.first_hits(hit)
            walk.add_patient_columns(f"{param_label(t)}_in_{wl}", first_hit, lo, ced)
            alert_parts.append(walk.alert_rows(first_hit, lo, t, w))
    ex = ex.with_columns(new_cols)
    alerts = pl.concat(
        [
            ex.gather(rows).with_columns(
                pl.lit(t).alias("threshold"),
                pl.lit(w, dtype=pl.Int64).alias("window_days"),
                pl.Series("alert_date", when).cast(pl.Date),
            )
            for rows, t, w, when in alert_parts
        ],
        how="vertical",
    )
    alert_rows = np.concatenate([p[0] for p in alert_parts])
    alert_index = None if index is None else index.take(alert_rows)
    return TrailingDose(
        from_polars(ex, kind, index),
        from_polars(walk.patients, kind),
        from_polars(alerts, kind, alert_index),
    )


#: The columns :func:`trailing_dose` adds to the ``alerts`` table.
_ALERT_COLUMNS = ("threshold", "window_days", "alert_date")


def _trailing_name(w: float) -> str:
    """The exams column of the trailing CED of window ``w``: ``trailing_ced_90``."""
    return f"trailing_ced_{param_label(w)}"


def _reached_name(t: float, w: float) -> str:
    """The exams column of threshold ``t`` reached within window ``w``: ``reached_100_in_90``."""
    return f"reached_{param_label(t)}_in_{param_label(w)}"


def _column_names(exams: Any, kind: str) -> list[str]:
    """The column names of a polars, pandas or pyarrow table, without reading it."""
    if kind == "lazy":
        return exams.collect_schema().names()
    if kind == "arrow":
        return list(exams.schema.names)
    return [str(c) for c in exams.columns]


def _check_names(columns: Sequence[str], ts: list[float], ws: list[int]) -> None:
    """Refuse exam columns named like a column :func:`trailing_dose` adds, one error for all
    (:class:`ParameterError` naming trailing_dose): it would be overwritten in ``exams``
    (``exam_index``, ``running_ced_msv``, ``trailing_ced_W``, ``reached_T_in_W``) or
    ``alerts``."""
    added = [*RUNNING_COLUMNS, *(_trailing_name(w) for w in ws)]
    added += [_reached_name(t, w) for w in ws for t in ts]
    added += _ALERT_COLUMNS
    clash = [c for c in columns if c in added]
    if clash:
        raise ParameterError(
            f"trailing_dose: exam column(s) {clash} have the name of an output column of "
            "trailing_dose; rename or drop them first (they are never overwritten)"
        )


class _Walk:
    """The exams of :func:`trailing_dose` in patient/time order, as arrays, and the patients
    table that the first hit of each (threshold, window) fills."""

    def __init__(self, ex: pl.DataFrame) -> None:
        self.n = ex.height
        self.day = day_numbers(ex["exam_date"]).to_numpy()  # the local calendar day
        dose = ex["effective_dose_msv"]  # a float32 dose as written, as running_dose sums it
        self.dose = ex.select(as_written(pl.col(dose.name), dose.dtype)).to_series().to_numpy()
        self.first = np.flatnonzero(ex["exam_index"].to_numpy() == 1)
        self.starts = np.append(self.first, ex.height).astype(np.int64)
        self.code = np.repeat(np.arange(self.first.size), np.diff(self.starts))
        # the same local day as the windows
        self.dates = pl.Series(self.day.astype(np.int32)).cast(pl.Date)
        self.patients = pl.DataFrame(
            {"patient_id": ex["patient_id"].gather(self.first), "n_exams": np.diff(self.starts)}
        )

    def first_hits(self, hit: np.ndarray) -> np.ndarray:
        """Per patient the row of the first hit, -1 for none.

        The hits are in row order and rows grouped by patient, so a patient's first hit is
        where the patient code changes along the hits."""
        idx = np.flatnonzero(hit)
        lead = np.ones(idx.size, dtype=bool)
        lead[1:] = self.code[idx[1:]] != self.code[idx[:-1]]
        first_hit = np.full(self.first.size, -1, np.int64)
        first_hit[self.code[idx[lead]]] = idx[lead]
        return first_hit

    def add_patient_columns(
        self, name: str, first_hit: np.ndarray, lo: np.ndarray, ced: np.ndarray
    ) -> None:
        """``date_reached_``, ``window_start_``, ``exams_in_window_`` and ``ced_in_window_``
        of ``name`` (``"100_in_90"``), null for the patients who never reached it."""
        has = first_hit >= 0
        never = ~pl.Series(has)
        fh = np.where(has, first_hit, 0)
        start = lo[fh] if self.n else fh
        self.patients = self.patients.with_columns(
            pl.Series(f"date_reached_{name}", self.dates.gather(fh)).set(never, None),
            pl.Series(f"window_start_{name}", self.dates.gather(start)).set(never, None),
            pl.Series(f"exams_in_window_{name}", np.where(has, fh - start + 1, 0)).set(never, None),
            pl.Series(f"ced_in_window_{name}", np.where(has, ced[fh], np.nan)).fill_nan(None),
        )

    def alert_rows(
        self, first_hit: np.ndarray, lo: np.ndarray, t: float, w: int
    ) -> tuple[np.ndarray, float, int, np.ndarray]:
        """The exams of each first window reaching ``t`` (rows ``lo[fh] .. fh``), with the
        alert date of each."""
        fh = first_hit[first_hit >= 0]
        counts = fh - lo[fh] + 1
        rows = np.repeat(lo[fh], counts) + _ranges(counts)
        return rows, t, w, np.repeat(self.dates.gather(fh).to_numpy(), counts)


def _ranges(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64)
    ends = np.cumsum(counts)
    return np.arange(total) - np.repeat(ends - counts, counts)
