"""The numba kernels against plain NumPy / Python computations, and thread determinism."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_strings import same_as_rows

from recurct import _parallel as par
from recurct import _sort as srt
from recurct import kernels as k


def random_arrays(rng: np.random.Generator, n: int, n_patients: int, n_days: int = 4000):
    codes = np.concatenate([np.arange(n_patients), rng.integers(0, n_patients, n - n_patients)])
    rng.shuffle(codes)
    t = rng.integers(0, n_days, n).astype(np.int64)
    dose = rng.lognormal(2.0, 0.8, n)
    return codes.astype(np.int64), t, dose


@st.composite
def grouped_input(draw):
    n_patients = draw(st.integers(1, 6))
    n = draw(st.integers(n_patients, 60))
    codes = draw(hnp.arrays(np.int64, n - n_patients, elements=st.integers(0, n_patients - 1)))
    codes = np.concatenate([np.arange(n_patients, dtype=np.int64), codes])
    perm = draw(st.permutations(range(n)))
    codes = codes[np.asarray(perm, dtype=np.int64)]
    t = draw(hnp.arrays(np.int64, n, elements=st.integers(-3, 3)))
    dose = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.5, 1.0, 3.0])))
    return codes, t, dose, n_patients


@given(grouped_input(), st.booleans(), st.sampled_from([0, 1, 2, 13]), st.sampled_from([1, 3]))
def test_group_is_a_stable_sort_by_code_then_time(data, time_in_key, part_log2, upd):
    # part_log2: parts of about 2^part_log2 exams (1, 2, 4 exams: many parts; 13: one);
    # upd=3: three time units a day, the key holds the day and a day's exams are sorted after
    codes, t, dose, n_patients = data
    before = k._PART_EXAMS_LOG2
    k._PART_EXAMS_LOG2 = part_log2
    try:
        starts, t_s, d_s, order = k.group(codes, t, dose, n_patients, time_in_key, upd=upd)
        *_, no_order = k.group(codes, t, dose, n_patients, time_in_key, False, upd)
    finally:
        k._PART_EXAMS_LOG2 = before
    assert no_order is None
    want = np.lexsort((np.arange(codes.size), t, codes))  # independent: numpy lexsort
    if order is None:
        order = np.arange(codes.size)
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(t_s, t[want])
    np.testing.assert_array_equal(d_s, dose[want])
    np.testing.assert_array_equal(np.diff(starts), np.bincount(codes, minlength=n_patients))
    assert starts[0] == 0 and starts[-1] == codes.size


def test_group_in_parts_and_threads_against_lexsort():
    # many parts over two threads' row ranges, a long segment, times far apart
    rng = np.random.default_rng(7)
    codes, t, dose = random_arrays(rng, 300_000, 100_000, n_days=40_000)
    codes[rng.choice(codes.size, 5000, replace=False)] = 77  # a patient with ~5000 exams
    codes[rng.permutation(codes.size)[:100_000]] = np.arange(100_000)  # every code present
    want = np.lexsort((np.arange(codes.size), t, codes))
    for need_order, upd in ((True, 1), (False, 1), (True, 7), (False, 7)):
        starts, t_s, d_s, order = k.group(codes, t, dose, 100_000, need_order=need_order, upd=upd)
        np.testing.assert_array_equal(t_s, t[want])
        np.testing.assert_array_equal(d_s, dose[want])
        np.testing.assert_array_equal(np.diff(starts), np.bincount(codes, minlength=100_000))
        if need_order:
            np.testing.assert_array_equal(order, want)
        else:
            assert order is None
    # the fused grouping and statistics (timestamps of 7 units a day) equal them one by one
    thr, win = np.array([40.0]), np.array([365], dtype=np.int64)
    starts, t_s, d_s, _ = k.group(codes, t, dose, 100_000, upd=7)
    outs = [np.empty(100_000, dt) for dt in (np.int64, np.float64, np.int32, np.int32, np.int64)]
    outs += [np.empty((1, 100_000), dt) for dt in (np.int64, np.int64, np.int32, np.int64)]
    outs += [np.empty((1, 100_000)), np.empty((1, 100_000), np.int32)]
    fused = [np.empty_like(o) for o in outs]
    k.patient_stats(starts, t_s, d_s, 7, thr, win, *outs)
    got_starts, got_order = k.group_stats(codes, t, dose, 100_000, 7, thr, win, fused, True)
    np.testing.assert_array_equal(got_starts, starts)
    np.testing.assert_array_equal(got_order, want)
    for a, b in zip(outs, fused):
        np.testing.assert_array_equal(a, b)


def test_group_long_segments_use_merge_sort():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(3, dtype=np.int64), [1000, 65, 1])
    t = rng.integers(0, 50, codes.size).astype(np.int64)
    perm = rng.permutation(codes.size)
    codes, t = codes[perm], t[perm]
    _, _, _, order = k.group(codes, t, np.zeros(codes.size), 3, time_in_key=False)
    np.testing.assert_array_equal(order, np.lexsort((np.arange(codes.size), t, codes)))


def test_group_detects_sorted_input():
    codes = np.array([0, 0, 1, 2, 2], dtype=np.int64)
    t = np.array([1, 1, 0, 5, 9], dtype=np.int64)
    dose = np.ones(5)
    starts, t_s, d_s, order = k.group(codes, t, dose, 3)
    assert order is None and t_s is t and d_s is dose
    np.testing.assert_array_equal(starts, [0, 2, 3, 5])
    assert not k.grouped_starts(codes, t[::-1].copy(), np.empty(4, np.int64))
    # out of order only across the boundary of two threads' row ranges
    codes = np.repeat(np.arange(33_333, dtype=np.int64), 3)  # rows 49998, 49999: one patient
    t = np.zeros(codes.size, np.int64)
    assert k.grouped_starts(codes, t, np.empty(33_334, np.int64))
    t[codes.size // 2] = -1  # first row of the second range: earlier than the row before it
    assert not k.grouped_starts(codes, t, np.empty(33_334, np.int64))


@pytest.mark.parametrize("n_patients", [1000, 100_000])  # one thread; patient ranges
def test_scatter_totals_against_bincount(n_patients):
    rng = np.random.default_rng(2)
    codes, t, dose = random_arrays(rng, 5 * n_patients, n_patients)
    table = k.scatter_totals(codes, t * 86400, dose, 86400, n_patients)
    assert table.dtype == k.TOTALS_ROW and table.dtype.itemsize == 32
    np.testing.assert_allclose(table["sum"], np.bincount(codes, dose, n_patients), rtol=1e-12)
    # the CED (sum + compensation) is the correctly rounded sum, as math.fsum's
    by_code = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=n_patients))
    want = [math.fsum(g) for g in np.split(dose[by_code], ends[:-1])]
    np.testing.assert_array_equal(table["sum"] + table["comp"], want)
    np.testing.assert_array_equal(table["n"], np.bincount(codes, minlength=n_patients))
    first = np.full(n_patients, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, t)
    np.testing.assert_array_equal(table["first"], first)
    last = np.full(n_patients, np.iinfo(np.int64).min)
    np.maximum.at(last, codes, t)
    np.testing.assert_array_equal(table["last"], last)
    rank = rng.permutation(n_patients)
    cols = [np.empty(n_patients), np.empty(n_patients, np.int64)] + [
        np.empty(n_patients, np.int32) for _ in range(2)
    ]
    k.totals_columns(table, rank, *cols)
    for col, want_col in zip(cols, [want, table["n"], table["first"], table["last"]]):
        np.testing.assert_array_equal(col[rank], want_col)


def test_floor_days_of_negative_timestamps():
    # timestamps before 1970: day must be floor(t / upd), not truncation towards zero
    starts = np.array([0, 2], dtype=np.int64)
    t = np.array([-1, 86_400 * 10**6 - 1], dtype=np.int64)  # 1969-12-31 23:59:59.999999, ...
    out = [np.empty(1, np.int64), np.empty(1), np.empty(1, np.int32), np.empty(1, np.int32)]
    k.patient_stats(
        starts, t, np.ones(2), 86_400 * 10**6, np.empty(0), np.empty(0, np.int64), *out,
        np.empty(1, np.int64), *[np.empty((0, 1), np.int64)] * 2, np.empty((0, 1), np.int32),
        np.empty((0, 1), np.int64), np.empty((0, 1)), np.empty((0, 1), np.int32),
    )  # fmt: skip
    assert out[2][0] == -1 and out[3][0] == 0


def test_small_helpers():
    assert srt.minmax_int(np.array([3, -2, 7], dtype=np.int64)) == (-2, 7)
    assert k.first_bad_dose(np.array([0.0, 1.0, 2.0])) == (-1, 3.0)
    d = np.zeros(10_000)
    d[9_000] = -0.0  # negative zero is fine
    d[9_001] = np.nan
    assert k.first_bad_dose(d)[0] == 9_001
    d = np.ones(100_000)  # two threads' row ranges: the first bad row of either, the sum
    assert k.first_bad_dose(d) == (-1, 100_000.0)
    d[[70_000, 99_999]] = -1.0
    assert k.first_bad_dose(d)[0] == 70_000
    d[[3, 60_000]] = [np.inf, np.nan]
    assert k.first_bad_dose(d)[0] == 3
    big = np.random.default_rng(8).integers(-(10**6), 10**6, 100_000)  # two threads' ranges
    assert srt.minmax_int(big) == (big.min(), big.max())
    flags, n_present = k.presence(big, int(big.min()), int(big.max() - big.min()) + 1)
    np.testing.assert_array_equal(np.flatnonzero(flags) + big.min(), np.unique(big))
    assert n_present == np.unique(big).size
    present, count = k.presence(np.array([5, 9, 5, 7], dtype=np.int64), 5, 5)
    assert count == 3
    np.testing.assert_array_equal(present, [1, 0, 1, 0, 1])
    mapping = k.dense_mapping(present)
    np.testing.assert_array_equal(
        k.remap(np.array([5, 9, 7], dtype=np.int64), 5, mapping), [0, 2, 1]
    )


def _all_outputs(codes, t, dose, n_patients):
    starts, t_s, d_s, order = k.group(codes, t, dose, n_patients)
    thr = np.array([50.0, 100.0])
    win = np.array([365, 1826], dtype=np.int64)
    outs = [
        np.empty(n_patients, np.int64),
        np.empty(n_patients),
        np.empty(n_patients, np.int32),
        np.empty(n_patients, np.int32),
        np.empty(n_patients, np.int64),
        np.empty((2, n_patients), np.int64),
        np.empty((2, n_patients), np.int64),
        np.empty((2, n_patients), np.int32),
        np.empty((2, n_patients), np.int64),
        np.empty((2, n_patients)),
        np.empty((2, n_patients), np.int32),
    ]
    k.patient_stats(starts, t_s, d_s, 1, thr, win, *outs)
    running = np.empty(codes.size)
    index = np.empty(codes.size, np.int64)
    k.running_sums(starts, d_s, running, index)
    fused = [np.empty_like(o) for o in outs]  # group and stats in one pass: the same outputs
    fused_starts, fused_order = k.group_stats(codes, t, dose, n_patients, 1, thr, win, fused, True)
    for a, b in zip([starts, order, *outs], [fused_starts, fused_order, *fused]):
        np.testing.assert_array_equal(a, b)
    return [starts, t_s, d_s, order, *outs, running, index]


def test_results_identical_with_one_and_two_threads():
    rng = np.random.default_rng(3)
    codes, t, dose = random_arrays(rng, 200_000, 100_000)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _all_outputs(codes, t, dose, 100_000)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _all_outputs(codes, t, dose, 100_000)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_patients", [1, 7])
def test_running_sums_per_patient_not_global(n_patients):
    # a huge dose for patient 0 must not perturb patient 1's running sum (no global cumsum)
    codes = np.array([0] * 3 + [min(1, n_patients - 1)] * 3, dtype=np.int64)
    if n_patients == 7:
        codes = np.concatenate([codes, np.arange(2, 7)])
    dose = np.concatenate([[1e12, 0.1, 0.2, 0.1, 0.2, 0.3], np.zeros(codes.size - 6)])
    t = np.arange(codes.size, dtype=np.int64)
    starts, _, d_s, _ = k.group(codes, t, dose, n_patients)
    running = np.empty(codes.size)
    index = np.empty(codes.size, np.int64)
    k.running_sums(starts, d_s, running, index)
    if n_patients == 7:
        # (compensated: math.fsum's 0.6, not 0.1 + 0.2 + 0.3 = 0.6000000000000001 in turn)
        assert running[3:6].tolist() == [0.1, math.fsum([0.1, 0.2]), 0.6]
        assert index[:6].tolist() == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize("nparts", [1, 2, 3])
def test_partitioned_keys_sort_to_the_full_order(nparts):
    rng = np.random.default_rng(4)
    codes, t, _ = random_arrays(rng, 3000, 700)
    keys, bounds = k.partition_keys(codes, t, 0, 12, 12, 700, nparts)
    assert bounds[0] == 0 and bounds[-1] == codes.size and np.all(np.diff(bounds) >= 0)
    srt.sort_parts(keys, bounds)
    want = np.sort((codes << 24) | (t << 12) | np.arange(codes.size))
    np.testing.assert_array_equal(keys, want)


def test_chunked_kernels_inside_pool_threads_do_not_deadlock():
    # a per-patient kernel started from a pool thread runs serially instead of waiting on
    # the pool it occupies
    rng = np.random.default_rng(5)
    codes, t, dose = random_arrays(rng, 120_000, 60_000)
    starts, _, d_s, _ = k.group(codes, t, dose, 60_000)

    def run(_):
        running = np.empty(codes.size)
        k.running_sums(starts, d_s, running, np.empty(codes.size, np.int64))
        return running

    outs = list(par.pool(2).map(run, range(4)))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


@given(hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-(2**63), 2**63 - 1)
                  | st.integers(-3, 3)))  # fmt: skip
def test_small_codes_against_first_appearance(h):
    # cap_bits=2 forces the table to grow; codes number the keys in order of first appearance
    codes, reps, table = k.small_codes(h, 2)
    uniq, first, inv = np.unique(h, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct keys by first row
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    np.testing.assert_array_equal(codes, rank[inv.ravel()])
    np.testing.assert_array_equal(reps, np.sort(first))
    # hash_rank finds the code of each distinct key through the same table
    np.testing.assert_array_equal(k.hash_rank(table, uniq)[rank], np.arange(uniq.size))


_TEXT = st.text(st.sampled_from(["a", "b", "\x00", " ", "é", "0", "9", "\u3000"]), max_size=30)


@given(st.lists(_TEXT, max_size=200, unique=True), st.sampled_from([2, 4, 48]))
def test_string_order_is_polars_byte_order(values, small):
    import polars as pl

    from recurct import _strings

    old = _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES
    # small values force the large-tie rounds; with no limit on the ties waiting
    _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES = small, 0, 10**6
    try:
        s = pl.Series(values, dtype=pl.Utf8)
        order = _strings.string_order(s)
    finally:
        _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES = old
    assert order is not None
    assert s.gather(order).to_list() == s.sort().to_list() == sorted(values, key=str.encode)


def _byte_cmp(a: str, b: str) -> int:
    x, y = a.encode(), b.encode()
    return (x > y) - (x < y)


@given(st.lists(_TEXT, max_size=120), st.sampled_from([1, 2]))
def test_string_keys_compare_as_the_strings(values, threads):
    import numba
    import polars as pl

    from recurct import _strings

    old, before = (par._GRAIN, _strings.SAMPLE_ROWS), numba.get_num_threads()
    par._GRAIN = 1  # row ranges of every size in threads
    _strings.SAMPLE_ROWS = 3  # a sample of 3 to 4 rows decides first from 7 rows on
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        keys = _strings.string_keys(pl.Series(values, dtype=pl.Utf8))
    finally:
        par._GRAIN, _strings.SAMPLE_ROWS = old
        numba.set_num_threads(before)
    # the sample's NumPy screen and the kernel's agree (both refuse, or the same weights)
    if values:
        a = _strings._sample_weights(pl.Series(values, dtype=pl.Utf8))
        b = _strings._key_weights(*_strings.utf8_buffers(pl.Series(values, dtype=pl.Utf8)))
        assert (a is None and b is None) or np.array_equal(a, b)
    raw = [v.encode() for v in values]
    longest = max(map(len, raw), default=0)
    # the information by position: the product over positions of the symbols seen there
    bits = sum(
        math.log2(len({b[q] if q < len(b) else -1 for b in raw})) for q in range(longest)
    )
    if keys is None:  # refused only when too long or more than KEY_BITS bits by position
        assert longest > _strings.KEY_POSITIONS or bits >= _strings.KEY_BITS - 1e-9
        return
    assert bits < _strings.KEY_BITS + 1e-9
    assert keys.dtype == np.int64 and keys.size == len(values)
    assert (keys >= 0).all() and (keys < 2**_strings.KEY_BITS).all()
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            assert np.sign(keys[i] - keys[j]) == _byte_cmp(a, b), (a, b)


@given(st.lists(_TEXT, min_size=1, max_size=100), st.randoms(use_true_random=False))
def test_byte_hashes_and_exact_check(values, rnd):
    import polars as pl

    from recurct import _strings

    s = pl.Series(values, dtype=pl.Utf8)
    place = _strings.string_views(s)
    h = _strings.byte_hashes(*place)
    for i, a in enumerate(values):  # equal strings hash equal
        for j, b in enumerate(values):
            if a == b:
                assert h[i] == h[j]
    # codes by a correct grouping pass the check; any code pointing at a different string fails
    first = {v: i for i, v in reversed(list(enumerate(values)))}
    uniq = sorted(first, key=first.get)
    codes = np.array([uniq.index(v) for v in values], np.int32)
    rows = np.array([first[v] for v in uniq], np.int64)
    assert same_as_rows(*place, codes, rows)
    if len(uniq) > 1:
        wrong = codes.copy()
        i = rnd.randrange(len(values))
        wrong[i] = (codes[i] + 1) % len(uniq)  # a row given another string's code
        assert not same_as_rows(*place, wrong, rows)


def test_byte_hash_codes_collision_falls_back(monkeypatch):
    import polars as pl

    import recurct.cumulative as cm
    from recurct import _strings

    rng = np.random.default_rng(11)
    ids = pl.Series([bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(300)])
    s = ids.gather(rng.integers(0, 300, 5000))
    want_sorted = s.unique().sort()
    monkeypatch.setattr(_strings, "MIN_ROWS", 0)
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    monkeypatch.setattr(cm, "sorted_prefix_codes", lambda s: None)  # the hash path
    codes, count, labels, rank = cm._factorise_strings(s)
    assert labels.sort().equals(want_sorted) and count == 300
    got = labels.gather(codes if rank is None else rank[codes])  # labels in ascending order
    assert got.equals(s)
    # too many ties for the byte-key order: polars sorts the distinct strings, same result
    monkeypatch.setattr(_strings, "_MAX_RUNS", 0)
    codes2, _, labels2, rank2 = cm._factorise_strings(s)
    assert labels2.equals(labels) and labels2.gather(rank2[codes2]).equals(s)
    monkeypatch.undo()
    monkeypatch.setattr(_strings, "MIN_ROWS", 0)
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    monkeypatch.setattr(cm, "sorted_prefix_codes", lambda s: None)
    # every string in one hash class: the exact check fails and the caller ranks instead
    import recurct._codes as codes_mod

    def one_class(views, bases, data, row_bits=0):
        return np.arange(views.size // 4, dtype=np.int64)  # hash bits all 0, then the row

    monkeypatch.setattr(codes_mod, "byte_hashes", one_class)
    assert cm._factorise_strings(s) is None


def test_string_keys_refuse_what_does_not_fit():
    import polars as pl

    from recurct import _strings

    rng = np.random.default_rng(5)
    hexes = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(2000)]
    assert _strings.string_keys(pl.Series(hexes)) is None  # 64 hex digits: 256 bits
    assert _strings.string_keys(pl.Series(["a" * 65, "b"])) is None  # longer than 64 bytes
    # 15 decimal digits are 50 bits: keys, in numeric order for equal lengths
    ids = rng.integers(10**14, 10**15, 3000)
    keys = _strings.string_keys(pl.Series(ids.astype(str)))
    np.testing.assert_array_equal(np.argsort(keys, kind="stable"), np.argsort(ids, kind="stable"))
    # a whole column of one value, and of empty strings
    assert _strings.string_keys(pl.Series(["P1"] * 5)).tolist() == [0] * 5
    assert _strings.string_keys(pl.Series(["", "", "a"])).tolist() == [0, 0, 1]
    assert _strings.string_keys(pl.Series([], dtype=pl.Utf8)).size == 0


def test_string_order_long_shared_prefixes(monkeypatch):
    import polars as pl

    from recurct import _strings
    from recurct._strings import string_order

    monkeypatch.setattr(_strings, "MIN_ROWS", 0)
    assert string_order(pl.Series(["b", "a"])).tolist() == [1, 0]
    rng = np.random.default_rng(3)
    forty = pl.Series([f"{i % 40:02d}-{'x' * 25}-{i}" for i in rng.permutation(20_000)])
    assert string_order(forty) is None  # 40 large ties waiting: the caller sorts instead
    monkeypatch.setattr(_strings, "_MAX_TIES", 64)  # the rounds themselves, from here on
    for values in (
        [f"PATIENT-SITE-0001-{i:07d}" for i in rng.permutation(30_000)],
        [f"{i % 40:02d}-{'x' * 25}-{i}" for i in rng.permutation(20_000)],
    ):
        s = pl.Series(values)
        assert s.gather(string_order(s)).equals(s.sort())
        # the distinct strings as rows of a longer column: their rows in order and where
        # each is in ``rows`` (moved along by every round, and by the small runs' sort)
        column = pl.concat([pl.Series(["zz"]), s, s])
        rows = rng.permutation(s.len()) + 1 + s.len() * rng.integers(0, 2, s.len())
        for small in (48, 5_000):  # 5,000: every tie run ordered by the small runs' sort
            monkeypatch.setattr(_strings, "_SMALL", small)
            in_order, positions = string_order(column, None, rows, positions=True)
            assert column.gather(in_order).equals(s.sort())
            np.testing.assert_array_equal(rows[positions], in_order)


@given(st.lists(st.text(st.sampled_from(["a", "N", "A", "/", " ", "\xa0", "\x00", "\t", "é"]),
                        max_size=10) | st.none(), max_size=60))  # fmt: skip
def test_id_screen_never_misses_whitespace_or_placeholders(values):
    import polars as pl

    from recurct import _strings
    from recurct._frames import _WS, PLACEHOLDER_IDS, _is_placeholder, _needs_cleaning

    s = pl.Series(values, dtype=pl.Utf8)
    want = bool(s.str.contains(_WS).any() or _is_placeholder(s, None).any())
    want_a = bool(s.str.contains(_WS).any() or _is_placeholder(s, ("a",)).any())
    old = _strings.MIN_ROWS
    _strings.MIN_ROWS = 0  # the screen runs on every size
    try:
        assert _needs_cleaning(s, None) == want
        assert _needs_cleaning(s, ("a",)) == want_a
    finally:
        _strings.MIN_ROWS = old
    assert PLACEHOLDER_IDS  # the default list is the one screened above


@given(
    hnp.arrays(np.int64, st.integers(1, 300),
               elements=st.integers(-(2**60), 2**60) | st.integers(-3, 3) | st.just(2**61)),
    st.sampled_from([0, 50]),
)  # fmt: skip
def test_sorted_ints_against_unique(ids, extra_bits):
    # extra_bits: pretend a wider row number, so that id and row need buckets by high bits
    from recurct._codes import _sorted_range

    n = ids.size
    mn, mx = int(ids.min()), int(ids.max())
    rb = max(1, (n - 1).bit_length()) + extra_bits
    sb = max(1, (mx - mn).bit_length())
    hb = max(0, sb + rb - 63)
    if sb > 62 or hb > 10:
        return
    keys, bounds = k.packed_ids(ids, mn, rb, sb - hb, 1 << hb)
    srt.sort_parts(keys, bounds)
    codes, uniq = np.empty(n, np.int64), np.empty(n, np.int64)
    count = k.codes_of_sorted(keys, bounds, rb, sb - hb, mn, codes, uniq)
    want_uniq, want_codes = np.unique(ids, return_inverse=True)  # independent: numpy
    np.testing.assert_array_equal(uniq[:count], want_uniq)
    np.testing.assert_array_equal(codes, want_codes)
    got = _sorted_range(ids, *srt.minmax_int(ids))
    assert got is not None
    np.testing.assert_array_equal(got[0], want_codes)


@given(
    hnp.arrays(np.int64, st.integers(0, 400),
               elements=st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3)),
    st.integers(2, 6),
)  # fmt: skip
def test_split_codes_against_unique(h, cap_bits):
    # two tables (keys by their top bit) in two threads, growing from 2**cap_bits slots: the
    # same partition of the rows as np.unique, dense codes, and a first row for each code
    before = par._GRAIN
    par._GRAIN = 1  # two threads however few keys
    try:
        codes, reps = k.split_codes(h, cap_bits)
    finally:
        par._GRAIN = before
    _, inverse = np.unique(h, return_inverse=True)
    assert codes.size == h.size and reps.size == np.unique(h).size
    if h.size:
        np.testing.assert_array_equal(np.sort(np.unique(codes)), np.arange(reps.size))
        np.testing.assert_array_equal(h[reps[codes]], h)  # each row's code names its key
        # same key <=> same code
        pairs = np.unique(np.stack([inverse.ravel(), codes]), axis=1)
        assert pairs.shape[1] == reps.size


@given(st.integers(0, 3000), st.integers(0, 2**32 - 1), st.sampled_from([1, 2]))
def test_inverse_and_take_against_numpy(n, seed, count):
    """``inverse`` and ``take`` over row ranges in threads (every range split with
    ``_GRAIN = 1``) against NumPy's argsort and fancy indexing."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n).astype(np.int64)
    values = rng.integers(-(2**31), 2**31 - 1, max(n, 1)).astype(np.int32)
    before = par._GRAIN, numba.get_num_threads()
    par._GRAIN = 1
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        got, taken = k.inverse(perm), k.take(values, perm)
    finally:
        par._GRAIN = before[0]
        numba.set_num_threads(before[1])
    np.testing.assert_array_equal(got, np.argsort(perm))
    assert got.dtype == np.int64 and taken.dtype == np.int64
    np.testing.assert_array_equal(taken, values[perm])


