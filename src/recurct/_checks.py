"""Checks of the parameters of public functions, in one place.

Thresholds, windows, ages, day counts, bounds and name lists are checked here so every public
function rejects the same things with the same message: NaN, infinities, booleans (``True`` is
not 1 mSv), text where a number is meant, and values outside their range. A float32 (or
float16) number is taken at its shortest decimal form (``np.float32(0.1)`` is 0.1, labelled
``0.1``, see :func:`recurct._frames.param_label`).

Errors are :class:`ParameterError`, both a ``ValueError`` and a ``TypeError``, so callers
catching either keep working.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recurct._dates import as_date
from recurct._frames import param_label
from recurct.errors import DataError, InputNotFoundError, ParameterError
from recurct.io._parquet import folder_files, pattern_files, readable

#: Longest window accepted, in days: about 274 years, more than twice the longest human life
#: (recurct.schema.MAX_AGE_YEARS = 130 years = 47,483 days), so any real span of exams fits.
MAX_WINDOW_DAYS = 100_000

#: Largest age accepted as a bound, in years; also recurct.schema.MAX_AGE_YEARS (validation).
MAX_AGE_YEARS = 130.0


def _scalar(value: Any, fn: str, name: str) -> float:
    """A real number (not a bool, not text) as a float; float32 at its shortest decimal."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{fn}: {name} must be a number, got {value!r}")
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(param_label(value))
    return float(value)


def many(values: Any) -> list[Any]:
    """The values of an argument that takes one value or several (``None``: none)."""
    if values is None:
        return []
    if isinstance(values, str | bytes) or np.isscalar(values):
        return [values]
    if isinstance(values, np.ndarray):
        return list(values.ravel())
    if isinstance(values, Iterable):
        return list(values)
    return [values]


def number(
    value: Any,
    fn: str,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    what: str = "",
) -> float:
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    x = _scalar(value, fn, name)
    low_bad = lo is not None and (x <= lo if lo_open else x < lo)
    if not math.isfinite(x) or low_bad or (hi is not None and x > hi):
        left = "(" if lo_open else "["
        top = "inf)" if hi is None else f"{hi:g}]"  # an unbounded top: the number is finite
        rng = f"{left}{'-inf' if lo is None else f'{lo:g}'}, {top}"
        raise ParameterError(f"{fn}: {name} must be a finite number in {rng}{what}, got {value!r}")
    return x


def optional_bound(value: Any, fn: str, name: str) -> float | None:
    """None, or a finite number > 0."""
    return None if value is None else number(value, fn, name, lo=0.0, lo_open=True)


def thresholds(values: Any, fn: str) -> np.ndarray:
    """CED thresholds in mSv: finite, > 0, distinct by their label."""
    thr = [_scalar(v, fn, "thresholds") for v in many(values)]
    if not all(math.isfinite(t) and t > 0 for t in thr):
        raise ParameterError(f"{fn}: thresholds must be finite and > 0 mSv, got {many(values)}")
    if len({param_label(t) for t in thr}) != len(thr):
        raise ParameterError(f"{fn}: thresholds must be distinct, got {many(values)}")
    return np.asarray(thr, dtype=np.float64)


def window_days(values: Any, fn: str, name: str = "window_days") -> np.ndarray:
    """Window widths: whole numbers of days in 1..MAX_WINDOW_DAYS, distinct."""
    raw = many(values)
    win = []
    for v in raw:
        w = _scalar(v, fn, name)
        if not (math.isfinite(w) and w.is_integer() and 0 < w <= MAX_WINDOW_DAYS):
            raise ParameterError(
                f"{fn}: {name} must be whole numbers of days > 0 and <= {MAX_WINDOW_DAYS} "
                f"(about 274 years), got {raw}"
            )
        win.append(int(w))
    if len(set(win)) != len(win):
        raise ParameterError(f"{fn}: {name} must be distinct, got {raw}")
    return np.asarray(win, dtype=np.int64)


def age(value: Any, fn: str, name: str) -> float | None:
    """An age bound in years: None (open), or a finite number in [0, MAX_AGE_YEARS]."""
    if value is None:
        return None
    return number(value, fn, name, lo=0.0, hi=MAX_AGE_YEARS, what=" years")


