"""Follow-up of each patient: end of observation, delayed entry, death, and the per-patient
times (days since the first exam) that the survival, competing-risk, incidence and regression
functions of :mod:`recurct.stats` share.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._frames import param_label, rows_text, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import CompetingRiskWarning, DataError, DroppedRowsWarning, ParameterError
from recurct.stats._common import check_column, check_patients, require

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DAYS_PER_YEAR",
    "check_entry",
    "date_days",
    "date_expr",
    "end_days",
    "null_entry_error",
    "observation_end",
    "risk_set",
    "survival_data",
    "warn_if_death",
]

DAYS_PER_YEAR = 365.25
"""Days per year used to express times in years (Julian year)."""


def risk_set(time: np.ndarray, utime: np.ndarray, entry: np.ndarray | None = None) -> np.ndarray:
    """Subjects at risk at each of ``utime``: ``entry < t <= time`` (everyone if None).

    A subject is at risk after he enters, as in the counting-process ``(start, stop]`` form
    (lifelines' ``entry``, R's ``Surv(start, stop, event)``), and still at the time he leaves
    (an event and a censoring at the same time: the censored subject is at risk). An ``entry``
    of ``-inf`` means at risk from the start, events at time 0 included.
    """
    ts = np.sort(time)
    out = time.size - np.searchsorted(ts, utime, side="left")  # time >= t
    if entry is not None:
        es = np.sort(entry)
        out = out - (entry.size - np.searchsorted(es, utime, side="left"))  # minus entry >= t
    return out.astype(np.float64)


def check_entry(time: np.ndarray, entry: Any) -> np.ndarray | None:
    if entry is None:
        return None
    entry = np.asarray(entry, dtype=np.float64)
    if entry.shape != time.shape:
        raise ParameterError("entry must have one value per subject")
    if np.any(np.isnan(entry)) or np.any(entry >= time):
        raise ParameterError("entry must be before the event or censoring time of each subject")
    return entry


def _end_expr(df: pl.DataFrame, spec: _checks.EndSpec, fn: str, name: str) -> pl.Expr:
    """The polars expression of a resolved ``end``/``entry`` (a ``Date`` per patient)."""
    if spec.kind == "data":
        # the end of the data: the latest exam recorded (per facility where known)
        require(df, ["last_exam"], fn)
        latest = pl.col("last_exam").cast(pl.Date).max()
        if "facility" not in df.columns:
            return latest
        per_site = pl.coalesce(latest.over("facility"), latest)
        return pl.when(pl.col("facility").is_null()).then(latest).otherwise(per_site)
    if spec.kind == "column":
        check_column(df, spec.value, "date", f"{fn}({name}=...)")
        return pl.col(spec.value).cast(pl.Date)
    if spec.kind == "date":
        return pl.lit(spec.value, dtype=pl.Date)
    require(df, ["facility"], f"{fn}({name}={{facility: date}})")
    fac = df["facility"].cast(pl.Utf8)
    unknown = sorted(set(fac.drop_nulls().unique().to_list()) - set(spec.value))
    if unknown or fac.null_count():
        raise ParameterError(
            f"{fn}: {name}={{facility: date}} lacks facilities "
            f"{unknown[:10]}{' and null' if fac.null_count() else ''}; give a date "
            "for every facility in the patients table"
        )
    return pl.col("facility").cast(pl.Utf8).replace_strict(spec.value, return_dtype=pl.Date)


def observation_end(patients: Any, end: Any = None) -> pl.Series | pd.Series:
    """The end of each patient's observation, as a ``Date`` series (one per row, in order).

    The one definition used by :func:`recurct.stats.time_to_threshold` (censoring),
    :func:`recurct.stats.cumulative_incidence`, :func:`recurct.stats.incidence_rate` and
    :func:`recurct.stats.exam_rate` (person-time).

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (``last_exam`` for ``end=None``; ``facility`` where used).
    end : None, date, str or mapping, optional
        ``None`` (default): the end of the data, i.e. the latest ``last_exam`` of the patient's
        facility (of all patients where ``facility`` is absent or null). A ``datetime.date``
        (or datetime, or an ISO date string such as ``"2021-01-01"``): the same end for all.
        A ``str`` naming a column of the table: each patient's end (a column wins over a
        date reading). A mapping ``{facility: date}``: one end per facility (every facility
        of the table must be there). Resolved by :func:`recurct._checks.end_spec`.

    Returns
    -------
    polars.Series (pandas if ``patients`` was pandas)
        ``observation_end``, dtype ``Date``, no nulls.

    Raises
    ------
    ValueError
        On a missing column, a facility absent from the mapping, a null end, or a ``str``
        that is neither a column nor an ISO date.
    """
    df, kind = to_polars(patients)
    check_patients(df, "observation_end")
    out = _observation_end(df, end, "observation_end")
    return out.to_pandas() if kind == "pandas" else out


def _observation_end(df: pl.DataFrame, end: Any, func: str) -> pl.Series:
    """:func:`observation_end` of a polars table, errors naming ``func``."""
    spec = _checks.end_spec(end, func, columns=df.columns)
    end_expr = _end_expr(df, spec, func, "end")
    out = df.select(end_expr.alias("observation_end"))["observation_end"]
    if out.len() != df.height:  # a literal date: one value for all
        out = out.extend_constant(out[0], df.height - out.len())
    if out.null_count():
        rows = np.flatnonzero(out.is_null().to_numpy())
        if spec.kind == "column":
            where = f"null in column {spec.value!r}"
        else:  # the end of the data: no last_exam at all (of the facility or the table)
            where = "end=None, the latest last_exam, is null"
        raise DataError(
            f"{func}: {rows.size} patient(s) have no end of observation ({where}; "
            f"{rows_where(df, rows)}); fill the end column or pass end= explicitly (a date, "
            "e.g. the study end)"
        )
    return out


def _ids(df: pl.DataFrame, rows: np.ndarray) -> str:
    """``", patient(s) [..]"`` for the first rows named in a message (where ids are given)."""
    if "patient_id" not in df.columns or not rows.size:
        return ""
    ids = df["patient_id"].gather(rows[:10].tolist()).to_list()
    return f", patient(s) {ids}{', ...' if rows.size > 10 else ''}"


def rows_where(df: pl.DataFrame | None, rows: np.ndarray) -> str:
    """The rows named in a message: ``"rows 1, 3 (0-based), patient(s) ['a', 'b']"`` (the
    first 10 and how many more, :func:`recurct._frames.rows_text`; the patient ids where
    ``df`` is given and has ``patient_id``)."""
    text = f"{rows_text(np.asarray(rows).tolist())} (0-based)"
    return text if df is None else text + _ids(df, np.asarray(rows))


def end_days(df: pl.DataFrame, end: Any, func: str = "time_to_threshold") -> pl.Series:
    """Days from each patient's first exam to the end of his observation (checked >= 0)."""
    ends = _observation_end(df, end, func)
    days = df.select(
        (pl.lit(ends) - pl.col("first_exam").cast(pl.Date)).dt.total_days().cast(pl.Int64)
    ).to_series()
    if days.null_count():
        raise DataError(f"{func}: {days.null_count()} patient(s) have a null first_exam")
    neg = days < 0
    if neg.any():
        rows = np.flatnonzero(neg.to_numpy())
        raise DataError(
            f"{func}: {rows.size} patient(s) end before their first exam "
            f"({rows_where(df, rows)}); check the end dates"
        )
    return days


