"""What every study module shares: published figures, the comparison rule, the result object.

A study module holds ``SOURCE`` (the citation), ``PUBLISHED`` (a dict key ->
:class:`Published`, every figure of ``reference/PUBLISHED.md`` for that study, numbers copied
exactly) and ``reproduce()``, which measures the same quantities on an exam table and returns a
:class:`Reproduction`.

How a figure is compared (``Published.compare``)
------------------------------------------------
``"exact"``
    A count fixed by the design of the synthetic cohort (patients, sites, countries): equal.
``"rounding"``
    Within half the unit of the last published digit (1.33% -> +-0.005 percentage points).
``"calibrated"``
    A figure the synthetic profile was calibrated to: within
    ``half the rounding unit + the calibration tolerance recorded in the profile for that
    target``. The two add up: the true value lies anywhere within half a unit of the
    published, rounded one, and the calibrated model may lie anywhere within its tolerance of
    the true value. The same rule covers ``"range_min"`` / ``"range_max"`` (the lowest /
    highest value over the sites of a "13.4% to 28% by institution" range).
``"extreme"``
    A sample maximum: random even in a perfect model. The calibration matches it in
    expectation over seeds and records the spread of the maximum over seeds (``<target>_sd_
    over_seeds``); one realisation (one seed) is then compared within the calibration
    tolerance of that expectation plus ``1.96 x`` that standard deviation (the range of 95%
    of the realisations of a model whose expectation lies within its tolerance), plus half
    the rounding unit. Without a recorded spread, the calibration tolerance alone is used.
``"at_most"``
    An upper bound ("a single day"): the reproduced value must not exceed it.
``"aggregate"``
    Not derivable from exam data; recomputed from the published aggregate table (survey
    counts), within rounding.
``"not_reproduced"``
    No way to compute it (e.g. a risk model whose tables are not shipped); listed with the
    reason, never compared.

Tolerances are never widened to make a figure pass: a figure outside its tolerance is
reported as such (``within_tolerance`` false, ``Reproduction.ok`` false, exit code 1 of
``recurct reproduce``).

On the user's own exam table (``reproduce(exams=...)``) the same analysis runs, but nothing is
asserted against the paper: the ``comparison`` column says ``"your data"`` and
``within_tolerance`` is null.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import polars as pl

__all__ = [
    "COMPARISONS",
    "Measured",
    "Published",
    "Reproduction",
    "calibration_tolerances",
    "compare",
    "comparison_table",
    "format_table",
    "is_within",
    "tolerance",
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
_CALIBRATED = ("calibrated", "range_min", "range_max", "extreme")

#: Relative slack for float representation only (1e-9 of the value); not a tolerance.
_FLOAT_EPS = 1e-9


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
    target_scale : float
        Converts the target's tolerance to ``unit``: 100 for a share target (a fraction)
        compared in %, ``n_patients`` for a count derived from a share of an exact number of
        patients, ``1 / n_patients`` for a ratio of a count target to an exact count.
    note : str
        How it is measured, or why it is not reproduced.
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

    def __post_init__(self) -> None:
        if self.compare not in COMPARISONS:
            raise ValueError(f"{self.key}: compare must be one of {COMPARISONS}")


@dataclass(frozen=True)
class Measured:
    """A value measured by a reproduction (same unit as the published figure)."""

    value: float | None
    ci_lo: float | None = None
    ci_hi: float | None = None
    note: str = ""


def tolerance(fig: Published, calibration_tol: float | None = None) -> float | None:
    """Absolute tolerance (in ``fig.unit``) within which ``fig`` counts as reproduced.

    ``exact``: 0. ``rounding``, ``aggregate``, ``at_most``: half the rounding unit (0 without
    one). Calibrated kinds: ``half the rounding unit + calibration_tol``.
    ``not_reproduced``: None.
    """
    if fig.compare == "not_reproduced":
        return None
    if fig.compare == "exact":
        return 0.0
    half = 0.5 * fig.rounding if fig.rounding else 0.0
    if fig.compare in _CALIBRATED and calibration_tol is not None:
        return half + float(calibration_tol)
    return half


def is_within(fig: Published, reproduced: float | None, tol: float | None) -> bool | None:
    """Whether ``reproduced`` matches ``fig`` within ``tol``; None where not comparable."""
    if tol is None or reproduced is None or not math.isfinite(float(reproduced)):
        return None
    slack = _FLOAT_EPS * max(abs(fig.value), abs(float(reproduced)), 1.0)
    if fig.compare == "at_most":
        return float(reproduced) <= fig.value + tol + slack
    return abs(float(reproduced) - fig.value) <= tol + slack


def compare(
    fig: Published, measured: Measured | None, calibration_tol: float | None = None
) -> dict[str, Any]:
    """One row of the comparison table for ``fig`` (synthetic-cohort mode)."""
    tol = tolerance(fig, calibration_tol)
    value = None if measured is None else measured.value
    note = fig.note if measured is None or not measured.note else measured.note
    within = is_within(fig, value, tol)
    if value is None and fig.compare != "not_reproduced":
        tol = None
    return {
        "figure": fig.key,
        "description": fig.description,
        "unit": fig.unit,
        "published": float(fig.value),
        "reproduced": None if value is None else float(value),
        "ci_lo": None if measured is None else measured.ci_lo,
        "ci_hi": None if measured is None else measured.ci_hi,
        "tolerance": tol,
        "within_tolerance": within,
        "comparison": fig.compare,
        "note": note,
    }


TABLE_SCHEMA: dict[str, Any] = {
    "figure": pl.Utf8,
    "description": pl.Utf8,
    "unit": pl.Utf8,
    "published": pl.Float64,
    "reproduced": pl.Float64,
    "ci_lo": pl.Float64,
    "ci_hi": pl.Float64,
    "tolerance": pl.Float64,
    "within_tolerance": pl.Boolean,
    "comparison": pl.Utf8,
    "note": pl.Utf8,
}


def comparison_table(
    published: Mapping[str, Published],
    measured: Mapping[str, Measured],
    *,
    calibration: Mapping[str, float] | None = None,
    mode: Literal["synthetic", "your data"] = "synthetic",
    incomparable: Mapping[str, str] | None = None,
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
    """
    calibration = calibration or {}
    incomparable = incomparable or {}
    rows = []
    for key, fig in published.items():
        cal = calibration.get(fig.target) if fig.target else None
        if cal is not None:
            cal = cal * fig.target_scale
        row = compare(fig, measured.get(key), cal)
        if mode == "your data" and fig.compare not in ("not_reproduced", "aggregate"):
            row.update(tolerance=None, within_tolerance=None, comparison="your data")
        elif key in incomparable:
            row.update(tolerance=None, within_tolerance=None, note=incomparable[key])
        rows.append(row)
    return pl.DataFrame(rows, schema=TABLE_SCHEMA, orient="row")


