"""time_to_threshold: Kaplan-Meier against statsmodels' SurvfuncRight and by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.duration.survfunc import SurvfuncRight

from recurct.stats import time_to_threshold

D0 = dt.date(2015, 1, 1)


def _table(followup: list[int], days_to: list[int | None], facility: list[str] | None = None):
    n = len(followup)
    first = [D0 + dt.timedelta(days=7 * i) for i in range(n)]
    data = {
        "patient_id": list(range(n)),
        "first_exam": first,
        "last_exam": [f + dt.timedelta(days=fu) for f, fu in zip(first, followup)],
        "reached_100": [d is not None for d in days_to],
        "days_to_100": pl.Series(days_to, dtype=pl.Int64),
    }
    if facility is not None:
        data["facility"] = facility
    return pl.DataFrame(data)


def _random_table(n: int = 60, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    fu = (rng.integers(0, 2200, n) // 90 * 90).tolist()  # coarse: many ties
    days = []
    for f in fu:
        if rng.random() < 0.45:
            days.append(int(rng.integers(0, f + 1)) // 90 * 90)  # events tie with censorings
        else:
            days.append(None)
    return _table(fu, days, facility=rng.choice(["A", "B"], n).tolist())


def _reference(p: pl.DataFrame) -> SurvfuncRight:
    reached = p["reached_100"].to_numpy()
    fu = (p["last_exam"] - p["first_exam"]).dt.total_days().to_numpy()
    time = np.where(reached, p["days_to_100"].fill_null(0).to_numpy(), fu) / 365.25
    return SurvfuncRight(time, reached.astype(float))


def test_curve_matches_survfuncright_with_ties_and_censoring() -> None:
    p = _random_table()
    sf = _reference(p)
    curve = time_to_threshold(p, end="last_exam").curve
    body = curve.filter(pl.col("n_events") > 0)
    assert body.height == len(sf.surv_times)
    np.testing.assert_allclose(body["time_years"].to_numpy(), sf.surv_times)
    np.testing.assert_allclose(body["prob_reached"].to_numpy(), 1 - sf.surv_prob)
    np.testing.assert_allclose(body["n_at_risk"].to_numpy(), sf.n_risk)
    np.testing.assert_allclose(body["n_events"].to_numpy(), sf.n_events)
    se = body["se"].fill_null(np.nan).to_numpy()
    np.testing.assert_allclose(se, sf.surv_prob_se, equal_nan=True)


def test_loglog_and_plain_intervals_from_greenwood() -> None:
    p = _random_table(seed=11)
    sf = _reference(p)
    z = norm.ppf(0.95)
    s, se = sf.surv_prob, sf.surv_prob_se
    ok = (s > 0) & (s < 1)
    sigma = se[ok] / (s[ok] * np.abs(np.log(s[ok])))
    lo_ref = 1 - s[ok] ** np.exp(-z * sigma)
    hi_ref = 1 - s[ok] ** np.exp(z * sigma)
    curve = time_to_threshold(p, end="last_exam", alpha=0.1).curve.filter(pl.col("n_events") > 0)
    np.testing.assert_allclose(curve["prob_reached_lo"].to_numpy()[ok], lo_ref)
    np.testing.assert_allclose(curve["prob_reached_hi"].to_numpy()[ok], hi_ref)
    plain = time_to_threshold(p, end="last_exam", alpha=0.1, ci="plain").curve
    plain = plain.filter(pl.col("n_events") > 0)
    np.testing.assert_allclose(
        plain["prob_reached_lo"].to_numpy()[ok], np.clip(1 - s[ok] - z * se[ok], 0, 1)
    )
    np.testing.assert_allclose(
        plain["prob_reached_hi"].to_numpy()[ok], np.clip(1 - s[ok] + z * se[ok], 0, 1)
    )


def test_small_curve_by_hand() -> None:
    # follow-up (days) and days to 100 mSv for five patients:
    #   A: event at 0 (a single exam over 100 mSv); B: event at 365; C: censored at 365;
    #   D: event at 730; E: censored at 1000
    p = _table([0, 400, 365, 800, 1000], [0, 365, None, 730, None])
    curve = time_to_threshold(p, end="last_exam").curve
    assert curve["time_days"].to_list() == [0, 365, 730]
    assert curve["n_at_risk"].to_list() == [5, 4, 2]  # C censored at 365 is still at risk there
    s1 = 4 / 5
    s2 = s1 * (1 - 1 / 4)
    s3 = s2 * (1 - 1 / 2)
    np.testing.assert_allclose(curve["prob_reached"].to_numpy(), [1 - s1, 1 - s2, 1 - s3])
    # Greenwood at the last time: S^2 * sum d / (n (n - d))
    gw = s3 * math.sqrt(1 / (5 * 4) + 1 / (4 * 3) + 1 / (2 * 1))
    assert curve["se"][-1] == pytest.approx(gw)
    at = time_to_threshold(p, end="last_exam").at([0.5, 1.0, 2.0, 2.7, 3.0])
    np.testing.assert_allclose(at["prob_reached"].to_numpy()[:3], [1 - s1, 1 - s2, 1 - s3])
    # still observed at t (a year is 365.25 days, so B and C at day 365 are gone at 1.0)
    assert at["n_at_risk"].to_list()[:3] == [4, 2, 1]
    assert at["n_events"].to_list()[:3] == [1, 2, 3]
    # 2.7 years = 986 days <= 1000 (E still observed); 3 years = 1096 days: beyond the data
    assert at["prob_reached"][3] == pytest.approx(1 - s3)
    assert at["prob_reached"][4] is None and at["prob_reached_lo"][4] is None


def test_first_row_at_time_zero_without_events() -> None:
    p = _table([100, 200], [None, 150])
    curve = time_to_threshold(p, end="last_exam").curve
    assert curve["time_days"].to_list() == [0, 150]
    assert curve.row(0, named=True)["prob_reached"] == 0.0
    assert curve["n_at_risk"].to_list() == [2, 1]


def test_end_date_mapping_and_event_after_end_is_censored() -> None:
    # patient 0: last exam day 100, study end day 500 -> censored at 500 not 100
    # patient 1: reached at day 400 but facility B's study ended at day 300 -> censored at 300
    p = _table([100, 450, 600], [None, 400, 50], facility=["A", "B", "A"])
    ends = {"A": D0 + dt.timedelta(days=500), "B": D0 + dt.timedelta(days=7 + 300)}
    at = time_to_threshold(p, end=ends).at([0.5, 1.0])
    # event only for patient 2 at day 50: S = 2/3 afterwards
    assert at["prob_reached"].to_list() == pytest.approx([1 / 3, 1 / 3])
    # observed at 0.5 years: patients 0 (to day 500) and 1 (to day 300); at 1 year: patient 0
    assert at["n_at_risk"].to_list() == [2, 1]
    # a single study end date for all, and an end column
    one = time_to_threshold(p, end=D0 + dt.timedelta(days=2000)).at([1.0])
    assert one["n_at_risk"][0] == 2  # patient 1 now reached T at day 400 > 365
    col = time_to_threshold(p.with_columns(stop=pl.col("last_exam")), end="stop").curve
    assert col.equals(time_to_threshold(p, end="last_exam").curve)


def test_by_strata_and_pandas() -> None:
    p = _random_table()
    out = time_to_threshold(p.to_pandas(), by="facility").at([1, 2, 4.5])
    assert isinstance(out, pd.DataFrame)
    first, second = p["facility"].unique(maintain_order=True).to_list()  # order of appearance
    assert out["facility"].tolist() == ["all"] * 3 + [first] * 3 + [second] * 3
    sub = p.filter(pl.col("facility") == "A")
    ref = time_to_threshold(sub).at([1, 2, 4.5])
    got = out[out["facility"] == "A"]["prob_reached"].to_numpy()
    np.testing.assert_allclose(got, ref["prob_reached"].to_numpy())


def test_errors() -> None:
    p = _random_table()
    with pytest.raises(ValueError, match="empty"):
        time_to_threshold(p.clear())
    with pytest.raises(ValueError, match="> 0"):
        time_to_threshold(p, threshold=-1)
    with pytest.raises(ValueError, match="days_to_250"):
        time_to_threshold(p, threshold=250)
    with pytest.raises(ValueError, match="lacks facilities"):
        time_to_threshold(p, end={"A": dt.date(2030, 1, 1)})
    with pytest.raises(ValueError, match="end before their first exam"):
        time_to_threshold(p, end=dt.date(2000, 1, 1))
    with pytest.raises(ValueError, match="ci must be one of"):
        time_to_threshold(p, ci="arcsine")
    with pytest.raises(ValueError, match="years must be a finite number"):
        time_to_threshold(p).at([-1])


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.booleans()), min_size=1, max_size=40
    )
)
def test_property_matches_survfuncright(rows: list[tuple[int, int, bool]]) -> None:
    # (follow-up in days, days to T, reached?) on a coarse grid: many ties
    followup = [f for f, _, _ in rows]
    days_to = [min(dd, f) if r else None for f, dd, r in rows]
    p = _table(followup, days_to)
    curve = time_to_threshold(p, end="last_exam").curve.filter(pl.col("n_events") > 0)
    reached = np.array([r for _, _, r in rows])
    if not reached.any():
        assert curve.height == 0
        return
    sf = _reference(p)
    np.testing.assert_allclose(curve["prob_reached"].to_numpy(), 1 - sf.surv_prob, atol=1e-12)
    np.testing.assert_allclose(curve["n_at_risk"].to_numpy(), sf.n_risk)
    se = curve["se"].fill_null(np.nan).to_numpy()
    np.testing.assert_allclose(se, sf.surv_prob_se, equal_nan=True, atol=1e-12)
    lo, hi = curve["prob_reached_lo"].to_numpy(), curve["prob_reached_hi"].to_numpy()
    prob = curve["prob_reached"].to_numpy()
    ok = ~np.isnan(lo)
    assert np.all(lo[ok] <= prob[ok] + 1e-12) and np.all(prob[ok] <= hi[ok] + 1e-12)


def test_default_end_is_the_end_of_the_data_per_facility() -> None:
    # Censoring at each patient's own last exam would drop single-exam patients from the risk
    # set at time 0 and inflate the probability; the default observes every patient until the
    # latest exam of his facility.
    # last exams: patient 0 (A) day 100, patient 1 (B) day 7 + 450, patient 2 (A) day 14 + 600
    p = _table([100, 450, 600], [None, 400, 50], facility=["A", "B", "A"])
    got = time_to_threshold(p).at([0.5, 1.0, 1.2])
    # patient 0 observed to day 614 (A's data end), patient 1 to day 450 (B's), event of
    # patient 2 at day 50, of patient 1 at day 400: S = 2/3 after day 50, 2/3 * 1/2 after 400
    assert got["prob_reached"].to_list() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert got["n_at_risk"].to_list() == [2, 2, 1]
    ends = {"A": D0 + dt.timedelta(days=614), "B": D0 + dt.timedelta(days=457)}
    assert got.equals(time_to_threshold(p, end=ends).at([0.5, 1.0, 1.2]))
    # without a facility column: one data end (day 614) for all
    nofac = p.drop("facility")
    want = time_to_threshold(nofac, end=D0 + dt.timedelta(days=614)).at([1.0, 1.2])
    assert time_to_threshold(nofac).at([1.0, 1.2]).equals(want)


def test_observation_end_is_public_and_shared_with_exam_rate() -> None:
    from recurct.stats import observation_end
    from recurct.stats.regression import exam_rate

    # last exams: patient 0 (A) day 100, patient 1 (B) day 457, patient 2 (A) day 614
    p = _table([100, 450, 600], [None, 400, 50], facility=["A", "B", "A"])
    a, b = D0 + dt.timedelta(days=614), D0 + dt.timedelta(days=457)
    got = observation_end(p)
    assert got.dtype == pl.Date and got.to_list() == [a, b, a]
    on_pandas = observation_end(p.to_pandas())
    assert isinstance(on_pandas, pd.Series)  # pandas in, pandas out
    assert on_pandas.dt.date.to_list() == [a, b, a]
    assert observation_end(p.drop("facility")).to_list() == [a, a, a]
    day = dt.date(2020, 1, 1)
    assert observation_end(p, dt.datetime(2020, 1, 1, 12)).to_list() == [day] * 3
    assert observation_end(p, "last_exam").to_list() == p["last_exam"].to_list()
    assert observation_end(p, {"A": day, "B": b}).to_list() == [day, b, day]
    with pytest.raises(ValueError, match="lacks facilities"):
        observation_end(p, {"A": day})
    with pytest.raises(TypeError, match="end must be"):
        observation_end(p, 3)
    # exam_rate's person-time runs from the first exam to that same end (+1 day)
    p = p.with_columns(n_exams=pl.Series([1, 4, 3]))
    person_days = sum((e - f).days + 1 for e, f in zip(got, p["first_exam"]))
    assert exam_rate(p, "n_repeat ~ 1").table["rate_ratio"][0] == pytest.approx(5 / person_days)


def test_no_patient_observed_gives_null_estimates_not_an_error() -> None:
    """Every patient prevalent at a delayed entry: nobody is at risk, so nothing is estimated
    (the read-off raised numpy's "zero-size array" ValueError; the curve said 0%)."""
    import datetime as dt

    import polars as pl

    from recurct.stats import cumulative_incidence, time_to_threshold

    df = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "first_exam": [dt.date(2020, 1, 1)] * 2,
            "reached_100": [True, True],
            "days_to_100": [0, 2],
            "last_exam": [dt.date(2020, 1, 3)] * 2,
            "entry": [dt.date(2020, 1, 5)] * 2,
        }
    )
    for fit in (time_to_threshold, cumulative_incidence):
        got = fit(df, 100, end="2021-01-01", entry="entry")
        at = got.at([0, 1])
        assert at["n_at_risk"].to_list() == [0, 0]
        assert at["prob_reached"].null_count() == 2 and at["prob_reached_hi"].null_count() == 2
        assert got.curve.height == 1 and got.curve["prob_reached"].null_count() == 1
