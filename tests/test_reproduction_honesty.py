"""The honesty of the study reproductions' verdicts (recurct.studies, recurct reproduce).

One test (or more) per confirmed finding of the second audit of the reproductions: what is
counted and what it is called, in-sample seeds, reduced cohorts, the rounding allowance, a
calibration target the fit did not meet, the precision of stored ranges and printed numbers,
the upper confidence bound of a sampling SD, restated survey numbers and derived rows. Each
fails on the code before its fix. They use small synthetic cohorts, the stored validation
records or tables built here: no full-scale run.
"""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest

from recurct import studies
from recurct.studies import eurosafe2021, rehani2020, sodickson2009
from recurct.studies._figures import Measured, Published, comparison_table
from recurct.studies._reproduction import Reproduction

STUDIES = {"rehani2020": rehani2020, "eurosafe2021": eurosafe2021, "sodickson2009": sodickson2009}
#: Small cohorts: fast, and each study's counted figures still compared.
SMALL = {"rehani2020": 20_000, "eurosafe2021": 20_000, "sodickson2009": 3_000}
#: A seed no fit used (the fit seeds are 0-99 for rehani2020, 0-4 for the others).
UNSEEN = 4321


@pytest.fixture(scope="module")
def small_runs() -> dict[str, Reproduction]:
    return {
        name: mod.reproduce(seed=UNSEEN, n_patients=SMALL[name]) for name, mod in STUDIES.items()
    }


def _row(table: pl.DataFrame, key: str) -> dict:
    return table.filter(pl.col("figure") == key).row(0, named=True)


def _line(text: str, key: str) -> list[str]:
    """The cells of a printed table's row (split on runs of 2+ spaces), by its key."""
    line = next(ln for ln in text.splitlines() if ln.rstrip().endswith(f"  {key}"))
    return re.split(r"\s{2,}", line.strip())


# ----------------------------------------------------------------- 1. calibration targets


@pytest.mark.parametrize("name", list(STUDIES))
def test_counted_figures_are_called_calibration_targets(name, small_runs) -> None:
    from recurct.synthetic.model import load_profile

    rep = small_runs[name]
    targets = load_profile(name).calibration["targets"]
    fitted = {t for t, spec in targets.items() if spec.get("fit", True) is not False}
    pub = STUDIES[name].PUBLISHED
    counted = [
        r["figure"]
        for r in rep.table.iter_rows(named=True)
        if r["within_tolerance"] is not None
        and pub[r["figure"]].kind == "generated"
        and pub[r["figure"]].compare != "extreme"
    ]
    assert counted
    # every counted figure of the shipped studies was fitted: none is independent evidence
    assert all(pub[k].target in fitted for k in counted)
    head = rep.headline()
    assert "calibration targets within tolerance" in head
    assert "not independent evidence" in head and "independent figures" not in head
    for key in counted:
        assert _line(rep.to_text(), key)[1] == "calib. target", key
    md = rep.to_markdown()
    assert "calib. target" in md and "| generated |" not in md
    # a sample extreme published at its bound (rehani2020's "a single day") is neither a
    # calibration target nor independent evidence
    at_bound = rep.table.filter(pl.col("evidence") == "published at its bound").height
    assert md.count("| at its bound |") == at_bound


def test_independent_is_computed_from_the_profile_not_typed_in() -> None:
    pub = {
        "t": Published("t", "a fitted share", 1.33, "%", 0.01, "calibrated", target="fitted"),
        "u": Published("u", "a share no fit used", 2.0, "%", 0.1, "calibrated", target="other"),
        "c": Published("c", "a check only", 3.0, "%", 0.1, "calibrated", target="check"),
    }
    meas = {"t": Measured(1.33), "u": Measured(2.0), "c": Measured(3.0)}
    fit = {"targets": {"fitted": {"value": 0.0133}, "check": {"value": 0.03, "fit": False}}}
    t = comparison_table(pub, meas, fit=fit)
    assert t["evidence"].to_list() == ["calibration target", "independent", "independent"]
    rep = Reproduction("s", "src", t, "synthetic")
    assert rep.headline().startswith(
        "s: 1 of 1 calibration targets within tolerance (the synthetic cohort was fitted to "
        "these published figures: this checks the fit and its sampling spread, not "
        "independent evidence); 2 of 2 independent figures within tolerance"
    )
    assert rep.calibration_targets["figure"].to_list() == ["t"]
    assert rep.independent["figure"].to_list() == ["u", "c"]


# ----------------------------------------------------------------- 2. in-sample seeds


