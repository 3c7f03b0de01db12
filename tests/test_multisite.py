"""Tests of recurct.stats.multisite.site_table against hand computations and statsmodels."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from recurct.stats.multisite import site_table
from recurct.stats.proportion import proportion_ci

AGG = pl.DataFrame(
    {
        "site": ["b", "a", "c"],
        "n_patients": [200, 100, 50],
        "n_reached": [4, 1, 0],
        "country": ["IT", "FR", "FR"],
        "academic": [True, False, True],
    }
)


def test_aggregates_sites_and_summary() -> None:
    res = site_table(AGG)
    s = res.sites
    assert s.get_column("site").to_list() == ["a", "b", "c"]
    assert s.get_column("share").to_list() == pytest.approx([0.01, 0.02, 0.0])
    lo, hi = proportion_confint([1, 4, 0], [100, 200, 50], method="wilson")
    np.testing.assert_allclose(s.get_column("share_lo").to_numpy(), np.maximum(lo, 0), atol=1e-15)
    np.testing.assert_allclose(s.get_column("share_hi").to_numpy(), hi)
    assert s.get_column("country").to_list() == ["FR", "IT", "FR"]
    row = res.summary.row(0, named=True)
    assert row["n_sites"] == 3
    assert row["n_patients"] == 350 and row["n_reached"] == 5
    assert row["share"] == pytest.approx(5 / 350)
    plo, phi = proportion_confint(5, 350, method="wilson")
    assert (row["share_lo"], row["share_hi"]) == pytest.approx((plo, phi))
    assert row["mean_share"] == pytest.approx(0.01)
    assert row["median_share"] == pytest.approx(0.01)
    assert (row["min_share"], row["max_share"]) == (0.0, pytest.approx(0.02))


def test_patients_table_aggregated_by_facility() -> None:
    patients = pl.DataFrame(
        {
            "patient_id": range(7),
            "ced_msv": [150.0, 20.0, 100.0, 99.9, 5.0, 300.0, 1.0],
            "facility": ["x", "x", "x", "y", "y", "y", "y"],
        }
    )
    res = site_table(patients, threshold=100)
    assert res.sites.select("site", "n_patients", "n_reached").rows() == [("x", 3, 2), ("y", 4, 1)]
    # reached_<T> is used when present, even if it disagrees with ced_msv
    flagged = patients.with_columns(reached_50=pl.Series([True] * 7))
    assert site_table(flagged, threshold=50).summary.item(0, "n_reached") == 7


def test_pandas_in_pandas_out_and_exact_ci() -> None:
    res = site_table(AGG.to_pandas(), ci="clopper-pearson", alpha=0.1)
    assert isinstance(res.sites, pd.DataFrame) and isinstance(res.summary, pd.DataFrame)
    lo, hi = proportion_confint(4, 200, alpha=0.1, method="beta")
    row = res.sites.set_index("site").loc["b"]
    assert (row.share_lo, row.share_hi) == pytest.approx((lo, hi))


def test_frija2021_pooled_share() -> None:
    # Frija et al. 2021 (Eur Radiol 31:5514): 6,082 of 1,218,429 patients at 18 institutions,
    # pooled 0.499%. The split over sites below is hypothetical; only the totals are published.
    n = np.full(18, 1_218_429 // 18)
    n[0] += 1_218_429 - n.sum()
    x = np.full(18, 6_082 // 18)
    x[0] += 6_082 - x.sum()
    agg = pl.DataFrame({"site": [f"s{i:02d}" for i in range(18)], "n_patients": n, "n_reached": x})
    row = site_table(agg).summary.row(0, named=True)
    assert row["n_sites"] == 18
    assert round(100 * row["share"], 3) == 0.499


def test_carries_periods_and_validates() -> None:
    agg = AGG.with_columns(
        period_start=pl.lit(date(2015, 1, 1)), period_end=pl.lit(date(2018, 12, 31))
    )
    assert "period_end" in site_table(agg).sites.columns
    with pytest.raises(ValueError, match="n_reached <= n_patients"):
        site_table(AGG.with_columns(n_reached=pl.Series([300, 1, 0])))
    with pytest.raises(ValueError, match="unique"):
        site_table(AGG.with_columns(site=pl.Series(["a", "a", "c"])))
    with pytest.raises(ValueError, match="not in the patients table"):
        site_table(pl.DataFrame({"ced_msv": [1.0]}), site="hospital")
    with pytest.raises(ValueError, match="unknown CI method"):
        proportion_ci(1, 10, ci="bogus")


def test_zero_and_all_events_bounds() -> None:
    lo, hi = proportion_ci([0, 10], [10, 10])
    assert lo[0] == 0.0 and hi[1] == 1.0


def test_old_n_high_column_is_refused_naming_n_reached() -> None:
    from recurct.stats import meta_proportion

    old = AGG.rename({"n_reached": "n_high"})
    with pytest.raises(ValueError, match="'n_high' was renamed to 'n_reached'"):
        site_table(old)
    with pytest.raises(ValueError, match="'n_high' was renamed to 'n_reached'"):
        meta_proportion(old)


def test_site_names_the_site_column_of_a_patients_table() -> None:
    p = pl.DataFrame({"hospital": ["a", "a", "b"], "ced_msv": [120.0, 5.0, 150.0]})
    res = site_table(p, 100, site="hospital")
    assert res.sites.select("site", "n_patients", "n_reached").rows() == [("a", 2, 1), ("b", 1, 1)]
    assert res.summary.item(0, "ci") == "wilson"
