"""Strata keys and names that collided with recurct's own columns or labels (audit s18).

A ``by`` column named like one of the functions' temporary columns, a ``subgroup`` named like
an output column, a real value equal to a label recurct gives nulls, NaN covariates of a
polars table, ``by`` columns of mixed Python types, survey columns named like its outputs,
and keys that differ only by surrounding whitespace or case.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recurct import cumulative_dose, stats, synthetic
from recurct.errors import DataError, ParameterError, RegressionWarning
from recurct.survey import survey_table


@pytest.fixture(scope="module")
def exams() -> pl.DataFrame:
    return synthetic.generate("small", n_patients=300, seed=3)


@pytest.fixture(scope="module")
def patients(exams: pl.DataFrame) -> pl.DataFrame:
    p = cumulative_dose(exams, thresholds=[50, 100])
    rng = np.random.default_rng(3)
    keys = ["A", "B", None]
    return p.with_columns(
        pl.Series("grp", [keys[i] for i in rng.integers(0, 3, p.height)], pl.Utf8)
    )


_FUNCS: dict[str, Callable[[pl.DataFrame, str], pl.DataFrame]] = {
    "magnitude": lambda d, by: stats.magnitude(d, 50, by=by),
    "dose_bands": lambda d, by: stats.dose_bands(d, by=by),
    "exams_per_patient": lambda d, by: stats.exams_per_patient(d, by=by).distribution,
    "dose_share": lambda d, by: stats.dose_share(d, by=by),
    "single_exam_share": lambda d, by: stats.single_exam_share(d, 20, by=by),
    "incidence_rate": lambda d, by: stats.incidence_rate(d, 50, by=by),
    "time_to_threshold": lambda d, by: stats.time_to_threshold(d, 50, by=by).at([1, 2]),
    "cumulative_incidence": lambda d, by: stats.cumulative_incidence(d, 50, by=by).at([1, 2]),
    "standardise": lambda d, by: stats.standardise(d, 50, by=by),
}

#: the names of the temporary columns the functions used before they had a reserved prefix
_FORMER_TEMPORARIES = [
    "_row", "_first", "_g", "_block", "_entry", "_event", "_end", "_days", "_obs", "_ev",
    "_prev", "_ced", "_nx", "_age", "_sex", "_grp", "_high", "_some", "_n", "_k", "_total",
    "_exams", "_r0", "_d0", "_x0",
]  # fmt: skip


def _table(name: str, exams: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    if name in ("dose_share", "single_exam_share"):
        return exams.join(patients.select("patient_id", "grp"), on="patient_id", how="left")
    return patients


@pytest.mark.parametrize("func", sorted(_FUNCS))
def test_by_named_like_a_former_temporary(func: str, exams, patients) -> None:
    """Each stratum is the same whatever the ``by`` column's name (the old code stratified
    by its own end date for ``by="_end"``, swapped ``_event``, crashed on ``_row``...)."""
    data = _table(func, exams, patients)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _FUNCS[func](data, "grp")
        for name in _FORMER_TEMPORARIES:
            got = _FUNCS[func](data.rename({"grp": name}), name).rename({name: "grp"})
            assert_frame_equal(got, ref, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("func", sorted(_FUNCS))
def test_by_with_the_reserved_prefix_is_refused(func: str, exams, patients) -> None:
    data = _table(func, exams, patients).rename({"grp": "__recurct_row"})
    with pytest.raises(ParameterError, match="__recurct_"):
        _FUNCS[func](data, "__recurct_row")


def test_exam_rate_covariate_named_like_person_days(patients) -> None:
    rng = np.random.default_rng(1)
    p = patients.with_columns(pl.Series("x", rng.normal(size=patients.height)))
    ref = stats.exam_rate(p, "n_repeat ~ x").table
    got = stats.exam_rate(p.rename({"x": "_person_days"}), "n_repeat ~ _person_days").table
    assert got["coef"].to_list() == pytest.approx(ref["coef"].to_list())


def test_meta_subgroup_named_like_a_temporary(patients) -> None:
    p = patients.with_columns(
        pl.col("facility").cast(pl.Utf8).str.len_chars().mod(2).cast(pl.Utf8).alias("_nu")
    )
    ref = stats.meta_proportion(p.rename({"_nu": "g"}), threshold=50, subgroup="g").subgroups
    got = stats.meta_proportion(p, threshold=50, subgroup="_nu").subgroups
    assert_frame_equal(got.rename({"_nu": "g"}), ref)


# -- meta_proportion subgroups ----------------------------------------------------------------

_AGG = {
    "site": ["s1", "s2", "s3", "s4", "s5", "s6"],
    "n_patients": [200, 300, 250, 400, 150, 500],
    "n_reached": [4, 9, 3, 12, 2, 20],
}


@pytest.mark.parametrize(
    "name", ["model", "effect", "n_sites", "share", "site", "weight", "corrected", "ci"]
)
def test_meta_subgroup_named_like_an_output_column(name: str) -> None:
    groups = ["a", "a", "b", "b", "c", "c"]
    agg = pl.DataFrame({**_AGG, "g": groups})
    if name == "site":
        agg = agg.with_columns(pl.col("site").alias("g"))
    agg = agg.rename({"g": name}) if name != "site" else agg
    with pytest.raises(ParameterError, match=f"subgroup column '{name}'.*output column"):
        stats.meta_proportion(agg, subgroup=name)


def test_meta_subgroup_value_equal_to_the_null_label() -> None:
    agg = pl.DataFrame({**_AGG, "country": ["DE", "DE", "not stated", "not stated", None, None]})
    with pytest.raises(DataError, match=r"'not stated'.*\['s3', 's4'\]"):
        stats.meta_proportion(agg, subgroup="country")
    # nulls alone keep the documented label
    agg = agg.with_columns(pl.col("country").replace("not stated", "FR"))
    r = stats.meta_proportion(agg, subgroup="country")
    assert r.subgroups["country"].to_list() == ["DE", "FR", "not stated"]
    assert r.subgroups["n_sites"].to_list() == [2, 2, 2]


# -- regression: NaN covariates of a polars table ------------------------------------------


@pytest.mark.parametrize("func", ["risk_factors", "exam_rate"])
def test_regression_counts_nan_covariates(func: str, patients) -> None:
    rng = np.random.default_rng(5)
    bmi = np.where(rng.random(patients.height) < 0.3, np.nan, rng.normal(25, 4, patients.height))
    n_nan = int(np.isnan(bmi).sum())
    p = patients.with_columns(pl.Series("bmi", bmi))
    formula = "reached_50 ~ sex + bmi" if func == "risk_factors" else "n_repeat ~ sex + bmi"
    fit: Callable[[Any, str], Any] = getattr(stats, func)
    nobs = []
    for frame in (p, p.to_pandas()):
        with pytest.warns(RegressionWarning, match=f"dropped {n_nan} of {p.height} rows") as w:
            nobs.append(int(fit(frame, formula).model.nobs))
        assert "__recurct_" not in " ".join(str(x.message) for x in w)
    assert nobs == [p.height - n_nan] * 2


# -- by columns of mixed Python types ------------------------------------------------------


@pytest.mark.parametrize("func", ["magnitude", "dose_bands", "incidence_rate", "standardise"])
def test_by_of_mixed_python_types_is_refused(func: str, patients) -> None:
    pdf = patients.to_pandas()
    vals = np.array([1, "1", "Site A", None, 1.0], dtype=object)
    pdf["hospital"] = pd.Series(vals[np.arange(len(pdf)) % 5], dtype=object)
    with pytest.raises(DataError, match=r"'hospital'.*int \(row 0\), str \(row 1\), float"):
        _FUNCS[func](pdf, "hospital")  # type: ignore[arg-type]


# -- survey_table ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["n_answered", "share", "share_lo", "share_hi", "percent"])
def test_survey_refuses_columns_named_like_its_outputs(name: str) -> None:
    answers = pl.DataFrame(
        {"question": ["Q1", "Q1"], "answer": ["yes", "no"], "count": [3, 2], name: [61.0, 39.0]}
    )
    with pytest.raises(ParameterError, match=f"'{name}'"):
        survey_table(answers)


# -- keys differing by whitespace or case; reserved words in any case -----------------------


def test_extrapolate_refuses_country_names_differing_by_whitespace() -> None:
    pc = pl.DataFrame(
        {"country": ["France", "France "], "rate_per_1000": [1.0, 1.0], "population": [67e6] * 2}
    )
    with pytest.raises(DataError, match=r"'France' \(row 0\), 'France ' \(row 1\)"):
        stats.extrapolate(per_country=pc, years=1)


@pytest.mark.parametrize("word", ["Total", "TOTAL", " total"])
def test_extrapolate_refuses_total_in_any_case(word: str) -> None:
    pc = pl.DataFrame(
        {"country": ["France", word], "rate_per_1000": [1.0, 1.0], "population": [67e6, 1e6]}
    )
    with pytest.raises(DataError, match="'total'"):
        stats.extrapolate(per_country=pc, years=1)


def test_extrapolate_case_variants_stay_two_countries() -> None:
    pc = pl.DataFrame(
        {"country": ["Germany", "germany"], "rate_per_1000": [2.0, 2.0], "population": [1e6] * 2}
    )
    out = stats.extrapolate(per_country=pc, years=1)
    assert out["country"].to_list() == ["Germany", "germany", "total"]


def test_site_labels_differing_by_whitespace_are_refused(patients) -> None:
    agg = pl.DataFrame(
        {"site": ["Site A", "Site A ", "site a"], "n_patients": [100] * 3, "n_reached": [1, 2, 3]}
    )
    with pytest.raises(DataError, match=r"'Site A' \(row 0\), 'Site A ' \(row 1\)"):
        stats.site_table(agg)
    with pytest.raises(DataError, match="surrounding whitespace"):
        stats.meta_proportion(agg)
    # from a patients table too
    p = patients.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.col("facility").cast(pl.Utf8) + " ")
        .otherwise(pl.col("facility").cast(pl.Utf8))
        .alias("facility")
    )
    with pytest.raises(DataError, match="surrounding whitespace"):
        stats.site_table(p)
    # case variants stay two sites, as survey_table's answers do
    ok = stats.site_table(agg.filter(pl.col("site") != "Site A "))
    assert ok.summary["n_sites"].item() == 2


@pytest.mark.parametrize("name", ["_n_pop", "_n_pat", "_order"])
def test_by_named_like_a_population_temporary(name: str, patients) -> None:
    """``population=`` joined its counts under ``_n_pop``/``_n_pat``/``_order``: a ``by``
    of that name clashed."""
    p = patients.with_columns(pl.col("grp").fill_null("C"))
    people = pl.concat([p.select("grp"), pl.DataFrame({"grp": ["A"] * 50})])
    want = stats.magnitude(p, 50, by="grp", population=people)
    got = stats.magnitude(
        p.rename({"grp": name}), 50, by=name, population=people.rename({"grp": name})
    )
    assert_frame_equal(got.rename({name: "grp"}), want)
