"""What every study module shares: published figures, the comparison rule, the result object.

A study module holds ``SOURCE`` (the citation), ``PUBLISHED`` (a dict key ->
:class:`Published`, every figure of ``docs/sources.md`` for that study, numbers copied
exactly) and ``reproduce()``, which measures the same quantities on an exam table and returns a
:class:`Reproduction`.

What each row is (``Published.kind``)
------------------------------------
``"generated"``
    Computed from the generated exams and not implied by another row: the figures a
    reproduction can get wrong. The headline and the exit status of ``recurct reproduce``
    count these only.
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
    crossing): random even in a perfect model, so one cohort's value says little. It is
    ``ok`` when the published value lies within the central 95% (the 2.5% to 97.5%
    quantiles) of the model's distribution of that statistic over the validation seeds at
    full scale; the table shows that range next to this cohort's value. The verdict is a
    property of the model, the same on every seed.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import polars as pl

__all__ = [
    "COMPARISONS",
    "KINDS",
    "Measured",
    "Published",
    "Reproduction",
    "calibration_tolerances",
    "compare",
    "comparison_table",
    "family_z",
    "format_table",
    "headline_counts",
    "is_within",
    "parse_seeds",
    "tolerance",
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
_SAMPLED = ("calibrated", "range_min", "range_max")
_DEFAULT_KIND = {"exact": "design", "aggregate": "aggregate", "not_reproduced": "not_reproduced"}

#: Relative slack for float representation only (1e-9 of the value); not a tolerance.
_FLOAT_EPS = 1e-9
#: Family-wise probability that one run of a correct model passes every generated figure.
FAMILY_LEVEL = 0.95
#: The central share of the model's distribution within which a published extreme is ``ok``.
EXTREME_LEVEL = 0.95


def family_z(m: int, level: float = FAMILY_LEVEL) -> float:
    """The z of the sampling part of the tolerance for ``m`` figures judged together (Šidák).

    ``z = Phi^-1(1 - (1 - level^(1/m)) / 2)``: each figure is then passed with probability
    ``level^(1/m)`` by a model whose expectation equals the published value, so all ``m``
    with probability >= ``level``. By Šidák's inequality this holds for normally distributed
    figures whatever their correlation (``P(all |X_i| <= c_i) >= prod P(|X_i| <= c_i)``), not
    only for independent ones. ``m`` = 1 gives 1.96 at 95%; ``m`` = 5 gives 2.57.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
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
            raise ValueError(f"{self.key}: compare must be one of {COMPARISONS}")
        kind = self.kind
        if kind is None:
            kind = "derived" if self.derived_from else _DEFAULT_KIND.get(self.compare, "generated")
            object.__setattr__(self, "kind", kind)
        if kind not in KINDS:
            raise ValueError(f"{self.key}: kind must be one of {KINDS}")
        if (kind == "derived") != bool(self.derived_from):
            raise ValueError(f"{self.key}: a derived row names the row it is derived from")


@dataclass(frozen=True)
class Measured:
    """A value measured by a reproduction (same unit as the published figure)."""

    value: float | None
    ci_lo: float | None = None
    ci_hi: float | None = None
    note: str = ""


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
    if fig.compare in _SAMPLED:
        cal = 0.0 if calibration_tol is None else abs(float(calibration_tol))
        samp = 0.0 if sd is None or z is None else abs(float(z) * float(sd))
        return Tolerance(rounding=half, calibration=cal, sampling=samp)
    return Tolerance(rounding=half)


def is_within(
    fig: Published, reproduced: float | None, tol: float | Tolerance | None
) -> bool | None:
    """Whether ``reproduced`` matches ``fig`` within ``tol``; None where not comparable.

    An extreme (``tol`` a :class:`Tolerance` with a range) is within when the *published*
    value lies within the range (widened by half its rounding unit), whatever ``reproduced``.
    """
    if tol is None or reproduced is None or not math.isfinite(float(reproduced)):
        return None
    if isinstance(tol, Tolerance):
        if tol.lo is not None and tol.hi is not None:
            slack = _FLOAT_EPS * max(abs(fig.value), abs(tol.lo), abs(tol.hi), 1.0)
            return tol.lo - tol.rounding - slack <= fig.value <= tol.hi + tol.rounding + slack
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
        "ci_lo": None if measured is None else measured.ci_lo,
        "ci_hi": None if measured is None else measured.ci_hi,
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
    "ci_lo": pl.Float64,
    "ci_hi": pl.Float64,
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
_NULL_TOL = dict.fromkeys(
    ("tolerance", "tol_rounding", "tol_calibration", "tol_sampling", "range_lo", "range_hi")
)


