"""Outputs and CLI messages (audit 18): symbolic-link and ``.`` targets refused up front,
manifest hashes, write failures named, a closed pipe, ``--drop-bad`` leaving nothing, the
default of ``export_table``, formula-safe CSV, ``python -m recurct``, CLI spellings, Ctrl-C
while the CLI loads."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import polars as pl
import pytest
from cli_helpers import one_error_line

from recurct import stats
from recurct._outdir import MANIFEST, atomic_file, check_target, foreign_files, output_folder
from recurct.cli import main
from recurct.errors import IncompleteOutputError, OutputExistsError

EXAMS = (
    "patient_id,exam_date,effective_dose_msv,facility\n"
    '1,2020-01-01,60,"=HYPERLINK(""x"")"\n2,2020-02-01,10,-1.5\n3,2020-03-01,120,B\n'
)


@pytest.fixture
def exams(tmp_path: Path) -> Path:
    path = tmp_path / "ex.csv"
    path.write_text(EXAMS, encoding="utf-8")
    return path


def _cli(
    *args: str, cwd: Path, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "recurct.cli", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )


def _patients() -> pl.DataFrame:
    from recurct import cumulative_dose

    exams = pl.read_csv(
        EXAMS.encode(), try_parse_dates=True, schema_overrides={"facility": pl.String}
    )
    return cumulative_dose(exams, thresholds=[100])


# ------------------------------------------------------------- 1. links and "." refused
def test_a_symbolic_link_target_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputExistsError, match="is a symbolic link"):
        check_target(tmp_path / "link")
    ran = []
    with (
        pytest.raises(OutputExistsError, match="symbolic link"),
        output_folder(tmp_path / "link", kind="t"),
    ):
        ran.append(1)
    assert not ran and (tmp_path / "link").is_symlink()


def test_synth_to_a_link_or_to_the_working_folder_is_refused_before_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "small", "--n-patients", "5", "--out", "link"]) == 2
    assert "--out link is a symbolic link" in one_error_line(capsys.readouterr().err)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["synth", "small", "--n-patients", "5", "--out", "."]) == 2
    assert "--out . is the working folder" in one_error_line(capsys.readouterr().err)
    assert not list(empty.iterdir()) and not list((tmp_path / "real").iterdir())
    with pytest.raises(OutputExistsError, match="above the working folder"):
        check_target("..", overwrite=True)


# ------------------------------------------------------------- 2. manifest hashes
def test_a_same_size_edit_is_foreign_and_an_old_manifest_falls_back_to_sizes(
    tmp_path: Path,
) -> None:
    with output_folder(tmp_path / "r", kind="reproduce", hashes=True) as out:
        (out.path / "table.md").write_text("# abc\n", encoding="utf-8")
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["files"]["table.md"]["sha256"]) == 64
    with output_folder(tmp_path / "big", kind="patients") as out:  # no hashes by default
        (out.path / "part.txt").write_text("x\n", encoding="utf-8")
    plain = json.loads((tmp_path / "big" / MANIFEST).read_text(encoding="utf-8"))
    assert "sha256" not in plain["files"]["part.txt"]
    assert foreign_files(tmp_path / "r") == []
    (tmp_path / "r" / "table.md").write_text("# ABC\n", encoding="utf-8")  # same size
    assert foreign_files(tmp_path / "r") == ["table.md (changed)"]
    for entry in manifest["files"].values():  # a manifest of an older recurct
        del entry["sha256"]
    (tmp_path / "r" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert foreign_files(tmp_path / "r") == []
    (tmp_path / "r" / "table.md").write_text("# ABCD\n", encoding="utf-8")
    assert foreign_files(tmp_path / "r") == ["table.md (changed)"]


# ------------------------------------------------------------- 3. write failures named
def test_a_write_failure_names_the_output(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("old\n", encoding="utf-8")
    with (
        pytest.raises(IncompleteOutputError, match=r"t\.csv: No space left"),
        atomic_file(tmp_path / "t.csv") as tmp,
    ):
        tmp.write_text("half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "old\n"
    with (
        pytest.raises(IncompleteOutputError, match=r"folder .*res.*File too large"),
        output_folder(tmp_path / "res", kind="t"),
    ):
        raise OSError(errno.EFBIG, "File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_analyze_names_the_out_file_it_cannot_write(
    exams: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(pl.DataFrame, "write_csv", full)
    out = tmp_path / "t.csv"
    assert main(["analyze", str(exams), "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(out) in line and "File too large" in line
    assert not out.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="ulimit")
def test_xlsx_write_failure_is_one_line_without_an_ignored_exception(
    exams: Path, tmp_path: Path
) -> None:
    pytest.importorskip("openpyxl")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = f"ulimit -f 0; exec {sys.executable} -m recurct.cli analyze {exams} --out t.xlsx"
    r = subprocess.run(
        ["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 2
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr
    assert "recurct: export_table: cannot write the output file t.xlsx" in r.stderr
    assert not (tmp_path / "t.xlsx").exists()


# ------------------------------------------------------------- 4. a closed pipe
def test_analyze_into_a_closed_pipe_still_writes_out_and_exits_0(
    exams: Path, tmp_path: Path
) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone (`| head -1` after its line)
    try:
        r = _cli("analyze", str(exams), "--out", "t.csv", cwd=tmp_path, stdout=write)
    finally:
        os.close(write)
    assert r.returncode == 0, r.stderr
    assert "Broken pipe" not in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "t.csv").read_text(encoding="utf-8").startswith("Threshold (mSv)")


# ------------------------------------------------------------- 5. --drop-bad leaves nothing
def test_drop_bad_leaving_no_row_prints_the_notes_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "allbad.csv"
    bad.write_text(
        "patient_id,exam_date,effective_dose_msv\nA,2020-01-01,-1\nB,2020-01-02,abc\n",
        encoding="utf-8",
    )
    assert main(["analyze", str(bad), "--drop-bad"]) == 2
    out, err = capsys.readouterr()
    assert "--drop-bad: 2 of 2 rows left out" in out and "negative" in out
    line = one_error_line(err)
    assert "all 2 rows were left out by --drop-bad (see above)" in line
    assert "cohort filters" not in line
    head = tmp_path / "head.csv"
    head.write_text("patient_id,exam_date,effective_dose_msv\n", encoding="utf-8")
    assert main(["analyze", str(head)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "head.csv has no data rows" in line and "cohort filters" not in line


# ------------------------------------------------------------- 6. export_table's default
def test_export_table_refuses_an_existing_file_by_default(tmp_path: Path) -> None:
    table = stats.magnitude(_patients(), 100)
    path = tmp_path / "t.md"
    path.write_text("precious\n", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="pass overwrite=True"):
        stats.export_table(table, path)
    assert path.read_text(encoding="utf-8") == "precious\n"
    assert stats.export_table(table, path, overwrite=True) == path
    assert "precious" not in path.read_text(encoding="utf-8")


# ------------------------------------------------------------- 7. formula-safe CSV
def test_csv_cells_are_never_formulas(exams: Path, tmp_path: Path) -> None:
    assert main(["analyze", str(exams), "--by", "facility", "--out", str(tmp_path / "a.csv")]) == 0
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and '"=HYPERLINK' not in text
    assert "\n-1.5," in text  # a number stays a number
    table = stats.magnitude(_patients(), 100, by="facility")
    stats.export_table(table, tmp_path / "p.csv")
    got = pl.read_csv(tmp_path / "p.csv", infer_schema=False)
    assert '\'=HYPERLINK("x")' in got.to_series(0).to_list()


# ------------------------------------------------------------- 8. python -m recurct
def test_python_m_recurct(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, "-m", "recurct", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0 and "usage: recurct" in r.stdout


# ------------------------------------------------------------- 9. CLI spellings
def test_cli_messages_name_options_not_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x", encoding="utf-8")
    assert main(["synth", "small", "--n-patients", "5", "--out", "full"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--overwrite" in line and "overwrite=True" not in line
    two = tmp_path / "two.csv"
    two.write_text(
        "PatientID,MRN,exam_date,effective_dose_msv\n1,1,2020-01-01,5\n", encoding="utf-8"
    )
    assert main(["analyze", str(two)]) == 2
    err = capsys.readouterr().err
    assert "--map" in err and "columns=" not in err
    many = tmp_path / "many.csv"
    rows = "".join(f"{i},2020-01-01,-{i + 1}\n" for i in range(30))
    many.write_text("patient_id,exam_date,effective_dose_msv\n" + rows, encoding="utf-8")
    assert main(["validate", str(many)]) == 1
    out = capsys.readouterr().out
    assert ".problems" not in out and "more (not shown)" in out


# ------------------------------------------------------------- 10. Ctrl-C while loading
def test_ctrl_c_while_the_cli_loads_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if name == "terminate_as_exit":  # Ctrl-C while the CLI imports what it needs
                raise KeyboardInterrupt
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "recurct._outdir", Interrupted("recurct._outdir"))
    try:
        code = main(["--version"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the CLI loads escaped main() (a traceback)")
    assert code == 130
    assert one_error_line(capsys.readouterr().err) == "recurct: interrupted"