def days(value: Any, fn: str, name: str) -> int:
    """A whole number of days in 0..MAX_WINDOW_DAYS."""
    d = number(value, fn, name, lo=0.0, hi=MAX_WINDOW_DAYS, what=" days")
    if not d.is_integer():
        raise ParameterError(f"{fn}: {name} must be a whole number of days, got {value!r}")
    return int(d)


def names(values: Any, fn: str, name: str, *, allow_empty: bool = False) -> list[str]:
    """Non-empty text or integer labels (facilities, indications, sex codes, column names) as
    text; a list given among them is read as its items (``facilities(["A", "B"])``)."""
    out = []
    flat = [x for v in many(values) for x in (v if isinstance(v, list | tuple | set) else [v])]
    for v in flat:
        if isinstance(v, str) and v.strip():
            out.append(v)
        elif isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_):
            out.append(str(int(v)))
        else:
            raise ParameterError(
                f"{fn}: {name} must be non-empty text (or whole-number codes), got {v!r}"
            )
    if not out and not allow_empty:
        raise ParameterError(f"{fn}: give at least one of {name}")
    return out


def exams_path(exams: Any, fn: str) -> None:
    """A path given for out-of-core work must be Parquet: name the file otherwise; the files
    of a folder or pattern (the rule of every reader: :mod:`recurct.io._parquet`) readable,
    naming the first that is not."""
    if not isinstance(exams, str | os.PathLike):
        return
    path = Path(exams)
    if path.is_file():
        with path.open("rb") as fh:
            magic = fh.read(4)
        if magic != b"PAR1":
            raise ParameterError(
                f"{fn}: {path} is not a Parquet file; read CSV and other tables with "
                "recurct.read_exams(path) and pass the frame"
            )
        readable([path], fn)
    elif path.is_dir():
        readable(folder_files(path, fn), fn)
        # (what out of core would drop: checked once, by the scan that reads the folder)
    elif any(c in str(path) for c in "*?["):
        matches = pattern_files(str(path))
        if not matches:
            raise InputNotFoundError(f"{fn}: {path}: no file matches this pattern")
        readable(matches, fn)
    else:
        raise InputNotFoundError(f"{fn}: {path}: no such file or folder")


def dose_sum(doses: np.ndarray, fn: str) -> None:
    """Doses (finite, >= 0) whose total is a float: no per-patient or window sum can overflow
    to infinity. Otherwise the error names the rows of the largest doses."""
    with np.errstate(over="ignore"):
        total = float(np.sum(doses))
    if math.isfinite(total):
        return
    rows = np.argsort(-doses, kind="stable")[:5]
    rows = rows[doses[rows] >= doses[rows[0]] / 100]  # the huge ones, not the next plain doses
    shown = ", ".join(f"row {int(r)} ({doses[r]:g})" for r in rows)
    raise DataError(
        f"{fn}: column 'effective_dose_msv' sums to more than the largest float (1.8e308 mSv) "
        "over the table, which recurct refuses (a cumulative or window dose could be "
        f"infinite); the largest doses: {shown} (0-based). These "
        "are not doses in mSv: check the unit, or use recurct.validate, which bounds one exam"
    )


