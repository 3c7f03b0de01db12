"""No partial sums at event level either: an exam that lost irradiation events (read_rdsr: fewer
events than the report's Total Number of Irradiation Events, 113812, or a damaged report;
read_openrem_ct: "Number of events" above the event blocks holding data, or an .xlsx sheet's
cells beyond the header) has every event marked ``events_lost`` in the reader's event table,
and ``effective_dose(events, level="event")`` leaves that study's sums null (a problem row, as
for an event without a DLP), the other studies unchanged. A table of the user's without the
column is summed as before."""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from recurct.dose import DoseConversionError, effective_dose
from recurct.dose._events import sum_events
from recurct.errors import DoseConversionWarning
from recurct.io.openrem import read_openrem_ct

pydicom = pytest.importorskip("pydicom")

from recurct.io.rdsr import read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # 4 events, 724.52 mGy·cm
FLASH_STUDY = "1.3.6.1.4.1.5962.99.1.2662687737.2058515598.1471541535737.3.0"
EXPORT = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"
KEY = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
LOST = "exam lost irradiation events (events_lost)"


def _quiet(fn: Any, *args: Any, **kw: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    return out, caught


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _flash_edited(path: Path, edit: str) -> Path:
    """The Flash report, its count raised to 5 (``"count5"``, as /tmp/s22/E/edits.py) or its
    main scan (708.2 mGy·cm) removed, the count still 4 (``"cut"``)."""
    ds = pydicom.dcmread(FLASH)
    if edit == "count5":
        acc = next(it for it in ds.ContentSequence if _code(it) == "113811")
        count = next(it for it in acc.ContentSequence if _code(it) == "113812")
        count.MeasuredValueSequence[0].NumericValue = "5"
    else:
        main = [it for it in ds.ContentSequence if _code(it) == "113819"][3]
        ds.ContentSequence = [it for it in ds.ContentSequence if it is not main]
    ds.save_as(path)
    return path


def _folder(tmp_path: Path, edit: str) -> Path:
    """The shipped folder with the Flash report replaced by its edited copy."""
    folder = tmp_path / "rdsr"
    shutil.copytree(RDSR, folder, ignore=shutil.ignore_patterns("*.md", FLASH.name))
    _flash_edited(folder / FLASH.name, edit)
    return folder


def _by_study(out: pl.DataFrame) -> dict[str, tuple[Any, ...]]:
    return {
        r[0]: r[1:]
        for r in out.select("study_uid", "dlp_mgycm", "effective_dose_msv", "dose_method").rows()
    }


# --------------------------------------------------------------------------- read_rdsr
@pytest.mark.parametrize("edit", ["count5", "cut"])
def test_rdsr_an_exam_that_lost_events_has_no_event_level_sum(tmp_path: Path, edit: str) -> None:
    result, _ = _quiet(read_rdsr, _folder(tmp_path, edit))
    events = result.events
    assert events.schema["events_lost"] == pl.Boolean
    lost = events.filter(pl.col("study_uid") == FLASH_STUDY)
    assert lost.height == (4 if edit == "count5" else 3)
    assert lost["events_lost"].to_list() == [True] * lost.height
    assert not events.filter(pl.col("study_uid") != FLASH_STUDY)["events_lost"].any()
    exam = result.exams.filter(pl.col("study_uid") == FLASH_STUDY)
    assert exam["dlp_mgycm"].to_list() == [None]  # the exam table already said so

    out, caught = _quiet(effective_dose, events, level="event", strict=False)
    got = _by_study(out)
    assert got[FLASH_STUDY] == (None, None, None)  # not 724.52 (count5) nor 16.32 (cut)
    assert out.filter(pl.col("study_uid") == FLASH_STUDY)["events_lost"].to_list() == [True]
    said = [str(w.message) for w in caught if w.category is DoseConversionWarning]
    assert said == [f"effective_dose left 1 dose(s) null (1 {LOST}: its sums would be partial)"]
    # every other exam: exactly its sum from the shipped folder
    shipped, _ = _quiet(read_rdsr, RDSR)
    before = _by_study(effective_dose(shipped.events, level="event"))
    assert {k: v for k, v in got.items() if k != FLASH_STUDY} == {
        k: v for k, v in before.items() if k != FLASH_STUDY
    }
    assert len(got) == len(before) == 5


def test_rdsr_lost_events_are_a_problem_naming_the_row_with_strict(tmp_path: Path) -> None:
    result, _ = _quiet(read_rdsr, _flash_edited(tmp_path / "count5.dcm", "count5"))
    with pytest.raises(DoseConversionError) as err:
        effective_dose(result.events, level="event")
    assert "row 0, column 'events_lost': " + LOST in str(err.value)
    assert err.value.problems is not None
    assert err.value.problems.select("row", "column", "value").rows() == [
        (0, "events_lost", "true")
    ]


def test_rdsr_a_complete_exam_is_not_marked(tmp_path: Path) -> None:
    result, _ = _quiet(read_rdsr, RDSR)
    assert result.events["events_lost"].to_list() == [False] * result.events.height
    out = effective_dose(result.events, level="event")  # strict: no problem
    assert out["events_lost"].to_list() == [False] * 5


def test_rdsr_pseudonymising_read_adds_no_identifier(tmp_path: Path) -> None:
    f = _flash_edited(tmp_path / "count5.dcm", "count5")
    plain, _ = _quiet(read_rdsr, f)
    pseudo, _ = _quiet(read_rdsr, f, pseudonymise="hmac-sha256", secret=KEY)
    assert pseudo.events.columns == plain.events.columns
    assert pseudo.events["events_lost"].to_list() == [True] * 4
    with pytest.raises(DoseConversionError) as err:
        effective_dose(pseudo.events, level="event")
    for raw in (FLASH_STUDY, "count5.dcm"):
        assert raw not in str(err.value)


# --------------------------------------------------------------------------- read_openrem_ct
def _grid() -> tuple[list[str], list[list[str]]]:
    with EXPORT.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _keyed(events: pl.DataFrame) -> pl.DataFrame:
    return events.with_columns(
        pl.coalesce("study_uid", pl.format("row {}", "exam_row")).alias("study_uid")
    )


@pytest.mark.parametrize("how", ["cut", "count5"])
def test_openrem_an_exam_that_lost_events_has_no_event_level_sum(tmp_path: Path, how: str) -> None:
    header, rows = _grid()
    flash = rows[0][:]
    if how == "cut":  # cut before its fourth event (the 708.2 mGy·cm main scan)
        flash = flash[: header.index("E4 Protocol")]
    else:
        flash[header.index("Number of events")] = "5"
    result, _ = _quiet(read_openrem_ct, _write(tmp_path / "lost.csv", header, flash, rows[1]))
    events = result.events
    assert events.schema["events_lost"] == pl.Boolean
    assert events.filter(pl.col("exam_row") == 0)["events_lost"].all()
    assert not events.filter(pl.col("exam_row") == 1)["events_lost"].any()
    assert result.exams["dlp_mgycm"][0] is None

    out, caught = _quiet(effective_dose, _keyed(events), level="event", strict=False)
    assert out["study_uid"].to_list() == ["row 0", "row 1"]
    assert out.row(0)[out.columns.index("dlp_mgycm")] is None
    assert out["effective_dose_msv"][0] is None and out["dose_method"][0] is None
    assert out["events_lost"].to_list() == [True, False]
    assert any(LOST in str(w.message) for w in caught if w.category is DoseConversionWarning)
    # the other study: exactly as from the shipped export
    shipped = effective_dose(_keyed(read_openrem_ct(EXPORT).events), level="event")
    assert out.drop("events_lost").row(1) == shipped.drop("events_lost").row(1)


def test_openrem_cells_beyond_a_sheets_header_mark_the_events(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    header, rows = _grid()
    cut = header.index("E4 Protocol")
    flash = rows[0][:]
    flash[header.index("Number of events")] = "3"  # the count agrees: the cells tell the loss
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "All data"
    for r in (header[:cut], flash, rows[1][:cut]):
        sheet.append(r)
    book.save(tmp_path / "wide.xlsx")
    result, _ = _quiet(read_openrem_ct, tmp_path / "wide.xlsx")
    assert result.events.group_by("exam_row", maintain_order=True).agg(
        pl.col("events_lost").all()
    ).rows() == [(0, True), (1, False)]
    out, _ = _quiet(effective_dose, _keyed(result.events), level="event", strict=False)
    assert out["dlp_mgycm"][0] is None and round(out["dlp_mgycm"][1], 2) == 349.7


def test_openrem_shipped_export_is_not_marked() -> None:
    events = read_openrem_ct(EXPORT).events
    assert events["events_lost"].to_list() == [False] * events.height


# --------------------------------------------------------------------------- a user's table
def _user() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_uid": ["s1", "s1", "s2", "s2"],
            "event_uid": ["e1", "e2", "e1", "e2"],
            "dlp_mgycm": [100.0, 200.0, 300.0, 50.0],
            "body_region": ["chest", "abdomen", "head", "head"],
        }
    )


