"""One rule of placeholders (``recurct._casts.NULL_STRINGS``, :func:`recurct._casts.null_text`):
a text dose, DLP, CTDIvol or age ``"n/a"``, ``"NULL"``, ``"#N/A"``, ... is a missing value in a
table in memory exactly as in a file read by ``read_exams``; text attributes in memory keep
their text."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct import dose

TODAY = "2024-01-01"
READ_REQUIRED = ("patient_id", "exam_date")

# placeholders in every text number column, some padded with spaces
ROWS: dict[str, list[str]] = {
    "patient_id": ["a", "a", "b", "b", "c"],
    "exam_date": ["2020-01-01", "2021-01-01", "2020-01-01", "2020-06-01", "2020-02-02"],
    "body_region": ["chest", "head", "abdomen", "chest", "chest"],
    "dlp_mgycm": ["100", "200", "n/a", " NULL ", "150"],
    "ctdivol_mgy": ["5", "#N/A", "-", "7", "<NA>"],
    "age_years": ["40", " NULL ", "n/a", "30", "#NV"],
    "effective_dose_msv": ["", "n/a", "2.5", "NULL", "1.5"],
}
NUMBERS = ("dlp_mgycm", "ctdivol_mgy", "age_years", "effective_dose_msv")


def quiet(f: Any, *args: Any, **kw: Any) -> tuple[Any, list[str]]:
    """``f(*args, **kw)`` and the text of its warnings."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = f(*args, **kw)
    return out, [f"{w.category.__name__}: {w.message}" for w in seen]


def in_memory(kind: str, rows: dict[str, list[Any]] = ROWS) -> Any:
    """The table as the user holds it: polars text, polars categories, pandas objects."""
    df = pl.DataFrame(rows)
    if kind == "categorical":
        return df.with_columns(pl.col(c).cast(pl.Categorical) for c in NUMBERS if c in rows)
    if kind == "enum":
        return df.with_columns(
            pl.col(c).cast(pl.Enum(sorted(set(rows[c])))) for c in NUMBERS if c in rows
        )
    if kind == "pandas":
        return df.to_pandas()
    return df


def from_file(tmp_path: Path, rows: dict[str, list[Any]] = ROWS, **kw: Any) -> Any:
    path = tmp_path / "exams.csv"
    pl.DataFrame(rows).write_csv(path)
    return quiet(recurct.read_exams, path, strict=False, today=TODAY, **kw)


def as_polars(x: Any) -> pl.DataFrame:
    return pl.from_pandas(x) if isinstance(x, pd.DataFrame) else x


KINDS = ["polars", "categorical", "enum", "pandas"]


# --- the helper --------------------------------------------------------------------------------


def test_one_list_of_placeholders() -> None:
    from recurct import _casts
    from recurct.io import exams

    assert exams.NULL_STRINGS == _casts.NULL_STRINGS  # public name, one list
    assert "" in _casts.NULL_STRINGS and "NaN" not in _casts.NULL_STRINGS


def test_null_text_strips_and_nulls_placeholders() -> None:
    from recurct._casts import NULL_STRINGS, null_text

    cells = [*NULL_STRINGS, *(f" {v}\t" for v in NULL_STRINGS), None]
    got = pl.select(null_text(pl.lit(pl.Series(cells, dtype=pl.Utf8)))).to_series()
    assert got.null_count() == len(cells)
    kept = [" 12 ", "NaN", "nan", "0", "N/A x", "n.a.", "--", "NULLS", "unknown"]
    got = pl.select(null_text(pl.lit(pl.Series(kept)))).to_series().to_list()
    assert got == ["12", "NaN", "nan", "0", "N/A x", "n.a.", "--", "NULLS", "unknown"]


@pytest.mark.parametrize("decimal", [None, ",", "."])
def test_numeric_text_nulls_placeholders_in_its_one_scan(decimal: str | None) -> None:
    """A column with nothing to rewrite but a placeholder is not returned as it is: the
    scan that skips a column finds every placeholder, padded or not, as read_exams reads
    it (stripped and nulled first)."""
    from recurct._casts import NULL_STRINGS, null_text, numeric_text

    for v in NULL_STRINGS:
        for cell in (v, f" {v} "):
            s = pl.Series("d", ["12", cell, None])
            got = numeric_text(s, decimal)
            cleaned = s.to_frame().select(null_text(pl.col("d"))).to_series()
            assert got.to_list() == ["12", None, None], (cell, decimal)
            assert got.to_list() == numeric_text(cleaned, decimal, stripped=True).to_list()
            assert got.name == "d"
    # a reference table's column keeps them as text (placeholders=False)
    s = pl.Series("k", ["0.014", "n/a", ""])
    assert numeric_text(s, None, placeholders=False).to_list() == ["0.014", "n/a", ""]
    # nothing to rewrite, no placeholder: the column itself (no copy)
    plain = pl.Series(["12.5", "067Y", "x", None])
    assert numeric_text(plain, None) is plain


