"""cumulative_dose / running_dose / period_dose against the plain-Python loops of naive.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from naive import naive_patients, naive_periods, naive_running

from recurct import kernels
from recurct.cumulative import cumulative_dose, period_dose, running_dose

BASE = dt.date(2015, 1, 1)


def assert_rows_equal(got: list[dict], want: list[dict], rel: float = 0.0) -> None:
    """Row-by-row comparison; floats to ``rel`` (0: exactly), everything else exactly."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert set(g) == set(w), set(g) ^ set(w)
        for k, wv in w.items():
            gv = g[k]
            if isinstance(wv, float) and gv is not None:
                assert math.isclose(gv, wv, rel_tol=rel, abs_tol=rel), (k, g, w)
            else:
                assert gv == wv, (k, gv, wv, g)


@st.composite
def cohorts(draw, max_rows: int = 40, dyadic: bool = True) -> pl.DataFrame:
    """Random exam tables: duplicate times, single-exam patients, zero doses, ..."""
    n = draw(st.integers(1, max_rows))
    id_kind = draw(st.sampled_from(["small_int", "sparse_int", "negative_int", "str"]))
    n_ids = draw(st.integers(1, 8))
    pool = {
        "small_int": list(range(0, 2 * n_ids, 2)),
        "sparse_int": [10**12 + 7919 * i for i in range(n_ids)],
        "negative_int": [-5 + 3 * i for i in range(n_ids)],
        "str": [f"p{(i * 37) % 101:03d}" for i in range(n_ids)],
    }[id_kind]
    ids = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    # few distinct days so that ties and gaps of exactly W days (365, 1826) occur
    day_pool = draw(
        st.lists(st.sampled_from([0, 1, 2, 30, 364, 365, 366, 1825, 1826, 1827, 2000, 3652]),
                 min_size=1, max_size=6)
    )  # fmt: skip
    days = draw(st.lists(st.sampled_from(day_pool), min_size=n, max_size=n))
    if dyadic:  # exact binary fractions: every sum is exact, so ties are exact too
        doses = draw(
            st.lists(st.sampled_from([0.0, 0.25, 1.5, 12.0, 37.75, 50.0, 62.5, 100.0, 150.0]),
                     min_size=n, max_size=n)
        )  # fmt: skip
    else:  # 0, or >= 1e-6 mSv: the range where the engine's compensated sums are provably
        # math.fsum's (n * CED <= 2^53 * the smallest nonzero dose, kernels._neumaier_add);
        # 2.3e-55 beside 119.2 is outside it (test_summation_s20.py covers that case)
        doses = draw(
            st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 120)), min_size=n, max_size=n)
        )
    use_datetime = draw(st.booleans())
    if use_datetime:
        secs = draw(st.lists(st.sampled_from([0, 1, 3600, 86399]), min_size=n, max_size=n))
        dates = [
            dt.datetime.combine(BASE + dt.timedelta(days=d), dt.time()) + dt.timedelta(seconds=s)
            for d, s in zip(days, secs)
        ]
    else:
        dates = [BASE + dt.timedelta(days=d) for d in days]
    return pl.DataFrame(
        {"patient_id": ids, "exam_date": dates, "effective_dose_msv": doses},
        schema_overrides={"patient_id": pl.Utf8 if id_kind == "str" else pl.Int64},
    )


#: log2 of the exams per part of the grouping (kernels._PART_EXAMS_LOG2): 0 and 1 split a
#: small input into many parts of one or a few patients, 13 (the default) keeps it whole
PART_LOG2 = st.sampled_from([0, 1, 13])


@contextlib.contextmanager
def parts_of(log2: int) -> Iterator[None]:
    before = kernels._PART_EXAMS_LOG2
    kernels._PART_EXAMS_LOG2 = log2
    try:
        yield
    finally:
        kernels._PART_EXAMS_LOG2 = before