def test_a_user_table_without_the_column_is_summed_as_before() -> None:
    out, caught = _quiet(effective_dose, _user())
    assert not caught
    assert "events_lost" not in out.columns
    assert out["dlp_mgycm"].to_list() == [300.0, 350.0]
    assert out["effective_dose_msv"].null_count() == 0
    doses = [pl.lit(1.0).alias("effective_dose_msv"), pl.lit("m").alias("dose_method")]
    direct = sum_events(_user().with_columns(doses), "body_region")
    assert "events_lost" not in direct.columns and direct["dlp_mgycm"].to_list() == [300.0, 350.0]


def test_a_user_table_with_the_column_is_read_as_a_flag() -> None:
    marked = _user().with_columns(pl.Series("events_lost", ["no", None, "YES", "no"]))
    out, caught = _quiet(effective_dose, marked, strict=False)
    assert out["dlp_mgycm"].to_list() == [300.0, None]
    assert out["effective_dose_msv"][0] is not None and out["effective_dose_msv"][1] is None
    assert out["events_lost"].to_list() == [False, True]
    assert len(caught) == 1 and LOST in str(caught[0].message)
    # an unreadable flag is no loss (a bad optional attribute costs no exam its dose), warned
    odd = _user().with_columns(pl.Series("events_lost", ["maybe", "no", None, None]))
    out, caught = _quiet(effective_dose, odd)
    assert out["dlp_mgycm"].to_list() == [300.0, 350.0]
    assert out["effective_dose_msv"].null_count() == 0
    (said,) = [str(w.message) for w in caught]
    assert "1 events_lost value(s) not true/false" in said and "taken as no events lost" in said


