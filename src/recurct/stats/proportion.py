"""Confidence intervals for proportions (shares of patients), vectorised.

The intervals are those of :func:`statsmodels.stats.proportion.proportion_confint`, to which
this module delegates; it only adds input checks, broadcasting, method aliases, and a guard for
empty groups (``nobs == 0`` gives NaN bounds instead of a division warning). This is the one CI
of a share in :mod:`recurct.stats` (magnitude, dose bands, site tables, standardisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recurct import _checks
from recurct._compat import renamed
from recurct.errors import ParameterError

__all__ = ["CI_ALIASES", "CI_METHODS", "ci_method", "proportion_ci"]

CI_METHODS: tuple[str, ...] = ("wilson", "beta", "agresti_coull", "normal", "jeffreys")
"""Supported interval methods (names as in statsmodels)."""

CI_ALIASES: dict[str, str] = {
    **{m: m for m in CI_METHODS},
    "clopper-pearson": "beta",
    "clopper_pearson": "beta",
    "exact": "beta",
    "agresti-coull": "agresti_coull",
    "wald": "normal",
}
"""Accepted spellings (case-insensitive) -> statsmodels method name."""


def ci_method(method: str) -> str:
    """The statsmodels name of a CI method or alias (``"clopper-pearson"`` -> ``"beta"``).

    Raises :class:`recurct.errors.ParameterError` (a ``ValueError``) naming the accepted
    spellings for an unknown one.
    """
    key = method.lower() if isinstance(method, str) else None  # (a list is unhashable)
    if key not in CI_ALIASES:
        raise ParameterError(f"unknown CI method {method!r}; use one of {', '.join(CI_ALIASES)}")
    return CI_ALIASES[key]


def _numbers(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of numbers; text, bytes and booleans (which NumPy would turn
    into 1.0 silently) raise ``ParameterError`` naming ``name``."""
    a = np.asarray(value)
    kind = a.dtype.kind
    if kind == "O":
        odd = [v for v in a.ravel() if isinstance(v, str | bytes | bool | np.bool_)]
    else:
        odd = a.ravel()[:1].tolist() if kind in "bUSMmcV" else []
    if odd:
        raise ParameterError(
            f"proportion_ci: count and nobs must be numbers (counts of patients), not text "
            f"or True/False; {name} holds {odd[0]!r:.40}"
        )
    return a


@renamed(method="ci")
def proportion_ci(
    count: Any,
    nobs: Any,
    alpha: float = 0.05,
    ci: str = "wilson",
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Two-sided confidence interval for a binomial proportion ``count / nobs``.

    Parameters
    ----------
    count, nobs : int or array_like of int
        Number of successes (e.g. patients with CED >= 100 mSv) and of trials (patients),
        whole numbers (a float such as ``3.0`` is accepted). Broadcast against each other
        (shapes that do not broadcast raise a ``ParameterError`` naming both).
    alpha : float, default 0.05
        ``1 - confidence level`` (0.05 gives a 95% interval).
    ci : str, default "wilson"
        The interval method: ``"wilson"`` (Wilson score, the default: good coverage also for
        small shares), ``"beta"`` (Clopper-Pearson exact; also ``"clopper-pearson"``, ``"exact"``),
        ``"agresti_coull"`` (also ``"agresti-coull"``), ``"normal"`` (Wald, also ``"wald"``;
        clipped to [0, 1] as in statsmodels), ``"jeffreys"`` (equal-tailed Beta(1/2, 1/2)
        posterior interval). Case-insensitive.

    Returns
    -------
    lo, hi : float or numpy.ndarray
        Lower and upper bounds, fractions in [0, 1]. Scalars when both inputs are scalars.
        Where ``nobs == 0`` the bounds are NaN. Where ``count == 0`` the lower bound is 0 and
        where ``count == nobs`` the upper bound is 1: this is what statsmodels gives for every
        method but Jeffreys, whose bounds there are set so, as Brown, Cai & DasGupta (2001,
        Stat Sci 16:101) recommend: the only difference from statsmodels.

    Raises
    ------
    ParameterError
        (a ``TypeError`` and a ``ValueError``) On an unknown method, ``alpha`` outside (0, 1),
        missing or negative counts, ``count > nobs``, a count or nobs that is not a whole
        number (``3.0`` is accepted, ``2.5`` is not), or one that is not a number at all
        (text such as ``"1"``, or ``True``/``False``).

    Examples
    --------
    >>> lo, hi = proportion_ci(3, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.1078, 0.6032)
    """
    sm_method = ci_method(ci)
    alpha = _checks.alpha(alpha, "proportion_ci")
    scalar = np.ndim(count) == 0 and np.ndim(nobs) == 0
    try:
        k = np.asarray(_numbers(count, "count"), dtype=np.float64)
        n = np.asarray(_numbers(nobs, "nobs"), dtype=np.float64)
    except ParameterError:
        raise
    except (TypeError, ValueError):
        raise ParameterError(
            f"proportion_ci: count and nobs must be numbers, got {count!r:.40} and {nobs!r:.40}"
        ) from None
    k, n = _checks.broadcast(k, n, "proportion_ci", ("count", "nobs"))
    if np.any(np.isnan(k)) or np.any(np.isnan(n)):
        raise ParameterError("count and nobs must not contain missing values")
    if np.any(k < 0) or np.any(n < 0):
        raise ParameterError("count and nobs must be >= 0")
    for name, a in (("count", k), ("nobs", n)):
        frac = ~np.isfinite(a) | (a != np.round(a))
        if np.any(frac):
            bad = int(np.flatnonzero(frac.ravel())[0])
            raise ParameterError(
                f"proportion_ci: {name} must be whole numbers (numbers of patients), got "
                f"{a.ravel()[bad]:g} at position {bad}"
            )
    if np.any(k > n):
        bad = int(np.flatnonzero((k > n).ravel())[0])
        raise ParameterError(
            f"count > nobs at position {bad} ({k.ravel()[bad]:g} > {n.ravel()[bad]:g})"
        )
    lo = np.full(k.shape, np.nan)
    hi = np.full(k.shape, np.nan)
    ok = n > 0
    if np.any(ok):
        from statsmodels.stats.proportion import proportion_confint  # slow import: on first use

        k_ok, n_ok = k[ok], n[ok]
        lo_ok, hi_ok = proportion_confint(k_ok, n_ok, alpha=float(alpha), method=sm_method)
        lo[ok] = np.where(k_ok == 0, 0.0, np.clip(lo_ok, 0.0, 1.0))
        hi[ok] = np.where(k_ok == n_ok, 1.0, np.clip(hi_ok, 0.0, 1.0))
    if scalar:
        return float(lo.reshape(())), float(hi.reshape(()))
    return lo, hi
