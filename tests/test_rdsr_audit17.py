"""read_rdsr on edited copies of the shipped reports: what the 17th audit of the reader found.

Each test edits a copy of a file in tests/data/rdsr with pydicom (tmp_path) and checks one rule:
the exam CTDIvol is null (never a localizer's or another event's) where the main scan cannot
be known; a vendor container that only refers to an event by its UID loses nothing; an exam of
localizers without a CT Dose container has DLP 0; ``non_patient_patterns`` is checked. Expected
values come from the files themselves (read with pydicom here) and tests/data/rdsr/README.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence as DicomSequence  # noqa: E402

from recurct.errors import ParameterError, PartialExamWarning  # noqa: E402
from recurct.io.rdsr import read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # 4 events, 724.52 mGy·cm
GE = RDSR / "CT-ESR-GE_Optima.dcm"  # 6 events, 415.82 mGy·cm
TOSHIBA = RDSR / "CT-RDSR-ToshibaPixelMed.dcm"  # 3 events, 349.70 mGy·cm
MULTI1 = RDSR / "CT-RDSR-Siemens-Multi-1.dcm"  # 1 event (a topogram), 7.46 mGy·cm
MULTI2 = RDSR / "CT-RDSR-Siemens-Multi-2.dcm"  # 2 events, 77.27 mGy·cm
FILES = [FLASH, GE, TOSHIBA, MULTI2, RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm"]

CT_ACQUISITION, CT_DOSE, DLP, CTDIVOL, EVENT_UID = "113819", "113829", "113838", "113830", "113769"


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _kids(item: Any) -> list[Any]:
    return list(item.get("ContentSequence", []))


def _child(item: Any, code: str) -> Any:
    return next(it for it in _kids(item) if _code(it) == code)


def _acquisitions(ds: Any) -> list[Any]:
    return [it for it in ds.ContentSequence if _code(it) == CT_ACQUISITION]


def _value(acq: Any, code: str) -> float | None:
    """A CT Dose value of an acquisition as written in the file (mGy or mGy·cm)."""
    dose = [it for it in _kids(acq) if _code(it) == CT_DOSE]
    found = [it for it in _kids(dose[0]) if _code(it) == code] if dose else []
    return float(found[0].MeasuredValueSequence[0].NumericValue) if found else None


def _main(ds: Any) -> Any:
    """The acquisition with the largest DLP (the main scan)."""
    return max(_acquisitions(ds), key=lambda a: _value(a, DLP) or -1.0)


def _edited(src: Path, edit: Callable[[Any], None], path: Path) -> Path:
    ds = pydicom.dcmread(src)
    edit(ds)
    ds.save_as(path)
    return path


def _drop(parent: Any, code: str) -> None:
    parent.ContentSequence = DicomSequence([it for it in _kids(parent) if _code(it) != code])


# --------------------------------------------------------------------------- 1. exam CTDIvol
def _main_dlp_unit_mgy(ds: Any) -> None:  # a DLP in a unit of another quantity: lost
    dlp = _child(_child(_main(ds), CT_DOSE), DLP)
    dlp.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "mGy"


def _main_dose_removed(ds: Any) -> None:
    _drop(_main(ds), CT_DOSE)


def _main_dlp_removed(ds: Any) -> None:
    _drop(_child(_main(ds), CT_DOSE), DLP)


def _main_event_removed(ds: Any) -> None:  # the count (113812) still says it was there
    main = _main(ds)
    ds.ContentSequence = DicomSequence([it for it in ds.ContentSequence if it is not main])


@pytest.mark.parametrize(
    ("src", "edit"),
    [
        (FLASH, _main_dlp_unit_mgy),  # was 0.14 mGy, the topogram's
        (FLASH, _main_dose_removed),  # was 0.14 mGy
        (GE, _main_dlp_removed),  # was 3.23 (another event's) instead of 5.3
        (TOSHIBA, _main_dlp_removed),  # was 24.7 instead of 25.4
        (MULTI2, _main_dlp_removed),  # was 0.15 (the topogram's) instead of 8.13
        (FLASH, _main_event_removed),
    ],
    ids=["flash-dlp-mGy", "flash-no-ct-dose", "ge", "toshiba", "multi2", "flash-event-lost"],
)
def test_exam_ctdivol_null_where_main_scan_unknown(
    tmp_path: Path, src: Path, edit: Callable[[Any], None]
) -> None:
    with pytest.warns(PartialExamWarning, match=r"1 exam\(s\) with DLP, CTDIvol and effective"):
        result = read_rdsr(_edited(src, edit, tmp_path / "x.dcm"))
    exam = result.exams.row(0, named=True)
    assert exam["dlp_mgycm"] is None
    assert exam["ctdivol_mgy"] is None
    problems = result.report.problems
    # the reason is in the problem row of the lost DLP or lost events
    assert sum("CTDIvol" in r for r in problems["reason"].to_list()) == 1
    assert set(problems["file"].to_list()) == {str(tmp_path / "x.dcm")}


@pytest.mark.parametrize("src", FILES, ids=lambda p: p.stem)
def test_exam_ctdivol_of_untouched_files(src: Path) -> None:
    main = _main(pydicom.dcmread(src))
    exams = read_rdsr(src).exams
    assert exams["ctdivol_mgy"].to_list() == [pytest.approx(_value(main, CTDIVOL))]


# --------------------------------------------------------------- 4. vendor container by UID
def _vendor_container(ds: Any, *children: Any) -> None:
    """Append a vendor-private root container holding ``children`` and a TEXT item."""
    text = Dataset()
    text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", "B30f"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator = "99X-0002", "99VENDOR"
    name.CodeMeaning = "Reconstruction kernel"
    text.ConceptNameCodeSequence = DicomSequence([name])
    box = Dataset()
    box.RelationshipType, box.ValueType, box.ContinuityOfContent = (
        "CONTAINS",
        "CONTAINER",
        "SEPARATE",
    )
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator = "99X-0001", "99VENDOR"
    name.CodeMeaning = "Vendor acquisition details"
    box.ConceptNameCodeSequence = DicomSequence([name])
    box.ContentSequence = DicomSequence([*children, text])
    ds.ContentSequence.append(box)


def test_vendor_container_referring_to_an_event_loses_nothing(tmp_path: Path) -> None:
    def edit(ds: Any) -> None:
        main = _main(ds)
        _vendor_container(ds, copy.deepcopy(_child(main, EVENT_UID)))
        _vendor_container(ds, copy.deepcopy(_child(main, "113822")))  # acquisition parameters

    result = read_rdsr(_edited(FLASH, edit, tmp_path / "x.dcm"))
    exam = result.exams.row(0, named=True)
    assert exam["n_events"] == 4
    assert exam["dlp_mgycm"] == pytest.approx(724.52)
    assert exam["dlp_total_mismatch"] is False
    assert result.report.problems.height == 0


@pytest.mark.parametrize("holds", ["new-uid", "ctdivol", "ct-dose"])
def test_damaged_acquisition_still_counts(tmp_path: Path, holds: str) -> None:
    def edit(ds: Any) -> None:
        main = _main(ds)
        if holds == "new-uid":
            uid = copy.deepcopy(_child(main, EVENT_UID))
            uid.UID = pydicom.uid.generate_uid()
            _vendor_container(ds, uid)
        elif holds == "ctdivol":
            _vendor_container(ds, copy.deepcopy(_child(_child(main, CT_DOSE), CTDIVOL)))
        else:
            _vendor_container(ds, copy.deepcopy(_child(main, CT_DOSE)))

    with pytest.warns(PartialExamWarning, match=r"1 exam\(s\) with DLP"):
        result = read_rdsr(_edited(FLASH, edit, tmp_path / "x.dcm"))
    assert result.exams["dlp_mgycm"].to_list() == [None]
    assert "CT Acquisition (113819)" in result.report.problems["field"].to_list()


# ------------------------------------------------------------------ 5. localizers only
def test_scouts_only_count_zero(tmp_path: Path) -> None:
    def edit(ds: Any) -> None:  # the GE report keeping only its two scouts
        scouts = _acquisitions(ds)[:2]
        ds.ContentSequence = DicomSequence(
            [it for it in ds.ContentSequence if _code(it) != CT_ACQUISITION] + scouts
        )
        accumulated = _child(ds, "113811")
        _child(accumulated, "113813").MeasuredValueSequence[0].NumericValue = "0.00"
        _child(accumulated, "113812").MeasuredValueSequence[0].NumericValue = "2"

    result = read_rdsr(_edited(GE, edit, tmp_path / "x.dcm"))
    assert result.events["localizer"].to_list() == [True, True]
    assert result.events["dlp_mgycm"].to_list() == [None, None]
    exam = result.exams.row(0, named=True)
    assert exam["dlp_mgycm"] == 0.0
    assert exam["reported_dlp_total_mgycm"] == 0.0
    assert exam["dlp_total_mismatch"] is False


def test_topogram_without_ct_dose_flags_the_reported_total(tmp_path: Path) -> None:
    result = read_rdsr(
        _edited(MULTI1, lambda ds: _drop(_acquisitions(ds)[0], CT_DOSE), tmp_path / "x.dcm")
    )
    exam = result.exams.row(0, named=True)
    assert exam["dlp_mgycm"] == 0.0  # a localizer without CT Dose counts 0
    assert exam["reported_dlp_total_mgycm"] == pytest.approx(7.46)
    assert exam["dlp_total_mismatch"] is True
    assert exam["ctdivol_mgy"] is None


# --------------------------------------------------------------- 7. non_patient_patterns
@pytest.mark.parametrize("patterns", [b"*qa*", [1], ["*qa*", None], 5, {"*qa*": 1}])
def test_non_patient_patterns_checked(patterns: Any) -> None:
    with pytest.raises(ParameterError, match="non_patient_patterns"):
        read_rdsr(FLASH, non_patient_patterns=patterns)


@pytest.mark.parametrize("patterns", ["*", ["*"], ("*",), {"*"}, iter(["*"])])
def test_non_patient_patterns_accepted(patterns: Any) -> None:
    result = read_rdsr(FLASH, non_patient_patterns=patterns, include_non_patient=True)
    assert result.exams["non_patient"].to_list() == [True]
    assert result.report.files_skipped == 0
