"""The comparison table of a reproduction as plain text or Markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

__all__ = ["fmt", "format_table", "grid", "markdown_table", "ok_text"]


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:,.{digits}g}"
    return str(v)


def _tol_text(r: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(tolerance, half unit, calibration, z x SD) cells of a row."""
    if r.get("range_lo") is not None:
        return f"95%: {fmt(r['range_lo'])}–{fmt(r['range_hi'])}", "", "", ""
    if r["tolerance"] is None:
        return "", "", "", ""
    if r["comparison"] == "at_most":
        return "<= pub", "", "", ""
    parts = [r.get("tol_rounding"), r.get("tol_calibration"), r.get("tol_sampling")]
    cells = ["" if v is None or (v == 0 and i) else fmt(v, 3) for i, v in enumerate(parts)]
    return ("±" + fmt(r["tolerance"], 3), *cells)  # type: ignore[return-value]


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
        within = r["within_tolerance"]
        tol, half, cal, samp = _tol_text(r)
        kind = r.get("kind") or ""
        cells = {
            "description": r.get("description") or r["figure"],
            "kind": "not repr." if kind == "not_reproduced" else kind,
            "unit": r["unit"],
            "published": fmt(r["published"]),
            "reproduced": fmt(r["reproduced"]),
            "tolerance": tol,
            "tol_rounding": half,
            "tol_calibration": cal,
            "tol_sampling": samp,
            "within_tolerance": ok_text(within, r.get("comparison") == "extreme"),
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
    the description and kind of each figure, the published and reproduced values, the
    tolerance and its parts (half the rounding unit, the calibration tolerance, z x the
    sampling SD) or, for an extreme, the model's central 95% range, the verdict (for an
    extreme: whether this cohort's value is in that range) and the figure's key."""
    header = [h for _, h in _TEXT_COLUMNS]
    rows = _text_rows(table)
    if markdown:
        notes = table["note"].to_list()
        rows = [[c[0], c[-1], *c[1:-1], n or ""] for c, n in zip(rows, notes)]
        return markdown_table([header[0], "key", *header[1:-1], "note"], rows)
    return grid(header, rows, _NUMERIC)
