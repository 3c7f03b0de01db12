"""The notebooks say what their outputs show (issue 17e).

The notebooks are written by ``notebooks/_build_notebooks.py``; these tests read the written
``.ipynb`` files (and the build script for phrases that must not come back) and check the
claims of their prose against the public API: the seeds are ones no profile was fitted on, the
Method blocks name the counted rows as ``Reproduction.to_text()`` prints them, notebook 05's
heading names the threshold it computes, and every notebook's imports come with the
``notebooks`` extra.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from recurct import synthetic
from recurct.studies import eurosafe2021, rehani2020, sodickson2009
from recurct.studies._format import kind_label

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = NOTEBOOKS / "_build_notebooks.py"
STUDIES = {
    "02_rehani2020.ipynb": rehani2020,
    "03_eurosafe2021.ipynb": eurosafe2021,
    "04_sodickson2009.ipynb": sodickson2009,
}
ALL = ["01_quickstart.ipynb", *STUDIES, "05_epidemiology.ipynb"]


def cells(name: str, kind: str) -> list[str]:
    """The sources of a notebook's cells of one type, in order."""
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def all_fit_seeds() -> set[int]:
    """The seeds any shipped profile was fitted on, read through the public API."""
    seeds: set[int] = set()
    for name in synthetic.profile_names():
        calibration = synthetic.load_profile(name).calibration or {}
        seeds |= {int(s) for s in calibration.get("fit_seeds", [calibration.get("seed", 0)])}
    return seeds


def test_fit_seeds_are_read() -> None:
    seeds = all_fit_seeds()
    assert set(range(100)) <= seeds  # rehani2020: 0-99
    assert rehani2020.reproduce(n_patients=2_000, seed=3).fit_seeds == tuple(range(100))


@pytest.mark.parametrize("name", ALL)
def test_notebook_seeds_are_no_fit_seed(name: str) -> None:
    fit = all_fit_seeds()
    code = "\n".join(cells(name, "code"))
    seeds = [int(s) for s in re.findall(r"\bseed=(\d+)", code)]
    assert seeds, f"{name}: no seed= found"
    assert not set(seeds) & fit, f"{name}: seeds {sorted(set(seeds) & fit)} are fit seeds"
    # the seed ranges the prose recommends for --seeds are outside the fit seeds as well
    text = "\n".join(cells(name, "markdown"))
    for lo, hi in re.findall(r"--seeds (\d+)-(\d+)", text):
        assert not set(range(int(lo), int(hi) + 1)) & fit, (name, lo, hi)
    assert not re.search(r"--seeds \d+`? runs", text), "--seeds N runs seeds 0..N-1: fit seeds"


WRONG = [
    "Only *independent generated* figures count",
    "A sample maximum or minimum is `ok` when the published value",
    "derived arithmetically from another row and aggregates read back",
    "expectation (the mean over several seeds)",
    "censored at each patient's last exam)",
    "seed=7",
    "shipped with recurct (the Rehani",
    "mkdtemp",
    'simplefilter("ignore", FutureWarning)  # lifelines',
]


@pytest.mark.parametrize("phrase", WRONG)
def test_build_script_has_no_wrong_claim(phrase: str) -> None:
    text = BUILD.read_text(encoding="utf-8")
    assert phrase not in text


def method_block(name: str) -> str:
    (block,) = [m for m in cells(name, "markdown") if m.startswith("## Method")]
    return block


def run_cell(name: str) -> str:
    (cell,) = [c for c in cells(name, "code") if ".reproduce(" in c]
    return cell


@pytest.mark.parametrize("name", list(STUDIES))
def test_method_names_counted_kinds_as_printed(name: str) -> None:
    module = STUDIES[name]
    cell = run_cell(name)
    n_text = re.search(r"N_PATIENTS = ([\w_]+)", cell).group(1)  # type: ignore[union-attr]
    n_patients = None if n_text == "None" else int(n_text)
    seed = int(re.search(r"seed=(\d+)", cell).group(1))  # type: ignore[union-attr]
    rep = module.reproduce(n_patients=n_patients, seed=seed)
    counted = rep.table.filter(pl.col("counted").fill_null(False))
    labels = {kind_label(r) for r in counted.iter_rows(named=True)}
    assert labels, name
    method = method_block(name)
    for label in labels:  # each counted kind, as the printed table calls it
        assert f"`{label}`" in method, (name, label)
        assert label in rep.to_text()
    for label in {"calib. target", "derived, counted", "independent"} - labels:
        assert f"`{label}`" not in method, (name, label)  # not claimed where not printed
    # every counted figure is a calibration target, as the Method says
    assert set(counted["evidence"].to_list()) == {"calibration target"}
    assert "not independent evidence" in rep.headline()
    assert "not\nindependent evidence" in method or "not independent evidence" in method
    # the fit seeds it names are the profile's
    fit = rep.fit_seeds
    assert f"fit seeds are {min(fit)}-{max(fit)}" in method.replace("\n", " ")
    assert not rep.in_sample


