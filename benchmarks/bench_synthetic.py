"""Benchmark of recurct.synthetic: in-memory generation and streaming to Parquet.

Usage::

    python benchmarks/bench_synthetic.py                 # rehani2020 in memory (best of 3)
    python benchmarks/bench_synthetic.py --stream 1e8    # also 10^8 exams to Parquet
    python benchmarks/bench_synthetic.py --summary       # also patient_summary on rehani2020

It also times ``generate("sodickson2009")`` (a look-back selection: entrants are simulated
until 31,462 have a CT in 2007).

Targets (issue 8): the Rehani-scale cohort (2.5 M patients, 4.8 M exams) in < 10 s on 2
cores; 10^8 exams streamed to Parquet with peak memory < 4 GiB. The streaming run happens in
a child process so that its peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_gib(who: int) -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(who).ru_maxrss / 2**20


def bench_generate(repeat: int, threads: int) -> dict[str, float]:
    from recurct.synthetic import generate

    generate("small")  # numba compile / cache load
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        df = generate("rehani2020", seed=0, threads=threads)
        times.append(time.perf_counter() - t0)
    return {
        "patients": df["patient_id"].n_unique(),
        "exams": df.height,
        "best_s": min(times),
        "threads": threads,
        "exams_per_s": df.height / min(times),
    }


def bench_sodickson(repeat: int) -> dict[str, float]:
    from recurct.synthetic import generate

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        df = generate("sodickson2009", seed=0)
        times.append(time.perf_counter() - t0)
    return {"patients": df["patient_id"].n_unique(), "exams": df.height, "best_s": min(times)}


def bench_summary(repeat: int) -> dict[str, float]:
    """patient_summary (recurct.cumulative_dose) of the rehani2020 cohort."""
    from recurct.synthetic import generate
    from recurct.synthetic.calibration import patient_summary

    df = generate("rehani2020", seed=0)
    out: dict[str, float] = {"exams": df.height}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        patient_summary(df)
        times.append(time.perf_counter() - t0)
    out["best_s"] = min(times)
    return out


def _stream_child(n_exams: float, out: str, threads: int) -> None:
    """Child process: stream about n_exams to Parquet, print a JSON line with the numbers."""
    from recurct.synthetic import load_profile, write_cohort
    from recurct.synthetic.calibration import cohort_statistics

    prof = load_profile("rehani2020")
    per_patient = cohort_statistics(prof, fraction=0.1)["n_exams"] / prof.n_patients
    n_patients = int(n_exams / per_patient)
    t0 = time.perf_counter()
    folder = write_cohort(prof, out, n_patients=n_patients, seed=0, threads=threads)
    secs = time.perf_counter() - t0
    import polars as pl

    n = pl.scan_parquet(f"{folder}/**/*.parquet").select(pl.len()).collect().item()
    size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet"))
    print(
        json.dumps(
            {
                "patients": n_patients,
                "exams": n,
                "seconds": secs,
                "exams_per_s": n / secs,
                "parquet_gib": size / 2**30,
                "peak_rss_gib": _peak_rss_gib(resource.RUSAGE_SELF),
                "threads": threads,
            }
        )
    )


def bench_stream(n_exams: float, threads: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="recurct-bench-")
    try:
        cmd = [sys.executable, __file__, "--child", str(n_exams), tmp, str(threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    from peers import description  # (this script's folder is on sys.path)

    ap = argparse.ArgumentParser(description=description(__doc__))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stream", type=float, default=None, help="exams to stream, e.g. 1e8")
    ap.add_argument("--summary", action="store_true", help="time patient_summary too")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _stream_child(float(args.child[0]), args.child[1], int(args.child[2]))
        return
    g = bench_generate(args.repeat, args.threads)
    print(
        f"generate('rehani2020'): {g['patients']:,} patients, {g['exams']:,} exams in "
        f"{g['best_s']:.2f} s (best of {args.repeat}, threads={g['threads']}; "
        f"{g['exams_per_s'] / 1e6:.2f} M exams/s)"
    )
    d = bench_sodickson(args.repeat)
    print(
        f"generate('sodickson2009'): {d['patients']:,} selected patients, {d['exams']:,} "
        f"exams in {d['best_s']:.2f} s (best of {args.repeat})"
    )
    if args.summary:
        m = bench_summary(args.repeat)
        print(
            f"patient_summary(rehani2020, {m['exams']:,} exams): {m['best_s']:.2f} s "
            f"(best of {args.repeat})"
        )
    if args.stream:
        s = bench_stream(args.stream, args.threads)
        print(
            f"stream to Parquet: {s['patients']:,} patients, {s['exams']:,} exams in "
            f"{s['seconds']:.1f} s ({s['exams_per_s'] / 1e6:.2f} M exams/s), "
            f"{s['parquet_gib']:.2f} GiB on disk, peak RSS {s['peak_rss_gib']:.2f} GiB"
        )


if __name__ == "__main__":
    main()
