"""Reading an exam file with the shared options of ``recurct analyze``, ``reproduce --exams``
and ``validate`` (the options are in :mod:`recurct.cli._options`).

:func:`load_exams` reads a file:

1. an OpenREM CT export (CSV or XLSX, recognised by its "Study date" and
   "DLP total (mGy.cm)" columns) through :func:`recurct.io.openrem.read_openrem_ct`; any other
   CSV or Parquet file through the reader of :func:`recurct.read_exams` (your ``--map`` first,
   then the common export column names, see :data:`recurct.io.exams.VENDOR_COLUMNS`);
2. a dose-management export without ``body_region`` but with a study or protocol description
   ("Study Description", "Protocol Name", ...) gets ``body_region`` from that text by
   :func:`recurct.dose.normalise_region`, and free-text regions are mapped the same way; both
   are reported, never silent;
3. validation (:func:`recurct.schema.validate`), then the effective dose where it is missing,
   decided once per table by :func:`dose_noting` (with
   :func:`recurct.dose.effective.fill_dose_from_dlp`, the rule of a study's
   ``reproduce(exams)`` too: :func:`recurct.dose.effective_dose` with ``--table``,
   ``--fallback``, ...).

Problems are reported once, grouped: the number of rows per reason, the first rows and
values, and what to pass to fix or drop them. ``--drop-bad`` leaves those rows out instead and
prints what was dropped, by reason. The warnings of reading and validation (a time of day
none of the accepted forms, an OpenREM row that is no study, an id in spaces) become notes.
Nothing here prints a Python traceback, a Python warning or a path inside the package.
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recurct.cli._errors import _cli_text, missing_extra
from recurct.cli._options import dose_options, parse_map
from recurct.errors import InputError

if TYPE_CHECKING:  # polars is imported where used, so `recurct --help` stays fast
    import polars as pl

__all__ = [
    "DESCRIPTION_COLUMNS",
    "ROW_COLUMN",
    "Loaded",
    "dose_noting",
    "grouped",
    "lines_text",
    "load_exams",
    "read_and_validate",
]

#: Export columns (compared without case, spaces or punctuation) that describe the study or
#: protocol in words; the first found gives ``body_region`` when the file has none.
DESCRIPTION_COLUMNS: tuple[str, ...] = (
    "Study Description",
    "StudyDescription",
    "Exam Description",
    "Examination Description",
    "Procedure",
    "Procedure Description",
    "Requested Procedure",
    "Protocol",
    "Protocol Name",
    "ProtocolName",
    "Series Description",
)

ROW_COLUMN = "__recurct_input_row"
_FIRST = 5  # rows shown per reason


@dataclass
class Loaded:
    """An exam file read with the shared options."""

    exams: pl.DataFrame
    source: str
    kind: str  # "csv", "parquet" or "openrem"
    notes: list[str] = field(default_factory=list)
    n_rows_in: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # a CSV file: the line of each row; a folder of Parquet files: its file and row there
    lines: Callable[[int], int | str | None] | None = None
    #: the values validation set null, exams kept (``row``: input row, ``column``, ``value``,
    #: ``reason``): a dose problem of such a value quotes it as given
    set_null: pl.DataFrame | None = None
    #: what the warnings given while reading and validating (times of day that could not be
    #: read, rows that are no studies, ...) say in short, for ``validate``'s "clean (...)";
    #: each warning is also a note in ``notes``
    warned: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- problems
def grouped(
    problems: pl.DataFrame,
    rows: pl.Series | None = None,
    lines: Callable[[int], int | str | None] | None = None,
) -> list[str]:
    """One line per (column, reason): count, first input rows and values.

    ``problems`` has ``row`` (0-based row of the frame that was checked), ``column``,
    ``value`` and ``reason``; ``rows`` maps those rows to rows of the user's file, and
    ``lines`` (a CSV file) those to the lines of the file, shown beside each row.
    """
    import polars as pl

    if rows is not None:
        problems = problems.with_columns(
            pl.when(pl.col("row").is_not_null())
            .then(rows.gather(problems["row"].fill_null(0)))
            .alias("row")
        )
    out = []
    groups = problems.group_by("column", "reason", maintain_order=True).agg(
        pl.col("row").n_unique().alias("n"), pl.col("row"), pl.col("value")
    )
    for g in groups.sort("n", descending=True, maintain_order=True).iter_rows(named=True):
        first = [r for r in g["row"] if r is not None][:_FIRST]
        values = list(dict.fromkeys(v for v in g["value"] if v is not None))[:_FIRST]
        where = f"; first rows {', '.join(str(r) for r in first)}{lines_text(first, lines)}"
        where = where if first else ""
        vals = f"; values {', '.join(repr(v) for v in values)}" if values else ""
        n = "" if not first else f"{g['n']:>7,} row(s)  "
        out.append(f"  {n}column {g['column']!r}: {_cli_text(g['reason'])}{vals}{where}")
    return out


def lines_text(rows: list[int], lines: Callable[[int], int | str | None] | None) -> str:
    """`` (lines 2, 4 of the file)`` of ``rows`` of a CSV file, `` (row 0 of b.parquet, row
    1 of b.parquet)`` of a folder of Parquet files, else empty (``lines``: the line, or the
    file and row, of each row; :attr:`Loaded.lines`)."""
    at = [lines(r) for r in rows] if lines is not None else []
    if not at or None in at:
        return ""
    if all(isinstance(x, str) for x in at):
        return f" ({', '.join(str(x) for x in at)})"
    return f" ({'line' if len(at) == 1 else 'lines'} {', '.join(str(x) for x in at)} of the file)"


def rows_note(kind: str) -> str:
    """What the rows of a problem listing count, for a file read as ``kind``."""
    if kind == "csv":
        return (
            "Rows are counted from 0 (row 0 is the first after the header), each with its "
            "line of the file."
        )
    if kind == "openrem":
        return "Rows are counted from 0 in the table of studies read from the export."
    return "Rows are counted from 0 (row 0 is the first row of the table)."


def _problem_error(source: str, kind: str, what: str, lines: list[str], fix: str) -> InputError:
    return InputError(
        "\n".join(
            [
                f"{source}: {what}, by reason:",
                *lines,
                rows_note(kind),
                f"{fix} or pass --drop-bad to "
                "leave these rows out (the rows dropped are counted and printed).",
            ]
        )
    )


# --------------------------------------------------------------------------- reading
def _header_line(path: Path) -> str:
    """The file's header line (after an Excel ``sep=`` line, which names the separator)."""
    from recurct.io._csv import _SEP_LINE

    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    for enc in ("utf-8-sig", "cp1252"):
        try:
            lines = head.decode(enc).splitlines()
        except UnicodeDecodeError:
            continue
        if lines and _SEP_LINE.match(lines[0]):
            lines = lines[1:]
        return lines[0] if lines else ""
    return ""  # pragma: no cover


