"""The statistics that calibration compares with published figures, from a cohort or a profile."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recurct.errors import DataError, ParameterError
from recurct.synthetic._cohort import generate
from recurct.synthetic.model import Profile, load_profile

__all__ = [
    "COUNT_STATISTICS",
    "cohort_statistics",
    "expected_max",
    "patient_summary",
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
        raise DataError("the exam table is empty")
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
    threshold, in days elapsed since the patient's first exam: 0 is the same day),
    ``site_share_reached_min`` / ``_max`` / ``_mean`` (unweighted).

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
            raise ParameterError(f"fraction for {s['facility']!r} must be in (0, 1], got {f}")
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
