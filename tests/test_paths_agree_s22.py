"""Every engine path gives the same answer: in memory, out of core and on Dask.

Partitions of different dtypes (``float32`` doses beside ``float64``, ``uint64`` ids beside
``int64``) give the in-memory result; the error of bad exams is the same check, in the same
order, with the same words, naming the whole input's first rows on every path; ``compute()``
gives the in-memory pandas frame, dtypes included; a glob over a partitioned folder is
checked as the folder is; a folder of many partition files is compared in batches.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
from recurct.errors import DataError, IdentifierWarning, ParameterError
from recurct.outofcore import cumulative_dose_chunked

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
rd = pytest.importorskip("recurct.distributed")

D = dt.date
THR = (50.0, 100.0)
WIN = (30, 365)


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def _exams(n_patients: int = 60, seed: int = 0) -> pl.DataFrame:
    """Exams of ``n_patients`` patients, several per patient, in shuffled order, with ties
    in time and doses of three decimals (plus a patient at exactly 100 mSv as written)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 8, n_patients)
    ids = np.repeat(np.arange(n_patients), k)
    days = rng.integers(0, 800, ids.size)
    doses = np.round(rng.lognormal(np.log(8), 1.0, ids.size), 3)
    exams = pl.DataFrame(
        {
            "patient_id": ids.astype(np.int64),
            "exam_date": [D(2015, 1, 1) + dt.timedelta(days=int(x)) for x in days],
            "effective_dose_msv": doses,
        }
    )
    exact = pl.DataFrame(
        {
            "patient_id": [n_patients] * 3,
            "exam_date": [D(2020, 1, 1), D(2020, 1, 5), D(2020, 2, 1)],
            "effective_dose_msv": [99.7, 0.2, 0.1],
        }
    )
    exams = pl.concat([exams, exact])
    return exams[rng.permutation(exams.height)]


def _parts(*frames: pd.DataFrame):
    """A Dask DataFrame whose partitions are ``frames`` as they are (dtypes may differ)."""
    return dd.from_delayed(
        [dask.delayed(f) for f in frames], meta=frames[0].iloc[:0], verify_meta=False
    )


def _as_written(exams: pl.DataFrame, rows: slice) -> pl.DataFrame:
    """``exams`` with the doses of ``rows`` as a float32 written by its shortest decimal."""
    f32 = pl.col("effective_dose_msv").cast(pl.Float32).cast(pl.String).cast(pl.Float64)
    a, b = exams[rows], exams[rows.stop :]
    return pl.concat([a.with_columns(f32), b])


def _dask_polars(ddf, **kwargs) -> pl.DataFrame:
    got = rd.cumulative_dose(ddf, thresholds=THR, window_days=WIN, **kwargs).compute()
    return pl.from_pandas(got).sort("patient_id")


@pytest.fixture(params=["split", "shuffle"])
def route(request, monkeypatch) -> str:
    """The Dask route: pieces per output partition, or Dask's own shuffle."""
    monkeypatch.setattr(rd, "MAX_PIECES", 0 if request.param == "shuffle" else rd.MAX_PIECES)
    return request.param


# --- partitions of different dtypes ------------------------------------------------------


@pytest.mark.parametrize("flavour", ["numpy", "nullable", "arrow"])
@pytest.mark.parametrize("buckets", [1, 3])
def test_float32_doses_beside_float64_are_read_as_written(route, flavour, buckets) -> None:
    exams = _exams()
    half = exams.height // 2
    a = exams[:half].with_columns(pl.col("effective_dose_msv").cast(pl.Float32))
    if flavour == "arrow":
        first = a.to_pandas(use_pyarrow_extension_array=True)
    else:
        first = a.to_pandas()
        if flavour == "nullable":
            first = first.astype({"effective_dose_msv": "Float32"})
    want = recurct.cumulative_dose(
        _as_written(exams, slice(0, half)), thresholds=THR, window_days=WIN
    )
    got = _dask_polars(_parts(first, exams[half:].to_pandas()), buckets=buckets)
    assert got["ced_msv"].to_list() == want["ced_msv"].to_list()
    assert got["reached_100"].to_list() == want["reached_100"].to_list()
    assert got["max_ced_365"].to_list() == want["max_ced_365"].to_list()


