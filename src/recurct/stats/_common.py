"""Helpers shared by the modules of :mod:`recurct.stats`: strata, band labels, the definition
of "reached T", the share bootstrap and the checks of the patients table's columns.

Argument checks (thresholds, alpha, end) live in :mod:`recurct._checks`.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import polars as pl

from recurct._frames import _unwrap, param_label, to_polars
from recurct.errors import DataError, ParameterError
from recurct.stats.proportion import proportion_ci

if TYPE_CHECKING:
    from recurct._frames import FrameKind

__all__ = [
    "AGE_EDGES",
    "BAND_STYLES",
    "FEW_CLUSTERS",
    "TMP",
    "Strata",
    "band_expr",
    "band_labels",
    "block_counts",
    "block_group_by",
    "block_labels",
    "block_sizes",
    "block_sums",
    "bootstrap_share",
    "by_list",
    "check_by_names",
    "check_exam_doses",
    "check_nonempty",
    "check_patients",
    "check_stripped_keys",
    "column_name",
    "normal_quantile",
    "ratio",
    "reached_expr",
    "require",
    "share_interval",
    "stats_frame",
    "stratum_keys",
    "stratum_rows",
    "unknown_column",
    "unknown_reached",
    "unsigned_zeros",
]

#: Default age bands (years), left-closed: [0, 18), [18, 30), [30, 50), [50, 65), [65, inf).
AGE_EDGES: tuple[float, ...] = (0, 18, 30, 50, 65, math.inf)

ALL = "all"


#: The prefix of the temporary columns that the functions of :mod:`recurct.stats` add to a
#: table while they compute; a ``by`` (or ``subgroup``) column may not start with it
#: (:func:`by_list`), so that no user column is mistaken for, or replaced by, one of them.
TMP = "__recurct_"


@functools.lru_cache(maxsize=16)
def normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` (scipy's, kept: a pointwise interval asks for it
    once a stratum, and scipy's call costs about 0.1 ms)."""
    from scipy.stats import norm

    return float(norm.ppf(p))


def by_list(
    by: str | Sequence[str] | None, df: pl.DataFrame, table: str = "patients table"
) -> list[str]:
    """Return the stratification columns as a list, checking that they exist in ``df`` (the
    ``table`` named when one does not), that none starts with :data:`TMP`
    (``ParameterError``), that none holds Python objects (a pandas ``object`` column of mixed
    types: ``DataError`` naming the column and the first row of each type) and that no value
    of theirs is ``"all"`` (the label of the whole table's rows), nor ``"(missing)"``
    (:data:`recurct.stats.publish.NULL_STRATUM`, the label of a null stratum) in a column
    that also holds a null (the two strata would print alike; a column without a null may
    hold it, e.g. an export that filled its missing values with it): a ``DataError`` naming
    the column and the rows."""
    if by is None:
        return []
    cols = [by] if isinstance(by, str) else list(by) if isinstance(by, Iterable) else None
    if cols is None or not all(isinstance(c, str) for c in cols):
        raise ParameterError(
            f"by: give a column name or a sequence of column names, got {by!r:.80}"
        )
    cols = [str(c) for c in cols]  # (NumPy's str_ too)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"by: column(s) {missing} not in the {table}; available: {df.columns}")
    if len(set(cols)) != len(cols):
        raise ParameterError(f"by: repeated column in {cols}")
    reserved = [c for c in cols if c.startswith(TMP)]
    if reserved:
        raise ParameterError(
            f"by: column(s) {reserved} start with {TMP!r}, the prefix of recurct's own "
            "temporary columns; rename them first"
        )
    for c in cols:  # values of mixed Python types (a pandas object column): no one order
        if df.schema[c] == pl.Object:
            first: dict[str, int] = {}
            for i, v in enumerate(df[c].to_list()):
                if v is not None:
                    first.setdefault(type(v).__name__, i)
            kinds = ", ".join(f"{t} (row {i})" for t, i in first.items())
            raise DataError(
                f"by column {c!r} holds Python objects (a pandas object column of mixed "
                f"types?), which cannot be grouped safely; first row of each type, 0-based: "
                f"{kinds or 'none'}; convert it to text or numbers first"
            )
    # a stratum labelled "all" would pass for the whole table's rows, one labelled
    # "(missing)" for the null stratum of the publication tables and figures (where the
    # column has one: else "(missing)" is the only stratum printed so)
    from recurct.stats.publish import NULL_STRATUM  # (which imports this module)

    for c in cols:
        if isinstance(df.schema[c], pl.String | pl.Categorical | pl.Enum):
            text = df[c].cast(pl.Utf8)
            hit = text == ALL
            if hit.any():
                raise DataError(
                    f"by column {c!r} holds the value {ALL!r}, the label of the whole table's "
                    f"rows in the result: {_rows(hit)} (0-based); rename that value first"
                )
            hit = (text == NULL_STRATUM) if text.null_count() else None  # only beside a null
            if hit is not None and hit.any():
                raise DataError(
                    f"by column {c!r} holds the value {NULL_STRATUM!r}, the label of a null "
                    "(missing) value in the tables and figures, and nulls too: the two "
                    f"strata would print alike; {NULL_STRATUM!r} in {_rows(hit)}, null in "
                    f"{_rows(text.is_null())} (0-based); rename that value, or fill the nulls "
                    "with it, first"
                )
    return cols


