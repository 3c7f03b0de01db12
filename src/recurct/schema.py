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
``body_region_raw``    ``Utf8``                        added: the body region as given
``age_years``          ``Float64``                     optional, age at the exam, 0-130
``sex``                ``Utf8``                        optional, one of F, M, O, U
``facility``           ``Utf8``                        optional
``study_uid``          ``Utf8``                        optional
``indication``         ``Utf8``                        optional
=====================  ==============================  ====================================

Unknown columns are carried through unchanged.

Free text is mapped at the door: ``body_region`` through the rules of
:func:`recurct.regions.normalise_region` (the original text kept in ``body_region_raw``), ``sex``
through :data:`SEX_TABLE`; a value neither maps is set null, counted and reported, and the exam
is kept. Identifiers follow :func:`recurct._frames.to_polars`: placeholders
(:data:`PLACEHOLDER_IDS`) are missing, surrounding whitespace is removed with a warning.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._dates import as_date
from recurct._frames import (
    PLACEHOLDER_IDS,
    IdentifierWarning,
    clean_frame,
    exact_float_ids,
    to_polars,
)
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning

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

SEX_TABLE: dict[str, str] = {
    **dict.fromkeys(("F", "FEMALE", "W", "WEIBLICH", "FEMME", "FEMININ", "FEMMINA"), "F"),
    **dict.fromkeys(("FEMMINILE", "VROUW", "VROUWELIJK", "MUJER", "FEMENINO"), "F"),
    **dict.fromkeys(("M", "MALE", "MÄNNLICH", "MAENNLICH", "MANNLICH", "H", "HOMME"), "M"),
    **dict.fromkeys(("MASCULIN", "MASCHIO", "MASCHILE", "MAN", "MANNELIJK", "HOMBRE"), "M"),
    **dict.fromkeys(("MASCULINO",), "M"),
    **dict.fromkeys(("O", "OTHER", "D", "DIVERS", "X", "AUTRE", "ALTRO", "ANDERS", "OTRO"), "O"),
    **dict.fromkeys(("U", "UNKNOWN", "UNBEKANNT", "INCONNU", "SCONOSCIUTO", "ONBEKEND"), "U"),
    **dict.fromkeys(("DESCONOCIDO",), "U"),
}
"""Sex codes and words (compared in upper case, surrounding spaces removed) -> F, M, O, U.

DICOM F/M/O and U; English, German (``W`` weiblich, ``D`` divers, männlich), French (``H``
homme, femme), Italian, Dutch and Spanish words; ``X`` (non-binary, as in passports) -> O.
Deliberately absent because they are ambiguous: ``V`` (Dutch *vrouw* = F, Spanish *varón* =
M) and numeric codes (ISO/IEC 5218 uses 1 = male, 2 = female, but exports disagree). Another
value is set null, counted and reported; the exam is kept.
"""

MAX_EXAM_DOSE_MSV: float = 1000.0
"""Default plausibility bound of one exam's effective dose (mSv): above it, a value is a unit or
entry error (a dose in µSv, a DLP in the dose column), not an exam.

Rationale (figures in ``reference/PUBLISHED.md``): the largest adult reference level there,
1200 mGy·cm (ARPANSA chest-abdomen-pelvis), times the largest conversion factor there, 0.049
mSv/(mGy·cm) (newborn abdomen-pelvis, Shrimpton set), gives 59 mSv; 1000 mSv leaves a factor
of 17 for repeated phases and overscans, and is below the largest *cumulative* dose among
2.5 million patients over up to 5 years (1185 mSv, Rehani et al. 2020), which no single exam
can exceed. Pass ``max_dose_msv=`` to :func:`validate` / :func:`recurct.read_exams` to change
it (``None``: no bound).
"""

DOSE_COLUMNS: tuple[str, ...] = ("effective_dose_msv", "dlp_mgycm", "ctdivol_mgy")
"""Columns that hold doses: finite and >= 0 where present."""

