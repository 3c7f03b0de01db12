"""Benchmark recurct.io.read_rdsr: reports per second for workers=1 and workers=2.

Copies the real vendor reports of tests/data/rdsr into N files in a temporary folder, giving
each copy group new Study/SOP Instance UIDs (so copies are distinct studies, while the three
Siemens Multi reports of one group still share a study and are merged), then reads the folder
``--repeat`` times per worker count, the order of the worker counts rotated each round (best
time shown, slowest beside it). Every read is checked (:func:`check`): every file read, none
skipped; one exam per distinct study written (5 per group of the 7 reports: 300 files give
214 exams), the events merged those of the copy groups (each full group as the templates
read alone), and the same exams whatever the workers; a difference stops the script with exit
code 1.

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

from recurct.io.rdsr import read_rdsr

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "rdsr"
ROOT_UID = "1.2.826.0.1.3680043.10.543."  # example root; only for these synthetic copies


def make_copies(n: int, folder: Path) -> tuple[int, int]:
    """Write ``n`` copies of the templates into ``folder``: the number of files and of
    distinct studies written."""
    templates = [pydicom.dcmread(p) for p in sorted(DATA.glob("*.dcm"))]
    studies = sorted({str(t.StudyInstanceUID) for t in templates})
    written = 0
    group = 0
    used: set[str] = set()
    while written < n:
        new_study = {s: f"{ROOT_UID}{group}.{k}" for k, s in enumerate(studies)}
        for j, ds in enumerate(templates):
            if written >= n:
                break
            ds.StudyInstanceUID = new_study[_orig(ds)]
            used.add(ds.StudyInstanceUID)
            ds.SOPInstanceUID = f"{ROOT_UID}{group}.9{j}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            sub = folder / f"{group // 1000:04d}"
            sub.mkdir(exist_ok=True)
            ds.save_as(sub / f"r{group}_{j}")
            written += 1
        group += 1
    return written, len(used)


_ORIG: dict[int, str] = {}


def _orig(ds: pydicom.Dataset) -> str:
    """The template's original Study Instance UID (remembered before the first rewrite)."""
    return _ORIG.setdefault(id(ds), str(ds.StudyInstanceUID))


def expected_duplicates(n: int) -> int:
    """The duplicate events that reading ``n`` copies must merge: those of a full group of
    the templates, read alone (outside the timing), times the full groups, plus those of the
    last, partial group."""
    per_group = len(list(DATA.glob("*.dcm")))
    full, rest = divmod(n, per_group)
    merged = {}
    for k in {per_group, rest} - {0}:
        with tempfile.TemporaryDirectory() as tmp:
            make_copies(k, Path(tmp))
            merged[k] = read_rdsr(tmp, workers=1, progress=False).report.duplicate_events
    return full * merged.get(per_group, 0) + merged.get(rest, 0)


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
    """The worker counts of each round: their order rotated by one each round."""
    m = len(workers)
    return [workers[r % m :] + workers[: r % m] for r in range(repeat)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