def is_openrem(path: Path) -> bool:
    """An OpenREM CT export: XLSX, or a CSV with "Study date" and "DLP total (mGy.cm)"."""
    from recurct.io.openrem import STUDY_FIELDS

    if path.suffix.lower() == ".xlsx":
        return True
    if not path.is_file() or path.suffix.lower() in (".parquet", ".pq"):
        return False
    first = _header_line(path)
    return any(n in first for n in STUDY_FIELDS["study_date"]) and any(
        n in first for n in STUDY_FIELDS["reported_dlp_total_mgycm"]
    )


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _region_rules(args: argparse.Namespace) -> pl.DataFrame | None:
    """The user's ``--region-rules`` CSV (``pattern``, ``region``), checked; None without."""
    import polars as pl

    from recurct.regions import compile_rules

    path = getattr(args, "region_rules", None)
    if not path:
        return None
    try:
        rules = pl.read_csv(path, infer_schema=False, comment_prefix="#")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"--region-rules {path}: cannot be read ({exc})") from None
    if not {"pattern", "region"} <= set(rules.columns):
        raise InputError(
            f"--region-rules {path}: needs columns pattern and region, got {rules.columns}"
        )
    rules = rules.select(pl.col("pattern"), pl.col("region").str.strip_chars())
    try:
        compile_rules(rules)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--region-rules {path}: {exc}") from None
    return rules


