"""The generative model of a health system's CT use: parameters, defaults and profiles.

A *profile* is a set of sites (facilities with a study period) plus the model parameters
below. Every parameter has a default and a one-line rationale (:data:`PARAMETERS`,
:func:`describe`); a profile TOML file (``profiles/<name>.toml``) overrides some of them and
lists its sites. Its ``[calibration]`` section (targets, fitted values, achieved values) is a
record for people: the generator reads only ``[params]`` and ``[[sites]]``.

The model, per site:

* **patients** enter at a date uniform over the site's study period (or with a density
  growing as ``exp(ct_growth x years)``: a site's growth of CT use); each has a clinical
  group (oncology, chronic non-malignant, acute/trauma, other) drawn from the site's group
  mix, an age at entry from the group's age-band mix (uniform within a band, shifted by the
  site's ``age_shift``), a sex, and a personal imaging-intensity multiplier (lognormal, mean
  1, coefficient of variation ``frailty_cv``; times ``intensive_rate`` for a share
  ``p_intensive`` of intensively imaged patients; at most ``frailty_max``).
* **exam timing** is a renewal process: the first exam at entry; with probability
  ``p_recurrent`` the patient has an active imaging period (gamma-distributed, mean
  ``followup_mean_days``, shape ``followup_shape``: 1 is exponential, larger values give
  fewer very long periods) during which exams follow at gamma-distributed intervals (mean
  ``interval_mean_days`` divided by the personal multiplier, shape ``interval_shape``). The
  process is truncated at the site's period end, so exam counts depend on observation time.
  With a site's ``ct_growth`` g, the process runs in operational time: the exam rate at time
  t is the groups' rate times ``exp(g (t - period_end))`` (in years), so a long history has
  fewer exams in its early years.
  After the active period (at once for a patient without one), a group with
  ``late_interval_days`` > 0 has occasional late exams (exponential intervals of that mean
  divided by the personal multiplier) until the period end: survivorship or monitoring scans,
  so that a patient selected by a late exam brings a complete earlier history.
  Each visit adds, with probability ``p_same_day``, a second exam of another region the same
  day.
* **each exam** has a body region from the group's region mix, a number of phases (1, 2 or 3
  acquisitions, from ``phase_mix``), a DLP per phase that is lognormal per region (median
  ``dlp_median``, set from the UK national DRL read as the 75th percentile of the DLP
  distribution: the usual definition of a DRL, not a figure recurct uses; how each shipped
  median was set is in :data:`PARAMETERS`; log-sd ``dlp_sigma``) times the site's
  ``dose_scale``, and an effective dose
  ``k(region, age) x DLP`` from :func:`recurct.dose.k_factors` with the profile's ``k_table``.

A profile may also have a ``[selection]`` (:data:`SELECTION_FIELDS`): the cohort is then the
simulated patients with an exam in an index window (at an age of at least
``min_age_at_exam``), with their whole exam history in the site's period: a look-back design
(Sodickson et al. 2009). ``n_patients`` then counts *selected* patients: the generator
simulates entrants until that many are selected.

Provenance: every parameter has a ``source`` (:func:`describe`); all but the k factors and
the DRL values behind ``dlp_median`` are **modelling assumptions** (not published: chosen to
be plausible, or fitted to published marginals by :func:`recurct.synthetic.calibrate`). A
profile's ``[assumptions]`` table says which of its values are assumptions.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import itertools
import math
import numbers
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recurct._dates import as_date
from recurct.errors import InputNotFoundError, ParameterError

__all__ = [
    "GROUPS",
    "PARAMETERS",
    "REGIONS",
    "SELECTION_FIELDS",
    "TOP_LEVEL_KEYS",
    "Param",
    "Profile",
    "defaults",
    "describe",
    "load_profile",
    "profile_names",
]

PROFILE_DIR = Path(__file__).parent / "profiles"

GROUPS: tuple[str, ...] = ("oncology", "chronic", "acute", "other")
"""Clinical groups, written to the ``indication`` column."""

REGIONS: tuple[str, ...] = ("head", "chest", "abdomen_pelvis", "chest_abdomen_pelvis")
"""Body regions of the model: those with age-dependent factors in ``shrimpton_age``."""

AGE_EDGES: tuple[float, ...] = (0.0, 18.0, 40.0, 50.0, 60.0, 70.0, 80.0, 95.0)
"""Edges of the age bands of ``age_mix`` (years; uniform within a band)."""


ASSUMPTION = "assumption (not published)"
"""The ``source`` of a value that no publication gives: a modelling assumption."""


@dataclass(frozen=True)
class Param:
    """A model parameter: its default value, a one-line rationale and its source.

    ``source`` is the publication a value is taken from, or ``ASSUMPTION`` (the default):
    a modelling assumption, chosen to be plausible or fitted by calibration.
    """

    default: Any
    why: str
    source: str = ASSUMPTION


_UK_DRL = (
    "UK national DRLs, CT values adopted 2022 (gov.uk): DLP head (stroke) 790, chest (lung "
    "cancer) 290, abdomen-pelvis (abscess) 530, chest-abdomen-pelvis (cancer) 660 mGy·cm; "
    "the lognormal spread (dlp_sigma) that turns them into medians is an assumption"
)
_LEE = (
    "Shrimpton / AAPM 96 factors by age, Lee et al., Med Phys 2012 39:2129, Table XII "
    "(via recurct.dose.k_factors)"
)


def _group(
    share: float,
    age_mix: list[float],
    p_female: float,
    p_recurrent: float,
    followup_mean_days: float,
    followup_shape: float,
    interval_mean_days: float,
    interval_shape: float,
    region_mix: list[float],
    phase_mix: list[float],
    p_same_day: float,
    why: dict[str, str],
    late_interval_days: float = 0.0,
) -> dict[str, Param]:
    values = {
        "share": share,
        "age_mix": age_mix,
        "p_female": p_female,
        "p_recurrent": p_recurrent,
        "followup_mean_days": followup_mean_days,
        "followup_shape": followup_shape,
        "interval_mean_days": interval_mean_days,
        "interval_shape": interval_shape,
        "region_mix": region_mix,
        "phase_mix": phase_mix,
        "p_same_day": p_same_day,
        "late_interval_days": late_interval_days,
    }
    why = {
        "late_interval_days": "0: no exams after the active period (a profile may add "
        "occasional late exams: survivorship or disease-monitoring scans years later)",
        **why,
    }
    return {k: Param(v, why[k]) for k, v in values.items()}


# Every value below without a ``source`` is a modelling assumption (Param's default source):
# the group structure, rates, mixes and spreads are chosen to be plausible, and calibration
# fits some of them to published marginals. Only the k factors and the DRLs behind
# dlp_median come from a publication.
PARAMETERS: dict[str, Any] = {
    "k_table": Param("shrimpton_age", "age-dependent k (0, 1, 5, 10 y, adult) for 4 regions", _LEE),
    "age_rule": Param(
        "nearest-lower",
        "a child uses the factor of the last tabulated age (a choice, see recurct.dose)",
        "library choice (recurct.dose)",
    ),
    "frailty_cv": Param(
        0.3, "patients differ in how often they are imaged (disease course, referrer habits)"
    ),
    "p_intensive": Param(
        0.005,
        "a few patients are imaged far more often (complications, ICU stays, trial protocols)",
    ),
    "intensive_rate": Param(4.5, "how much more often an intensive patient is imaged"),
    "frailty_max": Param(
        8.0, "no patient is imaged more than this multiple of the group's mean rate"
    ),
    "age_edges": Param(list(AGE_EDGES), "bands of age_mix; 50 is a band edge (age <= 50 cut)"),
    "dlp_median": Param(
        {"head": 624.0, "chest": 213.0, "abdomen_pelvis": 390.0, "chest_abdomen_pelvis": 486.0},
        "per phase, mGy·cm, set from the UK DRL (head 790, chest 290, AP 530, CAP 660) read "
        "as the 75th percentile of a lognormal (an assumption, as is sigma): head 624 = 790 x "
        "exp(-0.674 x 0.35), rounded; chest, AP and CAP 213, 390, 486 = 290, 530, 660 x 0.736, "
        "rounded, as chosen in the model's first version (no derivation recorded), 0.3-0.5% "
        "below DRL x exp(-0.674 x 0.45) = 214.1, 391.3, 487.3; kept, since every calibration "
        "was fitted with them",
        _UK_DRL,
    ),
    "paed_dlp_at_birth": Param(
        0.25,
        "children get size-adapted protocols: DLP x (a + (1 - a) age/18) below 18 years",
    ),
    "dlp_sigma": Param(
        {"head": 0.35, "chest": 0.45, "abdomen_pelvis": 0.45, "chest_abdomen_pelvis": 0.45},
        "assumption: log-sd of DLP per phase, patient size and protocol spread within a region",
    ),
    "groups": {
        "oncology": _group(
            0.15,
            [0.01, 0.06, 0.09, 0.19, 0.29, 0.25, 0.11],
            0.50,
            0.85,
            400.0,
            1.0,
            60.0,
            2.0,
            [0.08, 0.30, 0.22, 0.40],
            [0.80, 0.15, 0.05],
            0.08,
            {
                "share": "patients imaged for cancer staging, treatment response or surveillance",
                "age_mix": "cancer incidence rises steeply after 50",
                "p_female": "roughly balanced over all cancer sites",
                "p_recurrent": "most are restaged and followed up",
                "followup_mean_days": "active treatment plus 1-3 years of surveillance imaging",
                "followup_shape": "1: exponential; above 1: fewer very short or very long periods",
                "interval_mean_days": "restaging every 2-4 months on treatment, less after",
                "interval_shape": "scheduled visits: more regular than Poisson",
                "region_mix": "staging is mostly chest-abdomen-pelvis or chest (head, AP, CAP)",
                "phase_mix": "liver and pancreas protocols use 2-3 phases",
                "p_same_day": "a separate head or chest scan on the staging day",
            },
        ),
        "chronic": _group(
            0.20,
            [0.04, 0.14, 0.12, 0.17, 0.22, 0.20, 0.11],
            0.52,
            0.25,
            700.0,
            1.0,
            180.0,
            1.0,
            [0.25, 0.35, 0.35, 0.05],
            [0.90, 0.08, 0.02],
            0.03,
            {
                "share": "chronic non-malignant disease (lung, bowel, kidney, vascular ...)",
                "age_mix": "middle-aged and elderly",
                "p_female": "slightly more women",
                "p_recurrent": "about half are re-imaged for flares or monitoring",
                "followup_mean_days": "episodes of disease activity over a few years",
                "followup_shape": "1: exponential, memoryless episodes of activity",
                "interval_mean_days": "occasional: about twice a year while active",
                "interval_shape": "unscheduled: Poisson-like",
                "region_mix": "chest and abdomen-pelvis, some head",
                "phase_mix": "mostly single phase; angiography protocols rarely",
                "p_same_day": "rare second region on the same day",
            },
        ),
        "acute": _group(
            0.37,
            [0.08, 0.30, 0.12, 0.13, 0.14, 0.13, 0.10],
            0.45,
            0.10,
            60.0,
            1.0,
            20.0,
            1.0,
            [0.45, 0.15, 0.30, 0.10],
            [0.85, 0.12, 0.03],
            0.15,
            {
                "share": "emergency department, trauma, acute abdomen, stroke",
                "age_mix": "young adults (trauma) and the elderly (falls, stroke)",
                "p_female": "more men in trauma",
                "p_recurrent": "mostly one exam; a few are re-imaged in the same admission",
                "followup_mean_days": "an admission and its immediate follow-up",
                "followup_shape": "1: exponential, memoryless admissions",
                "interval_mean_days": "re-imaging within days to weeks",
                "interval_shape": "unscheduled: Poisson-like",
                "region_mix": "head (trauma, stroke) and abdomen-pelvis dominate",
                "phase_mix": "CT angiography and trauma protocols add phases",
                "p_same_day": "polytrauma: head plus trunk as separate exams",
            },
        ),
        "other": _group(
            0.28,
            [0.06, 0.20, 0.12, 0.15, 0.18, 0.18, 0.11],
            0.52,
            0.10,
            365.0,
            1.0,
            120.0,
            1.0,
            [0.35, 0.30, 0.30, 0.05],
            [0.92, 0.07, 0.01],
            0.03,
            {
                "share": "elective outpatients and everything else",
                "age_mix": "broad adult mix",
                "p_female": "slightly more women",
                "p_recurrent": "a minority have a follow-up exam",
                "followup_mean_days": "one clinical question, settled within about a year",
                "followup_shape": "1: exponential, memoryless",
                "interval_mean_days": "a follow-up after a few months",
                "interval_shape": "unscheduled: Poisson-like",
                "region_mix": "head, chest and abdomen-pelvis",
                "phase_mix": "mostly single phase",
                "p_same_day": "rare second region on the same day",
            },
        ),
    },
}
"""Every model parameter: ``Param(default, rationale, source)``, nested as in a profile's
``[params]``; ``source`` is :data:`ASSUMPTION` unless a publication gives the value.

