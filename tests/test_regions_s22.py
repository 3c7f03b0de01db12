"""The exam's body region, which picks the conversion factor (review s22).

* A whole-body scan ("other") was ignored beside any specific region, so a polytrauma
  spiral of 708 mGy·cm with bolus tracking at the head made a "head" exam, and the whole
  DLP got the head's factor, silently. A scan's "other" is now a region of its own.
* An event whose Acquisition Protocol and Target Region name regions that make no one region
  got "other"; neither is now used (the study's descriptions, else null) and a problem row
  names both.
* Words the rules read wrongly: femoral/humeral neck -> neck, a vessel named trunk -> the
  trunk, pilonidal sinus -> head; French "tête" was unmapped.
* normalise_region crashed on a pandas column holding a number, and lost a Series' name.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pydicom
import pytest

from recurct import dose
from recurct.dose._events import main_regions
from recurct.errors import DoseConversionError, UnmappedValuesWarning
from recurct.io import read_rdsr
from recurct.regions import normalise_region, region_of

FLASH = Path(__file__).parent / "data" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


def _items(ds: pydicom.Dataset, code: str) -> list[pydicom.Dataset]:
    """The content items of concept ``code``, in document order."""
    out: list[pydicom.Dataset] = []

    def walk(seq: pydicom.Sequence) -> None:
        for it in seq:
            names = it.get("ConceptNameCodeSequence")
            if names and names[0].CodeValue == code:
                out.append(it)
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(ds.ContentSequence)
    return out


def _target(item: pydicom.Dataset, code: str, meaning: str) -> None:
    item.ConceptCodeSequence[0].CodeValue = code
    item.ConceptCodeSequence[0].CodeMeaning = meaning


def _read(ds: pydicom.Dataset, path: Path) -> tuple[Any, list[warnings.WarningMessage]]:
    ds.save_as(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_rdsr(path)
    return result, caught


# ------------------------------------------------------------ 1. a whole-body scan counts


@pytest.mark.parametrize(
    ("regions", "dlps", "localizer", "expected"),
    [
        (["other", "head"], [708.2, 4.81], None, "other"),  # was "head"
        (["head", "other"], [4.81, 708.2], None, "other"),
        (["other", "head"], [5.0, 900.0], None, "head"),  # rule 5: the head scan is larger
        (["other", "chest", "abdomen", "pelvis"], [100.0, 50.0, 50.0, 50.0], None, "other"),
        (["other", "head"], [None, None], None, "other"),  # rule 5 without DLPs
        (["other"], [3.0], None, "other"),
        # a localizer's "other" (a topogram's "Entire body") does not name the exam
        (["other", "head"], [708.2, 4.81], [True, False], "head"),
        (["other", "head"], [708.2, 4.81], [True, True], "head"),
        (["other", "other"], [1.0, 1.0], [True, True], "other"),
        (["other", None], [1.0, 9.0], [True, False], None),
    ],
)
def test_a_whole_body_scan_is_a_region_of_its_own(regions, dlps, localizer, expected) -> None:
    assert dose.exam_region(regions, dlps, localizer) == expected
    events = pl.DataFrame(
        {
            "study_uid": ["s"] * len(regions),
            "region": pl.Series(regions, dtype=pl.Utf8),
            "dlp_mgycm": pl.Series(dlps, dtype=pl.Float64),
            "localizer": pl.Series(localizer or [False] * len(regions), dtype=pl.Boolean),
        }
    )
    assert main_regions(events, "region")["__main"].to_list() == [expected]


def test_rule_5_compares_regions_as_named() -> None:
    # a head_neck event's DLP is not shared out among head and neck
    assert dose.exam_region(["head", "head_neck", "chest"], [300.0, 200.0, 400.0]) == "chest"


def test_a_polytrauma_exam_is_not_given_the_head_factor(tmp_path: Path) -> None:
    """e07: the main scan's target "Entire body", bolus tracking at the head."""
    ds = pydicom.dcmread(FLASH)
    protocols, targets = _items(ds, "125203"), _items(ds, "123014")
    protocols[3].TextValue = "Polytrauma"
    _target(targets[3], "T-D0010", "Entire body")
    for i in (1, 2):
        _target(targets[i], "T-D1100", "Head")
    ds.StudyDescription = "Polytrauma"
    result, _ = _read(ds, tmp_path / "wholebody.dcm")
    assert result.events["body_region"].to_list() == ["other", "head", "head", "other"]
    assert result.exams["body_region"].to_list() == ["other"]  # was "head"
    with pytest.raises(DoseConversionError, match="'other'"):
        dose.effective_dose(result.exams)
    with pytest.raises(DoseConversionError, match="'other'"):
        dose.effective_dose(result.events, level="event")
    # the user says what a whole-body scan is: both levels then agree closely
    exam = dose.effective_dose(result.exams, fallback={"other": "chest_abdomen_pelvis"})
    assert exam["effective_dose_msv"].item() == pytest.approx(724.52 * 0.015)


