"""Read OpenREM's CT export (CSV or XLSX "All data" sheet) into exam and event tables.

OpenREM (https://openrem.org) exports one row per CT study: study columns ("Institution name",
"Study date", "Patient age", "DLP total (mGy.cm)", ...) followed by one block of columns per
irradiation event, "E1 Protocol", "E1 Type", ..., "E1 CTDIvol", "E1 DLP", "E2 Protocol", ...
(``exportCT2excel`` in ``openrem/remapp/exports/exportcsv.py``; later versions build the same
blocks in ``ct_export.py`` / ``export_common.py`` and rename a few study columns, e.g.
"Institution", "Age", "Sex", "No. events", "Study Time": both spellings are read).
Patient ID and name appear only in exports made with patient-identifiable data permission.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import norm_sex, null_text
from recurct._checks import MAX_AGE_YEARS
from recurct._compat import renamed
from recurct._dates import (
    TIME_FORMS,
    day_month_order,
    looks_day_month,
    parse_date_series,
    parse_study_time,
    warn_mixed_offsets,
)
from recurct._frames import scientific_ids_missing, scientific_ids_warning
from recurct._periods import list_sums
from recurct._stacklevel import user_stacklevel
from recurct.dose import exam_region
from recurct.errors import (
    DataError,
    DroppedRowsWarning,
    InputNotFoundError,
    ParameterError,
    PartialExamWarning,
)
from recurct.io._csv import (
    _SEP_LINE,
    SEPARATORS,
    RowLines,
    _decode,
    _open_quote,
    _open_quote_message,
    detect_separator,
)
from recurct.io._result import ReadResult
from recurct.io.pseudonym import (
    _file_label,
    check_method,
    coarsen_ages,
    normalise_ids,
    pseudonym,
)
from recurct.io.rdsr import EXAM_COLUMNS, PROBLEM_COLUMNS, ReadReport

__all__ = ["EVENT_FIELDS", "STUDY_FIELDS", "PartialExamWarning", "read_openrem_ct"]

STUDY_FIELDS: dict[str, tuple[str, ...]] = {
    "patient_id": ("Patient ID",),
    "study_uid": ("Study UID", "Study instance UID"),
    "accession_number": ("Accession number",),
    "facility": ("Institution name", "Institution"),
    "manufacturer": ("Manufacturer",),
    "model": ("Model name",),
    "station_name": ("Station name",),
    "display_name": ("Display name",),
    "study_date": ("Study date",),
    "study_time": ("Study time", "Study Time"),
    "age_years": ("Patient age", "Age"),
    "sex": ("Patient sex", "Sex"),
    "test_patient": ("Test patient?", "Not patient?"),
    "study_description": ("Study description",),
    "requested_procedure": ("Requested procedure",),
    "n_events_reported": ("Number of events", "No. events"),
    "reported_dlp_total_mgycm": ("DLP total (mGy.cm)",),
}
"""Canonical name -> OpenREM study column names (all known spellings)."""

EVENT_FIELDS: dict[str, str] = {
    "Protocol": "protocol",
    "Type": "acquisition_type",
    "Exposure time": "exposure_time_s",
    "Scanning length": "scanning_length_mm",
    "Slice thickness": "slice_thickness_mm",
    "Total collimation": "total_collimation_mm",
    "Pitch": "pitch",
    "No. sources": "n_sources",
    "CTDIvol": "ctdivol_mgy",
    "Phantom": "phantom_type",
    "DLP": "dlp_mgycm",
    "mA Modulation type": "modulation_type",
    "Comments": "comment",
}
"""OpenREM event column name (after "E<n> ") -> event table column. Others are ignored."""

_NUMERIC_EVENT = {
    "exposure_time_s",
    "scanning_length_mm",
    "slice_thickness_mm",
    "total_collimation_mm",
    "pitch",
    "n_sources",
    "ctdivol_mgy",
    "dlp_mgycm",
}
_EVENT_COLUMN = re.compile(r"^E(\d+) (.+)$")
# Cells read as missing: recurct's one list (recurct._casts.NULL_STRINGS, by null_text), and
# OpenREM's own extras, kept from earlier releases: a missing value that went through
# Python's str() ("None", "nan") in lower, upper or title case, and "NaN" (docs/rdsr.md)
_OPENREM_NULLS = tuple(
    sorted({f(x) for x in ("none", "nan") for f in (str.lower, str.upper, str.title)} | {"NaN"})
)
# The study dates and times are read by recurct._dates, as read_exams reads them (one
# splitter, one set of formats); what is OpenREM's own: dayfirst=None (the order of
# day-first and month-first dates decided by the dates: _order) and the names of its rows.
_SLASH_FORMS = {
    None: "dd/mm/yyyy or mm/dd/yyyy",
    True: "dd/mm/yyyy (dayfirst=True)",
    False: "mm/dd/yyyy (dayfirst=False)",
}
_WITHHELD = "<withheld>"  # a cell value in a message of a pseudonymising read (as read_rdsr)
_LOCALIZER = "constant angle acquisition"  # OpenREM writes CT Acquisition Type's meaning
_ROW = "__row"
_LOST = "__dlp_lost"  # "E<n> __dlp_lost": the block's DLP was negative or not finite
_BEYOND = "__beyond_header"  # a sheet's cells right of the header's last column (per row)


def _wanted(name: str) -> bool:
    """Columns the reader uses: the study fields and the event fields of each block."""
    if any(name in names for names in STUDY_FIELDS.values()):
        return True
    m = _EVENT_COLUMN.match(name)
    return bool(m and m.group(2) in EVENT_FIELDS)


class _RowNames:
    """How messages name a row of the export, as :func:`recurct.read_exams` names the rows
    of its input: the 0-based data row (row 0 the first after the header), with the 1-based
    line of the file where it starts for a CSV file (``lines``, a
    :class:`recurct.io._csv.RowLines`: a ``sep=`` line and line breaks inside quoted values
    counted, computed from the file only when a message is built), or its 1-based row of
    the sheet for a workbook (``lines`` None: the header is sheet row 1, data row ``i``
    sheet row ``i + 2``): ``row 2 (line 4 of the file)``, ``row 2 (sheet row 4)``."""

    def __init__(self, lines: Callable[[int], int | None] | None) -> None:
        self.lines = lines

    def place(self, row: int) -> int | None:
        """The row's line of the file (CSV) or row of the sheet (workbook), 1-based."""
        return row + 2 if self.lines is None else self.lines(row)

    def __call__(self, row: int) -> str:
        at = self.place(row)
        if at is None:
            return f"row {row}"
        where = f"sheet row {at}" if self.lines is None else f"line {at} of the file"
        return f"row {row} ({where})"

    def listed(self, rows: list[int], shown: int = 5) -> str:
        """``rows 2, 5, 0-based; lines 4, 9 of the file`` (the first ``shown`` of ``rows``)."""
        head = rows[:shown]
        more = ", ..." if len(rows) > shown else ""
        text = ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, head)) + more
        at = [self.place(r) for r in head]
        if None in at:
            return f"{text}, 0-based"
        places = ", ".join(str(a) for a in at) + more
        if self.lines is None:
            return f"{text}, 0-based; sheet row{'s' if len(rows) > 1 else ''} {places}"
        return f"{text}, 0-based; line{'s' if len(rows) > 1 else ''} {places} of the file"


def _read_frame(
    path: Path, where: str, withhold: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, bool, _RowNames]:
    """The used columns of the export: ``(cells, as_written, decimal_comma, rows)``.
    ``cells`` is the text stripped of surrounding spaces, null for empty and "n/a"-like
    cells; ``as_written`` the same cells as the file holds them (quoted in messages and
    problem rows); ``decimal_comma`` whether a comma may be a decimal mark (not in a
    comma-separated file); ``rows`` how messages name a row (:class:`_RowNames`). Messages
    name the file ``where`` (its name, or its pseudonym). With ``withhold`` an error does
    not list the header (it may be a row of data)."""
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        raw, decimal_comma = _read_xlsx(path, where, withhold), True
        rows = _RowNames(None)
    else:
        raw, sep, rows = _read_csv_text(_csv_bytes(path, where), where, path, withhold)
        decimal_comma = sep != ","
    cleaned = [null_text(pl.col(c)) for c in raw.columns]  # the one list of placeholders
    cells = raw.with_columns(
        pl.when(s.is_in(_OPENREM_NULLS)).then(None).otherwise(s).alias(c)
        for s, c in zip(cleaned, raw.columns)
    )
    return cells, raw, decimal_comma, rows


def _read_xlsx(path: Path, where: str, withhold: bool = False) -> pl.DataFrame:
    """The used columns of the workbook's "All data" sheet (else its first) as text, the
    sheet's first row the header. A file that is not a readable workbook is a
    :class:`~recurct.errors.DataError` naming it (raised outside the ``except`` block, so
    that it carries no exception of pandas, whose message may quote a cell)."""
    _check_workbook(path, where)
    import pandas as pd

    failed: str | None = None
    try:
        with pd.ExcelFile(path) as sheets:
            names = [str(n) for n in sheets.sheet_names]
            sheet = "All data" if "All data" in names else names[0]
            grid = pd.read_excel(
                sheets, sheet_name=sheet, header=None, dtype=str, keep_default_na=False
            )
    except ImportError as exc:  # pragma: no cover
        raise ImportError(
            "reading OpenREM .xlsx exports needs openpyxl: pip install openpyxl (or recurct[excel])"
        ) from exc
    except Exception as exc:  # pandas and its engines raise many kinds for a damaged file
        failed = type(exc).__name__
    if failed is not None:
        raise DataError(f"{where}: {_not_a_workbook(failed, path)}")
    if grid.shape[0] == 0:
        raise DataError(f"{where}: the sheet {sheet!r} is empty, no header row")
    top = [[v if isinstance(v, str) else "" for v in r] for r in grid.head(10).values.tolist()]
    header = top[0]
    _check_header(header, where, _header_row_hint(top), withhold)
    used = [j for j, name in enumerate(header) if _wanted(name)]
    body = grid.iloc[1:, used]
    body.columns = [header[j] for j in used]
    frame = pl.from_pandas(body.astype(object).where(body.notna(), None)).cast(pl.Utf8)
    return frame.with_columns(_beyond_header(grid, header))


