"""The out-of-core pipeline: buckets by ranges of patient id (no final sort), split on disk
or in memory, written behind in a thread, the hash-bucket fallback; always the in-memory
result."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import recurct
from recurct import outofcore
from recurct.errors import IncompleteOutputError
from recurct.outofcore import cumulative_dose_chunked, write_patients


def exams(n: int, n_patients: int, seed: int, *, strings: bool = False) -> pl.DataFrame:
    """Random exams with same-time ties (the input order then decides crossings)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(-n_patients, n_patients, n)
    t0 = dt.datetime(2012, 1, 1)
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in ids] if strings else ids,
            "exam_date": [t0 + dt.timedelta(days=int(d)) for d in rng.integers(0, 40, n)],
            "effective_dose_msv": rng.choice([0.0, 2.0, 10.0, 60.0, 95.0], n),
        }
    )


@pytest.fixture(autouse=True, params=["disk", "memory"])
def split(request, monkeypatch) -> str:
    """Every test with the split on disk and in memory (whatever memory is available)."""
    share = 0.0 if request.param == "disk" else 1e6
    monkeypatch.setattr(outofcore, "_MEMORY_SPLIT_SHARE", share)
    return request.param


def in_memory(frame: pl.DataFrame) -> pl.DataFrame:
    return recurct.cumulative_dose(frame, thresholds=(100,), window_days=30)


def chunked(frame: pl.DataFrame, buckets: int) -> pl.DataFrame:
    return cumulative_dose_chunked(frame.lazy(), thresholds=(100,), window_days=30, buckets=buckets)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 300),
    n_patients=st.integers(1, 80),
    buckets=st.integers(2, 13),
    seed=st.integers(0, 2**16),
    strings=st.booleans(),
)
def test_range_buckets_equal_in_memory(n, n_patients, buckets, seed, strings) -> None:
    frame = exams(n, n_patients, seed, strings=strings)
    assert_frame_equal(chunked(frame, buckets), in_memory(frame))


def test_range_bounds_are_sorted_quantiles() -> None:
    frame = exams(5_000, 1_000, 1)
    bounds = outofcore._range_bounds(frame.lazy(), 4)
    assert bounds is not None and bounds.is_sorted() and bounds.len() == 3
    # about a quarter of the exams below the first bound (evenly spaced sample: exact here)
    share = (frame["patient_id"] < bounds[0]).mean()
    assert 0.2 < share < 0.3
    assert outofcore._range_bounds(frame.with_columns(pl.col("patient_id") * 0.5).lazy(), 4) is None
    assert outofcore._range_bounds(frame.lazy(), outofcore._MAX_RANGE_BUCKETS + 1) is None


@pytest.mark.parametrize("buckets", [3, 12])
def test_buckets_in_id_order_need_no_sort(tmp_path, monkeypatch, buckets) -> None:
    # 12 buckets: folders "=10", "=11" come after "=9" by number, not by name
    frame = exams(4_000, 700, 2)
    want = in_memory(frame)

    def no_sort(columns):
        raise AssertionError("range buckets came out of id order")

    monkeypatch.setattr(outofcore, "_sorted_by_patient", no_sort)
    assert_frame_equal(chunked(frame, buckets), want)
    out = write_patients(frame.lazy(), tmp_path / "out", thresholds=(100,), window_days=30,
                         buckets=buckets)
    parts = sorted(out.glob("part-*.parquet"))
    back = pl.concat([pl.read_parquet(p) for p in parts])
    assert back["patient_id"].is_sorted()  # the parts, in name order, are in id order
    assert_frame_equal(back, want)


@pytest.mark.parametrize("bounds", ["none", "unsorted"])
def test_hash_fallback_and_unsorted_buckets(monkeypatch, bounds) -> None:
    # no bounds: hash buckets; bounds out of order: buckets out of id order. Either way every
    # patient is in one bucket and the final sort puts the table in order
    frame = exams(3_000, 500, 3, strings=True)
    fake = None if bounds == "none" else pl.Series(["p7", "p-3", "p40", "p1"])
    monkeypatch.setattr(outofcore, "_range_bounds", lambda lf, k, *_: fake)
    assert_frame_equal(chunked(frame, 5), in_memory(frame))


