"""Output folders that are complete or absent (recurct._outdir): write_cohort, recurct synth,
cumulative_dose_chunked(out=); interrupted runs (SIGINT, SIGTERM sent to a child process) leave
no temporary folder and no partial target; bad exams are named by their input row out of core
and on Dask."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import recurct
from recurct._outdir import (
    MANIFEST,
    IncompleteOutputError,
    OutputExistsError,
    check_output,
    output_folder,
)
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients
from recurct.synthetic import generate, write_cohort

SRC = str(Path(recurct.__file__).resolve().parents[1])


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".recurct-tmp-" in p.name)


def test_output_folder_writes_manifest_last_and_renames(tmp_path: Path) -> None:
    with output_folder(tmp_path / "res", kind="test", parameters={"seed": 3}) as out:
        assert out.path.parent == tmp_path and out.path.name.startswith(".res.recurct-tmp-")
        pl.DataFrame({"a": [1, 2, 3]}).write_parquet(out.path / "a.parquet")
        (out.path / "t.csv").write_text("x\n1\n")
        out.record("t.csv", 1)
        assert not (tmp_path / "res").exists()  # nothing at the target before success
    manifest = json.loads((tmp_path / "res" / MANIFEST).read_text())
    assert manifest["files"]["a.parquet"]["rows"] == 3
    assert manifest["files"]["t.csv"]["rows"] == 1
    assert manifest["rows"] == 4 and manifest["parameters"] == {"seed": 3}
    assert manifest["recurct_version"] == recurct.__version__
    assert check_output(tmp_path / "res") == manifest
    assert _leftovers(tmp_path) == []


def test_output_folder_error_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), output_folder(tmp_path / "res", kind="test") as out:
        (out.path / "a.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_refused_or_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "res"
    target.mkdir()
    (target / "old.parquet").write_bytes(b"old")
    with (
        pytest.raises(OutputExistsError, match="overwrite=True"),
        output_folder(target, kind="test"),
    ):
        pytest.fail("the block must not run")
    with output_folder(target, kind="test", overwrite=True) as out:
        (out.path / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST, "new.txt"])
    assert _leftovers(tmp_path) == []
    # an existing empty folder is fine without overwrite
    (tmp_path / "empty").mkdir()
    with output_folder(tmp_path / "empty", kind="test") as out:
        (out.path / "x.txt").write_text("x")
    assert (tmp_path / "empty" / "x.txt").exists()


@pytest.mark.slow
def test_generate_out_complete_or_refused(tmp_path: Path) -> None:
    folder = write_cohort("small", tmp_path / "c", n_patients=300, seed=1)
    manifest = check_output(folder)
    back = pl.read_parquet(f"{folder}/**/*.parquet")
    assert manifest is not None and manifest["rows"] == back.height
    assert manifest["parameters"]["patients"] == back["patient_id"].n_unique() == 300
    assert manifest["parameters"]["seed"] == 1
    # a second run into the same folder never mixes cohorts
    with pytest.raises(OutputExistsError):
        write_cohort("small", folder, n_patients=200, seed=2)
    folder = write_cohort("small", folder, n_patients=200, seed=2, overwrite=True)
    again = pl.read_parquet(f"{folder}/**/*.parquet")
    assert again["patient_id"].n_unique() == 200
    assert again.sort("patient_id", "exam_date").equals(
        generate("small", n_patients=200, seed=2).sort("patient_id", "exam_date")
    )


def test_readers_check_the_manifest(tmp_path: Path) -> None:
    folder = write_cohort("small", tmp_path / "c", n_patients=300, seed=1)
    assert scan_exams(folder).select(pl.len()).collect().item() > 0
    part = next(folder.rglob("part-*.parquet"))
    stale = part.with_name("part-09999.parquet")
    stale.write_bytes(part.read_bytes())
    with pytest.raises(IncompleteOutputError, match=r"not listed: .*part-09999"):
        scan_exams(folder)
    stale.unlink()
    part.write_bytes(part.read_bytes()[:10])  # a part cut short
    with pytest.raises(IncompleteOutputError, match="resized"):
        scan_exams(folder)
    part.unlink()
    with pytest.raises(IncompleteOutputError, match="missing"):
        cumulative_dose_chunked(folder)
    # checked below a parent folder too; an unfinished run's temporary folder is refused
    with pytest.raises(IncompleteOutputError, match="missing"):
        scan_exams(tmp_path)
    folder.rename(tmp_path / ".c.recurct-tmp-123-abcd")
    with pytest.raises(IncompleteOutputError, match="unfinished"):
        scan_exams(tmp_path)


def test_a_file_or_glob_read_checks_its_folder_manifest(tmp_path: Path) -> None:
    folder = write_cohort("small", tmp_path / "c", n_patients=300, seed=1)
    part = next(folder.rglob("part-*.parquet"))
    n = pl.read_parquet(part).height
    assert scan_exams(part).select(pl.len()).collect().item() == n
    stale = part.with_name("part-09999.parquet")
    stale.write_bytes(part.read_bytes())  # a stale part, as an older run into the folder left
    for source in (part, str(part.parent / "part-*.parquet"), str(tmp_path / "**/*.parquet")):
        with pytest.raises(IncompleteOutputError, match=r"not listed: .*part-09999"):
            scan_exams(source)
    stale.unlink()
    tmp = tmp_path / ".d.recurct-tmp-123-abcd"
    tmp.mkdir()
    (tmp / "part-00000.parquet").write_bytes(part.read_bytes())
    with pytest.raises(IncompleteOutputError, match="unfinished"):
        scan_exams(tmp / "part-00000.parquet")


def test_overwrite_never_deletes_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _exams().write_parquet(data / "exams.parquet")
    (data / "notes.txt").write_text("the only copy")
    for source in (data / "exams.parquet", data, str(data / "*.parquet")):
        with pytest.raises(OutputExistsError, match="holds the input"):
            write_patients(source, data, buckets=2, overwrite=True)
        with pytest.raises(OutputExistsError, match="holds the input"):
            write_patients(source, tmp_path, buckets=2, overwrite=True)
    assert sorted(p.name for p in data.iterdir()) == ["exams.parquet", "notes.txt"]
    work = tmp_path / "w" / "inner"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(OutputExistsError, match="working folder"), output_folder(
        tmp_path / "w", overwrite=True, kind="x"
    ):
        pass  # pragma: no cover
    assert work.is_dir()
    # a patients result written inside the exam folder is named, not read as exams
    with pytest.raises(OutputExistsError, match="lies inside the input folder"):
        write_patients(data, data / "patients", buckets=2)
    write_patients(data, tmp_path / "patients", buckets=2).rename(data / "patients")
    with pytest.raises(ValueError, match=r"holds a recurct 'patients' result, not exams"):
        cumulative_dose_chunked(data, buckets=2)


def test_cli_synth_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recurct.cli import main

    out = str(tmp_path / "c")
    assert main(["synth", "small", "--n-patients", "300", "--out", out]) == 0
    assert "wrote 300 patients" in capsys.readouterr().out
    assert main(["synth", "small", "--n-patients", "200", "--out", out]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth", "small", "--n-patients", "200", "--out", out, "--overwrite"]) == 0
    assert "wrote 200 patients" in capsys.readouterr().out
    n = pl.scan_parquet(f"{out}/**/*.parquet").select(pl.col("patient_id").n_unique())
    assert n.collect().item() == 200


def test_generate_overwrite_never_deletes_its_profile_file(tmp_path: Path) -> None:
    import shutil

    from recurct.synthetic.model import PROFILE_DIR

    profile = tmp_path / "small.toml"
    shutil.copy(PROFILE_DIR / "small.toml", profile)
    with pytest.raises(OutputExistsError, match="holds the input"):
        write_cohort(profile, tmp_path, n_patients=100, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


def test_cli_reproduce_overwrite_never_deletes_its_exam_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recurct.cli import main

    exams = tmp_path / "exams.csv"
    generate("small", n_patients=200, seed=1).write_csv(exams)
    args = ["reproduce", "sodickson2009", "--exams", str(exams), "--out", str(tmp_path)]
    assert main([*args, "--overwrite"]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exams.csv"]


def _exams(n: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [f"p{i % 7}" for i in range(n)],
            "exam_date": [dt.datetime(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "effective_dose_msv": [float(i % 5) for i in range(n)],
        }
    )


def test_chunked_out_is_complete_with_manifest(tmp_path: Path) -> None:
    exams = _exams()
    out = write_patients(exams.lazy(), tmp_path / "p", buckets=3)
    manifest = check_output(out)
    assert manifest is not None and manifest["parameters"]["buckets"] == 3
    assert manifest["rows"] == 7 and manifest["parameters"]["exams"] == 60
    got = pl.read_parquet(str(out / "part-*.parquet")).sort("patient_id")
    assert_frame_equal(got, recurct.cumulative_dose(exams))
    with pytest.raises(OutputExistsError):
        write_patients(exams.lazy(), out, buckets=3)


@pytest.mark.parametrize("buckets", [1, 3])
def test_null_patient_id_is_named_at_its_input_row(tmp_path: Path, buckets: int) -> None:
    exams = _exams().with_columns(
        pl.when(pl.int_range(60).is_in([23, 41]))
        .then(None)
        .otherwise("patient_id")
        .alias("patient_id")
    )
    with pytest.raises(ValueError, match=r"'patient_id' is null in (input )?rows 23, 41 "):
        cumulative_dose_chunked(exams.lazy(), buckets=buckets, tmpdir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # buckets removed on the error


def test_bad_dose_is_named_at_its_input_row_on_dask() -> None:
    dd = pytest.importorskip("dask.dataframe")
    from recurct.distributed import cumulative_dose

    exams = _exams().with_columns(
        pl.when(pl.int_range(60) == 37)
        .then(-1.0)
        .otherwise("effective_dose_msv")
        .alias("effective_dose_msv")
    )
    ddf = dd.from_pandas(exams.to_pandas(), npartitions=4)
    with pytest.raises(ValueError, match=r"'effective_dose_msv' is .* in input row 37 "):
        cumulative_dose(ddf).compute()


# --------------------------------------------------------------------------- signals
_GENERATE = """
import sys, time
import recurct.synthetic
g = sys.modules["recurct.synthetic._cohort"]
orig = g.iter_chunks
def slow(*a, **k):
    for df in orig(*a, **k):
        yield df
        print("chunk", flush=True)
        time.sleep(0.3)
