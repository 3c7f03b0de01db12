"""Cumulative incidence of reaching a dose threshold with death as a competing event.

A patient who dies can no longer reach T. Treating death as censoring (Kaplan-Meier with the
death date as the end of observation) assumes the dead would have gone on like the living,
and overstates the probability of reaching T. The Aalen-Johansen estimator gives the
cumulative incidence function (CIF) of reaching T in the presence of death:

    ``F_1(t) = sum_{t_i <= t} S(t_i-) d_1i / n_i``

with ``S`` the Kaplan-Meier probability of having had neither event, ``d_1i`` the patients
reaching T at ``t_i`` and ``n_i`` those at risk (delayed entry: ``entry < t_i <= time``).
Variance: the delta-method (Greenwood-type) formula of Collett (Modelling Survival Data in
Medical Research, 3rd ed., p. 411), as lifelines' ``AalenJohansenFitter`` computes it::

    Var F_1(t) = sum (F_1(t) - F_1(t_i))^2 d_i / (n_i (n_i - d_i))
               + sum S(t_i-)^2 d_1i (n_i - d_1i) / n_i^3
               - 2 sum (F_1(t) - F_1(t_i)) S(t_i-) d_1i / n_i^2

(``d_i`` events of any kind); the pointwise interval is computed on ``log(-log F_1)``.
Unlike lifelines, tied event times of different kinds are used as they are (lifelines
jitters them at random); without ties, and without a delayed entry on an event day, the two
agree to rounding (lifelines counts a patient entering on an event day at risk that day,
recurct from the next day, as its Kaplan-Meier estimate and lifelines' own KM do). Where
everyone still at risk has an event (``n_i = d_i``), ``S`` drops to 0 and ``F_1`` stays at
``F_1(t_i)`` from then on, so the first sum's term ``(F_1(t) - F_1(t_i))^2 d_i / (n_i (n_i -
d_i))`` is ``0 * inf``; its weight is exactly 0 and recurct counts it as 0 (lifelines gives
NaN from there on). At ``F_1 = 1`` (everyone reached T, no death) the variance is then 0 and
the interval is ``[1, 1]``, as the Kaplan-Meier interval of
:func:`recurct.stats.time_to_threshold` at ``S = 0``.

Time zero is the first exam in the data; see :func:`recurct.stats.time_to_threshold` for
``end`` and ``entry`` (left truncation, look-back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars
from recurct.stats._common import normal_quantile
from recurct.stats._curve import Block, CurveResult, _per_stratum, event_table
from recurct.stats._followup import DAYS_PER_YEAR, check_entry, risk_set

__all__ = ["CumulativeIncidence", "aalen_johansen", "cumulative_incidence"]


def aalen_johansen(
    time: Any, event: Any, entry: Any = None, cause: int = 1
) -> dict[str, np.ndarray]:
    """Aalen-Johansen cumulative incidence of ``cause`` with its variance.

    Parameters
    ----------
    time : array of float
        Time of the event or censoring.
    event : array of int
        0 censored, any other value the kind of event (``cause`` is the one of interest).
    entry : array of float, optional
        Delayed entry: at risk in ``(entry, time]`` (``-inf``: from the start); None: all.
    cause : int, default 1
        The event of interest.

    Returns
    -------
    dict of arrays over the distinct event times (any kind)
        ``time``, ``n_at_risk``, ``n_events`` (of ``cause``), ``n_other`` (other kinds),
        ``cif``, ``var``, ``surv`` (Kaplan-Meier probability of no event of any kind).
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    entry = check_entry(time, entry)
    ev_any = event != 0
    utime, inv = np.unique(time, return_inverse=True)
    d_all = np.bincount(inv, weights=ev_any.astype(np.float64), minlength=utime.size)
    d1 = np.bincount(inv, weights=(event == cause).astype(np.float64), minlength=utime.size)
    keep = d_all > 0
    utime, d_all, d1 = utime[keep], d_all[keep], d1[keep]
    n = risk_set(time, utime, entry)
    surv = np.cumprod(1.0 - d_all / n)
    lag = np.concatenate([[1.0], surv[:-1]])
    cif = np.cumsum(lag * d1 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        # where everyone at risk has an event (n == d) S drops to 0 and F stays at F(t_i)
        # ever after, so the term's weight (F(t) - F(t_i))^2 is exactly 0: it adds nothing
        # (lifelines multiplies 0 by inf and gives NaN from there on)
        a = np.where(n > d_all, d_all / (n * np.maximum(n - d_all, 1.0)), 0.0)
        b = lag**2 * d1 * (n - d1) / n**3
        c = lag * d1 / n**2
        # sum (F - F_i)^2 a_i = F^2 sum a - 2 F sum a F_i + sum a F_i^2, likewise for c
        ca, caf, caf2 = np.cumsum(a), np.cumsum(a * cif), np.cumsum(a * cif**2)
        cc, ccf = np.cumsum(c), np.cumsum(c * cif)
        var = cif**2 * ca - 2 * cif * caf + caf2 + np.cumsum(b) - 2 * (cif * cc - ccf)
    var = np.where(np.isfinite(var), np.maximum(var, 0.0), np.nan)
    return {
        "time": utime,
        "n_at_risk": n,
        "n_events": d1,
        "n_other": d_all - d1,
        "cif": cif,
        "var": var,
        "surv": surv,
    }


def _ci(f: np.ndarray, var: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval of a cumulative incidence on ``log(-log F)``."""
    z = normal_quantile(1 - alpha / 2)
    lo = np.full(f.shape, np.nan)
    hi = np.full(f.shape, np.nan)
    inner = (f > 0) & (f < 1) & np.isfinite(var)
    fi = f[inner]
    se_t = np.sqrt(var[inner]) / (fi * np.abs(np.log(fi)))
    a = np.exp(-np.exp(np.log(-np.log(fi)) + z * se_t))
    b = np.exp(-np.exp(np.log(-np.log(fi)) - z * se_t))
    lo[inner], hi[inner] = np.minimum(a, b), np.maximum(a, b)
    zero = f == 0
    lo[zero] = hi[zero] = 0.0
    one = f >= 1.0  # everyone reached T: the interval collapses, as Kaplan-Meier's at S = 0
    lo[one] = hi[one] = 1.0
    return lo, hi


@dataclass(frozen=True, eq=False, repr=False)
class CumulativeIncidence(CurveResult):
    """Result of :func:`cumulative_incidence`: Aalen-Johansen curves that keep their settings.

    Attributes
    ----------
    curve : DataFrame
        The full step curves: the ``by`` columns, ``time_years``, ``time_days``,
        ``n_at_risk``, ``n_events`` (reaching T at that time), ``n_competing`` (deaths),
        ``prob_reached`` (the CIF), ``se``, ``prob_reached_lo``, ``prob_reached_hi``,
        ``prob_died`` (CIF of the competing event).
    events : DataFrame
        One row per contributing patient: ``patient_id`` (where given), the ``by`` columns,
        ``time_days``, ``time_years``, ``event`` (0 censored, 1 reached T, 2 died),
        ``entry_days``.
    threshold, by, end, entry, alpha, n_prevalent, n_not_at_risk
        See :class:`recurct.stats._curve.CurveResult`.
    death : str or None
        The column of death dates.

    Methods
    -------
    at(years)
        The curves read at ``years`` (events counted up to each time). After the last
        observed time of a stratum the estimates are carried where every patient at risk
        reached T or died (the curves are settled), else null; null everywhere in a stratum
        with no patient observed (see :meth:`CurveResult.at`).
    plot()
        The curve of reaching T (:func:`recurct.plot.time_to_threshold_curve`).
    """

    death: str | None = None

    def _read_at(self, tt: np.ndarray, ee: np.ndarray, en: np.ndarray, days: np.ndarray) -> Block:
        aj = aalen_johansen(tt, ee, en)
        died = aalen_johansen(tt, ee, en, cause=2)["cif"]
        return _read_at(aj, died, tt, ee, en, days, self.alpha)


@renamed(at="use cumulative_incidence(...).at(years)")
def cumulative_incidence(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    death: str | None = None,
    end: Any = None,
    entry: Any = None,
    alpha: float = 0.05,
) -> CumulativeIncidence:
    """Probability of having reached CED >= ``threshold`` by t years, death competing.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table of :func:`recurct.cumulative_dose` (``first_exam``, ``reached_T``,
        ``days_to_T``, ``last_exam`` for the default ``end``), plus the ``death`` column.
    threshold : float, default 100
        T in mSv, one.
    by : str or sequence of str, optional
        Strata (e.g. ``"sex"``); an ``"all"`` curve comes first.
    death : str, optional
        Column of death (or other competing exit) dates, null while alive. A death on or
        before the end of observation (and before T was reached) is a competing event; a
        death on the day T is reached counts as reaching T (T came first). T reached after
        the death date is an error (``DataError`` naming the rows: a wrong death date or
        exams linked to the wrong patient). Without it the estimate equals the Kaplan-Meier
        one of :func:`time_to_threshold` (the intervals differ: see the module docstring).
    end : None, date, ISO date str, column name or mapping
        End of observation (see :func:`recurct.stats.observation_end`); the study end, not
        the death date.
    entry : None, date, ISO date str, column name or mapping
        Delayed entry (left truncation), as in :func:`recurct.stats.time_to_threshold`.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    CumulativeIncidence
        ``.curve``, ``.at(years)``, ``.events``, ``.plot()`` and the settings (see
        :class:`CumulativeIncidence`); tables are pandas if ``patients`` was pandas.
    """
    fn = "cumulative_incidence"
    alpha = _checks.alpha(alpha, fn)
    events, by_cols, t, n_prev, n_not, kind, strata = event_table(
        patients, threshold, by, end=end, entry=entry, death=death, fn=fn
    )

    def read(tt: np.ndarray, ee: np.ndarray, en: np.ndarray) -> Block:
        aj = aalen_johansen(tt, ee, en)
        died = aalen_johansen(tt, ee, en, cause=2)["cif"]
        return _curve_table(aj, died, en, alpha)

    curve = _per_stratum(events, by_cols, read, strata)
    return CumulativeIncidence(
        curve=from_polars(curve, kind),
        events=from_polars(events, kind),
        threshold=t,
        by=tuple(by_cols),
        end=end,
        entry=entry,
        alpha=alpha,
        n_prevalent=n_prev,
        n_not_at_risk=n_not,
        death=death,
    )


def _curve_table(
    aj: dict[str, np.ndarray], died: np.ndarray, en: np.ndarray, alpha: float
) -> Block:
    time, cif, var = aj["time"], aj["cif"], aj["var"]
    n0 = float(np.sum(en < 0))
    if time.size == 0 or time[0] > 0:
        time = np.concatenate([[0.0], time])
        cif = np.concatenate([[0.0], cif])
        var = np.concatenate([[0.0], var])
        died = np.concatenate([[0.0], died])
        n_risk = np.concatenate([[n0], aj["n_at_risk"]])
        d1 = np.concatenate([[0.0], aj["n_events"]])
        d2 = np.concatenate([[0.0], aj["n_other"]])
    else:
        n_risk, d1, d2 = aj["n_at_risk"], aj["n_events"], aj["n_other"]
    lo, hi = _ci(cif, var, alpha)
    # no patient observed (all left out: prevalent at entry, or not at risk): no estimate;
    # patients who all enter late with no event are observed: F = 0 (n0 is then 0)
    if en.size == 0:
        cif, var, lo, hi, died = (np.full_like(a, np.nan) for a in (cif, var, lo, hi, died))
    return {
        "time_years": time / DAYS_PER_YEAR,
        "time_days": time.astype(np.int64),
        "n_at_risk": n_risk.astype(np.int64),
        "n_events": d1.astype(np.int64),
        "n_competing": d2.astype(np.int64),
        "prob_reached": cif,
        "se": np.sqrt(var),
        "prob_reached_lo": lo,
        "prob_reached_hi": hi,
        "prob_died": died,
    }


def _read_at(
    aj: dict[str, np.ndarray],
    died: np.ndarray,
    tt: np.ndarray,
    ee: np.ndarray,
    en: np.ndarray,
    at_days: np.ndarray,
    alpha: float,
) -> Block:
    time, cif, var = aj["time"], aj["cif"], aj["var"]
    idx = np.searchsorted(time, at_days, side="right") - 1
    ok = idx >= 0
    j = np.maximum(idx, 0)

    def pick(a: np.ndarray) -> np.ndarray:
        return np.where(ok, a[j], 0.0) if a.size else np.zeros(at_days.size)

    f, v, fd = pick(cif), pick(var), pick(died)
    lo, hi = _ci(f, v, alpha)
    # undefined after the last time observed, unless the curves are settled there (everyone
    # at risk reached T or died: all-cause S = 0), and everywhere when no patient is observed
    settled = aj["surv"].size > 0 and aj["surv"][-1] <= 0
    last = np.inf if settled else (tt.max() if tt.size else -np.inf)
    nan = np.where(at_days > last, np.nan, 1.0)
    return {
        "n_at_risk": risk_set(tt, at_days, en).astype(np.int64),
        "n_events": np.array([((ee == 1) & (tt <= a)).sum() for a in at_days], np.int64),
        "n_competing": np.array([((ee == 2) & (tt <= a)).sum() for a in at_days], np.int64),
        "prob_reached": f * nan,
        "se": np.sqrt(v) * nan,
        "prob_reached_lo": lo * nan,
        "prob_reached_hi": hi * nan,
        "prob_died": fd * nan,
    }
