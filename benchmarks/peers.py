"""The peer runners: cumulative dose with recurct vs polars, pandas and DuckDB, side by side.

All methods run in one process on the same data (built outside the timed region), each
peer in its fastest known way (benchmarks/BASELINE.md), and every method's answer, recurct's
too, is checked against an independent one: :func:`reference`, plain NumPy over the exams
sorted by patient and time (:func:`check`), computed after the cohort's timed rounds so that
it is not in memory while a call is measured (:func:`run_size`). Operations:

* ``a``   per-patient totals (n, CED, first/last exam) and the share with CED >= 100 mSv;
* ``b``   days from the first exam until the running CED first reached 100 mSv;
* ``c``   the largest CED within any 1826-day window;
* ``abc`` all three as one analysis.

Run ``python benchmarks/bench_cumulative.py --sizes 1e6,1e7 --repeat 4`` (four rounds: with
the four methods each then comes right after each other once, :func:`round_orders`); the
scripts of this folder import the runners from here (``from peers import ...``: a script's
folder is on its ``sys.path``). This module is not part of the installed package (it was ``recurct.bench``
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

from recurct import _sort, _strings
from recurct import cumulative as _cumulative
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
    """The same cohort in every engine's container (built outside the timed region).

    pandas gets string ids as ``string[pyarrow]`` (Arrow-backed strings), its fastest form
    for them, rather than the object dtype that ``to_pandas()`` gives; the measurements of
    both forms are in benchmarks/RESULTS.md.
    """

    def __init__(self, df: pl.DataFrame, methods: tuple[str, ...]) -> None:
        self.pl = df
        self.n = df.height
        self.pd = _to_pandas(df) if "pandas" in methods else None
        self.con = None
        if "duckdb" in methods:
            import duckdb
            import numba

            self.con = duckdb.connect()
            self.con.execute(f"SET threads = {numba.get_num_threads()}")
            self.con.execute("SET preserve_insertion_order = false")
            self.arrow = df.with_row_index("rn").to_arrow()
            self.con.register("ex", self.arrow)


def _to_pandas(df: pl.DataFrame) -> Any:
    """``df`` as a pandas DataFrame, string (or ``Enum``) ids as ``string[pyarrow]``."""
    pdf = df.to_pandas()
    if not df.schema["patient_id"].is_integer():
        pdf["patient_id"] = pdf["patient_id"].astype("string[pyarrow]")
    return pdf


def op_args(op: str) -> dict[str, Any]:
    """:func:`recurct.cumulative_dose`'s arguments for operation ``op``."""
    return {
        "thresholds": (THRESHOLD,) if op in ("b", "abc") else (),
        "window_days": WINDOW if op in ("c", "abc") else None,
    }


def _recurct(data: _Data, op: str) -> Any:
    from recurct.cumulative import cumulative_dose

    p = cumulative_dose(data.pl, **op_args(op))
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
    """Crossings by one global cum_sum minus each patient's starting offset (sorted input).
    (The first row starts a patient: without ``fill_null(True)`` its patient's running sums
    were null, and that patient was missing from the answer when it reached 100 mSv.)"""
    first = (pl.col("patient_id") != pl.col("patient_id").shift(1)).fill_null(True)
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
    # no stable sort needed: a patient's exams are on distinct days (make_cohort), so the
    # (patient_id, exam_date) keys are unique and every sort gives the same order
    s = df.sort("patient_id", "exam_date", maintain_order=False)
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
    "rolling('1826D') on a monotonic offset axis (patients a window apart); string ids as "
    "string[pyarrow]",
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


def _ids(s: pl.Series) -> pl.Series:
    """Patient ids in one comparable form: integer ids as Int64, any other (text, ``Enum``,
    Arrow or pandas strings) as text."""
    s = s.alias("patient_id")
    return s.cast(pl.Int64) if s.dtype.is_integer() else s.cast(pl.String)


def _days(s: pl.Series) -> pl.Series:
    """Dates (or the calendar dates of datetimes) as whole days since 1970-01-01, Int64."""
    return (s if s.dtype == pl.Date else s.cast(pl.Date)).cast(pl.Int64)


