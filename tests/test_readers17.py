"""Readers neither convert, refuse nor pass silently what they cannot read (audit 17).

1. A folder of Parquet files whose dtypes of a column differ is not concatenated by polars'
   supertype where that converts values (a Boolean dose to 1.0, a Date age to days since
   1970): the column is read as text in every file and validation judges each value as the
   file read alone does. Int and float mixes read exactly as before.
2. Enum columns whose categories differ between files (same levels, another order) are read
   as text, not refused with a polars plan.
3. ``read_openrem_ct`` maps sex through ``recurct.schema.SEX_TABLE`` (as ``read_exams``), not
   by its first letter; an unmapped value is null with a lenient problem row.
4. Ages outside 0-130 (``read_openrem_ct``: 150, -5, '250Y'; ``read_rdsr``: '999Y') are left
   null with a problem row naming the file, the row or report, and the column.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import recurct
from recurct.errors import DataError, ExamValidationError, UnmappedValuesWarning
from recurct.io.openrem import read_openrem_ct

TODAY = "2024-01-01"


def _base(i: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [f"a{i}", f"b{i}"],
            "exam_date": ["2020-01-01", "2020-02-01"],
            "effective_dose_msv": [1.0, 2.0],
        }
    )


def _folder(root: Path, frames: list[pl.DataFrame]) -> Path:
    root.mkdir()
    for k, frame in enumerate(frames):
        frame.write_parquet(root / f"{k + 1}.parquet")
    return root


def _read(source: object, strict: bool = False) -> recurct.io.ReadResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return recurct.read_exams(source, today=TODAY, strict=strict)


# --------------------------------------------------------------------------- 1. folders
def test_a_boolean_dose_in_one_file_is_reported_not_converted(tmp_path: Path) -> None:
    bools = _base(1).with_columns(effective_dose_msv=pl.Series([True, True]))
    folder = _folder(tmp_path / "f", [bools, _base(2)])
    with pytest.raises(ExamValidationError) as info:
        _read(folder, strict=True)
    got = info.value.problems.select("row", "column", "value", "reason").rows()
    assert got == [
        (0, "effective_dose_msv", "true", "not a number"),
        (1, "effective_dose_msv", "true", "not a number"),
    ]
    lenient = _read(folder)
    assert lenient.exams["effective_dose_msv"].to_list() == [1.0, 2.0]
    assert lenient.exams["patient_id"].to_list() == ["a2", "b2"]
    assert not lenient.report.is_clean
    # as the file read alone
    alone = _read(folder / "1.parquet").report.problems.select("row", "column", "value")
    assert_frame_equal(lenient.report.problems.select("row", "column", "value"), alone)


@pytest.mark.parametrize(
    ("ages", "shown"),
    [
        ([dt.date(1970, 2, 10), dt.date(1970, 3, 1)], ["1970-02-10", "1970-03-01"]),
        ([True, False], ["true", "false"]),
    ],
)
def test_a_date_or_boolean_age_in_one_file_is_reported(
    tmp_path: Path, ages: list[object], shown: list[str]
) -> None:
    odd = _base(1).with_columns(age_years=pl.Series(ages))
    ok = _base(2).with_columns(age_years=pl.Series([50.0, 60.0]))
    result = _read(_folder(tmp_path / "f", [odd, ok]))
    assert result.exams["age_years"].to_list() == [None, None, 50.0, 60.0]
    assert result.exams["effective_dose_msv"].to_list() == [1.0, 2.0, 1.0, 2.0]
    problems = result.report.problems
    assert problems.select("row", "column", "value").rows() == [
        (0, "age_years", shown[0]),
        (1, "age_years", shown[1]),
    ]
    assert problems["reason"].str.starts_with("not a number").all()


def test_a_column_that_cannot_be_text_among_others_names_the_column_and_files(
    tmp_path: Path,
) -> None:
    listed = _base(1).with_columns(indication=pl.Series([["x"], ["y"]]))
    text = _base(2).with_columns(indication=pl.Series(["x", "y"]))
    folder = _folder(tmp_path / "f", [listed, text])
    with pytest.raises(DataError) as info:
        _read(folder)
    message = str(info.value)
    assert "column 'indication' is List(String) in" in message
    assert "1.parquet" in message and "2.parquet" in message
    assert "Resolved plan" not in message


_DOSES = st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=4)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ints=st.lists(st.integers(0, 500), min_size=1, max_size=4),
    floats=_DOSES,
    int_type=st.sampled_from([pl.Int32, pl.Int64, pl.UInt16]),
)
def test_int_and_float_doses_read_as_their_concatenation(
    tmp_path: Path, ints: list[int], floats: list[float], int_type: pl.DataType
) -> None:
    def frame(doses: list, dtype: pl.DataType, tag: str) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "patient_id": [f"{tag}{k}" for k in range(len(doses))],
                "exam_date": [dt.date(2020, 1, 1)] * len(doses),
                "effective_dose_msv": pl.Series(doses, dtype=dtype),
            }
        )

    frames = [frame(ints, int_type, "i"), frame(floats, pl.Float64, "f")]
    root = tmp_path / "f"
    shutil.rmtree(root, ignore_errors=True)
    got = _read(_folder(root, frames), strict=True)
    want = _read(pl.concat(frames, how="diagonal_relaxed"), strict=True)
    assert_frame_equal(got.exams, want.exams)
    assert got.exams["effective_dose_msv"].to_list() == [float(x) for x in ints + floats]


# --------------------------------------------------------------------------- 2. Enum columns
@pytest.mark.parametrize("column", ["sex", "other"])
def test_enum_columns_of_other_category_order_are_read(tmp_path: Path, column: str) -> None:
    one = _base(1).with_columns(pl.Series(column, ["F", "M"], dtype=pl.Enum(["F", "M"])))
    two = _base(2).with_columns(pl.Series(column, ["F", "M"], dtype=pl.Enum(["M", "F"])))
    folder = _folder(tmp_path / "f", [one, two])
    result = _read(folder, strict=True)
    assert result.exams.height == 4
    assert result.exams[column].cast(pl.Utf8).to_list() == ["F", "M", "F", "M"]
    assert result.report.is_clean


# --------------------------------------------------------------------------- 3, 4. OpenREM
_HEADER = (
    "Patient ID,Study date,Patient age,Patient sex,Test patient?,Institution name,"
    "Number of events,DLP total (mGy.cm),E1 Protocol,E1 CTDIvol,E1 DLP\n"
)


def _openrem(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    """An export of one study per (age, sex), each with a DLP of 100."""
    path = tmp_path / "export.csv"
    rows = [
        f"P{k},2020-01-{k + 1:02d},{age},{sex},,H1,1,100,Chest,5,100\n"
        for k, (age, sex) in enumerate(cells)
    ]
    path.write_text(_HEADER + "".join(rows), encoding="utf-8")
    return path


def test_openrem_sex_is_mapped_as_read_exams_maps_it(tmp_path: Path) -> None:
    sexes = ["Mujer", "W", "Unknown", "Divers", "Homme", "f", "Male", "Q"]
    result = read_openrem_ct(_openrem(tmp_path, [("67", s) for s in sexes]))
    assert result.exams["sex"].to_list() == ["F", "F", "U", "O", "M", "F", "M", None]
    assert result.exams["dlp_mgycm"].to_list() == [100.0] * len(sexes)  # all kept
    ids = [f"x{k}" for k in range(len(sexes))]
    mapped = _read(pl.DataFrame({"patient_id": ids, "exam_date": ["2020-01-01"] * 8, "sex": sexes}))
    assert mapped.exams["sex"].to_list() == result.exams["sex"].to_list()
    problems = result.report.problems
    assert problems.select("file", "field", "action").rows() == [
        ("export.csv", "Patient sex", "lenient")
    ]
    assert problems["reason"][0].startswith(
        "row 7 (line 9 of the file): column 'Patient sex' holds 'Q', not a sex code"
    )


@pytest.mark.parametrize("age", ["150", "-5", "250Y", "131", "inf"])
def test_an_openrem_age_out_of_range_is_null_with_a_problem_row(tmp_path: Path, age: str) -> None:
    result = read_openrem_ct(_openrem(tmp_path, [("67", "F"), (age, "M"), ("130", "F")]))
    assert result.exams["age_years"].to_list() == [67.0, None, 130.0]
    assert result.exams["dlp_mgycm"].to_list() == [100.0, 100.0, 100.0]
    problems = result.report.problems
    assert problems.select("file", "field", "action").rows() == [
        ("export.csv", "Patient age", "lenient")
    ]
    assert problems["reason"][0] == (
        f"row 1 (line 3 of the file): column 'Patient age' holds {age!r}, age outside 0-130 "
        "years; the age is left null"
    )
    doses = result.exams.with_columns(effective_dose_msv=pl.col("dlp_mgycm") * 0.014)
    assert recurct.cumulative_dose(doses)["age_first_exam"].to_list() == [67.0, None, 130.0]


# --------------------------------------------------------------------------- 4. RDSR
def test_an_rdsr_age_out_of_range_is_null_with_a_problem_row(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from recurct.io.rdsr import RdsrReadError, read_rdsr

    flash = Path(__file__).parent / "data" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
    ds = pydicom.dcmread(flash)
    ds.PatientAge = "999Y"
    if "PatientBirthDate" in ds:
        del ds.PatientBirthDate
    path = tmp_path / "age999.dcm"
    ds.save_as(path)
    with pytest.warns(UnmappedValuesWarning, match=r"read_rdsr: 1 value\(s\) read leniently"):
        result = read_rdsr(path, strict=False, workers=1)
    assert result.exams["age_years"].to_list() == [None]
    assert result.exams["dlp_mgycm"][0] == pytest.approx(724.52)
    problems = result.report.problems
    assert problems.select("file", "field", "action").rows() == [
        (str(path), "PatientAge", "lenient")
    ]
    assert "'999Y' out of range" in problems["reason"][0]
    with pytest.raises(RdsrReadError, match=r"age999\.dcm: Patient's Age '999Y' out of range"):
        read_rdsr(path, strict=True, workers=1)
    # a valid birth date still gives the age, whatever Patient's Age says
    ds.PatientBirthDate = "19500101"
    ds.save_as(path)
    read = read_rdsr(path, strict=False, workers=1)
    assert read.exams["age_years"][0] == pytest.approx(47.0, abs=0.1)
    assert read.report.problems.height == 0
