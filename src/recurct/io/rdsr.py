"""Read DICOM CT dose reports (X-Ray Radiation Dose SR and Enhanced SR, TID 10011).

:func:`read_rdsr` reads one file, a list of files or a folder (searched recursively, any file
name) and returns either one row per CT irradiation event (``level="event"``) or one row per
study in the canonical exam schema (``level="exam"``), together with a :class:`ReadReport`
that lists every file it skipped or read leniently.

Content is found by DICOM codes (code value and coding scheme, CID/TID 10011-10013), never by
display text, so that vendor spellings ("Start of X-ray Irradiation", "mGycm") do not matter.

Double counting: a scanner may send several reports for one study (e.g. one after each
acquisition, each repeating the earlier events). Reports of the same Study Instance UID are
merged so that each Irradiation Event UID (113769) counts once; the exam DLP is the sum over
the unique events, and a reported CT Dose Length Product Total (113813) that disagrees with that
sum beyond rounding is flagged in ``dlp_total_mismatch``.

pydicom is imported lazily (``pip install "recurct[dicom]"``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fnmatch
import functools
import math
import multiprocessing
import os
import re
import struct
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct.dose import exam_region, normalise_region
from recurct.io.pseudonym import check_method, check_secret, pseudonym
from recurct.schema import dicom_age_years

__all__ = [
    "EVENT_COLUMNS",
    "EXAM_COLUMNS",
    "EXAM_EXTRA_COLUMNS",
    "RdsrReadError",
    "ReadReport",
    "file_pseudonym",
    "pseudonymise_id",
    "read_rdsr",
]

# --------------------------------------------------------------------------------------------
# DICOM codes (code value, coding scheme designator). DCMR CID 10011-10015, TID 10011-10013.
# --------------------------------------------------------------------------------------------
XRAY_DOSE_REPORT = ("113701", "DCM")  # root concept of TID 10001 / 10011
CT_ACCUMULATED = ("113811", "DCM")  # CT Accumulated Dose Data (TID 10012)
CT_DLP_TOTAL = ("113813", "DCM")  # CT Dose Length Product Total
CT_ACQUISITION = ("113819", "DCM")  # CT Acquisition (TID 10013)
IRRADIATION_EVENT_UID = ("113769", "DCM")
ACQUISITION_PROTOCOL = ("125203", "DCM")
TARGET_REGION = ("123014", "DCM")
CT_ACQUISITION_TYPE = ("113820", "DCM")
CT_ACQUISITION_PARAMETERS = ("113822", "DCM")
SCANNING_LENGTH = ("113825", "DCM")
CT_DOSE = ("113829", "DCM")
MEAN_CTDIVOL = ("113830", "DCM")
PHANTOM_TYPE = ("113835", "DCM")  # CTDIw Phantom Type
DLP = ("113838", "DCM")
EFFECTIVE_DOSE = ("113839", "DCM")
START_OF_IRRADIATION = ("113809", "DCM")
SCOPE_OF_ACCUMULATION = ("113705", "DCM")
STUDY_INSTANCE_UID = ("110180", "DCM")
CONSTANT_ANGLE = ("113805", "DCM")  # localizer (scout / topogram) acquisition type
XRAY_EVENT = ("113706", "DCM")  # Irradiation Event X-Ray Data (projection, TID 10003)
TOTAL_NUMBER_OF_EVENTS = ("113812", "DCM")  # Total Number of Irradiation Events (TID 10012)
SSDE = ("113930", "DCM")  # Size Specific Dose Estimate (TID 10013, CT Dose)
WATER_EQUIVALENT_DIAMETER = ("113980", "DCM")
MEASUREMENT_METHOD = ("370129005", "SCT")  # method of SSDE (CID 10023) / WED (CID 10024)
# Dose check (NEMA XR-25; DCMR TID 10013 row "CT Dose Check Details", CID 10015).
DOSE_CHECK_ALERT = ("113900", "DCM")  # Dose Check Alert Details
DOSE_CHECK_NOTIFICATION = ("113908", "DCM")  # Dose Check Notification Details
DOSE_CHECK_VALUES: dict[tuple[str, str], str] = {
    ("113903", "DCM"): "dlp_alert_value_mgycm",
    ("113904", "DCM"): "ctdivol_alert_value_mgy",
    ("113905", "DCM"): "dlp_forward_estimate_alert_mgycm",  # Accumulated DLP Forward Estimate
    ("113906", "DCM"): "ctdivol_forward_estimate_alert_mgy",  # Accumulated CTDIvol Fwd Est.
    ("113911", "DCM"): "dlp_notification_value_mgycm",
    ("113912", "DCM"): "ctdivol_notification_value_mgy",
    ("113913", "DCM"): "dlp_forward_estimate_notification_mgycm",  # DLP Forward Estimate
    ("113914", "DCM"): "ctdivol_forward_estimate_notification_mgy",  # CTDIvol Forward Est.
}

SOP_CLASS_NAMES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
}
"""SR storage classes searched for a CT dose report (TID 10011)."""

_DICOM_INSTALL = 'reading DICOM dose reports needs pydicom: pip install "recurct[dicom]"'

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "study_uid": pl.Utf8(),
    "event_uid": pl.Utf8(),
    "patient_id": pl.Utf8(),
    "exam_date": pl.Datetime("us"),
    "acquisition_type": pl.Utf8(),
    "localizer": pl.Boolean(),
    "protocol": pl.Utf8(),
    "target_region": pl.Utf8(),
    "body_region": pl.Utf8(),
    "ctdivol_mgy": pl.Float64(),
    "dlp_mgycm": pl.Float64(),
    "effective_dose_msv": pl.Float64(),
    "dose_method": pl.Utf8(),
    "phantom_type": pl.Utf8(),
    "scanning_length_mm": pl.Float64(),
    **{name: pl.Float64() for name in DOSE_CHECK_VALUES.values()},
    "ssde_mgy": pl.Float64(),
    "ssde_method": pl.Utf8(),
    "water_equivalent_diameter_mm": pl.Float64(),
    "region_source": pl.Utf8(),
    "source_file": pl.Utf8(),
}
"""Columns of the event table (``level="event"``), in order."""

EXAM_COLUMNS: dict[str, pl.DataType] = {
    "patient_id": pl.Utf8(),
    "exam_date": pl.Datetime("us"),
    "study_uid": pl.Utf8(),
    "age_years": pl.Float64(),
    "sex": pl.Utf8(),
    "facility": pl.Utf8(),
    "station_name": pl.Utf8(),
    "manufacturer": pl.Utf8(),
    "model": pl.Utf8(),
    "dlp_mgycm": pl.Float64(),
    "reported_dlp_total_mgycm": pl.Float64(),
    "dlp_total_mismatch": pl.Boolean(),
    "ctdivol_mgy": pl.Float64(),
    "body_region": pl.Utf8(),
    "n_events": pl.Int64(),
    "n_reports": pl.Int64(),
    "effective_dose_msv": pl.Float64(),
}
"""Canonical columns of the exam table (``level="exam"``), in order; :func:`read_rdsr` adds
:data:`EXAM_EXTRA_COLUMNS` after them."""

EXAM_EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "dose_method": pl.Utf8(),
    "accession_number": pl.Utf8(),
    "study_description": pl.Utf8(),
    "requested_procedure": pl.Utf8(),
    "patient_weight_kg": pl.Float64(),
    "patient_size_m": pl.Float64(),
    "ssde_mgy": pl.Float64(),
    "ssde_method": pl.Utf8(),
    "water_equivalent_diameter_mm": pl.Float64(),
    "identity_conflict": pl.Boolean(),
}
"""Columns :func:`read_rdsr` adds after :data:`EXAM_COLUMNS` (see its docstring)."""

PROBLEM_COLUMNS: dict[str, pl.DataType] = {
    "file": pl.Utf8(),
    "reason": pl.Utf8(),
    "field": pl.Utf8(),
    "action": pl.Utf8(),
}

REPORTED_DOSE_METHOD = "reported (DICOM 113839)"
"""``dose_method`` of an effective dose taken from the report (Effective Dose, 113839)."""

SERIAL_BELOW = 64
"""Fewer files than this are read in the calling process (a pool costs ~1 s to start)."""

PROGRESS_FROM = 200
"""With ``progress=None`` a progress bar is shown from this many files (stderr a terminal)."""


class RdsrReadError(ValueError):
    """A dose report could not be read (raised with ``errors="raise"``); names file and field."""


@dataclass
class ReadReport:
    """What :func:`read_rdsr` read, skipped and read leniently.

    Attributes
    ----------
    files_read : int
        Files that gave at least one CT irradiation event.
    files_skipped : int
        Files not read (not DICOM, not a CT dose report, unreadable).
    problems : polars.DataFrame
        One row per problem: ``file``, ``reason``, ``field`` (the DICOM attribute or SR concept
        concerned, null for the whole file) and ``action`` (``"skipped"``: the file was not
        used; ``"lenient"``: the file was used, the value was repaired or left null;
        ``"kept apart"``: reports of one Study Instance UID belong to different patients and
        were kept as separate exams). Under pseudonymisation ``file`` is the file's
        pseudonym (:func:`file_pseudonym`) and no reason holds a raw identifier.
    non_patient_studies : int
        Studies whose patient ID or name matched a ``non_patient`` pattern (QA / phantom).
    non_patient_excluded : bool
        Whether those studies were left out of the table (``include_non_patient=False``).
    duplicate_events : int
        Irradiation events found in more than one report of a study and counted once.
    """

    files_read: int = 0
    files_skipped: int = 0
    problems: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=PROBLEM_COLUMNS)  # type: ignore[arg-type]
    )
    non_patient_studies: int = 0
    non_patient_excluded: bool = True
    duplicate_events: int = 0

    def __str__(self) -> str:
        return (
            f"ReadReport: {self.files_read} file(s) read, {self.files_skipped} skipped, "
            f"{self.problems.height} problem(s), {self.duplicate_events} duplicate event(s) "
            f"merged, {self.non_patient_studies} non-patient stud(ies)"
            + (" excluded" if self.non_patient_excluded else " kept")
        )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - exercised only without pydicom
        raise ImportError(_DICOM_INSTALL) from exc
    return pydicom


def pseudonymise_id(
    patient_id: str,
    salt: bytes | str,
    domain: Literal["patient_id", "study_uid", "event_uid", "accession_number", "file"] = (
        "patient_id"
    ),
) -> str:
    """Keyed pseudonym (HMAC-SHA256, 64 hex digits) of a patient ID or another identifier.

    Parameters
    ----------
    patient_id : str
        The value.
    salt : bytes or str
        The secret key: at least 128 bits (16 random bytes, 32 hex digits or 22 URL-safe
        base64 characters; rule in :mod:`recurct.io.pseudonym`); weaker secrets raise
        :class:`recurct.io.pseudonym.WeakSecretError`.
    domain : str
        The kind of value: each kind is hashed apart, so that equal texts of two kinds do not
        get equal pseudonyms. The readers use ``"patient_id"``, ``"study_uid"``,
        ``"event_uid"``, ``"accession_number"`` and ``"file"``.

    Returns
    -------
    str
        The same value and secret give the same pseudonym (links across files and runs); the
        value cannot be recovered, nor checked against a guess, without the secret.
    """
    return pseudonym(patient_id, check_secret(salt), domain)


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
# A small reader for the common case (Explicit VR Little Endian, the transfer syntax of
# practically every dose SR): the whole tree into dicts of tag -> str | list[dict], ~10x faster
# than pydicom's element-by-element conversion. Anything unusual falls back to pydicom.
# --------------------------------------------------------------------------------------------
class _Unsupported(Exception):
    """The fast reader cannot handle this file; use pydicom."""


_LONG_VR = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_TEXT_VR = frozenset(
    {
        b"AE",
        b"AS",
        b"CS",
        b"DA",
        b"DS",
        b"DT",
        b"IS",
        b"LO",
        b"LT",
        b"PN",
        b"SH",
        b"ST",
        b"TM",
        b"UC",
        b"UI",
        b"UR",
        b"UT",
    }
)
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_HH = struct.Struct("<HH")
_H = struct.Struct("<H")
_I = struct.Struct("<I")


class _Truncated(Exception):
    """The file ends inside an element, item or sequence (cut short in transfer or storage)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"truncated at byte {size}")
        self.size = size


