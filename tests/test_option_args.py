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


@pytest.fixture(scope="module")
def cohort() -> tuple[pl.DataFrame, pl.DataFrame]:
    exams = synthetic.generate("small", n_patients=80, seed=0)
    return exams, recurct.cumulative_dose(exams, thresholds=50)


SERIES = pl.Series(["x"])

# (label naming the parameter, call given the cohort (exams, patients) and the bad value)
TEXT_CALLS: list[tuple[str, Callable[[tuple[pl.DataFrame, pl.DataFrame], Any], Any]]] = [
    ("cumulative_dose.indication", lambda c, v: recurct.cumulative_dose(c[0], indication=v)),
    ("effective_dose.level", lambda c, v: recurct.effective_dose(c[0], level=v)),
    ("effective_dose.region_column", lambda c, v: recurct.effective_dose(c[0], region_column=v)),
    ("k_factors.age_rule", lambda c, v: recurct.k_factors(["head"], [30.0], age_rule=v)),
    (
        "compare_to_drl.exam_type_column",
        lambda c, v: recurct.compare_to_drl(c[0], exam_type_column=v),
    ),
    ("flag_above_drl.region_column", lambda c, v: recurct.flag_above_drl(c[0], region_column=v)),
    ("lagged_dose.entry_column", lambda c, v: recurct.lagged_dose(c[0], c[1], entry_column=v)),
    ("lagged_dose.event_column", lambda c, v: recurct.lagged_dose(c[0], c[1], event_column=v)),
    ("read_exams.decimal", lambda c, v: recurct.read_exams(c[0], decimal=v)),
    ("Cohort.ages.at", lambda c, v: recurct.Cohort(c[0]).ages(lo=10, at=v)),
    ("exam_rate.family", lambda c, v: stats.exam_rate(c[1], "n_exams ~ sex", family=v)),
    ("standardise.ci", lambda c, v: stats.standardise(c[1], threshold=50, ci=v)),
    ("time_to_threshold.ci", lambda c, v: stats.time_to_threshold(c[1], 50, ci=v)),
    ("dose_bands.labels", lambda c, v: stats.dose_bands(c[1], labels=v)),
    ("studies.get", lambda c, v: recurct.studies.get(v)),
    ("magnitude.ci", lambda c, v: stats.magnitude(c[1], 50, ci=v)),
    ("meta_proportion.transform", lambda c, v: stats.meta_proportion(AGG, transform=v)),
    ("meta_proportion.tau2", lambda c, v: stats.meta_proportion(AGG, tau2=v)),
    ("meta_proportion.subgroup", lambda c, v: stats.meta_proportion(AGG, subgroup=v)),
    ("site_table.site", lambda c, v: stats.site_table(c[1], site=v)),
    ("standardise.age_column", lambda c, v: stats.standardise(c[1], 50, age_column=v)),
]

AGG = pl.DataFrame(
    {
        "site": ["A", "B", "C", "D"],
        "n_patients": [100, 200, 150, 80],
        "n_reached": [3, 5, 0, 2],
        "country": ["X", "X", "Y", "Y"],
    }
)


@pytest.mark.parametrize("label, call", TEXT_CALLS, ids=[c[0] for c in TEXT_CALLS])
@pytest.mark.parametrize("value", [SERIES, ["x"], {}, 1], ids=["Series", "list", "dict", "int"])
def test_text_option_refuses_what_is_not_text(label, call, value, cohort) -> None:
    name = "unknown study" if label == "studies.get" else label.rsplit(".", 1)[1]
    with pytest.raises(ParameterError, match=name):
        call(cohort, value)


@pytest.mark.parametrize(
    "values", ["abc", {}, True, 1.5, pl.DataFrame({"a": ["x"]}), b"x"], ids=repr
)
def test_normalise_region_refuses_what_is_not_a_column_of_texts(values) -> None:
    with pytest.raises(ParameterError, match="normalise_region maps a Series or a sequence"):
        recurct.normalise_region(values)


