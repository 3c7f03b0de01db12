"""The faster CSV reading of ``read_exams`` reads exactly what the rules say.

Numbers in text (decimal marks decided per column, docs/data-preparation.md "Numbers in
text") and a separate time-of-day column merged into ``exam_date`` are checked against plain
Python references of the rules (written here, cell by cell, with the patterns of the rule as
first shipped), on messy random columns and files: the values read, the nulls, the problem
rows (row, column, value as written, reason), the warnings and the errors must be the same.
"""

from __future__ import annotations

import csv
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recurct import read_exams
from recurct._dates import parse_date_series, parse_study_time
from recurct._validation import AMBIGUOUS_NUMBER
from recurct.errors import UnmappedValuesWarning
from recurct.io import exams

# ---------------------------------------------------------------- references of the rules

# the patterns of the rule as first written (one per reading), matched whole
_GROUPED_P = r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+"
_GROUPED_C = r"[+-]?[1-9]\d{0,2}(?:,\d{3})+"
_ONE_P = r"[+-]?[1-9]\d{0,2}\.\d{3}"
_ONE_C = r"[+-]?[1-9]\d{0,2},\d{3}"
_DEC_C = r"[+-]?(?:\d*|[1-9]\d{0,2}(?:\.\d{3})+),\d+"
_DEC_P = r"[+-]?(?:\d*|[1-9]\d{0,2}(?:,\d{3})+)\.\d+"
_NOT_A_NUMBER = "\x00?"


def _is(pattern: str, cell: str) -> bool:
    return re.fullmatch(pattern, cell) is not None


def ref_numbers(cells: list[str | None], decimal: str | None) -> list[str | None]:
    """The decimal-mark rule, cell by cell, in plain Python."""
    if decimal == "as-is":
        return cells
    present = [c for c in cells if c is not None]
    no_comma = not any("," in c for c in present)
    if decimal is None and no_comma and not any(_is(_GROUPED_P, c) for c in present):
        return cells

    def one(c: str) -> bool:
        return _is(_ONE_P, c) or _is(_ONE_C, c)

    def dec_c(c: str) -> bool:
        return _is(_DEC_C, c) or _is(_GROUPED_P, c)

    def dec_p(c: str) -> bool:
        return _is(_DEC_P, c) or _is(_GROUPED_C, c)

    def as_comma(c: str) -> str:
        return c.replace(".", "").replace(",", ".", 1)

    def as_point(c: str) -> str:
        return c.replace(",", "")

    if decimal is None:
        c_only = any(dec_c(c) and not one(c) for c in present)
        p_only = any(dec_p(c) and not one(c) for c in present)
        if c_only != p_only:
            decimal = "," if c_only else "."
        else:
            out: list[str | None] = []
            for c in cells:
                if c is None:
                    out.append(None)
                elif one(c):
                    out.append(c + AMBIGUOUS_NUMBER)
                elif dec_c(c):
                    out.append(as_comma(c))
                elif dec_p(c):
                    out.append(as_point(c))
                else:
                    out.append(c)
            return out
    if decimal == ",":
        return [
            None
            if c is None
            else as_comma(c)
            if dec_c(c)
            else c + _NOT_A_NUMBER
            if "." in c
            else c.replace(",", ".")
            for c in cells
        ]
    return [None if c is None else as_point(c) if dec_p(c) else c for c in cells]


_COLON_TIME = r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
_DICOM_TIME = r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,9}))?)?)?"


def ref_time(text: str | None) -> str | None:
    """A time of day of the accepted forms as HH:MM:SS[.f], else None (ASCII digits)."""
    if text is None:
        return None
    t = text.strip(" \t")
    m = re.fullmatch(_COLON_TIME, t) or re.fullmatch(_DICOM_TIME, t)
    if m is None:
        return None
    h, mi, s, f = m.group(1), m.group(2) or "00", m.group(3) or "00", m.group(4)
    if int(h) > 23 or int(mi) > 59 or int(s) > 59:
        return None
    return f"{int(h):02d}:{mi}:{s}" + (f".{f}" if f else "")


