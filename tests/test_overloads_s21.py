"""A dependent's type checker sees polars in, polars out (and pandas in, pandas out).

``read_exams``, ``validate``, ``cumulative_dose``, ``stats.magnitude`` and ``Cohort`` return
the kind of frame they were given (``ReadResult`` and ``Cohort`` are generic in it). Without
overloads a type checker saw ``pl.DataFrame | pd.DataFrame`` and a polars user had to cast
before ``.filter(pl.col(...))``. The polars overload comes first: where pandas has no stubs a
type checker reads ``pd.DataFrame`` as ``Any``, which would otherwise match every call first
and make every result ``Any``. The runtime test checks the implementation still accepts every
form; the mypy test runs where mypy is installed (the ``test`` extra installs it, so CI runs it).
"""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from test_typing_s20 import NO_MYPY, run_mypy

import recurct
from recurct.stats import magnitude

OVERLOADED = [
    recurct.read_exams,
    recurct.validate,
    recurct.cumulative_dose,
    magnitude,
    recurct.Cohort.__init__,
]


@pytest.mark.parametrize("fn", OVERLOADED, ids=lambda f: f.__qualname__)
def test_polars_overload_comes_first(fn: typing.Any) -> None:
    overloads = typing.get_overloads(getattr(fn, "__wrapped__", fn))
    assert len(overloads) == 4, fn
    first = overloads[0].__annotations__
    name = next(k for k in first if k not in ("self", "return"))
    assert "pl.DataFrame" in first[name] and "pd." not in first[name], first


def test_each_form_gives_its_own_kind() -> None:
    df = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2020, 6, 1)],
            "effective_dose_msv": [60.0, 50.0, 5.0],
        }
    )
    pdf = df.to_pandas()
    assert isinstance(recurct.read_exams(df).exams, pl.DataFrame)
    assert isinstance(recurct.read_exams(pdf).exams, pd.DataFrame)
    assert isinstance(recurct.cumulative_dose(recurct.read_exams(df), 100), pl.DataFrame)
    assert isinstance(recurct.cumulative_dose(recurct.read_exams(pdf), 100), pd.DataFrame)
    assert isinstance(recurct.cumulative_dose(df.to_arrow(), 100), pl.DataFrame)
    assert isinstance(recurct.Cohort(pdf).min_followup(0).exams, pd.DataFrame)
    assert isinstance(recurct.Cohort(df.lazy()).exams, pl.DataFrame)
    patients = recurct.cumulative_dose(recurct.read_exams(df).exams, 100)
    assert isinstance(magnitude(patients, 100), pl.DataFrame)
    assert isinstance(magnitude(patients.to_pandas(), 100), pd.DataFrame)


USER = """\
from __future__ import annotations

import polars as pl

import recurct
from recurct.stats import magnitude


def study(path: str) -> pl.DataFrame:
    res = recurct.read_exams(path)
    exams = recurct.validate(res.exams)
    patients = recurct.cumulative_dose(exams, thresholds=[50, 100])
    top = patients.filter(pl.col("ced_msv") > 100)
    cohort = recurct.Cohort(exams)
    adults: pl.DataFrame = cohort.min_followup(0).exams
    print(top.height, adults.height)
    return magnitude(patients, [50, 100], by="facility")


reveal_type(recurct.read_exams("x.csv").exams)
reveal_type(recurct.cumulative_dose(pl.DataFrame()))
reveal_type(recurct.Cohort(pl.DataFrame()).exams)
"""


@pytest.mark.slow
@pytest.mark.skipif(NO_MYPY, reason="mypy is not installed (the test extra installs it)")
def test_mypy_strict_accepts_polars_code_without_casts(tmp_path: Path) -> None:
    out = run_mypy(USER, tmp_path, "--strict")
    assert " error: " not in out, out
    revealed = [line for line in out.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3, out
    for line in revealed:
        assert line.endswith('"polars.dataframe.frame.DataFrame"'), line