def _beyond_header(grid: Any, header: list[str]) -> pl.Series:
    """The ``_BEYOND`` column of a sheet: per data row, the number (as text) of cells right of
    the header's last named column that hold something, null where none do. OpenREM writes
    every event of a study, but only as many blocks of event columns as the export's largest
    "Number of events": a study with more events than that has cells no column names (a CSV
    file's row is then wider than its header, refused by :func:`_check_no_extra_cells`)."""
    named = [j for j, name in enumerate(header) if name.strip()]
    last = named[-1] if named else -1
    n_rows = max(grid.shape[0] - 1, 0)
    if grid.shape[1] <= last + 1 or n_rows == 0:
        return pl.Series(_BEYOND, [None] * n_rows, dtype=pl.Utf8)
    rest = grid.iloc[1:, last + 1 :]
    filled = rest.apply(lambda col: col.map(lambda v: isinstance(v, str) and v.strip() != ""))
    counts = filled.sum(axis=1).astype(int).tolist()
    return pl.Series(_BEYOND, [str(n) if n else None for n in counts], dtype=pl.Utf8)


def _not_a_workbook(what: str, path: Path) -> str:
    return (
        f"not a readable {path.suffix.lower()} workbook ({what}); save the OpenREM export "
        "again, or export it as CSV and read that"
    )


def _check_workbook(path: Path, where: str) -> None:
    """An .xlsx / .xlsm file is a zip archive holding ``xl/workbook.xml``: an empty, truncated
    or other file is a :class:`~recurct.errors.DataError` naming it, said before pandas
    guesses at it (an .xls, not a zip archive, is left to pandas)."""
    import zipfile

    if path.suffix.lower() == ".xls":
        return
    if path.stat().st_size == 0:
        raise DataError(f"{where}: {_not_a_workbook('an empty file', path)}")
    has_workbook: bool | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            has_workbook = "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        pass  # raised below, outside the except block: no exception chained to it
    if has_workbook is None:
        what = "not a zip archive, as a workbook is: damaged, cut short or another kind of file"
        raise DataError(f"{where}: {_not_a_workbook(what, path)}")
    if not has_workbook:
        raise DataError(
            f"{where}: {_not_a_workbook('a zip archive without a workbook in it', path)}"
        )


def _header_row_hint(rows: list[list[str]]) -> str:
    """Where the sheet's first row is not the header but a later one of ``rows`` (its first
    rows) is (a title or a row of merged cells above it), which row that is."""
    date, total = STUDY_FIELDS["study_date"], STUDY_FIELDS["reported_dlp_total_mgycm"]
    for i, row in enumerate(rows[1:], start=2):
        if any(n in row for n in date) and any(n in row for n in total):
            return (
                f"; sheet row {i} holds OpenREM's column names: delete the rows above it "
                "(a title or merged cells), so that the column names are the first row"
            )
    return ""


def _check_header(header: list[str], where: str, hint: str = "", withhold: bool = False) -> None:
    """The export's whole header (before the unused columns are left out): an OpenREM CT
    export's (:func:`_study_columns`), with no column the reader uses named twice."""
    _study_columns(header, where, hint, withhold)
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen and _wanted(name):
            raise DataError(
                f"{where}: column {name!r} appears twice in the header (columns {seen[name]} "
                f"and {i}, 0-based); rename or drop one of them (the reader would not know "
                "which one to use)"
            )
        seen.setdefault(name, i)


def _csv_bytes(path: Path, where: str) -> bytes:
    """The export's text as UTF-8 bytes: its encoding decided on the whole file as
    :func:`recurct.read_exams` does (byte-order marks, UTF-16, UTF-8, else Windows-1252; a
    byte that fits none, or a file mixing UTF-8 and another encoding, is a
    :class:`~recurct.errors.DataError` naming its row), never decoded lossily (two ids that
    differ only in a non-ASCII letter must stay two ids)."""
    raw = path.read_bytes()
    if raw.isascii() and b"\x00" not in raw:
        data = raw  # read alike in every encoding tried (UTF-16 text has NUL bytes)
    else:
        message: str | None = None
        try:
            text = _decode(raw, where)
        except ValueError as exc:  # _decode raises DataError, a ValueError
            # "data row 2 (line 4 of the file)", as read_exams' decoder words it: "row 2 (...)",
            # as this reader names rows (the line counted with a sep= line, as read here)
            message = re.sub(r"\bdata row (\d+)", r"row \1", str(exc))
            if "binary content" in message:  # read_exams' wording names read_exams
                message = (
                    f"{where}: not a CSV text file (it holds binary content); an OpenREM CT "
                    "export is read as CSV text (UTF-8, UTF-16 or Windows-1252) or as .xlsx"
                )
        if message is not None:  # raised here: no decoding error (with the bytes) chained
            raise DataError(message)
        data = text.lstrip("\ufeff").encode("utf-8")  # without a byte-order mark
    data = data.rstrip(b"\x1a")  # DOS end-of-file mark
    if b"\r" in data and b"\n" not in data:  # Excel "CSV (Macintosh)": CR line ends only
        data = data.replace(b"\r", b"\n")
    return data


def _separator(data: bytes) -> str:
    """The separator of the header line, as :func:`recurct.read_exams` detects it
    (:func:`recurct.io._csv.detect_separator`)."""
    cut = data.find(b"\n")
    return detect_separator((data if cut == -1 else data[:cut]).decode("latin-1"))


def _sep_line(data: bytes, where: str) -> tuple[bytes, str | None]:
    """``(data without it, its separator)`` where the first line is an Excel ``sep=;`` line
    (as :func:`recurct.read_exams` reads one), else ``(data, None)``."""
    cut = data.find(b"\n")
    first = (data if cut == -1 else data[:cut]).decode("utf-8", errors="replace")
    m = _SEP_LINE.match(first)
    if m is None:
        return data, None
    if m.group(1) not in SEPARATORS:
        raise DataError(
            f"{where}: the first line {first.strip()!r} names the separator {m.group(1)!r}; an "
            "OpenREM export is read separated by ',', ';', tab or '|'"
        )
    return (b"" if cut == -1 else data[cut + 1 :]), m.group(1)


def _read_csv_text(
    data: bytes, where: str, path: Path, withhold: bool = False
) -> tuple[pl.DataFrame, str, _RowNames]:
    """The used columns of a CSV export (UTF-8 bytes), its separator and how messages name
    its rows (:class:`_RowNames`), after checking the header (:func:`_check_header`) and
    that no row has more cells than the header. An Excel ``sep=`` first line names the
    separator (else it is detected from the header line) and is no row. An error of polars
    or csv is raised as a DataError outside the ``except`` block: polars' messages quote
    cells (an ID, a birth date), and neither ``__cause__`` nor ``__context__`` carries one."""
    data, named = _sep_line(data, where)
    sep = named or _separator(data)
    rows = _RowNames(RowLines(path, sep))
    opts: dict[str, Any] = {"infer_schema": False, "truncate_ragged_lines": True, "separator": sep}
    if not data.strip():
        raise DataError(f"{where}: empty file, no header line")
    failed: str | None = None
    try:
        header = pl.read_csv(io.BytesIO(data), n_rows=0, **opts).columns
        cut = data.find(b"\n")
        first = (data if cut == -1 else data[:cut]).decode("utf-8").rstrip("\r")
        names = next(csv.reader([first], delimiter=sep))
    except pl.exceptions.NoDataError:
        failed = "empty file, no header line"
    except (pl.exceptions.PolarsError, csv.Error) as exc:
        failed = f"the header line cannot be read as CSV ({type(exc).__name__})"
    skipped = 0 if named is None else 1  # the sep= line
    if failed is not None:
        _check_quotes(data, where, sep, skipped, rows)  # a header quote left open
        raise DataError(f"{where}: {failed}")
    # not an OpenREM export, or a used column named twice: said before any row is checked
    try:
        _check_header(names if len(names) >= len(header) else header, where, "", withhold)
    except DataError as exc:
        failed = str(exc)  # raised below, unless a quote left open in the header is why
    if failed is not None:
        _check_quotes(data, where, sep, skipped, rows)
        raise DataError(failed)
    _check_no_extra_cells(data, len(header), where, sep, rows)
    # rows with fewer cells than the header stay (OpenREM writes a study's row only as wide
    # as its events); rows with more were refused above, so nothing is truncated
    try:
        frame = pl.read_csv(
            io.BytesIO(data), columns=[c for c in header if _wanted(c)] or None, **opts
        )
    except pl.exceptions.PolarsError as exc:  # the message may quote a cell: not repeated
        unread = type(exc).__name__
    else:
        unread = None
    if unread is not None:
        _check_quotes(data, where, sep, skipped, rows)
        raise DataError(f"{where}: not a readable CSV table ({unread})")
    return frame, sep, rows


def _check_quotes(data: bytes, where: str, sep: str, skipped: int, rows: _RowNames) -> None:
    """A quoted value that no quote closes (the rest of the file would be one value) is a
    :class:`~recurct.errors.DataError` naming its row (or the header), found as
    :func:`recurct.read_exams` finds it (:func:`recurct.io._csv._open_quote`, with its
    message); ``skipped``: the lines before ``data`` (an Excel ``sep=`` line)."""
    if b'"' not in data:
        return
    quote = _open_quote(data.decode("utf-8", errors="replace"), sep, skipped)
    if quote is not None:
        record, line = quote
        row = None if record == 0 else rows(record - 1)
        raise DataError(_open_quote_message(where, record, line, row))


