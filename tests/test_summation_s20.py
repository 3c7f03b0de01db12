"""One summation rule for every dose sum: a patient's CED and every threshold verdict do not
depend on the input row order, nor on the path taken.

Added one by one, 0.1, 0.3 and 99.6 (100 exactly as written) make 100.0 in some orders and
99.99999999999999 in others, and ten 0.1 make 0.9999999999999999. Every dose sum of recurct
(CED, running CED, window maxima, totals only, periods, lagged and trailing sums) is the
compensated sum of :func:`recurct.kernels._neumaier_add`, in practice the correctly rounded
sum of the given float64 values: ``math.fsum``, whatever the order. Expected values here are
``math.fsum`` of the doses or worked out by hand, never by recurct.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recurct
from recurct import Cohort, cumulative_dose, kernels, lagged_dose, period_dose, running_dose
from recurct.alerts import trailing_dose
from recurct.outofcore import cumulative_dose_chunked
from recurct.stats import dose_share, magnitude

D0 = dt.date(2021, 6, 1)
THRESHOLDS = (1, 100)
WINDOWS = (1, 30)


def _flip_triples() -> list[tuple[float, float, float]]:
    """One-decimal doses a <= b <= c with a + b + c = 100 as written whose float64 sum, added
    in turn, is >= 100 in some order and < 100 in another (7,960 of them)."""
    out = []
    for a10 in range(1, 334):
        b10 = np.arange(a10, 1000 - a10)
        c10 = 1000 - a10 - b10
        keep = c10 >= b10
        a, b, c = a10 / 10, b10[keep] / 10, c10[keep] / 10
        sums = np.stack([(a + b) + c, (a + c) + b, (b + c) + a])
        flip = (sums.min(0) < 100.0) & (sums.max(0) >= 100.0)
        out += [(a, float(x), float(y)) for x, y in zip(b[flip], c[flip])]
    return out


TRIPLES = _flip_triples()


def test_the_premise():
    assert len(TRIPLES) == 7960
    assert (0.1, 0.3, 99.6) in TRIPLES
    assert (0.1 + 99.6) + 0.3 < 100.0 <= (0.1 + 0.3) + 99.6
    s = 0.0
    for _ in range(10):
        s += 0.1
    assert s == 0.9999999999999999 and math.fsum([0.1] * 10) == 1.0


def test_segment_sums_are_fsum_in_every_order():
    """The kernel rule on all 6 orders of the 7,960 triples: fsum each time, the same in
    every order (100.0 for all but 36, whose float64 values as given add up exactly to a
    number nearer another double, e.g. 0.1 + 32.3 + 67.6: below 100 in every order)."""
    perms = list(itertools.permutations(range(3)))
    trip = np.array(TRIPLES)
    values = np.concatenate([trip[:, list(p)] for p in perms]).ravel()
    starts = np.arange(0, values.size + 1, 3, dtype=np.int64)
    got = kernels.segment_sums(starts, values).reshape(len(perms), len(TRIPLES))
    want = np.array([math.fsum(t) for t in TRIPLES])
    assert (got == want).all()
    assert (want == 100.0).sum() == 7960 - 36
    # and in general: random doses of a long history, shuffled
    rng = np.random.default_rng(5)
    d = np.round(rng.gamma(0.7, 9.0, 5000), 1)
    want = math.fsum(d)
    for _ in range(5):
        rng.shuffle(d)
        assert kernels.segment_sums(np.array([0, d.size], np.int64), d)[0] == want


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 1e4), min_size=1, max_size=60),
    st.integers(0, 2**32 - 1),
)
def test_compensated_sums_are_fsum_within_the_documented_range(doses, seed):
    """Over doses >= 0 with n * S <= 2^53 * m (m the smallest nonzero dose), the rule gives
    math.fsum's sum in every order (kernels._neumaier_add); outside it, within an ulp."""
    d = np.array(doses)
    want = math.fsum(doses)
    nonzero = d[d > 0]
    exact = nonzero.size == 0 or d.size * want <= 2.0**53 * nonzero.min()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        got = kernels.segment_sums(np.array([0, d.size], np.int64), d)[0]
        if exact:
            assert got == want
        else:
            assert abs(got - want) <= math.ulp(want)
        rng.shuffle(d)


