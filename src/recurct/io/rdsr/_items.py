"""Reading values out of a DICOM SR: content items by concept code, numbers in their unit,
dates, ages and text checks, and :class:`FileState`, the problems found in one file (shared
by the file and event parsers)."""

from __future__ import annotations

import contextlib
import fnmatch
import math
import re
import unicodedata
from collections.abc import Iterable, MutableSequence, Sequence
from datetime import date, datetime
from typing import Any

from recurct._checks import MAX_AGE_YEARS
from recurct.io.pseudonym import normalise_id
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
    if elem is None:
        return None
    value = elem.value
    if elem.VR != "SQ" and isinstance(value, MutableSequence):  # pydicom's MultiValue
        return dicom_text(value)  # its text, as the fast reader gives it (not a list)
    return value


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
    return dicom_text(value).strip()


# A DS value (a decimal string) as DICOM writes it, and the one repair made: a comma as the
# decimal mark, where it is the number's only mark. A comma that may group thousands (1,234:
# 1234 or 1.234?, groups of three after a first group of one to three digits not starting
# with 0, the thousands form of recurct._casts) is ambiguous and not read.
_DS = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_DS_COMMA = re.compile(r"[-+]?(?:\d+,\d*|,\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+")
_NON_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.IGNORECASE)

# Units (UCUM, matched case-insensitively as UCUM's case-insensitive form allows, "u" or "µ"
# for micro; vendor spellings without a separator, "mGycm", or with "*", "·" or a space) of
# each quantity read, and the factor of each to the canonical unit. A factor is derived from
# the SI prefixes, never listed by hand: a DLP in ``<p>Gy.<q>m`` is 10^(p + 3) mGy times
# 10^(q + 2) cm. A unit of another quantity (``mSv`` for a DLP, ``mGy.cm2``), an unknown
# or an empty one loses the value (no factor can be assumed).
_PREFIX_EXP = {"": 0, "d": -1, "c": -2, "m": -3, "u": -6}
_P = "([dcmu]?)"
_SEP = r"[.*·]?"
QUANTITIES: dict[str, tuple[re.Pattern[str], tuple[int, ...]]] = {
    # quantity: (pattern of the lower-cased unit, exponents of the canonical unit's prefixes)
    "dose": (re.compile(_P + "gy"), (-3,)),  # mGy
    "dlp": (re.compile(_P + "gy" + _SEP + _P + "m"), (-3, -2)),  # mGy.cm
    "effective dose": (re.compile(_P + "sv"), (-3,)),  # mSv
    "length": (re.compile(_P + "m"), (-3,)),  # mm
}
"""Quantities read by :func:`num_value` (besides ``"count"``, a number of things: unit
``1`` or a UCUM annotation such as ``{events}``)."""

_UNITS_OF = {
    "dose": "dose (mGy, or Gy with another prefix)",
    "dlp": "dose length product (mGy.cm, or Gy.m with other prefixes)",
    "effective dose": "effective dose (mSv, or Sv with another prefix)",
    "length": "length (mm, or m with another prefix)",
    "count": "a count (1, or an annotation such as {events})",
}

_COUNT_UNIT = re.compile(r"1|\{[^{}]*\}")


def unit_factor(unit: str, quantity: str) -> float | None:
    """Factor from ``unit`` to the canonical unit of ``quantity`` (mGy, mGy.cm, mSv, mm; a
    count: 1), or None where ``unit`` is not a unit of that quantity."""
    if quantity == "count":
        return 1.0 if _COUNT_UNIT.fullmatch(unit.strip()) else None
    pattern, canonical = QUANTITIES[quantity]
    text = unit.replace(" ", "").replace("\u00b5", "u").replace("\u03bc", "u").lower()
    m = pattern.fullmatch(text)
    if m is None:
        return None
    exponent = sum(_PREFIX_EXP[p] - c for p, c in zip(m.groups(), canonical, strict=True))
    return 10.0**exponent


def dicom_text(value: Any) -> str:
    """The text of an element value as DICOM writes it: the values of a multi-valued element
    (pydicom's ``MultiValue``) joined by a backslash, each without its padding spaces, as
    the fast reader gives them (:func:`recurct.io.rdsr._bytes.multi_text`)."""
    if isinstance(value, MutableSequence):
        return "\\".join("" if v is None else str(v).strip("\x00 ") for v in value)
    return str(value)


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


