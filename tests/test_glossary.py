"""The public API follows the glossary in CONTRIBUTING.md (issue 19).

Every parameter of every public function and method (each public module's ``__all__``), every
field of a public result object and every column of the tables the public functions return
must be listed in the glossary; a name that is not is drift, and fails here. The result
columns are collected by running each table-returning function on one small cohort.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import recurct

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"
SKIP_PARAMS = {"self", "cls", "args", "kwargs"}


@cache
def glossary(section: str) -> tuple[re.Pattern[str], ...]:
    """The names of one glossary table, as patterns (``<T>`` stands for any text)."""
    lines = CONTRIBUTING.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- glossary:{section} -->")
    names: list[re.Pattern[str]] = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        for name in re.findall(r"`([^`]+)`", first):
            parts = re.split(r"(<[^>]+>)", name)
            rx = "".join(".+" if p.startswith("<") else re.escape(p) for p in parts)
            names.append(re.compile(rx + r"\Z"))
    assert names, f"the glossary has no {section} table"
    return tuple(names)


def in_glossary(name: str, *sections: str) -> bool:
    return any(p.match(name) for s in sections for p in glossary(s))


def public_modules() -> list[str]:
    """``recurct`` and every module its ``__all__`` names, followed recursively.

    A module is public when a public ``__all__`` names it (``recurct.stats``, ``recurct.io``);
    modules below that are not named (``recurct.stats._magnitude``, ``recurct.io.exams``)
    implement names their package exports, and are checked through the package.
    """
    out: set[str] = set()
    todo = [recurct]
    while todo:
        module = todo.pop()
        if module.__name__ in out:
            continue
        out.add(module.__name__)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name, None)
            if value is None and hasattr(module, "__path__"):
                value = importlib.import_module(f"{module.__name__}.{name}")
            if inspect.ismodule(value) and value.__name__.startswith("recurct"):
                todo.append(value)
    return sorted(out)


def public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        ]
    return list(names)


def public_objects() -> Iterator[tuple[str, Any]]:
    """Each public object once, with its qualified name (stand-ins for removed names left out)."""
    seen: set[int] = set()
    for mod_name in public_modules():
        module = importlib.import_module(mod_name)
        for name in public_names(module):
            obj = getattr(module, name, None)
            if obj is None or id(obj) in seen or hasattr(obj, "__recurct_removed__"):
                continue
            seen.add(id(obj))
            yield f"{mod_name}.{name}", obj


def callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    for qual, obj in public_objects():
        if inspect.isfunction(obj):
            yield qual, obj
        elif inspect.isclass(obj):
            if "__init__" in vars(obj) and not dataclasses.is_dataclass(obj):
                yield f"{qual}.__init__", obj.__init__
            for attr, member in vars(obj).items():
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield f"{qual}.{attr}", member


def dataclasses_() -> Iterator[tuple[str, type]]:
    for qual, obj in public_objects():
        if inspect.isclass(obj) and result_fields(obj):
            yield qual, obj


def result_fields(cls: type) -> tuple[str, ...]:
    """The fields of a result class: a dataclass or a NamedTuple."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return tuple(cls._fields)
    return ()


def test_every_public_module_declares_its_api() -> None:
    """The public API is each public module's ``__all__``: a module without one is refused."""
    lacking = [m for m in public_modules() if not hasattr(importlib.import_module(m), "__all__")]
    assert not lacking, f"public modules without __all__: {lacking}"


def test_the_api_is_walked() -> None:
    """The walk reaches the main entry points (a walk that finds nothing passes vacuously)."""
    found = {q.rsplit(".", 1)[-1] for q, _ in callables()}
    for name in ("cumulative_dose", "magnitude", "read_exams", "effective_dose", "generate"):
        assert name in found


def test_every_parameter_is_in_the_glossary() -> None:
    missing = {}
    for qual, func in callables():
        for p in inspect.signature(func).parameters:
            if p not in SKIP_PARAMS and not in_glossary(p, "parameters"):
                missing.setdefault(p, []).append(qual)
    assert not missing, "parameters missing from the CONTRIBUTING.md glossary:\n" + "\n".join(
        f"  {p}: {', '.join(q)}" for p, q in sorted(missing.items())
    )


