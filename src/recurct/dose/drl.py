"""Diagnostic reference levels: the shipped sets (``recurct/data/drl_*.csv``) and yours
(:func:`drl_tables`, :func:`drl_table`), and the comparison of exams with them
(:func:`compare_to_drl`, :func:`flag_above_drl`)."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import AMBIGUOUS_NUMBER, numeric_text
from recurct._compat import renamed
from recurct._frames import (
    from_polars,
    input_index,
    objects_as_text,
    param_label,
    rows_text,
    to_polars,
)
from recurct._stacklevel import user_stacklevel
from recurct._validation import DECIMAL_REMEDY, ambiguous_reason, row_text
from recurct.dose._tables import (
    NUM_OK,
    NUM_WHAT,
    check_numbers,
    data_names,
    is_shipped_name,
    listing,
    numbers,
    read_data_file,
    table_error,
    text_column,
    user_table,
)
from recurct.errors import DataError, DroppedRowsWarning, ParameterError, RecurctWarning
from recurct.schema import BODY_REGIONS

if TYPE_CHECKING:
    import pandas as pd

DRL_COLUMNS: tuple[str, ...] = (
    "exam_type",
    "description",
    "body_region",
    "ctdivol_mgy",
    "dlp_mgycm",
    "source",
    "note",
)
"""Columns a DRL table may have: ``exam_type`` and one of ``ctdivol_mgy`` / ``dlp_mgycm`` are
required (see :func:`drl_table`)."""


def _file_lines(path: Path) -> Callable[[int], int | None]:
    """The 1-based line of the file where each data row of a DRL CSV starts, as
    :func:`recurct._validation.row_text` takes it: ``# key: value`` and blank lines are skipped
    as the table is read, the first other line is the header."""
    kept: list[int] = []
    all_lines = path.read_text(encoding="utf-8-sig").splitlines()
    for number, line in enumerate(all_lines, start=1):
        if not line.startswith("#") and line.strip():
            kept.append(number)
    starts: list[int] = []
    reader = csv.reader(io.StringIO("\n".join(all_lines[n - 1] for n in kept)))
    start = 1
    for _ in reader:  # a record may span lines (a line break inside quotes)
        starts.append(kept[start - 1])
        start = reader.line_num + 1
    rows = starts[1:]
    return lambda row: rows[row] if 0 <= row < len(rows) else None


def _nan_text(df: pl.DataFrame, column: str, problems: list[tuple[int, str, Any, str]]) -> None:
    """The text ``NaN`` as a level is refused: an empty cell is the documented "no level"."""
    if column in df.columns and df[column].dtype == pl.Utf8:
        nan = df[column].str.strip_chars().str.to_lowercase().is_in(["nan", "+nan", "-nan"])
        for i in np.flatnonzero(nan.fill_null(False).to_numpy()).tolist():
            problems.append(
                (i, column, df[column][i], "NaN is not a level (leave the cell empty for none)")
            )


def _build_drl(meta: dict[str, str], df: pl.DataFrame, path: Path | None = None) -> pl.DataFrame:
    """Validate a DRL table (shipped or the user's) into its canonical columns; ``path``: the
    CSV file, whose lines name the rows of a problem (found only when there is one)."""
    where = meta.get("where", "DRL table")
    unknown = [c for c in df.columns if c not in DRL_COLUMNS]
    if (
        unknown
        or "exam_type" not in df.columns
        or not {"ctdivol_mgy", "dlp_mgycm"} & set(df.columns)
    ):
        raise DataError(
            f"{where}: a DRL table needs 'exam_type' and 'ctdivol_mgy' and/or 'dlp_mgycm' "
            f"and may have 'description', 'body_region', 'source', 'note'; it has {df.columns}"
        )
    problems: list[tuple[int, str, Any, str]] = []
    key = text_column(df, "exam_type")
    seen: dict[str, int] = {}
    for i, v in enumerate(key.to_list()):
        if v is None:
            problems.append((i, "exam_type", None, "missing exam type"))
        elif v in seen:
            problems.append((i, "exam_type", v, f"exam type already on row {seen[v]}"))
        else:
            seen[v] = i
    region = text_column(df, "body_region")
    mapped: dict[str, int] = {}
    for i, r in enumerate(region.to_list()):
        if r is None:
            continue
        if r not in BODY_REGIONS:
            problems.append((i, "body_region", r, "not a canonical body region"))
        elif r in mapped:
            problems.append((i, "body_region", r, f"region already mapped on row {mapped[r]}"))
        else:
            mapped[r] = i
    for c in ("ctdivol_mgy", "dlp_mgycm"):
        _nan_text(df, c, problems)
    values = {
        c: check_numbers(df, c, problems, positive=True) for c in ("ctdivol_mgy", "dlp_mgycm")
    }
    if problems:
        lines = _file_lines(path) if path is not None else None
        shown = [
            (row_text(r, lines).removeprefix("row "), c, v, why)
            for r, c, v, why in sorted(problems, key=lambda p: (p[0], p[1], str(p[3])))
        ]
        raise table_error(where, "DRL table", shown)
    out = pl.DataFrame(
        {
            "exam_type": key,
            "description": text_column(df, "description"),
            "body_region": region,
            "ctdivol_mgy": pl.Series(values["ctdivol_mgy"]).fill_nan(None),
            "dlp_mgycm": pl.Series(values["dlp_mgycm"]).fill_nan(None),
        }
    )
    if "source" in df.columns:
        out = out.with_columns(source=text_column(df, "source"))
    return out


@cache
def _drl(name: str) -> tuple[dict[str, str], pl.DataFrame]:
    available = data_names("drl_")
    if name not in available:
        raise ParameterError(
            f"unknown DRL set {name!r}; available: {', '.join(available)}, or pass your own "
            "DRL table (a CSV path or a data frame, see recurct.dose.drl_table)"
        )
    meta, df = read_data_file(f"drl_{name}.csv")
    return meta, _build_drl({"where": f"drl_{name}.csv", **meta}, df)


def _as_drl(spec: Any) -> tuple[str, dict[str, str], pl.DataFrame]:
    """``(name, meta, levels)`` of a shipped DRL set or of the user's table."""
    if is_shipped_name(spec, "drl_"):
        meta, levels = _drl(spec)
        return spec, meta, levels
    name, meta, df = user_table(spec, "drl_", "DRL table")
    path = Path(spec) if isinstance(spec, (str, os.PathLike)) else None
    return name, meta, _build_drl(meta, df, path)


def drl_tables() -> pl.DataFrame:
    """The diagnostic reference level sets shipped with recurct.

    Returns
    -------
    polars.DataFrame
        One row per shipped set (``"arpansa_adult"``, the first, 2012 edition of the
        Australian adult CT DRLs; ``"arpansa_adult_2018"``, their 2018 update, three of
        whose levels ARPANSA replaced in March 2021: see its ``notes``; ``"uk2022"``, selected
        indications of the UK adult CT DRLs):
        ``name``, ``title``, ``citation``, ``keyed_by``, ``notes`` and ``age_from_years`` (the
        youngest age the set applies to, as its source states it; null where the set states
        none: then :func:`compare_to_drl` does not filter by age). Read one with
        :func:`drl_table`.
    """
    rows = []
    for n in data_names("drl_"):
        meta, _ = _drl(n)
        rows.append({k: meta.get(k, "") for k in ("name", "title", "citation", "keyed_by")})
        rows[-1]["notes"] = meta.get("notes", "")
        rows[-1]["age_from_years"] = _age_from(meta)
    return pl.DataFrame(rows, schema_overrides={"age_from_years": pl.Float64})


def _age_from(meta: dict[str, str]) -> float | None:
    """The youngest age (years) a DRL set applies to (header ``# age_from_years: 15``)."""
    text = meta.get("age_from_years", "").strip()
    if not text:
        return None
    try:
        age = float(text)
    except ValueError:
        age = float("nan")
    if not 0 <= age <= 130:
        raise DataError(
            f"{meta.get('where', 'DRL table')}: age_from_years must be an age in years "
            f"(0-130), got {text!r}"
        )
    return age


def drl_table(name: str | os.PathLike[str] | Any) -> pl.DataFrame:
    """One set of diagnostic reference levels: a shipped one, or your table, validated.

    Parameters
    ----------
    name : str, path or data frame
        A shipped DRL set (``"uk2022"``, ``"arpansa_adult"``, ``"arpansa_adult_2018"``; see
        :func:`drl_tables`), or your own DRL table: a CSV file (optionally starting with
        ``# key: value`` lines such as ``# citation: ...`` or ``# age_from_years: 15``, the
        youngest age the levels apply to) or a polars / pandas / pyarrow frame with
        ``exam_type`` (the key, unique), ``ctdivol_mgy`` and/or ``dlp_mgycm`` (finite, > 0;
        empty where no DRL is set: an empty cell, or null or NaN in a frame; the text ``NaN``
        is refused) and optionally ``description``, ``body_region`` (the canonical region
        that maps to the exam type, at most one exam type per region), ``source`` and
        ``note``.

    Returns
    -------
    polars.DataFrame
        ``exam_type``, ``description``, ``body_region`` (null where the set is not by
        region), ``ctdivol_mgy`` and ``dlp_mgycm`` (null where the source sets no DRL), and
        ``source`` where your table has one.

    Raises
    ------
    ValueError
        For your table: naming the row (0-based; for a CSV file also its line, ``row 2
        (line 4 of the file)``) and column of every problem (a missing or repeated exam type,
        a region that is not canonical or mapped twice, a level that is not a finite number
        > 0, the text ``NaN``) or the columns that are missing or unknown.

    Examples
    --------
    >>> import polars as pl
    >>> mine = pl.DataFrame({"exam_type": ["head"], "body_region": ["head"], "dlp_mgycm": [800]})
    >>> drl_table(mine)["dlp_mgycm"].to_list()
    [800.0]
    """
    if name is None:
        raise ParameterError(
            "drl_table needs a set name or a table; list the sets with drl_tables()"
        )
    return _as_drl(name)[2].clone()


# the quantities compared: (name in the output, column, label in messages)
_QUANTITIES = (("ctdivol", "ctdivol_mgy", "CTDIvol"), ("dlp", "dlp_mgycm", "DLP"))

ADDED_COLUMNS: tuple[str, ...] = (
    "drl_ctdivol_mgy",
    "drl_dlp_mgycm",
    "above_drl_ctdivol",
    "above_drl_dlp",
)
"""The columns :func:`flag_above_drl` adds. In an input table (from an earlier
:func:`flag_above_drl`) they are replaced by those of the DRL set asked for, never used."""

EVENT_COLUMNS: tuple[str, ...] = ("event_uid",)
"""Columns of a per-event table (``read_rdsr(...).events``): DRLs are compared per exam, so a
table with one of them is refused."""

_SUMMARY_COLUMNS: tuple[str, ...] = (
    "exam_type",
    "n_exams",
    *(f"{s}_{q}" for q in ("ctdivol", "dlp") for s in ("n", "median", "drl", "ratio")),
    *(f"{s}_{q}" for q in ("ctdivol", "dlp") for s in ("n_above", "share_above")),
)


@dataclass
class _LeftOut:
    """What a DRL comparison left out: exams (by reason, with a few of their keys) and
    values (by reason), and notes; :meth:`warn` gives one warning with these counts."""

    exams: dict[str, list[Any]] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # left out as documented (no exam type; a region without a level): counted in the warning,
    # and a warning of their own only when no exam at all is compared
    quiet: dict[str, list[Any]] = field(default_factory=dict)

    def exam(self, reason: str, keys: pl.Series, *, quiet: bool = False) -> None:
        if keys.len():
            shown = keys.cast(pl.Utf8).unique(maintain_order=True).head(5).to_list()
            (self.quiet if quiet else self.exams)[reason] = [keys.len(), shown]

    def warn(self, fn: str, drl: str, compared: int) -> None:
        parts = []
        if self.exams:
            n = sum(c for c, _ in self.exams.values())
            why = ", ".join(f"{c} {r} {shown}" for r, (c, shown) in self.exams.items())
            parts.append(f"left {n} exam(s) out of the comparison with DRL set {drl!r} ({why})")
        if self.values:
            n = sum(self.values.values())
            why = ", ".join(f"{c} {r}" for r, c in self.values.items())
            parts.append(f"left {n} value(s) out as no value ({why})")
        parts += self.notes
        if self.quiet and (parts or compared == 0):
            n = sum(c for c, _ in self.quiet.values())
            why = ", ".join(f"{c} {r} {shown}" for r, (c, shown) in self.quiet.items())
            parts.append(
                f"{'also ' if parts else ''}did not compare {n} exam(s) that DRL set {drl!r} "
                f"has no level for, as documented ({why})"
                + ("; no exam was compared" if compared == 0 else "")
            )
        if parts:
            warnings.warn(
                f"{fn} {'; '.join(parts)}", DroppedRowsWarning, stacklevel=user_stacklevel()
            )


def _as_text(s: pl.Series, numbers: bool = False) -> pl.Series:
    """A column as text; an Object column (Python objects: ``300.0``, ``Decimal``, text) by
    :func:`recurct._frames.objects_as_text`, missing values null; ``numbers`` (a dose or
    age): a Python number as text read as that number whatever the column's text cells
    show of their decimal mark (``300.125`` beside ``"250,5"`` is 300.125)."""
    if s.dtype == pl.Object:
        return objects_as_text(s.to_list(), s.name, numbers)
    return s.cast(pl.Utf8, strict=False)


#: The reason of a value whose decimal mark is ambiguous (``"1,234"`` in a column whose
#: other cells do not show the mark): :func:`recurct.validate`'s words and remedy.
AMBIGUOUS_REASON = ambiguous_reason(DECIMAL_REMEDY["validate"])


def _private(df: pl.DataFrame) -> str:
    """A prefix for working columns that no column of the table starts with."""
    prefix = "__recurct_"
    while any(c.startswith(prefix) for c in df.columns):
        prefix = "_" + prefix
    return prefix


def _not_events(df: pl.DataFrame, fn: str) -> None:
    """Refuse a per-event table: DLP DRLs are per complete exam."""
    found = [c for c in EVENT_COLUMNS if c in df.columns]
    if found:
        raise DataError(
            f"{fn}: the table has column {found[0]!r}, so it holds irradiation events (one row "
            "per acquisition, localizers included: read_rdsr(...).events), not exams. DRLs are "
            "compared per exam (the DLP DRL is for the complete examination): pass the exam "
            "table, read_rdsr(...).exams, or your own table without an event column"
        )


def _attach_drl(
    df: pl.DataFrame,
    drl: Any,
    exam_type_column: str,
    region_column: str,
    strict: bool,
    left: _LeftOut,
    p: str,
    fn: str,
) -> tuple[pl.DataFrame, str]:
    """Add ``{p}exam_type`` (the key compared, null where the exam is left out),
    ``drl_ctdivol_mgy`` and ``drl_dlp_mgycm``; check the keys and ages.

    Returns ``(df, the DRL set's name)``. ``df`` must not hold the DRL columns (the callers
    drop :data:`ADDED_COLUMNS`). Keys that are not the set's (an exam type not in it; a
    region that is not canonical) are an error (``strict``, naming the rows) or counted in
    ``left``; a null key or a canonical region without a DRL is left out as documented and
    counted; an exam younger than the set's ``age_from_years`` (where the set states one and
    the table has ``age_years``) is left out and counted.
    """
    drl, meta, levels = _as_drl(drl)
    by_region = levels["body_region"].null_count() < levels.height
    known = levels["exam_type"].to_list()
    if exam_type_column in df.columns:
        given = _as_text(df[exam_type_column])
        key, source = given, exam_type_column
        all_null = df.height > 0 and given.null_count() == df.height
        if all_null and by_region and region_column in df.columns:
            left.notes.append(
                f"column {exam_type_column!r} is entirely null, so no exam was matched (by "
                f"exam type; {region_column!r} is used only without an {exam_type_column!r} "
                "column: drop it to match by region)"
            )
    elif by_region and region_column in df.columns:
        pairs = levels.filter(pl.col("body_region").is_not_null())
        mapping = dict(zip(pairs["body_region"].to_list(), pairs["exam_type"].to_list()))
        given = _as_text(df[region_column])
        key = given.replace_strict(mapping, default=None, return_dtype=pl.Utf8)
        source = region_column
    else:
        raise ParameterError(
            f"{fn} needs a column {exam_type_column!r} holding the DRL set's exam "
            f"types ({', '.join(known)}; see recurct.dose.drl_table({drl!r}))"
            + (f" or a {region_column!r} column" if by_region else "")
            + f". DRL set {drl!r} is keyed by "
            + ("body region" if by_region else "clinical indication")
            + "."
        )
    if source == exam_type_column:
        valid = known
        what, hint = f"exam type not in DRL set {drl!r}", f"valid keys: {sorted(known)}"
    else:
        valid = list(BODY_REGIONS)
        what = "body region that is not canonical"
        hint = "map free text with recurct.dose.normalise_region first"
    a = "an" if what[0] == "e" else "a"
    bad = (given.is_not_null() & ~given.is_in(valid)).to_numpy()
    if bad.any():
        unknown = given.filter(pl.Series(bad))
        if strict:
            vals = unknown.unique(maintain_order=True).head(10).to_list()
            raise DataError(
                f"{unknown.len()} row(s) have {a} {what} (column {source!r}): {vals} "
                f"({rows_text(np.flatnonzero(bad).tolist())}); {hint} "
                f"(recurct.dose.drl_table({drl!r})). "
                "Pass strict=False to leave them out."
            )
        left.exam(f"with {a} {what}", unknown)
    key = key.set(pl.Series(bad), None) if bad.any() else key
    no_key = given.is_null()
    nothing = pl.Series([None] * int(no_key.sum()), dtype=pl.Utf8)
    by = "exam type" if source == exam_type_column else "body region"
    left.exam(f"with no {by}", nothing, quiet=True)
    no_level = given.filter(given.is_not_null() & pl.Series(~bad) & key.is_null())
    left.exam(f"with a {source} that DRL set {drl!r} has no level for", no_level, quiet=True)
    key = _by_age(df, key, meta, drl, left, fn)
    ctdivol = dict(zip(known, levels["ctdivol_mgy"].to_list()))
    dlp = dict(zip(known, levels["dlp_mgycm"].to_list()))
    df = df.with_columns(
        key.alias(f"{p}exam_type"),
        key.replace_strict(ctdivol, default=None, return_dtype=pl.Float64).alias("drl_ctdivol_mgy"),
        key.replace_strict(dlp, default=None, return_dtype=pl.Float64).alias("drl_dlp_mgycm"),
    )
    return df, drl


def _by_age(
    df: pl.DataFrame, key: pl.Series, meta: dict[str, str], drl: str, left: _LeftOut, fn: str
) -> pl.Series:
    """The key, null for exams younger than the set's ``age_from_years`` (counted in
    ``left``); exams with no age (null, or a value that is no age) are kept, and said so in
    ``left`` whether or not an exam was young. ``age_years`` is read as
    :func:`recurct.cumulative_dose` reads it (:func:`_exam_ages`)."""
    age_from = _age_from(meta)
    if age_from is None or "age_years" not in df.columns:
        return key
    compared = key.is_not_null().to_numpy()
    age, n_unread, unread = _exam_ages(df["age_years"], compared, fn)
    with np.errstate(invalid="ignore"):
        young = compared & (age < age_from)
    if young.any():
        # each age in full (14.9999999 y, not 15 y: :func:`recurct._frames.param_label`)
        ages = pl.Series([f"{param_label(a)} y" for a in age[young].tolist()], dtype=pl.Utf8)
        why = f"younger than {age_from:g} years (DRL set {drl!r} is for {age_from:g}+)"
        left.exam(why, ages)
    no_age = int((compared & np.isnan(age)).sum())
    if no_age:
        shown = ", ".join(repr(v) for v in unread[:5]) + (", ..." if len(unread) > 5 else "")
        which = (
            f" ({n_unread} of them with a value that is neither a number nor a DICOM age, or "
            f"is outside 0-{_checks.MAX_AGE_YEARS:g} years: {shown})"
            if n_unread
            else ""
        )
        left.notes.append(
            f"kept {no_age} exam(s) with no age_years{which} in the comparison with DRL set "
            f"{drl!r}, which is for ages {age_from:g}+"
        )
    return key.set(pl.Series(young), None) if young.any() else key


def _exam_ages(raw: pl.Series, compared: np.ndarray, fn: str) -> tuple[np.ndarray, int, list[str]]:
    """``age_years`` of the exams compared as :func:`recurct.cumulative_dose` reads it (its
    reader, :func:`recurct.cumulative.read_ages`): numbers as they are (a float32 age as
    written: 12.3); text (or categories) as numbers by the rule of numbers in text, the
    whole column deciding its decimal mark (``"1,5"`` is 1.5), else as DICOM ages
    (``"005Y"``, ``"018M"``); a Python object of an Object column by its text
    (:func:`_as_text`: a Python number as that number). Returns the
    ages (Float64, NaN where none, for every row; only the rows ``compared`` read), and the
    number and first values of those that are no age (neither a number nor a DICOM age, an
    ambiguous number included, or outside 0-130 years: null, as in ``cumulative_dose``;
    reported here in the comparison's words, with no warning of their own).

    Raises
    ------
    DataError
        ``age_years`` of a type that cannot be an age (Boolean, dates, lists...), naming
        the column, as ``cumulative_dose`` does.
    """
    from recurct.cumulative import _check_attributes, read_ages

    s = _as_text(raw, numbers=True) if raw.dtype == pl.Object else raw
    _check_attributes(s.to_frame("age_years"), fn)
    # the ages of the rows compared only: the values that are no age are counted among them
    # (text decides its decimal mark on the whole column, as validate reads it)
    read, n_unread, unread = read_ages(s, compared)
    age = np.full(compared.size, np.nan)
    age[compared] = read.cast(pl.Float64).to_numpy()
    return age, n_unread, unread


def _values(df: pl.DataFrame, fn: str, strict: bool, left: _LeftOut, p: str) -> pl.DataFrame:
    """``{p}ctdivol_mgy`` and ``{p}dlp_mgycm``: the values compared, as Float64.

    Null or NaN is no value (not counted); a value that is negative, infinite or not a
    number (text, or a Python object of an Object column, is read as a number where it is
    one: a Python number as that number, text by the rule of numbers in text) is no value
    either, and on a row compared (one with an exam type of the set) it is an error
    (``strict``) naming the rows and column, or counted in ``left``. A text number whose
    decimal mark is ambiguous (``"1,234"``, the column's other cells not showing the mark)
    is reported in :func:`recurct.validate`'s words (:data:`AMBIGUOUS_REASON`).
    """
    compared = df[f"{p}exam_type"].is_not_null().to_numpy()
    cols, problems = [], []
    for _, col, label in _QUANTITIES:
        if col not in df.columns:
            cols.append(pl.lit(None, pl.Float64).alias(f"{p}{col}"))
            continue
        given = df[col]
        raw = _as_text(given, numbers=True) if given.dtype == pl.Object else given
        v, code = numbers(raw)
        idx = np.flatnonzero((code != NUM_OK) & compared)
        if idx.size:
            # the values as given: an Object column's Python objects, else the cells
            objects = given.to_list() if given.dtype == pl.Object else None
            shown = raw.gather(idx).cast(pl.Utf8, strict=False).to_list()
            ambiguous = _ambiguous(raw, idx)
            for k, (i, r) in enumerate(zip(idx.tolist(), shown)):
                why = AMBIGUOUS_REASON if ambiguous[k] else NUM_WHAT[int(code[i])].format(label)
                problems.append((i, col, r if objects is None else objects[i], why))
        cols.append(pl.Series(f"{p}{col}", v, dtype=pl.Float64).fill_nan(None))
    if problems and strict:
        problems.sort(key=lambda q: (q[0], q[1]))
        raise DataError(
            f"{fn}: {len(problems)} value(s) cannot be compared with a DRL:\n"
            + listing(problems[:20], len(problems), 20)
            + "\nFix them, or pass strict=False to leave them out (as no value)."
        )
    for _, _, _, why in problems:
        left.values[why] = left.values.get(why, 0) + 1
    return df.with_columns(cols)


def _ambiguous(raw: pl.Series, rows: np.ndarray) -> list[bool]:
    """Whether each of ``rows`` of a value column is a text number whose decimal mark is
    ambiguous (:data:`recurct._casts.AMBIGUOUS_NUMBER`), read as
    :func:`recurct.dose._tables.numbers` reads the column."""
    if not (raw.dtype == pl.Utf8 or isinstance(raw.dtype, pl.Categorical | pl.Enum)):
        return [False] * rows.size
    read = numeric_text(raw).gather(rows)
    return read.str.ends_with(AMBIGUOUS_NUMBER).fill_null(False).to_list()


def _options(fn: str, strict: Any, exam_type: Any, region: Any) -> tuple[bool, str, str]:
    """The options the two DRL comparisons share, checked (``ParameterError`` naming them)."""
    return (
        _checks.flag(strict, fn, "strict"),
        _checks.column_name(exam_type, fn, "exam_type_column"),
        _checks.column_name(region, fn, "region_column"),
    )


def _warn_replaced(before: pl.DataFrame, added: pl.DataFrame, drl: str) -> None:
    """Warn naming the columns of an earlier comparison whose values the new one changed."""
    changed = []
    for c in added.columns:
        if c not in before.columns:
            continue
        try:
            same = bool(before[c].cast(added[c].dtype).eq_missing(added[c]).all())
        except pl.exceptions.PolarsError:
            same = False
        if not same:
            changed.append(c)
    if changed:
        warnings.warn(
            f"flag_above_drl replaced the table's column(s) {changed} (from an earlier "
            f"comparison with another DRL set?) by those of DRL set {drl!r}",
            RecurctWarning,
            stacklevel=user_stacklevel(),
        )


def flag_above_drl(
    exams: Any,
    drl: Any = "uk2022",
    *,
    exam_type_column: str = "exam_type",
    region_column: str = "body_region",
    strict: bool = True,
) -> pl.DataFrame | pd.DataFrame:
    """Add per-exam DRL values and flags.

    Adds ``drl_ctdivol_mgy`` and ``drl_dlp_mgycm`` (the DRLs of the exam's type; null where
    the exam is left out, as in :func:`compare_to_drl`, or the source sets none) and
    ``above_drl_ctdivol`` and ``above_drl_dlp`` (Boolean: the exam's value is strictly greater
    than the DRL; null where the value or the DRL is null). Exam types, ages and values are
    handled as in :func:`compare_to_drl`: null or NaN is no value; a negative, infinite or
    non-numeric value is an error (``strict=True``) or no value, counted in a warning
    (``strict=False``).

    A table that already has these four columns (from an earlier ``flag_above_drl``) gets
    them replaced, in place, by those of ``drl``; where that changes their values, a
    :class:`~recurct.errors.RecurctWarning` names them.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        One row per exam (not per irradiation event: a table with ``event_uid`` is refused),
        with ``ctdivol_mgy`` and/or ``dlp_mgycm`` and the exam-type (or region) column.
    drl, exam_type_column, region_column, strict
        As in :func:`compare_to_drl`.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input with the four columns added (or replaced), one row per input row (pandas
        with the input's index).

    Raises
    ------
    ParameterError
        Neither the ``exam_type_column`` nor (for a set keyed by region) the
        ``region_column`` is a column of the table; an unknown DRL set name or a path that
        is not a CSV file; ``strict`` not True or False, or a column option that is not a
        column name.
    DataError
        A per-event table (one with ``event_uid``); a DRL table of yours that cannot be
        read (see :func:`drl_table`); an ``age_years`` column of a type that cannot hold
        ages (Boolean, dates, lists), for a set that states its ages. With ``strict=True``:
        an exam type not in the set (a body region that is not canonical, for a set matched
        by region), or a value that is negative, infinite or not a number on a row
        compared, naming them. (A table with neither ``ctdivol_mgy`` nor ``dlp_mgycm`` is
        not refused here: its flags are null.)

    Warns
    -----
    DroppedRowsWarning
        Counting by reason the exams and values left out, as in :func:`compare_to_drl`.
    RecurctWarning
        Naming the columns of an earlier comparison that were replaced with other values.
    """
    strict, exam_type_column, region_column = _options(
        "flag_above_drl", strict, exam_type_column, region_column
    )
    df, kind = to_polars(exams)
    _not_events(df, "flag_above_drl")
    p = _private(df)
    left = _LeftOut()
    stale = [c for c in ADDED_COLUMNS if c in df.columns]
    work, name = _attach_drl(
        df.drop(stale), drl, exam_type_column, region_column, strict, left, p, "flag_above_drl"
    )
    work = _values(work, "flag_above_drl", strict, left, p)
    left.warn("flag_above_drl", name, int(work[f"{p}exam_type"].is_not_null().sum()))
    added = work.select(
        "drl_ctdivol_mgy",
        "drl_dlp_mgycm",
        *(
            (pl.col(f"{p}{col}") > pl.col(f"drl_{col}")).alias(f"above_drl_{q}")
            for q, col, _ in _QUANTITIES
        ),
    )
    _warn_replaced(df, added, name)
    out = df.with_columns(added.get_columns())
    return from_polars(out, kind, input_index(exams))  # one row per input row: its index


@renamed(by="site")
def compare_to_drl(
    exams: Any,
    drl: Any = "uk2022",
    *,
    exam_type_column: str = "exam_type",
    site: str | None = "facility",
    region_column: str = "body_region",
    strict: bool = True,
) -> pl.DataFrame | pd.DataFrame:
    """Compare typical (median) CTDIvol and DLP per exam type and site with DRLs.

    Exam types are matched by key: the ``exam_type_column`` must hold the DRL set's
    ``exam_type`` values, listed by :func:`drl_table` (UK DRLs are set per clinical indication, so
    the user assigns them, e.g. ``"chest_lung_cancer"``). For sets keyed by region
    (``arpansa_adult``, ``arpansa_adult_2018``), when there is no ``exam_type_column`` the
    canonical ``body_region`` is mapped instead (``head`` -> ``head``, ...; canonical regions
    without a DRL, such as ``spine``, are left out); an ``exam_type_column`` that is there but
    entirely null is not replaced by the region (a warning says so). Exams with no exam type
    (null, or a canonical region without a DRL) are left out. An exam type that is not a key of
    the set, or (matching by region) a region that is not canonical (``"Head"``, ``"chest "``:
    map free text with :func:`normalise_region`), is an error naming its rows
    (``strict=True``) or left out (``strict=False``).

    Ages: where the DRL set states the ages it applies to (``age_from_years`` in
    :func:`drl_tables`: 15 for the ARPANSA adult sets) and the table has ``age_years``, exams
    younger are left out. ``age_years`` is read as :func:`recurct.cumulative_dose` reads it:
    numbers, or text holding numbers (read as :func:`recurct.validate` reads them, the
    column deciding its decimal mark: ``"1,5"`` is 1.5) or DICOM ages (``"005Y"``,
    ``"018M"``), a Python number of an Object column as that number; exams with no age
    (null, or a value that is neither, an ambiguous number such as ``"1.234"`` included, or
    is outside 0-130 years) are kept, and the warning counts them, as it shows the ages of
    the exams left out (in full: ``14.9999999 y``). Where the set states none
    (``uk2022``), recurct does not filter by age (nor read ``age_years``): leave children
    out yourself.

    Values: null (or NaN) is no value, as in ``n_q`` below. Text is read as a number where
    it is one (``"790"``), as :func:`recurct.validate` reads it: the column's text cells
    decide its decimal mark (``"790,5"`` is 790.5), and a number whose mark they leave
    ambiguous (``"1,234"`` beside ``"800"``) is no number, reported in ``validate``'s words.
    A Python number of an Object column (a pandas ``object`` column of numbers and text, as
    ``pd.read_excel`` gives for number cells beside text cells) is read as that number,
    whatever the text cells show of their decimal mark (``300.125`` beside ``"250,5"`` is
    300.125); a bool is not a number. A value that is negative, infinite or not a number is
    not a value either: with ``strict=True`` an error naming its rows and column (quoting the
    value as given), with ``strict=False`` left out.

    No minimum number of exams is applied: ``median_q`` and ``ratio_q`` are given for any
    ``n_q`` of 1 or more, a single exam's value included. Filter the result on ``n_q`` for
    the smallest sample your audit protocol accepts.

    Exams and values left out are counted by reason in one
    :class:`~recurct.errors.DroppedRowsWarning`: always for the errors left out with
    ``strict=False`` and for exams left out by age; exams without an exam type or a level (as
    documented above) are counted in it, and warned about on their own only when no exam at
    all is compared. Columns an earlier :func:`flag_above_drl` added (``drl_dlp_mgycm``, ...)
    are not used: the levels always come from ``drl``.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        One row per exam, with ``ctdivol_mgy`` and/or ``dlp_mgycm``, the exam-type (or
        region) column and the ``site`` column. A per-event table (with ``event_uid``:
        ``read_rdsr(...).events``) is refused: DLP DRLs are per complete exam.
    drl : str, path or data frame
        A shipped DRL set (:func:`drl_tables`), or your own DRL table (a CSV path or a frame,
        in the format of :func:`drl_table`): a national or local set is used exactly like a
        shipped one.
    exam_type_column, region_column : str
        See above.
    site : str or None
        The column naming the site (facility) whose exams are compared (default
        ``"facility"``); None for one row per exam type over all sites. Not a column name of
        the result (``exam_type``, ``n_exams``, ...).
    strict : bool
        See above.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per exam type and site, sorted by them: ``exam_type``, the ``site``
        column, ``n_exams``, and for each quantity q in (``ctdivol``, ``dlp``):
        ``n_q`` (exams with a value), ``median_q`` (median of the exams' values, however
        few: see above), ``drl_q`` (the DRL), ``ratio_q`` (median / DRL), ``n_above_q``
        (exams with a value strictly above the DRL) and ``share_above_q`` (``n_above_q /
        n_q``, a fraction).
        Statistics without data (``n_q`` 0) or without a DRL are null. The units are those
        of the input: mGy for CTDIvol, mGy·cm for DLP.

    Raises
    ------
    ParameterError
        Neither the ``exam_type_column`` nor (for a set keyed by region) the
        ``region_column`` is a column of the table; ``site`` not a column of the table, or a
        column name of the result; an unknown DRL set name or a path that is not a CSV file;
        ``strict`` not True or False, or a column option that is not a column name.
    DataError
        A per-event table (one with ``event_uid``); a table with neither a ``ctdivol_mgy``
        nor a ``dlp_mgycm`` column; a DRL table of yours that cannot be read (see
        :func:`drl_table`); an ``age_years`` column of a type that cannot hold ages
        (Boolean, dates, lists), for a set that states its ages. With ``strict=True``: exam
        types not in the set (regions that are not canonical, for a set matched by region),
        or values that are negative, infinite or not a number on rows compared, naming
        them.

    Warns
    -----
    DroppedRowsWarning
        Counting by reason the exams and values left out (see above).
    """
    strict, exam_type_column, region_column = _options(
        "compare_to_drl", strict, exam_type_column, region_column
    )
    df, kind = to_polars(exams)
    if site is not None and not isinstance(site, str):
        raise ParameterError(f"compare_to_drl: site must be one column name or None, got {site!r}")
    by_cols = [] if site is None else [site]
    if site is not None and site not in df.columns:
        raise ParameterError(
            f"compare_to_drl: site column {site!r} not in the table; pass site=None for one "
            "row per exam type"
        )
    if site in _SUMMARY_COLUMNS or site in ADDED_COLUMNS:
        raise ParameterError(
            f"compare_to_drl: site={site!r} is a column name of the comparison itself; rename "
            "the site column (or pass site=None for one row per exam type)"
        )
    _not_events(df, "compare_to_drl")
    if "ctdivol_mgy" not in df.columns and "dlp_mgycm" not in df.columns:
        raise DataError("compare_to_drl needs a ctdivol_mgy or dlp_mgycm column")
    p = _private(df)
    work = df.drop([c for c in ADDED_COLUMNS if c in df.columns])
    if site is not None and work[site].dtype == pl.Object:
        work = work.with_columns(_as_text(work[site]))
    left = _LeftOut()
    flagged, name = _attach_drl(
        work, drl, exam_type_column, region_column, strict, left, p, "compare_to_drl"
    )
    flagged = _values(flagged, "compare_to_drl", strict, left, p)
    flagged = flagged.filter(pl.col(f"{p}exam_type").is_not_null())
    left.warn("compare_to_drl", name, flagged.height)
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("n_exams")]
    for q, col, _ in _QUANTITIES:
        val = pl.col(f"{p}{col}")
        lvl = pl.col(f"drl_{col}").first()
        aggs += [
            val.count().cast(pl.Int64).alias(f"n_{q}"),
            val.median().alias(f"median_{q}"),
            lvl.alias(f"drl_{q}"),
            (val.median() / lvl).alias(f"ratio_{q}"),
            pl.when(lvl.is_not_null() & (val.count() > 0))
            .then((val > lvl).sum().cast(pl.Int64))
            .alias(f"n_above_{q}"),
        ]
    keys = [f"{p}exam_type", *by_cols]
    out = flagged.group_by(keys).agg(aggs).sort(keys, nulls_last=True)
    out = out.rename({f"{p}exam_type": "exam_type"})
    out = out.with_columns(
        (
            pl.col(f"n_above_{q}")
            / pl.when(pl.col(f"n_{q}") > 0).then(pl.col(f"n_{q}")).otherwise(None)
        ).alias(f"share_above_{q}")
        for q in ("ctdivol", "dlp")
    )
    cols = ["exam_type", *by_cols, "n_exams"]
    for q in ("ctdivol", "dlp"):
        cols += [f"n_{q}", f"median_{q}", f"drl_{q}", f"ratio_{q}", f"n_above_{q}"]
        cols.append(f"share_above_{q}")
    return from_polars(out.select(cols), kind)
