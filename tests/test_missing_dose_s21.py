"""One rule for a missing effective dose (recurct.dose.effective.missing_dose), applied by
validation, effective_dose, the command line and a study's reproduce alike; one count of the
dose methods (recurct.dose.effective.dose_methods).

Expected doses are DLP x k with the aapm96 factors of PUBLISHED.md (chest 0.014, head
0.0021), worked out by hand, never read back from recurct.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings
from pathlib import Path

import polars as pl
import pytest
from cli_helpers import run_cli

import recurct
from recurct.dose import SUPPLIED_METHOD, DoseConversionError, DoseConversionWarning
from recurct.errors import ExamValidationError
from recurct.io.exams import READ_REQUIRED

TODAY = "2024-01-01"
K_CHEST, K_HEAD = 0.014, 0.0021
COMPUTED = "aapm96/nearest-lower"

# given, empty, spaces, placeholders (n/a, NULL, -), and a given dose without a DLP
CSV = (
    "patient_id,exam_date,effective_dose_msv,dlp_mgycm,body_region\n"
    "a,2020-01-01,10.0,500,chest\n"
    "a,2020-02-01,,500,chest\n"
    "b,2020-01-05,  ,1000,head\n"
    "b,2020-03-05,n/a,400,chest\n"
    "c,2020-01-09,NULL,200,chest\n"
    "c,2020-04-09,-,100,head\n"
    "d,2020-01-02,5.0,,chest\n"
)
DOSES = [10.0, 500 * K_CHEST, 1000 * K_HEAD, 400 * K_CHEST, 200 * K_CHEST, 100 * K_HEAD, 5.0]
METHODS = {COMPUTED: 5, SUPPLIED_METHOD: 2}
MISSING = [None, "", "  ", "\t", "n/a", "N/A", "NA", "na", "-", "NULL", "None", "#N/A", " n/a "]
GIVEN = ["12.5", "0", "abc", "NaN", "1e400"]


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    p = tmp_path / "exams.csv"
    p.write_text(text)
    return p


def _as_written(p: Path) -> pl.DataFrame:
    """The file's cells as text, as written (no reader's rule of missing values; the test
    files hold no quotes)."""
    header, *rows = p.read_text().splitlines()
    cells = [r.split(",") for r in rows]
    return pl.DataFrame(cells, schema=header.split(","), orient="row")


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_cli(args)
    return rc, out.getvalue(), err.getvalue()


def _doses(df: pl.DataFrame) -> list[float]:
    return df["effective_dose_msv"].to_list()


# ------------------------------------------------------------------ the rule itself


@pytest.mark.parametrize("value", MISSING)
@pytest.mark.parametrize("dtype", [pl.Utf8, pl.Categorical, "enum"])
def test_a_blank_or_placeholder_dose_is_missing(value: str | None, dtype: object) -> None:
    from recurct.dose.effective import dose_missing, missing_doses

    cells = ["12.5", value]
    s = pl.Series("effective_dose_msv", cells, dtype=pl.Utf8)
    s = s.cast(pl.Enum(sorted({c for c in cells if c is not None}))) if dtype == "enum" else s
    s = s.cast(dtype) if dtype == pl.Categorical else s
    assert missing_doses(s).tolist() == [False, True]
    assert dose_missing(s.to_frame())


@pytest.mark.parametrize("value", GIVEN)
def test_a_value_given_is_not_missing(value: str) -> None:
    from recurct.dose.effective import dose_missing, missing_doses

    s = pl.Series("effective_dose_msv", [value])
    assert missing_doses(s).tolist() == [False] and not dose_missing(s.to_frame())


def test_nan_is_a_dose_given_and_null_a_missing_one() -> None:
    from recurct.dose.effective import missing_doses

    s = pl.Series("effective_dose_msv", [1.0, float("nan"), None])
    assert missing_doses(s).tolist() == [False, False, True]
    assert missing_doses(pl.Series("effective_dose_msv", [None, None])).tolist() == [True, True]


# ------------------------------------------------------------------ each step applies it


@pytest.mark.parametrize("value", MISSING)
@pytest.mark.parametrize("dtype", [pl.Utf8, pl.Categorical])
def test_effective_dose_computes_every_missing_form(value: str | None, dtype: object) -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [500.0, 500.0],
            "body_region": ["chest", "chest"],
            "effective_dose_msv": pl.Series(["3.5", value], dtype=pl.Utf8).cast(dtype),
        }
    )
    out = recurct.effective_dose(exams)
    assert _doses(out) == [3.5, pytest.approx(500 * K_CHEST)]
    assert out["dose_method"].to_list() == [SUPPLIED_METHOD, COMPUTED]


@pytest.mark.parametrize(
    ("dose", "reason"),
    [
        (pl.Series([float("nan")]), "NaN dose"),
        (pl.Series(["NaN"]), "NaN dose"),
        (pl.Series(["abc"]), "dose not a number"),
    ],
)
def test_effective_dose_never_estimates_over_a_bad_dose(dose: pl.Series, reason: str) -> None:
    exams = pl.DataFrame({"dlp_mgycm": [500.0], "body_region": ["chest"]}).with_columns(
        dose.alias("effective_dose_msv")
    )
    with pytest.raises(DoseConversionError) as err:
        recurct.effective_dose(exams)
    assert err.value.problems.select("row", "column", "reason").rows() == [
        (0, "effective_dose_msv", reason)
    ]
    with pytest.warns(DoseConversionWarning, match=reason):
        out = recurct.effective_dose(exams, strict=False)
    assert _doses(out) == [None]  # null, never zero, never the estimate


@pytest.mark.parametrize("value", ["", "  ", "n/a", "NULL"])
def test_validate_reads_a_missing_dose_by_the_rule(value: str) -> None:
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": ["2020-01-01", "2020-02-01"],
            "effective_dose_msv": ["10.0", value],
            "dlp_mgycm": [100.0, 500.0],
            "body_region": ["chest", "chest"],
        }
    )
    # the dose not required (as read_exams and the command line read): left for the DLP
    kept = recurct.validate(exams, required=READ_REQUIRED, today=TODAY)
    assert _doses(kept) == [10.0, None]
    # required: a missing dose, not "not a number"
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(exams, today=TODAY)
    assert err.value.problems.select("row", "column", "reason").rows() == [
        (1, "effective_dose_msv", "missing dose")
    ]
    # without a DLP column: no dose at all
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(exams.drop("dlp_mgycm"), required=READ_REQUIRED, today=TODAY)
    assert err.value.problems["reason"].to_list() == [
        "no dose: effective_dose_msv missing and no dlp_mgycm column to convert"
    ]


def test_fill_dose_from_dlp_sees_blank_text_doses() -> None:
    from recurct.dose.effective import fill_dose_from_dlp

    exams = pl.DataFrame(
        {"dlp_mgycm": [500.0] * 2, "body_region": ["chest"] * 2, "effective_dose_msv": ["", " "]}
    )
    out, _ = fill_dose_from_dlp(exams)
    assert _doses(out) == [pytest.approx(500 * K_CHEST)] * 2


def test_fill_dose_from_dlp_refuses_a_nan_dose_whatever_the_other_rows() -> None:
    """A NaN beside a null dose was estimated over; alone, refused by validation."""
    from recurct.dose.effective import fill_dose_from_dlp

    exams = pl.DataFrame(
        {
            "dlp_mgycm": [500.0, 500.0],
            "body_region": ["chest"] * 2,
            "effective_dose_msv": [float("nan"), None],
        }
    )
    with pytest.raises(DoseConversionError, match="NaN dose"):
        fill_dose_from_dlp(exams)


# ------------------------------------------------------------------ the paths agree


def test_the_command_line_and_the_api_keep_and_convert_the_same_exams(tmp_path: Path) -> None:
    from recurct.cli._input import load_exams
    from recurct.dose.effective import dose_methods, dose_methods_text, fill_dose_from_dlp

    p = _csv(tmp_path)
    # the command line's input step
    cli = load_exams(str(p), argparse.Namespace(today=TODAY)).exams
    assert _doses(cli) == pytest.approx(DOSES)
    # read_exams, then effective_dose
    api = recurct.effective_dose(recurct.read_exams(p, today=TODAY).exams)
    assert _doses(api) == pytest.approx(DOSES)
    # the cells as written ("", "  ", "n/a" as text), in memory: the same rule
    written = _as_written(p)
    prepared, _ = fill_dose_from_dlp(
        written, prepare=lambda d: recurct.validate(d, required=READ_REQUIRED, today=TODAY)
    )
    assert _doses(prepared) == pytest.approx(DOSES)
    assert dose_methods(cli) == dose_methods(api) == dose_methods(prepared) == METHODS
    # the same patients' cumulative doses
    ced = [recurct.cumulative_dose(t).sort("patient_id")["ced_msv"] for t in (cli, api, prepared)]
    assert ced[0].to_list() == pytest.approx(ced[1].to_list())
    assert ced[0].to_list() == pytest.approx(ced[2].to_list())
    # `recurct analyze` reports the one count
    rc, out, err = _cli(["analyze", str(p), "--threshold", "10", "--today", TODAY])
    assert rc == 0, err
    assert f"7 exams, 4 patients; effective dose: {dose_methods_text(METHODS)}" in out
    # `recurct validate`: clean (every missing dose converted)
    rc, out, err = _cli(["validate", str(p), "--today", TODAY])
    assert rc == 0 and "clean" in out, out + err


def test_a_studys_reproduce_of_the_cells_as_written_agrees(tmp_path: Path) -> None:
    from recurct.studies import sodickson2009

    p = _csv(tmp_path)
    written = _as_written(p).filter(pl.col("patient_id") != "d")  # doses or DLPs everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseConversionWarning)
        from_frame = sodickson2009.reproduce(written)
        from_file = sodickson2009.reproduce(p)
    assert from_frame.dose_method == {COMPUTED: 5, SUPPLIED_METHOD: 1}
    assert from_file.dose_method == METHODS
    assert _doses(from_frame.exams) == pytest.approx(DOSES[:-1])


def test_a_row_without_any_dose_is_dropped_alike(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "patient_id,exam_date,effective_dose_msv\na,2020-01-01,10\na,2020-02-01,n/a\n",
    )
    reasons = []
    with pytest.raises(ExamValidationError) as err:
        recurct.read_exams(p, today=TODAY)
    reasons.append(err.value.problems.select("row", "column", "reason").rows())
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(_as_written(p), required=READ_REQUIRED, today=TODAY)
    reasons.append(err.value.problems.select("row", "column", "reason").rows())
    why = "no dose: effective_dose_msv missing and no dlp_mgycm column to convert"
    assert reasons[0] == reasons[1] == [(1, "effective_dose_msv", why)]
    rc, out, _ = _cli(["validate", str(p), "--today", TODAY])
    assert rc == 1 and "no dose" in out


def test_the_dose_methods_count_has_one_home() -> None:
    from recurct.dose.effective import dose_methods, dose_methods_text

    exams = pl.DataFrame({"dose_method": ["x", None, "x", "y"]})
    assert dose_methods(exams) == {"x": 2, SUPPLIED_METHOD: 1, "y": 1}
    assert dose_methods(pl.DataFrame({"a": [1, 2]})) == {SUPPLIED_METHOD: 2}
    assert dose_methods(pl.DataFrame({"a": []})) == {}
    assert dose_methods_text({"x": 2, "y": 1}) == "x (2 exams); y (1 exam)"
