"""read_rdsr: placeholder identifiers are missing (never hashed, never merged), and the ages of
a pseudonymising read do not give away the birth date.

Shipped reports (tests/data/rdsr, values in its README.md) and copies edited with pydicom in
``tmp_path``: Toshiba_DoseCheck (2 events, 502.40 mGy·cm, 2017-11-15, born 1923-09-30),
Flash (4 events, 724.52 mGy·cm, 1997-01-01, born 1929-05-19, Patient ID 123456).
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import RecurctWarning  # noqa: E402
from recurct.io import ReadResult  # noqa: E402
from recurct.io.pseudonym import check_secret, pseudonym  # noqa: E402
from recurct.io.rdsr import file_pseudonym, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
FLASH = RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
DOSECHECK = RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm"
SECRET = "9c1e4a7b2f0d36e58a1b7c4d0e9f2a63"  # test-only key (128 bits)
PSEUDO = {"pseudonymise": "hmac-sha256", "secret": SECRET}
KEYWORDS = [{}, PSEUDO]
PLACEHOLDERS = ["UNKNOWN", "unknown", "-", "#N/A", " Unknown "]


def _read(source: Any, **kwargs: Any) -> tuple[ReadResult, list[str]]:
    """read_rdsr and the texts of the recurct warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecurctWarning)
        result = read_rdsr(source, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, RecurctWarning)]


def _save(ds: Any, path: Path) -> Path:
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    with warnings.catch_warnings():  # pydicom: a placeholder is no valid UID
        warnings.simplefilter("ignore", UserWarning)
        ds.save_as(path)
    return path


def _set(ds: Any, attr: str, value: str) -> None:
    with warnings.catch_warnings():  # pydicom: a placeholder is no valid UID
        warnings.simplefilter("ignore", UserWarning)
        setattr(ds, attr, value)


def _copy(src: Path, path: Path, **attrs: str) -> Path:
    ds = pydicom.dcmread(src)
    for k, v in attrs.items():
        _set(ds, k, v)
    return _save(ds, path)


def _exact_age(birth: date, when: date) -> float:
    """The reader's exact age (completed years plus the fraction of the current year)."""

    def birthday(year: int) -> date:
        try:
            return birth.replace(year=year)
        except ValueError:
            return date(year, 3, 1)

    years = when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
    last, nxt = birthday(birth.year + years), birthday(birth.year + years + 1)
    return years + (when - last).days / (nxt - last).days


def _births() -> set[str]:
    out = set()
    for f in RDSR.glob("*.dcm"):
        text = pydicom.dcmread(f, stop_before_pixels=True).get("PatientBirthDate")
        if text:
            out.add(str(text))
    return out


# ------------------------------------------------------------------ ages under pseudonymise
def _recovered(exams: pl.DataFrame) -> dict[str, list[str]]:
    """The auditor's brute force: every birth date (0-130 years back) whose exact age at the
    exam date is the exam's ``age_years``."""
    out: dict[str, list[str]] = {}
    for pid, when, age in exams.select("patient_id", "exam_date", "age_years").iter_rows():
        if age is None:
            continue
        day = when.date()
        lo = int(age) - 1
        candidates = [day.replace(year=day.year - lo - 2) + timedelta(days=k) for k in range(1100)]
        hits = [b for b in candidates if abs(_exact_age(b, day) - age) < 1e-9]
        out[f"{pid}@{day}"] = [b.strftime("%Y%m%d") for b in hits]
    return out


def test_a_pseudonymised_read_gives_no_birth_date_back() -> None:
    result, _ = _read(RDSR, **PSEUDO)  # README.md is skipped: a warning
    exams = result.exams
    assert exams["age_years"].null_count() < exams.height
    births = _births()
    for exam, hits in _recovered(exams).items():
        assert not set(hits) & births, f"{exam}: birth date recovered from age_years"
        assert len(hits) <= 1  # at most the day of a birthday: any date of a year fits
    # without pseudonymise the ages stay exact (the brute force finds the birth dates)
    plain, _ = _read(RDSR)
    found = {h for hits in _recovered(plain.exams).values() for h in hits}
    assert "19290519" in found and "19740114" in found


