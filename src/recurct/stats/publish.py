"""Tables for papers: readable labels, "n (%, 95% CI)" cells, Markdown, LaTeX, CSV and Excel.

recurct's tables use short column names and fractions (``n_reached``, ``share = 0.0133``,
``days_to_median``); a paper needs "Patients with CED ≥ 100 mSv, n (%, 95% CI)" and
"33,407 (1.33%, 1.32–1.35)". Two steps:

* :func:`readable` -- the same numbers with readable column labels (units in the label) and
  fractions as percentages (labelled "%"): what ``recurct analyze`` prints and writes.
* :func:`publication_table` -- text cells for a paper: counts with thousands separators,
  ``"n (p%, lo–hi)"`` for a share with its 95% CI, ``"median (q1–q3)"`` for the CED among
  patients at or above the threshold.

Both recognise the magnitude table (:func:`recurct.stats.magnitude`), site tables
(:func:`recurct.stats.site_table`, :func:`recurct.stats.meta_proportion`), the pooled and
subgroup rows of a meta-analysis (``MetaResult.pooled``, ``.subgroups``), age-standardised
tables (:func:`recurct.stats.standardise`) and reproduction tables
(:class:`recurct.studies.Reproduction`); :func:`export_table` writes either to Markdown
(``.md``), LaTeX (``.tex``), CSV (``.csv``) or Excel (``.xlsx``, with ``openpyxl`` from the
``excel`` extra: ``pip install recurct[excel]``), chosen by the file's extension.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from recurct import _checks
from recurct._frames import from_polars, param_label, to_polars
from recurct._outdir import atomic_file
from recurct.errors import DataError, ParameterError
from recurct.stats._magnitude import MAGNITUDE_COLUMNS

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = [
    "FORMULA_START",
    "LABELS",
    "csv_safe",
    "export_table",
    "publication_table",
    "readable",
    "table_kind",
    "to_latex",
    "to_markdown",
]

TableKind = Literal["magnitude", "sites", "meta", "standardised", "reproduction", "other"]

LABELS: dict[str, str] = {
    "threshold": "Threshold (mSv)",
    "window_days": "Window (days)",
    "n_patients": "Patients",
    "n_exams": "Exams",
    "n_reached": "Patients ≥ {T} (n)",
    "share": "Patients ≥ {T} (%)",
    "share_lo": "95% CI low (%)",
    "share_hi": "95% CI high (%)",
    "ced_median": "Median CED of patients ≥ {T} (mSv)",
    "ced_q1": "CED Q1 of patients ≥ {T} (mSv)",
    "ced_q3": "CED Q3 of patients ≥ {T} (mSv)",
    "ced_min": "Min CED of patients ≥ {T} (mSv)",
    "ced_max": "Max CED of patients ≥ {T} (mSv)",
    "days_to_median": "Median days to {T}",
    "days_to_min": "Fewest days to {T}",
    "exams_to_median": "Median exams to {T}",
    "n_age_le_cut": "Patients ≥ {T} aged ≤ {cut} y (n)",
    "share_age_le_cut": "Patients ≥ {T} aged ≤ {cut} y (%)",
    "share_female": "Female of patients ≥ {T} (%)",
    "share_male": "Male of patients ≥ {T} (%)",
    "site": "Site",
    "country": "Country",
    "academic": "Academic",
    "weight": "Weight (%)",
    "crude_share": "Crude share (%)",
    "std_share": "Age-standardised share (%)",
    "std_share_lo": "95% CI low (%)",
    "std_share_hi": "95% CI high (%)",
    "weight_covered": "Standard weight covered (%)",
    "mean_share": "Mean of the site shares ≥ {T} (%)",
    "median_share": "Median of the site shares ≥ {T} (%)",
    "min_share": "Lowest site share ≥ {T} (%)",
    "max_share": "Highest site share ≥ {T} (%)",
    "n_sites": "Sites",
    "share_pred_lo": "95% prediction interval low (%)",
    "share_pred_hi": "95% prediction interval high (%)",
    "tau2": "τ²",
    "i2": "I² (%)",
    "n_groups": "Age groups with patients",
    "n_groups_empty": "Age groups without patients",
    "ci": "CI method",
    "figure": "Figure",
    "description": "Description",
    "unit": "Unit",
    "published": "Published",
    "reproduced": "Reproduced",
    "reproduced_lo": "95% CI low",
    "reproduced_hi": "95% CI high",
    "tolerance": "Tolerance",
    "within_tolerance": "Within tolerance",
    "comparison": "Comparison",
    "note": "Note",
    "age_band": "Age band (years)",
    "sex": "Sex",
    "facility": "Facility",
    "indication": "Indication",
    "band": "Dose band (mSv)",
    "band_lo": "Band from (mSv)",
    "band_hi": "Band to (mSv)",
    "n_total": "Patients in total",
}
"""Readable labels of recurct's columns (``{T}`` is the threshold where it is one value; "of
patients ≥ T" means among the patients whose CED reached it)."""

#: Columns holding fractions (shown as percentages); besides these, every numeric column with
#: ``share`` among the words of its name (``mean_share``, ``share_pred_lo``, ``cum_share_ge``,
#: ...), see :func:`_is_fraction`.
_FRACTIONS = frozenset(
    {
        "share",
        "share_lo",
        "share_hi",
        "share_age_le_cut",
        "share_female",
        "share_male",
        "crude_share",
        "std_share",
        "std_share_lo",
        "std_share_hi",
        "weight_covered",
        "i2",
    }
)

#: The label of ``share`` in a table that is not about patients reaching one threshold (dose
#: bands, exams per patient) and in the pooled rows of a meta-analysis.
_SHARE_LABEL = {"other": "Share (%)", "meta": "Pooled share ≥ {T} (%)"}


def _is_fraction(column: str, kind: str) -> bool:
    """Whether ``column`` holds fractions (shown as percentages)."""
    return (
        column in _FRACTIONS
        or "share" in column.split("_")
        or (column == "weight" and kind == "sites")
    )


_DROP = frozenset({"effect", "variance", "corrected"})


def _unwrap(table: Any) -> Any:
    """A Reproduction (``.table``), SiteTable or MetaResult (``.sites``) -> its table."""
    if isinstance(table, pl.DataFrame) or hasattr(table, "columns"):
        return table
    for attr in ("table", "sites"):
        inner = getattr(table, attr, None)
        if inner is not None:
            return inner
    raise ParameterError(
        f"expected a table (polars, pandas or pyarrow), got {type(table).__name__}"
    )


#: Columns only a magnitude table has (not a site table): with the columns of a share and its
#: CI, one of them makes a table a magnitude table, even with a ``site`` column
#: (``magnitude(patients, 100, by="site")``).
_MAGNITUDE_ONLY = frozenset(MAGNITUDE_COLUMNS) - {
    "threshold",
    "n_patients",
    "n_reached",
    "share",
    "share_lo",
    "share_hi",
}


def table_kind(table: Any) -> TableKind:
    """Which recurct table this is, from its columns.

    A table with the columns of a share and its CI (``n_reached``, ``share``, ``share_lo``,
    ``share_hi``) and one that only a magnitude table has (``n_exams``, ``ced_median``,
    ``days_to_median``, ...), but no ``weight`` (a site table's), is a magnitude table, also
    where it has a ``site`` column (a magnitude table by site); else a table with ``site``,
    ``n_patients`` and ``share`` is a site table (also one with ``weight`` and ``n_exams``:
    a hand-made site table keeps its weight and its exams).
    """
    df, _ = to_polars(_unwrap(table))
    cols = set(df.columns)
    share_ci = {"n_reached", "share", "share_lo", "share_hi"} <= cols
    if {"figure", "published", "reproduced"} <= cols:
        return "reproduction"
    if {"model", "n_sites", "effect", "se", "share", "share_lo", "share_hi"} <= cols:
        return "meta"  # MetaResult.pooled or .subgroups
    if {"std_share", "std_share_lo", "std_share_hi"} <= cols:
        return "standardised"
    if share_ci and cols & _MAGNITUDE_ONLY and "weight" not in cols:
        return "magnitude"
    if {"site", "n_patients", "share"} <= cols:
        return "sites"
    if share_ci:
        return "magnitude"
    return "other"


