"""The result of a study's ``reproduce()``: the comparison table, its verdict, its files."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    import pandas as pd

from recurct import _checks
from recurct.studies._figures import (
    CALIBRATION_TARGET,
    counted,
    extreme_coverage,
    headline_counts,
    in_sample_text,
)
from recurct.studies._format import format_table

__all__ = ["Reproduction", "extremes_note"]


def _ordinal(k: int) -> str:
    return {1: "", 2: "2nd ", 3: "3rd "}.get(k, f"{k}th ")


def extremes_note(n_seeds: int | None, checked: Mapping[str, Any] | None = None) -> str:
    """The legend of the sample extremes, under a table that has some: what their range is
    and how often a correct model's cohort falls outside it (:func:`~recurct.studies.
    _figures.extreme_coverage`), from the number of validation seeds it was taken over.

    ``checked``: how often the extremes fell outside their stored ranges on seeds outside
    the validation record (a study's ``EXTREMES_ON_NEW_SEEDS``: ``seeds``, ``n_seeds``,
    ``outside`` figure -> count). Where given, the legend states that measured rate instead
    of the rate of exchangeable seeds, which holds on average over validation blocks but
    not for one block whose range came out narrow (sodickson2009)."""
    text = (
        "Sample extremes (tolerance '95%: lo–hi', ok in/out) are not counted: one cohort's value\n"
        "is shown against the model's central 95% range over the validation seeds"
    )
    if not n_seeds:
        return text + "."
    n = int(n_seeds)
    k = max(math.ceil(n * 0.025 - 1e-9), 1)
    out = 1.0 - extreme_coverage(n)
    if checked:
        import textwrap

        m = int(checked["n_seeds"])
        rates = ", ".join(
            f"{key} {int(c)} ({100 * int(c) / m:.1f}%)" for key, c in checked["outside"].items()
        )
        tail = (
            f"(the {_ordinal(k)}smallest to the {_ordinal(k)}largest of {n} seeds' values). On "
            f"{m} other seeds ({checked['seeds']}) one cohort's value fell outside it on: "
            f"{rates}; more than the {2 * k}/{n + 1} (about {100 * out:.0f}%) of a seed "
            f"exchangeable with the validation seeds: this range, taken over {n} seeds, came "
            "out narrow."
        )
        return text + "\n" + textwrap.fill(tail, width=90)
    return (
        f"{text}\n(the {_ordinal(k)}smallest to the {_ordinal(k)}largest of {n} seeds' values), "
        f"which a new seed of a correct\nmodel falls outside of with probability {2 * k}/"
        f"{n + 1} (about {100 * out:.0f}% of seeds)."
    )


@dataclass
class Reproduction:
    """The result of a study's ``reproduce()``.

    Attributes
    ----------
    study : str
        Module name of the study (``"rehani2020"``).
    source : str
        Citation of the paper.
    table : polars.DataFrame or pandas.DataFrame
        One row per published figure: ``figure``, ``description``, ``unit``, ``published``,
        ``reproduced``, ``reproduced_lo``, ``reproduced_hi`` (its 95% CI, where it has one),
        ``tolerance`` and its parts (``tol_rounding``,
        ``tol_calibration``, ``tol_sampling``), ``range_lo`` / ``range_hi`` (an extreme's
        central 95% range), ``within_tolerance`` (bool, null where not comparable; for an
        extreme: this cohort's value within that range), ``kind``,
        ``comparison`` (how it was compared, or "your data"), ``note``, ``status`` (what
        became of the row: compared, or why not), ``counted`` (whether its verdict counts)
        and ``evidence`` (``"calibration target"``: the synthetic cohort was fitted to this
        published figure; ``"independent"``: no fit used it; ``"published at its bound"``: a
        sample extreme published at the smallest or largest value it can take, on which its
        ``in`` says nothing).
    mode : {"synthetic", "your data"}
        Whether the exams were the study's calibrated synthetic cohort or the user's table.
    patients, exams : polars.DataFrame, pandas.DataFrame or None
        The patients table and the exams analysed.
    extra : dict
        Other tables of the analysis (magnitude table, site table, time-to-threshold curve).

    Every table is pandas when ``reproduce()`` was given a pandas exam table, else polars.
    not_published : tuple of str
        Figures one might expect that the paper does not give (left out, with this note).
    seconds : float or None
        Run time (not part of the saved table: ``table.md`` is deterministic).
    seed : int or None
        Seed of the synthetic cohort.
    fit_seeds : tuple of int
        The seeds the synthetic profile was fitted on (its ``[calibration]`` record): a run on
        one of them is in-sample, and says so.
    validation_seeds : int or None
        How many validation seeds the stored ranges and SDs were taken over.
    input_path : pathlib.Path or None
        The file or folder the exams were read from (``exams`` given as a path), else None:
        :meth:`save` refuses an output folder inside it or holding it.
    caveat : str
        On your data: what the run does not do as the paper did (sodickson2009: its cohort
        selection, adults with a CT in 2007, is not applied), and the notes on your table:
        what it left out of some figures (rehani2020: patients without a facility, left out
        of the per-institution figures); each line a ``note:`` line of :meth:`summary`.
    n_rows_in, n_rows_out : int or None
        On your data: the rows read (of the file, or of the table given) and the exams
        analysed; None on the synthetic cohort. ``recurct reproduce --exams`` records the
        rows of the file and those ``--drop-bad`` left out.
    dropped_by_reason : dict of str to int
        On your data: the rows left out, by reason (``--drop-bad``; a row with several
        problems counts under each); empty where none was.
    dose_method : dict of str to int
        On your data: how the effective doses of the exams analysed were obtained, the
        exams per ``dose_method`` (``"aapm96/nearest-lower"``, where the dose was computed
        from the DLP; :data:`recurct.dose.SUPPLIED_METHOD` where it was given), most first;
        empty on the synthetic cohort. In the summary and the manifest.
    extremes_checked : mapping or None
        How often the sample extremes fell outside their stored ranges on seeds outside the
        validation record (the study's ``EXTREMES_ON_NEW_SEEDS``), stated in the legend
        (:func:`extremes_note`) where measured.
    """

    study: str
    source: str
    table: pl.DataFrame | pd.DataFrame
    mode: Literal["synthetic", "your data"]
    patients: pl.DataFrame | pd.DataFrame | None = None
    exams: pl.DataFrame | pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    not_published: tuple[str, ...] = ()
    seconds: float | None = None
    seed: int | None = None
    fit_seeds: tuple[int, ...] = ()
    validation_seeds: int | None = None
    input_path: Path | None = None
    caveat: str = ""
    extremes_checked: Mapping[str, Any] | None = None
    n_rows_in: int | None = None
    n_rows_out: int | None = None
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    dose_method: dict[str, int] = field(default_factory=dict)
    _figure_fn: Callable[[Reproduction], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def _table(self) -> pl.DataFrame:
        """The table as polars, whatever the caller's library."""
        return self.table if isinstance(self.table, pl.DataFrame) else pl.from_pandas(self.table)

    def _as_table(self, df: pl.DataFrame) -> pl.DataFrame | pd.DataFrame:
        """``df`` in the library of :attr:`table`."""
        from recurct._frames import from_polars

        return df if isinstance(self.table, pl.DataFrame) else from_polars(df, "pandas")

    @property
    def comparable(self) -> pl.DataFrame:
        """Rows whose ``within_tolerance`` is not null."""
        return self._as_table(self._table.filter(pl.col("within_tolerance").is_not_null()))

    @property
    def counted_rows(self) -> pl.DataFrame:
        """The rows whose verdict counts (headline, :attr:`ok`, exit status): comparable
        ``generated`` rows but the sample extremes, and comparable derived rows whose source
        is not compared."""
        return self._as_table(self._table.filter(counted()))

    @property
    def calibration_targets(self) -> pl.DataFrame:
        """The counted rows that are calibration targets: the synthetic cohort was fitted to
        these published figures, so their verdicts check the fit and its sampling spread, not
        independent evidence."""
        return self._as_table(
            self._table.filter(counted() & (pl.col("evidence") == CALIBRATION_TARGET))
        )

    @property
    def independent(self) -> pl.DataFrame:
        """The counted rows that are independent evidence: no fit used their published figure
        (none in the shipped studies, whose counted figures are all calibration targets)."""
        return self._as_table(
            self._table.filter(counted() & (pl.col("evidence").fill_null("") != CALIBRATION_TARGET))
        )

    @property
    def in_sample(self) -> bool:
        """Whether this synthetic cohort's seed is one the profile was fitted on."""
        return self.mode == "synthetic" and self.seed is not None and self.seed in self.fit_seeds

    @property
    def failed(self) -> pl.DataFrame:
        """Comparable rows outside their tolerance (of any kind; a sample extreme outside its
        central 95% range is not a failure, see :attr:`outside_range`)."""
        return self._as_table(
            self._table.filter(
                pl.col("within_tolerance").eq(False) & (pl.col("comparison") != "extreme")
            )
        )

    @property
    def outside_range(self) -> pl.DataFrame:
        """Sample extremes whose value lies outside the model's central 95% range: on about
        6% of a correct model's seeds for a range over 100 exchangeable validation seeds, more
        where the stored range came out narrow (sodickson2009: about 16% measured, see
        :attr:`extremes_checked`), so shown but not counted."""
        return self._as_table(
            self._table.filter(
                pl.col("within_tolerance").eq(False) & (pl.col("comparison") == "extreme")
            )
        )

    @property
    def ok(self) -> bool:
        """True when every counted row (:attr:`counted_rows`) lies within its tolerance.

        Design and aggregate rows are checked and shown but do not count, nor do derived rows
        whose source row is compared (they follow from it); a derived row whose source is not
        compared (a count on a reduced cohort) is compared in its place and counts. Nor do
        the sample extremes: one cohort's extreme lies outside the model's central 95% range
        on about 6% of seeds of a correct model. A calibration target that the fit did not
        meet counts as missed on every seed.

        False, too, when a design row does not agree (:attr:`design_differs`): the cohort
        analysed is then not the study's design (a reduced cohort of 1 patient has 1
        institution, not 4), whatever its other rows say.

        When no row is counted (a reduced cohort on which every counted figure is
        size-dependent or ``uninformative``: ``sodickson2009.reproduce(n_patients=1,
        seed=3)``, ``eurosafe2021.reproduce(n_patients=300, seed=3)``) and the design
        agrees, ``ok`` is True vacuously: nothing was compared, so nothing failed. The
        :meth:`headline` then says ``no counted figure compared``."""
        rows = self._table.filter(counted())
        return not rows["within_tolerance"].eq(False).any() and self._differing().is_empty()

    def _differing(self) -> pl.DataFrame:
        """The design rows that do not agree with the paper's (polars)."""
        return self._table.filter(
            (pl.col("kind") == "design") & pl.col("within_tolerance").eq(False)
        )

    @property
    def design_differs(self) -> pl.DataFrame:
        """The design rows (inputs of the generator) that do not agree with the paper: on a
        reduced cohort, institutions or countries without a patient. Any such row makes
        :attr:`ok` false and is named at the head of :meth:`headline`."""
        return self._as_table(self._differing())

    def figures(self) -> dict[str, Any]:
        """The study's figures: name -> :class:`matplotlib.figure.Figure`."""
        return {} if self._figure_fn is None else self._figure_fn(self)

    def to_text(self) -> str:
        """The comparison table as fixed-width plain text."""
        return format_table(self._table)

    def to_markdown(self) -> str:
        """The comparison table as Markdown (with the keys and notes)."""
        return format_table(self._table, markdown=True)

    def headline(self) -> str:
        """One line: e.g. ``rehani2020: 5 of 5 calibration targets within tolerance (the
        synthetic cohort was fitted to these published figures: ...); sample extremes (not
        counted): 2 of 2 in the model's central 95% range; derived rows (...): 4 of 4 within
        tolerance; 5 design rows agree by construction``, and, on a seed the profile was
        fitted on, ``in-sample: seed 0 was one of the seeds the profile was fitted on``; on
        your data, how many of the published figures were computed on your table."""
        if self.mode == "your data":
            table = self._table
            done = table.filter(
                (pl.col("comparison") == "your data") & pl.col("reproduced").is_not_null()
            ).height
            text = (
                f"{self.study}: your data: {done} of {table.height} published figures "
                "computed on your exam table for comparison; nothing computed from your table "
                "is asserted against the paper"
            )
            agg = table.filter(
                (pl.col("comparison") == "aggregate") & pl.col("within_tolerance").is_not_null()
            )
            if agg.height:
                a = agg.filter(pl.col("within_tolerance")).height
                text += (
                    f" (the {agg.height} figures recomputed from the paper's published answer "
                    f"counts, not from your table, are checked as on the synthetic cohort: {a} "
                    f"of {agg.height} agree)"
                )
            return text
        text = f"{self.study}: " + headline_counts(self._table)
        differs = self._differing()
        if differs.height:
            what = ", ".join(
                f"{r['figure']} {r['reproduced']:g} against {r['published']:g}"
                for r in differs.iter_rows(named=True)
            )
            text = (
                f"{self.study}: the design differs from the paper's ({what}): the cohort "
                "analysed is not the study's, so the run is not ok; "
                + text.removeprefix(f"{self.study}: ")
            )
        if self.in_sample:
            text += "; " + in_sample_text([self.seed], self.fit_seeds)  # type: ignore[list-item]
        return text

    def summary(self) -> str:
        """A few lines: the headline, what was not compared, what failed, the cohort size.

        Deterministic (no run time), so that ``table.md`` is the same on every run."""
        table = self._table
        n_nr = table.filter(pl.col("kind") == "not_reproduced").height
        lines = [self.headline(), self.source]
        if self.mode == "your data":
            lines += self._input_lines()
        lines += [f"note: {c}" for c in self.caveat.splitlines() if c]
        if self.mode == "synthetic":
            n_open = table.filter(
                pl.col("within_tolerance").is_null()
                & ~pl.col("status").is_in(["not reproduced", "restated"])
            ).height
            extra = [f"{n_nr} not reproducible"] if n_nr else []
            if n_open:
                extra.append(f"{n_open} not compared (see the notes)")
            if extra:
                lines.append(", ".join(extra) + ".")
            failed = table.filter(
                pl.col("within_tolerance").eq(False) & (pl.col("comparison") != "extreme")
            )["figure"].to_list()
            if failed:
                lines.append("outside tolerance: " + ", ".join(failed))
            for r in table.filter(pl.col("status") == "target not met").iter_rows(named=True):
                lines.append(f"{r['figure']}: {r['note'].split('; ')[0]}")
            for status, what in (
                ("size-dependent", "size-dependent: not compared at this size (counts, sample "
                 "and per-site extremes)"),
                ("uninformative", "uninformative at this size (the tolerance reaches past a "
                 "possible bound, or too few patients with the event; not counted)"),
            ):  # fmt: skip
                keys = table.filter(pl.col("status") == status)["figure"].to_list()
                if keys:
                    lines.append(f"{what}: " + ", ".join(keys))
            if table.filter(pl.col("status") == "restated").height:
                lines.append(
                    "restated: published numbers copied from the shipped survey table, shown "
                    "and not compared."
                )
            extremes = table.filter(
                (pl.col("comparison") == "extreme") & pl.col("within_tolerance").is_not_null()
            )
            if extremes.height:
                lines.append(extremes_note(self.validation_seeds, self.extremes_checked))
                out = extremes.filter(~pl.col("within_tolerance"))["figure"].to_list()
                if out:
                    lines.append("outside the central 95% range (not counted): " + ", ".join(out))
        if self.patients is not None:
            lines.append(
                f"{len(self.patients):,} patients"
                + (f", {len(self.exams):,} exams" if self.exams is not None else "")
                + (f", seed {self.seed}" if self.mode == "synthetic" else "")
            )
        if self.not_published:
            lines.append("not published (left out): " + "; ".join(self.not_published))
        return "\n".join(lines)

    def _input_lines(self) -> list[str]:
        """What your table was: the file read, its rows and those left out, and how its
        effective doses were obtained (lines of :meth:`summary`, on your data)."""
        name = "your exam table" if self.input_path is None else self.input_path.name
        n_in, n_out = self.n_rows_in, self.n_rows_out
        text = f"input: {name}"
        if n_in is not None and n_out is not None:
            text += f": {n_in:,} rows read, {n_out:,} exams analysed"
        lines = [text]
        if self.dropped_by_reason:
            n = (n_in - n_out) if n_in is not None and n_out is not None else None
            head = f"{n:,} rows left out" if n is not None else "rows left out"
            lines.append(
                f"{head} (a row with several problems counts under each): "
                + "; ".join(f"{r} ({k:,})" for r, k in self.dropped_by_reason.items())
            )
        if self.dose_method:
            from recurct.dose.effective import dose_methods_text

            lines.append("effective dose: " + dose_methods_text(self.dose_method))
        return lines

    def save(self, out: str | Path, *, figures: bool = True, overwrite: bool = False) -> list[Path]:
        """Write ``table.csv``, ``table.md`` and each figure as PNG and SVG into ``out``.

        The folder is complete or absent (:func:`recurct._outdir.output_folder`): the files
        are written into a temporary sibling that is renamed on success, with a manifest
        written last; an existing non-empty ``out`` is refused unless ``overwrite=True``,
        which replaces it whole. An ``out`` inside the file or folder the exams were read
        from (:attr:`input_path`), or holding it, is refused, whatever ``overwrite`` says.
        """
        figures = _checks.flag(figures, "Reproduction.save", "figures")
        overwrite = _checks.flag(overwrite, "Reproduction.save", "overwrite")
        from recurct._outdir import output_folder

        target = Path(out)
        params: dict[str, Any] = {"study": self.study, "mode": self.mode, "seed": self.seed}
        if self.mode == "your data":  # what the result came from (a name, no path)
            params.update(
                input=None if self.input_path is None else self.input_path.name,
                n_rows_in=self.n_rows_in,
                n_rows_out=self.n_rows_out,
                dropped_by_reason=dict(self.dropped_by_reason),
                dose_method=dict(self.dose_method),
            )
        names = ["table.csv", "table.md"]
        inputs = [self.input_path] if self.input_path is not None else []
        with output_folder(
            target,
            overwrite=overwrite,
            kind="reproduce",
            parameters=params,
            inputs=inputs,
            hashes=True,
        ) as f:
            self._table.write_csv(f.path / "table.csv")
            (f.path / "table.md").write_text(
                f"# {self.study}\n\n{self.to_markdown()}\n{self.summary()}\n",
                encoding="utf-8",
            )
            f.record("table.csv", len(self.table))
            if figures:
                for name, fig in self.figures().items():
                    for ext in ("png", "svg"):
                        fig.savefig(f.path / f"{name}.{ext}", dpi=120)
                        names.append(f"{name}.{ext}")
        return [target / n for n in names]

    def __repr__(self) -> str:
        return f"<Reproduction {self.study} ({self.mode}), ok={self.ok}>\n{self.to_text()}"
