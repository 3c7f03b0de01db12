"""Kernels over the UTF-8 bytes of string columns: integer keys, order, a screen of identifiers.

:func:`string_keys` turns every string of a column into an int64 key with the same order and
the same equalities (lexicographic byte order), when the column's strings carry at most 62
bits of information by position: at each byte position the byte values present are ranked
("string ended" first) and the ranks combined in mixed radix, so a position every string
shares costs no bit and one of decimal digits log2(10) bits (a 10-digit record number: 34
bits; 8 letters or digits: at most 42). Identifiers are then coded as integers are
(:func:`recurct._codes.int_codes`), with no hashing and no string sort. Long random
pseudonyms (hex digests) do not fit and take the hash path.

:func:`string_order` is the lexicographic order of many distinct strings, by sorting packed
integer keys. A string sort compares strings byte by byte, and patient ids often share a prefix
(``"P00001234"``), so most comparisons read the string data. Here the strings' UTF-8 bytes
are turned into integer keys instead, one pass per group of byte positions: at each position
the byte values present are ranked (order-preserving, "string ended" ranked first), and the
ranks of consecutive positions are combined in mixed radix, so a position every string shares
costs no bit and a position of decimal digits costs log2(10) bits. A key, with the row number in
its low bits, is sorted by NumPy's SIMD integer sort. Rows whose keys tie are ordered by
the positions after those used, the same way (large ties) or by comparing their remaining bytes
(small ties). The result equals polars' string sort (byte order): tested in
``tests/test_kernels.py`` against ``Series.arg_sort``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

from recurct import kernels as _k

__all__ = ["byte_hashes", "may_need_cleaning", "same_as_rows", "string_keys", "string_order"]

#: Below this many strings the order and screen kernels are not used (polars is fast enough
#: there, and their compilation, about a second on a first call, is not paid).
MIN_ROWS = 200_000
_SMALL = 48  # ties up to this many rows are ordered by comparing their bytes
_MAX_RUNS = 2_000  # more large ties than this: give up (the caller sorts the strings itself)
_POSITIONS = 16  # byte positions counted per pass
#: Strings longer than this many bytes are not turned into keys (:func:`string_keys`).
KEY_POSITIONS = 64
#: Keys stay below 2**KEY_BITS (non-negative int64 with room for differences).
KEY_BITS = 62
#: Rows of the sample from which :func:`string_keys` refuses a column early.
SAMPLE_ROWS = 4_096


@njit(cache=True, nogil=True)
def _symbol_counts(offsets, data, idx, lo, hi, pos, npos):  # pragma: no cover - numba
    """``counts[q, s]``: rows ``idx[lo:hi]`` with symbol ``s`` at byte ``pos + q`` (``s = 0``:
    the string ended before it, else the byte + 1)."""
    counts = np.zeros((npos, 257), np.int64)
    ends = np.zeros(npos + 1, np.int64)  # rows with min(bytes left, npos) = q
    for i in range(lo, hi):
        r = idx[i]
        a = offsets[r] + pos
        left = min(max(offsets[r + 1] - a, 0), npos)
        ends[left] += 1
        for q in range(left):
            counts[q, data[a + q] + 1] += 1
    ended = 0
    for q in range(npos):
        ended += ends[q]
        counts[q, 0] = ended
    return counts


@njit(cache=True, nogil=True)
def _keys(offsets, data, idx, lo, hi, pos, ranks, radix, ib):  # pragma: no cover - numba
    """Packed keys of rows ``idx[lo:hi]``: the mixed-radix number of the symbol ranks at
    ``pos, pos + 1, ...`` shifted by ``ib`` bits, or-ed with the row's place in the run (a
    string that ended has rank 0 at every later position)."""
    m = radix.size
    tail = np.ones(m + 1, np.int64)  # tail[q]: product of radix[q:]
    for q in range(m - 1, -1, -1):
        tail[q] = tail[q + 1] * radix[q]
    keys = np.empty(hi - lo, np.int64)
    for i in range(lo, hi):
        r = idx[i]
        a = offsets[r] + pos
        left = min(max(offsets[r + 1] - a, 0), m)
        k = np.int64(0)
        for q in range(left):
            k = k * radix[q] + ranks[q, data[a + q] + 1]
        keys[i - lo] = ((k * tail[left]) << ib) | (i - lo)
    return keys


@njit(cache=True, nogil=True)
def _less(offsets, data, r1, r2, pos):  # pragma: no cover - numba
    """String ``r1`` < string ``r2`` comparing bytes from ``pos`` on (shorter first on a tie)."""
    a1 = offsets[r1] + pos
    a2 = offsets[r2] + pos
    n1 = offsets[r1 + 1] - a1
    n2 = offsets[r2 + 1] - a2
    for q in range(min(n1, n2)):
        b1 = data[a1 + q]
        b2 = data[a2 + q]
        if b1 != b2:
            return b1 < b2
    return n1 < n2


@njit(cache=True, nogil=True)
def _sort_small(offsets, data, idx, lo_s, hi_s, pos_s):  # pragma: no cover - numba
    """Insertion sort of each run ``idx[lo:hi]`` by the bytes from its ``pos`` on."""
    for k in range(lo_s.size):
        lo = lo_s[k]
        hi = hi_s[k]
        pos = pos_s[k]
        for j in range(lo + 1, hi):
            r = idx[j]
            i = j - 1
            while i >= lo and _less(offsets, data, r, idx[i], pos):
                idx[i + 1] = idx[i]
                i -= 1
            idx[i + 1] = r


def utf8_buffers(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 offsets (int64, n + 1) and bytes (uint8) of a null-free String series."""
    arr = s.to_arrow()
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    if str(arr.type) not in ("large_string", "large_utf8"):
        import pyarrow as pa

        arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data if data.size else np.zeros(1, np.uint8)  # never empty: kernels read it


