"""Integer ids in ascending order (exports sorted by patient): no codes, no grouping.

:func:`recurct.kernels.sorted_runs` finds the runs of equal ids and the patients table is
computed on the rows where they are, each patient's times checked on the way
(:func:`recurct.kernels.sorted_stats`). Compared with NumPy (the runs) and
with the plain loops of naive.py (the tables), in one and two threads, including rows grouped
by patient whose times are not in order (the grouping path then runs).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numba
import numpy as np
import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from naive import naive_patients, naive_running
from test_cumulative import THRESHOLDS, WINDOWS, assert_rows_equal, cohorts
from test_cumulative import cohorts_with_attributes as attribute_cohorts

from recurct import _parallel as par
from recurct import cumulative as cum
from recurct import kernels as k
from recurct.cumulative import cumulative_dose, running_dose


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """``count`` numba threads, and row ranges in threads however few the rows."""
    before, grain = numba.get_num_threads(), par._GRAIN
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    par._GRAIN = 1
    try:
        yield
    finally:
        numba.set_num_threads(before)
        par._GRAIN = grain


def sorted_starts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    runs = k.sorted_runs(ids)
    if runs is None:
        return None
    starts = k.run_starts(runs)
    return starts, ids[starts[:-1]]


def _runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the first row of each run of equal ids (and N), and the ids."""
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.zeros(0, int)
    return np.r_[first, ids.size], ids[first]


@given(
    hnp.arrays(np.int64, st.integers(1, 300), elements=st.integers(-(2**63), 2**63 - 1)),
    st.sampled_from([1, 2]),
)
@example(ids=np.full(2, 2**63 - 1, np.int64), count=2)  # a run at the top across the cut
def test_sorted_runs_against_numpy(ids, count):
    with threads(count):
        assert sorted_starts(np.sort(ids)) is not None
        starts, uniq = sorted_starts(np.sort(ids))
        want_starts, want_uniq = _runs(np.sort(ids))
        np.testing.assert_array_equal(starts, want_starts)
        np.testing.assert_array_equal(uniq, want_uniq)
        if np.any(np.diff(ids) < 0):
            assert sorted_starts(ids) is None


@pytest.mark.parametrize("count", [1, 2])
def test_sorted_runs_long_runs_and_a_late_descent(count):
    rng = np.random.default_rng(5)
    ids = np.sort(rng.integers(0, 3_000, 50_000))  # runs cross every block and range edge
    ids[:20_000] = ids[0]  # one run over the first range (and more)
    with threads(count):
        starts, uniq = sorted_starts(ids)
        want_starts, want_uniq = _runs(ids)
        np.testing.assert_array_equal(starts, want_starts)
        np.testing.assert_array_equal(uniq, want_uniq)
        late = ids.copy()
        late[-2] = late[-1] + 1  # the only descent, in the last block of the last range
        assert sorted_starts(late) is None
        assert sorted_starts(np.full(7, 3, np.int64))[0].tolist() == [0, 7]
        assert sorted_starts(np.zeros(0, np.int64)) is None


def _int_cohort(exams: pl.DataFrame) -> pl.DataFrame:
    """``exams`` with integer ids (string ids numbered), rows sorted by id, time, row."""
    if exams.schema["patient_id"] == pl.Utf8:
        exams = exams.with_columns(pl.col("patient_id").str.slice(1).cast(pl.Int64) * 7 - 300)
    return exams.with_row_index("_r").sort("patient_id", "exam_date", "_r").drop("_r")


@given(cohorts(), THRESHOLDS, WINDOWS, st.sampled_from([1, 2]))
def test_sorted_ids_match_naive(exams, thresholds, windows, count):
    exams = _int_cohort(exams)
    assert cum._prepare(exams, "test").runs is not None  # the sorted path is taken
    with threads(count):
        got = cumulative_dose(exams, thresholds=thresholds, window_days=list(windows))
        running = running_dose(exams)  # codes made from the runs when read
    assert_rows_equal(got.to_dicts(), naive_patients(exams, thresholds, windows))
    assert_rows_equal(running.to_dicts(), naive_running(exams))
    assert got.schema["patient_id"] == pl.Int64