def test_missing_dose_uses_the_same_rule() -> None:
    from recurct._casts import NULL_STRINGS, missing_text, null_text
    from recurct.dose.effective import missing_doses

    s = pl.Series("d", [*NULL_STRINGS, " n/a ", None, "NaN", "1.5", "x"])
    d = pl.col("d")
    rule = s.to_frame().select(m=missing_text(d), n=null_text(d).is_null())
    assert rule["m"].to_list() == rule["n"].to_list()
    assert missing_doses(s).tolist() == [True] * (len(NULL_STRINGS) + 2) + [False] * 3
    assert missing_doses(s.cast(pl.Categorical)).tolist() == missing_doses(s).tolist()
    assert missing_doses(pl.Series([1.0, None, float("nan")])).tolist() == [False, True, False]


def test_numbers_read_placeholders_as_missing() -> None:
    from recurct.dose._tables import NUM_OK, numbers

    s = pl.Series(["100", "n/a", " NULL ", "#N/A", "x", ""])
    for col in (s, s.cast(pl.Categorical)):
        v, code = numbers(col)
        assert v[0] == 100.0 and (code[:4] == NUM_OK).all() and code[4] != NUM_OK
        assert code[5] == NUM_OK
    _, code = numbers(s, placeholders=False)  # a reference table: no number
    assert code[1] != NUM_OK and code[2] != NUM_OK


# --- the same table in a file and in memory ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_validate_reads_placeholders_as_read_exams_does(tmp_path: Path, kind: str) -> None:
    read, said = from_file(tmp_path)
    assert said == [] and read.report.problems.height == 0
    exams = in_memory(kind)
    out, said = quiet(recurct.validate, exams, strict=False, required=READ_REQUIRED, today=TODAY)
    assert said == []  # no "not a number", no row dropped
    assert_frame_equal(out, read.exams)
    # strict=True: nothing to report either
    recurct.validate(exams, required=READ_REQUIRED, today=TODAY)
    assert read.exams["dlp_mgycm"].to_list() == [100.0, 200.0, None, None, 150.0]
    assert read.exams["age_years"].to_list() == [40.0, None, None, 30.0, None]


def assert_frame_equal(got: Any, want: pl.DataFrame) -> None:
    """``got`` (polars or pandas) holds the values of ``want`` (pandas: as pandas holds them)."""
    if isinstance(got, pd.DataFrame):
        got, want = pl.from_pandas(got), pl.from_pandas(want.to_pandas())
    assert got.columns == want.columns
    assert got.to_dicts() == want.to_dicts()


@pytest.mark.parametrize("kind", KINDS)
def test_validate_reports_a_missing_dose_not_a_bad_number(tmp_path: Path, kind: str) -> None:
    """Where the dose is required, a placeholder dose is a missing dose in both; the
    placeholder DLP, CTDIvol and age beside it are no problem."""
    path = tmp_path / "exams.csv"
    pl.DataFrame(ROWS).write_csv(path)
    file_read, _ = quiet(recurct.read_exams, path, strict=False, today=TODAY)
    by_file, _ = quiet(recurct.validate, file_read.exams, strict=False, today=TODAY)
    with pytest.raises(recurct.errors.ExamValidationError) as err:
        recurct.validate(in_memory(kind), today=TODAY)
    problems = err.value.problems.select("row", "column", "reason").sort("row")
    assert problems.to_dicts() == [
        {"row": r, "column": "effective_dose_msv", "reason": "missing dose"} for r in (0, 1, 3)
    ]
    kept, said = quiet(recurct.validate, in_memory(kind), strict=False, today=TODAY)
    assert_frame_equal(kept, by_file)
    assert len(said) == 1 and "(3 missing dose)" in said[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("table", ["aapm96", "shrimpton_age"])
def test_effective_dose_reads_placeholders_as_read_exams_does(
    tmp_path: Path, kind: str, table: str
) -> None:
    read, _ = from_file(tmp_path)
    want, said_file = quiet(dose.effective_dose, read.exams, table=table, strict=False)
    got, said = quiet(dose.effective_dose, in_memory(kind), table=table, strict=False)
    got = as_polars(got)
    for c in ("effective_dose_msv", "dose_method"):
        assert got[c].to_list() == want[c].to_list(), c
    assert said == said_file  # a missing DLP (or age), never "not a number"
    assert any("missing DLP" in w for w in said)
    assert not any("not a number" in w or "not an age" in w for w in said)
    with pytest.raises(recurct.errors.DoseConversionError) as err:
        dose.effective_dose(in_memory(kind), table=table)
    with pytest.raises(recurct.errors.DoseConversionError) as file_err:
        dose.effective_dose(read.exams, table=table)
    got_p = [(r, c, why) for r, c, _, why in _problem_rows(err.value)]
    want_p = [(r, c, why) for r, c, _, why in _problem_rows(file_err.value)]
    assert got_p == want_p
    assert ("missing DLP" in {why for *_, why in got_p}) and all(
        "not a number" not in why for *_, why in got_p
    )


def _problem_rows(err: Exception) -> list[tuple[int, str, str, str]]:
    """``(row, column, value, reason)`` of each line of a problem listing."""
    import re

    lines = re.findall(
        r"row (\d+), column '(\w+)': ([^\n]*?)(?: \(value: ([^\n]*)\))?$", str(err), re.M
    )
    return [(int(r), c, v, why) for r, c, why, v in lines]


def test_a_padded_placeholder_age_is_no_bad_age_for_an_adult_table() -> None:
    """An adult-only table's warning counts the ages that are no age: a placeholder is a
    missing age, not counted."""
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "exam_date": [date(2020, 1, 1)] * 3,
            "body_region": ["chest"] * 3,
            "dlp_mgycm": [100.0, 100.0, 100.0],
            "age_years": ["40", " NULL ", "#N/A"],
        }
    )
    out, said = quiet(dose.effective_dose, exams, table="aapm96")
    assert said == [] and out["effective_dose_msv"].null_count() == 0


