"""Figures of the kinds published on recurrent CT: CED distributions, threshold curves,
per-site forest and funnel plots.

Every function takes a recurct table (the patients table of :func:`recurct.cumulative_dose`,
the table of :func:`recurct.stats.time_to_threshold` or a site table) as polars, pandas or
pyarrow, and returns a :class:`matplotlib.figure.Figure`. Figures are built without
``pyplot``, so they work under any backend (``Agg`` included), leave no global state behind
and are never shown: save them with ``fig.savefig(...)`` or let a notebook display them.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import param_label, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, DroppedRowsWarning, ParameterError, RecurctWarning
from recurct.stats._common import check_patients

__all__ = [
    "CENSORING_CAPTION",
    "OKABE_ITO",
    "ced_distribution",
    "ced_vs_exams",
    "exams_per_patient",
    "forest",
    "funnel",
    "share_above",
    "time_to_threshold_curve",
]

# The palette's standard hex values, listed with their source entry in docs/sources.md
# ("Okabe M, Ito K"); no other source for them is in the repository.
OKABE_ITO: tuple[str, ...] = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
)
"""Okabe-Ito colour-blind-safe palette, in its usual order."""
_LINE_COLOURS = (OKABE_ITO[5], OKABE_ITO[6], OKABE_ITO[3], OKABE_ITO[1], OKABE_ITO[7],
                 OKABE_ITO[2], OKABE_ITO[0], OKABE_ITO[4])  # fmt: skip


def _figure(width: float = 6.4, height: float = 4.2) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _column(df: pl.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in df.columns:
        raise DataError(
            f"{what} needs a column {name!r}; got columns {df.columns}. "
            "Pass the table returned by the matching recurct function."
        )
    return df.get_column(name).cast(pl.Float64).to_numpy()


def _ced(df: pl.DataFrame, what: str) -> tuple[np.ndarray, int]:
    """The finite CEDs of ``ced_msv`` and how many were missing or non-finite (left out of
    n, with a :class:`~recurct.errors.DroppedRowsWarning`); a negative CED is a DataError."""
    ced = _column(df, "ced_msv", what)
    bad = ~np.isfinite(ced)
    ced = ced[~bad]
    if (ced < 0).any():
        raise DataError(
            f"{what}: {int((ced < 0).sum()):,} patient(s) with a negative ced_msv "
            f"(smallest {ced.min():g} mSv); a cumulative dose cannot be negative"
        )
    n_bad = int(bad.sum())
    if n_bad:
        warnings.warn(
            f"{what}: {n_bad:,} patient(s) with a missing or non-finite ced_msv left out "
            "(not counted in n)",
            DroppedRowsWarning,
            stacklevel=user_stacklevel(),
        )
    return ced, n_bad


#: The largest count a plot parameter (bins, hexagons, exams) may take.
_MAX_COUNT = 100_000

#: The largest threshold (mSv) :func:`share_above` draws (a log axis needs finite limits).
_MAX_THRESHOLD = 1e6


def _count_param(value: Any, what: str, name: str, *, optional: bool = False) -> Any:
    """``value`` if it is a whole number from 1 to ``_MAX_COUNT`` (or None where
    ``optional``), else ``ParameterError`` naming ``name``."""
    if value is None and optional:
        return None
    return _checks.integer(value, what, name, lo=1, hi=_MAX_COUNT)


def _label_threshold(value: Any, what: str) -> float | None:
    """A threshold named in a label: None, or a finite number > 0 (``ParameterError``)."""
    return None if value is None else _checks.threshold(value, what)


def _share_text(k: int, n: int, digits: int = 2) -> str:
    """``"k patients (p%)"`` for a legend: a share above 0 that would round to 0 as
    ``"<0.01%"`` (as in :func:`recurct.stats.publication_table`); no share of no patients."""
    from recurct.stats.publish import _pct

    if n == 0:
        return "0 of 0 patients"
    return f"{k:,} patient{'s' * (k != 1)} ({_pct(k / n, digits)}%)"


def _left_out(n_bad: int) -> str:
    return f"; {n_bad:,} without a finite CED left out" if n_bad else ""


def ced_distribution(patients: Any, threshold: float = 100.0, *, bins: int = 60) -> Figure:
    """Histogram of cumulative effective dose per patient, on a log dose axis.

    Parameters
    ----------
    patients
        Patients table (one row per patient) with ``ced_msv``.
    threshold
        CED threshold in mSv, drawn as a vertical line and counted in the legend.
    bins
        Number of log-spaced bins between the smallest positive and the largest CED; where
        every positive CED is the same (one patient, say), one bar from 10% below to 10%
        above that value.

    Returns
    -------
    matplotlib.figure.Figure
        The legend gives the patients at or above the threshold and their share with 2
        decimals ("<0.01%" for a share above 0 that would round to 0.00%; "0 of 0 patients"
        for an empty table). Patients with a CED of 0 mSv cannot be drawn on a log axis;
        their number is given in the title. Patients with a missing or non-finite CED are
        left out of n (counted in the title and in a
        :class:`~recurct.errors.DroppedRowsWarning`); a negative CED raises
        :class:`~recurct.errors.DataError`.
    """
    threshold = _checks.threshold(threshold, "ced_distribution")
    bins = _count_param(bins, "ced_distribution", "bins")
    df, _ = to_polars(patients)
    check_patients(df, "ced_distribution", strict=False)
    ced, n_bad = _ced(df, "ced_distribution")
    positive = ced[ced > 0]
    fig, ax = _figure()
    if positive.size:
        lo, hi = positive.min(), positive.max()
        # one value: one bar from -10% to +10% of it, visible on the log axis
        one = hi <= lo
        edges = np.array([lo / 1.1, lo * 1.1]) if one else np.geomspace(lo, hi, bins + 1)
        ax.hist(positive, bins=edges, color=OKABE_ITO[5], edgecolor="white", linewidth=0.3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    n_above = int((ced >= threshold).sum())
    ax.axvline(
        threshold,
        color=OKABE_ITO[6],
        linestyle="--",
        label=f"{param_label(threshold)} mSv: {_share_text(n_above, ced.size)}",
    )
    ax.set_xlabel("cumulative effective dose (mSv)")
    ax.set_ylabel("patients")
    title = f"CED per patient (n = {ced.size:,}; threshold {param_label(threshold)} mSv)"
    if positive.size < ced.size:
        title += f"; {ced.size - positive.size:,} at 0 mSv not shown"
    ax.set_title(title + _left_out(n_bad))
    ax.legend(loc="upper right")
    return fig


def share_above(
    patients: Any, thresholds: Sequence[float] | None = None, *, threshold: float | None = 100.0
) -> Figure:
    """Share of patients whose CED is >= T, as a function of T (log-log axes).

    Parameters
    ----------
    patients
        Patients table with ``ced_msv``.
    thresholds
        Thresholds in mSv; default 25 log-spaced values from 1 to 1000 mSv plus ``threshold``.
    threshold
        The threshold of interest (mSv, a finite number > 0, at most 1e6), marked with a
        line and its share in the legend (the region of interest stays readable: the share
        axis is logarithmic, so 1% and 0.01% are as far apart as 100% and 1%). None marks
        nothing; anything else (NaN, 0, a negative number, ``True``, text) raises
        :class:`~recurct.errors.ParameterError`.

    Returns
    -------
    matplotlib.figure.Figure
        One point per threshold with at least one patient at or above it; thresholds that no
        patient reaches (a share of 0, which a log axis cannot show) are counted in the title.
        Patients with a missing or non-finite CED reach no threshold: they are left out of n
        (counted in the title and in a :class:`~recurct.errors.DroppedRowsWarning`); a
        negative CED, or no patient with a finite CED, raises
        :class:`~recurct.errors.DataError`.
    """
    threshold = _label_threshold(threshold, "share_above")
    if threshold is not None and threshold > _MAX_THRESHOLD:
        raise ParameterError(
            f"share_above: threshold must be at most {_MAX_THRESHOLD:g} mSv, got {threshold:g}"
        )
    df, _ = to_polars(patients)
    check_patients(df, "share_above", strict=False)
    ced, n_bad = _ced(df, "share_above")
    if not ced.size:
        raise DataError(
            "share_above needs at least one patient with a finite ced_msv; got "
            f"{df.height:,} row(s), {n_bad:,} without a finite CED"
        )
    if thresholds is None:
        grid = np.geomspace(1.0, 1000.0, 25).round(3).tolist()
        thresholds = sorted({*grid, *([threshold] if threshold is not None else [])})
    t = np.sort(np.asarray(_checks.some_thresholds(thresholds, "share_above"), dtype=float))
    if t.size and t[-1] > _MAX_THRESHOLD:
        raise ParameterError(
            f"share_above: thresholds must be at most {_MAX_THRESHOLD:g} mSv, got {t[-1]:g}"
        )
    ced_sorted = np.sort(ced)
    n_at_or_above = ced.size - np.searchsorted(ced_sorted, t, side="left")
    share = 100.0 * n_at_or_above / ced.size
    shown = share > 0
    fig, ax = _figure()
    ax.plot(
        t[shown], share[shown], marker="o", markersize=3, color=OKABE_ITO[5],
        label="patients with CED ≥ T",
    )  # fmt: skip
    if threshold is not None:
        k = int(np.sum(ced >= threshold))
        s_t = 100.0 * k / ced.size
        ax.axvline(
            threshold,
            color=OKABE_ITO[6],
            linestyle="--",
            label=f"T = {param_label(threshold)} mSv: {_share_text(k, ced.size)}",
        )
        if k:
            ax.plot([threshold], [s_t], marker="D", color=OKABE_ITO[6], linestyle="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if not shown.any():  # no positive share: give the log axes finite limits
        ax.set_xlim(t.min() / 2, t.max() * 2)
        ax.set_ylim(100.0 / ced.size / 2, 100.0 * 2)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.yaxis.set_major_formatter(plain)
    ax.set_xlabel("CED threshold T (mSv)")
    ax.set_ylabel("patients with CED ≥ T (%, log scale)")
    title = f"Share of patients at or above a CED threshold (n = {ced.size:,}{_left_out(n_bad)})"
    if (~shown).any():
        title += f"\n{int((~shown).sum())} threshold(s) reached by no patient not shown"
    ax.set_title(title)
    ax.legend(loc="lower left")
    return fig


CENSORING_CAPTION = (
    "Kaplan-Meier estimate (shaded: pointwise 95% CI). Patients who have not reached the "
    "threshold are censored at the end of their observation: by default the end of the data "
    "at their facility (recurct.stats.time_to_threshold, end=)."
)
"""The caption of :func:`time_to_threshold_curve` for a Kaplan-Meier curve at the 95% level:
the censoring rule. Passing it (the default) captions each kind of curve at its own level
(:func:`_curve_caption`)."""


def _curve_caption(result: Any, alpha: float = 0.05) -> str:
    """The default caption of :func:`time_to_threshold_curve`: the estimator (Kaplan-Meier,
    or Aalen-Johansen with death competing for :func:`recurct.stats.cumulative_incidence`),
    the level of its pointwise interval (``alpha``) and the censoring rule."""
    from recurct.stats.competing import CumulativeIncidence
    from recurct.stats.publish import level_text

    level = level_text(alpha)
    if isinstance(result, CumulativeIncidence):
        return (
            "Aalen-Johansen cumulative incidence (death as a competing event; shaded: "
            f"pointwise {level} CI). Patients who have neither reached the threshold nor died "
            "are censored at the end of their observation: by default the end of the data at "
            "their facility (recurct.stats.cumulative_incidence, end=)."
        )
    return CENSORING_CAPTION.replace("95% CI", f"{level} CI")


def _readable(name: str) -> str:
    from recurct.stats.publish import LABELS

    return LABELS.get(name, name.replace("_", " "))


@renamed(km_table="result")
def time_to_threshold_curve(
    result: Any,
    threshold: float | None = None,
    *,
    caption: str | None = CENSORING_CAPTION,
    alpha: float | None = None,
) -> Figure:
    """Probability of having reached the threshold vs years since the first exam.

    Parameters
    ----------
    result
        The result of :func:`recurct.stats.time_to_threshold` or
        :func:`recurct.stats.cumulative_incidence` (its strata and threshold are used), or
        its ``.curve`` table: ``time_years``, ``prob_reached`` (a fraction), optional
        ``prob_reached_lo``/``prob_reached_hi``, and any number of string columns naming the
        stratum (e.g. ``sex``, ``age_band``); one step curve per stratum.
    threshold
        The threshold in mSv, for the axis label and title (default: the result's).
    caption
        Text under the figure. The default (:data:`CENSORING_CAPTION`) is replaced by the
        caption of the result's kind (:func:`_curve_caption`): "Kaplan-Meier estimate" for
        :func:`recurct.stats.time_to_threshold`, "Aalen-Johansen cumulative incidence (death
        as a competing event...)" for :func:`recurct.stats.cumulative_incidence`, with the
        level of the shaded interval and the censoring rule (pass your own when you passed
        ``end=``, or None).
    alpha : float, optional
        The level the interval was computed at, for the caption: by default the result's
        (``result.alpha``), else 0.05 for a bare ``.curve`` table; an ``alpha`` that differs
        from the result's raises :class:`~recurct.errors.ParameterError`.

    Returns
    -------
    matplotlib.figure.Figure
        Each step curve runs flat from its last event to the end of its stratum's follow-up
        (the last observed time, up to which ``result.at()`` gives values); a bare
        ``.curve`` table carries no follow-up, so its curves stop at their last row. The
        legend (outside the axes, titled with readable stratum names, ``"all"`` shown as
        "all patients", a null stratum as "(missing)", empty text as ``'""'``) covers no
        curve; labels longer than 28 characters are cut in the middle with "…", keeping
        their start and end, and labels that would still be identical are numbered
        (" [2]", " [3]", ...);
        beyond 16 strata the legend takes several columns and the figure grows to fit it.
        The first 8 curves are solid lines in 8 distinguishable colours; beyond 8 strata
        the colours repeat with dashed, then dotted, then dash-dot lines; beyond 32 curves
        the pairs repeat too (with a :class:`~recurct.errors.RecurctWarning`).
    """
    table = getattr(result, "curve", result)
    if threshold is None:
        threshold = getattr(result, "threshold", None)
    threshold = _label_threshold(threshold, "time_to_threshold_curve")
    if caption is not None and not isinstance(caption, str):
        raise ParameterError(
            f"time_to_threshold_curve: caption must be text or None, got {caption!r:.60}"
        )
    from recurct.stats.publish import resolve_alpha

    level_alpha = resolve_alpha(result, alpha, "time_to_threshold_curve")
    if caption == CENSORING_CAPTION:
        caption = _curve_caption(result, level_alpha)
    df, _ = to_polars(table)
    tcol, pcol = "time_years", "prob_reached"
    if tcol not in df.columns or pcol not in df.columns:
        raise DataError(
            "time_to_threshold_curve needs the columns 'time_years' and 'prob_reached' "
            f"(the curve of recurct.stats.time_to_threshold); got {df.columns}"
        )
    lo_col = "prob_reached_lo" if "prob_reached_lo" in df.columns else None
    hi_col = "prob_reached_hi" if "prob_reached_hi" in df.columns else None
    group_cols = list(getattr(result, "by", ())) or [
        c
        for c in df.columns
        if df.schema[c] in (pl.Utf8, pl.Categorical, pl.Boolean)
        or isinstance(df.schema[c], pl.Enum)
    ]
    groups = (
        df.partition_by(group_cols, maintain_order=True, as_dict=True)
        if group_cols
        else {("all",): df}
    )
    ends = _follow_up_ends(result, group_cols)
    keys = [key if isinstance(key, tuple) else (key,) for key in groups]
    labels = _distinct(
        [
            "all patients"
            if all(isinstance(v, str) and v == "all" for v in k)
            else _short_label(", ".join(_stratum_text(v) for v in k))
            for k in keys
        ]
    )
    n_styles = len(_LINE_COLOURS) * len(_LINE_STYLES)
    if len(groups) > n_styles:
        warnings.warn(
            f"time_to_threshold_curve: {len(groups)} curves (the strata and all patients); "
            f"beyond {n_styles} the colour and line style pairs repeat",
            RecurctWarning,
            stacklevel=user_stacklevel(),
        )
    n_cols = math.ceil(len(groups) / _LEGEND_ROWS)
    n_rows = min(len(groups), _LEGEND_ROWS)
    fig, ax = _figure(6.4 + 2.6 * max(n_cols - 1, 0), max(4.2, 0.19 * n_rows + 1.6))
    for i, (key, g) in enumerate(zip(keys, groups.values(), strict=True)):
        g = g.sort(tcol)
        x = g.get_column(tcol).cast(pl.Float64).to_numpy()
        y = 100.0 * g.get_column(pcol).cast(pl.Float64).to_numpy()
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        style = _LINE_STYLES[(i // len(_LINE_COLOURS)) % len(_LINE_STYLES)]
        end = ends.get(tuple(_end_key(v) for v in key), math.nan)
        label = labels[i]
        lo = hi = None
        if lo_col and hi_col:
            lo = 100.0 * g.get_column(lo_col).cast(pl.Float64).to_numpy()
            hi = 100.0 * g.get_column(hi_col).cast(pl.Float64).to_numpy()
        if x.size and math.isfinite(end) and end > x[-1]:  # flat to the end of follow-up
            x, y = np.append(x, end), np.append(y, y[-1])
            if lo is not None and hi is not None:
                lo, hi = np.append(lo, lo[-1]), np.append(hi, hi[-1])
        ax.step(x, y, where="post", color=colour, linestyle=style, label=label)
        if lo is not None and hi is not None:
            ax.fill_between(
                x, lo, hi, step="post", color=colour, alpha=0.15, linewidth=0
            )  # fmt: skip
    ax.set_xlabel("years since first exam")
    what = "the threshold" if threshold is None else f"{param_label(threshold)} mSv"
    ax.set_ylabel(f"probability of having reached {what} (%)")
    ax.set_title(f"Time to a cumulative dose of {what}")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    if len(groups) > 1 or group_cols:
        title = ", ".join(_readable(c) for c in group_cols) or None
        fig.legend(loc="outside right upper", title=title, fontsize="small", ncols=n_cols)
    if caption:
        fig.supxlabel(caption, fontsize="x-small", wrap=True)
    return fig


#: Legend entries per column in :func:`time_to_threshold_curve` (more strata: more columns,
#: and a wider figure).
_LEGEND_ROWS = 16

#: Line styles of :func:`time_to_threshold_curve`: the first 8 strata are solid, each in its
#: own colour; beyond 8 the colours repeat with the next style.
_LINE_STYLES = ("-", "--", ":", "-.")


def _short_label(text: str) -> str:
    """A legend label of at most :data:`_LABEL_WIDTH` characters: a longer one is cut in the
    middle with "…", keeping its start and its end (where long names that share a prefix
    usually differ: "University Hospital ... North" / "... South")."""
    if len(text) <= _LABEL_WIDTH:
        return text
    tail = (_LABEL_WIDTH - 1) // 2
    head = _LABEL_WIDTH - 1 - tail
    return text[:head].rstrip() + "…" + text[-tail:].lstrip()


def _distinct(labels: list[str]) -> list[str]:
    """``labels`` with the repeats of a label numbered (" [2]", " [3]", ...), so that every
    curve or site keeps its own legend entry or tick."""
    seen: dict[str, int] = {}
    out = []
    taken = set(labels)
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] == 1:
            out.append(label)
            continue
        k = seen[label]
        while f"{label} [{k}]" in taken:
            k += 1
        seen[label] = k
        out.append(f"{label} [{k}]")
        taken.add(out[-1])
    return out


def _stratum_text(v: Any) -> str:
    """A stratum's value in a legend, as in :func:`recurct.stats.publication_table`: a null as
    "(missing)", empty or blank text quoted (``'""'``), "yes"/"no" for a boolean."""
    from recurct.stats.publish import _stratum_cell

    return _stratum_cell(v)


def _end_key(v: Any) -> Any:
    """A stratum's value as a key of :func:`_follow_up_ends`: None stays None, others as text."""
    if isinstance(v, bool):
        return "true" if v else "false"  # as polars casts a boolean to text
    return None if v is None else str(v)


