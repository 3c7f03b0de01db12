"""Scaling benchmark: the patients table of 10^6-10^8 exams in memory, out of core and on Dask.

The exams are a synthetic folder of Parquet files written chunk by chunk (bounded memory);
each path then runs in a fresh Python process, so that its peak memory is its own:

* ``memory``     ``polars.read_parquet(folder)`` then :func:`recurct.cumulative_dose`;
* ``outofcore``  :func:`recurct.outofcore.cumulative_dose_chunked` on the folder (K patient
  buckets written to a temporary Parquet dataset, then each bucket in memory);
* ``write``      :func:`recurct.outofcore.write_patients`: the same, the patients table
  written to a folder bucket by bucket (memory bounded by one bucket);
* ``dask``       :func:`recurct.distributed.cumulative_dose` on ``dd.read_parquet(folder)``
  with a ``LocalCluster`` of 1, 2, ... worker processes (one thread each).

Reported per setting (the fastest of ``--repeat`` runs, the slowest beside it): the seconds
of the computation itself (after imports, cluster start and a numba warm-up on a sample of
the data, which are in the ``wall`` column), millions of exams per second, the peak resident
memory of the whole process tree (sampled every 0.1 s: for Dask the client, scheduler and
workers together), K (buckets or partitions) and, for Dask, the bytes moved between workers
(task results received from another worker, plus P2P comms where Dask's shuffle is used; the
bytes a P2P shuffle writes to the workers' disks are in the ``--json`` output); the
1-minute load average before and after each run; for the out-of-core paths the seconds of
each phase (the sorted-source check, id bounds, split, reading, computing, writing; summed over
the buckets, as logged by ``recurct.outofcore`` at DEBUG level). The
out-of-core path runs with the library's default K (``ceil(N / 1e7)``) and, where that is
1 (it then just computes in memory), also with K = 4 to time the bucket split. Every run is
checked (:func:`check`): the numbers of patients and of exams equal what the generator wrote
and the total CED the sum of all doses (rel. 1e-9); the number of patients >= 100 mSv, the
number reaching it and the sum of their days to it (exactly), the total CED and the sum of
the largest 1826-day windows (rel. 1e-9) equal the in-memory path's and, up to 10^6 exams
(:data:`REFERENCE_MAX`), those of an independent NumPy reference computed from the exams read
whole (``peers.reference``). What cannot be compared (no in-memory path run, no reference
above 10^6 exams) is printed as "not checked".

Usage (from the repository root)::

    python benchmarks/bench_scale.py --exams 1e6,1e7
    python benchmarks/bench_scale.py --exams 1e7 --paths outofcore,dask --workers 1,2
    # the large run, on a quiet machine: 1.6 GiB of Parquet, plus as much again for the
    # out-of-core buckets, all under --tmpdir (Dask moves the exams in memory)
    python benchmarks/bench_scale.py --exams 1e8 --workers 1,2 --tmpdir /var/tmp --keep-data
    # the same exams sorted by patient (a copy, written once): out of core with no split
    python benchmarks/bench_scale.py --exams 1e8 --paths outofcore,write --sorted --keep-data

Measured at 10^8 exams on the 2-core reference VM (docs/scaling.md, the table of "Re-measured
on the VM's later CPU (2026-11-29)", best of 2, the slowest beside it): writing the data
190 s (once; reused with ``--keep-data``); in memory 14.6 s (24.4 s, peak 7.48 GiB); out of
core with the default K = 10, the table returned, 14.1 s (15.1 s, peak 4.18 GiB), and
``write_patients`` 20.7 s (21.3 s, peak 1.34 GiB). Dask at 10^8 on the VM's earlier CPU
(docs/scaling.md, "Dask without the global row numbers and the P2P shuffle (2026-11-27,
late)", one run each at load 4-5): 30.0 s with 1 worker (peak 4.55 GiB), 26.6 s with 2
(peak 4.81 GiB, 1.36 GiB moved between them), 50 partitions. Under heavy load from other
jobs the same runs took up to 4x longer.

Needs the ``dask`` extra (``distributed``, which brings ``psutil``, used for the memory).

``--exams 1e8`` runs the in-memory path only where its estimated peak (110 bytes per exam)
fits in 60 % of the machine's memory (it does on 24 GiB), and Dask with ``--workers`` as
given; ``--out-of-core`` / ``--write`` / ``--dask`` / ``--in-memory`` (or ``--paths``) pick
paths. The
data are reused when the folder already holds them (same N and seed) and removed at the end
unless ``--keep-data``. Timings are noisy on a shared machine: repeat on a quiet one.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from peers import description, exam_counts, reference

PATHS = ("memory", "outofcore", "write", "dask")
THRESHOLD = 100.0
WINDOW = 1826
#: peak bytes per exam of the in-memory path (read + prepare + kernels), for the size check
MEMORY_BYTES_PER_EXAM = 110
#: memory the Dask workers may use together (LocalCluster memory_limit = this / workers)
DASK_MEMORY_BYTES = 16 * 2**30
#: the library's default rows per bucket (recurct.outofcore.cumulative_dose_chunked)
ROWS_PER_BUCKET = 10_000_000
#: K also measured when the default gives one bucket (N <= 1e7), to time the bucket split
FORCED_BUCKETS = 4
CHUNK_ROWS = 10_000_000
#: version of the data layout written by write_dataset; older folders are rewritten
LAYOUT = 3
FILE_ROWS = 2_000_000
#: environment variable telling the Dask child to unset the workers' MALLOC_TRIM_THRESHOLD_
NO_MALLOC_TRIM = "RECURCT_BENCH_NO_MALLOC_TRIM"
#: up to this many exams every path is also checked against an independent reference
#: (peers.reference, computed from the exams read whole)
REFERENCE_MAX = 1_000_000
#: the summary's numbers compared exactly (the others within RTOL)
EXACT = ("n_patients", "n_exams", "n_reached", "n_days", "sum_days")
RTOL = 1e-9


# --------------------------------------------------------------------------- data


def _exam_counts(n: int, seed: int, mean_exams: float = 1.9) -> np.ndarray:
    """Exams per patient summing to n (peers.exam_counts: the benchmark's law)."""
    return exam_counts(n, np.random.default_rng([seed, 1]), mean_exams).astype(np.int32)


def _multiplier(n: int) -> int:
    """``a`` such that row -> (a*row) mod n is a bijection mapping consecutive virtual rows
    (the exams of one patient) to rows about 0.618 n apart, i.e. to different files."""
    step = max(1, int(n * 0.6180339887)) | 1
    while math.gcd(step, n) != 1:
        step += 2
    return pow(step, -1, n) if n > 1 else 0


def write_dataset(folder: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """Write ``n`` synthetic exams to ``folder`` as Parquet files, chunk by chunk.

    Patient ``p`` has ``counts[p]`` exams (Zipf, ~1.9 per patient, 73 % with one exam, up to
    100). Row ``i`` of the dataset is exam ``(a*i) mod n`` of the patient-sorted sequence, with
    ``a`` chosen so that consecutive exams of a patient lie ~0.618 n rows apart: a patient's
    exams are scattered over the files. Ids are int64 (a fixed odd multiple of
    the patient number plus an offset, so not dense and not sorted); a patient's exams fall
    within 5 years of a start day uniform in 2000-2019, at a random time of day;
    doses are lognormal (median 7 mSv, sigma 0.8). Memory: ``counts`` and its cumulative sum
    (12 bytes per patient) plus one chunk of ``CHUNK_ROWS`` rows.

    Returns the metadata written to ``folder/_meta.json`` (n, patients, total dose, ...).
    """
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    counts = _exam_counts(n, seed)
    cum = np.cumsum(counts, dtype=np.int64)
    n_patients = int(counts.size)
    a = _multiplier(n)
    # per-patient first day from a hash of the patient number (no P-sized array needed)
    day_lo, day_span = 10_957, 7_305  # first exams 2000-01-01 .. 2019-12-31
    n_files = max(4, math.ceil(n / FILE_ROWS))
    file_rows = math.ceil(n / n_files)
    total_dose = 0.0
    f = 0
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        rng = np.random.default_rng([seed, 2, start])
        rows = np.arange(start, stop, dtype=np.int64)
        virt = (rows * a) % n  # a permutation of 0..n-1
        patient = np.searchsorted(cum, virt, side="right")
        del rows, virt
        mixed = (patient.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        day0 = day_lo + (mixed % np.uint64(day_span)).astype(np.int64)
        offset = np.minimum(rng.exponential(400.0, stop - start), 1826).astype(np.int64)
        seconds = rng.integers(7 * 3600, 20 * 3600, stop - start)
        micros = ((day0 + offset) * 86_400 + seconds) * 1_000_000
        dose = rng.lognormal(np.log(7.0), 0.8, stop - start)
        total_dose += float(dose.sum())
        pid = patient.astype(np.int64) * 7_919 + 1_000_003
        del patient, mixed, day0, offset, seconds
        chunk = pl.DataFrame(
            {
                "patient_id": pid,
                "exam_date": pl.Series(micros).cast(pl.Datetime("us")),
                "effective_dose_msv": dose,
            }
        )
        del pid, micros, dose
        for part in chunk.iter_slices(n_rows=file_rows):
            part.write_parquet(folder / f"part-{f:05d}.parquet")
            f += 1
        del chunk
    meta = {
        "layout": LAYOUT,
        "n_exams": n,
        "seed": seed,
        "n_patients": n_patients,
        "total_dose_msv": total_dose,
        "n_files": f,
        "bytes_on_disk": sum(p.stat().st_size for p in folder.glob("*.parquet")),
        "write_seconds": round(time.perf_counter() - t0, 2),
    }
    (folder / "_meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def ensure_dataset(root: Path, n: int, seed: int) -> tuple[Path, dict[str, Any], bool]:
    """The dataset folder for ``n`` exams under ``root``: reused if complete, else written."""
    folder = root / f"exams-{n:.0e}-seed{seed}".replace("+", "")
    meta_file = folder / "_meta.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if (meta.get("n_exams"), meta.get("seed"), meta.get("layout")) == (n, seed, LAYOUT):
            return folder, meta, True
    shutil.rmtree(folder, ignore_errors=True)
    return folder, write_dataset(folder, n, seed), False


def ensure_sorted(folder: Path, meta: dict[str, Any]) -> tuple[Path, dict[str, Any], bool]:
    """A copy of the dataset in ``folder`` sorted by patient (stable: each patient's exams
    in the order of the dataset), in files of ``FILE_ROWS`` rows with polars' default row
    groups: the out-of-core paths then read it with no split. Reused if complete."""
    target = folder.with_name(folder.name + "-sorted")
    meta_file = target / "_meta.json"
    if meta_file.exists() and json.loads(meta_file.read_text()).get("source") == meta:
        return target, json.loads(meta_file.read_text()), True
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    t0 = time.perf_counter()
    exams = pl.scan_parquet(folder / "*.parquet").sort("patient_id", maintain_order=True)
    n_files = 0
    for n_files, part in enumerate(exams.collect().iter_slices(FILE_ROWS), start=1):
        part.write_parquet(target / f"part-{n_files - 1:05d}.parquet")
    sorted_meta = {
        **meta,
        "n_files": n_files,
        "bytes_on_disk": sum(p.stat().st_size for p in target.glob("*.parquet")),
        "write_seconds": round(time.perf_counter() - t0, 2),
        "source": meta,
    }
    meta_file.write_text(json.dumps(sorted_meta, indent=1))
    return target, sorted_meta, False


# --------------------------------------------------------------------------- child runs


def _sample(folder: str, n: int = 200_000) -> Any:
    """The first ``n`` exams of the dataset (a polars DataFrame), for warming up."""
    return pl.scan_parquet(Path(folder) / "*.parquet").head(n).collect()


def _warm_up(sample: Any) -> None:
    """Compile (or load from the numba cache) every kernel the path will use, on a sample.

    The sample comes from the dataset itself, so that the same kernel variants (dtypes,
    packed keys, multi-exam paths) are exercised as in the timed run.
    """
    import recurct

    recurct.cumulative_dose(sample, thresholds=[THRESHOLD], window_days=[WINDOW])


#: The numbers every path must agree on, as polars expressions over a patients table:
#: patients, exams, patients >= 100 mSv, total CED, the patients whose running CED reached
#: 100 mSv and the sum of their days to it, and the sum of the patients' largest 1826-day
#: windows (:func:`_summary` and :func:`child_write`; the Dask path computes the same
#: numbers with Dask, :func:`reference_summary` from the reference).
_SUMMARY_EXPRS = (
    pl.len().alias("n_patients"),
    pl.col("n_exams").sum(),
    pl.col(f"reached_{THRESHOLD:g}").sum().alias("n_reached"),
    pl.col("ced_msv").sum().alias("total_ced"),
    pl.col(f"days_to_{THRESHOLD:g}").count().alias("n_days"),
    pl.col(f"days_to_{THRESHOLD:g}").sum().alias("sum_days"),
    pl.col(f"max_ced_{WINDOW}").sum().alias("sum_wmax"),
)


def _summary(patients: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """:data:`_SUMMARY_EXPRS` of a polars patients table (or a lazy scan of one)."""
    row = patients.lazy().select(_SUMMARY_EXPRS).collect().row(0, named=True)
    return {k: float(v) if k in ("total_ced", "sum_wmax") else int(v) for k, v in row.items()}


def reference_summary(folder: str | Path) -> dict[str, Any]:
    """:func:`_summary`'s numbers from ``peers.reference`` (plain NumPy, independent of
    recurct) of the exams of ``folder`` read whole."""
    ref = reference(pl.read_parquet(Path(folder) / "*.parquet"))
    a, b, c = ref["a"], ref["b"], ref["c"]
    return {
        "path": "reference",
        "workers": 0,
        "n_patients": int(a.height),
        "n_exams": int(a["n"].sum()),
        "n_reached": int((a["ced"] >= THRESHOLD).sum()),
        "total_ced": float(a["ced"].sum()),
        "n_days": int(b.height),
        "sum_days": int(b["days"].sum()),
        "sum_wmax": float(c["wmax"].sum()),
    }


def child_memory(folder: str, workers: int, tmpdir: str | None) -> dict[str, Any]:
    import recurct

    _warm_up(_sample(folder))
    t0 = time.perf_counter()
    exams = pl.read_parquet(Path(folder) / "*.parquet")
    read = time.perf_counter() - t0
    patients = recurct.cumulative_dose(exams, thresholds=[THRESHOLD], window_days=[WINDOW])
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "read_seconds": read, **_summary(patients)}


class _Phases(logging.Handler):
    """Sums the phase seconds that recurct.outofcore logs at DEBUG level (always collected)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}
        self.logger = logging.getLogger("recurct.outofcore")

    def emit(self, record: logging.LogRecord) -> None:
        _, phase, seconds = record.getMessage().split()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + float(seconds), 2)

    def __enter__(self) -> _Phases:
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


def _chunked_args(buckets: int, tmpdir: str | None) -> dict[str, Any]:
    """The out-of-core arguments: ``buckets`` 0 is the library's default K."""
    return {
        "thresholds": [THRESHOLD],
        "window_days": [WINDOW],
        "buckets": buckets or None,
        "tmpdir": tmpdir,
        "progress": False,
    }


def child_outofcore(folder: str, buckets: int, tmpdir: str | None) -> dict[str, Any]:
    """``buckets`` 0: the library's default K (ceil(N / 1e7)); else K = ``buckets``."""
    from recurct.outofcore import cumulative_dose_chunked

    _warm_up(_sample(folder))
    with _Phases() as phases:
        t0 = time.perf_counter()
        patients = cumulative_dose_chunked(folder, **_chunked_args(buckets, tmpdir))
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "phases": phases.seconds, **_summary(patients)}


def child_write(folder: str, buckets: int, tmpdir: str | None) -> dict[str, Any]:
    """:func:`recurct.outofcore.write_patients` to a folder (one bucket in memory at a time);
    the summary is read back from the folder afterwards, outside the timing."""
    from recurct.outofcore import write_patients

    _warm_up(_sample(folder))
    out = Path(tempfile.mkdtemp(prefix="recurct-bench-patients-", dir=tmpdir)) / "patients"
    try:
        with _Phases() as phases:
            t0 = time.perf_counter()
            write_patients(folder, out, **_chunked_args(buckets, tmpdir))
            seconds = time.perf_counter() - t0
        summary = _summary(pl.scan_parquet(out / "*.parquet"))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return {"seconds": seconds, "phases": phases.seconds, **summary}


def _metrics(dask_scheduler: Any) -> dict:
    """The scheduler's cumulative worker metrics (run on the scheduler)."""
    return dict(dask_scheduler.cumulative_worker_metrics)


def _shuffle_bytes(metrics: dict) -> dict[str, int]:
    """Bytes through the P2P shuffle's comms (sent to workers) and disk buffers."""
    out = {"shuffle_bytes": 0, "shuffle_disk_bytes": 0}
    for key, value in metrics.items():
        if not (isinstance(key, tuple) and key[0] == "p2p" and key[-2:] == ("process", "bytes")):
            continue
        if "background-comms" in key:
            out["shuffle_bytes"] += int(value)
        elif "background-disk" in key:
            out["shuffle_disk_bytes"] += int(value)
    return out


def _received_bytes(dask_worker: Any) -> int:
    """Bytes this worker has received from other workers as task results (run on each
    worker): the pieces of exams moved by recurct.distributed outside a P2P shuffle."""
    return int(sum(t["total"] for t in dask_worker.transfer_incoming_log))


def _task_seconds(metrics: dict) -> dict[str, float]:
    """Seconds spent in tasks, by task prefix (summed over workers), largest first."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(key, tuple) and key[0] == "execute" and key[-1] == "seconds":
            out[str(key[1])] = out.get(str(key[1]), 0.0) + float(value)
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])[:6]}


def child_dask(folder: str, workers: int, tmpdir: str | None) -> dict[str, Any]:
    sample = _sample(folder)
    _warm_up(sample)
    # the workers' scratch (dask-scratch-space) in a folder of its own, removed afterwards
    scratch = tempfile.mkdtemp(prefix="recurct-bench-dask-", dir=tmpdir)
    try:
        return _run_dask(folder, workers, sample, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_dask(folder: str, workers: int, sample: Any, scratch: str) -> dict[str, Any]:
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from recurct.distributed import cumulative_dose

    kwargs: dict[str, Any] = {"local_directory": scratch}
    if os.environ.get(NO_MALLOC_TRIM):
        # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
        # mmap threshold: every large array is then a fresh mapping, with its page faults
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=DASK_MEMORY_BYTES // workers,
            dashboard_address=":0",  # any free port: no warning when 8787 is taken
            **kwargs,
        ) as cluster,
        Client(cluster) as client,
    ):
        # warm up every worker through the same path, in its task threads
        small = dd.from_pandas(sample.to_pandas(), npartitions=4 * workers)
        cumulative_dose(small, thresholds=[THRESHOLD], window_days=[WINDOW]).ced_msv.sum().compute()
        client.run(_warm_up, sample)
        before = client.run_on_scheduler(_metrics)
        received = sum(client.run(_received_bytes).values())
        t0 = time.perf_counter()
        ddf = dd.read_parquet(f"{folder}/*.parquet")
        patients = cumulative_dose(ddf, thresholds=[THRESHOLD], window_days=[WINDOW])
        reached, days = f"reached_{THRESHOLD:g}", patients[f"days_to_{THRESHOLD:g}"]
        n_pat, n_ex, n_reached, total, n_days, sum_days, sum_wmax = dask.compute(
            patients["patient_id"].count(),
            patients["n_exams"].sum(),
            patients[reached].astype("int64").sum(),
            patients["ced_msv"].sum(),
            days.count(),
            days.sum(),
            patients[f"max_ced_{WINDOW}"].sum(),
        )
        seconds = time.perf_counter() - t0
        time.sleep(2.5)  # let the workers' heartbeats bring the shuffle metrics
        after = client.run_on_scheduler(_metrics)
        metrics = {k: v - before.get(k, 0) for k, v in after.items()}
        moved = _shuffle_bytes(metrics)
        moved["shuffle_bytes"] += sum(client.run(_received_bytes).values()) - received
        return {
            "seconds": seconds,
            "k": int(ddf.npartitions),
            "n_patients": int(n_pat),
            "n_exams": int(n_ex),
            "n_reached": int(n_reached),
            "total_ced": float(total),
            "n_days": int(n_days),
            "sum_days": round(float(sum_days)),
            "sum_wmax": float(sum_wmax),
            **moved,
            "task_seconds": _task_seconds(metrics),
        }


CHILDREN = {
    "memory": child_memory,
    "outofcore": child_outofcore,
    "write": child_write,
    "dask": child_dask,
}


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the process just ended
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # a child ended between listing and reading
            total += p.memory_info().rss
    return total


def run_child(path: str, folder: Path, setting: int, tmpdir: str | None) -> dict[str, Any]:
    """Run one path in a fresh interpreter; wall time and the peak RSS of its process tree.

    ``setting`` is the number of Dask workers, or K for the out-of-core path (0: default).
    """
    import psutil

    cmd = [sys.executable, __file__, "--_child", path, str(folder), str(setting), tmpdir or ""]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(popen.pid)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = popen.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if popen.returncode != 0:
        raise RuntimeError(f"{path} ({setting=}) failed with exit code {popen.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    # the 1-minute load average before and after: other jobs on the machine slow it down
    load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    result.update(path=path, workers=setting, wall=wall, peak_rss=peak[0], load=load)
    return result


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def _differences(r: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """The summary numbers of ``r`` that differ from ``ref``'s (:data:`EXACT` exactly, the
    others within :data:`RTOL`)."""
    out = []
    for key in (*EXACT, "total_ced", "sum_wmax"):
        a, b = r[key], ref[key]
        same = a == b if key in EXACT else math.isclose(a, b, rel_tol=RTOL)
        if not same:
            out.append(f"{key} {a!r}, {ref['path']} {b!r}")
    return out


def check(
    results: list[dict[str, Any]], meta: dict[str, Any], ref: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """Problems, and what was not checked: the patients, exams and total CED of every run
    against what the generator wrote (``meta``); every summary number (:func:`_summary`)
    against the in-memory path's (``results``' first ``memory`` run) and against the
    reference's (:func:`reference_summary`, or None where there is none)."""
    problems, unchecked = [], []
    n = meta["n_exams"]
    memory = next((r for r in results if r["path"] == "memory"), None)
    if memory is None:
        unchecked.append(f"N={n:.0e}: no in-memory run to compare the paths with")
    if ref is None:
        unchecked.append(f"N={n:.0e}: no reference (above {REFERENCE_MAX:.0e} exams)")
    for r in results:
        name = f"{r['path']} (workers={r['workers']}, K={r.get('k', '?')}, N={n:.0e})"
        if r["n_patients"] != meta["n_patients"]:
            problems.append(f"{name}: {r['n_patients']} patients, wrote {meta['n_patients']}")
        if r["n_exams"] != meta["n_exams"]:
            problems.append(f"{name}: {r['n_exams']} exams, wrote {meta['n_exams']}")
        if not math.isclose(r["total_ced"], meta["total_dose_msv"], rel_tol=RTOL):
            problems.append(f"{name}: total CED {r['total_ced']!r} != {meta['total_dose_msv']!r}")
        for other in (memory, ref):
            if other is not None and other is not r:
                problems += [f"{name}: {d}" for d in _differences(r, other)]
    return problems, unchecked


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'path':<10} {'N':>7} {'workers':>7} {'seconds':>8} {'(max)':>7} {'M exams/s':>9} "
        f"{'peak RSS GiB':>12} {'wall s':>7} {'K':>4} {'moved GiB':>12} {'patients':>11} "
        f"{'>=100 mSv':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        shuffled = f"{r['shuffle_bytes'] / 2**30:.2f}" if "shuffle_bytes" in r else "-"
        lines.append(
            f"{r['path']:<10} {r['n_exams']:>7.0e} {r['workers']:>7} {r['seconds']:>8.1f} "
            f"{r.get('seconds_max', r['seconds']):>7.1f} "
            f"{r['n_exams'] / r['seconds'] / 1e6:>9.2f} {r['peak_rss'] / 2**30:>12.2f} "
            f"{r['wall']:>7.1f} {r['k']:>4} {shuffled:>12} {r['n_patients']:>11} "
            f"{r['n_reached']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        path, folder, workers, tmpdir = argv[1:5]
        result = CHILDREN[path](folder, int(workers), tmpdir or None)
        print(json.dumps(result))
        return 0

    ap = argparse.ArgumentParser(description=description(__doc__))
    ap.add_argument("--exams", default="1e6,1e7", help="sizes N, comma-separated (1e6,1e7)")
    ap.add_argument("--workers", default="1,2", help="Dask worker counts (1,2)")
    ap.add_argument("--paths", default=None, help=f"comma-separated subset of {PATHS}")
    ap.add_argument("--in-memory", action="store_true", help="run the in-memory path")
    ap.add_argument("--out-of-core", action="store_true", help="run the out-of-core path")
    ap.add_argument(
        "--write", action="store_true", help="run write_patients (out of core, to a folder)"
    )
    ap.add_argument("--dask", action="store_true", help="run the Dask path")
    ap.add_argument("--tmpdir", default=None, help="folder for the data and temporary buckets")
    ap.add_argument("--keep-data", action="store_true", help="keep the Parquet data afterwards")
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting; the fastest is shown")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-forced-buckets",
        action="store_true",
        help=f"out-of-core: do not also run K={FORCED_BUCKETS} where the default K is 1",
    )
    ap.add_argument(
        "--sorted",
        action="store_true",
        help="use a copy of the data sorted by patient (written once; out of core: no split)",
    )
    ap.add_argument("--verbose", action="store_true", help="Dask: task seconds by prefix")
    ap.add_argument(
        "--no-malloc-trim",
        action="store_true",
        help="Dask: start the workers without Dask's MALLOC_TRIM_THRESHOLD_=65536",
    )
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.no_malloc_trim:
        os.environ[NO_MALLOC_TRIM] = "1"  # read by the Dask child process

    flags = (args.in_memory, args.out_of_core, args.write, args.dask)
    chosen = [p for p, on in zip(PATHS, flags, strict=True) if on]
    if args.paths:
        chosen += [p.strip() for p in args.paths.split(",") if p.strip() not in chosen]
    chosen = chosen or list(PATHS)
    unknown = sorted(set(chosen) - set(PATHS))
    if unknown:
        ap.error(f"unknown path(s) {unknown}; choose from {', '.join(PATHS)}")
    workers = [int(w) for w in args.workers.split(",")]
    root = Path(args.tmpdir or tempfile.gettempdir()) / "recurct-bench-scale"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    print(
        f"recurct scaling benchmark, {dt.date.today()}, {platform.node()}: "
        f"{os.cpu_count()} cores, {ram / 2**30:.0f} GiB, Python {platform.python_version()}"
        + (", Dask workers without MALLOC_TRIM_THRESHOLD_" if args.no_malloc_trim else ""),
        flush=True,
    )

    rows: list[dict[str, Any]] = []
    failed = False
    not_checked: list[str] = []
    for n in _sizes(args.exams):
        folder, meta, reused = ensure_dataset(root, n, args.seed)
        scattered = folder
        if args.sorted:
            folder, meta, reused = ensure_sorted(folder, meta)
        how = "reused" if reused else f"written in {meta['write_seconds']} s"
        print(
            f"N={n:.0e}: {meta['n_patients']} patients, {meta['n_files']} files, "
            f"{meta['bytes_on_disk'] / 2**30:.2f} GiB on disk "
            f"({how})",
            flush=True,
        )
        results = []
        for path in chosen:
            if path == "memory" and n * MEMORY_BYTES_PER_EXAM > 0.6 * ram:
                print(f"  memory: skipped, ~{n * MEMORY_BYTES_PER_EXAM / 2**30:.0f} GiB needed")
                continue
            if path == "dask":
                settings = workers
            elif path in ("outofcore", "write"):
                auto = math.ceil(n / ROWS_PER_BUCKET)
                settings = [0] if auto > 1 or args.no_forced_buckets else [0, FORCED_BUCKETS]
            else:
                settings = [1]
            for w in settings:
                runs = [run_child(path, folder, w, args.tmpdir) for _ in range(args.repeat)]
                r = min(runs, key=lambda x: x["seconds"])  # the least disturbed run
                r["seconds_max"] = max(x["seconds"] for x in runs)
                r["peak_rss"] = max(x["peak_rss"] for x in runs)
                if path in ("outofcore", "write"):
                    r["workers"], r["k"] = 1, w or math.ceil(n / ROWS_PER_BUCKET)
                elif path == "memory":
                    r["k"] = 1
                r["n_exams_input"] = n
                print(
                    f"  {path:<9} workers={r['workers']} K={r['k']}: {r['seconds']:.1f} s "
                    f"(max of {args.repeat}: {r['seconds_max']:.1f} s) "
                    f"(wall {r['wall']:.1f} s), peak {r['peak_rss'] / 2**30:.2f} GiB, "
                    f"load {r['load']}",
                    flush=True,
                )
                if "phases" in r:
                    print(f"    phases (s, summed over buckets): {r['phases']}", flush=True)
                if args.verbose and "task_seconds" in r:
                    print(f"    task seconds by prefix: {r['task_seconds']}", flush=True)
                results.append(r)
        ref = reference_summary(folder) if n <= REFERENCE_MAX and results else None
        problems, unchecked = check(results, meta, ref) if results else ([], [])
        for p in problems:
            print(f"  CHECK FAILED: {p}", flush=True)
        for u in unchecked:
            print(f"  not checked: {u}", flush=True)
        failed |= bool(problems)
        not_checked += unchecked
        rows += results
        if not args.keep_data:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(scattered, ignore_errors=True)
    print()
    print(table(rows))
    agree = (
        "patients, exams and total CED agree with the generator; patients >= 100 mSv, "
        "the number reaching it and the sum of their days to it, total CED and the sum of the "
        f"largest {WINDOW}-day windows agree with the in-memory path's and the reference's"
        + (" where run (not checked: below)" if not_checked else "")
    )
    print("checks:", "FAILED" if failed else agree)
    if not_checked:
        print("not checked:", "; ".join(not_checked))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
