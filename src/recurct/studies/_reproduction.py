"""The result of a study's ``reproduce()``: the comparison table, its verdict, its files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    import pandas as pd

from recurct import _checks
from recurct.studies._figures import counted, headline_counts
from recurct.studies._format import format_table

__all__ = ["Reproduction"]

#: The legend of the sample extremes, under a table that has some.
_EXTREMES_NOTE = (
    "Sample extremes (tolerance '95%: lo–hi', ok in/out) are not counted: one cohort's value\n"
    "is shown against the model's central 95% range over the validation seeds, outside it on\n"
    "5% of the seeds of a correct model."
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
        ``comparison`` (how it was compared, or "your data"), ``note``.
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
    def independent(self) -> pl.DataFrame:
        """Comparable ``generated`` rows but the sample extremes: the figures that count
        (headline, exit status)."""
        return self._as_table(
            self._table.filter(pl.col("within_tolerance").is_not_null() & counted())
        )

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
        """Sample extremes whose value lies outside the model's central 95% range: expected
        on 5% of a correct model's seeds, so shown but not counted."""
        return self._as_table(
            self._table.filter(
                pl.col("within_tolerance").eq(False) & (pl.col("comparison") == "extreme")
            )
        )

    @property
    def ok(self) -> bool:
        """True when every comparable ``generated`` figure lies within its tolerance.

        Design, derived and aggregate rows are checked and shown but do not count: they agree
        by construction (or follow from a generated row that is counted). Nor do the sample
        extremes: one cohort's extreme lies outside the model's central 95% range on 5% of
        seeds of a correct model."""
        independent = self._table.filter(counted())
        return not independent["within_tolerance"].eq(False).any()

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
        """One line: e.g. ``rehani2020: 5 of 5 independent figures within tolerance; sample
        extremes (not counted): 2 of 2 in the model's central 95% range; 9 design/derived rows
        agree by construction``; on your data, how many of the published figures were
        computed on your table."""
        if self.mode == "your data":
            table = self._table
            done = table.filter(
                (pl.col("comparison") == "your data") & pl.col("reproduced").is_not_null()
            ).height
            return (
                f"{self.study}: your data: {done} of {table.height} published figures "
                "computed on your exam table for comparison; nothing is asserted against the "
                "paper"
            )
        return f"{self.study}: " + headline_counts(self._table)

    def summary(self) -> str:
        """A few lines: the headline, what was not compared, what failed, the cohort size.

        Deterministic (no run time), so that ``table.md`` is the same on every run."""
        table = self._table
        n_nr = table.filter(pl.col("kind") == "not_reproduced").height
        lines = [self.headline(), self.source]
        if self.mode == "synthetic":
            n_open = table.height - len(self.comparable) - n_nr
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
            extremes = table.filter(
                (pl.col("comparison") == "extreme") & pl.col("within_tolerance").is_not_null()
            )
            if extremes.height:
                lines.append(_EXTREMES_NOTE)
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

    def save(self, out: str | Path, *, figures: bool = True, overwrite: bool = False) -> list[Path]:
        """Write ``table.csv``, ``table.md`` and each figure as PNG and SVG into ``out``.

        The folder is complete or absent (:func:`recurct._outdir.output_folder`): the files
        are written into a temporary sibling that is renamed on success, with a manifest
        written last; an existing non-empty ``out`` is refused unless ``overwrite=True``,
        which replaces it whole.
        """
        figures = _checks.flag(figures, "Reproduction.save", "figures")
        overwrite = _checks.flag(overwrite, "Reproduction.save", "overwrite")
        from recurct._outdir import output_folder

        target = Path(out)
        params = {"study": self.study, "mode": self.mode, "seed": self.seed}
        names = ["table.csv", "table.md"]
        with output_folder(target, overwrite=overwrite, kind="reproduce", parameters=params) as f:
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