def _follow_up_ends(result: Any, group_cols: list[str]) -> dict[tuple[str | None, ...], float]:
    """The last observed time (years) of each stratum, keyed as the curve's strata (``"all"``
    for the whole cohort), from the result's per-patient ``events``: the time up to which
    ``.at()`` gives values. Empty for a bare curve table."""
    events = getattr(result, "events", None)
    if events is None or not hasattr(result, "curve"):
        return {}
    ev, _ = to_polars(events)
    if "time_years" not in ev.columns or not ev.height:
        return {}
    t = pl.col("time_years").cast(pl.Float64)
    key_all = tuple("all" for _ in group_cols) or ("all",)
    ends = {key_all: float(ev.select(t.max()).item())}
    if group_cols and all(c in ev.columns for c in group_cols):
        keys = [pl.col(c).cast(pl.Utf8) for c in group_cols]
        for row in ev.group_by(keys).agg(t.max().alias("_end")).iter_rows():
            if row[-1] is not None:  # a null stratum is a stratum too (its curve is drawn)
                ends.setdefault(tuple(row[:-1]), float(row[-1]))
    return ends


def ced_vs_exams(patients: Any, *, gridsize: int = 40) -> Figure:
    """CED against the number of exams per patient (hexbin, log colour scale).

    Parameters
    ----------
    patients
        Patients table with ``n_exams`` and ``ced_msv``.
    gridsize
        Number of hexagons across the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        Patients with a CED of 0 mSv or 0 exams, or a missing one, are left out (log axes;
        n in the title counts the patients drawn); a negative value raises
        :class:`~recurct.errors.DataError`.
    """
    gridsize = _count_param(gridsize, "ced_vs_exams", "gridsize")
    df, _ = to_polars(patients)
    check_patients(df, "ced_vs_exams", strict=False)
    x = _column(df, "n_exams", "ced_vs_exams")
    y = _column(df, "ced_msv", "ced_vs_exams")
    if (x[np.isfinite(x)] < 0).any():
        raise DataError(f"ced_vs_exams: {int((x < 0).sum()):,} patient(s) with a negative n_exams")
    if (y[np.isfinite(y)] < 0).any():
        raise DataError(f"ced_vs_exams: {int((y < 0).sum()):,} patient(s) with a negative ced_msv")
    keep = (y > 0) & np.isfinite(y) & np.isfinite(x) & (x > 0)
    fig, ax = _figure()
    if keep.any():
        hb = ax.hexbin(
            x[keep],
            y[keep],
            gridsize=gridsize,
            xscale="log",
            yscale="log",
            norm=LogNorm(),
            cmap="cividis",
            mincnt=1,
        )
        fig.colorbar(hb, ax=ax, label="patients per cell")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("CT exams per patient")
    ax.set_ylabel("cumulative effective dose (mSv)")
    n_drawn = int(keep.sum())
    ax.set_title(f"CED vs number of exams (n = {n_drawn:,} patient{'s' * (n_drawn != 1)})")
    return fig


