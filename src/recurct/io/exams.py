"""Read exam tables (CSV, Parquet, a folder of Parquet, or a data frame) into canonical form.

:func:`read_exams` maps column names (yours first, then :data:`VENDOR_COLUMNS`), copes with
European CSV dialects (``;`` separator, decimal comma, UTF-8 BOM, ``N/A``/``NA``/``-``/empty
cells as missing), parses ISO, DICOM and (with ``dayfirst=True``) day-first dates, converts
DICOM age strings (``067Y``) to years, and validates the result with
:func:`recurct.schema.validate` (``patient_id`` and ``exam_date`` required: many exports carry
only the DLP, from which :mod:`recurct.dose` derives the effective dose).

:func:`cli_validate` is the handler of ``recurct validate FILE``.
"""

from __future__ import annotations

import argparse
import codecs
import io
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from recurct import schema
from recurct._frames import from_polars, to_polars

__all__ = ["NULL_STRINGS", "READ_REQUIRED", "VENDOR_COLUMNS", "cli_validate", "read_exams"]

READ_REQUIRED: tuple[str, ...] = ("patient_id", "exam_date")
"""Columns :func:`read_exams` requires (the effective dose is validated where present)."""

NULL_STRINGS: tuple[str, ...] = ("", "N/A", "n/a", "NA", "na", "-")
"""Cell values read as missing (after surrounding spaces are removed)."""

STUDY_TIME = "study_time"
"""Name given to a separate time-of-day column (DICOM Study Time), merged into ``exam_date``."""

_VENDOR: dict[str, tuple[str, ...]] = {
    "patient_id": ("Patient ID", "PatientID", "Patient Number", "MRN", "Medical Record Number"),
    "exam_date": ("Study Date", "StudyDate", "Exam Date", "Examination Date", "Study DateTime"),
    STUDY_TIME: ("Study Time", "StudyTime", "Exam Time"),
    "effective_dose_msv": ("Effective Dose (mSv)", "Effective Dose", "E (mSv)", "ED (mSv)"),
    "dlp_mgycm": ("Total DLP (mGy.cm)", "DLP (mGy*cm)", "DLP (mGy.cm)", "Total DLP", "DLP"),
    "ctdivol_mgy": ("CTDIvol (mGy)", "CTDIvol", "Mean CTDIvol (mGy)", "Mean CTDIvol"),
    "age_years": ("Patient Age", "PatientAge", "Patient's Age", "Age", "Age (years)"),
    "sex": ("Patient Sex", "PatientSex", "Patient's Sex", "Sex", "Gender"),
    "facility": ("Institution Name", "InstitutionName", "Institution", "Facility", "Hospital"),
    "study_uid": ("Study Instance UID", "StudyInstanceUID", "Study UID"),
    "body_region": ("Body Part", "Body Part Examined", "BodyPartExamined", "Body Region"),
    "indication": ("Indication", "Clinical Indication", "Reason for Study"),
}