class _NotDoseReport(Exception):
    """The file meta says the file is not an SR (e.g. an image): skipped before reading it."""


def _fast_dataset(
    buf: bytes, pos: int, end: int, enc: list[str], item: bool = False
) -> tuple[dict[int, Any], int]:
    out: dict[int, Any] = {}
    while pos < end:
        if pos + 8 > len(buf):
            raise _Truncated(len(buf))
        group, elem = _HH.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if tag == 0xFFFEE00D:  # item delimiter
            return out, pos + 8
        if tag >= 0x7FE00010:  # pixel data and beyond: not needed
            return out, end
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VR:
            if pos + 12 > len(buf):
                raise _Truncated(len(buf))
            length = _I.unpack_from(buf, pos + 8)[0]
            pos += 12
        elif vr.isalpha() and vr.isupper():
            length = _H.unpack_from(buf, pos + 6)[0]
            pos += 8
        else:
            raise _Unsupported("not explicit VR")
        if vr == b"SQ":
            out[tag], pos = _fast_sequence(buf, pos, length, enc)
            continue
        if length == 0xFFFFFFFF:
            raise _Unsupported("undefined length element")
        if pos + length > len(buf):
            raise _Truncated(len(buf))
        if vr in _TEXT_VR:
            raw = buf[pos : pos + length]
            if tag == 0x00080005:
                cs = raw.decode("ascii", "replace").strip("\x00 ")
                if cs not in _CHARSETS:
                    raise _Unsupported(f"character set {cs}")
                enc[0] = _CHARSETS[cs]
            out[tag] = raw.decode(enc[0], "replace").strip("\x00 ")
        pos += length
    if item:  # an undefined-length item ended without its item delimiter
        raise _Truncated(len(buf))
    return out, pos


