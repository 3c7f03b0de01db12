"""Write the notebooks of this folder (without outputs) from the cells below.

Run ``python notebooks/_build_notebooks.py`` after editing; CI executes the notebooks with
``pytest --nbmake notebooks/``. Each must run in under 2 minutes on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip())


QUICKSTART = [
    md("""
# recurct quickstart

**Question.** In a table of CT examinations, how many patients reach a cumulative effective
dose (CED) of 100 mSv, how fast, and where?

This notebook uses the small synthetic cohort shipped with recurct (the Rehani et al. 2020
model scaled down to about 5,000 patients), writes it to a CSV file as a dose-monitoring
system would export it, and analyses the file as you would analyse your own.
"""),
    code("""
%matplotlib inline
import tempfile
from pathlib import Path

import polars as pl

import recurct
from recurct import plot, stats, synthetic

workdir = Path(tempfile.mkdtemp())
exams = synthetic.generate("small", seed=0)
path = workdir / "exams.csv"
exams.write_csv(path)
print(f"{exams.height:,} exams of {exams['patient_id'].n_unique():,} patients -> {path.name}")
"""),
    md("""
## 1. Load and validate

`recurct.read_exams` reads CSV or Parquet, maps common vendor column names and validates
every row against the canonical schema (`patient_id`, `exam_date`, `effective_dose_msv`, and
optional `dlp_mgycm`, `body_region`, `age_years`, `sex`, `facility`, ...). A bad row raises an
error that names the row, the column and the problem.
"""),
    code("""
exams = recurct.read_exams(path)
exams.head()
"""),
    code("""
checked = recurct.validate(exams)
checked.schema
"""),
    md("""
## 2. Cumulative dose per patient

`cumulative_dose` returns one row per patient: number of exams, first and last exam, the CED,
and for each threshold whether and when the running CED reached it.
"""),
    code("""
patients = recurct.cumulative_dose(exams, thresholds=[100])
patients.select("patient_id", "n_exams", "ced_msv", "reached_100", "days_to_100").sort(
    "ced_msv", descending=True
).head()
"""),
    md("""
## 3. The magnitude table

Share of patients with CED >= 100 mSv (Wilson 95% CI), the CED of those patients, how many
days and exams it took, and how many were aged 50 or less at their first exam; overall and by
facility.
"""),
    code("""
table = stats.magnitude(patients, threshold=100, by="facility")
table.select(
    "facility", "n_patients", "n_reached",
    (pl.col("share") * 100).round(2).alias("share_%"),
    (pl.col("share_lo") * 100).round(2).alias("lo_%"),
    (pl.col("share_hi") * 100).round(2).alias("hi_%"),
    "ced_median", "days_to_median", "share_age_le_cut",
)
"""),
    md("""
## 4. One figure

The distribution of CED per patient on a log axis, with the 100 mSv threshold.
"""),
    code("""
fig = plot.ced_distribution(patients, threshold=100)
fig
"""),
    md("""
Next: `02_rehani2020.ipynb`, `03_eurosafe2021.ipynb` and `04_sodickson2009.ipynb` reproduce
published studies; the user guide is in `docs/`.
"""),
]


def _reduced_text(module: str, n_patients: str) -> str:
    if n_patients == "None":
        return "## Published vs reproduced\n\nThe full synthetic cohort, the size of the study's."
    return f"""
## Published vs reproduced

To keep this notebook under two minutes on a laptop it runs a reduced cohort of
{n_patients} patients: counts and extremes are then not compared (they scale with the
cohort), and each sampling SD is scaled up by sqrt(N / n) for the smaller cohort. The
full-size comparison is `recurct reproduce {module}` (or `{module}.reproduce()`), and
`recurct reproduce {module} --seeds 20` runs it on 20 seeds.
"""


def _show(figures: list[str]) -> str:
    """Display every figure; the last one is the cell's value."""
    lines = [f'display(figs["{f}"])' for f in figures[:-1]]
    return "\n".join([*lines, f'figs["{figures[-1]}"]'])