def check_stripped_keys(
    df: pl.DataFrame, col: str, within: Sequence[str], func: str, noun: str
) -> None:
    """Raise ``DataError`` if two values of the text column ``col`` (within the same values of
    the columns ``within``) differ only by surrounding whitespace (``"France"``,
    ``"France "``): they would be two keys (sites, countries, answers) where one was meant.
    The message names the first such values and their rows (0-based); ``noun`` names a value
    (``"question"``: "questions that differ only ...")."""
    dtype = df.schema[col]
    if dtype not in (pl.Utf8, pl.Categorical) and not isinstance(dtype, pl.Enum):
        return
    row, raw_name, key = f"{TMP}row", f"{TMP}raw", f"{TMP}key"
    raw = pl.col(col).cast(pl.Utf8)
    clash = (
        df.select(*within, col)
        .with_row_index(row)
        .with_columns(raw.alias(raw_name), raw.str.strip_chars().alias(key))
        .filter(pl.col(raw_name).n_unique().over([*within, key]) > 1)
    )
    if clash.height:
        first = clash.filter(pl.col(key) == clash[key][0])
        shown = ", ".join(f"{v!r} (row {r})" for r, v in zip(first[row].to_list(), first[raw_name]))
        raise DataError(
            f"{func}: {clash.height} row(s) have {noun}s that differ only by surrounding "
            f"whitespace, e.g. {shown}; strip them (or correct the one that is wrong) so "
            f"that each is one {noun}"
        )


def check_nonempty(df: pl.DataFrame, what: str = "patients table") -> None:
    """Raise ``ValueError`` if ``df`` has no rows."""
    if df.height == 0:
        raise DataError(f"the {what} is empty: nothing to summarise (check the cohort filters)")


def column_name(value: object, func: str) -> str:
    """``value`` if it is a column name (non-empty text), else ``ValueError``."""
    if not isinstance(value, str) or not value:
        raise ParameterError(f"{func}: a column name must be non-empty text, got {value!r:.60}")
    return value


def require(
    df: pl.DataFrame, cols: Iterable[str], func: str, table: str = "patients table"
) -> None:
    """Raise ``DataError`` naming the columns of ``cols`` missing from ``df``, the ``table``
    (``ParameterError`` for a name that is not text); for the patients table, then check the
    values of those of them that are its columns (:func:`check_patients`)."""
    cols = [column_name(c, func) for c in cols]
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    patients = table == "patients table"
    if missing:
        build = "; build it with recurct.cumulative_dose()" if patients else ""
        raise DataError(
            f"{func}: the {table} lacks column(s) {missing}{build} (available: {df.columns})"
        )
    if patients:
        check_patients(df, func, cols)


