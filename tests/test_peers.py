"""The benchmark's peer runners (benchmarks/peers.py, outside the package) import without
optional dependencies and give recurct's answers on a small table."""

from __future__ import annotations

import importlib.util
import sys
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import pytest

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


def _load(monkeypatch: pytest.MonkeyPatch, *, without: tuple[str, ...] = ()) -> ModuleType:
    """benchmarks/peers.py imported afresh, with the packages in ``without`` not importable."""
    for name in without:
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location("peers", PEERS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "peers", module)
    spec.loader.exec_module(module)
    return module


def test_peers_run_without_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = _load(monkeypatch, without=("duckdb",))
    methods, notes = peers.resolve_methods(None)
    assert "duckdb" not in methods and methods[0] == "recurct"
    assert len(notes) == 1 and "recurct[bench]" in notes[0]
    methods, notes = peers.resolve_methods("polars")
    assert methods == ("recurct", "polars") and not notes
    rows = peers.run_size(3000, methods, ("a", "abc"), 3, "int", "sorted")
    assert [r["method"] for r in rows] == ["recurct", "polars"] * 2
    assert all(r["check"] == "ok" for r in rows)
    assert [(r["layout"], r["op"]) for r in rows] == [("sorted int", "a")] * 2 + [
        ("sorted int", "abc")
    ] * 2


def test_a_missing_peer_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = _load(monkeypatch, without=("duckdb",))
    from recurct.errors import InputError

    with pytest.raises(InputError, match=r'duckdb.*pip install "recurct\[bench\]"'):
        peers.resolve_methods("recurct,duckdb")
    with pytest.raises(InputError, match="unknown methods"):
        peers.resolve_methods("spark")


@pytest.mark.slow  # about 20 s: every op of every peer on two id types
def test_every_installed_peer_agrees_with_recurct(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each installed peer (pandas always; DuckDB with the test extra) on every operation,
    on integer and string patient ids: the check column compares each answer with recurct's."""
    peers = _load(monkeypatch)
    methods, _ = peers.resolve_methods(None)
    assert {"recurct", "polars", "pandas"} <= set(methods)
    for ids in ("int", "str"):
        rows = peers.run_size(2000, methods, peers.OPS, 1, ids, "random")
        assert {r["method"] for r in rows} == set(methods)
        assert all(r["check"] == "ok" for r in rows), [r for r in rows if r["check"] != "ok"]


def test_the_bandwidth_bound_counts_the_returned_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sorted row's bound: the input's 20 B per exam read at the threads' read bandwidth
    and the table's own bytes written at half their copy bandwidth."""
    import recurct

    peers = _load(monkeypatch)
    cohort = peers.make_cohort(2000, seed=0, ids="int", order="sorted")
    table = recurct.cumulative_dose(cohort, thresholds=peers.THRESHOLD, window_days=peers.WINDOW)
    assert peers.sorted_table_bytes(2000) == table.estimated_size()
    bw = {"read": 1.0, "copy": 1.0, "read_all": 20.0, "copy_all": 40.0, "threads": 2.0}
    line = peers.bound_line(10**6, 60_000_000, 0.01, bw)  # 20 MB / 20 GB/s + 60 MB / 20 GB/s
    assert "0.010 s = 2.5x the bandwidth bound 0.004 s on 2 threads" in line
    assert {"read", "copy", "read_all", "copy_all", "threads"} <= set(peers.bandwidth(0.01, 1))


def test_benchmark_uuids_are_version_4_and_each_row_has_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmark's UUID ids parse as version-4 RFC 4122 UUIDs, in their canonical text,
    one per patient; the engines agree on them."""
    import uuid

    import numpy as np

    peers = _load(monkeypatch)
    texts = peers.uuids(500, np.random.default_rng(3)).to_list()
    parsed = [uuid.UUID(t) for t in texts]
    assert [str(u) for u in parsed] == texts
    assert {u.version for u in parsed} == {4} and {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(texts)) == 500
    cohort = peers.make_cohort(3000, seed=1, ids="uuid")
    ints = peers.make_cohort(3000, seed=1, ids="int")
    assert cohort["patient_id"].n_unique() == ints["patient_id"].n_unique()
    assert cohort.drop("patient_id").equals(ints.drop("patient_id"))
    rows = peers.run_size(3000, ("recurct", "polars"), ("a", "abc"), 1, "uuid", "random")
    assert all(r["check"] == "ok" for r in rows)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_round_orders_put_every_method_after_every_other(
    monkeypatch: pytest.MonkeyPatch, m: int
) -> None:
    # a Williams design: over m rounds (2m for odd m) each ordered pair of neighbours occurs
    # equally often (the rotation of one order kept each method after the same one), and
    # every round holds every method once
    peers = _load(monkeypatch)
    methods = tuple("abcde"[:m])
    full = m if m % 2 == 0 else 2 * m
    rounds = peers.round_orders(methods, 2 * full + 1)
    assert len(rounds) == 2 * full + 1
    assert all(sorted(r) == list(methods) for r in rounds)
    assert rounds[full : 2 * full] == rounds[:full]  # the rows repeat in turn
    pairs: dict[tuple[str, str], int] = {}
    for r in rounds[:full]:
        for a, b in pairwise(r):
            pairs[a, b] = pairs.get((a, b), 0) + 1
    assert set(pairs) == {(a, b) for a in methods for b in methods if a != b}
    assert len(set(pairs.values())) <= 1  # all equally often
