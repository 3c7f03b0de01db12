"""Per-patient cumulative effective dose: the patients table, running dose and periods.

:func:`cumulative_dose` turns an exam table (one row per CT examination) into the patients
table of CONTRIBUTING.md: one row per patient with exam count, first/last exam, CED, the
first time each threshold was reached and the largest CED within any window of W days.
:func:`running_dose` returns the exams in patient/time order with the running CED and
:func:`period_dose` the CED per patient and fixed calendar period (long format).

The work is done by the numba kernels of :mod:`recurct.kernels`. Input checks here are
cheap O(N) checks of the three columns used (full validation belongs at ingestion, see
:func:`recurct.schema.validate`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import polars as pl

from recurct import _checks, _parallel
from recurct import kernels as _k
from recurct._casts import as_written, numeric_text
from recurct._codes import (
    byte_hash_codes,
    category_codes,
    dense_codes,
    factorise_values,
    hash_codes,
    int_codes,
    sorted_prefix_codes,
)
from recurct._compat import renamed
from recurct._dates import parse_dicom_age
from recurct._exam_arrays import check_columns, exam_doses, exam_times
from recurct._frames import (
    IdCategories,
    clean_id_column,
    enum_categories,
    from_polars,
    ids_need_cleaning,
    input_index,
    is_enum,
    param_label,
    to_polars_coded,
)
from recurct._periods import period_dose
from recurct._stacklevel import user_stacklevel
from recurct._strings import string_keys, string_order
from recurct.errors import DataError, ParameterError, UnmappedValuesWarning
from recurct.schema import REQUIRED_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from recurct.io._result import ReadResult

__all__ = ["cumulative_dose", "period_dose", "running_dose"]

#: Optional exam columns that add patient columns (age_first_exam, sex, facility, indication).
PATIENT_COLUMNS = ("age_years", "sex", "facility", "indication")
#: The columns :func:`running_dose` adds to the exams (an input column of either name is
#: refused, never overwritten).
RUNNING_COLUMNS = ("exam_index", "running_ced_msv")
#: Every exam column the patients table is built from (the out-of-core and Dask paths read
#: only these).
USED_COLUMNS = (*REQUIRED_COLUMNS, *PATIENT_COLUMNS)


@dataclass
class _Prepared:
    """Checked input as plain arrays: dense codes, int64 times, float64 doses.

    ``raw`` are the patient codes; with ``rank`` they are in another order (first
    appearance) and ``rank[c]`` is code ``c``'s place in ascending id order, applied when
    :attr:`codes` is first read (a totals-only call permutes its P rows instead). Rows
    already grouped by patient in ascending id order (:func:`_ascending_runs`,
    :func:`_enum_ids`) have ``runs`` instead (:class:`recurct.kernels.Runs`): no codes
    (and, for integer ids, no ids or
    ``starts``, the first row of each patient) until one is read, and none made for the
    patients table unless a totals-only call finds a patient's exams out of time order.
    """

    df: pl.DataFrame
    kind: str
    raw: np.ndarray | None
    n_patients: int
    found_ids: pl.Series | None  # patient_id of each code, ascending
    t: np.ndarray
    upd: int
    dose: np.ndarray
    rank: np.ndarray | None = None
    runs: _k.Runs | None = None
    starts: np.ndarray | None = None

    @property
    def ids(self) -> pl.Series:
        """The patient_id of each code, ascending."""
        if self.found_ids is None:
            self.found_ids = self.id_series(self.runs.ids[self.run_starts()[:-1]])  # type: ignore[union-attr]
        return self.found_ids

    def run_starts(self) -> np.ndarray:
        """The first row of each of ``runs`` (and N), found once."""
        if self.starts is None:
            self.starts = _k.run_starts(self.runs)  # type: ignore[arg-type]
        return self.starts

    def id_series(self, uniq: np.ndarray) -> pl.Series:
        """``runs``' distinct (integer) ids as the input's dtype."""
        return pl.Series("patient_id", uniq).cast(self.df.get_column("patient_id").dtype)

    @property
    def codes(self) -> np.ndarray:
        """Dense codes ``0..P-1`` in ascending id order."""
        if self.raw is None:
            if self.runs is None:  # given back to the system by the grouping (_patients)
                raise RuntimeError("recurct internal error: the patient codes were spent")
            self.raw = _k.segment_codes(self.run_starts())
        if self.rank is not None:
            self.raw, self.rank = _k.take(self.rank, self.raw), None
        elif self.raw.dtype != np.int64:  # (int32 codes: one int64 copy, not a second kernel)
            self.raw = self.raw.astype(np.int64)
        return self.raw


# --------------------------------------------------------------------------- checks


_Codes = tuple[np.ndarray, int, pl.Series, "np.ndarray | None"]


def _factorise(s: pl.Series, dtype: Any, categories: IdCategories | None = None) -> _Codes:
    """Dense codes ``0..P-1``, P, the id of each code in ascending order, and ``rank`` (or
    ``None``): the codes are in ascending id order, or ``rank[code]`` is (see
    :class:`_Prepared`).

    Integer ids in a small range: one O(N) scatter; sparse ones: a sort of packed
    ``(id, row)`` keys (:func:`recurct._codes.int_codes`). ``Enum`` ids: the same on their physical
    codes (``Categorical``: on the dense codes of :func:`recurct._codes.category_codes`; a
    pandas ``Categorical``: on its codes); when the labels used are in ascending order, as
    :func:`recurct.prepare_exams` makes them, those are the codes (no string is ranked),
    else the P distinct labels are ranked as strings (:func:`_lexical`).
    Strings: byte keys or hashes (:func:`_factorise_strings`).
    ``dtype`` is ``s.dtype``, or ``pl.Enum`` (the class) for an ``Enum``:
    reading the dtype of an ``Enum`` of millions of categories costs about as much as the
    whole call, so it is never read (:func:`recurct._frames.is_enum`); ``categories``: what
    :func:`recurct._frames.to_polars_coded` read of the column, if it did.
    """
    n = s.len()
    if n == 0:  # (coded ids come out as text, as for any other size)
        coded = dtype is pl.Enum or isinstance(dtype, pl.Categorical)
        return np.empty(0, np.int64), 0, s.cast(pl.String) if coded else s, None
    if categories is None and isinstance(dtype, pl.Categorical):
        got_cat = category_codes(s)
        categories = None if got_cat is None else (got_cat[1], got_cat[0])
    if categories is None and dtype is pl.Enum:
        categories = (enum_categories(s), None)
    if categories is not None:
        labels, idx = categories
        if (dtype is pl.Enum or isinstance(dtype, pl.Categorical)) and idx is not None:
            return _lexical(idx, labels)  # category_codes: dense already, a label per code
        # an Enum's physical codes index its categories (a pandas Categorical's codes its
        # categories, some perhaps unused)
        got = dense_codes(s.to_physical().cast(pl.Int64).to_numpy() if idx is None else idx)
        if got is not None:
            codes, count, used = got
            if count < labels.len():  # unused labels (always so when hashed): those used
                labels = labels.gather(used)
            return _lexical(codes, labels)  # sorted labels (prepare_exams): codes as they are
    if dtype is pl.Enum or isinstance(dtype, pl.Categorical):
        s = s.cast(pl.Utf8)
        dtype = pl.Utf8
    if dtype.is_integer():
        ids = s.cast(pl.Int64).to_numpy()
        got = int_codes(ids)  # sparse ids (record numbers): a sort of packed (id, row) keys
        if got is not None:
            codes, count, uniq = got
            return codes, count, pl.Series("patient_id", uniq).cast(dtype), None
    else:
        got = _factorise_strings(s)
        if got is not None:
            return got
    codes = s.rank("dense").to_numpy().astype(np.int64) - 1
    n_patients = int(codes.max()) + 1
    rows = _k.first_rows(codes, n_patients)
    return codes, n_patients, s.gather(rows), None


def _lexical(codes: np.ndarray, labels: pl.Series, table: np.ndarray | None = None) -> _Codes:
    """Renumber ``codes`` (indices into the distinct ``labels``) in ascending label order
    (or return the ``rank`` that does, for the caller to apply when needed).

    String labels are ordered by integer keys of their bytes
    (:func:`recurct._strings.string_order`); failing that the labels are sorted (a string
    sort is fast; a string ``arg_sort`` is not) and each
    sorted label's code found by its hash in ``table`` (:func:`recurct.kernels.small_codes`
    of the rows' hashes, every row verified against its label), or in a table of the labels'
    own hashes.
    """
    labels = labels.alias("patient_id")
    if labels.is_sorted():
        return codes.astype(np.int64, copy=False), labels.len(), labels, None
    order = string_order(labels) if labels.dtype == pl.String else None
    if order is not None:  # sorted by integer keys of their bytes: faster than a string sort
        return codes, order.size, labels.gather(order), _k.inverse(order)
    return _sorted_lexical(codes, labels, table)


def _sorted_lexical(codes: np.ndarray, labels: pl.Series, table: np.ndarray | None) -> _Codes:
    """:func:`_lexical` by polars' sort of the labels (when their byte keys did not order
    them)."""
    uniq = labels.sort()
    if table is None:
        h = labels.hash().to_numpy().view(np.int64)
        _, reps, table = _k.small_codes(h, max(4, int(2 * h.size).bit_length()))
        if reps.size != labels.len():  # two labels share a hash: rank them by arg_sort
            perm = labels.arg_sort().to_numpy().astype(np.int64)
            return codes, perm.size, labels.gather(perm), _k.inverse(perm)
    rank = _k.hash_rank(table, uniq.hash().to_numpy().view(np.int64))
    return codes, labels.len(), uniq, rank


#: From this many string ids that do not fit byte keys, they are grouped by recurct's own
#: kernels over their bytes (:func:`recurct._codes.sorted_prefix_codes`, else
#: :func:`recurct._codes.byte_hash_codes`). 10^6 pseudonyms: 0.06 s against 0.11 s by
#: polars' hash, the same first call (3.2-3.3 s); 3x10^5: 0.02 against 0.04 s, but a first
#: call 0.6 s longer (those kernels' compilation), so below this polars hashes them
_BYTE_ROWS = 1_000_000


def _factorise_strings(s: pl.Series) -> _Codes | None:
    """Strings to dense codes in sorted order, without a string rank.

    Ids that fit order-preserving int64 keys (:func:`recurct._strings.string_keys`: record
    numbers, short letter-and-digit ids) are coded as integer ids are, and each code's id is
    gathered from one of its rows. From :data:`_BYTE_ROWS` ids, ids told apart by their
    first bytes (pseudonyms: hex digests, UUIDs) are grouped and ordered at once by one sort
    of keys of those bytes (:func:`recurct._codes.sorted_prefix_codes`). Other ids are
    hashed: from :data:`_BYTE_ROWS` ids by
    recurct's threaded hash of their bytes where polars keeps them, grouped by a sort of
    (hash, row) keys (:func:`recurct._codes.byte_hash_codes`), below it by polars' hash and
    an open-addressing table; the result is verified exactly (every row's id equals the id
    of its code; ``None`` on a hash collision the byte path cannot split), and the distinct
    ids (one row each) sorted and ranked.
    """
    keys = string_keys(s)
    got_keys = None if keys is None else int_codes(keys)
    if got_keys is not None:
        codes, count, _ = got_keys
        rows = _k.first_rows(codes, count)
        return codes, count, s.gather(rows).alias("patient_id"), None
    n = s.len()
    cap_bits = max(4, int(n + n // 2).bit_length())
    if n < _BYTE_ROWS:
        got = hash_codes(s, cap_bits)
        return None if got is None else _lexical(*got)
    got_sorted = sorted_prefix_codes(s)  # many ids told apart by their first bytes
    if got_sorted is not None:
        codes, rows, rank = got_sorted
        return codes, rows.size, s.gather(rows).alias("patient_id"), rank
    got_bytes = byte_hash_codes(s, cap_bits)  # many ids: threaded, keys of their first bytes
    if got_bytes is None:
        return None
    codes, reps, prefix = got_bytes
    got_order = string_order(s, prefix, reps, positions=True)
    if got_order is None:  # too many ties for byte keys: not tried again on the labels
        return _sorted_lexical(codes, s.gather(reps).alias("patient_id"), None)
    rows, order = got_order  # the distinct ids' rows in id order, and their codes
    return codes, rows.size, s.gather(rows).alias("patient_id"), _k.inverse(order)


def _prepare(exams: Any, fn: str) -> _Prepared:
    # an Enum patient_id is screened here, on the labels read (_enum_ids)
    df, kind, categories = to_polars_coded(exams)
    enum = "patient_id" in df.columns and is_enum(df.get_column("patient_id"))
    grouped: tuple[_k.Runs, np.ndarray | None, pl.Series | None] | None = None
    if enum:
        text = df
        df, grouped, coded = _enum_ids(df)
        enum = df is text  # else cleaned as text
    else:
        coded = categories.get("patient_id")
    check_columns(df, fn)
    s = df.get_column("patient_id")
    if s.len() == 0 and s.dtype == pl.Null:  # (an empty pandas category column: no type)
        s = s.cast(pl.String)
        df = df.with_columns(s)
    dtype = pl.Enum if enum else s.dtype  # an Enum's dtype is slow to build: never read
    check_id_dtype(dtype, fn)
    t, upd = exam_times(df, fn)
    t = np.ascontiguousarray(t)
    dose = exam_doses(df, fn)
    if grouped is None and coded is None and dtype.is_integer():
        runs_ = _ascending_runs(s)
        grouped = None if runs_ is None else (runs_, None, None)
    if grouped is not None:
        runs, starts, labels = grouped
        return _Prepared(df, kind, None, runs.n_runs, labels, t, upd, dose, None, runs, starts)
    codes, n_patients, ids, rank = _factorise(s, dtype, coded)
    return _Prepared(df, kind, codes, n_patients, ids, t, upd, dose, rank)


def check_id_dtype(dtype: Any, fn: str) -> None:
    """Refuse a ``patient_id`` dtype that is neither text (``String``, ``Categorical``,
    ``Enum``: ``pl.Enum`` the class for an ``Enum`` whose dtype was not read, see
    :func:`_factorise`) nor integer (:class:`~recurct.errors.ParameterError`)."""
    if not (
        dtype is pl.Enum
        or dtype.is_integer()
        or isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
    ):
        raise ParameterError(f"{fn}: column 'patient_id' must be a string or integer, got {dtype}")


def _ascending_runs(values: pl.Series) -> _k.Runs | None:
    """The runs of equal integer ``values`` if they ascend (:func:`recurct.kernels.sorted_runs`),
    else ``None``; unordered values are refused from a sample, before anything is cast."""
    n = values.len()
    sample = values.gather(np.r_[0 : n : max(1, n // 1024), n - 1]) if n else values
    if not sample.is_sorted():  # unordered ids refused here: no copy, no kernel compiled
        return None
    return _k.sorted_runs(values.cast(pl.Int64).to_numpy())


def _enum_ids(
    df: pl.DataFrame,
) -> tuple[pl.DataFrame, tuple[_k.Runs, np.ndarray, pl.Series] | None, IdCategories | None]:
    """An ``Enum`` patient_id, screened by the identity rules on the labels read: ``(df,
    grouped, categories)``.

    Rows already grouped by patient in ascending order of their labels, as
    :func:`recurct.prepare_exams` makes them: ``grouped`` holds the runs of equal physical
    codes, each run's first row and its label, and only those labels are read and screened
    (a cast of one row per patient: the Enum's whole category list costs about 0.1 s to read
    at 5 million). Rows in another order: ``categories`` holds the labels used, one per
    distinct physical code in ascending code order, and each row's dense code
    (:func:`recurct._codes.int_codes` of the physical codes); the labels are read by a cast
    of one row per patient where fewer than half the codes up to the largest are used (a
    subset of a prepared table reads only its own ids), else from the whole category list.
    Rows grouped but labels out of order: those labels, each row's code its run's; for
    :func:`_factorise`.
    Ids that need cleaning (surrounding whitespace, placeholders) are instead cleaned as
    text, and the ``df`` returned holds them (``grouped`` and ``categories`` both ``None``);
    when only categories that no row uses need it, the Enum is kept as it is.
    """
    s = df.get_column("patient_id")
    if not s.null_count():  # (null ids are refused by check_columns)
        runs = _ascending_runs(s.to_physical())
        if runs is not None:
            starts = _k.run_starts(runs)
            labels = s.gather(starts[:-1]).cast(pl.Utf8).alias("patient_id")
            if not ids_need_cleaning(labels):
                if labels.is_sorted():
                    return df, (runs, starts, labels), None
                # labels out of order: each row's run is its code, the labels read its labels
                # (no read of the whole category list)
                return df, None, (labels, _k.segment_codes(starts))
        else:
            # rows in any order: the labels used, one row per distinct physical code, coded
            # in ascending physical order as integer ids are (a subset of a prepared table
            # reads its own ids, not the Enum's whole list, and its labels are in order)
            got = int_codes(s.to_physical().cast(pl.Int64).to_numpy())  # (None: span > 2^62)
            if got is not None:
                codes, count, used = got
                if count and 2 * count > int(used[-1]) + 1:
                    # most codes up to the largest used: the whole list reads faster (10^7
                    # exams of 5.2 million patients: 0.38-0.44 s against 0.47-0.49 s)
                    labels = enum_categories(s)
                    labels = labels.gather(used) if count < labels.len() else labels
                else:
                    labels = s.gather(_k.first_rows(codes, count)).cast(pl.Utf8)
                labels = labels.alias("patient_id")
                if not ids_need_cleaning(labels):
                    return df, None, (labels, codes)
    read: dict[str, IdCategories] = {}  # the categories, if the Enum is kept
    return clean_id_column(df, "patient_id", read), None, read.get("patient_id")


def _date(a: np.ndarray, name: str) -> pl.Series:
    return pl.Series(name, a.astype(np.int32, copy=False)).cast(pl.Date)


# --------------------------------------------------------------------------- patients


_INDICATION_RULES = ("most_frequent", "first")


def _check_attributes(df: pl.DataFrame, fn: str = "cumulative_dose") -> None:
    """Refuse, from the dtypes alone, a patient-attribute column that cannot be one
    (:class:`~recurct.errors.DataError` naming the column): ``sex``, ``facility`` and
    ``indication`` nested (List, Array, Struct), Object or Duration (values without a text
    form to compare); ``age_years`` anything but numbers, text or categories (text is read
    by :func:`_ages`). An ``Enum`` column's dtype is not read (slow to build). The message
    starts with ``fn``, the public function called."""
    for col in PATIENT_COLUMNS:
        if col not in df.columns or is_enum(s := df.get_column(col)):
            continue
        dtype = s.dtype  # (not df.schema, which would read an Enum id's dtype)
        if col == "age_years":
            ok = dtype.is_numeric() or isinstance(dtype, pl.Null | pl.String | pl.Categorical)
            what = "an age in years (give numbers, or text numbers)"
        else:
            ok = not isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object | pl.Duration)
            what = "a patient attribute (give one text, code or number per exam)"
        if not ok:
            raise DataError(f"{fn}: column {col!r} has dtype {dtype}, which cannot be {what}")


def read_ages(s: pl.Series, only: np.ndarray | None = None) -> tuple[pl.Series, int, list[str]]:
    """``age_years`` as Float64, without a warning: ages, and the number and first distinct
    values (as written, up to 6) of those that are no age, set null.

    Numbers as they are, a ``Float32`` (or ``Float16``) age as written, by its shortest
    decimal (12.3, not 12.300000190734863: :func:`recurct._casts.as_written`); text (or
    categories) as :func:`recurct.schema.validate` reads it (:func:`text_ages`): numbers by
    the rule of numbers in text, the column deciding its decimal mark (``"1,5"`` is 1.5),
    else DICOM Age Strings (``067Y``, :func:`recurct.schema.parse_dicom_age`). Any other
    text (an ambiguous number such as ``"1.234"`` in a column that does not show its mark
    included), and any age outside 0-:data:`recurct._checks.MAX_AGE_YEARS` (the ages
    validation sets null; NaN too), is no age (an empty text or a placeholder,
    :data:`recurct._casts.NULL_STRINGS` such as ``"n/a"``, is a missing age, not counted).
    Valid numbers cost one comparison pass. What :func:`recurct.cumulative_dose`
    (:func:`_ages`, which warns of them) and the DRL comparison (:mod:`recurct.dose.drl`,
    which reports them in its own words) read.

    ``only``: a boolean mask of the rows read (all: ``None``); the ages and the values that
    are no age are those of these rows, but text decides its decimal mark on the whole
    column, as ``validate`` reads it.
    """
    unread = None  # text that is no age
    text = is_enum(s) or isinstance(s.dtype, pl.String | pl.Categorical)
    if text:
        age, read = text_ages(s)  # the whole column decides the decimal mark
        if only is not None:
            keep = pl.Series(only)
            age, read, s = age.filter(keep), read.filter(keep), s.filter(keep)
        unread = age.is_null() & read.is_not_null() & (read != "")  # (blank: missing)
    elif s.dtype in (pl.Float32, pl.Float16):  # as written: 12.3, not 12.300000190734863
        s = s if only is None else s.filter(pl.Series(only))
        age = s.to_frame().select(as_written(pl.first(), s.dtype)).to_series()
    else:
        s = s if only is None else s.filter(pl.Series(only))
        age = s.cast(pl.Float64)
    # NaN compares above every number in polars, so it is outside too
    outside = (age < 0.0) | (age > _checks.MAX_AGE_YEARS)
    if not outside.any() and (unread is None or not unread.any()):
        return age, 0, []
    bad = (outside if unread is None else unread | outside).fill_null(False)
    n = int(bad.sum())
    # as written: the text without its surrounding spaces, or the number
    written = s.filter(bad).cast(pl.String).str.strip_chars() if text else age.filter(bad)
    values = written.cast(pl.String).unique(maintain_order=True).head(6).to_list()
    return age.set(bad, None), n, values  # type: ignore[arg-type]


def text_ages(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """A text (``Utf8``, ``Categorical`` or ``Enum``) ``age_years`` read as
    :func:`recurct.schema.validate` reads it: ``(age, read)``.

    ``age``: Float64 years, each cell read as a number by the one rule of numbers in text
    (:func:`recurct._casts.numeric_text` with ``decimal=None``: the column decides its
    decimal mark, ``"1,5"`` is 1.5; a cell whose mark is ambiguous, ``"1.234"`` where no
    other cell shows the mark, is no number), else as a DICOM Age String (``067Y``,
    :func:`recurct.schema.parse_dicom_age`); null where it is neither, with no range check.
    ``read``: the text read, without surrounding spaces (a missing cell null, and so a
    blank one or a placeholder such as ``"n/a"`` or ``"NULL"``,
    :data:`recurct._casts.NULL_STRINGS`, as :func:`recurct.read_exams` reads a file's
    cells), rewritten by that rule (not for messages: they quote the cells as written). A
    column without a decimal comma, thousands separator, surrounding spaces or placeholder
    is read in one scan and a cast.
    """
    # as it is where there is no mark to rewrite, no space to strip, no placeholder to null
    read = numeric_text(s.cast(pl.String))
    age = read.cast(pl.Float64, strict=False)
    if age.null_count() > read.null_count():  # some text is no number: DICOM ages?
        todo = (age.is_null() & (read != "")).fill_null(False)
        if todo.any():
            at = todo.arg_true()
            age = age.scatter(at, parse_dicom_age(read.gather(at)))
    return age, read


def _ages(s: pl.Series) -> pl.Series:
    """:func:`read_ages`, the values that are no age (set null) counted in one
    :class:`~recurct.errors.UnmappedValuesWarning` (:func:`unread_ages_warning`; the exams
    keep their doses)."""
    age, n, values = read_ages(s)
    if n:  # stacklevel: the caller of cumulative_dose (through @renamed)
        warnings.warn(unread_ages_warning(n, values), stacklevel=user_stacklevel())
    return age


def unread_ages_warning(n: int, values: list[str]) -> UnmappedValuesWarning:
    """The warning of ``n`` values of ``age_years`` that are no ages: neither numbers nor
    DICOM ages, or outside 0-:data:`recurct._checks.MAX_AGE_YEARS` (``values``: the first
    distinct ones, as written; more than 5 are shown as "..."). It carries ``count`` and
    ``values``, so the out-of-core path adds up its buckets' warnings without reading their
    text."""
    shown = ", ".join(repr(v) for v in values[:5])
    more = ", ..." if len(values) > 5 else ""
    w = UnmappedValuesWarning(
        f"cumulative_dose: column 'age_years': {n} value(s) are neither numbers nor DICOM "
        f"ages, or are outside 0-{_checks.MAX_AGE_YEARS:g} years ({shown}{more}), and were "
        "set null, keeping the exams; age_first_exam and age_reached_T are null where they "
        "would be one of these"
    )
    w.count, w.values = n, list(values)  # type: ignore[attr-defined]
    return w


def _optional_columns(
    prep: _Prepared,
    starts: np.ndarray,
    order: np.ndarray | None,
    cross_pos: np.ndarray,
    thr: np.ndarray,
    indication: str,
) -> dict[str, pl.Series]:
    """age_first_exam, sex, facility, indication, age_reached_T where present.

    Nothing of size N is gathered: each exam column is factorised once to integer codes
    (:mod:`recurct._codes`, the columns in parallel threads) and a kernel reads the codes of
    each patient's exams in time order through ``order``; only the P picked values are
    gathered.
    """
    df = prep.df
    out: dict[str, pl.Series] = {}
    first = starts[:-1]
    rows = first if order is None else order[first]  # input row of each patient's first exam
    if "age_years" in df.columns:
        age = _ages(df.get_column("age_years"))
        out["age_first_exam"] = age.gather(rows).alias("age_first_exam")
    # sex: the first non-null value in time order; facility: the most frequent (ties: the
    # earliest); indication: either rule. One pass over the patients' time-ordered segments.
    cols = [c for c in ("sex", "facility", "indication") if c in df.columns]
    rule = {"sex": True, "facility": False, "indication": indication == "first"}

    series = [df.get_column(c) for c in cols]
    # factorise the columns concurrently (hashing and the nogil kernel release the GIL);
    # the picks run one after the other, each split over the threads itself
    facts = (
        list(_parallel.pool(len(cols)).map(factorise_values, series))
        if len(cols) > 1
        else [factorise_values(s) for s in series]
    )
    for col, f in zip(cols, facts):
        picked = _k.segment_pick(starts, order, f.codes, f.null_code, rule[col])
        out[col] = f.take(picked, col)
    if "age_years" in df.columns:  # ``age`` cast once above
        for k, t_ in enumerate(thr):
            pos = cross_pos[k]
            hit = pos >= 0
            at = np.where(hit, pos, 0)
            got_age = age.gather(at if order is None else order[at])
            name = f"age_reached_{param_label(t_)}"
            out[name] = got_age.set(pl.Series(~hit), None).alias(name)  # type: ignore[arg-type]
    return out


def _patients_from_totals(prep: _Prepared) -> pl.DataFrame:
    """Totals-only patients table by a scatter into a per-patient row (no sort)."""
    p = prep.n_patients
    table = _k.scatter_totals(prep.raw, prep.t, prep.dose, prep.upd, p)  # ``rank`` not applied
    ced, n = np.empty(p, np.float64), np.empty(p, np.int64)
    first, last = np.empty(p, np.int32), np.empty(p, np.int32)
    # rows in ascending id order: P rows moved by ``rank``, not N codes renumbered
    rank = _NO_RANK if prep.rank is None else prep.rank
    _k.totals_columns(table, rank, ced, n, first, last)
    del table
    return pl.DataFrame(
        [
            prep.ids.alias("patient_id"),
            pl.Series("n_exams", n),
            _date(first, "first_exam"),
            _date(last, "last_exam"),
            pl.Series("followup_days", (last - first).astype(np.int64)),
            pl.Series("ced_msv", ced),
        ]
    )


_NO_RANK = np.empty(0, np.int64)


def _patients(
    prep: _Prepared,
    thr: np.ndarray,
    win: np.ndarray,
    indication: str = "most_frequent",
    fn: str = "cumulative_dose",
) -> pl.DataFrame:
    if not isinstance(indication, str) or indication not in _INDICATION_RULES:
        raise ParameterError(
            f"{fn}: indication must be one of {list(_INDICATION_RULES)}, got {indication!r}"
        )
    optional = any(c in prep.df.columns for c in PATIENT_COLUMNS)
    if optional:
        _check_attributes(prep.df, fn)
    totals_only = thr.size == 0 and win.size == 0 and not optional
    if totals_only and prep.runs is None:
        return _patients_from_totals(prep)  # (grouped rows: one pass over the runs below)
    n_p = prep.n_patients
    rank = np.argsort(thr, kind="stable")
    thr_sorted = np.ascontiguousarray(thr[rank])
    n_out = np.empty(n_p, np.int64)
    ced = np.empty(n_p, np.float64)
    first = np.empty(n_p, np.int32)
    last = np.empty(n_p, np.int32)
    follow = np.empty(n_p, np.int64)
    cx = np.empty((thr.size, n_p), np.int64)
    cd = np.empty((thr.size, n_p), np.int64)
    cdate = np.empty((thr.size, n_p), np.int32)
    cpos = np.empty((thr.size, n_p if optional else 0), np.int64)  # exam reaching T: for ages
    wmax = np.empty((win.size, n_p), np.float64)
    wstart = np.empty((win.size, n_p), np.int32)
    outs = (n_out, ced, first, last, follow, cx, cd, cdate, cpos, wmax, wstart)
    args = (prep.upd, thr_sorted, win)
    uniq = np.empty(n_p if prep.runs is not None else 0, np.int64)
    found = np.empty(n_p + 1 if optional else 0, np.int64)  # the runs' starts, if needed
    if prep.runs is not None and _k.sorted_stats(prep.runs, prep.t, prep.dose, *args, uniq,
                                                 found, *outs):  # fmt: skip
        # rows grouped by patient and time-ordered: no codes, no grouping
        if prep.found_ids is None:  # (an Enum's labels are read already)
            prep.found_ids = prep.id_series(uniq)
        starts, order = found, None
    elif totals_only:
        # grouped, but a patient's exams out of time order: the totals in input order, as
        # for rows not grouped, not in the time order of the grouping below (the same
        # compensated sums either way)
        prep.raw = prep.codes  # the runs' codes (made here), which the scatter reads
        return _patients_from_totals(prep)
    else:
        codes = prep.codes
        prep.raw = None  # spent by the grouping (its memory given back): not read again
        starts, order = _k.group_stats(codes, prep.t, prep.dose, n_p, *args, outs, optional,
                                       spend_codes=True)  # fmt: skip
    inv = np.empty_like(rank)
    inv[rank] = np.arange(rank.size)  # row of threshold k in the sorted outputs
    cols: list[pl.Series] = [
        prep.ids.alias("patient_id"),
        pl.Series("n_exams", n_out),
        _date(first, "first_exam"),
        _date(last, "last_exam"),
        pl.Series("followup_days", follow),
        pl.Series("ced_msv", ced),
    ]
    opt = _optional_columns(prep, starts, order, cpos[inv], thr, indication) if optional else {}
    cols += [opt[c] for c in ("age_first_exam", "sex", "facility", "indication") if c in opt]
    exprs = []
    for k, t_ in enumerate(thr):
        lab = param_label(t_)
        r = inv[k]
        reached = f"reached_{lab}"
        cols += [
            pl.Series(f"_x{lab}", cx[r]),
            pl.Series(f"_d{lab}", cd[r]),
            _date(cdate[r], f"_t{lab}"),
        ]
        hit = pl.col(f"_x{lab}") > 0
        exprs += [
            hit.alias(reached),
            pl.when(hit).then(pl.col(f"_d{lab}")).alias(f"days_to_{lab}"),
            pl.when(hit).then(pl.col(f"_x{lab}")).alias(f"exams_to_{lab}"),
            pl.when(hit).then(pl.col(f"_t{lab}")).alias(f"date_reached_{lab}"),
        ]
        if f"age_reached_{lab}" in opt:
            exprs.append(pl.lit(opt[f"age_reached_{lab}"]))
    for w, width in enumerate(win):
        lab = param_label(width)
        cols += [pl.Series(f"max_ced_{lab}", wmax[w]), _date(wstart[w], f"window_start_{lab}")]
        exprs += [pl.col(f"max_ced_{lab}"), pl.col(f"window_start_{lab}")]
        exprs += [
            (pl.col(f"max_ced_{lab}") >= t_).alias(f"reached_{param_label(t_)}_in_{lab}")
            for t_ in thr
        ]
    df = pl.DataFrame(cols)
    base = [c for c in df.columns if not c.startswith(("_", "max_ced_", "window_start_"))]
    return df.select(*[pl.col(c) for c in base], *exprs)


@overload
def cumulative_dose(
    exams: pl.DataFrame | pl.LazyFrame | ReadResult[pl.DataFrame],
    thresholds: Sequence[float] | float | None = ...,
    *,
    window_days: Sequence[int] | int | None = ...,
    indication: str = ...,
) -> pl.DataFrame: ...
@overload
def cumulative_dose(
    exams: pd.DataFrame | ReadResult[pd.DataFrame],
    thresholds: Sequence[float] | float | None = ...,
    *,
    window_days: Sequence[int] | int | None = ...,
    indication: str = ...,
) -> pd.DataFrame: ...
@overload
def cumulative_dose(
    exams: pl.DataFrame | pd.DataFrame | ReadResult[Any],
    thresholds: Sequence[float] | float | None = ...,
    *,
    window_days: Sequence[int] | int | None = ...,
    indication: str = ...,
) -> pl.DataFrame | pd.DataFrame: ...
@overload
def cumulative_dose(
    exams: pa.Table | pa.RecordBatch,
    thresholds: Sequence[float] | float | None = ...,
    *,
    window_days: Sequence[int] | int | None = ...,
    indication: str = ...,
) -> pl.DataFrame: ...
@renamed(
    windows="use recurct.period_dose(exams, periods=...)",
    by_period="use recurct.period_dose(exams, every=...)",
)
def cumulative_dose(
    exams: Any,
    thresholds: Sequence[float] | float | None = (100.0,),
    *,
    window_days: Sequence[int] | int | None = None,
    indication: str = "most_frequent",
) -> pl.DataFrame | pd.DataFrame:
    """The patients table: one row per patient with CED, threshold crossings and windows.

    Parameters
    ----------
    exams
        Exam table (polars, pandas or pyarrow) with ``patient_id`` (string or integer),
        ``exam_date`` (Date or Datetime) and ``effective_dose_msv`` (finite, >= 0; a
        ``Float32`` dose, and age, is read as written, by its shortest decimal: 12.3, not
        12.300000190734863). If ``age_years``, ``sex``, ``facility`` or ``indication`` are
        present, the matching patient columns are added: ``age_years`` as numbers, or text
        read as :func:`recurct.schema.validate` reads it, as numbers (the column deciding
        its decimal mark: ``"1,5"`` is 1.5) or DICOM ages (``067Y``; other text, an
        ambiguous ``"1.234"`` included, and ages outside 0-130 years, are set null, with an
        :class:`~recurct.errors.UnmappedValuesWarning` counting them, and the exams keep
        their doses); ``sex``, ``facility`` and ``indication`` of any
        dtype with a text form (not List, Array, Struct, Object or Duration). Full
        validation belongs at ingestion (:func:`recurct.schema.validate`); only cheap checks
        of these columns are done here.
        A polars ``LazyFrame``, or the path of a Parquet file, folder or glob, is processed out
        of core in patient buckets (:func:`recurct.outofcore.cumulative_dose_chunked`: same
        result, bounded memory).
    thresholds
        CED thresholds in mSv (> 0). For each ``T``: ``reached_T``, ``days_to_T``,
        ``exams_to_T``, ``date_reached_T`` (and ``age_reached_T`` with ``age_years``).
        Pass ``()`` for totals only (then no sort is needed, which is fastest).
    window_days
        Window width(s) ``W`` in days (> 0): ``max_ced_W`` is the largest CED over exams
        ``i..j`` with ``day_j - day_i < W``, ``window_start_W`` the first exam date of that
        window (the earliest if tied), and ``reached_T_in_W`` whether ``max_ced_W >= T``.
    indication
        Which exam's ``indication`` the patient row holds: ``"most_frequent"`` (the default;
        ties: the earliest) or ``"first"`` (the initial indication: the first non-null value
        in time order). ``sex`` is always the first non-null value, ``facility`` the most
        frequent. ``"first"`` needs the exams in memory: for a LazyFrame or a path it raises
        :class:`~recurct.errors.ParameterError` (collect the LazyFrame, or pass
        ``recurct.read_exams(path).exams``).

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The patients table sorted by ``patient_id`` (pandas if ``exams`` was pandas). The CED
        per fixed calendar period is :func:`period_dose`.

    Raises
    ------
    recurct.errors.DataError
        Missing columns; null ids or dates; null, negative, NaN or infinite doses (the
        message names the first offending rows); an attribute column of a dtype that cannot
        be one (``age_years`` not numbers, text or categories; ``sex``, ``facility`` or
        ``indication`` List, Array, Struct, Object or Duration), naming column and dtype;
        an ``exam_date`` beyond the days recurct counts (a ``Datetime("ms")`` some 5.9
        million years from 1970, a time-zone-aware date beyond the years -262,143 to
        262,142), naming the rows.
    recurct.errors.ParameterError
        Thresholds or windows not > 0; ``exam_date`` is not a date/datetime, or
        ``patient_id`` not a string/integer; ``indication="first"`` with a LazyFrame or a
        path.

    Notes
    -----
    Exams are ordered by the full timestamp, ties in input order; days are whole calendar
    days between exam dates (time of day ignored). Doses are accumulated per patient in
    float64 in time order with compensated (Neumaier) summation, recurct's one rule for
    every sum of doses: in practice each sum is the correctly rounded sum of the doses as
    given (``math.fsum``'s), whatever their order, so ``ced_msv`` and every threshold
    verdict are the same in any input row order and on every path (with ``thresholds=()``
    and no windows the doses are added in input order, to the same ``ced_msv``), and
    ``reached_T`` is ``ced_msv >= T``. Three exams of 0.1, 0.3 and 99.6 mSv make 100.0, ten
    of 0.1 mSv 1.0 (added in turn: 99.99999999999999 in some orders, 0.9999999999999999).
    """
    thr = _checks.thresholds(thresholds, "cumulative_dose")
    win = _checks.window_days(window_days, "cumulative_dose")
    _checks.exams_path(exams, "cumulative_dose")
    if isinstance(exams, pl.LazyFrame | str | os.PathLike):
        if indication != "most_frequent":
            raise ParameterError(
                "cumulative_dose: indication='first' needs the exams in memory; collect the "
                "LazyFrame (or read the files) first"
            )
        from recurct.outofcore import _chunked

        return _chunked(exams, thr.tolist(), win.tolist(), fn="cumulative_dose")
    return patients_table(exams, thr, win, "cumulative_dose", indication)


def patients_table(
    exams: Any,
    thresholds: Any,
    window_days: Any,
    fn: str,
    indication: str = "most_frequent",
) -> pl.DataFrame | pd.DataFrame:
    """:func:`cumulative_dose` of exams in memory (a table, not a path or LazyFrame), its
    errors naming ``fn``, the public function called: the out-of-core buckets
    (:mod:`recurct.outofcore`) and the Dask partitions (:mod:`recurct.distributed`) compute
    each chunk with it, so that an error names the function the user called whatever the
    number of buckets."""
    thr = _checks.thresholds(thresholds, fn)
    win = _checks.window_days(window_days, fn)
    prep = _prepare(exams, fn)
    return from_polars(_patients(prep, thr, win, indication, fn), prep.kind)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- running


def running_dose(exams: Any) -> pl.DataFrame | pd.DataFrame:
    """The exams in patient/time order with the running CED.

    Parameters
    ----------
    exams
        Exam table (polars, pandas or pyarrow) as for :func:`cumulative_dose`.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        All input columns, rows sorted by ``patient_id`` then ``exam_date`` (ties in input
        order), plus ``exam_index`` (Int64, 1-based within the patient) and
        ``running_ced_msv`` (Float64, CED up to and including the exam, summed as
        :func:`cumulative_dose` sums it: a patient's last is its ``ced_msv``). A pandas result
        keeps each row's index label from the input (the labels move with the rows, as in
        ``df.sort_values()``), so ``exams.join(result["running_ced_msv"])`` aligns.

    Raises
    ------
    recurct.errors.DataError
        The exam table already has a column ``exam_index`` or ``running_ced_msv`` (an
        accession number, or the output of an earlier call): it is never overwritten;
        rename or drop it first. An ``exam_date`` beyond the days recurct counts (as
        :func:`cumulative_dose` says), naming the rows.
    """
    _checks.exams_path(exams, "running_dose")
    prep = _prepare(exams, "running_dose")
    clash = [c for c in RUNNING_COLUMNS if c in prep.df.columns]
    if clash:
        raise DataError(
            f"running_dose: the exam table already has column(s) {clash}, which running_dose "
            "adds; rename or drop them first (they are never overwritten)"
        )
    starts, _t, d_s, order = _k.group(prep.codes, prep.t, prep.dose, prep.n_patients, upd=prep.upd)
    n = prep.dose.size
    running = np.empty(n, np.float64)
    index = np.empty(n, np.int64)
    if n:
        _k.running_sums(starts, d_s, running, index)
    df = prep.df if order is None else prep.df.gather(order)
    df = df.with_columns(pl.Series("exam_index", index), pl.Series("running_ced_msv", running))
    return from_polars(df, prep.kind, input_index(exams, order))  # type: ignore[arg-type]
