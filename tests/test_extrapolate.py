"""Tests of recurct.stats.extrapolate on hand-computed cases and Rehani & Hauptmann 2020."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from recurct.stats import extrapolate


def test_rehani_hauptmann_2020_oecd_ratio() -> None:
    # Rehani & Hauptmann, Phys Med 2020: ~2.5 million of 1.2 billion (0.21%) over 5 years
    share = 2.5e6 / 1.2e9
    assert share == pytest.approx(0.0020833, rel=1e-4)
    assert round(100 * share, 2) == 0.21
    t = extrapolate(share * 1000, 1.2e9, years=5)
    row = t.row(0, named=True)
    assert row["expected"] == pytest.approx(2.5e6)
    assert row["expected_per_year"] == pytest.approx(5e5)
    assert round(100 * row["share"], 2) == 0.21


def test_scalar_with_ci_maps_linearly() -> None:
    row = extrapolate(2.0, 5_000_000, years=4, rate_ci=(1.5, 2.5)).row(0, named=True)
    assert row["expected"] == pytest.approx(10_000)
    assert (row["expected_lo"], row["expected_hi"]) == pytest.approx((7_500, 12_500))
    assert row["expected_per_year"] == pytest.approx(2_500)
    assert (row["expected_per_year_lo"], row["expected_per_year_hi"]) == pytest.approx(
        (1_875, 3_125)
    )
    assert row["share"] == pytest.approx(0.002)
    no_ci = extrapolate(2.0, 1000).row(0, named=True)
    assert no_ci["expected"] == pytest.approx(2.0) and no_ci["expected_lo"] is None


def test_per_country_and_total() -> None:
    # published rates (Finland 0.51, USA 2.9 per 1,000; Rehani & Hauptmann 2020);
    # the populations are round hypothetical numbers chosen for hand arithmetic
    table = pd.DataFrame(
        {
            "country": ["Finland", "USA"],
            "rate_per_1000": [0.51, 2.9],
            "population": [5_000_000, 300_000_000],
            "rate_per_1000_lo": [0.41, 2.8],
            "rate_per_1000_hi": [0.61, 3.0],
        }
    )
    out = extrapolate(per_country=table, years=5)
    assert isinstance(out, pd.DataFrame)
    assert out["country"].tolist() == ["Finland", "USA", "total"]
    assert out["expected"].tolist() == pytest.approx([2_550, 870_000, 872_550])
    assert out["expected_lo"].tolist() == pytest.approx([2_050, 840_000, 842_050])
    assert out["expected_per_year"].iloc[2] == pytest.approx(872_550 / 5)
    assert out["rate_per_1000"].iloc[2] == pytest.approx(1000 * 872_550 / 305_000_000)


def test_per_country_without_ci_and_errors() -> None:
    table = pl.DataFrame(
        {"country": ["a", "b"], "rate_per_1000": [1.0, 3.0], "population": [1e3, 3e3]}
    )
    out = extrapolate(per_country=table)
    assert out.row(2, named=True)["expected"] == pytest.approx(10.0)
    assert out.row(2, named=True)["rate_per_1000"] == pytest.approx(2.5)
    assert out.row(2, named=True)["expected_lo"] is None
    with pytest.raises(ValueError, match="not both"):
        extrapolate(1.0, 10, per_country=table)
    with pytest.raises(ValueError, match="contain"):
        extrapolate(1.0, 10, rate_ci=(1.5, 2.0))
    with pytest.raises(ValueError, match="years"):
        extrapolate(1.0, 10, years=0)
    with pytest.raises(ValueError, match="bad rows"):
        extrapolate(per_country=table.with_columns(rate_per_1000=pl.Series([-1.0, 1.0])))


def test_package_export_survives_submodule_import() -> None:
    import recurct.stats
    import recurct.stats._extrapolate

    assert recurct.stats.extrapolate(2.0, 500).item(0, "expected") == pytest.approx(1.0)


def test_old_interval_columns_are_refused() -> None:
    table = pl.DataFrame(
        {"country": ["a"], "rate_per_1000": [1.0], "population": [1e3], "rate_lo": [0.5]}
    )
    with pytest.raises(ValueError, match="rate_per_1000_lo"):
        extrapolate(per_country=table)
