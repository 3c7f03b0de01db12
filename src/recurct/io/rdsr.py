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
import hashlib
import math
import multiprocessing
import os
import re
import struct
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct.dose import exam_region, normalise_region
from recurct.schema import dicom_age_years

__all__ = [
    "EVENT_COLUMNS",
    "EXAM_COLUMNS",
    "RdsrReadError",
    "ReadReport",
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
``dose_method`` after them (:data:`REPORTED_DOSE_METHOD` where the dose is the report's)."""

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
        used; ``"lenient"``: the file was used, the value was repaired or left null).
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


def pseudonymise_id(patient_id: str, salt: str) -> str:
    """Salted SHA-256 pseudonym of a patient ID: ``sha256(salt + "\\x1f" + id)`` as hex.

    Deterministic for one salt (the same patient links across files and runs), different for
    another salt; the raw ID cannot be recovered without the salt.
    """
    data = salt.encode("utf-8") + b"\x1f" + patient_id.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


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

    def lenient(self, reason: str, fld: str | None) -> None:
        self.problems.append((self.path, fld, "lenient", reason))

    def skip(self, reason: str, fld: str | None) -> dict[str, Any]:
        self.problems.append((self.path, fld, "skipped", reason))
        return {"path": self.path, "ok": False, "problems": self.problems}


def _num(item: Any, label: str, state: _FileState) -> float | None:
    """NUM content item value in the canonical unit, read leniently from the raw DS text."""
    seq = _value(item, _T_MEASURED)
    if not seq:
        return None
    mv = seq[0]
    text = _raw_tag(mv, _T_NUMERIC)
    if text is None or text == "":
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
    salt: str | None,
    non_patient: Sequence[str] | None,
) -> dict[str, Any]:
    """Parse one file into plain data (picklable); never raises for a bad file."""
    state = _FileState(path)
    pydicom = _import_pydicom()
    try:
        return _parse_file_inner(pydicom, path, state, salt=salt, non_patient=non_patient)
    except Exception as exc:  # a malformed file must never stop a folder
        return state.skip(f"unreadable: {type(exc).__name__}: {exc}", None)


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


