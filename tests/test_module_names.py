"""No submodule of ``recurct.stats`` shares its name with a function (issue 19).

``magnitude``, ``standardise`` and ``extrapolate`` are defined in the private modules
``recurct.stats._magnitude``, ``._standardise`` and ``._extrapolate``: the package attribute
``recurct.stats.magnitude`` is the function whatever was imported before, and the import
system finds no submodule of that name, so ``import recurct.stats.magnitude as m`` fails
loudly instead of giving a function where a module was asked for.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

SHARED = ("magnitude", "standardise", "extrapolate")


@pytest.mark.parametrize("name", SHARED)
def test_from_import_gives_the_function(name: str) -> None:
    stats = importlib.import_module("recurct.stats")
    func = getattr(stats, name)
    assert inspect.isfunction(func) and func.__name__ == name
    assert func.__module__ == f"recurct.stats._{name}"


@pytest.mark.parametrize("name", SHARED)
def test_the_module_is_private_and_defines_the_function(name: str) -> None:
    module = importlib.import_module(f"recurct.stats._{name}")
    assert isinstance(module, types.ModuleType)
    assert getattr(module, name) is getattr(importlib.import_module("recurct.stats"), name)


@pytest.mark.parametrize("name", SHARED)
def test_no_submodule_has_the_function_name(name: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"recurct.stats.{name}")


def test_no_public_function_shares_a_submodule_name() -> None:
    stats = importlib.import_module("recurct.stats")
    modules = {m.name for m in pkgutil.iter_modules(stats.__path__)}
    clash = sorted(n for n in stats.__all__ if n in modules)
    assert clash == []


def test_import_as_no_longer_gives_a_function() -> None:
    with pytest.raises(ModuleNotFoundError):
        import recurct.stats.magnitude as m  # noqa: F401