def _pick_reference(starts, order, vals, null_code, first_only):
    """Per patient: the first non-null code in time order, or the most frequent (ties: the one
    seen first), by ``collections.Counter``; ``null_code`` when there is none."""
    from collections import Counter

    out = []
    for p in range(starts.size - 1):
        seg = [int(vals[i if order is None else order[i]]) for i in range(starts[p], starts[p + 1])]
        seg = [v for v in seg if v != null_code]
        if not seg:
            out.append(null_code)
        elif first_only:
            out.append(seg[0])
        else:
            counts = Counter(seg)
            top = max(counts.values())
            out.append(next(v for v in seg if counts[v] == top))
    return np.array(out, np.int64)


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=12),  # exams of each patient
    st.integers(1, 6),  # distinct codes (the last is the null code)
    st.booleans(),
    st.booleans(),
    st.sampled_from([0, 1, 3, 256]),  # segments longer than this: the table of counts
    st.integers(0, 2**32 - 1),
)
def test_segment_pick_against_counter(lengths, n_codes, first_only, ordered, short, seed):
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(starts[-1])
    vals = rng.integers(0, n_codes, n).astype(np.int32)
    null_code = n_codes - 1 if rng.random() < 0.5 else n_codes + 2  # used, or no row has it
    order = rng.permutation(n).astype(np.int64) if ordered else None
    before = par._GRAIN, k._PICK_SHORT
    par._GRAIN, k._PICK_SHORT = 1, short  # row ranges in threads; long segments at ``short``
    try:
        got = k.segment_pick(starts, order, vals, null_code, first_only)
    finally:
        par._GRAIN, k._PICK_SHORT = before
    np.testing.assert_array_equal(got, _pick_reference(starts, order, vals, null_code, first_only))


def test_segment_pick_long_segment():
    # one patient of 200,000 exams whose codes are nearly all distinct (free-text indications
    # of a test patient): the table of counts, not the O(L * D) search (which took minutes)
    rng = np.random.default_rng(3)
    n = 200_000
    vals = rng.permutation(n).astype(np.int32)
    vals[[5, 70_000, 199_999]] = vals[150_000]  # one code four times: the most frequent
    vals[[9, 10]] = vals[1]  # three times
    starts = np.array([0, n], np.int64)
    got = k.segment_pick(starts, None, vals, n + 1, False)
    assert got.tolist() == [vals[5]]  # its first exam (5) before 150,000
    assert k.segment_pick(starts, None, vals, n + 1, True).tolist() == [vals[0]]
