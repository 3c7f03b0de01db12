"""recurct.io.rdsr on real vendor CT dose reports (tests/data/rdsr, values in its README.md).

Expected values come from tests/data/rdsr/README.md (OpenREM's own test assertions), not from
this reader; bad input is made by writing broken copies of the real files with pydicom.
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import (  # noqa: E402
    DroppedRowsWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io import ReadResult  # noqa: E402
from recurct.io.rdsr import RdsrReadError, ReadReport, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
TOSHIBA = RDSR / "CT-RDSR-ToshibaPixelMed.dcm"
DOSECHECK = RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm"
GE = RDSR / "CT-ESR-GE_Optima.dcm"
MULTI = [RDSR / f"CT-RDSR-Siemens-Multi-{i}.dcm" for i in (1, 2, 3)]

# From tests/data/rdsr/README.md: file -> (study date, age text, sex, events, DLP total).
README = {
    FLASH: (date(1997, 1, 1), "067Y", "M", 4, 724.52),
    TOSHIBA: (date(2016, 12, 6), "042Y", "M", 3, 349.70),
    DOSECHECK: (date(2017, 11, 15), None, "M", 2, 502.40),
    GE: (date(2006, 8, 23), None, None, 6, 415.82),
    MULTI[0]: (date(2018, 1, 5), "060Y", "M", 1, 7.46),
    MULTI[1]: (date(2018, 1, 5), "060Y", "M", 2, 77.27),
    MULTI[2]: (date(2018, 1, 5), "060Y", "M", 3, 236.09),
}


# Reading the whole folder skips its README.md and lists the two birth dates that the reports
# of one patient ID give (Multi-1..3, DoseCheck): one warning, counting both.
FOLDER_WARNING = (
    r"^read_rdsr: 1 file\(s\) skipped .*; 4 value\(s\) read leniently .*report\.problems"
)
LENIENT = r"read_rdsr: \d+ value\(s\) read leniently"


def _read_folder(**kwargs: Any) -> ReadResult:
    with pytest.warns(DroppedRowsWarning, match=FOLDER_WARNING):
        return read_rdsr(RDSR, **kwargs)


def _read_checked(source: Any, **kwargs: Any) -> ReadResult:
    """read_rdsr, asserting one recurct warning exactly where the report has problems."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_rdsr(source, **kwargs)
    ours = [w for w in caught if issubclass(w.category, RecurctWarning)]
    assert len(ours) == (1 if result.report.problems.height else 0), [str(w) for w in ours]
    return result


def _birth_age(path: Path) -> float:
    """Age from birth date and study date, computed here independently (days / 365.25)."""
    ds = pydicom.dcmread(path)
    born = datetime.strptime(ds.PatientBirthDate, "%Y%m%d").date()
    seen = datetime.strptime(ds.StudyDate, "%Y%m%d").date()
    return (seen - born).days / 365.25


# ---------------------------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(README), ids=lambda p: p.name)
def test_each_real_file_gives_its_readme_values(path: Path) -> None:
    result = read_rdsr(path)
    exams, report = result.exams, result.report
    study_date, age, sex, n_events, total = README[path]
    assert exams.height == 1
    row = exams.row(0, named=True)
    assert row["exam_date"].date() == study_date
    assert row["sex"] == sex
    if pydicom.dcmread(path).get("PatientBirthDate"):
        # birth date and study date win over Patient's Age (whole years)
        assert row["age_years"] == pytest.approx(_birth_age(path), abs=0.01)
    elif age is not None:
        assert row["age_years"] == pytest.approx(float(age[:3]))
    else:
        assert row["age_years"] is None
    assert row["n_events"] == n_events
    assert row["dlp_mgycm"] == pytest.approx(total, abs=1e-6)
    assert row["reported_dlp_total_mgycm"] == pytest.approx(total, abs=1e-6)
    assert row["dlp_total_mismatch"] is False
    assert report.files_read == 1 and report.files_skipped == 0
    assert report.problems.height == 0
    events = read_rdsr(path).events
    assert events.height == n_events
    assert events["dlp_mgycm"].sum() == pytest.approx(total, abs=1e-6)
    assert events["source_file"].unique().to_list() == [str(path)]


