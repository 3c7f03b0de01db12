"""The checks behind :func:`recurct.schema.validate`: every row-level problem of an exam
table, the duplicate rule applied, codes that map to nothing (and, with ``strict=False``, bad
optional attributes) set null and counted, and the :class:`ValidationReport` (re-exported by
:mod:`recurct.schema`). :func:`check_exams` returns the canonical frame and the report;
``validate`` returns the frame, ``read_exams(...).report`` the report."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import (
    AMBIGUOUS_NUMBER,
    CODES,
    check_dtypes,
    code_maps_of,
    eager_casts,
    number_text,
    with_casts,
)
from recurct._dates import as_date
from recurct._duplicates import duplicate_rows
from recurct._frames import clean_frame, exact_float_ids, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning
from recurct.schema import DOSE_COLUMNS, MAX_EXAM_DOSE_MSV, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "AMBIGUOUS_NUMBER",
    "DECIMAL_REMEDY",
    "TWO_DIGIT_YEAR",
    "ValidationReport",
    "as_given",
    "check_exams",
    "check_exams_kept",
    "key_frame",
    "problem_error",
    "problem_lines",
    "problem_message",
    "smallest_k",
    "unchecked_report",
]

EARLIEST_DATE = date(1900, 1, 1)
"""Exam dates before this day are impossible."""

MAX_AGE_YEARS = _checks.MAX_AGE_YEARS  # one definition: the age bounds of Cohort.ages too
"""Largest plausible age at an exam, in years."""


_SHOW = 20  # problems shown in an error message

TWO_DIGIT_YEAR = r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(?:[ T]|$)"
"""A date written with a two-digit year (``2/1/20``, ``20-01-02``): not read (which
century? which order?), reported as such."""

_PROBLEMS_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}

#: What the reason of an ambiguous number (:data:`AMBIGUOUS_NUMBER`) tells the caller to do,
#: by the public function checking: ``read_exams`` has ``decimal=`` (the command line's words
#: for it: ``recurct.cli._errors``); ``validate`` has none.
DECIMAL_REMEDY: dict[str, str] = {
    "read_exams": "pass decimal='.' or decimal=','",
    "validate": (
        "convert the column to numbers, or read the table with "
        "recurct.read_exams(exams, decimal='.') or decimal=','"
    ),
}


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
        Values set null, the exam kept, by reason: unmapped sex codes and body regions, and
        with ``strict=False`` bad optional attributes (an age outside 0-130, a negative
        CTDIvol, a NaN DLP beside an effective dose).
    validated : bool
        False when nothing was checked (``read_exams(..., validate=False)``): no problem
        listed then means none was looked for.
    lines : callable or None
        For a CSV file read by :func:`recurct.read_exams`, ``lines(row)`` is the 1-based
        line of the file where 0-based data row ``row`` starts (a ``sep=`` line and line
        breaks inside quoted values counted); for a folder of Parquet files it is the file
        and its own 0-based row (``"row 0 of b.parquet"``, :class:`recurct.io.exams.FileRows`);
        shown beside each row the report prints; None for other inputs.
    """

    n_rows_in: int
    n_rows_out: int
    dropped_by_reason: dict[str, int]
    problems: pl.DataFrame
    set_null_by_reason: dict[str, int] = field(default_factory=dict)
    validated: bool = True
    lines: RowPlaces | None = field(default=None, repr=False)

    @property
    def n_dropped(self) -> int:
        """Rows dropped."""
        return self.n_rows_in - self.n_rows_out

    @property
    def is_clean(self) -> bool:
        """True when the table was validated and no problem was found."""
        return self.validated and self.problems.height == 0

    def __str__(self) -> str:
        if not self.validated:
            return f"rows in: {self.n_rows_in}, not validated (validate=False)"
        lines = [
            f"rows in: {self.n_rows_in}, rows out: {self.n_rows_out}, "
            f"dropped: {self.n_dropped}, problems: {self.problems.height}"
        ]
        for reason, n in self.dropped_by_reason.items():
            lines.append(f"  {n:>10}  {reason}")
        for reason, n in self.set_null_by_reason.items():
            lines.append(f"  {n:>10}  {reason} (set null, exam kept)")
        if self.problems.height:
            lines.append(problem_lines(self.problems, lines=self.lines))
            lines.append(rows_note(self.lines))
        return "\n".join(lines)


