"""Vectorised simulation of synthetic exam cohorts from a :class:`~.model.Profile`.

The public entry points are :func:`recurct.synthetic.generate` and
:func:`recurct.synthetic.write_cohort` (:mod:`recurct.synthetic._cohort`).

Randomness is organised so that a cohort depends only on ``(profile, seed)``:

* patients are simulated in fixed blocks of :data:`BLOCK` patients per site; block ``b`` of
  site ``s`` draws its patient-level numbers from ``np.random.Generator(PCG64(
  SeedSequence(seed, spawn_key=(s, b))))``, always a full block of each, so the first ``n``
  patients of a site are the same whatever ``n`` and however blocks are grouped into output
  chunks;
* per-exam numbers (intervals, regions, phases, DLP, same-day exams) are counter-based: a
  SplitMix64 hash of the block key (from the same SeedSequence), the patient, the exam number
  and a stream id. A patient's k-th exam therefore uses the same random numbers whatever the
  parameters, which gives calibration common random numbers (a smooth objective).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import gammaincinv

from recurct import _checks
from recurct._jit import njit
from recurct.errors import ParameterError
from recurct.synthetic.model import GROUPS, REGIONS, Profile, _check, _whole, load_profile

__all__ = ["BLOCK", "iter_chunks", "site_sizes", "sites"]

BLOCK = 1 << 16
"""Patients per random-number block (the unit of reproducibility)."""

_US_PER_DAY = 86_400 * 10**6
_EPOCH = dt.date(1970, 1, 1)
_SEX = ("F", "M")
# stream ids of the counter-based uniforms
_S_INTERVAL, _S_REGION, _S_PHASE, _S_DLP, _S_SAMEDAY, _S_SDREGION, _S_SDTIME, _S_TOD = range(8)
_S_LATE = 8

MAX_VISITS_PER_PATIENT = 1_000_000
"""A patient's history of more visits (an exam, or two the same day) than this stops the
simulation with a ParameterError: a defence in depth behind the profile's checks, so that no
history can grow without end (a walk whose time does not move forward ends here too)."""


def _cum(weights: list[list[float]]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    c[:, -1] = 1.0
    return c


class _Compiled:
    """Profile parameters as arrays indexed by group / region code."""

    def __init__(self, profile: Profile) -> None:
        _check(profile)  # a Profile given as is is checked too: no kernel runs on bad values
        p = profile.params
        gp = [p["groups"][g] for g in GROUPS]
        self.age_edges = np.asarray(p["age_edges"], dtype=np.float64)
        self.age_cum = _cum([g["age_mix"] for g in gp])
        self.region_cum = _cum([g["region_mix"] for g in gp])
        self.phase_cum = _cum([g["phase_mix"] for g in gp])
        self.p_female = np.array([g["p_female"] for g in gp])
        self.p_recurrent = np.array([g["p_recurrent"] for g in gp])
        self.followup = np.array([g["followup_mean_days"] for g in gp], dtype=np.float64)
        self.followup_shape = np.array([g["followup_shape"] for g in gp], dtype=np.float64)
        self.interval = np.array([g["interval_mean_days"] for g in gp], dtype=np.float64)
        self.shape = np.array([g["interval_shape"] for g in gp], dtype=np.float64)
        self.late = np.array([g["late_interval_days"] for g in gp], dtype=np.float64)
        self.p_same_day = np.array([g["p_same_day"] for g in gp])
        self.dlp_median = np.array([p["dlp_median"][r] for r in REGIONS], dtype=np.float64)
        self.dlp_sigma = np.array([p["dlp_sigma"][r] for r in REGIONS], dtype=np.float64)
        self.paed = float(p["paed_dlp_at_birth"])
        self.frail_max = float(p["frailty_max"])
        self.p_intensive = float(p["p_intensive"])
        self.intensive = float(p["intensive_rate"])
        cv = float(p["frailty_cv"])
        self.frailty_sigma = math.sqrt(math.log1p(cv * cv))
        self.kgrid = _k_grid(str(p["k_table"]), str(p["age_rule"]))
        base = np.array([p["groups"][g]["share"] for g in GROUPS], dtype=np.float64)
        self.group_cum = []
        for s in profile.sites:
            w = base.copy()
            for g, v in s["group_share"].items():
                if g not in GROUPS:
                    raise ParameterError(
                        f"site {s['facility']!r}: group_share has unknown group {g!r}; "
                        f"groups are {', '.join(GROUPS)}"
                    )
                w[GROUPS.index(g)] = float(v)
            self.group_cum.append(_cum([list(w)])[0])


#: Most patients a cohort may have (all sites together): a billion, far beyond any registry.
MAX_PATIENTS = 10**9

#: Most threads :func:`iter_chunks` (and generate, write_cohort) accept.
MAX_THREADS = 1024


def site_sizes(
    profile: str | Path | Profile, n_patients: int | Mapping[str, int] | None = None
) -> list[int]:
    """Patients per site: the profile's; ``n_patients`` (int) split in the same proportions
    (largest remainders); or ``{facility: n}`` for some sites (the others keep theirs).

    ``profile`` is a shipped name, a TOML path or a :class:`Profile`; the total must be at
    most ``MAX_PATIENTS`` (10**9).
    """
    profile = load_profile(profile)
    _check(profile)
    out = _site_sizes(profile, n_patients)
    if sum(out) > MAX_PATIENTS:
        raise ParameterError(
            f"n_patients: the cohort would have {sum(out):,} patients; at most "
            f"{MAX_PATIENTS:,} (10**9) are generated"
        )
    return out


def _site_sizes(profile: Profile, n_patients: int | Mapping[str, int] | None) -> list[int]:
    sizes = [int(s["n_patients"]) for s in profile.sites]
    if n_patients is None:
        return sizes
    if not isinstance(n_patients, Mapping) and not (
        isinstance(n_patients, int | np.integer | float | np.floating)
        and not isinstance(n_patients, bool | np.bool_)
        and math.isfinite(n_patients)
        and 0 <= n_patients <= MAX_PATIENTS
    ):
        raise ParameterError(
            "n_patients must be None, a whole number in 0.."
            f"{MAX_PATIENTS:,} (10**9) or a mapping {{facility: n}}, got {n_patients!r}"
        )
    if isinstance(n_patients, Mapping):
        names = [s["facility"] for s in profile.sites]
        unknown = set(n_patients) - set(names)
        if unknown:
            raise ParameterError(f"n_patients names unknown facilities {sorted(unknown)}: {names}")
        out = [
            _whole(n_patients[f], f"n_patients[{f!r}]") if f in n_patients else n
            for f, n in zip(names, sizes)
        ]
        return out
    n_patients = _whole(n_patients, "n_patients")
    total = sum(sizes)
    if total == 0:
        raise ParameterError(f"profile {profile.name!r} has no patients to scale")
    exact = [n_patients * s / total for s in sizes]
    out = [math.floor(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda i: out[i] - exact[i])
    for i in order[: n_patients - sum(out)]:
        out[i] += 1
    return out


_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xD1B54A32D192ED03)
_K3 = np.uint64(0x8CB92BA72F3D8DD7)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO53 = 1.0 / 9007199254740992.0


def _term(stream: int) -> np.uint64:
    """``uint64(stream) * _K3`` (wrapping), the stream's term of :func:`_hash_u`."""
    return np.uint64(stream * int(_K3) % 2**64)


