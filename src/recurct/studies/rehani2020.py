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

from recurct._frames import param_label
from recurct.studies._figures import Measured, Published
from recurct.studies._reproduction import Reproduction
from recurct.studies._run import NOTES_KEY, opt, run_study, share_measured

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


#: The per-institution figures (institutions, periods, the range of the age shares, the
#: slowest institution's fastest crossing).
_SITE_KEYS = (
    "n_institutions",
    *(k for k in PUBLISHED if "_site_" in k or k.startswith("period_years")),
)
_AGE_KEYS = tuple(k for k in PUBLISHED if k.startswith("share_age_"))
_PERIOD_KEYS = ("period_years_min", "period_years_max")
_DAYS_NOTE = (
    "calendar days spanned by the fastest crossing (min days_to_100 + 1: a crossing on the "
    "day of the first exam spans 1 day), largest over institutions"
)
_NONE_REACHED = f"no patient >= {THRESHOLD:g} mSv at any institution"


def _with_facility(table: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``table`` that have a facility (a patient or an exam without one belongs to
    no institution: it is left out of every per-institution figure)."""
    return table.filter(pl.col("facility").is_not_null())


def _noted(key: str, extra: list[str]) -> str:
    """The note of ``key`` on your table: the figure's own (how it is measured) and
    ``extra`` (what was left out); empty without ``extra`` (the figure's own note is then
    the row's)."""
    return "; ".join(n for n in (PUBLISHED[key].note, *extra) if n) if extra else ""


def _site_stats(
    mag: pl.DataFrame, patients: pl.DataFrame, exams: pl.DataFrame, mode: str = "your data"
) -> tuple[dict[str, Measured], list[str]]:
    """Per-institution ranges (age shares, period, fastest crossing) and, on your table, the
    notes of what they leave out.

    A patient without a facility (none of his exams has one) belongs to no institution: he
    is left out of every per-institution figure (the institutions, their age shares and
    fastest crossings; an exam without a facility, of the periods) and kept in the figures
    of the whole table; the notes count them. On your table every blank figure says why."""
    mine = mode == "your data"
    if "facility" not in patients.columns:
        return {k: Measured(None, note="needs a facility column") for k in _SITE_KEYS}, []
    n_none = patients["facility"].null_count()
    if n_none == patients.height:
        why = "no exam has a facility"
        return {k: Measured(None, note=why) for k in _SITE_KEYS}, [
            f"{why}: the per-institution figures are blank"
        ]
    left = (
        [f"{n_none:,} patient(s) without a facility left out of the per-institution figures"]
        if mine and n_none
        else []
    )
    by_site = _with_facility(mag.slice(1))  # the "all" row comes first
    out, notes = _age_stats(by_site, patients, left, mine)
    out.update(_days_stat(by_site, left, mine))
    if "facility" in exams.columns:
        periods, period_notes = _period_stats(exams, mine)
        out.update(periods)
        notes += [n for n in period_notes if not left]  # (the patients' note says it)
    out["n_institutions"] = Measured(
        float(_with_facility(patients)["facility"].n_unique()), note="; ".join(left)
    )
    return out, left + notes


def _age_stats(
    by_site: pl.DataFrame, patients: pl.DataFrame, left: list[str], mine: bool
) -> tuple[dict[str, Measured], list[str]]:
    """The range over the institutions of the share aged <= 50 (and > 50) among the patients
    >= 100 mSv; on your table, the notes of who is left out (no facility, no age at the
    first exam: counted, the rule unchanged) and why a blank is blank."""
    le50 = by_site["share_age_le_cut"].drop_nulls() * 100
    notes: list[str] = []
    extra = list(left)
    if mine and "age_first_exam" in patients.columns:
        reached = _with_facility(patients).filter(pl.col(f"reached_{param_label(THRESHOLD)}"))
        unknown = int(reached["age_first_exam"].null_count())
        if unknown:
            notes.append(
                f"{unknown:,} of the {reached.height:,} patients >= {THRESHOLD:g} mSv (with a "
                "facility) have no age at their first exam (the age rule: a later exam's age "
                "is not used): left out of the shares by age, which are of the other "
                f"{reached.height - unknown:,}"
            )
        empty = int((by_site["n_reached"] == 0).sum())
        if empty and le50.len():
            extra.append(
                f"{empty:,} institution(s) without a patient >= {THRESHOLD:g} mSv (no share) "
                "left out of the range"
            )
    extra += notes
    if le50.len():
        lo, hi = float(le50.min()), float(le50.max())  # type: ignore[arg-type]
        values = zip(_AGE_KEYS, (lo, hi, 100.0 - hi, 100.0 - lo))
        return {k: Measured(v, note=_noted(k, extra)) for k, v in values}, notes
    if not mine:
        return {}, notes
    if "age_first_exam" not in patients.columns:
        why = "needs an age_years column"
    elif not int(by_site["n_reached"].sum()):
        why = _NONE_REACHED
    else:
        why = f"no patient >= {THRESHOLD:g} mSv has an age at his first exam"
    return {k: Measured(None, note="; ".join([why, *extra])) for k in _AGE_KEYS}, notes


def _days_stat(by_site: pl.DataFrame, left: list[str], mine: bool) -> dict[str, Measured]:
    """The slowest institution's fastest crossing of 100 mSv (calendar days spanned)."""
    key = "days_to_100_min_site_max"
    days = by_site["days_to_min"].drop_nulls()
    if days.len() == by_site.height and days.len():
        spanned = _days_spanned(float(days.max()))  # type: ignore[arg-type]
        return {key: Measured(spanned, note="; ".join([_DAYS_NOTE, *left]) if mine else "")}
    if days.len():
        why = "an institution has no patient >= 100 mSv"
        return {key: Measured(None, note="; ".join([why, *left]))}
    return {key: Measured(None, note="; ".join([_NONE_REACHED, *left]))} if mine else {}


def _period_stats(exams: pl.DataFrame, mine: bool) -> tuple[dict[str, Measured], list[str]]:
    """The shortest and longest span of exam dates of an institution, in years; the exams
    without a facility left out (on your table, counted in a note)."""
    dated = _with_facility(exams)
    span = (
        dated.group_by("facility")
        .agg((pl.col("exam_date").max() - pl.col("exam_date").min()).alias("span"))
        .get_column("span")
    )
    years = span.dt.total_days().cast(pl.Float64) / 365.25
    n_out = exams.height - dated.height
    extra = (
        [f"{n_out:,} exam(s) without a facility left out of the institutions' periods"]
        if mine and n_out
        else []
    )
    values = zip(_PERIOD_KEYS, (years.min(), years.max()))
    out = {k: Measured(float(v), note=_noted(k, extra)) for k, v in values}  # type: ignore[arg-type]
    return out, extra


def measure(
    exams: pl.DataFrame, patients: pl.DataFrame, mode: str = "your data"
) -> tuple[dict[str, Measured], dict]:
    """Measure every reproducible figure on an exam table and its patients table.

    On your table (``mode="your data"``) each figure's note says how it was computed there,
    or why it is blank; ``extra`` then holds the notes of what some figures leave out
    (patients without a facility, or without an age at their first exam) under
    :data:`recurct.studies._run.NOTES_KEY`."""
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
        "ced_max": Measured(float(patients["ced_msv"].max())),  # type: ignore[arg-type]
    }
    site, notes = _site_stats(mag, patients, exams, mode)
    m.update(site)
    if mode == "synthetic":
        from recurct.synthetic import sites

        s = sites(PROFILE)
        m["n_institutions_usa"] = Measured(float((s["country"] == "USA").sum()))
        return m, {"magnitude": mag}
    m["n_reached_100"] = Measured(float(k), note=f"patients whose CED reached {THRESHOLD:g} mSv")
    m["ced_max"] = Measured(
        m["ced_max"].value,
        note="the largest CED of one patient of your table (a sample maximum: it grows with "
        "the number of patients)",
    )
    if m["ced_median_100"].value is None:
        m["ced_median_100"] = Measured(None, note=f"no patient >= {THRESHOLD:g} mSv")
    m["n_institutions_usa"] = Measured(
        None,
        note="not computed on your table: it has no country of an institution (on the "
        "synthetic cohort, from the profile's site list)",
    )
    return m, {"magnitude": mag, NOTES_KEY: notes}


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
        # the patients without a facility are left out, as of every per-institution figure
        with_site = _with_facility(p)
        if with_site.height:
            figs["forest"] = plot.forest(
                site_table(with_site, THRESHOLD, site="facility"), threshold=THRESHOLD
            )
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
        A missing ``effective_dose_msv`` is computed from ``dlp_mgycm`` and ``body_region``
        as ``recurct reproduce --exams`` computes it (table ``aapm96``). Patients without a
        ``facility`` are left out of the per-institution figures (a note counts them) and
        kept in those of the whole table.
    seed : int
        Seed of the synthetic cohort (with ``exams``: leave it at 0).
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
        synthetic cohort only); ``seed`` not an integer >= 0, or other than 0 with
        ``exams`` (it chooses the synthetic cohort).
    DataError
        ``exams`` without a row (nothing to analyse).
    ExamValidationError, DoseConversionError
        ``exams`` that break the schema (every problem listed; validate it first with
        ``recurct.validate(exams, strict=False)`` to drop the bad rows), or whose missing
        ``effective_dose_msv`` cannot be computed from ``dlp_mgycm`` and ``body_region``.
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
