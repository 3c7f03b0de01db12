"""Dates written at midnight beside a separate time column, and a title above the header
(session 20 review of session 19).

1. A date written at exactly midnight (``2020-01-03 00:00:00``, as SQL Server and Excel
   write a datetime) takes the time column's time cell by cell, also in a column where other
   dates have a time of day of their own (before: the whole column kept 00:00, the time
   column was dropped, and two exams of one patient on one day became one "duplicate
   exam"). Those rows are warned of; the day never changes, so no dose moves.
2. The time column is kept (as ``study_time``) while some of its times were not used.
3. A zone offset after a date alone (``2020-01-03+01:00``) is no time of day.
4. A title of two fields above the header is named as a title (before: its header was
   quoted as a value of an unnamed column).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct.errors import DataError, UnmappedValuesWarning
from recurct.io.exams import _HAS_TIME

TODAY = "2024-01-01"

# P1: two exams on one day, written at midnight, told apart by the time column only; P2's
# date has a time of its own (so the column has other times); P3 at midnight, 00:00 also in
# the time column (nothing moves: not warned of)
MIXED = (
    "PatientID,StudyDate,StudyTime,Effective Dose (mSv)\n"
    "P1,2020-01-03 00:00:00,09:30,1.5\n"
    "P1,2020-01-03 00:00:00,14:00,1.5\n"
    "P2,2020-01-05 08:00:00,08:00,2\n"
    "P3,2020-01-06 00:00:00,00:00,1\n"
)
EXPECTED = [
    ("P1", datetime(2020, 1, 3, 9, 30), 1.5),
    ("P1", datetime(2020, 1, 3, 14, 0), 1.5),
    ("P2", datetime(2020, 1, 5, 8, 0), 2.0),
    ("P3", datetime(2020, 1, 6), 1.0),
]


def _read(source: Any, **kw: Any) -> tuple[Any, list[str]]:
    """read_exams with strict=False, and the messages of its UnmappedValuesWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = recurct.read_exams(source, today=TODAY, strict=False, **kw)
    said = [str(w.message) for w in caught if w.category is UnmappedValuesWarning]
    return res, said


def _exams(res: Any) -> list[tuple[Any, ...]]:
    got = res.exams if isinstance(res.exams, pl.DataFrame) else pl.from_pandas(res.exams)
    return got.select("patient_id", "exam_date", "effective_dose_msv").rows()


def test_text_midnight_among_timed_dates_takes_the_time(tmp_path: Path) -> None:
    path = tmp_path / "sql.csv"
    path.write_text(MIXED, encoding="utf-8")
    res, said = _read(path)
    assert res.report.dropped_by_reason == {}
    assert _exams(res) == EXPECTED
    assert "study_time" not in res.exams.columns  # every time used
    assert said == [
        f"{path}: column 'StudyTime': 2 time(s) of day were joined to exam dates written at "
        "midnight (00:00) in a column whose other dates have a time of day of their own: those "
        "exams take the time column's time, on the same day (so that two exams of one day stay "
        "two; an exam really at midnight would have 00:00 in the time column); check which is "
        "right (rows 0, 1, 0-based; lines 2, 3 of the file; date and time "
        "'2020-01-03 00:00:00' and '09:30', '2020-01-03 00:00:00' and '14:00')"
    ]


@pytest.mark.parametrize("zone", [None, "Europe/Zurich"])
def test_datetime_midnight_among_timed_ones_takes_the_time(zone: str | None) -> None:
    stamps = pd.to_datetime(
        ["2020-01-03 00:00", "2020-01-03 00:00", "2020-01-05 08:00", "2020-01-06 00:00"]
    )
    df = pd.DataFrame(
        {
            "PatientID": ["P1", "P1", "P2", "P3"],
            "StudyDate": stamps if zone is None else stamps.tz_localize(zone),
            "StudyTime": ["09:30:00", "14:00:00", "08:00:00", "00:00:00"],
            "Effective Dose (mSv)": [1.5, 1.5, 2.0, 1.0],
        }
    )
    res, said = _read(df)
    assert res.report.dropped_by_reason == {}
    assert _exams(res) == EXPECTED  # the clock written, the zone dropped
    assert "study_time" not in res.exams.columns
    (text,) = said
    assert text.startswith("<pandas frame>: column 'StudyTime': 2 time(s) of day were joined")
    assert "(rows 0, 1, 0-based; date and time '2020-01-03 00:00:00" in text