def _study_cells(
    title: str,
    question: str,
    design: str,
    module: str,
    n_patients: str,
    figures: list[str],
    after: str,
) -> list[nbformat.NotebookNode]:
    return [
        md(f"# {title}\n\n**Question.** {question}"),
        md(f"""
## Method

{design}

recurct holds every figure of the paper (from `docs/sources.md`) with the rounding it was
published with, what kind of row it is and how it can be compared. `reproduce()` generates
the study's synthetic cohort, whose model was calibrated to the published marginals in
expectation (the mean over several seeds), computes the patients table with
`recurct.cumulative_dose` and the statistics with `recurct.stats`, and compares.

Only *independent generated* figures count: figures computed from the generated exams and
not implied by another row. A generated figure counts as reproduced when it lies within
half the published rounding unit + the calibration tolerance recorded in the profile + z x
its sampling SD (estimated over 100 validation seeds that no fit used, stored in the
profile; z is chosen family-wise, so that a correct model passes all of a study's figures on
at least 95% of seeds). A sample maximum or minimum is `ok` when the published value lies
within the central 95% of the model's distribution of that extreme. Design inputs, rows
derived arithmetically from another row and aggregates read back from a published table
are shown and checked but not counted; figures that exam data cannot give are listed as not
reproduced, with the reason. Tolerances are never widened to make a figure pass.
"""),
        code(f"""
%matplotlib inline
from recurct.studies import {module}

print({module}.SOURCE)
import polars as pl

pl.Config.set_tbl_rows(60)
pl.Config.set_fmt_str_lengths(60)
pl.DataFrame(
    [
        {{"figure": p.key, "published": p.quote, "value": p.value, "unit": p.unit,
          "rounding": p.rounding, "kind": p.kind, "compared": p.compare}}
        for p in {module}.PUBLISHED.values()
    ]
)
"""),
        md(_reduced_text(module, n_patients)),
        code(f"""
N_PATIENTS = {n_patients.replace(",", "_")}  # None: the full cohort
rep = {module}.reproduce(n_patients=N_PATIENTS, seed=7)  # a seed that no fit used
print(rep.to_text())
print(rep.summary())
"""),
        code("""
rep.table.select("figure", "kind", "published", "reproduced", "ci_lo", "ci_hi", "tolerance",
                 "tol_rounding", "tol_calibration", "tol_sampling", "within_tolerance", "note")
"""),
        md("## Figures"),
        code(f"""
figs = rep.figures()
{_show(figures)}
"""),
        md(after),
    ]


REHANI = _study_cells(
    "Rehani et al. 2020: patients undergoing recurrent CT scans",
    "How many patients reach a cumulative effective dose of 100 mSv or more from recurrent CT, "
    "how high does it go, and how young are they?",
    "Rehani et al. (Eur Radiol 2020;30:1828–1836) pooled the dose-monitoring systems of 4 "
    "institutions (3 in the USA, 1 in Slovakia; 324 hospitals) over 1 to 5 years each: "
    "2,504,585 patients with 4,819,661 CT exams. 33,407 (1.33%) reached CED >= 100 mSv; their "
    "median CED was 130.3 mSv (maximum 1185 mSv); 13.4% to 28% of them were aged 50 or less, "
    "by institution; some reached 100 mSv within a single day.",
    "rehani2020",
    "200,000",
    ["ced_distribution", "share_above", "time_to_threshold", "forest"],
    """
## Reading the result

The share of patients >= 100 mSv depends on the length of observation (1 to 5 years here),
so the time-to-threshold curve (Kaplan-Meier, censored at each patient's last exam) is the
better summary of risk per year of follow-up. The companion paper's figures (non-malignant
diseases, decision-support scores) and the hospital count are not derivable from exam data and
are listed as not reproduced.
""",
)

EUROSAFE = _study_cells(
    "Frija et al. 2021: the ESR EuroSafe Imaging survey",
    "How common are patients with CED >= 100 mSv in European institutions, and do "
    "institutions track cumulative dose?",
    "Frija et al. (Eur Radiol 2021;31:5514–5523) sent a 16-question survey to 605 "
    "professionals (85 responses, 23 countries). 53 of 70 (75.7%) had a dose-management "
    "system. 18 institutions reported patients over 2015–2018: 6,082 of 1,218,429 reached "
    "100 mSv, from 0% to 2.72% by institution (mean 0.5%). The questionnaire figures are "
    "recomputed from the published answer counts (`recurct.survey`); the institution figures "
    "from a synthetic cohort of 18 sites.",
    "eurosafe2021",
    "150,000",
    ["forest", "funnel", "ced_distribution"],
    """
## Reading the result

The pooled share (every patient weighs the same) and the mean of the institutions' shares
(every institution weighs the same) differ when large sites have lower shares. The funnel plot
shows whether the spread between sites is more than binomial noise around the pooled share;
where it is, `recurct.stats.meta_proportion` (random effects) gives a pooled estimate that
accounts for it.
""",
)

SODICKSON = _study_cells(
    "Sodickson et al. 2009: recurrent CT of adults over 22 years",
    "Among adults scanned in one year, how many had many CT exams in the past, and how high "
    "is their cumulative dose?",
    "Sodickson et al. (Radiology 2009;251:175–184) looked back 22 years for 31,462 adults "
    "scanned in 2007 (190,712 CT exams): 33% had 5 or more CTs, 5% had 22 to 132; 15% had "
    "a CED over 100 mSv and 4% 250 to 1375 mSv. Their lifetime attributable cancer risks "
    "(BEIR VII) are not reproduced: recurct ships no risk tables.",
    "sodickson2009",
    "None",
    ["exams_per_patient", "ced_distribution", "ced_vs_exams"],
    """
## Reading the result

A long look-back makes high cumulative doses common: 15% above 100 mSv here, against 1.33%
over the 1 to 5 years of Rehani et al. 2020. The CED grows with the number of exams, but the
spread at a given count is wide, because the dose per exam depends on the region scanned and
the protocol.
""",
)


def write(name: str, cells: list[nbformat.NotebookNode]) -> None:
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding changes nothing
        cell.id = f"{Path(name).stem[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("01_quickstart.ipynb", QUICKSTART)
    write("02_rehani2020.ipynb", REHANI)
    write("03_eurosafe2021.ipynb", EUROSAFE)
    write("04_sodickson2009.ipynb", SODICKSON)
