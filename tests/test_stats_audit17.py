"""Audit 17 of the statistics: the bootstrap interval's fallback and few-cluster warning, a
stratum named "all", extrapolate's per-country table, the order of pandas strata, and the
messages of bands, proportion_ci and population=."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from recurct.errors import DataError, ParameterError, RecurctWarning
from recurct.stats import (
    age_band,
    dose_bands,
    dose_share,
    exams_per_patient,
    extrapolate,
    magnitude,
    proportion_ci,
    single_exam_share,
)
from recurct.stats._common import share_interval


# ------------------------------------------------------------ 1. ci="bootstrap"
def _two_sites() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": range(40),
            "ced_msv": [5.0] * 39 + [150.0],
            "n_exams": [1] * 40,
            "facility": ["a", "b"] * 20,
        }
    )


def test_bootstrap_without_cluster_is_clopper_pearson_on_every_row() -> None:
    # before: facility a (0 of 20) got [0.0, 0.0]; the patient bootstrap on every row
    with pytest.warns(RecurctWarning, match="without cluster= .* Clopper-Pearson"):
        out = magnitude(_two_sites(), 100, by="facility", ci="bootstrap", n_boot=500)
    lo, hi = proportion_ci(out["n_reached"].to_numpy(), out["n_patients"].to_numpy(), ci="beta")
    assert out["facility"].to_list() == ["all", "a", "b"]
    assert out["share_lo"].to_list() == pytest.approx(lo.tolist(), abs=1e-15)
    assert out["share_hi"].to_list() == pytest.approx(hi.tolist(), abs=1e-15)
    assert out["share_hi"][1] > 0.15  # 0 of 20: Clopper-Pearson 0.168


def test_single_cluster_rows_fall_back_and_few_clusters_warn() -> None:
    with pytest.warns(RecurctWarning, match=r"fewer than 10 clusters \(2 'facility'"):
        out = magnitude(
            _two_sites(), 100, by="facility", ci="bootstrap", cluster="facility", n_boot=300
        )
    # the strata hold one site each: Clopper-Pearson; "all" is bootstrapped over 2 sites
    for r in (1, 2):
        lo, hi = proportion_ci(out["n_reached"][r], out["n_patients"][r], ci="beta")
        assert (out["share_lo"][r], out["share_hi"][r]) == pytest.approx((lo, hi), abs=1e-15)
    assert out["share_hi"][1] > 0


def test_zero_and_all_events_with_many_clusters_are_exact() -> None:
    sites = [f"S{i:02d}" for i in range(12)] * 5
    for ced, k in ((1.0, 0), (500.0, 60)):
        p = pl.DataFrame({"ced_msv": [ced] * 60, "n_exams": [1] * 60, "facility": sites})
        out = magnitude(p, 100, ci="bootstrap", cluster="facility", n_boot=200)  # no warning
        lo, hi = proportion_ci(k, 60, ci="beta")
        assert (out["share_lo"][0], out["share_hi"][0]) == pytest.approx((lo, hi), abs=1e-15)
        assert out["share_hi"][0] > out["share_lo"][0]


def test_twelve_sites_are_bootstrapped_without_warning() -> None:
    rng = np.random.default_rng(5)
    p = pl.DataFrame(
        {
            "ced_msv": np.where(rng.random(600) < 0.1, 150.0, 5.0),
            "n_exams": [1] * 600,
            "facility": [f"S{i:02d}" for i in range(12)] * 50,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = magnitude(p, 100, ci="bootstrap", cluster="facility", n_boot=300, seed=1)
        b = magnitude(p, 100, ci="bootstrap", cluster="facility", n_boot=300, seed=2)
    assert a["share_lo"][0] != b["share_lo"][0]  # bootstrapped: depends on the seed


def test_one_cluster_interval_covers_small_shares() -> None:
    # exact coverage of the one-cluster interval (the percentile bootstrap had 0.635 here)
    n, p = 50, 0.02
    rng = np.random.default_rng(0)
    cover = sum(
        binom.pmf(k, n, p) * (lo <= p <= hi)
        for k in range(n + 1)
        for lo, hi, _ in [share_interval([n], [k], n_boot=200, alpha=0.05, rng=rng)]
    )
    assert cover >= 0.95


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.data())
def test_one_cluster_interval_is_clopper_pearson(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lo, hi, boot = share_interval(
        np.array([n]), np.array([k]), n_boot=50, alpha=0.05, rng=np.random.default_rng(0)
    )
    assert not boot
    assert (lo, hi) == pytest.approx(proportion_ci(k, n, ci="beta"), abs=1e-15)
    assert lo <= k / n <= hi and hi > lo


# ------------------------------------------------------------ 2. a stratum named "all"
def test_a_stratum_named_all_is_refused() -> None:
    pat = pl.DataFrame(
        {"patient_id": [1, 2, 3], "ced_msv": [1.0, 2.0, 200.0], "f": ["b", "all", "b"]}
    )
    pop = pl.concat(
        [
            pat.select("patient_id", "f"),
            pl.DataFrame({"patient_id": range(10, 110), "f": ["all"] * 10 + ["b"] * 90}),
        ]
    )
    message = r"by column 'f' holds the value 'all'.*row\(s\) \[1\]"
    with pytest.raises(DataError, match=message):
        dose_bands(pat, edges=(0, math.inf), by="f", population=pop)
    for f in (pl.Categorical, pl.Enum(["b", "all"])):
        with pytest.raises(DataError, match=message):
            magnitude(pat.with_columns(pl.col("f").cast(f), n_exams=1), by="f")
    with pytest.raises(DataError, match=message):
        exams_per_patient(pat.with_columns(n_exams=1).to_pandas(), by="f")
    # "All" is another value
    out = dose_bands(pat.with_columns(pl.col("f").replace("all", "All")), (0, math.inf), "f")
    assert out["f"].to_list() == ["all", "b", "All"]


# ------------------------------------------------------------ 3. extrapolate
@pytest.mark.parametrize(
    ("countries", "match"),
    [
        (["FI", "FI"], r"more than once.*\[\(0, 'FI'\), \(1, 'FI'\)\]"),
        (["total", "FI"], r"'total'.*\[\(0, 'total'\)\]"),
        ([None, "FI"], r"must not be null.*\[\(0, None\)\]"),
    ],
)
def test_per_country_names_each_country_once(countries: list, match: str) -> None:
    table = pl.DataFrame(
        {"country": countries, "rate_per_1000": [1.0, 1.0], "population": [5e6, 5e6]}
    )
    with pytest.raises(DataError, match=match):
        extrapolate(per_country=table)


def test_per_country_empty_is_refused() -> None:
    schema = {"country": pl.Utf8, "rate_per_1000": pl.Float64, "population": pl.Float64}
    with pytest.raises(DataError, match="empty"):
        extrapolate(per_country=pl.DataFrame(schema=schema))


def test_extrapolate_share_and_years_message() -> None:
    out = extrapolate(2.0, 0)
    assert out["share"][0] == 0.002 and out["expected"][0] == 0.0  # rate / 1000, documented
    for years in (0, math.inf, -1):
        with pytest.raises(ParameterError, match=r"years must be a finite number > 0, got") as e:
            extrapolate(1.0, 1e6, years=years)
        assert "inf]" not in str(e.value)
    with pytest.raises(
        ParameterError, match=r"rate_per_1000 must be a finite number in \[0, 1000\], got"
    ):
        extrapolate(1001.0, 1e6)


# ------------------------------------------------------------ 4. pandas strata order
def _ages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "ced_msv": [1.0, 20, 300, 5],
            "n_exams": [1, 2, 3, 1],
            "age_first_exam": [70.0, 10, 40, 80],
        }
    )


def test_pandas_age_band_keeps_its_order() -> None:
    ab = age_band(_ages())
    assert isinstance(ab["age_band"].dtype, pd.CategoricalDtype) and ab["age_band"].cat.ordered
    assert list(ab["age_band"].cat.categories) == ["0-18", "18-30", "30-50", "50-65", "65+"]
    expected = ["all", "0-18", "30-50", "65+"]
    assert dose_bands(ab, by="age_band", edges=(0, math.inf))["age_band"].tolist() == expected
    assert magnitude(ab, by="age_band")["age_band"].tolist() == expected
    assert exams_per_patient(ab, by="age_band").at_least["age_band"].unique().tolist() == expected


def test_ordered_pandas_categorical_and_polars_categorical_order() -> None:
    grp = ["old", "young", "mid", "old"]
    pdf = pd.DataFrame(
        {
            "ced_msv": [1.0, 20, 300, 5],
            "grp": pd.Categorical(grp, categories=["young", "mid", "old"], ordered=True),
        }
    )
    out = dose_bands(pdf, by="grp", edges=(0, math.inf))
    assert out["grp"].tolist() == ["all", "young", "mid", "old"]
    # unordered: order of first appearance
    pdf["grp"] = pd.Categorical(grp, categories=["young", "mid", "old"])
    assert dose_bands(pdf, by="grp", edges=(0, math.inf))["grp"].tolist() == ["all", *grp[:3]]
    # a polars Categorical: order of first appearance, whatever strings polars saw before
    pl.Series(["mid", "young"], dtype=pl.Categorical)
    df = pl.from_pandas(pdf).with_columns(pl.col("grp").cast(pl.Utf8).cast(pl.Categorical))
    out = dose_bands(df, by="grp", edges=(0, math.inf))
    assert out["grp"].to_list() == ["all", "old", "young", "mid"]


# ------------------------------------------------------------ 5.-7. messages
def test_proportion_ci_shapes_that_do_not_broadcast() -> None:
    with pytest.raises(ParameterError, match=re.escape("count (shape (2,)) and nobs (shape (3,))")):
        proportion_ci([1, 2], [3, 4, 5])


def test_null_values_are_named_by_row() -> None:
    rows = r"1 row\(s\), e\.g\. row\(s\) \[1\] \(0-based\)"
    with pytest.raises(DataError, match=f"'ced_msv' is null in {rows}"):
        dose_bands(pd.DataFrame({"ced_msv": [1.0, np.nan, 3.0]}))
    with pytest.raises(DataError, match=r"'ced_msv' is outside the bands \[1, inf\) in 1 row"):
        dose_bands(pl.DataFrame({"ced_msv": [1.0, 0.5]}), edges=(1, math.inf))
    with pytest.raises(DataError, match=f"'n_exams' is null in {rows}"):
        exams_per_patient(pl.DataFrame({"n_exams": [1, None, 3]}))
    exams = pl.DataFrame(
        {"patient_id": [1, 2], "effective_dose_msv": [1.0, None], "body_region": ["a", "b"]}
    )
    with pytest.raises(DataError, match=f"'effective_dose_msv' is null in {rows}"):
        single_exam_share(exams)
    with pytest.raises(DataError, match=f"'effective_dose_msv' is null in {rows}"):
        dose_share(exams)


def test_population_float_and_null_ids() -> None:
    pat = pl.DataFrame({"patient_id": [1, 2], "ced_msv": [1.0, 200.0], "f": ["a", "b"]})
    whole = dose_bands(pat, edges=(0, math.inf), population=1.2e9)
    assert whole["n_population"][0] == 1_200_000_000
    for bad in (1.5, math.nan, math.inf):
        with pytest.raises(ParameterError, match="whole number of people"):
            dose_bands(pat, edges=(0, math.inf), population=bad)
    with pytest.raises(ParameterError, match=r"an int .* or a table of people .* got list"):
        dose_bands(pat, edges=(0, math.inf), population=[1, 2, 3])
    pop = pl.DataFrame({"patient_id": [1, 2, None, None], "f": ["a", "b", "b", "b"]})
    with pytest.raises(
        DataError, match=r"'patient_id' is null in 2 row\(s\), e\.g\. row\(s\) \[2, 3\]"
    ):
        dose_bands(pat, edges=(0, math.inf), by="f", population=pop)
    pop = pl.DataFrame({"patient_id": [1, 2, 2], "f": ["a", "b", "b"]})
    with pytest.raises(DataError, match=r"more than once .* row\(s\) \[1, 2\]"):
        dose_bands(pat, edges=(0, math.inf), by="f", population=pop)


# ------------------------------------------------------------ 8. integer labels
def test_integer_labels_need_whole_doses() -> None:
    with pytest.raises(DataError, match=r"labels='integer'.*row\(s\) \[0\]"):
        dose_bands(pl.DataFrame({"ced_msv": [9.6, 24.0]}), labels="integer")
    out = dose_bands(pl.DataFrame({"ced_msv": [9.0, 24.0]}), labels="integer")
    assert out["band"][:2].to_list() == ["0-9", "10-24"]


def test_every_by_function_keeps_a_pandas_ordered_categorical_order() -> None:
    """time_to_threshold, cumulative_incidence, incidence_rate and standardise order their
    strata as magnitude does: an ordered pandas Categorical by its categories."""
    from datetime import date, timedelta

    import recurct
    from recurct.stats import cumulative_incidence, incidence_rate, standardise, time_to_threshold

    rng = np.random.default_rng(4)
    n = 60
    exams = pd.DataFrame(
        {
            "patient_id": [f"p{i % 20}" for i in range(n)],
            "exam_date": [
                date(2015, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 2000, n)
            ],
            "effective_dose_msv": rng.uniform(1, 60, n),
            "age_years": [float(20 + 3 * (i % 20)) for i in range(n)],
        }
    )
    pat = recurct.cumulative_dose(exams, thresholds=50)
    pat = pat.sort_values("patient_id").reset_index(drop=True)
    labels = ["old", "young", "mid"]
    pat["grp"] = pd.Categorical(
        [labels[i % 3] for i in range(len(pat))], categories=["young", "mid", "old"], ordered=True
    )
    want = ["young", "mid", "old"]

    def order(col: pd.Series) -> list[str]:
        seen = [v for v in dict.fromkeys(col.astype(str).tolist()) if v != "all"]
        return seen

    assert order(time_to_threshold(pat, 50, by="grp").curve["grp"]) == want
    assert order(cumulative_incidence(pat, 50, by="grp").curve["grp"]) == want
    assert order(incidence_rate(pat, 50, by="grp")["grp"]) == want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert order(standardise(pat, 50, by="grp")["grp"]) == want
