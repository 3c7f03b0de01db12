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

This notebook generates a small synthetic cohort on demand (`synthetic.generate("small")`:
the `small` profile shipped with recurct, the Rehani et al. 2020 model scaled down to about
5,000 patients; no exam data are shipped), writes it to a CSV file in a temporary folder as a
dose-monitoring system would export it, and analyses the file as you would analyse your own.
The last cell removes the temporary folder.
"""),
    code("""
%matplotlib inline
import tempfile
from pathlib import Path

import polars as pl

import recurct
from recurct import plot, stats, synthetic

tmp = tempfile.TemporaryDirectory()  # removed by the last cell
workdir = Path(tmp.name)
exams = synthetic.generate("small", seed=2000)
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

Share of patients with CED >= 100 mSv (Wilson 95% CI), the median CED of those patients, the
median number of days and of exams it took them to reach it, and the share of them aged 50 or
less at their first exam (of those with a known age); overall and by facility.
`pl.Config(tbl_cols=-1)` shows every column (polars hides middle columns of a wide table by
default).
"""),
    code("""
table = stats.magnitude(patients, thresholds=100, by="facility")
with pl.Config(tbl_cols=-1, tbl_width_chars=200):
    display(table.select(
        "facility", "n_patients", "n_reached",
        (pl.col("share") * 100).round(2).alias("share_%"),
        (pl.col("share_lo") * 100).round(2).alias("lo_%"),
        (pl.col("share_hi") * 100).round(2).alias("hi_%"),
        "ced_median", "days_to_median", "exams_to_median", "share_age_le_cut",
    ))
"""),
    md("""
## 4. One figure

The distribution of CED per patient on a log axis, with the 100 mSv threshold.
"""),
    code("""
fig = plot.ced_distribution(patients, threshold=100)
fig
"""),
    code("""
tmp.cleanup()  # remove the temporary folder and exams.csv
print(workdir.exists())
"""),
    md("""
Next: `02_rehani2020.ipynb`, `03_eurosafe2021.ipynb` and `04_sodickson2009.ipynb` reproduce
published studies; `05_epidemiology.ipynb` goes beyond the magnitude table (rates per
person-time, competing risks, alerts, pooling across sites, a Cox model with lagged dose); the
user guide is in `docs/`.
"""),
]


SEED = 2000  # no profile was fitted on it (fit seeds: rehani2020 0-99, the others 0-4)


def _reduced_text(module: str, n_patients: str) -> str:
    seeds = (
        f"`recurct reproduce {module} --seeds 2000-2019` runs it on 20 seeds that no fit used "
        f"(`--seeds 20` would run seeds 0-19, which include fit seeds: its headline then says "
        f"`in-sample`)."
    )
    if n_patients == "None":
        return (
            "## Published vs reproduced\n\nThe full synthetic cohort, the size of the study's, "
            f"on seed {SEED}, which no fit used. {seeds}"
        )
    return f"""
## Published vs reproduced

To keep this notebook short it runs a reduced cohort of {n_patients} patients, on seed
{SEED}, which no fit used: counts, sample extremes and the lowest and highest institution are
then `size-dependent` and not compared (they scale with the cohort), a derived row whose
source is not compared is compared in its place and counted (`derived, counted`), and each
sampling SD is scaled up by sqrt(N / n) for the smaller cohort. The full-size comparison is
`recurct reproduce {module} --seed {SEED}` (or `{module}.reproduce(seed={SEED})`); {seeds}
"""


def _show(figures: list[str]) -> str:
    """Display every figure; the last one is the cell's value."""
    lines = [f'display(figs["{f}"])' for f in figures[:-1]]
    return "\n".join([*lines, f'figs["{figures[-1]}"]'])