def rows_note(lines: RowPlaces | None) -> str:
    """What the rows of a problem listing count: with ``lines`` (a CSV file's lines, or a
    :class:`recurct.io.exams.FileRows` of a folder of Parquet files, which says it)."""
    note = getattr(lines, "note", None)
    if isinstance(note, str):
        return f"  ({note})"
    if lines is not None:
        return (
            "  (rows: 0-based data rows of the file, row 0 the first after the header; "
            "each with its line of the file)"
        )
    return "  (rows: 0-based rows of the input, row 0 the first)"


RowPlaces = Callable[[int], int | str | None]
"""Where a 0-based row of the input is in the user's file: the 1-based line of a CSV file,
a text such as ``row 0 of b.parquet`` for a folder of Parquet files, or None."""


def row_text(row: int, lines: RowPlaces | None) -> str:
    """``row 2 (line 4 of the file)`` for a CSV file (``lines`` gives the line), ``row 2
    (row 0 of b.parquet)`` for a folder of Parquet files (:class:`FileRows`), else
    ``row 2``."""
    at = lines(row) if lines is not None else None
    return f"row {row}" if at is None else f"row {row} ({place_text(at)})"


def place_text(at: int | str) -> str:
    """What ``lines(row)`` gives, as text: ``line 4 of the file`` for a line of a CSV
    file, the text itself (``row 0 of b.parquet``) otherwise."""
    return at if isinstance(at, str) else f"line {at} of the file"


def _describe(row: dict[str, Any], lines: RowPlaces | None = None) -> str:
    where = "" if row["row"] is None else f"{row_text(row['row'], lines)}, "
    value = "" if row["value"] is None else f" (value: {row['value']!r})"
    return f"{where}column {row['column']!r}: {row['reason']}{value}"


def problem_lines(
    problems: pl.DataFrame,
    show: int = _SHOW,
    lines: RowPlaces | None = None,
) -> str:
    """One line per problem (the first ``show``): row (and, with ``lines``, the line of
    the file), column, reason and value."""
    out = [f"  {_describe(r, lines)}" for r in problems.head(show).iter_rows(named=True)]
    if problems.height > show:
        out.append(f"  ... and {problems.height - show} more (see .problems)")
    return "\n".join(out)


def problem_message(
    problems: pl.DataFrame,
    source: str | None,
    lines: RowPlaces | None = None,
) -> str:
    n = problems.height
    where = f"{source}: " if source else ""
    head = f"{where}{n} problem{'s' if n != 1 else ''} in the exam table"
    if n > _SHOW:
        head += f" (first {_SHOW} shown)"
    fix = (
        "Fix the data, map the columns, or pass strict=False to drop the bad rows and set "
        "bad optional attributes null (a missing column cannot be dropped)."
    )
    listing = problem_lines(problems, lines=lines)
    if problems.get_column("row").is_not_null().any():
        listing += "\n" + rows_note(lines)
    return f"{head}:\n{listing}\n{fix}"


def problem_error(
    problems: pl.DataFrame,
    source: str | None,
    hint: str | None,
    lines: RowPlaces | None,
) -> ExamValidationError:
    """The :class:`ExamValidationError` of ``problems``, its message naming, with ``lines``
    (a CSV file), the line of the file of each row."""
    return ExamValidationError(problems, source=source, hint=hint, lines=lines)


#: ``(column, reason, mask, nullable)`` of one row-level check: ``nullable`` when a hit is a
#: bad optional attribute, set null (exam kept) with ``strict=False``, else the row is dropped.
Check = tuple[str, str, pl.Expr, bool]

#: Optional attributes whose bad values are set null with ``strict=False`` (unless named in
#: ``required``): the DLP only on rows with an effective dose (elsewhere it is the dose).
ATTRIBUTES: tuple[str, ...] = ("dlp_mgycm", "ctdivol_mgy", "age_years")


