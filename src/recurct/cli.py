"""The ``recurct`` command line.

The parser lives here; each subcommand calls one function in the module that does the work
(``cli_<name>(args) -> int``), which returns the process exit code. Modules are imported only
when their subcommand runs, so ``recurct --help`` is fast.

Every subcommand reports an error the same way: one line ``recurct: <message>`` on stderr (no
traceback), and the exit code :data:`EXIT_USAGE`; see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from recurct._cli_input import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_analysis_options,
    add_input_options,
    cli_error,
)
from recurct._version import __version__
from recurct.errors import RecurctError

#: The exit codes of every subcommand, as ``recurct --help`` lists them.
EXIT_CODES = f"""exit codes (every subcommand):
  {EXIT_OK}  success (validate: the file is clean; reproduce: every figure within tolerance)
  {EXIT_FAILED}  a check ran and failed: validate found problems, reproduce has a figure out of
     tolerance, bench has an answer that differs from recurct's
  {EXIT_USAGE}  bad input or options: unreadable file, unknown study or method, bad value,
     output folder exists; the reason is one line "recurct: <message>" on stderr"""

# subcommand -> module holding cli_<subcommand>(args)
HANDLERS: dict[str, str] = {
    "validate": "recurct._cli_tables",
    "reproduce": "recurct.studies",
    "analyze": "recurct._cli_tables",
    "synth": "recurct.synthetic",
    "bench": "recurct.bench",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the style of the subcommands (``recurct: <message>``)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("recurct").strip()  # the subcommand, if any
        cli_error(f"{command}: {message}" if command else message)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``recurct`` command and its subcommands."""
    parser = _Parser(
        prog="recurct",
        description="Cumulative radiation dose from recurrent CT examinations.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    try:
        return int(getattr(module, f"cli_{args.command}")(args) or EXIT_OK)
    except (RecurctError, OSError) as exc:  # what a handler left uncaught: bad input
        return cli_error(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