def _check_no_extra_cells(
    data: bytes, n_fields: int, where: str, sep: str = ",", rows: _RowNames | None = None
) -> None:
    """A row with more cells than the header is a :class:`~recurct.errors.DataError` naming
    it (as ``rows`` names rows; without, by its 0-based data row alone): an unquoted comma
    inside a value ("SMITH, JOHN") shifts the row's cells to the right, so that, truncated,
    a birth date would be read as the age and every later column from its neighbour.
    Separators (``sep``) are counted per line (C-speed ``bytes.count``); where the file has
    quotes, the quoted cells (a quote opens one only at the start of a cell,
    ``""`` inside is a quote, as the csv module and polars read them) are found by walking
    the quote positions alone, their separators taken off and the lines joined by their line
    breaks."""
    lines = data.split(b"\n")
    limit = n_fields - 1  # separators in a row as wide as the header
    s = sep.encode()
    if b'"' not in data:
        counts = [line.count(s) for line in lines]
        if max(counts[1:], default=0) <= limit:
            return
        i = next(i for i in range(1, len(counts)) if counts[i] > limit)
        at = rows(i - 1) if rows is not None else f"row {i - 1}"
        raise DataError(_extra_cells_message(where, at, counts[i] + 1, n_fields, sep))
    b = np.frombuffer(data, dtype=np.uint8)
    counts = np.array([line.count(s) for line in lines], dtype=np.int64)
    newlines = np.flatnonzero(b == 10)
    begin, stop = _quoted_spans(data, b, np.flatnonzero(b == 34), ord(sep))
    joined = np.zeros(len(lines) + 1, dtype=np.int64)  # > 0: the line continues a record
    if begin.size:
        inner = [data.count(s, a, z) for a, z in zip(begin.tolist(), stop.tolist())]
        first, last = np.searchsorted(newlines, begin), np.searchsorted(newlines, stop)
        np.subtract.at(counts, first, np.array(inner, dtype=np.int64))
        np.add.at(joined, first + 1, 1)
        np.subtract.at(joined, last + 1, 1)
    record = np.cumsum(np.cumsum(joined[:-1]) == 0) - 1  # each line's record (0: header)
    per_record = np.bincount(record, weights=counts).astype(np.int64)
    wide = np.flatnonzero(per_record[1:] > limit)
    if wide.size:
        r = int(wide[0])  # the 0-based data row (record r + 1: record 0 is the header)
        at = rows(r) if rows is not None else f"row {r}"
        raise DataError(_extra_cells_message(where, at, int(per_record[r + 1]) + 1, n_fields, sep))


