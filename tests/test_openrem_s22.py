"""recurct.io.openrem: an exam that lost events (its "Number of events" above the event
blocks that hold data, or an .xlsx sheet's cells beyond the header) gets no partial sum, and
the event table carries ``study_uid`` and ``localizer`` for event-level doses."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import polars as pl
import pytest

from recurct.dose import effective_dose
from recurct.errors import DataError, PartialExamWarning
from recurct.io.openrem import read_openrem_ct
from recurct.io.rdsr import ReadResult

DATA = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"
KEY = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
LOST = "events are lost"


def _grid() -> tuple[list[str], list[list[str]]]:
    """The fixture's header and rows (the Flash study, the Toshiba one, the QA phantom)."""
    with DATA.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


Caught = list[warnings.WarningMessage]


def _read(path: Path, **kw: object) -> tuple[ReadResult[pl.DataFrame], Caught]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_openrem_ct(path, **kw)  # type: ignore[arg-type]
    return result, caught


def _values(result: ReadResult[pl.DataFrame]) -> list[tuple[object, ...]]:
    return result.exams.select("n_events", "dlp_mgycm", "ctdivol_mgy", "dlp_total_mismatch").rows()


def _partial(caught: Caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, PartialExamWarning)]


# --------------------------------------------------------------------------- lost events
def test_a_row_cut_after_its_third_event_gets_no_partial_sum(tmp_path: Path) -> None:
    """The auditor's case: Flash study cut before "E4 Protocol" (the 708.2 mGy.cm main scan),
    "Number of events" still 4: no 16.32 mGy.cm exam, no localizer's CTDIvol."""
    header, rows = _grid()
    cut = rows[0][: header.index("E4 Protocol")]
    result, caught = _read(_write(tmp_path / "cut.csv", header, cut))
    assert _values(result) == [(3, None, None, None)]
    assert result.exams["reported_dlp_total_mgycm"].to_list() == [724.52]
    (said,) = _partial(caught)
    assert "(row 0, 0-based; line 2 of the file)" in said
    problems = result.report.problems
    assert problems.select("file", "field", "action").rows() == [
        ("cut.csv", "Number of events", "lenient")
    ]
    reason = problems["reason"][0]
    assert reason.startswith("row 0 (line 2 of the file): column 'Number of events' says 4, ")
    assert "3 event blocks hold data" in reason and LOST in reason and "not a partial sum" in reason
    assert result.events.height == 3  # the events the file holds


def test_emptied_event_columns_are_the_same_loss_and_other_rows_keep_their_dose(
    tmp_path: Path,
) -> None:
    header, rows = _grid()
    flash = rows[0][:]
    a, b = header.index("E4 Protocol"), header.index("E4 mA Modulation type")
    flash[a : b + 1] = [""] * (b + 1 - a)
    result, caught = _read(_write(tmp_path / "blank.csv", header, flash, rows[1]))
    assert _values(result) == [(3, None, None, None), (3, 349.7, 25.4, False)]
    assert len(_partial(caught)) == 1
    assert result.report.problems["field"].to_list() == ["Number of events"]
    assert result.report.problems["reason"][0].startswith("row 0 (line 2 of the file): ")


def test_an_export_with_fewer_event_blocks_than_a_study_counts_lost_its_events(
    tmp_path: Path,
) -> None:
    """A header of 3 event blocks (columns removed, or an exporter that sized them by another
    count) under a study counting 4, the later "No. events" spelling."""
    header, rows = _grid()
    cut = header.index("E4 Protocol")
    head = [("No. events" if h == "Number of events" else h) for h in header[:cut]]
    result, caught = _read(_write(tmp_path / "narrow.csv", head, rows[0][:cut]))
    assert _values(result) == [(3, None, None, None)]
    assert _partial(caught)
    assert result.report.problems["field"].to_list() == ["No. events"]
    assert (
        "column 'No. events' says 4, 3 event blocks hold data"
        in result.report.problems["reason"][0]
    )


def test_a_count_below_the_events_with_data_is_a_problem_row_and_the_dose_is_kept(
    tmp_path: Path,
) -> None:
    """As read_rdsr's count3 case: the events the file holds are summed."""
    header, rows = _grid()
    flash = rows[0][:]
    flash[header.index("Number of events")] = "3"
    result, caught = _read(_write(tmp_path / "count3.csv", header, flash))
    assert [(n, round(d, 2), c, m) for n, d, c, m in _values(result)] == [(4, 724.52, 9.91, False)]
    assert not _partial(caught)
    (reason,) = result.report.problems["reason"].to_list()
    assert reason == (
        "row 0 (line 2 of the file): column 'Number of events' says 3, 4 event blocks hold "
        "data; the exam DLP is kept (the sum over the events in the file)"
    )


@pytest.mark.parametrize("count", ["4", "4.0", "", "4.5", "-1"])
def test_a_count_that_matches_or_is_no_whole_number_changes_nothing(
    tmp_path: Path, count: str
) -> None:
    header, rows = _grid()
    flash = rows[0][:]
    flash[header.index("Number of events")] = count
    result, caught = _read(_write(tmp_path / "ok.csv", header, flash))
    assert [(n, round(d, 2), c, m) for n, d, c, m in _values(result)] == [(4, 724.52, 9.91, False)]
    assert not _partial(caught) and result.report.problems.height == 0


def test_the_shipped_export_has_no_count_problem() -> None:
    result, caught = _read(DATA, include_non_patient=True)
    assert result.report.problems.height == 0 and not _partial(caught)
    assert result.exams["dlp_mgycm"].round(2).to_list() == [724.52, 349.7, 600.0]


