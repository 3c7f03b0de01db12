"""Outputs under interruption and small CLI and cohort findings (audit 22).

1. Ctrl-C or SIGTERM while ``--overwrite`` replaces an output folder (as the old folder is
   removed) left it beside the new one, as ``.OUT.recurct-tmp-old-*``, for good, and later
   reads of the folder above refused it; the signal now takes effect once the replacement is
   done, and a reader removes such a leftover whose new folder is complete.
2. ``--threshold ','``, ``--threshold ''`` and ``--window ','`` silently used the default;
   ``--threshold 1e400`` said "must be > 0".
3. A stratum value ``"(missing)"`` printed as the null stratum's row.
4. ``Cohort.adults(None)`` kept every age.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cli_helpers import one_error_line, run_cli

import recurct
from recurct import stats
from recurct._outdir import MANIFEST, check_output, check_tree, output_folder
from recurct.cli import EXIT_CODES, main
from recurct.errors import DataError, IncompleteOutputError, ParameterError, RecurctWarning
from recurct.outofcore import write_patients

OLD = ".recurct-tmp-old-"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _on_old_folder_removal(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[], None], marker: str = OLD
) -> list[str]:
    """Make ``act()`` happen as ``shutil.rmtree`` starts on a path holding ``marker``, the
    first time only (a signal arriving as the old folder is removed); the paths removed."""
    real = shutil.rmtree
    removed: list[str] = []

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if marker in str(path) and not removed:
            removed.append(str(path))
            act()
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    return removed


def _old_folder(target: Path, files: int = 20) -> None:
    target.mkdir(parents=True)
    for i in range(files):
        (target / f"old{i}.txt").write_text("x", encoding="utf-8")


# ---------------------------------------------- 1. Ctrl-C as an --overwrite removes the old
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_as_synth_removes_the_old_folder_leaves_only_the_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int, code: int
) -> None:
    """A real signal (sent to this process) as ``synth --overwrite`` starts removing the old
    folder: the command still exits 130/143, and the target is the complete new folder with
    nothing old beside it. Before: ``.out.recurct-tmp-old-*`` was left, and reading the
    folder above refused it."""
    out = tmp_path / "out"
    _old_folder(out)
    removed = _on_old_folder_removal(monkeypatch, lambda: os.kill(os.getpid(), sig))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    rc = main(["synth", "small", "--n-patients", "50", "--out", str(out), "--overwrite"])
    assert removed, "the old folder was not removed through shutil.rmtree"
    assert rc == code
    assert _names(tmp_path) == ["out"]
    assert check_output(out)["kind"] == "synthetic"
    assert not any(p.name.startswith("old") for p in out.iterdir())
    check_tree(tmp_path)  # before: IncompleteOutputError (the old folder's leftover)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2020, 2, 1)],
            "effective_dose_msv": [60.0, 50.0, 10.0],
        }
    )


def test_ctrl_c_as_write_patients_removes_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_patients(overwrite=True)``: a KeyboardInterrupt raised as the old folder's
    removal starts is raised, once the old folder is removed and the new one in place."""
    out = tmp_path / "patients"
    _old_folder(out)

    def interrupt() -> None:
        raise KeyboardInterrupt

    _on_old_folder_removal(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_patients(_exams().lazy(), out, thresholds=[100], overwrite=True)
    assert _names(tmp_path) == ["patients"]
    assert check_output(out)["rows"] == 2
    check_tree(tmp_path)


def test_ctrl_c_as_reproduction_save_removes_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Reproduction.save(overwrite=True)``, the same."""
    result = recurct.studies.reproduce("eurosafe2021")
    out = tmp_path / "repro"
    _old_folder(out)

    def interrupt() -> None:
        raise KeyboardInterrupt

    _on_old_folder_removal(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        result.save(out, figures=False, overwrite=True)
    assert _names(tmp_path) == ["repro"]
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "table.csv", "table.md"]
    check_output(out)


def test_a_second_ctrl_c_while_a_failed_run_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C during a failed run's removal of its temporary folder does not leave it
    half-removed (before: left behind, refused by later reads)."""
    out = tmp_path / "res"

    def interrupt() -> None:
        raise KeyboardInterrupt

    _on_old_folder_removal(monkeypatch, interrupt, marker=".recurct-tmp-")
    with pytest.raises(KeyboardInterrupt), output_folder(out, kind="example") as folder:
        (folder.path / "a.txt").write_text("x", encoding="utf-8")
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


def _cohort_with_leftover(tmp_path: Path, name: str = ".coh.recurct-tmp-old-0123abcd") -> Path:
    """A synthetic cohort ``coh`` and, beside it, the old folder a killed replacement left
    (a copy of the cohort's files: read, they would count every exam twice)."""
    recurct.synthetic.write_cohort("small", tmp_path / "coh", n_patients=50, seed=1)
    shutil.copytree(tmp_path / "coh", tmp_path / name)
    return tmp_path / name


def test_a_reader_removes_the_old_folder_of_a_complete_replacement(tmp_path: Path) -> None:
    """The old folder that a killed ``--overwrite`` left beside a complete new folder is
    removed by a reader (with a warning), not read (before: IncompleteOutputError)."""
    leftover = _cohort_with_leftover(tmp_path)
    n = recurct.outofcore.scan_exams(tmp_path / "coh").select(pl.len()).collect().item()
    with pytest.warns(RecurctWarning, match=r"removed .*old folder of .*coh"):
        scan = recurct.outofcore.scan_exams(tmp_path)
    assert not leftover.exists()
    assert _names(tmp_path) == ["coh"]
    assert scan.select(pl.len()).collect().item() == n  # each exam once


@pytest.mark.parametrize(
    "case", ["new folder changed", "new folder absent", "other name", "not recurct's"]
)
def test_a_leftover_that_may_be_needed_is_refused_and_kept(tmp_path: Path, case: str) -> None:
    """Anything but the old folder of a complete recurct folder is refused and kept."""
    name = ".coh.recurct-tmp-old-0123abcd" if case != "other name" else ".coh.recurct-tmp-old-x"
    leftover = _cohort_with_leftover(tmp_path, name)
    if case == "new folder changed":
        (tmp_path / "coh" / "extra.parquet").write_bytes(b"x")
    elif case == "new folder absent":
        shutil.rmtree(tmp_path / "coh")
    elif case == "not recurct's":
        (tmp_path / "coh" / MANIFEST).unlink()
    with pytest.raises(IncompleteOutputError, match="recurct-tmp-old"):
        check_tree(tmp_path)
    assert leftover.is_dir()


def test_a_glob_into_the_old_folder_says_what_it_is(tmp_path: Path) -> None:
    leftover = _cohort_with_leftover(tmp_path)
    with pytest.raises(IncompleteOutputError, match=r"old folder of .*coh.*remove"):
        recurct.outofcore.scan_exams(str(leftover / "**" / "*.parquet"))
    assert leftover.is_dir()


def test_the_help_says_an_interrupted_output_is_complete_or_absent() -> None:
    """Before: "an output is left as it was", false once ``--overwrite`` has renamed."""
    assert "left as it was" not in EXIT_CODES
    text = " ".join(EXIT_CODES.split())
    assert text.count("an output is complete (old or new) or absent") == 2


# ------------------------------------------------- 2. an option value of no number
@pytest.fixture
def exams_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ex.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv\n1,2020-01-01,60\n1,2020-02-01,50\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("option", "value"),
    [("--threshold", ","), ("--threshold", ""), ("--threshold", " , "), ("--window", ",")],
)
def test_an_option_of_no_number_is_an_error(
    exams_csv: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    """Before: the default (100 mSv, no window) was used silently, exit 0."""
    assert run_cli(["analyze", str(exams_csv), option, value]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert option in line and repr(value) in line and "no number" in line


@pytest.mark.parametrize("value", ["1e400", "nan", "inf"])
def test_a_threshold_that_is_not_finite_says_so(
    exams_csv: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert run_cli(["analyze", str(exams_csv), "--threshold", value]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "finite" in line and repr(value) in line  # before: "must be > 0"


def test_numbers_with_blank_parts_still_read(
    exams_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["analyze", str(exams_csv), "--threshold", "100,", "--window", "365,"]) == 0
    assert "Window" in capsys.readouterr().out


# ------------------------------------------------- 3. a stratum named like the null stratum
def test_a_stratum_named_like_the_null_stratum_is_refused() -> None:
    """Before: a value "(missing)" and a null printed as two "(missing)" rows."""
    exams = _exams().with_columns(facility=pl.Series(["(missing)", "(missing)", None]))
    patients = recurct.cumulative_dose(exams, thresholds=[100])
    with pytest.raises(DataError, match=r"'facility' holds the value '\(missing\)'.*rename"):
        stats.magnitude(patients, by="facility")
    fine = patients.with_columns(pl.col("facility").replace("(missing)", "A"))
    assert stats.magnitude(fine, by="facility").height > 0  # a null stratum is fine


def test_the_cli_refuses_a_stratum_named_like_the_null_stratum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,facility\n"
        "A,2020-01-01,150,(missing)\nB,2020-01-02,5,\n",
        encoding="utf-8",
    )
    assert run_cli(["analyze", str(path), "--by", "facility"]) == 2
    assert "'(missing)'" in one_error_line(capsys.readouterr().err)


# ------------------------------------------------- 4. Cohort.adults(None)
def test_adults_of_no_age_is_an_error() -> None:
    """Before: the rule [-inf, inf) kept a 10-year-old."""
    df = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "exam_date": [dt.date(2020, 1, 1)] * 2,
            "age_years": [10.0, None],
        }
    )
    with pytest.raises(ParameterError, match=r"Cohort\.adults: age must be a number"):
        recurct.Cohort(df).adults(None)  # type: ignore[arg-type]
    assert recurct.Cohort(df).adults(5).exams["age_years"].to_list() == [10.0]
