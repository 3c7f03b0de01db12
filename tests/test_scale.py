"""Out-of-core (patient buckets on disk) and Dask paths give exactly the in-memory result."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct import outofcore
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients


def cohort(n_exams: int, n_patients: int, seed: int = 0) -> pl.DataFrame:
    """Random exams: unsorted, same-day ties, zero doses, string-typed facility."""
    rng = np.random.default_rng(seed)
    day0 = dt.date(2010, 1, 1)
    days = rng.integers(0, 3650, n_exams)
    secs = rng.choice([0, 3600, 7200], n_exams)  # several exams a day, some at the same time
    dose = rng.lognormal(1.5, 1.2, n_exams)
    dose[rng.random(n_exams) < 0.02] = 0.0
    return pl.DataFrame(
        {
            "patient_id": rng.integers(0, n_patients, n_exams),
            "exam_date": pl.Series(
                [
                    dt.datetime.combine(day0, dt.time()) + dt.timedelta(days=int(d), seconds=int(s))
                    for d, s in zip(days, secs, strict=True)
                ]
            ),
            "effective_dose_msv": dose,
            "age_years": rng.uniform(0, 95, n_exams).round(1),
            "sex": rng.choice(["F", "M"], n_exams),
            "facility": rng.choice(["A", "B", "C", "D"], n_exams),
        }
    )


@pytest.fixture(scope="module")
def exams() -> pl.DataFrame:
    return cohort(20_000, 6_000)


@pytest.mark.parametrize("buckets", [1, 2, 7])
def test_chunked_equals_in_memory(exams: pl.DataFrame, tmp_path, buckets: int) -> None:
    path = tmp_path / "exams.parquet"
    exams.write_parquet(path)
    want = recurct.cumulative_dose(exams, thresholds=(50, 100), window_days=365)
    got = cumulative_dose_chunked(
        path, thresholds=(50, 100), window_days=365, buckets=buckets, tmpdir=tmp_path
    )
    assert_frame_equal(got, want)
    # the temporary bucket dataset is removed
    assert [p.name for p in tmp_path.iterdir()] == ["exams.parquet"]


def test_chunked_to_parquet_folder(exams: pl.DataFrame, tmp_path) -> None:
    want = recurct.cumulative_dose(exams, thresholds=(100,))
    for k in (1, 4):
        out = write_patients(exams.lazy(), tmp_path / f"k{k}", buckets=k)
        assert out == tmp_path / f"k{k}"
        assert len(list(out.glob("part-*.parquet"))) == k
        got = pl.read_parquet(str(out / "part-*.parquet")).sort("patient_id")
        assert_frame_equal(got, want)
    with pytest.raises(FileExistsError, match="already holds"):
        write_patients(exams.lazy(), tmp_path / "k4", buckets=2)


def test_chunked_folder_and_lazyframe(exams: pl.DataFrame, tmp_path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    # a patient's exams spread over several files
    for i, part in enumerate(exams.iter_slices(n_rows=6_000)):
        part.write_parquet(folder / f"part-{i}.parquet")
    want = recurct.cumulative_dose(exams, thresholds=(100,))
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=3), want)
    assert_frame_equal(cumulative_dose_chunked(exams.lazy(), buckets=3), want)
    assert_frame_equal(cumulative_dose_chunked(exams.lazy(), rows_per_bucket=5_000), want)


def test_cumulative_dose_dispatches_lazy_and_paths(exams: pl.DataFrame, tmp_path) -> None:
    path = tmp_path / "exams.parquet"
    exams.write_parquet(path)
    want = recurct.cumulative_dose(exams, thresholds=(100,), window_days=365)
    assert_frame_equal(recurct.cumulative_dose(path, window_days=365), want)
    assert_frame_equal(recurct.cumulative_dose(str(path), window_days=365), want)
    assert_frame_equal(recurct.cumulative_dose(exams.lazy(), window_days=365), want)
    with pytest.raises(ValueError, match="in memory"):
        recurct.cumulative_dose(exams.lazy(), indication="first")


def tied_exams(doses: list[float]) -> pl.DataFrame:
    """Patient "p" with ``doses`` all at one timestamp, and 50 one-exam patients."""
    t = dt.datetime(2020, 1, 1)
    return pl.DataFrame(
        {
            "patient_id": ["p"] * len(doses) + [f"q{i}" for i in range(50)],
            "exam_date": [t] * (len(doses) + 50),
            "effective_dose_msv": doses + [1.0] * 50,
        }
    )


def test_chunked_ties_keep_input_order(tmp_path) -> None:
    # same timestamp; the crossing exam depends on the input order (95 + 10 vs 95 + 2 + 10)
    exams = tied_exams([95.0, 2.0, 10.0])
    got = cumulative_dose_chunked(exams.lazy(), buckets=5).filter(pl.col("patient_id") == "p")
    assert got["exams_to_100"].to_list() == [3]


def test_chunked_bucket_out_of_input_order(monkeypatch) -> None:
    # a bucket read back out of input order (the sink keeps it in order today) is sorted by
    # its row numbers first, so that ties in time still break as in memory (95 + 10: 2 exams;
    # in reverse order 2 + 10 + 95: 3)
    exams = tied_exams([95.0, 10.0, 2.0])
    monkeypatch.setattr(outofcore, "_MEMORY_SPLIT_SHARE", 0.0)  # the split on disk
    read = pl.read_parquet
    monkeypatch.setattr(pl, "read_parquet", lambda *a, **k: read(*a, **k).reverse())
    got = cumulative_dose_chunked(exams.lazy(), buckets=5)
    monkeypatch.undo()
    assert_frame_equal(got, recurct.cumulative_dose(exams))
    assert got.filter(pl.col("patient_id") == "p")["exams_to_100"].to_list() == [2]


def test_scan_exams_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        scan_exams(tmp_path / "missing.parquet")
    with pytest.raises(FileNotFoundError, match=r"folder holds no Parquet files"):
        scan_exams(tmp_path)
    with pytest.raises(TypeError, match="LazyFrame or a path"):
        scan_exams(42)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.mark.slow
def test_dask_equals_in_memory(client, tmp_path) -> None:
    dd = pytest.importorskip("dask.dataframe")
    from recurct import distributed as rd

    exams = cohort(100_000, 40_000, seed=1)
    # 8 input files in input order: most patients are split across partitions
    for i, part in enumerate(exams.iter_slices(n_rows=12_500)):
        part.write_parquet(tmp_path / f"part-{i}.parquet")
    ddf = dd.read_parquet(str(tmp_path / "*.parquet"))
    assert ddf.npartitions == 8
    want = recurct.cumulative_dose(exams, thresholds=(50, 100), window_days=(365, 1826))
    got_dd = rd.cumulative_dose(ddf, thresholds=(50, 100), window_days=(365, 1826))
    got = got_dd.compute().sort_values("patient_id", ignore_index=True)
    # the in-memory pandas frame: the same values and dtypes
    want_pd = recurct.cumulative_dose(
        exams.to_pandas(), thresholds=(50, 100), window_days=(365, 1826)
    )
    pd.testing.assert_frame_equal(got, want_pd)

    for by in (None, "facility", ["facility", "sex"]):
        want_m = recurct.stats.magnitude(want, thresholds=100, by=by)
        got_m = rd.magnitude(got_dd, thresholds=100, by=by)
        assert_frame_equal(got_m, want_m)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [0, None])  # 0: through Dask's P2P shuffle
def test_dask_split_or_shuffle_on_the_cluster(client, monkeypatch, limit) -> None:
    dd = pytest.importorskip("dask.dataframe")
    from recurct import distributed as rd

    if limit is not None:
        monkeypatch.setattr(rd, "MAX_PIECES", limit)
    exams = cohort(20_000, 6_000, seed=3).with_columns(
        pl.format("p{}", "patient_id").alias("patient_id")
    )
    ddf = dd.from_pandas(exams.to_pandas(), npartitions=6, sort=False)
    got = rd.cumulative_dose(ddf, thresholds=(50, 100), window_days=365, buckets=4)
    assert got.npartitions == 4
    got = pl.from_pandas(got.compute(), include_index=False).sort("patient_id")
    want = recurct.cumulative_dose(exams, thresholds=(50, 100), window_days=365)
    assert_frame_equal(got, want, check_dtypes=False)


@pytest.mark.slow
def test_dask_stratum_without_high_dose_patients(client, tmp_path) -> None:
    dd = pytest.importorskip("dask.dataframe")
    from recurct import distributed as rd

    low = pl.col("patient_id") % 4 == 0  # these patients: all exams at site D, low doses
    exams = cohort(5_000, 1_000, seed=2).with_columns(
        pl.when(low).then(pl.lit("D")).otherwise(pl.lit("A")).alias("facility"),
        pl.when(low).then(0.1).otherwise(pl.col("effective_dose_msv")).alias("effective_dose_msv"),
    )
    want = recurct.stats.magnitude(recurct.cumulative_dose(exams), thresholds=100, by="facility")
    for i, part in enumerate(exams.iter_slices(n_rows=2_000)):
        part.write_parquet(tmp_path / f"part-{i}.parquet")
    ddf = dd.read_parquet(str(tmp_path / "*.parquet"))
    got = rd.magnitude(rd.cumulative_dose(ddf), thresholds=100, by="facility")
    assert_frame_equal(got, want)
    assert got.filter(pl.col("facility") == "D")["n_reached"].to_list() == [0]
