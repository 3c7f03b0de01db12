"""Findings of the 17th audit of the study reproductions (verdicts that could not fail, the
sample extremes' legend, your-data labels, raw errors, a published value at its bound).

Each test fails on the code before its fix. Small synthetic cohorts, the stored validation
records or tables built here; one full-scale run (sodickson2009, seed 0, about 2 s).
"""

from __future__ import annotations

import datetime as dt
import math
import re

import polars as pl
import pytest

from recurct import studies
from recurct.errors import ParameterError
from recurct.studies import eurosafe2021, rehani2020, sodickson2009

STUDIES = {"rehani2020": rehani2020, "eurosafe2021": eurosafe2021, "sodickson2009": sodickson2009}


def _row(table: pl.DataFrame, key: str) -> dict:
    return table.filter(pl.col("figure") == key).row(0, named=True)


# ------------------------------------------------------------------ 4. n_patients is checked


@pytest.mark.parametrize("name", list(STUDIES))
@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "300", {"USA-1": 50}])
def test_a_bad_n_patients_is_a_parameter_error(name, bad) -> None:
    # sodickson2009(n_patients=0) raised a raw TypeError; a dict, a TypeError in load_exams
    with pytest.raises(ParameterError, match="n_patients"):
        studies.reproduce(name, n_patients=bad)


# ------------------------------------------------------- 1. verdicts that could not fail


def test_a_share_whose_tolerance_reaches_below_zero_is_not_counted() -> None:
    # seed 88015, 300 patients: 0.0% against 1.33 +- 2.0 was "within", counted, ok
    rep = rehani2020.reproduce(seed=88015, n_patients=300)
    row = _row(rep.table, "share_reached_100")
    assert row["reproduced"] == 0.0
    assert row["status"] == "uninformative" and not row["counted"]
    assert row["within_tolerance"] is None
    assert "share_reached_100" not in rep.counted_rows["figure"].to_list()


@pytest.mark.parametrize("name", list(STUDIES))
def test_one_patient_never_says_n_of_n_within_tolerance(name) -> None:
    rep = STUDIES[name].reproduce(seed=1, n_patients=1)
    head = rep.headline()
    assert not re.search(r"\b(\d+) of \1 calibration targets within tolerance", head), head
    assert rep.counted_rows.height == 0


def test_a_design_row_that_differs_is_not_silent() -> None:
    # 1 patient: 1 institution against 4, "1 do NOT", and still ok
    rep = rehani2020.reproduce(seed=1, n_patients=1)
    assert _row(rep.table, "n_institutions")["within_tolerance"] is False
    assert not rep.ok
    assert rep.design_differs["figure"].to_list() == ["n_institutions"]
    assert rep.headline().startswith(
        "rehani2020: the design differs from the paper's (n_institutions 1 against 4)"
    )


def test_the_median_of_patients_above_100_msv_is_bounded_below_by_100() -> None:
    from recurct.studies._figures import feasible_range, uninformative, uninformative_reason

    fig = rehani2020.PUBLISHED["ced_median_100"]
    assert feasible_range(fig) == (100.0, math.inf)
    # at 500 patients the tolerance was +-51.5: it accepted 78.8 mSv
    assert uninformative(fig, 51.5)
    assert "below the smallest possible value (100)" in uninformative_reason(fig, 51.5)
    assert not uninformative(fig, 3.34, 2_504_585)  # full scale


def test_too_few_expected_patients_make_a_verdict_uninformative() -> None:
    from recurct.studies._figures import MIN_EXPECTED_EVENTS, uninformative_reason

    fig = rehani2020.PUBLISHED["share_reached_100"]  # 1.33% of the patients
    assert MIN_EXPECTED_EVENTS == 10
    why = uninformative_reason(fig, 0.5, 600)  # 8 expected
    assert "fewer than 10" in why and "about 7.98 of 600 patients" in why
    assert uninformative_reason(fig, 0.5, 1_000) == ""  # 13.3 expected, +-0.5 within 0..100
    # a share above 50%: the patients without the event
    share = sodickson2009.PUBLISHED["share_exams_ge5"]  # 33%
    assert uninformative_reason(share, 1.0, 20) != ""
    assert uninformative_reason(share, 1.0, 100) == ""


def test_a_published_value_at_its_bound_is_judged_on_its_other_side() -> None:
    from recurct.studies._figures import uninformative

    lowest = eurosafe2021.PUBLISHED["q5_share_site_min"]  # 0%, "0% to 2.72%"
    assert not uninformative(lowest, 0.085, 1_218_429)


@pytest.mark.parametrize("name", list(STUDIES))
def test_full_scale_verdicts_keep_their_counted_rows(name) -> None:
    # the stored validation means at full scale: every sampled generated row is counted
    from recurct.studies._figures import (
        Measured,
        calibration_record,
        calibration_tolerances,
        comparison_table,
        validation_record,
    )

    rec = validation_record(name)
    pub = STUDIES[name].PUBLISHED
    measured = {k: Measured(float(v["mean"])) for k, v in rec["figures"].items()}
    t = comparison_table(pub, measured, calibration=calibration_tolerances(name),
                         validation=rec, fit=calibration_record(name),
                         n_patients=int(rec["n_patients"]))  # fmt: skip
    expected = [
        k for k, f in pub.items() if f.kind == "generated" and f.compare not in (
            "extreme", "not_reproduced", "restated", "exact", "aggregate")
    ]  # fmt: skip
    assert t.filter(pl.col("counted"))["figure"].to_list() == expected
    assert t.filter(pl.col("status") == "uninformative").height == 0


