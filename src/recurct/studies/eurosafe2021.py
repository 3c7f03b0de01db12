"""Frija et al. 2021: cumulative effective dose from recurrent CT in Europe (ESR EuroSafe
Imaging survey).

Source: Frija et al., for the European Society of Radiology (ESR). "Cumulative effective
dose from recurrent CT examinations in Europe: proposal for clinical guidance based on an ESR
EuroSafe Imaging survey." Eur Radiol 2021;31:5514–5523. doi:10.1007/s00330-021-07696-1
(open access).

Design: a web questionnaire (20 Nov 2019 to 22 Jan 2020) sent to 605 professionals, 16
questions (3 mandatory), 85 responses from 23 countries. Q4: dose-management system in the
hospital. Q5: patients with CED >= 100 mSv over 2015–2018 at 18 institutions (1,218,429
patients, 6,082 >= 100 mSv; 0% to 2.72% by institution, mean 0.5%).

Reproduction: the questionnaire figures are not derivable from exam data. The percentages and
the number of Q4 answers are recomputed from the published answer counts
(:func:`recurct.survey.eurosafe2021`, :func:`recurct.survey.survey_table`), within the
published rounding; the survey's facts (605 sent, 16 questions, ...) and the answer counts
themselves are copies of the published numbers: shown as ``restated``, never compared (a
comparison with a copy of itself could not fail).
The Q5 figures are computed on exams: the calibrated synthetic cohort
``recurct.synthetic.generate("eurosafe2021")`` (18 sites), or your exam table, through
:func:`recurct.cumulative_dose` and :func:`recurct.stats.site_table` (one row per ``facility``).

Tolerance (``docs/reproductions.md``): a figure computed from generated exams is reproduced
when it lies within half the published rounding unit + the calibration tolerance recorded in
profiles/eurosafe2021.toml for that target + z x its sampling SD (the upper 95% bound over the
profile's validation seeds; z family-wise, :func:`recurct.studies._figures.family_z`).
Each row has a kind (generated, derived, design, aggregate, not_reproduced); the generated
rows count in the headline and the exit status, and all four here are calibration targets
(the synthetic cohort was fitted to them): their verdicts check the fit and its sampling
spread, not independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from recurct.errors import DataError
from recurct.studies._figures import Measured, Published
from recurct.studies._reproduction import Reproduction
from recurct.studies._run import check_sites, run_study, share_measured

__all__ = ["NOT_PUBLISHED", "PROFILE", "PUBLISHED", "SOURCE", "THRESHOLD", "reproduce"]

SOURCE = (
    "Frija et al. (European Society of Radiology). Cumulative effective dose from recurrent "
    "CT examinations in Europe: proposal for clinical "
    "guidance based on an ESR EuroSafe Imaging survey. Eur Radiol 2021;31:5514–5523; "
    "doi:10.1007/s00330-021-07696-1"
)
"""The paper reproduced (citation)."""
PROFILE = "eurosafe2021"
"""The synthetic profile the study is reproduced on (:func:`recurct.synthetic.generate`)."""
THRESHOLD = 100.0
"""The CED threshold (mSv) of the study's figures."""

_P = Published
_SURVEY = (
    "restated: a published survey fact copied from recurct.survey.EUROSAFE2021_SURVEY (not "
    "derivable from exam data); shown, not compared"
)
_RESTATED = (
    "restated: the published answer count, the survey table's own count column "
    "(recurct.survey.survey_table); shown, not compared"
)
_COUNTS = "recomputed from the published answer counts (recurct.survey.survey_table)"
_COUNTRIES = ("France", "Germany", "Italy", "Spain", "UK", "Turkey", "Austria", "not stated")
_N_COUNTRY = (2, 1, 5, 3, 1, 3, 1, 2)


def _country_key(c: str) -> str:
    return "q5_country_" + c.lower().replace(" ", "_")


