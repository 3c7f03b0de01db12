"""recurct.plot: every function returns a Figure with labelled axes that draws its input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import polars as pl
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from recurct import plot


@pytest.fixture
def patients() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = 500
    n_exams = rng.geometric(0.5, n)
    ced = np.round(rng.lognormal(2.0, 1.2, n) * n_exams, 3)
    ced[:3] = [0.0, 100.0, 1200.0]
    return pl.DataFrame({"patient_id": np.arange(n), "n_exams": n_exams, "ced_msv": ced})


@pytest.fixture
def sites() -> pl.DataFrame:
    n = np.array([1000, 5000, 20000, 300, 80000])
    k = np.array([5, 30, 90, 4, 380])
    p = k / n
    se = np.sqrt(p * (1 - p) / n)
    return pl.DataFrame(
        {
            "site": ["A", "B", "C", "D", "E"],
            "n_patients": n,
            "n_reached": k,
            "share": p,
            "share_lo": p - 1.96 * se,
            "share_hi": p + 1.96 * se,
        }
    )


def _ax(fig: Figure):
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel()
    return ax


def test_ced_distribution_counts_and_threshold(patients: pl.DataFrame) -> None:
    fig = plot.ced_distribution(patients, threshold=100)
    ax = _ax(fig)
    assert "mSv" in ax.get_xlabel()
    assert ax.get_xscale() == "log"
    # the bars hold every patient with CED > 0 (one is 0 mSv and cannot be on a log axis)
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == (patients["ced_msv"] > 0).sum()
    # the threshold line sits at 100 mSv, and the legend counts patients >= 100 independently
    xs = [line.get_xdata()[0] for line in ax.get_lines()]
    assert xs == [100]
    n_high = int(np.sum(patients["ced_msv"].to_numpy() >= 100))
    assert f"{n_high:,} patients" in ax.get_legend().get_texts()[0].get_text()
    assert "1 at 0 mSv not shown" in ax.get_title()


def test_ced_distribution_accepts_pandas(patients: pl.DataFrame) -> None:
    fig = plot.ced_distribution(patients.to_pandas(), threshold=50)
    assert [line.get_xdata()[0] for line in fig.axes[0].get_lines()] == [50]


def test_share_above_points_equal_independent_shares(patients: pl.DataFrame) -> None:
    thresholds = [10, 50, 100, 200]
    ax = _ax(plot.share_above(patients, thresholds=thresholds))
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), thresholds)
    ced = patients["ced_msv"].to_numpy()
    expected = [100 * np.mean(ced >= t) for t in thresholds]
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_share_above_rejects_bad_thresholds(patients: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="> 0 mSv"):
        plot.share_above(patients, thresholds=[0, 100])


def test_time_to_threshold_curve_one_step_per_stratum() -> None:
    km = pl.DataFrame(
        {
            "sex": ["F", "F", "F", "M", "M"],
            "time_years": [0, 1, 2, 0, 5],
            "prob_reached": [0.0, 0.01, 0.02, 0.0, 0.05],
        }
    )
    ax = _ax(plot.time_to_threshold_curve(km))
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), [0, 1, 2], atol=0.01)
    np.testing.assert_allclose(lines[1].get_ydata(), [0, 5])
    assert "years" in ax.get_xlabel()
    fig = ax.figure
    legend = fig.legends[0]  # a figure legend, outside the axes
    assert [t.get_text() for t in legend.get_texts()] == ["F", "M"]
    assert legend.get_title().get_text() == "Sex"  # readable, not the raw column name


def test_time_to_threshold_curve_needs_columns() -> None:
    with pytest.raises(ValueError, match="'time_years' and 'prob_reached'"):
        plot.time_to_threshold_curve(pl.DataFrame({"x": [1.0]}))
    # no guessing among other names: only the columns of time_to_threshold's curve
    with pytest.raises(ValueError, match="'time_years' and 'prob_reached'"):
        plot.time_to_threshold_curve(pl.DataFrame({"years": [0.0], "probability": [0.0]}))


def test_time_to_threshold_curve_takes_the_result_object() -> None:
    from recurct.stats import time_to_threshold

    d0 = pl.date(2015, 1, 1)
    p = pl.DataFrame(
        {
            "sex": ["F", "F", "M", "M"],
            "days_to_100": [100, None, 400, None],
            "reached_100": [True, False, True, False],
            "span": [500, 600, 700, 800],
        }
    ).with_columns(first_exam=d0, last_exam=d0 + pl.duration(days=pl.col("span")))
    res = time_to_threshold(p, 100, by="sex")
    ax = _ax(res.plot())
    assert len(ax.get_lines()) == 3  # all, F, M
    assert "100 mSv" in ax.get_ylabel()  # the result's threshold
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == ["all patients", "F", "M"]
    again = _ax(plot.time_to_threshold_curve(res.curve, 100))
    for a, b in zip(ax.get_lines(), again.get_lines()):
        # the result's curves run on, flat, to the end of follow-up; a bare curve stops
        ya, yb = a.get_ydata(), b.get_ydata()
        np.testing.assert_allclose(ya[: len(yb)], yb)
        assert (ya[len(yb) :] == yb[-1]).all()


def test_ced_vs_exams_hexbin_counts_all_positive(patients: pl.DataFrame) -> None:
    fig = plot.ced_vs_exams(patients)
    ax = _ax(fig)
    hexes = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert hexes[0].get_array().sum() == (patients["ced_msv"] > 0).sum()
    assert len(fig.axes) == 2  # the colour bar


def test_forest_one_row_per_site_and_pooled_diamond(sites: pl.DataFrame) -> None:
    ax = _ax(plot.forest(sites, pooled={"share": 0.0047, "share_lo": 0.0045, "share_hi": 0.0049}))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["A", "B", "C", "D", "E", "pooled"]
    markers = ax.get_lines()[0]
    np.testing.assert_allclose(markers.get_xdata(), 100 * sites["share"].to_numpy())
    diamond = ax.patches[0].get_xy()
    np.testing.assert_allclose(sorted(diamond[:4, 0]), [0.45, 0.47, 0.47, 0.49])


def test_forest_pools_counts_by_random_effects(sites: pl.DataFrame) -> None:
    from scipy.optimize import minimize_scalar

    ax = plot.forest(sites.to_pandas(), threshold=100).axes[0]
    # independent: REML tau2 on the logit scale by a scipy maximisation of the restricted
    # likelihood, then the inverse-variance random-effects mean
    k, n = sites["n_reached"].to_numpy(), sites["n_patients"].to_numpy()
    y = np.log(k / (n - k))
    v = 1 / k + 1 / (n - k)

    def neg_restricted_loglik(tau2: float) -> float:
        w = 1 / (v + tau2)
        m = np.sum(w * y) / np.sum(w)
        return 0.5 * (np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - m) ** 2))

    tau2 = minimize_scalar(
        neg_restricted_loglik, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}
    ).x
    assert tau2 > 0  # the sites differ: random and fixed effects differ
    w = 1 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    p = 100 / (1 + np.exp(-mu))
    assert ax.get_lines()[-1].get_xdata()[0] == pytest.approx(p, rel=1e-6)
    xs = sorted(ax.patches[0].get_xy()[:4, 0])
    assert xs[1] == pytest.approx(p, rel=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "random effects"


def test_funnel_points_and_limits(sites: pl.DataFrame) -> None:
    ax = _ax(plot.funnel(sites))
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], sites["n_patients"].to_numpy())
    np.testing.assert_allclose(points[:, 1], 100 * sites["share"].to_numpy())
    p = sites["n_reached"].sum() / sites["n_patients"].sum()
    upper95 = ax.get_lines()[0]
    n0 = upper95.get_xdata()[0]
    assert upper95.get_ydata()[0] == pytest.approx(100 * (p + 1.959964 * np.sqrt(p * (1 - p) / n0)))
    assert ax.get_lines()[-1].get_ydata()[0] == pytest.approx(100 * p)


def test_funnel_takes_the_results_forest_takes(sites: pl.DataFrame) -> None:
    """A SiteTable or MetaResult gives the points of its ``sites`` (it was refused as "not a
    table, read files with read_exams first")."""
    from recurct import stats

    counts = sites.select(pl.Series("site", list("abcde")), "n_patients", "n_reached")
    for result in (stats.site_table(counts), stats.meta_proportion(counts)):
        points = _ax(plot.funnel(result)).collections[0].get_offsets()
        expected = result.sites.sort("site")
        order = np.argsort(result.sites["site"].to_numpy())
        np.testing.assert_allclose(points[order, 0], expected["n_patients"].to_numpy())
        share = 100 * expected["n_reached"].to_numpy() / expected["n_patients"].to_numpy()
        np.testing.assert_allclose(points[order, 1], share)


def test_exams_per_patient_bars_equal_counts(patients: pl.DataFrame) -> None:
    ax = _ax(plot.exams_per_patient(patients))
    counts = pd.Series(patients["n_exams"].to_numpy()).value_counts().sort_index()
    bars = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches}
    assert bars == counts.to_dict()
    ax = plot.exams_per_patient(patients, max_exams=3).axes[0]
    assert len(ax.patches) == 3
    assert sum(p.get_height() for p in ax.patches) == patients.height


