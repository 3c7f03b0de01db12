"""recurct.io.openrem names rows as recurct.read_exams does: the 0-based data row (row 0 the
first after the header), with the 1-based line of the file where it starts for a CSV file
(a line break inside a quoted value and a ``sep=`` first line counted) and the row of the
sheet for an .xlsx workbook. It said "CSV row N" with the header as row 1: not the file's
line after a quoted line break, and the sheet's row in a workbook."""

from __future__ import annotations

import csv
import io
import re
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct.errors import DataError, DroppedRowsWarning, PartialExamWarning
from recurct.io.openrem import read_openrem_ct

FIXTURE = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"
KEY = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
SHORT = [
    "Patient ID",
    "Study date",
    "Study description",
    "DLP total (mGy.cm)",
    "E1 Protocol",
    "E1 CTDIvol",
    "E1 DLP",
]


def _rows() -> list[list[str]]:
    with FIXTURE.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _text(rows: list[list[str]], sep: str = ",", end: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=end).writerows(rows)
    return buf.getvalue()


def _multiline(tmp_path: Path, name: str = "multiline.csv", **edits: str) -> Path:
    """The fixture with a two-line break in the first study's description (its row 0 takes
    lines 2-4 of the file: row 1 starts on line 5, row 2 on line 6), and cells replaced
    (``E2_DLP="abc"`` sets 'E2 DLP' of row 1)."""
    rows = _rows()
    header = rows[0]
    rows[1][header.index("Study description")] = "CT TAP\nwith contrast,\narterial phase"
    for col, value in edits.items():
        rows[2][header.index(col.replace("_", " "))] = value
    path = tmp_path / name
    path.write_text(_text(rows), encoding="utf-8")
    return path


def test_a_bad_dlp_after_a_quoted_line_break_names_its_row_and_line(tmp_path: Path) -> None:
    """It said "CSV row 3": line 3 of this file is inside the first study's description."""
    path = _multiline(tmp_path, E2_DLP="abc")
    with pytest.raises(DataError) as err:
        read_openrem_ct(path)
    assert str(err.value) == (
        "multiline.csv: row 1 (line 5 of the file), column 'E2 DLP': 'abc' is not a number"
    )
    assert "ACC0002" in path.read_text(encoding="utf-8").splitlines()[4]  # row 1's study


def test_a_bad_date_and_problem_rows_after_a_quoted_line_break(tmp_path: Path) -> None:
    path = _multiline(tmp_path, Study_date="2020-13-45")
    with pytest.raises(DataError, match=r"^multiline\.csv: row 1 \(line 5 of the file\): study"):
        read_openrem_ct(path)
    path = _multiline(tmp_path, E2_CTDIvol="n.a.", Patient_age="old")
    reasons = read_openrem_ct(path).report.problems["reason"].to_list()
    assert [r.split(": ")[0] for r in reasons] == ["row 1 (line 5 of the file)"] * 2


