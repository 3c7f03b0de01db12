"""Type checkers see recurct's lazily imported names as the real objects.

The packages import their public names on first use (a module ``__getattr__``, PEP 562), so
``import recurct`` stays fast. A type checker that sees a module ``__getattr__`` types every
attribute of that module as its return type, ``Any``: ``recurct.read_exams`` was ``Any`` to a
dependent's mypy, and ``recurct.red_exams(...)`` (a typo) was not flagged. Each lazy module
therefore imports its lazy names under ``if TYPE_CHECKING:`` and defines ``__getattr__`` only
when not type checking. The structural test below runs everywhere; the mypy test runs where
mypy is installed (the ``test`` extra installs it, so CI runs it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import recurct

LAZY_MODULES = [
    "recurct",
    "recurct.io",
    "recurct.schema",
    "recurct.synthetic",
    "recurct.studies",
]


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _is_not_type_checking(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and _is_type_checking(test.operand)
    )


def _bound(statements: list[ast.stmt], module: str) -> set[str]:
    """Names bound by the top-level ``statements`` (star imports expanded by their ``__all__``);
    ``if TYPE_CHECKING`` blocks and their ``else`` are left out."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.If) and (
            _is_type_checking(node.test) or _is_not_type_checking(node.test)
        ):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    assert isinstance(node, ast.ImportFrom) and node.module
                    names |= set(importlib.import_module(node.module).__all__)
                else:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.If):
            names |= _bound(node.body, module) | _bound(node.orelse, module)
    return names


def _type_checking_blocks(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The statements under top-level ``if TYPE_CHECKING:`` and under their ``else`` /
    ``if not TYPE_CHECKING:``."""
    seen: list[ast.stmt] = []
    runtime: list[ast.stmt] = []
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        if _is_type_checking(node.test):
            seen += node.body
            runtime += node.orelse
        elif _is_not_type_checking(node.test):
            runtime += node.body
    return seen, runtime


def _lazy_names(module: ModuleType, eager: set[str]) -> set[str]:
    """Names the module serves through its ``__getattr__``: the public and lazily mapped names
    it does not bind at import."""
    candidates = {
        *getattr(module, "__all__", ()),
        *getattr(module, "_LAZY", {}),
        *getattr(module, "_SUBMODULES", ()),
        *(getattr(module, "STUDIES", {}) if module.__name__ == "recurct.studies" else ()),
    }
    return candidates - eager


@pytest.mark.parametrize("name", LAZY_MODULES)
def test_lazy_names_are_imported_for_type_checkers(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    eager = _bound(tree.body, name)
    lazy = _lazy_names(module, eager)
    assert lazy, f"{name}: no lazily imported names found (is the test still needed?)"
    seen, runtime = _type_checking_blocks(tree)

    # no module __getattr__ a type checker can see: it would make every attribute Any
    assert "__getattr__" not in eager, f"{name}: __getattr__ defined outside `if not TYPE_CHECKING`"
    # ... but still one at run time: the names stay lazy
    assert "__getattr__" in _bound(runtime, name), f"{name}: no run-time __getattr__"
    assert callable(module.__getattr__)

    # every lazily served name imported under TYPE_CHECKING, from where it really comes from
    imported: dict[str, tuple[str, str]] = {}
    for node in seen:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    missing = sorted(lazy - set(imported))
    assert not missing, f"{name}: lazily imported, not seen by type checkers: {missing}"
    for public in sorted(lazy):
        source, original = imported[public]
        try:
            source_module = importlib.import_module(source)
            expected = getattr(source_module, original, None)
            if expected is None:  # a submodule: ``from package import submodule``
                expected = importlib.import_module(f"{source}.{original}")
            actual = getattr(module, public)
        except ModuleNotFoundError as e:  # an optional extra (dask, matplotlib) not installed
            if e.name and e.name.split(".")[0] == "recurct":
                raise
            continue
        assert actual is expected, f"{name}.{public} is not {source}.{original}"


def test_import_recurct_stays_lazy() -> None:
    """``import recurct`` (and ``recurct.io``) imports no data library: the TYPE_CHECKING
    imports are never executed."""
    code = (
        "import sys, recurct, recurct.io\n"
        "heavy = {'polars', 'pandas', 'numpy', 'numba', 'pyarrow', 'scipy', 'pydicom'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_runtime_attributes_unchanged() -> None:
    assert dir(recurct) == sorted(recurct.__all__)
    assert recurct.io.read_exams.__module__ == "recurct.io.exams"
    assert recurct.studies.rehani2020.__name__ == "recurct.studies.rehani2020"
    for module, typo in [(recurct, "red_exams"), (recurct.io, "red_exams")]:
        with pytest.raises(AttributeError, match=typo):
            getattr(module, typo)


SNIPPET = """\
import recurct

reveal_type(recurct.read_exams)
reveal_type(recurct.ReadResult)
reveal_type(recurct.io.read_rdsr)
reveal_type(recurct.schema.EARLIEST_DATE)
reveal_type(recurct.synthetic.calibrate)
reveal_type(recurct.studies.rehani2020.reproduce)
recurct.red_exams("typo.csv")
recurct.io.read_exam
recurct.schema.validat
recurct.synthetic.calibrat
recurct.studies.rehani2021
"""


def run_mypy(snippet: str, tmp_path: Path, *options: str) -> str:
    """mypy's output on ``snippet`` as a dependent's script (the recurct being tested, its
    source folder first; errors inside recurct not reported)."""
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(snippet), encoding="utf-8")
    src = str(Path(recurct.__file__).resolve().parent.parent)
    env = {**os.environ, "MYPYPATH": src}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            *options,
            "--follow-imports=silent",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(script),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    ).stdout


NO_MYPY = importlib.util.find_spec("mypy") is None


@pytest.mark.slow
@pytest.mark.skipif(NO_MYPY, reason="mypy is not installed (the test extra installs it)")
def test_mypy_sees_real_objects_and_flags_typos(tmp_path: Path) -> None:
    out = run_mypy(SNIPPET, tmp_path)
    lines = {int(line.split(":")[1]): line for line in out.splitlines() if line.count(":") >= 2}
    revealed = {n: lines.get(n, "") for n in range(3, 9)}
    for n, line in revealed.items():
        assert 'Revealed type is "Any"' not in line and "Revealed type" in line, (n, out)
    assert "-> recurct.io._result.ReadResult" in revealed[3]
    assert 'Revealed type is "datetime.date"' in revealed[6]
    for n, typo in [
        (9, "red_exams"),
        (10, "read_exam"),
        (11, "validat"),
        (12, "calibrat"),
        (13, "rehani2021"),
    ]:
        assert f'has no attribute "{typo}"' in lines.get(n, ""), (typo, out)
