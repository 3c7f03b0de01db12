"""Findings 1, 3 and 4 of the public-API fuzz (session 19): the DRL comparisons read
``age_years`` as ``cumulative_dose`` does (DICOM ages, refused types, the note on exams with no
age in every case); ``recurct.distributed.magnitude`` refuses a table in memory clearly; the
Dask path accepts and refuses what the in-memory path does, with the same messages."""

from __future__ import annotations

import datetime as dt
import importlib.util
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
from recurct import dose
from recurct.errors import DataError, DroppedRowsWarning, ParameterError

HAS_DASK = importlib.util.find_spec("dask") is not None
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="needs dask")


# ------------------------------------------------------------------- 1. DRL and age_years
def _drl_exams(ages: object) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "exam_date": [dt.date(2020, 1, 1)] * 3,
            "body_region": ["head"] * 3,
            "ctdivol_mgy": [10.0, 10.0, 200.0],
            "dlp_mgycm": [300.0, 300.0, 4000.0],
            "effective_dose_msv": [1.0, 1.0, 1.0],
            "age_years": ages,
        },
        strict=False,
    )


AGE_FORMS = {
    "numbers": [40.0, 50.0, 5.0],
    "DICOM years": ["040Y", "050Y", "005Y"],
    "DICOM months": ["480M", "600M", "060M"],
    "text numbers": [" 40", "50", "5"],
    "categories": pl.Series(["040Y", "050Y", "005Y"], dtype=pl.Categorical),
}


@pytest.mark.parametrize("form", list(AGE_FORMS))
def test_drl_reads_ages_as_cumulative_dose_does(form: str) -> None:
    exams = _drl_exams(AGE_FORMS[form])
    assert recurct.cumulative_dose(exams)["age_first_exam"].to_list() == [40.0, 50.0, 5.0]
    with pytest.warns(DroppedRowsWarning, match=r"1 younger than 15 years .*\['5 y'\]"):
        table = dose.compare_to_drl(exams, "arpansa_adult", site=None)
    assert table["n_exams"].to_list() == [2]
    with pytest.warns(DroppedRowsWarning, match="younger than 15"):
        flags = dose.flag_above_drl(exams, "arpansa_adult")
    assert flags["above_drl_ctdivol"].to_list() == [False, False, None]


