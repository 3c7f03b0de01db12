"""Numba kernels over plain arrays: grouping, per-patient totals, crossings, windows.

Everything here is private to :mod:`recurct.cumulative`, which checks and converts the
input. The kernels take plain NumPy arrays with fixed dtypes, so each compiles once and is
cached on disk (``cache=True``):

* ``codes`` -- dense patient codes ``0..P-1`` (int64), every code present at least once;
* ``t`` -- exam timestamps (int64, any unit, or a ``Date``'s int32 days as they are;
  ``upd`` units make one calendar day);
* ``dose`` -- effective doses in mSv (float64).

Grouping (:func:`group`, :func:`group_stats`) builds on the measurements in
benchmarks/BASELINE.md (NumPy's SIMD sort of packed integer keys beats argsort and lexsort; a
counting sort wins only in cache; fresh allocations page-fault): the exams are scattered, by a
threaded histogram and stable scatter, into parts of consecutive patient codes small enough to
sit in cache (about 2^13 exams); each part's packed keys ``(code, day or time, index within
the part)`` are sorted by ``np.sort`` (where NumPy's sort is slow, AMD Zen 4: by a radix
sort; :mod:`recurct._sort` chooses) and decoded in cache, and for the patients table
summarised there too, so no time-ordered copy of the exams is written, and the memory of
each part is given back to the system once it is summarised (:func:`release`). Sorted input
is recognised in one threaded pass and not regrouped; ids already in ascending order need no
codes at all (:func:`sorted_runs`, :func:`sorted_stats`: the patients are found inside the
statistics kernels, which read their exams where they are, row by row with selects rather
than patient by patient with branches, then search only the few patients whose CED reaches
a threshold or whose follow-up a window). Ties in time keep input order.
Per-patient sums are accumulated sequentially in float64 in time order (never from a global
cumulative sum), compensated (:func:`_neumaier_add`, the one summation rule of recurct): the
correctly rounded sum of the doses, so that no result depends on the order of exams at the
same time or on the path (totals only, sorted, grouped, out of core). (The grouping replaces
DESIGN.md's one global sort of ``(code << bits) | row``: at 10^7 random exams the grouping
took 0.14 s instead of 0.25 s, and the key now fits 63 bits up to about 10^9 exams.)

Cold start: every kernel is a serial ``nogil`` function compiled on first use for one
dtype signature (the wrapper converts the input); the per-patient loops run on ranges of
patients in Python threads (:func:`recurct._parallel.run_chunks`) instead of
``parallel=True``, which took
most of the compilation time of a first call. No kernel reduces across patients, so results
do not depend on the number of threads (``numba.get_num_threads()``).

Size: about 1,400 lines by count, not by job: about 30 short kernels (10-40 lines each, one
loop apiece; the per-patient statistics about 100) with one job, the engine's passes over plain
arrays, and their thin wrappers. The threads they run in are :mod:`recurct._parallel`'s, the
sorts of int64 keys :mod:`recurct._sort`'s, the string-ID kernels :mod:`recurct._strings`'.
(The grouping and statistics, about half, could become a module of their own.)
"""

from __future__ import annotations

import ctypes
import math
import mmap
import sys
from typing import NamedTuple

import numba
import numpy as np

from recurct._jit import njit
from recurct._parallel import (
    balanced,
    in_threads,
    pool,
    row_ranges,
    run_chunks,
    scatter_layout,
    threads_for,
)
from recurct._sort import sort_parts, sort_ranges

_INSERTION_MAX = 64  # longer segments are sorted with a stable merge sort


@njit(cache=True, inline="always")
def _day(t: int, upd: int) -> int:
    """Calendar day (floor division) of timestamp ``t`` with ``upd`` units per day."""
    if upd == 1:
        return t
    return t // upd


@njit(cache=True, nogil=True, inline="always")
def _neumaier_add(s: float, c: float, x: float) -> tuple[float, float]:  # pragma: no cover
    """``s + x`` with Neumaier's compensation: the new rounded sum ``s`` and the running
    compensation ``c`` (the rounding errors of the additions so far, each found exactly);
    the sum is ``s + c``, rounded once. Each error is found by Knuth's TwoSum, branch-free:
    the same exact error as Neumaier's branch on ``|s| >= |x|``, bit for bit, but faster
    where that branch is unpredictable (a new patient's first exam: ``s = 0``). On one
    thread, 10^7 exams of 5.2 million patients: the sorted rows' pass (:func:`_run_rows`)
    took 28 ms against 30-31 with the branch (26 uncompensated), the scatter of totals 221-230
    ms against 243-258 (170-173 uncompensated).

    recurct's one rule for summing doses (a patient's CED, running CED, a window's or a
    period's sum). Adding the doses one by one in turn rounds at every step: 0.1, 0.3 and
    99.6 add up to 100.0 or to 99.99999999999999 depending on the order. Compensated, over
    n doses >= 0 whose sum is S and smallest nonzero dose m, with n * S <= 2^53 * m (10^4
    exams of a CED of 10^4 mSv: any dose from 1.2e-8 mSv up), every rounding error is a
    multiple of the ulp of m and ``c`` holds their sum exactly, so ``s + c`` is the
    correctly rounded sum of the given float64 values (``math.fsum``'s), whatever their
    order, and so is each running sum (which therefore never decreases). Outside that range
    (2.3e-55 beside 119.2) it is within an ulp of it. (The tests compare with
    ``math.fsum``; a compiler may not reassociate these additions: no ``fastmath``.)
    """
    t = s + x
    z = t - s
    c += (s - (t - z)) + (x - z)
    return t, c


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _scan_doses(i0, i1, d, out):  # pragma: no cover - numba
    """``out[0]``: index of the first dose of ``d[i0:i1]`` that is negative, NaN or infinite
    (-1 if none); ``out[1]``: the sum of the doses (when all are fine), added in any order
    (``reassoc``: the loop vectorises; the sum only tells whether it overflows)."""
    block = 4096
    total = 0.0
    out[0] = -1.0
    for s in range(i0, i1, block):
        e = min(s + block, i1)
        x = d[s:e]
        part = 0.0
        bad = 0
        for i in range(x.size):  # branch-free test and sum of a block (a slice: vectorises)
            v = x[i]
            bad |= (v < 0.0) | (v != v)
            part += v
        if bad or not part < np.inf:  # a bad dose, an infinite one, or the sum overflows
            for i in range(s, e):
                v = d[i]
                if not ((v >= 0.0) and (v < np.inf)):
                    out[0] = i
                    return
        total += part
    out[1] = total


def first_bad_dose(d: np.ndarray) -> tuple[int, float]:
    """Index of the first dose that is negative, NaN or infinite (-1 if none) and the sum
    of the doses (meaningful when there is none); row ranges in threads."""
    ranges = row_ranges(d.size)
    out = np.zeros((len(ranges), 2))
    in_threads(_scan_doses, [(lo, hi, d, out[q]) for q, (lo, hi) in enumerate(ranges)])
    bad = out[:, 0][out[:, 0] >= 0]
    if bad.size:
        return int(bad[0]), math.nan
    with np.errstate(over="ignore"):  # the threads' finite sums may overflow together: inf
        return -1, float(out[:, 1].sum())


@njit(cache=True, nogil=True)
def _mark(i0, i1, ids, offset, present):  # pragma: no cover - numba
    """``present[v - offset] = 1`` for every value ``v`` of ``ids[i0:i1]``."""
    for i in range(i0, i1):
        present[ids[i] - offset] = 1


def presence(ids: np.ndarray, offset: int, size: int) -> tuple[np.ndarray, int]:
    """Flags ``present[v - offset] = 1`` (uint8) for every value ``v`` of ``ids``, and their
    count (row ranges in threads: they only ever write ones)."""
    present = np.zeros(size, np.uint8)
    run_chunks(_mark, ids.size, ids, offset, present)
    return present, int(np.count_nonzero(present))


@njit(cache=True)
def dense_mapping(present):  # pragma: no cover - numba
    """Dense code of each present value: exclusive prefix sum of the flags."""
    mapping = np.empty(present.size, np.int64)
    count = 0
    for k in range(present.size):
        mapping[k] = count
        count += present[k]
    return mapping


