"""A review of the s22 ingestion changes.

* A Python number of a pandas ``object`` dose or age column (number cells beside text cells,
  what ``pd.read_excel`` gives) is read as exactly that number, never decides the text
  cells' decimal mark, and is shown as plain decimal text (``150.5``, not ``1505e-1``) in
  messages and returned columns.
* OpenREM's missing values are recurct's one list (``NA``, ``-``, ``#N/A`` ...).
* The too-large-id error starts with the function's name on every engine path, from one
  text; ``read_exams``' missing-file error too.
* The placeholder rule: one list, its regex, ``null_text`` and ``missing_text`` agree.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
import recurct.dose as dose
from recurct import _casts
from recurct.errors import DataError, ExamValidationError, InputNotFoundError


def _objects(*values: Any) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _exams(n: int = 3, **cols: Any) -> pd.DataFrame:
    base: dict[str, Any] = {
        "patient_id": [f"p{i}" for i in range(n)],
        "exam_date": [dt.date(2020, 1, 1 + i) for i in range(n)],
        "effective_dose_msv": [1.0] * n,
    }
    return pd.DataFrame({**base, **cols})


# ------------------------------------------------- numbers of object columns as users wrote


def test_validate_quotes_a_python_number_as_plain_decimal_text() -> None:
    exams = _exams(age_years=_objects(150.5, "n.a.", 40), dlp_mgycm=_objects(-12.5, "x", 3))
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(exams, today="2024-01-01")
    said = str(err.value)
    assert "row 0, column 'age_years': age outside 0-130 (value: '150.5')" in said
    assert "row 0, column 'dlp_mgycm': negative dose (value: '-12.5')" in said
    assert "e-1" not in said


def test_validate_quotes_a_number_in_a_decimal_comma_column_with_its_comma() -> None:
    exams = _exams(age_years=_objects(150.5, "40,5", None))
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(exams, today="2024-01-01")
    assert "(value: '150,5')" in str(err.value)


@pytest.mark.parametrize(("text", "shown"), [("250,5", "3000,125"), ("n.a.", "3000.125")])
def test_flag_above_drl_returns_the_numbers_as_plain_decimal_text(text: str, shown: str) -> None:
    exams = pd.DataFrame({"exam_type": ["head_stroke"] * 2, "dlp_mgycm": _objects(3000.125, text)})
    flags = _quiet(dose.flag_above_drl, exams, "uk2022", strict=False)
    assert flags["dlp_mgycm"].tolist()[0] == shown
    assert flags["dlp_mgycm"].tolist()[1] == text  # text as written
    assert flags["above_drl_dlp"].tolist()[0]  # 3000.125 > 970: read as that number


@pytest.mark.parametrize(
    ("number", "text", "shown"),
    [
        (30.125, "250,5", "30,125"),
        (30.125, "12.5", "30.125"),
        (30.5, "n.a.", "30.5"),
        # 30.125 alone in a column whose text cells show no mark would be ambiguous (a
        # thousands point?): written with a trailing zero, the one spelling changed
        (30.125, "n.a.", "30.1250"),
    ],
)
def test_effective_dose_returns_the_numbers_as_plain_decimal_text(
    number: float, text: str, shown: str
) -> None:
    exams = _exams(2, body_region=["chest"] * 2, dlp_mgycm=_objects(number, text))
    out = _quiet(dose.effective_dose, exams.drop(columns="effective_dose_msv"), strict=False)
    assert out["dlp_mgycm"].tolist()[0] == shown
    k = float(dose.table("aapm96").filter(pl.col("region") == "chest")["k"][0])
    assert out["effective_dose_msv"].tolist()[0] == pytest.approx(number * k)


def test_a_number_beside_ambiguous_text_leaves_it_ambiguous() -> None:
    """(b): the float gives no evidence of the mark; "1,234" stays ambiguous, reported."""
    exams = _exams(2, dlp_mgycm=_objects(1000.5, "1,234"))
    with pytest.raises(ExamValidationError) as err:
        recurct.validate(exams, today="2024-01-01")
    problems = err.value.problems
    assert problems["row"].to_list() == [1]
    assert problems["reason"][0].startswith("ambiguous number")
    out = _quiet(recurct.validate, exams, today="2024-01-01", strict=False)
    assert out["dlp_mgycm"].tolist()[0] == 1000.5


@pytest.mark.parametrize(
    ("texts", "decimal"),
    [
        (("250,5",), None),
        (("250,5",), ","),
        (("12.5",), None),
        (("12.5",), "."),
        (("n.a.",), None),
        (("n.a.",), ","),
        (("n.a.",), "."),
        (("1.234,5", "7"), None),
        (("1,234.5", "x"), None),
    ],
)
@pytest.mark.parametrize("number", [300.125, 1000.5, 0.5, 7, Decimal("300.125")], ids=repr)
def test_read_exams_and_validate_read_the_number(
    number: Any, texts: tuple[str, ...], decimal: str | None
) -> None:
    cells = _objects(number, *texts)
    exams = _exams(len(cells), ctdivol_mgy=cells, age_years=cells)
    read = _quiet(recurct.read_exams, exams, decimal=decimal, strict=False, today="2024-01-01")
    assert read.exams["ctdivol_mgy"].tolist()[0] == float(number)
    if decimal is None:
        out = _quiet(recurct.validate, exams, strict=False, today="2024-01-01")
        assert out["ctdivol_mgy"].tolist()[0] == float(number)


def test_cumulative_dose_and_drl_read_a_python_age() -> None:
    exams = _exams(2, age_years=_objects(10.125, "n.a."))
    out = _quiet(recurct.cumulative_dose, exams)
    assert out["age_first_exam"].tolist()[0] == 10.125
    audit = pd.DataFrame(
        {"body_region": ["head"] * 2, "dlp_mgycm": [900.0] * 2, "age_years": _objects(14.125, 40)}
    )
    flags = _quiet(dose.flag_above_drl, audit, drl="arpansa_adult")
    assert flags["drl_dlp_mgycm"].isna().tolist() == [True, False]  # 14.125: a child


NUMBERS = [
    300.125,
    -300.125,
    1.234,
    1000.5,
    -5.5,
    0.1,
    0.125,
    1e20,
    1.5e25,
    5e-324,
    1.7976931348623157e308,
    123456789.123,
    0.0,
    7,
    -12,
    10**30,
    Decimal("1E+3"),
    Decimal("-0.0010"),
    Decimal("300.125"),
    np.int64(5),
    np.float64(2.5e-7),
    np.float32(12.3),
    np.float64(300.125),
]
TEXTS = [
    ("250,5",),
    ("1.234,5",),
    ("12.5",),
    ("1,234.5",),
    ("1,234",),
    ("1.234",),
    ("800",),
    ("n/a",),
    ("1.2.3",),
    ("1,2,3",),
    ("12,5", "1.5"),
    ("12,5", "1.5", "1,234"),
    ("1.234", "1,234"),
    (" 250,5 ", "NULL"),
]


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
@pytest.mark.parametrize("texts", TEXTS, ids=str)
@pytest.mark.parametrize("decimal", [None, ",", "."])
def test_objects_as_text_reads_the_number_and_leaves_the_text_alone(
    number: Any, texts: tuple[str, ...], decimal: str | None
) -> None:
    """(a) each number read as exactly itself, (b) the text cells read as they read alone,
    (c) plain decimal text wherever the text cells are not undecided and ambiguous."""
    from recurct._frames import objects_as_text

    column = objects_as_text([number, *texts], "v", numbers=True, decimal=decimal)
    read = _casts.numeric_text(column, decimal)
    expected = float(str(number)) if isinstance(number, np.float32) else float(number)
    assert read.cast(pl.Float64, strict=False)[0] == expected
    alone = _casts.numeric_text(pl.Series("v", list(texts)), decimal)
    assert read[1:].to_list() == alone.to_list()
    written = column[0]
    text_ambiguous = decimal is None and any(
        read.str.ends_with(_casts.AMBIGUOUS_NUMBER).fill_null(False)
    )
    if not text_ambiguous and "e" not in str(number).lower():
        assert "e" not in written  # plain decimal text, not 300125e-3
        plain = written.replace(",", ".")
        assert plain.rstrip("0") == str(number).rstrip("0") or plain == str(number)


# ------------------------------------------------------------- OpenREM's missing values


@pytest.mark.parametrize("cell", ["NA", "-", "#N/A", "(null)", "<NA>", "NULL", "nan", "None", ""])
def test_openrem_reads_recurct_placeholders_as_missing(cell: str, tmp_path: Path) -> None:
    from recurct.io.openrem import read_openrem_ct

    path = tmp_path / "export.csv"
    path.write_text(
        "Patient ID,Study date,Study time,DLP total (mGy.cm),Patient age\n"
        f"A,2020-04-03,{cell},{cell},{cell}\nB,2020-04-03,11:00,100,40\n"
    )
    result = _quiet(read_openrem_ct, path)
    assert result.exams["dlp_mgycm"].to_list() == [None, 100.0]
    assert result.exams["age_years"].to_list()[0] is None
    assert result.report.problems.height == 0  # a missing study time is no problem


# --------------------------------------------------------- function names in the messages


def _too_large() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": pl.Series([1, 2**63 + 5, 3], dtype=pl.UInt64),
            "exam_date": [dt.datetime(2020, 1, 1)] * 3,
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )


@pytest.mark.parametrize(
    ("fn", "call"),
    [
        ("cumulative_dose", lambda df: recurct.cumulative_dose(df)),
        ("validate", lambda df: recurct.validate(df)),
        (
            "cumulative_dose_chunked",
            lambda df: recurct.outofcore.cumulative_dose_chunked(df.lazy(), buckets=2),
        ),
    ],
)
def test_too_large_ids_name_the_function(fn: str, call: Any) -> None:
    with pytest.raises(DataError) as err:
        _quiet(call, _too_large())
    said = str(err.value)
    assert said.startswith(f"{fn}: column 'patient_id': row 1 ")
    assert said.endswith(recurct._frames.OUTSIDE_INT64)


def test_too_large_ids_name_the_function_on_dask() -> None:
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    from recurct.distributed import cumulative_dose

    ddf = dd.from_pandas(_too_large().to_pandas(), npartitions=2)
    with dask.config.set(scheduler="sync"), pytest.raises(DataError) as err:
        _quiet(lambda: cumulative_dose(ddf).compute())
    assert str(err.value).startswith("recurct.distributed.cumulative_dose: column 'patient_id'")


def test_one_text_and_no_alias_of_the_checks() -> None:
    import recurct.outofcore as ooc

    assert ooc.OUTSIDE_INT64 is recurct._frames.OUTSIDE_INT64  # the one text
    assert not hasattr(ooc, "_OUTSIDE_INT64") and not hasattr(ooc, "_BAD_CHECKS")


def test_read_exams_names_itself_for_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputNotFoundError, match=r"^read_exams: .*nope\.csv: no such file"):
        recurct.read_exams(missing)
    with pytest.raises(InputNotFoundError, match=r"^read_exams: .*nope: no such file"):
        recurct.read_exams(tmp_path / "nope")


def test_an_empty_folder_is_named_as_docs_scaling_says(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputNotFoundError) as err:
        recurct.cumulative_dose(tmp_path)
    assert str(err.value).startswith(f"cumulative_dose: {tmp_path}: folder holds no Parquet files")
    doc = (Path(__file__).parents[1] / "docs" / "scaling.md").read_text()
    assert "`cumulative_dose: <folder>: folder holds no Parquet files ...`" in doc


# ------------------------------------------------------------------- the placeholder rule


@pytest.mark.parametrize("value", _casts.NULL_STRINGS)
@pytest.mark.parametrize("pad", ["", " ", "\t "])
def test_placeholder_rules_agree(value: str, pad: str) -> None:
    cell = f"{pad}{value}{pad}"
    frame = pl.DataFrame({"v": [cell, f"x{value}x"]})
    v = pl.col("v")
    got = frame.select(
        null=_casts.null_text(v).is_null(),
        missing=_casts.missing_text(v),
        regex=v.str.contains(_casts._PLACEHOLDER),
        scan=v.str.contains(_casts._MAY_REWRITE_OR_NULL[None]),
    )
    assert got["null"].to_list() == [True, False]
    assert got["missing"].to_list() == [True, False]
    # the regex finds the placeholder as it is; a padded one is found by its spaces
    assert got["regex"].to_list() == [pad == "", False]
    assert got["scan"][0]
    assert _casts.numeric_text(pl.Series("v", [cell, "12"]))[0] is None
    assert re.fullmatch(_casts._PLACEHOLDER, value)  # the same rule in Python's re
