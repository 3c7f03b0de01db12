"""Out of core on folders whose files differ in schema, and bad exams named at the input's
first rows whatever bucket they lie in (the "trust at the edges" audit).

1. A folder or glob of Parquet files whose dtypes or column sets differ (Int32 and Float64
   doses, Date and Datetime, an optional column missing from a file) is read as
   :func:`recurct.read_exams` reads it (``polars.concat(how="diagonal_relaxed")``), with the
   same patients table as in memory; dtypes that cannot be reconciled raise a recurct
   ``DataError`` naming the source, the column and the files.
2. A bad dose or null date in several buckets is named at the smallest input rows over all
   buckets, as in memory, not at the rows of the first bucket that fails.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import DataError
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients


def _exams(n: int, start: int = 0, n_patients: int = 17) -> pl.DataFrame:
    i = np.arange(start, start + n)
    return pl.DataFrame(
        {
            "patient_id": (i * 7) % n_patients,
            "exam_date": [dt.date(2015, 1, 1) + dt.timedelta(days=int(d)) for d in (i * 13) % 900],
            "effective_dose_msv": (i % 11).astype(np.float64) * 2.5,
        }
    )


def _write(folder: Path, frames: list[pl.DataFrame], sub: bool = False) -> Path:
    folder.mkdir()
    for k, frame in enumerate(frames):
        target = folder / f"y{k}" if sub else folder  # (nested: read recursively)
        target.mkdir(exist_ok=True)
        frame.write_parquet(target / f"part-{k}.parquet")
    return folder


def _in_memory(frames: list[pl.DataFrame], **kwargs) -> pl.DataFrame:
    exams = pl.concat(frames, how="diagonal_relaxed")
    if exams.schema["patient_id"].is_integer():  # Int64, as read_exams gives integer ids
        exams = exams.with_columns(pl.col("patient_id").cast(pl.Int64))
    return recurct.cumulative_dose(exams, **kwargs)


_DOSE = pl.col("effective_dose_msv")

#: each case: how the first and the second of three files differ from the plain exams
CASES = {
    "Int32 and Float64 doses": (lambda f: f.with_columns(_DOSE.round().cast(pl.Int32)), None),
    "Float32 and Float64 doses": (lambda f: f.with_columns(_DOSE.cast(pl.Float32)), None),
    "Date and Datetime": (
        None,
        lambda f: f.with_columns(pl.col("exam_date").cast(pl.Datetime("us"))),
    ),
    "Int32 and Int64 ids": (lambda f: f.with_columns(pl.col("patient_id").cast(pl.Int32)), None),
    "age_years missing from one file": (
        lambda f: f.with_columns(age_years=pl.lit(40.0)),
        lambda f: f.with_columns(age_years=pl.lit(50.0)),
    ),
    "facility only in the second file": (
        None,
        lambda f: f.with_columns(facility=pl.lit("B")),
    ),
    "text and numeric ages": (
        lambda f: f.with_columns(age_years=pl.lit("067Y")),
        lambda f: f.with_columns(age_years=pl.lit(30)),
    ),
    "columns in another order": (lambda f: f.select(reversed(f.columns)), None),
}


def _case(name: str, n: int = 240) -> list[pl.DataFrame]:
    first, second = CASES[name]
    frames = [_exams(n, k * n) for k in range(3)]
    frames[0] = first(frames[0]) if first else frames[0]
    frames[1] = second(frames[1]) if second else frames[1]
    return frames


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("buckets", [1, 3])
@pytest.mark.parametrize("as_glob", [False, True])
def test_a_folder_of_files_whose_schemas_differ_gives_the_in_memory_table(
    tmp_path, name, buckets, as_glob
):
    frames = _case(name)
    folder = _write(tmp_path / "exams", frames, sub=not as_glob)
    source = str(folder / "*.parquet") if as_glob else folder
    kwargs = {"thresholds": [20, 50], "window_days": [365]}
    want = _in_memory(frames, **kwargs)
    got = cumulative_dose_chunked(source, buckets=buckets, **kwargs)
    assert_frame_equal(got, want)
    if buckets == 1 and not as_glob:  # the top-level entry point, and read_exams's table
        assert_frame_equal(recurct.cumulative_dose(folder, **kwargs), want)
        read = recurct.read_exams(folder).exams
        assert_frame_equal(recurct.cumulative_dose(read, **kwargs), want, check_dtypes=False)


@pytest.mark.parametrize("name", ["Int32 and Float64 doses", "age_years missing from one file"])
def test_write_patients_on_files_whose_schemas_differ(tmp_path, name):
    frames = _case(name)
    folder = _write(tmp_path / "exams", frames)
    out = write_patients(folder, tmp_path / "patients", buckets=3)
    got = pl.scan_parquet(str(out / "*.parquet")).collect().sort("patient_id")
    assert_frame_equal(got, _in_memory(frames))


@pytest.mark.parametrize("name", ["Int32 and Float64 doses", "age_years missing from one file"])
def test_a_source_sorted_by_patient_read_in_runs_reconciles_each_file(tmp_path, name):
    # sorted by patient across the files: read in runs of row groups, file by file
    frames = _case(name)
    whole = pl.concat(frames, how="diagonal_relaxed").with_row_index("i")
    order = whole.sort("patient_id", "i")["i"]
    n = frames[0].height
    sorted_frames = []
    for k, frame in enumerate(frames):  # each file keeps its own schema
        rows = order.slice(k * n, n)
        frame_all = pl.concat(frames, how="diagonal_relaxed")
        sorted_frames.append(frame_all[rows.to_numpy()].select(frame.columns).cast(frame.schema))
    folder = tmp_path / "exams"
    folder.mkdir()
    for k, frame in enumerate(sorted_frames):
        frame.write_parquet(folder / f"part-{k}.parquet", row_group_size=50)
    want = _in_memory(sorted_frames)
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=4), want)


def test_a_uniform_folder_keeps_one_scan(tmp_path):
    uniform = _write(tmp_path / "uniform", [_exams(50, k * 50) for k in range(3)])
    mixed = _write(tmp_path / "mixed", _case("Int32 and Float64 doses", 50))
    assert "UNION" not in scan_exams(uniform).explain()
    assert "UNION" in scan_exams(mixed).explain()


@pytest.mark.parametrize(
    ("column", "first", "second", "why"),
    [
        ("effective_dose_msv", _DOSE.cast(pl.String), None, "text in some files, numbers"),
        ("exam_date", pl.col("exam_date").cast(pl.String), None, "text in some files, dates"),
        (
            "effective_dose_msv",
            pl.struct(_DOSE.alias("v")).alias("effective_dose_msv"),
            None,
            "Struct in some files, numbers in others",
        ),
        (
            "age_years",
            pl.lit([1, 2]).alias("age_years"),
            pl.lit(40.0).alias("age_years"),
            "no common type",
        ),
    ],
)
@pytest.mark.parametrize("as_glob", [False, True])
def test_dtypes_that_cannot_be_reconciled_raise_a_data_error(
    tmp_path, column, first, second, why, as_glob
):
    frames = [_exams(40, k * 40) for k in range(2)]
    frames[0] = frames[0].with_columns(first)
    frames[1] = frames[1].with_columns(second) if second is not None else frames[1]
    folder = _write(tmp_path / "exams", frames)
    source = str(folder / "*.parquet") if as_glob else folder
    for run in (
        lambda: cumulative_dose_chunked(source, buckets=2),
        lambda: write_patients(source, tmp_path / "out", buckets=2),
        lambda: recurct.cumulative_dose(source),
        lambda: scan_exams(source),
    ):
        with pytest.raises(DataError) as err:
            run()
        text = str(err.value)
        assert text.startswith(f"{source}: column {column!r} is ")
        assert "part-0.parquet" in text and "part-1.parquet" in text and why in text
    assert not (tmp_path / "out").exists()


def test_a_damaged_file_in_a_folder_is_named(tmp_path):
    folder = _write(tmp_path / "exams", [_exams(40)])
    (folder / "part-9.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"part-9\.parquet: not a readable Parquet table"):
        cumulative_dose_chunked(folder, buckets=2)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60),  # exams in the file
            st.sampled_from([pl.Date, pl.Datetime("us"), pl.Datetime("ms")]),
            st.sampled_from([pl.Float64, pl.Float32, pl.Int64, pl.Int16]),
            st.sampled_from([pl.Int64, pl.Int32, pl.UInt16]),
            st.booleans(),  # with age_years
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 4),
)
def test_any_mix_of_reconcilable_files_gives_the_in_memory_table(tmp_path_factory, files, k):
    folder = tmp_path_factory.mktemp("exams")
    frames, start = [], 0
    for n, date, dose, ids, age in files:
        frame = _exams(n, start).with_columns(
            pl.col("exam_date").cast(date), _DOSE.cast(dose), pl.col("patient_id").cast(ids)
        )
        if age:
            frame = frame.with_columns(age_years=pl.lit(33.0))
        frame.write_parquet(folder / f"part-{len(frames)}.parquet")
        frames.append(frame)
        start += n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (an unused float id warning, if any)
        want = _in_memory(frames, window_days=[30])
        got = cumulative_dose_chunked(folder, buckets=k, window_days=[30])
    assert_frame_equal(got, want)


# 2: bad exams named at the input's first rows, whatever bucket they lie in


def _named(message: str) -> list[int]:
    listed = re.search(r"rows? ([\d, ]+)", message).group(1)
    return [int(r) for r in listed.split(", ")]


def _bad(n: int = 900) -> pl.DataFrame:
    # ids 0..89 in order of the input's rows mod 90: range buckets split by id, so the
    # input's early rows of high ids lie in the last bucket
    return pl.DataFrame(
        {
            "patient_id": np.arange(n) % 90,
            "exam_date": [dt.date(2020, 1, 1) + dt.timedelta(days=i % 500) for i in range(n)],
            "effective_dose_msv": np.ones(n),
        }
    )


@pytest.mark.parametrize("buckets", [3, 5])
@pytest.mark.parametrize("where", ["memory", "disk", "sorted"])
def test_bad_doses_in_several_buckets_name_the_first_input_rows(tmp_path, buckets, where):
    df = _bad()
    bad = [89, 700, 5, 400, 88, 60, 3, 850, 1, 2, 4, 6, 7]  # in every bucket
    dose = df["effective_dose_msv"].to_numpy().copy()
    dose[bad] = -1.0
    df = df.with_columns(effective_dose_msv=dose)
    with pytest.raises(DataError) as mem:
        recurct.cumulative_dose(df)
    if where == "sorted":  # read in runs of row groups, no split
        folder = tmp_path / "sorted"
        folder.mkdir()
        df.with_row_index("i").sort("patient_id", "i").drop("i").write_parquet(
            folder / "a.parquet", row_group_size=100
        )
        source = folder
        with pytest.raises(DataError) as got:
            cumulative_dose_chunked(source, buckets=buckets)
        # the input rows of a sorted file are its own rows: compare with memory on it
        with pytest.raises(DataError) as mem:
            recurct.cumulative_dose(pl.read_parquet(folder / "a.parquet"))
    elif where == "disk":
        with pytest.raises(DataError) as got:
            write_patients(df.lazy(), tmp_path / "out", buckets=buckets)
    else:
        with pytest.raises(DataError) as got:
            cumulative_dose_chunked(df.lazy(), buckets=buckets)
    first = _named(str(mem.value))
    named = _named(str(got.value))
    assert named[: len(first)] == first
    assert f"(first 10 of {len(bad)})" in str(got.value)
    assert "in this bucket" not in str(got.value)


def test_null_dates_in_several_buckets_name_the_first_input_rows():
    df = _bad().with_columns(
        exam_date=pl.when(pl.int_range(pl.len()).is_in([2, 870, 451]))
        .then(None)
        .otherwise(pl.col("exam_date"))
    )
    with pytest.raises(DataError, match=r"'exam_date' is null in input rows 2, 451, 870 "):
        cumulative_dose_chunked(df.lazy(), buckets=4)


def test_a_null_date_in_a_later_bucket_wins_over_a_bad_dose_as_in_memory():
    # the first bucket fails on a dose (row 0, id 0); the last one holds a null date (row
    # 800, id 80), which memory names, dates being checked before doses
    df = _bad().with_columns(
        effective_dose_msv=pl.when(pl.int_range(pl.len()) == 0).then(-1.0).otherwise(_DOSE),
        exam_date=pl.when(pl.int_range(pl.len()) == 800).then(None).otherwise(pl.col("exam_date")),
    )
    with pytest.raises(DataError, match=r"'exam_date' is null in row 800 "):
        recurct.cumulative_dose(df)
    with pytest.raises(DataError, match=r"'exam_date' is null in input row 800 "):
        cumulative_dose_chunked(df.lazy(), buckets=3)