def test_exam_table_schema_and_no_identifying_columns() -> None:
    exams = _read_folder().exams
    assert exams["exam_date"].dtype == pl.Datetime("us")
    for col in ("dlp_mgycm", "ctdivol_mgy", "age_years", "effective_dose_msv"):
        assert exams[col].dtype == pl.Float64
    for col in exams.columns:
        assert "name" not in col.lower() or col == "station_name"
        assert "birth" not in col.lower()
    regions = set(exams["body_region"].drop_nulls().to_list())
    from recurct.schema import BODY_REGIONS

    assert regions <= set(BODY_REGIONS)
    # no effective dose in these reports (code 113839 absent): left for recurct.dose
    assert exams["effective_dose_msv"].null_count() == exams.height


def test_toshiba_third_event_ctdivol() -> None:
    events = read_rdsr(TOSHIBA).events
    assert events["ctdivol_mgy"][2] == pytest.approx(24.7)


def test_exam_ctdivol_is_that_of_the_largest_dlp_event() -> None:
    events = read_rdsr(FLASH).events
    exams = read_rdsr(FLASH).exams
    main = events.sort("dlp_mgycm", descending=True).row(0, named=True)
    assert exams["ctdivol_mgy"][0] == pytest.approx(main["ctdivol_mgy"])
    assert main["protocol"] == "TAP"


def test_dose_check_alert_values() -> None:
    events = read_rdsr(DOSECHECK).events
    assert events.height == 2
    assert events["dlp_alert_value_mgycm"].to_list() == pytest.approx([100.0, 100.0])
    assert events["ctdivol_alert_value_mgy"].to_list() == pytest.approx([10.0, 10.0])
    assert events["dlp_forward_estimate_alert_mgycm"].to_list() == pytest.approx([251.2, 502.4])


def test_ge_enhanced_sr() -> None:
    ds = pydicom.dcmread(GE)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22"
    events = read_rdsr(GE).events
    assert events.height == 6
    assert events["dlp_mgycm"].sum() == pytest.approx(415.82)
    # localizers (constant angle) carry no CT Dose container in this GE report
    assert events["dlp_mgycm"].null_count() == 4
    assert events["target_region"].unique().to_list() == ["Abdomen"]


def test_event_columns() -> None:
    events = read_rdsr(FLASH).events
    first = events.row(0, named=True)
    assert first["acquisition_type"] == "Constant Angle Acquisition"
    assert first["target_region"] == "Entire body"
    assert first["phantom_type"] == "IEC Body Dosimetry Phantom"
    assert first["ctdivol_mgy"] == pytest.approx(0.14)
    assert first["dlp_mgycm"] == pytest.approx(11.51)
    assert events["protocol"].to_list()[1:] == ["PreMonitoring", "Monitoring", "TAP"]
    assert events["scanning_length_mm"].dtype == pl.Float64
    assert events["event_uid"].n_unique() == 4
    assert events["study_uid"].n_unique() == 1


# ---------------------------------------------------------------------------------------------
# Merge rule: each irradiation event counts once within a study
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_multi_reports_merge_to_one_exam(order: tuple[int, int, int]) -> None:
    result = read_rdsr([MULTI[i] for i in order])
    exams, report = result.exams, result.report
    assert exams.height == 1
    row = exams.row(0, named=True)
    assert row["dlp_mgycm"] == pytest.approx(236.09)
    assert row["n_events"] == 3
    assert row["n_reports"] == 3
    assert row["reported_dlp_total_mgycm"] == pytest.approx(236.09)
    assert row["dlp_total_mismatch"] is False
    assert report.duplicate_events == 1 + 2  # Multi-2 repeats 1 event, Multi-3 repeats 2
    events = read_rdsr([MULTI[i] for i in order]).events
    assert events.height == 3
    assert events["event_uid"].n_unique() == 3


def test_multi_partial_subsets() -> None:
    exams = read_rdsr(MULTI[:2]).exams
    assert exams["dlp_mgycm"][0] == pytest.approx(77.27)
    assert exams["n_events"][0] == 2


def test_folder_gives_one_exam_per_study() -> None:
    result = _read_folder()
    exams, report = result.exams, result.report
    assert exams.height == 5  # 7 files, the 3 Multi files are one study
    assert report.files_read == 7
    assert report.files_skipped == 1  # README.md
    multi = exams.filter(pl.col("n_reports") == 3)
    assert multi["dlp_mgycm"][0] == pytest.approx(236.09)
    assert exams["dlp_mgycm"].sum() == pytest.approx(724.52 + 349.70 + 502.40 + 415.82 + 236.09)


