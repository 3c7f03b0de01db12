"""Honest wording of a study reproduced on many seeds (``recurct reproduce STUDY --seeds``):
the share of seeds expected in an extreme's stored range, seeds of the validation record,
what the seeds' own range is, and the error on a bad seed."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pytest

from recurct.errors import ParameterError
from recurct.studies import rehani2020, sodickson2009
from recurct.studies._figures import validation_record
from recurct.studies._reproduction import extremes_note
from recurct.studies.validate import SeedRuns, central_range, summarise

EXTREMES = ("max_exams", "ced_max")


def _runs(seeds: Sequence[int], figures: Sequence[str] = EXTREMES) -> pl.DataFrame:
    """Made-up values for ``figures`` on ``seeds`` (no cohort is generated)."""
    return pl.DataFrame(
        {
            "seed": [s for s in seeds for _ in figures],
            "figure": list(figures) * len(seeds),
            "reproduced": [130.0 + i for i in range(len(seeds)) for _ in figures],
            "within_tolerance": [True] * (len(seeds) * len(figures)),
        }
    )


def _flat(text: str) -> str:
    """``text`` on one line (the legends are wrapped)."""
    return " ".join(text.split())


def _seed_runs(study: str, seeds: Sequence[int], figures: Sequence[str] = EXTREMES) -> SeedRuns:
    runs = _runs(seeds, figures)
    return SeedRuns(study, list(seeds), summarise(study, runs), runs)


# ------------------------------------------------- 1. the legend's rate is the study's own
def test_seed_legend_states_the_rate_the_study_measured() -> None:
    summary = _seed_runs("sodickson2009", range(2000, 2020)).summary()
    assert "about 94%" not in summary
    flat = _flat(summary)
    assert "max_exams 25 (12.5%)" in flat and "ced_max 27 (13.5%)" in flat
    # the words of one run's legend (extremes_note), not a wording of its own
    n_val = validation_record("sodickson2009")["n_seeds"]
    note = extremes_note(n_val, sodickson2009.EXTREMES_ON_NEW_SEEDS)
    tail = note.removeprefix(extremes_note(None)[:-1])
    assert tail.startswith("\n(the 3rd smallest") and tail in summary


def test_seed_legend_without_a_measured_rate_states_that_of_the_validation_seeds() -> None:
    n_val = validation_record("rehani2020")["n_seeds"]
    summary = _seed_runs("rehani2020", range(2000, 2020), ["ced_max"]).summary()
    assert f"with probability 6/{n_val + 1} (about 6% of seeds)" in _flat(summary)
    assert "about 94%" not in summary


def test_a_stale_measured_rate_is_not_stated(monkeypatch) -> None:
    stale = dict(sodickson2009.EXTREMES_ON_NEW_SEEDS, ranges={"ced_max": (1.0, 2.0)})
    monkeypatch.setattr(sodickson2009, "EXTREMES_ON_NEW_SEEDS", stale)
    summary = _flat(_seed_runs("sodickson2009", range(2000, 2020)).summary())
    assert "(12.5%)" not in summary and "with probability 6/101" in summary


def test_the_cli_seed_legend_states_the_measured_rate(monkeypatch, tmp_path, capsys) -> None:
    import recurct.studies.validate as validate
    from recurct.cli import main

    monkeypatch.setattr(validate, "run_seeds", lambda study, seeds, **kw: _runs(seeds))
    main(["reproduce", "sodickson2009", "--seeds", "2000-2019", "--out", str(tmp_path / "o")])
    out = _flat(capsys.readouterr().out)
    assert "about 94%" not in out and "ced_max 27 (13.5%)" in out
    assert "ced_max 27 (13.5%)" in _flat((tmp_path / "o" / "seeds.md").read_text())


# ------------------------------------------------------------ 2. validation seeds named
def test_a_run_on_validation_seeds_says_so() -> None:
    head = _seed_runs("sodickson2009", range(1000, 1020)).headline()
    assert (
        "validation seeds: all 20 seeds were seeds of the profile's validation record (seeds "
        "1000-1099): the stored ranges and SDs were taken over these seeds; " in head
    )
    head = _seed_runs("sodickson2009", range(1090, 1110)).headline()
    assert "validation seeds: 10 of 20 seeds (1090-1099) were seeds of the profile's" in head
    one = _seed_runs("rehani2020", [1000], ["ced_max"]).headline()
    assert "validation seeds: seed 1000 was one of the seeds of the profile's validation" in one
    assert "validation seeds" not in _seed_runs("sodickson2009", range(2000, 2020)).headline()


def test_validation_seeds_of_a_record() -> None:
    from recurct.studies._figures import validation_seeds

    assert validation_seeds({"seeds": "1000-1099"}) == tuple(range(1000, 1100))
    assert validation_seeds({"seeds": "1,5,9-11"}) == (1, 5, 9, 10, 11)
    assert validation_seeds({"seeds": [3, 4]}) == (3, 4)
    assert validation_seeds({}) == ()
    assert _seed_runs("sodickson2009", [2000]).validation_seeds == tuple(range(1000, 1100))


# ------------------------------------------------------------ 3. the seed's error names reproduce
@pytest.mark.parametrize("seed", [-1, 1.5, True, None])
def test_a_bad_seed_names_the_function_called(seed: object) -> None:
    with pytest.raises(ParameterError, match=r"^rehani2020\.reproduce: seed must be an integer"):
        rehani2020.reproduce(seed=seed, n_patients=100)  # type: ignore[arg-type]


# ------------------------------------------------------ 4. min–max is called min–max
def test_central_range_is_min_max_up_to_40_values_and_says_so() -> None:
    assert central_range(list(range(40))) == (0.0, 39.0)
    assert central_range(list(range(41))) == (1.0, 39.0)
    assert "with 40 seeds or fewer their smallest" in (summarise.__doc__ or "")
    assert "with 40 values or fewer" in (central_range.__doc__ or "")


@pytest.mark.parametrize("n", [20, 40])
def test_a_range_of_40_seeds_or_fewer_is_labelled_min_max(n: int) -> None:
    sr = _seed_runs("sodickson2009", range(2000, 2000 + n))
    assert sr.to_text().splitlines()[0].split()[6] == "min–max"
    assert "| min–max |" in sr.to_markdown().splitlines()[0]
    assert "seeds' min–max" in sr.headline() and "central 95%" not in sr.headline()
    summary = _flat(sr.summary())
    assert f"probability {n - 1}/{n + 1}, about {100 * (n - 1) / (n + 1):.0f}%" in summary
    assert "seeds' min–max range (from 20 seeds on)" in summary


def test_a_range_of_41_seeds_is_a_central_95_range() -> None:
    sr = _seed_runs("sodickson2009", range(2000, 2041))
    assert sr.to_text().splitlines()[0].split()[6] == "central"  # "central 95%"
    assert "seeds' central 95%" in sr.headline()
    assert "min–max:" not in sr.summary()