@pytest.mark.parametrize("stamps", [False, True])
def test_parquet_folder_of_midnight_and_timed_files_keeps_both_exams(
    tmp_path: Path, stamps: bool
) -> None:
    """One file all at midnight, another with times: the folder reads the first file's
    exams as the file alone reads them (before: P1's two exams became one in the folder)."""
    folder = tmp_path / "export"
    folder.mkdir()
    a = pl.DataFrame(
        {
            "PatientID": ["P1", "P1"],
            "StudyDate": ["2020-01-03 00:00:00"] * 2,
            "StudyTime": ["09:30", "14:00"],
            "Effective Dose (mSv)": [1.5, 1.5],
        }
    )
    b = pl.DataFrame(
        {
            "PatientID": ["P2"],
            "StudyDate": ["2020-01-05 08:00:00"],
            "StudyTime": ["08:00"],
            "Effective Dose (mSv)": [2.0],
        }
    )
    if stamps:  # Parquet timestamps, not text
        a, b = (f.with_columns(pl.col("StudyDate").str.to_datetime()) for f in (a, b))
    a.write_parquet(folder / "a.parquet")
    b.write_parquet(folder / "b.parquet")
    alone, said_alone = _read(folder / "a.parquet")
    assert said_alone == []  # a column all at midnight: dates, silently
    res, said = _read(folder)
    assert res.report.dropped_by_reason == {}
    assert _exams(res) == EXPECTED[:3]
    assert _exams(res)[:2] == _exams(alone)
    (text,) = said
    assert "2 time(s) of day were joined to exam dates written at midnight" in text
    assert "(rows 0, 1, 0-based; row 0 of a.parquet, row 1 of a.parquet;" in text


def test_a_zone_after_a_date_alone_is_no_time() -> None:
    s = pl.Series(["2020-01-03+01:00", "2020-01-03-05:00", "2020-01-03 +0100", "20200103+0100"])
    assert not s.str.contains(_HAS_TIME).any()
    timed = pl.Series(["2020-01-03 08:00+01:00", "2020-01-03T8:00", "03.01.2020 23:59"])
    assert timed.str.contains(_HAS_TIME).all()


def test_a_midnight_beside_a_date_with_a_zone_is_not_warned_of(tmp_path: Path) -> None:
    """A date alone with a zone (no date, as documented: a problem of its row) gives the
    column no time of day: the midnight beside it takes its time without a warning (before:
    the zone made the column "timed", the midnight kept 00:00 and was warned of)."""
    path = tmp_path / "zone.csv"
    path.write_text(
        "PatientID,StudyDate,StudyTime,ED\nP1,2020-01-03 00:00+01:00,09:30,1.5\n"
        "P1,2020-01-04+01:00,14:00,1.5\n",
        encoding="utf-8",
    )
    res, said = _read(path)
    assert said == []
    assert res.report.dropped_by_reason == {"unparseable date": 1}
    assert res.exams["exam_date"].to_list() == [datetime(2020, 1, 3, 9, 30)]


def test_time_column_kept_while_some_times_were_not_used(tmp_path: Path) -> None:
    """Two exams of one day whose times are none of the accepted forms: their dates have no
    time, so the time column is all that tells them apart; it is kept (before: dropped, and
    the second exam dropped as a "duplicate exam")."""
    path = tmp_path / "bad_times.csv"
    path.write_text(
        "PatientID,StudyDate,StudyTime,ED\nP1,2020-01-03,9h30,1.5\nP1,2020-01-03,14h00,1.5\n",
        encoding="utf-8",
    )
    res, said = _read(path)
    assert res.report.dropped_by_reason == {}
    assert res.exams["exam_date"].to_list() == [date(2020, 1, 3)] * 2
    assert res.exams["study_time"].to_list() == ["9h30", "14h00"]
    assert len(said) == 1 and "2 time(s) of day are none of the accepted forms" in said[0]


# ------------------------------------------------------------------ a title of two fields

TITLED = "CT dose report;export 01.01.2024;;\n"


@pytest.mark.parametrize(
    "header",
    [
        "patient_id;exam_date;effective_dose_msv;facility",  # canonical names
        "Patient ID;Study Date;DLP (mGy.cm);ED (mSv)",  # vendor aliases
        "PID;Date of scan;DLP total;ED total",  # names recurct does not know (columns=)
    ],
)
def test_a_two_field_title_above_the_header_is_named(tmp_path: Path, header: str) -> None:
    """Before: "column 2 (0-based) has no name in the header but holds values (row 0 ...:
    'effective_dose_msv')", quoting the real header as a value."""
    path = tmp_path / "titled.csv"
    path.write_text(TITLED + header + "\nA;2020-01-02;1;X\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, today=TODAY)
    assert str(err.value) == (
        f"{path}: line 1 of the file ('CT dose report;export 01.01.2024;;') looks like a title "
        "above the header: it has 2 field(s), the line after it 4; remove it (the header must "
        "be the first line of the file, blank lines aside) and read the file again"
    )


def test_a_header_with_unnamed_columns_over_a_row_of_text_is_no_title(tmp_path: Path) -> None:
    """A header of two known names and unnamed columns over a row of text only: still a
    header, whose unnamed column is named (its first row names no known column)."""
    path = tmp_path / "unnamed.csv"
    path.write_text("patient_id;sex;;\nA;F;head;x\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, today=TODAY)
    assert str(err.value) == (
        f"{path}: column 2 (0-based) has no name in the header but holds values (row 0 "
        "(line 2 of the file): 'head'); name it in the header or delete the column"
    )
