"""incidence_rate and poisson_ci against plain loops, scipy's chi2 and statsmodels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import confint_poisson

import recurct
from recurct.stats.incidence import incidence_rate, poisson_ci


def random_exams(seed: int, n_patients: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(n_patients):
        fac = f"site{pid % 4}"
        start = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))
        for day in np.sort(rng.integers(0, 1500, 1 + rng.poisson(3))):
            rows.append(
                {
                    "patient_id": pid,
                    "exam_date": start + dt.timedelta(days=int(day)),
                    "effective_dose_msv": float(rng.gamma(1.5, 12)),
                    "facility": fac,
                }
            )
    return pl.DataFrame(rows)


def naive_rates(patients: pl.DataFrame, t: float, entry, end, horizons):
    """One loop over patients: events, person-days, horizon counts per facility and all."""
    lab = f"{t:g}"
    out: dict = {}
    for r in patients.iter_rows(named=True):
        e = r["first_exam"] if entry is None else max(r["first_exam"], entry)
        stop = end
        ev_day = r[f"date_reached_{lab}"]
        delayed = e > r["first_exam"]
        prevalent = ev_day is not None and (ev_day < e or (delayed and ev_day == e))
        is_ev = ev_day is not None and e <= ev_day <= stop
        days = ((ev_day if is_ev else stop) - e).days
        for key in ("all", r["facility"]):
            acc = out.setdefault(key, {"n": 0, "prev": 0, "d": 0, "days": 0, "h": {}})
            if prevalent:
                acc["prev"] += 1
                continue
            acc["n"] += 1
            acc["d"] += int(is_ev)
            acc["days"] += days
            for h in horizons:
                elig = (stop - e).days >= h * 365.25
                hit = elig and is_ev and days <= h * 365.25
                a, b = acc["h"].get(h, (0, 0))
                acc["h"][h] = (a + int(elig), b + int(hit))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("entry", [None, dt.date(2016, 6, 1)])
def test_rates_equal_naive_loop_and_exact_poisson(seed: int, entry) -> None:
    exams = random_exams(seed)
    patients = recurct.cumulative_dose(exams, thresholds=[50])
    end = dt.date(2025, 12, 31)
    got = incidence_rate(
        patients, 50, by="facility", entry=entry, end=end, horizons=(1, 2.5), per=1000
    )
    want = naive_rates(patients, 50, entry, end, (1, 2.5))
    assert got["facility"].to_list() == ["all", "site0", "site1", "site2", "site3"]
    for row in got.iter_rows(named=True):
        w = want[row["facility"]]
        assert row["n_patients"] == w["n"] and row["n_prevalent"] == w["prev"]
        assert row["n_events"] == w["d"]
        assert row["person_years"] == pytest.approx(w["days"] / 365.25, rel=1e-12)
        rate = w["d"] / (w["days"] / 365.25) * 1000
        assert row["rate"] == pytest.approx(rate, rel=1e-12)
        lo, hi = confint_poisson(w["d"], w["days"] / 365.25, method="exact-c")
        assert row["rate_lo"] == pytest.approx(lo * 1000, rel=1e-10)
        assert row["rate_hi"] == pytest.approx(hi * 1000, rel=1e-10)
        for h, lab in ((1, "1"), (2.5, "2.5")):
            n, k = w["h"][h]
            assert row[f"n_eligible_{lab}y"] == n and row[f"n_reached_{lab}y"] == k
            clo, chi = proportion_confint(k, n, method="beta")
            assert row[f"incidence_{lab}y"] == pytest.approx(k / n)
            assert row[f"incidence_{lab}y_lo"] == pytest.approx(clo, abs=1e-12)
            assert row[f"incidence_{lab}y_hi"] == pytest.approx(chi, abs=1e-12)
    if entry is not None:
        assert got["n_prevalent"][0] > 0


def test_poisson_ci_closed_form() -> None:
    d = np.array([0, 1, 5, 40])
    lo, hi = poisson_ci(d, 2.0, alpha=0.1)
    assert lo[0] == 0.0
    assert hi[0] == pytest.approx(-np.log(0.05) / 2.0)  # exact upper bound for d = 0
    np.testing.assert_allclose(lo[1:], stats.chi2.ppf(0.05, 2 * d[1:]) / 4.0, rtol=1e-12)
    np.testing.assert_allclose(hi, stats.chi2.ppf(0.95, 2 * d + 2) / 4.0, rtol=1e-12)
    # the Garwood interval is the Poisson tail inversion: P(X >= d | lo) = alpha/2
    assert stats.poisson.sf(4, 2.0 * lo[2]) == pytest.approx(0.05, rel=1e-8)
    assert stats.poisson.cdf(5, 2.0 * hi[2]) == pytest.approx(0.05, rel=1e-8)
    assert np.isnan(poisson_ci(3, 0.0)[0])


def test_window_events_need_the_trailing_column_and_pandas_roundtrip() -> None:
    patients = recurct.cumulative_dose(random_exams(3, 50), thresholds=[50])
    with pytest.raises(ValueError, match="date_reached_50_in_90"):
        incidence_rate(patients, 50, window_days=90)
    got = incidence_rate(patients.to_pandas(), 50)
    assert isinstance(got, pd.DataFrame) and got["n_patients"].iloc[0] == 50


def test_end_before_entry_is_an_error() -> None:
    patients = recurct.cumulative_dose(random_exams(4, 30), thresholds=[50])
    with pytest.raises(ValueError, match="end before"):
        incidence_rate(patients, 50, end=dt.date(2000, 1, 1))


def test_window_events_count_the_first_trailing_crossing() -> None:
    exams = random_exams(6, 200)
    patients = recurct.cumulative_dose(exams, thresholds=[50], window_days=[90])
    trailing = recurct.trailing_dose(exams, thresholds=[50], window_days=[90]).patients
    joined = patients.join(trailing.select("patient_id", "date_reached_50_in_90"), on="patient_id")
    end = dt.date(2025, 12, 31)
    got = incidence_rate(joined, 50, window_days=90, end=end).row(0, named=True)
    # reached 50 mSv within some 90 days <=> max_ced_90 >= 50 (the patients table's kernel)
    assert got["n_events"] == int(patients["reached_50_in_90"].sum())
    days = [
        ((d if d is not None else end) - f).days
        for d, f in zip(joined["date_reached_50_in_90"], joined["first_exam"])
    ]
    assert got["person_years"] == pytest.approx(sum(days) / 365.25, rel=1e-12)


def naive_window_events(exams: pl.DataFrame, t: float, w: int) -> dict:
    """Per patient, the first exam day whose exams of the last ``w`` days sum to >= t."""
    out = {}
    for (pid,), g in exams.sort("patient_id", "exam_date").group_by("patient_id"):
        days, doses = g["exam_date"].to_list(), g["effective_dose_msv"].to_list()
        for d in days:
            window = [x for e, x in zip(days, doses) if d - dt.timedelta(days=w) < e <= d]
            if sum(window) >= t:
                out[pid] = d
                break
    return out


def test_window_events_from_exams_without_a_hand_join() -> None:
    exams = random_exams(8, 120)
    patients = recurct.cumulative_dose(exams, thresholds=[50], window_days=[90])
    end = dt.date(2025, 12, 31)
    got = incidence_rate(patients, 50, window_days=90, end=end, by="facility", exams=exams)
    hit = naive_window_events(exams, 50.0, 90)
    first = dict(zip(patients["patient_id"], patients["first_exam"]))
    site = dict(zip(patients["patient_id"], patients["facility"]))
    for row in got.iter_rows(named=True):
        ids = [p for p in first if row["facility"] in ("all", site[p])]
        days = sum(((hit.get(p) or end) - first[p]).days for p in ids)
        assert row["n_events"] == sum(p in hit for p in ids)
        assert row["person_years"] == pytest.approx(days / 365.25, rel=1e-12)
    # pandas in, pandas out; and exams that miss patients are an error, not a silent null
    assert isinstance(
        incidence_rate(patients.to_pandas(), 50, window_days=90, end=end, exams=exams.to_pandas()),
        pd.DataFrame,
    )
    with pytest.raises(ValueError, match="no exams in exams="):
        some = exams.filter(pl.col("patient_id") > 5)
        incidence_rate(patients, 50, window_days=90, end=end, exams=some)
