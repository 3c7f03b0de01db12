"""The canonical exam table: one row per CT examination (see DESIGN.md).

Columns and dtypes (polars):

=====================  ==============================  ====================================
column                 dtype                           notes
=====================  ==============================  ====================================
``patient_id``         ``Utf8`` or ``Int64``           required; kept as given
``exam_date``          ``Datetime("us")`` or ``Date``  required; time of day orders exams
``effective_dose_msv`` ``Float64``                     required for dose analysis, >= 0
``dlp_mgycm``          ``Float64``                     optional, >= 0
``ctdivol_mgy``        ``Float64``                     optional, >= 0
``body_region``        ``Utf8``                        optional, one of :data:`BODY_REGIONS`
``age_years``          ``Float64``                     optional, age at the exam, 0-130
``sex``                ``Utf8``                        optional, one of F, M, O, U
``facility``           ``Utf8``                        optional
``study_uid``          ``Utf8``                        optional
``indication``         ``Utf8``                        optional
=====================  ==============================  ====================================

Unknown columns are carried through unchanged.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import numpy as np
import polars as pl

from recurct._dates import as_date
from recurct._frames import to_polars

REQUIRED_COLUMNS: tuple[str, ...] = ("patient_id", "exam_date", "effective_dose_msv")
"""Columns every exam table must have for a dose analysis."""

OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "dlp_mgycm": pl.Float64(),
    "ctdivol_mgy": pl.Float64(),
    "body_region": pl.Utf8(),
    "age_years": pl.Float64(),
    "sex": pl.Utf8(),
    "facility": pl.Utf8(),
    "study_uid": pl.Utf8(),
    "indication": pl.Utf8(),
}
"""Optional canonical columns and their polars dtypes."""

BODY_REGIONS: tuple[str, ...] = (
    "head",
    "neck",
    "head_neck",
    "chest",
    "abdomen",
    "pelvis",
    "abdomen_pelvis",
    "chest_abdomen_pelvis",
    "spine",
    "extremity",
    "other",
)
"""Canonical body regions."""

SEX_CODES: tuple[str, ...] = ("F", "M", "O", "U")
"""Canonical sex codes (DICOM Patient's Sex: F, M, O; U for unknown)."""

DOSE_COLUMNS: tuple[str, ...] = ("effective_dose_msv", "dlp_mgycm", "ctdivol_mgy")
"""Columns that hold doses: finite and >= 0 where present."""

__all__ = [
    "BODY_REGIONS",
    "DICOM_AGE_UNITS",
    "DOSE_COLUMNS",
    "DUPLICATE_RULE",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SEX_CODES",
    "DroppedRowsWarning",
    "ExamValidationError",
    "ValidationReport",
    "dicom_age_years",
    "duplicate_mask",
    "parse_dates",
    "parse_dicom_age",
    "validate",
]

EARLIEST_DATE = date(1900, 1, 1)
"""Exam dates before this day are impossible."""

MAX_AGE_YEARS = 130.0
"""Largest plausible age at an exam, in years."""

DICOM_AGE_UNITS: dict[str, float] = {"Y": 1.0, "M": 12.0, "W": 365.25 / 7.0, "D": 365.25}
"""DICOM Age String units and how many of each make one year (the divisor to years).

A year is 365.25 days, so a week is 7/365.25 years and a day 1/365.25 years; a month is
1/12 year.
"""

# A number (digits, optionally a decimal point or comma and more digits), then one unit
# letter; spaces around either are tolerated, case is ignored. Strict DICOM AS is "nnnU".
_DICOM_AGE_PATTERN = r"^\s*(\d+(?:[.,]\d+)?)\s*([YMWDymwd])\s*$"
_DICOM_AGE_RE = re.compile(_DICOM_AGE_PATTERN)

_SHOW = 20  # problems shown in an error message

# Date formats tried, in order, on strings (after "T" -> " " and a trailing "Z" removed).
_ISO_FORMATS = tuple(f"%Y{s}%m{s}%d{t}" for s in "-/" for t in (" %H:%M:%S%.f", " %H:%M", ""))
_DICOM_FORMATS = ("%Y%m%d %H%M%S%.f", "%Y%m%d%H%M%S%.f", "%Y%m%d")
_DAYFIRST_FORMATS = tuple(f"%d{s}%m{s}%Y{t}" for s in "/.-" for t in (" %H:%M:%S%.f", " %H:%M", ""))
_SEX_WORDS = {"FEMALE": "F", "MALE": "M", "OTHER": "O", "UNKNOWN": "U"}
_PROBLEMS_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}


