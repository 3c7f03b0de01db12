"""Figures and tables for a paper (audit s18): intervals labelled at their own level, the
caption of a cumulative-incidence curve, categorical strata, null and empty strata, the
threshold of share_above, distinct long labels, shares near 100%, small wording fixes."""

from __future__ import annotations

import datetime as dt
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import plot, stats, synthetic
from recurct.errors import ParameterError
from recurct.stats.publish import export_table, publication_table, readable

COL90 = "Patients with CED ≥ 100 mSv, n (%, 90% CI)"
COL95 = "Patients with CED ≥ 100 mSv, n (%, 95% CI)"


@pytest.fixture(scope="module")
def patients() -> pl.DataFrame:
    return recurct.cumulative_dose(synthetic.generate("small", seed=1), thresholds=[100])


def _legend(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def _steps(fig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        ln.get_label(): (np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata()))
        for ln in fig.axes[0].get_lines()
        if ln.get_drawstyle().startswith("steps")
    }


# ------------------------------------------------------------------ 1: the level of a CI
def test_plain_table_labels_its_intervals_at_the_level_given(patients, tmp_path) -> None:
    m90 = stats.magnitude(patients, 100, alpha=0.10)
    assert COL90 in publication_table(m90, alpha=0.10).columns
    assert COL95 in publication_table(m90).columns  # default: the functions' 0.05
    assert "90% CI low (%)" in readable(m90, alpha=0.1).columns
    assert "99.9% CI high (%)" in readable(m90, alpha=0.001).columns
    path = export_table(m90, tmp_path / "m.md", alpha=0.1)
    text = path.read_text(encoding="utf-8")
    assert "90% CI" in text and "95% CI" not in text
    with pytest.raises(ParameterError, match="alpha"):
        publication_table(m90, alpha=1.5)


def test_site_table_carries_its_level_to_table_and_forest(patients) -> None:
    st = stats.site_table(patients, 100, site="facility", alpha=0.10)
    assert COL90 in publication_table(st, threshold=100).columns
    assert "90% CI low (%)" in readable(st).columns
    with pytest.raises(ParameterError, match=r"alpha=0\.1"):
        publication_table(st, threshold=100, alpha=0.05)
    texts = _legend(plot.forest(st, threshold=100))
    assert "site (90% CI)" in texts
    assert not any("95%" in t for t in texts), texts
    # the pooled diamond is meta_proportion at the SiteTable's level, not at 95%
    ref = stats.meta_proportion(
        st.sites.select("site", "n_patients", "n_reached"), alpha=0.10
    ).pooled.row(0, named=True)
    pooled = next(t for t in texts if t.startswith("random effects"))
    assert f"(90% CI {100 * ref['share_lo']:.2f}–{100 * ref['share_hi']:.2f})" in pooled
    with pytest.raises(ParameterError, match="alpha"):
        plot.forest(st, alpha=0.05)
    # a (sites, summary) pair carries it too; a plain site table takes alpha=
    assert "site (90% CI)" in _legend(plot.forest((st.sites, st.summary)))
    assert "site (80% CI)" in _legend(plot.forest(st.sites, alpha=0.2, model="crude"))


def test_meta_result_carries_its_level(patients) -> None:
    st = stats.site_table(patients, 100, site="facility")
    meta = stats.meta_proportion(st.sites.select("site", "n_patients", "n_reached"), alpha=0.1)
    assert COL90 in publication_table(meta, threshold=100).columns
    assert "site (90% CI)" in _legend(plot.forest(meta))
    # four heterogeneous sites: a prediction interval is drawn, labelled at the same level
    sites = pl.DataFrame(
        {"site": ["A", "B", "C", "D"], "n_patients": [1000, 1000, 1000, 1000],
         "n_reached": [5, 40, 120, 15]}
    )  # fmt: skip
    het = stats.meta_proportion(sites, alpha=0.1)
    assert het.pooled["tau2"][0] > 0
    texts = _legend(plot.forest(het))
    assert any(t.startswith("90% prediction interval") for t in texts), texts
    assert "site (90% CI)" in texts
    assert not any("95%" in t for t in texts), texts