__all__ = [
    "BODY_REGIONS",
    "DICOM_AGE_UNITS",
    "DOSE_COLUMNS",
    "DUPLICATE_RULE",
    "MAX_EXAM_DOSE_MSV",
    "OPTIONAL_COLUMNS",
    "PLACEHOLDER_IDS",
    "REQUIRED_COLUMNS",
    "SEX_CODES",
    "SEX_TABLE",
    "DroppedRowsWarning",
    "ExamValidationError",
    "IdentifierWarning",
    "UnmappedValuesWarning",
    "ValidationReport",
    "dicom_age_years",
    "duplicate_mask",
    "parse_dates",
    "parse_dicom_age",
    "validate",
]

EARLIEST_DATE = date(1900, 1, 1)
"""Exam dates before this day are impossible."""

MAX_AGE_YEARS = _checks.MAX_AGE_YEARS  # one definition: the age bounds of Cohort.ages too
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
_PROBLEMS_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}


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
        One row per problem: ``row`` (0-based input row), ``column``, ``value``, ``reason``;
        values set null (exam kept) included, with a reason ending in "(set null)".
    set_null_by_reason : dict of str to int
        Values set null, the exam kept (unmapped sex codes and body regions), by reason.
    """

    n_rows_in: int
    n_rows_out: int
    dropped_by_reason: dict[str, int]
    problems: pl.DataFrame
    set_null_by_reason: dict[str, int] = field(default_factory=dict)

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
        for reason, n in self.set_null_by_reason.items():
            lines.append(f"  {n:>10}  {reason} (set null, exam kept)")
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


def _norm_sex(e: Any) -> Any:
    """Sex text -> F/M/O/U through :data:`SEX_TABLE` (null where it is not in the table)."""
    up = e.cast(pl.Utf8).str.strip_chars().str.to_uppercase()
    return up.replace_strict(SEX_TABLE, default=None, return_dtype=pl.Utf8)


def _norm_region(e: Any, rules: Any = None) -> Any:
    """Body-region text -> canonical: a canonical name (any case, spaces or hyphens for ``_``)
    as is, else the first matching rule of :mod:`recurct.regions` (null when none matches)."""
    from recurct.regions import normalise_region

    def one(s: pl.Series) -> pl.Series:
        s = s.cast(pl.Utf8)
        canon = s.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
        mapped = normalise_region(s, rules=rules)
        return (
            pl.select(pl.when(canon.is_in(BODY_REGIONS)).then(canon).otherwise(mapped))
            .to_series()
            .alias(s.name)
        )

    if isinstance(e, pl.Series):
        return one(e)
    return e.map_batches(one, return_dtype=pl.Utf8)


# coded columns: (normaliser, reason when a value cannot be mapped)
_CODES = {
    "sex": (_norm_sex, "unknown sex code"),
    "body_region": (_norm_region, "unknown body region"),
}


def _code_maps(df: pl.DataFrame, region_rules: Any = None) -> dict[str, tuple[dict, list[str]]]:
    """For each coded column: ``({raw: canonical or None}, [raw values that map to nothing])``.

    Worked out on the distinct values, which is much cheaper than string operations on every
    row when, as usual, a column holds a handful of codes.
    """
    maps = {}
    for name, (norm, _) in _CODES.items():
        col = df.get_column(name) if name in df.columns else None
        if col is None or col.dtype == pl.Null:  # one column's dtype, not the whole schema
            continue
        raw = col.cast(pl.Utf8).unique().drop_nulls()
        mapped = norm(raw, region_rules) if name == "body_region" else norm(raw)
        pairs = dict(zip(raw.to_list(), mapped.to_list()))
        maps[name] = (pairs, [r for r, n in pairs.items() if n is None and r.strip()])
    return maps


def _dates_as(df: pl.DataFrame) -> pl.DataType | None:
    """``Date`` when text exam dates carry no time of day, else ``Datetime("us")``."""
    if "exam_date" not in df.columns or not _is_text_date(df.get_column("exam_date").dtype):
        return None
    text = df.get_column("exam_date").cast(pl.Utf8)
    longest = text.str.strip_chars().str.len_chars().max()
    return pl.Datetime("us") if (longest or 0) > 10 else pl.Date()


def _eager_casts(
    df: pl.DataFrame,
    *,
    dayfirst: bool = False,
    code_maps: dict | None = None,
    region_rules: Any = None,
    null_unmapped: bool = False,
) -> dict[str, pl.Expr]:
    """:func:`_cast_exprs` for a frame in memory, using the faster eager paths."""
    parsed = None
    schema = df.schema  # read once: building it is slow for an Enum of many categories
    if "exam_date" in schema and _is_text_date(schema["exam_date"]):
        parsed = _parse_date_series(df.get_column("exam_date"), dayfirst=dayfirst)
    return _cast_exprs(
        schema,
        dayfirst=dayfirst,
        dates_as=_dates_as(df),
        code_maps=_code_maps(df, region_rules) if code_maps is None else code_maps,
        parsed_dates=parsed,
        region_rules=region_rules,
        null_unmapped=null_unmapped,
    )


def _with_casts(df: pl.DataFrame, casts: dict[str, Any]) -> pl.DataFrame:
    """``df`` with the canonical casts applied; an added ``body_region_raw`` placed right
    after ``body_region``."""
    out = df.with_columns(**casts)
    if "body_region_raw" in df.columns or "body_region_raw" not in out.columns:
        return out
    order = [
        c for c in df.columns for c in ((c, "body_region_raw") if c == "body_region" else (c,))
    ]
    return out.select(order)


def _is_text_date(dtype: pl.DataType) -> bool:
    return not (isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Null))


def _cast_exprs(
    schema: pl.Schema,
    *,
    dayfirst: bool = False,
    dates_as: pl.DataType | None = None,
    code_maps: dict[str, tuple[dict[str, str | None], list[str]]] | None = None,
    parsed_dates: pl.Series | None = None,
    region_rules: Any = None,
    null_unmapped: bool = False,
) -> dict[str, pl.Expr]:
    """Expressions casting each canonical column present in ``schema`` to its canonical dtype.

    Values that cannot be converted become null (``validate`` reports them). ``dates_as``
    is the dtype string dates parse to (default ``Datetime("us")``). With ``body_region``,
    ``body_region_raw`` (the text as given) is added unless the table has it already. A sex
    code or body region that maps to nothing is kept as given, or set null with
    ``null_unmapped`` (what :func:`validate` does, counting them): never nulled uncounted.
    """
    out: dict[str, pl.Expr] = {}
    for name, dtype in schema.items():
        c = pl.col(name)
        if name == "patient_id":
            if dtype == pl.Utf8:
                e = c
            elif dtype.is_integer():
                e = c.cast(pl.Int64, strict=False)
            elif dtype.is_float():  # exact whole numbers only (a float is exact up to 2^53)
                e = pl.when((c == c.round()) & (c.abs() < exact_float_ids(dtype))).then(c)
                e = e.cast(pl.Int64, strict=False)
            elif dtype == pl.Boolean:  # True is no patient: reported
                e = pl.lit(None, dtype=pl.Utf8)
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
            if dtype == pl.Boolean:  # True is not 1 mSv
                e = pl.lit(None, dtype=pl.Float64)
            else:
                e = c if dtype == pl.Float64 else c.cast(pl.Float64, strict=False)
        elif name in _CODES:
            e = c if dtype == pl.Utf8 else c.cast(pl.Utf8)
            if name == "body_region" and "body_region_raw" not in schema:
                out["body_region_raw"] = e
            if code_maps is not None and name in code_maps:
                pairs = code_maps[name][0]
                if null_unmapped:
                    e = e.replace_strict(pairs, default=None, return_dtype=pl.Utf8)
                else:
                    e = e.replace({r: n for r, n in pairs.items() if n is not None})
            else:
                norm = _norm_region(e, region_rules) if name == "body_region" else _norm_sex(e)
                e = norm if null_unmapped else pl.coalesce(norm, e)
        elif name in OPTIONAL_COLUMNS:
            e = c if dtype == pl.Utf8 else c.cast(pl.Utf8)
        else:
            continue
        out[name] = e
    return out


def _row_checks(
    schema: pl.Schema,
    required: tuple[str, ...],
    today: date,
    max_dose: float | None = MAX_EXAM_DOSE_MSV,
) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` for every row-level check that applies to ``schema``.

    Masks refer to the original column ``name`` and its canonical cast ``__cast_name``.
    Unmapped codes are not here (they are set null, see :func:`_unmapped`).
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
            huge = (o.abs() >= exact_float_ids(dtype)) if dtype.is_float() else pl.lit(False)
            what = "text or an integer" if dtype == pl.Boolean else "an integer"
            add(name, f"patient id is not {what}", ~missing & c.is_null() & ~huge)
            if dtype.is_float():
                limit = "2^24" if dtype == pl.Float32 else "2^53"
                add(name, f"float patient id above {limit} (digits lost: read ids as text)", huge)
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
                if name == "effective_dose_msv" and max_dose is not None:
                    add(name, f"dose above {max_dose:g} mSv (implausible for one exam)",
                        c.is_finite() & (c > max_dose))  # fmt: skip
                if name == "dlp_mgycm" and max_dose is not None:
                    top = max_dose / smallest_k()
                    add(name, f"DLP above {top:.0f} mGy·cm (above {max_dose:g} mSv with every "
                        "shipped conversion factor: implausible for one exam)",
                        c.is_finite() & (c > top))  # fmt: skip
    return checks


@cache
def smallest_k() -> float:
    """The smallest conversion factor k (mSv per mGy·cm) of the shipped tables: a DLP above
    ``max_dose_msv / smallest_k()`` gives more than ``max_dose_msv`` with any of them."""
    from recurct import dose

    return min(float(dose.table(name)["k"].min()) for name in dose.tables()["name"])


def _unmapped(code_maps: dict[str, tuple[dict, list[str]]]) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` of the coded values that map to nothing (set null)."""
    out = []
    for name, (_, invalid) in code_maps.items():
        if invalid:
            mask = pl.col(name).cast(pl.Utf8).is_in(invalid).fill_null(False)
            out.append((name, _CODES[name][1], mask))
    return out