def test_skewed_and_constant_ids() -> None:
    # one patient holds most exams: equal bounds, empty buckets; one id only: one bucket
    frame = exams(2_000, 300, 4)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 < 8).then(7).otherwise(pl.col("patient_id"))
        .alias("patient_id")
    )
    assert_frame_equal(chunked(frame, 6), in_memory(frame))
    single = frame.with_columns(pl.lit(5, dtype=pl.Int64).alias("patient_id"))
    assert_frame_equal(chunked(single, 4), in_memory(single))


def test_null_id_names_the_input_row() -> None:
    frame = exams(500, 50, 5).with_columns(
        pl.when(pl.int_range(pl.len()) == 321).then(None).otherwise(pl.col("patient_id"))
        .alias("patient_id")
    )
    with pytest.raises(ValueError, match=r"\b321\b"):
        chunked(frame, 4)


def test_failed_write_leaves_no_folder(tmp_path, monkeypatch) -> None:
    # a write in the writer thread fails: the error reaches the caller, no folder is left
    frame = exams(3_000, 400, 6)
    write = pl.DataFrame.write_parquet
    calls = []

    def failing(self, file, **kwargs):
        calls.append(file)
        if len(calls) == 2:
            raise OSError("disk full")
        return write(self, file, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)
    # named as an incomplete output, with the reason (it was the bare OSError)
    with pytest.raises(IncompleteOutputError, match=r"out.*disk full"):
        write_patients(frame.lazy(), tmp_path / "out", buckets=4)
    assert list(tmp_path.iterdir()) == []


def test_split_in_memory_only_when_it_fits(monkeypatch, split) -> None:
    frame = exams(1_000, 100, 7)
    assert outofcore._split_fits_in_memory(frame.lazy()) == (split == "memory")
    # an optional string column of unknown size: on disk
    with_strings = frame.with_columns(pl.lit("a long facility name").alias("facility"))
    assert not outofcore._split_fits_in_memory(with_strings.lazy())
    # 28 bytes per exam (3 columns and the row number) against the available memory
    monkeypatch.setattr(outofcore, "_MEMORY_SPLIT_SHARE", 0.5)
    monkeypatch.setattr(outofcore, "_available_memory", lambda: 56_000)
    assert outofcore._split_fits_in_memory(frame.lazy())
    assert not outofcore._split_fits_in_memory(pl.concat([frame, frame.head(1)]).lazy())
    monkeypatch.setattr(outofcore, "_available_memory", lambda: None)
    assert not outofcore._split_fits_in_memory(frame.lazy())