@given(cohorts(), st.sampled_from([1, 2]), st.randoms(use_true_random=False))
def test_grouped_ids_with_unordered_times_fall_back(exams, count, rnd):
    """Rows grouped by ascending id but times shuffled within patients: the check finds it
    and the grouping path gives the same table as naive.py."""
    exams = _int_cohort(exams)
    order = list(range(exams.height))
    ids = exams["patient_id"].to_list()
    for a in range(len(order)):  # shuffle within each run of equal ids
        b = a
        while b < len(order) and ids[b] == ids[a]:
            b += 1
        seg = order[a:b]
        rnd.shuffle(seg)
        order[a:b] = seg
    exams = exams[order]
    with threads(count):
        got = cumulative_dose(exams, thresholds=(50.0, 100.0), window_days=[365, 1826])
    assert_rows_equal(got.to_dicts(), naive_patients(exams, (50.0, 100.0), (365, 1826)))


@given(attribute_cohorts(), st.sampled_from(["most_frequent", "first"]), st.sampled_from([1, 2]))
def test_sorted_ids_with_attributes_match_naive(exams, indication, count):
    exams = _int_cohort(exams)
    with threads(count):  # the second range's ages read at the right rows
        got = cumulative_dose(exams, thresholds=(50.0, 100.0), indication=indication)
    want = naive_patients(exams.with_columns(pl.col("sex", "facility", "indication")
                                             .cast(pl.Utf8)), (50.0, 100.0),
                          indication=indication)  # fmt: skip
    assert_rows_equal(got.to_dicts(), want)


@pytest.mark.parametrize("dtype", [pl.Int32, pl.UInt16, pl.Int64])
def test_sorted_ids_keep_their_dtype_and_totals(dtype):
    ex = pl.DataFrame(
        {
            "patient_id": pl.Series([1, 1, 4, 9, 9, 9], dtype=dtype),
            "exam_date": pl.Series([0, 5, 3, 1, 1, 2]).cast(pl.Date),
            "effective_dose_msv": [60.0, 50.0, 1.0, 30.0, 40.0, 35.0],
        }
    )
    got = cumulative_dose(ex, thresholds=100)
    assert got.schema["patient_id"] == dtype
    assert got["patient_id"].to_list() == [1, 4, 9]
    assert got["n_exams"].to_list() == [2, 1, 3]
    assert got["exams_to_100"].to_list() == [2, None, 3]
    totals = cumulative_dose(ex, thresholds=())
    assert totals["ced_msv"].to_list() == [110.0, 1.0, 105.0]
    assert totals["followup_days"].to_list() == [5, 0, 1]


_EDGE_DOSES = [np.nan, -np.inf, np.inf, -1e-300, -5.0, -0.0, 1e308]


@given(
    hnp.arrays(np.float64, st.integers(1, 9_000), elements=st.floats(0, 1e6)),
    st.lists(st.tuples(st.integers(0, 8_999), st.sampled_from(_EDGE_DOSES)), max_size=3),
    st.sampled_from([1, 2]),
)
def test_dose_scan_against_numpy(d, edits, count):
    """The first negative, NaN or infinite dose (blocks tested without branches, summed in
    any order), and a finite sum exactly when NumPy's is (1e308 twice overflows)."""
    d = d.copy()
    for i, v in edits:
        if i < d.size:
            d[i] = v
    with threads(count):
        bad, total = k.first_bad_dose(d)
    wrong = np.flatnonzero(~((d >= 0) & np.isfinite(d)))
    assert bad == (wrong[0] if wrong.size else -1)
    if bad < 0:
        with np.errstate(over="ignore"):
            assert np.isfinite(total) == np.isfinite(np.sum(d))
            if np.isfinite(total):
                assert total == pytest.approx(np.sum(d), rel=1e-12)