def test_a_mixed_encoding_after_a_quoted_line_break_names_its_row_and_line(
    tmp_path: Path,
) -> None:
    """The decoder's "data row" is this reader's row: it was rewritten as "CSV row 3"."""
    path = tmp_path / "mixed.csv"
    head = _text([SHORT, ["Ä1", "2020-01-01", "CT TAP\nwith contrast", "100", "Head", "", "100"]])
    path.write_bytes(head.encode() + "Ö2,2020-01-02,x,200,Head,,200\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"^mixed\.csv: row 1 \(line 4 of the file\): byte 0xd6"):
        read_openrem_ct(path)


def test_a_shifted_row_without_quotes_names_its_line_too(tmp_path: Path) -> None:
    """Without quotes in the file the row's line was left out ("CSV row 2 has ...")."""
    path = tmp_path / "shifted.csv"
    path.write_text(",".join(SHORT) + "\nA,2020-01-01,x,1,Head,,1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^shifted\.csv: row 0 \(line 2 of the file\) has 8 cells"):
        read_openrem_ct(path)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_a_sep_line_is_read_and_counted(tmp_path: Path, end: str) -> None:
    """An Excel ``sep=;`` first line names the separator, as read_exams reads it; it was
    taken for the header ("not an OpenREM CT export")."""
    rows = _rows()
    path = tmp_path / "sep.csv"
    path.write_text(f"sep=;{end}" + _text(rows, ";", end), encoding="utf-8", newline="")
    want = read_openrem_ct(FIXTURE)
    got = read_openrem_ct(path)
    assert got.exams.equals(want.exams) and got.events.equals(want.events)
    rows[2][rows[0].index("E2 DLP")] = "abc"
    path.write_text(f"sep=;{end}" + _text(rows, ";", end), encoding="utf-8", newline="")
    with pytest.raises(DataError, match=r"^sep\.csv: row 1 \(line 4 of the file\), column 'E2"):
        read_openrem_ct(path)
    path.write_text("sep=:\n" + _text(rows, ":"), encoding="utf-8")
    with pytest.raises(DataError, match=r"names the separator ':'; an OpenREM export is read"):
        read_openrem_ct(path)


def _workbook(path: Path, rows: list[list[str]]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "All data"
    for r in rows:
        ws.append(r)
    book.save(path)
    return path


def test_an_xlsx_bad_cell_names_its_row_of_the_sheet(tmp_path: Path) -> None:
    """A cell with a line break is one sheet row; it said "CSV row 3" of a workbook."""
    rows = _rows()
    header = rows[0]
    rows[1][header.index("Study description")] = "CT TAP\nwith contrast"
    rows[2][header.index("E2 DLP")] = "abc"
    path = _workbook(tmp_path / "export.xlsx", rows)
    with pytest.raises(DataError) as err:
        read_openrem_ct(path)
    assert str(err.value) == (
        "export.xlsx: row 1 (sheet row 3), column 'E2 DLP': 'abc' is not a number"
    )
    rows[2][header.index("E2 DLP")] = "208.5"
    rows[2][header.index("E2 CTDIvol")] = "x"
    rows.append([""] * len(header))  # a totals row: no study
    rows[-1][header.index("DLP total (mGy.cm)")] = "1310.5"
    path = _workbook(tmp_path / "export.xlsx", rows)
    with pytest.warns(DroppedRowsWarning, match=r"left out \(row 3, 0-based; sheet row 5; see"):
        problems = read_openrem_ct(path).report.problems
    assert problems.select("reason", "action").rows() == [
        ("row 1 (sheet row 3): column 'E2 CTDIvol' holds 'x', not a number; the value is "
         "left null", "lenient"),
        ("row 3 (sheet row 5): no Patient ID, Study UID, accession number or study date (a "
         "totals row or a row of empty cells): not a study, left out", "dropped"),
    ]  # fmt: skip


def test_a_pseudonymising_read_names_rows_and_lines_and_no_identifier(tmp_path: Path) -> None:
    rows = _rows()
    header = rows[0]
    rows[1][header.index("Study description")] = "CT TAP\n\nwith contrast"  # lines 2-4
    rows[1][header.index("E4 DLP")] = ""  # an event without a DLP: partial exam
    rows[2][header.index("Patient age")] = "SMITH^JOHN"  # a name where the age goes
    rows.append([""] * len(header))  # row 3, line 7
    path = tmp_path / "pseudo.csv"
    path.write_text(_text(rows), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_openrem_ct(path, pseudonymise="hmac-sha256", secret=KEY)
    texts = {w.category: str(w.message) for w in caught}
    assert "(row 0, 0-based; line 2 of the file)" in texts[PartialExamWarning]
    assert "(row 3, 0-based; line 7 of the file; see" in texts[DroppedRowsWarning]
    reasons = result.report.problems["reason"].to_list()
    assert [r.split(": ")[0] for r in reasons] == [
        "row 0 (line 2 of the file)",
        "row 1 (line 5 of the file)",
        "row 3 (line 7 of the file)",
    ]
    assert "holds <withheld>, neither a number" in reasons[1]
    out = " ".join([*reasons, *texts.values()])
    for raw in ("SMITH", "123456", "ACC0001", "1929"):
        assert raw not in out


def test_warnings_list_at_most_five_rows_with_their_lines(tmp_path: Path) -> None:
    body = [["", "", "x\ny", "", "", "", ""] for _ in range(7)]  # 7 rows, 2 lines each
    body.insert(0, ["A", "2020-01-01", "", "1", "Head", "", "1"])
    path = tmp_path / "totals.csv"
    path.write_text(_text([SHORT, *body]), encoding="utf-8")
    with pytest.warns(DroppedRowsWarning) as caught:
        read_openrem_ct(path)
    assert "(rows 1, 2, 3, 4, 5, ..., 0-based; lines 3, 5, 7, 9, 11, ... of the file;" in str(
        caught[0].message
    )


# --------------------------------------------------------------------------- property
_FREE = st.text(alphabet=st.sampled_from('ab ,;"\n\r'), max_size=6)
_ROW = st.tuples(
    _FREE,  # the study description: quoted line breaks, separators and quotes
    # a readable CTDIvol, an unreadable one (a problem row), no study, an unreadable DLP
    st.sampled_from(["ok", "bad", "blank", "ok", "bad", "blank", "dlp"]),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=8),
    sep=st.sampled_from([",", ";", "\t"]),
    crlf=st.booleans(),
    sep_line=st.booleans(),
)
def test_every_row_named_maps_to_its_record_and_line(
    rows: list[tuple[str, str]], sep: str, crlf: bool, sep_line: bool
) -> None:
    """Random exports with quoted line breaks (LF or CRLF, a ``sep=`` line or none): every
    row a problem or an error names is the record that holds the problem, and its line is
    the line of the file where that record starts (counted here as the records are written,
    one at a time)."""
    end = "\r\n" if crlf else "\n"
    text = f"sep={sep}{end}" if sep_line else ""
    text += _text([SHORT], sep, end)
    want: dict[str, str] = {}
    refused: str | None = None  # the first row with an unreadable DLP
    for i, (desc, kind) in enumerate(rows):
        line = text.count("\n") + 1  # the line where record i starts
        desc = desc.replace("\r", "")  # a bare CR is no line break of an LF file
        if kind == "blank":
            cells = [""] * len(SHORT)
            cells[2] = desc  # a description alone: no study
            what = "dropped"
        else:
            ctdi = "n.a." if kind == "bad" else "12.5"
            dlp = "x" if kind == "dlp" else "10"
            cells = [f"P{i}", "2020-01-02", desc, "10", "Head", ctdi, dlp]
            what = "lenient"
        text += _text([cells], sep, end)
        if kind == "dlp":
            refused = refused or f"row {i} (line {line} of the file), column 'E1 DLP': 'x'"
        elif kind != "ok":
            want[f"row {i} (line {line} of the file)"] = what
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        path.write_bytes(text.encode("utf-8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if refused is not None:
                with pytest.raises(DataError) as err:
                    read_openrem_ct(path)
                assert str(err.value).startswith(f"export.csv: {refused} is not a number")
                return
            result = read_openrem_ct(path)
    problems = result.report.problems
    got = {r.split(": ")[0]: a for r, a in problems.select("reason", "action").iter_rows()}
    assert got == want
    assert all(re.match(r"^row \d+ \(line \d+ of the file\): ", r) for r in problems["reason"])
    studies = [i for i, (_, kind) in enumerate(rows) if kind != "blank"]
    assert result.exams["patient_id"].to_list() == [f"P{i}" for i in studies]
    assert result.exams["study_description"].to_list() == [
        rows[i][0].replace("\r", "").strip() or None for i in studies
    ]


def test_the_cli_recognises_an_openrem_export_after_a_sep_line(tmp_path: Path) -> None:
    from recurct.cli._input import is_openrem

    path = tmp_path / "export.csv"
    path.write_text(
        "sep=;\nPatient ID;Study date;DLP total (mGy.cm);E1 Protocol;E1 DLP\n"
        "A1;2020-01-02;510,5;Chest;510,5\n"
    )
    assert is_openrem(path)