def test_figures_save_to_png_and_svg(patients: pl.DataFrame, tmp_path) -> None:
    fig = plot.ced_distribution(patients)
    fig.savefig(tmp_path / "a.png")
    fig.savefig(tmp_path / "a.svg")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "a.svg").stat().st_size > 0


def test_time_to_threshold_curve_names_the_threshold() -> None:
    km = pl.DataFrame({"time_years": [0.0, 1.0], "prob_reached": [0.0, 0.1]})
    ax = plot.time_to_threshold_curve(km, threshold=100).axes[0]
    assert "100 mSv" in ax.get_ylabel()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0, 10])


def test_forest_takes_site_table_and_meta_results(sites: pl.DataFrame) -> None:
    from recurct.stats import meta_proportion, site_table

    agg = sites.select("site", "n_patients", "n_reached")
    st = site_table(agg)
    ax = plot.forest(st, model="crude").axes[0]
    xs = sorted(ax.patches[0].get_xy()[:4, 0])
    summary = st.summary.row(0, named=True)
    expected = [
        summary["share_lo"],
        summary["share"],
        summary["share"],
        summary["share_hi"],
    ]
    np.testing.assert_allclose(xs, [100 * v for v in expected])
    meta = meta_proportion(agg)
    for fig in (plot.forest(meta), plot.forest(st)):  # a SiteTable is pooled the same way
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()][-1] == "random effects"
        assert ax.get_lines()[-1].get_xdata()[0] == pytest.approx(100 * meta.pooled["share"][0])
        pi = next(ln for ln in ax.get_lines() if "prediction interval" in ln.get_label())
        np.testing.assert_allclose(
            pi.get_xdata(),
            [100 * meta.pooled["share_pred_lo"][0], 100 * meta.pooled["share_pred_hi"][0]],
        )


