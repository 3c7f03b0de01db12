"""Edge cases of recurct.dose found by an audit: bad values in DRL comparisons, exams left out
of them, word order in region text, user tables that depend on age or sex for some regions
only, optional event columns, pandas indexes, partial study sums, warning counts, sources.

Every number is computed by hand from the published factors (PUBLISHED.md, the CSV files):
aapm96 head 0.0021, neck 0.0059, chest 0.014, abdomen & pelvis 0.015; icrp103_adult chest
0.0145; UK 2022 head (stroke) DLP 790 mGy·cm; ARPANSA head DLP 1000 mGy·cm. The user
tables here hold made-up factors, for the format only.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from recurct import dose
from recurct.errors import DataError, DoseConversionWarning, DroppedRowsWarning, ParameterError

# ------------------------------------------------------------------ 1. bad values in DRL stats
NAN, INF = float("nan"), float("inf")


def _stroke(dlps: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"exam_type": ["head_stroke"] * len(dlps), "facility": ["A"] * len(dlps), "dlp_mgycm": dlps}
    )


@pytest.mark.parametrize("fn", [dose.compare_to_drl, dose.flag_above_drl])
def test_drl_bad_values_are_an_error_naming_rows_and_column(fn) -> None:
    with pytest.raises(DataError) as err:
        fn(_stroke([100.0, NAN, -50.0, INF]))
    msg = str(err.value)
    assert "row 2, column 'dlp_mgycm': negative DLP" in msg
    assert "row 3, column 'dlp_mgycm': non-finite DLP" in msg
    assert "row 1" not in msg  # NaN is a missing value, as null is


def test_drl_bad_values_left_out_and_counted() -> None:
    with pytest.warns(DroppedRowsWarning, match=r"2 value\(s\).*1 negative DLP, 1 non-finite"):
        out = dose.compare_to_drl(_stroke([100.0, NAN, -50.0, INF]), strict=False)
    row = out.row(0, named=True)
    assert row["n_exams"] == 4 and row["n_dlp"] == 1
    assert row["median_dlp"] == 100.0
    assert row["ratio_dlp"] == pytest.approx(100 / 790)
    assert row["n_above_dlp"] == 0 and row["share_above_dlp"] == 0.0
    with pytest.warns(DroppedRowsWarning, match=r"2 value\(s\)"):
        flagged = dose.flag_above_drl(_stroke([100.0, NAN, -50.0, INF, 800.0]), strict=False)
    # null where the value is null (NaN included) or bad; 800 > 790
    assert flagged["above_drl_dlp"].to_list() == [False, None, None, None, True]
    assert flagged["dlp_mgycm"][2] == -50.0  # the input's columns are left as given


def test_drl_text_values_read_as_numbers_or_bad() -> None:
    text = _stroke(["100", " 800 ", "abc"])
    with pytest.raises(DataError, match=r"row 2, column 'dlp_mgycm': DLP not a number"):
        dose.compare_to_drl(text)
    with pytest.warns(DroppedRowsWarning, match=r"1 DLP not a number"):
        row = dose.compare_to_drl(text, strict=False).row(0, named=True)
    assert row["n_dlp"] == 2 and row["median_dlp"] == 450.0 and row["n_above_dlp"] == 1
    with pytest.warns(DroppedRowsWarning):
        flags = dose.flag_above_drl(text, strict=False)["above_drl_dlp"].to_list()
    assert flags == [False, True, None]


# ------------------------------------------------------------------ 2. exams left out, counted
def test_unknown_exam_types_left_out_are_counted() -> None:
    d = pl.DataFrame(
        {
            "exam_type": ["head_stroke", "Head_Stroke", "bogus", None],
            "facility": ["A"] * 4,
            "dlp_mgycm": [800.0, 900.0, 900.0, 900.0],
        }
    )
    with pytest.warns(DroppedRowsWarning, match=r"left 2 exam\(s\) out.*'bogus'") as w:
        out = dose.compare_to_drl(d, strict=False)
    assert len(w) == 1
    assert out["exam_type"].to_list() == ["head_stroke"] and out["n_exams"].to_list() == [1]
    with pytest.warns(DroppedRowsWarning, match=r"left 2 exam\(s\) out"):
        flags = dose.flag_above_drl(d, strict=False)["above_drl_dlp"].to_list()
    assert flags == [True, None, None, None]


def test_non_canonical_regions_are_not_silently_left_out() -> None:
    e = pl.DataFrame(
        {
            "body_region": ["head", "Head", "spine", "chest ", None],
            "dlp_mgycm": [1100.0, 2000.0, 900.0, 500.0, 1.0],
        }
    )
    with pytest.raises(DataError, match=r"2 row\(s\).*not canonical.*'Head', 'chest '"):
        dose.compare_to_drl(e, drl="arpansa_adult", site=None)
    with pytest.warns(DroppedRowsWarning, match=r"left 2 exam\(s\) out"):
        out = dose.compare_to_drl(e, drl="arpansa_adult", site=None, strict=False)
    head = out.row(0, named=True)
    assert out["exam_type"].to_list() == ["head"]
    assert head["n_exams"] == 1 and head["ratio_dlp"] == pytest.approx(1100 / 1000)
    # canonical regions without a level (spine) and nulls are left out as documented
    canonical = e.filter(pl.col("body_region").is_in(["head", "spine"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dose.compare_to_drl(canonical, drl="arpansa_adult", site=None).height == 1


# ------------------------------------------------------------------ 3. word order in region text
@pytest.mark.parametrize("words", list(itertools.permutations(["Chest", "Abdomen", "Pelvis"])))
@pytest.mark.parametrize("sep", ["/", " ", ", "])
def test_chest_abdomen_pelvis_in_any_order(words: tuple[str, ...], sep: str) -> None:
    assert dose.region_of(sep.join(words)) == "chest_abdomen_pelvis"


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Pelvis Abdomen", "abdomen_pelvis"),
        ("Abdomen Pelvis", "abdomen_pelvis"),
        ("Neck/Head", "head_neck"),
        ("Neck Chest", None),
        ("Chest Neck", None),
        ("Head Chest", None),
        ("Abdomen Chest", None),  # chest with abdomen, no pelvis: no canonical region
        ("Spine, thoracic", "spine"),
        ("Thoracic spine", "spine"),
        ("Whole body", "other"),
        ("Whole body head to thigh", None),  # a whole-body scan is not a head scan
        ("Kidney KUB", "abdomen_pelvis"),  # parts of one region
    ],
)
def test_region_text_combines_every_term(text: str, region: str | None) -> None:
    assert dose.region_of(text) == region
    assert dose.normalise_region([text]).to_list() == [region]


def test_region_text_follows_the_exam_region_rules() -> None:
    for parts in (["head", "neck"], ["abdomen", "pelvis"], ["chest", "abdomen_pelvis"]):
        text = " ".join(reversed(parts)).replace("_", " ")
        assert dose.region_of(text) == dose.exam_region(parts)


# ------------------------------------------------------------------ 4. sex for some regions only
BY_SEX = pl.DataFrame(
    {"region": ["chest", "chest", "head"], "sex": ["F", "M", None], "k": [0.02, 0.015, 0.002]}
)


def test_sex_needed_only_where_the_factors_differ() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [100.0] * 4,
            "body_region": ["head", "head", "chest", "chest"],
            "sex": [None, "U", "f", "M"],
        }
    )
    out = dose.effective_dose(exams, table=BY_SEX)
    assert out["effective_dose_msv"].to_list() == pytest.approx([0.2, 0.2, 2.0, 1.5])
    assert dose.k_factors(["head"], table=BY_SEX).tolist() == [0.002]


def test_no_sex_column() -> None:
    exams = pl.DataFrame({"dlp_mgycm": [100.0, 100.0], "body_region": ["head", "chest"]})
    with pytest.raises(DataError, match=r"needs column\(s\) \['sex'\].*1 row"):
        dose.effective_dose(exams, table=BY_SEX)
    with pytest.warns(DoseConversionWarning, match=r"1 dose\(s\) null \(1 sex not F or M"):
        out = dose.effective_dose(exams, table=BY_SEX, strict=False)
    assert out["effective_dose_msv"].to_list() == [pytest.approx(0.2), None]
    assert dose.effective_dose(exams.head(1), table=BY_SEX)["effective_dose_msv"][0] == (
        pytest.approx(0.2)
    )


# ------------------------------------------------------------------ 5. optional event columns
def _two_events(**extra: list) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_uid": ["s1", "s1"],
            "event_uid": ["a", "b"],
            "dlp_mgycm": [100.0, 200.0],
            "body_region": ["chest", "chest"],
            **extra,
        }
    )


@pytest.mark.parametrize("flags", [["false", "true"], ["N", "Y"], [" no", "YES "], ["0", "1"]])
def test_text_localizer_flags(flags: list[str]) -> None:
    out = dose.effective_dose(_two_events(localizer=flags))
    assert out["effective_dose_msv"].to_list() == pytest.approx([300 * 0.014])


def test_unreadable_localizer_flag_counted_and_not_a_localizer() -> None:
    ev = _two_events(localizer=["maybe", "false"]).with_columns(dlp_mgycm=pl.Series([None, 200.0]))
    with pytest.warns(DoseConversionWarning) as w:
        out = dose.effective_dose(ev, strict=False)
    text = " | ".join(str(x.message) for x in w)
    assert "1 localizer value(s)" in text and "'maybe'" in text
    assert "1 missing DLP" in text  # not a localizer, so its DLP is needed
    assert out["effective_dose_msv"].to_list() == [None]


def test_text_ctdivol_read_as_numbers() -> None:
    out = dose.effective_dose(_two_events(ctdivol_mgy=["10", "9"]))
    assert out["ctdivol_mgy"].to_list() == [10.0]  # the larger number, not the larger text
    with pytest.warns(DoseConversionWarning, match=r"1 ctdivol_mgy value\(s\).*'abc'"):
        out = dose.effective_dose(_two_events(ctdivol_mgy=["abc", "9"]))
    assert out["ctdivol_mgy"].to_list() == [9.0]
    assert out["effective_dose_msv"].to_list() == pytest.approx([300 * 0.014])


# ------------------------------------------------------------------ 6. pandas index kept
def test_pandas_index_kept() -> None:
    p = pd.DataFrame(
        {"dlp_mgycm": [100.0, 200.0], "body_region": ["chest", "head"]}, index=[100, 101]
    )
    out = dose.effective_dose(p)
    assert list(out.index) == [100, 101]
    p["e"] = out["effective_dose_msv"]
    assert p["e"].tolist() == pytest.approx([100 * 0.014, 200 * 0.0021])
    audit = pd.DataFrame(
        {"exam_type": ["head_stroke", "head_stroke"], "dlp_mgycm": [800.0, 700.0]},
        index=["x", "y"],
    )
    flagged = dose.flag_above_drl(audit)
    assert list(flagged.index) == ["x", "y"]
    audit["above"] = flagged["above_drl_dlp"]
    assert audit["above"].tolist() == [True, False]


# ------------------------------------------------------------------ 7. age for some regions only
BY_AGE = pl.DataFrame(
    {"region": ["spine", "chest", "chest"], "age": [None, 0, 15], "k": [0.02, 0.04, 0.015]}
)


def test_age_needed_only_where_the_factors_vary() -> None:
    exams = pl.DataFrame(
        {"dlp_mgycm": [100.0, 100.0], "body_region": ["spine", "spine"], "age_years": [None, -3.0]}
    )
    out = dose.effective_dose(exams, table=BY_AGE)
    assert out["effective_dose_msv"].to_list() == pytest.approx([2.0, 2.0])
    assert dose.k_factors(["spine"], table=BY_AGE).tolist() == [0.02]
    with pytest.raises(ValueError, match="depends on age"):
        dose.k_factors(["chest"], table=BY_AGE)


def test_age_table_as_fallback_needs_no_age_for_rows_the_main_table_covers() -> None:
    exams = pl.DataFrame({"dlp_mgycm": [100.0, 100.0], "body_region": ["neck", "chest"]})
    out = dose.effective_dose(exams, table="aapm96", fallback_table="shrimpton_age")
    assert out["effective_dose_msv"].to_list() == pytest.approx([100 * 0.0059, 100 * 0.014])
    # a row the age table converts still needs its age
    lacking = pl.DataFrame(
        {"dlp_mgycm": [100.0, 100.0], "body_region": ["chest", "abdomen_pelvis"]}
    )
    with pytest.raises(DataError, match=r"needs column\(s\) \['age_years'\]"):
        dose.effective_dose(lacking, table="icrp103_adult", fallback_table="shrimpton_age")
    with pytest.warns(DoseConversionWarning, match="1 missing age"):
        out = dose.effective_dose(
            lacking, table="icrp103_adult", fallback_table="shrimpton_age", strict=False
        )
    assert out["effective_dose_msv"].to_list() == [pytest.approx(100 * 0.0145), None]


# ------------------------------------------------------------------ 8. no partial study sums
def test_study_with_a_missing_event_dlp_has_no_partial_sums() -> None:
    ev = pl.DataFrame(
        {
            "study_uid": ["s1", "s1", "s2"],
            "event_uid": ["a", "b", "a"],
            "dlp_mgycm": [400.0, None, 50.0],
            "body_region": ["head", "head", "chest"],
        }
    )
    with pytest.warns(DoseConversionWarning, match="1 missing DLP"):
        out = dose.effective_dose(ev, strict=False)
    s1, s2 = out.rows(named=True)
    assert s1["dlp_mgycm"] is None and s1["effective_dose_msv"] is None
    assert s1["dose_method"] is None
    assert s2["dlp_mgycm"] == 50.0 and s2["effective_dose_msv"] == pytest.approx(50 * 0.014)


def test_localizer_without_dlp_keeps_the_study_sum() -> None:
    ev = _two_events(localizer=[True, False]).with_columns(dlp_mgycm=pl.Series([None, 200.0]))
    row = dose.effective_dose(ev).row(0, named=True)
    assert row["dlp_mgycm"] == 200.0 and row["effective_dose_msv"] == pytest.approx(200 * 0.014)


# ------------------------------------------------------------------ 9. warnings count well
def test_implausible_doses_are_one_reason() -> None:
    exams = pl.DataFrame({"dlp_mgycm": [1e6, 2e6, 3e6], "body_region": ["chest"] * 3})
    with pytest.warns(DoseConversionWarning) as w:
        dose.effective_dose(exams, strict=False)
    msg = str(w[0].message)
    assert "(3 effective dose above 1000 mSv (implausible for one exam)" in msg
    assert msg.count("above 1000 mSv") == 1
    assert "14000, 28000, 42000 mSv" in msg  # 1e6 x 0.014, ...


def test_adult_only_warning_counts_invalid_ages_apart() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [100.0] * 5,
            "body_region": ["chest"] * 5,
            "age_years": [-5.0, 10.0, 200.0, None, NAN],
        }
    )
    with pytest.warns(DoseConversionWarning) as w:
        out = dose.effective_dose(exams)
    msg = str(w[0].message)
    assert "1 row(s) with age_years below 18" in msg
    assert "2 row(s) whose age_years is not an age" in msg
    assert out["effective_dose_msv"].to_list() == pytest.approx([100 * 0.014] * 5)


# ------------------------------------------------------------------ 10. sources
def test_aapm96_rows_cite_where_the_values_were_read() -> None:
    t = dose.table("aapm96")
    src = dict(zip(t["region"], t["source"]))
    k = dict(zip(t["region"], t["k"]))
    assert (k["head_neck"], k["neck"]) == (0.0031, 0.0059)  # numbers unchanged
    for region in ("head", "head_neck", "neck", "chest", "chest_abdomen_pelvis"):
        assert "radclass.mudr.org page citing AAPM 96 and ICRP 103" in src[region]
    assert not any("AAPM Report 96 adult column" in s for s in src.values())
    csv = Path(dose.__file__).parent.parent / "data" / "kfactors_aapm96.csv"
    assert "radclass.mudr.org" in csv.read_text(encoding="utf-8").splitlines()[2]


def test_table_docstring_labels_its_factors_made_up() -> None:
    doc = dose.table.__doc__ or ""
    assert "0.015, 0.0008" in doc and "made-up" in doc


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("NECKCHESTABDPELV", "chest_abdomen_pelvis"),
        ("Neck Chest Abdomen Pelvis", "chest_abdomen_pelvis"),
        ("Neck/Thorax/Abdomen/Pelvis", "chest_abdomen_pelvis"),
        ("Hals/Thorax/Abdomen/Becken", "chest_abdomen_pelvis"),
        ("Pelvis Abdomen Chest Neck", "chest_abdomen_pelvis"),
        ("Head Neck Chest Abdomen Pelvis", None),
        ("Neck Chest", None),
        ("Neck Abdomen Pelvis", None),
    ],
)
def test_neck_with_chest_abdomen_pelvis_in_words_reads_as_the_dicom_term(text, region) -> None:
    assert dose.region_of(text) == region


def test_table_kv_is_the_tables_voltage_or_refused() -> None:
    # kv was ignored for shipped tables: table("nci_icrp103_120kv", kv=80) gave the 120 kV
    # factors as if they were 80 kV ones, and kv=True or kv="abc" passed
    assert dose.table("nci_icrp103_120kv", kv=120).equals(dose.table("nci_icrp103_120kv"))
    with pytest.raises(ParameterError, match="120 kV only, not 80 kV"):
        dose.table("nci_icrp103_120kv", kv=80)
    with pytest.raises(ParameterError, match="not tube-voltage specific"):
        dose.table("aapm96", kv=120)
    for bad in (True, "abc", float("nan"), -5):
        with pytest.raises(ParameterError, match="kv must be"):
            dose.table("nci_icrp103_120kv", kv=bad)