def _regions_from_text(
    frame: pl.DataFrame, notes: list[str], rules: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``body_region`` from a description column (its text as given), and a note of how many
    free-text regions the rules map. The mapping itself is validation's
    (:func:`recurct._validation.check_exams` with ``region_rules``), which keeps the text as
    given in ``body_region_raw``: two exams whose texts map to one region (``CT Thorax nativ``
    and ``CT Thorax mit KM``), or to none, stay two exams, as with :func:`recurct.read_exams`.
    """
    import polars as pl

    from recurct.schema import BODY_REGIONS

    if "body_region" not in frame.columns:
        wanted = {_key(c) for c in DESCRIPTION_COLUMNS}
        col = next((c for c in frame.columns if _key(c) in wanted), None)
        if col is None:
            return frame
        text = frame[col].cast(pl.Utf8)
        mapped = _mapped(text, rules)
        notes.append(
            f"body_region read from {col!r} by {_whose(rules)} region rules: "
            f"{mapped.is_not_null().sum():,} of {frame.height:,} rows recognised"
        )
        return frame.with_columns(text.alias("body_region"))
    s = frame["body_region"].cast(pl.Utf8)
    free = s.is_not_null() & ~s.is_in(list(BODY_REGIONS))
    if not free.any():
        return frame
    mapped = _mapped(s, rules)
    changed = int((free & mapped.is_not_null()).sum())
    examples = s.filter(free).unique(maintain_order=True).head(3).to_list()
    notes.append(
        f"body_region: {changed:,} free-text value(s) mapped by {_whose(rules)} region rules "
        f"(e.g. {', '.join(repr(e) for e in examples)}); {int(free.sum()) - changed:,} not "
        "recognised"
    )
    return frame


def _mapped(text: pl.Series, rules: pl.DataFrame | None) -> pl.Series:
    """The region each text maps to (null: none), worked out once per distinct text."""
    import polars as pl

    from recurct.dose import normalise_region

    distinct = text.unique().drop_nulls()
    regions = normalise_region(distinct, region_rules=rules)
    return text.replace_strict(distinct, regions, default=None, return_dtype=pl.Utf8)


def _whose(rules: pl.DataFrame | None) -> str:
    return "recurct's" if rules is None else "your (--region-rules, first) and recurct's"


def read_and_validate(path: str, args: argparse.Namespace) -> tuple[Loaded, Any]:
    """Read the file and validate it; ``(loaded, ValidationReport)`` (nothing dropped yet).

    The warnings recurct gives while reading and validating (a time of day that is none of
    the accepted forms, an OpenREM row that is no study, an id with surrounding spaces, ...)
    become notes (``Loaded.notes``, and in short ``Loaded.warned``), never Python warnings
    with a source line; with an error, they are written before its message.
    """
    import polars as pl

    from recurct.errors import RecurctWarning

    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    notes: list[str] = []
    mapping = parse_map(list(getattr(args, "map", None) or []))
    rules = _region_rules(args)
    shown, lines, parsed = None, None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecurctWarning)
        try:
            if is_openrem(p):
                frame = _read_openrem(p, mapping, rules, notes, getattr(args, "dayfirst", False))
                rules, kind = None, "openrem"  # OpenREM regions come from each event's protocol
                if getattr(args, "decimal", None) is not None:
                    notes.append(
                        "--decimal is not used for OpenREM exports (their numbers are known)"
                    )
            else:
                frame, kind, shown, lines, parsed = _read_table(p, mapping, args, notes)
            frame = _regions_from_text(frame, notes, rules)  # (row for row: ``parsed`` fits)
            valid, report = _validated(frame, path, args, rules, shown, parsed)
        except InputError as exc:
            said, _ = _warnings_noted(caught, path)
            if not said:
                raise
            raise InputError("\n".join([*said, str(exc)])) from None
    said, warned = _warnings_noted(caught, path)
    notes += said
    if lines is not None:
        report = replace(report, lines=lines)
    from recurct.io.exams import hints

    # ids in scientific notation: explained once, by the identity rules' warning (a note)
    ids_said = any(getattr(w.message, "scientific_ids", None) for w in caught)
    notes += [_cli_text(hint) for hint in hints(report.problems, ids=not ids_said)]
    # the input row of each row kept (validation drops exactly the rows with a problem)
    for reason, n in report.set_null_by_reason.items():
        notes.append(f"{n:,} value(s) set null, exams kept: {reason} (see recurct validate)")
    bad = set(_dropping(report)["row"].drop_nulls().to_list())
    kept = [i for i in range(frame.height) if i not in bad]
    if len(kept) != valid.height:  # pragma: no cover - guards the assumption above
        kept = list(range(valid.height))
    valid = valid.with_columns(pl.Series(ROW_COLUMN, kept, dtype=pl.Int64))
    set_null = report.problems.filter(pl.col("reason").str.ends_with("(set null)"))
    loaded = Loaded(
        valid, str(path), kind, notes, frame.height, lines=lines, set_null=set_null, warned=warned
    )
    return loaded, report


def _warnings_noted(
    caught: list[warnings.WarningMessage], path: str
) -> tuple[list[str], list[str]]:
    """``(notes, in short)`` of the recurct warnings ``caught`` while reading ``path``; any
    other warning is given again, as it came.

    A note is the warning's message after ``note:`` (its file name, which the output already
    names, left out, and the options named as the command line spells them); in short, a
    time of day that could not be read is ``1 time of day not read: line 2`` (the lines of a
    CSV file), any other warning ``1 warning while reading, see the notes``.
    """
    from recurct.errors import RecurctWarning

    notes: list[str] = []
    times: list[str] = []
    others = 0
    for w in caught:
        if not issubclass(w.category, RecurctWarning):  # pragma: no cover - not ours
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = _cli_text(str(w.message)).removeprefix(f"{path}: ")
        notes.append("note: " + text.replace("; see .report.problems", ""))
        n = getattr(w.message, "times_dropped", None)  # (read_exams' bad times of day)
        if n is None:
            others += 1
            continue
        listed = getattr(w.message, "file_lines", None)
        where = f": {'line' if n == 1 else 'lines'} {listed}" if listed else ""
        times.append(f"{n:,} {'time' if n == 1 else 'times'} of day not read{where}")
    if others:
        times.append(
            f"{others:,} {'warning' if others == 1 else 'warnings'} while reading, see the notes"
        )
    return notes, times


def _read_openrem(
    p: Path,
    mapping: dict[str, str],
    rules: pl.DataFrame | None,
    notes: list[str],
    dayfirst: bool = False,
) -> pl.DataFrame:
    """An OpenREM CT export, with notes on the options it does not use."""
    from recurct.io.openrem import read_openrem_ct

    if mapping:
        notes.append("--map is not used for OpenREM exports (their columns are known)")
    if rules is not None:
        notes.append(
            "--region-rules is not used for OpenREM exports (recurct reads their "
            "regions from the protocol of each irradiation event)"
        )
    try:
        # --dayfirst: slash dates day first; without it, only dates that say which they are
        frame = read_openrem_ct(p, dayfirst=True if dayfirst else None).exams
    except (OSError, ValueError) as exc:
        raise InputError(_cli_text(str(exc))) from None
    except ImportError as exc:  # openpyxl not installed: the environment's, not a bug
        if not missing_extra(exc):
            raise
        raise InputError(f"{p}: {exc}") from exc
    notes.append(f"read as an OpenREM CT export: {frame.height:,} studies")
    if frame["patient_id"].null_count() == frame.height:
        notes.append(
            "this OpenREM export has no 'Patient ID' column (exported without "
            "patient-identifiable data): cumulative dose needs it"
        )
    return frame


def _read_table(
    p: Path, mapping: dict[str, str], args: argparse.Namespace, notes: list[str]
) -> tuple[
    pl.DataFrame, str, pl.DataFrame, Callable[[int], int | str | None] | None, pl.Series | None
]:
    """A CSV or Parquet exam file, its columns mapped (noted): ``(frame, "csv"|"parquet",
    the dose and age columns as written, the line of each row of a CSV file, the dates
    already parsed where a time column was merged into them)``."""
    from recurct.io import exams as exams_io

    try:
        read = exams_io.prepare(
            p,
            mapping,
            dayfirst=getattr(args, "dayfirst", False),
            sep=getattr(args, "sep", None),
            decimal=getattr(args, "decimal", None),
        )
    except (OSError, ValueError) as exc:
        raise InputError(_cli_text(str(exc))) from None
    notes += read.notes
    if read.renames:
        renames = read.renames.items()
        notes.append("columns read as: " + ", ".join(f"{k!r} -> {v}" for k, v in renames))
    return read.frame, read.kind, read.shown, read.lines, read.parsed_dates


def _validated(
    frame: pl.DataFrame,
    path: str,
    args: argparse.Namespace,
    rules: pl.DataFrame | None,
    shown: pl.DataFrame | None = None,
    parsed_dates: pl.Series | None = None,
) -> tuple[pl.DataFrame, Any]:
    """Validation as :func:`recurct.schema.validate` with ``strict=False``: ``(valid rows,
    report)``; a missing required column is an :class:`InputError` saying what to map.
    ``parsed_dates``: the dates :func:`recurct.io.exams.prepare` parsed while merging a
    time column, so that they are not parsed twice."""
    import polars as pl

    from recurct import schema
    from recurct._validation import check_exams
    from recurct.io import exams as exams_io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", schema.DroppedRowsWarning)
        warnings.simplefilter("ignore", schema.UnmappedValuesWarning)  # a note, by the caller
        try:
            return check_exams(
                frame,
                strict=False,
                today=getattr(args, "today", None),
                required=exams_io.READ_REQUIRED,
                dayfirst=getattr(args, "dayfirst", False),
                region_rules=rules,
                shown=shown,
                parsed_dates=parsed_dates,
            )
        except schema.ExamValidationError as exc:  # a required column is missing
            missing = exc.problems.filter(pl.col("row").is_null())["column"].to_list()
            raise InputError(
                "\n".join(
                    [
                        f"{path}: required column(s) missing:",
                        *grouped(exc.problems),
                        f"The columns are {frame.columns}; map yours with "
                        f"--map 'their name={missing[0] if missing else 'exam_date'}'.",
                    ]
                )
            ) from None


def load_exams(path: str, args: argparse.Namespace, *, dose: bool = True) -> Loaded:
    """Read, validate and (``dose=True``) convert DLP to effective dose, with the options.

    Raises :class:`InputError` with a grouped summary of the problems, unless ``--drop-bad``
    (then the rows are left out and the counts are in ``Loaded.dropped`` and ``notes``).
    The file is noted as an input: no ``--out --overwrite`` of this run may replace it.
    """
    from recurct._outdir import note_input

    note_input(path)
    loaded, report = read_and_validate(path, args)
    try:
        return _checked(loaded, report, args, dose=dose)
    except InputError as exc:  # what was noted while reading explains the problems
        raise InputError("\n".join([*loaded.notes, str(exc)])) from None


def _dropping(report: Any) -> pl.DataFrame:
    """The problems that drop a row (not the unmapped codes set null, whose exams are kept)."""
    import polars as pl

    return report.problems.filter(~pl.col("reason").str.ends_with("(set null)"))


def _checked(loaded: Loaded, report: Any, args: argparse.Namespace, *, dose: bool) -> Loaded:
    drop = bool(getattr(args, "drop_bad", False))
    if _dropping(report).height:
        if not drop:
            raise _problem_error(
                loaded.source,
                loaded.kind,
                f"{report.n_dropped:,} of {report.n_rows_in:,} rows failed validation",
                grouped(_dropping(report), lines=loaded.lines)
                + (_dose_problem_lines(loaded, args) if dose else []),
                "Fix the file, map its columns (--map), pass --dayfirst for day-first dates,",
            )
        for reason, n in report.dropped_by_reason.items():
            loaded.dropped[reason] = loaded.dropped.get(reason, 0) + n
    if dose:
        loaded.exams = _with_dose(loaded, args, drop)
    if loaded.dropped:
        n_out = loaded.exams.height
        loaded.notes.append(
            f"--drop-bad: {loaded.n_rows_in - n_out:,} of {loaded.n_rows_in:,} rows left out "
            "(a row with several problems counts under each):"
        )
        loaded.notes += [f"  {n:>7,}  {_cli_text(r)}" for r, n in loaded.dropped.items()]
    loaded.exams = loaded.exams.drop(ROW_COLUMN)
    return loaded


def _with_dose(loaded: Loaded, args: argparse.Namespace, drop: bool) -> pl.DataFrame:
    """Fill ``effective_dose_msv`` from DLP where it is missing (grouped errors, or drops),
    as :func:`dose_noting` decides (once: a table whose every dose is given is returned as it
    is; a missing dose without ``dlp_mgycm`` and ``body_region`` is refused)."""
    import polars as pl

    from recurct.dose import DoseConversionError

    exams = loaded.exams
    kw = dose_options(args)
    try:
        return dose_noting(exams, kw, loaded.notes, source=loaded.source)
    except DoseConversionError as exc:
        problems = exc.problems
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{loaded.source}: {_cli_text(str(exc))}") from None
    assert problems is not None
    problems = _as_given(problems, exams[ROW_COLUMN], loaded.set_null)
    if not drop:
        n_rows = problems["row"].n_unique()
        raise _problem_error(
            loaded.source,
            loaded.kind,
            f"effective dose could not be computed for {n_rows:,} of {exams.height:,} rows "
            f"(table {kw['table']!r})",
            grouped(problems, exams[ROW_COLUMN], loaded.lines),
            "Fix the data, choose another --table or a --fallback,",
        )
    bad = problems["row"].unique().to_list()
    for r in (
        problems.group_by("reason", maintain_order=True).agg(pl.col("row").n_unique()).iter_rows()
    ):
        loaded.dropped[r[0]] = loaded.dropped.get(r[0], 0) + int(r[1])
    keep = exams.with_row_index("__i").filter(~pl.col("__i").is_in(bad)).drop("__i")
    return dose_noting(keep, kw, loaded.notes)  # (the rows kept: a table of their own)


def _dose_problem_lines(loaded: Loaded, args: argparse.Namespace) -> list[str]:
    """The grouped dose-conversion problems of the rows that passed validation.

    So that one error summary lists every problem of the file, not the validation problems
    first and the untabulated regions only once those are fixed. (The file is refused: these
    rows are converted only to find their problems, as :func:`dose_noting` decides.)
    """
    from recurct.dose import DoseConversionError

    exams = loaded.exams
    kw = dose_options(args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dose_noting(exams, kw, [])
    except DoseConversionError as exc:
        problems = exc.problems
    except (OSError, ValueError, TypeError):  # reported by the conversion itself later
        return []
    else:
        return []
    assert problems is not None
    problems = _as_given(problems, exams[ROW_COLUMN], loaded.set_null)
    return [
        f"and among the rows that passed validation, effective dose could not be computed "
        f"for {problems['row'].n_unique():,} of {exams.height:,} (table {kw['table']!r}):",
        *grouped(problems, exams[ROW_COLUMN], loaded.lines),
    ]


def _as_given(
    problems: pl.DataFrame, rows: pl.Series, set_null: pl.DataFrame | None
) -> pl.DataFrame:
    """Dose problems (``row``: of the validated frame, whose input rows are ``rows``) of a
    value that validation set null (an age of 150 for an age-dependent table) quote the value
    as given, and say that it was set null and why, instead of a bare "missing"."""
    import polars as pl

    if set_null is None or not set_null.height or not problems.height:
        return problems
    given = set_null.select(
        pl.col("row").alias("__input_row"),
        "column",
        pl.col("value").alias("__given"),
        pl.col("reason").str.strip_suffix(" (set null)").alias("__why"),
    ).unique(["__input_row", "column"], keep="first", maintain_order=True)
    where = rows.cast(pl.Int64).gather(problems["row"].fill_null(0).cast(pl.Int64))
    joined = problems.with_columns(
        pl.when(pl.col("row").is_not_null()).then(where).alias("__input_row")
    ).join(given, on=["__input_row", "column"], how="left", maintain_order="left")
    was = pl.col("__why").is_not_null()
    return joined.with_columns(
        pl.when(was).then(pl.col("__given")).otherwise(pl.col("value")).alias("value"),
        pl.when(was)
        .then(pl.format("{} (the value given was set null by validation: {})", "reason", "__why"))
        .otherwise(pl.col("reason"))
        .alias("reason"),
    ).select(problems.columns)


def dose_noting(
    exams: pl.DataFrame, kw: dict[str, Any], notes: list[str], *, source: str | None = None
) -> pl.DataFrame:
    """The command line's one decision on the effective doses to compute from the DLP,
    made once per table (``recurct validate``, ``analyze``, ``reproduce --exams``), and
    their computation; the conversion's warnings become notes in the command line's words.

    With ``dlp_mgycm`` and ``body_region``, :func:`recurct.dose.effective.
    fill_dose_from_dlp` decides (:func:`~recurct.dose.effective.dose_missing`, run once) and
    computes the missing doses with the dose options ``kw``: ``exams`` as it is where every
    dose is given. Without them no dose can be computed: with ``source`` (the file read),
    a missing dose is refused (:class:`InputError` naming the file and the columns to map:
    ``analyze`` and ``reproduce --exams`` stop, ``recurct validate`` reports it as a
    problem); without (a table whose missing doses were decided already: the rows kept by
    ``--drop-bad``), ``exams`` is returned as it is, its doses not read.

    Raises
    ------
    InputError
        A missing dose and nothing to compute it from (``source`` given).
    DoseConversionError, ValueError, TypeError
        As :func:`recurct.dose.effective.fill_dose_from_dlp`.
    """
    from recurct.dose.effective import CHILD_TABLES_HINT, dose_missing, fill_dose_from_dlp

    needed = {"dlp_mgycm", "body_region"}
    if not needed <= set(exams.columns):
        if source is not None and dose_missing(exams):
            missing = sorted(needed - set(exams.columns))
            raise InputError(
                f"{source}: no effective_dose_msv (or empty values) and no "
                f"{' and '.join(missing)} to compute it from; map your columns with --map "
                "'their name=dlp_mgycm' / 'their name=body_region', or add "
                "effective_dose_msv (mSv)"
            )
        return exams
    out, said = fill_dose_from_dlp(exams, **kw)
    instead = "(--table shrimpton_age or --table nci_icrp103_120kv)"
    notes += ["note: " + text.replace(CHILD_TABLES_HINT, instead) for text in said]
    return out