def _label_args(threshold: Any, age_cut: Any, fn: str) -> tuple[float | None, float]:
    """``threshold`` (None, or a finite number > 0) and ``age_cut`` (a finite number > 0),
    else ``ParameterError``."""
    if threshold is not None:
        threshold = _checks.threshold(threshold, fn)
    return threshold, _checks.number(age_cut, fn, "age_cut", lo=0.0, lo_open=True, what=" years")


def _digits(digits: Any, fn: str) -> int:
    """``digits``: a whole number from 0 to 20, else ``ParameterError``."""
    return _checks.integer(digits, fn, "digits", hi=20)


#: The ``alpha`` of recurct's statistics functions (a 95% interval).
DEFAULT_ALPHA = 0.05

#: How a null stratum (a missing group value) is shown, in tables and figure legends alike.
NULL_STRATUM = "(missing)"


def _summary_value(obj: Any, column: str) -> float | None:
    """Row 0 of ``column`` of the summary a result carries: a SiteTable's ``summary``, or
    the second item of a ``(sites, summary)`` pair; None for a plain table, a result without
    a summary or that column, or a null there."""
    if isinstance(obj, tuple) and len(obj) == 2:
        summary = obj[1]
    elif isinstance(obj, pl.DataFrame) or obj is None:
        return None
    else:
        summary = getattr(obj, "summary", None)
    if summary is None or not hasattr(summary, "columns"):
        return None
    s, _ = to_polars(summary)
    if column in s.columns and s.height and s[column][0] is not None:
        return float(s[column][0])
    return None


def carried_alpha(obj: Any) -> float | None:
    """The ``alpha`` a result carries: a SiteTable's ``summary["alpha"]`` (or that of a
    ``(sites, summary)`` pair), a MetaResult's ``info["alpha"]``, a curve result's
    ``.alpha``; None for a plain table (which does not record the level its intervals were
    computed at)."""
    if isinstance(obj, pl.DataFrame) or obj is None:
        return None
    info = getattr(obj, "info", None)
    if isinstance(info, dict) and info.get("alpha") is not None:
        return float(info["alpha"])
    carried = _summary_value(obj, "alpha")
    if carried is not None:
        return carried
    value = getattr(obj, "alpha", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def resolve_alpha(obj: Any, alpha: Any, fn: str) -> float:
    """The level of ``obj``'s intervals: the one it carries (:func:`carried_alpha`), else
    ``alpha`` (default :data:`DEFAULT_ALPHA`); ``ParameterError`` for a bad ``alpha`` or one
    that differs from the level ``obj`` carries."""
    carried = carried_alpha(obj)
    if alpha is None:
        return DEFAULT_ALPHA if carried is None else carried
    alpha = _checks.alpha(alpha, fn)
    if carried is not None and not math.isclose(alpha, carried, rel_tol=1e-9, abs_tol=1e-12):
        raise ParameterError(
            f"{fn}: alpha={alpha:g}, but the {type(obj).__name__} was computed at "
            f"alpha={carried:g} ({level_text(carried)} intervals); leave alpha out, or pass "
            f"alpha={carried:g}"
        )
    return alpha


def level_text(alpha: float) -> str:
    """The confidence level of ``alpha`` as a label: 0.05 -> "95%", 0.1 -> "90%",
    0.001 -> "99.9%"."""
    return f"{round(100 * (1 - alpha), 10):g}%"


#: The columns a magnitude table must have, and those it may have, all numbers.
_MAGNITUDE_NEEDS = ("n_patients", "n_reached", "share", "share_lo", "share_hi")
_MAGNITUDE_MAY = (
    "n_exams",
    "ced_median",
    "ced_q1",
    "ced_q3",
    "days_to_median",
    "days_to_min",
    "n_age_le_cut",
    "share_age_le_cut",
)


#: Per kind of table (:func:`table_kind`): its name in messages, the columns it must have,
#: those of them and others it may have that must hold numbers, and what to pass instead.
_TABLE_RULES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "magnitude": (
        "magnitude", _MAGNITUDE_NEEDS, _MAGNITUDE_MAY, "pass the table of recurct.stats.magnitude()"
    ),
    "sites": (
        "site",
        ("site", "n_patients", "n_reached", "share"),
        ("share_lo", "share_hi", "weight"),
        "pass the table of recurct.stats.site_table() or MetaResult.sites",
    ),
    "meta": (
        "meta-analysis",
        ("n_sites", "share", "share_lo", "share_hi"),
        ("n_patients", "n_reached", "share_pred_lo", "share_pred_hi", "tau2", "i2"),
        "pass MetaResult.pooled or .subgroups of recurct.stats.meta_proportion()",
    ),
    "standardised": (
        "age-standardised",
        ("n_patients", "crude_share", "std_share", "std_share_lo", "std_share_hi"),
        ("n_reached",),
        "pass the table of recurct.stats.standardise()",
    ),
    "reproduction": (
        "reproduction",
        ("figure", "published", "reproduced"),
        ("reproduced_lo", "reproduced_hi"),
        "pass a recurct.studies Reproduction or its .table",
    ),
}

#: Columns of a table's needs that are text, not numbers.
_TEXT_COLUMNS = frozenset({"site", "figure"})


def _check_table(df: pl.DataFrame, kind: str, fn: str) -> None:
    """``DataError`` naming the column and the kind of table unless ``df`` is a whole table
    of that ``kind`` (:data:`_TABLE_RULES`): the columns it needs, numbers in those of them
    and of the columns it may have that it has, ``days_to_min`` finite where present."""
    if kind not in _TABLE_RULES:
        return
    what, needs, may, hint = _TABLE_RULES[kind]
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise DataError(f"{fn}: the {what} table lacks column(s) {missing}; {hint}")
    for c in [*needs, *(c for c in may if c in df.columns)]:
        s = df[c]
        if s.dtype == pl.Null or c in _TEXT_COLUMNS:
            continue
        if not s.dtype.is_numeric() or s.dtype == pl.Boolean:
            raise DataError(
                f"{fn}: column {c!r} of the {what} table must hold numbers, got {s.dtype}"
            )
        if c == "days_to_min" and s.dtype.is_float():
            bad = ~s.is_finite()
            if bad.any():
                rows = bad.fill_null(False).arg_true().head(5).to_list()
                raise DataError(
                    f"{fn}: column 'days_to_min' of the {what} table must hold finite "
                    f"numbers (or null); {int(bad.sum())} row(s) do not, e.g. row(s) {rows}"
                )


def _check_magnitude(df: pl.DataFrame, fn: str) -> None:
    """``DataError`` naming the column unless ``df`` is a whole magnitude table."""
    _check_table(df, "magnitude", fn)


def _carried_threshold(table: Any, threshold: float | None) -> float | None:
    """``threshold``, else the one a result carries (a SiteTable's ``summary["threshold"]``,
    where its summary has one and it is not null: :func:`_summary_value`), else None."""
    return threshold if threshold is not None else _summary_value(table, "threshold")


def _threshold_values(df: pl.DataFrame) -> list[float]:
    """The distinct values of the table's numeric ``threshold`` column (nulls and NaN left
    out), in order; empty where it has none."""
    if "threshold" not in df.columns or not df.schema["threshold"].is_numeric():
        return []
    s = df["threshold"].cast(pl.Float64).drop_nulls().drop_nans()
    return sorted(s.unique().to_list())


