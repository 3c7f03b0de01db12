"""`recurct analyze` and `recurct validate` with the shared input options (recurct.cli._options).

Expected values are computed by hand in the tests (DLP x k with the PUBLISHED.md factors,
Wilson intervals from statsmodels), never read back from recurct.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from recurct.cli import main


def _wilson_pct(k: int, n: int) -> tuple[float, float]:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return 100 * lo, 100 * hi


def test_analyze_prints_and_writes_the_same_labelled_table(
    exam_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res" / "magnitude.csv"
    code = main(
        ["analyze", str(exam_csv), "--threshold", "100", "--by", "facility", "--out", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "8 exams, 5 patients" in text
    table = pl.read_csv(out)
    assert table["Facility"].to_list() == ["all", "A", "B", "C"]
    # >= 100 mSv: patient 1 (A, 110), 3 (B, 120), 5 (C, 200)
    assert table["Patients ≥ 100 mSv (n)"].to_list() == [3, 1, 1, 1]
    assert table["Patients"].to_list() == [5, 2, 2, 1]
    # percentages in the CSV, labelled, equal to the printed ones
    assert table["Patients ≥ 100 mSv (%)"][0] == pytest.approx(60.0)
    lo, hi = _wilson_pct(3, 5)
    assert table["95% CI low (%)"][0] == pytest.approx(lo, abs=1e-3)
    assert table["95% CI high (%)"][0] == pytest.approx(hi, abs=1e-3)
    # the median CED is labelled as the median among the patients at or above T
    assert table["Median CED of patients ≥ 100 mSv (mSv)"][0] == pytest.approx(120.0)
    lines = text.splitlines()
    header = next(ln for ln in lines if "Patients ≥ 100 mSv (%)" in ln)
    first = lines[lines.index(header) + 1].split()
    assert first[0] == "all" and "60.0" in first
    assert f"{lo:.3f}" in first and f"{hi:.3f}" in first
    assert "_" not in header  # no cryptic column IDs


def test_analyze_thresholds_comma_and_repeated(
    exam_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(exam_csv), "--thresholds", "50,150"]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("Threshold (mSv)"))
    rows = [ln.split() for ln in lines[i + 1 : i + 3]]
    assert [r[0] for r in rows] == ["50.0", "150.0"]
    assert [int(r[3]) for r in rows] == [3, 1]  # patients reaching: 110, 120, 200 / 200


def test_analyze_computes_effective_dose_from_dlp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dlp.csv"
    path.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region\n"
        "1,2017-01-01,1000,chest\n1,2017-01-02,6000,abdomen_pelvis\n2,2017-01-01,100,head\n"
    )
    out = tmp_path / "m.csv"
    assert main(["analyze", str(path), "--out", str(out)]) == 0
    table = pl.read_csv(out)
    # AAPM Report 96 adult k: chest 0.014, abdomen & pelvis 0.015 -> 14 + 90 = 104 mSv
    assert table["Patients ≥ 100 mSv (n)"][0] == 1
    assert table["Max CED of patients ≥ 100 mSv (mSv)"][0] == pytest.approx(104.0)
    assert "aapm96/nearest-lower (3 exams)" in capsys.readouterr().out


def test_analyze_without_any_dose_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nodose.csv"
    path.write_text("patient_id,exam_date\n1,2017-01-01\n")
    assert main(["analyze", str(path)]) == 2
    assert "effective_dose_msv" in capsys.readouterr().err


def test_analyze_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith("recurct: ")


def _dlp_file(tmp_path: Path, n: int = 50, region: str = "spine") -> Path:
    rows = [f"{i},2020-01-{1 + i % 28:02d},{100 + i},{region}" for i in range(n)]
    path = tmp_path / "dlp_only.csv"
    path.write_text("patient_id,exam_date,dlp_mgycm,body_region\n" + "\n".join(rows) + "\n")
    return path


def test_untabulated_region_gives_one_grouped_error_without_internal_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dlp_file(tmp_path)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) <= 6, err  # one line per reason, not one per row
    assert "50 row(s)" in err and "'spine'" in err and "first rows 0, 1, 2, 3, 4" in err
    assert "--fallback" in err and "--drop-bad" in err
    assert ".py" not in err and "site-packages" not in err and "recurct/data" not in err


def test_drop_bad_prints_what_was_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region\n"
        "1,2020-01-01,1000,chest\n2,2020-01-02,500,spine\n3,2020-02-30,100,head\n"
        "4,2020-01-03,-5,head\n"
    )
    assert main(["analyze", str(path), "--threshold", "10"]) == 2
    err = capsys.readouterr().err
    # one summary lists every problem: the validation ones (rows 2, 3) and the spine of
    # row 1, which passed validation but has no factor in aapm96
    assert "2 of 4 rows failed validation" in err
    assert "unparseable date" in err and "negative" in err
    assert "effective dose could not be computed for 1 of 2" in err
    assert "'spine'; first rows 1" in err
    assert main(["analyze", str(path), "--threshold", "10", "--drop-bad"]) == 0
    out = capsys.readouterr().out
    assert "--drop-bad: 3 of 4 rows left out" in out
    assert "unparseable date" in out and "not tabulated" in out and "negative" in out
    assert "1 exams, 1 patients" in out


def test_user_conversion_table_with_spine_and_extremity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an illustrative local table (made-up factors), the shipped aapm96 as fallback
    table = tmp_path / "local_k.csv"
    table.write_text("# citation: illustrative\nregion,k\nspine,0.02\nextremity,0.001\n")
    path = tmp_path / "exams.csv"
    path.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region\n"
        "1,2020-01-01,4000,spine\n1,2020-01-05,2000,extremity\n1,2020-02-01,1000,chest\n"
    )
    out = tmp_path / "t.csv"
    args = ["analyze", str(path), "--table", str(table), "--fallback", "aapm96"]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    # 4000 x 0.02 + 2000 x 0.001 + 1000 x 0.014 (aapm96 chest) = 80 + 2 + 14 = 96 mSv
    assert pl.read_csv(out)["Max CED of patients ≥ 100 mSv (mSv)"][0] is None
    assert main([*args, "--threshold", "96", "--out", str(out), "--overwrite"]) == 0
    assert pl.read_csv(out)["Max CED of patients ≥ 96 mSv (mSv)"][0] == pytest.approx(96.0)
    assert "local_k/nearest-lower (2 exams)" in text
    assert "aapm96/nearest-lower (fallback table) (1 exam)" in text
    # a region fallback within the table instead
    assert (
        main(
            [
                "analyze",
                str(path),
                "--table",
                str(table),
                "--fallback",
                "chest=spine",
                "--threshold",
                "96",
            ]
        )
        == 0
    )
    assert "(chest as spine)" in capsys.readouterr().out


def test_openrem_export_through_analyze(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.csv"
    src = data_dir / "openrem" / "ct_export_pid.csv"
    assert main(["analyze", str(src), "--threshold", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "OpenREM CT export" in text and "2 exams, 2 patients" in text  # QA study dropped
    t = pl.read_csv(out)
    # study 1: TAP, 724.52 mGy·cm x 0.015 (aapm96 trunk) = 10.8678 mSv; study 2: chest,
    # 349.70 x 0.014 = 4.8958 mSv (below 5)
    assert t["Patients ≥ 5 mSv (n)"][0] == 1
    assert t["Median CED of patients ≥ 5 mSv (mSv)"][0] == pytest.approx(724.52 * 0.015, abs=1e-3)


GERMAN = (
    "Patientennummer;Untersuchungsdatum;DLP (mGy*cm);Region;Alter;Geschlecht\n"
    "1;31.12.2019;450,5;Thorax;8;F\n"
    "1;02.01.2020;7000;Thorax;8;F\n"
    "2;15.03.2020;500;Abdomen;45;M\n"
    "3;01.02.2020;300;Thorax;70;F\n"
    "3;13.02.2020;8000;Abdomen;70;F\n"
)


def test_german_columns_dayfirst_by_age_band(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export_de.csv"
    path.write_text(GERMAN, encoding="utf-8")
    args = [
        "analyze",
        str(path),
        "--map",
        "Patientennummer=patient_id",
        "--map",
        "Untersuchungsdatum=exam_date",
        "--map",
        "Region=body_region",
        "--map",
        "Alter=age_years",
        "--map",
        "Geschlecht=sex",
    ]
    assert main(args) == 2  # day-first dates need --dayfirst
    assert "dayfirst" in capsys.readouterr().err
    out = tmp_path / "t.csv"
    code = main(
        [*args, "--dayfirst", "--by", "age_band", "--age-bands", "0,18,50", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "'DLP (mGy*cm)' -> dlp_mgycm" in text
    assert "free-text value(s) mapped" in text  # Thorax -> chest, Abdomen -> abdomen
    assert "adult-only table 'aapm96' was applied to 2 row(s)" in text  # the 8-year-old
    assert "--table shrimpton_age" in text
    t = pl.read_csv(out)
    rows = {r["Age band (years)"]: r for r in t.iter_rows(named=True)}
    assert set(rows) == {"all", "0-17", "18-49", "50+"}  # [0, 18), [18, 50), [50, inf)
    # by hand, aapm96 adult factors (chest 0.014, abdomen 0.015), decimal comma read:
    # patient 1 (8 y): (450.5 + 7000) x 0.014 = 104.307; patient 2: 500 x 0.015 = 7.5;
    # patient 3: 300 x 0.014 + 8000 x 0.015 = 124.2
    assert rows["0-17"]["Max CED of patients ≥ 100 mSv (mSv)"] == pytest.approx(104.307)
    assert rows["18-49"]["Patients ≥ 100 mSv (n)"] == 0
    assert rows["50+"]["Max CED of patients ≥ 100 mSv (mSv)"] == pytest.approx(124.2)
    assert rows["all"]["Patients ≥ 100 mSv (n)"] == 2
    # the 8-year-old got an adult factor: that is said (an age-dependent table is advised)
    assert (
        main(
            [
                *args,
                "--dayfirst",
                "--table",
                "shrimpton_age",
                "--fallback",
                "abdomen=abdomen_pelvis",
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        == 0
    )
    capsys.readouterr()
    # shrimpton_age 5 y column: chest 0.018 -> (450.5 + 7000) x 0.018 = 134.109
    assert pl.read_csv(out)["Max CED of patients ≥ 100 mSv (mSv)"][0] == pytest.approx(134.109)


def test_window_rows(exam_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.csv"
    assert main(["analyze", str(exam_csv), "--window", "30", "--out", str(out)]) == 0
    assert "largest W-day CED" in capsys.readouterr().out  # what the window rows hold
    t = pl.read_csv(out, schema_overrides={"Window (days)": pl.Utf8})
    by_w = {r["Window (days)"]: r for r in t.iter_rows(named=True)}
    assert by_w["whole follow-up"]["Patients ≥ 100 mSv (n)"] == 3
    # within 30 days: patient 1 (110 on one day), 5 (200); patient 3 needs 13 months
    assert by_w["30"]["Patients ≥ 100 mSv (n)"] == 2
    md = tmp_path / "w.md"
    assert main(["analyze", str(exam_csv), "--window", "30", "--out", str(md)]) == 0
    capsys.readouterr()
    assert "largest W-day CED" in md.read_text(encoding="utf-8")  # the table's note


@pytest.mark.parametrize("ext", [".md", ".tex", ".xlsx"])
def test_analyze_publication_output(
    exam_csv: Path, tmp_path: Path, ext: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"t{ext}"
    assert main(["analyze", str(exam_csv), "--out", str(out)]) == 0
    capsys.readouterr()
    lo, hi = _wilson_pct(3, 5)
    cell = f"3 (60.00%, {lo:.2f}–{hi:.2f})"
    if ext == ".xlsx":
        import openpyxl

        ws = openpyxl.load_workbook(out).active
        values = [c.value for row in ws.iter_rows() for c in row]
        assert cell in values
        assert "Patients with CED ≥ 100 mSv, n (%, 95% CI)" in values
    elif ext == ".md":
        assert cell in out.read_text(encoding="utf-8")
    else:
        tex = out.read_text(encoding="utf-8")
        assert r"3 (60.00\%, " + f"{lo:.2f}--{hi:.2f})" in tex and r"$\geq$" in tex


# --------------------------------------------------------------------------- validate
def test_validate_reports_dose_problems_grouped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dlp_file(tmp_path, n=12)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "12 row(s)" in out and "'spine'" in out
    assert main(["validate", str(path), "--fallback", "spine=chest"]) == 0
    assert "clean" in capsys.readouterr().out


def test_reproduce_exams_uses_the_shared_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dlp_file(tmp_path, n=3)
    assert (
        main(["reproduce", "rehani2020", "--exams", str(path), "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "3 row(s)" in err and "--drop-bad" in err


def test_openrem_export_without_patient_ids_says_why(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    text = (data_dir / "openrem" / "ct_export_pid.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    drop = {rows[0].index(c) for c in ("Patient ID", "Patient name", "Date of birth")}
    path = tmp_path / "openrem_no_pid.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([[v for i, v in enumerate(r) if i not in drop] for r in rows])
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "OpenREM CT export" in err and "no 'Patient ID' column" in err
    assert "2 row(s)  column 'patient_id': missing patient id" in err


def test_age_band_labels_are_half_open_and_print_order_is_the_csv_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An 18-year-old is in exactly one band, named so that the label says which."""
    path = tmp_path / "ages.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,age_years,sex\n"
        "a,2020-01-01,120,17.99,F\n"  # [0, 18)
        "b,2020-01-01,120,18.0,M\n"  # [18, 30)
        "c,2020-01-01,10,29.99,F\n"  # [18, 30)
        "d,2020-01-01,10,30.0,M\n"  # [30, inf)
    )
    out = tmp_path / "t.csv"
    args = ["analyze", str(path), "--by", "age_band", "--age-bands", "0,18,30"]
    assert main([*args, "--window", "365", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    t = pl.read_csv(out, schema_overrides={"Window (days)": pl.Utf8})
    whole = t.filter(pl.col("Window (days)") == "whole follow-up")
    rows = {r["Age band (years)"]: r for r in whole.iter_rows(named=True)}
    assert list(rows) == ["all", "0-17", "18-29", "30+"]
    assert [rows[b]["Patients"] for b in ("0-17", "18-29", "30+")] == [1, 2, 1]
    assert [rows[b]["Patients ≥ 100 mSv (n)"] for b in ("0-17", "18-29", "30+")] == [1, 1, 0]
    # the printed header lists its columns in the CSV's order (the CSV has more columns)
    header = next(ln for ln in text.splitlines() if "Age band (years)" in ln)
    printed = [c for c in t.columns if c in header]
    positions = [header.index(c) for c in printed]
    assert positions == sorted(positions)
    assert printed[:2] == ["Window (days)", "Age band (years)"]
    assert "0-18" not in text and "18-30" not in text


def test_age_band_labels_with_fractional_edges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ages.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,age_years\n"
        "a,2020-01-01,1,0.4\nb,2020-01-01,1,0.5\nc,2020-01-01,1,40\n"
    )
    out = tmp_path / "t.csv"
    args = ["analyze", str(path), "--by", "age_band", "--age-bands", "0,0.5,18", "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    t = pl.read_csv(out)
    counts = dict(zip(t["Age band (years)"], t["Patients"]))
    assert counts == {"all": 3, "[0, 0.5)": 1, "[0.5, 18)": 1, "18+": 1}


def test_validate_turns_dose_warnings_into_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An adult table applied to a child: a note on stdout, no Python warning with a path."""
    path = tmp_path / "child.csv"
    path.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region,age_years\n1,2020-01-01,300,head,8\n"
    )
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "note: the adult-only table 'aapm96' was applied to 1 row(s)" in captured.out
    assert "--table shrimpton_age" in captured.out
    assert captured.err == "" and ".py" not in captured.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--by", "age_band", "--age-bands", "0,x"], "--age-bands expects comma-separated ages"),
        (["--by", "age_band", "--age-bands", "18,0"], "--age-bands expects increasing edges"),
        (["--by", "indication"], "choose from age_band, sex, facility"),
        (["--out", "table.pdf"], "write .csv, .md, .tex or .xlsx"),
        (["--window", "1.5"], "--window takes whole days, got 1.5"),
    ],
)
def test_analyze_option_errors_are_plain(
    exam_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    assert main(["analyze", str(exam_csv), *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""  # nothing computed before the error
    assert not (tmp_path / "table.pdf").exists()


def test_region_rules_of_your_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Local protocol names recurct's rules leave unmapped ('Onko-Staging', a shoulder)."""
    path = tmp_path / "local.csv"
    path.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region\n"
        "1,2020-01-01,1000,Onko-Staging\n1,2020-02-01,200,Schulter li\n2,2020-01-05,400,Thorax\n"
    )
    assert main(["analyze", str(path)]) == 2  # not recognised without the rules
    assert "'Onko-Staging'" in capsys.readouterr().err
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "# our protocol names\npattern,region\n onko staging ,chest_abdomen_pelvis\n"
        " schulter ,extremity\n"
    )
    table = tmp_path / "k.csv"  # aapm96 has no extremity: a local factor for it
    table.write_text("region,k\nextremity,0.0008\n")
    out = tmp_path / "t.csv"
    args = ["analyze", str(path), "--region-rules", str(rules), "--threshold", "10"]
    assert main([*args, "--fallback", str(table), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "your (--region-rules, first) and recurct's region rules" in text
    t = pl.read_csv(out)
    # by hand: patient 1: 1000 x 0.015 (aapm96 chest-abdomen-pelvis) + 200 x 0.0008 = 15.16;
    # patient 2: 400 x 0.014 (aapm96 chest) = 5.6
    assert t["Patients ≥ 10 mSv (n)"][0] == 1
    assert t["Max CED of patients ≥ 10 mSv (mSv)"][0] == pytest.approx(15.16)
    assert main(["validate", str(path), "--region-rules", str(rules)]) == 1  # extremity: no k
    assert "'extremity'" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("pattern,region\n onko ,chest_only\n")
    assert main(["analyze", str(path), "--region-rules", str(bad)]) == 2
    assert "--region-rules" in capsys.readouterr().err


def test_unknown_sex_code_is_set_null_and_the_exam_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unmapped code is set null and noted, not a row failing validation (issue 17)."""
    path = tmp_path / "sex.csv"
    path.write_text(
        "patient_id,exam_date,effective_dose_msv,sex\n"
        "A,2020-01-01,60,Q\nA,2020-02-01,50,F\nB,2020-01-03,-1,F\nC,2020-01-04,5,W\n"
    )
    assert main(["analyze", str(path), "--threshold", "100", "--drop-bad"]) == 0
    out = capsys.readouterr().out
    assert "1 value(s) set null, exams kept: unknown sex code" in out
    assert "--drop-bad: 1 of 4 rows left out" in out and "negative dose" in out
    assert "3 exams, 2 patients" in out
    path.write_text("patient_id,exam_date,effective_dose_msv,sex\nA,2020-01-01,60,Q\n")
    assert main(["analyze", str(path), "--threshold", "100"]) == 0
    assert "1 exams, 1 patients" in capsys.readouterr().out
