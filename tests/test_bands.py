"""dose_bands and exams_per_patient against direct counts."""

from __future__ import annotations

import math

import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from recurct.stats import dose_bands, exams_per_patient


def _patients() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": list(range(10)),
            "n_exams": [1, 1, 2, 3, 5, 5, 8, 10, 12, 1],
            "ced_msv": [0.0, 9.99, 10.0, 24.0, 60.0, 100.0, 249.9, 250.0, 1500.0, 3.0],
            "facility": ["A", "A", "A", "A", "B", "B", "B", "B", "B", "B"],
        }
    )


def test_dose_bands_counts_and_left_closed_edges() -> None:
    out = dose_bands(_patients())
    assert out["band"].to_list() == [
        "0-10",
        "10-25",
        "25-50",
        "50-100",
        "100-250",
        "250-1000",
        "1000+",
    ]
    # by hand: [0,10): 0, 9.99, 3; [10,25): 10, 24; [25,50): none; [50,100): 60;
    # [100,250): 100, 249.9; [250,1000): 250; [1000,inf): 1500
    assert out["n_patients"].to_list() == [3, 2, 0, 1, 2, 1, 1]
    assert out["share"].to_list() == pytest.approx([0.3, 0.2, 0.0, 0.1, 0.2, 0.1, 0.1])
    assert out["cum_share_ge"].to_list() == pytest.approx([1.0, 0.7, 0.5, 0.5, 0.4, 0.2, 0.1])
    assert out["band_hi"][-1] == math.inf
    lo, hi = proportion_confint(3, 10, method="wilson")
    assert (out["share_lo"][0], out["share_hi"][0]) == pytest.approx((lo, hi))


def test_dose_bands_by_stratum_lists_every_band() -> None:
    out = dose_bands(_patients(), edges=(0, 50, 250, math.inf), by="facility")
    assert out.height == 9
    b = out.filter(pl.col("facility") == "B")
    assert b["n_patients"].to_list() == [1, 3, 2]  # 3 | 60, 100, 249.9 | 250, 1500
    a = out.filter(pl.col("facility") == "A")
    assert a["n_patients"].to_list() == [4, 0, 0]
    assert a["n_total"].to_list() == [4, 4, 4]


def test_dose_bands_errors_and_pandas() -> None:
    with pytest.raises(ValueError, match="outside the bands"):
        dose_bands(_patients(), edges=(0, 10, 100))
    with pytest.raises(ValueError, match="strictly increasing"):
        dose_bands(_patients(), edges=(0, 10, 10, math.inf))
    with pytest.raises(ValueError, match="empty"):
        dose_bands(_patients().clear())
    assert isinstance(dose_bands(_patients().to_pandas()), pd.DataFrame)


def test_exams_per_patient() -> None:
    res = exams_per_patient(_patients(), at_least=(2, 5, 10))
    # n_exams: 1,1,2,3,5,5,8,10,12,1 -> >=2: 7, >=5: 5, >=10: 2
    assert res.at_least["n_patients"].to_list() == [7, 5, 2]
    assert res.at_least["share"].to_list() == pytest.approx([0.7, 0.5, 0.2])
    lo, hi = proportion_confint(5, 10, method="beta")
    beta = exams_per_patient(_patients(), at_least=5, ci="beta").at_least
    assert (beta["share_lo"][0], beta["share_hi"][0]) == pytest.approx((lo, hi))
    dist = res.distribution
    assert dist["n_exams"].to_list() == [1, 2, 3, 5, 8, 10, 12]
    assert dist["n_patients"].to_list() == [3, 1, 1, 2, 1, 1, 1]
    assert dist["cum_share_ge"][1] == pytest.approx(0.7)


def test_exams_per_patient_by_and_errors() -> None:
    at_least, dist = exams_per_patient(_patients(), at_least=(2,), by="facility")
    assert at_least["facility"].to_list() == ["all", "A", "B"]
    assert at_least["n_patients"].to_list() == [7, 2, 5]
    assert dist.filter(pl.col("facility") == "A")["n_exams"].to_list() == [1, 2, 3]
    with pytest.raises(ValueError, match=">= 1"):
        exams_per_patient(_patients(), at_least=(0,))
    with pytest.raises(ValueError, match="empty"):
        exams_per_patient(_patients().clear())


def test_bands_take_the_ci_names_of_site_table() -> None:
    # one CI function: "clopper-pearson" (site_table's spelling) is statsmodels' "beta"
    out = dose_bands(_patients(), ci="clopper-pearson")
    ref = [
        proportion_confint(k, n, method="beta") for k, n in zip(out["n_patients"], out["n_total"])
    ]
    assert out["share_lo"].to_list() == pytest.approx([r[0] for r in ref], abs=1e-12)
    assert out["share_hi"].to_list() == pytest.approx([r[1] for r in ref], abs=1e-12)
    ge = exams_per_patient(_patients(), ci="exact").at_least
    k, n = ge["n_patients"][0], ge["n_total"][0]
    assert ge["share_lo"][0] == pytest.approx(proportion_confint(k, n, method="beta")[0])