def test_float32_file_beside_float64_file_on_every_path(tmp_path) -> None:
    a = pl.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": [D(2020, 1, 1), D(2020, 2, 1), D(2020, 1, 1)],
            "effective_dose_msv": pl.Series([99.7, 0.2, 5.0], dtype=pl.Float32),
        }
    )
    b = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "exam_date": [D(2020, 3, 1), D(2020, 3, 1)],
            "effective_dose_msv": [0.1, 1.0],
        }
    )
    a.write_parquet(tmp_path / "a.parquet")
    b.write_parquet(tmp_path / "b.parquet")
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    one = recurct.cumulative_dose(str(tmp_path))
    assert one.filter(pl.col("patient_id") == 1).select("ced_msv", "reached_100").row(0) == (
        100.0,
        True,
    )
    got = rd.cumulative_dose(dd.read_parquet(files)).compute()
    mine = pl.from_pandas(got).sort("patient_id")
    assert mine["ced_msv"].to_list() == one["ced_msv"].to_list() == [100.0, 6.0]
    assert mine["reached_100"].to_list() == [True, False]


@pytest.mark.parametrize("ids", ["uint64", "UInt64", "int32", "uint64 beyond 2^53"])
@pytest.mark.parametrize("buckets", [1, 4])
def test_integer_ids_of_any_width_beside_int64(route, ids, buckets) -> None:
    exams = _exams()
    if ids == "uint64 beyond 2^53":  # (no float64 in between: each id exact)
        exams = exams.with_columns(pl.col("patient_id") * 3 + 2**60)
        ids = "uint64"
    half = exams.height // 2
    first = exams[:half].to_pandas().astype({"patient_id": ids})
    got = _dask_polars(_parts(first, exams[half:].to_pandas()), buckets=buckets)
    want = recurct.cumulative_dose(exams, thresholds=THR, window_days=WIN)
    assert got["patient_id"].to_list() == want["patient_id"].to_list()
    assert got["ced_msv"].to_list() == want["ced_msv"].to_list()
    assert got["n_exams"].to_list() == want["n_exams"].to_list()


@pytest.mark.parametrize("ids", ["int32", "uint64", "UInt32"])
def test_integer_ids_come_back_int64_as_the_meta_says(route, ids) -> None:
    pdf = _exams().to_pandas().astype({"patient_id": ids})
    patients = rd.cumulative_dose(dd.from_pandas(pdf, npartitions=3), buckets=2)
    got = patients.compute()
    assert str(got["patient_id"].dtype) == str(patients.dtypes["patient_id"]) == "Int64"
    want = recurct.cumulative_dose(pdf)
    assert got.sort_values("patient_id")["ced_msv"].tolist() == want["ced_msv"].tolist()