THRESHOLDS = st.sampled_from([(100.0,), (50.0, 100.0, 250.0), (0.25,), (62.5, 12.0), ()])
WINDOWS = st.sampled_from([(), (1,), (365,), (1826, 30), (365, 366, 1826)])


@given(cohorts(), THRESHOLDS, WINDOWS, PART_LOG2)
def test_patients_match_naive(exams, thresholds, windows, part_log2):
    with parts_of(part_log2):
        got = cumulative_dose(exams, thresholds=thresholds, window_days=list(windows))
    want = naive_patients(exams, thresholds, windows)
    assert list(got.columns) == list(want[0])
    assert_rows_equal(got.to_dicts(), want)
    assert got.schema["n_exams"] == pl.Int64
    assert got.schema["first_exam"] == pl.Date


@given(cohorts(dyadic=False), WINDOWS, PART_LOG2)
def test_patients_match_naive_continuous_doses(exams, windows, part_log2):
    with parts_of(part_log2):
        got = cumulative_dose(exams, thresholds=(100.0, 150.0), window_days=list(windows))
    want = naive_patients(exams, (100.0, 150.0), windows)
    # crossings, window maxima and window starts are exact: every sum is the forward sum in
    # time order, as in the naive loops
    assert_rows_equal(got.to_dicts(), want)


@given(
    cohorts(dyadic=False).flatmap(
        lambda ex: st.lists(
            st.sampled_from([0.0, 0.1, 0.2, 0.3, 1.1, 2.9, 4.0, 0.7, 3.3]),
            min_size=ex.height, max_size=ex.height,
        ).map(lambda d: ex.with_columns(pl.Series("effective_dose_msv", d)))
    ),
    WINDOWS,
)  # fmt: skip
def test_window_start_ties_decided_exactly(exams, windows):
    # doses that round: a running window sum (1.1 + 4 - 1.1) differs from the exact sum of
    # the same window (4), so ties between windows must be decided by exact sums
    got = cumulative_dose(exams, thresholds=(4.0, 5.1), window_days=list(windows))
    assert_rows_equal(got.to_dicts(), naive_patients(exams, (4.0, 5.1), windows))


def test_window_start_rounding_example():
    # windows {1.1, 4} (sum 5.1), then {4} alone (4) and {4} again later; running sums give
    # 1.1 + 4 - 1.1 = 4.000000000000001 > 4 for the second window only by rounding
    ex = _exams([1] * 4, [0, 10, 20, 40], [1.1, 4.0, 0.0, 4.0])
    got = cumulative_dose(ex, thresholds=(), window_days=[11, 1]).row(0, named=True)
    want = naive_patients(ex, (), (11, 1))[0]
    assert got["max_ced_11"] == want["max_ced_11"] == 1.1 + 4.0
    assert got["window_start_1"] == want["window_start_1"] == BASE + dt.timedelta(days=10)


@given(cohorts())
def test_sorted_input_gives_the_same_table(exams):
    got = cumulative_dose(exams, window_days=365)
    resorted = exams.with_row_index("_r").sort("patient_id", "exam_date", "_r").drop("_r")
    assert got.equals(cumulative_dose(resorted, window_days=365))


@given(cohorts(max_rows=20))
def test_pandas_in_pandas_out(exams):
    got = cumulative_dose(exams.to_pandas(), thresholds=(100.0,), window_days=365)
    assert isinstance(got, pd.DataFrame)
    want = cumulative_dose(exams, thresholds=(100.0,), window_days=365)
    # counts stay integers with <NA> for "never reached" (pandas' nullable Int64)
    assert str(got["days_to_100"].dtype) == "Int64"
    assert str(got["n_exams"].dtype) == "Int64"
    pd.testing.assert_frame_equal(got, want.to_pandas(), check_dtype=False)


@given(cohorts(), PART_LOG2)
def test_running_dose_matches_naive(exams, part_log2):
    with parts_of(part_log2):
        got = running_dose(exams)
    want = naive_running(exams)
    assert list(got.columns) == [*exams.columns, "exam_index", "running_ced_msv"]
    assert_rows_equal(got.to_dicts(), want)