def _same_threshold(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def _resolve_threshold(
    table: Any, df: pl.DataFrame, threshold: float | None, fn: str
) -> float | None:
    """The threshold the labels name: ``threshold``, else the one a result carries (a
    SiteTable's ``summary["threshold"]``), else the one value of the table's ``threshold``
    column, else None ("the threshold").

    ``threshold=`` only labels the table, it selects no rows: a ``threshold`` that is not
    the only value of the table's ``threshold`` column, or not the threshold a SiteTable
    carries, raises ``ParameterError`` naming both (the labels would name one threshold
    over the numbers of another)."""
    values = _threshold_values(df)
    carried = _carried_threshold(table, None)
    if threshold is not None:
        if values and (len(values) > 1 or not _same_threshold(values[0], threshold)):
            held = ", ".join(param_label(v) for v in values)
            hint = (
                "select its rows first, e.g. table.filter(pl.col('threshold') == "
                f"{param_label(threshold)}), or leave threshold out (a column of thresholds "
                "is then kept)"
                if len(values) > 1 and any(_same_threshold(v, threshold) for v in values)
                else "leave threshold out: the labels then name the table's own"
            )
            raise ParameterError(
                f"{fn}: threshold={param_label(threshold)}, but the table's 'threshold' "
                f"column holds {held} mSv; threshold= only labels the table, it selects no "
                f"rows: {hint}"
            )
        if carried is not None and not _same_threshold(carried, threshold):
            raise ParameterError(
                f"{fn}: threshold={param_label(threshold)}, but the "
                f"{type(table).__name__} was computed at threshold={param_label(carried)}; "
                f"leave threshold out, or pass threshold={param_label(carried)}"
            )
        return threshold
    if carried is not None:
        return carried
    return values[0] if len(values) == 1 else None


def _threshold_text(threshold: float | None) -> str:
    """The threshold as the labels name it: "100 mSv", or "the threshold" where the table
    has several (or none)."""
    return "the threshold" if threshold is None else f"{param_label(threshold)} mSv"


def _label(
    column: str, t_text: str, cut: str, kind: str = "magnitude", level: str = "95%"
) -> str:
    """The readable label of ``column`` in a table of this ``kind`` (:func:`table_kind`),
    its interval at ``level`` (:func:`level_text`)."""
    label = LABELS.get(column, column)
    if column == "share" and kind in _SHARE_LABEL:
        label = _SHARE_LABEL[kind]
    elif column not in LABELS and _is_fraction(column, kind):
        label = f"{column} (%)"
    return _at_level(label.replace("{T}", t_text).replace("{cut}", cut), level)


def _at_level(label: str, level: str) -> str:
    """``label`` with its "95%" interval at ``level`` ("90%", ...)."""
    return label if level == "95%" else label.replace("95% ", f"{level} ")


def readable(
    table: Any,
    *,
    threshold: float | None = None,
    age_cut: float = 50,
    percent: bool = True,
    alpha: float | None = None,
) -> Frame:
    """The table's numbers under readable labels, fractions as percentages.

    Parameters
    ----------
    table : polars, pandas or pyarrow table, or a Reproduction / SiteTable / MetaResult
        A recurct table (see the module docstring); unknown columns keep their names (with
        " (%)" added where they hold fractions).
    threshold : float, optional
        The CED threshold in mSv, for the labels; by default the threshold a SiteTable
        carries, else the one value of the table's ``threshold`` column (else the labels
        say "the threshold"). It labels the table and selects no rows: a threshold that is
        not the only value of the table's ``threshold`` column (or not the one a SiteTable
        was computed at) raises :class:`~recurct.errors.ParameterError`. A ``threshold``
        column with several values is always kept.
    age_cut : float
        The ``age_cut`` the magnitude table was computed with (for its label).
    percent : bool
        Fractions as percentages (labelled "%"); False keeps fractions (labelled
        "(fraction)"). Fractions are every numeric column with ``share`` among the words of
        its name (``share``, ``share_lo``, ``mean_share``, ``share_pred_hi``,
        ``cum_share_ge``, ...), ``weight_covered``, ``i2`` and a site table's ``weight``:
        all converted alike.
    alpha : float, optional
        The level the intervals were computed at (the ``alpha`` passed to the statistics
        function, default 0.05), for the labels: ``alpha=0.1`` labels them "90% CI". A
        SiteTable or MetaResult carries its own level, used by default; passing a different
        ``alpha`` with one raises :class:`~recurct.errors.ParameterError`.

    Returns
    -------
    polars.DataFrame (pandas if the table was pandas)
        The same rows; internal columns (``effect``, ``variance``) left out. ``share`` is
        labelled "Patients ≥ T (%)" in magnitude and site tables, "Pooled share ≥ T (%)" in
        the pooled rows of a meta-analysis and "Share (%)" in other tables (a dose band's or
        an exam count's share of the patients).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"threshold": [100.0], "n_patients": [200], "n_reached": [3],
    ...                   "share": [0.015], "share_lo": [0.005], "share_hi": [0.043]})
    >>> readable(t).columns[3:5]
    ['Patients ≥ 100 mSv (%)', '95% CI low (%)']
    """
    percent = _checks.flag(percent, "readable", "percent")
    threshold, age_cut = _label_args(threshold, age_cut, "readable")
    alpha = resolve_alpha(table, alpha, "readable")
    return _readable(
        table, threshold=threshold, age_cut=age_cut, percent=percent, alpha=alpha, fn="readable"
    )


def _readable(
    table: Any,
    *,
    threshold: float | None,
    age_cut: float,
    percent: bool,
    alpha: float,
    fn: str,
) -> Frame:
    """:func:`readable` of checked arguments; errors name ``fn``, the function called."""
    level = level_text(alpha)
    df, kind = to_polars(_unwrap(table))
    threshold = _resolve_threshold(table, df, threshold, fn)
    tkind = table_kind(df)
    if tkind == "magnitude":
        _check_magnitude(df, fn)
    t_text = _threshold_text(threshold)
    cut = param_label(age_cut)
    exprs = []
    for c in df.columns:
        if c in _DROP:
            continue
        label = _label(c, t_text, cut, tkind, level)
        numeric = df.schema[c].is_numeric() and df.schema[c] != pl.Boolean
        if numeric and _is_fraction(c, tkind):
            if percent:
                exprs.append((pl.col(c).cast(pl.Float64) * 100).alias(label))
            else:
                exprs.append(pl.col(c).alias(label.replace("(%)", "(fraction)")))
        else:
            exprs.append(pl.col(c).alias(label))
    return from_polars(df.select(exprs), kind)


def _num(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return _fixed(v, digits)
    return str(v)


def _fixed(v: float | Decimal, digits: int, spec: str = "f") -> str:
    """``v`` with ``digits`` decimals and thousands separators (``spec="g"``: ``digits``
    significant digits, no separators), never a negative zero: every number cell is written
    through it (:func:`_no_negative_zero`)."""
    text = f"{v:,.{digits}f}" if spec == "f" else f"{v:.{digits}g}"
    return _no_negative_zero(text)


def _no_negative_zero(text: str) -> str:
    """``"-0.00"``, ``"-0"`` or ``"-0e+00"`` (a negative zero, or a tiny negative number
    rounded to zero) without its sign; other text as it is."""
    if text.startswith("-") and not text.split("e")[0].strip("-0.,"):
        return text[1:]
    return text


def _count(v: Any, digits: int) -> str:
    """A count: a whole number without decimals even where it is a float (a pandas count
    column holding a NaN is float); other values as :func:`_num`."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return f"{int(v):,}"
    return _num(v, digits)


#: Decimal arithmetic wide enough to hold any float's percentage to 20 decimals exactly.
_EXACT = Context(prec=400, rounding=ROUND_HALF_EVEN)


def _written(p: Any) -> str:
    """A number's shortest decimal form in its own precision: ``repr`` of a float, NumPy's
    shortest form of a ``float32`` or ``float16`` (``np.float32(0.575)`` is 0.575, not
    0.574999988079071, its exact value), as recurct reads such a column elsewhere
    (:func:`recurct._casts.as_written`)."""
    dtype = getattr(p, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "f" and dtype.itemsize < 8:
        return str(p)
    return repr(float(p))


def _pct(p: Any, digits: int) -> str:
    """A fraction as a percentage with ``digits`` decimals, without the "%" sign.

    The percentage is 100 times the share's decimal value, its shortest decimal form
    (``repr``: 0.575 for 23/40, 0.00075 for 3/4000; a ``float32`` share in its own
    precision, :func:`_written`), computed exactly (no binary rounding of ``100 * p``) and
    rounded to ``digits`` decimals, an exact tie to the even digit: 23/40 -> "58" at 0
    digits, 109/200 -> "54", 1/32 -> "3.12" at 2. For a share ``k/n`` of whole counts this is
    ``100 k/n`` rounded exactly, tie to even, wherever ``n * 10**digits`` is at most 10**13
    (at 2 digits any ``n`` up to 10**11): past that the share's 17 significant digits no
    longer tell a tie from a number beside it, and past them the decimals are zeros
    (``_pct(1/3, 20)`` is "33.33333333333333000000"). A share above 0 that would round to
    zero is shown as ``"<0.01"`` (``"<0.1"`` at 1 digit, ``"<1"`` at 0), never as 0;
    likewise a share below 1 that would round to 100% as ``">99.99"`` (``">99.9"``,
    ``">99"``), never as 100; a negative share that rounds to zero as ``"0.00"``, not
    ``"-0.00"`` (:func:`_fixed`); a missing one as "–"."""
    if not _finite(p):
        return "–"
    value = _EXACT.multiply(Decimal(_written(p)), Decimal(100))
    step = Decimal(1).scaleb(-digits)
    rounded = value.quantize(step, context=_EXACT)
    if value > 0 and rounded == 0:
        return f"<{step:.{digits}f}"
    if 0 < value < 100 and rounded == 100:
        return f">{100 - step:.{digits}f}"
    return _fixed(rounded, digits)


def _count_share(n: Any, p: Any, lo: Any, hi: Any, digits: int) -> str:
    """``"n (p%, lo–hi)"``; the CI part left out where it is missing."""
    if not _finite(p):
        return _count(n, digits) if n is not None else "–"
    head = "" if n is None else f"{_count(n, digits)} "
    ci = f", {_pct(lo, digits)}–{_pct(hi, digits)}" if _finite(lo) and _finite(hi) else ""
    return f"{head}({_pct(p, digits)}%{ci})"


#: Columns of other tables (dose bands, exam counts) shown as written: whole numbers without
#: decimals, others with the digits they have, an infinite band edge as "∞".
_AS_WRITTEN = frozenset({"band_lo", "band_hi", "threshold", "at_least", "window_days"})


def _as_written(v: Any) -> str:
    """A number as written: ``250.0`` -> "250", ``1000.0`` -> "1,000", ``2.5`` -> "2.5",
    infinity -> "∞"."""
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, float) and math.isfinite(v):
        return f"{int(v):,}" if v.is_integer() else f"{v:,}"
    return _num(v, 0)


def _other_cell(column: str, v: Any, numeric: bool, digits: int) -> str:
    """One cell of a table :func:`publication_table` has no layout for: fractions as
    percentages, counts as whole numbers, band edges and thresholds as written."""
    if numeric and _is_fraction(column, "other"):
        return _pct(v, digits)
    if _is_count(column):
        return _count(v, digits)
    if column in _AS_WRITTEN:
        return _as_written(v)
    return _num(v, digits)


def _floats_as_written(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with its ``Float32`` and ``Float16`` columns as ``Float64`` numbers as written
    (a float32 0.575 is 0.575, :func:`recurct._casts.as_written`), so that their cells are
    rounded from the number as written, as recurct reads such columns elsewhere."""
    from recurct._casts import as_written

    narrow = [c for c, t in df.schema.items() if t in (pl.Float32, pl.Float16)]
    if not narrow:
        return df
    return df.with_columns(as_written(pl.col(c), df.schema[c]) for c in narrow)


def _finite(v: Any) -> bool:
    """A number that can be shown (not None, NaN or infinite)."""
    return v is not None and not isinstance(v, bool) and math.isfinite(v)


def publication_table(
    table: Any,
    *,
    threshold: float | None = None,
    age_cut: float = 50,
    digits: int = 2,
    alpha: float | None = None,
) -> Frame:
    """Text cells for a paper: ``"n (%, 95% CI)"``, ``"median (IQR)"``, readable labels.

    Parameters
    ----------
    table : a recurct table (see :func:`readable`)
    threshold, age_cut
        As in :func:`readable`: ``threshold`` names the threshold in the labels and selects
        no rows (a threshold that is not the only value of the table's ``threshold`` column
        raises :class:`~recurct.errors.ParameterError`).
    digits : int
        Decimals of percentages and their CIs (the age share, site weights and I² included)
        and of other non-integer numbers, except CEDs in mSv ("median (IQR)", always 1
        decimal, thousands separated: the precision of effective-dose estimates), days
        (whole days) and reproductions (below). A percentage is 100 times the share as
        Python prints it (its shortest decimal form: 0.575 for 23/40), computed exactly and
        rounded to the nearest decimal, an exact tie to the even digit; for ``k`` of ``n``
        patients this is ``100 k/n`` rounded exactly (1/32 = 3.125% shows as "3.12%", not
        "3.13%"; 23/40 = 57.5% as "58%" and 109/200 = 54.5% as "54%" with ``digits=0``)
        wherever ``n`` times ``10**digits`` is at most 10**13 (at 2 digits, any ``n`` up to
        10**11; past the share's 17 significant digits the decimals are zeros). Other numbers
        are rounded by Python from the stored binary number. A ``Float32`` (or ``Float16``)
        column is read as written (a float32 0.575 is 57.5%, not 57.4999988...%), as recurct
        reads such columns elsewhere. A share above 0 that would round to zero is shown as
        ``"<0.01"`` (``"<0.1"`` with ``digits=1``, ``"<1"`` with 0), never as 0; a share of
        exactly 0 as ``"0.00"``; likewise a share below 1 that would round to 100% as
        ``">99.99"``, never as 100; no cell shows a negative zero: a negative number that
        rounds to zero (a hand-made table's ``-0.0``; a CED, a number of days, τ² or a
        reproduced value alike) as ``"0.00"`` (``"0.0"``, ``"0"``), never ``"-0.00"``.
    alpha : float, optional
        As in :func:`readable`: the level the intervals were computed at (default 0.05, or
        the level a SiteTable or MetaResult carries), named in the labels ("90% CI").

    Returns
    -------
    polars.DataFrame (pandas if the table was pandas)
        All columns Utf8. Magnitude tables (also one with a ``site`` column, e.g.
        ``magnitude(patients, 100, by="site")``): the strata, ``Threshold (mSv)`` (where the
        table has several thresholds, whatever ``threshold`` says),
        ``Patients``, ``Exams``, ``Patients with CED ≥ T, n (%, 95% CI)``, ``CED among
        patients ≥ T, median (IQR), mSv``, ``Days from first exam to T, median (min)`` and
        ``Aged ≤ cut y at first exam, n (% of patients ≥ T)``. Site tables: ``Site`` (and
        other strata: country, academic where present), ``Threshold (mSv)`` (if several),
        ``Patients``, ``Patients with CED ≥ T, n (%, 95% CI)``, ``Weight (%)`` (the sites of
        a meta-analysis), then every other column, none dropped. Meta-analysis rows
        (``MetaResult.pooled``, ``.subgroups``): the subgroup,
        ``Sites``, ``Patients``, ``Patients with CED ≥ T, n (crude %)`` (all the sites'
        patients ≥ T over all their patients), ``Pooled share ≥ T, % (95% CI)`` (the model's
        estimate, ``"p%, lo–hi"``), ``95% prediction interval, %``, ``τ²``, ``I² (%)`` and
        ``Method`` (e.g. ``"random effects, logit, REML τ², HKSJ CI"``): the crude count is
        never printed beside the pooled share as if it were its numerator. Standardised:
        ``Patients``, ``Crude share ≥ T, n (%)`` (``"n (p%)"``),
        ``Age-standardised share ≥ T, % (95% CI)`` (``"p%, lo–hi"``). Reproductions:
        ``Figure`` (the description; the ID where it has none), ``Unit``, ``Published``,
        ``Reproduced (95% CI)``, ``Within tolerance`` ("yes", "no"; for a sample extreme,
        ``comparison="extreme"``, "in" or "out" of the model's central range, as in the
        study's own table: not a verdict that counts): counts (a unit such as patients or
        institutions, published without decimals) as whole numbers, the published value
        with the paper's own digits (``Published.rounding`` for a Reproduction, else the
        digits the number has: 13.4 -> "13.4"), the reproduced value with the same digits
        (``digits`` for percentages). Other tables (dose bands, exam counts): the labels of
        :func:`readable`, fractions (``share``, ``share_lo``, ``share_hi``, ``cum_share_ge``:
        every column with ``share`` among the words of its name) as percentages, counts
        as whole numbers, band edges and thresholds as written ("250", "1,000", "2.5",
        "∞"). An empty table gives the same columns, with no rows. A missing value (None,
        NaN) is shown as "–"; a null stratum (a missing group value) as "(missing)"
        (:data:`NULL_STRATUM`, as in the legends of :mod:`recurct.plot`), an empty text
        stratum as ``'""'``. Stratum columns may be text, categorical, enum, boolean,
        integer or dates; other columns a kind of table does not know are kept, after its
        own columns, formatted as in other tables, never dropped.
        Counts (``n_*`` columns) that are whole numbers are printed without decimals even
        where they are floats (a pandas count column holding a NaN is float).

    Raises
    ------
    DataError
        A table recognised as one kind (magnitude, site, meta-analysis, age-standardised,
        reproduction) that lacks a column that kind needs, or holds text where it needs
        numbers: the message names the column and the kind of table.
    ParameterError
        A bad argument; a ``threshold`` that is not the only value of the table's
        ``threshold`` column, or not the one a SiteTable carries: the message names both.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"threshold": [100.0], "n_patients": [200], "n_exams": [450],
    ...                   "n_reached": [3], "share": [0.015], "share_lo": [0.005],
    ...                   "share_hi": [0.043]})
    >>> publication_table(t).row(0)[2]
    '3 (1.50%, 0.50–4.30)'
    """
    threshold, age_cut = _label_args(threshold, age_cut, "publication_table")
    digits = _digits(digits, "publication_table")
    alpha = resolve_alpha(table, alpha, "publication_table")
    return _publication(
        table,
        threshold=threshold,
        age_cut=age_cut,
        digits=digits,
        alpha=alpha,
        fn="publication_table",
    )


#: The columns a site table's cells show (:func:`_site_cells`; the site is a stratum, the
#: threshold in the labels, or a column of its own where it has several values); any other
#: column of a site table is kept after them, never dropped.
_SITE_SHOWN = frozenset(
    {"n_patients", "n_reached", "share", "share_lo", "share_hi", "weight", "threshold", "ci"}
)


def _strata_and_extra(df: pl.DataFrame, kind: str) -> tuple[list[str], list[str]]:
    """The stratum columns of a table of this ``kind`` (shown first, as text) and the other
    columns its cells do not show (kept after them, formatted as in other tables)."""
    if kind == "reproduction":
        return [], []
    if kind == "sites":
        main = set(_SITE_SHOWN | _DROP)
    else:
        main = {
            *MAGNITUDE_COLUMNS,
            *_FRACTIONS,
            *_DROP,
            "weight",
            "n_groups",
            "n_groups_empty",
            "ci",
            *(("model", "transform", "tau2_method") if kind == "meta" else ()),
        }
        if kind == "meta":
            main |= _META_SHOWN
    rest = [c for c in df.columns if c not in main]
    strata = [c for c in rest if _is_stratum(c, df.schema[c])]
    return strata, [c for c in rest if c not in strata]


def _publication(
    table: Any,
    *,
    threshold: float | None,
    age_cut: float,
    digits: int,
    alpha: float,
    fn: str,
) -> Frame:
    """:func:`publication_table` of checked arguments; errors name ``fn``, the function
    called."""
    level = level_text(alpha)
    kind = table_kind(table)
    df, frame_kind = to_polars(_unwrap(table))
    df = _floats_as_written(df)
    if kind == "magnitude":
        _check_magnitude(df, fn)
    else:
        _check_table(df, kind, fn)
    threshold = _resolve_threshold(table, df, threshold, fn)
    t_text = _threshold_text(threshold)
    cut = param_label(age_cut)
    strata, extra = _strata_and_extra(df, kind)
    cells = {
        "magnitude": _magnitude_cells,
        "sites": _site_cells,
        "meta": _meta_cells,
        "standardised": _standardised_cells,
        "reproduction": _reproduction_cells,
    }.get(kind)
    # several thresholds: a column of them (none for an empty table)
    has_t = len(_threshold_values(df)) > 1 and kind in _THRESHOLD_COLUMN_KINDS
    rounding = _rounding_of(table) if kind == "reproduction" else {}
    numeric = {c: df.schema[c].is_numeric() and df.schema[c] != pl.Boolean for c in df.columns}
    rows: list[dict[str, str]] = []
    for r in df.iter_rows(named=True):
        if cells is None:
            rows.append(
                {
                    _label(c, t_text, cut, kind, level): _other_cell(c, v, numeric[c], digits)
                    for c, v in r.items()
                    if c not in _DROP
                }
            )
            continue
        out: dict[str, str] = {_label(c, t_text, cut, kind): _stratum_cell(r[c]) for c in strata}
        if has_t:
            t = r["threshold"]
            out[LABELS["threshold"]] = "–" if not _finite(t) else param_label(float(t))
        out.update(
            _reproduction_cells(r, t_text, cut, digits, rounding)
            if kind == "reproduction"
            else cells(r, t_text, cut, digits)
        )
        out.update(
            {_label(c, t_text, cut, kind): _other_cell(c, r[c], numeric[c], digits) for c in extra}
        )
        rows.append({_at_level(k, level): v for k, v in out.items()})
    if not rows:  # the columns a row would have
        if cells is None:
            header = [_label(c, t_text, cut, kind, level) for c in df.columns if c not in _DROP]
        else:
            blank = dict.fromkeys(df.columns)
            header = [_label(c, t_text, cut, kind) for c in strata]
            if has_t:
                header.append(LABELS["threshold"])
            header += list(cells(blank, t_text, cut, digits))
            header += [_label(c, t_text, cut, kind) for c in extra]
            header = [_at_level(h, level) for h in header]
        out_df = pl.DataFrame(schema=dict.fromkeys(header, pl.Utf8))
    else:
        out_df = pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.Utf8))
    return from_polars(out_df, frame_kind)


