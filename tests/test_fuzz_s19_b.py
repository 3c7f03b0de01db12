"""Findings 5, 6, 8, 9 and 10 of the session-19 public-API fuzz: raw polars, pandas and
Python errors (or a silent empty result) where recurct names the parameter, column or path."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import recurct
import recurct.stats as st
import recurct.synthetic as syn
from recurct.errors import (
    DataError,
    DroppedRowsWarning,
    InputNotFoundError,
    ParameterError,
)


@pytest.fixture(scope="module")
def patients() -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return recurct.cumulative_dose(syn.generate("small", 300, seed=1), [50])


# -- 5: a pandas Period exam_date -------------------------------------------------------------


def _period_exams() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": pd.to_datetime(["2020-01-01", "2020-02-01"]).to_period("D"),
            "effective_dose_msv": [1.0, 2.0],
        }
    )


@pytest.mark.parametrize(
    "read",
    [
        recurct.validate,
        lambda d: recurct.validate(d, strict=False),
        recurct.read_exams,
    ],
    ids=["validate", "validate-lenient", "read_exams"],
)
def test_period_exam_date_is_named(read) -> None:
    with pytest.raises(DataError, match=r"'exam_date' has dtype Extension\('pandas\.period'"):
        read(_period_exams())


def test_period_exam_date_converted_is_read() -> None:
    df = _period_exams()
    df["exam_date"] = df["exam_date"].dt.to_timestamp()  # the conversion the message gives
    assert len(recurct.validate(df)) == 2


# -- 6: read_rdsr with no file at all ---------------------------------------------------------


def test_read_rdsr_empty_folder(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    with pytest.raises(InputNotFoundError, match=r"read_rdsr: folder .* holds no file") as exc:
        recurct.read_rdsr(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_read_rdsr_empty_list() -> None:
    pytest.importorskip("pydicom")
    with pytest.raises(InputNotFoundError, match="source is empty"):
        recurct.read_rdsr([])


def test_read_rdsr_folders_of_empty_folders(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    with pytest.raises(InputNotFoundError, match=r"the folders .* hold no file"):
        recurct.read_rdsr([tmp_path / "a", tmp_path / "b"])


def test_read_rdsr_folder_of_other_files_still_reports_them(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    (tmp_path / "notes.txt").write_text("not a dose report")
    with pytest.warns(DroppedRowsWarning, match="1 file"):
        result = recurct.read_rdsr(tmp_path)
    assert result.exams.height == 0
    assert result.report.files_skipped == 1


# -- 8: exam_rate checks the patients table's dates -------------------------------------------


def test_exam_rate_text_first_exam(patients: pl.DataFrame) -> None:
    text = patients.with_columns(pl.col("first_exam").dt.strftime("%Y-%m-%d"))
    with pytest.raises(DataError, match=r"exam_rate: column 'first_exam' .* must hold dates"):
        st.exam_rate(text, "n_repeat ~ sex")


def test_exam_rate_text_last_exam(patients: pl.DataFrame) -> None:
    text = patients.with_columns(pl.col("last_exam").dt.strftime("%Y-%m-%d"))
    with pytest.raises(DataError, match=r"exam_rate: column 'last_exam' .* must hold dates"):
        st.exam_rate(text, "n_repeat ~ sex")


# -- 9: cluster= of the regressions -----------------------------------------------------------


@pytest.mark.parametrize("cluster", ["", [], ["facility"], pl.col("facility"), 3])
@pytest.mark.parametrize("fn", ["risk_factors", "exam_rate"])
def test_regression_cluster_must_be_a_name(patients: pl.DataFrame, fn: str, cluster) -> None:
    formula = "reached_50 ~ sex" if fn == "risk_factors" else "n_repeat ~ sex"
    with pytest.raises(ParameterError, match=rf"{fn}\(cluster=\.\.\.\): a column name must be"):
        getattr(st, fn)(patients, formula, cluster=cluster)


def test_regression_cluster_by_name_still_fits(patients: pl.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.risk_factors(patients, "reached_50 ~ sex", cluster="facility")
    assert res.cluster == "facility"


# -- 10: Cohort.where and the functions of the exam table -------------------------------------


@pytest.fixture(scope="module")
def cohort() -> recurct.Cohort:
    return recurct.Cohort(syn.generate("small", 100, seed=1))


@pytest.mark.parametrize(
    ("predicate", "dtype"),
    [(pl.col("facility"), "String"), (pl.col("effective_dose_msv"), "Float64")],
)
def test_cohort_where_not_boolean(cohort: recurct.Cohort, predicate: pl.Expr, dtype: str) -> None:
    with pytest.raises(ParameterError, match=rf"Cohort\.where: predicate .* gives {dtype}"):
        cohort.where(predicate)


def test_cohort_where_boolean_still_filters(cohort: recurct.Cohort) -> None:
    kept = cohort.where(pl.col("effective_dose_msv") > 1)
    assert 0 < kept.n_exams < cohort.n_exams


def test_exam_table_functions_name_the_exam_table() -> None:
    exams = pl.DataFrame({"patient_id": ["a"], "effective_dose_msv": [1.0]})
    with pytest.raises(DataError, match=r"dose_share: the exam table lacks .*'body_region'"):
        st.dose_share(exams)
    with pytest.raises(DataError, match=r"single_exam_share: the exam table lacks .*'patient_id'"):
        st.single_exam_share(exams.drop("patient_id"))
    for fn in (st.dose_share, st.single_exam_share):
        with pytest.raises(
            ParameterError, match=r"by: column\(s\) \['site'\] not in the exam table"
        ):
            fn(exams, by="site")