# The hash's shifts and stream terms as module constants, which numba compiles as constants:
# written as calls (np.uint64(30), np.uint64(stream) * _K3, ...) in the 11 inlined hashes they
# made the generator's kernel take 0.2 s longer to compile (1.47 against 1.21-1.33 s for the
# first 200-patient cohort, same exams bit for bit).
_R30, _R27, _R31, _R11 = (np.uint64(k) for k in (30, 27, 31, 11))
_H_INTERVAL, _H_REGION, _H_PHASE, _H_DLP, _H_SAMEDAY, _H_SDREGION, _H_SDTIME, _H_TOD, _H_LATE = (
    _term(k)
    for k in (_S_INTERVAL, _S_REGION, _S_PHASE, _S_DLP, _S_SAMEDAY, _S_SDREGION, _S_SDTIME,
              _S_TOD, _S_LATE)
)  # fmt: skip
_H_INTERVAL2, _H_DLP2 = _term(_S_INTERVAL + 100), _term(_S_DLP + 100)  # Box-Muller's second


@njit(cache=True, inline="always")
def _hash_u(key: np.uint64, pk: np.uint64, c: np.int64, sk: np.uint64) -> float:
    """Uniform in (0, 1) from SplitMix64 of (key, patient, counter, stream), for
    ``pk = uint64(patient) * _K1`` and ``sk = uint64(stream) * _K3`` (:func:`_term`)."""
    x = pk ^ (np.uint64(c) * _K2 + key + sk)
    x ^= x >> _R30
    x *= _M1
    x ^= x >> _R27
    x *= _M2
    x ^= x >> _R31
    return (float(x >> _R11) + 0.5) * _TWO53


