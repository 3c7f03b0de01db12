"""The one error style and the exit codes of every ``recurct`` subcommand.

An error is one line ``recurct: <message>`` on stderr (no traceback) and exit code
:data:`EXIT_USAGE`, and so is an optional dependency that the command needs and that is not
installed (:func:`missing_extra`: openpyxl for an ``.xlsx`` file, pydicom for dose reports;
the message says what to install); a check that ran and failed (``validate`` found problems,
``reproduce`` has a counted figure out of tolerance) exits with :data:`EXIT_FAILED`. An
error recurct did not expect (a bug) is one line ``recurct: internal error: ...`` and
:data:`EXIT_INTERNAL`, never reported as a failed check; ``RECURCT_DEBUG=1`` (or ``recurct
--debug COMMAND ...``) shows its traceback.
"""

from __future__ import annotations

import os
import re
import sys

from recurct.errors import InputError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "InputError",
    "cli_error",
    "debug_requested",
    "internal_error",
    "missing_extra",
]

#: Exit codes of every ``recurct`` subcommand: success; a check that ran and failed (problems
#: found, a counted figure out of tolerance); bad input or options.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Exit code after Ctrl-C (128 + SIGINT, as a shell reports a process it stopped): one line
#: ``recurct: interrupted``, no traceback; an output is complete (old or new) or absent: one
#: being written is removed, and one replacing an old output (``--overwrite``) finishes
#: renaming the new folder into place first; an old folder whose removal is stopped is left
#: beside it, named in a warning (:mod:`recurct._outdir`).
EXIT_INTERRUPTED = 130
#: Exit code after SIGTERM (``kill PID``; 128 + SIGTERM): one line ``recurct: terminated``, and
#: an output is complete (old or new) or absent, as after Ctrl-C.
EXIT_TERMINATED = 143
#: Exit code of an error recurct did not expect (a bug: please report it), as sysexits.h's
#: ``EX_SOFTWARE``; distinct from a failed check (1) and from bad input (2).
EXIT_INTERNAL = 70

#: The environment variable that, set to ``1``, shows the traceback of an internal error.
DEBUG_VARIABLE = "RECURCT_DEBUG"

#: The exit codes of every subcommand, as ``recurct --help`` lists them.
EXIT_CODES = f"""exit codes (every subcommand):
  {EXIT_OK}  success (validate: the file is clean; reproduce: every counted figure within
     tolerance; with --exams nothing from your file is compared)
  {EXIT_FAILED}  a check ran and failed: validate found problems, reproduce has a counted figure
     out of tolerance or a cohort whose design differs from the paper's
  {EXIT_USAGE}  bad input or options: unreadable file, unknown study or profile, bad value,
     output exists or cannot be written, or an optional dependency the command needs is not
     installed; the reason is one line "recurct: <message>" on stderr
  {EXIT_INTERNAL}  internal error (a bug in recurct: please report it): one line "recurct: internal
      error: ..."; {DEBUG_VARIABLE}=1, or recurct --debug COMMAND ..., shows the traceback
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): "recurct: interrupted"; an output is complete (old or
       new) or absent
  {EXIT_TERMINATED}  terminated (SIGTERM): "recurct: terminated"; an output is complete (old or
       new) or absent"""


#: a library message's argument spellings, and what a command-line user passes instead
_CLI_HINTS = (
    ("(pass fallback= or fallback_table=)", "(pass --fallback REGION=OTHER or --fallback TABLE)"),
    ("(pass fallback={region: other})", "(pass --fallback REGION=OTHER)"),
    ("recurct.dose.normalise_region", "a canonical region name or --map"),
    ("columns= maps", "--map maps"),
    ("pass dayfirst=True (--dayfirst)", "pass --dayfirst"),
    ("pass decimal=',' (CLI: --decimal ,)", "pass --decimal ,"),
    ("pass decimal='.' (CLI: --decimal .)", "pass --decimal ."),
    ("decimal='.' or decimal=',' (CLI: --decimal . or --decimal ,)", "--decimal . or --decimal ,"),
    # the argument itself (recurct._validation.DECIMAL_REMEDY: "pass decimal='.' or ...")
    ("decimal='.' or decimal=','", "--decimal . or --decimal ,"),
    (
        "pass dayfirst=True for dd/mm/yyyy or dayfirst=False for mm/dd/yyyy",
        "pass --dayfirst for dd/mm/yyyy (mm/dd/yyyy: convert the dates first)",
    ),
    ("pass overwrite=True (--overwrite)", "pass --overwrite"),
    ("pass overwrite=True", "pass --overwrite"),
    ("(columns={...})", "(--map THEIRS=OURS)"),
    ("more (see .problems)", "more (not shown)"),
)

#: ``columns={'theirs': 'ours'}`` in a library message: ``--map "theirs=ours"`` on the CLI.
_COLUMNS_ARG = re.compile(r"columns=\{'([^']*)': '([^']*)'\}")


def _cli_text(reason: str) -> str:
    """A library message in the words of the command line: its argument spellings
    (``overwrite=True``, ``columns={...}``, ``dayfirst=True``, ...) become the options."""
    for old, new in _CLI_HINTS:
        reason = reason.replace(old, new)
    return _COLUMNS_ARG.sub(r'--map "\1=\2"', reason)


def cli_error(message: str) -> int:
    """Write ``recurct: <message>`` to stderr, the one error style of every subcommand, and
    return :data:`EXIT_USAGE` (for ``return cli_error(...)``). A library message's argument
    spellings (``overwrite=True``, ``columns={...}``) become the command's options."""
    sys.stderr.write(f"recurct: {_cli_text(message)}\n")
    return EXIT_USAGE


def debug_requested() -> bool:
    """Whether ``RECURCT_DEBUG`` asks for tracebacks (set, and not ``0``, ``false`` or empty)."""
    value = os.environ.get(DEBUG_VARIABLE, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def missing_extra(exc: BaseException) -> bool:
    """Whether ``exc`` is recurct's ``ImportError`` for an optional dependency that is not
    installed (``"reading OpenREM .xlsx exports needs openpyxl: pip install openpyxl"``):
    raised by recurct's own code, its message says what to install. Not a bug in recurct
    but the environment's: the CLI reports it as an error (:data:`EXIT_USAGE`), not an
    internal one."""
    if not isinstance(exc, ImportError) or "pip install" not in str(exc):
        return False
    tb = exc.__traceback__
    module = ""
    while tb is not None:  # the frame that raised it
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return module == "recurct" or module.startswith("recurct.")


def internal_error(exc: BaseException) -> int:
    """Report an error recurct did not expect as one line ``recurct: internal error: <type>:
    <message> (...)`` and return :data:`EXIT_INTERNAL`."""
    message = " ".join(str(exc).split()) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    cli_error(
        f"internal error: {type(exc).__name__}: {message} (a bug in recurct: please report it; "
        f"run with {DEBUG_VARIABLE}=1 or recurct --debug COMMAND ... for the traceback)"
    )
    return EXIT_INTERNAL