def test_sum_events_respects_the_column() -> None:
    doses = [pl.lit(1.0).alias("effective_dose_msv"), pl.lit("m").alias("dose_method")]
    marked = _user().with_columns(*doses, pl.Series("events_lost", [None, False, False, True]))
    out = sum_events(marked, "body_region")
    assert out.select("dlp_mgycm", "effective_dose_msv", "dose_method", "events_lost").rows() == [
        (300.0, 2.0, "m", False),
        (None, None, None, True),
    ]


def test_an_all_false_column_changes_no_sum() -> None:
    plain = effective_dose(_user())
    flagged = effective_dose(_user().with_columns(pl.lit(False).alias("events_lost")))
    assert flagged.drop("events_lost").equals(plain)
    assert flagged["events_lost"].to_list() == [False, False]


def test_a_study_that_lost_events_has_no_ctdivol() -> None:
    """Its main scan cannot be known (review helper-210): null, as the readers leave the
    exam's; the other study keeps its largest event CTDIvol."""
    events = pl.DataFrame(
        {
            "study_uid": ["s1", "s1", "s2"],
            "event_uid": ["e1", "e2", "e3"],
            "dlp_mgycm": [300.0, 400.0, 200.0],
            "ctdivol_mgy": [12.0, 8.0, 5.0],
            "body_region": ["chest", "chest", "head"],
            "events_lost": [True, True, False],
        }
    )
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = effective_dose(events, level="event", strict=False)
    assert out["ctdivol_mgy"].to_list() == [None, 5.0]
    assert out["dlp_mgycm"].to_list() == [None, 200.0]
