"""Dates and ages as recurct reads them: user-given dates (arguments, profile fields) to
``datetime.date`` (:func:`as_date`), exam-date text to datetimes (:func:`parse_dates`,
:func:`parse_date_series`), times of day of a separate column (:func:`parse_study_time`) and
DICOM Age Strings to years (:func:`parse_dicom_age`,
:func:`dicom_age_years`). The public ones are re-exported by :mod:`recurct.schema`."""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from collections.abc import Callable
from typing import Any, overload

import numpy as np
import polars as pl

from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, ParameterError, RecurctWarning


def as_date(value: Any, name: str, *, none_ok: bool = False) -> dt.date | None:
    """``value`` as a date: a date, a datetime (its date), a numpy datetime64 or an ISO string
    (YYYY-MM-DD; an ISO date-time such as ``"2020-01-01 12:00"`` or ``"2020-01-01T12:00"``
    is its calendar day, as its ``datetime`` is); ``None`` passes through if ``none_ok``.
    Errors name ``name``, the argument or field the value came from.

    A missing date (``NaT``, ``pd.NA``, NaN) is refused, even with ``none_ok`` (``None`` is
    the way to leave a date out), and so is a datetime64 outside the years 1-9999 that a
    ``datetime.date`` holds: :class:`~recurct.errors.ParameterError`.
    """
    if value is None and none_ok:
        return None
    if _is_missing(value):
        raise ParameterError(f"{name} must be a date, got a missing value ({value!r})")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        day = value.astype("datetime64[D]").item()
        if not isinstance(day, dt.date):  # numpy gives an int outside the years 1-9999
            raise ParameterError(
                f"{name}={value!r} is outside the dates recurct handles (years 1-9999)"
            )
        return day
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:  # text with a time of day: its own wall-clock day, as a datetime's
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            raise ParameterError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None
    raise ParameterError(f"{name} must be a date or an ISO date string (YYYY-MM-DD), got {value!r}")


def _is_missing(value: Any) -> bool:
    """Whether ``value`` is a missing scalar: numpy's or pandas' ``NaT`` (pandas' is a
    ``datetime`` unequal to itself), ``pd.NA`` or a NaN."""
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, dt.datetime):
        return bool(value != value)
    return type(value).__name__ == "NAType"  # pandas' NA (pandas is not imported here)


DICOM_AGE_UNITS: dict[str, float] = {"Y": 1.0, "M": 12.0, "W": 365.25 / 7.0, "D": 365.25}
"""DICOM Age String units and how many of each make one year (the divisor to years).

A year is 365.25 days, so a week is 7/365.25 years and a day 1/365.25 years; a month is
1/12 year.
"""

# A number (digits, optionally a decimal point or comma and more digits), then one unit
# letter; spaces around either are tolerated, case is ignored. Strict DICOM AS is "nnnU".
_DICOM_AGE_PATTERN = r"^\s*(\d+(?:[.,]\d+)?)\s*([YMWDymwd])\s*$"
_DICOM_AGE_RE = re.compile(_DICOM_AGE_PATTERN)

