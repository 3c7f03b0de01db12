"""A text ``age_years`` is read by one rule everywhere: ``cumulative_dose``, the DRL
comparison and ``effective_dose`` read it as ``validate`` does ("Numbers in text": the
column decides its decimal mark, an ambiguous cell is no number; then DICOM ages), so
``"1,5"`` is 1.5 years in all of them and ``"1.234"`` with nothing to decide its mark is no
age in all of them."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct
from recurct import dose
from recurct._casts import NULL_STRINGS
from recurct.cumulative import read_ages
from recurct.errors import DoseConversionWarning, DroppedRowsWarning, UnmappedValuesWarning

TODAY = "2024-01-01"


def exams(ages: list[Any], **more: Any) -> pl.DataFrame:
    n = len(ages)
    return pl.DataFrame(
        {
            "patient_id": [f"P{i:02d}" for i in range(n)],  # one exam each, sorted as given
            "exam_date": [date(2020, 1, 2)] * n,
            "effective_dose_msv": [1.0] * n,
            "age_years": pl.Series(ages, dtype=pl.Utf8),
            **more,
        }
    )


def coded(df: pl.DataFrame, dtype: str) -> pl.DataFrame:
    """``df`` with its text ``age_years`` as text, categories or an enum."""
    if dtype == "categorical":
        return df.with_columns(pl.col("age_years").cast(pl.Categorical))
    if dtype == "enum":
        values = df.get_column("age_years").unique(maintain_order=True).drop_nulls()
        return df.with_columns(pl.col("age_years").cast(pl.Enum(values.to_list())))
    return df


def quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def validated_ages(df: pl.DataFrame) -> list[float | None]:
    return quiet(recurct.validate, df, strict=False, today=TODAY)["age_years"].to_list()


@pytest.fixture(scope="module")
def drl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DRL set of mine for ages 15+ (module scope: the hypothesis tests take it)."""
    return drl_csv(tmp_path_factory.mktemp("drl"))


def drl_csv(tmp_path: Path, age_from: str = "15") -> Path:
    path = tmp_path / "drl_mine.csv"
    path.write_text(
        f"# name: mine\n# age_from_years: {age_from}\nexam_type,ctdivol_mgy,dlp_mgycm\n"
        "chest,12.3,450.1\n",
        encoding="utf-8",
    )
    return path


# --- the same ages as validate, for any column of text ages ----------------------------------

_whole = st.integers(0, 140).map(str)
_frac = st.integers(0, 99).map(str)


@st.composite
def _age(draw: st.DrawFn) -> str | None:
    kind = draw(
        st.sampled_from(["int", "comma", "point", "dicom", "amb", "thousands", "junk", "none"])
    )
    lead = draw(st.integers(1, 999))
    three = f"{draw(st.integers(0, 999)):03d}"
    cell = {
        "int": draw(_whole),
        "comma": f"{draw(_whole)},{draw(_frac)}",  # 1,5  67,0
        "point": f"{draw(_whole)}.{draw(_frac)}",  # 12.5
        "dicom": draw(
            st.sampled_from(["067Y", "018M", "006W", "010D", "1,5Y", "1.5Y", "70 Y", "250Y"])
        ),
        "amb": f"{lead}{draw(st.sampled_from('.,'))}{three}",  # 1.234 or 1,234
        "thousands": f"{lead}.{three},{draw(_frac)}",  # 1.234,5
        "junk": draw(st.sampled_from(["x", "old", "1.2.3", "1,2,3", "", "N/A", "NaN", "--1"])),
        "none": None,
    }[kind]
    if cell is not None and kind not in ("junk", "dicom"):
        cell = draw(st.sampled_from(["", "", "-"])) + cell
    if cell is not None and draw(st.booleans()):
        cell = f" {cell} "  # surrounding spaces, as a spreadsheet leaves them
    return cell


