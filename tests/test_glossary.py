"""The public API follows the glossary in CONTRIBUTING.md (issue 19).

Every parameter of every public function and method, every field of a public result object and
every column of the tables the public functions return must be listed in the glossary; a name
that is not is drift, and fails here. "Public" is what the user is shown: each public module's
``__all__`` (followed from ``recurct``) and every module and object the API reference renders
(the ``::: name`` directives of docs/api/*.md, read here, so a page added there is walked). The
result columns are collected by running each table-returning function on one small cohort.

A few parameters are second names of a concept the glossary names otherwise; they are listed in
:data:`KNOWN_SECOND_NAMES` with the functions that use them (and in CONTRIBUTING.md, "Known
inconsistencies"), pending a deprecation cycle. Only those functions are excused: the same name
anywhere else, or any other name missing from the glossary, still fails.
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

ROOT = Path(__file__).resolve().parents[1]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
API_DOCS = ROOT / "docs" / "api"
SKIP_PARAMS = {"self", "cls", "args", "kwargs"}

# Second names of one concept, kept until a deprecation cycle renames them (not in this
# release): {name: (the glossary's name for the concept, the functions that use it, as
# ``module.qualname`` where they are defined)}. Each is also in CONTRIBUTING.md's "Known
# inconsistencies" table (checked below), and each function must still take the name (a
# renamed one is dropped from here, so the exception cannot outlive it).
KNOWN_SECOND_NAMES: dict[str, tuple[str, frozenset[str]]] = {
    # the HMAC key: `secret` in the readers and pseudonymise_id, `key` (the checked bytes of
    # check_secret) in the low-level helper
    "key": ("secret", frozenset({"recurct.io.pseudonym.pseudonym"})),
    # events and trials of a proportion: `count`, `nobs` (proportion_ci, poisson_ci) against
    # `x`, `n` in the meta-analysis internals
    "x": (
        "count",
        frozenset({"recurct.stats.meta.effect_sizes", "recurct.stats._glmm.glmm_proportion"}),
    ),
    "n": (
        "nobs",
        frozenset(
            {
                "recurct.stats.meta.effect_sizes",
                "recurct.stats._glmm.glmm_proportion",
                "recurct.stats.meta.back_transform",
            }
        ),
    ),
    # strata columns: `by` everywhere else
    "by_cols": (
        "by",
        frozenset({"recurct.stats.population.add_population", "recurct.stats._curve.per_stratum"}),
    ),
    # the CI method is `ci` (renamed from `method` in proportion_ci in 0.2), the between-site
    # variance estimator `tau2`; these two helpers still say `method`
    "method": (
        "ci / tau2",
        frozenset({"recurct.stats.proportion.ci_method", "recurct.stats.meta.tau2_estimate"}),
    ),
    # the array-level estimators take follow-up time, event and entry as arrays named `time`,
    # `event`, `entry`; lagged_dose names the same subject columns `exit_column`,
    # `event_column`, `entry_column` (and `entry` elsewhere is a date/column rule)
    "time": (
        "exit_column",
        frozenset(
            {
                "recurct.stats.survival.kaplan_meier",
                "recurct.stats._followup.risk_set",
                "recurct.stats.competing.aalen_johansen",
                "recurct.stats._followup.check_entry",
            }
        ),
    ),
    "event": (
        "event_column",
        frozenset(
            {"recurct.stats.survival.kaplan_meier", "recurct.stats.competing.aalen_johansen"}
        ),
    ),
    # lags in years: `lags` in lagged_dose
    "lags_years": ("lags", frozenset({"recurct.timevarying.lag_days"})),
    # the calling function named in messages: `func` in the other helpers
    "fn": (
        "func",
        frozenset({"recurct.stats._curve.at_years", "recurct.stats._curve.event_table"}),
    ),
    # a patients table (`patients`) or a table of site aggregates (`table`, as site_table)
    "df": (
        "patients / table",
        frozenset(
            {
                "recurct.stats._followup.date_days",
                "recurct.stats._followup.date_expr",
                "recurct.stats._followup.end_days",
                "recurct.stats.multisite.is_aggregates",
            }
        ),
    ),
    "data": ("table", frozenset({"recurct.stats.multisite.as_aggregates"})),
    # the identifier pseudonymised (`value` in pseudonym)
    "patient_id": ("value", frozenset({"recurct.io.pseudonym.pseudonymise_id"})),
}


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


def api_rendered() -> list[str]:
    """The names the API reference renders: each ``::: name`` directive of docs/api/*.md."""
    names = []
    for page in sorted(API_DOCS.glob("*.md")):
        names += re.findall(r"^:::[ \t]+([\w.]+)", page.read_text(encoding="utf-8"), re.M)
    return names


def resolve(name: str) -> Any:
    """The module or object a dotted name renders (``recurct.io._result.ReadResult``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def public_modules() -> list[str]:
    """``recurct`` and every module its ``__all__`` names, followed recursively, and every
    module the API reference renders (docs/api/*.md), with the modules theirs name.

    A module is public when a public ``__all__`` names it (``recurct.stats``, ``recurct.io``)
    or when the API reference shows it (``recurct.io.pseudonym``, ``recurct.stats.meta``,
    ``recurct.stats._magnitude``): what a reader of the docs can call is checked here.
    """
    out: set[str] = set()
    todo = [recurct, *(m for m in map(resolve, api_rendered()) if inspect.ismodule(m))]
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
    """Each public object once, with its qualified name (stand-ins for removed names left out):
    the public modules' names, then the objects the API reference renders by name."""
    seen: set[int] = set()
    for name in api_rendered():
        obj = resolve(name)
        if not inspect.ismodule(obj) and not hasattr(obj, "__recurct_removed__"):
            seen.add(id(obj))
            yield name, obj
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


def test_every_module_the_api_reference_renders_is_walked() -> None:
    rendered = api_rendered()
    assert len(rendered) >= 40, rendered  # the directives are read (a parse finding none...)
    walked = set(public_modules())
    modules = {resolve(n).__name__ for n in rendered if inspect.ismodule(resolve(n))}
    assert modules <= walked, sorted(modules - walked)
    # the modules an earlier walk (``__all__`` only) missed
    for name in (
        "recurct.io.pseudonym",
        "recurct.stats.meta",
        "recurct.stats.population",
        "recurct.stats.survival",
        "recurct.stats.competing",
    ):
        assert name in walked, name
    found = {f"{f.__module__}.{f.__qualname__}" for _, f in callables()}
    assert "recurct.io.pseudonym.pseudonym" in found
    assert "recurct.stats.survival.kaplan_meier" in found


def where(func: Callable[..., Any]) -> str:
    """Where a function is defined: ``module.qualname`` (the key of KNOWN_SECOND_NAMES)."""
    return f"{func.__module__}.{func.__qualname__}"


def excused(param: str, func: Callable[..., Any]) -> bool:
    """A known second name, in one of the functions that use it (nowhere else)."""
    known = KNOWN_SECOND_NAMES.get(param)
    return known is not None and where(func) in known[1]


def test_every_parameter_is_in_the_glossary() -> None:
    missing = {}
    for qual, func in callables():
        for p in inspect.signature(func).parameters:
            if p in SKIP_PARAMS or in_glossary(p, "parameters") or excused(p, func):
                continue
            missing.setdefault(p, []).append(qual)
    assert not missing, "parameters missing from the CONTRIBUTING.md glossary:\n" + "\n".join(
        f"  {p}: {', '.join(q)}" for p, q in sorted(missing.items())
    )


def test_known_second_names_are_current_and_documented() -> None:
    """Each excused name is still taken by each function listed (a renamed one must leave the
    list), is not a glossary name itself, and is in CONTRIBUTING.md's "Known inconsistencies"
    table beside the glossary's name for its concept."""
    taken: dict[str, set[str]] = {}
    for _, func in callables():
        for p in inspect.signature(func).parameters:
            taken.setdefault(p, set()).add(where(func))
    for name, (_, funcs) in KNOWN_SECOND_NAMES.items():
        assert funcs <= taken.get(name, set()), (name, sorted(funcs - taken.get(name, set())))
        assert not in_glossary(name, "parameters"), name
    documented = {p.pattern.removesuffix(r"\Z") for p in glossary("known-inconsistencies")}
    assert documented == {re.escape(n) for n in KNOWN_SECOND_NAMES}, documented


def test_a_second_name_elsewhere_is_not_excused() -> None:
    """The exceptions name their functions: `key` in a new function would fail."""

    def new_function(key: bytes) -> None: ...

    assert excused("key", resolve("recurct.io.pseudonym.pseudonym"))
    assert not excused("key", new_function)
    assert not excused("n_new_name", new_function)


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
