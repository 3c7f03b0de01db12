"""The one rule of duplicate exams (:data:`DUPLICATE_RULE`): :func:`duplicate_mask`, and the
row finder :func:`duplicate_rows` that :func:`recurct.schema.validate` uses.
Re-exported by :mod:`recurct.schema`."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct._frames import to_polars
from recurct.errors import DataError
from recurct.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DUPLICATE_RULE", "duplicate_mask", "duplicate_rows"]

DUPLICATE_RULE = """\
Two rows are copies of **the same exam** when they have the same ``patient_id`` and

1. both have a ``study_uid``: the same ``study_uid`` (one study is one exam, whatever the
   times, doses or other values of the rows);
2. neither has one (no ``study_uid`` column, or null in both rows) and their common
   ``exam_date`` carries a time of day: the same ``exam_date`` and the same values in every
   other canonical column present (``effective_dose_msv``, ``dlp_mgycm``, ``ctdivol_mgy``,
   ``body_region``, ``age_years``, ``sex``, ``facility``, ``indication``), i.e. the same row,
   unknown columns aside; where ``body_region`` is null (no rule maps its text), also the same
   region text as given (``body_region_raw``): an unknown region is still a region, so
   ``Hip left`` and ``Shoulder right`` stay two exams;
3. as in 2, but their common ``exam_date`` has no time of day (a ``Date``, a datetime at
   exactly midnight, or no date at all): also the same values in **every** other column,
   unknown ones and ``body_region_raw`` (the region text as given) included. Two real exams on
   one day can share a patient, a date and a tabulated dose (typical doses per exam type), so
   a date alone never makes a copy; only rows equal in every column do (an accession number,
   exam type, series column or region text keeps real exams apart).

The rule is decided for each pair of rows from those two rows alone: no other row of the table
changes whether they are copies. A row with a ``study_uid`` and one without are never copies;
empty or placeholder ``study_uid`` text (or a float NaN) is no ``study_uid``. Values are
compared as :func:`validate` with ``strict=False`` returns them: after the canonical casts,
with a blank sex code or body region, and one that maps to nothing, null; null equals null,
and blank region text equals none. A bad optional attribute that ``validate`` sets null (an
age outside 0-130 or not a number, a DLP or CTDIvol that is text, NaN, infinite, negative
or implausible) is compared as given instead: setting a value null never makes two exams one
(``12,5`` and ``13,1`` in a comma-separated file stay two exams), while rows equal as given
are still copies. So :func:`duplicate_mask` agrees with :func:`validate`, and validating a
validated table finds no further copies, except among rows that differed only in values the
first validation set null (equal now). Of each set of copies the row with the earliest
``exam_date`` is kept (ties: the first in input order); the others are the copies.
"""
"""The one definition of a duplicate exam, used by ``validate`` and ``Cohort.dedupe``."""

# compared in the key's own way (the identity first; body_region_raw: see duplicate_key)
_NOT_IN_KEY = ("patient_id", "exam_date", "study_uid", "body_region_raw")


def duplicate_key(df: pl.DataFrame) -> list[pl.Expr]:
    """Expressions identifying an exam under :data:`DUPLICATE_RULE`, for a frame of values as
    :func:`recurct.schema.validate` returns them (:func:`recurct._validation.key_frame`).

    Unknown columns enter the key only on rows whose ``exam_date`` has no time of day (a null
    date has none); two rows with equal keys share their ``exam_date``, so the rule is the
    same for both rows of a pair and depends on nothing else. ``body_region_raw`` (the region
    text as given, blank text as none) is such a column, and enters on every row where
    ``body_region`` is null: an unknown region keeps exams with different texts apart.
    """
    canonical = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    date = pl.col("exam_date")
    if isinstance(df.schema["exam_date"], pl.Datetime):
        no_time = (date.dt.time() == time(0)).fill_null(True)
    else:
        no_time = pl.lit(True)
    rest = [date]
    for c in df.columns:
        if c == "body_region_raw":
            unknown = pl.col("body_region").is_null() if "body_region" in df.columns else False
            text = pl.col(c)
            if df.schema[c] == pl.Utf8:  # blank text is no region, as a blank code is no code
                text = pl.when(text.str.strip_chars() != "").then(text)
            rest.append(pl.when(no_time | unknown).then(text))
        elif c not in _NOT_IN_KEY:
            rest.append(pl.col(c) if c in canonical else pl.when(no_time).then(pl.col(c)))
    key = [pl.col("patient_id")]
    if "study_uid" in df.columns:
        uid = pl.col("study_uid")
        key.append(uid)
        rest = [pl.when(uid.is_null()).then(e) for e in rest]  # with a uid: the uid alone
    return [e.alias(f"k{i}") for i, e in enumerate(key + rest)]


def duplicate_rows(df: pl.DataFrame, bad: np.ndarray | None = None) -> np.ndarray:
    """Copies (True) under :data:`DUPLICATE_RULE` in a frame of values as ``validate``
    returns them (:func:`recurct._validation.key_frame`).

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
            pl.Series(c, [repr(v) for v in df.get_column(c).to_list()], dtype=pl.Utf8) for c in obj
        )
    key = duplicate_key(df)
    h = df.select(
        pl.reduce(lambda a, b: a ^ b, [k.hash(seed=i) for i, k in enumerate(key)])
    ).to_series()
    hn = h.to_numpy()
    hs = np.sort(hn if good.all() else hn[good])
    repeated = np.unique(hs[1:][hs[1:] == hs[:-1]])
    if repeated.size:
        hit = h.is_in(pl.Series(repeated, dtype=pl.UInt64).implode()).to_numpy()
        rows = np.flatnonzero(hit & good)
        # a frame of its own (row, date, key): no name of the user's table can clash
        picked = df[rows]
        cand = pl.DataFrame(
            {
                "row": pl.Series(rows, dtype=pl.Int64),
                "date": picked.get_column("exam_date"),
                "key": picked.select(pl.struct(*key)).to_series(),
            }
        ).sort("date", "row", nulls_last=True)
        copies = cand.filter(~pl.col("key").is_first_distinct()).get_column("row")
        dup[copies.to_numpy()] = True
    return dup