def _parse_file_inner(
    pydicom: Any,
    path: str,
    state: _FileState,
    *,
    salt: str | None,
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

    sop_class = _raw_text(ds, "SOPClassUID") or ""
    root = _code(ds)
    content = _children(ds)
    if sop_class not in SOP_CLASS_NAMES or not content:
        name = sop_class or "missing"
        return state.skip(f"not a dose report (SOP Class UID {name})", "SOPClassUID")
    templates = {str(_value(t, 0x0040DB00) or "").strip() for t in _value(ds, 0x0040A504) or ()}
    if root != XRAY_DOSE_REPORT and "10011" not in templates:
        return state.skip(
            f"SR is not an X-Ray Radiation Dose Report (document title {root})",
            "ConceptNameCodeSequence",
        )
    acquisitions = [it for it in content if _code(it) == CT_ACQUISITION]
    if not acquisitions:
        tid = ",".join(sorted(t for t in templates if t)) or "none"
        return state.skip(
            f"dose report without CT acquisitions (template {tid}; projection X-ray, "
            "fluoroscopy or mammography?)",
            "CT Acquisition (113819)",
        )

    # ---- header -------------------------------------------------------------------------
    study_uid = _raw_text(ds, "StudyInstanceUID")
    if not study_uid:
        scope = _first(content, SCOPE_OF_ACCUMULATION)
        scope_uid = _first(_children(scope), STUDY_INSTANCE_UID) if scope is not None else None
        study_uid = str(_value(scope_uid, _T_UID) or "").strip() if scope_uid is not None else None
        if study_uid:
            state.lenient("no Study Instance UID; taken from Scope of Accumulation", "StudyUID")
        else:
            study_uid = "sop:" + (_raw_text(ds, "SOPInstanceUID") or path)
            state.lenient("no Study Instance UID; the report is its own study", "StudyInstanceUID")
    exam_date = _parse_da_tm(_raw_text(ds, "StudyDate"), _raw_text(ds, "StudyTime"))
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

    raw_id = _raw_text(ds, "PatientID") or ""
    name = _raw_text(ds, "PatientName") or ""
    is_non_patient = bool(non_patient) and _matches(non_patient or (), raw_id, name)
    patient_id: str | None = raw_id or None
    if patient_id is None:
        state.lenient("no Patient ID", "PatientID")
    elif salt is not None:
        patient_id = pseudonymise_id(patient_id, salt)

    sex = (_raw_text(ds, "PatientSex") or "").upper() or None
    if sex is not None and sex not in ("F", "M", "O"):
        state.lenient(f"Patient's Sex {sex!r} is not F/M/O; left null", "PatientSex")
        sex = None
    birth_text = _raw_text(ds, "PatientBirthDate")
    age = _age_years(_raw_text(ds, "PatientAge"), birth_text, exam_date, state)
    birth_dt = _parse_da_tm(birth_text, None)

    accumulated = _first(content, CT_ACCUMULATED)
    reported_total = None
    accumulated_ed = None
    if accumulated is not None:
        acc_items = _children(accumulated)
        total = _first(acc_items, CT_DLP_TOTAL)
        if total is not None:
            reported_total = _num(total, "CT Dose Length Product Total (113813)", state)
        ed = _first(acc_items, EFFECTIVE_DOSE)
        if ed is not None:
            accumulated_ed = _num(ed, "Effective Dose (113839)", state)

    header = {
        "study_uid": study_uid,
        "patient_id": patient_id,
        "exam_date": exam_date,
        "age_years": age,
        "sex": sex,
        "facility": _raw_text(ds, "InstitutionName") or None,
        "station_name": _raw_text(ds, "StationName") or None,
        "manufacturer": _raw_text(ds, "Manufacturer") or None,
        "model": _raw_text(ds, "ManufacturerModelName") or None,
        "reported_dlp_total_mgycm": reported_total,
        "accumulated_effective_dose_msv": accumulated_ed,
        "non_patient": is_non_patient,
        "source_file": path,
        # only to find conflicting birth dates across reports; never in the table
        "birth_date": birth_dt.date() if birth_dt is not None else None,
    }

    # ---- events -------------------------------------------------------------------------
    sop_uid = _raw_text(ds, "SOPInstanceUID") or path
    events = []
    for i, acq in enumerate(acquisitions, 1):
        items = _children(acq)
        ev: dict[str, Any] = {"localizer": False, "index": i}
        uid_item = _first(items, IRRADIATION_EVENT_UID)
        uid = str(_value(uid_item, _T_UID) or "").strip() if uid_item is not None else ""
        if not uid:
            uid = f"{sop_uid}#{i}"
            state.lenient(
                f"CT acquisition {i} has no Irradiation Event UID; cannot be merged across reports",
                "Irradiation Event UID (113769)",
            )
        ev["event_uid"] = uid
        proto = _first(items, ACQUISITION_PROTOCOL)
        ev["protocol"] = (
            (str(_value(proto, _T_TEXT) or "").strip() or None) if proto is not None else None
        )
        target = _first(items, TARGET_REGION)
        ev["target_region"] = _meaning(target) if target is not None else None
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
        for code, key, label in (
            (MEAN_CTDIVOL, "ctdivol_mgy", "Mean CTDIvol (113830)"),
            (DLP, "dlp_mgycm", "DLP (113838)"),
            (EFFECTIVE_DOSE, "effective_dose_msv", "Effective Dose (113839)"),
        ):
            it = _first(dose_items, code)
            ev[key] = _num(it, f"{label}, event {i}", state) if it is not None else None
        phantom = _first(dose_items, PHANTOM_TYPE)
        ev["phantom_type"] = _meaning(phantom) if phantom is not None else None
        for key in DOSE_CHECK_VALUES.values():
            ev[key] = None
        for container in dose_items:
            if _code(container) in (DOSE_CHECK_ALERT, DOSE_CHECK_NOTIFICATION):
                for it in _children(container):
                    key = DOSE_CHECK_VALUES.get(_code(it))  # type: ignore[arg-type]
                    if key is not None:
                        ev[key] = _num(it, f"{key} ({_code(it)[0]}), event {i}", state)  # type: ignore[index]
        events.append(ev)
    return {
        "path": path,
        "ok": True,
        "problems": state.problems,
        "header": header,
        "events": events,
    }


def _parse_chunk(
    paths: Sequence[str], salt: str | None, non_patient: Sequence[str] | None
) -> list[dict[str, Any]]:
    return [_parse_file(p, salt=salt, non_patient=non_patient) for p in paths]


# --------------------------------------------------------------------------------------------
# Files, parallel reading
# --------------------------------------------------------------------------------------------
def _collect_paths(path_or_paths: str | os.PathLike[str] | Iterable[Any]) -> list[str]:
    if isinstance(path_or_paths, (str, os.PathLike)):
        items: list[Any] = [path_or_paths]
    else:
        items = list(path_or_paths)
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(str(f) for f in p.rglob("*") if f.is_file()))
        elif p.is_file():
            out.append(str(p))
        else:
            raise FileNotFoundError(f"no such file or folder: {str(p)!r}")
    return out


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
    paths: list[str],
    *,
    salt: str | None,
    non_patient: Sequence[str] | None,
    workers: int | None,
    progress: bool | None,
) -> Iterable[dict[str, Any]]:
    n = len(paths)
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
            for p in paths:
                yield _parse_file(p, salt=salt, non_patient=non_patient)
                if bar is not None:
                    bar.update(1)
            return
        workers = min(workers, n)
        chunk = max(1, min(256, math.ceil(n / (workers * 8))))
        chunks = [paths[i : i + chunk] for i in range(0, n, chunk)]
        fn = functools.partial(_parse_chunk, salt=salt, non_patient=non_patient)
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
def _event_region(
    target: str | None, protocol: str | None, cache: dict[str | None, str | None]
) -> str | None:
    regions = {_cached_region(t, cache) for t in (target, protocol)} - {None}
    return exam_region(sorted(regions))


