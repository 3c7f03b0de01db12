"""Time ``read_exams`` on four generated CSV exports and check what it read.

The files (``--rows`` exams each, 10^6 by default), read in five ways:

* ``comma``: a ``,`` file, decimal points, two number columns (effective dose and DLP);
* ``semicolon``: a ``;`` file with decimal commas (``12,5``, ``1234,5``), the decimal mark
  decided by the columns;
* ``grouped``: the same with thousands points in the DLPs of 1000 or more (``1.234,5``);
  recurct before 0.2 did not read these (the line says so instead of a time);
* ``time``: the ``,`` file with a separate ``Study Time`` column (``HH:MM:SS``, DICOM
  ``HHMMSS.ffffff`` and ``HH:MM``, some times missing) merged into ``exam_date``;
* ``explicit``: the ``semicolon`` file read with ``decimal=","`` (the cost of the
  decision is its difference from ``semicolon``).

Each read is timed best of ``--repeat`` and its result (an untimed first read's and the last
timed read's) checked against the values the generator wrote (a plain reference: numbers and
datetimes built from the same integers).

    python benchmarks/bench_read.py --rows 1000000 --repeat 3

To compare two versions, run this script with ``PYTHONPATH`` pointing at each ``src`` in
turn, at the same load (one process per version: a module is imported once).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from peers import best, description, machine  # (this folder is on the path when the script runs)

import recurct
from recurct import read_exams


def _columns(rows: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pid": rng.integers(0, rows // 3 + 1, rows),
        "day": rng.integers(0, 3650, rows),  # days after 2010-01-01
        "dose10": rng.integers(1, 400, rows),  # effective dose in tenths of a mSv
        "dlp10": rng.integers(10, 40000, rows),  # DLP in tenths of a mGy.cm (to 3,999.9)
        "sec": rng.integers(0, 86400, rows),  # time of day in seconds
        "usec": rng.integers(0, 1_000_000, rows),
        "form": rng.integers(0, 4, rows),  # 0 HH:MM:SS, 1 DICOM HHMMSS.ffffff, 2 HH:MM, 3 none
    }


def _text_frame(
    c: dict[str, np.ndarray], comma: bool, time_column: bool, grouped: bool = False
) -> pl.DataFrame:
    day = pl.lit(np.datetime64("2010-01-01")).cast(pl.Date) + pl.duration(days=pl.col("day"))
    frame = pl.DataFrame(c)

    def num(col: str) -> pl.Expr:
        whole = (pl.col(col) // 10).cast(pl.Utf8)
        frac = (pl.col(col) % 10).cast(pl.Utf8)
        if not comma:
            return pl.concat_str([whole, pl.lit("."), frac])
        thousands = pl.concat_str(  # 1.234,5 for a DLP of 1000 or more
            [(pl.col(col) // 10000).cast(pl.Utf8), pl.lit("."), whole.str.slice(-3), pl.lit(",")]
        )
        lead = whole + pl.lit(",")
        if grouped:
            lead = pl.when(pl.col(col) >= 10000).then(thousands).otherwise(lead)
        return lead + frac

    out = frame.select(
        pl.concat_str([pl.lit("P"), pl.col("pid").cast(pl.Utf8).str.zfill(7)]).alias("Patient ID"),
        day.dt.strftime("%Y%m%d").alias("Study Date"),
        num("dose10").alias("Effective Dose (mSv)"),
        num("dlp10").alias("DLP (mGy.cm)"),
    )
    if time_column:
        hh = (pl.col("sec") // 3600).cast(pl.Utf8).str.zfill(2)
        mm = (pl.col("sec") // 60 % 60).cast(pl.Utf8).str.zfill(2)
        ss = (pl.col("sec") % 60).cast(pl.Utf8).str.zfill(2)
        us = pl.col("usec").cast(pl.Utf8).str.zfill(6)
        form = pl.col("form")
        t = (
            pl.when(form == 0)
            .then(pl.concat_str([hh, mm, ss], separator=":"))
            .when(form == 1)
            .then(pl.concat_str([hh, mm, ss, pl.lit("."), us]))
            .when(form == 2)
            .then(pl.concat_str([hh, mm], separator=":"))
        )
        out = out.with_columns(frame.select(t.alias("Study Time")).to_series())
    return out


def _expected(c: dict[str, np.ndarray], time_column: bool) -> pl.DataFrame:
    """The values each file holds, built from the integers (no text parsed)."""
    day = np.datetime64("2010-01-01", "us") + c["day"].astype("timedelta64[D]")
    if time_column:
        form = c["form"]
        sec = np.where(form == 2, c["sec"] // 60 * 60, c["sec"])
        usec = np.where(form == 1, c["usec"], 0)
        clock = sec.astype("timedelta64[s]") + usec.astype("timedelta64[us]")
        day = np.where(form == 3, day, day + clock)
    return pl.DataFrame(
        {
            "patient_id": [f"P{p:07d}" for p in c["pid"]],
            "exam_date": day,
            "effective_dose_msv": c["dose10"] / 10,
            "dlp_mgycm": c["dlp10"] / 10,
        }
    )


def write_files(rows: int, folder: Path) -> dict[str, tuple[Path, pl.DataFrame]]:
    c = _columns(rows)
    files = {}
    for name, comma, time_column, grouped in (
        ("comma", False, False, False),
        ("semicolon", True, False, False),
        ("grouped", True, False, True),
        ("time", False, True, False),
    ):
        path = folder / f"{name}.csv"
        text = _text_frame(c, comma, time_column, grouped)
        text.write_csv(path, separator=";" if comma else ",")
        files[name] = (path, _expected(c, time_column))
    return files


def check(name: str, got: pl.DataFrame, expected: pl.DataFrame) -> None:
    cols = list(expected.columns)
    got = got.select(cols).with_columns(pl.col("exam_date").cast(pl.Datetime("us")))
    for col in cols:
        a, b = got.get_column(col), expected.get_column(col)
        if col in ("effective_dose_msv", "dlp_mgycm"):
            same = bool(((a - b).abs() <= 1e-9 * b.abs()).all())
        else:
            same = a.equals(b)
        if not same or got.height != expected.height:
            raise SystemExit(f"{name}: column {col!r} differs from the values written")


def machine_line() -> str:
    """The machine line of the other benchmarks, and which recurct was imported."""
    return f"machine: {machine()}; recurct {recurct.__version__} ({Path(recurct.__file__).parent})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=description(__doc__))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(args.rows, Path(tmp))
        print(machine_line())
        runs = {
            "comma": ("comma", {}),
            "semicolon": ("semicolon", {}),
            "explicit": ("semicolon", {"decimal": ","}),
            "grouped": ("grouped", {}),
            "time": ("time", {}),
        }
        for label, (name, kwargs) in runs.items():
            path, expected = files[name]
            try:
                out = read_exams(path, **kwargs)
            except ValueError as exc:
                print(f"{label:<10} not read by this version: {str(exc).splitlines()[0]}")
                continue
            check(label, out.exams, expected)
            t, timed = best(lambda p=path, k=kwargs: read_exams(p, **k), args.repeat)
            check(label, timed.exams, expected)  # a timed read's answer too
            size = path.stat().st_size / 1e6
            print(f"{label:<10} {args.rows:>9,} rows {size:6.1f} MB  {t:7.3f} s  (checked)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
