"""proportion_ci and the magnitude table, against direct computations on small tables."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from recurct.errors import DroppedRowsWarning, RecurctWarning, StandardisationWarning
from recurct.stats import age_band, magnitude, proportion_ci, standardise
from recurct.stats._common import bootstrap_share, reached_expr, unknown_reached
from recurct.stats._magnitude import MAGNITUDE_COLUMNS
from recurct.stats.multisite import site_aggregates, site_table

METHODS = ["wilson", "beta", "agresti_coull", "normal"]


# ------------------------------------------------------------------ proportion_ci
@pytest.mark.parametrize("method", METHODS)
def test_proportion_ci_matches_statsmodels_vectorised(method: str) -> None:
    count = np.array([0, 1, 7, 50, 99, 100])
    nobs = np.array([10, 10, 20, 100, 100, 100])
    lo, hi = proportion_ci(count, nobs, alpha=0.1, ci=method)
    for i in range(count.size):
        ref_lo, ref_hi = proportion_confint(int(count[i]), int(nobs[i]), alpha=0.1, method=method)
        assert lo[i] == pytest.approx(ref_lo, abs=1e-12)
        assert hi[i] == pytest.approx(ref_hi, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_proportion_ci_scalar_and_empty_group(method: str) -> None:
    lo, hi = proportion_ci(3, 10, ci=method)
    assert isinstance(lo, float) and isinstance(hi, float)
    assert (lo, hi) == pytest.approx(proportion_confint(3, 10, method=method))
    lo, hi = proportion_ci(np.array([0, 2]), np.array([0, 4]), ci=method)
    assert math.isnan(lo[0]) and math.isnan(hi[0])
    assert lo[1] == pytest.approx(proportion_confint(2, 4, method=method)[0])


def test_proportion_ci_wilson_by_hand() -> None:
    # Wilson score interval written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    k, n, z = 12, 80, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert proportion_ci(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_proportion_ci_errors() -> None:
    with pytest.raises(ValueError, match="unknown CI method"):
        proportion_ci(1, 2, ci="jeffreys-ish")
    with pytest.raises(ValueError, match="count > nobs"):
        proportion_ci([1, 5], [2, 4])
    with pytest.raises(ValueError, match=">= 0"):
        proportion_ci(-1, 4)
    with pytest.raises(ValueError, match="alpha"):
        proportion_ci(1, 4, alpha=1.5)


@pytest.mark.parametrize(
    ("alias", "method"),
    [
        ("clopper-pearson", "beta"),
        ("exact", "beta"),
        ("Wald", "normal"),
        ("agresti-coull", "agresti_coull"),
    ],
)
def test_proportion_ci_aliases(alias: str, method: str) -> None:
    count, nobs = np.array([0, 3, 10]), np.array([10, 10, 10])
    lo, hi = proportion_ci(count, nobs, ci=alias)
    ref_lo, ref_hi = proportion_confint(count, nobs, method=method)
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12)


def test_proportion_ci_jeffreys_is_the_beta_posterior_interval_closed_at_the_extremes() -> None:
    from scipy.stats import beta

    count, nobs = np.array([0, 3, 10]), np.array([10, 10, 10])
    lo, hi = proportion_ci(count, nobs, ci="jeffreys")
    # equal-tailed Beta(x + 1/2, n - x + 1/2) interval; 0 at x = 0 and 1 at x = n
    want_lo = beta.ppf(0.025, count + 0.5, nobs - count + 0.5)
    want_hi = beta.ppf(0.975, count + 0.5, nobs - count + 0.5)
    assert lo.tolist() == pytest.approx([0.0, want_lo[1], want_lo[2]], abs=1e-12)
    assert hi.tolist() == pytest.approx([want_hi[0], want_hi[1], 1.0], abs=1e-12)


# ------------------------------------------------------------------ magnitude
def _patients() -> pl.DataFrame:
    """Eight patients at two facilities; five reach 100 mSv."""
    return pl.DataFrame(
        {
            "patient_id": list(range(1, 9)),
            "n_exams": [1, 4, 6, 2, 9, 3, 12, 5],
            "ced_msv": [8.0, 120.0, 180.0, 40.0, 310.0, 99.9, 140.0, 100.0],
            "age_first_exam": [30.0, 45.0, 62.0, 20.0, 50.0, 71.0, None, 50.5],
            "sex": ["F", "M", "F", "M", "F", "F", "U", "M"],
            "facility": ["A", "A", "A", "B", "B", "B", "B", "B"],
            "reached_100": [False, True, True, False, True, False, True, True],
            "days_to_100": [None, 300, 120, None, 45, None, 700, 10],
            "exams_to_100": [None, 4, 5, None, 3, None, 11, 5],
        },
        schema_overrides={"days_to_100": pl.Int64, "exams_to_100": pl.Int64},
    )


def _direct(rows: list[dict]) -> dict:
    """The magnitude statistics written out for a list of patient dicts."""
    high = [r for r in rows if r["ced_msv"] >= 100]
    ced = sorted(r["ced_msv"] for r in high)
    q = statistics.quantiles(ced, n=4, method="inclusive")  # linear, as numpy's default
    aged = [r for r in high if r["age_first_exam"] is not None]
    sexed = [r for r in high if r["sex"] is not None]
    return {
        "n_patients": len(rows),
        "n_exams": sum(r["n_exams"] for r in rows),
        "n_reached": len(high),
        "share": len(high) / len(rows),
        "ced_median": statistics.median(ced),
        "ced_q1": q[0],
        "ced_q3": q[2],
        "ced_min": ced[0],
        "ced_max": ced[-1],
        "days_to_median": statistics.median(r["days_to_100"] for r in high),
        "days_to_min": min(r["days_to_100"] for r in high),
        "exams_to_median": statistics.median(r["exams_to_100"] for r in high),
        "n_age_le_cut": sum(r["age_first_exam"] <= 50 for r in aged),
        "share_age_le_cut": sum(r["age_first_exam"] <= 50 for r in aged) / len(aged),
        "share_female": sum(r["sex"] == "F" for r in sexed) / len(sexed),
        "share_male": sum(r["sex"] == "M" for r in sexed) / len(sexed),
    }


def test_magnitude_overall_matches_direct_computation() -> None:
    p = _patients()
    out = magnitude(p)
    assert out.columns == list(MAGNITUDE_COLUMNS)
    assert out.height == 1
    row = out.row(0, named=True)
    expected = _direct(p.to_dicts())
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key
    # a few values also by hand: CED >= 100 -> 100, 120, 140, 180, 310
    assert row["n_reached"] == 5 and row["ced_median"] == 140.0
    assert row["ced_q1"] == 120.0 and row["ced_q3"] == 180.0
    assert row["days_to_median"] == 120.0 and row["days_to_min"] == 10
    # ages among the 5: 45, 62, 50, None, 50.5 -> <= 50: 45 and 50 of 4 known
    assert row["n_age_le_cut"] == 2 and row["share_age_le_cut"] == 0.5
    # sex among the 5: M, F, F, U, M
    assert row["share_female"] == pytest.approx(2 / 5)
    ref = proportion_confint(5, 8, method="wilson")
    assert (row["share_lo"], row["share_hi"]) == pytest.approx(ref)


def test_magnitude_by_facility_has_all_row_first_and_strata() -> None:
    p = _patients()
    out = magnitude(p, by="facility", ci="beta", alpha=0.1)
    assert out["facility"].to_list() == ["all", "A", "B"]
    assert out.schema["facility"] == pl.Utf8
    for fac in ("A", "B"):
        rows = [r for r in p.to_dicts() if r["facility"] == fac]
        got = out.filter(pl.col("facility") == fac).row(0, named=True)
        exp = _direct(rows)
        for key, value in exp.items():
            assert got[key] == pytest.approx(value), (fac, key)
        ref = proportion_confint(exp["n_reached"], exp["n_patients"], alpha=0.1, method="beta")
        assert (got["share_lo"], got["share_hi"]) == pytest.approx(ref)


def test_magnitude_several_thresholds_long_and_empty_stratum_gives_nulls() -> None:
    p = _patients().with_columns(
        reached_250=pl.col("ced_msv") >= 250,
        days_to_250=pl.when(pl.col("ced_msv") >= 250).then(900).otherwise(None),
        exams_to_250=pl.when(pl.col("ced_msv") >= 250).then(8).otherwise(None),
    )
    out = magnitude(p, thresholds=[100, 250], by="facility")
    assert out.height == 6
    assert out["threshold"].to_list() == [100.0] * 3 + [250.0] * 3
    a250 = out.filter((pl.col("facility") == "A") & (pl.col("threshold") == 250)).row(0, named=True)
    assert a250["n_reached"] == 0 and a250["share"] == 0.0
    for col in ("ced_median", "ced_q1", "ced_min", "days_to_median", "exams_to_median"):
        assert a250[col] is None, col
    for col in ("share_age_le_cut", "share_female", "share_male"):
        assert a250[col] is None, col
    floats = out.select(pl.col(pl.Float64))
    assert not any(floats[c].is_nan().any() for c in floats.columns)


def test_magnitude_threshold_without_column_uses_ced_and_null_days() -> None:
    p = _patients()
    out = magnitude(p, thresholds=150).row(0, named=True)
    assert out["n_reached"] == 2  # 180 and 310
    assert out["ced_median"] == pytest.approx(245.0)
    assert out["days_to_median"] is None and out["exams_to_median"] is None


def test_magnitude_without_age_and_sex_columns() -> None:
    p = _patients().drop("age_first_exam", "sex")
    row = magnitude(p).row(0, named=True)
    assert row["n_reached"] == 5
    assert row["share_age_le_cut"] is None and row["share_female"] is None


def test_magnitude_pandas_in_pandas_out() -> None:
    out = magnitude(_patients().to_pandas(), by="facility")
    assert isinstance(out, pd.DataFrame)
    assert out["n_reached"].tolist() == [5, 2, 3]


def test_magnitude_age_band_strata() -> None:
    p = age_band(_patients())
    assert p["age_band"].cast(pl.Utf8).to_list() == [
        "30-50",
        "30-50",
        "50-65",
        "18-30",
        "50-65",
        "65+",
        None,
        "50-65",
    ]
    out = magnitude(p, by="age_band")
    # ordered by age, not alphabetically; the null band last
    assert out["age_band"].to_list() == ["all", "18-30", "30-50", "50-65", "65+", None]
    assert out["n_patients"].to_list() == [8, 1, 2, 3, 1, 1]


def test_magnitude_takes_the_ci_names_of_site_table() -> None:
    # magnitude(ci="clopper-pearson") as site_table(ci="clopper-pearson"): one CI function
    p = _patients()
    mag = magnitude(p, by="facility", ci="clopper-pearson").filter(pl.col("facility") != "all")
    sites = site_table(p, ci="clopper-pearson").sites
    assert mag["share_lo"].to_list() == pytest.approx(sites["share_lo"].to_list(), abs=1e-15)
    assert mag["share_hi"].to_list() == pytest.approx(sites["share_hi"].to_list(), abs=1e-15)
    ref = [proportion_confint(k, n, method="beta") for k, n in [(2, 3), (3, 5)]]
    assert mag["share_lo"].to_list() == pytest.approx([r[0] for r in ref], abs=1e-12)
    assert mag["share_hi"].to_list() == pytest.approx([r[1] for r in ref], abs=1e-12)
    jeff = magnitude(p, ci="jeffreys").row(0, named=True)
    assert (jeff["share_lo"], jeff["share_hi"]) == pytest.approx(
        proportion_confint(5, 8, method="jeffreys"), abs=1e-12
    )


def test_reached_expr_is_the_one_definition() -> None:
    # reached_<T> where present, else ced_msv >= T; a null there is unknown: false in
    # reached_expr, and dropped (counted, warned) by every function that counts patients
    p = pl.DataFrame(
        {
            "facility": ["A", "A", "B", "B"],
            "ced_msv": [150.0, None, 100.0, 20.0],
            "reached_100": [True, None, False, False],  # deliberately not ced >= 100
            "age_first_exam": [30.0, 40.0, 50.0, 60.0],
            "n_exams": [3, 1, 2, 1],
        }
    )
    assert p.select(reached_expr(p, 100))["reached_100"].to_list() == [True, False, False, False]
    no_flag = p.drop("reached_100")
    assert no_flag.select(reached_expr(no_flag, 100)).to_series().to_list() == [
        True, False, True, False,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="neither 'reached_50' nor 'ced_msv'"):
        reached_expr(p.drop("ced_msv"), 50)
    # magnitude, site_table and standardise all count the same patients: the 3 known ones
    one = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})
    for table in (p, no_flag):
        known = table.filter(~unknown_reached(table, 100))
        assert known.height == 3
        want = known.select(reached_expr(known, 100)).to_series().sum()
        with pytest.warns(DroppedRowsWarning, match="magnitude: dropped"):
            m = magnitude(table)
        assert m.select("n_patients", "n_reached").row(0) == (3, want)
        with pytest.warns(DroppedRowsWarning, match="site_table: dropped 1 of 4"):
            agg = site_aggregates(table)
        assert (agg["n_patients"].sum(), agg["n_reached"].sum()) == (3, want)
        with pytest.warns(StandardisationWarning):
            std = standardise(table, standard=one)
        assert std.select("n_patients", "n_reached").row(0) == (3, want)


def test_magnitude_errors() -> None:
    p = _patients()
    with pytest.raises(ValueError, match="empty"):
        magnitude(p.clear())
    with pytest.raises(ValueError, match="> 0"):
        magnitude(p, thresholds=0)
    with pytest.raises(ValueError, match="> 0"):
        magnitude(p, thresholds=[100, -5])
    with pytest.raises(ValueError, match="not in the patients table"):
        magnitude(p, by="country")
    with pytest.raises(ValueError, match="unknown ci"):
        magnitude(p, ci="bayes")
    with pytest.raises(ValueError, match="ci='bootstrap'"):
        magnitude(p, cluster="facility")


# ------------------------------------------------------------------ bootstrap
def _sites(n_sites: int = 12, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    pid = 0
    for s in range(n_sites):
        n = int(rng.integers(20, 60))
        p_site = float(rng.uniform(0.005, 0.2))  # heterogeneous sites
        for _ in range(n):
            pid += 1
            ced = 150.0 if rng.random() < p_site else 20.0
            rows.append((pid, f"S{s:02d}", ced, 3))
    return pl.DataFrame(
        rows, schema=["patient_id", "facility", "ced_msv", "n_exams"], orient="row"
    ).with_columns(reached_100=pl.col("ced_msv") >= 100)


def test_cluster_bootstrap_reproducible_and_seed_dependent() -> None:
    p = _sites()
    a = magnitude(p, ci="bootstrap", cluster="facility", n_boot=500, seed=7)
    b = magnitude(p, ci="bootstrap", cluster="facility", n_boot=500, seed=7)
    c = magnitude(p, ci="bootstrap", cluster="facility", n_boot=500, seed=8)
    assert a.equals(b)
    assert (a["share_lo"][0], a["share_hi"][0]) != (c["share_lo"][0], c["share_hi"][0])
    share = a["share"][0]
    assert a["share_lo"][0] < share < a["share_hi"][0]


def test_cluster_bootstrap_bounds_between_site_extremes() -> None:
    p = _sites()
    out = magnitude(p, ci="bootstrap", cluster="facility", n_boot=400, seed=1)
    site = p.group_by("facility").agg(pl.col("reached_100").mean().alias("s"))
    assert site["s"].min() <= out["share_lo"][0] <= out["share_hi"][0] <= site["s"].max()


def test_bootstrap_share_equal_sites_is_degenerate() -> None:
    # every site has share 0.25: every resample of sites has share 0.25 exactly
    rng = np.random.default_rng(0)
    lo, hi = bootstrap_share(
        np.array([4, 8, 20, 40]), np.array([1, 2, 5, 10]), n_boot=200, alpha=0.05, rng=rng
    )
    assert lo == pytest.approx(0.25) and hi == pytest.approx(0.25)


def test_bootstrap_share_one_cluster_is_binomial() -> None:
    # a single cluster resamples patients: the replicate share is Binomial(n, p) / n
    rng = np.random.default_rng(0)
    lo, hi = bootstrap_share(np.array([400]), np.array([100]), n_boot=4000, alpha=0.05, rng=rng)
    se = math.sqrt(0.25 * 0.75 / 400)
    assert lo == pytest.approx(0.25 - 1.96 * se, abs=0.006)
    assert hi == pytest.approx(0.25 + 1.96 * se, abs=0.006)


def test_bootstrap_by_facility_rows_fall_back_to_an_exact_interval() -> None:
    # each facility's row has one cluster: Clopper-Pearson there; the overall row has 3
    # clusters, bootstrapped with a warning (a cluster bootstrap under-covers with few sites)
    p = _sites(n_sites=3)
    with pytest.warns(RecurctWarning, match="fewer than 10 clusters"):
        out = magnitude(p, by="facility", ci="bootstrap", cluster="facility", n_boot=300, seed=2)
    assert out.height == 4
    assert out.select(pl.col("share_lo", "share_hi")).null_count().sum_horizontal()[0] == 0
    assert (out["share_lo"] <= out["share"]).all() and (out["share"] <= out["share_hi"]).all()


def test_public_name_is_the_function_whatever_the_import_order() -> None:
    # the modules of magnitude, standardise and extrapolate are private (_magnitude, ...):
    # importing them never rebinds the package attribute, which stays the function
    import importlib
    import sys

    for name in ("magnitude", "standardise", "extrapolate"):
        importlib.import_module(f"recurct.stats._{name}")
    stats = sys.modules["recurct.stats"]
    for name in ("magnitude", "standardise", "extrapolate"):
        assert callable(getattr(stats, name)), name
        assert getattr(stats, name).__module__ == f"recurct.stats._{name}"
    assert stats.magnitude(_patients(), thresholds=100)["n_reached"][0] == 5


@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=20),
    st.sampled_from(METHODS),
    st.floats(0.01, 0.5),
)
def test_property_proportion_ci_matches_statsmodels(
    pairs: list[tuple[int, int]], method: str, alpha: float
) -> None:
    count = np.array([min(a, b) for a, b in pairs])
    nobs = np.array([max(a, b) for a, b in pairs])
    lo, hi = proportion_ci(count, nobs, alpha=alpha, ci=method)
    for i in range(count.size):
        if nobs[i] == 0:
            assert math.isnan(lo[i]) and math.isnan(hi[i])
            continue
        ref = proportion_confint(int(count[i]), int(nobs[i]), alpha=alpha, method=method)
        assert (lo[i], hi[i]) == pytest.approx(ref, abs=1e-12)
