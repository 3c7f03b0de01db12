"""The benchmark's peer runners (benchmarks/peers.py, outside the package) import without
optional dependencies and give recurct's answers on a small table."""

from __future__ import annotations

import importlib.util
import sys
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

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
    on integer and string patient ids: the check column compares each answer, recurct's too,
    with the independent reference (peers.reference)."""
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


# --------------------------------------------------------------------------- the checks
# Every answer a benchmark times is checked against an independent one (peers.reference),
# recurct's too, and a broken answer says so: each test below breaks one value of one
# patient in one method's answer.

BENCH = PEERS.parent


def _one_row(frame: Any, column: str, change: Any) -> Any:
    """The polars ``frame`` with ``column`` changed by the expression ``change`` in one row:
    the first whose value is not null."""
    import polars as pl

    row = frame.with_row_index("_i").filter(pl.col(column).is_not_null())["_i"][0]
    at = pl.int_range(pl.len()) == row
    return frame.with_columns(pl.when(at).then(change).otherwise(pl.col(column)).alias(column))


def _breaking(monkeypatch: pytest.MonkeyPatch, peers: ModuleType, method: str, fix: Any) -> None:
    """``method``'s runner returns its answer passed through ``fix(op, answer)``."""
    real = peers.RUNNERS[method]
    monkeypatch.setitem(peers.RUNNERS, method, lambda data, op: fix(op, real(data, op)))


def _a_part(column: str, change: Any) -> Any:
    """A fix of a polars answer of op ``a`` (or ``abc``): one row of ``column`` changed."""

    def fix(op: str, answer: Any) -> Any:
        if op == "abc":
            (a, share), b, c = answer
            return (_one_row(a, column, change), share), b, c
        a, share = answer
        return _one_row(a, column, change), share

    return fix


def _frames() -> dict[str, Any]:
    import polars as pl

    day = pl.duration(days=1)
    return {
        "first_exam": (pl.col("first_exam") + day, "first_exam (1 patient)"),
        "last_exam": (pl.col("last_exam") - day, "last_exam (1 patient)"),
        "n_exams": (pl.col("n_exams") + 1, "n_exams (1 patient)"),
        "ced_msv": (pl.col("ced_msv") * (1 + 1e-5), "ced_msv (1 patient)"),
    }


@pytest.mark.parametrize("op", ["a", "abc"])
@pytest.mark.parametrize("column", ["first_exam", "last_exam", "n_exams", "ced_msv"])
def test_a_peer_with_one_wrong_total_fails_its_check(
    monkeypatch: pytest.MonkeyPatch, column: str, op: str
) -> None:
    peers = _load(monkeypatch)
    change, what = _frames()[column]
    _breaking(monkeypatch, peers, "polars", _a_part(column, change))
    rows = peers.run_size(3000, ("recurct", "polars"), (op,), 1, "int", "random")
    verdict = {r["method"]: r["check"] for r in rows}
    assert verdict["recurct"] == "ok"
    assert verdict["polars"].startswith("FAIL") and what in verdict["polars"], verdict


def test_a_peer_with_one_wrong_day_or_window_fails_its_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import polars as pl

    peers = _load(monkeypatch)
    fixes = {
        "b": lambda op, b: _one_row(b, "days_to_100", pl.col("days_to_100") + 1),
        "c": lambda op, c: _one_row(c, "max_ced_1826", pl.col("max_ced_1826") * (1 + 1e-5)),
    }
    for op, what in (("b", "days_to_100 (1 patient)"), ("c", "max_ced_1826 (1 patient)")):
        _breaking(monkeypatch, peers, "polars", fixes[op])
        (row,) = peers.run_size(3000, ("polars",), (op,), 1, "int", "random")
        assert row["check"].startswith("FAIL") and what in row["check"], row
        monkeypatch.undo()
        peers = _load(monkeypatch)
    # a patient who reached 100 mSv left out of the answer
    _breaking(monkeypatch, peers, "polars", lambda op, b: b.slice(1))
    (row,) = peers.run_size(3000, ("polars",), ("b",), 1, "int", "random")
    assert row["check"].startswith("FAIL days_to_100 (patients reaching 100 mSv: "), row


def test_a_pandas_answer_with_one_wrong_last_exam_fails_its_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pandas as pd

    peers = _load(monkeypatch)

    def fix(op: str, answer: Any) -> Any:
        out, share = answer
        out = out.copy()
        out.iloc[0, out.columns.get_loc("last_exam")] -= pd.Timedelta(days=1)
        return out, share

    _breaking(monkeypatch, peers, "pandas", fix)
    (row,) = peers.run_size(3000, ("pandas",), ("a",), 1, "str", "random")
    assert row["check"] == "FAIL last_exam (1 patient)", row


