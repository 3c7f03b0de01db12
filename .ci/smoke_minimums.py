"""The main path at the declared minimum versions of the core dependencies (`.ci/run`):
read a CSV and a Parquet file, validate, the patients table (integer and text ids, a
threshold and a window, polars and pandas), magnitude, running dose; no warning."""

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import polars as pl

import recurct
from recurct.stats import magnitude
from recurct.synthetic import generate

print("minimum versions:", {m.__name__: m.__version__ for m in (np, pl, pd)})
g = generate("small")
d = tempfile.mkdtemp()
g.write_csv(os.path.join(d, "x.csv"))
g.write_parquet(os.path.join(d, "x.parquet"))
warnings.simplefilter("error")
ex = recurct.read_exams(os.path.join(d, "x.csv")).exams
ex2 = recurct.read_exams(os.path.join(d, "x.parquet")).exams
v = recurct.validate(ex)
p = recurct.cumulative_dose(v, thresholds=100, window_days=1826)
m = magnitude(p, 100)
rng = np.random.default_rng(0)
n = 300_000
days = pl.Series(rng.integers(0, 3650, n).astype("int32")).cast(pl.Date)
big = pl.DataFrame(
    {
        "patient_id": [f"P{i:07d}" for i in rng.integers(0, 100_000, n)],
        "exam_date": days,
        "effective_dose_msv": rng.gamma(1.0, 8.0, n),
    }
)
q = recurct.cumulative_dose(big, thresholds=100, window_days=1826)
as_int = big.with_columns(pl.col("patient_id").str.slice(1).cast(pl.Int64))
qi = recurct.cumulative_dose(as_int, thresholds=100)
assert q.height == qi.height and np.allclose(q["ced_msv"].to_numpy(), qi["ced_msv"].to_numpy())
r = recurct.running_dose(big)
qp = recurct.cumulative_dose(big.to_pandas(), thresholds=100)
assert len(qp) == q.height and np.allclose(qp["ced_msv"].to_numpy(), q["ced_msv"].to_numpy())
assert ex.height == ex2.height == v.height and p.height == m["n_patients"][0]
print("ok at the minimum versions:", ex.height, "exams,", q.height, "patients,", r.height, "rows")
