"""Ingestion audit, session 21.

1. A Parquet folder whose files store a number column in different widths (``Float32`` in
   one, ``Float64`` or integers in another; ``Float16``) reads each file's values as that
   file alone is read: a float32 33.3 is 33.3, not 33.29999923706055, so that 33.4 + 33.3 +
   33.3 reaches 100 mSv in ``read_exams(folder)`` as in ``cumulative_dose(folder)``.
2. A folder written by polars' own ``write_parquet(folder, partition_by=...)`` (the column
   in each file and in the folder names) is read when the two agree on every row; where
   they differ, the error names the file, the column and the row.
3. A pandas date column mixing date cells and typed-in text (``pd.read_excel``) is read
   cell by cell: date cells as they are, text by the rules of text dates, each bad cell a
   problem of its row.

Expected values are worked out by hand in the comments, never by recurct.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recurct
from recurct.errors import DataError
from recurct.schema import ExamValidationError

D = dt.date
TODAY = "2024-01-01"
NUMBERS = ["effective_dose_msv", "dlp_mgycm", "ctdivol_mgy", "age_years"]

# the premise: the float32 doses widened exactly are 0.0000015 mSv short of 100 (the
# written values reach 100.0 in cumulative_dose: the first test)
assert 33.4 + 2 * float(np.float32(33.3)) < 99.999999


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["A"] * 3,
            "exam_date": [D(2020, 1, 1), D(2020, 2, 1), D(2020, 3, 1)],
            "effective_dose_msv": [33.4, 33.3, 33.3],
            "dlp_mgycm": [812.3, 700.1, 650.7],
            "ctdivol_mgy": [12.3, 11.1, 9.7],
            "age_years": [40.1, 40.2, 40.3],
        }
    )


def _write(frame: pl.DataFrame, path: Path, dtype: pl.DataType) -> None:
    """``frame`` with its number columns in ``dtype`` (Float16 through pyarrow)."""
    if dtype == pl.Float16:
        cols = {c: frame[c].to_arrow() for c in frame.columns if c not in NUMBERS}
        cols |= {c: pa.array(frame[c].to_numpy().astype(np.float16)) for c in NUMBERS}
        pq.write_table(pa.table(cols), path)
    else:
        frame.with_columns(pl.col(NUMBERS).cast(dtype)).write_parquet(path)


def _folder(tmp_path: Path, first: pl.DataType, rest: pl.DataType) -> tuple[Path, Path]:
    """A folder of two files: the first exam in ``first``, the other two in ``rest`` (one
    folder down); and that second file."""
    folder = tmp_path / "exams"
    (folder / "b").mkdir(parents=True)
    _write(_exams().head(1), folder / "a.parquet", first)
    _write(_exams().slice(1), folder / "b" / "b.parquet", rest)
    return folder, folder / "b" / "b.parquet"


def test_float32_beside_float64_read_as_written(tmp_path: Path) -> None:
    folder, second = _folder(tmp_path, pl.Float64, pl.Float32)
    alone = recurct.read_exams(second, today=TODAY).exams
    both = recurct.read_exams(folder, today=TODAY).exams
    assert alone["effective_dose_msv"].to_list() == [33.3, 33.3]
    assert both["effective_dose_msv"].to_list() == [33.4, 33.3, 33.3]
    # every number column as in its file alone (DLP 700.1, not 700.0999755859375; ...)
    assert both.slice(1).select(NUMBERS).rows() == alone.select(NUMBERS).rows()
    assert both.select(NUMBERS).rows() == _exams().select(NUMBERS).rows()
    # 33.4 + 33.3 + 33.3 = 100.0: reached, as the out-of-core read of the folder has it
    in_memory = recurct.cumulative_dose(both)
    out_of_core = recurct.cumulative_dose(str(folder))
    assert in_memory[["ced_msv", "reached_100"]].row(0) == (100.0, True)
    assert out_of_core[["ced_msv", "reached_100"]].row(0) == (100.0, True)


@pytest.mark.parametrize(
    ("first", "rest", "out_of_core"),
    [
        (pl.Float64, pl.Float32, True),
        (pl.Int64, pl.Float32, True),  # Int64 and Float32: Float64
        (pl.Float32, pl.Float32, True),  # one dtype: Float32, read as written later
        (pl.Float64, pl.Float16, True),
        (pl.Float32, pl.Float16, True),
        (pl.Utf8, pl.Float32, False),  # text beside numbers: text in every file
        (pl.Utf8, pl.Float16, False),
    ],
)
def test_folder_widths_as_each_file_alone(
    tmp_path: Path, first: pl.DataType, rest: pl.DataType, out_of_core: bool
) -> None:
    folder, second = _folder(tmp_path, first, rest)
    alone = recurct.read_exams(second, today=TODAY).exams.select(NUMBERS)
    both = recurct.read_exams(folder, today=TODAY).exams.select(NUMBERS)
    assert both.slice(1).rows() == alone.rows()
    if rest == pl.Float16:  # float16 of 700.1 is 700.0, of 650.7 650.5 (its own precision)
        assert alone.rows() == [(33.3, 700.0, 11.1, 40.2), (33.3, 650.5, 9.7, 40.3)]
    else:
        assert alone.rows() == [(33.3, 700.1, 11.1, 40.2), (33.3, 650.7, 9.7, 40.3)]
    if out_of_core:
        path = recurct.cumulative_dose(str(folder))["ced_msv"].item()
        assert (
            path
            == recurct.cumulative_dose(recurct.read_exams(folder, today=TODAY))["ced_msv"].item()
        )


# -- 2. polars' partitioned writer -----------------------------------------------------


def _sites() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "exam_date": [D(2020, 1, i) for i in (1, 2, 3, 4)],
            "effective_dose_msv": [1.0, 2.0, 3.0, 4.0],
            "facility": ["Hôpital Saint-Éloi", None, "St. Mary's, Wing B", "x/y=z"],
            "year": [2020, None, 2021, 2020],
            "day": [D(2020, 1, 1), None, D(2020, 1, 2), D(2020, 1, 1)],
            "weight": [1.5, 2.0, None, 1.5],
            "flag": [True, False, None, True],
            "stamp": [dt.datetime(2020, 1, 1, 8, 30), None, dt.datetime(2020, 1, 1), None],
        }
    )


@pytest.mark.parametrize(
    "by", ["facility", "year", "day", "weight", "flag", "stamp", ["facility", "year"]]
)
def test_polars_partition_by_folder_read(tmp_path: Path, by: str | list[str]) -> None:
    sites = _sites()
    folder = tmp_path / "by"
    sites.write_parquet(folder, partition_by=by)
    assert any("__HIVE_DEFAULT_PARTITION__" in str(p) for p in folder.rglob("*"))  # a null
    read = recurct.read_exams(folder, today=TODAY).exams.sort("patient_id")
    assert read.schema == sites.schema  # each column in its file's dtype
    assert read.rows() == sites.rows()


def test_polars_partition_by_audit_folder(tmp_path: Path) -> None:
    folder = tmp_path / "by_site"
    pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)],
            "effective_dose_msv": [1.0, 2.0],
            "facility": ["Hôpital Saint-Éloi", "Klinikum München"],
        }
    ).write_parquet(folder, partition_by="facility")
    read = recurct.read_exams(folder, today=TODAY).exams.sort("patient_id")
    assert read["facility"].to_list() == ["Hôpital Saint-Éloi", "Klinikum München"]


def test_partition_column_in_file_other_spelling(tmp_path: Path) -> None:
    # a folder "weight=2" over a file whose column holds 2.0: the same number
    folder = tmp_path / "w"
    (folder / "weight=2").mkdir(parents=True)
    pl.DataFrame(
        {"patient_id": ["a"], "exam_date": [D(2020, 1, 1)], "effective_dose_msv": [1.0]}
    ).with_columns(weight=pl.lit(2.0)).write_parquet(folder / "weight=2" / "x.parquet")
    read = recurct.read_exams(folder, today=TODAY).exams
    assert read["weight"].to_list() == [2.0]
    assert read.schema["weight"] == pl.Float64


def _spoiled(tmp_path: Path, by: str, folder_name: str, column: pl.Expr) -> Path:
    """A polars partitioned folder whose file under ``folder_name`` has ``column``."""
    folder = tmp_path / "spoiled"
    _sites().write_parquet(folder, partition_by=by)
    f = next((folder / folder_name).glob("*.parquet"))
    pl.read_parquet(f).with_columns(column).write_parquet(f)
    return f


def test_partition_column_disagrees_named(tmp_path: Path) -> None:
    f = _spoiled(tmp_path, "year", "year=2020", pl.col("year").cum_sum() + 2019)
    # rows of year=2020: d and a (2020 each) -> 4039, 6059 after the edit: row 0 differs
    with pytest.raises(DataError) as info:
        recurct.read_exams(tmp_path / "spoiled", today=TODAY)
    msg = str(info.value)
    assert str(f) in msg and "'year'" in msg and "row 0 of the file" in msg
    assert "'4039'" in msg and "'2020'" in msg


def test_partition_null_folder_disagrees_named(tmp_path: Path) -> None:
    f = _spoiled(
        tmp_path, "facility", "facility=__HIVE_DEFAULT_PARTITION__", pl.lit("Z").alias("facility")
    )
    with pytest.raises(DataError) as info:
        recurct.read_exams(tmp_path / "spoiled", today=TODAY)
    msg = str(info.value)
    assert str(f) in msg and "'facility'" in msg and "row 0 of the file" in msg
    assert "'Z'" in msg and "__HIVE_DEFAULT_PARTITION__ (null)" in msg


def test_partition_null_in_file_under_named_folder(tmp_path: Path) -> None:
    f = _spoiled(tmp_path, "flag", "flag=true", pl.lit(None, dtype=pl.Boolean).alias("flag"))
    with pytest.raises(DataError, match=r"row 0 of the file \(0-based\) holds null") as info:
        recurct.read_exams(tmp_path / "spoiled", today=TODAY)
    assert str(f) in str(info.value)


def test_partition_id_column_disagrees_without_the_id(tmp_path: Path) -> None:
    folder = tmp_path / "ids"
    (folder / "Patient ID=p1").mkdir(parents=True)
    pl.DataFrame(
        {
            "Patient ID": ["p1", "SECRET-42"],
            "exam_date": [D(2020, 1, 1)] * 2,
            "effective_dose_msv": [1.0, 2.0],
        }
    ).write_parquet(folder / "Patient ID=p1" / "x.parquet")
    with pytest.raises(DataError, match="row 1 of the file") as info:
        recurct.read_exams(folder, today=TODAY)
    assert "SECRET-42" not in str(info.value)


def test_partition_folder_only_unchanged(tmp_path: Path) -> None:
    # pandas' writer leaves the column out of the files: the folder's text, as before
    folder = tmp_path / "pandas"
    _sites().drop("stamp").to_pandas().to_parquet(folder, partition_cols=["year"])
    read = recurct.read_exams(folder, today=TODAY).exams.sort("patient_id")
    assert read["year"].to_list() == ["2020", None, "2021", "2020"]
    assert read.schema["year"] == pl.Utf8


# -- 3. date cells and text in one pandas column ------------------------------------------


def _cells(dates: list[object]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Patient ID": ["000123"] * len(dates),
            "Study Date": dates,
            "Effective Dose (mSv)": [1.0] * len(dates),
        }
    )


def test_date_cells_and_text_dayfirst() -> None:
    cells = _cells([dt.datetime(2020, 1, 2, 8, 30), "03.01.2020 09:15", D(2020, 1, 4), None])
    assert cells["Study Date"].dtype == object
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        read = recurct.read_exams(cells, dayfirst=True, strict=False, today=TODAY)
    assert read.exams["exam_date"].tolist()[:3] == [
        pd.Timestamp(2020, 1, 2, 8, 30),
        pd.Timestamp(2020, 1, 3, 9, 15),  # 03.01.2020 day-first: 3 January
        pd.Timestamp(2020, 1, 4),
    ]
    assert read.report.dropped_by_reason == {"missing exam date": 1}


def test_date_cells_and_text_day_first_needs_the_flag() -> None:
    cells = _cells([dt.datetime(2020, 1, 2, 8, 30), "03.01.2020 09:15"])
    with pytest.raises(DataError, match=r"'03\.01\.2020 09:15' \(row 1\).*dayfirst=True"):
        recurct.read_exams(cells, today=TODAY)


def test_date_cells_bad_cells_named_by_row() -> None:
    cells = _cells([dt.datetime(2020, 1, 2), "2020-01-03", "not a date", 43831, dt.time(8, 30)])
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(cells, today=TODAY)
    problems = info.value.problems
    assert problems["row"].to_list() == [2, 3, 4]
    assert set(problems["column"]) == {"exam_date"}
    assert problems["value"].to_list() == ["not a date", "43831", "08:30:00"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        read = recurct.read_exams(cells, strict=False, today=TODAY)
    assert read.exams["exam_date"].tolist() == [pd.Timestamp(2020, 1, 2), pd.Timestamp(2020, 1, 3)]
    assert sum(read.report.dropped_by_reason.values()) == 3


def test_date_cells_time_zone_dropped_wall_clock_kept() -> None:
    paris = pd.Timestamp("2020-01-02 23:30", tz="Europe/Paris")
    read = recurct.read_exams(_cells([paris, "2020-01-05"]), today=TODAY)
    assert read.exams["exam_date"].tolist() == [
        pd.Timestamp(2020, 1, 2, 23, 30),  # its local time, the day the patient was scanned
        pd.Timestamp(2020, 1, 5),
    ]


def test_date_cells_polars_object_column() -> None:
    frame = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": pl.Series([D(2020, 1, 2), "2020-01-03"], dtype=pl.Object),
            "effective_dose_msv": [1.0, 2.0],
        }
    )
    read = recurct.read_exams(frame, today=TODAY).exams
    assert read["exam_date"].to_list() == [D(2020, 1, 2), D(2020, 1, 3)]


def test_object_column_without_dates_still_refused() -> None:
    frame = pl.DataFrame(
        {
            "patient_id": ["a"],
            "exam_date": pl.Series([[1, 2]], dtype=pl.Object),
            "effective_dose_msv": [1.0],
        }
    )
    with pytest.raises(DataError, match="dtype Object"):
        recurct.read_exams(frame, today=TODAY)


def test_date_cells_from_excel(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Patient ID", "Study Date", "Effective Dose (mSv)"])
    ws.append(["000123", dt.datetime(2020, 1, 2, 8, 30), 5.5])
    ws.append(["000123", "03.01.2020 09:15", 6.5])
    ws.append(["MRN-1", dt.datetime(2020, 1, 4), 7.5])
    wb.save(tmp_path / "mixed.xlsx")
    df = pd.read_excel(tmp_path / "mixed.xlsx", dtype={"Patient ID": str})
    read = recurct.read_exams(df, dayfirst=True, today=TODAY).exams
    assert read["exam_date"].tolist() == [
        pd.Timestamp(2020, 1, 2, 8, 30),
        pd.Timestamp(2020, 1, 3, 9, 15),
        pd.Timestamp(2020, 1, 4),
    ]
    assert read["effective_dose_msv"].tolist() == [5.5, 6.5, 7.5]
