"""Tests of recurct.stats.standardise (direct age standardisation, ESP 2013)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from recurct.errors import StandardisationWarning
from recurct.stats import standardise
from recurct.stats._standardise import load_standard

TWO = pl.DataFrame({"age_lo": [0, 50], "age_hi": [49, None], "weight": [1.0, 3.0]})


def _patients(ages: list[float], high: list[bool], **extra: list) -> pl.DataFrame:
    return pl.DataFrame({"age_first_exam": ages, "reached_100": high, **extra})


def test_esp2013_weights_from_eurostat() -> None:
    # Eurostat 2013 (KS-RA-13-028-EN-N): 19 groups, 0-4 5000 ... 90+ 1000, sum 100,000
    esp = load_standard("esp2013")
    assert esp.height == 19
    assert esp.get_column("weight").sum() == 100_000
    assert esp.row(0) == (0.0, 4.0, 5000.0)
    assert esp.row(9) == (45.0, 49.0, 7000.0)
    assert esp.row(18) == (90.0, np.inf, 1000.0)


def test_two_groups_hand_computed_normal() -> None:
    # group <50: 2 of 10; group 50+: 1 of 20; weights 1/4, 3/4
    p = _patients([30.0] * 10 + [70.0] * 20, [True] * 2 + [False] * 8 + [True] + [False] * 19)
    row = standardise(p, standard=TWO, ci="normal").row(0, named=True)
    asr = 0.25 * 0.2 + 0.75 * 0.05
    se = np.sqrt(0.25**2 * 0.2 * 0.8 / 10 + 0.75**2 * 0.05 * 0.95 / 20)
    assert row["std_share"] == pytest.approx(asr)
    assert row["crude_share"] == pytest.approx(3 / 30)
    assert row["std_share_lo"] == max(0.0, asr - 1.959963984540054 * se) == 0.0  # clipped
    assert row["std_share_hi"] == pytest.approx(asr + 1.959963984540054 * se)


def test_gamma_ci_fay_feuer_chi2_form() -> None:
    p = _patients([30.0] * 10 + [70.0] * 20, [True] * 2 + [False] * 8 + [True] + [False] * 19)
    row = standardise(p, standard=TWO).row(0, named=True)
    w = np.array([0.25, 0.75])
    x = np.array([2, 1])
    n = np.array([10, 20])
    y = np.sum(w * x / n)
    v = np.sum((w / n) ** 2 * x)
    wm = np.max(w / n)
    lo = v / (2 * y) * stats.chi2.ppf(0.025, 2 * y**2 / v)
    hi = (v + wm**2) / (2 * (y + wm)) * stats.chi2.ppf(0.975, 2 * (y + wm) ** 2 / (v + wm**2))
    assert (row["std_share_lo"], row["std_share_hi"]) == pytest.approx((lo, hi))


def test_single_group_gamma_is_garwood() -> None:
    one = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})
    p = _patients([40.0] * 50, [True] * 3 + [False] * 47)
    row = standardise(p, standard=one, alpha=0.1).row(0, named=True)
    assert row["std_share"] == pytest.approx(3 / 50)
    assert row["std_share_lo"] == pytest.approx(stats.chi2.ppf(0.05, 6) / 100)
    assert row["std_share_hi"] == pytest.approx(stats.chi2.ppf(0.95, 8) / 100)
    zero = standardise(_patients([40.0] * 5, [False] * 5), standard=one).row(0, named=True)
    assert zero["std_share_lo"] == 0 and zero["std_share_hi"] == pytest.approx(
        stats.chi2.ppf(0.975, 2) / 10
    )


def test_age_boundaries_completed_years() -> None:
    # 4.9 -> 0-4, 5.0 -> 5-9, 95 -> 90+: with ESP weights and one patient per group
    p = _patients([4.9, 5.0, 95.0], [True, False, False])
    with pytest.warns(StandardisationWarning, match="16 age"):
        row = standardise(p, ci="normal").row(0, named=True)
    assert row["n_groups"] == 3
    assert row["weight_covered"] == pytest.approx((5000 + 5500 + 1000) / 100_000)
    assert row["std_share"] == pytest.approx(5000 / (5000 + 5500 + 1000))


def test_strata_all_row_and_dropped_ages() -> None:
    p = _patients(
        [10.0, 60.0, 20.0, 70.0, None],
        [True, False, False, True, True],
        facility=["a", "a", "b", "b", "b"],
    ).to_pandas()
    with pytest.warns(StandardisationWarning, match="dropped 1 patient"):
        out = standardise(p, by="facility", standard=TWO)
    assert isinstance(out, pd.DataFrame)
    # the "all" row first, as in magnitude()
    assert out["facility"].tolist() == ["all", "a", "b"]
    assert out["std_share"].tolist() == pytest.approx([0.5, 0.25, 0.75])
    assert out["n_patients"].tolist() == [4, 2, 2]


def test_renormalised_stratum_is_flagged_by_weight_covered() -> None:
    # stratum "b" has no patient aged 50+: its weights are renormalised over 0-49 only, which
    # the result must show (weight_covered < 1) next to the fully covered strata
    p = _patients(
        [10.0, 60.0, 20.0, 30.0], [True, False, False, True], facility=["a", "a", "b", "b"]
    )
    with pytest.warns(StandardisationWarning, match="'b'.*1 age group"):
        out = standardise(p, by="facility", standard=TWO)
    got = dict(zip(out["facility"], out["weight_covered"]))
    w = TWO["weight"].to_numpy() / TWO["weight"].sum()
    assert got == pytest.approx({"all": 1.0, "a": 1.0, "b": float(w[0])})
    assert out.filter(pl.col("facility") == "b")["n_groups_empty"].item() == 1
    # b's share is standardised to the 0-49 group alone: its crude share there
    assert out.filter(pl.col("facility") == "b")["std_share"].item() == pytest.approx(0.5)


def test_uses_ced_when_flag_absent_and_validates() -> None:
    p = pl.DataFrame({"age_first_exam": [30.0, 70.0], "ced_msv": [120.0, 10.0]})
    assert standardise(p, standard=TWO).item(0, "n_reached") == 1
    with pytest.raises(ValueError, match="overlap"):
        standardise(
            p, standard=pl.DataFrame({"age_lo": [0, 40], "age_hi": [49, 80], "weight": [1, 1]})
        )
    with pytest.raises(ValueError, match="age column"):
        standardise(p, age_column="age")


def test_package_export_survives_submodule_import() -> None:
    import importlib

    import recurct.stats

    module = importlib.import_module("recurct.stats._standardise")

    p = pl.DataFrame({"age_first_exam": [30.0, 70.0], "reached_100": [True, False]})
    out = recurct.stats.standardise(p, standard=TWO)  # still the function
    assert out.equals(module.standardise(p, standard=TWO))


def test_strata_keep_the_order_of_the_by_columns_type() -> None:
    # an Enum band keeps its order (not alphabetical: "10-100" < "2-10" as text), as magnitude
    from recurct.stats import magnitude
    from recurct.stats._common import band_expr

    p = pl.DataFrame(
        {"age_first_exam": [30.0, 70.0, 40.0, 60.0], "ced_msv": [120.0, 10.0, 3.0, 50.0]}
    ).with_columns(band_expr("ced_msv", (0, 2, 10, 100, float("inf"))).alias("ced_band"))
    one = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})
    got = standardise(p, 100, "ced_band", standard=one)["ced_band"].to_list()
    assert got == ["all", "2-10", "10-100", "100+"]
    assert got == magnitude(p.with_columns(n_exams=1), 100, "ced_band")["ced_band"].to_list()


def test_threshold_comes_before_by() -> None:
    p = pl.DataFrame({"age_first_exam": [30.0, 70.0], "ced_msv": [120.0, 60.0], "f": ["a", "b"]})
    one = pl.DataFrame({"age_lo": [0], "age_hi": [None], "weight": [1.0]})
    assert standardise(p, 50, "f", standard=one)["n_reached"].to_list() == [2, 1, 1]
    with pytest.raises(TypeError, match="threshold must be one number"):
        standardise(p, "f", 50, standard=one)  # the 0.1 order (by, threshold) is refused