def _ref_numeric_text(s: pl.Series, decimal: str | None) -> pl.Series:
    if decimal == "as-is" or s.dtype != pl.Utf8:
        return s
    return pl.Series(s.name, ref_numbers(s.to_list(), decimal), dtype=pl.Utf8)


def _ref_clock(t: str) -> tuple[int, int, int, int]:
    """``HH:MM:SS[.f]`` (:func:`ref_time`) as hours, minutes, seconds, microseconds (the
    fraction cut to microseconds, as the merge reads it)."""
    hms, _, frac = t.partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    return h, m, s, int((frac + "000000")[:6])


def _zeros(text: str) -> bool:
    return text != "" and set(text) == {"0"}


def _digits(text: str, n: int | None = None) -> bool:
    """ASCII digits only (``n`` of them, when given): dates are read in ASCII digits."""
    return text.isascii() and text.isdigit() and (n is None or len(text) == n)


def _ref_midnight(v: str) -> str | None:
    """The date of ``v`` when ``v`` is a date written with a time of exactly midnight, else
    None: a date of digits and ``.``, ``/`` or ``-`` (1-4, 1-2, 1-4 digits), a space or
    ``T``, then ``0:00`` or ``00:00`` (``:00``, ``:00.000`` may follow) and maybe a zone
    (``Z``, ``+01``, ``+0100``, ``+01:00``, a space before the sign allowed); or a DICOM DT
    at 000000 (``.000`` may follow), with a ``Z``, or a ``+0100`` when written without a
    space. Written with string operations, not the reader's pattern."""
    if len(v) <= 10:
        return None
    if _digits(v[:8], 8) and v[8:9] in (" ", "0"):
        rest = v[9:] if v[8] == " " else v[8:]
        if rest.endswith("Z"):
            rest = rest[:-1]
        elif len(rest) > 5 and rest[-5] in "+-" and _digits(rest[-4:]):
            if v[8] == " ":
                return None
            rest = rest[:-5]
        hms, dot, frac = rest.partition(".")
        if hms == "000000" and (not dot or _zeros(frac)):
            return v[:8]
        return None
    cut = min((v.find(c) for c in " T" if c in v), default=-1)
    if cut < 0:
        return None
    date, clock = v[:cut], v[cut + 1 :]
    fields = date.replace("/", "-").replace(".", "-").split("-")
    widths = [(1, 4), (1, 2), (1, 4)]
    if len(fields) != 3 or not all(
        _digits(f) and lo <= len(f) <= hi for f, (lo, hi) in zip(fields, widths)
    ):
        return None
    if clock.endswith("Z"):
        clock = clock[:-1]
    else:
        for width in (6, 5, 3):  # +01:00, +0100, +01 (a space before allowed)
            tail = clock[-width:]
            if len(clock) > width and tail[0] in "+-" and _digits(tail[1:].replace(":", "", 1)):
                if (width == 6 and tail[3] != ":") or (width == 5 and ":" in tail):
                    continue
                clock = clock[:-width].removesuffix(" ")
                break
    parts = clock.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("0", "00") or parts[1] != "00":
        return None
    if len(parts) == 3:
        sec, dot, frac = parts[2].partition(".")
        if sec != "00" or (dot and not _zeros(frac)):
            return None
    return date


def _ref_has_time(v: str) -> bool:
    """Whether ``v`` is written with a time of day: one or two digits (not after a sign or
    another digit: ``2020-01-03+01:00`` is a date and a zone), a colon and two digits, or a
    DICOM DT (eight digits, maybe a space, four more); ASCII digits."""
    for i, c in enumerate(v):
        if c != ":" or not _digits(v[i + 1 : i + 3], 2):
            continue
        j = i
        while j > 0 and _digits(v[j - 1]):
            j -= 1
        if 1 <= i - j <= 2 and (j == 0 or v[j - 1] not in "+-"):
            return True
    rest = v[9:13] if v[8:9] == " " else v[8:12]
    return _digits(v[:8], 8) and _digits(rest, 4)


