"""What :func:`recurct.stats.time_to_threshold` and :func:`recurct.stats.cumulative_incidence`
share: the per-patient event table they are computed from, and a frozen result object that
keeps its settings and reads its curve at any time (``.at(years)``) without mutating.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from recurct import _checks
from recurct._frames import FrameKind, from_polars, to_polars
from recurct.errors import ParameterError
from recurct.stats._common import (
    block_labels,
    by_list,
    check_by_names,
    check_nonempty,
    check_patients,
    result_repr,
    stats_frame,
    stratum_keys,
    stratum_rows,
)
from recurct.stats._followup import DAYS_PER_YEAR, survival_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from recurct._frames import Frame

__all__ = ["Block", "CurveResult", "at_years", "event_table", "per_stratum"]

#: One stratum's block of a table: (times, event codes, entry days) -> polars table.
#: a stratum's rows of a curve table: its columns, as arrays of one length
Block = dict[str, np.ndarray]
Reader = Callable[[np.ndarray, np.ndarray, np.ndarray], Block]


def at_years(years: float | Sequence[float], fn: str) -> list[float]:
    """Times in years at which a curve is read: finite and >= 0."""
    given = [years] if np.ndim(years) == 0 else list(np.asarray(years).ravel())
    out = [_checks.number(a, fn, "years", lo=0.0) for a in given]
    if not out:
        raise ParameterError(f"{fn}: give at least one time in years, e.g. [1, 5]")
    return out


def event_table(
    patients: Any,
    threshold: Any,
    by: str | Sequence[str] | None,
    *,
    end: Any,
    entry: Any,
    death: str | None,
    fn: str,
) -> tuple[pl.DataFrame, list[str], float, int, int, FrameKind, pl.DataFrame | None]:
    """The per-patient event table: ``patient_id`` (where the table has it), the ``by``
    columns, ``time_days``, ``time_years``, ``event`` (0 censored, 1 reached T, 2 competing
    exit), ``entry_days`` (null: at risk from the first exam). Patients who do not contribute
    (at T on or before a delayed entry, dead on or before it, or entering on the day
    observation ends) are left out. Also returns the ``by`` columns, the threshold, the
    numbers left out as prevalent and with no time at risk, the input kind, and the strata
    of every patient, contributing or not (their labels, as strings, in the order of strata;
    ``None`` without ``by``): a stratum whose patients are all left out still has a curve,
    null everywhere (:meth:`CurveResult.at`)."""
    df, kind = stats_frame(patients)
    check_patients(df, fn)
    t = _checks.threshold(threshold, fn)
    by_cols = by_list(by, df)
    check_by_names(by_cols, _CURVE_COLUMNS, fn)
    check_nonempty(df)
    data = survival_data(df, t, end=end, entry=entry, death=death, func=fn)
    keep = pl.Series(data["keep"])
    ids = ["patient_id"] if "patient_id" in df.columns and "patient_id" not in by_cols else []
    entry_days = np.where(np.isfinite(data["entry"]), data["entry"], np.nan)
    events = pl.DataFrame(
        {
            "time_days": data["time"].astype(np.int64),
            "time_years": data["time"] / DAYS_PER_YEAR,
            "event": data["event"].astype(np.int64),
            "entry_days": entry_days,
        }
    ).with_columns(pl.col("entry_days").fill_nan(None))
    if ids or by_cols:
        events = df.select(*ids, *by_cols).filter(keep).hstack(events)
    strata = _labels(stratum_keys(df, by_cols), by_cols) if by_cols else None
    return events, by_cols, t, data["n_prevalent"], data["n_not_at_risk"], kind, strata


def _labels(keys: pl.DataFrame, by_cols: list[str]) -> pl.DataFrame:
    """The ``by`` columns of ``keys`` as the strings that label the strata of a curve."""
    return keys.select(pl.col(c).cast(pl.Utf8) for c in by_cols)


#: the columns of the event table and of the curves (a ``by`` column may not take their names)
_CURVE_COLUMNS = ("time_days", "time_years", "event", "entry_days", "n_at_risk", "n_events")
_CURVE_COLUMNS += ("n_competing", "prob_reached", "se", "prob_reached_lo", "prob_reached_hi")
_CURVE_COLUMNS += ("prob_died",)


def per_stratum(events: pl.DataFrame, by_cols: list[str], read: Reader) -> pl.DataFrame:
    """``read(time_days, event, entry_days)`` on the "all" stratum and on each stratum of
    ``events``, each block led by the ``by`` columns (strings, ``"all"`` on the first)."""
    return _per_stratum(events, by_cols, read, None)


def _per_stratum(
    events: pl.DataFrame, by_cols: list[str], read: Reader, strata: pl.DataFrame | None
) -> pl.DataFrame:
    """:func:`per_stratum` over the strata ``strata`` (their labels, as strings, in their
    order; ``None``: those of ``events``): a stratum without a row in ``events`` is read
    from empty arrays. Each stratum of ``events`` must be one of ``strata``."""
    tt = events["time_days"].cast(pl.Float64).to_numpy()
    ee = events["event"].to_numpy()
    en = events["entry_days"].cast(pl.Float64).fill_null(-math.inf).to_numpy()
    groups = stratum_rows(events, by_cols)
    blocks = [read(tt, ee, en)]
    if groups is not None:
        rows_of = [groups.order[lo:hi] for lo, hi in itertools.pairwise(groups.bounds)]
        if strata is not None:
            where = {key: k for k, key in enumerate(groups.labels.iter_rows())}
            if len(where) != len(rows_of) or not where.keys() <= set(strata.iter_rows()):
                raise AssertionError("_per_stratum: a stratum of the events is not in strata")
            none = np.empty(0, np.int64)
            rows_of = [rows_of[where[key]] if key in where else none for key in strata.iter_rows()]
            groups = groups._replace(labels=strata)
        for rows in rows_of:
            blocks.append(read(tt[rows], ee[rows], en[rows]))
    block = np.repeat(np.arange(len(blocks)), [len(next(iter(b.values()))) for b in blocks])
    out = pl.DataFrame({c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]})
    out = out.with_columns(*block_labels(by_cols, groups, block))
    out = out.select(*by_cols, *[c for c in out.columns if c not in by_cols])
    return out.with_columns(pl.col(pl.Float64).fill_nan(None))


@dataclass(frozen=True, eq=False, repr=False)
class CurveResult:
    """A step curve of the probability of having reached ``threshold`` mSv by t years.

    Attributes
    ----------
    curve : DataFrame
        The full step curve per stratum (pandas if the patients table was pandas).
    events : DataFrame
        The per-patient event table the curve is computed from (see :func:`event_table`).
    threshold : float
        T in mSv.
    by : tuple of str
        The strata columns (empty without strata).
    end, entry
        The ``end`` and ``entry`` arguments, as given.
    alpha : float
        1 - confidence level of the pointwise intervals.
    n_prevalent : int
        Patients left out because they were at T on or before a delayed entry.
    n_not_at_risk : int
        Patients left out with no time at risk: those who died on or before their delayed
        entry date, and those entering on the day their observation ends (both warned of).
    """

    curve: Frame
    events: Frame
    threshold: float
    by: tuple[str, ...]
    end: Any
    entry: Any
    alpha: float
    n_prevalent: int
    n_not_at_risk: int = 0

    def _read_at(self, tt: np.ndarray, ee: np.ndarray, en: np.ndarray, days: np.ndarray) -> Block:
        """One stratum's curve read at ``days`` (defined by each kind of curve)."""
        raise NotImplementedError

    def at(self, years: float | Sequence[float]) -> Frame:
        """The curve read at ``years`` (time since the first exam), per stratum.

        Returns
        -------
        DataFrame (pandas if the patients table was pandas)
            The ``by`` columns, ``time_years``, ``n_at_risk`` (still observed at that time),
            ``n_events`` (events up to that time), then the estimate and its interval. After
            a stratum's last observed time (event or censoring) the estimate is carried
            where the curve is settled, i.e. no patient can still change it: Kaplan-Meier
            once every patient at risk has reached T (``S = 0``, probability 1),
            Aalen-Johansen once every patient at risk has reached T or died (no patient left
            without an event); the interval is carried with it. Otherwise it is null beyond
            the last observed time (no patient is observed there: the curve is not defined),
            and everywhere in a stratum where no patient is observed (all prevalent at
            entry, or not at risk); ``.curve`` then has one time-0 row with null estimates.
        """
        ys = at_years(years, f"{type(self).__name__}.at")
        days = np.asarray(ys, dtype=np.float64) * DAYS_PER_YEAR
        events, _ = stats_frame(self.events)  # (a pandas ordered Categorical keeps its order)

        def read(tt: np.ndarray, ee: np.ndarray, en: np.ndarray) -> Block:
            return {**self._read_at(tt, ee, en, days), "time_years": np.asarray(ys, np.float64)}

        out = _per_stratum(events, list(self.by), read, self._strata())
        lead = [*self.by, "time_years"]
        kind: FrameKind = "pandas" if isinstance(self.events, pd.DataFrame) else "polars"
        return from_polars(out.select(*lead, pl.exclude(lead)), kind)

    def _strata(self) -> pl.DataFrame | None:
        """The strata of ``.curve`` (their labels, in its order; ``None`` without ``by``),
        those of :meth:`at` too: a stratum with no patient observed is in both."""
        if not self.by:
            return None
        curve, _ = to_polars(self.curve)
        days = curve["time_days"].to_numpy()
        # each block starts at time 0, its times increasing; the first block is "all"
        starts = np.flatnonzero(np.diff(days, prepend=np.inf) <= 0)
        return _labels(curve[starts[1:]], list(self.by))

    def __repr__(self) -> str:
        return result_repr(self)

    def plot(self) -> Figure:
        """The curve with its pointwise interval (:func:`recurct.plot.time_to_threshold_curve`)."""
        from recurct.plot import time_to_threshold_curve

        return time_to_threshold_curve(self)