@njit(cache=True)
def remap(ids, offset, mapping):  # pragma: no cover - numba
    """``mapping[ids - offset]``."""
    out = np.empty(ids.size, np.int64)
    for i in range(ids.size):
        out[i] = mapping[ids[i] - offset]
    return out


@njit(cache=True)
def packed_ids(ids, mn, rb, low, nb):  # pragma: no cover - numba
    """Keys ``((ids[i] - mn) & (2^low - 1)) << rb | i`` scattered (stably) into ``nb`` buckets
    by ``(ids[i] - mn) >> low``; returns ``(keys, bounds)``: each bucket sorted, the keys
    order rows by id, ties by row."""
    n = ids.size
    bounds = np.zeros(nb + 1, np.int64)
    for i in range(n):
        bounds[((ids[i] - mn) >> low) + 1] += 1
    for b in range(nb):
        bounds[b + 1] += bounds[b]
    cursor = bounds[:-1].copy()
    keys = np.empty(n, np.int64)
    lowmask = (np.int64(1) << low) - 1
    for i in range(n):
        v = ids[i] - mn
        b = v >> low
        keys[cursor[b]] = ((v & lowmask) << rb) | i
        cursor[b] += 1
    return keys, bounds


@njit(cache=True)
def codes_of_sorted(keys, bounds, rb, low, mn, codes, uniq):  # pragma: no cover - numba
    """Dense codes of the rows of sorted :func:`packed_ids` buckets (``codes[row]``), the
    distinct ids in ascending order (``uniq[:count]``); returns their count."""
    mask = (np.int64(1) << rb) - 1
    count = 0
    prev = np.int64(-1)
    for b in range(bounds.size - 1):
        for i in range(bounds[b], bounds[b + 1]):
            key = keys[i]
            v = (np.int64(b) << low) | (key >> rb)
            if count == 0 or v != prev:
                uniq[count] = v + mn
                count += 1
                prev = v
            codes[key & mask] = count - 1
    return count


@njit(cache=True)
def first_rows(codes, n_patients):  # pragma: no cover - numba
    """A row index of each patient code (the last one in input order)."""
    rows = np.empty(n_patients, np.int64)
    for i in range(codes.size):
        rows[codes[i]] = i
    return rows


