"""Numba radix sorts of int64 keys, for CPUs where NumPy's sort is slow.

NumPy sorts 64-bit integers with x86-simd-sort, and on a CPU with AVX-512 it takes that
library's AVX-512 code. On AMD Zen 4 (family 0x19) the memory form of AVX-512's compress
instruction, which that code's partition step uses on every vector, is microcoded ("avoid the
memory destination form of COMPRESS instructions", AMD's Software Optimization Guide for the
Zen 4 microarchitecture, 57647, section 2.11.2): NumPy's sort there runs several times slower
than its own AVX2 code (numpy/numpy pull request 32690's discussion; numpy/x86-simd-sort
issue 6; OpenJDK turned its AVX-512 sort off on that family, JDK-8317976). Measured on a
2-core AMD EPYC (Zen 4) VM: 10^7 random int64 keys, ``ndarray.sort`` 0.64 s (0.12 s with
NumPy's AVX-512 turned off by ``NPY_DISABLE_CPU_FEATURES``); 1,270 parts of about 8,000
keys each, 0.24 s (0.07 s). :func:`recurct._sort.sort_keys` and the part sort of
:func:`recurct.kernels.group_stats` use these kernels there instead
(:data:`recurct._sort.NUMPY_SORT_SLOW`); elsewhere NumPy's sort.

The keys recurct sorts carry their position in their low bits (``(key << bits) | row``, row
ascending along the array) or are already in order in those bits wherever the bits above
tie; so a stable sort by the bits above (``lo``) is a full sort, and those low bits need no
pass. Least-significant-digit passes of at most 11 bits (a count table in L1 cache), over
ranges small enough to sit in cache; a large array is first split, stably, into buckets by
its top bits (:func:`msd_counts`, :func:`msd_scatter`). The result equals ``np.sort``'s.
"""

from __future__ import annotations

import numpy as np

from recurct._jit import njit

#: widest digit of one pass: its count table (2^11 int64) stays in L1 cache
DIGIT_BITS = 11
#: count-table size for any key (at most six passes of 11 bits over 63 bits)
COUNT_SIZE = 6 << DIGIT_BITS


# inlined into its one caller: 0.07-0.1 s less compilation on a first call than a function
# of its own (0.66-0.69 against 0.73-0.77 s, numba started)
@njit(cache=True, nogil=True, inline="always")
def lsd(src, s0, dst, d0, n, lo, bits, buf, count):  # pragma: no cover - numba
    """Stable sort of ``src[s0:s0 + n]`` into ``dst[d0:d0 + n]`` by key bits
    ``lo:lo + bits`` (ties keep their order), least significant digit first, through
    ``buf`` (at least ``n`` long) and ``count`` (:data:`COUNT_SIZE`): even passes into
    ``buf``, odd ones into ``dst`` (``src`` may be ``dst``: it is read by the first pass
    only; with no pass, ``bits <= 0`` or ``n < 2``, it is copied as it is)."""
    passes = (bits + DIGIT_BITS - 1) // DIGIT_BITS if n > 1 else 0
    w = (bits + passes - 1) // passes if passes else 0
    nb = 1 << w
    mask = np.int64(nb - 1)
    for c in range(passes * nb):
        count[c] = 0
    for i in range(s0, s0 + n):  # every pass's histogram in one read
        k = src[i] >> lo
        for p in range(passes):
            count[p * nb + ((k >> (p * w)) & mask)] += 1
    for p in range(passes):  # exclusive prefix sums: each digit's first slot
        total = 0
        for c in range(p * nb, p * nb + nb):
            x = count[c]
            count[c] = total
            total += x
    for p in range(passes):
        sh = lo + p * w
        off = p * nb
        if p % 2 == 0:
            frm = src if p == 0 else dst
            f0 = s0 if p == 0 else d0
            for i in range(f0, f0 + n):
                k = frm[i]
                c = off + ((k >> sh) & mask)
                buf[count[c]] = k
                count[c] += 1
        else:
            for i in range(n):
                k = buf[i]
                c = off + ((k >> sh) & mask)
                dst[d0 + count[c]] = k
                count[c] += 1
    if passes % 2 == 1:  # ended in buf
        for i in range(n):
            dst[d0 + i] = buf[i]
    elif passes == 0:
        for i in range(n):
            dst[d0 + i] = src[s0 + i]


@njit(cache=True, nogil=True)
def msd_counts(i0, i1, keys, sh, mask, counts):  # pragma: no cover - numba
    """Keys of rows ``i0:i1`` in each bucket ``(key >> sh) & mask``."""
    for i in range(i0, i1):
        counts[(keys[i] >> sh) & mask] += 1


@njit(cache=True, nogil=True)
def msd_scatter(i0, i1, keys, sh, mask, cursor, out):  # pragma: no cover - numba
    """Stable scatter of rows ``i0:i1`` into their buckets of ``out``, at ``cursor[bucket]``."""
    for i in range(i0, i1):
        k = keys[i]
        c = (k >> sh) & mask
        out[cursor[c]] = k
        cursor[c] += 1


@njit(cache=True, nogil=True)
def lsd_ranges(b0, b1, starts, src, dst, lo, bits):  # pragma: no cover - numba
    """:func:`lsd` of each range ``src[starts[b]:starts[b + 1]]`` (``b0:b1``) into ``dst`` at
    the same place (``src`` may be ``dst``: each range sorted where it is)."""
    big = 0
    for b in range(b0, b1):
        big = max(big, starts[b + 1] - starts[b])
    buf = np.empty(big, np.int64)
    count = np.empty(COUNT_SIZE, np.int64)
    for b in range(b0, b1):
        a = starts[b]
        lsd(src, a, dst, a, starts[b + 1] - a, lo, bits, buf, count)
