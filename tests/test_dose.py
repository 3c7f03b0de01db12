"""Tests of recurct.dose: conversion-factor tables, effective dose, regions, DRLs.

Expected values are literals copied from docs/sources.md ("Dose conversion" and
"Diagnostic reference levels"), independently of the package data files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct.dose as dose
import recurct.errors
from recurct.schema import BODY_REGIONS

# --------------------------------------------------------------------------- published values
# docs/sources.md, "Dose conversion": adult, AAPM Report 96 column and ICRP 103 column.
AAPM96 = {
    "head": 0.0021,
    "head_neck": 0.0031,
    "neck": 0.0059,
    "chest": 0.014,
    "abdomen": 0.015,
    "pelvis": 0.015,
    "chest_abdomen_pelvis": 0.015,
    # PUBLISHED.md correction (2026-11-27): AAPM 96 Table 4 (Lee et al. 2012 Table XII) has
    # one combined "abdomen & pelvis" row, 0.015
    "abdomen_pelvis": 0.015,
}
ICRP103_ADULT = {
    "head": 0.0019,
    "neck": 0.0051,
    "chest": 0.0145,
    "abdomen": 0.0153,
    "pelvis": 0.0129,
    "chest_abdomen_pelvis": 0.0152,
}
# Shrimpton / AAPM 96 by age (Lee et al. 2012 Table XII): 0, 1, 5, 10 y, adult.
SHRIMPTON = {
    "head": [0.0110, 0.0067, 0.0040, 0.0032, 0.0021],
    "chest": [0.0390, 0.0260, 0.0180, 0.0130, 0.0140],
    "abdomen_pelvis": [0.0490, 0.0300, 0.0200, 0.0150, 0.0150],
    "chest_abdomen_pelvis": [0.0440, 0.0280, 0.0190, 0.0140, 0.0150],
}
SHRIMPTON_AGES = [0.0, 1.0, 5.0, 10.0, 18.0]  # "adult" from 18 y (recurct's documented choice)
# NCI, ICRP 103, 120 kV: 0/1/5/10/15/30 y.
NCI = {
    "head": [0.0086, 0.0058, 0.0043, 0.0029, 0.0022, 0.0017],
    "chest": [0.0508, 0.0330, 0.0240, 0.0168, 0.0121, 0.0210],
    "abdomen_pelvis": [0.0475, 0.0309, 0.0221, 0.0142, 0.0114, 0.0179],
    "chest_abdomen_pelvis": [0.0440, 0.0288, 0.0207, 0.0144, 0.0108, 0.0180],
}
NCI_AGES = [0.0, 1.0, 5.0, 10.0, 15.0, 30.0]

EXPECTED_TABLES = {
    "aapm96": ({r: [k] for r, k in AAPM96.items()}, [None], "ICRP 60", None),
    "icrp103_adult": ({r: [k] for r, k in ICRP103_ADULT.items()}, [None], "ICRP 103", None),
    "shrimpton_age": (SHRIMPTON, SHRIMPTON_AGES, "ICRP 60", 120.0),
    "nci_icrp103_120kv": (NCI, NCI_AGES, "ICRP 103", 120.0),
}

# docs/sources.md, "Diagnostic reference levels": (CTDIvol mGy, DLP mGy·cm); None = "—".
UK2022 = {
    "head_stroke": (47, 790),
    "sinuses": (12, 160),
    "cervical_spine_fracture": (16, 400),
    "chest_lung_cancer": (8.5, 290),
    "hrct_chest": (8, 300),
    "ctpa": (9.1, 310),
    "cap_cancer": (None, 660),
    "abdomen_pelvis_abscess": (10, 530),
    "kub_stones": (6.3, 290),
}
# ARPANSA is given as DLP / CTDIvol in the source; stored here as (CTDIvol, DLP).
ARPANSA = {
    "head": (60, 1000),
    "neck": (30, 600),
    "chest": (15, 450),
    "abdomen_pelvis": (15, 700),
    "chest_abdomen_pelvis": (30, 1200),
    "lumbar_spine": (40, 900),
}


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_table_values_equal_published(name: str) -> None:
    values, ages, convention, kv = EXPECTED_TABLES[name]
    got = dose.table(name)
    expected = {
        (region, age): k for region, ks in values.items() for age, k in zip(ages, ks, strict=True)
    }
    got_map = {(r["region"], r["age"]): r["k"] for r in got.iter_rows(named=True)}
    assert got_map == expected  # every value, and no value that is not published
    meta = dose.tables().filter(pl.col("name") == name).row(0, named=True)
    assert meta["convention"] == convention
    assert meta["kv"] == kv
    assert "docs/sources.md" in meta["citation"]
    assert sorted(meta["regions"]) == sorted(values)
    # k_factors reproduces every value at the tabulated ages
    for region, ks in values.items():
        a = None if ages == [None] else ages
        got_k = dose.k_factors([region] * len(ks), a, table=name)
        np.testing.assert_array_equal(got_k, ks)


def test_tables_lists_citations() -> None:
    t = dose.tables()
    assert set(t["name"]) == set(EXPECTED_TABLES)
    assert t["citation"].str.contains("Lee").sum() == 2  # the two age tables
    assert t.filter(pl.col("name") == "nci_icrp103_120kv")["adult_from"].item() == 30.0
    assert t.filter(pl.col("name") == "shrimpton_age")["adult_from"].item() == 18.0


# --------------------------------------------------------------------------- age rules
@pytest.mark.parametrize(
    ("age", "column"),
    [
        (0.0, 0),
        (0.5, 0),
        (0.999, 0),
        (1.0, 1),
        (4.99, 1),
        (5.0, 2),
        (9.999, 2),
        (10.0, 3),
        (17.99, 3),
        (18.0, 4),
        (85.0, 4),
        (130.0, 4),
    ],
)
def test_nearest_lower_boundaries_shrimpton(age: float, column: int) -> None:
    for region, ks in SHRIMPTON.items():
        got = dose.k_factors([region], [age], table="shrimpton_age")
        assert got[0] == ks[column]


@pytest.mark.parametrize(
    ("age", "column"),
    [(14.99, 3), (15.0, 4), (29.99, 4), (30.0, 5), (70.0, 5), (0.2, 0), (1.0, 1)],
)
def test_nearest_lower_boundaries_nci(age: float, column: int) -> None:
    got = dose.k_factors(["chest"], np.array([age]), table="nci_icrp103_120kv")
    assert got[0] == NCI["chest"][column]


def test_interpolate_by_hand() -> None:
    # head at 3 y: between 1 y (0.0067) and 5 y (0.0040), half way
    got = dose.k_factors(["head"], [3.0], table="shrimpton_age", age_rule="interpolate")
    assert got[0] == pytest.approx(0.0067 + 0.5 * (0.0040 - 0.0067), abs=1e-15)
    # chest at 20 y (NCI): between 15 y (0.0121) and 30 y (0.0210), one third of the way
    got = dose.k_factors(["chest"], [20.0], table="nci_icrp103_120kv", age_rule="interpolate")
    assert got[0] == pytest.approx(0.0121 + (5 / 15) * (0.0210 - 0.0121), abs=1e-15)
    # shrimpton chest at 14 y: between 10 y (0.0130) and adult at 18 y (0.0140)
    got = dose.k_factors(["chest"], [14.0], table="shrimpton_age", age_rule="interpolate")
    assert got[0] == pytest.approx(0.0135, abs=1e-15)


def test_interpolate_exact_at_tabulated_ages_and_constant_beyond() -> None:
    for region, ks in NCI.items():
        got = dose.k_factors(
            [region] * 8,
            [*NCI_AGES, 45.0, 130.0],
            table="nci_icrp103_120kv",
            age_rule="interpolate",
        )
        np.testing.assert_allclose(got, [*ks, ks[-1], ks[-1]], rtol=0, atol=1e-15)


def test_adult_tables_ignore_age() -> None:
    got = dose.k_factors(["chest", "chest"], [2.0, 60.0], table="aapm96")
    assert got.tolist() == [0.014, 0.014]
    assert dose.k_factors(["neck"], table="icrp103_adult").tolist() == [0.0051]


def test_bad_age_rule_and_missing_ages() -> None:
    with pytest.raises(ValueError, match="age_rule"):
        dose.k_factors(["head"], [3.0], table="shrimpton_age", age_rule="closest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depends on age"):
        dose.k_factors(["head"], table="shrimpton_age")
    with pytest.raises(ValueError, match="missing age"):
        dose.k_factors(["head", "chest"], [3.0, np.nan], table="shrimpton_age")
    with pytest.raises(ValueError, match="outside 0-130"):
        dose.k_factors(["head"], [-1.0], table="shrimpton_age")


# --------------------------------------------------------------------------- regions / fallbacks
def test_untabulated_region_error_names_region_and_table() -> None:
    with pytest.raises(ValueError, match=r"spine.*|aapm96") as err:
        dose.k_factors(["chest", "spine"], table="aapm96")
    assert "'aapm96'" in str(err.value)
    assert "'spine'" in str(err.value)
    with pytest.raises(ValueError, match="neck") as err:
        dose.k_factors(["neck"], [40.0], table="shrimpton_age")
    assert "shrimpton_age" in str(err.value)
    with pytest.raises(ValueError, match="head_neck"):
        dose.k_factors(["head_neck"], table="icrp103_adult")


def test_non_canonical_and_null_regions() -> None:
    with pytest.raises(ValueError, match="normalise_region") as err:
        dose.k_factors(np.array(["Chest", None], dtype=object), table="aapm96")
    assert "missing body region" in str(err.value)


def test_fallback_region_and_table() -> None:
    got = dose.k_factors(
        ["neck", "abdomen", "head"],
        [40.0, 3.0, 3.0],
        table="shrimpton_age",
        fallback={"abdomen": "abdomen_pelvis"},
        fallback_table="aapm96",
    )
    # neck from aapm96 (adult 0.0059); abdomen as abdomen_pelvis at 1 y column; head 1 y
    assert got.tolist() == [0.0059, 0.0300, 0.0067]
    got = dose.k_factors(["neck"], table="icrp103_adult", fallback={"head_neck": "neck"})
    assert got.tolist() == [0.0051]
    with pytest.raises(ValueError, match="has no factor for 'neck'"):
        dose.k_factors(["head_neck"], [1.0], table="shrimpton_age", fallback={"head_neck": "neck"})
    with pytest.raises(ValueError, match="canonical"):
        dose.k_factors(["neck"], table="aapm96", fallback={"throat": "neck"})


def test_fallback_never_overrides_a_tabulated_factor() -> None:
    got = dose.k_factors(["neck"], table="aapm96", fallback={"neck": "head_neck"})
    assert got.tolist() == [0.0059]


def test_kv_checks() -> None:
    assert dose.k_factors(["head"], [40.0], table="nci_icrp103_120kv", kv=120).tolist() == [0.0017]
    with pytest.raises(ValueError, match="80 and 100 kV"):
        dose.k_factors(["head"], [40.0], table="nci_icrp103_120kv", kv=100)
    with pytest.raises(ValueError, match="not tube-voltage specific"):
        dose.k_factors(["head"], table="aapm96", kv=120)
    with pytest.raises(ValueError, match="120 kV only"):
        dose.k_factors(["head"], [40.0], table="nci_icrp103_80kv")


@pytest.mark.parametrize(
    "make",
    [
        lambda v: np.array(v),
        lambda v: np.array(v, dtype=object),
        lambda v: pl.Series(v),
        lambda v: pl.Series(v).cast(pl.Categorical),
        lambda v: pl.Series(v).cast(pl.Enum(list(BODY_REGIONS))),
        lambda v: pd.Series(v),
        list,
    ],
    ids=["numpy-U", "numpy-object", "polars", "categorical", "enum", "pandas", "list"],
)
def test_k_factors_input_types(make) -> None:
    regions = ["chest", "head", "abdomen_pelvis", "chest"]
    ages = pd.Series([0.5, 12.0, 40.0, 5.0])
    got = dose.k_factors(make(regions), ages, table="shrimpton_age")
    assert got.tolist() == [0.0390, 0.0032, 0.0150, 0.0180]


def test_k_factors_many_rows_matches_per_row_lookup() -> None:
    rng = np.random.default_rng(1)
    regions = rng.choice(list(NCI), 5000)
    ages = rng.uniform(0, 100, 5000)
    got = dose.k_factors(pl.Series(regions), ages, table="nci_icrp103_120kv")
    col = np.searchsorted(NCI_AGES, ages, side="right") - 1
    naive = [NCI[r][c] for r, c in zip(regions, col)]
    np.testing.assert_array_equal(got, naive)


# --------------------------------------------------------------------------- effective_dose
def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "dlp_mgycm": [500.0, 1000.0, 200.0, 400.0],
            "body_region": ["chest", "head", "neck", "chest_abdomen_pelvis"],
            "age_years": [40.0, 41.0, 30.0, 3.0],
        }
    )


def test_effective_dose_arithmetic() -> None:
    # the 3-year-old gets the adult factor (values unchanged) and a warning
    with pytest.warns(dose.DoseConversionWarning, match=r"'aapm96'.* 1 row\(s\).*below 18"):
        out = dose.effective_dose(_exams())
    assert out["effective_dose_msv"].to_list() == pytest.approx(
        [500 * 0.014, 1000 * 0.0021, 200 * 0.0059, 400 * 0.015], abs=1e-12
    )
    assert out["dose_method"].to_list() == ["aapm96/nearest-lower"] * 4
    assert out["patient_id"].to_list() == ["a", "a", "b", "c"]


def test_effective_dose_age_table_and_fallback_labels() -> None:
    out = dose.effective_dose(
        _exams(), table="shrimpton_age", fallback_table="aapm96", age_rule="interpolate"
    )
    # chest 40 y adult; head 41 y adult; neck from aapm96; CAP at 3 y: half way 1 y..5 y
    expected = [500 * 0.0140, 1000 * 0.0021, 200 * 0.0059, 400 * (0.0280 + 0.0190) / 2]
    assert out["effective_dose_msv"].to_list() == pytest.approx(expected, abs=1e-12)
    assert out["dose_method"][2] == "aapm96/interpolate (fallback table)"
    out = dose.effective_dose(
        _exams().with_columns(body_region=pl.lit("abdomen")),
        table="shrimpton_age",
        fallback={"abdomen": "abdomen_pelvis"},
    )
    assert out["dose_method"][0] == "shrimpton_age/nearest-lower (abdomen as abdomen_pelvis)"
    assert out["effective_dose_msv"][3] == pytest.approx(400 * 0.0300)


def test_effective_dose_keeps_existing_unless_overwrite() -> None:
    exams = (
        _exams()
        .drop("age_years")
        .with_columns(
            effective_dose_msv=pl.Series([1.0, None, 2.0, None]),
            dose_method=pl.Series(["registry", None, "registry", None]),
        )
    )
    out = dose.effective_dose(exams)
    assert out["effective_dose_msv"].to_list() == pytest.approx([1.0, 2.1, 2.0, 6.0])
    assert out["dose_method"].to_list() == [
        "registry",
        "aapm96/nearest-lower",
        "registry",
        "aapm96/nearest-lower",
    ]
    out = dose.effective_dose(exams, overwrite=True)
    assert out["effective_dose_msv"].to_list() == pytest.approx([7.0, 2.1, 1.18, 6.0])
    assert out["dose_method"].to_list() == ["aapm96/nearest-lower"] * 4


def test_effective_dose_existing_rows_are_not_checked() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [None, 100.0],
            "body_region": ["spine", "head"],
            "effective_dose_msv": [5.0, None],
        }
    )
    out = dose.effective_dose(exams)
    assert out["effective_dose_msv"].to_list() == pytest.approx([5.0, 0.21])


def test_effective_dose_pandas_in_pandas_out() -> None:
    pdf = _exams().drop("age_years").to_pandas()
    out = dose.effective_dose(pdf)
    assert isinstance(out, pd.DataFrame)
    assert out["effective_dose_msv"].tolist() == pytest.approx([7.0, 2.1, 1.18, 6.0])
    arrow = _exams().drop("age_years").to_arrow()
    assert isinstance(dose.effective_dose(arrow), pl.DataFrame)


def test_effective_dose_lists_every_bad_row() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [100.0, None, 300.0, -5.0, 200.0, 100.0],
            "body_region": ["chest", "chest", "spine", "head", "Chest", "head"],
            "age_years": [30.0, 30.0, 30.0, 30.0, 30.0, None],
        }
    )
    with pytest.raises(dose.DoseConversionError) as err:
        dose.effective_dose(exams, table="nci_icrp103_120kv", fallback_table="aapm96")
    msg = str(err.value)
    for line in (
        "row 1, column 'dlp_mgycm': missing DLP",
        "row 2, column 'body_region'",
        "row 3, column 'dlp_mgycm': negative DLP",
        "row 4, column 'body_region'",
        "row 5, column 'age_years': missing age",
    ):
        assert line in msg
    assert "row 0" not in msg
    assert "'spine'" in msg
    problems = err.value.problems
    assert problems["row"].to_list() == [1, 2, 3, 4, 5]
    assert isinstance(err.value, ValueError)


def test_effective_dose_non_strict_leaves_nulls_and_warns() -> None:
    exams = pl.DataFrame(
        {"dlp_mgycm": [100.0, None, 300.0], "body_region": ["chest", "chest", "spine"]}
    )
    with pytest.warns(dose.DoseConversionWarning, match=r"2 dose\(s\) null") as rec:
        out = dose.effective_dose(exams, strict=False)
    assert issubclass(rec[0].category, UserWarning)
    assert "1 missing DLP" in str(rec[0].message)
    assert out["effective_dose_msv"].to_list()[0] == pytest.approx(1.4)
    assert out["effective_dose_msv"].to_list()[1:] == [None, None]
    assert out["dose_method"].to_list() == ["aapm96/nearest-lower", None, None]


def test_effective_dose_missing_columns() -> None:
    with pytest.raises(ValueError, match="age_years"):
        dose.effective_dose(_exams().drop("age_years"), table="shrimpton_age")
    with pytest.raises(ValueError, match="dlp_mgycm"):
        dose.effective_dose(_exams().drop("dlp_mgycm"))


def _events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["p", "p", "p", "q"],
            "study_uid": ["s1", "s1", "s1", "s2"],
            "event_uid": ["e1", "e2", "e3", "e1"],
            "dlp_mgycm": [100.0, 200.0, 50.0, 400.0],
            "ctdivol_mgy": [5.0, 12.0, 3.0, 40.0],
            "body_region": ["chest", "abdomen", "chest", "head"],
            "facility": [None, "X", "X", "Y"],
        }
    )


def test_event_level_sum() -> None:
    out = dose.effective_dose(_events())
    assert out.height == 2
    assert out["study_uid"].to_list() == ["s1", "s2"]
    expected = [100 * 0.014 + 200 * 0.015 + 50 * 0.014, 400 * 0.0021]
    assert out["effective_dose_msv"].to_list() == pytest.approx(expected, abs=1e-12)
    assert out["dlp_mgycm"].to_list() == [350.0, 400.0]
    assert out["ctdivol_mgy"].to_list() == [12.0, 40.0]
    assert out["body_region"].to_list() == ["abdomen", "head"]  # largest summed DLP: 200 > 150
    assert out["n_events"].to_list() == [3, 1]
    assert out["facility"].to_list() == ["X", "Y"]  # first non-null
    assert "event_uid" not in out.columns
    # level="exam" keeps the rows
    assert dose.effective_dose(_events(), level="exam").height == 4


def test_event_level_partial_failure_gives_null_not_partial_sum() -> None:
    ev = _events().with_columns(dlp_mgycm=pl.Series([100.0, None, 50.0, 400.0]))
    with pytest.warns(dose.DoseConversionWarning):
        out = dose.effective_dose(ev, strict=False)
    assert out["effective_dose_msv"].to_list() == [None, pytest.approx(0.84)]


def test_event_level_repeated_event() -> None:
    ev = pl.concat([_events(), _events().head(1)])
    with pytest.raises(dose.DoseConversionError, match="row 4, column 'event_uid'"):
        dose.effective_dose(ev)
    with pytest.warns(dose.DoseConversionWarning, match="repeated"):
        out = dose.effective_dose(ev, strict=False)
    assert out["dlp_mgycm"].to_list() == [350.0, 400.0]  # counted once


def test_event_level_by_argument_and_pandas() -> None:
    ev = _events().drop("event_uid").to_pandas()
    out = dose.effective_dose(ev, level="event")
    assert isinstance(out, pd.DataFrame)
    assert out["n_events"].tolist() == [3, 1]


# --------------------------------------------------------------------------- normalise_region
# Strings read from /work/shared/data/rdsr/*.dcm (OpenREM test files): Acquisition Protocol
# (125203), Target Region (123014), Study Description / Protocol Name.
RDSR_STRINGS = [
    # target regions
    ("Abdomen", "abdomen"),
    ("Chest", "chest"),
    ("Chest, Abdomen and Pelvis", "chest_abdomen_pelvis"),
    ("Entire body", "other"),
    # acquisition protocols
    ("4DCT", None),
    ("Abdomen Routine ZC (NR)", "abdomen"),
    ("Monitoring", None),
    ("PreMonitoring", None),
    ("TAP", "chest_abdomen_pelvis"),
    ("Topogram", None),
    ("testæøå", None),
    # study descriptions / protocol names
    ("Thorax^TAP (Adult)", "chest_abdomen_pelvis"),
    ("Thorax^RTP_4DCT_Thorax_C (Adult)", "chest"),
    ("RTP_4DCT_Thorax_C", "chest"),
    ("Colonography", "abdomen_pelvis"),
]

OTHER_STRINGS = [
    ("ABDOMEN/PELVIS", "abdomen_pelvis"),
    ("Abd/Pel", "abdomen_pelvis"),
    ("Head", "head"),
    ("Neck", "neck"),
    ("Head and Neck", "head_neck"),
    ("HEAD & NECK angio", "head_neck"),
    ("C-spine", "spine"),
    ("Spine", "spine"),
    ("Thoracic spine", "spine"),
    ("L-Spine", "spine"),
    ("Thorax", "chest"),
    ("Pelvis", "pelvis"),
    ("CAP", "chest_abdomen_pelvis"),
    ("C/A/P", "chest_abdomen_pelvis"),
    ("Brain", "head"),
    ("Sinus", "head"),
    ("Knee left", "extremity"),
    ("Lower extremity", "extremity"),
    ("CTPA", "chest"),
    ("Whole body", "other"),
    ("Chest/Abdomen", None),
    ("Hip", None),
    ("capsule", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "region"), RDSR_STRINGS + OTHER_STRINGS)
def test_region_of(text, region) -> None:
    assert dose.region_of(text) == region


def _rdsr_strings() -> set[str]:
    """Acquisition Protocol (125203) and Target Region (123014) strings of the RDSR fixtures."""
    pydicom = pytest.importorskip("pydicom")
    folder = Path(__file__).parent / "data" / "rdsr"
    files = sorted(folder.glob("*.dcm"))
    if not files:
        pytest.skip("no RDSR fixtures in tests/data/rdsr")
    found: set[str] = set()

    def walk(items) -> None:
        for item in items:
            name = item.get("ConceptNameCodeSequence")
            if name and name[0].CodeValue in ("125203", "123014"):
                if item.ValueType == "TEXT":
                    found.add(str(item.TextValue))
                elif item.ValueType == "CODE":
                    found.add(str(item.ConceptCodeSequence[0].CodeMeaning))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    for f in files:
        ds = pydicom.dcmread(f)
        walk(ds.get("ContentSequence", []))
        for keyword in ("StudyDescription", "ProtocolName"):
            if ds.get(keyword):
                found.add(str(ds.get(keyword)))
    return found


def test_normalise_region_on_every_rdsr_fixture_string() -> None:
    expected = dict(RDSR_STRINGS)
    found = _rdsr_strings()
    # the fixture strings are exactly those listed above (the Siemens file's mis-decoded
    # UTF-8 test protocol aside, which is listed in its decoded form)
    assert found - set(expected) <= {s for s in found if not s.isascii()}
    assert {s for s in expected if s.isascii()} <= found
    for text in found:
        want = expected.get(text)
        assert dose.region_of(text) == want, text


def test_normalise_region_series() -> None:
    texts = [t for t, _ in RDSR_STRINGS] * 3
    expected = [r for _, r in RDSR_STRINGS] * 3
    s = pl.Series("protocol", texts)
    out = dose.normalise_region(s)
    assert isinstance(out, pl.Series)
    assert out.name == "protocol"
    assert out.to_list() == expected
    ps = pd.Series(texts, index=range(10, 10 + len(texts)))
    pout = dose.normalise_region(ps)
    assert isinstance(pout, pd.Series)
    assert list(pout.index) == list(ps.index)
    assert [None if pd.isna(v) else v for v in pout] == expected


def test_normalise_region_extra_rules_come_first() -> None:
    assert dose.region_of("Hufte links") is None
    rules = [(r" hufte ", "pelvis"), (r" topogram ", None)]
    assert dose.region_of("Hüfte links", region_rules=rules) == "pelvis"
    assert dose.region_of("Chest", region_rules={r" chest ": "chest_abdomen_pelvis"}) == (
        "chest_abdomen_pelvis"
    )
    table = pl.DataFrame({"pattern": [r" hip "], "region": ["pelvis"]})
    assert dose.region_of("Hip left", region_rules=table) == "pelvis"
    with pytest.raises(ValueError, match="region must be one of"):
        dose.region_of("x", region_rules=[(r"x", "thorax")])


def test_region_rules_table() -> None:
    rules = dose.region_rules()
    assert rules.columns == ["order", "pattern", "region", "note"]
    assert set(rules["region"].drop_nulls()) <= set(BODY_REGIONS)
    assert rules["order"].to_list() == list(range(1, rules.height + 1))


# --------------------------------------------------------------------------- DRLs
@pytest.mark.parametrize(("name", "expected"), [("uk2022", UK2022), ("arpansa_adult", ARPANSA)])
def test_drl_values_equal_published(name: str, expected: dict) -> None:
    got = dose.drl_table(name)
    got_map = {
        r["exam_type"]: (r["ctdivol_mgy"], r["dlp_mgycm"]) for r in got.iter_rows(named=True)
    }
    assert got_map == {
        k: (c if c is None else float(c), float(d)) for k, (c, d) in expected.items()
    }
    listing = dose.drl_tables()
    assert name in listing["name"].to_list()
    assert "docs/sources.md" in listing.filter(pl.col("name") == name)["citation"].item()


def _drl_exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "exam_type": ["head_stroke"] * 4 + ["cap_cancer"] * 3 + [None],
            "facility": ["A", "A", "A", "B", "A", "A", "A", "A"],
            "ctdivol_mgy": [40.0, 50.0, 60.0, 30.0, 10.0, 12.0, 14.0, 99.0],
            "dlp_mgycm": [700.0, 800.0, 900.0, 500.0, 600.0, 700.0, None, 9999.0],
        }
    )


def test_compare_to_drl_by_hand() -> None:
    out = dose.compare_to_drl(_drl_exams(), drl="uk2022")
    rows = {(r["exam_type"], r["facility"]): r for r in out.iter_rows(named=True)}
    assert set(rows) == {("cap_cancer", "A"), ("head_stroke", "A"), ("head_stroke", "B")}
    h = rows[("head_stroke", "A")]
    assert h["n_exams"] == 3
    assert h["median_ctdivol"] == 50.0
    assert h["drl_ctdivol"] == 47.0
    assert h["ratio_ctdivol"] == pytest.approx(50 / 47)
    assert h["n_above_ctdivol"] == 2
    assert h["share_above_ctdivol"] == pytest.approx(2 / 3)
    assert h["median_dlp"] == 800.0
    assert h["ratio_dlp"] == pytest.approx(800 / 790)
    assert h["n_above_dlp"] == 2
    c = rows[("cap_cancer", "A")]
    assert c["n_exams"] == 3 and c["n_dlp"] == 2
    assert c["median_dlp"] == 650.0  # (600 + 700) / 2, the null DLP left out
    assert c["ratio_dlp"] == pytest.approx(650 / 660)
    assert c["n_above_dlp"] == 1 and c["share_above_dlp"] == 0.5
    assert c["median_ctdivol"] == 12.0
    assert c["drl_ctdivol"] is None and c["ratio_ctdivol"] is None  # "—": no DRL set
    assert c["n_above_ctdivol"] is None and c["share_above_ctdivol"] is None
    b = rows[("head_stroke", "B")]
    assert b["n_above_dlp"] == 0 and b["share_above_dlp"] == 0.0


def test_compare_to_drl_by_none_and_pandas() -> None:
    out = dose.compare_to_drl(_drl_exams().to_pandas(), site=None)
    assert isinstance(out, pd.DataFrame)
    head = out[out["exam_type"] == "head_stroke"].iloc[0]
    assert head["n_exams"] == 4
    assert head["median_dlp"] == 750.0  # median of 500, 700, 800, 900


def test_compare_to_drl_unknown_exam_type() -> None:
    exams = _drl_exams().with_columns(exam_type=pl.lit("head"))
    with pytest.raises(ValueError, match="not in DRL set 'uk2022'"):
        dose.compare_to_drl(exams)
    with pytest.warns(recurct.errors.DroppedRowsWarning, match="left 8 exam"):
        out = dose.compare_to_drl(exams, strict=False)
    assert out.height == 0
    with pytest.raises(ValueError, match="clinical indication"):
        dose.compare_to_drl(_drl_exams().drop("exam_type"))


def test_compare_to_drl_arpansa_by_region() -> None:
    exams = pl.DataFrame(
        {
            "body_region": ["head", "head", "spine", "chest", "abdomen"],
            "dlp_mgycm": [900.0, 1100.0, 500.0, 400.0, 100.0],
            "ctdivol_mgy": [50.0, 70.0, 20.0, 10.0, 5.0],
        }
    )
    out = dose.compare_to_drl(exams, drl="arpansa_adult", site=None)
    assert out["exam_type"].to_list() == ["chest", "head"]  # spine, abdomen: no mapping
    head = out.row(1, named=True)
    assert head["median_dlp"] == 1000.0 and head["ratio_dlp"] == 1.0
    assert head["n_above_dlp"] == 1  # 1100 > 1000; 900 is not
    assert head["median_ctdivol"] == 60.0 and head["ratio_ctdivol"] == 1.0
    assert head["n_above_ctdivol"] == 1


def test_flag_above_drl() -> None:
    out = dose.flag_above_drl(_drl_exams())
    assert out["above_drl_dlp"].to_list() == [False, True, True, False, False, True, None, None]
    assert out["above_drl_ctdivol"].to_list() == [
        False,
        True,
        True,
        False,
        None,
        None,
        None,
        None,
    ]
    assert out["drl_dlp_mgycm"].to_list()[:5] == [790.0] * 4 + [660.0]
    assert out.columns[: len(_drl_exams().columns)] == _drl_exams().columns
    # exactly at the DRL is not above it
    at = pl.DataFrame({"exam_type": ["sinuses"], "dlp_mgycm": [160.0], "ctdivol_mgy": [12.0]})
    flagged = dose.flag_above_drl(at)
    assert flagged["above_drl_dlp"].item() is False
    assert flagged["above_drl_ctdivol"].item() is False


# --------------------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None)
@given(age=st.floats(0.0, 130.0), region=st.sampled_from(sorted(NCI)))
def test_property_nearest_lower_is_the_column_at_or_below(age: float, region: str) -> None:
    got = dose.k_factors([region], [age], table="nci_icrp103_120kv")[0]
    column = max(i for i, a in enumerate(NCI_AGES) if a <= age)
    assert got == NCI[region][column]


@settings(max_examples=200, deadline=None)
@given(
    age=st.floats(0.0, 130.0),
    region=st.sampled_from(sorted(NCI)),
    adult_from=st.one_of(st.none(), st.floats(15.01, 60.0)),
)
def test_property_nearest_is_the_closest_column(
    age: float, region: str, adult_from: float | None
) -> None:
    got = dose.k_factors(
        [region], [age], table="nci_icrp103_120kv", age_rule="nearest", adult_from=adult_from
    )[0]
    grid = [*NCI_AGES[:-1], NCI_AGES[-1] if adult_from is None else adult_from]
    # naive: the smallest distance, ties to the younger column (the first in the list)
    column = min(range(len(grid)), key=lambda i: (abs(grid[i] - age), i))
    assert got == NCI[region][column]


@settings(max_examples=200, deadline=None)
@given(age=st.floats(0.0, 130.0), region=st.sampled_from(sorted(SHRIMPTON)))
def test_property_interpolate_between_neighbours(age: float, region: str) -> None:
    got = dose.k_factors([region], [age], table="shrimpton_age", age_rule="interpolate")[0]
    ks = SHRIMPTON[region]
    if age >= SHRIMPTON_AGES[-1]:
        assert got == ks[-1]
        return
    i = max(j for j, a in enumerate(SHRIMPTON_AGES) if a <= age)
    a0, a1 = SHRIMPTON_AGES[i], SHRIMPTON_AGES[i + 1]
    want = ks[i] + (age - a0) / (a1 - a0) * (ks[i + 1] - ks[i])
    assert got == pytest.approx(want, abs=1e-15)
    assert min(ks[i], ks[i + 1]) - 1e-15 <= got <= max(ks[i], ks[i + 1]) + 1e-15


# --------------------------------------------------------------------------- adult-only tables
@pytest.mark.parametrize("name", ["aapm96", "icrp103_adult"])
def test_adult_only_table_warns_for_children_and_keeps_values(name: str) -> None:
    adult = AAPM96 if name == "aapm96" else ICRP103_ADULT
    newborn_head = pl.DataFrame(
        {
            "dlp_mgycm": [300.0, 300.0, 300.0, 300.0],
            "body_region": ["head"] * 4,
            "age_years": [10 / 365.25, 17.99, 18.0, None],  # 10 days, 17.99 y, adult, unknown
        }
    )
    with pytest.warns(dose.DoseConversionWarning, match=rf"'{name}'.* 2 row\(s\).*below 18") as w:
        out = dose.effective_dose(newborn_head, table=name)
    assert "shrimpton_age" in str(w[0].message) and "nci_icrp103_120kv" in str(w[0].message)
    assert out["effective_dose_msv"].to_list() == pytest.approx([300 * adult["head"]] * 4)
    # the age-dependent table gives the published 0-y factor (Shrimpton head, 0 y: 0.011)
    aged = dose.effective_dose(newborn_head.head(1), table="shrimpton_age")
    assert aged["effective_dose_msv"][0] == pytest.approx(300 * SHRIMPTON["head"][0])
    assert SHRIMPTON["head"][0] == 0.011


def test_adult_only_table_no_warning_for_adults_or_without_age() -> None:
    exams = pl.DataFrame({"dlp_mgycm": [100.0], "body_region": ["chest"], "age_years": [18.0]})
    dose.effective_dose(exams)  # warnings are errors in this suite
    dose.effective_dose(exams.drop("age_years"))


# --------------------------------------------------------------------------- exam_region
@pytest.mark.parametrize(
    ("regions", "dlps", "localizer", "expected"),
    [
        (["chest", "abdomen", "pelvis"], None, None, "chest_abdomen_pelvis"),
        (["head", "neck"], None, None, "head_neck"),
        (["abdomen", "pelvis"], [1.0, 2.0], None, "abdomen_pelvis"),
        (["chest", "abdomen_pelvis"], None, None, "chest_abdomen_pelvis"),
        (["abdomen", "abdomen_pelvis"], None, None, "abdomen_pelvis"),
        (["head", "chest"], [100.0, 300.0], None, "chest"),
        (["head", "chest", "head"], [100.0, 150.0, 100.0], None, "head"),  # summed 200 > 150
        (["head", "chest"], [100.0, 100.0], None, "head"),  # tie: first seen
        (["head", "chest"], None, None, "other"),  # no DLP to rank by
        (["other", "chest"], [900.0, 10.0], None, "other"),  # a whole-body scan counts (s22)
        (["other", None], None, None, "other"),
        ([None], None, None, None),
        ([], None, None, None),
        (["other", "head"], [10.0, 300.0], [True, False], "head"),
        (["chest", "head"], [10.0, 300.0], [True, False], "head"),  # localizer ignored
        (["chest"], [10.0], [True], "chest"),  # only localizers: they count
    ],
)
def test_exam_region(
    regions: list, dlps: list | None, localizer: list | None, expected: str | None
) -> None:
    assert dose.exam_region(regions, dlps, localizer) == expected


def test_exam_region_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="same length"):
        dose.exam_region(["head"], [1.0, 2.0])


# --------------------------------------------------------------------------- localizers
def _localizer_events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_uid": ["s1", "s1", "s1", "s2", "s2"],
            "event_uid": ["a", "b", "c", "d", "e"],
            "dlp_mgycm": [None, 12.0, 300.0, 5.0, 400.0],
            "body_region": ["other", "other", "chest", None, "head"],
            "localizer": [True, True, False, True, False],
        }
    )


def test_localizers_contribute_zero_or_their_dlp_with_the_main_region() -> None:
    out = dose.effective_dose(_localizer_events(), level="event")
    # s1: localizer without DLP -> 0; localizer with DLP 12 -> chest factor; scan 300 chest
    # s2: localizer DLP 5 with no region -> head (main region); scan 400 head
    expected = [12 * AAPM96["chest"] + 300 * AAPM96["chest"], (5 + 400) * AAPM96["head"]]
    assert out["effective_dose_msv"].to_list() == pytest.approx(expected, abs=1e-12)
    assert out["body_region"].to_list() == ["chest", "head"]
    assert dose.LOCALIZER_METHOD in out["dose_method"][0]
    assert "localizer" not in out.columns


def test_localizer_rule_applies_only_to_localizers() -> None:
    ev = _localizer_events().with_columns(localizer=pl.lit(False))
    with pytest.raises(dose.DoseConversionError, match="row 0"):
        dose.effective_dose(ev, level="event")
    with pytest.warns(dose.DoseConversionWarning):
        out = dose.effective_dose(ev, level="event", strict=False)
    assert out["effective_dose_msv"].to_list() == [None, None]


# --------------------------------------------------------------------------- your own tables
# An illustrative user table (NOT a published set): the numbers are made up for the test.
USER_K = {"spine": 0.02, "extremity": 0.001, "head": 0.003}


def _user_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": list(USER_K),
            "k": list(USER_K.values()),
            "source": ["local physics audit (illustrative)"] * 3,
        }
    )


@pytest.mark.parametrize("as_csv", [False, True])
def test_user_table_with_spine_and_extremity(as_csv: bool, tmp_path: Path) -> None:
    spec: object = _user_table()
    if as_csv:
        path = tmp_path / "my_factors.csv"
        path.write_text(
            "# citation: local physics audit (illustrative)\n" + _user_table().write_csv()
        )
        spec = str(path)
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [400.0, 50.0, 1000.0, 500.0],
            "body_region": ["spine", "extremity", "head", "chest"],
            "effective_dose_msv": [None, None, None, None],
        },
        schema_overrides={"effective_dose_msv": pl.Float64},
    )
    out = dose.effective_dose(exams, table=spec, fallback_table="aapm96")
    # by hand: DLP x k, chest from the shipped adult table (0.014, PUBLISHED.md)
    assert out["effective_dose_msv"].to_list() == pytest.approx([8.0, 0.05, 3.0, 7.0])
    name = "my_factors" if as_csv else "custom"
    assert out["dose_method"].to_list() == [
        f"{name}/nearest-lower",
        f"{name}/nearest-lower",
        f"{name}/nearest-lower",
        "aapm96/nearest-lower (fallback table)",
    ]
    # and the other way round: the shipped table first, yours for what it lacks
    out = dose.effective_dose(exams, table="aapm96", fallback_table=spec)
    assert out["effective_dose_msv"].to_list() == pytest.approx([8.0, 0.05, 2.1, 7.0])
    # the user table is listed like a shipped one
    assert dict(zip(*dose.table(spec).select("region", "k").to_dict().values())) == USER_K


def test_user_table_errors_name_row_and_column(tmp_path: Path) -> None:
    bad = pl.DataFrame(
        {"region": ["spine", "Spine", "head", "head"], "k": ["0.02", "x", "-1", "inf"]}
    )
    with pytest.raises(ValueError) as err:
        dose.table(bad)
    msg = str(err.value)
    assert "row 1, column 'region': not a canonical body region" in msg
    assert "row 1, column 'k': not a number (value: 'x')" in msg
    assert "row 2, column 'k': negative" in msg
    assert "row 3, column 'k': not finite" in msg
    with pytest.raises(ValueError, match="second factor for the same region"):
        dose.table(pl.DataFrame({"region": ["head", "head"], "k": [0.1, 0.2]}))
    with pytest.raises(ValueError, match="missing \\['k'\\]"):
        dose.table(pl.DataFrame({"region": ["head"]}))
    with pytest.raises(ValueError, match="unknown column"):
        dose.table(pl.DataFrame({"region": ["head"], "k": [0.1], "Age": [3]}))
    with pytest.raises(ValueError, match="no factor at age"):
        dose.table(
            pl.DataFrame(
                {"region": ["head", "head", "chest"], "k": [0.1, 0.2, 0.3], "age": [0.0, 10.0, 0.0]}
            )
        )
    with pytest.raises(ValueError, match="not a shipped table"):
        dose.effective_dose(_exams(), table=str(tmp_path / "none.csv"))
    with pytest.raises(ValueError, match="unknown conversion-factor table 'nope'"):
        dose.effective_dose(_exams(), table="nope")


def test_user_table_by_age_sex_and_kv() -> None:
    # an age- and sex-specific table at two tube voltages (illustrative numbers)
    t = pl.DataFrame(
        {
            "region": ["chest"] * 8 + ["spine"],
            "sex": ["F", "F", "M", "M"] * 2 + [None],
            "age": [0.0, 18.0] * 4 + [None],
            "kv": [100.0] * 4 + [120.0] * 4 + [None],
            "k": [0.05, 0.02, 0.04, 0.015, 0.06, 0.03, 0.05, 0.025, 0.01],
        }
    )
    with pytest.raises(ValueError, match="several tube voltages"):
        dose.k_factors(["spine"], [40.0], table=t, sexes=["F"])
    got = dose.k_factors(
        ["chest", "chest", "chest", "spine"],
        [5.0, 40.0, 40.0, 3.0],
        table=t,
        sexes=["F", "F", "M", "M"],
        kv=120,
    )
    assert got.tolist() == [0.06, 0.03, 0.025, 0.01]
    with pytest.raises(ValueError, match="pass sexes="):
        dose.k_factors(["chest"], [5.0], table=t, kv=100)
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [100.0, 100.0],
            "body_region": ["chest", "chest"],
            "age_years": [40.0, 40.0],
            "sex": ["M", "U"],
        }
    )
    with pytest.raises(dose.DoseConversionError, match="row 1, column 'sex': sex not F or M"):
        dose.effective_dose(exams, table=t, kv=100)
    with pytest.warns(dose.DoseConversionWarning, match="1 dose"):
        out = dose.effective_dose(exams, table=t, kv=100, strict=False)
    assert out["effective_dose_msv"].to_list() == [pytest.approx(1.5), None]
    assert out["dose_method"][0] == "custom 100 kV/nearest-lower"


# --------------------------------------------------------------------------- age rules, boundaries
# "nearest": the closer tabulated age, ties to the younger column (Shrimpton: 0, 1, 5, 10, 18)
@pytest.mark.parametrize(
    ("age", "column"),
    [
        (0.0, 0),
        (0.5, 0),
        (0.51, 1),
        (2.99, 1),
        (3.0, 1),
        (3.01, 2),
        (7.5, 2),
        (7.51, 3),
        (14.0, 3),
        (14.01, 4),
        (18.0, 4),
        (90.0, 4),
    ],
)
def test_nearest_boundaries_shrimpton(age: float, column: int) -> None:
    got = dose.k_factors(["head"], [age], table="shrimpton_age", age_rule="nearest")
    assert got.tolist() == [SHRIMPTON["head"][column]]


@pytest.mark.parametrize(
    ("adult_from", "age", "column"),
    # NCI columns 0/1/5/10/15 y and the adult column, moved from 30 y to adult_from
    [
        (None, 17.99, 4),
        (None, 18.0, 4),
        (None, 29.99, 4),
        (None, 30.0, 5),
        (18, 17.99, 4),
        (18, 18.0, 5),
        (18, 29.99, 5),
        (16, 15.99, 4),
        (16, 16.0, 5),
    ],
)
def test_adult_from_boundary_nci(adult_from: float | None, age: float, column: int) -> None:
    got = dose.k_factors(["chest"], [age], table="nci_icrp103_120kv", adult_from=adult_from)
    assert got.tolist() == [NCI["chest"][column]]


def test_adult_from_interpolates_to_the_moved_column_and_is_recorded() -> None:
    got = dose.k_factors(
        ["chest"], [16.5], table="nci_icrp103_120kv", age_rule="interpolate", adult_from=18
    )
    w = (16.5 - 15.0) / (18.0 - 15.0)  # by hand, between the 15 y column and the adult column
    assert got[0] == pytest.approx(NCI["chest"][4] * (1 - w) + NCI["chest"][5] * w)
    with pytest.raises(ValueError, match="must start after"):
        dose.k_factors(["chest"], [16.0], table="nci_icrp103_120kv", adult_from=15)
    exams = pl.DataFrame({"dlp_mgycm": [100.0], "body_region": ["chest"], "age_years": [20.0]})
    out = dose.effective_dose(exams, table="nci_icrp103_120kv", adult_from=18)
    assert out["dose_method"][0] == "nci_icrp103_120kv (adult from 18 y)/nearest-lower"
    assert out["effective_dose_msv"][0] == pytest.approx(100 * NCI["chest"][5])


def test_aapm96_abdomen_pelvis_row() -> None:
    # PUBLISHED.md correction: AAPM 96 Table 4 "abdomen & pelvis" = 0.015 (Lee et al. 2012)
    assert dose.k_factors(["abdomen_pelvis"], table="aapm96").tolist() == [0.015]
    meta = dose.tables().filter(pl.col("name") == "aapm96").row(0, named=True)
    assert "Table XII" in meta["notes"] and meta["phantom"]


def test_every_table_states_phantom_kv_and_convention() -> None:
    t = dose.tables()
    assert t["phantom"].str.len_chars().min() > 0  # type: ignore[operator]
    assert set(t["convention"]) <= {"ICRP 60", "ICRP 103"}
    kv = dict(zip(t["name"], t["kv"]))
    assert kv["shrimpton_age"] == 120.0 and kv["nci_icrp103_120kv"] == 120.0
    assert kv["aapm96"] is None and kv["icrp103_adult"] is None


# --------------------------------------------------------------------------- finite doses
def test_bad_dlps_and_kept_doses_name_row_and_column() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": ["100", "inf", "abc", "-3", "200", "200", "200"],
            "body_region": ["head"] * 7,
            "effective_dose_msv": [None, None, None, None, "-1", "inf", "2.5"],
        }
    )
    with pytest.raises(dose.DoseConversionError) as err:
        dose.effective_dose(exams)
    msg = str(err.value)
    for line in (
        "row 1, column 'dlp_mgycm': non-finite DLP (value: 'inf')",
        "row 2, column 'dlp_mgycm': DLP not a number (value: 'abc')",
        "row 3, column 'dlp_mgycm': negative DLP (value: '-3')",
        "row 4, column 'effective_dose_msv': negative dose (value: '-1')",
        "row 5, column 'effective_dose_msv': non-finite dose (value: 'inf')",
    ):
        assert line in msg
    assert "row 0" not in msg and "row 6" not in msg
    with pytest.warns(dose.DoseConversionWarning, match=r"5 dose\(s\) null") as rec:
        out = dose.effective_dose(exams, strict=False)
    assert "1 non-finite DLP" in str(rec[0].message)
    assert out["effective_dose_msv"].to_list() == [
        pytest.approx(0.21),
        None,
        None,
        None,
        None,
        None,
        2.5,
    ]
    got = out["effective_dose_msv"].drop_nulls().to_numpy()
    assert np.isfinite(got).all() and (got >= 0).all()
    assert out["dose_method"].to_list()[-1] == dose.SUPPLIED_METHOD


def test_boolean_dose_and_float_inf_dlp() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [np.inf, 100.0],
            "body_region": ["head", "head"],
            "effective_dose_msv": [None, True],
        }
    )
    with pytest.raises(dose.DoseConversionError) as err:
        dose.effective_dose(exams)
    assert "row 0, column 'dlp_mgycm': non-finite DLP" in str(err.value)
    assert "row 1, column 'effective_dose_msv': dose not a number (value: 'true')" in str(err.value)


def test_supplied_doses_record_their_method() -> None:
    exams = pl.DataFrame(
        {
            "dlp_mgycm": [100.0, 100.0],
            "body_region": ["head", "head"],
            "effective_dose_msv": [3.0, None],
        }
    )
    out = dose.effective_dose(exams)
    assert out["dose_method"].to_list() == [dose.SUPPLIED_METHOD, "aapm96/nearest-lower"]
    assert out["effective_dose_msv"].to_list() == pytest.approx([3.0, 0.21])


# --------------------------------------------------------------------------- your own DRLs
# An illustrative national-style DRL table (made-up levels: not a published set).
def _my_drls() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "exam_type": ["head", "chest", "spine"],
            "body_region": ["head", "chest", "spine"],
            "ctdivol_mgy": [55.0, 10.0, None],
            "dlp_mgycm": [850.0, 350.0, 600.0],
        }
    )


@pytest.mark.parametrize("as_csv", [False, True])
def test_compare_to_drl_with_a_national_table(as_csv: bool, tmp_path: Path) -> None:
    spec: object = _my_drls()
    if as_csv:
        path = tmp_path / "national.csv"
        path.write_text("# citation: illustrative\n" + _my_drls().write_csv())
        spec = path
    rng = np.random.default_rng(3)
    dlp = rng.uniform(200, 1200, 40)
    region = np.array(["head", "chest", "spine", "neck"] * 10)
    exams = pl.DataFrame({"body_region": region, "dlp_mgycm": dlp})
    out = dose.compare_to_drl(exams, drl=spec, site=None)
    assert out["exam_type"].to_list() == ["chest", "head", "spine"]  # neck: no DRL
    for r in out.iter_rows(named=True):
        level = {"head": 850.0, "chest": 350.0, "spine": 600.0}[r["exam_type"]]
        mine = dlp[region == r["exam_type"]]
        assert r["median_dlp"] == pytest.approx(float(np.median(mine)))
        assert r["n_above_dlp"] == int((mine > level).sum())
        assert r["ratio_dlp"] == pytest.approx(float(np.median(mine)) / level)
    flags = dose.flag_above_drl(exams, drl=spec)
    assert flags["drl_dlp_mgycm"].to_list()[:4] == [850.0, 350.0, 600.0, None]


def test_drl_table_errors() -> None:
    with pytest.raises(ValueError) as err:
        dose.drl_table(pl.DataFrame({"exam_type": ["a", "a", None], "dlp_mgycm": [1.0, -2.0, 3.0]}))
    msg = str(err.value)
    assert "row 1, column 'exam_type': exam type already on row 0" in msg
    assert "row 1, column 'dlp_mgycm': negative" in msg
    assert "row 2, column 'exam_type': missing exam type" in msg
    with pytest.raises(ValueError, match="needs 'exam_type'"):
        dose.drl_table(pl.DataFrame({"exam_type": ["a"]}))
    with pytest.raises(ValueError, match="region already mapped"):
        dose.drl_table(
            pl.DataFrame(
                {"exam_type": ["a", "b"], "body_region": ["head", "head"], "dlp_mgycm": [1.0, 2.0]}
            )
        )


def test_adult_only_warning_follows_the_table_that_converted_the_row() -> None:
    kids = pl.DataFrame(
        {"dlp_mgycm": [100.0, 100.0], "body_region": ["spine", "chest"], "age_years": [5.0, 5.0]}
    )
    # the child's spine DLP goes through your (all-ages) table: no warning for it; the chest
    # goes through the shipped adult table: warned, one row
    with pytest.warns(dose.DoseConversionWarning, match=r"'aapm96' was applied to 1 row"):
        out = dose.effective_dose(kids, table=_user_table(), fallback_table="aapm96")
    assert out["effective_dose_msv"].to_list() == pytest.approx([2.0, 1.4])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dose.effective_dose(kids.head(1), table=_user_table())


def test_user_tables_from_european_csv(tmp_path: Path) -> None:
    k = tmp_path / "k.csv"
    k.write_text("\ufeffregion;k\nspine;0,02\nextremity;0,001\n", encoding="utf-8")
    assert dose.k_factors(["spine", "extremity"], table=k).tolist() == [0.02, 0.001]
    levels = tmp_path / "drl.csv"
    levels.write_text("exam_type;body_region;dlp_mgycm\nhead;head;850,5\n", encoding="utf-8")
    assert dose.drl_table(levels)["dlp_mgycm"].to_list() == [850.5]


def test_region_in_neither_table_names_both() -> None:
    """spine is in neither nci_icrp103_120kv nor aapm96 (their region lists): both are named."""
    for name in ("nci_icrp103_120kv", "aapm96"):
        assert "spine" not in set(dose.table(name)["region"].to_list())
    exams = pl.DataFrame({"dlp_mgycm": [100.0], "body_region": ["spine"], "age_years": [40.0]})
    with pytest.raises(dose.DoseConversionError, match="nor in the fallback table 'aapm96'"):
        dose.effective_dose(exams, table="nci_icrp103_120kv", fallback_table="aapm96")
    with pytest.raises(ValueError, match="not tabulated in 'nci_icrp103_120kv' nor in the fall"):
        dose.k_factors(["spine"], [40.0], table="nci_icrp103_120kv", fallback_table="aapm96")
    # without a fallback table the message offers one
    with pytest.raises(ValueError, match="fallback_table="):
        dose.k_factors(["spine"], [40.0], table="nci_icrp103_120kv")
