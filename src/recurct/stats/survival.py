"""Time to reach a CED threshold: Kaplan-Meier, with censoring at the end of observation.

The share of patients >= T mSv in a fixed study window (the magnitude table) depends on how
long each patient was observed. The Kaplan-Meier estimate of the probability of having reached
T within t years of the first exam uses every patient for as long as he was observed, the form
of Jeukens et al. 2021's "4.5-year probability".
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from recurct._frames import from_polars, param_label, to_polars
from recurct.errors import CompetingRiskWarning
from recurct.stats.magnitude import by_list, check_nonempty, require, strata, thresholds_list

__all__ = [
    "DAYS_PER_YEAR",
    "CompetingRiskWarning",
    "kaplan_meier",
    "observation_end",
    "risk_set",
    "survival_data",
    "time_to_threshold",
]

#: Days per year used to express times in years (Julian year).
DAYS_PER_YEAR = 365.25

_TRANSFORMS = ("log-log", "plain")


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


def _check_entry(time: np.ndarray, entry: Any) -> np.ndarray | None:
    if entry is None:
        return None
    entry = np.asarray(entry, dtype=np.float64)
    if entry.shape != time.shape:
        raise ValueError("entry must have one value per subject")
    if np.any(np.isnan(entry)) or np.any(entry >= time):
        raise ValueError("entry must be before the event or censoring time of each subject")
    return entry


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, entry: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Kaplan-Meier survival with Greenwood standard errors, at the distinct event times.

    Same estimator and conventions as ``statsmodels.duration.survfunc.SurvfuncRight``
    (an event and a censoring at the same time: the censored subject is still at risk) and,
    with ``entry``, as lifelines' ``KaplanMeierFitter(entry=...)``.

    Parameters
    ----------
    time : array of float
        Event or censoring times.
    event : array of bool
        True where the event (reaching T) was observed at ``time``.
    entry : array of float, optional
        Delayed entry (left truncation): each subject is at risk in ``(entry, time]``;
        ``entry < time``, ``-inf`` for no delay. None: everyone from the start.

    Returns
    -------
    dict with ``time``, ``n_at_risk``, ``n_events``, ``surv``, ``se`` (arrays over the distinct
    event times; ``se`` is NaN once everyone at risk has had the event).
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    entry = _check_entry(time, entry)
    utime, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(np.float64), minlength=utime.size)
    keep = d > 0
    utime, d = utime[keep], d[keep]
    n = risk_set(time, utime, entry)
    surv = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, d / (n * (n - d)), np.nan)
        se = surv * np.sqrt(np.cumsum(terms))
    return {"time": utime, "n_at_risk": n, "n_events": d, "surv": surv, "se": se}


def _ci_reached(
    surv: np.ndarray, se: np.ndarray, alpha: float, transform: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of ``1 - surv`` from Greenwood's ``se`` of ``surv``."""
    z = norm.ppf(1.0 - alpha / 2.0)
    surv = np.asarray(surv, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    if transform == "plain":
        s_lo = np.clip(surv - z * se, 0.0, 1.0)
        s_hi = np.clip(surv + z * se, 0.0, 1.0)
    else:  # log-log: log(-log S) is approximately normal
        s_lo = np.array(surv, copy=True)
        s_hi = np.array(surv, copy=True)
        inner = (surv > 0) & (surv < 1) & np.isfinite(se)
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = se[inner] / (surv[inner] * np.abs(np.log(surv[inner])))
        s_lo[inner] = surv[inner] ** np.exp(z * sigma)
        s_hi[inner] = surv[inner] ** np.exp(-z * sigma)
    # where S is 0 or 1 (or se undefined) the interval collapses to the estimate
    undefined = ~np.isfinite(se) & (surv > 0) & (surv < 1)
    s_lo[undefined] = np.nan
    s_hi[undefined] = np.nan
    return 1.0 - s_hi, 1.0 - s_lo


def observation_end(patients: Any, end: Any = None) -> pl.Series:
    """The end of each patient's observation, as a ``Date`` series (one per row, in order).

    The one definition used by :func:`time_to_threshold` (censoring) and
    :func:`recurct.stats.exam_rate` (person-time).

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table (``last_exam`` for ``end=None``; ``facility`` where used).
    end : None, date, str or mapping, optional
        ``None`` (default): the end of the data, i.e. the latest ``last_exam`` of the patient's
        facility (of all patients where ``facility`` is absent or null). A ``datetime.date``
        (or datetime): the same end for all. A ``str``: a column of the table holding each
        patient's end. A mapping ``{facility: date}``: one end per facility (every facility of
        the table must be there).

    Returns
    -------
    polars.Series
        ``observation_end``, dtype ``Date``, no nulls.

    Raises
    ------
    ValueError
        On a missing column, a facility absent from the mapping, or a null end.
    TypeError
        On another kind of ``end``.
    """
    df, _ = to_polars(patients)
    if end is None:
        # the end of the data: the latest exam recorded (per facility where known)
        require(df, ["last_exam"], "observation_end")
        latest = pl.col("last_exam").cast(pl.Date).max()
        if "facility" in df.columns:
            end_expr = pl.coalesce(latest.over("facility"), latest)
            end_expr = pl.when(pl.col("facility").is_null()).then(latest).otherwise(end_expr)
        else:
            end_expr = latest
    elif isinstance(end, str):
        require(df, [end], "observation_end(end=<column>)")
        end_expr = pl.col(end).cast(pl.Date)
    elif isinstance(end, dt.date):  # datetime is a date too
        day = end.date() if isinstance(end, dt.datetime) else end
        end_expr = pl.lit(day, dtype=pl.Date)
    elif isinstance(end, Mapping):
        require(df, ["facility"], "observation_end(end={facility: date})")
        ends = {str(k): (v.date() if isinstance(v, dt.datetime) else v) for k, v in end.items()}
        fac = df["facility"].cast(pl.Utf8)
        unknown = sorted(set(fac.drop_nulls().unique().to_list()) - set(ends))
        if unknown or fac.null_count():
            raise ValueError(
                "end={facility: date} lacks facilities "
                f"{unknown[:10]}{' and null' if fac.null_count() else ''}; give an end date "
                "for every facility in the patients table"
            )
        end_expr = pl.col("facility").cast(pl.Utf8).replace_strict(ends, return_dtype=pl.Date)
    else:
        raise TypeError(
            "end must be None (end of the data), a date, a column name or a mapping "
            f"facility -> date; got {type(end).__name__}"
        )
    out = df.select(end_expr.alias("observation_end"))["observation_end"]
    if out.len() != df.height:  # a literal date: one value for all
        out = out.extend_constant(out[0], df.height - out.len())
    if out.null_count():
        raise ValueError(
            f"{out.null_count()} patient(s) have no end of observation (null end date); "
            "fill the end column or pass end= explicitly"
        )
    return out


def _end_days(df: pl.DataFrame, end: Any, func: str = "time_to_threshold") -> pl.Series:
    """Days from each patient's first exam to the end of his observation (checked >= 0)."""
    ends = observation_end(df, end)
    days = df.select(
        (pl.lit(ends) - pl.col("first_exam").cast(pl.Date)).dt.total_days().cast(pl.Int64)
    ).to_series()
    if days.null_count():
        raise ValueError(f"{func}: {days.null_count()} patient(s) have a null first_exam")
    neg = days < 0
    if neg.any():
        i = int(neg.arg_true()[0])
        pid = df["patient_id"][i] if "patient_id" in df.columns else i
        raise ValueError(
            f"{func}: {int(neg.sum())} patient(s) end before their first exam "
            f"(e.g. patient {pid!r}); check the end dates"
        )
    return days


_DEATH_NAME = re.compile(r"death|died|dead|deceas|\bdod\b|mortal|vital", re.IGNORECASE)


def _warn_if_death(end: Any, func: str) -> None:
    if isinstance(end, str) and _DEATH_NAME.search(end):
        warnings.warn(
            f"{func}: end={end!r} looks like a death date. Death is a competing event, not "
            "independent censoring: Kaplan-Meier then overstates the probability of reaching "
            f"the threshold. Use recurct.stats.cumulative_incidence(..., death={end!r}) "
            "(Aalen-Johansen) instead, with end= the study end.",
            CompetingRiskWarning,
            stacklevel=3,
        )


def _date_days(df: pl.DataFrame, value: Any, name: str, func: str) -> np.ndarray:
    """Days from ``first_exam`` to a date column or a date (NaN where null)."""
    if isinstance(value, str):
        require(df, [value], f"{func}({name}=<column>)")
        expr = pl.col(value).cast(pl.Date)
    elif isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        expr = pl.lit(day, dtype=pl.Date)
    else:
        raise TypeError(f"{name} must be a column name or a date, got {type(value).__name__}")
    days = df.select((expr - pl.col("first_exam").cast(pl.Date)).dt.total_days().alias("d"))
    return days["d"].cast(pl.Float64).fill_null(np.nan).to_numpy()


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
        before a delayed entry, nor entering on the day observation ends) and
        ``n_prevalent``.
    """
    df, _ = to_polars(patients)
    lab = param_label(threshold)
    require(df, ["first_exam", f"reached_{lab}", f"days_to_{lab}"], func)
    _warn_if_death(end, func)
    censor = _end_days(df, end, func).to_numpy().astype(np.float64)
    reached = df[f"reached_{lab}"].fill_null(False).to_numpy().astype(bool)
    days_to = df[f"days_to_{lab}"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    if np.any(reached & np.isnan(days_to)):
        raise ValueError(f"{func}: reached_{lab} is true but days_to_{lab} is null")
    t_ev = np.where(reached, days_to, np.inf)
    t_death = np.full(df.height, np.inf)
    if death is not None:
        t_death = _date_days(df, death, "death", func)
        if np.any(t_death < 0):
            i = int(np.flatnonzero(t_death < 0)[0])
            raise ValueError(
                f"{func}: {int((t_death < 0).sum())} patient(s) die before their first exam "
                f"(e.g. row {i}); check the {death!r} column"
            )
        t_death = np.where(np.isnan(t_death), np.inf, t_death)
    event = np.zeros(df.height, dtype=np.int64)
    is1 = (t_ev <= censor) & (t_ev <= t_death)  # reached T on the day of death: T came first
    is2 = ~is1 & (t_death <= censor)
    event[is1] = 1
    event[is2] = 2
    time = np.where(is1, t_ev, np.where(is2, t_death, censor))
    if entry is None:
        entry_days = np.full(df.height, -np.inf)
    else:
        entry_days = _date_days(df, entry, "entry", func)
        if np.isnan(entry_days).any():
            raise ValueError(f"{func}: {int(np.isnan(entry_days).sum())} null entry date(s)")
        # entry on or before the first exam: no delay (at risk from day 0, events on it count)
        entry_days = np.where(entry_days > 0, entry_days, -np.inf)
    # a delayed entrant already at T on his entry day is prevalent (risk set: entry < t)
    prevalent = reached & (t_ev <= entry_days)
    late = ~prevalent & (entry_days > time)
    if late.any():
        raise ValueError(
            f"{func}: {int(late.sum())} patient(s) leave observation (end or death) before "
            "their entry date; check entry and end"
        )
    # entering on the day observation ends: no time at risk, no contribution
    keep = ~prevalent & (entry_days < time)
    return {
        "time": time[keep],
        "event": event[keep],
        "entry": entry_days[keep],
        "keep": keep,
        "n_prevalent": int(prevalent.sum()),
    }


def time_to_threshold(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    end: Any = None,
    entry: Any = None,
    at: float | Sequence[float] | None = None,
    alpha: float = 0.05,
    ci_transform: str = "log-log",
) -> Any:
    """Kaplan-Meier probability of having reached CED >= ``threshold`` by t years.

    Time zero is each patient's first exam in the data (``first_exam``). The event is reaching
    T (``days_to_T``); a patient who has not reached T is censored at the end of his
    observation. A patient who reached T only after ``end`` counts as censored at ``end``.
    Death ends observation too, but is not independent censoring: where deaths are known use
    :func:`recurct.stats.cumulative_incidence` (Aalen-Johansen, death as a competing event);
    passing death dates as ``end`` gives the naive Kaplan-Meier estimate, which overstates the
    probability of reaching T (a ``CompetingRiskWarning`` is raised when the ``end`` column's
    name looks like a death date).

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table of :func:`recurct.cumulative_dose`, with ``first_exam``,
        ``reached_T`` and ``days_to_T`` for the threshold (and ``last_exam`` for the default
        ``end``).
    threshold : float, default 100
        Threshold in mSv (> 0).
    by : str or sequence of str, optional
        Stratify; the result holds an ``"all"`` curve first, then one per stratum.
    end : None, date, str or mapping, optional
        End of observation (see :func:`observation_end`). ``None`` (default): the end of the data,
        i.e. the latest ``last_exam`` of the patient's facility (of all patients where ``facility``
        is absent or null). A dose-monitoring export records every exam of its period, so a patient
        with no further exam is still observed, exam-free, until the data end. Pass the study end
        explicitly where it is known: a ``datetime.date`` (the same for all); a column name of the
        patients table; or a mapping ``{facility: study end date}`` for multi-site studies with
        different periods (uses the patients table's ``facility``). Do not censor at each patient's
        own ``last_exam`` (``end="last_exam"``) unless patients really leave observation then:
        patients who stop being scanned would leave the risk set early, and the probability of
        reaching T would be biased upwards, strongly so in cohorts where most patients have a single
        exam.
    entry : None, str or date, optional
        Delayed entry (left truncation). ``None``: every patient is at risk from his first exam.
        A date, or a column of dates: each patient is at risk from ``max(entry, first_exam)``
        on the time scale "days since first exam", so exams before ``entry`` (a look-back
        period) count towards the CED but the patient only contributes once observed; patients
        who reached T before entry are not at risk and are left out.
    at : float or sequence of float, optional
        Times in years at which to read the curve (e.g. ``[1, 2, 4.5, 5]``). If given, the
        result is that table instead of the full curve.
    alpha : float, default 0.05
        ``1 - confidence level`` of the pointwise intervals.
    ci_transform : {"log-log", "plain"}, default "log-log"
        Pointwise interval from Greenwood's variance: on ``log(-log S)`` (stays inside [0, 1];
        the default of R's ``survfit`` is "log", of Stata's "log-log") or plain ``S +- z se``
        (clipped). ``SurvfuncRight`` in statsmodels has no pointwise interval, only a
        simultaneous band; its estimate and standard error are what this function matches.

    Returns
    -------
    polars.DataFrame (pandas if ``patients`` was pandas)
        Without ``at``, the full step curve per stratum: the ``by`` columns, ``time_years``,
        ``time_days``, ``n_at_risk`` (at risk just before that time), ``n_events``,
        ``prob_reached`` (``1 - S``), ``se`` (Greenwood), ``lo``, ``hi``; one row at time 0
        and one per distinct event time. With ``at``: the ``by`` columns, ``time_years``,
        ``n_at_risk`` (still observed at that time), ``n_events`` (events up to that time),
        ``prob_reached``, ``se``, ``lo``, ``hi``; null beyond the last observed time of a
        stratum (the curve is not defined there).
    """
    df, kind = to_polars(patients)
    t = thresholds_list(threshold)
    if len(t) != 1:
        raise ValueError("time_to_threshold takes one threshold; call it once per threshold")
    lab = param_label(t[0])
    by_cols = by_list(by, df)
    check_nonempty(df)
    if ci_transform not in _TRANSFORMS:
        raise ValueError(f"ci_transform must be one of {_TRANSFORMS}, got {ci_transform!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    require(df, ["first_exam", f"reached_{lab}", f"days_to_{lab}"], "time_to_threshold")
    at_years: list[float] | None = None
    if at is not None:
        at_years = [float(a) for a in ([at] if np.ndim(at) == 0 else at)]
        if any(not math.isfinite(a) or a < 0 for a in at_years):
            raise ValueError(f"at: times must be finite and >= 0 years, got {at_years}")

    data = survival_data(df, t[0], end=end, entry=entry)
    time_days, event, entry_days = data["time"], data["event"] == 1, data["entry"]
    work = pl.DataFrame({"_t": time_days, "_e": event, "_in": entry_days})
    if by_cols:
        work = work.hstack(df.select(by_cols).filter(pl.Series(data["keep"])))

    blocks: list[pl.DataFrame] = []
    for key, part in strata(work, by_cols):
        tt = part["_t"].to_numpy()
        ee = part["_e"].to_numpy()
        ent = part["_in"].to_numpy() if entry is not None else None
        km = kaplan_meier(tt, ee, ent)
        if at_years is None:
            n0 = tt.size if ent is None else int(np.sum(ent < 0))
            block = _curve(km, n0, alpha, ci_transform)
        else:
            block = _read_at(km, tt, ee, at_years, alpha, ci_transform, ent)
        blocks.append(
            block.with_columns(*(pl.lit(v, dtype=pl.Utf8).alias(c) for c, v in zip(by_cols, key)))
        )
    out = pl.concat(blocks, how="vertical_relaxed")
    out = out.select(*by_cols, *[c for c in out.columns if c not in by_cols])
    return from_polars(out, kind)


def _curve(km: dict[str, np.ndarray], n: int, alpha: float, transform: str) -> pl.DataFrame:
    time, n_risk, d, surv, se = km["time"], km["n_at_risk"], km["n_events"], km["surv"], km["se"]
    if time.size == 0 or time[0] > 0:
        time = np.concatenate([[0.0], time])
        n_risk = np.concatenate([[float(n)], n_risk])
        d = np.concatenate([[0.0], d])
        surv = np.concatenate([[1.0], surv])
        se = np.concatenate([[0.0], se])
    lo, hi = _ci_reached(surv, se, alpha, transform)
    return pl.DataFrame(
        {
            "time_years": time / DAYS_PER_YEAR,
            "time_days": time.astype(np.int64),
            "n_at_risk": n_risk.astype(np.int64),
            "n_events": d.astype(np.int64),
            "prob_reached": 1.0 - surv,
            "se": se,
            "lo": lo,
            "hi": hi,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def _read_at(
    km: dict[str, np.ndarray],
    tt: np.ndarray,
    ee: np.ndarray,
    at_years: list[float],
    alpha: float,
    transform: str,
    entry: np.ndarray | None = None,
) -> pl.DataFrame:
    at_days = np.asarray(at_years) * DAYS_PER_YEAR
    idx = np.searchsorted(km["time"], at_days, side="right") - 1  # last event time <= t
    surv = np.where(idx >= 0, km["surv"][np.maximum(idx, 0)] if km["time"].size else 1.0, 1.0)
    se = np.where(idx >= 0, km["se"][np.maximum(idx, 0)] if km["time"].size else 0.0, 0.0)
    lo, hi = _ci_reached(surv, se, alpha, transform)
    n_risk = risk_set(tt, at_days, entry).astype(np.int64)
    n_ev = np.array([(ee & (tt <= a)).sum() for a in at_days], dtype=np.int64)
    beyond = at_days > tt.max()
    prob = np.where(beyond, np.nan, 1.0 - surv)
    se = np.where(beyond, np.nan, se)
    lo = np.where(beyond, np.nan, lo)
    hi = np.where(beyond, np.nan, hi)
    return pl.DataFrame(
        {
            "time_years": np.asarray(at_years, dtype=np.float64),
            "n_at_risk": n_risk,
            "n_events": n_ev,
            "prob_reached": prob,
            "se": se,
            "lo": lo,
            "hi": hi,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
