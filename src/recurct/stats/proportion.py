"""Confidence intervals for proportions (shares of patients), vectorised.

The intervals are those of :func:`statsmodels.stats.proportion.proportion_confint`, to which
this module delegates; it only adds input checks, broadcasting, and a guard for empty groups
(``nobs == 0`` gives NaN bounds instead of a division warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CI_METHODS", "proportion_ci"]

#: Supported interval methods (names as in statsmodels).
CI_METHODS: tuple[str, ...] = ("wilson", "beta", "agresti_coull", "normal")


def proportion_ci(
    count: Any,
    nobs: Any,
    alpha: float = 0.05,
    method: str = "wilson",
) -> tuple[Any, Any]:
    """Two-sided confidence interval for a binomial proportion ``count / nobs``.

    Parameters
    ----------
    count, nobs : int or array_like of int
        Number of successes (e.g. patients with CED >= 100 mSv) and of trials (patients).
        Broadcast against each other.
    alpha : float, default 0.05
        ``1 - confidence level`` (0.05 gives a 95% interval).
    method : {"wilson", "beta", "agresti_coull", "normal"}
        ``"wilson"`` (Wilson score, the default: good coverage also for small shares),
        ``"beta"`` (Clopper-Pearson exact), ``"agresti_coull"``, ``"normal"`` (Wald; clipped
        to [0, 1] as in statsmodels).

    Returns
    -------
    lo, hi : float or numpy.ndarray
        Lower and upper bounds, fractions in [0, 1]. Scalars when both inputs are scalars.
        Where ``nobs == 0`` the bounds are NaN.

    Raises
    ------
    ValueError
        On an unknown method, ``alpha`` outside (0, 1), negative counts or ``count > nobs``.

    Examples
    --------
    >>> lo, hi = proportion_ci(3, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.1078, 0.6032)
    """
    if method not in CI_METHODS:
        raise ValueError(f"unknown CI method {method!r}; use one of {', '.join(CI_METHODS)}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    scalar = np.ndim(count) == 0 and np.ndim(nobs) == 0
    k = np.asarray(count, dtype=np.float64)
    n = np.asarray(nobs, dtype=np.float64)
    k, n = np.broadcast_arrays(k, n)
    if np.any(np.isnan(k)) or np.any(np.isnan(n)):
        raise ValueError("count and nobs must not contain missing values")
    if np.any(k < 0) or np.any(n < 0):
        raise ValueError("count and nobs must be >= 0")
    if np.any(k > n):
        bad = int(np.flatnonzero((k > n).ravel())[0])
        raise ValueError(
            f"count > nobs at position {bad} ({k.ravel()[bad]:g} > {n.ravel()[bad]:g})"
        )
    lo = np.full(k.shape, np.nan)
    hi = np.full(k.shape, np.nan)
    ok = n > 0
    if np.any(ok):
        from statsmodels.stats.proportion import proportion_confint  # slow import: on first use

        lo_ok, hi_ok = proportion_confint(k[ok], n[ok], alpha=float(alpha), method=method)
        lo[ok] = lo_ok
        hi[ok] = hi_ok
    if scalar:
        return float(lo.reshape(())), float(hi.reshape(()))
    return lo, hi
