"""Dense integer codes of attribute columns (sex, facility, indication, ...).

A per-patient attribute is picked from a patient's exams by a kernel over integer codes
(:func:`recurct.kernels.segment_pick`), so each column is factorised once per call, in one
pass, without sorting, gathering or replacing strings: the 64-bit polars hash of every value
goes through a small open-addressing table (:func:`recurct.kernels.small_codes`), and the
result is verified exactly (every row equals the label of its code). ``Enum`` columns use their
physical codes directly.

Many string ids that do not fit integer keys (pseudonyms) are grouped and ordered by one
sort of (key of their first bytes, row) pairs (:func:`sorted_prefix_codes`); ids whose first
bytes do not tell them apart are grouped by a sort of their byte hashes instead
(:func:`byte_hash_codes`): a table of millions of keys misses the cache on nearly every
probe, where NumPy's SIMD sort of (hash bits, row) keys streams. Both check every row
exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recurct import _parallel, _sort
from recurct import kernels as _k
from recurct._frames import enum_categories, is_enum
from recurct._jit import njit
from recurct._strings import (
    byte_hashes,
    differing_rows,
    prefix_weights,
    row_prefix_keys,
    string_views,
)

__all__ = [
    "Factorised",
    "byte_hash_codes",
    "category_codes",
    "dense_codes",
    "dense_ints",
    "factorise_values",
    "hash_codes",
    "int_codes",
    "sorted_prefix_codes",
]


class Factorised:
    """``codes`` (int32, one per row), ``labels`` (Utf8, one per code) and ``null_code``, the
    code whose label is null (null rows have it; a patient with no other value gets it)."""

    __slots__ = ("codes", "labels", "null_code")

    def __init__(self, codes: np.ndarray, labels: pl.Series, null_code: int) -> None:
        self.codes = codes
        # one chunk: a gather from a concatenated (two-chunk) series is about 6x slower
        self.labels = labels.rechunk()
        self.null_code = null_code

    def take(self, picked: np.ndarray, name: str) -> pl.Series:
        """The labels of ``picked`` codes (nulls for ``null_code``), as a Utf8 column."""
        return self.labels.gather(picked).alias(name)


def _with_null(labels: pl.Series) -> tuple[pl.Series, int]:
    """``labels`` and a null after them; the code of that null."""
    return pl.concat([labels, pl.Series([None], dtype=labels.dtype)]), labels.len()


#: From this many values, :func:`hash_codes` hashes in two threads (:func:`kernels.split_codes`)
_SPLIT_ROWS = 1_000_000


def _table_codes(h: np.ndarray, cap_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Codes of the int64 hashes ``h``, the first row of each code and the table of
    :func:`recurct.kernels.small_codes`; from ``_SPLIT_ROWS`` keys on, two tables in two
    threads (:func:`recurct.kernels.split_codes`; no table returned)."""
    if h.size >= _SPLIT_ROWS:
        codes, reps = _k.split_codes(h, cap_bits)
        return codes, reps, None
    return _k.small_codes(h, cap_bits)


def hash_codes(
    s: pl.Series, cap_bits: int
) -> tuple[np.ndarray, pl.Series, np.ndarray | None] | None:
    """Codes of ``s`` (int32, in order of first appearance; from ``_SPLIT_ROWS`` values on,
    within each half of the hash space, the second half's after the first's), the value of
    each code and the table of :func:`recurct.kernels.small_codes` (sized from ``2**cap_bits``
    slots; ``None`` from ``_SPLIT_ROWS`` values on), through the 64-bit polars hash of every
    value; exact (every row equals the value of its code), or ``None`` when two distinct
    values share a hash (about 2^-64 per pair)."""
    codes, reps, table = _table_codes(s.hash().to_numpy().view(np.int64), cap_bits)
    labels = s.gather(reps)
    if not labels.gather(codes).equals(s):
        return None
    return codes, labels, table


#: The sort of :func:`byte_hash_codes` keeps at least this many more hash bits than the
#: bits of the number of rows, so that few distinct strings share them (else: a hash table)
_SPARE_BITS = 12


@njit(cache=True, nogil=True)
def _run_codes(lo, hi, keys, row_bits, first, codes, reps):  # pragma: no cover - numba
    """Codes of sorted keys ``(key bits << row_bits) | row`` (of ``lo:hi``, which start a
    run; key bits: a hash's or a prefix key): ``codes[row]``, one code per run of equal key
    bits, in key order from ``first``
    on, marked ``-1 - code`` on the code's first row (for
    :func:`recurct._strings.differing_rows`); ``reps[code]``: that row."""
    mask = (np.int64(1) << row_bits) - 1
    count = first
    previous = np.int64(-1)
    for i in range(lo, hi):
        k = keys[i]
        r = k & mask
        if k >> row_bits != previous:
            previous = k >> row_bits
            reps[count] = r
            codes[r] = -1 - count
            count += 1
        else:
            codes[r] = count - 1


