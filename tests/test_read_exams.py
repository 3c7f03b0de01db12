"""recurct.io.exams.read_exams: files, dialects, vendor names, dates, ages, frames."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recurct.io.exams import VENDOR_COLUMNS, read_exams
from recurct.schema import DroppedRowsWarning, ExamValidationError

TODAY = date(2024, 6, 30)


@pytest.fixture
def exams_dir(data_dir: Path) -> Path:
    return data_dir / "exams"


def test_european_vendor_csv(exams_dir: Path) -> None:
    # ';' separator, decimal comma, UTF-8 BOM, CRLF, vendor names, N/A / NA / - / empty cells,
    # DICOM dates with a separate Study Time, DICOM ages, non-ASCII facility names
    df = read_exams(exams_dir / "vendor_eu.csv", today=TODAY).exams
    assert df.columns == [
        "patient_id",
        "exam_date",
        "dlp_mgycm",
        "effective_dose_msv",
        "ctdivol_mgy",
        "age_years",
        "sex",
        "facility",
        "study_uid",
        "body_region",
        "body_region_raw",
        "Comment",
    ]
    # leading zeros keep the ids as text
    assert df.get_column("patient_id").to_list() == ["000123", "000123", "000124", "000125"]
    assert df.get_column("exam_date").to_list() == [
        datetime(2019, 1, 5, 10, 15, 30, 500000),
        datetime(2019, 2, 12, 9, 15),
        datetime(2020, 3, 1),
        datetime(2020, 12, 31, 23, 59, 59),
    ]
    assert df.get_column("dlp_mgycm").to_list() == [450.5, None, 300.0, 1200.75]
    assert df.get_column("effective_dose_msv").to_list() == [6.3, None, 4.1, None]
    assert df.get_column("ctdivol_mgy").to_list() == [12.25, None, 8.0, None]
    assert df.get_column("age_years").to_list() == pytest.approx(
        [67.0, 67.0, 18 / 12, 6 * 7 / 365.25], nan_ok=False
    )
    assert df.get_column("sex").to_list() == ["F", "F", "M", None]
    assert df.get_column("facility").to_list() == [
        "Hôpital Nord",
        "Hôpital Nord",
        "Klinik Süd",
        "Klinik Süd",
    ]
    assert df.get_column("body_region").to_list() == ["chest", "abdomen_pelvis", "head", None]
    # not canonical: kept as written ("-" and "NA" are only missing in canonical columns)
    assert df.get_column("Comment").to_list() == ["first", None, "-", "NA"]


def test_pipe_separator_dicom_dates_and_ages(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "us_numbers.csv", today=TODAY).exams
    assert df.get_column("patient_id").to_list() == [7, 8]
    assert df.schema["patient_id"] == pl.Int64
    assert df.get_column("exam_date").dtype == pl.Date
    assert df.get_column("exam_date").to_list() == [date(2021, 1, 5), date(2021, 1, 6)]
    assert df.get_column("dlp_mgycm").to_list() == [1234.5, 987.0]
    assert df.get_column("age_years").to_list() == pytest.approx([45.0, 10 / 365.25])
    assert df.get_column("sex").to_list() == ["O", "U"]
    assert "effective_dose_msv" not in df.columns  # not required when reading


def test_decimal_comma_with_comma_separator_needs_quotes_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('patient_id,exam_date,effective_dose_msv\n1,2020-01-01,"1,5"\n')
    df = read_exams(path, decimal=",", today=TODAY).exams
    assert df.get_column("effective_dose_msv")[0] == 1.5
    want = r"row 0 \(line 2 of the file\), column 'effective_dose_msv': not a"
    with pytest.raises(ExamValidationError, match=want):
        read_exams(path, today=TODAY)


def test_explicit_separator(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("patient_id\texam_date\tcomment\n1\t2020-01-01\ta;b,c\n")
    df = read_exams(path, sep="\t", today=TODAY).exams
    assert df.get_column("comment").to_list() == ["a;b,c"]


def test_clean_csv_types(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "clean.csv", today=TODAY).exams
    assert df.schema["exam_date"] == pl.Datetime("us")
    assert df.schema["study_uid"] == pl.Utf8  # canonical text even when it looks numeric
    assert df.get_column("effective_dose_msv").to_list() == [6.3, 12.0, 2.0]
    assert df.get_column("age_years").to_list() == [67.0, 67.1, 1.5]


def test_dayfirst(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "dayfirst.csv", dayfirst=True, today=TODAY).exams
    assert df.get_column("exam_date").to_list() == [
        datetime(2020, 4, 3),
        datetime(2019, 12, 31, 14, 30),
        datetime(2021, 2, 1),
    ]


def test_slashed_dates_without_dayfirst_say_so(exams_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"dayfirst\.csv.*'03/04/2020'.*dayfirst=True"):
        read_exams(exams_dir / "dayfirst.csv", today=TODAY)


def test_unparseable_date_reported_with_file_row_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("patient_id,exam_date\na,2020-01-01\nb,31 Feb 2020\n")
    with pytest.raises(ExamValidationError) as info:
        read_exams(path, today=TODAY)
    msg = str(info.value)
    assert str(path) in msg
    want = "row 1 (line 3 of the file), column 'exam_date': unparseable date (value: '31 Feb 2020')"
    assert want in msg


def test_dirty_file_strict_and_not(exams_dir: Path) -> None:
    path = exams_dir / "dirty.csv"
    with pytest.raises(ExamValidationError) as info:
        read_exams(path, today=TODAY)
    rows = info.value.problems.select("row", "column", "reason").rows()
    assert rows == [
        (1, "patient_id", "missing patient id"),
        (2, "exam_date", "unparseable date"),
        (3, "effective_dose_msv", "negative dose"),
        (4, "exam_date", "duplicate exam"),
    ]
    with pytest.warns(DroppedRowsWarning, match="dropped 4 of 5 rows"):
        df = read_exams(path, strict=False, today=TODAY).exams
    assert df.get_column("patient_id").to_list() == ["P001"]


def test_validate_false_only_casts(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "dirty.csv", validate=False).exams
    assert df.height == 5
    assert df.schema["effective_dose_msv"] == pl.Float64
    assert df.get_column("exam_date").to_list()[2] is None  # 30 February


def test_parquet_file(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "exams.parquet", today=TODAY).exams
    assert df.columns == ["patient_id", "exam_date", "effective_dose_msv", "Site"]
    assert df.get_column("patient_id").to_list() == ["p1", "p2"]
    assert df.schema["exam_date"] == pl.Datetime("us")


def test_parquet_folder(exams_dir: Path, tmp_path: Path) -> None:
    df = read_exams(exams_dir / "parquet", today=TODAY).exams
    assert sorted(df.get_column("patient_id").to_list()) == ["p1", "p2", "p3", "p4"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty.*no Parquet files"):
        read_exams(empty)


def test_parquet_without_suffix_is_recognised(exams_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    shutil.copy(exams_dir / "exams.parquet", path)
    assert read_exams(path, today=TODAY).exams.height == 2


def test_parquet_folder_canonical_dtypes(exams_dir: Path) -> None:
    df = read_exams(exams_dir / "parquet", today=TODAY).exams
    assert df.schema["patient_id"] == pl.Utf8
    assert df.schema["exam_date"] == pl.Datetime("us")
    assert df.schema["effective_dose_msv"] == pl.Float64
    assert df.get_column("effective_dose_msv").sum() == pytest.approx(2 * (1.5 + 2.5))


def test_parquet_with_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame(
        {"Patient ID": ["a"], "Study Date": ["20200102"], "Patient Age": ["030Y"], "DLP": ["1,5"]}
    ).write_parquet(path)
    out = read_exams(path, decimal=",", today=TODAY).exams
    assert out.row(0) == ("a", date(2020, 1, 2), 30.0, 1.5)


def test_pandas_in_pandas_out() -> None:
    pdf = pd.DataFrame(
        {
            "Patient ID": ["a", "b"],
            "Study Date": ["2020-01-01", "2020-01-02"],
            "Effective Dose (mSv)": ["1,5", "2"],
            "Patient Age": ["040Y", "N/A"],
        }
    )
    out = read_exams(pdf, today=TODAY).exams
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["patient_id", "exam_date", "effective_dose_msv", "age_years"]
    assert out["effective_dose_msv"].tolist() == [1.5, 2.0]
    assert out["age_years"].iloc[0] == 40.0 and pd.isna(out["age_years"].iloc[1])


def test_polars_and_arrow_frames() -> None:
    df = pl.DataFrame({"PatientID": [1, 2], "StudyDate": [date(2020, 1, 1), date(2020, 1, 2)]})
    expected = pl.DataFrame(
        {"patient_id": [1, 2], "exam_date": [date(2020, 1, 1), date(2020, 1, 2)]}
    )
    assert_frame_equal(read_exams(df, today=TODAY).exams, expected)
    assert_frame_equal(read_exams(df.to_arrow(), today=TODAY).exams, expected)
    assert_frame_equal(read_exams(df.lazy(), today=TODAY).exams, expected)


def test_column_mapping_wins_over_vendor_names(exams_dir: Path) -> None:
    # the file has both "Total DLP (mGy.cm)" (vendor name) and "CTDIvol (mGy)"; mapped away,
    # the DLPs leave rows 1 and 3 (effective dose N/A, NA) without any dose: dropped, counted
    with pytest.warns(DroppedRowsWarning, match="2 no dose"):
        df = read_exams(
            exams_dir / "vendor_eu.csv",
            columns={"Comment": "indication", "Total DLP (mGy.cm)": "dlp_total"},
            today=TODAY,
            strict=False,
        ).exams
    assert "dlp_mgycm" not in df.columns
    # not a canonical column: carried through exactly as written
    assert df.get_column("dlp_total").to_list() == ["450,5", "300"]
    assert df.get_column("indication").to_list() == ["first", None]


def test_column_mapping_is_case_and_space_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("ID Nr,Datum,Dosis\nx,2020-01-01,1.0\n")
    df = read_exams(
        path,
        columns={"id nr": "patient_id", "Datum": "exam_date", "Dosis": "effective_dose_msv"},
        today=TODAY,
    ).exams
    assert df.columns == ["patient_id", "exam_date", "effective_dose_msv"]


def test_mapping_of_missing_column_names_it(exams_dir: Path) -> None:
    with pytest.raises(ValueError, match="'Nope' but there is no such column"):
        read_exams(exams_dir / "clean.csv", columns={"Nope": "patient_id"})


def test_two_candidates_for_one_column(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("Patient ID,MRN,Study Date\n1,2,2020-01-01\n")
    with pytest.raises(ValueError, match=r"could all be 'patient_id'.*columns="):
        read_exams(path)
    assert read_exams(path, columns={"MRN": "patient_id"}, today=TODAY).exams.columns == [
        "Patient ID",
        "patient_id",
        "exam_date",
    ]


def test_vendor_map_lists_the_documented_names() -> None:
    names = {
        "Patient ID": "patient_id",
        "PatientID": "patient_id",
        "Study Date": "exam_date",
        "StudyDate": "exam_date",
        "Total DLP (mGy.cm)": "dlp_mgycm",
        "DLP (mGy*cm)": "dlp_mgycm",
        "Effective Dose (mSv)": "effective_dose_msv",
        "CTDIvol (mGy)": "ctdivol_mgy",
        "Patient Age": "age_years",
        "Patient Sex": "sex",
        "Institution Name": "facility",
        "Study Instance UID": "study_uid",
        "Body Part": "body_region",
    }
    key = {n: "".join(c for c in n.lower() if c.isalnum()) for n in names}
    assert {n: VENDOR_COLUMNS[key[n]] for n in names} == names


def test_missing_required_column_names_file_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "nodate.csv"
    path.write_text("Patient ID,Dose\n1,2\n")
    with pytest.raises(ExamValidationError, match=r"(?s)nodate\.csv.*'exam_date': missing column"):
        read_exams(path)
    with pytest.raises(ExamValidationError, match=r"The columns are \['patient_id', 'Dose'\]"):
        read_exams(path)


def test_not_a_table(tmp_path: Path) -> None:
    png = tmp_path / "scan.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    with pytest.raises(ValueError, match=r"scan\.csv: not a CSV or Parquet table"):
        read_exams(png)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 definitely not parquet")
    with pytest.raises(ValueError, match=r"broken\.parquet: not a readable Parquet table"):
        read_exams(broken)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: empty file"):
        read_exams(empty)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv"):
        read_exams("nowhere.csv")


def test_cp1252_file(tmp_path: Path) -> None:
    path = tmp_path / "win.csv"
    path.write_bytes("patient_id;exam_date;facility\n1;2020-01-01;Hôpital\n".encode("cp1252"))
    assert read_exams(path, today=TODAY).exams.get_column("facility").to_list() == ["Hôpital"]


def test_unknown_csv_columns_keep_their_text(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "patient_id;exam_date;n;x;code;accession\n"
        "1;2020-01-01;3;2,5;007;12345678901234567890\n"
        "2;2020-01-02;-;1E5;12;12345678901234567891\n"
    )
    df = read_exams(path, today=TODAY).exams
    assert all(df.schema[c] == pl.Utf8 for c in ("n", "x", "code", "accession"))
    assert df.get_column("n").to_list() == ["3", "-"]
    assert df.get_column("x").to_list() == ["2,5", "1E5"]
    assert df.get_column("code").to_list() == ["007", "12"]
    assert df.get_column("accession").to_list() == ["12345678901234567890", "12345678901234567891"]


def test_parquet_maps_body_regions(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pl.DataFrame(
        {
            "Patient ID": ["a", "b"],
            "Study Date": ["20200102"] * 2,
            "Body Part": ["CSPINE", "Becken"],
        }
    ).write_parquet(path)
    out = read_exams(path, region_rules={" becken ": "abdomen_pelvis"}, today=TODAY).exams
    assert out["body_region"].to_list() == ["spine", "abdomen_pelvis"]
    assert out["body_region_raw"].to_list() == ["CSPINE", "Becken"]


def test_ids_stripped_with_a_counted_warning(tmp_path: Path) -> None:
    from recurct.schema import IdentifierWarning

    path = tmp_path / "ids.csv"
    path.write_text("patient_id,exam_date\n A,2020-01-01\nA ,2020-01-02\nB,2020-01-03\n")
    with pytest.warns(IdentifierWarning, match=r"2 id\(s\) \(rows 0, 1"):
        df = read_exams(path, today=TODAY).exams
    assert df["patient_id"].to_list() == ["A", "A", "B"]


def test_unmapped_codes_never_nulled_uncounted(tmp_path: Path) -> None:
    # validate=False counts nothing, so it keeps what it cannot map as given (and its report
    # says nothing was checked); validate sets it null and counts it
    path = tmp_path / "c.csv"
    path.write_text("patient_id,exam_date,sex,body_region\na,2020-01-01,W,Topogram\n")
    cast = read_exams(path, validate=False).exams
    assert cast.row(0)[2:] == ("F", "Topogram", "Topogram")
    unchecked = read_exams(path, validate=False).report
    assert not unchecked.validated and not unchecked.is_clean
    from recurct.schema import UnmappedValuesWarning, validate

    with pytest.warns(UnmappedValuesWarning, match="1 unknown body region"):
        checked = validate(cast, today=TODAY, required=("patient_id", "exam_date"))
    assert checked.select("body_region", "body_region_raw").row(0) == (None, "Topogram")


def test_placeholder_ids_of_the_caller_apply_to_frames_as_to_files(tmp_path: Path) -> None:
    """``placeholder_ids=`` replaces the default list for a frame exactly as for a CSV."""
    rows = {
        "patient_id": ["NA", "XX"],
        "exam_date": ["2020-01-01"] * 2,
        "effective_dose_msv": [1.0, 2.0],
    }
    frame = pl.DataFrame(rows)
    path = tmp_path / "ids.csv"
    frame.write_csv(path)
    for source in (frame, path):
        with pytest.warns(DroppedRowsWarning):
            out = read_exams(source, placeholder_ids=["XX"], strict=False).exams
        assert out["patient_id"].to_list() == ["NA"]
