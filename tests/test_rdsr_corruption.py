"""read_rdsr on corrupted copies of every shipped report: truncations at many offsets and
seeded byte flips (one byte XOR a random non-zero mask). The rules:

* no crash: every file gives a table and a report;
* no partial exam: a truncated file is skipped (never read as fewer events), and no exam has
  another number of events, or a DLP or reported total that differs beyond rounding, without
  a problem row for the file or ``dlp_total_mismatch``;
* no lost value unflagged: where a dose, region, date or identity value of the intact file
  is null in the damaged one, the report lists a problem for the file;
* one warning exactly where the report lists a problem (none for an intact-looking file).

A byte replaced by another valid character inside a value (a letter of a name or description,
a digit of an ID, a UID, a date or a CTDIvol) gives a valid value that cannot be told from the
original without a checksum, which DICOM does not have; such substitutions are counted, not
asserted. The counts of each outcome are printed (``pytest -s``) and quoted in docs/rdsr.md.
A cut that falls exactly between two top-level elements after the dose content (e.g. inside
the trailing private tags of the Toshiba DoseCheck report) leaves a valid, shorter DICOM file
that cannot be told from an intact one; it must then give the *same* exam, and is counted
("truncated same"). Another seed, more offsets and flips: ``RECURCT_CORRUPTION_SEED=7
RECURCT_CORRUPTION_CUTS=200 RECURCT_CORRUPTION_FLIPS=80 pytest tests/test_rdsr_corruption.py
-s``.
"""

from __future__ import annotations

import collections
import os
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydicom")

from recurct.errors import RecurctWarning
from recurct.io.rdsr import read_rdsr

RDSR = Path(__file__).parent / "data" / "rdsr"
REPORTS = sorted(RDSR.glob("*.dcm"))
N_CUTS = int(os.environ.get("RECURCT_CORRUPTION_CUTS", "30"))  # truncation offsets per report
N_FLIPS = int(os.environ.get("RECURCT_CORRUPTION_FLIPS", "60"))  # byte flips per report
SEED = int(os.environ.get("RECURCT_CORRUPTION_SEED", "20261127"))
# values whose loss (non-null -> null) must be flagged
LOST = (
    "dlp_mgycm",
    "reported_dlp_total_mgycm",
    "ctdivol_mgy",
    "effective_dose_msv",
    "body_region",
    "exam_date",
    "study_uid",
    "patient_id",
    "age_years",
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9
    return a == b


def _partial(want: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Differences in the events or the DLPs beyond rounding (as ``dlp_total_mismatch``)."""
    out = {}
    if got["n_events"] != want["n_events"]:
        out["n_events"] = (want["n_events"], got["n_events"])
    for col in ("dlp_mgycm", "reported_dlp_total_mgycm"):
        a, b = want[col], got[col]
        if a is not None and b is not None:
            tol = max(0.05 * (want["n_events"] + 1), 1e-3 * abs(a))
            if abs(a - b) > tol:
                out[col] = (a, b)
    return out


def _cases(raw: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    cuts = [200 + (len(raw) - 200) * k // N_CUTS for k in range(N_CUTS)]
    cases = [("truncated", raw[:cut]) for cut in cuts]
    for _ in range(N_FLIPS):
        data = bytearray(raw)
        data[rng.randrange(132, len(raw))] ^= rng.randrange(1, 256)  # past the preamble
        cases.append(("flipped", bytes(data)))
    return cases


@pytest.mark.slow
def test_corrupted_reports_never_crash_never_give_partial_exams(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    unflagged: list[tuple[str, str, dict[str, Any]]] = []
    free_text: collections.Counter[str] = collections.Counter()
    for src in REPORTS:
        intact = read_rdsr(src).exams
        want = intact.row(0, named=True)
        for kind, data in _cases(src.read_bytes(), rng):
            f = tmp_path / "corrupt.dcm"
            f.write_bytes(data)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = read_rdsr(f)
                exams, report = result.exams, result.report
            except Exception as exc:  # pragma: no cover - the test fails on any
                outcomes[kind, "crash"] += 1
                unflagged.append((src.name, kind, {"exception": repr(exc)}))
                continue
            problems = report.problems.height > 0
            ours = [w for w in caught if issubclass(w.category, RecurctWarning)]
            if len(ours) != int(problems):
                outcomes[kind, "WARNING NOT ONE PER PROBLEM READ"] += 1
                unflagged.append((src.name, kind, {"warnings": [str(w) for w in ours]}))
            if exams.height == 0:
                outcomes[kind, "skipped" if problems else "EMPTY, no problem"] += 1
                continue
            got = exams.row(0, named=True)
            flagged = problems or bool(got["dlp_total_mismatch"])
            differ = {c: (want[c], got[c]) for c in got if not _same(want[c], got[c])}
            must_flag = _partial(want, got)
            must_flag |= {c: differ[c] for c in LOST if c in differ and got[c] is None}
            if kind == "truncated" and differ:
                outcomes[kind, "PARTIAL"] += 1
                unflagged.append((src.name, kind, differ))
            elif must_flag and not flagged:
                outcomes[kind, "PARTIAL OR LOST, not flagged"] += 1
                unflagged.append((src.name, kind, must_flag))
            elif differ and flagged:
                outcomes[kind, "differs, flagged"] += 1
            elif differ:
                outcomes[kind, "valid substitution, not detectable"] += 1
                free_text.update(differ.keys())
            else:
                outcomes[kind, "same" + (", problem listed" if flagged else "")] += 1
    for (kind, what), n in sorted(outcomes.items()):
        print(f"{kind:9} {what:40} {n:5}")
    print("undetectable substitutions by column:", dict(free_text))
    assert sum(outcomes.values()) == len(REPORTS) * (N_CUTS + N_FLIPS)
    assert not unflagged, unflagged[:5]
    # a truncation is never read as a smaller exam: every cut file is skipped, or (cut at an
    # element boundary after the dose content: a valid file) gives exactly the intact exam
    assert outcomes["truncated", "skipped"] + outcomes["truncated", "same"] == len(REPORTS) * N_CUTS