def row_checks(
    schema: pl.Schema,
    required: tuple[str, ...],
    today: date,
    max_dose: float | None = MAX_EXAM_DOSE_MSV,
    cast_prefix: str = "__cast_",
    remedy: str = DECIMAL_REMEDY["read_exams"],
) -> list[Check]:
    """:data:`Check` for every row-level check that applies to ``schema``.

    Masks refer to the original column ``name`` and its canonical cast ``cast_prefix + name``.
    A check of an optional attribute (:data:`ATTRIBUTES`, not in ``required``) is nullable;
    a DLP check is nullable on rows with an effective dose only (on the others the DLP is
    the dose, converted later by :func:`recurct.dose.effective_dose`). Unmapped codes are not
    here (they are set null, see :func:`unmapped`).
    ``remedy``: what the reason of an ambiguous number tells the caller to do
    (:data:`DECIMAL_REMEDY`).
    """
    checks: list[Check] = []
    attributes = [a for a in ATTRIBUTES if a not in required]
    if "effective_dose_msv" in schema:
        has_dose = pl.col(f"{cast_prefix}effective_dose_msv").is_not_null()
    else:
        has_dose = pl.lit(False)

    def add(name: str, reason: str, mask: pl.Expr) -> None:
        mask = mask.fill_null(False)
        if name not in attributes:
            checks.append((name, reason, mask, False))
        elif name == "dlp_mgycm":
            checks.append((name, reason, mask & ~has_dose, False))
            checks.append((name, reason, mask & has_dose, True))
        else:
            checks.append((name, reason, mask, True))

    labels = {"patient_id": "patient id", "exam_date": "exam date"}
    for name, dtype in schema.items():
        o, c = pl.col(name), pl.col(f"{cast_prefix}{name}")
        if name not in required and name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS:
            continue
        missing = _missing(name, dtype, o)
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
            if dtype == pl.Utf8:
                short = o.str.contains(TWO_DIGIT_YEAR).fill_null(False) & c.is_null()
                add(name, "two-digit year: not accepted (write the year in full)", short)
                add(name, "unparseable date", ~missing & c.is_null() & ~short)
            else:
                add(name, "unparseable date", ~missing & c.is_null())
            day = c.cast(pl.Date)
            add(name, f"date before {EARLIEST_DATE.isoformat()}", day < EARLIEST_DATE)
            add(name, "date after today", day > today)
        elif name in DOSE_COLUMNS or name == "age_years":
            for reason, mask in _number_checks(name, dtype, c, missing, max_dose, remedy):
                add(name, reason, mask)
    return checks + _no_dose_check(schema, required)


def _missing(name: str, dtype: pl.DataType, o: pl.Expr) -> pl.Expr:
    """A missing value of column ``name`` (dtype ``dtype``, expression ``o``): null, or
    blank text; a dose by the one rule of a missing dose
    (:func:`recurct.dose.effective.missing_dose`: placeholders such as ``"n/a"`` too). (A
    text DLP, CTDIvol or age reaches the checks with its placeholders null already:
    :func:`recurct._casts.number_text`, or ``read_exams``' own clean-up.)"""
    if name == "effective_dose_msv":
        from recurct.dose.effective import missing_dose

        return missing_dose(o, dtype)
    missing = o.is_null()
    if dtype == pl.Utf8:
        missing = missing | (o.str.strip_chars() == "")
    return missing


def _no_dose_check(schema: pl.Schema, required: tuple[str, ...]) -> list[Check]:
    """The :data:`Check` (a list of one, or none) of a row with no dose at all: a missing
    ``effective_dose_msv`` (:func:`recurct.dose.effective.missing_dose`: null, blank or a
    placeholder such as ``"n/a"``) in a table without a ``dlp_mgycm`` column, so that no
    later step can convert one; its row dropped.

    Only where ``effective_dose_msv`` is not in ``required`` (a missing value of a required
    column is already a problem). In a table with a ``dlp_mgycm`` column, a row without
    either is left to :func:`recurct.dose.effective_dose`, the step that converts DLPs and
    reports a missing one by row (a DLP-only export keeps its documented path); a dose that
    is there but bad is reported by its own check."""
    if "effective_dose_msv" not in schema or "dlp_mgycm" in schema:
        return []
    if "effective_dose_msv" in required:
        return []
    from recurct.dose.effective import missing_dose

    missing = missing_dose(pl.col("effective_dose_msv"), schema["effective_dose_msv"])
    reason = "no dose: effective_dose_msv missing and no dlp_mgycm column to convert"
    return [("effective_dose_msv", reason, missing, False)]