def _ref_rows(rows: list[int], shown: int, lines: bool) -> str:
    """Rows as the warnings list them, with the lines of the file (this test's files: one
    line per row, after the header)."""
    more = ", ..." if len(rows) > shown else ""
    one = len(rows) == 1
    text = ("row " if one else "rows ") + ", ".join(map(str, rows[:shown])) + more + ", 0-based"
    if lines:
        at = ", ".join(str(r + 2) for r in rows[:shown]) + more
        text += f"; {'line' if one else 'lines'} {at} of the file"
    return text


def _ref_warn_bad_times(
    source: str, column: str, rows: list[int], values: list[str], lines: bool
) -> None:
    distinct = list(dict.fromkeys(values))
    quoted = ", ".join(repr(v) for v in distinct[:10]) + (", ..." if len(distinct) > 10 else "")
    warnings.warn(
        UnmappedValuesWarning(
            f"{source}: column {column!r}: {len(rows)} time(s) of day are none of the accepted "
            "forms (HH:MM[:SS[.f]], H:MM[:SS[.f]] or DICOM HH[MM[SS[.f]]]) and were dropped; "
            "those exams keep their date, without a time "
            f"({_ref_rows(rows, 10, lines)}; values {quoted})"
        ),
        stacklevel=2,
    )


_REF_NOT_USED = (
    "were not used: the exam date of those rows is written with a time of day of its own, "
    "which differs, and keeps it (the time column is joined only to dates written alone, or "
    "at midnight, 00:00)"
)
_REF_JOINED = (
    "were joined to exam dates written at midnight (00:00) in a column whose other dates "
    "have a time of day of their own: those exams take the time column's time, on the same "
    "day (so that two exams of one day stay two; an exam really at midnight would have "
    "00:00 in the time column)"
)


def _ref_warn_pairs(
    said: str,
    source: str,
    column: str,
    rows: list[int],
    pairs: list[tuple[str, str]],
    lines: bool,
) -> None:
    listed = ", ".join(f"{d!r} and {t!r}" for d, t in pairs[:5]) + (
        ", ..." if len(pairs) > 5 else ""
    )
    warnings.warn(
        UnmappedValuesWarning(
            f"{source}: column {column!r}: {len(rows)} time(s) of day {said}; check which is "
            f"right ({_ref_rows(rows, 5, lines)}; date and time {listed})"
        ),
        stacklevel=2,
    )