@njit(cache=True)
def partition_keys(codes, t, tmin, tb, rb, n_patients, nparts):  # pragma: no cover - numba
    """Packed keys split into ``nparts`` ranges of patient codes, to be sorted independently.

    The key is ``(code << (tb + rb)) | ((t - tmin) << rb) | row`` (``tb = 0``: no time).
    Part ``q`` holds codes ``c`` with ``c * nparts // n_patients == q``, so the parts,
    each sorted, concatenate to the sorted array. Returns ``(keys, bounds)``.
    """
    n = codes.size
    counts = np.zeros(nparts + 1, np.int64)
    for i in range(n):
        counts[codes[i] * nparts // n_patients + 1] += 1
    for q in range(nparts):
        counts[q + 1] += counts[q]
    bounds = counts.copy()
    keys = np.empty(n, np.int64)
    for i in range(n):
        q = codes[i] * nparts // n_patients
        key = codes[i] << (tb + rb) | i
        if tb > 0:
            key |= (t[i] - tmin) << rb
        keys[counts[q]] = key
        counts[q] += 1
    return keys, bounds


@njit(cache=True)
def key_boundaries(keys, rb, n_patients):  # pragma: no cover - numba
    """Segment starts of sorted packed keys (``starts[P] = N``)."""
    n = keys.size
    starts = np.empty(n_patients + 1, np.int64)
    starts[n_patients] = n
    for i in range(n):
        c = keys[i] >> rb
        if i == 0 or (keys[i - 1] >> rb) != c:
            starts[c] = i
    return starts


@njit(cache=True, nogil=True)
def _unpack_gather(i0, i1, keys, mask, t, dose, t_out, d_out):  # pragma: no cover - numba
    """Turn sorted keys ``i0:i1`` into row numbers in place and gather ``t`` and ``dose``."""
    for i in range(i0, i1):
        r = keys[i] & mask
        keys[i] = r
        t_out[i] = t[r]
        d_out[i] = dose[r]


@njit(cache=True, nogil=True)
def _sort_segments(p0, p1, starts, t, d, order):  # pragma: no cover - numba
    """Stable sort of segments ``p0:p1`` by ``t``, moving ``d`` and ``order`` along, in place."""
    for p in range(p0, p1):
        a = starts[p]
        b = starts[p + 1]
        if b - a > _INSERTION_MAX:
            sorted_already = True
            for j in range(a + 1, b):
                if t[j] < t[j - 1]:
                    sorted_already = False
                    break
            if not sorted_already:
                perm = np.argsort(t[a:b], kind="mergesort") + a
                tt = t[perm]
                dd = d[perm]
                oo = order[perm]
                t[a:b] = tt
                d[a:b] = dd
                order[a:b] = oo
            continue
        for j in range(a + 1, b):
            tj = t[j]
            if t[j - 1] <= tj:
                continue
            dj = d[j]
            oj = order[j]
            k = j - 1
            while k >= a and t[k] > tj:
                t[k + 1] = t[k]
                d[k + 1] = d[k]
                order[k + 1] = order[k]
                k -= 1
            t[k + 1] = tj
            d[k + 1] = dj
            order[k + 1] = oj


@njit(cache=True, nogil=True)
def _part_stats(  # pragma: no cover - numba
    b0, b1, part_start, keys, tmin, tb, lb, d_part, t_part, row_of, starts, upd, thresholds,
    windows,
    n_out, ced_out, first_day, last_day, followup, cross_exams, cross_days, cross_date,
    cross_pos, wmax, wstart,
):
    """Per-patient totals, threshold crossings and sliding-window maxima of the sorted parts
    ``b0:b1`` of :func:`_scatter_parts` (part ``b``: packed keys
    ``keys[part_start[b]:part_start[b + 1]]``, ``d_part`` the doses in part order), each
    decoded into small buffers (in cache): times from the key, doses by the index within the
    part, ``starts`` of its patients, and input rows (from ``row_of``, if not empty) written
    back into ``keys``; then :func:`_segment_stats` of its patients. ``thresholds`` must be
    ascending. With ``starts`` empty (no caller needs them), each part's starts are kept in a
    small buffer instead.
    """
    big = 0
    for b in range(b0, b1):
        big = max(big, part_start[b + 1] - part_start[b])
    tbuf = np.empty(big, np.int64)
    dbuf = np.empty(big, np.float64)
    rbuf = np.empty(big if row_of.size > 0 else 0, np.int64)
    local = starts.size == 0
    sbuf = np.empty(big + 1 if local else 0, np.int64)  # a part has at most ``big`` patients
    for b in range(b0, b1):
        a0 = part_start[b]
        e0 = part_start[b + 1]
        if a0 == e0:
            continue
        for i in range(a0, e0):
            if rbuf.size:
                rbuf[i - a0] = row_of[i]
        q0 = keys[a0] >> (tb + lb)
        src = d_part[a0:e0]
        tsrc = t_part[a0:e0] if t_part.size else t_part
        st = sbuf if local else starts
        soff = q0 if local else 0
        q1 = _decode_part(a0, e0, keys, tmin, tb, lb, src, tsrc, rbuf, st, soff, tbuf, dbuf) + 1
        _segment_stats(q0, q1, st, soff, a0, e0, tbuf, dbuf, upd, thresholds,
                       windows, n_out, ced_out, first_day, last_day, followup,
                       cross_exams, cross_days, cross_date, cross_pos, wmax,
                       wstart)  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _segment_stats(  # noqa: C901, RUF100 - every output of each patient in turn
    q0, q1, starts, soff, base, end, tt, dd, upd, thresholds, windows,
    n_out, ced_out, first_day, last_day, followup, cross_exams, cross_days, cross_date,
    cross_pos, wmax, wstart,
):  # pragma: no cover - numba
    """The outputs of patients ``q0:q1``, whose exams (time-ordered) are ``tt``/``dd`` from
    ``starts[p - soff] - base`` to ``starts[p + 1 - soff] - base`` (``end - base`` for the
    last); doses finite and >= 0 (so the running CED never decreases: a patient whose CED
    stays below the lowest threshold crosses none, and is not searched). Outputs, per
    patient ``p``:

    * ``n_out``, ``ced_out``, ``first_day``/``last_day`` (int32 days), ``followup``;
    * for threshold ``k``: ``cross_exams[k, p]`` (1-based exam number at which the running
      CED, compensated as the CED is, first reached it, 0 if never), ``cross_days[k, p]``
      (days since first exam), ``cross_date[k, p]`` (int32 day), ``cross_pos[k, p]`` (the
      exam's index in time order, -1 if never; not written if ``cross_pos`` has no columns);
    * for window ``w``: ``wmax[w, p]`` the largest sum over exams ``i..j`` with
      ``day_j - day_i < W`` (the compensated sum of ``d[i..j]``), ``wstart[w, p]`` the
      first day of that window (the earliest such window if the sums tie exactly).

    Every sum is compensated (:func:`_neumaier_add`): the correctly rounded sum of the
    doses, the same whatever the order of a patient's exams at the same time, so the CED,
    whether and on which day it reached a threshold, and the window maxima do not depend on
    the input order of the rows.
    """
    n_thr = thresholds.size
    want_pos = cross_pos.shape[1] > 0
    for p in range(q0, q1):
        a = starts[p - soff] - base
        b = (starts[p + 1 - soff] if p + 1 < q1 else end) - base
        fd = _day(tt[a], upd)
        ld = _day(tt[b - 1], upd)
        n_out[p] = b - a
        first_day[p] = fd
        last_day[p] = ld
        followup[p] = ld - fd
        s = 0.0
        c = 0.0
        for j in range(a, b):
            s, c = _neumaier_add(s, c, dd[j])
        s += c  # the CED: the compensated sum (:func:`_neumaier_add`)
        kk = 0
        if n_thr and s >= thresholds[0]:  # (few patients)
            kk = _crossings(a, b, tt, dd, upd, thresholds, fd, p, base, cross_exams,
                            cross_days, cross_date, cross_pos)  # fmt: skip
        for k in range(kk, n_thr):
            cross_exams[k, p] = 0
            cross_days[k, p] = 0
            cross_date[k, p] = 0
            if want_pos:
                cross_pos[k, p] = -1
        ced_out[p] = s
        for w in range(windows.size):
            if ld - fd < windows[w]:  # one window holds every exam: its forward sum ``s`` is
                wmax[w, p] = s  # the largest (doses >= 0 and rounding is monotone), from
                wstart[w, p] = fd  # the first exam
            else:
                wmax[w, p], wstart[w, p] = _window_max(a, b, tt, dd, upd, windows[w], s, fd)


def _crossings_py(a, b, tt, dd, upd, thresholds, fd, p, pos0, cross_exams, cross_days,
               cross_date, cross_pos):  # pragma: no cover - numba
    """Patient ``p``'s crossings of the ascending ``thresholds`` by the running CED of its
    time-ordered exams ``tt[a:b]``/``dd[a:b]`` (first day ``fd``), as in
    :func:`_segment_stats` (``cross_pos``: ``pos0`` + the exam's index, if it has columns);
    returns how many thresholds were reached (the others are not written)."""
    n_thr = thresholds.size
    want_pos = cross_pos.shape[1] > 0
    s = 0.0
    c = 0.0
    kk = 0
    for j in range(a, b):
        s, c = _neumaier_add(s, c, dd[j])
        run = s + c  # the running CED, compensated as the CED is
        while kk < n_thr and run >= thresholds[kk]:
            dj = _day(tt[j], upd)
            cross_exams[kk, p] = j - a + 1
            cross_days[kk, p] = dj - fd
            cross_date[kk, p] = dj
            if want_pos:
                cross_pos[kk, p] = pos0 + j
            kk += 1
        if kk == n_thr:  # (the rest of the sum is not needed)
            break
    return kk


def _window_max_py(a, b, tt, dd, upd, width, s, fd):  # pragma: no cover - numba
    """``(largest sum, its first day)`` over the windows of ``width`` days of one patient's
    time-ordered exams ``tt[a:b]``/``dd[a:b]`` (CED ``s``, first day ``fd``) whose follow-up
    is ``width`` days or more (else one window holds every exam: callers test that first),
    that is over exams ``i..j`` with ``day_j - day_i < width`` (the compensated sum of
    ``d[i..j]``), and the first day of that window (the earliest window if the sums tie
    exactly). For the few patients whose follow-up reaches the window (compiled
    twice: see below).
    """
    # the running window sum ``ws`` is rounded (1.1 + 4 - 1.1 != 4): it only flags
    # candidates; a candidate within the rounding bound of the best is compared by its
    # compensated forward sum of d[i..j] (the correctly rounded sum, as the CED ``s``), so
    # ties are decided on the window's own sum (earliest start). ``ws`` is within
    # 2(b - a) roundings of at most eps/2 * s (about 1.1e-16 * s each) of the window's
    # exact sum, and ``best`` within one of the best's: ``tol`` covers both
    tol = 1e-15 * (b - a + 2) * s
    i = a
    di = fd
    ws = 0.0
    best = -1.0
    bi = a
    ei = -1  # the compensated forward sum ``es + ec`` covers d[ei..ej]
    ej = -1
    es = 0.0
    ec = 0.0
    for j in range(a, b):
        dj = _day(tt[j], upd)
        ws += dd[j]
        while dj - di >= width:
            ws -= dd[i]
            i += 1
            di = _day(tt[i], upd)
        if ws + tol < best:
            continue
        if ei != i:
            ei = i
            ej = i - 1
            es = 0.0
            ec = 0.0
        for k in range(ej + 1, j + 1):
            es, ec = _neumaier_add(es, ec, dd[k])
        ej = j
        v = es + ec
        if v > best:
            best = v
            bi = i
    return best, _day(tt[bi], upd)


# One source, two compilations each: called from :func:`_segment_stats` (inlined into its
# loop over every patient, they made that loop 20-50% slower), inlined into
# :func:`_run_searches` (called from there, they cost 0.3-0.4 s more compilation on a
# first call: the README's main job went from 1.3-1.4 to 1.4-1.6 times its warm run).
_crossings = njit(cache=True, nogil=True)(_crossings_py)
_crossings_inlined = njit(nogil=True, inline="always")(_crossings_py)
_window_max = njit(cache=True, nogil=True)(_window_max_py)
_window_max_inlined = njit(nogil=True, inline="always")(_window_max_py)


#: A row of the totals table of :func:`_scatter_totals`: 32 bytes (a row never straddles two
#: cache lines), the compensated sum ``sum + comp`` of the doses (:func:`_neumaier_add`), the
#: first and last day, the exam count. (As 5 float64 columns, 40 bytes, the scatter of 10^7
#: exams into 5.2 million rows took 221-230 ms on one thread, as this record 212-216, and
#: 170-173 the plain sum in 4 float64 columns before.)
TOTALS_ROW = np.dtype([("sum", "f8"), ("comp", "f8"), ("first", "i4"), ("last", "i4"),
                       ("n", "i8")])  # fmt: skip


@njit(cache=True, nogil=True)
def _scatter_totals(c0, c1, codes, t, d, upd, table):  # pragma: no cover - numba
    """Unsorted totals of patients ``c0:c1`` into the :data:`TOTALS_ROW` records ``table``
    in one pass over all rows (those of other patients skipped), no sort.

    The doses are added in input order, compensated (:func:`_neumaier_add`): the CED
    ``sum + comp`` is the correctly rounded sum, as in time order (so the input order does
    not matter). Branchless min/max (benchmarks/BASELINE.md section 6).
    """
    for c in range(c0, c1):
        r = table[c]
        r.sum = 0.0
        r.comp = 0.0
        r.first = np.iinfo(np.int32).max
        r.last = np.iinfo(np.int32).min
        r.n = 0
    for i in range(codes.size):
        c = codes[i]
        if c < c0 or c >= c1:
            continue
        day = np.int32(_day(t[i], upd))
        r = table[c]
        r.sum, r.comp = _neumaier_add(r.sum, r.comp, d[i])
        r.n += 1
        r.first = min(r.first, day)
        r.last = max(r.last, day)


@njit(cache=True, nogil=True)
def _totals_columns(c0, c1, table, rank, ced, n, first, last):  # pragma: no cover - numba
    """Rows ``c0:c1`` of a :func:`_scatter_totals` table as columns, row ``c`` at ``rank[c]``
    (at ``c`` if ``rank`` is empty): CED (the compensated sum), exam count, first and last
    day."""
    ranked = rank.size > 0
    for c in range(c0, c1):
        r = rank[c] if ranked else c
        row = table[c]
        ced[r] = row.sum + row.comp
        n[r] = row.n
        first[r] = row.first
        last[r] = row.last


@njit(cache=True, nogil=True)
def _running_sums(p0, p1, starts, d, running, index):  # pragma: no cover - numba
    """Running CED (compensated: :func:`_neumaier_add`) and 1-based exam number within
    patients ``p0:p1`` (time-ordered input)."""
    for p in range(p0, p1):
        s = 0.0
        c = 0.0
        a = starts[p]
        for j in range(a, starts[p + 1]):
            s, c = _neumaier_add(s, c, d[j])
            running[j] = s + c
            index[j] = j - a + 1


def group(
    codes: np.ndarray,
    t: np.ndarray,
    dose: np.ndarray,
    n_patients: int,
    time_in_key: bool = True,
    need_order: bool = True,
    upd: int = 1,
):
    """Group exams by patient code and order each patient's exams by time (ties: row order).

    Returns ``(starts, t_sorted, dose_sorted, order)`` where ``order`` holds the input row of
    each sorted exam, or is ``None`` when the input was already grouped and time-ordered
    (then ``t_sorted`` and ``dose_sorted`` are the inputs themselves) or ``need_order`` is
    false.

    The exams are scattered into parts of consecutive patient codes of about 2^13 exams each
    (a histogram and a stable scatter, both over row ranges in threads), each part's packed
    keys ``(code, time, index within the part)`` sorted by NumPy's SIMD sort while they sit
    in cache, and decoded part by part (a gather within the part, again in cache).
    Timestamps finer than a day (``upd > 1`` units per day) put a bucket of them in the key
    (``2^k`` units, a day or two; finer for a patient of many exams) and the exams of one
    patient and bucket are ordered by timestamp after decoding. When code, time
    span and index do not fit in 63 bits together (``upd=1`` with a fine unit over many
    years, or about 2^50 patients) the key is ``(code, row)`` over the whole input and each
    patient's exams are then sorted by time (insertion sort, merge sort for long segments).
    ``time_in_key=False`` forces that second way (for tests).
    """
    n = codes.size
    if n == 0:
        return np.zeros(n_patients + 1, np.int64), t, dose, None
    starts = np.empty(n_patients + 1, np.int64)
    starts[n_patients] = n
    if grouped_starts(codes, t, starts):
        return starts, t, dose, None
    got = _scatter_parts(codes, t, dose, n_patients, need_order, upd) if time_in_key else None
    if got is not None:
        part_start, keys, d_s, t_part, row_of, (tmin, tb, lb, shift), pb = got
        t_s = row_of if need_order else np.empty(n, np.int64)  # rows until decoded
        args = (part_start, keys, (lb, tb + shift), tmin, tb, lb, t_s, d_s, t_part, row_of, starts)
        in_threads(_sort_then, [(_part_decode, *pb[q : q + 2], *args) for q in range(len(pb) - 1)])
        return starts, t_s, d_s, keys if need_order else None
    return _group_by_rows(codes, t, dose, n_patients, need_order)


def _group_by_rows(codes, t, dose, n_patients, need_order):
    """:func:`group` when the packed key does not fit: ``(code, row)`` keys over the whole
    input, then each patient's exams sorted by time."""
    n = codes.size
    rb = max(1, int(n - 1).bit_length())
    nparts = max(1, min(numba.get_num_threads(), n // 100_000, n_patients))
    keys, bounds = partition_keys(codes, t, 0, 0, rb, n_patients, nparts)  # no time: tb = 0
    sort_parts(keys, bounds, rb)
    t_s = np.empty(n, np.int64)
    d_s = np.empty(n, np.float64)
    starts = key_boundaries(keys, rb, n_patients)
    unpack_gather(keys, np.int64((1 << rb) - 1), t, dose, t_s, d_s)
    sort_segments(starts, t_s, d_s, keys)
    return starts, t_s, d_s, keys if need_order else None


_PART_EXAMS_LOG2 = 13  # about 2^13 exams per part: keys (64 KiB) and doses stay in cache


def _scatter_parts(codes, t, dose, n_patients, need_order, upd=1):
    """Scatter the exams into parts of consecutive codes (see :func:`group`).

    Returns ``(part_start, keys, d_part, t_part, row_of, key_fields, part_bounds)``, the parts
    unsorted (``key_fields``: ``(tmin, tb, lb, shift)``, part ``b`` holding codes
    ``b << shift`` up to ``(b + 1) << shift``), or ``None`` when the packed key
    ``(code, time, index within the part)`` does not fit 63 bits. With ``upd > 1``
    (timestamps finer than a day) the key holds a bucket of ``2^tshift`` time units, at
    least a day (finer, as the bits allow, where a part is over 2x its size: a patient of
    many exams), and ``t_part`` the timestamps (the order within a bucket is settled after
    decoding), else ``t_part`` is empty. ``row_of`` (input rows) is empty unless ``need_order``;
    ``part_bounds`` splits the parts between threads, balanced by exams.
    """
    n = codes.size
    tmin, tmax = int(t.min()), int(t.max())  # (NumPy's: no second kernel for int32 days)
    if tmax - tmin >= 2**63:
        # ``t - tmin`` would wrap in int64 (``Datetime("ns")`` spanning over 292 years, e.g. a
        # placeholder 1900-01-01 beside a typo 2220): keys without time (the caller's
        # fallback), which order by row and then by timestamp
        return None
    # the key's time: ``(t - tmin) >> tshift``, buckets of at least a day for timestamps
    tshift = 0 if upd == 1 else int(upd - 1).bit_length()
    cb = max(1, int(n_patients - 1).bit_length())
    want_parts = max(1, n >> _PART_EXAMS_LOG2)
    shift = max(0, cb - max(0, want_parts - 1).bit_length())
    nparts = ((n_patients - 1) >> shift) + 1
    ranges = row_ranges(n)
    k = len(ranges)
    counts = np.zeros((k, nparts), np.int64)
    in_threads(
        _part_counts, [(lo, hi, codes, shift, counts[q]) for q, (lo, hi) in enumerate(ranges)]
    )
    part_start, cursors = scatter_layout(counts)
    lb = max(1, int(np.diff(part_start).max() - 1).bit_length())
    if tshift and lb > _PART_EXAMS_LOG2 + 1:
        # a part of over 2x its size (a patient of many exams): buckets as fine as the bits
        # allow, so that a patient's exams of one bucket, put in timestamp order after
        # decoding (an insertion sort), stay few (one id for a whole hospital's 1,000 exams a
        # day: 2.4 s against 0.4 s for 3.65 million exams with day buckets)
        tshift = min(tshift, max((tmax - tmin).bit_length() - (63 - cb - lb), 0))
    tb = max(1, ((tmax - tmin) >> tshift).bit_length())
    if cb + tb + lb > 63:
        return None
    keys = np.empty(n, np.int64)
    d_part = np.empty(n, np.float64)
    t_part = np.empty(n, np.int64) if upd > 1 else _NO_ORDER
    row_of = np.empty(n, np.int64) if need_order else _NO_ORDER
    in_threads(
        _part_scatter,
        [(lo, hi, codes, t, dose, tmin, tb, lb, shift, cursors[q], part_start, keys, d_part,
          row_of, tshift, t_part) for q, (lo, hi) in enumerate(ranges)],
    )  # fmt: skip
    return part_start, keys, d_part, t_part, row_of, (tmin, tb, lb, shift), balanced(part_start, k)


#: Parts summarised between two releases of the memory they used (about 2^19 exams)
_RELEASE_PARTS = 64


def _stats_releasing(b0, b1, part_start, keys, sort_bits, args, outs, dead) -> None:
    """:func:`_part_stats` of parts ``b0:b1``, :data:`_RELEASE_PARTS` at a time, each time
    giving back the pages of the arrays ``dead`` that those parts used (:func:`release`): the
    scatter's keys and doses shrink as the outputs grow, which keeps them from adding up at
    the peak."""
    for c0 in range(b0, b1, _RELEASE_PARTS):
        c1 = min(c0 + _RELEASE_PARTS, b1)
        _sort_then(_part_stats, c0, c1, part_start, keys, sort_bits, *args, *outs)
        for a in dead:
            release(a, int(part_start[c0]), int(part_start[c1]))


def _libc_madvise():  # -> the C function, or None off Linux
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return fn


_MADVISE = _libc_madvise()
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)  # (4 on Linux but Alpha)


def release(a: np.ndarray, lo: int, hi: int) -> None:
    """Give the whole memory pages inside ``a[lo:hi]`` back to the system (Linux
    ``madvise(MADV_DONTNEED)``; elsewhere nothing): their values are lost (they read as
    zeros), so only for elements never read again. The array stays valid."""
    if _MADVISE is None or hi <= lo or not a.flags.c_contiguous:  # (a strided view: no)
        return
    start = a.ctypes.data + lo * a.itemsize
    end = a.ctypes.data + hi * a.itemsize
    p0 = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    p1 = end // mmap.PAGESIZE * mmap.PAGESIZE
    if p1 > p0:
        _MADVISE(p0, p1 - p0, _MADV_DONTNEED)


def _sort_then(kernel, b0, b1, part_start, keys, sort_bits, *args) -> None:
    """Sort parts ``b0:b1`` in this thread (:func:`recurct._sort.sort_ranges`, with
    ``sort_bits = (lo, bits)``: a part's codes share their high bits and its keys' low ``lo``
    bits, the index within the part, ascend), then ``kernel`` over them."""
    sort_ranges(keys, part_start, b0, b1, *sort_bits)
    kernel(b0, b1, part_start, keys, *args)


def group_stats(
    codes, t, dose, n_patients, upd, thresholds, windows, outs, need_order, spend_codes=False
):
    """:func:`group` and :func:`patient_stats` (into ``outs``) in one call; returns
    ``(starts, order)`` as :func:`group` does (``order`` ``None`` unless ``need_order`` and
    the input was not grouped). With ``spend_codes`` (the caller reads ``codes`` no more),
    writable codes (recurct's own, not a read-only view of the input) are given back to the
    system (:func:`release`) once scattered.

    Unsorted input scattered into parts is decoded and summarised part by part while the
    part is in cache (:func:`_part_stats`): no time-ordered copy of the exams is written.
    """
    n = codes.size
    starts = np.empty(n_patients + 1, np.int64)
    starts[n_patients] = n
    if n and not grouped_starts(codes, t, starts):
        got = _scatter_parts(codes, t, dose, n_patients, need_order, upd)
        if got is not None:
            part_start, keys, d_part, t_part, row_of, (tmin, tb, lb, shift), pb = got
            if spend_codes and codes.flags.writeable:
                release(codes, 0, n)
            if not need_order:  # no caller needs the starts: each part keeps its own
                starts = _NO_ORDER
            args = (tmin, tb, lb, d_part, t_part, row_of, starts, upd, thresholds, windows)
            dead = [a for a in (d_part, t_part, row_of) if a.size]  # no one reads them later
            if not need_order:  # else the keys become the input rows of the exams
                dead.append(keys)
            bits = (lb, tb + shift)
            in_threads(_stats_releasing, [(*pb[q : q + 2], part_start, keys, bits, args, outs,
                                           dead) for q in range(len(pb) - 1)])  # fmt: skip
            return starts, keys if need_order else None
        starts, t, dose, order = _group_by_rows(codes, t, dose, n_patients, need_order)
    else:
        order = None
    if n:
        patient_stats(starts, t, dose, upd, thresholds, windows, *outs)
    return starts, order


@njit(cache=True, nogil=True)
def _part_counts(i0, i1, codes, shift, counts):  # pragma: no cover - numba
    """Exams of rows ``i0:i1`` in each part (``code >> shift``)."""
    for i in range(i0, i1):
        counts[codes[i] >> shift] += 1


@njit(cache=True, nogil=True)
def _part_scatter(  # pragma: no cover - numba
    i0, i1, codes, t, dose, tmin, tb, lb, shift, cursor, part_start, keys, d_out, row_of,
    tshift, t_out,
):
    """Stable scatter of rows ``i0:i1`` into their parts: the packed key
    ``(code, (time - tmin) >> tshift, index within the part)`` (``t_out``, when given, gets
    the timestamp: ``tshift`` > 0 only then), the dose and (if ``row_of`` is not empty) the
    input row, at ``cursor[part]``."""
    rows = row_of.size > 0
    stamps = t_out.size > 0
    for i in range(i0, i1):
        c = codes[i]
        b = c >> shift
        pos = cursor[b]
        cursor[b] = pos + 1
        ti = t[i]
        if stamps:
            t_out[pos] = ti
        keys[pos] = (c << (tb + lb)) | (((ti - tmin) >> tshift) << lb) | (pos - part_start[b])
        d_out[pos] = dose[i]
        if rows:
            row_of[pos] = i


# inlined: as a function of its own it took 0.1 s more to compile on a first call, at the same
# speed (10^7 random exams, best of 7, three pairs: 0.164-0.174 s called, 0.166-0.168 inlined)
@njit(cache=True, nogil=True, inline="always")
def _decode_part(  # pragma: no cover - numba
    a, e, keys, tmin, tb, lb, src, t_src, rows, starts, soff, t_out, d_out
):
    """Decode the sorted keys ``keys[a:e]`` of one part: exam ``i``'s time into
    ``t_out[i - a]`` (from the key, or ``t_src[index within the part]`` when given), its dose
    ``src[index]`` into ``d_out[i - a]``, its input row ``rows[index]`` into ``keys[i]`` (if
    ``rows`` is not empty) and the first exam of each of the part's patients ``c`` into
    ``starts[c - soff]``; returns the part's last code. With ``t_src`` (keys by buckets of
    time, see :func:`_scatter_parts`), each patient's exams are then put in timestamp order
    (a stable insertion sort: it moves exams only within their bucket)."""
    lmask = (np.int64(1) << lb) - 1
    tmask = (np.int64(1) << tb) - 1
    first = keys[a] >> (tb + lb)
    prev = -1
    for i in range(a, e):
        key = keys[i]
        li = key & lmask
        c = key >> (tb + lb)
        if c != prev:
            starts[c - soff] = i
            prev = c
        t_out[i - a] = t_src[li] if t_src.size else ((key >> lb) & tmask) + tmin
        d_out[i - a] = src[li]
        if rows.size:
            keys[i] = rows[li]
    if t_src.size:
        for c in range(first, prev + 1):
            s0 = starts[c - soff] - a
            s1 = (starts[c + 1 - soff] if c < prev else e) - a
            for j in range(s0 + 1, s1):
                tj = t_out[j]
                if t_out[j - 1] <= tj:
                    continue
                dj = d_out[j]
                rj = keys[a + j]
                k = j - 1
                while k >= s0 and t_out[k] > tj:
                    t_out[k + 1] = t_out[k]
                    d_out[k + 1] = d_out[k]
                    keys[a + k + 1] = keys[a + k]
                    k -= 1
                t_out[k + 1] = tj
                d_out[k + 1] = dj
                keys[a + k + 1] = rj
    return prev


@njit(cache=True, nogil=True)
def _part_decode(  # pragma: no cover - numba
    b0, b1, part_start, keys, tmin, tb, lb, t_out, d_io, t_part, row_of, starts
):
    """Decode the sorted keys of parts ``b0:b1`` in place: times into ``t_out`` (from
    ``t_part`` when given, see :func:`_decode_part`), doses
    permuted within each part (through a small buffer), input rows into ``keys`` (when
    ``row_of`` is given: the rows, stored in ``t_out`` until now), and ``starts``."""
    big = 0
    for b in range(b0, b1):
        big = max(big, part_start[b + 1] - part_start[b])
    dbuf = np.empty(big, np.float64)
    rbuf = np.empty(big if row_of.size > 0 else 0, np.int64)
    for b in range(b0, b1):
        a = part_start[b]
        e = part_start[b + 1]
        for i in range(a, e):  # (a loop: slice assignment compiles much error handling)
            dbuf[i - a] = d_io[i]
            if rbuf.size:
                rbuf[i - a] = row_of[i]
        tsrc = t_part[a:e] if t_part.size else t_part
        _decode_part(a, e, keys, tmin, tb, lb, dbuf, tsrc, rbuf, starts, 0, t_out[a:e], d_io[a:e])


@njit(cache=True, nogil=True)
def _grouped_starts(i0, i1, codes, t, starts, ok):  # pragma: no cover - numba
    """Whether rows ``i0:i1`` (and the row before) are sorted by code, then time; if so,
    their segment starts are written into ``starts``."""
    for i in range(max(i0, 1), i1):
        c0 = codes[i - 1]
        c1 = codes[i]
        if c1 < c0 or (c1 == c0 and t[i] < t[i - 1]):
            ok[0] = False
            return
        if c1 != c0:
            starts[c1] = i
    if i0 == 0:
        starts[codes[0]] = 0


def grouped_starts(codes: np.ndarray, t: np.ndarray, starts: np.ndarray) -> bool:
    """True if rows are sorted by dense code, then time (then ``starts`` holds the segment
    starts); one pass over row ranges in threads, stopping at the first row out of order."""
    n = codes.size
    if not (codes[0] == 0 and codes[n - 1] == starts.size - 2):
        return False
    ranges = row_ranges(n)
    flags = np.ones((len(ranges), 1), np.bool_)
    in_threads(
        _grouped_starts, [(lo, hi, codes, t, starts, flags[q]) for q, (lo, hi) in enumerate(ranges)]
    )
    return bool(flags.all())


@njit(cache=True, nogil=True)
def _run_count(i0, i1, ids, shift, out):  # pragma: no cover - numba
    """``out = [number of rows i of i0:i1 (i > 0) whose id (``>> shift``) differs from row
    i - 1's, 1 if some id is less than the one before]``, in blocks (slices: the loop
    vectorises), stopping at the first block that goes down."""
    count = 0
    i = max(i0, 1)
    while i < i1:
        e = min(i + 4096, i1)
        a = ids[i - 1 : e - 1]
        b = ids[i:e]
        down = 0
        for j in range(e - i):
            count += (b[j] >> shift) != (a[j] >> shift)
            down += b[j] < a[j]
        if down:
            out[1] = 1
            return
        i = e
    out[0] = count


class Runs(NamedTuple):
    """Ids in ascending order, cut into row ranges (one per thread) that each begin a run of
    equal ids: range ``q`` is rows ``cut[q]:cut[q + 1]`` and its first run is run
    ``first[q]`` (:func:`sorted_runs`)."""

    ids: np.ndarray
    cut: list[int]
    first: np.ndarray
    n_runs: int


def sorted_runs(ids: np.ndarray, shift: int = 0) -> Runs | None:
    """:class:`Runs` of int64 ``ids`` in ascending order, or ``None`` when they are not (found
    at once for unordered ids): one vectorised pass over row ranges in threads (callers screen
    a sample first: :func:`recurct.cumulative._ascending_runs`). ``shift``: runs of equal
    ``ids >> shift`` (sorted keys with the row number in their low bits)."""
    n = ids.size
    if n == 0 or ids[0] > ids[n - 1]:
        return None
    ranges = row_ranges(n)
    k = len(ranges)
    counts = np.zeros((k, 2), np.int64)
    args = [(lo, hi, ids, shift, counts[q]) for q, (lo, hi) in enumerate(ranges)]
    in_threads(_run_count, args)
    if counts[:, 1].any():
        return None
    first = np.concatenate([[0], 1 + np.cumsum(counts[:, 0])])  # run of each range's start
    first[: k][[lo == 0 for lo, _ in ranges]] = 0  # (empty ranges before row 0's)
    cut = [lo for lo, _ in ranges] + [n]
    for q in range(1, k):  # each range from the first run that begins in it
        cut[q] = run_boundary(ids, max(cut[q], cut[q - 1]), shift)
    return Runs(ids, cut, first, int(first[-1]))


def run_boundary(ids: np.ndarray, c: int, shift: int = 0) -> int:
    """The first row at or after ``c`` that begins a run of equal ``ids >> shift`` (``ids``
    ascending; ``ids.size`` if none): ``c`` itself, or found by a binary search."""
    if 0 < c < ids.size and ids[c] >> shift == ids[c - 1] >> shift:
        top = ids[c - 1] | ((1 << shift) - 1)  # its run's largest key: no overflow
        c = int(np.searchsorted(ids, top, side="right"))
    return c


def segment_codes(starts: np.ndarray) -> np.ndarray:
    """The code of every row of segments ``starts[p]:starts[p + 1]``: ``p`` (int64)."""
    return np.repeat(np.arange(starts.size - 1, dtype=np.int64), np.diff(starts))


def run_starts(runs: Runs) -> np.ndarray:
    """The first row of each run (``starts[P] = N``): in each range (a thread
    each), the rows whose id differs from the row before, by NumPy's vectorised comparison
    and ``flatnonzero`` (a scalar loop with a store per row took 50-90 ms at 10^7)."""
    ids, cut, first, n_runs = runs
    starts = np.empty(n_runs + 1, np.int64)

    def one(q: int) -> None:
        lo, hi = cut[q], cut[q + 1]
        if lo < hi:
            starts[first[q]] = lo  # a range begins a run
            rest = starts[first[q] + 1 : first[q + 1]]
            np.add(np.flatnonzero(ids[lo + 1 : hi] != ids[lo : hi - 1]), lo + 1, out=rest)

    in_threads(one, [(q,) for q in range(len(cut) - 1)])
    starts[n_runs] = ids.size
    return starts


def sorted_stats(
    runs: Runs, t, d, upd, thresholds, windows, uniq, starts, *outs, chunk: int = 1 << 16
) -> bool:
    """:func:`patient_stats` of exams whose patients are the :class:`Runs` of their ids,
    found on the way (no ``starts`` needed; written if not empty, as each run's first row;
    each run's id into ``uniq``), one range of rows per thread, in blocks of about ``chunk``
    rows that end at a patient's last exam: row by row (:func:`_run_rows`), then the
    crossings and windows (:func:`_run_searches`) while the block is in cache. (One pass of
    each over all rows took 1.5-2x as long at 10^7 sorted exams: the searched patients'
    exams, a few in each thousand rows, were then each a cache miss. The blocks are looped
    over here, not in a kernel: a kernel calling the two took 2-3 s to compile.) False
    (the outputs then incomplete) if some patient's exams are not in time order."""
    k = len(runs.cut) - 1
    ok = np.ones(k, np.bool_)
    ids = runs.ids
    search = thresholds.size + windows.size > 0
    ced, first = outs[1], outs[2]
    cx, cd, cdate, cpos, wmax, wstart = outs[5:]

    def one(r: int) -> None:
        i0, end, p0 = runs.cut[r], runs.cut[r + 1], int(runs.first[r])
        while i0 < end:
            i1 = run_boundary(ids, min(i0 + chunk, end))  # (``end`` begins a run)
            rows = slice(i0, i1)
            m = _run_rows(ids[rows], t[rows], d[rows], upd, uniq[p0:], starts[p0:],
                          *[a[p0:] for a in outs[:5]])  # fmt: skip
            if m < 0:
                ok[r] = False
                return
            if starts.size:
                starts[p0 : p0 + m] += i0  # (counted from the block's first row)
            if search:
                # the outputs of the many patients not searched, by NumPy (compiled into
                # _run_searches, these fills cost 0.2 s more compilation on a first call)
                q = slice(p0, p0 + m)
                for a, v in ((cx, 0), (cd, 0), (cdate, 0), (cpos, -1)):  # none crossed
                    a[:, q] = v
                wmax[:, q] = ced[q]  # one window holds every exam
                wstart[:, q] = first[q]
                _run_searches(t[rows], d[rows], upd, i0, p0, thresholds, windows,
                              *[a[p0 : p0 + m] for a in outs[:5]], *outs[5:])  # fmt: skip
            i0, p0 = i1, p0 + m

    in_threads(one, [(r,) for r in range(k)])
    if starts.size:
        starts[runs.n_runs] = runs.ids.size
    return bool(ok.all())


@njit(cache=True, nogil=True)
def _run_searches(
    tt, dd, upd, row0, q0, thresholds, windows, n_out, ced_out, first_day, last_day, followup,
    cross_exams, cross_days, cross_date, cross_pos, wmax, wstart,
):  # pragma: no cover - numba
    """The crossings and windows of patients ``q0:q0 + n`` (their totals ``n_out`` to
    ``followup`` already out, ``n`` of them from index 0), whose exams are ``tt``/``dd`` from
    index 0 (row ``row0`` of the whole table), as in :func:`_segment_stats`: searched only
    where the patient's CED reaches the lowest threshold, or its follow-up a window (few
    patients); the others' outputs (none crossed, one window holding every exam) are the
    caller's to write. ``thresholds`` ascending. (The loop reads views from index 0: a
    variable first index costs negative-index checks, which made such loops 2x slower.)"""
    lowest = thresholds[0] if thresholds.size else np.inf
    n = n_out.size
    a = np.int64(0)  # (not the literal 0: a second compilation of the calls below)
    for p in range(n):
        b = a + n_out[p]
        q = q0 + p
        if ced_out[p] >= lowest:
            _crossings_inlined(a, b, tt, dd, upd, thresholds, np.int64(first_day[p]), q, row0,
                               cross_exams, cross_days, cross_date, cross_pos)  # fmt: skip
        for w in range(windows.size):
            if followup[p] >= windows[w]:
                wmax[w, q], wstart[w, q] = _window_max_inlined(a, b, tt, dd, upd, windows[w],
                                                               ced_out[p],
                                                               np.int64(first_day[p]))  # fmt: skip
        a = b


@njit(cache=True, nogil=True)
def _run_rows(ids, tt, dd, upd, uniq, starts, n_out, ced_out, first_day, last_day,
              followup) -> int:  # pragma: no cover - numba
    """The first pass of :func:`sorted_stats`: each row of ``ids``/``tt``/``dd`` rewrites its
    patient's id, first row (counted from row 0 of these views; if ``starts`` is not empty),
    exam count, CED, first and last day and follow-up so far, choosing by selects, not
    branches, whether it begins a patient (patient 0 at row 0). Returns how many patients,
    or -1 at once at a patient's exams out of time order.

    A patient-by-patient loop ends each patient's loops after a varying number of rows, a
    mispredicted branch or more a patient (most patients of a large table have one or two
    exams). 10^7 sorted exams on one thread: 14-15 ms this way, against 60-65 ms for the
    same outputs patient by patient. Keep this loop's shape: indices from 0 in views (with
    the loop from a variable first row, the negative-index checks of the indexing took it to
    50 ms; ``prev_id`` set by a conditional expression, to 30 ms).
    """
    n = ids.size
    if n == 0:
        return 0
    want_starts = starts.size > 0
    p = -1
    s = 0.0
    c = 0
    fd = 0
    a = 0
    cs = 0.0  # the compensation of ``s`` (:func:`_neumaier_add`)
    prev_id = ids[0]
    prev_t = tt[0]
    for i in range(n):
        x = ids[i]
        ti = tt[i]
        new = (i == 0) | (x != prev_id)
        if not (new | (ti >= prev_t)):
            return -1
        prev_id = x
        prev_t = ti
        p += np.int64(new)
        day = _day(ti, upd)
        s, cs = _neumaier_add(0.0 if new else s, 0.0 if new else cs, dd[i])
        c = 1 if new else c + 1
        fd = day if new else fd
        a = i if new else a
        uniq[p] = x
        n_out[p] = c
        ced_out[p] = s + cs
        first_day[p] = fd
        last_day[p] = day
        followup[p] = day - fd
        if want_starts:
            starts[p] = a
    return p + 1


@njit(cache=True, nogil=True)
def _segment_pick(  # pragma: no cover - numba
    p0, p1, starts, order, vals, null_code, first_only, short, out, skipped
):
    """Per patient segment ``starts[p]:starts[p+1]`` (patients ``p0:p1``) of time-ordered exams
    (exam ``i`` is input row ``order[i]``, or ``i`` if ``order`` is empty) with value codes
    ``vals`` of the input rows: the most frequent code, ties to the earliest (``first_only``:
    the first code), ignoring ``null_code``; ``null_code`` where a patient has no other value.

    Without a table of counts: O(L * D) for a segment of L exams and D distinct values (each
    value's first exam is looked for among the exams before it, then its exams counted), which
    is fast for the short segments of nearly every patient but quadratic in L when the values
    vary (a test or phantom patient of 10^5 exams with free-text indications: 7 s). So a
    segment longer than ``short`` exams is left to :func:`_long_pick` (``out[p] = -1``) and
    ``skipped[0]`` counts them."""
    ordered = order.size > 0
    for p in range(p0, p1):
        s = starts[p]
        e = starts[p + 1]
        best = null_code
        if not first_only and e - s > short:
            out[p] = -1
            skipped[0] += 1
            continue
        best_count = 0
        for i in range(s, e):
            v = vals[order[i]] if ordered else vals[i]
            if v == null_code:
                continue
            if first_only:
                best = v
                break
            seen = False
            for j in range(s, i):
                if (vals[order[j]] if ordered else vals[j]) == v:
                    seen = True
                    break
            if seen:
                continue
            c = 0
            for j in range(i, e):
                if (vals[order[j]] if ordered else vals[j]) == v:
                    c += 1
            if c > best_count:
                best_count = c
                best = v
        out[p] = best


@njit(cache=True, nogil=True)
def _long_pick(patients, starts, order, vals, null_code, counts, out):  # pragma: no cover
    """:func:`_segment_pick`'s most frequent code (ties to the earliest) of the ``patients``
    it left, in O(L) each: the segment's codes counted in ``counts`` (zeros, one per code; left
    zeros), then the first exam in time order whose code has the largest count."""
    ordered = order.size > 0
    for p in patients:
        s = starts[p]
        e = starts[p + 1]
        for i in range(s, e):
            counts[vals[order[i]] if ordered else vals[i]] += 1
        counts[null_code] = 0
        best = null_code
        best_count = 0
        for i in range(s, e):
            c = counts[vals[order[i]] if ordered else vals[i]]
            if c > best_count:  # strictly: a tie keeps the value seen first
                best_count = c
                best = vals[order[i]] if ordered else vals[i]
        for i in range(s, e):
            counts[vals[order[i]] if ordered else vals[i]] = 0
        out[p] = best


@njit(cache=True, nogil=True)
def _half_codes(h, half, cap_bits, codes):  # pragma: no cover - numba
    """Factorise the int64 keys ``h`` (hashes or values) whose top bit is ``half`` (every key
    if ``half`` is -1) by open addressing, the table growing from ``2**cap_bits`` slots as
    needed: their int32 codes into ``codes`` (in order of first appearance, from 0); returns
    ``(first_row_of_each_code, table)`` (key and code share a slot: one cache miss a probe)."""
    n = h.size
    while True:
        cap = np.int64(1) << cap_bits
        mask = cap - 1
        table = np.empty(2 * cap, np.int64)  # slot j: key at 2j, code at 2j + 1 (one line)
        for j in range(2 * cap):  # (a loop: np.full compiles for 0.2 s on a first call)
            table[j] = -1
        reps = np.empty(cap // 2, np.int64)
        count = 0
        full = False
        for i in range(n):
            x = h[i]
            if half >= 0 and ((x >> 63) & 1) != half:
                continue
            j = (x ^ (x >> 29)) & mask
            while True:
                v = table[2 * j + 1]
                if v < 0:
                    if count == cap // 2:
                        full = True
                        break
                    table[2 * j] = x
                    table[2 * j + 1] = count
                    reps[count] = i
                    codes[i] = count
                    count += 1
                    break
                if table[2 * j] == x:
                    codes[i] = v
                    break
                j = (j + 1) & mask
            if full:
                break
        if not full:
            return reps[:count].copy(), table
        cap_bits += 3 if cap_bits < 16 else 1


def small_codes(h: np.ndarray, cap_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factorise int64 keys (hashes or values) by open addressing (for columns with few
    distinct values, such as sex or facility, the table stays in cache).

    Returns ``(codes, first_row_of_each_code, table)``: int32 codes in order of first
    appearance, and the table, probed again by :func:`hash_rank`.
    """
    codes = np.empty(h.size, np.int32)
    reps, table = _half_codes(h, -1, cap_bits, codes)
    return codes, reps, table


@njit(cache=True, nogil=True)
def _shift_codes(i0, i1, h, codes, offset):  # pragma: no cover - numba
    """Add ``offset`` to the codes of rows ``i0:i1`` whose key has its top bit set."""
    for i in range(i0, i1):
        if (h[i] >> 63) & 1:
            codes[i] += offset


@njit(cache=True, nogil=True)
def _take(i0, i1, values, idx, out):  # pragma: no cover - numba
    """``out[i] = values[idx[i]]`` for rows ``i0:i1``."""
    for i in range(i0, i1):
        out[i] = values[idx[i]]


def take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` (int64), over row ranges in threads."""
    out = np.empty(idx.size, np.int64)
    run_chunks(_take, idx.size, values, idx, out)
    return out


@njit(cache=True, nogil=True)
def _invert(i0, i1, perm, out):  # pragma: no cover - numba
    """``out[perm[i]] = i`` for rows ``i0:i1``."""
    for i in range(i0, i1):
        out[perm[i]] = i


def inverse(perm: np.ndarray) -> np.ndarray:
    """The inverse (int64) of the permutation ``perm`` of ``0..n-1``: ``out[perm[i]] = i``,
    over row ranges in threads (NumPy's ``out[perm] = np.arange(n)`` took 40 ms at 5.2
    million, this 8 ms on two threads)."""
    out = np.empty(perm.size, np.int64)
    run_chunks(_invert, perm.size, perm, out)
    return out


def split_codes(h: np.ndarray, cap_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`small_codes` for many keys, in two threads: each takes the keys with one value
    of the top bit into its own table (half the size: fewer cache misses), then the second
    half's codes follow the first's. Returns ``(codes, first_row_of_each_code)``."""
    if threads_for(h.size) < 2:
        return small_codes(h, cap_bits)[:2]
    codes = np.empty(h.size, np.int32)
    halves = list(pool(2).map(lambda q: _half_codes(h, q, cap_bits - 1, codes)[0], (0, 1)))
    run_chunks(_shift_codes, h.size, h, codes, np.int32(halves[0].size))
    return codes, np.concatenate(halves)


@njit(cache=True, nogil=True)
def hash_rank(table, h_sorted):  # pragma: no cover - numba
    """``rank[code] = p`` for the code of key ``h_sorted[p]`` in a table of
    :func:`small_codes` (``-1`` where a code has no key in ``h_sorted``)."""
    mask = table.size // 2 - 1
    rank = np.empty(h_sorted.size, np.int64)
    for j in range(rank.size):  # (a loop: np.full compiles for 0.2 s on a first call)
        rank[j] = -1
    for p in range(h_sorted.size):
        x = h_sorted[p]
        j = (x ^ (x >> 29)) & mask
        while True:
            v = table[2 * j + 1]
            if v < 0:
                break
            if table[2 * j] == x:
                if v < rank.size:
                    rank[v] = p
                break
            j = (j + 1) & mask
    return rank


def unpack_gather(keys, mask, t, dose, t_out, d_out) -> None:
    """Turn sorted keys into row numbers in place and gather ``t`` and ``dose`` by them."""
    run_chunks(_unpack_gather, keys.size, keys, mask, t, dose, t_out, d_out)


def sort_segments(starts, t, d, order) -> None:
    """Stable sort of each segment by ``t``, moving ``d`` and ``order`` along, in place."""
    run_chunks(_sort_segments, starts.size - 1, starts, t, d, order)


def patient_stats(starts, t, d, upd, thresholds, windows, *outs) -> None:
    """Per-patient totals, crossings and window maxima (:func:`_segment_stats`) of exams
    grouped by patient (``starts``) and time-ordered, read where they are, one range of
    patients per thread (balanced by exams).
    """
    n, n_patients = int(starts[-1]), starts.size - 1
    k = max(1, min(threads_for(n), n_patients))
    seg = np.searchsorted(starts, [n * q // k for q in range(k + 1)]).astype(np.int64)
    seg[0], seg[-1] = 0, n_patients
    ends = starts[seg[1:]]

    def one(r: int) -> None:
        _segment_stats(seg[r], seg[r + 1], starts, 0, 0, ends[r], t, d, upd, thresholds,
                       windows, *outs)  # fmt: skip

    in_threads(one, [(r,) for r in range(k)])


def scatter_totals(codes, t, d, upd, n_patients: int) -> np.ndarray:
    """Per-patient totals of unsorted exams: a table of ``n_patients`` :data:`TOTALS_ROW`
    records (see ``_scatter_totals``); each thread takes a range of patients and reads every
    row."""
    table = np.empty(n_patients, TOTALS_ROW)
    run_chunks(_scatter_totals, n_patients, codes, t, d, upd, table)
    return table


def totals_columns(table, rank, ced, n, first, last) -> None:
    """The rows of a totals table as columns (see ``_totals_columns``)."""
    run_chunks(_totals_columns, table.shape[0], table, rank, ced, n, first, last)


@njit(cache=True, nogil=True)
def _segment_sums(p0, p1, starts, values, out):  # pragma: no cover - numba
    """``out[p]``: the compensated sum (:func:`_neumaier_add`) of ``values[starts[p]:
    starts[p + 1]]``, for ``p`` in ``p0:p1`` (an infinite or NaN sum as added: its
    compensation is NaN)."""
    for p in range(p0, p1):
        s = 0.0
        c = 0.0
        for j in range(starts[p], starts[p + 1]):
            s, c = _neumaier_add(s, c, values[j])
        out[p] = s + c if abs(s) < np.inf else s


def segment_sums(starts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sum of each segment ``values[starts[p]:starts[p + 1]]`` (float64) by recurct's
    summation rule (:func:`_neumaier_add`), as a patient's CED is summed: the correctly
    rounded sum, whatever the order within the segment (``period_dose``'s sums)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(starts.size - 1, np.float64)
    run_chunks(_segment_sums, out.size, starts, values, out)
    return out


def running_sums(starts, d, running, index) -> None:
    """Running CED and 1-based exam number within each patient (time-ordered input)."""
    run_chunks(_running_sums, starts.size - 1, starts, d, running, index)


_NO_ORDER = np.empty(0, np.int64)


#: Segments longer than this (exams of one patient) get their most frequent value from a
#: table of counts (:func:`_long_pick`), not by the O(L * D) search of :func:`_segment_pick`.
_PICK_SHORT = 256


def segment_pick(starts, order, vals, null_code: int, first_only: bool) -> np.ndarray:
    """One value code per patient (see ``_segment_pick``; its long segments by
    ``_long_pick``); ``order=None``: rows in order."""
    out = np.empty(starts.size - 1, np.int64)  # an int64 index gathers strings faster
    order = _NO_ORDER if order is None else order
    ranges = row_ranges(out.size)
    skipped = np.zeros((len(ranges), 1), np.int64)  # a row per thread: none shares a counter
    args = (starts, order, vals, np.int32(null_code), first_only, _PICK_SHORT, out)
    in_threads(_segment_pick, [(lo, hi, *args, skipped[q]) for q, (lo, hi) in enumerate(ranges)])
    if skipped.any():  # (rare: a patient of hundreds of exams)
        counts = np.zeros(max(int(vals.max()), null_code) + 1, np.int64)  # (null: maybe unused)
        _long_pick(np.flatnonzero(out < 0), starts, order, vals, np.int32(null_code), counts, out)
    return out