def test_full_scale_sodickson2009_seed_0_is_unchanged() -> None:
    rep = sodickson2009.reproduce(seed=0)
    counted = rep.counted_rows
    assert counted["figure"].to_list() == [
        "n_exams",
        "share_exams_ge5",
        "share_exams_22_132",
        "share_ced_gt100",
        "share_ced_250_1375",
    ]
    assert counted["within_tolerance"].all() and rep.ok
    assert rep.headline().startswith("sodickson2009: 5 of 5 calibration targets within")
    # 2. the legend states the rate measured on 200 other seeds, not 6/101 alone
    summary = " ".join(rep.summary().split())
    assert "On 200 other seeds (2000-2099, 88001-88100)" in summary
    assert "max_exams 25 (12.5%), ced_max 27 (13.5%)" in summary


# ---------------------------------------------------- 2. the sample extremes' legend


def test_the_measured_rate_is_dropped_when_the_record_changes() -> None:
    from recurct.studies._figures import validation_record
    from recurct.studies._run import _still_valid

    checked = sodickson2009.EXTREMES_ON_NEW_SEEDS
    rec = validation_record("sodickson2009")
    assert _still_valid(checked, rec) is checked
    figures = dict(rec["figures"])
    figures["max_exams"] = {**figures["max_exams"], "q_hi": 161.0}  # a new record
    assert _still_valid(checked, {**rec, "figures": figures}) is None
    assert _still_valid(checked, {}) is None  # your data


def test_the_legend_keeps_the_exchangeable_rate_where_nothing_was_measured() -> None:
    from recurct.studies._reproduction import extremes_note

    assert "6/101" in extremes_note(100) and "other seeds" not in extremes_note(100)
    assert not hasattr(rehani2020, "EXTREMES_ON_NEW_SEEDS")


# ------------------------------------------------------------- 3. your data: the labels


def _your_table() -> pl.DataFrame:
    d = dt.date
    rows = [
        # patient 1: an adult with exams in 2019-2020; 2: a child; 3: an adult, 2007
        (1, d(2019, 3, 1), 10.0, 40.0, "F"),
        (1, d(2020, 5, 1), 20.0, 41.0, "F"),
        (2, d(2019, 7, 1), 5.0, 8.0, "M"),
        (3, d(2007, 1, 5), 60.0, 50.0, "M"),
        (3, d(2007, 2, 1), 70.0, 50.0, "M"),
    ]
    cols = ["patient_id", "exam_date", "effective_dose_msv", "age_years", "sex"]
    return pl.DataFrame([dict(zip(cols, r)) for r in rows]).with_columns(facility=pl.lit("A"))


def test_sodickson2009_on_your_data_does_not_claim_its_selection() -> None:
    rep = sodickson2009.reproduce(_your_table())
    text = rep.to_text()
    assert "adults scanned in 2007" not in text and "years of prior exams" not in text
    assert _row(rep.table, "n_patients")["description"] == (
        "patients in your table (any age, any year)"
    )
    assert _row(rep.table, "n_patients")["reproduced"] == 3  # the child counted too
    assert "selection is not applied" in rep.summary()
    assert "selection is not applied" in _row(rep.table, "n_patients")["note"]
    # the synthetic cohort keeps the paper's wording
    assert sodickson2009.PUBLISHED["n_patients"].description == "adults scanned in 2007"


# ------------------------------------------------------ 5. a published value at its bound


def test_a_single_day_is_not_called_independent_evidence() -> None:
    from recurct.studies._figures import AT_BOUND, Measured, comparison_table, validation_record

    rec = validation_record("rehani2020")
    pub = {"d": rehani2020.PUBLISHED["days_to_100_min_site_max"]}
    stored = {"n_seeds": rec["n_seeds"], "figures": {"d": rec["figures"][pub["d"].key]}}
    t = comparison_table(pub, {"d": Measured(1.0)}, validation=stored)
    row = t.row(0, named=True)
    assert row["evidence"] == AT_BOUND != "independent"
    assert "smallest value this figure can take" in row["note"]
    assert "at least 3 of 100 validation seeds" in row["note"]
    assert not row["counted"]


# ----------------------------------------------------------------------- 6. the wording


def test_the_help_says_counted_figures(capsys) -> None:
    from recurct.cli import main

    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "every counted figure is within its tolerance" in out
    assert "with --exams nothing computed from your file is compared" in out


def test_eurosafe2021_on_your_data_says_what_it_checks() -> None:
    rep = eurosafe2021.reproduce(_your_table())
    judged = rep.table.filter(pl.col("within_tolerance").is_not_null())
    assert judged.height and set(judged["comparison"]) == {"aggregate"}
    head = rep.headline()
    assert "nothing is asserted against the paper" not in head
    assert f"{judged.height} figures recomputed from the paper's published answer counts" in head