@given(cohorts(), st.sampled_from([1, 3, 12, 60]))
def test_period_dose_matches_naive(exams, months):
    label = {1: "1mo", 3: "1q", 12: "1y", 60: "5y"}[months]
    wins = [
        (dt.date(2015, 1, 1), dt.date(2015, 12, 31)),
        (dt.date(2016, 1, 1), dt.date(2025, 1, 1)),
    ]
    got = period_dose(exams, periods=wins, every=label)
    want = naive_periods(exams, wins, months)
    assert_rows_equal(got.to_dicts(), want, rel=1e-12)


@given(cohorts())
def test_totals_only_path_matches(exams):
    got = cumulative_dose(exams, thresholds=())
    want = naive_patients(exams, (), ())
    assert_rows_equal(got.to_dicts(), want, rel=1e-12)


@given(cohorts(max_rows=60), st.booleans())
def test_string_kernels_at_every_size_match_naive(exams, keys):
    # the byte-key sort and id screen of recurct._strings run from MIN_ROWS strings on; here
    # on every size, for the totals-only path (rows permuted by rank) and the full one; ids
    # coded by their byte keys (string_keys), or hashed as ids too long for keys are
    import recurct.cumulative as cm
    from recurct import _strings

    exams = exams.with_columns(pl.col("patient_id").cast(pl.Utf8))
    old = _strings.MIN_ROWS, cm.string_keys, cm._BYTE_ROWS, cm.sorted_prefix_codes
    _strings.MIN_ROWS = 0
    if not keys:  # grouped by a sort of their first bytes' keys (sizes 1 mod 4), by
        # recurct's byte hashes (3 mod 4; the former refused) or polars' hash (even sizes)
        cm.string_keys = lambda s: None
        cm._BYTE_ROWS = 0 if len(exams) % 2 else 10**9
        if len(exams) % 4 == 3:
            cm.sorted_prefix_codes = lambda s: None
    try:
        totals = cumulative_dose(exams, thresholds=())
        full = cumulative_dose(exams, thresholds=(50, 100), window_days=(365,))
    finally:
        _strings.MIN_ROWS, cm.string_keys, cm._BYTE_ROWS, cm.sorted_prefix_codes = old
    assert_rows_equal(totals.to_dicts(), naive_patients(exams, (), ()), rel=1e-12)
    assert_rows_equal(full.to_dicts(), naive_patients(exams, (50, 100), (365,)), rel=1e-12)


@given(cohorts())
def test_key_too_wide_falls_back_to_row_keys(exams):
    # when (code, time, index) does not fit 63 bits the engine groups by (code, row) keys and
    # sorts each patient's exams by time: the same patients table
    import recurct.kernels as k

    want = naive_patients(exams, (50, 100), (365,))
    old = k._scatter_parts
    k._scatter_parts = lambda *a, **kw: None
    try:
        got = cumulative_dose(exams, thresholds=(50, 100), window_days=(365,))
    finally:
        k._scatter_parts = old
    assert_rows_equal(got.to_dicts(), want, rel=1e-12)


# --------------------------------------------------------------------- explicit edge cases


def _exams(ids, days, doses, **extra) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [BASE + dt.timedelta(days=d) for d in days],
            "effective_dose_msv": [float(x) for x in doses],
            **extra,
        }
    )


def test_hand_computed_example():
    ex = _exams([1, 1, 1, 2], [0, 100, 400, 5], [60, 30, 20, 5])
    got = cumulative_dose(ex, thresholds=(100, 90), window_days=365).to_dicts()
    p1, p2 = got
    assert p1["ced_msv"] == 110 and p1["n_exams"] == 3 and p1["followup_days"] == 400
    assert p1["days_to_100"] == 400 and p1["exams_to_100"] == 3
    assert p1["days_to_90"] == 100 and p1["date_reached_90"] == BASE + dt.timedelta(days=100)
    assert p1["max_ced_365"] == 90 and p1["window_start_365"] == BASE
    assert p1["reached_100_in_365"] is False and p1["reached_90_in_365"] is True
    assert p2["reached_100"] is False and p2["days_to_100"] is None
    assert p2["date_reached_100"] is None