def test_a_fit_seed_is_said_to_be_in_sample(tmp_path) -> None:
    rep = sodickson2009.reproduce(seed=0, n_patients=2_000)
    note = "in-sample: seed 0 was one of the seeds the profile was fitted on (fit seeds 0-4)"
    assert note in rep.headline() and note in rep.summary()
    rep.save(tmp_path / "out", figures=False)
    assert note in (tmp_path / "out" / "table.md").read_text()
    other = sodickson2009.reproduce(seed=UNSEEN, n_patients=2_000)
    assert "in-sample" not in other.summary()


def test_the_cli_says_a_default_seed_is_in_sample(monkeypatch, tmp_path, capsys) -> None:
    import recurct.cli._reproduce as cli
    from recurct.cli import main

    def small(study: str, **kw: object) -> Reproduction:
        rep = studies.get(study).reproduce(n_patients=20_000, **kw)
        return dataclasses.replace(rep, _figure_fn=None)  # no figures: fast

    monkeypatch.setattr(cli, "reproduce", small)
    main(["reproduce", "rehani2020", "--out", str(tmp_path / "r")])  # the default seed, 0
    out = capsys.readouterr().out
    note = "in-sample: seed 0 was one of the seeds the profile was fitted on (fit seeds 0-99)"
    assert note in out
    assert note in (tmp_path / "r" / "table.md").read_text()


def test_seed_runs_on_the_fit_seeds_say_so() -> None:
    from recurct.studies.validate import SeedRuns, summarise

    runs = pl.DataFrame(
        {
            "seed": [s for s in range(5) for _ in range(2)],
            "figure": ["share_ced_gt100", "n_exams"] * 5,
            "reproduced": [15.0, 190_000.0] * 5,
            "within_tolerance": [True, True] * 5,
        }
    )
    sr = SeedRuns("sodickson2009", list(range(5)), summarise("sodickson2009", runs), runs)
    assert "in-sample: all 5 seeds were seeds the profile was fitted on (fit seeds 0-4)" in (
        sr.headline()
    )
    later = runs.with_columns(pl.col("seed") + 5)
    sr = SeedRuns("sodickson2009", list(range(3, 8)), summarise("sodickson2009", later), later)
    assert "in-sample: 2 of 5 seeds (3,4) were seeds the profile was fitted on" in sr.headline()


# ----------------------------------------------------------------- 3. reduced cohorts


def test_per_site_extremes_are_not_compared_on_a_reduced_cohort() -> None:
    # n_patients=50,000, seed 6: the lowest institution's share aged <= 50 was 0 (a small
    # site) against 13.4 +- 8.06, "NO", for a correct model
    rep = rehani2020.reproduce(seed=6, n_patients=50_000)
    for key, fig in rehani2020.PUBLISHED.items():
        if fig.compare in ("range_min", "range_max", "extreme"):
            row = _row(rep.table, key)
            assert row["within_tolerance"] is None, key
            assert _line(rep.to_text(), key)[5] == "size-dependent", key
    assert "size-dependent: not compared at this size" in rep.summary()
    assert rep.ok, rep.failed


@pytest.mark.parametrize(("name", "n", "seed"), [("rehani2020", 5_000, 7), ("sodickson2009", 2, 1)])
def test_no_counted_verdict_covers_every_possible_value(name, n, seed) -> None:
    # rehani2020 at 5,000 patients, seed 7: a share got +-166 points, a verdict that could
    # not fail, and it was counted
    rep = STUDIES[name].reproduce(seed=seed, n_patients=n)
    for r in rep.table.iter_rows(named=True):
        if r["within_tolerance"] is None or r["unit"] != "%" or r["tolerance"] is None:
            continue
        covers = r["published"] - r["tolerance"] <= 0 and r["published"] + r["tolerance"] >= 100
        assert not covers, (r["figure"], r["tolerance"])


def test_an_uninformative_verdict_is_shown_and_not_counted() -> None:
    pub = {"s": Published("s", "a share", 28, "%", 1, "calibrated", target="p")}
    t = comparison_table(pub, {"s": Measured(90.0)}, validation={"figures": {"s": {"sd": 2.0}}},
                         sd_scale=40.0)  # fmt: skip
    row = t.row(0, named=True)
    assert row["within_tolerance"] is None and row["status"] == "uninformative"
    assert not row["counted"]
    rep = Reproduction("x", "src", t, "synthetic")
    assert _line(rep.to_text(), "s")[5].startswith("uninformative (±")
    assert "uninformative at this size" in rep.summary()
    assert "0 of 0" not in rep.headline() and "no counted figure compared" in rep.headline()


