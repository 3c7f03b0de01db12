"""Benchmark recurct.io.read_rdsr: reports per second for workers=1 and workers=2.

Copies the real vendor reports of tests/data/rdsr into N files in a temporary folder, giving
each copy group new Study/SOP Instance UIDs (so copies are distinct studies, while the three
Siemens Multi reports of one group still share a study and are merged), then reads the folder.

    python benchmarks/bench_rdsr.py            # N = 10**4
    python benchmarks/bench_rdsr.py --n 100000 # 10**5 (minutes)
    python benchmarks/bench_rdsr.py --n 700 --workers 1 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pydicom

from recurct.io.rdsr import read_rdsr

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "rdsr"
ROOT_UID = "1.2.826.0.1.3680043.10.543."  # example root; only for these synthetic copies


def make_copies(n: int, folder: Path) -> int:
    templates = [pydicom.dcmread(p) for p in sorted(DATA.glob("*.dcm"))]
    studies = sorted({str(t.StudyInstanceUID) for t in templates})
    written = 0
    group = 0
    while written < n:
        new_study = {s: f"{ROOT_UID}{group}.{k}" for k, s in enumerate(studies)}
        for j, ds in enumerate(templates):
            if written >= n:
                break
            ds.StudyInstanceUID = new_study[_orig(ds)]
            ds.SOPInstanceUID = f"{ROOT_UID}{group}.9{j}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            sub = folder / f"{group // 1000:04d}"
            sub.mkdir(exist_ok=True)
            ds.save_as(sub / f"r{group}_{j}")
            written += 1
        group += 1
    return written


_ORIG: dict[int, str] = {}


def _orig(ds: pydicom.Dataset) -> str:
    """The template's original Study Instance UID (remembered before the first rewrite)."""
    return _ORIG.setdefault(id(ds), str(ds.StudyInstanceUID))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10**4, help="number of report files")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        n = make_copies(args.n, folder)
        print(f"wrote {n} reports in {time.perf_counter() - t0:.1f} s")
        for w in args.workers:
            t0 = time.perf_counter()
            result = read_rdsr(folder, workers=w, progress=False)
            exams, report = result.exams, result.report
            dt = time.perf_counter() - t0
            print(
                f"workers={w}: {n} reports -> {exams.height} exams in {dt:.1f} s, "
                f"{n / dt:.0f} reports/s ({report.files_skipped} skipped, "
                f"{report.duplicate_events} duplicate events merged)"
            )


if __name__ == "__main__":
    main()