def test_release_gives_back_whole_pages_only():
    import mmap

    page = mmap.PAGESIZE // 8
    a = np.ones(12 * page)
    k.release(a, page // 2, 5 * page + 3)  # pages 1..4 lie wholly inside (if aligned so)
    zero = np.flatnonzero(a == 0)
    if k._MADVISE is None:  # not Linux: nothing given back
        assert zero.size == 0
        return
    assert zero.size >= 3 * page  # at least pages 2..4 whatever the alignment
    assert zero.min() >= page // 2 and zero.max() < 5 * page + 3  # nothing outside the range
    assert (a[: page // 2] == 1).all() and (a[5 * page + 3 :] == 1).all()
    k.release(a, 3, 3)  # empty: nothing


@pytest.mark.parametrize("need_order", [False, True])
def test_parts_released_as_they_are_summarised(monkeypatch, need_order):
    """Random-order exams: the scatter's memory is given back a part at a time; every result
    equals the one of the sorted rows (which use no scatter), so no released part was read."""
    rng = np.random.default_rng(3)
    n = 200_000
    ex = pl.DataFrame({
        "patient_id": rng.integers(0, 60_000, n),
        "exam_date": pl.Series(rng.integers(0, 9_000, n)).cast(pl.Date),
        "effective_dose_msv": rng.lognormal(2, 1, n),
    })  # fmt: skip
    if need_order:  # attribute columns: the keys become rows and are kept
        ex = ex.with_columns(age_years=pl.Series(rng.uniform(0, 90, n)))
    want = cumulative_dose(_int_cohort(ex), thresholds=(50, 100), window_days=365)
    released, orders = [], []
    real_release, real_group = k.release, k.group_stats
    monkeypatch.setattr(k, "_RELEASE_PARTS", 1)
    monkeypatch.setattr(k, "_PART_EXAMS_LOG2", 10)
    monkeypatch.setattr(
        k, "release", lambda a, lo, hi: (released.append((a, lo, hi)), real_release(a, lo, hi))
    )

    def group_stats(*args, **kwargs):  # the order of the rows it returns
        starts, order = real_group(*args, **kwargs)
        orders.append(order)
        return starts, order

    monkeypatch.setattr(k, "group_stats", group_stats)
    with threads(2):
        got = cumulative_dose(ex, thresholds=(50, 100), window_days=365)
    assert got.equals(want)
    doses = [r for r in released if r[0].dtype == np.float64]
    ints = [r for r in released if r[0].dtype == np.int64 and r[1:] != (0, n)]  # not the codes
    assert len(doses) > 100 and len(ints) == len(doses)  # part by part: keys, or input rows
    assert (orders[0] is not None) == need_order
    assert not any(r[0] is orders[0] for r in released)  # the rows' order is kept


@given(cohorts(), st.booleans(), st.sampled_from([1, 2]))
def test_enum_ids_grouped_in_category_order(exams, sorted_categories, count):
    """An Enum whose rows are grouped in category order takes the runs path when its
    categories are in ascending order (as prepare_exams makes them), not otherwise; either
    way the table equals the one of the text ids."""
    text = exams.with_columns(pl.col("patient_id").cast(pl.Utf8))
    labels = sorted(set(text["patient_id"].to_list()), reverse=not sorted_categories)
    enum = text.with_columns(pl.col("patient_id").cast(pl.Enum([*labels, "zz-unused"])))
    enum = enum.with_row_index("_r").sort(pl.col("patient_id").to_physical(), "exam_date", "_r")
    enum = enum.drop("_r")
    assert (cum._prepare(enum, "test").runs is not None) == (sorted_categories or
                                                             len(labels) == 1)  # fmt: skip
    with threads(count):
        for thresholds in ((), (50.0, 100.0)):
            got = cumulative_dose(enum, thresholds=thresholds, window_days=365)
            assert got.equals(cumulative_dose(text, thresholds=thresholds, window_days=365))


@pytest.mark.parametrize("case", ["clean", "unused_unclean", "spaced", "placeholder", "null"])
def test_grouped_enum_ids_screened_on_the_labels_read(case):
    """Grouped Enum ids (prepare_exams' layout) are screened on the labels of their runs
    only: a category in need of cleaning that no row uses changes nothing (runs path, no
    warning), a used one is cleaned as text exactly as string ids are (the same warning
    and table, or the same refusal of a placeholder made null); null ids are refused."""
    from recurct.errors import IdentifierWarning

    ids = {"spaced": [" a", "a ", "b", "b"], "placeholder": ["NA", "NA", "b", "b"],
           "null": ["a", "a", None, "b"]}.get(case, ["a", "a", "b", "b"])  # fmt: skip
    ex = pl.DataFrame({
        "patient_id": ids,
        "exam_date": pl.Series([0, 2, 1, 3]).cast(pl.Date),
        "effective_dose_msv": [1.0, 3.0, 2.0, 4.0],
    })  # fmt: skip
    cats = sorted({i for i in ids if i is not None} | {" z" if case == "unused_unclean" else "zz"})
    enum = ex.with_columns(pl.col("patient_id").cast(pl.Enum(cats)))
    if case in ("clean", "unused_unclean"):
        assert cum._prepare(enum, "test").runs is not None
        assert cumulative_dose(enum, window_days=2).equals(cumulative_dose(ex, window_days=2))
    elif case == "spaced":
        with pytest.warns(IdentifierWarning, match="2 id"):
            want = cumulative_dose(ex, window_days=2)
        with pytest.warns(IdentifierWarning, match="2 id"):
            got = cumulative_dose(enum, window_days=2)
        assert got.equals(want) and got["patient_id"].to_list() == ["a", "b"]
    else:
        rows = "rows 0, 1 " if case == "placeholder" else "row 2 "
        with pytest.raises(ValueError, match=f"'patient_id' is null in {rows}"):
            cumulative_dose(enum)


@pytest.mark.parametrize("grouped", [True, False])
def test_enum_kept_when_only_unused_categories_need_cleaning(grouped):
    """An Enum whose unclean labels no row uses stays an Enum (not cast to text) in either
    row order, with no warning, and gives the table of the text ids."""
    ids = ["a", "a", "b", "c"] if grouped else ["c", "a", "b", "a"]
    ex = pl.DataFrame({
        "patient_id": ids,
        "exam_date": pl.Series([0, 2, 1, 3]).cast(pl.Date),
        "effective_dose_msv": [1.0, 3.0, 2.0, 4.0],
    })  # fmt: skip
    enum = ex.with_columns(pl.col("patient_id").cast(pl.Enum([" u", "NA", "a", "b", "c"])))
    prep = cum._prepare(enum, "test")
    assert cum.is_enum(prep.df.get_column("patient_id"))
    assert (prep.runs is not None) == grouped
    assert cumulative_dose(enum, window_days=2).equals(cumulative_dose(ex, window_days=2))


@pytest.mark.parametrize("kind", ["categorical", "enum", "pandas_category"])
def test_empty_tables_of_coded_ids(kind):
    """An empty table whose ids are a Categorical, an Enum or a pandas category gives the
    empty table of text ids (an empty Categorical crashed the process)."""
    import pandas as pd

    ex = pl.DataFrame({
        "patient_id": pl.Series([], dtype=pl.Utf8),
        "exam_date": pl.Series([], dtype=pl.Int32).cast(pl.Date),
        "effective_dose_msv": pl.Series([], dtype=pl.Float64),
    })  # fmt: skip
    want = cumulative_dose(ex, thresholds=100, window_days=365)
    col = pl.col("patient_id")
    given = {
        "categorical": ex.with_columns(col.cast(pl.Categorical)),
        "enum": ex.with_columns(col.cast(pl.Enum(["a"]))),
        "pandas_category": ex.to_pandas().astype({"patient_id": pd.CategoricalDtype(["a"])}),
    }[kind]
    got = cumulative_dose(given, thresholds=100, window_days=365)
    assert len(got) == 0 and list(got.columns) == want.columns


@pytest.mark.parametrize("kind", ["polars", "pandas", "pandas_category", "arrow"])
def test_given_back_memory_is_never_the_callers(monkeypatch, kind):
    """Codes that are a view of the caller's ids (dense 0-based integer ids) are never given
    back: the caller's table is unchanged after a call on random-order exams."""
    import pandas as pd
    import pyarrow as pa

    rng = np.random.default_rng(11)
    n = 300_000
    ex = pl.DataFrame({
        "patient_id": rng.permutation(n) % 150_000,  # dense from 0: the codes are the ids
        "exam_date": pl.Series(rng.integers(0, 9_000, n)).cast(pl.Date),
        "effective_dose_msv": rng.lognormal(2, 1, n),
    })  # fmt: skip
    before = ex.clone()
    given = {"polars": ex, "pandas": ex.to_pandas(), "arrow": ex.to_arrow(),
             "pandas_category": ex.to_pandas().astype({"patient_id": "category"})}[kind]
    saved = given.copy() if kind.startswith("pandas") else None
    monkeypatch.setattr(k, "_RELEASE_PARTS", 1)
    with threads(2):
        got = cumulative_dose(given, thresholds=100, window_days=365)
    want = cumulative_dose(_int_cohort(ex), thresholds=100, window_days=365)
    if kind.startswith("pandas"):
        pd.testing.assert_frame_equal(given, saved)
        got = pl.from_pandas(got).with_columns(pl.col("patient_id").cast(pl.Int64))
        want = want.with_columns(pl.col("^(exams|days)_to_100$").cast(pl.Int64))
        assert got.select(want.columns).equals(want.select(want.columns), null_equal=True)
    else:
        assert ex.equals(before)
        assert pl.from_arrow(given).equals(before) if isinstance(given, pa.Table) else True
        assert got.equals(want)


@pytest.mark.parametrize("shift", [0, 8])
def test_sorted_runs_at_the_top_of_int64_across_ranges(shift):
    """A run of the largest keys (``ids >> shift`` at its maximum) that crosses the threads'
    cut: the search past it cannot overflow."""
    top = 2**63 - 1
    ids = np.array([5, top - 3 * (shift > 0), top - (shift > 0), top], np.int64)
    with pytest.MonkeyPatch.context() as mp:  # two ranges, cut inside the top run
        mp.setattr(k, "row_ranges", lambda n: [(0, 2), (2, n)])
        runs = k.sorted_runs(ids, shift)
    assert runs is not None and runs.n_runs == 2
    assert runs.cut == [0, 4, 4]  # the second range starts past the run it cut (at its end)
    assert runs.first.tolist() == [0, 2, 2]


def test_grouped_ids_out_of_time_order_total_in_input_order():
    """Totals only: ``ced_msv`` is summed in input order on every path, compensated, so
    integer, Enum and text ids give identical sums even where the rows are grouped by patient
    but not time-ordered (these three doses sum differently in time order when added in
    turn), and the same sum as in time order: math.fsum's."""
    doses = [32.530809568010895, 36.51022309110887, 0.6611054211411638]
    text = pl.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B"],
            "exam_date": pl.Series([11_323, 11_324, 11_323, 11_323]).cast(pl.Date),
            "effective_dose_msv": [*doses, 1.0],
        }
    )
    in_order = math.fsum(doses)  # (the sum, in any order)
    assert (doses[0] + doses[1]) + doses[2] != (doses[0] + doses[2]) + doses[1]
    variants = [
        text,
        text.with_columns(pl.col("patient_id").replace_strict({"A": 1, "B": 2})),
        text.with_columns(pl.col("patient_id").cast(pl.Enum(["A", "B"]))),
        text.with_columns(pl.col("patient_id").cast(pl.Categorical)),
    ]
    for exams in variants:
        got = cumulative_dose(exams, thresholds=())
        assert got["ced_msv"].to_list() == [in_order, 1.0]
        assert got["n_exams"].to_list() == [3, 1]
        assert got["first_exam"].cast(pl.Int32).to_list() == [11_323, 11_323]
        assert got["last_exam"].cast(pl.Int32).to_list() == [11_324, 11_323]


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 7]), st.sampled_from([1, 2]),
       st.sampled_from([(), (0.5,), (0.5, 3.0, 40.0)]), st.sampled_from([(), (3,), (30, 3)]),
       st.booleans(), st.sampled_from([1, 2, 7, 1 << 16]))  # fmt: skip