def _ref_merge_time(
    frame: pl.DataFrame, source: str, column: str, dayfirst: bool, lines: Any = None
) -> tuple[pl.DataFrame, None]:
    """The merge as first shipped: the date and the time joined as text, the joined text
    parsed (the references' time rule); no dates parsed passed on (validation parses the
    text). A date written at exactly midnight is its date part (the time joined to it), cell
    by cell (session 20; in session 19 only where no date of the column had another time of
    day); where the column has other times of day, the rows whose midnight took another time
    are warned of; a date written with a time of its own keeps it, and the rows whose time
    column differs are warned of (session 19). The time column is dropped unless one of its
    times was not used (none of its forms, differing, or joined to a date that then does
    not parse while the date alone does: session 20). Its own midnight test, row listing
    and warnings."""
    raw = frame.get_column(exams.STUDY_TIME)
    text = raw if raw.dtype == pl.Utf8 else raw.cast(pl.Utf8, strict=False)
    times = text.to_list()
    clocks = [ref_time(t) for t in times]
    bad = [i for i, (t, c) in enumerate(zip(times, clocks)) if t and t.strip() and c is None]
    if bad:
        _ref_warn_bad_times(source, column, bad, [times[i] for i in bad], lines is not None)
    clock = pl.Series("t", clocks, dtype=pl.Utf8)
    d = frame.get_column("exam_date").cast(pl.Utf8)
    written = d.to_list()
    midnight = [None if v is None else _ref_midnight(v) for v in written]
    timed_column = any(
        v is not None and len(v) > 10 and m is None and _ref_has_time(v)
        for v, m in zip(written, midnight)
    )
    base = pl.Series([v if m is None else m for m, v in zip(midnight, written)], dtype=pl.Utf8)
    dicom = base.str.contains(r"^\d{8}$").fill_null(False)
    date_only = dicom | (base.str.len_chars() <= 10).fill_null(False)
    clock_as = pl.when(dicom).then(clock.str.replace_all(":", "")).otherwise(clock)
    joined = pl.select(
        pl.when(date_only & clock.is_not_null()).then(pl.concat_str([base, pl.lit(" "), clock_as]))
    ).to_series()
    use = parse_date_series(joined, dayfirst=dayfirst).is_not_null()
    own = parse_date_series(d, dayfirst=dayfirst).to_list()
    differs = [
        i
        for i, (alone, t, v) in enumerate(zip(date_only.to_list(), clocks, own))
        if not alone
        and t is not None
        and v is not None
        and (v.hour, v.minute, v.second, v.microsecond) != _ref_clock(t)
    ]
    if differs:
        pairs = [(written[i], times[i]) for i in differs]
        _ref_warn_pairs(_REF_NOT_USED, source, column, differs, pairs, lines is not None)
    took = use.to_list()
    moved = [
        i
        for i, (m, t, u) in enumerate(zip(midnight, clocks, took))
        if timed_column and m is not None and u and _ref_clock(t) != (0, 0, 0, 0)
    ]
    if moved:
        pairs = [(written[i], times[i]) for i in moved]
        _ref_warn_pairs(_REF_JOINED, source, column, moved, pairs, lines is not None)
    left = [
        i
        for i, (alone, t, u, v) in enumerate(zip(date_only.to_list(), clocks, took, own))
        if alone and t is not None and not u and v is not None
    ]
    if use.any():
        frame = frame.with_columns(exam_date=pl.when(use).then(joined).otherwise(d))
    if bad or differs or left:  # a time not used: the time column kept
        return frame, None
    return frame.drop(exams.STUDY_TIME), None


# ---------------------------------------------------------------- generators

_NUMBER_PARTS = ["1", "12", "123", "0", "5", "234", "000", "1234", ",", ".", "-", "+", "x", " "]
_number = st.one_of(
    st.sampled_from(["", "NULL", "-", "N/A", "12,5", "12.5", "1.234", "1,234", "1.234,5"]),
    st.sampled_from(["1,234.5", "1.234.567", "1,234,567", "0,500", ".5", ",5", "1e3", "NaN"]),
    st.lists(st.sampled_from(_NUMBER_PARTS), min_size=1, max_size=5).map("".join),
)
_DATES = [
    *("2020-01-31", "2020/01/31", "20200131", "2019-12-31 08:15", "2019-12-31T08:15:00.5"),
    *("20191231 081500", "20191231081500", "2020-02-30", "20201301", "2020111", "0999-01-01"),
    *("2/1/20", "31/01/2020", "31.01.2020", "31-01-2020", "1.2.2020", "2020-01-31Z", "x", ""),
    *("NULL", "2020-1-5", "2020-01-31+01:00", "2016-12-31 23:59:60", "20200131Z", "١٢"),
    *("2020-01-31 00:00:00.000", "31.01.2020 00:00", "2020-01-31T00:00", "2020-13-31 00:00"),
    *("20200131000000", "20200131 000000", "20200131000000.000", "2020-01-31T00:00Z"),
    *("2020-01-31T00:00+01:00", "2020-01-31 00:00 -0500", "20200131000000+0100"),
    *("2020-01-31 00:00:00.5", "20200131 000000+0100", "1/31/2020 00:00", "2020-01-31 0:00:00"),
]
_TIME_PARTS = ["0", "1", "2", "5", "9", "08", "23", "24", "59", "60", ":", ".", " ", "x", "123"]
_time = st.one_of(
    st.none(),
    st.sampled_from(["", "08:15", "8:15", "08:15:30", "08:15:30.5", "081530", "081530.123456"]),
    st.sampled_from(["0815", "08", "2400", "8.15", "13:5", "815", "12h30", "23:59:59", "NULL"]),
    st.sampled_from(["23:59:59.123456789", "00:00:00.9999999", "235959.1234567", "0:00:01.5"]),
    st.lists(st.sampled_from(_TIME_PARTS), min_size=1, max_size=5).map("".join),
)