def _fast_sequence(
    buf: bytes, pos: int, length: int, enc: list[str]
) -> tuple[list[dict[int, Any]], int]:
    items: list[dict[int, Any]] = []
    undefined = length == 0xFFFFFFFF
    end = len(buf) if undefined else pos + length
    if end > len(buf):
        raise _Truncated(len(buf))
    while pos < end:
        if pos + 8 > len(buf):
            raise _Truncated(len(buf))
        group, elem = _HH.unpack_from(buf, pos)
        tag = (group << 16) | elem
        ilen = _I.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == 0xFFFEE0DD:  # sequence delimiter
            return items, pos
        if tag != 0xFFFEE000:
            raise _Unsupported("bad sequence item")
        if ilen == 0xFFFFFFFF:
            item, pos = _fast_dataset(buf, pos, len(buf), enc, item=True)
        else:
            if pos + ilen > len(buf):
                raise _Truncated(len(buf))
            item, _ = _fast_dataset(buf, pos, pos + ilen, enc)
            pos += ilen
        items.append(item)
    if undefined:  # no sequence delimiter before the end of the file
        raise _Truncated(len(buf))
    return items, pos


def _fast_read(path: str) -> dict[int, Any]:
    """Read preamble and file meta first; skip non-SR files before reading the rest."""
    with open(path, "rb") as f:
        head = f.read(144)
        if len(head) < 144 or head[128:132] != b"DICM":
            raise _Unsupported("no preamble")
        group, elem = _HH.unpack_from(head, 132)
        if (group, elem) != (2, 0) or head[136:138] != b"UL":
            raise _Unsupported("no group length")
        meta_end = 144 + _I.unpack_from(head, 140)[0]
        meta_buf = head + f.read(meta_end - 144)
        if len(meta_buf) < meta_end:
            raise _Truncated(len(meta_buf))
        meta, _ = _fast_dataset(meta_buf, 132, meta_end, ["latin-1"])
        sop_class = meta.get(0x00020002)
        if sop_class and sop_class not in SOP_CLASS_NAMES:
            raise _NotDoseReport(sop_class)
        if meta.get(0x00020010) != _EXPLICIT_LE:
            raise _Unsupported("transfer syntax")
        buf = meta_buf + f.read()
    ds, _ = _fast_dataset(buf, meta_end, len(buf), ["latin-1"])
    return ds


