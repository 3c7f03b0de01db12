"""Messy exports read by ``read_exams`` (session 19 audit of messy files).

1. A date written at midnight (``2020-01-03 00:00:00.000``, as SQL Server and Excel write a
   datetime) is a date alone: a separate time column is joined to it, so two exams of one
   day are not one "duplicate exam"; a date written with another time keeps it, and where
   the time column differs a warning says so (never dropped silently).
3. Patient ids that a spreadsheet turned into scientific notation (``1,23457E+11``) lost
   their digits: they are missing ids (a problem of their row, quoted as written), never
   one patient.
4. The decimal-mark hint suggests ``decimal='.'`` for ``1,234.5`` (not ``decimal=','``).
5. Blank lines above the header are skipped (the lines of the file still counted); a title
   line above the header is named as such.
6. A month-first column read with ``dayfirst=True`` is refused, even with ``strict=False``.
7. Excel serial day numbers as dates are named as such.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from cli_helpers import run_cli

import recurct
from recurct.errors import (
    DataError,
    DroppedRowsWarning,
    ExamValidationError,
    IdentifierWarning,
    UnmappedValuesWarning,
)

TODAY = "2024-01-01"


def _write(tmp_path: Path, text: str, name: str = "exams.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(
    path: Path | pd.DataFrame | pl.DataFrame, **kw: Any
) -> tuple[Any, list[warnings.WarningMessage]]:
    """read_exams, and every warning given (recorded)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = recurct.read_exams(path, today=TODAY, **kw)
    return result, caught


# ------------------------------------------------------------------ 1. midnight + time column

SQL = (
    "PatientID,StudyDate,StudyTime,Effective Dose (mSv)\n"
    "P1,2020-01-03 00:00:00.000,09:30:00,1.5\n"
    "P1,2020-01-03 00:00:00.000,14:00:00,1.5\n"
    "P2,2020-01-03,09:30:00,1.5\n"
    "P2,2020-01-03,14:00:00,1.5\n"
)


@pytest.mark.parametrize("strict", [True, False])
def test_midnight_datetime_takes_the_time_column(tmp_path: Path, strict: bool) -> None:
    """Before: P1's second exam was a "duplicate exam" (an error, or dropped)."""
    res, caught = _read(_write(tmp_path, SQL), strict=strict)
    assert caught == []
    assert res.report.n_rows_out == 4 and res.report.dropped_by_reason == {}
    assert res.exams.select("patient_id", "exam_date").rows() == [
        ("P1", datetime(2020, 1, 3, 9, 30)),
        ("P1", datetime(2020, 1, 3, 14, 0)),
        ("P2", datetime(2020, 1, 3, 9, 30)),
        ("P2", datetime(2020, 1, 3, 14, 0)),
    ]


@pytest.mark.parametrize(
    ("date", "kw"),
    [
        ("2020-01-03 00:00:00.000", {}),
        ("2020-01-03T00:00", {}),
        ("2020-01-03 0:00", {}),
        ("03.01.2020 00:00", {"dayfirst": True}),
        ("03/01/2020 00:00:00", {"dayfirst": True}),
    ],
)
def test_one_midnight_exam_gets_its_time(tmp_path: Path, date: str, kw: dict) -> None:
    """Before: the 09:30 was dropped without a word."""
    path = _write(tmp_path, f"Patient ID;Study Date;Study Time;ED (mSv)\n1;{date};09:30;1\n")
    res, caught = _read(path, **kw)
    assert caught == []
    assert res.exams["exam_date"].to_list() == [datetime(2020, 1, 3, 9, 30)]


def test_midnight_without_a_time_stays_midnight(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Patient ID;Study Date;Study Time;ED (mSv)\n"
        "1;2020-01-03 00:00;;1\n2;2020-13-03 00:00;08:00;1\n",
    )
    res, _ = _read(path, strict=False)
    assert res.exams["exam_date"].to_list() == [datetime(2020, 1, 3)]
    # a date that cannot be read is reported as it was written
    assert res.report.problems.select("row", "value").rows() == [(1, "2020-13-03 00:00")]


