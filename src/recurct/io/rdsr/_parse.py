"""One dose report file into plain, picklable data (header, events, problems)."""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recurct.io.pseudonym import pseudonym
from recurct.io.rdsr._bytes import fast_open, pydicom_truncation
from recurct.io.rdsr._codes import (
    CT_ACCUMULATED,
    CT_ACQUISITION,
    CT_DLP_TOTAL,
    CT_DOSE,
    DLP,
    EFFECTIVE_DOSE,
    IRRADIATION_EVENT_UID,
    MEAN_CTDIVOL,
    SCOPE_OF_ACCUMULATION,
    SOP_CLASS_NAMES,
    START_OF_IRRADIATION,
    STUDY_INSTANCE_UID,
    TOTAL_NUMBER_OF_EVENTS,
    XRAY_DOSE_REPORT,
    XRAY_EVENT,
)
from recurct.io.rdsr._event import parse_event
from recurct.io.rdsr._items import (
    FileState,
    age_years,
    check_text,
    check_uid,
    child_items,
    concept_code,
    first_item,
    identifier,
    import_pydicom,
    matches_any,
    num_value,
    parse_da_tm,
    parse_dt,
    parse_tm,
    placeholder_note,
    raw_tag,
    raw_text,
    tag_value,
    uid_value,
)


