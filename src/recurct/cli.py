"""The ``recurct`` command line.

The parser lives here; each subcommand calls one function in the module that does the work
(``cli_<name>(args) -> int``), which returns the process exit code. Modules are imported only
when their subcommand runs, so ``recurct --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from recurct._cli_input import add_analysis_options, add_input_options
from recurct._version import __version__

# subcommand -> module holding cli_<subcommand>(args)
HANDLERS: dict[str, str] = {
    "validate": "recurct._cli_tables",
    "reproduce": "recurct.studies",
    "analyze": "recurct._cli_tables",
    "synth": "recurct.synthetic",
    "bench": "recurct.bench",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``recurct`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="recurct",
        description="Cumulative radiation dose from recurrent CT examinations.",
    )
    parser.add_argument("--version", action="version", version=f"recurct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "validate", help="check an exam file: schema, and effective dose where it is missing"
    )
    p.add_argument("file", help="CSV or Parquet exam file, a folder of Parquet, or OpenREM export")
    add_input_options(p)

    p = sub.add_parser("reproduce", help="reproduce a published study and compare figures")
    p.add_argument("study", help="rehani2020, eurosafe2021 or sodickson2009")
    p.add_argument("--exams", default=None, help="run the study's analysis on your exam file")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic cohort")
    p.add_argument(
        "--seeds",
        default=None,
        metavar="N | A-B | A,B,...",
        help="run on several seeds (20: seeds 0-19; 100-119: a range; 1,5,9: a list) and "
        "print each figure's mean, SD and share of seeds within tolerance",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default results/STUDY/, or results/STUDY-seeds/ with --seeds)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing non-empty --out folder whole (default: refuse; the default "
        "folder is refreshed when it holds an earlier reproduce result)",
    )
    add_input_options(p)

    p = sub.add_parser("analyze", help="magnitude table of your own exam file")
    p.add_argument("file", help="CSV or Parquet exam file, a folder of Parquet, or OpenREM export")
    p.add_argument(
        "--out",
        default=None,
        help="write the table: .csv (the printed numbers and labels, all columns), or .md, "
        ".tex, .xlsx ('n (%%, 95%% CI)' cells for a paper)",
    )
    add_analysis_options(p)
    add_input_options(p)

    p = sub.add_parser("synth", help="generate a synthetic exam cohort")
    p.add_argument("profile", help="rehani2020, eurosafe2021, sodickson2009 or small")
    p.add_argument("--n-patients", type=int, default=None, help="override the cohort size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for partitioned Parquet")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing non-empty --out folder whole (default: refuse)",
    )

    p = sub.add_parser("bench", help="benchmark cumulative dose vs polars, pandas, DuckDB")
    p.add_argument("--sizes", default="1e6", help="comma-separated exam counts, e.g. 1e6,1e7")
    p.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    p.add_argument("--methods", default=None, help="comma-separated subset of methods")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recurct`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(HANDLERS[args.command])
    return int(getattr(module, f"cli_{args.command}")(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
