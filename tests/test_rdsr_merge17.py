"""read_rdsr never resolves conflicting reports silently (audit 17).

Edited copies of the shipped reports (tests/data/rdsr), built with pydicom in ``tmp_path``:

* copies of one Irradiation Event UID (across reports of a study, or inside one report) that
  differ in DLP or CTDIvol: a problem row naming the files, the exam's DLP, CTDIvol and
  effective dose null; no copy is picked;
* a report without Patient ID joins the one identified patient of its study.

Expected values come from tests/data/rdsr/README.md (Multi-1/2/3: 7.46, 77.27, 236.09 mGy·cm;
Multi-3's events 7.46, 69.81, 158.82; Flash: 724.52 mGy·cm, main scan 708.2 mGy·cm).
"""

from __future__ import annotations

import copy
import shutil
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pydicom = pytest.importorskip("pydicom")

from recurct.errors import (  # noqa: E402
    PartialExamWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io.rdsr import RdsrReadError, file_pseudonym, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
MULTI = [RDSR / f"CT-RDSR-Siemens-Multi-{n}.dcm" for n in (1, 2, 3)]
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
SECRET = "9c3e1f7a05b84d2e6a1c9f3b7d0e5a28"  # test-only key (128 bits)
PARTIAL = r"1 exam\(s\) with DLP, CTDIvol and effective dose left null"


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _acquisitions(ds: Any) -> list[Any]:
    return [it for it in ds.ContentSequence if _code(it) == "113819"]


def _child(item: Any, code: str) -> Any:
    return next(it for it in item.get("ContentSequence", []) if _code(it) == code)


def _set(acq: Any, code: str, value: str) -> None:
    """Set a CT Dose value (113838 DLP, 113830 Mean CTDIvol) of an acquisition."""
    _child(_child(acq, "113829"), code).MeasuredValueSequence[0].NumericValue = value


def _save(ds: Any, path: Path) -> Path:
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path)
    return path


def _multi_folder(root: Path, edited: int, code: str = "113838", value: str = "99.00") -> Path:
    """Multi-2 and Multi-3 in ``root``; in Multi-``edited`` event 2 (the 69.81 mGy·cm scan, in
    both reports) gets ``value`` for ``code``."""
    root.mkdir(parents=True, exist_ok=True)
    for n in (2, 3):
        if n == edited:
            ds = pydicom.dcmread(MULTI[n - 1])
            _set(_acquisitions(ds)[1], code, value)
            _save(ds, root / f"m{n}.dcm")
        else:
            shutil.copy(MULTI[n - 1], root / f"m{n}.dcm")
    return root


def _rows(problems: pl.DataFrame, text: str) -> pl.DataFrame:
    return problems.filter(pl.col("reason").str.contains(text, literal=True))


# ------------------------------------------------------------------ 1. conflicting copies
@pytest.mark.parametrize("edited", [2, 3])  # the report with fewer / more events edited
def test_dlp_conflict_across_reports_is_flagged_not_picked(tmp_path: Path, edited: int) -> None:
    root = _multi_folder(tmp_path, edited)
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        res = read_rdsr(root)
    assert res.exams.height == 1
    exam = res.exams.row(0, named=True)
    assert exam["dlp_mgycm"] is None  # neither 69.81 + ... = 236.09 nor 99 + ... = 265.28
    assert exam["ctdivol_mgy"] is None and exam["effective_dose_msv"] is None
    rows = _rows(res.report.problems, "differ in DLP (113838)")
    assert rows.height == 1
    reason = rows["reason"][0]
    assert str(root / "m2.dcm") in reason and str(root / "m3.dcm") in reason
    assert "69.81" in reason and "99.0" in reason
    assert rows["field"][0] == "DLP (113838), event 2"
    ev = res.events.filter(pl.col("dlp_mgycm").is_null())
    assert ev.height == 1  # the conflicting event: no value picked
    assert res.events["dlp_mgycm"].drop_nulls().sort().to_list() == [7.46, 158.82]


def test_ctdivol_conflict_across_reports_is_flagged(tmp_path: Path) -> None:
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        res = read_rdsr(_multi_folder(tmp_path, 2, code="113830", value="20.5"))
    exam = res.exams.row(0, named=True)
    assert exam["dlp_mgycm"] is None and exam["ctdivol_mgy"] is None
    assert exam["effective_dose_msv"] is None
    rows = _rows(res.report.problems, "differ in Mean CTDIvol (113830)")
    assert rows.height == 1 and "8.13" in rows["reason"][0] and "20.5" in rows["reason"][0]


@pytest.mark.parametrize("count_given", [True, False])
def test_conflicting_copy_inside_one_report_is_flagged(tmp_path: Path, count_given: bool) -> None:
    ds = pydicom.dcmread(FLASH)
    dup = copy.deepcopy(_acquisitions(ds)[-1])  # the main scan (708.2 mGy·cm), same UID
    _set(dup, "113838", "500")
    ds.ContentSequence.append(dup)
    if not count_given:  # without 113812 no "counts 4 ... holds 5" row is left to notice
        acc = _child(ds, "113811")
        acc.ContentSequence = [it for it in acc.ContentSequence if _code(it) != "113812"]
    with pytest.warns(PartialExamWarning, match=PARTIAL):
        res = read_rdsr(_save(ds, tmp_path / "dup.dcm"))
    exam = res.exams.row(0, named=True)
    assert exam["dlp_mgycm"] is None and exam["ctdivol_mgy"] is None
    rows = _rows(res.report.problems, "differ in DLP (113838)")
    assert rows.height == 1
    assert "708.2" in rows["reason"][0] and "500.0" in rows["reason"][0]