def test_outside_the_range_within_an_ulp():
    """2.3e-55 beside 119.2: the compensation itself rounds, the sum stays within an ulp."""
    d = np.array([17.0, 119.86290322580645, 119.17218812451843, 2.3147e-55])
    for p in itertools.permutations(range(4)):
        got = kernels.segment_sums(np.array([0, 4], np.int64), d[list(p)])[0]
        assert abs(got - math.fsum(d)) <= math.ulp(math.fsum(d))


def _one_patient(doses, days=None) -> pl.DataFrame:
    days = [0] * len(doses) if days is None else days
    return pl.DataFrame(
        {
            "patient_id": [1] * len(doses),
            "exam_date": [D0 + dt.timedelta(days=k) for k in days],
            "effective_dose_msv": list(doses),
        }
    )


@pytest.mark.parametrize("order", list(itertools.permutations((0.1, 0.3, 99.6))))
def test_three_same_day_exams_reach_100_in_every_order(order):
    ex = _one_patient(order)
    p = cumulative_dose(ex, thresholds=100, window_days=1)
    assert p["ced_msv"].item() == 100.0
    assert p["reached_100"].item() is True
    assert p["days_to_100"].item() == 0 and p["date_reached_100"].item() == D0
    assert p["max_ced_1"].item() == 100.0 and p["reached_100_in_1"].item() is True
    tot = cumulative_dose(ex, thresholds=())
    assert tot["ced_msv"].item() == 100.0
    assert magnitude(tot, 100)["n_reached"].item() == 1  # ``ced_msv >= T``: exact
    assert running_dose(ex)["running_ced_msv"].to_list()[-1] == 100.0
    assert period_dose(ex, every="1y")["ced_msv"].item() == 100.0
    assert trailing_dose(ex, 100, window_days=1).patients["date_reached_100_in_1"].item() == D0


@pytest.mark.parametrize("order", list(itertools.permutations((0.1, 0.3, 99.6))))
def test_three_days_totals_only_in_every_input_order(order):
    """Different days (the time order is fixed), the rows in every order: the totals-only
    sum (input order, no sort) is 100.0 too, as the time-ordered one."""
    by_dose = {0.1: 0, 0.3: 1, 99.6: 2}
    ex = _one_patient(order, [by_dose[x] for x in order])
    tot = cumulative_dose(ex, thresholds=())
    assert tot["ced_msv"].item() == 100.0
    assert magnitude(tot, 100)["n_reached"].item() == 1
    assert cumulative_dose(ex, thresholds=100)["reached_100"].item() is True


def test_ten_tenths_make_one_on_every_path():
    ex = _one_patient([0.1] * 10, [0, 0, 0, 1, 1, 2, 3, 3, 3, 4])
    p = cumulative_dose(ex, thresholds=1, window_days=5)
    assert p["ced_msv"].item() == 1.0
    assert p["reached_1"].item() is True and p["date_reached_1"].item() == D0 + dt.timedelta(4)
    assert p["max_ced_5"].item() == 1.0 and p["reached_1_in_5"].item() is True
    assert cumulative_dose(ex, thresholds=())["ced_msv"].item() == 1.0
    assert running_dose(ex)["running_ced_msv"].to_list()[-1] == 1.0
    assert period_dose(ex, every="1y")["ced_msv"].item() == 1.0
    tr = trailing_dose(ex, 1, window_days=5)
    assert tr.exams["trailing_ced_5"].to_list()[-1] == 1.0
    assert tr.patients["date_reached_1_in_5"].item() == D0 + dt.timedelta(4)
    subj = pl.DataFrame({"patient_id": [1], "entry": [D0], "exit": [D0 + dt.timedelta(30)],
                         "event": [False]})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lag = lagged_dose(ex, subj, lags=0)
    assert lag["ced_lag0"].to_list()[-1] == 1.0


