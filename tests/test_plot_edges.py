"""Edge cases of recurct.plot and recurct.stats.publish: missing and impossible values,
empty tables, parameters out of range, text cells in the exports (audit of the figures)."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from recurct import plot
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.stats import magnitude
from recurct.stats.publish import export_table, publication_table, to_markdown


def _saves(fig) -> None:
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ 1, 12: missing CED
def test_share_above_leaves_missing_ced_out() -> None:
    df = pl.DataFrame({"ced_msv": [np.nan, 1.0, 5.0, 150.0, None, np.inf]})
    with pytest.warns(DroppedRowsWarning, match="3 patient"):
        fig = plot.share_above(df, thresholds=[1, 10, 100, 1000], threshold=100)
    ax = fig.axes[0]
    # by hand, of the 3 finite CEDs: >= 1: 3, >= 10: 1, >= 100: 1, >= 1000: 0 (not drawn)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [100.0, 100 / 3, 100 / 3])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1.0, 10.0, 100.0])
    assert "n = 3; 3 without a finite CED left out" in ax.get_title()
    assert ax.get_legend().get_texts()[1].get_text().endswith("1 patient (33.33%)")


def test_ced_distribution_counts_missing_and_refuses_negative() -> None:
    df = pl.DataFrame({"ced_msv": [np.nan, 1.0, 5.0, 150.0]})
    with pytest.warns(DroppedRowsWarning, match="1 patient"):
        fig = plot.ced_distribution(df, 100, bins=4)
    assert "n = 3" in fig.axes[0].get_title()
    assert "1 without a finite CED left out" in fig.axes[0].get_title()
    for fn in (plot.ced_distribution, plot.share_above):
        with pytest.raises(DataError, match="negative ced_msv"):
            fn(pl.DataFrame({"ced_msv": [-1.0, 5.0]}))


def test_forest_warns_about_a_site_without_share() -> None:
    sites = pl.DataFrame(
        {"site": ["A", "B"], "share": [np.nan, 0.02], "share_lo": [np.nan, 0.01],
         "share_hi": [np.nan, 0.03]}
    )  # fmt: skip
    with pytest.warns(DroppedRowsWarning, match="1 site"):
        plot.forest(sites, model="crude")


# ------------------------------------------------------------------ 2: mean before pooling
def test_exams_per_patient_mean_of_uncapped_counts() -> None:
    n = [1, 1, 2, 9, 30]
    fig = plot.exams_per_patient(pl.DataFrame({"n_exams": n}), max_exams=3)
    assert f"mean {np.mean(n):.2f}" in fig.axes[0].get_title()  # 8.60, not 2.00
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [2, 1, 2]  # 1, 2, >= 3


# ------------------------------------------------------------------ 3: pooled without CI
def test_forest_pooled_without_ci_is_a_point() -> None:
    sites = pl.DataFrame(
        {"site": ["A", "B"], "share": [0.01, 0.02], "share_lo": [0.005, 0.01],
         "share_hi": [0.02, 0.03]}
    )  # fmt: skip
    fig = plot.forest(sites, pooled={"share": 0.0128}, threshold=100)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "pooled: 1.28% (no CI)" in texts
    assert not any("1.28–1.28" in t for t in texts)
    assert not fig.axes[0].patches  # no zero-width diamond
    _saves(fig)


# ------------------------------------------------------------------ 4: xlsx text cells
def test_xlsx_text_is_never_a_formula(tmp_path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    table = pl.DataFrame({"=name": ["=1+2", "plain"], "x": [1.5, 2.0]})
    path = export_table(table, tmp_path / "t.xlsx", formatted=False)
    ws = openpyxl.load_workbook(path).active
    assert ws.cell(row=1, column=1).value == "=name"
    assert ws.cell(row=2, column=1).value == "=1+2"
    assert ws.cell(row=2, column=1).data_type == "s"
    assert ws.cell(row=2, column=2).value == 1.5


# ------------------------------------------------------------------ 5: unusable inputs
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: plot.share_above(pl.DataFrame({"ced_msv": []}, schema={"ced_msv": pl.Float64})),
         DataError, "ced_msv"),
        (lambda: plot.ced_distribution(pl.DataFrame({"ced_msv": [1.0, 2.0]}), bins=0),
         ParameterError, "bins"),
        (lambda: plot.ced_distribution(pl.DataFrame({"ced_msv": [1.0, 2.0]}), bins=-1),
         ParameterError, "bins"),
        (lambda: plot.funnel(pl.DataFrame({"n_patients": [], "n_reached": []})),
         DataError, "site"),
        (lambda: plot.funnel(pl.DataFrame({"n_patients": [10, 20], "n_reached": [1, 2]}),
                             limits=(1.0,)), ParameterError, "limits"),
        (lambda: plot.funnel(pl.DataFrame({"n_patients": [10, 20], "n_reached": [12, 2]})),
         DataError, "n_reached"),
        (lambda: plot.exams_per_patient(pl.DataFrame({"n_exams": [1, -2]})),
         DataError, "negative n_exams"),
        (lambda: plot.exams_per_patient(pl.DataFrame({"n_exams": [1, None]})),
         DataError, "null n_exams"),
        (lambda: plot.ced_vs_exams(pl.DataFrame({"n_exams": [1, -2], "ced_msv": [1.0, 2.0]})),
         DataError, "negative n_exams"),
    ],
)  # fmt: skip
def test_unusable_input_raises(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_figures_that_are_returned_can_be_saved() -> None:
    _saves(plot.share_above(pl.DataFrame({"ced_msv": [0.0, 0.0]})))
    fig = plot.ced_vs_exams(pl.DataFrame({"n_exams": [0, 1, 2], "ced_msv": [3.0, 2.0, 9.0]}))
    assert "n = 2 patients" in fig.axes[0].get_title()
    _saves(fig)


# ------------------------------------------------------------------ 6, 8, 9: publication table
def _mag(**over) -> pl.DataFrame:
    row = {"threshold": 100.0, "n_patients": 0, "n_exams": 0, "n_reached": 0,
           "share": float("nan"), "share_lo": float("nan"), "share_hi": float("nan")}  # fmt: skip
    row.update(over)
    return pl.DataFrame([row])


def test_publication_table_no_nan_text() -> None:
    cells = publication_table(_mag()).row(0)
    assert not any("nan" in c for c in cells)
    assert cells[2] == "0"
    # a share without its CI: the CI part left out
    cells = publication_table(_mag(n_patients=4, n_reached=1, share=0.25)).row(0)
    assert cells[2] == "1 (25.00%)"


def test_empty_publication_table_has_publication_columns() -> None:
    rng = np.random.default_rng(0)
    patients = pl.DataFrame(
        {"patient_id": np.arange(50), "n_exams": rng.integers(1, 9, 50),
         "ced_msv": rng.lognormal(3, 1.5, 50), "age_at_first_exam": rng.uniform(0, 90, 50)}
    )  # fmt: skip
    table = magnitude(patients, 100)
    full = publication_table(table)
    assert len(full.columns) == 6
    empty = publication_table(table.head(0))
    assert empty.height == 0
    assert len(empty.columns) == 6  # not readable's numeric labels
    assert publication_table(table.head(0), threshold=100).columns == full.columns
    assert all(dt == pl.Utf8 for dt in empty.dtypes)


def test_digits_are_honoured(tmp_path) -> None:
    t = _mag(n_patients=7, n_reached=3, share=3 / 7, share_lo=0.1, share_hi=0.8,
             n_age_le_cut=1, share_age_le_cut=1 / 3)  # fmt: skip
    row = publication_table(t, digits=3).row(0, named=True)
    aged = next(v for k, v in row.items() if k.startswith("Aged"))
    assert aged == "1 (33.333%)"
    assert row["Patients with CED ≥ 100 mSv, n (%, 95% CI)"] == "3 (42.857%, 10.000–80.000)"
    path = export_table(t, tmp_path / "t.md", formatted=False, digits=1)
    last = path.read_text(encoding="utf-8").splitlines()[-1]
    assert "| 42.9 |" in last and "42.857" not in last
    tex = export_table(t, tmp_path / "t.tex", formatted=False, digits=1).read_text()
    assert "42.9" in tex and "42.857" not in tex


# ------------------------------------------------------------------ 7: Markdown line breaks
def test_markdown_cell_with_newline_stays_one_row() -> None:
    md = to_markdown(pl.DataFrame({"a": ["one\ntwo", "x\r\ny"], "b": ["p|q", "z"]}))
    lines = md.splitlines()
    assert len(lines) == 4  # header, rule, 2 rows
    assert lines[2] == "| one<br>two | p\\|q |"
    assert lines[3] == "| x<br>y | z |"


# ------------------------------------------------------------------ 11: long site labels
def test_forest_long_site_label_legend_clears_x_label() -> None:
    long = "University Hospital of a Rather Long Name, Department of Radiology 1"
    assert len(long) >= 68
    n = np.array([100, 200, 300])
    k = np.array([1, 4, 6])
    sites = pl.DataFrame(
        {"site": [long, "B", "C"], "n_patients": n, "n_reached": k, "share": k / n,
         "share_lo": k / n / 2, "share_hi": np.minimum(k / n * 2, 1)}
    )  # fmt: skip
    fig = plot.forest(sites, threshold=100, model="fixed")
    canvas = FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    r = canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(r)
    xlabel = fig.axes[0].xaxis.label.get_window_extent(r)
    assert not legend.overlaps(xlabel)
    first = fig.axes[0].get_yticklabels()[0].get_text()
    assert all(len(line) <= 28 for line in first.split("\n"))
    assert re.match(r"University Hospital", first)