def test_curve_caption_names_its_level(patients) -> None:
    km = stats.time_to_threshold(patients, 100, alpha=0.10)
    cap = plot.time_to_threshold_curve(km)._supxlabel.get_text()
    assert cap.startswith("Kaplan-Meier estimate") and "pointwise 90% CI" in cap
    assert "95%" not in cap
    with pytest.raises(ParameterError, match="alpha"):
        plot.time_to_threshold_curve(km, alpha=0.05)
    bare = plot.time_to_threshold_curve(km.curve, 100, alpha=0.1)._supxlabel.get_text()
    assert "pointwise 90% CI" in bare
    default = plot.time_to_threshold_curve(stats.time_to_threshold(patients, 100))
    assert default._supxlabel.get_text() == plot.CENSORING_CAPTION


# ------------------------------------------------------------------ 2: Aalen-Johansen caption
def test_cumulative_incidence_is_captioned_aalen_johansen(patients) -> None:
    rng = np.random.default_rng(0)
    dead = pl.Series(rng.random(patients.height) < 0.3)
    p = patients.with_columns(
        death=pl.when(dead).then(pl.col("last_exam") + pl.duration(days=30)).otherwise(None)
    )
    ci = stats.cumulative_incidence(p, 100, death="death", alpha=0.2)
    for fig in (plot.time_to_threshold_curve(ci), ci.plot()):
        cap = fig._supxlabel.get_text()
        assert cap.startswith("Aalen-Johansen cumulative incidence (death as a competing event")
        assert "pointwise 80% CI" in cap and "Kaplan-Meier" not in cap
    # the drawn curve: Aalen-Johansen computed here from the events
    ev = ci.events
    t_all, e_all = ev["time_days"].to_numpy(), ev["event"].to_numpy()
    s, f, out = 1.0, 0.0, {}
    for t in np.unique(t_all):
        n = (t_all >= t).sum()
        d1, d2 = ((t_all == t) & (e_all == 1)).sum(), ((t_all == t) & (e_all == 2)).sum()
        f += s * d1 / n
        s *= 1 - (d1 + d2) / n
        out[t] = f
    x, y = _steps(plot.time_to_threshold_curve(ci))["all patients"]
    ts = np.array(sorted(out))
    idx = np.searchsorted(ts, np.round(x * 365.25, 6), side="right") - 1
    ref = 100 * np.where(idx >= 0, np.array([out[t] for t in ts])[np.maximum(idx, 0)], 0)
    np.testing.assert_allclose(y, ref, atol=1e-9)


# ------------------------------------------------------------------ 3: categorical strata
@pytest.mark.parametrize("cast", ["cat", "enum", "int", "date"])
def test_strata_of_any_group_type_are_kept(patients, cast) -> None:
    m = stats.magnitude(patients, 100, by="sex")
    if cast == "cat":
        m = m.with_columns(pl.col("sex").cast(pl.Categorical))
    elif cast == "enum":
        m = m.with_columns(pl.col("sex").cast(pl.Enum(["all", "F", "M"])))
    elif cast == "int":
        m = m.with_columns(pl.Series("sex", [2019] * m.height))
    else:
        m = m.with_columns(pl.lit(dt.date(2020, 1, 31)).alias("sex"))
    out = publication_table(m)
    assert out.columns[0] == "Sex"
    expected = {"cat": "all", "enum": "all", "int": "2019", "date": "2020-01-31"}[cast]
    assert out["Sex"][0] == expected
    assert stats.readable(m).columns[0] == "Sex"


def test_unknown_numeric_columns_are_kept_not_dropped(patients) -> None:
    m = stats.magnitude(patients, 100).with_columns(pl.lit(0.25).alias("extra_share"))
    out = publication_table(m)
    assert out["extra_share (%)"][0] == "25.00"