def _cached_region(text: str | None, cache: dict[str | None, str | None]) -> str | None:
    if text not in cache:
        cache[text] = normalise_region(text) if text else None
    return cache[text]


def _birth_date_conflicts(
    headers: list[dict[str, Any]],
) -> list[tuple[str, str | None, str, str | None]]:
    """One problem per report of a patient ID whose reports give different birth dates."""
    dates: dict[str, set[Any]] = {}
    files: dict[str, list[str]] = {}
    for h in headers:
        if h["patient_id"] is None or h["birth_date"] is None:
            continue
        dates.setdefault(h["patient_id"], set()).add(h["birth_date"])
        files.setdefault(h["patient_id"], []).append(h["source_file"])
    out: list[tuple[str, str | None, str, str | None]] = []
    for pid in sorted(dates):
        if len(dates[pid]) > 1:
            reason = (
                f"the reports of this patient ID give {len(dates[pid])} different birth dates "
                f"({len(files[pid])} reports); each report's age uses its own birth date"
            )
            out += [(f, "PatientBirthDate", "lenient", reason) for f in sorted(files[pid])]
    return out


def _mismatch(reported: float | None, total: float | None, n_events: int) -> bool | None:
    """Reported total differs from the event sum beyond rounding.

    Tolerance: 0.05 mGy·cm per value summed (event DLPs and the total rounded to one decimal
    place at worst) or 0.1 % of the reported total, whichever is larger.
    """
    if reported is None or total is None:
        return None
    tol = max(0.05 * (n_events + 1), 1e-3 * abs(reported))
    return abs(reported - total) > tol


