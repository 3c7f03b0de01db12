"""CSV text as spreadsheets and dose-monitoring systems write it, read for
:func:`recurct.read_exams`: the encoding decided on the whole file (BOMs, UTF-16, UTF-8,
Windows-1252; a byte that fits none named by its row), CR / LF / CRLF line ends, an Excel
``sep=`` line and blank lines above the header (skipped, the lines of the file still
counted), ``.csv.gz``, the separator detected, field counts checked per row, and a title
line above the header and files that are no CSV table (a workbook, a PDF, HTML) named as
such. Every column is read as text."""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from recurct.errors import DataError

__all__ = ["CsvTable", "RowLines", "read_csv", "record_lines"]

_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$', re.IGNORECASE)
# file signatures of what spreadsheets and systems save that is not a CSV table
_MAGIC = {
    b"PK\x03\x04": "a zip archive or Excel workbook (.xlsx)",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an Excel 97-2003 workbook (.xls)",
    b"%PDF": "a PDF document",
    b"BZh": "a bzip2 file (only gzip is read)",
    b"\xfd7zXZ\x00": "an xz file (only gzip is read)",
    b"\x28\xb5\x2f\xfd": "a zstd file (only gzip is read)",
    b"7z\xbc\xaf\x27\x1c": "a 7-zip archive",
    b"SQLite format 3\x00": "an SQLite database",
}
_MARKUP = (b"<!doctype html", b"<html", b"<?xml", b"<table")
# control characters text files do not hold (their UTF-8 bytes are the characters)
_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[*range(0x00, 0x09), *range(0x0E, 0x20)]] = True


def _row_of(raw: bytes, pos: int) -> str:
    """'data row N (line L of the file)' of a byte position: 0-based data rows (records: a line
    break inside a quoted value does not start a row; an Excel ``sep=`` line and blank lines
    above the header are not the header), 1-based file lines."""
    b = np.frombuffer(raw[:pos], dtype=np.uint8)
    newline = 10 if b"\n" in raw else 13
    breaks = np.flatnonzero(b == newline)
    line = breaks.size
    quotes = np.cumsum(b == ord('"'))
    record = int((quotes[breaks] % 2 == 0).sum()) if breaks.size else 0  # breaks outside quotes
    head = raw[:pos].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    record -= _header_cut(head.replace("\r", "\n") if newline == 13 else head)[1] + 1
    where = "the header" if record < 0 else f"data row {record}"
    return f"{where} (line {line + 1} of the file)"


def _decode(raw: bytes, source: str) -> str:
    """The text of a CSV file: BOMs, UTF-16, UTF-8, else Windows-1252, decided on the whole
    file; a byte that fits none is named by its row."""
    if raw.startswith(codecs.BOM_UTF8):
        raw, encoding = raw[3:], "utf-8"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(raw) >= 4 and raw[1] == 0 and raw[3] == 0 and raw[0] != 0:
        encoding = "utf-16-le"
    elif len(raw) >= 4 and raw[0] == 0 and raw[2] == 0 and raw[1] != 0:
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
        if _CONTROL_BYTES[np.frombuffer(raw.rstrip(b"\x1a"), dtype=np.uint8)].any():
            # a plain ValueError, worded by each caller and raised as a DataError: read_csv
            # as it is, io/openrem.py naming an OpenREM export (it passes a DataError on)
            message = _not_a_table(source, "binary content")
            raise ValueError(message)  # internal: not a user error
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            before = raw[: exc.start].decode(encoding, errors="replace").encode()
            where = _row_of(before, len(before))
            raise DataError(f"{source}: {where}: not valid {encoding} text") from None
        first_bad = exc.start
    if _UTF8_MULTIBYTE.search(raw):  # real UTF-8 text elsewhere: a mixed file, not cp1252
        raise DataError(
            f"{source}: {_row_of(raw, first_bad)}: byte 0x{raw[first_bad]:02x} is not UTF-8, "
            "although the rest of the file is; the file mixes encodings (fix that row or "
            "re-export the file as UTF-8)"
        )
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{source}: {_row_of(raw, exc.start)}: byte 0x{raw[exc.start]:02x} is neither "
            "UTF-8 nor Windows-1252 text"
        ) from None