def _site_frame(site_table: Any) -> tuple[pl.DataFrame, dict[str, float] | None]:
    """The per-site table and the pooled estimate (if given) from the accepted inputs."""
    pooled: dict[str, float] | None = None
    obj = site_table
    if isinstance(obj, tuple) and len(obj) == 2:
        obj, summary = obj
        pooled = _pooled_from(summary)
    elif hasattr(obj, "sites") and not isinstance(obj, pl.DataFrame):
        # SiteTable (.sites, .summary) or MetaResult (.sites, .pooled)
        summary = getattr(obj, "summary", None)
        if summary is None:
            summary = getattr(obj, "pooled", None)
        pooled = _pooled_from(summary)
        obj = obj.sites
    df, _ = to_polars(obj)
    return df, pooled


def _pooled_from(summary: Any) -> dict[str, float] | None:
    if summary is None:
        return None
    if isinstance(summary, dict):
        get = summary.get
    elif hasattr(summary, "columns"):
        s, _ = to_polars(summary)
        row = s.row(0, named=True) if s.height else {}
        get = row.get
    else:

        def get(k: str, default: Any = None) -> Any:
            return getattr(summary, k, default)

    if get("share") is None:
        return None
    out: dict[str, Any] = {k: _f(get(k)) for k in _POOLED_KEYS}
    for key in ("model", "transform"):  # the transform: the scale tau² is on
        if get(key) is not None:
            out[key] = str(get(key))
    return out