def test_each_patients_ages_are_whole_years_at_the_first_exam_plus_the_time_since(
    tmp_path: Path,
) -> None:
    # Flash (born 1929-05-19, exam 1997-01-01: 67.62 y) and a later exam of the same patient
    _copy(FLASH, tmp_path / "a.dcm")
    _copy(FLASH, tmp_path / "b.dcm", StudyDate="19980315", StudyInstanceUID="1.2.3.4.5.6.7")
    plain, _ = _read(tmp_path)
    assert plain.exams["age_years"][0] == pytest.approx(67.62, abs=0.01)  # exact, unchanged
    result, _ = _read(tmp_path, **PSEUDO)
    ages = result.exams.sort("exam_date")["age_years"].to_list()
    days = (date(1998, 3, 15) - date(1997, 1, 1)).days
    assert ages == [67.0, pytest.approx(67.0 + days / 365.25)]
    # every birth date of a whole year is consistent with them: none is singled out
    consistent = [
        b
        for b in (date(1928, 1, 1) + timedelta(days=k) for k in range(1200))
        if int(_exact_age(b, date(1997, 1, 1))) == 67
    ]
    assert len(consistent) >= 365
    assert result.events.height == 8 and "age_years" not in result.events.columns


# ------------------------------------------------------------------ placeholder identifiers
def _two_placeholder_patients(root: Path, placeholder: str) -> list[Path]:
    """Two different patients (name, birth date, sex, study) exported with one placeholder
    Patient ID."""
    return [
        _copy(
            DOSECHECK,
            root / f"p{i}.dcm",
            PatientID=placeholder,
            PatientName=name,
            PatientBirthDate=birth,
            PatientSex=sex,
            StudyInstanceUID=f"1.2.826.0.1.3680043.9.{i + 1}",
            AccessionNumber=f"ACC{i}",
        )
        for i, (name, birth, sex) in enumerate(
            [("DOE^JANE", "19500101", "F"), ("ROE^RICH", "19700101", "M")]
        )
    ]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
@pytest.mark.parametrize("kwargs", KEYWORDS, ids=["plain", "pseudonymised"])
def test_a_placeholder_patient_id_is_missing_not_one_patient(
    tmp_path: Path, placeholder: str, kwargs: dict[str, str]
) -> None:
    files = _two_placeholder_patients(tmp_path, placeholder)
    result, caught = _read(tmp_path, **kwargs)
    exams = result.exams
    assert exams.height == 2 and exams["dlp_mgycm"].to_list() == [502.4, 502.4]
    assert exams["patient_id"].to_list() == [None, None]  # missing, never hashed
    assert exams["sex"].sort().to_list() == ["F", "M"]
    assert result.report.duplicate_events == 0
    rows = result.report.problems.filter(pl.col("field") == "PatientID")
    assert rows.height == 2 and all(r.startswith("no Patient ID") for r in rows["reason"])
    assert all("placeholder" in r for r in rows["reason"])
    named = {file_pseudonym(f.name, SECRET) for f in files} if kwargs else set(map(str, files))
    assert set(rows["file"]) == named
    assert caught and "read leniently" in caught[0]


def test_placeholder_patient_and_study_uids_of_two_patients_do_not_merge(tmp_path: Path) -> None:
    # two reports, no birth date or sex, Patient ID, Study UID and accession all "UNKNOWN": not
    # one study of one patient (whose events would merge): each report is its own study
    for src, name in ((FLASH, "a.dcm"), (DOSECHECK, "b.dcm")):
        ds = pydicom.dcmread(src)
        for kw in ("PatientID", "StudyInstanceUID", "AccessionNumber"):
            _set(ds, kw, "UNKNOWN")
        for kw in ("PatientBirthDate", "PatientSex", "PatientAge"):
            if kw in ds:
                delattr(ds, kw)
        _save(ds, tmp_path / name)
    for kwargs in KEYWORDS:
        result, _ = _read(tmp_path, **kwargs)
        exams = result.exams.sort("dlp_mgycm")
        assert exams["dlp_mgycm"].to_list() == [502.4, pytest.approx(724.52)]
        assert exams["n_events"].to_list() == [2, 4]
        assert exams["patient_id"].null_count() == 2
        assert exams["accession_number"].null_count() == 2
        assert exams["study_uid"].n_unique() == 2 and not exams["identity_conflict"].any()
        # each study is that of the report's Scope of Accumulation
        uids = result.report.problems.filter(pl.col("reason").str.starts_with("no Study"))
        assert uids.height == 2 and uids["reason"].str.contains("placeholder").all()
        assert result.report.problems["field"].to_list().count("PatientID") == 2
        if kwargs:  # the placeholder is not hashed into a pseudonym that links them
            key = check_secret(SECRET)
            assert pseudonym("UNKNOWN", key, "study_uid") not in exams["study_uid"].to_list()


