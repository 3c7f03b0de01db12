"""Incidence of reaching a cumulative dose: events per person-time and fixed-horizon risks.

In the form multi-centre studies report: patients reaching CED >= T per 1,000 patient-years,
by centre, with exact Poisson intervals, and the cumulative incidence of reaching T within 1
and 3 years (I_T;1, I_T;3).

Definitions (one patient, times in calendar days)
    * **entry** (time zero): the first exam in the data (``first_exam``, the default) or a
      date column/date given as ``entry=`` (e.g. the study start, or the end of a look-back
      period whose exams count towards the CED but not towards the person-time). A patient who
      reached T before a delayed entry (or on its day, where entry is after his first exam)
      is a prevalent case: he is not at risk and is left out (``n_prevalent``); this is the
      risk set ``(entry, event]`` of :func:`recurct.stats.time_to_threshold`.
    * **event**: the first date the CED reached T (``date_reached_T``, or ``first_exam +
      days_to_T``); with ``window_days=W``, the first date the CED of the trailing W days reached T
      (column ``date_reached_T_in_W``, see :func:`recurct.alerts.trailing_dose`). Events after
      the end of observation do not count.
    * **end**: :func:`recurct.stats.observation_end` (by default the end of the data of
      the patient's facility).
    * **person-time**: ``min(event, end) - entry`` days, in years of 365.25 days.

Rate ``d / PT`` with Garwood's exact Poisson interval ``[chi2(alpha/2; 2d) / 2,
chi2(1 - alpha/2; 2d + 2) / 2] / PT`` (lower bound 0 when ``d = 0``).

Fixed-horizon cumulative incidence ``I_T;h``: among patients at risk at entry whose
potential observation covers h years (``end - entry >= h * 365.25`` days; eligibility does not
depend on the outcome), the share who reached T within h years of entry. Patients who entered
less than h years before the end are left out of ``I_T;h`` (neither events nor non-events), so
the share is neither diluted by short follow-up nor inflated by selecting on the event. Its
interval is a binomial one (``ci=``, Clopper-Pearson by default). For a
censoring-aware estimate use :func:`recurct.stats.time_to_threshold` (``.at([1, 3])`` of its
result) or :func:`recurct.stats.cumulative_incidence` with competing risks; note that their
``.at(h)`` counts time since the first exam, where ``I_T;h`` counts h years from entry.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy.stats import chi2

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars, param_label, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, ParameterError, RecurctWarning
from recurct.stats._common import (
    TMP,
    block_labels,
    block_sums,
    by_list,
    check_by_names,
    check_nonempty,
    check_patients,
    require,
    stats_frame,
    stratum_rows,
)
from recurct.stats._followup import (
    DAYS_PER_YEAR,
    _observation_end,
    date_expr,
    null_entry_error,
    rows_where,
)
from recurct.stats.proportion import proportion_ci

if TYPE_CHECKING:
    import pandas as pd

    from recurct._frames import Frame

__all__ = ["event_dates", "incidence_rate", "poisson_ci"]


def poisson_ci(
    count: Any, exposure: Any = 1.0, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) interval of a Poisson rate ``count / exposure``.

    Parameters
    ----------
    count : int or array of int
        Observed events (>= 0).
    exposure : float or array of float
        Person-time (finite, >= 0); the interval is divided by it (NaN where it is 0).
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    (lo, hi) : arrays of float
        ``chi2.ppf(alpha/2, 2 count) / 2 / exposure`` (0 for ``count = 0``) and
        ``chi2.ppf(1 - alpha/2, 2 count + 2) / 2 / exposure``; NaN where ``exposure`` is 0.

    Raises
    ------
    ParameterError
        A count that is not a whole number >= 0, an exposure not a finite number >= 0, or
        ``count`` and ``exposure`` of shapes that do not broadcast.
    """
    alpha = _checks.alpha(alpha, "poisson_ci")
    d = _numbers(count, "count")
    pt = _numbers(exposure, "exposure")
    if not np.all(np.isfinite(d) & (d >= 0) & (d == np.floor(d))):
        raise ParameterError(f"poisson_ci: count must be whole numbers >= 0, got {count!r:.60}")
    if not np.all(np.isfinite(pt) & (pt >= 0)):  # (0: no person-time, a NaN interval)
        raise ParameterError(
            f"poisson_ci: exposure must be finite numbers >= 0, got {exposure!r:.60}"
        )
    d, pt = _checks.broadcast(d, pt, "poisson_ci", ("count", "exposure"))
    return _garwood(d, pt, alpha)