#: What :func:`forest` reads of a pooled estimate (the glossary's names).
_POOLED_KEYS = ("share", "share_lo", "share_hi", "share_pred_lo", "share_pred_hi", "i2", "tau2")


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _pooled_meta(df: pl.DataFrame, model: str, alpha: float = 0.05) -> dict[str, float] | None:
    """Random- or fixed-effect pooled share (with prediction interval) from site counts."""
    if model == "crude" or not {"n_reached", "n_patients"} <= set(df.columns):
        return None
    from recurct.stats import meta_proportion

    agg = df.select(pl.col("site").cast(pl.Utf8), "n_patients", "n_reached")
    row = meta_proportion(agg, model=model, alpha=alpha).pooled.row(  # type: ignore[arg-type]
        0, named=True
    )
    return _pooled_from(row)


@renamed(method="model", site_table_or_meta="result")
def forest(
    result: Any,
    *,
    pooled: dict[str, float] | None = None,
    threshold: float | None = None,
    model: str = "random",
    alpha: float | None = None,
) -> Figure:
    """Forest plot: share of high-dose patients per site with its CI, and the pooled share.

    Parameters
    ----------
    result
        A site table with ``site``, ``share``, ``share_lo``, ``share_hi`` (fractions) and,
        for pooling, ``n_patients`` and ``n_reached``, e.g. the per-site table of
        :func:`recurct.stats.site_table`; a :class:`~recurct.stats.SiteTable`; a
        :class:`~recurct.stats.MetaResult` (its pooled estimate is drawn); or a
        ``(sites, summary)`` pair.
    pooled
        The pooled estimate as ``{"share": p, "share_lo": lo, "share_hi": hi}`` and
        optionally ``"share_pred_lo"``, ``"share_pred_hi"`` (fractions), ``"i2"``,
        ``"tau2"``, ``"model"`` and ``"transform"`` (the scale of ``tau2``: ``"logit"``,
        ``"arcsine"``, ``"raw"``); overrides everything else.
    threshold
        The CED threshold in mSv, named in the axis label and title.
    model : {"random", "fixed", "crude"}
        Without ``pooled`` and a MetaResult: pool the site counts by
        :func:`recurct.stats.meta_proportion` with its defaults (``"random"``: REML tau² on
        the logit scale, Hartung-Knapp-Sidik-Jonkman CI and the 95% prediction interval) or
        take the crude pooled share of a SiteTable summary (``"crude"``).
    alpha : float, optional
        The level the intervals were computed at, named in the legend ("site (90% CI)"): by
        default the level a SiteTable (``summary["alpha"]``), a ``(sites, summary)`` pair or
        a MetaResult carries, else 0.05; pooling by :func:`recurct.stats.meta_proportion`
        uses it too. An ``alpha`` that differs from the carried level raises
        :class:`~recurct.errors.ParameterError`.

    Returns
    -------
    matplotlib.figure.Figure
        One marker and CI bar per site (top to bottom in table order), a diamond for the
        pooled estimate and its CI, a bar for the prediction interval where there is one
        (random effects, 3 sites or more), heterogeneity in the title (I², and τ² with the
        scale of the meta-analysis's transform, "logit scale", "double-arcsine scale" or
        "proportion scale", where the pooled estimate names it); the legend sits below the
        axes, so it covers no data. A pooled estimate without a CI is drawn as a point
        (labelled "no CI"). Site labels longer than 28 characters are wrapped onto 2 lines
        and cut with "…" beyond; labels that would then be identical are numbered
        (" [2]", " [3]", ...). Shares in the legend follow the rule of
        :func:`recurct.stats.publication_table` ("<0.01", ">99.99"). Sites without a share
        are drawn with no marker, with a :class:`~recurct.errors.DroppedRowsWarning` that
        counts them.
    """
    threshold = _label_threshold(threshold, "forest")
    model = _checks.choice(model, ("random", "fixed", "glmm", "crude"), "forest", "model")
    from recurct.stats.publish import level_text, resolve_alpha

    level_alpha = resolve_alpha(result, alpha, "forest")  # (a (sites, summary) pair too)
    level = level_text(level_alpha)
    df, found = _site_frame(result)
    if "site" not in df.columns:
        raise DataError(f"forest needs a 'site' column; got {df.columns}")
    is_meta = hasattr(result, "pooled") and not isinstance(result, tuple)
    if pooled is None:
        pooled = (
            found
            if (is_meta or model == "crude")
            else _pooled_meta(df, model, level_alpha) or found
        )
    site = df.get_column("site").cast(pl.Utf8).to_list() if "site" in df.columns else None
    if site is None:
        raise DataError(f"forest needs a 'site' column; got {df.columns}")
    share = 100.0 * _column(df, "share", "forest")
    lo = 100.0 * _column(df, "share_lo", "forest")
    hi = 100.0 * _column(df, "share_hi", "forest")
    if (~np.isfinite(share)).any():
        warnings.warn(
            f"forest: {int((~np.isfinite(share)).sum()):,} site(s) without a share "
            "(missing or non-finite) drawn with no marker",
            DroppedRowsWarning,
            stacklevel=user_stacklevel(),
        )
    if pooled is None and {"n_reached", "n_patients"} <= set(df.columns):
        p = df["n_reached"].sum() / df["n_patients"].sum()
        pooled = {"share": float(p), "share_lo": float("nan"), "share_hi": float("nan")}
    n = len(site)
    what = "the threshold" if threshold is None else f"{param_label(threshold)} mSv"
    labels = _distinct([_wrap_label(_stratum_text(v)) for v in site])
    row_h = 0.28 if all("\n" not in v for v in labels) else 0.46  # room for 2-line labels
    fig, ax = _figure(6.4, max(3.4, row_h * (n + 3) + 1.2))
    y = np.arange(n, 0, -1, dtype=float)
    ax.errorbar(
        share,
        y,
        xerr=[np.clip(share - lo, 0, None), np.clip(hi - share, 0, None)],
        fmt="s",
        color=OKABE_ITO[5],
        ecolor=OKABE_ITO[0],
        markersize=4,
        capsize=2,
        linewidth=1,
        label=f"site ({level} CI)",
    )
    ticks = list(y)
    title = f"Patients with CED ≥ {what} by site ({n} site{'s' * (n != 1)})"
    if pooled is not None:
        kind, extra = _draw_pooled(ax, pooled, level)
        labels.append(kind)
        ticks.append(-0.5)
        title += extra
    ax.set_yticks(ticks, labels)
    ax.set_xlabel(f"patients with CED ≥ {what} (%)")
    ax.set_ylabel("site")
    ax.set_xlim(left=0)
    ax.set_ylim(-1.2, n + 0.7)
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig


#: Site labels in :func:`forest` are wrapped at this width, on at most 2 lines.
_LABEL_WIDTH = 28


def _wrap_label(text: str) -> str:
    """A site label wrapped at :data:`_LABEL_WIDTH` characters, on at most 2 lines (the rest
    cut, ending in "…"), so that a long name does not squeeze the axes."""
    return "\n".join(
        textwrap.wrap(text, _LABEL_WIDTH, max_lines=2, placeholder="…", break_on_hyphens=False)
        or [text]
    )


def _pc(share: float) -> str:
    """A share (a fraction) as a percentage in a legend, 2 decimals, by the rule of the
    tables ("<0.01", ">99.99": a nonzero share never shows as 0.00, a share below 100%
    never as 100.00; rounded as in the tables)."""
    from recurct.stats.publish import _pct

    return _pct(share, 2)


#: The scale of τ² in the forest plot's title, by the meta-analysis's transform.
_TAU2_SCALE = {"logit": "logit", "arcsine": "double-arcsine", "raw": "proportion"}


def _draw_pooled(ax: Any, pooled: dict[str, Any], level: str = "95%") -> tuple[str, str]:
    """Draw the pooled diamond (and prediction interval) at y = -0.5; return its label and
    the heterogeneity line of the title."""
    share = pooled["share"]
    share_lo, share_hi = pooled.get("share_lo", math.nan), pooled.get("share_hi", math.nan)
    p, plo, phi = 100 * share, 100 * share_lo, 100 * share_hi
    has_ci = math.isfinite(plo) and math.isfinite(phi)
    kind = {"random": "random effects", "fixed": "fixed effect"}.get(
        str(pooled.get("model", "")), "pooled"
    )
    yd = -0.5
    half_h = 0.35
    pred_lo = pooled.get("share_pred_lo", math.nan)
    pred_hi = pooled.get("share_pred_hi", math.nan)
    pi_lo, pi_hi = 100 * pred_lo, 100 * pred_hi
    if math.isfinite(pi_lo) and math.isfinite(pi_hi):
        ax.plot(
            [pi_lo, pi_hi],
            [yd, yd],
            color=OKABE_ITO[6],
            linewidth=2.5,
            alpha=0.45,
            solid_capstyle="butt",
            label=f"{level} prediction interval {_pc(pred_lo)}–{_pc(pred_hi)}%",
        )
    if has_ci:
        ax.fill(
            [plo, p, phi, p],
            [yd, yd + half_h, yd, yd - half_h],
            color=OKABE_ITO[6],
            label=f"{kind}: {_pc(share)}% ({level} CI {_pc(share_lo)}–{_pc(share_hi)})",
        )
    else:  # a point, not a zero-width interval
        ax.plot(
            [p], [yd], marker="D", markersize=7, linestyle="none", color=OKABE_ITO[6],
            label=f"{kind}: {_pc(share)}% (no CI)",
        )  # fmt: skip
    ax.axvline(p, color=OKABE_ITO[6], linestyle=":", linewidth=1)
    i2, tau2 = pooled.get("i2", math.nan), pooled.get("tau2", math.nan)
    transform = pooled.get("transform")
    scale = "" if transform is None else f" ({_TAU2_SCALE.get(transform, transform)} scale)"
    extra = f"\nI² = {100 * i2:.0f}%, τ² = {tau2:.3g}{scale}" if math.isfinite(i2) else ""
    return kind, extra


