"""The comparison table of a reproduction as plain text or Markdown.

Every verdict printed can be read from the numbers printed beside it: where a value lies
within (or outside) its tolerance or range by less than the printed precision, the value and
its tolerance (or range) are printed with more digits (:func:`readable`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from recurct.studies._figures import AT_BOUND, INDEPENDENT

__all__ = [
    "fmt",
    "format_table",
    "grid",
    "kind_label",
    "markdown_table",
    "ok_text",
    "published_text",
    "readable",
    "within_printed",
]

#: Most significant digits :func:`readable` prints.
_MAX_DIGITS = 15


def fmt(v: Any, digits: int = 4) -> str:
    """A number as printed: ``digits`` significant digits, thousands separated; values of
    1,000 or more keep at least their integer digits (no exponent)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        if abs(v) >= 1000:
            int_digits = math.floor(math.log10(abs(v))) + 1
            return f"{v:,.{max(digits - int_digits, 0)}f}"
        return f"{v:,.{digits}g}"
    return str(v)


def _num(text: str) -> Decimal | None:
    """The number a printed cell shows (exactly, as a decimal)."""
    try:
        return Decimal(text.replace(",", "").replace("±", "").strip())
    except InvalidOperation:
        return None


def readable(
    values: list[float],
    verdict: bool | None,
    check: Callable[[list[Decimal]], bool],
    digits: list[int],
) -> list[str]:
    """``values`` formatted (:func:`fmt`, starting at ``digits`` each) with as many more
    significant digits as it takes for ``check`` (the verdict recomputed from the printed
    numbers) to give ``verdict``; at most 15 digits. ``verdict`` None: as given."""
    for extra in range(_MAX_DIGITS):
        cells = [fmt(v, d + extra) for v, d in zip(values, digits)]
        if verdict is None:
            return cells
        nums = [_num(c) for c in cells]
        if any(n is None for n in nums):
            return cells
        if check(nums) == verdict:  # type: ignore[arg-type]
            return cells
    return cells


def published_text(v: float | None) -> str:
    """A published value as published: every digit it has (1.33, 130.3, 0.499, 4,819,661)."""
    if v is None or not math.isfinite(v):
        return ""
    if abs(v) >= 1000 and float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.10g}"


def within_printed(compare: str, published: str) -> Callable[[list[Decimal]], bool]:
    pub = _num(published) or Decimal(0)

    def check(n: list[Decimal]) -> bool:
        rep, tol = n
        if compare == "at_most":
            return rep <= pub + tol
        return abs(rep - pub) <= tol

    return check


def _in_range_printed(n: list[Decimal]) -> bool:
    rep, lo, hi = n
    return lo <= rep <= hi


#: The ``tolerance`` cell of a row that has no verdict, by ``status``.
_STATUS_CELL = {
    "size-dependent": "size-dependent",
    "restated": "restated",
    "not reproduced": "",
    "no value": "",
    "your data": "",
    "no stored range": "",
}


def kind_label(r: Mapping[str, Any]) -> str:
    """The ``kind`` cell: ``calib. target`` for a generated row fitted to its published figure
    (not independent evidence), ``independent`` for one no fit used, ``at its bound`` for a
    sample extreme published at the smallest or largest possible value (it cannot be
    contradicted from that side: no evidence either way), ``derived`` (``derived,
    counted`` where it is compared in place of its source), the others as they are."""
    kind = r.get("kind") or ""
    evidence = r.get("evidence")
    if kind == "not_reproduced":
        return "not repr."
    if kind == "generated" and evidence == "calibration target":
        return "calib. target"
    if kind == "generated" and evidence == INDEPENDENT:
        return "independent"
    if kind == "generated" and evidence == AT_BOUND:
        return "at its bound"
    if kind == "derived" and r.get("counted"):
        return "derived, counted"
    return kind