def test_drl_reads_pandas_object_ages() -> None:
    exams = _drl_exams([40.0, 50.0, 5.0]).to_pandas()
    exams["age_years"] = [40, "018M", None]  # numbers and text mixed: read as text
    with pytest.warns(DroppedRowsWarning, match=r"\['1.5 y'\].*kept 1 exam\(s\) with no age"):
        flags = dose.flag_above_drl(exams, "arpansa_adult")
    assert flags["drl_dlp_mgycm"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize(
    "ages",
    [[True, False, True], [dt.date(2000, 1, 1)] * 3, [[40.0], [50.0], [5.0]]],
    ids=["Boolean", "Date", "List"],
)
@pytest.mark.parametrize("fn", [dose.compare_to_drl, dose.flag_above_drl])
def test_drl_refuses_an_age_column_that_cannot_be_ages(fn, ages) -> None:
    kw = {"site": None} if fn is dose.compare_to_drl else {}
    with pytest.raises(DataError, match=rf"{fn.__name__}: column 'age_years' has dtype"):
        fn(_drl_exams(ages), "arpansa_adult", **kw)


def test_drl_without_age_range_does_not_read_ages() -> None:
    exams = _drl_exams([True, False, True]).with_columns(exam_type=pl.lit("head_stroke"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dose.compare_to_drl(exams, "uk2022", site=None)["n_exams"].to_list() == [3]


@pytest.mark.parametrize("fn", [dose.compare_to_drl, dose.flag_above_drl])
def test_drl_says_exams_without_age_even_when_none_is_young(fn) -> None:
    kw = {"site": None} if fn is dose.compare_to_drl else {}
    exams = _drl_exams([40.0, None, 50.0])
    with pytest.warns(DroppedRowsWarning, match=r"kept 1 exam\(s\) with no age_years") as got:
        fn(exams, "arpansa_adult", **kw)
    assert "left" not in str(got[0].message)  # nothing left out: the note alone
    with warnings.catch_warnings():  # all ages: no warning
        warnings.simplefilter("error")
        fn(_drl_exams(["040Y", "050Y", "060Y"]), "arpansa_adult", **kw)


def test_drl_counts_values_that_are_no_age_in_its_own_warning() -> None:
    exams = _drl_exams(["abc", "-5", "200"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = dose.compare_to_drl(exams, "arpansa_adult", site=None)
    assert table["n_exams"].to_list() == [3]  # set null as cumulative_dose does: kept
    texts = [str(w.message) for w in caught]
    assert len(texts) == 1 and issubclass(caught[0].category, DroppedRowsWarning)
    assert "kept 3 exam(s) with no age_years (3 of them with a value that is neither" in texts[0]
    assert "'abc', '-5', '200'" in texts[0] and "cumulative_dose" not in texts[0]


# ------------------------------------------------------- 3. distributed.magnitude in memory
@needs_dask
@pytest.mark.parametrize("kind", ["polars", "pandas", "lazy"])
def test_distributed_magnitude_refuses_a_table_in_memory(kind: str) -> None:
    import recurct.distributed as rd

    exams = _drl_exams([40.0, 50.0, 5.0])
    patients = recurct.cumulative_dose(exams, [50])
    table = {"polars": patients, "pandas": patients.to_pandas(), "lazy": patients.lazy()}[kind]
    with pytest.raises(
        ParameterError, match=r"dask\.dataframe\.DataFrame.*recurct\.stats\.magnitude"
    ):
        rd.magnitude(table, 50)


# ------------------------------------------------------- 4. the Dask path checks as in memory
BASE = pd.DataFrame(
    {
        "patient_id": ["a", "a", "b"],
        "exam_date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-01-01"]),
        "effective_dose_msv": [1.0, 2.0, 3.0],
    }
)


def _both(pdf: pd.DataFrame, npartitions: int = 1) -> tuple[object, object]:
    """What the in-memory and Dask paths give (a table, or the exception raised)."""
    import dask
    import dask.dataframe as dd

    import recurct.distributed as rd

    out: list[object] = []
    for run in (
        lambda: recurct.cumulative_dose(pdf),
        lambda: rd.cumulative_dose(dd.from_pandas(pdf, npartitions=npartitions)).compute(),
    ):
        try:
            with dask.config.set(scheduler="sync"):
                out.append(run())
        except Exception as exc:
            out.append(exc)
    return out[0], out[1]


def _same_error(memory: object, on_dask: object) -> None:
    assert isinstance(memory, Exception) and type(on_dask) is type(memory), (memory, on_dask)
    m, d = str(memory), str(on_dask)
    # (the message of a wrong exam_date or patient_id names the function called)
    assert d in (m, m.replace("cumulative_dose: ", "recurct.distributed.cumulative_dose: ", 1))


def _same_table(memory: object, on_dask: object) -> None:
    assert isinstance(memory, pd.DataFrame) and isinstance(on_dask, pd.DataFrame), on_dask
    got = on_dask.sort_values("patient_id").reset_index(drop=True)
    assert got["n_exams"].tolist() == memory["n_exams"].tolist()
    assert got["ced_msv"].tolist() == memory["ced_msv"].tolist()


REFUSED_BY_DTYPE = {
    "exam_date int32": BASE.assign(exam_date=np.array([18262, 18293, 18262], dtype="int32")),
    "exam_date timedelta": BASE.assign(exam_date=pd.to_timedelta([1, 2, 3], unit="D")),
    "column twice": pd.concat([BASE, BASE[["effective_dose_msv"]]], axis=1),
    "unused column twice": pd.concat([BASE.assign(x=1), pd.DataFrame({"x": [1, 2, 3]})], axis=1),
    "patient_id bool": BASE.assign(patient_id=[True, True, False]),
    "indication timedelta": BASE.assign(indication=pd.to_timedelta([1, 2, 3], unit="D")),
}


@needs_dask
@pytest.mark.parametrize("case", list(REFUSED_BY_DTYPE))
def test_dask_refuses_from_the_dtypes_what_memory_refuses(case: str) -> None:
    import dask.dataframe as dd

    import recurct.distributed as rd

    memory, on_dask = _both(REFUSED_BY_DTYPE[case])
    _same_error(memory, on_dask)
    # at the call, before any computation
    with pytest.raises(type(memory)):
        rd.cumulative_dose(dd.from_pandas(REFUSED_BY_DTYPE[case], npartitions=1))


OBJECT_COLUMNS = {
    "indication lists": BASE.assign(indication=[["x"], ["y", "z"], ["x"]]),
    "patient_id bytes": BASE.assign(patient_id=[b"a", b"a", b"b"]),
    "patient_id mixed": BASE.assign(patient_id=["a", 1, "b"]),
    "exam_date Python dates": BASE.assign(exam_date=BASE["exam_date"].dt.date),
    "facility mixed": BASE.assign(facility=["A", 1, "B"]),
}


@needs_dask
@pytest.mark.parametrize("case", list(OBJECT_COLUMNS))
def test_dask_object_columns_as_in_memory(case: str) -> None:
    """Columns of Python objects kept as objects (Dask's ``convert-string`` off) are judged
    per partition by the in-memory code: accepted or refused as in memory."""
    import dask

    with dask.config.set({"dataframe.convert-string": False}):
        memory, on_dask = _both(OBJECT_COLUMNS[case], npartitions=2)
    if isinstance(memory, Exception):
        assert isinstance(on_dask, type(memory)), on_dask
        shown = str(memory).split(": ", 1)[1] if "cumulative_dose: " in str(memory) else memory
        assert str(shown) in str(on_dask)
    else:
        _same_table(memory, on_dask)


@needs_dask
def test_dask_python_dates_turned_text_by_dask_are_explained() -> None:
    """Dask's default ``convert-string`` makes a column of Python dates text before recurct
    sees it: refused as text is in memory, saying why."""
    import dask

    with dask.config.set({"dataframe.convert-string": True}):
        _, on_dask = _both(OBJECT_COLUMNS["exam_date Python dates"])
    assert isinstance(on_dask, ParameterError)
    assert "must be a Date or Datetime, got String" in str(on_dask)
    assert "dataframe.convert-string" in str(on_dask)


@needs_dask
@pytest.mark.parametrize("col", ["exam_date", "effective_dose_msv", "patient_id"])
@pytest.mark.parametrize("known", [True, False])
def test_dask_categorical_columns_as_in_memory(col: str, known: bool) -> None:
    import dask
    import dask.dataframe as dd

    import recurct.distributed as rd

    memory = recurct.cumulative_dose(BASE.astype({col: "category"}))
    frame = dd.from_pandas(BASE, npartitions=1)
    frame = (
        frame.astype({col: "category"})
        if not known
        else dd.from_pandas(BASE.astype({col: "category"}), npartitions=1)
    )
    with dask.config.set(scheduler="sync"):
        _same_table(memory, rd.cumulative_dose(frame).compute())
