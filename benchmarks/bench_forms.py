"""Both forms of the two peer choices made after run K, timed side by side at 10^6 exams.

* pandas with string ids as ``string[pyarrow]`` (peers._to_pandas, the form the benchmark
  uses) against the object dtype of ``polars.DataFrame.to_pandas()`` (run K's form):
  record numbers (``str``) and 64-hex pseudonyms (``hex``), operations ``a`` and ``abc``;
* polars sorting with ``maintain_order=False`` (the benchmark's form) against ``True`` (run
  K's): integer ids, operations ``b`` and ``abc``.

Each form runs the benchmark's own runner (benchmarks/peers.py) on the benchmark's cohort
(``make_cohort(n, seed=0)``, random row order). Per cohort: one untimed call of each form,
its answer checked against ``peers.reference``; then ``--repeat`` rounds, each form timed
once per round, the forms' order reversed every other round (interleaved: neither form
always runs first); best of the rounds, the slowest beside it. Prints the machine line, the
command and the load average before and after; one line per form.

    python benchmarks/bench_forms.py --n 1e6 --repeat 5

Record with it the commit measured (``git rev-parse HEAD``). Measured 2026-11-29 at commit
21f293d: benchmarks/RESULTS.md ("Figures quoted in README").
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e6, help="exams per cohort (1e6)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds, best of them (5)")
    ap.add_argument(
        "--bench", default=str(Path(__file__).resolve().parent), help="folder of peers.py"
    )
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(args.bench).resolve()))
    import peers
    import polars as pl

    import recurct

    n, repeat = int(args.n), max(1, args.repeat)

    def polars_kept(data: Any, op: str) -> Any:
        """peers._polars with the sort of run K (``maintain_order=True``)."""
        s = data.pl.sort("patient_id", "exam_date", maintain_order=True)
        if op == "b":
            return peers._polars_b(s)
        s = s.with_columns(pl.col("patient_id").set_sorted())
        return peers._polars_a(s, lazy=False), peers._polars_b(s), peers._polars_c(s)

    # (method, ids, ops, [(form label, runner, how the data is made)])
    def arrow(df: pl.DataFrame) -> Any:
        return peers._Data(df, ("pandas",))

    def obj(df: pl.DataFrame) -> Any:
        data = peers._Data(df, ())
        data.pd = df.to_pandas()  # run K's form: object dtype
        assert str(data.pd["patient_id"].dtype) == "object", data.pd["patient_id"].dtype
        return data

    def plain(df: pl.DataFrame) -> Any:
        return peers._Data(df, ())

    groups: list[tuple[str, str, tuple[str, ...], list[tuple[str, Callable, Callable]]]] = [
        ("pandas", ids, ("a", "abc"), [
            ("string[pyarrow]", peers._pandas, arrow),
            ("object", peers._pandas, obj),
        ])
        for ids in ("str", "hex")
    ]  # fmt: skip
    groups.append(("polars", "int", ("b", "abc"), [
        ("maintain_order=False", peers._polars, plain),
        ("maintain_order=True", polars_kept, plain),
    ]))  # fmt: skip

    print(f"machine: {peers.machine()}")
    print(
        f"recurct {recurct.__version__} ({Path(recurct.__file__).parent}), peers {peers.__file__}"
    )
    print(f"command: python {' '.join(sys.argv)}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    failed = False
    for method, ids, ops, forms in groups:
        cohort = peers.make_cohort(n, seed=0, ids=ids, order="random")
        ref = peers.reference(cohort)
        datas = [make(cohort) for _, _, make in forms]
        for op in ops:
            verdicts = []
            for (_, run, _), data in zip(forms, datas, strict=True):  # untimed, checked
                verdicts.append(peers.check(ref, peers._normalise(method, op, run(data, op))))
            times: list[list[float]] = [[] for _ in forms]
            for rnd in range(repeat):
                order = list(range(len(forms)))
                for k in order if rnd % 2 == 0 else order[::-1]:
                    gc.collect()
                    t0 = time.perf_counter()
                    forms[k][1](datas[k], op)
                    times[k].append(time.perf_counter() - t0)
            for (label, _, _), ts, verdict in zip(forms, times, verdicts, strict=True):
                failed |= verdict != "ok"
                print(
                    f"{method} | N={n:.0e} random {ids} | op {op:<3} | {label:<20} | best of "
                    f"{repeat} {min(ts):.3f} s (slowest {max(ts):.3f} s) | rounds "
                    f"{', '.join(f'{t:.3f}' for t in ts)} | check {verdict}",
                    flush=True,
                )
        del cohort, ref, datas
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