# ------------------------------------------------- 2. protocol and target that conflict


def _cspine(ds: pydicom.Dataset) -> pydicom.Dataset:
    protocols = _items(ds, "125203")
    assert protocols[3].TextValue == "TAP"
    protocols[3].TextValue = "C-Spine"  # its Target Region: Abdomen
    return ds


def test_a_conflicting_protocol_and_target_give_no_region_of_their_own(tmp_path: Path) -> None:
    result, caught = _read(_cspine(pydicom.dcmread(FLASH)), tmp_path / "cspine.dcm")
    main = result.events.row(3, named=True)
    assert (main["protocol"], main["target_region"]) == ("C-Spine", "Abdomen")
    assert main["body_region"] != "other"  # was "other", then ignored by the exam's rule
    # the study's description ("Thorax^TAP (Adult)") gives it, and region_source says so
    assert main["body_region"] == "chest_abdomen_pelvis"
    assert main["region_source"] == "study_description"
    assert result.exams["body_region"].to_list() == ["chest_abdomen_pelvis"]
    rows = result.report.problems.filter(pl.col("field").str.contains("event 4"))
    assert rows["field"].to_list() == [
        "Acquisition Protocol (125203), Target Region (123014), event 4"
    ]
    reason = rows["reason"].item()
    assert "'C-Spine' (spine)" in reason and "'Abdomen' (abdomen)" in reason
    assert "the Study Description (chest_abdomen_pelvis" in reason
    assert rows["action"].to_list() == ["lenient"]
    assert UnmappedValuesWarning in [w.category for w in caught]


def test_a_conflict_without_a_study_description_is_null(tmp_path: Path) -> None:
    ds = _cspine(pydicom.dcmread(FLASH))
    ds.StudyDescription = "Trauma"
    for seq in ("RequestAttributesSequence", "RequestedProcedureDescription"):
        if seq in ds:
            del ds[seq]
    result, _ = _read(ds, tmp_path / "cspine_null.dcm")
    main = result.events.row(3, named=True)
    assert (main["body_region"], main["region_source"]) == (None, None)
    reason = result.report.problems.filter(pl.col("field").str.contains("event 4"))["reason"]
    assert "body_region is null" in reason.item()


def test_a_whole_body_target_beside_a_specific_protocol_is_a_conflict(tmp_path: Path) -> None:
    ds = pydicom.dcmread(FLASH)
    _target(_items(ds, "123014")[3], "T-D0010", "Entire body")  # protocol "TAP"
    result, _ = _read(ds, tmp_path / "tap_entire_body.dcm")
    main = result.events.row(3, named=True)
    assert main["region_source"] == "study_description"  # as region_of("TAP Entire body")
    assert region_of("TAP Entire body") is None
    assert result.report.problems.filter(pl.col("field").str.contains("event 4")).height == 1


