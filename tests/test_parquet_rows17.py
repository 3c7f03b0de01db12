"""A problem in a folder of Parquet files names the file and its own row.

Rows stay the 0-based rows of the concatenated input (the report's ``row`` column); each
message adds ``(row 0 of b.parquet)``, as a CSV file adds ``(line 4 of the file)``.
"""

from __future__ import annotations

import pickle
import warnings
from datetime import date
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

import recurct
from recurct.cli import main
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning
from recurct.io.exams import FileRows, row_text


def _exams(ids: list[str], doses: list[float], day: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [date(2020, 1, day)] * len(ids),
            "effective_dose_msv": doses,
        }
    )


@pytest.fixture
def pq2(tmp_path: Path) -> Path:
    """The audit's folder: a.parquet (2 good rows), b.parquet (1 negative dose)."""
    folder = tmp_path / "pq2"
    folder.mkdir()
    _exams(["a", "c"], [1.0, 2.0]).write_parquet(folder / "a.parquet")
    _exams(["b"], [-2.0], day=2).write_parquet(folder / "b.parquet")
    return folder


def test_folder_error_names_the_file_and_its_row(pq2: Path) -> None:
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(pq2, today="2024-01-01")
    msg = str(info.value)
    assert "row 2 (row 0 of b.parquet), column 'effective_dose_msv': negative dose" in msg
    assert "each with its file and its own 0-based row" in msg
    assert info.value.problems["row"].to_list() == [2]  # the concatenated row, as before
    again = pickle.loads(pickle.dumps(info.value))  # (workers pickle errors)
    assert str(again) == msg


def test_folder_strict_false_report_and_warning(pq2: Path) -> None:
    with pytest.warns(DroppedRowsWarning, match=r"^.*pq2: validate dropped 1 of 3 rows"):
        read = recurct.read_exams(pq2, strict=False, today="2024-01-01")
    report = read.report
    assert report.problems["row"].to_list() == [2]
    assert report.lines is not None and report.lines(2) == "row 0 of b.parquet"
    assert report.lines(0) == "row 0 of a.parquet" and report.lines(1) == "row 1 of a.parquet"
    assert report.lines(3) is None
    assert "row 2 (row 0 of b.parquet), column 'effective_dose_msv'" in str(report)
    assert read.exams["patient_id"].to_list() == ["a", "c"]


def test_folder_bad_time_warning_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "times"
    folder.mkdir()
    for name, times in (("a.parquet", ["08:00", "09:00"]), ("b.parquet", ["8.15"])):
        pl.DataFrame(
            {
                "patient_id": ["p"] * len(times),
                "exam_date": ["2020-01-01"] * len(times),
                "Study Time": times,
                "effective_dose_msv": [1.0] * len(times),
            }
        ).write_parquet(folder / name)
    with pytest.warns(UnmappedValuesWarning) as seen:
        recurct.read_exams(folder, today="2024-01-01")
    text = " ".join(str(w.message) for w in seen)
    assert "(row 2, 0-based; row 0 of b.parquet; values '8.15')" in text


def test_three_files_a_problem_in_each(tmp_path: Path) -> None:
    folder = tmp_path / "three"
    folder.mkdir()
    _exams(["a", "a", "a"], [1.0, -1.0, 2.0]).write_parquet(folder / "2020-01.parquet")
    _exams(["b", "b"], [float("nan"), 1.0], day=2).write_parquet(folder / "2020-02.parquet")
    _exams(["c", "c", "c", "c"], [1.0, 2.0, 3.0, -4.0], day=3).write_parquet(
        folder / "2020-03.parquet"
    )
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(folder, today="2024-01-01")
    msg = str(info.value)
    assert info.value.problems["row"].to_list() == [1, 3, 8]
    assert "row 1 (row 1 of 2020-01.parquet), column 'effective_dose_msv'" in msg
    assert "row 3 (row 0 of 2020-02.parquet), column 'effective_dose_msv'" in msg
    assert "row 8 (row 3 of 2020-03.parquet), column 'effective_dose_msv'" in msg


def test_hive_folder_names_the_partition_file(tmp_path: Path) -> None:
    folder = tmp_path / "hive"
    for facility, ids, doses in (("A", ["a", "b"], [1.0, 2.0]), ("B", ["c", "d"], [3.0, -1.0])):
        (folder / f"facility={facility}").mkdir(parents=True)
        _exams(ids, doses).write_parquet(folder / f"facility={facility}" / "part-0.parquet")
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(folder, today="2024-01-01")
    assert "row 3 (row 1 of facility=B/part-0.parquet), column 'effective_dose_msv'" in str(
        info.value
    )


def test_single_parquet_file_unchanged(pq2: Path) -> None:
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(pq2 / "b.parquet", today="2024-01-01")
    msg = str(info.value)
    assert "  row 0, column 'effective_dose_msv': negative dose" in msg
    assert "of b.parquet" not in msg and info.value.lines is None


def test_cli_validate_and_analyze_name_the_file(
    pq2: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(pq2), "--today", "2024-01-01"]) == 1
    assert "row 2 (row 0 of b.parquet), column 'effective_dose_msv'" in capsys.readouterr().out
    assert main(["analyze", str(pq2)]) == 2
    assert "first rows 2 (row 0 of b.parquet)" in capsys.readouterr().err


def test_row_text_csv_unchanged() -> None:
    assert row_text(2, lambda r: r + 2) == "row 2 (line 4 of the file)"
    assert row_text(2, None) == "row 2"
    assert row_text(2, FileRows(["a.parquet", "b.parquet"], [2, 1])) == "row 2 (row 0 of b.parquet)"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=6))
def test_file_rows_walks_every_row_once(heights: list[int]) -> None:
    names = [f"f{i}.parquet" for i in range(len(heights))]
    places = FileRows(names, heights)
    expected = [f"row {j} of {n}" for n, h in zip(names, heights) for j in range(h)]
    assert [places(r) for r in range(sum(heights))] == expected
    assert places(-1) is None and places(sum(heights)) is None


def test_no_warning_for_a_clean_folder(pq2: Path) -> None:
    (pq2 / "b.parquet").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = recurct.read_exams(pq2, today="2024-01-01")
    assert read.report.is_clean and read.report.lines is not None


def test_files_are_read_in_the_order_out_of_core_reads_them(tmp_path: Path) -> None:
    """Paths sorted as text (polars' and the out-of-core order), not part by part: with a
    name holding a character that sorts before '/', the two orders differ."""
    from recurct.outofcore import scan_exams

    folder = tmp_path / "f"
    names = ["a/b.parquet", "a-c.parquet", "a.b.parquet"]
    for k, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(
            {
                "patient_id": [f"p{k}"],
                "exam_date": [date(2020, 1, 1 + k)],
                "effective_dose_msv": [float(k + 1)],
            }
        ).write_parquet(folder / name)
    got = recurct.read_exams(folder).exams.get_column("patient_id").to_list()
    ooc = scan_exams(folder).collect().get_column("patient_id").to_list()
    assert got == ooc == ["p1", "p2", "p0"]