g.iter_chunks = slow
g.write_cohort("small", sys.argv[1], n_patients=4000, seed=0, chunk_patients=100)
print("done", flush=True)
"""

_CHUNKED = """
import sys, time, datetime as dt
import polars as pl
import recurct.cumulative as c
from recurct.outofcore import cumulative_dose_chunked, write_patients
orig = c.patients_table
def slow(*a, **k):
    out = orig(*a, **k)
    print("chunk", flush=True)
    time.sleep(0.3)
    return out
c.patients_table = slow
n = 5000
exams = pl.DataFrame({
    "patient_id": [i % 900 for i in range(n)],
    "exam_date": [dt.datetime(2020, 1, 1) + dt.timedelta(hours=i) for i in range(n)],
    "effective_dose_msv": [1.0] * n,
})
write_patients(exams.lazy(), sys.argv[1], buckets=40, tmpdir=sys.argv[2])
print("done", flush=True)
"""


def _interrupt(script: str, args: list[str], sig: int) -> int:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "chunk", (line, proc.stderr.read())  # type: ignore[union-attr]
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover - only if the child hangs
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_generate_leaves_nothing(tmp_path: Path, sig: int) -> None:
    target = tmp_path / "cohort"
    rc = _interrupt(_GENERATE, [str(target)], sig)
    assert rc != 0
    assert not target.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_chunked_run_leaves_nothing(tmp_path: Path, sig: int) -> None:
    target, work = tmp_path / "patients", tmp_path / "work"
    work.mkdir()
    rc = _interrupt(_CHUNKED, [str(target), str(work)], sig)
    assert rc != 0
    assert not target.exists()
    assert _leftovers(tmp_path) == []
    assert list(work.iterdir()) == []  # the temporary buckets are removed too


def test_read_exams_checks_the_manifest_of_a_folder_recurct_wrote(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    write_cohort("small", out, n_patients=200, seed=3)
    assert recurct.read_exams(out).exams.height > 0
    part = sorted(out.rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:-10])  # a part cut short after the run
    with pytest.raises(IncompleteOutputError):
        recurct.read_exams(out)


def test_read_exams_of_one_part_checks_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    write_cohort("small", out, n_patients=200, seed=3)
    parts = sorted(out.rglob("*.parquet"))
    assert recurct.read_exams(parts[0]).exams.height > 0
    (out / "stale.parquet").write_bytes(parts[0].read_bytes())  # not in the manifest
    with pytest.raises(IncompleteOutputError):
        recurct.read_exams(parts[0])
