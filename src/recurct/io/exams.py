"""Read exam tables (CSV, Parquet, a folder of Parquet, or a data frame) into canonical form.

:func:`read_exams` maps column names (yours first, then :data:`VENDOR_COLUMNS`), copes with
the files spreadsheets and dose-monitoring systems write (``;`` separator, decimal comma,
UTF-8 with or without BOM, UTF-16, Windows-1252, CR / LF / CRLF line ends, an Excel
``sep=;`` first line, blank lines above the header, ``.csv.gz``; empty, ``N/A``, ``-``,
``NULL``, ``#N/A`` and the other cells of :data:`NULL_STRINGS` as missing in canonical
columns), parses ISO, DICOM and (with ``dayfirst=True``) day-first dates, converts DICOM age
strings (``067Y``) to years, and validates the result with :func:`recurct.schema.validate`
(``patient_id`` and ``exam_date`` required: many exports carry only the DLP, from which
:mod:`recurct.dose` derives the effective dose). Only canonical columns are parsed; every
other column keeps its text (CSV) or its dtype (Parquet, frames) exactly.

"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np
import polars as pl

from recurct import _checks, schema
from recurct._casts import (
    COMMA_OK,
    POINT_OK,
    as_written,
    eager_casts,
    null_text,
    numeric_text,
    with_casts,
)
from recurct._casts import NULL_STRINGS as _NULL_STRINGS
from recurct._compat import renamed
from recurct._dates import TIME_FORMS, date_cells_text, parse_date_series, parse_study_time
from recurct._frames import (
    ID_SPACES,
    SCIENTIFIC_ID,
    clean_frame,
    from_polars,
    input_index,
    scientific_ids_text,
    to_polars,
)
from recurct._outdir import check_files
from recurct._stacklevel import user_stacklevel
from recurct._validation import (
    RowPlaces,
    check_exams_kept,
    problem_error,
    row_text,
    unchecked_report,
)
from recurct.errors import (
    DataError,
    IdentifierWarning,
    InputNotFoundError,
    ParameterError,
    UnmappedValuesWarning,
)
from recurct.io._csv import read_csv
from recurct.io._parquet import (
    PARQUET_SUFFIXES,
    Mismatch,
    folder_files,
    partitions,
    partitions_agree,
    read_schema,
    unreadable,
)
from recurct.io._result import ReadResult

if TYPE_CHECKING:
    from datetime import date, datetime

    import pandas as pd
    import pyarrow as pa

__all__ = ["NULL_STRINGS", "READ_REQUIRED", "VENDOR_COLUMNS", "read_exams"]

READ_REQUIRED: tuple[str, ...] = ("patient_id", "exam_date")
"""Columns :func:`read_exams` requires (the effective dose is validated where present)."""

NULL_STRINGS: tuple[str, ...] = _NULL_STRINGS
"""Cell values read as missing (after surrounding spaces are removed): empty, ``N/A``,
``NA``, ``-``, and the placeholders databases and spreadsheets write (``NULL``, ``None``,
``(null)``, ``#N/A``, ``#NV`` of German Excel, ``<NA>`` of pandas). :func:`read_exams`
applies them to every canonical column (a ``NULL`` DLP is a missing DLP, ``NULL`` no
facility); in a table in memory every function applies them to the text doses, DLP,
CTDIvol and age, while text attributes keep their text. Other columns keep their text.
``NaN`` stays a number (reported as a NaN dose). The one list:
:data:`recurct._casts.NULL_STRINGS`."""

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
_INT = r"^(0|[1-9]\d{0,17})$"
# a date that can only be month-first (12/31/2019: no month 31), only day-first (31/12/2019:
# no month 31 the other way), or either (01/02/2020), in a column of slashed dates
# (:func:`_month_first`)
_ONLY_MONTH_FIRST = r"^(?:0?[1-9]|1[0-2])[/.\-](?:1[3-9]|2[0-9]|3[01])[/.\-][0-9]{4}"
_ONLY_DAY_FIRST = r"^(?:1[3-9]|2[0-9]|3[01])[/.\-](?:0?[1-9]|1[0-2])[/.\-][0-9]{4}"
_EITHER_WAY = r"^(?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|1[0-2])[/.\-][0-9]{4}"
_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
# an Excel serial day number (days since 1899-12-30; 45123 is 2023-07-16), written as the
# date of a cell not formatted as one (:func:`date_hint`)
_EXCEL_SERIAL = r"^\s*[0-9]{5}(?:[.,][0-9]+)?\s*$"
_PLAIN_DATE = r"^[0-9./-]+$"  # a date of digits and separators only (:func:`_merge_time`)
# a date written with a time of exactly midnight (2020-01-03 00:00:00.000, 03.01.2020 00:00,
# 2020-01-03T00:00, with a zone 2020-01-03T00:00Z or +01:00; DICOM DT 20200103000000 or
# 20200103 000000): a date alone, as database and spreadsheet exports write one
# (:func:`_date_part`); its date, before the space or "T" (the first 8 digits of a DICOM
# DT), is what a separate time column is joined to, cell by cell
_MIDNIGHT = (
    r"^[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}[ T]0?0:00(?::00(?:\.0+)?)?"
    r"(?:Z| ?[+-][0-9]{2}(?::?[0-9]{2})?)?$"
    r"|^[0-9]{8}(?: 000000(?:\.0+)?Z?|000000(?:\.0+)?(?:Z|[+-][0-9]{4})?)$"
)
# a date written with a time of day (a clock of 1-2 digits, a colon and 2 more, not after a
# sign or a digit: a zone offset after a date alone, 2020-01-03+01:00, is no time; or a DICOM
# DT; ASCII digits, as dates are read): one that is not midnight makes the column one with
# other times, where a time joined to a midnight date is warned of (:func:`_merge_time`)
_HAS_TIME = r"(?:^|[^+\-0-9])[0-9]{1,2}:[0-9]{2}|^[0-9]{8} ?[0-9]{4}"


@overload
def read_exams(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    columns: Mapping[str, str] | None = ...,
    *,
    dayfirst: bool = ...,
    sep: str | None = ...,
    decimal: str | None = ...,
    validate: bool = ...,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> ReadResult[pl.DataFrame]: ...
@overload
def read_exams(
    source: pd.DataFrame,
    columns: Mapping[str, str] | None = ...,
    *,
    dayfirst: bool = ...,
    sep: str | None = ...,
    decimal: str | None = ...,
    validate: bool = ...,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> ReadResult[pd.DataFrame]: ...
@overload
def read_exams(
    source: pl.DataFrame | pd.DataFrame,
    columns: Mapping[str, str] | None = ...,
    *,
    dayfirst: bool = ...,
    sep: str | None = ...,
    decimal: str | None = ...,
    validate: bool = ...,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> ReadResult[pl.DataFrame] | ReadResult[pd.DataFrame]: ...
@overload
def read_exams(
    source: pa.Table,
    columns: Mapping[str, str] | None = ...,
    *,
    dayfirst: bool = ...,
    sep: str | None = ...,
    decimal: str | None = ...,
    validate: bool = ...,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> ReadResult[pl.DataFrame]: ...
@renamed(path_or_frame="source", lazy="use recurct.outofcore.scan_exams(source) for a lazy scan")
def read_exams(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame | pd.DataFrame | pa.Table,
    columns: Mapping[str, str] | None = None,
    *,
    dayfirst: bool = False,
    sep: str | None = None,
    decimal: str | None = None,
    validate: bool = True,
    strict: bool = True,
    today: date | datetime | str | None = None,
    region_rules: Any = None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    max_dose_msv: float | None = schema.MAX_EXAM_DOSE_MSV,
) -> ReadResult[Any]:
    """Read an exam table into canonical form (see :mod:`recurct.schema`), with its report.

    Parameters
    ----------
    source : str, Path, or polars / pandas / pyarrow table
        A CSV file (plain or ``.csv.gz``), a Parquet file, a folder of Parquet files (read
        recursively; :data:`PARQUET_SUFFIXES` in any case; hive partition folders such as
        ``facility=A/`` become text columns, or where the files hold the column too, as
        polars' ``write_parquet(folder, partition_by=...)`` writes them, the files' column
        where every row agrees with its folder; a ``Float32`` column of some files is read
        as written beside another dtype of others), or a frame (a LazyFrame is collected; a
        pandas date column mixing date cells and text, as ``pd.read_excel`` gives, is read
        cell by cell; for a lazy scan of Parquet too large for memory use
        :func:`recurct.outofcore.scan_exams`).
    columns : mapping, optional
        ``{"their name": "our name"}``; wins over the built-in :data:`VENDOR_COLUMNS`.
    dayfirst : bool, default False
        Dates are ``31/12/2019`` or ``31.12.2019``. Without it such dates raise ``ValueError``.
        With it, a text column whose dates look month-first (some can only be month-first,
        ``12/31/2019``, none only day-first, and some could be either, ``01/02/2020``) is
        refused (see Raises); a month-first date among dates that cannot be swapped (ISO
        dates) is an unparseable date of its row.
    sep : str, optional
        CSV separator; detected from the header line (``,``, ``;``, tab or ``|``) when None.
    decimal : {None, ".", ","}
        Decimal mark of numbers in text. When None and the separator is not ``,``, a numeric
        column whose values contain commas and no points is read with a decimal comma.
    validate : bool, default True
        Pass the result through :func:`recurct.schema.validate` with ``patient_id`` and
        ``exam_date`` required; with False only the canonical casts are applied (a sex code or
        body region that maps to nothing is kept as given, for a later validation to count)
        and the report says nothing was checked (``validated`` False).
    strict, today, region_rules, placeholder_ids, max_dose_msv
        Passed to :func:`recurct.schema.validate`: ``strict=False`` drops the rows with a
        problem (counted in the report), ``region_rules`` extend the shipped body-region
        rules (a mapping ``{pattern: region}`` or an ordered table, tried first),
        ``placeholder_ids`` replaces :data:`recurct.schema.PLACEHOLDER_IDS`, ``max_dose_msv`` is
        the plausibility bound of one exam (:data:`recurct.schema.MAX_EXAM_DOSE_MSV`).

    Returns
    -------
    ReadResult
        ``.exams``: the canonical table (pandas when given pandas, else polars; a pandas
        table keeps the input's index labels of the rows kept, in input order); ``.events``:
        None (an exam table has no event level); ``.report``: the
        :class:`recurct.schema.ValidationReport` (rows in and out, each problem by row and
        column, counts of rows dropped and values set null by reason).

    Raises
    ------
    FileNotFoundError
        No such file or folder, or a folder that holds no Parquet file
        (:class:`recurct.errors.InputNotFoundError`).
    recurct.errors.ParameterError
        (a ``TypeError`` and a ``ValueError``) ``columns`` is not a mapping or names a
        missing column, two columns map to one name, ``sep`` or ``decimal`` is not accepted.
    recurct.errors.DataError
        (a ``ValueError``) The file is not a CSV or Parquet table (naming the file), cannot be
        decoded (naming the row), repeats a column name, has a row of the wrong field count,
        has a title line above its header (``CT dose report``: remove it), has a canonical
        column beside its vendor alias or two aliases of one, or dates are ambiguous (pass
        ``dayfirst``); a partition column of a folder held by a file too whose values
        differ from its folder (naming the file, the column and the row; with
        ``strict=False`` those cells are read as missing instead, see Warns); with
        ``dayfirst=True``, a text date column that looks month-first
        (naming a month-first date and one read day-first that would be swapped), even with
        ``strict=False``, since no row tells which dates are wrong.
    recurct.schema.ExamValidationError
        From validation, naming the file.

    Warns
    -----
    recurct.errors.IdentifierWarning
        Patient ids in scientific notation (``1,23457E+11``, as a spreadsheet shows a long
        number: digits lost, so several patients may share one) are read as missing ids (a
        problem of their rows, quoted as written); the warning counts them and names the
        column, the rows and the lines of the file. Ids with surrounding whitespace
        (removed) are counted too.
    recurct.errors.UnmappedValuesWarning
        A separate time-of-day column (``Study Time``): times that are none of the accepted
        forms (dropped: the exam keeps its date), times that differ from the time of day
        the exam date is written with (the date's own time kept), and times joined to dates
        written at exactly midnight in a column whose other dates have a time of day of
        their own (the exam takes the time column's time, on its day), counted and named by
        row and line. While some of its times are not used, the time column is kept in the
        table as ``study_time``. With ``strict=False``, the cells of a folder's partition
        column, held by a file too, that differ from their partition folder: read as
        missing (a missing ``patient_id`` or ``exam_date`` drops its exam, counted; another
        column's exam keeps its dose), counted and named by column, file and row.
    recurct.errors.RecurctWarning
        From validation: a text ``exam_date`` column mixes UTC offsets (``+01:00`` in some
        rows, ``Z`` or ``+02:00`` in others): each time is read as the wall-clock time
        written, its offset dropped, so times written with different offsets are on
        different clocks (two exams of one day may be ordered wrongly). The warning names
        the offsets and the first row of each; convert the times to one zone first where
        that matters.
    """
    dayfirst = _checks.flag(dayfirst, "read_exams", "dayfirst")
    validate = _checks.flag(validate, "read_exams", "validate")
    strict = _checks.flag(strict, "read_exams", "strict")
    frame, kind, where, _, shown, lines, _, parsed = prepare(
        source,
        columns,
        dayfirst=dayfirst,
        sep=sep,
        decimal=decimal,
        placeholder_ids=placeholder_ids,
        strict=strict or not validate,  # (unvalidated: nothing would drop a missing id)
    )
    kept = None
    if validate:
        try:
            out, report, kept = check_exams_kept(
                frame,
                strict=strict,
                today=today,
                required=READ_REQUIRED,
                dayfirst=dayfirst,
                region_rules=region_rules,
                placeholder_ids=placeholder_ids,
                max_dose_msv=max_dose_msv,
                shown=shown,
                source=where if kind in ("csv", "parquet") else None,
                parsed_dates=parsed,
            )
        except schema.ExamValidationError as exc:
            said = [_column_hint(exc.problems, frame.columns), *hints(exc.problems)]
            hint = "\n".join(h for h in said if h) or None
            raise problem_error(exc.problems, where, hint, lines) from None
        except DataError as exc:  # (a column of a dtype that cannot hold its values)
            raise DataError(f"{where}: {exc}" if where else str(exc)) from None
    else:
        try:
            casts = eager_casts(
                frame, dayfirst=dayfirst, region_rules=region_rules, parsed_dates=parsed
            )
        except DataError as exc:
            raise DataError(f"{where}: {exc}" if where else str(exc)) from None
        out = with_casts(frame, casts)
        report = unchecked_report(out.height)
    if lines is not None:
        report = replace(report, lines=lines)
    if kind == "pandas":
        exams = from_polars(out, "pandas", input_index(source, kept))
    else:
        exams = from_polars(out, "polars")
    return ReadResult(exams=exams, events=None, report=report)


class Prepared(NamedTuple):
    """What :func:`prepare` returns."""

    frame: pl.DataFrame
    """The table renamed, its canonical text columns normalised (:func:`_normalise`)."""
    kind: str
    """'csv', 'parquet' or the frame library."""
    source: str
    """The path, or ``<polars frame>`` and the like."""
    renames: dict[str, str]
    """``{their column: canonical name}``."""
    shown: pl.DataFrame
    """The dose and age columns as written (before decimal marks and DICOM ages were
    rewritten), row for row: the values problems quote."""
    lines: RowPlaces | None
    """For a CSV file, the 1-based line of the file of each 0-based data row; for a folder
    of Parquet files, its file and row there (:class:`FileRows`); else None."""
    notes: list[str]
    """What was left out while reading (unnamed empty columns of a CSV file)."""
    parsed_dates: pl.Series | None = None
    """The text ``exam_date`` parsed, row for row, where a separate time of day was merged
    into it (:func:`_merge_time`) or the dates were read day-first (:func:`_normalise`), for
    validation to use instead of parsing it again; else None."""


def prepare(
    source: Any,
    columns: Mapping[str, str] | None,
    *,
    dayfirst: bool,
    sep: str | None,
    decimal: str | None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    strict: bool = True,
) -> Prepared:
    """Load, rename and normalise strings (:class:`Prepared`).

    The first step of :func:`read_exams`, also used by the command line (which validates
    after its own region and dose steps). ``strict=False``: in a folder of Parquet files,
    a cell of a partition column that differs from its folder is read as missing, with a
    warning, for validation to judge (:func:`_scan_parquet`); else it raises."""
    if columns is not None and not isinstance(columns, Mapping):
        raise ParameterError(
            f"columns must be a mapping {{'their name': 'our name'}}, got {type(columns).__name__}"
        )
    if decimal is not None and (not isinstance(decimal, str) or decimal not in (".", ",")):
        raise ParameterError(f"decimal must be '.' or ',', got {decimal!r}")
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ParameterError(f"sep must be one character, got {sep!r}")
    if isinstance(source, (str, os.PathLike)) and _is_csv(Path(source)):
        table = read_csv(Path(source), sep, _is_column)
        frame, kind, where, sep = table.frame, "csv", str(source), table.sep
        lines: RowPlaces | None = table.lines
        notes = []
        if table.unnamed_dropped:
            at = ", ".join(str(i) for i in table.unnamed_dropped)
            notes.append(
                f"{len(table.unnamed_dropped)} unnamed empty column(s) left out (column {at}, "
                "0-based: an empty header field and no value in any row)"
            )
    else:
        frame, kind, where, sep, lines = _load(source, sep=sep, strict=strict, decimal=decimal)
        notes = []
    from_csv = kind == "csv"
    if decimal is None and sep == ",":  # a comma inside a number needs quotes: read as is
        decimal = "as-is"
    renames = _rename_map(frame.columns, columns or {}, where)
    frame = frame.rename(renames)
    frame, shown, parsed = _normalise(
        frame,
        where,
        dayfirst=dayfirst,
        decimal=decimal,
        from_csv=from_csv,
        placeholder_ids=placeholder_ids,
        time_column=next((k for k, v in renames.items() if v == STUDY_TIME), STUDY_TIME),
        id_column=next((k for k, v in renames.items() if v == "patient_id"), "patient_id"),
        lines=lines,
    )
    return Prepared(frame, kind, where, renames, shown, lines, notes, parsed)


def _is_csv(path: Path) -> bool:
    """Whether :func:`_load` would read ``path`` as CSV text (a file, not Parquet)."""
    if not path.is_file() or path.suffix.lower() in PARQUET_SUFFIXES:
        return False
    with path.open("rb") as fh:
        return fh.read(4) != b"PAR1"


class FileRows:
    """The file and its own 0-based row of each 0-based row of a folder of Parquet files,
    read as one table (the files' rows one after another, in the order read):
    ``FileRows(["a.parquet", "b.parquet"], [2, 1])(2) == "row 0 of b.parquet"``.

    Passed where a CSV file passes its lines (:func:`row_text`, ``ValidationReport.lines``),
    so that messages name ``row 2 (row 0 of b.parquet)``; None for a row outside the table.

    Parameters
    ----------
    names : sequence of str
        The files, as named in messages (their paths below the folder), in the order read.
    heights : sequence of int, optional
        The rows of each file.
    files : sequence of path, optional
        Without ``heights``: the files themselves, whose rows are counted from their footers
        the first time a row is named (a clean read never counts them).
    """

    note = (
        "rows: 0-based rows of the input, the files' rows one after another in the order "
        "read; each with its file and its own 0-based row"
    )
    """What the rows of a problem listing count, for a folder of Parquet files."""

    def __init__(
        self,
        names: Sequence[str],
        heights: Sequence[int] | None = None,
        *,
        files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        given = heights if heights is not None else files
        if given is None or len(names) != len(given):
            raise ParameterError(
                f"FileRows: {len(names)} file name(s) but "
                f"{'no' if given is None else len(given)} row count(s) or files"
            )
        self.names = list(names)
        self._heights = None if heights is None else list(heights)
        self._files = None if files is None else [str(f) for f in files]

    @cached_property
    def starts(self) -> np.ndarray:
        """Where each file's rows start in the table, and the table's rows, last."""
        heights = self._heights if self._heights is not None else parquet_heights(self._files)
        return np.concatenate([[0], np.cumsum(np.asarray(heights, dtype=np.int64))])

    def __call__(self, row: int) -> str | None:
        if not 0 <= row < int(self.starts[-1]):
            return None
        i = int(np.searchsorted(self.starts, row, side="right")) - 1
        return f"row {row - int(self.starts[i])} of {self.names[i]}"

    def __repr__(self) -> str:
        return f"FileRows({len(self.names)} files, {int(self.starts[-1])} rows)"


def parquet_heights(files: Sequence[str | os.PathLike[str]] | None) -> list[int]:
    """The rows of each Parquet file, from its footer (one collect for all)."""
    counts = pl.collect_all([pl.scan_parquet(f, glob=False).select(pl.len()) for f in files or ()])
    return [int(c.item()) for c in counts]


def _load(
    obj: Any, *, sep: str | None, strict: bool = True, decimal: str | None = None
) -> tuple[pl.DataFrame, str, str, str | None, FileRows | None]:
    """``(frame, kind, source, CSV separator, the file of each row of a folder of Parquet
    files)``; kind: 'csv', 'parquet' or the frame library. A frame is not cleaned here: the
    identity rules run on the canonical columns (:func:`_normalise`), naming the source.
    ``strict``: of a folder, the cells of a partition column that differ from their folder
    raise (True) or are read as missing (:func:`_scan_parquet`)."""
    if not isinstance(obj, (str, os.PathLike)):
        df, kind = to_polars(_pandas_date_cells(obj), clean=False, decimal=decimal)
        return df, kind, f"<{kind} frame>", None, None
    path = Path(obj)
    source = str(path)
    if not path.exists():
        raise InputNotFoundError(f"read_exams: {source}: no such file or folder")
    if path.is_dir():  # (a folder recurct wrote: complete, per its manifests, and exams)
        frame, places = _scan_folder(path, source, strict=strict)
        return frame, "parquet", source, None, places
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1" or path.suffix.lower() in PARQUET_SUFFIXES:
        check_files([path])  # a part of a folder recurct wrote: checked as the folder is
        return _scan_parquet([path], path, source), "parquet", source, None, None
    table = read_csv(path, sep, _is_column)
    return table.frame, "csv", source, table.sep, None


def _scan_folder(
    path: Path, source: str, *, strict: bool = True, fn: str = "read_exams"
) -> tuple[pl.DataFrame, FileRows | None]:
    """The Parquet files below ``path`` (:func:`recurct.io._parquet.folder_files`, the rule
    of every reader of a folder) read as one table, in the order of their paths (sorted as
    text, the order in which polars and the out-of-core path read a folder), and the file
    and row of each of its rows (:class:`FileRows`; None should the counts of the files'
    rows not add up to the table's)."""
    files = folder_files(path, fn)
    frame = _scan_parquet(files, path, source, strict=strict, fn=fn)
    return frame, FileRows([f.relative_to(path).as_posix() for f in files], files=files)


def _scan_parquet(
    files: list[Path], root: Path, source: str, *, strict: bool = True, fn: str = "read_exams"
) -> pl.DataFrame:
    """One lazy scan per file (its hive partitions as text columns), concatenated; a file
    that cannot be read is named. Where the files' dtypes of a column differ, the column is
    reconciled first (:func:`_reconciled_casts`), so that no value is converted to another
    type (``True`` to 1.0, a date to days) and validation judges each value as reading its
    file alone would; columns of one dtype in every file are read as they are. A ``Float32``
    (or ``Float16``) column of a file where other files hold the column in another dtype is
    read as written, by its shortest decimal (:func:`_written_floats`), as its file alone
    is. A column of ``Date`` and ``Datetime("ns")`` is read as ``Datetime("us")``
    (:func:`_wide_dates`), so that a date outside 1677-2262 is kept (and validated) as any
    other. A column both in a file and in its partition folders (as polars'
    ``write_parquet(..., partition_by=...)`` writes them) is read from the file, its dtype
    kept, where the two agree on every row (:func:`recurct.io._parquet.partitions_agree`);
    where they differ, with ``strict`` a :class:`~recurct.errors.DataError` naming the file,
    the column and the row, without it each cell that differs is read as missing
    (:func:`_mismatches_missing`), as any bad cell of its column. A file that cannot be read
    is named by :func:`recurct.io._parquet.unreadable`."""
    scans = []
    schemas: list[pl.Schema] = []
    keys: list[str] | None = None
    held: list[tuple[Path, dict[str, str | None], pl.Schema]] = []
    for f in files:
        names = read_schema(f, fn)
        schemas.append(names)
        parts = partitions(f, root) if root.is_dir() else {}
        if keys is None:
            keys = list(parts)
        elif list(parts) != keys:
            raise DataError(
                f"{source}: partition folders differ: {f} has {list(parts)}, others {keys}"
            )
        if any(k in names for k in parts):  # (polars' partition_by writes both)
            held.append((f, parts, schemas[-1]))
        scans.append(
            pl.scan_parquet(f, glob=False).with_columns(
                pl.lit(v, dtype=pl.Utf8).alias(k) for k, v in parts.items() if k not in names
            )
        )
    if held:
        lenient = "; or read with strict=False (such a cell is then read as missing)"
        odd = partitions_agree(held, fn, strict=strict, hint=lenient)
        if odd:
            scans = _mismatches_missing(scans, files, root, source, odd, fn)
    if len(scans) > 1 and any(s != schemas[0] for s in schemas[1:]):
        floats = _written_floats(schemas)  # a float32 12.3 is 12.3, as in its file alone
        if floats:
            scans = [
                scan.with_columns(as_written(pl.col(c), have[c]) for c in floats if c in have)
                if any(c in have for c in floats)
                else scan
                for scan, have in zip(scans, schemas, strict=True)
            ]
        texts = _reconciled_casts([str(f) for f in files], schemas, source)
        scans = [
            scan.with_columns(pl.col(c).cast(pl.Utf8) for c in text) if text else scan
            for scan, text in zip(scans, texts, strict=True)
        ]
        wide = _wide_dates(schemas)  # Date and Datetime("ns"): as Datetime("us"), every date
        scans = [
            scan.with_columns(
                pl.col(c).cast(d) for c, d in wide.items() if c in have and have[c] != pl.Null
            )
            if any(c in have for c in wide)
            else scan
            for scan, have in zip(scans, schemas, strict=True)
        ]
    try:
        lf = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")
        lf.collect_schema()
    except Exception as exc:
        raise DataError(f"{source}: the Parquet files do not share one schema ({exc})") from exc
    try:
        return lf.collect()
    except Exception as exc:
        for f, scan in zip(files, scans):
            try:
                scan.collect()
            except Exception as one:
                raise unreadable(fn, f, one) from exc
        raise unreadable(fn, source, exc) from exc


def _mismatches_missing(
    scans: list[pl.LazyFrame],
    files: list[Path],
    root: Path,
    source: str,
    odd: list[Mismatch],
    fn: str,
) -> list[pl.LazyFrame]:
    """``scans`` (one per file) with each cell of a partition column that differs from its
    folder (``odd``, :func:`recurct.io._parquet.partitions_agree`) read as missing, as a bad
    cell of its column is with ``strict=False``: a missing ``patient_id`` or ``exam_date``
    then drops its exam (validation counts it), any other column's exam keeps its dose. An
    :class:`~recurct.errors.UnmappedValuesWarning` per column names the file and row of
    each cell (and its row of the table), and counts them."""
    at = {f: i for i, f in enumerate(files)}
    places = FileRows([f.relative_to(root).as_posix() for f in files], files=files)
    rows: dict[str, list[np.ndarray]] = {}
    scans = list(scans)
    for m in odd:
        i = at[m.file]
        cut = pl.int_range(pl.len(), dtype=pl.Int64).is_in(m.rows.tolist())
        scans[i] = scans[i].with_columns(
            pl.when(cut).then(None).otherwise(pl.col(m.column)).alias(m.column)
        )
        rows.setdefault(m.column, []).append(m.rows + int(places.starts[i]))
    for column, found in rows.items():
        table_rows = np.sort(np.concatenate(found))
        listed, _ = _rows_listed(table_rows, places)
        w = UnmappedValuesWarning(
            f"{fn}: {source}: column {column!r} is both in the files and in their partition "
            f"folders, and {table_rows.size} of its value(s) differ from their folder "
            f"({listed}); read as missing (strict=False): an exam without its patient_id or "
            "exam_date is dropped and counted, any other keeps its dose"
        )
        w.values_nulled = int(table_rows.size)  # type: ignore[attr-defined]
        warnings.warn(w, stacklevel=user_stacklevel())
    return scans


def _written_floats(schemas: Sequence[Mapping[str, pl.DataType]]) -> list[str]:
    """The columns that some files hold as ``Float32`` or ``Float16`` and others in another
    dtype (an all-null column aside): each file's 32- or 16-bit floats are read as
    ``Float64`` by their shortest decimal (:func:`recurct._casts.as_written`) before the
    files are joined, as each file alone is read (a float32 ``33.3`` is 33.3, where the
    supertype ``Float64`` would hold its exact value 33.29999923706055, and three of them
    would not reach 100 mSv). A column of ``Float32`` in every file stays ``Float32``, read
    as written later, as a single file is."""
    out = []
    for col in dict.fromkeys(c for s in schemas for c in s):
        dtypes = {s[col] for s in schemas if col in s and s[col] != pl.Null}
        if len(dtypes) > 1 and dtypes & {pl.Float32, pl.Float16}:
            out.append(col)
    return out


def _kind(dtype: pl.DataType) -> str:
    """What a column of ``dtype`` holds: text, numbers, dates (and times), or the dtype's
    name (``Boolean``, ``List``, ...). Also how :mod:`recurct.outofcore` names the kinds of
    a folder's files whose columns differ."""
    if dtype == pl.Utf8 or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype.is_numeric():
        return "numbers"
    if dtype.is_temporal():
        return "dates"
    return type(dtype).__name__


def _joins(dtypes: list[pl.DataType]) -> bool:
    """Whether ``dtypes`` have a common supertype (``concat(how="vertical_relaxed")``)."""
    try:
        pl.concat(
            [pl.LazyFrame(schema={"x": d}) for d in dtypes], how="vertical_relaxed"
        ).collect_schema()
    except Exception:  # polars raises several kinds
        return False
    return True


#: kinds of value a column of mixed kinds is read from as text, file by file
_AS_TEXT = ("text", "numbers", "dates", "Boolean")


def _reconciled_casts(files: list[str], schemas: list[pl.Schema], source: str) -> list[list[str]]:
    """For each file, the columns to read as text before the files are concatenated.

    A column whose dtypes differ between the files (an all-null column aside) is concatenated
    in their common supertype when they hold one kind of value (``Int32`` and ``Float64``
    doses, ``Date`` and ``Datetime``: read exactly as before). Text of differing dtypes
    (``Enum`` categories in another order, ``Categorical``) is read as text. A column
    holding different kinds (numbers in one file, text, ``Boolean`` or dates in another) is
    read as text in every file, so validation judges each value as written (``true`` is not
    a number, as in its file read alone) instead of a converted one (1.0, days since 1970);
    other columns keep their values as text. A
    :class:`~recurct.errors.DataError` names the column and two files whose dtypes cannot be
    reconciled so (no supertype; a nested or binary column among other kinds)."""
    texts: list[list[str]] = [[] for _ in files]
    names = list(dict.fromkeys(c for s in schemas for c in s))
    for col in names:
        have = [(i, s[col]) for i, s in enumerate(schemas) if col in s and s[col] != pl.Null]
        if len({d for _, d in have}) < 2:
            continue
        kinds = [_kind(d) for _, d in have]
        if set(kinds) == {"text"}:
            pick = [i for i, d in have if d != pl.Utf8]
        elif len(set(kinds)) > 1:
            odd = next((k for k, kind in enumerate(kinds) if kind not in _AS_TEXT), None)
            if odd is not None:
                other = have[1] if odd == 0 else have[0]
                what = f"{kinds[odd]} cannot be read as text with the others"
                raise DataError(_clash(source, col, files, have[odd], other, what))
            pick = [i for i, d in have if d != pl.Utf8]
        else:
            pick = []
        for i in pick:
            texts[i].append(col)
        if not pick and not _joins([d for _, d in have]):
            first, other = _clashing_pair(have)
            raise DataError(_clash(source, col, files, first, other, "no common type"))
    return texts


def _clashing_pair(
    have: list[tuple[int, pl.DataType]],
) -> tuple[tuple[int, pl.DataType], tuple[int, pl.DataType]]:
    """Two of ``have`` (file index, dtype) whose dtypes have no common type, searched over
    every pair (``Date``, ``Datetime`` and a tz-aware ``Datetime``: the last two clash, the
    first joins either); the first and the last when every pair joins but not all of them."""
    return next(
        ((a, b) for a, b in itertools.combinations(have, 2) if not _joins([a[1], b[1]])),
        (have[0], have[-1]),
    )


def _wide_dates(schemas: Sequence[Mapping[str, pl.DataType]]) -> dict[str, pl.DataType]:
    """The columns of ``Date`` in some files and ``Datetime("ns")`` in others, each with the
    dtype they are read in: ``Datetime("us")`` (its time zone kept), which holds every date,
    where their supertype ``Datetime("ns")`` holds only 1677-2262 and a date outside (a
    sentinel 0001-01-01) would fail or become null. Both :func:`recurct.read_exams` and
    :func:`recurct.outofcore.scan_exams` cast such a column so, file by file."""
    out: dict[str, pl.DataType] = {}
    for col in dict.fromkeys(c for s in schemas for c in s):
        dtypes = {s[col] for s in schemas if col in s and s[col] != pl.Null}
        stamps = [d for d in dtypes if isinstance(d, pl.Datetime)]
        if (
            pl.Date in dtypes
            and any(d.time_unit == "ns" for d in stamps)
            and len(dtypes) == len(stamps) + 1
            and len({d.time_zone for d in stamps}) == 1
        ):
            out[col] = pl.Datetime("us", stamps[0].time_zone)
    return out


def _clash(
    source: str,
    col: str,
    files: list[str],
    a: tuple[int, pl.DataType],
    b: tuple[int, pl.DataType],
    what: str,
) -> str:
    return (
        f"{source}: column {col!r} is {a[1]} in {files[a[0]]} but {b[1]} in {files[b[0]]} "
        f"({what}); convert the column to one dtype in every file (e.g. with polars: "
        f"pl.col({col!r}).cast(...)) and write the files again"
    )


def _is_column(name: str) -> bool:
    """Whether ``name`` is a column name :func:`read_exams` knows: canonical, or a vendor
    alias (:data:`VENDOR_COLUMNS`), as a header names it."""
    return name in _CANONICAL or _key(name) in VENDOR_COLUMNS


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
            raise ParameterError(
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
        if target in found and len(found) > 1:
            others = [f for f in found if f != target]
            raise DataError(
                f"{source}: column {target!r} and its vendor alias {others[0]!r} are both in the "
                f"table; drop one, or say which is {target!r} with "
                f"columns={{{target!r}: {target!r}}} (the other is then carried through)"
            )
        if target in found:
            continue
        if len(found) > 1:
            raise DataError(
                f"{source}: columns {found} could all be {target!r}; choose one with "
                f"columns={{{found[0]!r}: {target!r}}}"
            )
        mapping[found[0]] = target
    final = [mapping.get(n, n) for n in names]
    clash = sorted({f for f in final if final.count(f) > 1})
    if clash:
        raise ParameterError(
            f"{source}: after mapping, several columns are named {clash}; "
            "rename or drop one of them (columns={...})"
        )
    return mapping


def _dicom_age(e: pl.Expr) -> pl.Expr:
    """DICOM Age String ('067Y', '018M') -> years as text (:func:`schema.parse_dicom_age`);
    other values unchanged (plain numbers are years)."""
    years = schema.parse_dicom_age(e).cast(pl.Utf8)
    return pl.when(years.is_not_null()).then(years).otherwise(e)


def _merge_time(
    frame: pl.DataFrame,
    source: str,
    column: str,
    dayfirst: bool,
    lines: RowPlaces | None = None,
) -> tuple[pl.DataFrame, pl.Series | None]:
    """Join a separate time of day (``study_time``, dropped after) to date-only exam dates.

    Times are read by :func:`recurct._dates.parse_study_time` (its forms only). A time that
    is none of them is dropped, never read as another minute, and counted in an
    :class:`~recurct.errors.UnmappedValuesWarning` naming ``column`` (the name in the file)
    and the rows: the exam keeps its date. A date written with a time of exactly midnight
    (``2020-01-03 00:00:00.000``, ``03.01.2020 00:00``, ``20200103000000``, as database and
    spreadsheet exports write a date: :data:`_MIDNIGHT`; a zone after it is dropped with it) is a
    date alone, cell by cell: the time is joined to its date part (:func:`_date_part`), its day
    unchanged. Where the column has dates written with another time of day too, the rows whose
    midnight took another time are warned of (:func:`_warn_time_pairs`). A date written
    with another time keeps it; where that time differs from the time column's, one
    :class:`~recurct.errors.UnmappedValuesWarning` counts those rows and names them
    (:func:`_warn_time_pairs`). The time column is dropped, unless some of its times were not
    used (none of its forms, a date's own time kept, a joined date that does not parse): it
    is then kept as ``study_time``, so that no two exams become copies for want of it
    (:func:`_time_dropped`). The date keeps its text
    as written (a midnight date: its date part), the time appended (``HHMMSS[.f]`` after a
    DICOM date, else ``HH:MM:SS[.f]``) only where the joined value parses, so a date that
    cannot be read is reported as it was written. A date of digits and separators is parsed
    alone (the joined value parses exactly where it does; half the cost or less); the
    joined value is parsed only for the other dates.

    Returns the frame and the exam dates parsed (``Datetime("us")``, null where the text does
    not parse), row for row, what :func:`recurct._dates.parse_date_series` gives for the
    ``exam_date`` text returned (the date plus the clock where the time joined): validation
    casts these instead of parsing the text again. ``None`` when no time joins and no date
    with a time of its own has one in the time column (the dates are then parsed once, by
    validation)."""
    text, clock, unused = _clock(frame, source, column, lines)
    d = frame.get_column("exam_date").cast(pl.Utf8)
    # the date to join a time to (a midnight date's date part), the midnight dates, and
    # whether other dates have a time of day of their own
    base, midnight, mixed = _date_part(d)
    dicom = base.str.contains(r"^\d{8}$").fill_null(False)
    date_only = dicom | (base.str.len_chars() <= 10).fill_null(False)
    joins = date_only & clock.is_not_null()
    timed = ~date_only & clock.is_not_null() & d.is_not_null()  # a time of its own
    if not joins.any() and not timed.any():
        return _time_dropped(frame, unused), None
    joined = None  # the date and the time, as text, where they join
    if joins.any():  # (built on the rows that join only, when others do not)
        rows = None if joins.all() else joins.arg_true()
        b, c, on = (base, clock, dicom) if rows is None else (base[rows], clock[rows], dicom[rows])
        text_joined = (
            b
            + " "
            + pl.select(
                pl.when(pl.lit(on)).then(pl.lit(c).str.replace_all(":", "")).otherwise(pl.lit(c))
            ).to_series()
        )
        if rows is None:
            joined = text_joined
        else:
            joined = pl.repeat(None, d.len(), dtype=pl.Utf8, eager=True)
            joined = joined.scatter(rows, text_joined)
    # a plain date (digits, separators) + " " + a well-formed clock parses where the date
    # does: each date format has its form with a time; letters or spaces: parsed joined.
    # Every date is parsed once here: alone (a midnight date by its date part), except
    # those others (parsed joined, and alone only where the joined value does not parse).
    plain = joins & base.str.contains(_PLAIN_DATE).fill_null(False)
    other = joins & ~plain
    alone_text = d.zip_with(~plain, base) if base is not d else d
    parsed = parse_date_series(alone_text.set(other, None), dayfirst=dayfirst)  # type: ignore[arg-type]
    at = clock.str.strptime(pl.Time, "%H:%M:%S%.f", strict=False)
    with_clock = pl.select(pl.lit(parsed).dt.combine(pl.lit(at), "us")).to_series()
    use = plain & parsed.is_not_null()
    if base is not d:  # a midnight date not joined: parsed as written (null, as its part)
        again = plain & ~use & (base != d).fill_null(False)
        if again.any():
            written = parse_date_series(d.set(~again, None), dayfirst=dayfirst)  # type: ignore[arg-type]
            parsed = parsed.zip_with(~again, written)
    if use.any():  # the date plus the clock (its fraction cut to microseconds, as parsed)
        parsed = parsed.zip_with(~use, with_clock)
    if joined is not None and other.any():
        rest = parse_date_series(joined.set(~other, None), dayfirst=dayfirst)  # type: ignore[arg-type]
        took = other & rest.is_not_null()
        use = use | took
        parsed = parsed.zip_with(~took, rest)
        left = other & ~took  # kept as written: parsed alone
        if left.any():
            alone = parse_date_series(d.set(~left, None), dayfirst=dayfirst)  # type: ignore[arg-type]
            parsed = parsed.zip_with(~left, alone)
            unused = unused or bool((left & alone.is_not_null()).any())  # a time not taken
    if timed.any():  # a time written with the date, kept: said where the column differs
        differs = (timed & (parsed != with_clock)).fill_null(False)
        _warn_time_pairs(_NOT_USED, source, column, differs, d, text, lines)
        unused = unused or bool(differs.any())
    if mixed and midnight is not None:  # a midnight that took another time: said
        moved = (midnight & use & (at.cast(pl.Int64) != 0)).fill_null(False)  # not 00:00
        _warn_time_pairs(_JOINED, source, column, moved, d, text, lines)
    if joined is not None and use.any():
        frame = frame.with_columns(exam_date=pl.when(use).then(joined).otherwise(d))
    elif frame.get_column("exam_date").dtype != pl.Utf8:
        return _time_dropped(frame, unused), None  # (a Date column left as it is)
    return _time_dropped(frame, unused), parsed.alias("exam_date")


def _time_dropped(frame: pl.DataFrame, unused: bool) -> pl.DataFrame:
    """``frame`` without its time column (``study_time``), merged into ``exam_date``; with
    it, as ``study_time``, where some of its times were ``unused`` (not in the exam date): it
    may be all that tells two exams of one day apart (:data:`recurct.schema.DUPLICATE_RULE`
    compares every column of rows whose date has no time of day)."""
    return frame if unused else frame.drop(STUDY_TIME)


def _clock(
    frame: pl.DataFrame, source: str, column: str, lines: RowPlaces | None
) -> tuple[pl.Series, pl.Series, bool]:
    """The separate time of day (``study_time``) as text and as ``HH:MM:SS[.f]`` read by
    :func:`recurct._dates.parse_study_time` (null where none), and whether any time is none
    of its forms (those are warned of: :func:`_warn_bad_times`)."""
    raw = frame.get_column(STUDY_TIME)
    if raw.dtype == pl.Time:
        text = raw.dt.to_string("%H:%M:%S%.6f")
    else:
        text = raw if raw.dtype == pl.Utf8 else raw.cast(pl.Utf8, strict=False)
    clock = parse_study_time(text)
    bad = (text.is_not_null() & (text.str.strip_chars() != "") & clock.is_null()).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        _warn_bad_times(source, column, rows, text.filter(pl.Series(bad)), lines)
    return text, clock, bool(bad.any())


def _merge_time_stamps(
    frame: pl.DataFrame, source: str, column: str, lines: RowPlaces | None = None
) -> tuple[pl.DataFrame, pl.Series | None]:
    """A separate time of day beside an ``exam_date`` of date-times (``Datetime``: a pandas
    ``datetime64``, a Parquet timestamp, a database datetime read by ``pd.read_sql``).

    A column whose every date-time is at midnight (00:00 on the clock written: a time zone
    aside) holds dates: they are read as dates and the time joined as to a ``Date`` column
    (:func:`_merge_time`; as they were when no time joins). In a column with other times, a
    date-time at midnight with a time in the time column takes that time, on its day, and
    the rows where that moved it are warned of (:func:`_warn_time_pairs`); the other
    date-times are kept, and the rows whose time column differs are warned of
    (:func:`_warn_time_pairs`). The time column is dropped as :func:`_merge_time` drops it
    (kept where some of its times were not used). Returns what :func:`_merge_time`
    returns."""
    d = frame.get_column("exam_date")
    zone = getattr(d.dtype, "time_zone", None)
    wall = d.dt.replace_time_zone(None) if zone else d  # the clock written
    known = wall.drop_nulls()
    if bool((known.dt.truncate("1d") == known).all()):
        dated = frame.with_columns(wall.dt.date().alias("exam_date"))
        out, parsed = _merge_time(dated, source, column, False, lines)
        if parsed is not None:
            return out, parsed
        # no time joined: the column as it was (the time column as the merge left it)
        return _time_dropped(frame, STUDY_TIME in out.columns), None
    text, clock, unused = _clock(frame, source, column, lines)
    at = clock.str.strptime(pl.Time, "%H:%M:%S%.f", strict=False)
    own = wall.cast(pl.Datetime("us"))
    with_clock = pl.select(pl.lit(own.dt.date()).dt.combine(pl.lit(at), "us")).to_series()
    midnight = (own.dt.truncate("1d") == own).fill_null(False)
    differs = (~midnight & (own != with_clock)).fill_null(False)
    shown = wall.cast(pl.Utf8)
    _warn_time_pairs(_NOT_USED, source, column, differs, shown, text, lines)
    joins = midnight & at.is_not_null()
    if joins.any():  # a midnight among other times takes the time column's, on its day
        moved = (joins & (own != with_clock)).fill_null(False)  # not 00:00 in the time column
        _warn_time_pairs(_JOINED, source, column, moved, shown, text, lines)
        frame = frame.with_columns(exam_date=own.zip_with(~joins, with_clock))
    return _time_dropped(frame, unused or bool(differs.any())), None


def _rows_listed(rows: Any, lines: RowPlaces | None, shown: int = 10) -> tuple[str, str | None]:
    """``(rows listed, the lines of a CSV file listed)`` of 0-based ``rows`` (the first
    ``shown``) for a warning: ``"rows 3, 4, 0-based; lines 5, 6 of the file"`` (``"row 3,
    0-based; line 5 of the file"`` for one), the file and its row for a folder of Parquet
    files (``"row 3, 0-based; row 0 of b.parquet"``); the lines alone too (None unless a CSV
    file), for the command line's summary."""
    one = rows.size == 1
    more = ", ..." if rows.size > shown else ""
    listed = f"{'row' if one else 'rows'} " + ", ".join(str(r) for r in rows[:shown]) + more
    listed += ", 0-based"
    at = [lines(int(r)) for r in rows[:shown]] if lines is not None else []
    file_lines = None  # the lines of a CSV file, as listed
    if at and all(isinstance(x, str) for x in at):  # a folder: the file and row there
        listed += "; " + ", ".join(str(x) for x in at) + more
    elif at and None not in at:  # a CSV file: the lines of those rows too
        file_lines = ", ".join(str(x) for x in at) + more
        listed += f"; {'line' if one else 'lines'} {file_lines} of the file"
    return listed, file_lines


def _warn_bad_times(
    source: str,
    column: str,
    rows: Any,
    values: pl.Series,
    lines: RowPlaces | None = None,
) -> None:
    shown = 10
    listed, file_lines = _rows_listed(rows, lines, shown)
    distinct = values.unique(maintain_order=True)
    quoted = ", ".join(repr(v) for v in distinct.head(shown).to_list())
    quoted += ", ..." if distinct.len() > shown else ""
    w = UnmappedValuesWarning(
        f"{source}: column {column!r}: {rows.size} time(s) of day are none of the accepted "
        f"forms ({TIME_FORMS}) and were dropped; those exams keep their date, without a time "
        f"({listed}; values {quoted})"
    )
    # the count and the CSV lines as data, for the command line's summary
    w.times_dropped, w.file_lines = int(rows.size), file_lines  # type: ignore[attr-defined]
    warnings.warn(w, stacklevel=user_stacklevel())


def _date_part(d: pl.Series) -> tuple[pl.Series, pl.Series | None, bool]:
    """The exam dates ``d`` (text) a separate time of day is joined to, which are written
    with a time of exactly midnight (:data:`_MIDNIGHT`), and whether the column has those
    and other dates written with a time of day (:data:`_HAS_TIME`). The midnight dates are
    given as their date part (up to the space or ``T``; the first 8 digits of a DICOM DT:
    cheaper than a capture group), the others as they are. Decided cell by cell, also in a
    column with other times of day: keeping a midnight and dropping the time column would
    make two exams of one day copies, while taking the time column's time keeps the exam on
    its day (its dose where it was). ``(d, None, False)`` when no date is at midnight."""
    long = d.str.len_chars() > 10
    if not long.any():
        return d, None, False
    midnight = (long & d.str.contains(_MIDNIGHT)).fill_null(False)
    if not midnight.any():
        return d, None, False
    other = (long & ~midnight).fill_null(False)
    mixed = bool(other.any() and d.filter(other).str.contains(_HAS_TIME).any())
    rows = midnight.arg_true()
    at = d[rows]
    base = d.clone().scatter(rows, at.str.head(at.str.find("[ T]").fill_null(8)))
    return base, midnight, mixed


#: What :func:`_warn_time_pairs` says of the times of day of a time column not joined to their
#: exam dates (the date has a time of its own, which differs) ...
_NOT_USED = (
    "were not used: the exam date of those rows is written with a time of day of its own, "
    "which differs, and keeps it (the time column is joined only to dates written alone, or "
    "at midnight, 00:00)"
)
#: ... and of those joined to dates written at midnight in a column with other times of day.
_JOINED = (
    "were joined to exam dates written at midnight (00:00) in a column whose other dates "
    "have a time of day of their own: those exams take the time column's time, on the same "
    "day (so that two exams of one day stay two; an exam really at midnight would have "
    "00:00 in the time column)"
)


def _warn_time_pairs(
    said: str,
    source: str,
    column: str,
    where: pl.Series,
    dates: pl.Series,
    times: pl.Series,
    lines: RowPlaces | None = None,
) -> None:
    """One :class:`UnmappedValuesWarning` naming the rows ``where`` of the times of day of
    ``column`` (``times``) and their exam dates (``dates``, as text), of which it says
    ``said`` (:data:`_NOT_USED`, :data:`_JOINED`); nothing when ``where`` holds none."""
    if not where.any():
        return
    n, listed = _pairs_listed(where, dates, times, lines)
    warnings.warn(
        UnmappedValuesWarning(
            f"{source}: column {column!r}: {n} time(s) of day {said}; check which is right "
            f"({listed})"
        ),
        stacklevel=user_stacklevel(),
    )


def _pairs_listed(
    where: pl.Series, dates: pl.Series, times: pl.Series, lines: RowPlaces | None
) -> tuple[int, str]:
    """``(how many rows, the rows listed and their date and time)`` of the rows ``where``
    (the first 5), for a warning: ``"row 3, 0-based; line 5 of the file; date and time
    '2020-01-03 00:00' and '09:30'"``."""
    rows = np.flatnonzero(where.to_numpy())
    shown = 5
    listed, _ = _rows_listed(rows, lines, shown)
    first = pl.Series(rows[:shown], dtype=pl.Int64)
    pairs = ", ".join(
        f"{d!r} and {t!r}"
        for d, t in zip(dates.gather(first).to_list(), times.gather(first).to_list())
    )
    pairs += ", ..." if rows.size > shown else ""
    return int(rows.size), f"{listed}; date and time {pairs}"


def _numeric_text(s: pl.Series, decimal: str | None) -> pl.Series:
    """A text dose or age column read by the rule of numbers in text
    (:func:`recurct._casts.numeric_text`, by ``decimal``), as :func:`_normalise` reads it:
    the column is stripped already."""
    return numeric_text(s, decimal, stripped=True)


def _normalise(
    frame: pl.DataFrame,
    source: str,
    *,
    dayfirst: bool,
    decimal: str | None,
    from_csv: bool,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    time_column: str = STUDY_TIME,
    id_column: str = "patient_id",
    lines: RowPlaces | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series | None]:
    """Text clean-up of the canonical columns before their casts: nulls, ids (the identity
    rules, :func:`recurct._frames.clean_frame`, their warnings naming the file, the column
    ``id_column`` as in the input and the lines), decimal commas, ages, dates (a separate
    time of day, named ``time_column`` in the input, joined to them). Other columns are left
    exactly as read. Returns the frame, its dose and age columns as written (nulls aside),
    for the problems to quote (and the patient ids in scientific notation, made missing),
    and the exam dates parsed where a time was merged (:func:`_merge_time`) or the text
    dates were read day-first (else None), for validation to use. An ``exam_date`` column
    of Python objects mixing date cells and text (``pd.read_excel``) is read as text, cell
    by cell (:func:`recurct._dates.date_cells_text`): each date cell as it is, each text
    date by the rules of text dates."""
    frame = _date_cells(frame)
    coded = [n for n, d in frame.schema.items() if n in _NUMERIC and d in (pl.Categorical, pl.Enum)]
    if coded:  # categories of text numbers: read by the rule of text (as validate reads them)
        frame = frame.with_columns(pl.col(coded).cast(pl.Utf8))
    sch = frame.schema
    text = [n for n, d in sch.items() if d == pl.Utf8 and (n in _CANONICAL or n == STUDY_TIME)]
    ids = [n for n in text if n in ("patient_id", "study_uid")]
    # ids: whitespace and placeholders by the identity rule (counted), not silently here
    frame = frame.with_columns(null_text(pl.col(n)).alias(n) for n in text if n not in ids)
    lost: list[tuple[np.ndarray, pl.Series]] = []

    def said(name: str, rows: np.ndarray, values: pl.Series) -> None:
        """The patient ids in scientific notation made missing, named by file and line."""
        listed, _ = _rows_listed(rows, lines, 10)
        shown_as = id_column if name == "patient_id" else name
        w = IdentifierWarning(f"{source}: " + scientific_ids_text(shown_as, values, listed))
        w.scientific_ids = int(rows.size)  # type: ignore[attr-defined]
        warnings.warn(w, stacklevel=user_stacklevel())
        lost.append((rows, values.cast(pl.Utf8)))

    frame = clean_frame(frame, placeholder_ids, lost=said)
    shown = frame.select(n for n in text if n in _NUMERIC)  # before any rewriting
    if lost:  # the ids as written, on their rows, for the problems to quote
        rows, values = lost[0]
        written = pl.repeat(None, frame.height, dtype=pl.Utf8, eager=True)
        written = written.scatter(rows, values).alias("patient_id")
        shown = pl.concat([shown, written.to_frame()], how="horizontal")
    # decimal marks first, then DICOM ages (067Y; 1,5Y read by either)
    frame = frame.with_columns(
        _numeric_text(frame.get_column(n), decimal) for n in text if n in _NUMERIC
    )
    if "age_years" in text:
        frame = frame.with_columns(_dicom_age(pl.col("age_years")).alias("age_years"))
    parsed = None
    if STUDY_TIME in sch and "exam_date" in sch:
        kind = sch["exam_date"]
        if isinstance(kind, (pl.Categorical, pl.Enum)):  # text dates: as text
            frame, kind = frame.with_columns(pl.col("exam_date").cast(pl.Utf8)), pl.Utf8
        if kind in (pl.Utf8, pl.Date):
            frame, parsed = _merge_time(frame, source, time_column, dayfirst, lines)
        elif isinstance(kind, pl.Datetime):
            frame, parsed = _merge_time_stamps(frame, source, time_column, lines)
    updates = []
    if from_csv and "patient_id" in text:
        ids_col = frame.get_column("patient_id")
        if ids_col.null_count() < ids_col.len() and ids_col.drop_nulls().str.contains(_INT).all():
            updates.append(ids_col.cast(pl.Int64))
    frame = frame.with_columns(updates)
    dates = frame.get_column("exam_date") if "exam_date" in frame.columns else None
    if dates is not None and dates.dtype == pl.Utf8 and dayfirst:
        if parsed is None:  # parsed once, here: validation uses these (parsed_dates)
            parsed = parse_date_series(dates, dayfirst=True).alias("exam_date")
        _month_first(dates, parsed, source, lines)
    elif dates is not None and dates.dtype == pl.Utf8:  # one dtype, no schema
        slashed = dates.str.contains(_SLASHED).fill_null(False)
        if slashed.any():
            row = int(slashed.arg_max() or 0)
            raise DataError(
                f"{source}: column 'exam_date' holds dates like {dates[row]!r} "
                f"({row_text(row, lines)}) that "
                "may be day-first or month-first; pass dayfirst=True (--dayfirst) for "
                "dd/mm/yyyy or dd.mm.yyyy, or convert them to ISO YYYY-MM-DD"
            )
    return frame, shown, parsed


def _pandas_date_cells(obj: Any) -> Any:
    """A pandas frame whose ``exam_date`` column holds date cells beside text
    (``pd.read_excel`` of a hand-edited sheet) with that column as text, cell by cell
    (:func:`recurct._dates.date_cells_text`), for ``read_exams`` to read by the text rules;
    any other input as it is (elsewhere such a column is refused naming its rows). A column
    under another name is kept as objects by the conversion and read by :func:`_date_cells`
    once mapped."""
    pandas = type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")
    if not pandas or "exam_date" not in obj.columns:
        return obj
    col = obj["exam_date"]
    if col.dtype != object:
        return obj
    cells = date_cells_text(col.tolist(), "exam_date")
    return obj if cells is None else obj.assign(exam_date=cells.to_list())


def _date_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with an ``exam_date`` column of Python objects (date cells and text) as
    text, cell by cell (:func:`recurct._dates.date_cells_text`); else as it is (a column of
    no date or text is refused later, naming its dtype)."""
    if frame.schema.get("exam_date") != pl.Object:
        return frame
    cells = date_cells_text(frame.get_column("exam_date").to_list(), "exam_date")
    return frame if cells is None else frame.with_columns(cells)


def _month_first(dates: pl.Series, parsed: pl.Series, source: str, lines: RowPlaces | None) -> None:
    """Refuse text dates read with ``dayfirst=True`` (``parsed``, row for row) that may be
    month-first with some read the wrong way round: some dates can only be month-first
    (``12/31/2019``), none only day-first (``31/12/2019``), and some that can be either
    were read (``01/02/2020``, read as 1 February). Such a column is a
    :class:`~recurct.errors.DataError` even with ``strict=False``, since no row tells which
    of its dates are wrong. Without a date that can be either (ISO dates beside one
    ``12/31/2019``), no date can be swapped: each month-first date is an unparseable date of
    its row. Only the dates that did not parse are searched for month-first ones (a clean
    column pays for nothing but that test)."""
    failed = (parsed.is_null() & dates.is_not_null()).fill_null(False)
    if not failed.any():
        return
    rows = failed.arg_true()
    month = dates.gather(rows).str.contains(_ONLY_MONTH_FIRST).fill_null(False)
    if not month.any():
        return
    either = (parsed.is_not_null() & dates.str.contains(_EITHER_WAY)).fill_null(False)
    if not either.any() or dates.str.contains(_ONLY_DAY_FIRST).any():
        return
    row = int(rows[int(month.arg_max() or 0)])
    other = int(either.arg_max() or 0)
    read = parsed[other]
    as_read = f"{read.day} {_MONTHS[read.month - 1]} {read.year}"
    swapped = f"{read.month} {_MONTHS[read.day - 1]} {read.year}"
    raise DataError(
        f"{source}: column 'exam_date' holds dates like {dates[row]!r} "
        f"({row_text(row, lines)}) that can only be month-first (mm/dd/yyyy), none that can "
        f"only be day-first, and dates that can be either, like {dates[other]!r} "
        f"({row_text(other, lines)}), read day-first as {as_read}: if the dates are "
        f"month-first, that is {swapped}, and every such date has day and month swapped; "
        "do not pass dayfirst=True (--dayfirst): recurct does not read month-first dates, "
        f"convert them to ISO YYYY-MM-DD. If the dates are day-first and {dates[row]!r} is "
        "a mistake, correct it"
    )


def _column_hint(problems: pl.DataFrame, names: list[str]) -> str | None:
    """When a column is missing, say which columns there are and how to map them."""
    missing = problems.filter(pl.col("row").is_null()).get_column("column").to_list()
    if not missing:
        return None
    return (
        f"The columns are {names}; map yours with columns={{'their name': {missing[0]!r}}} "
        "(CLI: --map 'their name=" + missing[0] + "')."
    )


def decimal_hint(problems: pl.DataFrame) -> str | None:
    """When a number column holds values with a decimal comma, or a decimal point and
    thousands commas, that were not read as such ("not a number"), or numbers whose decimal
    mark is ambiguous, say how to read them (``decimal=``): ``decimal=","`` only for values
    that can have a decimal comma (:data:`recurct._casts.COMMA_OK`), ``decimal="."`` only for
    values that can have a decimal point (:data:`recurct._casts.POINT_OK`)."""
    ambiguous = problems.filter(pl.col("reason").str.starts_with("ambiguous number"))
    if ambiguous.height:
        return (
            f"Numbers like {ambiguous.get_column('value')[0]!r} may have a decimal or a "
            "thousands mark, and their column does not show which: pass decimal='.' or "
            "decimal=',' (CLI: --decimal . or --decimal ,)."
        )
    value = pl.col("value").str.strip_chars()
    bad = problems.filter(pl.col("reason") == "not a number").select(
        "value", comma=value.str.contains(COMMA_OK), point=value.str.contains(POINT_OK)
    )
    comma = bad.filter(pl.col("comma") & ~pl.col("point")).get_column("value")
    point = bad.filter(pl.col("point") & ~pl.col("comma")).get_column("value")
    either = bad.filter(pl.col("comma") & pl.col("point")).get_column("value")
    if comma.len() and point.len():
        return (
            f"Numbers like {comma[0]!r} have a decimal comma and numbers like {point[0]!r} a "
            "decimal point: no one decimal mark reads them all; write them with one mark "
            "(see 'Numbers in text' in docs/data-preparation.md)."
        )
    if comma.len():
        return (
            f"Numbers like {comma[0]!r} have a decimal comma: pass decimal=',' (CLI: --decimal ,) "
            "to read them (see 'Numbers in text' in docs/data-preparation.md)."
        )
    if point.len():
        return (
            f"Numbers like {point[0]!r} have a decimal point: pass decimal='.' (CLI: "
            "--decimal .) to read them (see 'Numbers in text' in docs/data-preparation.md)."
        )
    if either.len():
        return (
            f"Numbers like {either[0]!r} may have a decimal or a thousands mark: pass "
            "decimal='.' or decimal=',' (CLI: --decimal . or --decimal ,) to say which."
        )
    return None


def hints(problems: pl.DataFrame, *, ids: bool = True) -> list[str]:
    """What to do about the ``problems`` of a read (:func:`decimal_hint`, :func:`date_hint`,
    :func:`id_hint`), each that applies: the one list of hints of :func:`read_exams` and the
    command line. ``ids=False`` leaves out :func:`id_hint`, for a caller that shows the
    identity rules' warning, which says the same."""
    said = (decimal_hint(problems), date_hint(problems), id_hint(problems) if ids else None)
    return [h for h in said if h]


def date_hint(problems: pl.DataFrame) -> str | None:
    """When unparseable dates look like Excel serial day numbers (``45123``, ``43831.25``:
    :data:`_EXCEL_SERIAL`), say so: recurct does not convert them; when they can only be
    month-first (``12/31/2019``, read with ``dayfirst=True``), say that recurct does not
    read month-first dates."""
    unparseable = problems.filter(pl.col("reason") == "unparseable date").get_column("value")
    serial = unparseable.filter(unparseable.str.contains(_EXCEL_SERIAL).fill_null(False))
    month = unparseable.filter(unparseable.str.contains(_ONLY_MONTH_FIRST).fill_null(False))
    said = []
    if serial.len():
        said.append(
            f"Dates like {serial[0]!r} look like Excel serial day numbers "
            "(days since 1899-12-30), which recurct does not convert: format the column as "
            "dates (YYYY-MM-DD) in the spreadsheet and export the file again."
        )
    if month.len():
        said.append(
            f"Dates like {month[0]!r} can only be month-first (mm/dd/yyyy), which recurct "
            "does not read: write them as ISO YYYY-MM-DD."
        )
    return "\n".join(said) or None


def id_hint(problems: pl.DataFrame) -> str | None:
    """When missing patient ids were written in scientific notation (the identity rules,
    :data:`recurct._frames.SCIENTIFIC_ID`), say why they count as missing."""
    lost = problems.filter(
        (pl.col("reason") == "missing patient id")
        & pl.col("value").str.strip_chars(ID_SPACES).str.contains(SCIENTIFIC_ID)
    )
    if lost.height == 0:
        return None
    return (
        f"Patient ids like {lost.get_column('value')[0]!r} are numbers in scientific notation, "
        "as a spreadsheet shows long numbers: their last digits are lost (different patients "
        "may share one), so they count as missing; format the id column as text in the "
        "spreadsheet and export the file again."
    )