def ambiguous_reason(remedy: str) -> str:
    """The reason of a number whose decimal mark is ambiguous (:data:`AMBIGUOUS_NUMBER`),
    ending with ``remedy`` (:data:`DECIMAL_REMEDY`): validation's and the DRL functions'."""
    return (
        "ambiguous number: '.' or ',' before three digits may be a decimal or a "
        f"thousands mark, and the column's other cells do not show which ({remedy})"
    )


def _number_checks(
    name: str,
    dtype: pl.DataType,
    c: pl.Expr,
    missing: pl.Expr,
    max_dose: float | None,
    remedy: str = DECIMAL_REMEDY["read_exams"],
) -> list[tuple[str, pl.Expr]]:
    """``(reason, mask)`` of the checks of a dose or age column ``name`` (cast: ``c``); the
    reason of an ambiguous number ends with ``remedy`` (:data:`DECIMAL_REMEDY`)."""
    out = []
    if dtype == pl.Utf8:
        ambiguous = pl.col(name).str.ends_with(AMBIGUOUS_NUMBER).fill_null(False)
        out.append(("not a number", ~missing & c.is_null() & ~ambiguous))
        out.append((ambiguous_reason(remedy), ambiguous))
    elif dtype != pl.Float64:
        out.append(("not a number", ~missing & c.is_null()))
    if name == "age_years":
        bad_age = c.is_nan() | (c < 0) | (c > MAX_AGE_YEARS)
        return [*out, (f"age outside 0-{MAX_AGE_YEARS:g}", bad_age)]
    out += [
        ("NaN dose", c.is_nan()),
        ("infinite dose", c.is_infinite()),
        ("negative dose", c.is_finite() & (c < 0)),
    ]
    if name == "effective_dose_msv" and max_dose is not None:
        reason = f"dose above {max_dose:g} mSv (implausible for one exam)"
        out.append((reason, c.is_finite() & (c > max_dose)))
    if name == "dlp_mgycm" and max_dose is not None:
        top = max_dose / smallest_k()
        reason = (
            f"DLP above {top:.0f} mGy·cm (above {max_dose:g} mSv with every shipped "
            "conversion factor: implausible for one exam)"
        )
        out.append((reason, c.is_finite() & (c > top)))
    return out


@cache
def smallest_k() -> float:
    """The smallest conversion factor k (mSv per mGy·cm) of the shipped tables: a DLP above
    ``max_dose_msv / smallest_k()`` gives more than ``max_dose_msv`` with any of them."""
    from recurct import dose

    return min(float(dose.table(name)["k"].min()) for name in dose.tables()["name"])


