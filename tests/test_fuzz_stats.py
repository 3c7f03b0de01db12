"""Fuzzing findings in recurct.stats and recurct.plot: a bad column of the patients table is a
DataError naming it, a bad argument a ParameterError naming it (never a bare polars, numpy,
patsy or Python error)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import polars as pl
import pytest

import recurct
from recurct import plot, stats
from recurct.errors import DataError, ParameterError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def exams() -> pl.DataFrame:
    return recurct.synthetic.generate("small", 30, seed=0)


@pytest.fixture(scope="module")
def patients(exams: pl.DataFrame) -> pl.DataFrame:
    return recurct.cumulative_dose(exams, [50, 100], window_days=365)


@pytest.fixture(scope="module")
def mag(patients: pl.DataFrame) -> pl.DataFrame:
    return stats.magnitude(patients, 50)


def _set(df: pl.DataFrame, col: str, value: object, row: int = 0) -> pl.DataFrame:
    s = df[col].to_list()
    s[row] = value
    return df.with_columns(pl.Series(col, s, strict=False))


# ----------------------------------------------------------------- 1. the patients table
PATIENT_FUNCS = {
    "magnitude": lambda p: stats.magnitude(p, 50),
    "site_table": lambda p: stats.site_table(p, threshold=50),
    "standardise": lambda p: stats.standardise(p, 50),
    "time_to_threshold": lambda p: stats.time_to_threshold(p, 50),
    "incidence_rate": lambda p: stats.incidence_rate(p, 50),
    "dose_bands": lambda p: stats.dose_bands(p),
    "exams_per_patient": lambda p: stats.exams_per_patient(p),
}


@pytest.mark.parametrize("func", sorted(PATIENT_FUNCS))
@pytest.mark.parametrize("value", [-5.0, math.nan, math.inf])
def test_bad_ced_is_a_data_error_naming_the_column(patients, func, value):
    bad = patients.with_columns(pl.col("ced_msv").cast(pl.Float64)).pipe(_set, "ced_msv", value, 3)
    with pytest.raises(DataError, match=r"ced_msv.*\[3\]"):
        PATIENT_FUNCS[func](bad)


@pytest.mark.parametrize("value", [-3, 0, math.nan, math.inf, 1.5])
def test_bad_n_exams_is_a_data_error(patients, value):
    bad = patients.with_columns(pl.col("n_exams").cast(pl.Float64)).pipe(_set, "n_exams", value)
    for fn in (
        lambda p: stats.magnitude(p, 50),
        lambda p: stats.exams_per_patient(p),
    ):
        with pytest.raises(DataError, match="n_exams"):
            fn(bad)


def test_negative_n_exams_int_is_refused_by_magnitude(patients):
    # before: magnitude reported 64 exams for n_exams = -3
    bad = _set(patients, "n_exams", -3)
    with pytest.raises(DataError, match=r"'n_exams'.*\[0\]"):
        stats.magnitude(bad, 50)


@pytest.mark.parametrize("col", ["first_exam", "last_exam", "date_reached_50"])
def test_text_dates_are_a_data_error(patients, col):
    bad = patients.with_columns(pl.col(col).cast(pl.Utf8))
    for fn in (
        lambda p: stats.time_to_threshold(p, 50),
        lambda p: stats.incidence_rate(p, 50),
        lambda p: stats.observation_end(p),
    ):
        with pytest.raises(DataError, match=col):
            fn(bad)


@pytest.mark.parametrize("how", ["text", "null"])
def test_bad_reached_column_is_a_data_error(patients, how):
    if how == "text":
        bad = patients.with_columns(pl.col("reached_50").cast(pl.Utf8))
    else:  # an all-null column of any dtype, as from pandas
        bad = patients.with_columns(pl.lit(None, pl.Utf8).alias("reached_50"))
    for fn in (
        lambda p: stats.magnitude(p, 50),
        lambda p: stats.standardise(p, 50),
        lambda p: stats.site_table(p, threshold=50),
    ):
        with pytest.raises(DataError, match="reached_50"):
            fn(bad)


def test_all_null_reached_from_pandas(patients):
    pdf = patients.to_pandas()
    pdf["reached_50"] = None
    with pytest.raises(DataError, match="reached_50"):
        stats.magnitude(pdf, 50)


def test_text_age_is_a_data_error(patients):
    bad = patients.with_columns(pl.col("age_first_exam").cast(pl.Utf8))
    with pytest.raises(DataError, match="age_first_exam"):
        stats.age_band(bad)
    with pytest.raises(DataError, match="age_first_exam"):
        stats.standardise(bad, 50)


def test_text_ced_in_dose_bands(patients):
    bad = patients.with_columns(pl.col("ced_msv").cast(pl.Utf8))
    with pytest.raises(DataError, match="ced_msv"):
        stats.dose_bands(bad)


def test_end_column_must_hold_dates(patients):
    bad = patients.with_columns(pl.lit("2030-01-01").alias("study_end"))
    with pytest.raises(DataError, match="study_end"):
        stats.time_to_threshold(bad, 50, end="study_end")


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_exam_doses_of_dose_share(exams, value):
    bad = _set(
        exams.with_columns(pl.col("effective_dose_msv").cast(pl.Float64)),
        "effective_dose_msv",
        value,
        2,
    )
    with pytest.raises(DataError, match=r"effective_dose_msv.*\[2\]"):
        stats.dose_share(bad, "exam_type" if "exam_type" in exams.columns else "sex")
    with pytest.raises(DataError, match="effective_dose_msv"):
        stats.single_exam_share(bad, 50)


def test_good_table_still_works(patients):
    stats.magnitude(patients, [50, 100])
    stats.dose_bands(patients)
    stats.time_to_threshold(patients, 50)
    plot.ced_distribution(patients)


# ----------------------------------------------------------------- 2. regressions
def test_formula_naming_a_missing_column(patients):
    with pytest.raises(DataError, match="'sex'"):
        stats.risk_factors(patients.drop("sex"), "reached_50 ~ age_band + sex")
    with pytest.raises(DataError, match="'sex'"):
        stats.exam_rate(patients.drop("sex"), "n_repeat ~ sex")


def test_text_outcome_is_a_data_error(patients):
    bad = patients.with_columns(pl.col("reached_50").cast(pl.Utf8).alias("outcome"))
    with pytest.raises(DataError, match="outcome"):
        stats.risk_factors(bad, "outcome ~ sex")


@pytest.mark.parametrize("formula", [None, 3, ["a ~ b"]])
def test_formula_not_text(patients, formula):
    with pytest.raises(ParameterError, match="formula"):
        stats.risk_factors(patients, formula)
    with pytest.raises(ParameterError, match="formula"):
        stats.exam_rate(patients, formula)


@pytest.mark.parametrize("edges", [True, 5, "abc", None, ["abc"], [None]])
def test_age_edges_not_a_sequence(patients, edges):
    with pytest.raises(ParameterError, match="age_edges"):
        stats.risk_factors(patients, "reached_50 ~ sex", age_edges=edges)
    with pytest.raises(ParameterError, match="age_edges"):
        stats.exam_rate(patients, "n_repeat ~ sex", age_edges=edges)


# ----------------------------------------------------------------- 3. publication tables
@pytest.mark.parametrize("digits", [True, -1, 1.5, "abc", None, 2**70])
def test_digits(mag, digits, tmp_path):
    with pytest.raises(ParameterError, match="digits"):
        stats.publication_table(mag, digits=digits)
    with pytest.raises(ParameterError, match="digits"):
        stats.export_table(mag, tmp_path / "m.csv", digits=digits)


@pytest.mark.parametrize("name", ["threshold", "age_cut"])
@pytest.mark.parametrize("value", ["abc", math.nan, -1, 0, [1]])
def test_label_arguments(mag, name, value, tmp_path):
    for fn in (
        lambda: stats.publication_table(mag, **{name: value}),
        lambda: stats.readable(mag, **{name: value}),
        lambda: stats.export_table(mag, tmp_path / "m.md", **{name: value}),
    ):
        with pytest.raises(ParameterError, match=name):
            fn()


def test_incomplete_magnitude_table(mag):
    with pytest.raises(DataError, match="n_patients"):
        stats.publication_table(mag.drop("n_patients"))
    with pytest.raises(DataError, match="'share'"):
        stats.publication_table(mag.with_columns(pl.col("share").cast(pl.Utf8)))
    bad = mag.with_columns(pl.lit(math.nan).alias("days_to_min"))
    with pytest.raises(DataError, match="days_to_min"):
        stats.publication_table(bad)


# ----------------------------------------------------------------- 4. parameters
@pytest.mark.parametrize(
    "count, exposure",
    [
        (5, -1),
        (5, math.nan),
        (5, math.inf),
        (None, 1),
        (math.nan, 1),
        (1.5, 1),
        (-1, 1),
        ("abc", 1),
        (5, "abc"),
        ([1, -2], 1),
    ],
)
def test_poisson_ci(count, exposure):
    with pytest.raises(ParameterError, match=r"count|exposure"):
        stats.poisson_ci(count, exposure)


def test_poisson_ci_still_works():
    lo, hi = stats.poisson_ci([0, 3], [1.0, 2.0])
    assert lo[0] == 0 and np.all(hi > lo)
    assert np.isnan(stats.poisson_ci(3, 0.0)[0])  # no person-time: no interval (documented)


@pytest.mark.parametrize("continuity", [0, -1, math.inf, 1e308, "abc", None])
def test_meta_continuity(continuity):
    agg = pl.DataFrame(
        {"site": ["A", "B", "C"], "n_patients": [100, 200, 150], "n_reached": [3, 0, 2]}
    )
    with pytest.raises(ParameterError, match="continuity"):
        stats.meta_proportion(agg, continuity=continuity)


@pytest.mark.parametrize("seed", [-1, True, 1.5, "abc", None])
def test_magnitude_seed(patients, seed):
    with pytest.raises(ParameterError, match="seed"):
        stats.magnitude(patients, 50, ci="bootstrap", n_boot=10, seed=seed)


@pytest.mark.parametrize("n_boot", [0, -1, 1.5, True, math.nan, "abc", 2**70])
def test_magnitude_n_boot(patients, n_boot):
    with pytest.raises(ParameterError, match="n_boot"):
        stats.magnitude(patients, 50, ci="bootstrap", n_boot=n_boot)


@pytest.mark.parametrize("at_least", [2**70, 1e308])
def test_exams_per_patient_at_least_bounded(patients, at_least):
    with pytest.raises(ParameterError, match="at_least"):
        stats.exams_per_patient(patients, at_least=at_least)


# ----------------------------------------------------------------- 5. plots
@pytest.mark.parametrize("gridsize", [0, -1, True, 1.5, math.nan, "abc", None, 2**70])
def test_ced_vs_exams_gridsize(patients, gridsize):
    with pytest.raises(ParameterError, match="gridsize"):
        plot.ced_vs_exams(patients, gridsize=gridsize)


def test_ced_distribution_bins_bounded(patients):
    with pytest.raises(ParameterError, match="bins"):
        plot.ced_distribution(patients, bins=2**70)


def test_plot_exams_per_patient(patients):
    with pytest.raises(ParameterError, match="max_exams"):
        plot.exams_per_patient(patients, max_exams=2**70)
    bad = patients.with_columns(pl.col("n_exams").cast(pl.Float64)).pipe(_set, "n_exams", math.nan)
    with pytest.raises(DataError, match="n_exams"):
        plot.exams_per_patient(bad)


@pytest.mark.parametrize("t", [1e308, math.inf, 0, -1])
def test_share_above_thresholds(patients, t):
    with pytest.raises(ParameterError, match="threshold"):
        plot.share_above(patients, [1.0, t])


def test_forest_without_site():
    agg = pl.DataFrame(
        {"site": ["A", "B", "C"], "n_patients": [100, 200, 150], "n_reached": [3, 5, 2]}
    )
    res = stats.site_table(agg)
    with pytest.raises(DataError, match="site"):
        plot.forest(res.sites.drop("site"))


@pytest.mark.parametrize("t", ["abc", math.nan, -1, 0, math.inf])
def test_threshold_labels(patients, t):
    agg = pl.DataFrame(
        {"site": ["A", "B", "C"], "n_patients": [100, 200, 150], "n_reached": [3, 5, 2]}
    )
    with pytest.raises(ParameterError, match="threshold"):
        plot.forest(stats.site_table(agg), threshold=t)
    with pytest.raises(ParameterError, match="threshold"):
        plot.funnel(agg, threshold=t)
    with pytest.raises(ParameterError, match="threshold"):
        plot.time_to_threshold_curve(stats.time_to_threshold(patients, 50), threshold=t)