def test_without_event_columns_the_count_is_not_compared(tmp_path: Path) -> None:
    path = tmp_path / "totals.csv"
    path.write_text(
        "Patient ID,Study date,Number of events,DLP total (mGy.cm)\nA,2020-04-03,4,250\n"
    )
    result, caught = _read(path)
    assert result.exams.select("n_events", "dlp_mgycm").rows() == [(4, 250.0)]
    assert result.report.problems.height == 0 and not caught


def test_a_pseudonymising_read_names_no_identifier_in_the_lost_event_row(tmp_path: Path) -> None:
    header, rows = _grid()
    flash = rows[0][:]
    flash[header.index("Number of events")] = "5"
    path = _write(tmp_path / "123456.csv", header, flash)
    result, caught = _read(path, pseudonymise="hmac-sha256", secret=KEY)
    assert _values(result) == [(4, None, None, None)]
    (row,) = result.report.problems.rows(named=True)
    text = " ".join(str(v) for v in row.values()) + " ".join(str(w.message) for w in caught)
    for raw in ("123456", "SMITH", "ACC0001", "1929"):
        assert raw not in text
    assert row["file"].startswith("file:") and "says 5, 4 event blocks hold data" in row["reason"]


def test_a_csv_row_with_more_events_than_the_header_has_blocks_is_refused_saying_so(
    tmp_path: Path,
) -> None:
    """OpenREM writes every event of a study, but only as many blocks as the export's largest
    "Number of events": such a row is wider than its header."""
    header, rows = _grid()
    cut = header.index("E4 Protocol")
    flash = rows[0][:]
    flash[header.index("Number of events")] = "3"
    with pytest.raises(DataError) as err:
        read_openrem_ct(_write(tmp_path / "wide.csv", header[:cut], flash))
    message = str(err.value)
    assert message.startswith("wide.csv: row 0 (line 2 of the file) has 104 cells but the header")
    assert "more irradiation events than the header has blocks of event columns" in message


# --------------------------------------------------------------------------- .xlsx sheets
def _sheet(path: Path, header: list[str], *rows: list[str]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "All data"
    for r in (header, *rows):
        sheet.append(r)
    book.save(path)
    return path


def test_a_sheets_cells_beyond_the_header_are_lost_events(tmp_path: Path) -> None:
    """The same export as an .xlsx sheet: the fourth event's cells have no column names
    (a CSV file is refused, above); the study keeps no partial sum."""
    header, rows = _grid()
    cut = header.index("E4 Protocol")
    flash = rows[0][:]
    flash[header.index("Number of events")] = "3"
    path = _sheet(tmp_path / "wide.xlsx", header[:cut], flash, rows[1][:cut])
    result, caught = _read(path)
    assert _values(result) == [(3, None, None, None), (3, 349.7, 25.4, False)]
    assert len(_partial(caught)) == 1 and "sheet row 2" in _partial(caught)[0]
    (row,) = result.report.problems.rows(named=True)
    assert row["field"] == "cells beyond the header" and row["action"] == "lenient"
    assert row["reason"].startswith("row 0 (sheet row 2): 16 cell(s) right of the header's last")
    assert "not a partial sum" in row["reason"]


def test_blank_cells_beyond_a_sheets_header_change_nothing(tmp_path: Path) -> None:
    header, rows = _grid()
    path = _sheet(tmp_path / "blank.xlsx", header, [*rows[0], "", "  "], rows[1])
    result, caught = _read(path)
    assert [round(d, 2) for d in result.exams["dlp_mgycm"]] == [724.52, 349.7]
    assert result.report.problems.height == 0 and not _partial(caught)


# --------------------------------------------------------------------------- event table
def test_the_event_table_has_study_uid_and_localizer() -> None:
    result, _ = _read(DATA)
    events = result.events
    assert events.schema["study_uid"] == pl.Utf8 and events.schema["localizer"] == pl.Boolean
    assert events["study_uid"].null_count() == events.height  # no "Study UID" column
    assert events["localizer"].to_list() == [True, False, False, False, True, False, False]


def test_event_level_doses_from_the_event_table_keyed_by_row() -> None:
    events = _read(DATA)[0].events
    keyed = events.with_columns(
        pl.coalesce("study_uid", pl.format("row {}", "exam_row")).alias("study_uid")
    )
    out = effective_dose(keyed, level="event")
    assert out["study_uid"].to_list() == ["row 0", "row 1"]
    assert out["dlp_mgycm"].round(2).to_list() == [724.52, 349.7]
    assert out["n_events"].to_list() == [4, 3]
    assert out["effective_dose_msv"].null_count() == 0


def test_an_exports_study_uid_reaches_the_events_pseudonymised_alike(tmp_path: Path) -> None:
    header, rows = _grid()
    at = header.index("Study date")
    head = [*header[:at], "Study UID", *header[at:]]
    uids = ["1.2.826.0.1.3680043.2.1", "1.2.826.0.1.3680043.2.2"]
    body = [[*r[:at], u, *r[at:]] for r, u in zip(rows[:2], uids)]
    path = _write(tmp_path / "uids.csv", head, *body)
    plain = _read(path)[0]
    assert plain.events["study_uid"].unique(maintain_order=True).to_list() == uids
    out = effective_dose(plain.events, level="event")  # straight in, as read_rdsr's events
    assert out["study_uid"].to_list() == uids
    assert out["dlp_mgycm"].round(2).to_list() == [724.52, 349.7]
    pseudo = _read(path, pseudonymise="hmac-sha256", secret=KEY)[0]
    ex_uids = pseudo.exams["study_uid"].to_list()
    assert pseudo.events["study_uid"].unique(maintain_order=True).to_list() == ex_uids
    assert not set(ex_uids) & set(uids)
