"""Time ``read_openrem_ct`` against ``pl.read_csv`` of the same OpenREM CT export.

The export is built from the hand-written fixture (tests/data/openrem/ct_export_pid.csv): its
rows repeated with distinct patient IDs, accession numbers and dates, to ``--rows`` studies.

    python benchmarks/bench_openrem.py --rows 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polars as pl
from peers import best  # (this folder is on the path when the script runs)

from recurct.io.openrem import read_openrem_ct

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "openrem" / "ct_export_pid.csv"


def make_export(rows: int, path: Path) -> Path:
    base = pl.read_csv(FIXTURE, infer_schema=False)
    reps = -(-rows // base.height)
    big = pl.concat([base] * reps).head(rows).with_row_index("i")
    big = big.with_columns(
        (pl.lit("P") + pl.col("i").cast(pl.Utf8)).alias("Patient ID"),
        (pl.lit("A") + pl.col("i").cast(pl.Utf8)).alias("Accession number"),
        (pl.date(2015, 1, 1) + pl.duration(days=pl.col("i") % 3000)).cast(pl.Utf8).alias(
            "Study date"
        ),
    ).drop("i")
    big.write_csv(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_export(args.rows, Path(tmp) / "ct_export.csv")
        t_csv = best(lambda: pl.read_csv(path, infer_schema=False), args.repeat)[0]
        t_rem = best(lambda: read_openrem_ct(path), args.repeat)[0]
        size = path.stat().st_size / 1e6
    print(f"{args.rows:,} studies, {size:.1f} MB")
    print(f"pl.read_csv      {t_csv:8.3f} s")
    print(f"read_openrem_ct  {t_rem:8.3f} s  ({t_rem / t_csv:.1f}x read_csv)")


if __name__ == "__main__":
    main()
