"""Output folders and command-line edges (audit 16): an output inside, at or around an input;
a target folder created by someone else while recurct wrote; internal errors and SIGTERM on
the command line; ``analyze --out`` and ``--overwrite``; an output path that cannot be
created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from cli_helpers import one_error_line, run_cli
from hypothesis import given
from hypothesis import strategies as st

from recurct import _outdir
from recurct._outdir import (
    OutputExistsError,
    check_inputs,
    check_output,
    check_target,
    output_folder,
)
from recurct.cli import EXIT_CODES, main
from recurct.errors import ParameterError

SRC = Path(_outdir.__file__).resolve().parents[1]  # the recurct under test


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``recurct reproduce``'s computation records that it ran: a refusal comes before it."""
    import recurct.cli._reproduce as cli_reproduce

    ran: list[str] = []

    def computed(*args: object, **kwargs: object) -> None:
        ran.append("computed")
        raise RuntimeError("the computation ran")

    monkeypatch.setattr(cli_reproduce, "reproduce", computed)
    return ran


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    """A small recurct cohort folder (with its manifest), as ``recurct synth`` writes it."""
    from recurct.synthetic import write_cohort

    return write_cohort("small", tmp_path / "coh", n_patients=200, seed=1)


def _clean(folder: Path) -> None:
    """The folder still matches its manifest, and nothing temporary is beside it."""
    assert check_output(folder) is not None
    assert not [p for p in folder.parent.iterdir() if ".recurct-tmp-" in p.name]


# ----------------------------------------------------------------- 1. output vs input
def test_reproduce_out_inside_its_exam_folder_is_refused_before_work(
    cohort: Path, no_work: list[str], capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    # before: exit 0, and `recurct validate coh` then failed (res/ not in the manifest)
    args = ["reproduce", "sodickson2009", "--exams", str(cohort)]
    for extra in ([], ["--overwrite"]):
        assert run_cli([*args, "--out", str(cohort / "res"), *extra]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "lies inside the input folder" in line and str(cohort / "res") in line
        assert "--overwrite" not in line  # it would not help
    # by a relative path, and through a symbolic link to the folder
    monkeypatch.chdir(cohort.parent)
    (cohort.parent / "link").symlink_to(cohort, target_is_directory=True)
    assert run_cli(["reproduce", "sodickson2009", "--exams", "link", "--out", "coh/res"]) == 2
    assert run_cli(["reproduce", "sodickson2009", "--exams", "coh", "--out", "link/./res"]) == 2
    assert "input" in capsys.readouterr().err
    assert not no_work
    _clean(cohort)
    assert run_cli(["validate", "coh"]) == 0


def test_analyze_out_inside_its_input_folder_is_refused(
    cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["analyze", str(cohort), "--out", str(cohort / "t.csv")]) == 2
    assert "lies inside the input folder" in one_error_line(capsys.readouterr().err)
    _clean(cohort)


def test_write_patients_inside_its_source_is_refused(cohort: Path) -> None:
    from recurct.outofcore import write_patients

    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="lies inside the input folder"):
            write_patients(cohort, cohort / "x", overwrite=overwrite)
        with pytest.raises(OutputExistsError, match="lies inside the input folder"):
            write_patients(str(cohort / "**" / "*.parquet"), cohort / "x", overwrite=overwrite)
    _clean(cohort)


def test_synth_out_that_holds_its_profile_file_is_refused(tmp_path: Path, capsys) -> None:
    import shutil

    from recurct.synthetic.model import PROFILE_DIR

    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(PROFILE_DIR / "small.toml", folder / "mine.toml")
    assert run_cli(["synth", str(folder / "mine.toml"), "--out", str(folder), "--overwrite"]) == 2
    assert "holds the input" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in folder.iterdir()] == ["mine.toml"]


_NAMES = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3)