@renamed(site_table="result")
def funnel(
    result: Any, *, limits: Sequence[float] = (0.95, 0.998), threshold: float | None = None
) -> Figure:
    """Funnel plot: share of high-dose patients vs site size, with binomial control limits.

    Parameters
    ----------
    result
        Site aggregates with ``n_patients`` and ``n_reached``, e.g. the input or
        the per-site output of :func:`recurct.stats.site_table`; a
        :class:`~recurct.stats.SiteTable` or :class:`~recurct.stats.MetaResult` (their
        ``sites``), as :func:`forest` takes.
    limits
        Two-sided coverage of the control limits drawn around the pooled share ``p``:
        ``p ± z sqrt(p (1 - p) / n)`` (normal approximation, clipped to [0, 100]%).
    threshold
        The CED threshold in mSv, named in the axis label.

    Returns
    -------
    matplotlib.figure.Figure
        One point per site, the pooled share as a horizontal line (in the legend by the
        rule of the tables: "<0.01%", never "0.00%", for a share above 0), and one pair of
        limit curves per coverage.
    """
    from recurct.stats.meta import MetaResult
    from recurct.stats.multisite import SiteTable

    threshold = _label_threshold(threshold, "funnel")
    df, _ = to_polars(result.sites if isinstance(result, SiteTable | MetaResult) else result)
    n = _column(df, "n_patients", "funnel")
    k = _column(df, "n_reached", "funnel")
    if not n.size:
        raise DataError("funnel needs at least one site; got an empty table")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(k))):
        raise DataError("funnel needs n_patients and n_reached for every site (no nulls)")
    if np.any(n <= 0):
        raise DataError("funnel needs n_patients > 0 for every site")
    if np.any(k < 0) or np.any(k > n):
        raise DataError(
            f"funnel needs 0 <= n_reached <= n_patients; {int(np.sum((k < 0) | (k > n)))} "
            "site(s) outside"
        )
    cover = list(limits) if isinstance(limits, Sequence) and not isinstance(limits, str) else None
    if not cover or not all(
        isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c < 1 for c in cover
    ):
        raise ParameterError(
            f"funnel: limits must be coverages strictly between 0 and 1, e.g. (0.95, 0.998); "
            f"got {limits!r}"
        )
    p = k.sum() / n.sum()
    share = 100.0 * k / n
    fig, ax = _figure()
    grid = np.geomspace(max(n.min() / 2, 1.0), n.max() * 2, 200)
    styles = ("--", ":", "-.")
    for i, cov in enumerate(cover):
        z = NormalDist().inv_cdf(0.5 + cov / 2)
        half = z * np.sqrt(p * (1 - p) / grid)
        kw = {"color": OKABE_ITO[0], "linestyle": styles[i % 3], "linewidth": 1}
        ax.plot(grid, 100 * np.clip(p + half, 0, 1), label=f"{100 * cov:g}% limits", **kw)
        ax.plot(grid, 100 * np.clip(p - half, 0, 1), **kw)
    from recurct.stats.publish import _pct

    ax.axhline(100 * p, color=OKABE_ITO[6], label=f"pooled {_pct(p, 2)}%")
    ax.scatter(n, share, color=OKABE_ITO[5], zorder=3, s=18, label="site")
    ax.set_xscale("log")
    ax.set_xlabel("patients at the site (log scale)")
    what = "the threshold" if threshold is None else f"{param_label(threshold)} mSv"
    ax.set_ylabel(f"patients with CED ≥ {what} (%)")
    ax.set_title(
        f"Funnel plot ({n.size} site{'s' * (n.size != 1)}; crude pooled share and binomial limits)"
    )
    ax.legend(loc="upper right")
    return fig