def duplicate_mask(exams: Any) -> pl.Series | pd.Series:
    """Which rows are later copies of an exam already in the table.

    The rule (:data:`DUPLICATE_RULE`, the one used by :func:`recurct.schema.validate` and
    ``Cohort.dedupe``): same ``patient_id`` and same ``study_uid``; without a ``study_uid``,
    the same ``patient_id``, ``exam_date`` and every other canonical column (and the region
    text where no rule maps it), and every column when that ``exam_date`` has no time of day
    (decided for each pair of rows alone). The copy with the earliest ``exam_date`` (ties: the
    first in input order) is the original.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        Exam table with ``patient_id`` and ``exam_date``; values are compared as
        ``validate(exams, strict=False)`` compares them (default arguments: codes that map
        to nothing null, bad optional attributes as given), so on a table without other
        problems the copies here are those ``validate`` drops. Run it first: an unparseable
        date becomes null, and null equals null here.

    Returns
    -------
    polars.Series or pandas.Series
        Boolean (pandas, with the frame's index, when ``exams`` is pandas), named
        ``duplicate``, one value per input row in input order: True for every copy but the
        original, so ``exams.filter(~duplicate_mask(exams))`` counts each exam once.

    Raises
    ------
    recurct.errors.DataError
        (a ``ValueError``) If ``patient_id`` or ``exam_date`` is missing, or a canonical
        column has a dtype that cannot hold its values (a ``List`` of dates, an ``Object``
        column), naming the column and the dtype.
    """
    from recurct._validation import key_frame  # which imports this module

    df, kind = to_polars(exams)
    missing = [c for c in ("patient_id", "exam_date") if c not in df.columns]
    if missing:
        raise DataError(
            f"duplicate_mask: the exam table lacks column(s) {missing}; map the columns or "
            "read it with recurct.read_exams"
        )
    mask = pl.Series("duplicate", duplicate_rows(key_frame(df)), dtype=pl.Boolean)
    if kind == "pandas":
        import pandas as pd

        return pd.Series(mask.to_numpy(), index=exams.index, name="duplicate", dtype=bool)
    return mask