def test_a_written_time_that_differs_is_kept_and_said(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Patient ID,Study Date,Study Time,ED (mSv)\n"
        "A,2020-01-03 08:00,09:30:00,1\n"  # differs: kept, warned
        "A,2020-01-04 09:30,09:30,1\n"  # the same time: nothing to say
        "B,2020-01-03 08:00,,1\n",  # no time in the column
    )
    with pytest.warns(UnmappedValuesWarning) as caught:
        res = recurct.read_exams(path, today=TODAY)
    (w,) = caught
    text = str(w.message)
    assert text.startswith(f"{path}: column 'Study Time': 1 time(s) of day were not used")
    assert "(row 0, 0-based; line 2 of the file;" in text  # one row: singular
    assert "'2020-01-03 08:00' and '09:30:00'" in text
    assert res.exams["exam_date"].to_list() == [
        datetime(2020, 1, 3, 8),
        datetime(2020, 1, 4, 9, 30),
        datetime(2020, 1, 3, 8),
    ]


def test_cli_validate_no_false_duplicate(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, SQL)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        code = run_cli(["validate", str(path), "--today", TODAY])
    out, _ = capfd.readouterr()
    assert code == 0, out
    assert "duplicate" not in out and "rows out: 4, dropped: 0" in out


# ------------------------------------------------------------------ 3. ids in scientific notation

SCI = (
    "Patient ID;Study Date;ED (mSv)\n"
    "1,23457E+11;2020-01-02;30\n1,23457E+11;2020-02-03;25\n1,23457E+11;2020-03-03;40\n"
    "000123;2020-01-02;1\n"
)


def test_scientific_ids_are_an_error_naming_rows(tmp_path: Path) -> None:
    """Before: read as one patient with 95 mSv, without a word."""
    path = _write(tmp_path, SCI)
    with pytest.raises(ExamValidationError) as err, pytest.warns(IdentifierWarning) as caught:
        recurct.read_exams(path, today=TODAY)
    text = str(err.value)
    for row, line in ((0, 2), (1, 3), (2, 4)):
        assert (
            f"row {row} (line {line} of the file), column 'patient_id': missing patient id "
            "(value: '1,23457E+11')" in text
        )
    assert "scientific notation" in text and "format the id column as text" in text
    said = str(caught[0].message)
    assert said.startswith(f"{path}: column 'Patient ID': 3 patient id(s) are numbers")
    assert "rows 0, 1, 2, 0-based; lines 2, 3, 4 of the file" in said


def test_scientific_ids_dropped_and_counted(tmp_path: Path) -> None:
    res, caught = _read(_write(tmp_path, SCI), strict=False)
    assert res.exams["patient_id"].to_list() == ["000123"]
    assert res.report.dropped_by_reason == {"missing patient id": 3}
    assert res.report.problems["value"].to_list() == ["1,23457E+11"] * 3
    kinds = [w.category for w in caught]
    assert IdentifierWarning in kinds and DroppedRowsWarning in kinds


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_scientific_ids_in_a_frame(kind: str) -> None:
    data = {
        "patient_id": ["1.23457e+11", "1.23457E+11", "123", "1E5"],
        "exam_date": ["2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"],
        "effective_dose_msv": [1.0, 2.0, 3.0, 4.0],
    }
    frame = pd.DataFrame(data) if kind == "pandas" else pl.DataFrame(data)
    res, _ = _read(frame, strict=False)
    kept = res.exams["patient_id"]
    assert list(kept) == ["123", "1E5"]  # "1E5": no "+", not a spreadsheet's notation
    assert res.report.dropped_by_reason == {"missing patient id": 2}


# ------------------------------------------------------------------ 4. the decimal-mark hint


def test_hint_points_to_decimal_point(tmp_path: Path) -> None:
    """Before: "pass decimal=','", which made every dose unreadable and gave the same hint."""
    path = _write(
        tmp_path, 'Patient ID,Study Date,ED (mSv)\n1,2020-01-02,"1,234.5"\n2,2020-01-03,2.5\n'
    )
    for kw in ({}, {"decimal": ","}):
        with pytest.raises(ExamValidationError) as err:
            recurct.read_exams(path, today=TODAY, max_dose_msv=None, **kw)
        text = str(err.value)
        assert "pass decimal='.'" in text and "decimal=','" not in text
    res = recurct.read_exams(path, today=TODAY, max_dose_msv=None, decimal=".")
    assert res.exams["effective_dose_msv"].to_list() == [1234.5, 2.5]


def test_hint_still_points_to_decimal_comma(tmp_path: Path) -> None:
    path = _write(tmp_path, 'Patient ID,Study Date,ED (mSv)\n1,2020-01-02,"1,5"\n')
    with pytest.raises(ExamValidationError, match=r"'1,5' have a decimal comma: pass decimal=','"):
        recurct.read_exams(path, today=TODAY)