# The columns of the patients table (recurct.cumulative_dose) whose type and values the
# functions of recurct.stats and recurct.plot rely on, by kind.
_PATIENT_COLUMNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"(first_exam|last_exam|date_reached_.+|window_start_.+)")),
    ("reached", re.compile(r"reached_[^_]+(_in_\d+)?")),
    ("dose", re.compile(r"ced_msv|max_ced_\d+")),
    ("count", re.compile(r"n_exams")),
    ("age", re.compile(r"age_(first_exam|last_exam|reached_.+)")),
)

_KIND_TEXT = {
    "date": "dates (Date or Datetime)",
    "reached": "true/false values (Boolean)",
    "dose": "numbers (mSv)",
    "count": "whole numbers",
    "age": "numbers (years)",
    "numeric": "numbers",
}


def column_kind(name: str) -> str | None:
    """The kind of a column of the patients table (``date``, ``reached``, ``dose``, ``count``,
    ``age``), ``None`` for one that :func:`check_patients` does not check."""
    for kind, pattern in _PATIENT_COLUMNS:
        if pattern.fullmatch(name):
            return kind
    return None


def _rows(mask: pl.Series) -> str:
    rows = mask.fill_null(False).arg_true()
    head = rows.head(5).to_list()
    return f"{rows.len()} row(s), e.g. row(s) {head}{', ...' if rows.len() > 5 else ''}"


def check_column(df: pl.DataFrame, col: str, kind: str, func: str, strict: bool = True) -> None:
    """Raise ``DataError`` naming ``col`` and its first bad rows unless ``df[col]`` holds
    values of ``kind``: ``date`` (Date or Datetime), ``reached`` (Boolean, not all null),
    ``dose`` (numbers, finite and >= 0 where present), ``count`` (whole numbers >= 1 where
    present), ``age`` or ``numeric`` (numbers). With ``strict=False`` only the type is
    checked."""
    s = df[col]
    dtype = s.dtype
    n = s.len()
    if kind == "date":
        ok = isinstance(dtype, pl.Date | pl.Datetime)
    elif kind == "reached":
        ok = isinstance(dtype, pl.Boolean)
    else:
        ok = dtype.is_numeric() and not isinstance(dtype, pl.Boolean)
    if ok and kind == "reached" and n and s.null_count() == n:
        raise DataError(
            f"{func}: column {col!r} of the patients table holds no value (all {n} rows null); "
            "rebuild it with recurct.cumulative_dose()"
        )
    if not ok:
        if n and s.null_count() == n:
            got = f"no value (all {n} rows null, dtype {dtype})"
        else:
            got = f"{dtype} (e.g. row 0: {s.head(1).to_list()[0]!r:.40})"
        raise DataError(
            f"{func}: column {col!r} of the patients table must hold {_KIND_TEXT[kind]}, "
            f"got {got}; rebuild it with recurct.cumulative_dose() or convert the column"
        )
    if not strict or kind not in ("dose", "count"):
        return
    bad = s < (1 if kind == "count" else 0)
    if dtype.is_float():
        bad = bad | ~s.is_finite()
        if kind == "count":
            bad = bad | (s != s.floor())
    if bad.any():
        need = "whole numbers >= 1" if kind == "count" else "finite numbers >= 0"
        why = (
            "NaN, infinite, negative, 0 or fractional"
            if kind == "count"
            else "NaN, infinite or negative"
        )
        raise DataError(
            f"{func}: column {col!r} of the patients table must hold {need}; "
            f"{_rows(bad)} do not ({why})"
        )


