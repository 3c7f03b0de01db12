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
jitters them at random); on untied data the two agree to rounding.

Time zero is the first exam in the data; see :func:`recurct.stats.time_to_threshold` for
``end`` and ``entry`` (left truncation, look-back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from recurct._frames import from_polars, to_polars
from recurct.stats.magnitude import by_list, check_nonempty, strata, thresholds_list
from recurct.stats.survival import DAYS_PER_YEAR, _check_entry, risk_set, survival_data

__all__ = ["aalen_johansen", "cumulative_incidence"]


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
        ``cif``, ``var`` (NaN once no one at risk is left without an event), ``surv``
        (Kaplan-Meier probability of no event of any kind).
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.int64)
    entry = _check_entry(time, entry)
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
        a = np.where(n > d_all, d_all / (n * (n - d_all)), np.inf)
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
    z = norm.ppf(1 - alpha / 2)
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
    return lo, hi


def cumulative_incidence(
    patients: Any,
    threshold: float = 100,
    by: str | Sequence[str] | None = None,
    *,
    death: str | None = None,
    end: Any = None,
    entry: Any = None,
    at: float | Sequence[float] | None = None,
    alpha: float = 0.05,
) -> Any:
    """Probability of having reached CED >= ``threshold`` by t years, death competing.

    Parameters
    ----------
    patients : polars, pandas or pyarrow table
        The patients table of :func:`recurct.cumulative_dose` (``first_exam``, ``reached_T``,
        ``days_to_T``, ``last_exam`` for the default ``end``), plus the ``death`` column.
    threshold : float, default 100
        T in mSv.
    by : str or sequence of str, optional
        Strata (e.g. ``"sex"``); an ``"all"`` curve comes first.
    death : str, optional
        Column of death (or other competing exit) dates, null while alive. A death on or
        before the end of observation (and before T was reached) is a competing event. Without
        it the estimate equals the Kaplan-Meier one of :func:`time_to_threshold`.
    end : None, date, str or mapping
        End of observation (see :func:`recurct.stats.observation_end`); the study end, not
        the death date.
    entry : None, str or date
        Delayed entry (left truncation), as in :func:`recurct.stats.time_to_threshold`.
    at : float or sequence of float, optional
        Years at which to read the curves; else the full step curves.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    polars.DataFrame (pandas if ``patients`` was pandas)
        The ``by`` columns, ``time_years``, (``time_days`` for full curves), ``n_at_risk``,
        ``n_events`` (reaching T at that time; with ``at``, up to it), ``n_competing``
        (deaths, likewise), ``prob_reached`` (Aalen-Johansen CIF), ``se``, ``lo``, ``hi``,
        ``prob_died`` (CIF of the competing event). With ``at``, null beyond the last
        observed time of a stratum.
    """
    df, kind = to_polars(patients)
    t = thresholds_list(threshold)
    if len(t) != 1:
        raise ValueError("cumulative_incidence takes one threshold; call it once per threshold")
    by_cols = by_list(by, df)
    check_nonempty(df)
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    at_years = None
    if at is not None:
        at_years = [float(a) for a in ([at] if np.ndim(at) == 0 else at)]
        if any(not math.isfinite(a) or a < 0 for a in at_years):
            raise ValueError(f"at: times must be finite and >= 0 years, got {at_years}")
    data = survival_data(df, t[0], end=end, entry=entry, death=death, func="cumulative_incidence")
    work = pl.DataFrame({"_t": data["time"], "_e": data["event"], "_in": data["entry"]})
    if by_cols:
        work = work.hstack(df.select(by_cols).filter(pl.Series(data["keep"])))
    blocks = []
    for key, part in strata(work, by_cols):
        tt, ee, en = part["_t"].to_numpy(), part["_e"].to_numpy(), part["_in"].to_numpy()
        aj = aalen_johansen(tt, ee, en)
        died = aalen_johansen(tt, ee, en, cause=2)["cif"]
        block = _table(aj, died, tt, ee, en, at_years, alpha)
        blocks.append(
            block.with_columns(*(pl.lit(v, dtype=pl.Utf8).alias(c) for c, v in zip(by_cols, key)))
        )
    out = pl.concat(blocks, how="vertical_relaxed")
    out = out.select(*by_cols, *[c for c in out.columns if c not in by_cols])
    return from_polars(out.with_columns(pl.col(pl.Float64).fill_nan(None)), kind)


def _table(
    aj: dict[str, np.ndarray],
    died: np.ndarray,
    tt: np.ndarray,
    ee: np.ndarray,
    en: np.ndarray,
    at_years: list[float] | None,
    alpha: float,
) -> pl.DataFrame:
    time, cif, var = aj["time"], aj["cif"], aj["var"]
    if at_years is None:
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
        return pl.DataFrame(
            {
                "time_years": time / DAYS_PER_YEAR,
                "time_days": time.astype(np.int64),
                "n_at_risk": n_risk.astype(np.int64),
                "n_events": d1.astype(np.int64),
                "n_competing": d2.astype(np.int64),
                "prob_reached": cif,
                "se": np.sqrt(var),
                "lo": lo,
                "hi": hi,
                "prob_died": died,
            }
        )
    at_days = np.asarray(at_years) * DAYS_PER_YEAR
    idx = np.searchsorted(time, at_days, side="right") - 1
    ok = idx >= 0
    j = np.maximum(idx, 0)

    def pick(a: np.ndarray) -> np.ndarray:
        return np.where(ok, a[j], 0.0) if a.size else np.zeros(at_days.size)

    f, v, fd = pick(cif), pick(var), pick(died)
    lo, hi = _ci(f, v, alpha)
    beyond = at_days > tt.max()
    nan = np.where(beyond, np.nan, 1.0)
    return pl.DataFrame(
        {
            "time_years": np.asarray(at_years, dtype=np.float64),
            "n_at_risk": risk_set(tt, at_days, en).astype(np.int64),
            "n_events": np.array([((ee == 1) & (tt <= a)).sum() for a in at_days], np.int64),
            "n_competing": np.array([((ee == 2) & (tt <= a)).sum() for a in at_days], np.int64),
            "prob_reached": f * nan,
            "se": np.sqrt(v) * nan,
            "lo": lo * nan,
            "hi": hi * nan,
            "prob_died": fd * nan,
        }
    )