def test_decimal_hint_by_the_values() -> None:
    from recurct.io.exams import decimal_hint

    def hint(values: list[str]) -> str | None:
        return decimal_hint(
            pl.DataFrame(
                {
                    "row": list(range(len(values))),
                    "column": ["dlp_mgycm"] * len(values),
                    "value": values,
                    "reason": ["not a number"] * len(values),
                }
            )
        )

    assert "have a decimal point: pass decimal='.'" in (hint(["1,234.5", "x"]) or "")
    assert "pass decimal='.'" in (hint(["2.5"]) or "")
    assert "pass decimal=','" in (hint(["x", "12,5"]) or "")
    assert "no one decimal mark" in (hint(["12,5", "1,234.5"]) or "")
    assert "decimal='.' or decimal=','" in (hint(["1,234"]) or "")
    assert hint(["1.23,4", "abc"]) is None


# ------------------------------------------------------------------ 5. blank lines, a title

TABLE = (
    "Patient ID;Study Date;DLP (mGy.cm);ED (mSv)\n1;2020-01-02;450,5;6,3\n2;2020-01-03;300;-4,1\n"
)


@pytest.mark.parametrize("before", ["\n\n", "\r\n \r\n", ";;;\n", "sep=;\n\n", "\n\nsep=;\n"])
def test_blank_lines_above_the_header(tmp_path: Path, before: str) -> None:
    """Before: "empty file, no header line" (or an unnamed column). The lines of the file
    are still counted as the user counts them."""
    path = tmp_path / "blank.csv"
    path.write_bytes((before + TABLE).encode())
    above = before.count("\n")
    with pytest.raises(ExamValidationError) as err:
        recurct.read_exams(path, today=TODAY)
    assert f"row 1 (line {above + 3} of the file), column 'effective_dose_msv'" in str(err.value)
    res, _ = _read(path, strict=False)
    assert res.exams["dlp_mgycm"].to_list() == [450.5]
    assert res.report.lines(1) == above + 3


def test_blank_lines_then_errors_of_the_file_name_the_line(tmp_path: Path) -> None:
    header = "Patient ID;Study Date;ED (mSv)\n"
    count = _write(tmp_path, "\n\n" + header + "1;2020-01-02;1\n2;2020-01-03;1;4\n", "c.csv")
    with pytest.raises(DataError, match=r"data row 1 \(line 5 of the file\) has 4 field"):
        recurct.read_exams(count, today=TODAY)
    quote = _write(tmp_path, "\n\n" + header + '1;2020-01-02;1\n2;2020-01-03;"1\n', "q.csv")
    with pytest.raises(DataError, match=r"data row 1 \(line 5 of the file\): a quoted value"):
        recurct.read_exams(quote, today=TODAY)
    mixed = tmp_path / "m.csv"
    mixed.write_bytes(
        ("\n\n" + header + "1;2020-01-02;1\n2;Hôpital;1\n").encode() + "3;é;1\n".encode("cp1252")
    )
    with pytest.raises(DataError, match=r"data row 2 \(line 6 of the file\): byte 0xe9"):
        recurct.read_exams(mixed, today=TODAY)


def test_only_blank_lines_is_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty file, no header line"):
        recurct.read_exams(_write(tmp_path, "\n \n;;\n"), today=TODAY)


@pytest.mark.parametrize(
    ("title", "kw", "fields"),
    [
        ("CT dose report, export 01.01.2024", {}, 2),  # ',' taken as the separator
        ("CT dose report, export 01.01.2024", {"sep": ";"}, 1),
        ("Dose report CT - export 01.01.2024", {}, 1),  # no separator in the title
        ("Dose report CT;;;", {}, 1),  # a merged title cell, as Excel writes it
    ],
)
def test_a_title_above_the_header_is_named(
    tmp_path: Path, title: str, kw: dict, fields: int
) -> None:
    """Before: "data row 0 (line 2 of the file) has 1 field(s) but the header has 2" (line 2
    is the real header), or an unnamed column holding values."""
    path = _write(tmp_path, "\n" + title + "\n" + TABLE)
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, today=TODAY, **kw)
    assert str(err.value) == (
        f"{path}: line 2 of the file ({title!r}) looks like a title above the header: it has "
        f"{fields} field(s), the line after it 4; remove it (the header must be the first line "
        "of the file, blank lines aside) and read the file again"
    )


