"""The binomial-normal random-intercept model of :func:`recurct.stats.meta_proportion`
(``model="glmm"``), fitted by maximum likelihood with adaptive Gauss-Hermite quadrature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

from recurct.errors import DataError, ParameterError

__all__ = ["glmm_proportion"]


_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(30)

#: Upper bound of the search for tau (the between-site SD on the logit scale).
_TAU_MAX = 20.0

#: Most steps of the search for a site's mode (3 to 5 are typical).
_MODE_MAXITER = 400


def _site_modes(mu: float, tau2: float, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The mode of ``h(eta) = x eta - n log(1 + e^eta) - (eta - mu)^2 / (2 tau^2)`` per site.

    ``h`` is strictly concave, so its derivative ``g`` is strictly decreasing and has one root,
    which lies in ``[mu - tau^2 (n - x), mu + tau^2 x]`` (there ``g >= 0`` and ``g <= 0``).
    Newton's method from the precision-weighted mean of ``mu`` and the site's own logit
    ``logit((x + 1/2) / (n + 1))`` (the mode if the binomial likelihood were normal on the
    logit scale), safeguarded by that bracket: a Newton step that leaves the bracket is
    replaced by bisection, and the bracket shrinks at every step, so the search cannot
    oscillate (an undamped Newton iteration from ``mu`` can). Raises ``DataError`` if it has
    not converged in :data:`_MODE_MAXITER` steps.
    """
    lo = mu - tau2 * (n - x)
    hi = mu + tau2 * x
    # start: the precision-weighted mean of mu and the site's own logit (the mode where the
    # binomial likelihood is normal on the logit scale): near mu for a small tau, near the
    # site's logit for a large one
    p0 = (x + 0.5) / (n + 1.0)
    info = n * p0 * (1.0 - p0)
    eta = np.clip((mu / tau2 + info * special.logit(p0)) / (1.0 / tau2 + info), lo, hi)
    for _ in range(_MODE_MAXITER):
        p = special.expit(eta)
        g = x - n * p - (eta - mu) / tau2
        lo = np.where(g > 0, eta, lo)
        hi = np.where(g < 0, eta, hi)
        newton = eta + g / (n * p * (1.0 - p) + 1.0 / tau2)
        inside = (newton >= lo) & (newton <= hi)  # (a converged step may land on eta)
        new = np.where(inside, newton, 0.5 * (lo + hi))
        new = np.where(g == 0, eta, new)
        step = np.abs(new - eta)
        eta = new
        if np.all(step <= 1e-12 * (1.0 + np.abs(eta))):
            return eta
    raise DataError(  # not seen in testing: every step shrinks the bracket
        f"glmm_proportion: the search for the sites' modes did not converge in "
        f"{_MODE_MAXITER} steps (mu = {mu:g}, tau^2 = {tau2:g}); the model cannot be fitted "
        "to these counts: use model='random'"
    )