def exams_per_patient(patients: Any, *, max_exams: int | None = None) -> Figure:
    """Distribution of the number of CT exams per patient (bar chart, log count axis).

    Parameters
    ----------
    patients
        Patients table with ``n_exams``.
    max_exams
        Exam counts above this are pooled into the last bar (the axis label then says
        "last bar: ≥ max_exams"; it says nothing where no patient had more); default: no
        pooling.

    Returns
    -------
    matplotlib.figure.Figure
        One bar per exam count that occurs; the mean in the title is that of the exam counts
        before pooling (no mean for an empty table). A null or negative ``n_exams`` raises
        :class:`~recurct.errors.DataError`.
    """
    df, _ = to_polars(patients)
    n = df.get_column("n_exams") if "n_exams" in df.columns else None
    if n is None:
        raise DataError(f"exams_per_patient needs a column 'n_exams'; got {df.columns}")
    if n.null_count():
        raise DataError(
            f"exams_per_patient: {n.null_count():,} patient(s) with a null n_exams; "
            "n_exams must be a count for every patient"
        )
    max_exams = _count_param(max_exams, "exams_per_patient", "max_exams", optional=True)
    check_patients(df, "exams_per_patient", strict=False)
    if n.dtype.is_float():
        bad = ~n.is_finite() | (n != n.floor())
        if bad.any():
            rows = bad.arg_true().head(5).to_list()
            raise DataError(
                f"exams_per_patient: column 'n_exams' must hold whole numbers; "
                f"{int(bad.sum()):,} row(s) do not (NaN, infinite or fractional), e.g. "
                f"row(s) {rows}"
            )
    raw = n.cast(pl.Int64).to_numpy()
    if (raw < 0).any():
        raise DataError(
            f"exams_per_patient: {int((raw < 0).sum()):,} patient(s) with a negative n_exams"
        )
    mean = raw.mean() if raw.size else float("nan")  # of the counts before any pooling
    values = raw if max_exams is None else np.minimum(raw, max_exams)
    counts = np.bincount(values) if values.size else np.zeros(1, dtype=np.int64)
    x = np.nonzero(counts)[0]
    fig, ax = _figure()
    ax.bar(x, counts[x], width=0.8, color=OKABE_ITO[5])
    if counts[x].size and counts[x].max() > 0:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    pooled_any = max_exams is not None and bool((raw > max_exams).any())
    ax.set_xlabel("CT exams per patient" + (f" (last bar: ≥ {max_exams})" if pooled_any else ""))
    ax.set_ylabel("patients")
    mean_text = f"; mean {mean:.2f}" if values.size else ""
    ax.set_title(f"Exams per patient (n = {values.size:,}{mean_text})")
    return fig
