"""Every out-of-core door reads a folder whole or refuses it, as ``cumulative_dose`` does.

``recurct.read_exams(folder)`` reads Parquet files of any suffix in
:data:`recurct.io.exams.PARQUET_SUFFIXES` (any case) and keeps hive partition folders
(``facility=A/``) as columns; out of core a folder is read as its ``*.parquet`` files without
partition columns. ``cumulative_dose(folder)`` refuses a folder that would so lose exams or a
used column; :func:`cumulative_dose_chunked`, :func:`write_patients` and :func:`scan_exams`
refuse it too (they read only the ``*.parquet`` files, silently), with a ParameterError naming
the files or the column, and write nothing. A folder of ``*.parquet`` files is read as before.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import ParameterError
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients


def _month(patients: list[str], doses: list[float], month: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": patients,
            "exam_date": [dt.date(2020, month, 1)] * len(patients),
            "effective_dose_msv": doses,
        }
    )


def _suffixed(path: Path, suffixes: list[str]) -> Path:
    """The audit's folder: P1 60, 50, 40 mSv (and P2 5) in three monthly files."""
    path.mkdir()
    frames = [_month(["P1", "P2"], [60.0, 5.0], 1), _month(["P1"], [50.0], 2)]
    frames.append(_month(["P1"], [40.0], 3))
    for k, (frame, suffix) in enumerate(zip(frames, suffixes, strict=True)):
        frame.write_parquet(path / f"2020-0{k + 1}{suffix}")
    return path


def _hive(path: Path, key: str) -> Path:
    """P1's exams in two partition folders ``key=A`` and ``key=B``."""
    for k, (value, frame) in enumerate(
        [("A", _month(["P1", "P2"], [60.0, 5.0], 1)), ("B", _month(["P1"], [50.0], 2))]
    ):
        (path / f"{key}={value}").mkdir(parents=True)
        frame.write_parquet(path / f"{key}={value}" / f"part-{k}.parquet")
    return path


def _doors(folder: Path, out: Path) -> list[tuple[str, object]]:
    return [
        ("cumulative_dose_chunked", lambda: cumulative_dose_chunked(folder, buckets=2)),
        ("write_patients", lambda: write_patients(folder, out, buckets=2)),
        ("scan_exams", lambda: scan_exams(folder).collect()),
    ]


@pytest.mark.parametrize(
    "suffixes", [[".parquet", ".PARQUET", ".pq"], [".parquet"] * 2 + [".parq"]]
)
def test_other_parquet_suffixes_are_refused_not_skipped(tmp_path: Path, suffixes: list[str]):
    folder = _suffixed(tmp_path / "pq6", suffixes)
    assert recurct.read_exams(folder).exams.height == 4  # what the in-memory path reads
    with pytest.raises(ParameterError, match="would be left out"):
        recurct.cumulative_dose(folder)
    skipped = [f"2020-0{k + 1}{s}" for k, s in enumerate(suffixes) if s != ".parquet"]
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(ParameterError, match="would be left out") as info:
            door()
        assert str(info.value).startswith(f"{fn}: {folder}")
        assert all(name in str(info.value) for name in skipped)
        assert "read_exams" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_folder_of_only_pq_files_names_them(tmp_path: Path):
    # before: "folder holds no .parquet file", though read_exams reads the folder
    folder = tmp_path / "pq"
    folder.mkdir()
    _month(["P1"], [60.0], 1).write_parquet(folder / "a.pq")
    for _fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(ParameterError, match=r"a\.pq.*would be left out"):
            door()


def test_partition_folder_of_a_used_column_is_refused(tmp_path: Path):
    folder = _hive(tmp_path / "hive", "facility")
    assert "facility" in recurct.read_exams(folder).exams.columns
    with pytest.raises(ParameterError, match="facility"):
        recurct.cumulative_dose(folder)
    for fn, door in _doors(folder, tmp_path / "out"):
        with pytest.raises(ParameterError, match=r"column\(s\) \['facility'\]") as info:
            door()
        assert str(info.value).startswith(f"{fn}: {folder}")
    assert not (tmp_path / "out").exists()


def _expected(folder: Path) -> pl.DataFrame:
    return recurct.cumulative_dose(recurct.read_exams(folder).exams)


def test_partition_folder_of_an_unused_column_reads_every_exam(tmp_path: Path):
    folder = _hive(tmp_path / "hive", "year")  # not a patients-table column: still read
    expected = _expected(folder)
    assert expected.filter(pl.col("patient_id") == "P1")["ced_msv"].item() == 110.0
    assert_frame_equal(cumulative_dose_chunked(folder, buckets=2), expected)
    out = write_patients(folder, tmp_path / "out", buckets=2)
    assert_frame_equal(pl.read_parquet(out / "*.parquet"), expected)
    assert scan_exams(folder).collect().height == 3


def test_plain_parquet_folder_unchanged(tmp_path: Path):
    folder = _suffixed(tmp_path / "pq", [".parquet"] * 3)
    expected = _expected(folder)
    p1 = expected.filter(pl.col("patient_id") == "P1")
    assert p1["ced_msv"].item() == 150.0
    assert p1["date_reached_100"].item() == dt.date(2020, 2, 1)
    assert_frame_equal(recurct.cumulative_dose(folder), expected)
    for buckets in (1, 2):
        assert_frame_equal(cumulative_dose_chunked(folder, buckets=buckets), expected)
    out = write_patients(folder, tmp_path / "out", buckets=2)
    assert_frame_equal(pl.read_parquet(out / "*.parquet"), expected)
    assert scan_exams(folder).collect().height == 4


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([".parquet", ".PARQUET", ".Parquet", ".pq", ".PQ", ".parq"]),
                min_size=3, max_size=3))  # fmt: skip
def test_chunked_reads_what_read_exams_reads_or_refuses(suffixes: list[str]):
    """For any suffixes: the in-memory answer on read_exams's exams, or a ParameterError."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = _suffixed(Path(tmp) / "f", suffixes)
        expected = _expected(folder)
        if all(s == ".parquet" for s in suffixes):
            assert_frame_equal(cumulative_dose_chunked(folder, buckets=2), expected)
        else:
            with pytest.raises(ParameterError, match="would be left out"):
                cumulative_dose_chunked(folder, buckets=2)