def reference(df: pl.DataFrame) -> dict[str, Any]:
    """Every operation's answer for the exam table ``df``, computed independently of recurct
    and of the peers' runners: plain NumPy over the exams in patient and time order.

    The ids are coded by their place among the distinct ids sorted by polars (the order of
    every answer, sorted by id);
    the exams are put in (patient, timestamp) order by a stable :func:`numpy.lexsort` (exams
    at the same time keep their input order); each patient's running CED is summed exam by
    exam in that order (step ``k`` adds every patient's ``k``-th exam to the sum before it).
    The CED is the last running sum; the days to 100 mSv are those from the first exam to
    the first exam whose running sum reaches it (calendar days); the largest window is the
    largest running sum minus the running sum before the exams of the last 1826 calendar
    days (``day_j - day_i < 1826``, found by a binary search). Returns the form of
    :func:`_normalise`, every part: ``a`` (ids, ``n``, ``ced``, ``first`` and ``last``
    exam days), ``share`` (CED >= 100 mSv), ``b`` (the patients reaching 100 mSv and their
    ``days``), ``c`` (``wmax``).
    """
    ids = _ids(df.get_column("patient_id"))
    uniq = ids.unique().sort()
    codes = uniq.to_frame().with_row_index("code")  # each id's place among the sorted ids
    code = ids.to_frame().join(codes, on="patient_id", how="left", maintain_order="left")
    code = code.get_column("code").cast(pl.Int64).to_numpy()
    stamp = df.get_column("exam_date")
    day = _days(stamp).to_numpy()
    when = stamp.cast(pl.Int64).to_numpy()  # days of a Date, the unit of a Datetime
    dose = df.get_column("effective_dose_msv").cast(pl.Float64).to_numpy()
    order = np.lexsort((when, code))
    c, d, run = code[order], day[order], dose[order]  # run: summed in place below
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if c.size else c
    if starts.size != uniq.len():  # (a bug of this function, not of the answer checked)
        raise RuntimeError(
            f"reference: {starts.size} patients in the sorted exams but {uniq.len()} distinct "
            "patient ids: the ids' ranks and distinct values disagree"
        )
    n = np.diff(np.r_[starts, c.size])
    by_size = np.argsort(-n, kind="stable")  # patients with the most exams first
    firsts, neg = starts[by_size], -n[by_size]
    for k in range(1, int(n.max(initial=0))):
        rows = firsts[: np.searchsorted(neg, -k, side="left")] + k  # patients with > k exams
        run[rows] += run[rows - 1]
    lasts = starts + n - 1
    patient = np.repeat(np.arange(starts.size), n)
    hit = np.flatnonzero(run >= THRESHOLD)
    hit = hit[np.r_[True, patient[hit][1:] != patient[hit][:-1]]] if hit.size else hit
    reached = patient[hit]
    if c.size:
        span = int(d.max() - d.min()) + WINDOW + 1  # patients a window apart on one axis
        key = patient * span + (d - d.min())
        lo = np.searchsorted(key, key - (WINDOW - 1), side="left")
        before = np.where(lo > starts[patient], run[np.maximum(lo - 1, 0)], 0.0)
        wmax = np.maximum.reduceat(run - before, starts)
    else:
        wmax = run
    ced = run[lasts]
    return {
        "a": pl.DataFrame(
            {"patient_id": uniq, "n": n, "ced": ced, "first": d[starts], "last": d[lasts]}
        ),
        "share": float((ced >= THRESHOLD).mean()) if ced.size else 0.0,
        "b": pl.DataFrame(
            {"patient_id": uniq.gather(reached), "days": d[hit] - d[starts][reached]}
        ),
        "c": pl.DataFrame({"patient_id": uniq, "wmax": wmax}),
    }


def _frame(x: Any) -> pl.DataFrame:
    if isinstance(x, pl.DataFrame):
        return x
    mod = type(x).__module__
    if mod.startswith("pandas"):
        if x.__class__.__name__ == "Series":
            x = x.rename(x.name or "value").to_frame()
        return pl.from_pandas(x.reset_index())
    return pl.from_arrow(x)  # type: ignore[return-value]


