"""OpenREM exports saved through a spreadsheet: Patient IDs shown in scientific notation
(``1.23457E+11``: a long MRN's last digits lost) are missing IDs, with or without
pseudonymisation, as every other entry point's identity rule reads them: two patients whose
IDs a spreadsheet rounded to one number are not one patient, nor one pseudonym."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path

import pytest

from recurct import read_openrem_ct
from recurct.errors import IdentifierWarning

FIXTURE = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"
SCI = "1.23457E+11"


def _spreadsheet_copy(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines(keepends=True)
    ids = [line.split(",")[1] for line in lines[1:3]]
    lines[1] = lines[1].replace(f",{ids[0]},", f",{SCI},", 1)
    lines[2] = lines[2].replace(f",{ids[1]},", f",{SCI},", 1)
    path = tmp_path / "export.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path, ids


@pytest.mark.parametrize("pseudonymise", [False, True])
def test_scientific_notation_ids_are_missing_not_one_patient(
    tmp_path: Path, pseudonymise: bool
) -> None:
    path, ids = _spreadsheet_copy(tmp_path)
    kw = {"pseudonymise": "hmac-sha256", "secret": secrets.token_hex(32)} if pseudonymise else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exams = read_openrem_ct(path, **kw).exams
    said = [str(w.message) for w in caught if issubclass(w.category, IdentifierWarning)]
    assert any("2 patient id(s) are numbers in scientific notation" in s for s in said), said
    # the IDs as written (the shared wording of the identity rule), never under pseudonymise
    quoted = any(SCI in s or SCI.lower() in s for s in said)
    assert quoted is not pseudonymise
    assert exams.height >= 2  # both studies kept, each with its dose
    assert exams["patient_id"].null_count() == 2  # no ID: not one shared ID or pseudonym
    assert not set(ids) & set(exams["patient_id"].drop_nulls().to_list())