@given(out=_NAMES, source=_NAMES, relative=st.booleans())
def test_check_inputs_refuses_exactly_nested_paths(
    tmp_path_factory: pytest.TempPathFactory, out: list[str], source: list[str], relative: bool
) -> None:
    """An output is refused when it is the input folder, lies inside it or holds it, and
    accepted when the two are apart, whatever the paths look like (relative, with ``..``)."""
    root = tmp_path_factory.mktemp("nest")
    (root / Path(*source)).mkdir(parents=True)  # the input folder exists, as one read does
    target = root / Path(*out)
    work = root / "w"
    work.mkdir()
    if relative:  # the same path, relative to another working folder: "../a/b"
        target = Path(os.path.relpath(target, work))
    nested = out[: len(source)] == source or source[: len(out)] == out
    cwd = os.getcwd()
    os.chdir(work)
    try:
        if nested:
            with pytest.raises(OutputExistsError, match="input"):
                check_inputs(target, [root / Path(*source)])
            with pytest.raises(OutputExistsError, match="input"):
                check_target(target, inputs=[root / Path(*source)], overwrite=True)
        else:
            check_inputs(target, [root / Path(*source)])
    finally:
        os.chdir(cwd)


def test_an_input_file_and_its_hard_link(tmp_path: Path) -> None:
    exams = tmp_path / "exams.csv"
    exams.write_text("x")
    os.link(exams, tmp_path / "same.csv")
    with pytest.raises(OutputExistsError, match="is an input of this run"):
        check_inputs(tmp_path / "same.csv", [exams])
    check_inputs(tmp_path / "other.csv", [exams])  # beside it: fine
    check_target(tmp_path / "res", inputs=[exams])  # a folder beside it: fine


# ----------------------------------------------------------------- 2. created meanwhile
def test_a_folder_created_meanwhile_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "race" / "out"
    refused = pytest.raises(OutputExistsError, match="created while recurct wrote")
    with refused, output_folder(target, kind="x") as o:
        (o.path / "result.txt").write_text("new")
        target.mkdir(parents=True)
        (target / "mine.txt").write_text("the user's")
    # before: the user's file was gone, replaced by the result
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert (target / "mine.txt").read_text() == "the user's"
    assert [p.name for p in target.parent.iterdir()] == ["out"]  # no temporary folder left


def test_a_file_created_meanwhile_is_kept_even_with_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out"
    for overwrite in (False, True):
        refused = pytest.raises(OutputExistsError, match="is not a folder")
        with refused, output_folder(target, kind="x", overwrite=overwrite) as o:
            (o.path / "result.txt").write_text("new")
            target.write_text("the user's")
        assert target.read_text() == "the user's"
        assert [p.name for p in tmp_path.iterdir()] == ["out"]
        target.unlink()


def test_an_empty_folder_created_meanwhile_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with output_folder(target, kind="x") as o:
        (o.path / "result.txt").write_text("new")
        target.mkdir()  # nothing of anyone's in it: as if it had been there at the start
    assert sorted(p.name for p in target.iterdir()) == ["recurct-manifest.json", "result.txt"]