def _parts(method: str, op: str, result: Any) -> dict[str, Any]:
    """A runner's answer as its parts: ``a``, ``b``, ``c`` (tables) and ``share``."""
    if method == "recurct" or (method == "duckdb" and op in ("a", "abc")):
        table, share = result  # one table holds every output
        parts: dict[str, Any] = {o: table for o in "abc" if o in op}
        if op in ("a", "abc"):
            parts["share"] = share
        return parts
    if op == "abc":
        (a, share), b, c = result
        return {"a": a, "share": share, "b": b, "c": c}
    if op == "a":
        a, share = result
        return {"a": a, "share": share}
    return {op: result}


#: The methods whose answer of operation ``b`` lists every patient, those that never reached
#: 100 mSv with a null day: recurct's patients table and DuckDB's ``GROUP BY`` over every
#: exam (polars and pandas list only the patients that reached it).
B_LISTS_EVERY_PATIENT = ("recurct", "duckdb")


def _normalise(method: str, op: str, result: Any) -> dict[str, Any]:
    """A runner's answer in :func:`reference`'s form, each table sorted by patient_id: ``a``
    (``n``, ``ced``, ``first``, ``last``: exam days), ``share``; ``b`` (``days``, the
    patients that reached 100 mSv) and, for an answer that lists every patient
    (:data:`B_LISTS_EVERY_PATIENT`, or any answer holding a null day), ``b_all``: every id
    it lists, those that did not reach 100 mSv too; ``c`` (``wmax``)."""
    out: dict[str, Any] = {}
    for part, x in _parts(method, op, result).items():
        if part == "share":
            out["share"] = float(x)
            continue
        f = _frame(x)
        f = f.rename({f.columns[0]: "patient_id"}) if "patient_id" not in f.columns else f
        f = f.with_columns(_ids(f.get_column("patient_id"))).sort("patient_id")
        if part == "a":
            out["a"] = pl.DataFrame(
                {
                    "patient_id": f.get_column("patient_id"),
                    "n": f.get_column("n_exams").cast(pl.Int64),
                    "ced": f.get_column("ced_msv").cast(pl.Float64),
                    "first": _days(f.get_column("first_exam")),
                    "last": _days(f.get_column("last_exam")),
                }
            )
        elif part == "b":
            col = "days_to_100" if "days_to_100" in f.columns else f.columns[-1]
            days = f.select("patient_id", pl.col(col).cast(pl.Int64).alias("days"))
            if method in B_LISTS_EVERY_PATIENT or days.get_column("days").null_count():
                out["b_all"] = days.get_column("patient_id")
            out["b"] = days.drop_nulls("days")
        else:
            col = f"max_ced_{WINDOW}" if f"max_ced_{WINDOW}" in f.columns else f.columns[-1]
            out["c"] = f.select("patient_id", pl.col(col).cast(pl.Float64).alias("wmax"))
    return out


def _same(a: pl.Series, b: pl.Series) -> bool:
    return a.len() == b.len() and a.equals(b, check_names=False)


def _unequal(a: pl.Series, b: pl.Series) -> int:
    """How many of the equally long ``a`` and ``b`` differ (integers: exactly)."""
    return int(np.count_nonzero(a.to_numpy() != b.to_numpy()))


def _far(a: pl.Series, b: pl.Series, atol: float = 0.0) -> int:
    """How many of the equally long ``a`` and ``b`` differ by more than 1e-6 (relative)."""
    return int(np.count_nonzero(~np.isclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, atol=atol)))


def _patients(k: int) -> str:
    return f"{k} patient" if k == 1 else f"{k} patients"


