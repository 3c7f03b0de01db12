"""Benchmark of recurct.cumulative_dose against polars, pandas and DuckDB.

Usage: ``python benchmarks/bench_cumulative.py --sizes 1e6,1e7 --repeat 3 [--methods ...]``
(the same as ``recurct bench``). See :mod:`recurct.bench` for what is measured.
"""

from __future__ import annotations

import sys

from recurct.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