def test_duckdb_first_exam_as_the_last_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("duckdb")
    peers = _load(monkeypatch)
    bad = peers._SQL_ABC.replace("MIN(exam_date) AS first_exam", "MAX(exam_date) AS first_exam")
    assert bad != peers._SQL_ABC
    monkeypatch.setattr(peers, "_SQL_ABC", bad)
    (row,) = peers.run_size(3000, ("duckdb",), ("abc",), 1, "int", "random")
    assert row["check"].startswith("FAIL first_exam ("), row


@pytest.mark.parametrize(
    ("ids", "op", "column"),
    [
        ("enum", "a", "ced_msv"),
        ("prepared", "abc", "first_exam"),
        ("int", "b", "days_to_100"),
        ("str", "c", "max_ced_1826"),
    ],
)
def test_recurct_s_own_answer_is_checked(
    monkeypatch: pytest.MonkeyPatch, ids: str, op: str, column: str
) -> None:
    """recurct's answer is checked too, in the rows where it runs alone (``Enum`` ids and
    ``prepare_exams``) as in the others: one wrong value of one patient fails the row."""
    import polars as pl

    peers = _load(monkeypatch)
    change = pl.col(column) + pl.duration(days=1) if column == "first_exam" else pl.col(column) * 2
    if column == "days_to_100":
        change = pl.col(column) + 1
    _breaking(monkeypatch, peers, "recurct", lambda op, r: (_one_row(r[0], column, change), r[1]))
    (row,) = peers.run_size(3000, ("recurct",), (op,), 1, ids, "random")
    assert row["check"].startswith("FAIL") and "(1 patient)" in row["check"], row
    # and its share of patients >= 100 mSv
    monkeypatch.undo()
    peers = _load(monkeypatch)
    _breaking(monkeypatch, peers, "recurct", lambda op, r: (r[0], r[1] + 0.01))
    (row,) = peers.run_size(3000, ("recurct",), ("a",), 1, ids, "random")
    assert row["check"].startswith("FAIL share"), row


