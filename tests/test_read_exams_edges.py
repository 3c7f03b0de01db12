"""Edges of ``read_exams``, its CSV reader and the CLI's input found by an audit: decimal and
thousands marks decided per column (never guessed), the line of the file beside each row
named, unnamed empty columns, problem values as written, two-digit years, the file named by
the warnings, and the strict error listing what the lenient read counts."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recurct
from recurct.cli import main
from recurct.errors import DataError, DroppedRowsWarning, UnmappedValuesWarning
from recurct.schema import ExamValidationError

TODAY = "2024-01-01"
HEADER = "Patient ID;Study Date;DLP (mGy.cm);Body Part\n"


# --------------------------------------------------------------------------- numbers
def _reading(cell: str, mark: str) -> float | None:
    """``cell`` read with decimal mark ``mark`` (the other mark only between thousands
    groups of three digits after a lead of one to three, not starting with 0), or None."""
    other = "." if mark == "," else ","
    body = cell[1:] if cell[:1] in "+-" else cell
    whole, _, frac = body.partition(mark)
    if mark in frac or (mark in body and not frac) or (frac and not frac.isdigit()):
        return None
    parts = whole.split(other)
    if not all(p.isdigit() for p in parts):
        return None
    if len(parts) > 1:  # thousands groups
        lead, groups = parts[0], parts[1:]
        if not (1 <= len(lead) <= 3 and lead[0] != "0" and all(len(g) == 3 for g in groups)):
            return None
    sign = "-" if cell.startswith("-") else ""
    return float(f"{sign}{''.join(parts)}.{frac or '0'}")


def _reference(cells: list[str], decimal: str | None) -> list[float | None]:
    """The rule of docs/data-preparation.md, "Numbers in text", in plain Python."""
    readings = [(_reading(c, ","), _reading(c, ".")) for c in cells]
    if decimal is not None:
        return [r[0] if decimal == "," else r[1] for r in readings]
    only_comma = any(c is not None and p is None for c, p in readings)
    only_point = any(p is not None and c is None for c, p in readings)
    if only_comma != only_point:
        return [r[0] if only_comma else r[1] for r in readings]
    out: list[float | None] = []
    for c, p in readings:  # each cell by its only reading; two different ones: ambiguous
        out.append(None if c is not None and p is not None and c != p else c if p is None else p)
    return out


_digits = st.text("0123456789", min_size=1, max_size=4)
_mark = st.sampled_from([".", ","])


@st.composite
def _cell(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "", "-"]))
    if draw(st.booleans()):  # thousands groups
        lead = draw(st.text("0123456789", min_size=1, max_size=3))
        groups = draw(st.lists(st.text("0123456789", min_size=2, max_size=4), max_size=3))
        sep = draw(_mark)
        whole = sep.join([lead, *groups])
    else:
        whole = draw(_digits)
    if draw(st.booleans()):
        whole += draw(_mark) + draw(_digits)
    return sign + whole


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(_cell(), min_size=1, max_size=6),
    decimal=st.sampled_from([None, ",", "."]),
)
def test_numbers_follow_the_rule_and_never_misread(cells: list[str], decimal: str | None) -> None:
    n = len(cells)
    frame = pl.DataFrame(
        {"patient_id": ["a"] * n, "exam_date": ["2020-01-01"] * n, "dlp_mgycm": cells}
    )
    out = recurct.read_exams(frame, decimal=decimal, validate=False).exams
    assert out["dlp_mgycm"].to_list() == _reference(cells, decimal)


def test_one_thousands_cell_keeps_the_decimal_commas_of_its_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        HEADER
        + "P1;2020-01-02;1.234,5;CHEST\nP1;2020-01-03;100,0;CHEST\nP2;2020-01-03;200,0;HEAD\n"
    )
    out = recurct.read_exams(path, today=TODAY).exams
    assert out["dlp_mgycm"].to_list() == [1234.5, 100.0, 200.0]
    # "1.234" alone: the column's decimal commas say the point groups thousands
    path.write_text(HEADER + "P1;2020-01-02;1.234;CHEST\nP1;2020-01-03;100,5;CHEST\n")
    assert recurct.read_exams(path, today=TODAY).exams["dlp_mgycm"].to_list() == [1234.0, 100.5]
    # and decimal points say it is a decimal point
    path.write_text(HEADER + "P1;2020-01-02;1.234;CHEST\nP1;2020-01-03;100.5;CHEST\n")
    assert recurct.read_exams(path, today=TODAY).exams["dlp_mgycm"].to_list() == [1.234, 100.5]


def test_an_ambiguous_number_is_flagged_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "P1;2020-01-02;1.234;CHEST\nP1;2020-01-03;100;CHEST\n")
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(path, today=TODAY)
    problems = info.value.problems
    assert problems.select("row", "value").rows() == [(0, "1.234")]
    assert problems["reason"][0].startswith("ambiguous number")
    assert "row 0 (line 2 of the file), column 'dlp_mgycm': ambiguous number" in str(info.value)
    out = recurct.read_exams(path, decimal=",", today=TODAY).exams
    assert out["dlp_mgycm"].to_list() == [1234.0, 100.0]


def test_explicit_decimal_reads_thousands_and_refuses_the_other_mark(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "P1;2020-01-02;1.234,5;CHEST\nP1;2020-01-03;12.5;CHEST\n")
    with pytest.warns(DroppedRowsWarning):
        r = recurct.read_exams(path, decimal=",", strict=False, today=TODAY)
    assert r.exams["dlp_mgycm"].to_list() == [1234.5]
    # the value as written, not rewritten ('12.5', formerly read as 12.5 against decimal=",")
    assert r.report.problems.select("row", "value", "reason").rows() == [
        (1, "12.5", "not a number")
    ]


def test_problem_values_are_shown_as_written(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "Patient ID;Study Date;DLP (mGy.cm);Patient Age\n"
        "P1;2020-01-02;1.23,4;067Y\nP2;2020-01-02;10,5;250Y\nP3;2020-01-02;7;50\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = recurct.read_exams(path, decimal=",", strict=False, today=TODAY)
    values = dict(zip(r.report.problems["column"], r.report.problems["value"]))
    assert values == {"dlp_mgycm": "1.23,4", "age_years": "250Y"}  # not '1.23.4', '250.0'


def test_comma_separated_file_reads_numbers_as_before(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('patient_id,exam_date,dlp_mgycm\na,2020-01-01,1.234\nb,2020-01-01,"1,5"\n')
    with pytest.warns(DroppedRowsWarning):
        r = recurct.read_exams(path, strict=False, today=TODAY)
    assert r.exams["dlp_mgycm"].to_list() == [1.234]
    assert r.report.problems.select("row", "value").rows() == [(1, "1,5")]


# --------------------------------------------------------------------------- lines
@st.composite
def _csv_file(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """A CSV file (sep= line, BOM, CRLF, quoted line breaks drawn), the data row holding
    the bad dose and the line of the file where that row starts."""
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\ufeff" if draw(st.booleans()) else ""
    line = 1
    if draw(st.booleans()):
        text += "sep=;" + nl
        line += 1
    text += "patient_id;exam_date;effective_dose_msv;note" + nl
    line += 1
    n = draw(st.integers(1, 6))
    bad = draw(st.integers(0, n - 1))
    at = 0
    for i in range(n):
        breaks = draw(st.integers(0, 2))
        note = '"' + nl.join(["x"] * (breaks + 1)) + '"' if breaks else "y"
        dose = "abc" if i == bad else "1.5"
        if i == bad:
            at = line
        text += f"p{i};2020-01-0{i + 1};{dose};{note}{nl}"
        line += breaks + 1
    return text.encode(), bad, at


@settings(max_examples=60, deadline=None)
@given(case=_csv_file())
def test_rows_named_with_their_line_of_the_file(tmp_path_factory, case) -> None:
    data, row, line = case
    path = tmp_path_factory.mktemp("lines") / "f.csv"
    path.write_bytes(data)
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(path, today=TODAY)
    assert f"row {row} (line {line} of the file), column 'effective_dose_msv'" in str(info.value)
    with pytest.warns(DroppedRowsWarning, match=re.escape(str(path))):
        report = recurct.read_exams(path, strict=False, today=TODAY).report
    assert report.lines is not None and report.lines(row) == line
    assert f"row {row} (line {line} of the file)" in str(report)


def test_cli_rows_and_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "sep=;\nPatient ID;Study Date;Effective Dose (mSv);Comment\n"
        'P1;2020-01-02;1,5;"a\nb"\nP1;2020-13-03;1,0;x\n'
    )
    assert main(["analyze", str(path), "--today", TODAY]) != 0
    err = capsys.readouterr().err
    assert "first rows 1 (line 5 of the file)" in err
    assert "CSV line = row + 2" not in err and "each with its line of the file" in err
    assert main(["validate", str(path), "--today", TODAY]) == 1
    out = capsys.readouterr().out
    assert "row 1 (line 5 of the file), column 'exam_date'" in out
    # Parquet: rows, no lines
    pq = tmp_path / "s.parquet"
    pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": ["2020-01-01", "2020-13-01"],
            "effective_dose_msv": [1.0, 2.0],
        }
    ).write_parquet(pq)
    assert main(["analyze", str(pq), "--today", TODAY]) != 0
    err = capsys.readouterr().err
    assert "first rows 1\n" in err and "of the file" not in err
    assert "Rows are counted from 0 (row 0 is the first row of the table)." in err


def test_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('patient_id,exam_date,note\na,2020-01-01,"x\ny"\nb,2020-01-02,z,extra\n')
    with pytest.raises(DataError, match=r"data row 1 \(line 4 of the file\) has 4 field"):
        recurct.read_exams(path)


# --------------------------------------------------------------------------- columns
def test_trailing_unnamed_empty_columns_are_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.csv"
    for tail in (",", ",,"):
        path.write_text(
            f"Patient ID,Study Date,Effective Dose (mSv){tail}\nP1,2020-01-02,12.3{tail}\n"
        )
        out = recurct.read_exams(path, today=TODAY).exams
        assert out.columns == ["patient_id", "exam_date", "effective_dose_msv"]
    assert main(["validate", str(path), "--today", TODAY]) == 0
    assert "2 unnamed empty column(s) left out (column 3, 4" in capsys.readouterr().out


def test_unnamed_column_with_values_is_refused_by_position(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "Patient ID,Study Date,Effective Dose (mSv),,\nP1,2020-01-02,12.3,,\nP2,2020-01-02,1,a,b\n"
    )
    with pytest.raises(
        DataError, match=r"column 3 \(0-based\) has no name.*row 1 \(line 3 of the file\): 'a'"
    ):
        recurct.read_exams(path)


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize("dayfirst", [False, True])
@pytest.mark.parametrize("value", ["2/1/20", "20-01-02", "02.01.20"])
def test_two_digit_year_is_named_as_such(tmp_path: Path, value: str, dayfirst: bool) -> None:
    path = tmp_path / "y.csv"
    path.write_text(f"patient_id,exam_date,effective_dose_msv\na,2020-01-01,1\nb,{value},1\n")
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(path, dayfirst=dayfirst, today=TODAY)
    assert info.value.problems.select("row", "value", "reason").rows() == [
        (1, value, "two-digit year: not accepted (write the year in full)")
    ]


# --------------------------------------------------------------------------- warnings, strict
def test_warnings_name_the_file_and_strict_lists_what_lenient_counts(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,body_region\n"
        "a,2020-01-01,-1,chest\nb,2020-01-01,1,elbowz\nc,2020-13-01,1,chest\nd,2020-01-02,x,head\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = recurct.read_exams(path, strict=False, today=TODAY).report
    kinds = {w.category: str(w.message) for w in caught}
    assert kinds[DroppedRowsWarning].startswith(f"{path}: ")
    assert kinds[UnmappedValuesWarning].startswith(f"{path}: ")
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(path, today=TODAY)
    strict = info.value.problems.select("row", "column", "reason").rows()
    lenient = report.problems.select("row", "column", "reason").rows()
    assert len(lenient) == 4 and set(lenient) <= set(strict)


# --------------------------------------------------------------------------- CLI --decimal
def test_cli_decimal_option_and_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text('patient_id,exam_date,effective_dose_msv\na,2020-01-01,"1,5"\n')
    assert main(["validate", str(path), "--today", TODAY]) == 1
    out = capsys.readouterr().out
    assert "pass --decimal ," in out
    assert main(["validate", str(path), "--today", TODAY, "--decimal", ","]) == 0
    capsys.readouterr()
    path.write_text("patient_id;exam_date;effective_dose_msv\na;2020-01-01;1.234\n")
    assert main(["validate", str(path), "--today", TODAY]) == 1
    assert "pass --decimal . or --decimal ," in capsys.readouterr().out
    assert main(["validate", str(path), "--today", TODAY, "--decimal", "."]) == 0


def test_a_pickled_validation_error_keeps_the_lines_of_the_file(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "q.csv"
    path.write_text('sep=,\npatient_id,exam_date,effective_dose_msv\n1,2020-01-01,abc\n')
    with pytest.raises(recurct.errors.ExamValidationError) as info:
        recurct.read_exams(path, today="2024-01-01")
    assert "row 0 (line 3 of the file)" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


def test_a_column_of_points_as_thousands_groups_only_is_read_by_the_rule() -> None:
    """'1.000.000' can only have points as thousands separators (a decimal-comma number), so
    the column's mark is the comma: it is one million (the fast path for columns without a
    comma read it as a decimal point and the cell as not a number)."""
    frame = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": ["2020-01-01", "2020-01-02"],
            "effective_dose_msv": ["1.000.000", "12"],
        }
    )
    out = recurct.read_exams(frame, validate=False).exams
    assert out["effective_dose_msv"].to_list() == [1000000.0, 12.0]