Lists follow :data:`REGIONS` (``region_mix``), the age bands of ``age_edges`` (``age_mix``)
and 1, 2, 3 phases (``phase_mix``)."""

SITE_FIELDS: dict[str, Param] = {
    "facility": Param("site", "name written to the facility column"),
    "country": Param("not stated", "country as published"),
    "academic": Param(False, "academic (teaching) hospital"),
    "period_start": Param(dt.date(2015, 1, 1), "first day of the study period"),
    "period_end": Param(dt.date(2018, 12, 31), "last day of the study period"),
    "n_patients": Param(
        10_000,
        "patients with at least one CT in the period (with a [selection]: selected patients)",
    ),
    "group_share": Param({}, "overrides of the groups' share at this site (case mix)"),
    "dose_scale": Param(1.0, "the site's DLP level relative to the UK DRL-based medians"),
    "age_shift": Param(
        0.0,
        "years added to every age: a younger or older catchment (any finite number; the ages "
        "are then clipped to [0, 110], so a negative shift puts some patients at age 0)",
    ),
    "ct_growth": Param(
        0.0,
        "growth rate of CT use per year (continuous: 0.1 is about +10.5%/year); entries and exam "
        "rates scale as exp(ct_growth x years), exam rates equal to the groups' at period_end",
    ),
}
"""Fields of one ``[[sites]]`` entry, with their defaults and meaning. Whether a profile's
site values are published or assumed is stated in its ``[assumptions]`` table."""

SELECTION_FIELDS: dict[str, Param] = {
    "exam_from": Param(
        None, "first day of the index window (a selected patient has an exam in it)"
    ),
    "exam_to": Param(None, "last day of the index window"),
    "min_age_at_exam": Param(0.0, "minimum age (years) at an index-window exam (18: adults)"),
}
"""Fields of a profile's optional ``[selection]``: the cohort is the simulated patients with
an exam in ``[exam_from, exam_to]`` at an age >= ``min_age_at_exam``, with all their exams in
the site's period (a look-back design). Sites' ``n_patients`` then count selected patients."""


def _values(tree: Any) -> Any:
    if isinstance(tree, Param):
        return copy.deepcopy(tree.default)
    return {k: _values(v) for k, v in tree.items()}


def defaults() -> dict[str, Any]:
    """The default parameters as a plain nested dict (a fresh copy)."""
    return _values(PARAMETERS)


def describe() -> pl.DataFrame:
    """One row per parameter: ``parameter`` (dotted path), ``default`` (as text), ``why`` and
    ``source`` (a publication, or :data:`ASSUMPTION`: a modelling assumption)."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, Param):
                rows.append((prefix + k, str(v.default), v.why, v.source))
            else:
                walk(v, f"{prefix}{k}.")

    walk(PARAMETERS, "")
    for k, v in SITE_FIELDS.items():
        rows.append((f"sites[].{k}", str(v.default), v.why, "per profile: see [assumptions]"))
    for k, v in SELECTION_FIELDS.items():
        rows.append((f"selection.{k}", str(v.default), v.why, "per profile: see [assumptions]"))
    return pl.DataFrame(rows, schema=["parameter", "default", "why", "source"], orient="row")


