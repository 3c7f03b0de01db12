"""The one rule of duplicate exams (:data:`DUPLICATE_RULE`): :func:`duplicate_mask`, and the
row finder :func:`duplicate_rows` that :func:`recurct.schema.validate` uses.
Re-exported by :mod:`recurct.schema`."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct._casts import eager_casts
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
"""The one definition of a duplicate exam, used by ``validate`` and ``Cohort.dedupe``."""

# body_region_raw is the text body_region was mapped from: the mapped value is compared
_NOT_IN_KEY = ("patient_id", "exam_date", "study_uid", "body_region_raw")


def duplicate_key(df: pl.DataFrame) -> list[pl.Expr]:
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


def duplicate_rows(df: pl.DataFrame, bad: np.ndarray | None = None) -> np.ndarray:
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
        cand = (
            df.with_row_index("__row")[rows]
            .select(pl.col("__row"), pl.col("exam_date"), pl.struct(*key).alias("__key"))
            .sort("exam_date", "__row", nulls_last=True)
        )
        copies = cand.filter(~pl.col("__key").is_first_distinct()).get_column("__row")
        dup[copies.to_numpy()] = True
    return dup


def duplicate_mask(exams: Any) -> pl.Series | pd.Series:
    """Which rows are later copies of an exam already in the table.

    The rule (:data:`DUPLICATE_RULE`, the one used by :func:`recurct.schema.validate` and
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
    polars.Series or pandas.Series
        Boolean (pandas, with the frame's index, when ``exams`` is pandas), named
        ``duplicate``, one value per input row in input order: True for every copy but the
        original, so ``exams.filter(~duplicate_mask(exams))`` counts each exam once.

    Raises
    ------
    ValueError
        If ``patient_id`` or ``exam_date`` is missing.
    """
    df, kind = to_polars(exams)
    missing = [c for c in ("patient_id", "exam_date") if c not in df.columns]
    if missing:
        raise DataError(
            f"duplicate_mask: the exam table lacks column(s) {missing}; map the columns or "
            "read it with recurct.read_exams"
        )
    canon = df.with_columns(**{k: e for k, e in eager_casts(df).items() if k in df.columns})
    mask = pl.Series("duplicate", duplicate_rows(canon), dtype=pl.Boolean)
    if kind == "pandas":
        import pandas as pd

        return pd.Series(mask.to_numpy(), index=exams.index, name="duplicate", dtype=bool)
    return mask


