"""One date-time splitter for ``read_exams`` and ``read_openrem_ct`` (recurct._dates): the
same exam date, or an error, from both readers for every form of a date-time cell, and the
OpenREM reader's study times by read_exams' rule of a separate time column."""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import recurct
from recurct import _dates
from recurct._dates import parse_date_series, parse_dates
from recurct.errors import DataError, ExamValidationError, RecurctWarning
from recurct.io.openrem import read_openrem_ct

KEY = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
ERROR = "error"

# (date cell, time cell or None, exam_date read with dayfirst=True, or ERROR)
FORMS: dict[str, tuple[str, str | None, str]] = {
    "ISO": ("2020-04-03", None, "2020-04-03 00:00:00"),
    "ISO HH:MM:SS": ("2020-04-03 14:05:00", None, "2020-04-03 14:05:00"),
    "ISO T HH:MM:SS": ("2020-04-03T14:05:00", None, "2020-04-03 14:05:00"),
    "ISO HH:MM": ("2020-04-03 14:05", None, "2020-04-03 14:05:00"),
    "ISO T HH:MM": ("2020-04-03T14:05", None, "2020-04-03 14:05:00"),
    "ISO H:MM": ("2020-04-03 9:05", None, "2020-04-03 09:05:00"),
    "fraction": ("2020-04-03 14:05:00.123", None, "2020-04-03 14:05:00.123000"),
    "fraction of 7 digits": ("2020-04-03 14:05:00.1234567", None, "2020-04-03 14:05:00.123456"),
    "fraction T": ("2020-04-03T14:05:00.5", None, "2020-04-03 14:05:00.500000"),
    "offset +01:00": ("2020-04-03T14:05:00+01:00", None, "2020-04-03 14:05:00"),
    "offset +0100": ("2020-04-03 14:05:00+0100", None, "2020-04-03 14:05:00"),
    "offset -05": ("2020-04-03 14:05-05", None, "2020-04-03 14:05:00"),
    "offset after a space": ("2020-04-03 14:05:00 +01:00", None, "2020-04-03 14:05:00"),
    "Z": ("2020-04-03T14:05:00Z", None, "2020-04-03 14:05:00"),
    "offset after a date alone": ("2020-04-03-05:00", None, ERROR),
    "12-hour PM": ("2020-04-03 2:05 PM", None, "2020-04-03 14:05:00"),
    "12-hour PM seconds": ("2020-04-03 2:05:00 PM", None, "2020-04-03 14:05:00"),
    "12-hour am lower case": ("2020-04-03 12:05 am", None, "2020-04-03 00:05:00"),
    "12-hour 12 PM": ("2020-04-03 12:00 PM", None, "2020-04-03 12:00:00"),
    "12-hour hour 13": ("2020-04-03 13:05 PM", None, ERROR),
    "12-hour hour 0": ("2020-04-03 0:05 AM", None, ERROR),
    "12-hour day-first": ("13/04/2020 2:05 PM", None, "2020-04-13 14:05:00"),
    "basic ISO with T": ("20200403T140500", None, "2020-04-03 14:05:00"),
    "basic ISO with T and fraction": ("20200403T140500.5", None, "2020-04-03 14:05:00.500000"),
    "basic ISO with T, HHMM": ("20200403T1405", None, ERROR),
    "YYYY/MM/DD": ("2020/04/03", None, "2020-04-03 00:00:00"),
    "YYYY/MM/DD HH:MM": ("2020/04/03 14:05", None, "2020-04-03 14:05:00"),
    "YYYY-M-D": ("2020-4-3", None, "2020-04-03 00:00:00"),
    "dd/mm/yyyy day-first only": ("13/04/2020", None, "2020-04-13 00:00:00"),
    "dd/mm/yyyy either order": ("03/04/2020", None, "2020-04-03 00:00:00"),
    "d/m/yyyy": ("3/4/2020", None, "2020-04-03 00:00:00"),
    "mm/dd/yyyy month-first only": ("04/13/2020", None, ERROR),
    "dd/mm/yyyy HH:MM": ("13/04/2020 14:05", None, "2020-04-13 14:05:00"),
    "dd/mm/yyyy T HH:MM": ("13/04/2020T14:05", None, "2020-04-13 14:05:00"),
    "dd/mm/yy": ("13/04/20", None, ERROR),
    "dd.mm.yyyy": ("13.04.2020", None, "2020-04-13 00:00:00"),
    "dd.mm.yyyy either order": ("03.04.2020", None, "2020-04-03 00:00:00"),
    "dd.mm.yyyy HH:MM": ("13.04.2020 14:05", None, "2020-04-13 14:05:00"),
    "dd-mm-yyyy": ("13-04-2020", None, "2020-04-13 00:00:00"),
    "yyyymmdd": ("20200403", None, "2020-04-03 00:00:00"),
    "seven digits": ("2020043", None, ERROR),
    "DICOM DT": ("20200403140500", None, "2020-04-03 14:05:00"),
    "DICOM DT fraction": ("20200403140500.123", None, "2020-04-03 14:05:00.123000"),
    "DICOM DT offset": ("20200403140500+0100", None, "2020-04-03 14:05:00"),
    "DICOM DA TM": ("20200403 140500", None, "2020-04-03 14:05:00"),
    "leap second": ("2020-12-31 23:59:60", None, "2020-12-31 23:59:59"),
    "leap second DICOM": ("20201231235960", None, "2020-12-31 23:59:59"),
    "leap second day-first": ("31/12/2020 23:59:60", None, "2020-12-31 23:59:59"),
    "midnight": ("2020-04-03 00:00:00", None, "2020-04-03 00:00:00"),
    "midnight HH:MM": ("2020-04-03 00:00", None, "2020-04-03 00:00:00"),
    "hour 24": ("2020-04-03 24:00:00", None, ERROR),
    "hour 25": ("2020-04-03 25:00", None, ERROR),
    "one-digit minute": ("2020-04-03 14:5", None, ERROR),
    "one-digit second": ("2020-04-03 14:05:7", None, ERROR),
    "minute after a space": ("2020-04-03 14: 5", None, ERROR),
    "second 61": ("2020-04-03 14:05:61", None, ERROR),
    "30 February": ("2020-02-30", None, ERROR),
    "no date": ("not a date", None, ERROR),
    "time column HH:MM:SS": ("2020-04-03", "14:05:00", "2020-04-03 14:05:00"),
    "time column H:MM": ("2020-04-03", "9:05", "2020-04-03 09:05:00"),
    "time column DICOM": ("20200403", "140500", "2020-04-03 14:05:00"),
    "time column DICOM HHMM": ("2020-04-03", "1405", "2020-04-03 14:05:00"),
    "time column DICOM HH": ("2020-04-03", "14", "2020-04-03 14:00:00"),
    "time column fraction": ("2020-04-03", "14:05:00.5", "2020-04-03 14:05:00.500000"),
    "time column 12-hour (not a time form)": ("2020-04-03", "2:05 PM", "2020-04-03 00:00:00"),
    "time column 8.15 (not a time form)": ("2020-04-03", "8.15", "2020-04-03 00:00:00"),
    "time column 25:00 (not a time form)": ("2020-04-03", "25:00", "2020-04-03 00:00:00"),
    "time column leap second (not a time form)": ("2020-04-03", "23:59:60", "2020-04-03 00:00:00"),
    "time column, midnight date": ("2020-04-03 00:00:00", "14:05:00", "2020-04-03 14:05:00"),
    "time column, timed date": ("2020-04-03 10:00:00", "14:05:00", "2020-04-03 10:00:00"),
    "time column, DICOM DT": ("20200403100000", "14:05:00", "2020-04-03 10:00:00"),
    "time column, day-first date": ("13.04.2020", "14:05", "2020-04-13 14:05:00"),
}
# read without dayfirst (read_exams' default False, read_openrem_ct's None) differently on
# purpose: read_exams refuses every day-first or month-first date (it reads no month-first
# dates), read_openrem_ct reads those whose numbers say their order (13/04/2020)
_DAY_MONTH = {k for k, (d, _, _) in FORMS.items() if re.match(r"[0-9]{1,2}[/.-]", d)}


