"""Under pseudonymise=, no output of the readers carries a raw identifier.

A PACS-style export folder is built from copies of the shipped reports (tests/data/rdsr):
folders named after the patient and the accession number (``SMITH_JOHN_123456/ACC.../``),
identifiers edited into each copy, a truncated copy, a malformed value and a non-DICOM file,
so that problem rows, reasons and file names are produced too. Every output (every column of
every table as text, the problem table, ``str`` and ``repr`` of the report, warnings, log
records and error messages) is scanned for every raw identifier.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest

pydicom = pytest.importorskip("pydicom")

from recurct.errors import DroppedRowsWarning, RecurctWarning  # noqa: E402
from recurct.io.openrem import read_openrem_ct  # noqa: E402
from recurct.io.rdsr import RdsrReadError, file_pseudonym, read_rdsr  # noqa: E402

RDSR = Path(__file__).parent / "data" / "rdsr"
OPENREM = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"
SECRET = "5f0c2a9e7b1d4c3f8a6e0b2d9c7f1a3e"  # test-only key (32 hex digits, 128 bits)

# (source report, patient name, patient ID, accession number)
PATIENTS = [
    ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "SMITH^JOHN", "123456", "ACC12345601"),
    ("CT-ESR-GE_Optima.dcm", "DOE^JANE^Q", "7654321", "ACC7770001"),
    ("CT-RDSR-Siemens-Multi-1.dcm", "MUELLER^HANS", "5550123", "ACC5550001"),
    ("CT-RDSR-Siemens-Multi-2.dcm", "MUELLER^HANS", "5550123", "ACC5550001"),
    ("CT-RDSR-ToshibaPixelMed.dcm", "ROSSI^MARIA", "8880042", "ACC8880042"),
]


def _uids(ds) -> set[str]:  # type: ignore[no-untyped-def]
    """Every UID in the dataset (header and content tree)."""
    found: set[str] = set()

    def visit(d, elem) -> None:  # type: ignore[no-untyped-def]
        if elem.VR == "UI" and elem.value and elem.tag.group != 0x0002:
            values = elem.value if isinstance(elem.value, list) else [elem.value]
            found.update(str(v) for v in values)

    ds.walk(visit)
    return (
        found
        - {ds.SOPClassUID}
        - {
            "1.2.840.10008.5.1.4.1.1.88.67",
            "1.2.840.10008.5.1.4.1.1.88.22",
        }
    )


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    root = tmp_path_factory.mktemp("pacs")
    raw: set[str] = set()
    for i, (src, name, pid, acc) in enumerate(PATIENTS):
        ds = pydicom.dcmread(RDSR / src)
        ds.PatientName, ds.PatientID, ds.AccessionNumber = name, pid, acc
        folder = root / f"{name.replace('^', '_')}_{pid}" / acc
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IM{i:04d}_{pid}.dcm"
        ds.save_as(path)
        raw |= {pid, acc, *[p for p in name.split("^") if len(p) > 1], *_uids(ds)}
        raw.add(path.parent.name)
    # a truncated copy and a malformed age: problem rows that name the file
    cut = root / "SMITH_JOHN_123456" / "ACC12345601" / "IM9999_123456.dcm"
    cut.write_bytes(
        (root / "SMITH_JOHN_123456" / "ACC12345601" / "IM0000_123456.dcm").read_bytes()[:3000]
    )
    ds = pydicom.dcmread(RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm")
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "KOWALSKI^PIOTR", "4440987", "ACC4440987"
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.PatientAge = "0X7Y"
    del ds.PatientBirthDate
    bad = root / "KOWALSKI_PIOTR_4440987" / "ACC4440987"
    bad.mkdir(parents=True)
    ds.save_as(bad / "IM0001_4440987.dcm")
    raw |= {"4440987", "ACC4440987", "KOWALSKI", "PIOTR", *_uids(ds), "KOWALSKI_PIOTR_4440987"}
    (root / "SMITH_JOHN_123456" / "notes_123456.txt").write_text("not DICOM")
    raw |= {"SMITH_JOHN_123456", "DOE_JANE_Q_7654321", "MUELLER_HANS_5550123"}
    return root, raw


def _texts(obj: object) -> list[str]:
    if isinstance(obj, pl.DataFrame):
        return [" ".join(str(v) for v in obj[c].cast(pl.Utf8).to_list()) for c in obj.columns] + [
            repr(obj),
            str(obj.columns),
        ]
    return [str(obj), repr(obj)]


def _assert_clean(texts: list[str], raw: set[str]) -> None:
    blob = "\n".join(texts)
    leaked = sorted(r for r in raw if r in blob)
    assert not leaked, f"raw identifiers in the output: {leaked}"


def test_pacs_folder_scan_finds_no_raw_identifier(
    pacs: tuple[Path, set[str]], caplog: pytest.LogCaptureFixture
) -> None:
    root, raw = pacs
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_rdsr(
            root, pseudonymise="hmac-sha256", secret=SECRET, non_patient_patterns=["*qa*"]
        )
        report = result.report
        for table in (result.exams, result.events):
            texts += _texts(table) + _texts(report) + _texts(report.problems)
            assert table.height > 0 and report.problems.height >= 3
        with pytest.raises(RdsrReadError) as err:
            read_rdsr(root, pseudonymise="hmac-sha256", secret=SECRET, strict=True)
        texts.append(str(err.value))
    texts += [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    _assert_clean(texts, raw)
    # the tables still link: the Multi study is one exam, each patient one pseudonym
    with pytest.warns(DroppedRowsWarning, match=r"2 file\(s\) skipped"):
        result = read_rdsr(root, pseudonymise="hmac-sha256", secret=SECRET)
    exams, report = result.exams, result.report
    assert exams["patient_id"].n_unique() == exams.height == 5
    assert all(len(v) == 64 for v in exams["accession_number"].drop_nulls())
    # a file is found again by its pseudonym (path relative to the folder given)
    rel = "SMITH_JOHN_123456/ACC12345601/IM9999_123456.dcm"
    cut = report.problems.filter(pl.col("file") == file_pseudonym(rel, SECRET))
    assert cut["reason"][0].startswith("truncated at byte 3000")


def test_without_pseudonymise_the_identifiers_are_there(pacs: tuple[Path, set[str]]) -> None:
    """The scan can fail: the same read without pseudonymisation shows the raw values."""
    root, raw = pacs
    with pytest.warns(DroppedRowsWarning, match=r"2 file\(s\) skipped"):
        result = read_rdsr(root)
    exams, report = result.events, result.report
    blob = "\n".join(_texts(exams) + _texts(report.problems))
    assert "123456" in blob and "SMITH_JOHN_123456" in blob
    assert sum(r in blob for r in raw) > 10


def test_openrem_outputs_carry_no_raw_identifier() -> None:
    result = read_openrem_ct(
        OPENREM, pseudonymise="hmac-sha256", secret=SECRET, include_non_patient=True
    )
    exams, events = result.exams, result.events
    raw = {
        "SMITH",
        "JOHN",
        "123456",
        "physics12345",
        "QA-PHANTOM-01",
        "ACC0001",
        "ACC0002",
        "ACC0003",
        "Catphan",
        "QATesting",
    }
    _assert_clean(_texts(exams) + _texts(events), raw)
    assert set(events["accession_number"]) <= set(exams["accession_number"])


def test_files_of_one_name_in_two_folders_keep_apart_pseudonyms(tmp_path: Path) -> None:
    """PACS exports name every file IM0001.dcm: the conflict row must name two files."""
    for pid in ("123456", "654321"):
        ds = pydicom.dcmread(RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm")
        ds.PatientID = pid
        (tmp_path / f"PAT_{pid}").mkdir()
        ds.save_as(tmp_path / f"PAT_{pid}" / "IM0001.dcm")
    files = sorted(tmp_path.rglob("IM0001.dcm"))
    dirs = sorted(tmp_path.iterdir())
    for source in (files, dirs, tmp_path):
        with pytest.warns(RecurctWarning, match=r"2 report\(s\) kept apart"):
            result = read_rdsr(source, pseudonymise="hmac-sha256", secret=SECRET)
        events, report = result.events, result.report
        assert events["source_file"].n_unique() == 2
        kept = report.problems.filter(pl.col("action") == "kept apart")
        assert sorted(kept["file"]) == sorted(
            file_pseudonym(f"PAT_{pid}/IM0001.dcm", SECRET) for pid in ("123456", "654321")
        )
    # one file: its name
    one = read_rdsr(files[0], pseudonymise="hmac-sha256", secret=SECRET).events
    assert one["source_file"][0] == file_pseudonym("IM0001.dcm", SECRET)


def test_a_pacs_copy_of_one_file_needs_no_secret_to_fail(tmp_path: Path) -> None:
    shutil.copy(RDSR / "CT-RDSR-Siemens_Flash-TAP-SS.dcm", tmp_path / "SMITH_JOHN_123456.dcm")
    with pytest.raises(ValueError, match=r"secrets\.token_hex\(32\)"):
        read_rdsr(tmp_path, pseudonymise="hmac-sha256", secret="SMITH")


# --------------------------------------------------------------------------- key files
def test_a_key_file_read_as_text_or_as_bytes_gives_the_same_pseudonyms(tmp_path: Path) -> None:
    """`python -c "print(secrets.token_hex(32))" > key.txt` ends the file in a newline; read
    with read_bytes() the key is the same text (stripped), not 65 raw bytes."""
    import secrets

    from recurct.io.rdsr import pseudonymise_id

    for key, end in [
        (secrets.token_hex(32), "\n"),
        (secrets.token_hex(16), "\r\n"),
        (secrets.token_urlsafe(32), "\n"),
        (secrets.token_hex(32), " \t\n\n"),
    ]:
        path = tmp_path / "key.txt"
        path.write_bytes((" " + key + end).encode("ascii"))
        want = pseudonymise_id("123456", key)
        assert pseudonymise_id("123456", path.read_text()) == want
        assert pseudonymise_id("123456", path.read_bytes()) == want
        assert pseudonymise_id("123456", bytearray(path.read_bytes())) == want
        # a key file saved with a UTF-8 byte order mark (Windows editors)
        path.write_bytes(b"\xef\xbb\xbf" + (key + end).encode("ascii"))
        assert pseudonymise_id("123456", path.read_text(encoding="utf-8")) == want
        assert pseudonymise_id("123456", path.read_bytes()) == want


@pytest.mark.parametrize(
    "secret",
    [b"correct horse battery staple\n", b"correct horse battery staple words here\r\n",
     b"\xef\xbb\xbfcorrect horse battery staple\n", b"password\n",
     b"0123456789abcdef0123456789abcdef\n", b"  keep-this-secret  \n"],
)
def test_phrases_typed_as_bytes_are_refused(secret: bytes) -> None:
    from recurct.io.pseudonym import WeakSecretError, check_secret

    with pytest.raises(WeakSecretError, match=r"secrets\.token_hex\(32\)"):
        check_secret(secret)
    with pytest.raises(WeakSecretError):
        check_secret(secret.decode("utf-8"))  # the same text: the same answer


def test_valid_secrets_keep_their_keys() -> None:
    """Pseudonyms stay stable: the key of each accepted form is unchanged (an independent
    HMAC-SHA256 with the key the rule names)."""
    import hashlib
    import hmac

    from recurct.io.rdsr import pseudonymise_id

    raw = bytes.fromhex("00ff10e2a3b4c5d6e7f8091a2b3c4d5e")  # random bytes, not text
    urlsafe = "q3Jx_0vN-8kLmZ2pR7tYw4"  # 22 URL-safe characters
    for secret, key in [
        (SECRET, bytes.fromhex(SECRET)),
        (SECRET.upper(), bytes.fromhex(SECRET)),
        (SECRET.encode("ascii"), bytes.fromhex(SECRET)),
        (f"  {SECRET}\n", bytes.fromhex(SECRET)),
        (raw, raw),
        (raw + b"\n", raw + b"\n"),  # random bytes are the key as they are, all of them
        (urlsafe, urlsafe.encode("ascii")),
    ]:
        want = hmac.new(key, b"patient_id\x1f123456", hashlib.sha256).hexdigest()
        assert pseudonymise_id("123456", secret) == want


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pseudonymise": "salted-sha256", "secret": SECRET}, "hmac-sha256"),
        ({"pseudonymise": "md5", "secret": SECRET}, "pseudonymise must be"),
        ({"secret": SECRET}, "without pseudonymise"),
        ({"pseudonymise": "hmac-sha256", "secret": 12345}, "bytes or str"),
    ],
)
def test_bad_pseudonymise_arguments_raise_parameter_error(kwargs: dict, match: str) -> None:
    from recurct.errors import ParameterError

    with pytest.raises(ParameterError, match=match):
        read_rdsr(RDSR / "CT-RDSR-Toshiba_DoseCheck.dcm", **kwargs)
