"""Benchmark recurct.io.read_rdsr: reports per second for workers=1 and workers=2.

Copies the real vendor reports of tests/data/rdsr into N files in a temporary folder, giving
each copy group new Study/SOP Instance UIDs (so copies are distinct studies, while the three
Siemens Multi reports of one group still share a study and are merged), then reads the folder
``--repeat`` times per worker count, the order of the worker counts in each round a row of a
Williams design (``peers.round_orders``: each count after each other equally often; best time
shown, slowest beside it). Every read is checked (:func:`check`): every file read, none
skipped; one exam per distinct study written (5 per group of the 7 reports: 300 files give
214 exams), the duplicate events merged those the fixture documents (tests/data/rdsr/README.md:
Multi-2 repeats 1 event of Multi-1, Multi-3 repeats 2: 3 per full group, 300 files 129), and
the same exams whatever the workers; a difference stops the script with exit code 1.

    python benchmarks/bench_rdsr.py            # N = 10**4
    python benchmarks/bench_rdsr.py --n 100000 # 10**5 (minutes)
    python benchmarks/bench_rdsr.py --n 700 --workers 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pydicom
from peers import description, round_orders  # (this folder is on the path when the script runs)

from recurct.io.rdsr import read_rdsr

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "rdsr"
ROOT_UID = "1.2.826.0.1.3680043.10.543."  # example root; only for these synthetic copies
#: The templates (tests/data/rdsr, sorted by name, the order of a copy group) and the events
#: each repeats of the reports before it in its study, as tests/data/rdsr/README.md documents
#: them: Multi-1..3 are one study reported after each acquisition (Multi-2 repeats event 1,
#: Multi-3 events 1-2); the others are studies of their own.
REPEATED_EVENTS = {
    "CT-ESR-GE_Optima.dcm": 0,
    "CT-RDSR-Siemens-Multi-1.dcm": 0,
    "CT-RDSR-Siemens-Multi-2.dcm": 1,
    "CT-RDSR-Siemens-Multi-3.dcm": 2,
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm": 0,
    "CT-RDSR-ToshibaPixelMed.dcm": 0,
    "CT-RDSR-Toshiba_DoseCheck.dcm": 0,
}


def make_copies(n: int, folder: Path) -> tuple[int, int]:
    """Write ``n`` copies of the templates into ``folder``: the number of files and of
    distinct studies written."""
    templates = [pydicom.dcmread(p) for p in sorted(DATA.glob("*.dcm"))]
    originals = [str(t.StudyInstanceUID) for t in templates]  # before the first rewrite
    studies = sorted(set(originals))
    written = 0
    group = 0
    used: set[str] = set()
    while written < n:
        new_study = {s: f"{ROOT_UID}{group}.{k}" for k, s in enumerate(studies)}
        for j, ds in enumerate(templates):
            if written >= n:
                break
            ds.StudyInstanceUID = new_study[originals[j]]
            used.add(ds.StudyInstanceUID)
            ds.SOPInstanceUID = f"{ROOT_UID}{group}.9{j}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            sub = folder / f"{group // 1000:04d}"
            sub.mkdir(exist_ok=True)
            ds.save_as(sub / f"r{group}_{j}")
            written += 1
        group += 1
    return written, len(used)


def expected_duplicates(n: int) -> int:
    """The duplicate events that reading ``n`` copies must merge, from the fixture's
    documented repeats (:data:`REPEATED_EVENTS`, not from a read): those of a full group of
    the templates (3) times the full groups, plus those of the last group's first templates.
    Raises :class:`RuntimeError` when tests/data/rdsr holds other templates."""
    names = sorted(p.name for p in DATA.glob("*.dcm"))
    if names != sorted(REPEATED_EVENTS):
        raise RuntimeError(
            f"{DATA} holds the templates {names}, not those of REPEATED_EVENTS in "
            f"{Path(__file__).name}: give each its repeated events"
        )
    repeats = [REPEATED_EVENTS[name] for name in names]
    full, rest = divmod(n, len(names))
    return full * sum(repeats) + sum(repeats[:rest])


def check(result: Any, want: dict[str, int]) -> list[str]:
    """How a :func:`read_rdsr` result differs from the counts ``want``: ``files`` (all
    read, none skipped), ``exams`` (the distinct studies written) and ``duplicates``
    (:func:`expected_duplicates`)."""
    report = result.report
    got = {
        "files": report.files_read,
        "skipped": report.files_skipped,
        "exams": result.exams.height,
        "duplicates": report.duplicate_events,
    }
    need = {**want, "skipped": 0}
    return [f"{k}: {got[k]}, expected {need[k]}" for k in need if got[k] != need[k]]


def rounds(workers: list[int], repeat: int) -> list[list[int]]:
    """The worker counts of each round: the rows of a Williams design in turn
    (``peers.round_orders``), so that no count always comes after the same one."""
    places = tuple(str(i) for i in range(len(workers)))
    return [[workers[int(i)] for i in order] for order in round_orders(places, repeat)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=description(__doc__))
    ap.add_argument("--n", type=int, default=10**4, help="number of report files")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="reads per worker count (best shown)")
    args = ap.parse_args(argv)
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    read: dict[int, tuple[int, int]] = {}  # workers -> (exams, duplicate events) of a read
    problems: list[str] = []
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        n, studies = make_copies(args.n, folder)
        print(f"wrote {n} reports in {time.perf_counter() - t0:.1f} s")
        want = {"files": n, "exams": studies, "duplicates": expected_duplicates(n)}
        for order in rounds(args.workers, max(1, args.repeat)):
            for w in order:
                t0 = time.perf_counter()
                result = read_rdsr(folder, workers=w, progress=False)
                times[w].append(time.perf_counter() - t0)
                problems += [f"workers={w}: {p}" for p in check(result, want)]
                read[w] = (result.exams.height, result.report.duplicate_events)
                exams = result.exams.sort("study_uid")
                if first is None:
                    first = exams
                elif not exams.equals(first):
                    problems.append(f"workers={w}: the exams differ from the first read's")
                del result, exams
    for w, ts in times.items():
        best = min(ts)
        print(
            f"workers={w}: {n} reports -> {read[w][0]} exams in {best:.1f} s (slowest of "
            f"{len(ts)} {max(ts):.1f} s), {n / best:.0f} reports/s "
            f"({read[w][1]} duplicate events merged)"
        )
    for p in dict.fromkeys(problems):
        print(f"CHECK FAILED: {p}")
    print(
        "checks: FAILED"
        if problems
        else f"checks: every read: {n} files, none skipped, {want['exams']} exams (one per "
        f"study written), {want['duplicates']} duplicate events merged, the same exams"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