@njit(cache=True, inline="always")
def _hash_z(key: np.uint64, pk: np.uint64, c: np.int64, sk: np.uint64, sk2: np.uint64) -> float:
    """Standard normal (Box-Muller) from two counter-based uniforms (stream terms ``sk``,
    ``sk2``)."""
    u1 = _hash_u(key, pk, c, sk)
    u2 = _hash_u(key, pk, c, sk2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True, inline="always")
def _cat(cum: np.ndarray, row: np.int64, u: float) -> np.int64:
    k = 0
    while k < cum.shape[1] - 1 and u >= cum[row, k]:
        k += 1
    return k


@njit(cache=True, inline="always")
def _next_t(key, pk, r, g, t, interval, shape, frail):
    z = _hash_z(key, pk, r, _H_INTERVAL, _H_INTERVAL2)
    c = 1.0 / (9.0 * shape[g])
    w = max(1.0 - c + z * np.sqrt(c), 0.05)
    return t + interval[g] / frail * w * w * w


@njit(cache=True, inline="always")
def _calendar(t, e, g, a):
    """Calendar days since entry day ``e`` of operational time ``t`` after entry, for a growth
    rate ``g`` per day and ``a = g exp(g T)`` (rate 1 at day T, the period end): the inverse of
    the cumulative rate ``exp(-g T) expm1(g d) / g``; ``t`` itself when ``g`` is 0."""
    if g == 0.0:
        return t
    x = np.expm1(g * e) + a * t
    if x <= -1.0:  # a declining rate whose total is reached: no further exam
        return np.inf
    return max(np.log1p(x) / g - e, 0.0)  # >= 0: no rounding before the entry day


@njit(cache=True, inline="always")
def _operational(d, e, g, a):
    """Operational time from entry day ``e`` to ``d`` calendar days later (inverse of
    :func:`_calendar`); ``d`` itself when ``g`` is 0."""
    if g == 0.0:
        return d
    return np.exp(g * e) * np.expm1(g * d) / a


@njit(cache=True, inline="always")
def _advance(
    key, pk, r, g, t, phase, horizon, limit, e, g_day, a_day, interval, shape, late, frail
):
    """The patient's next exam (counter ``r``) after operational time ``t``: returns the new
    time, the phase (0 active, 1 late) and whether the history has ended. Active exams
    follow until calendar offset ``horizon``; then, if the group has late exams, exponential
    intervals of mean ``late[g] / frail`` from the end of the active period to ``limit``."""
    if phase == 0:
        if horizon >= 1.0:
            tn = _next_t(key, pk, r, g, t, interval, shape, frail)
            if np.floor(_calendar(tn, e, g_day, a_day)) <= horizon:
                return tn, 0, False
        if late[g] <= 0.0:
            return t, 0, True
        t = _operational(max(horizon, 0.0), e, g_day, a_day)
    tn = t - late[g] / frail * np.log(_hash_u(key, pk, r, _H_LATE))
    return tn, 1, np.floor(_calendar(tn, e, g_day, a_day)) > limit


