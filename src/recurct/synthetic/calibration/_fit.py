"""The fit: free parameters of a profile against target statistics, and the profile written."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recurct._compat import renamed
from recurct.errors import ParameterError
from recurct.synthetic import _toml
from recurct.synthetic.calibration._params import get_param, set_param
from recurct.synthetic.calibration._statistics import cohort_statistics
from recurct.synthetic.model import Profile, load_profile

__all__ = ["CalibrationResult", "calibrate", "write_profile"]


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found: the fitted profile and the record written to its file."""

    profile: Profile
    fitted: dict[str, float]
    targets: dict[str, dict[str, Any]]
    achieved: dict[str, float]
    achieved_reduced: dict[str, float]
    within: dict[str, bool]
    n_evaluations: int
    seconds: float
    path: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)


def _scale(t: Mapping[str, Any]) -> float:
    if "atol" in t:
        return float(t["atol"])
    return float(t.get("rtol", 0.01)) * abs(float(t["value"]))


def _within(t: Mapping[str, Any], v: float) -> bool:
    if "max" in t and v > float(t["max"]):
        return False
    if "min" in t and v < float(t["min"]):
        return False
    if "value" in t:
        return bool(abs(v - float(t["value"])) <= _scale(t))
    return True


def _residuals(targets: Mapping[str, Mapping[str, Any]], got: Mapping[str, float]) -> np.ndarray:
    r = []
    for name, t in targets.items():
        if not t.get("fit", True):
            continue
        v = got[name]
        if not math.isfinite(v):
            r.append(1e3)
        elif "value" in t:
            r.append((v - float(t["value"])) / _scale(t))
        else:  # a range: zero inside
            lo, hi = float(t.get("min", -math.inf)), float(t.get("max", math.inf))
            width = _scale({"atol": t.get("atol", 1.0)})
            r.append(max(lo - v, 0.0, v - hi) / width)
    return np.asarray(r, dtype=np.float64)


