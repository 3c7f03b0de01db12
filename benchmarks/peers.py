"""The peer runners: cumulative dose with recurct vs polars, pandas and DuckDB, side by side.

All methods run in one process on the same data (built outside the timed region), each
peer in its fastest known way (benchmarks/BASELINE.md), and every answer is checked against
recurct's. Operations:

* ``a``   per-patient totals (n, CED, first/last exam) and the share with CED >= 100 mSv;
* ``b``   days from the first exam until the running CED first reached 100 mSv;
* ``c``   the largest CED within any 1826-day window;
* ``abc`` all three as one analysis.

Run ``python benchmarks/bench_cumulative.py --sizes 1e6,1e7 --repeat 3``; the scripts of this
folder import the runners from here (``from peers import ...``: a script's folder is on its
``sys.path``). This module is not part of the installed package (it was ``recurct.bench``
and the command ``recurct bench`` in recurct 0.1); tests/test_peers.py runs it on a small table.

Importing this module needs only recurct's own dependencies: each peer's package is imported
when its runner runs. DuckDB is optional (the ``bench`` extra, ``pip install "recurct[bench]"``):
without it the other methods run with a note, and ``--methods duckdb`` stops with that install
hint (:func:`resolve_methods`).

It is one file over 600 lines on purpose: every runner, check and report of the comparison in
one place that every ``bench_*.py`` script imports.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from recurct.errors import InputError

THRESHOLD = 100.0
WINDOW = 1826
METHODS = ("recurct", "polars", "pandas", "duckdb")
OPS = ("a", "b", "c", "abc")
#: Method -> (the package it imports, the recurct extra that installs it, or None for a
#: dependency of recurct itself); recurct and polars need nothing else.
PACKAGES: dict[str, tuple[str, str | None]] = {
    "pandas": ("pandas", None),
    "duckdb": ("duckdb", "bench"),
}


# --------------------------------------------------------------------------- data


def exam_counts(n: int, rng: np.random.Generator, mean_exams: float = 1.9) -> np.ndarray:
    """Exams per patient summing to exactly ``n``: a truncated Zipf law on 1..100 (exponent
    2.42, mean ~1.9, 73 % single-exam patients), the shape of the data of benchmarks/BASELINE.md."""
    k = np.arange(1, 101)
    p = k**-2.42
    p /= p.sum()
    counts = rng.choice(k, size=max(1, round(n / mean_exams)), p=p)
    while int(counts.sum(dtype=np.int64)) < n:  # top up, then trim the last patient
        extra = rng.choice(k, size=max(1, round((n - int(counts.sum())) / mean_exams)), p=p)
        counts = np.concatenate([counts, extra])
    cum = np.cumsum(counts, dtype=np.int64)
    cut = int(np.searchsorted(cum, n))
    counts = counts[: cut + 1].copy()
    counts[-1] -= int(cum[cut] - n)
    return counts


def make_cohort(
    n: int, seed: int = 0, ids: str = "int", order: str = "random", mean_exams: float = 1.9
) -> pl.DataFrame:
    """A synthetic exam table of about ``n`` exams (exactly ``n`` rows).

    Exams per patient follow a truncated Zipf law on 1..100 (exponent 2.42, mean ~1.9,
    73 % single-exam patients); patient ids are dense integers with their values randomly
    permuted (``ids="int"``) or strings ``"P0000123"`` (``ids="str"``); first exams are
    uniform in 2000-2024 and later ones follow gaps of >= 1 day; doses are lognormal with
    median 7 mSv and sigma 0.8 (``ids="enum"``: the strings as a polars ``Enum``;
    ``ids="hex"``: random 64-hex-digit pseudonyms, the form of recurct's own HMAC-SHA256
    pseudonyms: too many bits for recurct's byte keys, so they are grouped by a sort of keys of
    their first bytes; ``ids="uuid"``: random version-4 UUIDs, 36 characters).
    ``order="random"`` shuffles the rows, ``"sorted"`` sorts
    them by patient and date. ``ids="prepared"``: the string ids passed through
    :func:`recurct.prepare_exams` (an ``Enum`` of the sorted ids, rows in patient/date order),
    the table a caller keeps for repeated analyses.
    """
    if ids == "prepared":
        import recurct

        return recurct.prepare_exams(make_cohort(n, seed, "str", order, mean_exams))
    rng = np.random.default_rng(seed)
    counts = exam_counts(n, rng, mean_exams)
    n_patients = counts.size
    pid_seg = np.repeat(np.arange(n_patients), counts)  # grouped by patient
    gaps = rng.geometric(1 / 200, n).astype(np.int64)  # >= 1 day between exams
    starts = np.cumsum(counts) - counts
    gaps[starts] = 0
    csum = np.cumsum(gaps)
    day0 = rng.integers(10_957, 20_089, n_patients)  # 2000-01-01 .. 2024-12-31
    day = day0[pid_seg] + csum - csum[starts][pid_seg]
    label = rng.permutation(n_patients).astype(np.int64)  # dense ids, values permuted
    pid = label[pid_seg]
    dose = rng.lognormal(np.log(7.0), 0.8, n)
    if order == "random":
        perm = rng.permutation(n)
        pid, day, dose = pid[perm], day[perm], dose[perm]
    elif order == "sorted":
        perm = np.lexsort((day, pid))
        pid, day, dose = pid[perm], day[perm], dose[perm]
    else:
        raise ValueError(f"order must be 'random' or 'sorted', got {order!r}")
    df = pl.DataFrame(
        {
            "patient_id": pid,
            "exam_date": pl.Series(day.astype(np.int32)).cast(pl.Date),
            "effective_dose_msv": dose,
        }
    )
    if ids in ("str", "enum"):
        pid_str = pl.col("patient_id").cast(pl.Utf8).str.zfill(8)
        df = df.with_columns(pl.format("P{}", pid_str).alias("patient_id"))
    if ids in ("hex", "uuid"):  # each row its own bytes, as read from a file (not views)
        made = pseudonyms(n_patients, rng) if ids == "hex" else uuids(n_patients, rng)
        df = df.with_columns(pl.Series("patient_id", made.gather(pid).to_arrow()))
    if ids == "enum":  # the ids kept as an Enum of the sorted distinct ids (factorised once)
        cats = df.get_column("patient_id").unique().sort()
        df = df.with_columns(pl.col("patient_id").cast(pl.Enum(cats)))
    return df


def _fixed_width(text: bytes, n: int) -> pl.Series:
    """``n`` strings of equal length laid end to end in ``text`` (ASCII), each its own bytes."""
    import pyarrow as pa

    width = len(text) // max(n, 1)
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))
    return pl.Series("patient_id", arr)


def pseudonyms(n: int, rng: np.random.Generator) -> pl.Series:
    """``n`` random 64-hex-digit strings (as ``recurct.io.pseudonym``: 256 bits)."""
    import binascii

    return _fixed_width(binascii.hexlify(rng.integers(0, 256, 32 * n, dtype=np.uint8).tobytes()), n)


def uuids(n: int, rng: np.random.Generator) -> pl.Series:
    """``n`` random version-4 UUIDs as text (``"1b4e28ba-2fa1-4d2e-..."``, 36 characters, as
    :func:`uuid.uuid4` gives them: 122 random bits)."""
    import binascii

    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.frombuffer(binascii.hexlify(raw.tobytes()), np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), np.uint8)
    for a, b, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + b - a] = digits[:, a:b]  # 8-4-4-4-12 digits between dashes
    return _fixed_width(text.tobytes(), n)


# --------------------------------------------------------------------------- methods


class _Data:
    """The same cohort in every engine's container (built outside the timed region)."""

    def __init__(self, df: pl.DataFrame, methods: tuple[str, ...]) -> None:
        self.pl = df
        self.n = df.height
        self.pd = df.to_pandas() if "pandas" in methods else None
        self.con = None
        if "duckdb" in methods:
            import duckdb
            import numba

            self.con = duckdb.connect()
            self.con.execute(f"SET threads = {numba.get_num_threads()}")
            self.con.execute("SET preserve_insertion_order = false")
            self.arrow = df.with_row_index("rn").to_arrow()
            self.con.register("ex", self.arrow)


