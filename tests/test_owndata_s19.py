"""Reproductions on your own data (audit s19): patients without a facility, an empty table,
a DLP without a dose through the API, what a saved result records, notes fit for your data,
the age at the first exam, and a seed given with your table; and the review's fixes: one
rule (and one label) for the doses computed from the DLP on the command line and the API,
one formatter of the rows of a file, the dose methods counted once."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest

from recurct import studies
from recurct.cli import main
from recurct.dose import SUPPLIED_METHOD
from recurct.errors import DataError, DoseConversionWarning, ExamValidationError, ParameterError
from recurct.studies import Reproduction, eurosafe2021, rehani2020, sodickson2009

# the audit's hand-made file: 8 patients, 20 exams, 3 facilities (P-008 alone at C)
ROWS = [
    ("P-001", "2019-01-10 08:15:00", 40.0, 45.0, "F", "A"),
    ("P-001", "2019-03-10 14:30:00", 40.0, 45.2, "F", "A"),
    ("P-001", "2019-06-01 09:00:00", 30.0, 45.4, "F", "A"),
    ("P-002", "2018-05-05 10:00:00", 60.0, 50.3, "M", "A"),
    ("P-002", "2019-02-01 11:00:00", 45.0, 51.0, "M", "A"),
    ("P-003", "2019-07-07 12:00:00", 10.0, 30.0, "F", "A"),
    ("P-004", "2017-02-01 07:00:00", 25.0, 16.0, "M", "B"),
    ("P-004", "2017-02-01 19:00:00", 25.0, 16.0, "M", "B"),
    ("P-004", "2017-08-01 10:00:00", 25.0, 16.5, "M", "B"),
    ("P-004", "2018-02-02 10:00:00", 25.0, 17.0, "M", "B"),
    ("P-005", "2019-04-04 10:00:00", 50.0, 55.0, "F", "A"),
    ("P-005", "2019-05-05 10:00:00", 49.9, 55.1, "F", "B"),
    ("P-006", "2018-09-09 23:59:00", 200.0, 48.0, "M", "B"),
    ("P-006", "2019-09-09 10:00:00", 1.0, 49.0, "M", "B"),
    ("P-006", "2020-09-09 10:00:00", 1.0, 50.0, "M", "B"),
    ("P-007", "2019-10-10 10:00:00", 5.0, 8.0, "F", "B"),
    ("P-007", "2019-11-11 10:00:00", 5.0, 8.1, "F", "B"),
    ("P-008", "2019-01-01 10:00:00", 20.0, 40.0, "M", "C"),
    ("P-008", "2019-02-01 10:00:00", 20.0, 40.1, "M", "C"),
    ("P-008", "2019-03-01 10:00:00", 20.0, 40.2, "M", "C"),
]
COLUMNS = ["patient_id", "exam_date", "effective_dose_msv", "age_years", "sex", "facility"]
#: k of aapm96 for the chest (mSv per mGy.cm)
K_CHEST = 0.014


def _hand() -> pl.DataFrame:
    return pl.DataFrame(ROWS, schema=COLUMNS, orient="row").with_columns(
        pl.col("exam_date").str.to_datetime()
    )


def _null_c() -> pl.DataFrame:
    """P-008's three exams (rows 17, 18, 19) without a facility."""
    return _hand().with_columns(
        pl.when(pl.col("facility") == "C")
        .then(None)
        .otherwise(pl.col("facility"))
        .alias("facility")
    )


def _csv(df: pl.DataFrame, path: Path) -> Path:
    df.with_columns(pl.col("exam_date").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(path)
    return path


def _row(rep: Reproduction, key: str) -> dict:
    return rep.table.filter(pl.col("figure") == key).row(0, named=True)


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving a result without drawing its figures (seconds each on 2 cores)."""
    monkeypatch.setattr(Reproduction, "figures", lambda self: {})


def _cli_reproduce(study: str, f: Path, out: Path) -> tuple[int, dict, str]:
    """``recurct reproduce STUDY --exams f --out out``: the exit status, the manifest's
    parameters (empty where nothing was written) and stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["reproduce", study, "--exams", str(f), "--out", str(out)])
    manifest = out / "recurct-manifest.json"
    params = json.loads(manifest.read_text())["parameters"] if manifest.exists() else {}
    return rc, params, err.getvalue()