def n_sampled(published: Mapping[str, Published]) -> int:
    """How many generated figures a run judges by a sampling tolerance (the m of
    :func:`family_z`): generated rows other than extremes, whose verdict is not random."""
    return sum(
        1 for f in published.values() if f.kind == "generated" and f.compare in _SAMPLED
    )


def headline_counts(table: pl.DataFrame, verdict: str = "within_tolerance") -> str:
    """``"7 of 7 independent figures within tolerance; 9 design/derived rows agree by
    construction"`` (plus the aggregate rows, where there are some) from a comparison table:
    only ``generated`` rows are counted as figures; the others are reported apart."""

    def counts(kinds: tuple[str, ...]) -> tuple[int, int]:
        rows = table.filter(pl.col("kind").is_in(kinds) & pl.col(verdict).is_not_null())
        return rows.filter(pl.col(verdict)).height, rows.height

    k, m = counts(("generated",))
    text = f"{k} of {m} independent figures within tolerance"
    for kinds, what, how in (
        (("design", "derived"), "design/derived rows", "agree by construction"),
        (("aggregate",), "aggregate rows", "recomputed from the published counts agree"),
    ):
        a, b = counts(kinds)
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
    z = family_z(max(n_sampled(published), 1))
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
            row.update(_NULL_TOL, within_tolerance=None, comparison="your data")
        elif key in incomparable:
            row.update(_NULL_TOL, within_tolerance=None, note=incomparable[key])
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
    by ``python -m recurct.synthetic.calibrate``): a target's tolerance is its ``atol``, or
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


def parse_seeds(spec: str | int | Sequence[int]) -> list[int]:
    """Seeds from ``"20"`` (seeds 0..19), ``"100-119"`` (a range, both ends included),
    ``"1,5,9"`` (a list) or a sequence of ints; ``ValueError`` otherwise."""
    if isinstance(spec, int):
        spec = str(spec)
    if not isinstance(spec, str):
        seeds = [int(s) for s in spec]
    else:
        text = spec.strip()
        try:
            if "," in text:
                seeds = [int(s) for s in text.split(",") if s.strip()]
            elif "-" in text[1:]:
                i = text.index("-", 1)
                lo, hi = int(text[:i]), int(text[i + 1 :])
                if hi < lo:
                    raise ValueError
                seeds = list(range(lo, hi + 1))
            else:
                n = int(text)
                if n < 1:
                    raise ValueError
                seeds = list(range(n))
        except ValueError:
            raise ValueError(
                f"--seeds {spec!r}: give a count (20), a range (100-119) or a list (1,5,9)"
            ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct non-negative integers, got {spec!r}")
    return seeds


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:,.{digits}g}"
    return str(v)


