"""recurct 0.2 renames of the readers, the schema and the dose module: every old name raises a
TypeError naming the new one, and the new return types hold (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import recurct
from recurct.io import ReadResult, read_exams, read_openrem_ct, read_rdsr
from recurct.io.rdsr import ReadReport, pseudonymise_id
from recurct.schema import ValidationReport, validate

DATA = Path(__file__).parent / "data"
RDSR = DATA / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
OPENREM = DATA / "openrem" / "ct_export_pid.csv"
SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
EXAMS = pl.DataFrame(
    {
        "patient_id": ["a", "a", "b"],
        "exam_date": ["2020-01-01", "2020-02-01", "2020-03-01"],
        "effective_dose_msv": [1.0, -2.0, 3.0],
    }
)


@pytest.mark.parametrize(
    ("call", "old", "new"),
    [
        (lambda: read_exams(path_or_frame=EXAMS), "path_or_frame", "'source'"),
        (lambda: read_exams(EXAMS, lazy=True), "lazy", "scan_exams"),
        (lambda: read_rdsr(path_or_paths=RDSR), "path_or_paths", "'source'"),
        (lambda: read_rdsr(RDSR, level="event"), "level", r"\.events"),
        (lambda: read_rdsr(RDSR, salt=SECRET), "salt", "'secret'"),
        (lambda: read_rdsr(RDSR, non_patient=["*qa*"]), "non_patient", "'non_patient_patterns'"),
        (lambda: read_rdsr(RDSR, errors="raise"), "errors", "strict=True"),
        (lambda: read_openrem_ct(csv_or_xlsx=OPENREM), "csv_or_xlsx", "'source'"),
        (lambda: read_openrem_ct(OPENREM, salt=SECRET), "salt", "'secret'"),
        (lambda: pseudonymise_id("x", salt=SECRET), "salt", "'secret'"),
        (lambda: validate(EXAMS, return_report=True), "return_report", r"\.report"),
    ],
)
def test_old_reader_names_raise_naming_the_new(call, old: str, new: str) -> None:
    with pytest.raises(TypeError, match=rf"argument '{old}' was (renamed|removed).*{new}"):
        call()


def test_read_exams_result_and_report() -> None:
    with pytest.warns(recurct.schema.DroppedRowsWarning):
        result = read_exams(EXAMS, strict=False, today="2024-01-01")
    assert isinstance(result, ReadResult) and result.events is None
    assert isinstance(result.report, ValidationReport)
    assert result.exams.height == result.report.n_rows_out == 2
    assert result.report.dropped_by_reason == {"negative dose": 1}
    # frozen: nothing mutates a result
    with pytest.raises(AttributeError):
        result.exams = EXAMS  # type: ignore[misc]
    # a result goes wherever an exam table goes
    assert recurct.cumulative_dose(result).equals(recurct.cumulative_dose(result.exams))


def test_unpacking_a_result_says_what_to_write() -> None:
    with pytest.raises(TypeError, match=r"result\.exams, result\.events and result\.report"):
        _exams, _report = read_exams(EXAMS.filter(pl.col("effective_dose_msv") > 0))


def test_pandas_in_pandas_out_for_validate_and_read_exams() -> None:
    pdf = EXAMS.filter(pl.col("effective_dose_msv") > 0).to_pandas()
    assert isinstance(validate(pdf, today="2024-01-01"), pd.DataFrame)
    assert isinstance(read_exams(pdf, today="2024-01-01").exams, pd.DataFrame)
    assert isinstance(validate(pl.from_pandas(pdf), today="2024-01-01"), pl.DataFrame)


def test_unvalidated_read_says_so() -> None:
    report = read_exams(EXAMS, validate=False).report
    assert not report.validated and not report.is_clean
    assert "not validated" in str(report)


def test_rdsr_result_holds_both_levels() -> None:
    pytest.importorskip("pydicom")
    result = read_rdsr(RDSR)
    assert isinstance(result.report, ReadReport)
    assert result.exams.height == 1
    assert result.events is not None
    assert result.exams["n_events"][0] == result.events.height
    # the exam DLP is the sum of its events' DLPs (independent of the exam-level code)
    assert result.exams["dlp_mgycm"][0] == pytest.approx(result.events["dlp_mgycm"].sum())


def test_openrem_result() -> None:
    result = read_openrem_ct(OPENREM)
    assert isinstance(result.report, ReadReport) and result.report.files_read == 1
    assert result.events is not None
    assert result.events.height == result.exams["n_events"].sum()
    assert set(result.events["accession_number"]) <= set(result.exams["accession_number"])


# --------------------------------------------------------------------------- recurct.dose
def _audit() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "exam_type": ["head", "head", "head"],
            "body_region": ["head", "head", "head"],
            "facility": ["A", "A", "B"],
            "dlp_mgycm": [700.0, 1100.0, 900.0],
        }
    )


def test_old_dose_names_raise_naming_the_new() -> None:
    from recurct import dose

    with pytest.raises(TypeError, match=r"drls\(\) was replaced .*drl_tables\(\).*drl_table"):
        dose.drls()
    with pytest.raises(TypeError, match=r"drls\(\) was replaced"):
        dose.drls("uk2022")
    assert "drls" not in dose.__all__
    with pytest.raises(TypeError, match="argument 'by' was renamed to 'site'"):
        dose.compare_to_drl(_audit(), drl="arpansa_adult", by="facility")
    with pytest.raises(TypeError, match=r"region_of\(text\)"):
        dose.normalise_region("CT Thorax")
    with pytest.raises(TypeError, match=r"normalise_region\(values\)"):
        dose.region_of(pl.Series(["CT Thorax"]))  # type: ignore[arg-type]


def test_drl_tables_and_drl_table() -> None:
    from recurct import dose

    catalogue = dose.drl_tables()
    assert set(catalogue["name"]) == {"uk2022", "arpansa_adult", "arpansa_adult_2018"}
    for name in catalogue["name"]:
        assert dose.drl_table(name).height > 0
    with pytest.raises(TypeError, match="drl_tables"):
        dose.drl_table(None)


def test_compare_to_drl_site() -> None:
    from recurct import dose

    by_site = dose.compare_to_drl(_audit(), drl="arpansa_adult", site="facility")
    assert by_site.select("facility", "n_dlp", "median_dlp").rows() == [
        ("A", 2, 900.0),
        ("B", 1, 900.0),
    ]
    pooled = dose.compare_to_drl(_audit(), drl="arpansa_adult", site=None)
    assert pooled["n_dlp"].to_list() == [3] and "facility" not in pooled.columns
    with pytest.raises(TypeError, match="one column name"):
        dose.compare_to_drl(_audit(), drl="arpansa_adult", site=["facility"])  # type: ignore[arg-type]


def test_region_of_and_normalise_region_one_type_each() -> None:
    from recurct import dose

    assert dose.region_of("CT Thorax") == "chest" and dose.region_of(None) is None
    out = dose.normalise_region(["CT Thorax", None, "Topogram"])
    assert isinstance(out, pl.Series) and out.to_list() == ["chest", None, None]
    pout = dose.normalise_region(pd.Series(["CT Thorax"], index=[7]))
    assert isinstance(pout, pd.Series) and list(pout.index) == [7]


def test_region_rules_is_one_name() -> None:
    from recurct import dose

    mine = [(r" hufte ", "pelvis")]
    assert dose.region_of("Hüfte links", region_rules=mine) == "pelvis"
    assert dose.normalise_region(["Hüfte links"], region_rules=mine).to_list() == ["pelvis"]
    for call in (
        lambda: dose.region_of("Hüfte", rules=mine),
        lambda: dose.normalise_region(["Hüfte"], rules=mine),
    ):
        with pytest.raises(TypeError, match="argument 'rules' was renamed to 'region_rules'"):
            call()
