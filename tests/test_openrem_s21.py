"""recurct.io.openrem study dates as a spreadsheet re-saves them: dotted (``dd.mm.yyyy``,
German Excel's default) and dashed day-first dates under the rules of slash dates, and a time
of day in the date's cell (``2020-01-02 14:05:00``, an .xlsx date-time cell) kept, as a
``T`` time is."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from recurct.errors import DataError
from recurct.io.openrem import read_openrem_ct

KEY = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
HEAD = "Patient ID,Study date,DLP total (mGy.cm)\n"


def _export(tmp_path: Path, *dates: str, name: str = "dates.csv") -> Path:
    """A minimal export: one study of patient A per date, DLPs 100, 200, ..."""
    path = tmp_path / name
    body = "".join(f"A,{d},{100 * (i + 1)}\n" for i, d in enumerate(dates))
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def _when(path: Path, **kw: object) -> list[datetime]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_openrem_ct(path, **kw).exams["exam_date"].to_list()  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dotted dates
def test_a_german_resaved_export_with_dotted_dates_is_read_with_dayfirst(tmp_path: Path) -> None:
    """The auditor's file: ';', Windows-1252, decimal commas and dd.mm.yyyy dates."""
    path = tmp_path / "openrem_de.csv"
    path.write_bytes(
        "Patient ID;Institution name;Study date;Study time;Patient age;DLP total (mGy.cm);"
        "E1 Protocol;E1 DLP\r\n"
        "000123;Klinikum München;02.01.2020;08:30:15;67,5;450,5;Thorax;450,5\r\n"
        "000123;Klinikum München;13.01.2020;;67,6;100,5;Thorax;100,5\r\n".encode("cp1252")
    )
    exams = read_openrem_ct(path, dayfirst=True).exams
    assert exams.select("patient_id", "exam_date", "dlp_mgycm", "facility").rows() == [
        ("000123", datetime(2020, 1, 2, 8, 30, 15), 450.5, "Klinikum München"),
        ("000123", datetime(2020, 1, 13), 100.5, "Klinikum München"),
    ]


def test_an_ambiguous_dotted_date_needs_dayfirst_as_a_slash_date_does(tmp_path: Path) -> None:
    path = _export(tmp_path, "02.01.2020")
    with pytest.raises(
        DataError,
        match=r"dates\.csv: row 0 \(line 2 of the file\): study date '02\.01\.2020' may be "
        r"day-first or month-first .*pass dayfirst=True for dd/mm/yyyy or dayfirst=False",
    ):
        read_openrem_ct(path)
    assert _when(path, dayfirst=True) == [datetime(2020, 1, 2)]
    assert _when(path, dayfirst=False) == [datetime(2020, 2, 1)]


def test_an_ambiguous_dotted_date_is_not_quoted_under_pseudonymise(tmp_path: Path) -> None:
    path = _export(tmp_path, "13.01.2020", "02.01.2020")
    withheld = r"row 1 \(line 3 of the file\): study date <withheld> may be day-first"
    with pytest.raises(DataError, match=withheld) as e:
        read_openrem_ct(path, pseudonymise="hmac-sha256", secret=KEY)
    assert "02.01" not in str(e.value) and "dates.csv" not in str(e.value)


@pytest.mark.parametrize("sep", [".", "-"])
def test_unambiguous_dotted_and_dashed_dates_are_read_in_their_only_order(
    tmp_path: Path, sep: str
) -> None:
    day = _export(tmp_path, f"13{sep}04{sep}2020", f"1{sep}1{sep}2021", f"05{sep}05{sep}2020")
    assert _when(day) == [datetime(2020, 4, 13), datetime(2021, 1, 1), datetime(2020, 5, 5)]
    month = _export(tmp_path, f"04{sep}13{sep}2020", f"2{sep}2{sep}2021")
    assert _when(month) == [datetime(2020, 4, 13), datetime(2021, 2, 2)]


def test_dotted_and_slash_dates_in_both_orders_are_refused(tmp_path: Path) -> None:
    path = _export(tmp_path, "13.04.2020", "04/13/2020")
    with pytest.raises(
        DataError,
        match=r"both orders: row 0 \(line 2 of the file\) '13\.04\.2020' is day-first, "
        r"row 1 \(line 3 of the file\) '04/13/2020' month-first",
    ):
        read_openrem_ct(path)
    with pytest.raises(DataError, match=r"row 1 \(line 3 of the file\): study date '04/13/2020'"):
        read_openrem_ct(path, dayfirst=True)


def test_dotted_dates_with_times_keep_their_times(tmp_path: Path) -> None:
    path = _export(
        tmp_path, "02.01.2020 14:05", "02.01.2020 08:30:15", "3.1.2020 9:05", "04-01-2020T07:00"
    )
    assert _when(path, dayfirst=True) == [
        datetime(2020, 1, 2, 14, 5),
        datetime(2020, 1, 2, 8, 30, 15),
        datetime(2020, 1, 3, 9, 5),
        datetime(2020, 1, 4, 7, 0),
    ]
    # ambiguous with dayfirst=None, as without the times
    with pytest.raises(DataError, match=r"study date '02\.01\.2020 14:05' may be day-first"):
        read_openrem_ct(path)


@pytest.mark.parametrize("value", ["02.01/2020", "02.01.20", "2.1.2020.", "02..01.2020"])
def test_malformed_dotted_dates_are_not_dates(tmp_path: Path, value: str) -> None:
    path = _export(tmp_path, value)
    with pytest.raises(
        DataError, match=rf"row 0 \(line 2 of the file\): study date '{value}' is not a date"
    ):
        read_openrem_ct(path, dayfirst=True)


