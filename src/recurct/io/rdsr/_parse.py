"""One dose report file into plain, picklable data (header, events, problems)."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import math
import re
import struct
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from recurct.io.pseudonym import pseudonym
from recurct.io.rdsr._bytes import (
    _fast_read,
    _NotDoseReport,
    _pydicom_truncation,
    _Truncated,
    _Unsupported,
)
from recurct.io.rdsr._codes import (
    ACQUISITION_PROTOCOL,
    CONSTANT_ANGLE,
    CT_ACCUMULATED,
    CT_ACQUISITION,
    CT_ACQUISITION_PARAMETERS,
    CT_ACQUISITION_TYPE,
    CT_DLP_TOTAL,
    CT_DOSE,
    DLP,
    DOSE_CHECK_ALERT,
    DOSE_CHECK_NOTIFICATION,
    DOSE_CHECK_VALUES,
    EFFECTIVE_DOSE,
    IRRADIATION_EVENT_UID,
    MEAN_CTDIVOL,
    MEASUREMENT_METHOD,
    PHANTOM_TYPE,
    SCANNING_LENGTH,
    SCOPE_OF_ACCUMULATION,
    SOP_CLASS_NAMES,
    SSDE,
    START_OF_IRRADIATION,
    STUDY_INSTANCE_UID,
    TARGET_REGION,
    TOTAL_NUMBER_OF_EVENTS,
    WATER_EQUIVALENT_DIAMETER,
    XRAY_DOSE_REPORT,
    XRAY_EVENT,
)
from recurct.io.rdsr._tables import _DICOM_INSTALL
from recurct.schema import dicom_age_years


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - exercised only without pydicom
        raise ImportError(_DICOM_INSTALL) from exc
    return pydicom


# Tags used in the hot path (integer access skips pydicom's keyword lookup).
_T_CONCEPT_NAME = 0x0040A043  # ConceptNameCodeSequence
_T_CONCEPT_CODE = 0x0040A168  # ConceptCodeSequence
_T_CONTENT = 0x0040A730  # ContentSequence
_T_MEASURED = 0x0040A300  # MeasuredValueSequence
_T_NUMERIC = 0x0040A30A  # NumericValue
_T_UNITS = 0x004008EA  # MeasurementUnitsCodeSequence
_T_CODE_VALUE = 0x00080100
_T_SCHEME = 0x00080102
_T_MEANING = 0x00080104
_T_LONG_CODE = 0x00080119
_T_URN_CODE = 0x00080120
_T_TEXT = 0x0040A160  # TextValue
_T_UID = 0x0040A124  # UID


def _value(ds: Any, tag: int) -> Any:
    if isinstance(ds, dict):
        return ds.get(tag)
    elem = ds.get(tag)
    return None if elem is None else elem.value


def _code(item: Any, attr: int = _T_CONCEPT_NAME) -> tuple[str, str] | None:
    seq = _value(item, attr)
    if not seq:
        return None
    c = seq[0]
    value = _value(c, _T_CODE_VALUE) or _value(c, _T_LONG_CODE) or _value(c, _T_URN_CODE)
    if value is None:
        return None
    return (str(value).strip(), str(_value(c, _T_SCHEME) or "").strip())


def _meaning(item: Any) -> str | None:
    seq = _value(item, _T_CONCEPT_CODE)
    if not seq:
        return None
    m = _value(seq[0], _T_MEANING)
    return str(m).strip() if m is not None else None


def _children(item: Any) -> Sequence[Any]:
    seq = _value(item, _T_CONTENT)
    return seq if seq else ()


def _first(items: Iterable[Any], code: tuple[str, str]) -> Any | None:
    for it in items:
        if _code(it) == code:
            return it
    return None


def _raw_text(ds: Any, keyword: str) -> str | None:
    """The element's value as text without VR validation (lenient for malformed values)."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return None if tag is None else _raw_tag(ds, tag)


def _raw_tag(ds: Any, tag: int) -> str | None:
    if isinstance(ds, dict):
        value = ds.get(tag)
        return value if isinstance(value, str) else None
    if tag not in ds:
        return None
    elem = ds.get_item(tag)
    value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ").strip()
    return str(value).strip()