# The one splitter of date-time text (:func:`date_text`), for ``read_exams``, ``validate`` and
# ``read_openrem_ct`` alike: spaces around a cell, a "T" between date and time (made a space)
# and a trailing "Z" are removed, a 12-hour time (``2:05 PM``) made a 24-hour one, a UTC
# offset after the time removed, a leap second made second 59, and a cell with a minute or a
# second of one digit made null. The formats below then read what is left.
#
# A UTC offset after a time of day (ISO 8601 ``+01:00``, ``+0100``, ``-05``, optionally after
# a space) or after a DICOM DT (``20200101233000+0100``): removed, like a trailing "Z", so the
# time stays the local wall-clock time written (as for a time-zone-aware column). Group 1 or 2
# is what is kept. A date alone (``2020-01-01``) never loses its end to this.
_OFFSET = (
    r"^(?:(.*\d:\d{2}(?::\d{2})?(?:\.\d+)?) ?[+-]\d{2}(?::?\d{2})?|(\d{10,14}(?:\.\d+)?)[+-]\d{4})$"
)
# the same endings, unanchored: a cheap test before the replacement
_HAS_OFFSET = r"\d:\d{2}(?::\d{2})?(?:\.\d+)? ?[+-]\d{2}(?::?\d{2})?$|\d[+-]\d{4}$"
# A leap second (second 60: ``23:59:60``, DICOM ``...235960``), after any offset is removed:
# read as second 59 of the same minute (groups 1 and 2 kept), so that the exam keeps its
# calendar day (polars would carry it into the next minute: 2016-12-31 23:59:60 is
# 2017-01-01 00:00:00). Tested for in the same pass as the offsets.
_LEAP = r"^(.*\d:\d{2}:|\d{12}|\d{8} \d{4})60((?:\.\d+)?)$"
# (unanchored, before the offsets are removed: a time ending in ":60", a DICOM DT in "60")
_HAS_LEAP = r":60(?:\.\d+)?(?: ?[+-]\d{2}(?::?\d{2})?)?$|^\d{8} ?\d{4}60(?:\.\d+)?(?:[+-]\d{4})?$"
_HAS_OFFSET_OR_LEAP = f"{_HAS_OFFSET}|{_HAS_LEAP}"
# A 12-hour time after a date (``2020-04-03 2:05 PM``, ``04/03/2020 12:05:30.5 am``: AM or
# PM in any case, after a space or none), as a spreadsheet writes a date-time cell in a
# 12-hour locale: group 1 the date and its spaces, 2 the hour, 3 minutes, seconds and
# fraction, 4 the A or P. Made the 24-hour time (``14:05``; 12 AM is 00, 12 PM noon); an hour
# outside 1-12 (``13:05 PM``, ``0:05 AM``) is left as written, no date.
_TWELVE = r"^(.*[0-9] +)([0-9]{1,2})(:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ?([AaPp])[Mm]$"
_HAS_TWELVE = r"[AaPp][Mm]$"
# A minute or second of one digit (``14:5``: 14:05 or 14:50?), or of none after its colon
# (``14: 5``, ``14:``): the cell is no date, never read as either (polars' %M reads both
# ``14:5`` and ``14: 5`` as 14:05), as a separate time column reads ``13:5``.
_BAD_MINUTE = r":(?:[0-9](?:[^0-9]|$)|[^0-9]|$)"
# what the steps after the first (spaces, "T", "Z") change: one test before them
_CLOCK_WORK = f"{_HAS_TWELVE}|{_BAD_MINUTE}|{_HAS_OFFSET_OR_LEAP}"
# what the splitter changes in a cell, all of it (a superset: each step tests precisely): one
# test of a column, which a column of plain dates and times passes untouched
_NEEDS_WORK = rf"^\s|\s$|T|Z$|{_CLOCK_WORK}"

# Times of day of a separate Study Time column (:func:`parse_study_time`): ``H:MM``,
# ``HH:MM``, ``H:MM:SS``, ``HH:MM:SS.f``, and DICOM TM ``HH``, ``HHMM``, ``HHMMSS``,
# ``HHMMSS.f`` (DICOM tolerates the colons of old ACR-NEMA times: the first form).
# Digits are ASCII (a time written in other digits is none of the forms). One pattern tests
# the form; the parts are then cut from the text, the colons removed (``8:15`` -> ``0815``):
# no capture groups, which cost ten times a test.
_TIME_FORM = (
    r"^(?:[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"|[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,9})?)?)?)$"
)
TIME_FORMS = "HH:MM[:SS[.f]], H:MM[:SS[.f]] or DICOM HH[MM[SS[.f]]]"
"""The accepted forms of a time of day, as messages name them."""

