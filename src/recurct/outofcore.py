"""Cumulative dose for exam tables larger than memory: the exams taken K buckets of patients
at a time.

A national registry's 10^8-10^9 exams do not fit in memory at once, but each patient's exams
do, and the per-patient computation needs nothing else. A source already sorted by
``patient_id`` (as its Parquet statistics show) is read in about K runs of whole row groups,
with no split. Otherwise the exams are split once into K buckets by ranges of the patient id
(quantiles of a sample; a hash of the id for other id types): into pieces held in memory when
the patients table is returned and the split takes at most ``_MEMORY_SPLIT_SHARE`` of the
available memory, else by a streaming polars query that writes a partitioned Parquet dataset
to a temporary folder with bounded memory. Each bucket then goes through the same in-memory
path (:func:`recurct.cumulative.cumulative_dose`, i.e. the numba kernels). Range buckets and
runs come in id order, so their patients tables are concatenated as they are (hash buckets:
then sorted by ``patient_id``).

The result is identical to the in-memory path: every patient lies in exactly one bucket, and
each exam's input row (a global row number written before a split; the run's first row plus
the position within it for a sorted source) restores the input order within each bucket, so
ties in time are broken exactly as in memory.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import as_written
from recurct._compat import renamed
from recurct._exam_arrays import BAD_EXAM_CHECKS
from recurct._frames import (
    OUTSIDE_INT64,
    id_key,
    normalised_ids,
    scientific_ids,
    scientific_ids_text,
    spaced_ids,
)
from recurct._outdir import (
    OutputFolder,
    _input_path,
    check_files,
    check_target,
    output_folder,
    terminate_as_exit,
    writing,
)
from recurct._stacklevel import user_stacklevel
from recurct._validation import place_text, row_text
from recurct.cumulative import USED_COLUMNS
from recurct.errors import (
    DataError,
    IdentifierWarning,
    InputNotFoundError,
    ParameterError,
    UnmappedValuesWarning,
)
from recurct.io._parquet import (
    folder_files,
    listed,
    partitions,
    partitions_agree,
    pattern_files,
    read_schema,
)
from recurct.io.exams import (
    _AS_TEXT,
    FileRows,
    _clash,
    _clashing_pair,
    _joins,
    _kind,
    _reconciled_casts,
    _wide_dates,
    _written_floats,
    parquet_heights,
)
from recurct.schema import ExamValidationError

# at_input_rows, bad_input_rows and chunk_patients are shared with recurct.distributed only
__all__ = [
    "cumulative_dose_chunked",
    "scan_exams",
    "write_patients",
]

_ROW = "__recurct_row"
#: a bucket's exams in input order (without the row number) and their input row numbers
_BucketExams = tuple[pl.DataFrame, np.ndarray]
#: the seconds of each phase, at DEBUG level (benchmarks/bench_scale.py prints them)
_log = logging.getLogger(__name__)
_BUCKET = "__recurct_bucket"
#: Columns the patients table is built from; others are not read from disk.


def scan_exams(source: Any) -> pl.LazyFrame:
    """A lazy scan of an exam source: a LazyFrame, a Parquet file, a folder or a glob.

    Parameters
    ----------
    source
        ``polars.LazyFrame``; a path to a Parquet file; a folder (all ``*.parquet`` below
        it, recursively); or a glob pattern. A folder written by recurct (with a
        ``recurct-manifest.json``, at any depth) must match its manifest, and a temporary
        folder of an unfinished run is refused (:func:`recurct._outdir.check_tree`), so that
        a stale, cut or unfinished part is never read; so must the folder of a file or of
        each file a glob matches (:func:`recurct._outdir.check_files`). A folder is read as
        its ``*.parquet`` files without partition columns, so one that
        :func:`recurct.read_exams` would read differently is refused, as by
        :func:`recurct.cumulative_dose`: a folder holding ``.pq``, ``.parq`` or other-case
        Parquet files (``.PARQUET``), or partition folders (``facility=A/``) of a column
        the patients table uses that the files do not hold themselves (other partition
        columns are not read). A folder written by polars' ``write_parquet(...,
        partition_by=...)``, whose files keep their partition column, is read, each file's
        column checked against its folder (a ``DataError`` naming the file, the column and
        a row where they differ). A glob reads no partition column either (polars reads
        none from a glob): the partition folders of its files below the folder above its
        first wildcard (``data/**/*.parquet``: below ``data``) are checked as a folder's
        are, so that a glob never drops a used column nor reads a row that disagrees with
        its folder where the folder would be refused.

    Returns
    -------
    polars.LazyFrame
        One scan of all the files when they share one schema. Files whose schemas differ
        are read as :func:`recurct.read_exams` reads them (the same rule, by the same code:
        :func:`_reconciled_schema`): a column missing from a file is null there; a column
        of one kind of value in every file takes the common supertype of its dtypes
        (``Int32`` and ``Float64`` doses as ``Float64``, ``Date`` and ``Datetime`` as
        ``Datetime``); a column of different kinds (numbers, text, ``Boolean``, dates) or
        of differing text dtypes (``Enum`` categories in another order) is text in every
        file, each value as written (``true``, never 1.0); a column of ``Date`` and
        ``Datetime("ns")`` as ``Datetime("us")`` (every date kept). A file of no column
        (``pandas.DataFrame().to_parquet``) holds no exam. Integer ids of any dtype
        (``Int32``, ``UInt64``, ``Int64`` in one file and ``UInt64`` in another) are
        ``Int64``, as :func:`recurct.read_exams` gives them.

    Raises
    ------
    FileNotFoundError
        The path does not exist, a folder holds no Parquet file (of any ending: the rule of
        :func:`recurct.read_exams`, :mod:`recurct.io._parquet`) or a glob matches no file
        (:class:`recurct.errors.InputNotFoundError`).
    recurct.errors.ParameterError
        A folder whose Parquet files other than ``*.parquet`` would be left out, or a
        folder or glob whose partition folders hold a used column its files lack (see
        ``source``), naming the files or columns; pass ``recurct.read_exams(folder).exams``
        instead.
    recurct.errors.DataError
        A file is not a readable Parquet table (naming the function, then the file, then
        the reason); a file's partition column differs from its folder (naming the file, the
        column and the row); or the files' dtypes of a column
        cannot be reconciled (no common type; a nested or binary column among other kinds),
        or ``exam_date`` or ``effective_dose_msv`` holds different kinds of value in
        different files (text, ``Boolean`` or a struct in some, numbers or dates in others:
        :func:`recurct.read_exams` validates and parses such text; this scan does not),
        naming the source, the column and two files with their dtypes; a ``UInt64`` id
        above 2^63 - 1, naming its file and row.
    recurct._outdir.IncompleteOutputError
        A recurct output folder does not match its manifest.
    TypeError
        ``source`` is none of the above.
    """
    return _scan_exams(source, "scan_exams")


def _scan_exams(source: Any, fn: str) -> pl.LazyFrame:
    """:func:`scan_exams`, its errors naming the public function ``fn`` that was called."""
    if isinstance(source, pl.LazyFrame):
        return source
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            # the files read_exams(folder) reads (sorted as text), by the one rule
            files = folder_files(path, fn)
            # every one of them read, every used column kept, or an error
            _read_whole(path, files, fn)
            # literal paths, not a glob pattern, so that a folder named "exports [2024]" is read
            lf = pl.scan_parquet(files, hive_partitioning=False, glob=False)
            return _scan_files(source, lf, fn)
        if path.exists() or any(ch in str(source) for ch in "*?["):
            matches = [str(path)] if path.exists() else pattern_files(str(source))
            if not matches:
                raise InputNotFoundError(f"{fn}: {path}: no file matches this pattern")
            check_files(matches)
            if not path.exists():  # a glob: its partition folders as a folder's
                _partitions_read(_input_path(source), [Path(m) for m in matches], fn, source)
            lf = pl.scan_parquet(str(source), glob=not path.exists())  # (a file: no pattern)
            return _scan_files(source, lf, fn)
        raise InputNotFoundError(f"{fn}: {path}: no such file or folder")
    raise ParameterError(
        f"expected a polars LazyFrame or a path to Parquet data, got {type(source).__name__}"
    )


def _read_whole(folder: Path, files: list[Path], fn: str) -> None:
    """Out of core, a folder is read as its ``*.parquet`` files (of ``files``, the folder's
    Parquet files by the rule of every reader, :func:`recurct.io._parquet.folder_files`),
    without partition columns: refuse one where that would leave exams out (``.pq``,
    ``.PARQUET`` files) or drop a column the patients table uses (a partition folder such
    as ``facility=A/`` of a column the files lack, :func:`_partitions_read`).

    Only ``*.parquet`` is read out of core, where :func:`recurct.read_exams` reads every
    ending of ``PARQUET_SUFFIXES``: that is the documented contract of the out-of-core
    functions (the other endings refused, never skipped); widening it would be a change of
    behaviour of its own, not of the listing."""
    skipped = [f for f in files if f.suffix != ".parquet"]
    if skipped:
        raise ParameterError(
            f"{fn}: {folder}: its files {[str(f) for f in skipped[:3]]} would be left out "
            f"(only *.parquet); {_READ_INSTEAD}"
        )
    _partitions_read(folder, files, fn)


#: what to do with a folder that out of core would not read whole
_READ_INSTEAD = (
    "pass recurct.read_exams(folder).exams instead (any Parquet extension, partitions kept "
    "as columns; read into memory)"
)


def _partitions_read(folder: Path, files: Sequence[Path], fn: str, source: Any = None) -> None:
    """The partition folders (``facility=A/``) between ``folder`` and each of ``files``
    (a folder's files, or those a glob ``source`` matches below the folder above its first
    wildcard), which polars does not read as columns, neither of a folder's list of files
    nor of a glob: refuse them where a column the patients table uses would be dropped (the
    files lack it); a file's own partition column is read, refused where its folder says
    otherwise (:func:`recurct.io._parquet.partitions_agree`; there is no ``strict=False``
    out of core). A glob is checked as the folder of its matches is: never a column dropped
    or a row read otherwise silently."""
    keys: set[str] = set()  # partition columns some file does not hold itself
    held = []  # files holding their partition columns (polars' partition_by): checked below
    for f in files:
        parts = partitions(f, folder)
        if not parts:
            continue
        names = read_schema(f, fn)
        keys |= {k for k in parts if k not in names}
        if any(k in names for k in parts):
            held.append((f, parts, names))
    lost = sorted(keys & set(USED_COLUMNS))
    if lost:
        which = folder if source is None else f"{source} (below {folder})"
        raise ParameterError(
            f"{fn}: {which}: its partition folders hold the column(s) {lost}, which would "
            f"be dropped; {_READ_INSTEAD}"
        )
    if held:  # the file's own column is read: refused where its folder says otherwise
        partitions_agree(held, fn)


#: columns the engine needs as numbers or dates: files holding them as different kinds of
#: value (text in one, numbers in another) are refused, though polars finds a common
#: supertype (text, a struct), which the engine would refuse with less to go on
_NOT_TEXT = ("exam_date", "effective_dose_msv")


def _scan_files(source: Any, fast: pl.LazyFrame, fn: str = "scan_exams") -> pl.LazyFrame:
    """``fast`` (one scan of all the files of ``source``) when the files share one schema
    (only their footers are read to check); else one scan per file, each with the columns
    of all the files in the dtypes they are reconciled to (:func:`_reconciled_schema`),
    concatenated in the order polars reads the files. A file of no column (e.g. written by
    ``pandas.DataFrame().to_parquet``) holds no exam and is left out, as
    :func:`recurct.read_exams` reads it. Integer ids are read as ``Int64``, as
    :func:`recurct.read_exams` gives them (:func:`_int64_ids`)."""
    files = _parquet_files(source)
    schemas = [read_schema(f, fn) for f in files]
    used = [i for i, s in enumerate(schemas) if s]
    if used and len(used) < len(files):  # files of no column: left out (one scan each)
        lf = _per_file(source, [files[i] for i in used], [schemas[i] for i in used])
    elif len(files) < 2 or all(s == schemas[0] for s in schemas[1:]):
        lf = fast
    else:
        lf = _per_file(source, files, schemas)
    return _int64_ids(source, lf, files, schemas, fn)


def _per_file(source: Any, files: list[str], schemas: list[dict[str, pl.DataType]]) -> pl.LazyFrame:
    """One scan per file in the columns and dtypes of :func:`_reconciled_schema`,
    concatenated in the order of ``files``."""
    target = _reconciled_schema(files, schemas, str(source))
    return pl.concat(
        [
            _conformed(pl.scan_parquet(f, glob=False), s, target)
            for f, s in zip(files, schemas, strict=True)
        ],
        how="vertical",
        rechunk=False,
    )


_INT64 = np.iinfo(np.int64)


def _int64_ids(
    source: Any,
    lf: pl.LazyFrame,
    files: list[str],
    schemas: list[dict[str, pl.DataType]],
    fn: str = "scan_exams",
) -> pl.LazyFrame:
    """``lf`` with integer ids (``Int32``, ``UInt64``; the ``Int128`` that ``Int64`` and
    ``UInt64`` files join to) as ``Int64``, the dtype :func:`recurct.read_exams` gives them
    and that pyarrow, pandas and Dask read. An id outside the ``Int64`` range raises the
    :class:`DataError` of the in-memory path, naming ``fn``, the file and its row there.
    Only the footers of ``UInt64`` (or ``Int128``) files are read on clean input (the
    largest id of each row group, :func:`_ids_may_overflow`); the ids of a file are read
    only where a footer shows an id beyond the range or has no statistics, and the files'
    rows are counted only to name the row of an error."""
    dtype = lf.collect_schema().get("patient_id")
    if dtype is None or not dtype.is_integer() or dtype == pl.Int64:
        return lf
    ids = pl.col("patient_id")
    out = ~ids.is_between(_INT64.min, _INT64.max)  # (null: not out)
    for f, s in zip(files, schemas, strict=True):
        if s.get("patient_id") not in (pl.UInt64, pl.Int128) or not _ids_may_overflow(f):
            continue
        col = pl.scan_parquet(f, glob=False).select("patient_id").collect().to_series()
        bad = col.to_frame().select(out.fill_null(False)).to_series()
        if not bad.any():
            continue
        row = int(bad.arg_max())  # type: ignore[arg-type]
        used = [(g, h) for g, h in zip(files, schemas, strict=True) if h]  # as lf reads
        places = FileRows([_relative(source, g) for g, _ in used], files=[g for g, _ in used])
        start = int(places.starts[[g for g, _ in used].index(f)])
        raise DataError(
            f"{fn}: {source}: column 'patient_id': {row_text(start + row, places)} holds "
            f"{col[row]}, {OUTSIDE_INT64}"
        )
    return lf.with_columns(ids.cast(pl.Int64))


def _ids_may_overflow(file: str) -> bool:
    """Whether the Parquet ``file`` may hold a ``patient_id`` outside the ``Int64`` range:
    some row group's statistics say so, or are missing (or unreadable: an ``Int128``
    column, which pyarrow does not read); only the footer is read."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(file).metadata
        col = meta.schema.names.index("patient_id")
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            stats = group.column(col).statistics
            if group.num_rows == 0 or (
                stats is not None and not stats.has_min_max and stats.null_count == group.num_rows
            ):
                continue  # no id, or only nulls
            if stats is None or not stats.has_min_max:
                return True
            lo, hi = stats.min, stats.max
            if not isinstance(lo, int) or not isinstance(hi, int):
                return True
            if lo < _INT64.min or hi > _INT64.max:
                return True
    except Exception:  # (no footer pyarrow reads: read the ids)
        return True
    return False