DUPLICATE_RULE = """\
Two rows are copies of **the same exam** when they have the same ``patient_id`` and

1. both have a ``study_uid``: the same ``study_uid`` (one study is one exam, whatever the
   times, doses or other values of the rows);
2. neither has one (no ``study_uid`` column, or null in both rows) and their common
   ``exam_date`` carries a time of day: the same ``exam_date`` and the same values in every
   other canonical column present (``effective_dose_msv``, ``dlp_mgycm``, ``ctdivol_mgy``,
   ``body_region``, ``age_years``, ``sex``, ``facility``, ``indication``), i.e. the same row,
   unknown columns aside;
3. as in 2, but their common ``exam_date`` has no time of day (a ``Date``, or a datetime at
   exactly midnight): also the same values in **every** other column, unknown ones included.
   Two real exams on one day can share a patient, a date and a tabulated dose (typical doses
   per exam type), so a date alone never makes a copy; only rows equal in every column do (an
   accession number, exam type or series column keeps real exams apart).

The rule is decided for each pair of rows from those two rows alone: no other row of the table
changes whether they are copies. A row with a ``study_uid`` and one without are never copies;
empty or placeholder ``study_uid`` text is no ``study_uid``. Values are compared after the
canonical casts of :func:`validate`; null equals null. Of each set of copies the row with the
earliest ``exam_date`` is kept (ties: the first in input order); the others are the copies.
"""
"""The one definition of a duplicate exam, used by :func:`validate` and ``Cohort.dedupe``."""

