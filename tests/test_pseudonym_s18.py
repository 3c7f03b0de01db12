"""Pseudonymising reads of OpenREM exports and the public pseudonym functions.

* placeholder IDs ("unknown", "-", "#N/A": recurct.schema.PLACEHOLDER_IDS) are missing, not
  hashed: two unrelated patients whose ID is "unknown" were one pseudonym (one patient);
* a pseudonymising read names the file by its pseudonym (file_pseudonym), never by its name
  or path (an export is often named by the patient's ID);
* pseudonymise_id hashes a value as the readers do (stripped; missing: None) and refuses
  what it cannot hash (a number, an unknown domain);
* errors raised on a pseudonymising read chain no exception of polars or pandas (whose
  messages quote cells);
* ages of a pseudonymising read do not give away the birth date (OpenREM's decimal age is
  the days since birth / 365.25).

New names are imported inside the tests, so that each test fails alone on the old code.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

import recurct
from recurct.errors import DataError, ParameterError, PartialExamWarning
from recurct.io.openrem import read_openrem_ct
from recurct.io.rdsr import file_pseudonym

SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)
PSEUDO = {"pseudonymise": "hmac-sha256", "secret": SECRET}
HEAD = "Patient ID,Accession number,Study UID,Study date,Patient age,DLP total (mGy.cm)\n"


def _read(path: Path, **kw: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_openrem_ct(path, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- placeholders
PLACEHOLDERS = ["unknown", "UNKNOWN", "Unknown", " unknown ", "-", "?", "#N/A", "NA", "<NA>"]


@pytest.mark.parametrize("kw", [{}, PSEUDO], ids=["plain", "pseudonymised"])
def test_placeholder_patient_ids_are_missing_not_one_patient(tmp_path: Path, kw: dict) -> None:
    rows = [f"{p},ACC{i},1.2.{i},2020-01-{i + 1:02d},50,100" for i, p in enumerate(PLACEHOLDERS)]
    path = tmp_path / "ct.csv"
    path.write_text(HEAD + "\n".join([*rows, "P1,ACC99,1.2.99,2020-02-01,50,100"]) + "\n")
    result = _read(path, **kw)
    ids = result.exams["patient_id"].to_list()
    assert ids[: len(PLACEHOLDERS)] == [None] * len(PLACEHOLDERS)
    assert ids[-1] is not None
    reasons = result.report.problems["reason"].to_list()
    assert sum("no Patient ID; patient_id left null" in r for r in reasons) == len(PLACEHOLDERS)
    # validate leaves out the exams without a patient: one patient remains, not two
    exams = result.exams.select(
        "patient_id", "exam_date", (pl.col("dlp_mgycm") * 0.015).alias("effective_dose_msv")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = recurct.validate(exams, strict=False)
    assert kept["patient_id"].n_unique() == 1 and kept.height == 1


def test_placeholder_uids_and_accession_numbers_are_missing_in_both_modes(tmp_path: Path) -> None:
    path = tmp_path / "ct.csv"
    path.write_text(HEAD + "P1,#N/A,unknown,2020-01-01,50,100\nP2,-, NA ,2020-01-02,50,100\n")
    for kw in ({}, PSEUDO):
        exams = _read(path, **kw).exams
        assert exams["accession_number"].to_list() == [None, None]
        assert exams["study_uid"].to_list() == [None, None]
        assert exams["patient_id"].null_count() == 0


def test_a_row_of_placeholders_without_a_date_is_no_study(tmp_path: Path) -> None:
    path = tmp_path / "ct.csv"
    path.write_text(HEAD + "P1,ACC1,1.2.3,2020-01-01,50,100\nunknown,-,#N/A,,,100\n")
    for kw in ({}, PSEUDO):
        result = _read(path, **kw)
        assert result.exams.height == 1
        assert result.report.problems["action"].to_list() == ["dropped"]


def test_ids_are_pseudonymised_without_surrounding_whitespace(tmp_path: Path) -> None:
    from recurct.io.pseudonym import pseudonymise_id

    path = tmp_path / "ct.csv"
    path.write_text(HEAD + ' MRN42 ,ACC1 ,1.2.3,2020-01-01,50,100\n"MRN42\t",ACC2,,2020-02-01,,1\n')
    exams = _read(path, **PSEUDO).exams
    want = pseudonymise_id("MRN42", SECRET)
    assert exams["patient_id"].to_list() == [want, want]
    assert pseudonymise_id(" MRN42 ", SECRET) == want
    assert exams["accession_number"][0] == pseudonymise_id("ACC1", SECRET, "accession_number")
    assert exams["study_uid"][0] == pseudonymise_id("1.2.3", SECRET, "study_uid")


# --------------------------------------------------------------------------- the public API
@pytest.mark.parametrize(
    "value", ["", "   ", "\u3000\x00", "unknown", "UNKNOWN", "nan", "NaN", "None", "#N/A", " - "]
)
def test_pseudonymise_id_leaves_a_missing_value_missing(value: str) -> None:
    from recurct.io.pseudonym import pseudonymise_id

    assert pseudonymise_id(value, SECRET) is None
    assert pseudonymise_id(value, SECRET, "study_uid") is None


@pytest.mark.parametrize("value", [123456, None, float("nan"), b"MRN42", 1.5])
def test_pseudonymise_id_refuses_a_value_that_is_not_text(value: object) -> None:
    from recurct.io.pseudonym import pseudonymise_id

    with pytest.raises(ParameterError, match=r"must be text \(str\)"):
        pseudonymise_id(value, SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("domain", ["Patient_ID", "patient", "", "uid"])
def test_pseudonymise_id_refuses_an_unknown_domain(domain: str) -> None:
    from recurct.io.pseudonym import pseudonymise_id

    with pytest.raises(ParameterError, match=r"domain must be one of 'patient_id'"):
        pseudonymise_id("MRN42", SECRET, domain)  # type: ignore[arg-type]


def test_pseudonymise_id_checks_the_secret_for_a_missing_value_too() -> None:
    from recurct.io.pseudonym import WeakSecretError, pseudonymise_id

    with pytest.raises(WeakSecretError):
        pseudonymise_id("unknown", "weak")
    with pytest.raises(ParameterError, match="'secret'"):
        pseudonymise_id("MRN42", salt=SECRET)  # type: ignore[call-arg]


def test_pseudonymise_id_of_a_file_is_file_pseudonym_without_its_prefix() -> None:
    from recurct.io.pseudonym import pseudonymise_id

    for name in ("export_123456.csv", " spaced name.csv"):
        assert "file:" + str(pseudonymise_id(name, SECRET, "file")) == file_pseudonym(name, SECRET)


def test_pseudonymise_id_gives_the_openrem_readers_pseudonym_of_a_padded_id(
    tmp_path: Path,
) -> None:
    """recurct.io.rdsr.pseudonymise_id (the documented name) hashes a padded ID as the
    OpenREM reader does."""
    from recurct.io.rdsr import pseudonymise_id

    path = tmp_path / "ct.csv"
    path.write_text(HEAD + " MRN42 ,ACC1, 1.2.3 ,2020-01-01,50,100\n")
    exams = _read(path, **PSEUDO).exams
    assert exams["patient_id"].to_list() == [pseudonymise_id(" MRN42 ", SECRET)]
    assert exams["study_uid"].to_list() == [pseudonymise_id("1.2.3", SECRET, "study_uid")]
    assert pseudonymise_id(" MRN42 ", SECRET) == pseudonymise_id("MRN42", SECRET)


@pytest.mark.parametrize(
    "text",
    ["a", " a ", "\ta\n", "\x00a\x00", "\xa0a\u2003", "\u3000", "", "unknown", " UNKNOWN ",
     "Unknown", "uNknown", "N/A", "n/a", "#n/a", "-", "--", "?", "(null)", "NaT", "<NA>",
     "0123", "a b", "\x1fa"],
)  # fmt: skip
def test_one_rule_for_a_value_and_for_a_column(text: str) -> None:
    from recurct.io.pseudonym import normalise_id, normalise_ids

    assert normalise_ids(pl.Series([text, None])).to_list() == [normalise_id(text), None]


def test_the_placeholder_rule_is_the_one_validate_applies() -> None:
    """The readers' missing ids are exactly those validate leaves out."""
    from recurct.io.pseudonym import normalise_ids
    from recurct.schema import PLACEHOLDER_IDS

    values = [v for p in PLACEHOLDER_IDS for v in (p, p.upper(), p.lower(), p.title(), f" {p}")]
    assert normalise_ids(pl.Series(values)).null_count() == len(values)
    assert normalise_ids(pl.Series(["unknownx", "N/A/1", "-1"])).null_count() == 0


