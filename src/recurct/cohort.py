"""Cohort selection with a record of every step, for the flow diagram of a paper.

A :class:`Cohort` wraps an exam table. Each filter returns a *new* cohort (the original is
never changed) and appends one row to :attr:`Cohort.steps`: how many patients and exams went
in, were kept and were dropped. Filters are of two kinds, stated in each docstring:

* **patient-level** (keep or drop whole patients, with all their exams): ``adults``,
  ``ages(at="first")``, ``sex``, ``min_followup``;
* **exam-level** (keep or drop single exams; a patient left with no exam disappears):
  ``ages(at="each")``, ``facilities``, ``period``, ``indication``, ``modality``, ``dedupe``,
  ``where``.

>>> import datetime as dt, polars as pl
>>> exams = pl.DataFrame({"patient_id": [1, 1, 2], "exam_date": [dt.date(2020, 1, 1)] * 3,
...                       "effective_dose_msv": [5.0, 5.0, 7.0]})
>>> Cohort(exams).dedupe()
Cohort(2 patients, 2 exams; steps: input, dedupe)
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import polars as pl

from recurct import _checks
from recurct._casts import as_written
from recurct._dates import as_date
from recurct._frames import FrameKind, from_polars, input_index, is_enum, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, ParameterError, UnmappedValuesWarning
from recurct.schema import SEX_TABLE, duplicate_mask

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from recurct.io._result import ReadResult

__all__ = ["DAYS_PER_YEAR", "Cohort"]

#: The frame type of a cohort: pandas if made from pandas, else polars.
_F = TypeVar("_F", bound="pl.DataFrame | pd.DataFrame")

DAYS_PER_YEAR = 365.25
"""Days per year used to move an age between two exam dates (Julian year)."""

_REQUIRED = ("patient_id", "exam_date")
_CODES = ("F", "M", "O", "U")  # the sex codes of the canonical table
_STEP_SCHEMA = {
    "step": pl.Int64,
    "rule": pl.Utf8,
    "patients_in": pl.Int64,
    "exams_in": pl.Int64,
    "patients_kept": pl.Int64,
    "exams_kept": pl.Int64,
    "patients_dropped": pl.Int64,
    "exams_dropped": pl.Int64,
}


def _local_time(df: pl.DataFrame) -> pl.Expr:
    """``exam_date`` as local wall-clock time (time-zone-aware datetimes lose their zone), the
    time by which recurct orders exams (as :func:`recurct.cumulative_dose` does)."""
    dtype = df.get_column("exam_date").dtype  # one dtype, not the whole schema
    col = pl.col("exam_date")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        col = col.dt.replace_time_zone(None)
    return col


def _day(df: pl.DataFrame) -> pl.Expr:
    """The calendar day of each exam (local wall-clock day for time-zone-aware datetimes)."""
    return _local_time(df).cast(pl.Date)


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


class Cohort(Generic[_F]):
    """An exam table and the record of how it was selected.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        One row per CT examination, with at least ``patient_id`` and ``exam_date`` (a
        ``Date`` or ``Datetime``). Other canonical columns (``age_years``, ``sex``,
        ``facility``, ``indication``, ``study_uid``, ``modality``, ...) are needed only by the
        filters that use them. Validation here is light; run :func:`recurct.validate` first
        for a full check.

    Attributes
    ----------
    exams : polars.DataFrame or pandas.DataFrame
        The exams kept so far, sorted by patient (an ``Enum`` or ``Categorical`` id by its
        text, as :func:`recurct.cumulative_dose` sorts it) and time (ties keep the input
        order); a time-zone-aware ``exam_date`` is ordered by its local wall-clock time, as
        :func:`recurct.cumulative_dose` orders it, so "the first exam" of every patient-level
        rule is the one the patients table starts from. A pandas ``exams`` keeps each exam's
        index label from the input (the labels move with the rows; the exams dropped by the
        filters are the labels missing). Every
        table a cohort returns (``exams``, ``steps``, ``flow()``, ``patients()``) is pandas
        when the cohort was made from pandas, else polars.
    steps : polars.DataFrame or pandas.DataFrame
        The flow table: ``step``, ``rule``, ``patients_in``, ``exams_in``, ``patients_kept``,
        ``exams_kept``, ``patients_dropped``, ``exams_dropped`` (step 0 is the input).
    study_end : None, datetime.date or dict
        The end of the study period set by :meth:`period` (a date, or ``{facility: date}``),
        ready for ``min_followup(end=...)`` and ``recurct.stats.time_to_threshold(end=...)``.
        A later :meth:`period` that gives no end keeps it; one that gives an end keeps the
        earlier of the two (per facility), the day the cohort's exams really end.
    """

    __slots__ = ("_exams", "_index", "_kind", "_steps", "_study_end")

    @overload
    def __init__(
        self: Cohort[pl.DataFrame], exams: pl.DataFrame | pl.LazyFrame | ReadResult[pl.DataFrame]
    ) -> None: ...
    @overload
    def __init__(
        self: Cohort[pd.DataFrame], exams: pd.DataFrame | ReadResult[pd.DataFrame]
    ) -> None: ...
    @overload
    def __init__(
        self: Cohort[pl.DataFrame | pd.DataFrame],
        exams: pl.DataFrame | pd.DataFrame | ReadResult[Any],
    ) -> None: ...
    @overload
    def __init__(self: Cohort[pl.DataFrame], exams: pa.Table | pa.RecordBatch) -> None: ...
    def __init__(self, exams: Any) -> None:
        df, kind = to_polars(exams)
        self._kind: FrameKind = kind
        missing = [c for c in _REQUIRED if c not in df.columns]
        if missing:
            raise DataError(
                f"Cohort: the exam table lacks column(s) {missing}; it needs {list(_REQUIRED)} "
                "(rename columns or read it with recurct.read_exams)"
            )
        dtype = df.get_column("exam_date").dtype  # one dtype, not the whole schema
        if not (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            raise ParameterError(
                f"Cohort: column 'exam_date' must be a Date or Datetime, got {dtype}; parse it "
                "first, e.g. pl.col('exam_date').str.to_date(), or use recurct.validate()"
            )
        for col in _REQUIRED:
            if df[col].null_count():
                rows = df[col].is_null().arg_true().head(5).to_list()
                raise DataError(
                    f"Cohort: column {col!r} has {df[col].null_count()} null or placeholder "
                    f"value(s) (rows {rows}{', ...' if df[col].null_count() > 5 else ''}, "
                    "0-based); drop or fix these exams first"
                )
        # sorted once by patient and local wall-clock time (stable: ties keep input order), the
        # order of cumulative_dose; every filter keeps that order, so patient-level rules ("the
        # first exam", "the first known sex") need no further sort and agree with patients().
        # An Enum or Categorical id is sorted by its text, as cumulative_dose sorts it (not by
        # its category order)
        ids = df.get_column("patient_id")
        coded = is_enum(ids) or isinstance(ids.dtype, pl.Categorical)  # (Enum: dtype not read)
        pid = pl.col("patient_id")
        keys = [pid.cast(pl.String) if coded else pid, _local_time(df)]
        index = input_index(exams)
        if index is None:
            df = df.sort(keys, maintain_order=True)
        else:  # the same order, found as positions: the index labels move with the rows
            order = df.select(pl.arg_sort_by(keys, maintain_order=True)).to_series().to_numpy()
            df, index = df.gather(order), index.take(order)
        n_p, n_e = df["patient_id"].n_unique(), df.height
        self._exams = df
        #: the input's pandas index labels of the exams kept, in their order (None: not pandas)
        self._index: pd.Index | None = index
        self._steps = pl.DataFrame(
            [[0, "input", n_p, n_e, n_p, n_e, 0, 0]], schema=_STEP_SCHEMA, orient="row"
        )
        self._study_end: dt.date | dict[str, dt.date] | None = None

    # ------------------------------------------------------------------ basics
    @property
    def exams(self) -> _F:
        """The exams kept so far, sorted by patient and local wall-clock time (ties: input
        order); pandas if the cohort was made from pandas, each exam with its index label
        from the input."""
        return from_polars(self._exams, self._kind, self._index)  # type: ignore[no-any-return]

    @property
    def steps(self) -> _F:
        """The flow table (see the class docstring); pandas if the cohort was made from
        pandas."""
        return from_polars(self._steps, self._kind)  # type: ignore[no-any-return]

    @property
    def study_end(self) -> dt.date | dict[str, dt.date] | None:
        """End of the study period from :meth:`period` (``None`` if not set)."""
        return self._study_end

    @property
    def n_patients(self) -> int:
        """Number of distinct patients."""
        return int(self._steps["patients_kept"][-1])

    @property
    def n_exams(self) -> int:
        """Number of exams."""
        return self._exams.height

    def flow(self) -> _F:
        """The flow table: one row per step with patients and exams in, kept and dropped
        (pandas if the cohort was made from pandas)."""
        return self.steps

    def __repr__(self) -> str:
        rules = ", ".join(r.split(" ")[0].rstrip(":") for r in self._steps["rule"])
        return f"Cohort({self.n_patients} patients, {self.n_exams} exams; steps: {rules})"

    def _filter(self, cond: pl.Expr | pl.Series) -> tuple[pl.DataFrame, pd.Index | None]:
        """The exams for which ``cond`` is true (null: false), and their index labels."""
        if self._index is None:
            return self._exams.filter(cond), None
        if isinstance(cond, pl.Expr):
            name = "__recurct_keep"
            while name in self._exams.columns:
                name += "_"
            cond = self._exams.with_columns(cond.alias(name)).get_column(name)
        mask = cond.fill_null(False)
        return self._exams.filter(mask), self._index[mask.to_numpy()]

    def _derive(
        self,
        kept: tuple[pl.DataFrame, pd.Index | None],
        rule: str,
        study_end: Any = "keep",
    ) -> Cohort[_F]:
        exams, index = kept
        new = object.__new__(Cohort)
        n_p_in, n_e_in = self.n_patients, self.n_exams
        n_p, n_e = int(exams["patient_id"].n_unique()), exams.height
        row = pl.DataFrame(
            [[self._steps.height, rule, n_p_in, n_e_in, n_p, n_e, n_p_in - n_p, n_e_in - n_e]],
            schema=_STEP_SCHEMA,
            orient="row",
        )
        new._exams = exams
        new._index = index
        new._kind = self._kind
        new._steps = pl.concat([self._steps, row], how="vertical")
        new._study_end = self._study_end if study_end == "keep" else study_end
        return new

    def _need(self, cols: list[str], method: str) -> None:
        missing = [c for c in cols if c not in self._exams.columns]
        if missing:
            raise DataError(
                f"Cohort.{method}: the exam table has no column(s) {missing} "
                f"(columns: {self._exams.columns})"
            )

    def _keep_patients(self, ids: pl.Series, rule: str) -> Cohort[_F]:
        return self._derive(self._filter(pl.col("patient_id").is_in(ids.implode())), rule)

    def _sorted(self, *cols: str) -> pl.DataFrame:
        """``patient_id``, ``exam_date``, ``_day``, ``cols`` and the row number ``_pos`` (the
        exams are sorted by patient and time); ``_start`` marks each patient's first row."""
        pid = pl.col("patient_id")
        return (
            self._exams.select("patient_id", "exam_date", *cols)
            .with_row_index("_pos")
            .with_columns(
                _day(self._exams).alias("_day"),
                (pid != pid.shift(1)).fill_null(True).alias("_start"),
            )
        )

    @staticmethod
    def _first_known(sorted_: pl.DataFrame, col: str) -> pl.DataFrame:
        """One row per patient with a non-null ``col``: the first such row in time order."""
        pid = pl.col("patient_id")
        known = sorted_.filter(pl.col(col).is_not_null())
        return known.filter((pid != pid.shift(1)).fill_null(True))

    def _patient_facility(self) -> pl.DataFrame:
        """``patient_id`` -> most frequent facility (ties: the earliest in time)."""
        pid = pl.col("patient_id")
        counts = (
            self._sorted("facility")
            .filter(pl.col("facility").is_not_null())
            .with_columns(pl.col("facility").cast(pl.Utf8), pl.int_range(pl.len()).alias("_rank"))
            .group_by("patient_id", "facility")
            .agg(pl.len().alias("_n"), pl.col("_rank").min().alias("_first"))
            .sort(["patient_id", "_n", "_first"], descending=[False, True, False])
        )
        return counts.filter((pid != pid.shift(1)).fill_null(True)).select("patient_id", "facility")

    # ------------------------------------------------------------------ patient-level
    def adults(self, age: float = 18) -> Cohort[_F]:
        """Patients aged ``>= age`` years at their first exam (patient-level).

        Same as ``ages(lo=age)``: whole patients are kept, including exams they had later.
        ``age`` is a finite number of years in 0-130; ``None`` (no bound) is an error here,
        a :class:`~recurct.errors.ParameterError` (``ages(lo=None)`` keeps every age).
        """
        fn = "Cohort.adults"
        return self.ages(
            lo=_checks.number(age, fn, "age", lo=0.0, hi=_checks.MAX_AGE_YEARS, what=" years"),
            at="first",
        )

    def ages(
        self, lo: float | None = None, hi: float | None = None, at: str = "first"
    ) -> Cohort[_F]:
        """Keep ages in ``[lo, hi)`` years (lower bound included, upper excluded).

        Parameters
        ----------
        lo, hi : float, optional
            Bounds in years, finite numbers in 0-130; ``None`` is open. ``ages(0, 18)``
            selects children, ``ages(18)`` adults. NaN, infinities and booleans are errors.
        at : {"first", "each"}, default "first"
            ``"first"`` (patient-level): the age at the patient's first exam decides and whole
            patients are kept or dropped. If ``age_years`` is null on the first exam, the first
            known age is carried back by the time elapsed (365.25-day years); patients with no
            known age are dropped. ``"each"`` (exam-level): each exam's own ``age_years``
            decides, so a patient who turned 18 during the study keeps only his adult exams;
            exams with a null age are dropped.
        """
        lo = _checks.age(lo, "Cohort.ages", "lo")
        hi = _checks.age(hi, "Cohort.ages", "hi")
        self._need(["age_years"], "ages")
        dtype = self._exams.get_column("age_years").dtype  # one dtype, not the whole schema
        if not dtype.is_numeric():
            raise ParameterError(
                f"Cohort.ages: column 'age_years' must be numeric (years), got {dtype}; read "
                "the table with recurct.read_exams or recurct.validate, which name the rows "
                "whose age is not a number"
            )
        if not isinstance(at, str) or at not in ("first", "each"):
            raise ParameterError(f"Cohort.ages: at must be 'first' or 'each', got {at!r}")
        if lo is not None and hi is not None and not hi > lo:
            raise ParameterError(f"Cohort.ages: need lo < hi, got [{lo}, {hi})")
        lo_f = -math.inf if lo is None else float(lo)
        hi_f = math.inf if hi is None else float(hi)
        rule_range = f"[{_fmt(lo_f)}, {_fmt(hi_f)}) years"
        if at == "each":
            age = as_written(pl.col("age_years"), dtype)  # a float32 age as written (12.3)
            kept = self._filter(age.is_not_null() & (age >= lo_f) & (age < hi_f))
            return self._derive(kept, f"ages: age at each exam in {rule_range}")
        srt = self._sorted("age_years").with_columns(
            pl.when(pl.col("_start")).then(pl.col("_day")).forward_fill().alias("_first_day")
        )
        first = self._first_known(srt, "age_years")
        elapsed = (pl.col("_day") - pl.col("_first_day")).dt.total_days() / DAYS_PER_YEAR
        age0 = as_written(pl.col("age_years"), dtype) - elapsed
        keep = first.filter((age0 >= lo_f) & (age0 < hi_f))["patient_id"]
        return self._keep_patients(keep, f"ages: age at first exam in {rule_range}")

    def sex(self, *codes: str) -> Cohort[_F]:
        """Patients whose sex (first non-null ``sex`` in time order) is one of ``codes``.

        Patient-level. Codes go through :data:`recurct.schema.SEX_TABLE` (``"f"``,
        ``"female"``, ``"W"`` -> ``"F"``); a code not in it is an error. Patients with no
        recorded sex are dropped. The data are not mapped (validation here is light): their
        values are compared in upper case with the codes F, M, O, U, and patients whose sex
        is anything else (``"female"``, ``" F"``) match no code and are dropped with an
        :class:`~recurct.errors.UnmappedValuesWarning` that counts them; run
        :func:`recurct.validate` first, which maps such values.
        """
        if not codes:
            raise ParameterError("Cohort.sex: give at least one code, e.g. sex('F')")
        want = []
        for c in _checks.names(codes, "Cohort.sex", "codes"):
            code = SEX_TABLE.get(c.strip().upper())
            if code is None:
                raise ParameterError(
                    f"Cohort.sex: unknown sex code {c!r}; use F, M, O or U "
                    "(see recurct.schema.SEX_TABLE)"
                )
            want.append(code)
        self._need(["sex"], "sex")
        per = self._first_known(self._sorted("sex"), "sex").with_columns(
            pl.col("sex").cast(pl.Utf8).str.to_uppercase().alias("_code")
        )
        uncoded = per.filter(~pl.col("_code").is_in(list(_CODES)))
        if uncoded.height:
            shown = uncoded["sex"].cast(pl.Utf8).unique(maintain_order=True).head(5).to_list()
            warnings.warn(
                f"Cohort.sex: {uncoded.height} patient(s) have a sex that is not a code "
                f"F/M/O/U (e.g. {shown}) and match no code, so they were dropped; map the "
                "values first with recurct.validate (it reads 'female', 'W', ... through "
                "recurct.schema.SEX_TABLE)",
                UnmappedValuesWarning,
                stacklevel=user_stacklevel(),
            )
        keep = per.filter(pl.col("_code").is_in(want))
        return self._keep_patients(keep["patient_id"], f"sex in {want}")

    def min_followup(self, days: int, *, end: Any = None) -> Cohort[_F]:
        """Patients followed for at least ``days`` days (patient-level).

        Parameters
        ----------
        days : int
            Minimum follow-up in days (>= 0).
        end : None, date, str or mapping, optional
            ``None``: follow-up is last exam minus first exam (what was observed). A date (or
            ISO string): follow-up is that end of study minus the first exam (the *potential*
            follow-up, which does not select patients by how often they came back). A mapping
            ``{facility: end date}`` (e.g. ``cohort.study_end`` after a per-facility
            :meth:`period`): the end of the patient's facility (his most frequent one, ties:
            the earliest), as in the patients table.
        """
        days = _checks.days(days, "Cohort.min_followup", "days")
        pid = pl.col("patient_id")
        srt = self._sorted()
        spans = srt.filter(pl.col("_start")).select("patient_id", pl.col("_day").alias("_first"))
        last = srt.filter((pid != pid.shift(-1)).fill_null(True))["_day"]
        spans = spans.with_columns(last.alias("_last"))
        spec = _checks.end_spec(end, "Cohort.min_followup", kinds=("data", "date", "mapping"))
        if spec.kind == "data":
            end_expr, what = pl.col("_last"), "last exam"
        elif spec.kind == "mapping":
            self._need(["facility"], "min_followup(end={facility: date})")
            ends = spec.value
            spans = spans.join(self._patient_facility(), on="patient_id", how="left")
            unknown = set(spans["facility"].drop_nulls().unique().to_list()) - set(ends)
            n_null = spans["facility"].null_count()
            if unknown or n_null:
                raise ParameterError(
                    "Cohort.min_followup: end={facility: date} lacks facilities "
                    f"{sorted(unknown)[:10]}{' (and patients with no facility)' if n_null else ''}"
                )
            end_expr = pl.col("facility").replace_strict(ends, return_dtype=pl.Date)
            what = "study end of the facility"
        else:
            end_d = spec.value
            end_expr, what = pl.lit(end_d, dtype=pl.Date), f"study end {end_d}"
        fu = (end_expr - pl.col("_first")).dt.total_days()
        keep = spans.filter(fu >= int(days))["patient_id"]
        return self._keep_patients(keep, f"min_followup: >= {days} days to {what}")

    # ------------------------------------------------------------------ exam-level
    def where(self, predicate: pl.Expr, rule: str | None = None) -> Cohort[_F]:
        """Keep the exams for which the polars expression ``predicate`` is true (exam-level).

        ``predicate`` must give true/false values (``Boolean``; null counts as false): any
        other expression, such as ``pl.col("facility")``, raises
        :class:`~recurct.errors.ParameterError` naming it and its dtype."""
        if not isinstance(predicate, pl.Expr):
            raise ParameterError("Cohort.where: predicate must be a polars expression")
        if rule is not None and not isinstance(rule, str):
            raise ParameterError(f"Cohort.where: rule must be text or None, got {rule!r}")
        dtypes = self._exams.lazy().select(predicate).collect_schema().dtypes()
        wrong = [d for d in dtypes if d != pl.Boolean]
        if wrong:
            raise ParameterError(
                f"Cohort.where: predicate {str(predicate)[:80]} gives {wrong[0]}, not true/false "
                "values (Boolean); write a condition, e.g. pl.col('facility') == 'A' or "
                "pl.col('facility').is_not_null()"
            )
        return self._derive(self._filter(predicate), rule or f"where {predicate}")

    def facilities(self, *names: str) -> Cohort[_F]:
        """Exams performed at one of the facilities ``names`` (exam-level)."""
        if not names:
            raise ParameterError("Cohort.facilities: give at least one facility name")
        want = _checks.names(names, "Cohort.facilities", "facility names")
        self._need(["facility"], "facilities")
        dtype = self._exams.get_column("facility").dtype  # one dtype, not the whole schema
        if not dtype.is_integer():  # codes only for a code column
            flat = [x for v in names for x in (v if isinstance(v, list | tuple | set) else [v])]
            bad = [v for v in flat if not isinstance(v, str)]
            if bad:
                raise ParameterError(
                    f"Cohort.facilities: facility names must be text (the facility column "
                    f"holds {dtype}), got {bad[0]!r}"
                )
        kept = self._filter(pl.col("facility").cast(pl.Utf8).is_in(want))
        return self._derive(kept, f"facilities in {want}")

    def period(
        self,
        start: Any = None,
        end: Any = None,
        *,
        per_facility: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> Cohort[_F]:
        """Exams inside the study period, both ends included (exam-level).

        The end date(s) are kept in :attr:`study_end`. Calls add up: a call that gives only
        ``start`` keeps the end set by an earlier call, and a new end keeps the earlier of
        the two (per facility when either call was ``per_facility``), since the exams after
        the first end are already gone.

        ``Cohort.period`` works in whole calendar days: a bound is a day, and an exam is kept
        when its calendar day (of its local wall-clock time) is within the period, whatever
        its time of day. A bound with a time of day stands for its calendar day, whether a
        ``datetime`` (``datetime(2020, 1, 1, 12)``) or an ISO string
        (``"2020-01-01 12:00"``, ``"2020-01-01T12:00"``): both keep every exam of 1 January
        2020. (:func:`recurct.period_dose` differs: there such a bound is an instant, and an
        exam at 08:00 on that day is before a start at 12:00.)

        Parameters
        ----------
        start, end : date, datetime or ISO string, optional
            The period for all exams (``None``: open), both ends included. Compared with the
            calendar day of ``exam_date``; a time of day in a bound is ignored (its calendar
            day counts).
        per_facility : mapping facility -> (start, end), optional
            A period per facility, for multi-institution studies in which each site contributes
            its own years. Exams at facilities not in the mapping are dropped. Exclusive with
            ``start`` / ``end``. Bounds as ``start`` and ``end``.
        """
        day = _day(self._exams)
        if per_facility is not None:
            if start is not None or end is not None:
                raise ParameterError("Cohort.period: give start/end or per_facility, not both")
            return self._period_per_facility(per_facility, day)
        s = as_date(start, "period(start)", none_ok=True)
        e = _checks.end_spec(end, "Cohort.period", kinds=("data", "date")).value
        if s is None and e is None:
            raise ParameterError("Cohort.period: give start and/or end, or per_facility")
        if s is not None and e is not None and e < s:
            raise ParameterError(f"Cohort.period: end {e} is before start {s}")
        cond = pl.lit(True)
        if s is not None:
            cond = cond & (day >= s)
        if e is not None:
            cond = cond & (day <= e)
        rule = f"period: {s or '...'} to {e or '...'}"
        kept = self._filter(cond)
        return self._derive(kept, rule, study_end=self._later_end(e, kept[0]))

    def _period_per_facility(self, per_facility: Any, day: pl.Expr) -> Cohort[_F]:
        """:meth:`period` with ``per_facility``."""
        self._need(["facility"], "period(per_facility=...)")
        if not isinstance(per_facility, Mapping):
            raise ParameterError(
                "Cohort.period: per_facility must map each facility to its (start, end), "
                f"e.g. {{'north': ('2016-01-01', '2019-12-31')}}; got {per_facility!r}"
            )
        if not per_facility:
            raise ParameterError("Cohort.period: per_facility is empty")
        cond = pl.lit(False)
        ends: dict[str, dt.date] = {}
        for fac, span in per_facility.items():
            try:
                s_raw, e_raw = span
            except (TypeError, ValueError):
                raise ParameterError(
                    f"Cohort.period: per_facility[{fac!r}] must be (start, end), got {span!r}"
                ) from None
            s, e = (
                as_date(s_raw, f"period[{fac}]", none_ok=True),
                as_date(e_raw, f"period[{fac}]", none_ok=True),
            )
            if s is not None and e is not None and e < s:
                raise ParameterError(f"Cohort.period: per_facility[{fac!r}] ends before it starts")
            c = pl.col("facility").cast(pl.Utf8) == str(fac)
            if s is not None:
                c = c & (day >= s)
            if e is not None:
                c = c & (day <= e)
                ends[str(fac)] = e
            cond = cond | c
        kept = self._filter(cond)
        rule = f"period: per facility ({len(per_facility)} facilities)"
        prev = self._study_end
        if isinstance(prev, dt.date):  # the earlier end was for every facility
            ends = {str(f): min(ends.get(str(f), prev), prev) for f in per_facility}
        elif isinstance(prev, dict):
            ends = {
                f: min(x for x in (ends.get(f), prev.get(f)) if x is not None)
                for f in map(str, per_facility)
                if f in ends or f in prev
            }
        return self._derive(kept, rule, study_end=ends or None)

    def _later_end(self, e: dt.date | None, kept: pl.DataFrame) -> Any:
        """:attr:`study_end` after a period ending on ``e`` (None: no end given, keep it)."""
        prev = self._study_end
        if e is None or prev is None:
            return prev if e is None else e
        if isinstance(prev, dt.date):
            return min(prev, e)
        # per-facility ends: each keeps the earlier date; a facility that had none (an open
        # end in per_facility) now ends on e
        ends = {f: min(x, e) for f, x in prev.items()}
        if "facility" in kept.columns:
            for f in kept["facility"].drop_nulls().cast(pl.Utf8).unique().sort():
                ends.setdefault(f, e)
        return ends

    def indication(self, *values: str) -> Cohort[_F]:
        """Exams whose ``indication`` is one of ``values`` (exam-level, exact match)."""
        if not values:
            raise ParameterError("Cohort.indication: give at least one value")
        want = _checks.names(values, "Cohort.indication", "indications")
        self._need(["indication"], "indication")
        kept = self._filter(pl.col("indication").cast(pl.Utf8).is_in(want))
        return self._derive(kept, f"indication in {want}")

    def modality(self, *values: str) -> Cohort[_F]:
        """Exams whose ``modality`` is one of ``values`` (exam-level, case-insensitive).

        Raises ``ValueError`` if the table has no ``modality`` column (a table of CT dose
        reports usually holds CT only; then no filter is needed).
        """
        if not values:
            values = ("CT",)
        if "modality" not in self._exams.columns:
            raise DataError(
                "Cohort.modality: the exam table has no 'modality' column; if it holds CT "
                "exams only, skip this filter, else add the column (e.g. from DICOM Modality)"
            )
        want = [v.upper() for v in _checks.names(values, "Cohort.modality", "modalities")]
        kept = self._filter(pl.col("modality").cast(pl.Utf8).str.to_uppercase().is_in(want))
        return self._derive(kept, f"modality in {want}")

    def dedupe(self) -> Cohort[_F]:
        """Count each exam once (exam-level): drop later copies of the same exam.

        Copies are those of :func:`recurct.schema.duplicate_mask` (the rule
        :data:`recurct.schema.DUPLICATE_RULE`, which :func:`recurct.validate` also uses): the
        same ``patient_id`` and ``study_uid``; without a ``study_uid``, the same
        ``patient_id``, ``exam_date`` and every other canonical column, and every column when
        the dates carry no time of day (two real exams on one day with the same tabulated dose
        are kept unless the rows are identical). The earliest copy (ties: input order) is
        kept; the number dropped is in :attr:`steps`.

        Values are compared as they are in the cohort's table. :func:`recurct.validate` and
        :func:`recurct.read_exams` compare a bad optional attribute they set null (an age of
        150, a CTDIvol ``12,5`` in a ``,``-separated file) as given, so two rows that differ
        only there stay two exams; their result holds those values null, so ``dedupe`` on it
        counts such rows once (it merges exams validation kept apart). A table from
        ``read_exams`` or ``validate`` is already deduplicated under the same rule: do not
        call ``dedupe`` on it; to combine several exports, concatenate them as given and
        read or validate the whole once.
        """
        copies = duplicate_mask(self._exams)
        kept = self._filter(~copies)
        how = (
            "study_uid, else identical exam row"
            if "study_uid" in self._exams.columns
            else ("identical exam row")
        )
        return self._derive(kept, f"dedupe: same {how} counted once")

    # ------------------------------------------------------------------ results
    def patients(self, thresholds: Any = (100,), *, window_days: Any = None, **kwargs: Any) -> _F:
        """The patients table of the cohort: :func:`recurct.cumulative_dose` on :attr:`exams`.

        Parameters
        ----------
        thresholds : float or sequence of float, default (100,)
            CED thresholds in mSv.
        window_days : int or sequence of int, optional
            Window lengths in days for the largest CED within a window.
        **kwargs
            Passed on to :func:`recurct.cumulative_dose`.

        Returns
        -------
        polars.DataFrame or pandas.DataFrame
            One row per patient (columns in CONTRIBUTING.md); pandas if the cohort was made
            from pandas.
        """
        from recurct.cumulative import cumulative_dose

        table = cumulative_dose(
            self._exams, thresholds=thresholds, window_days=window_days, **kwargs
        )
        return from_polars(table, self._kind)  # type: ignore[arg-type, no-any-return]