def _method(design: str, fit: str, counted: str) -> str:
    """The Method block: the study's design, then the rules of docs/reproductions.md."""
    return f"""
## Method

{design}

recurct holds every figure of the paper (from `docs/sources.md`) with the rounding it was
published with, what kind of row it is and how it is compared (`docs/reproductions.md`
defines each). `reproduce()` generates the study's synthetic cohort, computes the patients
table with `recurct.cumulative_dose` and the statistics with `recurct.stats`, and compares.
{fit}

**What is counted.** {counted} Every counted figure is a *calibration target*: a published
figure the synthetic cohort was fitted to. So the headline's "N of N calibration targets
within tolerance" checks the fit and its sampling spread on this cohort; it is not
independent evidence. A counted figure is within tolerance when it lies within half the
published rounding unit + the calibration tolerance recorded in the profile + z x its
sampling SD (the SD over 100 validation seeds that no fit used, taken at its upper 95%
confidence bound; z is chosen family-wise, so that a model whose expectations are the
published values passes all of a study's counted figures on at least 95% of seeds). A
verdict that could not fail (a tolerance reaching past a bound of the figure, or fewer than
10 patients expected with the event) is shown `uninformative (±…)` and not counted.

**Shown, not counted.** A sample maximum or minimum (such as the largest CED) is random even
in a perfect model: the table shows *this cohort's* value `in` or `out` of the model's
central 95% range over the validation seeds; a correct model falls `out` on about 6% of
seeds (sodickson2009's legend states its measured rates, about 13%). A figure published at
the smallest value it can take is printed `at its bound`: no run can tell the model from the
paper there. Design rows (`design`, inputs of the generator) agree by construction; rows
implied by a compared row (`derived`) are checked but not counted; numbers copied from a
published table (`restated`) are never compared, and those recomputed from it
(`aggregate`) are checked but not counted. Figures that exam data cannot give are listed
(`not repr.`), with the reason. Tolerances are never widened to make a figure pass.
"""


def _study_cells(
    title: str,
    question: str,
    method: str,
    module: str,
    n_patients: str,
    figures: list[str],
    after: str,
) -> list[nbformat.NotebookNode]:
    return [
        md(f"# {title}\n\n**Question.** {question}"),
        md(method),
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
rep = {module}.reproduce(n_patients=N_PATIENTS, seed={SEED})  # a seed that no fit used
print(rep.to_text())
print(rep.summary())
fit = rep.fit_seeds
print(f"fit seeds {{min(fit)}}-{{max(fit)}}; seed {{rep.seed}} in-sample: {{rep.in_sample}}")
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
    _method(
        "Rehani et al. (Eur Radiol 2020;30:1828–1836) pooled the dose-monitoring systems of 4 "
        "institutions (3 in the USA, 1 in Slovakia; 324 hospitals) over 1 to 5 years each: "
        "2,504,585 patients with 4,819,661 CT exams. 33,407 (1.33%) reached CED >= 100 mSv; "
        "their median CED was 130.3 mSv (maximum 1185 mSv); 13.4% to 28% of them were aged 50 "
        "or less, by institution; some reached 100 mSv within a single day.",
        "The profile was fitted on seed 0; then two of its parameters were set by hand from "
        "scans over seeds 0 to 99 and 0 to 9 (the profile's calibration notes), so its fit "
        "seeds are 0-99.",
        "On the reduced cohort below, the counted figures are the share of patients >= 100 mSv "
        "and their median CED (printed `calib. target`) and the CT exams per patient (printed "
        "`derived, counted`: compared in place of the exam count, a calibration target that is "
        "`size-dependent` at this size).",
    ),
    "rehani2020",
    "200,000",
    ["ced_distribution", "share_above", "time_to_threshold", "forest"],
    """
## Reading the result

The share of patients >= 100 mSv depends on the length of observation (1 to 5 years here),
so the time-to-threshold curve is the better summary of risk per year of follow-up: a
Kaplan-Meier estimate from each patient's first exam, censored at the end of observation,
which is the end of the data (the latest exam recorded at the patient's institution), not
the patient's own last exam: a dose-monitoring export records every exam of its period, so a
patient with no further exam is still observed, exam-free, until the data end. Censoring at
each patient's last exam (`end="last_exam"`) would overstate the probability
(`docs/statistics.md`). The companion paper's figures (non-malignant
diseases, decision-support scores) and the hospital count are not derivable from exam data and
are listed as not reproduced.
""",
)

