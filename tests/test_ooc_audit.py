"""Out of core and on Dask as in memory: the findings of the third out-of-core audit (an
empty source in several buckets, placeholder and too-large ids named at their input rows,
the meta of a Dask computation, warnings given once for the whole input)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import DataError, IdentifierWarning, UnmappedValuesWarning
from recurct.outofcore import cumulative_dose_chunked, write_patients


def _exams(n: int = 300, ids: list | None = None, **extra: list) -> pl.DataFrame:
    n = n if ids is None else len(ids)
    return pl.DataFrame(
        {
            "patient_id": ids if ids is not None else [f"p{i % 40:02d}" for i in range(n)],
            "exam_date": [dt.date(2015, 1, 1) + dt.timedelta(days=3 * i) for i in range(n)],
            "effective_dose_msv": [float(i % 9) for i in range(n)],
            **extra,
        }
    )


def _recorded(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category, str(w.message)) for w in caught]


def _dask(df: pl.DataFrame | pd.DataFrame, parts: int = 3) -> pd.DataFrame:
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    from recurct import distributed

    pdf = df if isinstance(df, pd.DataFrame) else df.to_pandas(use_pyarrow_extension_array=True)
    with dask.config.set(scheduler="sync"):
        return distributed.cumulative_dose(dd.from_pandas(pdf, npartitions=parts)).compute()


# 1: an empty source in several buckets


def test_empty_source_in_buckets_gives_the_empty_table(tmp_path):
    empty = _exams().clear()
    expected = recurct.cumulative_dose(empty)
    assert_frame_equal(cumulative_dose_chunked(empty.lazy(), buckets=2), expected)
    out = write_patients(empty.lazy(), tmp_path / "out", buckets=3)
    assert_frame_equal(pl.scan_parquet(str(out / "*.parquet")).collect(), expected)


# 2: a text age column on Dask: no warning from the meta's fake row


def test_dask_text_ages_warn_as_in_memory():
    df = _exams(60, age_years=[str(20 + i % 50) for i in range(60)])
    _, caught = _recorded(lambda: _dask(df))
    assert not [c for c, _ in caught if issubclass(c, UnmappedValuesWarning)]


# 3: placeholder and too-large ids named at their input rows


@pytest.mark.parametrize("placeholder", ["NA", " na ", "unknown"])
@pytest.mark.parametrize("categorical", [False, True])
def test_placeholder_ids_name_input_rows(placeholder, categorical):
    ids = [placeholder if i in (100, 250) else f"p{i % 40:02d}" for i in range(300)]
    df = _exams(ids=ids)
    if categorical:
        df = df.with_columns(pl.col("patient_id").cast(pl.Categorical))
    for run in (
        lambda: recurct.cumulative_dose(df),
        lambda: cumulative_dose_chunked(df.lazy(), buckets=3),
        lambda: _dask(df),
    ):
        with pytest.raises(DataError, match=r"'patient_id' is null in (input )?rows 100, 250 "):
            run()


def test_too_large_uint64_id_names_its_input_row():
    ids = pl.Series([2**63 + 5 if i == 200 else i % 40 for i in range(300)], dtype=pl.UInt64)
    df = _exams(ids=ids)
    for run in (
        lambda: recurct.cumulative_dose(df),
        lambda: cumulative_dose_chunked(df.lazy(), buckets=3),
    ):
        with pytest.raises(DataError, match=r"row 200 \(0-based\) holds 9223372036854775813"):
            run()


# 4: Dask meta of a tz-aware date, refused attribute dtypes


def test_dask_tz_aware_dates_as_in_memory():
    pdf = pd.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": pd.to_datetime(["2020-01-01", "2020-06-01", "2021-01-01"]).tz_localize(
                "Europe/Berlin"
            ),
            "effective_dose_msv": [60.0, 50.0, 5.0],
        }
    )
    expected = recurct.cumulative_dose(pl.from_pandas(pdf))
    got = pl.from_pandas(_dask(pdf, 1)).sort("patient_id")
    assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize(
    ("col", "values"),
    [
        ("facility", pl.Series("facility", [{"a": 1}] * 60)),
        ("sex", pl.Series("sex", [[1, 2]] * 60, dtype=pl.Array(pl.Int64, 2))),
        ("indication", pl.Series("indication", [dt.timedelta(days=1)] * 60)),
        ("age_years", pl.Series("age_years", [dt.timedelta(days=1)] * 60)),
    ],
)
def test_dask_refuses_attribute_dtypes_as_in_memory(col, values):
    df = _exams(60).with_columns(values)
    with pytest.raises(DataError) as mem:
        recurct.cumulative_dose(df)
    with pytest.raises(DataError) as dsk:
        _dask(df)
    assert str(dsk.value) == str(mem.value)
    assert f"column {col!r}" in str(mem.value)


# 5: warnings once for the whole input, counts summed


def test_out_of_core_warnings_given_once_with_the_total():
    rng = np.random.default_rng(1)
    ages = np.where(rng.random(600) < 0.2, "abc", rng.integers(1, 90, 600).astype(str))
    ids = [f" p{i % 90}" if i % 7 == 0 else f"p{i % 90}" for i in range(600)]
    df = _exams(ids=ids, age_years=ages.tolist())
    expected, mem = _recorded(lambda: recurct.cumulative_dose(df))
    got, ooc = _recorded(lambda: cumulative_dose_chunked(df.lazy(), buckets=4))
    assert_frame_equal(got, expected)
    for kind in (UnmappedValuesWarning, IdentifierWarning):
        (m,) = [msg for c, msg in mem if issubclass(c, kind)]
        (o,) = [msg for c, msg in ooc if issubclass(c, kind)]
        count = m.split(" value(s)")[0].split()[-1] if kind is UnmappedValuesWarning else None
        if count is not None:
            assert f" {count} value(s)" in o
        else:  # the same total; the first rows of the input (up to ten out of core)
            assert o.split(" id(s)")[0] == m.split(" id(s)")[0]
            assert o.split("(rows ")[1].startswith(m.split("(rows ")[1].split(", ...")[0])