def check(ref: dict[str, Any] | None, got: dict[str, Any]) -> str:
    """Whether the answer ``got`` (:func:`_normalise`) equals the reference ``ref``
    (:func:`reference`) in every part it holds: ``"ok"``; else ``"FAIL"`` and what
    differs, by the answer's column names; ``"not checked"`` without a reference or an
    answer with no part to compare.

    Compared exactly: the patient ids (of op ``b`` too, where the answer lists every
    patient: ``b_all``), exam counts, first and last exam days, the patients reaching
    100 mSv and their days to it; within 1e-6 (relative): the CED and the largest window
    (that also within 1e-9 mSv); within 1e-12: the share >= 100 mSv.
    """
    if ref is None or not {"a", "b", "c"} & set(got):
        return "not checked"
    ids = ref["a"].get_column("patient_id")
    fails: list[str] = []
    if "a" in got:
        a, r = got["a"], ref["a"]
        if not _same(a.get_column("patient_id"), ids):
            fails.append(f"patient ids (a: {_patients(a.height)}, reference {r.height})")
        else:
            for col, name in (("n", "n_exams"), ("first", "first_exam"), ("last", "last_exam")):
                if bad := _unequal(a.get_column(col), r.get_column(col)):
                    fails.append(f"{name} ({_patients(bad)})")
            if bad := _far(a.get_column("ced"), r.get_column("ced")):
                fails.append(f"ced_msv ({_patients(bad)})")
    if "share" in got and not abs(got["share"] - ref["share"]) <= 1e-12:
        fails.append(f"share ({got['share']!r}, reference {ref['share']!r})")
    if "b" in got:
        b, r = got["b"], ref["b"]
        listed = got.get("b_all")  # every patient, with those not reaching 100 mSv
        if listed is not None and not _same(listed, ids):
            fails.append(f"patient ids (b: {_patients(listed.len())}, reference {ids.len()})")
        if not _same(b.get_column("patient_id"), r.get_column("patient_id")):
            fails.append(
                f"days_to_100 (patients reaching 100 mSv: {b.height}, reference {r.height}, "
                "not the same)"
            )
        elif bad := _unequal(b.get_column("days"), r.get_column("days")):
            fails.append(f"days_to_100 ({_patients(bad)})")
    if "c" in got:
        c, r = got["c"], ref["c"]
        if not _same(c.get_column("patient_id"), ids):
            fails.append(f"patient ids (c: {_patients(c.height)}, reference {r.height})")
        elif bad := _far(c.get_column("wmax"), r.get_column("wmax"), atol=1e-9):
            fails.append(f"max_ced_{WINDOW} ({_patients(bad)})")
    return "FAIL " + "; ".join(fails) if fails else "ok"


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


#: Exams of the string cohorts of :data:`KERNEL_COHORTS`: recurct's string kernels run from
#: ``recurct._strings.MIN_ROWS`` strings (the exams' ids, then the distinct ones: a cohort
#: has about one patient per 1.9 exams, so three times as many exams), the byte kernels of
#: long ids (64-hex pseudonyms, UUIDs) from ``recurct.cumulative._BYTE_ROWS`` exams.
STRING_KERNEL_EXAMS = max(_cumulative._BYTE_ROWS, 3 * _strings.MIN_ROWS)