def _copy(src: Path, dst: Path, **changes: str) -> Path:
    ds = pydicom.dcmread(src)
    for key, value in changes.items():
        setattr(ds, key, value)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst)
    return dst


def test_reported_total_that_disagrees_is_flagged(tmp_path: Path) -> None:
    # A report whose CT Dose Length Product Total disagrees with its events is flagged.
    ds = pydicom.dcmread(MULTI[2])
    acc = _content_item(ds, "113811")
    total = _content_item(acc, "113813")
    total.MeasuredValueSequence[0].NumericValue = "300.00"
    ds.save_as(tmp_path / "wrong_total.dcm")
    exams = read_rdsr(tmp_path / "wrong_total.dcm").exams
    assert exams["dlp_mgycm"][0] == pytest.approx(236.09)
    assert exams["reported_dlp_total_mgycm"][0] == pytest.approx(300.0)
    assert exams["dlp_total_mismatch"][0] is True


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def _content_item(ds, code: str):  # type: ignore[no-untyped-def]
    """First content item (depth first) with concept code ``code``."""
    stack = list(ds.ContentSequence)
    while stack:
        it = stack.pop(0)
        if it.ConceptNameCodeSequence[0].CodeValue == code:
            return it
        stack[:0] = list(it.get("ContentSequence", []))
    raise KeyError(code)


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    """A folder with one good report and one file of each bad kind."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(TOSHIBA, folder / "good")
    (folder / "notes.txt").write_bytes(b"this is not DICOM\n" * 20)
    # image-like DICOM: CT Image Storage, no SR content
    ds = pydicom.dcmread(FLASH)
    del ds.ContentSequence
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "image.dcm")
    # another SR (Basic Text SR with another document title)
    ds = pydicom.dcmread(FLASH)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.save_as(folder / "basic_text_sr.dcm")
    ds = pydicom.dcmread(GE)
    ds.ConceptNameCodeSequence[0].CodeValue = "18748-4"
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"
    ds.save_as(folder / "other_enhanced_sr.dcm")
    # projection X-ray dose report: TID 10001, irradiation events 113706, no CT acquisitions
    ds = pydicom.dcmread(DOSECHECK)
    ds.ContentTemplateSequence[0].TemplateIdentifier = "10001"
    ds.Modality = "SR"
    for it in ds.ContentSequence:
        if it.ConceptNameCodeSequence[0].CodeValue == "113819":
            it.ConceptNameCodeSequence[0].CodeValue = "113706"
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    (folder / "sub" / "dir").mkdir(parents=True)
    # written without the 128-byte preamble: still DICOM, read with force
    ds.save_as(folder / "sub" / "dir" / "projection.dcm", enforce_file_format=False)
    return folder


def test_bad_input_is_skipped_and_listed(bad_folder: Path) -> None:
    with pytest.warns(DroppedRowsWarning, match=r"read_rdsr: 5 file\(s\) skipped") as caught:
        result = read_rdsr(bad_folder)
    assert len(caught) == 1
    exams, report = result.exams, result.report
    assert exams.height == 1
    assert exams["dlp_mgycm"][0] == pytest.approx(349.70)
    assert isinstance(report, ReadReport)
    assert report.files_read == 1
    assert report.files_skipped == 5
    skipped = report.problems.filter(pl.col("action") == "skipped")
    names = {Path(f).name: r for f, r in zip(skipped["file"], skipped["reason"])}
    assert set(names) == {
        "notes.txt",
        "image.dcm",
        "basic_text_sr.dcm",
        "other_enhanced_sr.dcm",
        "projection.dcm",
    }
    assert "not a DICOM" in names["notes.txt"]
    assert "not a dose report" in names["image.dcm"]
    assert "without CT acquisitions" in names["projection.dcm"]


def test_errors_raise_names_file_and_field(bad_folder: Path) -> None:
    # files are read in sorted path order: basic_text_sr.dcm is the first bad one
    with pytest.raises(RdsrReadError, match=r"basic_text_sr\.dcm.*SOPClassUID"):
        read_rdsr(bad_folder, strict=True)
    with pytest.raises(RdsrReadError, match=r"image\.dcm.*SOPClassUID"):
        read_rdsr([bad_folder / "good", bad_folder / "image.dcm"], strict=True)
    with pytest.raises(RdsrReadError, match=r"notes\.txt.*whole file"):
        read_rdsr(bad_folder / "notes.txt", strict=True)


def test_malformed_ds_is_read_leniently(tmp_path: Path) -> None:
    ds = pydicom.dcmread(TOSHIBA)
    dlp = _content_item(ds, "113838")
    ctdi = _content_item(ds, "113830")
    # pydicom refuses to write an illegal DS, so write placeholders and patch the bytes
    dlp.MeasuredValueSequence[0].NumericValue = "1111.11111"
    ctdi.MeasuredValueSequence[0].NumericValue = "2222.22222"
    ds.save_as(tmp_path / "bad_ds.dcm")
    raw = (tmp_path / "bad_ds.dcm").read_bytes()
    raw = raw.replace(b"1111.11111", b"12,5      ")  # decimal comma: illegal DS
    raw = raw.replace(b"2222.22222", b"n/a       ")  # not a number at all
    (tmp_path / "bad_ds.dcm").write_bytes(raw)
    with pytest.warns(UnmappedValuesWarning, match=r"2 value\(s\) read leniently"):
        result = read_rdsr(tmp_path / "bad_ds.dcm")
    events, report = result.events, result.report
    # event 1 is a localizer without CT Dose; the patched values are event 2's
    assert events["dlp_mgycm"][1] == pytest.approx(12.5)
    assert events["ctdivol_mgy"][1] is None
    assert events["ctdivol_mgy"][2] == pytest.approx(24.7)  # the rest is untouched
    fields = report.problems["field"].to_list()
    assert any("DLP (113838)" in f for f in fields)
    assert any("Mean CTDIvol (113830)" in f for f in fields)
    assert set(report.problems["action"]) == {"lenient"}
    with pytest.raises(RdsrReadError, match=r"bad_ds\.dcm.*(CTDIvol|DLP)"):
        read_rdsr(tmp_path / "bad_ds.dcm", strict=True)


def test_missing_age(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    del ds.PatientAge
    ds.save_as(tmp_path / "no_age_with_birth.dcm")
    result = read_rdsr(tmp_path / "no_age_with_birth.dcm")
    exams, report = result.exams, result.report
    assert exams["age_years"][0] == pytest.approx(_birth_age(FLASH), abs=0.01)
    assert report.problems.height == 0
    del ds.PatientBirthDate
    ds.save_as(tmp_path / "no_age.dcm")
    with pytest.warns(UnmappedValuesWarning, match=LENIENT):
        result = read_rdsr(tmp_path / "no_age.dcm")
    exams, report = result.exams, result.report
    assert exams["age_years"][0] is None
    assert exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert report.problems["field"].to_list() == ["PatientAge"]
    with pytest.raises(RdsrReadError, match=r"no_age\.dcm.*PatientAge"):
        read_rdsr(tmp_path / "no_age.dcm", strict=True)


@pytest.mark.parametrize(
    ("text", "years"), [("018M", 1.5), ("006W", 42 / 365.25), ("010D", 10 / 365.25)]
)
def test_age_units(tmp_path: Path, text: str, years: float) -> None:
    ds = pydicom.dcmread(FLASH)
    ds.PatientAge = text
    del ds.PatientBirthDate  # Patient's Age is used only without a valid birth date
    ds.save_as(tmp_path / "a.dcm")
    result = read_rdsr(tmp_path / "a.dcm")
    exams, report = result.exams, result.report
    assert exams["age_years"][0] == pytest.approx(years)
    assert report.problems.height == 0


def test_birth_date_wins_over_patients_age(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    assert ds.PatientAge == "067Y" and ds.PatientBirthDate
    exams = read_rdsr(FLASH).exams
    assert exams["age_years"][0] == pytest.approx(_birth_age(FLASH), abs=0.01)
    assert exams["age_years"][0] > 67.5  # not the whole years of Patient's Age
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ds.PatientBirthDate = "19291399"  # invalid: Patient's Age is used, the repair listed
        ds.save_as(tmp_path / "bad_birth.dcm")
    with pytest.warns(UnmappedValuesWarning, match=LENIENT):
        result = read_rdsr(tmp_path / "bad_birth.dcm")
    exams, report = result.exams, result.report
    assert exams["age_years"][0] == 67.0
    assert report.problems["field"].to_list() == ["PatientBirthDate"]


def test_conflicting_birth_dates_are_reported_not_returned() -> None:
    files = [MULTI[0], DOSECHECK]
    births = {pydicom.dcmread(f).PatientBirthDate for f in files}
    assert len(births) == 2  # the same patient ID with two birth dates in the test data
    ids = {pydicom.dcmread(f).PatientID for f in files}
    assert len(ids) == 1
    with pytest.warns(UnmappedValuesWarning, match=r"2 value\(s\) read leniently") as caught:
        result = read_rdsr(files)
    for b in births:  # nor into the warning
        assert b not in str(caught[0].message)
    for table in (result.exams, result.events):
        report = result.report
        conflicts = report.problems.filter(pl.col("field") == "PatientBirthDate")
        assert sorted(conflicts["file"].to_list()) == sorted(str(f) for f in files)
        assert set(conflicts["action"]) == {"lenient"}
        for b in births:  # the birth date never goes into the table or the report
            assert not any(b in str(v) for col in table.columns for v in table[col].to_list())
            assert not any(b in r for r in report.problems["reason"].to_list())
    with pytest.raises(RdsrReadError, match="PatientBirthDate"):
        read_rdsr(files, strict=True)


# ---------------------------------------------------------------------------------------------
# Privacy
# ---------------------------------------------------------------------------------------------
SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)


def test_pseudonymisation() -> None:
    raw = "4018119567876617"
    other = "9c41e07b2d5a83f61e0d4b7c92a5f308"  # a second test-only key
    a = _read_folder(pseudonymise="hmac-sha256", secret=SECRET).exams
    b = _read_folder(pseudonymise="hmac-sha256", secret=bytes.fromhex(SECRET)).exams
    c = _read_folder(pseudonymise="hmac-sha256", secret=other).exams
    assert a["patient_id"].to_list() == b["patient_id"].to_list()
    assert set(a["patient_id"]).isdisjoint(set(c["patient_id"]))
    assert all(len(p) == 64 for p in a["patient_id"])
    # same patient in two studies -> same pseudonym
    assert a["patient_id"].n_unique() == 4
    # an independent HMAC-SHA256 (RFC 2104) of the Flash report's ID in the patient_id domain
    import hashlib
    import hmac

    want = hmac.new(bytes.fromhex(SECRET), b"patient_id\x1f123456", hashlib.sha256).hexdigest()
    assert want in a["patient_id"].to_list()
    for table in (a, _read_folder(pseudonymise="hmac-sha256", secret=SECRET).events):
        for col in table.columns:
            values = table[col].cast(pl.Utf8).drop_nulls().to_list()
            assert not any(raw in v or v == "123456" or "physics12345" in v for v in values)
            assert not any("SMITH" in v or "Kri" in v or "1.3.6.1.4" in v for v in values)


@pytest.mark.parametrize(
    "secret",
    [None, "", "x", "keep-this-secret", "0" * 64, "abababababababababababababababab",
     "0123456789abcdef", b"0123456789", "correct horse battery staple words here",
     # patterned: a repeated block, a run of consecutive characters, text typed as bytes
     "0123456789abcdef0123456789abcdef", "Password1234567890123456", "a1b2c3d4" * 4,
     "zyxwvuts" + "5f0c2a9e7b1d4c3f8a6e0b2d", b"0123456789abcdef"],
)
def test_weak_secrets_are_refused(secret: object) -> None:
    with pytest.raises(ValueError, match=r"secrets\.token_hex\(32\)"):
        read_rdsr(RDSR, pseudonymise="hmac-sha256", secret=secret)  # type: ignore[arg-type]


def test_random_secrets_are_never_refused() -> None:
    """The weak-secret rules (distinct characters, repeated blocks, runs) do not refuse keys
    made as the message says: thousands of the shortest accepted random keys of each kind."""
    import secrets

    from recurct.io.pseudonym import check_secret

    for make in (secrets.token_hex, secrets.token_urlsafe, secrets.token_bytes):
        for _ in range(3000):
            check_secret(make(16))


def test_old_salted_sha256_is_refused_with_the_new_name() -> None:
    with pytest.raises(ValueError, match="hmac-sha256"):
        read_rdsr(RDSR, pseudonymise="salted-sha256", secret=SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without pseudonymise"):
        read_rdsr(RDSR, secret=SECRET)


def test_strong_secrets_of_each_kind_are_accepted() -> None:
    import secrets

    for key in (secrets.token_bytes(16), secrets.token_hex(16), secrets.token_urlsafe(22)):
        exams = read_rdsr(FLASH, pseudonymise="hmac-sha256", secret=key).exams
        assert len(exams["patient_id"][0]) == 64


def test_non_patient(tmp_path: Path) -> None:
    shutil.copy(TOSHIBA, tmp_path / "physics.dcm")  # patient name QATesting^Physics
    _copy(DOSECHECK, tmp_path / "patient.dcm")
    _copy(FLASH, tmp_path / "qa.dcm", PatientID="QA-Phantom-01")
    _copy(GE, tmp_path / "named.dcm", PatientName="Test^Catphan")
    patterns = ["*qa*", "*phantom*", "*test*"]
    result = read_rdsr(tmp_path, non_patient_patterns=patterns)
    exams, report = result.exams, result.report
    assert exams.height == 1
    assert exams["dlp_mgycm"][0] == pytest.approx(502.40)
    assert "non_patient" not in exams.columns
    assert report.non_patient_studies == 3
    result = read_rdsr(tmp_path, non_patient_patterns=patterns, include_non_patient=True)
    kept, report = result.exams, result.report
    assert kept.height == 4
    assert kept.filter(pl.col("non_patient"))["dlp_mgycm"].sort().to_list() == pytest.approx(
        [349.70, 415.82, 724.52]
    )
    assert report.non_patient_studies == 3
    everyone = read_rdsr(tmp_path).exams  # no patterns: nothing is marked
    assert everyone.height == 4


# ---------------------------------------------------------------------------------------------
# Folders and workers
# ---------------------------------------------------------------------------------------------
def test_folder_recursion_odd_names(tmp_path: Path) -> None:
    targets = [
        tmp_path / "a" / "b" / "c" / "no_extension",
        tmp_path / "a" / "IM 0001 (copy).DCM",
        tmp_path / "ünïcödé" / "x.y.z",
        tmp_path / ".hidden",
    ]
    for src, dst in zip([FLASH, TOSHIBA, GE, DOSECHECK], targets):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    result = read_rdsr(tmp_path)
    exams, report = result.exams, result.report
    assert exams.height == 4
    assert report.files_read == 4
    with pytest.raises(FileNotFoundError):
        read_rdsr(tmp_path / "missing")


@pytest.mark.slow
def test_workers_two_same_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recurct.io.rdsr as rdsr

    monkeypatch.setattr(rdsr, "SERIAL_BELOW", 2)  # force the pool for a few files
    for i, src in enumerate(sorted(RDSR.glob("*.dcm")) * 3):
        shutil.copy(src, tmp_path / f"{i:03d}_{src.name}")
    a, b = _read_checked(tmp_path, workers=1), _read_checked(tmp_path, workers=2)
    for level in ("exams", "events"):
        one, two = getattr(a, level), getattr(b, level)
        r1, r2 = a.report, b.report
        assert one.equals(two)
        assert r1.files_read == r2.files_read == 21
        assert r1.problems.equals(r2.problems)


def test_pydicom_fallback_gives_the_same_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast Explicit-VR reader and the pydicom path (other transfer syntaxes) agree."""
    fast = [getattr(_read_folder(), level) for level in ("exams", "events")]
    _force_pydicom(monkeypatch)
    slow = [getattr(_read_folder(), level) for level in ("exams", "events")]
    assert fast[0].equals(slow[0])
    assert fast[1].equals(slow[1])


