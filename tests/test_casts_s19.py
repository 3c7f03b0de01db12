"""validate reads text doses by read_exams' rule ("Numbers in text": each column decides its
decimal mark, an ambiguous cell is a problem of its row and column, never guessed), and
says so in its own words (it has no ``decimal=``); a float32 dose is read as written
(12.3, not 12.300000190734863)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning

TODAY = "2024-01-01"
DOSE = "effective_dose_msv"
NUMBERS = ("effective_dose_msv", "dlp_mgycm", "ctdivol_mgy", "age_years")


def exams(cells: list, column: str = DOSE, **more: list) -> pl.DataFrame:
    n = len(cells)
    return pl.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "exam_date": ["2020-01-02"] * n,
            column: cells,
            **more,
        }
    )


def quiet_validate(df: object, **kw: object) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return recurct.validate(df, today=TODAY, **kw)


def quiet_read(df: object, **kw: object) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return recurct.read_exams(df, today=TODAY, **kw)


def outside_read_exams(text: str) -> str:
    """``text`` without the remedies that name read_exams' own ``decimal=``."""
    return re.sub(r"recurct\.read_exams\(exams, decimal='\.'\) or decimal=','", "", text)


# --- the same dose for the same text cell --------------------------------------------------

_lead = st.integers(1, 999).map(str)
_group = st.integers(0, 999).map(lambda g: f"{g:03d}")
_frac = st.integers(0, 99999).map(str)


@st.composite
def _cell(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "point", "comma", "th_p", "th_c", "both", "amb", "junk"]))
    lead, groups = draw(_lead), draw(st.lists(_group, min_size=1, max_size=2))
    frac = draw(_frac)
    cell = {
        "int": lead,
        "point": f"{draw(st.integers(0, 999))}.{frac}",
        "comma": f"{draw(st.integers(0, 999))},{frac}",
        "th_p": lead + "".join("." + g for g in groups),  # 1.234, 1.234.567
        "th_c": lead + "".join("," + g for g in groups),
        "both": draw(st.sampled_from([f"{lead}.{groups[0]},{frac}", f"{lead},{groups[0]}.{frac}"])),
        "amb": f"{lead}{draw(st.sampled_from('.,'))}{groups[0]}",  # 1.234 or 1,234
        "junk": draw(st.sampled_from(["1.2.3", "12,5 mSv", "x", "1,2,3", "--1"])),
    }[kind]
    return draw(st.sampled_from(["", "-"])) + cell if kind != "junk" else cell


def coded(df: pl.DataFrame, column: str, dtype: str) -> pl.DataFrame:
    """``df`` with its text ``column`` as ``dtype``: text, categories or an enum."""
    if dtype == "categorical":
        return df.with_columns(pl.col(column).cast(pl.Categorical))
    if dtype == "enum":
        values = df.get_column(column).unique(maintain_order=True).drop_nulls()
        return df.with_columns(pl.col(column).cast(pl.Enum(values.to_list())))
    return df


