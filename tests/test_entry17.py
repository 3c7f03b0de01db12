"""A row with no dose at all is a problem; validate's warnings point to its own error (and, for
ambiguous numbers, to read_exams); the duplicate rule's docs state what dedupe does after it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct
from recurct.cli import main
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning

TODAY = "2024-01-01"
NO_DLP_COLUMN = "no dose: effective_dose_msv missing and no dlp_mgycm column to convert"


@pytest.fixture
def f_csv(tmp_path: Path) -> Path:
    path = tmp_path / "f.csv"
    path.write_text(
        "patient_id;exam_date;effective_dose_msv\nA;2021-01-01;5,0\nA;2021-02-01;\nB;2021-01-01;7,0\n"
    )
    return path


def test_read_exams_drops_and_counts_a_row_without_dose(f_csv: Path) -> None:
    with pytest.warns(DroppedRowsWarning, match="1 no dose"):
        r = recurct.read_exams(f_csv, strict=False, today=TODAY)
    assert r.exams.get_column("effective_dose_msv").to_list() == [5.0, 7.0]
    assert r.report.dropped_by_reason == {NO_DLP_COLUMN: 1}
    assert r.report.problems.select("row", "column").rows() == [(1, "effective_dose_msv")]
    assert "row 1 (line 3 of the file), column 'effective_dose_msv': no dose" in str(r.report)


def test_read_exams_strict_names_file_row_line_and_column(f_csv: Path) -> None:
    with pytest.raises(ExamValidationError) as info:
        recurct.read_exams(f_csv, today=TODAY)
    text = str(info.value)
    assert "f.csv" in text
    assert "row 1 (line 3 of the file), column 'effective_dose_msv': " + NO_DLP_COLUMN in text


def test_cli_validate_and_analyze_drop_bad(f_csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", str(f_csv), "--today", TODAY]) == 1
    out = capsys.readouterr().out
    assert "problems found" in out and "line 3 of the file" in out and "no dose" in out
    assert main(["analyze", str(f_csv), "--drop-bad", "--today", TODAY]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "1 of 3 rows left out" in text
    assert "2 exams, 2 patients" in text


def test_a_table_with_dlps_leaves_a_missing_dose_to_effective_dose() -> None:
    """Only a table without a DLP column has nothing to convert: there a null effective dose
    is a problem; with a DLP column, a row without either is reported by effective_dose (the
    step that converts DLPs), and a DLP-only table keeps its documented path."""
    exams = pl.DataFrame(
        {
            "patient_id": ["A", "A", "B", "C"],
            "exam_date": ["2021-01-01", "2021-02-01", "2021-01-01", "2021-01-01"],
            "effective_dose_msv": [5.0, None, None, 1.0],
            "dlp_mgycm": [None, 300.0, None, None],
        }
    )
    req = ["patient_id", "exam_date"]
    assert recurct.validate(exams, required=req).height == 4
    assert recurct.validate(exams.drop("effective_dose_msv"), required=req).height == 4
    no_dlp = exams.drop("dlp_mgycm")
    with pytest.raises(ExamValidationError) as info:
        recurct.validate(no_dlp, required=req)
    rows = info.value.problems.select("row", "column", "reason").rows()
    assert rows == [(r, "effective_dose_msv", NO_DLP_COLUMN) for r in (1, 2)]
    with pytest.warns(DroppedRowsWarning, match="2 no dose"):
        out = recurct.validate(no_dlp, strict=False, required=req)
    assert out.get_column("patient_id").to_list() == ["A", "C"]


def test_no_dose_column_or_a_required_one_changes_nothing() -> None:
    ids = pl.DataFrame({"patient_id": ["A"], "exam_date": ["2021-01-01"]})
    assert recurct.validate(ids, required=["patient_id", "exam_date"]).height == 1
    exams = ids.with_columns(effective_dose_msv=pl.lit(None, pl.Float64))
    with pytest.raises(ExamValidationError) as info:  # required: "missing dose", once
        recurct.validate(exams)
    assert info.value.problems.get_column("reason").to_list() == ["missing dose"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=8))
def test_kept_rows_are_those_with_a_dose(has: list[tuple[bool, bool]]) -> None:
    n = len(has)
    exams = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "exam_date": ["2021-01-01"] * n,
            "effective_dose_msv": [1.0 if d else None for d, _ in has],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRowsWarning)
        out = recurct.validate(exams, strict=False, required=["patient_id", "exam_date"])
    expected = [f"p{i}" for i, (d, _) in enumerate(has) if d]
    assert out.get_column("patient_id").to_list() == expected


def test_validate_warning_names_no_other_report_and_reads_decimal_commas() -> None:
    df = pd.DataFrame(
        {
            "patient_id": ["A", "A"],
            "exam_date": ["2021-03-01", "2021-04-01"],
            "effective_dose_msv": ["1.234", "7"],  # 1.234: a decimal or a thousands point?
        }
    )
    with pytest.warns(DroppedRowsWarning) as record:
        assert len(recurct.validate(df, strict=False, today=TODAY)) == 1
    text = str(record[0].message)
    assert ".report" not in text
    assert "strict=True" in text
    assert "recurct.read_exams(exams, decimal='.')" in text
    commas = df.assign(effective_dose_msv=["12,5", "7,5"])  # read, as read_exams reads them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(recurct.validate(commas, today=TODAY)["effective_dose_msv"]) == [12.5, 7.5]
        assert recurct.read_exams(commas, today=TODAY).report.n_dropped == 0


def test_validate_set_null_warning_too() -> None:
    df = pl.DataFrame(
        {
            "patient_id": ["A", "B"],
            "exam_date": ["2021-03-01", "2021-04-01"],
            "effective_dose_msv": [1.0, 2.0],
            "ctdivol_mgy": ["1.234", "x"],
        }
    )
    with pytest.warns(UnmappedValuesWarning) as record:
        assert recurct.validate(df, strict=False, today=TODAY).height == 2
    text = str(record[0].message)
    assert ".report" not in text and "1 ambiguous number" in text
    plain = df.with_columns(ctdivol_mgy=pl.Series(["1,5", "y"]))  # 1,5 is read: 1.5
    with pytest.warns(UnmappedValuesWarning) as record:
        out = recurct.validate(plain, strict=False, today=TODAY)
    assert out["ctdivol_mgy"].to_list() == [1.5, None]
    assert "decimal" not in str(record[0].message)


def test_dedupe_after_validation_merges_rows_differing_only_in_values_set_null() -> None:
    # the consequence the docs state: validation keeps both, dedupe on its result merges them
    raw = pl.DataFrame(
        {
            "patient_id": ["A", "A"],
            "exam_date": ["2021-03-01 10:00", "2021-03-01 10:00"],
            "effective_dose_msv": [60.0, 60.0],
            "ctdivol_mgy": ["12,5 mGy", "13,1 mGy"],  # text: no number
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = recurct.validate(raw, strict=False, today=TODAY)
        assert checked.height == 2
        assert recurct.validate(checked, strict=False, today=TODAY).height == 1
        assert recurct.Cohort(checked).dedupe().exams.height == 1
    notes = recurct.validate.__doc__ or ""
    assert "compared **as given**" in notes and "can keep" in notes
    assert "do not" in (recurct.Cohort.dedupe.__doc__ or "")