def check_patients(
    df: pl.DataFrame, func: str, cols: Iterable[str] | None = None, *, strict: bool = True
) -> None:
    """Check the type and values of the columns of the patients table that ``df`` has (only
    those of ``cols`` where given): dates (``first_exam``, ``last_exam``,
    ``date_reached_<T>``, ``window_start_<W>``) Date or Datetime; ``reached_<T>`` Boolean;
    ``ced_msv`` and ``max_ced_<W>`` numbers, finite and >= 0 where present; ``n_exams`` whole
    numbers >= 1; ages numbers. Raises ``DataError`` naming the column and its first bad
    rows. ``strict=False`` (the plots, which leave out a missing value with a warning): the
    types only."""
    names = df.columns if cols is None else [c for c in cols if c in df.columns]
    kinds = {c: k for c in dict.fromkeys(names) if (k := column_kind(c)) is not None}
    values = []  # the value checks of every column in one polars pass (in threads)
    for col, kind in kinds.items():
        if strict and kind in ("dose", "count") and df.schema[col].is_numeric():
            values.append(col)
        else:  # the type (free) and the all-null check
            check_column(df, col, kind, func, strict)
    if not values:
        return
    exprs = []
    for col in values:
        c, kind = pl.col(col), kinds[col]
        bad = c < (1 if kind == "count" else 0)
        if df.schema[col].is_float():
            bad = bad | ~c.is_finite()
            if kind == "count":
                bad = bad | (c != c.floor())
        exprs.append(bad.any().alias(col))
    flags = df.select(exprs).row(0, named=True)
    for col in values:
        if flags[col] or isinstance(df.schema[col], pl.Boolean):
            check_column(df, col, kinds[col], func, strict)  # raises, naming the rows


def check_exam_doses(df: pl.DataFrame, func: str, column: str = "effective_dose_msv") -> None:
    """Raise ``DataError`` unless the exam table's ``column`` holds finite numbers >= 0 where
    present (as :func:`recurct.cumulative_dose` requires)."""
    s = df[column]
    if not s.dtype.is_numeric() or isinstance(s.dtype, pl.Boolean):
        raise DataError(
            f"{func}: column {column!r} of the exam table must hold numbers (mSv), got {s.dtype}"
        )
    bad = s < 0
    if s.dtype.is_float():
        bad = bad | ~s.is_finite()
    if bad.any():
        raise DataError(
            f"{func}: column {column!r} of the exam table must hold finite doses >= 0; "
            f"{_rows(bad)} do not (NaN, infinite or negative)"
        )


def stats_frame(obj: Any) -> tuple[pl.DataFrame, FrameKind]:
    """:func:`recurct._frames.to_polars` for the functions of :mod:`recurct.stats`, which
    also keeps the order of a pandas ordered ``Categorical`` of text (an age band of
    :func:`recurct.stats.age_band`): it becomes a polars ``Enum`` of its categories, so its
    strata follow that order (polars reads it as a ``Categorical``, which has none).
    (A ``-0.0`` in a column strata are formed of is made ``0.0`` where they are formed:
    :func:`unsigned_zeros`.)"""
    df, kind = to_polars(obj)
    if kind != "pandas":
        return df, kind
    import pandas as pd

    casts = []
    for name, dtype in _unwrap(obj).dtypes.items():
        if not (isinstance(dtype, pd.CategoricalDtype) and dtype.ordered):
            continue
        cats = list(dtype.categories)
        col = str(name)
        if (
            col in df.columns
            and isinstance(df.schema[col], pl.Categorical | pl.String)
            and all(isinstance(c, str) for c in cats)
        ):
            casts.append(pl.col(col).cast(pl.Utf8).cast(pl.Enum(cats)))
    return (df.with_columns(casts) if casts else df), kind


def unsigned_zeros(df: pl.DataFrame, cols: Iterable[str] | None = None) -> pl.DataFrame:
    """``df`` with each ``-0.0`` of its float columns (those of ``cols`` where given) made
    ``0.0``, the one label of the value polars groups them as; the other values (NaN and
    nulls too) unchanged. Only a column that holds a ``-0.0`` is rewritten (one pass over
    each float column finds them)."""
    schema = df.schema
    fix = []
    for c in schema if cols is None else cols:
        if not schema[c].is_float():
            continue
        a = df.get_column(c).to_numpy()  # (nulls: NaN, no zero)
        neg = np.signbit(a)
        if neg.any() and (neg & (a == 0)).any():
            fix.append(c)
    if not fix:
        return df
    # (not ``x + 0.0``: polars drops the addition of a zero)
    return df.with_columns(
        pl.when(pl.col(c) == 0).then(pl.lit(0.0, schema[c])).otherwise(pl.col(c)).alias(c)
        for c in fix
    )


