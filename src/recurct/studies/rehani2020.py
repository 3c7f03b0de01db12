"""Rehani et al. 2020: patients undergoing recurrent CT scans, the magnitude.

Source: Rehani et al. "Patients undergoing recurrent CT scans: assessing the magnitude."
Eur Radiol 2020;30:1828–1836.
doi:10.1007/s00330-019-06523-y (PubMed 31792585). Companion: Rehani et al. 2020, on
patients with non-malignant diseases, Eur Radiol 2020;30:1839–1846.

Design: the dose-monitoring systems of 4 institutions (3 in the USA, 1 in Slovakia; 324
hospitals), CT only, 1 to 5 years per institution; threshold CED >= 100 mSv.

Reproduction: :func:`reproduce` generates the calibrated synthetic cohort
``recurct.synthetic.generate("rehani2020")`` (or takes your exam table), computes the patients
table with :func:`recurct.cumulative_dose` (threshold 100 mSv) and the magnitude table with
:func:`recurct.stats.magnitude` (overall and by facility), and compares each published figure.

Tolerance (``docs/reproductions.md``): a figure computed from generated exams is reproduced
when it lies within half the published rounding unit + the calibration tolerance recorded in
profiles/rehani2020.toml for that target + z x its sampling SD (the upper 95% bound over the
profile's validation seeds; z family-wise, :func:`recurct.studies._figures.family_z`); a
sample extreme is shown ``in`` or ``out`` of the model's central 95% range over the validation
seeds (this cohort's value; not counted).
Each row has a kind (generated, derived, design, aggregate, not_reproduced); the generated
rows but the extremes count in the headline and the exit status. Every counted figure of
this study is a calibration target of its profile (the synthetic cohort was fitted to it):
its verdict checks the fit and its sampling spread, not independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from recurct.studies._figures import Measured, Published
from recurct.studies._reproduction import Reproduction
from recurct.studies._run import opt, run_study, share_measured

__all__ = ["NOT_PUBLISHED", "PROFILE", "PUBLISHED", "SOURCE", "THRESHOLD", "reproduce"]

SOURCE = (
    "Rehani et al. Patients undergoing recurrent CT scans: assessing the magnitude. "
    "Eur Radiol 2020;30:1828–1836; "
    "doi:10.1007/s00330-019-06523-y"
)
"""The paper reproduced (citation)."""
SOURCE_NONMALIGNANT = (
    "Rehani et al. 2020, recurrent CT in patients with non-malignant diseases. "
    "Eur Radiol 2020;30:1839–1846"
)
PROFILE = "rehani2020"
"""The synthetic profile the study is reproduced on (:func:`recurct.synthetic.generate`)."""
THRESHOLD = 100.0
"""The CED threshold (mSv) of the study's figures."""

_P = Published
_NOT_IN_EXAMS = "not reproduced: diagnoses and decision-support scores are not in the exam table"
_COMPANION = "companion paper (Eur Radiol 30:1839–1846), CED >= 100 mSv over 5 years; "

