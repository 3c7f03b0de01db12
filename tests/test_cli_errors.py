"""Every ``recurct`` subcommand reports bad input the same way: one line ``recurct: <message>``
on stderr, no traceback, exit code 2 (1 is a check that ran and failed, 0 success); and the
benchmark runners work without their optional peers (DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recurct.cli import EXIT_CODES, build_parser, main


def _bad_calls(tmp_path: Path) -> list[list[str]]:
    missing = str(tmp_path / "none.csv")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    return [
        ["validate", missing],
        ["validate", missing, "--map", "oops"],
        ["validate", missing, "--adult-from", "x"],  # argparse: not a number
        ["analyze", missing],
        ["analyze", missing, "--out", str(tmp_path / "t.docx")],
        ["reproduce", "nosuchstudy"],
        ["reproduce", "rehani2020", "--seeds", "5-2"],
        ["reproduce", "rehani2020", "--exams", missing],
        ["synth", "nosuchprofile"],
        ["synth", "small", "--n-patients", "5", "--out", str(full)],  # exists, not empty
        ["bench", "--methods", "recurct,nosuchmethod"],
        ["bench", "--sizes", "many"],
        ["bench", "--nosuchoption"],
        ["nosuchcommand"],
    ]


def test_each_subcommand_has_a_bad_call(tmp_path: Path) -> None:
    tried = {call[0] for call in _bad_calls(tmp_path)}
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands <= tried


@pytest.mark.parametrize("k", range(14))
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(
    k: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call = _bad_calls(tmp_path)[k]
    try:
        code = main(call)
    except SystemExit as exc:  # argparse errors exit
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2, (call, captured.err)
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    messages = [ln for ln in lines if not ln.startswith(("usage:", " "))]
    assert messages, captured.err
    assert all(ln.startswith("recurct: ") for ln in messages), captured.err
    assert "Traceback" not in captured.err
    assert "recurct: " not in captured.out


def test_a_failed_check_is_exit_code_1(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(data_dir / "exams" / "dirty.csv"), "--today", "2024-01-01"])
    assert code == 1
    assert "problems found" in capsys.readouterr().out


def test_exit_codes_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert EXIT_CODES.splitlines()[0] in out
    for code in ("0", "1", "2"):
        assert f"\n  {code}  " in out
