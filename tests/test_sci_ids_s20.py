"""Patient IDs in scientific notation (``1.23457E+11``: a long number as a spreadsheet shows
it, its last digits lost) have one rule, in ``recurct._frames``, for every entry point:

* ``read_openrem_ct`` says it as ``read_exams`` does (the shared wording, the IDs quoted as
  written except under ``pseudonymise``, rows and lines of the file listed as its other
  warnings list them, the ``scientific_ids`` count), and its problem row says why the
  Patient ID is null; a row whose only key was such an ID is a study, not a totals row;
* the public pseudonym functions give such a patient ID no pseudonym (None), as every reader
  makes it missing, so that a table pseudonymised by hand links to a reader's output;
* a padded ``" 1,23457E+11"`` alone still gets the hint of ``read_exams``'s error.

New names are imported inside the tests, so that each test fails alone on the old code.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import polars as pl
import pytest

import recurct
from recurct.errors import ExamValidationError, IdentifierWarning
from recurct.io.openrem import read_openrem_ct
from recurct.io.rdsr import file_pseudonym

SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
PSEUDO = {"pseudonymise": "hmac-sha256", "secret": SECRET}
HEAD = "Patient ID,Accession number,Study date,DLP total (mGy.cm)\n"


def _export(tmp_path: Path, body: str, name: str = "MRN999_export.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def _read(path: Path, **kw: object):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_openrem_ct(path, **kw)
    said = [w.message for w in caught if issubclass(w.category, IdentifierWarning)]
    return result, said


def test_openrem_says_it_as_read_exams_does_with_rows_and_lines(tmp_path: Path) -> None:
    from recurct._frames import scientific_ids_text

    path = _export(
        tmp_path,
        "A1,ACC1,2020-01-02,100\n 1.23457E+11 ,ACC2,2020-01-03,200\n"
        'B2,ACC3,2020-01-04,300\n"1,23457E+11",ACC4,2020-01-05,400\n',
    )
    result, said = _read(path)
    assert len(said) == 1
    listed = "rows 1, 3, 0-based; lines 3, 5 of the file"
    values = pl.Series([" 1.23457E+11 ", "1,23457E+11"])
    assert str(said[0]) == f"{path.name}: " + scientific_ids_text("Patient ID", values, listed)
    assert said[0].scientific_ids == 2  # type: ignore[attr-defined]
    assert result.exams["patient_id"].to_list() == ["A1", None, "B2", None]
    assert result.exams["dlp_mgycm"].to_list() == [100.0, 200.0, 300.0, 400.0]
    reasons = result.report.problems["reason"].to_list()
    assert len(reasons) == 2
    assert reasons[0].startswith("row 1 (line 3 of the file): Patient ID ' 1.23457E+11 ' is")
    assert all("scientific notation" in r and "patient_id left null" in r for r in reasons)
    assert not any("no Patient ID" in r for r in reasons)


def test_openrem_one_row_is_a_row_on_its_line(tmp_path: Path) -> None:
    path = _export(tmp_path, "1.23457E+11,ACC1,2020-01-02,100\nA1,ACC2,2020-01-03,200\n")
    _, said = _read(path)
    text = str(said[0])
    assert "1 patient id(s)" in text and "('1.23457E+11')" in text
    assert "(row 0, 0-based; line 2 of the file)" in text
    assert "data rows" not in text


def test_openrem_pseudonymising_read_never_quotes_the_id(tmp_path: Path) -> None:
    path = _export(tmp_path, "1.23457E+11,ACC1,2020-01-02,100\n9.87654e+11,ACC2,2020-01-03,200\n")
    result, said = _read(path, **PSEUDO)
    assert len(said) == 1
    text = str(said[0])
    assert text.startswith(file_pseudonym(path.name, SECRET) + ": column 'Patient ID': 2 ")
    assert "<withheld>" in text and "rows 0, 1, 0-based; lines 2, 3 of the file" in text
    assert said[0].scientific_ids == 2  # type: ignore[attr-defined]
    problems = result.report.problems
    shown = text + " ".join(problems["reason"].to_list() + problems["file"].to_list())
    for raw in ("1.23457E+11", "9.87654e+11", "1.23457", "9.87654", "MRN999"):
        assert raw.lower() not in shown.lower()
    assert result.exams["patient_id"].null_count() == 2  # never hashed


def test_openrem_row_whose_only_key_was_such_an_id_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("Patient ID,Study date,DLP total (mGy.cm)\n1.23457E+11,,100\nA,2020-01-02,5\n")
    result, said = _read(path)
    assert len(said) == 1
    assert result.exams["dlp_mgycm"].to_list() == [100.0, 5.0]  # a study: its dose kept
    assert "dropped" not in result.report.problems["action"].to_list()


@pytest.mark.parametrize("value", ["1.23457E+11", "1,23457E+11", " 1.23457e+11\n", "5E+3"])
def test_pseudonymise_id_gives_a_scientific_patient_id_no_pseudonym(value: str) -> None:
    from recurct.io.pseudonym import normalise_id, pseudonymise_id

    assert pseudonymise_id(value, SECRET) is None
    assert pseudonymise_id(value, SECRET, "patient_id") is None
    assert normalise_id(value, patient=True) is None
    # the rule is for patient IDs: other identifiers are hashed as written
    assert normalise_id(value) == value.strip()
    assert pseudonymise_id(value, SECRET, "accession_number") is not None


@pytest.mark.parametrize("value", ["AB1E+5", "1E5", "1.2.3", "12E+", "0x1E+5", "MRN42"])
def test_pseudonymise_id_still_hashes_other_patient_ids(value: str) -> None:
    from recurct.io.pseudonym import pseudonym, pseudonymise_id

    assert pseudonymise_id(value, SECRET) == pseudonym(value, bytes.fromhex(SECRET))


def test_normalise_ids_of_patient_ids() -> None:
    from recurct.io.pseudonym import normalise_ids

    ids = pl.Series("pid", [" 1,23457E+11", "A", None, "unknown", "1E+5"])
    assert normalise_ids(ids, patient=True).to_list() == [None, "A", None, None, None]
    assert normalise_ids(ids).to_list() == ["1,23457E+11", "A", None, None, "1E+5"]
    assert normalise_ids(ids, patient=True).name == "pid"


def test_own_pseudonymised_table_links_to_the_reader(tmp_path: Path) -> None:
    from recurct.io.pseudonym import pseudonymise_id

    ids = ["MRN42", "1.23457E+11", " MRN7 ", "unknown"]
    body = "".join(f"{v},ACC{i},2020-01-0{i + 1},100\n" for i, v in enumerate(ids))
    result, _ = _read(_export(tmp_path, body), **PSEUDO)
    assert result.exams["patient_id"].to_list() == [pseudonymise_id(v, SECRET) for v in ids]


def test_a_padded_scientific_id_alone_gets_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        'patient_id;exam_date;effective_dose_msv\n" 1,23457E+11";2020-01-02;1\nA;2020-01-02;1\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ExamValidationError) as err:
            recurct.read_exams(path, today="2024-01-01")
    assert "Patient ids like ' 1,23457E+11' are numbers in scientific notation" in str(err.value)
