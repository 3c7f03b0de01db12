"""Every error and warning that recurct raises, under one base class each.

Catch :class:`RecurctError` for any error recurct raises on purpose (bad input, a parameter
out of range, a folder that would be overwritten), and filter :class:`RecurctWarning` for any
warning it gives (rows dropped, values left unmapped, a biased estimator)::

    try:
        recurct.validate(exams)
    except recurct.errors.RecurctError as exc:
        ...
    warnings.simplefilter("error", recurct.errors.RecurctWarning)

Each class keeps the built-in base it had before the hierarchy existed (``ValueError``,
``TypeError``, ``FileExistsError``, ``UserWarning``), so ``except ValueError`` code keeps
working. The classes are defined here and re-exported by the modules that raise them
(``recurct.schema.ExamValidationError`` is ``recurct.errors.ExamValidationError``).

This module imports nothing from recurct at import time, so any module may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import polars as pl

__all__ = [
    "CompetingRiskWarning",
    "DataError",
    "DoseConversionError",
    "DoseConversionWarning",
    "DroppedRowsWarning",
    "ExamValidationError",
    "IdentifierWarning",
    "IncompleteOutputError",
    "InputError",
    "InputNotFoundError",
    "OutputExistsError",
    "ParameterError",
    "PartialExamWarning",
    "RdsrReadError",
    "RecurctError",
    "RecurctWarning",
    "RegressionWarning",
    "StandardisationWarning",
    "UnmappedValuesWarning",
    "WeakSecretError",
]


# --------------------------------------------------------------------------- the bases
class RecurctError(Exception):
    """Base class of every error recurct raises on purpose; the message says what to do."""


class RecurctWarning(UserWarning):
    """Base class of every warning recurct gives; the message counts what was affected."""


# --------------------------------------------------------------------------- errors
class ParameterError(RecurctError, TypeError, ValueError):
    """A parameter of a public function is not acceptable; the message says which and why."""


class DataError(RecurctError, ValueError):
    """An input table or file holds something recurct cannot use (a value it cannot read, a
    row that breaks the file's layout, a table that does not match another); the message
    names the file, the row of the input and the column where there is one."""


class ExamValidationError(RecurctError, ValueError):
    """An exam table broke the canonical schema; ``.problems`` lists every problem.

    ``problems`` is a polars DataFrame with columns ``row`` (0-based row of the input, null
    for a missing column), ``column``, ``value`` (the offending value as text) and ``reason``.
    ``lines`` (a CSV file's rows, :class:`recurct.io._csv.RowLines`): the 1-based line of
    the file of a row, named beside it in the message; for a folder of Parquet files the
    file and its own row (``"row 0 of b.parquet"``, :class:`recurct.io.exams.FileRows`);
    None for a frame or a single Parquet file.
    """

    def __init__(
        self,
        problems: pl.DataFrame,
        source: str | None = None,
        hint: str | None = None,
        lines: Callable[[int], int | str | None] | None = None,
    ) -> None:
        from recurct._validation import problem_message  # which imports this module

        self.problems = problems
        self.source = source
        self.hint = hint
        self.lines = lines
        message = problem_message(problems, source, lines)
        super().__init__(f"{message}\n{hint}" if hint else message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (multiprocessing, Dask workers)
        # rebuilt from its parts, then given the message as raised: a caller may have
        # reworded it (``studies.reproduce`` names what it takes instead of ``strict``)
        parts = (self.problems, self.source, self.hint, self.lines)
        return (type(self), parts, {**vars(self), "args": self.args})


class DoseConversionError(RecurctError, ValueError):
    """Effective dose could not be computed for some rows; the message lists every one.

    ``problems`` holds the rows as a polars DataFrame (``row``, ``column``, ``value``,
    ``reason``); ``row`` is the 0-based row of the input table.
    """

    def __init__(self, message: str, problems: pl.DataFrame | None = None) -> None:
        super().__init__(message)
        self.problems = problems

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, with its problems
        return (type(self), (str(self), self.problems))


class RdsrReadError(RecurctError, ValueError):
    """A dose report could not be read (raised with ``strict=True``); names file and field."""


class WeakSecretError(RecurctError, ValueError):
    """The pseudonymisation secret is missing, empty or below 128 bits."""


class OutputExistsError(RecurctError, FileExistsError):
    """The output folder exists and is not empty (pass ``overwrite=True`` to replace it)."""


class IncompleteOutputError(RecurctError, ValueError):
    """A recurct output is incomplete: a folder does not match its manifest (a file missing,
    added or cut), or a file of it could not be written (disk full, a file size limit: the
    message names the file and the reason, and nothing is left at the target)."""


class InputNotFoundError(RecurctError, FileNotFoundError):
    """An input file or folder that a function was asked to read does not exist (or a folder
    or pattern holds no file it reads); the message names the path."""


class InputError(RecurctError):
    """The ``recurct`` command cannot use its input; ``str()`` is the message for the user."""


# --------------------------------------------------------------------------- warnings
class DroppedRowsWarning(RecurctWarning):
    """Rows were dropped or left out (``validate(strict=False)``, ``compare_to_drl``), or
    files skipped by ``read_rdsr``; the message counts them by reason."""


class UnmappedValuesWarning(RecurctWarning):
    """Values were set null and their exams kept: codes of ``sex`` or ``body_region`` that no
    table or rule maps, and bad optional attributes (an age outside 0-130 or not a number, a
    DLP or CTDIvol that is negative, NaN, infinite or implausible beside an effective dose);
    the message counts them by reason."""


class IdentifierWarning(RecurctWarning):
    """Identifiers had surrounding whitespace, which was removed, or (``read_exams``) were
    numbers in scientific notation (``1,23457E+11``: their last digits lost), read as
    missing; the message counts them."""


class DoseConversionWarning(RecurctWarning):
    """``strict=False`` left some effective doses null; the message counts them by reason."""


class PartialExamWarning(RecurctWarning):
    """Exams whose events lack a DLP or, in ``read_rdsr``, whose events were lost or conflict:
    their exam DLP was left null (never a partial sum)."""


class CompetingRiskWarning(RecurctWarning):
    """Death handled as a competing event: an end of observation that looks like a death
    date (Kaplan-Meier would overstate), or patients left out of
    :func:`recurct.stats.cumulative_incidence` because they died before or on their
    (delayed) entry date (never at risk; counted in ``n_not_at_risk``)."""


class StandardisationWarning(RecurctWarning):
    """Patients dropped (no age group) or age groups empty in a stratum (weights renormalised)."""


class RegressionWarning(RecurctWarning):
    """Rows dropped before a regression (missing values), or a biased exam-rate outcome."""