def _build(
    results: Iterable[dict[str, Any]],
    *,
    level: str,
    errors: str,
    include_non_patient: bool,
    non_patient_given: bool,
) -> tuple[pl.DataFrame, ReadReport]:
    headers: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    problems: list[tuple[str, str | None, str, str | None]] = []
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
            }
        )
        for ev in res["events"]:
            events.append(
                {
                    **ev,
                    "study_uid": h["study_uid"],
                    "patient_id": h["patient_id"],
                    "exam_date": h["exam_date"],
                    "source_file": h["source_file"],
                    "n_events_in_report": len(res["events"]),
                }
            )
    problems.extend(_birth_date_conflicts(headers))
    if errors == "raise" and problems:
        file, reason_field, _action, reason = problems[-1]
        raise RdsrReadError(
            f"{file}: {reason} (field: {reason_field}); "
            'use errors="skip" to list such problems in the report'
        )
    problem_df = pl.DataFrame(
        [{"file": f, "reason": r, "field": fld, "action": a} for f, fld, a, r in problems],
        schema=PROBLEM_COLUMNS,  # type: ignore[arg-type]
    )
    report = ReadReport(
        files_read=files_read,
        files_skipped=files_skipped,
        problems=problem_df,
        non_patient_excluded=not include_non_patient,
    )

    # Best report per study: most events, then the smallest file path (order independent).
    headers.sort(key=lambda h: (h["study_uid"], -h["n_events_in_report"], h["source_file"]))
    best: dict[str, dict[str, Any]] = {}
    n_reports: dict[str, int] = {}
    non_patient_study: dict[str, bool] = {}
    for h in headers:
        best.setdefault(h["study_uid"], h)
        n_reports[h["study_uid"]] = n_reports.get(h["study_uid"], 0) + 1
        non_patient_study[h["study_uid"]] = non_patient_study.get(h["study_uid"], False) or bool(
            h["non_patient"]
        )
    report.non_patient_studies = sum(non_patient_study.values())

    # Unique events: one row per (study, event UID), from the report with the most events.
    events.sort(
        key=lambda e: (e["study_uid"], e["event_uid"], -e["n_events_in_report"], e["source_file"])
    )
    unique: list[dict[str, Any]] = []
    last: tuple[str, str] | None = None
    for ev in events:
        key = (ev["study_uid"], ev["event_uid"])
        if key == last:
            report.duplicate_events += 1
            continue
        last = key
        unique.append(ev)

    cache: dict[str | None, str | None] = {}
    for ev in unique:
        ev["body_region"] = _event_region(ev["target_region"], ev["protocol"], cache)
        ev["non_patient"] = non_patient_study[ev["study_uid"]]
        ev["dose_method"] = REPORTED_DOSE_METHOD if ev["effective_dose_msv"] is not None else None
        # exam-level header of the best report (same study: one patient, one date)
        b = best[ev["study_uid"]]
        ev["patient_id"], ev["exam_date"] = b["patient_id"], b["exam_date"]

    if level == "event":
        cols = dict(EVENT_COLUMNS)
        if include_non_patient and non_patient_given:
            cols["non_patient"] = pl.Boolean()
        rows = [
            ev for ev in unique if include_non_patient or not non_patient_study[ev["study_uid"]]
        ]
        # exams in time order, events in the order of the report they were taken from
        rows.sort(
            key=lambda e: (
                e["exam_date"] is None,
                e["exam_date"] or datetime.min,
                e["study_uid"],
                e["source_file"],
                e["index"],
            )
        )
        table = pl.DataFrame(
            [{k: ev.get(k) for k in cols} for ev in rows],
            schema=cols,  # type: ignore[arg-type]
        )
        return table, report

    by_report: dict[str, list[dict[str, Any]]] = {}
    for h in headers:  # sorted: the report with the most events first
        by_report.setdefault(h["study_uid"], []).append(h)
    by_study: dict[str, list[dict[str, Any]]] = {}
    for ev in unique:
        by_study.setdefault(ev["study_uid"], []).append(ev)
    rows = []
    for study, evs in by_study.items():
        if non_patient_study[study] and not include_non_patient:
            continue
        b = best[study]
        dlps = [e["dlp_mgycm"] for e in evs if e["dlp_mgycm"] is not None]
        dlp = math.fsum(dlps) if dlps else None
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
        # the accumulated Effective Dose of a report that holds every unique event, else the
        # sum of the event Effective Doses where every event with a DLP has one
        uids = {e["event_uid"] for e in evs}
        ed = next(
            (
                h["accumulated_effective_dose_msv"]
                for h in by_report[study]
                if h["accumulated_effective_dose_msv"] is not None and uids <= h["event_uids"]
            ),
            None,
        )
        if ed is None:
            dosed = [e for e in evs if e["dlp_mgycm"] is not None]
            if dosed and all(e["effective_dose_msv"] is not None for e in dosed):
                ed = math.fsum(e["effective_dose_msv"] for e in dosed)
        reported = b["reported_dlp_total_mgycm"]
        rows.append(
            {
                **{k: b[k] for k in ("patient_id", "exam_date", "study_uid", "age_years", "sex")},
                **{k: b[k] for k in ("facility", "station_name", "manufacturer", "model")},
                "dlp_mgycm": dlp,
                "reported_dlp_total_mgycm": reported,
                "dlp_total_mismatch": _mismatch(reported, dlp, len(dlps)),
                "ctdivol_mgy": ctdi,
                "body_region": region,
                "n_events": len(evs),
                "n_reports": n_reports[study],
                "effective_dose_msv": ed,
                "dose_method": REPORTED_DOSE_METHOD if ed is not None else None,
                "non_patient": non_patient_study[study],
            }
        )
    cols = {**EXAM_COLUMNS, "dose_method": pl.Utf8()}
    if include_non_patient and non_patient_given:
        cols["non_patient"] = pl.Boolean()
    table = pl.DataFrame(
        [{k: r[k] for k in cols} for r in rows],
        schema=cols,  # type: ignore[arg-type]
    )
    table = table.sort(["patient_id", "exam_date", "study_uid"], nulls_last=True)
    return table, report