def _relative(source: Any, file: str) -> str:
    """``file`` named below the folder of ``source`` (a glob: its folder before the first
    wildcard), as :func:`_file_rows` names it."""
    base = Path(source) if Path(source).is_dir() else next(iter(_source_paths(source)), None)
    try:
        return Path(file).relative_to(base).as_posix() if base else file
    except ValueError:
        return file


def _reconciled_schema(
    files: list[str], schemas: list[dict[str, pl.DataType]], where: str
) -> pl.Schema:
    """The schema the files' columns are read in: all columns in order of first appearance,
    each as :func:`recurct.read_exams` reads it (:func:`recurct.io.exams._reconciled_casts`):
    the supertype of its dtypes where they hold one kind of value (``Int32`` and ``Float64``,
    ``Date`` and ``Datetime``); text where they hold different kinds (numbers, text,
    ``Boolean``, dates) or are text of differing dtypes (``Enum`` categories in another
    order), each file's values cast to text (``true``, ``1970-02-01``), never converted
    (to 1.0, to days). A :class:`DataError` names the column and two files whose dtypes
    cannot be reconciled so (no supertype, another kind among other kinds), or hold different
    kinds of value in a column of :data:`_NOT_TEXT`, which the engine needs as numbers or
    dates and, unlike :func:`recurct.read_exams`, does not parse from text. A column of
    ``Date`` and ``Datetime("ns")`` is read as ``Datetime("us")``, as by
    :func:`recurct.read_exams` (:func:`recurct.io.exams._wide_dates`): every date kept."""
    given = [pl.Schema(s) for s in schemas]
    for col in dict.fromkeys(c for s in given for c in s):
        have = [(i, s[col]) for i, s in enumerate(given) if col in s]
        typed = [h for h in have if h[1] != pl.Null]  # (an all-null column: any kind)
        kinds = [_kind(d) for _, d in typed]
        if col in _NOT_TEXT and len(set(kinds)) > 1:
            other = next(i for i, k in enumerate(kinds) if k != kinds[0])
            what = f"{kinds[0]} in some files, {kinds[other]} in others"
            raise DataError(_clash(where, col, files, typed[0], typed[other], what))
        if not set(kinds) <= set(_AS_TEXT) and not _joins([d for _, d in have]):
            first, other = _clashing_pair(have)
            what = "the dtypes have no common type"
            raise DataError(_clash(where, col, files, first, other, what))
    texts = _reconciled_casts(files, given, where)
    wide = _wide_dates(given)  # Date and Datetime("ns"): Datetime("us"), every date kept
    floats = _written_floats(given)  # 32- and 16-bit floats beside other types: as written
    read = [
        {
            c: pl.String()
            if c in text
            else pl.Float64()
            if c in floats and d in (pl.Float32, pl.Float16)
            else wide[c]
            if c in wide and d != pl.Null
            else d
            for c, d in s.items()
        }
        for s, text in zip(given, texts, strict=True)
    ]
    names = list(dict.fromkeys(c for s in read for c in s))
    # the supertype of each column, now of one kind (as ``concat(how="diagonal_relaxed")``)
    joined = pl.concat([pl.LazyFrame(schema=s) for s in read], how="diagonal_relaxed")
    return joined.select(names).collect_schema()


