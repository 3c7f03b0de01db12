"""read_exams and the date parser on times of day, UTC offsets and unterminated quotes:
a separate Study Time column read by an explicit set of forms (a bad one dropped and
counted, never shifted, the exam kept), ISO 8601 offsets kept as local wall-clock time (as
``Z`` and time-zone-aware frames are), and an unterminated quote named by its line."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from recurct._dates import parse_date_series
from recurct.errors import DataError, RecurctWarning, UnmappedValuesWarning
from recurct.io.exams import read_exams
from recurct.schema import parse_dates

TODAY = date(2024, 6, 30)


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_study_time_accepted_forms(tmp_path: Path) -> None:
    times = {
        "8:15": (8, 15, 0, 0),  # H:MM, one-digit hour
        "9:05:30": (9, 5, 30, 0),  # H:MM:SS
        "13:05": (13, 5, 0, 0),
        "08:15:00.5": (8, 15, 0, 500000),
        "081500": (8, 15, 0, 0),  # DICOM TM
        "0815": (8, 15, 0, 0),
        "08": (8, 0, 0, 0),
        "101530.25": (10, 15, 30, 250000),
        "2359": (23, 59, 0, 0),
    }
    rows = [f"P{i},20200101,{t},1" for i, t in enumerate(times)]
    rows += [f"Q{i},2020-01-01,{t},1" for i, t in enumerate(times)]
    path = _write(tmp_path, "Patient ID,Study Date,Study Time,ED (mSv)\n" + "\n".join(rows) + "\n")
    df = read_exams(path, today=TODAY).exams
    expected = [datetime(2020, 1, 1, h, m, s, us) for h, m, s, us in times.values()]
    assert df.get_column("exam_date").to_list() == expected + expected


def test_bad_study_time_dropped_counted_exam_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Patient ID,Study Date,Study Time,ED (mSv)\n"
        "A,20200101,8.15,1\n"  # was silently 00:00
        "B,2020-01-01,13:5,2\n"  # was silently 13:50
        "C,20200101,2400,3\n"  # no hour 24: was an unparseable date (row dropped)
        "D,20200102,815,4\n"  # ambiguous
        "E,20200103,08:15,5\n",
    )
    with pytest.warns(UnmappedValuesWarning) as record:
        result = read_exams(path, today=TODAY)  # strict: no error, a time is optional
    assert len(record) == 1
    msg = str(record[0].message)
    assert issubclass(record[0].category, RecurctWarning)
    assert str(path) in msg and "'Study Time'" in msg and "4 " in msg
    assert "rows 0, 1, 2, 3" in msg
    assert all(v in msg for v in ("'8.15'", "'13:5'", "'2400'", "'815'"))
    df = result.exams
    assert df.get_column("effective_dose_msv").to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert df.get_column("exam_date").to_list() == [
        datetime(2020, 1, 1),
        datetime(2020, 1, 1),
        datetime(2020, 1, 1),
        datetime(2020, 1, 2),
        datetime(2020, 1, 3, 8, 15),
    ]


def test_all_study_times_bad_dates_stay_dates(tmp_path: Path) -> None:
    path = _write(tmp_path, "Patient ID,Study Date,Study Time\nA,20200101,8.15\nB,20200102,\n")
    with pytest.warns(UnmappedValuesWarning, match="1 time"):
        df = read_exams(path, today=TODAY).exams
    assert df.get_column("exam_date").to_list() == [date(2020, 1, 1), date(2020, 1, 2)]


def test_problem_rows_quote_the_date_the_user_wrote(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Patient ID,Study Date,Study Time\nA,20201301,8:15\nB,2020-02-30,081500\nC,20200101,0900\n",
    )
    with pytest.warns(RecurctWarning, match="dropped 2 of 3 rows"):
        result = read_exams(path, today=TODAY, strict=False)
    problems = result.report.problems.select("row", "value", "reason").rows()
    assert problems == [
        (0, "20201301", "unparseable date"),
        (1, "2020-02-30", "unparseable date"),
    ]
    assert result.exams.get_column("exam_date").to_list() == [datetime(2020, 1, 1, 9)]


def test_parse_study_time_rules() -> None:
    from recurct._dates import parse_study_time

    s = pl.Series(["8:15", "08:15:00", "0815", "8.15", "13:5", "24:00", "12:60", "1:2:3", None])
    assert parse_study_time(s).to_list() == [
        "08:15:00", "08:15:00", "08:15:00", None, None, None, None, None, None,
    ]  # fmt: skip


OFFSETS = [
    ("2020-01-01T23:30:00+01:00", datetime(2020, 1, 1, 23, 30)),
    ("2020-01-01T23:30:00+0100", datetime(2020, 1, 1, 23, 30)),
    ("2020-01-01T23:30:00-05:00", datetime(2020, 1, 1, 23, 30)),
    ("2020-01-01 23:30-05", datetime(2020, 1, 1, 23, 30)),
    ("2020-01-01T23:30:00.5+01:00", datetime(2020, 1, 1, 23, 30, 0, 500000)),
    ("2020-01-01 23:30:00.5 -05", datetime(2020, 1, 1, 23, 30, 0, 500000)),
    ("2020-01-01T23:30:00Z", datetime(2020, 1, 1, 23, 30)),
    ("20200101233000+0100", datetime(2020, 1, 1, 23, 30)),  # DICOM DT with its offset
]


@pytest.mark.parametrize(("text", "expected"), OFFSETS)
def test_iso_offsets_keep_local_wall_clock(text: str, expected: datetime) -> None:
    s = pl.Series("exam_date", [text])
    assert parse_date_series(s).to_list() == [expected]
    assert pl.select(parse_dates(pl.lit(text))).item() == expected


def test_offsets_read_like_a_time_zone_aware_frame(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "patient_id,exam_date,effective_dose_msv\n"
        "a,2020-01-01T23:30:00+01:00,1\na,2020-01-01T22:30:00Z,2\nb,2020-03-29T02:30:00-0500,3\n",
    )
    with pytest.warns(RecurctWarning, match=r"mixes 3 UTC offsets \(\+01:00 in row 0, \+00:00"):
        df = read_exams(path, today=TODAY).exams
    assert df.get_column("exam_date").to_list() == [
        datetime(2020, 1, 1, 23, 30),
        datetime(2020, 1, 1, 22, 30),
        datetime(2020, 3, 29, 2, 30),
    ]
    aware = pd.DataFrame(
        {
            "patient_id": ["a"],
            "exam_date": pd.to_datetime(["2020-01-01 22:30"]).tz_localize("UTC").tz_convert("CET"),
            "effective_dose_msv": [1.0],
        }
    )
    assert read_exams(aware, today=TODAY).exams["exam_date"].tolist() == [
        pd.Timestamp("2020-01-01 23:30")  # the local wall clock, as the +01:00 text above
    ]


def test_offsets_never_taken_from_dates_alone() -> None:
    s = pl.Series("exam_date", ["2020-01-01", "2020-01-01-05:00", "20200101-0500"])
    assert parse_date_series(s).to_list() == [datetime(2020, 1, 1), None, None]


def test_unterminated_quote_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'patient_id,exam_date,note\nA,2020-01-01,"x\nB,2020-01-02,y\n')
    with pytest.raises(DataError) as info:
        read_exams(path, today=TODAY)
    msg = str(info.value)
    assert str(path) in msg
    assert "data row 0 (line 2 of the file)" in msg and "quote" in msg
    assert "infer_schema_length" not in msg and "offset" not in msg
    assert info.value.__cause__ is not None  # polars' own error, chained


def test_unterminated_quote_after_a_multiline_value(tmp_path: Path) -> None:
    text = (
        "sep=,\npatient_id,exam_date,note\n"
        'A,2020-01-01,"two\nlines"\nB,2020-01-02,ok\nC,2020-01-03,"open\nD,2020-01-04,z\n'
    )
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=r"data row 2 \(line 6 of the file\)"):
        read_exams(path, today=TODAY)


def test_unterminated_quote_in_a_middle_column(tmp_path: Path) -> None:
    # the open value swallows the separators: not "a cell missing" but the quote is named
    path = _write(tmp_path, 'patient_id,exam_date,note\nA,2020-01-01,x\nB,"2020-01-02,y\nC,d,e\n')
    with pytest.raises(DataError, match=r"data row 1 \(line 3 of the file\).*quote"):
        read_exams(path, today=TODAY)


def test_unterminated_quote_not_reported_as_a_missing_cell(tmp_path: Path) -> None:
    path = _write(
        tmp_path, 'patient_id,exam_date,note\nA,2020-01-01,x\nB,"2020-01-02\nC,2020-01-03,e\n'
    )
    with pytest.raises(DataError, match=r"data row 1 \(line 3 of the file\).*quote"):
        read_exams(path, today=TODAY)


def test_unterminated_quote_before_more_than_128_kib(tmp_path: Path) -> None:
    # the open value is longer than the csv module's default field limit (128 KiB)
    body = "".join(f"P{i},2020-01-01,n\n" for i in range(12000))
    for row in ('A,2020-01-01,"x\n', 'A,"2020-01-01\n'):  # polars' failure; a field count
        path = _write(tmp_path, "patient_id,exam_date,note\n" + row + body)
        with pytest.raises(DataError, match=r"data row 0 \(line 2 of the file\).*quote"):
            read_exams(path, today=TODAY)