# ------------------------------------------------ 1. patients without a facility


def test_rehani2020_leaves_patients_without_a_facility_out_of_the_per_site_figures() -> None:
    rep = rehani2020.reproduce(_null_c())
    # 2 institutions, not 3 (the null counted as one)
    assert _row(rep, "n_institutions")["reproduced"] == 2
    # the shortest period is A's (2018-05-05 to 2019-07-07), not the null group's 2 months
    assert _row(rep, "period_years_min")["reproduced"] == pytest.approx(428 / 365.25)
    assert _row(rep, "period_years_max")["reproduced"] == pytest.approx(1316 / 365.25)
    for key in ("n_institutions", "share_age_le50_site_min", "days_to_100_min_site_max"):
        assert "1 patient(s) without a facility left out" in _row(rep, key)["note"], key
    assert "3 exam(s) without a facility left out" in _row(rep, "period_years_min")["note"]
    assert "note: 1 patient(s) without a facility left out" in rep.summary()
    # the whole-table figures keep him
    assert _row(rep, "n_patients")["reproduced"] == 8
    assert _row(rep, "n_exams")["reproduced"] == 20
    # the forest plot is drawn from the patients with a facility (it raised a DataError)
    assert "forest" in rehani2020._figures(rep)


def test_rehani2020_cli_with_patients_without_a_facility_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_figures: None
) -> None:
    f = _csv(_null_c(), tmp_path / "nullfac.csv")
    assert main(["reproduce", "rehani2020", "--exams", str(f), "--out", str(tmp_path / "o")]) == 0
    assert "without a facility left out" in capsys.readouterr().out


def test_eurosafe2021_names_the_rows_without_a_facility() -> None:
    with pytest.raises(DataError) as err:
        eurosafe2021.reproduce(_null_c())
    text = str(err.value)
    assert text.startswith("eurosafe2021.reproduce")
    assert "'facility'" in text and "1 patient has none" in text
    assert "rows 17, 18, 19 of the exam table" in text
    assert "strict" not in text and "drop-bad" not in text


