"""The warnings given while the CLI reads a file become notes, never raw Python warnings.

A Study Time that is none of the accepted forms (``25:99``) is left out and its exam kept at
its date: ``recurct validate`` stays clean (exit 0) but says so beside "clean", and both
``validate`` and ``analyze`` print a note naming the line, never a warning with a source line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HEADER = "Patient ID;Study Date;Study Time;Effective Dose (mSv)\n"
BAD_TIME = HEADER + "A;2021-01-01;25:99;5,0\nA;2021-01-01;08:00;6,0\n"


def _run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """:func:`run_cli` with every warning recorded (not raised, as the test settings would):
    a warning that escapes the command is written to ``err``, as Python writes it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = run_cli(args)
    out, err = capfd.readouterr()
    shown = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    )
    return code, out, err + shown


def _no_raw_warning(err: str) -> None:
    assert "Warning:" not in err, err
    assert ".py:" not in err, err


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def test_validate_bad_time_is_a_note(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "h.csv", BAD_TIME)
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert err == ""
    assert code == 0  # the exam is kept with its date: the time is an optional refinement
    lines = out.splitlines()
    assert lines[0] == f"{path}: clean (1 time of day not read: line 2)"
    note = next(ln for ln in lines if ln.startswith("note: "))
    assert "'Study Time'" in note and "line 2 of the file" in note and "'25:99'" in note
    assert path not in note  # the file is named once, on the first line
    assert "rows out: 2, dropped: 0" in out  # no exam lost


def test_analyze_bad_time_is_a_note(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "h.csv", BAD_TIME)
    code, out, err = _run(["analyze", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert err == ""
    assert code == 0
    assert "note: column 'Study Time': 1 time(s) of day" in out
    assert "line 2 of the file" in out and "'25:99'" in out
    assert f"{path}: 2 exams, 1 patients" in out


def test_several_bad_times_counted_with_their_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    text = HEADER + "A;2021-01-01;8.15;1\nA;2021-01-02;08:00;1\nB;2021-01-01;2400;1\n"
    path = _write(tmp_path, "t.csv", text)
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 0
    assert out.splitlines()[0] == f"{path}: clean (2 times of day not read: lines 2, 4)"


def test_clean_file_unchanged(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "ok.csv", HEADER + "A;2021-01-01;07:30;5,0\nA;2021-01-01;08:00;6\n")
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"{path}: clean"
    assert "note" not in out


def test_bad_time_with_problems_still_noted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With other problems the file is not clean (exit 1); the time is still a note."""
    path = _write(tmp_path, "p.csv", BAD_TIME + "A;2021-01-02;08:00;-1\n")
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 1
    assert out.splitlines()[0] == f"{path}: problems found"
    assert "note: column 'Study Time'" in out


def test_bad_time_before_a_read_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be used (no patient id) still says what reading warned of."""
    path = _write(
        tmp_path, "n.csv", "Study Date;Study Time;Effective Dose (mSv)\n2021-01-01;25:99;5\n"
    )
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 1 and "required column(s) missing" in out
    assert "note: column 'Study Time'" in out
    code, out, err = _run(["analyze", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 2 and "required column(s) missing" in err
    assert "note: column 'Study Time'" in err and err.startswith("recurct: ")


def test_identifier_warning_is_a_note(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "s.csv", HEADER + " A ;2021-01-01;07:30;5\nA;2021-01-02;08:00;6\n")
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 0
    assert out.splitlines()[0] == f"{path}: clean (1 warning while reading, see the notes)"
    assert "note: patient_id: removed surrounding whitespace from 1 id(s)" in out
    code, out, err = _run(["analyze", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 0 and "1 patients" in out and "note: patient_id" in out


def test_openrem_rows_left_out_are_a_note(
    data_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    text = (data_dir / "openrem" / "ct_export_pid.csv").read_text()
    n_commas = text.splitlines()[0].count(",")
    path = _write(tmp_path, "o.csv", text.rstrip("\n") + "\n" + "," * n_commas + "\n")
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 0
    assert out.splitlines()[0] == f"{path}: clean (1 warning while reading, see the notes)"
    note = next(ln for ln in out.splitlines() if ln.startswith("note: "))
    assert "not studies, left out" in note and ".report.problems" not in note


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad=st.lists(st.booleans(), min_size=1, max_size=6))
def test_summary_names_the_lines_of_the_bad_times(
    bad: list[bool], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = [f"P{i};2021-01-{i + 1:02d};{'25:99' if b else '08:00'};1\n" for i, b in enumerate(bad)]
    path = _write(tmp_path, "x.csv", HEADER + "".join(rows))
    code, out, err = _run(["validate", path, "--today", "2024-01-01"], capfd)
    _no_raw_warning(err)
    assert code == 0
    at = [str(i + 2) for i, b in enumerate(bad) if b]
    if not at:
        assert out.splitlines()[0] == f"{path}: clean"
    else:
        n = len(at)
        word = "time" if n == 1 else "times"
        where = ("line " if n == 1 else "lines ") + ", ".join(at)
        assert out.splitlines()[0] == f"{path}: clean ({n} {word} of day not read: {where})"


def test_command_line_prints_no_python_warning(tmp_path: Path) -> None:
    """The installed command, with Python's own warning filters: stderr stays empty."""
    path = _write(tmp_path, "h.csv", BAD_TIME)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    run = subprocess.run(
        [sys.executable, "-m", "recurct.cli", "validate", path, "--today", "2024-01-01"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "clean (1 time of day not read: line 2)" in run.stdout
