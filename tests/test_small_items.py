"""Half-open band labels, dose share by region, single-exam probability, population
denominators: against pandas group-bys and statsmodels intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

import recurct
from recurct.stats import age_band, dose_bands, dose_share, magnitude, single_exam_share
from recurct.stats._common import band_labels

EXAMS = recurct.synthetic.generate("small", seed=5)
PATIENTS = recurct.cumulative_dose(EXAMS, thresholds=[50, 100])


def test_band_label_styles() -> None:
    edges = (0, 18, 51, 75, float("inf"))
    assert band_labels(edges) == ["0-18", "18-51", "51-75", "75+"]
    assert band_labels(edges, "interval") == ["[0, 18)", "[18, 51)", "[51, 75)", "75+"]
    assert band_labels(edges, "integer") == ["0-17", "18-50", "51-74", "75+"]
    assert band_labels((0, 1, 2), "integer") == ["0", "1"]
    with pytest.raises(ValueError, match="whole-number"):
        band_labels((0, 2.5, 5), "integer")
    with pytest.raises(ValueError, match="style"):
        band_labels(edges, "roman")
    p = pl.DataFrame({"age_first_exam": [50.99, 51.0, 74.99, 75.0]})
    got = age_band(p, edges, labels="integer")["age_band"].cast(pl.Utf8).to_list()
    assert got == ["18-50", "51-74", "51-74", "75+"]
    bands = dose_bands(PATIENTS, edges=(0, 50, 100, float("inf")), labels="interval")
    assert bands["band"].to_list() == ["[0, 50)", "[50, 100)", "100+"]


def test_dose_share_equals_pandas_groupby() -> None:
    got = dose_share(EXAMS, "body_region", by="facility")
    pdf = EXAMS.to_pandas()
    for fac, part in [("all", pdf), *pdf.groupby("facility")]:
        want = part.groupby("body_region")["effective_dose_msv"].agg(["sum", "size"])
        mine = got.filter(pl.col("facility") == fac)
        assert mine["dose_share"].sum() == pytest.approx(1.0)
        assert mine["dose_msv"].is_sorted(descending=True)
        for row in mine.iter_rows(named=True):
            w = want.loc[row["body_region"]]
            assert row["dose_msv"] == pytest.approx(w["sum"], rel=1e-12)
            assert row["n_exams"] == w["size"]
            assert row["dose_share"] == pytest.approx(w["sum"] / want["sum"].sum(), rel=1e-12)
            assert row["exam_share"] == pytest.approx(w["size"] / len(part))


def test_single_exam_share_counts_and_exact_ci() -> None:
    t = 20.0
    got = single_exam_share(EXAMS.to_pandas(), t, by="sex")
    assert isinstance(got, pd.DataFrame)
    pdf = EXAMS.to_pandas()
    for _, row in got.iterrows():
        part = pdf if row["sex"] == "all" else pdf[pdf["sex"] == row["sex"]]
        k = int((part["effective_dose_msv"] >= t).sum())
        kp = int(part.groupby("patient_id")["effective_dose_msv"].max().ge(t).sum())
        assert row["n_exams_ge"] == k and row["n_exams"] == len(part)
        assert row["n_patients_ge"] == kp
        lo, hi = proportion_confint(k, len(part), method="beta")
        assert row["share_exams_lo"] == pytest.approx(lo, abs=1e-12)
        assert row["share_exams_hi"] == pytest.approx(hi, abs=1e-12)


def test_population_denominator_int_and_table() -> None:
    pop_n = 3 * PATIENTS.height
    m = magnitude(PATIENTS, 50, by="sex", population=pop_n)
    allrow = m.row(0, named=True)
    assert allrow["n_population"] == pop_n
    assert allrow["share_population"] == pytest.approx(allrow["n_reached"] / pop_n)
    lo, hi = proportion_confint(allrow["n_reached"], pop_n, method="wilson")
    assert allrow["share_population_lo"] == pytest.approx(lo)
    assert allrow["share_population_hi"] == pytest.approx(hi)
    assert m["n_population"][1:].null_count() == m.height - 1
    # a table of people: the patients plus people without CT
    rng = np.random.default_rng(0)
    extra = pl.DataFrame(
        {
            "patient_id": np.arange(10**7, 10**7 + 2000),
            "sex": rng.choice(["F", "M"], 2000),
        }
    )
    people = pl.concat([PATIENTS.select("patient_id", "sex"), extra])
    m2 = magnitude(PATIENTS, 50, by="sex", population=people)
    for row in m2.iter_rows(named=True):
        n = (
            people.height
            if row["sex"] == "all"
            else people.filter(pl.col("sex") == row["sex"]).height
        )
        assert row["n_population"] == n
        assert row["share_population"] == pytest.approx(row["n_reached"] / n)
    b = dose_bands(PATIENTS, edges=(0, 50, float("inf")), by="sex", population=people)
    assert (b["n_population"] >= b["n_total"]).all()
    with pytest.raises(ValueError, match="not in the population"):
        magnitude(PATIENTS, 50, population=extra)
    with pytest.raises(ValueError, match="smaller than"):
        magnitude(PATIENTS, 50, population=10)


def test_arguments_of_the_wrong_kind_get_a_clear_error() -> None:
    from recurct.stats import exams_per_patient, incidence_rate

    ex = recurct.synthetic.generate("rehani2020", n_patients=200, seed=1)
    for periods in (True, 3, "2019"):
        with pytest.raises(ValueError, match="periods must be a list of"):
            recurct.period_dose(ex, periods=periods)  # type: ignore[arg-type]
    pt = recurct.cumulative_dose(ex, thresholds=100)
    # a plural argument takes one value too (CONTRIBUTING.md, glossary)
    one = incidence_rate(pt, 100, horizons=1)
    assert one.equals(incidence_rate(pt, 100, horizons=[1]))
    for horizons in (True, "1", float("nan")):
        with pytest.raises(ValueError, match="horizons must be"):
            incidence_rate(pt, 100, horizons=horizons)  # type: ignore[arg-type]
    assert exams_per_patient(pt, at_least=3).at_least["at_least"].to_list() == [3]
    with pytest.raises(ValueError, match="whole numbers of exams"):
        exams_per_patient(pt, at_least=2.5)
    with pytest.raises(ValueError, match="at_least must be a number"):
        exams_per_patient(pt, at_least=True)


def test_a_column_name_that_is_not_text_is_refused_clearly() -> None:
    ex = recurct.synthetic.generate("rehani2020", n_patients=100, seed=1)
    pt = recurct.cumulative_dose(ex, thresholds=100)
    for bad in (True, 3, None, ""):
        with pytest.raises(ValueError, match="a column name must be non-empty text"):
            age_band(pt, name=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="a column name must be non-empty text"):
            dose_bands(pt, column=bad)  # type: ignore[arg-type]
    assert "age_band" in age_band(age_band(pt)).columns  # a second call replaces it


def test_fallback_and_required_of_the_wrong_kind_are_refused_clearly() -> None:
    ex = recurct.synthetic.generate("rehani2020", n_patients=50, seed=1)
    with pytest.raises(ValueError, match="fallback must map a region"):
        recurct.effective_dose(ex.drop("effective_dose_msv"), fallback=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="required must be non-empty text"):
        recurct.validate(ex, required=True)  # type: ignore[arg-type]
    assert recurct.validate(ex, required="patient_id").height == ex.height  # one name
