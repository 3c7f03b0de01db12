"""Numbers in object columns (audit s22): a Python number beside text is read as that number.

``pd.read_excel`` gives a column of number cells and text cells as a pandas ``object`` column
of Python floats and strings ("250,5" where a cell was typed as text in a decimal-comma
locale). Each Python number (int, float, Decimal, numpy; not a bool) is read as that number
whatever the column's text cells say of their decimal mark: 300.125 beside "250,5" is 300.125,
not 300125 (the text "300.125" read with thousands points). The text cells decide the mark
among themselves, as they would alone. Also: the DRL comparisons give an ambiguous number
validate's reason, and show the ages they leave out in full.
"""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
import recurct.dose as dose
from recurct._casts import numeric_text
from recurct.errors import DataError

NUMBERS = [
    300.125,
    np.float64(300.125),
    Decimal("300.125"),
    Decimal("300.1250"),
]


def _objects(*values: Any) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught]


def _audit(dlp: pd.Series, ctdivol: pd.Series | None = None) -> pd.DataFrame:
    cols: dict[str, Any] = {"exam_type": ["head_stroke"] * len(dlp), "facility": "A"}
    cols["dlp_mgycm"] = dlp
    if ctdivol is not None:
        cols["ctdivol_mgy"] = ctdivol
    return pd.DataFrame(cols)


# ------------------------------------------------------------ DRL comparisons (pandas input)


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
def test_compare_to_drl_reads_a_python_number_beside_decimal_comma_text(number: Any) -> None:
    exams = _audit(_objects(number, "250,5"), _objects(12.125, "20,5"))
    table, _ = _quiet(dose.compare_to_drl, exams)
    row = table.iloc[0]
    assert row["median_dlp"] == pytest.approx((300.125 + 250.5) / 2)
    assert row["n_above_dlp"] == 0
    assert row["median_ctdivol"] == pytest.approx((12.125 + 20.5) / 2)


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
def test_flag_above_drl_reads_a_python_number_beside_decimal_comma_text(number: Any) -> None:
    exams = _audit(_objects(number, "250,5"), _objects(12.125, "20,5"))
    flags, _ = _quiet(dose.flag_above_drl, exams)
    assert flags["above_drl_dlp"].tolist() == [False, False]  # 300.125 < 790, not 300125
    assert flags["above_drl_ctdivol"].tolist() == [False, False]


def test_drl_reads_integers_and_float32_and_thousands_text() -> None:
    # an int, a float32 (as written: 12.3) and text with thousands points and a decimal comma
    exams = _audit(_objects(700, np.float32(12.3), "1.234,5", 1000.5, None))
    flags, _ = _quiet(dose.flag_above_drl, exams)
    assert flags["above_drl_dlp"].tolist()[:4] == [False, False, True, True]
    table, _ = _quiet(dose.compare_to_drl, exams)
    assert table["n_dlp"].tolist() == [4]
    assert table["median_dlp"].tolist() == [pytest.approx((700 + 1000.5) / 2)]


@pytest.mark.parametrize(
    "missing", [None, float("nan"), np.float32("nan"), pd.NA, Decimal("NaN")], ids=repr
)
def test_missing_python_values_are_no_value(missing: Any) -> None:
    table, _ = _quiet(dose.compare_to_drl, _audit(_objects(800.5, missing, "700,5")))
    assert table["n_exams"].tolist() == [3]
    assert table["n_dlp"].tolist() == [2]
    assert table["median_dlp"].tolist() == [pytest.approx(750.5)]


def test_a_bool_is_not_a_dlp() -> None:
    with pytest.raises(DataError, match="DLP not a number"):
        dose.flag_above_drl(_audit(_objects(True, "700,5")))
    flags, said = _quiet(dose.flag_above_drl, _audit(_objects(True, "700,5")), strict=False)
    assert flags["above_drl_dlp"].isna().tolist() == [True, False]
    assert any("1 DLP not a number" in s for s in said)


def test_numbers_do_not_decide_the_decimal_mark_of_the_text() -> None:
    """A Python number has no decimal mark: "1,234" beside it is as ambiguous as alone."""
    for text in ("1,234", "1.234"):
        with pytest.raises(DataError, match="ambiguous number") as err:
            dose.flag_above_drl(_audit(_objects(1000.5, text)))
        assert f"(value: {text!r})" in str(err.value)  # quoted as written


def test_a_bad_text_cell_is_quoted_as_written() -> None:
    with pytest.raises(DataError, match=r"row 1, column 'dlp_mgycm': DLP not a number") as err:
        dose.flag_above_drl(_audit(_objects(300.125, "abc", "250,5")))
    assert "(value: 'abc')" in str(err.value)


