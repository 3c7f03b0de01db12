"""Helpers of the CLI tests: run ``recurct.cli.main`` and read its one error line."""

from __future__ import annotations

from recurct.cli import main


def run_cli(args: list[str]) -> int:
    """``main(args)``, with argparse's exit turned into its exit code."""
    try:
        return main(args)
    except SystemExit as exc:  # argparse errors exit
        return int(exc.code or 0)


def one_error_line(err: str) -> str:
    """The one ``recurct: ...`` line of ``err`` (no traceback, no second message)."""
    assert "Traceback" not in err
    messages = [ln for ln in err.splitlines() if ln.startswith("recurct: ")]
    assert len(messages) == 1, err
    return messages[0]