def _in_stratum_order(keys: pl.DataFrame, df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``keys`` (the distinct ``by`` values in order of first appearance, with any other
    columns) in the one order of strata in :mod:`recurct.stats`: the order of ``Enum``
    columns' own categories (an age or dose band keeps its order; a pandas ordered
    ``Categorical`` arrives as one, :func:`stats_frame`), then the order of first appearance
    in ``df``; null keys last. (A polars ``Categorical`` has no order of its own: its codes
    follow the process-wide order in which its strings were first seen.)"""
    coded = [c for c in by if isinstance(df.schema[c], pl.Enum)]
    order = [pl.col(c).is_null() for c in by] + [pl.col(c).to_physical() for c in coded]
    return keys.with_row_index(f"{TMP}first").sort([*order, f"{TMP}first"]).drop(f"{TMP}first")


def stratum_keys(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The distinct values of the ``by`` columns, one row per stratum, in the one order of
    strata in :mod:`recurct.stats` (:func:`_in_stratum_order`)."""
    keys = unsigned_zeros(df.select(by)).unique(maintain_order=True)  # (one 0.0: -0.0 too)
    return _in_stratum_order(keys, df, by)


class Strata(NamedTuple):
    """The strata of a table's rows (:func:`stratum_rows`)."""

    #: one row per stratum, in :func:`stratum_keys` order: the ``by`` columns as strings
    #: (``None`` for a null key)
    labels: pl.DataFrame
    #: each row's stratum (int64, ``0`` to ``len(labels) - 1``)
    codes: np.ndarray
    #: the rows grouped by stratum, in input order within each: stratum ``k``'s rows are
    #: ``order[bounds[k]:bounds[k + 1]]``
    order: np.ndarray
    bounds: np.ndarray


def stratum_rows(df: pl.DataFrame, by: list[str]) -> Strata | None:
    """The strata of ``df`` by the columns ``by`` (at least one), found once (one polars
    ``group_by``), so that a statistic is computed for every stratum at once, or over slices
    of arrays, instead of a table per stratum (each a few polars calls: 0.5-0.7 ms a stratum,
    11-15 s for 20,000 strata). ``None`` without ``by``."""
    if not by:
        return None
    groups = (  # in order of first appearance
        unsigned_zeros(df.select(by))  # (one stratum 0.0, labelled 0.0, for 0.0 and -0.0)
        .with_row_index(f"{TMP}row")
        .group_by(by, maintain_order=True)
        .agg(pl.col(f"{TMP}row"))
    )
    keys = groups.select(by)
    perm = _in_stratum_order(keys.with_row_index(f"{TMP}g"), df, by)[f"{TMP}g"].to_numpy()
    lists = groups[f"{TMP}row"]
    if not np.array_equal(perm, np.arange(perm.size)):  # (the list column is not sorted)
        lists = lists.gather(perm)
    sizes = lists.list.len().to_numpy().astype(np.int64)
    order = lists.explode().to_numpy().astype(np.int64)
    codes = np.empty(df.height, np.int64)
    codes[order] = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    labels = keys[perm].select(pl.col(c).cast(pl.Utf8) for c in by)
    return Strata(labels, codes, order, np.concatenate(([0], np.cumsum(sizes))))


def block_labels(by: list[str], strata: Strata | None, blocks: np.ndarray) -> list[pl.Series]:
    """The ``by`` columns (strings) of output rows that belong to ``blocks``: block 0 is the
    whole table (``"all"``), block ``k`` stratum ``k - 1`` of ``strata``."""
    if not by:
        return []
    assert strata is not None
    return [pl.concat([pl.Series(c, [ALL], pl.Utf8), strata.labels[c]]).gather(blocks) for c in by]


