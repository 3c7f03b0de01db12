"""Tests of recurct.stats.regression against statsmodels fitted directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from recurct.stats.regression import RegressionWarning, age_band, exam_rate, risk_factors


@pytest.fixture(scope="module")
def patients() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 1500
    age = rng.uniform(5, 90, n)
    sex = rng.choice(["F", "M"], n)
    ind = rng.choice(["cancer", "trauma", "other"], n)
    fac = rng.choice([f"site{i}" for i in range(8)], n)
    lin = -3 + 0.03 * (age - 50) + 0.4 * (sex == "M") + 1.2 * (ind == "cancer")
    reached = rng.random(n) < 1 / (1 + np.exp(-lin))
    follow = rng.integers(0, 1500, n)
    rate = np.exp(-5.5 + 0.3 * (sex == "M") + 0.005 * age)
    n_exams = 1 + rng.poisson(rate * (follow + 1))
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "age_first_exam": age,
            "sex": sex,
            "indication": ind,
            "facility": fac,
            "reached_100": reached,
            "followup_days": follow,
            "n_exams": n_exams,
        }
    )


def _direct_frame(p: pl.DataFrame) -> pd.DataFrame:
    d = p.to_pandas()
    d["sex"] = d["sex"].astype(object)
    d["indication"] = d["indication"].astype(object)
    d["age_band"] = age_band(d["age_first_exam"])
    d["y"] = d["reached_100"].astype(int)
    return d


def test_age_band_labels() -> None:
    s = age_band([0, 17.9, 18, 49.5, 50, 64.99, 65, 100, None, -1])
    assert s.tolist() == [
        "0-17", "0-17", "18-34", "35-49", "50-64", "50-64", "65+", "65+", None, None,
    ]  # fmt: skip
    assert age_band([10, 60], edges=(0, 50)).tolist() == ["0-49", "50+"]


def test_risk_factors_equals_statsmodels(patients: pl.DataFrame) -> None:
    table = risk_factors(patients)
    d = _direct_frame(patients)
    ref = smf.logit("y ~ age_band + sex + indication", data=d).fit(disp=0)
    assert table.get_column("term").to_list() == list(ref.params.index)
    np.testing.assert_allclose(
        table.get_column("coef").to_numpy(), ref.params.to_numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        table.get_column("odds_ratio").to_numpy(), np.exp(ref.params), rtol=1e-6
    )
    ci = np.exp(ref.conf_int().to_numpy())
    np.testing.assert_allclose(table.get_column("or_lo").to_numpy(), ci[:, 0], rtol=1e-6)
    np.testing.assert_allclose(table.get_column("or_hi").to_numpy(), ci[:, 1], rtol=1e-6)
    np.testing.assert_allclose(table.get_column("p_value").to_numpy(), ref.pvalues, rtol=1e-5)
    assert table.get_column("n").to_list() == [1500] * len(ref.params)


def test_risk_factors_clustered_se(patients: pl.DataFrame) -> None:
    table = risk_factors(patients.to_pandas(), "reached_100 ~ sex + indication", cluster="facility")
    assert isinstance(table, pd.DataFrame)
    d = _direct_frame(patients)
    groups = pd.factorize(d["facility"])[0]
    ref = smf.logit("y ~ sex + indication", data=d).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": groups}
    )
    np.testing.assert_allclose(table["se"].to_numpy(), ref.bse.to_numpy(), rtol=1e-6)
    plain = risk_factors(patients, "reached_100 ~ sex + indication")
    assert not np.allclose(plain.get_column("se").to_numpy(), table["se"].to_numpy())


def test_risk_factors_from_ced_and_dropped_rows(patients: pl.DataFrame) -> None:
    p = patients.drop("reached_100").with_columns(
        ced_msv=pl.when(patients["reached_100"]).then(150.0).otherwise(10.0),
        sex=pl.when(pl.col("patient_id") < 5).then(None).otherwise(pl.col("sex")),
    )
    with pytest.warns(RegressionWarning, match="dropped 5 of 1500"):
        table = risk_factors(p, "reached_100 ~ sex")
    assert table.get_column("n")[0] == 1495


@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_exam_rate_equals_statsmodels(patients: pl.DataFrame, family: str) -> None:
    table, _ = exam_rate(patients, family=family, return_model=True)
    d = _direct_frame(patients)
    pt = d["followup_days"].to_numpy(dtype=float) + 1
    if family == "poisson":
        ref = smf.glm(
            "n_exams ~ age_band + sex", data=d, family=sm.families.Poisson(), offset=np.log(pt)
        ).fit()
        params = ref.params
    else:
        ref = smf.negativebinomial("n_exams ~ age_band + sex", data=d, offset=np.log(pt)).fit(
            disp=0, maxiter=200
        )
        params = ref.params.drop("alpha")
    assert table.get_column("term").to_list() == list(params.index)
    np.testing.assert_allclose(table.get_column("rate_ratio").to_numpy(), np.exp(params), rtol=1e-5)
    ci = np.exp(ref.conf_int().loc[params.index].to_numpy())
    np.testing.assert_allclose(table.get_column("rr_lo").to_numpy(), ci[:, 0], rtol=1e-5)
    np.testing.assert_allclose(table.get_column("rr_hi").to_numpy(), ci[:, 1], rtol=1e-5)


def test_exam_rate_simple_rate_hand_computed() -> None:
    # intercept-only Poisson: MLE of the rate is sum(exams) / sum(person-time)
    p = pl.DataFrame({"n_exams": [1, 3, 2, 6], "followup_days": [0, 9, 4, 19]})
    t = exam_rate(p, "n_exams ~ 1")
    assert t.get_column("rate_ratio")[0] == pytest.approx(12 / 36)
    with pytest.raises(ValueError, match="family"):
        exam_rate(p, "n_exams ~ 1", family="gamma")