#: The kinds of table that show a column of thresholds where they have several.
_THRESHOLD_COLUMN_KINDS = frozenset({"magnitude", "standardised", "sites"})


#: Columns of a meta-analysis's pooled rows that its cells summarise (or leave out on purpose:
#: the transformed scale and the Q test are in the MetaResult, not in a paper's table).
_META_SHOWN = frozenset(
    {"n_sites", "se", "effect_lo", "effect_hi", "share_pred_lo", "share_pred_hi", "tau2", "q",
     "q_df", "q_p"}
)  # fmt: skip


def _is_stratum(column: str, dtype: Any) -> bool:
    """A column naming a group: text, categorical, enum, boolean, dates, or whole numbers
    that are not counts (``n_*``)."""
    if dtype in (pl.Utf8, pl.Categorical, pl.Boolean, pl.Null) or isinstance(dtype, pl.Enum):
        return True
    if dtype.is_temporal():
        return True
    return dtype.is_integer() and not _is_count(column)


def _stratum_cell(v: Any) -> str:
    """A stratum's value as text: a null as :data:`NULL_STRATUM`, empty text as ``'""'``,
    ``True``/``False`` as "yes"/"no", numbers and dates as written (no thousands
    separator: the year 2019 stays "2019")."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NULL_STRATUM
    if isinstance(v, bool):
        return "yes" if v else "no"
    text = str(v)
    return text if text.strip() else f'"{text}"'


def _is_count(column: str) -> bool:
    """A column of counts (``n_patients``, ``n_reached``, ...)."""
    return column.startswith("n_")


def _magnitude_cells(r: dict[str, Any], t_text: str, cut: str, digits: int) -> dict[str, str]:
    """The cells of one row of a magnitude table (after the strata and threshold)."""
    out = {"Patients": _count(r["n_patients"], digits)}
    if "n_exams" in r:
        out["Exams"] = _count(r["n_exams"], digits)
    out[f"Patients with CED ≥ {t_text}, n (%, 95% CI)"] = _count_share(
        r["n_reached"], r["share"], r["share_lo"], r["share_hi"], digits
    )
    if "ced_median" in r:
        iqr = ""
        if _finite(r.get("ced_q1")) and _finite(r.get("ced_q3")):
            iqr = f" ({_fixed(r['ced_q1'], 1)}–{_fixed(r['ced_q3'], 1)})"
        med = f"{_fixed(r['ced_median'], 1)}{iqr}" if _finite(r["ced_median"]) else "–"
        out[f"CED among patients ≥ {t_text}, median (IQR), mSv"] = med
    if "days_to_median" in r:
        d = _fixed(r["days_to_median"], 0) if _finite(r["days_to_median"]) else "–"
        if _finite(r.get("days_to_min")) and d != "–":
            d += f" ({int(r['days_to_min']):,})"
        out[f"Days from first exam to {t_text}, median (min)"] = d
    if "n_age_le_cut" in r:
        out[f"Aged ≤ {cut} y at first exam, n (% of patients ≥ {t_text})"] = _count_share(
            r["n_age_le_cut"], r.get("share_age_le_cut"), None, None, digits
        )
    return out


def _site_cells(r: dict[str, Any], t_text: str, cut: str, digits: int) -> dict[str, str]:
    """The cells of one row of a site table (or the sites of a meta-analysis)."""
    out = {"Patients": _count(r["n_patients"], digits)}
    out[f"Patients with CED ≥ {t_text}, n (%, 95% CI)"] = _count_share(
        r["n_reached"], r["share"], r.get("share_lo"), r.get("share_hi"), digits
    )
    if r.get("weight") is not None:
        out["Weight (%)"] = _pct(r["weight"], digits)
    return out


_META_MODEL = {"random": "random effects", "fixed": "common effect", "glmm": "binomial-normal GLMM"}
_META_TAU2 = {"reml": "REML", "pm": "Paule-Mandel", "dl": "DerSimonian-Laird", "ml": "ML"}
_META_CI = {"hksj": "HKSJ CI", "z": "z CI"}


def _meta_method(r: dict[str, Any]) -> str:
    """``"random effects, logit, REML τ², HKSJ CI"``: how a pooled row was estimated."""
    model = r.get("model")
    if model is None:
        return "–"
    parts = [_META_MODEL.get(model, str(model))]
    if r.get("transform") is not None:
        parts.append(str(r["transform"]))
    if model != "fixed" and r.get("tau2_method") is not None:
        parts.append(f"{_META_TAU2.get(r['tau2_method'], r['tau2_method'])} τ²")
    if r.get("ci") is not None:
        parts.append(_META_CI.get(r["ci"], str(r["ci"])))
    return ", ".join(parts)


def _meta_cells(r: dict[str, Any], t_text: str, cut: str, digits: int) -> dict[str, str]:
    """The cells of one pooled (or subgroup) row of a meta-analysis: the crude count and
    share, then the model's pooled share with its CI and prediction interval."""
    n, k = r.get("n_patients"), r.get("n_reached")
    crude = k / n if _finite(n) and _finite(k) and n > 0 else None
    lo, hi = r.get("share_pred_lo"), r.get("share_pred_hi")
    pred = f"{_pct(lo, digits)}–{_pct(hi, digits)}" if _finite(lo) and _finite(hi) else "–"
    tau2, i2 = r.get("tau2"), r.get("i2")
    return {
        "Sites": _count(r.get("n_sites"), digits),
        "Patients": _count(n, digits),
        f"Patients with CED ≥ {t_text}, n (crude %)": _count_share(k, crude, None, None, digits),
        f"Pooled share ≥ {t_text}, % (95% CI)": _count_share(
            None, r.get("share"), r.get("share_lo"), r.get("share_hi"), digits
        ).strip("()"),
        "95% prediction interval, %": pred,
        "τ²": _fixed(tau2, 3, "g") if _finite(tau2) else "–",
        "I² (%)": _pct(i2, digits),
        "Method": _meta_method(r),
    }