def test_every_result_field_is_in_the_glossary() -> None:
    missing = {}
    for qual, cls in dataclasses_():
        for field in result_fields(cls):
            if not field.startswith("_") and not in_glossary(field, "fields", "parameters"):
                missing.setdefault(field, []).append(qual)
    assert not missing, "result fields missing from the CONTRIBUTING.md glossary:\n" + "\n".join(
        f"  {p}: {', '.join(q)}" for p, q in sorted(missing.items())
    )


def test_glossary_patterns_match_only_what_they_should() -> None:
    """The parser: a placeholder matches a number, a plain name only itself."""
    assert in_glossary("reached_100", "columns")
    assert in_glossary("reached_62.5", "columns")
    assert not in_glossary("reached", "columns")
    assert not in_glossary("n_high", "columns")
    assert not in_glossary("ci_transform", "parameters")


# ---------------------------------------------------------------- result tables of a run


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    """Every table-returning public function, run once on one small cohort."""
    from recurct import stats
    from recurct.synthetic import generate

    exams = generate("rehani2020", n_patients=3000, seed=5)
    out: dict[str, Any] = {}
    out["validate"] = recurct.validate(exams)
    patients = recurct.cumulative_dose(exams, thresholds=[50, 100], window_days=365)
    out["cumulative_dose"] = patients
    out["running_dose"] = recurct.running_dose(exams)
    out["period_dose"] = recurct.period_dose(exams, every="1y")
    out["magnitude"] = stats.magnitude(patients, thresholds=[50, 100], by="sex")
    out["dose_bands"] = stats.dose_bands(patients)
    out["age_band"] = stats.age_band(patients)
    site = stats.site_table(patients, 50, site="facility")
    out["site_table.sites"] = site.sites
    out["site_table.summary"] = site.summary
    aggregates = site.sites.select("site", "n_patients", "n_reached")
    meta = stats.meta_proportion(aggregates)
    out["meta.pooled"] = meta.pooled
    out["meta.sites"] = meta.sites
    tt = stats.time_to_threshold(patients, 50)
    out["time_to_threshold.curve"] = tt.curve
    out["time_to_threshold.at"] = tt.at([1, 2])
    out["time_to_threshold.events"] = tt.events
    ci = stats.cumulative_incidence(patients, 50)
    out["cumulative_incidence.curve"] = ci.curve
    out["incidence_rate"] = stats.incidence_rate(patients, 50)
    out["standardise"] = stats.standardise(patients, 50, "sex")
    out["single_exam_share"] = stats.single_exam_share(exams, 10)
    out["dose_share"] = stats.dose_share(exams)
    epp = stats.exams_per_patient(patients)
    for name, value in epp._asdict().items():
        out[f"exams_per_patient.{name}"] = value
    out["risk_factors"] = stats.risk_factors(patients, "reached_50 ~ sex").table
    with warnings.catch_warnings():  # the adult table on children: said, values kept
        warnings.simplefilter("ignore", recurct.errors.DoseConversionWarning)
        out["effective_dose"] = recurct.effective_dose(
            exams.drop("effective_dose_msv"), region_column="body_region"
        )
    out["trailing_dose.alerts"] = recurct.trailing_dose(
        exams, window_days=90, thresholds=50
    ).alerts
    return {k: v for k, v in out.items() if isinstance(v, pl.DataFrame)}


def test_every_result_column_is_in_the_glossary(tables: dict[str, pl.DataFrame]) -> None:
    assert len(tables) >= 20
    missing = {}
    for name, table in tables.items():
        for column in table.columns:
            if not in_glossary(column, "columns"):
                missing.setdefault(column, []).append(name)
    assert not missing, "result columns missing from the CONTRIBUTING.md glossary:\n" + "\n".join(
        f"  {c}: {', '.join(t)}" for c, t in sorted(missing.items())
    )