@st.composite
def _files(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        rows.append(
            {
                "Patient ID": draw(st.sampled_from([str(i % 3), f"P{i % 3}", ""])),
                "Study Date": draw(st.sampled_from(_DATES)),
                "Study Time": draw(_time),
                "Effective Dose (mSv)": draw(_number),
                "DLP (mGy.cm)": draw(_number),
            }
        )
    return {
        "rows": rows,
        "sep": draw(st.sampled_from([";", ","])),
        "time": draw(st.booleans()),
        "decimal": draw(st.sampled_from([None, ",", "."])),
        "dayfirst": draw(st.booleans()),
        "strict": draw(st.booleans()),
    }


def _write(spec: dict[str, Any], path: Path) -> None:
    names = ["Patient ID", "Study Date", "Effective Dose (mSv)", "DLP (mGy.cm)"]
    if spec["time"]:
        names.insert(2, "Study Time")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=spec["sep"])
        w.writerow(names)
        for r in spec["rows"]:
            w.writerow(["" if r[k] is None else r[k] for k in names])


def _outcome(path: Path, spec: dict[str, Any]) -> tuple[Any, ...]:
    """What a read gives: the table and problems, or the error; and the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = read_exams(
                path,
                decimal=spec["decimal"],
                dayfirst=spec["dayfirst"],
                strict=spec["strict"],
                today="2030-01-01",
            )
            got: tuple[Any, ...] = ("ok", res.exams, res.report.problems)
        except Exception as exc:  # compared, type and message
            got = ("error", type(exc), str(exc))
    said = [(w.category, str(w.message)) for w in caught]
    return (*got, said)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        assert a[1].equals(b[1], null_equal=True), (a[1], b[1])
        assert a[1].schema == b[1].schema
        assert a[2].equals(b[2], null_equal=True), (a[2], b[2])
    else:
        assert a[1:3] == b[1:3]
    assert a[3] == b[3]


# ---------------------------------------------------------------- properties

_column = st.lists(st.one_of(st.none(), _number), min_size=0, max_size=8)


@given(cells=_column, decimal=st.sampled_from([None, ",", ".", "as-is"]))
@settings(max_examples=400, deadline=None)
def test_numbers_follow_the_rule(cells: list[str | None], decimal: str | None) -> None:
    s = pl.Series("dlp_mgycm", cells, dtype=pl.Utf8)
    got = exams._numeric_text(s, decimal)
    assert got.name == "dlp_mgycm"
    assert got.dtype == pl.Utf8
    assert got.to_list() == ref_numbers(cells, decimal)


@given(values=st.lists(_time, max_size=8))
@settings(max_examples=400, deadline=None)
def test_times_follow_the_rule(values: list[str | None]) -> None:
    s = pl.Series("t", values, dtype=pl.Utf8)
    expected = [ref_time(v) for v in values]
    assert parse_study_time(s).to_list() == expected
    lazy = s.to_frame().select(parse_study_time(pl.col("t"))).to_series()
    assert lazy.to_list() == expected


@given(spec=_files())
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_read_exams_same_as_the_rule(spec: dict[str, Any], tmp_path: Path) -> None:
    """A messy file reads as the references read it: values, nulls, problems (value as
    written), warnings and errors."""
    path = tmp_path / "exams.csv"
    _write(spec, path)
    new = _outcome(path, spec)
    with (
        mock.patch.object(exams, "_numeric_text", _ref_numeric_text),
        mock.patch.object(exams, "_merge_time", _ref_merge_time),
    ):
        ref = _outcome(path, spec)
    _same(new, ref)


def test_decided_columns_big_and_small() -> None:
    """The paths of a decided mark on a column larger than a sample: a decimal-comma column
    with thousands points, one with a stray point, a decimal-point column with thousands
    commas."""
    rng = np.random.default_rng(7)
    base = [f"{a},{b}" for a, b in zip(rng.integers(0, 999, 2000), rng.integers(0, 9, 2000))]
    cases = [
        [*base, "1.234,5", "1.234", None, "", "x"],
        [*base, "12.5"],
        [f"{a}.{b}" for a, b in zip(rng.integers(0, 999, 2000), rng.integers(0, 9, 2000))]
        + ["1,234.5", "1,234", "1,234,567"],
    ]
    for cells in cases:
        for decimal in (None, ",", "."):
            got = exams._numeric_text(pl.Series("x", cells, dtype=pl.Utf8), decimal)
            assert got.to_list() == ref_numbers(cells, decimal)


# ---------------------------------------------------------------- times in other digits


@pytest.mark.parametrize("value", ["٠٨:١٥", "08:15:00.٥", "１２:３０", "٠٨"])
def test_time_in_other_digits_is_no_time(value: str, tmp_path: Path) -> None:
    """A time written with digits other than ASCII is none of the accepted forms: counted
    in the warning, the exam keeps its date (before: a raw polars error for some, a time
    silently dropped for others)."""
    path = tmp_path / "t.csv"
    path.write_text(
        f"patient_id,exam_date,Study Time,effective_dose_msv\n1,2020-01-01,{value},1.0\n"
        "2,2020-01-02,08:15,1.0\n",
        encoding="utf-8",
    )
    with pytest.warns(UnmappedValuesWarning, match=r"1 time\(s\) of day") as caught:
        res = read_exams(path, today="2030-01-01")
    assert str(path) in str(caught[0].message)
    assert repr(value) in str(caught[0].message)
    dates = res.exams.get_column("exam_date").to_list()
    assert [str(d) for d in dates] == ["2020-01-01 00:00:00", "2020-01-02 08:15:00"]


def test_parse_study_time_other_digits() -> None:
    s = pl.Series(["٠٨:١٥", "08:15:00.٥", "08:15:00.5", "٣"])
    assert parse_study_time(s).to_list() == [None, None, "08:15:00.5", None]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the exam dates parsed (rows of text, null or not) wherever they are parsed."""
    from recurct import _casts

    sizes: list[int] = []

    def counted(s: pl.Series, *, dayfirst: bool = False) -> pl.Series:
        sizes.append(int(s.is_not_null().sum()))
        return parse_date_series(s, dayfirst=dayfirst)

    monkeypatch.setattr(exams, "parse_date_series", counted)
    monkeypatch.setattr(_casts, "parse_date_series", counted)
    return sizes


