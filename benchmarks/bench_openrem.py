"""Time ``read_openrem_ct`` against ``pl.read_csv`` of the same OpenREM CT export.

The export is built from the hand-written fixture (tests/data/openrem/ct_export_pid.csv): its
rows repeated with distinct patient IDs, accession numbers and dates, to ``--rows`` studies.
What each timed read returns is checked against the export as polars reads it, with no
recurct code (:func:`check`): the studies kept (those not marked in "Test patient?"), their
patient IDs, study dates (by accession number), events, and the sums of their DLPs (the
events' and the reported totals, rel. 1e-9); a difference stops the script with exit code 1.

    python benchmarks/bench_openrem.py --rows 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import polars as pl
from peers import best, description  # (this folder is on the path when the script runs)

from recurct.io.openrem import read_openrem_ct

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "openrem" / "ct_export_pid.csv"


def make_export(rows: int, path: Path) -> Path:
    base = pl.read_csv(FIXTURE, infer_schema=False)
    reps = -(-rows // base.height)
    big = pl.concat([base] * reps).head(rows).with_row_index("i")
    big = big.with_columns(
        (pl.lit("P") + pl.col("i").cast(pl.Utf8)).alias("Patient ID"),
        (pl.lit("A") + pl.col("i").cast(pl.Utf8)).alias("Accession number"),
        (pl.date(2015, 1, 1) + pl.duration(days=pl.col("i") % 3000))
        .cast(pl.Utf8)
        .alias("Study date"),
    ).drop("i")
    big.write_csv(path)
    return path


def expected(path: Path) -> dict[str, object]:
    """What the export at ``path`` holds, read by polars alone: the studies not marked as a
    test patient, their patient IDs, study dates by accession number, number of events and
    the sums of the events' DLPs and of the reported DLP totals."""
    raw = pl.read_csv(path, infer_schema=False)
    kept = raw.filter(pl.col("Test patient?").is_null())
    events = [c for c in kept.columns if c.startswith("E") and c.endswith(" DLP")]
    number = pl.col("^(DLP total \\(mGy.cm\\)|E\\d+ DLP)$").cast(pl.Float64)
    kept = kept.with_columns(number)
    return {
        "studies": kept.height,
        "patients": kept.get_column("Patient ID").sort(),
        "dates": kept.select(
            pl.col("Accession number").alias("accession_number"),
            pl.col("Study date").str.to_date("%Y-%m-%d").alias("date"),
        ).sort("accession_number"),
        "events": int(kept.get_column("Number of events").cast(pl.Int64).sum()),
        "dlp": float(kept.select(pl.sum_horizontal(events).sum()).item()),
        "dlp_total": float(kept.get_column("DLP total (mGy.cm)").sum()),
    }


def check(result: object, want: dict[str, object]) -> list[str]:
    """How ``read_openrem_ct``'s ``result`` differs from the export (:func:`expected`)."""
    exams, events = result.exams, result.events  # type: ignore[attr-defined]
    problems = []
    if exams.height != want["studies"]:
        problems.append(f"{exams.height} studies read, the export holds {want['studies']}")
    ids = exams.get_column("patient_id").sort()
    if not ids.equals(want["patients"], check_names=False):  # type: ignore[arg-type]
        problems.append("the patient IDs read are not the export's")
    dates = exams.select("accession_number", pl.col("exam_date").cast(pl.Date).alias("date")).sort(
        "accession_number"
    )
    if not dates.equals(want["dates"]):  # type: ignore[arg-type]
        problems.append("the study dates read are not the export's")
    if events.height != want["events"]:
        problems.append(f"{events.height} events read, the export holds {want['events']}")
    for col, key in (("dlp_mgycm", "dlp"), ("reported_dlp_total_mgycm", "dlp_total")):
        got = float(exams.get_column(col).sum())
        if not math.isclose(got, want[key], rel_tol=1e-9):  # type: ignore[arg-type]
            problems.append(f"sum of {col} {got!r}, the export's {want[key]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=description(__doc__))
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_export(args.rows, Path(tmp) / "ct_export.csv")
        want = expected(path)
        t_csv, raw = best(lambda: pl.read_csv(path, infer_schema=False), args.repeat)
        t_rem, result = best(lambda: read_openrem_ct(path), args.repeat)
        size = path.stat().st_size / 1e6
    problems = check(result, want)
    if raw.height != args.rows:
        problems.append(f"pl.read_csv read {raw.height} rows, {args.rows} written")
    print(f"{args.rows:,} studies, {size:.1f} MB")
    print(f"pl.read_csv      {t_csv:8.3f} s")
    print(f"read_openrem_ct  {t_rem:8.3f} s  ({t_rem / t_csv:.1f}x read_csv)")
    for p in problems:
        print(f"CHECK FAILED: {p}")
    print(
        "checks: FAILED"
        if problems
        else f"checks: {want['studies']:,} studies (test patients dropped), their patient IDs, "
        "study dates, events and DLP sums agree with the export"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