def _text(raw: bytes, source: str) -> str:
    """:func:`_decode` for :func:`read_csv`: every error a DataError, as it is worded."""
    try:
        return _decode(raw, source)
    except DataError:
        raise
    except ValueError as exc:  # binary content, a plain ValueError (see _decode)
        raise DataError(str(exc)) from None


class RowLines:
    """The 1-based line of the file where each data row (record) of a CSV file starts, for
    messages: ``lines(2) == 4`` when row 2 starts at line 4 (a ``sep=`` line, a line break
    inside a quoted value before it). Computed from the file's bytes on the first call only,
    so that a file without problems pays nothing; None for a row the file does not have (or
    when the file can no longer be read)."""

    def __init__(self, path: Path, sep: str) -> None:
        self.path = path
        self.sep = sep
        self._starts: np.ndarray | None = None

    def __call__(self, row: int) -> int | None:
        if self._starts is None:
            try:
                self._starts = record_lines(self.path, self.sep)
            except (OSError, ValueError):  # the file changed or went: no line, not an error
                self._starts = np.empty(0, dtype=np.int64)
        return int(self._starts[row]) if 0 <= row < self._starts.size else None


class CsvTable(NamedTuple):
    """What :func:`read_csv` read: the table (every column text), the separator, the line of
    each row (:class:`RowLines`) and the 0-based positions of the unnamed, empty columns left
    out (Excel writes them after the last named column)."""

    frame: pl.DataFrame
    sep: str
    lines: RowLines
    unnamed_dropped: list[int]


def record_lines(path: Path, sep: str) -> np.ndarray:
    """1-based file line where data row ``i`` starts, as an array (see :class:`RowLines`)."""
    text, skipped, _ = _header_cut(_file_text(path, str(path)))
    if '"' not in text:  # one record a line: row r is line r + 2 (the header is line 1)
        return np.arange(text.count("\n") + 1, dtype=np.int64) + 2 + skipped
    starts = []
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=False)
    start = 1
    with _field_limit(len(text)):
        for _ in reader:
            starts.append(start + skipped)
            start = reader.line_num + 1
    return np.array(starts[1:], dtype=np.int64)