def test_row_by_row_stats_match_patient_by_patient(seed, upd, count, thr, win, want_pos, chunk):
    """:func:`kernels.sorted_stats` (row by row, then the few patients' searches) against
    :func:`kernels.patient_stats` (patient by patient) on the same grouped exams: equal
    outputs, bit for bit, with timestamps of ``upd`` units a day (before 1970 too), doses of
    -0.0, several ranges, crossings at the first exam and never, and windows shorter and
    longer than a follow-up, in blocks of ``chunk`` rows or more. (Both call the same
    searches, ``_crossings`` and ``_window_max``: the naive.py tests above check those.)"""
    rng = np.random.default_rng(seed)
    n_p = int(rng.integers(1, 400))
    sizes = rng.choice([1, 1, 1, 2, 3, 8, 40], n_p)
    ids = np.repeat(np.cumsum(rng.integers(1, 3, n_p)) - 5, sizes).astype(np.int64)
    starts = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    t = np.concatenate([np.sort(rng.integers(-60 * upd, 60 * upd, m)) for m in sizes])
    t = t.astype(np.int64)  # (before 1970 too: days by floor division)
    d = rng.choice([-0.0, 0.0, 0.25, 1.5, 12.0, 37.75], ids.size)
    thr_a, win_a = np.array(thr, np.float64), np.array(win, np.int64)

    def outputs(mark: int) -> list[np.ndarray]:  # (an element left unwritten keeps ``mark``)
        o = [np.full(n_p, mark, dt) for dt in (np.int64, np.float64, np.int32, np.int32, np.int64)]
        o += [np.full((thr_a.size, n_p), mark, dt) for dt in (np.int64, np.int64, np.int32)]
        o += [np.full((thr_a.size, n_p if want_pos else 0), mark, np.int64)]
        return [*o, np.full((win_a.size, n_p), mark, np.float64),
                np.full((win_a.size, n_p), mark, np.int32)]  # fmt: skip

    want, got = outputs(1), outputs(2)
    k.patient_stats(starts, t, d, upd, thr_a, win_a, *want)
    uniq, found = np.empty(n_p, np.int64), np.empty(n_p + 1, np.int64)
    with threads(count):
        runs = k.sorted_runs(ids)
        assert k.sorted_stats(runs, t, d, upd, thr_a, win_a, uniq, found, *got, chunk=chunk)
    np.testing.assert_array_equal(found, starts)
    np.testing.assert_array_equal(uniq, ids[starts[:-1]])
    for a, b in zip(want, got):
        assert a.tobytes() == b.tobytes()  # (bit for bit: +0.0 is not -0.0)


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2]), st.sampled_from([1, 3, 1 << 16]))
def test_row_by_row_stats_refuse_times_out_of_order_in_any_block(seed, count, chunk):
    """One patient's two exams out of time order, anywhere in the table (in any block of
    ``chunk`` rows, in either thread's range): :func:`kernels.sorted_stats` says so."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 5], int(rng.integers(1, 300)))
    sizes[rng.integers(sizes.size)] = 3  # at least one patient with several exams
    ids = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    t = np.arange(ids.size, dtype=np.int64)  # in time order
    starts = np.r_[0, np.cumsum(sizes)]
    p = rng.choice(np.flatnonzero(sizes > 1))
    j = starts[p] + rng.integers(sizes[p] - 1)
    t[[j, j + 1]] = t[[j + 1, j]]  # two exams of patient p swapped
    n_p = sizes.size
    outs = [np.empty(n_p, dt) for dt in (np.int64, np.float64, np.int32, np.int32, np.int64)]
    outs += [np.empty((1, n_p), np.int64), np.empty((1, n_p), np.int64),
             np.empty((1, n_p), np.int32), np.empty((1, 0), np.int64),
             np.empty((1, n_p), np.float64), np.empty((1, n_p), np.int32)]  # fmt: skip
    d = np.ones(ids.size)
    with threads(count):
        runs = k.sorted_runs(ids)
        assert not k.sorted_stats(runs, t, d, 1, np.array([2.0]), np.array([3], np.int64),
                                  np.empty(n_p, np.int64), np.empty(0, np.int64), *outs,
                                  chunk=chunk)  # fmt: skip
        t[[j, j + 1]] = t[[j + 1, j]]  # in order again
        assert k.sorted_stats(runs, t, d, 1, np.array([2.0]), np.array([3], np.int64),
                              np.empty(n_p, np.int64), np.empty(0, np.int64), *outs,
                              chunk=chunk)  # fmt: skip