def block_sums(strata: Strata | None, values: np.ndarray) -> np.ndarray:
    """Per block (0: the whole table, block ``k``: stratum ``k - 1`` of ``strata``), the sum
    of ``values`` over its rows: how many are true for booleans (int64), else float64 (the
    strata's summed in row order; all exact for whole numbers below 2^53)."""
    n = 1 if strata is None else strata.bounds.size
    if values.dtype == np.bool_:
        out = np.zeros(n, np.int64)
        out[0] = np.count_nonzero(values)
        if strata is not None:
            out[1:] = np.bincount(strata.codes[values], minlength=n - 1)
        return out
    v = values.astype(np.float64)
    whole = np.array([v.sum()])
    if strata is None:
        return whole
    return np.concatenate((whole, np.bincount(strata.codes, weights=v, minlength=n - 1)))


def block_counts(
    strata: Strata | None, category: np.ndarray, k: int, where: np.ndarray | None = None
) -> np.ndarray:
    """Rows per block (0: the whole table, then each stratum of ``strata``) and category
    (``category``: int64 in ``0:k``), of the rows where ``where`` is true (all if ``None``):
    an int64 ``(blocks, k)`` table."""
    blocks = 1 if strata is None else strata.bounds.size
    cell = (
        category
        if strata is None
        else np.concatenate((category, (strata.codes + 1) * k + category))
    )
    if where is not None:
        cell = cell[where if strata is None else np.concatenate((where, where))]
    return np.bincount(cell, minlength=blocks * k).astype(np.int64).reshape(blocks, k)


def block_sizes(strata: Strata | None, n_rows: int) -> np.ndarray:
    """Rows per block (int64): ``n_rows``, then each stratum's."""
    rest = np.zeros(0, np.int64) if strata is None else np.diff(strata.bounds)
    return np.concatenate(([n_rows], rest)).astype(np.int64)


def block_group_by(
    frame: pl.DataFrame,
    strata: Strata | None,
    keys: list[str],
    aggs: list[pl.Expr],
    rollup: list[pl.Expr],
) -> pl.DataFrame:
    """``frame``'s rows aggregated by ``keys`` within each block, with its number in
    ``_block`` (0: the whole table; ``k``: stratum ``k - 1`` of ``strata``; rows unordered):
    ``aggs`` over each stratum's rows (one ``group_by`` with the stratum), the whole table's
    by ``rollup`` of those results (e.g. sums of counts), not over the rows again."""
    block = pl.col(f"{TMP}block")
    if strata is None:
        return frame.group_by(keys).agg(aggs).with_columns(pl.lit(0, pl.Int64).alias(f"{TMP}block"))
    per = frame.with_columns(pl.Series(f"{TMP}block", strata.codes + 1)).group_by(block, *keys)
    per = per.agg(aggs)
    whole = per.group_by(keys).agg(rollup).with_columns(pl.lit(0, pl.Int64).alias(f"{TMP}block"))
    return pl.concat([whole.select(per.columns), per])


def check_by_names(by: list[str], outputs: Iterable[str], func: str) -> None:
    """Raise ``ValueError`` if a ``by`` column has the name of one of the output's own
    columns (the table would have two columns of that name)."""
    clash = [c for c in by if c in set(outputs)]
    if clash:
        raise ParameterError(
            f"{func}: by column(s) {clash} have the name of an output column of {func}; "
            "rename them first"
        )


#: Label styles of :func:`band_labels`.
BAND_STYLES = ("dash", "interval", "integer")


