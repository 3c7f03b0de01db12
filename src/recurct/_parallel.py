"""Threads for recurct's ``nogil`` kernels: a shared pool, row ranges per thread, and the
layout of a stable scatter by row ranges.

The kernels are serial ``nogil`` numba functions run in Python threads (NumPy's sort and
polars release the GIL too): the same speed-up as ``parallel=True`` on per-patient loops, at
a fraction of its compilation time. Each range writes its own outputs, so no result depends
on the number of threads (``numba.get_num_threads()``, which sets it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

_POOL: list[ThreadPoolExecutor] = []
_GRAIN = 20_000  # patients (or exams) per thread below which one thread does it all


def threads_for(n: int) -> int:
    """Threads for ``n`` patients or exams: one per :data:`_GRAIN` of them, at most
    ``numba.get_num_threads()``; one inside a pool thread."""
    if threading.current_thread().name.startswith("recurct"):
        return 1  # already in a pool thread: waiting on the pool from it could deadlock
    return max(1, min(numba.get_num_threads(), n // _GRAIN))


def pool(k: int) -> ThreadPoolExecutor:
    """A shared pool of at least ``k`` threads (NumPy's sort, polars and ``nogil`` kernels
    release the GIL, so these threads run in parallel)."""
    if not _POOL or _POOL[0]._max_workers < k:
        _POOL[:] = [ThreadPoolExecutor(k, thread_name_prefix="recurct")]
    return _POOL[0]


def run_chunks(kernel: Callable[..., object], n: int, *args: object) -> None:
    """``kernel(lo, hi, *args)`` over ``0..n`` split by :func:`row_ranges`, in threads."""
    in_threads(kernel, [(lo, hi, *args) for lo, hi in row_ranges(n)])


def row_ranges(n: int) -> list[tuple[int, int]]:
    """``0..n`` split into one range of rows per numba thread (one range for little work or
    inside a pool thread, see :func:`threads_for`)."""
    k = threads_for(n)
    return [(n * q // k, n * (q + 1) // k) for q in range(k)]


def in_threads(fn: Callable[..., object], arg_lists: Sequence[Sequence[object]]) -> None:
    """``fn(*args)`` for each argument list, in the shared pool (one list: inline)."""
    if len(arg_lists) == 1:
        fn(*arg_lists[0])
        return
    for f in [pool(len(arg_lists)).submit(fn, *a) for a in arg_lists]:
        f.result()


def scatter_layout(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The layout of a stable scatter into buckets by row ranges in threads, from
    ``counts[q, b]`` (rows of range ``q`` in bucket ``b``): each bucket's first slot (one
    longer: the total at the end) and each row range's first slot in each bucket."""
    starts = np.zeros(counts.shape[1] + 1, np.int64)
    np.cumsum(counts.sum(axis=0), out=starts[1:])
    return starts, starts[:-1] + np.cumsum(counts, axis=0) - counts


def balanced(starts: np.ndarray, k: int) -> list[int]:
    """Bucket boundaries ``[0, ..., buckets]`` splitting the buckets of ``starts`` into ``k``
    consecutive ranges of about equal numbers of rows (one per thread)."""
    n = int(starts[-1])
    cut = np.searchsorted(starts, [n * q // k for q in range(1, k)])
    return [0, *cut.tolist(), starts.size - 1]
