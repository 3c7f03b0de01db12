"""Sorting int64 keys: NumPy's sort, or where that is slow (AMD Zen 4 with AVX-512), the
radix sort of :mod:`recurct._radix` for tables of :data:`_RADIX_MIN` exams or more.

:data:`NUMPY_SORT_SLOW` is decided once, at import, from the CPU NumPy found
(:func:`zen4_avx512`); :func:`radix_sorts` decides per table; :func:`sort_keys`,
:func:`sort_parts` and :func:`sort_ranges` sort.
"""

from __future__ import annotations

import numpy as np

from recurct import _radix
from recurct._jit import njit
from recurct._parallel import balanced, in_threads, pool, row_ranges, scatter_layout, threads_for


@njit(cache=True, nogil=True)
def _minmax(i0, i1, a, out):  # pragma: no cover - numba
    """``out[:] = [min, max]`` of the non-empty ``a[i0:i1]``."""
    mn = a[i0]
    mx = a[i0]
    for i in range(i0 + 1, i1):
        v = a[i]
        mn = min(mn, v)
        mx = max(mx, v)
    out[0] = mn
    out[1] = mx


def minmax_int(a: np.ndarray) -> tuple[int, int]:
    """Smallest and largest value of a non-empty int64 array (row ranges in threads)."""
    ranges = row_ranges(a.size)
    out = np.empty((len(ranges), 2), np.int64)
    in_threads(_minmax, [(lo, hi, a, out[q]) for q, (lo, hi) in enumerate(ranges)])
    return int(out[:, 0].min()), int(out[:, 1].max())


def cpu_fields(cpuinfo: str) -> dict[str, str]:
    """The fields of the first processor described in the text of ``/proc/cpuinfo``."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            break  # the end of the first processor's block
        fields.setdefault(key.strip(), value.strip())
    return fields


def zen4_avx512(features: dict[str, bool], cpuinfo: str) -> bool:
    """Whether NumPy, with the CPU ``features`` it found (``__cpu_features__``), sorts int64
    with its AVX-512 code on an AMD Zen 4 CPU (x86 family 0x19 = 25, from the text of
    ``/proc/cpuinfo``), where that code is several times slower than NumPy's AVX2 code (see
    :mod:`recurct._radix`)."""
    if not features.get("AVX512_SKX", False):
        return False
    fields = cpu_fields(cpuinfo)
    return fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"


def _numpy_cpu_features() -> dict[str, bool]:
    """The CPU features NumPy found (NumPy 2: ``numpy._core``; 1.26: ``numpy.core``)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - NumPy < 2 (1.26 sorts as slowly on Zen 4)
        from numpy.core._multiarray_umath import __cpu_features__
    return __cpu_features__