# ------------------------------------------------------------------ 4: null and empty strata
def test_null_and_empty_strata_are_labelled_and_run_to_their_follow_up(patients) -> None:
    groups = np.array(["A", "", "None", None] * (patients.height // 4 + 1), dtype=object)
    p = patients.with_columns(g=pl.Series(groups[: patients.height].tolist(), dtype=pl.Utf8))
    r = stats.time_to_threshold(p, 100, by="g")
    lines = _steps(r.plot())
    assert set(lines) == {"all patients", "A", '""', "None", "(missing)"}
    ends = dict(r.events.group_by("g").agg(pl.col("time_years").max()).iter_rows())
    assert lines["(missing)"][0][-1] == pytest.approx(ends[None])
    assert lines["None"][0][-1] == pytest.approx(ends["None"])
    assert lines['""'][0][-1] == pytest.approx(ends[""])
    table = publication_table(stats.magnitude(p, 100, by="g"))
    assert {"(missing)", '""', "None"} <= set(table["g"].to_list())


# ------------------------------------------------------------------ 5: share_above threshold
@pytest.mark.parametrize("bad", [float("nan"), -5, 0, True, "100", float("inf"), 2e6])
def test_share_above_threshold_is_validated(patients, bad) -> None:
    with pytest.raises(ParameterError, match="share_above: threshold must be"):
        plot.share_above(patients, threshold=bad)


def test_share_above_nan_message_names_the_threshold(patients) -> None:
    with pytest.raises(ParameterError, match="threshold must be a finite number > 0"):
        plot.share_above(patients, threshold=float("nan"))


# ------------------------------------------------------------------ 6: long labels
def test_long_labels_stay_distinct_in_curve_and_forest(patients) -> None:
    long = "Universitätsklinikum Hamburg-Eppendorf Klinik für Radiologie "
    names = [long + s for s in ("Nord", "Süd", "West")]
    p = patients.with_columns(
        g=pl.Series([names[i % 3] for i in range(patients.height)], dtype=pl.Utf8)
    )
    labels = _legend(stats.time_to_threshold(p, 100, by="g").plot())
    assert len(set(labels)) == len(labels) == 4
    assert all(len(t) <= 28 for t in labels)
    sites = pl.DataFrame(
        {"site": [long + "A", long + "B", long + "C"], "n_patients": [100, 120, 90],
         "n_reached": [1, 2, 3]}
    ).with_columns(share=pl.col("n_reached") / pl.col("n_patients"), share_lo=0.0, share_hi=0.1)
    ticks = [t.get_text() for t in plot.forest(sites).axes[0].get_yticklabels()]
    assert len(set(ticks)) == len(ticks) == 4


# ------------------------------------------------------------------ 7: shares near 100%
def test_share_just_below_100_is_never_100(patients) -> None:
    t = pl.DataFrame(
        {"threshold": [100.0], "n_patients": [30_000], "n_reached": [29_999],
         "share": [29_999 / 30_000], "share_lo": [0.9998], "share_hi": [1.0]}
    )  # fmt: skip
    assert publication_table(t)[COL95][0] == "29,999 (>99.99%, 99.98–100.00)"
    ced = np.r_[np.full(29_999, 150.0), [5.0]]
    fig = plot.ced_distribution(pl.DataFrame({"patient_id": np.arange(ced.size), "ced_msv": ced}))
    assert "29,999 patients (>99.99%)" in _legend(fig)[0]


def test_forest_legend_shows_a_tiny_pooled_share_as_below_the_last_digit() -> None:
    sites = pl.DataFrame(
        {"site": ["A", "B"], "n_patients": [100_000, 100_000], "n_reached": [1, 0],
         "share": [1e-5, 0.0], "share_lo": [0.0, 0.0], "share_hi": [1e-4, 1e-4]}
    )  # fmt: skip
    texts = _legend(plot.forest(sites, model="crude"))
    assert any("<0.01%" in t for t in texts), texts
    assert not any("0.00% (" in t for t in texts), texts


def test_exams_per_patient_names_the_last_bar_only_when_pooled() -> None:
    p = pl.DataFrame({"patient_id": [1, 2, 3], "n_exams": [1, 3, 7]})
    assert "last bar" not in plot.exams_per_patient(p, max_exams=40).axes[0].get_xlabel()
    fig = plot.exams_per_patient(p, max_exams=5)
    assert fig.axes[0].get_xlabel().endswith("(last bar: ≥ 5)")
    fig.savefig(io.BytesIO(), format="png")
    ticks = fig.axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks))


def test_one_patient_is_singular() -> None:
    p = pl.DataFrame({"patient_id": [1, 2], "ced_msv": [150.0, 5.0]})
    assert "1 patient (50.00%)" in _legend(plot.ced_distribution(p))[0]


def test_a_site_table_that_carries_its_threshold_names_it(patients) -> None:
    from types import SimpleNamespace

    st = stats.site_table(patients, 100, site="facility")
    carried = SimpleNamespace(
        sites=st.sites, summary=st.summary.with_columns(threshold=pl.lit(100.0))
    )
    assert COL95 in publication_table(carried).columns
    assert COL95 in publication_table(st, threshold=100).columns
