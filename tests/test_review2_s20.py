"""Review 2 of session 20: k factors read a float32 age as written; ``Cohort.ages`` reads one
dtype, not the whole schema; a warning of recurct called by pandas' ``pipe`` (or by a user's
module named like polars') points at the user's line."""

from __future__ import annotations

import datetime as dt
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import recurct
from recurct import dose

# ------------------------------------------------------------ 1. k factors: float32 as written

_AGE = 12.3  # between shrimpton_age's 10 and 15: interpolated, so every digit shows


def _k(ages) -> list[float]:
    return dose.k_factors(
        ["chest", "chest"], ages, table="shrimpton_age", age_rule="interpolate"
    ).tolist()


@pytest.mark.parametrize(
    "ages",
    [
        pl.Series([_AGE, 5.0], dtype=pl.Float32),
        pl.Series([_AGE, 5.0], dtype=pl.Float16),
        pd.Series([_AGE, 5.0], dtype="float32"),
        pd.Series([_AGE, 5.0], dtype="float16"),
        pd.Series([_AGE, 5.0], dtype="Float32"),
        pd.Series([_AGE, 5.0], dtype="float32[pyarrow]"),
        np.array([_AGE, 5.0], dtype=np.float32),
        np.array([_AGE, 5.0], dtype=np.float16),
    ],
    ids=lambda a: f"{type(a).__module__.split('.')[0]}-{a.dtype}",
)
def test_k_factors_read_a_float32_age_as_written(ages) -> None:
    """A float32 (float16) 12.3 is 12.3, as effective_dose reads it: the k factor was that
    of 12.300000190734863 (0.013287500023841856, not 0.0132875)."""
    want = _k([_AGE, 5.0])
    assert _k(ages) == want
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": [dt.date(2020, 1, 1)] * 2,
            "body_region": ["chest"] * 2,
            "dlp_mgycm": [1.0, 1.0],
            "age_years": pl.Series([_AGE, 5.0], dtype=pl.Float32),
        }
    )
    out = recurct.effective_dose(exams, table="shrimpton_age", age_rule="interpolate")
    assert out["effective_dose_msv"].to_list() == want


def test_k_factors_read_a_float32_scalar_age_as_written() -> None:
    assert _k(np.float32(_AGE)) == _k(_AGE) == _k(np.float16(_AGE))


def test_k_factors_other_ages_as_they_are() -> None:
    """float64 and integers unchanged; a missing float32 age is still a missing age."""
    assert _k(np.array([_AGE, 5.0])) == _k(pl.Series([_AGE, 5.0])) == _k([_AGE, 5])
    assert _k(np.array([12, 5], dtype=np.int32)) == _k(pl.Series([12, 5], dtype=pl.Int8))
    for missing in (
        pl.Series([_AGE, None], dtype=pl.Float32),
        np.array([_AGE, np.nan], dtype=np.float32),
        pd.Series([_AGE, None], dtype="Float32"),
    ):
        with pytest.raises(ValueError, match="missing age"):
            _k(missing)


# ------------------------------------------------------------ 2. Cohort.ages: one dtype


def test_cohort_ages_read_no_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a frame's schema is slow with an Enum of many ids (0.17 s a call for a
    million): ``Cohort.ages`` and ``facilities`` read the dtypes of their columns only."""
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2021, 1, 1)] + [dt.date(2020, 1, 1)] * 2,
            "effective_dose_msv": [1.0, 2.0, 3.0, 4.0],
            "age_years": pl.Series([17.99, 18.99, 18.0, None], dtype=pl.Float32),
            "facility": ["A", "B", "A", "A"],
        }
    )
    cohort = recurct.Cohort(exams)

    def no_schema(self: pl.DataFrame) -> pl.Schema:
        raise AssertionError("read the whole schema")

    monkeypatch.setattr(pl.DataFrame, "schema", property(no_schema))
    # a float32 age as written: 18.0 is 18, 17.99 is not
    assert cohort.ages(18, at="each").n_exams == 2
    assert cohort.ages(18, at="first").n_patients == 1
    assert cohort.ages(hi=18, at="first").n_patients == 1
    assert cohort.facilities("A").n_exams == 3


# ------------------------------------------------------------ 3. warnings through pandas

_BAD = {
    "patient_id": ["a", "b"],
    "exam_date": ["2020-01-01", "2020-01-02"],
    "effective_dose_msv": [1.0, -1.0],  # dropped with strict=False
}


def _places(call) -> list[tuple[str, int]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    hits = [
        (w.filename, w.lineno) for w in caught if issubclass(w.category, recurct.RecurctWarning)
    ]
    assert hits
    return hits


def test_recurct_called_by_pandas_pipe_points_at_the_users_line() -> None:
    """pandas' frames are walked past like polars' (it pointed at pandas/core/common.py)."""
    frame = pd.DataFrame(_BAD)
    line = sys._getframe().f_lineno + 1
    hits = _places(lambda: frame.pipe(recurct.validate, strict=False))
    assert hits == [(__file__, line)]


def test_a_users_module_named_like_polars_is_the_users_line(tmp_path: Path) -> None:
    """A module of the user's whose name is under polars' (``polars.my_ext``) is not polars:
    the warning points at its line (it was walked past, to this file)."""
    source = tmp_path / "my_polars_ext.py"
    source.write_text(
        "import recurct\n\n\ndef check(df):\n    return recurct.validate(df, strict=False)\n"
    )
    ext = types.ModuleType("polars.my_ext")
    exec(compile(source.read_text(), str(source), "exec"), ext.__dict__)
    assert _places(lambda: ext.check(pl.DataFrame(_BAD))) == [(str(source), 5)]