# body_region_raw is the text body_region was mapped from: the mapped value is compared
_NOT_IN_KEY = ("patient_id", "exam_date", "study_uid", "body_region_raw")


def _duplicate_key(df: pl.DataFrame) -> list[pl.Expr]:
    """Expressions identifying an exam under :data:`DUPLICATE_RULE` (canonical columns).

    Unknown columns enter the key only on rows whose ``exam_date`` has no time of day; two
    rows with equal keys share their ``exam_date``, so the rule is the same for both rows of
    a pair and depends on nothing else.
    """
    canonical = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    date = pl.col("exam_date")
    if isinstance(df.schema["exam_date"], pl.Datetime):
        no_time = date.dt.time() == time(0)
    else:
        no_time = pl.lit(True)
    rest = [date]
    for c in df.columns:
        if c in _NOT_IN_KEY:
            continue
        rest.append(pl.col(c) if c in canonical else pl.when(no_time).then(pl.col(c)))
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
    # columns polars cannot hash (Python objects, e.g. a pandas column mixing 1 and "x") are
    # compared by their repr, so 1 and "1" differ and rows differing there are never copies
    obj = [c for c, dtype in df.schema.items() if isinstance(dtype, pl.Object)]
    if obj:
        df = df.with_columns(
            pl.Series(c, [repr(v) for v in df.get_column(c).to_list()], dtype=pl.Utf8)
            for c in obj
        )
    key = _duplicate_key(df)
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
    when that ``exam_date`` has no time of day (decided for each pair of rows alone). The copy
    with the earliest ``exam_date`` (ties: the first in input order) is the original.

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
    canon = df.with_columns(**{k: e for k, e in _eager_casts(df).items() if k in df.columns})
    return pl.Series("duplicate", _duplicate_rows(canon), dtype=pl.Boolean)