def _key(name: str) -> str:
    """Column name compared without case, spaces or punctuation: 'Patient ID' -> 'patientid'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


VENDOR_COLUMNS: dict[str, str] = {
    _key(alias): canonical
    for canonical, aliases in _VENDOR.items()
    for alias in (canonical, *aliases)
}
"""Common export column names (compared without case, spaces or punctuation) -> canonical."""

_CANONICAL = (*schema.REQUIRED_COLUMNS, *schema.OPTIONAL_COLUMNS)
_NUMERIC = (*schema.DOSE_COLUMNS, "age_years")
_SLASHED = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}"
_INT = r"^[-+]?(0|[1-9]\d{0,17})$"
_FLOAT = r"^[-+]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"


def read_exams(
    path_or_frame: Any,
    columns: Mapping[str, str] | None = None,
    *,
    dayfirst: bool = False,
    sep: str | None = None,
    decimal: str | None = None,
    lazy: bool = False,
    validate: bool = True,
    strict: bool = True,
    today: Any = None,
) -> Any:
    """Read an exam table and return it in canonical form (see :mod:`recurct.schema`).

    Parameters
    ----------
    path_or_frame : str, Path, or polars / pandas / pyarrow table
        A CSV file, a Parquet file, a folder of Parquet files (read recursively), or a frame.
    columns : mapping, optional
        ``{"their name": "our name"}``; wins over the built-in :data:`VENDOR_COLUMNS`.
    dayfirst : bool, default False
        Dates are ``31/12/2019`` or ``31.12.2019``. Without it such dates raise ``ValueError``.
    sep : str, optional
        CSV separator; detected from the header line (``,``, ``;``, tab or ``|``) when None.
    decimal : {None, ".", ","}
        Decimal mark of numbers in text. When None and the separator is not ``,``, a numeric
        column whose values contain commas and no points is read with a decimal comma.
    lazy : bool, default False
        Return a polars LazyFrame with renames and casts applied and no validation (for
        Parquet too large to read twice; data-dependent detections are skipped).
    validate : bool, default True
        Pass the result through :func:`recurct.schema.validate` with ``patient_id`` and
        ``exam_date`` required; with False only the canonical casts are applied.
    strict, today
        Passed to :func:`recurct.schema.validate`.

    Returns
    -------
    polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        pandas when given pandas, a LazyFrame when ``lazy=True``, else polars.

    Raises
    ------
    FileNotFoundError
        No such file or folder.
    ValueError
        The file is not a CSV or Parquet table, a mapping names a missing column, two columns
        map to one canonical name, or dates are ambiguous (pass ``dayfirst``).
    recurct.schema.ExamValidationError
        From validation, naming the file.
    """
    frame, kind, source, _ = _prepare(
        path_or_frame, columns, dayfirst=dayfirst, sep=sep, decimal=decimal, lazy=lazy
    )
    if lazy:
        lf = frame.lazy()
        return lf.with_columns(**schema._cast_exprs(lf.collect_schema(), dayfirst=dayfirst))
    if validate:
        try:
            out = schema.validate(
                frame, strict=strict, today=today, required=READ_REQUIRED, dayfirst=dayfirst
            )
        except schema.ExamValidationError as exc:
            raise schema.ExamValidationError(
                exc.problems, source=source, hint=_column_hint(exc.problems, frame.columns)
            ) from None
    else:
        out = frame.with_columns(**schema._eager_casts(frame, dayfirst=dayfirst))
    return from_polars(out, "pandas" if kind == "pandas" else "polars")


def _prepare(
    path_or_frame: Any,
    columns: Mapping[str, str] | None,
    *,
    dayfirst: bool,
    sep: str | None,
    decimal: str | None,
    lazy: bool = False,
) -> tuple[Any, str, str, dict[str, str]]:
    """Load, rename and normalise strings; return ``(frame, kind, source, renames)``."""
    if decimal not in (None, ".", ","):
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    frame, kind, source, sep = _load(path_or_frame, sep=sep, lazy=lazy)
    from_csv = kind == "csv"
    if decimal is None and sep == ",":  # a decimal comma needs another separator
        decimal = "."
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    renames = _rename_map(names, columns or {}, source)
    frame = frame.rename(renames)
    frame = _normalise(frame, source, dayfirst=dayfirst, decimal=decimal, from_csv=from_csv)
    return frame, kind, source, renames


def _load(obj: Any, *, sep: str | None, lazy: bool) -> tuple[Any, str, str, str | None]:
    """``(frame, kind, source, CSV separator)``; kind: 'csv', 'parquet' or the frame library."""
    if not isinstance(obj, (str, Path)):
        if isinstance(obj, pl.LazyFrame):
            return obj, "lazy", "<LazyFrame>", None
        df, kind = to_polars(obj)
        return df, kind, f"<{kind} frame>", None
    path = Path(obj)
    source = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    if path.is_dir():
        files = sorted(path.glob("**/*.parquet"))
        if not files:
            raise ValueError(f"{source}: folder holds no .parquet files")
        return _scan_parquet(str(path / "**" / "*.parquet"), source, lazy), "parquet", source, None
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"PAR1") or path.suffix.lower() in (".parquet", ".pq"):
        return _scan_parquet(str(path), source, lazy), "parquet", source, None
    df, sep = _read_csv(path, head, sep)
    return df, "csv", source, sep


def _scan_parquet(pattern: str, source: str, lazy: bool) -> Any:
    try:
        lf = pl.scan_parquet(pattern)
        lf.collect_schema()
        return lf if lazy else lf.collect()
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise ValueError(f"{source}: not a readable Parquet table ({exc})") from exc


def _read_csv(path: Path, head: bytes, sep: str | None) -> tuple[pl.DataFrame, str]:
    """Read a delimited text file with every column as text (types are decided later)."""
    source = str(path)
    if b"\x00" in head:
        raise ValueError(
            f"{source}: not a CSV or Parquet table (binary content); "
            "read_exams reads .csv text files, .parquet files and folders of .parquet files"
        )
    data: Any = path
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        text_head = head.decode("utf-8", errors="replace")
    except UnicodeDecodeError:  # not UTF-8: Windows exports are usually cp1252
        data = io.BytesIO(path.read_bytes().decode("cp1252").encode("utf-8"))
        text_head = head.decode("cp1252", errors="replace")
    first = text_head.lstrip("\ufeff").splitlines()[0] if text_head.strip() else ""
    if not first:
        raise ValueError(f"{source}: empty file, no header line")
    if sep is None:
        counts = {s: first.count(s) for s in (",", ";", "\t", "|")}
        sep = max(counts, key=counts.__getitem__) if any(counts.values()) else ","
    try:
        return pl.read_csv(data, separator=sep, infer_schema=False), sep
    except Exception as exc:  # polars raises ComputeError, NoDataError, ...
        raise ValueError(f"{source}: not a readable CSV table ({exc})") from exc


def _rename_map(names: list[str], columns: Mapping[str, str], source: str) -> dict[str, str]:
    """``{source column: canonical name}``: the user's mapping first, then VENDOR_COLUMNS."""
    by_key: dict[str, list[str]] = {}
    for n in names:
        by_key.setdefault(_key(n), []).append(n)
    mapping: dict[str, str] = {}
    for theirs, ours in columns.items():
        if theirs in names:
            mapping[theirs] = ours
        elif len(by_key.get(_key(theirs), [])) == 1:
            mapping[by_key[_key(theirs)][0]] = ours
        else:
            raise ValueError(
                f"{source}: columns= maps {theirs!r} but there is no such column; "
                f"the columns are {names}"
            )
    taken = set(mapping.values())
    candidates: dict[str, list[str]] = {}
    for n in names:
        if n in mapping:
            continue
        target = n if n in _CANONICAL else VENDOR_COLUMNS.get(_key(n))
        if target is not None and target not in taken:
            candidates.setdefault(target, []).append(n)
    for target, found in candidates.items():
        if target in found:  # a column already named canonically wins
            continue
        if len(found) > 1:
            raise ValueError(
                f"{source}: columns {found} could all be {target!r}; choose one with "
                f"columns={{{found[0]!r}: {target!r}}}"
            )
        mapping[found[0]] = target
    final = [mapping.get(n, n) for n in names]
    clash = sorted({f for f in final if final.count(f) > 1})
    if clash:
        raise ValueError(
            f"{source}: after mapping, several columns are named {clash}; "
            "rename or drop one of them (columns={...})"
        )
    return mapping


