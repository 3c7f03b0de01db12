"""The checks behind :func:`recurct.schema.validate`: every row-level problem of an exam
table, the duplicate rule applied, codes that map to nothing set null and counted, and the
:class:`ValidationReport` (re-exported by :mod:`recurct.schema`). :func:`check_exams` returns
the canonical frame and the report; ``validate`` returns the frame,
``read_exams(...).report`` the report."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import CODES, code_maps_of, eager_casts, with_casts
from recurct._dates import as_date
from recurct._duplicates import duplicate_rows
from recurct._frames import clean_frame, exact_float_ids, to_polars
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning
from recurct.schema import DOSE_COLUMNS, MAX_EXAM_DOSE_MSV, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "ValidationReport",
    "check_exams",
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
    validated : bool
        False when nothing was checked (``read_exams(..., validate=False)``): no problem
        listed then means none was looked for.
    """

    n_rows_in: int
    n_rows_out: int
    dropped_by_reason: dict[str, int]
    problems: pl.DataFrame
    set_null_by_reason: dict[str, int] = field(default_factory=dict)
    validated: bool = True

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
            lines.append(problem_lines(self.problems))
        return "\n".join(lines)


def _describe(row: dict[str, Any]) -> str:
    where = "" if row["row"] is None else f"row {row['row']}, "
    value = "" if row["value"] is None else f" (value: {row['value']!r})"
    return f"{where}column {row['column']!r}: {row['reason']}{value}"


def problem_lines(problems: pl.DataFrame, show: int = _SHOW) -> str:
    lines = [f"  {_describe(r)}" for r in problems.head(show).iter_rows(named=True)]
    if problems.height > show:
        lines.append(f"  ... and {problems.height - show} more (see .problems)")
    return "\n".join(lines)


def problem_message(problems: pl.DataFrame, source: str | None) -> str:
    n = problems.height
    where = f"{source}: " if source else ""
    head = f"{where}{n} problem{'s' if n != 1 else ''} in the exam table"
    if n > _SHOW:
        head += f" (first {_SHOW} shown)"
    fix = (
        "Fix the data, map the columns, or pass strict=False to drop the bad rows "
        "(a missing column cannot be dropped)."
    )
    return f"{head}:\n{problem_lines(problems)}\n{fix}"