def read_rdsr(
    path_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    level: Literal["exam", "event"] = "exam",
    *,
    pseudonymise: Literal["salted-sha256"] | None = None,
    salt: str | None = None,
    non_patient: Sequence[str] | None = None,
    include_non_patient: bool = False,
    workers: int | None = None,
    errors: Literal["skip", "raise"] = "skip",
    progress: bool | None = None,
) -> tuple[pl.DataFrame, ReadReport]:
    """Read CT dose reports (DICOM RDSR or Enhanced SR with TID 10011) into a table.

    Parameters
    ----------
    path_or_paths : path or iterable of paths
        A file, a list of files, or a folder searched recursively (any file name, with or
        without ``.dcm``; files that are not CT dose reports are skipped and listed).
    level : {"exam", "event"}
        ``"event"``: one row per unique CT irradiation event (columns :data:`EVENT_COLUMNS`).
        ``"exam"``: one row per study in the canonical exam schema (:data:`EXAM_COLUMNS`):
        ``dlp_mgycm`` is the sum of DLP over the unique events of the study;
        ``reported_dlp_total_mgycm`` the CT Dose Length Product Total of the report with the
        most events; ``dlp_total_mismatch`` is true where the two differ by more than
        rounding (0.05 mGy·cm per value or 0.1 %); ``ctdivol_mgy`` is the Mean CTDIvol of the
        event with the largest DLP (the main scan, not a bolus-tracking or localizer event);
        ``body_region`` is :func:`recurct.dose.exam_region` of the events' regions, DLPs and
        localizer flags; ``effective_dose_msv`` is the accumulated Effective Dose (113839) of
        a report that holds every unique event of the study, else the sum of the event
        Effective Doses where every event with a DLP has one, else null (fill it with
        :func:`recurct.dose.effective_dose`); ``dose_method`` (after the canonical columns) is
        :data:`REPORTED_DOSE_METHOD` where the dose is the report's. ``age_years`` comes from
        the birth date and study date when both are valid, else from Patient's Age; a patient
        ID whose reports give different birth dates is listed in the report (field
        ``PatientBirthDate``). Event tables carry ``localizer`` (CT Acquisition Type 113805,
        Constant Angle Acquisition) and ``dose_method``.
    pseudonymise : {"salted-sha256"} or None
        Replace patient IDs by :func:`pseudonymise_id` (hex SHA-256 of salt and ID) inside
        the reader, before anything is returned. Requires ``salt``.
    salt : str, optional
        Secret salt for pseudonymisation (keep it to link later extractions).
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
    if pseudonymise not in (None, "salted-sha256"):
        raise ValueError(f'pseudonymise must be None or "salted-sha256", got {pseudonymise!r}')
    if pseudonymise is not None and not salt:
        raise ValueError(
            'pseudonymise="salted-sha256" needs a secret salt=...: a hash without salt can be '
            "reversed by hashing every possible patient ID"
        )
    if pseudonymise is None and salt is not None:
        raise ValueError('salt given without pseudonymise="salted-sha256"')
    if isinstance(non_patient, str):
        non_patient = [non_patient]
    paths = _collect_paths(path_or_paths)
    results = _run_parse(
        paths,
        salt=salt if pseudonymise else None,
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
    )