def _read_exams(tmp_path: Path, date: str, time: str | None, dayfirst: bool) -> object:
    path = tmp_path / "exams.csv"
    head, row = "Patient ID,Study Date,", f"A,{date},"
    if time is not None:
        head, row = head + "Study Time,", row + f"{time},"
    path.write_text(f"{head}Effective Dose (mSv)\n{row}1.5\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read = recurct.read_exams(path, dayfirst=dayfirst, today="2024-01-01").exams
        except (DataError, ExamValidationError):
            return ERROR
    value = read["exam_date"][0]
    if not isinstance(value, datetime):  # a Date column (no time of day in any row)
        value = datetime(value.year, value.month, value.day)
    return str(value)


def _read_openrem(tmp_path: Path, date: str, time: str | None, dayfirst: bool | None) -> object:
    path = tmp_path / "openrem.csv"
    head, row = "Patient ID,Study date,", f"A,{date},"
    if time is not None:
        head, row = head + "Study time,", row + f"{time},"
    path.write_text(f"{head}DLP total (mGy.cm)\n{row}100\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exams = read_openrem_ct(path, dayfirst=dayfirst).exams
        except DataError:
            return ERROR
    return str(exams["exam_date"][0])


@pytest.mark.parametrize("form", list(FORMS))
def test_both_readers_read_a_form_alike_with_dayfirst(tmp_path: Path, form: str) -> None:
    date, time, expected = FORMS[form]
    assert _read_exams(tmp_path, date, time, True) == expected
    assert _read_openrem(tmp_path, date, time, True) == expected


@pytest.mark.parametrize("form", [k for k in FORMS if k not in _DAY_MONTH])
def test_both_readers_read_a_form_alike_without_dayfirst(tmp_path: Path, form: str) -> None:
    """The forms that are not day-first or month-first dates: read as with dayfirst=True,
    by read_exams' default and by both of read_openrem_ct's other orders."""
    date, time, expected = FORMS[form]
    assert _read_exams(tmp_path, date, time, False) == expected
    assert _read_openrem(tmp_path, date, time, None) == expected
    assert _read_openrem(tmp_path, date, time, False) == expected


def test_the_day_month_forms_are_the_slash_dot_and_dash_dates() -> None:
    assert len(_DAY_MONTH) == 14 and {"dd-mm-yyyy", "leap second day-first"} <= _DAY_MONTH


@pytest.mark.parametrize("dayfirst", [False, True])
def test_the_lazy_and_the_eager_parsers_agree_on_every_form(dayfirst: bool) -> None:
    cells = pl.Series("d", [d for d, _, _ in FORMS.values()] + [" 2020-04-03 ", None, ""])
    eager = parse_date_series(cells, dayfirst=dayfirst)
    lazy = pl.select(parse_dates(pl.lit(cells), dayfirst=dayfirst)).to_series()
    assert eager.to_list() == lazy.to_list()


def test_the_eager_parser_leaves_its_input_as_it_was() -> None:
    cells = pl.Series("d", ["2020-04-03T14:05Z", "2020-04-03 2:05 PM", "2020-04-03"])
    before = cells.to_list()
    parse_date_series(cells)
    assert cells.to_list() == before


def test_a_column_read_as_written_and_by_the_splitter_agree() -> None:
    """The first pass reads plain values as written; the others (a one-digit minute that
    polars would read, a leap second it would carry over) go through the splitter."""
    plain = ["2020-04-03 14:05:00"] * 600
    odd = ["2020-04-03 14:5:00", "2020-12-31 23:59:60", "2020-04-03T14:05", "20201231235960"]
    got = parse_date_series(pl.Series("d", plain + odd)).to_list()
    leap = datetime(2020, 12, 31, 23, 59, 59)
    assert got[600:] == [None, leap, datetime(2020, 4, 3, 14, 5), leap]


def test_day_month_order_names_the_first_row_of_each_kind() -> None:
    order = _dates.day_month_order
    assert order(pl.Series(["13/04/2020", "2020-01-01", "04/13/2020"])) == (None, 0, 2)
    assert order(pl.Series(["05/05/2020", "03.04.2020 10:00"])) == (1, None, None)
    assert order(pl.Series(["05/05/2020", None])) == (None, None, None)


# --------------------------------------------------------------------------- OpenREM
def _export(tmp_path: Path, *dates: str, times: list[str] | None = None) -> Path:
    path = tmp_path / "dates.csv"
    if times is None:
        body = "".join(f"A,{d},100\n" for d in dates)
        path.write_text("Patient ID,Study date,DLP total (mGy.cm)\n" + body, encoding="utf-8")
    else:
        body = "".join(f"A,{d},{t},100\n" for d, t in zip(dates, times))
        head = "Patient ID,Study date,Study time,DLP total (mGy.cm)\n"
        path.write_text(head + body, encoding="utf-8")
    return path


def test_openrem_slash_dates_without_dayfirst_are_read_in_their_only_order(
    tmp_path: Path,
) -> None:
    many = [f"{13 + i % 15}/{1 + i % 12:02d}/2020" for i in range(1200)]  # a column of them
    exams = read_openrem_ct(_export(tmp_path, *many)).exams
    assert exams["exam_date"][:2].to_list() == [datetime(2020, 1, 13), datetime(2020, 2, 14)]
    few = ["2020-01-02"] * 1200 + ["04/13/2020"]  # ISO dates and one month-first date
    assert read_openrem_ct(_export(tmp_path, *few)).exams["exam_date"][-1] == datetime(2020, 4, 13)


@pytest.mark.parametrize("first", ["2020-01-02", "13/01/2020"])
def test_openrem_an_ambiguous_date_is_named_by_its_row(tmp_path: Path, first: str) -> None:
    """Decided on the whole column (a column of slash dates) or on the dates that are not
    ISO (a column of ISO dates): the row named is the file's."""
    path = _export(tmp_path, *([first] * 1000 + ["03/04/2020"]))
    with pytest.raises(DataError, match=r"row 1000 \(line 1002 of the file\): study date "):
        read_openrem_ct(path)


def test_openrem_times_with_two_offsets_are_warned_of(tmp_path: Path) -> None:
    path = _export(tmp_path, "2020-04-03T10:00:00+01:00", "2020-04-03T11:00:00Z")
    with pytest.warns(RecurctWarning, match=r"dates\.csv: column 'Study date' mixes 2 UTC"):
        exams = read_openrem_ct(path).exams
    assert exams["exam_date"].to_list() == [datetime(2020, 4, 3, 10), datetime(2020, 4, 3, 11)]
    with pytest.warns(RecurctWarning, match=r"mixes 2 UTC offsets \(first in rows 0, 1") as seen:
        read_openrem_ct(path, pseudonymise="hmac-sha256", secret=KEY)
    assert "+01:00" not in str(seen[0].message) and "dates.csv" not in str(seen[0].message)


def test_openrem_a_date_with_a_time_of_its_own_keeps_it_beside_a_study_time(
    tmp_path: Path,
) -> None:
    """read_exams' rule of a separate time column: the study time is the time of a date
    without one (alone or at midnight); a date's own time is kept, a differing study time
    and one that is no time are problems of their rows, the study kept with its DLP."""
    path = _export(
        tmp_path,
        "2020-01-02 14:05:00",
        "2020-01-02 00:00",
        "2020-01-02",
        "2020-01-02",
        "2020-01-02 14:05",
        times=["09:15:00", "09:15", "0915", "9.15", "14:05"],
    )
    result = read_openrem_ct(path)
    assert result.exams["exam_date"].to_list() == [
        datetime(2020, 1, 2, 14, 5),
        datetime(2020, 1, 2, 9, 15),
        datetime(2020, 1, 2, 9, 15),
        datetime(2020, 1, 2),
        datetime(2020, 1, 2, 14, 5),
    ]
    assert result.exams["dlp_mgycm"].to_list() == [100.0] * 5
    problems = result.report.problems.select("reason", "field", "action").rows()
    assert problems == [
        (
            "row 0 (line 2 of the file): column 'Study time' holds '09:15:00', a time other "
            "than the study date's own ('2020-01-02 14:05:00'); the study date's time is kept",
            "Study time",
            "lenient",
        ),
        (
            "row 3 (line 5 of the file): column 'Study time' holds '9.15', not a time of day "
            "(HH:MM[:SS[.f]], H:MM[:SS[.f]] or DICOM HH[MM[SS[.f]]]); the study time is not used",
            "Study time",
            "lenient",
        ),
    ]
    hidden = read_openrem_ct(path, pseudonymise="hmac-sha256", secret=KEY).report.problems
    assert all("<withheld>" in r and "9.15" not in r for r in hidden["reason"].to_list())