def test_eurosafe2021_cli_names_the_files_rows_and_a_fix_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _csv(_null_c(), tmp_path / "nullfac.csv")
    assert main(["reproduce", "eurosafe2021", "--exams", str(f), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{f}: eurosafe2021 compares institutions" in err
    assert "rows 17, 18, 19 of the file, counted from 0 (lines 19, 20, 21 of the file)" in err
    assert "--map 'their name=facility'" in err and "--drop-bad" not in err
    assert "fill it in (e.g. 'unknown'" in err
    assert not (tmp_path / "o").exists()
    # after --drop-bad the rows are those kept, and said so
    bad = tmp_path / "bad.csv"
    bad.write_text(f.read_text() + "P-009,2019-13-45 10:00:00,10.0,40.0,F,A\n")
    args = ["reproduce", "eurosafe2021", "--exams", str(bad), "--drop-bad"]
    assert main([*args, "--out", str(tmp_path / "o2")]) == 2
    assert "rows 17, 18, 19 of the 20 exams kept after --drop-bad" in capsys.readouterr().err


# ------------------------------------------------------------- 2. an empty table


@pytest.mark.parametrize("module", [rehani2020, eurosafe2021, sodickson2009])
def test_an_empty_table_has_no_data_rows(module, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the exam table has no data rows: nothing to analyse"):
        module.reproduce(_hand().head(0))
    f = _csv(_hand().head(0), tmp_path / "empty.csv")
    with pytest.raises(DataError, match=r"empty\.csv has no data rows"):
        module.reproduce(f)


@pytest.mark.parametrize("study", ["rehani2020", "eurosafe2021", "sodickson2009"])
def test_the_cli_says_an_empty_file_has_no_data_rows(
    study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _csv(_hand().head(0), tmp_path / "empty.csv")
    assert main(["reproduce", study, "--exams", str(f), "--out", str(tmp_path / "o")]) == 2
    assert f"recurct: {f} has no data rows: nothing to analyse" in capsys.readouterr().err


def test_an_internal_type_error_is_not_reported_as_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import recurct.cli._reproduce as cli

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'NoneType'")

    monkeypatch.setattr(cli, "reproduce", broken)
    f = _csv(_hand(), tmp_path / "hand.csv")
    assert (
        main(["reproduce", "sodickson2009", "--exams", str(f), "--out", str(tmp_path / "o")]) == 70
    )
    assert "internal error" in capsys.readouterr().err


# ------------------------------------------------- 3. a DLP without a dose (API)


def _dlp(half: bool = False) -> pl.DataFrame:
    """The hand file with chest DLPs (dose / k): no dose at all, or on every other row."""
    df = _hand().with_columns(
        (pl.col("effective_dose_msv") / K_CHEST).alias("dlp_mgycm"), body_region=pl.lit("chest")
    )
    if half:
        odd = pl.int_range(pl.len()) % 2 == 1
        return df.with_columns(
            pl.when(odd)
            .then(None)
            .otherwise(pl.col("effective_dose_msv"))
            .alias("effective_dose_msv")
        )
    return df.drop("effective_dose_msv")


@pytest.mark.parametrize("half", [False, True])
def test_the_api_computes_a_missing_dose_from_the_dlp_as_the_cli_does(
    half: bool, tmp_path: Path, no_figures: None
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = rehani2020.reproduce(_dlp(half))
    # the command line on the same exams: the same doses, recorded the same way
    f = _csv(_dlp(half), tmp_path / "m.csv")
    rc, params, err = _cli_reproduce("rehani2020", f, tmp_path / "o")
    computed = (
        {"aapm96/nearest-lower": 10, SUPPLIED_METHOD: 10} if half else {"aapm96/nearest-lower": 20}
    )
    assert rc == 0 and params["dose_method"] == rep.dose_method == computed
    # the children's note in the command line's words
    assert "(--table shrimpton_age or --table nci_icrp103_120kv)" in err
    same = rehani2020.reproduce(_hand())
    for key in ("n_exams", "share_reached_100", "ced_max", "ced_median_100"):
        assert _row(rep, key)["reproduced"] == pytest.approx(_row(same, key)["reproduced"]), key
    methods = "aapm96/nearest-lower (10 exams); supplied" if half else "aapm96/nearest-lower (20"
    assert f"effective dose: {methods}" in rep.summary()
    # the children's warning names what reproduce can follow, not a parameter it lacks
    dose = [str(w.message) for w in caught if issubclass(w.category, DoseConversionWarning)]
    assert dose and all(m.startswith("rehani2020.reproduce computed") for m in dose)
    assert not any("(table='shrimpton_age' or table=" in m for m in dose)
    assert all(w.filename == __file__ for w in caught if w.category is DoseConversionWarning)


def test_a_missing_dose_without_dlp_says_how_to_compute_it() -> None:
    with pytest.raises(ExamValidationError) as err:
        sodickson2009.reproduce(_hand().drop("effective_dose_msv"))
    text = str(err.value)
    assert "sodickson2009.reproduce" in text and "recurct.effective_dose(exams, table=" in text
    assert "pass strict=False" not in text and "recurct.validate(exams, strict=False)" in text


def test_a_bad_path_names_a_reader_reproduce_can_take(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    _csv(_hand(), f)
    f.write_text(f.read_text() + "P-010,2019-01-01 10:00:00,-5,40.0,F,A\n")
    with pytest.raises(ExamValidationError) as err:
        rehani2020.reproduce(f)
    text = str(err.value)
    assert "negative dose" in text and "pass strict=False" not in text
    assert "recurct.read_exams(path, strict=False).exams" in text
    assert "computes a missing effective_dose_msv" not in text  # the dose is there, negative


# ------------------------------------------- 4. what a saved result records


def test_the_cli_records_the_input_its_rows_and_dose_methods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_figures: None
) -> None:
    f = _csv(_dlp(half=True), tmp_path / "mine.csv")
    f.write_text(
        f.read_text()
        + "P-009,2019-13-45 10:00:00,,40.0,F,A,1000.0,chest\n"
        + "P-010,2019-01-01 10:00:00,-5.0,40.0,F,A,,chest\n"
    )
    out = tmp_path / "o"
    assert (
        main(["reproduce", "rehani2020", "--exams", str(f), "--drop-bad", "--out", str(out)]) == 0
    )
    stdout = capsys.readouterr().out
    params = json.loads((out / "recurct-manifest.json").read_text())["parameters"]
    assert params["input"] == "mine.csv" and str(tmp_path) not in json.dumps(params)
    assert (params["n_rows_in"], params["n_rows_out"]) == (22, 20)
    assert sum(params["dropped_by_reason"].values()) == 2
    assert params["dose_method"]["aapm96/nearest-lower"] == 10
    for text in (stdout, (out / "table.md").read_text()):
        assert "input: mine.csv: 22 rows read, 20 exams analysed" in text
        assert "2 rows left out" in text
        assert "effective dose: aapm96/nearest-lower (10 exams)" in text


def test_the_api_records_what_it_read(tmp_path: Path) -> None:
    rep = sodickson2009.reproduce(_csv(_hand(), tmp_path / "hand.csv"))
    assert (rep.n_rows_in, rep.n_rows_out, rep.dropped_by_reason) == (20, 20, {})
    rep.save(tmp_path / "o", figures=False)
    params = json.loads((tmp_path / "o" / "recurct-manifest.json").read_text())["parameters"]
    assert params["input"] == "hand.csv"
    # one label for the doses given: the one effective_dose writes (no "as given in the input")
    assert params["dose_method"] == {SUPPLIED_METHOD: 20} == rep.dose_method


# ----------------------------------------------------- 5. age at the first exam


def test_patients_without_an_age_at_the_first_exam_are_counted() -> None:
    d = dt.date
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [d(2019, 1, 1), d(2019, 2, 1), d(2019, 1, 1)],
            "effective_dose_msv": [60.0, 60.0, 120.0],
            "age_years": [None, 40.0, 70.0],
            "facility": ["X", "X", "X"],
        }
    )
    rep = rehani2020.reproduce(ex)
    row = _row(rep, "share_age_le50_site_min")
    assert row["reproduced"] == 0.0  # the rule unchanged: b, 70, of 1
    assert "1 of the 2 patients >= 100 mSv" in row["note"] and "other 1" in row["note"]
    assert "no age at their first exam" in rep.summary()


# ---------------------------------------------- 6. notes fit for your data


SYNTHETIC_ONLY = ("tolerance:", "validation seeds", "no stored distribution", "site list (")


@pytest.mark.parametrize("module", [rehani2020, eurosafe2021, sodickson2009])
def test_rows_on_your_data_carry_no_synthetic_text_and_every_blank_says_why(module) -> None:
    rep = module.reproduce(_hand())
    rows = rep.table.filter(pl.col("status") == "your data")
    for r in rows.iter_rows(named=True):
        head = r["note"].split("(on the synthetic cohort")[0]
        assert not any(s in head for s in SYNTHETIC_ONLY), (r["figure"], r["note"])
        if r["reproduced"] is None:
            assert r["note"], r["figure"]
    assert "6,082" not in " ".join(rows["description"])


@pytest.mark.parametrize(
    ("drop", "why"),
    [
        ("age_years", "needs an age_years column"),
        (None, "no patient >= 100 mSv at any institution"),
    ],
)
def test_rehani2020_blank_per_site_figures_say_why(drop: str | None, why: str) -> None:
    ex = _hand()
    ex = ex.drop(drop) if drop else ex.with_columns(pl.col("effective_dose_msv") / 10)
    rep = rehani2020.reproduce(ex)
    for key in ("share_age_le50_site_min", "share_age_gt50_site_max"):
        assert _row(rep, key)["reproduced"] is None and why in _row(rep, key)["note"]
    if drop is None:
        assert why in _row(rep, "days_to_100_min_site_max")["note"]
        assert _row(rep, "ced_median_100")["note"] == "no patient >= 100 mSv"
    assert "no country" in _row(rep, "n_institutions_usa")["note"]


# --------------------------------------------- 7. a seed given with your table


@pytest.mark.parametrize("study", ["rehani2020", "eurosafe2021", "sodickson2009"])
def test_a_seed_with_your_table_is_refused(study: str) -> None:
    with pytest.raises(ParameterError, match="seed=123 chooses the synthetic cohort"):
        studies.reproduce(study, exams=_hand(), seed=123)
    assert studies.reproduce(study, exams=_hand(), seed=0).mode == "your data"  # the default


def test_the_synthetic_manifest_is_unchanged(tmp_path: Path) -> None:
    rep = sodickson2009.reproduce(n_patients=200, seed=3)
    rep.save(tmp_path / "o", figures=False)
    params = json.loads((tmp_path / "o" / "recurct-manifest.json").read_text())["parameters"]
    assert params == {"study": "sodickson2009", "mode": "synthetic", "seed": 3}
    assert "input:" not in rep.summary()


# ---------------------------------------- review s19 (helper-160): one rule, one formatter


def test_every_dose_given_beside_a_dlp_is_supplied_on_the_cli_and_the_api(
    tmp_path: Path, no_figures: None
) -> None:
    """One trigger rule: a dose is computed only where one is missing (the command line
    converted a file whose every dose was given, and labelled it otherwise)."""
    df = _hand().with_columns(
        (pl.col("effective_dose_msv") / K_CHEST).alias("dlp_mgycm"), body_region=pl.lit("chest")
    )
    f = _csv(df, tmp_path / "mine.csv")
    rc, params, err = _cli_reproduce("rehani2020", f, tmp_path / "cli")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = rehani2020.reproduce(f)
    assert rc == 0 and params["dose_method"] == rep.dose_method == {SUPPLIED_METHOD: 20}
    assert "effective dose: supplied (effective_dose_msv given in the input) (20 exams)" in (
        rep.summary()
    )
    rep.save(tmp_path / "api", figures=False)
    api = json.loads((tmp_path / "api" / "recurct-manifest.json").read_text())["parameters"]
    assert api["dose_method"] == params["dose_method"]
    # nothing computed: nothing to warn of (children's ages 8 and 16 among the rows)
    assert not [w for w in caught if issubclass(w.category, DoseConversionWarning)]
    assert "adult-only" not in err


def test_one_rule_fills_the_missing_doses_only() -> None:
    from recurct.dose.effective import dose_missing, fill_dose_from_dlp

    given = _hand().with_columns(dlp_mgycm=pl.lit(100.0), body_region=pl.lit("chest"))
    out, said = fill_dose_from_dlp(given)
    assert out is given and said == [] and not dose_missing(given)  # every dose given
    half = _dlp(half=True)
    out, said = fill_dose_from_dlp(half, prepare=lambda d: d.with_columns(prepared=True))
    assert out["effective_dose_msv"].null_count() == 0 and out["prepared"].all()
    assert out["dose_method"].value_counts()["count"].to_list() == [10, 10]
    assert said and all(not s.startswith("effective_dose: ") for s in said)
    nodlp = _hand().drop("effective_dose_msv")  # missing, and nothing to compute it from
    assert dose_missing(nodlp) and fill_dose_from_dlp(nodlp)[0] is nodlp


def test_the_child_table_hint_is_the_warnings_own() -> None:
    from recurct.dose import effective_dose
    from recurct.dose.effective import CHILD_TABLES_HINT

    child = pl.DataFrame({"dlp_mgycm": [100.0], "body_region": ["chest"], "age_years": [5.0]})
    with pytest.warns(DoseConversionWarning) as caught:
        effective_dose(child)
    assert CHILD_TABLES_HINT in str(caught[0].message)


def test_a_parquet_folder_names_each_exams_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    d = dt.datetime
    pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [d(2019, 1, 1), d(2019, 2, 1), d(2019, 1, 1)],
            "effective_dose_msv": [60.0, 60.0, 120.0],
            "facility": ["X", "X", "Y"],
        }
    ).write_parquet(folder / "a.parquet")
    pl.DataFrame(
        {
            "patient_id": ["c", "c"],
            "exam_date": [d(2019, 1, 1), d(2019, 2, 1)],
            "effective_dose_msv": [6.0, 6.0],
            "facility": [None, None],
        },
        schema_overrides={"facility": pl.Utf8},
    ).write_parquet(folder / "b.parquet")
    rc, _, err = _cli_reproduce("eurosafe2021", folder, tmp_path / "o")
    assert rc == 2
    assert (
        "1 patient has none: their 2 exams are rows 3, 4 of the table read, counted from 0 "
        "(row 0 of b.parquet, row 1 of b.parquet); fill it in (e.g. 'unknown'"
    ) in err
    assert "lines row" not in err and "your file" not in err


def test_one_exam_without_a_facility_is_one_row() -> None:
    ex = _hand().with_columns(
        pl.when(pl.col("patient_id") == "P-003")
        .then(None)
        .otherwise(pl.col("facility"))
        .alias("facility")
    )
    with pytest.raises(DataError, match="1 patient has none: their 1 exam is row 5 of the exam"):
        eurosafe2021.reproduce(ex)


def test_eurosafe2021_without_a_facility_column_names_its_reproduce() -> None:
    with pytest.raises(DataError) as err:
        eurosafe2021.reproduce(_hand().drop("facility"))
    assert str(err.value).startswith("eurosafe2021.reproduce compares institutions")


def test_the_cli_names_no_private_name_of_the_studies() -> None:
    import ast

    import recurct.cli._reproduce as cli

    tree = ast.parse(Path(cli.__file__).read_text("utf-8"))
    private = [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recurct.studies")
        for a in node.names
        if a.name.startswith("_")
    ]
    assert not private


def test_the_dose_methods_are_a_field_counted_once(tmp_path: Path) -> None:
    import dataclasses

    with pytest.warns(DoseConversionWarning, match="adult-only"):  # ages 8 and 16
        rep = sodickson2009.reproduce(_dlp(half=True))
    assert rep.dose_method == {"aapm96/nearest-lower": 10, SUPPLIED_METHOD: 10}
    assert "dose_method" in {f.name for f in dataclasses.fields(Reproduction)}
    one = dataclasses.replace(rep, dose_method={"aapm96/nearest-lower": 1}, exams=None)
    assert "effective dose: aapm96/nearest-lower (1 exam)\n" in one.summary() + "\n"
    one.save(tmp_path / "o", figures=False)
    params = json.loads((tmp_path / "o" / "recurct-manifest.json").read_text())["parameters"]
    assert params["dose_method"] == {"aapm96/nearest-lower": 1}
    assert sodickson2009.reproduce(n_patients=50, seed=1).dose_method == {}


@pytest.mark.parametrize("zero", [np.int64(0), np.uint8(0)])
def test_a_seed_of_zero_of_any_integer_type_goes_with_your_table(zero: object) -> None:
    assert rehani2020.reproduce(_hand(), seed=zero).mode == "your data"


@pytest.mark.parametrize("seed", [np.int64(3), False, 0.0])
def test_any_other_seed_with_your_table_is_refused(seed: object) -> None:
    with pytest.raises(ParameterError, match="chooses the synthetic cohort"):
        rehani2020.reproduce(_hand(), seed=seed)


def test_a_float32_age_is_read_as_written() -> None:
    from recurct.dose import effective_dose

    ex = pl.DataFrame({"dlp_mgycm": [1000.0], "body_region": ["chest"], "age_years": [12.3]})
    f32 = ex.with_columns(pl.col("age_years").cast(pl.Float32))
    for rule in ("interpolate", "nearest"):
        a = effective_dose(f32, table="shrimpton_age", age_rule=rule)["effective_dose_msv"]
        b = effective_dose(ex, table="shrimpton_age", age_rule=rule)["effective_dose_msv"]
        assert a.to_list() == b.to_list(), rule