@pytest.mark.parametrize("method", ["recurct", "duckdb"])
def test_a_b_answer_without_the_patients_below_100_msv_fails(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """recurct's and DuckDB's answers of op b list every patient, those that never reached
    100 mSv with no day: an answer cut to the patients who reached it fails (the full list
    was compared only where its length differed from theirs, so such an answer passed)."""
    if method == "duckdb":
        pytest.importorskip("duckdb")
    import polars as pl

    peers = _load(monkeypatch)

    def fix(op: str, answer: Any) -> Any:
        if method == "recurct":
            table, share = answer
            return table.filter(pl.col("days_to_100").is_not_null()), share
        import pyarrow.compute as pc

        return answer.filter(pc.is_valid(answer.column("days_to_100")))

    _breaking(monkeypatch, peers, method, fix)
    (row,) = peers.run_size(3000, (method,), ("b",), 1, "int", "random")
    assert row["check"].startswith("FAIL patient ids (b: "), row
    assert "days_to_100" not in row["check"], row  # the reaching patients are all there


def test_a_b_answer_with_null_days_must_list_every_patient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A polars answer of op b lists the patients who reached 100 mSv; one that also lists
    some who did not (with null days) must list them all."""
    import polars as pl

    peers = _load(monkeypatch)
    ids = peers.make_cohort(3000, seed=0).get_column("patient_id").unique()

    def fix(op: str, b: Any) -> Any:
        below = pl.DataFrame({"patient_id": ids.filter(~ids.is_in(b["patient_id"].implode()))})
        return pl.concat([b, below.head(3)], how="diagonal")  # three with null days

    _breaking(monkeypatch, peers, "polars", fix)
    (row,) = peers.run_size(3000, ("polars",), ("b",), 1, "int", "random")
    assert row["check"].startswith("FAIL patient ids (b: "), row


def test_the_prepared_rows_are_checked_against_the_raw_cohort(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference of the ``prepared`` rows is that of the exams before
    ``recurct.prepare_exams``: a prepared table that lost an exam fails (its reference was
    computed from the prepared table itself, and agreed)."""
    peers = _load(monkeypatch)
    real = peers.make_cohort

    def make_cohort(n: int, seed: int = 0, ids: str = "int", order: str = "random",
                    mean_exams: float = 1.9) -> Any:  # fmt: skip
        df = real(n, seed, ids, order, mean_exams)
        return df.slice(1) if ids == "prepared" else df  # one exam lost in the preparation

    monkeypatch.setattr(peers, "make_cohort", make_cohort)
    (row,) = peers.run_size(3000, ("recurct",), ("a",), 1, "prepared", "random")
    assert row["check"].startswith("FAIL"), row
    monkeypatch.setattr(peers, "make_cohort", real)
    (row,) = peers.run_size(3000, ("recurct",), ("a", "abc"), 1, "prepared", "sorted")[1:]
    assert row["check"] == "ok", row


def test_the_reference_is_computed_after_every_measured_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference is not in memory while a call is measured: it is computed after the
    cohort's untimed and timed calls, then one more call per method and op is checked."""
    peers = _load(monkeypatch)
    log: list[str] = []
    real = peers.reference
    monkeypatch.setattr(peers, "reference", lambda df: (log.append("reference"), real(df))[1])
    for m in ("recurct", "polars"):
        _breaking(monkeypatch, peers, m, lambda op, r, m=m: (log.append(f"{m} {op}"), r)[1])
    rows = peers.run_size(2000, ("recurct", "polars"), ("a", "b"), 2, "int", "random")
    measured = 2 * 2 * (1 + 2)  # ops x methods x (the untimed call + 2 timed rounds)
    assert log.index("reference") == measured, log
    assert log[measured + 1 :] == ["recurct a", "polars a", "recurct b", "polars b"], log
    assert all(r["check"] == "ok" for r in rows), rows


def test_the_reference_raises_on_its_own_inconsistency(monkeypatch: pytest.MonkeyPatch) -> None:
    """An internal inconsistency of the reference is an error, not a bare ``assert`` (which
    ``python -O`` drops): here the exams left unsorted by patient."""
    import numpy as np

    peers = _load(monkeypatch)
    cohort = peers.make_cohort(300, seed=2)
    monkeypatch.setattr(np, "lexsort", lambda keys: np.arange(len(keys[0])))
    with pytest.raises(RuntimeError, match=r"patients in the sorted exams but \d+ distinct"):
        peers.reference(cohort)


def test_the_kernel_cohorts_follow_recurct_s_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up's cohorts take their sizes from recurct's own limits (they were written
    out as numbers), and no cohort is larger than the benchmark's largest size."""
    from recurct import _sort, _strings, cumulative

    monkeypatch.setattr(_sort, "_RADIX_MIN", 1 << 10)
    monkeypatch.setattr(_strings, "MIN_ROWS", 5_000)
    monkeypatch.setattr(cumulative, "_BYTE_ROWS", 12_000)
    peers = _load(monkeypatch)
    strings = [(15_000, ids, "random") for ids in ("str", "hex", "uuid", "enum", "prepared")]
    assert list(peers.KERNEL_COHORTS) == [
        (512, "int", "random"), (1024, "int", "random"), (1024, "int", "sorted"), *strings,
    ]  # fmt: skip
    made: list[tuple[int, str, str]] = []
    monkeypatch.setattr(peers, "make_cohort", lambda n, seed, ids, order: made.append(
        (n, ids, order)))  # fmt: skip
    peers.kernel_calls(3_000)
    assert made == [(512, "int", "random"), (1024, "int", "random"), (1024, "int", "sorted"),
                    *((3_000, ids, order) for _, ids, order in strings)]  # fmt: skip


def test_an_answer_without_a_reference_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = _load(monkeypatch)
    rows = peers.run_size(2000, ("recurct", "polars"), ("a",), 1, "int", "random", checked=False)
    assert [r["check"] for r in rows] == ["not checked"] * 2
    assert peers.check(None, {"a": None}) == "not checked"
    assert peers.check(peers.reference(peers.make_cohort(50)), {"share": 0.0}) == "not checked"


def test_the_reference_is_the_naive_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """peers.reference against tests/naive.py's direct loops, on exams with times of day,
    several exams on one day and ties of the same timestamp; recurct agrees with both."""
    import datetime as dt

    import numpy as np
    import polars as pl
    from naive import naive_patients

    import recurct

    peers = _load(monkeypatch)
    cohort = peers.make_cohort(600, seed=3, ids="str")
    again = cohort.sample(150, seed=5)  # more exams on days a patient already has
    rng = np.random.default_rng(5)
    exams = pl.concat([cohort, again]).with_columns(
        pl.col("exam_date").cast(pl.Datetime("us")) + pl.duration(hours=rng.integers(0, 3, 750)),
        pl.col("effective_dose_msv") * 4,
    )
    ref = peers.reference(exams)
    naive = pl.DataFrame(naive_patients(exams, (100.0,), (1826,)))
    epoch = dt.date(1970, 1, 1)

    def days(col: str) -> list[int]:
        return [(d - epoch).days for d in naive[col]]

    a = ref["a"]
    assert a["patient_id"].to_list() == naive["patient_id"].to_list()
    assert a["n"].to_list() == naive["n_exams"].to_list()
    assert a["first"].to_list() == days("first_exam")
    assert a["last"].to_list() == days("last_exam")
    assert np.allclose(a["ced"], naive["ced_msv"], rtol=1e-12, atol=0)
    reached = naive.filter(pl.col("days_to_100").is_not_null())
    assert 10 < reached.height < naive.height
    assert ref["b"]["patient_id"].to_list() == reached["patient_id"].to_list()
    assert ref["b"]["days"].to_list() == reached["days_to_100"].to_list()
    assert np.allclose(ref["c"]["wmax"], naive["max_ced_1826"], rtol=1e-12, atol=0)
    assert ref["share"] == (naive["ced_msv"] >= 100).mean()
    ours = recurct.cumulative_dose(exams, thresholds=100, window_days=1826)
    share = float((ours["ced_msv"] >= 100).mean())
    assert peers.check(ref, peers._normalise("recurct", "abc", (ours, share))) == "ok"


def test_polars_b_counts_the_first_row_s_patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The polars form of op b took the first row's patient as no patient's start (a null
    comparison with the row before it): sorted 64-hex ids put a patient who reaches 100 mSv
    first, and it was missing from the answer."""
    peers = _load(monkeypatch)
    rows = peers.run_size(5000, ("recurct", "polars"), ("b", "abc"), 1, "hex", "sorted")
    assert all(r["check"] == "ok" for r in rows), rows


def test_pandas_gets_string_ids_as_arrow_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = _load(monkeypatch)
    for ids, dtype in (("int", "int64"), ("str", "string"), ("hex", "string"), ("enum", "string")):
        data = peers._Data(peers.make_cohort(200, ids=ids), ("pandas",))
        got = data.pd["patient_id"].dtype
        assert str(got) == dtype, (ids, got)
        if dtype == "string":
            assert got.storage == "pyarrow"


def test_the_machine_line_names_the_peers_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    peers = _load(monkeypatch)
    line = peers.machine()
    assert re.search(
        r"; python [\d.]+, numpy \S+, polars \S+, pandas \S+, pyarrow \S+, duckdb \S+$", line
    ), line
    assert peers._version("no-such-package-here") == "not installed"


def test_the_report_warms_up_first_and_fails_on_a_failed_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every kernel is loaded before the first timed row (whose peak memory would otherwise
    hold that loading), and a row whose check is not "ok" makes the report fail."""
    peers = _load(monkeypatch)
    calls: list[str] = []
    verdict = ["ok"]

    def run_size(n: int, methods: tuple[str, ...], ops: tuple[str, ...], *args: Any,
                 **kwargs: Any) -> list[dict[str, Any]]:  # fmt: skip
        ids, order = args[1], args[2]
        calls.append(f"{order} {ids}")
        return [
            {"n": n, "layout": f"{order} {ids}", "op": op, "method": "recurct",
             "seconds": 0.1, "mexams_s": 1.0, "ratio": 1.0, "peak_mib": 1.0,
             "check": verdict[0], "extra_b": 1.0}
            for op in ops
        ]  # fmt: skip

    monkeypatch.setattr(peers, "bandwidth", lambda: {"read": 1.0, "copy": 1.0,
                        "read_all": 1.0, "copy_all": 1.0, "threads": 1.0})  # fmt: skip

    def compile_times(max_exams: int | None = None) -> Any:
        calls.append(f"compile_times {max_exams}")
        return (1.0, 2.0, 3.0), (0.1, 0.2, 0.3)

    monkeypatch.setattr(peers, "compile_times", compile_times)
    monkeypatch.setattr(peers, "warm_up", lambda methods, max_exams=None: calls.append(
        f"warm_up {max_exams}"))  # fmt: skip
    monkeypatch.setattr(peers, "sorted_table_bytes", lambda n: 1)
    monkeypatch.setattr(peers, "run_size", run_size)
    text, ok = peers.report([1000, 300], ("recurct",), 1, progress=False)
    # the kernels of cohorts no larger than the largest size (not 10^6 exams for --sizes 1e3)
    assert calls[:2] == ["compile_times 1000", "warm_up 1000"], calls
    assert ok and calls[2] == "random int", calls
    assert "every kernel of the table 2.00 s" in text
    # the protocol line states every tolerance, the share's too, and when the reference is made
    assert "the share >= 100 mSv within 1e-12" in text, text
    assert "computed only then, so that it is not in memory during a measured call" in text
    for bad in ("FAIL ced_msv (1 patient)", "not checked"):
        verdict[0] = bad
        assert not peers.report([1000], ("recurct",), 1, progress=False)[1]


def _cache_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc")}


@pytest.mark.slow  # 30 to 60 s: the compile script on an empty cache, then 10^6-exam tables
def test_the_compile_script_compiles_every_kernel_of_the_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After the benchmark's compile script (its "every kernel of the table" figure), a fresh
    process running every layout and operation of the table at 10^6 exams (the benchmark's
    smallest size; recurct's size limits are all at or below it) compiles no kernel more."""
    import os
    import subprocess
    import textwrap

    peers = _load(monkeypatch)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=BENCH, env=env, check=True,
            capture_output=True, text=True,
        ).stdout  # fmt: skip

    first, kernels, process = map(float, run(peers._COMPILE_SCRIPT).split())
    assert first > 0 and 0 < kernels < process
    compiled = _cache_files(tmp_path)
    assert compiled
    probe = """
        from peers import TABLE, make_cohort, op_args
        from recurct.cumulative import cumulative_dose
        for ids, order, ops, _ in TABLE:
            df = make_cohort(10**6, seed=0, ids=ids, order=order)
            for op in ops:
                cumulative_dose(df, **op_args(op))
    """
    run(textwrap.dedent(probe))
    assert _cache_files(tmp_path) == compiled, sorted(_cache_files(tmp_path) - compiled)


# --------------------------------------------------------------------------- the scripts


def _script(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """benchmarks/<name>.py imported afresh (its folder on the path, as when it runs)."""
    _load(monkeypatch)  # `from peers import ...` in the script
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_bench_cumulative_help_has_its_whole_description(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _script(monkeypatch, "bench_cumulative")
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "DuckDB; regenerates ``benchmarks/RESULTS.md``." in out


@pytest.mark.parametrize(
    "name", ["bench_cumulative", "bench_openrem", "bench_rdsr", "bench_read", "bench_scale"]
)
def test_every_bench_script_s_help_is_its_first_paragraph(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """One way in every script (peers.description): the docstring's first paragraph, whole,
    and not the usage notes after it (two scripts printed the whole docstring, reflowed)."""
    bench = _script(monkeypatch, name)
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    first, rest = bench.__doc__.split("\n\n", 1)
    assert " ".join(first.split()) in out
    assert " ".join(rest.split())[:30] not in out


def test_bench_scale_checks_the_crossing_days_and_the_windows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every path's days to 100 mSv and largest windows are compared with the in-memory
    path's and an independent reference's; a path that is off says so; what cannot be
    compared is "not checked"."""
    bench = _script(monkeypatch, "bench_scale")
    folder = tmp_path / "exams"
    meta = bench.write_dataset(folder, 3000)
    memory = {**bench.child_memory(str(folder), 1, None), "path": "memory", "workers": 1}
    chunked = {**bench.child_outofcore(str(folder), 3, str(tmp_path)), "path": "outofcore"}
    chunked["workers"] = 1
    written = {**bench.child_write(str(folder), 2, str(tmp_path)), "path": "write", "workers": 1}
    ref = bench.reference_summary(folder)
    assert memory["n_days"] > 0 and memory["sum_days"] > 0
    assert bench.check([memory, chunked, written], meta, ref) == ([], [])
    for key, value in (("sum_days", chunked["sum_days"] + 365), ("sum_wmax", 0.0),
                       ("n_days", chunked["n_days"] - 1)):  # fmt: skip
        problems, _ = bench.check([memory, {**chunked, key: value}], meta, ref)
        assert len(problems) == 2, problems  # against the in-memory path and the reference
        assert all(p.startswith("outofcore") and key in p for p in problems), problems
    problems, unchecked = bench.check([chunked], meta, None)
    assert problems == [] and len(unchecked) == 2, unchecked


def test_bench_openrem_checks_what_it_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    import polars as pl

    from recurct.io.openrem import read_openrem_ct

    bench = _script(monkeypatch, "bench_openrem")
    path = bench.make_export(60, tmp_path / "export.csv")
    want = bench.expected(path)
    good = read_openrem_ct(path)
    assert want["studies"] == 40 and bench.check(good, want) == []
    exams, events = good.exams, good.events
    date = pl.col("exam_date") + pl.duration(days=1)
    for broken in (
        exams.head(0),
        _one_row(exams, "exam_date", date),
        _one_row(exams, "dlp_mgycm", pl.col("dlp_mgycm") * 1.001),
        _one_row(exams, "patient_id", pl.lit("P999999")),
    ):
        assert bench.check(types.SimpleNamespace(exams=broken, events=events), want)
    assert bench.check(types.SimpleNamespace(exams=exams, events=events.head(5)), want)
    assert bench.main(["--rows", "60", "--repeat", "1"]) == 0
    monkeypatch.setattr(bench, "read_openrem_ct", lambda p: types.SimpleNamespace(
        exams=exams.head(0), events=events.head(0)))  # fmt: skip
    assert bench.main(["--rows", "60", "--repeat", "1"]) == 1
    assert "CHECK FAILED: 0 studies read, the export holds 40" in capsys.readouterr().out


def test_bench_rdsr_checks_its_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import types
    import warnings
    from collections import Counter

    from recurct.io.rdsr import read_rdsr

    bench = _script(monkeypatch, "bench_rdsr")
    assert bench.rounds([1, 2], 3) == [[1, 2], [2, 1], [1, 2]]
    # three worker counts: a Williams design, each after each other twice in six rounds (the
    # rotation of one order put each always after the same one)
    follows = Counter(p for r in bench.rounds([1, 2, 4], 6) for p in pairwise(r))
    assert len(follows) == 6 and set(follows.values()) == {2}, follows
    # the duplicates the fixture documents, not those a read finds: 3 per group of 7 files
    assert [bench.expected_duplicates(n) for n in (7, 10, 11, 300)] == [3, 4, 6, 129]
    for k in range(3):  # each template's own study, however many copies were made before
        (tmp_path / f"again{k}").mkdir()
        assert bench.make_copies(7, tmp_path / f"again{k}") == (7, 5)
    folder = tmp_path / "copies"
    folder.mkdir()
    files, studies = bench.make_copies(10, folder)
    assert (files, studies) == (10, 7)  # a group of 7 reports (5 studies), then 3 (2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = {"files": 10, "exams": 7, "duplicates": bench.expected_duplicates(10)}
        got = read_rdsr(folder, workers=1, progress=False)
    assert want["duplicates"] > 0 and bench.check(got, want) == []
    fewer = types.SimpleNamespace(exams=got.exams.head(6), report=got.report)
    assert bench.check(fewer, want) == ["exams: 6, expected 7"]
    assert bench.check(got, {**want, "duplicates": want["duplicates"] + 1})
    # a reader that never merges the repeated events fails (the expected count came from
    # that reader itself: 0 = 0)
    unmerged = types.SimpleNamespace(files_read=10, files_skipped=0, duplicate_events=0)
    monkeypatch.setattr(bench, "read_rdsr", lambda *a, **k: types.SimpleNamespace(
        exams=got.exams, report=unmerged))  # fmt: skip
    again = {**want, "duplicates": bench.expected_duplicates(10)}
    assert bench.check(bench.read_rdsr(folder), again) == ["duplicates: 0, expected 4"]
    assert bench.main(["--n", "10", "--workers", "1", "--repeat", "1"]) == 1


def test_bench_read_checks_a_timed_read_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timed read whose answer differs (one dose) stops the script, as the first read's."""
    import polars as pl

    bench = _script(monkeypatch, "bench_read")
    real, calls = bench.read_exams, []

    def read_exams(path: Any, **kwargs: Any) -> Any:
        calls.append(path)
        out = real(path, **kwargs)
        if len(calls) == 1:
            return out
        dose = pl.col("effective_dose_msv") * 1.001
        return type(out)(**{**vars(out), "exams": _one_row(out.exams, "effective_dose_msv", dose)})

    monkeypatch.setattr(bench, "read_exams", read_exams)
    monkeypatch.setattr(sys, "argv", ["bench_read.py", "--rows", "300", "--repeat", "1"])
    with pytest.raises(SystemExit, match="comma: column 'effective_dose_msv' differs"):
        bench.main()
    assert len(calls) == 2