PUBLISHED: dict[str, Published] = {
    p.key: p
    for p in (
        _P("n_sent", "professionals the questionnaire was sent to", 605, "people", None,
           "restated", "605", note=_SURVEY),
        _P("n_questions", "questions", 16, "questions", None, "restated", "16",
           note=_SURVEY),
        _P("n_mandatory", "mandatory questions", 3, "questions", None, "restated", "3",
           note=_SURVEY),
        _P("n_responses", "responses", 85, "responses", None, "restated", "85",
           note=_SURVEY),
        _P("n_countries", "countries of the responses", 23, "countries", None, "restated",
           "23", note=_SURVEY),
        _P("q4_n_answered", "Q4 (dose-management system): answered", 70, "respondents",
           None, "aggregate", "70", note=_COUNTS),
        _P("q4_yes", "Q4: yes", 53, "respondents", None, "restated", "53", note=_RESTATED),
        _P("q4_yes_pct", "Q4: yes", 75.7, "%", 0.1, "aggregate", "75.7%", note=_COUNTS),
        _P("q4_no", "Q4: no", 14, "respondents", None, "restated", "14", note=_RESTATED),
        _P("q4_no_pct", "Q4: no", 20, "%", 1, "aggregate", "20%", note=_COUNTS),
        _P("q4_other", "Q4: other", 3, "respondents", None, "restated", "3", note=_RESTATED),
        _P("q4_other_pct", "Q4: other", 4.3, "%", 0.1, "aggregate", "4.3%", note=_COUNTS),
        _P("q5_n_institutions", "Q5: institutions with patient counts", 18, "institutions",
           None, "exact", "18"),
        _P("q5_n_patients", "Q5: patients 2015–2018", 1_218_429, "patients", None, "exact",
           "1,218,429", yours="Q5: patients in your table (all dates)"),
        _P("q5_n_high", "Q5: patients with CED >= 100 mSv", 6_082, "patients", 1,
           "calibrated", "6,082", target="n_reached"),
        _P("q5_share_pooled", "Q5: pooled share >= 100 mSv (6,082 / 1,218,429)", 0.499, "%",
           0.001, "calibrated", "0.499%", target="n_reached", target_scale=100 / 1_218_429,
           derived_from="q5_n_high", event_share=0.499,
           yours="Q5: pooled share >= 100 mSv of the patients in your table",
           note="derived in docs/sources.md from the two published counts; "
           "tolerance: that of n_reached over the exact number of patients"),
        _P("q5_share_mean", "Q5: mean of the institutions' shares", 0.5, "%", 0.1,
           "calibrated", "mean 0.5%", target="site_share_reached_mean", target_scale=100,
           event_share=0.5),
        _P("q5_share_site_min", "Q5: lowest institution", 0, "%", 0.01, "range_min",
           "0% to 2.72%", target="site_share_reached_min", target_scale=100),
        _P("q5_share_site_max", "Q5: highest institution", 2.72, "%", 0.01, "range_max",
           "0% to 2.72%", target="site_share_reached_max", target_scale=100),
        *(
            _P(_country_key(c), f"Q5 institutions in {c}", n, "institutions", None, "exact",
               str(n), note="from the profile's site list (country)")
            for c, n in zip(_COUNTRIES, _N_COUNTRY)
        ),
        _P("q5_n_academic", "Q5 institutions that are academic", 12, "institutions", None,
           "exact", "12 of the 18", note="from the profile's site list (academic)"),
        _P("q5_dms_yes", "Q5 institutions with a dose-management system", 15, "institutions",
           None, "restated", "15", note=_RESTATED),
        _P("q5_dms_other", "Q5 institutions answering 'other'", 2, "institutions", None,
           "restated", "2", note=_RESTATED),
        _P("q5_dms_not_stated", "Q5 institutions not saying", 1, "institutions", None,
           "restated", "1", note=_RESTATED),
    )
}  # fmt: skip
"""Every figure of Frija et al. 2021 in docs/sources.md, numbers as published."""

NOT_PUBLISHED: tuple[str, ...] = (
    "questions 1, 13, 14 and 15 (not reported: personal data, or not about CT)",
    "the per-institution table (only the range 0% to 2.72% and the mean)",
    "'most patients with CED >= 100 mSv had cancer' (no number)",
    "a numeric trigger level for the proposed guidance (none in the text)",
)
"""What the paper does not give, or gives only in words (left out as figures)."""

_SURVEY_FACTS = {
    "n_sent": "n_sent",
    "n_questions": "n_questions",
    "n_mandatory": "n_mandatory",
    "n_responses": "n_responses",
    "n_countries": "n_countries",
}
_ANSWERS = {
    # key: (question, answer, what) with what = "count" | "percent" | "n_answered"
    "q4_n_answered": ("Q4", "yes", "n_answered"),
    "q4_yes": ("Q4", "yes", "count"),
    "q4_yes_pct": ("Q4", "yes", "percent"),
    "q4_no": ("Q4", "no", "count"),
    "q4_no_pct": ("Q4", "no", "percent"),
    "q4_other": ("Q4", "other", "count"),
    "q4_other_pct": ("Q4", "other", "percent"),
    "q5_dms_yes": ("Q5 dose management", "yes", "count"),
    "q5_dms_other": ("Q5 dose management", "other", "count"),
    "q5_dms_not_stated": ("Q5 dose management", "not stated", "count"),
}
_COUNT_KEYS = ("q5_n_patients", "q5_n_high")


def survey_figures() -> dict[str, Measured]:
    """The questionnaire figures, recomputed from the published answer counts."""
    from recurct.survey import EUROSAFE2021_SURVEY, eurosafe2021, survey_table

    m = {k: Measured(float(EUROSAFE2021_SURVEY[v])) for k, v in _SURVEY_FACTS.items()}
    t = survey_table(eurosafe2021())
    for key, (q, a, what) in _ANSWERS.items():
        row = t.filter((pl.col("question") == q) & (pl.col("answer") == a))
        if row.height != 1:
            m[key] = Measured(None, note=f"answer {q} / {a} not in the survey table")
            continue
        r = row.row(0, named=True)
        if what == "percent":
            m[key] = Measured(100.0 * r["share"], 100.0 * r["share_lo"], 100.0 * r["share_hi"])
        else:
            m[key] = Measured(float(r[what]))
    return m