@njit(cache=True, nogil=True)
def _exam_kernel(
    fill,
    key,
    group,
    frail,
    horizon,
    limit,
    entry,
    g_day,
    a_day,
    tod0,
    age0,
    interval,
    shape,
    late,
    p_same_day,
    region_cum,
    phase_cum,
    dlp_median,
    dlp_sigma,
    paed,
    dose_scale,
    kgrid,
    offsets,
    idx_out,
    day_out,
    hour_out,
    region_out,
    dlp_out,
    dose_out,
    age_out,
):
    """Walk each patient's exam history. ``fill`` False (the counting pass, the ``*_out``
    arrays unused): ``offsets[i + 1]`` = patient ``i``'s number of exams. ``fill`` True: the
    exams of patient ``i`` written at ``offsets[i]`` onwards. One kernel for both passes:
    one compilation (the random numbers are counter-based, so both passes see the same).
    Returns -1, or the first patient whose history passed :data:`MAX_VISITS_PER_PATIENT`
    visits (the walk then stops: the caller raises)."""
    n = group.size
    nk = kgrid.shape[1] - 1
    for i in range(n):
        g = group[i]
        pk = np.uint64(i) * _K1
        t = 0.0
        r = 0
        j = offsets[i] if fill else 0
        prev_day = -1
        prev_hour = 0.0
        phase = 0
        while True:
            extra = _hash_u(key, pk, r, _H_SAMEDAY) < p_same_day[g]
            if not fill:
                j += 2 if extra else 1
            else:
                day = entry[i] + np.int64(np.floor(_calendar(t, entry[i], g_day, a_day)))
                hour = tod0[i] if r == 0 else 7.0 + 15.0 * _hash_u(key, pk, r, _H_TOD)
                if day == prev_day:
                    hour = min(max(hour, prev_hour + 0.25), 23.99)
                reg = _cat(region_cum, g, _hash_u(key, pk, r, _H_REGION))
                for sub in range(2 if extra else 1):
                    if sub == 1:
                        reg2 = _cat(region_cum, g, _hash_u(key, pk, r, _H_SDREGION))
                        if reg2 == reg:
                            reg2 = (reg + 1) % region_cum.shape[1]
                        reg = reg2
                        hour = min(hour + 0.25 + 2.0 * _hash_u(key, pk, r, _H_SDTIME), 23.99)
                    cnt = 2 * r + sub
                    ph = 1 + _cat(phase_cum, g, _hash_u(key, pk, cnt, _H_PHASE))
                    z = _hash_z(key, pk, cnt, _H_DLP, _H_DLP2)
                    age = age0[i] + (day - entry[i]) / 365.25
                    size = paed + (1.0 - paed) * age / 18.0 if age < 18.0 else 1.0
                    dlp = dose_scale * size * ph * dlp_median[reg] * np.exp(dlp_sigma[reg] * z)
                    a = min(max(np.int64(np.floor(age)), 0), nk)
                    idx_out[j] = i
                    day_out[j] = day
                    hour_out[j] = hour
                    region_out[j] = reg
                    dlp_out[j] = dlp
                    dose_out[j] = kgrid[reg, a] * dlp
                    age_out[j] = age
                    j += 1
                prev_day = day
                prev_hour = hour
            r += 1
            if r > MAX_VISITS_PER_PATIENT:  # no progress, or absurd rates: never loop for ever
                return i
            t, phase, stop = _advance(
                key, pk, r, g, t, phase, horizon[i], limit[i], entry[i], g_day, a_day,
                interval, shape, late, frail[i],
            )  # fmt: skip
            if stop:
                break
        if not fill:
            offsets[i + 1] = j
    return -1