def test_two_column_file_with_a_bad_row_is_no_title(tmp_path: Path) -> None:
    path = _write(tmp_path, "patient_id,exam_date\nA,2020-01-01,x\nB,2020-01-02\n")
    with pytest.raises(DataError, match=r"data row 0 \(line 2 of the file\) has 3 field"):
        recurct.read_exams(path, today=TODAY)


# ------------------------------------------------------------------ 6. month-first, dayfirst=True

US = "Patient ID;Study Date;ED (mSv)\n1;01/02/2020;1\n1;12/31/2019;2\n2;03/04/2020;3\n"


@pytest.mark.parametrize("strict", [True, False])
def test_month_first_read_day_first_is_refused(tmp_path: Path, strict: bool) -> None:
    """Before: "unparseable date" for 12/31/2019, and with strict=False 01/02/2020 kept as
    1 February."""
    path = _write(tmp_path, US)
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, dayfirst=True, strict=strict, today=TODAY)
    text = str(err.value)
    assert text.startswith(f"{path}: column 'exam_date' holds dates like '12/31/2019'")
    assert "(row 1 (line 3 of the file))" in text
    assert "the dates are month-first" in text and "do not pass dayfirst=True" in text
    assert "convert them to ISO YYYY-MM-DD" in text


def test_day_first_and_ambiguous_columns_still_read(tmp_path: Path) -> None:
    eu = _write(
        tmp_path, "Patient ID;Study Date;ED (mSv)\n1;01/02/2020;1\n1;31/12/2019;2\n", "eu.csv"
    )
    assert recurct.read_exams(eu, dayfirst=True, today=TODAY).exams["exam_date"].to_list() == [
        datetime(2020, 2, 1).date(),
        datetime(2019, 12, 31).date(),
    ]
    both = _write(
        tmp_path, "Patient ID;Study Date;ED (mSv)\n1;31/12/2019;1\n1;12/31/2019;2\n", "b.csv"
    )
    res, _ = _read(both, dayfirst=True, strict=False)  # both kinds: no column rule, each cell
    assert res.report.dropped_by_reason == {"unparseable date": 1}


def test_month_first_without_dayfirst_still_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="may be day-first or month-first; pass dayfirst=True"):
        recurct.read_exams(_write(tmp_path, US), strict=False, today=TODAY)


# ------------------------------------------------------------------ 7. Excel serial dates


@pytest.mark.parametrize("value", ["45123", "43831.25", "45123,5"])
def test_excel_serial_dates_are_named(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f"Patient ID;Study Date;ED (mSv)\n1;{value};1\n")
    with pytest.raises(ExamValidationError) as err:
        recurct.read_exams(path, today=TODAY)
    text = str(err.value)
    assert f"unparseable date (value: {value!r})" in text
    assert f"Dates like {value!r} look like Excel serial day numbers" in text


def test_excel_serial_dates_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "serial.parquet"
    pl.DataFrame({"PatientID": ["a"], "StudyDate": [45123.0], "ED (mSv)": [1.0]}).write_parquet(
        path
    )
    with pytest.raises(ExamValidationError, match="look like Excel serial day numbers"):
        recurct.read_exams(path, today=TODAY)


@pytest.mark.parametrize("kind", ["pandas category", "polars Enum"])
def test_coded_text_doses_are_read_by_the_rule_of_text(kind: str) -> None:
    """A dose column of categories holding text numbers is read as text is (it was cast
    straight to numbers: '1.234' beside '850,5' became 1.234 and '850,5' not a number)."""

    values = ["1.234", "850,5"]
    if kind == "pandas category":
        dlp = pd.Series(values, dtype="category")
        df = pd.DataFrame(
            {"patient_id": ["A", "B"], "exam_date": ["2020-01-02"] * 2, "dlp_mgycm": dlp}
        )
    else:
        df = pl.DataFrame(
            {
                "patient_id": ["A", "B"],
                "exam_date": ["2020-01-02"] * 2,
                "dlp_mgycm": pl.Series(values, dtype=pl.Enum(values)),
            }
        )
    out = recurct.read_exams(df, today="2024-01-01").exams
    assert list(out["dlp_mgycm"]) == [1234.0, 850.5]
    required = ("patient_id", "exam_date")  # (read_exams reads a DLP-only table)
    checked = recurct.validate(df, today="2024-01-01", required=required)  # the same rule
    assert list(checked["dlp_mgycm"]) == [1234.0, 850.5]


# ------------------------------------------------------------------ review of the above (s19)
# Each test below failed before the fixes of the review of this change (helper-168).