@njit(cache=True, nogil=True)
def _present(lo, hi, offsets, data, present, lengths):  # pragma: no cover - numba
    """``present[q, b + 1] = 1`` for every byte ``b`` at position ``q`` of strings ``lo:hi``
    (up to ``present.shape[0]`` bytes); ``lengths``: their shortest and longest length."""
    npos = present.shape[0]
    short = lengths[0]
    long = lengths[1]
    for r in range(lo, hi):
        a = offsets[r]
        n = offsets[r + 1] - a
        short = min(short, n)
        long = max(long, n)
        for q in range(min(n, npos)):
            present[q, data[a + q] + 1] = 1
    lengths[0] = short
    lengths[1] = long


@njit(cache=True, nogil=True)
def _row_keys(lo, hi, offsets, data, weights, keys):  # pragma: no cover - numba
    """``keys[r]``: the mixed-radix number of the byte ranks of string ``r``, the sum of
    ``weights[q, byte + 1]`` (rank x the product of the radices after position q) over its
    bytes (positions past its end add 0: rank 0, "ended")."""
    for r in range(lo, hi):
        a = offsets[r]
        k = np.int64(0)
        for q in range(offsets[r + 1] - a):
            k += weights[q, data[a + q] + 1]
        keys[r] = k


def string_keys(s: pl.Series) -> np.ndarray | None:
    """An int64 key of every string of the null-free ``s`` such that keys compare as the
    strings do (byte order; equal exactly when the strings are equal), or ``None`` when the
    strings carry more than :data:`KEY_BITS` bits by position or are longer than
    :data:`KEY_POSITIONS` bytes (then hash or sort them). Two passes over the bytes, each over
    row ranges in threads; a column that does not fit is usually refused from a sample of
    about :data:`SAMPLE_ROWS` rows first, screened by NumPy (exactly: a sample's byte values
    are a subset of the column's, so a sample that does not fit means a column that does
    not)."""
    n = s.len()
    if n > 2 * SAMPLE_ROWS and _sample_weights(s.gather_every(n // SAMPLE_ROWS)) is None:
        return None
    offsets, data = utf8_buffers(s)
    if n == 0:
        return np.empty(0, np.int64)
    weights = _key_weights(offsets, data)
    if weights is None:
        return None
    keys = np.empty(n, np.int64)
    _k.run_chunks(_row_keys, n, offsets, data, weights, keys)
    return keys


_K0 = np.uint64(0x9E3779B97F4A7C15)
_K1 = np.uint64(0xBF58476D1CE4E5B9)
_K2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def _mix(x):  # pragma: no cover - numba
    """The 64-bit finaliser of SplitMix64 (every input bit moves every output bit)."""
    x = (x ^ (x >> np.uint64(30))) * _K1
    x = (x ^ (x >> np.uint64(27))) * _K2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _word(data, a, n):  # pragma: no cover - numba
    """Bytes ``data[a : a + n]`` (``n <= 8``) as one little-endian uint64."""
    w = np.uint64(0)
    for b in range(n):
        w |= np.uint64(data[a + b]) << np.uint64(8 * b)
    return w


@njit(cache=True, nogil=True)
def _byte_hashes(lo, hi, offsets, data, out):  # pragma: no cover - numba
    """``out[r]``: a 64-bit hash of the bytes of string ``r`` (8 bytes at a time: xor, multiply
    and rotate; the length in the seed; SplitMix64's finaliser at the end)."""
    for r in range(lo, hi):
        a = offsets[r]
        n = offsets[r + 1] - a
        h = np.uint64(n) * _K0
        q = 0
        while q + 8 <= n:
            h = (h ^ _word(data, a + q, 8)) * _K1
            h = (h << np.uint64(29)) | (h >> np.uint64(35))
            q += 8
        if q < n:
            h = (h ^ _word(data, a + q, n - q)) * _K1
        out[r] = np.int64(_mix(h))


def byte_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A 64-bit hash (int64) of every string of :func:`utf8_buffers`' ``offsets``/``data``,
    over row ranges in threads. Equal strings hash equal; callers verify equality exactly
    (:func:`same_as_rows`)."""
    out = np.empty(offsets.size - 1, np.int64)
    _k.run_chunks(_byte_hashes, out.size, offsets, data, out)
    return out


_BATCH = 32  # rows whose memory is requested together by _differ


@njit(cache=True, nogil=True)
def _differ(lo, hi, offsets, data, codes, rows, bad):  # pragma: no cover - numba
    """``bad[0] = 1`` if some string ``r`` of ``lo:hi`` differs from string
    ``rows[codes[r]]`` (``bad[1]``: scratch). In batches of rows: first the batch's other
    strings are located and their first bytes read (independent loads, so their cache misses
    overlap), then compared 8 bytes at a time."""
    start = np.empty(_BATCH, np.int64)
    for r0 in range(lo, hi, _BATCH):
        r1 = min(r0 + _BATCH, hi)
        for r in range(r0, r1):
            start[r - r0] = offsets[rows[codes[r]]]
        touched = np.uint64(0)
        for r in range(r0, r1):
            touched += data[min(start[r - r0], data.size - 1)]
        for r in range(r0, r1):
            a = offsets[r]
            b = start[r - r0]
            n = offsets[r + 1] - a
            if offsets[rows[codes[r]] + 1] - b != n:
                bad[0] = 1
                continue
            if a == b:  # the same bytes (the row itself)
                continue
            q = 0
            while q + 8 <= n:
                if _word(data, a + q, 8) != _word(data, b + q, 8):
                    bad[0] = 1
                q += 8
            if q < n and _word(data, a + q, n - q) != _word(data, b + q, n - q):
                bad[0] = 1
        bad[1] = touched  # a store keeps the loads of the first pass


def same_as_rows(
    offsets: np.ndarray, data: np.ndarray, codes: np.ndarray, rows: np.ndarray
) -> bool:
    """Whether every string ``r`` equals string ``rows[codes[r]]`` (bytes and length): a
    factorisation by hashes verified exactly, over row ranges in threads."""
    ranges = _k.row_ranges(codes.size)
    bad = np.zeros((len(ranges), 2), np.uint64)  # a row per thread (no shared cache line)
    args = [(lo, hi, offsets, data, codes, rows, bad[q]) for q, (lo, hi) in enumerate(ranges)]
    _k.in_threads(_differ, args)
    return not bad[:, 0].any()


def _key_weights(offsets: np.ndarray, data: np.ndarray) -> np.ndarray | None:
    """``weights[q, byte + 1]`` of :func:`_row_keys` for the strings of ``offsets``/``data``,
    or ``None`` when they need more than :data:`KEY_BITS` bits or :data:`KEY_POSITIONS` bytes
    (the bytes present at each position: one pass in threads)."""
    ranges = _k.row_ranges(offsets.size - 1)
    present = np.zeros((len(ranges), KEY_POSITIONS, 257), np.uint8)
    lengths = np.empty((len(ranges), 2), np.int64)
    lengths[:, 0], lengths[:, 1] = np.iinfo(np.int64).max, 0
    args = [(lo, hi, offsets, data, present[q], lengths[q]) for q, (lo, hi) in enumerate(ranges)]
    _k.in_threads(_present, args)
    short, long = int(lengths[:, 0].min()), int(lengths[:, 1].max())
    if long > KEY_POSITIONS:
        return None
    return _weights(present.any(axis=0)[:long], short)


def _sample_weights(sample: pl.Series) -> np.ndarray | None:
    """:func:`_key_weights` of a sample, by NumPy (no kernel to compile when it refuses)."""
    offsets, data = utf8_buffers(sample)
    lengths = np.diff(offsets)
    if lengths.size == 0 or lengths.max() > KEY_POSITIONS:
        return None if lengths.size else np.zeros((0, 257), np.int64)
    at = np.arange(offsets[0], offsets[-1])
    flat = (at - np.repeat(offsets[:-1], lengths)) * 257 + data[at] + 1  # position, byte + 1
    seen = np.zeros(int(lengths.max()) * 257, bool)
    seen[flat] = True
    return _weights(seen.reshape(-1, 257), int(lengths.min()))


def _weights(seen: np.ndarray, short: int) -> np.ndarray | None:
    """The weights of :func:`_row_keys` from the byte values ``seen`` at each position (a
    ``(longest, 257)`` boolean array, column ``b + 1`` for byte ``b``) and the shortest
    length, or ``None`` beyond :data:`KEY_BITS` bits."""
    long = seen.shape[0]
    seen[short:, 0] = True  # "ended" occurs at every position from the shortest length on
    radix = seen.sum(axis=1).astype(np.int64)
    tail = np.ones(long + 1, np.int64)
    product = 1
    for q in range(long - 1, -1, -1):
        product *= int(radix[q])
        if product >= 1 << KEY_BITS:
            return None
        tail[q] = product
    ranks = np.cumsum(seen, axis=1, dtype=np.int64) - 1
    return np.ascontiguousarray(ranks * tail[1:, None])


def _plan(counts: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Ranks and radices of the first positions of ``counts`` whose key fits in ``budget``
    bits, and whether every string ended within them."""
    present = counts > 0
    radix = present.sum(axis=1)
    product = 1
    m = 0
    for q in range(radix.size):
        product *= int(radix[q])
        if product > 1 << budget:
            break
        m += 1
        if present[q, 1:].sum() == 0:  # every string ended: later positions are all "ended"
            return np.cumsum(present[:m], axis=1) - 1, radix[:m].astype(np.int64), True
    return np.cumsum(present[:m], axis=1) - 1, radix[:m].astype(np.int64), False


def string_order(s: pl.Series) -> np.ndarray | None:
    """The permutation that sorts the distinct, null-free strings ``s`` (byte order), or
    ``None`` when ties are too many to resolve cheaply, or ``s`` is short (below
    :data:`MIN_ROWS`, where a string sort takes milliseconds and compiling these kernels on a
    first call would cost more): the caller then sorts ``s``."""
    if s.len() < MIN_ROWS:
        return None
    offsets, data = utf8_buffers(s)
    n = offsets.size - 1
    idx = np.arange(n, dtype=np.int64)
    if n < 2:
        return idx
    stack = [(0, n, 0)]
    small: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    rounds = 0
    while stack:
        lo, hi, pos = stack.pop()
        rounds += 1
        if rounds > _MAX_RUNS:
            return None
        ib = max(1, int(hi - lo - 1).bit_length())
        counts = _symbol_counts(offsets, data, idx, lo, hi, pos, _POSITIONS)
        ranks, radix, ended = _plan(counts, 62 - ib)
        keys = _keys(offsets, data, idx, lo, hi, pos, ranks, radix, ib)
        keys.sort()
        idx[lo:hi] = idx[lo:hi][keys & ((1 << ib) - 1)]
        if ended:
            continue  # every string ended: distinct strings have distinct keys
        high = keys >> ib
        cut = np.flatnonzero(high[1:] != high[:-1]) + 1
        run_lo = np.concatenate(([0], cut))
        run_hi = np.concatenate((cut, [hi - lo]))
        tie = run_hi - run_lo > 1
        run_lo, run_hi = run_lo[tie] + lo, run_hi[tie] + lo
        big = run_hi - run_lo > _SMALL
        nxt = pos + radix.size
        stack += [(int(a), int(b), nxt) for a, b in zip(run_lo[big], run_hi[big])]
        if (~big).any():
            lo_s, hi_s = run_lo[~big], run_hi[~big]
            small.append((lo_s, hi_s, np.full(lo_s.size, nxt, np.int64)))
    if small:
        lo_s, hi_s, pos_s = (np.concatenate(x) for x in zip(*small))
        _sort_small(offsets, data, idx, lo_s, hi_s, pos_s)
    return idx


@njit(cache=True, nogil=True)
def _screen(offsets, data, longest, flags):  # pragma: no cover - numba
    """``flags[i]`` = 1 unless string ``i`` is longer than ``longest`` bytes and starts and
    ends with a printable ASCII character other than a space (such a string is neither
    surrounded by whitespace nor a placeholder); the number flagged."""
    count = 0
    for i in range(offsets.size - 1):
        a = offsets[i]
        b = offsets[i + 1]
        f = 1
        if b - a > longest:
            c0 = data[a]
            c1 = data[b - 1]
            if 0x21 <= c0 <= 0x7E and 0x21 <= c1 <= 0x7E:
                f = 0
        flags[i] = f
        count += f
    return count


def may_need_cleaning(s: pl.Series, longest: int) -> pl.Series | None:
    """The null-free strings of ``s`` that might be surrounded by whitespace (any Unicode
    space or NUL) or be a placeholder of at most ``longest`` bytes, or ``None`` if no string
    might: an exact screen in one pass over the bytes, so that the text checks run on those
    few strings only (below :data:`MIN_ROWS` strings: ``s`` itself, unscreened)."""
    if s.len() < MIN_ROWS:
        return s
    known = s.drop_nulls() if s.null_count() else s
    offsets, data = utf8_buffers(known)
    flags = np.empty(known.len(), np.uint8)
    if _screen(offsets, data, longest, flags) == 0:
        return None
    return known.filter(pl.Series(flags.view(np.bool_)))