_DEATH_NAME = re.compile(r"death|died|dead|deceas|\bdod\b|mortal|vital", re.IGNORECASE)


def warn_if_death(end: Any, func: str) -> None:
    if isinstance(end, str) and _DEATH_NAME.search(end):
        warnings.warn(
            f"{func}: end={end!r} looks like a death date. Death is a competing event, not "
            "independent censoring: Kaplan-Meier then overstates the probability of reaching "
            f"the threshold. Use recurct.stats.cumulative_incidence(..., death={end!r}) "
            "(Aalen-Johansen) instead, with end= the study end.",
            CompetingRiskWarning,
            stacklevel=user_stacklevel(),
        )


def null_entry_error(func: str, entry: Any, missing: np.ndarray) -> DataError:
    """The error for patients without an entry date (``missing``: True per such row)."""
    rows = np.flatnonzero(missing)
    where = f" in column {entry!r}" if isinstance(entry, str) else ""
    return DataError(
        f"{func}: {rows.size} null entry date(s){where} ({rows_where(None, rows)}); fill "
        "them (e.g. with first_exam: no delayed entry) or drop those patients"
    )


def date_expr(df: pl.DataFrame, value: Any, name: str, func: str) -> pl.Expr:
    """A ``Date`` expression per patient for ``entry`` or ``death``: a date, an ISO date
    string, a column of dates or ``{facility: date}`` (:func:`recurct._checks.end_spec`)."""
    spec = _checks.end_spec(
        value, func, name, columns=df.columns, kinds=("date", "column", "mapping")
    )
    return _end_expr(df, spec, func, name)