PUBLISHED: dict[str, Published] = {
    p.key: p
    for p in (
        _P("n_institutions", "institutions", 4, "institutions", None, "exact", "4"),
        _P("n_institutions_usa", "institutions in the USA", 3, "institutions", None, "exact",
           "3 in the USA", note="from the profile's site list (country)"),
        _P("n_hospitals", "hospitals of the institutions", 324, "hospitals", None,
           "not_reproduced", "324 hospitals",
           note="not reproduced: the synthetic cohort models institutions, not their hospitals"),
        _P("period_years_min", "shortest study period of an institution", 1, "years", 1,
           "range_min", "1 to 5 years", kind="design",
           note="span of exam dates per institution, in years of 365.25 days"),
        _P("period_years_max", "longest study period of an institution", 5, "years", 1,
           "range_max", "1 to 5 years", kind="design",
           note="span of exam dates per institution, in years of 365.25 days"),
        _P("n_patients", "patients", 2_504_585, "patients", None, "exact", "2,504,585"),
        _P("n_exams", "CT exams", 4_819_661, "exams", 1, "calibrated", "4,819,661",
           target="n_exams"),
        _P("exams_per_patient", "CT exams per patient", 1.92, "exams/patient", 0.01,
           "calibrated", "about 1.92", target="n_exams", target_scale=1 / 2_504_585,
           derived_from="n_exams", bounds=(1.0, float("inf")),
           note="n_exams / n_patients; tolerance: that of n_exams divided by the exact "
           "number of patients"),
        _P("n_reached_100", "patients with CED >= 100 mSv", 33_407, "patients", 1,
           "calibrated", "33,407", target="share_reached", target_scale=2_504_585,
           derived_from="share_reached_100",
           note="share x n_patients; tolerance: that of the share times the exact number "
           "of patients"),
        _P("share_reached_100", "share of patients with CED >= 100 mSv", 1.33, "%", 0.01,
           "calibrated", "1.33%", target="share_reached", target_scale=100,
           event_share=1.33),
        _P("ced_median_100", "median CED of patients >= 100 mSv", 130.3, "mSv", 0.1,
           "calibrated", "130.3 mSv", target="ced_median_reached",
           bounds=(100.0, float("inf")), event_share=1.33,
           note="the median over the patients >= 100 mSv: at least 100 mSv"),
        _P("ced_max", "maximum CED", 1185, "mSv", 1, "extreme", "1185 mSv",
           target="ced_max_reached_expected",
           note="a sample maximum: this cohort's value in or out of the central 95% of the "
           "model's maximum over the validation seeds (the range shown; not counted)"),
        _P("share_age_le50_site_min", "aged <= 50 among >= 100 mSv: lowest institution", 13.4,
           "%", 0.1, "range_min", "13.4% to 28% by institution (\"nearly 20%\")",
           target="site_share_age_le50_min", target_scale=100),
        _P("share_age_le50_site_max", "aged <= 50 among >= 100 mSv: highest institution", 28,
           "%", 1, "range_max", "13.4% to 28% by institution (\"nearly 20%\")",
           target="site_share_age_le50_max", target_scale=100),
        _P("share_age_gt50_site_min", "aged > 50 among >= 100 mSv: lowest institution", 72,
           "%", 1, "range_min", "72% to 86% by institution",
           target="site_share_age_le50_max", target_scale=100,
           derived_from="share_age_le50_site_max",
           note="100% minus the highest institution's share aged <= 50"),
        _P("share_age_gt50_site_max", "aged > 50 among >= 100 mSv: highest institution", 86,
           "%", 1, "range_max", "72% to 86% by institution",
           target="site_share_age_le50_min", target_scale=100,
           derived_from="share_age_le50_site_min",
           note="100% minus the lowest institution's share aged <= 50"),
        _P("days_to_100_min_site_max", "minimum time to reach 100 mSv, at every institution",
           1, "days", None, "extreme", "a single day", bounds=(1.0, float("inf")),
           note="calendar days spanned by the fastest crossing (min days_to_100 + 1: a "
           "crossing on the day of the first exam spans 1 day), "
           "largest over institutions: a sample minimum, this cohort's value in or out of "
           "the central 95% of the model's distribution over the validation seeds (the "
           "range shown; not counted)"),
        # companion paper: not derivable from an exam table
        _P("share_nonmalignant", "non-malignant conditions among CED >= 100 mSv", 9.6, "%",
           0.1, "not_reproduced", "9.6%", note=_COMPANION + _NOT_IN_EXAMS),
        _P("cds_red", "decision-support score red", 2, "%", 1, "not_reproduced", "2%",
           note=_COMPANION + _NOT_IN_EXAMS),
        _P("cds_yellow", "decision-support score yellow", 38, "%", 1, "not_reproduced", "38%",
           note=_COMPANION + _NOT_IN_EXAMS),
        _P("cds_green", "decision-support score green", 27, "%", 1, "not_reproduced", "27%",
           note=_COMPANION + _NOT_IN_EXAMS),
        _P("cds_unscored", "decision-support: unscored", 33, "%", 1, "not_reproduced", "33%",
           note=_COMPANION + _NOT_IN_EXAMS),
    )
}  # fmt: skip
"""Every figure of Rehani et al. 2020 in docs/sources.md, numbers as published."""

