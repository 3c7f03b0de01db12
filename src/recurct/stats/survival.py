"""Time to reach a CED threshold: Kaplan-Meier, with censoring at the end of observation.

The share of patients >= T mSv in a fixed study window (the magnitude table) depends on how
long each patient was observed. The Kaplan-Meier estimate of the probability of having reached
T within t years of the first exam uses every patient for as long as he was observed, the form
of Jeukens et al. 2021's probability of a high cumulative dose within a given time, from a
time-to-event analysis (docs/sources.md; recurct takes no figure from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars
from recurct.errors import CompetingRiskWarning, ParameterError
from recurct.stats._common import normal_quantile
from recurct.stats._curve import Block, CurveResult, _per_stratum, event_table
from recurct.stats._followup import (
    DAYS_PER_YEAR,
    check_entry,
    observation_end,
    risk_set,
    survival_data,
)

__all__ = [
    "DAYS_PER_YEAR",
    "CompetingRiskWarning",
    "TimeToThreshold",
    "kaplan_meier",
    "observation_end",
    "risk_set",
    "survival_data",
    "time_to_threshold",
]

#: Pointwise interval methods of :func:`time_to_threshold` (``ci=``).
CI_TRANSFORMS = ("log-log", "plain")


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
    entry = check_entry(time, entry)
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
    z = normal_quantile(1.0 - alpha / 2.0)
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
    # where S is 0 or 1 the interval collapses to the estimate (Greenwood's se is 0 or
    # undefined there, for either transform); where se is undefined inside (0, 1): null
    edge = (surv <= 0) | (surv >= 1)
    s_lo[edge] = surv[edge]
    s_hi[edge] = surv[edge]
    undefined = ~np.isfinite(se) & (surv > 0) & (surv < 1)
    s_lo[undefined] = np.nan
    s_hi[undefined] = np.nan
    return 1.0 - s_hi, 1.0 - s_lo


@dataclass(frozen=True, eq=False, repr=False)
class TimeToThreshold(CurveResult):
    """Result of :func:`time_to_threshold`: a Kaplan-Meier curve that keeps its settings.

    Attributes
    ----------
    curve : DataFrame
        The full step curve per stratum: the ``by`` columns, ``time_years``, ``time_days``,
        ``n_at_risk`` (at risk just before that time), ``n_events``, ``prob_reached``
        (``1 - S``), ``se`` (Greenwood), ``prob_reached_lo``, ``prob_reached_hi``; one row at
        time 0 and one per distinct event time.
    events : DataFrame
        One row per contributing patient: ``patient_id`` (where given), the ``by`` columns,
        ``time_days``, ``time_years``, ``event`` (1 reached T, 0 censored), ``entry_days``.
    threshold, by, end, entry, alpha, n_prevalent, n_not_at_risk
        See :class:`recurct.stats._curve.CurveResult`.
    ci : str
        The pointwise interval (``"log-log"`` or ``"plain"``).

    Methods
    -------
    at(years)
        The curve read at ``years``: the ``by`` columns, ``time_years``, ``n_at_risk``,
        ``n_events``, ``prob_reached``, ``se``, ``prob_reached_lo``, ``prob_reached_hi``;
        after a stratum's last observed time, 1 (with the interval ``[1, 1]``) where every
        patient at risk reached T, else null (see :meth:`CurveResult.at`).
    plot()
        The curve (:func:`recurct.plot.time_to_threshold_curve`).
    """

    ci: str = "log-log"

    def _read_at(self, tt: np.ndarray, ee: np.ndarray, en: np.ndarray, days: np.ndarray) -> Block:
        return _read_at(kaplan_meier(tt, ee == 1, en), tt, ee == 1, days, self.alpha, self.ci, en)


@renamed(ci_transform="ci", at="use time_to_threshold(...).at(years)")
def time_to_threshold(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    end: Any = None,
    entry: Any = None,
    ci: str = "log-log",
    alpha: float = 0.05,
) -> TimeToThreshold:
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
        Threshold in mSv (> 0), one.
    by : str or sequence of str, optional
        Stratify; the result holds an ``"all"`` curve first, then one per stratum.
    end : None, date, str or mapping, optional
        End of observation (see :func:`recurct.stats.observation_end`). ``None`` (default):
        the end of the data, i.e. the latest ``last_exam`` of the patient's facility (of all
        patients where ``facility`` is absent or null). A dose-monitoring export records every
        exam of its period, so a patient with no further exam is still observed, exam-free,
        until the data end. Pass the study end explicitly where it is known: a date or an ISO
        date string (``"2021-01-01"``, the same for all); a column name of the patients table;
        or a mapping ``{facility: study end date}`` for multi-site studies with different
        periods. Do not censor at each patient's own ``last_exam`` (``end="last_exam"``)
        unless patients really leave observation then: patients who stop being scanned would
        leave the risk set early, and the probability of reaching T would be biased upwards,
        strongly so in cohorts where most patients have a single exam.
    entry : None, str, date or mapping, optional
        Delayed entry (left truncation). ``None``: every patient is at risk from his first exam.
        A date, an ISO date string, a column of dates or ``{facility: date}``: each patient is
        at risk from ``max(entry, first_exam)`` on the time scale "days since first exam", so
        exams before ``entry`` (a look-back period) count towards the CED but the patient only
        contributes once observed; patients who reached T before entry are left out.
    ci : {"log-log", "plain"}, default "log-log"
        Pointwise interval from Greenwood's variance: on ``log(-log S)`` (stays inside [0, 1];
        the default of R's ``survfit`` is "log", of Stata's "log-log") or plain ``S +- z se``
        (clipped). ``SurvfuncRight`` in statsmodels has no pointwise interval, only a
        simultaneous band; its estimate and standard error are what this function matches.
    alpha : float, default 0.05
        ``1 - confidence level`` of the pointwise intervals.

    Returns
    -------
    TimeToThreshold
        ``.curve`` (the full step curve), ``.at(years)`` (the curve read at given times),
        ``.events`` (the per-patient event table), ``.plot()``, and the settings as
        attributes. Tables are pandas if ``patients`` was pandas.
    """
    if not isinstance(ci, str) or ci not in CI_TRANSFORMS:
        raise ParameterError(f"time_to_threshold: ci must be one of {CI_TRANSFORMS}, got {ci!r}")
    fn = "time_to_threshold"
    alpha = _checks.alpha(alpha, fn)
    events, by_cols, t, n_prev, n_not, kind, strata = event_table(
        patients, threshold, by, end=end, entry=entry, death=None, fn=fn
    )

    def read(tt: np.ndarray, ee: np.ndarray, en: np.ndarray) -> Block:
        return _curve_table(kaplan_meier(tt, ee == 1, en), en, alpha, ci)

    curve = _per_stratum(events, by_cols, read, strata)
    return TimeToThreshold(
        curve=from_polars(curve, kind),
        events=from_polars(events, kind),
        threshold=t,
        by=tuple(by_cols),
        end=end,
        entry=entry,
        alpha=alpha,
        n_prevalent=n_prev,
        n_not_at_risk=n_not,
        ci=ci,
    )


