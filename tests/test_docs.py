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
* ``recurct reproduce ...`` generates a full calibrated cohort (seconds to minutes, gigabytes)
  and ``python -m recurct.synthetic.calibration ...`` re-runs a shipped fit (rehani2020: 1 to
  4 minutes on the 2-core machine, by its load): those commands run one by one in
  :func:`test_doc_slow_commands_run`, marked slow. A re-fit's exit status is 0 when it met
  every target and 1 when it missed one (its verdict, documented in docs/synthetic.md, not an
  error), so 1 is accepted there, and the profile it names with ``--out`` must be written.
  Files the docs assume the reader has (``my_exams.csv``: "your data") are written by
  :func:`_reader_files` (a small synthetic cohort).

Every opening fence of README.md and docs/**/*.md must name its language (```` ```text ````
for output that is not run): :func:`blocks` refuses a bare one, which would otherwise be
skipped without a word.
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


def bare_fences(text: str) -> list[int]:
    """The 1-based lines of the opening fences that name no language.

    Fences are paired in order (an opening fence, then the next fence closes it), as Markdown
    does; a closing fence is bare by nature and is not reported.
    """
    bare = []
    opened = False
    for number, line in enumerate(text.splitlines(), 1):
        m = re.match(r"[ \t]*(```+|~~~+)(.*)$", line)
        if not m:
            continue
        if not opened and not m.group(2).strip():
            bare.append(number)
        opened = not opened
    return bare


def blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every python and shell block, in order (dedented).

    Raises ``ValueError`` naming the file and line of an opening fence without a language:
    such a block would be neither run nor said to be skipped.
    """
    text = path.read_text(encoding="utf-8")
    bare = bare_fences(text)
    if bare:
        lines = ", ".join(map(str, bare))
        raise ValueError(
            f"{path}: code fence without a language at line {lines}: name it "
            "(```python, ```bash, ... to run it; ```text for output that is not run)"
        )
    out = []
    for _, lang, code in ANY_FENCE.findall(text):
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


def is_calibration(cmd: str) -> bool:
    """A re-run of a shipped calibration (``python -m recurct.synthetic.calibration ...``)."""
    return any(
        part.strip().startswith("python -m recurct.synthetic.calibration")
        for part in cmd.split("&&")
    )


def is_slow(cmd: str) -> bool:
    """Run in :func:`test_doc_slow_commands_run`, not with the rest of its document."""
    return is_reproduce(cmd) or is_calibration(cmd)


ALL_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
DOCS = [p for p in ALL_DOCS if blocks(p)]
SLOW = [
    (doc, cmd)
    for doc in ALL_DOCS
    for lang, code in blocks(doc)
    if lang != "python"
    for cmd in commands(lang, code)
    if is_slow(cmd)
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


def run_command(
    cmd: str, cwd: Path, env: dict[str, str], where: str, ok: tuple[int, ...] = (0,)
) -> None:
    """Run one documented command (see the module docstring for what is checked instead);
    its exit status must be one of ``ok``."""
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
    assert result.returncode in ok, (
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
        special = [c for c in cmds if c == CI_TEST_COMMAND or "pip install" in c or is_slow(c)]
        if not special:  # one script (here-documents and all), stopping at the first failure
            script = "\n".join(cmds) if lang == "console" else code
            run_command(f"set -euo pipefail\n{script}", tmp_path, env, where)
            continue
        for cmd in cmds:
            if not is_slow(cmd):  # those run in test_doc_slow_commands_run
                run_command(cmd, tmp_path, env, where)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_bare_fences_are_refused(tmp_path: Path) -> None:
    """A block whose opening fence names no language is an error, not a silent skip."""
    doc = tmp_path / "page.md"
    doc.write_text("Text.\n\n```python\nx = 1\n```\n\n```\nrecurct --version\n```\n")
    assert bare_fences(doc.read_text()) == [7]
    with pytest.raises(ValueError, match=r"page\.md: code fence without a language at line 7"):
        blocks(doc)
    doc.write_text("   ```\nindented\n   ```\n~~~\ntilde\n~~~\n```text\nout\n```\n")
    assert bare_fences(doc.read_text()) == [1, 4]
    doc.write_text("```bash\necho a\n```\n```text\nb\n```\n")
    assert bare_fences(doc.read_text()) == []
    assert blocks(doc) == [("bash", "echo a\n")]


def test_every_fence_in_the_docs_names_its_language() -> None:
    bare = {str(p.relative_to(ROOT)): bare_fences(p.read_text("utf-8")) for p in ALL_DOCS}
    assert not {p: lines for p, lines in bare.items() if lines}, bare


def test_slow_commands_are_collected() -> None:
    """The documented re-fit and reproductions are found (a collector that lost them would
    leave them untested without a word)."""
    assert any(is_calibration(c) for _, c in SLOW), SLOW
    assert any(is_reproduce(c) for _, c in SLOW), SLOW
    assert is_calibration("python -m recurct.synthetic.calibration rehani2020 --out x.toml")
    assert not is_calibration("python -m recurct.cli --version")


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "cmd"), SLOW, ids=[f"{d.name}: {c}" for d, c in SLOW])
def test_doc_slow_commands_run(doc: Path, cmd: str, tmp_path: Path) -> None:
    _reader_files(tmp_path)
    if not is_calibration(cmd):
        run_command(cmd, tmp_path, _shim(tmp_path), doc.name)
        return
    args = shlex.split(cmd)
    assert "--out" in args, f"{doc.name}: `{cmd}` would rewrite the shipped profile: give --out"
    run_command(cmd, tmp_path, _shim(tmp_path), doc.name, ok=(0, 1))
    out = tmp_path / args[args.index("--out") + 1]
    assert "[calibration.fitted]" in out.read_text(encoding="utf-8"), out


# README's timings that no generated table holds, each recorded with its measurement in
# benchmarks/RESULTS.md ("Figures quoted in README"; tests/test_notebooks17.py checks the
# earlier ones), and figures that had no recorded measurement, or another one, and were
# replaced: they must not come back without a record.
README_RECORDED = [
    "6.9 to 8.8 s",
    "5.5 to 6.4 s",
    "7.9 to 9.4 s",
    "5.4 to 6.6 s",
    "8.6 to 11.5 s",
    "6.5 to 7.9 s",
    "11.2 to 17.6 s",
    "8.5 to 11.3 s",
    "1.21 to 1.47",
    "1.21 to 1.59",
    "1.13 to 1.49",
    "1.10 to 1.32",
    "about 1.1 s",
    "about 1.6 s",
    "1.9 GB",
    "0.63-0.74 s against 0.11-0.12 s",
    "0.33-0.54",
    "1.57-2.19",
    "0.90-1.44",
    "1.59-2.12",
    "0.94-1.13",
    "1.15 s in run H",
    "0.64-0.84 / 0.55-0.62 s",
    "3.5 to 4.2 s",
    "3.05 to 3.19 s",
    "5.3 to 6.1 s",
    "4.9 to 5.5 s",
    "2.96 to 3.23 s against 3.56 to 3.82 s",
    "0.62 to 0.68 s",
    "2.0 to 2.8 s",
    "2.4 to 3.0 s",
    "2.9 to 3.3 s",
    "3.2 to 4.3 s",
    "3.7 to 4.3 s",
    "3.3 to 3.8 s",
    "2.05 to 2.95 s",
    "3.4 to 4.1 s",
    "0.16 to 0.18 s",
    "4.0 to 4.6 s",
    "0.65 to 0.72 s",
]
README_UNRECORDED = [
    "load average 0.8 to 1.4",  # no record of the load during those pairs
    "later calls 0.03 to 0.12",  # no record; run K's table is quoted instead
    "2.98 to 3.23 s against 3.64 to 3.79",  # a subset of the five recorded pairs
    "well under a second",  # 10^7 pseudonyms or UUIDs take 1.0 s (run K)
    "every figure of those runs is in",  # the UUID totals alone were not
    "each method follows each other equally often",  # not in the uuid rows
]


def _flat(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())


def test_readme_timings_are_recorded_in_results() -> None:
    readme = _flat(ROOT / "README.md")
    results = _flat(ROOT / "benchmarks" / "RESULTS.md")
    quoted = results.split("## Figures quoted in README", 1)[1]
    for figure in README_RECORDED:  # README quoted them once: their records stay
        assert figure in quoted, f"README's {figure!r} has no row in RESULTS.md's figures"
    for figure in README_UNRECORDED:
        assert figure not in readme, figure


# README's Performance table against run K's generated table in RESULTS.md (10^7 exams):
# README row label -> (layout, op) of RESULTS.md's rows; columns recurct, polars, DuckDB, pandas.
README_TABLE_ROWS = {
    "integer IDs: totals, first day at 100 mSv and largest 5-year window together": (
        "random int",
        "abc",
    ),
    "integer IDs, the same, exams sorted by patient and date": ("sorted int", "abc"),
    'string IDs (record numbers, `"P00001234"`), the same three outputs': ("random str", "abc"),
    "string IDs (record numbers), totals only": ("random str", "a"),
    "string IDs (64-hex-digit pseudonyms), the same three outputs": ("random hex", "abc"),
    "string IDs (64-hex-digit pseudonyms), totals only": ("random hex", "a"),
    "string IDs (UUIDs), the same three outputs": ("random uuid", "abc"),
    "string IDs (UUIDs), totals only": ("random uuid", "a"),
}
README_TABLE_METHODS = ("recurct", "polars", "duckdb", "pandas")


def _generated_rows() -> dict[tuple[str, str, str], float]:
    """RESULTS.md's generated 10^7-exam rows: (layout, op, method) -> best time in s."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| 1e\+07 \| ([a-z ]+) \| ([a-z]+) \| ([a-z]+) \| ([\d.]+) \|", text, re.M)
    return {(layout, op, method): float(s) for layout, op, method, s in rows}