@pytest.mark.parametrize("kind", ["pandas", "polars", "parquet", "zoned"])
def test_datetime_column_at_midnight_takes_the_time_column(tmp_path: Path, kind: str) -> None:
    """A date-time column (pandas datetime64, polars Datetime, a Parquet timestamp, with a
    zone) all at 00:00 holds dates: the time column is joined. Before: two exams at 00:00
    and the time column left in the output, without a word."""
    stamps = pd.to_datetime(["2020-01-03", "2020-01-03", "2020-01-04"])
    df = pd.DataFrame(
        {
            "PatientID": ["P1", "P1", "P2"],
            "StudyDate": stamps,
            "StudyTime": ["09:30", "14:00", None],
            "ED (mSv)": [1.0, 1.0, 1.0],
        }
    )
    source: Any = df
    if kind == "polars":
        source = pl.from_pandas(df)
    elif kind == "parquet":
        source = tmp_path / "dt.parquet"
        df.to_parquet(source)
    elif kind == "zoned":
        source = pl.from_pandas(df).with_columns(pl.col("StudyDate").dt.replace_time_zone("UTC"))
    res, caught = _read(source, strict=False)
    assert caught == []
    got = pl.from_pandas(res.exams) if kind == "pandas" else res.exams
    assert got.columns == ["patient_id", "exam_date", "effective_dose_msv"]
    assert got["exam_date"].to_list() == [
        datetime(2020, 1, 3, 9, 30),
        datetime(2020, 1, 3, 14, 0),
        datetime(2020, 1, 4),
    ]
    assert res.report.dropped_by_reason == {}


def test_datetime_column_with_times_keeps_them_and_says_so() -> None:
    """A date-time column with times of its own keeps them; the time column is compared,
    and the rows where it differs are named (before: kept in the output as ``study_time``,
    not compared). Session 20: the one at midnight takes the time column's time, on its day,
    and is said apart; the time column, some of whose times were not used, is kept."""
    df = pl.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2"],
            "exam_date": [
                datetime(2020, 1, 3, 8),
                datetime(2020, 1, 3, 0),
                datetime(2020, 1, 4, 9),
            ],
            "Study Time": ["09:30", "14:00", "09:00"],
            "effective_dose_msv": [1.0, 1.0, 1.0],
        }
    )
    with pytest.warns(UnmappedValuesWarning) as caught:
        res = recurct.read_exams(df, today=TODAY)
    differs, joined = (str(w.message) for w in caught)
    assert differs.startswith("<polars frame>: column 'Study Time': 1 time(s) of day were not used")
    assert "(row 0, 0-based; date and time '2020-01-03 08:00:00" in differs
    assert joined.startswith("<polars frame>: column 'Study Time': 1 time(s) of day were joined")
    assert "(row 1, 0-based; date and time '2020-01-03 00:00:00.000000' and '14:00')" in joined
    assert res.exams["study_time"].to_list() == ["09:30", "14:00", "09:00"]
    assert "Study Time" not in res.exams.columns
    assert res.exams["exam_date"].to_list() == [
        datetime(2020, 1, 3, 8),
        datetime(2020, 1, 3, 14),
        datetime(2020, 1, 4, 9),
    ]


@pytest.mark.parametrize(
    "date",
    [
        "20200103000000",
        "20200103 000000",
        "20200103000000.000",
        "20200103000000+0100",
        "2020-01-03T00:00Z",
        "2020-01-03T00:00:00+01:00",
        "2020-01-03 00:00 -0500",
    ],
)
def test_dicom_and_zoned_midnight_take_the_time_column(tmp_path: Path, date: str) -> None:
    """Before: warned of, and the second exam of the day dropped as a "duplicate exam"."""
    path = _write(
        tmp_path, f"PatientID,StudyDate,StudyTime,ED\nP1,{date},09:30,1\nP1,{date},14:00,1\n"
    )
    res, caught = _read(path, strict=False)
    assert [w for w in caught if w.category is UnmappedValuesWarning] == []
    assert res.report.dropped_by_reason == {}
    assert res.exams["exam_date"].to_list() == [
        datetime(2020, 1, 3, 9, 30),
        datetime(2020, 1, 3, 14, 0),
    ]