_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?")
_UNIT_SCALE = {
    "mgy": 1.0,
    "gy": 1000.0,
    "ugy": 1e-3,
    "mgy.cm": 1.0,
    "mgycm": 1.0,
    "mgy.mm": 0.1,
    "gy.cm": 1000.0,
    "gy.m": 1e5,
    "msv": 1.0,
    "sv": 1000.0,
    "usv": 1e-3,
    "mm": 1.0,
    "cm": 10.0,
    "m": 1000.0,
}


class _FileState:
    """Problems found while parsing one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[tuple[str, str | None, str, str | None]] = []
        self.identifiers: list[str | None] = []  # raw values scrubbed from problem texts
        self.ascii_only = False  # no Specific Character Set: text must be ASCII

    def lenient(self, reason: str, fld: str | None) -> None:
        self.problems.append((self.path, fld, "lenient", reason))

    def skip(self, reason: str, fld: str | None) -> dict[str, Any]:
        self.problems.append((self.path, fld, "skipped", reason))
        return {"path": self.path, "ok": False, "problems": self.problems}


def _num(item: Any, label: str, state: _FileState) -> float | None:
    """NUM content item value in the canonical unit, read leniently from the raw DS text."""
    seq = _value(item, _T_MEASURED)
    if not seq:
        state.lenient("no measured value; left null", label)
        return None
    mv = seq[0]
    text = _raw_tag(mv, _T_NUMERIC)
    if text is None or text == "":
        state.lenient("no numeric value; left null", label)
        return None
    unit_seq = _value(mv, _T_UNITS)
    unit = str(_value(unit_seq[0], _T_CODE_VALUE) or "").strip().lower() if unit_seq else ""
    scale = _UNIT_SCALE.get(unit.replace(" ", ""), 1.0)
    try:
        value = float(text)
    except ValueError:
        m = _NUMBER.search(text)
        if m is None:
            state.lenient(f"not a number: {text!r}; value left null", label)
            return None
        value = float(m.group(0).replace(",", "."))
        state.lenient(f"malformed number {text!r} read as {value}", label)
    if not math.isfinite(value):
        state.lenient(f"non-finite number {text!r}; value left null", label)
        return None
    return value * scale


def _parse_da_tm(da: str | None, tm: str | None) -> datetime | None:
    if not da:
        return None
    da = da.strip().replace(".", "").replace("-", "")
    try:
        d = datetime.strptime(da[:8], "%Y%m%d")
    except ValueError:
        return None
    if tm:
        tm = tm.strip().replace(":", "")
        whole, _, frac = tm.partition(".")
        whole = (whole + "0000")[:6] if len(whole) >= 2 else "000000"
        try:
            t = datetime.strptime(whole, "%H%M%S")
        except ValueError:
            t = datetime(1900, 1, 1)
        us = int((frac + "000000")[:6]) if frac.isdigit() else 0
        d = d.replace(hour=t.hour, minute=t.minute, second=t.second, microsecond=us)
    return d


def _parse_tm(tm: str) -> datetime | None:
    """A DICOM TM (``HHMMSS.FFFFFF``, parts may be omitted; colons tolerated), else None."""
    whole, _, frac = tm.strip().replace(":", "").partition(".")
    if frac and not frac.isdigit():
        return None
    try:
        return datetime.strptime((whole + "0000")[:6], "%H%M%S") if len(whole) >= 2 else None
    except ValueError:
        return None


def _parse_dt(dt: str | None) -> datetime | None:
    if not dt:
        return None
    dt = re.split(r"[+-]", dt.strip(), maxsplit=1)[0]
    return _parse_da_tm(dt[:8], dt[8:] or None)


def _age_years(
    age_text: str | None, birth: str | None, when: datetime | None, state: _FileState
) -> float | None:
    """Age at the study: from the birth date and the study date when both are valid (exact to
    the day), else from Patient's Age (``067Y``, ``018M``, ``006W``, ``010D``; whole units)."""
    birth_dt = _parse_da_tm(birth, None)
    years = None
    if birth_dt is not None and when is not None:
        years = _years_between(birth_dt.date(), when.date())
        if 0 <= years <= 130:
            return years
    from_age = dicom_age_years(age_text) if age_text else None  # unit required (DICOM AS)
    if birth and (birth_dt is None or years is not None):
        what = "malformed" if birth_dt is None else f"out of range (age {years:.1f} y)"
        then = "age from Patient's Age" if from_age is not None else "age left null"
        state.lenient(f"Patient's Birth Date {what}; {then}", "PatientBirthDate")
        if from_age is None:
            return None
    if from_age is not None:
        return from_age
    if age_text:
        state.lenient(f"malformed Patient's Age {age_text!r}; age left null", "PatientAge")
    else:
        state.lenient("no Patient's Age and no birth date; age left null", "PatientAge")
    return None