def _nullify(e: pl.Expr) -> pl.Expr:
    """Strip spaces; the strings of NULL_STRINGS become null."""
    s = e.str.strip_chars()
    return pl.when(s.is_in(NULL_STRINGS)).then(None).otherwise(s)


def _dicom_age(e: pl.Expr) -> pl.Expr:
    """DICOM Age String ('067Y', '018M') -> years as text (:func:`schema.parse_dicom_age`);
    other values unchanged (plain numbers are years)."""
    years = schema.parse_dicom_age(e).cast(pl.Utf8)
    return pl.when(years.is_not_null()).then(years).otherwise(e)


def _merge_time(date: pl.Expr, time: pl.Expr) -> pl.Expr:
    """Join a date-only text (DICOM DA, ISO or day-first) and a DICOM TM / HH:MM:SS text."""
    t = time.cast(pl.Utf8).str.strip_chars().str.replace_all(":", "", literal=True)
    main = t.str.extract(r"^(\d{2,6})", 1).str.pad_end(6, "0")
    frac = t.str.extract(r"^\d{6}(\.\d+)$", 1).fill_null("")
    iso_time = pl.concat_str(
        [main.str.slice(0, 2), main.str.slice(2, 2), main.str.slice(4, 2)], separator=":"
    )
    d = date.cast(pl.Utf8)
    return (
        pl.when(main.is_null())
        .then(d)
        .when(d.str.contains(r"^\d{8}$"))
        .then(pl.concat_str([d, pl.lit(" "), main, frac]))
        .when(d.str.len_chars() <= 10)
        .then(pl.concat_str([d, pl.lit(" "), iso_time, frac]))
        .otherwise(d)
    )


def _numeric_text(s: pl.Series, decimal: str | None) -> pl.Series:
    """Text numbers with a decimal comma rewritten with a point (when detected or asked)."""
    if decimal == "," or (
        decimal is None
        and s.str.contains(",", literal=True).any()
        and not s.str.contains(".", literal=True).any()
    ):
        return s.str.replace(",", ".", literal=True)
    return s


