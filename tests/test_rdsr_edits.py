"""read_rdsr on minimally edited copies of the shipped reports (tests/data/rdsr), one rule each.

Each copy changes only what the rule is about, with pydicom: every Target Region "Unknown" and
a Study Description; one study split into two continued reports with disjoint events; an
event's DLP removed; a second patient given the same Study Instance UID; an event lost; SSDE
and water-equivalent diameter added. Expected values come from tests/data/rdsr/README.md and
the edit itself, not from the reader.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import (  # noqa: E402
    PartialExamWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io.rdsr import read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # 4 events, 724.52 mGy·cm
GE = RDSR / "CT-ESR-GE_Optima.dcm"  # 6 events, 415.82 mGy·cm, Study Description Colonography
DOSECHECK = RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm"  # 2 events, 502.40 mGy·cm
# the four event DLPs of the Flash report (tests/data/rdsr/README.md: total 724.52)
FLASH_DLPS = [11.51, 1.2, 3.61, 708.2]


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _acquisitions(ds: Any) -> list[Any]:
    return [it for it in ds.ContentSequence if _code(it) == "113819"]


def _child(item: Any, code: str) -> Any:
    for it in item.get("ContentSequence", []):
        if _code(it) == code:
            return it
    raise KeyError(code)


def _set_num(item: Any, value: str) -> None:
    item.MeasuredValueSequence[0].NumericValue = value


def _save(ds: Any, path: Path) -> Path:
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path)
    return path


UNMAPPED = r"read_rdsr: 1 value\(s\) read leniently"  # one Target Region 'Unknown' row
PARTIAL = r"1 exam\(s\) with DLP, CTDIvol and effective dose left null"


# --------------------------------------------------------------------------- regions
def _unknown_regions(tmp_path: Path, **header: str) -> Path:
    ds = pydicom.dcmread(GE)
    for acq in _acquisitions(ds):
        _child(acq, "123014").ConceptCodeSequence[0].CodeMeaning = "Unknown"
        _child(acq, "123014").ConceptCodeSequence[0].CodeValue = "UNK"
    for keyword in ("StudyDescription", "RequestedProcedureDescription"):
        if keyword in ds:
            delattr(ds, keyword)
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    return _save(ds, tmp_path / "ge_unknown.dcm")


def test_region_from_study_description_when_every_target_region_is_unknown(
    tmp_path: Path,
) -> None:
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        exams = read_rdsr(_unknown_regions(tmp_path, StudyDescription="FACIAL BONES")).exams
    assert exams["body_region"].to_list() == ["head"]
    assert exams["study_description"].to_list() == ["FACIAL BONES"]
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        events = read_rdsr(tmp_path / "ge_unknown.dcm").events
    assert set(events["region_source"]) == {"study_description"}
    assert set(events["body_region"]) == {"head"}
    # no region at all without a description
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        exams = read_rdsr(_unknown_regions(tmp_path)).exams
    assert exams["body_region"].to_list() == [None]


def test_region_from_requested_procedure_then_user_rules(tmp_path: Path) -> None:
    f = _unknown_regions(tmp_path, RequestedProcedureDescription="CT NECK")
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        exams = read_rdsr(f).exams
    assert exams["body_region"].to_list() == ["neck"]
    assert exams["requested_procedure"].to_list() == ["CT NECK"]
    f = _unknown_regions(tmp_path, StudyDescription="Gesichtsschaedel nativ")
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        assert read_rdsr(f).exams["body_region"].to_list() == [None]
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        exams = read_rdsr(f, region_rules={"gesichtsschaedel": "head"}).exams
    assert exams["body_region"].to_list() == ["head"]


def test_region_of_the_event_wins_over_the_description(tmp_path: Path) -> None:
    ds = pydicom.dcmread(GE)
    ds.StudyDescription = "FACIAL BONES"
    exams = read_rdsr(_save(ds, tmp_path / "ge_desc.dcm")).exams
    assert exams["body_region"].to_list() == ["abdomen"]  # Target Region Abdomen


# --------------------------------------------------------------------------- continued studies
def _split(src: Path, tmp_path: Path, groups: list[list[int]]) -> list[Path]:
    """Copies of ``src``, one per group of (0-based) acquisitions, each with its own DLP total
    and event count: continued reports of one study with disjoint events."""
    base = pydicom.dcmread(src)
    acqs = _acquisitions(base)
    out = []
    for n, group in enumerate(groups, 1):
        ds = copy.deepcopy(base)
        keep = [acqs[i] for i in group]
        ds.ContentSequence = [
            copy.deepcopy(it) for it in base.ContentSequence if _code(it) != "113819"
        ] + [copy.deepcopy(it) for it in keep]
        acc = next(it for it in ds.ContentSequence if _code(it) == "113811")
        dlps = [
            float(_child(_child(a, "113829"), "113838").MeasuredValueSequence[0].NumericValue)
            for a in keep
        ]
        _set_num(_child(acc, "113813"), f"{sum(dlps):.2f}")
        _set_num(_child(acc, "113812"), str(len(keep)))
        out.append(_save(ds, tmp_path / f"continued-{n}.dcm"))
    return out


def test_continued_reports_merge_without_a_false_alarm(tmp_path: Path) -> None:
    files = _split(FLASH, tmp_path, [[0, 1], [2, 3]])
    result = read_rdsr(files)
    exams, report = result.exams, result.report
    row = exams.row(0, named=True)
    assert exams.height == 1 and row["n_events"] == 4 and row["n_reports"] == 2
    assert row["dlp_mgycm"] == pytest.approx(724.52)
    # like with like: the sum of the two reports' own totals (12.71 + 711.81)
    assert row["reported_dlp_total_mgycm"] == pytest.approx(724.52)
    assert row["dlp_total_mismatch"] is False
    assert report.problems.height == 0
    # a continued report sent twice still counts each event once
    again = tmp_path / "continued-2-again.dcm"
    again.write_bytes(files[1].read_bytes())
    result = read_rdsr([*files, again])
    exams, report = result.exams, result.report
    assert exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert exams["dlp_total_mismatch"][0] is False
    assert report.duplicate_events == 2


def test_mismatch_is_still_flagged_for_continued_reports(tmp_path: Path) -> None:
    files = _split(FLASH, tmp_path, [[0, 1], [2, 3]])
    ds = pydicom.dcmread(files[1])
    acc = next(it for it in ds.ContentSequence if _code(it) == "113811")
    _set_num(_child(acc, "113813"), "800.00")
    ds.save_as(files[1])
    exams = read_rdsr(files).exams
    assert exams["dlp_total_mismatch"][0] is True


# --------------------------------------------------------------------------- no partial sums
def test_event_without_dlp_gives_no_exam_dlp_at_either_level(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    tap = _acquisitions(ds)[3]
    dose = _child(tap, "113829")
    dose.ContentSequence = [it for it in dose.ContentSequence if _code(it) != "113838"]
    f = _save(ds, tmp_path / "flash_no_dlp.dcm")
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(f)
    exams, exam_report = result.exams, result.report
    assert exams["dlp_mgycm"][0] is None  # not 11.51 + 1.2 + 3.61 = 16.32
    assert exams["n_events"][0] == 4
    assert exams["effective_dose_msv"][0] is None
    assert exams["dlp_total_mismatch"][0] is None
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(f)
    events, event_report = result.events, result.report
    assert events["dlp_mgycm"].to_list() == [11.51, 1.2, 3.61, None]
    # the same problem row at both levels
    assert exam_report.problems.equals(event_report.problems)
    assert "DLP (113838)" in exam_report.problems["field"].to_list()
    from recurct.dose import DoseConversionError, effective_dose

    with pytest.raises(DoseConversionError, match="row 3, column 'dlp_mgycm': missing DLP"):
        effective_dose(events, level="event")


def test_lost_event_is_detected(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    tap = _acquisitions(ds)[3]
    ds.ContentSequence = [it for it in ds.ContentSequence if it is not tap]
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(_save(ds, tmp_path / "flash_lost.dcm"))
    exams, report = result.exams, result.report
    assert exams["n_events"][0] == 3 and exams["dlp_mgycm"][0] is None
    reasons = " ".join(report.problems["reason"])
    assert "counts 4 irradiation events" in reasons and "holds 3 irradiation events" in reasons


def test_damaged_acquisition_code_is_detected(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    _acquisitions(ds)[3].ConceptNameCodeSequence[0].CodeValue = "113818"  # one digit off
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(_save(ds, tmp_path / "flash_damaged.dcm"))
    exams, report = result.exams, result.report
    assert exams["dlp_mgycm"][0] is None
    assert report.problems.filter(pl.col("reason").str.contains("not coded CT Acquisition")).height


def test_events_without_uid_in_two_reports_of_one_study_give_no_exam_dlp(
    tmp_path: Path,
) -> None:
    """A study sent twice whose events have no Irradiation Event UID: the repeated events
    cannot be told from new ones, so no event sum (1004.80, twice 502.40) is given as the
    exam DLP; the same file twice (same SOP Instance UID) is still recognised."""
    ds = pydicom.dcmread(DOSECHECK)
    for acq in _acquisitions(ds):
        acq.ContentSequence = [it for it in acq.ContentSequence if _code(it) != "113769"]
    first = _save(ds, tmp_path / "first.dcm")
    again = _save(ds, tmp_path / "again.dcm")  # a new SOP Instance UID
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr([first, again])
    reasons = result.report.problems["reason"].to_list()
    assert sum("may count one twice" in r for r in reasons) == 1
    exams = result.exams
    row = exams.row(0, named=True)
    assert row["n_events"] == 4 and row["dlp_mgycm"] is None
    assert row["effective_dose_msv"] is None and row["reported_dlp_total_mgycm"] is None
    copy_ = tmp_path / "copy.dcm"
    copy_.write_bytes(first.read_bytes())
    with pytest.warns(UnmappedValuesWarning, match="read leniently"):  # no UIDs: 2 rows each
        result = read_rdsr([first, copy_])
    exams, report = result.exams, result.report
    assert exams["dlp_mgycm"].to_list() == [pytest.approx(502.40)]
    assert not any("may count one twice" in r for r in report.problems["reason"])


# --------------------------------------------------------------------------- patient identity
def _other_patient(tmp_path: Path, name: str, **header: str) -> Path:
    ds = pydicom.dcmread(DOSECHECK)
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    return _save(ds, tmp_path / name)


@pytest.mark.parametrize(
    "header",
    [
        {"PatientID": "999000111", "PatientBirthDate": "19500101"},  # another patient
        {"PatientID": "999000111"},  # a study re-sent under a corrected ID
        {"PatientBirthDate": "19500101"},  # same ID, another birth date
        {"PatientSex": "F"},  # same ID, another sex
    ],
    ids=["other-patient", "corrected-id", "birth-date", "sex"],
)
def test_same_study_uid_different_patients_kept_apart(
    tmp_path: Path, header: dict[str, str]
) -> None:
    other = _other_patient(tmp_path, "other.dcm", **header)
    # RecurctWarning itself where nothing else is listed; UnmappedValuesWarning (a subclass)
    # where something is: the two birth dates of one patient ID
    with pytest.warns(RecurctWarning, match=r"2 report\(s\) kept apart as separate exams") as w:
        result = read_rdsr([DOSECHECK, other])
    assert len(w) == 1 and str(DOSECHECK) not in str(w[0].message)
    exams, report = result.exams, result.report
    assert exams.height == 2  # nothing merged, nothing dropped
    assert exams["study_uid"].n_unique() == 1
    assert exams["dlp_mgycm"].to_list() == pytest.approx([502.40, 502.40])
    assert exams["n_events"].to_list() == [2, 2]
    assert exams["identity_conflict"].to_list() == [True, True]
    kept = report.problems.filter(pl.col("action") == "kept apart")
    assert sorted(kept["file"]) == sorted([str(DOSECHECK), str(other)])
    for reason in kept["reason"]:  # each row names both files
        assert str(DOSECHECK) in reason and str(other) in reason


def test_missing_birth_date_or_sex_does_not_split(tmp_path: Path) -> None:
    ds = pydicom.dcmread(DOSECHECK)
    del ds.PatientBirthDate
    del ds.PatientSex
    other = _save(ds, tmp_path / "no_birth.dcm")
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):  # its age
        result = read_rdsr([DOSECHECK, other])
    exams, report = result.exams, result.report
    assert exams.height == 1 and exams["identity_conflict"][0] is False
    assert report.duplicate_events == 2


# --------------------------------------------------------------------------- patient size
def _num_item(code: str, meaning: str, value: str, unit: str) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code, "DCM", meaning
    item.ConceptNameCodeSequence = [name]
    mv = Dataset()
    mv.NumericValue = value
    u = Dataset()
    u.CodeValue, u.CodingSchemeDesignator, u.CodeMeaning = unit, "UCUM", unit
    mv.MeasurementUnitsCodeSequence = [u]
    item.MeasuredValueSequence = [mv]
    return item


@pytest.mark.parametrize(
    ("keyword", "value", "column"),
    [("PatientSize", "186", "patient_size_m"), ("PatientWeight", "87000", "patient_weight_kg")],
)
def test_patient_size_in_another_unit_is_left_null(
    tmp_path: Path, keyword: str, value: str, column: str
) -> None:
    ds = pydicom.dcmread(FLASH)  # 87 kg, 1.86 m
    setattr(ds, keyword, value)  # centimetres / grams in the metres / kilograms field
    with pytest.warns(UnmappedValuesWarning, match=UNMAPPED):
        result = read_rdsr(_save(ds, tmp_path / "unit.dcm"))
    exams, report = result.exams, result.report
    assert exams[column].to_list() == [None]
    assert report.problems.filter(pl.col("field") == keyword)["reason"][0].startswith(
        f"Patient's {keyword[7:]} '{value}' is above"
    )


def test_ssde_and_patient_size(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(FLASH)
    dose = _child(_acquisitions(ds)[3], "113829")
    ssde = _num_item("113930", "Size Specific Dose Estimate", "12.3", "mGy")
    method = Dataset()
    method.RelationshipType, method.ValueType = "HAS CONCEPT MOD", "CODE"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator = "370129005", "SCT"
    name.CodeMeaning = "Measurement Method"
    method.ConceptNameCodeSequence = [name]
    value = Dataset()
    value.CodeValue, value.CodingSchemeDesignator = "113988", "DCM"
    value.CodeMeaning = "Estimated from Water Equivalent Diameter"
    method.ConceptCodeSequence = [value]
    ssde.ContentSequence = [method]
    dose.ContentSequence.append(ssde)
    dose.ContentSequence.append(_num_item("113980", "Water Equivalent Diameter", "281", "mm"))
    exams = read_rdsr(_save(ds, tmp_path / "flash_ssde.dcm")).exams
    row = exams.row(0, named=True)
    assert row["ssde_mgy"] == pytest.approx(12.3)
    assert row["ssde_method"] == "Estimated from Water Equivalent Diameter"
    assert row["water_equivalent_diameter_mm"] == pytest.approx(281.0)
    assert row["patient_weight_kg"] == pytest.approx(87.0)  # the Flash header: 87 kg, 1.86 m
    assert row["patient_size_m"] == pytest.approx(1.86)
    events = read_rdsr(tmp_path / "flash_ssde.dcm").events
    assert events["ssde_mgy"].to_list() == [None, None, None, pytest.approx(12.3)]
    # absent: null
    plain = read_rdsr(DOSECHECK).exams
    for col in ("ssde_mgy", "ssde_method", "water_equivalent_diameter_mm", "patient_weight_kg"):
        assert plain[col].to_list() == [None]