@renamed(
    write="pass out= (the profile file to write; None, the default, writes nothing; "
    "recurct.synthetic.model.PROFILE_DIR / f'{name}.toml' is the shipped one)"
)
def calibrate(
    profile: str | Path | Profile,
    targets: Mapping[str, Mapping[str, Any]],
    free_params: Mapping[str, Sequence[float]],
    *,
    fraction: float | Mapping[str, float] = 0.2,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    max_evaluations: int = 200,
    over_seeds: Mapping[str, int] | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    notes: str = "",
    diff_step: float = 0.05,
    power: float = 1.0,
    callback: Callable[[int, dict[str, float], float], None] | None = None,
) -> CalibrationResult:
    """Fit ``free_params`` of ``profile`` so that its synthetic cohort matches ``targets``.

    Parameters
    ----------
    profile
        Starting profile (name, path or :class:`Profile`); its current values are the start.
    targets
        ``{statistic: {"value": v, "rtol": r | "atol": a, "source": "...", "fit": True}}``
        with statistics from :func:`statistics`; or ``{"min": a, "max": b}`` for a range.
        ``"fit": False`` records and checks a target without fitting it.
    free_params
        ``{dotted path: (low, high)}`` (see :func:`get_param`); fitted within the bounds.
    fraction
        Each evaluation generates this fraction of every site (counts are scaled up), or
        ``{facility: fraction, "default": fraction}`` (e.g. all of a small site whose own
        statistics are targets).
    seed
        The seed of every evaluation (common random numbers) and of the full-scale check.
    seeds
        Several seeds instead of one: each evaluation (and the full-scale check) is the mean
        of the statistics over these seeds, the same at every evaluation (common random
        numbers). Recorded as ``fit_seeds``; validate on other seeds.
    max_evaluations
        Budget of cohort generations for the optimiser.
    over_seeds
        ``{statistic: k}``: also report the mean of the statistic over seeds
        ``seed .. seed + k - 1`` at full scale (for extreme values matched in expectation),
        stored as ``<statistic>_mean_over_seeds``.
    name
        The fitted profile's name (default the starting one's).
    out
        Write the fitted profile (TOML, with its ``[calibration]`` record) to this file;
        None (the default) writes nothing. ``python -m recurct.synthetic.calibration``
        writes the shipped profile file.
    notes
        Text stored in the file's ``[calibration]`` section (e.g. what could not be met).
    diff_step
        Finite-difference step on the [0, 1] scale of each parameter: large enough to see
        through the small steps that a finite cohort makes of a smooth objective.
    power
        Each residual r (the miss in units of its tolerance) enters the least-squares sum as
        ``sign(r) |r| ** power``. 1 is ordinary least squares; larger values approach a
        minimax fit, in which the worst target dominates: the fit then prefers every target
        just inside its tolerance to a balanced compromise with one just outside.
    callback
        Called as ``callback(evaluation, statistics, cost)`` after each evaluation.

    Returns
    -------
    CalibrationResult
    """
    start = load_profile(profile).copy()
    if name:
        start.name = name
    paths, fit_seeds = _checked(targets, free_params, power, seed, seeds)
    objective = _Objective(start, targets, free_params, fit_seeds, fraction, power)
    objective.budget, objective.callback = max_evaluations, callback
    t0 = time.perf_counter()
    message = _minimise(objective, diff_step)
    fitted_prof = objective.apply(objective.best_x)
    fitted = {p: float(get_param(fitted_prof, p)) for p in paths}
    reduced = objective.statistics(objective.best_x)
    achieved = _full_scale(objective, fitted_prof, over_seeds or {}, seed)
    within = {s: _within(t, achieved[t.get("check", s)]) for s, t in targets.items()}
    seconds = time.perf_counter() - t0
    record = {
        "date": dt.date.today().isoformat(),
        "seed": fit_seeds[0],
        "fit_seeds": fit_seeds,
        "fraction": dict(fraction) if isinstance(fraction, Mapping) else fraction,
        "optimizer": _optimizer_text(diff_step, power),
        "n_evaluations": objective.n_eval,
        "status": message,
        "cost_reduced": objective.best_cost,
        "seconds": round(seconds, 1),
        "notes": notes,
        "free_params": {p: [float(free_params[p][0]), float(free_params[p][1])] for p in paths},
        "fitted": fitted,
        "targets": {s: dict(t) for s, t in targets.items()},
        "achieved": {s: _round(v) for s, v in achieved.items()},
        "achieved_reduced": {s: _round(v) for s, v in reduced.items()},
        "within_tolerance": within,
    }
    fitted_prof.calibration = record
    path: Path | None = None
    if out is not None:
        path = write_profile(fitted_prof, out)
    return CalibrationResult(
        profile=fitted_prof,
        fitted=fitted,
        targets={s: dict(t) for s, t in targets.items()},
        achieved=achieved,
        achieved_reduced=reduced,
        within=within,
        n_evaluations=objective.n_eval,
        seconds=seconds,
        path=path,
        record=record,
    )


def _minimise(objective: _Objective, diff_step: float) -> str:
    """Run the optimiser on ``objective`` (its best point is kept); its closing message."""
    from scipy.optimize import least_squares

    try:
        fit = least_squares(
            objective.residuals,
            objective.best_x,
            bounds=(0.0, 1.0),
            diff_step=diff_step,
            x_scale="jac",
            xtol=1e-4,
            ftol=1e-6,
        )
    except _Budget:
        return f"stopped after {objective.budget} evaluations (the budget); best point kept"
    return str(fit.message)


def _optimizer_text(diff_step: float, power: float) -> str:
    return (
        "scipy.optimize.least_squares (trf, parameters mapped to [0, 1] by "
        f"their bounds, x_scale='jac', diff_step {diff_step}"
        + (f", residuals sign(r) |r|^{power:g}" if power != 1.0 else "")
        + ")"
    )


def _checked(
    targets: Mapping[str, Mapping[str, Any]],
    free_params: Mapping[str, Sequence[float]],
    power: float,
    seed: int,
    seeds: Sequence[int] | None,
) -> tuple[list[str], list[int]]:
    """The free parameters' paths and the fit seeds; ValueError for a bad target or bound."""
    for stat in targets:
        if not any(k in targets[stat] for k in ("value", "min", "max")):
            raise ParameterError(f"target {stat!r} needs a 'value' or a 'min'/'max'")
    if any(float(hi) <= float(lo) for lo, hi in free_params.values()):
        raise ParameterError("every free parameter needs bounds (low, high) with low < high")
    if not power >= 1.0:
        raise ParameterError(f"power must be >= 1, got {power}")
    fit_seeds = [int(seed)] if seeds is None else [int(s) for s in seeds]
    if not fit_seeds:
        raise ParameterError("seeds must hold at least one seed")
    return list(free_params), fit_seeds