def num_value(item: Any, label: str, state: FileState, quantity: str) -> float | None:
    """NUM content item value in the canonical unit of ``quantity`` (:data:`QUANTITIES`, or
    ``"count"``), read from the raw DS text by :func:`ds_number`. A unit of another quantity,
    an unknown or a missing unit, a text that is not one number (or an ambiguous one), and a
    negative or non-finite number lose the value: null, with a problem row (so an exam DLP
    over such an event is null too)."""
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
    unit = str(tag_value(unit_seq[0], T_CODE_VALUE) or "").strip() if unit_seq else ""
    scale = unit_factor(unit, quantity) if unit else None
    if scale is None:
        state.lenient(
            (f"unit {unit!r} is not a unit of " if unit else "no measurement unit; expected ")
            + f"{_UNITS_OF[quantity]}: value left null (no factor can be assumed)",
            label,
        )
        return None
    value = ds_number(text, label, state)
    if value is None:
        return None
    if not math.isfinite(value):
        state.lenient(f"non-finite number {text!r}; value left null", label)
        return None
    if value < 0:
        state.lenient(f"negative number {text!r}: not a valid value; left null", label)
        return None
    return value * scale


def ds_number(text: str, label: str, state: FileState) -> float | None:
    """The number a DS text (a NUM item's Numeric Value) writes, or None (with a problem row).

    Only a text that is one number as a whole (surrounding spaces and NULs removed) is read:
    a DS number; ``nan`` or ``inf`` (read, then refused by :func:`num_value` as non-finite);
    or one with a comma as its only mark (``12,5``: 12.5, a lenient problem row), unless the
    comma may group thousands (``1,234``: 1234 or 1.234? refused as ambiguous). Anything
    else (``7O8.2``, ``70 .2``, ``7-8.2``, ``70.8,2``, ``708/2``) is no number: never a part
    of it taken for the value, which is left null."""
    text = text.strip(" \x00")
    if _DS.fullmatch(text) or _NON_FINITE.fullmatch(text):
        return float(text)
    if _THOUSANDS.fullmatch(text):
        state.lenient(
            f"ambiguous number {text!r}: its comma may be a decimal mark or group thousands; "
            "value left null",
            label,
        )
        return None
    if _DS_COMMA.fullmatch(text):
        value = float(text.replace(",", "."))
        state.lenient(f"malformed number {text!r} read as {value}", label)
        return value
    state.lenient(f"not a number: {text!r}; value left null", label)
    return None


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
    the day), else from Patient's Age (``067Y``, ``018M``, ``006W``, ``010D``; whole units).
    Either outside 0-:data:`recurct.schema.MAX_AGE_YEARS` (validation's range) is not used,
    with a lenient problem: ``999Y`` gives a null age, never 999 years."""
    birth_dt = parse_da_tm(birth, None)
    years = None
    if birth_dt is not None and when is not None:
        years = _years_between(birth_dt.date(), when.date())
        if 0 <= years <= MAX_AGE_YEARS:
            return years
    from_age = dicom_age_years(age_text) if age_text else None  # unit required (DICOM AS)
    if from_age is not None and not 0 <= from_age <= MAX_AGE_YEARS:
        state.lenient(
            f"Patient's Age {age_text!r} out of range (age {from_age:g} y, outside "
            f"0-{MAX_AGE_YEARS:g}); age left null",
            "PatientAge",
        )
        if birth and (birth_dt is None or years is not None):
            what = _birth_out_of_range(None if birth_dt is None else years)
            state.lenient(f"Patient's Birth Date {what}; age left null", "PatientBirthDate")
        return None
    if birth and (birth_dt is None or years is not None):
        what = _birth_out_of_range(None if birth_dt is None else years)
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


def _birth_out_of_range(years: float | None) -> str:
    """Why a birth date gives no age (None: malformed). The age is not quoted: with the
    study date it would give the birth date (one whose century is mistyped, too) back."""
    if years is None:
        return "malformed"
    if years < 0:
        return "out of range (after the study date)"
    return f"out of range (more than {MAX_AGE_YEARS:g} years before the study date)"


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


def identifier(text: str | None) -> str | None:
    """An identifier as read (Patient ID, a UID, an accession number):
    :func:`recurct.io.pseudonym.normalise_id` of its text (surrounding whitespace removed),
    None where it is empty or a placeholder (``unknown``, ``-``, ``#N/A``, ...:
    :data:`recurct.schema.PLACEHOLDER_IDS`): missing, never hashed nor matched, so that two
    reports whose Patient ID is ``UNKNOWN`` are not one patient."""
    return normalise_id(text) if text else None


def uid_text(item: Any) -> str:
    """The text of a UID content item's value as written ("" where the item or its value is
    absent)."""
    return "" if item is None else str(tag_value(item, T_UID) or "")


def uid_value(item: Any) -> str | None:
    """The value of a UID content item (an Irradiation Event UID, the Study Instance UID of
    a Scope of Accumulation) as :func:`identifier` reads it: None where it has none, or a
    placeholder. The one read of such an item: the events and the damaged-acquisition check
    (which compares the events' UIDs) must read a UID alike."""
    return identifier(uid_text(item))


def placeholder_note(raw: str | None) -> str:
    """What a problem row adds where a missing identifier was given as a placeholder (its
    text is not quoted)."""
    return " (a placeholder such as 'unknown' or '-': read as missing)" if raw else ""


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