def validate(
    exams: Any,
    *,
    strict: bool = True,
    today: date | datetime | str | None = None,
    required: tuple[str, ...] | list[str] = REQUIRED_COLUMNS,
    return_report: bool = False,
    dayfirst: bool = False,
    region_rules: Any = None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
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
    region_rules : mapping, sequence of (pattern, region) pairs, or table, optional
        Extra rules for ``body_region`` text, tried before the shipped ones (see
        :func:`recurct.regions.normalise_region`).
    placeholder_ids : sequence of str, optional
        Identifier text meaning "missing" (default :data:`PLACEHOLDER_IDS`).
    max_dose_msv : float or None, default :data:`MAX_EXAM_DOSE_MSV`
        Plausibility bound of one exam's ``effective_dose_msv``; a larger value is a problem
        (``None``: no bound). A ``dlp_mgycm`` above ``max_dose_msv`` divided by the smallest
        conversion factor of the shipped tables (0.0017 mSv/(mGy·cm), head: about 590,000
        mGy·cm for 1000 mSv) is a problem too: no table turns it into a plausible dose.

    Returns
    -------
    polars.DataFrame or (polars.DataFrame, ValidationReport)
        The table with canonical dtypes: ``patient_id`` Utf8 or Int64 (other integers and
        integral floats cast to Int64), ``exam_date`` ``Datetime("us")`` or ``Date`` (strings
        parse to ``Date`` when none has a time of day), doses and ``age_years`` Float64,
        ``sex`` through :data:`SEX_TABLE` (``female``, ``W`` -> ``F``), ``body_region``
        through the region rules (``ABDOMEN/PELVIS`` -> ``abdomen_pelvis``) with the text as
        given in ``body_region_raw``, other canonical columns Utf8. Unknown columns are carried
        through unchanged. A sex code or body region that maps to nothing is set null (the exam
        kept), counted in the report and in an :class:`UnmappedValuesWarning`.

    Raises
    ------
    ExamValidationError
        With ``strict=True`` when any problem is found, and always when a required column is
        missing. Problems checked: missing required columns; null (or blank) values in required
        columns; non-integral float patient ids; unparseable dates, dates before 1900-01-01
        or after ``today``; doses that are not numbers (booleans included), NaN, infinite or
        negative (a null dose is allowed in a column that is not required); effective doses
        above ``max_dose_msv``; ages that are not numbers or outside 0-130; duplicate exams.

    Notes
    -----
    Duplicate exams follow :data:`DUPLICATE_RULE` (see :func:`duplicate_mask`): same
    ``patient_id`` and ``study_uid``; without a ``study_uid``, the same ``patient_id``,
    ``exam_date`` and every other canonical column (every column when their date carries no
    time of day). The copy with the earliest ``exam_date`` (ties: input order) is kept and the
    others are the problems. Duplicates are looked for among rows without other problems, so
    a good copy of a bad row survives.
    """
    max_dose = _checks.optional_bound(max_dose_msv, "validate", "max_dose_msv")
    given, _ = to_polars(exams, clean=False)  # problems show the values as given
    df = clean_frame(given, placeholder_ids)
    required = (required,) if isinstance(required, str) else tuple(required)  # one name
    today_d = date.today() if today is None else as_date(today, "today")

    missing_cols = [c for c in required if c not in df.columns]
    schema = df.schema
    code_maps = _code_maps(df, region_rules)
    casts = _eager_casts(df, dayfirst=dayfirst, code_maps=code_maps, null_unmapped=True)
    work = df.with_columns(**{f"__cast_{k}": e for k, e in casts.items() if k in df.columns})
    checks = _row_checks(schema, required, today_d, max_dose)

    masks = work.select([m.alias(f"m{i}") for i, (_, _, m) in enumerate(checks)])
    if checks:
        bad = masks.select(pl.any_horizontal(pl.all())).to_series()
    else:
        bad = pl.Series("bad", [False] * df.height, dtype=pl.Boolean)
    if not missing_cols and {"patient_id", "exam_date"} <= set(schema):
        canon = work.select(_key_value(c, c in casts, code_maps) for c in df.columns)
        dup = pl.Series("dup", _duplicate_rows(canon, bad.to_numpy()))
        if dup.any():
            checks.append(("exam_date", "duplicate exam", pl.lit(True)))
            masks = masks.with_columns(dup.alias(f"m{len(checks) - 1}"))
            bad = bad | dup

    n_bad = int(bad.sum()) if df.height else 0
    problems = (
        _collect_problems(given, masks, checks, missing_cols)
        if (n_bad or missing_cols)
        else (pl.DataFrame(schema=_PROBLEMS_SCHEMA))
    )
    if missing_cols or (strict and problems.height):
        raise ExamValidationError(problems)

    out = _with_casts(
        df, {k: work.get_column(f"__cast_{k}") if k in df.columns else e for k, e in casts.items()}
    )
    unmapped = _unmapped(code_maps)
    nulled_by_reason: dict[str, int] = {}
    if unmapped:
        kept = ~pl.lit(bad)  # values of dropped rows are not reported as set null
        umasks = df.select([(m & kept).alias(f"m{i}") for i, (_, _, m) in enumerate(unmapped)])
        nulled = _collect_problems(df, umasks, unmapped, []).with_columns(
            pl.col("reason") + " (set null)"
        )
        for reason, n in nulled.group_by("reason", maintain_order=True).len().iter_rows():
            nulled_by_reason[reason.removesuffix(" (set null)")] = n
        problems = pl.concat([problems, nulled]).sort("row", nulls_last=False, maintain_order=True)
        if nulled.height:
            summary = ", ".join(f"{n} {r}" for r, n in nulled_by_reason.items())
            warnings.warn(
                f"validate set {nulled.height} value(s) null ({summary}), keeping the exams; "
                "extend the mapping with region_rules= or fix the values; see "
                "validate(..., return_report=True) for the rows",
                UnmappedValuesWarning,
                stacklevel=2,
            )
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
        report = ValidationReport(df.height, out.height, by_reason, problems, nulled_by_reason)
        return out, report
    return out


def _key_value(name: str, cast: bool, code_maps: dict) -> pl.Expr:
    """A column as the duplicate rule compares it: the canonical value, and for a code that
    maps to nothing its text as given (as :func:`duplicate_mask` sees it), not the null it
    becomes in the output."""
    if not cast:
        return pl.col(name)
    e = pl.col(f"__cast_{name}")
    if name in code_maps and code_maps[name][1]:
        e = e.fill_null(pl.col(name).cast(pl.Utf8))
    return e.alias(name)


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