class _Budget(Exception):
    """The evaluation budget is spent (stops the optimiser; the best point is kept)."""


class _Objective:
    """The fit's objective on parameters mapped to [0, 1]: statistics of the cohort of each
    point (cached; the mean over the fit seeds), scaled residuals, and the best point seen."""

    def __init__(
        self,
        start: Profile,
        targets: Mapping[str, Mapping[str, Any]],
        free_params: Mapping[str, Sequence[float]],
        fit_seeds: list[int],
        fraction: float | Mapping[str, float],
        power: float,
    ) -> None:
        self.start, self.targets, self.fit_seeds = start, targets, fit_seeds
        self.fraction, self.power = fraction, power
        self.paths = list(free_params)
        self.lo = np.array([float(free_params[p][0]) for p in self.paths])
        self.hi = np.array([float(free_params[p][1]) for p in self.paths])
        x0 = np.array([float(get_param(start, p)) for p in self.paths])
        self.best_x = np.clip((x0 - self.lo) / (self.hi - self.lo), 0, 1)
        self.best_cost = math.inf
        self.n_eval = 0
        self.budget = 200
        self.callback: Callable[[int, dict[str, float], float], None] | None = None
        self._cache: dict[bytes, dict[str, float]] = {}

    def apply(self, x: np.ndarray) -> Profile:
        """The starting profile with the parameters of point ``x``."""
        prof = self.start.copy()
        for p, v in zip(self.paths, self.lo + np.clip(x, 0, 1) * (self.hi - self.lo)):
            set_param(prof, p, float(v))
        return prof

    def over_seeds(self, prof: Profile, fraction: float | Mapping[str, float]) -> dict[str, float]:
        """The mean of each statistic over the fit seeds."""
        runs = [cohort_statistics(prof, fraction=fraction, seed=s) for s in self.fit_seeds]
        return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}

    def scaled(self, got: Mapping[str, float]) -> np.ndarray:
        r = _residuals(self.targets, got)
        return r if self.power == 1.0 else np.sign(r) * np.abs(r) ** self.power

    def statistics(self, x: np.ndarray) -> dict[str, float]:
        """The statistics at ``x`` (reduced cohort), computed once per point."""
        key = np.round(x, 12).tobytes()
        if key not in self._cache:
            if self.n_eval >= self.budget:
                raise _Budget
            self.n_eval += 1
            got = self._cache[key] = self.over_seeds(self.apply(x), self.fraction)
            cost = float(np.sum(self.scaled(got) ** 2))
            if cost < self.best_cost:
                self.best_cost, self.best_x = cost, np.array(x, dtype=np.float64)
            if self.callback is not None:
                self.callback(self.n_eval, got, cost)
        return self._cache[key]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self.scaled(self.statistics(x))


def _full_scale(
    objective: _Objective, fitted: Profile, over_seeds: Mapping[str, int], seed: int
) -> dict[str, float]:
    """The statistics of the fitted profile at full scale, with the means over seeds asked."""
    achieved = objective.over_seeds(fitted, 1.0)
    for stat, k in over_seeds.items():
        vals = [achieved[stat]] + [
            cohort_statistics(fitted, seed=seed + i)[stat] for i in range(1, k)
        ]
        achieved[f"{stat}_mean_over_seeds"] = float(np.mean(vals))
        achieved[f"{stat}_sd_over_seeds"] = float(np.std(vals, ddof=1)) if k > 1 else 0.0
    return achieved


def _round(v: float) -> float:
    if not math.isfinite(v) or v == 0:
        return float(v)
    return float(f"{v:.10g}")


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write a profile (parameters, sites and calibration record) as TOML."""
    data: dict[str, Any] = {"name": profile.name, "description": profile.description}
    if profile.assumptions:
        data["assumptions"] = profile.assumptions
    data["params"] = profile.params
    data["sites"] = profile.sites
    if profile.selection is not None:
        data["selection"] = profile.selection
    if profile.calibration:
        data["calibration"] = profile.calibration
    header = (
        f"Synthetic cohort profile {profile.name!r} for recurct.synthetic (synthetic, not "
        "patient data).\nThe generator reads [params] and [[sites]] only; [calibration] "
        "records the fit\n(python -m recurct.synthetic.calibration "
        f"{profile.name}). Parameter meanings: recurct.synthetic.describe()."
    )
    text = _toml.dumps(data, header=header, inline=("group_share",))
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