# ------------------------------------------------------------------ random tie-heavy tables
@st.composite
def tied_exams(draw) -> pl.DataFrame:
    """Patients with many exams at the same time, one-decimal doses; some patients' doses
    are crafted to add up to exactly 100 (or 1) as written, on one day or a few."""
    n_pat = draw(st.integers(1, 7))
    rows = []
    for p in range(n_pat):
        kind = draw(st.sampled_from(["hundred", "one", "triple", "random"]))
        if kind == "triple":
            doses = list(draw(st.sampled_from(TRIPLES)))
        elif kind in ("hundred", "one"):
            total = 1000 if kind == "hundred" else 10
            k = draw(st.integers(2, 8))
            cuts = sorted(draw(st.lists(st.integers(0, total), min_size=k - 1, max_size=k - 1)))
            doses = [(b - a) / 10 for a, b in zip([0, *cuts], [*cuts, total])]
        else:
            doses = draw(st.lists(st.integers(0, 999).map(lambda x: x / 10), min_size=1,
                                  max_size=9))  # fmt: skip
        day_pool = draw(st.sampled_from([[0], [0, 1], [0, 0, 40], [0, 2, 31]]))
        for x in doses:
            rows.append((p * 7 - 3, D0 + dt.timedelta(days=draw(st.sampled_from(day_pool))), x))
    df = pl.DataFrame(rows, schema=["patient_id", "exam_date", "effective_dose_msv"], orient="row")
    if draw(st.booleans()):  # timestamps: ties at the same instant
        df = df.with_columns(pl.col("exam_date").cast(pl.Datetime("us")) + pl.duration(hours=9))
    return df.with_columns(pl.Series("exam_id", np.arange(df.height, dtype=np.int64)))


def _fsum_per_patient(df: pl.DataFrame) -> dict[int, float]:
    groups: dict[int, list[float]] = {}
    for pid, x in df.select("patient_id", "effective_dose_msv").iter_rows():
        groups.setdefault(pid, []).append(x)
    return {pid: math.fsum(v) for pid, v in groups.items()}


def _order_free(p: pl.DataFrame) -> pl.DataFrame:
    """The patients-table columns that do not depend on the order of exams at one time
    (``exams_to_T`` counts exams, so it does)."""
    return p.drop([c for c in p.columns if c.startswith("exams_to_")])


def _day_end_running(df: pl.DataFrame) -> pl.DataFrame:
    """Running CED after the last exam of each patient and time (mid-tie values depend on
    which tied exams come first, the value after all of them does not)."""
    run = running_dose(df)
    return (
        run.group_by("patient_id", "exam_date")
        .agg(pl.col("running_ced_msv").max())
        .sort("patient_id", "exam_date")
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tied_exams(), st.integers(0, 2**32 - 1))
def test_shuffled_rows_give_bit_identical_results(df, seed):
    sh = df[np.random.default_rng(seed).permutation(df.height)]
    kw = {"thresholds": THRESHOLDS, "window_days": WINDOWS}
    base = cumulative_dose(df, **kw)
    want = _fsum_per_patient(df)
    assert base["ced_msv"].to_list() == [want[i] for i in base["patient_id"]]
    assert _order_free(cumulative_dose(sh, **kw)).equals(_order_free(base))
    for t in THRESHOLDS:  # reached iff the CED reaches T (the running CED never decreases)
        assert base[f"reached_{t}"].to_list() == [c >= t for c in base["ced_msv"]]
    assert cumulative_dose(sh, thresholds=()).equals(cumulative_dose(df, thresholds=()))
    assert _day_end_running(sh).equals(_day_end_running(df))
    assert period_dose(sh, every="1q").equals(period_dose(df, every="1q"))
    tr0 = trailing_dose(df, THRESHOLDS, window_days=WINDOWS).patients
    tr1 = trailing_dose(sh, THRESHOLDS, window_days=WINDOWS).patients
    dates = [c for c in tr0.columns if c.startswith("date_reached_")]
    assert tr1.select(dates).equals(tr0.select(dates))
    for t in THRESHOLDS:
        for w in WINDOWS:  # the trailing alert and the patients table agree
            assert (
                tr0[f"date_reached_{t}_in_{w}"].is_not_null().to_list()
                == base[f"reached_{t}_in_{w}"].to_list()
            )


def _whole_span(df: pl.DataFrame) -> list[tuple[dt.date, dt.date]]:
    days = df["exam_date"].cast(pl.Date)
    return [(days.min(), days.max())]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tied_exams(), st.integers(0, 2**32 - 1))
