"""period_dose(keep=...) and its local calendar day, against a plain loop."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from recurct import cumulative_dose, period_dose


def random_exams(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    base = dt.datetime(2018, 1, 1)
    return pl.DataFrame(
        {
            "patient_id": rng.integers(0, 60, n),
            "exam_date": [base + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 1400, n)],
            "effective_dose_msv": rng.gamma(2.0, 5.0, n),
            "sex": rng.choice(np.array(["F", "M", None], dtype=object), n),
            "age_years": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(20, 80, n)),
        }
    ).with_columns(pl.col("age_years").fill_nan(None))


@pytest.mark.parametrize("seed", [0, 1])
def test_keep_first_non_null_in_time_order(seed: int) -> None:
    exams = random_exams(seed)
    got = period_dose(exams, every="1q", keep=["sex", "age_years"])
    rows = sorted(enumerate(exams.iter_rows(named=True)), key=lambda r: (r[1]["exam_date"], r[0]))
    for rec in got.iter_rows(named=True):
        mine = [
            r
            for _, r in rows
            if r["patient_id"] == rec["patient_id"]
            and rec["period_start"] <= r["exam_date"].date() <= rec["period_end"]
        ]
        assert len(mine) == rec["n_exams"]
        for col in ("sex", "age_years"):
            want = next((r[col] for r in mine if r[col] is not None), None)
            assert rec[col] == want
    plain = period_dose(exams, every="1q")
    assert got.drop("sex", "age_years").equals(plain)


def test_time_zone_aware_exams_use_the_local_day() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": [1, 1],
            "exam_date": [dt.datetime(2019, 12, 31, 22, 0), dt.datetime(2020, 6, 1, 12, 0)],
            "effective_dose_msv": [5.0, 7.0],
        }
    ).with_columns(pl.col("exam_date").dt.replace_time_zone("America/New_York"))
    got = period_dose(ex, every="1y")
    # 22:00 in New York on 31 December is 1 January in UTC: the local day is 2019
    assert got["period_start"].to_list() == [dt.date(2019, 1, 1), dt.date(2020, 1, 1)]
    patients = cumulative_dose(ex)
    assert patients["first_exam"][0] == dt.date(2019, 12, 31)


def test_keep_errors() -> None:
    exams = random_exams(2)
    with pytest.raises(ValueError, match="not in the exam table"):
        period_dose(exams, every="1y", keep=["facility"])
    with pytest.raises(ValueError, match="patient attributes"):
        period_dose(exams, every="1y", keep=["exam_date"])


def test_sums_of_other_exam_columns() -> None:
    exams = random_exams(3).with_columns(
        (pl.col("effective_dose_msv") * 0.05).alias("risk"),
        pl.lit(2, dtype=pl.Int64).alias("organ_mgy"),
    )
    got = period_dose(exams, every="1y", sums=["risk", "organ_mgy"], keep=["sex"])
    np.testing.assert_allclose(got["risk"], got["ced_msv"] * 0.05, rtol=1e-12)
    assert got["organ_mgy"].to_list() == [2.0 * n for n in got["n_exams"]]
    with pytest.raises(ValueError, match="not a further exam column"):
        period_dose(exams, every="1y", sums=["effective_dose_msv"])
    with pytest.raises(ValueError, match="null"):
        period_dose(exams, every="1y", sums=["age_years"])
