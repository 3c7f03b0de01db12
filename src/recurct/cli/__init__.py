"""The ``recurct`` command line: the parser, and every subcommand's handler in this package.

:data:`HANDLERS` maps each subcommand to its handler, a function ``(args) -> int`` returning the
process exit code: ``validate`` and ``analyze`` (:mod:`recurct.cli._tables`), ``reproduce``
(:mod:`recurct.cli._reproduce`), ``synth`` (:mod:`recurct.cli._synth`). A handler's module is
imported only when its subcommand runs, so ``recurct --help`` is fast. The options shared by
several subcommands are in :mod:`recurct.cli._options`, the reading of an exam file with them in
:mod:`recurct.cli._input`.

Every subcommand reports an error the same way (:mod:`recurct.cli._errors`): one line
``recurct: <message>`` on stderr (no traceback), and the exit code :data:`EXIT_USAGE` (an
optional dependency that is not installed too: the message says what to install); a check
that ran and failed exits with :data:`EXIT_FAILED`; an error recurct did not expect (a bug) is
one line ``recurct: internal error: ...`` and :data:`EXIT_INTERNAL` (``RECURCT_DEBUG=1`` or
``recurct --debug COMMAND ...`` shows its traceback); Ctrl-C exits with
:data:`EXIT_INTERRUPTED`, SIGTERM with :data:`EXIT_TERMINATED`; see :data:`EXIT_CODES`.
Run it as ``recurct ...``, ``python -m recurct ...`` or ``python -m recurct.cli ...``.

Its output may be cut short by the reader: ``recurct analyze FILE --out t.csv | head -1``
writes ``t.csv`` whole and exits as it would have (0 on success); what is printed after the
reader closed the pipe is discarded (standard output goes to the null device), as the Python
documentation recommends for a broken pipe, instead of an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from recurct._version import __version__
from recurct.cli._errors import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    cli_error,
    debug_requested,
    internal_error,
    missing_extra,
)
from recurct.cli._options import add_analysis_options, add_input_options, nonnegative_int
from recurct.errors import RecurctError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "HANDLERS",
    "REMOVED",
    "build_parser",
    "cli_error",
    "main",
]

#: subcommand -> (module, function) of its handler ``(args: argparse.Namespace) -> int``.
HANDLERS: dict[str, tuple[str, str]] = {
    "validate": ("recurct.cli._tables", "cli_validate"),
    "reproduce": ("recurct.cli._reproduce", "cli_reproduce"),
    "analyze": ("recurct.cli._tables", "cli_analyze"),
    "synth": ("recurct.cli._synth", "cli_synth"),
}

#: Subcommands that recurct 0.2 removed -> what to run instead.
REMOVED: dict[str, str] = {
    "bench": "the benchmark is `python benchmarks/bench_cumulative.py --sizes 1e6,1e7` in a "
    "clone of the repository (its peer runners are benchmarks/peers.py)",
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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an internal error (as RECURCT_DEBUG=1 does)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_validate(sub)
    _add_reproduce(sub)
    _add_analyze(sub)
    _add_synth(sub)
    return parser


_Sub = argparse._SubParsersAction  # the type of ``add_subparsers()``


def _add_validate(sub: _Sub) -> None:
    p = sub.add_parser(
        "validate", help="check an exam file: schema, and effective dose where it is missing"
    )
    p.add_argument("file", help="CSV or Parquet exam file, a folder of Parquet, or OpenREM export")
    add_input_options(p)


def _add_reproduce(sub: _Sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a published study and compare figures",
        description="Reproduce a published study on its calibrated synthetic cohort (or run "
        "its analysis on your exam file) and compare the figures with the paper. Exit code 0: "
        "every counted figure is within its tolerance (sample extremes outside their range, "
        "uninformative verdicts and derived rows do not count; with --exams nothing computed "
        "from your file is compared, so the exit code says nothing about it); 1: a counted "
        "figure is outside its tolerance, or the cohort's design differs from the paper's "
        "(a reduced cohort without one of its institutions).",
    )
    p.add_argument("study", help="rehani2020, eurosafe2021 or sodickson2009")
    p.add_argument("--exams", default=None, help="run the study's analysis on your exam file")
    p.add_argument(
        "--seed",
        type=nonnegative_int,
        default=None,
        help="seed of the synthetic cohort (default 0; not with --seeds or --exams)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        metavar="N | A-B | A,B,...",
        help="run on several seeds (20: seeds 0-19; 100-119: a range; 1,5,9: a list; at "
        "most 10,000) and print each figure's mean, SD and share of seeds within tolerance",
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


def _add_analyze(sub: _Sub) -> None:
    p = sub.add_parser("analyze", help="magnitude table of your own exam file")
    p.add_argument("file", help="CSV or Parquet exam file, a folder of Parquet, or OpenREM export")
    p.add_argument(
        "--out",
        default=None,
        help="write the table: .csv (the printed numbers and labels, all columns), or .md, "
        ".tex, .xlsx ('n (%%, 95%% CI)' cells for a paper)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file (default: refuse)",
    )
    add_analysis_options(p)
    add_input_options(p)


def _add_synth(sub: _Sub) -> None:
    p = sub.add_parser("synth", help="generate a synthetic exam cohort")
    p.add_argument(
        "profile",
        help="a shipped profile (rehani2020, eurosafe2021, sodickson2009, small) or the path "
        "of a profile .toml file",
    )
    p.add_argument(
        "--n-patients", type=nonnegative_int, default=None, help="override the cohort size"
    )
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--out", default=None, help="folder for partitioned Parquet")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing non-empty --out folder whole (default: refuse)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recurct`` command; returns the exit code (:data:`EXIT_CODES`).

    An error a handler raises on purpose (a :class:`~recurct.errors.RecurctError`, or an
    ``OSError`` reading or writing a file) is one line and :data:`EXIT_USAGE`, and so is an
    optional dependency the command needs that is not installed (recurct's ``ImportError``
    saying what to install, :func:`~recurct.cli._errors.missing_extra`); any other
    exception is an internal error: one line and :data:`EXIT_INTERNAL` (its traceback with
    ``--debug`` or ``RECURCT_DEBUG=1``). Ctrl-C and SIGTERM end the command with one line and
    :data:`EXIT_INTERRUPTED` or :data:`EXIT_TERMINATED`, after the output being written is
    removed (an output is complete or absent). Standard output closed by its reader (``|
    head``) is not an error: what is printed after is discarded, and the exit code is the
    command's.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    stdout = sys.stdout
    guarded = _PipeGuard(stdout)
    if stdout is not None:  # (no standard output at all: pythonw)
        sys.stdout = guarded  # type: ignore[assignment]
    try:
        # imported inside the try: Ctrl-C while it loads is one line too, not a traceback
        from recurct._outdir import terminate_as_exit

        with terminate_as_exit():  # SIGTERM: SystemExit(143), so that cleanups run
            if words and words[0] in REMOVED:
                return cli_error(f"{words[0]}: removed in recurct 0.2; {REMOVED[words[0]]}")
            parser = build_parser()
            args = parser.parse_args(words)
            if args.command is None:
                parser.print_help()
                return EXIT_OK
            return _run(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (output folders are intact)
        cli_error("interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse's exits pass; SIGTERM is one line
        if exc.code != EXIT_TERMINATED:
            raise
        cli_error("terminated")
        return EXIT_TERMINATED
    except Exception as exc:  # the last resort: a bug, never reported as a failed check
        if missing_extra(exc):  # an optional dependency not installed: not a bug
            return cli_error(str(exc))
        if debug_requested() or getattr(args, "debug", False):
            raise
        return internal_error(exc)
    finally:
        if sys.stdout is guarded:
            guarded.flush()
            sys.stdout = stdout


class _PipeGuard:
    """Standard output whose reader may close it (``recurct ... | head -1``): a write or
    flush that meets the closed pipe sends the rest to the null device instead of raising
    ``BrokenPipeError``, so that the command carries on (an ``--out`` is still written) and
    exits with its own code."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            _to_devnull(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _to_devnull(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _to_devnull(stream: Any) -> None:
    """Point ``stream``'s file descriptor at the null device (what the reader of a closed
    pipe would not read anyway), so that later writes and the flush at exit succeed."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a captured stream)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _run(args: argparse.Namespace) -> int:
    """Run the handler of ``args.command``; an error it raised on purpose is one line. The
    inputs it noted (:func:`recurct._outdir.note_input`) are this command's only."""
    from recurct._outdir import forget_inputs

    module, function = HANDLERS[args.command]
    handler = getattr(importlib.import_module(module), function)
    try:
        return int(handler(args))
    except (RecurctError, OSError) as exc:  # what a handler left uncaught: bad input
        return cli_error(str(exc))
    finally:
        forget_inputs()
