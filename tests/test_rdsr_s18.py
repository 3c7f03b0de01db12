"""read_rdsr: a warning for every read that lists problems, Target Regions given by code only,
reports without an event count, and copies of one event that differ in Effective Dose or SSDE.

Edited copies of the shipped reports (tests/data/rdsr, values in its README.md), built with
pydicom in ``tmp_path``. Flash: events Topogram (Target Region T-D0010 SRT "Entire body"),
PreMonitoring and Monitoring (T-D4000 SRT "Abdomen", protocols that map to no region), TAP
(T-D4000), 724.52 mGy·cm, Study Description "Thorax^TAP (Adult)". Multi-2/3: one study;
Multi-3's events 7.46, 69.81 and 158.82 mGy·cm, Multi-2 repeats the first two.
"""

from __future__ import annotations

import copy
import shutil
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from test_rdsr_edits import _num_item as _edits_num_item  # noqa: E402
from test_rdsr_merge17 import _acquisitions, _child, _code  # noqa: E402

from recurct.errors import (  # noqa: E402
    DroppedRowsWarning,
    PartialExamWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io import ReadResult  # noqa: E402
from recurct.io.rdsr import RdsrReadError, file_pseudonym, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
MULTI = [RDSR / f"CT-RDSR-Siemens-Multi-{n}.dcm" for n in (1, 2, 3)]
DOSECHECK = RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm"
SECRET = "3b8e0f6a1c9d27e45f0a8c3b6d1e9f72"  # test-only key (128 bits)
COUNT = "113812"  # Total Number of Irradiation Events
NOT_CHECKED = "1 exam(s) whose lost events cannot be detected"
PYDICOM_3 = int(pydicom.__version__.split(".")[0]) >= 3


def _save(ds: Any, path: Path, implicit: bool = False) -> Path:
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if implicit:  # the pydicom path of the reader (the fast one reads explicit VR only)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        if PYDICOM_3:
            ds.save_as(path, implicit_vr=True, little_endian=True)
        else:  # pragma: no cover - pydicom 2
            ds.is_implicit_VR, ds.is_little_endian = True, True
            ds.save_as(path)
    else:
        ds.save_as(path)
    return path


def _read(source: Any, **kwargs: Any) -> tuple[ReadResult, list[warnings.WarningMessage]]:
    """read_rdsr and the recurct warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecurctWarning)
        result = read_rdsr(source, **kwargs)
    return result, [w for w in caught if issubclass(w.category, RecurctWarning)]


def _without_count(ds: Any) -> Any:
    acc = _child(ds, "113811")
    acc.ContentSequence = [it for it in acc.ContentSequence if _code(it) != COUNT]
    return ds


def _num_item(code: str, value: str, unit: str) -> Any:
    return _edits_num_item(code, code, value, unit)


# ---------------------------------------------------------------- 1. one warning, with counts
def test_a_read_without_problems_gives_no_warning() -> None:
    result, caught = _read(MULTI)
    assert result.report.problems.height == 0 and caught == []


def test_the_folder_warns_once_with_counts_by_kind() -> None:
    result, caught = _read(RDSR)
    assert len(caught) == 1
    w = caught[0]
    assert w.category is DroppedRowsWarning  # a file was skipped: the gravest kind
    text = str(w.message)
    assert text.startswith("read_rdsr: 1 file(s) skipped")
    assert "4 value(s) read leniently" in text  # four PatientBirthDate rows
    assert "result.report.problems" in text
    assert result.report.files_skipped == 1
    assert (result.report.problems["action"] == "lenient").sum() == 4
    assert Path(w.filename).resolve() == Path(__file__).resolve()  # the caller's line


def test_an_exam_left_null_is_a_partial_exam_warning(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    dose = _child(_acquisitions(ds)[3], "113829")
    dose.ContentSequence = [it for it in dose.ContentSequence if _code(it) != "113838"]
    result, caught = _read(_save(ds, tmp_path / "no_dlp.dcm"))
    assert result.exams["dlp_mgycm"].to_list() == [None]
    assert [w.category for w in caught] == [PartialExamWarning]
    assert "1 exam(s) with DLP, CTDIvol and effective dose left null" in str(caught[0].message)


def test_values_read_leniently_are_an_unmapped_values_warning(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    del ds.PatientAge
    del ds.PatientBirthDate
    result, caught = _read(_save(ds, tmp_path / "no_age.dcm"))
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert [w.category for w in caught] == [UnmappedValuesWarning]
    assert str(caught[0].message).startswith("read_rdsr: 1 value(s) read leniently")


def test_reports_kept_apart_alone_are_a_recurct_warning(tmp_path: Path) -> None:
    ds = pydicom.dcmread(DOSECHECK)
    ds.PatientSex = "F"
    result, caught = _read([DOSECHECK, _save(ds, tmp_path / "other.dcm")])
    assert result.exams.height == 2
    assert [w.category for w in caught] == [RecurctWarning]
    assert "2 report(s) kept apart as separate exams" in str(caught[0].message)


def test_a_pseudonymised_read_warns_without_names_or_identifiers(tmp_path: Path) -> None:
    folder = tmp_path / "SMITH_JOHN_123456" / "ACC0001"
    folder.mkdir(parents=True)
    ds = pydicom.dcmread(FLASH)
    ds.PatientID, ds.AccessionNumber = "123456", "ACC0001"
    del ds.PatientAge
    del ds.PatientBirthDate
    _save(ds, folder / "IM0001_123456.dcm")
    (folder / "notes_123456.txt").write_text("not DICOM")
    result, caught = _read(tmp_path, pseudonymise="hmac-sha256", secret=SECRET)
    assert len(caught) == 1 and caught[0].category is DroppedRowsWarning
    text = str(caught[0].message)
    assert "1 file(s) skipped" in text and "1 value(s) read leniently" in text
    for raw in ("SMITH", "123456", "ACC0001", "IM0001", "notes", "file:"):
        assert raw not in text
    assert "SMITH" not in str(result.report.problems.rows())


# ---------------------------------------------------------------- 2. Target Region by code
def _target_codes_only(src: Path, events: list[int], code: tuple[str, str] | None = None) -> Any:
    """``src`` with the Target Region of the (0-based) ``events`` stripped of its Code
    Meaning (and given ``code``, where given)."""
    ds = pydicom.dcmread(src)
    for i in events:
        concept = _child(_acquisitions(ds)[i], "123014").ConceptCodeSequence[0]
        del concept.CodeMeaning
        if code is not None:
            concept.CodeValue, concept.CodingSchemeDesignator = code
    return ds


@pytest.mark.parametrize("implicit", [False, True], ids=["fast", "pydicom"])
def test_a_target_region_without_meaning_is_read_from_its_srt_code(
    tmp_path: Path, implicit: bool
) -> None:
    """PreMonitoring and Monitoring (T-D4000 SRT, protocols that map to nothing) stripped of
    "Abdomen": read from the code as before from the meaning, not from the Study
    Description (which would give chest_abdomen_pelvis)."""
    intact = read_rdsr(FLASH).events
    ds = _target_codes_only(FLASH, [1, 2])
    result, caught = _read(_save(ds, tmp_path / "codes.dcm", implicit))
    events = result.events
    # the meaning DICOM gives T-D4000 ("Abdominal structure"; "Abdomen" in pydicom 2)
    assert all("Abdom" in t for t in events["target_region"].to_list()[1:3])
    assert events["body_region"].to_list() == intact["body_region"].to_list()
    assert events["region_source"].to_list() == ["event"] * 4
    assert result.exams["body_region"].to_list() == read_rdsr(FLASH).exams["body_region"].to_list()
    rows = result.report.problems
    assert rows["field"].to_list() == ["Target Region (123014)"] * 2
    assert all("read from its code 'T-D4000' (scheme 'SRT')" in r for r in rows["reason"])
    assert set(rows["action"]) == {"lenient"}
    assert [w.category for w in caught] == [UnmappedValuesWarning]


@pytest.mark.parametrize(
    ("code", "region"),
    [
        pytest.param(
            ("816094009", "SCT"),  # CID 4030's Chest since 2019: in pydicom 3's tables
            "chest",
            marks=pytest.mark.skipif(not PYDICOM_3, reason="pydicom 2 predates the code"),
        ),
        (("51185008", "SCT"), "chest"),  # the SNOMED CT code it replaced
        (("T-D3000", "SRT"), "chest"),  # their SNOMED RT form, as Siemens writes it
        (("R-FAB56", "SRT"), "chest_abdomen_pelvis"),  # as Toshiba writes it
        (("69536005", "SCT"), "head"),
    ],
)
def test_codes_of_cid_4030_and_their_older_forms(
    tmp_path: Path, code: tuple[str, str], region: str
) -> None:
    ds = _target_codes_only(FLASH, [1, 2], code)
    result, _ = _read(_save(ds, tmp_path / "code.dcm"))
    events = result.events
    assert all(events["target_region"].to_list()[1:3])
    assert events["body_region"].to_list()[1:3] == [region] * 2
    assert events["region_source"].to_list()[1:3] == ["event"] * 2


@pytest.mark.parametrize("code", [("99999999", "SCT"), ("T-D4000", "99LOCAL"), ("", "SRT")])
def test_a_target_region_code_unknown_stays_unmapped(tmp_path: Path, code: tuple[str, str]) -> None:
    ds = _target_codes_only(FLASH, [1, 2], code)
    result, caught = _read(_save(ds, tmp_path / "unknown.dcm"))
    events = result.events
    assert events["target_region"].to_list()[1:3] == [None, None]
    # as before: the region of the study's description
    assert events["region_source"].to_list()[1:3] == ["study_description"] * 2
    rows = result.report.problems.filter(pl.col("field") == "Target Region (123014)")
    assert rows.height == 2
    assert [w.category for w in caught] == [UnmappedValuesWarning]


# ---------------------------------------------------------------- 3. no event count
def test_a_report_without_an_event_count_keeps_its_dose_and_says_so(tmp_path: Path) -> None:
    path = _save(_without_count(pydicom.dcmread(FLASH)), tmp_path / "no_count.dcm")
    result, caught = _read(path)
    exam = result.exams.row(0, named=True)
    assert exam["dlp_mgycm"] == pytest.approx(724.52)  # kept: the events present
    assert exam["ctdivol_mgy"] == pytest.approx(read_rdsr(FLASH).exams["ctdivol_mgy"][0])
    rows = result.report.problems
    assert rows.select("file", "field", "action").rows() == [
        (str(path), "Total Number of Irradiation Events (113812)", "not checked")
    ]
    assert "lost from it cannot be detected" in rows["reason"][0]
    assert "4 events present" in rows["reason"][0]
    # the row alone warns, under its own count (no value was lost, no file skipped)
    assert [w.category for w in caught] == [RecurctWarning]
    assert NOT_CHECKED in str(caught[0].message)
    # strict=True: no error (nothing is wrong with the values read), the same warning
    strict, caught = _read(path, strict=True)
    assert strict.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert [w.category for w in caught] == [RecurctWarning]


@pytest.mark.parametrize("value", ["2.5", "-1"])
def test_an_unusable_event_count_is_not_checked_either(tmp_path: Path, value: str) -> None:
    ds = pydicom.dcmread(FLASH)
    _child(_child(ds, "113811"), COUNT).MeasuredValueSequence[0].NumericValue = value
    result, _ = _read(_save(ds, tmp_path / "count.dcm"))
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert (result.report.problems["action"] == "not checked").sum() == 1


def test_the_report_the_events_come_from_decides(tmp_path: Path) -> None:
    """Multi-3 (all three events) without a count: Multi-1 and Multi-2 have one, but events
    lost from Multi-3 could not be seen; the other way round, nothing is unchecked."""
    shutil.copy(MULTI[0], tmp_path / "m1.dcm")
    shutil.copy(MULTI[1], tmp_path / "m2.dcm")
    m3 = _save(_without_count(pydicom.dcmread(MULTI[2])), tmp_path / "m3.dcm")
    result, caught = _read(tmp_path)
    assert result.exams["dlp_mgycm"][0] == pytest.approx(236.09)
    rows = result.report.problems.filter(pl.col("action") == "not checked")
    assert rows["file"].to_list() == [str(m3)]
    assert NOT_CHECKED in str(caught[0].message)
    shutil.copy(MULTI[2], m3)
    _save(_without_count(pydicom.dcmread(MULTI[1])), tmp_path / "m2.dcm")
    result, caught = _read(tmp_path)
    assert result.report.problems.height == 0 and caught == []


def test_continued_reports_name_each_one_without_a_count(tmp_path: Path) -> None:
    base = pydicom.dcmread(FLASH)
    acqs = _acquisitions(base)
    files = []
    for n, group in enumerate([[0, 1], [2, 3]], 1):
        ds = copy.deepcopy(base)
        ds.ContentSequence = [
            copy.deepcopy(it) for it in base.ContentSequence if _code(it) != "113819"
        ] + [copy.deepcopy(acqs[i]) for i in group]
        acc = _child(ds, "113811")
        _child(acc, "113813").MeasuredValueSequence[0].NumericValue = (
            "12.71" if n == 1 else "711.81"
        )
        _child(acc, COUNT).MeasuredValueSequence[0].NumericValue = "2"
        if n == 2:
            _without_count(ds)
        files.append(_save(ds, tmp_path / f"continued-{n}.dcm"))
    result, _ = _read(files, pseudonymise="hmac-sha256", secret=SECRET)
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    rows = result.report.problems
    assert rows["action"].to_list() == ["not checked"]
    assert rows["file"][0] == file_pseudonym("continued-2.dcm", SECRET)
    assert "1 of the 2 reports" in rows["reason"][0]
    assert "continued-2" not in rows["reason"][0]


def test_no_count_row_where_the_dose_is_null_anyway(tmp_path: Path) -> None:
    ds = _without_count(pydicom.dcmread(FLASH))
    dose = _child(_acquisitions(ds)[3], "113829")
    dose.ContentSequence = [it for it in dose.ContentSequence if _code(it) != "113838"]
    result, caught = _read(_save(ds, tmp_path / "x.dcm"))
    assert result.exams["dlp_mgycm"][0] is None
    assert "not checked" not in result.report.problems["action"].to_list()
    assert [w.category for w in caught] == [PartialExamWarning]


# ---------------------------------------------------------------- 4. Effective Dose and SSDE
def _multi_with(root: Path, code: str, unit: str, values: dict[int, str], event: int = 1) -> Path:
    """Multi-2 and Multi-3 in ``root``; the CT Dose of (0-based) ``event`` (1: the 69.81
    mGy·cm scan, in both) of Multi-``n`` given the value ``values[n]`` for ``code``."""
    root.mkdir(parents=True, exist_ok=True)
    for n in (2, 3):
        ds = pydicom.dcmread(MULTI[n - 1])
        if n in values:
            dose = _child(_acquisitions(ds)[event], "113829")
            dose.ContentSequence.append(_num_item(code, values[n], unit))
        _save(ds, root / f"m{n}.dcm")
    return root


def test_an_effective_dose_conflict_is_flagged_not_picked(tmp_path: Path) -> None:
    root = _multi_with(tmp_path, "113839", "mSv", {2: "1.1", 3: "2.2"})
    result, caught = _read(root)
    exam = result.exams.row(0, named=True)
    assert exam["effective_dose_msv"] is None and exam["dose_method"] is None
    assert exam["dlp_mgycm"] == pytest.approx(236.09)  # the DLP is not in doubt
    assert exam["ctdivol_mgy"] is not None
    ev = result.events.filter(pl.col("dlp_mgycm") == 69.81).row(0, named=True)
    assert ev["effective_dose_msv"] is None and ev["dose_method"] is None
    rows = result.report.problems
    assert rows["field"].to_list() == ["Effective Dose (113839), event 2"]
    reason = rows["reason"][0]
    assert "differ in Effective Dose (113839)" in reason
    assert "1.1 mSv" in reason and "2.2 mSv" in reason
    assert str(root / "m2.dcm") in reason and str(root / "m3.dcm") in reason
    assert [w.category for w in caught] == [UnmappedValuesWarning]
    with pytest.raises(RdsrReadError, match="differ in Effective Dose"):
        read_rdsr(root, strict=True)


def test_equal_or_one_sided_effective_doses_merge(tmp_path: Path) -> None:
    for values in ({2: "1.1", 3: "1.1000000"}, {3: "1.1"}):
        root = _multi_with(tmp_path / str(len(values)), "113839", "mSv", values)
        result, caught = _read(root)
        assert result.report.problems.height == 0 and caught == []
        ev = result.events.filter(pl.col("dlp_mgycm") == 69.81)
        assert ev["effective_dose_msv"].to_list() == [pytest.approx(1.1)]


def test_an_ssde_conflict_is_flagged_not_picked(tmp_path: Path) -> None:
    root = _multi_with(tmp_path, "113930", "mGy", {2: "9.5", 3: "12.5"})
    result, caught = _read(root)
    exam = result.exams.row(0, named=True)
    # the only event with an SSDE: none is picked, and no other event's stands in
    assert exam["ssde_mgy"] is None and exam["ssde_method"] is None
    assert exam["dlp_mgycm"] == pytest.approx(236.09) and exam["ctdivol_mgy"] is not None
    assert result.events["ssde_mgy"].to_list() == [None, None, None]
    rows = result.report.problems
    assert rows["field"].to_list() == ["SSDE (113930), event 2"]
    assert "9.5 mGy" in rows["reason"][0] and "12.5 mGy" in rows["reason"][0]
    assert [w.category for w in caught] == [UnmappedValuesWarning]


def test_an_ssde_conflict_of_another_event_leaves_the_main_scans(tmp_path: Path) -> None:
    root = _multi_with(tmp_path, "113930", "mGy", {2: "9.5", 3: "12.5"})
    ds = pydicom.dcmread(root / "m3.dcm")  # the main scan (158.82 mGy·cm): 14.0 mGy
    _child(_acquisitions(ds)[2], "113829").ContentSequence.append(
        _num_item("113930", "14.0", "mGy")
    )
    ds.save_as(root / "m3.dcm")
    result, _ = _read(root)
    assert result.exams["ssde_mgy"][0] == pytest.approx(14.0)
    assert result.report.problems["field"].to_list() == ["SSDE (113930), event 2"]