def date_days(df: pl.DataFrame, value: Any, name: str, func: str) -> np.ndarray:
    """Days from ``first_exam`` to :func:`date_expr` of ``value`` (NaN where null)."""
    expr = date_expr(df, value, name, func) - pl.col("first_exam").cast(pl.Date)
    d = df.select(expr.dt.total_days().alias("d"))["d"].cast(pl.Float64).fill_null(np.nan)
    out = d.to_numpy()
    return np.full(df.height, out[0]) if out.size != df.height else out


def survival_data(
    patients: Any,
    threshold: float,
    *,
    end: Any = None,
    entry: Any = None,
    death: str | None = None,
    func: str = "time_to_threshold",
) -> dict[str, Any]:
    """Per-patient times (days since first exam), event codes and entry times.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (``first_exam``, ``reached_T``, ``days_to_T``).
    threshold : float
        T in mSv.
    end, entry
        As in :func:`time_to_threshold`.
    death : str, optional
        A column of death (or other exit) dates, null while alive: a competing event.
    func : str
        Name used in error messages.

    Returns
    -------
    dict
        ``time`` (days), ``event`` (0 censored, 1 reached T, 2 competing exit), ``entry``
        (days; ``-inf`` where the patient is at risk from his first exam) of the patients
        who contribute; ``keep`` (bool per input row: neither prevalent, i.e. at T on or
        before a delayed entry, nor dead on or before it, nor entering on the day observation
        ends); ``n_prevalent``; ``n_not_at_risk`` (left out with no time at risk: died on or
        before their delayed entry date, or entering on the day their observation ends).
        A death on the day T is reached counts as reaching T (event 1).

    Warns
    -----
    CompetingRiskWarning
        When patients who died before or on their (delayed) entry date are left out: they
        were never at risk (as a left-truncated sample would not hold them at all).
    DroppedRowsWarning
        When patients who enter on the day their observation ends are left out (rows named,
        0-based).

    Raises
    ------
    DataError
        On a null entry date (the column and rows named); when observation ends (``end``)
        before a patient's entry date (prevalent patients included; rows named); when a
        patient reaches T after his death date (rows named: a wrong death date or link;
        only the date T is reached is checked, not the dates of other exams).
    """
    df, _ = to_polars(patients)
    check_patients(df, func)
    lab = param_label(threshold)
    require(df, ["first_exam", f"reached_{lab}", f"days_to_{lab}"], func)
    warn_if_death(end, func)
    censor = end_days(df, end, func).to_numpy().astype(np.float64)
    reached = df[f"reached_{lab}"].fill_null(False).to_numpy().astype(bool)
    days_to = df[f"days_to_{lab}"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    if np.any(reached & np.isnan(days_to)):
        raise DataError(f"{func}: reached_{lab} is true but days_to_{lab} is null")
    t_ev = np.where(reached, days_to, np.inf)
    t_death = np.full(df.height, np.inf)
    if death is not None:
        t_death = date_days(df, death, "death", func)
        if np.any(t_death < 0):
            i = int(np.flatnonzero(t_death < 0)[0])
            raise DataError(
                f"{func}: {int((t_death < 0).sum())} patient(s) die before their first exam "
                f"(e.g. row {i}); check the {death!r} column"
            )
        t_death = np.where(np.isnan(t_death), np.inf, t_death)
    # T reached after death (only that is checked: an exam after death that does not
    # reach T, e.g. a post-mortem CT, is not refused): a wrong death date or link
    after = reached & (t_ev > t_death)
    if after.any():
        rows = np.flatnonzero(after)
        raise DataError(
            f"{func}: {rows.size} patient(s) reach {lab} mSv after their death date in "
            f"column {death!r} ({rows_where(df, rows)}): the exam that reached the threshold "
            "is dated after death (only that exam's date is checked against the death date), "
            "which means a wrong death date or exams linked to the wrong patient; correct the "
            "death date or the patient link (a death on the day T is reached counts as "
            "reaching T)"
        )
    event = np.zeros(df.height, dtype=np.int64)
    is1 = (t_ev <= censor) & (t_ev <= t_death)  # reached T on the day of death: T came first
    is2 = ~is1 & (t_death <= censor)
    event[is1] = 1
    event[is2] = 2
    time = np.where(is1, t_ev, np.where(is2, t_death, censor))
    if entry is None:
        entry_days = np.full(df.height, -np.inf)
    else:
        entry_days = date_days(df, entry, "entry", func)
        if np.isnan(entry_days).any():
            raise null_entry_error(func, entry, np.isnan(entry_days))
        # entry on or before the first exam: no delay (at risk from day 0, events on it count)
        entry_days = np.where(entry_days > 0, entry_days, -np.inf)
    # observation ending before a (delayed) entry is an error for every patient, checked
    # before the prevalence test (as incidence_rate does)
    late = censor < entry_days
    if late.any():
        rows = np.flatnonzero(late)
        raise DataError(
            f"{func}: {rows.size} patient(s) end observation before their entry date "
            f"({rows_where(df, rows)}); check entry and end"
        )
    # a delayed entrant already at T on his entry day is prevalent (risk set: entry < t)
    prevalent = reached & (t_ev <= entry_days)
    # died on or before a delayed entry: never at risk, left out (counted in n_not_at_risk)
    dead = ~prevalent & (event == 2) & (entry_days >= time)
    if dead.any():
        warnings.warn(
            f"{func}: left out {int(dead.sum())} patient(s) who died before or on their entry "
            "date (never at risk; counted in n_not_at_risk)",
            CompetingRiskWarning,
            stacklevel=user_stacklevel(),
        )
    # entering on the day observation ends: no time at risk, no contribution (counted)
    at_end = ~prevalent & ~dead & (entry_days >= time)
    if at_end.any():
        rows = np.flatnonzero(at_end)
        warnings.warn(
            f"{func}: left out {rows.size} patient(s) who enter on the day their observation "
            f"ends (no time at risk; {rows_where(None, rows)}; counted in n_not_at_risk)",
            DroppedRowsWarning,
            stacklevel=user_stacklevel(),
        )
    keep = ~prevalent & (entry_days < time)
    return {
        "time": time[keep],
        "event": event[keep],
        "entry": entry_days[keep],
        "keep": keep,
        "n_prevalent": int(prevalent.sum()),
        "n_not_at_risk": int((dead | at_end).sum()),
    }
