"""Handlers of ``recurct analyze`` and ``recurct validate``.

Their options are in :mod:`recurct.cli._options`.

``analyze`` prints the magnitude table under readable labels, shares as percentages (labelled
"%"), and writes the same table with ``--out``: ``.csv`` holds the same numbers under the same
labels as the printed table (all columns), ``.md``, ``.tex`` and ``.xlsx`` the publication form
("n (%, 95% CI)" cells, :func:`recurct.stats.publication_table`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import polars as pl

from recurct.cli._errors import EXIT_FAILED, EXIT_OK, InputError, _cli_text, cli_error
from recurct.cli._input import (
    ROW_COLUMN,
    dose_noting,
    grouped,
    load_exams,
    read_and_validate,
)
from recurct.cli._options import (
    analysis_options,
    check_input_options,
    dose_options,
    input_paths,
)

__all__ = ["analyze_table", "cli_analyze", "cli_validate"]

#: Columns of the magnitude table printed by ``recurct analyze`` (``--out x.csv`` has all).
PRINTED = (
    "window_days",
    "threshold",
    "n_patients",
    "n_exams",
    "n_reached",
    "share",
    "share_lo",
    "share_hi",
    "ced_median",
    "ced_max",
    "days_to_median",
)
_OUT_FORMATS = (".csv", ".md", ".tex", ".xlsx")
_DIGITS = 3  # decimals kept in the printed and the CSV table alike


def analyze_table(exams: pl.DataFrame, options: dict[str, Any]) -> tuple[pl.DataFrame, Any]:
    """``(magnitude table, patients)`` for the analysis options of ``recurct analyze``.

    With windows, each window ``W`` adds rows (``window_days = W``) counting patients whose CED
    within some ``W``-day window reached the threshold (``ced_*`` are then window CEDs; the
    time-to-threshold columns are null); ``window_days`` is ``"whole follow-up"`` on the rows
    of the usual magnitude table.
    """
    from recurct import cumulative_dose
    from recurct.stats import age_band, magnitude
    from recurct.stats._common import AGE_EDGES

    thresholds, windows, by = options["thresholds"], options["window_days"], options["by"]
    patients = cumulative_dose(exams, thresholds=thresholds, window_days=windows or None)
    if "age_band" in by:
        if "age_first_exam" not in patients.columns:
            raise InputError("--by age_band needs ages: the file has no age_years column")
        edges = options["age_edges"] or AGE_EDGES
        patients = age_band(patients, edges, labels=_age_label_style(edges))
    missing = [c for c in by if c not in patients.columns]
    if missing:
        have = [c for c in ("sex", "facility", "indication") if c in patients.columns]
        if "age_first_exam" in patients.columns:
            have.insert(0, "age_band")
        raise InputError(
            f"--by {', '.join(missing)}: not a column of the file's patients; "
            + (f"choose from {', '.join(have)}" if have else "the file has none to stratify by")
        )
    table = magnitude(patients, thresholds, by=by or None)
    if not windows:
        return table, patients
    parts = [table.with_columns(pl.lit("whole follow-up").alias("window_days"))]
    drop = [
        c
        for c in patients.columns
        if c.startswith(("reached_", "days_to_", "exams_to_", "date_reached_", "age_reached_"))
    ]
    for w in windows:
        lab = str(w)
        pw = patients.drop(drop).with_columns(pl.col(f"max_ced_{lab}").alias("ced_msv"))
        t = magnitude(pw, thresholds, by=by or None)
        parts.append(t.with_columns(pl.lit(lab).alias("window_days")))
    out = pl.concat(parts, how="diagonal_relaxed")
    return out.select("window_days", *[c for c in out.columns if c != "window_days"]), patients


def _age_label_style(edges: Any) -> str:
    """Unambiguous labels of the half-open age bands ``[lo, hi)``.

    Whole-year edges give ``"18-29"`` (ages 18 to under 30, the epidemiological convention
    for completed years), so that no age appears to belong to two bands (``"0-18"`` and
    ``"18-30"`` would both seem to hold an 18-year-old); other edges give ``"[17.5, 30)"``.
    """
    whole = all(math.isinf(float(e)) or float(e) == int(float(e)) for e in edges)
    return "integer" if whole else "interval"


def _rounded(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col(pl.Float64).round(_DIGITS))


def _plain(df: pl.DataFrame) -> str:
    """A frame as fixed-width text (null as '-')."""
    header = list(df.columns)
    rows = [
        ["-" if v is None else (f"{v:,}" if isinstance(v, int) else str(v)) for v in r]
        for r in df.iter_rows()
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines) + "\n"


def cli_analyze(args: argparse.Namespace) -> int:
    """``recurct analyze FILE [input options] [--threshold T] [--by COL] [--out FILE
    [--overwrite]]``.

    Exit code 0 on success, 2 on unreadable or unusable input (a grouped summary of the
    problems on stderr) or an ``--out`` that cannot be written: an existing file without
    ``--overwrite``, a folder, a file the command reads or one inside a folder it reads, a
    path whose folder cannot be created; all refused before anything is read.
    """
    from recurct.stats.publish import export_table, readable

    try:
        options = analysis_options(args)
        check_input_options(args)
        if args.age_bands and "age_band" not in options["by"]:
            raise InputError("--age-bands sets the bands of --by age_band: pass both, or neither")
        overwrite = bool(getattr(args, "overwrite", False))
        inputs = input_paths(args, args.file)
        if args.out is not None:
            _check_out_file(args.out, inputs, overwrite=overwrite)
        loaded = load_exams(args.file, args)
        for line in loaded.notes:  # before the analysis: they explain a file left empty
            print(line)
        if loaded.exams.height == 0:
            raise InputError(_no_rows(loaded))
        table, patients = analyze_table(loaded.exams, options)
    except (InputError, OSError, ValueError, TypeError) as exc:
        return cli_error(str(exc))
    t = options["thresholds"][0] if len(options["thresholds"]) == 1 else None
    full = _rounded(readable(table, threshold=t))
    labels = dict(zip(table.columns, full.columns))
    shown = {*options["by"], *PRINTED}
    # the printed columns in the order of the CSV (which has them all)
    show_cols = [labels[c] for c in table.columns if c in shown]
    note = (
        "Shares are percentages of the patients of the row (95% Wilson CI); CED statistics "
        "are among the patients at or above the threshold."
    )
    if options["window_days"]:
        note += (
            " On the rows with a window of W days, a patient counts if his CED within some W "
            "consecutive days reached the threshold; their CED statistics are of that largest "
            "W-day CED, and the days and exams to the threshold are left empty."
        )
    if args.out is not None:  # written before the table is printed: a closed pipe loses none
        out = Path(args.out)
        if out.suffix.lower() == ".csv":
            from recurct._outdir import atomic_file
            from recurct.stats.publish import csv_safe

            # the old file or the complete new one, never half; no cell read as a formula
            with atomic_file(out, overwrite=overwrite, inputs=inputs, fn="analyze") as tmp:
                csv_safe(full).write_csv(tmp)
        else:
            try:
                export_table(table, out, threshold=t, caption=note, overwrite=overwrite)
            except (ValueError, ImportError, OSError) as exc:
                return cli_error(str(exc))
    print(
        f"{loaded.source}: {loaded.exams.height:,} exams, {patients.height:,} patients; "
        f"effective dose: {_methods(loaded.exams)}"
    )
    print(_plain(full.select(show_cols)), end="")
    print(note)
    if args.out is not None:
        print(f"written: {args.out}")
    return EXIT_OK


def _no_rows(loaded: Any) -> str:
    """Why there is nothing to analyse: every row was left out by ``--drop-bad`` (the notes
    printed above say why), or the file has no data rows."""
    if loaded.n_rows_in:
        return (
            f"{loaded.source}: all {loaded.n_rows_in:,} rows were left out by --drop-bad "
            "(see above): nothing to analyse"
        )
    return f"{loaded.source} has no data rows: nothing to analyse"


def _check_out_file(out: str, inputs: list[str], *, overwrite: bool = False) -> None:
    """Refuse an ``--out`` file before the work: an empty path, another extension than
    .csv/.md/.tex/.xlsx, a file the command reads (or one inside a folder it reads), which the
    table would overwrite, a folder, an existing file without ``--overwrite``, or a path whose
    folder cannot be created (a file in the way, a folder that is not writable)."""
    from recurct._outdir import check_file_target, check_inputs
    from recurct.errors import OutputExistsError, ParameterError

    if not out.strip():
        raise InputError("--out is empty: give a file name (.csv, .md, .tex or .xlsx)")
    path = Path(out)
    if path.suffix.lower() not in _OUT_FORMATS:
        raise InputError(f"--out {out}: write .csv, .md, .tex or .xlsx (chosen by the extension)")
    name = f"--out {out}"
    try:
        check_inputs(path, inputs, name=name)
    except OutputExistsError as exc:
        raise InputError(str(exc)) from None
    if path.is_dir():
        raise InputError(f"--out {out} is a folder: give a file name (.csv, .md, .tex or .xlsx)")
    if path.exists() and not overwrite:
        raise InputError(
            f"--out {out} exists: choose another file name, or pass --overwrite to replace it"
        )
    try:
        check_file_target(path, overwrite=True, name=name)
    except (OutputExistsError, ParameterError) as exc:
        raise InputError(str(exc)) from None


def _methods(exams: pl.DataFrame) -> str:
    """How the doses were obtained, counted by the one count (:func:`recurct.dose.effective.
    dose_methods`, that of a study's ``Reproduction.dose_method``), in words."""
    from recurct.dose.effective import dose_methods, dose_methods_text

    return dose_methods_text(dose_methods(exams))


def cli_validate(args: argparse.Namespace) -> int:
    """``recurct validate FILE [input options]``: what validation and dose conversion find.

    Exit code 0 if clean, 1 if problems were found, 2 if the file cannot be read.
    """
    from recurct.dose import DoseConversionError

    try:
        check_input_options(args)
    except InputError as exc:
        return cli_error(str(exc))
    try:
        loaded, report = read_and_validate(args.file, args)
    except InputError as exc:
        text = str(exc)
        if "missing column" in text:
            print(f"{args.file}: problems found")
            print(text)
            return EXIT_FAILED
        return cli_error(text)
    clean = report.is_clean
    lines: list[str] = []
    exams = loaded.exams
    # the doses to compute, decided once and as the other commands decide (dose_noting: a
    # missing dose with nothing to compute it from is the problem `analyze` refuses it for)
    if exams.height:
        try:
            # its warnings (an adult table on children) become notes, not Python warnings
            dose_noting(
                exams.drop(ROW_COLUMN), dose_options(args), loaded.notes, source=loaded.source
            )
        except InputError as exc:
            clean = False
            lines = [str(exc)]
        except DoseConversionError as exc:
            clean = False
            assert exc.problems is not None
            lines = [
                f"effective dose (table {dose_options(args)['table']!r}): "
                f"{exc.problems['row'].n_unique():,} row(s) cannot be converted, by reason:",
                *grouped(exc.problems, exams[ROW_COLUMN], loaded.lines),
            ]
        except (ValueError, TypeError) as exc:
            clean = False
            lines = [f"effective dose: {exc}"]
    # what reading warned of (a time of day not read: the exam kept at its date) keeps the
    # file clean, but is said beside it
    warned = f" ({'; '.join(loaded.warned)})" if clean and loaded.warned else ""
    print(f"{loaded.source}: {'clean' if clean else 'problems found'}{warned}")
    for note in loaded.notes:
        print(note)
    print(_cli_text(str(report)))
    for line in lines:
        print(line)
    return EXIT_OK if clean else EXIT_FAILED