def _unknown(key: str, known: Any) -> str:
    """`` (did you mean 'params'?)`` for a key close to a known one, else ``""``."""
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _merge(
    base: dict[str, Any], over: dict[str, Any], prefix: str, where: str = ""
) -> dict[str, Any]:
    """``base`` updated by ``over`` (nested tables merged); a key of ``over`` that ``base``
    does not have raises ParameterError naming its dotted path (``prefix`` + key)."""
    out = dict(base)
    for k, v in over.items():
        if k not in base:
            raise ParameterError(
                f"{where}unknown parameter {prefix}{k}{_unknown(k, base)}; see "
                "recurct.synthetic.describe()"
            )
        if isinstance(base[k], dict) and not isinstance(v, dict):
            _table(v, f"{prefix}{k}", where)
        if isinstance(base[k], dict) and k not in ("group_share",):
            out[k] = _merge(base[k], v, f"{prefix}{k}.", where)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass
class Profile:
    """A synthetic cohort's definition: name, model parameters and sites.

    ``calibration`` holds the profile file's ``[calibration]`` record (targets, fitted and
    achieved values) for reference; :func:`recurct.synthetic.generate` never reads it.
    ``selection`` (``exam_from``, ``exam_to``, ``min_age_at_exam``; see
    :data:`SELECTION_FIELDS`) makes the cohort a look-back selection. ``assumptions`` maps a
    value (dotted path, ``sites[].<field>`` for every site) to why it is an assumption.
    """

    name: str
    params: dict[str, Any]
    sites: list[dict[str, Any]]
    description: str = ""
    calibration: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    assumptions: dict[str, str] = field(default_factory=dict)

    @property
    def n_patients(self) -> int:
        """Total patients over all sites (selected patients if the profile has a selection)."""
        return int(sum(s["n_patients"] for s in self.sites))

    def copy(self) -> Profile:
        """A deep copy (for changing parameters without touching this one)."""
        return copy.deepcopy(self)


