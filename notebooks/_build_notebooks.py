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
exams = recurct.read_exams(path).exams
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
table = stats.magnitude(patients, thresholds=100, by="facility")
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
rep.table.select("figure", "kind", "published", "reproduced", "reproduced_lo", "reproduced_hi",
                 "tolerance", "tol_rounding", "tol_calibration", "tol_sampling",
                 "within_tolerance", "note")
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


EPIDEMIOLOGY = [
    md("""
# Epidemiology beyond the magnitude table

**Question.** In a multi-site cohort, how many patients reach 100 mSv per 1,000
patient-years, how likely within three years when patients also die, from which exam on,
how the share varies across four hospitals, and does the 5-year-lagged dose predict an
outcome?

Each answer is a few public calls of recurct, checked here against an independent
implementation (statsmodels, lifelines, pandas). The cohort is synthetic (nine sites of the
calibrated `eurosafe2021` profile); deaths and the outcome of the Cox model are simulated.
Lifetime attributable risk (BEIR VII) is not shown: recurct ships no risk tables until they are
transcribed from the report itself.
"""),
    code("""
import datetime as dt
import warnings

import numpy as np
import polars as pl
from statsmodels.stats.rates import confint_poisson

import recurct
from recurct import synthetic
from recurct.stats import cumulative_incidence, incidence_rate, meta_proportion

warnings.simplefilter("ignore", FutureWarning)  # lifelines under pandas 3

sites = synthetic.sites("eurosafe2021").head(9)
nine = sites["facility"].to_list()
study_end = dict(zip(sites["facility"], sites["period_end"]))
exams = synthetic.generate("eurosafe2021", n_patients=10_000, seed=2).filter(
    pl.col("facility").is_in(nine)
)
patients = recurct.cumulative_dose(exams, thresholds=[50, 100], window_days=[90])
print(f"{patients.height:,} patients, {exams.height:,} exams, 9 sites")
"""),
    md("""
## 1. Brambilla-style rates per 1,000 patient-years

Events (first reaching 100 mSv) per person-time from the first exam to the event or the
site's study end, exact (Garwood) Poisson intervals, and the 1- and 3-year cumulative
incidence among patients who entered at least 1 or 3 years before the end.
"""),
    code("""
rates = incidence_rate(patients, 100, by="facility", end=study_end, horizons=(1, 3))
rates.select("facility", "n_patients", "person_years", "n_events", "rate", "rate_lo",
             "rate_hi", "incidence_1y", "incidence_3y")
"""),
    code("""
# independent check: statsmodels' exact Poisson interval
for r in rates.iter_rows(named=True):
    lo, hi = confint_poisson(r["n_events"], r["person_years"], method="exact-c")
    assert np.isclose(r["rate_lo"], 1000 * lo) and np.isclose(r["rate_hi"], 1000 * hi)
print("Garwood intervals equal statsmodels' exact-c")
"""),
    md("""
## 2. Jeukens-style time to 100 mSv by sex, death competing

Deaths are simulated (men die sooner). The Aalen-Johansen cumulative incidence treats death as
a competing event; the naive Kaplan-Meier estimate with death as censoring overstates.
"""),
    code("""
rng = np.random.default_rng(0)
years = rng.exponential(np.where(patients["sex"] == "M", 3.0, 5.0))
death = pl.Series([d + dt.timedelta(days=int(365.25 * y))
                   for d, y in zip(patients["first_exam"], years)])
end_of = patients["facility"].replace_strict(study_end, return_dtype=pl.Date)
alive = pl.col("death_date").is_null() | (pl.col("date_reached_50") <= pl.col("death_date"))
cohort = (
    patients.with_columns(pl.when(death <= end_of).then(death).alias("death_date"))
    .with_columns((pl.col("reached_50") & alive).alias("reached_50"))  # no dose after death
    .with_columns(pl.when(pl.col("reached_50")).then(pl.col("days_to_50")).alias("days_to_50"))
)
aj = cumulative_incidence(cohort, 50, by="sex", death="death_date", end=study_end)
aj.at([1, 2, 3]).select(
    "sex", "time_years", "n_at_risk", "prob_reached", "prob_reached_lo", "prob_reached_hi",
    "prob_died")
"""),
    code("""
from lifelines import AalenJohansenFitter

from recurct.stats.competing import aalen_johansen
from recurct.stats.survival import survival_data

# independent check: lifelines' AalenJohansenFitter on the same times; lifelines jitters
# tied times at random, so both get the same deterministic tie-break first
d = survival_data(cohort.filter(pl.col("sex") == "F"), 50, end=study_end, death="death_date")
t = d["time"] + np.argsort(np.argsort(d["time"], kind="stable")) * 1e-6
ours = aalen_johansen(t, d["event"])
ll = AalenJohansenFitter(calculate_variance=True).fit(t, d["event"], event_of_interest=1)
assert np.allclose(ours["cif"], ll.cumulative_density_.iloc[:, 0].loc[ours["time"]])
print("Aalen-Johansen equals lifelines")
"""),
    md("""
## 3. A 90-day alert list

At each exam, the CED of the patient's last 90 days; the first exam at which it reached
50 mSv, and the exams of that window. A quality and research tool: prior dose must not decide
whether an exam is ordered (AAPM/ACR/HPS joint statement, 2021).
"""),
    code("""
alerts = recurct.trailing_dose(exams, thresholds=[50], window_days=[90])
alerts.alerts.select("patient_id", "exam_date", "body_region", "effective_dose_msv",
                     "trailing_ced_90", "alert_date").head(10)
"""),
    code("""
# independent check: pandas' time-based rolling sum over calendar days
pdf = alerts.exams.select("patient_id", "exam_date", "effective_dose_msv").with_columns(
    pl.col("exam_date").dt.date().cast(pl.Datetime)).to_pandas()
roll = (pdf.set_index("exam_date").groupby("patient_id", sort=False)["effective_dose_msv"]
        .rolling("90D").sum().to_numpy())
assert np.allclose(roll, alerts.exams["trailing_ced_90"].to_numpy())
print("trailing 90-day CED equals pandas rolling('90D')")
"""),
    md("""
## 4. A four-site pooled share (REML + Hartung-Knapp)

With few sites, recurct pools by REML with the Hartung-Knapp-Sidik-Jonkman interval by default.
"""),
    code("""
four = patients.filter(pl.col("facility").is_in(nine[:4]))
res = meta_proportion(four, threshold=50)
pm = meta_proportion(four, threshold=50, tau2="pm")
dl = meta_proportion(four, threshold=50, tau2="dl", ci="z")
pl.concat([res.pooled, pm.pooled, dl.pooled]).select(
    "tau2_method", "ci", "share", "share_lo", "share_hi", "tau2")
"""),
    code("""
from statsmodels.stats.meta_analysis import combine_effects

# independent check: Paule-Mandel + HKSJ equal statsmodels' "random effect wls" with t
with warnings.catch_warnings():  # statsmodels: per-site t intervals need nobs (unused here)
    warnings.simplefilter("ignore")
    sm = combine_effects(pm.sites["effect"].to_numpy(), pm.sites["variance"].to_numpy(),
                         method_re="pm", use_t=True).summary_frame()
r = pm.pooled.row(0, named=True)
assert np.isclose(r["effect_lo"], sm.loc["random effect wls", "ci_low"], rtol=1e-6)
assert np.isclose(r["effect_hi"], sm.loc["random effect wls", "ci_upp"], rtol=1e-6)
print("HKSJ interval equals statsmodels")
"""),
    md("""
## 5. A Cox model with 5-year-lagged CED

`lagged_dose` writes one row per patient and interval `(start, stop]` with the CED accrued up
to `start - 5 years`. The outcome here is simulated at random, independent of dose, so the
dose coefficient should be near 0 (`tests/test_timevarying.py` simulates a real dose effect
and recovers it); the point is that lifelines and statsmodels fit the same table alike.
"""),
    code("""
from lifelines import CoxTimeVaryingFitter
from statsmodels.duration.hazard_regression import PHReg

rng = np.random.default_rng(1)
follow = pl.Series(rng.integers(2000, 5000, patients.height))
subj = patients.select("patient_id", "first_exam", "sex").with_columns(
    pl.col("first_exam").alias("entry"),
    (pl.col("sex") == "M").cast(pl.Int64).alias("male"),
    (pl.col("first_exam") + pl.duration(days=follow)).alias("exit"),
    pl.Series("event", rng.random(patients.height) < 0.05),
)
cp = recurct.lagged_dose(exams, subj, lags=[5], covariates=["male"])
ctv = CoxTimeVaryingFitter().fit(cp.to_pandas(), id_col="patient_id", start_col="start",
                                 stop_col="stop", event_col="event")
ph = PHReg(cp["stop"].to_numpy().astype(float), cp.select("ced_lag5", "male").to_numpy(),
           status=cp["event"].to_numpy(), entry=cp["start"].to_numpy() + 0.5, ties="efron").fit()
assert np.allclose(ctv.params_[["ced_lag5", "male"]].to_numpy(), ph.params, rtol=1e-4)
ctv.summary[["coef", "se(coef)", "p"]]
"""),
]


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
    write("05_epidemiology.ipynb", EPIDEMIOLOGY)
