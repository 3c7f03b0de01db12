"""The command line's audit (2026-11-29): user files in the default results folder, an output
that is an input, option values parsed up front, unusable ``--out`` refused before any work,
honest verdicts of sample extremes, contradictory options, bounded ``--seeds``, Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest
from cli_helpers import one_error_line, run_cli

from recurct.cli import main


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the computation of ``recurct reproduce`` (one seed, or many) record that it ran
    and fail: a command refused before any work never gets there."""
    import recurct.cli._reproduce as cli_reproduce
    import recurct.studies.validate as validate

    ran: list[str] = []
    monkeypatch.setenv("RECURCT_DEBUG", "1")  # the fixture's error reaches the test

    def computed(*args: object, **kwargs: object) -> None:
        ran.append("computed")
        raise AssertionError("the computation ran")

    monkeypatch.setattr(cli_reproduce, "reproduce", computed)
    monkeypatch.setattr(validate, "reproduce_seeds", computed)
    return ran


# ----------------------------------------------------------------- 1. the default folder
def _earlier_result(folder: Path) -> None:
    """What ``recurct reproduce`` leaves in its default folder (a reproduce manifest)."""
    from recurct._outdir import output_folder

    with output_folder(folder, kind="reproduce", parameters={"study": "sodickson2009"}) as f:
        (f.path / "table.csv").write_text("figure\nn_exams\n")
        (f.path / "table.md").write_text("# sodickson2009\n")
        (f.path / "ced_max.png").write_bytes(b"png")


def test_default_folder_with_the_users_files_is_refused_not_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_work: list[str], capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "results" / "sodickson2009"
    _earlier_result(folder)
    (folder / "notes.txt").write_text("my notes")
    (folder / "mine").mkdir()
    (folder / "mine" / "data.csv").write_text("a\n1\n")
    args = ["reproduce", "sodickson2009"]
    assert main(args) == 2  # before: exit 0, and the user's files were gone
    line = one_error_line(capsys.readouterr().err)
    assert "notes.txt" in line and "mine/data.csv" in line
    assert "--overwrite" in line and "--out" in line
    assert (folder / "notes.txt").read_text() == "my notes"
    assert (folder / "mine" / "data.csv").read_text() == "a\n1\n"
    assert not no_work  # refused before any work
    # an edited result file is the user's too
    (folder / "notes.txt").unlink()
    (folder / "mine" / "data.csv").unlink()
    (folder / "mine").rmdir()
    with open(folder / "table.md", "a", encoding="utf-8") as fh:
        fh.write("my comment\n")
    assert main(args) == 2
    assert "table.md (changed)" in capsys.readouterr().err
    assert not no_work
    # --overwrite replaces it whole, as asked: the work starts
    with pytest.raises(AssertionError, match="the computation ran"):
        main([*args, "--overwrite"])
    assert no_work == ["computed"]
    # a result file the user deleted loses nothing: the folder is refreshed
    (folder / "table.md").unlink()
    with pytest.raises(AssertionError, match="the computation ran"):
        main(args)
    assert no_work == ["computed", "computed"]