def _standardised_cells(r: dict[str, Any], t_text: str, cut: str, digits: int) -> dict[str, str]:
    """The cells of one row of an age-standardised table."""
    return {
        "Patients": _count(r["n_patients"], digits),
        f"Crude share ≥ {t_text}, n (%)": _count_share(
            r.get("n_reached"), r["crude_share"], None, None, digits
        ),
        f"Age-standardised share ≥ {t_text}, % (95% CI)": _count_share(
            None, r["std_share"], r["std_share_lo"], r["std_share_hi"], digits
        ).strip("()"),
    }


#: Units of reproduction rows that are counts (shown as whole numbers).
_COUNT_UNITS = frozenset(
    {"patients", "exams", "institutions", "hospitals", "sites", "facilities", "scanners"}
)


def _decimals(unit: float | None) -> int:
    """The decimals of a rounding unit: 0.01 -> 2, 0.1 -> 1, 1 or more -> 0."""
    if unit is None or not _finite(unit) or unit <= 0 or unit >= 1:
        return 0
    return max(0, round(-math.log10(unit)))


def _written_decimals(v: float) -> int:
    """The decimals ``v`` was written with (its shortest repr): 13.4 -> 1, 28.0 -> 0."""
    if not _finite(v) or float(v).is_integer():
        return 0
    text = repr(float(v))
    mantissa, _, exponent = text.partition("e")
    frac = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return min(20, max(0, frac - int(exponent or 0)))