def measure(
    exams: pl.DataFrame, patients: pl.DataFrame, mode: str = "your data"
) -> tuple[dict[str, Measured], dict[str, Any]]:
    """The Q5 figures from a patients table with a ``facility`` column, and the survey
    figures from the published answer counts (plus the site list in synthetic mode)."""
    from recurct.stats import site_table

    if "facility" not in patients.columns:
        raise DataError(
            f"{PROFILE}.reproduce compares institutions: the exam table needs a 'facility' column"
        )
    check_sites(PROFILE, exams, patients)  # every patient needs one: rows named otherwise
    st = site_table(patients, THRESHOLD, site="facility")
    s = st.summary.row(0, named=True)
    n, k = int(s["n_patients"]), int(s["n_reached"])
    m = {
        "q5_n_institutions": Measured(float(s["n_sites"])),
        "q5_n_patients": Measured(float(n)),
        "q5_n_high": Measured(float(k)),
        "q5_share_pooled": share_measured(k, n),
        "q5_share_mean": Measured(100.0 * s["mean_share"]),
        "q5_share_site_min": Measured(100.0 * s["min_share"]),
        "q5_share_site_max": Measured(100.0 * s["max_share"]),
    }
    m.update(survey_figures())
    if mode == "synthetic":
        from recurct.synthetic import sites

        m.update(_site_figures(sites(PROFILE)))
    else:  # what each figure is on your table, and why a blank one is blank
        m["q5_share_pooled"] = share_measured(
            k, n, note=f"patients >= {THRESHOLD:g} mSv over the patients of your table"
        )
        m["q5_share_mean"] = Measured(
            m["q5_share_mean"].value, note="the mean of your institutions' shares"
        )
        why = (
            "not computed on your table: it has no {} of an institution (on the synthetic "
            "cohort, from the profile's site list)"
        )
        for c in _COUNTRIES:
            m[_country_key(c)] = Measured(None, note=why.format("country"))
        m["q5_n_academic"] = Measured(None, note=why.format("academic status"))
    return m, {"site_table": st}


def _site_figures(sites: pl.DataFrame) -> dict[str, Measured]:
    m = {}
    for c in _COUNTRIES:
        m[_country_key(c)] = Measured(float((sites["country"] == c).sum()))
    m["q5_n_academic"] = Measured(float(sites["academic"].sum()))
    return m


def _figures(rep: Reproduction) -> dict[str, Any]:
    from recurct import plot

    p = rep.patients
    assert p is not None
    st = rep.extra["site_table"]
    return {
        "forest": plot.forest(st, threshold=THRESHOLD),
        "funnel": plot.funnel(st.sites, threshold=THRESHOLD),
        "ced_distribution": plot.ced_distribution(p, THRESHOLD),
        "share_above": plot.share_above(p),
    }


def reproduce(
    exams: Any = None,
    *,
    seed: int = 0,
    progress: bool | Callable[[str], None] = False,
    n_patients: int | None = None,
) -> Reproduction:
    """Reproduce Frija et al. 2021 (EuroSafe Imaging survey).

    Parameters
    ----------
    exams : table or path, optional
        Your exam table (with a ``facility`` for every patient), or a CSV/Parquet path.
        Default: the study's calibrated synthetic cohort (18 sites). A missing
        ``effective_dose_msv`` is computed from ``dlp_mgycm`` and ``body_region`` as ``recurct
        reproduce --exams`` computes it (table ``aapm96``).
    seed : int
        Seed of the synthetic cohort (with ``exams``: leave it at 0).
    progress : bool or callable
        Report progress lines (True: to stderr; a callable receives each line).
    n_patients : int, optional
        A smaller synthetic cohort: patient counts and the lowest / highest institution are
        then not compared (size-dependent), and a share whose tolerance reaches past a
        possible bound, or that rests on fewer than 10 expected patients, is shown
        ``uninformative`` and not counted. A cohort too small to hold all 18 sites differs
        from the study's design: ``.ok`` is then false.

    Returns
    -------
    Reproduction
        The recomputed questionnaire rows are always compared (they come from the published
        counts), the restated ones never; the Q5 rows are compared on the synthetic cohort
        and reported on your data. ``.ok``: every counted figure within its tolerance
        (``uninformative`` and size-dependent rows do not count), and no design row that
        differs from the paper's (a design row that differs makes ``.ok`` false). When no
        figure is counted (``reproduce(n_patients=300, seed=3)``), ``.ok`` is true with
        nothing compared: the headline says "no counted figure compared".

    Raises
    ------
    ParameterError
        ``n_patients`` not an integer >= 1, or given with ``exams`` (it applies to the
        synthetic cohort only); ``seed`` not an integer >= 0, or other than 0 with
        ``exams`` (it chooses the synthetic cohort).
    DataError
        ``exams`` without a row (nothing to analyse), or without a ``facility`` column, or
        with a patient without a ``facility`` (none of his exams has one): the study
        compares institutions (the error names the study, the column and the rows of his
        exams).
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