def test_first_exam_reaches_threshold_and_window_boundary():
    # exams exactly W days apart are NOT in one window (day_j - day_i < W)
    ex = _exams(["a", "a", "b"], [0, 365, 0], [60, 60, 100])
    got = cumulative_dose(ex, thresholds=100.0, window_days=[365, 366]).to_dicts()
    assert got[0]["max_ced_365"] == 60 and got[0]["max_ced_366"] == 120
    assert got[1]["days_to_100"] == 0 and got[1]["exams_to_100"] == 1


def test_same_day_ties_keep_input_order():
    ex = _exams([1, 1, 1], [0, 0, 0], [40, 70, 10])
    got = cumulative_dose(ex, thresholds=(100.0, 50.0)).row(0, named=True)
    assert got["exams_to_100"] == 2 and got["exams_to_50"] == 2
    run = running_dose(ex)
    assert run["running_ced_msv"].to_list() == [40, 110, 120]


def test_datetime_orders_within_day_but_days_are_calendar_days():
    dates = [
        dt.datetime(2020, 1, 1, 23, 0),
        dt.datetime(2020, 1, 1, 8, 0),
        dt.datetime(2020, 1, 2, 1),
    ]
    ex = pl.DataFrame({"patient_id": [1, 1, 1], "exam_date": dates,
                       "effective_dose_msv": [50.0, 60.0, 1.0]})  # fmt: skip
    got = cumulative_dose(ex, thresholds=(100.0,), window_days=1).row(0, named=True)
    assert got["exams_to_100"] == 2 and got["days_to_100"] == 0
    assert got["followup_days"] == 1 and got["max_ced_1"] == 110
    assert running_dose(ex)["effective_dose_msv"].to_list() == [60, 50, 1]


def test_zero_doses_and_optional_columns():
    ex = _exams(
        [5, 5, 5, 9], [10, 0, 5, 3], [0, 0, 120, 0],
        age_years=[40.0, 39.5, 39.8, 7.0], sex=[None, None, "F", "M"],
        facility=["x", "y", "y", None], indication=["a", "b", "c", "c"],
    )  # fmt: skip
    got = cumulative_dose(ex)
    assert_rows_equal(got.to_dicts(), naive_patients(ex))
    row = got.row(0, named=True)
    assert row["age_first_exam"] == 39.5 and row["age_reached_100"] == 39.8
    assert row["sex"] == "F" and row["facility"] == "y" and row["indication"] == "b"
    assert got.row(1, named=True)["facility"] is None


@st.composite
def cohorts_with_attributes(draw) -> pl.DataFrame:
    """Random cohorts with sex, facility, indication (strings, Categorical, Enum or integer
    codes, nulls included) and age columns."""
    ex = draw(cohorts(max_rows=30))
    n = ex.height
    pool = ["a", "b", "c", "dd", None]
    cols = {}
    for col in ("sex", "facility", "indication"):
        vals = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        kind = draw(st.sampled_from(["str", "cat", "enum", "int"]))
        s = pl.Series(col, vals, dtype=pl.Utf8)
        if kind == "cat":
            s = s.cast(pl.Categorical)
        elif kind == "enum":
            s = s.cast(pl.Enum(["dd", "c", "b", "a", "zz"]))
        elif kind == "int":
            s = s.replace_strict({"a": 10, "b": -3, "c": 7, "dd": 10**12}, return_dtype=pl.Int64)
        cols[col] = s
    ages = draw(st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=n, max_size=n))
    return ex.with_columns(**cols, age_years=pl.Series(ages, dtype=pl.Float64))


