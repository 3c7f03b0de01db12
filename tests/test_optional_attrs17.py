"""A bad optional attribute never costs an exam its dose: values set null merge no exams,
the command line maps regions as validation does, pandas columns mixing numbers and text are
judged cell by cell, and a dose that needs a value set null says so."""

from __future__ import annotations

import math
import warnings
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recurct
from recurct.errors import ExamValidationError
from recurct.schema import duplicate_mask

TODAY = "2024-01-01"


def _read(source: object, **kw: object) -> recurct.io.ReadResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return recurct.read_exams(source, today=TODAY, **kw)


# --- 1: a value set null makes no duplicate ----------------------------------------------


@pytest.fixture
def dup_csv(tmp_path: Path) -> Path:
    p = tmp_path / "dup.csv"
    p.write_text(
        "patient_id,exam_date,effective_dose_msv,ctdivol_mgy\n"
        'a,2020-01-01,60,"12,5"\n'
        'a,2020-01-01,60,"13,1"\n'
    )
    return p


def test_values_set_null_keep_both_exams_and_both_are_counted(dup_csv: Path) -> None:
    r = _read(dup_csv, strict=False)
    assert r.exams.height == 2
    assert r.exams["effective_dose_msv"].sum() == 120.0
    assert r.report.dropped_by_reason == {}
    assert r.report.set_null_by_reason == {"not a number": 2}
    ced = recurct.cumulative_dose(r)
    assert ced["ced_msv"].to_list() == [120.0]


def test_strict_lists_the_two_values_and_no_duplicate(dup_csv: Path) -> None:
    with pytest.raises(ExamValidationError) as info:
        _read(dup_csv)
    problems = info.value.problems
    assert problems.select("row", "column", "value").rows() == [
        (0, "ctdivol_mgy", "12,5"),
        (1, "ctdivol_mgy", "13,1"),
    ]
    assert "duplicate exam" not in problems["reason"].to_list()


def test_rows_equal_as_given_are_still_copies() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a"],
            "exam_date": [date(2020, 1, 1)] * 2,
            "effective_dose_msv": [60.0, 60.0],
            "age_years": [150.0, 150.0],
        }
    )
    assert duplicate_mask(ex).to_list() == [False, True]
    assert _read(ex, strict=False).exams.height == 1


BAD = {
    "age_years": [150.0, -1.0, math.nan, "seventy", "1,5,0", "200"],
    "ctdivol_mgy": [-1.0, math.inf, math.nan, "n.a.", "12,5,1", "-3"],
    "dlp_mgycm": [-5.0, math.nan, math.inf, "x", "13,1,2", "1e9"],
}


