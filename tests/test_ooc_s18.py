"""Out of core as read_exams reads a folder (session 18 audit): a file of no column, three
date dtypes that do not join, integer ids of several dtypes, Date beside Datetime("ns"), a
glob matching no file, and errors naming the function called.

Every out-of-core result is compared with ``cumulative_dose(read_exams(folder).exams)``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import DataError, InputNotFoundError
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients
from recurct.schema import ExamValidationError


def _exams(n: int, patients: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2015, 1, 1)
    return pl.DataFrame(
        {
            "patient_id": rng.integers(0, patients, n),
            "exam_date": [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 87600, n)],
            "effective_dose_msv": rng.lognormal(np.log(7.0), 0.8, n),
        }
    )


def _reference(folder: Path, **read: object) -> pl.DataFrame:
    return recurct.cumulative_dose(recurct.read_exams(folder, **read).exams)


def _same(got: pl.DataFrame, want: pl.DataFrame, name: str) -> None:
    try:
        assert_frame_equal(got, want)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None


def _all_paths(folder: Path, out: Path) -> dict[str, pl.DataFrame]:
    """The patients table of ``folder`` by each out-of-core entry point."""
    written = write_patients(folder, out, buckets=3)
    return {
        "cumulative_dose(folder)": recurct.cumulative_dose(folder),
        "chunked b=1": cumulative_dose_chunked(folder, buckets=1),
        "chunked b=3": cumulative_dose_chunked(folder, buckets=3),
        "chunked scan_exams b=2": cumulative_dose_chunked(scan_exams(folder), buckets=2),
        "write_patients b=3": pl.read_parquet(written / "*.parquet").sort("patient_id"),
    }


# 1: a file of no column holds no exam


def test_a_file_of_no_column_adds_no_row(tmp_path):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(300, 40)
    ex.slice(0, 150).write_parquet(folder / "a.parquet")
    ex.slice(150).with_columns(pl.col("patient_id").cast(pl.Int32)).write_parquet(
        folder / "b.parquet"
    )
    pd.DataFrame().to_parquet(folder / "c_empty.parquet")
    assert scan_exams(folder).collect().height == recurct.read_exams(folder).exams.height == 300
    want = _reference(folder)
    for name, got in _all_paths(folder, tmp_path / "out").items():
        _same(got, want, name)


def test_a_file_of_no_column_beside_files_of_one_schema(tmp_path):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(200, 30, seed=1)
    ex.slice(0, 100).write_parquet(folder / "a.parquet")
    ex.slice(100).write_parquet(folder / "b.parquet")
    pd.DataFrame().to_parquet(folder / "c_empty.parquet")
    assert scan_exams(folder).collect().height == 200
    assert_frame_equal(recurct.cumulative_dose(folder), _reference(folder))


# 2: Date, Datetime and a tz-aware Datetime: the clashing pair named, no StopIteration


def test_three_date_dtypes_name_the_two_that_clash(tmp_path):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(30, 5)
    ex.slice(0, 10).with_columns(pl.col("exam_date").cast(pl.Date)).write_parquet(
        folder / "a.parquet"
    )
    ex.slice(10, 10).write_parquet(folder / "b.parquet")
    ex.slice(20, 10).with_columns(
        pl.col("exam_date").dt.replace_time_zone("Europe/Paris")
    ).write_parquet(folder / "c.parquet")
    calls = {
        "read_exams": lambda: recurct.read_exams(folder),
        "cumulative_dose": lambda: recurct.cumulative_dose(folder),
        "chunked": lambda: cumulative_dose_chunked(folder, buckets=2),
        "scan_exams": lambda: scan_exams(folder),
        "write_patients": lambda: write_patients(folder, tmp_path / "out"),
    }
    for name, call in calls.items():
        with pytest.raises(DataError) as err:
            call()
        text = str(err.value)
        assert "'exam_date'" in text, name
        assert "b.parquet" in text and "c.parquet" in text, (name, text)
        assert "no common type" in text, (name, text)
    assert not (tmp_path / "out").exists()


# 3: integer ids of any dtype as Int64, as read_exams gives them


@pytest.mark.parametrize(
    "dtypes",
    [
        (pl.Int32, pl.Int32),
        (pl.UInt64, pl.UInt64),
        (pl.Int32, pl.UInt64),
        (pl.Int64, pl.UInt64),
        (pl.UInt32, pl.Int64),
    ],
    ids=str,
)
def test_integer_ids_of_any_dtype_are_int64(tmp_path, dtypes):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(600, 50, seed=4)
    for name, part, dtype in [("a", ex.slice(0, 300), dtypes[0]), ("b", ex.slice(300), dtypes[1])]:
        part.with_columns(pl.col("patient_id").cast(dtype)).write_parquet(
            folder / f"{name}.parquet"
        )
    want = _reference(folder)
    assert want["patient_id"].dtype == pl.Int64
    assert scan_exams(folder).collect_schema()["patient_id"] == pl.Int64
    for name, got in _all_paths(folder, tmp_path / "out").items():
        _same(got, want, name)
    part = sorted((tmp_path / "out").glob("*.parquet"))[0]
    assert str(pq.read_schema(part).field("patient_id").type) == "int64"  # pyarrow reads it


def test_sorted_source_of_mixed_id_dtypes_is_int64(tmp_path):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(400, 60, seed=2).sort("patient_id", maintain_order=True)
    ex.slice(0, 200).write_parquet(folder / "a.parquet", row_group_size=50)
    ex.slice(200).with_columns(pl.col("patient_id").cast(pl.UInt64)).write_parquet(
        folder / "b.parquet", row_group_size=50
    )
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=3), _reference(folder))


def test_uint64_id_above_int64_is_named_with_its_file_and_row(tmp_path):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(20, 5)
    ex.slice(0, 10).write_parquet(folder / "a.parquet")
    ids = pl.Series([2**63 + 5 if i == 3 else i for i in range(10)], dtype=pl.UInt64)
    ex.slice(10).with_columns(patient_id=ids).write_parquet(folder / "b.parquet")
    with pytest.raises(DataError, match="outside the range of 64-bit"):
        recurct.read_exams(folder)
    for fn, call in [
        ("cumulative_dose", lambda: recurct.cumulative_dose(folder)),
        ("cumulative_dose_chunked", lambda: cumulative_dose_chunked(folder, buckets=2)),
        ("scan_exams", lambda: scan_exams(folder)),
        ("write_patients", lambda: write_patients(folder, tmp_path / "out")),
    ]:
        # named by the function called, with the input row and its file and row there
        with pytest.raises(DataError, match=r"row 13 .*row 3 of b\.parquet.*64-bit") as err:
            call()
        assert str(err.value).startswith(f"{fn}: "), (fn, str(err.value))
        assert "row 13 (row 3 of b.parquet) holds" in str(err.value)


# 4: Date beside Datetime("ns"): read as Datetime("us"), every date kept


def _dates_and_ns(folder: Path, dates: list[dt.date]) -> None:
    folder.mkdir()
    pl.DataFrame(
        {"patient_id": [1] * len(dates), "exam_date": dates, "effective_dose_msv": [0.0, 5.0]}
    ).write_parquet(folder / "a.parquet")
    pl.DataFrame(
        {"patient_id": [2], "exam_date": [dt.datetime(2020, 1, 1)], "effective_dose_msv": [5.0]}
    ).with_columns(pl.col("exam_date").cast(pl.Datetime("ns"))).write_parquet(folder / "b.parquet")


def test_date_outside_ns_range_beside_datetime_ns_is_kept(tmp_path):
    folder = tmp_path / "exams"
    _dates_and_ns(folder, [dt.date(1, 1, 1), dt.date(2300, 1, 1)])
    read = recurct.read_exams(folder, validate=False).exams
    assert read["exam_date"].dtype == pl.Datetime("us")
    assert read["exam_date"].null_count() == 0
    assert scan_exams(folder).collect()["exam_date"].to_list() == read["exam_date"].to_list()
    want = _reference(folder, validate=False)
    assert want["first_exam"][0] == dt.date(1, 1, 1)
    assert_frame_equal(recurct.cumulative_dose(folder), want)
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=2), want)
    # validated: the dates are judged as written (not "missing exam date")
    with pytest.raises(ExamValidationError) as err:
        recurct.read_exams(folder)
    text = str(err.value)
    assert "missing exam date" not in text
    assert "row 1 of a.parquet" in text and "date after today" in text


def test_dates_in_range_beside_datetime_ns_match_read_exams(tmp_path):
    folder = tmp_path / "exams"
    _dates_and_ns(folder, [dt.date(2019, 1, 1), dt.date(2019, 5, 1)])
    want = _reference(folder)
    for name, got in _all_paths(folder, tmp_path / "out").items():
        _same(got, want, name)


# 5: a glob matching no file


def test_glob_matching_no_file_raises_input_not_found(tmp_path):
    (tmp_path / "in").mkdir()
    pattern = str(tmp_path / "in" / "*.parquet")
    for call in [
        lambda: scan_exams(pattern),
        lambda: cumulative_dose_chunked(pattern, buckets=2),
        lambda: write_patients(pattern, tmp_path / "out"),
        lambda: recurct.cumulative_dose(pattern),
    ]:
        with pytest.raises(InputNotFoundError, match="no file matches this pattern"):
            call()
    assert issubclass(InputNotFoundError, FileNotFoundError)


# 6: errors name the function called


@pytest.mark.parametrize("buckets", [1, 3])
def test_errors_name_the_function_called(tmp_path, buckets):
    folder = tmp_path / "exams"
    folder.mkdir()
    ex = _exams(60, 10)
    ex.slice(0, 30).write_parquet(folder / "a.parquet")
    ex.slice(30).with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(None)
        .otherwise(pl.col("patient_id"))
        .alias("patient_id")
    ).write_parquet(folder / "b.parquet")
    with pytest.raises(DataError, match=r"^cumulative_dose: .*row 4 of b\.parquet"):
        recurct.cumulative_dose(folder)
    with pytest.raises(DataError, match=r"^write_patients: .*row 4 of b\.parquet"):
        write_patients(folder, tmp_path / "out", buckets=buckets)
    with pytest.raises(DataError, match=r"^cumulative_dose_chunked: .*row 4 of b\.parquet"):
        cumulative_dose_chunked(folder, buckets=buckets)
    # a LazyFrame in one bucket: the in-memory error, naming write_patients
    lazy = pl.concat([pl.scan_parquet(folder / "a.parquet"), pl.scan_parquet(folder / "b.parquet")])
    with pytest.raises(DataError, match=r"^write_patients: .*row 34"):
        write_patients(lazy, tmp_path / "out2", buckets=1)