# ----------------------------------------------------------------- 4. rounding, unmet target


def test_the_rounding_allowance_is_counted_once(small_runs) -> None:
    from recurct.studies._figures import calibration_tolerances

    rep = small_runs["sodickson2009"]
    cal = calibration_tolerances("sodickson2009")
    for key in ("share_exams_ge5", "share_ced_gt100", "share_ced_250_1375"):
        fig = sodickson2009.PUBLISHED[key]
        row = _row(rep.table, key)
        # the target's tolerance is the rounding half-unit itself ("whole percent: +-0.5")
        assert cal[fig.target] * fig.target_scale == pytest.approx(0.5 * fig.rounding)
        assert row["tol_rounding"] == 0.0
        assert row["tolerance"] == pytest.approx(0.5 + row["tol_sampling"])
    # a calibration tolerance of another size is added to the rounding
    share = _row(small_runs["rehani2020"].table, "share_reached_100")
    assert (share["tol_rounding"], share["tol_calibration"]) == pytest.approx((0.005, 0.03))


def _unmet_22_132(profile: str) -> dict:
    """sodickson2009's calibration record as the 2026-11-27 fit wrote it: the 22-132 CT share
    not met (5.649% over the fit seeds against 5% +- 0.5)."""
    from recurct.studies._figures import calibration_record

    rec = calibration_record(profile)
    rec["within_tolerance"] = {**rec["within_tolerance"], "share_exams_22_132": False}
    rec["achieved"] = {**rec["achieved"], "share_exams_22_132": 0.05648719}
    return rec


def test_a_target_the_fit_did_not_meet_is_missed_on_every_seed(monkeypatch) -> None:
    import recurct.studies._run as run

    # the shipped refit meets every target (test_sodickson2009_refit_meets_every_target);
    # the rule is checked on the record of the earlier fit, which did not
    monkeypatch.setattr(run, "calibration_record", _unmet_22_132)
    for seed in (UNSEEN, 7):
        rep = sodickson2009.reproduce(seed=seed, n_patients=3_000)
        row = _row(rep.table, "share_exams_22_132")
        assert row["within_tolerance"] is False and row["counted"]
        assert row["note"].startswith(
            "the calibration did not meet this target: model mean 5.649% over the fit seeds"
        )
        assert "against 5% ± 0.5" in row["note"]
        cells = _line(rep.to_text(), "share_exams_22_132")
        assert cells[5] == "target not met" and cells[-2] == "NO"
        assert not rep.ok
        assert "the calibration did not meet this target" in rep.summary()
        assert re.search(r"(\d+) of (\d+) calibration targets", rep.headline()).group(1) != (
            re.search(r"(\d+) of (\d+) calibration targets", rep.headline()).group(2)
        )


def test_sodickson2009_refit_meets_every_target() -> None:
    # the fit of 2026-11-27 missed the 22-132 CT share (5.65% over the fit seeds, 5.73% over
    # the validation seeds, against 5% +- 0.5) and had the >= 5 CT share at 33.54% over the
    # validation seeds (33% +- 0.5): `recurct reproduce sodickson2009` exited 1 on every seed
    from recurct.studies._figures import calibration_record, validation_record

    fit = calibration_record("sodickson2009")
    assert all(fit["within_tolerance"].values()), fit["within_tolerance"]
    val = validation_record("sodickson2009")
    assert val["n_seeds"] == 100 and val["seeds"] == "1000-1099"
    checked = 0
    for fig in sodickson2009.PUBLISHED.values():
        target = fit["targets"].get(fig.target) if fig.target else None
        if target is None or target.get("fit") is False:
            continue
        mean = val["figures"][fig.key]["mean"]
        tol = target.get("atol", target.get("rtol", 0.0) * target["value"])
        # the expectation over the validation seeds, in the target's unit, within tolerance
        assert abs(mean / fig.target_scale - target["value"]) <= tol, (fig.key, mean)
        checked += 1
    assert checked == 7


@pytest.mark.parametrize("seed", [0, 3, 9, 2042, UNSEEN])
def test_sodickson2009_reproduces_on_several_seeds(seed) -> None:
    rep = sodickson2009.reproduce(seed=seed, n_patients=5_000)
    assert rep.ok, rep.failed
    assert _row(rep.table, "share_exams_22_132")["status"] != "target not met"


# ----------------------------------------------------------------- 5. precision