@pytest.mark.slow
def test_default_folder_refresh_runs_end_to_end(
    exam_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["reproduce", "sodickson2009", "--exams", str(exam_csv)]
    assert main(args) == 0
    folder = tmp_path / "results" / "sodickson2009"
    (folder / "notes.txt").write_text("my notes")
    capsys.readouterr()
    assert main(args) == 2
    assert (folder / "notes.txt").read_text() == "my notes"
    (folder / "notes.txt").unlink()
    (folder / "table.md").unlink()
    assert main(args) == 0  # its own result, less a file: refreshed
    assert (folder / "table.md").is_file()


def test_foreign_files_of_an_output_folder(tmp_path: Path) -> None:
    from recurct._outdir import foreign_files, output_folder

    out = tmp_path / "res"
    with output_folder(out, kind="example") as f:
        (f.path / "a.txt").write_text("a")
        (f.path / "sub").mkdir()
        (f.path / "sub" / "b.txt").write_text("b")
    assert foreign_files(out) == []
    (out / "extra.txt").write_text("x")
    (out / "empty").mkdir()
    (out / "sub" / "b.txt").write_text("bigger")
    (out / "a.txt").unlink()  # missing: nothing of the user's
    assert foreign_files(out) == ["empty/", "extra.txt", "sub/b.txt (changed)"]
    assert foreign_files(tmp_path) is None  # no manifest


# ----------------------------------------------------------------- 2. output = input
def test_analyze_refuses_to_write_over_its_input(exam_csv: Path, tmp_path: Path, capsys) -> None:
    before = exam_csv.read_text()
    assert run_cli(["analyze", str(exam_csv), "--out", str(exam_csv)]) == 2
    assert "input" in one_error_line(capsys.readouterr().err)
    # the same file by another path
    other = exam_csv.parent / "." / ".." / exam_csv.parent.name / exam_csv.name
    assert run_cli(["analyze", str(exam_csv), "--out", str(other)]) == 2
    rules = tmp_path / "rules.csv"
    rules.write_text("pattern,region\nthorax,chest\n")
    args = ["analyze", str(exam_csv), "--region-rules", str(rules), "--out", str(rules)]
    assert run_cli(args) == 2
    assert exam_csv.read_text() == before
    assert rules.read_text() == "pattern,region\nthorax,chest\n"
    # a folder, or an empty name, is no output file either
    assert run_cli(["analyze", str(exam_csv), "--out", str(tmp_path / "d.csv")]) == 0
    (tmp_path / "dir.csv").mkdir()
    assert run_cli(["analyze", str(exam_csv), "--out", str(tmp_path / "dir.csv")]) == 2
    assert run_cli(["analyze", str(exam_csv), "--out", ""]) == 2


# ----------------------------------------------------------------- 3. option values up front
@pytest.mark.parametrize("command", ["validate", "analyze", "reproduce"])
def test_a_bad_date_is_one_line_and_exit_2(command: str, exam_csv: Path, capsys) -> None:
    head = ["reproduce", "sodickson2009", "--exams"] if command == "reproduce" else [command]
    assert run_cli([*head, str(exam_csv), "--today", "notadate"]) == 2
    assert "--today" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("option", "name"),
    [
        (["--kv", "nan"], "--kv"),
        (["--kv", "120"], "--kv"),  # aapm96 is not kV-specific
        (["--adult-from", "-5"], "--adult-from"),
        (["--table", "nosuch"], "--table"),
        (["--fallback", "nosuch"], "--fallback"),
        (["--fallback", "a=b"], "--fallback"),
    ],
)
def test_dose_options_checked_even_when_the_file_needs_no_conversion(
    option: list[str], name: str, exam_csv: Path, capsys
) -> None:
    # the file has effective doses: before, these values were never looked at (exit 0)
    assert run_cli(["validate", str(exam_csv), *option]) == 2
    assert name in one_error_line(capsys.readouterr().err)