def calibration_tolerances(profile: str) -> dict[str, float]:
    """Calibration target -> absolute tolerance recorded in a synthetic profile.

    Reads the ``[calibration.targets]`` record of ``recurct.synthetic`` profile files (written
    by ``python -m recurct.synthetic.calibrate``): a target's tolerance is its ``atol``, or
    ``rtol x |value|``, in the unit of the target (fractions for shares). A target matched in
    expectation over seeds (``check = "<x>_mean_over_seeds"``, a sample extreme) whose spread
    over seeds is recorded (``<x>_sd_over_seeds`` in ``[calibration.achieved]``) gets its
    tolerance plus ``1.96 x`` that standard deviation: the expectation may lie anywhere
    within the tolerance, and one realisation within 1.96 sd of it. Targets without a
    recorded tolerance (and profiles without a calibration) are left out: their figures then
    fall back to half the published rounding unit.
    """
    from recurct.synthetic.model import load_profile

    try:
        cal = load_profile(profile).calibration or {}
    except (OSError, ValueError):
        return {}
    targets = cal.get("targets", {})
    achieved = cal.get("achieved", {})
    out: dict[str, float] = {}
    if not isinstance(targets, Mapping):
        return out
    for name, spec in targets.items():
        if not isinstance(spec, Mapping):
            continue
        check = str(spec.get("check", ""))
        spread = None
        if check.endswith("_mean_over_seeds") and isinstance(achieved, Mapping):
            spread = achieved.get(check.removesuffix("_mean_over_seeds") + "_sd_over_seeds")
        tol = None
        if spec.get("atol") is not None:
            tol = abs(float(spec["atol"]))
        elif spec.get("rtol") is not None and spec.get("value") is not None:
            tol = abs(float(spec["rtol"]) * float(spec["value"]))
        elif spec.get("tolerance") is not None:
            tol = abs(float(spec["tolerance"]))
        if spread is not None:
            out[str(name)] = (tol or 0.0) + 1.96 * abs(float(spread))
        elif tol is not None:
            out[str(name)] = tol
    return out


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


_TEXT_COLUMNS = (
    ("figure", "figure"),
    ("unit", "unit"),
    ("published", "published"),
    ("reproduced", "reproduced"),
    ("ci", "95% CI"),
    ("tolerance", "tol"),
    ("within_tolerance", "ok"),
    ("comparison", "how"),
)


def _text_rows(table: pl.DataFrame) -> list[list[str]]:
    rows = []
    for r in table.iter_rows(named=True):
        ci = ""
        if r["ci_lo"] is not None and r["ci_hi"] is not None:
            ci = f"{_fmt(r['ci_lo'])}-{_fmt(r['ci_hi'])}"
        tol = "" if r["tolerance"] is None else "±" + _fmt(r["tolerance"], 3)
        if r["comparison"] == "at_most" and r["tolerance"] is not None:
            tol = "<= pub"
        within = r["within_tolerance"]
        ok = "-" if within is None else ("yes" if within else "NO")
        cells = {
            "figure": r["figure"],
            "unit": r["unit"],
            "published": _fmt(r["published"]),
            "reproduced": _fmt(r["reproduced"]),
            "ci": ci,
            "tolerance": tol,
            "within_tolerance": ok,
            "comparison": r["comparison"],
        }
        rows.append([cells[c] for c, _ in _TEXT_COLUMNS])
    return rows