def test_polars_object_column_reads_python_numbers_and_quotes_them() -> None:
    dlp = pl.Series("dlp_mgycm", [300.125, "250,5", -5.5], dtype=pl.Object)
    exams = pl.DataFrame({"exam_type": ["head_stroke"] * 3}).with_columns(dlp)
    with pytest.raises(DataError, match="negative DLP") as err:
        dose.flag_above_drl(exams)
    assert "(value: -5.5)" in str(err.value)  # the value as given
    flags, _ = _quiet(dose.flag_above_drl, exams, strict=False)
    assert flags["above_drl_dlp"].to_list() == [False, False, None]
    table, _ = _quiet(dose.compare_to_drl, exams, site=None, strict=False)
    assert table["median_dlp"].to_list() == [pytest.approx((300.125 + 250.5) / 2)]


# --------------------------------------------------------------------------- ages


@pytest.mark.parametrize("age", [10.125, Decimal("10.125"), np.float64(10.5)], ids=repr)
def test_a_python_age_beside_decimal_comma_text_is_that_age(age: Any) -> None:
    exams = pd.DataFrame(
        {
            "body_region": ["head"] * 2,
            "dlp_mgycm": [900.0, 900.0],
            "age_years": _objects(age, "40,5"),
        }
    )
    flags, said = _quiet(dose.flag_above_drl, exams, drl="arpansa_adult")
    assert flags["drl_dlp_mgycm"].isna().tolist() == [True, False]  # the child is left out
    assert any("younger than 15 years" in s and f"['{float(age)!r} y']" in s for s in said)


def test_polars_object_ages_are_read_as_numbers() -> None:
    ages = pl.Series("age_years", [10.125, "40,5"], dtype=pl.Object)
    exams = pl.DataFrame({"body_region": ["head"] * 2, "dlp_mgycm": [900.0, 900.0]})
    flags, _ = _quiet(dose.flag_above_drl, exams.with_columns(ages), drl="arpansa_adult")
    assert flags["drl_dlp_mgycm"].to_list() == [None, 1000.0]