NOT_PUBLISHED: tuple[str, ...] = (
    "the per-institution table",
    "the dose method (DLP x k is the usual one)",
    "the median time to reach 100 mSv",
    "exams per high-dose patient",
)
"""Figures one might expect that the paper does not give (no source found): left out."""

# counts scale with the cohort: not compared on a reduced cohort (nor are the sample and
# per-institution extremes, whatever the study: recurct.studies._run.run_study)
_COUNT_KEYS = ("n_patients", "n_exams", "n_reached_100", "ced_max", "days_to_100_min_site_max")


def _days_spanned(days_elapsed: float) -> float:
    """Calendar days a crossing spans, from the days elapsed between the first exam and the
    crossing exam (``days_to_min``): the first exam's day is day 1, so a crossing on that day
    spans 1 day. The published "a single day" is read so: 1 day spanned, 0 days elapsed. The
    calibration target ``site_days_to_min_max`` (days elapsed) is set by the same rule
    (``recurct.synthetic.calibration.shipped``)."""
    return days_elapsed + 1.0


def _site_stats(
    mag: pl.DataFrame, patients: pl.DataFrame, exams: pl.DataFrame
) -> dict[str, Measured]:
    """Per-institution ranges (age shares, period, fastest crossing)."""
    out: dict[str, Measured] = {}
    if "facility" not in patients.columns:
        why = "needs a facility column"
        for k in PUBLISHED:
            if "_site_" in k or k.startswith("period_years"):
                out[k] = Measured(None, note=why)
        return out
    by_site = mag.filter(pl.col("facility") != "all")
    le50 = by_site["share_age_le_cut"].drop_nulls() * 100
    if le50.len():
        out["share_age_le50_site_min"] = Measured(float(le50.min()))
        out["share_age_le50_site_max"] = Measured(float(le50.max()))
        out["share_age_gt50_site_min"] = Measured(100.0 - float(le50.max()))
        out["share_age_gt50_site_max"] = Measured(100.0 - float(le50.min()))
    days = by_site["days_to_min"].drop_nulls()
    if days.len() == by_site.height and days.len():
        out["days_to_100_min_site_max"] = Measured(_days_spanned(float(days.max())))
    elif days.len():
        out["days_to_100_min_site_max"] = Measured(
            None, note="an institution has no patient >= 100 mSv"
        )
    if "facility" in exams.columns:
        span = (
            exams.group_by("facility")
            .agg((pl.col("exam_date").max() - pl.col("exam_date").min()).alias("span"))
            .get_column("span")
        )
        years = span.dt.total_days().cast(pl.Float64) / 365.25
        out["period_years_min"] = Measured(float(years.min()))
        out["period_years_max"] = Measured(float(years.max()))
    out["n_institutions"] = Measured(float(patients["facility"].n_unique()))
    return out


def measure(
    exams: pl.DataFrame, patients: pl.DataFrame, mode: str = "your data"
) -> tuple[dict[str, Measured], dict]:
    """Measure every reproducible figure on an exam table and its patients table."""
    from recurct.stats import magnitude

    by = "facility" if "facility" in patients.columns else None
    mag = magnitude(patients, THRESHOLD, by=by, age_cut=50)
    row = mag.row(0, named=True)  # the "all" row comes first
    n, k = int(row["n_patients"]), int(row["n_reached"])
    n_exams = int(patients["n_exams"].sum())
    m: dict[str, Measured] = {
        "n_patients": Measured(float(n)),
        "n_exams": Measured(float(n_exams)),
        "exams_per_patient": Measured(n_exams / n),
        "n_reached_100": Measured(float(k)),
        "share_reached_100": share_measured(k, n),
        "ced_median_100": Measured(opt(row["ced_median"])),
        "ced_max": Measured(float(patients["ced_msv"].max())),
    }
    m.update(_site_stats(mag, patients, exams))
    if mode == "synthetic":
        from recurct.synthetic import sites

        s = sites(PROFILE)
        m["n_institutions_usa"] = Measured(float((s["country"] == "USA").sum()))
    return m, {"magnitude": mag}


