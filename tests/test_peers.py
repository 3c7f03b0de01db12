"""The benchmark's peer runners (benchmarks/peers.py, outside the package) import without
optional dependencies and give recurct's answers on a small table."""

from __future__ import annotations

import importlib.util
import sys
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
    rows = peers.run_size(3000, methods, ("a", "abc"), 1, "int", "random")
    assert [r["method"] for r in rows] == ["recurct", "polars"] * 2
    assert all(r["check"] == "ok" for r in rows)


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