def row_checks(
    schema: pl.Schema,
    required: tuple[str, ...],
    today: date,
    max_dose: float | None = MAX_EXAM_DOSE_MSV,
) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` for every row-level check that applies to ``schema``.

    Masks refer to the original column ``name`` and its canonical cast ``__cast_name``.
    Unmapped codes are not here (they are set null, see :func:`unmapped`).
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


def unmapped(code_maps: dict[str, tuple[dict, list[str]]]) -> list[tuple[str, str, pl.Expr]]:
    """``(column, reason, mask)`` of the coded values that map to nothing (set null)."""
    out = []
    for name, (_, invalid) in code_maps.items():
        if invalid:
            mask = pl.col(name).cast(pl.Utf8).is_in(invalid).fill_null(False)
            out.append((name, CODES[name][1], mask))
    return out


def unchecked_report(n_rows: int) -> ValidationReport:
    """The report of a table that was cast but not validated: nothing looked for."""
    empty = pl.DataFrame(schema=_PROBLEMS_SCHEMA)
    return ValidationReport(n_rows, n_rows, {}, empty, validated=False)


def check_exams(
    exams: Any,
    *,
    strict: bool = True,
    today: date | datetime | str | None = None,
    required: tuple[str, ...] | list[str] = REQUIRED_COLUMNS,
    dayfirst: bool = False,
    region_rules: Any = None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
) -> tuple[pl.DataFrame, ValidationReport]:
    """:func:`recurct.schema.validate` (same arguments), returning the polars frame and the
    :class:`ValidationReport`."""
    max_dose = _checks.optional_bound(max_dose_msv, "validate", "max_dose_msv")
    given, _ = to_polars(exams, clean=False)  # problems show the values as given
    df = clean_frame(given, placeholder_ids)
    required = tuple(_checks.names(required, "validate", "required", allow_empty=True))
    today_d = date.today() if today is None else as_date(today, "today")

    missing_cols = [c for c in required if c not in df.columns]
    schema = df.schema
    code_maps = code_maps_of(df, region_rules)
    casts = eager_casts(df, dayfirst=dayfirst, code_maps=code_maps, null_unmapped=True)
    work = df.with_columns(**{f"__cast_{k}": e for k, e in casts.items() if k in df.columns})
    checks = row_checks(schema, required, today_d, max_dose)

    masks = work.select([m.alias(f"m{i}") for i, (_, _, m) in enumerate(checks)])
    if checks:
        bad = masks.select(pl.any_horizontal(pl.all())).to_series()
    else:
        bad = pl.Series("bad", [False] * df.height, dtype=pl.Boolean)
    if not missing_cols and {"patient_id", "exam_date"} <= set(schema):
        canon = work.select(key_value(c, c in casts, code_maps) for c in df.columns)
        dup = pl.Series("dup", duplicate_rows(canon, bad.to_numpy()))
        if dup.any():
            checks.append(("exam_date", "duplicate exam", pl.lit(True)))
            masks = masks.with_columns(dup.alias(f"m{len(checks) - 1}"))
            bad = bad | dup

    n_bad = int(bad.sum()) if df.height else 0
    problems = (
        collect_problems(given, masks, checks, missing_cols)
        if (n_bad or missing_cols)
        else (pl.DataFrame(schema=_PROBLEMS_SCHEMA))
    )
    if missing_cols or (strict and problems.height):
        raise ExamValidationError(problems)

    out = with_casts(
        df, {k: work.get_column(f"__cast_{k}") if k in df.columns else e for k, e in casts.items()}
    )
    problems, nulled_by_reason = _set_null(df, code_maps, bad, problems)
    by_reason: dict[str, int] = {}
    if n_bad:
        out = out.filter(~bad)
        by_reason = _dropped(masks, checks, n_bad, df.height)
    return out, ValidationReport(df.height, out.height, by_reason, problems, nulled_by_reason)


def _set_null(
    df: pl.DataFrame, code_maps: dict, bad: pl.Series, problems: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Problems with the codes that map to nothing (set null, exam kept) added, and their
    counts by reason, with one warning; values of dropped rows are not reported."""
    unmapped_codes = unmapped(code_maps)
    if not unmapped_codes:
        return problems, {}
    kept = ~pl.lit(bad)
    umasks = df.select([(m & kept).alias(f"m{i}") for i, (_, _, m) in enumerate(unmapped_codes)])
    nulled = collect_problems(df, umasks, unmapped_codes, []).with_columns(
        pl.col("reason") + " (set null)"
    )
    by_reason: dict[str, int] = {}
    for reason, n in nulled.group_by("reason", maintain_order=True).len().iter_rows():
        by_reason[reason.removesuffix(" (set null)")] = n
    problems = pl.concat([problems, nulled]).sort("row", nulls_last=False, maintain_order=True)
    if nulled.height:
        summary = ", ".join(f"{n} {r}" for r, n in by_reason.items())
        warnings.warn(
            f"validate set {nulled.height} value(s) null ({summary}), keeping the exams; "
            "extend the mapping with region_rules= or fix the values; see "
            "read_exams(exams, strict=False).report for the rows",
            UnmappedValuesWarning,
            stacklevel=5,
        )
    return problems, by_reason


def _dropped(
    masks: pl.DataFrame, checks: list[tuple[str, str, pl.Expr]], n_bad: int, n_rows: int
) -> dict[str, int]:
    """Rows dropped by reason (a row with two problems counts under both), with one warning."""
    by_reason: dict[str, int] = {}
    counts = masks.select(pl.all().sum())
    for i, (_, reason, _) in enumerate(checks):
        n = int(counts.get_column(f"m{i}")[0])
        if n:
            by_reason[reason] = by_reason.get(reason, 0) + n
    summary = ", ".join(f"{n} {r}" for r, n in by_reason.items())
    warnings.warn(
        f"validate dropped {n_bad} of {n_rows} rows ({summary}); "
        "see read_exams(exams, strict=False).report for the rows",
        DroppedRowsWarning,
        stacklevel=5,
    )
    return by_reason


def key_value(name: str, cast: bool, code_maps: dict) -> pl.Expr:
    """A column as the duplicate rule compares it: the canonical value, and for a code that
    maps to nothing its text as given (as :func:`duplicate_mask` sees it), not the null it
    becomes in the output."""
    if not cast:
        return pl.col(name)
    e = pl.col(f"__cast_{name}")
    if name in code_maps and code_maps[name][1]:
        e = e.fill_null(pl.col(name).cast(pl.Utf8))
    return e.alias(name)


def collect_problems(
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
