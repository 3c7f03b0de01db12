"""Outputs under interruption and small CLI and cohort findings (audit 22).

1. Ctrl-C or SIGTERM while ``--overwrite`` replaces an output folder: the two renames run
   with both signals deferred, and both are raised again after them, SIGTERM last (exit 143
   even when Ctrl-C came too); the removal of the old folder runs after, and a signal stops
   it: the old folder is then left beside the complete new one, with a warning saying it is
   safe to remove. A reader never removes such a leftover: it refuses it, saying what it is.
2. ``--threshold ','``, ``--threshold ''`` and ``--window ','`` silently used the default;
   ``--threshold 1e400`` said "must be > 0".
3. A stratum value ``"(missing)"`` printed as the null stratum's row (refused now only where
   the column also holds a null: the two would print alike).
4. ``Cohort.adults(None)`` kept every age.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cli_helpers import one_error_line, run_cli

import recurct
from recurct import stats
from recurct._outdir import MANIFEST, check_output, check_tree, output_folder, terminate_as_exit
from recurct.cli import EXIT_CODES, main
from recurct.errors import DataError, IncompleteOutputError, ParameterError, RecurctWarning
from recurct.outofcore import write_patients

OLD = ".recurct-tmp-old-"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _kill(*signals: int) -> Callable[[], None]:
    """Send each of ``signals`` to this process (real signals, through the kernel)."""

    def act() -> None:
        for sig in signals:
            os.kill(os.getpid(), sig)

    return act


def _on_removal(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[], None], marker: str = OLD
) -> list[str]:
    """Make ``act()`` happen as ``shutil.rmtree`` starts on a path holding ``marker``, the
    first time only (a signal arriving as the folder is removed); the paths removed."""
    real = shutil.rmtree
    removed: list[str] = []

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if marker in str(path) and not removed:
            removed.append(str(path))
            act()
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    return removed


def _on_move_aside(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> list[str]:
    """Make ``act()`` happen as the old folder is moved aside (the first of the two renames
    of a replacement), before the rename itself; the names it was moved to."""
    real = Path.rename
    moved: list[str] = []

    def rename(self: Path, target: Any) -> Any:
        if OLD in str(target) and not moved:
            moved.append(str(target))
            act()
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    return moved


def _old_folder(target: Path, files: int = 20) -> None:
    target.mkdir(parents=True)
    for i in range(files):
        (target / f"old{i}.txt").write_text("x", encoding="utf-8")


def _left(tmp_path: Path, name: str) -> Path:
    """The one old folder left beside ``name`` (a replacement's leftover)."""
    (old,) = (p for p in tmp_path.iterdir() if p.name.startswith(f".{name}{OLD}"))
    assert sorted(q.name for q in old.iterdir())[:2] == ["old0.txt", "old1.txt"]
    return old


def _warned_of(caught: list[warnings.WarningMessage], old: Path) -> None:
    """``caught`` holds one RecurctWarning naming the old folder ``old`` as safe to remove
    (checked by hand: ``pytest.warns`` checks nothing when an exception passes through it)."""
    texts = [str(w.message) for w in caught if issubclass(w.category, RecurctWarning)]
    assert len(texts) == 1, texts
    assert str(old) in texts[0] and "interrupted" in texts[0]
    assert texts[0].endswith(f"safe to remove: remove the folder {old}")


# ------------------------------------ 1. signals while an --overwrite replaces a folder
def test_sigint_and_sigterm_in_the_deferral_end_as_sigterm() -> None:
    """Both signals noted: both raised again, SIGTERM last, whatever order they came in.
    Before: the KeyboardInterrupt of the first ended the loop; SIGTERM was never raised."""
    from recurct._outdir import _signals_deferred

    for order in ((signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)):
        with pytest.raises(BaseException) as exc, terminate_as_exit(), _signals_deferred():
            _kill(*order)()
        assert isinstance(exc.value, SystemExit), (order, exc.value)  # before: Ctrl-C's
        assert exc.value.code == 143, order
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_app_that_catches_ctrl_c_still_ends_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM with its default action, Ctrl-C caught by the application: the process is
    killed by SIGTERM (before: it carried on, the SIGTERM lost)."""
    script = tmp_path / "app.py"
    script.write_text(
        "import os, signal\n"
        "from recurct._outdir import _signals_deferred\n"
        "try:\n"
        "    with _signals_deferred():\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "except KeyboardInterrupt:\n"
        "    print('carried on', flush=True)\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stdout, done.stderr)
    assert "carried on" not in done.stdout


def test_ctrl_c_and_sigterm_during_the_renames_of_synth_exit_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both signals as ``synth --overwrite`` moves the old folder aside: the renames finish
    (the target is the complete new folder), the command exits 143 (before: 130), and the
    old folder, whose removal the signals stop, is left and named in a warning."""
    out = tmp_path / "out"
    _old_folder(out)
    moved = _on_move_aside(monkeypatch, _kill(signal.SIGINT, signal.SIGTERM))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.warns(RecurctWarning, match=r"old folder .*interrupted.*safe to remove"):
        rc = main(["synth", "small", "--n-patients", "50", "--out", str(out), "--overwrite"])
    assert moved
    assert rc == 143
    assert check_output(out)["kind"] == "synthetic"
    assert str(_left(tmp_path, "out")) == moved[0]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_stops_the_removal_of_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int, code: int
) -> None:
    """A real signal as ``synth --overwrite`` starts removing the old folder stops the
    removal at once (before: it was deferred until the removal ended, however long): exit
    130/143, the target is the complete new folder, the old folder is left beside it with a
    warning naming it and saying that it is safe to remove, and a reader refuses it."""
    out = tmp_path / "out"
    _old_folder(out)
    removed = _on_removal(monkeypatch, _kill(sig))
    with pytest.warns(RecurctWarning, match=r"recurct-tmp-old-.*interrupted.*safe to remove"):
        rc = main(["synth", "small", "--n-patients", "50", "--out", str(out), "--overwrite"])
    assert removed
    assert rc == code
    assert check_output(out)["kind"] == "synthetic"
    assert not any(p.name.startswith("old") for p in out.iterdir())
    assert str(_left(tmp_path, "out")) == removed[0]
    with pytest.raises(IncompleteOutputError, match="old output"):
        check_tree(tmp_path)


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2020, 2, 1)],
            "effective_dose_msv": [60.0, 50.0, 10.0],
        }
    )