def test_a_midnight_among_timed_ones_takes_the_time_and_is_said(tmp_path: Path) -> None:
    """Beside a date written at 08:00, the one at 00:00 takes the time column's time, on its
    day, and is named apart from the 08:00 one (before: silently moved to 09:30, and only the
    08:00 one named; in session 19 kept at 00:00 for the whole column, which made two exams
    of one day copies once the time column was dropped)."""
    path = _write(
        tmp_path,
        "PatientID,StudyDate,StudyTime,ED\n"
        "P1,2020-01-03 08:00,09:30,1\nP2,2020-01-03 00:00,09:30,1\n",
    )
    with pytest.warns(UnmappedValuesWarning) as caught:
        res = recurct.read_exams(path, today=TODAY)
    differs, joined = (str(w.message) for w in caught)
    assert ": 1 time(s) of day were not used" in differs
    assert "(row 0, 0-based; line 2 of the file; date and time '2020-01-03 08:00'" in differs
    assert ": 1 time(s) of day were joined to exam dates written at midnight" in joined
    assert "(row 1, 0-based; line 3 of the file; date and time '2020-01-03 00:00' and '09:30')" in (
        joined
    )
    assert res.exams["exam_date"].to_list() == [
        datetime(2020, 1, 3, 8),
        datetime(2020, 1, 3, 9, 30),
    ]


