"""The one error style and the exit codes of every ``recurct`` subcommand.

An error is one line ``recurct: <message>`` on stderr (no traceback) and exit code
:data:`EXIT_USAGE`; a check that ran and failed (``validate`` found problems, ``reproduce`` has
a figure out of tolerance) exits with :data:`EXIT_FAILED`.
"""

from __future__ import annotations

import sys

from recurct.errors import InputError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "InputError",
    "cli_error",
]

#: Exit codes of every ``recurct`` subcommand: success; a check that ran and failed (problems
#: found, a figure out of tolerance); bad input or options.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Exit code after Ctrl-C (128 + SIGINT, as a shell reports a process it stopped): one line
#: ``recurct: interrupted``, no traceback; an output folder is left as it was.
EXIT_INTERRUPTED = 130

#: The exit codes of every subcommand, as ``recurct --help`` lists them.
EXIT_CODES = f"""exit codes (every subcommand):
  {EXIT_OK}  success (validate: the file is clean; reproduce: every figure within tolerance)
  {EXIT_FAILED}  a check ran and failed: validate found problems, reproduce has a figure out of
     tolerance
  {EXIT_USAGE}  bad input or options: unreadable file, unknown study or profile, bad value,
     output folder exists; the reason is one line "recurct: <message>" on stderr
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): "recurct: interrupted"; an output folder is left as it
     was"""


def cli_error(message: str) -> int:
    """Write ``recurct: <message>`` to stderr, the one error style of every subcommand, and
    return :data:`EXIT_USAGE` (for ``return cli_error(...)``)."""
    sys.stderr.write(f"recurct: {message}\n")
    return EXIT_USAGE