@given(cohorts_with_attributes(), st.sampled_from(["most_frequent", "first"]), PART_LOG2)
def test_attributes_match_naive(exams, indication, part_log2):
    with parts_of(part_log2):
        got = cumulative_dose(exams, thresholds=(50.0, 100.0), indication=indication)
    got = got.to_dicts()
    want = naive_patients(exams.with_columns(pl.col("sex", "facility", "indication")
                                             .cast(pl.Utf8)), (50.0, 100.0),
                          indication=indication)  # fmt: skip
    assert_rows_equal(got, want)


@pytest.mark.parametrize("ordered", [True, False])
def test_attributes_of_patients_with_hundreds_of_exams(ordered):
    # a test patient of 3,000 exams with free-text indications and a few of 300-700 (their
    # most frequent values from a table of counts, not the short segments' search), among
    # patients of few exams; rows in random order, or already grouped (no time order needed)
    rng = np.random.default_rng(7)
    sizes = [3000, 700, 300, *rng.integers(1, 5, 200).tolist()]
    ids = np.repeat(np.arange(len(sizes)), sizes)
    n = ids.size
    ex = _exams(ids.tolist(), rng.integers(0, 4000, n).tolist(), rng.random(n).tolist(),
                indication=[None if r < 0.2 else f"text {r:.2f}" for r in rng.random(n)],
                facility=rng.choice(["a", "b", "c", None], n).tolist(),
                sex=rng.choice(["F", "M", None], n).tolist())  # fmt: skip
    if ordered:
        ex = ex.sort("patient_id", "exam_date")
    else:
        ex = ex.sample(fraction=1.0, shuffle=True, seed=1)
    for rule in ("most_frequent", "first"):
        got = cumulative_dose(ex, thresholds=(50.0,), indication=rule)
        assert_rows_equal(got.to_dicts(), naive_patients(ex, (50.0,), indication=rule))


@pytest.mark.parametrize("part_log2", [8, 13])
def test_many_exams_of_one_patient_on_one_day(part_log2):
    # one id for 2,000 exams at random times of few days (an anonymised export) among patients
    # of few exams: with parts of 2^8 exams, its part far over that size keys finer buckets
    # of time than a day (the timestamps' order within a bucket: an insertion sort,
    # quadratic per bucket); with 2^13, day buckets. Naive tables: the same.
    rng = np.random.default_rng(11)
    n_big, n_small = 2_000, 1_000
    ids = np.r_[np.zeros(n_big, np.int64), rng.integers(1, 500, n_small)]
    days = np.r_[rng.integers(0, 3, n_big), rng.integers(0, 4000, n_small)]
    ms = days * 86_400_000 + rng.integers(0, 86_400_000, ids.size)
    stamps = pl.Series("exam_date", ms).cast(pl.Datetime("ms"))
    ex = pl.DataFrame({"patient_id": ids, "exam_date": stamps,
                       "effective_dose_msv": rng.random(ids.size).round(2)})  # fmt: skip
    with parts_of(part_log2):
        got = cumulative_dose(ex, thresholds=(50.0, 100.0, 500.0), window_days=1)
        run = running_dose(ex)
    want = naive_patients(ex, (50.0, 100.0, 500.0), window_days=(1,))
    assert_rows_equal(got.to_dicts(), want)
    assert_rows_equal(run.to_dicts(), naive_running(ex))


def test_indication_first_or_most_frequent():
    ex = _exams([1] * 4 + [2], [3, 0, 1, 2, 0], [1, 1, 1, 1, 1],
                indication=["trauma", None, "oncology", "trauma", None])  # fmt: skip
    assert cumulative_dose(ex)["indication"].to_list() == ["trauma", None]
    first = cumulative_dose(ex, indication="first")
    assert first["indication"].to_list() == ["oncology", None]
    with pytest.raises(ValueError, match="indication"):
        cumulative_dose(ex, indication="last")
    with pytest.raises(ValueError, match="in memory"):
        cumulative_dose(ex.lazy(), indication="first")