#: The cohorts (exams, ids, order) on which a call of every operation compiles every numba
#: kernel that the benchmark's table uses (:data:`TABLE`), their sizes taken from recurct's
#: own limits: below ``recurct._sort._RADIX_MIN`` exams NumPy sorts the keys, from it
#: recurct's radix sort where NumPy's sort is slow; the string layouts at
#: :data:`STRING_KERNEL_EXAMS`. :func:`kernel_calls` caps them at the benchmark's largest
#: size. tests/test_peers.py checks that a fresh process compiles nothing more on the table's
#: layouts at 10^6 exams after these calls.
KERNEL_COHORTS: tuple[tuple[int, str, str], ...] = (
    (min(2_000, _sort._RADIX_MIN // 2), "int", "random"),
    (_sort._RADIX_MIN, "int", "random"),
    (_sort._RADIX_MIN, "int", "sorted"),
    *((STRING_KERNEL_EXAMS, ids, "random") for ids in ("str", "hex", "uuid", "enum", "prepared")),
)


def kernel_calls(max_exams: int | None = None) -> Callable[[], None]:
    """The calls of :func:`recurct.cumulative_dose` for every operation on every cohort of
    :data:`KERNEL_COHORTS`, each at most ``max_exams`` exams (the benchmark's largest size:
    a table no larger uses no kernel that such a cohort does not; None: as listed). The
    cohorts are built now, the calls made by the function returned."""
    from recurct.cumulative import cumulative_dose

    sizes = dict.fromkeys(
        (n if max_exams is None else min(n, max_exams), ids, order)
        for n, ids, order in KERNEL_COHORTS
    )
    cohorts = [make_cohort(n, seed=1, ids=ids, order=order) for n, ids, order in sizes]

    def calls() -> None:
        for df in cohorts:
            for op in OPS:
                cumulative_dose(df, **op_args(op))

    return calls


_COMPILE_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    t0 = time.perf_counter()
    from peers import kernel_calls, make_cohort, op_args
    from recurct.cumulative import cumulative_dose
    imports = time.perf_counter() - t0
    df = make_cohort(2000, seed=1)
    calls = kernel_calls(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    t1 = time.perf_counter()
    cumulative_dose(df, **op_args("abc"))
    t2 = time.perf_counter()
    calls()
    t3 = time.perf_counter()
    calls()  # again, warm: the calls' own work
    kernels = (t3 - t1) - (time.perf_counter() - t3)
    print(t2 - t1, kernels, imports + kernels)
    """
)


def compile_times(
    max_exams: int | None = None,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Seconds with an empty numba cache, then with it filled, each in a fresh process: the
    first :func:`recurct.cumulative_dose` result (2,000 exams, all three outputs); every
    kernel of the table: that call and the calls of :func:`kernel_calls` (cohorts of at most
    ``max_exams`` exams, the benchmark's largest size), less the same calls made again warm
    (their own work; the cohorts are built before); the process: its imports and every
    kernel."""
    cap = [] if max_exams is None else [str(max_exams)]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT, *cap],
                cwd=os.path.dirname(os.path.abspath(__file__)),  # `import peers` in the script
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            first, calls, whole = map(float, out.stdout.split())
            runs.append((first, calls, whole))
    return runs[0], runs[1]


def warm_up(methods: tuple[str, ...], max_exams: int | None = None) -> None:
    """Before the first timed row: load every numba kernel of the table (:func:`kernel_calls`,
    cohorts of at most ``max_exams`` exams, the benchmark's largest size) and run every method
    on every operation of small cohorts, so that the first row's peak memory does not hold the
    loading of recurct's kernels (at 10^5 exams its first row showed 791 B/exam over the
    input, the later rows 35 to 71) or a peer's first-call set-up."""
    kernel_calls(max_exams)()
    for ids in ("int", "str"):
        run_size(2_000, methods, OPS, 1, ids, "random")


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
    checked: bool = True,
) -> list[dict[str, Any]]:
    """Time every method on every op for one cohort; rows of the result table.

    For each op, each method's untimed first call (its peak memory), then ``repeat`` timed
    rounds (:func:`round_orders`). Then every answer is checked (:func:`checks`) against
    :func:`reference` of the cohort, computed only after every timed round of the cohort, so
    that it is not in memory while a call is measured: one more untimed call per method and
    op, recurct's as every peer's (``check`` "ok" or "FAIL ..."); with ``checked=False``
    nothing is compared and the rows say "not checked".
    """
    data = _Data(make_cohort(n, seed=0, ids=ids, order=order), methods)
    rows = []
    for op in ops:
        results: dict[str, dict[str, Any]] = {}
        for m in methods:  # untimed call: its peak memory (nothing else held)
            gc.collect()
            _reset_peak()
            before = _rss_mib()
            r = RUNNERS[m](data, op)
            peak = _peak_mib()
            del r
            results[m] = {"peak": peak, "extra": (peak - before) * 2**20 / n, "times": []}
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
                    "peak_mib": results[m]["peak"], "check": "not checked",
                    "extra_b": results[m]["extra"],
                }
            )  # fmt: skip
        if progress:
            done = ", ".join(f"{r['method']} {r['seconds']:.3f} s" for r in rows[-len(methods) :])
            print(f"  N={n:.0e} {order} {ids} {op}: {done}", flush=True)
    if checked:
        verdicts = checks(data, methods, ops, ids, order)
        for row in rows:
            row["check"] = verdicts[row["op"], row["method"]]
    return rows