def test_agreeing_protocol_and_target_stay_as_they_were() -> None:
    events = read_rdsr(FLASH).events
    assert events["region_source"].to_list() == ["event"] * 4
    # target Abdomen and protocol TAP make the trunk, as before
    assert events["body_region"].to_list()[3] == "chest_abdomen_pelvis"


# ------------------------------------------------------------------- 3 and 6. the words


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # a bone's neck is no neck (as a bone's head is no head)
        ("CT femoral neck fracture", None),
        ("Femoral neck", None),
        ("Neck of femur", None),
        ("Humeral neck", None),
        ("Surgical neck of the humerus", None),
        ("Collo del femore", None),
        ("Cuello femoral", None),
        ("Cabeza femoral", None),
        ("Tête fémorale", None),
        ("Tête humérale", None),
        ("CT neck", "neck"),  # unchanged
        ("CT head and neck", "head_neck"),
        # a vessel named trunk is no trunk
        ("CTA pulmonary trunk", "chest"),
        ("Pulmonary artery trunk", "chest"),
        ("CTA celiac trunk", "abdomen"),
        ("Coeliac trunk", "abdomen"),
        ("Brachiocephalic trunk", None),
        ("Trunk", "chest_abdomen_pelvis"),  # unchanged
        ("CT trunk with contrast", "chest_abdomen_pelvis"),
        # a sinus that is no paranasal or cranial one
        ("Pilonidal sinus", None),
        ("Sinus tract", None),
        ("Sinus tarsi", "extremity"),
        ("Coronary sinus", "chest"),
        ("Sinus of Valsalva", "chest"),
        ("Carotid sinus", "neck"),
        ("CT sinus", "head"),  # unchanged
        ("Paranasal sinuses", "head"),
        ("Cavernous sinus", "head"),
        # French "tête"
        ("Tête", "head"),
        ("TDM Tête", "head"),
        ("Scanner de la tête", "head"),
        ("TETE", "head"),
        ("Tête et cou", "head_neck"),  # unchanged
        ("Tête du pancréas", "abdomen"),
        ("Tête radiale", "extremity"),
        ("Cabeza del páncreas", "abdomen"),
        ("Cabeza radial", "extremity"),
        # unambiguous terms
        ("H&N", "head_neck"),
        ("CTA Circle of Willis", "head"),
        ("Mediastinum", "chest"),
        ("CT mediastinal mass", "chest"),
    ],
)
def test_region_of_texts(text: str, region: str | None) -> None:
    assert region_of(text) == region


# ------------------------------------------------------------------- 5. pandas columns


def test_a_pandas_column_with_a_number_is_read_as_text() -> None:
    s = pd.Series(["Kopf", 3, np.nan, None, 2.5, "Thorax"], dtype=object, name="protocol")
    out = normalise_region(s)
    assert isinstance(out, pd.Series) and out.name == "protocol"
    assert out.tolist() == ["head", None, None, None, None, "chest"]
    assert out.index.equals(s.index)
    # a rule may name a number read as text
    assert normalise_region(s, region_rules=[(r" 3 ", "pelvis")]).tolist()[1] == "pelvis"


def test_missing_values_of_a_list_or_a_pandas_column_are_none() -> None:
    assert normalise_region(["Kopf", pd.NA, math.nan, None, 3]).to_list() == [
        "head",
        None,
        None,
        None,
        None,
    ]
    s = pd.Series(["Kopf", pd.NA], dtype=object)
    assert normalise_region(s).tolist() == ["head", None]


def test_an_unnamed_pandas_series_stays_unnamed() -> None:
    assert normalise_region(pd.Series(["Kopf"])).name is None
    assert normalise_region(pd.Series(["Kopf"], name="p")).name == "p"
    assert normalise_region(pd.Series(["Kopf", None], dtype="string")).tolist() == ["head", None]
    assert normalise_region(pd.Series(["Kopf"], dtype="category")).tolist() == ["head"]