def _conformed(
    scan: pl.LazyFrame, have: dict[str, pl.DataType], target: dict[str, pl.DataType]
) -> pl.LazyFrame:
    """``scan`` (a file of schema ``have``) with the columns of ``target`` in its order and
    dtypes: cast where they differ, null where the file lacks them."""
    return scan.select(
        (
            pl.col(c)
            if have[c] == d
            else as_written(pl.col(c), have[c])  # a float32 12.3 is 12.3
            if have[c] in (pl.Float32, pl.Float16) and d == pl.Float64
            else pl.col(c).cast(d)
        )
        if c in have
        else pl.lit(None, dtype=d).alias(c)
        for c, d in target.items()
    )


def _source_paths(source: Any) -> list[Path]:
    """The file or folder a path source reads (for a glob: the folder above its first
    wildcard, :func:`recurct._outdir._input_path`, as the output checks read an input);
    none for a LazyFrame."""
    return [_input_path(source)] if isinstance(source, str | Path) else []


#: Most buckets accepted (each is one pass of the in-memory kernels).
MAX_BUCKETS = 1_000_000


def _n_buckets(n_rows: int, rows_per_bucket: int) -> int:
    return max(1, math.ceil(n_rows / rows_per_bucket))


@renamed(out="use recurct.outofcore.write_patients(source, out, ...)")
def cumulative_dose_chunked(
    source: Any,
    thresholds: Sequence[float] | float | None = (100.0,),
    *,
    window_days: Sequence[int] | int | None = None,
    buckets: int | None = None,
    rows_per_bucket: int = 10_000_000,
    tmpdir: str | Path | None = None,
    progress: bool | None = None,
) -> pl.DataFrame:
    """The patients table of a larger-than-memory exam source, bucket by bucket.

    Parameters
    ----------
    source
        A polars LazyFrame, a Parquet file, a folder of Parquet files or a glob (see
        :func:`scan_exams`), with the columns of the canonical exam table.
    thresholds, window_days
        As for :func:`recurct.cumulative_dose`.
    buckets
        Number of patient buckets K. Default: ``ceil(rows / rows_per_bucket)``; with one
        bucket the source is collected and computed in memory directly.
    rows_per_bucket
        Target exams per bucket when ``buckets`` is not given. The in-memory path needs about
        110-130 bytes per exam at its peak (measured), so the default of 10^7 keeps a bucket
        near 1.4 GiB (measured at 10^8 exams: 1.41 GiB with K = 10, 2.59 GiB with K = 5;
        smaller buckets were also no slower, see docs/scaling.md); :func:`write_patients`
        holds one patients table more while it is written (1.57-1.69 GiB with K = 10).
    tmpdir
        Where the temporary partitioned dataset is written (default: the system's temporary
        folder). It is removed afterwards, also on an error, Ctrl-C or SIGTERM. None is
        written when the buckets are held in memory instead: when the used columns take at
        most a quarter of the memory available (integer, date and float columns and the id;
        any other string column sends the split to disk).
    progress
        Show a progress bar over buckets (default: when stderr is a terminal).

    Returns
    -------
    polars.DataFrame
        The patients table, sorted by ``patient_id``; identical to
        ``cumulative_dose(source.collect(), ...)`` (for a LazyFrame source), or to
        ``cumulative_dose`` of the files read into memory, except that from a Parquet
        file, folder or glob integer ids of another dtype (``Int32``, ``UInt64``) come back
        as ``Int64``, as :func:`recurct.read_exams` reads them (:func:`scan_exams`): in
        memory, ``Int32`` ids stay ``Int32``. It is held in memory whole: about 75
        bytes per patient (at 10^8 exams, 5.2x10^7 patients: 4.2-4.6 GiB peak measured,
        docs/scaling.md; with hash buckets, plus one column at the final sort).
        :func:`write_patients` writes it to disk with one bucket in memory at a time.

    Raises
    ------
    recurct.errors.DataError
        Bad exams (a null or too large patient ID, a null date, a null, negative, NaN or
        infinite dose), naming the input's first bad rows (0-based) as in memory, whichever
        buckets they lie in: once a bucket fails, the remaining buckets are read and checked
        for bad exams only, and the error names the smallest input rows (up to ten, with
        their number) of the first kind of problem in the in-memory order (too large ids,
        null ids, null dates, null doses, negative, NaN or infinite doses), in the words of
        the in-memory error. A text or categorical patient ID in scientific
        notation (``1,23457E+11``: possibly several patients) is a null ID, as in memory,
        after the :class:`~recurct.errors.IdentifierWarning` that counts them and names
        the first ten of their input rows (with more than one bucket, for a folder or glob,
        also their files). For a folder or glob of Parquet files each row is also named by
        its file and its own 0-based row there (``rows 8, 12 (...: row 3 of 2020-04.parquet,
        row 1 of 2020-05.parquet)``; the files in the order read, their paths sorted as
        text), whatever ``buckets``; the files' rows are counted (from
        their footers) only then. Files of the source whose dtypes cannot be reconciled
        (:func:`scan_exams`).
    recurct.errors.ParameterError
        A folder that would not be read whole (:func:`scan_exams`: ``.pq``, ``.parq`` or
        ``.PARQUET`` files, partition folders of a used column; a glob whose files lie in
        partition folders of a used column), before any work.
    """
    return _chunked(
        source, thresholds, window_days, buckets, rows_per_bucket, tmpdir, progress,
        "cumulative_dose_chunked",
    )  # fmt: skip


def _chunked(
    source: Any,
    thresholds: Any,
    window_days: Any,
    buckets: int | None = None,
    rows_per_bucket: int = 10_000_000,
    tmpdir: str | Path | None = None,
    progress: bool | None = None,
    fn: str = "cumulative_dose_chunked",
) -> pl.DataFrame:
    """:func:`cumulative_dose_chunked`, its errors naming the public function ``fn`` that
    was called (``cumulative_dose`` for a path or LazyFrame)."""
    progress = _checks.optional_flag(progress, fn, "progress")
    lf, k, params = _plan(source, thresholds, window_days, buckets, rows_per_bucket, fn)
    with terminate_as_exit():
        result = _buckets(source, lf, k, params["exams"], thresholds, window_days, tmpdir,
                          progress, None, fn)  # fmt: skip
    assert result is not None
    return result