def _structure_end(buf: bytes, start: int, implicit: bool, little: bool) -> int | None:
    """Walk the element/item/sequence structure from ``start`` (any uncompressed transfer
    syntax); return the file size if the file ends inside an element, an item or an
    undefined-length sequence (truncated), else None. Used on the pydicom path, which reads
    a truncated file without complaint."""
    hh = struct.Struct("<HH" if little else ">HH")
    h = struct.Struct("<H" if little else ">H")
    i4 = struct.Struct("<I" if little else ">I")
    size = len(buf)

    def dataset(pos: int, in_item: bool) -> int:
        while pos < size:
            if pos + 8 > size:
                raise _Truncated(size)
            group, elem = hh.unpack_from(buf, pos)
            tag = (group << 16) | elem
            if tag == 0xFFFEE00D:
                return pos + 8
            vr = buf[pos + 4 : pos + 6]
            if implicit or tag >> 16 == 0xFFFE:
                length = i4.unpack_from(buf, pos + 4)[0]
                pos += 8
            elif vr in _LONG_VR:
                if pos + 12 > size:
                    raise _Truncated(size)
                length = i4.unpack_from(buf, pos + 8)[0]
                pos += 12
            else:
                length = h.unpack_from(buf, pos + 6)[0]
                pos += 8
            if length == 0xFFFFFFFF:
                pos = sequence(pos)
            elif pos + length > size:
                raise _Truncated(size)
            else:
                pos += length
        if in_item:
            raise _Truncated(size)
        return pos

    def sequence(pos: int) -> int:
        while True:
            if pos + 8 > size:
                raise _Truncated(size)
            group, elem = hh.unpack_from(buf, pos)
            ilen = i4.unpack_from(buf, pos + 4)[0]
            pos += 8
            if (group, elem) == (0xFFFE, 0xE0DD):
                return pos
            if (group, elem) != (0xFFFE, 0xE000):
                raise _Unsupported("bad sequence item")
            if ilen == 0xFFFFFFFF:
                pos = dataset(pos, True)
            elif pos + ilen > size:
                raise _Truncated(size)
            else:
                pos += ilen

    try:
        dataset(start, False)
    except _Truncated as exc:
        return exc.size
    except _Unsupported:
        return None
    return None


def _pydicom_truncation(path: str, ds: Any) -> int | None:
    """Truncation check for a file read by pydicom (see :func:`_structure_end`)."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 132 if buf[128:132] == b"DICM" else 0
    # file meta (group 2): always Explicit VR Little Endian
    while pos + 8 <= len(buf) and _H.unpack_from(buf, pos)[0] == 2:
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VR:
            pos += 12 + _I.unpack_from(buf, pos + 8)[0]
        else:
            pos += 8 + _H.unpack_from(buf, pos + 6)[0]
    if pos > len(buf):
        return len(buf)
    encoding = getattr(ds, "original_encoding", (None, None))
    implicit, little = encoding
    if implicit is None or little is None:
        return None
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if ts == "1.2.840.10008.1.2.1.99":  # deflated: the structure is compressed
        return None
    return _structure_end(buf, pos, bool(implicit), bool(little))


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
        with warnings.catch_warnings(record=True) as caught:
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
        for w in caught:  # pydicom's own warnings (invalid values, VR guesses, ...)
            state.lenient(f"pydicom: {w.message}", None)

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


# --------------------------------------------------------------------------------------------
# Files, parallel reading
# --------------------------------------------------------------------------------------------
def _collect_paths(path_or_paths: str | os.PathLike[str] | Iterable[Any]) -> list[tuple[str, str]]:
    """Every file to read, with its name relative to the input it was found under."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        items: list[Any] = [path_or_paths]
    else:
        items = list(path_or_paths)
    out: list[tuple[str, str]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file())
            out.extend((str(f), f.relative_to(p).as_posix()) for f in found)
        elif p.is_file():
            out.append((str(p), p.name))
        else:
            raise FileNotFoundError(f"no such file or folder: {str(p)!r}")
    return out


def file_pseudonym(relative_path: str, secret: bytes | str) -> str:
    """How :func:`read_rdsr` names a file under ``pseudonymise=``: ``"file:"`` and the
    HMAC-SHA256 of its path relative to the folder given (or its name, for a file given).

    Compute it for a file you hold to find the rows and problems of that file.
    """
    return "file:" + pseudonym(relative_path, check_secret(secret), "file")


def _show_progress(progress: bool | None, n: int) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return n >= PROGRESS_FROM and sys.stderr.isatty()
    except (AttributeError, ValueError):  # pragma: no cover
        return False