@settings(max_examples=80, deadline=None)
@given(
    ages=st.lists(_age(), min_size=1, max_size=8),
    dtype=st.sampled_from(["text", "categorical", "enum"]),
)
def test_text_ages_as_validate_reads_them(ages: list[str | None], dtype: str) -> None:
    df = coded(exams(ages), dtype)
    want = validated_ages(df)
    # cumulative_dose: one exam per patient, so age_first_exam is each row's age
    patients = quiet(recurct.cumulative_dose, df)
    assert patients["age_first_exam"].to_list() == want
    # read_ages, its reader: the values that are no age are those read as no age
    age, n, _ = read_ages(df.get_column("age_years"))
    assert age.to_list() == want
    given_ = df.get_column("age_years").cast(pl.Utf8).str.strip_chars()
    present = [g is not None and g not in NULL_STRINGS for g in given_.to_list()]
    assert n == sum(p and w is None for p, w in zip(present, want))


@settings(max_examples=40, deadline=None)
@given(
    ages=st.lists(_age(), min_size=1, max_size=8),
    dtype=st.sampled_from(["text", "categorical"]),
)
def test_drl_and_effective_dose_read_text_ages_as_validate(
    drl_file: Path, ages: list[str | None], dtype: str
) -> None:
    df = coded(exams(ages), dtype)
    want = validated_ages(df)
    # the DRL comparison leaves out exactly the exams validate reads as younger than 15
    drl = df.with_columns(exam_type=pl.lit("chest"), dlp_mgycm=pl.lit(400.0))
    flags = quiet(dose.flag_above_drl, drl, drl_file)
    young = [w is not None and w < 15 for w in want]
    assert [v is None for v in flags["drl_dlp_mgycm"].to_list()] == young
    # effective_dose with an age-dependent table: the doses of the ages validate reads
    conv = df.select("age_years").with_columns(dlp_mgycm=pl.lit(100.0), body_region=pl.lit("head"))
    as_read = conv.with_columns(age_years=pl.Series(want, dtype=pl.Float64))
    got = quiet(dose.effective_dose, conv, table="shrimpton_age", strict=False)
    ref = quiet(dose.effective_dose, as_read, table="shrimpton_age", strict=False)
    assert got["effective_dose_msv"].to_list() == ref["effective_dose_msv"].to_list()


# --- a decimal comma is an age, everywhere ---------------------------------------------------