def _quoted_spans(
    data: bytes, b: np.ndarray, quotes: np.ndarray, sep: int = 44
) -> tuple[np.ndarray, np.ndarray]:
    """The opening and closing quotes' byte positions of the quoted cells (the end of the
    text where a quote is left open; ``sep`` the separator's byte); a quote inside an
    unquoted cell is a character."""
    if quotes.size and quotes.size % 2 == 0 and not (np.diff(quotes) == 1).any():
        # the usual file: no "" anywhere, every other quote at the start of a cell, so the
        # quotes pair up in order (what the walk below finds, without the walk)
        opening = quotes[0::2]
        before = b[np.maximum(opening - 1, 0)]
        if ((opening == 0) | (before == sep) | (before == 10)).all():
            return opening, quotes[1::2]
    spans: list[tuple[int, int]] = []
    q = quotes.tolist()
    i, n = 0, len(q)
    while i < n:
        p = q[i]
        if p and data[p - 1] not in (sep, 10):  # not at the start of a cell
            i += 1
            continue
        j = i + 1
        while j + 1 < n and q[j + 1] == q[j] + 1:  # "" inside: a quote
            j += 2
        spans.append((p, q[j] if j < n else len(data)))
        i = j + 1
    arr = np.array(spans, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _extra_cells_message(where: str, at: str, n: int, n_fields: int, sep: str = ",") -> str:
    """The message for the row named ``at`` with ``n`` cells, more than ``n_fields``."""
    if sep != ",":
        what = f"an unquoted separator {sep!r} inside a value"
        return (
            f"{where}: {at} has {n} cells but the header has {n_fields}: {what} shifts the "
            "row's cells to the right, or the row ends with extra separators; quote the value "
            "or fix the row (the file is not read: the row's cells would be taken from the "
            f"wrong columns){_MORE_EVENTS}"
        )
    return (
        f"{where}: {at} has {n} cells but the header has {n_fields}: an unquoted comma inside "
        "a value (a name written 'SURNAME, GIVEN NAME', an institution 'Hospital, Town') "
        "shifts the row's cells to the right, or the row ends with extra commas; quote the "
        "value or fix the row (the file is not read: the row's cells would be taken from the "
        f"wrong columns){_MORE_EVENTS}"
    )


_MORE_EVENTS = (
    "; or the study has more irradiation events than the header has blocks of event columns "
    "(OpenREM writes every event of a study but only as many blocks as the export's largest "
    "'Number of events'): that study cannot be read in full; remove its row to read the others"
)


_COMMA_HINT = (
    " (a comma is read as a decimal mark only in a file separated by ';', tab or '|', and "
    "only in a column without decimal points)"
)


def _numbers(
    df: pl.DataFrame,
    raw: pl.DataFrame,
    dose: list[str],
    optional: list[str],
    age: str | None,
    where: str,
    withhold: bool,
    decimal_comma: bool,
    rows: _RowNames,
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Text columns as Float64, all in one pass. A decimal comma is read where
    ``decimal_comma`` (a file not separated by commas) in a column with commas and no
    points, as :func:`recurct.read_exams` reads them; the age is a number of years or a
    DICOM age string (``070Y``, ``70 Y``: :func:`recurct.schema.parse_dicom_age`). A bad cell
    of a ``dose`` column (a DLP) raises naming its row (``rows``) and column; one of an ``optional``
    column or of the age, or an age outside 0-:data:`recurct.schema.MAX_AGE_YEARS` (or not
    finite), is left null, each a ``(row, column, what)`` problem. Values are quoted as
    written (``raw``), except in a pseudonymising read."""
    from recurct.schema import parse_dicom_age

    columns = [*dose, *optional, *([age] if age is not None else [])]
    if not columns:
        return df, []
    marks = df.select(
        *(pl.col(c).str.contains(",", literal=True).any().alias(f"comma {c}") for c in columns),
        *(pl.col(c).str.contains(".", literal=True).any().alias(f"point {c}") for c in columns),
    ).row(0, named=True)
    conv: dict[str, pl.Expr] = {}
    for c in columns:
        text = pl.col(c)
        if decimal_comma and marks[f"comma {c}"] and not marks[f"point {c}"]:
            text = text.str.replace(",", ".", literal=True)
        conv[c] = text.cast(pl.Float64, strict=False)
    if age is not None:
        conv[age] = pl.coalesce(conv[age], parse_dicom_age(pl.col(age)))
    bad = {c: conv[c].is_null() & pl.col(c).is_not_null() for c in columns}
    any_bad = df.select(bad[c].any().alias(c) for c in columns).row(0, named=True)
    if age is not None:  # a read age outside the schema's range (validation's rule): null
        years = conv[age]
        odd = years.is_not_null() & (~years.is_finite() | (years < 0) | (years > MAX_AGE_YEARS))
        odd_rows = df.select(pl.arg_where(odd)).to_series().to_list()
        conv[age] = pl.when(odd).then(None).otherwise(years)
    else:
        odd_rows = []

    def quoted(c: str, i: int) -> str:
        return _WITHHELD if withhold else repr(raw[c][i])

    for c in dose:
        if any_bad[c]:
            i = int(df.select(pl.arg_where(bad[c])).to_series()[0])
            hint = _COMMA_HINT if "," in str(raw[c][i]) else ""
            if df[c][i] == c:
                hint = " (the header line again: two exports joined into one file?)"
            raise DataError(
                f"{where}: {rows(i)}, column {c!r}: {quoted(c, i)} is not a number{hint}"
            )
    found: list[tuple[int, str, str]] = []
    for c in [*optional, *([age] if age is not None else [])]:
        if not any_bad[c]:
            continue
        for i in df.select(pl.arg_where(bad[c])).to_series().to_list():
            hint = _COMMA_HINT if "," in str(raw[c][i]) else ""
            what = (
                "neither a number nor a DICOM age string (070Y); the age is left null"
                if c == age
                else f"not a number{hint}; the value is left null"
            )
            found.append((i, c, f"{quoted(c, i)}, {what}"))
    for i in odd_rows:
        what = f"age outside 0-{MAX_AGE_YEARS:g} years; the age is left null"
        found.append((i, str(age), f"{quoted(str(age), i)}, {what}"))
    return df.with_columns(e.alias(c) for c, e in conv.items()), found


def _sexes(
    df: pl.DataFrame, raw: pl.DataFrame, col: str | None, withhold: bool
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """The sex column ``col`` mapped to F, M, O or U through :data:`recurct.schema.SEX_TABLE`,
    as :func:`recurct.read_exams` maps it (``Mujer`` F, ``Homme`` M, ``Divers`` O,
    ``Unknown`` U); a value the table does not hold is left null, each a ``(row, column,
    what)`` problem quoting it as written (``raw``), except in a pseudonymising read."""
    if col is None:
        return df, []
    mapped = norm_sex(df.get_column(col))
    bad = mapped.is_null() & df.get_column(col).is_not_null()
    found = [
        (
            i,
            col,
            f"{_WITHHELD if withhold else repr(raw[col][i])}, not a sex code (F, M, O, U or a "
            "word of recurct.schema.SEX_TABLE); the sex is left null",
        )
        for i in bad.arg_true().to_list()
    ]
    return df.with_columns(mapped.alias(col)), found


def _order(
    text: pl.Series,
    at: np.ndarray | None,
    raw: pl.DataFrame,
    day_col: str,
    where: str,
    withhold: bool,
    rows: _RowNames,
) -> bool:
    """``dayfirst=None``: the order of the day-first or month-first study dates ``text``
    (``03/04/2020``, ``03.04.2020``, ``03-04-2020``; row ``i`` of ``text`` is row ``at[i]``
    of the export, or ``i`` where ``at`` is None), decided by the dates
    (:func:`recurct._dates.day_month_order`): False where some can only be month-first,
    else True (also where none decides, ``05/05/2020``: read alike either way). A date
    that may be either (``03/04/2020``) or a file holding both orders is a DataError
    naming the row and quoting the study date as written."""
    ambiguous, day, month = day_month_order(text)

    def first(i: int) -> tuple[str, str]:
        r = i if at is None else int(at[i])
        return rows(r), _WITHHELD if withhold else repr(raw[day_col][r])

    if ambiguous is not None:
        row, value = first(ambiguous)
        raise DataError(
            f"{where}: {row}: study date {value} may be day-first or month-first "
            "(03/04/2020 is 3 April in Europe, 4 March in the USA); pass dayfirst=True for "
            "dd/mm/yyyy or dayfirst=False for mm/dd/yyyy"
        )
    if day is not None and month is not None:
        (r1, v1), (r2, v2) = first(day), first(month)
        raise DataError(
            f"{where}: study dates in both orders: {r1} {v1} is day-first, {r2} {v2} "
            "month-first; fix the export or pass dayfirst=True or dayfirst=False"
        )
    return month is None  # (day-first where no date decides: 05/05/2020 reads alike)


def _study_dates(
    day: pl.Series,
    raw: pl.DataFrame,
    day_col: str,
    where: str,
    dayfirst: bool | None,
    withhold: bool,
    rows: _RowNames,
) -> pl.Series:
    """The study dates ``day`` (stripped text) as datetimes, by
    :func:`recurct._dates.parse_date_series` (null where a date is none of its forms):
    day-first or month-first dates as ``dayfirst`` says; with None by their order
    (:func:`_order`), decided on all of them where a sample of the column holds such dates,
    else on those that are not ISO or DICOM dates (a column of ISO dates pays for nothing)."""
    if dayfirst is not None:
        return parse_date_series(day, dayfirst=dayfirst, monthfirst=not dayfirst)
    if looks_day_month(day.gather_every(max(1, day.len() // 500))):  # one order, one pass
        order = _order(day, None, raw, day_col, where, withhold, rows)
        return parse_date_series(day, dayfirst=order, monthfirst=not order)
    parsed = parse_date_series(day)
    rest = (day.is_not_null() & parsed.is_null()).to_numpy()
    if not rest.any():
        return parsed
    at = np.flatnonzero(rest)
    text = day.gather(at)
    order = _order(text, at, raw, day_col, where, withhold, rows)
    return parsed.scatter(at, parse_date_series(text, dayfirst=order, monthfirst=not order))


def _dates(
    df: pl.DataFrame,
    raw: pl.DataFrame,
    day_col: str,
    time_col: str | None,
    where: str,
    dayfirst: bool | None,
    withhold: bool,
    rows: _RowNames,
) -> tuple[pl.Series, list[tuple[int, str, str]]]:
    """The study dates as datetimes, read as :func:`recurct.read_exams` reads exam dates
    (:func:`recurct._dates.parse_date_series`: ISO, ``YYYY/MM/DD``, DICOM ``YYYYMMDD`` and
    date-times, day-first or month-first dates with ``/``, ``.`` or ``-`` by ``dayfirst``,
    :func:`_study_dates`; a time of day after a space or ``T``, 24-hour or with AM or PM,
    a UTC offset after it dropped, a leap second as second 59), joined with the export's
    study time (:func:`_study_times`); and the problems of the study times, each a
    ``(row, column, what)``. A study date that is none of these is a DataError naming the
    row (and quoting the cell as written, unless ``withhold``); times written with more
    than one UTC offset are warned of (:func:`_warn_offsets`)."""
    day = df[day_col]
    parsed = _study_dates(day, raw, day_col, where, dayfirst, withhold, rows)
    bad = day.is_not_null() & parsed.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        value = _WITHHELD if withhold else repr(raw[day_col][i])
        raise DataError(
            f"{where}: {rows(i)}: study date {value} is not a date (YYYY-MM-DD, YYYY/MM/DD, "
            f"DICOM YYYYMMDD or YYYYMMDDHHMMSS, or {_SLASH_FORMS[dayfirst]}, also with '.' "
            "or '-' for '/'; a time H:MM[:SS[.f]] may follow after a space or 'T', 24-hour "
            "or with AM or PM, and a UTC offset after it)"
        )
    _warn_offsets(day, day_col, where, withhold, rows)
    if time_col is None:
        return parsed.alias("exam_date"), []
    return _study_times(parsed, df, raw, day_col, time_col, withhold)


def _study_times(
    parsed: pl.Series,
    df: pl.DataFrame,
    raw: pl.DataFrame,
    day_col: str,
    time_col: str,
    withhold: bool,
) -> tuple[pl.Series, list[tuple[int, str, str]]]:
    """The study dates ``parsed`` with the export's study time, by the rule of
    :func:`recurct.read_exams`' separate time column: its time (in one of the forms of
    :func:`recurct._dates.parse_study_time`) is the time of a study date without one (a
    date alone, or at midnight: a spreadsheet's date cell); a study date with a time of
    its own keeps it. A study time that is none of the forms, or that differs from the
    study date's own time, is not used: each a ``(row, column, what)`` problem (the study
    keeps its date and dose)."""
    text = df.get_column(time_col)
    clock = parse_study_time(text)
    at = clock.str.strptime(pl.Time, "%H:%M:%S%.f", strict=False)
    own = parsed.dt.time()
    frame = pl.DataFrame({"d": parsed, "own": own, "at": at, "t": text})
    d, t, c = pl.col("d"), pl.col("t"), pl.col("at")
    midnight = pl.col("own") == pl.time(0)
    marks = frame.select(
        exam=pl.when(midnight & c.is_not_null()).then(d.dt.combine(c)).otherwise(d),
        unread=(t.is_not_null() & c.is_null()).fill_null(False),
        differs=(~midnight & c.is_not_null() & (pl.col("own") != c)).fill_null(False),
    )
    found: list[tuple[int, str, str]] = []

    def quoted(col: str, i: int) -> str:
        return _WITHHELD if withhold else repr(raw[col][i])

    for i in marks.get_column("unread").arg_true().to_list():
        found.append(
            (
                i,
                time_col,
                f"{quoted(time_col, i)}, not a time of day ({TIME_FORMS}); the study time is "
                "not used",
            )
        )
    for i in marks.get_column("differs").arg_true().to_list():
        found.append(
            (
                i,
                time_col,
                f"{quoted(time_col, i)}, a time other than the study date's own "
                f"({quoted(day_col, i)}); the study date's time is kept",
            )
        )
    return marks.get_column("exam").alias("exam_date"), found


def _warn_offsets(
    day: pl.Series, day_col: str, where: str, withhold: bool, rows: _RowNames
) -> None:
    """Warn, as :func:`recurct.read_exams` does, when the study dates' times carry more
    than one UTC offset (:func:`recurct._dates.mixed_offsets`), naming the first row of
    each (and the offsets, unless ``withhold``)."""
    warn_mixed_offsets(
        day.alias(day_col),
        where=where,
        row=rows,
        listed=rows.listed if withhold else None,
        stripped=True,  # (cells are read stripped)
    )


def _pseudonyms(values: pl.Series, key: bytes | None, domain: Any) -> pl.Series:
    if key is None:
        return values
    uniq = values.drop_nulls().unique().to_list()
    mapping = {v: pseudonym(v, key, domain) for v in uniq}
    return values.replace_strict(mapping, default=None, return_dtype=pl.Utf8)


def _regions(values: pl.Series, rules: Any) -> pl.Series:
    from recurct.dose import normalise_region

    if values.null_count() == values.len():
        return pl.Series(values.name, [None] * values.len(), dtype=pl.Utf8)
    return normalise_region(values, region_rules=rules).cast(pl.Utf8)


def _exam_regions(events: pl.DataFrame, n_rows: int) -> pl.Series:
    """:func:`recurct.dose.exam_region` of each exam's events. An exam with one region gets
    it; the others call the rule once per distinct pattern: the exam's regions in first-seen
    order with the rank of their summed DLP (all the rule needs: the set of regions and which
    one has the largest DLP sum)."""
    per_region = (
        events.filter(pl.col("body_region").is_not_null())
        .group_by("exam_row", "body_region", maintain_order=True)
        .agg(pl.col("dlp_mgycm").drop_nulls().alias("dlp"))
    )
    # each region's DLP summed by recurct's rule (list_sums, as a patient's CED and as
    # exam_region sums it): the correctly rounded sum, hence the same main region, in any
    # order of the events; null without a DLP
    per_region = per_region.with_columns(
        pl.when(pl.col("dlp").list.len() > 0).then(list_sums(per_region.get_column("dlp")))
    ).with_columns(
        pl.col("dlp").rank("dense", descending=True).over("exam_row").alias("r"),
        pl.len().over("exam_row").alias("k"),
    )
    single = per_region.filter(pl.col("k") == 1).select("exam_row", "body_region")
    multi = (
        per_region.filter(pl.col("k") > 1)
        .group_by("exam_row", maintain_order=True)
        .agg(pl.col("body_region"), pl.col("r"))
        .with_columns(
            (
                pl.col("body_region").list.join(",")
                + "|"
                + pl.col("r").cast(pl.List(pl.Utf8)).list.join(",")
            ).alias("pattern")
        )
    )
    patterns = multi.unique("pattern").select("pattern", "body_region", "r")
    mapping = {
        pat: exam_region(list(reg), [None if x is None else 1e6 - x for x in rank])
        for pat, reg, rank in patterns.iter_rows()
    }
    multi = multi.select(
        "exam_row",
        pl.col("pattern").replace_strict(mapping, return_dtype=pl.Utf8).alias("body_region"),
    )
    full = pl.DataFrame({"exam_row": pl.arange(0, n_rows, eager=True, dtype=pl.Int64)})
    both = pl.concat([single, multi])
    return full.join(both, on="exam_row", how="left")["body_region"]


def _scientific_ids_missing(
    df: pl.DataFrame,
    raw: pl.DataFrame,
    column: str,
    where: str,
    withhold: bool,
    rows: _RowNames,
) -> tuple[pl.DataFrame, dict[int, str]]:
    """The identity rule of Patient IDs in scientific notation (``1,23457E+11``, a
    spreadsheet's display of a long number, its last digits lost:
    :func:`recurct._frames.scientific_ids_missing`, as every other entry point applies it):
    made missing before anything is hashed (two patients whose IDs a spreadsheet rounded to
    one number must not become one pseudonym), with the :class:`IdentifierWarning` of the
    rule (:func:`recurct._frames.scientific_ids_warning`: the IDs as written, ``<withheld>``
    with ``withhold``; their rows and lines listed as the other warnings list them). Returns
    the frame and, by row, the problem row's reason."""
    found = scientific_ids_missing(df.get_column(column))
    if found is None:
        return df, {}
    ids, lost = found
    values = raw.get_column(column).gather(lost)
    said = scientific_ids_warning(
        column, values, rows.listed(lost.tolist(), shown=10), where, withhold
    )
    warnings.warn(said, stacklevel=user_stacklevel())
    why = {
        int(r): (
            f"Patient ID {_WITHHELD if withhold else repr(v)} is a number in scientific "
            "notation (a spreadsheet's display of a long number: its last digits are lost, so "
            "different patients may share it); patient_id left null"
        )
        for r, v in zip(lost.tolist(), values.to_list())
    }
    return df.with_columns(ids), why


@renamed(csv_or_xlsx="source", salt="secret")
def read_openrem_ct(
    source: str | os.PathLike[str],
    *,
    pseudonymise: Literal["hmac-sha256"] | None = None,
    secret: bytes | str | None = None,
    include_non_patient: bool = False,
    region_rules: Any = None,
    dayfirst: bool | None = None,
) -> ReadResult[pl.DataFrame]:
    """Read an OpenREM CT export into exam and event tables.

    Parameters
    ----------
    source : path
        OpenREM CT CSV export (separated by ``,``, or by ``;``, tab or ``|`` as a spreadsheet
        re-saves it, detected from the header line as :func:`recurct.read_exams` detects it,
        or named by an Excel ``sep=;`` first line), or XLSX export (its "All data" sheet,
        else its first; the sheet's first row is the header).
    pseudonymise, secret
        As in :func:`recurct.io.rdsr.read_rdsr`: "Patient ID", "Study UID" and "Accession
        number" become their HMAC-SHA256 pseudonyms (``"hmac-sha256"``, a secret of at least
        128 bits; :func:`recurct.io.pseudonym.pseudonymise_id` gives the same pseudonym of
        the same value), the file is named by its pseudonym,
        :func:`recurct.io.rdsr.file_pseudonym` of its name (``"file:"`` and 64 hex digits),
        in every message, warning, problem row and error (an export is often named by the
        patient's ID), no message quotes a cell, and ``age_years`` tells no more than
        completed years (Notes): an age up to one year lower, which can put an exam in a
        younger age column of an age-dependent conversion table
        (:func:`recurct.dose.effective_dose` with ``table="shrimpton_age"`` or
        ``"nci_icrp103_120kv"``, or a table of your own whose factors depend on age), so
        that it gets another factor and another effective dose. Compute the effective doses
        from a read without ``pseudonymise`` (the exact ages) and pseudonymise that table
        (:func:`recurct.io.pseudonym.pseudonymise_id`,
        :func:`recurct.io.pseudonym.coarsen_ages`), or accept that an exam's age column can
        be one lower.
    include_non_patient : bool
        Keep studies marked in OpenREM's "Test patient?" column (with a ``non_patient``
        column); by default they are dropped.
    region_rules : optional
        Extra region rules, as in :func:`recurct.dose.normalise_region`.
    dayfirst : bool or None, default None
        How to read study dates written with the day and the month first (an export
        re-saved by a spreadsheet), with slashes, dots (German Excel's ``dd.mm.yyyy``) or
        dashes, all by one rule: True ``dd/mm/yyyy`` (``dd.mm.yyyy``, ``dd-mm-yyyy``), False
        ``mm/dd/yyyy`` (``mm.dd.yyyy``, ``mm-dd-yyyy``). With None the dates decide
        (``13/04/2020`` and ``13.04.2020`` can only be day-first, ``04/13/2020`` only
        month-first), and a date that may be either (``03/04/2020``, ``03.04.2020``: both
        numbers 12 or less) is an error naming its row, as is a file holding both orders.
        ISO (``2020-04-03``, as OpenREM writes; ``2020/04/03``), DICOM ``20200403`` and
        DICOM date-times (``20200403140500``) are read whatever ``dayfirst`` says. Study
        dates are read by the rules of :func:`recurct.read_exams` (one reader of date-time
        text, :mod:`recurct._dates`): a time of day in the date's cell, after a space or
        ``T`` (``2020-04-03 14:05:00``, as an .xlsx date-time cell reads;
        ``03.04.2020 14:05``; ``2020-04-03T14:05``; ``04/03/2020 2:05 PM``), is kept in
        ``exam_date``, a ``Z`` or UTC offset after it dropped (the wall-clock time
        written), a leap second read as second 59; a minute of one digit (``14:5``) makes
        the date unreadable. A "Study time" column gives the time of a study date without
        one (a date alone, or at midnight); a study date with a time of its own keeps it.

    Returns
    -------
    ReadResult
        ``.exams``, ``.events`` (below) and ``.report``, a
        :class:`recurct.io.rdsr.ReadReport` of the one file. Its problems (``file`` the file
        name, or with ``pseudonymise`` its pseudonym, ``file_pseudonym(name, secret)``;
        ``reason`` starting with the row, named as in the messages (Raises), ``field``
        the export's column) are, with
        action ``"lenient"`` (the study is kept): a study without a study date (``exam_date``
        null) or, in an export with a "Patient ID" column, without one (``patient_id`` null:
        an empty ID or a placeholder such as ``unknown``, ``-`` or ``#N/A``,
        :data:`recurct.schema.PLACEHOLDER_IDS`, or an ID in scientific notation, the reason
        saying so: Notes);
        a DLP that is negative or not a finite number (an event's: left null, and the exam DLP
        with it; the reported total's: left null); an event's CTDIvol that is negative or not
        finite, or an optional number that cannot be read (age, event count, CTDIvol,
        exposure time, scanning length, slice thickness, collimation, pitch, number of
        sources: left null, the value quoted as written); an age outside 0-130 years or a
        sex that :data:`recurct.schema.SEX_TABLE` does not hold (left null, quoted); a
        study time that is not a time of day (:data:`recurct._dates.TIME_FORMS`) or that
        differs from the time written in the study date (not used; quoted); an exam
        whose DLP was left null because an event other than a localizer has none; an exam
        that lost events (Notes): field the "Number of events" column (``says 4, 3 event
        blocks hold data``) or ``"cells beyond the header"``; a "Number of events" below
        the events with data (the exam DLP kept). With
        action ``"dropped"``: a row with no Patient ID, Study UID, accession number and
        study date (a totals row a spreadsheet added, a row of empty cells) is no study: it
        is left out, with a
        :class:`~recurct.errors.DroppedRowsWarning` counting such rows.
        ``non_patient_studies`` counts the studies marked in "Test patient?",
        ``non_patient_excluded`` says whether they were dropped.

    Raises
    ------
    FileNotFoundError
        No such file.
    recurct.errors.DataError
        The file is not an OpenREM CT export (the message lists its columns as the file has
        them; a plain exam table is read with :func:`recurct.read_exams`) or not a readable
        .xlsx workbook (empty, cut short, a zip archive without a workbook), a column the
        reader uses is named twice, the file cannot be decoded (a byte that is neither
        UTF-8 nor Windows-1252 text, or a file mixing the two), a row has more cells than
        the header (an unquoted comma inside a value, such as a patient name ``SMITH, JOHN``,
        shifts the row's cells: the whole file is refused, as no cell of that row can be
        trusted; or a study has more events than the header has blocks of event columns), a
        DLP (an event's or the reported total) or a study date cannot be read (a
        time in its cell included: ``2020-04-03 25:00``), or a day-first or month-first
        date is ambiguous (pass ``dayfirst``). Each message names the file (with
        ``pseudonymise`` by its pseudonym, never by its name or path; no error carries an
        exception of polars or pandas, whose messages quote cells) and the
        row as :func:`recurct.read_exams` names rows: the 0-based data row (row 0 the first
        after the header), with, for a CSV file, the 1-based line of the file where it
        starts (``row 2 (line 4 of the file)``: a ``sep=`` line and line breaks inside
        quoted values counted) and, for a workbook, its row of the sheet
        (``row 2 (sheet row 4)``: the header is sheet row 1); it quotes the cell as written,
        except with ``pseudonymise``: then it never quotes a cell's value (``<withheld>``),
        nor does a problem row. Warnings list rows alike (``rows 2, 5, 0-based; lines 4, 9
        of the file``).

    Warns
    -----
    recurct.errors.RecurctWarning
        The study dates' times carry more than one UTC offset (``+01:00`` in some rows,
        ``Z`` in others), as :func:`recurct.read_exams` warns: each is read as the
        wall-clock time written, so times of two offsets are on different clocks. The
        warning names the offsets (not under ``pseudonymise``) and the first row of each.

    Notes
    -----
    ``exams``: one row per study, canonical exam columns (:data:`recurct.io.rdsr.EXAM_COLUMNS`;
    no ``study_uid`` in most OpenREM versions, so ``accession_number`` is added, with
    ``study_description`` and ``requested_procedure``): ``dlp_mgycm`` is the sum of the event
    DLPs (the reported total where the export has no event columns), null where an event other
    than a localizer (Type "Constant Angle Acquisition") has no DLP, where an event's DLP
    is negative or not finite (a lost value, as :func:`recurct.io.rdsr.read_rdsr` treats it;
    a very large one is kept), or where the exam lost events, with a
    :class:`PartialExamWarning`; ``dlp_total_mismatch``
    true where the reported DLP total and the event sum differ beyond rounding, null where
    there is no complete event sum;
    ``ctdivol_mgy`` the CTDIvol of the event with the largest DLP (an event's negative or
    non-finite CTDIvol is left null, with a problem row naming its row and column: the
    exam keeps its DLP), null where the exam lost events (its main scan cannot be known);
    ``n_events`` the events with data (the reported "Number of events" where the export has
    no event columns). An exam lost events where its "Number of events" (OpenREM writes
    its accumulated dose data's Total Number of Irradiation Events there), a whole number,
    is above the event blocks of its row that hold data (a row cut short, event columns
    emptied, or an export with fewer blocks than the count), or where cells of an .xlsx
    sheet right of the header's last column hold data (OpenREM writes every event of a
    study but only as many blocks of event columns as the export's largest "Number of
    events"; a CSV row wider than the header is refused, Raises): its ``dlp_mgycm``,
    ``ctdivol_mgy`` and ``dlp_total_mismatch`` are null, never a partial sum, each such
    exam a problem row, as :func:`recurct.io.rdsr.read_rdsr` treats an exam that lost
    events; a count below the events with data is a problem row only; ``body_region`` the
    combination (:func:`recurct.dose.exam_region`) of the events' regions, each from its
    protocol, else from the study description, else from the requested procedure
    (:func:`recurct.dose.normalise_region`); ``effective_dose_msv`` null (fill it with
    :func:`recurct.dose.effective_dose`); ``age_years`` a number of years or a DICOM age
    string (``067Y``, ``70 Y``, ``018M``: :func:`recurct.schema.parse_dicom_age`), null
    outside 0-130 (:data:`recurct.schema.MAX_AGE_YEARS`); ``sex`` F, M, O or U, mapped
    through :data:`recurct.schema.SEX_TABLE` as :func:`recurct.read_exams` maps it
    (``Mujer`` F, ``Homme`` M, ``Divers`` O, ``Unknown`` U), null otherwise. Numbers
    are read with a decimal comma only in a file not separated by commas (and an .xlsx
    sheet's text cells), in a column with commas and no points, as
    :func:`recurct.read_exams` reads them. There is no ``strict``: a value the exam's dose
    depends on (a DLP, the study date) that cannot be read refuses the file, an optional
    attribute that cannot be read is left null with a problem row (a bad optional attribute
    never costs an exam its dose). Patient names and birth dates are never carried.

    Identifiers: "Patient ID", "Study UID" and "Accession number" are read without
    surrounding whitespace, and one that is empty or a placeholder
    (:data:`recurct.schema.PLACEHOLDER_IDS`: ``unknown``, ``-``, ``?``, ``#N/A``, ``NA``,
    ... as listed or in upper, lower or title case, as :func:`recurct.validate` reads them)
    is null, with or without ``pseudonymise``: never hashed, so two patients whose ID is
    ``unknown`` do not become one pseudonym. A Patient ID in scientific notation
    (``1.23457E+11``, ``1,23457E+11``: :data:`recurct._frames.SCIENTIFIC_ID`, how a
    spreadsheet that re-saved the export shows a long number) has lost its last digits and
    may be several patients': it is null too, as every entry point's identity rule reads it
    (:func:`recurct.io.pseudonym.pseudonymise_id` gives it no pseudonym), with an
    :class:`~recurct.errors.IdentifierWarning` naming the column and listing the rows and
    lines (``rows 2, 5, 0-based; lines 4, 9 of the file``; its ``scientific_ids`` their
    number) and quoting the IDs as written, except with ``pseudonymise`` (``<withheld>``),
    and a problem row of each such study saying why its ``patient_id`` is null. The study
    is kept, with its dose (a row whose only key was such an ID is a study, not a totals
    row).

    Ages under ``pseudonymise``: OpenREM's "Patient age" is the days since the birth date
    / 365.25 where the report had a birth date, so that with ``exam_date`` it gives the
    birth date back. A pseudonymising read therefore gives each patient's exams the
    completed years of age at the patient's first exam in the file with an age and a date,
    plus the years since that exam (days / 365.25):
    :func:`recurct.io.pseudonym.coarsen_ages`. A patient's ages stay consistent between
    exams but place the birth date only within a year (an age is at most one year lower
    than read); an exam without a patient ID or a date gets its completed years. Reading
    a patient's exams in several files and combining the ages narrows that year: read them
    as one export. An age-dependent conversion can then choose another age column (the
    ``pseudonymise`` parameter above; docs/dose.md, "Ages of a pseudonymising read").

    ``events``: one row per event (a block of event columns that holds data): ``exam_row``
    (0-based row of the export, as messages name rows), ``study_uid`` (its study's, null
    where the export has no "Study UID" column, as most OpenREM versions' CT exports),
    ``accession_number``, ``patient_id``, ``exam_date``, ``event`` (1-based: the block's
    number), the columns of :data:`EVENT_FIELDS` found in the file, ``localizer`` (true
    where the Type is "Constant Angle Acquisition", as the exam's rules read it),
    ``events_lost`` (true on every event of an exam that lost events, its ``dlp_mgycm``
    null, as :func:`recurct.io.rdsr.read_rdsr` marks them; false otherwise) and
    ``body_region``; identifiers pseudonymised as in ``exams``. With a ``study_uid`` it
    goes into :func:`recurct.dose.effective_dose` with ``level="event"``; without, key the
    events by ``exam_row`` first (docs/rdsr.md, "OpenREM exports"). An event-level sum
    over a study whose events are marked ``events_lost`` is null, never partial.
    """
    include_non_patient = _checks.flag(
        include_non_patient, "read_openrem_ct", "include_non_patient"
    )
    key = check_method(pseudonymise, secret)
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise ParameterError(
            f"read_openrem_ct: dayfirst must be True, False or None, got {dayfirst!r}"
        )
    path = _checks.path(source, "read_openrem_ct", "source", what="an OpenREM CSV or XLSX file")
    if not path.is_file():
        raise InputNotFoundError(f"no such file: {str(path)!r}")
    # a pseudonymising read names the file by its pseudonym (as read_rdsr names a file it
    # was given: file_pseudonym of its name), in every message, warning and problem row: an
    # export is often named by the patient's ID; without, by its name
    where = path.name if key is None else _file_label(path.name, key)
    withhold = key is not None  # no cell value in a message of a pseudonymising read
    df, raw, decimal_comma, rows = _read_frame(path, where, withhold)
    if df.height == 0:
        raise DataError(f"{where}: no rows")
    beyond = _beyond_cells(df)
    df, raw = df.drop(_BEYOND, strict=False), raw.drop(_BEYOND, strict=False)
    cols = _study_columns(df.columns, where)
    # an empty or placeholder ID ("unknown", "-", "#N/A": recurct.schema.PLACEHOLDER_IDS) is
    # missing, as read_exams and validate read it, before anything is hashed: two patients
    # whose ID is "unknown" are not one patient (nor one pseudonym)
    df = df.with_columns(
        normalise_ids(df.get_column(c)).alias(c)
        for c in (cols["patient_id"], cols["study_uid"], cols["accession_number"])
        if c is not None
    )
    no_id_why: dict[int, str] = {}  # an ID a spreadsheet wrote as 1,23457E+11: missing
    if cols["patient_id"] is not None:
        df, no_id_why = _scientific_ids_missing(df, raw, cols["patient_id"], where, withhold, rows)
    blocks = _event_blocks(df.columns)
    event_fields = sorted(
        {f for b in blocks.values() for f in b}, key=list(EVENT_FIELDS.values()).index
    )
    dose = [cols["reported_dlp_total_mgycm"]] + [
        b["dlp_mgycm"] for b in blocks.values() if "dlp_mgycm" in b
    ]
    optional = [cols["n_events_reported"]] + [
        c for b in blocks.values() for f, c in b.items() if f in _NUMERIC_EVENT and f != "dlp_mgycm"
    ]
    df, lost = _numbers(
        df,
        raw,
        [c for c in dose if c is not None],
        [c for c in optional if c is not None],
        cols["age_years"],
        where,
        withhold,
        decimal_comma,
        rows,
    )
    df, odd_sex = _sexes(df, raw, cols["sex"], withhold)
    lost += odd_sex
    df, lost_dlp = _lost_dlps(df, cols, blocks)
    df, lost_ctdi = _lost_ctdis(df, blocks)
    lost += lost_dlp + lost_ctdi
    study, times_lost = _study_frame(
        df, raw, cols, key, where, region_rules, dayfirst, withhold, rows
    )
    lost += times_lost
    events = _stack_events(df, blocks, event_fields, study, region_rules)
    exams = _exam_frame(df, cols, study, events)
    exams = _lost_events(exams, beyond, bool(blocks))
    # a row without any key of a study (a totals row a spreadsheet added, a row of empty
    # cells) is no study: left out, counted in a warning and a "dropped" problem row
    keyless = (
        pl.col("patient_id").is_null()
        & pl.col("study_uid").is_null()
        & pl.col("accession_number").is_null()
        & pl.col("exam_date").is_null()
        & ~pl.col("exam_row").is_in(list(no_id_why))  # it had an ID, made missing
    )
    dropped = exams.filter(keyless)["exam_row"].to_list()
    if dropped:
        _warn_dropped(where, dropped, rows)
        exams = exams.filter(~keyless)
        gone = set(dropped)
        lost = [x for x in lost if x[0] not in gone]
    if key is not None:  # ages that do not give away the birth date (coarsen_ages)
        exams = exams.with_columns(coarsen_ages(exams).alias("age_years"))
    partial = exams.filter(
        (pl.col("n_no_dlp") > 0) | (pl.col("n_lost_dlp") > 0) | pl.col("events_lost")
    )
    if partial.height:
        _warn_partial(where, partial, rows)
    problems = _problems(where, cols, exams, partial, lost, dropped, rows, no_id_why)
    exams = _exam_values(exams, bool(blocks))
    exam_cols: dict[str, Any] = {
        **EXAM_COLUMNS,
        "accession_number": pl.Utf8(),
        "study_description": pl.Utf8(),
        "requested_procedure": pl.Utf8(),
    }
    exam_cols.pop("n_reports")
    if include_non_patient:
        exam_cols["non_patient"] = pl.Boolean()
    keep = exams if include_non_patient else exams.filter(~pl.col("non_patient"))
    exam_df = keep.select(pl.col(c).cast(t) for c, t in exam_cols.items())
    ev_cols: dict[str, Any] = {
        "exam_row": pl.Int64(),
        "study_uid": pl.Utf8(),
        "accession_number": pl.Utf8(),
        "patient_id": pl.Utf8(),
        "exam_date": pl.Datetime("us"),
        "event": pl.Int64(),
        **{f: (pl.Float64() if f in _NUMERIC_EVENT else pl.Utf8()) for f in event_fields},
        "localizer": pl.Boolean(),
        "events_lost": pl.Boolean(),
        "body_region": pl.Utf8(),
    }
    # every event of an exam that lost events is marked, so that an event-level sum over
    # them is null too (recurct.dose.effective_dose), never partial
    event_df = (
        events.filter(pl.col("exam_row").is_in(keep["exam_row"].implode()))
        .join(
            keep.select("exam_row", "events_lost"), on="exam_row", how="left", maintain_order="left"
        )
        .select(pl.col(c).cast(t) for c, t in ev_cols.items())
    )
    report = ReadReport(
        files_read=1,
        files_skipped=0,
        problems=problems,
        non_patient_studies=int(exams["non_patient"].sum()),
        non_patient_excluded=not include_non_patient,
    )
    return ReadResult(exams=exam_df, events=event_df, report=report)


def _study_columns(
    header: list[str], where: str, hint: str = "", withhold: bool = False
) -> dict[str, str | None]:
    """Canonical study field -> the export's column (None where absent); a header without
    "Study date" and "DLP total (mGy.cm)" is a :class:`~recurct.errors.DataError` that lists
    the header as the file has it (``hint``: where the header may be instead), except with
    ``withhold`` (a file without a header line would have its first row listed)."""
    cols = {
        canon: next((n for n in names if n in header), None)
        for canon, names in STUDY_FIELDS.items()
    }
    if cols["study_date"] is None or cols["reported_dlp_total_mgycm"] is None:
        shown = f"{header[:12]}" + (f" and {len(header) - 12} more" if len(header) > 12 else "")
        if withhold:
            shown = f"{len(header)}, not listed in a pseudonymising read"
        raise DataError(
            f"{where}: not an OpenREM CT export (needs 'Study date' and 'DLP total (mGy.cm)'; "
            f"found columns {shown}){hint or _PLAIN_TABLE}"
        )
    return cols


_PLAIN_TABLE = (
    "; a plain exam table (one row per exam: patient ID, date, dose) is read with "
    "recurct.read_exams, which reads CSV text files and Parquet files: save a spreadsheet "
    "as CSV and read that"
)


def _event_blocks(header: list[str]) -> dict[int, dict[str, str]]:
    """Event number -> {event field: the export's column} ("E1 DLP" -> {1: {dlp_mgycm: ...}})."""
    blocks: dict[int, dict[str, str]] = {}
    for name in header:
        m = _EVENT_COLUMN.match(str(name))
        if m and m.group(2) in EVENT_FIELDS:
            blocks.setdefault(int(m.group(1)), {})[EVENT_FIELDS[m.group(2)]] = name
    return blocks


def _field(df: pl.DataFrame, cols: dict[str, str | None], canon: str, dtype: Any) -> pl.Series:
    """A study field's column, or nulls of ``dtype`` where the export lacks it."""
    col = cols[canon]
    return df[col] if col is not None else pl.Series([None] * df.height, dtype=dtype)


def _study_frame(
    df: pl.DataFrame,
    raw: pl.DataFrame,
    cols: dict[str, str | None],
    key: bytes | None,
    where: str,
    rules: Any,
    dayfirst: bool | None,
    withhold: bool,
    rows: _RowNames,
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """One row per study: row, pseudonymised ids (Patient ID, Study UID, accession number),
    date, and the region of its descriptions (the fallback of events whose protocol maps to
    none); and the problems of its study times (:func:`_dates`)."""
    desc_region = _regions(_field(df, cols, "study_description", pl.Utf8), rules)
    req_region = _regions(_field(df, cols, "requested_procedure", pl.Utf8), rules)
    study_date, study_time = cols["study_date"], cols["study_time"]
    dates, times_lost = _dates(
        df, raw, str(study_date), study_time, where, dayfirst, withhold, rows
    )
    study = pl.DataFrame(
        {
            "exam_row": pl.arange(0, df.height, eager=True, dtype=pl.Int64),
            "patient_id": _pseudonyms(_field(df, cols, "patient_id", pl.Utf8), key, "patient_id"),
            "study_uid": _pseudonyms(_field(df, cols, "study_uid", pl.Utf8), key, "study_uid"),
            "accession_number": _pseudonyms(
                _field(df, cols, "accession_number", pl.Utf8), key, "accession_number"
            ),
            "exam_date": dates,
            "fallback_region": desc_region.fill_null(req_region),
        }
    )
    return study, times_lost


def _stack_events(
    df: pl.DataFrame,
    blocks: dict[int, dict[str, str]],
    event_fields: list[str],
    study: pl.DataFrame,
    rules: Any,
) -> pl.DataFrame:
    """One row per event (one block of columns per event, stacked), with its study's ids
    and date and its region: its protocol's, else its study's."""
    ev_schema = {
        "exam_row": pl.Int64(),
        "event": pl.Int64(),
        **{f: (pl.Float64() if f in _NUMERIC_EVENT else pl.Utf8()) for f in event_fields},
        "dlp_lost": pl.Boolean(),
    }
    lazy = df.lazy().with_row_index("exam_row").with_columns(pl.col("exam_row").cast(pl.Int64))
    parts = [
        lazy.select(
            "exam_row",
            pl.lit(k, dtype=pl.Int64).alias("event"),
            *(
                pl.col(blocks[k][f]).alias(f)
                if f in blocks[k]
                else pl.lit(None, dtype=ev_schema[f]).alias(f)
                for f in event_fields
            ),
            # true where the block's DLP was negative or not finite (left null)
            pl.col(_lost_column(k)).alias("dlp_lost")
            if _lost_column(k) in df.columns
            else pl.lit(None, dtype=pl.Boolean).alias("dlp_lost"),
        )
        # an exam with fewer events than the widest one: its empty blocks are no events
        .filter(
            pl.any_horizontal(
                [pl.col(f).is_not_null() for f in blocks[k]] + [pl.col("dlp_lost").is_not_null()]
            )
        )
        for k in sorted(blocks)
    ]
    events = (
        pl.concat(parts).sort("exam_row", "event").collect()
        if parts
        else pl.DataFrame(schema=ev_schema)  # type: ignore[arg-type]
    )
    for f in ("protocol", "acquisition_type", "dlp_mgycm", "ctdivol_mgy"):
        if f not in events.columns:
            events = events.with_columns(
                pl.lit(None, dtype=pl.Float64 if f in _NUMERIC_EVENT else pl.Utf8).alias(f)
            )
    return events.join(study, on="exam_row", how="left").with_columns(
        pl.coalesce(_regions(events["protocol"], rules), pl.col("fallback_region")).alias(
            "body_region"
        ),
        # as the exam's rules read it (_exam_frame): Type "Constant Angle Acquisition"
        _is_localizer().alias("localizer"),
    )


def _is_localizer() -> pl.Expr:
    """An event whose Type is "Constant Angle Acquisition" (OpenREM writes CT Acquisition
    Type's meaning); false where the Type is another or missing."""
    return (pl.col("acquisition_type").str.to_lowercase() == _LOCALIZER).fill_null(False)


def _exam_frame(
    df: pl.DataFrame,
    cols: dict[str, str | None],
    study: pl.DataFrame,
    events: pl.DataFrame,
) -> pl.DataFrame:
    """One row per study with its fields and its events' counts, DLP sum and main CTDIvol."""
    lost = pl.col("dlp_lost").fill_null(False)
    agg = events.group_by("exam_row").agg(
        pl.len().alias("n_ev"),
        pl.col("dlp_mgycm").count().alias("n_dlp"),
        pl.col("dlp_mgycm").drop_nulls().alias("dlp_sum"),  # summed below
        (pl.col("dlp_mgycm").is_null() & ~pl.col("localizer") & ~lost).sum().alias("n_no_dlp"),
        # a negative or non-finite DLP, left null: lost, localizers' too
        lost.sum().alias("n_lost_dlp"),
        # CTDIvol of the largest-DLP event (the first of equal ones), null without DLPs
        pl.when(pl.col("dlp_mgycm").count() > 0)
        .then(
            pl.col("ctdivol_mgy")
            .sort_by("dlp_mgycm", descending=True, nulls_last=True, maintain_order=True)
            .first()
        )
        .alias("main_ctdi"),
    )
    # the events' DLPs summed by recurct's rule (list_sums, as a patient's CED): the
    # correctly rounded sum (math.fsum's), the same in any order of the events
    agg = agg.with_columns(list_sums(agg.get_column("dlp_sum")))

    def text(canon: str) -> pl.Series:
        return _field(df, cols, canon, pl.Utf8)

    def number(canon: str) -> pl.Series:
        return _field(df, cols, canon, pl.Float64)

    return (
        study.with_columns(
            number("reported_dlp_total_mgycm").alias("reported_dlp_total_mgycm"),
            _exam_regions(events, df.height).alias("body_region"),
            number("age_years").alias("age_years"),
            text("sex").alias("sex"),  # (mapped by _sexes)
            *(text(c).alias(c) for c in ("facility", "station_name", "manufacturer", "model")),
            text("study_description").alias("study_description"),
            text("requested_procedure").alias("requested_procedure"),
            number("n_events_reported").alias("n_events_reported"),
            text("test_patient")
            .str.to_lowercase()
            .is_in(["false", "0", "no"])
            .not_()
            .fill_null(False)
            .alias("non_patient"),
        )
        .join(agg, on="exam_row", how="left")
        .with_columns(
            pl.col("n_ev").fill_null(0),
            pl.col("n_dlp").fill_null(0),
            pl.col("n_no_dlp").fill_null(0),
            pl.col("n_lost_dlp").fill_null(0),
        )
    )


def _beyond_cells(df: pl.DataFrame) -> pl.Series | None:
    """Per row, the number of a sheet's cells right of the header's last column that hold
    something (``_BEYOND``, :func:`_beyond_header`; 0 where none), or None for a CSV file
    (whose rows are never wider than the header: :func:`_check_no_extra_cells`)."""
    if _BEYOND not in df.columns:
        return None
    return df.get_column(_BEYOND).cast(pl.Int64).fill_null(0).alias("n_beyond")


def _lost_events(exams: pl.DataFrame, beyond: pl.Series | None, has_events: bool) -> pl.DataFrame:
    """The exams' checks of their event count: ``n_counted``, the study's "Number of events"
    where it is a whole number >= 0 (OpenREM writes its accumulated dose data's Total Number
    of Irradiation Events there), else null; ``n_beyond``, a sheet's cells beyond the header
    (:func:`_beyond_cells`); ``events_lost``, true where an export with event columns holds
    fewer events with data than counted (a row cut short, event columns emptied or removed)
    or the sheet has cells beyond the header (events the header has no columns for): the
    exam's DLP, CTDIvol and mismatch are then left null (:func:`_exam_values`), never a
    partial sum, as :func:`recurct.io.rdsr.read_rdsr` leaves an exam that lost events."""
    count = pl.col("n_events_reported")
    whole = count.is_not_null() & count.is_finite() & (count >= 0) & (count == count.floor())
    exams = exams.with_columns(
        # without event columns the exam DLP is the reported total: no events to compare
        pl.when(whole & has_events).then(count).cast(pl.Int64, strict=False).alias("n_counted"),
        (beyond if beyond is not None else pl.lit(0, dtype=pl.Int64)).alias("n_beyond"),
    )
    if not has_events:
        return exams.with_columns(pl.lit(False).alias("events_lost"))
    return exams.with_columns(
        ((pl.col("n_counted") > pl.col("n_ev")).fill_null(False) | (pl.col("n_beyond") > 0)).alias(
            "events_lost"
        )
    )


def _warn_partial(where: str, partial: pl.DataFrame, rows: _RowNames) -> None:
    listed = rows.listed(partial["exam_row"].head(6).to_list())  # 5 listed, "..." for more
    warnings.warn(
        f"{where}: {partial.height} exam(s) have events without a usable DLP (none, other "
        "than on a localizer, or a negative or non-finite one) or lost events (fewer events "
        "with data than the study's event count, or cells beyond the header's last column): "
        f"their exam DLP is left null, not a partial sum ({listed})",
        PartialExamWarning,
        stacklevel=user_stacklevel(),
    )


def _exam_values(exams: pl.DataFrame, has_events: bool) -> pl.DataFrame:
    """The exam's DLP (the event sum, never a partial one: null where an event has no usable
    DLP or events were lost, :func:`_lost_events`; the reported total without event
    columns), its mismatch with the reported total, CTDIvol, region and event count."""
    # as recurct.io.rdsr._merge._mismatch: 0.05 mGy·cm per summed value, or 0.1 %
    rep_total = pl.col("reported_dlp_total_mgycm")
    tol = pl.max_horizontal(0.05 * (pl.col("n_dlp") + 1), 1e-3 * rep_total.abs())
    # like with like: no comparison where the exam has no complete event sum (null DLP)
    events_lost = pl.col("events_lost")
    complete = (
        (pl.col("n_dlp") > 0)
        & (pl.col("n_no_dlp") == 0)
        & (pl.col("n_lost_dlp") == 0)
        & ~events_lost
    )
    mismatch = pl.when(complete).then((rep_total - pl.col("dlp_sum")).abs() > tol)
    n_events = (
        pl.col("n_ev") if has_events else pl.col("n_events_reported").cast(pl.Int64, strict=False)
    )
    return exams.with_columns(
        pl.when((pl.col("n_no_dlp") > 0) | (pl.col("n_lost_dlp") > 0) | events_lost)
        .then(None)
        .when(pl.col("n_dlp") > 0)
        .then(pl.col("dlp_sum"))
        .otherwise(pl.col("reported_dlp_total_mgycm"))
        .alias("dlp_mgycm"),
        mismatch.alias("dlp_total_mismatch"),
        # the main scan (the largest DLP) of an exam that lost events cannot be known
        pl.when(events_lost).then(None).otherwise(pl.col("main_ctdi")).alias("ctdivol_mgy"),
        pl.coalesce(pl.col("body_region"), pl.col("fallback_region")).alias("body_region"),
        n_events.alias("n_events"),
        pl.lit(None, dtype=pl.Float64).alias("effective_dose_msv"),
    )


def _lost_column(event: int) -> str:
    return f"E{event} {_LOST}"


def _lost_dlps(
    df: pl.DataFrame, cols: dict[str, str | None], blocks: dict[int, dict[str, str]]
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Negative and non-finite DLPs (event DLPs and the reported total) left null, as
    :func:`recurct.io.rdsr.read_rdsr` leaves them: each a ``(row, column, what)``; an event
    whose DLP was lost gets a true ``E<n> __dlp_lost`` cell (its exam's DLP is left null)."""
    event_dlp = {b["dlp_mgycm"]: k for k, b in blocks.items() if "dlp_mgycm" in b}
    total = cols["reported_dlp_total_mgycm"]
    checked = [*event_dlp, *([total] if total is not None else [])]
    bad = {c: ((pl.col(c) < 0) | ~pl.col(c).is_finite()).fill_null(False) for c in checked}
    any_bad = df.select(bad[c].any().alias(c) for c in checked).row(0, named=True)
    hit = [c for c in checked if any_bad[c]]
    if not hit:
        return df, []
    lost: list[tuple[int, str, str]] = []
    for c in hit:
        rows = df.select(pl.arg_where(bad[c]).alias("i"), pl.col(c).filter(bad[c]).alias("v"))
        for i, v in rows.iter_rows():
            what = "a negative DLP" if math.isfinite(v) else "a DLP that is not a finite number"
            then = (
                "the reported DLP total is left null"
                if c == total
                else "the event's DLP is left null and so is the exam DLP, not a partial sum"
            )
            lost.append((i, c, f"{what}; {then}"))
    df = df.with_columns(
        *(
            pl.when(bad[c]).then(True).alias(_lost_column(event_dlp[c]))
            for c in hit
            if c in event_dlp
        ),
        *(pl.when(bad[c]).then(None).otherwise(pl.col(c)).alias(c) for c in hit),
    )
    return df, lost


def _lost_ctdis(
    df: pl.DataFrame, blocks: dict[int, dict[str, str]]
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Negative and non-finite event CTDIvols left null (an attribute: the exam keeps its
    DLP), each a ``(row, column, what)`` problem."""
    checked = [b["ctdivol_mgy"] for b in blocks.values() if "ctdivol_mgy" in b]
    bad = {c: ((pl.col(c) < 0) | ~pl.col(c).is_finite()).fill_null(False) for c in checked}
    if not checked:
        return df, []
    any_bad = df.select(bad[c].any().alias(c) for c in checked).row(0, named=True)
    hit = [c for c in checked if any_bad[c]]
    lost: list[tuple[int, str, str]] = []
    for c in hit:
        rows = df.select(pl.arg_where(bad[c]).alias("i"), pl.col(c).filter(bad[c]).alias("v"))
        for i, v in rows.iter_rows():
            what = (
                "a negative CTDIvol"
                if math.isfinite(v)
                else "a CTDIvol that is not a finite number"
            )
            lost.append((i, c, f"{what}; the event's CTDIvol is left null"))
    df = df.with_columns(pl.when(bad[c]).then(None).otherwise(pl.col(c)).alias(c) for c in hit)
    return df, lost


def _problems(
    where: str,
    cols: dict[str, str | None],
    exams: pl.DataFrame,
    partial: pl.DataFrame,
    lost: list[tuple[int, str, str]],
    dropped: list[int],
    rows: _RowNames,
    no_id_why: dict[int, str] | None = None,
) -> pl.DataFrame:
    """The problem rows of one export, each reason starting with its row (``rows``), by
    row: action
    ``"dropped"`` for a row that is no study (no key: left out); ``"lenient"`` for a study
    without a date or (in an export with the column) a Patient ID (``no_id_why``: the reason
    where it had one that was made missing, by row), a value left null (a DLP
    or CTDIvol negative or not finite, an optional attribute that cannot be read), an exam
    whose DLP was left null because an event other than a localizer has none."""
    found: list[tuple[int, int, str, str, str]] = []
    date_col, id_col = str(cols["study_date"]), cols["patient_id"]
    for r in dropped:
        found.append((r, 0, _NOT_A_STUDY, date_col, "dropped"))
    for r in exams.filter(pl.col("exam_date").is_null())["exam_row"].to_list():
        found.append((r, 0, "no study date; exam_date left null", date_col, "lenient"))
    if id_col is not None:
        why = no_id_why or {}
        for r in exams.filter(pl.col("patient_id").is_null())["exam_row"].to_list():
            reason = why.get(r, "no Patient ID; patient_id left null")
            found.append((r, 1, reason, id_col, "lenient"))
    for r, c, what in lost:
        found.append((r, 2, f"column {c!r} holds {what}", c, "lenient"))
    for r in partial.filter(pl.col("n_no_dlp") > 0)["exam_row"].to_list():
        found.append(
            (
                r,
                3,
                "an event other than a localizer has no DLP; the exam DLP is left null, not a "
                "partial sum",
                "DLP",
                "lenient",
            )
        )
    found += _count_problems(exams, cols["n_events_reported"])
    table = [
        {"file": where, "reason": f"{rows(r)}: {reason}", "field": fld, "action": action}
        for r, _, reason, fld, action in sorted(found, key=lambda x: (x[0], x[1]))
    ]
    return pl.DataFrame(table, schema=PROBLEM_COLUMNS)  # type: ignore[arg-type]


def _count_problems(
    exams: pl.DataFrame, count_col: str | None
) -> list[tuple[int, int, str, str, str]]:
    """The problems of the exams' event counts (:func:`_lost_events`), each ``(row, order,
    reason, field, action)``: fewer events with data than the study's "Number of events"
    (events lost: the exam's DLP, CTDIvol and mismatch left null), more events than it says
    (the DLP kept, as :func:`recurct.io.rdsr.read_rdsr` keeps it), or a sheet's cells beyond
    the header."""
    found: list[tuple[int, int, str, str, str]] = []
    checked = exams.filter(
        pl.col("n_counted").is_not_null() & (pl.col("n_counted") != pl.col("n_ev"))
    )
    if count_col is not None:
        for r, n, k in checked.select("exam_row", "n_counted", "n_ev").iter_rows():
            held = f"{k} event block{'' if k == 1 else 's'} hold{'s' if k == 1 else ''} data"
            if n > k:
                reason = (
                    f"column {count_col!r} says {n}, {held}: events are lost (the row cut "
                    "short, or their columns emptied or removed); the exam DLP, CTDIvol (the "
                    "main scan cannot be known) and dlp_total_mismatch are left null, not a "
                    "partial sum"
                )
            else:
                reason = (
                    f"column {count_col!r} says {n}, {held}; the exam DLP is kept (the sum "
                    "over the events in the file)"
                )
            found.append((r, 4, reason, count_col, "lenient"))
    for r, n in (
        exams.filter(pl.col("events_lost") & (pl.col("n_beyond") > 0))
        .select("exam_row", "n_beyond")
        .iter_rows()
    ):
        found.append(
            (
                r,
                5,
                f"{n} cell(s) right of the header's last column hold data: events the header "
                "has no columns for (OpenREM writes every event of a study, but only as many "
                "blocks of event columns as the export's largest 'Number of events'), not "
                "read; the exam DLP, CTDIvol (the main scan cannot be known) and "
                "dlp_total_mismatch are left null, not a partial sum",
                _BEYOND_FIELD,
                "lenient",
            )
        )
    return found


_BEYOND_FIELD = "cells beyond the header"

_NOT_A_STUDY = (
    "no Patient ID, Study UID, accession number or study date (a totals row or a row of "
    "empty cells): not a study, left out"
)


def _warn_dropped(where: str, dropped: list[int], rows: _RowNames) -> None:
    warnings.warn(
        f"{where}: {len(dropped)} row(s) have no Patient ID, Study UID, accession number or "
        f"study date (a totals row or a row of empty cells): not studies, left out "
        f"({rows.listed(dropped)}; see .report.problems)",
        DroppedRowsWarning,
        stacklevel=user_stacklevel(),
    )