@given(
    column=st.sampled_from(sorted(BAD)),
    pair=st.data(),
    timed=st.booleans(),
    text=st.booleans(),
)
def test_setting_an_attribute_null_never_makes_two_rows_copies(
    column: str, pair: st.DataObject, timed: bool, text: bool
) -> None:
    pool = [v for v in BAD[column] if text or not isinstance(v, str)]
    a, b = pair.draw(
        st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique_by=str).map(tuple)
    )
    values = [str(a), str(b)] if text else [a, b]
    day: date | datetime = datetime(2020, 1, 1, 9, 30) if timed else date(2020, 1, 1)
    ex = pl.DataFrame(
        {
            "patient_id": ["p", "p"],
            "exam_date": [day, day],
            "effective_dose_msv": [60.0, 60.0],
            column: values,
        },
        strict=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = recurct.validate(ex, strict=False, today=TODAY)
    assert out.height == 2  # both exams, both doses
    assert out[column].to_list() == [None, None]
    assert duplicate_mask(ex).to_list() == [False, False]
    with pytest.raises(ExamValidationError) as info:
        recurct.validate(ex, today=TODAY)
    assert set(info.value.problems["column"].to_list()) == {column}


# --- 2: the command line maps regions as validation does ---------------------------------


@pytest.mark.parametrize(
    "texts", [("CT Thorax nativ", "CT Thorax mit KM"), ("Hip left", "Shoulder right")]
)
@pytest.mark.parametrize("column", ["body_region", "Study Description"])
def test_cli_and_read_exams_agree_on_region_texts(
    tmp_path: Path, texts: tuple[str, str], column: str
) -> None:
    import argparse

    from recurct.cli._input import load_exams

    p = tmp_path / "reg.csv"
    p.write_text(
        f"patient_id,exam_date,effective_dose_msv,{column}\n"
        f"a,2020-01-01,60,{texts[0]}\n"
        f"a,2020-01-01,60,{texts[1]}\n"
    )
    args = argparse.Namespace(drop_bad=True, today=TODAY)
    loaded = load_exams(str(p), args)
    assert loaded.exams.height == 2
    assert loaded.exams["effective_dose_msv"].sum() == 120.0
    assert loaded.dropped == {}
    assert any("region rules" in n for n in loaded.notes)  # the mapping is still noted
    if column == "body_region":
        read = _read(p, strict=False)
        assert read.exams.height == loaded.exams.height
        assert read.exams["effective_dose_msv"].sum() == 120.0
        assert loaded.exams["body_region_raw"].to_list() == list(texts)


def test_cli_analyze_counts_both_exams(tmp_path: Path) -> None:
    from recurct.cli import main

    p = tmp_path / "reg2.csv"
    p.write_text(
        "patient_id,exam_date,effective_dose_msv,body_region\n"
        "a,2020-01-01,60,CT Thorax nativ\n"
        "a,2020-01-01,60,CT Thorax mit KM\n"
    )
    assert main(["analyze", str(p), "--today", TODAY]) == 0


# --- 3: pandas columns mixing numbers and text ------------------------------------------


def _base() -> dict[str, list]:
    return {
        "patient_id": ["a", "b", "c"],
        "exam_date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"]),
        "effective_dose_msv": [1.0, 2.0, 3.0],
    }


MIXED = {
    "ctdivol_mgy": ([1.0, "n.a.", None], [1], {"not a number": 1}),
    "age_years": ([67, "067Y", "x"], [2], {"not a number": 1}),
    "facility": ([1, "A", None], [], {}),
}


@pytest.mark.parametrize("column", sorted(MIXED))
def test_pandas_mixed_optional_column_is_judged_cell_by_cell(column: str) -> None:
    values, bad_rows, set_null = MIXED[column]
    df = pd.DataFrame({**_base(), column: values})
    r = _read(df, strict=False)
    assert len(r.exams) == 3
    assert r.report.set_null_by_reason == set_null
    assert r.exams[column].isna().tolist() == [
        v is None or i in bad_rows for i, v in enumerate(values)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (cumulative_dose counts an age it cannot read)
        assert recurct.cumulative_dose(df)["ced_msv"].tolist() == [1.0, 2.0, 3.0]
        assert len(recurct.running_dose(df)) == 3
        assert recurct.Cohort(df).n_exams == 3
    if bad_rows:
        with pytest.raises(ExamValidationError) as info:
            _read(df)
        assert info.value.problems.select("row", "column").rows() == [(r, column) for r in bad_rows]
    else:
        assert len(_read(df).exams) == 3


def test_pandas_mixed_id_column_is_still_refused() -> None:
    df = pd.DataFrame({**_base(), "study_uid": [1.2, "1.2.3", None]})
    with pytest.raises(recurct.errors.DataError, match="column 'study_uid': row 1 holds str"):
        _read(df, strict=False)


# --- 8: a dose that needs a value set null quotes it ------------------------------------


def test_cli_missing_age_quotes_the_value_given(tmp_path: Path) -> None:
    import argparse

    from recurct.cli._input import load_exams
    from recurct.errors import InputError

    p = tmp_path / "dlp.csv"
    p.write_text(
        "patient_id,exam_date,dlp_mgycm,body_region,age_years\n"
        "a,2020-01-01,500,chest,150\n"
        "a,2020-02-01,500,chest,40\n"
        "b,2020-02-01,500,chest,seventy\n"
    )
    args = argparse.Namespace(today=TODAY, table="shrimpton_age")
    with pytest.raises(InputError) as info:
        load_exams(str(p), args)
    text = str(info.value)
    assert "'150'" in text and "'seventy'" in text
    assert "set null by validation: age outside 0-130" in text