def format_table(table: pl.DataFrame, *, markdown: bool = False) -> str:
    """The comparison table as fixed-width plain text (or a Markdown table), with notes."""
    header = [h for _, h in _TEXT_COLUMNS]
    rows = _text_rows(table)
    if markdown:
        lines = ["| " + " | ".join([*header, "note"]) + " |"]
        lines.append("|" + "|".join("---" for _ in range(len(header) + 1)) + "|")
        for cells, note in zip(rows, table["note"].to_list()):
            esc = [c.replace("|", "\\|") for c in [*cells, note or ""]]
            lines.append("| " + " | ".join(esc) + " |")
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    numeric = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    lines += [line(r) for r in rows]
    return "\n".join(lines) + "\n"


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
        ``reproduced``, ``ci_lo``, ``ci_hi``, ``tolerance``, ``within_tolerance`` (bool, null
        where not comparable), ``comparison`` (how it was compared, or "your data"), ``note``.
    mode : {"synthetic", "your data"}
        Whether the exams were the study's calibrated synthetic cohort or the user's table.
    patients, exams : polars.DataFrame or None
        The patients table and the exams analysed.
    extra : dict
        Other tables of the analysis (magnitude table, site table, time-to-threshold curve).
    not_published : tuple of str
        Figures one might expect that the paper does not give (left out, with this note).
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
    _figure_fn: Callable[[Reproduction], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def comparable(self) -> pl.DataFrame:
        """Rows whose ``within_tolerance`` is not null."""
        return self.table.filter(pl.col("within_tolerance").is_not_null())

    @property
    def failed(self) -> pl.DataFrame:
        """Comparable rows outside their tolerance."""
        return self.table.filter(pl.col("within_tolerance").eq(False))

    @property
    def ok(self) -> bool:
        """True when every comparable figure lies within its tolerance."""
        return self.failed.height == 0

    def figures(self) -> dict[str, Any]:
        """The study's figures: name -> :class:`matplotlib.figure.Figure`."""
        return {} if self._figure_fn is None else self._figure_fn(self)

    def to_text(self) -> str:
        """The comparison table as fixed-width plain text."""
        return format_table(self.table)

    def to_markdown(self) -> str:
        """The comparison table as Markdown (with the notes)."""
        return format_table(self.table, markdown=True)

    def summary(self) -> str:
        """A few lines: what was compared and what passed."""
        n = self.table.height
        comp = self.comparable
        n_ok = comp.filter(pl.col("within_tolerance")).height
        n_nr = self.table.filter(pl.col("comparison") == "not_reproduced").height
        head = f"{self.study}: {self.source}"
        if self.mode == "your data":
            lines = [
                head,
                f"your data: {n} published figures computed on your exam table for comparison; "
                "nothing is asserted against the paper.",
            ]
        else:
            lines = [
                head,
                f"synthetic cohort: {n_ok} of {comp.height} comparable figures within tolerance; "
                f"{n - comp.height} not compared ({n_nr} not reproducible).",
            ]
            if self.failed.height:
                lines.append("outside tolerance: " + ", ".join(self.failed["figure"].to_list()))
        if self.patients is not None:
            lines.append(
                f"{self.patients.height:,} patients"
                + (f", {self.exams.height:,} exams" if self.exams is not None else "")
                + (f", {self.seconds:.1f} s" if self.seconds is not None else "")
            )
        if self.not_published:
            lines.append("not published (left out): " + "; ".join(self.not_published))
        return "\n".join(lines)

    def save(self, out: str | Path, *, figures: bool = True) -> list[Path]:
        """Write ``table.csv``, ``table.md`` and each figure as PNG and SVG into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "table.csv", out / "table.md"]
        self.table.write_csv(written[0])
        written[1].write_text(
            f"# {self.study}\n\n{self.source}\n\n{self.to_markdown()}\n{self.summary()}\n",
            encoding="utf-8",
        )
        if figures:
            for name, fig in self.figures().items():
                for ext in ("png", "svg"):
                    path = out / f"{name}.{ext}"
                    fig.savefig(path, dpi=120)
                    written.append(path)
        return written

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
        exams = read_exams(exams)
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
    mode)`` the figures, and compare them with ``published`` (the profile's calibration
    tolerances in synthetic mode). On a reduced synthetic cohort (``n_patients``) the
    ``size_dependent`` figures (counts, sample extremes) are reported but not compared.
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
    if n_patients is not None:
        why = f"reduced cohort ({n_patients:,} patients): counts and extremes not compared"
        incomparable = dict.fromkeys(size_dependent, why)
    table = comparison_table(
        published,
        measured,
        calibration=calibration_tolerances(study) if mode == "synthetic" else {},
        mode=mode,
        incomparable=incomparable,
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
        _figure_fn=figures,
    )