def _numpy_sort_slow() -> bool:
    """:func:`zen4_avx512` of this machine (Linux; elsewhere ``False``)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return zen4_avx512(_numpy_cpu_features(), f.read(8192))
    except (ImportError, OSError):  # pragma: no cover - not Linux, or no feature table
        return False


#: NumPy's sort is slow on this CPU (:func:`_numpy_sort_slow`): recurct's large sorts of
#: int64 keys then go through the radix kernels of :mod:`recurct._radix`
NUMPY_SORT_SLOW = _numpy_sort_slow()

_RADIX_ONE_RANGE = 1 << 15  # keys sorted as one range (in cache) below this many
#: fewer keys than this (a table of fewer exams): NumPy's sort even where it is slow. The radix
#: kernels then are not compiled on a small table's first call (0.7-1.0 s of compiling on the
#: Zen 4 VM); warm, NumPy's sort costs there up to 1-2 ms more (random integer ids, all three
#: outputs, seed 1: 65,000 exams 6.0-6.6 ms against 4.8-5.0 ms with the radix sort, 30,000
#: exams 2.7-2.9 against 2.2-2.4 ms; 10^5 exams, seed 0: 7.6-7.8 against 6.3-6.6 ms).
_RADIX_MIN = 1 << 16


def radix_sorts(n: int) -> bool:
    """Whether ``n`` keys (of a table of ``n`` exams) are sorted by the radix sort
    (:data:`NUMPY_SORT_SLOW` and at least :data:`_RADIX_MIN` of them)."""
    return NUMPY_SORT_SLOW and n >= _RADIX_MIN


def sort_keys(keys: np.ndarray, lo: int = 0) -> None:
    """Sort int64 ``keys`` in place, as ``keys.sort()``.

    ``lo``: the keys' low ``lo`` bits already ascend along the array wherever the bits above
    are equal (keys ``(value << lo) | row``, rows ascending), so only the bits above decide.
    NumPy's sort, or where that is slow, for :data:`_RADIX_MIN` keys or more
    (:func:`radix_sorts`), a radix sort: a stable split into buckets by the top varying bits
    (row ranges in threads), then each bucket, in cache, by least-significant-digit passes
    over the bits between (buckets in threads).
    """
    n = keys.size
    if not radix_sorts(n) or n < 2:
        keys.sort()
        return
    mn, mx = minmax_int(keys)
    if mn < 0:  # (recurct's keys are not negative)
        keys.sort()
        return
    bits = ((mn >> lo) ^ (mx >> lo)).bit_length()  # the varying bits above ``lo``
    if bits == 0:  # (the keys ascend already)
        return
    if n <= _RADIX_ONE_RANGE or bits <= _radix.DIGIT_BITS:
        _radix.lsd_ranges(0, 1, np.array([0, n], np.int64), keys, keys, lo, bits)
        return
    mb = min(bits, _radix.DIGIT_BITS + 3, max(1, (n >> 13).bit_length()))  # ~8,000 a bucket
    sh = lo + bits - mb
    ranges = row_ranges(n)
    counts = np.zeros((len(ranges), 1 << mb), np.int64)
    mask = (1 << mb) - 1
    in_threads(_radix.msd_counts, [(a, b, keys, sh, mask, counts[q])
                                   for q, (a, b) in enumerate(ranges)])  # fmt: skip
    starts, cursors = scatter_layout(counts)
    tmp = np.empty(n, np.int64)
    in_threads(_radix.msd_scatter, [(a, b, keys, sh, mask, cursors[q], tmp)
                                    for q, (a, b) in enumerate(ranges)])  # fmt: skip
    bb = balanced(starts, len(ranges))
    in_threads(_radix.lsd_ranges, [(bb[q], bb[q + 1], starts, tmp, keys, lo, bits - mb)
                                   for q in range(len(ranges))])  # fmt: skip


def sort_parts(keys: np.ndarray, bounds: np.ndarray, lo: int = 0) -> None:
    """Sort ``keys[bounds[q]:bounds[q+1]]`` in place, in parallel threads (NumPy's SIMD sort
    releases the GIL); where NumPy's sort is slow (:func:`radix_sorts` of all the keys), each
    by :func:`sort_keys` in turn (``lo`` as there; a part under :data:`_RADIX_MIN` keys by
    NumPy's sort)."""
    parts = [keys[bounds[q] : bounds[q + 1]] for q in range(bounds.size - 1)]
    if radix_sorts(keys.size):
        for part in parts:
            sort_keys(part, lo)
        return
    k = min(len(parts), threads_for(keys.size))
    if k == 1:
        for part in parts:
            part.sort()
        return
    list(pool(k).map(np.ndarray.sort, parts))


def sort_ranges(keys: np.ndarray, bounds: np.ndarray, b0: int, b1: int, lo: int, bits: int) -> None:
    """Sort ``keys[bounds[b]:bounds[b+1]]`` in place for ``b`` in ``b0:b1``, in this thread
    (the caller's threads take other ranges), each range's keys varying only in bits
    ``lo:lo + bits`` above low bits that ascend already: NumPy's sort, or where that is slow,
    for :func:`radix_sorts` of all the keys (the table's exams), one radix pass over the
    ranges (:func:`recurct._radix.lsd_ranges`; ranges of the grouping's parts sit in cache)."""
    if radix_sorts(keys.size):
        _radix.lsd_ranges(b0, b1, bounds, keys, keys, lo, bits)
        return
    for b in range(b0, b1):
        keys[bounds[b] : bounds[b + 1]].sort()
