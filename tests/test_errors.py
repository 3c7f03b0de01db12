"""One error hierarchy: every error recurct defines is a RecurctError, every warning a
RecurctWarning, and each is exported from ``recurct.errors`` and ``recurct``."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import warnings

import polars as pl
import pytest

import recurct
from recurct import errors


def _modules() -> list[str]:
    names = ["recurct"]
    for info in pkgutil.walk_packages(recurct.__path__, "recurct."):
        names.append(info.name)
    return names


def _public_exception_classes() -> dict[str, type]:
    """Every public exception or warning class defined or re-exported by a recurct module."""
    found: dict[str, type] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("recurct")
                and not attr.startswith("_")
            ):
                found[f"{name}.{attr}"] = obj
    return found


def test_the_walk_finds_the_known_classes() -> None:
    found = _public_exception_classes()
    assert found["recurct.schema.ExamValidationError"] is errors.ExamValidationError
    assert found["recurct.io.rdsr.RdsrReadError"] is errors.RdsrReadError
    assert found["recurct._checks.ParameterError"] is errors.ParameterError
    assert len(set(found.values())) >= 18


def test_every_error_and_warning_is_in_the_hierarchy_and_exported() -> None:
    problems = []
    for where, cls in _public_exception_classes().items():
        base = errors.RecurctWarning if issubclass(cls, Warning) else errors.RecurctError
        if not issubclass(cls, base):
            problems.append(f"{where} is not a {base.__name__}")
        if getattr(errors, cls.__name__, None) is not cls or cls.__name__ not in errors.__all__:
            problems.append(f"{where} is not exported from recurct.errors")
        if getattr(recurct, cls.__name__, None) is not cls or cls.__name__ not in recurct.__all__:
            problems.append(f"{where} is not exported from recurct")
    assert not problems, "\n".join(problems)


def test_errors_all_lists_exactly_its_classes() -> None:
    defined = {
        n
        for n, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not n.startswith("_")
    }
    assert set(errors.__all__) == defined


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ParameterError", TypeError),
        ("ParameterError", ValueError),
        ("ExamValidationError", ValueError),
        ("DoseConversionError", ValueError),
        ("RdsrReadError", ValueError),
        ("WeakSecretError", ValueError),
        ("IncompleteOutputError", ValueError),
        ("OutputExistsError", FileExistsError),
        ("InputNotFoundError", FileNotFoundError),
        ("DataError", ValueError),
        ("DroppedRowsWarning", UserWarning),
        ("CompetingRiskWarning", UserWarning),
    ],
)
def test_the_builtin_bases_are_kept(name: str, builtin: type) -> None:
    assert issubclass(getattr(errors, name), builtin)


def test_a_real_error_is_caught_by_the_base_and_by_its_builtin() -> None:
    bad = pl.DataFrame({"patient_id": ["a"], "exam_date": ["2019-02-30"]})
    bad = bad.with_columns(effective_dose_msv=pl.lit(-1.0))
    with pytest.raises(errors.RecurctError) as info:
        recurct.validate(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, recurct.schema.ExamValidationError)


def test_a_real_warning_is_filtered_by_the_base() -> None:
    bad = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": ["2019-01-02", "x"],
            "effective_dose_msv": [1.0, 2.0],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", errors.RecurctWarning)
        recurct.validate(bad, strict=False)
    assert any(issubclass(w.category, errors.DroppedRowsWarning) for w in caught)


def test_errors_with_problem_tables_pickle() -> None:
    problems = pl.DataFrame(
        {"row": [0], "column": ["exam_date"], "value": ["x"], "reason": ["unparseable date"]},
        schema={"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8},
    )
    for exc in (
        errors.ExamValidationError(problems, source="f.csv", hint="map the columns"),
        errors.DoseConversionError("1 row cannot be converted", problems),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.problems.equals(problems)


def test_reworded_validation_error_pickles_with_its_message() -> None:
    # studies.reproduce rewords the hint (it has no strict=); a Dask worker or a process
    # pool pickles the error: the message as raised must survive, not the original hint
    from recurct.studies._run import _reworded

    problems = pl.DataFrame(
        {"row": [3], "column": ["exam_date"], "value": ["x"], "reason": ["unparseable date"]},
        schema={"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8},
    )
    exc = _reworded(errors.ExamValidationError(problems, source="f.csv"), "rehani2020", True)
    assert "rehani2020.reproduce has no strict=" in str(exc)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    assert back.problems.equals(problems) and back.source == "f.csv"


def test_errors_imports_nothing_from_recurct() -> None:
    source = inspect.getsource(errors)
    top = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all("recurct" not in line for line in top), top