def _tol_text(r: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(tolerance, half unit, calibration, z x SD) cells of a row."""
    if r.get("range_lo") is not None:
        return f"95%: {_fmt(r['range_lo'])}–{_fmt(r['range_hi'])}", "", "", ""
    if r["tolerance"] is None:
        return "", "", "", ""
    if r["comparison"] == "at_most":
        return "<= pub", "", "", ""
    parts = [r.get("tol_rounding"), r.get("tol_calibration"), r.get("tol_sampling")]
    cells = ["" if v is None or (v == 0 and i) else _fmt(v, 3) for i, v in enumerate(parts)]
    return ("±" + _fmt(r["tolerance"], 3), *cells)  # type: ignore[return-value]


_TEXT_COLUMNS = (
    ("description", "figure"),
    ("kind", "kind"),
    ("unit", "unit"),
    ("published", "published"),
    ("reproduced", "reproduced"),
    ("tolerance", "tolerance"),
    ("tol_rounding", "½ unit"),
    ("tol_calibration", "calib."),
    ("tol_sampling", "z×SD"),
    ("within_tolerance", "ok"),
    ("figure", "key"),
)
_NUMERIC = {3, 4, 5, 6, 7, 8}


def _text_rows(table: pl.DataFrame) -> list[list[str]]:
    rows = []
    for r in table.iter_rows(named=True):
        within = r["within_tolerance"]
        tol, half, cal, samp = _tol_text(r)
        kind = r.get("kind") or ""
        cells = {
            "description": r.get("description") or r["figure"],
            "kind": "not repr." if kind == "not_reproduced" else kind,
            "unit": r["unit"],
            "published": _fmt(r["published"]),
            "reproduced": _fmt(r["reproduced"]),
            "tolerance": tol,
            "tol_rounding": half,
            "tol_calibration": cal,
            "tol_sampling": samp,
            "within_tolerance": "-" if within is None else ("yes" if within else "NO"),
            "figure": r["figure"],
        }
        rows.append([cells[c] for c, _ in _TEXT_COLUMNS])
    return rows


def _grid(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]  # fmt: skip

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    from recurct.stats.publish import _markdown_grid

    return _markdown_grid(header, rows)


def format_table(table: pl.DataFrame, *, markdown: bool = False) -> str:
    """The comparison table as fixed-width plain text (or a Markdown table, with the notes):
    the description and kind of each figure, the published and reproduced values, the
    tolerance and its parts (half the rounding unit, the calibration tolerance, z x the
    sampling SD) or, for an extreme, the model's central 95% range, the verdict and the
    figure's key."""
    header = [h for _, h in _TEXT_COLUMNS]
    rows = _text_rows(table)
    if markdown:
        notes = table["note"].to_list()
        rows = [[c[0], c[-1], *c[1:-1], n or ""] for c, n in zip(rows, notes)]
        return _markdown([header[0], "key", *header[1:-1], "note"], rows)
    return _grid(header, rows, _NUMERIC)


@dataclass
class Reproduction:
    """The result of a study's ``reproduce()``.

    Attributes
    ----------
    study : str
        Module name of the study (``"rehani2020"``).
    source : str
        Citation of the paper.
    table : polars.DataFrame
        One row per published figure: ``figure``, ``description``, ``unit``, ``published``,
        ``reproduced``, ``ci_lo``, ``ci_hi``, ``tolerance`` and its parts (``tol_rounding``,
        ``tol_calibration``, ``tol_sampling``), ``range_lo`` / ``range_hi`` (an extreme's
        central 95% range), ``within_tolerance`` (bool, null where not comparable), ``kind``,
        ``comparison`` (how it was compared, or "your data"), ``note``.
    mode : {"synthetic", "your data"}
        Whether the exams were the study's calibrated synthetic cohort or the user's table.
    patients, exams : polars.DataFrame or None
        The patients table and the exams analysed.
    extra : dict
        Other tables of the analysis (magnitude table, site table, time-to-threshold curve).
    not_published : tuple of str
        Figures one might expect that the paper does not give (left out, with this note).
    seconds : float or None
        Run time (not part of the saved table: ``table.md`` is deterministic).
    seed : int or None
        Seed of the synthetic cohort.
    """

    study: str
    source: str
    table: pl.DataFrame
    mode: Literal["synthetic", "your data"]
    patients: pl.DataFrame | None = None
    exams: pl.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    not_published: tuple[str, ...] = ()
    seconds: float | None = None
    seed: int | None = None
    _figure_fn: Callable[[Reproduction], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def comparable(self) -> pl.DataFrame:
        """Rows whose ``within_tolerance`` is not null."""
        return self.table.filter(pl.col("within_tolerance").is_not_null())

    @property
    def independent(self) -> pl.DataFrame:
        """Comparable ``generated`` rows: the figures that count (headline, exit status)."""
        return self.comparable.filter(pl.col("kind") == "generated")

    @property
    def failed(self) -> pl.DataFrame:
        """Comparable rows outside their tolerance (of any kind)."""
        return self.table.filter(pl.col("within_tolerance").eq(False))

    @property
    def ok(self) -> bool:
        """True when every comparable ``generated`` figure lies within its tolerance.

        Design, derived and aggregate rows are checked and shown but do not count: they agree
        by construction (or follow from a generated row that is counted)."""
        return self.independent.filter(~pl.col("within_tolerance")).height == 0

    def figures(self) -> dict[str, Any]:
        """The study's figures: name -> :class:`matplotlib.figure.Figure`."""
        return {} if self._figure_fn is None else self._figure_fn(self)

    def to_text(self) -> str:
        """The comparison table as fixed-width plain text."""
        return format_table(self.table)

    def to_markdown(self) -> str:
        """The comparison table as Markdown (with the keys and notes)."""
        return format_table(self.table, markdown=True)

    def headline(self) -> str:
        """One line: e.g. ``rehani2020: 7 of 7 independent figures within tolerance; 9
        design/derived rows agree by construction``."""
        if self.mode == "your data":
            return (
                f"{self.study}: your data: {self.table.height} published figures computed on "
                "your exam table for comparison; nothing is asserted against the paper"
            )
        return f"{self.study}: " + headline_counts(self.table)

    def summary(self) -> str:
        """A few lines: the headline, what was not compared, what failed, the cohort size.

        Deterministic (no run time), so that ``table.md`` is the same on every run."""
        n_nr = self.table.filter(pl.col("kind") == "not_reproduced").height
        lines = [self.headline(), self.source]
        if self.mode == "synthetic":
            n_open = self.table.height - self.comparable.height - n_nr
            extra = [f"{n_nr} not reproducible"] if n_nr else []
            if n_open:
                extra.append(f"{n_open} not compared (see the notes)")
            if extra:
                lines.append(", ".join(extra) + ".")
            if self.failed.height:
                lines.append("outside tolerance: " + ", ".join(self.failed["figure"].to_list()))
        if self.patients is not None:
            lines.append(
                f"{self.patients.height:,} patients"
                + (f", {self.exams.height:,} exams" if self.exams is not None else "")
                + (f", seed {self.seed}" if self.mode == "synthetic" else "")
            )
        if self.not_published:
            lines.append("not published (left out): " + "; ".join(self.not_published))
        return "\n".join(lines)

    def save(
        self, out: str | Path, *, figures: bool = True, overwrite: bool = False
    ) -> list[Path]:
        """Write ``table.csv``, ``table.md`` and each figure as PNG and SVG into ``out``.

        The folder is complete or absent (:func:`recurct._outdir.output_folder`): the files
        are written into a temporary sibling that is renamed on success, with a manifest
        written last; an existing non-empty ``out`` is refused unless ``overwrite=True``,
        which replaces it whole.
        """
        from recurct._outdir import output_folder

        target = Path(out)
        params = {"study": self.study, "mode": self.mode, "seed": self.seed}
        names = ["table.csv", "table.md"]
        with output_folder(target, overwrite=overwrite, kind="reproduce", parameters=params) as f:
            self.table.write_csv(f.path / "table.csv")
            (f.path / "table.md").write_text(
                f"# {self.study}\n\n{self.to_markdown()}\n{self.summary()}\n",
                encoding="utf-8",
            )
            f.record("table.csv", self.table.height)
            if figures:
                for name, fig in self.figures().items():
                    for ext in ("png", "svg"):
                        fig.savefig(f.path / f"{name}.{ext}", dpi=120)
                        names.append(f"{name}.{ext}")
        return [target / n for n in names]

    def __repr__(self) -> str:
        return f"<Reproduction {self.study} ({self.mode}), ok={self.ok}>\n{self.to_text()}"


def progress_fn(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    """A function reporting progress lines: a callable as given, True -> stderr, False -> none."""
    if callable(progress):
        return progress
    if progress:
        import sys

        def report(msg: str) -> None:
            sys.stderr.write(f"[recurct] {msg}\n")
            sys.stderr.flush()

        return report
    return lambda msg: None


def load_exams(
    profile: str,
    exams: Any,
    seed: int,
    n_patients: int | None,
    report: Callable[[str], None],
) -> tuple[pl.DataFrame, Literal["synthetic", "your data"]]:
    """The exam table to analyse: the user's (validated) or the study's synthetic cohort."""
    from recurct._frames import to_polars

    if exams is None:
        import recurct.synthetic as synthetic

        n = "the profile's" if n_patients is None else f"{n_patients:,}"
        report(f"generating the synthetic '{profile}' cohort ({n} patients, seed {seed}) ...")
        ex = synthetic.generate(profile, n_patients=n_patients, seed=seed)
        if isinstance(ex, (str, Path)):  # pragma: no cover - generate(out=None) returns a frame
            raise TypeError("synthetic.generate returned a path; expected a table")
        report(f"generated {ex.height:,} exams")
        return ex, "synthetic"
    if n_patients is not None:
        raise ValueError("n_patients only applies to the synthetic cohort (exams=None)")
    if isinstance(exams, (str, Path)):
        from recurct.io import read_exams

        report(f"reading {exams} ...")
        exams = read_exams(exams).exams
    from recurct.schema import validate

    df, _ = to_polars(exams)
    return validate(df), "your data"


def share_measured(k: int, n: int, note: str = "") -> Measured:
    """``100 k / n`` in % with its Wilson 95% CI."""
    if n == 0:
        return Measured(None, note=note or "no patients")
    from recurct.stats import proportion_ci

    lo, hi = proportion_ci(k, n)
    return Measured(100.0 * k / n, 100.0 * float(lo), 100.0 * float(hi), note)


def opt(v: Any, scale: float = 1.0) -> float | None:
    """``float(v) * scale``, or None for a null."""
    return None if v is None else float(v) * scale


def run_study(
    *,
    study: str,
    source: str,
    published: Mapping[str, Published],
    not_published: tuple[str, ...],
    thresholds: tuple[float, ...],
    measure: Callable[[pl.DataFrame, pl.DataFrame, str], tuple[dict[str, Measured], dict]],
    figures: Callable[[Reproduction], dict[str, Any]],
    size_dependent: tuple[str, ...],
    exams: Any,
    seed: int,
    progress: bool | Callable[[str], None],
    n_patients: int | None,
) -> Reproduction:
    """The common path of every study's ``reproduce()``.

    Load the exams (the study's synthetic profile when ``exams`` is None), compute the patients
    table with :func:`recurct.cumulative_dose` at ``thresholds``, ``measure(exams, patients,
    mode)`` the figures, and compare them with ``published`` (in synthetic mode, with the
    profile's calibration tolerances and validation record). On a reduced synthetic cohort
    (``n_patients``) the ``size_dependent`` figures (counts, sample extremes) are reported but
    not compared, and the sampling SDs are scaled by ``sqrt(N / n)``.
    """
    import time

    from recurct import cumulative_dose

    t0 = time.perf_counter()
    report = progress_fn(progress)
    ex, mode = load_exams(study, exams, seed, n_patients, report)
    report("cumulative dose per patient ...")
    patients = cumulative_dose(ex, thresholds=thresholds)
    report("statistics ...")
    measured, extra = measure(ex, patients, mode)
    incomparable: dict[str, str] = {}
    validation = validation_record(study) if mode == "synthetic" else {}
    sd_scale = 1.0
    if n_patients is not None:
        why = f"reduced cohort ({n_patients:,} patients): counts and extremes not compared"
        incomparable = dict.fromkeys(size_dependent, why)
        full = validation.get("n_patients")
        if full:  # sampling SD of a cohort n times smaller: sqrt(N / n) times larger
            sd_scale = math.sqrt(float(full) / max(patients.height, 1))
    table = comparison_table(
        published,
        measured,
        calibration=calibration_tolerances(study) if mode == "synthetic" else {},
        mode=mode,
        incomparable=incomparable,
        validation=validation,
        sd_scale=sd_scale,
    )
    return Reproduction(
        study=study,
        source=source,
        table=table,
        mode=mode,
        patients=patients,
        exams=ex,
        extra=extra,
        not_published=not_published,
        seconds=time.perf_counter() - t0,
        seed=seed if mode == "synthetic" else None,
        _figure_fn=figures,
    )