def test_k_factors_regions_and_ages_are_checked() -> None:
    for regions in ("head", {}, 5):
        with pytest.raises(ParameterError, match="regions must be an array of strings"):
            recurct.k_factors(regions, table="aapm96")
    for ages in ("abc", True, [object()], {"a": 1}):
        with pytest.raises(ParameterError, match="ages must be numbers of years"):
            recurct.k_factors(["head"], ages, table="shrimpton_age")
    assert recurct.k_factors(["head"], 5, table="shrimpton_age").tolist() == [0.004]


def test_lagged_dose_covariates_one_name_is_one_column(cohort) -> None:
    exams, patients = cohort
    subjects = patients.select(
        "patient_id",
        "sex",
        pl.col("first_exam").alias("entry"),
        (pl.col("last_exam") + pl.duration(days=1)).alias("exit"),
        pl.lit(0).alias("event"),
    )
    one = recurct.lagged_dose(exams, subjects, covariates="sex")  # was read as "s", "e", "x"
    assert one.columns[-1] == "sex"
    assert one.equals(recurct.lagged_dose(exams, subjects, covariates=["sex"]))


def test_other_arguments_of_the_wrong_kind(tmp_path, cohort) -> None:
    patients = cohort[1]
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: stats.magnitude(patients, 50, age_cut=None), "age_cut"),
        (lambda: stats.extrapolate(rate_per_1000=2.0, population=1e6, rate_ci=True), "rate_ci"),
        (lambda: stats.extrapolate(rate_per_1000=2.0, population=1e6, rate_ci=[1.0]), "rate_ci"),
        (lambda: stats.proportion_ci("abc", 10), "count and nobs must be numbers"),
        (lambda: stats.proportion_ci(3, ["x"]), "count and nobs must be numbers"),
        (lambda: recurct.dose.exam_region(True), "regions must be a sequence"),
        (lambda: recurct.dose.exam_region(None), "regions must be a sequence"),
        (lambda: recurct.dose.exam_region("chest"), "regions must be a sequence"),
        (lambda: recurct.dose.exam_region(["chest"], dlps=5.0), "dlps must be a sequence"),
        (lambda: stats.export_table(AGG, True), "path must be the path of a file"),
        (lambda: stats.export_table(AGG, tmp_path / "t.md", caption=1), "caption must be text"),
    ]
    for call, message in cases:
        with pytest.raises(ParameterError, match=message):
            call()
    assert recurct.dose.exam_region(("chest", "abdomen_pelvis")) == "chest_abdomen_pelvis"


@pytest.mark.parametrize("value", ["no", 0, pl.Series([True])], ids=repr)
def test_progress_is_true_false_or_none(value, tmp_path) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: synthetic.generate("small", n_patients=10, progress=value),
        lambda: synthetic.write_cohort("small", tmp_path / "c", n_patients=10, progress=value),
        lambda: write_patients(_exams(), tmp_path / "p", progress=value),
        lambda: recurct.read_rdsr(tmp_path / "none.dcm", progress=value),
    ]
    for call in calls:
        with pytest.raises(ParameterError, match="progress must be True or False"):
            call()
    assert synthetic.generate("small", n_patients=10, progress=None).height > 0


def test_plot_text_options(cohort) -> None:
    sites = stats.site_table(AGG)
    with pytest.raises(ParameterError, match="forest: model must be one of"):
        recurct.plot.forest(sites, model=pl.Series(["random"]))
    result = stats.time_to_threshold(cohort[1], 50)
    with pytest.raises(ParameterError, match="caption must be text or None"):
        recurct.plot.time_to_threshold_curve(result, caption=pl.Series(["x"]))


def test_a_missing_end_date_is_refused() -> None:
    import pandas as pd

    for end in (pd.NaT, np.datetime64("NaT")):
        with pytest.raises(ParameterError, match="end must be a date, got a missing value"):
            recurct.Cohort(_exams()).min_followup(30, end=end)