def test_implicit_vr_file(tmp_path: Path) -> None:
    ds = pydicom.dcmread(TOSHIBA)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(tmp_path / "implicit.dcm", implicit_vr=True, little_endian=True)
    result = read_rdsr(tmp_path / "implicit.dcm")
    exams, report = result.exams, result.report
    assert exams["dlp_mgycm"][0] == pytest.approx(349.70)
    assert report.problems.height == 0


# ---------------------------------------------------------------------------------------------
# Truncated files: reported, never read as a partial exam
# ---------------------------------------------------------------------------------------------
def _force_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fast reader decline every file, so that pydicom reads it."""
    import recurct.io.rdsr._parse as parse

    def unsupported(path: str) -> tuple[None, None]:
        return None, None  # "the fast reader does not apply"

    monkeypatch.setattr(parse, "fast_open", unsupported)


@pytest.mark.parametrize("path", [GE, FLASH], ids=lambda p: p.name)
@pytest.mark.parametrize("reader", ["fast", "pydicom"])
def test_truncated_file_is_reported_or_complete(
    path: Path, reader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader == "pydicom":
        _force_pydicom(monkeypatch)
    raw = path.read_bytes()
    full = read_rdsr(path).exams
    cuts = sorted({14_231 % len(raw), *range(300, len(raw), len(raw) // 17), len(raw) - 1})
    for cut in cuts:
        f = tmp_path / f"cut_{cut}.dcm"
        f.write_bytes(raw[:cut])
        result = _read_checked(f)
        exams, report = result.exams, result.report
        if report.problems.height == 0:  # no problem: then the whole exam
            assert exams.height == 1, cut
            assert exams["dlp_mgycm"][0] == pytest.approx(full["dlp_mgycm"][0]), cut
            assert exams["n_events"][0] == full["n_events"][0], cut
        else:
            assert exams.height == 0, cut  # a reported problem skips the file here
            assert report.files_skipped == 1
        f.unlink()


def test_truncated_ge_report_names_the_byte(tmp_path: Path) -> None:
    # the reviewer's case: cut at 14,231 bytes gave 155.97 mGy·cm in 4 events, 0 problems
    f = tmp_path / "ge_cut.dcm"
    f.write_bytes(GE.read_bytes()[:14_231])
    with pytest.warns(DroppedRowsWarning, match=r"1 file\(s\) skipped") as caught:
        result = read_rdsr(f)
    assert "ge_cut" not in str(caught[0].message)  # counts, not file names
    exams, report = result.exams, result.report
    assert exams.height == 0
    assert report.problems["reason"][0].startswith("truncated at byte 14231")
    assert report.problems["action"][0] == "skipped"
    with pytest.raises(RdsrReadError, match=r"ge_cut\.dcm: truncated at byte 14231"):
        read_rdsr(f, strict=True)


@pytest.mark.parametrize("path", sorted(README), ids=lambda p: p.name)
def test_fast_and_pydicom_paths_agree_per_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = read_rdsr(path)
    _force_pydicom(monkeypatch)
    slow = read_rdsr(path)
    assert fast.exams.equals(slow.exams)
    assert fast.events is not None and fast.events.equals(slow.events)
    assert fast.report.files_read == slow.report.files_read == 1


def test_non_sr_file_is_skipped_from_its_file_meta(tmp_path: Path) -> None:
    """An image is skipped after its file meta, before the rest is read: here the rest is
    garbage that would be a truncated/unreadable file if it were parsed."""
    ds = pydicom.dcmread(FLASH)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.save_as(tmp_path / "image.dcm")
    raw = (tmp_path / "image.dcm").read_bytes()
    meta_end = 144 + int.from_bytes(raw[140:144], "little")
    (tmp_path / "image.dcm").write_bytes(raw[:meta_end] + b"\xff" * 5000)
    with pytest.warns(DroppedRowsWarning, match=r"1 file\(s\) skipped"):
        result = read_rdsr(tmp_path / "image.dcm")
    exams, report = result.exams, result.report
    assert exams.height == 0
    assert report.problems["field"].to_list() == ["MediaStorageSOPClassUID"]
    assert "not a dose report" in report.problems["reason"][0]


# ---------------------------------------------------------------------------------------------
# Localizers and effective dose at event level
# ---------------------------------------------------------------------------------------------
def test_localizer_column_from_the_acquisition_type_code() -> None:
    events = _read_folder().events
    assert events["localizer"].dtype == pl.Boolean
    # CT Acquisition Type (113820) = Constant Angle Acquisition (113805, DCM)
    expected = events["acquisition_type"] == "Constant Angle Acquisition"
    assert events["localizer"].to_list() == expected.to_list()
    assert events["localizer"].sum() >= 4


def test_event_table_into_effective_dose() -> None:
    from recurct.dose import effective_dose

    events = _read_folder().events
    out = effective_dose(events, level="event")
    assert out.height == 5 and out["effective_dose_msv"].null_count() == 0
    by_study = dict(zip(out["study_uid"], out["effective_dose_msv"]))
    flash_uid = pydicom.dcmread(FLASH).StudyInstanceUID
    toshiba_uid = pydicom.dcmread(TOSHIBA).StudyInstanceUID
    # Flash: topogram 11.51 ("Entire body", converted with the exam's region, CAP), two
    # monitoring scans on the abdomen (1.2, 3.61) and the TAP spiral 708.2; AAPM 96 adult
    # k = 0.015 for abdomen and for chest-abdomen-pelvis (docs/sources.md)
    assert by_study[flash_uid] == pytest.approx((11.51 + 1.2 + 3.61 + 708.2) * 0.015)
    # Toshiba: a localizer without DLP (0) and two CAP scans, 208.5 + 141.2
    assert by_study[toshiba_uid] == pytest.approx((208.5 + 141.2) * 0.015)


# ---------------------------------------------------------------------------------------------
# Vendor effective dose (113839)
# ---------------------------------------------------------------------------------------------
def _with_accumulated_ed(src: Path, dst: Path, msv: str, drop_event_of: Path | None = None) -> Path:
    """Add an accumulated Effective Dose (113839) to the report; optionally drop the event
    that another report carries (so this report no longer holds every event of the study)."""
    import copy

    ds = pydicom.dcmread(src)
    acc = next(
        it for it in ds.ContentSequence if it.ConceptNameCodeSequence[0].CodeValue == "113811"
    )
    total = next(
        it for it in acc.ContentSequence if it.ConceptNameCodeSequence[0].CodeValue == "113813"
    )
    ed = copy.deepcopy(total)
    ed.ConceptNameCodeSequence[0].CodeValue = "113839"
    ed.ConceptNameCodeSequence[0].CodeMeaning = "Effective Dose"
    ed.MeasuredValueSequence[0].NumericValue = msv
    ed.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "mSv"
    acc.ContentSequence.append(ed)
    if drop_event_of is not None:
        other = read_rdsr(drop_event_of).events
        drop = set(other["event_uid"])
        keep = []
        for it in ds.ContentSequence:
            uid = [
                c.UID
                for c in getattr(it, "ContentSequence", [])
                if c.ConceptNameCodeSequence[0].CodeValue == "113769"
            ]
            if not (uid and uid[0] in drop):
                keep.append(it)
        ds.ContentSequence = keep
        n = _content_item(ds, "113812").MeasuredValueSequence[0]  # the report's event count
        n.NumericValue = str(sum(_is_acquisition(it) for it in keep))
    ds.save_as(dst)
    return dst


def _is_acquisition(item) -> bool:  # type: ignore[no-untyped-def]
    return item.ConceptNameCodeSequence[0].CodeValue == "113819"


def test_vendor_effective_dose_is_labelled(tmp_path: Path) -> None:
    f = _with_accumulated_ed(MULTI[2], tmp_path / "m3_ed.dcm", "3.5")
    exams = read_rdsr([MULTI[0], MULTI[1], f]).exams
    assert exams["effective_dose_msv"][0] == pytest.approx(3.5)
    assert exams["dose_method"][0] == "reported (DICOM 113839)"
    from recurct.dose import effective_dose

    kept = effective_dose(exams)  # existing doses and their method are kept
    assert kept["effective_dose_msv"][0] == pytest.approx(3.5)
    assert kept["dose_method"][0] == "reported (DICOM 113839)"


def test_vendor_effective_dose_only_from_a_report_with_every_event(tmp_path: Path) -> None:
    # a report with events 2 and 3 only (and an accumulated dose over those two), plus
    # Multi-1 holding event 1: the study has 3 events, no report's dose covers all of them
    f = _with_accumulated_ed(MULTI[2], tmp_path / "m3_part.dcm", "3.1", drop_event_of=MULTI[0])
    exams = read_rdsr([MULTI[0], f]).exams
    assert exams["n_events"][0] == 3
    assert exams["dlp_mgycm"][0] == pytest.approx(236.09)
    assert exams["effective_dose_msv"][0] is None
    assert exams["dose_method"][0] is None


def test_age_string_without_unit_is_not_an_age(tmp_path: Path) -> None:
    # DICOM AS needs its unit (recurct.schema.dicom_age_years): a bare "067" is malformed
    ds = pydicom.dcmread(FLASH)
    del ds.PatientBirthDate
    with pytest.warns(UserWarning, match="Invalid value for VR AS"):
        ds.PatientAge = "067"
        ds.save_as(tmp_path / "bare.dcm")
    with pytest.warns(UnmappedValuesWarning, match=r"1 value\(s\) read leniently"):
        result = read_rdsr(tmp_path / "bare.dcm")
    exams, report = result.exams, result.report
    assert exams["age_years"][0] is None
    assert report.problems["field"].to_list() == ["PatientAge"]
