"""A path is read as written: a folder named ``exports [2024]`` (or holding ``*`` or ``?``)
is no glob pattern.

polars reads a path given to ``scan_parquet``, ``read_parquet`` or ``read_parquet_schema``
as a glob pattern, so ``[2024]`` matched the character class ``2``/``0``/``4`` and no file:
``read_exams``, ``cumulative_dose`` on a path, the out-of-core functions and their output
folders all failed with "not a readable Parquet table", and ``write_patients`` into such a
folder was refused as lying inside its input folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import recurct
from recurct.outofcore import cumulative_dose_chunked, write_patients

NAMES = ["exports [2024]", "a*b?c", "[x]"]


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 2, 3, 3],
            "exam_date": [
                dt.date(2020, 1, 1),
                dt.date(2021, 1, 1),
                dt.date(2020, 6, 1),
                dt.date(2019, 3, 1),
                dt.date(2019, 3, 2),
            ],
            "effective_dose_msv": [60.0, 50.0, 5.0, 0.5, 99.5],
        }
    )


def _folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    (folder / "site=A").mkdir(parents=True)
    ex = _exams()
    ex.head(3).write_parquet(folder / "site=A" / "a.parquet")
    (folder / "site=B").mkdir()
    ex.tail(2).write_parquet(folder / "site=B" / "b.parquet")
    return folder


@pytest.mark.parametrize("name", NAMES)
def test_read_exams_reads_a_folder_and_a_file_as_written(tmp_path: Path, name: str) -> None:
    folder = _folder(tmp_path, name)
    got = recurct.read_exams(folder).exams
    assert got.height == 5
    assert got["site"].to_list() == ["A", "A", "A", "B", "B"]
    one = recurct.read_exams(folder / "site=A" / "a.parquet").exams
    assert one.height == 3


@pytest.mark.parametrize("name", NAMES)
def test_cumulative_dose_and_out_of_core_on_such_paths(tmp_path: Path, name: str) -> None:
    folder = _folder(tmp_path, name)
    want = recurct.cumulative_dose(_exams(), 100).sort("patient_id")
    for got in (
        recurct.cumulative_dose(str(folder), 100),
        cumulative_dose_chunked(folder, thresholds=100, buckets=2),
    ):
        got = got.sort("patient_id")
        assert got["ced_msv"].to_list() == want["ced_msv"].to_list()
        assert got["reached_100"].to_list() == want["reached_100"].to_list()
    file = folder / "site=A" / "a.parquet"
    assert recurct.cumulative_dose(file, 100)["ced_msv"].to_list() == [110.0, 5.0]
    out = tmp_path / f"out {name}"
    write_patients(folder, out, thresholds=100, buckets=2)
    written = pl.read_parquet(sorted(out.glob("*.parquet")), glob=False).sort("patient_id")
    assert written["ced_msv"].to_list() == want["ced_msv"].to_list()


def test_mixed_float_widths_in_such_a_folder(tmp_path: Path) -> None:
    """Out of core the files were listed by a glob pattern too: a folder so named with
    files of other schemas failed with a raw polars error."""
    folder = tmp_path / "exports [2024]"
    folder.mkdir()
    ex = _exams()
    ex.head(3).write_parquet(folder / "a.parquet")
    ex.tail(2).with_columns(pl.col("effective_dose_msv").cast(pl.Float32)).write_parquet(
        folder / "b.parquet"
    )
    want = recurct.cumulative_dose(_exams(), 100).sort("patient_id")["ced_msv"].to_list()
    for got in (
        recurct.read_exams(folder).exams.pipe(recurct.cumulative_dose, 100),
        recurct.cumulative_dose(folder, 100),
        cumulative_dose_chunked(folder, thresholds=100, buckets=2),
    ):
        assert got.sort("patient_id")["ced_msv"].to_list() == want