@settings(max_examples=90, deadline=None)
@given(
    cells=st.lists(_cell(), min_size=1, max_size=8),
    pad=st.booleans(),
    dtype=st.sampled_from(["text", "categorical", "enum"]),
)
def test_validate_keeps_the_doses_read_exams_reads(cells: list[str], pad: bool, dtype: str) -> None:
    """The same doses, rows and problems from validate and read_exams, for a dose column
    of text, of categories (pandas' category) or an enum of the same cells."""
    if pad:  # surrounding spaces, as a spreadsheet leaves them: read_exams removes them
        cells = [f" {c} " for c in cells]
    df = coded(exams(cells), DOSE, dtype)
    kept = quiet_validate(df, strict=False, max_dose_msv=None)
    read = quiet_read(df, strict=False, max_dose_msv=None)
    assert kept.get_column("patient_id").to_list() == read.exams["patient_id"].to_list()
    assert kept.get_column(DOSE).to_list() == read.exams[DOSE].to_list()
    # and with strict=True validate names the rows and columns read_exams reports
    problems = read.report.problems.filter(pl.col("column") == DOSE)
    if problems.height == 0:
        quiet_validate(df, max_dose_msv=None)
        return
    with pytest.raises(ExamValidationError) as info:
        quiet_validate(df, max_dose_msv=None)
    got = info.value.problems.filter(pl.col("column") == DOSE)

    def rows_reasons(p: pl.DataFrame) -> list[tuple[int, str]]:
        return [(r, why.split(":")[0]) for r, why in p.select("row", "reason").iter_rows()]

    assert rows_reasons(got) == rows_reasons(problems)
    # quoted as written (read_exams quotes them without the spaces it removed)
    assert got["value"].str.strip_chars().to_list() == problems["value"].to_list()


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_thousands_point_beside_a_decimal_comma(kind: str) -> None:
    # a German export loaded with pd.read_csv(sep=";"): 1.234 is 1234 beside 850,5
    df = exams(["1.234", "850,5"], column="dlp_mgycm", body_region=["chest", "chest"])
    df = df.to_pandas() if kind == "pandas" else df
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, nothing set null
        out = recurct.validate(df, today=TODAY, required=("patient_id", "exam_date"))
    assert list(out["dlp_mgycm"]) == [1234.0, 850.5]
    assert list(quiet_read(df).exams["dlp_mgycm"]) == [1234.0, 850.5]


def test_the_column_decides_its_mark_as_in_read_exams() -> None:
    def dlp(cells: list[str]) -> list[float]:
        return quiet_validate(exams(cells, column="dlp_mgycm"), required=())["dlp_mgycm"].to_list()

    assert dlp(["1.234", "12.5"]) == [1.234, 12.5]
    assert dlp(["1,234.5", "12"]) == [1234.5, 12.0]
    assert dlp(["1.234,5", "2,5"]) == [1234.5, 2.5]
    ages = exams(["1,5", "067Y"], column="age_years", effective_dose_msv=[1.0, 2.0])
    assert quiet_validate(ages)["age_years"].to_list() == [1.5, 67.0]


@pytest.mark.parametrize("dtype", ["categorical", "enum"])
def test_categorical_text_doses_by_the_rule(dtype: str) -> None:
    df = coded(exams(["1.234", "850,5", " 12,5 "]), DOSE, dtype)
    assert quiet_validate(df, max_dose_msv=None)[DOSE].to_list() == [1234.0, 850.5, 12.5]
    assert quiet_read(df, max_dose_msv=None).exams[DOSE].to_list() == [1234.0, 850.5, 12.5]


# --- the rule in one place ------------------------------------------------------------------


def test_numeric_text_reads_categories_and_removes_spaces() -> None:
    from recurct._casts import numeric_text

    text = pl.Series("d", [" 1.234", "850,5 ", None])
    for s in (text, text.cast(pl.Categorical), text.cast(pl.Enum([" 1.234", "850,5 "]))):
        got = numeric_text(s, None)
        assert got.dtype == pl.Utf8 and got.name == "d"
        assert got.to_list() == ["1234", "850.5", None]
    # spaces alone are removed too (a cast to a number does not read " 12")
    assert numeric_text(pl.Series(["12 ", "\t7"]), None).to_list() == ["12", "7"]
    assert numeric_text(pl.Series([" 1.234,5", "12 "]), ",").to_list() == ["1234.5", "12"]
    assert numeric_text(pl.Series(["1,234.5 "]), ".").to_list() == ["1234.5"]
    # a column stripped already is not looked at for spaces again (read_exams' clean-up)
    assert numeric_text(pl.Series([" 12"]), None, stripped=True).to_list() == [" 12"]
    # nothing to rewrite: the column itself (no copy), numbers and other dtypes untouched
    plain = pl.Series(["12.5", "067Y", "x"])
    assert numeric_text(plain, None) is plain
    assert numeric_text(text, "as-is") is text
    floats = pl.Series([1.5])
    assert numeric_text(floats, None) is floats


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(st.one_of(st.none(), _cell()), min_size=1, max_size=8),
    pads=st.lists(st.sampled_from(["", " ", "\t", "\xa0"]), min_size=2, max_size=2),
    decimal=st.sampled_from([None, ",", "."]),
)
def test_numeric_text_scans_no_cell_the_rule_reads(
    cells: list[str | None], pads: list[str], decimal: str | None
) -> None:
    """The one scan that skips a column with nothing to rewrite (validate's path) skips none
    the rule rewrites: the same cells as the rule on the column stripped first (read_exams'
    path)."""
    from recurct._casts import numeric_text

    s = pl.Series("d", [None if c is None else pads[0] + c + pads[1] for c in cells], pl.Utf8)
    got = numeric_text(s, decimal)
    assert got.to_list() == numeric_text(s.str.strip_chars(), decimal, stripped=True).to_list()


