"""The radix sorts (recurct._radix, _sort.sort_keys) against np.sort, and recurct's grouping
the same whichever sort it uses (_sort.NUMPY_SORT_SLOW chooses by CPU: both are run here)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import test_kernels
import test_strings
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recurct import _parallel as par
from recurct import _radix
from recurct import _sort as srt
from recurct import kernels as k
from recurct.cumulative import cumulative_dose

_VALUES = hnp.arrays(
    np.int64,
    st.integers(0, 300),
    elements=st.integers(0, 3) | st.integers(0, 2**20) | st.integers(0, 2**40 - 1),
)


def _positioned(values: np.ndarray, lo: int) -> np.ndarray:
    """Keys ``(value << lo) | position``, as recurct builds them (positions ascending)."""
    return (values << lo) | np.arange(values.size, dtype=np.int64) if lo else values.copy()


@given(_VALUES, st.sampled_from([0, 9, 20]), st.booleans(), st.integers(0, 3))
def test_lsd_matches_np_sort(values, lo, inplace, offset):
    keys = _positioned(values, lo)
    n = keys.size
    want = np.sort(keys)  # independent: NumPy's sort
    bits = int(keys.max() >> lo).bit_length() if n else 0
    buf = np.full(n + 5, -7, np.int64)
    count = np.full(_radix.COUNT_SIZE, -7, np.int64)
    src = np.concatenate([np.full(offset, -1, np.int64), keys])
    if inplace:
        _radix.lsd(src, offset, src, offset, n, lo, bits, buf, count)
        got = src[offset:]
        assert (src[:offset] == -1).all()
    else:
        dst = np.full(n + offset + 2, -2, np.int64)
        _radix.lsd(src, offset, dst, offset, n, lo, bits, buf, count)
        got = dst[offset : offset + n]
        assert (dst[:offset] == -2).all() and (dst[offset + n :] == -2).all()
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60)
@given(
    hnp.arrays(np.int64, st.integers(0, 3000),
               elements=st.integers(0, 2**45) | st.integers(0, 5) | st.just(2**61)),
    st.sampled_from([0, 12]),
    st.sampled_from([1, 2]),
)  # fmt: skip
def test_sort_keys_matches_np_sort(values, lo, threads):
    # the bucketed path on small inputs (one range up to 16 keys), in one or two threads
    lo = lo if values.max(initial=0) < 2**50 else 0  # (2^61 keys leave no room for rows)
    keys = _positioned(values, lo)
    want = np.sort(keys)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(srt, "NUMPY_SORT_SLOW", True)
        mp.setattr(srt, "_RADIX_MIN", 0)
        mp.setattr(srt, "_RADIX_ONE_RANGE", 16)
        mp.setattr(par, "_GRAIN", 1 if threads == 2 else 10**9)
        srt.sort_keys(keys, lo)
    finally:
        mp.undo()
    np.testing.assert_array_equal(keys, want)


def test_sort_keys_edge_cases(monkeypatch):
    monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", True)
    monkeypatch.setattr(srt, "_RADIX_MIN", 0)
    monkeypatch.setattr(srt, "_RADIX_ONE_RANGE", 4)
    rng = np.random.default_rng(3)
    cases = [
        np.array([], np.int64),
        np.array([5], np.int64),
        np.array([3, -1, 2, -(2**63), 2**63 - 1], np.int64),  # negative: NumPy's sort
        np.full(100, 2**62 + 5, np.int64),  # no varying bits
        rng.integers(0, 2**62, 5000),  # the widest keys recurct builds
        np.concatenate([np.full(4000, 7), rng.integers(0, 2**30, 100)]),  # one huge bucket
    ]
    for keys in cases:
        want = np.sort(keys)
        srt.sort_keys(keys, 0)
        np.testing.assert_array_equal(keys, want)


def test_sort_parts_with_row_bits(monkeypatch):
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 1000, 20_000)
    for slow in (False, True):
        monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", slow)
        monkeypatch.setattr(srt, "_RADIX_MIN", 0)
        monkeypatch.setattr(srt, "_RADIX_ONE_RANGE", 64)
        rb = 15
        keys, bounds = k.packed_ids(ids, 0, rb, 8, 4)  # four buckets by the top two bits
        want = keys.copy()
        for q in range(4):
            want[bounds[q] : bounds[q + 1]].sort()
        srt.sort_parts(keys, bounds, rb)
        np.testing.assert_array_equal(keys, want)


_CPU = "processor\t: 0\nvendor_id\t: {v}\ncpu family\t: {f}\nmodel\t\t: 17\n\nprocessor\t: 1\n"


@pytest.mark.parametrize(
    ("vendor", "family", "avx512", "want"),
    [
        ("AuthenticAMD", 25, True, True),  # Zen 4: NumPy's AVX-512 sort is slow
        ("AuthenticAMD", 26, True, False),  # Zen 5
        ("AuthenticAMD", 25, False, False),  # NumPy not using AVX-512
        ("GenuineIntel", 6, True, False),
    ],
)
def test_zen4_avx512(vendor, family, avx512, want):
    text = _CPU.format(v=vendor, f=family)
    assert srt.zen4_avx512({"AVX512_SKX": avx512}, text) is want
    assert srt.zen4_avx512({}, text) is False
    assert srt.zen4_avx512({"AVX512_SKX": True}, "") is False


def _checked(sort_keys):
    """``sort_keys`` that first checks what recurct's callers put in the low ``lo`` bits (the
    row or position, ascending along the array: more than ``sort_keys`` needs, so a wrong
    ``lo`` shows even where no two keys tie above it), then its result against ``np.sort``."""

    def checked(keys: np.ndarray, lo: int = 0) -> None:
        before = keys.copy()
        if lo:
            low = before & ((1 << lo) - 1)
            assert (np.diff(low) > 0).all(), "the low bits are not the ascending rows"
        sort_keys(keys, lo)
        np.testing.assert_array_equal(keys, np.sort(before))

    return checked


@pytest.mark.parametrize("slow", [False, True])
def test_grouping_tests_under_either_sort(monkeypatch, slow):
    # the grouping and string tests of test_kernels / test_strings, with each sort; every
    # sort_keys call (string ids' key sorts, sort_parts) checked for its precondition
    monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", slow)
    monkeypatch.setattr(srt, "_RADIX_MIN", 0)
    monkeypatch.setattr(srt, "_RADIX_ONE_RANGE", 8)
    monkeypatch.setattr(srt, "sort_keys", _checked(srt.sort_keys))
    test_kernels.test_group_is_a_stable_sort_by_code_then_time()
    test_kernels.test_group_in_parts_and_threads_against_lexsort()
    test_kernels.test_string_order_is_polars_byte_order()
    test_kernels.test_sorted_ints_against_unique()
    test_strings.test_sorted_prefix_codes_match_python()
    with pytest.MonkeyPatch.context() as mp:  # ids sharing long first bytes: tied keys
        test_kernels.test_string_order_long_shared_prefixes(mp)
    for threads in (1, 2):  # (each in a patch context of its own: they patch and leave it)
        for prefix in (False, True):
            with pytest.MonkeyPatch.context() as mp:
                test_strings.test_hashed_ids_of_every_shape(mp, threads, prefix)
        with pytest.MonkeyPatch.context() as mp:
            test_strings.test_sorted_prefix_codes_ties_and_refusals(mp, threads)


def _cohort(ids: str, n: int = 40_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pid = rng.integers(0, n // 2, n)
    if ids == "sparse":  # record numbers over a wide range: the packed-id sort
        pid = pid * 1_000_003 + 10**12
    frame = pl.DataFrame(
        {
            "patient_id": pid,
            "exam_date": pl.Series(rng.integers(10_000, 19_000, n).astype(np.int32)).cast(pl.Date),
            "effective_dose_msv": rng.lognormal(1.5, 1.0, n),
        }
    )
    if ids == "hex":  # 64-hex pseudonyms: the prefix-key sort
        digests = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(n // 2)]
        frame = frame.with_columns(pl.Series("patient_id", digests).gather(pid))
    return frame


@pytest.mark.parametrize("ids", ["int", "sparse", "hex"])
def test_cumulative_dose_same_with_either_sort(monkeypatch, ids):
    import recurct._strings as strings
    import recurct.cumulative as cm

    monkeypatch.setattr(strings, "MIN_ROWS", 0)
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    monkeypatch.setattr(srt, "_RADIX_ONE_RANGE", 256)
    monkeypatch.setattr(par, "_GRAIN", 1000)  # two threads
    exams = _cohort(ids)
    got = []
    for slow in (False, True):
        monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", slow)
        monkeypatch.setattr(srt, "_RADIX_MIN", 0)
        got.append(cumulative_dose(exams, thresholds=(50, 100), window_days=365))
    assert got[0].equals(got[1])
    # and against the exams themselves: each patient's count and total
    want = exams.group_by("patient_id").agg(
        pl.len().alias("n_exams"), pl.col("effective_dose_msv").sum().alias("ced")
    )
    joined = got[1].join(want, on="patient_id")
    assert joined.height == want.height == got[1].height
    assert (joined["n_exams"] == joined["n_exams_right"]).all()
    np.testing.assert_allclose(joined["ced_msv"], joined["ced"], rtol=1e-12)


def test_radix_sort_only_for_tables_of_radix_min_keys(monkeypatch):
    # below _RADIX_MIN keys NumPy's sort, even where it is slow (no radix kernel compiled
    # for a small table); from there on the radix sort, with the same result
    import recurct._radix as radix

    lsd_ranges = radix.lsd_ranges
    calls = []

    def counting(*args):
        calls.append(1)
        return lsd_ranges(*args)

    monkeypatch.setattr(radix, "lsd_ranges", counting)
    monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", True)
    monkeypatch.setattr(srt, "_RADIX_MIN", 1000)
    rng = np.random.default_rng(5)
    for n, radix_used in ((999, False), (1000, True)):
        calls.clear()
        keys = _positioned(rng.integers(0, 2**40, n), 12)
        want = np.sort(keys)
        srt.sort_keys(keys, 12)
        np.testing.assert_array_equal(keys, want)
        assert bool(calls) == radix_used
        exams = _cohort("int", n)  # the grouping's part sort: by the table's size
        calls.clear()
        got = cumulative_dose(exams, thresholds=(50,), window_days=365)
        assert bool(calls) == radix_used
        monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", False)
        assert got.equals(cumulative_dose(exams, thresholds=(50,), window_days=365))
        monkeypatch.setattr(srt, "NUMPY_SORT_SLOW", True)