def _readme_table() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Performance", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)
        if not set(cells[0]) <= {"-", ":"}
    }


def test_readme_performance_table_is_the_generated_run() -> None:
    """Every time in README's Performance table is RESULTS.md's generated figure, rounded."""
    generated = _generated_rows()
    table = _readme_table()
    assert set(README_TABLE_ROWS) < set(table), set(table) - set(README_TABLE_ROWS)
    for label, (layout, op) in README_TABLE_ROWS.items():
        for method, cell in zip(README_TABLE_METHODS, table[label], strict=True):
            key = (layout, op, method)
            if cell in ("", "not run"):
                assert key not in generated, (label, method)
                continue
            assert cell == f"{generated[key]:.2f} s", (label, method, cell, generated[key])
    (prepared,) = [v for k, v in table.items() if "prepare_exams" in k]
    both = f"{generated['random prepared', 'abc', 'recurct']:.2f}"
    totals = f"{generated['random prepared', 'a', 'recurct']:.2f}"
    assert prepared[0] == f"{both} / {totals} s", prepared


TIME = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)((?: to |-)\d+(?:\.\d+)?)? s\b")


def test_every_readme_timing_has_a_record() -> None:
    """A time README quotes outside its table is one RESULTS.md holds (a number of its text or
    tables, a range as written there), or a table cell rounded further (the opening lines)."""
    readme = _flat(ROOT / "README.md")
    results = _flat(ROOT / "benchmarks" / "RESULTS.md")
    table = _readme_table().values()
    cells = [float(x) for row in table for cell in row for x in re.findall(r"[\d.]+", cell)]
    found = 0
    for m in TIME.finditer(readme):
        found += 1
        number, rest = m.group(1), m.group(2)
        if rest:
            assert m.group(0) in results, f"README's {m.group(0)!r} is not in RESULTS.md"
            continue
        if re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", results):
            continue
        places = len(number.split(".")[1]) if "." in number else 0
        assert any(f"{c:.{places}f}" == number for c in cells), (
            f"README's {m.group(0)!r} is neither in RESULTS.md nor a table cell rounded"
        )
    assert found > 30, found  # the pattern still finds README's times


def test_results_protocol_line_is_what_the_benchmark_prints() -> None:
    """The balance of the methods' order that RESULTS.md states is the one the schedule has
    (run K: 4 rounds, 4 methods, the uuid rows 3)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import peers
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    four = ("recurct", "polars", "pandas", "duckdb")
    three = ("recurct", "polars", "duckdb")
    assert peers.order_balance(four, 4) == "each method comes right after each other once"
    assert peers.order_balance(three, 4).endswith("1 to 2 times, not equally often")
    assert peers.order_balance(three, 6) == "each method comes right after each other twice"
    results = _flat(ROOT / "benchmarks" / "RESULTS.md")
    line = (
        f"over these 4 rounds {peers.order_balance(four, 4)} (the uuid rows' 3 methods: "
        f"{peers.order_balance(three, 4)})."
    )
    assert line in results
    assert "each method comes right after each other equally often" not in results


def test_prepare_exams_break_even_follows_from_the_figures_beside_it() -> None:
    """docs/cumulative.md's break-even of ``prepare_exams`` is its one-off cost over the saving
    per call of the table it sits beside (a figure from another CPU once stood there)."""
    text = (ROOT / "docs" / "cumulative.md").read_text(encoding="utf-8")

    def row(label: str) -> tuple[float, float]:
        m = re.search(rf"^\| {re.escape(label)} \| ([\d.]+) s \| ([\d.]+) s \|$", text, re.M)
        assert m, label
        return float(m.group(1)), float(m.group(2))

    plain = row('string record numbers (`"P00001234"`)')
    prepared = row("string record numbers, after `prepare_exams`")
    saved = [round(a - b, 2) for a, b in zip(plain, prepared, strict=True)]
    lo, hi = 3.0, 4.3  # prepare_exams' one-off cost on that CPU, stated in the same paragraph
    flat = " ".join(text.split())
    assert f"`prepare_exams` itself took {lo} to {hi} s" in flat
    calls = f"repaid after {lo} / {max(saved)} = {round(lo / max(saved))} to {hi} / "
    calls += f"{min(saved)} = {round(hi / min(saved))} calls"
    assert calls in flat, calls
    assert "twenty" not in flat
    doc = " ".join((ROOT / "src" / "recurct" / "prepare.py").read_text(encoding="utf-8").split())
    assert f"repaid after {round(lo / max(saved))} to {round(hi / min(saved))} calls" in doc