def threshold(value: Any, fn: str, name: str = "threshold") -> float:
    """Exactly one CED threshold in mSv: a finite number > 0 (text, a bool or a list refused).

    The rule of :func:`thresholds` for functions that take one threshold only.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise ParameterError(
            f"{fn}: {name} must be one number of mSv, got {value!r}"
            + ("; call it once per threshold" if isinstance(value, list | tuple) else "")
        )
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"{fn}: {name} must be a finite number > 0 mSv, got {value!r}")
    return float(thresholds(value, fn)[0])


#: The kinds of :class:`EndSpec`.
END_KINDS = ("data", "date", "column", "mapping")


@dataclass(frozen=True)
class EndSpec:
    """An ``end`` (or ``entry``) argument resolved by :func:`end_spec`.

    ``kind`` is ``"data"`` (None: the end of the data / no delayed entry), ``"date"``
    (``value`` a ``datetime.date``), ``"column"`` (``value`` a column name) or ``"mapping"``
    (``value`` a dict ``{site: datetime.date}``).
    """

    kind: str
    value: Any = None


def _as_day(value: Any, fn: str, name: str) -> dt.date:
    """A date, datetime, numpy datetime64 or ISO date string as a ``datetime.date``
    (:func:`recurct._dates.as_date`: a missing date, ``NaT`` or ``pd.NA``, is refused)."""
    day = as_date(value.strip() if isinstance(value, str) else value, f"{fn}: {name}")
    assert day is not None  # (none_ok is False)
    return day


def end_spec(
    value: Any,
    fn: str,
    name: str = "end",
    *,
    columns: Iterable[str] = (),
    kinds: Iterable[str] = END_KINDS,
) -> EndSpec:
    """Resolve an ``end`` or ``entry`` argument, the one rule of every function that has one.

    ``None`` is the end of the data (for ``entry``: no delayed entry); a ``datetime.date``,
    ``datetime``, ``numpy.datetime64`` or ``pandas.Timestamp`` is a date; a ``str`` that names
    one of ``columns`` is that column, else a ``str`` that parses as an ISO date
    (``"2021-01-01"``) is that date (an ISO date-time, ``"2021-01-01 12:00"``, its calendar
    day, as for a ``datetime``), else an error naming both readings; a mapping is one date
    per site (``{facility: date}``, values as above). ``kinds`` limits what the caller accepts.
    """
    allowed = set(kinds)
    cols = list(columns)
    if value is None:
        spec = EndSpec("data")
    elif isinstance(value, str):
        if value in cols:
            spec = EndSpec("column", value)
        else:
            try:  # (text with a time of day: its calendar day, as as_date reads it)
                spec = EndSpec("date", as_date(value.strip(), f"{fn}: {name}"))
            except ParameterError:
                shown = f"a column of the table ({cols[:20]})" if "column" in allowed else ""
                raise ParameterError(
                    f"{fn}: {name}={value!r} is neither "
                    + (f"{shown} nor " if shown else "")
                    + "an ISO date (YYYY-MM-DD)"
                ) from None
    elif isinstance(value, Mapping):
        spec = EndSpec(
            "mapping",
            {str(k): _as_day(v, fn, f"{name}[{k!r}]") for k, v in value.items()},
        )
    elif isinstance(value, dt.date | np.datetime64):
        spec = EndSpec("date", _as_day(value, fn, name))
    else:
        raise ParameterError(
            f"{fn}: {name} must be None, a date, an ISO date string, "
            f"a column name or a mapping {{site: date}}; got {type(value).__name__}"
        )
    if spec.kind not in allowed:
        ok = " or ".join(k if k != "data" else "None" for k in END_KINDS if k in allowed)
        raise ParameterError(f"{fn}: {name} must be {ok}, got {value!r}")
    return spec


def some_thresholds(values: Any, fn: str, name: str = "thresholds") -> list[float]:
    """One or more CED thresholds (:func:`thresholds`), at least one."""
    out = thresholds(values, fn).tolist()
    if not out:
        raise ParameterError(f"{fn}: give at least one of {name} in mSv, e.g. 100")
    return out


def alpha(value: Any, fn: str) -> float:
    """``1 - confidence level``: a number strictly between 0 and 1."""
    x = _scalar(value, fn, "alpha")
    if not 0.0 < x < 1.0:
        raise ParameterError(f"{fn}: alpha must be in (0, 1), got {value!r}")
    return x


def flag(value: Any, fn: str, name: str) -> bool:
    """A yes/no option: ``True`` or ``False`` (Python's or NumPy's), nothing else: ``"no"``
    or ``0`` would be read by their truth value and could silently do the opposite of what
    was meant."""
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{fn}: {name} must be True or False, got {value!r:.60}")
    return bool(value)


def optional_flag(value: Any, fn: str, name: str) -> bool | None:
    """:func:`flag`, or ``None`` where the option means "decide for me" (``progress``)."""
    return None if value is None else flag(value, fn, name)


def choice(value: Any, options: Iterable[str], fn: str, name: str) -> str:
    """One of the text ``options``, else ``ParameterError`` listing them (checked as text
    first, so that an array or Series is refused rather than compared element by element)."""
    allowed = tuple(options)
    if not isinstance(value, str) or value not in allowed:
        listed = ", ".join(repr(o) for o in allowed)
        raise ParameterError(f"{fn}: {name} must be one of {listed}, got {value!r:.60}")
    return value


def column_name(value: Any, fn: str, name: str) -> str:
    """The name of a column: non-empty text (a Series or a list is a mistake here: the
    parameter names one column of the table)."""
    if not isinstance(value, str) or not value:
        raise ParameterError(f"{fn}: {name} must be a column name (text), got {value!r:.60}")
    return value


def integer(value: Any, fn: str, name: str, *, lo: int = 0, hi: int | None = None) -> int:
    """An int (Python's or NumPy's; no bool, no float) in ``lo..hi``, else ``ParameterError``
    naming ``name`` (seeds, counts of bins or rounds, digits: where a float is a mistake)."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < lo or (hi is not None and value > hi):
        span = f">= {lo}" if hi is None else f"from {lo} to {hi:,}"
        raise ParameterError(f"{fn}: {name} must be an integer {span}, got {value!r:.60}")
    return int(value)


