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
    assert "rows 0, 0-based; lines 2 of the file" in text
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
