"""magnitude's bootstrap intervals depend on the seed only, not on the order of the patients
table's rows (the strata drew from one generator in the order they first appeared)."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from recurct.errors import RecurctWarning
from recurct.stats import magnitude


def _patients(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "ced_msv": rng.gamma(0.6, 60.0, n),
            "n_exams": rng.integers(1, 10, n),
            "facility": rng.choice(["A", "B", "C"], n),
            "site": rng.choice([f"s{i}" for i in range(12)], n),
            "age_first_exam": rng.uniform(0, 90, n),
        }
    )


@pytest.mark.parametrize("by", ["facility", ["facility", "site"]])
def test_bootstrap_intervals_do_not_depend_on_row_order(by: str | list[str]) -> None:
    p = _patients(1)
    moved = pl.concat([p.filter(pl.col("facility") == "C").head(1), p]).unique(
        "patient_id", keep="first", maintain_order=True
    )  # a facility-C patient first: the strata appear in another order
    assert moved.height == p.height and moved["facility"][0] == "C"
    kw = {"by": by, "ci": "bootstrap", "n_boot": 200, "seed": 7, "cluster": "site"}
    cols = [by] if isinstance(by, str) else by
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecurctWarning)  # few clusters in a stratum
        a = magnitude(p, 100, **kw).sort(cols)
        b = magnitude(moved, 100, **kw).sort(cols)
        c = magnitude(p.sample(fraction=1.0, shuffle=True, seed=3), 100, **kw).sort(cols)
    assert a.equals(b) and a.equals(c)
