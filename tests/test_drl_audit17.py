"""Audit 17b: the DRL comparison and the survey table (stale DRL columns, the ARPANSA
editions, per-event tables, ages, exams left out, raw polars errors, row/line numbers)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct import dose
from recurct.errors import DataError, DroppedRowsWarning, ParameterError, RecurctWarning
from recurct.survey import survey_table

RDSR = Path(__file__).parent / "data" / "rdsr"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecurctWarning)
        return fn(*args, **kwargs)


# ------------------------------------------------------------ 1. stale columns of another set
def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "body_region": ["head", "head", "chest"],
            "facility": ["A"] * 3,
            "dlp_mgycm": [900.0, 950.0, 400.0],
        }
    )


LOCAL = pl.DataFrame(
    {"exam_type": ["head", "chest"], "body_region": ["head", "chest"], "dlp_mgycm": [800.0, 300.0]}
)


def test_flag_with_one_set_then_compare_with_another() -> None:
    flagged = dose.flag_above_drl(_exams(), drl=LOCAL)
    got = dose.compare_to_drl(flagged, "arpansa_adult")
    assert got.equals(dose.compare_to_drl(_exams(), "arpansa_adult"))
    head = got.filter(pl.col("exam_type") == "head").row(0, named=True)
    assert head["drl_dlp"] == 1000.0 and head["ratio_dlp"] == 0.925 and head["n_above_dlp"] == 0


def test_flag_again_replaces_the_columns_in_place_and_warns() -> None:
    flagged = dose.flag_above_drl(_exams(), drl=LOCAL)
    with pytest.warns(RecurctWarning, match=r"replaced .*'drl_dlp_mgycm'.*'arpansa_adult'"):
        again = dose.flag_above_drl(flagged, "arpansa_adult")
    assert again.equals(dose.flag_above_drl(_exams(), "arpansa_adult"))
    assert again["drl_dlp_mgycm"].to_list() == [1000.0, 1000.0, 450.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same set again: nothing changes, no warning
        same = dose.flag_above_drl(flagged, drl=LOCAL)
    assert same.equals(flagged)


def test_private_working_columns_of_the_input_are_kept() -> None:
    d = pl.DataFrame({"exam_type": ["ctpa"], "__exam_type": ["x"], "dlp_mgycm": [400.0]})
    out = dose.flag_above_drl(d)
    assert out["__exam_type"].to_list() == ["x"] and out["above_drl_dlp"].to_list() == [True]


@settings(max_examples=25, deadline=None)
@given(
    regions=st.lists(st.sampled_from(["head", "neck", "chest", "spine"]), min_size=1, max_size=12),
    dlp=st.lists(st.floats(1, 2000, allow_nan=False), min_size=12, max_size=12),
    first=st.sampled_from(["arpansa_adult", "arpansa_adult_2018"]),
)
def test_flag_with_any_set_then_compare_equals_clean(regions, dlp, first) -> None:
    exams = pl.DataFrame({"body_region": regions, "dlp_mgycm": dlp[: len(regions)]})
    second = "arpansa_adult_2018" if first == "arpansa_adult" else "arpansa_adult"
    flagged = _quiet(dose.flag_above_drl, exams, first)
    got = _quiet(dose.compare_to_drl, flagged, second, site=None)
    assert got.equals(_quiet(dose.compare_to_drl, exams, second, site=None))
    assert _quiet(dose.flag_above_drl, flagged, second).equals(
        _quiet(dose.flag_above_drl, exams, second)
    )


# ------------------------------------------------------------ 2. the ARPANSA editions
def test_arpansa_2018_values_equal_published() -> None:
    got = dose.drl_table("arpansa_adult_2018")
    rows = {
        r["exam_type"]: (r["ctdivol_mgy"], r["dlp_mgycm"], r["body_region"])
        for r in got.iter_rows(named=True)
    }
    assert rows == {
        "head": (52.0, 880.0, "head"),
        "cervical_spine": (23.0, 470.0, None),
        "neck": (17.0, 450.0, "neck"),
        "chest": (10.0, 390.0, "chest"),
        "abdomen_pelvis": (13.0, 600.0, "abdomen_pelvis"),
        "kub": (13.0, 600.0, None),
        "chest_abdomen_pelvis": (11.0, 940.0, "chest_abdomen_pelvis"),
        "lumbar_spine": (26.0, 670.0, None),
    }


def test_arpansa_editions_are_stated() -> None:
    sets = {r["name"]: r for r in dose.drl_tables().iter_rows(named=True)}
    first = sets["arpansa_adult"]
    for text in ("first edition", "2012", "superseded 2018 and 2025"):
        assert text in first["title"]
    assert "doi:10.1002/jmrs.372" in first["citation"]
    assert "docs/sources.md" in sets["arpansa_adult_2018"]["citation"]
    assert "1 July 2025" in sets["arpansa_adult_2018"]["citation"]
    assert first["age_from_years"] == 15.0 and sets["arpansa_adult_2018"]["age_from_years"] == 15.0
    assert sets["uk2022"]["age_from_years"] is None


# ------------------------------------------------------------ 3. a per-event table
@pytest.mark.parametrize("fn", [dose.compare_to_drl, dose.flag_above_drl])
def test_per_event_table_is_refused(fn) -> None:
    from recurct.io.rdsr import read_rdsr

    read = _quiet(read_rdsr, RDSR, workers=1)
    with pytest.raises(DataError, match=r"event_uid.*read_rdsr\(\.\.\.\)\.exams"):
        fn(read.events, "arpansa_adult", **({"site": None} if fn is dose.compare_to_drl else {}))
    out = _quiet(dose.compare_to_drl, read.exams, "arpansa_adult", site=None)
    assert out.filter(pl.col("exam_type") == "chest")["n_exams"].to_list() == [1]


# ------------------------------------------------------------ 4. adult DRLs and children
KIDS = pl.DataFrame(
    {
        "body_region": ["head"] * 5,
        "age_years": [1.0, 2.0, 40.0, 50.0, None],
        "dlp_mgycm": [300.0, 350.0, 1100.0, 1200.0, 900.0],
    }
)


def test_adult_set_leaves_children_out_and_keeps_no_age() -> None:
    with pytest.warns(
        DroppedRowsWarning, match=r"left 2 exam\(s\) out.*younger than 15.*kept 1 exam"
    ):
        out = dose.compare_to_drl(KIDS, "arpansa_adult", site=None)
    assert out["n_exams"].to_list() == [3] and out["median_dlp"].to_list() == [1100.0]
    with pytest.warns(DroppedRowsWarning, match="younger than 15"):
        flags = dose.flag_above_drl(KIDS, "arpansa_adult_2018")
    assert flags["drl_dlp_mgycm"].to_list() == [None, None, 880.0, 880.0, 880.0]


def test_a_set_without_ages_does_not_filter() -> None:
    kids = KIDS.with_columns(exam_type=pl.lit("head_stroke"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dose.compare_to_drl(kids, "uk2022", site=None)["n_exams"].to_list() == [5]


# ------------------------------------------------------------ 5. exams left out are counted
def test_exams_without_a_level_are_counted_in_the_warning() -> None:
    d = pl.DataFrame(
        {"body_region": ["head", "spine", "Head", None], "dlp_mgycm": [1.0, 2.0, 3.0, 4.0]}
    )
    with pytest.warns(
        DroppedRowsWarning, match=r"left 1 exam.*'Head'.*also did not compare 2 exam"
    ):
        dose.compare_to_drl(d, "arpansa_adult", site=None, strict=False)
    with pytest.warns(DroppedRowsWarning, match=r"did not compare 2 exam.*no exam was compared"):
        assert dose.compare_to_drl(d[1:2].vstack(d[3:]), "arpansa_adult", site=None).height == 0


def test_an_all_null_exam_type_column_is_said() -> None:
    d = pl.DataFrame(
        {
            "exam_type": pl.Series([None, None], dtype=pl.Utf8),
            "body_region": ["head", "chest"],
            "dlp_mgycm": [1.0, 2.0],
        }
    )
    with pytest.warns(DroppedRowsWarning, match=r"'exam_type' is entirely null.*drop it"):
        assert dose.compare_to_drl(d, "arpansa_adult", site=None).height == 0


# ------------------------------------------------------------ 6. survey keys and totals
@pytest.mark.parametrize(
    ("table", "match"),
    [
        (
            {"question": ["A", None, None], "answer": ["y", "n", "m"], "count": [3, 4, 5]},
            r"no question .*rows 1, 2",
        ),
        ({"question": ["A", "A"], "answer": ["y", None], "count": [3, 4]}, r"no answer .*row 1"),
        (
            {"question": ["A", "A "], "answer": ["y", "n"], "count": [3, 4]},
            r"whitespace.*'A' \(row 0\), 'A ' \(row 1\)",
        ),
        (
            {"question": ["A", "A"], "answer": ["y", " y"], "count": [3, 4]},
            r"answers that differ only",
        ),
        ({"question": ["A", "A"], "answer": ["y", "n"], "count": [2**62, 2**62]}, r"2\*\*63 - 1"),
    ],
)
def test_survey_keys_and_totals(table, match) -> None:
    with pytest.raises(DataError, match=match):
        survey_table(pl.DataFrame(table))
    with pytest.raises(DataError, match=match):
        survey_table(pd.DataFrame(table))


def test_survey_same_answer_text_in_two_questions_is_fine() -> None:
    t = survey_table(pl.DataFrame({"question": ["A", "B "], "answer": ["y", "y"], "count": [1, 2]}))
    assert t["share"].to_list() == [1.0, 1.0]


# ------------------------------------------------------------ 7. raw polars errors
def test_object_column_of_numbers_is_read() -> None:
    o = pl.DataFrame(
        {
            "exam_type": ["ctpa", "ctpa"],
            "facility": ["A", "A"],
            "dlp_mgycm": np.array([300.0, None], dtype=object),
        }
    )
    row = dose.compare_to_drl(o).row(0, named=True)
    assert row["n_dlp"] == 1 and row["median_dlp"] == 300.0
    assert dose.flag_above_drl(o)["above_drl_dlp"].to_list() == [False, None]


@pytest.mark.parametrize("site", ["exam_type", "n_exams"])
def test_site_that_is_a_result_column_is_refused(site) -> None:
    d = pl.DataFrame({"exam_type": ["ctpa"], "n_exams": ["x"], "dlp_mgycm": [1.0]})
    with pytest.raises(ParameterError, match=f"site='{site}'"):
        dose.compare_to_drl(d, site=site)


# ------------------------------------------------------------ 8. minor
def test_n_above_is_null_without_values() -> None:
    d = pl.DataFrame(
        {"exam_type": ["ctpa"], "facility": ["A"], "dlp_mgycm": [None], "ctdivol_mgy": [1.0]},
        schema_overrides={"dlp_mgycm": pl.Float64},
    )
    row = dose.compare_to_drl(d).row(0, named=True)
    assert row["n_dlp"] == 0 and row["n_above_dlp"] is None and row["n_above_ctdivol"] == 0


def test_unknown_exam_type_error_names_rows() -> None:
    d = pl.DataFrame({"exam_type": ["ctpa", "foo", "ctpa", "foo"], "dlp_mgycm": [1.0] * 4})
    with pytest.raises(DataError, match=r"\['foo'\] \(rows 1, 3\)"):
        dose.compare_to_drl(d, site=None)


def test_drl_csv_errors_name_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "# citation: mine\n\nexam_type,ctdivol_mgy,dlp_mgycm\nhead,60,1000\nchest,abc,450\n"
    )
    with pytest.raises(
        DataError, match=r"(?s)mine\.csv: .*row 1 \(line 5 of the file\), column 'ctdivol_mgy'"
    ):
        dose.drl_table(path)


def test_nan_text_in_a_drl_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("exam_type,dlp_mgycm\nhead,1000\nneck,NaN\nchest,\n")
    with pytest.raises(
        DataError, match=r"row 1 \(line 3 of the file\), column 'dlp_mgycm': NaN is not"
    ):
        dose.drl_table(path)
    path.write_text("exam_type,dlp_mgycm\nhead,1000\nchest,\n")
    assert dose.drl_table(path)["dlp_mgycm"].to_list() == [1000.0, None]