def _rounding_of(table: Any) -> dict[str, float | None]:
    """The published rounding unit of each figure of a Reproduction (``Published.rounding``
    of its study's ``PUBLISHED``); empty for a table."""
    study = getattr(table, "study", None)
    if not isinstance(study, str) or isinstance(table, pl.DataFrame):
        return {}
    import importlib

    try:
        module = importlib.import_module(f"recurct.studies.{study}")
    except ImportError:
        return {}
    published = getattr(module, "PUBLISHED", ())
    figures = published.values() if isinstance(published, dict) else published
    return {f.key: f.rounding for f in figures if hasattr(f, "key") and hasattr(f, "rounding")}


def _reproduction_cells(
    r: dict[str, Any], t_text: str, cut: str, digits: int, rounding: dict[str, Any] | None = None
) -> dict[str, str]:
    """The cells of one row of a reproduction table: the published value with the paper's
    own digits (``Published.rounding`` where known, else the digits the value has), counts as
    whole numbers, the reproduced value with the published value's digits (``digits`` for
    percentages)."""
    pub = r["published"]
    unit = r.get("unit") or ""
    key = r.get("figure")
    if rounding and key in rounding:
        pub_dec = _decimals(rounding[key])
    else:
        pub_dec = _written_decimals(pub) if _finite(pub) else 0
    is_count = unit in _COUNT_UNITS and pub_dec == 0
    rep_dec = 0 if is_count else (digits if unit == "%" else pub_dec)

    def cell(v: Any, dec: int) -> str:
        if not _finite(v):
            return "–" if v is None or isinstance(v, float) else _num(v, dec)
        return _fixed(v, dec)

    rep = cell(r["reproduced"], rep_dec)
    if _finite(r.get("reproduced_lo")) and _finite(r.get("reproduced_hi")) and rep != "–":
        rep += f" ({cell(r['reproduced_lo'], rep_dec)}–{cell(r['reproduced_hi'], rep_dec)})"
    within = r.get("within_tolerance")
    if within is None:
        verdict = "–"
    elif r.get("comparison") == "extreme":
        # a sample extreme: in / out of the model's central range, not a verdict that
        # counts; worded as the study's own table words it
        from recurct.studies._format import ok_text

        verdict = ok_text(bool(within), extreme=True)
    else:
        verdict = "yes" if within else "no"
    return {
        # the description ("median CED of patients >= 100 mSv"), not the figure's ID
        "Figure": str(r.get("description") or r["figure"]),
        "Unit": unit,
        "Published": cell(pub, pub_dec),
        "Reproduced (95% CI)": rep,
        "Within tolerance": verdict,
    }