def band_labels(edges: Sequence[float], style: str = "dash") -> list[str]:
    """Labels of left-closed bands between consecutive ``edges``.

    ``style="dash"`` (default) writes ``[51, 75)`` as ``"51-75"``; ``"interval"`` as
    ``"[51, 75)"``; ``"integer"`` as ``"51-74"`` (whole-number edges only: the last whole
    value inside the band). An infinite upper edge gives ``"75+"`` in every style.

    >>> band_labels((0, 10, 100, float("inf")))
    ['0-10', '10-100', '100+']
    >>> band_labels((18, 51, 75, float("inf")), style="integer")
    ['18-50', '51-74', '75+']
    """
    if not isinstance(style, str) or style not in BAND_STYLES:
        raise ParameterError(
            f"labels (the band label style) must be one of {BAND_STYLES}, got {style!r:.60}"
        )
    if not isinstance(edges, Iterable) or isinstance(edges, str):
        raise ParameterError(f"band edges: give a sequence of numbers, got {edges!r:.80}")
    try:
        e = [float(x) for x in edges]
    except (TypeError, ValueError):
        raise ParameterError(f"band edges: give a sequence of numbers, got {edges!r:.80}") from None
    if len(e) < 2:
        raise ParameterError(f"give at least two band edges, got {list(edges)}")
    if any(not b > a for a, b in itertools.pairwise(e)):
        raise ParameterError(f"band edges must be strictly increasing, got {list(edges)}")
    if any(math.isnan(x) for x in e) or math.isinf(e[0]):
        raise ParameterError(
            f"band edges must be numbers with a finite first edge, got {list(edges)}"
        )
    if style == "integer" and any(not math.isinf(x) and x != int(x) for x in e):
        raise ParameterError(f"style='integer' needs whole-number band edges, got {list(edges)}")
    labels = []
    for lo, hi in itertools.pairwise(e):
        if math.isinf(hi):
            labels.append(f"{param_label(lo)}+")
        elif style == "interval":
            labels.append(f"[{param_label(lo)}, {param_label(hi)})")
        elif style == "integer":
            labels.append(f"{int(lo)}-{int(hi) - 1}" if hi - lo > 1 else f"{int(lo)}")
        else:
            labels.append(f"{param_label(lo)}-{param_label(hi)}")
    return labels


def band_expr(column: str, edges: Sequence[float], style: str = "dash") -> pl.Expr:
    """Polars expression assigning each value of ``column`` its band label (an ``Enum``).

    Bands are left-closed, ``[lo, hi)``; values outside every band, and nulls, give null.
    ``style``: the labels of :func:`band_labels`.
    """
    labels = band_labels(edges, style)
    e = [float(x) for x in edges]
    expr = pl.lit(None, dtype=pl.Utf8)
    for lo, hi, lab in reversed(list(zip(e[:-1], e[1:], labels))):
        cond = pl.col(column) >= lo
        if not math.isinf(hi):
            cond = cond & (pl.col(column) < hi)
        expr = pl.when(cond).then(pl.lit(lab)).otherwise(expr)
    return expr.cast(pl.Enum(labels))


def reached_expr(df: pl.DataFrame, threshold: float, func: str = "magnitude") -> pl.Expr:
    """Boolean expression: has the patient reached CED >= ``threshold`` mSv?

    ``reached_<T>`` where the patients table has it; otherwise ``ced_msv >= T``, which is the
    same thing: the running CED never decreases and ``ced_msv`` is its last value on every
    path of :func:`recurct.cumulative_dose` (totals only too: one summation rule, the
    correctly rounded sum of the doses whatever their order). The one definition of "reached T" in
    :mod:`recurct.stats`. A patient for whom it is unknown (a null ``reached_<T>``, or without
    it a null or NaN ``ced_msv``: :func:`unknown_reached`) gives false here; every function
    that counts patients reaching T drops such patients first, with a counted
    :class:`~recurct.errors.DroppedRowsWarning` (``site_table``, ``site_aggregates``,
    ``meta_proportion``, ``forest``, ``magnitude``, ``standardise``).

    Raises
    ------
    ValueError
        If the table has neither column (``func`` names the caller in the message).
    """
    lab = param_label(threshold)
    if f"reached_{lab}" in df.columns:
        return pl.col(f"reached_{lab}").fill_null(False).cast(pl.Boolean)
    if "ced_msv" in df.columns:
        return (pl.col("ced_msv") >= float(threshold)).fill_null(False)
    raise DataError(
        f"{func}: the patients table has neither 'reached_{lab}' nor 'ced_msv'; "
        f"build it with recurct.cumulative_dose(exams, thresholds=[{lab}])"
    )


