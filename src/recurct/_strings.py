"""Kernels over the UTF-8 bytes of string columns: integer keys, order, a screen of identifiers.

:func:`string_keys` turns every string of a column into an int64 key with the same order and
the same equalities (lexicographic byte order), when the column's strings carry at most 62
bits of information by position: at each byte position the byte values present are ranked
("string ended" first) and the ranks combined in mixed radix, so a position every string
shares costs no bit and one of decimal digits log2(10) bits (a 10-digit record number: 34
bits; 8 letters or digits: at most 42). Identifiers are then coded as integers are
(:func:`recurct._codes.int_codes`), with no hashing and no string sort. Long random
pseudonyms (hex digests) do not fit: their first bytes are keyed the same way
(:func:`row_prefix_keys`), and they are hashed only when those do not tell them apart.

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

Many ids that do not fit such keys (pseudonyms) are read where polars keeps them
(:func:`string_views`: Arrow's string views and their buffers, no copy to contiguous UTF-8).
:func:`row_prefix_keys` keys their first bytes the same way (ranks from a sample,
:func:`prefix_weights`): one sort of those keys groups and orders ids told apart by their
first bytes (:func:`recurct._codes.sorted_prefix_codes`). Others are hashed in threads, 8
bytes per load (:func:`byte_hashes`). Either way :func:`differing_rows` checks every row
exactly against its group's first row.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import polars as pl

from recurct import _parallel, _sort
from recurct import kernels as _k
from recurct._jit import njit

__all__ = [
    "byte_hashes",
    "differing_rows",
    "may_need_cleaning",
    "prefix_weights",
    "row_prefix_keys",
    "string_keys",
    "string_order",
    "string_views",
]

#: Below this many strings the order and screen kernels are not used (polars is fast enough
#: there, and their compilation, about a second on a first call, is not paid).
MIN_ROWS = 200_000
_SMALL = 48  # ties up to this many rows are ordered by comparing their bytes
_MAX_RUNS = 2_000  # more rounds than this: give up (the caller sorts the strings itself)
#: More large ties than this waiting at once: give up. Each costs a round of about 1-2 ms
#: however small, so many of them cost more than a sort of all the strings (5 million
#: distinct ids in 1,000 groups sharing 48 bytes: 4.8 s against 2.5 s).
_MAX_TIES = 8
_POSITIONS = 16  # byte positions counted per pass
#: Strings longer than this many bytes are not turned into keys (:func:`string_keys`).
KEY_POSITIONS = 64
#: Keys stay below 2**KEY_BITS (non-negative int64 with room for differences).
KEY_BITS = 62
#: Rows of the sample from which :func:`string_keys` refuses a column early.
SAMPLE_ROWS = 4_096
_NONE = np.empty(0, np.int64)


@njit(cache=True, nogil=True)
def _symbol_counts(i0, i1, views, bases, data, idx, pos, counts):  # pragma: no cover - numba
    """``counts[q, s]`` += rows ``idx[i0:i1]`` with symbol ``s`` at byte ``pos + q`` (``s = 0``:
    the string ended before it, else the byte + 1), ``q < counts.shape[0]``."""
    npos = counts.shape[0]
    ends = np.zeros(npos + 1, np.int64)  # rows with min(bytes left, npos) = q
    for i in range(i0, i1):
        a, n = _at(views, bases, idx[i])
        left = min(max(n - pos, 0), npos)
        ends[left] += 1
        a += pos
        for q in range(left):
            counts[q, data[a + q] + 1] += 1
    ended = 0
    for q in range(npos):
        ended += ends[q]
        counts[q, 0] += ended


@njit(cache=True, nogil=True)
def _keys(i0, i1, views, bases, data, idx, lo, pos, ranks, radix, ib, keys):  # pragma: no cover
    """``keys[i - lo]``, packed keys of rows ``idx[i]``, ``i0 <= i < i1``: the mixed-radix
    number of the symbol ranks at ``pos, pos + 1, ...`` shifted by ``ib`` bits, or-ed with
    ``i - lo``, the row's place in the run (a string that ended has rank 0 at every later
    position)."""
    m = radix.size
    tail = np.ones(m + 1, np.int64)  # tail[q]: product of radix[q:]
    for q in range(m - 1, -1, -1):
        tail[q] = tail[q + 1] * radix[q]
    for i in range(i0, i1):
        a, n = _at(views, bases, idx[i])
        left = min(max(n - pos, 0), m)
        a += pos
        k = np.int64(0)
        for q in range(left):
            k = k * radix[q] + ranks[q, data[a + q] + 1]
        keys[i - lo] = ((k * tail[left]) << ib) | (i - lo)


@njit(cache=True, nogil=True)
def _less(views, bases, data, r1, r2, pos):  # pragma: no cover - numba
    """String ``r1`` < string ``r2`` comparing bytes from ``pos`` on (shorter first on a tie)."""
    a1, n1 = _at(views, bases, r1)
    a2, n2 = _at(views, bases, r2)
    a1 += pos
    a2 += pos
    n1 -= pos
    n2 -= pos
    for q in range(min(n1, n2)):
        b1 = data[a1 + q]
        b2 = data[a2 + q]
        if b1 != b2:
            return b1 < b2
    return n1 < n2


@njit(cache=True, nogil=True)
def _sort_small(views, bases, data, idx, along, lo_s, hi_s, pos_s):  # pragma: no cover
    """Insertion sort of each run ``idx[lo:hi]`` by the bytes from its ``pos`` on (``along``,
    if not empty, moved with ``idx``)."""
    moved = along.size > 0
    for k in range(lo_s.size):
        lo = lo_s[k]
        hi = hi_s[k]
        pos = pos_s[k]
        for j in range(lo + 1, hi):
            r = idx[j]
            a = along[j] if moved else 0
            i = j - 1
            while i >= lo and _less(views, bases, data, r, idx[i], pos):
                idx[i + 1] = idx[i]
                if moved:
                    along[i + 1] = along[i]
                i -= 1
            idx[i + 1] = r
            if moved:
                along[i + 1] = a


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


#: Arrow string views hold strings of up to this many bytes inline (in the view itself)
_INLINE = 12


class _Span:
    """``size`` read-only items of ``typestr`` from ``address`` on, one every ``stride``
    bytes, as a NumPy buffer keeping ``owner`` (what holds that memory) alive with it."""

    def __init__(
        self, address: int, size: int, owner: object, typestr: str = "|u1", stride: int = 1
    ) -> None:
        self.__array_interface__ = {
            "data": (address, True), "shape": (size,), "strides": (stride,),
            "typestr": typestr, "version": 3,
        }  # fmt: skip
        self.owner = owner


def _words(data: np.ndarray) -> np.ndarray:
    """``words[a]``: the 8 bytes ``data[a : a + 8]`` as one little-endian uint64 (an array
    with a stride of one byte: one unaligned load, where eight byte loads compile to slow
    vector code)."""
    address = data.__array_interface__["data"][0]
    return np.asarray(_Span(address, max(0, data.size - 7), data, "<u8"))


def string_views(s: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the bytes of the null-free String ``s`` are, as polars keeps them (no copy):
    ``(views, bases, data)``, read by :func:`_at`.

    ``views`` (int32, four per string) are Arrow's string views: length, then either the
    bytes themselves (up to 12) or a prefix, a buffer number and an offset in that buffer.
    ``data`` is one uint8 array over the addresses from the lowest to the highest byte of the
    views and of their buffers (only bytes inside them are ever read), ``bases[0]`` the place
    of the first view in it, ``bases[1]`` the longest inline length (12; -1: none inline) and
    ``bases[2 + b]`` the place of buffer ``b``. Where polars cannot hand string views to
    pyarrow (older versions), the strings are copied to ``large_string`` and described the
    same way, with every string in a buffer (:func:`_offset_views`).
    """
    s = s.rechunk()  # a concatenation of views: no string is copied
    try:
        arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    except Exception:  # no string views in this polars or pyarrow: copy instead
        arr = None
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    if arr is None or str(arr.type) not in ("string_view", "utf8_view"):
        return _offset_views(s)
    n = len(arr)
    bufs = arr.buffers()[1:]
    if n == 0 or bufs[0] is None:
        return np.zeros(0, np.int32), np.array([0, _INLINE], np.int64), np.zeros(1, np.uint8)
    first = bufs[0].address + 16 * arr.offset
    views = np.frombuffer(bufs[0], np.int32)[4 * arr.offset : 4 * (arr.offset + n)]
    places = [(first, 16 * n)] + [(b.address, b.size) if b else (first, 0) for b in bufs[1:]]
    lo = min(a for a, _ in places)
    hi = max(a + size for a, size in places)
    bases = np.array([first - lo, _INLINE] + [a - lo for a, _ in places[1:]], np.int64)
    return views, bases, np.asarray(_Span(lo, hi - lo, arr))