def _mp_context() -> Any:
    """Fork where available (Linux): a spawned child re-imports the caller's ``__main__``, which
    fails in scripts without an ``if __name__ == "__main__":`` guard. Elsewhere spawn."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_parse(
    jobs: list[tuple[str, str]],
    *,
    key: bytes | None,
    non_patient: Sequence[str] | None,
    workers: int | None,
    progress: bool | None,
) -> Iterable[dict[str, Any]]:
    n = len(jobs)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1 or None, got {workers}")
    bar: Any = None
    if _show_progress(progress, n):
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="file", desc="read_rdsr")
    try:
        if workers == 1 or n < SERIAL_BELOW:
            for p, d in jobs:
                yield _parse_file(p, display=d, key=key, non_patient=non_patient)
                if bar is not None:
                    bar.update(1)
            return
        workers = min(workers, n)
        chunk = max(1, min(256, math.ceil(n / (workers * 8))))
        chunks = [jobs[i : i + chunk] for i in range(0, n, chunk)]
        fn = functools.partial(_parse_chunk, key=key, non_patient=non_patient)
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
            with warnings.catch_warnings():
                # polars and CPython (3.12+) warn that fork() may deadlock a child that uses
                # their thread pools; the children here only parse DICOM with pydicom.
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                futures = [pool.submit(fn, c) for c in chunks]
            for fut in futures:
                results = fut.result()
                yield from results
                if bar is not None:
                    bar.update(len(results))
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------------------------
# Merge and tables
# --------------------------------------------------------------------------------------------
Problem = tuple[str, str | None, str, str | None]


def _cached_region(text: str | None, cache: dict[str | None, str | None], rules: Any) -> str | None:
    if text not in cache:
        cache[text] = normalise_region(text, rules=rules) if text else None
    return cache[text]


def _event_region(
    ev: dict[str, Any], head: dict[str, Any], cache: dict[str | None, str | None], rules: Any
) -> tuple[str | None, str | None]:
    """Region of an event and where it came from: its Target Region and Acquisition Protocol
    (combined by :func:`recurct.dose.exam_region`), else the Study Description, else the
    Requested Procedure Description of its report."""
    regions = {_cached_region(t, cache, rules) for t in (ev["target_region"], ev["protocol"])}
    region = exam_region(sorted(regions - {None}))
    if region is not None:
        return region, "event"
    for col in ("study_description", "requested_procedure"):
        region = _cached_region(head[col], cache, rules)
        if region is not None:
            return region, col
    return None, None


def _birth_date_conflicts(headers: list[dict[str, Any]]) -> list[Problem]:
    """One problem per report of a patient ID whose reports give different birth dates."""
    dates: dict[str, set[Any]] = {}
    files: dict[str, list[str]] = {}
    for h in headers:
        if h["patient_id"] is None or h["birth_date"] is None:
            continue
        dates.setdefault(h["patient_id"], set()).add(h["birth_date"])
        files.setdefault(h["patient_id"], []).append(h["source_file"])
    out: list[Problem] = []
    for pid in sorted(dates):
        if len(dates[pid]) > 1:
            reason = (
                f"the reports of this patient ID give {len(dates[pid])} different birth dates "
                f"({len(files[pid])} reports); each report's age uses its own birth date"
            )
            out += [(f, "PatientBirthDate", "lenient", reason) for f in sorted(files[pid])]
    return out


def _assign_exams(headers: list[dict[str, Any]]) -> list[Problem]:
    """Give each report its exam: one Study Instance UID *and* one patient.

    Reports of a study whose patient IDs differ, or whose birth dates or sexes differ where
    given, are different exams (``exam_key`` = (study UID, index)); each such report gets a
    problem row naming every file of the study, and nothing is merged across patients.
    """
    by_study: dict[str, list[dict[str, Any]]] = {}
    for h in headers:
        by_study.setdefault(h["study_uid"], []).append(h)
    problems: list[Problem] = []
    for study, hs in by_study.items():
        by_pid: dict[str | None, list[dict[str, Any]]] = {}
        for h in hs:
            by_pid.setdefault(h["patient_id"], []).append(h)
        groups: list[list[dict[str, Any]]] = []
        differ: set[str] = set()
        if len(by_pid) > 1:
            differ.add("patient ID")
        for phs in by_pid.values():
            births = {h["birth_date"] for h in phs} - {None}
            sexes = {h["sex"] for h in phs} - {None}
            if len(births) <= 1 and len(sexes) <= 1:
                groups.append(phs)
                continue
            differ |= {"birth date"} if len(births) > 1 else set()
            differ |= {"sex"} if len(sexes) > 1 else set()
            sub: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
            for h in phs:
                sub.setdefault((h["birth_date"], h["sex"]), []).append(h)
            groups.extend(sub.values())
        groups.sort(key=lambda g: min(h["source_file"] for h in g))
        for j, g in enumerate(groups):
            for h in g:
                h["exam_key"] = (study, j)
                h["identity_conflict"] = len(groups) > 1
        if len(groups) > 1:
            files = sorted(h["source_file"] for h in hs)
            reason = (
                f"the reports of one Study Instance UID belong to {len(groups)} different "
                f"patients ({', '.join(sorted(differ))} differ; reports: {'; '.join(files)}): "
                f"kept as {len(groups)} separate exams, nothing merged"
            )
            problems += [(f, "PatientID", "kept apart", reason) for f in files]
    return problems


def _cover(reports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The reports whose events make up the exam: the report with the most events, then each
    report that adds events (a continued study). A report that only repeats events is left
    out. The flag says whether two chosen reports share some events (then their totals cannot
    be added)."""
    covered: set[str] = set()
    chosen = []
    overlap = False
    for h in reports:  # most events first
        if h["event_uids"] <= covered:
            continue
        overlap = overlap or bool(h["event_uids"] & covered)
        chosen.append(h)
        covered |= h["event_uids"]
    return chosen, overlap


def _mismatch(reported: float | None, total: float | None, n_values: int) -> bool | None:
    """Reported total differs from the event sum beyond rounding.

    Tolerance: 0.05 mGy·cm per value summed (event DLPs and reported totals, rounded to one
    decimal place at worst) or 0.1 % of the reported total, whichever is larger.
    """
    if reported is None or total is None:
        return None
    tol = max(0.05 * (n_values + 1), 1e-3 * abs(reported))
    return abs(reported - total) > tol


