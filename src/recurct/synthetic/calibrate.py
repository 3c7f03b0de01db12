"""Fit free model parameters so that the analysed synthetic cohort matches published figures.

:func:`calibrate` minimises the sum of squared, tolerance-scaled differences between target
statistics (:func:`statistics`) and those of a generated cohort, over a chosen set of free
parameters, with :func:`scipy.optimize.least_squares` on parameters mapped to [0, 1] by their
bounds. Every evaluation uses the same seed (common random numbers: the generator's per-exam
random numbers are counter-based, so a small parameter change moves few exams and the
objective is smooth up to small steps). With ``seeds=[...]`` every evaluation is the mean of
the statistics over those seeds (the same seeds at every evaluation): the fit then matches
the model's expectation rather than one seed's noise; :mod:`recurct.studies.validate` checks
it on other seeds. Evaluations use a reduced cohort (a fraction of each
site: the first patients of the full cohort) and scale counts up; the fitted profile is then
generated at full scale and the achieved values are recorded with the targets, the seed and
the date in ``profiles/<name>.toml``.

Re-run a shipped calibration with ``python -m recurct.synthetic.calibrate rehani2020``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recurct.synthetic import _toml
from recurct.synthetic._cohort import generate
from recurct.synthetic.model import GROUPS, PROFILE_DIR, Profile, load_profile

__all__ = [
    "CALIBRATIONS",
    "CalibrationResult",
    "calibrate",
    "get_param",
    "patient_summary",
    "set_param",
    "statistics",
]

EULER_GAMMA = 0.5772156649015329
COUNT_STATISTICS = ("n_patients", "n_exams", "n_reached")
"""Statistics that scale with cohort size (multiplied up from a reduced cohort)."""


# --------------------------------------------------------------------------- statistics


def patient_summary(exams: Any, threshold: float = 100.0) -> pl.DataFrame:
    """Per-patient ``n_exams``, ``ced_msv``, ``reached``, ``days_to``, ``age_first_exam``,
    ``facility``, computed by :func:`recurct.cumulative_dose` (the library's engine).
    """
    from recurct._frames import param_label, to_polars

    df, _ = to_polars(exams)
    if df.height == 0:
        raise ValueError("the exam table is empty")
    from recurct.cumulative import cumulative_dose

    lab = param_label(threshold)
    # only the columns the statistics need: sex and indication would make cumulative_dose
    # compute per-patient modes (two group-bys over all exams) that nothing here reads
    need = ["patient_id", "exam_date", "effective_dose_msv", "age_years", "facility"]
    pat = cumulative_dose(df.select([c for c in need if c in df.columns]), thresholds=(threshold,))
    cols = [
        pl.col("patient_id"),
        pl.col("n_exams"),
        pl.col("ced_msv"),
        pl.col(f"reached_{lab}").alias("reached"),
        pl.col(f"days_to_{lab}").alias("days_to"),
    ]
    cols += [pl.col(c) for c in ("age_first_exam", "facility") if c in pat.columns]
    return pat.select(cols)


def expected_max(values: np.ndarray, fraction: float = 1.0, k: int = 50) -> float:
    """Expected maximum of the values in a cohort ``1 / fraction`` times as large.

    Fits an exponential tail to the ``k`` largest values (scale = mean excess over the k-th
    largest, ``x_k``): the full cohort has about ``k / fraction`` values above ``x_k``, whose
    maximum has expectation ``x_k + scale * (H_m)``, ``H_m ~ ln m + 0.5772``. Smoother than
    the sample maximum, and usable on a reduced cohort.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan")
    k = min(k, v.size)
    if k < 2:
        return float(v.max())
    # only the k largest matter: select them in O(n), sort just those (descending)
    v = np.sort(np.partition(v, v.size - k)[v.size - k :])[::-1]
    xk = v[k - 1]
    scale = float(np.mean(v[: k - 1] - xk))
    m = k / fraction
    return float(xk + scale * (math.log(m) + EULER_GAMMA))


def _wquantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    if x.size == 0:
        return float("nan")
    if np.all(w == w[0]):
        return float(np.quantile(x, q))
    o = np.argsort(x)
    cw = np.cumsum(w[o])
    return float(x[o][np.searchsorted(cw, q * cw[-1])])


def statistics(
    patients: pl.DataFrame,
    *,
    n_exams: int | None = None,
    age_cut: float = 50.0,
    fraction: float = 1.0,
) -> dict[str, float]:
    """Summary statistics of a patients table (from :func:`patient_summary`).

    Keys: ``n_patients``, ``n_exams``, ``n_reached``, ``share_reached`` (fraction),
    ``ced_median_reached``, ``ced_max_reached``, ``ced_max_reached_expected`` (see
    :func:`expected_max`), ``n_exams_max`` and ``ced_max`` (over all patients; sample
    maxima, not scaled) and their smooth full-scale estimates ``n_exams_max_expected`` and
    ``ced_max_expected``, ``share_exams_ge5``, ``share_exams_22_132``, ``share_ced_gt100``,
    ``share_ced_250_1375``; per facility (if present): ``site_share_age_le50_min`` / ``_max``
    (share aged <= ``age_cut`` at first exam among patients reaching the threshold),
    ``site_days_to_min_max`` (the largest, over sites, of each site's shortest time to the
    threshold), ``site_share_reached_min`` / ``_max`` / ``_mean`` (unweighted).

    A reduced cohort is scaled up by ``1 / fraction``, or by a ``weight`` column (patients
    each stand for ``weight`` patients: sites sampled at different fractions).
    """
    w = (
        patients["weight"].to_numpy()
        if "weight" in patients.columns
        else np.full(patients.height, 1.0 / fraction)
    )
    reached = patients["reached"].to_numpy()
    ced = patients["ced_msv"].to_numpy()
    nex = patients["n_exams"].to_numpy()
    hi = ced[reached]
    wsum = w.sum()
    sampled = float(patients.height / wsum)  # share of the full cohort in this table

    def share(mask: np.ndarray) -> float:
        return float(w[mask].sum() / wsum)

    out: dict[str, float] = {
        "n_patients": float(wsum),
        "n_exams": float((nex * w).sum()),
        "n_reached": float(w[reached].sum()),
        "share_reached": share(reached),
        "ced_median_reached": _wquantile(hi, w[reached], 0.5),
        "ced_max_reached": float(hi.max()) if hi.size else float("nan"),
        "ced_max_reached_expected": expected_max(hi, sampled),
        "n_exams_max": float(nex.max()),
        "n_exams_max_expected": expected_max(nex, sampled),
        "ced_max": float(ced.max()),
        "ced_max_expected": expected_max(ced, sampled),
        "share_exams_ge5": share(nex >= 5),
        "share_exams_22_132": share((nex >= 22) & (nex <= 132)),
        "share_ced_gt100": share(ced > 100),
        "share_ced_250_1375": share((ced >= 250) & (ced <= 1375)),
    }
    if n_exams is not None and "weight" not in patients.columns:
        out["n_exams"] = float(n_exams) / fraction
    if "facility" in patients.columns:
        agg = [
            pl.len().alias("n"),
            pl.col("reached").mean().alias("share"),
            pl.col("days_to").min().alias("dmin"),
        ]
        if "age_first_exam" in patients.columns:
            agg.append(
                (pl.col("age_first_exam") <= age_cut).filter(pl.col("reached")).mean().alias("age")
            )
        site = patients.group_by("facility").agg(agg)
        out["site_share_reached_min"] = float(site["share"].min())  # type: ignore[arg-type]
        out["site_share_reached_max"] = float(site["share"].max())  # type: ignore[arg-type]
        out["site_share_reached_mean"] = float(site["share"].mean())  # type: ignore[arg-type]
        dmin = site["dmin"]
        out["site_days_to_min_max"] = (
            float("inf") if dmin.null_count() else float(dmin.max())  # type: ignore[arg-type]
        )
        if "age" in site.columns:
            age = site["age"].drop_nulls()
            nan = float("nan")
            out["site_share_age_le50_min"] = float(age.min()) if age.len() else nan  # type: ignore[arg-type]
            out["site_share_age_le50_max"] = float(age.max()) if age.len() else nan  # type: ignore[arg-type]
    return out


def cohort_statistics(
    profile: str | Path | Profile,
    fraction: float | Mapping[str, float] = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """Generate a (reduced) cohort and return its :func:`statistics`, scaled to full size.

    ``fraction`` is the share of every site's patients to generate (the first ones of the
    full cohort), or ``{facility: fraction, "default": fraction}`` per site.
    """
    prof = load_profile(profile)
    fr = dict(fraction) if isinstance(fraction, Mapping) else {"default": float(fraction)}
    default = float(fr.pop("default", 1.0))
    sizes = {}
    weights = {}
    for s in prof.sites:
        f = float(fr.get(s["facility"], default))
        if not 0 < f <= 1:
            raise ValueError(f"fraction for {s['facility']!r} must be in (0, 1], got {f}")
        sizes[s["facility"]] = max(1, round(s["n_patients"] * f)) if s["n_patients"] else 0
        weights[s["facility"]] = (
            s["n_patients"] / sizes[s["facility"]] if sizes[s["facility"]] else 0.0
        )
    exams = generate(prof, n_patients=sizes, seed=seed)
    assert isinstance(exams, pl.DataFrame)
    pat = patient_summary(exams)
    pat = pat.with_columns(
        pl.col("facility").replace_strict(weights, return_dtype=pl.Float64).alias("weight")
    )
    return statistics(pat)


# --------------------------------------------------------------------------- parameters


def _site(profile: Profile, name: str) -> dict[str, Any]:
    for s in profile.sites:
        if s["facility"] == name:
            return s
    names = ", ".join(s["facility"] for s in profile.sites)
    raise ValueError(f"no site {name!r} in profile {profile.name!r} (sites: {names})")


def _locate(profile: Profile, path: str) -> tuple[Any, Any]:
    parts = path.split(".")
    if parts[0] == "sites":
        if len(parts) < 3:
            raise ValueError(f"site parameter {path!r} must read sites.<facility>.<field>")
        node: Any = _site(profile, parts[1])
        parts = parts[2:]
    else:
        node = profile.params
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict | list):
            raise ValueError(f"unknown parameter {path!r} (at {p!r})")
        node = node[p]
    if isinstance(node, list):  # an element of a list parameter: "...phase_mix.1"
        if not parts[-1].isdigit() or int(parts[-1]) >= len(node):
            raise ValueError(f"{path!r}: {parts[-1]!r} is not an index of a {len(node)}-list")
        return node, int(parts[-1])
    if parts[-1] not in node and not (path.startswith("sites.") and "group_share" in path):
        raise ValueError(f"unknown parameter {path!r}; see recurct.synthetic.describe()")
    return node, parts[-1]


def get_param(profile: Profile, path: str) -> Any:
    """Value of a parameter by dotted path: ``"frailty_cv"``,
    ``"groups.oncology.interval_mean_days"``, ``"sites.USA-1.age_shift"``, an element of a
    list parameter ``"groups.oncology.phase_mix.1"`` (the weight of 2 phases). A site's
    ``group_share.<group>`` that the site does not override is the group's base share."""
    node, key = _locate(profile, path)
    if isinstance(node, list):
        return node[key]
    if key not in node:  # sites.<facility>.group_share.<group>, not overridden
        if key not in profile.params["groups"]:
            raise ValueError(f"unknown group in {path!r}; groups are {', '.join(GROUPS)}")
        return profile.params["groups"][key]["share"]
    return node[key]


def set_param(profile: Profile, path: str, value: Any) -> None:
    """Set a parameter by dotted path (in place); see :func:`get_param`."""
    node, key = _locate(profile, path)
    node[key] = value


# --------------------------------------------------------------------------- fit


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
    write: bool | str | Path = True,
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
    name, write
        The fitted profile's name (default the starting one's); ``write=True`` writes
        ``profiles/<name>.toml``, a path writes there, ``False`` writes nothing.
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
    from scipy.optimize import least_squares

    start = load_profile(profile).copy()
    if name:
        start.name = name
    for stat in targets:
        if not any(k in targets[stat] for k in ("value", "min", "max")):
            raise ValueError(f"target {stat!r} needs a 'value' or a 'min'/'max'")
    paths = list(free_params)
    lo = np.array([float(free_params[p][0]) for p in paths])
    hi = np.array([float(free_params[p][1]) for p in paths])
    if np.any(hi <= lo):
        raise ValueError("every free parameter needs bounds (low, high) with low < high")
    if not power >= 1.0:
        raise ValueError(f"power must be >= 1, got {power}")

    def residuals(got: Mapping[str, float]) -> np.ndarray:
        r = _residuals(targets, got)
        return r if power == 1.0 else np.sign(r) * np.abs(r) ** power

    fit_seeds = [int(seed)] if seeds is None else [int(s) for s in seeds]
    if not fit_seeds:
        raise ValueError("seeds must hold at least one seed")

    def stats_over_seeds(prof: Profile, frac: float | Mapping[str, float]) -> dict[str, float]:
        runs = [cohort_statistics(prof, fraction=frac, seed=s) for s in fit_seeds]
        return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}

    x0 = np.clip((np.array([float(get_param(start, p)) for p in paths]) - lo) / (hi - lo), 0, 1)
    n_eval = 0
    t0 = time.perf_counter()
    cache: dict[bytes, dict[str, float]] = {}

    def apply(x: np.ndarray) -> Profile:
        prof = start.copy()
        for p, v in zip(paths, lo + np.clip(x, 0, 1) * (hi - lo)):
            set_param(prof, p, float(v))
        return prof

    best: dict[str, Any] = {"cost": math.inf, "x": x0}

    class _Budget(Exception):
        pass

    def evaluate(x: np.ndarray) -> dict[str, float]:
        nonlocal n_eval
        key = np.round(x, 12).tobytes()
        if key not in cache:
            if n_eval >= max_evaluations:
                raise _Budget
            n_eval += 1
            cache[key] = stats_over_seeds(apply(x), fraction)
            cost = float(np.sum(residuals(cache[key]) ** 2))
            if cost < best["cost"]:
                best.update(cost=cost, x=np.array(x, dtype=np.float64))
            if callback is not None:
                callback(n_eval, cache[key], cost)
        return cache[key]

    try:
        fit = least_squares(
            lambda x: residuals(evaluate(x)),
            x0,
            bounds=(0.0, 1.0),
            diff_step=diff_step,
            x_scale="jac",
            xtol=1e-4,
            ftol=1e-6,
        )
        message = str(fit.message)
    except _Budget:
        message = f"stopped after {max_evaluations} evaluations (the budget); best point kept"
    x_best = best["x"]
    fitted_prof = apply(x_best)
    fitted = {p: float(get_param(fitted_prof, p)) for p in paths}
    reduced = cache[np.round(x_best, 12).tobytes()]
    achieved = stats_over_seeds(fitted_prof, 1.0)
    for stat, k in (over_seeds or {}).items():
        vals = [achieved[stat]] + [
            cohort_statistics(fitted_prof, seed=seed + i)[stat] for i in range(1, k)
        ]
        achieved[f"{stat}_mean_over_seeds"] = float(np.mean(vals))
        achieved[f"{stat}_sd_over_seeds"] = float(np.std(vals, ddof=1)) if k > 1 else 0.0
    within = {s: _within(t, achieved[t.get("check", s)]) for s, t in targets.items()}
    seconds = time.perf_counter() - t0
    record = {
        "date": dt.date.today().isoformat(),
        "seed": fit_seeds[0],
        "fit_seeds": fit_seeds,
        "fraction": dict(fraction) if isinstance(fraction, Mapping) else fraction,
        "optimizer": "scipy.optimize.least_squares (trf, parameters mapped to [0, 1] by "
        f"their bounds, x_scale='jac', diff_step {diff_step}"
        + (f", residuals sign(r) |r|^{power:g}" if power != 1.0 else "")
        + ")",
        "n_evaluations": n_eval,
        "status": message,
        "cost_reduced": best["cost"],
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
    if write:
        path = PROFILE_DIR / f"{fitted_prof.name}.toml" if write is True else Path(write)
        write_profile(fitted_prof, path)
    return CalibrationResult(
        profile=fitted_prof,
        fitted=fitted,
        targets={s: dict(t) for s, t in targets.items()},
        achieved=achieved,
        achieved_reduced=reduced,
        within=within,
        n_evaluations=n_eval,
        seconds=seconds,
        path=path,
        record=record,
    )


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
        "records the fit\n(python -m recurct.synthetic.calibrate "
        f"{profile.name}). Parameter meanings: recurct.synthetic.describe()."
    )
    text = _toml.dumps(data, header=header, inline=("group_share",))
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped fits