def _recurct(data: _Data, op: str) -> Any:
    from recurct.cumulative import cumulative_dose

    thr = (THRESHOLD,) if op in ("b", "abc") else ()
    win = WINDOW if op in ("c", "abc") else None
    p = cumulative_dose(data.pl, thresholds=thr, window_days=win)
    share = float((p.get_column("ced_msv").to_numpy() >= THRESHOLD).mean()) if p.height else 0.0
    return p, share


def _polars_a(df: pl.DataFrame, lazy: bool = True) -> tuple[pl.DataFrame, float]:
    q = (
        (df.lazy() if lazy else df)
        .group_by("patient_id")
        .agg(
            pl.len().alias("n_exams"),
            pl.col("effective_dose_msv").sum().alias("ced_msv"),
            pl.col("exam_date").min().alias("first_exam"),
            pl.col("exam_date").max().alias("last_exam"),
        )
    )
    out = q.collect(engine="streaming") if lazy else q
    return out, float((out.get_column("ced_msv") >= THRESHOLD).mean())


def _polars_b(s: pl.DataFrame) -> pl.DataFrame:
    """Crossings by one global cum_sum minus each patient's starting offset (sorted input)."""
    first = pl.col("patient_id") != pl.col("patient_id").shift(1)
    cs = pl.col("effective_dose_msv").cum_sum()
    return (
        s.with_columns(
            (cs - pl.when(first).then(cs - pl.col("effective_dose_msv")).forward_fill()).alias(
                "run"
            ),
            pl.when(first).then(pl.col("exam_date")).forward_fill().alias("fd"),
        )
        .filter(pl.col("run") >= THRESHOLD)
        .group_by("patient_id")
        .agg((pl.col("exam_date") - pl.col("fd")).first().dt.total_days().alias("days_to_100"))
    )