def test_the_command_line_reads_dotted_dates_with_dayfirst(tmp_path: Path, capsys) -> None:
    from recurct.cli import main

    path = _export(tmp_path, "02.01.2020")
    assert main(["validate", str(path)]) == 2  # ambiguous without --dayfirst
    assert "pass --dayfirst for dd/mm/yyyy" in capsys.readouterr().err
    assert main(["validate", str(path), "--dayfirst"]) in (0, 1)


# --------------------------------------------------------------------------- date-time cells
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-01-02 14:05:00", datetime(2020, 1, 2, 14, 5)),
        ("2020-01-02 14:05", datetime(2020, 1, 2, 14, 5)),
        ("2020-01-02 14:05:03.5", datetime(2020, 1, 2, 14, 5, 3, 500000)),
        ("2020-01-02T08:30:00", datetime(2020, 1, 2, 8, 30)),
        ("2020-01-02T08:30", datetime(2020, 1, 2, 8, 30)),
        ("2020-01-02 00:00:00", datetime(2020, 1, 2)),
        ("2020-01-02", datetime(2020, 1, 2)),
        ("20200102", datetime(2020, 1, 2)),
        ("13/01/2020 14:05:00", datetime(2020, 1, 13, 14, 5)),
        ("01/13/2020 2:05 PM", datetime(2020, 1, 13, 14, 5)),
        ("01/13/2020 12:05 am", datetime(2020, 1, 13, 0, 5)),
    ],
)
def test_a_time_in_the_date_cell_is_kept(tmp_path: Path, value: str, expected: datetime) -> None:
    assert _when(_export(tmp_path, value)) == [expected]


@pytest.mark.parametrize(
    "value", ["2020-01-02 25:00", "2020-01-02 14:5", "2020-01-02 14:05:61", "2020-01-02 13:05 PM"]
)
def test_a_bad_time_in_the_date_cell_refuses_the_file(tmp_path: Path, value: str) -> None:
    """Not a date-time: refused as any unreadable study date is (never the date without it)."""
    path = _export(tmp_path, "2020-01-01", value)
    with pytest.raises(
        DataError,
        match=rf"dates\.csv: row 1 \(line 3 of the file\): study date '{value}' is not a date",
    ):
        read_openrem_ct(path)


def test_two_exams_of_one_day_keep_their_order_from_a_csv(tmp_path: Path) -> None:
    path = _export(tmp_path, "2020-01-02 14:05:00", "2020-01-02T08:30:00")
    exams = read_openrem_ct(path).exams.sort("patient_id", "exam_date")
    assert exams.select("exam_date", "dlp_mgycm").rows() == [
        (datetime(2020, 1, 2, 8, 30), 200.0),
        (datetime(2020, 1, 2, 14, 5), 100.0),
    ]


def test_an_xlsx_date_time_cell_keeps_its_time(tmp_path: Path) -> None:
    """The auditor's workbook: real Excel date-times in 'Study date', no 'Study time'."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Patient ID", "Study date", "DLP total (mGy.cm)"])
    sheet.append(["A", datetime(2020, 1, 2, 14, 5, 0), 300.0])
    sheet.append(["A", datetime(2020, 1, 2, 8, 30, 0), 200.0])
    sheet.append(["A", datetime(2020, 1, 3), 100.0])  # a date alone: midnight
    book.save(tmp_path / "o.xlsx")
    exams = read_openrem_ct(tmp_path / "o.xlsx").exams
    assert exams["exam_date"].to_list() == [
        datetime(2020, 1, 2, 14, 5),
        datetime(2020, 1, 2, 8, 30),
        datetime(2020, 1, 3),
    ]
    ordered = exams.sort("exam_date")["dlp_mgycm"].to_list()
    assert ordered == [200.0, 300.0, 100.0]  # the morning exam first


def test_a_time_in_the_date_cell_is_kept_beside_a_study_time(tmp_path: Path) -> None:
    """read_exams' rule of a separate time column (s22): a date's own time is kept (a
    differing study time is a problem row); a date alone takes the study time."""
    path = tmp_path / "timed.csv"
    path.write_text(
        "Patient ID,Study date,Study time,DLP total (mGy.cm)\n"
        "A,2020-01-02 14:05:00,09:15:00,100\n"
        "A,2020-01-02T14:05:00,09:15:00,100\n"
        "A,2020-01-02 14:05:00,,100\n"
        "A,2020-01-02T14:05:00,,100\n"
        "A,2020-01-02,09:15,100\n"
    )
    assert _when(path) == [datetime(2020, 1, 2, 14, 5)] * 4 + [datetime(2020, 1, 2, 9, 15)]


def test_events_carry_the_time_of_their_study(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "Patient ID,Study date,DLP total (mGy.cm),E1 Protocol,E1 DLP\n"
        "A,2020-01-02 14:05,100,Chest,100\n"
    )
    result = read_openrem_ct(path)
    assert result.events["exam_date"].to_list() == [datetime(2020, 1, 2, 14, 5)]
    assert result.exams.schema["exam_date"] == pl.Datetime("us")


@pytest.mark.parametrize("date", ["13/04/20", "13.04.20", "1/2/20 14:05"])
def test_a_two_digit_year_is_no_date(tmp_path: Path, date: str) -> None:
    """Review helper-189: strptime's %Y read 13/04/20 as the year 20 with dayfirst=True."""
    with pytest.raises(DataError, match="is not a date"):
        read_openrem_ct(_export(tmp_path, date), dayfirst=True)