def test_identical_copies_merge_silently(tmp_path: Path) -> None:
    """Byte-identical files in two folders, and a value written with other digits: one exam
    of 236.09 mGy·cm, no problem row."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        for f in MULTI:
            shutil.copy(f, tmp_path / sub / f.name)
    ds = pydicom.dcmread(MULTI[1])
    _set(_acquisitions(ds)[1], "113838", "69.8100000")
    _save(ds, tmp_path / "reformatted.dcm")
    res = read_rdsr(tmp_path)
    assert res.exams.height == 1
    assert abs(res.exams["dlp_mgycm"][0] - 236.09) < 1e-9
    assert res.report.problems.height == 0


def test_conflict_names_pseudonymised_files(tmp_path: Path) -> None:
    root = _multi_folder(tmp_path / "in", 2)
    with pytest.warns(PartialExamWarning, match=PARTIAL) as caught:
        res = read_rdsr(root, pseudonymise="hmac-sha256", secret=SECRET)
    assert "m2" not in str(caught[0].message) and "file:" not in str(caught[0].message)
    rows = _rows(res.report.problems, "differ in DLP (113838)")
    assert rows.height == 1
    reason = rows["reason"][0]
    for name in ("m2.dcm", "m3.dcm"):
        assert file_pseudonym(name, SECRET) in reason
        assert name not in reason
    assert res.exams["dlp_mgycm"][0] is None


def test_conflict_raises_under_strict(tmp_path: Path) -> None:
    with pytest.raises(RdsrReadError, match="differ in DLP"):
        read_rdsr(_multi_folder(tmp_path, 2), strict=True)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.floats(min_value=0.01, max_value=9999.0), digits=st.integers(2, 8))
def test_copies_conflict_exactly_when_values_differ(
    tmp_path_factory: pytest.TempPathFactory, value: float, digits: int
) -> None:
    """A DLP written with ``digits`` decimals in Multi-2: flagged (exam null) unless it is
    Multi-3's 69.81 within the relative tolerance."""
    text = f"{value:.{digits}f}"[:16]
    root = _multi_folder(tmp_path_factory.mktemp("p"), 2, value=text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = read_rdsr(root)
    differs = abs(float(text) - 69.81) > 1e-6 * 69.81
    assert [w.category for w in caught] == ([PartialExamWarning] if differs else [])
    assert (res.exams["dlp_mgycm"][0] is None) == differs
    assert _rows(res.report.problems, "differ in DLP").height == int(differs)


# ------------------------------------------------------------------ 2. no Patient ID
def _no_pid_folder(root: Path, pid1: str | None = None, sex2: str | None = None) -> Path:
    """Multi-1, Multi-2 without Patient ID and Multi-3 in ``root``; optionally Multi-1 under
    another Patient ID and Multi-2 with another sex."""
    root.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(MULTI[1])
    ds.PatientID = ""
    if sex2 is not None:
        ds.PatientSex = sex2
    _save(ds, root / "m2.dcm")
    shutil.copy(MULTI[2], root / "m3.dcm")
    if pid1 is None:
        shutil.copy(MULTI[0], root / "m1.dcm")
    else:
        ds = pydicom.dcmread(MULTI[0])
        ds.PatientID = pid1
        _save(ds, root / "m1.dcm")
    return root


def test_report_without_patient_id_joins_its_study(tmp_path: Path) -> None:
    # two rows: Multi-2 has no Patient ID, and it joins the identified patient
    with pytest.warns(UnmappedValuesWarning, match=r"2 value\(s\) read leniently"):
        res = read_rdsr(_no_pid_folder(tmp_path))
    assert res.exams.height == 1  # not 236.09 + 77.27 = 313.36
    exam = res.exams.row(0, named=True)
    assert abs(exam["dlp_mgycm"] - 236.09) < 1e-9
    assert exam["patient_id"] == "4018119567876617" and exam["n_reports"] == 3
    assert not exam["identity_conflict"]
    rows = _rows(res.report.problems, "joined to the one identified patient")
    assert rows.height == 1 and rows["file"][0] == str(tmp_path / "m2.dcm")
    assert rows["action"][0] == "lenient"
    assert res.report.problems.filter(pl.col("action") == "kept apart").height == 0


def test_report_without_patient_id_stays_apart_between_two_patients(tmp_path: Path) -> None:
    with pytest.warns(RecurctWarning, match=r"3 report\(s\) kept apart"):
        res = read_rdsr(_no_pid_folder(tmp_path, pid1="OTHER"))
    assert res.exams.height == 3
    assert res.exams["identity_conflict"].all()
    kept = res.report.problems.filter(pl.col("action") == "kept apart")
    assert kept.height == 3
    assert "cannot be joined to one of the 2 identified patients" in kept["reason"][0]


def test_report_without_patient_id_and_other_sex_stays_apart(tmp_path: Path) -> None:
    with pytest.warns(RecurctWarning, match=r"report\(s\) kept apart"):
        res = read_rdsr(_no_pid_folder(tmp_path, sex2="F"))
    assert res.exams.height == 2
    assert res.exams["patient_id"].null_count() == 1  # the ID is not given to another patient
    kept = res.report.problems.filter(pl.col("action") == "kept apart")
    assert "not joined to the identified patient" in kept["reason"][0]