def test_timezone_aware_dates_use_local_calendar_days():
    dates = [dt.datetime(2020, 1, 1, 23), dt.datetime(2020, 1, 2, 1)]
    ex = pl.DataFrame({"patient_id": [1, 1], "effective_dose_msv": [1.0, 2.0], "exam_date": dates})
    ex = ex.with_columns(pl.col("exam_date").dt.replace_time_zone("Europe/Paris"))
    got = cumulative_dose(ex).row(0, named=True)
    assert got["first_exam"] == dt.date(2020, 1, 1) and got["followup_days"] == 1


def test_period_dose_columns():
    ex = _exams([1, 1, 2], [0, 400, 10], [10, 20, 30])
    per = period_dose(ex, every="1y")
    assert per.columns == ["patient_id", "period_start", "period_end", "n_exams", "ced_msv"]
    assert per["period_start"].to_list() == [dt.date(2015, 1, 1), dt.date(2016, 1, 1), BASE]


def test_empty_and_large_segment():
    rng = np.random.default_rng(1)
    n = 500  # one patient with more exams than the insertion-sort limit
    ex = _exams([1] * n, rng.integers(0, 4000, n).tolist(), rng.integers(0, 8, n).tolist())
    assert_rows_equal(
        cumulative_dose(ex, thresholds=(100, 1000), window_days=(365, 30)).to_dicts(),
        naive_patients(ex, (100, 1000), (365, 30)),
    )
    assert cumulative_dose(ex.head(0)).height == 0
    assert running_dose(ex.head(0)).height == 0


def test_pyarrow_and_lazy_input():
    ex = _exams([1, 2], [0, 1], [1, 2])
    want = cumulative_dose(ex)
    assert cumulative_dose(ex.to_arrow()).equals(want)
    assert cumulative_dose(ex.lazy()).equals(want)


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"effective_dose_msv": [1.0, -1.0, 2.0]}, r"effective_dose_msv.*row 1"),
        ({"effective_dose_msv": [1.0, 2.0, float("nan")]}, r"effective_dose_msv.*row 2"),
        ({"effective_dose_msv": [float("inf"), 1.0, 2.0]}, r"effective_dose_msv.*row 0"),
        ({"effective_dose_msv": [1.0, None, 2.0]}, r"effective_dose_msv.*null.*row 1"),
        ({"patient_id": [1, None, 2]}, r"patient_id.*null.*row 1"),
        ({"exam_date": [BASE, BASE, None]}, r"exam_date.*null.*row 2"),
    ],
)
def test_bad_values_name_rows_and_column(change, match):
    ex = _exams([1, 1, 2], [0, 1, 2], [1, 2, 3]).with_columns(
        **{k: pl.Series(v) for k, v in change.items()}
    )
    with pytest.raises(ValueError, match=match):
        cumulative_dose(ex)


def test_bad_arguments():
    ex = _exams([1], [0], [1])
    with pytest.raises(ValueError, match="missing required"):
        cumulative_dose(ex.drop("effective_dose_msv"))
    with pytest.raises(ValueError, match="thresholds"):
        cumulative_dose(ex, thresholds=(0.0,))
    with pytest.raises(ValueError, match="thresholds"):
        cumulative_dose(ex, thresholds=(-5.0,))
    with pytest.raises(ValueError, match="window_days"):
        cumulative_dose(ex, window_days=0)
    with pytest.raises(ValueError, match="window_days"):
        cumulative_dose(ex, window_days=[30.5])
    with pytest.raises(ValueError, match="every"):
        period_dose(ex, every="2w")
    with pytest.raises(ValueError, match="periods"):
        period_dose(ex)
    with pytest.raises(TypeError, match="exam_date"):
        cumulative_dose(ex.with_columns(pl.col("exam_date").cast(pl.Utf8)))
    with pytest.raises(TypeError, match="patient_id"):  # whole-number floats are integer ids
        cumulative_dose(ex.with_columns(pl.col("patient_id").cast(pl.Float64) + 0.5))
    with pytest.raises(TypeError, match="polars, pandas or pyarrow"):
        cumulative_dose({"patient_id": [1]})