def unmapped(code_maps: dict[str, tuple[dict, list[str]]]) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` of the coded values that map to nothing (set null)."""
    out = []
    for name, (_, invalid) in code_maps.items():
        if invalid:
            mask = pl.col(name).cast(pl.Utf8).is_in(invalid).fill_null(False)
            out.append((name, CODES[name][1], mask))
    return out


def cast_prefix(columns: list[str]) -> str:
    """A prefix for the casts of the canonical columns that starts no column of the table
    (``__cast_``, or with more leading underscores), so a user's column never clashes."""
    prefix = "__cast_"
    while any(c.startswith(prefix) for c in columns):
        prefix = "_" + prefix
    return prefix


def unchecked_report(n_rows: int) -> ValidationReport:
    """The report of a table that was cast but not validated: nothing looked for."""
    empty = pl.DataFrame(schema=_PROBLEMS_SCHEMA)
    return ValidationReport(n_rows, n_rows, {}, empty, validated=False)


#: A check evaluated: ``(column, reason, mask Series, nullable)``.
Hit = tuple[str, str, pl.Series, bool]


def _canonical(
    df: pl.DataFrame,
    schema: pl.Schema,
    *,
    required: tuple[str, ...],
    today: date,
    max_dose: float | None,
    dayfirst: bool = False,
    region_rules: Any = None,
    parsed_dates: pl.Series | None = None,
    remedy: str = DECIMAL_REMEDY["read_exams"],
) -> tuple[pl.DataFrame, list[Hit], dict]:
    """``(values, hits, code maps)``: the table with the canonical casts (codes that map to
    nothing null) and its bad optional attributes null, every row kept; each row-level
    check evaluated. ``parsed_dates``: the text ``exam_date`` already parsed
    (:func:`recurct._casts.eager_casts`); ``remedy``: :func:`row_checks`'."""
    check_dtypes(df, schema)
    prefix = cast_prefix(df.columns)
    code_maps = code_maps_of(df, region_rules)
    casts = eager_casts(
        df,
        dayfirst=dayfirst,
        code_maps=code_maps,
        null_unmapped=True,
        schema=schema,
        parsed_dates=parsed_dates,
    )
    canonical = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *required}
    # the columns the checks read, and the casts under names no column of the table has
    work = df.select(c for c in df.columns if c in canonical).with_columns(
        **{f"{prefix}{k}": e for k, e in casts.items() if k in df.columns}
    )
    checks = row_checks(schema, required, today, max_dose, prefix, remedy)
    masks = work.select(m.alias(f"m{i}") for i, (_, _, m, _) in enumerate(checks))
    hits = [(n, r, masks.get_column(f"m{i}"), null) for i, (n, r, _, null) in enumerate(checks)]
    out = with_casts(
        df, {k: work.get_column(f"{prefix}{k}") if k in df.columns else e for k, e in casts.items()}
    )
    nulled: dict[str, pl.Series] = {}
    for name, _, mask, nullable in hits:
        if nullable and mask.any():
            nulled[name] = nulled[name] | mask if name in nulled else mask
    if nulled:
        out = out.with_columns(
            pl.when(pl.lit(m)).then(None).otherwise(pl.col(k)).alias(k) for k, m in nulled.items()
        )
    return out, hits, code_maps


def as_given(out: pl.DataFrame, given: pl.DataFrame, hits: list[Hit]) -> pl.DataFrame:
    """``out`` (values as ``validate`` returns them) with each column in which a bad optional
    attribute was set null made a struct of that value and, on the rows set null, the value
    as given (as text): what :func:`recurct._duplicates.duplicate_rows` compares, so that two
    rows differing only in values set null (``12,5`` and ``13,1`` in a ``,`` file) are never
    copies, while identical rows still are. Columns with nothing set null are left as they
    are."""
    nulled: dict[str, pl.Series] = {}
    for name, _, mask, nullable in hits:
        if nullable and mask.any():
            nulled[name] = nulled[name] | mask if name in nulled else mask
    if not nulled:
        return out
    return out.with_columns(
        pl.struct(
            pl.col(k).alias("value"),
            pl.when(pl.lit(m))
            .then(pl.lit(given.get_column(k)).cast(pl.Utf8, strict=False))
            .alias("given"),
        ).alias(k)
        for k, m in nulled.items()
    )


def key_frame(df: pl.DataFrame) -> pl.DataFrame:
    """A cleaned table (:func:`recurct._frames.to_polars`) with its values as
    ``validate(strict=False)`` (default arguments) compares them, every row kept: what
    :func:`recurct.schema.duplicate_mask` compares (:func:`as_given`)."""
    read = number_text(df)  # text doses as validate reads them
    out, hits, _ = _canonical(
        read, read.schema, required=REQUIRED_COLUMNS, today=date.max, max_dose=MAX_EXAM_DOSE_MSV
    )
    return as_given(out, df, hits)


def check_exams(exams: Any, **options: Any) -> tuple[pl.DataFrame, ValidationReport]:
    """:func:`check_exams_kept` (same arguments: those of :func:`recurct.schema.validate`,
    ``shown`` and ``source``) without the positions of the rows kept: the polars frame and
    the :class:`ValidationReport`."""
    out, report, _ = check_exams_kept(exams, **options)
    return out, report


def check_exams_kept(
    exams: Any,
    *,
    strict: bool = True,
    today: date | datetime | str | None = None,
    required: tuple[str, ...] | list[str] = REQUIRED_COLUMNS,
    dayfirst: bool = False,
    region_rules: Any = None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
    shown: pl.DataFrame | None = None,
    source: str | None = None,
    parsed_dates: pl.Series | None = None,
    decimal: str | None = "as-is",
    caller: str = "read_exams",
) -> tuple[pl.DataFrame, ValidationReport, np.ndarray | None]:
    """:func:`check_exams`, and the 0-based input positions of the rows returned (in input
    order), or ``None`` when every row was kept: for the index rule of a pandas result
    (:func:`recurct._frames.input_index`).

    ``shown``: columns of the values as the user wrote them, row for row (``read_exams``
    rewrites decimal commas and DICOM ages before the checks): the problems quote these.
    ``source``: the file, named by the warnings. ``parsed_dates``: the text ``exam_date``
    already parsed, row for row (``read_exams`` parses it when it merges a time of day):
    used instead of parsing it again. ``decimal``: how the text doses and ages are read
    (:func:`recurct._casts.number_text`): ``"as-is"`` (the default) as they are, the caller
    having read them by its own rule (``read_exams`` by its ``decimal=``); ``None`` by the
    rule each column decides its mark by (what ``validate`` does). ``caller``: the public
    function checking, whose words the warnings and reasons use: where the rows are
    (``"validate"``: not in another function's report), what to do about an ambiguous
    number (:data:`DECIMAL_REMEDY`)."""
    max_dose = _checks.optional_bound(max_dose_msv, "validate", "max_dose_msv")
    given, _ = to_polars(exams, clean=False)  # problems show the values as given
    values = given if shown is None or shown.width == 0 else given.with_columns(shown)
    df = clean_frame(given, placeholder_ids)
    df = number_text(df, decimal)  # text doses and ages by the rule (or as they are)
    required = tuple(_checks.names(required, "validate", "required", allow_empty=True))
    today_d = date.today() if today is None else as_date(today, "today")

    missing_cols = [c for c in required if c not in df.columns]
    schema = df.schema
    out, hits, code_maps = _canonical(
        df,
        schema,
        required=required,
        today=today_d,
        max_dose=max_dose,
        dayfirst=dayfirst,
        region_rules=region_rules,
        parsed_dates=parsed_dates,
        remedy=DECIMAL_REMEDY[caller],
    )
    drops = [h for h in hits if not h[3]]
    if drops:
        bad = pl.DataFrame([m for _, _, m, _ in drops]).select(pl.any_horizontal(pl.all()))
        bad = bad.to_series()
    else:
        bad = pl.Series("bad", [False] * df.height, dtype=pl.Boolean)
    copies: list[Hit] = []
    if not missing_cols and {"patient_id", "exam_date"} <= set(schema):
        # compared as they are returned (codes that map to nothing null), but a bad optional
        # attribute set null by its value as given: setting it null merges no exams
        keyed = as_given(out, values, hits)
        dup = pl.Series("dup", duplicate_rows(keyed, bad.to_numpy()))
        if dup.any():
            copies.append(("exam_date", "duplicate exam", dup, False))
            bad = bad | dup
    drops += copies

    if missing_cols or strict:  # with strict=True a bad attribute is a problem too
        problems = collect_problems(values, hits + copies, missing_cols)
        if missing_cols or problems.height:
            # and the codes that map to nothing, as strict=False lists them
            codes = _code_hits(df, code_maps)
            problems = collect_problems(values, hits + copies + codes, missing_cols)
            raise ExamValidationError(problems)

    n_bad = int(bad.sum()) if df.height else 0
    problems = (
        collect_problems(values, drops, []) if n_bad else pl.DataFrame(schema=_PROBLEMS_SCHEMA)
    )
    problems, nulled_by_reason = _set_null(values, code_maps, hits, bad, problems, source, caller)
    by_reason: dict[str, int] = {}
    kept = None
    if n_bad:
        out = out.filter(~bad)
        by_reason = _dropped(drops, n_bad, df.height, source, caller)
        kept = np.flatnonzero(~bad.to_numpy())
    report = ValidationReport(df.height, out.height, by_reason, problems, nulled_by_reason)
    return out, report, kept


def _code_hits(df: pl.DataFrame, code_maps: dict) -> list[Hit]:
    """The codes that map to nothing, as :data:`Hit` (nullable: set null, exam kept), with
    their reason as the report of ``strict=False`` words it."""
    codes = unmapped(code_maps)
    if not codes:
        return []
    cmasks = df.select(m.alias(f"m{i}") for i, (_, _, m) in enumerate(codes))
    return [
        (n, f"{r} (set null)", cmasks.get_column(f"m{i}"), True)
        for i, (n, r, _) in enumerate(codes)
    ]


def _set_null(
    df: pl.DataFrame,
    code_maps: dict,
    hits: list[Hit],
    bad: pl.Series,
    problems: pl.DataFrame,
    source: str | None = None,
    caller: str = "read_exams",
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Problems with the values set null, the exam kept (codes that map to nothing, bad
    optional attributes) added, and their counts by reason, with one warning; values of
    dropped rows are not reported."""
    codes = unmapped(code_maps)
    if codes:
        cmasks = df.select(m.alias(f"m{i}") for i, (_, _, m) in enumerate(codes))
        hits = hits + [
            (n, r, cmasks.get_column(f"m{i}"), True) for i, (n, r, _) in enumerate(codes)
        ]
    kept = ~bad
    nullable = [(n, r, m & kept, True) for n, r, m, null in hits if null]
    if not any(m.any() for _, _, m, _ in nullable):
        return problems, {}
    nulled = collect_problems(df, nullable, []).with_columns(pl.col("reason") + " (set null)")
    by_reason: dict[str, int] = {}
    for reason, n in nulled.group_by("reason", maintain_order=True).len().iter_rows():
        by_reason[reason.removesuffix(" (set null)")] = n
    problems = pl.concat([problems, nulled]).sort("row", nulls_last=False, maintain_order=True)
    summary = ", ".join(f"{n} {r}" for r, n in by_reason.items())
    hint = " (or extend the mapping with region_rules=)" if "body_region" in code_maps else ""
    warnings.warn(
        f"{source + ': ' if source else ''}validate set {nulled.height} value(s) null "
        f"({summary}), keeping the exams; "
        f"fix the values{hint}; {_where_rows(caller)}",
        UnmappedValuesWarning,
        stacklevel=user_stacklevel(),
    )
    return problems, by_reason


def _dropped(
    drops: list[Hit],
    n_bad: int,
    n_rows: int,
    source: str | None = None,
    caller: str = "read_exams",
) -> dict[str, int]:
    """Rows dropped by reason (a row with two problems counts under both), with one warning."""
    by_reason: dict[str, int] = {}
    for _, reason, mask, _ in drops:
        n = int(mask.sum())
        if n:
            by_reason[reason] = by_reason.get(reason, 0) + n
    summary = ", ".join(f"{n} {r}" for r, n in by_reason.items())
    warnings.warn(
        f"{source + ': ' if source else ''}validate dropped {n_bad} of {n_rows} rows "
        f"({summary}); {_where_rows(caller)}",
        DroppedRowsWarning,
        stacklevel=user_stacklevel(),
    )
    return by_reason


def _where_rows(caller: str) -> str:
    """Where the rows of a warning are listed: the report of ``read_exams``; for ``validate``
    (which returns no report) the error of ``strict=True``."""
    if caller != "validate":
        return "see read_exams(exams, strict=False).report for the rows"
    return "validate(exams) with strict=True raises an error listing each row and column"


def collect_problems(df: pl.DataFrame, hits: list[Hit], missing_cols: list[str]) -> pl.DataFrame:
    """The problems frame: missing columns first, then row problems sorted by row (and, in
    a row, in the order of ``hits``)."""
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
    for i, (name, reason, mask, _) in enumerate(hits):
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