def run_codes(keys: np.ndarray, row_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32) of the rows of sorted ``keys`` (see :func:`_run_codes`) and the first
    row of each code, in threads: the parts and each part's first code are those of
    :func:`recurct.kernels.sorted_runs` over the key bits."""
    runs = _k.sorted_runs(keys, row_bits)
    codes = np.empty(keys.size, np.int32)
    reps = np.empty(0 if runs is None else runs.n_runs, np.int64)
    if runs is not None:  # (None: no keys)
        args = [(runs.cut[q], runs.cut[q + 1], keys, row_bits, runs.first[q], codes, reps)
                for q in range(len(runs.cut) - 1)]  # fmt: skip
        _parallel.in_threads(_run_codes, args)
    return codes, reps


def _hash_sort_codes(
    place: tuple[np.ndarray, np.ndarray, np.ndarray], cap_bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32) of the strings of ``place`` (:func:`recurct._strings.string_views`)
    grouped by their byte hash, and the first row of each code: by sorting keys of the
    hash's top bits and the row (NumPy's SIMD sort; a hash table's probes miss the cache),
    or, when those bits would be too few for the rows, by a hash table
    (:func:`recurct.kernels.split_codes`). Not checked: strings sharing a hash share a
    code; sorted, a code's first row is marked ``-1 - code`` (see :func:`_run_codes`)."""
    n = place[0].size // 4
    row_bits = max(1, (n - 1).bit_length())
    if 63 - row_bits - n.bit_length() < _SPARE_BITS:
        codes, reps, _ = _table_codes(byte_hashes(*place), cap_bits)
        return codes, reps
    keys = byte_hashes(*place, row_bits=row_bits)
    _sort.sort_keys(keys, row_bits)
    codes, reps = run_codes(keys, row_bits)
    # renumbered in order of first row (as a table numbers them): the check then reads each
    # code's first row in order, not at random
    return codes, _in_row_order(codes, np.empty(reps.size, np.int32), reps)


@njit(cache=True, nogil=True)
def _in_row_order(codes, renumber, reps):  # pragma: no cover - numba
    """Renumber the codes of :func:`_run_codes` in place in order of their first row (marked
    ``-1 - code``, it comes before the code's other rows); returns the first rows, in
    order (``reps[:count]``, reused)."""
    count = 0
    for i in range(codes.size):
        c = codes[i]
        if c < 0:
            renumber[-1 - c] = count
            reps[count] = i
            codes[i] = -1 - count
            count += 1
        else:
            codes[i] = renumber[c]
    return reps[:count]


def byte_hash_codes(
    s: pl.Series, cap_bits: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, int] | None] | None:
    """Codes of a null-free String ``s`` (int32), the first row of each code and the keys
    of their first bytes, through recurct's own hash of the UTF-8 bytes
    (:func:`recurct._strings.byte_hashes`, in threads; polars' hash of long strings runs in
    one) read where polars keeps them (:func:`recurct._strings.string_views`), grouped by
    :func:`_hash_sort_codes`.

    Exact: every row is checked against its code's first row, over the same bytes (no
    gather of N strings); the few rows of a string that shares its hash bits with another
    get codes of their own (:func:`_split_codes`), and ``None`` is returned when they are
    too many (then rank the strings). Each code's first bytes are then keyed in byte order
    (:func:`recurct._strings.row_prefix_keys`), returned with the number of bytes they
    cover, for :func:`recurct._strings.string_order` (``None`` if a string has a byte the
    sample of :func:`recurct._strings.prefix_weights` lacked)."""
    place = string_views(s)
    codes, reps = _hash_sort_codes(place, cap_bits)
    differ = differing_rows(*place, codes, reps, max(64, s.len() >> 12))
    if differ is None:
        return None
    if differ.size:
        reps = _split_codes(s, codes, reps, differ)
    ib = max(1, (reps.size - 1).bit_length())  # each key above its place, for string_order
    weights = prefix_weights(s, 62 - ib)
    keys = None if weights is None else row_prefix_keys(*place, weights, ib, reps)
    return codes, reps, None if keys is None else (keys, weights.shape[0])