def _numbers(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of float64 (not bools, text or None), else ``ParameterError``."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise ParameterError(f"poisson_ci: {name} must be a number or numbers, got {value!r:.60}")
    return arr.astype(np.float64)


def _garwood(d: np.ndarray, pt: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The Garwood interval of :func:`poisson_ci`, unchecked; NaN where ``pt <= 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(d > 0, chi2.ppf(alpha / 2, 2 * d) / 2, 0.0) / pt
        hi = chi2.ppf(1 - alpha / 2, 2 * d + 2) / 2 / pt
    bad = ~(pt > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


@renamed(window="window_days")
def event_dates(
    patients: Any, threshold: float = 100, *, window_days: int | None = None
) -> pl.Series | pd.Series:
    """The date each patient first reached the threshold (null if never), as a ``Date`` series.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table: ``date_reached_T`` (or ``first_exam`` and ``days_to_T``); with
        ``window_days``, ``date_reached_T_in_W`` (from :func:`recurct.alerts.trailing_dose`).
    threshold : float
        T in mSv.
    window_days : int, optional
        W in days: the first date the trailing W-day CED reached T.

    Returns
    -------
    polars.Series (pandas if ``patients`` was pandas)
        ``event_date`` (Date), one per row, null where T was not reached.
    """
    df, kind = to_polars(patients)
    check_patients(df, "event_dates")
    out = _event_dates(df, threshold, window_days)
    return out.to_pandas() if kind == "pandas" else out


def _event_dates(df: pl.DataFrame, threshold: float, window_days: int | None) -> pl.Series:
    lab = param_label(_checks.threshold(threshold, "incidence_rate"))
    window = None if window_days is None else _window(window_days)
    if window is not None:
        col = f"date_reached_{lab}_in_{param_label(float(window))}"
        if col not in df.columns:
            raise DataError(
                f"the patients table lacks {col!r}: join the per-patient table of "
                f"recurct.alerts.trailing_dose(exams, thresholds=[{lab}], window_days=[{window}]) "
                "on patient_id first"
            )
        return df[col].cast(pl.Date).alias("event_date")
    if f"date_reached_{lab}" in df.columns:
        return df[f"date_reached_{lab}"].cast(pl.Date).alias("event_date")
    require(df, ["first_exam", f"days_to_{lab}"], "incidence_rate")
    expr = pl.col("first_exam").cast(pl.Date) + pl.duration(days=pl.col(f"days_to_{lab}"))
    return df.select(expr.alias("event_date"))["event_date"]


def _with_window_dates(df: pl.DataFrame, exams: Any, threshold: float, window: int) -> pl.DataFrame:
    """``df`` with ``date_reached_T_in_W`` from :func:`recurct.trailing_dose` of ``exams``."""
    from recurct.alerts import trailing_dose

    lab = param_label(_checks.threshold(threshold, "incidence_rate"))
    col = f"date_reached_{lab}_in_{param_label(float(window))}"
    if col in df.columns:
        return df
    require(df, ["patient_id"], "incidence_rate(exams=...)")
    trailing = trailing_dose(exams, thresholds=[threshold], window_days=[window])
    found, _ = to_polars(trailing.patients)
    missing = df.join(found, on="patient_id", how="anti").height
    if missing:
        raise DataError(
            f"incidence_rate: {missing} patient(s) of the patients table have no exams in "
            "exams=; pass the exam table the patients table was made from"
        )
    return df.join(
        found.select("patient_id", col), on="patient_id", how="left", maintain_order="left"
    )


@renamed(window="window_days")
def incidence_rate(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    window_days: int | None = None,
    entry: Any = None,
    end: Any = None,
    horizons: Sequence[float] = (),
    per: float = 1000.0,
    alpha: float = 0.05,
    ci: str = "beta",
    exams: Any = None,
) -> Frame:
    """Patients first reaching CED >= ``threshold`` per person-time, by stratum.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table of :func:`recurct.cumulative_dose` (``first_exam``, ``last_exam``,
        ``date_reached_T`` or ``days_to_T``; with ``window_days``, ``date_reached_T_in_W``).
    threshold : float, default 100
        T in mSv.
    by : str or sequence of str, optional
        Strata (e.g. ``"facility"``); an ``"all"`` row comes first.
    window_days : int, optional
        Count "reached T within any W days" (the trailing W-day CED reached T) instead of the
        CED since the first exam.
    entry : None, date, ISO date str, column name or mapping
        Time zero: ``None`` is each patient's first exam; a column name (dates), a date for
        all or ``{facility: date}`` (a patient whose first exam is later enters at his first
        exam). Patients who reached T before entry are prevalent and left out.
    end : None, date, ISO date str, column name or mapping
        End of observation, as in :func:`recurct.stats.observation_end`.
    horizons : sequence of float, default ()
        Years h of the fixed-horizon cumulative incidence ``I_T;h`` (e.g. ``(1, 3)``).
    per : float, default 1000
        Rates per ``per`` person-years.
    alpha : float, default 0.05
        1 - confidence level.
    ci : str, default "beta"
        Binomial interval of the fixed-horizon shares (see :func:`recurct.stats.proportion_ci`).
    exams : polars, pandas or pyarrow table, optional
        The exam table, for ``window_days`` when the patients table has no ``date_reached_T_in_W``
        column: that date is then computed by :func:`recurct.trailing_dose` and joined on
        ``patient_id``, so no hand join is needed.

    Returns
    -------
    polars.DataFrame (pandas if ``patients`` was pandas)
        The ``by`` columns, ``n_patients`` (at risk at entry), ``n_prevalent`` (reached T
        before entry, left out), ``n_events``, ``person_years``, ``rate``, ``rate_lo``,
        ``rate_hi`` (per ``per`` person-years, Garwood exact interval) and, for each horizon h
        (label as in ``param_label``, e.g. ``1`` or ``0.5``), ``n_eligible_{h}y``,
        ``n_reached_{h}y``, ``incidence_{h}y``, ``incidence_{h}y_lo``, ``incidence_{h}y_hi``.
        A stratum with no person-time at risk (``person_years`` 0: every patient prevalent,
        or every event or end on the entry day) has a null ``rate``, ``rate_lo`` and
        ``rate_hi`` (undefined, not zero), named in a
        :class:`~recurct.errors.RecurctWarning`; one with no patient eligible for horizon h
        (``n_eligible_{h}y`` 0, as when h is longer than a site's data) has a null
        ``incidence_{h}y`` and interval.

    Raises
    ------
    DataError
        On a null entry date (``entry`` a column): the column and rows are named, as by
        :func:`recurct.stats.time_to_threshold`.
    ValueError
        On missing columns, an end before entry, or bad parameters.

    Warns
    -----
    recurct.errors.RecurctWarning
        Strata with no person-time at risk (their rate is null), named with their counts.
    """
    fn = "incidence_rate"
    df, kind = stats_frame(patients)
    by_cols = by_list(by, df)
    check_nonempty(df)
    require(df, ["first_exam"], fn)
    check_patients(df, fn)
    per = _checks.number(per, fn, "per", lo=0.0, lo_open=True)
    alpha = _checks.alpha(alpha, fn)
    hs = [
        _checks.number(h, fn, "horizons", lo=0.0, lo_open=True, what=" years")
        for h in _checks.many(horizons)
    ]
    window = None if window_days is None else _window(window_days)
    if window is not None and exams is not None:
        df = _with_window_dates(df, exams, threshold, window)
    work = _follow_up(df, by_cols, threshold, window, entry, end)
    out = _counts(work, by_cols, hs)
    _warn_undefined(out, by_cols)
    return from_polars(_with_rates(out, hs, per, alpha, ci), kind)


def _warn_undefined(out: pl.DataFrame, by_cols: list[str]) -> None:
    """A :class:`~recurct.errors.RecurctWarning` naming the strata with no person-time at
    risk, whose rate and interval (:func:`poisson_ci`: NaN for exposure 0) are undefined and
    so null in the table: such a null is never silent."""
    rows = np.flatnonzero((out["person_years"] <= 0).to_numpy())
    if not rows.size:
        return
    named = [_stratum(out.row(int(r), named=True), by_cols) for r in rows[:5]]
    more = f"; and {rows.size - 5} more" if rows.size > 5 else ""
    warnings.warn(
        f"incidence_rate: {rows.size} stratum/strata with no person-time at risk (every "
        "patient prevalent, or every event or end of observation on the entry day): rate, "
        f"rate_lo and rate_hi are undefined there and left null: {'; '.join(named)}{more}",
        RecurctWarning,
        stacklevel=user_stacklevel(),
    )


def _stratum(row: dict[str, Any], by_cols: list[str]) -> str:
    """A stratum as ``facility='x'`` (the overall row: ``all``), with its counts."""
    where = ", ".join(f"{c}={row[c]!r}" for c in by_cols) if by_cols else "all"
    return f"{where} ({row['n_events']} event(s), {row['n_patients']} at risk)"


def _window(window_days: Any) -> int:
    """One window length in whole days."""
    win = _checks.window_days(window_days, "incidence_rate")
    if win.size != 1:
        raise ParameterError("incidence_rate: give one window_days, e.g. 365")
    return int(win[0])


def _follow_up(
    df: pl.DataFrame, by_cols: list[str], threshold: float, window: int | None, entry: Any, end: Any
) -> pl.DataFrame:
    """Per patient: entry, event and end dates, prevalent / event flags, days at risk."""
    event = _event_dates(df, threshold, window)
    ends = _observation_end(df, end, "incidence_rate")
    first = pl.col("first_exam").cast(pl.Date)
    start = first
    if entry is not None:
        given = date_expr(df, entry, "entry", "incidence_rate")
        missing = df.select(given.is_null().alias("m"))["m"]
        if missing.len() == df.height and missing.any():  # (a literal date is one value)
            raise null_entry_error("incidence_rate", entry, missing.to_numpy())
        start = pl.max_horizontal(first, given)
    work = df.select(*by_cols, start.alias(f"{TMP}entry"), first.alias(f"{TMP}first")).with_columns(
        event.alias(f"{TMP}event"), ends.alias(f"{TMP}end")
    )
    n_no_entry = work[f"{TMP}entry"].null_count()
    if n_no_entry:
        raise DataError(f"incidence_rate: {n_no_entry} patient(s) have no entry")
    late = (work[f"{TMP}end"] < work[f"{TMP}entry"]).to_numpy()
    if late.any():
        rows = np.flatnonzero(late)
        what = "their entry date" if entry is not None else "their first exam"
        col = f" (column {entry!r})" if isinstance(entry, str) and entry in df.columns else ""
        raise DataError(
            f"incidence_rate: {rows.size} patient(s) end before {what}{col} "
            f"({rows_where(df, rows)}); check end and entry"
        )
    work = work.with_columns(
        (
            pl.col(f"{TMP}event").is_not_null()
            & (
                (pl.col(f"{TMP}event") < pl.col(f"{TMP}entry"))
                | (
                    (pl.col(f"{TMP}event") == pl.col(f"{TMP}entry"))
                    & (pl.col(f"{TMP}entry") > pl.col(f"{TMP}first"))
                )
            )
        ).alias(f"{TMP}prev"),
        (
            pl.col(f"{TMP}event").is_not_null()
            & (pl.col(f"{TMP}event") >= pl.col(f"{TMP}entry"))
            & (pl.col(f"{TMP}event") <= pl.col(f"{TMP}end"))
        ).alias(f"{TMP}ev"),
    ).with_columns(
        (
            (
                pl.when(pl.col(f"{TMP}ev"))
                .then(pl.col(f"{TMP}event"))
                .otherwise(pl.col(f"{TMP}end"))
                - pl.col(f"{TMP}entry")
            )
            .dt.total_days()
            .cast(pl.Float64)
        ).alias(f"{TMP}days"),
        (pl.col(f"{TMP}end") - pl.col(f"{TMP}entry"))
        .dt.total_days()
        .cast(pl.Float64)
        .alias(f"{TMP}obs"),
    )
    return work


def _counts(work: pl.DataFrame, by_cols: list[str], hs: list[float]) -> pl.DataFrame:
    """Per stratum: patients at risk, prevalent, events, person-years, horizon counts."""
    groups = stratum_rows(work, by_cols)
    prev = work[f"{TMP}prev"].to_numpy()
    risk = ~prev
    ev = work[f"{TMP}ev"].to_numpy() & risk
    days = work[f"{TMP}days"].to_numpy()
    obs = work[f"{TMP}obs"].to_numpy()
    blocks = 1 if groups is None else groups.bounds.size
    cols: dict[str, Any] = {
        "n_patients": block_sums(groups, risk),
        "n_prevalent": block_sums(groups, prev),
        "n_events": block_sums(groups, ev),
        "person_years": block_sums(groups, np.where(risk, days, 0.0)) / DAYS_PER_YEAR,
    }
    for h in hs:
        hd = h * DAYS_PER_YEAR
        elig = risk & (obs >= hd)
        lab = param_label(h)
        cols[f"n_eligible_{lab}y"] = block_sums(groups, elig)
        cols[f"n_reached_{lab}y"] = block_sums(groups, elig & ev & (days <= hd))
    rates = [f"rate{s}" for s in ("", "_lo", "_hi")]
    rates += [f"incidence_{param_label(h)}y{s}" for h in hs for s in ("", "_lo", "_hi")]
    check_by_names(by_cols, [*cols, *rates], "incidence_rate")
    cols = {c.name: c for c in block_labels(by_cols, groups, np.arange(blocks))} | cols
    schema: dict[str, Any] = dict.fromkeys(by_cols, pl.Utf8)
    schema.update(
        n_patients=pl.Int64, n_prevalent=pl.Int64, n_events=pl.Int64, person_years=pl.Float64
    )
    for h in hs:
        schema[f"n_eligible_{param_label(h)}y"] = pl.Int64
        schema[f"n_reached_{param_label(h)}y"] = pl.Int64
    return pl.DataFrame(cols, schema=schema)


def _with_rates(
    out: pl.DataFrame, hs: list[float], per: float, alpha: float, ci: str
) -> pl.DataFrame:
    """Add the rate with its Garwood interval and the fixed-horizon incidences."""
    d = out["n_events"].to_numpy()
    py = out["person_years"].to_numpy()
    lo, hi = _garwood(d.astype(np.float64), py.astype(np.float64), alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(py > 0, d / py, np.nan)
    out = out.with_columns(
        pl.Series("rate", rate * per),
        pl.Series("rate_lo", lo * per),
        pl.Series("rate_hi", hi * per),
    )
    for h in hs:
        lab = param_label(h)
        k = out[f"n_reached_{lab}y"].to_numpy()
        n = out[f"n_eligible_{lab}y"].to_numpy()
        plo, phi = proportion_ci(k, n, alpha, ci)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out = out.with_columns(
            pl.Series(f"incidence_{lab}y", share),
            pl.Series(f"incidence_{lab}y_lo", np.asarray(plo, dtype=float)),
            pl.Series(f"incidence_{lab}y_hi", np.asarray(phi, dtype=float)),
        )
    return out.with_columns(pl.col(pl.Float64).fill_nan(None))