def _polars_c(s: pl.DataFrame) -> pl.DataFrame:
    """``rolling_sum_by`` over one offset key (patient index x span + day, the patients
    ``span >= W`` days apart), one rolling pass over the whole sorted table: 1.4-1.7x faster
    than ``DataFrame.rolling(group_by=...)`` (issue 22)."""
    day = pl.col("exam_date").cast(pl.Int64)
    grp = (pl.col("patient_id") != pl.col("patient_id").shift(1)).fill_null(True).cum_sum()
    span = int(s.get_column("exam_date").cast(pl.Int64).max() or 0) + WINDOW + 1
    return (
        s.with_columns((grp.cast(pl.Int64) * span + day).alias("_k"))
        .with_columns(
            pl.col("effective_dose_msv").rolling_sum_by("_k", window_size=f"{WINDOW}i").alias("w")
        )
        .group_by("patient_id")
        .agg(pl.col("w").max().alias(f"max_ced_{WINDOW}"))
    )


def _polars(data: _Data, op: str) -> Any:
    df = data.pl
    if op == "a":
        return _polars_a(df)
    s = df.sort("patient_id", "exam_date", maintain_order=True)
    if op == "b":
        return _polars_b(s)
    if op == "c":
        return _polars_c(s)
    s = s.with_columns(pl.col("patient_id").set_sorted())
    return _polars_a(s, lazy=False), _polars_b(s), _polars_c(s)


def _pandas_sorted(pdf: Any) -> Any:
    return pdf.sort_values(["patient_id", "exam_date"], kind="stable", ignore_index=True)


def _pandas_a(pdf: Any) -> Any:
    out = pdf.groupby("patient_id", sort=False).agg(
        n_exams=("effective_dose_msv", "size"),
        ced_msv=("effective_dose_msv", "sum"),
        first_exam=("exam_date", "min"),
        last_exam=("exam_date", "max"),
    )
    return out, float((out["ced_msv"].to_numpy() >= THRESHOLD).mean())


def _pandas_b(s: Any) -> Any:
    g = s.groupby("patient_id", sort=False)
    run = g["effective_dose_msv"].cumsum()
    fd = g["exam_date"].transform("first")
    hit = s.loc[run.to_numpy() >= THRESHOLD, ["patient_id", "exam_date"]]
    hit = hit.assign(days_to_100=(hit["exam_date"] - fd[hit.index]).dt.days)
    return hit.groupby("patient_id", sort=False)["days_to_100"].first()