def _cells(df: pl.DataFrame, digits: int = 3) -> list[list[str]]:
    return [["" if v is None else (_num(v, digits) if not isinstance(v, str) else v) for v in r]
            for r in df.iter_rows()]  # fmt: skip


def to_markdown(table: Any, *, digits: int = 3) -> str:
    """A table (e.g. from :func:`publication_table`; polars, pandas or pyarrow) as Markdown;
    numbers (not text cells) with ``digits`` decimals."""
    table, _ = to_polars(table)
    return markdown_grid(table.columns, _cells(table, digits))


def _md_cell(text: str) -> str:
    """One Markdown cell: ``\\`` and ``|`` escaped (the backslash first, so that ``c\\|d``
    stays text, not an escaped backslash before a cell separator), line breaks as ``<br>``
    (a row stays one line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def markdown_grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Text cells as a Markdown table (``|`` escaped, line breaks as ``<br>``)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md_cell(c) for c in cells) + " |"

    lines = [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]
    return "\n".join(lines) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "–": "--",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "τ": r"$\tau$",
    "²": r"\textsuperscript{2}",
    "∞": r"$\infty$",
    "…": r"\ldots{}",
}


def _tex(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s)


def to_latex(
    table: Any, *, caption: str | None = None, label: str | None = None, digits: int = 3
) -> str:
    """A table as a LaTeX ``table`` with a ``tabular`` (booktabs rules), text escaped;
    numbers (not text cells) with ``digits`` decimals."""
    table, _ = to_polars(table)
    cols = "l" + "r" * (len(table.columns) - 1)
    lines = [r"\begin{table}", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_tex(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines.append(" & ".join(_tex(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(_tex(c) for c in row) + r" \\" for row in _cells(table, digits)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV
injection"): a text cell of a ``.csv`` that starts with one of them (and is not a plain
number) is written with a single quote before it (:func:`csv_safe`); ``.xlsx`` cells are
marked as text."""