def test_string_ids_fall_back_to_rank_on_hash_collision(monkeypatch):
    import recurct.cumulative as cm

    ex = _exams(["b", "a", "c", "a", "b10", "b"], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6])
    want = cumulative_dose(ex)
    assert want["patient_id"].to_list() == ["a", "b", "b10", "c"]
    # ids too long for byte keys, all in one hash class: verification fails and the ids are
    # ranked instead
    monkeypatch.setattr(cm, "string_keys", lambda s: None)
    monkeypatch.setattr(
        cm._k, "small_codes",
        lambda h, bits: (np.zeros(h.size, np.int32), np.zeros(1, np.int64), None),
    )  # fmt: skip
    assert cumulative_dose(ex).equals(want)


@pytest.mark.parametrize("kind", ["cat", "enum_sorted", "enum_unsorted"])
def test_categorical_and_enum_ids(kind):
    ex = _exams(["b", "a", "c", "a", "b10", "b"], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6])
    cats = ["a", "b", "b10", "c", "zz"] if kind == "enum_sorted" else ["c", "zz", "b", "a", "b10"]
    dtype = pl.Categorical if kind == "cat" else pl.Enum(cats)
    got = cumulative_dose(ex.with_columns(pl.col("patient_id").cast(dtype)), window_days=2)
    assert got.equals(cumulative_dose(ex, window_days=2))
    assert got["patient_id"].to_list() == ["a", "b", "b10", "c"]


def test_attribute_codes_fall_back_to_rank_on_hash_collision(monkeypatch):
    import recurct._codes as codes

    ex = _exams([1, 1, 2, 2, 2], [0, 1, 0, 1, 2], [1, 1, 1, 1, 1],
                facility=["x", "y", "y", None, "z"], sex=["F", "F", None, "M", "M"])  # fmt: skip
    want = cumulative_dose(ex)
    # every value in one hash class: verification fails and the values are ranked instead
    monkeypatch.setattr(
        codes._k, "small_codes",
        lambda h, bits: (np.zeros(h.size, np.int32), np.zeros(1, np.int64), None),
    )  # fmt: skip
    got = cumulative_dose(ex)
    assert got.equals(want)
    assert got["facility"].to_list() == ["x", "y"] and got["sex"].to_list() == ["F", "M"]


def test_enum_ids_ranked_by_arg_sort_when_labels_share_a_hash(monkeypatch):
    import recurct.cumulative as cm

    ex = _exams(["b", "a", "c", "a"], [0, 1, 2, 3], [1, 2, 3, 4])
    want = cumulative_dose(ex)
    monkeypatch.setattr(
        cm._k, "small_codes",
        lambda h, bits: (np.zeros(h.size, np.int32), np.zeros(1, np.int64), None),
    )  # fmt: skip
    enum_ids = ex.with_columns(pl.col("patient_id").cast(pl.Enum(["c", "b", "a"])))
    assert cumulative_dose(enum_ids).equals(want)