def sorted_prefix_codes(
    s: pl.Series,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Codes of a null-free String ``s`` (int32) numbered in ascending string order (byte
    order), the first row of each distinct string in that order, and ``None``; or, when some
    distinct strings share their first bytes' key, codes not in that order and ``rank``
    (``rank[code]``: its place in the order). ``None`` when this does not pay: a string has
    a byte the sample of :func:`recurct._strings.prefix_weights` lacked, or more than
    ``max(64, N / 4096)`` rows share a key with a different string (then hash the strings).

    One sort of keys of the strings' first bytes (:func:`recurct._strings.row_prefix_keys`,
    order-preserving) above the row numbers groups the rows and orders the groups at once:
    pseudonyms (hex digests, UUIDs) are told apart by their first few bytes, so neither a
    hash nor a sort of the distinct strings is needed. Exact: every row is checked against
    its group's first row (:func:`recurct._strings.differing_rows`); the few rows of a
    string that shares its key with another get codes of their own, placed among their
    group's by a sort of those few strings (:func:`_tie_rank`)."""
    n = s.len()
    row_bits = max(1, (n - 1).bit_length())
    weights = prefix_weights(s, 62 - row_bits)
    if weights is None:
        return None
    place = string_views(s)
    keys = row_prefix_keys(*place, weights, row_bits)
    if keys is None:
        return None
    _sort.sort_keys(keys, row_bits)
    codes, reps = run_codes(keys, row_bits)
    count = reps.size
    del keys
    differ = differing_rows(*place, codes, reps, max(64, n >> 12), marked=True)
    if differ is None:
        return None
    if differ.size == 0:
        return codes, reps, None
    groups = codes[differ]
    reps = _split_codes(s, codes, reps, differ)
    return codes, *_tie_rank(s, codes[differ], groups, reps, count)