# Date formats tried, in order, on the text :func:`date_text` gives (a 24-hour time after a
# space, no zone): a date alone or followed by a time.
_TIMES = (" %H:%M:%S%.f", " %H:%M", "")
_ISO_FORMATS = tuple(f"%Y{s}%m{s}%d{t}" for s in "-/" for t in _TIMES)
_DICOM_FORMATS = ("%Y%m%d %H%M%S%.f", "%Y%m%d%H%M%S%.f", "%Y%m%d")
# polars reads the digits of %Y%m%d greedily and skips whitespace between them ("2020111"
# would be 2020-11-01, "2020 111" too): a DICOM date or date-time counts only with all of its
# digits, ASCII, and nothing else.
_DICOM_TEXT = {
    "%Y%m%d %H%M%S%.f": r"^[0-9]{8} [0-9]{6}(?:\.[0-9]+)?$",
    "%Y%m%d%H%M%S%.f": r"^[0-9]{14}(?:\.[0-9]+)?$",
    "%Y%m%d": r"^[0-9]{8}$",
}
# polars reads %Y from one to four digits ("2/1/20" would be year 2, day 20): a year below
# 1000 counts only when written with four digits (0999-01-01), so that a two-digit year is
# no date (validation names it) rather than a date in antiquity
_FULL_YEAR = r"^\d{4}[-/]|^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}(?:\D|$)"
_YEAR_1000 = dt.datetime(1000, 1, 1)
_DAYFIRST_FORMATS = tuple(f"%d{s}%m{s}%Y{t}" for s in "/.-" for t in _TIMES)
# month-first (``04/13/2020``): read_openrem_ct's ``dayfirst=False`` only (read_exams reads
# no month-first dates)
_MONTHFIRST_FORMATS = tuple(f"%m{s}%d{s}%Y{t}" for s in "/.-" for t in _TIMES)
# Day-first or month-first dates at the start of a cell (then its end, a space or "T"), one
# separator twice (``/``, ``.`` or ``-``), by their first two numbers (:func:`day_month_order`):
# both 1-12 (``03/04/2020``: either order), the first 13-31 (only day-first), the second
# 13-31 (only month-first). ``_DAY_MONTH`` starts any of them (a cheap test).
_DAY_MONTH = r"^[0-9]{1,2}[/.-]"
_UP_TO_12 = r"(?:0?[1-9]|1[0-2])"
_13_TO_31 = r"(?:1[3-9]|2[0-9]|3[01])"


def _day_month(first: str, second: str) -> str:
    return rf"^{first}(?:/{second}/|\.{second}\.|-{second}-)[0-9]{{4}}(?:$|[ T])"


_EITHER_ORDER = _day_month(_UP_TO_12, _UP_TO_12)
_ONLY_DAY_FIRST = _day_month(_13_TO_31, _UP_TO_12)
_ONLY_MONTH_FIRST = _day_month(_UP_TO_12, _13_TO_31)


def parse_dates(expr: pl.Expr, *, dayfirst: bool = False) -> pl.Expr:
    """Parse a string expression of exam dates to ``Datetime("us")`` (null where unparseable).

    Accepted: ISO 8601 (``2019-12-31``, ``2019-12-31 08:15``, ``2019-12-31T08:15:00.5``,
    also with ``/``: ``2019/12/31``), DICOM DA (``20191231``), DA and TM joined by a space
    or a ``T`` (``20191231 081500.5``, ``20191231T081500``), DICOM DT (``20191231081500``)
    and, with ``dayfirst=True``, ``31/12/2019``, ``31.12.2019``, ``31-12-2019`` (optionally
    followed by ``HH:MM[:SS]``). A time of day is ``H:MM``, ``HH:MM:SS`` or ``HH:MM:SS.f``,
    or a 12-hour time with ``AM`` or ``PM`` after it (``2:05 PM`` is 14:05; ``12:05 AM``
    00:05); a minute or a second of one digit (``14:5``) is no time, so the value is no
    date. A ``Z`` or UTC offset after a time (``+01:00``, ``+0100``, ``-05``; ``+0100``
    after a DICOM DT) is dropped: the time is the local wall-clock time as written, as for
    a time-zone-aware column (``2020-01-01T23:30+01:00`` is 23:30). A DICOM date needs all
    eight digits (``2020111`` is not a date), a DICOM date-time all fourteen. A leap second
    (``23:59:60``) is read as second 59 of that minute, so the exam keeps its calendar day.
    """
    s = date_text(expr)
    formats = date_formats(dayfirst)
    return pl.coalesce([_strptime(s, f) for f in formats])