def test_validate_reads_text_numbers_through_the_one_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """validate has no scan of its own deciding which columns the rule may rewrite: a mark
    the rule would read (here a space grouping thousands, 1 234) reaches it."""
    from recurct import _casts

    rule = _casts.numeric_text

    def spaced(s: pl.Series, decimal: str | None = None, **kw: bool) -> pl.Series:
        s = rule(s, decimal, **kw)
        return s.str.replace_all(" ", "") if s.dtype == pl.Utf8 else s

    monkeypatch.setattr(_casts, "numeric_text", spaced)
    out = quiet_validate(exams(["1 234", "5"]), max_dose_msv=None)
    assert out[DOSE].to_list() == [1234.0, 5.0]


def test_the_checks_read_text_numbers_as_told() -> None:
    """The validation core reads text numbers by the rule when asked (``decimal=None``, what
    validate asks) and as they are by default (read_exams has read its own)."""
    from recurct._validation import check_exams

    df = exams(["850,5", "1.234"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_is, report = check_exams(df, strict=False, today=TODAY, max_dose_msv=None)
        read, _ = check_exams(df, strict=False, today=TODAY, max_dose_msv=None, decimal=None)
    assert as_is[DOSE].to_list() == [1.234]  # "850,5" not a number as it is
    assert report.problems["reason"].to_list() == ["not a number"]
    assert read[DOSE].to_list() == [850.5, 1234.0]


def test_ambiguous_reason_names_the_callers_remedy() -> None:
    """The reason of an ambiguous number ends with the remedy of the function checking
    (one constant each, no message rewritten), in the command line's words there."""
    from recurct._validation import DECIMAL_REMEDY
    from recurct.cli._errors import _cli_text

    df = exams(["12", "1.234"])
    with pytest.raises(ExamValidationError) as checked:
        recurct.validate(df, today=TODAY)
    with pytest.raises(ExamValidationError) as read:
        recurct.read_exams(df, today=TODAY)
    reasons = [e.value.problems["reason"].item() for e in (checked, read)]
    assert reasons[0].endswith(f"({DECIMAL_REMEDY['validate']})")
    assert reasons[1].endswith(f"({DECIMAL_REMEDY['read_exams']})")
    assert _cli_text(reasons[1]).endswith("(pass --decimal . or --decimal ,)")


# --- an ambiguous cell: its row and column named, or dropped and counted --------------------


def test_ambiguous_cell_is_a_problem_of_its_row_and_column() -> None:
    df = exams(["12", "1.234"])
    with pytest.raises(ExamValidationError) as info:
        recurct.validate(df, today=TODAY)
    text = str(info.value)
    assert "row 1, column 'effective_dose_msv': ambiguous number" in text
    assert "(value: '1.234')" in text  # as written, not as rewritten
    problems = info.value.problems
    assert problems.select("row", "column").rows() == [(1, DOSE)]
    with pytest.warns(DroppedRowsWarning, match=r"dropped 1 of 2 rows \(1 ambiguous number"):
        out = recurct.validate(df, strict=False, today=TODAY)
    assert out[DOSE].to_list() == [12.0]


def test_ambiguous_optional_attribute_is_set_null_and_counted() -> None:
    df = exams([1.0, 2.0], ctdivol_mgy=["1.234", "12"])
    with pytest.warns(UnmappedValuesWarning, match=r"set 1 value\(s\) null \(1 ambiguous number"):
        out = recurct.validate(df, strict=False, today=TODAY)
    assert out["ctdivol_mgy"].to_list() == [None, 12.0]
    assert out[DOSE].to_list() == [1.0, 2.0]  # the exam and its dose kept


def test_duplicate_mask_reads_text_doses_as_validate() -> None:
    # 1.234 beside 850,5 is 1234: rows 0 and 1 are the same exam
    df = pl.DataFrame(
        {
            "patient_id": ["A", "A", "B"],
            "exam_date": ["2020-01-02"] * 3,
            DOSE: ["1.234", "1234", "850,5"],
        }
    )
    with pytest.warns(DroppedRowsWarning, match="1 duplicate exam"):
        out = recurct.validate(df, strict=False, today=TODAY, max_dose_msv=None)
    assert out[DOSE].to_list() == [1234.0, 850.5]
    assert recurct.schema.duplicate_mask(df).to_list() == [False, True, False]


def test_read_exams_decimal_is_not_read_again() -> None:
    # read_exams rewrote the cells by its decimal=: 1.234 stays 1.234, not "ambiguous"
    df = exams(["1.234", "12"], column="dlp_mgycm")
    assert quiet_read(df, decimal=".").exams["dlp_mgycm"].to_list() == [1.234, 12.0]
    assert quiet_read(df, decimal=",").exams["dlp_mgycm"].to_list() == [1234.0, 12.0]


# --- validate's words name what validate's caller can do ------------------------------------


def test_validate_messages_name_no_parameter_validate_lacks() -> None:
    df = exams(["1.234", "12"])
    with pytest.raises(ExamValidationError) as info:
        recurct.validate(df, today=TODAY)
    with pytest.warns(DroppedRowsWarning) as dropped:
        recurct.validate(df, strict=False, today=TODAY)
    nulled_df = exams([1.0, 2.0], ctdivol_mgy=["1.234", "x"])
    with pytest.warns(UnmappedValuesWarning) as nulled:
        recurct.validate(nulled_df, strict=False, today=TODAY)
    for text in (str(info.value), str(dropped[0].message), str(nulled[0].message)):
        assert "recurct.read_exams(exams, decimal='.')" in text
        assert "decimal=" not in outside_read_exams(text), text
        assert "reads no decimal comma" not in text


def test_decimal_commas_read_so_no_hint() -> None:
    df = pd.DataFrame(
        {"patient_id": ["A", "A"], "exam_date": ["2021-03-01", "2021-04-01"], DOSE: ["12,5", "7,5"]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(recurct.validate(df, today=TODAY)[DOSE]) == [12.5, 7.5]
    df = pl.DataFrame(
        {
            "patient_id": ["A", "B"],
            "exam_date": ["2021-03-01", "2021-04-01"],
            DOSE: [1.0, 2.0],
            "ctdivol_mgy": ["1,5", "x"],
        }
    )
    with pytest.warns(UnmappedValuesWarning) as record:
        out = recurct.validate(df, strict=False, today=TODAY)
    assert out["ctdivol_mgy"].to_list() == [1.5, None]
    assert "decimal" not in str(record[0].message)


# --- float32 as written -----------------------------------------------------------------------

WRITTEN = [12.3, 0.1, 123.4, 0.3]


def _f32(lib: str, dtype: object = np.float32) -> object:
    cols = {c: np.array(WRITTEN, dtype=dtype) for c in NUMBERS}
    ids = {"patient_id": ["A", "B", "C", "D"], "exam_date": ["2020-01-02"] * 4}
    if lib == "pandas":
        return pd.DataFrame({**ids, **cols})
    return pl.DataFrame({**ids, **{c: pl.Series(v) for c, v in cols.items()}})


@pytest.mark.parametrize("lib", ["polars", "pandas"])
def test_float32_read_as_written_by_validate_and_read_exams(lib: str) -> None:
    df = _f32(lib)
    out = pl.from_pandas(quiet_validate(df)) if lib == "pandas" else quiet_validate(df)
    read = quiet_read(df).exams
    for c in NUMBERS:
        assert list(out[c]) == WRITTEN, c
        assert list(read[c]) == WRITTEN, c


def test_float16_read_as_written() -> None:
    out = quiet_validate(_f32("pandas", np.float16))
    assert list(out[DOSE]) == WRITTEN  # float16 123.4 is 123.375, written 123.4


@pytest.mark.parametrize("writer", ["polars", "pandas"])
def test_float32_parquet_read_as_written(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "exams.parquet"
    if writer == "polars":
        _f32("polars").write_parquet(path)
    else:
        _f32("pandas").to_parquet(path)
    assert pl.read_parquet(path).schema[DOSE] == pl.Float32
    for c in NUMBERS:
        assert quiet_read(path).exams[c].to_list() == WRITTEN, c
        assert list(quiet_validate(pd.read_parquet(path))[c]) == WRITTEN, c


def test_float32_nan_and_infinity_still_reported() -> None:
    df = exams(pl.Series([np.nan, np.inf, 1.5, -0.5], dtype=pl.Float32))
    with pytest.raises(ExamValidationError) as info:
        recurct.validate(df, today=TODAY)
    reasons = info.value.problems.select("row", "reason").rows()
    assert reasons == [(0, "NaN dose"), (1, "infinite dose"), (3, "negative dose")]
    nulls = exams([1.0, 2.0], dlp_mgycm=pl.Series([None, 1.5], dtype=pl.Float32))
    assert quiet_validate(nulls)["dlp_mgycm"].to_list() == [None, 1.5]


def test_float32_doses_as_written_in_the_engine_periods_and_out_of_core(tmp_path: Path) -> None:
    """cumulative_dose, period_dose and a Parquet folder mixing float32 and float64 files
    sum a float32 dose as written (12.4), as validate and read_exams read it: 12.4 + 87.6
    reaches 100 mSv, their exact float32 values (99.99999809...) do not."""
    import datetime as dt

    from recurct import outofcore

    doses = pl.Series([12.4, 87.6], dtype=pl.Float32)
    widened = float(doses.cast(pl.Float64).sum())
    assert widened < 100  # the exact values: the threshold not reached
    df = pl.DataFrame(
        {
            "patient_id": [1, 1],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1)],
            "effective_dose_msv": doses,
        }
    )
    expected = 12.4 + 87.6  # 100.0 as written
    patients = recurct.cumulative_dose(df, thresholds=100)
    assert patients["ced_msv"].item() == pytest.approx(expected, abs=1e-12)
    assert patients["reached_100"].item() is True
    periods = recurct.period_dose(df, every="1y")
    assert periods["ced_msv"].sum() == pytest.approx(expected, abs=1e-12)
    folder = tmp_path / "exams"
    folder.mkdir()
    df.head(1).write_parquet(folder / "a.parquet")
    df.tail(1).with_columns(pl.col("effective_dose_msv").cast(pl.Float64)).write_parquet(
        folder / "b.parquet"
    )
    out = outofcore.cumulative_dose_chunked(str(folder / "*.parquet"))
    assert out["ced_msv"].item() == pytest.approx(12.4 + float(np.float32(87.6)), abs=1e-12)