EUROSAFE = _study_cells(
    "Frija et al. 2021: the ESR EuroSafe Imaging survey",
    "How common are patients with CED >= 100 mSv in European institutions, and do "
    "institutions track cumulative dose?",
    _method(
        "Frija et al. (Eur Radiol 2021;31:5514–5523) sent a 16-question survey to 605 "
        "professionals (85 responses, 23 countries). 53 of 70 (75.7%) had a dose-management "
        "system. 18 institutions reported patients over 2015–2018: 6,082 of 1,218,429 reached "
        "100 mSv, from 0% to 2.72% by institution (mean 0.5%). The questionnaire percentages "
        "are recomputed from the published answer counts (`recurct.survey`); the institution "
        "figures from a synthetic cohort of 18 sites.",
        "The profile was fitted to the mean over seeds 0 to 4: its fit seeds are 0-4.",
        "On the reduced cohort below, the counted figures are the mean of the institutions' "
        "shares (printed `calib. target`) and the pooled share >= 100 mSv (printed `derived, "
        "counted`: compared in place of the count of patients >= 100 mSv, a calibration target "
        "that is `size-dependent` at this size).",
    ),
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
    _method(
        "Sodickson et al. (Radiology 2009;251:175–184) looked back 22 years for 31,462 adults "
        "scanned in 2007 (190,712 CT exams): 33% had 5 or more CTs, 5% had 22 to 132; 15% had "
        "a CED over 100 mSv and 4% 250 to 1375 mSv. Their lifetime attributable cancer risks "
        "(BEIR VII) are not reproduced: recurct ships no risk tables.",
        "The profile was fitted to the mean over seeds 0 to 4 (common random numbers): its fit "
        "seeds are 0-4.",
        "On the full-size cohort below, the counted figures are the CT exams and the four "
        "shares (>= 5 CTs, 22 to 132 CTs, CED > 100 mSv, CED 250 to 1375 mSv), each printed "
        "`calib. target`; no derived row is counted at full size. The most CTs of one patient "
        "and the largest CED are sample extremes: shown, not counted.",
    ),
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
patient-years, how likely they are to reach 50 mSv within three years when patients also die,
from which exam on,
how the share varies across four hospitals, and does the 5-year-lagged dose predict an
outcome?

Each answer is a few public calls of recurct, checked here against an independent
implementation (statsmodels, lifelines, pandas). The cohort is synthetic (nine sites of the
calibrated `eurosafe2021` profile); deaths and the outcome of the Cox model are simulated.
Lifetime attributable risk (BEIR VII) is not shown: recurct ships no risk tables until they are
transcribed from the report itself. The checks use lifelines, which recurct itself does not
need: `pip install "recurct[notebooks]"` installs it with Jupyter.
"""),
    code("""
import datetime as dt
import warnings

import numpy as np
import polars as pl
from statsmodels.stats.rates import confint_poisson

import recurct
from recurct import synthetic
from recurct.stats import cumulative_incidence, incidence_rate, meta_proportion, time_to_threshold

sites = synthetic.sites("eurosafe2021").head(9)
nine = sites["facility"].to_list()
study_end = dict(zip(sites["facility"], sites["period_end"]))
exams = synthetic.generate("eurosafe2021", n_patients=10_000, seed=2002).filter(
    pl.col("facility").is_in(nine)
)
patients = recurct.cumulative_dose(exams, thresholds=[50, 100], window_days=[90])
print(f"{patients.height:,} patients, {exams.height:,} exams, 9 sites")
"""),
    md("""
## 1. Rates per 1,000 patient-years of reaching 100 mSv, by site

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
## 2. Jeukens-style time to 50 mSv by sex, death competing

50 mSv rather than 100: more patients of this small cohort reach it, so the estimates and the
check against lifelines below rest on more events. Deaths are simulated (men die sooner). The
Aalen-Johansen cumulative incidence treats death as a competing event: a patient who died can
no longer reach 50 mSv. The naive Kaplan-Meier estimate, which censors at death as if the
patient could still reach it later, overstates the probability; the table shows both.
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
# the naive Kaplan-Meier: censored at death (or at the site's study end, whichever is first)
at_death = cohort.with_columns(
    pl.min_horizontal(pl.col("death_date").fill_null(end_of), end_of).alias("obs_end")
)
km = time_to_threshold(at_death, 50, by="sex", end="obs_end")
both = aj.at([1, 2, 3]).select(
    "sex", "time_years", "n_at_risk", "prob_reached", "prob_reached_lo", "prob_reached_hi",
    "prob_died",
).join(
    km.at([1, 2, 3]).select("sex", "time_years", pl.col("prob_reached").alias("naive_km")),
    on=["sex", "time_years"], how="left", maintain_order="left",
)
assert (both["naive_km"] >= both["prob_reached"]).all()  # 1 - KM >= Aalen-Johansen, always
both
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
dose coefficient should be near 0; the point is that lifelines and statsmodels fit the same
table alike. (recurct's test suite, `tests/test_timevarying.py` in the source repository, not
in the installed package, simulates 1,500 patients whose hazard rises by 0.01 per mSv of
5-year-lagged CED and checks that the fit on `lagged_dose`'s table recovers a coefficient
between 0.004 and 0.016.)
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
with warnings.catch_warnings():
    # lifelines' fit calls X.mean(0), X.std(0) and df.var(0): pandas >= 3 warns that these
    # arguments become keyword-only in pandas 4 (Pandas4Warning). lifelines' code, not ours.
    warnings.filterwarnings("ignore", message="Starting with pandas version 4.0")
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