def _strptime(text: Any, f: str) -> Any:  # an Expr or a Series, the same kind back
    """``text`` parsed by format ``f`` (null where it does not fit); by a DICOM format only
    where the text is all digits of the right number (:data:`_DICOM_TEXT`). A format
    without a time of day is read as a ``Date`` (polars' faster path), then made a
    datetime."""
    if "%H" in f:
        parsed = text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
    else:
        parsed = text.str.strptime(pl.Date, f, strict=False, exact=True).cast(pl.Datetime("us"))
    pattern = _DICOM_TEXT.get(f)
    if pattern is None:  # a year of fewer than four digits is no year (_FULL_YEAR)
        if isinstance(text, pl.Series):
            first = parsed.min()
            if first is None or first >= _YEAR_1000:  # type: ignore[operator]
                return parsed
            early = (parsed < _YEAR_1000).fill_null(False)
            short = early & ~text.str.contains(_FULL_YEAR).fill_null(False)
            return parsed.set(short, None)  # type: ignore[arg-type]
        return pl.when((parsed >= _YEAR_1000) | text.str.contains(_FULL_YEAR)).then(parsed)
    if isinstance(text, pl.Series):
        if parsed.null_count() == parsed.len():  # nothing to check
            return parsed
        return parsed.set(~text.str.contains(pattern).fill_null(False), None)  # type: ignore[arg-type]
    return pl.when(text.str.contains(pattern)).then(parsed)


