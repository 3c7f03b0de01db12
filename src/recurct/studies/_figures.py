"""What every study module shares: published figures and the rule that compares them.

The comparison table is formatted by :mod:`._format`, held by :class:`._reproduction.Reproduction`
and built by the common path of every study, :func:`._run.run_study`.

A study module holds ``SOURCE`` (the citation), ``PUBLISHED`` (a dict key ->
:class:`Published`, every figure of ``docs/sources.md`` for that study, numbers copied
exactly) and ``reproduce()``, which measures the same quantities on an exam table and returns a
:class:`Reproduction`.

What each row is (``Published.kind``)
------------------------------------
``"generated"``
    Computed from the generated exams and not implied by another row: the figures a
    reproduction can get wrong. The headline and the exit status of ``recurct reproduce``
    count these only (but for the sample extremes among them, see ``"extreme"`` below).
``"derived"``
    Arithmetically implied by another row (``exams_per_patient`` = ``n_exams`` / N; a share
    aged > 50 = 100 - the share aged <= 50): shown and checked, not counted.
``"design"``
    An input of the generator (patients, institutions, periods, countries): equal by
    construction; shown and checked, not counted.
``"aggregate"``
    Recomputed from a shipped published table (the survey's answer counts), within rounding.
``"not_reproduced"``
    No way to compute it (e.g. a risk model whose tables are not shipped); listed with the
    reason, never compared.

How a figure is compared (``Published.compare``)
------------------------------------------------
``"exact"``
    A count fixed by the design of the synthetic cohort (patients, sites, countries): equal.
``"rounding"``
    Within half the unit of the last published digit (1.33% -> +-0.005 percentage points).
``"calibrated"``
    A figure the synthetic profile was calibrated to, computed from generated exams: within

        half the rounding unit + the calibration tolerance + z x SD

    where the calibration tolerance is the one recorded in the profile for that target and
    SD is the figure's sampling standard deviation at full scale, estimated over the
    profile's validation seeds (``[calibration.validation]``, written by
    ``python -m recurct.studies.validate``; scaled by ``sqrt(N / n)`` on a reduced cohort of n
    patients). The three parts add up: the true value lies anywhere within half a unit of the
    published, rounded one; the calibrated model's expectation may lie anywhere within its
    tolerance of it; and one cohort lies within z SD of the model's expectation. z is chosen
    family-wise (:func:`family_z`, Šidák): with m such figures in a study, one run of a model
    whose expectations equal the published values passes all m with probability >= 95%. The
    same rule covers ``"range_min"`` / ``"range_max"`` (the lowest / highest value over the
    sites of a "13.4% to 28% by institution" range).
``"extreme"``
    A sample maximum or minimum (the largest CED, the most CTs of one patient, the fastest
    crossing): random even in a perfect model. The table shows the central 95% (the 2.5% to
    97.5% quantiles) of the model's distribution of that statistic over the validation seeds
    at full scale, and ``within_tolerance`` says whether this cohort's value lies in that
    range (``ok`` ``in`` / ``out``). A correct model puts one cohort's extreme outside it on
    5% of seeds, so these rows are shown but not counted: not in the headline's "N of N",
    not in ``Reproduction.ok`` nor the exit status. (Whether the *published* value lies in
    the range is a property of the model, the same on every seed: no evidence of a run.)
``"at_most"``
    An upper bound: the reproduced value must not exceed it.
``"aggregate"``
    Not derivable from exam data; recomputed from the published aggregate table (survey
    counts), within rounding.
``"not_reproduced"``
    Never compared.

Tolerances are never widened to make a figure pass: a figure outside its tolerance is
reported as such (``within_tolerance`` false, ``Reproduction.ok`` false, exit code 1 of
``recurct reproduce``).

On the user's own exam table (``reproduce(exams=...)``) the same analysis runs, but nothing is
asserted against the paper: the ``comparison`` column says ``"your data"`` and
``within_tolerance`` is null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl

from recurct._compat import renamed
from recurct.errors import ParameterError

__all__ = [
    "COMPARISONS",
    "KINDS",
    "NULL_TOL",
    "SAMPLED",
    "TABLE_SCHEMA",
    "Measured",
    "Published",
    "Tolerance",
    "calibration_tolerances",
    "compare",
    "comparison_table",
    "counted",
    "family_z",
    "headline_counts",
    "is_within",
    "n_sampled",
    "tolerance",
    "tolerance_parts",
    "validation_record",
]

Comparison = Literal[
    "exact",
    "rounding",
    "calibrated",
    "range_min",
    "range_max",
    "extreme",
    "at_most",
    "aggregate",
    "not_reproduced",
]
COMPARISONS: tuple[str, ...] = get_args(Comparison)
Kind = Literal["generated", "derived", "design", "aggregate", "not_reproduced"]
KINDS: tuple[str, ...] = get_args(Kind)
#: Comparisons whose tolerance adds the calibration tolerance and z x the sampling SD.
SAMPLED = ("calibrated", "range_min", "range_max")
_DEFAULT_KIND = {"exact": "design", "aggregate": "aggregate", "not_reproduced": "not_reproduced"}

#: Relative slack for float representation only (1e-9 of the value); not a tolerance.
_FLOAT_EPS = 1e-9
#: Family-wise probability that one run of a correct model passes every generated figure.
FAMILY_LEVEL = 0.95
#: The central share of the model's distribution within which a published extreme is ``ok``.
EXTREME_LEVEL = 0.95


def run_z(published: Mapping[str, Published]) -> float:
    """The z of one run of a study: :func:`family_z` of its sampled figures."""
    return family_z(max(n_sampled(published), 1))


def sd_scale(validation: Mapping[str, Any], n_patients: int | None) -> float:
    """The factor of the sampling SDs on a cohort of ``n_patients`` (``None``: full scale):
    ``sqrt(N / n)`` against the validation record's full-scale ``N`` (an SD of a cohort n
    times smaller is sqrt(N / n) times larger); 1 without a record."""
    full = validation.get("n_patients")
    if n_patients is None or not full:
        return 1.0
    return math.sqrt(float(full) / max(int(n_patients), 1))


def family_z(m: int, level: float = FAMILY_LEVEL) -> float:
    """The z of the sampling part of the tolerance for ``m`` figures judged together (Šidák).

    ``z = Phi^-1(1 - (1 - level^(1/m)) / 2)``: each figure is then passed with probability
    ``level^(1/m)`` by a model whose expectation equals the published value, so all ``m``
    with probability >= ``level``. By Šidák's inequality this holds for normally distributed
    figures whatever their correlation (``P(all |X_i| <= c_i) >= prod P(|X_i| <= c_i)``), not
    only for independent ones. ``m`` = 1 gives 1.96 at 95%; ``m`` = 5 gives 2.57.
    """
    if m < 1:
        raise ParameterError(f"m must be >= 1, got {m}")
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level}")
    from scipy.stats import norm

    return float(norm.ppf(1.0 - (1.0 - level ** (1.0 / m)) / 2.0))


@dataclass(frozen=True)
class Published:
    """One published figure.

    Attributes
    ----------
    key : str
        Short identifier, e.g. ``"share_reached_100"``.
    description : str
        What it is, in words.
    value : float
        The published number, in ``unit`` (percentages in %, not fractions).
    unit : str
        ``"%"``, ``"mSv"``, ``"patients"``, ``"exams"``, ``"days"``, ...
    rounding : float or None
        The unit of the last published digit (1.33% -> 0.01; "about 1.92" -> 0.01; 130.3 mSv
        -> 0.1; a count -> 1). None for a count that is exact.
    compare : str
        How it is compared; one of :data:`COMPARISONS` (see the module docstring).
    quote : str
        The figure as it was published ("1.33%", "nearly 20%", "a single day").
    target : str or None
        Name of the calibration target of the synthetic profile that this figure was fitted
        to (for ``"calibrated"``-type comparisons), if any.
    note : str
        How it is measured, or why it is not reproduced.
    target_scale : float
        Converts the target's tolerance to ``unit``: 100 for a share target (a fraction)
        compared in %, ``n_patients`` for a count derived from a share of an exact number of
        patients, ``1 / n_patients`` for a ratio of a count target to an exact count.
    kind : str or None
        What the row is, one of :data:`KINDS` (see the module docstring). Default: ``"design"``
        for ``"exact"``, ``"aggregate"`` and ``"not_reproduced"`` for those comparisons,
        ``"generated"`` otherwise; a ``derived_from`` makes it ``"derived"``.
    derived_from : str
        For a derived row: the key of the row that implies it.
    """

    key: str
    description: str
    value: float
    unit: str
    rounding: float | None
    compare: Comparison
    quote: str = ""
    target: str | None = None
    note: str = ""
    target_scale: float = 1.0
    kind: Kind | None = None
    derived_from: str = ""

    def __post_init__(self) -> None:
        if self.compare not in COMPARISONS:
            raise ParameterError(f"{self.key}: compare must be one of {COMPARISONS}")
        kind = self.kind
        if kind is None:
            kind = "derived" if self.derived_from else _DEFAULT_KIND.get(self.compare, "generated")
            object.__setattr__(self, "kind", kind)
        if kind not in KINDS:
            raise ParameterError(f"{self.key}: kind must be one of {KINDS}")
        if (kind == "derived") != bool(self.derived_from):
            raise ParameterError(f"{self.key}: a derived row names the row it is derived from")


@dataclass(frozen=True)
class Measured:
    """A value measured by a reproduction (same unit as the published figure), with the
    bounds of its 95% CI (``value_lo``, ``value_hi``) where it has one."""

    value: float | None
    value_lo: float | None = None
    value_hi: float | None = None
    note: str = ""


# recurct 0.1 named the bounds ci_lo / ci_hi
Measured.__init__ = renamed(ci_lo="value_lo", ci_hi="value_hi")(  # type: ignore[method-assign]
    Measured.__init__
)


@dataclass(frozen=True)
class Tolerance:
    """The parts of a figure's tolerance (in its unit); ``total`` is their sum.

    ``rounding``: half the published rounding unit; ``calibration``: the profile's
    calibration tolerance; ``sampling``: z x the sampling SD; for an extreme, ``lo``/``hi``:
    the central 95% range of the model's distribution (no additive tolerance).
    """

    rounding: float = 0.0
    calibration: float = 0.0
    sampling: float = 0.0
    lo: float | None = None
    hi: float | None = None

    @property
    def total(self) -> float:
        return self.rounding + self.calibration + self.sampling


def tolerance(
    fig: Published,
    calibration_tol: float | None = None,
    sd: float | None = None,
    z: float | None = None,
) -> float | None:
    """Absolute tolerance (in ``fig.unit``) within which ``fig`` counts as reproduced.

    ``exact``: 0. ``rounding``, ``aggregate``, ``at_most``: half the rounding unit (0 without
    one). ``calibrated``, ``range_min``, ``range_max``: half the rounding unit +
    ``calibration_tol`` + ``z x sd`` (the parts given). ``extreme`` and ``not_reproduced``:
    None (an extreme is judged against the model's distribution, see :func:`is_within`).
    """
    parts = tolerance_parts(fig, calibration_tol, sd, z)
    return None if parts is None or fig.compare == "extreme" else parts.total


def tolerance_parts(
    fig: Published,
    calibration_tol: float | None = None,
    sd: float | None = None,
    z: float | None = None,
    central: tuple[float, float] | None = None,
) -> Tolerance | None:
    """The parts of :func:`tolerance` (and an extreme's central range); None if not compared."""
    if fig.compare == "not_reproduced":
        return None
    if fig.compare == "exact":
        return Tolerance()
    half = 0.5 * fig.rounding if fig.rounding else 0.0
    if fig.compare == "extreme":
        if central is None:
            return None
        return Tolerance(rounding=half, lo=float(central[0]), hi=float(central[1]))
    if fig.compare in SAMPLED:
        cal = 0.0 if calibration_tol is None else abs(float(calibration_tol))
        samp = 0.0 if sd is None or z is None else abs(float(z) * float(sd))
        return Tolerance(rounding=half, calibration=cal, sampling=samp)
    return Tolerance(rounding=half)


def is_within(
    fig: Published, reproduced: float | None, tol: float | Tolerance | None
) -> bool | None:
    """Whether ``reproduced`` matches ``fig`` within ``tol``; None where not comparable.

    An extreme (``tol`` a :class:`Tolerance` with a range) is within when ``reproduced``, this
    cohort's value, lies within the range (the model's central 95%): false on 5% of the seeds
    of a correct model, which is why extremes are not counted (:func:`counted`).
    """
    if tol is None or reproduced is None or not math.isfinite(float(reproduced)):
        return None
    if isinstance(tol, Tolerance):
        if tol.lo is not None and tol.hi is not None:
            value = float(reproduced)
            slack = _FLOAT_EPS * max(abs(value), abs(tol.lo), abs(tol.hi), 1.0)
            return tol.lo - slack <= value <= tol.hi + slack
        tol = tol.total
    slack = _FLOAT_EPS * max(abs(fig.value), abs(float(reproduced)), 1.0)
    if fig.compare == "at_most":
        return float(reproduced) <= fig.value + tol + slack
    return abs(float(reproduced) - fig.value) <= tol + slack


def compare(
    fig: Published,
    measured: Measured | None,
    calibration_tol: float | None = None,
    *,
    sd: float | None = None,
    z: float | None = None,
    central: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """One row of the comparison table for ``fig`` (synthetic-cohort mode).

    ``sd``: the figure's sampling SD; ``z``: its multiplier (:func:`family_z`); ``central``:
    for an extreme, the central 95% range of the model's distribution.
    """
    parts = tolerance_parts(fig, calibration_tol, sd, z, central)
    value = None if measured is None else measured.value
    note = fig.note if measured is None or not measured.note else measured.note
    within = is_within(fig, value, parts)
    if fig.compare == "extreme" and parts is None and value is not None:
        note = (note + "; " if note else "") + "no stored distribution of this extreme"
    if value is None and fig.compare != "not_reproduced":
        parts = None
    ext = parts is not None and parts.lo is not None
    return {
        "figure": fig.key,
        "description": fig.description,
        "kind": fig.kind,
        "unit": fig.unit,
        "published": float(fig.value),
        "reproduced": None if value is None else float(value),
        "reproduced_lo": None if measured is None else measured.value_lo,
        "reproduced_hi": None if measured is None else measured.value_hi,
        "tolerance": None if parts is None or ext else parts.total,
        "tol_rounding": None if parts is None else parts.rounding,
        "tol_calibration": None if parts is None or ext else parts.calibration,
        "tol_sampling": None if parts is None or ext else parts.sampling,
        "range_lo": parts.lo if ext else None,
        "range_hi": parts.hi if ext else None,
        "within_tolerance": within,
        "comparison": fig.compare,
        "note": note,
    }


TABLE_SCHEMA: dict[str, Any] = {
    "figure": pl.Utf8,
    "description": pl.Utf8,
    "kind": pl.Utf8,
    "unit": pl.Utf8,
    "published": pl.Float64,
    "reproduced": pl.Float64,
    "reproduced_lo": pl.Float64,
    "reproduced_hi": pl.Float64,
    "tolerance": pl.Float64,
    "tol_rounding": pl.Float64,
    "tol_calibration": pl.Float64,
    "tol_sampling": pl.Float64,
    "range_lo": pl.Float64,
    "range_hi": pl.Float64,
    "within_tolerance": pl.Boolean,
    "comparison": pl.Utf8,
    "note": pl.Utf8,
}
NULL_TOL = dict.fromkeys(
    ("tolerance", "tol_rounding", "tol_calibration", "tol_sampling", "range_lo", "range_hi")
)


def n_sampled(published: Mapping[str, Published]) -> int:
    """How many generated figures a run judges by a sampling tolerance (the m of
    :func:`family_z`): generated rows other than the sample extremes, which are not counted
    (:func:`counted`)."""
    return sum(
        1 for f in published.values() if f.kind == "generated" and f.compare in SAMPLED
    )


def counted() -> pl.Expr:
    """The rows a verdict counts (headline, ``ok``, exit status): ``generated`` rows other than
    the sample extremes, which a correct model puts outside their central 95% range on 5% of
    seeds."""
    return (pl.col("kind") == "generated") & (pl.col("comparison") != "extreme")


def headline_counts(
    table: pl.DataFrame,
    verdict: str = "within_tolerance",
    extremes: str = "in the model's central 95% range",
) -> str:
    """``"5 of 5 independent figures within tolerance; sample extremes (not counted): 1 of 2
    in the model's central 95% range; 9 design/derived rows agree by construction"`` (plus the
    aggregate rows, where there are some) from a comparison table: only :func:`counted` rows
    are counted as figures; the others are reported apart."""

    def counts(rows: pl.DataFrame) -> tuple[int, int]:
        rows = rows.filter(pl.col(verdict).is_not_null())
        return rows.filter(pl.col(verdict)).height, rows.height

    k, m = counts(table.filter(counted()))
    text = f"{k} of {m} independent figures within tolerance"
    gen = table.filter(pl.col("kind") == "generated")
    a, b = counts(gen.filter(pl.col("comparison") == "extreme"))
    if b:
        text += f"; sample extremes (not counted): {a} of {b} {extremes}"
    for kinds, what, how in (
        (("design", "derived"), "design/derived rows", "agree by construction"),
        (("aggregate",), "aggregate rows", "recomputed from the published counts agree"),
    ):
        a, b = counts(table.filter(pl.col("kind").is_in(kinds)))
        if b:
            text += f"; {b} {what} {how}" if a == b else f"; {a} of {b} {what} {how}"
    return text


def comparison_table(
    published: Mapping[str, Published],
    measured: Mapping[str, Measured],
    *,
    calibration: Mapping[str, float] | None = None,
    mode: Literal["synthetic", "your data"] = "synthetic",
    incomparable: Mapping[str, str] | None = None,
    validation: Mapping[str, Any] | None = None,
    sd_scale: float = 1.0,
) -> pl.DataFrame:
    """The table of published vs reproduced figures, one row per published figure.

    Parameters
    ----------
    published
        The study's ``PUBLISHED`` dict.
    measured
        Key -> :class:`Measured`; keys missing here are reported with a null ``reproduced``.
    calibration
        Calibration target name -> tolerance (from the synthetic profile).
    mode
        ``"synthetic"`` compares; ``"your data"`` only reports (tolerance and
        ``within_tolerance`` null, ``comparison`` "your data").
    incomparable
        Key -> reason: figures measured but not compared (e.g. counts of a reduced cohort).
    validation
        The profile's validation record (:func:`validation_record`): per figure the sampling
        ``sd`` at full scale and, for extremes, the central range ``q_lo`` .. ``q_hi``.
        Without it the sampling part is 0 and extremes are not compared.
    sd_scale
        Multiplies every sampling SD (``sqrt(N / n)`` on a reduced cohort of n patients).
    """
    calibration = calibration or {}
    incomparable = incomparable or {}
    figures = (validation or {}).get("figures", {})
    z = run_z(published)
    rows = []
    for key, fig in published.items():
        cal = calibration.get(fig.target) if fig.target else None
        if cal is not None:
            cal = cal * fig.target_scale
        rec = figures.get(key, {})
        # design inputs do not vary with the seed: no sampling part
        sd = rec.get("sd") if fig.kind in ("generated", "derived") else None
        central = (rec["q_lo"], rec["q_hi"]) if "q_lo" in rec and "q_hi" in rec else None
        row = compare(
            fig,
            measured.get(key),
            cal,
            sd=None if sd is None else float(sd) * sd_scale,
            z=z,
            central=central,
        )
        if mode == "your data" and fig.compare not in ("not_reproduced", "aggregate"):
            row.update(NULL_TOL, within_tolerance=None, comparison="your data")
        elif key in incomparable:
            row.update(NULL_TOL, within_tolerance=None, note=incomparable[key])
        rows.append(row)
    return pl.DataFrame(rows, schema=TABLE_SCHEMA, orient="row")


def _profile_calibration(profile: str) -> dict[str, Any]:
    from recurct.synthetic.model import load_profile

    try:
        cal = load_profile(profile).calibration or {}
    except (OSError, ValueError):
        return {}
    return cal if isinstance(cal, Mapping) else {}


def calibration_tolerances(profile: str) -> dict[str, float]:
    """Calibration target -> absolute tolerance recorded in a synthetic profile.

    Reads the ``[calibration.targets]`` record of ``recurct.synthetic`` profile files (written
    by ``python -m recurct.synthetic.calibration``): a target's tolerance is its ``atol``, or
    ``rtol x |value|``, in the unit of the target (fractions for shares). Targets without a
    recorded tolerance (and profiles without a calibration) are left out: their figures then
    have no calibration part. The sampling spread is not part of it (see
    :func:`validation_record`).
    """
    targets = _profile_calibration(profile).get("targets", {})
    out: dict[str, float] = {}
    if not isinstance(targets, Mapping):
        return out
    for name, spec in targets.items():
        if not isinstance(spec, Mapping):
            continue
        if spec.get("atol") is not None:
            out[str(name)] = abs(float(spec["atol"]))
        elif spec.get("rtol") is not None and spec.get("value") is not None:
            out[str(name)] = abs(float(spec["rtol"]) * float(spec["value"]))
        elif spec.get("tolerance") is not None:
            out[str(name)] = abs(float(spec["tolerance"]))
    return out


def validation_record(profile: str) -> dict[str, Any]:
    """The profile's ``[calibration.validation]`` record, or ``{}``.

    Written by ``python -m recurct.studies.validate STUDY --write``: ``seeds`` (the
    validation seeds, disjoint from the calibration's ``fit_seeds``), ``n_patients`` (the
    full-scale cohort size), and per published figure (``figures.<key>``) the ``mean``,
    ``sd``, and central 95% range ``q_lo`` .. ``q_hi`` of the figure over those seeds.
    """
    rec = _profile_calibration(profile).get("validation", {})
    return dict(rec) if isinstance(rec, Mapping) else {}