# ----------------------------------------------------------------- 4, 5. --out, before work
def test_out_a_file_says_what_works_before_any_work(
    tmp_path: Path, no_work: list[str], capsys
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for extra in ([], ["--overwrite"], ["--seeds", "2"]):
        assert run_cli(["reproduce", "sodickson2009", "--out", str(afile), *extra]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "not a folder" in line and "pass --overwrite" not in line
    assert afile.read_text() == "x" and not no_work


def test_a_folder_that_holds_files_is_refused_before_any_work(
    tmp_path: Path, no_work: list[str], capsys
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    assert run_cli(["reproduce", "sodickson2009", "--out", str(full)]) == 2
    assert run_cli(["reproduce", "sodickson2009", "--seeds", "3", "--out", str(full)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert not no_work


def test_overwrite_of_the_inputs_folder_is_refused_before_any_work(
    exam_csv: Path, no_work: list[str], capsys
) -> None:
    args = ["reproduce", "sodickson2009", "--exams", str(exam_csv)]
    assert run_cli([*args, "--out", str(exam_csv.parent), "--overwrite"]) == 2
    assert "input" in one_error_line(capsys.readouterr().err)
    assert exam_csv.is_file() and not no_work


# ----------------------------------------------------------------- 6, 7. extremes
def _extreme_table(value: float) -> pl.DataFrame:
    from recurct.studies._figures import Measured, Published, comparison_table

    pub = {
        "s": Published("s", "a share", 1.33, "%", 0.01, "rounding"),
        "m": Published("m", "maximum CED", 1185, "mSv", 1, "extreme"),
    }
    record = {"figures": {"m": {"sd": 185.0, "q_lo": 932.5, "q_hi": 1740.0}}}
    return comparison_table(pub, {"s": Measured(1.33), "m": Measured(value)}, validation=record)


def test_an_extreme_outside_its_printed_range_is_out_and_not_counted() -> None:
    from recurct.studies._reproduction import Reproduction

    # rehani2020 on seed 0: a largest CED of 887.4 against the range 932.5-1,740
    rep = Reproduction("x", "src", _extreme_table(887.4), "synthetic")
    row = rep.table.filter(pl.col("figure") == "m").row(0, named=True)
    assert row["within_tolerance"] is False
    line = next(ln for ln in rep.to_text().splitlines() if ln.startswith("maximum CED"))
    assert "95%: 932.5–1,740" in line and line.split()[-2] == "out"
    assert rep.ok  # expected outside on about 6% of a correct model's seeds: not counted
    assert rep.headline() == (
        "x: 1 of 1 independent figures within tolerance; sample extremes (not counted): 0 of "
        "1 in the model's central 95% range"
    )
    assert len(rep.independent) == 1 and rep.failed.height == 0
    summary = rep.summary()
    assert "not counted" in summary and "central 95% range over the validation seeds" in summary
    assert "outside the central 95% range (not counted): m" in summary
    inside = Reproduction("x", "src", _extreme_table(1000.0), "synthetic")
    line = next(ln for ln in inside.to_text().splitlines() if ln.startswith("maximum CED"))
    assert line.split()[-2] == "in"
    assert "1 of 1 in the model's central 95% range" in inside.headline()


def _runs(values: list[float], within: list[bool]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "seed": list(range(len(values))),
            "figure": ["ced_max"] * len(values),
            "reproduced": values,
            "within_tolerance": within,
        }
    )


def test_seed_table_ranges_are_labelled_as_what_they_are() -> None:
    from recurct.studies._figures import validation_record
    from recurct.studies.validate import SeedRuns, summarise

    stored = validation_record("sodickson2009")["figures"]["ced_max"]
    lo, hi = stored["q_lo"], stored["q_hi"]
    values = [lo - 50.0, (lo + hi) / 2, hi + 50.0]  # two of three seeds outside
    runs = _runs(values, [lo <= v <= hi for v in values])
    table = summarise("sodickson2009", runs)
    row = table.filter(pl.col("figure") == "ced_max").row(0, named=True)
    # the seeds' own range, and the stored one apart
    assert (row["q_lo"], row["q_hi"]) == (min(values), max(values))
    assert (row["range_lo"], row["range_hi"]) == (lo, hi)
    assert row["share_within"] == pytest.approx(1 / 3)  # "seeds ok" is not 100%
    assert row["mean_within"] is None  # fewer than 20 seeds: the published value not judged
    sr = SeedRuns("sodickson2009", [0, 1, 2], table, runs)
    text = sr.to_text()
    assert text.splitlines()[0].split()[6] == "min–max"
    assert "33%" in text and "val. 95%:" in text
    assert "min–max" in sr.summary() and "not counted" in sr.summary()


def test_seed_extremes_are_not_counted_in_the_verdict() -> None:
    from recurct.studies.validate import MIN_SEEDS, SeedRuns, summarise

    # 20 seeds whose range (min–max) excludes the published 1,375: shown, not counted
    values = [1500.0 + i for i in range(MIN_SEEDS)]
    runs = _runs(values, [True] * MIN_SEEDS)
    table = summarise("sodickson2009", runs)
    row = table.filter(pl.col("figure") == "ced_max").row(0, named=True)
    assert row["mean_within"] is False
    sr = SeedRuns("sodickson2009", list(range(MIN_SEEDS)), table, runs)
    assert sr.ok
    assert "0 of 1 with the published value in the seeds' min–max" in sr.headline()
    assert sr.to_text().splitlines()[0].split()[6] == "min–max"  # 20 seeds: their min and max


def test_one_seed_is_one_seed() -> None:
    from recurct.studies.validate import SeedRuns, summarise

    runs = _runs([1400.0], [True])
    sr = SeedRuns("sodickson2009", [4], summarise("sodickson2009", runs), runs)
    assert "sodickson2009 over 1 seed (4): " in sr.headline()
    assert sr.headline().endswith(" of 1 seed") and "1 seeds" not in sr.headline()


# ----------------------------------------------------------------- 8. your data
def test_your_data_headline_counts_what_was_computed(exam_csv: Path) -> None:
    from recurct.studies import rehani2020

    rep = rehani2020.reproduce(pl.read_csv(exam_csv, try_parse_dates=True))
    table = rep.table
    done = table.filter(
        (pl.col("comparison") == "your data") & pl.col("reproduced").is_not_null()
    ).height
    assert 0 < done < table.height
    assert f"your data: {done} of {table.height} published figures computed" in rep.headline()


# ----------------------------------------------------------------- 9, minor: options
@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--seeds", "3", "--seed", "7"], ("--seed", "--seeds")),
        (["--seeds", "3", "--seed", "0"], ("--seed", "--seeds")),
        (["--exams", "EXAMS", "--seed", "5"], ("--seed", "--exams")),
        (["--table", "icrp103_adult"], ("--table", "--exams")),
        (["--dayfirst"], ("--dayfirst", "--exams")),
        (["--seed", "-1"], ("--seed",)),
        (["--out", ""], ("--out",)),
        (["--out", " "], ("--out",)),
    ],
)
def test_contradictory_or_bad_options_exit_2_before_any_work(
    extra: list[str],
    words: tuple[str, ...],
    exam_csv: Path,
    no_work: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    monkeypatch.chdir(tmp_path)
    extra = [str(exam_csv) if w == "EXAMS" else w for w in extra]
    assert run_cli(["reproduce", "sodickson2009", *extra]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert all(w in line for w in words), line
    assert not no_work and not (tmp_path / "results").exists()


def test_analyze_age_bands_without_age_band_strata(exam_csv: Path, capsys) -> None:
    assert run_cli(["analyze", str(exam_csv), "--age-bands", "0,50"]) == 2
    assert "--by age_band" in one_error_line(capsys.readouterr().err)


def test_synth_bad_seed_and_empty_out_name_the_option(tmp_path: Path, capsys) -> None:
    assert run_cli(["synth", "small", "--seed", "-1", "--out", str(tmp_path / "a")]) == 2
    assert "--seed" in one_error_line(capsys.readouterr().err)
    assert run_cli(["synth", "small", "--out", ""]) == 2
    assert "--out" in one_error_line(capsys.readouterr().err)


# ----------------------------------------------------------------- 10. --seeds bounded
@pytest.mark.parametrize("spec", ["10001", "0-10000", "3000000000", "0-3000000000"])
def test_seeds_are_bounded_before_a_list_is_built(spec: str, no_work: list[str], capsys) -> None:
    from recurct.errors import ParameterError
    from recurct.studies._run import parse_seeds

    with pytest.raises(ParameterError, match="at most 10,000"):
        parse_seeds(spec)
    assert len(parse_seeds("5-10004")) == 10_000
    assert run_cli(["reproduce", "sodickson2009", "--seeds", spec]) == 2
    assert "--seeds" in one_error_line(capsys.readouterr().err)
    assert not no_work


# ----------------------------------------------------------------- 11. Ctrl-C
def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import recurct.cli._synth as synth

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "cli_synth", interrupted)
    try:
        code = main(["synth", "small"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped main() as a traceback")
    assert code == 130
    assert capsys.readouterr().err == "recurct: interrupted\n"