def _value_cells(r: Mapping[str, Any]) -> tuple[str, str, str, str, str, str]:
    """(published, reproduced, tolerance, half unit, calibration, z x SD) cells of a row."""
    published = published_text(r["published"])
    status = r.get("status") or "compared"
    within = r["within_tolerance"]
    rep = r["reproduced"]
    if r.get("range_lo") is not None and status == "compared":
        if rep is None:
            lo, hi = fmt(r["range_lo"]), fmt(r["range_hi"])
            return published, "", f"95%: {lo}–{hi}", "", "", ""
        rep_s, lo, hi = readable(
            [rep, r["range_lo"], r["range_hi"]], within, _in_range_printed, [4, 4, 4]
        )
        return published, rep_s, f"95%: {lo}–{hi}", "", "", ""
    if status == "target not met":
        return published, fmt(rep), "target not met", "", "", ""
    if status in _STATUS_CELL:
        return published, fmt(rep), _STATUS_CELL[status], "", "", ""
    if r["tolerance"] is None:
        return published, fmt(rep), "", "", "", ""
    verdict = within if status == "compared" else None
    if rep is None:
        rep_s, tol_s = "", fmt(r["tolerance"], 3)
    else:
        rep_s, tol_s = readable(
            [rep, r["tolerance"]],
            verdict,
            within_printed(r["comparison"], published),
            [4, 3],
        )
    parts = [r.get("tol_rounding"), r.get("tol_calibration"), r.get("tol_sampling")]
    cells = ["" if v is None or (v == 0 and i) else fmt(v, 3) for i, v in enumerate(parts)]
    if r["comparison"] == "at_most":
        return published, rep_s, "<= pub", "", "", ""
    if status == "uninformative":
        return published, rep_s, f"uninformative (±{tol_s})", *cells  # type: ignore[return-value]
    return (published, rep_s, "±" + tol_s, *cells)  # type: ignore[return-value]


def ok_text(within: bool | None, extreme: bool) -> str:
    """The ``ok`` cell: yes / NO; for a sample extreme, in / out of its central 95% range (not
    a verdict that counts)."""
    if within is None:
        return "-"
    if extreme:
        return "in" if within else "out"
    return "yes" if within else "NO"


_TEXT_COLUMNS = (
    ("description", "figure"),
    ("kind", "kind"),
    ("unit", "unit"),
    ("published", "published"),
    ("reproduced", "reproduced"),
    ("tolerance", "tolerance"),
    ("tol_rounding", "½ unit"),
    ("tol_calibration", "calib."),
    ("tol_sampling", "z×SD"),
    ("within_tolerance", "ok"),
    ("figure", "key"),
)
_NUMERIC = {3, 4, 5, 6, 7, 8}


def _text_rows(table: pl.DataFrame) -> list[list[str]]:
    rows = []
    for r in table.iter_rows(named=True):
        published, rep, tol, half, cal, samp = _value_cells(r)
        cells = {
            "description": r.get("description") or r["figure"],
            "kind": kind_label(r),
            "unit": r["unit"],
            "published": published,
            "reproduced": rep,
            "tolerance": tol,
            "tol_rounding": half,
            "tol_calibration": cal,
            "tol_sampling": samp,
            "within_tolerance": ok_text(r["within_tolerance"], r.get("comparison") == "extreme"),
            "figure": r["figure"],
        }
        rows.append([cells[c] for c, _ in _TEXT_COLUMNS])
    return rows


def grid(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]  # fmt: skip

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (:func:`recurct.stats.publish`'s grid, the one of every table)."""
    from recurct.stats.publish import markdown_grid

    return markdown_grid(header, rows)


def format_table(table: pl.DataFrame, *, markdown: bool = False) -> str:
    """The comparison table as fixed-width plain text (or a Markdown table, with the notes):
    the description and kind of each figure (``calib. target`` for a figure the synthetic
    cohort was fitted to), the published and reproduced values, the tolerance and its parts
    (half the rounding unit, the calibration tolerance, z x the sampling SD) or, for an
    extreme, the model's central 95% range, or why the row is not compared
    (``size-dependent``, ``uninformative``, ``restated``, ``target not met``), the verdict
    (for an extreme: whether this cohort's value is in that range) and the figure's key."""
    header = [h for _, h in _TEXT_COLUMNS]
    rows = _text_rows(table)
    if markdown:
        notes = table["note"].to_list()
        rows = [[c[0], c[-1], *c[1:-1], n or ""] for c, n in zip(rows, notes)]
        return markdown_table([header[0], "key", *header[1:-1], "note"], rows)
    return grid(header, rows, _NUMERIC)