def _infer(s: pl.Series, decimal: str | None) -> pl.Series:
    """An unknown CSV column: Int64 or Float64 when every value is a number, else text."""
    present = s.drop_nulls()
    if present.len() == 0:
        return s
    t = _numeric_text(s, decimal)
    present = t.drop_nulls()
    if present.str.contains(_INT).all():
        return t.cast(pl.Int64)
    if present.str.contains(_FLOAT).all():
        return t.cast(pl.Float64)
    return s


def _normalise(
    frame: Any, source: str, *, dayfirst: bool, decimal: str | None, from_csv: bool
) -> Any:
    """Text clean-up before the canonical casts: nulls, decimal commas, ages, dates."""
    lazy = isinstance(frame, pl.LazyFrame)
    sch = frame.collect_schema() if lazy else frame.schema
    text = [n for n, d in sch.items() if d == pl.Utf8 and (from_csv or n in _CANONICAL)]
    frame = frame.with_columns(_nullify(pl.col(n)).alias(n) for n in text)
    exprs: dict[str, pl.Expr] = {}
    if "age_years" in text:
        exprs["age_years"] = _dicom_age(pl.col("age_years"))
    if STUDY_TIME in sch and "exam_date" in sch and sch["exam_date"] in (pl.Utf8, pl.Date):
        exprs["exam_date"] = _merge_time(pl.col("exam_date"), pl.col(STUDY_TIME))
    frame = frame.with_columns(**exprs)
    if "exam_date" in exprs:
        frame = frame.drop(STUDY_TIME)
    if lazy:
        if decimal == ",":
            num = [n for n in text if n in _NUMERIC]
            frame = frame.with_columns(pl.col(num).str.replace(",", ".", literal=True))
        return frame
    updates = [_numeric_text(frame.get_column(n), decimal) for n in text if n in _NUMERIC]
    if from_csv:
        updates += [
            _infer(frame.get_column(n), decimal)
            for n in text
            if n not in _CANONICAL and n != STUDY_TIME
        ]
        if "patient_id" in text:
            ids = frame.get_column("patient_id")
            if ids.drop_nulls().str.contains(_INT).all() and ids.null_count() < ids.len():
                updates.append(ids.cast(pl.Int64))
    frame = frame.with_columns(updates)
    if "exam_date" in frame.columns and frame.schema["exam_date"] == pl.Utf8 and not dayfirst:
        dates = frame.get_column("exam_date")
        slashed = dates.filter(dates.str.contains(_SLASHED))
        if slashed.len():
            raise ValueError(
                f"{source}: column 'exam_date' holds dates like {slashed[0]!r} that may be "
                "day-first or month-first; pass dayfirst=True (--dayfirst) for dd/mm/yyyy "
                "or dd.mm.yyyy, or convert them to ISO YYYY-MM-DD"
            )
    return frame


def _column_hint(problems: pl.DataFrame, names: list[str]) -> str | None:
    """When a column is missing, say which columns there are and how to map them."""
    missing = problems.filter(pl.col("row").is_null()).get_column("column").to_list()
    if not missing:
        return None
    return (
        f"The columns are {names}; map yours with columns={{'their name': {missing[0]!r}}} "
        "(CLI: --map 'their name=" + missing[0] + "')."
    )


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        theirs, eq, ours = item.rpartition("=")
        if not eq or not theirs.strip() or not ours.strip():
            raise ValueError(f"--map expects THEIRS=OURS, got {item!r}")
        mapping[theirs.strip()] = ours.strip()
    return mapping


def cli_validate(args: argparse.Namespace) -> int:
    """``recurct validate FILE``: print what validation finds; 0 if clean, 1 if not, 2 on error."""
    try:
        mapping = _parse_map(list(args.map or []))
        frame, _, source, renames = _prepare(
            args.file, mapping, dayfirst=args.dayfirst, sep=None, decimal=None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", schema.DroppedRowsWarning)
            _, report = schema.validate(
                frame,
                strict=False,
                today=args.today,
                required=READ_REQUIRED,
                return_report=True,
                dayfirst=args.dayfirst,
            )
    except schema.ExamValidationError as exc:  # a required column is missing
        print(f"{args.file}: problems found")
        print(
            schema.ExamValidationError(
                exc.problems, source=args.file, hint=_column_hint(exc.problems, frame.columns)
            )
        )
        return 1
    except (OSError, ValueError) as exc:
        print(f"recurct validate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{source}: {'clean' if report.is_clean else 'problems found'}")
    if renames:
        print("columns read as: " + ", ".join(f"{k!r} -> {v}" for k, v in renames.items()))
    print(report)
    return 0 if report.is_clean else 1