def whole(
    value: Any, fn: str, name: str, *, lo: int = 1, hi: int | None = None, what: str = ""
) -> int:
    """A whole number (an int, or a float with no fraction) in ``lo..hi``; no bool, no text."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{fn}: {name} must be a whole number{what}, got {value!r}")
    ok = isinstance(value, numbers.Integral) or (
        math.isfinite(float(value)) and float(value).is_integer()
    )
    top = "" if hi is None else f" and <= {hi:,}"
    if not ok or int(value) < lo or (hi is not None and int(value) > hi):
        raise ParameterError(
            f"{fn}: {name} must be a whole number >= {lo}{top}{what}, got {value!r}"
        )
    return int(value)


def int_array(value: Any, fn: str, name: str, *, ndim: int = 1) -> np.ndarray:
    """An integer array (any integer dtype, returned as int64) of ``ndim`` dimensions."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind not in "iu" or arr.ndim != ndim:
        raise ParameterError(
            f"{fn}: {name} must be a {ndim}-D integer (int64) array, got {arr.ndim}-D {arr.dtype}"
        )
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ParameterError(f"{fn}: {name} holds values beyond int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def float_array(value: Any, fn: str, name: str) -> np.ndarray:
    """A 1-D array of finite real numbers (not bool, not text) as float64."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind not in "iuf" or arr.ndim != 1:
        raise ParameterError(
            f"{fn}: {name} must be a 1-D float64 array, got {arr.ndim}-D {arr.dtype}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ParameterError(f"{fn}: {name} must hold finite numbers (no NaN or infinity)")
    return out


def offsets(starts: Any, n: int, fn: str, name: str = "starts") -> np.ndarray:
    """Group offsets: an int64 array from 0 to ``n``, non-decreasing."""
    arr = int_array(starts, fn, name)
    if arr.size < 1 or arr[0] != 0 or arr[-1] != n or (np.diff(arr) < 0).any():
        raise ParameterError(
            f"{fn}: {name} must be offsets ascending from 0 to the number of exams ({n}), "
            f"got {arr[:5].tolist()}{' ...' if arr.size > 5 else ''}"
        )
    return arr


def sorted_within(day: np.ndarray, starts: np.ndarray, fn: str, name: str = "day") -> None:
    """``day`` non-decreasing within each group of the offsets ``starts``."""
    drop = np.flatnonzero(np.diff(day) < 0) + 1  # positions where day goes back
    if drop.size and not np.isin(drop, starts).all():
        raise ParameterError(f"{fn}: {name} must be non-decreasing within each group (sorted)")


def path(value: Any, fn: str, name: str, *, what: str = "a file or folder") -> Path:
    """The path of ``what``: non-empty text or an ``os.PathLike`` (not bytes, a number, None)."""
    if not isinstance(value, str | os.PathLike) or not str(os.fspath(value)).strip():
        raise ParameterError(f"{fn}: {name} must be the path of {what}, got {value!r}")
    return Path(value)


def broadcast(
    a: np.ndarray, b: np.ndarray, fn: str, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` broadcast to one shape, else a :class:`ParameterError` naming both
    (``names``) and their shapes."""
    try:
        a2, b2 = np.broadcast_arrays(a, b)
    except ValueError:
        raise ParameterError(
            f"{fn}: {names[0]} (shape {a.shape}) and {names[1]} (shape {b.shape}) must have "
            "the same shape, or shapes that broadcast (one a single number)"
        ) from None
    return a2, b2