# ----------------------------------------------------------------- 3, 4. exit codes
def test_an_internal_error_is_one_line_and_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import recurct.cli._tables as tables

    def broken(args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(tables, "cli_validate", broken)
    monkeypatch.delenv("RECURCT_DEBUG", raising=False)
    code = run_cli(["validate", "x.csv"])
    err = capsys.readouterr().err
    assert code == 70 and code not in (0, 1, 2)  # before: a traceback and exit 1
    line = one_error_line(err)
    assert line.startswith("recurct: internal error: KeyError: 'a bug'")
    assert "RECURCT_DEBUG=1" in line and "--debug" in line
    with pytest.raises(KeyError):
        run_cli(["--debug", "validate", "x.csv"])
    monkeypatch.setenv("RECURCT_DEBUG", "1")
    with pytest.raises(KeyError):
        run_cli(["validate", "x.csv"])


def test_exit_codes_70_and_143_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert EXIT_CODES.splitlines()[0] in out
    for code in ("70", "130", "143"):
        assert f"\n  {code}  " in out


def test_sigterm_is_one_line_exit_143_and_no_partial_output(tmp_path: Path) -> None:
    """A handler killed with SIGTERM while it writes an output folder (in a child process)."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        import recurct.cli._synth as synth
        from recurct._outdir import output_folder
        from recurct.cli import main

        def killed(args):
            with output_folder({str(tmp_path / "out")!r}, kind="x") as o:
                (o.path / "half.txt").write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
            return 0

        synth.cli_synth = killed
        sys.exit(main(["synth", "small"]))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 128 + signal.SIGTERM, done.stderr  # before: killed, -15
    assert done.stderr == "recurct: terminated\n"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- 5. analyze --out
def test_analyze_out_refuses_an_existing_file_without_overwrite(
    exam_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("t.csv", "t.md"):
        out = tmp_path / name
        out.write_text("mine")
        assert run_cli(["analyze", str(exam_csv), "--out", str(out)]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "exists" in line and "--overwrite" in line
        assert out.read_text() == "mine"  # before: silently replaced
        assert run_cli(["analyze", str(exam_csv), "--out", str(out), "--overwrite"]) == 0
        assert out.read_text() != "mine"
    capsys.readouterr()


# ----------------------------------------------------------------- 6. cannot be created
def test_out_below_a_file_names_the_out_path(
    exam_csv: Path, tmp_path: Path, no_work: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    calls = [
        ["synth", "small", "--n-patients", "10", "--out", str(afile / "x")],
        ["reproduce", "sodickson2009", "--out", str(afile / "x")],
        ["analyze", str(exam_csv), "--out", str(afile / "x.csv")],
    ]
    for call in calls:
        assert run_cli(call) == 2  # before: "[Errno 17] File exists: 'afile'" (synth)
        line = one_error_line(capsys.readouterr().err)
        assert "cannot create the output" in line and str(afile / "x") in line
        assert f"{afile} is a file" in line and "Errno" not in line
    assert afile.read_text() == "x" and not no_work


def test_an_unwritable_parent_names_the_out_path(
    exam_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # root may write anywhere: the permission is what os.access says
    monkeypatch.setattr(_outdir.os, "access", lambda path, mode: False)
    out = tmp_path / "new" / "res"
    with pytest.raises(ParameterError, match=rf"cannot create the output folder {out}: .* is not"):
        check_target(out)
    assert run_cli(["synth", "small", "--n-patients", "10", "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{tmp_path} is not writable" in line and "recurct-tmp" not in line
    assert run_cli(["analyze", str(exam_csv), "--out", str(tmp_path / "t.csv")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"its parent {tmp_path} is not writable" in line
    assert not out.exists() and not (tmp_path / "t.csv").exists()


def test_a_failing_mkdir_names_the_out_path_not_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # as creating a folder in /sys does for root: os.access says yes, mkdir says EPERM
    real = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if ".recurct-tmp-" in self.name:
            raise PermissionError(1, "Operation not permitted", str(self))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", denied)
    out = tmp_path / "res"
    assert run_cli(["synth", "small", "--n-patients", "10", "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    # before: "recurct: [Errno 1] Operation not permitted: '.../.res.recurct-tmp-...'"
    assert line == (
        f"recurct: cannot create the output folder {out}: its parent {tmp_path} is not "
        "writable (Operation not permitted)"
    )


def test_a_reproduction_is_not_saved_inside_the_folder_its_exams_came_from(
    tmp_path: Path,
) -> None:
    import polars as pl

    from recurct.errors import OutputExistsError
    from recurct.studies._reproduction import Reproduction

    data = tmp_path / "data"
    data.mkdir()
    (data / "exams.csv").write_text("patient_id,exam_date,effective_dose_msv\n")
    table = pl.DataFrame({"figure": ["x"], "published": [1.0], "reproduced": [1.0]})
    rep = Reproduction(
        study="rehani2020", source="s", table=table, mode="your data", input_path=data
    )
    with pytest.raises(OutputExistsError, match="inside the input folder"):
        rep.save(data / "out", figures=False)
    assert sorted(p.name for p in data.iterdir()) == ["exams.csv"]
    with pytest.raises(OutputExistsError, match="holds the input"):
        rep.save(tmp_path, figures=False, overwrite=True)
    assert (data / "exams.csv").exists()


def test_a_commands_inputs_are_its_own_not_the_next_commands(tmp_path: Path) -> None:
    """The CLI notes its inputs for its own run; a later call in the same process (a notebook)
    may write where an earlier command read (it refused: the set of inputs only grew)."""
    from recurct._outdir import _INPUTS, check_inputs

    data = tmp_path / "data"
    data.mkdir()
    exams = data / "exams.csv"
    exams.write_text("patient_id,exam_date,effective_dose_msv\n1,2020-01-01,1.0\n")
    assert main(["validate", str(exams)]) == 0
    assert not _INPUTS
    check_inputs(data / "results", [])  # no input of this run: fine