def _pandas_c(s: Any) -> Any:
    """One non-grouped rolling('1826D') on a monotonic axis with a gap between patients."""
    import pandas as pd

    pid = s["patient_id"].to_numpy()
    day = s["exam_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    grp = np.cumsum(np.r_[True, pid[1:] != pid[:-1]]) - 1
    span = int(day.max() - day.min()) + WINDOW + 1
    axis = (grp * span + (day - day.min())) * 86_400
    idx = pd.DatetimeIndex(axis.astype("datetime64[s]"))
    w = pd.Series(s["effective_dose_msv"].to_numpy(), index=idx).rolling(f"{WINDOW}D").sum()
    return pd.Series(w.to_numpy()).groupby(pid, sort=False).max()


def _pandas(data: _Data, op: str) -> Any:
    pdf = data.pd
    if op == "a":
        return _pandas_a(pdf)
    s = _pandas_sorted(pdf)
    if op == "b":
        return _pandas_b(s)
    if op == "c":
        return _pandas_c(s)
    return _pandas_a(s), _pandas_b(s), _pandas_c(s)


_SQL_A = """SELECT patient_id, COUNT(*) AS n_exams, SUM(effective_dose_msv) AS ced_msv,
  MIN(exam_date) AS first_exam, MAX(exam_date) AS last_exam FROM ex GROUP BY patient_id"""
_RUN = """SUM(effective_dose_msv) OVER (PARTITION BY patient_id ORDER BY exam_date, rn
  ROWS UNBOUNDED PRECEDING)"""
_WIN = f"""SUM(effective_dose_msv) OVER (PARTITION BY patient_id ORDER BY exam_date
  RANGE BETWEEN INTERVAL {WINDOW - 1} DAYS PRECEDING AND CURRENT ROW)"""
_DAYS = f"date_diff('day', MIN(exam_date), MIN(CASE WHEN run >= {THRESHOLD} THEN exam_date END))"
_SQL_B = f"""SELECT patient_id, {_DAYS} AS days_to_100
  FROM (SELECT patient_id, exam_date, {_RUN} AS run FROM ex) GROUP BY patient_id"""
_SQL_C = f"""SELECT patient_id, MAX(w) AS max_ced_{WINDOW}
  FROM (SELECT patient_id, {_WIN} AS w FROM ex) GROUP BY patient_id"""
_SQL_ABC = f"""SELECT patient_id, COUNT(*) AS n_exams, SUM(effective_dose_msv) AS ced_msv,
  MIN(exam_date) AS first_exam, MAX(exam_date) AS last_exam, {_DAYS} AS days_to_100,
  MAX(w) AS max_ced_{WINDOW}
  FROM (SELECT patient_id, exam_date, effective_dose_msv, {_RUN} AS run, {_WIN} AS w FROM ex)
  GROUP BY patient_id"""


def _duckdb(data: _Data, op: str) -> Any:
    sql = {"a": _SQL_A, "b": _SQL_B, "c": _SQL_C, "abc": _SQL_ABC}[op]
    out = data.con.sql(sql).to_arrow_table()
    if op in ("a", "abc"):
        ced = out.column("ced_msv").to_numpy()
        return out, float((ced >= THRESHOLD).mean())
    return out


#: How each peer runs, printed with the tables (each in its fastest known form).
FORMS = {
    "recurct": "cumulative_dose(thresholds=(100,) for b, window_days=1826 for c); totals only "
    "(thresholds=()) for a",
    "polars": "a: lazy group_by, streaming engine; b: sort + one global cum_sum minus each "
    "patient's offset; c: rolling_sum_by over one offset key (patient index x span + day); "
    "abc: one sort, set_sorted, then the three",
    "pandas": "a: groupby(sort=False).agg; b: stable sort_values + groupby.cumsum; c: one "
    "rolling('1826D') on a monotonic offset axis (patients a window apart)",
    "duckdb": "SQL over the registered Arrow table (zero copy); GROUP BY and window functions "
    "(ROWS UNBOUNDED PRECEDING / RANGE 1825 PRECEDING); settings: threads = numba threads, "
    "preserve_insertion_order = false",
}

RUNNERS: dict[str, Callable[[_Data, str], Any]] = {
    "recurct": _recurct,
    "polars": _polars,
    "pandas": _pandas,
    "duckdb": _duckdb,
}


# --------------------------------------------------------------------------- checking


def _frame(x: Any) -> pl.DataFrame:
    if isinstance(x, pl.DataFrame):
        return x
    mod = type(x).__module__
    if mod.startswith("pandas"):
        if x.__class__.__name__ == "Series":
            x = x.rename(x.name or "value").to_frame()
        return pl.from_pandas(x.reset_index())
    return pl.from_arrow(x)  # type: ignore[return-value]


def _normalise(method: str, op: str, result: Any) -> dict[str, Any]:
    """Arrays aligned by patient_id: ced, n, share (a); days (b); wmax (c)."""
    out: dict[str, Any] = {}
    if method == "recurct":
        p, share = result
        if op in ("a", "abc"):
            out.update(ced=p["ced_msv"].to_numpy(), n=p["n_exams"].to_numpy(), share=share)
        if op in ("b", "abc"):
            out["days"] = p["days_to_100"].fill_null(-1).to_numpy()
        if op in ("c", "abc"):
            out["wmax"] = p[f"max_ced_{WINDOW}"].to_numpy()
        out["ids"] = p["patient_id"].to_numpy()
        return out
    if op == "abc" and method != "duckdb":
        parts = {"a": result[0], "b": result[1], "c": result[2]}
    else:
        parts = {o: result for o in ("a", "b", "c") if o in op}
    for o, r in parts.items():
        if o in ("a",) or (o in ("b", "c") and isinstance(r, tuple)):
            r, share = r
            out["share"] = share
        f = _frame(r)
        f = f.rename({f.columns[0]: "patient_id"}) if "patient_id" not in f.columns else f
        f = f.sort("patient_id")
        out["ids_" + o] = f["patient_id"].to_numpy()
        if o == "a":
            out.update(ced=f["ced_msv"].to_numpy(), n=f["n_exams"].to_numpy())
        elif o == "b":
            col = "days_to_100" if "days_to_100" in f.columns else f.columns[-1]
            out["days_pairs"] = (f["patient_id"].to_numpy(), f[col].fill_null(-1).to_numpy())
        else:
            col = f"max_ced_{WINDOW}" if f"max_ced_{WINDOW}" in f.columns else f.columns[-1]
            out["wmax"] = f[col].to_numpy()
    return out


def check(ref: dict[str, Any], got: dict[str, Any]) -> str:
    """'ok' if ``got`` matches recurct's ``ref`` (1e-6 relative, integers exactly)."""
    ids = ref["ids"]
    for key, val in got.items():
        if key.startswith("ids_") and key != "ids_b" and not np.array_equal(val, ids):
            return f"FAIL patient ids ({key})"
    if "ced" in got and not np.allclose(got["ced"], ref["ced"], rtol=1e-6, atol=0):
        return "FAIL ced"
    if "n" in got and not np.array_equal(got["n"], ref["n"]):
        return "FAIL n_exams"
    if "share" in got and abs(got["share"] - ref["share"]) > 1e-12:
        return "FAIL share"
    if "days_pairs" in got:
        pid, days = got["days_pairs"]
        full = np.full(ids.size, -1, np.int64)
        pos = np.searchsorted(ids, pid)
        full[pos] = days
        if not np.array_equal(full, ref["days"]):
            return f"FAIL days_to_100 ({int((full != ref['days']).sum())} patients)"
    if "wmax" in got and not np.allclose(got["wmax"], ref["wmax"], rtol=1e-6, atol=1e-9):
        return "FAIL max window"
    return "ok"


# --------------------------------------------------------------------------- measuring


def _reset_peak() -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``: memory an earlier run
    freed would otherwise still count in the RSS before a run and be reused by it unseen,
    understating its peak), then reset the peak RSS to the current RSS."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to return
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux or not permitted: peak is then the process high-water mark
        pass


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory line (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mib() -> float:
    got = _status_mib("VmRSS")
    return float("nan") if got is None else got


def _peak_mib() -> float:
    got = _status_mib("VmHWM")
    if got is not None:
        return got
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bandwidth(gib: float = 2.0, repeat: int = 3) -> dict[str, float]:
    """Memory bandwidth in GB/s of NumPy's read (``a.sum()``) and copy (``np.copyto``,
    counted as read + write) of 2 GiB, on one thread and split over as many threads as
    recurct uses (``threads``; the slices' NumPy calls release the GIL), best of ``repeat``
    into a destination already written (no page faults)."""
    import numba

    k = numba.get_num_threads()
    a = np.ones(int(gib * 2**30) // 8)
    b = np.empty_like(a)
    b.fill(0.0)
    cuts = np.linspace(0, a.size, k + 1).astype(int)
    pieces = [(a[lo:hi], b[lo:hi]) for lo, hi in itertools.pairwise(cuts)]
    times = dict.fromkeys(("read", "copy", "read_all", "copy_all"), float("inf"))
    with ThreadPoolExecutor(k) as ex:
        jobs = {
            "read": lambda: a.sum(),
            "copy": lambda: np.copyto(b, a),
            "read_all": lambda: list(ex.map(lambda ab: ab[0].sum(), pieces)),
            "copy_all": lambda: list(ex.map(lambda ab: np.copyto(ab[1], ab[0]), pieces)),
        }
        for _ in range(repeat):
            for what, job in jobs.items():
                t0 = time.perf_counter()
                job()
                times[what] = min(times[what], time.perf_counter() - t0)
    size = gib * 2**30 / 1e9
    out = {w: (2 if w.startswith("copy") else 1) * size / t for w, t in times.items()}
    return {**out, "threads": float(k)}


_COMPILE_SCRIPT = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import polars as pl
    from peers import make_cohort
    from recurct.cumulative import cumulative_dose, running_dose
    df = make_cohort(2000, seed=1)
    t1 = time.perf_counter()
    cumulative_dose(df, window_days=1826)
    t2 = time.perf_counter()
    cumulative_dose(df, thresholds=())
    cumulative_dose(make_cohort(2000, seed=1, ids="str"), window_days=365)
    running_dose(df.with_columns(pl.col("exam_date").cast(pl.Datetime("us"))))
    print(t2 - t1, time.perf_counter() - t1, time.perf_counter() - t0)
    """
)


def compile_times() -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Seconds with an empty numba cache, then with it filled, each in a fresh process:
    (the first ``cumulative_dose`` result, four calls covering every kernel, the process)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT],
                cwd=os.path.dirname(os.path.abspath(__file__)),  # `import peers` in the script
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            first, calls, whole = map(float, out.stdout.split())
            runs.append((first, calls, whole))
    return runs[0], runs[1]


def round_orders(methods: tuple[str, ...], rounds: int) -> list[tuple[str, ...]]:
    """The order of the methods in each timed round: the rows of a Williams design, in turn.

    Over ``m`` rounds (``2m`` for an odd number ``m`` of methods) every method comes right
    after every other method equally often within the rounds (once; twice for odd ``m``), so
    no method is always timed after the same one. That matters where a call's speed depends
    on its predecessor: on a VM that gives freed memory back to its host, a call after one
    that freed much memory pays for fresh pages (``benchmarks/RESULTS.md``). (Rotating one
    order, as runs A to J did, left every method after the same one in every round.)
    """
    m = len(methods)
    first = [0]  # 0, 1, m-1, 2, m-2, ...: the differences of neighbours cover 1..m-1 once
    lo, hi = 1, m - 1
    while len(first) < m:
        first.append(lo)
        lo += 1
        if len(first) < m:
            first.append(hi)
            hi -= 1
    rows = [[(x + k) % m for x in first] for k in range(m)]
    if m % 2:  # odd m: each row then its mirror (which balances the pairs)
        rows = [r for row in rows for r in (row, row[::-1])]
    return [tuple(methods[i] for i in rows[k % len(rows)]) for k in range(rounds)]


def order_balance(methods: tuple[str, ...], rounds: int) -> str:
    """How often each method comes right after each other over ``rounds`` of
    :func:`round_orders`, counted from the schedule (for the protocol line)."""
    orders = round_orders(methods, rounds)
    counts = [
        sum(1 for o in orders for x, y in itertools.pairwise(o) if (x, y) == (a, b))
        for a, b in itertools.permutations(methods, 2)
    ]
    if not counts:
        return "there is no other method to follow"
    lo, hi = min(counts), max(counts)
    times = {0: "never", 1: "once", 2: "twice"}
    if lo == hi:
        return f"each method comes right after each other {times.get(lo, f'{lo} times')}"
    return f"each method comes right after each other {lo} to {hi} times, not equally often"


def run_size(
    n: int,
    methods: tuple[str, ...],
    ops: tuple[str, ...],
    repeat: int,
    ids: str,
    order: str,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Time every method on every op for one cohort; rows of the result table."""
    data = _Data(make_cohort(n, seed=0, ids=ids, order=order), methods)
    rows = []
    for op in ops:
        ref = None
        results: dict[str, dict[str, Any]] = {}
        for m in methods:  # warm-up call, checked against recurct
            gc.collect()
            _reset_peak()
            before = _rss_mib()
            r = RUNNERS[m](data, op)
            peak = _peak_mib()
            norm = _normalise(m, op, r)
            del r
            if m == "recurct":
                ref = norm
            results[m] = {"peak": peak, "check": "ok" if m == "recurct" else check(ref, norm)}
            results[m]["extra"] = (peak - before) * 2**20 / n
            results[m]["times"] = []
        for rnd in round_orders(methods, repeat):  # each method after each other in turn
            for m in rnd:
                gc.collect()
                t0 = time.perf_counter()
                RUNNERS[m](data, op)
                results[m]["times"].append(time.perf_counter() - t0)
        base = min(results["recurct"]["times"]) if "recurct" in results else None
        for m in methods:
            best = min(results[m]["times"])
            rows.append(
                {
                    "n": n, "layout": f"{order} {ids}", "op": op, "method": m, "seconds": best,
                    "mexams_s": n / best / 1e6, "ratio": best / base if base else float("nan"),
                    "peak_mib": results[m]["peak"], "check": results[m]["check"],
                    "extra_b": results[m]["extra"],
                }
            )  # fmt: skip
        if progress:
            done = ", ".join(f"{r['method']} {r['seconds']:.3f} s" for r in rows[-len(methods) :])
            print(f"  N={n:.0e} {order} {ids} {op}: {done}", flush=True)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_size` rows."""
    head = (
        "| N | layout | op | method | s (best) | M exams/s | x recurct | peak RSS MiB "
        "| B/exam over input | check |"
    )
    lines = [head, "|---:|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['n']:.0e} | {r['layout']} | {r['op']} | {r['method']} | {r['seconds']:.3f} "
            f"| {r['mexams_s']:.1f} | {r['ratio']:.2f} | {r['peak_mib']:,.0f} "
            f"| {r['extra_b']:.0f} | {r['check']} |"
        )
    return "\n".join(lines)


def _cpu() -> str:
    """The CPU's model, vendor and family (Linux), and which sort recurct's grouping uses on
    it (NumPy's, or its radix sort where NumPy's AVX-512 sort is slow: AMD Zen 4)."""
    from recurct import _sort

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            fields = _sort.cpu_fields(fh.read(8192))
        name = (
            f"{platform.machine()} {fields.get('model name', '?')} ({fields.get('vendor_id', '?')} "
            f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')})"
        )
    except OSError:
        pass
    sort = "recurct's radix sort" if _sort.NUMPY_SORT_SLOW else "NumPy's sort"
    return f"{name}, keys sorted by {sort}"


def machine(bw: dict[str, float] | None = None) -> str:
    import numba

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f", {int(fh.readline().split()[1]) / 2**20:.0f} GiB memory"
    except OSError:
        pass
    bws = (
        f", memory bandwidth (GB/s) read {bw['read']:.1f} / copy {bw['copy']:.1f} on 1 thread, "
        f"{bw['read_all']:.1f} / {bw['copy_all']:.1f} on {bw['threads']:.0f}"
        if bw
        else ""
    )
    return (
        f"{_cpu()}, {os.cpu_count()} CPUs{mem}{bws}, "
        f"numba threads {numba.get_num_threads()}, load average {load[0]:.1f}; "
        f"python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}"
    )


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` timed calls of ``fn`` (seconds, after a garbage collection
    each), and the last call's result."""
    out, fastest = None, float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest, out


def rehani_times(repeat: int = 3) -> list[tuple[str, float]]:
    """The Rehani et al. 2020 analysis on its synthetic cohort (4.8 M exams): the patients
    table with and without the attribute columns, and the magnitude table by facility with
    the age split (``age_cut=50``), warm, best of ``repeat``."""
    from recurct.cumulative import cumulative_dose
    from recurct.stats import magnitude
    from recurct.synthetic import generate

    ex = generate("rehani2020")
    req = ex.select("patient_id", "exam_date", "effective_dose_msv")

    def patients(df: pl.DataFrame) -> pl.DataFrame:
        return cumulative_dose(df, thresholds=100, window_days=1826)

    def mag(p: pl.DataFrame) -> pl.DataFrame:
        return magnitude(p, 100, by="facility", age_cut=50)

    patients(ex)  # warm
    rows = [(f"generate('rehani2020'): {ex.height:,} exams", float("nan"))]
    t_req = best(lambda: patients(req), repeat)[0]
    rows.append(("patients table, the three required columns", t_req))
    for col in ("sex", "facility", "indication", "age_years"):
        with_col = req.with_columns(ex.get_column(col))
        t = best(lambda w=with_col: patients(w), repeat)[0]
        rows.append((f"  + {col} alone", t))
    t, p = best(lambda: patients(ex), repeat)
    rows.append((f"patients table, every column ({p.height:,} patients)", t))
    rows.append(("magnitude by facility with the age split", best(lambda: mag(p), repeat)[0]))
    rows.append(("the whole analysis (patients table + magnitude)",
                 best(lambda: mag(patients(ex)), repeat)[0]))  # fmt: skip
    return rows


def bound_line(n: int, table_bytes: int, seconds: float, bw: dict[str, float]) -> str:
    """Sorted input against the memory-bandwidth bound on recurct's threads: the input read
    once (8 B id, 4 B date, 8 B dose per exam) at the read bandwidth and the returned
    patients table (``table_bytes``, its ``estimated_size()``) written once at half the copy
    bandwidth (a copy reads and writes), neither paying page faults; writing a fresh table
    costs more (benchmarks/BASELINE.md section 2), so no method reaches this bound."""
    nbytes = 20 * n
    read, write = bw["read_all"], bw["copy_all"] / 2
    bound = nbytes / (read * 1e9) + table_bytes / (write * 1e9)
    return (
        f"sorted int abc at N={n:.0e}: {seconds:.3f} s = {seconds / bound:.1f}x the bandwidth "
        f"bound {bound:.3f} s on {bw['threads']:.0f} threads ({nbytes / 1e6:,.0f} MB read at "
        f"{read:.1f} GB/s + the {table_bytes / 1e6:,.0f} MB table written at {write:.1f} GB/s)"
    )


def report(
    sizes: list[int],
    methods: tuple[str, ...] = METHODS,
    repeat: int = 3,
    rehani: bool = False,
    progress: bool = True,
) -> tuple[str, bool]:
    """Every measurement as one Markdown text (printed as it goes with ``progress``); and
    whether every answer matched."""
    out: list[str] = []

    def emit(line: str = "") -> None:
        out.append(line)
        if progress:
            print(line, flush=True)

    bw = bandwidth()
    emit(f"    machine: {machine(bw)}")
    (f1, c1, p1), (f2, c2, p2) = compile_times()
    emit(
        f"    numba, empty cache: first cumulative_dose result {f1:.2f} s, every kernel "
        f"{c1:.2f} s (process {p1:.2f} s); cached: {f2:.2f} s, {c2:.2f} s (process {p2:.2f} s)"
    )
    emit()
    emit("How each method runs:")
    emit()
    for m in methods:
        emit(f"- {m}: {FORMS[m]}")
    emit()
    uuid_methods = tuple(m for m in methods if m != "pandas")  # as run_size gets them below
    emit(
        f"Each table row: one untimed call per method (its answer checked against recurct's), "
        f"then {repeat} timed rounds, best of them; the methods' order in each round is a row "
        f"of a Williams design (`round_orders`), in turn: over these {repeat} rounds "
        f"{order_balance(methods, repeat)} (the uuid rows' {len(uuid_methods)} methods: "
        f"{order_balance(uuid_methods, repeat)})."
    )
    failed = False
    for n in sizes:
        rows = run_size(n, methods, OPS, repeat, "int", "random", progress=progress)
        srt = run_size(n, methods, ("abc",), repeat, "int", "sorted", progress=progress)
        rows += srt
        rows += run_size(n, methods, ("a", "abc"), repeat, "str", "random", progress=progress)
        rows += run_size(n, methods, ("a", "abc"), repeat, "hex", "random", progress=progress)
        engines = tuple(m for m in methods if m != "pandas")  # pandas: as for hex, far slower
        rows += run_size(n, engines, ("a", "abc"), repeat, "uuid", "random", progress=progress)
        rows += run_size(n, ("recurct",), ("a", "abc"), repeat, "enum", "random",
                         progress=progress)  # fmt: skip
        rows += run_size(n, ("recurct",), ("a", "abc"), repeat, "prepared", "random",
                         progress=progress)  # fmt: skip
        emit()
        emit(format_table(rows))
        emit()
        if "recurct" in methods:
            ours = next(r["seconds"] for r in srt if r["method"] == "recurct")
            emit(bound_line(n, sorted_table_bytes(n), ours, bw))
        emit(f"(load average after N={n:.0e}: {os.getloadavg()[0]:.1f})")
        failed |= any(r["check"] != "ok" for r in rows)
    if rehani:
        emit()
        emit("Rehani et al. 2020 analysis, warm, best of "
             f"{repeat} (load average {os.getloadavg()[0]:.1f}):")  # fmt: skip
        emit()
        emit("| work | s |")
        emit("|---|---:|")
        for what, t in rehani_times(repeat):
            emit(f"| {what} | {'' if t != t else f'{t:.3f}'} |")
        emit()
        emit(f"(load average after: {os.getloadavg()[0]:.1f})")
    return "\n".join(out), not failed


def sorted_table_bytes(n: int) -> int:
    """Bytes of the patients table (:meth:`polars.DataFrame.estimated_size`) that the
    sorted ``abc`` row returns."""
    data = _Data(make_cohort(n, seed=0, ids="int", order="sorted"), ("recurct",))
    return int(_recurct(data, "abc")[0].estimated_size())


def missing_package(method: str) -> str | None:
    """Why ``method`` cannot run here (its package is not installed, with the install hint),
    or None when it can."""
    if method not in PACKAGES:
        return None
    package, extra = PACKAGES[method]
    try:
        importlib.import_module(package)
    except ImportError:
        how = f"pip install {package}"
        if extra:
            how = f'pip install "recurct[{extra}]" (or {how})'
        return f"method {method!r} needs the {package} package, which is not installed: {how}"
    return None


def resolve_methods(spec: str | None) -> tuple[tuple[str, ...], list[str]]:
    """The methods to run (recurct first) from ``--methods`` and the notes to print.

    ``spec`` is a comma-separated subset of :data:`METHODS`, or None for every method whose
    package is installed (the others are left out with a note). Raises :class:`InputError`
    for an unknown method, or a requested one whose package is missing.
    """
    if spec:
        methods = tuple(m.strip() for m in spec.split(",") if m.strip())
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            raise InputError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
        missing = [why for m in methods if (why := missing_package(m))]
        if missing:
            raise InputError("; ".join(missing))
        notes = []
    else:
        reasons = {m: missing_package(m) for m in METHODS}
        methods = tuple(m for m in METHODS if reasons[m] is None)
        notes = [f"{why}; running without it" for why in reasons.values() if why]
    if "recurct" not in methods:
        methods = ("recurct", *methods)
    return methods, notes