@overload
def parse_dicom_age(values: pl.Expr) -> pl.Expr: ...
@overload
def parse_dicom_age(values: pl.Series) -> pl.Series: ...
def parse_dicom_age(values: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """Convert DICOM Age Strings (``067Y``, ``018M``, ``006W``, ``010D``) to years.

    Parameters
    ----------
    values : polars.Expr or polars.Series
        Text ages. A value is a number followed by its unit, ``Y`` (years), ``M`` (months),
        ``W`` (weeks) or ``D`` (days); the unit is required (a bare ``67`` is not a DICOM age).
        Case and spaces around the number and the unit are ignored; a decimal point or comma
        is accepted (``1,5Y``), which strict DICOM does not use but some exports do.

    Returns
    -------
    polars.Expr or polars.Series
        Float64 years (same kind as the input): the number divided by
        :data:`DICOM_AGE_UNITS` (12 months, 365.25/7 weeks, 365.25 days per year); null
        where the value is null or not a DICOM age string. No range check here:
        :func:`recurct.schema.validate` reports ages outside 0-130.

    See Also
    --------
    dicom_age_years : the same rule for one string.
    """
    if isinstance(values, pl.Series) and values.dtype != pl.Utf8:
        values = values.cast(pl.Utf8)
    up = values.str.to_uppercase()
    number = up.str.extract(_DICOM_AGE_PATTERN, 1).str.replace(",", ".", literal=True)
    unit = up.str.extract(_DICOM_AGE_PATTERN, 2).replace_strict(
        DICOM_AGE_UNITS, default=None, return_dtype=pl.Float64
    )
    return number.cast(pl.Float64) / unit


def dicom_age_years(text: str | None) -> float | None:
    """One DICOM Age String (``067Y``, ``018M``, ``006W``, ``010D``) in years, or None.

    The same rule as :func:`parse_dicom_age` (unit required; divisors in
    :data:`DICOM_AGE_UNITS`): ``dicom_age_years("018M") == 1.5``; ``None`` for ``None``,
    an empty string or anything that is not a number followed by Y, M, W or D.
    """
    if text is None:
        return None
    m = _DICOM_AGE_RE.match(str(text))
    if m is None:
        return None
    return float(m.group(1).replace(",", ".")) / DICOM_AGE_UNITS[m.group(2).upper()]


def date_text(e: Any) -> Any:  # an Expr or a Series, the same kind back
    """Date-time text as the date formats read it (the one splitter, :data:`_NEEDS_WORK`):
    spaces around and a trailing ``Z`` or UTC offset removed, ``T`` -> space, a 12-hour
    time made a 24-hour one (``2:05 PM`` -> ``14:05``), a leap second (``:60``) made second
    59, and null where a minute or a second has one digit (``14:5``) or none after its
    colon (``14: 5``). An Expr or a Series; on a Series one test of the column, and the
    steps only on the cells that need them."""
    if isinstance(e, pl.Series):
        need = e.str.contains(_NEEDS_WORK)
        if not need.any():
            return e
        if need.all():
            return _split(e)
        rows = need.arg_true()
        return e.scatter(rows, _split(e.gather(rows)))
    return pl.when(e.str.contains(_NEEDS_WORK)).then(_split(e)).otherwise(e)


def _split(text: Any) -> Any:  # an Expr or a Series, the same kind back
    """:func:`date_text`'s steps: spaces, ``Z`` and ``T`` on every value; the clock's
    (:func:`_clock_text`) where a value ends like an offset, a leap second or AM/PM, or has
    a minute or second of one digit (:data:`_CLOCK_WORK`)."""
    text = text.str.strip_chars().str.strip_suffix("Z").str.replace("T", " ", literal=True)
    if isinstance(text, pl.Series):
        more = text.str.contains(_CLOCK_WORK)
        if not more.any():
            return text
        rows = more.arg_true()
        clocks = text.gather(rows).to_frame("t").select(_clock_text(pl.col("t"))).to_series()
        return text.scatter(rows, clocks)
    return pl.when(text.str.contains(_CLOCK_WORK)).then(_clock_text(text)).otherwise(text)


def _clock_text(t: pl.Expr) -> pl.Expr:
    """The time after a date: 12-hour made 24-hour, an offset removed, a leap second made
    second 59; null where a minute or second has one digit or none (:data:`_BAD_MINUTE`)."""
    parts = t.str.extract_groups(_TWELVE)
    hour = parts.struct.field("2").cast(pl.Int32)
    pm = parts.struct.field("4").str.to_uppercase() == "P"
    h24 = (hour % 12 + pl.when(pm).then(12).otherwise(0)).cast(pl.Utf8).str.zfill(2)
    t = (
        pl.when((hour >= 1) & (hour <= 12))
        .then(parts.struct.field("1") + h24 + parts.struct.field("3"))
        .otherwise(t)
    )
    t = _offset_and_leap(t)
    return pl.when(t.str.contains(_BAD_MINUTE)).then(None).otherwise(t)


# the UTC offset (or "Z") ending a time of day, or a DICOM DT (4 digits), as date_text reads
# them (group 1); the two together, unanchored at the start, as one test of a whole column
_TIME_OFFSET = r"\d:\d{2}(?::\d{2})?(?:\.\d+)? ?(Z|[+-]\d{2}(?::?\d{2})?)$"
_DT_OFFSET = r"^\d{10,14}(?:\.\d+)?(Z|[+-]\d{4})$"
_ANY_OFFSET = (
    r"(?:\d:\d{2}(?::\d{2})?(?:\.\d+)? ?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
    r"|^\d{10,14}(?:\.\d+)?(?:Z|[+-]\d{4})$)"
)


def warn_mixed_offsets(
    s: pl.Series,
    *,
    where: str | None = None,
    row: Callable[[int], str] | None = None,
    listed: Callable[[list[int]], str] | None = None,
    stripped: bool = False,
) -> None:
    """Warn when the text times of ``s`` carry more than one UTC offset (``Z`` as
    ``+00:00``): each time is read as the wall-clock time written, its offset dropped, so
    times written with different offsets are on different clocks (two exams of one patient
    on one day may come out in the wrong order). One regex test on a column without offsets
    (a plain date or a time without offset does not match it).

    The first row of each offset is named by ``row`` (default ``row N``, 0-based); with
    ``listed`` the offsets are withheld and only their first rows listed (a pseudonymising
    read); ``where`` (the file) is put first. ``stripped``: as :func:`mixed_offsets`."""
    mixed = mixed_offsets(s, stripped=stripped)
    if mixed is None:
        return
    kinds, first = mixed
    if listed is not None:
        shown = f"first in {listed(first)}"
    else:
        name = row or (lambda r: f"row {r}")
        shown = ", ".join(f"{k} in {name(r)}" for k, r in zip(kinds, first))
    more = f" and {len(kinds) - 3} more" if len(kinds) > 3 else ""
    zero_based = "" if row is not None or listed is not None else "; rows 0-based"
    warnings.warn(
        f"{f'{where}: ' if where else ''}column {s.name!r} mixes {len(kinds)} UTC offsets "
        f"({shown}{more}{zero_based}): {MIXED_OFFSETS}",
        RecurctWarning,
        stacklevel=user_stacklevel(),
    )


MIXED_OFFSETS = (
    "each time is read as the wall-clock time written, its offset dropped, so times "
    "written with different offsets are on different clocks and two exams of one day "
    "may be ordered wrongly; convert the times to one zone first where that matters"
)
"""What a warning of mixed UTC offsets says after naming them (:func:`mixed_offsets`)."""


def mixed_offsets(s: pl.Series, *, stripped: bool = False) -> tuple[list[str], list[int]] | None:
    """The UTC offsets of the text times of ``s`` (``Z`` as ``+00:00``; ``+0100`` and
    ``+01`` as ``+01:00``) in the order they first appear, and the 0-based rows where the
    first three of them first appear; None unless there are two or more. One regex test on
    a column without offsets (``stripped``: its values have no spaces around them)."""
    text = s.cast(pl.Utf8)
    if not stripped:
        text = text.str.strip_chars()
    if not text.str.contains(_ANY_OFFSET).any():
        return None
    o = pl.col("o")
    digits = o.str.slice(1).str.replace_all(":", "")
    minutes = (
        pl.when(digits.str.len_chars() == 4).then(digits.str.slice(2, 2)).otherwise(pl.lit("00"))
    )
    offsets = (
        text.str.extract(_TIME_OFFSET, 1)
        .fill_null(text.str.extract(_DT_OFFSET, 1))
        .to_frame("o")
        .select(
            pl.when(o == "Z")
            .then(pl.lit("+00:00"))
            .otherwise(o.str.slice(0, 1) + digits.str.slice(0, 2) + ":" + minutes)
        )
        .to_series()
    )
    kinds = offsets.drop_nulls().unique(maintain_order=True)
    if kinds.len() < 2:
        return None
    first = [int(offsets.eq(k).fill_null(False).arg_true()[0]) for k in kinds.head(3)]
    return kinds.to_list(), first


def _offset_and_leap(text: Any) -> Any:
    return text.str.replace(_OFFSET, "${1}${2}").str.replace(_LEAP, "${1}59${2}")


@overload
def parse_study_time(values: pl.Expr) -> pl.Expr: ...
@overload
def parse_study_time(values: pl.Series) -> pl.Series: ...
def parse_study_time(values: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """Times of day (a separate Study Time column) as ``HH:MM:SS[.f]`` text, else null.

    The accepted forms are :data:`TIME_FORMS`: ``8:15``, ``08:15:00.5``, ``9:05:30`` and
    DICOM TM ``0815``, ``081500.5``, ``08`` (spaces around ignored); hours 0-23, minutes and
    seconds 0-59, ASCII digits. Anything else (``8.15``, ``13:5``, ``815``, ``2400``,
    ``12h30``, ``١٢:٣٠``) is null, never read as another minute; the caller counts those.
    """
    if isinstance(values, pl.Series):  # the same steps, each computed once
        col = pl.col
        return (
            values.to_frame("t")
            .lazy()
            .with_columns(t=col("t").str.strip_chars())
            .with_columns(digits=_time_digits(col("t")))
            .with_columns(whole=_time_whole(col("digits")))
            .with_columns(*_time_fields(col("whole")))
            .select(_time_clock(col("t"), col("digits"), col("h"), col("m"), col("s")))
            .collect()
            .to_series()
            .alias(values.name)
        )
    t = values.str.strip_chars()
    digits = _time_digits(t)
    return _time_clock(t, digits, *_time_fields(_time_whole(digits)))


def _time_digits(t: pl.Expr) -> pl.Expr:
    """``HHMM[SS[.f]]`` or ``HH`` of a time in one of the forms: a one-digit hour padded,
    colons removed (``8:15`` -> ``0815``; DICOM text has none)."""
    padded = pl.when(t.str.slice(1, 1) == ":").then(pl.lit("0") + t).otherwise(t)
    return padded.str.replace_all(":", "", literal=True)


def _time_whole(digits: pl.Expr) -> pl.Expr:
    """``HHMMSS``: missing minutes and seconds are 00."""
    return digits.str.slice(0, 6).str.pad_end(6, "0")


def _time_fields(whole: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Hours, minutes and seconds as two-digit text, named h, m and s."""
    return (
        whole.str.slice(0, 2).alias("h"),
        whole.str.slice(2, 2).alias("m"),
        whole.str.slice(4, 2).alias("s"),
    )


def _time_clock(t: pl.Expr, digits: pl.Expr, h: pl.Expr, m: pl.Expr, s: pl.Expr) -> pl.Expr:
    """``HH:MM:SS[.f]`` where ``t`` is one of the forms with hours 0-23, minutes and seconds
    0-59 (two ASCII digits each: compared as text), else null."""
    valid = t.str.contains(_TIME_FORM) & (h <= "23") & (m <= "59") & (s <= "59")
    clock = pl.concat_str([h, m, s], separator=":") + digits.str.slice(6)
    return pl.when(valid).then(clock)


def date_formats(dayfirst: bool, monthfirst: bool = False) -> tuple[str, ...]:
    """The formats of :func:`parse_dates`: ISO and DICOM, then day-first (``dayfirst``) or
    month-first (``monthfirst``, ``read_openrem_ct``'s ``dayfirst=False``) ones."""
    if dayfirst and monthfirst:
        raise ValueError("day-first or month-first, not both")  # internal: not a user error
    order = _DAYFIRST_FORMATS if dayfirst else _MONTHFIRST_FORMATS if monthfirst else ()
    return _ISO_FORMATS + _DICOM_FORMATS + order


def parse_date_series(
    s: pl.Series, *, dayfirst: bool = False, monthfirst: bool = False
) -> pl.Series:
    """Eager :func:`parse_dates`, the same values: each format is tried only on the values
    still unparsed, most frequent format first (judged on a sample), so a column in one
    format costs one pass instead of one per format. ``monthfirst`` reads ``04/13/2020``
    month-first instead (``read_openrem_ct`` with ``dayfirst=False``; not with
    ``dayfirst``).

    The values are first read as written, by the formats the sample shows: a date alone
    as it parses, a date with a time where no minute or second looks odd
    (:data:`_RECHECK`, :data:`_RECHECK_DICOM`); only the others go through
    :func:`date_text` (a column of plain ISO, DICOM or day-first dates pays for no text
    work at all).

    A column whose dtype has no text form (a pandas ``Period`` arrives as a polars
    ``Extension``) is refused with :class:`~recurct.errors.DataError` naming it and its dtype.
    """
    try:
        as_text = s.cast(pl.Utf8)
    except pl.exceptions.PolarsError:
        raise DataError(
            f"column {s.name!r} has dtype {s.dtype}, which recurct cannot read as dates; "
            "convert it to dates or datetimes first (a pandas Period: "
            f"df[{s.name!r}].dt.to_timestamp())"
        ) from None
    formats = [
        g
        for f in date_formats(dayfirst, monthfirst)
        # whole seconds by polars' faster format first (a fifth of the time of %S%.f)
        for g in ((f[:-3], f) if f.endswith(" %H:%M:%S%.f") else (f,))
    ]
    out, todo = _parse_in_order(as_text, formats, as_written=True)
    if todo.size:  # the rest through the splitter (date_text), by every format
        rest, _ = _parse_in_order(date_text(as_text.gather(todo)), formats, as_written=False)
        out = out.scatter(todo, rest)
    return out.alias(s.name)


# A value read as written by a format with a time of day that date_text would still change:
# a minute or second of one digit or after a space (polars reads "14:5" and "14: 5" as
# 14:05), a leap second (polars carries 23:59:60 into the next minute), in a time with
# colons or a DICOM one (two tests: one of them costs a third of the two as alternatives)
_RECHECK = r":(?:[0-9](?:[^0-9]|$)|[^0-9]|$|60)"
_RECHECK_DICOM = r"^[0-9]{8} ?[0-9]{4}60"


def _parse_in_order(
    text: pl.Series, formats: list[str], *, as_written: bool
) -> tuple[pl.Series, np.ndarray]:
    """``text`` parsed by ``formats``, most frequent first on a sample of it, each on the
    values still unparsed; and the rows left unparsed (non-null text). ``as_written``: the
    first pass of :func:`parse_date_series`, on the text as written: only formats that
    read some of the sample are tried, and a value with a time that :data:`_RECHECK`
    (:data:`_RECHECK_DICOM`) matches is left unparsed."""
    n = text.len()
    out = pl.repeat(None, n, dtype=pl.Datetime("us"), eager=True)
    todo = np.flatnonzero(text.is_not_null().to_numpy())
    if todo.size == 0:
        return out, todo
    sample = text.gather(todo[:: max(1, todo.size // 500)])
    misses = [_strptime(sample, f).null_count() for f in formats]
    ranked = sorted(zip(misses, formats), key=lambda t: t[0])
    tried = [f for m, f in ranked if not as_written or m < sample.len()]
    for f in tried:
        sub = text if todo.size == n else text.gather(todo)
        parsed = _strptime(sub, f)
        if as_written and "%H" in f:
            odd = sub.str.contains(_RECHECK_DICOM if f in _DICOM_TEXT else _RECHECK)
            if odd.any():
                parsed = parsed.set(odd.fill_null(False), None)  # type: ignore[arg-type]
        ok = parsed.is_not_null().to_numpy()
        if ok.all():
            out = parsed if todo.size == n else out.scatter(todo, parsed)
            todo = todo[:0]
            break
        if ok.any():
            out = out.scatter(todo[ok], parsed.filter(pl.Series(ok)))
        todo = todo[~ok]
        if todo.size == 0:
            break
    return out, todo


def looks_day_month(text: pl.Series) -> bool:
    """Whether some value of ``text`` (stripped cells) starts like a day-first or
    month-first date (one or two digits, then ``/``, ``.`` or ``-``: :data:`_DAY_MONTH`)."""
    return bool(text.str.contains(_DAY_MONTH).any())


def day_month_order(text: pl.Series) -> tuple[int | None, int | None, int | None]:
    """Which order the day-first or month-first dates of ``text`` (stripped cells) can be
    read in, by their first two numbers (``/``, ``.`` or ``-`` between them): the 0-based
    row of the first that may be either (both 1-12 and different: ``03/04/2020``), else
    None; then, where no date may be either, the first row of one that can only be
    day-first (``13/04/2020``) and of one that can only be month-first (``04/13/2020``),
    each None where there is none (both None where a date may be either). Regex tests of
    the column (:data:`_EITHER_ORDER`, :data:`_ONLY_DAY_FIRST`), the last
    (:data:`_ONLY_MONTH_FIRST`) of the values neither matched; the numbers read only of
    the dates that may be either."""
    either = text.str.contains(_EITHER_ORDER).fill_null(False)
    if either.any():
        rows = either.arg_true()
        two = text.gather(rows).str.extract_groups(r"^([0-9]{1,2})[/.-]([0-9]{1,2})")
        first = two.struct.field("1").cast(pl.Int32)
        second = two.struct.field("2").cast(pl.Int32)
        differ = (first != second).fill_null(False)
        if differ.any():
            return int(rows[int(differ.arg_true()[0])]), None, None
    day = text.str.contains(_ONLY_DAY_FIRST).fill_null(False)
    day_row = int(day.arg_true()[0]) if day.any() else None
    rest = (text.is_not_null() & ~day & ~either).arg_true()
    if rest.len() == 0:
        return None, day_row, None
    month = text.gather(rest).str.contains(_ONLY_MONTH_FIRST).fill_null(False)
    month_row = int(rest[int(month.arg_true()[0])]) if month.any() else None
    return None, day_row, month_row


def date_cells_text(cells: list[Any], name: str) -> pl.Series | None:
    """A column of Python objects holding date cells and text (what ``pd.read_excel`` gives
    for a date column with real date cells and typed-in dates) as text, cell by cell, to be
    read by the rules of a text date column (:func:`parse_date_series`, ``dayfirst`` and
    all): a ``datetime`` (a pandas ``Timestamp`` too) as its ISO wall-clock date and time
    (``2020-01-02 08:30:00``; a time zone dropped, the local time kept, as for a
    time-zone-aware column), a ``date`` as ISO ``2020-01-02``, a numpy ``datetime64`` as its
    ISO text, text as it is, a missing value (``None``, NaN, ``NaT``, ``pd.NA``) null, and
    anything else (a number, a time of day) as ``str`` gives it, an unparseable date of its
    row that validation reports as any other. None when no cell is a date (a column of
    text alone, or of other objects, is no column of date cells: refused as before, as any
    ``Object`` column)."""
    out: list[str | None] = []
    dated = False
    for v in cells:
        if v is None or _is_missing(v):
            out.append(None)
            continue
        if isinstance(v, str):
            out.append(v)
            continue
        if isinstance(v, dt.datetime):  # (a pandas Timestamp, nanoseconds and all)
            out.append(v.replace(tzinfo=None).isoformat(sep=" "))
        elif isinstance(v, dt.date):
            out.append(v.isoformat())
        elif isinstance(v, np.datetime64):
            out.append(str(np.datetime_as_string(v)))
        else:
            out.append(str(v))
            continue
        dated = True
    return pl.Series(name, out, dtype=pl.Utf8) if dated else None