def _years_between(birth: date, when: date) -> float:
    """Completed years plus the fraction of the current year of age."""
    years = when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
    with contextlib.suppress(ValueError):
        last = _birthday(birth, birth.year + years)
        nxt = _birthday(birth, birth.year + years + 1)
        return years + (when - last).days / (nxt - last).days
    return float(years)  # pragma: no cover


def _birthday(birth: date, year: int) -> date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February
        return date(year, 3, 1)


def _matches(patterns: Sequence[str], *values: str | None) -> bool:
    for v in values:
        if not v:
            continue
        low = v.lower()
        if any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns):
            return True
    return False


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------
def _parse_file(
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
    state = _FileState(display)
    pydicom = _import_pydicom()
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


_UID_TEXT = re.compile(r"[0-9]+(\.[0-9]+)*")


def _check_text(value: str | None, label: str, state: _FileState) -> str | None:
    """Text with control characters, or with non-ASCII characters in a file without a
    Specific Character Set (default repertoire: ASCII), is reported (a damaged byte?); the
    value is kept."""
    if not value:
        return value
    if any(unicodedata.category(ch) == "Cc" or ch == "\ufffd" for ch in value):
        state.lenient(f"{label} holds a control character (damaged value?)", label)
    elif state.ascii_only and not value.isascii():
        state.lenient(
            f"{label} holds non-ASCII characters but the file declares no Specific Character "
            "Set (damaged value?)",
            label,
        )
    return value


def _check_uid(value: str | None, label: str, state: _FileState) -> str | None:
    if value and not _UID_TEXT.fullmatch(value):
        state.lenient(f"{label} is not a valid UID (digits and dots; damaged value?)", label)
    return value


# DICOM gives Patient's Size in metres and Patient's Weight in kilograms; a value above these
# is in another unit (186 for 1.86 m), not a body size, and is left null with a problem row
_HEADER_MAX = {"PatientSize": (3.0, "m", "centimetres"), "PatientWeight": (1000.0, "kg", "grams")}


def _header_number(ds: Any, keyword: str, label: str, state: _FileState) -> float | None:
    text = _raw_text(ds, keyword)
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
    text = _raw_text(ds, "RequestedProcedureDescription")
    if text:
        return text
    for item in _value(ds, 0x00400275) or ():  # Request Attributes Sequence
        text = _raw_tag(item, 0x00321060)  # Requested Procedure Description
        if text:
            return text
    return None


def _find(items: Sequence[Any], code: tuple[str, str], depth: int = 3) -> Any | None:
    """The first content item with this concept name, searched depth-first (``depth`` levels)."""
    for it in items:
        if _code(it) == code:
            return it
    if depth > 1:
        for it in items:
            found = _find(_children(it), code, depth - 1)
            if found is not None:
                return found
    return None


def _looks_like_acquisition(item: Any) -> bool:
    """A root content item that holds what a CT Acquisition holds (its own code damaged)."""
    if _code(item) == XRAY_EVENT:  # projection X-ray event (TID 10003), not a damaged one
        return False
    kids = _children(item)
    return any(
        _code(k) in (CT_DOSE, IRRADIATION_EVENT_UID, CT_ACQUISITION_PARAMETERS) for k in kids
    )


def _parse_file_inner(
    pydicom: Any,
    path: str,
    state: _FileState,
    *,
    key: bytes | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    from pydicom.errors import InvalidDicomError

    try:
        ds = _fast_read(path)
    except _Truncated as exc:
        return state.skip(f"{exc}: the file ends inside an element or sequence", None)
    except _NotDoseReport as exc:
        return state.skip(f"not a dose report (SOP Class UID {exc})", "MediaStorageSOPClassUID")
    except (_Unsupported, struct.error, OSError, UnicodeError):
        ds = None
    if ds is None:
        with warnings.catch_warnings(record=True) as caught, _pydicom_log() as logged:
            warnings.simplefilter("always")
            try:
                ds = _read_dataset(pydicom, path)
            except (InvalidDicomError, EOFError, OSError, ValueError, TypeError) as exc:
                return state.skip(f"not a DICOM file ({type(exc).__name__})", None)
            size = _pydicom_truncation(path, ds)
            if size is not None:
                return state.skip(
                    f"truncated at byte {size}: the file ends inside an element or sequence", None
                )
            ds.walk(lambda _ds, _elem: None)  # convert every element now, warnings recorded
        # pydicom's own warnings and log records (invalid values, VR guesses, ...): problem
        # rows of the file, scrubbed of identifiers like every other problem text
        for message in [str(w.message) for w in caught] + logged:
            state.lenient(f"pydicom: {message}", None)

    # identifiers first: whatever happens next, problem texts are scrubbed of them
    raw_id = _raw_text(ds, "PatientID") or ""
    name = _raw_text(ds, "PatientName") or ""
    accession = _raw_text(ds, "AccessionNumber") or None
    sop_uid = _raw_text(ds, "SOPInstanceUID") or None
    raw_study = _raw_text(ds, "StudyInstanceUID") or None
    state.identifiers += [raw_id, name, *name.replace("=", "^").split("^"), accession]
    state.identifiers += [sop_uid, raw_study, _raw_text(ds, "SeriesInstanceUID")]

    state.ascii_only = (_raw_text(ds, "SpecificCharacterSet") or "ISO_IR 6") == "ISO_IR 6"
    _check_text(accession, "AccessionNumber", state)
    sop_class = _raw_text(ds, "SOPClassUID") or ""
    root = _code(ds)
    content = _children(ds)
    if sop_class not in SOP_CLASS_NAMES or not content:
        name_ = sop_class or "missing"
        return state.skip(f"not a dose report (SOP Class UID {name_})", "SOPClassUID")
    templates = {str(_value(t, 0x0040DB00) or "").strip() for t in _value(ds, 0x0040A504) or ()}
    if root != XRAY_DOSE_REPORT and "10011" not in templates:
        return state.skip(
            f"SR is not an X-Ray Radiation Dose Report (document title {root})",
            "ConceptNameCodeSequence",
        )
    acquisitions = [it for it in content if _code(it) == CT_ACQUISITION]
    damaged = [
        i
        for i, it in enumerate(content)
        if _code(it) != CT_ACQUISITION and _looks_like_acquisition(it)
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

    def uid(value: str, domain: Any) -> str:
        return value if key is None else pseudonym(value, key, domain)

    # ---- header -------------------------------------------------------------------------
    study_uid = _check_uid(raw_study, "StudyInstanceUID", state)
    if not study_uid:
        scope = _first(content, SCOPE_OF_ACCUMULATION)
        scope_uid = _first(_children(scope), STUDY_INSTANCE_UID) if scope is not None else None
        study_uid = str(_value(scope_uid, _T_UID) or "").strip() if scope_uid is not None else None
        state.identifiers.append(study_uid)
        if study_uid:
            state.lenient("no Study Instance UID; taken from Scope of Accumulation", "StudyUID")
            study_uid = uid(study_uid, "study_uid")
        else:
            study_uid = "sop:" + uid(sop_uid or path, "study_uid")
            state.lenient("no Study Instance UID; the report is its own study", "StudyInstanceUID")
    else:
        study_uid = uid(study_uid, "study_uid")
    study_time = _raw_text(ds, "StudyTime")
    exam_date = _parse_da_tm(_raw_text(ds, "StudyDate"), study_time)
    if study_time and exam_date is not None and _parse_tm(study_time) is None:
        state.lenient("malformed Study Time; the exam time is the start of the day", "StudyTime")
    if exam_date is None:
        start = _first(content, START_OF_IRRADIATION)
        exam_date = _parse_dt(str(_value(start, 0x0040A120) or "")) if start is not None else None
        if exam_date is None:
            exam_date = _parse_da_tm(_raw_text(ds, "ContentDate"), _raw_text(ds, "ContentTime"))
        state.lenient(
            "missing or malformed Study Date; "
            + ("used the irradiation/content date" if exam_date else "left null"),
            "StudyDate",
        )

    is_non_patient = bool(non_patient) and _matches(non_patient or (), raw_id, name)
    patient_id: str | None = _check_text(raw_id, "PatientID", state) or None
    if patient_id is None:
        state.lenient("no Patient ID", "PatientID")
    elif key is not None:
        patient_id = pseudonym(patient_id, key, "patient_id")

    sex = (_raw_text(ds, "PatientSex") or "").upper() or None
    if sex is not None and sex not in ("F", "M", "O"):
        state.lenient("Patient's Sex is not F/M/O; left null", "PatientSex")
        sex = None
    birth_text = _raw_text(ds, "PatientBirthDate")
    age = _age_years(_raw_text(ds, "PatientAge"), birth_text, exam_date, state)
    birth_dt = _parse_da_tm(birth_text, None)

    accumulated = _first(content, CT_ACCUMULATED)
    if accumulated is None:  # mandatory in TID 10011
        state.lenient("no CT Accumulated Dose Data (113811)", "CT Accumulated Dose Data (113811)")
    reported_total = None
    accumulated_ed = None
    reported_n_events = None
    if accumulated is not None:
        acc_items = _children(accumulated)
        total = _first(acc_items, CT_DLP_TOTAL)
        if total is not None:
            reported_total = _num(total, "CT Dose Length Product Total (113813)", state)
        else:  # mandatory in TID 10012
            state.lenient(
                "CT Accumulated Dose Data without CT Dose Length Product Total (113813)",
                "CT Dose Length Product Total (113813)",
            )
        ed = _first(acc_items, EFFECTIVE_DOSE)
        if ed is not None:
            accumulated_ed = _num(ed, "Effective Dose (113839)", state)
        count = _first(acc_items, TOTAL_NUMBER_OF_EVENTS)
        if count is not None:
            n = _num(count, "Total Number of Irradiation Events (113812)", state)
            reported_n_events = int(n) if n is not None and n == int(n) and n >= 0 else None
    if reported_n_events is not None and reported_n_events != len(acquisitions):
        state.lenient(
            f"the report counts {reported_n_events} irradiation events (113812) but holds "
            f"{len(acquisitions)} CT acquisitions"
            + (
                ": events are lost (damaged report?)"
                if reported_n_events > len(acquisitions)
                else ""
            ),
            "Total Number of Irradiation Events (113812)",
        )

    header = {
        "study_uid": study_uid,
        "patient_id": patient_id,
        "exam_date": exam_date,
        "age_years": age,
        "sex": sex,
        "facility": _check_text(_raw_text(ds, "InstitutionName"), "InstitutionName", state) or None,
        "station_name": _check_text(_raw_text(ds, "StationName"), "StationName", state) or None,
        "manufacturer": _check_text(_raw_text(ds, "Manufacturer"), "Manufacturer", state) or None,
        "model": _check_text(_raw_text(ds, "ManufacturerModelName"), "ManufacturerModelName", state)
        or None,
        "accession_number": (
            None
            if accession is None
            else accession
            if key is None
            else pseudonym(accession, key, "accession_number")
        ),
        "study_description": _check_text(
            _raw_text(ds, "StudyDescription"), "StudyDescription", state
        )
        or None,
        "requested_procedure": _check_text(
            _requested_procedure(ds), "RequestedProcedureDescription", state
        ),
        "patient_weight_kg": _header_number(ds, "PatientWeight", "Patient's Weight", state),
        "patient_size_m": _header_number(ds, "PatientSize", "Patient's Size", state),
        "reported_dlp_total_mgycm": reported_total,
        "accumulated_effective_dose_msv": accumulated_ed,
        # the report's own event count where it is consistent with the report (113812)
        "reported_n_events": reported_n_events,
        "damaged": bool(damaged)
        or (reported_n_events is not None and reported_n_events > len(acquisitions)),
        "non_patient": is_non_patient,
        "source_file": state.path,
        # only to tell patients apart and find conflicting birth dates; never in the table
        "birth_date": birth_dt.date() if birth_dt is not None else None,
    }

    # ---- events -------------------------------------------------------------------------
    events = []
    for i, acq in enumerate(acquisitions, 1):
        items = _children(acq)
        ev: dict[str, Any] = {"localizer": False, "index": i}
        uid_item = _first(items, IRRADIATION_EVENT_UID)
        event_uid = str(_value(uid_item, _T_UID) or "").strip() if uid_item is not None else ""
        state.identifiers.append(event_uid)
        ev["uid_missing"] = not event_uid
        if not event_uid:
            event_uid = f"{sop_uid or path}#{i}"
            state.lenient(
                f"CT acquisition {i} has no Irradiation Event UID; cannot be merged across reports",
                "Irradiation Event UID (113769)",
            )
        else:
            _check_uid(event_uid, f"Irradiation Event UID (113769), event {i}", state)
        ev["event_uid"] = uid(event_uid, "event_uid")
        proto = _first(items, ACQUISITION_PROTOCOL)
        ev["protocol"] = _check_text(
            (str(_value(proto, _T_TEXT) or "").strip() or None) if proto is not None else None,
            f"Acquisition Protocol (125203), event {i}",
            state,
        )
        target = _first(items, TARGET_REGION)
        ev["target_region"] = _meaning(target) if target is not None else None
        if target is None or not ev["target_region"]:
            state.lenient(
                f"CT acquisition {i} has no Target Region (123014)", "Target Region (123014)"
            )
        _check_text(ev["target_region"], f"Target Region (123014), event {i}", state)
        acq_type = _first(items, CT_ACQUISITION_TYPE)
        ev["acquisition_type"] = _meaning(acq_type) if acq_type is not None else None
        ev["localizer"] = acq_type is not None and _code(acq_type, _T_CONCEPT_CODE) == (
            CONSTANT_ANGLE
        )
        params = _first(items, CT_ACQUISITION_PARAMETERS)
        length = _first(_children(params), SCANNING_LENGTH) if params is not None else None
        ev["scanning_length_mm"] = (
            _num(length, f"Scanning Length (113825), event {i}", state)
            if length is not None
            else None
        )
        dose = _first(items, CT_DOSE)
        dose_items = _children(dose) if dose is not None else ()
        dose_lost = dose is None and any(
            _code(k) in (MEAN_CTDIVOL, DLP) for it in items for k in _children(it)
        )
        if dose_lost:
            state.lenient(
                f"CT acquisition {i}: a content item holds CT dose values but is not coded CT "
                "Dose (113829): its dose is lost (damaged report?); the exam DLP is left null",
                "CT Dose (113829)",
            )
        for code, col, label in (
            (MEAN_CTDIVOL, "ctdivol_mgy", "Mean CTDIvol (113830)"),
            (DLP, "dlp_mgycm", "DLP (113838)"),
            (EFFECTIVE_DOSE, "effective_dose_msv", "Effective Dose (113839)"),
        ):
            it = _first(dose_items, code)
            ev[col] = _num(it, f"{label}, event {i}", state) if it is not None else None
            if dose is not None and it is None and code != EFFECTIVE_DOSE:
                # mandatory in the CT Dose container (TID 10013), localizers included
                state.lenient(f"CT Dose of CT acquisition {i} has no {label}", label)
        # a DLP is missing where the event is not a localizer, or where a CT Dose container
        # (in which DLP is mandatory) is present or damaged
        ev["dlp_missing"] = ev["dlp_mgycm"] is None and (
            not ev["localizer"] or dose is not None or dose_lost
        )
        if ev["dlp_missing"] and dose is None and not dose_lost:
            state.lenient(
                f"CT acquisition {i} has no DLP (113838); the exam DLP is left null",
                "DLP (113838)",
            )
        phantom = _first(dose_items, PHANTOM_TYPE)
        ev["phantom_type"] = _meaning(phantom) if phantom is not None else None
        ssde = _find(items, SSDE)
        ev["ssde_mgy"] = _num(ssde, f"SSDE (113930), event {i}", state) if ssde else None
        method = _first(_children(ssde), MEASUREMENT_METHOD) if ssde is not None else None
        ev["ssde_method"] = _meaning(method) if method is not None else None
        wed = _find(items, WATER_EQUIVALENT_DIAMETER)
        ev["water_equivalent_diameter_mm"] = (
            _num(wed, f"Water Equivalent Diameter (113980), event {i}", state) if wed else None
        )
        for col in DOSE_CHECK_VALUES.values():
            ev[col] = None
        for container in dose_items:
            if _code(container) in (DOSE_CHECK_ALERT, DOSE_CHECK_NOTIFICATION):
                for it in _children(container):
                    col = DOSE_CHECK_VALUES.get(_code(it))  # type: ignore[arg-type]
                    if col is not None:
                        ev[col] = _num(it, f"{col} ({_code(it)[0]}), event {i}", state)  # type: ignore[index]
        events.append(ev)
    return {
        "path": state.path,
        "ok": True,
        "problems": state.problems,
        "header": header,
        "events": events,
    }


def _parse_chunk(
    jobs: Sequence[tuple[str, str]], key: bytes | None, non_patient: Sequence[str] | None
) -> list[dict[str, Any]]:
    return [_parse_file(p, display=d, key=key, non_patient=non_patient) for p, d in jobs]