def test_sodickson_extreme_verdict_is_this_cohorts_value() -> None:
    """The Method says extremes test this cohort's value (seed 2003: published 1375 inside
    the range, this cohort's 1238.9 below it: `out`), and that they are not counted."""
    rep = sodickson2009.reproduce(seed=2003)
    row = rep.table.filter(pl.col("figure") == "ced_max").row(0, named=True)
    assert row["range_lo"] <= row["published"] <= row["range_hi"]
    assert row["reproduced"] < row["range_lo"] and row["within_tolerance"] is False
    assert rep.ok and not row["counted"]
    method = method_block("04_sodickson2009.ipynb").replace("\n", " ")
    assert "*this cohort's* value `in` or `out`" in method
    assert "Shown, not counted" in method


def test_rehani_reading_says_how_the_curve_is_censored() -> None:
    (reading,) = [m for m in cells("02_rehani2020.ipynb", "markdown") if "Reading" in m]
    text = reading.replace("\n", " ")
    assert "censored at each patient's last exam" not in text
    assert "censored at the end of observation, which is the end of the data" in text


def test_epidemiology_heading_names_the_threshold_it_computes() -> None:
    md = cells("05_epidemiology.ipynb", "markdown")
    (heading,) = [m for m in md if m.startswith("## 2.")]
    shown = int(re.search(r"time to (\d+) mSv", heading).group(1))  # type: ignore[union-attr]
    (cell,) = [c for c in cells("05_epidemiology.ipynb", "code") if "cumulative_incidence(" in c]
    computed = {int(t) for t in re.findall(r"cumulative_incidence\(\w+, (\d+)", cell)}
    assert computed == {shown}
    # the naive Kaplan-Meier the prose says overstates is computed in the same cell
    assert re.search(rf"time_to_threshold\(\w+, {shown}\b", cell)
    assert "naive_km" in cell


def test_epidemiology_warning_filters_are_scoped() -> None:
    for code in cells("05_epidemiology.ipynb", "code"):
        for line in code.splitlines():
            if "simplefilter(" in line or "filterwarnings(" in line:
                assert line.startswith((" ", "\t")), f"module-level filter: {line}"
        tree = ast.parse("\n".join(x for x in code.splitlines() if not x.startswith("%")))
        for node in tree.body:  # every filter sits inside a `with warnings.catch_warnings()`
            if isinstance(node, ast.Expr) and "filter" in ast.unparse(node):
                pytest.fail(ast.unparse(node))


def test_notebook_imports_come_with_the_notebooks_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["notebooks"]]
    installed = {re.split(r"[\[<>=~! ]", s, maxsplit=1)[0].lower() for s in specs}
    assert "lifelines" in installed
    for name in ALL:
        for code in cells(name, "code"):
            source = "\n".join(x for x in code.splitlines() if not x.startswith("%"))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top == "recurct":
                        continue
                    assert top in installed, f"{name} imports {top}, not in core or [notebooks]"


def test_every_notebook_is_listed() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    notebooks_section = index.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (after,) = [m for m in cells("01_quickstart.ipynb", "markdown") if m.startswith("Next:")]
    for name in ALL:
        stem = name.removesuffix(".ipynb")
        assert stem in notebooks_section, stem
        assert stem in readme, stem
        if name != "01_quickstart.ipynb":
            assert stem in after, stem


def test_quickstart_cleans_up_and_shows_what_it_says() -> None:
    code = "\n".join(cells("01_quickstart.ipynb", "code"))
    assert "tempfile.TemporaryDirectory()" in code
    assert "mkdtemp" not in code
    assert code.rstrip().endswith("print(workdir.exists())")
    assert "tmp.cleanup()" in cells("01_quickstart.ipynb", "code")[-1]
    (table_cell,) = [c for c in cells("01_quickstart.ipynb", "code") if "magnitude(" in c]
    assert '"exams_to_median"' in table_cell and '"days_to_median"' in table_cell
    assert "pl.Config(tbl_cols=-1" in table_cell
    intro = cells("01_quickstart.ipynb", "markdown")[0]
    assert "generates a small synthetic cohort on demand" in intro.replace("\n", " ")


QUOTED = [  # README's figures that only the session notes held, now recorded in RESULTS.md
    "10.1 and 11.9 s",
    "13.6 against 9.1 s",
    "12.40 against 10.24 s",
    "39.2 to 40.7 bytes per exam",
    "39.6 to 39.9",
    "0.26 to 0.35 s over runs E to G",
    "indication and age: 0.25 s",
    "with the age split: 0.08 s",
    "took 0.29 s warm in run H",
]


def test_readme_figures_have_a_recorded_source() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    quoted = " ".join(results.split("## Figures quoted in README", 1)[1].split())
    for figure in QUOTED:  # README quoted them once: their records stay
        assert figure in quoted, figure
    for unsourced in ("median 39.5 over eighteen processes", "0.23 to 0.35 s over its seven"):
        assert unsourced not in readme
