"""Tests of recurct.survey: the EuroSafe Imaging survey (Frija et al. 2021) and survey_table."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from recurct.survey import EUROSAFE2021_SURVEY, eurosafe2021, survey_table


def _q(table: pl.DataFrame, question: str) -> dict[str, dict]:
    rows = table.filter(pl.col("question") == question).iter_rows(named=True)
    return {r["answer"]: r for r in rows}


def test_frija2021_q4_dose_management_table() -> None:
    # Frija et al. 2021, Eur Radiol 31:5514: 70 answered; yes 75.7%, no 20%, other 4.3%
    q4 = _q(survey_table(eurosafe2021()), "Q4")
    assert {a: r["count"] for a, r in q4.items()} == {"yes": 53, "no": 14, "other": 3}
    assert {r["n_answered"] for r in q4.values()} == {70}
    assert [q4[a]["percent"] for a in ("yes", "no", "other")] == [75.7, 20.0, 4.3]
    lo, hi = proportion_confint(53, 70, method="wilson")
    assert (q4["yes"]["share_lo"], q4["yes"]["share_hi"]) == pytest.approx((lo, hi))


def test_frija2021_q5_totals_and_institutions() -> None:
    t = survey_table(eurosafe2021())
    q5 = _q(t, "Q5 patients")
    assert q5["CED >= 100 mSv"]["count"] == 6_082
    assert q5["CED >= 100 mSv"]["n_answered"] == 1_218_429
    assert round(100 * q5["CED >= 100 mSv"]["share"], 3) == 0.499  # pooled 0.499%
    country = _q(t, "Q5 country")
    assert {a: r["count"] for a, r in country.items()} == {
        "France": 2,
        "Germany": 1,
        "Italy": 5,
        "Spain": 3,
        "UK": 1,
        "Turkey": 3,
        "Austria": 1,
        "not stated": 2,
    }
    assert _q(t, "Q5 academic")["academic"]["count"] == 12
    dm = _q(t, "Q5 dose management")
    assert [dm[a]["count"] for a in ("yes", "other", "not stated")] == [15, 2, 1]
    for q in ("Q5 country", "Q5 academic", "Q5 dose management"):
        assert {r["n_answered"] for r in _q(t, q).values()} == {18}
    assert EUROSAFE2021_SURVEY["q5_n_institutions"] == 18
    assert EUROSAFE2021_SURVEY["q5_n_high"] == q5["CED >= 100 mSv"]["count"]


def test_survey_table_pandas_and_methods() -> None:
    answers = pd.DataFrame(
        {"question": ["a", "a", "b", "b", "b"], "answer": list("xyxyz"), "count": [1, 3, 0, 0, 5]}
    )
    out = survey_table(answers, ci="clopper-pearson", alpha=0.1, digits=0)
    assert isinstance(out, pd.DataFrame)
    assert out["n_answered"].tolist() == [4, 4, 5, 5, 5]
    assert out["share"].tolist() == pytest.approx([0.25, 0.75, 0.0, 0.0, 1.0])
    assert out["percent"].tolist() == [25.0, 75.0, 0.0, 0.0, 100.0]
    lo, hi = proportion_confint(1, 4, alpha=0.1, method="beta")
    assert (out.share_lo[0], out.share_hi[0]) == pytest.approx((lo, hi))


def test_all_zero_question_and_validation() -> None:
    answers = pl.DataFrame({"question": ["a", "a"], "answer": ["x", "y"], "count": [0, 0]})
    out = survey_table(answers)
    assert out.get_column("share").null_count() == 2
    with pytest.raises(ValueError, match="once"):
        survey_table(answers.with_columns(answer=pl.lit("x")))
    with pytest.raises(ValueError, match=">= 0"):
        survey_table(answers.with_columns(count=pl.Series([-1, 2])))
    with pytest.raises(ValueError, match="lack column"):
        survey_table(answers.drop("count"))
