"""Parquet folders listed and refused in one place (recurct.io._parquet).

Every reader of a folder (``read_exams``, the out-of-core functions, the checks of a path
given to ``cumulative_dose``) lists its files by one rule and refuses by one message: the
function first, then the file, then the reason. A partition column that a file holds too and
that differs from its folder is, with ``read_exams(strict=False)``, a bad cell of its column.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import (
    DataError,
    DroppedRowsWarning,
    InputNotFoundError,
    OutputExistsError,
    UnmappedValuesWarning,
)
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients


def _exams(ids: list[str], day0: int = 1, **extra: list[object]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [dt.date(2020, 1, day0 + i) for i in range(len(ids))],
            "effective_dose_msv": [10.0 * (i + 1) for i in range(len(ids))],
            **extra,
        }
    )


def _doors(source: Path | str, out: Path) -> list[tuple[str, object]]:
    """Every public reader of a path, by the name its errors start with."""
    return [
        ("read_exams", lambda: recurct.read_exams(source)),
        ("cumulative_dose", lambda: recurct.cumulative_dose(source)),
        ("cumulative_dose_chunked", lambda: cumulative_dose_chunked(source, buckets=2)),
        ("write_patients", lambda: write_patients(source, out, buckets=2)),
        ("scan_exams", lambda: scan_exams(source).collect()),
    ]


# ------------------------------------------------------------------ (b) one message


@pytest.mark.parametrize("nested", [False, True])
def test_unreadable_file_named_function_first_then_file(tmp_path: Path, nested: bool):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    _exams(["A", "B"]).write_parquet(folder / "a.parquet")
    bad = folder / ("sub" if nested else "") / "bad.parquet"
    bad.write_bytes(b"PAR1 not parquet PAR1")
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(DataError) as info:
            door()
        assert str(info.value).startswith(f"{fn}: {bad}: not a readable Parquet table ("), fn
    assert not (tmp_path / "out").exists()


def test_unreadable_single_file_named_function_first(tmp_path: Path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not parquet PAR1")
    with pytest.raises(DataError) as info:
        recurct.read_exams(bad)
    assert str(info.value).startswith(f"read_exams: {bad}: not a readable Parquet table (")


def test_unreadable_hidden_file_of_a_pattern_named_before_polars_reads_it(tmp_path: Path):
    # the check of a pattern lists what polars reads: hidden files too
    data = tmp_path / "data"
    data.mkdir()
    _exams(["A"]).write_parquet(data / "a.parquet")
    bad = data / ".b.parquet"
    bad.write_bytes(b"PAR1 not parquet PAR1")
    pattern = str(data / "*.parquet")
    for fn, door in _doors(pattern, tmp_path / "out")[1:]:  # (read_exams reads no pattern)
        with pytest.raises(DataError) as info:
            door()
        assert str(info.value).startswith(f"{fn}: {bad}: not a readable Parquet table ("), fn


# ------------------------------------------------------------------ (a) one listing


def test_empty_folder_one_error_for_every_reader(tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    (folder / "_SUCCESS").write_text("")
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(InputNotFoundError) as info:
            door()
        text = str(info.value)
        assert text.startswith(f"{fn}: {folder}: folder holds no Parquet files (.parquet, "), fn
        assert "'.txt'" in text and "'_SUCCESS'" in text
    assert issubclass(InputNotFoundError, FileNotFoundError)


def test_every_reader_reads_the_same_files_in_the_same_order(tmp_path: Path):
    folder = tmp_path / "export"
    (folder / "z").mkdir(parents=True)
    names = ["b.parquet", "a.parquet", "z/a.parquet", ".h.parquet", "_u.parquet"]
    for i, name in enumerate(names):
        _exams([f"P{i}"], day0=i + 1).write_parquet(folder / name)
    (folder / "_SUCCESS").write_text("")  # Spark's marker and checksums: never read
    (folder / ".a.parquet.crc").write_bytes(b"crc")
    (folder / "notes.txt").write_text("x")
    read = recurct.read_exams(folder).exams
    expected = [f"P{names.index(n)}" for n in sorted(names, key=lambda n: str(folder / n))]
    assert read["patient_id"].to_list() == expected
    assert_frame_equal(scan_exams(folder).collect(), read, check_dtypes=False)
    assert_frame_equal(
        recurct.cumulative_dose(folder), recurct.cumulative_dose(read), check_row_order=True
    )


def test_read_exams_refuses_a_recurct_result_that_is_not_exams(tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    exams = _exams(["A", "B"])
    exams.write_parquet(folder / "exams.parquet")
    write_patients(exams.lazy(), tmp_path / "patients").rename(folder / "patients")
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(DataError) as info:
            door()
        text = str(info.value)
        assert text.startswith(f"{fn}: {folder / 'patients'} holds a recurct 'patients' "), fn
        assert "result, not exams" in text
    manifest = json.loads((folder / "patients" / "recurct-manifest.json").read_text())
    assert manifest["kind"] == "patients"


# ------------------------------------------------------------------ (d) one input path


def test_write_patients_glob_input_is_the_folder_above_its_wildcard(tmp_path, monkeypatch):
    # as the command line reads an input: "*.parquet" stands for the working folder
    monkeypatch.chdir(tmp_path)
    _exams(["A", "B"]).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(OutputExistsError, match="lies inside the input folder"):
        write_patients("*.parquet", "res", buckets=2)
    assert not (tmp_path / "res").exists()
    sub = tmp_path / "data"
    sub.mkdir()
    (tmp_path / "a.parquet").rename(sub / "a.parquet")
    with pytest.raises(OutputExistsError, match="lies inside the input folder"):
        write_patients("data/*.parquet", "data/res", buckets=2)
    write_patients("data/*.parquet", "res", buckets=2)  # beside the input: fine
    assert (tmp_path / "res").is_dir()


# ------------------------------------------------------------------ (e) partition mismatch


def _partitioned(tmp_path: Path, column: str, odd_row: object) -> tuple[Path, Path]:
    """A folder written by polars' partition_by on ``column``, whose first file's row 1
    holds ``odd_row`` in ``column`` (its folder says otherwise)."""
    folder = tmp_path / "hive"
    exams = _exams(["P1", "P1", "P2", "P2"], facility=["A", "A", "B", "B"])
    exams.write_parquet(folder, partition_by=column)
    first = sorted(folder.rglob("*.parquet"), key=str)[0]
    part = pl.read_parquet(first)
    bad = part.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(odd_row, dtype=part.schema[column]))
        .otherwise(pl.col(column))
        .alias(column)
    )
    bad.write_parquet(first)
    return folder, first


def test_mismatch_refused_strict_naming_function_file_row_column(tmp_path: Path):
    folder, first = _partitioned(tmp_path, "facility", "B")
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(DataError) as info:
            door()
        text = str(info.value)
        assert text.startswith(f"{fn}: {first}: column 'facility' is both in the file"), fn
        assert "row 1 of the file (0-based) holds 'B', its folder 'A'" in text
        assert ("strict=False" in text) == (fn == "read_exams")
    assert not (tmp_path / "out").exists()


def test_mismatch_of_an_optional_attribute_nulled_with_strict_false(tmp_path: Path):
    folder, first = _partitioned(tmp_path, "facility", "B")
    with pytest.warns(UnmappedValuesWarning) as record:
        read = recurct.read_exams(folder, strict=False)
    text = str(record[0].message)
    assert text.startswith(f"read_exams: {folder}: column 'facility' ")
    assert "1 of its value(s) differ from their folder" in text
    assert f"row 1 of {first.relative_to(folder).as_posix()}" in text
    assert "keeps its dose" in text
    exams = read.exams
    assert exams.height == 4 and read.report.n_dropped == 0  # every exam keeps its dose
    assert exams["effective_dose_msv"].to_list() == [10.0, 20.0, 30.0, 40.0]
    assert exams["facility"].to_list() == ["A", None, "B", "B"]
    assert exams.schema["facility"] == pl.String


def test_mismatch_of_patient_id_drops_the_exam_with_strict_false(tmp_path: Path):
    folder, first = _partitioned(tmp_path, "patient_id", "SECRET-9")
    with pytest.raises(DataError) as info:
        recurct.read_exams(folder)
    assert "SECRET-9" not in str(info.value) and "another id" in str(info.value)
    with pytest.warns(UnmappedValuesWarning) as record, pytest.warns(DroppedRowsWarning):
        read = recurct.read_exams(folder, strict=False)
    told = " ".join(str(w.message) for w in record)
    assert "column 'patient_id'" in told and "SECRET-9" not in told
    assert f"row 1 of {first.relative_to(folder).as_posix()}" in told
    assert read.report.n_dropped == 1
    assert read.exams["patient_id"].to_list() == ["P1", "P2", "P2"]
    assert read.exams["effective_dose_msv"].to_list() == [10.0, 30.0, 40.0]


def test_mismatch_keeps_the_dtype_of_a_numeric_partition_column(tmp_path: Path):
    folder = tmp_path / "years"
    exams = _exams(["P1", "P2", "P3"], year=[2020, 2020, 2021])
    exams.write_parquet(folder, partition_by="year")
    first = sorted(folder.rglob("*.parquet"), key=str)[0]
    pl.read_parquet(first).with_columns(year=pl.Series([2020, 1999])).write_parquet(first)
    with pytest.warns(UnmappedValuesWarning, match=r"column 'year'"):
        read = recurct.read_exams(folder, strict=False).exams
    assert read.schema["year"] == pl.Int64
    assert read["year"].to_list() == [2020, None, 2021]
    assert read.height == 3


def test_valid_partition_by_folder_reads_as_before_with_and_without_strict(tmp_path: Path):
    folder = tmp_path / "ok"
    exams = _exams(["P1", "P2", "P3", "P4"], facility=["A", "A", "B", "B"])
    exams.write_parquet(folder, partition_by="facility")
    strict = recurct.read_exams(folder).exams
    assert_frame_equal(recurct.read_exams(folder, strict=False).exams, strict)
    assert strict["facility"].to_list() == ["A", "A", "B", "B"]
