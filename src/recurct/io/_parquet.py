"""Parquet folders and patterns: which files are read, their hive partition folders, and the
one message of a file that cannot be read.

Every reader of Parquet paths uses these rules: :func:`recurct.read_exams`, the out-of-core
functions (:mod:`recurct.outofcore`, and :func:`recurct.cumulative_dose` given a path) and the
checks of a path given to them (:func:`recurct._checks.exams_path`), so that a folder is
listed, refused and named the same way whichever reads it.

The rule of a folder (:func:`folder_files`): its files at any depth, sorted as text (the order
in which polars reads a folder or a glob), whose name ends in one of :data:`PARQUET_SUFFIXES`
in any case. Hidden files (``.x.parquet``) and files whose name starts with ``_`` are read
too, as polars reads them from a glob; files of no Parquet ending are never read: Spark's
``_SUCCESS`` marker and ``.crc`` checksums, recurct's ``recurct-manifest.json``, notes. A
recurct output folder found at any depth must match its manifest and hold exams (kind
``synthetic``); a temporary folder of an unfinished run is refused
(:func:`recurct._outdir.check_tree`). A folder of no Parquet file is an
:class:`~recurct.errors.InputNotFoundError` naming the function, the folder and what it holds.

This module imports nothing from the readers (it is imported by :mod:`recurct._checks`).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

import numpy as np
import polars as pl

from recurct._frames import ID_COLUMNS
from recurct._outdir import MANIFEST, check_tree
from recurct.errors import DataError, InputNotFoundError

__all__ = [
    "HIVE_NULL",
    "PARQUET_SUFFIXES",
    "Mismatch",
    "folder_files",
    "listed",
    "partitions",
    "partitions_agree",
    "pattern_files",
    "read_schema",
    "readable",
    "unreadable",
]

PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".parq")
"""File name endings read as Parquet in a folder (compared without case)."""

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""The hive partition folder of a null value (``facility=__HIVE_DEFAULT_PARTITION__``)."""


def unreadable(fn: str, file: str | os.PathLike[str], exc: BaseException) -> DataError:
    """The error of a Parquet ``file`` (or source) that cannot be read: the function ``fn``
    first, then the file, then the reason polars or pyarrow gave."""
    return DataError(f"{fn}: {file}: not a readable Parquet table ({exc})")


def listed(folder: Path) -> list[Path]:
    """The Parquet files below ``folder`` by the rule of this module (see its docstring),
    sorted as text; nothing checked. Listed, not globbed, so that a folder named ``exports
    [2024]`` is read as written."""
    return sorted(
        (f for f in folder.rglob("*") if f.suffix.lower() in PARQUET_SUFFIXES and f.is_file()),
        key=str,
    )


def folder_files(folder: Path, fn: str) -> list[Path]:
    """The Parquet files a reader reads from ``folder`` (:func:`listed`), after checking the
    recurct output folders in it: each must match its manifest (no temporary folder of an
    unfinished run: :func:`recurct._outdir.check_tree`) and hold exams, not another recurct
    result. ``fn`` is the public function reading, named first in every error.

    Raises
    ------
    recurct.errors.InputNotFoundError
        The folder holds no Parquet file (naming what it holds).
    recurct.errors.DataError
        A recurct result other than exams (a patients table) lies in the folder.
    recurct._outdir.IncompleteOutputError
        A recurct output folder does not match its manifest.
    """
    check_tree(folder)
    for manifest in folder.rglob(MANIFEST):
        kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
        if kind != "synthetic":  # the only recurct output that holds exams
            raise DataError(
                f"{fn}: {manifest.parent} holds a recurct {kind!r} result, not exams: move "
                f"it out of {folder}, or give the exam files themselves"
            )
    files = listed(folder)
    if not files:
        others = sorted({f.suffix or f.name for f in folder.rglob("*") if f.is_file()})[:10]
        raise InputNotFoundError(
            f"{fn}: {folder}: folder holds no Parquet files ({', '.join(PARQUET_SUFFIXES)}, "
            f"any case){f'; it holds {others}' if others else ''}"
        )
    return files


def pattern_files(pattern: str) -> list[str]:
    """The files a glob ``pattern`` matches, as polars reads it: ``**`` at any depth, hidden
    files too, sorted as text (polars' order); folders it matches are left out."""
    return [
        m for m in sorted(glob.glob(pattern, recursive=True, include_hidden=True))
        if os.path.isfile(m)
    ]  # fmt: skip


def read_schema(file: str | os.PathLike[str], fn: str) -> pl.Schema:
    """The schema of one Parquet ``file`` (its footer only), else :func:`unreadable`. The path
    is taken as written: polars reads a path as a glob pattern, so a folder named ``exports
    [2024]`` would match no file (its brackets escaped here; every scan of one file passes
    ``glob=False``)."""
    try:
        return pl.Schema(pl.read_parquet_schema(glob.escape(str(file))))
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise unreadable(fn, file, exc) from exc


def readable(files: Sequence[str | os.PathLike[str]], fn: str) -> None:
    """Each Parquet file readable (its footer and schema), else :func:`unreadable`."""
    for f in files:
        read_schema(f, fn)


def partitions(file: Path, root: Path) -> dict[str, str | None]:
    """Hive partition folders between ``root`` and ``file``: ``facility=A/`` -> {facility: A}
    (names and values percent-decoded; :data:`HIVE_NULL` is None)."""
    out: dict[str, str | None] = {}
    for part in file.relative_to(root).parts[:-1] if file != root else ():
        key, eq, value = part.partition("=")
        if eq and key:
            value = unquote(value)
            out[unquote(key)] = None if value == HIVE_NULL else value
    return out