def _curve_table(km: dict[str, np.ndarray], en: np.ndarray, alpha: float, transform: str) -> Block:
    """One stratum's block of the curve, from its Kaplan-Meier estimate and the entry days
    of its patients (``-inf``: at risk from time 0)."""
    time, n_risk, d, surv, se = km["time"], km["n_at_risk"], km["n_events"], km["surv"], km["se"]
    if time.size == 0 or time[0] > 0:
        time = np.concatenate([[0.0], time])
        n_risk = np.concatenate([[float(np.sum(en < 0))], n_risk])  # (at risk at time 0)
        d = np.concatenate([[0.0], d])
        surv = np.concatenate([[1.0], surv])
        se = np.concatenate([[0.0], se])
    lo, hi = _ci_reached(surv, se, alpha, transform)
    # no patient observed (all left out: prevalent at entry, or not at risk): no estimate,
    # not a 0%; patients who all enter late and never reach T are observed: S = 1
    if en.size == 0:
        surv, se, lo, hi = (np.full_like(a, np.nan) for a in (surv, se, lo, hi))
    return {
        "time_years": time / DAYS_PER_YEAR,
        "time_days": time.astype(np.int64),
        "n_at_risk": n_risk.astype(np.int64),
        "n_events": d.astype(np.int64),
        "prob_reached": 1.0 - surv,
        "se": se,
        "prob_reached_lo": lo,
        "prob_reached_hi": hi,
    }


def _read_at(
    km: dict[str, np.ndarray],
    tt: np.ndarray,
    ee: np.ndarray,
    at_days: np.ndarray,
    alpha: float,
    transform: str,
    entry: np.ndarray | None = None,
) -> Block:
    idx = np.searchsorted(km["time"], at_days, side="right") - 1  # last event time <= t
    surv = np.where(idx >= 0, km["surv"][np.maximum(idx, 0)] if km["time"].size else 1.0, 1.0)
    se = np.where(idx >= 0, km["se"][np.maximum(idx, 0)] if km["time"].size else 0.0, 0.0)
    lo, hi = _ci_reached(surv, se, alpha, transform)
    n_risk = risk_set(tt, at_days, entry).astype(np.int64)
    n_ev = np.array([(ee & (tt <= a)).sum() for a in at_days], dtype=np.int64)
    # undefined after the last time observed, unless the curve is settled there (everyone
    # at risk reached T: S = 0 for ever after), and everywhere when no patient is observed
    settled = km["surv"].size > 0 and km["surv"][-1] <= 0
    last = np.inf if settled else (tt.max() if tt.size else -np.inf)
    beyond = np.where(at_days > last, np.nan, 1.0)
    return {
        "n_at_risk": n_risk,
        "n_events": n_ev,
        "prob_reached": (1.0 - surv) * beyond,
        "se": se * beyond,
        "prob_reached_lo": lo * beyond,
        "prob_reached_hi": hi * beyond,
    }
