"""recurct.prepare_exams and the id dtypes it relies on (Enum, Categorical, pandas Categorical).

Every result on a prepared table, or on ids held as an ``Enum``/``Categorical``, must equal
the result on the same exams with plain text ids: the engine's results on text ids are
checked against the slow references of ``tests/naive.py`` in ``tests/test_cumulative.py``.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal as _pl_equal

import recurct
from recurct.errors import IdentifierWarning

_NAMES = ["A", "B", "C", "D", "E10", "E2", "e1", "Z", "ä", "P0001"]
_SPACED = [" A", "B ", "\tC", "A", "E10 "]  # cleaned to ids already listed


def _exams(ids: list, days: list[int], doses: list[float], extra: bool = False) -> pl.DataFrame:
    df = pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [dt.date(2001, 1, 1) + dt.timedelta(days=d) for d in days],
            "effective_dose_msv": doses,
        }
    )
    if extra:
        df = df.with_columns(
            pl.Series("sex", (["F", "M", None] * df.height)[: df.height]),
            pl.Series("age_years", np.linspace(1, 80, df.height)),
        )
    return df


@st.composite
def exam_tables(draw, text: bool = True) -> pl.DataFrame:
    n = draw(st.integers(1, 40))
    pool = _NAMES + _SPACED if text else list(range(-3, 12))
    ids = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))  # many same-day ties
    doses = draw(st.lists(st.floats(0, 80, allow_nan=False), min_size=n, max_size=n))
    return _exams(ids, days, doses, extra=draw(st.booleans()))


def assert_frame_equal(got: pl.DataFrame, want: pl.DataFrame, rel_tol: float) -> None:
    _pl_equal(got, want, check_exact=False, rel_tol=rel_tol, abs_tol=0.0)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierWarning)
        return fn(*args, **kw)


def _same_results(original, prepared) -> None:
    """cumulative_dose (totals, all columns), running_dose and period_dose agree (totals-only
    and period sums are taken in input order, which prepare_exams changes: equal up to
    rounding; every other result in time order: identical)."""
    want = _quiet(recurct.cumulative_dose, original, thresholds=())
    assert_frame_equal(recurct.cumulative_dose(prepared, thresholds=()), want, rel_tol=1e-12)
    kw = {"thresholds": [20, 50], "window_days": [7, 30]}
    assert recurct.cumulative_dose(prepared, **kw).equals(
        _quiet(recurct.cumulative_dose, original, **kw)
    )
    want = _quiet(recurct.running_dose, original)
    got = recurct.running_dose(prepared)
    if want["patient_id"].dtype == pl.String:
        got = got.with_columns(pl.col("patient_id").cast(pl.String))
    assert got.equals(want)
    want = _quiet(recurct.period_dose, original, every="1y")
    got = recurct.period_dose(prepared, every="1y")
    got = got.with_columns(pl.col("patient_id").cast(want["patient_id"].dtype))
    assert_frame_equal(got, want, rel_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(exam_tables())
def test_prepared_text_ids_give_the_same_results(df):
    prepared = _quiet(recurct.prepare_exams, df)
    s = prepared["patient_id"]
    assert isinstance(s.dtype, pl.Enum)
    cats = s.dtype.categories
    assert cats.is_sorted() and cats.n_unique() == cats.len()
    assert sorted(cats.to_list()) == sorted(set(s.cast(pl.String).to_list()))  # all used
    assert not any(c != c.strip() for c in cats.to_list())  # cleaned
    assert prepared.height == df.height
    _same_results(df, prepared)
    # rows in patient/time order: a second prepare keeps the table as it is
    assert recurct.prepare_exams(prepared).equals(prepared)
    # pandas: an ordered Categorical, read through its codes
    pdf = df.to_pandas()
    got = _quiet(recurct.prepare_exams, pdf)
    kw = {"thresholds": 30, "window_days": 10}
    pd.testing.assert_frame_equal(
        recurct.cumulative_dose(got, **kw), _quiet(recurct.cumulative_dose, pdf, **kw)
    )


@settings(max_examples=30, deadline=None)
@given(exam_tables(text=False))
def test_prepared_integer_ids_keep_their_dtype(df):
    prepared = recurct.prepare_exams(df)
    assert prepared["patient_id"].dtype == df["patient_id"].dtype
    order = prepared.select("patient_id", "exam_date").rows()
    assert order == sorted(order)
    _same_results(df, prepared)


@settings(max_examples=40, deadline=None)
@given(exam_tables(), st.randoms(use_true_random=False), st.integers(0, 3))
def test_enum_and_categorical_ids_equal_text_ids(df, rnd, unused):
    """Enum ids with unused or unsorted categories, and Categorical ids."""
    text = _quiet(lambda: recurct.prepare_exams(df)).with_columns(
        pl.col("patient_id").cast(pl.String)
    ).sample(fraction=1.0, shuffle=True, seed=rnd.randrange(1000))
    cats = text["patient_id"].unique().to_list() + [f"unused{k}" for k in range(unused)]
    rnd.shuffle(cats)
    as_enum = text.with_columns(pl.col("patient_id").cast(pl.Enum(cats)))
    as_cat = text.with_columns(pl.col("patient_id").cast(pl.Categorical))
    for variant in (as_enum, as_cat):
        for kw in ({"thresholds": ()}, {"thresholds": 30, "window_days": 10}):
            assert recurct.cumulative_dose(variant, **kw).equals(
                recurct.cumulative_dose(text, **kw)
            )
        got = recurct.running_dose(variant).with_columns(pl.col("patient_id").cast(pl.String))
        assert got.equals(recurct.running_dose(text))


@pytest.mark.parametrize("rows", [30, 400, 5000])
def test_subset_of_a_prepared_table_in_random_order(rows):
    # a prepared table of 4,000 patients, then a subset in random row order (a sample, a
    # join): its physical codes span far more than its rows (30, 400: a sort of the codes),
    # or not (5000: one scatter); only the labels it uses are read, and the results are those
    # of its ids as text
    rng = np.random.default_rng(rows)
    n = 12_000
    ids = [f"P{k:05d}" for k in rng.integers(0, 4000, n)]
    df = _exams(ids, rng.integers(0, 3000, n).tolist(), rng.random(n).round(3).tolist(),
                extra=True)  # fmt: skip
    prepared = recurct.prepare_exams(df)
    sub = prepared.sample(rows, seed=rows, shuffle=True)
    text = sub.with_columns(pl.col("patient_id").cast(pl.String))
    for kw in ({"thresholds": ()}, {"thresholds": 2.0, "window_days": 30}):
        assert recurct.cumulative_dose(sub, **kw).equals(recurct.cumulative_dose(text, **kw))
    got = recurct.running_dose(sub).with_columns(pl.col("patient_id").cast(pl.String))
    assert got.equals(recurct.running_dose(text))
    # the same with pandas: a prepared table's ordered Categorical keeps every category; a
    # subset reads only those it uses
    pd_prepared = recurct.prepare_exams(df.to_pandas())
    for part in (pd_prepared.sample(rows, random_state=rows), pd_prepared.head(rows)):
        as_text = part.astype({"patient_id": str})
        for kw in ({"thresholds": ()}, {"thresholds": 2.0, "window_days": 30}):
            pd.testing.assert_frame_equal(recurct.cumulative_dose(part, **kw),
                                          recurct.cumulative_dose(as_text, **kw))  # fmt: skip


def test_enum_ids_with_whitespace_or_placeholders_are_cleaned_or_refused():
    df = _exams([" A", "A", "B"], [0, 1, 2], [1.0, 2.0, 3.0])
    for ids in (df, df.with_columns(pl.col("patient_id").cast(pl.Categorical))):
        e = ids.with_columns(pl.col("patient_id").cast(pl.Enum([" A", "A", "B"])))
        for variant in (ids, e):
            with pytest.warns(IdentifierWarning, match="whitespace"):
                got = recurct.cumulative_dose(variant, thresholds=())
            assert got["patient_id"].to_list() == ["A", "B"]
            assert got["n_exams"].to_list() == [2, 1]
    na = _exams(["NA", "A"], [0, 1], [1.0, 2.0])
    for variant in (na, na.with_columns(pl.col("patient_id").cast(pl.Enum(["A", "NA"])))):
        with pytest.raises(ValueError, match="'patient_id' is null in row 0"):
            recurct.prepare_exams(variant)


def test_null_ids_refused():
    df = _exams(["A", None, "B"], [0, 1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'patient_id' is null in row 1"):
        recurct.prepare_exams(df)
    with pytest.raises(ValueError, match="'patient_id' is null in row 1"):
        recurct.prepare_exams(df.to_pandas().astype({"patient_id": "category"}))


def test_pandas_in_pandas_out():
    df = _exams(["B", "A", "B", "C", "A"], [5, 3, 1, 0, 3], [1.0, 2.0, 3.0, 4.0, 5.0], True)
    pdf = df.to_pandas()
    prepared = recurct.prepare_exams(pdf)
    assert isinstance(prepared, pd.DataFrame)
    col = prepared["patient_id"]
    assert isinstance(col.dtype, pd.CategoricalDtype) and col.cat.ordered
    assert list(col.cat.categories) == ["A", "B", "C"]
    assert list(col) == ["A", "A", "B", "B", "C"]
    assert list(prepared["effective_dose_msv"]) == [2.0, 5.0, 3.0, 1.0, 4.0]
    for kw in ({"thresholds": ()}, {"thresholds": 3, "window_days": 3}):
        pd.testing.assert_frame_equal(
            recurct.cumulative_dose(prepared, **kw), recurct.cumulative_dose(pdf, **kw)
        )
    got = recurct.running_dose(prepared)
    pd.testing.assert_frame_equal(
        got.astype({"patient_id": object}),
        recurct.running_dose(pdf).astype({"patient_id": object}),
    )


@pytest.mark.parametrize("ordered", [True, False])
def test_pandas_categorical_ids(ordered):
    """Unused and unsorted categories, whitespace, a column placed anywhere."""
    df = _exams(["B", "A", "B", "C", "A"], [5, 3, 1, 0, 3], [1.0, 2.0, 3.0, 4.0, 5.0], True)
    pdf = df.to_pandas()[["exam_date", "patient_id", "effective_dose_msv", "sex", "age_years"]]
    cat = pdf.assign(
        patient_id=pd.Categorical(pdf["patient_id"], ["Z", "C", "A", "Q", "B"], ordered=ordered)
    )
    for kw in ({"thresholds": ()}, {"thresholds": 3, "window_days": 3}):
        pd.testing.assert_frame_equal(
            recurct.cumulative_dose(cat, **kw), recurct.cumulative_dose(pdf, **kw)
        )
    got = recurct.running_dose(cat)
    assert list(got.columns[:3]) == ["exam_date", "patient_id", "effective_dose_msv"]
    pd.testing.assert_frame_equal(
        got.astype({"patient_id": object}),
        recurct.running_dose(pdf).astype({"patient_id": object}),
    )
    spaced = pdf.assign(patient_id=pd.Categorical([" B", "A", "B", "C", "A "]))
    with pytest.warns(IdentifierWarning, match="whitespace"):
        got = recurct.cumulative_dose(spaced, thresholds=())
    assert list(got["patient_id"]) == ["A", "B", "C"]
    repeated = cat.set_axis(["exam_date", "patient_id", "effective_dose_msv", "sex", "sex"], axis=1)
    with pytest.raises(ValueError, match=r"column 'sex' appears twice \(columns 3 and 4"):
        recurct.cumulative_dose(repeated)
    numbers = pdf.assign(patient_id=pd.Categorical([2, 1, 2, 3, 1]))
    got = recurct.cumulative_dose(numbers, thresholds=())
    assert list(got["n_exams"]) == [2, 2, 1]


def test_empty_and_lazy():
    df = _exams(["A"], [0], [1.0]).clear()
    assert recurct.prepare_exams(df).height == 0
    one = _exams(["B", "A"], [0, 1], [1.0, 2.0])
    got = recurct.prepare_exams(one.lazy())
    assert got["patient_id"].cast(pl.String).to_list() == ["A", "B"]


def test_categorical_ids_with_physical_codes_far_apart():
    """A Categorical whose physical codes span far more than its rows (other categoricals
    were made in the process first): its codes are hashed, not scattered."""
    many = pl.Series([f"filler{k}" for k in range(50_000)]).cast(pl.Categorical)
    ids = ["B", "filler3", "A", "B", "zz"]
    df = _exams(ids, [3, 1, 2, 0, 5], [1.0, 2.0, 3.0, 4.0, 5.0])
    cat = df.with_columns(pl.col("patient_id").cast(pl.Categorical))
    phys = cat["patient_id"].to_physical()
    assert many.len() == 50_000 and int(phys.max() - phys.min()) > 2 * cat.height + 1024
    for kw in ({"thresholds": ()}, {"thresholds": 3, "window_days": 3}):
        assert recurct.cumulative_dose(cat, **kw).equals(recurct.cumulative_dose(df, **kw))
    got = recurct.prepare_exams(cat)["patient_id"]
    assert got.cast(pl.String).to_list() == ["A", "B", "B", "filler3", "zz"]


def test_enum_and_pandas_ids_with_many_unused_categories():
    """Codes spanning far more than the rows (hashed, not scattered), in any order."""
    df = _exams(["B", "c7", "A", "B", "zz"], [3, 1, 2, 0, 5], [1.0, 2.0, 3.0, 4.0, 5.0])
    cats = [f"c{k}" for k in range(5000)] + ["zz", "B", "A"]
    as_enum = df.with_columns(pl.col("patient_id").cast(pl.Enum(cats)))
    pdf = df.to_pandas()
    as_pandas = pdf.assign(patient_id=pd.Categorical(pdf["patient_id"], categories=cats))
    for kw in ({"thresholds": ()}, {"thresholds": 3, "window_days": 3}):
        want = recurct.cumulative_dose(df, **kw)
        assert recurct.cumulative_dose(as_enum, **kw).equals(want)
        pd.testing.assert_frame_equal(
            recurct.cumulative_dose(as_pandas, **kw), recurct.cumulative_dose(pdf, **kw)
        )
    got = recurct.prepare_exams(as_enum)["patient_id"]
    assert got.dtype == pl.Enum(["A", "B", "c7", "zz"])