def test_a_placeholder_joins_the_one_identified_patient_of_its_study(tmp_path: Path) -> None:
    # as a report without Patient ID does (docs/rdsr.md, One exam is one study of one patient)
    _copy(DOSECHECK, tmp_path / "a.dcm")
    _copy(DOSECHECK, tmp_path / "b.dcm", PatientID="unknown")
    result, _ = _read(tmp_path, **PSEUDO)
    assert result.exams.height == 1 and result.exams["dlp_mgycm"][0] == 502.4
    key = check_secret(SECRET)
    assert result.exams["patient_id"][0] == pseudonym("4018119567876617", key, "patient_id")
    joined = result.report.problems.filter(pl.col("reason").str.contains("joined"))
    assert joined["file"].to_list() == [file_pseudonym("b.dcm", SECRET)]


@pytest.mark.parametrize("kwargs", KEYWORDS, ids=["plain", "pseudonymised"])
def test_placeholder_event_uids_are_missing_not_one_event(
    tmp_path: Path, kwargs: dict[str, str]
) -> None:
    ds = pydicom.dcmread(FLASH)
    for acq in ds.ContentSequence:
        for item in acq.get("ContentSequence", []):
            if item.ConceptNameCodeSequence[0].CodeValue == "113769":
                _set(item, "UID", "-")  # a placeholder: no UID
    _save(ds, tmp_path / "f.dcm")
    result, _ = _read(tmp_path, **kwargs)
    assert result.exams["n_events"][0] == 4
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    assert result.events["event_uid"].n_unique() == 4
    rows = result.report.problems.filter(pl.col("field") == "Irradiation Event UID (113769)")
    assert rows.height == 4 and all("placeholder" in r for r in rows["reason"])


def test_a_pseudonymised_read_names_a_file_by_file_pseudonym_of_its_relative_path(
    tmp_path: Path,
) -> None:
    # a file in a subfolder, with a problem row (a placeholder Patient ID) to name it
    (tmp_path / "PAT1").mkdir()
    _copy(DOSECHECK, tmp_path / "PAT1" / "IM0001.dcm", PatientID="-")
    result, caught = _read(tmp_path, **PSEUDO)
    files = set(result.report.problems["file"])
    assert files == {file_pseudonym("PAT1/IM0001.dcm", SECRET)}
    assert all("IM0001" not in text and "PAT1" not in text for text in caught)


def test_pseudonymise_id_gives_the_readers_pseudonym_of_a_padded_id(tmp_path: Path) -> None:
    from recurct.io.rdsr import pseudonymise_id

    _copy(DOSECHECK, tmp_path / "f.dcm", PatientID=" MRN42 ")
    result, _ = _read(tmp_path, **PSEUDO)
    assert result.exams["patient_id"].to_list() == [pseudonymise_id(" MRN42 ", SECRET)]
    assert pseudonymise_id(" MRN42 ", SECRET) == pseudonymise_id("MRN42", SECRET)


@pytest.mark.parametrize(("birth", "why"), [("20290519", "after"), ("18290519", "more than 130")])
def test_a_birth_date_out_of_range_is_not_quoted_as_an_age(
    tmp_path: Path, birth: str, why: str
) -> None:
    # a mistyped century: its exact age (-32.37 or 167.62 years) and the study date would give
    # the birth date back, mistyped digit and all
    _copy(FLASH, tmp_path / "f.dcm", PatientBirthDate=birth)
    result, _ = _read(tmp_path, **PSEUDO)
    assert result.exams["age_years"].to_list() == [67.0]  # Patient's Age 067Y
    row = result.report.problems.filter(pl.col("field") == "PatientBirthDate")
    assert row["reason"].to_list() == [
        f"Patient's Birth Date out of range ({why} "
        + ("the study date" if why == "after" else "years before the study date")
        + "); age from Patient's Age"
    ]