@pytest.mark.parametrize("kind", ["polars", "categorical", "pandas"])
def test_cumulative_dose_reads_placeholder_ages_as_missing(tmp_path: Path, kind: str) -> None:
    rows = {
        "patient_id": ["a", "a", "b", "b", "c", "d"],
        "exam_date": ["2020-01-01", "2021-01-01", "2020-01-01", "2020-06-01"] + ["2020-02-02"] * 2,
        "effective_dose_msv": ["60", "50", "40", "70", "1", "2"],
        "age_years": ["40", " NULL ", "n/a", "30", "#NV", ""],
    }
    read, _ = from_file(tmp_path, rows)
    want, said_file = quiet(recurct.cumulative_dose, read.exams, thresholds=[100])
    exams = in_memory(kind, {k: v for k, v in rows.items() if k != "effective_dose_msv"})
    exams = as_polars(exams).with_columns(
        pl.col("exam_date").str.to_date(),
        effective_dose_msv=pl.Series([60.0, 50.0, 40.0, 70.0, 1.0, 2.0]),
    )
    if kind == "pandas":
        exams = exams.to_pandas()
    got, said = quiet(recurct.cumulative_dose, exams, thresholds=[100])
    assert said == said_file == []  # no "neither numbers nor DICOM ages" warning
    got = as_polars(got)
    for c in ("patient_id", "age_first_exam", "age_reached_100"):
        assert got[c].to_list() == want[c].to_list(), c
    assert want["age_first_exam"].to_list() == [40.0, None, None, None]
    assert want["age_reached_100"].to_list() == [None, 30.0, None, None]


def test_drl_comparison_reads_placeholders_as_no_value() -> None:
    audit = pl.DataFrame(
        {
            "exam_type": ["head_stroke"] * 3,
            "facility": ["A"] * 3,
            "ctdivol_mgy": ["40", "n/a", "#N/A"],
            "dlp_mgycm": ["700", "800", "NULL"],
        }
    )
    table, said = quiet(dose.compare_to_drl, audit, drl="uk2022")  # strict: no error
    assert said == []
    row = table.row(0, named=True)
    assert (row["n_ctdivol"], row["n_dlp"]) == (1, 2)
    flags, said = quiet(dose.flag_above_drl, audit)
    assert said == [] and flags["above_drl_ctdivol"].to_list()[1:] == [None, None]


# --- what does not change ----------------------------------------------------------------------


def test_text_attributes_in_memory_keep_their_text(tmp_path: Path) -> None:
    rows = {**ROWS, "facility": ["NULL", "A", "n/a", "A", "-"]}
    out, _ = quiet(recurct.validate, pl.DataFrame(rows), required=READ_REQUIRED, today=TODAY)
    assert out["facility"].to_list() == ["NULL", "A", "n/a", "A", "-"]
    read, _ = from_file(tmp_path, rows)  # a file's canonical cells: the rule everywhere
    assert read.exams["facility"].to_list() == [None, "A", None, "A", None]


def test_nan_text_stays_a_bad_dose() -> None:
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": ["2020-01-01"] * 2,
            "effective_dose_msv": ["NaN", "n/a"],
        }
    )
    with pytest.raises(recurct.errors.ExamValidationError) as err:
        recurct.validate(exams, today=TODAY)
    reasons = err.value.problems.select("row", "reason").sort("row").rows()
    assert reasons == [(0, "NaN dose"), (1, "missing dose")]


def test_a_reference_table_keeps_its_placeholders_as_errors() -> None:
    """A user's conversion-factor table is not an exam table: ``n/a`` there is no number
    (an empty age means every age: a placeholder must not silently mean the same)."""
    k = pl.DataFrame({"region": ["chest", "head"], "k": ["0.014", "0.0021"], "age": ["n/a", ""]})
    with pytest.raises(recurct.errors.DataError, match="not a number"):
        dose.effective_dose(
            pl.DataFrame(
                {
                    "patient_id": ["a"],
                    "exam_date": [date(2020, 1, 1)],
                    "body_region": ["chest"],
                    "dlp_mgycm": [100.0],
                }
            ),
            table=k,
        )