# --------------------------------------------------------------------------- file names
def _export(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


def test_a_pseudonymising_read_names_the_file_by_its_pseudonym(tmp_path: Path) -> None:
    path = _export(
        tmp_path / "SMITH_JOHN_123456",
        "openrem_123456.csv",
        "Patient ID,Study date,Patient age,DLP total (mGy.cm),E1 Protocol,E1 DLP\n"
        "123456,2020-01-02,seventy,100,Chest,\n",
    )
    label = file_pseudonym(path.name, SECRET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_openrem_ct(path, **PSEUDO)  # type: ignore[arg-type]
    assert result.report.problems["file"].unique().to_list() == [label]
    assert [w.category for w in caught] == [PartialExamWarning]
    assert str(caught[0].message).startswith(f"{label}: 1 exam(s)")
    for text in (str(result.report), repr(result.report), repr(result), str(caught[0].message)):
        assert "123456" not in text and "SMITH" not in text
    # without a key the file keeps its name
    plain = _read(path)
    assert plain.report.problems["file"].unique().to_list() == ["openrem_123456.csv"]


@pytest.mark.parametrize(
    ("name", "body", "what"),
    [
        ("empty_123456.csv", "Patient ID,Study date,DLP total (mGy.cm)\n", ": no rows"),
        ("plain_123456.csv", "id,date,dose\n123456,2020-01-01,1\n", ": not an OpenREM CT"),
        ("twice_123456.csv", "Patient ID,Study date,DLP total (mGy.cm),Patient ID\n", ": column"),
        ("blank_123456.csv", "\n\n", ": empty file"),
        ("shifted_123456.csv", HEAD + "1,2,3,2020-01-01,5,6,7\n", ": row 0 (line 2"),
        ("sep_123456.csv", "sep=x\n" + HEAD, ": the first line"),
    ],
)
def test_errors_of_a_pseudonymising_read_name_the_file_by_its_pseudonym(
    tmp_path: Path, name: str, body: str, what: str
) -> None:
    path = _export(tmp_path / "SMITH_JOHN_123456", name, body)
    with pytest.raises(DataError) as err:
        read_openrem_ct(path, **PSEUDO)  # type: ignore[arg-type]
    text = str(err.value)
    assert text.startswith(file_pseudonym(name, SECRET) + what), text
    assert "123456" not in text and "SMITH" not in text
    with pytest.raises(DataError) as err:
        read_openrem_ct(path)
    # without a key: by the file's name in every message, never its whole path
    assert str(err.value).startswith(name + what), str(err.value)


def test_a_pseudonymising_read_of_a_workbook_names_it_by_its_pseudonym(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    folder = tmp_path / "SMITH_JOHN_123456"
    folder.mkdir()
    book = openpyxl.Workbook()
    book.active.title = "All data"
    book.save(folder / "empty_123456.xlsx")  # an empty sheet: no header row
    damaged = folder / "damaged_123456.xlsx"
    with zipfile.ZipFile(damaged, "w") as z:
        z.writestr("xl/workbook.xml", "not xml 123456")
    for path in (folder / "empty_123456.xlsx", damaged, folder / "cut_123456.xlsx"):
        if path.name.startswith("cut"):
            path.write_bytes(b"PK\x03\x04 123456")
        with pytest.raises(DataError) as err:
            read_openrem_ct(path, **PSEUDO)  # type: ignore[arg-type]
        text = str(err.value)
        assert text.startswith(file_pseudonym(path.name, SECRET) + ": "), text
        assert "123456" not in text and "SMITH" not in text
        assert err.value.__cause__ is None and err.value.__context__ is None


# --------------------------------------------------------------------------- chained errors
def _chain(exc: BaseException | None) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("unclosed.csv", (HEAD + 'MRN555,"ACC9,1.2,2020-01-01,1950,10\n').encode()),
        (
            "mixed.csv",
            HEAD.encode()
            + "MÜLLER,ACC9,1.2,2020-01-01,50,10\n".encode()
            + "MÜLLER,ACC9,1.2,2020-01-01,50,10\n".encode("cp1252"),
        ),
        ("binary.csv", (HEAD + "MRN555,ACC9,1.2,2020-01-01,50,10\x00\x01\x02\n").encode()),
    ],
)
def test_errors_chain_no_exception_quoting_cells(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    for kw in ({}, PSEUDO):
        with pytest.raises(DataError) as err:
            read_openrem_ct(path, **kw)  # type: ignore[arg-type]
        assert err.value.__cause__ is None and err.value.__context__ is None
        assert _chain(err.value) == [err.value]
        for raw in ("MRN555", "ACC9", "1950", "MÜLLER"):
            assert raw not in str(err.value)


def test_an_unclosed_quote_is_named_by_its_row(tmp_path: Path) -> None:
    path = tmp_path / "unclosed.csv"
    path.write_text(
        HEAD + 'A,"ACC\n1",1.2,2020-01-01,50,10\nB,ACC2,1.3,2020-01-02,50,10\n'
        'C,"ACC3,1.4,2020-01-03,50,10\n'
    )
    with pytest.raises(DataError, match=r": row 2 \(line 5 of the file\): a quoted value starts"):
        read_openrem_ct(path, **PSEUDO)  # type: ignore[arg-type]


@pytest.mark.parametrize("sep_line", ["", "sep=,\n"], ids=["plain", "sep-line"])
def test_an_unclosed_quote_is_named_as_read_exams_names_it(tmp_path: Path, sep_line: str) -> None:
    """One locator and one message for both readers (recurct.io._csv._open_quote): a data
    row by its row and line, a quote left open in the header as the header."""
    skip = 1 if sep_line else 0
    path = tmp_path / "unclosed.csv"
    path.write_text(sep_line + HEAD + 'A,ACC1,1.2,2020-01-01,50,10\nC,"ACC3,1.4,2020-01-03,50,10\n')
    with pytest.raises(DataError) as err:
        read_openrem_ct(path)
    assert str(err.value).startswith(
        f"unclosed.csv: row 1 (line {3 + skip} of the file): a quoted value starts here and "
        'its closing quote (") is missing'
    ), str(err.value)
    path.write_text(sep_line + '"Patient ID,Study date,DLP total (mGy.cm)\nA,2020-01-01,10\n')
    with pytest.raises(DataError) as err:
        read_openrem_ct(path)
    assert str(err.value).startswith(
        f"unclosed.csv: the header (line {1 + skip} of the file): a quoted value starts here"
    ), str(err.value)


# --------------------------------------------------------------------------- ages
def _openrem_age(born: date, on: date) -> float:
    """OpenREM's patient_age_decimal: (study date - birth date).days / 365.25, as its
    extractors compute it where the report has a birth date (3 decimals in its database)."""
    return round((on - born).days / 365.25, 3)


BORN = date(1950, 7, 19)
VISITS = [date(2019, 3, 4), date(2019, 11, 20), date(2021, 7, 18), date(2023, 1, 2)]


def _aged_export(tmp_path: Path, born: date, name: str = "aged.csv") -> Path:
    lines = [
        f"P1,ACC{i},,{d.isoformat()},{_openrem_age(born, d)},100" for i, d in enumerate(VISITS)
    ]
    lines += [
        "P1,ACC9,,2024-01-01,,100",  # no age: stays null
        f",ACC10,,2020-05-05,{_openrem_age(date(1960, 1, 2), date(2020, 5, 5))},100",  # no ID
        "P2,ACC11,,,42.7,100",  # no date
    ]
    path = tmp_path / name
    path.write_text(HEAD + "\n".join(lines) + "\n")
    return path


def test_a_pseudonymising_read_gives_no_birth_date_beyond_a_year(tmp_path: Path) -> None:
    exams = _read(_aged_export(tmp_path, BORN), **PSEUDO).exams
    p1 = exams.filter(pl.col("accession_number").is_not_null()).head(len(VISITS))
    ages = p1["age_years"].to_list()
    days = [d.date() for d in p1["exam_date"].to_list()]
    assert days == VISITS
    # as the auditor's search: birth dates whose exact age matches an output age
    for w, a in zip(days, ages):
        exact = [
            w - timedelta(days=k)
            for k in range(131 * 366)
            if abs(_openrem_age(w - timedelta(days=k), w) - a) < 5e-4
        ]
        assert BORN not in exact
    # every birth date with the same completed years at the first exam gives the same output
    first = days[0]
    n0 = math.floor(_openrem_age(BORN, first))
    window = [first - timedelta(days=k) for k in range(131 * 366)]
    window = [b for b in window if math.floor((first - b).days / 365.25) == n0]
    assert BORN in window and len(window) >= 365
    for other in (window[0], window[len(window) // 2], window[-1]):
        again = _read(_aged_export(tmp_path, other, "other.csv"), **PSEUDO).exams
        assert again["age_years"].to_list() == exams["age_years"].to_list()


def test_ages_of_a_pseudonymising_read_are_consistent_between_exams(tmp_path: Path) -> None:
    path = _aged_export(tmp_path, BORN)
    exact = _read(path).exams["age_years"].to_list()
    ages = _read(path, **PSEUDO).exams["age_years"].to_list()
    n0 = math.floor(exact[0])
    want = [n0 + (d - VISITS[0]).days / 365.25 for d in VISITS]
    assert ages[: len(VISITS)] == pytest.approx(want, abs=1e-12)
    assert all(0 <= e - a < 1 for e, a in zip(exact[: len(VISITS)], ages))
    assert ages[4] is None  # no age
    assert ages[5] == math.floor(exact[5])  # no patient ID: completed years
    assert ages[6] == 42.0  # no exam date: completed years
    assert exact[: len(VISITS)] == [_openrem_age(BORN, d) for d in VISITS]  # without: as read


def test_coarsen_ages_orders_by_date_not_by_row() -> None:
    from recurct.io.pseudonym import coarsen_ages

    exams = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "a", None],
            "exam_date": [date(2021, 1, 1), date(2020, 1, 1), date(2020, 1, 1), None, None],
            "age_years": [71.2, 70.2, 5.5, 70.9, 33.3],
        }
    )
    out = coarsen_ages(exams)
    assert out.name == "age_years" and out.dtype == pl.Float64
    assert out.to_list() == pytest.approx([70 + 366 / 365.25, 70.0, 5.0, 70.0, 33.0])
    dated = exams.with_columns(pl.col("exam_date").cast(pl.Datetime("us")) + pl.duration(hours=9))
    assert coarsen_ages(dated).to_list() == pytest.approx(out.to_list())
