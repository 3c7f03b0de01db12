"""Every ```python and every ```bash / ```shell / ```console block of README.md and docs/*.md
is executed, in order, per document.

Blocks of one document share a namespace and a temporary working directory, like the cells of
a notebook and the terminal beside it, so a shell block can use the files a Python block
wrote. ``recurct`` in a shell block is this checkout's command line (``python -m recurct.cli``
with ``src/`` first on the path). Every command must exit with 0.

Commands that cannot run inside a test are checked instead of run:

* ``pip install ...``: the extras it names must exist in ``pyproject.toml`` (and ``-e .`` must be
  this project); the command after ``&&`` is then run.
* The README's test command (``pip install -e ".[test]" && pytest``) must be the line CI runs
  verbatim (``.ci/run``); running it here would run the suite inside itself.
* A block with none of these runs as one ``bash`` script (``set -euo pipefail``), so it may
  hold here-documents; a block with one of them runs line by line.
* ``recurct reproduce ...`` generates a full calibrated cohort (seconds to minutes, gigabytes):
  those commands run one by one in :func:`test_doc_reproduce_commands_run`, marked slow. Files
  the docs assume the reader has (``my_exams.csv``: "your data") are written by
  :func:`_reader_files` (a small synthetic cohort).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
ANY_FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.DOTALL | re.MULTILINE)
SHELL_LANGS = ("bash", "shell", "sh", "console")
CI_TEST_COMMAND = 'pip install -e ".[test]" && pytest'


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return FENCE.findall(path.read_text(encoding="utf-8"))


def blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every python and shell block, in order (dedented)."""
    out = []
    for _, lang, code in ANY_FENCE.findall(path.read_text(encoding="utf-8")):
        if lang == "python" or lang in SHELL_LANGS:
            out.append(("python" if lang == "python" else lang, textwrap.dedent(code)))
    return out


def commands(lang: str, code: str) -> list[str]:
    """The commands of a shell block: one per line, comments dropped; for ``console``
    blocks only the ``$ `` lines (the rest is output)."""
    out = []
    for line in code.splitlines():
        if lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        line = _strip_comment(line).strip()
        if line:
            out.append(line)
    return out


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` outside quotes, after a space)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def is_reproduce(cmd: str) -> bool:
    return any(part.strip().startswith("recurct reproduce") for part in cmd.split("&&"))


ALL_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
DOCS = [p for p in ALL_DOCS if blocks(p)]
REPRODUCE = [
    (doc, cmd)
    for doc in ALL_DOCS
    for lang, code in blocks(doc)
    if lang != "python"
    for cmd in commands(lang, code)
    if is_reproduce(cmd)
]


def _check_install(part: str) -> None:
    """A ``pip install`` command names this project and extras it has."""
    args = shlex.split(part)
    assert args[:2] == ["pip", "install"], part
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    targets = [a for a in args[2:] if not a.startswith("-")]
    assert targets, f"{part!r} installs nothing"
    for target in targets:
        m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
        assert m, f"{part!r}: installs {target!r}, not this project"
        for extra in (m.group(1) or "").split(","):
            assert not extra or extra in extras, f"{part!r}: no extra {extra!r} in pyproject"


def _shim(folder: Path) -> dict[str, str]:
    """Environment whose ``recurct`` is this checkout's command line."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "recurct"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recurct.cli "$@"\n')
    exe.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def run_command(cmd: str, cwd: Path, env: dict[str, str], where: str) -> None:
    """Run one documented command (see the module docstring for what is checked instead)."""
    if cmd == CI_TEST_COMMAND:
        ci = (ROOT / ".ci" / "run").read_text().splitlines()
        assert cmd in [ln.strip() for ln in ci], f"{where}: CI does not run {cmd!r}"
        return
    parts = [cmd] if "\n" in cmd else [p.strip() for p in cmd.split("&&")]
    while parts and parts[0].startswith("pip install"):
        _check_install(parts.pop(0))
    if not parts:
        return
    result = subprocess.run(
        " && ".join(parts),
        shell=True,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        executable="/bin/bash",
    )
    assert result.returncode == 0, (
        f"{where}: `{cmd}` exited with {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def _reader_files(folder: Path) -> None:
    """Files the docs assume the reader has: ``my_exams.csv`` ("your exam file")."""
    from recurct import synthetic

    exams = synthetic.generate("small", seed=0)
    exams.write_csv(folder / "my_exams.csv")


def test_readme_and_user_guide_have_examples() -> None:
    assert python_blocks(ROOT / "README.md"), "README.md must show executed API examples"
    guide = [p.name for p in ALL_DOCS if p.parent.name == "docs" and p.name != "index.md"]
    assert guide, "docs/ has no user guide pages"
    assert all(python_blocks(ROOT / "docs" / name) for name in guide), guide


def test_readme_test_command_is_the_ci_command() -> None:
    cmds = [
        c
        for lang, code in blocks(ROOT / "README.md")
        if lang != "python"
        for c in commands(lang, code)
    ]
    assert CI_TEST_COMMAND in cmds
    run_command(CI_TEST_COMMAND, ROOT, {}, "README.md")  # checked against .ci/run, not run


def test_comment_stripping_and_console_prompts() -> None:
    assert commands("bash", 'recurct x --map "a # b=c"  # note\n# only\n') == [
        'recurct x --map "a # b=c"'
    ]
    assert commands("console", "$ recurct --version\nrecurct 1.0\n") == ["recurct --version"]
    with pytest.raises(AssertionError, match="no extra"):
        _check_install('pip install -e ".[nope]"')


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_doc_examples_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "my_exams.csv" in doc.read_text(encoding="utf-8"):
        _reader_files(tmp_path)
    env = _shim(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{doc.stem}"}
    for i, (lang, code) in enumerate(blocks(doc), 1):
        where = f"{doc.name}[block {i}]"
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
            continue
        cmds = commands(lang, code)
        special = [c for c in cmds if c == CI_TEST_COMMAND or "pip install" in c or is_reproduce(c)]
        if not special:  # one script (here-documents and all), stopping at the first failure
            script = "\n".join(cmds) if lang == "console" else code
            run_command(f"set -euo pipefail\n{script}", tmp_path, env, where)
            continue
        for cmd in cmds:
            if not is_reproduce(cmd):  # those run in test_doc_reproduce_commands_run
                run_command(cmd, tmp_path, env, where)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "cmd"), REPRODUCE, ids=[f"{d.name}: {c}" for d, c in REPRODUCE])
def test_doc_reproduce_commands_run(doc: Path, cmd: str, tmp_path: Path) -> None:
    _reader_files(tmp_path)
    run_command(cmd, tmp_path, _shim(tmp_path), doc.name)