@pytest.mark.parametrize("name", list(STUDIES))
def test_stored_ranges_and_sds_have_full_precision(name) -> None:
    from recurct.studies._figures import validation_record

    rec = validation_record(name)
    assert rec["n_patients"] == {"rehani2020": 2_504_585, "eurosafe2021": 1_218_429,
                                 "sodickson2009": 31_462}[name]  # fmt: skip
    rounded = 0
    for f in rec["figures"].values():
        for part in ("mean", "sd", "q_lo", "q_hi"):
            v = float(f[part])
            rounded += v != float(f"{v:.6g}")
    # 6-digit rounding made seed 1076's largest CED (the range's 3rd smallest) fall out of it
    assert rounded >= 5
    if name == "rehani2020":
        assert rec["figures"]["n_patients"]["mean"] == 2_504_585


def test_validate_stores_full_precision(monkeypatch) -> None:
    import recurct.studies.validate as v

    rng = np.random.default_rng(3)
    values = rng.normal(1383.28, 142.678, 20) + 1e-7 * rng.random(20)

    def runs(study, seeds, **kw):
        return pl.DataFrame(
            {
                "seed": list(seeds),
                "figure": ["ced_max"] * len(seeds),
                "reproduced": list(values),
                "within_tolerance": [True] * len(seeds),
            }
        )

    monkeypatch.setattr(v, "run_seeds", runs)
    rec = v.validate("sodickson2009", "2000-2019")
    f = rec["figures"]["ced_max"]
    assert f["mean"] == float(values.mean()) and f["sd"] == float(values.std(ddof=1))
    assert (f["q_lo"], f["q_hi"]) == (float(values.min()), float(values.max()))


def _printed_verdict_agrees(cells: list[str], extreme: bool) -> bool:
    def num(text: str) -> Decimal:
        return Decimal(text.replace(",", "").replace("±", ""))

    published, reproduced, tol, ok = cells[3], cells[4], cells[5], cells[-2]
    if extreme:
        lo, hi = tol.removeprefix("95%: ").split("–")
        return (num(lo) <= num(reproduced) <= num(hi)) == (ok == "in")
    return (abs(num(reproduced) - num(published)) <= num(tol)) == (ok == "yes")


@pytest.mark.parametrize(
    ("value", "tol", "central"),
    [
        (36.842, 8.8371, None),  # rehani2020 seed 2105: "36.84 | 28 | ±8.84 | NO"
        (36.8369, 8.8371, None),
        (19.1631, 8.8371, None),
        (38.64, 10.641, None),  # within, but "38.64 ±10.6" would read as out
        (1137.4, None, (1137.45, 1679.69)),  # sodickson2009 seed 1076: "1,137 1,137–1,680 out"
        (1137.448, None, (1137.448, 1679.69)),
        (1679.7, None, (1137.448, 1679.69)),
    ],
)
def test_every_printed_verdict_can_be_read_from_its_numbers(value, tol, central) -> None:
    if central is None:
        fig = Published("s", "a share", 28, "%", 1, "calibrated", target="p")
        t = comparison_table({"s": fig}, {"s": Measured(value)}, calibration={"p": tol - 0.5})
    else:
        fig = Published("s", "a maximum", 1375, "mSv", 1, "extreme")
        record = {"figures": {"s": {"q_lo": central[0], "q_hi": central[1]}}}
        t = comparison_table({"s": fig}, {"s": Measured(value)}, validation=record)
    rep = Reproduction("x", "src", t, "synthetic")
    for text in (rep.to_text(), rep.to_markdown()):
        if text.startswith("|"):
            line = next(ln for ln in text.splitlines() if ln.startswith("| a "))
            cells = [c.strip() for c in line.strip("|").split("|")]
            cells = [cells[0], *cells[2:-1], cells[1]]  # as the text table: key last
        else:
            cells = _line(text, "s")
        assert _printed_verdict_agrees(cells, central is not None), cells


# ----------------------------------------------------------------- 6. SD upper bound


def test_the_sampling_sd_is_its_upper_confidence_bound() -> None:
    from scipy.stats import chi2

    from recurct.studies._figures import family_z

    pub = {"s": Published("s", "a share", 28, "%", 1, "calibrated", target="p")}
    record = {"n_seeds": 100, "figures": {"s": {"sd": 2.86}}}
    t = comparison_table(pub, {"s": Measured(28.0)}, validation=record)
    factor = math.sqrt(99 / chi2.ppf(0.05, 99))
    assert factor == pytest.approx(1.1335, abs=1e-4)
    assert t["tol_sampling"][0] == pytest.approx(family_z(1) * 2.86 * factor)
    from recurct.studies._figures import sd_upper

    assert sd_upper(2.86, 100) == pytest.approx(2.86 * factor)
    # the bound covers the true SD on 95% of estimates from 100 normal draws
    rng = np.random.default_rng(11)
    sds = rng.normal(size=(20_000, 100)).std(axis=1, ddof=1)
    assert np.mean(sds * factor >= 1.0) == pytest.approx(0.95, abs=0.006)