@pytest.mark.parametrize("validate", [True, False])
def test_dates_parsed_once_with_a_time_column(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, validate: bool
) -> None:
    """With a separate time column each date is parsed once (by the merge), not parsed again
    by validation; the result is that of parsing the merged text."""
    path = tmp_path / "exams.csv"
    path.write_text(
        "Patient ID,Study Date,Study Time,Effective Dose (mSv)\n"
        "1,2020-01-31,08:15:30.1234567,1.5\n"
        "1,20200201,081530,2\n"
        "2,2020-02-03T07:00,,3\n"  # a time already: not joined
        "2,2020-02-04,,4\n"  # no time
        "3,20200205Z,09:00,5\n",  # not plain: parsed joined, then alone
        encoding="utf-8",
    )
    sizes = _counting(monkeypatch)
    got = read_exams(path, validate=validate, today="2030-01-01").exams
    # the plain and unjoined dates, the joined one that is not plain, the last alone
    assert sizes == [4, 1, 1]
    assert got.get_column("exam_date").to_list() == [
        datetime(2020, 1, 31, 8, 15, 30, 123456),
        datetime(2020, 2, 1, 8, 15, 30),
        datetime(2020, 2, 3, 7, 0),
        datetime(2020, 2, 4),
        datetime(2020, 2, 5),
    ]
    monkeypatch.undo()
    with mock.patch.object(exams, "_merge_time", _ref_merge_time):
        ref = read_exams(path, validate=validate, today="2030-01-01").exams
    assert got.equals(ref, null_equal=True)
    assert got.schema == ref.schema


