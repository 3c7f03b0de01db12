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
    Computed from the generated exams and not implied by another row. The headline and the
    exit status of ``recurct reproduce`` count these (but for the sample extremes among them,
    see ``"extreme"`` below). A generated figure whose ``target`` is a fitted target of the
    profile's ``[calibration.targets]`` is a *calibration target*: the synthetic cohort was
    fitted to that very published figure, so its verdict checks the fit and its sampling
    spread, not independent evidence; the table's ``evidence`` column says so ("calibration
    target"), and only the others are called "independent" (read from the profile by
    :func:`fitted_targets`, never typed in).
``"derived"``
    Arithmetically implied by another row (``exams_per_patient`` = ``n_exams`` / N; a share
    aged > 50 = 100 - the share aged <= 50): shown and checked, not counted while the row it
    is derived from is compared. When that row is not compared (a count on a reduced cohort),
    the derived row is compared in its place and counted.
``"design"``
    An input of the generator (patients, institutions, periods, countries): equal by
    construction; shown and checked, not counted.
``"aggregate"``
    Recomputed from a shipped published table (the survey's answer counts), within rounding;
    or, compared ``"restated"``, a published number copied from that table (not compared).
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
    SD is the figure's sampling standard deviation at full scale: the one-sided upper 95%
    confidence bound of the SD estimated over the profile's k validation seeds
    (``[calibration.validation]``, written by ``python -m recurct.studies.validate``),
    ``sd x sqrt((k - 1) / chi2.ppf(0.05, k - 1))`` (:func:`sd_upper`: 1.13 x the estimate for
    100 seeds, which underestimates the spread about as often as not), scaled by
    ``sqrt(N / n)`` on a reduced cohort of n patients. The three parts add up: the true
    value lies anywhere within half a unit of the published, rounded one; the calibrated
    model's expectation may lie anywhere within its tolerance of it; and one cohort lies
    within z SD of the model's expectation. z is chosen family-wise (:func:`family_z`,
    Šidák): with m such figures in a study, one run of a model whose expectations equal the
    published values passes all m with probability >= 95%. The same rule covers
    ``"range_min"`` / ``"range_max"`` (the lowest / highest value over the sites of a "13.4%
    to 28% by institution" range).

    The rounding allowance is counted once: a calibration tolerance equal to half the
    published rounding unit (in the figure's unit) *is* that allowance, recorded as the
    target's tolerance (sodickson2009's shares: "whole percent: +-0.5 points"), and the
    rounding part is then 0 (:func:`rounding_in_calibration`).

    A target that the profile's ``[calibration.within_tolerance]`` record says the fit did
    not meet is reported as missed on every seed: ``within_tolerance`` false, ``status``
    ``"target not met"``, with the fit's model mean in the note; the verdict then does not
    depend on the seed.
``"extreme"``
    A sample maximum or minimum (the largest CED, the most CTs of one patient, the fastest
    crossing): random even in a perfect model. The table shows the central range of the
    model's distribution of that statistic over the validation seeds at full scale (the
    2.5% and 97.5% inverted-CDF quantiles: with 100 seeds the 3rd smallest to the 3rd largest
    value, which holds a new seed's value with probability 95/101, about 94%), and
    ``within_tolerance`` says whether this cohort's value lies in that range (``ok`` ``in`` /
    ``out``). A correct model puts one cohort's extreme outside it on about 6% of seeds, so
    these rows are shown but not counted: not in the headline's "N of N", not in
    ``Reproduction.ok`` nor the exit status. (Whether the *published* value lies in the range
    is a property of the model, the same on every seed: no evidence of a run.)
``"at_most"``
    An upper bound: the reproduced value must not exceed it.
``"aggregate"``
    Not derivable from exam data; recomputed from the published aggregate table (survey
    counts: percentages, a total of answers), within rounding.
``"restated"``
    A published number copied from a shipped table (the survey's facts and its own answer
    counts): shown, never compared (a comparison with a copy of itself could not fail).
``"not_reproduced"``
    Never compared.

Reduced cohorts
---------------
On a synthetic cohort of fewer patients than the profile's (``reproduce(n_patients=n)``),
counts, sample extremes and the per-site extremes (``"range_min"`` / ``"range_max"``: the
lowest or highest site, which on a small cohort is often a different, small site) are
*size-dependent*: their distribution changes with the cohort size beyond the ``sqrt(N / n)``
scaling of an SD, so they are shown and not compared (``status`` ``"size-dependent"``).

