"""Ids the identity rules make one (surrounding whitespace: any Unicode space or NUL) are one
patient on every path: in memory, out of core (range, hash and sorted-source buckets) and on
Dask (its own split and Dask's shuffle); and coded ids of empty tables come out as text."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct._frames import ID_SPACES
from recurct.errors import IdentifierWarning
from recurct.outofcore import cumulative_dose_chunked

# every Unicode White_Space character, by its code point (not copied from the code under test)
WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)]
WHITE_SPACE += [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def _exams(seed: int, n: int = 600, spaced: float = 0.3) -> pl.DataFrame:
    """Exams of about 80 patients, a share of whose ids carry a space before or after."""
    rng = np.random.default_rng(seed)
    base = [f"P{k:03d}" for k in rng.integers(0, 80, n)]
    spaces = [chr(c) for c in WHITE_SPACE] + ["\x00"]
    ids = [
        (rng.choice(spaces) + x if rng.random() < 0.5 else x + rng.choice(spaces))
        if rng.random() < spaced
        else x
        for x in base
    ]
    days = rng.integers(0, 4000, n)
    return pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [dt.date(2010, 1, 1) + dt.timedelta(days=int(d)) for d in days],
            "effective_dose_msv": rng.integers(0, 60, n).astype(float),
        }
    )


def _reference(exams: pl.DataFrame) -> pl.DataFrame:
    """The same exams with the ids stripped by hand (no whitespace: nothing to clean)."""
    strip = "".join(chr(c) for c in WHITE_SPACE) + "\x00"
    clean = exams.with_columns(pl.col("patient_id").str.strip_chars(strip))
    return recurct.cumulative_dose(clean, thresholds=100, window_days=365)


def test_the_stripped_set_is_unicode_white_space_and_nul() -> None:
    assert set(ID_SPACES) == {chr(c) for c in WHITE_SPACE} | {"\x00"}


@pytest.mark.parametrize("space", [chr(c) for c in WHITE_SPACE] + ["\x00"])
def test_every_unicode_space_is_removed_as_the_warning_says(space: str) -> None:
    exams = pl.DataFrame(
        {
            "patient_id": ["A", "A" + space, space + "A"],
            "exam_date": [dt.date(2020, 1, 1)] * 3,
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )
    with pytest.warns(IdentifierWarning, match="2 id"):
        got = recurct.cumulative_dose(exams)
    assert got["patient_id"].to_list() == ["A"]
    assert got["n_exams"].to_list() == [3]


@pytest.mark.parametrize("buckets", [2, 5, 40])
@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_out_of_core_buckets_keep_spaced_ids_together(buckets: int, dtype) -> None:
    exams = _exams(buckets).with_columns(pl.col("patient_id").cast(dtype))
    want = _reference(_exams(buckets))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierWarning)  # (once per bucket)
        got = cumulative_dose_chunked(
            exams.lazy(), thresholds=100, window_days=365, buckets=buckets
        )
    assert_frame_equal(got, want)


def test_a_sorted_source_with_spaced_ids_is_split_not_read_in_runs(tmp_path) -> None:
    # written sorted (" P005" first), so its row-group statistics show it sorted
    exams = _exams(7).sort("patient_id", "exam_date")
    exams.write_parquet(tmp_path / "sorted.parquet", row_group_size=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierWarning)
        got = cumulative_dose_chunked(tmp_path, thresholds=100, window_days=365, buckets=4)
    assert_frame_equal(got, _reference(exams))


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(["b", "a"])])
def test_a_sorted_source_of_coded_ids_straddling_runs(tmp_path, dtype) -> None:
    # a run whose rows all go on into the next one is empty: its table must be text too
    exams = pl.DataFrame(
        {
            "patient_id": pl.Series(["a"] * 6 + ["b"] * 4, dtype=dtype),
            "exam_date": [dt.date(2020, 1, 1) + dt.timedelta(days=k) for k in range(10)],
            "effective_dose_msv": [1.0] * 10,
        }
    )
    exams.write_parquet(tmp_path / "p.parquet", row_group_size=1)
    got = cumulative_dose_chunked(tmp_path, buckets=3)
    assert got["patient_id"].to_list() == ["a", "b"]
    assert got["n_exams"].to_list() == [6, 4]


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(["x", "y"]), pl.String])
def test_an_empty_table_of_coded_ids_gives_text_ids(dtype) -> None:
    exams = pl.DataFrame(
        {
            "patient_id": pl.Series([], dtype=dtype),
            "exam_date": pl.Series([], dtype=pl.Date),
            "effective_dose_msv": pl.Series([], dtype=pl.Float64),
        }
    )
    got = recurct.cumulative_dose(exams)
    assert got.height == 0
    assert got.schema["patient_id"] == pl.String


def test_an_empty_pandas_category_column() -> None:
    exams = pd.DataFrame(
        {
            "patient_id": pd.Series([], dtype="category"),
            "exam_date": pd.Series([], dtype="datetime64[ns]"),
            "effective_dose_msv": pd.Series([], dtype=float),
        }
    )
    got = recurct.cumulative_dose(exams)
    assert isinstance(got, pd.DataFrame)
    assert len(got) == 0


dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
rd = pytest.importorskip("recurct.distributed")


@pytest.mark.parametrize("big_graph", [False, True])
@pytest.mark.parametrize("category", [False, True])
def test_dask_keeps_spaced_ids_together(big_graph: bool, category: bool, monkeypatch) -> None:
    exams = _exams(11)
    pdf = exams.to_pandas()
    if category:
        pdf["patient_id"] = pdf["patient_id"].astype("category")
    monkeypatch.setattr(rd, "MAX_PIECES", 0 if big_graph else rd.MAX_PIECES)
    ddf = dd.from_pandas(pdf, npartitions=4, sort=False)
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierWarning)
        got = rd.cumulative_dose(ddf, thresholds=100, window_days=365).compute()
    got = pl.from_pandas(got, include_index=False).sort("patient_id")
    assert_frame_equal(got, _reference(exams), check_dtypes=False)


def test_dask_reads_float32_thresholds_as_in_memory() -> None:
    exams = pd.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "effective_dose_msv": [0.05, 0.05],
        }
    )
    want = recurct.cumulative_dose(exams, thresholds=np.float32(0.1))
    with dask.config.set(scheduler="sync"):
        got = rd.cumulative_dose(dd.from_pandas(exams, npartitions=1), thresholds=np.float32(0.1))
        got = got.compute()
    assert list(got.columns) == list(want.columns)
    assert bool(got["reached_0.1"].iloc[0]) is True


def test_out_of_core_warnings_name_rows_of_the_input() -> None:
    ids = ["A", "B", " A", "C", "B\u3000", "A"] * 3
    exams = pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [dt.date(2020, 1, 1)] * len(ids),
            "effective_dose_msv": [1.0] * len(ids),
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdentifierWarning)
        got = cumulative_dose_chunked(exams.lazy(), buckets=2)
    assert got["n_exams"].to_list() == [9, 6, 3]
    named = set()
    for w in caught:
        assert issubclass(w.category, IdentifierWarning)
        text = str(w.message).split("(rows ")[1].split(" of the input")[0]
        named |= {int(r) for r in text.split(", ")}
    assert named == {i for i, x in enumerate(ids) if x != x.strip()}