def _simulate_block(
    c: _Compiled, profile: Profile, s: int, b: int, n: int, seed: int, id0: int
) -> dict[str, np.ndarray]:
    """Exams of patients ``b*BLOCK .. b*BLOCK+n-1`` of site ``s`` as arrays (sorted)."""
    site = profile.sites[s]
    ss = np.random.SeedSequence(seed, spawn_key=(s, b))
    key = np.uint64(ss.generate_state(1, np.uint64)[0])
    rng = np.random.Generator(np.random.PCG64(ss))
    full = (rng.random((8, BLOCK)), rng.standard_normal(BLOCK), rng.standard_exponential(BLOCK))
    u, z_frail, e_dur = full[0][:, :n], full[1][:n], full[2][:n]

    group = (u[0][:, None] >= c.group_cum[s][None, :-1]).sum(axis=1).astype(np.int64)
    band = (u[1][:, None] >= c.age_cum[group][:, :-1]).sum(axis=1)
    lo, hi = c.age_edges[band], c.age_edges[band + 1]
    age0 = np.clip(lo + u[2] * (hi - lo) + float(site["age_shift"]), 0.0, 110.0)
    sex = (u[3] >= c.p_female[group]).astype(np.int8)
    frail = np.exp(c.frailty_sigma * z_frail - 0.5 * c.frailty_sigma**2)
    frail = np.minimum(np.where(u[7] < c.p_intensive, frail * c.intensive, frail), c.frail_max)
    recurrent = u[4] < c.p_recurrent[group]
    n_days = (site["period_end"] - site["period_start"]).days + 1
    g_day = float(site["ct_growth"]) / 365.25
    a_day = g_day * math.exp(g_day * (n_days - 1))
    if g_day == 0.0:
        entry = np.minimum((u[5] * n_days).astype(np.int64), n_days - 1)
    else:  # entry density proportional to exp(g_day * day) on [0, n_days)
        entry_t = np.log1p(u[5] * math.expm1(g_day * n_days)) / g_day
        entry = np.clip(entry_t.astype(np.int64), 0, n_days - 1)
    dur = _gamma_durations(e_dur, group, c.followup_shape)
    limit = (n_days - 1 - entry).astype(np.float64)
    horizon = np.where(recurrent, np.minimum(dur * c.followup[group], limit), -1.0)
    tod0 = 7.0 + 15.0 * u[6]  # hour of the first exam, 07:00-22:00

    params = (
        key, group, frail, horizon, limit, entry, g_day, a_day, tod0, age0, c.interval, c.shape,
        c.late, c.p_same_day,
        c.region_cum, c.phase_cum, c.dlp_median, c.dlp_sigma, c.paed, float(site["dose_scale"]),
        c.kgrid,
    )  # fmt: skip
    offsets = np.zeros(n + 1, np.int64)
    unused_i, unused_f = np.empty(0, np.int64), np.empty(0, np.float64)
    bad = _exam_kernel(
        False, *params, offsets, *(unused_i,) * 2, unused_f, unused_i, *(unused_f,) * 3
    )
    if bad >= 0:
        raise ParameterError(
            f"site {site['facility']!r}: a patient of group {GROUPS[group[bad]]!r} has more "
            f"than {MAX_VISITS_PER_PATIENT:,} visits: the profile's rates (interval_mean_days, "
            "late_interval_days, frailty_max, intensive_rate) are not plausible"
        )
    np.cumsum(offsets, out=offsets)
    m = int(offsets[-1])
    idx = np.empty(m, np.int64)
    day = np.empty(m, np.int64)
    hour = np.empty(m, np.float64)
    region = np.empty(m, np.int64)
    dlp = np.empty(m, np.float64)
    dose = np.empty(m, np.float64)
    age = np.empty(m, np.float64)
    _exam_kernel(True, *params, offsets, idx, day, hour, region, dlp, dose, age)
    start_us = (site["period_start"] - _EPOCH).days * _US_PER_DAY
    return {
        "patient_id": id0 + b * BLOCK + idx + 1,
        "exam_date": start_us + day * _US_PER_DAY + (hour * 3.6e9).astype(np.int64),
        "effective_dose_msv": dose,
        "dlp_mgycm": dlp,
        "region": region,
        "age_years": age,
        "sex": sex[idx],
        "group": group[idx],
    }