def unknown_reached(df: pl.DataFrame, threshold: float) -> pl.Series:
    """Boolean Series: is it unknown whether the patient reached ``threshold`` mSv? A null
    ``reached_<T>`` (the column :func:`reached_expr` reads) or, without that column, a null
    or NaN ``ced_msv``. (All false when the table has neither column.)"""
    col = f"reached_{param_label(threshold)}"
    if col not in df.columns:
        col = "ced_msv"
    if col not in df.columns:
        return pl.Series("unknown", [False] * df.height, pl.Boolean)
    s = df.get_column(col)
    unknown = s.is_null()
    if s.dtype.is_float():
        unknown = unknown | s.is_nan().fill_null(False)
    return unknown.alias("unknown")


def unknown_column(df: pl.DataFrame, threshold: float) -> str:
    """The column :func:`unknown_reached` reads, for messages: ``reached_<T>`` or ``ced_msv``."""
    col = f"reached_{param_label(threshold)}"
    return col if col in df.columns else "ced_msv"


def bootstrap_share(
    n: np.ndarray,
    k: np.ndarray,
    *,
    n_boot: int,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the pooled share ``sum(k) / sum(n)``.

    ``n`` and ``k`` hold patients and patients >= T per cluster. With two or more clusters, the
    clusters are resampled with replacement (a multinomial draw of cluster weights); with one
    cluster, its patients are resampled, which for a share is exactly a binomial draw.
    """
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    m = n.size
    if m >= 2:
        shares = np.empty(n_boot)
        chunk = max(1, 5_000_000 // m)
        for start in range(0, n_boot, chunk):
            size = min(chunk, n_boot - start)
            w = rng.multinomial(m, np.full(m, 1.0 / m), size=size).astype(np.float64)
            shares[start : start + size] = (w @ k) / (w @ n)
    else:
        total = int(n.sum())
        p = float(k.sum()) / total
        shares = rng.binomial(total, p, size=n_boot) / total
    lo, hi = np.quantile(shares, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


#: The cluster bootstrap with fewer clusters than this warns: its 95% percentile interval
#: covered 71-81% with 3-5 sites in simulations (docs/statistics.md, "Confidence intervals").
FEW_CLUSTERS = 10


def share_interval(
    n: np.ndarray,
    k: np.ndarray,
    *,
    n_boot: int,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[float, float, bool]:
    """The interval of ``magnitude(ci="bootstrap")`` for the pooled share ``sum(k) / sum(n)``
    of one row: ``(lo, hi, bootstrapped)``.

    The percentile bootstrap (:func:`bootstrap_share`, clusters resampled) where the row has
    two or more clusters and some but not all of its patients reached T. Elsewhere the
    Clopper-Pearson interval of the pooled counts, and ``bootstrapped`` is False: with one
    cluster the bootstrap is a binomial draw around the observed share, whose percentile
    interval under-covers small shares (64% for a 95% interval at n=50, p=0.02), and with 0
    or all events every replicate equals the share (an interval of width 0).
    """
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    total, events = float(n.sum()), float(k.sum())
    if n.size >= 2 and 0 < events < total:
        lo, hi = bootstrap_share(n, k, n_boot=n_boot, alpha=alpha, rng=rng)
        return lo, hi, True
    lo, hi = proportion_ci(events, total, alpha, "beta")
    return float(lo), float(hi), False


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def result_repr(obj: object) -> str:
    """A short ``repr`` of a frozen result: its settings, and the shape of each table.

    A result printed in a notebook shows what it holds (``curve: 512 rows``) instead of every
    row of every table.
    """
    import dataclasses

    import pandas as pd

    parts = []
    for field in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, field.name)
        if isinstance(value, pl.DataFrame | pd.DataFrame):
            text = f"<{len(value):,} rows x {len(value.columns)} columns>"
        elif field.name == "model" and value is not None and not isinstance(value, str):
            text = f"<{type(value).__name__}>"
        else:
            text = repr(value)
        parts.append(f"{field.name}={text}")
    return f"{type(obj).__name__}({', '.join(parts)})"
