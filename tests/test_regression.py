"""Tests of recurct.stats.regression against statsmodels fitted directly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from recurct.stats._common import AGE_EDGES, band_labels
from recurct.stats.regression import RegressionWarning, exam_rate, risk_factors

D0 = dt.date(2015, 1, 1)
END = dt.date(2019, 12, 31)  # a fixed study window of 5 years (1826 days)


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
    first = rng.integers(0, 1500, n)
    person_days = (END - D0).days - first + 1
    rate = np.exp(-5.5 + 0.3 * (sex == "M") + 0.005 * age) * rng.gamma(2.0, 0.5, n)
    n_exams = 1 + rng.poisson(rate * person_days)
    follow = np.minimum(rng.integers(0, 400, n), person_days - 1) * (n_exams > 1)
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "age_first_exam": age,
            "sex": sex,
            "indication": ind,
            "facility": fac,
            "reached_100": reached,
            "first_exam": [D0 + dt.timedelta(days=int(f)) for f in first],
            "last_exam": [D0 + dt.timedelta(days=int(f + g)) for f, g in zip(first, follow)],
            "followup_days": follow,
            "n_exams": n_exams,
            "person_days": person_days,
        }
    )


def _age_band_direct(age: np.ndarray) -> list[str | None]:
    """Left-closed bands [0, 18), [18, 30), ... written out with plain comparisons."""
    labels = band_labels(AGE_EDGES)
    out: list[str | None] = []
    for a in age:
        if a is None or np.isnan(a) or a < 0:
            out.append(None)
            continue
        out.append(labels[sum(a >= e for e in AGE_EDGES[1:-1])])
    return out


def _direct_frame(p: pl.DataFrame) -> pd.DataFrame:
    d = p.to_pandas()
    d["sex"] = d["sex"].astype(object)
    d["indication"] = d["indication"].astype(object)
    d["age_band"] = _age_band_direct(d["age_first_exam"].to_numpy())
    d["y"] = d["reached_100"].astype(int)
    return d


def test_age_bands_are_magnitudes_left_closed_bands(patients: pl.DataFrame) -> None:
    # the regression bands are those of recurct.stats.age_band: [18, 30) is "18-30", 17.5 is
    # in "0-18" (the former floor-based bands called [18, 35) "18-34")
    edge_ages = [17.5, 18.0, 29.99, 30.0, 49.5, 50.0, 64.99, 65.0]
    ages = patients["age_first_exam"].to_numpy().copy()
    ages[: len(edge_ages)] = edge_ages
    p = patients.with_columns(age_first_exam=pl.Series(ages))
    res = risk_factors(p, "reached_100 ~ age_band").model
    names = res.model.exog_names
    assert names == ["Intercept", *(f"age_band[T.{b}]" for b in ("18-30", "30-50", "50-65", "65+"))]
    exog = res.model.exog
    for j, (lo, hi) in enumerate([(18, 30), (30, 50), (50, 65), (65, np.inf)], start=1):
        assert exog[:, j].sum() == ((ages >= lo) & (ages < hi)).sum()
        assert exog[: len(edge_ages), j].tolist() == [lo <= a < hi for a in edge_ages]


def test_risk_factors_equals_statsmodels(patients: pl.DataFrame) -> None:
    table = risk_factors(patients).table
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
    np.testing.assert_allclose(table.get_column("odds_ratio_lo").to_numpy(), ci[:, 0], rtol=1e-6)
    np.testing.assert_allclose(table.get_column("odds_ratio_hi").to_numpy(), ci[:, 1], rtol=1e-6)
    np.testing.assert_allclose(table.get_column("p_value").to_numpy(), ref.pvalues, rtol=1e-5)
    assert table.get_column("n").to_list() == [1500] * len(ref.params)


def test_risk_factors_clustered_se(patients: pl.DataFrame) -> None:
    table = risk_factors(
        patients.to_pandas(), "reached_100 ~ sex + indication", cluster="facility"
    ).table
    assert isinstance(table, pd.DataFrame)
    d = _direct_frame(patients)
    groups = pd.factorize(d["facility"])[0]
    ref = smf.logit("y ~ sex + indication", data=d).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": groups}
    )
    np.testing.assert_allclose(table["se"].to_numpy(), ref.bse.to_numpy(), rtol=1e-6)
    plain = risk_factors(patients, "reached_100 ~ sex + indication").table
    assert not np.allclose(plain.get_column("se").to_numpy(), table["se"].to_numpy())


def test_risk_factors_from_ced_and_dropped_rows(patients: pl.DataFrame) -> None:
    p = patients.drop("reached_100").with_columns(
        ced_msv=pl.when(patients["reached_100"]).then(150.0).otherwise(10.0),
        sex=pl.when(pl.col("patient_id") < 5).then(None).otherwise(pl.col("sex")),
    )
    with pytest.warns(RegressionWarning, match="dropped 5 of 1500"):
        table = risk_factors(p, "reached_100 ~ sex").table
    assert table.get_column("n")[0] == 1495


@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_exam_rate_equals_statsmodels(patients: pl.DataFrame, family: str) -> None:
    table = exam_rate(patients, family=family, end=END).table
    d = _direct_frame(patients)
    d["n_repeat"] = d["n_exams"] - 1
    pt = d["person_days"].to_numpy(dtype=float)
    if family == "poisson":
        ref = smf.glm(
            "n_repeat ~ age_band + sex", data=d, family=sm.families.Poisson(), offset=np.log(pt)
        ).fit()
        params = ref.params
    else:
        ref = smf.negativebinomial("n_repeat ~ age_band + sex", data=d, offset=np.log(pt)).fit(
            disp=0, maxiter=200
        )
        params = ref.params.drop("alpha")
    assert table.get_column("term").to_list() == list(params.index)
    np.testing.assert_allclose(table.get_column("rate_ratio").to_numpy(), np.exp(params), rtol=1e-5)
    ci = np.exp(ref.conf_int().loc[params.index].to_numpy())
    np.testing.assert_allclose(table.get_column("rate_ratio_lo").to_numpy(), ci[:, 0], rtol=1e-5)
    np.testing.assert_allclose(table.get_column("rate_ratio_hi").to_numpy(), ci[:, 1], rtol=1e-5)


def _poisson_window(n: int, rate_per_year: float, group: str, rng: np.random.Generator) -> list:
    """Patients of a fixed window whose exams are a Poisson process; those with >= 1 exam."""
    days = (END - D0).days + 1
    rows = []
    while len(rows) < n:
        k = int(rng.poisson(rate_per_year / 365.25 * days))
        if k == 0:
            continue  # never scanned: not in a dose-monitoring export
        d = np.sort(rng.integers(0, days, k))
        first, last = D0 + dt.timedelta(days=int(d[0])), D0 + dt.timedelta(days=int(d[-1]))
        rows.append((group, k, first, last, int(d[-1] - d[0])))
    return rows


def test_exam_rate_recovers_the_true_rate_ratio_in_a_fixed_window() -> None:
    # 6,000 patients, exams from a Poisson process over 5 years, group B scanned twice as
    # often as A: the true rate ratio is 2.0. The former exposure (followup_days + 1) gave
    # 1.54 (CI 1.51-1.57) on this design.
    rng = np.random.default_rng(20261123)
    rows = _poisson_window(3000, 1.0, "A", rng) + _poisson_window(3000, 2.0, "B", rng)
    p = pl.DataFrame(
        rows, schema=["group", "n_exams", "first_exam", "last_exam", "followup_days"], orient="row"
    )
    for end in (END, None):  # the study end, or the end of the data (the latest last_exam)
        t = exam_rate(p, "n_repeat ~ group", end=end).table.filter(pl.col("term") == "group[T.B]")
        assert t["rate_ratio_lo"][0] < 2.0 < t["rate_ratio_hi"][0], t
        assert t["rate_ratio"][0] == pytest.approx(2.0, rel=0.05)
    # intercept: repeat exams per day in group A, i.e. 1 / 365.25
    base = exam_rate(p, "n_repeat ~ group", end=END).table.filter(pl.col("term") == "Intercept")
    assert base["rate_ratio_lo"][0] < 1 / 365.25 < base["rate_ratio_hi"][0]
    # the entry exam as outcome is biased, and says so
    with pytest.warns(RegressionWarning, match="n_repeat"):
        biased = exam_rate(p, "n_exams ~ group", end=END).table
    assert biased.filter(pl.col("term") == "group[T.B]")["rate_ratio_hi"][0] < 1.95


def test_exam_rate_simple_rate_hand_computed() -> None:
    # intercept-only Poisson: MLE of the rate is sum(repeat exams) / sum(person-time)
    p = pl.DataFrame(
        {
            "facility": ["a", "a", "b", "b"],
            "n_exams": [1, 3, 2, 6],
            "first_exam": [dt.date(2020, 1, d) for d in (1, 5, 1, 11)],
            "last_exam": [dt.date(2020, 1, d) for d in (1, 20, 10, 30)],
        }
    )
    # end of the data per facility: a -> Jan 20, b -> Jan 30; person-days 20, 16, 30, 20
    t = exam_rate(p, "n_repeat ~ 1").table
    assert t.get_column("rate_ratio")[0] == pytest.approx(8 / 86)
    # one study end for all: Jan 31 -> 31, 27, 31, 21 person-days
    t = exam_rate(p.to_pandas(), "n_repeat ~ 1", end=dt.date(2020, 1, 31)).table
    assert isinstance(t, pd.DataFrame)
    assert t["rate_ratio"].iloc[0] == pytest.approx(8 / 110)
    # a mapping facility -> end, and an end column
    ends = {"a": dt.date(2020, 1, 25), "b": dt.date(2020, 1, 30)}
    t = exam_rate(p, "n_repeat ~ 1", end=ends).table
    assert t.get_column("rate_ratio")[0] == pytest.approx(8 / (25 + 21 + 30 + 20))
    col = p.with_columns(stop=pl.Series([dt.date(2020, 1, 31)] * 4))
    assert exam_rate(col, "n_repeat ~ 1", end="stop").table.equals(
        exam_rate(p, "n_repeat ~ 1", end=dt.date(2020, 1, 31)).table
    )
    with pytest.raises(ValueError, match="family"):
        exam_rate(p, "n_repeat ~ 1", family="gamma")
    with pytest.raises(ValueError, match="exams after their end of observation"):
        exam_rate(p, "n_repeat ~ 1", end=dt.date(2020, 1, 15))
    with pytest.raises(ValueError, match="first_exam"):
        exam_rate(p.drop("first_exam"), "n_repeat ~ 1")