def test_ctrl_c_as_write_patients_names_the_old_folder_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_patients(overwrite=True)``: Ctrl-C (a real SIGINT) as the old folder's removal
    starts raises KeyboardInterrupt, the new folder in place, the old one left and named."""
    out = tmp_path / "patients"
    _old_folder(out)
    _on_removal(monkeypatch, _kill(signal.SIGINT))
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_patients(_exams().lazy(), out, thresholds=[100], overwrite=True)
    assert check_output(out)["rows"] == 2
    _warned_of(caught, _left(tmp_path, "patients"))


def test_ctrl_c_as_reproduction_save_names_the_old_folder_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Reproduction.save(overwrite=True)``, the same."""
    result = recurct.studies.reproduce("eurosafe2021")
    out = tmp_path / "repro"
    _old_folder(out)
    _on_removal(monkeypatch, _kill(signal.SIGINT))
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.save(out, figures=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "table.csv", "table.md"]
    check_output(out)
    _warned_of(caught, _left(tmp_path, "repro"))


def test_an_old_folder_that_cannot_be_removed_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A removal that fails (no permission: here rmtree does nothing) leaves the old folder:
    a warning names it; the write itself succeeds (the new folder is complete)."""
    out = tmp_path / "patients"
    _old_folder(out)
    real = shutil.rmtree
    monkeypatch.setattr(
        shutil, "rmtree", lambda p, *a, **k: None if OLD in str(p) else real(p, *a, **k)
    )
    with pytest.warns(RecurctWarning, match=r"could not be removed.*safe to remove"):
        write_patients(_exams().lazy(), out, thresholds=[100], overwrite=True)
    assert check_output(out)["rows"] == 2
    _left(tmp_path, "patients")


def test_a_second_ctrl_c_while_a_failed_run_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Ctrl-C during a failed run's removal of its temporary folder takes effect once
    the folder is removed (before: left half-removed, refused by later reads)."""
    out = tmp_path / "res"
    removed = _on_removal(monkeypatch, _kill(signal.SIGINT), marker=".recurct-tmp-")
    with pytest.raises(KeyboardInterrupt), output_folder(out, kind="example") as folder:
        (folder.path / "a.txt").write_text("x", encoding="utf-8")
        raise RuntimeError("the run fails")
    assert removed
    assert _names(tmp_path) == []


