"""Yes/no options and text options of the public API take what they say and nothing else.

A flag given ``"no"``, ``0``, ``None`` or a Series was read by its truth value (``"no"`` is
true: ``strict="no"`` was strict) or failed inside polars ("the truth value of a Series is
ambiguous"); a text option or column name given a Series failed the same way. Each is now a
:class:`recurct.errors.ParameterError` naming the function and the parameter
(:func:`recurct._checks.flag`, :func:`recurct._checks.choice`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import _checks, stats, synthetic
from recurct.errors import ParameterError
from recurct.outofcore import write_patients
from recurct.studies._reproduction import Reproduction

NOT_FLAGS = ["no", 0, 1, None, pl.Series([True]), np.array([True]), 1.0]


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2021, 3, 1)],
            "effective_dose_msv": [5.0, 7.0, 2.0],
        }
    )


def _magnitude() -> pl.DataFrame:
    patients = recurct.cumulative_dose(_exams(), thresholds=100)
    return stats.magnitude(patients, thresholds=100)


# (label, call with the flag given as ``v``); every call is otherwise valid
FLAG_CALLS: list[tuple[str, Callable[[Any, Path], Any]]] = [
    ("validate.strict", lambda v, d: recurct.validate(_exams(), strict=v)),
    ("validate.dayfirst", lambda v, d: recurct.validate(_exams(), dayfirst=v)),
    ("read_exams.strict", lambda v, d: recurct.read_exams(_exams(), strict=v)),
    ("read_exams.validate", lambda v, d: recurct.read_exams(_exams(), validate=v)),
    ("read_exams.dayfirst", lambda v, d: recurct.read_exams(_exams(), dayfirst=v)),
    ("readable.percent", lambda v, d: stats.readable(_magnitude(), percent=v)),
    (
        "export_table.formatted",
        lambda v, d: stats.export_table(_magnitude(), d / "t.csv", formatted=v),
    ),
    (
        "export_table.overwrite",
        lambda v, d: stats.export_table(_magnitude(), d / "t.csv", overwrite=v),
    ),
    (
        "read_openrem_ct.include_non_patient",
        lambda v, d: recurct.read_openrem_ct(d / "none.csv", include_non_patient=v),
    ),
    (
        "read_rdsr.include_non_patient",
        lambda v, d: recurct.read_rdsr(d / "none.dcm", include_non_patient=v),
    ),
    ("read_rdsr.strict", lambda v, d: recurct.read_rdsr(d / "none.dcm", strict=v)),
    (
        "write_cohort.overwrite",
        lambda v, d: synthetic.write_cohort("small", d / "c", n_patients=10, overwrite=v),
    ),
    (
        "write_patients.overwrite",
        lambda v, d: write_patients(_exams(), d / "p", overwrite=v),
    ),
    ("Reproduction.save.figures", lambda v, d: Reproduction.save(None, d, figures=v)),  # type: ignore[arg-type]
    ("Reproduction.save.overwrite", lambda v, d: Reproduction.save(None, d, overwrite=v)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("label, call", FLAG_CALLS, ids=[c[0] for c in FLAG_CALLS])
@pytest.mark.parametrize("value", NOT_FLAGS, ids=repr)
def test_flag_refuses_what_is_not_true_or_false(label, call, value, tmp_path) -> None:
    name = label.rsplit(".", 1)[1]
    with pytest.raises(ParameterError, match=f"{name} must be True or False"):
        call(value, tmp_path)


def test_flag_takes_numpy_bools() -> None:
    assert _checks.flag(np.bool_(True), "f", "x") is True
    assert _checks.flag(False, "f", "x") is False
    got = recurct.read_exams(_exams(), strict=np.bool_(False))
    assert got.exams.height == 3


def test_choice() -> None:
    assert _checks.choice("a", ("a", "b"), "f", "x") == "a"
    for bad in ("c", pl.Series(["a"]), np.array(["a"]), None, 1):
        with pytest.raises(ParameterError, match=r"f: x must be one of 'a', 'b'"):
            _checks.choice(bad, ("a", "b"), "f", "x")
