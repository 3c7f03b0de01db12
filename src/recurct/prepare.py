"""Factorise and sort an exam table once, for repeated analyses of one cohort.

:func:`prepare_exams` does, once, the work every :func:`recurct.cumulative_dose` and
:func:`recurct.running_dose` call otherwise repeats on a table of string ids: clean and
check the ids, turn them into dense integer codes and order the exams by patient and time
(DESIGN.md: "factorise patient ids to dense integer codes once, at ingestion ... and keep
the code column"; "remember sortedness"). The codes are kept as a polars ``Enum`` of the
sorted distinct ids, whose physical codes are the dense codes themselves, and the order is
kept as the row order, which the engine detects in one pass; nothing is cached anywhere,
so a table changed afterwards is simply analysed as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct import kernels as _k
from recurct._frames import enum_categories, from_polars, input_index, is_enum

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["prepare_exams"]


def prepare_exams(exams: Any) -> pl.DataFrame | pd.DataFrame:
    """The exam table with its patient ids factorised and its rows in patient/time order.

    Later calls of :func:`recurct.cumulative_dose` and :func:`recurct.running_dose` on the
    returned table skip the two costly steps of a table of text ids: factorising the ids
    (hashing and ranking every id) and sorting the exams. Their results equal those of the
    same call on ``exams`` itself.

    Parameters
    ----------
    exams
        Exam table in memory (polars, pandas or pyarrow; a ``LazyFrame`` is collected) as
        for :func:`recurct.cumulative_dose`.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Every input column and row (pandas if ``exams`` was pandas), the rows sorted by
        ``patient_id`` then by the exam timestamp (ties in input order); a pandas result
        keeps each row's index label from the input (the labels move with the rows, as in
        ``df.sort_values()``). Text ids
        (string, ``Categorical`` or ``Enum``) become a polars ``Enum`` whose categories
        are the distinct ids in ascending order, each used (a pandas ordered
        ``Categorical`` when ``exams`` was pandas); they are cleaned as every function
        cleans them (surrounding whitespace removed with an
        :class:`~recurct.errors.IdentifierWarning`, placeholders such as ``"NA"`` made
        null, which is then refused). Integer ids keep their dtype (they already run at
        full speed). The patients table of :func:`recurct.cumulative_dose` on the result
        holds the same ``patient_id`` values, as text (``String``) for an ``Enum``.

    Raises
    ------
    ValueError
        As :func:`recurct.cumulative_dose`: missing columns, null ids or dates, bad doses.
    TypeError
        ``exam_date`` is not a date/datetime, or ``patient_id`` not a string/integer.

    Notes
    -----
    At 10^7 exams with record-number ids, on the development VM's earlier CPU
    (docs/cumulative.md), the one-off cost was 3.0 to 4.3 s (building an ``Enum`` of millions
    of categories is most of it), the time of 8 to 12 :func:`recurct.cumulative_dose` calls on
    the original table (0.36 to 0.40 s each); each later call saved 0.22 to 0.23 s (it then
    runs within about 0.05 s of integer ids), so the cost was repaid after 13 to 20 calls
    (18 and 21 measured). On the current CPU a call saves 0.45 s (run K of
    benchmarks/RESULTS.md): the same cost would be repaid after 7 to 10 calls.
    Nothing is cached: the table itself carries the codes (the ``Enum``) and the order (its
    rows), so editing it is safe (an edited table is checked and, if no longer in order,
    sorted again by each call).

    Examples
    --------
    >>> import polars as pl, recurct
    >>> exams = pl.DataFrame({
    ...     "patient_id": ["B", "A", "B"],
    ...     "exam_date": pl.Series(["2020-03-01", "2021-01-05", "2019-06-30"]).str.to_date(),
    ...     "effective_dose_msv": [10.0, 5.0, 20.0],
    ... })
    >>> prepared = recurct.prepare_exams(exams)
    >>> prepared["patient_id"].cast(pl.String).to_list()
    ['A', 'B', 'B']
    >>> recurct.cumulative_dose(prepared, thresholds=()).equals(
    ...     recurct.cumulative_dose(exams, thresholds=()))
    True
    """
    from recurct.cumulative import _prepare

    prep = _prepare(exams, "prepare_exams")
    starts, _t, _d, order = _k.group(
        prep.codes, prep.t, prep.dose, prep.n_patients, upd=prep.upd
    )
    df = prep.df if order is None else prep.df.gather(order)
    if prep.ids.dtype.is_integer():
        return from_polars(df, prep.kind, input_index(exams, order))  # type: ignore[arg-type]
    codes = _k.segment_codes(starts)
    if prep.kind == "pandas":  # a pandas Categorical straight from the codes: no polars Enum
        out = _pandas_categorical(df, codes, prep.ids)
        index = input_index(exams, order)
        if index is not None:
            out.index = index
        return out
    if not _is_prepared(df.get_column("patient_id"), codes, prep.n_patients):
        labels = prep.ids.cast(pl.String)
        ids = labels.cast(pl.Enum(labels)).gather(codes).alias("patient_id")
        df = df.with_columns(ids)
    return df


def _pandas_categorical(df: pl.DataFrame, codes: np.ndarray, ids: pl.Series) -> pd.DataFrame:
    """``df`` as pandas with ``patient_id`` an ordered ``Categorical`` of the sorted distinct
    ``ids`` (building a polars ``Enum`` of millions of categories, then converting it, costs
    seconds)."""
    import pandas as pd

    out = from_polars(df.drop("patient_id"), "pandas")
    categories = pd.Index(ids.cast(pl.String).to_pandas(), name=None)
    column = pd.Categorical.from_codes(codes, categories=categories, ordered=True, validate=False)
    out.insert(df.columns.index("patient_id"), "patient_id", column)
    return out


def _is_prepared(s: pl.Series, codes: np.ndarray, n_patients: int) -> bool:
    """Whether ``s`` (in patient/time order) is already an ``Enum`` of ``n_patients``
    categories whose physical codes are ``codes`` (then those categories are the sorted
    distinct ids: the codes are dense and in ascending id order)."""
    if not is_enum(s) or not np.array_equal(s.to_physical().to_numpy(), codes):
        return False
    return enum_categories(s).len() == n_patients
