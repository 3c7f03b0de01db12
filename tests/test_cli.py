"""The ``recurct`` command: --help, --version and ``recurct validate``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recurct import __version__
from recurct.cli import main


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: recurct" in out and "validate" in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: recurct" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"recurct {__version__}"


def test_validate_clean_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(data_dir / "exams" / "clean.csv"), "--today", "2024-01-01"])
    out = capsys.readouterr().out
    assert code == 0
    assert "clean.csv: clean" in out
    assert "rows in: 3, rows out: 3, dropped: 0, problems: 0" in out


def test_validate_dirty_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(data_dir / "exams" / "dirty.csv"), "--today", "2024-01-01"])
    out = capsys.readouterr().out
    assert code == 1
    assert "problems found" in out
    assert "rows in: 5, rows out: 1, dropped: 4, problems: 4" in out
    assert "negative dose" in out and "duplicate exam" in out
    assert "row 2 (line 4 of the file), column 'exam_date': unparseable date" in out
    assert "(value: '2019-02-30')" in out


def test_validate_dayfirst_and_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.csv"
    path.write_text("Nr;Datum;Dosis\n1;31.12.2019;1,5\n2;01.01.2020;2\n")
    args = ["validate", str(path), "--map", "Nr=patient_id", "--map", "Datum=exam_date"]
    assert main([*args, "--map", "Dosis=effective_dose_msv"]) == 2  # no --dayfirst
    err = capsys.readouterr().err
    assert "dayfirst" in err and "site.csv" in err
    assert main([*args, "--dayfirst", "--today", "2019-12-31"]) == 1
    out = capsys.readouterr().out
    assert "row 1 (line 3 of the file), column 'exam_date': date after today" in out
    assert "'Nr' -> patient_id" in out


def test_validate_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("Patient ID,Dose\n1,2\n")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "'exam_date': missing column" in out and "--map" in out


def test_validate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["validate", str(tmp_path), "--map", "oops"]) == 2
    assert "THEIRS=OURS" in capsys.readouterr().err


def test_installed_script(data_dir: Path) -> None:
    exe = shutil.which("recurct") or str(Path(sys.executable).parent / "recurct")
    dirty = str(data_dir / "exams" / "dirty.csv")
    result = subprocess.run(
        [exe, "validate", dirty, "--today", "2024-01-01"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "dropped: 4" in result.stdout


@pytest.mark.parametrize(
    "module", ["recurct.cli", "recurct.synthetic.calibration", "recurct.studies.validate"]
)
def test_module_commands_run(module: str) -> None:
    """``python -m`` of the command line and of the two maintainers' commands (thin wrappers
    of recurct.cli._maintenance)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    run = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: ")
    assert ("python -m " + module) in run.stdout or module == "recurct.cli"