@pytest.mark.parametrize("dtype", ["text", "categorical", "enum"])
def test_a_decimal_comma_age_in_cumulative_dose(dtype: str) -> None:
    df = coded(exams(["1,5", "67,0", "067Y"]), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every value is an age: no warning
        patients = recurct.cumulative_dose(df, thresholds=1)
    assert patients["age_first_exam"].to_list() == [1.5, 67.0, 67.0]
    assert patients["age_reached_1"].to_list() == [1.5, 67.0, 67.0]
    assert validated_ages(df) == [1.5, 67.0, 67.0]


def test_a_decimal_comma_child_is_left_out_of_an_adult_drl_set() -> None:
    kids = pl.DataFrame(
        {
            "body_region": ["head"] * 3,
            "age_years": ["1,5", "40,0", "50,5"],
            "dlp_mgycm": [300.0, 1100.0, 1200.0],
        }
    )
    with pytest.warns(DroppedRowsWarning, match=r"left 1 exam\(s\) out.*younger than 15") as w:
        out = dose.compare_to_drl(kids, "arpansa_adult", site=None)
    assert "1.5 y" in str(w[0].message) and "no age_years" not in str(w[0].message)
    assert out["n_exams"].to_list() == [2] and out["median_dlp"].to_list() == [1150.0]
    with pytest.warns(DroppedRowsWarning, match="younger than 15"):
        flags = dose.flag_above_drl(kids, "arpansa_adult_2018")
    assert flags["drl_dlp_mgycm"].to_list() == [None, 880.0, 880.0]


def test_a_decimal_comma_age_in_effective_dose() -> None:
    text = pl.DataFrame({"dlp_mgycm": [100.0], "body_region": ["head"], "age_years": ["1,5"]})
    number = text.with_columns(age_years=pl.lit(1.5))
    got = dose.effective_dose(text, table="shrimpton_age")["effective_dose_msv"].to_list()
    assert got == dose.effective_dose(number, table="shrimpton_age")["effective_dose_msv"].to_list()
    # an adult-only table applied to the child: counted as a child, not as "not an age"
    with pytest.warns(DoseConversionWarning, match=r"1 row\(s\) with age_years below 18") as w:
        dose.effective_dose(text, table="aapm96")
    assert "not an age" not in str(w[0].message)


# --- an ambiguous number is no age -----------------------------------------------------------


def test_an_ambiguous_age_is_counted_as_no_age() -> None:
    df = exams(["1.234", "40"])
    with pytest.warns(UnmappedValuesWarning, match=r"1 value\(s\).*\('1\.234'\)"):
        patients = recurct.cumulative_dose(df)
    assert patients["age_first_exam"].to_list() == [None, 40.0]
    assert validated_ages(df) == [None, 40.0]
    age, n, values = read_ages(df.get_column("age_years"))
    assert age.to_list() == [None, 40.0] and (n, values) == (1, ["1.234"])


def test_an_ambiguous_age_is_no_age_in_the_drl_comparison(tmp_path: Path) -> None:
    d = pl.DataFrame(
        {
            "exam_type": ["chest"] * 3,
            "dlp_mgycm": [400.0, 500.0, 600.0],
            "age_years": ["1.234", "40", "10"],
        }
    )
    with pytest.warns(DroppedRowsWarning) as w:
        out = dose.compare_to_drl(d, drl_csv(tmp_path), site=None)
    said = str(w[0].message)
    assert "kept 1 exam(s) with no age_years (1 of them with a value that is neither" in said
    assert "'1.234'" in said
    assert out["n_exams"].to_list() == [2]  # the one aged 10 left out


def test_the_column_decides_the_mark_of_an_ambiguous_cell() -> None:
    # beside a decimal point 1.234 is 1.234 years; beside a decimal comma it is 1234: no age
    assert read_ages(pl.Series(["1.234", "12.5"]))[0].to_list() == [1.234, 12.5]
    age, n, values = read_ages(pl.Series(["1.234", "40,5"]))
    assert age.to_list() == [None, 40.5] and (n, values) == (1, ["1.234"])
    assert validated_ages(exams(["1.234", "12.5"])) == [1.234, 12.5]
    assert validated_ages(exams(["1.234", "40,5"])) == [None, 40.5]


def test_the_drl_comparison_reads_the_mark_of_the_whole_column(tmp_path: Path) -> None:
    # the exam not compared (no exam type) still shows the column's decimal point, as in
    # validate: 1.234 is 1.234 years, a child, left out; not an ambiguous "no age"
    d = pl.DataFrame(
        {
            "exam_type": ["chest", None, "chest"],
            "dlp_mgycm": [400.0, 500.0, 600.0],
            "age_years": ["1.234", "12.5", "40"],
        }
    )
    with pytest.warns(DroppedRowsWarning) as w:
        flags = dose.flag_above_drl(d, drl_csv(tmp_path))
    assert flags["drl_dlp_mgycm"].to_list() == [None, None, 450.1]
    assert "younger than 15" in str(w[0].message) and "no age_years" not in str(w[0].message)
    age, n, _ = read_ages(d.get_column("age_years"), np.array([True, False, True]))
    assert age.to_list() == [1.234, 40.0] and n == 0


def test_numbers_are_read_as_before() -> None:
    s = pl.Series("age_years", [1.5, 200.0, None, 40.0])
    age, n, values = read_ages(s)
    assert age.to_list() == [1.5, None, None, 40.0] and (n, values) == (1, ["200.0"])
    age, n, values = read_ages(s, np.array([True, True, False, False]))
    assert age.to_list() == [1.5, None] and (n, values) == (1, ["200.0"])