def checks(
    data: _Data, methods: tuple[str, ...], ops: tuple[str, ...], ids: str, order: str
) -> dict[tuple[str, str], str]:
    """Each method's answer to each op on ``data`` (one untimed call) against
    :func:`reference` (:func:`check`): (op, method) -> verdict. The reference of the
    ``prepared`` layout is that of the raw cohort (string ids, rows as generated), not of the
    table :func:`recurct.prepare_exams` made of it, which recurct's answer is computed from."""
    raw = make_cohort(data.n, seed=0, ids="str", order=order) if ids == "prepared" else data.pl
    ref = reference(raw)
    del raw
    return {
        (op, m): check(ref, _normalise(m, op, RUNNERS[m](data, op))) for op in ops for m in methods
    }


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
        f"python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, "
        f"pandas {_version('pandas')}, pyarrow {_version('pyarrow')}, duckdb {_version('duckdb')}"
    )


def _version(package: str) -> str:
    """The installed version of ``package`` (without importing it), or "not installed"."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def description(doc: str | None) -> str:
    """A benchmark script's ``--help`` description, the same way in every script: the first
    paragraph of its docstring ``doc``, on one line (argparse would reflow a longer text)."""
    return " ".join((doc or "").split("\n\n")[0].split())


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


#: The rows of the table, for each size: (ids, order, operations, who runs: "all" methods,
#: the "engines" (pandas left out: on UUIDs, as on 64-hex pseudonyms, far slower) or
#: "recurct" alone).
TABLE: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("int", "random", OPS, "all"),
    ("int", "sorted", ("abc",), "all"),
    ("str", "random", ("a", "abc"), "all"),
    ("hex", "random", ("a", "abc"), "all"),
    ("uuid", "random", ("a", "abc"), "engines"),
    ("enum", "random", ("a", "abc"), "recurct"),
    ("prepared", "random", ("a", "abc"), "recurct"),
)


def _who(methods: tuple[str, ...], who: str) -> tuple[str, ...]:
    """The methods of a :data:`TABLE` row (``who``) among those run."""
    if who == "recurct":
        return ("recurct",)
    return tuple(m for m in methods if who == "all" or m != "pandas")


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

    largest = max(sizes, default=None)
    bw = bandwidth()
    emit(f"    machine: {machine(bw)}")
    (f1, c1, p1), (f2, c2, p2) = compile_times(largest)
    emit(
        f"    numba, empty cache: first cumulative_dose result {f1:.2f} s, every kernel of the "
        f"table {c1:.2f} s (process {p1:.2f} s); cached: {f2:.2f} s, {c2:.2f} s (process "
        f"{p2:.2f} s)"
    )
    emit()
    emit("How each method runs:")
    emit()
    for m in methods:
        emit(f"- {m}: {FORMS[m]}")
    emit()
    uuid_methods = _who(methods, "engines")  # as run_size gets them below
    emit(
        "Each table row: one untimed call per method (its peak memory), then "
        f"{repeat} timed rounds, best of them; the methods' order in each round is a row "
        f"of a Williams design (`round_orders`), in turn: over these {repeat} rounds "
        f"{order_balance(methods, repeat)} (the uuid rows' {len(uuid_methods)} methods: "
        f"{order_balance(uuid_methods, repeat)}). After a cohort's timed rounds, one more "
        "untimed call per method and operation is checked (`check` column; recurct's too) "
        "against an independent NumPy reference (`reference`; of the raw cohort in the "
        "prepared rows), computed only then, so that it is not in memory during a measured "
        "call: ids, exam counts, first and last exams, the patients reaching 100 mSv and "
        "their days to it exactly, CED and the largest window within 1e-6 (relative), the "
        "share >= 100 mSv within 1e-12."
    )
    warm_up(methods, largest)
    failed = False
    for n in sizes:
        rows = []
        for ids, order, ops, who in TABLE:
            rows += run_size(n, _who(methods, who), ops, repeat, ids, order, progress=progress)
        emit()
        emit(format_table(rows))
        emit()
        if "recurct" in methods:
            ours = next(
                r["seconds"]
                for r in rows
                if (r["layout"], r["op"], r["method"]) == ("sorted int", "abc", "recurct")
            )
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