class ExamValidationError(ValueError):
    """An exam table broke the canonical schema; ``.problems`` lists every problem.

    ``problems`` is a polars DataFrame with columns ``row`` (0-based row of the input, null
    for a missing column), ``column``, ``value`` (the offending value as text) and ``reason``.
    """

    def __init__(
        self, problems: pl.DataFrame, source: str | None = None, hint: str | None = None
    ) -> None:
        self.problems = problems
        self.source = source
        self.hint = hint
        message = _problem_message(problems, source)
        super().__init__(f"{message}\n{hint}" if hint else message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (multiprocessing, Dask workers)
        return (type(self), (self.problems, self.source, self.hint))


class DroppedRowsWarning(UserWarning):
    """``validate(strict=False)`` dropped rows; the message counts them by reason."""


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """What :func:`validate` found and dropped.

    Attributes
    ----------
    n_rows_in, n_rows_out : int
        Rows given and rows returned.
    dropped_by_reason : dict of str to int
        Rows dropped for each reason (a row with two problems counts under both).
    problems : polars.DataFrame
        One row per problem: ``row`` (0-based input row), ``column``, ``value``, ``reason``.
    """

    n_rows_in: int
    n_rows_out: int
    dropped_by_reason: dict[str, int]
    problems: pl.DataFrame

    @property
    def n_dropped(self) -> int:
        """Rows dropped."""
        return self.n_rows_in - self.n_rows_out

    @property
    def is_clean(self) -> bool:
        """True when no problem was found."""
        return self.problems.height == 0

    def __str__(self) -> str:
        lines = [
            f"rows in: {self.n_rows_in}, rows out: {self.n_rows_out}, "
            f"dropped: {self.n_dropped}, problems: {self.problems.height}"
        ]
        for reason, n in self.dropped_by_reason.items():
            lines.append(f"  {n:>10}  {reason}")
        if self.problems.height:
            lines.append(_problem_lines(self.problems))
        return "\n".join(lines)


def _describe(row: dict[str, Any]) -> str:
    where = "" if row["row"] is None else f"row {row['row']}, "
    value = "" if row["value"] is None else f" (value: {row['value']!r})"
    return f"{where}column {row['column']!r}: {row['reason']}{value}"


def _problem_lines(problems: pl.DataFrame, show: int = _SHOW) -> str:
    lines = [f"  {_describe(r)}" for r in problems.head(show).iter_rows(named=True)]
    if problems.height > show:
        lines.append(f"  ... and {problems.height - show} more (see .problems)")
    return "\n".join(lines)


def _problem_message(problems: pl.DataFrame, source: str | None) -> str:
    n = problems.height
    where = f"{source}: " if source else ""
    head = f"{where}{n} problem{'s' if n != 1 else ''} in the exam table"
    if n > _SHOW:
        head += f" (first {_SHOW} shown)"
    fix = (
        "Fix the data, map the columns, or pass strict=False to drop the bad rows "
        "(a missing column cannot be dropped)."
    )
    return f"{head}:\n{_problem_lines(problems)}\n{fix}"


def parse_dates(expr: pl.Expr, *, dayfirst: bool = False) -> pl.Expr:
    """Parse a string expression of exam dates to ``Datetime("us")`` (null where unparseable).

    Accepted: ISO 8601 (``2019-12-31``, ``2019-12-31 08:15``, ``2019-12-31T08:15:00.5``,
    a trailing ``Z`` ignored; also with ``/``: ``2019/12/31``), DICOM DA (``20191231``), DA
    and TM joined by a space (``20191231 081500.5``), DICOM DT (``20191231081500``) and,
    with ``dayfirst=True``, ``31/12/2019``, ``31.12.2019``, ``31-12-2019`` (optionally
    followed by ``HH:MM[:SS]``).
    """
    s = _date_text(expr)
    return pl.coalesce(
        [s.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in _formats(dayfirst)]
    )


def parse_dicom_age(values: Any) -> Any:
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
        :func:`validate` reports ages outside 0-130.

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


def _date_text(e: Any) -> Any:
    """Spaces and a trailing ``Z`` removed, ``T`` -> space (an Expr or a Series)."""
    return e.str.strip_chars().str.strip_suffix("Z").str.replace("T", " ", literal=True)


def _formats(dayfirst: bool) -> tuple[str, ...]:
    return _ISO_FORMATS + _DICOM_FORMATS + (_DAYFIRST_FORMATS if dayfirst else ())


def _parse_date_series(s: pl.Series, *, dayfirst: bool = False) -> pl.Series:
    """Eager :func:`parse_dates`: each format is tried only on the values still unparsed,
    most frequent format first (judged on a sample), so a column in one format costs one
    pass instead of one per format.
    """
    text = _date_text(s.cast(pl.Utf8))
    n = text.len()
    out = pl.repeat(None, n, dtype=pl.Datetime("us"), eager=True).alias(s.name)
    todo = np.flatnonzero(text.is_not_null().to_numpy())
    if todo.size == 0:
        return out
    sample = text.gather(todo[:: max(1, todo.size // 500)])
    formats = list(_formats(dayfirst))
    hits = [
        sample.str.strptime(pl.Datetime("us"), f, strict=False, exact=True).null_count()
        for f in formats
    ]
    for f in [f for _, f in sorted(zip(hits, formats), key=lambda t: t[0])]:
        sub = text if todo.size == n else text.gather(todo)
        parsed = sub.str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
        ok = parsed.is_not_null().to_numpy()
        if ok.all():
            out = parsed.alias(s.name) if todo.size == n else out.scatter(todo, parsed)
            break
        if ok.any():
            out = out.scatter(todo[ok], parsed.filter(pl.Series(ok)))
        todo = todo[~ok]
        if todo.size == 0:
            break
    return out


def _norm_sex(e: pl.Expr) -> pl.Expr:
    return e.str.strip_chars().str.to_uppercase().replace(_SEX_WORDS).replace("", None)


def _norm_region(e: pl.Expr) -> pl.Expr:
    e = e.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    return e.replace("", None)


# coded columns: (normaliser, valid codes, reason)
_CODES = {
    "sex": (_norm_sex, SEX_CODES, "unknown sex code"),
    "body_region": (_norm_region, BODY_REGIONS, "unknown body region"),
}
_MAX_CODES = 10_000  # more distinct values than this: normalise row by row


def _code_maps(df: pl.DataFrame) -> dict[str, tuple[dict[str, str | None], list[str]]]:
    """For each coded column: ``({raw: normalised} where they differ, [invalid raw values])``.

    Worked out on the distinct values, which is much cheaper than string operations on every
    row when, as usual, a column holds a handful of codes.
    """
    maps = {}
    for name, (norm, valid, _) in _CODES.items():
        if name not in df.columns:
            continue
        raw = df.get_column(name).cast(pl.Utf8).unique().drop_nulls()
        if raw.len() > _MAX_CODES:
            continue
        pairs = pl.DataFrame({"raw": raw}).with_columns(norm(pl.col("raw")).alias("norm"))
        changed = {r: n for r, n in pairs.iter_rows() if r != n}
        invalid = [r for r, n in pairs.iter_rows() if n is not None and n not in valid]
        maps[name] = (changed, invalid)
    return maps


def _dates_as(df: pl.DataFrame) -> pl.DataType | None:
    """``Date`` when text exam dates carry no time of day, else ``Datetime("us")``."""
    if "exam_date" not in df.columns or not _is_text_date(df.schema["exam_date"]):
        return None
    text = df.get_column("exam_date").cast(pl.Utf8)
    longest = text.str.strip_chars().str.len_chars().max()
    return pl.Datetime("us") if (longest or 0) > 10 else pl.Date()


def _eager_casts(
    df: pl.DataFrame, *, dayfirst: bool = False, code_maps: dict | None = None
) -> dict[str, pl.Expr]:
    """:func:`_cast_exprs` for a frame in memory, using the faster eager paths."""
    parsed = None
    if "exam_date" in df.columns and _is_text_date(df.schema["exam_date"]):
        parsed = _parse_date_series(df.get_column("exam_date"), dayfirst=dayfirst)
    return _cast_exprs(
        df.schema,
        dayfirst=dayfirst,
        dates_as=_dates_as(df),
        code_maps=_code_maps(df) if code_maps is None else code_maps,
        parsed_dates=parsed,
    )


def _is_text_date(dtype: pl.DataType) -> bool:
    return not (isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Null))


def _cast_exprs(
    schema: pl.Schema,
    *,
    dayfirst: bool = False,
    dates_as: pl.DataType | None = None,
    code_maps: dict[str, tuple[dict[str, str | None], list[str]]] | None = None,
    parsed_dates: pl.Series | None = None,
) -> dict[str, pl.Expr]:
    """Expressions casting each canonical column present in ``schema`` to its canonical dtype.

    Values that cannot be converted become null (``validate`` reports them). ``dates_as``
    is the dtype string dates parse to (default ``Datetime("us")``).
    """
    out: dict[str, pl.Expr] = {}
    for name, dtype in schema.items():
        c = pl.col(name)
        if name == "patient_id":
            if dtype == pl.Utf8:
                e = c
            elif dtype.is_integer():
                e = c.cast(pl.Int64, strict=False)
            elif dtype.is_float():
                e = pl.when(c == c.round()).then(c).cast(pl.Int64, strict=False)
            else:
                e = c.cast(pl.Utf8)
        elif name == "exam_date":
            if isinstance(dtype, pl.Datetime):
                e = c.dt.replace_time_zone(None) if dtype.time_zone else c
                e = e.cast(pl.Datetime("us"))
            elif dtype == pl.Date:
                e = c
            elif dtype == pl.Null:
                e = c.cast(pl.Datetime("us"))
            else:
                if parsed_dates is not None:
                    e = pl.lit(parsed_dates)
                else:
                    e = parse_dates(c.cast(pl.Utf8), dayfirst=dayfirst)
                if dates_as is not None:
                    e = e.cast(dates_as)
        elif name in DOSE_COLUMNS or name == "age_years":
            e = c if dtype == pl.Float64 else c.cast(pl.Float64, strict=False)
        elif name in _CODES:
            e = c if dtype == pl.Utf8 else c.cast(pl.Utf8)
            if code_maps is not None and name in code_maps:
                changed = code_maps[name][0]
                e = e.replace(changed) if changed else e
            else:
                e = _CODES[name][0](e)
        elif name in OPTIONAL_COLUMNS:
            e = c if dtype == pl.Utf8 else c.cast(pl.Utf8)
        else:
            continue
        out[name] = e
    return out


def _checks(
    schema: pl.Schema,
    required: tuple[str, ...],
    today: date,
    code_maps: dict[str, tuple[dict[str, str | None], list[str]]] | None = None,
) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` for every row-level check that applies to ``schema``.

    Masks refer to the original column ``name`` and its canonical cast ``__cast_name``.
    """
    checks: list[tuple[str, str, pl.Expr]] = []

    def add(name: str, reason: str, mask: pl.Expr) -> None:
        checks.append((name, reason, mask.fill_null(False)))

    labels = {"patient_id": "patient id", "exam_date": "exam date"}
    for name, dtype in schema.items():
        o, c = pl.col(name), pl.col(f"__cast_{name}")
        if name not in required and name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS:
            continue
        missing = o.is_null()
        if dtype == pl.Utf8:
            missing = missing | (o.str.strip_chars() == "")
        if name in required:
            label = labels.get(name, "dose" if name in DOSE_COLUMNS else "value")
            add(name, f"missing {label}", missing)
        if name == "patient_id":
            add(name, "patient id is not an integer", ~missing & c.is_null())
        elif name == "exam_date":
            add(name, "unparseable date", ~missing & c.is_null())
            day = c.cast(pl.Date)
            add(name, f"date before {EARLIEST_DATE.isoformat()}", day < EARLIEST_DATE)
            add(name, "date after today", day > today)
        elif name in DOSE_COLUMNS or name == "age_years":
            if dtype != pl.Float64:
                add(name, "not a number", ~missing & c.is_null())
            if name == "age_years":
                bad_age = c.is_nan() | (c < 0) | (c > MAX_AGE_YEARS)
                add(name, f"age outside 0-{MAX_AGE_YEARS:g}", bad_age)
            else:
                add(name, "NaN dose", c.is_nan())
                add(name, "infinite dose", c.is_infinite())
                add(name, "negative dose", c.is_finite() & (c < 0))
        elif name in _CODES:
            _, valid, reason = _CODES[name]
            if code_maps is not None and name in code_maps:
                invalid = code_maps[name][1]
                if invalid:
                    add(name, reason, o.cast(pl.Utf8).is_in(invalid))
            else:
                add(name, reason, c.is_not_null() & ~c.is_in(valid))
    return checks


DUPLICATE_RULE = """\
Two rows are copies of **the same exam** when they have the same ``patient_id`` and

1. both have a ``study_uid``: the same ``study_uid`` (one study is one exam, whatever the
   times, doses or other values of the rows);
2. neither has one (no ``study_uid`` column, or null in both rows): the same ``exam_date``
   and the same values in every other canonical column present (``effective_dose_msv``,
   ``dlp_mgycm``, ``ctdivol_mgy``, ``body_region``, ``age_years``, ``sex``, ``facility``,
   ``indication``), i.e. the same row, unknown columns aside;
3. as in 2, but when ``exam_date`` carries no time of day (``Date`` dtype, or every date at
   midnight): also the same values in **every** other column, unknown ones included. Two
   real exams on one day can share a patient, a date and a tabulated dose (typical doses per
   exam type), so a date alone never makes a copy; only rows equal in every column do (an
   accession number, exam type or series column keeps real exams apart).

A row with a ``study_uid`` and one without are never copies. Values are compared after the
canonical casts of :func:`validate`; null equals null. Of each set of copies the row with the
earliest ``exam_date`` is kept (ties: the first in input order); the others are the copies.
"""
"""The one definition of a duplicate exam, used by :func:`validate` and ``Cohort.dedupe``."""

_KEY_DTYPES_SKIPPED = (pl.Object,)


def _date_only(dates: pl.Series) -> bool:
    """True when the dates carry no time of day (``Date`` dtype, or every value at midnight)."""
    if not isinstance(dates.dtype, pl.Datetime):
        return True
    return bool((dates.dt.time() == time(0)).all())


def _duplicate_key(df: pl.DataFrame, date_only: bool) -> list[pl.Expr]:
    """Expressions identifying an exam under :data:`DUPLICATE_RULE` (canonical columns)."""
    canonical = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    others = [
        c
        for c, dtype in df.schema.items()
        if c not in ("patient_id", "exam_date", "study_uid")
        and (date_only or c in canonical)
        and not isinstance(dtype, _KEY_DTYPES_SKIPPED)
    ]
    rest = [pl.col("exam_date"), *(pl.col(c) for c in others)]
    key = [pl.col("patient_id")]
    if "study_uid" in df.columns:
        uid = pl.col("study_uid")
        key.append(uid)
        rest = [pl.when(uid.is_null()).then(e) for e in rest]  # with a uid: the uid alone
    return key + rest


def _duplicate_rows(df: pl.DataFrame, bad: np.ndarray | None = None) -> np.ndarray:
    """Copies (True) under :data:`DUPLICATE_RULE` in a frame with canonical columns.

    Rows where ``bad`` is True are left out (never a copy, never the kept original). A 64-bit
    hash of the key is sorted (numpy's SIMD sort is several times faster than a hash-table
    ``is_first_distinct`` at 10^7 rows); only rows whose hash repeats are compared exactly.
    """
    n = df.height
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup
    good = np.ones(n, dtype=bool) if bad is None else ~bad
    dates = df.get_column("exam_date")
    key = _duplicate_key(df, _date_only(dates if good.all() else dates.filter(good)))
    h = df.select(
        pl.reduce(lambda a, b: a ^ b, [k.hash(seed=i) for i, k in enumerate(key)])
    ).to_series()
    hn = h.to_numpy()
    hs = np.sort(hn if good.all() else hn[good])
    repeated = np.unique(hs[1:][hs[1:] == hs[:-1]])
    if repeated.size:
        hit = h.is_in(pl.Series(repeated, dtype=pl.UInt64).implode()).to_numpy()
        rows = np.flatnonzero(hit & good)
        cand = (
            df.with_row_index("__row")[rows]
            .select(pl.col("__row"), pl.col("exam_date"), pl.struct(*key).alias("__key"))
            .sort("exam_date", "__row", nulls_last=True)
        )
        copies = cand.filter(~pl.col("__key").is_first_distinct()).get_column("__row")
        dup[copies.to_numpy()] = True
    return dup


def duplicate_mask(exams: Any) -> pl.Series:
    """Which rows are later copies of an exam already in the table.

    The rule (:data:`DUPLICATE_RULE`, the one used by :func:`validate` and
    ``Cohort.dedupe``): same ``patient_id`` and same ``study_uid``; without a ``study_uid``,
    the same ``patient_id``, ``exam_date`` and every other canonical column, and every column
    when ``exam_date`` has no time of day. The copy with the earliest ``exam_date`` (ties:
    the first in input order) is the original.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        Exam table with ``patient_id`` and ``exam_date``; values are compared after the
        canonical casts of :func:`validate` (run it first: an unparseable date becomes null,
        and null equals null here).

    Returns
    -------
    polars.Series
        Boolean, named ``duplicate``, one value per input row in input order: True for every
        copy but the original, so ``exams.filter(~duplicate_mask(exams))`` counts each exam once.

    Raises
    ------
    ValueError
        If ``patient_id`` or ``exam_date`` is missing.
    """
    df, _ = to_polars(exams)
    missing = [c for c in ("patient_id", "exam_date") if c not in df.columns]
    if missing:
        raise ValueError(
            f"duplicate_mask: the exam table lacks column(s) {missing}; map the columns or "
            "read it with recurct.read_exams"
        )
    canon = df.with_columns(**_eager_casts(df))
    return pl.Series("duplicate", _duplicate_rows(canon), dtype=pl.Boolean)


def validate(
    exams: Any,
    *,
    strict: bool = True,
    today: date | datetime | str | None = None,
    required: tuple[str, ...] | list[str] = REQUIRED_COLUMNS,
    return_report: bool = False,
    dayfirst: bool = False,
) -> Any:
    """Check an exam table against the canonical schema and return it in canonical form.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        One row per CT examination (see the module docstring for the columns).
    strict : bool, default True
        Raise :class:`ExamValidationError` listing every problem. With ``False``, drop the
        rows that have a problem, warn once (:class:`DroppedRowsWarning`, counts by reason)
        and return the clean rows in input order.
    today : date, datetime or ``YYYY-MM-DD`` str, optional
        Latest plausible exam date (default: today).
    required : sequence of str, default :data:`REQUIRED_COLUMNS`
        Columns that must exist and must not be null.
    return_report : bool, default False
        Return ``(frame, ValidationReport)`` instead of the frame.
    dayfirst : bool, default False
        String dates may be ``31/12/2019``, ``31.12.2019`` or ``31-12-2019``.

    Returns
    -------
    polars.DataFrame or (polars.DataFrame, ValidationReport)
        The table with canonical dtypes: ``patient_id`` Utf8 or Int64 (other integers and
        integral floats cast to Int64), ``exam_date`` ``Datetime("us")`` or ``Date`` (strings
        parse to ``Date`` when none has a time of day), doses and ``age_years`` Float64,
        ``sex`` upper-cased (``female`` -> ``F``), ``body_region`` lower-case with ``_``,
        other canonical columns Utf8. Unknown columns are carried through unchanged.

    Raises
    ------
    ExamValidationError
        With ``strict=True`` when any problem is found, and always when a required column is
        missing. Problems checked: missing required columns; null (or blank) values in required
        columns; non-integral float patient ids; unparseable dates, dates before 1900-01-01
        or after ``today``; doses that are not numbers, NaN, infinite or negative (a null dose
        is allowed in a column that is not required); ages that are not numbers or outside
        0-130; sex codes other than F/M/O/U; body regions not in :data:`BODY_REGIONS`;
        duplicate exams.

    Notes
    -----
    Duplicate exams follow :data:`DUPLICATE_RULE` (see :func:`duplicate_mask`): same
    ``patient_id`` and ``study_uid``; without a ``study_uid``, the same ``patient_id``,
    ``exam_date`` and every other canonical column (every column when the dates carry no time
    of day). The copy with the earliest ``exam_date`` (ties: input order) is kept and the
    others are the problems. Duplicates are looked for among rows without other problems, so
    a good copy of a bad row survives.
    """
    df, _ = to_polars(exams)
    required = tuple(required)
    today_d = date.today() if today is None else as_date(today, "today")

    missing_cols = [c for c in required if c not in df.columns]
    schema = df.schema
    code_maps = _code_maps(df)
    casts = _eager_casts(df, dayfirst=dayfirst, code_maps=code_maps)
    work = df.with_columns(**{f"__cast_{k}": e for k, e in casts.items()})
    checks = _checks(schema, required, today_d, code_maps)

    masks = work.select([m.alias(f"m{i}") for i, (_, _, m) in enumerate(checks)])
    if checks:
        bad = masks.select(pl.any_horizontal(pl.all())).to_series()
    else:
        bad = pl.Series("bad", [False] * df.height, dtype=pl.Boolean)
    if not missing_cols and {"patient_id", "exam_date"} <= set(schema):
        canon = work.select(
            pl.col(f"__cast_{c}").alias(c) if c in casts else pl.col(c) for c in df.columns
        )
        dup = pl.Series("dup", _duplicate_rows(canon, bad.to_numpy()))
        if dup.any():
            checks.append(("exam_date", "duplicate exam", pl.lit(True)))
            masks = masks.with_columns(dup.alias(f"m{len(checks) - 1}"))
            bad = bad | dup

    n_bad = int(bad.sum()) if df.height else 0
    problems = (
        _collect_problems(df, masks, checks, missing_cols)
        if (n_bad or missing_cols)
        else (pl.DataFrame(schema=_PROBLEMS_SCHEMA))
    )
    if missing_cols or (strict and problems.height):
        raise ExamValidationError(problems)

    out = df.with_columns(**{k: work.get_column(f"__cast_{k}") for k in casts})
    by_reason: dict[str, int] = {}
    if n_bad:
        out = out.filter(~bad)
        counts = masks.select(pl.all().sum())
        for i, (_, reason, _) in enumerate(checks):
            n = int(counts.get_column(f"m{i}")[0])
            if n:
                by_reason[reason] = by_reason.get(reason, 0) + n
        summary = ", ".join(f"{n} {r}" for r, n in by_reason.items())
        warnings.warn(
            f"validate dropped {n_bad} of {df.height} rows ({summary}); "
            "see validate(..., return_report=True) for the rows",
            DroppedRowsWarning,
            stacklevel=2,
        )
    if return_report:
        report = ValidationReport(df.height, out.height, by_reason, problems)
        return out, report
    return out


def _collect_problems(
    df: pl.DataFrame,
    masks: pl.DataFrame,
    checks: list[tuple[str, str, pl.Expr]],
    missing_cols: list[str],
) -> pl.DataFrame:
    """The problems frame: missing columns first, then row problems sorted by row."""
    parts = [
        pl.DataFrame(
            {
                "row": [None] * len(missing_cols),
                "column": missing_cols,
                "value": [None] * len(missing_cols),
                "reason": ["missing column"] * len(missing_cols),
            },
            schema=_PROBLEMS_SCHEMA,
        )
    ]
    rows = []
    for i, (name, reason, _) in enumerate(checks):
        mask = masks.get_column(f"m{i}")
        if not mask.any():
            continue
        idx = pl.Series(np.flatnonzero(mask.to_numpy()))
        rows.append(
            pl.DataFrame(
                {
                    "row": idx.cast(pl.Int64),
                    "column": pl.repeat(name, len(idx), dtype=pl.Utf8, eager=True),
                    "value": df.get_column(name).gather(idx).cast(pl.Utf8, strict=False),
                    "reason": pl.repeat(reason, len(idx), dtype=pl.Utf8, eager=True),
                    "check": pl.repeat(i, len(idx), dtype=pl.Int32, eager=True),
                }
            )
        )
    if rows:
        parts.append(pl.concat(rows).sort("row", "check").drop("check"))
    return pl.concat(parts)