def _file_text(path: Path, source: str) -> str:
    """The decoded text of a CSV file (gzip, BOM, DOS end-of-file mark and CR-only line ends
    handled); a file that is no CSV table is a DataError naming what it is."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{source}: a damaged gzip file ({exc})") from None
    what = next((w for magic, w in _MAGIC.items() if raw.startswith(magic)), None)
    if what is None and raw.lstrip()[:15].lower().startswith(_MARKUP):
        what = "an HTML or XML document (some systems save an HTML table as .xls)"
    if what is not None:
        raise DataError(_not_a_table(source, what))
    text = _text(raw, source).rstrip("\x1a").lstrip("\ufeff")  # DOS end-of-file mark, BOM
    if "\r" in text and "\n" not in text:  # Excel "CSV (Macintosh)": CR line ends only
        text = text.replace("\r", "\n")
    return text


#: characters of a blank line before the header: spaces, and the separators of an empty row
_BLANK = " \t\r,;|"


def _header_cut(text: str) -> tuple[str, int, str | None]:
    """``(text from its header line on, lines cut before it, the separator an Excel sep= line
    names or None)``. Cut are blank lines (nothing but spaces and separators, as spreadsheets
    write an empty row) and an Excel ``sep=`` line, before the header: the lines of the file
    are counted with them."""
    cut, pos, named = 0, 0, None
    while pos < len(text):
        end = text.find("\n", pos)
        line = text[pos:] if end == -1 else text[pos:end]
        m = _SEP_LINE.match(line) if named is None else None
        if m is not None:
            named = m.group(1)
        elif line.strip(_BLANK):
            break
        cut += 1
        pos = len(text) if end == -1 else end + 1
    return (text[pos:] if pos else text), cut, named


#: the separators a header line is searched for (:func:`detect_separator`)
SEPARATORS = (",", ";", "\t", "|")


def detect_separator(header: str) -> str:
    """The separator of a header line: the most frequent of :data:`SEPARATORS` (``,`` on a
    tie or without any): an export re-saved by a European spreadsheet is separated by ``;``."""
    counts = {s: header.count(s) for s in SEPARATORS}
    return max(counts, key=counts.__getitem__) if any(counts.values()) else ","


def read_csv(
    path: Path, sep: str | None, is_column: Callable[[str], bool] | None = None
) -> CsvTable:
    """Read a delimited text file with every column as text (types are decided later).
    ``is_column`` tells a column name the caller knows (a canonical name or a vendor alias):
    a first line of one or two names with unnamed columns is a title when the line below it
    names more known columns (:func:`_header_below`)."""
    source = str(path)
    text, skipped, named = _header_cut(_file_text(path, source))  # skipped: lines before
    first = _first_line(text)
    if not first.strip():
        raise DataError(f"{source}: empty file, no header line")
    sep = sep if sep is not None else named
    given = sep is not None  # (else detected, and detected on the next line when a title)
    if sep is None:
        sep = detect_separator(first)
    try:
        header = next(csv.reader([first], delimiter=sep))
    except csv.Error as exc:
        raise DataError(f"{source}: the header line cannot be split into fields ({exc})") from None
    seen: dict[str, int] = {}
    unnamed = [i for i, name in enumerate(header) if not name.strip()]
    for i, name in enumerate(header):
        if not name.strip():
            continue  # an unnamed column: left out if empty, else an error (below)
        if name in seen:
            raise DataError(
                f"{source}: column {name!r} appears twice in the header (columns {seen[name]} "
                f"and {i}, 0-based); rename or drop one of them"
            )
        seen[name] = i
    title = _title(text, sep, header, given)
    if title is not None and len(header) == 1:  # one name, and a table below it
        raise DataError(_title_message(source, skipped, title))
    # rows of nothing but separators and spaces at the end (spreadsheets write them) are no
    # exams; blank rows inside the table stay rows, reported where they are
    last = len(text.rstrip(" \t\r\n" + sep))
    end = text.find("\n", last)
    if end != -1:
        text = text[: end + 1]
    data = text.encode("utf-8")
    if _CONTROL_BYTES[np.frombuffer(data, dtype=np.uint8)].any():
        raise DataError(_not_a_table(source, "binary content"))
    try:
        ragged = _check_field_counts(data, text, sep, len(header), source, skipped)
    except DataError:  # a title above the header is why, when there is one
        if title is not None:
            raise DataError(_title_message(source, skipped, title)) from None
        raise
    frame = _parse(data, text, sep, ragged, source, skipped)
    lines = RowLines(path, sep)
    if unnamed:
        try:
            frame = _drop_unnamed(frame, unnamed, source, lines)
        except DataError:
            # a merged title cell ("Dose report CT;;;": one name, then empty fields), or a
            # title of two ("CT dose report;export 01.01.2024;;") over the real header,
            # explains unnamed columns holding values; a header with two names and unnamed
            # columns ("patient_id;exam_date;;") is a header, whose unnamed column is named
            if title is not None and (title[1] == 1 or _header_below(frame, header, is_column)):
                raise DataError(_title_message(source, skipped, title)) from None
            raise
    return CsvTable(frame, sep, lines, unnamed)


def _title(text: str, sep: str, header: list[str], given: bool) -> tuple[str, int, int] | None:
    """Whether the first line (``header``, split by ``sep``) looks like a title above the
    real header: it has one or two names, and the next line that is not blank has more,
    split by ``sep`` when given (else by the separator detected on that line), as does the
    line after it when there is one. ``(the first line, its names, the next line's)``, or
    None."""
    names = sum(1 for h in header if h.strip())
    if not 1 <= names <= 2:
        return None
    following = []
    end = -1
    for _ in range(6):  # the first lines only (the text may be large)
        end = text.find("\n", end + 1)
        if end == -1:
            break
    head = text if end == -1 else text[:end]
    for line in head.split("\n")[1:]:
        if line.strip(_BLANK):
            following.append(line.rstrip("\r"))
        if len(following) == 2:
            break
    if not following:
        return None
    at = sep if given else detect_separator(following[0])
    try:
        fields = [next(csv.reader([line], delimiter=at)) for line in following]
    except (csv.Error, StopIteration):
        return None
    next_names = sum(1 for f in fields[0] if f.strip())
    if next_names <= names or (len(fields) == 2 and len(fields[1]) != len(fields[0])):
        return None
    return _first_line(text), names, next_names


def _header_below(
    frame: pl.DataFrame, header: list[str], is_column: Callable[[str], bool] | None
) -> bool:
    """Whether the first data row of ``frame`` (the line below the first, ``header``) looks
    like the real header: it names more known columns (``is_column``) than ``header`` does,
    or, ``header`` naming none, every field of it is a name (text with a letter, no field
    empty, none twice: no row of values looks so, as it holds a date)."""
    if frame.height == 0:
        return False
    row = [("" if v is None else str(v)).strip() for v in frame.row(0)]
    known = is_column or (lambda name: False)
    here = sum(1 for v in row if v and known(v))
    first = sum(1 for h in header if h.strip() and known(h.strip()))
    if here > first:
        return True
    return (
        first == 0
        and all(v and any(c.isalpha() for c in v) for v in row)
        and len(set(row)) == len(row)
    )


def _title_message(source: str, skipped: int, title: tuple[str, int, int]) -> str:
    first, names, next_names = title
    return (
        f"{source}: line {skipped + 1} of the file ({first!r}) looks like a title above the "
        f"header: it has {names} field(s), the line after it {next_names}; remove it (the "
        "header must be the first line of the file, blank lines aside) and read the file again"
    )


def _drop_unnamed(
    frame: pl.DataFrame, unnamed: list[int], source: str, lines: RowLines
) -> pl.DataFrame:
    """The table without its unnamed columns (an empty header field), each of which must be
    empty in every row (as Excel writes them after the last column); an unnamed column
    holding a value is an error naming its position and the first row with a value."""
    for i in unnamed:
        col = frame.to_series(i)
        filled = col.is_not_null() & (col.str.strip_chars() != "")
        if filled.any():
            row = int(filled.arg_max() or 0)
            line = lines(row)
            at = f" (line {line} of the file)" if line is not None else ""
            raise DataError(
                f"{source}: column {i} (0-based) has no name in the header but holds values "
                f"(row {row}{at}: {col[row]!r}); name it in the header or delete the column"
            )
    keep = [name for j, name in enumerate(frame.columns) if j not in set(unnamed)]
    return frame.select(keep)


def _parse(
    data: bytes, text: str, sep: str, ragged: bool, source: str, skipped: int
) -> pl.DataFrame:
    """polars' read of the checked text (``data`` its UTF-8 bytes); a quote never closed is
    named by its row and line, any other failure by polars' message."""
    try:
        return pl.read_csv(
            io.BytesIO(data), separator=sep, infer_schema=False, truncate_ragged_lines=ragged
        )
    except Exception as exc:  # polars raises ComputeError, NoDataError, ...
        quote = _open_quote(text, sep, skipped)
        if quote is not None:
            raise DataError(_open_quote_message(source, *quote)) from exc
        raise DataError(f"{source}: not a readable CSV table ({exc})") from exc


def _not_a_table(source: str, what: str) -> str:
    return (
        f"{source}: not a CSV or Parquet table ({what}); read_exams reads CSV text files "
        "(UTF-8, UTF-16 or Windows-1252, plain or .csv.gz), Parquet files and folders of "
        "Parquet files: save a spreadsheet as CSV (or unzip the file) and read that"
    )


def _first_line(text: str) -> str:
    cut = text.find("\n")
    return (text if cut == -1 else text[:cut]).rstrip("\r")


def _open_quote(text: str, sep: str, skipped: int = 0) -> tuple[int, int] | None:
    """``(record, line)`` where a quoted value that is never closed opens: its record (0 the
    header) and 1-based line of the file (``skipped`` lines precede ``text``); None when no
    quote is left open at the end of the text. Only for error paths: one pass of the csv
    module over the text, then a strict re-read of the last record (an open quote swallows
    everything after it, so its record is the last one and its value that record's last)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=False)
    last: tuple[int, int, list[str]] | None = None
    start = 1
    with _field_limit(len(text)):  # the open value may be most of the file
        try:
            for record, fields in enumerate(reader):
                last = (record, start, fields)
                start = reader.line_num + 1
        except csv.Error:  # a bare CR inside the text: reported elsewhere
            return None
        if last is None:
            return None
        record, start, fields = last
        pos = 0
        for _ in range(start - 1):
            pos = text.index("\n", pos) + 1
        try:
            for _ in csv.reader(io.StringIO(text[pos:]), delimiter=sep, strict=True):
                pass
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return None
            return record, start + skipped + sum(f.count("\n") for f in fields[:-1])
    return None


@contextlib.contextmanager
def _field_limit(size: int) -> Iterator[None]:
    """The csv module's field size limit (128 KiB by default, process-wide) raised to
    ``size`` for the block, so that one long value is read rather than an error."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, size + 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _open_quote_message(source: str, record: int, line: int, row: str | None = None) -> str:
    """The error for a quote left open in ``record`` (0 the header) at 1-based ``line``;
    ``row``: how the caller names a data row with its line (the OpenREM reader's
    ``row 2 (line 5 of the file)``), else ``data row 2 (line 5 of the file)``."""
    if record == 0:
        where = f"the header (line {line} of the file)"
    else:
        where = row or f"data row {record - 1} (line {line} of the file)"
    return (
        f"{source}: {where}: a quoted value starts here and its "
        'closing quote (") is missing, so the rest of the file would be read as one value; '
        "close the quote or remove the opening one"
    )


def _check_field_counts(
    data: bytes, text: str, sep: str, n_fields: int, source: str, skipped: int = 0
) -> bool:
    """A row with more or fewer fields than the header is an error naming it (polars would
    fail without a row, or fill the missing fields with nulls), except empty fields after the
    last column (rows ending with a separator the header lacks, as some exports write them):
    True then, and they are left out. Counting separators per line (numpy, on the bytes)
    finds the candidates cheaply; the exact count (quotes respected) is taken only then."""
    b = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(b == 10)
    if newlines.size == 0 or newlines[-1] != b.size - 1:
        newlines = np.append(newlines, b.size)
    sep_b = sep.encode("utf-8")
    if len(sep_b) == 1:
        at = np.searchsorted(np.flatnonzero(b == sep_b[0]), newlines)
        per_line = np.diff(at)  # separators of each line after the header
        if per_line.size == 0 or bool((per_line == n_fields - 1).all()):
            return False
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    next(reader)
    row, ragged = -1, False
    start = reader.line_num + 1  # the line of `text` where the next record starts
    # a long value (or an open quote taking the rest of the file) is no csv.Error
    try:
        with _field_limit(len(text)):
            for row, fields in enumerate(reader):
                if len(fields) > n_fields and not any(f.strip() for f in fields[n_fields:]):
                    ragged = True  # only empty fields after the last column
                elif len(fields) != n_fields and any(f.strip() for f in fields):
                    where = (row, start + skipped)
                    _wrong_count(text, sep, source, skipped, where, len(fields), n_fields)
                start = reader.line_num + 1
    except csv.Error as exc:  # a bare CR (old Mac line end) inside an LF or CRLF file
        raise DataError(
            f"{source}: data row {row + 1} (line {reader.line_num} of the file) cannot be "
            f"split into fields ({exc}); the file mixes line-end styles: re-save it as CSV"
        ) from None
    return ragged


def _wrong_count(
    text: str,
    sep: str,
    source: str,
    skipped: int,
    where: tuple[int, int],
    n: int,
    n_fields: int,
) -> None:
    """Raise for data row ``where[0]`` (at line ``where[1]`` of the file) with ``n`` fields:
    an open quote when that is what took the rest of the file, else the field count."""
    row, line = where
    quote = _open_quote(text, sep, skipped)
    if quote is not None and quote[0] == row + 1:  # record 0 is the header
        raise DataError(_open_quote_message(source, *quote))
    raise DataError(
        f"{source}: data row {row} (line {line} of the file) has {n} field(s) but the header "
        f"has {n_fields} (a "
        "separator inside an unquoted value, or a cell missing); quote the value or fix the row"
    )