def _glmm_site_loglik(mu: float, tau: float, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-site marginal log-likelihood (without the binomial coefficient), adaptive GH."""
    if tau <= 1e-10:
        eta = np.full(x.shape, mu)
        return x * eta - n * np.logaddexp(0.0, eta)
    tau2 = tau * tau
    eta = _site_modes(mu, tau2, x, n)
    p = special.expit(eta)
    sigma = 1.0 / np.sqrt(n * p * (1.0 - p) + 1.0 / tau2)
    nodes = eta[:, None] + np.sqrt(2.0) * sigma[:, None] * _GH_NODES[None, :]
    logf = (
        x[:, None] * nodes
        - n[:, None] * np.logaddexp(0.0, nodes)
        - (nodes - mu) ** 2 / (2.0 * tau2)
        + _GH_NODES[None, :] ** 2
    )
    m = logf.max(axis=1)
    s = np.log(np.sum(_GH_WEIGHTS[None, :] * np.exp(logf - m[:, None]), axis=1)) + m
    return s + np.log(np.sqrt(2.0) * sigma) - 0.5 * np.log(2.0 * np.pi * tau2)


def glmm_proportion(x: Any, n: Any) -> dict[str, float]:
    """Maximum-likelihood binomial-normal random-intercept model of site proportions.

    ``x_i ~ Binomial(n_i, expit(mu + b_i))``, ``b_i ~ N(0, tau^2)``; the likelihood integrates
    over ``b_i`` by adaptive Gauss-Hermite quadrature (30 nodes) and is maximised over
    ``(mu, tau >= 0)``.

    Parameters
    ----------
    x, n : array of int
        Events and patients per site (``0 <= x <= n``, ``n > 0``).

    Returns
    -------
    dict
        ``mu`` (pooled logit), ``se`` (its standard error from the observed information; at
        ``tau = 0`` that of the common-effect binomial model), ``tau2``, ``loglik`` (without
        the binomial coefficients).

    Raises
    ------
    DataError
        When no finite maximum likelihood estimate exists: no event at all (or every patient
        has one), or every site has 0 events or all (the likelihood then keeps rising as
        ``tau`` grows, the sites drifting to logits of -inf and +inf), or when the search
        for ``tau`` ends at its upper bound (``tau`` = 20 on the logit scale).
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    if x.size == 0 or np.any(n <= 0) or np.any(x < 0) or np.any(x > n):
        raise ParameterError("glmm_proportion: need 0 <= events <= patients and patients > 0")
    if x.sum() == 0 or x.sum() == n.sum():
        raise DataError(
            "glmm_proportion: no site has an event (or every patient has one); the pooled "
            "logit is not finite"
        )

    if np.all((x == 0) | (x == n)):
        raise DataError(
            "glmm_proportion: every site has either no event or all events "
            f"({int(np.sum(x == 0))} site(s) with none, {int(np.sum(x == n))} with all); the "
            "likelihood keeps rising as "
            "the between-site variance grows, so no finite maximum likelihood estimate exists: "
            "use model='random' (with its continuity correction)"
        )

    def nll(par: np.ndarray) -> float:
        return -float(np.sum(_glmm_site_loglik(par[0], par[1], x, n)))

    mu0 = float(special.logit(x.sum() / n.sum()))
    best = None
    for tau0 in (0.1, 0.5, 1.5):
        res = optimize.minimize(
            nll,
            np.array([mu0, tau0]),
            method="L-BFGS-B",
            bounds=[(None, None), (0.0, _TAU_MAX)],
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
        )
        if best is None or res.fun < best.fun:
            best = res
    mu, tau = float(best.x[0]), float(best.x[1])

    # polish: 1-D search in tau with mu profiled (L-BFGS-B can stop short near tau = 0)
    def prof(t: float) -> float:
        r = optimize.minimize_scalar(lambda m: nll(np.array([m, t])), bracket=(mu - 1, mu + 1))
        return float(r.fun)

    upper = max(2.0 * tau, 0.5)
    r1 = optimize.minimize_scalar(
        prof, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-10}
    )
    if r1.fun < best.fun:
        tau = float(r1.x)
        mu = float(
            optimize.minimize_scalar(lambda m: nll(np.array([m, tau])), bracket=(mu - 1, mu + 1)).x
        )
    if tau >= _TAU_MAX * (1.0 - 1e-6) or (upper >= _TAU_MAX and tau >= upper * (1.0 - 1e-6)):
        raise DataError(
            f"glmm_proportion: the between-site SD tau ended at the bound of its search "
            f"({tau:.3g} on the logit scale): the likelihood still rises there, so no finite "
            "maximum likelihood estimate was found (sites with 0 or all events dominate): "
            "use model='random'"
        )
    se = _glmm_se(nll, mu, tau, x, n)
    return {"mu": mu, "se": se, "tau2": tau * tau, "loglik": -nll(np.array([mu, tau]))}


def _glmm_se(nll: Any, mu: float, tau: float, x: np.ndarray, n: np.ndarray) -> float:
    """Standard error of mu: inverse observed information (finite differences)."""
    if tau <= 1e-6:
        p = special.expit(mu)
        return float(1.0 / np.sqrt(np.sum(n) * p * (1 - p)))
    h = np.array([1e-4 * max(1.0, abs(mu)), 1e-4 * max(1.0, tau)])
    if tau < 10.0 * h[1]:  # near the boundary tau = 0: the information of mu at that tau
        f0 = nll(np.array([mu, tau]))
        d2 = (nll(np.array([mu + h[0], tau])) - 2 * f0 + nll(np.array([mu - h[0], tau]))) / h[
            0
        ] ** 2
        return float(1.0 / np.sqrt(d2))
    hess = np.empty((2, 2))
    base = np.array([mu, tau])
    for i in range(2):
        for j in range(2):
            ei = np.eye(2)[i] * h[i]
            ej = np.eye(2)[j] * h[j]
            hess[i, j] = (
                nll(base + ei + ej)
                - nll(base + ei - ej)
                - nll(base - ei + ej)
                + nll(base - ei - ej)
            ) / (4.0 * h[i] * h[j])
    cov = np.linalg.inv(hess)
    return float(np.sqrt(cov[0, 0]))