def parse_file(
    path: str,
    *,
    display: str,
    key: bytes | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    """Parse one file into plain data (picklable); never raises for a bad file.

    ``display`` is how the file is named in every output (its path, or under pseudonymisation
    a pseudonym); with a ``key`` every identifier is pseudonymised here, and problem texts are
    scrubbed of the file's raw identifiers and path, before anything leaves this function.
    """
    state = FileState(display)
    pydicom = import_pydicom()
    try:
        result = _parse_file_inner(pydicom, path, state, key=key, non_patient=non_patient)
    except Exception as exc:  # a malformed file must never stop a folder
        result = state.skip(f"unreadable: {type(exc).__name__}: {exc}", None)
    if key is not None:
        secrets = [path, *Path(path).parts, *state.identifiers]
        secrets = sorted({s for s in secrets if s and len(s) >= 3 and s != "/"}, key=len)[::-1]
        result["problems"] = [
            (f, fld, a, _scrub(r, secrets)) for f, fld, a, r in result["problems"]
        ]
    elif display != path:
        result["problems"] = [
            (f, fld, a, r.replace(path, display)) for f, fld, a, r in result["problems"]
        ]
    return result


def _scrub(text: str | None, secrets: Sequence[str]) -> str | None:
    if text is None:
        return None
    for s in secrets:
        if s in text:
            text = text.replace(s, "<withheld>")
    return text


@contextlib.contextmanager
def _pydicom_log() -> Iterator[list[str]]:
    """Collect pydicom's log records instead of letting them reach the application's log (a
    record may quote a value of the file)."""
    logger = logging.getLogger("pydicom")
    records: list[str] = []

    class _Collect(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.WARNING:
                records.append(record.getMessage())
            return False

    keep = _Collect()
    logger.addFilter(keep)
    try:
        yield records
    finally:
        logger.removeFilter(keep)


def _read_dataset(pydicom: Any, path: str) -> Any:
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        # DICOM without the 128-byte preamble: accept only if it parses to something with a
        # SOP Class UID.
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        if "SOPClassUID" not in ds:
            raise
        return ds


# DICOM gives Patient's Size in metres and Patient's Weight in kilograms; a value above these
# is in another unit (186 for 1.86 m), not a body size, and is left null with a problem row
_HEADER_MAX = {"PatientSize": (3.0, "m", "centimetres"), "PatientWeight": (1000.0, "kg", "grams")}


def _header_number(ds: Any, keyword: str, label: str, state: FileState) -> float | None:
    text = raw_text(ds, keyword)
    if not text:
        return None
    try:
        value = float(text.split("\\")[0])
    except ValueError:
        state.lenient(f"{label} {text!r} is not a number; left null", keyword)
        return None
    if not math.isfinite(value) or value <= 0:
        state.lenient(f"{label} {text!r} is not a positive number; left null", keyword)
        return None
    if keyword in _HEADER_MAX:
        top, unit, other = _HEADER_MAX[keyword]
        if value > top:
            state.lenient(
                f"{label} {text!r} is above {top:g} {unit}: not in {unit} (in {other}?); left "
                "null",
                keyword,
            )
            return None
    return value


def _requested_procedure(ds: Any) -> str | None:
    text = raw_text(ds, "RequestedProcedureDescription")
    if text:
        return text
    for item in tag_value(ds, 0x00400275) or ():  # Request Attributes Sequence
        text = raw_tag(item, 0x00321060)  # Requested Procedure Description
        if text:
            return text
    return None


def _acquisition_uids(acquisitions: Sequence[Any]) -> set[str]:
    """The Irradiation Event UIDs (113769) of the CT acquisitions of a report."""
    uids = {
        uid_value(k) or ""
        for acq in acquisitions
        for k in child_items(acq)
        if concept_code(k) == IRRADIATION_EVENT_UID
    }
    return uids - {""}


def _looks_like_acquisition(item: Any, acquisition_uids: set[str]) -> bool:
    """A root content item that holds what a CT Acquisition holds (its own code damaged): CT
    dose values (a CT Dose container, or a Mean CTDIvol or DLP in the item or in a child of
    it), or an Irradiation Event UID that no CT acquisition of the report has. A vendor's
    container that only refers to an acquisition by its UID, or holds only acquisition
    parameters, is none."""
    if concept_code(item) == XRAY_EVENT:  # projection X-ray event (TID 10003), not a damaged one
        return False
    for k in child_items(item):
        code = concept_code(k)
        if code in (CT_DOSE, MEAN_CTDIVOL, DLP):
            return True
        if code == IRRADIATION_EVENT_UID and (uid_value(k) or "") not in acquisition_uids:
            return True
        if any(concept_code(g) in (MEAN_CTDIVOL, DLP) for g in child_items(k)):
            return True
    return False


def _parse_file_inner(
    pydicom: Any,
    path: str,
    state: FileState,
    *,
    key: bytes | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    ds, skipped = _open(pydicom, path, state)
    if skipped is not None:
        return skipped
    ids = _identifiers(ds, state)
    report = _dose_report(ds, state)
    if isinstance(report, dict):  # skipped: not a CT dose report
        return report
    content, acquisitions, damaged = report

    def uid(value: str, domain: Any) -> str:
        return value if key is None else pseudonym(value, key, domain)

    header = _header(
        ds, content, len(acquisitions), state, ids, uid, key=key, non_patient=non_patient
    )
    n_reported = header["reported_n_events"]
    header["damaged"] = bool(damaged) or (
        n_reported is not None and n_reported > len(acquisitions)
    )
    fallback_uid = ids.sop_uid or path
    events = [
        parse_event(i, acq, state, uid, fallback_uid) for i, acq in enumerate(acquisitions, 1)
    ]
    return {
        "path": state.path,
        "ok": True,
        "problems": state.problems,
        "header": header,
        "events": events,
    }


def _open(pydicom: Any, path: str, state: FileState) -> tuple[Any, dict[str, Any] | None]:
    """``(dataset, None)``: the fast reader's dataset, else pydicom's; ``(None, skip result)``
    where the file is not read."""
    from pydicom.errors import InvalidDicomError

    ds, skip = fast_open(path)
    if ds is not None:
        return ds, None
    if skip is not None:
        return None, state.skip(*skip)
    with warnings.catch_warnings(record=True) as caught, _pydicom_log() as logged:
        warnings.simplefilter("always")
        try:
            ds = _read_dataset(pydicom, path)
        except (InvalidDicomError, EOFError, OSError, ValueError, TypeError) as exc:
            return None, state.skip(f"not a DICOM file ({type(exc).__name__})", None)
        size = pydicom_truncation(path, ds)
        if size is not None:
            return None, state.skip(
                f"truncated at byte {size}: the file ends inside an element or sequence", None
            )
        ds.walk(lambda _ds, _elem: None)  # convert every element now, warnings recorded
    # pydicom's own warnings and log records (invalid values, VR guesses, ...): problem
    # rows of the file, scrubbed of identifiers like every other problem text
    for message in [str(w.message) for w in caught] + logged:
        state.lenient(f"pydicom: {message}", None)
    return ds, None


@dataclass(frozen=True)
class _Ids:
    """The identifiers of a file: Patient ID, accession number and UIDs as :func:`identifier`
    reads them (None where missing or a placeholder); the Patient ID and Study Instance UID
    as written too (``raw_``: the patterns of ``non_patient_patterns`` match the Patient ID
    as written; a problem row says where a placeholder was read as missing). All are
    recorded in the state, so problem texts are scrubbed of them whatever happens next."""

    patient_id: str | None
    raw_patient_id: str
    name: str
    accession: str | None
    sop_uid: str | None
    study_uid: str | None
    raw_study_uid: str


def _identifiers(ds: Any, state: FileState) -> _Ids:
    raw = {
        k: raw_text(ds, k) or ""
        for k in ("PatientID", "AccessionNumber", "SOPInstanceUID", "StudyInstanceUID")
    }
    ids = _Ids(
        patient_id=identifier(raw["PatientID"]),
        raw_patient_id=raw["PatientID"],
        name=raw_text(ds, "PatientName") or "",
        accession=identifier(raw["AccessionNumber"]),
        sop_uid=identifier(raw["SOPInstanceUID"]),
        study_uid=identifier(raw["StudyInstanceUID"]),
        raw_study_uid=raw["StudyInstanceUID"],
    )
    name = ids.name
    # the identifiers as read and as written (a placeholder is none: never scrubbed)
    given = [ids.patient_id, ids.accession, ids.sop_uid, ids.study_uid]
    given += [raw[k] for k in raw if identifier(raw[k]) is not None]
    state.identifiers += [*given, name, *name.replace("=", "^").split("^")]
    state.identifiers.append(raw_text(ds, "SeriesInstanceUID"))
    # each value of a multi-valued identifier too (a message may quote one of them)
    state.identifiers += [v for s in state.identifiers if s and "\\" in s for v in s.split("\\")]
    state.ascii_only = (raw_text(ds, "SpecificCharacterSet") or "ISO_IR 6") == "ISO_IR 6"
    check_text(ids.accession, "AccessionNumber", state)
    return ids


def _dose_report(ds: Any, state: FileState) -> Any:
    """``(content, CT acquisitions, positions of damaged ones)`` of a CT dose report, or the
    skip result of a file that is none."""
    sop_class = raw_text(ds, "SOPClassUID") or ""
    root = concept_code(ds)
    content = child_items(ds)
    if sop_class not in SOP_CLASS_NAMES or not content:
        name_ = sop_class or "missing"
        return state.skip(f"not a dose report (SOP Class UID {name_})", "SOPClassUID")
    used = tag_value(ds, 0x0040A504) or ()  # Content Template Sequence
    templates = {str(tag_value(t, 0x0040DB00) or "").strip() for t in used}
    if root != XRAY_DOSE_REPORT and "10011" not in templates:
        return state.skip(
            f"SR is not an X-Ray Radiation Dose Report (document title {root})",
            "ConceptNameCodeSequence",
        )
    acquisitions = [it for it in content if concept_code(it) == CT_ACQUISITION]
    uids = _acquisition_uids(acquisitions)
    damaged = [
        i
        for i, it in enumerate(content)
        if concept_code(it) != CT_ACQUISITION and _looks_like_acquisition(it, uids)
    ]
    if not acquisitions and not damaged:
        tid = ",".join(sorted(t for t in templates if t)) or "none"
        return state.skip(
            f"dose report without CT acquisitions (template {tid}; projection X-ray, "
            "fluoroscopy or mammography?)",
            "CT Acquisition (113819)",
        )
    for _ in damaged:
        state.lenient(
            "a content item holds CT dose data but is not coded CT Acquisition (113819): an "
            "irradiation event is lost (damaged report?); the exam DLP is left null",
            "CT Acquisition (113819)",
        )
    return content, acquisitions, damaged


def _study_uid(
    content: Sequence[Any], state: FileState, ids: _Ids, uid: Callable[[str, Any], str]
) -> str:
    """The Study Instance UID, else that of the Scope of Accumulation, else the report's own."""
    study_uid = check_uid(ids.study_uid, "StudyInstanceUID", state)
    if study_uid:
        return uid(study_uid, "study_uid")
    why = placeholder_note(ids.raw_study_uid)
    scope = first_item(content, SCOPE_OF_ACCUMULATION)
    scope_uid = first_item(child_items(scope), STUDY_INSTANCE_UID) if scope is not None else None
    study_uid = uid_value(scope_uid)
    state.identifiers.append(study_uid)
    if study_uid:
        state.lenient(f"no Study Instance UID{why}; taken from Scope of Accumulation", "StudyUID")
        return uid(study_uid, "study_uid")
    state.lenient(f"no Study Instance UID{why}; the report is its own study", "StudyInstanceUID")
    return "sop:" + uid(ids.sop_uid or state.path, "study_uid")


def _exam_date(ds: Any, content: Sequence[Any], state: FileState) -> datetime | None:
    """Study Date and Time, else the start of irradiation, else the content date."""
    study_time = raw_text(ds, "StudyTime")
    exam_date = parse_da_tm(raw_text(ds, "StudyDate"), study_time)
    if study_time and exam_date is not None and parse_tm(study_time) is None:
        state.lenient("malformed Study Time; the exam time is the start of the day", "StudyTime")
    if exam_date is None:
        start = first_item(content, START_OF_IRRADIATION)
        exam_date = parse_dt(str(tag_value(start, 0x0040A120) or "")) if start is not None else None
        if exam_date is None:
            exam_date = parse_da_tm(raw_text(ds, "ContentDate"), raw_text(ds, "ContentTime"))
        state.lenient(
            "missing or malformed Study Date; "
            + ("used the irradiation/content date" if exam_date else "left null"),
            "StudyDate",
        )
    return exam_date


def _patient(
    ds: Any,
    state: FileState,
    ids: _Ids,
    exam_date: datetime | None,
    key: bytes | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    """Patient ID (pseudonymised with a key), sex, age at the exam, birth date (to tell
    patients apart; never in a table) and the QA / phantom mark."""
    patient_id = check_text(ids.patient_id, "PatientID", state)
    if patient_id is None:
        state.lenient(f"no Patient ID{placeholder_note(ids.raw_patient_id)}", "PatientID")
    elif "\\" in patient_id:  # Patient ID has one value in DICOM (VM 1): a malformed file
        n = patient_id.count("\\") + 1
        state.lenient(
            f"Patient ID has {n} values (DICOM allows one); read as one id, the values joined "
            "by a backslash",
            "PatientID",
        )
    if patient_id is not None and key is not None:
        patient_id = pseudonym(patient_id, key, "patient_id")
    sex = (raw_text(ds, "PatientSex") or "").upper() or None
    if sex is not None and sex not in ("F", "M", "O"):
        state.lenient("Patient's Sex is not F/M/O; left null", "PatientSex")
        sex = None
    birth_text = raw_text(ds, "PatientBirthDate")
    birth_dt = parse_da_tm(birth_text, None)
    return {
        "patient_id": patient_id,
        "age_years": age_years(raw_text(ds, "PatientAge"), birth_text, exam_date, state),
        "sex": sex,
        "non_patient": bool(non_patient)
        and matches_any(non_patient or (), ids.raw_patient_id, ids.name),
        "birth_date": birth_dt.date() if birth_dt is not None else None,
    }


def _text(ds: Any, keyword: str, state: FileState) -> str | None:
    return check_text(raw_text(ds, keyword), keyword, state) or None


def _header(
    ds: Any,
    content: Sequence[Any],
    n_acquisitions: int,
    state: FileState,
    ids: _Ids,
    uid: Callable[[str, Any], str],
    *,
    key: bytes | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    # in this order, so that the problem rows come in the order of the report's parts
    study_uid = _study_uid(content, state, ids, uid)
    exam_date = _exam_date(ds, content, state)
    patient = _patient(ds, state, ids, exam_date, key, non_patient)
    accumulated = _accumulated(content, n_acquisitions, state)
    accession = ids.accession
    if accession is not None and key is not None:
        accession = pseudonym(accession, key, "accession_number")
    return {
        "study_uid": study_uid,
        # the report's identity (n_reports counts each once): its SOP Instance UID, hashed
        # as the study UID of a report without one is; else its file
        "report_id": uid(ids.sop_uid, "study_uid") if ids.sop_uid else "file:" + state.path,
        "exam_date": exam_date,
        **patient,
        **accumulated,
        "facility": _text(ds, "InstitutionName", state),
        "station_name": _text(ds, "StationName", state),
        "manufacturer": _text(ds, "Manufacturer", state),
        "model": _text(ds, "ManufacturerModelName", state),
        "accession_number": accession,
        "study_description": _text(ds, "StudyDescription", state),
        "requested_procedure": check_text(
            _requested_procedure(ds), "RequestedProcedureDescription", state
        ),
        "patient_weight_kg": _header_number(ds, "PatientWeight", "Patient's Weight", state),
        "patient_size_m": _header_number(ds, "PatientSize", "Patient's Size", state),
        "source_file": state.path,
    }


def _accumulated(content: Sequence[Any], n_acquisitions: int, state: FileState) -> dict[str, Any]:
    """CT Accumulated Dose Data (TID 10012): the reported DLP total, effective dose and
    event count (the count only where it is a whole number, checked against the report)."""
    out: dict[str, Any] = {
        "reported_dlp_total_mgycm": None,
        "accumulated_effective_dose_msv": None,
        "reported_n_events": None,
    }
    accumulated = first_item(content, CT_ACCUMULATED)
    if accumulated is None:  # mandatory in TID 10011
        state.lenient("no CT Accumulated Dose Data (113811)", "CT Accumulated Dose Data (113811)")
        return out
    acc_items = child_items(accumulated)
    total = first_item(acc_items, CT_DLP_TOTAL)
    if total is not None:
        label = "CT Dose Length Product Total (113813)"
        out["reported_dlp_total_mgycm"] = num_value(total, label, state, "dlp")
    else:  # mandatory in TID 10012
        state.lenient(
            "CT Accumulated Dose Data without CT Dose Length Product Total (113813)",
            "CT Dose Length Product Total (113813)",
        )
    ed = first_item(acc_items, EFFECTIVE_DOSE)
    if ed is not None:
        out["accumulated_effective_dose_msv"] = num_value(
            ed, "Effective Dose (113839)", state, "effective dose"
        )
    count = first_item(acc_items, TOTAL_NUMBER_OF_EVENTS)
    if count is not None:
        n = num_value(count, "Total Number of Irradiation Events (113812)", state, "count")
        out["reported_n_events"] = int(n) if n is not None and n == int(n) and n >= 0 else None
    reported = out["reported_n_events"]
    if reported is not None and reported != n_acquisitions:
        lost = ": events are lost (damaged report?)" if reported > n_acquisitions else ""
        state.lenient(
            f"the report counts {reported} irradiation events (113812) but holds "
            f"{n_acquisitions} CT acquisitions{lost}",
            "Total Number of Irradiation Events (113812)",
        )
    return out


def parse_chunk(
    jobs: Sequence[tuple[str, str]], key: bytes | None, non_patient: Sequence[str] | None
) -> list[dict[str, Any]]:
    return [parse_file(p, display=d, key=key, non_patient=non_patient) for p, d in jobs]