def test_dates_parsed_once_all_plain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The usual file (plain dates, a time on most rows): one parse of the date column."""
    path = tmp_path / "exams.csv"
    path.write_text(
        "Patient ID,Study Date,Study Time,Effective Dose (mSv)\n"
        "1,20200131,081530.5,1\n1,20200201,,2\n2,2020-02-30,08:00,3\n",
        encoding="utf-8",
    )
    sizes = _counting(monkeypatch)
    with pytest.warns(UserWarning, match="1 unparseable date"):
        res = read_exams(path, strict=False, today="2030-01-01")
    assert sizes == [3]
    assert res.exams.get_column("exam_date").to_list() == [
        datetime(2020, 1, 31, 8, 15, 30, 500000),
        datetime(2020, 2, 1),
    ]
    assert res.report.problems.get_column("value").to_list() == ["2020-02-30"]


@given(
    dates=st.lists(st.one_of(st.none(), st.sampled_from(_DATES)), min_size=1, max_size=8),
    times=st.lists(_time, min_size=8, max_size=8),
    dayfirst=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_merge_parses_what_it_returns(
    dates: list[str | None], times: list[str | None], dayfirst: bool
) -> None:
    """The dates the merge passes on are the text it returns, parsed: row for row."""
    frame = pl.DataFrame(
        {"exam_date": dates, exams.STUDY_TIME: times[: len(dates)]},
        schema={"exam_date": pl.Utf8, exams.STUDY_TIME: pl.Utf8},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmappedValuesWarning)
        out, parsed = exams._merge_time(frame, "f.csv", "Study Time", dayfirst)
    if parsed is None:
        return
    text = out.get_column("exam_date")
    assert parsed.dtype == pl.Datetime("us")
    assert parsed.to_list() == parse_date_series(text, dayfirst=dayfirst).to_list()


def test_cli_dates_parsed_once_with_a_time_column(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The command line reads through the same merge: each date is parsed once there too,
    and the exams and the report are those of parsing the merged text again."""
    import argparse

    from recurct.cli import _input

    path = tmp_path / "exams.csv"
    path.write_text(
        "Patient ID,Study Date,Study Time,Effective Dose (mSv)\n"
        "1,2020-01-31,08:15:30.1234567,1.5\n"
        "1,20200201,081530,2\n"
        "2,2020-02-03T07:00,,3\n"
        "2,2020-02-30,,4\n"  # no such day: a problem row, dropped by the command line
        "3,20200205Z,09:00,5\n",
        encoding="utf-8",
    )
    args = argparse.Namespace(today="2030-01-01")
    sizes = _counting(monkeypatch)
    loaded, report = _input.read_and_validate(str(path), args)
    assert sizes == [4, 1, 1]
    monkeypatch.undo()
    with mock.patch.object(exams, "_merge_time", _ref_merge_time):
        ref, ref_report = _input.read_and_validate(str(path), args)
    assert loaded.exams.equals(ref.exams, null_equal=True)
    assert loaded.exams.schema == ref.exams.schema
    assert report.problems.equals(ref_report.problems, null_equal=True)
    assert report.problems.get_column("value").to_list() == ["2020-02-30"]
    assert loaded.exams.get_column("exam_date").to_list() == [
        datetime(2020, 1, 31, 8, 15, 30, 123456),
        datetime(2020, 2, 1, 8, 15, 30),
        datetime(2020, 2, 3, 7, 0),
        datetime(2020, 2, 5),
    ]