def _exam_row(
    evs: list[dict[str, Any]], reports: list[dict[str, Any]], problems: list[Problem]
) -> dict[str, Any]:
    """One exam from its unique events and its reports (the report with the most events
    first)."""
    b = reports[0]
    chosen, overlap = _cover(reports)
    counts = [h["reported_n_events"] for h in chosen]
    if not overlap and all(c is not None for c in counts):
        expected: int | None = sum(counts)  # type: ignore[arg-type]
    else:
        expected = max((h["reported_n_events"] or 0 for h in reports), default=0) or None
    lost = (expected is not None and expected > len(evs)) or any(h["damaged"] for h in chosen)
    no_dlp = [e for e in evs if e["dlp_missing"]]
    dlps = [e["dlp_mgycm"] for e in evs if e["dlp_mgycm"] is not None]
    event_sum = math.fsum(dlps) if dlps else None
    dlp = None if (lost or no_dlp) else event_sum
    if lost:
        problems.append(
            (
                b["source_file"],
                "Total Number of Irradiation Events (113812)",
                "lenient",
                f"the exam holds {len(evs)} irradiation events"
                + (f" of {expected} reported" if expected is not None else "")
                + " (events lost from a damaged report): exam DLP and effective dose left null",
            )
        )
    totals = [h["reported_dlp_total_mgycm"] for h in chosen]
    reported = None if overlap or any(t is None for t in totals) else math.fsum(totals)  # type: ignore[arg-type]
    with_dlp = [e for e in evs if e["dlp_mgycm"] is not None]
    main = max(with_dlp, key=lambda e: e["dlp_mgycm"]) if with_dlp else None
    ctdi = main["ctdivol_mgy"] if main is not None else None
    if ctdi is None:
        ctdis = [e["ctdivol_mgy"] for e in evs if e["ctdivol_mgy"] is not None]
        ctdi = max(ctdis) if ctdis else None
    region = exam_region(
        [e["body_region"] for e in evs],
        [e["dlp_mgycm"] for e in evs],
        [e["localizer"] for e in evs],
    )
    # the accumulated Effective Dose of a report that holds every unique event, else the sum
    # of those of the reports of a continued study, else the sum of the event Effective Doses
    # where every event with a DLP has one
    uids = {e["event_uid"] for e in evs}
    ed = next(
        (
            h["accumulated_effective_dose_msv"]
            for h in reports
            if h["accumulated_effective_dose_msv"] is not None and uids <= h["event_uids"]
        ),
        None,
    )
    eds = [h["accumulated_effective_dose_msv"] for h in chosen]
    if ed is None and not overlap and all(x is not None for x in eds):
        ed = math.fsum(eds)  # type: ignore[arg-type]
    if ed is None:
        dosed = [e for e in evs if e["dlp_mgycm"] is not None]
        if dosed and all(e["effective_dose_msv"] is not None for e in dosed):
            ed = math.fsum(e["effective_dose_msv"] for e in dosed)
    if lost or no_dlp:
        ed = None
    size_ev = main if main is not None and main["ssde_mgy"] is not None else None
    size_ev = size_ev or next((e for e in evs if e["ssde_mgy"] is not None), None)
    first = lambda col: next((h[col] for h in reports if h[col] is not None), None)  # noqa: E731
    return {
        **{k: b[k] for k in ("patient_id", "exam_date", "study_uid", "age_years", "sex")},
        **{k: b[k] for k in ("facility", "station_name", "manufacturer", "model")},
        "dlp_mgycm": dlp,
        "reported_dlp_total_mgycm": reported,
        "dlp_total_mismatch": _mismatch(
            reported, None if dlp is None else event_sum, len(dlps) + len(chosen) - 1
        ),
        "ctdivol_mgy": ctdi,
        "body_region": region,
        "n_events": len(evs),
        "n_reports": len(reports),
        "effective_dose_msv": ed,
        "dose_method": REPORTED_DOSE_METHOD if ed is not None else None,
        **{
            col: first(col)
            for col in (
                "accession_number",
                "study_description",
                "requested_procedure",
                "patient_weight_kg",
                "patient_size_m",
            )
        },
        **{
            col: size_ev[col] if size_ev is not None else None
            for col in ("ssde_mgy", "ssde_method", "water_equivalent_diameter_mm")
        },
        "identity_conflict": b["identity_conflict"],
    }


