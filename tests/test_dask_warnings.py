"""On Dask, each kind of warning is given once on the client with the totals of all the
partitions, as in memory and out of core: not once per partition, and also when the
partitions ran in other processes; recording a partition's warnings is thread-safe."""

from __future__ import annotations

import datetime as dt
import threading
import warnings

import numpy as np
import polars as pl
import pytest

import recurct
from recurct.errors import IdentifierWarning, UnmappedValuesWarning

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
rd = pytest.importorskip("recurct.distributed")

KINDS = (IdentifierWarning, UnmappedValuesWarning)


def _exams(n: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    ages = np.where(rng.random(n) < 0.2, "abc", rng.integers(1, 90, n).astype(str))
    return pl.DataFrame(
        {
            "patient_id": [f" p{i % 90}" if i % 7 == 0 else f"p{i % 90}" for i in range(n)],
            "exam_date": [dt.date(2015, 1, 1) + dt.timedelta(days=3 * i) for i in range(n)],
            "effective_dose_msv": [float(i % 9) for i in range(n)],
            "age_years": ages.tolist(),
        }
    )


def _recorded(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category, str(w.message)) for w in caught if issubclass(w.category, KINDS)]


def _same_as_in_memory(got: list, mem: list) -> None:
    """One warning of each kind, with the in-memory totals (and the input's first rows)."""
    for kind in KINDS:
        (m,) = [msg for c, msg in mem if issubclass(c, kind)]
        found = [msg for c, msg in got if issubclass(c, kind)]
        assert len(found) == 1, found
        (o,) = found
        if kind is UnmappedValuesWarning:
            assert o == m.replace("cumulative_dose:", o.split(":")[0] + ":")
        else:
            assert o.split(" id(s)")[0] == m.split(" id(s)")[0]
            assert o.split("(rows ")[1].startswith(m.split("(rows ")[1].split(", ...")[0])


@pytest.fixture(scope="module")
def in_memory():
    return _recorded(lambda: recurct.cumulative_dose(_exams()))


def _ddf(parts: int = 4):
    return dd.from_pandas(_exams().to_pandas(), npartitions=parts)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
@pytest.mark.parametrize("big_graph", [False, True])
def test_warnings_once_per_kind_with_the_totals(scheduler, big_graph, in_memory, monkeypatch):
    expected, mem = in_memory
    monkeypatch.setattr(rd, "MAX_PIECES", 0 if big_graph else rd.MAX_PIECES)
    with dask.config.set(scheduler=scheduler):
        got, caught = _recorded(lambda: rd.cumulative_dose(_ddf()).compute())
    assert pl.from_pandas(got).sort("patient_id")["ced_msv"].to_list() == (
        expected["ced_msv"].to_list()
    )
    _same_as_in_memory(caught, mem)


def test_partitioned_by_patient_warns_once():
    exams = _exams().with_columns(pl.col("patient_id").str.strip_chars())
    pdf = exams.sort("patient_id", maintain_order=True).to_pandas()
    with dask.config.set(scheduler="sync"):
        _, caught = _recorded(
            lambda: rd.cumulative_dose(
                dd.from_pandas(pdf, npartitions=3, sort=False), partitioned_by_patient=True
            ).compute()
        )
    assert len([c for c, _ in caught if c is UnmappedValuesWarning]) == 1
    assert not [c for c, _ in caught if c is IdentifierWarning]


def test_persist_then_compute_and_magnitude_warn_once(in_memory):
    _, mem = in_memory
    with dask.config.set(scheduler="sync"):
        patients, at_persist = _recorded(lambda: rd.cumulative_dose(_ddf()).persist())
        _, at_magnitude = _recorded(lambda: rd.magnitude(patients, thresholds=100))
        _, at_compute = _recorded(patients.compute)
    assert not at_persist and not at_compute
    _same_as_in_memory(at_magnitude, mem)


def test_no_warning_where_there_is_none():
    exams = _exams().with_columns(pl.col("patient_id").str.strip_chars(), age_years=pl.lit(50.0))
    with dask.config.set(scheduler="threads"):
        _, caught = _recorded(
            lambda: rd.cumulative_dose(dd.from_pandas(exams.to_pandas(), npartitions=3)).compute()
        )
    assert caught == []


def test_recording_in_threads_keeps_each_chunks_warnings():
    """Chunks computed in threads at once each record exactly their own warnings (the
    global warning state that catch_warnings swaps is not shared between them)."""
    from recurct.outofcore import _MergedWarnings, chunk_patients

    chunks = []
    for k in range(6):  # chunk k has k + 1 unreadable ages
        n = 200
        ages = ["abc" if i <= k else "40" for i in range(n)]
        chunks.append(_exams(n).with_columns(age_years=pl.Series(ages)))
    records = [[] for _ in chunks]
    errors = []

    def run(k: int) -> None:
        try:
            for _ in range(15):
                record = _MergedWarnings()
                chunk_patients(chunks[k], np.arange(200), "t", (100.0,), None, record)
                records[k].append(record.n_ages)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(chunks))]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert records == [[k + 1] * 15 for k in range(len(chunks))]


def test_warnings_reach_the_client_from_worker_processes(in_memory):
    distributed = pytest.importorskip("distributed")
    _, mem = in_memory
    try:
        cluster = distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=50,
        )
    except Exception as exc:  # pragma: no cover - no processes here
        pytest.skip(f"no local cluster: {exc}")
    with cluster, distributed.Client(cluster):
        _, caught = _recorded(lambda: rd.cumulative_dose(_ddf()).compute())
    _same_as_in_memory(caught, mem)
