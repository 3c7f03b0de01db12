"""Effective dose and exam regions: the problems of audit 17 (null event and study uids,
localizers without a DLP, region columns without strings, the DLP as given, exam_region's
composite rules and its input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from recurct import regions
from recurct.dose import LOCALIZER_METHOD, effective_dose, exam_region
from recurct.errors import DoseConversionError, DoseConversionWarning, ParameterError

DATA = Path(__file__).parent / "data"


# 1. a null event_uid is never a repeat -------------------------------------------------------
def test_null_event_uids_are_all_summed() -> None:
    ev = pl.DataFrame(
        {
            "study_uid": ["s1"] * 3,
            "event_uid": [None, None, None],
            "body_region": ["chest", "abdomen", "pelvis"],
            "dlp_mgycm": [100.0, 200.0, 300.0],
        },
        schema_overrides={"event_uid": pl.Utf8},
    )
    for strict in (True, False):
        out = effective_dose(ev, strict=strict)  # no warning: nothing is wrong
        row = out.row(0, named=True)
        assert out.height == 1
        assert row["body_region"] == "chest_abdomen_pelvis"
        assert row["dlp_mgycm"] == 600.0
        assert row["n_events"] == 3
        assert row["effective_dose_msv"] == pytest.approx(100 * 0.014 + 200 * 0.015 + 300 * 0.015)


def test_non_null_repeats_still_count_once() -> None:
    ev = pl.DataFrame(
        {
            "study_uid": ["s1"] * 4,
            "event_uid": ["a", None, "a", None],
            "body_region": ["chest"] * 4,
            "dlp_mgycm": [100.0, 50.0, 100.0, 25.0],
        }
    )
    with pytest.raises(DoseConversionError, match="row 2, column 'event_uid'") as err:
        effective_dose(ev)
    assert err.value.problems["row"].to_list() == [2]
    with pytest.warns(DoseConversionWarning, match="1 irradiation event repeated"):
        out = effective_dose(ev, strict=False)
    assert out["dlp_mgycm"].to_list() == [175.0]
    assert out["n_events"].to_list() == [3]


# 2. a missing study_uid is a problem of its row ----------------------------------------------
def test_missing_study_uid_is_named_or_dropped() -> None:
    ev = pl.DataFrame(
        {
            "study_uid": [None, None, "s2"],
            "event_uid": ["y", "z", "w"],
            "body_region": ["head", "chest", "chest"],
            "dlp_mgycm": [50.0, 60.0, 70.0],
        },
        schema_overrides={"study_uid": pl.Utf8},
    )
    with pytest.raises(DoseConversionError, match="row 0, column 'study_uid': missing") as err:
        effective_dose(ev)
    assert err.value.problems["row"].to_list() == [0, 1]
    assert set(err.value.problems["column"]) == {"study_uid"}
    assert "dropped" not in str(err.value)  # it raised: nothing was dropped
    with pytest.warns(DoseConversionWarning, match="dropped 2 event.*2 missing study_uid"):
        out = effective_dose(ev, strict=False)
    assert out["study_uid"].to_list() == ["s2"]
    assert out["dlp_mgycm"].to_list() == [70.0]
    # pandas: a NaN study uid is missing too
    with pytest.warns(DoseConversionWarning, match="dropped 2 event"):
        out = effective_dose(ev.to_pandas().fillna({"study_uid": np.nan}), strict=False)
    assert out["study_uid"].tolist() == ["s2"]


# 4. a localizer without a DLP is exempt whatever its age ------------------------------------
def test_localizer_without_dlp_needs_no_age() -> None:
    ev = pl.DataFrame(
        {
            "study_uid": ["s1"] * 3,
            "event_uid": ["a", "b", "c"],
            "localizer": [True, False, False],
            "body_region": ["chest_abdomen_pelvis"] * 3,
            "dlp_mgycm": [None, 208.5, 141.2],
            "age_years": [None, None, None],
        },
        schema_overrides={"age_years": pl.Float64},
    )
    with pytest.warns(DoseConversionWarning) as seen:
        out = effective_dose(ev, table="shrimpton_age", strict=False)
    message = str(seen[0].message)
    assert "missing DLP" not in message and "2 missing age" in message
    assert out["dlp_mgycm"].to_list() == [pytest.approx(349.7)]
    with pytest.raises(DoseConversionError) as err:
        effective_dose(ev, table="shrimpton_age")
    assert err.value.problems["row"].to_list() == [1, 2]  # not the localizer
    # with ages, the localizer contributes 0 by definition
    out = effective_dose(ev.with_columns(age_years=pl.lit(40.0)), table="shrimpton_age")
    assert LOCALIZER_METHOD in out["dose_method"][0]
    # and without an age column at all, strict: only the rows that need it are named
    with pytest.raises(Exception, match="2 row"):
        effective_dose(ev.drop("age_years"), table="shrimpton_age")


def test_localizer_without_dlp_from_a_toshiba_report() -> None:
    from recurct.io import read_rdsr

    files = sorted(DATA.rglob("*ToshibaPixelMed*.dcm"))
    if not files:
        pytest.skip("no Toshiba PixelMed report in tests/data")
    events = read_rdsr(files[0]).events
    assert events["localizer"].to_list()[0] and events["dlp_mgycm"][0] is None
    with pytest.warns(DoseConversionWarning, match="missing age") as seen:
        out = effective_dose(events, table="shrimpton_age", strict=False)
    assert "missing DLP" not in str(seen[0].message)
    assert out["dlp_mgycm"].to_list() == [pytest.approx(349.7)]


# 5. a region column with no strings is a column of null regions -----------------------------
@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"dlp_mgycm": [100.0, 200.0], "body_region": [np.nan, np.nan]}),
        pl.DataFrame({"dlp_mgycm": [100.0, 200.0], "body_region": [None, None]}),
        pl.DataFrame({"dlp_mgycm": [100.0, 200.0], "body_region": [float("nan")] * 2}),
    ],
    ids=["pandas-nan", "polars-null", "polars-nan"],
)
def test_region_column_without_strings(frame) -> None:
    with pytest.warns(DoseConversionWarning, match="2 missing body region"):
        out = effective_dose(frame, strict=False)
    assert list(
        out["effective_dose_msv"].isna()
        if isinstance(out, pd.DataFrame)
        else out["effective_dose_msv"].is_null()
    ) == [True, True]
    with pytest.raises(DoseConversionError, match="column 'body_region': missing body region"):
        effective_dose(frame)


def test_empty_frame_and_events_without_regions() -> None:
    out = effective_dose(pl.DataFrame({"dlp_mgycm": [], "body_region": []}))
    assert out.height == 0
    ev = pd.DataFrame(
        {
            "study_uid": ["s1", "s1"],
            "event_uid": ["a", "b"],
            "dlp_mgycm": [1.0, 2.0],
            "body_region": [np.nan, np.nan],
        }
    )
    with pytest.warns(DoseConversionWarning, match="2 missing body region"):
        out = effective_dose(ev, strict=False)
    assert out["dlp_mgycm"].tolist() == [3.0] and out["effective_dose_msv"].isna().all()
    # a region column of numbers is still refused
    with pytest.raises(ParameterError, match="must hold strings"):
        effective_dose(pl.DataFrame({"dlp_mgycm": [1.0], "body_region": [1.0]}))


# 6. the DLP comes back as given ------------------------------------------------------------
def test_exam_dlp_is_returned_as_given() -> None:
    given = pl.DataFrame(
        {"dlp_mgycm": [100.0, -1.0, float("inf"), None], "body_region": ["chest"] * 4}
    )
    with pytest.warns(DoseConversionWarning):
        out = effective_dose(given, strict=False)
    assert out["dlp_mgycm"].to_list() == given["dlp_mgycm"].to_list()
    assert out["effective_dose_msv"].to_list() == [pytest.approx(1.4), None, None, None]
    text = pd.DataFrame({"dlp_mgycm": ["100", "2,5", "abc", None], "body_region": ["chest"] * 4})
    with pytest.warns(DoseConversionWarning):
        out = effective_dose(text, strict=False)
    assert out["dlp_mgycm"].tolist() == ["100", "2,5", "abc", None]
    assert out["effective_dose_msv"].tolist()[0] == pytest.approx(1.4)
    ints = pd.DataFrame(
        {"dlp_mgycm": pd.array([100, None], dtype="Int64"), "body_region": ["chest", "chest"]}
    )
    with pytest.warns(DoseConversionWarning):
        out = effective_dose(ints, strict=False)
    assert str(out["dlp_mgycm"].dtype) == "Int64"


# 7. exam_region: the composite rules of region_of, NaN as null, canonical input -------------
def test_exam_region_matches_region_of() -> None:
    parts = ["neck", "chest", "abdomen", "pelvis"]
    assert exam_region(parts, [100.0, 200.0, 300.0, 200.0]) == "chest_abdomen_pelvis"
    assert regions.region_of("Neck Chest Abdomen Pelvis") == "chest_abdomen_pelvis"
    assert regions.combine_regions(parts) == "chest_abdomen_pelvis"


def test_exam_region_nan_is_null_and_free_text_is_refused() -> None:
    assert exam_region([np.nan, "chest"], [100.0, 50.0]) == "chest"
    assert exam_region([float("nan"), pd.NA, None]) is None
    with pytest.raises(ParameterError, match="'Brain' is not a canonical body region"):
        exam_region(["Brain"])
    with pytest.raises(ParameterError, match="not a canonical"):
        exam_region(["chest", 3])


def test_event_level_region_ignores_free_text() -> None:
    # a non-canonical event region is a problem of its row, not the exam's region
    ev = pl.DataFrame(
        {
            "study_uid": ["s1", "s1"],
            "event_uid": ["a", "b"],
            "body_region": ["Brain", "chest"],
            "dlp_mgycm": [500.0, 100.0],
        }
    )
    with pytest.warns(DoseConversionWarning, match="not a canonical body region"):
        out = effective_dose(ev, strict=False)
    assert out["body_region"].to_list() == ["chest"]
    assert out["effective_dose_msv"].to_list() == [None]