def test_uint64_file_beside_int64_file_on_dask(tmp_path) -> None:
    exams = _exams()
    half = exams.height // 2
    exams[:half].with_columns(pl.col("patient_id").cast(pl.UInt64)).write_parquet(
        tmp_path / "a.parquet"
    )
    exams[half:].write_parquet(tmp_path / "b.parquet")
    ddf = dd.read_parquet([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    got = _dask_polars(ddf, buckets=3)
    want = cumulative_dose_chunked(tmp_path, thresholds=THR, window_days=WIN, buckets=3)
    assert got["patient_id"].to_list() == want["patient_id"].to_list()
    assert got["ced_msv"].to_list() == want["ced_msv"].to_list()


@pytest.mark.parametrize("buckets", [1, 3])
def test_uint64_id_too_large_is_the_in_memory_error(route, buckets) -> None:
    exams = _exams()
    half = exams.height // 2
    big = exams.with_columns(pl.col("patient_id").cast(pl.UInt64))
    big = big.with_columns(
        pl.when(pl.int_range(pl.len()) == half + 7)
        .then(2**63 + 5)
        .otherwise(pl.col("patient_id"))
        .alias("patient_id")
    )
    with pytest.raises(DataError) as memory:
        recurct.cumulative_dose(big)
    ddf = _parts(exams[:half].to_pandas(), big[half:].to_pandas())
    with pytest.raises(DataError) as on_dask:
        rd.cumulative_dose(ddf, buckets=buckets).compute()
    assert str(memory.value).startswith("cumulative_dose: ")
    assert str(on_dask.value).startswith("recurct.distributed.cumulative_dose: ")
    assert str(on_dask.value).split(": ", 1)[1] == str(memory.value).split(": ", 1)[1]
    assert f"row {half + 7} (0-based)" in str(on_dask.value)


# --- the same errors -----------------------------------------------------------------------


def _with_doses(exams: pl.DataFrame, doses: dict[int, float | None]) -> pl.DataFrame:
    """``exams`` with the dose of each input row of ``doses`` replaced."""
    dose = pl.col("effective_dose_msv")
    i = pl.int_range(pl.len())
    for row, value in doses.items():
        dose = pl.when(i == row).then(pl.lit(value, dtype=pl.Float64)).otherwise(dose)
    return exams.with_columns(dose.alias("effective_dose_msv"))


def _errors(exams: pl.DataFrame, route: str) -> dict[str, str]:
    """The error text of every path on ``exams``, without the function's name."""
    pdf = exams.to_pandas()
    runs = {
        "memory": lambda: recurct.cumulative_dose(exams),
        "pandas": lambda: recurct.cumulative_dose(pdf),
        "ooc 1": lambda: cumulative_dose_chunked(exams.lazy(), buckets=1),
        "ooc 3": lambda: cumulative_dose_chunked(exams.lazy(), buckets=3),
        "dask": lambda: rd.cumulative_dose(dd.from_pandas(pdf, npartitions=3)).compute(),
        "dask 5": lambda: rd.cumulative_dose(
            dd.from_pandas(pdf, npartitions=3), buckets=5
        ).compute(),
    }
    out = {}
    for name, run in runs.items():
        with pytest.raises(DataError) as err:
            run()
        out[name] = str(err.value).split(": ", 1)[1]
    return out


def test_a_null_dose_is_reported_before_a_negative_one_on_every_path(route) -> None:
    exams = _with_doses(_exams(), {5: -1.0, 90: None})
    for name, text in _errors(exams, route).items():
        assert text.startswith("column 'effective_dose_msv' is null in "), (name, text)
        assert "row 90 (0-based" in text, (name, text)
        assert text.endswith("; compute or drop these doses first"), (name, text)


def test_bad_doses_have_the_in_memory_words_on_every_path(route) -> None:
    # (no NaN: a pandas NaN is a missing dose, null, as in memory)
    exams = _with_doses(_exams(), {5: -1.0, 40: -0.5, 90: float("inf")})
    for name, text in _errors(exams, route).items():
        assert text.startswith("column 'effective_dose_msv' is negative, NaN or infinite in ")
        assert text.endswith("; doses must be finite and >= 0 mSv"), (name, text)  # no "first"
        assert "rows 5, 40, 90 (0-based" in text, (name, text)


def test_dask_names_the_first_bad_rows_of_the_whole_input(route) -> None:
    exams = _exams(300)
    bad = [5, 100, 200, 600, 607, 900]
    exams = _with_doses(exams, dict.fromkeys(bad, -1.0))
    texts = _errors(exams, route)
    shown = "5, 100, 200, 600, 607"
    assert f"rows {shown} (first 5 of 6) (0-based)" in texts["memory"]  # (five shown)
    for name in ("ooc 3", "dask", "dask 5"):
        assert f"input rows {shown}, 900 (0-based rows of the input)" in texts[name], texts[name]
    assert texts["dask"] == texts["dask 5"] == texts["ooc 3"]


def test_dask_persist_names_the_whole_inputs_rows(route) -> None:
    exams = _with_doses(_exams(300), {5: -1.0, 900: -1.0})
    ddf = dd.from_pandas(exams.to_pandas(), npartitions=3)
    with pytest.raises(DataError, match=r"input rows 5, 900 \(0-based rows of the input\)"):
        rd.cumulative_dose(ddf).persist()
    with pytest.raises(DataError, match=r"input rows 5, 900 \(0-based rows of the input\)"):
        rd.magnitude(rd.cumulative_dose(ddf), thresholds=100)


def test_dask_counts_the_ids_in_scientific_notation_of_every_partition() -> None:
    exams = _exams(300).with_columns(pl.col("patient_id").cast(pl.String))
    sci = pl.int_range(pl.len()).is_in([3, 700, 1100])
    exams = exams.with_columns(
        pl.when(sci).then(pl.lit("1,23457E+11")).otherwise("patient_id").alias("patient_id")
    )

    def said(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(DataError) as err:
                run()
        found = [w.message for w in caught if issubclass(w.category, IdentifierWarning)]
        assert len(found) == 1, found
        return found[0], str(err.value)

    memory, memory_error = said(lambda: recurct.cumulative_dose(exams))
    ddf = dd.from_pandas(exams.to_pandas(), npartitions=3)
    on_dask, dask_error = said(lambda: rd.cumulative_dose(ddf).compute())
    assert on_dask.scientific_ids == memory.scientific_ids == 3
    assert "rows 3, 700, 1100 of the input" in str(on_dask)
    assert "'patient_id' is null in input rows 3, 700, 1100 " in dask_error
    assert "'patient_id' is null in rows 3, 700, 1100 " in memory_error


# --- compute() gives the in-memory pandas frame ----------------------------------------------


@pytest.mark.parametrize("ids", ["int", "text", "category"])
def test_compute_equals_the_in_memory_pandas_frame(route, ids) -> None:
    exams = _exams()
    if ids != "int":
        exams = exams.with_columns(pl.format("p{}", "patient_id").alias("patient_id"))
    pdf = exams.to_pandas()
    if ids == "category":
        pdf = pdf.astype({"patient_id": "category"})
    want = recurct.cumulative_dose(pdf, thresholds=THR, window_days=WIN)
    for convert in (True, False):  # whatever Dask's string conversion says
        with dask.config.set({"dataframe.convert-string": convert}):
            ddf = dd.from_pandas(pdf, npartitions=3)
            got = rd.cumulative_dose(ddf, thresholds=THR, window_days=WIN).compute()
        pd.testing.assert_frame_equal(got.sort_values("patient_id", ignore_index=True), want)


# --- a glob over a partitioned folder is checked as the folder is ---------------------------


def _hive(root: Path) -> tuple[Path, Path]:
    """A plain hive folder whose files lack their partition column ``facility``, and one
    written by polars' partition_by (files keep it) with a row that disagrees."""
    exams = _exams().with_columns(
        facility=pl.when(pl.col("patient_id") % 2 == 0).then(pl.lit("A")).otherwise(pl.lit("B"))
    )
    plain = root / "plain"
    for f in ("A", "B"):
        (plain / f"facility={f}").mkdir(parents=True)
        part = exams.filter(pl.col("facility") == f).drop("facility")
        part.write_parquet(plain / f"facility={f}" / "x.parquet")
    odd = root / "odd"
    exams.write_parquet(odd, partition_by="facility")
    (file_a,) = (odd / "facility=A").glob("*.parquet")
    t = pl.read_parquet(file_a)
    t.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("B")).otherwise("facility")
        .alias("facility")
    ).write_parquet(file_a)  # fmt: skip
    return plain, odd


@pytest.mark.parametrize("pattern", ["**/*.parquet", "*/*.parquet", "facility=*/x.parquet"])
def test_a_glob_never_drops_a_partition_column(tmp_path, pattern) -> None:
    plain, _ = _hive(tmp_path)
    with pytest.raises(ParameterError, match="would be dropped"):
        cumulative_dose_chunked(plain)
    glob = f"{plain}/{pattern}"
    for run in (
        lambda: cumulative_dose_chunked(glob, buckets=2),
        lambda: recurct.cumulative_dose(glob),
        lambda: recurct.outofcore.scan_exams(glob),
    ):
        with pytest.raises(ParameterError, match=r"\['facility'\], which would be dropped"):
            run()


def test_a_glob_refuses_a_file_that_disagrees_with_its_folder(tmp_path) -> None:
    _, odd = _hive(tmp_path)
    with pytest.raises(DataError, match="row 3 of the file"):
        cumulative_dose_chunked(odd)
    with pytest.raises(DataError, match="row 3 of the file"):
        cumulative_dose_chunked(f"{odd}/**/*.parquet", buckets=2)


def test_a_glob_of_an_agreeing_partitioned_folder_is_read_as_the_folder(tmp_path) -> None:
    exams = _exams().with_columns(facility=pl.lit("A"))
    folder = tmp_path / "ok"
    exams.write_parquet(folder, partition_by="facility")
    whole = cumulative_dose_chunked(folder, buckets=2)
    assert cumulative_dose_chunked(f"{folder}/**/*.parquet", buckets=2).equals(whole)


# --- many partition files are compared in batches --------------------------------------------


def test_partition_files_are_compared_in_batches(tmp_path, monkeypatch) -> None:
    from recurct.io import _parquet

    exams = _exams().with_columns(facility=(pl.col("patient_id") % 7).cast(pl.String))
    folder = tmp_path / "many"
    exams.write_parquet(folder, partition_by="facility")
    batches: list[int] = []
    collect_all = pl.collect_all

    def counted(frames, *args, **kwargs):
        batches.append(len(frames))
        return collect_all(frames, *args, **kwargs)

    monkeypatch.setattr(_parquet, "_FILES_AT_ONCE", 2)
    monkeypatch.setattr(pl, "collect_all", counted)
    whole = cumulative_dose_chunked(folder, buckets=2)
    assert whole.height == exams["patient_id"].n_unique()
    assert batches and max(batches) <= 2 and sum(batches) == 7
    # a disagreeing row in the last file is still found
    last = sorted(folder.rglob("*.parquet"))[-1]
    t = pl.read_parquet(last)
    t.with_columns(pl.lit("x").alias("facility")).write_parquet(last)
    with pytest.raises(DataError, match="row 0 of the file"):
        cumulative_dose_chunked(folder, buckets=2)


# --- on a cluster --------------------------------------------------------------------------


def test_on_a_local_cluster_every_path_agrees() -> None:
    distributed = pytest.importorskip("distributed")
    exams = _exams()
    half = exams.height // 2
    first = exams[:half].with_columns(
        pl.col("patient_id").cast(pl.UInt64), pl.col("effective_dose_msv").cast(pl.Float32)
    )
    want = recurct.cumulative_dose(_as_written(exams, slice(0, half)).to_pandas())
    bad = _with_doses(exams, {5: -1.0, half + 3: -1.0})
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=":0", silence_logs=50
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = rd.cumulative_dose(
            _parts(first.to_pandas(), exams[half:].to_pandas()), buckets=3
        ).compute()
        pd.testing.assert_frame_equal(got.sort_values("patient_id", ignore_index=True), want)
        ddf = _parts(bad[:half].to_pandas(), bad[half:].to_pandas())
        with pytest.raises(DataError, match=rf"input rows 5, {half + 3} \(0-based rows"):
            rd.cumulative_dose(ddf, buckets=3).compute()


def test_a_nan_dose_in_polars_is_a_bad_dose_on_every_path() -> None:
    exams = _with_doses(_exams(), {40: float("nan"), 90: None})
    exams = exams.with_columns(
        pl.when(pl.int_range(pl.len()) == 90).then(1.0).otherwise("effective_dose_msv")
        .alias("effective_dose_msv")
    )  # fmt: skip
    for run in (
        lambda: recurct.cumulative_dose(exams),
        lambda: cumulative_dose_chunked(exams.lazy(), buckets=1),
        lambda: cumulative_dose_chunked(exams.lazy(), buckets=3),
    ):
        with pytest.raises(DataError) as err:
            run()
        text = str(err.value)
        assert "'effective_dose_msv' is negative, NaN or infinite in " in text
        assert "row 40 (0-based" in text and text.endswith("; doses must be finite and >= 0 mSv")
