"""The one return type of the readers: :class:`ReadResult` (exams, events, report)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, NoReturn, TypeVar

import polars as pl

from recurct.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from recurct._validation import ValidationReport
    from recurct.io.rdsr._tables import ReadReport

__all__ = ["ReadResult"]

#: The exam table type of a result: pandas when read_exams was given pandas, else polars.
_F = TypeVar("_F", bound="pl.DataFrame | pd.DataFrame")


@dataclass(frozen=True, eq=False)
class ReadResult(Generic[_F]):
    """What a reader read: :func:`recurct.read_exams`, :func:`recurct.read_rdsr` and
    :func:`recurct.read_openrem_ct` all return one.

    A result can be given wherever an exam table is expected (``cumulative_dose(read_exams(
    path))``): :func:`recurct._frames.to_polars` takes its :attr:`exams`.

    Attributes
    ----------
    exams : polars.DataFrame or pandas.DataFrame
        One row per exam in canonical form (pandas when :func:`recurct.read_exams` was given a
        pandas frame, else polars).
    events : polars.DataFrame or None
        One row per CT irradiation event (DICOM dose reports, OpenREM exports); None where the
        source has no event level (:func:`recurct.read_exams`).
    report : ValidationReport or ReadReport
        What was read, dropped, set null or repaired: a
        :class:`recurct.schema.ValidationReport` from :func:`recurct.read_exams` (rows in and
        out, problems by row and column), a :class:`recurct.io.rdsr.ReadReport` from the
        readers of files of dose reports (files read and skipped, problems by file and field).
    """

    exams: _F
    events: pl.DataFrame | None
    report: ValidationReport | ReadReport

    def __iter__(self) -> NoReturn:
        # 0.1 returned tuples: unpacking a result says what to write instead
        raise ParameterError(
            "a ReadResult is not a tuple (recurct 0.2): use result.exams, result.events and "
            "result.report instead of unpacking it"
        )

    def __repr__(self) -> str:
        events = "None" if self.events is None else f"{len(self.events)} rows"
        return (
            f"ReadResult(exams: {len(self.exams)} rows, events: {events}, "
            f"report: {type(self.report).__name__})"
        )