def sorted_folder(tmp_path, frame: pl.DataFrame, *, statistics: bool = True):
    """``frame`` sorted by patient (stable) in three files of small row groups: patients
    straddle row groups and files."""
    folder = tmp_path / "sorted"
    (folder / "sub").mkdir(parents=True)
    frame = frame.sort("patient_id", maintain_order=True, nulls_last=True)
    names = ["a.parquet", "b.parquet", "sub/c.parquet"]  # sorted paths: the reading order
    for name, part in zip(names, frame.iter_slices(frame.height // 3 + 1), strict=True):
        part.write_parquet(folder / name, row_group_size=97, statistics=statistics)
    return folder, frame


@pytest.mark.parametrize("strings", [False, True])
def test_clustered_source_is_read_without_split(tmp_path, monkeypatch, strings) -> None:
    folder, frame = sorted_folder(tmp_path, exams(3_000, 300, 8, strings=strings))
    loaders = outofcore._clustered_loaders(folder, pl.scan_parquet(folder), 6)
    assert loaders is not None and 4 <= len(loaders) <= 7

    def no_split(*args):
        raise AssertionError("a sorted source was split")

    monkeypatch.setattr(outofcore, "_range_bounds", no_split)
    want = in_memory(frame)
    got = cumulative_dose_chunked(folder, thresholds=(100,), window_days=30, buckets=6)
    assert_frame_equal(got, want)
    out = write_patients(folder, tmp_path / "out", thresholds=(100,), window_days=30, buckets=6)
    assert_frame_equal(pl.read_parquet(out / "*.parquet"), want)


def test_clustered_patient_over_several_runs(tmp_path) -> None:
    # one patient with 700 of 1,500 exams spans several runs of row groups (carried over
    # run after run); rows unsorted within a row group (only the groups are ordered)
    frame = exams(1_500, 60, 11)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 700).then(0).otherwise(pl.col("patient_id"))
        .alias("patient_id")
    )
    folder, ordered = sorted_folder(tmp_path, frame)
    loaders = outofcore._clustered_loaders(folder, pl.scan_parquet(folder), 8)
    assert loaders is not None and len(loaders) >= 6
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=8), recurct.cumulative_dose(ordered))
    shuffled = tmp_path / "groups.parquet"
    # ids out of order inside each row group of 100 rows, the groups in order
    within = ordered.with_columns((pl.int_range(pl.len()) // 100).alias("g")).sort(
        "g", pl.col("effective_dose_msv"), maintain_order=True
    ).drop("g")
    within.write_parquet(shuffled, row_group_size=100)
    assert outofcore._clustered_loaders(shuffled, pl.scan_parquet(shuffled), 5) is not None
    got = cumulative_dose_chunked(shuffled, buckets=5)
    assert_frame_equal(got, recurct.cumulative_dose(within))


def test_unclustered_source_falls_back_to_split(tmp_path) -> None:
    frame = exams(2_000, 300, 9)
    folder, _ = sorted_folder(tmp_path, frame, statistics=False)  # no statistics
    assert outofcore._clustered_loaders(folder, pl.scan_parquet(folder), 4) is None
    (tmp_path / "shuffled.parquet").unlink(missing_ok=True)
    frame.write_parquet(tmp_path / "shuffled.parquet", row_group_size=100)  # ids out of order
    lf = pl.scan_parquet(tmp_path / "shuffled.parquet")
    assert outofcore._clustered_loaders(tmp_path / "shuffled.parquet", lf, 4) is None
    assert outofcore._clustered_loaders(frame.lazy(), frame.lazy(), 4) is None
    assert_frame_equal(chunked(frame, 4), in_memory(frame))


def test_clustered_null_id_falls_back_and_names_the_row(tmp_path) -> None:
    frame = exams(1_000, 100, 10).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("patient_id"))
        .alias("patient_id")
    )
    folder, ordered = sorted_folder(tmp_path, frame)  # the null id sorted last
    assert outofcore._clustered_loaders(folder, pl.scan_parquet(folder), 4) is None
    with pytest.raises(ValueError, match=rf"\b{ordered.height - 1}\b"):
        cumulative_dose_chunked(folder, buckets=4)


def test_polars_reads_files_in_sorted_path_order(tmp_path) -> None:
    # the clustered path numbers input rows in the order of _parquet_files: polars' own
    folder = tmp_path / "d"
    (folder / "z").mkdir(parents=True)
    names = ["b.parquet", "a.parquet", "z/a.parquet", "c.parquet", ".h.parquet", "_u.parquet"]
    for i, name in enumerate(names):
        pl.DataFrame({"x": [i, i]}).write_parquet(folder / name)
    files = outofcore._parquet_files(folder)
    assert len(files) == len(names)  # hidden files too: polars reads them
    read = pl.read_parquet(str(folder / "**" / "*.parquet"))
    assert_frame_equal(read, pl.concat([pl.read_parquet(f) for f in files]))
    assert outofcore._parquet_files(folder / "a.parquet") == [str(folder / "a.parquet")]
    glob_read = pl.read_parquet(str(folder / "*.parquet"))
    in_order = outofcore._parquet_files(str(folder / "*.parquet"))
    assert_frame_equal(glob_read, pl.concat([pl.read_parquet(f) for f in in_order]))



def test_clustered_path_needs_the_rows_polars_reads(tmp_path) -> None:
    # statistics of other files than those polars reads (a safety net): no clustered path
    for name, ids in [("a.parquet", [1, 2]), ("b.parquet", [3, 4])]:
        pl.DataFrame({"patient_id": ids}).write_parquet(tmp_path / name)
    lf = pl.scan_parquet(tmp_path / "*.parquet")
    assert outofcore._clustered_loaders(tmp_path, lf, 2) is not None
    assert outofcore._clustered_loaders(tmp_path / "a.parquet", lf, 2) is None