def _check(profile: Profile, where: str | None = None) -> None:
    """ParameterError, naming the key and the accepted range, for a profile whose parameters,
    sites or selection are not usable: every value is checked (type, finite, range) before
    any simulation runs, so that no value can make the generator loop without end or write
    negative doses. Every message starts with ``where`` (default ``profile '<name>': ``; a
    profile read from a file: ``profile file <path>: ``)."""
    where = f"profile {profile.name!r}: " if where is None else where
    params = _table(profile.params, "params", where)
    _check_params(params, where)
    _check_sites(profile, where)
    sel = profile.selection
    if sel is not None:
        sel = _table(sel, "selection", where)
        if sel.get("exam_from") is None or sel.get("exam_to") is None:
            raise ParameterError(f"{where}[selection] needs exam_from and exam_to")
        for k in ("exam_from", "exam_to"):
            if not isinstance(sel[k], dt.date):
                raise ParameterError(f"{where}selection.{k} must be a date, got {sel[k]!r}")
        if sel["exam_to"] < sel["exam_from"]:
            raise ParameterError(f"{where}selection.exam_to is before exam_from")
        _number(sel.get("min_age_at_exam"), "selection.min_age_at_exam", where, lo=0.0, hi=130.0)


def _is_number(value: Any) -> bool:
    """A real number that is not a bool (``True`` is not a probability)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(
    value: Any,
    key: str,
    where: str = "",
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    unit: str = "",
) -> float:
    """``value`` as a float, or ParameterError naming ``key`` and the accepted range: a
    finite number (not a bool, not text) >= ``lo`` (> if ``lo_open``) and <= ``hi``."""
    if lo is not None and hi is not None:
        accepted = f"a number in [{lo:g}, {hi:g}]"
    elif lo is not None:
        accepted = f"a number {'>' if lo_open else '>='} {lo:g}"
    else:
        accepted = "a finite number"
    accepted += f" ({unit})" if unit else ""
    if not _is_number(value):
        raise ParameterError(
            f"{where}{key} must be {accepted}, got {value!r} ({type(value).__name__})"
        )
    x = float(value)
    ok = math.isfinite(x)
    if ok and lo is not None:
        ok = x > lo if lo_open else x >= lo
    if ok and hi is not None:
        ok = x <= hi
    if not ok:
        raise ParameterError(f"{where}{key} must be {accepted}, got {value!r}")
    return x


def _probability(value: Any, key: str, where: str) -> float:
    if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
        raise ParameterError(
            f"{where}{key} must be a probability (a number in [0, 1]), got {value!r}"
        )
    return float(value)


def _whole(value: Any, key: str, where: str = "", *, lo: int = 0) -> int:
    """``value`` as an int: a whole number (``10`` or ``10.0``, not ``10.7``, not a bool)."""
    if not _is_number(value) or not math.isfinite(float(value)) or float(value) != int(value):
        raise ParameterError(f"{where}{key} must be a whole number >= {lo}, got {value!r}")
    if int(value) < lo:
        raise ParameterError(f"{where}{key} must be >= {lo}, got {value!r}")
    return int(value)


def _text(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise ParameterError(
            f"{where}{key} must be text (a TOML string), got {value!r} ({type(value).__name__})"
        )
    return value


def _table(value: Any, key: str, where: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParameterError(
            f"{where}{key} must be a table (key = value pairs), got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def _weights(value: Any, key: str, n: int, where: str) -> None:
    """``n`` finite non-negative numbers with a positive sum."""
    ok = (
        isinstance(value, list | tuple)
        and len(value) == n
        and all(_is_number(v) and math.isfinite(float(v)) and float(v) >= 0 for v in value)
        and sum(float(v) for v in value) > 0
    )
    if not ok:
        raise ParameterError(
            f"{where}{key} must be {n} non-negative weights with a positive sum, got {value!r}"
        )


def _key(tree: dict[str, Any], k: str, key: str, where: str) -> Any:
    if k not in tree:
        raise ParameterError(f"{where}{key} is missing; see recurct.synthetic.describe()")
    return tree[k]


def _check_params(p: dict[str, Any], where: str) -> None:
    """The model parameters (``[params]``): types and plausible ranges."""
    for k in ("k_table", "age_rule"):
        _text(_key(p, k, f"params.{k}", where), f"params.{k}", where)
    if p["age_rule"] != "nearest-lower":
        raise ParameterError(
            f"{where}params.age_rule must be 'nearest-lower' (the only rule the generator "
            f"supports), got {p['age_rule']!r}"
        )
    from recurct.synthetic._simulate import _k_grid  # (which imports this module)

    try:
        _k_grid(p["k_table"], p["age_rule"])
    except (ValueError, OSError) as exc:  # an unknown table, or one without the model's regions
        raise ParameterError(f"{where}params.k_table: {exc}") from None
    _number(_key(p, "frailty_cv", "params.frailty_cv", where), "params.frailty_cv", where, lo=0.0)
    _probability(_key(p, "p_intensive", "params.p_intensive", where), "params.p_intensive", where)
    for k in ("intensive_rate", "frailty_max"):
        _number(_key(p, k, f"params.{k}", where), f"params.{k}", where, lo=0.0, lo_open=True)
    paed = _key(p, "paed_dlp_at_birth", "params.paed_dlp_at_birth", where)
    _number(paed, "params.paed_dlp_at_birth", where, lo=0.0, hi=1.0)
    edges = _key(p, "age_edges", "params.age_edges", where)
    if (
        not isinstance(edges, list | tuple)
        or len(edges) < 2
        or not all(_is_number(e) and math.isfinite(float(e)) for e in edges)
        or float(edges[0]) < 0
        or any(float(b) <= float(a) for a, b in itertools.pairwise(edges))
    ):
        raise ParameterError(
            f"{where}params.age_edges must be at least 2 ascending ages (years, from >= 0), "
            f"got {edges!r}"
        )
    for k, lo_open, unit in (("dlp_median", True, "mGy·cm"), ("dlp_sigma", False, "")):
        tree = _table(_key(p, k, f"params.{k}", where), f"params.{k}", where)
        for r in REGIONS:
            key = f"params.{k}.{r}"
            _number(_key(tree, r, key, where), key, where, lo=0.0, lo_open=lo_open, unit=unit)
    groups = _table(_key(p, "groups", "params.groups", where), "params.groups", where)
    for g in GROUPS:
        gp = _table(_key(groups, g, f"params.groups.{g}", where), f"params.groups.{g}", where)
        _check_group(gp, g, len(edges) - 1, where)


def _check_group(gp: dict[str, Any], g: str, n_bands: int, where: str) -> None:
    pre = f"params.groups.{g}."
    for key, n in (("age_mix", n_bands), ("region_mix", len(REGIONS)), ("phase_mix", 3)):
        _weights(_key(gp, key, pre + key, where), pre + key, n, where)
    for key in ("p_female", "p_recurrent", "p_same_day"):
        _probability(_key(gp, key, pre + key, where), pre + key, where)
    ranges: tuple[tuple[str, float, bool, str], ...] = (
        ("share", 0.0, False, "a weight"),
        ("followup_mean_days", 0.0, True, "days"),
        ("followup_shape", 0.2, False, ""),
        ("interval_mean_days", 1.0, False, "days"),
        ("interval_shape", 0.5, False, ""),
    )
    for key, lo, lo_open, unit in ranges:
        value = _key(gp, key, pre + key, where)
        _number(value, pre + key, where, lo=lo, lo_open=lo_open, unit=unit)
    late = _key(gp, "late_interval_days", pre + "late_interval_days", where)
    if not _is_number(late) or not (float(late) == 0.0 or 1.0 <= float(late) < math.inf):
        raise ParameterError(
            f"{where}{pre}late_interval_days must be 0 (none) or a number >= 1 day, got {late!r}"
        )


def _check_sites(profile: Profile, where: str) -> None:
    if not isinstance(profile.sites, list) or not profile.sites:
        raise ParameterError(
            f"{where}sites: the profile has no sites; give [[sites]] entries, or base = a "
            "shipped profile to take its sites"
        )
    shares = {}
    for g in GROUPS:
        shares[g] = float(profile.params["groups"][g]["share"])
    for i, s in enumerate(profile.sites):
        s = _table(s, f"sites[{i}]", where)
        key = f"sites[{i}]."
        name = _text(_key(s, "facility", key + "facility", where), key + "facility", where)
        if not name.strip():
            raise ParameterError(f"{where}{key}facility must be a non-empty name, got {name!r}")
        at = f"{where}site {name!r}: "
        _text(_key(s, "country", key + "country", at), key + "country", at)
        if not isinstance(_key(s, "academic", key + "academic", at), bool):
            raise ParameterError(f"{at}{key}academic must be true or false, got {s['academic']!r}")
        for k in ("period_start", "period_end"):
            if not isinstance(_key(s, k, key + k, at), dt.date):
                raise ParameterError(f"{at}{key}{k} must be a date, got {s[k]!r}")
        if s["period_end"] < s["period_start"]:
            raise ParameterError(f"{at}{key}period_end is before {key}period_start")
        _whole(_key(s, "n_patients", key + "n_patients", at), key + "n_patients", at)
        scale = _key(s, "dose_scale", key + "dose_scale", at)
        _number(scale, key + "dose_scale", at, lo=0.0, lo_open=True)
        _number(_key(s, "age_shift", key + "age_shift", at), key + "age_shift", at, unit="years")
        growth = _key(s, "ct_growth", key + "ct_growth", at)
        if not _is_number(growth) or not -1.0 <= float(growth) <= 1.0:
            raise ParameterError(
                f"{at}{key}ct_growth must be a relative growth per year in [-1, 1], got {growth!r}"
            )
        over = _table(_key(s, "group_share", key + "group_share", at), key + "group_share", at)
        mix = dict(shares)
        for g, v in over.items():
            if g not in GROUPS:
                raise ParameterError(
                    f"{at}{key}group_share has unknown group {g!r}{_unknown(g, GROUPS)}; "
                    f"groups are {', '.join(GROUPS)}"
                )
            mix[g] = _number(v, f"{key}group_share.{g}", at, lo=0.0, unit="a weight")
        if not sum(mix.values()) > 0:
            raise ParameterError(
                f"{at}the group shares (params.groups.<group>.share, overridden by "
                f"{key}group_share) must have a positive total, got {mix}"
            )
    names = [s["facility"] for s in profile.sites]
    if len(set(names)) != len(names):
        raise ParameterError(f"{where}sites[].facility: names must be unique: {names}")


TOP_LEVEL_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "base",
    "site_scale",
    "params",
    "sites",
    "selection",
    "assumptions",
    "calibration",
)
"""The keys a profile may have at its top level; any other is refused, so that a misspelt
section (``[parms]``, ``[selecton]``) or a key the generator does not read (``seed``) is
never ignored."""


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"profile file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"profile file {path} is not valid TOML: not UTF-8 text (byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ParameterError(
            f"profile file {path} cannot be read ({exc.strerror or exc})"
        ) from None


def _date(value: Any, key: str, where: str) -> dt.date:
    try:
        day = as_date(value, key)
    except ParameterError as exc:
        raise ParameterError(f"{where}{exc}") from None
    assert day is not None  # (as_date returns None only with none_ok)
    return day


def profile_from_dict(
    name: str, data: dict[str, Any], *, source: str | os.PathLike[str] | None = None
) -> Profile:
    """Build a :class:`Profile` from a parsed profile file (``[params]``, ``[[sites]]``).

    Parameters
    ----------
    name : str
        The profile's name (:func:`load_profile` gives the file's ``name``, else its stem).
    data : dict
        The parsed file. Its top-level keys are those of :data:`TOP_LEVEL_KEYS`: ``name``,
        ``description``, ``base``, ``site_scale``, ``params``, ``sites``, ``selection``,
        ``assumptions`` and ``calibration``; any other key is refused.
    source : path, optional
        The file ``data`` was read from: every error message then starts with
        ``profile file <source>: `` (otherwise ``profile '<name>': ``).

    Returns
    -------
    Profile
        Checked: every value has its type and range.

    Raises
    ------
    ParameterError
        An unknown, missing or mistyped key, or a value out of its range; the message names
        the file (or the profile) and the key's dotted path (``params.groups.oncology.share``,
        ``sites[0].period_end``).

    Notes
    -----
    ``base = "<profile>"`` starts from that shipped profile, resolved in full (its own
    ``base`` followed; a chain that leads back to a profile is refused): its parameters,
    which the file's own ``[params]`` override, and, if the file has no ``[[sites]]``, its
    sites with ``n_patients`` multiplied by ``site_scale`` (default 1) and rounded, its
    ``[selection]`` (unless the file has one) and its ``[assumptions]`` (updated by the
    file's own). ``site_scale`` without ``base``, or beside the file's own ``[[sites]]``,
    is refused: it would scale nothing.
    """
    where = f"profile file {source}: " if source is not None else f"profile {name!r}: "
    return _from_dict(name, data, where, ())


def _from_dict(name: str, data: Any, where: str, seen: tuple[str, ...]) -> Profile:
    """:func:`profile_from_dict`; ``seen``: the shipped profiles on the way here by ``base``."""
    data = _table(data, "the profile", where)
    raw_sites = _check_top(data, where)
    params = defaults()
    raw_sel = data.get("selection")
    assumptions: dict[str, str] = {}
    if "base" in data:
        base = _base(data["base"], where, seen)
        params = copy.deepcopy(base.params)
        if not raw_sites:
            scale = _number(data.get("site_scale", 1.0), "site_scale", where, lo=0.0)
            raw_sites = [
                {**copy.deepcopy(s), "n_patients": round(int(s["n_patients"]) * scale)}
                for s in base.sites
            ]
        if raw_sel is None:
            raw_sel = copy.deepcopy(base.selection)
        assumptions.update(base.assumptions)
    assumptions.update(data.get("assumptions") or {})
    params = _merge(params, data.get("params") or {}, "params.", where)
    sites = []
    site_defaults = _values(SITE_FIELDS)
    for i, raw in enumerate(raw_sites):
        s = _merge(site_defaults, raw, f"sites[{i}].", where)
        s["period_start"] = _date(s["period_start"], f"sites[{i}].period_start", where)
        s["period_end"] = _date(s["period_end"], f"sites[{i}].period_end", where)
        s["n_patients"] = _whole(s["n_patients"], f"sites[{i}].n_patients", where)
        sites.append(s)
    prof = Profile(
        name=name,
        params=params,
        sites=sites,
        description=str(data.get("description", "")),
        calibration=data.get("calibration"),
        selection=None if raw_sel is None else _selection(raw_sel, where),
        assumptions={str(k): str(v) for k, v in assumptions.items()},
    )
    _check(prof, where)
    return prof


def _check_top(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The top-level keys of a profile (known, of their types); returns its ``[[sites]]``."""
    unknown = [str(k) for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        hints = "".join(_unknown(k, TOP_LEVEL_KEYS) for k in unknown[:1])
        raise ParameterError(
            f"{where}unknown top-level key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}{hints}; a profile has "
            f"{', '.join(TOP_LEVEL_KEYS)} (see docs/synthetic.md)"
        )
    for k in ("name", "description"):
        if k in data:
            _text(data[k], k, where)
    for k in ("params", "selection", "assumptions", "calibration"):
        if data.get(k) is not None:
            _table(data[k], k, where)
    raw_sites = data.get("sites", [])
    if not isinstance(raw_sites, list) or not all(isinstance(x, dict) for x in raw_sites):
        raise ParameterError(
            f"{where}sites must be an array of tables ([[sites]] entries), got {raw_sites!r}"
        )
    if "site_scale" in data and "base" not in data:
        raise ParameterError(
            f"{where}site_scale scales the sites of a base profile, and this profile has no "
            f"base; give base = a shipped profile ({', '.join(profile_names())}), or remove "
            "site_scale"
        )
    if "site_scale" in data and raw_sites:
        raise ParameterError(
            f"{where}site_scale scales the base profile's sites, and this profile has its own "
            "[[sites]]: set their n_patients, or remove the [[sites]] to scale the base's"
        )
    return raw_sites


def _selection(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``[selection]`` with its defaults, its dates as dates."""
    selection = _merge(_values(SELECTION_FIELDS), raw, "selection.", where)
    for k in ("exam_from", "exam_to"):
        if selection[k] is not None:
            selection[k] = _date(selection[k], f"selection.{k}", where)
    selection["min_age_at_exam"] = _number(
        selection["min_age_at_exam"], "selection.min_age_at_exam", where, lo=0.0, hi=130.0
    )
    return selection


def _base(base: Any, where: str, seen: tuple[str, ...]) -> Profile:
    """The shipped profile ``base`` names, resolved in full (its own ``base`` followed)."""
    shipped = profile_names()
    if not isinstance(base, str) or base not in shipped:
        # (a name, not a path: "../x" would read a file outside the shipped profiles)
        raise ParameterError(
            f"{where}base profile {base!r} not found; base names a shipped profile: "
            f"{', '.join(shipped)}"
        )
    if base in seen:
        raise ParameterError(
            f"{where}base {base!r} leads back to a profile already on the way: "
            f"{' -> '.join((*seen, base))}"
        )
    path = PROFILE_DIR / f"{base}.toml"
    data = _read(path)
    return _from_dict(str(data.get("name", base)), data, f"profile file {path}: ", (*seen, base))


def profile_names() -> list[str]:
    """Names of the profiles that ship with recurct."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(profile: str | Path | Profile) -> Profile:
    """Return a :class:`Profile` from a shipped name, a TOML path, or a Profile (as is).

    A file's errors (:func:`profile_from_dict`) start with ``profile file <path>: `` and name
    the key; a key the file may not have (:data:`TOP_LEVEL_KEYS`, the fields of
    :func:`describe`) is refused, not ignored.
    """
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str | os.PathLike) or not str(profile).strip():
        raise ParameterError(
            "profile must be a shipped profile name "
            f"({', '.join(profile_names())}), the path of a .toml file or a Profile, "
            f"got {profile!r}"
        )
    path = Path(profile)
    if not path.suffix:
        path = PROFILE_DIR / f"{profile}.toml"
        if not path.exists():
            raise ParameterError(
                f"unknown synthetic profile {str(profile)!r}; shipped profiles: "
                f"{', '.join(profile_names())} (or give the path of a .toml file)"
            )
    elif not path.exists():
        raise InputNotFoundError(f"profile file {path} does not exist")
    data = _read(path)
    where = f"profile file {path}: "
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"{where}name must be non-empty text, got {name!r}")
    shipped = (path.stem,) if path.parent == PROFILE_DIR else ()
    return _from_dict(name, data, where, shipped)