def _build(
    results: Iterable[dict[str, Any]],
    *,
    level: str,
    errors: str,
    include_non_patient: bool,
    non_patient_given: bool,
    region_rules: Any = None,
) -> tuple[pl.DataFrame, ReadReport]:
    headers: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    problems: list[Problem] = []
    files_read = files_skipped = 0
    for res in results:
        if errors == "raise" and res["problems"]:
            file, reason_field, _action, reason = res["problems"][0]
            raise RdsrReadError(
                f"{file}: {reason} (field: {reason_field or 'whole file'}); "
                'use errors="skip" to skip or repair such values and list them in the report'
            )
        problems.extend(res["problems"])
        if not res["ok"]:
            files_skipped += 1
            continue
        files_read += 1
        h = res["header"]
        headers.append(
            {
                **h,
                "n_events_in_report": len(res["events"]),
                "event_uids": {ev["event_uid"] for ev in res["events"]},
                "events": res["events"],
            }
        )
    problems.extend(_birth_date_conflicts(headers))
    problems.extend(_assign_exams(headers))
    if errors == "raise" and problems:
        file, reason_field, _action, reason = problems[-1]
        raise RdsrReadError(
            f"{file}: {reason} (field: {reason_field}); "
            'use errors="skip" to list such problems in the report'
        )

    # reports of an exam: the report with the most events first, then by file (order free)
    headers.sort(key=lambda h: (h["exam_key"], -h["n_events_in_report"], h["source_file"]))
    by_exam: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for h in headers:
        by_exam.setdefault(h["exam_key"], []).append(h)
        for ev in h["events"]:
            events.append(
                {
                    **ev,
                    "exam_key": h["exam_key"],
                    "source_file": h["source_file"],
                    "n_events_in_report": h["n_events_in_report"],
                }
            )
    non_patient_exam = {k: any(h["non_patient"] for h in hs) for k, hs in by_exam.items()}
    report = ReadReport(
        files_read=files_read,
        files_skipped=files_skipped,
        non_patient_excluded=not include_non_patient,
        non_patient_studies=sum(non_patient_exam.values()),
    )

    # Unique events: one row per (exam, event UID), from the report with the most events.
    events.sort(
        key=lambda e: (e["exam_key"], e["event_uid"], -e["n_events_in_report"], e["source_file"])
    )
    unique: list[dict[str, Any]] = []
    last: tuple[Any, str] | None = None
    for ev in events:
        k = (ev["exam_key"], ev["event_uid"])
        if k == last:
            report.duplicate_events += 1
            continue
        last = k
        unique.append(ev)

    cache: dict[str | None, str | None] = {}
    unmapped: set[tuple[str, str]] = set()
    for ev in unique:
        b = by_exam[ev["exam_key"]][0]
        ev["body_region"], ev["region_source"] = _event_region(ev, b, cache, region_rules)
        target = ev["target_region"]
        if target and _cached_region(target, cache, region_rules) is None:
            unmapped.add((ev["source_file"], target))
    for file, target in sorted(unmapped):
        problems.append(
            (
                file,
                "Target Region (123014)",
                "lenient",
                f"Target Region {target!r} maps to no body region (pass region_rules= to map "
                "it); the event's region comes from its protocol or the study's descriptions",
            )
        )
    for ev in unique:
        b = by_exam[ev["exam_key"]][0]
        ev["non_patient"] = non_patient_exam[ev["exam_key"]]
        ev["dose_method"] = REPORTED_DOSE_METHOD if ev["effective_dose_msv"] is not None else None
        for col in ("study_uid", "patient_id", "exam_date"):  # one exam: one patient, one date
            ev[col] = b[col]

    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for ev in unique:
        by_key.setdefault(ev["exam_key"], []).append(ev)
    rows = []  # every exam, at both levels, so that both report the same problems
    for k, evs in by_key.items():
        row = _exam_row(evs, by_exam[k], problems)
        row["non_patient"] = non_patient_exam[k]
        rows.append(row)
    report.problems = _problem_frame(problems)

    if level == "event":
        cols = dict(EVENT_COLUMNS)
        if include_non_patient and non_patient_given:
            cols["non_patient"] = pl.Boolean()
        evrows = [ev for ev in unique if include_non_patient or not ev["non_patient"]]
        # exams in time order, events in the order of the report they were taken from
        evrows.sort(
            key=lambda e: (
                e["exam_date"] is None,
                e["exam_date"] or datetime.min,
                e["exam_key"],
                e["source_file"],
                e["index"],
            )
        )
        table = pl.DataFrame(
            [{k: ev.get(k) for k in cols} for ev in evrows],
            schema=cols,  # type: ignore[arg-type]
        )
        return table, report

    rows = [r for r in rows if include_non_patient or not r["non_patient"]]
    cols = {**EXAM_COLUMNS, **EXAM_EXTRA_COLUMNS}
    if include_non_patient and non_patient_given:
        cols["non_patient"] = pl.Boolean()
    table = pl.DataFrame(
        [{k: r[k] for k in cols} for r in rows],
        schema=cols,  # type: ignore[arg-type]
    )
    table = table.sort(["patient_id", "exam_date", "study_uid"], nulls_last=True)
    return table, report


def _problem_frame(problems: list[Problem]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"file": f, "reason": r, "field": fld, "action": a} for f, fld, a, r in problems],
        schema=PROBLEM_COLUMNS,  # type: ignore[arg-type]
    )


