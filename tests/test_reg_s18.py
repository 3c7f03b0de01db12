"""Session 18 fixes of the regression, GLMM, standardisation and meta-analysis functions:
reference levels of pandas Categoricals, refused failed fits, GLMM without a finite estimate,
unknown outcomes dropped, and the checks of outcomes, clusters and quoted names."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from recurct.errors import (
    DataError,
    DroppedRowsWarning,
    ParameterError,
    RegressionWarning,
    StandardisationWarning,
)
from recurct.stats import _glmm, age_band, exam_rate, meta_proportion, risk_factors, standardise
from recurct.stats._glmm import glmm_proportion

START, END = dt.date(2020, 1, 1), dt.date(2023, 12, 31)


def _counts(seed: int, n: int = 500) -> pl.DataFrame:
    """Repeat exams from a Poisson process (no overdispersion), as in the audit."""
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, 1400, n)
    rep = rng.poisson(0.001 * ((END - START).days - first_day + 1))
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "sex": rng.choice(["F", "M"], n),
            "facility": rng.choice(["A", "B", "C"], n),
            "first_exam": [START + dt.timedelta(days=int(d)) for d in first_day],
            "n_exams": 1 + rep,
        }
    )


# ------------------------------------------------------------------ 1. reference levels
def test_pandas_ordered_age_band_has_the_reference_of_polars() -> None:
    rng = np.random.default_rng(4)
    n = 1000
    age = np.r_[rng.uniform(5, 17.9, 300), rng.uniform(20, 90, 700)]
    pdf = pd.DataFrame(
        {"patient_id": np.arange(n), "age_first_exam": age, "reached_100": rng.random(n) < 0.3}
    )
    edges = (5, 18, 65, float("inf"))
    banded = age_band(pdf, edges=edges)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegressionWarning)
        from_pandas = risk_factors(banded, "reached_100 ~ age_band").table
        from_polars = risk_factors(
            pl.from_pandas(pdf), "reached_100 ~ age_band", age_edges=edges
        ).table
    assert from_pandas["term"].tolist() == from_polars["term"].to_list()
    assert from_pandas["term"].tolist()[1] == "age_band[T.18-65]"  # 5-18 is the reference
    np.testing.assert_allclose(from_pandas["odds_ratio"], from_polars["odds_ratio"], rtol=1e-10)
    # statsmodels on the same pandas table (its own reading of the ordered Categorical)
    ref = smf.logit("y ~ age_band", banded.assign(y=banded.reached_100.astype(int))).fit(disp=0)
    np.testing.assert_allclose(from_pandas["coef"], ref.params.to_numpy(), rtol=1e-8)


def test_pandas_categorical_keeps_the_users_order_as_statsmodels() -> None:
    rng = np.random.default_rng(4)
    n = 600
    q = pd.DataFrame(
        {
            "patient_id": np.arange(n),
            "reached_100": rng.random(n) < 0.3,
            "ind": pd.Categorical(
                rng.choice(["cancer", "other", "trauma"], n),
                categories=["trauma", "other", "cancer"],
            ),
        }
    )
    got = risk_factors(q, "reached_100 ~ ind").table
    ref = smf.logit("y ~ ind", q.assign(y=q.reached_100.astype(int))).fit(disp=0)
    assert got["term"].tolist() == [str(t) for t in ref.params.index]
    assert got["term"].tolist()[1:] == ["ind[T.other]", "ind[T.cancer]"]
    np.testing.assert_allclose(got["coef"], ref.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(got["se"], ref.bse.to_numpy(), rtol=1e-8)


# ------------------------------------------------------------------ 2. failed fits refused
def test_negbin_without_overdispersion_is_refused_with_advice() -> None:
    with pytest.raises(DataError, match=r"negative binomial.*alpha.*family=\"poisson\""):
        exam_rate(_counts(4), "n_repeat ~ sex", end=END, family="negbin")
    # the Poisson model of the same counts fits, as statsmodels' GLM
    df = _counts(4)
    got = exam_rate(df, "n_repeat ~ sex", end=END).table
    pdf = df.to_pandas().assign(y=lambda d: d.n_exams - 1)
    days = (pd.Timestamp(END) - pd.to_datetime(pdf.first_exam)).dt.days + 1
    ref = smf.glm("y ~ sex", pdf, family=sm.families.Poisson(), exposure=days).fit()
    np.testing.assert_allclose(got["coef"], ref.params.to_numpy(), rtol=1e-8)


def test_nonconverged_logit_is_refused() -> None:
    rng = np.random.default_rng(2)
    n = 300
    df = pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "age": rng.uniform(5, 90, n),
            "reached_100": rng.random(n) < 0.3,
        }
    ).with_columns(age2=pl.col("age") * 2 + 1e-9 * pl.col("patient_id"))
    with pytest.raises(DataError, match=r"logistic model could not be fitted.*converge"):
        risk_factors(df, "reached_100 ~ age + age2")


# ------------------------------------------------------------------ 3. GLMM without an MLE
@pytest.mark.parametrize(
    ("x", "n"), [([0, 0, 10], [10, 10, 10]), ([0, 10], [10, 10]), ([0, 0, 0, 50], [50] * 4)]
)
def test_glmm_all_sites_zero_or_all_is_refused(x: list[int], n: list[int]) -> None:
    with pytest.raises(DataError, match="no finite maximum likelihood"):
        glmm_proportion(x, n)
    table = pl.DataFrame({"site": list("abcd")[: len(x)], "n_patients": n, "n_reached": x})
    with pytest.raises(DataError, match="no finite maximum likelihood"):
        meta_proportion(table, model="glmm")


def test_glmm_tau_at_the_search_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    x, n = [0, 1, 0, 20, 2], [20] * 5  # tau about 5.7: an estimate exists
    assert np.isfinite(glmm_proportion(x, n)["mu"])
    monkeypatch.setattr(_glmm, "_TAU_MAX", 1.0, raising=False)
    with pytest.raises(DataError, match="bound of its search"):
        glmm_proportion(x, n)


# ------------------------------------------------------------------ 4. unknown outcomes
_NULL_REACHED = pl.DataFrame(
    {
        "patient_id": list(range(8)),
        "facility": list("AAAABBBB"),
        "age_first_exam": [30.0, 40, 50, 60, 30, 40, 50, 60],
        "reached_100": [True, None, False, False, True, None, True, False],
    }
)
_ONE_GROUP = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})


def test_standardise_drops_unknown_reached_with_a_warning() -> None:
    with pytest.warns(
        StandardisationWarning, match=r"dropped 2 patient\(s\) with a null 'reached_100'"
    ):
        s = standardise(_NULL_REACHED, 100, standard=_ONE_GROUP)
    assert s.select("n_patients", "n_reached").row(0) == (6, 3)
    assert s["std_share"][0] == pytest.approx(0.5)
    ced = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "ced_msv": [150.0, None, None, 3.0],
            "age_first_exam": [30.0] * 4,
        }
    )
    with pytest.warns(
        StandardisationWarning, match=r"dropped 2 patient\(s\) with a null 'ced_msv'"
    ):
        s = standardise(ced, 100, standard=_ONE_GROUP)
    assert s.select("n_patients", "n_reached").row(0) == (2, 1)


def test_meta_proportion_drops_unknown_reached_with_a_warning() -> None:
    with pytest.warns(DroppedRowsWarning, match=r"dropped 2 of 8 patient\(s\)"):
        m = meta_proportion(_NULL_REACHED, threshold=100, site="facility")
    assert m.sites.select("site", "n_patients", "n_reached").rows() == [("A", 3, 1), ("B", 3, 2)]


# ------------------------------------------------------------------ 5. end="last_exam"
def test_exam_rate_warns_on_end_last_exam() -> None:
    df = _counts(1).with_columns(
        last_exam=pl.col("first_exam") + pl.duration(days=pl.col("n_exams") * 30)
    )
    with pytest.warns(RegressionWarning, match="end='last_exam'"):
        exam_rate(df, "n_repeat ~ sex", end="last_exam")


# ------------------------------------------------------------------ 6. one cluster
def test_one_cluster_is_refused() -> None:
    df = _counts(0).with_columns(facility=pl.lit("A"), reached_100=pl.col("n_exams") > 1)
    with pytest.raises(ParameterError, match="at least 2 clusters"):
        risk_factors(df, "reached_100 ~ sex", cluster="facility")
    with pytest.raises(ParameterError, match="at least 2 clusters"):
        exam_rate(df, "n_repeat ~ sex", end=END, cluster="facility")


# ------------------------------------------------------------------ 7. Q("...")
def test_quoted_column_name_is_carried_and_its_nulls_counted() -> None:
    rng = np.random.default_rng(10)
    n = 300
    df = pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "site type": rng.choice(["academic", "general"], n),
            "reached_100": rng.random(n) < 0.3,
        }
    ).with_columns(
        pl.when(pl.col("patient_id") < 5)
        .then(None)
        .otherwise(pl.col("site type"))
        .alias("site type")
    )
    with pytest.warns(RegressionWarning, match=r"dropped 5 of 300 rows.*'site type'"):
        got = risk_factors(df, 'reached_100 ~ Q("site type")').table
    pdf = df.drop_nulls().to_pandas().assign(y=lambda d: d.reached_100.astype(int))
    ref = smf.logit('y ~ Q("site type")', pdf).fit(disp=0)
    assert got["n"][0] == 295
    np.testing.assert_allclose(got["coef"], ref.params.to_numpy(), rtol=1e-8)


# ------------------------------------------------------------------ 8. bad outcomes
def test_bad_outcomes_are_refused_naming_column_and_rows() -> None:
    df = pl.DataFrame(
        {
            "patient_id": np.arange(6),
            "sex": list("FMFMFM"),
            "grade": [0, 1, 2, 0, 1, 1],
            "n_repeat": [0, 2, -1, 1, 0, 3],
            "frac": [0.0, 1.5, 1.0, 2.0, 0.0, 1.0],
            "first_exam": [dt.date(2020, 1, 1)] * 6,
        }
    )
    with pytest.raises(DataError, match=r"'grade' must hold 0 or 1.*row\(s\) \[2\]"):
        risk_factors(df, "grade ~ sex")
    with pytest.raises(DataError, match=r"'n_repeat' must hold whole numbers >= 0.*row\(s\) \[2\]"):
        exam_rate(df, "n_repeat ~ sex", end=dt.date(2022, 1, 1))
    with pytest.raises(DataError, match=r"'frac' must hold whole numbers >= 0.*row\(s\) \[1\]"):
        exam_rate(df, "frac ~ sex", end=dt.date(2022, 1, 1))


# ------------------------------------------------------------------ 9. infinite age
def test_standardise_drops_an_infinite_age() -> None:
    df = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "reached_100": [True, False, True, False],
            "age_first_exam": [float("inf"), 30.0, 40.0, 95.0],
        }
    )
    with pytest.warns(StandardisationWarning, match=r"dropped 1 patient\(s\)"):
        s = standardise(df, 100, standard=_ONE_GROUP)
    assert s["n_patients"][0] == 3
