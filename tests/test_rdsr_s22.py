"""read_rdsr: damaged numbers are never "repaired" into another value, and ``n_reports``
counts each report once.

Edited copies of the shipped reports (tests/data/rdsr, values in its README.md), made in
``tmp_path``. Flash: four events, the main one (event 4, TAP) with DLP 708.2 mGy·cm and
CTDIvol 9.91 mGy, 724.52 mGy·cm in all. pydicom refuses to write a DS value that is not a
number, so the DLP is saved as a placeholder of the same length and the bytes are replaced,
as a damaged byte in transfer or storage would have them.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import (  # noqa: E402
    PartialExamWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io import ReadResult  # noqa: E402
from recurct.io.rdsr import RdsrReadError, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
MULTI = [RDSR / f"CT-RDSR-Siemens-Multi-{n}.dcm" for n in (1, 2, 3)]
SECRET = "3b8e0f6a1c9d27e45f0a8c3b6d1e9f72"  # test-only key (128 bits)
PLACEHOLDER = "1111.11111"  # the length of every text written in its place
MAIN_DLP_FIELD = "DLP (113838), event 4"


def _items(ds: Any) -> list[Any]:
    """Every content item, depth first."""
    out, stack = [], list(ds.ContentSequence)
    while stack:
        it = stack.pop(0)
        out.append(it)
        stack[:0] = list(it.get("ContentSequence", []))
    return out


def _flash_with_main_dlp(text: str, tmp_path: Path, *, implicit: bool = False) -> Path:
    """A copy of the Flash report whose main event's DLP (708.2) is written as ``text``
    (padded with spaces to an even length, as DICOM pads a DS)."""
    ds = pydicom.dcmread(FLASH)
    dlps = [
        it
        for it in _items(ds)
        if it.ConceptNameCodeSequence[0].CodeValue == "113838"
        and str(it.MeasuredValueSequence[0].NumericValue).strip() == "708.2"
    ]
    assert len(dlps) == 1
    dlps[0].MeasuredValueSequence[0].NumericValue = PLACEHOLDER
    path = tmp_path / ("implicit.dcm" if implicit else "flash.dcm")
    if implicit:  # the pydicom path of the reader (the fast one reads explicit VR only)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(path)
    raw = path.read_bytes()
    assert raw.count(PLACEHOLDER.encode()) == 1
    value = text.encode("latin-1").ljust(len(PLACEHOLDER))
    path.write_bytes(raw.replace(PLACEHOLDER.encode(), value))
    return path


def _read(source: Any, **kwargs: Any) -> tuple[ReadResult[Any], list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecurctWarning)
        result = read_rdsr(source, **kwargs)
    return result, [w for w in caught if issubclass(w.category, RecurctWarning)]


def _dlp_rows(result: ReadResult[Any]) -> list[dict[str, Any]]:
    problems = result.report.problems
    return [r for r in problems.iter_rows(named=True) if r["field"] == MAIN_DLP_FIELD]


# --------------------------------------------------------------------------------------------
# 1. A damaged number is no number: never a part of its text, never a guessed decimal mark
# --------------------------------------------------------------------------------------------
DAMAGED = [
    "7O8.2",  # a letter O for a zero: was 7.0
    "70 .2",  # a space inside: was 70.0
    "7-8.2",  # a sign inside: was 7.0
    "70.8,2",  # two marks: was 70.8
    "708/2",  # was 708.0
    "7_8.2",  # Python's digit separator: was 78.2, with no problem row at all
    "708.2x",  # was 708.2
]


@pytest.mark.parametrize("implicit", [False, True], ids=["fast", "pydicom"])
@pytest.mark.parametrize("text", DAMAGED)
def test_a_damaged_dlp_is_null_and_so_is_the_exam(
    text: str, implicit: bool, tmp_path: Path
) -> None:
    result, caught = _read(_flash_with_main_dlp(text, tmp_path, implicit=implicit))
    exam = result.exams.row(0, named=True)
    assert result.events["dlp_mgycm"].to_list()[-1] is None
    # no partial sum, and no other event's CTDIvol (a localizer's 0.14 mGy) for the exam's
    assert exam["dlp_mgycm"] is None and exam["ctdivol_mgy"] is None
    assert exam["dlp_total_mismatch"] is None
    assert exam["reported_dlp_total_mgycm"] == pytest.approx(724.52)  # the report's own
    (row,) = _dlp_rows(result)
    assert row["action"] == "lenient"
    assert row["reason"].startswith(f"not a number: {text!r}; value left null")
    assert [w.category for w in caught] == [PartialExamWarning]
    assert "1 exam(s) with DLP, CTDIvol and effective dose left null" in str(caught[0].message)


def test_a_damaged_dlp_raises_under_strict_naming_file_and_field(tmp_path: Path) -> None:
    path = _flash_with_main_dlp("7O8.2", tmp_path)
    with pytest.raises(RdsrReadError, match=r"flash\.dcm: not a number: '7O8\.2'.*event 4"):
        read_rdsr(path, strict=True)


@pytest.mark.parametrize("text", ["1,234", "12,345", "-1,234", "1,234,567"])
def test_a_comma_that_may_group_thousands_is_ambiguous(text: str, tmp_path: Path) -> None:
    result, caught = _read(_flash_with_main_dlp(text, tmp_path))
    assert result.events["dlp_mgycm"].to_list()[-1] is None
    assert result.exams["dlp_mgycm"][0] is None
    (row,) = _dlp_rows(result)
    assert row["reason"].startswith(f"ambiguous number {text!r}")
    assert "decimal mark or group thousands" in row["reason"]
    assert [w.category for w in caught] == [PartialExamWarning]


@pytest.mark.parametrize(
    ("text", "value"),
    [("12,5", 12.5), ("708,2", 708.2), ("0,125", 0.125), ("1,2345", 1.2345), (",5", 0.5)],
)
def test_a_decimal_comma_as_the_only_mark_is_read(text: str, value: float, tmp_path: Path) -> None:
    result, caught = _read(_flash_with_main_dlp(text, tmp_path))
    assert result.events["dlp_mgycm"].to_list()[-1] == pytest.approx(value)
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52 - 708.2 + value)
    (row,) = _dlp_rows(result)
    assert row["reason"] == f"malformed number {text!r} read as {value}"
    assert row["action"] == "lenient"
    assert [w.category for w in caught] == [UnmappedValuesWarning]


@pytest.mark.parametrize("text", ["708.2", " 708.2", "+708.2", "7.082E2", "7.082e+02", "0708.20"])
def test_a_valid_ds_is_read_without_a_problem(text: str, tmp_path: Path) -> None:
    result, caught = _read(_flash_with_main_dlp(text, tmp_path))
    assert result.events["dlp_mgycm"].to_list()[-1] == pytest.approx(708.2)
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert result.report.problems.height == 0 and not caught


def test_a_non_finite_dlp_is_still_refused_as_such(tmp_path: Path) -> None:
    result, _ = _read(_flash_with_main_dlp("nan", tmp_path))
    (row,) = _dlp_rows(result)
    assert row["reason"].startswith("non-finite number 'nan'")
    assert result.exams["dlp_mgycm"][0] is None


# --------------------------------------------------------------------------------------------
# 2. n_reports: distinct reports (by SOP Instance UID), a copy counted once
# --------------------------------------------------------------------------------------------
def _exam(result: ReadResult[Any]) -> dict[str, Any]:
    assert result.exams.height == 1
    return result.exams.row(0, named=True)


def test_the_same_file_twice_is_one_report() -> None:
    exam = _exam(_read([FLASH, FLASH])[0])
    assert exam["n_reports"] == 1 and exam["n_events"] == 4
    assert exam["dlp_mgycm"] == pytest.approx(724.52)


@pytest.mark.parametrize("pseudonymise", [False, True], ids=["plain", "pseudonymised"])
def test_a_byte_identical_copy_is_one_report(pseudonymise: bool, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "b").mkdir(parents=True)
    shutil.copy(FLASH, folder / "a.dcm")
    shutil.copy(FLASH, folder / "b" / "copy.dcm")
    kwargs: dict[str, Any] = (
        {"pseudonymise": "hmac-sha256", "secret": SECRET} if pseudonymise else {}
    )
    result, _ = _read(folder, **kwargs)
    exam = _exam(result)
    assert exam["n_reports"] == 1 and exam["n_events"] == 4
    assert exam["dlp_mgycm"] == pytest.approx(724.52)
    assert result.report.files_read == 2  # files, not reports


def test_distinct_reports_of_a_study_are_each_counted(tmp_path: Path) -> None:
    assert _exam(_read(MULTI)[0])["n_reports"] == 3
    # Multi-1 given twice (another spelling of its path) and Multi-2: two reports
    again = f"{MULTI[0].parent}/./{MULTI[0].name}"
    exam = _exam(_read([MULTI[0], again, MULTI[1]])[0])
    assert exam["n_reports"] == 2 and exam["dlp_mgycm"] == pytest.approx(77.27)


def test_reports_without_a_sop_instance_uid_are_counted_by_file(tmp_path: Path) -> None:
    """Without a SOP Instance UID a copy cannot be told from another report: each file
    counts (its events still count once)."""
    for name in ("a.dcm", "b.dcm"):
        ds = pydicom.dcmread(FLASH)
        del ds.SOPInstanceUID
        ds.save_as(tmp_path / name)
    exam = _exam(_read(tmp_path)[0])
    assert exam["n_reports"] == 2 and exam["dlp_mgycm"] == pytest.approx(724.52)