def read_rdsr(
    path_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    level: Literal["exam", "event"] = "exam",
    *,
    pseudonymise: Literal["hmac-sha256"] | None = None,
    salt: bytes | str | None = None,
    non_patient: Sequence[str] | None = None,
    include_non_patient: bool = False,
    workers: int | None = None,
    errors: Literal["skip", "raise"] = "skip",
    progress: bool | None = None,
    secret: bytes | str | None = None,
    region_rules: Any = None,
) -> tuple[pl.DataFrame, ReadReport]:
    """Read CT dose reports (DICOM RDSR or Enhanced SR with TID 10011) into a table.

    Parameters
    ----------
    path_or_paths : path or iterable of paths
        A file, a list of files, or a folder searched recursively (any file name, with or
        without ``.dcm``; files that are not CT dose reports are skipped and listed).
    level : {"exam", "event"}
        ``"event"``: one row per unique CT irradiation event (columns :data:`EVENT_COLUMNS`).
        ``"exam"``: one row per exam in the canonical exam schema (:data:`EXAM_COLUMNS`). An
        exam is the reports of one Study Instance UID *and* one patient (patient ID, and birth
        date and sex where given): reports of one UID that name different patients are kept
        as separate exams (``identity_conflict`` true, a ``"kept apart"`` problem row naming
        every file). ``dlp_mgycm`` is the sum of DLP over the unique events of the exam, or
        null (never a partial sum) where an event other than a localizer has no DLP or events
        were lost (fewer than the reports' Total Number of Irradiation Events, 113812, or a
        damaged CT Acquisition), each with a problem row; ``reported_dlp_total_mgycm`` is the
        CT Dose Length Product Total (113813) of the report with the most events, plus those
        of the reports that add events to it (a continued study: disjoint events), null where
        such reports share some events; ``dlp_total_mismatch`` is true where
        ``reported_dlp_total_mgycm`` and the event sum differ by more than rounding (0.05
        mGy·cm per summed value or 0.1 %); ``ctdivol_mgy`` is the Mean CTDIvol of the
        event with the largest DLP (the main scan, not a bolus-tracking or localizer event);
        ``body_region`` is :func:`recurct.dose.exam_region` of the events' regions, DLPs and
        localizer flags; ``effective_dose_msv`` is the accumulated Effective Dose (113839) of
        a report that holds every unique event of the study, else the sum of the event
        Effective Doses where every event with a DLP has one, else null (fill it with
        :func:`recurct.dose.effective_dose`). Each event's region is that of its Target Region
        and Acquisition Protocol, else of the Study Description, else of the Requested
        Procedure Description (``region_source`` in the event table). After the canonical
        columns (:data:`EXAM_EXTRA_COLUMNS`): ``dose_method``
        (:data:`REPORTED_DOSE_METHOD` where the dose is the report's), ``accession_number``,
        ``study_description``, ``requested_procedure``, ``patient_weight_kg`` and
        ``patient_size_m`` (Patient's Weight and Size), ``ssde_mgy`` (Size Specific Dose
        Estimate, 113930), ``ssde_method`` (its Measurement Method) and
        ``water_equivalent_diameter_mm`` (113980) of the largest-DLP event that has them,
        and ``identity_conflict``; null where absent. ``age_years`` comes from
        the birth date and study date when both are valid, else from Patient's Age; a patient
        ID whose reports give different birth dates is listed in the report (field
        ``PatientBirthDate``). Event tables carry ``localizer`` (CT Acquisition Type 113805,
        Constant Angle Acquisition) and ``dose_method``.
    pseudonymise : {"hmac-sha256"} or None
        Pseudonymise inside the reader, before anything is returned: patient IDs, Study and
        Irradiation Event UIDs and accession numbers become their keyed pseudonyms
        (:func:`pseudonymise_id`, consistent across files and runs, so exams still link), file
        names become :func:`file_pseudonym` of their path relative to the folder given, and
        problem texts are scrubbed of raw identifiers. Requires ``secret``.
    salt : bytes or str, optional
        The secret under its former name (give one of ``salt`` and ``secret``).
    non_patient : sequence of str, optional
        Case-insensitive glob patterns (e.g. ``["*qa*", "*phantom*", "*test*"]``) matched on
        the patient ID and patient name; matching studies are QA / phantom scans.
    include_non_patient : bool
        Keep those studies, with a boolean column ``non_patient``; by default they are left out
        (and counted in the report).
    workers : int, optional
        Processes for reading many files (None: ``os.cpu_count()``); fewer than
        :data:`SERIAL_BELOW` files are read in the calling process.
    errors : {"skip", "raise"}
        ``"skip"``: skip unusable files (not DICOM, not a CT dose report, truncated: "truncated
        at byte N") and repair or null malformed values, listing each in
        :attr:`ReadReport.problems`. ``"raise"``: raise :class:`RdsrReadError` (naming the
        file and the field) at the first problem.
    progress : bool, optional
        Show a tqdm progress bar; None: when stderr is a terminal and there are many files.
    secret : bytes or str, optional
        Secret key of at least 128 bits for ``pseudonymise`` (e.g. ``secrets.token_hex(32)``,
        kept outside the code; rule in :mod:`recurct.io.pseudonym`); weaker secrets are
        refused. Keep it to link later extractions.
    region_rules : optional
        Extra region rules, tried before the shared ones, as ``rules`` of
        :func:`recurct.dose.normalise_region`.

    Returns
    -------
    table : polars.DataFrame
        The exam or event table. Patient names and birth dates are never included.
    report : ReadReport
        Files read and skipped, and every problem as (file, reason, field, action).
    """
    _import_pydicom()
    if level not in ("exam", "event"):
        raise ValueError(f'level must be "exam" or "event", got {level!r}')
    if errors not in ("skip", "raise"):
        raise ValueError(f'errors must be "skip" or "raise", got {errors!r}')
    key = check_method(pseudonymise, _one_secret(salt, secret))
    if isinstance(non_patient, str):
        non_patient = [non_patient]
    jobs = _collect_paths(path_or_paths)
    if key is not None:
        jobs = [(p, "file:" + pseudonym(rel, key, "file")) for p, rel in jobs]
    else:
        jobs = [(p, p) for p, _ in jobs]
    results = _run_parse(
        jobs,
        key=key,
        non_patient=list(non_patient) if non_patient else None,
        workers=workers,
        progress=progress,
    )
    return _build(
        results,
        level=level,
        errors=errors,
        include_non_patient=include_non_patient,
        non_patient_given=bool(non_patient),
        region_rules=region_rules,
    )


def _one_secret(salt: bytes | str | None, secret: bytes | str | None) -> bytes | str | None:
    if salt is not None and secret is not None:
        raise ValueError("give the pseudonymisation secret once: secret=... (or salt=...)")
    return secret if secret is not None else salt