# ------------------------------------------------------------------ rendered labels, per figure
def _render(fig: Figure) -> None:
    import io

    fig.savefig(io.BytesIO(), format="png", dpi=60)


def _texts(fig: Figure) -> str:
    """Every text of a rendered figure: titles, axis labels, legends, captions."""
    _render(fig)
    parts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(p for p in parts if isinstance(p, str))


def _legend_clear_of_data(fig: Figure) -> None:
    """The figure legend's box does not overlap the axes (so it covers no data)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), "legend over the data"


def test_forest_labels_prediction_interval_and_legend_outside(sites: pl.DataFrame) -> None:
    fig = plot.forest(sites, threshold=100)
    text = _texts(fig)
    assert "Patients with CED ≥ 100 mSv by site (5 sites)" in text
    assert "patients with CED ≥ 100 mSv (%)" in text
    assert "random effects:" in text and "95% CI" in text
    assert "95% prediction interval" in text and "I² =" in text
    assert fig.axes[0].get_legend() is None
    _legend_clear_of_data(fig)


def test_share_above_log_axis_keeps_small_shares_visible(patients: pl.DataFrame) -> None:
    fig = plot.share_above(patients, threshold=100)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    text = _texts(fig)
    k = int((patients["ced_msv"].to_numpy() >= 100).sum())
    assert f"T = 100 mSv: {k:,} patients ({100 * k / patients.height:.2f}%)" in text
    assert "CED threshold T (mSv)" in text and "(%, log scale)" in text
    # thresholds nobody reaches are counted, not drawn at 0 on a log axis
    fig = plot.share_above(patients, thresholds=[10, 100, 1e6])
    assert "1 threshold(s) reached by no patient not shown" in _texts(fig)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [10, 100])


def test_time_to_threshold_caption_and_readable_legend() -> None:
    km = pl.DataFrame(
        {
            "age_band": ["all", "all", "0-18", "0-18"],
            "time_years": [0.0, 1.0, 0.0, 1.0],
            "prob_reached": [0.0, 0.1, 0.0, 0.05],
        }
    )
    fig = plot.time_to_threshold_curve(km, threshold=100)
    text = _texts(fig)
    assert "Time to a cumulative dose of 100 mSv" in text
    assert "censored at the end of their observation" in text
    assert "Age band (years)" in text and "all patients" in text
    _legend_clear_of_data(fig)
    fig = plot.time_to_threshold_curve(km, threshold=100, caption="censored at 2019-12-31")
    assert "censored at 2019-12-31" in _texts(fig)


def test_ced_distribution_and_funnel_state_threshold_and_units(
    patients: pl.DataFrame, sites: pl.DataFrame
) -> None:
    text = _texts(plot.ced_distribution(patients, threshold=50))
    assert "threshold 50 mSv" in text and "cumulative effective dose (mSv)" in text
    text = _texts(plot.funnel(sites, threshold=100))
    assert "patients with CED ≥ 100 mSv (%)" in text


def test_every_figure_type_renders_with_labelled_axes(
    patients: pl.DataFrame, sites: pl.DataFrame
) -> None:
    km = pl.DataFrame({"time_years": [0.0, 1.0], "prob_reached": [0.0, 0.1]})
    figures = {
        "ced_distribution": (plot.ced_distribution(patients, 100), "mSv"),
        "share_above": (plot.share_above(patients), "mSv"),
        "time_to_threshold_curve": (plot.time_to_threshold_curve(km, 100), "years"),
        "ced_vs_exams": (plot.ced_vs_exams(patients), "mSv"),
        "forest": (plot.forest(sites, threshold=100), "%"),
        "funnel": (plot.funnel(sites, threshold=100), "%"),
        "exams_per_patient": (plot.exams_per_patient(patients), "patients"),
    }
    assert set(figures) == set(plot.__all__) - {"OKABE_ITO", "CENSORING_CAPTION"}
    for name, (fig, unit) in figures.items():
        text = _texts(fig)
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), name
        assert unit in text, name