@pytest.mark.parametrize(
    "kind", ["pandas category", "polars Categorical", "polars Enum", "validate", "pyarrow"]
)
def test_categorical_scientific_ids_are_lost_ids(kind: str) -> None:
    """The rule is the identity rule every entry point runs: categorical ids and
    ``validate`` too (before: ``1,23457E+11`` twice was one patient, without a word)."""
    import pyarrow as pa

    ids = ["1,23457E+11", "1,23457E+11", "AB1E+5", "1e+5x"]
    data = {
        "patient_id": ids,
        "exam_date": ["2020-01-02", "2020-02-03", "2020-01-02", "2020-01-02"],
        "effective_dose_msv": [30.0, 25.0, 1.0, 1.0],
    }
    frame: Any = pl.DataFrame(data)
    if kind == "pandas category":
        frame = pd.DataFrame(data).astype({"patient_id": "category"})
    elif kind == "polars Categorical":
        frame = frame.with_columns(pl.col("patient_id").cast(pl.Categorical))
    elif kind == "polars Enum":
        frame = frame.with_columns(pl.col("patient_id").cast(pl.Enum(sorted(set(ids)))))
    elif kind == "pyarrow":
        frame = pa.table(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "validate":
            kept = recurct.validate(frame, today=TODAY, strict=False)["patient_id"]
        else:
            res = recurct.read_exams(frame, today=TODAY, strict=False)
            kept = res.exams["patient_id"]
            assert res.report.dropped_by_reason == {"missing patient id": 2}
            assert res.report.problems["value"].to_list() == ["1,23457E+11"] * 2
    assert list(kept) == ["AB1E+5", "1e+5x"]
    said = [str(w.message) for w in caught if w.category is IdentifierWarning]
    assert len(said) == 1
    assert "column 'patient_id': 2 patient id(s) are numbers in scientific notation" in said[0]
    assert "(rows 0, 1, 0-based)" in said[0]


@pytest.mark.parametrize("kind", ["text", "pandas category", "polars Enum"])
def test_scientific_ids_refused_by_cumulative_dose(kind: str) -> None:
    """Before: one patient of 55 mSv."""
    exams: Any = pl.DataFrame(
        {
            "patient_id": ["1,23457E+11", "1,23457E+11", "A"],
            "exam_date": [datetime(2020, 1, 2), datetime(2020, 2, 3), datetime(2020, 1, 2)],
            "effective_dose_msv": [30.0, 25.0, 1.0],
        }
    )
    if kind == "pandas category":
        exams = exams.to_pandas().astype({"patient_id": "category"})
    elif kind == "polars Enum":
        exams = exams.with_columns(pl.col("patient_id").cast(pl.Enum(["1,23457E+11", "A"])))
    with (
        pytest.warns(IdentifierWarning, match=r"2 patient id\(s\) are numbers"),
        pytest.raises(DataError, match="'patient_id' is null in rows 0, 1"),
    ):
        recurct.cumulative_dose(exams)


@pytest.mark.parametrize("views", ["string views", "offsets"])
def test_scientific_ids_found_in_a_large_column(
    monkeypatch: pytest.MonkeyPatch, views: str
) -> None:
    """Above 200,000 ids the pass reads the first four bytes of each id where polars keeps
    them (a short id in its view, a long one by its prefix or, without string views, in
    its buffer): every id in scientific notation is found, wherever it is."""
    from recurct import _frames, _strings

    if views == "offsets":
        monkeypatch.setattr(_strings, "string_views", _strings._offset_views)
    n = 250_000
    clean = pl.Series("patient_id", [f"MRN{i:07d}" for i in range(n)])
    assert _frames.scientific_ids(clean) is None
    assert _frames.scientific_ids(clean.str.replace("MRN", "1.2")) is None  # no "e+"
    for lost in ("1,23457E+11", "1.2345678901234E+15", "9e+9"):
        for at in (0, n // 2, n - 1):
            ids = clean.clone().scatter(at, lost)
            found = _frames.scientific_ids(ids)
            assert found is not None and found.arg_true().to_list() == [at]
    with_nulls = clean.clone().scatter([0, 5], [None, "1,2E+11"])
    found = _frames.scientific_ids(with_nulls)
    assert found is not None and found.arg_true().to_list() == [5]


def test_a_header_with_unnamed_value_columns_is_no_title(tmp_path: Path) -> None:
    """A header with two names and unnamed columns holding values: the unnamed column is
    named (before: "looks like a title above the header ... remove it", the header)."""
    path = _write(tmp_path, "patient_id;exam_date;;\nA;2020-01-01;5;x\n")
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, today=TODAY)
    assert str(err.value) == (
        f"{path}: column 2 (0-based) has no name in the header but holds values (row 0 "
        "(line 2 of the file): '5'); name it in the header or delete the column"
    )


@pytest.mark.parametrize("others", [["2020-01-31", "2020-02-15"], ["20200131", "31.01.2020"]])
def test_one_month_first_date_among_unswappable_ones_is_a_cell_problem(
    tmp_path: Path, others: list[str]
) -> None:
    """No date that could be read either way: none can be swapped, so the month-first date
    is an unparseable date of its row, with a hint (before: the whole read refused, saying
    the ISO dates "would have day and month swapped")."""
    rows = "".join(f"{i};{d};1\n" for i, d in enumerate([*others, "12/31/2019"]))
    path = _write(tmp_path, "Patient ID;Study Date;ED (mSv)\n" + rows)
    res, _ = _read(path, dayfirst=True, strict=False)
    assert res.report.dropped_by_reason == {"unparseable date": 1}
    assert res.report.problems.select("row", "value").rows() == [(2, "12/31/2019")]
    with pytest.raises(ExamValidationError) as err:
        recurct.read_exams(path, dayfirst=True, today=TODAY)
    assert "Dates like '12/31/2019' can only be month-first (mm/dd/yyyy)" in str(err.value)


def test_month_first_refusal_names_a_date_that_would_be_swapped(tmp_path: Path) -> None:
    """The refusal names a date read day-first that could be month-first, and the other
    way out: a day-first column with a mistake (before: "the others would have day and
    month swapped", naming none, and no word of a mistake)."""
    days = [f"{d:02d}/03/2020" for d in range(1, 13)] + ["05/13/2020"]
    rows = "".join(f"{i};{d};1\n" for i, d in enumerate(days))
    path = _write(tmp_path, "Patient ID;Study Date;ED (mSv)\n" + rows)
    with pytest.raises(DataError) as err:
        recurct.read_exams(path, dayfirst=True, strict=False, today=TODAY)
    text = str(err.value)
    assert "dates like '05/13/2020' (row 12 (line 14 of the file))" in text
    assert "like '01/03/2020' (row 0 (line 2 of the file)), read day-first as 1 March 2020" in text
    assert "if the dates are month-first, that is 3 January 2020" in text
    assert "If the dates are day-first and '05/13/2020' is a mistake, correct it" in text


def test_dates_read_day_first_are_parsed_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The month-first test reads only the dates that did not parse: with dayfirst=True the
    dates are parsed once (by the reader, for validation), not again."""
    from recurct import _casts
    from recurct._dates import parse_date_series
    from recurct.io import exams as exams_io

    sizes: list[int] = []

    def counted(s: pl.Series, *, dayfirst: bool = False) -> pl.Series:
        sizes.append(s.len())
        return parse_date_series(s, dayfirst=dayfirst)

    monkeypatch.setattr(exams_io, "parse_date_series", counted)
    monkeypatch.setattr(_casts, "parse_date_series", counted)
    path = _write(tmp_path, "Patient ID;Study Date;ED (mSv)\n1;31.12.2019;1\n2;01.02.2020;1\n")
    res = recurct.read_exams(path, dayfirst=True, today=TODAY)
    assert sizes == [2]
    assert res.exams["exam_date"].to_list() == [
        datetime(2019, 12, 31).date(),
        datetime(2020, 2, 1).date(),
    ]


def test_read_exams_documents_its_errors_and_warnings() -> None:
    doc = recurct.read_exams.__doc__ or ""
    warns = doc[doc.index("Warns\n") :]
    for name in ("IdentifierWarning", "UnmappedValuesWarning"):
        assert name in warns
    raises = doc[doc.index("Raises\n") : doc.index("Warns\n")]
    assert "title line above its header" in raises and "month-first" in raises
    assert "strict=False" in raises
    assert "refused" in doc[doc.index("dayfirst :") : doc.index("sep :")]


def test_one_list_of_hints() -> None:
    from recurct.io.exams import hints

    problems = pl.DataFrame(
        {
            "row": [0, 1, 2],
            "column": ["dlp_mgycm", "exam_date", "patient_id"],
            "value": ["12,5", "45123", "1,23457E+11"],
            "reason": ["not a number", "unparseable date", "missing patient id"],
        }
    )
    said = hints(problems)
    assert [h.split(" ")[0:2] for h in said] == [
        ["Numbers", "like"],
        ["Dates", "like"],
        ["Patient", "ids"],
    ]
    assert len(hints(problems, ids=False)) == 2


def test_rows_listed_singular_and_plural() -> None:
    import numpy as np

    from recurct.io.exams import _rows_listed

    assert _rows_listed(np.array([3]), lambda r: r + 2) == (
        "row 3, 0-based; line 5 of the file",
        "5",
    )
    assert _rows_listed(np.array([3, 4]), lambda r: r + 2)[0] == (
        "rows 3, 4, 0-based; lines 5, 6 of the file"
    )
    assert _rows_listed(np.array([1]), None) == ("row 1, 0-based", None)


def test_cli_explains_scientific_ids_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Before: the warning (a note) and the hint said the same one after the other."""
    path = _write(tmp_path, SCI)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        code = run_cli(["validate", str(path), "--today", TODAY])
    out, err = capfd.readouterr()
    text = out + err
    assert code != 0 or "missing patient id" in text
    assert text.count("scientific notation") == 1, text
    assert "line 2, 3, 4" not in text and "lines 2, 3, 4 of the file" in text


@pytest.mark.parametrize("views", ["string views", "offsets"])
@pytest.mark.parametrize("seed", [0, 1])
def test_large_column_pass_counts_exactly_what_the_pattern_matches(
    monkeypatch: pytest.MonkeyPatch, views: str, seed: int
) -> None:
    """The threaded pass over a large column (:func:`_scientific_heads`) counts exactly the
    ids the pattern matches, short (inline) and long ones (in a buffer), so a column of
    pseudonyms starting like ``3e...`` is not handed to the pattern (it was: 0.23 s per 10^7
    64-hex ids for nothing) and no id in scientific notation is missed."""
    import random

    from recurct import _frames, _strings

    if views == "offsets":
        monkeypatch.setattr(_strings, "string_views", _strings._offset_views)
    rnd = random.Random(seed)
    parts = ["1", "9", "0", "12", ".", ",", "e", "E", "+", "-", "5", "x", " ", "é"]
    made = ["".join(rnd.choice(parts) for _ in range(rnd.randint(0, 30))) for _ in range(20_000)]
    made += [f"{rnd.randint(0, 9)}{rnd.choice('.,')}{rnd.randint(0, 10**rnd.randint(1, 20))}"
             f"{rnd.choice('eE')}+{rnd.randint(0, 10**rnd.randint(1, 15))}" for _ in range(2_000)]
    made += ["1E+5", "1e+", "1.E+5", "1,E+5", "1.5E+", "1.5E5", "1.5E-5", "1.5E+5 ", "15E+5",
             "1.5e+05", "3e5f" + "0" * 60, "3e+5" + "0" * 60, "1.2345678901234E+15"]
    ids = pl.Series("patient_id", (made * 12)[: 12 * len(made)])
    expected = int(ids.str.contains(_frames.SCIENTIFIC_ID).sum())
    count = np.zeros(8, np.int64)
    _frames._heads_kernel()(0, ids.len(), *_strings.string_views(ids), count)
    assert expected > 0 and count[0] == expected
    assert _frames._scientific_candidates(ids)
    hex_like = pl.Series("patient_id", ["3e" + f"{i:062x}" for i in range(250_000)])
    assert not _frames._scientific_candidates(hex_like)