class Mismatch(NamedTuple):
    """The rows of a file whose partition column (held by the file too) differs from its
    partition folder (:func:`partitions_agree`)."""

    file: Path
    column: str
    """The column, as the file and the folder name it."""
    folder: str | None
    """The folder's value (None: :data:`HIVE_NULL`)."""
    rows: np.ndarray
    """0-based rows of the file, ascending."""


#: (file, column) pairs :func:`partitions_agree` reads in one collect: polars runs
#: each scan on a blocking thread of its own, of which it has 512 (a folder of 1,700 files
#: in one collect warned of a possible deadlock)
_FILES_AT_ONCE = 64


def partitions_agree(
    held: Sequence[tuple[Path, dict[str, str | None], pl.Schema]],
    fn: str,
    *,
    strict: bool = True,
    hint: str = "",
) -> list[Mismatch]:
    """Each file of ``held`` (file, its partition folders, its schema) holds some of its
    partition columns itself, as polars' ``write_parquet(..., partition_by=...)`` writes
    them: accepted where the file's column agrees with its folder on every row (the file's
    value as text is the folder's text, or the folder's text read in the column's dtype is
    the value: ``2.0`` and ``2``; a null under :data:`HIVE_NULL`). Otherwise, with
    ``strict``, a :class:`~recurct.errors.DataError` naming ``fn``, the file, the column,
    the folder and the first row (0-based) where they differ (no identifier quoted; ``hint``
    ends it: what else the caller may do); without,
    the rows where they differ, by file and column (none: an empty list). One read of those
    columns, :data:`_FILES_AT_ONCE` (file, column) pairs at a time; folders without such
    columns cost nothing. A column that cannot be compared (nested) is refused whatever
    ``strict``."""
    checks = []
    where = []
    for f, parts, names in held:
        for k, v in parts.items():
            if k not in names:
                continue
            dtype = names[k]
            if dtype.is_nested() or dtype == pl.Object:
                raise DataError(
                    f"{fn}: {f}: column {k!r} is in the file ({dtype}) and in its partition "
                    f"folder ({k}={v}), which cannot be compared; rename the folders or "
                    "the column"
                )
            c = pl.col(k)
            if v is None:
                agree = c.is_null()
            else:
                agree = c.cast(pl.Utf8) == v
                typed = _folder_value(v, dtype)  # 2.0 and '2', a timestamp written otherwise
                if typed is not None:
                    agree = agree | (c == pl.lit(typed, dtype=dtype))
            differ = (
                pl.scan_parquet(f, glob=False)
                .select(c)
                .with_row_index("row")
                .filter(~agree.fill_null(False))
            )
            checks.append((differ.head(1) if strict else differ).select("row", c.cast(pl.Utf8)))
            where.append((f, k, v))
    if not checks:
        return []
    try:  # (in batches: one collect of thousands of scans exhausts polars' blocking threads)
        found = [
            odd
            for at in range(0, len(checks), _FILES_AT_ONCE)
            for odd in pl.collect_all(checks[at : at + _FILES_AT_ONCE])
        ]
    except Exception as exc:  # polars raises several kinds
        raise DataError(
            f"{fn}: {held[0][0].parent}: the partition columns the files hold could not be "
            f"compared with their folders ({exc}); rename the folders or the columns"
        ) from exc
    out = []
    for (f, k, v), odd in zip(where, found, strict=True):
        if not odd.height:
            continue
        if strict:
            row, value = odd.row(0)
            folder = f"{HIVE_NULL} (null)" if v is None else repr(v)
            held_value = "null" if value is None else repr(value)
            if _identifier(k):  # no raw id beyond the folder's own
                held_value = "another id"
            raise DataError(
                f"{fn}: {f}: column {k!r} is both in the file and in its partition folders, "
                f"which differ: row {row} of the file (0-based) holds {held_value}, its "
                f"folder {folder}; make them agree, or rename the folders or the column{hint}"
            )
        out.append(Mismatch(f, k, v, odd.get_column("row").to_numpy().astype(np.int64)))
    return out


def _identifier(column: str) -> bool:
    """Whether ``column`` holds identifiers, by its name as written (``patient_id``, and a
    vendor's name that :func:`recurct.read_exams` reads as one, ``Patient ID``), whose values
    no message quotes."""
    from recurct.io.exams import VENDOR_COLUMNS, _key  # (only on an error: exams imports us)

    return column in ID_COLUMNS or VENDOR_COLUMNS.get(_key(column)) in ID_COLUMNS


def _folder_value(text: str, dtype: pl.DataType) -> Any:
    """A partition folder's ``text`` read in ``dtype``, a number, a boolean or a date (None
    where it is none, or another dtype): what the file's column may hold for it."""
    s = pl.Series([text.strip()])
    try:
        if isinstance(dtype, pl.Datetime):
            read = s.str.to_datetime(
                time_unit=dtype.time_unit, time_zone=dtype.time_zone, strict=False
            )
        elif dtype == pl.Date:
            read = s.str.to_date(strict=False)
        elif dtype.is_numeric() or dtype == pl.Boolean:
            read = s.cast(dtype, strict=False)
        else:
            return None
    except Exception:  # polars raises several kinds
        return None
    return read[0]