def _offset_views(s: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`string_views` through :func:`utf8_buffers`: views of contiguous UTF-8 bytes
    (none inline; buffers of 2^30 bytes, so that offsets fit int32)."""
    offsets, data = utf8_buffers(s)
    views = np.zeros((offsets.size - 1, 4), np.int32)
    views[:, 0] = np.diff(offsets)
    views[:, 2] = offsets[:-1] >> 30
    views[:, 3] = offsets[:-1] & ((1 << 30) - 1)
    buffers = np.arange(int(offsets[-1] >> 30) + 1, dtype=np.int64) << 30
    return views.reshape(-1), np.concatenate(([0, -1], buffers)), data


@njit(cache=True, nogil=True, inline="always")
def _at(views, bases, r):  # pragma: no cover - numba
    """Where string ``r`` of :func:`string_views` starts in ``data``, and its length."""
    n = np.int64(views[4 * r])
    if n <= bases[1]:
        return bases[0] + 16 * r + 4, n
    return bases[2 + views[4 * r + 2]] + views[4 * r + 3], n


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
    _parallel.run_chunks(_row_keys, n, offsets, data, weights, keys)
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


@njit(cache=True, nogil=True, inline="always")
def _tail(data, words, a, q, n):  # pragma: no cover - numba
    """Bytes ``q:n`` (fewer than 8) of the string at ``data[a:]`` as one uint64, read with
    the string's last 8 bytes when it has 8."""
    if n >= 8:
        return words[a + n - 8] >> np.uint64(8 * (8 - n + q))
    return _word(data, a + q, n - q)


@njit(cache=True, nogil=True)
def _byte_hashes(lo, hi, views, bases, data, words, row_bits, out):  # pragma: no cover - numba
    """``out[r]``: a 64-bit hash of the bytes of string ``r`` (8 bytes at a time: xor, multiply
    and rotate; the length in the seed; SplitMix64's finaliser at the end); with
    ``row_bits > 0``, its top ``63 - row_bits`` bits above ``r``."""
    for r in range(lo, hi):
        a, n = _at(views, bases, r)
        h = np.uint64(n) * _K0
        q = 0
        while q + 8 <= n:
            h = (h ^ words[a + q]) * _K1
            h = (h << np.uint64(29)) | (h >> np.uint64(35))
            q += 8
        if q < n:
            h = (h ^ _tail(data, words, a, q, n)) * _K1
        h = _mix(h)
        if row_bits > 0:
            h = ((h >> np.uint64(row_bits + 1)) << np.uint64(row_bits)) | np.uint64(r)
        out[r] = np.int64(h)


def byte_hashes(
    views: np.ndarray, bases: np.ndarray, data: np.ndarray, row_bits: int = 0
) -> np.ndarray:
    """A 64-bit hash (int64) of every string of :func:`string_views`, over row ranges in
    threads; with ``row_bits > 0`` (rows below ``2**row_bits``), keys to sort: the top
    ``63 - row_bits`` bits of the hash above the row number. Equal strings hash equal;
    callers verify equality exactly (:func:`differing_rows`)."""
    out = np.empty(views.size // 4, np.int64)
    _parallel.run_chunks(_byte_hashes, out.size, views, bases, data, _words(data), row_bits, out)
    return out


_BATCH = 128  # rows whose memory is requested together by _differ


@njit(cache=True, nogil=True)
def _rep_spans(lo, hi, views, bases, rows, spans):  # pragma: no cover - numba
    """``spans[2c], spans[2c + 1]``: where string ``rows[c]`` starts and its length, for the
    codes ``c`` of ``lo:hi``."""
    for c in range(lo, hi):
        spans[2 * c], spans[2 * c + 1] = _at(views, bases, rows[c])


@njit(cache=True, nogil=True)
def _marked_spans(lo, hi, views, bases, codes, spans):  # pragma: no cover - numba
    """``spans[2c], spans[2c + 1]`` as :func:`_rep_spans`, from the rows ``r`` of ``lo:hi``
    marked ``codes[r] = -1 - c`` as code ``c``'s first row."""
    for r in range(lo, hi):
        c = codes[r]
        if c < 0:
            spans[-2 - 2 * c], spans[-1 - 2 * c] = _at(views, bases, r)


@njit(cache=True, nogil=True)
def _row_prefix_keys(  # pragma: no cover - numba
    lo, hi, views, bases, data, weights, rows, row_bits, bad, out
):
    """``out[i]``: the prefix key of string ``r = rows[i]`` (``r = i`` when ``rows`` is
    empty), for ``i`` of ``lo:hi``: the sum of ``weights[q, byte + 1]`` over its first
    ``weights.shape[0]`` bytes, above ``i`` in the low ``row_bits`` bits; ``bad[1] = 1`` if
    a byte (or the end) there has no weight (``-1``; the weights are or'ed, not branched on)."""
    m = weights.shape[0]
    low = (np.int64(1) << row_bits) - 1
    for i in range(lo, hi):
        a, n = _at(views, bases, rows[i] if rows.size else i)
        k = np.int64(0)
        seen = np.int64(0)
        for q in range(min(n, m)):
            w = weights[q, data[a + q] + 1]
            k += w
            seen |= w
        if n < m:
            seen |= weights[n, 0]
        if seen < 0:
            bad[1] = 1
        out[i] = (k << row_bits) | (i & low)


def row_prefix_keys(
    views: np.ndarray,
    bases: np.ndarray,
    data: np.ndarray,
    weights: np.ndarray,
    row_bits: int = 0,
    rows: np.ndarray | None = None,
) -> np.ndarray | None:
    """The prefix key of every string of :func:`string_views` (or of strings ``rows``) by
    ``weights`` (:func:`prefix_weights`; keys compare as the strings' first
    ``weights.shape[0]`` bytes do), over ranges in threads; with ``row_bits``, left by
    that many bits (the budget of the weights left them free) above the row number (the
    place in ``rows``), so that a sort groups and orders the rows; ``None`` when a string
    has a byte the weights lack."""
    out = np.empty(views.size // 4 if rows is None else rows.size, np.int64)
    ranges = _parallel.row_ranges(out.size)
    bad = np.zeros((len(ranges), 8), np.int64)  # a cache line per thread
    which = _NONE if rows is None else rows
    args = [(lo, hi, views, bases, data, weights, which, row_bits, bad[q], out)
            for q, (lo, hi) in enumerate(ranges)]  # fmt: skip
    _parallel.in_threads(_row_prefix_keys, args)
    return None if bad[:, 1].any() else out


@njit(cache=True, nogil=True, inline="always")
def _locate(r0, r1, codes, spans, start, size):  # pragma: no cover - numba
    """``start``, ``size``: where the string of each row ``r0:r1``'s code is (none for a
    row marked as its code's first)."""
    for r in range(r0, r1):
        c = codes[r]
        start[r - r0] = spans[2 * c] if c >= 0 else -1
        size[r - r0] = spans[2 * c + 1] if c >= 0 else 0


@njit(cache=True, nogil=True)
def _differ(  # noqa: C901 - one pipelined pass  # pragma: no cover - numba
    lo, hi, views, bases, data, words, codes, spans, bad, differ
):
    """``bad[0]``: the rows ``r`` of ``lo:hi`` whose string differs from the string of its
    code ``c = codes[r]`` (at ``spans[2c]``, ``spans[2c + 1]`` bytes), the first
    ``differ.size`` of them in ``differ``; a code's first row may be marked ``-1 - c`` (it
    is then not looked up, and ``c`` is written back; not all, once more than
    ``differ.size`` rows differ: it stops there). In batches of rows, pipelined so
    that cache misses overlap: while batch ``b`` is compared (8 bytes at a time, then the
    last bytes one by one), the first byte of each string batch ``b + 1`` is compared with
    has been read (and its last byte where that lies on the next cache line: 10^7 36-byte
    UUIDs, 185-210 against 290-305 ms without it, while 64-hex-digit pseudonyms, one line
    each, pay 185 against 195 ms), and where the
    strings of batch ``b + 2`` are, loaded (independent loads)."""
    start = np.zeros((3, _BATCH), np.int64)  # batch b's places in row b % 3
    size = np.zeros((3, _BATCH), np.int64)
    touched = np.int64(0)
    batches = (hi - lo + _BATCH - 1) // _BATCH
    for b in range(-2, batches):
        if b + 2 < batches:
            r0 = lo + (b + 2) * _BATCH
            _locate(r0, min(r0 + _BATCH, hi), codes, spans, start[(b + 2) % 3], size[(b + 2) % 3])
        if 0 <= b + 1 < batches:
            for k in range(min(_BATCH, hi - lo - (b + 1) * _BATCH)):
                n = size[(b + 1) % 3, k]
                if n > 0:  # its first and last bytes: two cache lines where it straddles
                    a = start[(b + 1) % 3, k]
                    touched += data[a]
                    if (a ^ (a + n - 1)) >> 6:
                        touched += data[a + n - 1]
        if b < 0:
            continue
        r0 = lo + b * _BATCH
        at, span = start[b % 3], size[b % 3]
        for r in range(r0, min(r0 + _BATCH, hi)):
            a, n = _at(views, bases, r)
            if codes[r] < 0:  # marked as its code's first row
                codes[r] = -1 - codes[r]
                at[r - r0], span[r - r0] = a, n
            c0 = at[r - r0]
            same = span[r - r0] == n
            if same and a == c0:  # the same bytes: the code's first row (or a view)
                continue
            q = 0
            while same and q + 8 <= n:
                same = words[a + q] == words[c0 + q]
                q += 8
            while same and q < n:  # the last bytes one by one (as two shifted words, 0.15 s
                same = data[a + q] == data[c0 + q]  # more compilation and, for 10^7 UUIDs,
                q += 1  # 250 against 185 ms)
            if not same:
                if bad[0] < differ.size:
                    differ[bad[0]] = r
                bad[0] += 1
        if bad[0] > differ.size:  # too many for the caller: the rest is not read
            break
    bad[2] = touched  # a store keeps the loads of the touch stage


def differing_rows(
    views: np.ndarray,
    bases: np.ndarray,
    data: np.ndarray,
    codes: np.ndarray,
    rows: np.ndarray,
    most: int = 0,
    marked: bool = False,
) -> np.ndarray | None:
    """The rows ``r`` of :func:`string_views` whose string differs from string
    ``rows[codes[r]]``, ascending, by an exact comparison of their bytes over row ranges in
    threads; ``None`` when more than ``most`` (the check stops there). Where ``codes[r]``
    is ``-1 - c``, row ``r`` is ``rows[c]``: it is not looked up, and ``c`` is written back
    to ``codes`` (with ``None``, not all of them).

    ``marked``: every code's first row is marked so; where the strings of ``rows`` are is
    then read from those rows in row order (:func:`_marked_spans`), not at ``rows`` (at
    random when ``rows`` are not ascending: 63 against 22 ms for 5 million)."""
    ranges = _parallel.row_ranges(codes.size)
    spans = np.empty(2 * rows.size, np.int64)
    if marked:
        _parallel.run_chunks(_marked_spans, codes.size, views, bases, codes, spans)
    else:
        _parallel.run_chunks(_rep_spans, rows.size, views, bases, rows, spans)
    bad = np.zeros((len(ranges), 8), np.int64)  # a cache line per thread
    differ = np.empty((len(ranges), most), np.int64)
    words = _words(data)
    args = [(lo, hi, views, bases, data, words, codes, spans, bad[q], differ[q])
            for q, (lo, hi) in enumerate(ranges)]  # fmt: skip
    _parallel.in_threads(_differ, args)
    if bad[:, 0].sum() > most:
        return None
    return np.concatenate([differ[q, : bad[q, 0]] for q in range(len(ranges))])


def prefix_weights(s: pl.Series, budget: int) -> np.ndarray | None:
    """Weights of the first bytes of the null-free ``s`` for :func:`row_prefix_keys`,
    from a sample of about :data:`SAMPLE_ROWS` strings: ``weights[q, b + 1]`` is the rank of
    byte ``b`` among those the sample has at position ``q`` ("string ended", column 0, ranked
    first) times the product of the numbers of symbols at the later positions, for as many
    positions as fit ``budget`` bits (at most :data:`KEY_POSITIONS`: a position the sample's
    strings share costs no bit), and ``-1`` for symbols the sample lacks (a string with one
    gets no key). ``None`` when no position fits."""
    n = s.len()
    sample = s.gather_every(max(1, n // SAMPLE_ROWS)) if n > 2 * SAMPLE_ROWS else s
    offsets, data = utf8_buffers(sample)
    lengths = np.diff(offsets)
    if lengths.size == 0:
        return None
    used = np.minimum(lengths, KEY_POSITIONS)
    at = np.arange(used.sum()) - np.repeat(np.cumsum(used) - used, used)  # position in string
    seen = np.zeros((int(used.max()), 257), bool)
    seen[at, data[np.repeat(offsets[:-1], used) + at] + 1] = True
    seen[int(lengths.min()) :, 0] = True  # "ended" from the shortest length on
    radix = seen.sum(axis=1)
    product, m = 1, 0
    while m < radix.size and product * int(radix[m]) <= 1 << budget:
        product *= int(radix[m])
        m += 1
    if m == 0:
        return None
    tail = np.ones(m, np.int64)  # the product of the radices after each position
    for q in range(m - 2, -1, -1):
        tail[q] = tail[q + 1] * radix[q + 1]
    weights = (np.cumsum(seen[:m], axis=1, dtype=np.int64) - 1) * tail[:, None]
    weights[~seen[:m]] = -1
    return np.ascontiguousarray(weights)


def _key_weights(offsets: np.ndarray, data: np.ndarray) -> np.ndarray | None:
    """``weights[q, byte + 1]`` of :func:`_row_keys` for the strings of ``offsets``/``data``,
    or ``None`` when they need more than :data:`KEY_BITS` bits or :data:`KEY_POSITIONS` bytes
    (the bytes present at each position: one pass in threads)."""
    ranges = _parallel.row_ranges(offsets.size - 1)
    present = np.zeros((len(ranges), KEY_POSITIONS, 257), np.uint8)
    lengths = np.empty((len(ranges), 2), np.int64)
    lengths[:, 0], lengths[:, 1] = np.iinfo(np.int64).max, 0
    args = [(lo, hi, offsets, data, present[q], lengths[q]) for q, (lo, hi) in enumerate(ranges)]
    _parallel.in_threads(_present, args)
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


@overload
def string_order(
    s: pl.Series,
    prefix: tuple[np.ndarray, int] | None = ...,
    rows: np.ndarray | None = ...,
    positions: Literal[False] = ...,
) -> np.ndarray | None: ...
@overload
def string_order(
    s: pl.Series,
    prefix: tuple[np.ndarray, int] | None = ...,
    rows: np.ndarray | None = ...,
    *,
    positions: Literal[True],
) -> tuple[np.ndarray, np.ndarray] | None: ...
@overload
def string_order(
    s: pl.Series,
    prefix: tuple[np.ndarray, int] | None = ...,
    rows: np.ndarray | None = ...,
    positions: bool = ...,
) -> np.ndarray | tuple[np.ndarray, np.ndarray] | None: ...
def string_order(
    s: pl.Series,
    prefix: tuple[np.ndarray, int] | None = None,
    rows: np.ndarray | None = None,
    positions: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray] | None:
    """The permutation that sorts the distinct, null-free strings ``s`` (byte order), or
    ``None`` when ties are too many to resolve cheaply, or they are few (below
    :data:`MIN_ROWS`, where a string sort takes milliseconds and compiling these kernels on a
    first call would cost more): the caller then sorts them.

    ``rows``: sort the distinct strings ``s[rows]`` instead, and return their rows of ``s``
    in order (no gather of the strings); with ``positions``, also where each is in ``rows``
    (``rows[positions]`` is the order), as ``(rows in order, positions)`` (without ``rows``,
    one array twice). ``prefix``: the
    keys of the strings' first bytes, each above its place in the low
    ``max(1, (n - 1).bit_length())`` bits (:func:`row_prefix_keys` with those ``row_bits``;
    one per string sorted; sorted here in place), and how many bytes they cover, when the
    caller has them: their sort is the first round.
    """
    n = s.len() if rows is None else rows.size
    if n < MIN_ROWS:
        return None
    track = positions and rows is not None  # positions differ from the rows sorted
    if prefix is None or n < 2:  # (with prefix keys, made by their sort below)
        idx = np.arange(n, dtype=np.int64) if rows is None else rows.astype(np.int64)
        along = np.arange(n, dtype=np.int64) if track else _NONE
    if n < 2:
        return (idx, along if track else idx) if positions else idx
    views, bases, data = string_views(s)
    stack = [(0, n, 0)]
    small: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if prefix is not None:
        ib = max(1, (n - 1).bit_length())
        keys = prefix[0]  # (packed with the places by the caller)
        _sort.sort_keys(keys, ib)
        sel = keys & ((1 << ib) - 1)
        # rows[sel] in threads (NumPy's fancy index takes twice as long)
        idx = sel if rows is None else _k.take(rows, sel)
        along = sel if track else _NONE
        stack = _ties(keys, ib, 0, prefix[1], small)
    rounds = 0
    while stack:
        lo, hi, pos = stack.pop()
        rounds += 1
        if rounds > _MAX_RUNS or len(stack) + 1 > _MAX_TIES:  # (this one and those waiting)
            return None
        ib = max(1, int(hi - lo - 1).bit_length())
        ranges = [(lo + a, lo + b) for a, b in _parallel.row_ranges(hi - lo)]
        counts = np.zeros((len(ranges), _POSITIONS, 257), np.int64)  # one table per thread
        args = [(a, b, views, bases, data, idx, pos, counts[q]) for q, (a, b) in enumerate(ranges)]
        _parallel.in_threads(_symbol_counts, args)
        ranks, radix, ended = _plan(counts.sum(axis=0), 62 - ib)
        if radix.size == _POSITIONS and not ended and (radix == 1).all():
            stack.append((lo, hi, pos + _POSITIONS))  # every one shares these bytes: no key
            continue
        keys = np.empty(hi - lo, np.int64)
        args = [(a, b, views, bases, data, idx, lo, pos, ranks, radix, ib, keys) for a, b in ranges]
        _parallel.in_threads(_keys, args)
        _sort.sort_keys(keys, ib)
        sel = keys & ((1 << ib) - 1)
        idx[lo:hi] = idx[lo:hi][sel]
        if along.size:
            along[lo:hi] = along[lo:hi][sel]
        if not ended:  # else every string ended: distinct strings have distinct keys
            stack += _ties(keys, ib, lo, pos + radix.size, small)
    if small:
        lo_s, hi_s, pos_s = (np.concatenate(x) for x in zip(*small))
        _sort_small(views, bases, data, idx, along, lo_s, hi_s, pos_s)
    if not positions:
        return idx
    return idx, (along if track else idx)



def _ties(
    keys: np.ndarray, ib: int, lo: int, pos: int, small: list
) -> list[tuple[int, int, int]]:
    """The runs of sorted ``keys`` (rows ``lo + i``) equal above their low ``ib`` bits that
    are still to be ordered from byte ``pos`` on: the large ones returned, the small ones
    appended to ``small`` (found from the few adjacent equal pairs)."""
    pair = np.flatnonzero((keys[1:] ^ keys[:-1]) >> ib == 0)  # keys[i] ties keys[i + 1]
    if pair.size == 0:
        return []
    new = np.flatnonzero(np.diff(pair) != 1) + 1  # pairs that start a run
    run_lo = pair[np.concatenate(([0], new))] + lo
    run_hi = pair[np.concatenate((new - 1, [pair.size - 1]))] + lo + 2
    big = run_hi - run_lo > _SMALL
    if (~big).any():
        lo_s, hi_s = run_lo[~big], run_hi[~big]
        small.append((lo_s, hi_s, np.full(lo_s.size, pos, np.int64)))
    return [(int(a), int(b), pos) for a, b in zip(run_lo[big], run_hi[big])]


@njit(cache=True, nogil=True)
def _screen(lo, hi, views, bases, data, longest, flags, count):  # pragma: no cover - numba
    """``flags[i]`` = 1 unless string ``i`` (of ``lo:hi``) is longer than ``longest`` bytes
    and starts and ends with a printable ASCII character other than a space (such a string
    is neither surrounded by whitespace nor a placeholder); ``count[0]``: the number
    flagged."""
    k = 0
    for i in range(lo, hi):
        a, n = _at(views, bases, i)
        f = 1
        if n > longest:
            c0 = data[a]
            c1 = data[a + n - 1]
            if 0x21 <= c0 <= 0x7E and 0x21 <= c1 <= 0x7E:
                f = 0
        flags[i] = f
        k += f
    count[0] = k


def may_need_cleaning(s: pl.Series, longest: int) -> pl.Series | None:
    """The null-free strings of ``s`` that might be surrounded by whitespace (any Unicode
    space or NUL) or be a placeholder of at most ``longest`` bytes, or ``None`` if no string
    might: an exact screen in one pass over the bytes where polars keeps them
    (:func:`string_views`), in threads, so that the text checks run on those few strings
    only (below :data:`MIN_ROWS` strings: ``s`` itself, unscreened)."""
    if s.len() < MIN_ROWS:
        return s
    known = s.drop_nulls() if s.null_count() else s
    place = string_views(known)
    flags = np.empty(known.len(), np.uint8)
    ranges = _parallel.row_ranges(flags.size)
    count = np.zeros((len(ranges), 8), np.int64)  # a cache line per thread
    args = [(a, b, *place, longest, flags, count[q]) for q, (a, b) in enumerate(ranges)]
    _parallel.in_threads(_screen, args)
    if count[:, 0].sum() == 0:
        return None
    return known.filter(pl.Series(flags.view(np.bool_)))