@pytest.mark.parametrize("kind", ["str", "enum", "cat"])
def test_enum_ids_cleaned_like_strings(kind):
    """Whitespace around an id and placeholder ids are handled the same for every id dtype
    (an Enum's categories are read without its dtype: recurct._frames.enum_categories)."""
    from recurct._frames import IdentifierWarning

    ex = _exams([" a", "b", "a ", "b"], [0, 1, 2, 3], [1, 2, 3, 4])
    col = pl.col("patient_id")
    cast = {"str": col, "enum": col.cast(pl.Enum(["zz", "b", " a", "a "])),
            "cat": col.cast(pl.Categorical)}[kind]  # fmt: skip
    with pytest.warns(IdentifierWarning, match="2 id"):
        got = cumulative_dose(ex.with_columns(cast), window_days=2)
    assert got["patient_id"].to_list() == ["a", "b"]
    assert got["n_exams"].to_list() == [2, 2]
    unknown = _exams(["UNKNOWN", "b", "a", "b"], [0, 1, 2, 3], [1, 2, 3, 4])
    if kind != "str":
        dtype = pl.Enum(["b", "UNKNOWN", "a"]) if kind == "enum" else pl.Categorical
        unknown = unknown.with_columns(col.cast(dtype))
    with pytest.raises(ValueError, match="'patient_id' is null in row 0 "):
        cumulative_dose(unknown)


def test_enum_categories_without_the_dtype():
    from recurct._frames import enum_categories, is_enum

    s = pl.Series("patient_id", ["c", None, "a"], dtype=pl.Enum(["c", "x", "a"]))
    assert is_enum(s) and not is_enum(s.cast(pl.Utf8)) and not is_enum(s.cast(pl.Categorical))
    assert enum_categories(s).to_list() == ["c", "x", "a"]
    assert enum_categories(s).dtype == pl.Utf8
    assert enum_categories(s.head(0).cast(pl.Enum([]))).len() == 0


@pytest.mark.parametrize(
    "ids",
    [
        [10**12, 7, 10**12, -(10**9), 7],  # sparse: coded by a sort of packed (id, row) keys
        [0, 2**61, 17, 2**61, 0],  # id and row fit 63 bits only in buckets by the high bits
        [-(2**62), 2**62, 5, 2**62, -(2**62)],  # span over 2^62: ranked by polars
    ],
)
def test_sparse_integer_ids_match_naive(ids):
    exams = pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [BASE + dt.timedelta(days=d) for d in (3, 1, 2, 0, 1)],
            "effective_dose_msv": [60.0, 1.0, 50.0, 2.0, 3.0],
        }
    )
    got = cumulative_dose(exams, thresholds=(100.0,), window_days=365)
    assert_rows_equal(got.to_dicts(), naive_patients(exams, (100.0,), (365,)))
    assert got["patient_id"].to_list() == sorted(set(ids))


@pytest.mark.parametrize("split", [False, True])
def test_pseudonyms_sharing_their_first_bytes_match_naive(monkeypatch, split):
    # ids grouped by a sort of their first bytes' keys (recurct._codes.sorted_prefix_codes):
    # ids that share a key with others (the same first 40 hex digits, or a prefix of another
    # id) are split off and placed among them; the patients table as plain Python gives it
    import recurct._codes as codes_mod
    import recurct.cumulative as cm

    rng = np.random.default_rng(3)
    pool = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(300)]
    if split:
        pool += [pool[i][:40] + tail for i in (3, 8) for tail in ("0" * 24, "f" * 24)]
        pool += [pool[5][:30], pool[6] + "é", "0", "a"]
    n = 1500
    exams = pl.DataFrame(
        {
            "patient_id": [pool[i] for i in rng.integers(0, len(pool), n)],
            "exam_date": [BASE + dt.timedelta(days=int(d)) for d in rng.integers(0, 3000, n)],
            "effective_dose_msv": rng.integers(0, 64, n) / 4.0,
        }
    )
    ranked = []
    real = codes_mod._tie_rank
    monkeypatch.setattr(codes_mod, "_tie_rank", lambda *a: ranked.append(1) or real(*a))
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    for kw in ({"thresholds": ()}, {"thresholds": (50, 100), "window_days": (365,)}):
        got = cumulative_dose(exams, **kw).to_dicts()
        want = naive_patients(exams, kw["thresholds"], kw.get("window_days", ()))
        assert_rows_equal(got, want, rel=1e-12)
    assert bool(ranked) == split  # ties were split and ranked only where ids share a key
