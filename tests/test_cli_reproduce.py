"""`recurct reproduce` (recurct.cli._reproduce); `recurct analyze` is in test_cli_tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest

from recurct.cli import main


def test_reproduce_unknown_study_exits_2(capsys) -> None:
    assert main(["reproduce", "nope2000"]) == 2
    err = capsys.readouterr().err
    assert "unknown study 'nope2000'" in err
    for name in ("rehani2020", "eurosafe2021", "sodickson2009"):
        assert name in err


@pytest.mark.slow
def test_reproduce_your_data_writes_table_and_figures(exam_csv, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["reproduce", "sodickson2009", "--exams", str(exam_csv), "--out", str(out)])
    assert code == 0  # your data: nothing judged against the paper
    cap = capsys.readouterr()
    assert "generating" not in cap.err and "cumulative dose" in cap.err
    assert "share_ced_gt100" in cap.out and "your data" in cap.out
    names = {p.name for p in out.iterdir()}
    assert {"table.csv", "table.md", "ced_distribution.png", "ced_distribution.svg"} <= names
    table = pl.read_csv(out / "table.csv")
    assert table.filter(pl.col("figure") == "share_ced_gt100")["reproduced"][0] == pytest.approx(
        60.0
    )


def test_reproduce_bad_seeds_exit_2(exam_csv, capsys) -> None:
    assert main(["reproduce", "sodickson2009", "--seeds", "9-3"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["reproduce", "sodickson2009", "--seeds", "2", "--exams", str(exam_csv)]) == 2
    assert "--exams" in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_seeds_prints_mean_sd_and_share(tmp_path, capsys) -> None:
    from recurct.studies import sodickson2009

    out = tmp_path / "out"
    code = main(["reproduce", "sodickson2009", "--seeds", "5000-5001", "--out", str(out)])
    cap = capsys.readouterr()
    assert "sodickson2009 over 2 seeds (5000-5001): " in cap.out
    assert "calibration targets' means within tolerance" in cap.out
    assert "not independent evidence" in cap.out and "in-sample" not in cap.out
    assert "seed" in cap.err  # the progress bar
    table = pl.read_csv(out / "seeds.csv")
    assert table["figure"].to_list() == list(sodickson2009.PUBLISHED)
    # the mean and SD of the two seeds, against two separate runs
    runs = [sodickson2009.reproduce(seed=s).table for s in (5000, 5001)]
    for key in ("share_ced_gt100", "n_exams"):
        vals = [t.filter(pl.col("figure") == key)["reproduced"][0] for t in runs]
        row = table.filter(pl.col("figure") == key).row(0, named=True)
        assert row["mean"] == pytest.approx(sum(vals) / 2)
        assert row["sd"] == pytest.approx(abs(vals[0] - vals[1]) / 2**0.5)
        assert row["n_seeds"] == 2
    # fewer than 20 seeds: q_lo..q_hi is these seeds' own range (their min and max); an
    # extreme's range_lo..range_hi is the model's stored central 95% range, share_within the
    # share of seeds in it; the published value is not judged (and extremes never count)
    from recurct.studies._figures import validation_record

    ext = table.filter(pl.col("figure") == "ced_max").row(0, named=True)
    vals = [t.filter(pl.col("figure") == "ced_max")["reproduced"][0] for t in runs]
    assert (ext["q_lo"], ext["q_hi"]) == (min(vals), max(vals))
    stored = validation_record("sodickson2009")["figures"]["ced_max"]
    assert (ext["range_lo"], ext["range_hi"]) == (stored["q_lo"], stored["q_hi"])
    inside = [stored["q_lo"] <= v <= stored["q_hi"] for v in vals]
    assert ext["share_within"] == pytest.approx(sum(inside) / 2)
    assert ext["mean_within"] is None
    assert "min–max" in cap.out and "central 95%" not in cap.out.splitlines()[0]
    assert (out / "seeds.md").read_text().startswith("# sodickson2009")
    # exit status: 0 exactly when every counted figure's mean is within; every target of the
    # calibration was met (a target it did not meet would be "target not met", exit 1)
    counted = table.filter(pl.col("counted"))["mean_within"].drop_nulls()
    assert code == (0 if counted.all() else 1)
    assert "target not met" not in table["status"].to_list()
    assert "the calibration did not meet this target" not in cap.out
    # the mean's tolerance: half the rounding unit + the calibration tolerance + z x the
    # stored sampling SD of one cohort (its upper 95% bound) over sqrt(2 seeds)
    from recurct.studies._figures import family_z, n_sampled, sd_upper, validation_record

    rec = validation_record("sodickson2009")
    sd = sd_upper(rec["figures"]["n_exams"]["sd"], rec["n_seeds"])
    tol = 0.5 + 0.01 * 190_712 + family_z(n_sampled(sodickson2009.PUBLISHED)) * sd / 2**0.5
    n_exams = table.filter(pl.col("figure") == "n_exams").row(0, named=True)
    assert n_exams["mean_tolerance"] == pytest.approx(tol)
    assert n_exams["mean_within"] == (abs(n_exams["mean"] - 190_712) <= tol)


def test_reproduce_out_folder_complete_refused_or_replaced(exam_csv, tmp_path, capsys) -> None:
    import json

    out = tmp_path / "res"
    args = ["reproduce", "sodickson2009", "--exams", str(exam_csv), "--out", str(out)]
    assert main(args) == 0
    manifest = json.loads((out / "recurct-manifest.json").read_text())
    assert manifest["kind"] == "reproduce"
    assert {"table.csv", "table.md"} <= set(manifest["files"])
    (out / "stale.txt").write_text("from an older run")
    capsys.readouterr()
    assert main(args) == 2  # an explicit --out that holds something is refused
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("replace it whole") == 1  # said once
    assert (out / "stale.txt").exists()
    assert main([*args, "--overwrite"]) == 0  # replaced whole: nothing old is left
    assert not (out / "stale.txt").exists()
    assert not list(tmp_path.glob(".*recurct-tmp*"))


def test_reproduce_default_folder_refreshed_but_foreign_folder_kept(
    exam_csv, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["reproduce", "sodickson2009", "--exams", str(exam_csv)]
    assert main(args) == 0
    assert main(args) == 0  # its own earlier result: refreshed
    other = tmp_path / "results" / "rehani2020"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["reproduce", "rehani2020", "--exams", str(exam_csv)]) == 2
    assert (other / "notes.txt").read_text() == "mine"