def _gamma_durations(e: np.ndarray, group: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Gamma(shape[group]) variates of mean 1 by inversion of the standard exponentials ``e``
    (the same uniform for every shape: common random numbers); shape 1 returns ``e``."""
    out = e.copy()
    u = -np.expm1(-e)  # the uniform behind e
    for g, k in enumerate(shape):
        if k != 1.0:
            m = group == g
            out[m] = gammaincinv(k, u[m]) / k
    return out


def _k_grid(table: str, age_rule: str) -> np.ndarray:
    """k(region, whole years 0..130): exact for nearest-lower with whole-year table ages."""
    from recurct.dose import k_factors

    if age_rule != "nearest-lower":
        raise ParameterError(
            f"the synthetic generator supports age_rule='nearest-lower' only, got {age_rule!r}"
        )
    ages = np.arange(131, dtype=np.float64)
    regions = np.repeat(np.asarray(REGIONS, dtype=object), ages.size)
    k = k_factors(list(regions), np.tile(ages, len(REGIONS)), table=table, age_rule=age_rule)
    return np.asarray(k, dtype=np.float64).reshape(len(REGIONS), ages.size)


def _labels(names: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    return pl.Series(list(names), dtype=pl.Utf8).gather(codes.astype(np.uint32))


def _frame(parts: list[dict[str, np.ndarray]], facility: str, c: _Compiled) -> pl.DataFrame:
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = cols["patient_id"].size
    return pl.DataFrame(
        {
            "patient_id": pl.Series(cols["patient_id"], dtype=pl.Int64),
            "exam_date": pl.Series(cols["exam_date"], dtype=pl.Int64).cast(pl.Datetime("us")),
            "effective_dose_msv": cols["effective_dose_msv"],
            "dlp_mgycm": cols["dlp_mgycm"],
            "body_region": _labels(REGIONS, cols["region"]),
            "age_years": cols["age_years"],
            "sex": _labels(_SEX, cols["sex"]),
            "facility": pl.repeat(facility, n, dtype=pl.Utf8, eager=True),
            "indication": _labels(GROUPS, cols["group"]),
        }
    )


def _select(
    part: dict[str, np.ndarray], sel: Mapping[str, Any], need: int, id0: int
) -> dict[str, np.ndarray]:
    """The exams of the first ``need`` patients of a simulated block who have an exam in the
    index window at an age >= ``min_age_at_exam``, renumbered from ``id0 + 1``."""
    lo = (sel["exam_from"] - _EPOCH).days * _US_PER_DAY
    hi = (sel["exam_to"] - _EPOCH).days * _US_PER_DAY + _US_PER_DAY
    t, pid = part["exam_date"], part["patient_id"]
    hit = (t >= lo) & (t < hi) & (part["age_years"] >= float(sel["min_age_at_exam"]))
    chosen = np.unique(pid[hit])[:need]
    keep = np.isin(pid, chosen)
    out = {k: v[keep] for k, v in part.items()}
    out["patient_id"] = id0 + 1 + np.searchsorted(chosen, out["patient_id"])
    return out


def _selected_chunks(
    c: _Compiled, prof: Profile, sizes: list[int], seed: int, chunk_patients: int
) -> Iterator[pl.DataFrame]:
    """Per site, simulate blocks of entrants (0, 1, 2, ...) until ``sizes[s]`` patients are
    selected by the profile's ``[selection]``; yield chunks of about ``chunk_patients``
    selected patients. The first ``n`` selected patients are the same whatever ``n``."""
    sel = prof.selection
    assert sel is not None
    id0 = 0
    for s, size in enumerate(sizes):
        site = prof.sites[s]
        if size and not (
            site["period_start"] <= sel["exam_to"] and sel["exam_from"] <= site["period_end"]
        ):
            raise ParameterError(
                f"site {site['facility']!r}: the selection window {sel['exam_from']} to "
                f"{sel['exam_to']} lies outside the site's period: no patient can be selected"
            )
        got, b, parts, in_chunk = 0, 0, [], 0
        while got < size:
            part = _select(
                _simulate_block(c, prof, s, b, BLOCK, seed, 0), sel, size - got, id0 + got
            )
            n_sel = int(np.unique(part["patient_id"]).size)
            if n_sel == 0 and b >= 15 and got == 0:
                raise ParameterError(
                    f"site {site['facility']!r}: no patient selected in {b + 1} blocks of "
                    f"{BLOCK} entrants; check the profile's [selection]"
                )
            got += n_sel
            in_chunk += n_sel
            b += 1
            if n_sel:
                parts.append(part)
            if parts and (in_chunk >= chunk_patients or got >= size):
                yield _frame(parts, site["facility"], c)
                parts, in_chunk = [], 0
        id0 += size


def _tasks(sizes: list[int], chunk_patients: int) -> list[tuple[int, list[tuple[int, int]], int]]:
    """Output chunks: (site, [(block, n)], first patient id of the site)."""
    per_chunk = max(1, chunk_patients // BLOCK)
    out = []
    id0 = 0
    for s, size in enumerate(sizes):
        blocks = [(b, min(BLOCK, size - b * BLOCK)) for b in range(-(-size // BLOCK))]
        for i in range(0, len(blocks), per_chunk):
            out.append((s, blocks[i : i + per_chunk], id0))
        id0 += size
    return out


def run_arguments(
    profile: Profile,
    n_patients: int | Mapping[str, int] | None,
    seed: Any,
    chunk_patients: Any,
    threads: Any,
    fn: str = "iter_chunks",
) -> tuple[list[int], int, int, int]:
    """The site sizes, seed, chunk size and threads of a run, checked (ParameterError)."""
    sizes = site_sizes(profile, n_patients)
    _checks.integer(seed, fn, "seed")
    chunk = _checks.whole(
        chunk_patients, fn, "chunk_patients", hi=MAX_PATIENTS, what=" of patients"
    )
    n_threads = _checks.whole(threads, fn, "threads", hi=MAX_THREADS)
    return sizes, int(seed), chunk, n_threads


def iter_chunks(
    profile: str | Path | Profile,
    n_patients: int | Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    chunk_patients: int = 1 << 20,
    threads: int = 1,
) -> Iterator[pl.DataFrame]:
    """Yield the cohort as exam tables of about ``chunk_patients`` patients each (one site each).

    Concatenated, the chunks equal :func:`generate`'s table whatever ``chunk_patients``. A
    profile with a ``[selection]`` is simulated block after block (``threads`` unused) until
    each site has its ``n_patients`` selected patients.
    """
    prof = load_profile(profile)
    sizes, seed, chunk_patients, threads = run_arguments(
        prof, n_patients, seed, chunk_patients, threads
    )
    c = _Compiled(prof)
    if prof.selection is not None:
        yield from _selected_chunks(c, prof, sizes, seed, chunk_patients)
        return

    def one(task: tuple[int, list[tuple[int, int]], int]) -> pl.DataFrame:
        s, blocks, id0 = task
        parts = [_simulate_block(c, prof, s, b, n, seed, id0) for b, n in blocks]
        return _frame(parts, prof.sites[s]["facility"], c)

    tasks = [t for t in _tasks(sizes, chunk_patients) if t[1]]
    if threads <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield one(t)
        return
    with ThreadPoolExecutor(threads) as pool:
        # at most `threads` chunks in flight: bounded memory
        pending = [pool.submit(one, t) for t in tasks[:threads]]
        nxt = threads
        while pending:
            df = pending.pop(0).result()
            if nxt < len(tasks):
                pending.append(pool.submit(one, tasks[nxt]))
                nxt += 1
            yield df


def sites(profile: str | Path | Profile) -> pl.DataFrame:
    """One row per facility: ``facility``, ``country``, ``academic``, ``period_start``,
    ``period_end`` (Date) and ``n_patients`` (the profile's site size)."""
    prof = load_profile(profile)
    return pl.DataFrame(
        {
            "facility": [s["facility"] for s in prof.sites],
            "country": [s["country"] for s in prof.sites],
            "academic": [bool(s["academic"]) for s in prof.sites],
            "period_start": [s["period_start"] for s in prof.sites],
            "period_end": [s["period_end"] for s in prof.sites],
            "n_patients": [int(s["n_patients"]) for s in prof.sites],
        },
        schema={
            "facility": pl.Utf8,
            "country": pl.Utf8,
            "academic": pl.Boolean,
            "period_start": pl.Date,
            "period_end": pl.Date,
            "n_patients": pl.Int64,
        },
    )
