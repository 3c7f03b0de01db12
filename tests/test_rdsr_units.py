"""read_rdsr reads each dose value in its measurement unit, and the same text from every
transfer syntax.

Copies of the Siemens Flash report (tests/data/rdsr; events 11.51, 1.2, 3.61 and 708.2
mGy·cm, total 724.52; CTDIvol of the main event 9.91 mGy) are edited with pydicom: a value
rewritten in another unit of the same quantity must read as the original value; a unit of
another quantity, an unknown, empty or missing unit, a negative number lose the value (a
problem row naming the file, the field and the unit; no partial exam DLP). A multi-valued
Patient ID reads as DICOM writes it (values joined by a backslash) from Explicit and Implicit
VR files alike, so that one patient keeps one pseudonym.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import PartialExamWarning, UnmappedValuesWarning  # noqa: E402
from recurct.io.rdsr import RdsrReadError, pseudonymise_id, read_rdsr  # noqa: E402

PARTIAL = r"1 exam\(s\) with DLP, CTDIvol and effective dose left null"

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
FLASH_DLPS = [11.51, 1.2, 3.61, 708.2]  # tests/data/rdsr/README.md: total 724.52 mGy·cm
SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _acquisitions(ds: Any) -> list[Any]:
    return [it for it in ds.ContentSequence if _code(it) == "113819"]


def _dose_item(ds: Any, event: int, code: str) -> Any:
    """Content item ``code`` of the CT Dose container of acquisition ``event`` (0-based)."""
    dose = next(it for it in _acquisitions(ds)[event].ContentSequence if _code(it) == "113829")
    return next(it for it in dose.ContentSequence if _code(it) == code)


def _set(item: Any, value: str | None, unit: str | None) -> None:
    mv = item.MeasuredValueSequence[0]
    if value is not None:
        mv.NumericValue = value
    if unit is None:
        del mv.MeasurementUnitsCodeSequence
    else:
        mv.MeasurementUnitsCodeSequence[0].CodeValue = unit


def _save(ds: Any, path: Path, implicit: bool = False) -> Path:
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
    else:
        ds.save_as(path, enforce_file_format=True)
    return path


# 708.2 mGy·cm written in another unit of DLP (dose x length; UCUM prefixes d = 1e-1,
# c = 1e-2, m = 1e-3, u = 1e-6): 1 mGy·m = 1 mGy x 100 cm = 100 mGy·cm, so 7.082 mGy·m;
# 1 cGy·cm = 10 mGy·cm; 1 Gy·cm = 1000 mGy·cm; 1 dGy·cm = 100 mGy·cm; 1 uGy·m =
# 0.001 mGy x 100 cm = 0.1 mGy·cm; 1 mGy·mm = 0.1 mGy·cm; 1 Gy·m = 1000 x 100 mGy·cm.
DLP_IN_UNITS = [
    ("mGy.cm", "708.2"),
    ("mGycm", "708.2"),  # Siemens' spelling (no separator)
    ("MGY.CM", "708.2"),  # UCUM case-insensitive form (M = milli)
    ("mGy.m", "7.082"),
    ("cGy.cm", "70.82"),
    ("dGy.cm", "7.082"),
    ("Gy.cm", "0.7082"),
    ("uGy.m", "7082"),
    ("mGy.mm", "7082"),
    ("Gy.m", "0.007082"),
]


@pytest.mark.parametrize(("unit", "text"), DLP_IN_UNITS)
def test_a_dlp_in_another_unit_of_dlp_is_converted(tmp_path: Path, unit: str, text: str) -> None:
    ds = pydicom.dcmread(FLASH)
    _set(_dose_item(ds, 3, "113838"), text, unit)
    result = read_rdsr(_save(ds, tmp_path / "unit.dcm"))
    assert result.events["dlp_mgycm"].to_list() == pytest.approx(FLASH_DLPS)
    row = result.exams.row(0, named=True)
    assert row["dlp_mgycm"] == pytest.approx(724.52)
    assert row["dlp_total_mismatch"] is False
    assert result.report.problems.height == 0


def test_a_dlp_total_in_mgy_m_is_converted(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    acc = next(it for it in ds.ContentSequence if _code(it) == "113811")
    total = next(it for it in acc.ContentSequence if _code(it) == "113813")
    _set(total, "7.2452", "mGy.m")
    exams = read_rdsr(_save(ds, tmp_path / "total.dcm")).exams
    assert exams["reported_dlp_total_mgycm"][0] == pytest.approx(724.52)
    assert exams["dlp_total_mismatch"][0] is False


@pytest.mark.parametrize("unit", ["mGy.cm2", "mSv", "mGy", "cm", "", "{events}", "mGy/cm", None])
def test_a_dlp_in_another_or_no_unit_is_lost(tmp_path: Path, unit: str | None) -> None:
    ds = pydicom.dcmread(FLASH)
    _set(_dose_item(ds, 1, "113838"), None, unit)
    path = _save(ds, tmp_path / "unit.dcm")
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(path)
    assert result.events["dlp_mgycm"].to_list() == [11.51, None, 3.61, 708.2]
    row = result.exams.row(0, named=True)
    assert row["dlp_mgycm"] is None  # no partial sum (723.32 or 724.52)
    assert row["effective_dose_msv"] is None
    problems = result.report.problems
    assert problems.height == 1
    assert problems["file"][0] == str(path)
    assert problems["field"][0] == "DLP (113838), event 2"
    assert problems["action"][0] == "lenient"
    if unit:
        assert repr(unit) in problems["reason"][0]
    with pytest.raises(RdsrReadError, match=r"unit\.dcm.*DLP \(113838\)"):
        read_rdsr(path, strict=True)


@pytest.mark.parametrize(("unit", "text"), [("Gy", "0.00991"), ("cGy", "0.991"), ("uGy", "9910")])
def test_a_ctdivol_in_another_unit_of_dose_is_converted(
    tmp_path: Path, unit: str, text: str
) -> None:
    # 1 Gy = 1000 mGy, 1 cGy = 10 mGy, 1 uGy = 0.001 mGy
    ds = pydicom.dcmread(FLASH)
    _set(_dose_item(ds, 3, "113830"), text, unit)
    result = read_rdsr(_save(ds, tmp_path / "ctdi.dcm"))
    assert result.events["ctdivol_mgy"][3] == pytest.approx(9.91)
    assert result.exams["ctdivol_mgy"][0] == pytest.approx(9.91)
    assert result.report.problems.height == 0


@pytest.mark.parametrize("unit", ["mGy.cm", "mSv", "", None])
def test_a_ctdivol_in_another_or_no_unit_is_lost(tmp_path: Path, unit: str | None) -> None:
    ds = pydicom.dcmread(FLASH)
    _set(_dose_item(ds, 3, "113830"), None, unit)
    path = _save(ds, tmp_path / "ctdi.dcm")
    with pytest.warns(UnmappedValuesWarning, match=r"1 value\(s\) read leniently"):
        result = read_rdsr(path)
    assert result.events["ctdivol_mgy"].to_list() == [0.14, 1.2, 3.61, None]
    # the exam's CTDIvol is the main (largest-DLP) event's: lost, not another event's 3.61
    assert result.exams["ctdivol_mgy"][0] is None
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    problems = result.report.problems
    assert problems["field"].to_list() == ["Mean CTDIvol (113830), event 4"]
    assert problems["file"][0] == str(path)
    with pytest.raises(RdsrReadError, match="Mean CTDIvol"):
        read_rdsr(path, strict=True)


@pytest.mark.parametrize("text", ["-1.2", "-0.5e1", "NaN", "-inf"])
def test_a_negative_or_non_finite_event_dlp_is_lost(tmp_path: Path, text: str) -> None:
    ds = pydicom.dcmread(FLASH)
    _set(_dose_item(ds, 1, "113838"), "1111.11", "mGy.cm")
    path = _save(ds, tmp_path / "neg.dcm")
    # pydicom refuses to write some of these DS values: patch the bytes (same length)
    path.write_bytes(path.read_bytes().replace(b"1111.11 ", text.ljust(8).encode()))
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        result = read_rdsr(path)
    assert result.events["dlp_mgycm"].to_list() == [11.51, None, 3.61, 708.2]
    assert result.exams["dlp_mgycm"][0] is None  # not 722.12 (a sum with -1.2)
    problems = result.report.problems
    assert problems["field"].to_list() == ["DLP (113838), event 2"]
    assert problems["file"][0] == str(path)
    with pytest.raises(RdsrReadError, match="DLP"):
        read_rdsr(path, strict=True)


# --------------------------------------------------------------------------- multi-valued text
def _raw(ds: Any, tag: int, vr: str, value: bytes) -> None:
    from pydicom.dataelem import RawDataElement

    if len(value) % 2:
        value += b" "
    ds._dict[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(value), value, 0, False, True)


@pytest.mark.parametrize("raw", [b"MRN\\98765", b"MRN \\98765 ", b"MRN\\ 98765"])
def test_a_multi_valued_patient_id_reads_alike_from_both_transfer_syntaxes(
    tmp_path: Path, raw: bytes
) -> None:
    paths = []
    for implicit in (False, True):
        ds = pydicom.dcmread(FLASH)
        _raw(ds, 0x00100020, "LO", raw)  # Patient ID
        _raw(ds, 0x00081030, "LO", b"CT \\TAP")  # Study Description
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.99.{int(implicit)}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's own notes on the edited values
            paths.append(_save(ds, tmp_path / f"implicit_{implicit}.dcm", implicit))
    syntaxes = {pydicom.dcmread(p).file_meta.TransferSyntaxUID.name for p in paths}
    assert syntaxes == {"Explicit VR Little Endian", "Implicit VR Little Endian"}
    for path in paths:
        with pytest.warns(UnmappedValuesWarning, match="read leniently"):
            result = read_rdsr(path)
        exams = result.exams
        assert exams["patient_id"].to_list() == ["MRN\\98765"]  # DICOM's form
        assert exams["study_description"].to_list() == ["CT\\TAP"]
        # Patient ID has one value in DICOM: the file is read leniently, and says so
        problems = result.report.problems.filter(pl.col("field") == "PatientID")
        assert problems["reason"].to_list() == [
            "Patient ID has 2 values (DICOM allows one); read as one id, the values joined "
            "by a backslash"
        ]
    with pytest.warns(UnmappedValuesWarning, match="read leniently") as caught:
        read = read_rdsr(paths, pseudonymise="hmac-sha256", secret=SECRET)
    both = read.exams
    assert "98765" not in str(read.report.problems.rows())  # no identifier quoted
    assert "98765" not in str(caught[0].message) and "implicit" not in str(caught[0].message)
    assert both.height == 2
    assert both["patient_id"].to_list() == [pseudonymise_id("MRN\\98765", SECRET)] * 2
    assert both.select(pl.col("patient_id").n_unique()).item() == 1


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"workers": 0}, "workers"), ({"strict": "yes"}, "strict")]
)
def test_bad_arguments_raise_parameter_error(kwargs: dict[str, Any], match: str) -> None:
    from recurct.errors import ParameterError

    with pytest.raises(ParameterError, match=match):
        read_rdsr(FLASH, **kwargs)


def test_no_value_of_a_multi_valued_identifier_reaches_a_problem_text(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    _raw(ds, 0x0020000D, "UI", b"1.2.840.99.X7\\1.2.840.4711")  # Study Instance UID
    _raw(ds, 0x00100020, "LO", b"SMITH JOHN 1234567\\98765")  # Patient ID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = _save(ds, tmp_path / "multi_uid.dcm", implicit=True)
    with pytest.warns(UnmappedValuesWarning, match="read leniently") as caught:
        result = read_rdsr(path, pseudonymise="hmac-sha256", secret=SECRET)
    reasons = result.report.problems["reason"].to_list()
    reasons.append(str(caught[0].message))  # nor the warning
    assert reasons  # pydicom's notes on the invalid UID, and the reader's own
    for raw in ("1.2.840.99.X7", "1.2.840.4711", "SMITH JOHN 1234567", "98765"):
        assert not any(raw in r for r in reasons), (raw, reasons)