def _cohort_with_leftover(tmp_path: Path, name: str = ".coh.recurct-tmp-old-0123abcd") -> Path:
    """A synthetic cohort ``coh`` and, beside it, the old folder a killed replacement left
    (a copy of the cohort's files: read, they would count every exam twice)."""
    recurct.synthetic.write_cohort("small", tmp_path / "coh", n_patients=50, seed=1)
    shutil.copytree(tmp_path / "coh", tmp_path / name)
    return tmp_path / name


def test_a_reader_refuses_the_old_folder_of_a_replacement_and_keeps_it(tmp_path: Path) -> None:
    """The old folder that an interrupted ``--overwrite`` left beside its new folder is
    refused, with what it is and how to remove it, and kept: a reader never deletes (it may
    hold what the user replaced, not recurct's; the new folder may be a later run's). Before:
    removed with a warning."""
    leftover = _cohort_with_leftover(tmp_path)
    coh = tmp_path / "coh"
    for read in (lambda: recurct.outofcore.scan_exams(tmp_path), lambda: check_tree(tmp_path)):
        with pytest.raises(IncompleteOutputError) as exc:
            read()
        text = str(exc.value)
        assert text.startswith(f"{leftover} holds the old output")
        assert f"interrupted replacement of {coh}" in text
        assert f"once you have checked {coh}, it is safe to remove" in text
        assert text.endswith(f"remove the folder {leftover}")
        assert leftover.is_dir() and _names(leftover) == _names(coh)


@pytest.mark.parametrize(
    "case", ["new folder changed", "new folder absent", "other name", "not recurct's"]
)
def test_a_leftover_that_may_be_needed_is_refused_and_kept(tmp_path: Path, case: str) -> None:
    """Anything else like it is refused and kept too; where the new folder is absent (a run
    killed between the two renames) the message says to rename the old one back."""
    name = ".coh.recurct-tmp-old-0123abcd" if case != "other name" else ".coh.recurct-tmp-old-x"
    leftover = _cohort_with_leftover(tmp_path, name)
    if case == "new folder changed":
        (tmp_path / "coh" / "extra.parquet").write_bytes(b"x")
    elif case == "new folder absent":
        shutil.rmtree(tmp_path / "coh")
    elif case == "not recurct's":
        (tmp_path / "coh" / MANIFEST).unlink()
    with pytest.raises(IncompleteOutputError, match="recurct-tmp-old") as exc:
        check_tree(tmp_path)
    if case == "new folder absent":
        assert f"rename it back to {tmp_path / 'coh'}" in str(exc.value)
    assert leftover.is_dir()


def test_a_glob_into_the_old_folder_says_what_it_is(tmp_path: Path) -> None:
    leftover = _cohort_with_leftover(tmp_path)
    with pytest.raises(IncompleteOutputError, match=r"old output .*coh.*safe to remove") as exc:
        recurct.outofcore.scan_exams(str(leftover / "**" / "*.parquet"))
    assert "removes it" not in str(exc.value)  # before: "reading the folder above removes it"
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


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_a_stratum_named_missing_without_a_null_is_kept(dtype: Any) -> None:
    """An export that filled its missing values with "(missing)" (no null left): its
    stratum is kept, as any other value (before: refused, by today's first fix)."""
    exams = _exams().with_columns(facility=pl.Series(["(missing)", "(missing)", "A"], dtype=dtype))
    patients = recurct.cumulative_dose(exams, thresholds=[100])
    for fn in (stats.magnitude, stats.dose_bands):
        table = fn(patients, by="facility")
        assert table["facility"].to_list().count("(missing)") >= 1, fn
    out = stats.publication_table(stats.magnitude(patients, by="facility"))
    assert out["Facility"].to_list() == ["all", "(missing)", "A"]


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_a_stratum_named_missing_beside_a_null_is_refused_naming_both(dtype: Any) -> None:
    exams = _exams().with_columns(facility=pl.Series(["(missing)", "(missing)", None], dtype=dtype))
    patients = recurct.cumulative_dose(exams, thresholds=[100])
    with pytest.raises(DataError, match=r"\(missing\)'.*nulls too.*print alike.*row.*row"):
        stats.dose_bands(patients, by="facility")


def test_the_cli_keeps_a_stratum_named_missing_without_a_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,facility\n"
        "A,2020-01-01,150,(missing)\nB,2020-01-02,5,X\n",
        encoding="utf-8",
    )
    assert run_cli(["analyze", str(path), "--by", "facility"]) == 0
    assert "(missing)" in capsys.readouterr().out


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