def write_patients(
    source: Any,
    out: str | Path,
    thresholds: Sequence[float] | float | None = (100.0,),
    *,
    window_days: Sequence[int] | int | None = None,
    overwrite: bool = False,
    buckets: int | None = None,
    rows_per_bucket: int = 10_000_000,
    tmpdir: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Write the patients table of a larger-than-memory exam source to a folder.

    As :func:`cumulative_dose_chunked`, with memory bounded by one bucket: the table is
    written as one Parquet file per bucket (``part-NNNNN.parquet``, each sorted by
    ``patient_id``; patients do not repeat across files).

    Parameters
    ----------
    source
        As for :func:`cumulative_dose_chunked`.
    out
        The folder to write. It is complete or absent
        (:func:`recurct._outdir.output_folder`): the parts are written into a temporary
        sibling, renamed on success with a manifest (rows, parameters, version) written last;
        an interrupted run leaves no folder and no temporary files.
    thresholds, window_days, buckets, rows_per_bucket, tmpdir, progress
        As for :func:`cumulative_dose_chunked`.
    overwrite
        Replace an existing non-empty folder whole; without it such a folder raises
        :class:`recurct._outdir.OutputExistsError` before any work.

    Returns
    -------
    pathlib.Path
        The folder holding the patients table (read it with ``polars.scan_parquet``).

    Raises
    ------
    recurct.errors.DataError, recurct.errors.ParameterError
        As for :func:`cumulative_dose_chunked`.
    """
    progress = _checks.optional_flag(progress, "write_patients", "progress")
    overwrite = _checks.flag(overwrite, "write_patients", "overwrite")
    _checks.path(out, "write_patients", "out", what="a folder")
    # an unusable out (inside the source, or existing without overwrite) before any reading
    check_target(out, overwrite=overwrite, inputs=_source_paths(source))
    lf, k, params = _plan(
        source, thresholds, window_days, buckets, rows_per_bucket, "write_patients"
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(terminate_as_exit())
        target = stack.enter_context(
            output_folder(
                out,
                overwrite=overwrite,
                kind="patients",
                parameters=params,
                inputs=_source_paths(source),
                fn="write_patients",
            )
        )
        _buckets(source, lf, k, params["exams"], thresholds, window_days, tmpdir, progress,
                 target, "write_patients")  # fmt: skip
    return Path(out)


def _plan(
    source: Any,
    thresholds: Any,
    window_days: Any,
    buckets: int | None,
    rows_per_bucket: int,
    fn: str = "cumulative_dose_chunked",
) -> tuple[pl.LazyFrame, int, dict[str, Any]]:
    """The lazy scan of the used columns, the number of buckets and the manifest parameters."""
    if buckets is not None:
        buckets = _checks.whole(buckets, fn, "buckets", hi=MAX_BUCKETS, what=", or None")
    rows_per_bucket = _checks.whole(rows_per_bucket, fn, "rows_per_bucket", what=" of exams")
    lf = _scan_exams(source, fn)
    names = lf.collect_schema().names()
    lf = lf.select([c for c in USED_COLUMNS if c in names])
    n_rows = _count(lf)
    k = buckets if buckets is not None else _n_buckets(n_rows, rows_per_bucket)
    if k < 1:
        raise ParameterError(f"buckets must be >= 1, got {k}")
    params = {"thresholds": thresholds, "window_days": window_days, "buckets": k, "exams": n_rows}
    return lf, k, params


def _count(lf: pl.LazyFrame, n_rows: int | None = None) -> int:
    """The rows of ``lf``: ``n_rows`` when the caller counted them already (:func:`_plan`)."""
    return lf.select(pl.len()).collect().item() if n_rows is None else n_rows


def _buckets(
    source: Any,
    lf: pl.LazyFrame,
    k: int,
    n_rows: int,
    thresholds: Any,
    window_days: Any,
    tmpdir: str | Path | None,
    progress: bool | None,
    target: Any,
    fn: str = "cumulative_dose_chunked",
) -> pl.DataFrame | None:
    """The patients table of ``lf`` in ``k`` buckets (returned, or written to ``target``),
    its errors naming the public function ``fn`` that was called."""
    from recurct.cumulative import patients_table

    places = functools.partial(_file_rows, source, n_rows)  # only called on an error
    if k == 1 or n_rows == 0:  # no exams: no bucket to split into; the empty table
        exams = lf.collect()
        try:
            table = patients_table(exams, thresholds, window_days, fn)
        except DataError as exc:
            better = _named_bad_rows(exams, places, fn)
            if better is None:
                raise
            raise better from exc
        del exams
        if target is None:
            return table
        _write_part(table, target, "part-00000.parquet")
        return None

    show = sys.stderr.isatty() if progress is None else progress
    with _timed("clustered"):
        loaders = _clustered_loaders(source, lf, k, n_rows)
    ordered = loaders is not None
    work = None
    try:
        if loaders is None:
            with _timed("bounds"):
                bounds = _range_bounds(lf, k, n_rows)
            ordered = bounds is not None
            # split by the id as the identity rules compare it: " A" and "A" in one bucket
            ids = id_key(lf.collect_schema()["patient_id"])
            if bounds is None:  # an id type whose order we do not split by: hash buckets
                key = ids.hash(seed=0) % k
            else:  # bucket i holds the ids in [bounds[i-1], bounds[i]): buckets in id order
                # (a sum of comparisons streams; search_sorted held 1.6x the memory at 10^7)
                key = pl.sum_horizontal((ids >= b).cast(pl.UInt32) for b in bounds.to_list())
            split = lf.with_row_index(_ROW).with_columns(key.alias(_BUCKET))
            if target is None and _split_fits_in_memory(lf, n_rows):
                with _timed("split-in-memory"):
                    loaders = _split_in_memory(split, k)
            else:
                work = Path(tempfile.mkdtemp(prefix="recurct-buckets-", dir=tmpdir))
                with _timed("split-on-disk"):
                    loaders = _split_on_disk(split, work)
        tables = _run_buckets(loaders, thresholds, window_days, target, show, places, fn)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    if target is not None:
        return None
    with _timed("assemble"):
        columns = pl.concat(tables, how="vertical", rechunk=False).get_columns()
        del tables
        ids = next(c for c in columns if c.name == "patient_id")
        if ordered and ids.is_sorted():
            return pl.DataFrame(columns)  # buckets in id order: already sorted
        del ids
        return _sorted_by_patient(columns)


def _parquet_files(source: Any) -> list[str]:
    """The Parquet files a path source reads, in the order polars reads them (sorted paths:
    a test checks it); none for a LazyFrame."""
    if not isinstance(source, str | Path):
        return []
    path = Path(source)
    if path.is_file():
        return [str(path)]
    if path.is_dir():  # the files the scan reads (checked by _scan_exams), as written
        return [str(f) for f in listed(path)]
    return pattern_files(str(source))  # (as polars reads a pattern: hidden files too)


def _clustered_loaders(
    source: Any, lf: pl.LazyFrame, k: int, n_rows: int | None = None
) -> list[Callable[[], _BucketExams]] | None:
    """Buckets read straight from the source, without a split, when its Parquet statistics
    show it sorted by ``patient_id``: every row group's largest id at most the next one's
    smallest (in the order the files are read), no null id. About ``k`` runs of whole row
    groups, cut only where the ids strictly increase, so that no patient straddles two. None
    (the split is needed) for a LazyFrame, a row group without statistics, a null id, or
    ids out of order. Only the footers are read."""
    import pyarrow.parquet as pq

    groups: list[tuple[str, int, int, Any, Any]] = []  # file, first row, rows, min, max
    try:
        for file in _parquet_files(source):
            meta = pq.ParquetFile(file).metadata
            col = meta.schema.names.index("patient_id")
            start = 0
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                stats = group.column(col).statistics
                if group.num_rows == 0:
                    continue
                if stats is None or not stats.has_min_max or stats.null_count != 0:
                    return None
                groups.append((file, start, group.num_rows, stats.min, stats.max))
                start += group.num_rows
        if not groups or any(a[4] > b[3] for a, b in itertools.pairwise(groups)):
            return None
    except (ValueError, TypeError, OSError):  # no patient_id, ids of mixed types, a bad file
        return None
    total = sum(g[2] for g in groups)
    if total != _count(lf, n_rows):
        return None  # not the files polars reads (a safety net; the counts come from footers)
    if _spaced_text_ids(lf):
        return None  # sorted as written, not as the ids compare once cleaned: split them
    runs: list[list[tuple[str, int, int, Any, Any]]] = [[]]
    sizes = [0]  # exams of each run
    for group in groups:
        if runs[-1] and sizes[-1] >= total / k:
            runs.append([])
            sizes.append(0)
        runs[-1].append(group)
        sizes[-1] += group[2]
    reader = _RunReader(lf.collect_schema())
    offsets = np.cumsum([0, *sizes])
    # the patient whose exams go on into the next run: the largest id of a run if it is the
    # smallest of the next one (the only id two row groups of a sorted source can share)
    straddles = [a[-1][4] if a[-1][4] == b[0][3] else None for a, b in itertools.pairwise(runs)]
    return [
        functools.partial(reader.read, run, int(offsets[i]), straddle)
        for i, (run, straddle) in enumerate(zip(runs, [*straddles, None], strict=True))
    ]


def _spaced_text_ids(lf: pl.LazyFrame) -> bool:
    """Whether some text ``patient_id`` of ``lf`` has surrounding whitespace (one streaming
    pass over the ids; integer ids: none): such ids are sorted by their written form (``" B"``
    before ``"A"``), so the runs of a sorted source would cut the patient ``"B"`` in two."""
    dtype = lf.collect_schema()["patient_id"]
    if not (dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)):
        return False
    return bool(lf.select(spaced_ids().any()).collect(engine="streaming").item())


class _RunReader:
    """Reads the runs of row groups of a source sorted by ``patient_id``, in order. The
    exams of the last patient of a run, who may go on in the next run (a patient straddling
    a row group boundary), are carried over to it, so that no patient is cut in two."""

    def __init__(self, schema: pl.Schema) -> None:
        self.schema = schema  # the columns read, in the dtypes of the scan (reconciled)
        self.carry: _BucketExams | None = None

    def _slice(self, file: str, start: int, rows: int) -> pl.DataFrame:
        """Rows ``start`` to ``start + rows`` of ``file``, in the columns and dtypes of the
        scan (a file of another schema: cast, missing columns null, :func:`_conformed`)."""
        scan = pl.scan_parquet(file, glob=False)
        have = scan.collect_schema()
        if all(have.get(c) == d for c, d in self.schema.items()):
            scan = scan.select(list(self.schema))
        else:
            scan = _conformed(scan, have, self.schema)
        return scan.slice(start, rows).collect()

    def read(
        self, run: list[tuple[str, int, int, Any, Any]], offset: int, straddle: Any
    ) -> _BucketExams:
        """The exams of ``run`` (input rows ``offset`` onwards), after those carried over;
        those of patient ``straddle`` (unless None) are carried over to the next run."""
        spans: list[list[Any]] = []  # file, first row, rows: consecutive groups joined
        for file, start, rows, _, _ in run:
            if spans and spans[-1][0] == file and spans[-1][1] + spans[-1][2] == start:
                spans[-1][2] += rows
            else:
                spans.append([file, start, rows])
        pieces = [self._slice(file, start, rows) for file, start, rows in spans]
        n = sum(piece.height for piece in pieces)
        numbers = [np.arange(offset, offset + n, dtype=np.int64)]
        if self.carry is not None:
            pieces.insert(0, self.carry[0])
            numbers.insert(0, self.carry[1])
        chunk = pl.concat(pieces, how="vertical", rechunk=True)
        rows = np.concatenate(numbers)
        self.carry = None
        if straddle is None:
            return chunk, rows
        # (rows within a row group need not be sorted: a mask, in input order)
        goes_on = chunk.select(pl.col("patient_id") == straddle).to_series().to_numpy()
        self.carry = (chunk.filter(goes_on), rows[goes_on])
        return chunk.filter(~goes_on), rows[~goes_on]


#: the in-memory split is used while the exams it holds (estimated) take at most this share
#: of the memory available when it starts; else the temporary dataset on disk
_MEMORY_SPLIT_SHARE = 0.25
#: estimated bytes per exam of a string id held in memory (data and offset)
_STRING_ID_BYTES = 24


def _split_fits_in_memory(lf: pl.LazyFrame, n_rows: int | None = None) -> bool:
    """Whether the used columns of the source, split into buckets in memory, would take at
    most ``_MEMORY_SPLIT_SHARE`` of the available memory (where the system says; elsewhere, and
    with string columns other than the id, whose size is unknown: no).

    The patients table returned is about as large as these exams (8 bytes a column, 4 for
    the row number; 28 per exam against about 39 per exam of table at 1.9 exams per patient),
    so the split in memory costs no more than the result itself, and it saves the write and
    read of the temporary dataset (at 10^8 exams: 7.0 s instead of 12 s, the same peak).
    """
    available = _available_memory()
    if available is None:
        return False
    schema = lf.collect_schema()
    per_exam = 4
    for name, dtype in schema.items():
        if dtype == pl.String and name == "patient_id":
            per_exam += _STRING_ID_BYTES
        elif dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean:
            per_exam += 8
        else:
            return False
    return _count(lf, n_rows) * per_exam <= _MEMORY_SPLIT_SHARE * available


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux: ``MemAvailable``, which counts the page cache
    that can be dropped; else the free pages); None where the system does not say."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            line = next(x for x in meminfo if x.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _split_in_memory(split: pl.LazyFrame, k: int) -> list[Callable[[], _BucketExams]]:
    """The buckets of ``split`` (a bucket number in ``_BUCKET``) held in memory: one streaming
    pass, each batch cut by bucket (in input order); a loader per bucket joins its pieces
    and lets them go."""
    pieces: list[list[pl.DataFrame]] = [[] for _ in range(k)]
    for batch in split.collect_batches(chunk_size=2_000_000):
        for (i,), part in batch.partition_by(
            _BUCKET, as_dict=True, include_key=False, maintain_order=True
        ).items():
            pieces[int(i)].append(part)

    def load(i: int) -> _BucketExams:
        chunk = pl.concat(pieces[i], how="vertical", rechunk=True)
        pieces[i] = []
        return in_input_order(chunk.drop(_ROW), chunk[_ROW].to_numpy())

    return [functools.partial(load, i) for i in range(k) if pieces[i]]


def _split_on_disk(split: pl.LazyFrame, work: Path) -> list[Callable[[], _BucketExams]]:
    """The buckets of ``split`` written to a temporary partitioned dataset under ``work``
    (bounded memory); a loader per bucket reads it back."""
    (
        # lz4, not the default zstd: at 10^8 exams the split took 4.7 s instead of 11.2 s
        # and the buckets read 4x faster, for 21 % more temporary disk (docs/scaling.md)
        split.sink_parquet(
            pl.PartitionBy(work, key=_BUCKET, include_key=False), mkdir=True, compression="lz4"
        )
    )
    # the folders are named "<key>=<bucket>": in bucket order (by number, not by name)
    parts = sorted(
        (p for p in work.iterdir() if p.is_dir()), key=lambda p: int(p.name.split("=")[-1])
    )
    return [functools.partial(_read_bucket, part) for part in parts]


#: ids sampled per bucket to choose the bucket bounds (quantiles of the sample)
_SAMPLE_PER_BUCKET = 10_000
#: above this many buckets, hash buckets (each exam is compared with every bound)
_MAX_RANGE_BUCKETS = 64


def _range_bounds(lf: pl.LazyFrame, k: int, n_rows: int | None = None) -> pl.Series | None:
    """``k - 1`` bucket bounds of ``patient_id`` (sorted), quantiles of an evenly spaced
    sample of the ids, so that the buckets hold about equal numbers of exams and come in
    ``patient_id`` order: their patients tables then need no final sort. None for an id
    dtype other than integer or string, or over ``_MAX_RANGE_BUCKETS`` buckets (hash
    buckets then; the result is sorted at the end).

    A patient never straddles two buckets whatever the bounds; bounds far off (a skewed
    sample) only make buckets unequal.
    """
    dtype = lf.collect_schema()["patient_id"]
    if k > _MAX_RANGE_BUCKETS or not (dtype.is_integer() or dtype == pl.String):
        return None
    step = max(1, _count(lf, n_rows) // (k * _SAMPLE_PER_BUCKET))
    ids = lf.select(id_key(dtype).gather_every(step)).collect().to_series().drop_nulls().sort()
    if ids.len() == 0:
        return None
    return ids.gather([min(ids.len() - 1, i * ids.len() // k) for i in range(1, k)])


def _read_bucket(part: Path) -> _BucketExams:
    """One bucket of exams, in input order, and its input row numbers."""
    files = listed(part)  # (our own split: no manifest to check, never empty)
    chunk = pl.read_parquet(files, glob=False)  # (literal paths: "out [2]" is no pattern)
    return in_input_order(chunk.drop(_ROW), chunk[_ROW].to_numpy())


def in_input_order(exams: pl.DataFrame, rows: np.ndarray) -> _BucketExams:
    """``exams`` and their input ``rows`` sorted by input row, so that ties in time keep the
    input order as in memory; free (no copy) when they already are, as a streaming sink
    usually leaves them."""
    if rows.size > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        order = np.argsort(rows, kind="stable")
        exams, rows = exams[order], rows[order]
    return exams, rows


def _run_buckets(
    loaders: list[Callable[[], _BucketExams]],
    thresholds: Any,
    window_days: Any,
    target: Any,
    show: bool,
    places: Callable[[], FileRows | None] = lambda: None,
    fn: str = "cumulative_dose_chunked",
) -> list[pl.DataFrame]:
    """The patients tables of the buckets ``loaders`` give, in order: returned, or written to
    ``target`` (``part-NNNNN.parquet``; none returned). Table ``i`` is written in a thread
    while bucket ``i + 1`` is computed (polars and the numba kernels release the GIL), so at
    most one table waits to be written beside the bucket in memory. ``places``: the file
    and row of each input row (:func:`_file_rows`), asked for only when a bucket fails."""
    tables: list[pl.DataFrame] = []
    merged = _MergedWarnings()  # the buckets' warnings, given once each for the whole input
    steps: Any = loaders
    if show:
        from tqdm.auto import tqdm

        steps = tqdm(loaders, desc="patient buckets", unit="bucket")
    with ThreadPoolExecutor(1, thread_name_prefix="recurct-write") as writer:
        written: Future[None] | None = None
        for i, load in enumerate(steps):
            with _timed("read"):
                chunk, rows = load()
            with _timed("compute"):
                try:
                    table = chunk_patients(chunk, rows, fn, thresholds, window_days, merged)
                except DataError as exc:
                    better = None
                    if not isinstance(exc, ExamValidationError):
                        better = _first_bad_rows(chunk, rows, loaders[i + 1 :], places, fn)
                    if better is None:
                        raise
                    raise better from exc
            del chunk, rows
            if target is None:
                tables.append(table)
                continue
            with _timed("wait"):
                if written is not None:
                    written.result()
            written = writer.submit(_write_part, table, target, f"part-{i:05d}.parquet")
            del table
        with _timed("wait"):
            if written is not None:
                written.result()
    merged.emit()
    return tables


def _first_bad_rows(
    chunk: pl.DataFrame,
    rows: np.ndarray,
    rest: list[Callable[[], _BucketExams]],
    places: Callable[[], FileRows | None] = lambda: None,
    fn: str = "cumulative_dose_chunked",
    warn: bool = True,
) -> DataError | None:
    """The error of the input's first bad exams, when bucket ``chunk`` (input ``rows``) has
    failed: the buckets before it passed, so the remaining ones (``rest``) are read and
    checked for bad exams only (:class:`_BadRows`, no computation), and the error names the
    smallest input rows of all of them, as in memory, each with its file and row there
    (``places()``, :func:`_file_rows`). None when the bucket's error is not about bad exams
    (e.g. a column of the wrong dtype: the same in every bucket). With ``warn``, the patient
    ids in scientific notation made missing are first said as in memory, once for the whole
    input (:meth:`_ScientificIds.warning`)."""
    found = _BadRows()
    found.add(chunk, rows)
    if not found:
        return None
    del chunk, rows
    with _timed("check-rest"):
        for load in rest:
            more, more_rows = load()
            found.add(more, more_rows)
            del more, more_rows
    lines = places()
    said = found.scientific.warning(lines) if warn else None
    if said is not None:  # in memory, the identity rules say so before the error
        warnings.warn(said, stacklevel=user_stacklevel())
    return found.error(fn, lines=lines)


def _named_bad_rows(
    exams: pl.DataFrame,
    places: Callable[[], FileRows | None],
    fn: str = "cumulative_dose_chunked",
) -> DataError | None:
    """The error of the bad exams of ``exams`` (the whole input, in one bucket), naming each
    row with its file and its row there, when the input is a folder or glob of Parquet files
    (``places()``, :func:`_file_rows`); None when it is not, or the error is not about bad
    exams (the in-memory error then stands: it names the same rows, without their files).
    The in-memory run has given its warnings (the ids in scientific notation among them)."""
    lines = places()
    if lines is None:
        return None
    all_rows = np.arange(exams.height, dtype=np.int64)
    return _first_bad_rows(exams, all_rows, [], lambda: lines, fn, warn=False)


def _file_rows(source: Any, n_rows: int) -> FileRows | None:
    """The file and its own 0-based row of each input row of a folder or glob of Parquet
    files (:class:`recurct.io.exams.FileRows`, as :func:`recurct.read_exams` names them):
    the files in the order the scan reads them (:func:`_parquet_files`), named by their path
    below the folder (a glob: below its folder before the first wildcard), their rows counted
    from their footers. None for a LazyFrame or a single file, or should the counts not add
    up to the ``n_rows`` read. Called only on an error: a clean input never pays for it."""
    if not isinstance(source, str | Path) or Path(source).is_file():
        return None
    files = _parquet_files(source)
    if not files:
        return None
    try:
        heights = parquet_heights(files)
    except Exception:  # (a file gone or changed since it was read: name no file)
        return None
    if sum(heights) != n_rows:
        return None
    return FileRows([_relative(source, f) for f in files], heights)


@contextlib.contextmanager
def _timed(phase: str) -> Iterator[None]:
    """Log the seconds of ``phase`` at DEBUG level."""
    t0 = time.perf_counter()
    yield
    _log.debug("phase %s %.3f", phase, time.perf_counter() - t0)


def _write_part(table: pl.DataFrame, target: OutputFolder, name: str) -> None:
    """Write one patients table to the file ``name`` of the output folder ``target``; lz4:
    half the time of zstd for 20 % more bytes (docs/scaling.md). A failed write (a full
    disk: polars raises a ``ComputeError``, not an ``OSError``) raises
    :class:`~recurct.errors.IncompleteOutputError` naming the folder and the file
    (:func:`recurct._outdir.writing`)."""
    with _timed("write"), writing(target, name) as path:
        table.write_parquet(path, compression="lz4")


def _sorted_by_patient(columns: list[pl.Series]) -> pl.DataFrame:
    """The table of ``columns`` sorted by ``patient_id`` (unique), gathered one column at a
    time, each source column freed once gathered: the peak is the table plus one column and
    the order (``DataFrame.sort`` holds the table twice; at 10^8 exams the table is ~4 GiB).
    The caller must hold no other reference to the columns."""
    order = next(c for c in columns if c.name == "patient_id").arg_sort()
    columns.reverse()
    out = []
    while columns:
        column = columns.pop()
        out.append(column.gather(order))
        del column
    return pl.DataFrame(out)


_SHOWN = 10


class _MergedWarnings:
    """The warnings of all the chunks of one input (out-of-core buckets, Dask partitions),
    given once per kind by :meth:`emit` with the counts summed, as in memory: the ids with
    surrounding whitespace (their input rows), the unreadable ages (their number and values:
    the warning's ``count`` and ``values``, :func:`recurct.cumulative.unread_ages_warning`);
    any other warning once. Plain data (arrays, numbers, text, warning classes), so that a
    Dask partition returns its record beside its table, from any process, and the client
    merges the records (:meth:`update`) and gives them."""

    def __init__(self) -> None:
        self.spaced: list[np.ndarray] = []
        self.n_ages = 0
        self.age_values: list[str] = []
        #: (category, text) of the other warnings, each once, in the order first given
        self.other: list[tuple[type[Warning], str]] = []

    def __bool__(self) -> bool:
        return bool(self.spaced or self.n_ages or self.other)

    def add(self, w: warnings.WarningMessage, chunk: pl.DataFrame, rows: np.ndarray) -> None:
        """Record warning ``w`` of the chunk ``chunk`` (``rows``: its input rows)."""
        if issubclass(w.category, IdentifierWarning):
            self.spaced.append(_spaced_rows(chunk, rows))
        elif hasattr(w.message, "count") and isinstance(w.message, UnmappedValuesWarning):
            self._ages(w.message.count, w.message.values)
        else:
            self._other((w.category, str(w.message)))

    def _other(self, key: tuple[type[Warning], str]) -> None:
        if key not in self.other:
            self.other.append(key)

    def _ages(self, count: int, values: list[str]) -> None:
        self.n_ages += count
        new = [v for v in values if v not in self.age_values]
        self.age_values = (self.age_values + new)[:6]  # more than 5 are shown as "..."

    def update(self, other: _MergedWarnings) -> None:
        """Add the warnings recorded in ``other`` (another chunk's)."""
        self.spaced += other.spaced
        self._ages(other.n_ages, other.age_values)
        for key in other.other:
            self._other(key)

    def emit(self) -> None:
        """Give the merged warnings at the user's line, whatever thread or process recorded
        them: call it on the thread of the user's call (the out-of-core loop, the Dask
        client), not in a worker, whose stack holds no user line."""
        from recurct.cumulative import unread_ages_warning

        for category, text in self.other:
            warnings.warn(text, category, stacklevel=user_stacklevel())
        if self.spaced:
            found = np.sort(np.concatenate(self.spaced))
            if found.size:
                _spaced_warning(found, "", _SHOWN)
        if self.n_ages:
            warning = unread_ages_warning(self.n_ages, self.age_values)
            warnings.warn(warning, stacklevel=user_stacklevel())


def _spaced_warning(found: np.ndarray, where: str, shown: int) -> None:
    """The :class:`IdentifierWarning` of the sorted input rows ``found`` whose text ids had
    surrounding whitespace (removed), naming the first ``shown``; ``where``: after "id(s)"."""
    listed = ", ".join(str(int(r)) for r in found[:shown])
    warnings.warn(
        f"patient_id: removed surrounding whitespace from {found.size} id(s){where} (rows "
        f"{listed}{', ...' if found.size > shown else ''} of the input, 0-based); ' A' and "
        "'A' are the same id",
        IdentifierWarning,
        stacklevel=user_stacklevel(),
    )


#: held while a chunk's warnings are recorded. ``warnings.catch_warnings`` swaps the
#: process-wide filters and ``showwarning``: two threads recording at once (Dask's threaded
#: scheduler runs partitions in threads) would record each other's warnings, or one would
#: restore the state the other installed. The engine runs each chunk on all cores itself
#: (polars, and the numba kernels in recurct._parallel's threads), so one chunk at a time
#: costs little; the splits, reads and conversions around it still overlap.
_RECORDING = threading.Lock()


def chunk_patients(
    chunk: pl.DataFrame,
    rows: np.ndarray,
    fn: str,
    thresholds: Any,
    window_days: Any,
    merged: _MergedWarnings | None = None,
) -> pl.DataFrame:
    """:func:`recurct.cumulative_dose` of one chunk of exams (a bucket, a Dask partition); a
    bad exam raises naming its row of the input (``rows[i]`` is the input row of chunk row
    ``i``), not of the chunk. Its warnings are given naming the input's rows, or, with
    ``merged``, recorded there to be given once for all the chunks."""
    from recurct.cumulative import patients_table

    try:
        # catch_warnings changes the process's warning state: one chunk at a time records
        with _RECORDING, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IdentifierWarning)
            table = patients_table(chunk, thresholds, window_days, fn)
        for w in caught:  # the warning names the chunk's rows: name the input's instead
            if merged is not None:
                merged.add(w, chunk, rows)
            elif issubclass(w.category, IdentifierWarning):
                _warn_spaced_ids(chunk, rows)
            else:
                warnings.warn(w.message, stacklevel=user_stacklevel())
        return table
    except ExamValidationError as exc:
        raise at_input_rows(exc, rows) from None
    except ValueError as exc:
        if isinstance(exc, TypeError):  # a ParameterError (a wrong dtype): as it is
            raise
        better = bad_input_rows(chunk, rows, fn)
        if better is None:
            raise
        raise better from exc


def _warn_spaced_ids(chunk: pl.DataFrame, rows: np.ndarray) -> None:
    """The :class:`IdentifierWarning` of a chunk whose text ids had surrounding whitespace
    (removed), naming their rows of the input (``rows[i]`` for chunk row ``i``)."""
    _spaced_warning(np.sort(_spaced_rows(chunk, rows)), " of this bucket", 5)


def _spaced_rows(chunk: pl.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The input rows of the chunk's text ids with surrounding whitespace."""
    spaced = chunk.select(spaced_ids().fill_null(False))
    return np.asarray(rows)[np.flatnonzero(spaced.to_series().to_numpy())]


def bad_input_rows(chunk: pl.DataFrame, rows: np.ndarray, fn: str) -> DataError | None:
    """The error of a chunk's bad exams, naming the rows of the *input* (``rows[i]`` is the
    input row of chunk row ``i``): null ``patient_id`` or ``exam_date``, null, negative, NaN
    or infinite ``effective_dose_msv``. None if the chunk has none of these.

    Patient ids in scientific notation, which the identity rules make missing with an
    :class:`IdentifierWarning` given before the error in memory, are null ids here too; that
    warning, naming the input's rows, rides on the error as data (its ``recurct_warnings``,
    a list), for the Dask client to give before it raises
    (:func:`recurct.distributed._give_error_warnings`): a worker gives none. The error is
    marked ``recurct_bad_rows``: the Dask client replaces it with the error of the whole
    input's first bad exams (:func:`recurct.distributed._raise_whole_input_error`)."""
    found = _BadRows()
    found.add(chunk, rows)
    error = found.error(fn, " in this bucket")
    if error is None:
        return None
    error.recurct_bad_rows = True  # type: ignore[attr-defined]
    said = found.scientific.warning(None)
    if said is not None:
        error.recurct_warnings = [said]  # type: ignore[attr-defined]
    return error



class _BadRows:
    """The bad exams of several chunks (out of core: all the buckets) by input row, for one
    error naming the input's first ones, as in memory: a ``UInt64`` id too large (the
    smallest such row), else the first check of :data:`BAD_EXAM_CHECKS` that fails anywhere,
    naming its smallest ``_SHOWN`` rows and how many there are. Patient ids in scientific
    notation are null ids, as in memory, and recorded in :attr:`scientific` for the
    warning that says so."""

    def __init__(self) -> None:
        self.too_large: tuple[int, Any] | None = None  # smallest input row, its id
        self.found: list[list[np.ndarray]] = [[] for _ in BAD_EXAM_CHECKS]
        self.count = [0] * len(BAD_EXAM_CHECKS)
        self.scientific = _ScientificIds()

    def __bool__(self) -> bool:
        return self.too_large is not None or any(self.count)

    def add(self, chunk: pl.DataFrame, rows: np.ndarray) -> None:
        """Record the bad exams of ``chunk`` (``rows[i]``: the input row of its row ``i``)."""
        rows = np.asarray(rows)
        big = _too_large_ids(chunk, rows)
        if big is not None and (self.too_large is None or big[0] < self.too_large[0]):
            self.too_large = big
        checks: list[pl.Expr | None] = [_null_ids(chunk), pl.col("exam_date").is_null()]
        checks += [None, None]
        lost = self.scientific.add(chunk, rows)  # null ids too, as in memory
        if chunk.schema.get("effective_dose_msv", pl.Utf8).is_numeric():
            d = pl.col("effective_dose_msv").cast(pl.Float64)
            checks[2] = d.is_null()
            checks[3] = (d.is_nan() | d.is_infinite() | (d < 0)).fill_null(False)
        for i, ((col, _, _), bad) in enumerate(zip(BAD_EXAM_CHECKS, checks, strict=True)):
            if bad is None or col not in chunk.columns:
                continue
            hit = chunk.select(bad.fill_null(True)).to_series().to_numpy()
            idx = np.flatnonzero(hit | lost if i == 0 and lost is not None else hit)
            if idx.size:
                self._found(i, rows[idx], idx.size)

    def _found(self, i: int, rows: np.ndarray, n: int) -> None:
        """Record ``n`` exams failing check ``i``, of input ``rows`` (their smallest, or
        all), keeping the smallest ``_SHOWN`` rows."""
        self.count[i] += n
        self.found[i] = [np.sort(np.concatenate([*self.found[i], rows]))[:_SHOWN]]

    def update(self, other: _BadRows, shift: int = 0) -> None:
        """Add the bad exams recorded in ``other`` (another chunk's), its rows ``shift``
        rows further in the input (on Dask: the input partition's first row; ``other``
        counted its rows within the partition)."""
        if other.too_large is not None:
            big = (other.too_large[0] + shift, other.too_large[1])
            if self.too_large is None or big[0] < self.too_large[0]:
                self.too_large = big
        for i, n in enumerate(other.count):
            if n:
                self._found(i, other.found[i][0] + shift, n)
        self.scientific.update(other.scientific, shift)

    def error(self, fn: str, scope: str = "", lines: FileRows | None = None) -> DataError | None:
        """The error naming the first bad rows recorded (``scope``: after "first 10 of N",
        where they were counted), followed by each one's file and its row there when
        ``lines`` (a folder or glob of Parquet files, :func:`_file_rows`) is given: ``rows
        8, 12 (0-based rows of the input, ...: row 3 of b.parquet, row 1 of c.parquet)``;
        None if there are none."""
        if self.too_large is not None:
            row, value = self.too_large
            where = "0-based" + _places([row], lines, "; ")
            return DataError(
                f"{fn}: column 'patient_id': row {row} ({where}) holds {value}, {OUTSIDE_INT64}"
            )
        for (col, what, fix), found, n in zip(BAD_EXAM_CHECKS, self.found, self.count, strict=True):
            if not n:
                continue
            rows = [int(r) for r in found[0]]
            shown = ", ".join(str(r) for r in rows)
            more = f" (first {_SHOWN} of {n}{scope})" if n > _SHOWN else ""
            note = "0-based rows of the input"
            if lines is not None:
                note += ", the files' rows one after another in the order read"
            return DataError(
                f"{fn}: column {col!r} {what} in input row{'s' if n > 1 else ''} "
                f"{shown}{more} ({note}{_places(rows, lines, ': ')}); {fix}"
            )
        return None


def _places(rows: list[int], lines: FileRows | None, lead: str) -> str:
    """``lead`` and the file and row there of each input row of ``rows`` (``row 3 of
    b.parquet, row 1 of c.parquet``); nothing without ``lines`` or a row it places."""
    at = [lines(r) for r in rows] if lines is not None else []
    if not at or any(a is None for a in at):
        return ""
    return lead + ", ".join(place_text(a) for a in at if a is not None)


def _null_ids(chunk: pl.DataFrame) -> pl.Expr:
    """Whether each ``patient_id`` of ``chunk`` is null once the identity rules have cleaned
    it, as in memory (:func:`recurct._frames.clean_frame`): a text placeholder such as
    ``"NA"`` or ``" na "`` (any text, categorical or enum id), a NaN float id. (A text id in
    scientific notation is null too: :class:`_BadRows` adds those of
    :func:`_scientific_rows`.)"""
    ids = pl.col("patient_id")
    if "patient_id" not in chunk.columns:
        return ids.is_null()
    dtype = chunk.schema["patient_id"]
    if _text_ids(dtype):
        return normalised_ids(ids)[0].is_null()
    if dtype.is_float():
        return ids.is_null() | ids.is_nan()
    return ids.is_null()


def _text_ids(dtype: pl.DataType) -> bool:
    """Whether ids of ``dtype`` are text to the identity rules (String, Categorical, Enum)."""
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _scientific_rows(chunk: pl.DataFrame) -> pl.Series | None:
    """Which text patient ids of ``chunk`` are numbers in scientific notation once cleaned
    (:func:`recurct._frames.scientific_ids`: ``1,23457E+11``, digits lost, so possibly
    several patients), which the identity rules make missing as in memory; None when none
    is (or the ids are not text)."""
    if "patient_id" not in chunk.columns or not _text_ids(chunk.schema["patient_id"]):
        return None
    return scientific_ids(chunk.select(normalised_ids(pl.col("patient_id"))[0]).to_series())


class _ScientificIds:
    """The patient ids in scientific notation of several chunks (out of core: the buckets; on
    Dask: a partition), by input row, for the :class:`IdentifierWarning` that the identity
    rules give in memory (:func:`recurct._frames.clean_frame`), worded by the same code
    (:func:`recurct._frames.scientific_ids_text`), its rows those of the input. Kept small:
    their number, their smallest ``_SHOWN`` rows and the first four distinct ids as written
    with their first row (the text quotes three, then ``...`` if there are more; an id as
    written lies in one chunk only: chunks hold whole patients by the id as the rules compare
    it)."""

    def __init__(self) -> None:
        self.count = 0
        self.rows = np.empty(0, dtype=np.int64)
        self.first = pl.DataFrame(schema={"id": pl.String, "row": pl.Int64})

    def add(self, chunk: pl.DataFrame, rows: np.ndarray) -> np.ndarray | None:
        """Record the ids in scientific notation of ``chunk`` (``rows[i]``: the input row of
        its row ``i``); which of its rows hold one (None: none does)."""
        found = _scientific_rows(chunk)
        if found is None:
            return None
        mask = found.to_numpy()
        at = np.asarray(rows, dtype=np.int64)[mask]
        written = chunk.get_column("patient_id").cast(pl.String).filter(found).alias("id")
        self._record(at.size, at, pl.DataFrame([written, pl.Series("row", at)]))
        return mask

    def update(self, other: _ScientificIds, shift: int = 0) -> None:
        """Add the ids recorded in ``other`` (another chunk's), its rows ``shift`` rows
        further in the input."""
        if other.count:
            firsts = other.first.with_columns(pl.col("row") + shift)
            self._record(other.count, other.rows + shift, firsts)

    def _record(self, count: int, rows: np.ndarray, firsts: pl.DataFrame) -> None:
        """Count ``count`` more ids, keep the first rows of ``rows`` and the first row of each
        id of ``firsts`` (``id``, ``row``), four ids at most."""
        self.count += count
        self.rows = np.sort(np.concatenate([self.rows, rows]))[:_SHOWN]
        self.first = (
            pl.concat([self.first, firsts])
            .group_by("id")
            .agg(pl.col("row").min())
            .sort("row")
            .head(4)
        )

    def warning(self, lines: FileRows | None) -> IdentifierWarning | None:
        """The warning of the ids recorded (None: none was), naming their input rows and,
        with ``lines`` (a folder or glob of Parquet files, :func:`_file_rows`), each one's
        file and its row there; its ``scientific_ids`` their number, as in memory."""
        if not self.count:
            return None
        shown = [int(r) for r in self.rows]
        listed = ", ".join(map(str, shown)) + (", ..." if self.count > _SHOWN else "")
        rows = f"{'row' if self.count == 1 else 'rows'} {listed} of the input, 0-based"
        where = rows + _places(shown, lines, "; ")
        # the ids as written, one per row (the first distinct ones, in input order, then the
        # first repeated): what the shared wording counts and quotes
        ids = self.first.get_column("id")
        values = ids.extend_constant(ids[0], self.count - ids.len())
        said = IdentifierWarning(scientific_ids_text("patient_id", values, where))
        said.scientific_ids = self.count  # type: ignore[attr-defined]
        return said


def _too_large_ids(chunk: pl.DataFrame, rows: np.ndarray) -> tuple[int, Any] | None:
    """The smallest input row of a ``UInt64`` id above the largest 64-bit signed integer
    (refused as in memory) and that id; None if there is none."""
    if chunk.schema.get("patient_id") != pl.UInt64:
        return None
    s = chunk.get_column("patient_id")
    big = np.flatnonzero((s > np.iinfo(np.int64).max).fill_null(False).to_numpy())
    if not big.size:
        return None
    i = int(big[np.argmin(np.asarray(rows)[big])])
    return int(rows[i]), s[i]


def at_input_rows(exc: ExamValidationError, rows: np.ndarray) -> ExamValidationError:
    """The same validation error with its rows mapped from a chunk to the input: ``rows[i]``
    is the input row of the chunk's row ``i`` (out of core and on Dask, exams are validated
    bucket by bucket)."""
    problems = exc.problems
    if problems.height and "row" in problems.columns:
        mapped = [None if r is None else int(rows[r]) for r in problems["row"].to_list()]
        problems = problems.with_columns(pl.Series("row", mapped, dtype=problems["row"].dtype))
    return ExamValidationError(problems, exc.source, exc.hint)