_FRIJA = "Frija et al. 2021, Eur Radiol 31:5514-5523, doi 10.1007/s00330-021-07696-1 (EuroSafe Q5)"
_REHANI = "Rehani et al. 2020, Eur Radiol 30:1828-1836, doi 10.1007/s00330-019-06523-y"
_SODICKSON = "Sodickson et al. 2009, Radiology 251:175-184"


def _pub(study: str, key: str, per: float = 1.0) -> float | int:
    """The published value of figure ``key`` of ``study`` (``recurct.studies.<study>.
    PUBLISHED``, cited in docs/sources.md) divided by ``per`` (100 for a % as a fraction):
    the calibration targets and the studies' tables read each figure from one place."""
    import importlib

    value = float(importlib.import_module(f"recurct.studies.{study}").PUBLISHED[key].value)
    out = float(f"{value / per:.12g}")
    return int(out) if per == 1.0 and out.is_integer() else out


CALIBRATIONS: dict[str, dict[str, Any]] = {
    "rehani2020": {
        "targets": {
            "n_patients": {
                "value": _pub("rehani2020", "n_patients"),
                "atol": 0.5,
                "source": _REHANI,
                "fit": False,
            },
            "n_exams": {"value": _pub("rehani2020", "n_exams"), "rtol": 0.005, "source": _REHANI},
            "share_reached": {
                "value": _pub("rehani2020", "share_reached_100", 100),
                "atol": 0.0003,
                "source": _REHANI,
            },
            "ced_median_reached": {
                "value": _pub("rehani2020", "ced_median_100"),
                "atol": 2.6,
                "source": _REHANI + " (tolerance 2.6 mSv: 2%, as for the share)",
            },
            "ced_max_reached_expected": {
                "value": _pub("rehani2020", "ced_max"),
                "rtol": 0.15,
                "check": "ced_max_reached_mean_over_seeds",
                "source": _REHANI + " (an extreme value: matched in expectation over seeds)",
            },
            "site_share_age_le50_min": {
                "value": _pub("rehani2020", "share_age_le50_site_min", 100),
                "atol": 0.01,
                "source": _REHANI,
            },
            "site_share_age_le50_max": {
                "value": _pub("rehani2020", "share_age_le50_site_max", 100),
                "atol": 0.01,
                "source": _REHANI,
            },
            "site_days_to_min_max": {
                "max": _pub("rehani2020", "days_to_100_min_site_max"),
                "source": _REHANI + " (minimum time to 100 mSv: a single day at every site)",
                "fit": False,
            },
        },
        "free_params": {
            "groups.oncology.share": (0.05, 0.4),
            "groups.oncology.followup_mean_days": (150.0, 1500.0),
            "groups.oncology.followup_shape": (1.0, 6.0),
            "intensive_rate": (1.5, 8.0),
            "groups.chronic.p_recurrent": (0.1, 0.6),
            "frailty_cv": (0.1, 1.0),
            "sites.USA-2.age_shift": (-10.0, 10.0),
            "sites.Slovakia-1.age_shift": (-10.0, 10.0),
        },
        "notes": (
            "The oncology active imaging period is gamma-distributed with a fitted shape "
            "(about 2): with exponential periods (shape 1) the median CED among patients "
            ">= 100 mSv settled near 134 mSv against the published 130.3, because the "
            "exponential's many very long follow-ups made the CED tail above 100 mSv too "
            "heavy; a shape of about 2 (fewer very short and very long periods) meets the "
            "median, the share and the exam total together. History: this fit started from "
            "hand-set values (followup_shape 2, oncology follow-up 545 d, intensive_rate 4.5, "
            "chronic p_recurrent 0.15) near the previous fit; a fit from the previous values "
            "(shape 1) stopped at shape 1.04, a local minimum. "
            "The per-site sizes and periods are not published (chosen; see the profile). "
            "Site age shifts (USA-2, Slovakia-1) carry the published 13.4%-28% range of "
            "the share aged <= 50 among patients >= 100 mSv. The fit ran on seed 0; "
            "validated on seeds 1000-1099, the highest institution's share (Slovakia-1, about "
            "190 patients >= 100 mSv, sampling SD about 3 points) averaged 29.0%, not 28%: "
            "seed 0's noise. Slovakia-1's age shift was then set by hand from -3.73 to -2.95 "
            "years, from a scan over seeds 0-99 (the share changes by about 1.8 points a year: "
            "27.6% +- 0.3 at -2.75 years), so that the expectation is 28%; the other sites "
            "do not depend on it, and the other targets barely (only children's dose factors "
            "depend on age). Likewise the exam total: fitted at a 40% fraction on seed 0, its "
            "expectation at full scale was 4,841,740 (+0.46%, near the edge of its 0.5% "
            "tolerance); the share of 'other' patients re-imaged (groups.other.p_recurrent, "
            "an assumption of 0.10) was set to 0.086 from a scan over seeds 0-9 at full scale "
            "(-24,654 exams for -0.015; the share >= 100 mSv and its median unchanged), which "
            "centres the total on 4,819,661. fit_seeds 0-99 covers these steps."
        ),
        "options": {
            "fraction": {"default": 0.4, "Slovakia-1": 1.0},
            "over_seeds": {"ced_max_reached": 5},
        },
    },
    "eurosafe2021": {
        "targets": {
            "n_patients": {
                "value": _pub("eurosafe2021", "q5_n_patients"),
                "atol": 0.5,
                "source": _FRIJA,
                "fit": False,
            },
            "n_reached": {
                "value": _pub("eurosafe2021", "q5_n_high"),
                "rtol": 0.02,
                "source": _FRIJA,
            },
            "site_share_reached_max": {
                "value": _pub("eurosafe2021", "q5_share_site_max", 100),
                "atol": 0.001,
                "source": _FRIJA,
            },
            "site_share_reached_mean": {
                "value": _pub("eurosafe2021", "q5_share_mean", 100),
                "atol": 0.0003,
                "source": _FRIJA,
            },
            "site_share_reached_min": {
                "min": 0.0,
                "max": 0.0005,
                "atol": 0.0005,
                "source": _FRIJA + " (0%: read as below 0.05%)",
            },
        },
        "free_params": {
            "groups.oncology.share": (0.02, 0.3),
            "groups.oncology.interval_mean_days": (60.0, 360.0),
            "groups.oncology.followup_mean_days": (150.0, 1500.0),
            "sites.Italy-1.group_share.oncology": (0.05, 2.0),
            "sites.Turkey-3.group_share.oncology": (0.0, 0.2),
            "sites.Turkey-3.dose_scale": (0.3, 1.0),
            "sites.France-1.group_share.oncology": (0.005, 1.0),
            "sites.Germany-1.group_share.oncology": (0.005, 1.0),
        },
        "options": {"fraction": {"default": 0.5, "Italy-1": 1.0, "Turkey-3": 1.0}},
        "notes": (
            "All targets met at full scale in the mean over the fit seeds 0-4 (refitted from the "
            "earlier seed-0 fit with seeds=[0, 1, 2, 3, 4], 60 evaluations; the parameters moved "
            "by less than 2%). Model parameters: those of rehani2020 "
            "(gamma-shaped oncology follow-up included) when this profile was fitted, except "
            "the oncology share, restaging interval and follow-up, fitted here: European "
            "sites image fewer patients for cancer (about 7.9% against about 10%), less often "
            "(every 137 days against 60) and for longer (1131 days against 582). Site "
            "heterogeneity: Italy-1 is a cancer centre (oncology weight about 2: about 70% "
            "of its patients), France-1 and Germany-1 (the two largest sites) have a little "
            "more oncology than the base mix, which is what lets the mean of site shares "
            "equal the pooled share (0.5%) with a small site at 2.72%; Turkey-3 has almost no "
            "oncology and a lower dose level (dose_scale about 0.61): a site of 10,942 "
            "patients reaches the published 0% (below 0.05%) only with both, since acute, "
            "chronic and other patients alone reach 100 mSv at about 0.1% in four years. The "
            "site sizes are not published (chosen; see the profile). History: an earlier fit "
            "of the base oncology share alone put it at 1.9% of patients, not plausible; "
            "this fit started from the rehani2020 share and freed the restaging interval and "
            "follow-up instead; the last run started with Turkey-3's oncology weight set to "
            "0.02 by hand, after a run that stopped with it at 0.19 (min share 0.055%)."
        ),
    },
    "sodickson2009": {
        "targets": {
            "n_patients": {
                "value": _pub("sodickson2009", "n_patients"),
                "atol": 0.5,
                "source": _SODICKSON + " (31,462 adults scanned in 2007: exact by selection)",
                "fit": False,
            },
            "n_exams": {
                "value": _pub("sodickson2009", "n_exams"),
                "rtol": 0.01,
                "source": _SODICKSON + " (190,712 CT exams over the prior 22 years)",
            },
            "share_exams_ge5": {
                "value": _pub("sodickson2009", "share_exams_ge5", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (33% had >= 5 CTs; whole percent: +-0.5 points)",
            },
            "share_exams_22_132": {
                "value": _pub("sodickson2009", "share_exams_22_132", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (5% had 22 to 132 CTs; whole percent: +-0.5 points)",
            },
            "share_ced_gt100": {
                "value": _pub("sodickson2009", "share_ced_gt100", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (15% > 100 mSv; whole percent: +-0.5 points)",
            },
            "share_ced_250_1375": {
                "value": _pub("sodickson2009", "share_ced_250_1375", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (4% 250 to 1375 mSv; whole percent: +-0.5 points)",
            },
            "n_exams_max": {
                "value": _pub("sodickson2009", "max_exams"),
                "rtol": 0.1,
                "source": _SODICKSON
                + " (at most 132 CTs: a sample maximum; its mean over the fit seeds within 10%,"
                " so that 132 lies inside the model's central 95% range of the maximum)",
            },
            "ced_max": {
                "value": _pub("sodickson2009", "ced_max"),
                "rtol": 0.1,
                "source": _SODICKSON
                + " (at most 1375 mSv: a sample maximum; its mean over the fit seeds within"
                " 10%, so that 1375 lies inside the model's central 95% range of the maximum)",
            },
        },
        "free_params": {
            "groups.oncology.share": (0.05, 0.4),
            "groups.oncology.followup_mean_days": (150.0, 5000.0),
            "groups.chronic.p_recurrent": (0.1, 0.8),
            "groups.chronic.followup_mean_days": (365.0, 4000.0),
            "groups.chronic.interval_mean_days": (60.0, 365.0),
            "sites.Institution-1.dose_scale": (0.8, 2.0),
            "groups.oncology.interval_mean_days": (40.0, 180.0),
            "frailty_cv": (0.1, 1.0),
            "groups.other.p_recurrent": (0.02, 0.5),
            "groups.oncology.followup_shape": (1.0, 10.0),
            "groups.chronic.followup_shape": (1.0, 6.0),
            "frailty_max": (2.0, 10.0),
            "groups.oncology.late_interval_days": (300.0, 6000.0),
            "groups.chronic.late_interval_days": (300.0, 8000.0),
            "groups.other.late_interval_days": (500.0, 10000.0),
            "groups.acute.late_interval_days": (500.0, 10000.0),
            "groups.acute.p_recurrent": (0.02, 0.6),
            "groups.oncology.phase_mix.1": (0.05, 0.6),
            "sites.Institution-1.ct_growth": (0.0, 0.15),
        },
        "options": {
            "fraction": 1.0,
            "seeds": [0, 1, 2, 3, 4],
            "power": 3.0,
            "diff_step": 0.03,
        },
        "notes": (
            "Look-back design: entrants are simulated until 31,462 have a CT in 2007 at age >= "
            "18; their whole history is kept. The fit's objective is the mean of each "
            "statistic over seeds 0-4 (common random numbers), not one seed: the expectation "
            "of the model, validated on seeds 1000-1099 ([calibration.validation]). The "
            "maxima (132 CTs, 1375 mSv) are targets in expectation within 10%: with the "
            "previous fit (frailty_max 6.9) their means over seeds were 188 CTs and 1979 mSv "
            "and the published values lay below the central 95% of the model's maxima. The "
            "fix is a bounded tail of imaging intensity: frailty_max, fitted, fell to about "
            "3.6 (no patient is imaged more than 3.6 times as often as the group's mean), "
            "which leaves every share almost unchanged (the cap touches the few most intensely "
            "imaged patients) and puts 132 CTs and 1375 mSv inside the central 95% ranges. "
            "Not met: the 22-132 CT share is 5.65% in expectation, 0.15 points outside its "
            "calibration tolerance (5% +- 0.5) though within half the published unit plus "
            "that tolerance (4% to 6%), the rule of the comparison. The share needed two model "
            "features. (1) Late exams after the active period (late_interval_days, fitted for "
            "every group): without them a selected patient is caught at a uniformly random "
            "point of an active period, so counts are at least as dispersed as a uniform "
            "fraction of the period's total, and 33% >= 5 with 6.06 exams per patient forced "
            "about 6.1% >= 22 in every earlier fit; with them, a patient selected by a late "
            "exam brings a complete earlier history, and a large share of single-exam "
            "patients gains an earlier CT. (2) A higher share of 2-phase oncology exams "
            "(phase_mix.1, fitted), which decouples the dose shares from the count shares. "
            "A growth of CT use over 1986-2007 (ct_growth, fitted about 4% a year) is part of "
            "the model but alone does not change the shape of the count distribution. The fit "
            "uses residuals cubed (power 3, close to minimax). dose_scale is an assumption, "
            "fitted: the paper used typical effective doses per exam type of its time, not "
            "published in docs/sources.md, modelled as the UK 2022 DRL-based medians times "
            "this factor. History: this fit started from the previous one (fitted on seed 0 "
            "alone) with frailty_max set to 3.6 by hand; a re-run starts from the committed "
            "values."
        ),
    },
}
"""The shipped calibrations: targets (with their source), free parameters and options."""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recurct.synthetic.calibrate PROFILE [--seed S | --seeds A-B]
    [--max-evaluations N] [--fraction F] [--out PATH]``."""
    ap = argparse.ArgumentParser(prog="python -m recurct.synthetic.calibrate")
    ap.add_argument("profile", choices=sorted(CALIBRATIONS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--seeds",
        default=None,
        metavar="N | A-B | A,B,...",
        help="fit the mean over these seeds (common random numbers) instead of one seed",
    )
    ap.add_argument("--out", default=None, help="write the fitted profile here, not in place")
    ap.add_argument("--max-evaluations", type=int, default=200)
    ap.add_argument("--fraction", type=float, default=None)
    args = ap.parse_args(argv)
    spec = CALIBRATIONS[args.profile]
    opts = dict(spec["options"])
    if args.fraction is not None:
        opts["fraction"] = args.fraction

    def show(i: int, stats: dict[str, float], cost: float) -> None:
        keys = [k for k in spec["targets"] if k in stats]
        vals = ", ".join(f"{k}={stats[k]:.4g}" for k in keys)
        print(f"[{i:3d}] cost={cost:9.3f} {vals}", flush=True)

    from recurct.studies._base import parse_seeds

    res = calibrate(
        args.profile,
        spec["targets"],
        spec["free_params"],
        seed=args.seed,
        seeds=None if args.seeds is None else parse_seeds(args.seeds),
        write=True if args.out is None else args.out,
        max_evaluations=args.max_evaluations,
        callback=show,
        notes=spec.get("notes", ""),
        **opts,
    )
    print(f"fitted in {res.seconds:.0f} s, {res.n_evaluations} evaluations -> {res.path}")
    for p, v in res.fitted.items():
        print(f"  {p} = {v:.6g}")
    for s, t in res.targets.items():
        got = res.achieved[t.get("check", s)]
        ok = "ok " if res.within[s] else "OUT"
        print(f"  {ok} {s}: target {t.get('value', (t.get('min'), t.get('max')))}, got {got:.6g}")
    return 0 if all(res.within.values()) else 1


class _CallableModule(types.ModuleType):
    """``recurct.synthetic.calibrate`` is both this module and, called, :func:`calibrate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> CalibrationResult:
        return calibrate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
