"""recurct.distributed.cumulative_dose gives exactly recurct.cumulative_dose, whatever the
partitions: ties in time across partitions, one patient in every partition, empty partitions,
string / categorical ids, optional columns, Dask's shuffle for large graphs, bad rows."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cumulative import cohorts_with_attributes

import recurct

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
rd = pytest.importorskip("recurct.distributed")

THRESHOLDS = (50.0, 100.0)
WINDOWS = (365, 1826)


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def _partitioned(pdf: pd.DataFrame, cuts: list[int]) -> dd.DataFrame:
    """``pdf`` as a Dask DataFrame cut at ``cuts`` (repeated cuts: empty partitions)."""
    bounds = [0, *sorted(min(c, len(pdf)) for c in cuts), len(pdf)]
    parts = [dask.delayed(pdf.iloc[a:b]) for a, b in itertools.pairwise(bounds)]
    return dd.from_delayed(parts, meta=pdf.iloc[:0], verify_meta=False)


def _check(exams: pl.DataFrame, ddf: dd.DataFrame, **kwargs) -> None:
    """The Dask patients table equals the in-memory one on the same (pandas) exams, values
    and pandas dtypes, after sorting by patient_id."""
    want = recurct.cumulative_dose(exams.to_pandas(), thresholds=THRESHOLDS, window_days=WINDOWS)
    got_dd = rd.cumulative_dose(ddf, thresholds=THRESHOLDS, window_days=WINDOWS, **kwargs)
    got = got_dd.compute()
    assert got["patient_id"].nunique() == len(got)  # each patient once
    pd.testing.assert_frame_equal(got.sort_values("patient_id", ignore_index=True), want)


@settings(max_examples=40)  # a Dask graph per example: keeps the test under ~3 s
@given(
    cohorts_with_attributes(),
    st.lists(st.integers(0, 30), max_size=5),
    st.sampled_from([None, 1, 2, 3, 7]),
    st.booleans(),
)
def test_equals_in_memory(exams, cuts, buckets, big_graph) -> None:
    ddf = _partitioned(exams.to_pandas(), cuts)
    limit = 0 if big_graph else rd.MAX_PIECES  # 0: always through Dask's shuffle
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rd, "MAX_PIECES", limit)
        _check(exams, ddf, buckets=buckets)


def _tied_everywhere(n_parts: int) -> pl.DataFrame:
    """Patient 7 has one exam in every partition, all at the same instant, with different
    doses and ages (so which exam crosses a threshold depends on the input order); patient 3
    has two exams a day apart in each partition."""
    t0 = dt.datetime(2020, 3, 1, 9)
    rows = []
    for k in range(n_parts):
        rows.append((7, t0, 30.0 + k, 40.0 + k))
        rows.append((3, t0 + dt.timedelta(days=k), 60.0, 50.0))
        rows.append((3, t0 + dt.timedelta(days=k + 1), 0.0, None))
    return pl.DataFrame(
        rows,
        schema=["patient_id", "exam_date", "effective_dose_msv", "age_years"],
        orient="row",
    )


@pytest.mark.parametrize("buckets", [None, 1, 2, 5])
@pytest.mark.parametrize("big_graph", [False, True])
def test_ties_across_partitions_keep_input_order(buckets, big_graph, monkeypatch) -> None:
    exams = _tied_everywhere(5)
    monkeypatch.setattr(rd, "MAX_PIECES", 0 if big_graph else rd.MAX_PIECES)
    ddf = _partitioned(exams.to_pandas(), [3, 6, 6, 9, 12])  # one empty partition
    _check(exams, ddf, buckets=buckets)
    # the in-memory engine takes tied exams in input order: 30 + 31 >= 50 at the second exam
    got = rd.cumulative_dose(ddf, thresholds=50).compute()
    assert got.set_index("patient_id").loc[7, "age_reached_50"] == 41.0


def test_string_and_categorical_ids() -> None:
    exams = _tied_everywhere(4).with_columns(pl.format("id-{}", "patient_id").alias("patient_id"))
    pdf = exams.to_pandas()
    for ids in (pdf.patient_id.astype(object), pdf.patient_id.astype("category")):
        ddf = _partitioned(pdf.assign(patient_id=ids), [2, 5, 9])
        _check(pl.from_pandas(pdf.assign(patient_id=ids)), ddf, buckets=3)


def test_partitions_with_different_integer_widths() -> None:
    # the same patient as int32 in one partition and int64 in another is one patient
    exams = _tied_everywhere(4)
    pdf = exams.to_pandas()
    parts = [pdf.iloc[:6].astype({"patient_id": "int32"}), pdf.iloc[6:]]
    ddf = dd.from_delayed([dask.delayed(p) for p in parts], meta=pdf.iloc[:0], verify_meta=False)
    _check(exams, ddf, buckets=3)


def test_categories_hash_by_their_string() -> None:
    # the codes of a categorical differ between processes; its destination must not
    strings = pl.Series(["b", "a", "c", "a", None])
    cats = pl.Series(["c", "b", "a"], dtype=pl.Categorical).append(strings.cast(pl.Categorical))
    got = rd._destination(cats.slice(3), 7)
    np.testing.assert_array_equal(got, rd._destination(strings, 7))


_IDS = (
    "[pl.Series(['a', 'p001', 'x' * 40, None]), pl.Series([1, -2, 10**12]),"
    " pl.Series(['b', 'a'], dtype=pl.Categorical)]"
)


def test_destinations_are_the_same_in_every_process() -> None:
    # workers are separate processes: a patient's pieces must meet whatever process split them
    code = (
        f"import json, polars as pl, recurct.distributed as rd;"
        f"print(json.dumps([rd._destination(s, 7).tolist() for s in {_IDS}]))"
    )
    here = [rd._destination(s, 7).tolist() for s in eval(_IDS)]  # the literal the child runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == here


def test_only_used_columns_travel_and_extra_columns_are_ignored() -> None:
    exams = _tied_everywhere(3).with_columns(
        pl.lit("x").alias("study_uid"), pl.lit(1.5).alias("dlp_mgycm")
    )
    _check(exams.drop("study_uid", "dlp_mgycm"), _partitioned(exams.to_pandas(), [4]))


def test_partitioned_by_patient() -> None:
    exams = _tied_everywhere(4).sort("patient_id", maintain_order=True)
    ddf = _partitioned(exams.to_pandas(), [8, 8])  # patient 3, then nobody, then patient 7
    _check(exams, ddf, partitioned_by_patient=True)
    assert rd.cumulative_dose(ddf, partitioned_by_patient=True).npartitions == 3
    bad = exams.with_columns(
        pl.when(pl.int_range(pl.len()) == 9).then(-1.0).otherwise("effective_dose_msv")
        .alias("effective_dose_msv")
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"'effective_dose_msv' is .* in input row 9 "):
        ddf = _partitioned(bad.to_pandas(), [8, 8])
        rd.cumulative_dose(ddf, partitioned_by_patient=True).compute()


def test_empty_input() -> None:
    exams = _tied_everywhere(1).clear()
    ddf = _partitioned(exams.to_pandas(), [0])
    got = rd.cumulative_dose(ddf, thresholds=THRESHOLDS).compute()
    assert len(got) == 0
    assert list(got.columns) == list(rd.cumulative_dose(ddf, thresholds=THRESHOLDS).columns)


@pytest.mark.parametrize("big_graph", [False, True])
def test_bad_row_named_in_the_input(big_graph, monkeypatch) -> None:
    monkeypatch.setattr(rd, "MAX_PIECES", 0 if big_graph else rd.MAX_PIECES)
    exams = _tied_everywhere(5).with_columns(
        pl.when(pl.int_range(pl.len()) == 10)
        .then(None)
        .otherwise("patient_id")
        .alias("patient_id")
    )
    ddf = _partitioned(exams.to_pandas(), [4, 4, 8, 13])
    with pytest.raises(ValueError, match=r"'patient_id' is null in input row 10 "):
        rd.cumulative_dose(ddf, buckets=3).compute()


def test_not_a_dask_frame() -> None:
    with pytest.raises(TypeError, match="not DataFrame; for a table in memory use recurct"):
        rd.cumulative_dose(_tied_everywhere(2).to_pandas())


def test_bad_buckets() -> None:
    ddf = _partitioned(_tied_everywhere(2).to_pandas(), [3])
    with pytest.raises(ValueError, match="buckets=0"):
        rd.cumulative_dose(ddf, buckets=0)