# ----------------------------------------------------------------- 7. restated survey rows


def test_survey_numbers_copied_from_the_table_are_restated_not_agreement() -> None:
    restated = {"n_sent", "n_questions", "n_mandatory", "n_responses", "n_countries",
                "q4_yes", "q4_no", "q4_other", "q5_dms_yes", "q5_dms_other",
                "q5_dms_not_stated"}  # fmt: skip
    pub = eurosafe2021.PUBLISHED
    assert {k for k, f in pub.items() if f.compare == "restated"} == restated
    assert {k for k, f in pub.items() if f.compare == "aggregate"} == {
        "q4_n_answered", "q4_yes_pct", "q4_no_pct", "q4_other_pct"
    }  # fmt: skip
    rep = eurosafe2021.reproduce(seed=UNSEEN, n_patients=5_000)
    for key in restated:
        assert _row(rep.table, key)["within_tolerance"] is None, key
        assert _line(rep.to_text(), key)[5] == "restated", key
    head = rep.headline()
    assert "4 aggregate rows recomputed from the published counts agree" in head
    assert "11 published numbers restated (copies, not compared)" in head


# ----------------------------------------------------------------- 8. derived rows


def _derived_table(source: float, derived: float, *, compared: bool) -> pl.DataFrame:
    pub = {
        "g": Published("g", "patients >= 100 mSv", 6082, "patients", 1, "calibrated",
                       target="n"),
        "d": Published("d", "their share", 0.499, "%", 0.001, "calibrated", target="n",
                       target_scale=100 / 1_218_429, derived_from="g"),
        "n": Published("n", "patients", 100, "patients", None, "exact"),
    }  # fmt: skip
    meas = {"g": Measured(source), "d": Measured(derived), "n": Measured(100.0)}
    incomparable = {} if compared else {"g": "size-dependent: not compared at this size"}
    return comparison_table(pub, meas, calibration={"n": 121.64}, incomparable=incomparable)


def test_a_derived_row_whose_source_is_not_compared_counts() -> None:
    # eurosafe2021 at 20,000 patients, seed 13: q5_n_high not compared, its derived share
    # 0.65 against 0.499 +- 0.135 false, and yet "ok" and "... agree by construction"
    rep = Reproduction("x", "src", _derived_table(130, 0.65, compared=False), "synthetic")
    assert _row(rep.table, "d")["counted"] and not rep.ok
    assert rep.failed["figure"].to_list() == ["d"]
    assert rep.headline() == (
        "x: 0 of 1 independent figures within tolerance; 1 design row agrees by construction"
    )
    assert _line(rep.to_text(), "d")[1] == "derived, counted"


def test_a_failing_derived_row_is_never_said_to_agree_by_construction() -> None:
    # rehani2020 seeds 2105 and 2163 printed "8 of 9 design/derived rows agree by construction"
    rep = Reproduction("x", "src", _derived_table(6082, 0.65, compared=True), "synthetic")
    head = rep.headline()
    assert rep.ok  # derived from a compared row: shown, not counted
    assert "derived rows (implied by a compared row, not counted): 0 of 1 within tolerance" in head
    assert "1 design row agrees by construction" in head
    assert not re.search(r"\d+ of \d+ [^;]*by construction", head)
    assert "outside tolerance: d" in rep.summary()


# ----------------------------------------------------------------- extremes' coverage


def test_the_extremes_range_coverage_is_stated_as_it_is() -> None:
    from recurct.studies._figures import extreme_coverage
    from recurct.studies._reproduction import extremes_note
    from recurct.studies.validate import central_range

    assert extreme_coverage(100) == pytest.approx(95 / 101)
    # a new draw in the central range of 100 earlier ones: 95/101, not 95% (simulated)
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(20_000, 101))
    inside = [lo <= d[100] <= hi for d in draws for lo, hi in [central_range(d[:100])]]
    assert np.mean(inside) == pytest.approx(95 / 101, abs=0.005)
    note = extremes_note(100)
    assert "3rd smallest to the 3rd largest of 100 seeds' values" in note
    assert "6/101" in note and "5% of the seeds" not in note