def _figures(rep: Reproduction) -> dict[str, Any]:
    from recurct import plot
    from recurct.stats import site_table, time_to_threshold

    p = rep.patients
    assert p is not None
    figs = {
        "ced_distribution": plot.ced_distribution(p, THRESHOLD),
        "share_above": plot.share_above(p),
        "exams_per_patient": plot.exams_per_patient(p, max_exams=40),
        "ced_vs_exams": plot.ced_vs_exams(p),
    }
    if "age_first_exam" in p.columns:
        q = p.with_columns(
            pl.when(pl.col("age_first_exam") <= 50)
            .then(pl.lit("age <= 50"))
            .when(pl.col("age_first_exam").is_not_null())
            .then(pl.lit("age > 50"))
            .otherwise(pl.lit("age unknown"))
            .alias("age_group")
        )
        km = time_to_threshold(q, THRESHOLD, by="age_group")
    else:
        km = time_to_threshold(p, THRESHOLD)
    figs["time_to_threshold"] = plot.time_to_threshold_curve(km, THRESHOLD)
    if "facility" in p.columns:
        figs["forest"] = plot.forest(site_table(p, THRESHOLD, site="facility"), threshold=THRESHOLD)
    return figs


def reproduce(
    exams: Any = None,
    *,
    seed: int = 0,
    progress: bool | Callable[[str], None] = False,
    n_patients: int | None = None,
) -> Reproduction:
    """Reproduce Rehani et al. 2020 on the synthetic cohort, or run its analysis on your data.

    Parameters
    ----------
    exams : table or path, optional
        Your exam table (polars, pandas, pyarrow, or a CSV/Parquet path read with
        :func:`recurct.read_exams`). Default: the calibrated synthetic cohort of the study.
    seed : int
        Seed of the synthetic cohort.
    progress : bool or callable
        Report progress lines (True: to stderr; a callable receives each line).
    n_patients : int, optional
        A smaller synthetic cohort (for a quick look): counts, sample extremes and the
        per-institution extremes are then not compared (size-dependent), and the other
        figures carry more sampling noise (their SDs scaled by sqrt(N / n)); a figure whose
        tolerance then reaches past a possible bound, or that rests on fewer than 10
        expected patients, is shown ``uninformative`` and not counted. A cohort too small
        to hold the study's 4 institutions differs from its design: ``.ok`` is then false.

    Returns
    -------
    Reproduction
        ``.table`` (published vs reproduced), ``.ok``, ``.figures()``, ``.summary()``,
        ``.patients``, ``.exams``. ``.ok``: every counted figure within its tolerance
        (``uninformative`` and size-dependent rows do not count), and no design row that
        differs from the paper's (a design row that differs makes ``.ok`` false). When no
        figure is counted, ``.ok`` is true with nothing compared (the headline says "no
        counted figure compared").

    Raises
    ------
    ParameterError
        ``n_patients`` not an integer >= 1, or given with ``exams`` (it applies to the
        synthetic cohort only); ``seed`` not an integer >= 0.
    """
    return run_study(
        study=PROFILE,
        source=SOURCE,
        published=PUBLISHED,
        not_published=NOT_PUBLISHED,
        thresholds=(THRESHOLD,),
        measure=measure,
        figures=_figures,
        size_dependent=_COUNT_KEYS,
        exams=exams,
        seed=seed,
        progress=progress,
        n_patients=n_patients,
    )