A verdict that could not fail, or not on one side, or that rests on too few patients, is
shown as ``"uninformative"`` and not counted (:func:`uninformative_reason`, at any cohort
size): its tolerance interval reaches past a bound of the values the figure can take (a
share of 1.33% +- 2 points accepts 0%; the median CED of the patients >= 100 mSv cannot be
below 100), or fewer than :data:`MIN_EXPECTED_EVENTS` patients with the figure's event are
expected in the cohort (1.33% of 300 patients: 4).

A design row that does not agree (a reduced cohort of 1 patient has 1 institution, not 4)
means the cohort analysed is not the study's design: :attr:`Reproduction.ok
<recurct.studies._reproduction.Reproduction.ok>` is then false and the headline begins by
saying so.

Tolerances are never widened to make a figure pass: a figure outside its tolerance is
reported as such (``within_tolerance`` false, ``Reproduction.ok`` false, exit code 1 of
``recurct reproduce``).

On the user's own exam table (``reproduce(exams=...)``) the same analysis runs on every
patient of the table (a study's selection of its cohort, e.g. sodickson2009's adults scanned
in 2007, is not applied: such rows are relabelled, ``Published.yours``, and the study says
so), and nothing computed from that table is asserted against the paper: the ``comparison``
column says ``"your data"`` and ``within_tolerance`` is null, and each row's note says how it
was computed on that table, or why it is blank (:func:`your_data_note`: no tolerance, no model
range, which belong to the synthetic cohort). The survey rows recomputed from
the published answer counts (``"aggregate"``) are checked in every mode, and the headline
says so.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl

from recurct._compat import renamed
from recurct.errors import ParameterError

__all__ = [
    "AT_BOUND",
    "COMPARISONS",
    "KINDS",
    "MIN_EXPECTED_EVENTS",
    "NULL_TOL",
    "SAMPLED",
    "STATUSES",
    "TABLE_SCHEMA",
    "YOUR_EXTREME_NOTE",
    "Measured",
    "Published",
    "Tolerance",
    "calibration_record",
    "calibration_tolerances",
    "compare",
    "comparison_table",
    "counted",
    "extreme_coverage",
    "family_z",
    "feasible_range",
    "fit_seeds",
    "fitted_targets",
    "headline_counts",
    "in_sample_text",
    "is_within",
    "n_sampled",
    "rounding_in_calibration",
    "sd_upper",
    "tolerance",
    "tolerance_parts",
    "uninformative",
    "uninformative_reason",
    "unmet_reason",
    "unmet_targets",
    "validation_record",
    "validation_seeds",
    "validation_seeds_text",
    "your_data_note",
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
    "restated",
    "not_reproduced",
]
COMPARISONS: tuple[str, ...] = get_args(Comparison)
Kind = Literal["generated", "derived", "design", "aggregate", "not_reproduced"]
KINDS: tuple[str, ...] = get_args(Kind)
#: Comparisons whose tolerance adds the calibration tolerance and z x the sampling SD.
SAMPLED = ("calibrated", "range_min", "range_max")
#: Comparisons whose distribution depends on the cohort size beyond the sqrt(N / n) scaling
#: of an SD: sample extremes and the lowest / highest site. Not compared on a reduced cohort.
SIZE_DEPENDENT_COMPARISONS = ("extreme", "range_min", "range_max")
_DEFAULT_KIND = {
    "exact": "design",
    "aggregate": "aggregate",
    "restated": "aggregate",
    "not_reproduced": "not_reproduced",
}

#: What became of a row (the ``status`` column): compared (``within_tolerance`` set), or why
#: not, or ``"target not met"`` (missed on every seed, see the module docstring).
STATUSES = (
    "compared",
    "target not met",
    "size-dependent",
    "uninformative",
    "restated",
    "not reproduced",
    "no value",
    "no stored range",
    "your data",
)

#: The ``evidence`` of a generated or derived row fitted to its published figure.
CALIBRATION_TARGET = "calibration target"
#: The ``evidence`` of a generated or derived row no fit used.
INDEPENDENT = "independent"
#: The ``evidence`` of a sample extreme whose published value is the smallest (or largest)
#: value the figure can take (rehani2020's "a single day"): the model's central range then
#: starts (or ends) at that bound, and ``in`` says nothing about the published value.
AT_BOUND = "published at its bound"

#: Relative slack for float representation only (1e-9 of the value); not a tolerance.
_FLOAT_EPS = 1e-9
#: Family-wise probability that one run of a correct model passes every generated figure.
FAMILY_LEVEL = 0.95
#: The central share of the model's distribution within which a published extreme is ``ok``.
EXTREME_LEVEL = 0.95
#: Confidence level of the upper bound of a sampling SD estimated over the validation seeds.
SD_LEVEL = 0.95
#: Fewest patients with (or, above 50%, without) a figure's event expected in the cohort for
#: its verdict to count (:func:`uninformative_reason`): below it a share's sampling spread is
#: far from normal and a verdict of "within" says little.
MIN_EXPECTED_EVENTS = 10
#: The values a figure can take, by unit (every other unit: 0 to infinity).
_FEASIBLE: dict[str, tuple[float, float]] = {"%": (0.0, 100.0)}


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


def sd_upper(sd: float, n_seeds: int | None, level: float = SD_LEVEL) -> float:
    """The one-sided upper ``level`` confidence bound of a standard deviation estimated as
    ``sd`` (ddof 1) over ``n_seeds`` seeds: ``sd x sqrt((n - 1) / chi2.ppf(1 - level, n -
    1))`` (the sample variance times (n - 1) over the true one is chi-square with n - 1
    degrees of freedom). 100 seeds: 1.134 x ``sd``. ``sd`` as given without a seed count (or
    with fewer than 2 seeds).

    The estimate over 100 seeds is as likely too small as too large, and a tolerance built on
    a too small SD fails a correct model more often than its level says (rehani2020's
    highest-institution share: SD 2.86 over the 100 validation seeds, 3.47 over 200 others).
    """
    if n_seeds is None or int(n_seeds) < 2:
        return float(sd)
    from scipy.stats import chi2

    df = int(n_seeds) - 1
    return float(sd) * math.sqrt(df / float(chi2.ppf(1.0 - level, df)))


def extreme_coverage(n_seeds: int, level: float = EXTREME_LEVEL) -> float:
    """The probability that a new seed's value lies in the central range of ``n_seeds``
    values (:func:`recurct.studies.validate.central_range`: the k-th smallest to the k-th
    largest, k = ceil(n (1 - level) / 2)): ``(n + 1 - 2k) / (n + 1)``, 95/101 (about 94%)
    for 100 seeds, whatever the distribution."""
    n = int(n_seeds)
    k = max(math.ceil(n * (1.0 - level) / 2.0 - 1e-9), 1)
    return max(n + 1 - 2 * k, 0) / (n + 1)


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
        for ``"exact"``, ``"aggregate"`` for ``"aggregate"`` and ``"restated"``,
        ``"not_reproduced"`` for that comparison, ``"generated"`` otherwise; a
        ``derived_from`` makes it ``"derived"``.
    derived_from : str
        For a derived row: the key of the row that implies it.
    bounds : tuple of float or None
        The values the figure can take, where narrower than its unit's (:func:`feasible_range`):
        ``(100, inf)`` for the median CED of the patients >= 100 mSv, ``(1, inf)`` for exams
        per patient.
    event_share : float or None
        For a figure computed from the patients with an event (a share of patients, a median
        over the patients >= 100 mSv): the published share of all patients (in %) who have
        it; with the cohort size it gives the expected number of such patients, and a verdict
        on fewer than :data:`MIN_EXPECTED_EVENTS` is uninformative (:func:`uninformative_reason`).
    yours : str
        The description on the user's table (``reproduce(exams)``), where ``description``
        names the paper's selection, which is not applied to your table ("adults scanned in
        2007" -> "patients in your table"); ``""``: ``description`` as it is.
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
    bounds: tuple[float, float] | None = None
    event_share: float | None = None
    yours: str = ""

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

    ``rounding``: half the published rounding unit (0 where the calibration tolerance is
    that allowance, :func:`rounding_in_calibration`); ``calibration``: the profile's
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


def rounding_in_calibration(fig: Published, calibration_tol: float | None) -> bool:
    """Whether the calibration tolerance of ``fig`` (in its unit) is its published rounding
    allowance itself: equal to half the rounding unit (to 1e-9, relative).

    Such a target was recorded as "the published value within its rounding" (sodickson2009's
    shares: "whole percent: +-0.5 points", atol 0.005 of a fraction = 0.5 points); adding
    half the unit again would count the rounding twice, so the comparison then takes the
    rounding part as 0. A calibration tolerance of any other size is a separate allowance of
    the fit, added to the rounding.
    """
    if not fig.rounding or calibration_tol is None:
        return False
    half = 0.5 * float(fig.rounding)
    return math.isclose(abs(float(calibration_tol)), half, rel_tol=_FLOAT_EPS, abs_tol=0.0)


def tolerance(
    fig: Published,
    calibration_tol: float | None = None,
    sd: float | None = None,
    z: float | None = None,
) -> float | None:
    """Absolute tolerance (in ``fig.unit``) within which ``fig`` counts as reproduced.

    ``exact``: 0. ``rounding``, ``aggregate``, ``at_most``: half the rounding unit (0 without
    one). ``calibrated``, ``range_min``, ``range_max``: half the rounding unit +
    ``calibration_tol`` + ``z x sd`` (the parts given; the rounding once, see
    :func:`rounding_in_calibration`). ``extreme``, ``restated`` and ``not_reproduced``:
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
    if fig.compare in ("not_reproduced", "restated"):
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
        if rounding_in_calibration(fig, calibration_tol):
            half = 0.0
        return Tolerance(rounding=half, calibration=cal, sampling=samp)
    return Tolerance(rounding=half)


def feasible_range(fig: Published) -> tuple[float, float]:
    """The values ``fig`` can take: its ``bounds`` where given (the median CED of the patients
    >= 100 mSv: 100 to infinity), else 0 to 100 for a share in %, else 0 to infinity (every
    figure of the studies is a count, a dose, a duration or a ratio of counts)."""
    if fig.bounds is not None:
        return (float(fig.bounds[0]), float(fig.bounds[1]))
    return _FEASIBLE.get(fig.unit, (0.0, math.inf))


def uninformative_reason(fig: Published, tol: float | None, n_patients: int | None = None) -> str:
    """Why a verdict with tolerance ``tol`` on a cohort of ``n_patients`` says nothing (``""``
    when it is informative).

    Uninformative are

    * a tolerance interval (the published value +- ``tol``) that reaches past either bound
      of the values the figure can take (:func:`feasible_range`): the normal approximation
      of the sampling part no longer holds, and the verdict cannot fail on that side (a share
      of 1.33% +- 2 points on 300 patients accepts 0%). A published value that is itself the
      bound (a lowest institution's share of 0%) has no such side and is judged on the other;
    * for an upper bound (``"at_most"``): the bound plus ``tol`` at or above the largest
      possible value;
    * a figure computed from the patients with an event (``fig.event_share``, a share of all
      patients) when fewer than :data:`MIN_EXPECTED_EVENTS` patients (of those with the
      event or, for a share above 50%, without it) are expected in ``n_patients``.
    """
    if tol is None or fig.compare in ("extreme", "exact"):
        return ""
    lo, hi = feasible_range(fig)
    where = f"±{tol:.4g} {fig.unit} around {fig.value:g}"
    if fig.compare == "at_most":
        if fig.value + tol >= hi:
            return f"{where} reaches the largest possible value ({hi:g})"
        return ""
    if fig.event_share is not None and n_patients is not None:
        share = min(float(fig.event_share), 100.0 - float(fig.event_share))
        expected = share / 100.0 * int(n_patients)
        if expected < MIN_EXPECTED_EVENTS:
            return (
                f"about {expected:.3g} of {int(n_patients):,} patients expected with the event "
                f"(published {float(fig.event_share):g}%): fewer than {MIN_EXPECTED_EVENTS}"
            )
    if fig.value > lo and fig.value - tol < lo:
        return f"{where} reaches below the smallest possible value ({lo:g})"
    if fig.value < hi and fig.value + tol > hi:
        return f"{where} reaches above the largest possible value ({hi:g})"
    return ""


def uninformative(fig: Published, tol: float | None, n_patients: int | None = None) -> bool:
    """Whether a verdict with tolerance ``tol`` (on a cohort of ``n_patients``) could not
    fail, or not on one side, or rests on too few patients: :func:`uninformative_reason`."""
    return bool(uninformative_reason(fig, tol, n_patients))


def is_within(
    fig: Published, reproduced: float | None, tol: float | Tolerance | None
) -> bool | None:
    """Whether ``reproduced`` matches ``fig`` within ``tol``; None where not comparable.

    An extreme (``tol`` a :class:`Tolerance` with a range) is within when ``reproduced``, this
    cohort's value, lies within the range (the model's central 95%): false on about 6% of the
    seeds of a correct model (:func:`extreme_coverage`), which is why extremes are not
    counted (:func:`counted`).
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
    for an extreme, the central 95% range of the model's distribution. The row's
    ``counted`` and ``evidence`` are set by :func:`comparison_table` (here: a comparable
    generated row that is not an extreme counts, evidence unknown).
    """
    parts = tolerance_parts(fig, calibration_tol, sd, z, central)
    value = None if measured is None else measured.value
    note = fig.note if measured is None or not measured.note else measured.note
    within = is_within(fig, value, parts)
    status = "compared"
    if fig.compare == "restated":
        status = "restated"
    elif fig.compare == "not_reproduced":
        status = "not reproduced"
    elif value is None or not math.isfinite(float(value)):
        status = "no value"
    elif fig.compare == "extreme" and parts is None:
        status = "no stored range"
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
        "status": status,
        "counted": bool(
            within is not None and fig.kind == "generated" and fig.compare != "extreme"
        ),
        "evidence": None,
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
    "status": pl.Utf8,
    "counted": pl.Boolean,
    "evidence": pl.Utf8,
}
NULL_TOL = dict.fromkeys(
    ("tolerance", "tol_rounding", "tol_calibration", "tol_sampling", "range_lo", "range_hi")
)


def n_sampled(published: Mapping[str, Published]) -> int:
    """How many generated figures a run judges by a sampling tolerance (the m of
    :func:`family_z`): generated rows other than the sample extremes, which are not counted
    (:func:`counted`)."""
    return sum(1 for f in published.values() if f.kind == "generated" and f.compare in SAMPLED)


def counted() -> pl.Expr:
    """The rows a verdict counts (headline, ``ok``, exit status): the ``counted`` column of a
    comparison table (:func:`comparison_table`): comparable ``generated`` rows other than the
    sample extremes (which a correct model puts outside their central 95% range on about 6%
    of seeds), and comparable ``derived`` rows whose source row is not compared."""
    return pl.col("counted").fill_null(False)


def _counts(rows: pl.DataFrame, verdict: str) -> tuple[int, int]:
    rows = rows.filter(pl.col(verdict).is_not_null())
    return rows.filter(pl.col(verdict)).height, rows.height


#: What the headline says of the counted calibration targets.
TARGETS_CAVEAT = (
    "the synthetic cohort was fitted to these published figures: this checks the fit and its "
    "sampling spread, not independent evidence"
)


def headline_counts(
    table: pl.DataFrame,
    verdict: str = "within_tolerance",
    extremes: str = "in the model's central 95% range",
    *,
    means: bool = False,
) -> str:
    """The counts of a comparison table in words, e.g. ``"5 of 5 calibration targets within
    tolerance (the synthetic cohort was fitted to these published figures: ...); sample
    extremes (not counted): 1 of 2 in the model's central 95% range; derived rows (implied
    by a compared row, not counted): 4 of 4 within tolerance; 5 design rows agree by
    construction"``.

    Only :func:`counted` rows are counted as figures, the calibration targets apart from the
    independent ones (``evidence``); the others are reported apart. "agree by construction"
    is said of design rows only, and only when every one agrees; a derived, design or
    aggregate row that does not agree is counted as such, never inside that phrase.
    ``means``: the verdicts are on means over seeds (:class:`~recurct.studies.validate.
    SeedRuns`).
    """
    of = "' means" if means else ""
    parts = []
    cnt = table.filter(counted())
    tgt = cnt.filter(pl.col("evidence") == CALIBRATION_TARGET)
    ind = cnt.filter(pl.col("evidence").fill_null(INDEPENDENT) != CALIBRATION_TARGET)
    if tgt.height:
        k, m = _counts(tgt, verdict)
        parts.append(f"{k} of {m} calibration targets{of} within tolerance ({TARGETS_CAVEAT})")
    if ind.height:
        k, m = _counts(ind, verdict)
        parts.append(f"{k} of {m} independent figures{of} within tolerance")
    if not cnt.height:
        parts.append("no counted figure compared")
    gen = table.filter(pl.col("comparison") == "extreme")
    a, b = _counts(gen, verdict)
    if b:
        parts.append(f"sample extremes (not counted): {a} of {b} {extremes}")
    derived = table.filter((pl.col("kind") == "derived") & ~counted())
    a, b = _counts(derived, verdict)
    if b:
        parts.append(
            f"derived rows (implied by a compared row, not counted): {a} of {b}{of} within "
            "tolerance"
        )
    design = table.filter(pl.col("kind") == "design")
    a, b = _counts(design, verdict)
    if b:
        parts.append(
            (f"{b} design rows agree" if b > 1 else "1 design row agrees") + " by construction"
            if a == b
            else f"design rows (inputs of the generator): {a} of {b} agree, {b - a} do NOT"
        )
    agg = table.filter(pl.col("comparison") == "aggregate")
    a, b = _counts(agg, verdict)
    if b:
        parts.append(
            f"{b} aggregate {'rows' if b > 1 else 'row'} recomputed from the published counts "
            + ("agree" if b > 1 else "agrees")
            if a == b
            else f"aggregate rows recomputed from the published counts: {a} of {b} agree"
        )
    n_restated = table.filter(pl.col("comparison") == "restated").height
    if n_restated:
        numbers = "numbers" if n_restated > 1 else "number"
        parts.append(f"{n_restated} published {numbers} restated (copies, not compared)")
    return "; ".join(parts)


def comparison_table(
    published: Mapping[str, Published],
    measured: Mapping[str, Measured],
    *,
    calibration: Mapping[str, float] | None = None,
    mode: Literal["synthetic", "your data"] = "synthetic",
    incomparable: Mapping[str, str] | None = None,
    validation: Mapping[str, Any] | None = None,
    sd_scale: float = 1.0,
    fit: Mapping[str, Any] | None = None,
    n_patients: int | None = None,
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
        Key -> reason: figures measured but not compared, ``status`` ``"size-dependent"``
        (counts, extremes and per-site extremes of a reduced cohort).
    validation
        The profile's validation record (:func:`validation_record`): per figure the sampling
        ``sd`` at full scale and, for extremes, the central range ``q_lo`` .. ``q_hi``; its
        ``n_seeds`` gives the upper confidence bound of each SD (:func:`sd_upper`; without
        it the SD is used as stored). Without a record the sampling part is 0 and extremes
        are not compared.
    sd_scale
        Multiplies every sampling SD (``sqrt(N / n)`` on a reduced cohort of n patients).
    fit
        The profile's ``[calibration]`` record: which targets were fitted (a counted row
        fitted to its figure is a ``"calibration target"``, the others ``"independent"``)
        and which the fit did not meet (reported as missed: ``"target not met"``).
    n_patients
        The cohort size: with a figure's ``event_share``, the expected number of patients its
        verdict rests on (:func:`uninformative_reason`); None: not checked.

    Returns
    -------
    polars.DataFrame
        :data:`TABLE_SCHEMA`: the comparison, with ``status`` (what became of the row, one of
        :data:`STATUSES`), ``counted`` (whether the verdict counts) and ``evidence``.
    """
    calibration = calibration or {}
    incomparable = incomparable or {}
    validation = validation or {}
    figures = validation.get("figures", {})
    n_val = validation.get("n_seeds")
    fitted = fitted_targets(fit or {})
    unmet = unmet_targets(fit or {}) if mode == "synthetic" else {}
    z = run_z(published)
    rows: dict[str, dict[str, Any]] = {}
    for key, fig in published.items():
        cal = calibration.get(fig.target) if fig.target else None
        if cal is not None:
            cal = cal * fig.target_scale
        rec = figures.get(key, {})
        # design inputs do not vary with the seed: no sampling part
        sd = rec.get("sd") if fig.kind in ("generated", "derived") else None
        if sd is not None:
            sd = sd_upper(float(sd), n_val) * sd_scale
        central = (rec["q_lo"], rec["q_hi"]) if "q_lo" in rec and "q_hi" in rec else None
        row = compare(fig, measured.get(key), cal, sd=sd, z=z, central=central)
        if fig.kind in ("generated", "derived") and mode == "synthetic":
            row["evidence"] = CALIBRATION_TARGET if fig.target in fitted else INDEPENDENT
            if fig.compare == "extreme" and (bound := _published_at_bound(fig)) is not None:
                row["evidence"] = AT_BOUND
                row["note"] = _at_bound_note(fig, bound, rec, n_val) + (
                    "; " + row["note"] if row["note"] else ""
                )
        if mode == "your data" and fig.compare not in (
            "not_reproduced",
            "aggregate",
            "restated",
        ):
            row.update(NULL_TOL, within_tolerance=None, comparison="your data")
            row.update(status="your data", description=fig.yours or fig.description)
            row["note"] = your_data_note(fig, measured.get(key))
        elif key in incomparable and row["reproduced"] is not None:
            row.update(NULL_TOL, within_tolerance=None, note=incomparable[key])
            row.update(status="size-dependent")
        elif row["within_tolerance"] is not None and (
            reason := uninformative_reason(fig, row["tolerance"], n_patients)
        ):
            why = f"uninformative at this size: {reason}; not compared"
            row.update(within_tolerance=None, status="uninformative")
            row["note"] = why + ("; " + row["note"] if row["note"] else "")
        if fig.target in unmet and fig.compare in SAMPLED and row["reproduced"] is not None:
            row.update(within_tolerance=False, status="target not met")
            reason = unmet_reason(fig, unmet[fig.target], cal, figures.get(key, {}))
            row["note"] = reason + ("; " + row["note"] if row["note"] else "")
        row["counted"] = bool(
            row["within_tolerance"] is not None
            and fig.kind == "generated"
            and fig.compare != "extreme"
        )
        rows[key] = row
    # a derived row whose source is not compared is compared in its place, and counted
    for key, fig in published.items():
        row = rows[key]
        src = rows.get(fig.derived_from) if fig.kind == "derived" else None
        if src is not None and src["within_tolerance"] is None:
            row["counted"] = row["within_tolerance"] is not None
    return pl.DataFrame(list(rows.values()), schema=TABLE_SCHEMA, orient="row")


#: The note of a sample extreme computed on your table (no model range is shown there).
YOUR_EXTREME_NOTE = (
    "a sample extreme of your table: it changes with the number of patients (the model's "
    "central 95% range belongs to the synthetic cohort; not shown here)"
)


def your_data_note(fig: Published, measured: Measured | None) -> str:
    """The note of a row computed on your table: the study's own note where its ``measure``
    gave one (how it was computed there, or why it is blank); else the figure's note without
    what belongs to the comparison on the synthetic cohort (its tolerance; for a sample
    extreme, the model's range), and a blank row says it was not computed."""
    if measured is not None and measured.note:
        return measured.note
    if measured is None or measured.value is None:
        return "not computed on your table"
    if fig.compare == "extreme":
        return YOUR_EXTREME_NOTE
    return fig.note.split("; tolerance:")[0]


def _published_at_bound(fig: Published) -> float | None:
    """The bound of :func:`feasible_range` that ``fig``'s published value lies at (or
    beyond), or None."""
    lo, hi = feasible_range(fig)
    if fig.value <= lo:
        return lo
    if fig.value >= hi:
        return hi
    return None


def _at_bound_note(
    fig: Published, bound: float, rec: Mapping[str, Any], n_seeds: int | None
) -> str:
    """The note of a sample extreme published at its bound (:data:`AT_BOUND`): its range's
    end at that bound says nothing about the published value; how often the model gives it,
    as far as the stored central range tells (its k-th smallest value over n seeds at the
    bound: at least k of n seeds gave it)."""
    text = (
        f"the published value ({fig.value:g} {fig.unit}) is the "
        f"{'smallest' if bound <= fig.value else 'largest'} value this figure can take, so "
        "the model's range reaching it, and this cohort's value in it, are no evidence for "
        "the paper's figure"
    )
    end = rec.get("q_lo") if bound <= fig.value else rec.get("q_hi")
    if n_seeds and end is not None and math.isclose(float(end), bound, abs_tol=_FLOAT_EPS):
        n = int(n_seeds)
        k = max(math.ceil(n * (1.0 - EXTREME_LEVEL) / 2.0 - 1e-9), 1)
        text += f" (the model gave it on at least {k} of {n} validation seeds)"
    return text


def unmet_reason(
    fig: Published, rec: Mapping[str, Any], cal: float | None, stored: Mapping[str, Any]
) -> str:
    """The note of a row whose calibration target the fit did not meet: the fit's model mean
    (``rec["achieved"]``, in the target's unit), the validation seeds' mean (``stored``) and
    the target with its calibration tolerance ``cal`` (in the figure's unit)."""
    unit = fig.unit if fig.unit == "%" else f" {fig.unit}"
    tol = "" if cal is None else f" ± {cal:.4g}"
    text = "the calibration did not meet this target"
    achieved = rec.get("achieved")
    if achieved is not None:
        text += f": model mean {float(achieved) * fig.target_scale:.4g}{unit} over the fit seeds"
        if stored.get("mean") is not None:
            text += f" ({float(stored['mean']):.4g}{unit} over the validation seeds)"
        text += f" against {fig.value:g}{unit}{tol}"
    return text + " (reported as missed on every seed)"


def _profile_calibration(profile: str) -> dict[str, Any]:
    from recurct.synthetic.model import load_profile

    try:
        cal = load_profile(profile).calibration or {}
    except (OSError, ValueError):
        return {}
    return cal if isinstance(cal, Mapping) else {}


def calibration_record(profile: str) -> dict[str, Any]:
    """The profile's ``[calibration]`` record (``{}`` without one)."""
    return dict(_profile_calibration(profile))


def fitted_targets(fit: Mapping[str, Any]) -> set[str]:
    """The targets of a ``[calibration]`` record that the fit used: every entry of
    ``[calibration.targets]`` but those marked ``fit = false`` (exact by design, or a
    check only)."""
    targets = fit.get("targets", {})
    if not isinstance(targets, Mapping):
        return set()
    return {
        str(name)
        for name, spec in targets.items()
        if not (isinstance(spec, Mapping) and spec.get("fit") is False)
    }


def unmet_targets(fit: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets that a ``[calibration]`` record says the fit did not meet
    (``[calibration.within_tolerance]`` false): name -> ``{"achieved": the fit's model mean,
    in the target's unit, or None}``."""
    within = fit.get("within_tolerance", {})
    achieved = fit.get("achieved", {})
    if not isinstance(within, Mapping):
        return {}
    achieved = achieved if isinstance(achieved, Mapping) else {}
    return {
        str(name): {"achieved": achieved.get(name)} for name, ok in within.items() if ok is False
    }


def fit_seeds(fit: Mapping[str, Any]) -> tuple[int, ...]:
    """The seeds a ``[calibration]`` record's fit used (``fit_seeds``, else its ``seed``;
    none without a record)."""
    if not fit:
        return ()
    seeds = fit.get("fit_seeds")
    if seeds is None:
        seeds = [fit["seed"]] if "seed" in fit else []
    return tuple(int(s) for s in seeds)


def _seed_list(seeds: Collection[int]) -> str:
    s = sorted(seeds)
    if s and s == list(range(s[0], s[0] + len(s))) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ",".join(map(str, s))


def in_sample_text(seeds: Collection[int], fitted: Collection[int]) -> str:
    """What a run says when its seeds were seeds the profile was fitted on ("" otherwise):
    ``"in-sample: seed 0 was one of the seeds the profile was fitted on (fit seeds 0-99)"``."""
    used = sorted({int(s) for s in seeds} & {int(s) for s in fitted})
    if not used:
        return ""
    fit = f"fit seeds {_seed_list(fitted)}"
    if len(seeds) == 1:
        return f"in-sample: seed {used[0]} was one of the seeds the profile was fitted on ({fit})"
    if len(used) == len(seeds):
        return f"in-sample: all {len(used)} seeds were seeds the profile was fitted on ({fit})"
    return (
        f"in-sample: {len(used)} of {len(seeds)} seeds ({_seed_list(used)}) were seeds the "
        f"profile was fitted on ({fit})"
    )


def validation_seeds(validation: Mapping[str, Any]) -> tuple[int, ...]:
    """The seeds of a ``[calibration.validation]`` record (its ``seeds``: ``"1000-1099"``,
    ``"1,5,9"`` or a list of ints); none without a record."""
    seeds = validation.get("seeds") if validation else None
    if seeds is None:
        return ()
    if not isinstance(seeds, str):
        return tuple(int(s) for s in seeds)
    out: list[int] = []
    for part in seeds.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return tuple(out)


def validation_seeds_text(seeds: Collection[int], validation: Collection[int]) -> str:
    """What a run on many seeds says when its seeds were seeds of the profile's validation
    record ("" otherwise): there the stored central ranges of the extremes and the SDs of the
    tolerances were taken over these very seeds, so the extremes' ``seeds ok`` holds by
    construction: ``"validation seeds: all 20 seeds were seeds of the profile's validation
    record (seeds 1000-1099): the stored ranges and SDs were taken over these seeds"``."""
    used = sorted({int(s) for s in seeds} & {int(s) for s in validation})
    if not used:
        return ""
    record = f"seeds {_seed_list(validation)}"
    if len(seeds) == 1:
        which = f"seed {used[0]} was one of the seeds"
    elif len(used) == len(seeds):
        which = f"all {len(used)} seeds were seeds"
    else:
        which = f"{len(used)} of {len(seeds)} seeds ({_seed_list(used)}) were seeds"
    return (
        f"validation seeds: {which} of the profile's validation record ({record}): the stored "
        "ranges and SDs were taken over these seeds"
    )


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
    validation seeds, disjoint from the calibration's ``fit_seeds``), ``n_seeds``,
    ``n_patients`` (the full-scale cohort size), and per published figure
    (``figures.<key>``) the ``mean``, ``sd`` (ddof 1), and central 95% range ``q_lo`` ..
    ``q_hi`` of the figure over those seeds, at full precision.
    """
    rec = _profile_calibration(profile).get("validation", {})
    return dict(rec) if isinstance(rec, Mapping) else {}