_FORMULA_RE = "^[" + "".join("\\" + c if c in "-" else c for c in FORMULA_START) + "]"
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def csv_safe(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` with every text cell that a spreadsheet would read as a formula (it starts
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, :data:`FORMULA_START`, and is
    not a plain number such as ``-1.5``) prefixed with a single quote, as OWASP recommends
    against CSV injection: a group label ``=HYPERLINK("x")`` is written ``'=HYPERLINK("x")``.
    Text and categorical columns become text; other columns are kept as they are.

    Examples
    --------
    >>> csv_safe(pl.DataFrame({"g": ["=1+2", "-1.5", "a"]}))["g"].to_list()
    ["'=1+2", '-1.5', 'a']
    """
    text = [
        c for c, t in table.schema.items() if t in (pl.String, pl.Categorical) or t == pl.Enum
    ]
    return table.with_columns(
        pl.when(
            pl.col(c).cast(pl.String).str.contains(_FORMULA_RE)
            & ~pl.col(c).cast(pl.String).str.contains(_NUMBER_RE)
        )
        .then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String))
        .alias(c)
        for c in text
    )


def export_table(
    table: Any,
    path: str | Path,
    *,
    formatted: bool = True,
    caption: str | None = None,
    threshold: float | None = None,
    age_cut: float = 50,
    digits: int = 2,
    overwrite: bool = False,
    alpha: float | None = None,
) -> Path:
    """Write a recurct table for a paper, in the format of the file's extension.

    The file is written atomically: into a temporary file beside it, renamed onto ``path``
    once complete, so that ``path`` is at every moment the old file (or absent) or the whole
    new table; a failure midway (a full disk, an error, Ctrl-C) leaves the old file as it
    was and no temporary file behind.

    Parameters
    ----------
    table : a recurct table (see :func:`readable`)
    path : str or Path
        ``.md`` (Markdown), ``.tex`` (LaTeX), ``.csv`` or ``.xlsx`` (Excel; needs
        ``openpyxl``).
    formatted : bool
        True: :func:`publication_table` (text cells, ``"n (%, 95% CI)"``). False:
        :func:`readable` (numbers under readable labels, percentages), e.g. for further
        computation in a spreadsheet.
    caption : str, optional
        Caption (LaTeX) or title line (Markdown, bold, its Markdown characters escaped and
        line breaks written as ``<br>``; Excel).
    threshold, age_cut, digits, alpha
        As in :func:`publication_table`. With ``formatted=False``, ``.csv`` and ``.xlsx``
        keep the numbers at full precision; ``.md`` and ``.tex``, which are read, not
        computed with, show them by the rules of the tables: percentages with ``digits``
        decimals, a share above 0 never as 0 (``"<0.01"``) nor one below 100% as 100
        (``">99.99"``), other numbers with ``digits`` decimals, whole counts without, a
        missing number as "–" and a null stratum as "(missing)".
    overwrite : bool
        False (the default, as for every recurct writer): an existing file raises
        :class:`recurct.errors.OutputExistsError` before any work. True: it is replaced
        (atomically).

    Returns
    -------
    Path
        The file written (its folder is created).

    Raises
    ------
    ParameterError
        Another extension, or a bad argument (the message names ``export_table``).
    DataError
        The table is not a whole table of its kind (as in :func:`publication_table`); or,
        for ``.xlsx``, a text cell or column name holds a control character that Excel
        cannot store (``'\\x1b'``, ESC, from the ISO 2022 character-set escapes of DICOM
        strings; ``'\\x07'``, BEL, ...): the message names the column, the row (0-based)
        and the character. No file is written.
    OutputExistsError
        ``path`` is a folder, or an existing file with ``overwrite=False``.
    IncompleteOutputError
        The file could not be written (a full disk, a file size limit): the message names
        ``path`` and the reason; an old file is left as it was.

    Notes
    -----
    In a ``.csv`` file a text cell that a spreadsheet would read as a formula (``=...``,
    ``+...``, ``-...``, ``@...``) is written with a single quote before it
    (:func:`csv_safe`); in ``.xlsx`` every text cell is marked as text. Excel stores no
    time zone: with ``formatted=False``, a column of time-zone-aware datetimes is written
    to ``.xlsx`` as ISO 8601 text with its offset (``"2020-01-01T00:00:00+00:00"``); dates
    and datetimes without a time zone stay Excel dates, numbers stay numbers.
    """
    fn = "export_table"
    formatted = _checks.flag(formatted, fn, "formatted")
    overwrite = _checks.flag(overwrite, fn, "overwrite")
    if caption is not None and not isinstance(caption, str):
        raise ParameterError(f"{fn}: caption must be text or None, got {caption!r:.60}")
    threshold, age_cut = _label_args(threshold, age_cut, fn)
    digits = _digits(digits, fn)
    alpha = resolve_alpha(table, alpha, fn)
    path = _checks.path(path, fn, "path", what="a file")
    ext = path.suffix.lower()
    if ext not in (".md", ".tex", ".csv", ".xlsx"):
        raise ParameterError(
            f"export_table writes .md, .tex, .csv or .xlsx, not {ext or path.name!r}"
        )
    if ext == ".xlsx" and caption is not None:
        bad = _XLSX_ILLEGAL.search(caption)
        if bad:
            raise ParameterError(
                f"{fn}: caption holds the control character {bad.group()!r}, which an .xlsx "
                "file cannot store; remove it from the caption"
            )
    # atomic_file refuses an existing file (overwrite=False), a folder or a file in the
    # path before any work, with a message naming the file and overwrite=True
    with atomic_file(path, overwrite=overwrite, fn=fn) as tmp:
        if ext == ".xlsx":
            _check_xlsx_text(table, fn)
        if formatted:
            out = _publication(
                table, threshold=threshold, age_cut=age_cut, digits=digits, alpha=alpha, fn=fn
            )
        elif ext in (".md", ".tex"):
            out = _readable_text(
                table, threshold=threshold, age_cut=age_cut, digits=digits, alpha=alpha, fn=fn
            )
        else:
            out = _readable(
                table, threshold=threshold, age_cut=age_cut, percent=True, alpha=alpha, fn=fn
            )
        out, _ = to_polars(out)
        if ext == ".md":
            head = f"**{_md_caption(caption)}**\n\n" if caption else ""
            tmp.write_text(head + to_markdown(out, digits=digits), encoding="utf-8")
        elif ext == ".tex":
            tmp.write_text(to_latex(out, caption=caption, digits=digits), encoding="utf-8")
        elif ext == ".csv":
            csv_safe(out).write_csv(tmp)
        else:
            _check_xlsx_text(out, fn)  # (labels made from the table's own text: checked)
            _write_xlsx(out, tmp, caption)
    return path


def _readable_text(
    table: Any, *, threshold: float | None, age_cut: float, alpha: float, digits: int, fn: str
) -> pl.DataFrame:
    """:func:`readable` as text cells by the rules of the tables (``export_table`` with
    ``formatted=False`` to ``.md`` or ``.tex``): fractions as percentages with ``digits``
    decimals (:func:`_pct`: "<0.01", ">99.99"), strata as in :func:`publication_table`
    ("(missing)" for a null), whole counts without decimals, other numbers with ``digits``
    decimals, a missing number as "–"."""
    labels, _ = to_polars(
        _readable(table, threshold=threshold, age_cut=age_cut, percent=True, alpha=alpha, fn=fn)
    )
    df, _ = to_polars(_unwrap(table))
    df = _floats_as_written(df)
    kind = table_kind(df)
    strata, _ = _strata_and_extra(df, kind)
    columns = [c for c in df.columns if c not in _DROP]  # readable's, in its order
    out: dict[str, list[str]] = {}
    for c, label in zip(columns, labels.columns, strict=True):
        dtype = df.schema[c]
        values = df[c].to_list()
        numeric = dtype.is_numeric() and dtype != pl.Boolean
        if c in strata:
            cells = [_stratum_cell(v) for v in values]
        elif numeric and _is_fraction(c, kind):
            cells = [_pct(v, digits) for v in values]
        elif numeric and _is_count(c):
            cells = [_count(v, digits) for v in values]
        else:
            cells = [_num(v, digits) for v in values]
        out[label] = cells
    return pl.DataFrame(out, schema=dict.fromkeys(out, pl.Utf8))


#: Characters Markdown may read as markup in a caption (escaped with a backslash).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&!])")


def _md_caption(caption: str) -> str:
    """A caption as Markdown text inside ``**...**``: its markup characters (``*``, ``_``,
    ``` ` ```, ``[``, ``<``, ...) escaped, line breaks as ``<br>`` (the title stays one line,
    as the cells do)."""
    text = caption.replace("\r\n", "\n").replace("\r", "\n")
    return "<br>".join(_MD_SPECIAL.sub(r"\\\1", line) for line in text.split("\n"))


#: Control characters that an .xlsx cell cannot hold (those openpyxl refuses: tab, line
#: feed and carriage return are allowed).
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _check_xlsx_text(table: Any, fn: str) -> None:
    """``DataError`` naming the column, the first row (0-based) and the character where a
    column name or a text cell of ``table`` holds a control character that an .xlsx file
    cannot store (openpyxl would raise an error naming nothing). The cell's text is not
    quoted (it may hold an identifier)."""
    df, _ = to_polars(_unwrap(table))
    for c in df.columns:
        bad = _XLSX_ILLEGAL.search(c)
        if bad:
            raise DataError(
                f"{fn}: the name of column {c!r} holds the control character "
                f"{bad.group()!r}, which an .xlsx file cannot store; rename the column, or "
                "write .csv, .md or .tex"
            )
    pattern = _XLSX_ILLEGAL.pattern
    for c, dtype in df.schema.items():
        if not (dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum)):
            continue
        hits = df[c].cast(pl.Utf8).str.contains(pattern).fill_null(False)
        if not hits.any():
            continue
        rows = hits.arg_true()
        row = int(rows[0])
        char = _XLSX_ILLEGAL.search(df[c].cast(pl.Utf8)[row]).group()  # type: ignore[union-attr]
        raise DataError(
            f"{fn}: column {c!r}, row {row} (0-based) holds the control character "
            f"{char!r}, which an .xlsx file cannot store ({len(rows):,} row(s) in all); "
            f"remove it first, e.g. table.with_columns(pl.col({c!r}).str.replace_all("
            f"r'{pattern}', '')) (ESC, '\\x1b', is left by the ISO 2022 character-set "
            "escapes of some DICOM strings), or write .csv, .md or .tex"
        )


def _write_xlsx(table: pl.DataFrame, path: Path, caption: str | None) -> None:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ImportError as exc:  # pragma: no cover - openpyxl is in the test extra
        raise ImportError(
            "writing .xlsx needs openpyxl: pip install openpyxl (or recurct[excel])"
        ) from exc
    wb = Workbook()
    try:
        _fill_sheet(wb, table, caption, Font)
        buffer = io.BytesIO()  # the zip is built in memory: a failed write leaves no open zip
        try:
            wb.save(buffer)
        except OSError as exc:  # openpyxl's temporary files (a full disk, a size limit)
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
    finally:
        wb.close()
    path.write_bytes(buffer.getvalue())


def _cell_value(v: Any) -> Any:
    """A value as an .xlsx cell holds it: a time-zone-aware datetime as ISO 8601 text with
    its offset (``"2020-01-01T00:00:00+00:00"``; Excel stores no time zone), others as
    they are."""
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.isoformat()
    return v


def _fill_sheet(wb: Any, table: pl.DataFrame, caption: str | None, font: Any) -> None:
    ws = wb.active
    ws.title = "table"
    if caption:
        ws.append([caption])
        ws.cell(row=1, column=1).font = font(bold=True)
    ws.append(list(table.columns))
    for cell in ws[ws.max_row]:
        cell.font = font(bold=True)
    for row in table.iter_rows():
        ws.append([_cell_value(v) for v in row])

    for cells in ws.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):  # text, never a formula: "=1+2" stays text
                cell.data_type = "s"
                cell.quotePrefix = True
    for i, col in enumerate(table.columns, 1):
        values = [col, *("" if v is None else str(v) for v in table.get_column(col).to_list())]
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(
            60, 2 + max(len(v) for v in values)
        )