def test_cumulative_dose_reads_a_python_age_beside_decimal_comma_text() -> None:
    exams = pd.DataFrame(
        {
            "patient_id": ["p", "q"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
            "effective_dose_msv": [1.0, 2.0],
            "age_years": _objects(10.125, "40,5"),
        }
    )
    out, said = _quiet(recurct.cumulative_dose, exams)
    assert out["age_first_exam"].tolist() == [10.125, 40.5]
    assert not said


def test_a_required_column_mixing_types_is_still_refused() -> None:
    exams = pd.DataFrame(
        {
            "patient_id": ["p", "p"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
            "effective_dose_msv": _objects(3.125, "2,5"),
        }
    )
    with pytest.raises(DataError, match="make the column one type"):
        recurct.cumulative_dose(exams)


# ---------------------------------------------------------- effective dose and validate


def _exams(**cols: Any) -> pd.DataFrame:
    base: dict[str, Any] = {
        "patient_id": ["p", "q"],
        "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
        "body_region": ["chest", "chest"],
    }
    return pd.DataFrame({**base, **cols})


@pytest.mark.parametrize("number", [30.125, Decimal("30.125"), np.float64(30.125)], ids=repr)
def test_effective_dose_reads_a_python_dlp_beside_decimal_comma_text(number: Any) -> None:
    out, _ = _quiet(dose.effective_dose, _exams(dlp_mgycm=_objects(number, "250,5")))
    k = float(dose.table("aapm96").filter(pl.col("region") == "chest")["k"][0])
    assert out["effective_dose_msv"].tolist() == pytest.approx([30.125 * k, 250.5 * k])


def test_validate_reads_python_numbers_beside_decimal_comma_text() -> None:
    exams = _exams(
        effective_dose_msv=[1.0, 2.0],
        dlp_mgycm=_objects(300.125, "250,5"),
        ctdivol_mgy=_objects(Decimal("12.125"), "20,5"),
        age_years=_objects(10.125, "40,5"),
    )
    out = recurct.validate(exams)
    assert out["dlp_mgycm"].tolist() == [300.125, 250.5]
    assert out["ctdivol_mgy"].tolist() == [12.125, 20.5]
    assert out["age_years"].tolist() == [10.125, 40.5]


@pytest.mark.parametrize("decimal", [None, ",", "."])
def test_read_exams_reads_a_python_number_whatever_its_decimal(decimal: str | None) -> None:
    """A Python number is read as itself whether or not ``decimal=`` is given: its text
    has no mark for ``decimal`` to read."""
    exams = _exams(effective_dose_msv=[1.0, 2.0], ctdivol_mgy=_objects(300.125, "x"))
    read, _ = _quiet(recurct.read_exams, exams, decimal=decimal, strict=False, today="2024-01-01")
    assert read.exams["ctdivol_mgy"].tolist()[0] == 300.125


# ------------------------------------------------------------------- the one helper


@pytest.mark.parametrize(
    "number",
    [
        300.125,
        -5.5,
        0.1,
        1e20,
        1e25,
        5e-324,
        1.7976931348623157e308,
        123456789.123,
        0.0,
        7,
        -12,
        10**30,
        Decimal("1E+3"),
        Decimal("-0.0010"),
        np.int64(5),
        np.float64(2.5e-7),
    ],
    ids=repr,
)
@pytest.mark.parametrize("text", ["250,5", "1.234,5", "12.5", "1,234.5", "1,234", "800", "n/a"])
@pytest.mark.parametrize("decimal", [None, ",", "."])
def test_number_as_text_reads_as_the_number_beside_any_text(
    number: Any, text: str, decimal: str | None
) -> None:
    from recurct._frames import number_as_text

    written = number_as_text(number)
    assert "." not in written and "," not in written
    column = pl.Series("v", [written, text])
    read = numeric_text(column, decimal).cast(pl.Float64, strict=False)
    assert read[0] == float(number)
    alone = numeric_text(pl.Series("v", [text]), decimal)  # the text as it reads alone
    assert numeric_text(column, decimal)[1] == alone[0]


def test_number_as_text_of_float32_is_as_written_and_infinities() -> None:
    from recurct._frames import number_as_text

    assert number_as_text(np.float32(12.3)) == "123e-1"
    assert number_as_text(float("-inf")) == "-inf" and number_as_text(Decimal("Inf")) == "inf"
    assert number_as_text(300.0) == "300"


def test_objects_as_text_keeps_text_and_bools_and_nulls_missing() -> None:
    from recurct._frames import objects_as_text

    values = [True, "  250,5 ", b"7", None, float("nan"), pd.NaT, pd.NA, 2.5, Decimal("NaN")]
    assert objects_as_text(values, "v", numbers=True).to_list() == [
        "True",
        "  250,5 ",
        "7",
        None,
        None,
        None,
        None,
        "2,5",  # plain decimal text with the mark the text cells decide ("250,5": a comma)
        None,
    ]
    assert objects_as_text([2.5, "n.a."], "v", numbers=True).to_list() == ["2.5", "n.a."]
    # not a number column (a site, an exam type): every value by str, as before
    assert objects_as_text([2.5, "A"], "v").to_list() == ["2.5", "A"]


# ------------------------------------------------- an ambiguous number in a DRL comparison


def test_drl_gives_validate_reason_for_an_ambiguous_number() -> None:
    exams = pl.DataFrame({"exam_type": ["head_stroke"] * 2, "dlp_mgycm": ["1,234", "800"]})
    with pytest.raises(DataError) as err:
        dose.flag_above_drl(exams)
    table = exams.with_columns(
        patient_id=pl.Series(["p", "q"]),
        exam_date=pl.Series(["2020-01-01"] * 2),
        effective_dose_msv=pl.Series([1.0, 2.0]),
    )
    with pytest.raises(recurct.errors.ExamValidationError) as validated:
        recurct.validate(table)
    reason = validated.value.problems["reason"][0]
    assert reason.startswith("ambiguous number")
    assert f"row 0, column 'dlp_mgycm': {reason} (value: '1,234')" in str(err.value)
    assert reason == dose.drl.AMBIGUOUS_REASON
    flags, said = _quiet(dose.flag_above_drl, exams, strict=False)
    assert flags["above_drl_dlp"].to_list() == [None, True]
    assert any(f"left 1 value(s) out as no value (1 {reason})" in s for s in said)


# ------------------------------------------------------------- ages shown in full


def test_ages_left_out_are_shown_in_full() -> None:
    exams = pl.DataFrame(
        {
            "body_region": ["head", "head"],
            "dlp_mgycm": [900.0, 900.0],
            "age_years": [14.9999999, 8.0],
        }
    )
    _, said = _quiet(dose.flag_above_drl, exams, drl="arpansa_adult")
    assert any("['14.9999999 y', '8 y']" in s for s in said), said