def _tie_rank(
    s: pl.Series, split: np.ndarray, groups: np.ndarray, reps: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first rows of ``s``'s distinct strings in ascending order and the ``rank`` of
    every code, when codes ``0..count-1`` are in order and the codes from ``count`` on
    (``split``: those of some rows, ``groups``: the codes those rows had) each belong just
    beside the code they were split from (same first bytes); ``reps``: each code's first
    row. Those few ties are sorted as Python strings (code-point order, which is UTF-8
    byte order); the other codes move up by the number of new codes before them."""
    group = np.empty(reps.size - count, np.int64)
    group[split - count] = groups  # the code each new code was split from
    tied, added = np.unique(group, return_counts=True)
    moved = np.concatenate(([0], np.cumsum(added)))  # new codes before each tied group's end
    rank = np.arange(reps.size, dtype=np.int64)
    rank[:count] += np.repeat(moved, np.diff(np.concatenate(([0], tied + 1, [count]))))
    by_group = np.argsort(group, kind="stable") + count
    values = s.gather(reps[np.concatenate((tied, by_group))]).to_list()
    tied_values, new_values = values[: tied.size], values[tied.size :]
    for i, g in enumerate(tied):
        members = np.concatenate(([g], by_group[moved[i] : moved[i + 1]]))
        strings = [tied_values[i], *new_values[moved[i] : moved[i + 1]]]
        ordered = members[sorted(range(members.size), key=strings.__getitem__)]
        rank[ordered] = g + moved[i] + np.arange(members.size)
    rows = np.empty_like(reps)
    rows[rank] = reps
    return rows, rank


def _split_codes(
    s: pl.Series,
    codes: np.ndarray,
    reps: np.ndarray,
    differ: np.ndarray,
) -> np.ndarray:
    """New codes, in place, for the rows ``differ`` whose string is not their code's (its
    hash, or its first bytes' key, is another's too): one per distinct (code, string),
    after the others (strings of different codes differ). Returns the first row of every
    code."""
    new: dict[tuple[int, str], int] = {}
    first = []
    for r, c, value in zip(differ, codes[differ], s.gather(differ).to_list(), strict=True):
        if (int(c), value) not in new:
            new[int(c), value] = reps.size + len(new)
            first.append(r)
        codes[r] = new[int(c), value]
    return np.concatenate((reps, np.array(first, np.int64)))


def factorise_values(s: pl.Series) -> Factorised:
    """Codes of the values of ``s`` (any dtype; labels are their string form)."""
    if is_enum(s):  # not ``s.dtype``: slow to build for an Enum of many categories
        labels, null_code = _with_null(enum_categories(s))
        codes = s.to_physical().cast(pl.Int32).fill_null(null_code).to_numpy()
        return Factorised(np.ascontiguousarray(codes), labels, null_code)
    if s.len() == 0:
        labels, null_code = _with_null(pl.Series(s.name, [], dtype=pl.Utf8))
        return Factorised(np.empty(0, np.int32), labels, null_code)
    got = hash_codes(s, 8)
    if got is not None:
        codes, labels, _ = got
        labels = labels.cast(pl.Utf8)
        nulls = labels.is_null()
        if nulls.any():
            return Factorised(codes, labels, int(nulls.arg_true()[0]))
        labels, null_code = _with_null(labels)
        return Factorised(codes, labels, null_code)
    # a hash collision: rank the values instead
    labels = s.drop_nulls().unique().sort()
    labels, null_code = _with_null(labels.cast(pl.Utf8))
    rank = s.rank("dense").cast(pl.Int64) - 1
    return Factorised(rank.fill_null(null_code).cast(pl.Int32).to_numpy(), labels, null_code)


_IntCodes = tuple[np.ndarray, int, np.ndarray]


def int_codes(ids: np.ndarray) -> _IntCodes | None:
    """Codes of int64 ids, their count and the ascending distinct ids: :func:`dense_ints` in
    a small range, else :func:`_sorted_range` (one pass for the range of both)."""
    if ids.size == 0:  # (minmax_int reads a first id)
        return np.zeros(0, np.int64), 0, np.zeros(0, np.int64)
    mn, mx = _sort.minmax_int(ids)
    return _dense_range(ids, mn, mx) or _sorted_range(ids, mn, mx)


def dense_ints(ids: np.ndarray) -> _IntCodes | None:
    """Codes of int64 ids in a small range (O(N) scatter, no hashing or sorting), their
    count and the ascending distinct ids; ``None`` if the range is too wide."""
    if ids.size == 0:  # (minmax_int reads a first id)
        return np.zeros(0, np.int64), 0, np.zeros(0, np.int64)
    return _dense_range(ids, *_sort.minmax_int(ids))


def _dense_range(ids: np.ndarray, mn: int, mx: int) -> _IntCodes | None:
    span = int(mx) - int(mn) + 1
    if span > 2 * ids.size + 1024:
        return None
    present, count = _k.presence(ids, mn, span)
    if count == span:
        codes = ids if mn == 0 else ids - mn
        return codes, int(count), np.arange(mn, mx + 1, dtype=np.int64)
    codes = _k.remap(ids, mn, _k.dense_mapping(present))
    return codes, int(count), np.flatnonzero(present) + mn


def _sorted_range(ids: np.ndarray, mn: int, mx: int) -> _IntCodes | None:
    """Codes of int64 ids in a wide range (sparse record numbers; ``mn``, ``mx`` their
    extremes), their count and the ascending distinct ids, by SIMD ``np.sort`` of packed keys
    ``(id - min, row)`` and one pass over them. When id span and row number do not fit 63 bits
    together the rows are first split (stably) into buckets by the high bits of the id and each
    bucket sorted alone; ``None`` if the span exceeds 2^62 or would need over 2^10 buckets.
    """
    n = ids.size
    rb = max(1, (n - 1).bit_length())
    sb = max(1, (int(mx) - int(mn)).bit_length())
    hb = max(0, sb + rb - 63)  # bits of the bucket number
    if sb > 62 or hb > 10:
        return None
    keys, bounds = _k.packed_ids(ids, mn, rb, sb - hb, 1 << hb)
    _sort.sort_parts(keys, bounds, rb)
    codes = np.empty(n, np.int64)
    uniq = np.empty(n, np.int64)
    count = _k.codes_of_sorted(keys, bounds, rb, sb - hb, mn, codes, uniq)
    return codes, count, uniq[:count].copy()


def category_codes(s: pl.Series) -> tuple[np.ndarray, pl.Series] | None:
    """Dense codes (int64, one per row) of a ``Categorical`` without nulls, and the value
    (Utf8) of each code: its distinct values, in the order of their physical codes.

    The physical codes index the process-wide categories; they are made dense by one scatter
    (:func:`dense_ints`), or by hashing when they span too wide a range (a process that made
    other categoricals), and only one row per distinct value is turned into text (casting
    every row, or ``unique()``, costs about ten times more). ``None`` when ``s`` holds nulls
    (or on a hash collision of two physical codes).
    """
    if s.null_count():
        return None
    got = dense_codes(s.to_physical().cast(pl.Int64).to_numpy())
    if got is None:
        return None
    codes, count, _ = got
    return codes, s.gather(_k.first_rows(codes, count)).cast(pl.Utf8)


def dense_codes(ids: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
    """Dense int64 codes of int64 ``ids``, their count and the id of each code: by
    :func:`dense_ints` (codes in ascending id order), or, when the ids span too wide a range,
    by hashing (codes in order of first appearance); ``None`` on a hash collision."""
    got = dense_ints(ids)
    if got is not None:
        return got
    hashed = hash_codes(pl.Series(ids), max(4, int(ids.size * 3 // 2).bit_length()))
    if hashed is None:
        return None
    codes, values, _ = hashed
    return codes.astype(np.int64), values.len(), values.to_numpy()
