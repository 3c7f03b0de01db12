"""Edge cases of recurct.stats found by an audit: models whose estimates do not exist, null
entry dates, strata left empty, deaths before entry, population tables that do not cover the
patients, the Aalen-Johansen interval at 1, and non-whole counts. Numbers are checked against
statsmodels, lifelines, scipy or a hand computation, never against recurct itself."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from recurct.errors import (
    CompetingRiskWarning,
    DataError,
    ParameterError,
    StandardisationWarning,
)
from recurct.stats import (
    cumulative_incidence,
    dose_bands,
    exam_rate,
    incidence_rate,
    magnitude,
    proportion_ci,
    risk_factors,
    standardise,
    time_to_threshold,
)
from recurct.stats.competing import aalen_johansen

D0 = dt.date(2015, 1, 1)
END = dt.date(2019, 12, 31)


def _quiet_logit(formula: str, patients: pl.DataFrame):
    """statsmodels' own fit of ``reached_100`` (as ``y``), its separation and convergence
    warnings silenced."""
    data = patients.with_columns(y=pl.col("reached_100").cast(int)).to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.logit(formula, data).fit(disp=0, maxiter=100)


@pytest.fixture(scope="module")
def patients() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    ced = rng.gamma(2.0, 40.0, n)
    first = rng.integers(0, 1200, n)
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "sex": rng.choice(["F", "M"], n),
            "facility": rng.choice(["a", "b", "c"], n),
            "age_first_exam": rng.uniform(5, 90, n),
            "ced_msv": ced,
            "reached_100": ced >= 100,
            "n_exams": 1 + rng.poisson(3, n),
            "first_exam": [D0 + dt.timedelta(days=int(f)) for f in first],
            "last_exam": [D0 + dt.timedelta(days=int(f)) for f in first],
        }
    )


# --------------------------------------------------------------------------- F1 risk_factors
def test_risk_factors_refuses_complete_separation(patients: pl.DataFrame) -> None:
    p = patients.with_columns(
        group=pl.when(pl.col("reached_100")).then(pl.lit("hi")).otherwise(pl.lit("lo"))
    )
    # statsmodels alone: no finite estimate (odds ratio 0 or huge, standard error enormous)
    direct = _quiet_logit("y ~ group", p)
    assert abs(direct.params["group[T.lo]"]) > 10 or direct.bse["group[T.lo]"] > 100
    with pytest.raises(
        ParameterError, match=r"separation: .* predicted by 'group\[T.lo\]' \(term 'group'\) in"
    ):
        risk_factors(p, "reached_100 ~ group")


def test_risk_factors_refuses_quasi_separation_and_a_copy_of_the_outcome(
    patients: pl.DataFrame,
) -> None:
    # quasi-complete: nobody in facility c reached T, the other facilities are mixed
    p = patients.with_columns(
        reached_100=pl.when(pl.col("facility") == "c").then(False).otherwise(pl.col("reached_100"))
    )
    direct = _quiet_logit("y ~ sex + facility", p)
    assert direct.params["facility[T.c]"] < -8  # heads for -inf
    with pytest.raises(ParameterError, match=r"'facility\[T.c\]' \(term 'facility'\)") as info:
        risk_factors(p, "reached_100 ~ sex + facility")
    assert "sex" not in str(info.value).split("predicted by")[1].split(" in ")[0]  # only it
    # the CED defines reached_100: a covariate copying it separates the outcome by construction
    with pytest.raises(
        ParameterError,
        match="'reached_100' is perfectly or quasi-perfectly predicted by 'ced_msv' in",
    ):
        risk_factors(patients, "reached_100 ~ ced_msv")


@pytest.mark.parametrize("value", [False, True])
def test_risk_factors_refuses_a_constant_outcome(patients: pl.DataFrame, value: bool) -> None:
    p = patients.with_columns(reached_100=pl.lit(value))
    with pytest.raises(DataError, match=rf"'reached_100' is {int(value)} in all 300 rows"):
        risk_factors(p, "reached_100 ~ sex")


def test_risk_factors_refuses_constant_and_collinear_covariates(patients: pl.DataFrame) -> None:
    p = patients.with_columns(
        k=pl.lit(1.0), one_site=pl.lit("x"), age2=2 * pl.col("age_first_exam") + 1
    )
    with pytest.raises(ParameterError, match=r"'k' is constant \(1 in every row\)"):
        risk_factors(p, "reached_100 ~ sex + k")  # was numpy's bare LinAlgError
    with pytest.raises(
        ParameterError, match=r"'age2' is a linear combination of 'Intercept', 'age_first_exam'"
    ):
        risk_factors(p, "reached_100 ~ age_first_exam + age2")
    with pytest.raises(ParameterError, match=r"term\(s\) 'one_site' \(only \['x'\]\)"):
        risk_factors(p, "reached_100 ~ sex + one_site")  # was silently left out


def test_risk_factors_still_equals_statsmodels_where_the_estimate_exists(
    patients: pl.DataFrame,
) -> None:
    got = risk_factors(patients, "reached_100 ~ sex + facility + age_first_exam").table
    d = patients.with_columns(y=pl.col("reached_100").cast(int)).to_pandas()
    d["sex"] = d["sex"].astype(object)
    d["facility"] = d["facility"].astype(object)
    ref = smf.logit("y ~ sex + facility + age_first_exam", d).fit(disp=0)
    np.testing.assert_allclose(got["coef"].to_numpy(), ref.params.to_numpy(), rtol=1e-8)


# --------------------------------------------------------------------------- F2 exam_rate
def test_exam_rate_refuses_a_constant_covariate(patients: pl.DataFrame) -> None:
    p = patients.with_columns(k=pl.lit(1.0))
    for family in ("poisson", "negbin"):
        with pytest.raises(ParameterError, match=r"rank deficient.*'k' is constant"):
            exam_rate(p, "n_repeat ~ sex + k", family=family, end=END)


def test_exam_rate_refuses_an_all_zero_outcome(patients: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'n_repeat' is 0 in all 300 rows"):
        exam_rate(patients.with_columns(n_exams=pl.lit(1)), "n_repeat ~ sex", end=END)


def test_exam_rate_refuses_a_level_without_repeat_exams(patients: pl.DataFrame) -> None:
    p = patients.with_columns(
        n_exams=pl.when(pl.col("facility") == "c").then(1).otherwise(pl.col("n_exams"))
    )
    days = (pl.lit(END) - pl.col("first_exam")).dt.total_days() + 1
    d = p.with_columns(y=pl.col("n_exams") - 1, t=days.cast(pl.Float64)).to_pandas()
    d["facility"] = d["facility"].astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smf.glm(
            "y ~ facility", d, family=sm.families.Poisson(), exposure=d["t"].to_numpy()
        ).fit()
    assert ref.params["facility[T.c]"] < -15  # statsmodels: a rate ratio heading for 0
    with pytest.raises(
        ParameterError,
        match=r"'facility\[T.c\]' \(term 'facility'\) pick out patients who all have 'n_repeat'",
    ):
        exam_rate(p, "n_repeat ~ facility", end=END)


# --------------------------------------------------------------------------- F3 null entry
def test_incidence_rate_refuses_a_null_entry_like_time_to_threshold(
    patients: pl.DataFrame,
) -> None:
    p = patients.with_columns(
        reached_100=pl.lit(False),
        days_to_100=pl.lit(None, pl.Int64),
        entry_col=pl.when(pl.col("patient_id") < 2).then(None).otherwise(pl.lit(D0)),
    )
    expected = r"2 null entry date\(s\) in column 'entry_col' \(rows 0, 1 \(0-based\)\)"
    with pytest.raises(DataError, match="incidence_rate: " + expected):
        incidence_rate(p, 100, entry="entry_col", end=END)
    with pytest.raises(DataError, match="time_to_threshold: " + expected):
        time_to_threshold(p, 100, entry="entry_col", end=END)


# --------------------------------------------------------------------------- F4 standardise
def test_standardise_keeps_a_stratum_whose_patients_all_lack_an_age() -> None:
    # site a: 20 patients aged 30-34 (one ESP group), 6 reached T; site b: 4 without an age
    ages = list(np.linspace(30.0, 34.9, 20))
    p = pl.DataFrame(
        {
            "facility": ["a"] * 20 + ["b"] * 4,
            "age_first_exam": ages + [None] * 4,
            "reached_100": [True] * 6 + [False] * 14 + [True] * 4,
        }
    )
    with (
        pytest.warns(StandardisationWarning, match=r"dropped 4 patient.*1 stratum\(s\) .*'b'"),
        pytest.warns(StandardisationWarning, match="no patients in 18 age group"),
    ):
        s = standardise(p, 100, by="facility")
    assert s["facility"].to_list() == ["all", "a", "b"]
    b = s.row(2, named=True)
    assert (b["n_patients"], b["n_reached"], b["n_groups"]) == (0, 0, 0)
    assert b["crude_share"] is None and b["std_share"] is None
    assert b["std_share_lo"] is None and b["std_share_hi"] is None
    # one age group: the standardised share is 6/20 with the exact Poisson (Garwood) interval
    for row in (s.row(0, named=True), s.row(1, named=True)):
        assert row["n_patients"] == 20 and row["n_reached"] == 6
        assert row["std_share"] == pytest.approx(6 / 20)
        assert row["std_share_lo"] == pytest.approx(stats.chi2.ppf(0.025, 12) / 2 / 20)
        assert row["std_share_hi"] == pytest.approx(stats.chi2.ppf(0.975, 14) / 2 / 20)


# --------------------------------------------------------------------------- F5 death before entry
def test_cumulative_incidence_leaves_out_who_died_before_entry() -> None:
    entry = dt.date(2016, 1, 1)
    p = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "first_exam": [
                dt.date(2015, 1, 1),
                dt.date(2015, 3, 1),
                dt.date(2016, 8, 1),
                dt.date(2015, 2, 1),
            ],
            "last_exam": [
                dt.date(2015, 6, 1),
                dt.date(2017, 1, 1),
                dt.date(2016, 8, 1),
                dt.date(2016, 3, 1),
            ],
            "reached_100": [False, True, False, False],
            "days_to_100": [None, 672, None, None],
            # patient 1 died before the entry date: never at risk; patient 4 after it
            "death_date": [dt.date(2015, 12, 1), None, None, dt.date(2016, 6, 1)],
        }
    )
    with pytest.warns(CompetingRiskWarning, match=r"left out 1 patient\(s\) who died before"):
        aj = cumulative_incidence(p, 100, death="death_date", end="2018-01-01", entry=entry)
    assert aj.events["patient_id"].to_list() == [2, 3, 4]
    assert aj.n_prevalent == 0
    # hand computation on days since first exam: patient 2 enters on day 306, reaches T on
    # day 672; patient 3 is at risk from day 0 to 518 (censored); patient 4 enters on day
    # 334 and dies on day 486. At 486: 3 at risk, a death; at 672: patient 2 alone, T.
    curve = aj.curve.filter(pl.col("time_days") > 0)
    assert curve["time_days"].to_list() == [486, 672]
    assert curve["n_at_risk"].to_list() == [3, 1]
    assert curve["prob_died"].to_list() == pytest.approx([1 / 3, 1 / 3])
    assert curve["prob_reached"].to_list() == pytest.approx([0.0, 2 / 3])
    # an end of observation before the entry date stays an error, in both curves
    for fn in (time_to_threshold, cumulative_incidence):
        with pytest.raises(ValueError, match=r"end observation before their entry date"):
            fn(p.filter(pl.col("patient_id") != 3), 100, end="2015-12-31", entry=entry)


# --------------------------------------------------------------------------- F6 population
def test_population_table_must_cover_every_stratum(patients: pl.DataFrame) -> None:
    people = patients.select(
        "patient_id",
        facility=pl.when(pl.col("facility") == "a").then(pl.lit("b")).otherwise("facility"),
    )
    people = pl.concat([people, pl.DataFrame({"patient_id": [10**6], "facility": ["a"]})])
    n_a = int((patients["facility"] == "a").sum())
    msg = rf"facility='a': {n_a} patient\(s\), 1 in the population table"
    with pytest.raises(DataError, match=msg):  # was "count > nobs at position 1"
        magnitude(patients, 100, by="facility", population=people)
    with pytest.raises(DataError, match=msg):
        dose_bands(patients, by="facility", population=people)
    # a stratum absent from the population table: 0 people there
    absent = patients.filter(pl.col("facility") != "c").select("facility")
    n_c = int((patients["facility"] == "c").sum())
    extra = pl.DataFrame({"facility": ["a"] * (n_c + 5)})
    with pytest.raises(DataError, match=rf"facility='c': {n_c} patient\(s\), 0 in the pop"):
        magnitude(
            patients.drop("patient_id"), 100, by="facility", population=pl.concat([absent, extra])
        )
    # fewer people than patients overall (no patient_id to match)
    with pytest.raises(DataError, match=r"lists 10 people, fewer than the 300 patients"):
        magnitude(patients.drop("patient_id"), 100, population=absent.head(10))


# --------------------------------------------------------------------------- F7
def test_aalen_johansen_interval_at_one_equals_kaplan_meier() -> None:
    # everyone reaches T: the CIF is 1 at the last time; Kaplan-Meier's interval is [1, 1]
    p = pl.DataFrame(
        {
            "first_exam": [dt.date(2020, 1, 1)] * 3,
            "last_exam": [dt.date(2020, 1, 1) + dt.timedelta(days=30 * (i + 1)) for i in range(3)],
            "reached_100": [True] * 3,
            "days_to_100": [30, 60, 90],
        }
    )
    km = time_to_threshold(p, 100).curve.tail(1)
    aj = cumulative_incidence(p, 100).curve.tail(1)
    assert km["prob_reached_lo"][0] == km["prob_reached_hi"][0] == 1.0
    assert aj["prob_reached"][0] == 1.0
    assert aj["prob_reached_lo"][0] == aj["prob_reached_hi"][0] == 1.0
    assert aj["se"][0] == pytest.approx(0.0, abs=1e-12)


def test_aalen_johansen_variance_where_the_risk_set_empties() -> None:
    # once S = 0 the CIF of T is 1 minus that of death, so its variance is the variance of
    # the death CIF, which lifelines gives (its own variance of F_1 there is NaN: 0 * inf)
    lifelines = pytest.importorskip("lifelines")
    time = np.array([10.0, 30.0, 60.0, 61.0, 80.0])
    event = np.array([2, 1, 1, 0, 1])
    got = aalen_johansen(time, event)
    fit = lifelines.AalenJohansenFitter(calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(pd.Series(time), pd.Series(event), event_of_interest=2)
    var_death = float(np.asarray(fit.variance_).ravel()[-2])  # at 61, before the risk set empties
    assert var_death == pytest.approx(0.2 * 0.8 / 5)
    assert got["cif"][-1] == pytest.approx(0.8)
    assert got["var"][-1] == pytest.approx(var_death)


def test_proportion_ci_refuses_non_whole_counts() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for count, nobs in ((2.5, 10), (0.3, 0.5), (3, 10.5), (np.inf, np.inf)):
        with pytest.raises(ParameterError, match="whole numbers"):
            proportion_ci(count, nobs)
    with pytest.raises(ParameterError, match=r"got 1\.5 at position 1"):
        proportion_ci(np.array([1.0, 1.5]), 10)
    assert proportion_ci(3.0, 10.0) == pytest.approx(proportion_confint(3, 10, method="wilson"))
