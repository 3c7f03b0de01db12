"""Publication tables and figures: the problems of the audit of shares, counts, rounding,
validation, curves, legends and escaping (one test or more per problem)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import itertools
import math
import warnings
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recurct import plot
from recurct.errors import DataError
from recurct.stats import dose_bands, publication_table, time_to_threshold
from recurct.stats.publish import to_latex, to_markdown


def _legend_texts(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


# 1. dose bands and other tables: percentages, whole counts, band edges as written


def test_dose_band_table_has_percentages_counts_and_edges_as_written() -> None:
    ced = np.r_[np.full(4000, 5.0), np.full(1213, 60.0), np.full(4, 300.0)]
    patients = pl.DataFrame({"patient_id": np.arange(ced.size), "ced_msv": ced})
    bands = dose_bands(patients)
    out = publication_table(bands)
    row = out.filter(pl.col("Dose band (mSv)") == "250-1000").row(0, named=True)
    assert row["Band from (mSv)"] == "250"
    assert row["Band to (mSv)"] == "1,000"
    assert row["Patients"] == "4"
    assert row["Share (%)"] == f"{100 * 4 / 5217:.2f}" == "0.08"
    first = out.row(0, named=True)
    assert first["Share (%)"] == f"{100 * 4000 / 5217:.2f}"  # 76.67, not a fraction 0.77
    assert first["cum_share_ge (%)"] == "100.00"
    assert out["Band to (mSv)"][-1] == "∞"
    # the same labels as readable() of the same table
    from recurct.stats import readable

    assert out.columns == readable(bands).columns


@settings(max_examples=60, deadline=None)
@given(p=st.floats(0, 1), digits=st.integers(0, 4))
def test_share_of_an_other_table_is_a_percentage_never_a_false_zero(p: float, digits: int) -> None:
    cell = publication_table(pl.DataFrame({"n_patients": [10], "share": [p]}), digits=digits)
    text = cell["Share (%)"][0]
    if 0 < 100 * p < 0.5 * 10.0**-digits:
        assert text == f"<{10.0**-digits:.{digits}f}"
    elif 100 * p < 100 and f"{100 * p:,.{digits}f}" == f"{100:,.{digits}f}":
        # just below 100%: never shown as 100 (the ">99.99" rule)
        assert text == f">{100 - 10.0**-digits:.{digits}f}"
    else:
        assert text == f"{100 * p:,.{digits}f}"
        assert abs(float(text) - 100 * p) <= 0.5 * 10.0**-digits + 1e-9


# 2. reproduction tables: counts whole, published values with the paper's digits


def _reproduction(**cols: list) -> pl.DataFrame:
    n = len(cols["figure"])
    base = {
        "description": cols["figure"],
        "reproduced_lo": [None] * n,
        "reproduced_hi": [None] * n,
        "within_tolerance": [None] * n,
    }
    return pl.DataFrame({**base, **cols}, strict=False)


def test_reproduction_counts_are_whole_and_published_keeps_its_digits() -> None:
    t = _reproduction(
        figure=["patients", "institutions", "age_min", "median", "share"],
        unit=["patients", "institutions", "%", "mSv", "%"],
        published=[2_504_585.0, 4.0, 13.4, 130.3, 1.33],
        reproduced=[5000.0, 4.0, 0.0, 124.655408, 1.28],
    )
    out = publication_table(t, digits=2)
    assert out["Published"].to_list() == ["2,504,585", "4", "13.4", "130.3", "1.33"]
    assert out["Reproduced (95% CI)"].to_list() == ["5,000", "4", "0.00", "124.7", "1.28"]


def test_reproduction_object_uses_the_published_rounding() -> None:
    # rehani2020's share_reached_100 is published to 0.01 (rounding 0.01): "1.30", not "1.3"
    t = _reproduction(
        figure=["share_reached_100", "ced_median_100"],
        unit=["%", "mSv"],
        published=[1.3, 130.0],
        reproduced=[1.28, 124.66],
    )
    out = publication_table(SimpleNamespace(table=t, study="rehani2020"))
    assert out["Published"].to_list() == ["1.30", "130.0"]
    assert out["Reproduced (95% CI)"].to_list() == ["1.28", "124.7"]


# 3. a share above 0 is never shown as 0


def test_tiny_share_is_shown_as_below_the_last_digit() -> None:
    t = pl.DataFrame(
        {"n_patients": [100_000], "n_reached": [1], "share": [1e-5], "share_lo": [1.8e-6],
         "share_hi": [5.7e-5]}
    )  # fmt: skip
    cell = publication_table(t, threshold=100).row(0)[1]
    assert cell == "1 (<0.01%, <0.01–0.01)"
    assert publication_table(t, threshold=100, digits=1).row(0)[1] == "1 (<0.1%, <0.1–<0.1)"
    zero = t.with_columns(n_reached=pl.lit(0), share=pl.lit(0.0), share_lo=pl.lit(0.0))
    assert publication_table(zero, threshold=100).row(0)[1] == "0 (0.00%, 0.00–0.01)"


def test_legends_show_a_tiny_share_as_below_the_last_digit() -> None:
    ced = np.r_[np.full(20_000, 5.0), [150.0]]
    patients = pl.DataFrame({"patient_id": np.arange(ced.size), "ced_msv": ced})
    for fn in (plot.ced_distribution, plot.share_above):
        texts = _legend_texts(fn(patients, threshold=100))
        assert any("1 patient (<0.01%)" in t for t in texts), texts
        assert not any("0.00%" in t for t in texts)


# 4. tables it misreads: a DataError naming the column and the kind of table


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (pl.DataFrame({"site": ["A"], "n_patients": [10], "share": [0.1]}), ["site", "n_reached"]),
        (
            pl.DataFrame({"std_share": [0.1], "std_share_lo": [0.0], "std_share_hi": [0.2]}),
            ["age-standardised", "n_patients"],
        ),
        (
            pl.DataFrame({"site": ["A"], "n_patients": [10], "n_reached": [1], "share": ["10%"]}),
            ["site", "'share'", "numbers"],
        ),
        (
            pl.DataFrame({"figure": ["x"], "published": ["1.3"], "reproduced": [1.2]}),
            ["reproduction", "'published'"],
        ),
    ],
)
def test_misread_tables_raise_a_data_error(table: pl.DataFrame, words: list[str]) -> None:
    with pytest.raises(DataError) as info:
        publication_table(table)
    assert all(w in str(info.value) for w in words), str(info.value)


# 5. curves run to the end of follow-up


def _curve_patients() -> pl.DataFrame:
    d0 = pl.date(2015, 1, 1)
    return pl.DataFrame(
        {
            "sex": ["F", "F", "M", "M", "X", "X"],
            "days_to_100": [100, None, 400, None, None, None],
            "reached_100": [True, False, True, False, False, False],
            "span": [500, 600, 700, 1800, 900, 1200],
        }
    ).with_columns(first_exam=d0, last_exam=d0 + pl.duration(days=pl.col("span")))


def test_curves_run_flat_to_the_last_observed_time() -> None:
    res = time_to_threshold(_curve_patients(), 100, by="sex")
    ax = plot.time_to_threshold_curve(res).axes[0]
    ends = {}
    for line in ax.get_lines():
        x, y = line.get_xdata(), line.get_ydata()
        ends[line.get_label()] = x[-1]
        assert y[-1] == y[-2]  # flat after the last event
    events = res.events
    for label, sex in [("F", "F"), ("M", "M"), ("X", "X"), ("all patients", None)]:
        ev = events if sex is None else events.filter(pl.col("sex") == sex)
        t_end = ev["time_years"].max()
        assert ends[label] == pytest.approx(t_end)
        # the time up to which .at() gives values
        at = res.at([t_end, t_end + 0.01])
        at = at if sex is None else at.filter(pl.col("sex") == sex)
        assert at["prob_reached"][0] is not None and at["prob_reached"][1] is None
    assert ax.get_xlim()[1] >= 1800 / 365.25


def test_no_event_at_all_still_spans_the_follow_up() -> None:
    p = _curve_patients().with_columns(days_to_100=None, reached_100=False)
    ax = plot.time_to_threshold_curve(time_to_threshold(p, 100)).axes[0]
    assert ax.get_xlim()[1] >= 1800 / 365.25
    assert max(line.get_xdata()[-1] for line in ax.get_lines()) == pytest.approx(1800 / 365.25)


# 6. many strata: legend inside the figure, curves told apart; forest labels apart


def test_forty_strata_fit_and_are_told_apart() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    d0 = pl.date(2015, 1, 1)
    reached = rng.random(n) < 0.3
    p = pl.DataFrame(
        {
            "site": [f"Hospital {i:02d} of a regional network" for i in rng.integers(0, 40, n)],
            "days_to_100": rng.integers(1, 400, n),
            "reached_100": reached,
            "span": rng.integers(400, 1500, n),
        }
    ).with_columns(
        days_to_100=pl.when(pl.col("reached_100")).then(pl.col("days_to_100")),
        first_exam=d0,
        last_exam=d0 + pl.duration(days=pl.col("span")),
    )
    km = time_to_threshold(p, 100, by="site")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot.time_to_threshold_curve(km)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box, legend = fig.bbox, fig.legends[0].get_window_extent(renderer)
    assert box.x0 - 1 <= legend.x0 and legend.x1 <= box.x1 + 1
    assert box.y0 - 1 <= legend.y0 and legend.y1 <= box.y1 + 1
    lines = fig.axes[0].get_lines()
    assert len(lines) == 41
    assert len({(ln.get_color(), ln.get_linestyle()) for ln in lines[:32]}) == 32
    assert any("beyond 32" in str(w.message) for w in caught)


def test_forest_long_labels_do_not_overlap() -> None:
    n = 30
    k = np.arange(n) + 1
    sites = pl.DataFrame(
        {
            "site": [f"Hospital number {i} of the very long regional network" for i in range(n)],
            "n_patients": np.full(n, 1000),
            "n_reached": k,
            "share": k / 1000,
            "share_lo": k / 2000,
            "share_hi": k / 500,
        }
    )
    fig = plot.forest(sites, threshold=100, model="fixed")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_yticklabels()]
    boxes = sorted(boxes, key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 0.5 for a, b in itertools.pairwise(boxes))


# 7. one CED: a visible bar


def test_one_patient_gives_a_visible_bar() -> None:
    fig = plot.ced_distribution(pl.DataFrame({"patient_id": [1], "ced_msv": [20.0]}))
    ax = fig.axes[0]
    bars = [b for b in ax.patches if b.get_height() > 0]
    assert len(bars) == 1
    lo, width = bars[0].get_x(), bars[0].get_width()
    assert lo == pytest.approx(20 / 1.1) and lo + width == pytest.approx(22.0)
    assert ax.get_xlim()[0] <= lo and lo + width <= ax.get_xlim()[1]


# 8. escaping


def test_latex_escapes_tau_bars_and_angle_brackets() -> None:
    tex = to_latex(pl.DataFrame({"τ²": ["a|b<c>d"], "I² (%)": ["1"]}))
    assert "τ" not in tex and "²" not in tex
    assert r"$\tau$\textsuperscript{2}" in tex
    assert r"a\textbar{}b\textless{}c\textgreater{}d" in tex
    assert "|" not in tex.replace(r"\textbar{}", "")


def test_markdown_escapes_backslash_before_pipe() -> None:
    md = to_markdown(pl.DataFrame({"label": ["c\\|d"]}))
    assert md.splitlines()[2] == "| c\\\\\\|d |"


# 9. smaller: separators, missing values, digits, singulars


def _magnitude(**extra: list) -> pl.DataFrame:
    base = {"n_patients": [20_000], "n_reached": [30], "share": [0.0015], "share_lo": [0.001],
            "share_hi": [0.002]}  # fmt: skip
    return pl.DataFrame({**base, **extra})


def test_ced_cells_have_thousands_separators_and_nan_is_missing() -> None:
    t = _magnitude(ced_median=[1234.56], ced_q1=[1000.0], ced_q3=[12345.6])
    cell = publication_table(t, threshold=100).row(0, named=True)
    assert cell["CED among patients ≥ 100 mSv, median (IQR), mSv"] == "1,234.6 (1,000.0–12,345.6)"
    nan = _magnitude(ced_median=[math.nan], ced_q1=[math.nan], ced_q3=[math.nan])
    cell = publication_table(nan, threshold=100).row(0, named=True)
    assert cell["CED among patients ≥ 100 mSv, median (IQR), mSv"] == "–"


def test_site_weight_follows_digits() -> None:
    sites = pl.DataFrame(
        {"site": ["A", "B"], "n_patients": [100, 300], "n_reached": [1, 3], "share": [0.01, 0.01],
         "weight": [0.25, 0.75]}
    )  # fmt: skip
    assert publication_table(sites, threshold=100, digits=3)["Weight (%)"].to_list() == [
        "25.000",
        "75.000",
    ]


def test_empty_and_single_figures_have_no_nan_and_no_false_plural() -> None:
    empty = pl.DataFrame({"patient_id": [], "n_exams": [], "ced_msv": []}).cast(
        {"patient_id": pl.Int64, "n_exams": pl.Int64, "ced_msv": pl.Float64}
    )
    assert not any("nan" in t for t in _legend_texts(plot.ced_distribution(empty)))
    assert "nan" not in plot.exams_per_patient(empty).axes[0].get_title()
    one = pl.DataFrame(
        {"site": ["A"], "n_patients": [100], "n_reached": [3], "share": [0.03],
         "share_lo": [0.01], "share_hi": [0.08]}
    )  # fmt: skip
    assert "(1 site)" in plot.forest(one, model="crude").axes[0].get_title()
    pts = pl.DataFrame({"patient_id": [1, 2], "n_exams": [3, 40], "ced_msv": [5.0, 9.0]})
    assert "≥ 5" in plot.exams_per_patient(pts, max_exams=5).axes[0].get_xlabel()
