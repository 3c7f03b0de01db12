"""Reading values out of a DICOM SR: content items by concept code, numbers in their unit,
dates, ages and text checks, and :class:`FileState`, the problems found in one file (shared
by the file and event parsers)."""

from __future__ import annotations

import contextlib
import fnmatch
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from recurct.io.rdsr._tables import DICOM_INSTALL
from recurct.schema import dicom_age_years


def import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - exercised only without pydicom
        raise ImportError(DICOM_INSTALL) from exc
    return pydicom


# Tags used in the hot path (integer access skips pydicom's keyword lookup).
T_CONCEPT_NAME = 0x0040A043  # ConceptNameCodeSequence
T_CONCEPT_CODE = 0x0040A168  # ConceptCodeSequence
T_CONTENT = 0x0040A730  # ContentSequence
T_MEASURED = 0x0040A300  # MeasuredValueSequence
T_NUMERIC = 0x0040A30A  # NumericValue
T_UNITS = 0x004008EA  # MeasurementUnitsCodeSequence
T_CODE_VALUE = 0x00080100
T_SCHEME = 0x00080102
T_MEANING = 0x00080104
T_LONG_CODE = 0x00080119
T_URN_CODE = 0x00080120
T_TEXT = 0x0040A160  # TextValue
T_UID = 0x0040A124  # UID


def tag_value(ds: Any, tag: int) -> Any:
    if isinstance(ds, dict):
        return ds.get(tag)
    elem = ds.get(tag)
    return None if elem is None else elem.value


def concept_code(item: Any, attr: int = T_CONCEPT_NAME) -> tuple[str, str] | None:
    seq = tag_value(item, attr)
    if not seq:
        return None
    c = seq[0]
    value = tag_value(c, T_CODE_VALUE) or tag_value(c, T_LONG_CODE) or tag_value(c, T_URN_CODE)
    if value is None:
        return None
    return (str(value).strip(), str(tag_value(c, T_SCHEME) or "").strip())


def code_meaning(item: Any) -> str | None:
    seq = tag_value(item, T_CONCEPT_CODE)
    if not seq:
        return None
    m = tag_value(seq[0], T_MEANING)
    return str(m).strip() if m is not None else None


def child_items(item: Any) -> Sequence[Any]:
    seq = tag_value(item, T_CONTENT)
    return seq if seq else ()


def first_item(items: Iterable[Any], code: tuple[str, str]) -> Any | None:
    for it in items:
        if concept_code(it) == code:
            return it
    return None


def raw_text(ds: Any, keyword: str) -> str | None:
    """The element's value as text without VR validation (lenient for malformed values)."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return None if tag is None else raw_tag(ds, tag)


def raw_tag(ds: Any, tag: int) -> str | None:
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


class FileState:
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


def num_value(item: Any, label: str, state: FileState) -> float | None:
    """NUM content item value in the canonical unit, read leniently from the raw DS text."""
    seq = tag_value(item, T_MEASURED)
    if not seq:
        state.lenient("no measured value; left null", label)
        return None
    mv = seq[0]
    text = raw_tag(mv, T_NUMERIC)
    if text is None or text == "":
        state.lenient("no numeric value; left null", label)
        return None
    unit_seq = tag_value(mv, T_UNITS)
    unit = str(tag_value(unit_seq[0], T_CODE_VALUE) or "").strip().lower() if unit_seq else ""
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


def parse_da_tm(da: str | None, tm: str | None) -> datetime | None:
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


def parse_tm(tm: str) -> datetime | None:
    """A DICOM TM (``HHMMSS.FFFFFF``, parts may be omitted; colons tolerated), else None."""
    whole, _, frac = tm.strip().replace(":", "").partition(".")
    if frac and not frac.isdigit():
        return None
    try:
        return datetime.strptime((whole + "0000")[:6], "%H%M%S") if len(whole) >= 2 else None
    except ValueError:
        return None


def parse_dt(dt: str | None) -> datetime | None:
    if not dt:
        return None
    dt = re.split(r"[+-]", dt.strip(), maxsplit=1)[0]
    return parse_da_tm(dt[:8], dt[8:] or None)


def age_years(
    age_text: str | None, birth: str | None, when: datetime | None, state: FileState
) -> float | None:
    """Age at the study: from the birth date and the study date when both are valid (exact to
    the day), else from Patient's Age (``067Y``, ``018M``, ``006W``, ``010D``; whole units)."""
    birth_dt = parse_da_tm(birth, None)
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


def matches_any(patterns: Sequence[str], *values: str | None) -> bool:
    for v in values:
        if not v:
            continue
        low = v.lower()
        if any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns):
            return True
    return False



_UID_TEXT = re.compile(r"[0-9]+(\.[0-9]+)*")


def check_text(value: str | None, label: str, state: FileState) -> str | None:
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


def check_uid(value: str | None, label: str, state: FileState) -> str | None:
    if value and not _UID_TEXT.fullmatch(value):
        state.lenient(f"{label} is not a valid UID (digits and dots; damaged value?)", label)
    return value


def find_item(items: Sequence[Any], code: tuple[str, str], depth: int = 3) -> Any | None:
    """The first content item with this concept name, searched depth-first (``depth`` levels)."""
    for it in items:
        if concept_code(it) == code:
            return it
    if depth > 1:
        for it in items:
            found = find_item(child_items(it), code, depth - 1)
            if found is not None:
                return found
    return None