def test_every_path_gives_the_same_ced(df, seed):
    """cumulative_dose with and without thresholds, windows or attributes, on sorted,
    unsorted and text ids; running_dose's last value; period_dose over the whole span;
    Cohort; out of core: the same ``ced_msv``, math.fsum of the doses."""
    df = df[np.random.default_rng(seed).permutation(df.height)]
    want = _fsum_per_patient(df)
    ids = sorted(want)

    def ced(table: pl.DataFrame) -> list[float]:
        got = dict(zip(table["patient_id"].to_list(), table["ced_msv"].to_list()))
        assert sorted(got) == ids
        return [got[i] for i in ids]

    expected = [want[i] for i in ids]
    with_attrs = df.with_columns(
        sex=pl.lit("F"), age_years=pl.lit(40.0), facility=pl.col("exam_id").cast(pl.String)
    )
    tables = {
        "default": cumulative_dose(df),
        "totals only": cumulative_dose(df, thresholds=()),
        "windows": cumulative_dose(df, thresholds=THRESHOLDS, window_days=WINDOWS),
        "attributes": cumulative_dose(with_attrs, thresholds=()),
        "sorted": cumulative_dose(df.sort("patient_id", "exam_date"), thresholds=()),
        "sorted ids only": cumulative_dose(df.sort("patient_id"), thresholds=()),
        "prepared": cumulative_dose(recurct.prepare_exams(df), thresholds=()),
        "cohort": Cohort(df).patients(thresholds=()),
        "out of core": cumulative_dose_chunked(df.lazy(), thresholds=(), buckets=2),
        "lazy": cumulative_dose(df.lazy(), thresholds=100),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (text ids: nothing to clean, but be safe)
        text = df.with_columns(pl.format("p{}", pl.col("patient_id")).alias("patient_id"))
        t = cumulative_dose(text, thresholds=())
    assert [float(x) for x in t.sort("patient_id")["ced_msv"]] == [
        want[i] for i in sorted(want, key=lambda i: f"p{i}")
    ]
    for name, table in tables.items():
        assert ced(table) == expected, name
    run = running_dose(df)
    last = run.group_by("patient_id").agg(pl.col("running_ced_msv").last())
    assert ced(last.rename({"running_ced_msv": "ced_msv"})) == expected
    per = period_dose(df, periods=_whole_span(df))
    assert ced(per) == expected


def test_dask_gives_the_same_ced():
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    rd = pytest.importorskip("recurct.distributed")
    rows = [(1, D0, x) for x in (99.6, 0.3, 0.1)] + [(2, D0, 0.1)] * 10
    df = pl.DataFrame(rows, schema=["patient_id", "exam_date", "effective_dose_msv"],
                      orient="row")  # fmt: skip
    for parts in (1, 3):
        with dask.config.set(scheduler="sync"):
            got = rd.cumulative_dose(dd.from_pandas(df.to_pandas(), npartitions=parts),
                                     thresholds=(1, 100)).compute()  # fmt: skip
        got = got.sort_values("patient_id")
        assert got["ced_msv"].tolist() == [100.0, 1.0]
        assert got["reached_100"].tolist() == [True, False]
        assert got["reached_1"].tolist() == [True, True]


@settings(max_examples=30, deadline=None)
@given(tied_exams(), st.integers(0, 2**32 - 1))
def test_period_lagged_and_share_sums_do_not_depend_on_row_order(df, seed):
    sh = df[np.random.default_rng(seed).permutation(df.height)]
    df2 = df.with_columns(organ=pl.col("effective_dose_msv") * 3, region=pl.col("exam_id") % 3)
    sh2 = sh.with_columns(organ=pl.col("effective_dose_msv") * 3, region=pl.col("exam_id") % 3)
    kw = {"every": "1y", "sums": ["organ"]}
    assert period_dose(sh2, **kw).equals(period_dose(df2, **kw))
    share0 = dose_share(df2, "region", by="patient_id").sort("patient_id", "region")
    share1 = dose_share(sh2, "region", by="patient_id").sort("patient_id", "region")
    assert share1.equals(share0)
    subj = pl.DataFrame({"patient_id": df["patient_id"].unique()}).with_columns(
        entry=pl.lit(D0 - dt.timedelta(10)), exit=pl.lit(D0 + dt.timedelta(60)),
        event=pl.lit(False),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lag0 = lagged_dose(df, subj, lags=(0, 0.01))
        lag1 = lagged_dose(sh, subj, lags=(0, 0.01))
    assert lag1.equals(lag0)
    want = _fsum_per_patient(df)
    last = lag0.group_by("patient_id").agg(pl.col("ced_lag0").last())
    assert dict(last.iter_rows()) == want
