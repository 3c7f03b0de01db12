"""The names recurct 0.2 renamed or removed in the command line, synthetic, studies, alerts and
timevarying refuse the old spelling with a TypeError naming the new one (recurct._compat)."""

from __future__ import annotations

import importlib.util

import polars as pl
import pytest

import recurct
from recurct.studies import Measured
from recurct.synthetic import generate


@pytest.fixture(scope="module")
def exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1, 2],
            "exam_date": pl.Series(["2020-01-01", "2020-02-01", "2020-03-01"]).str.to_date(),
            "effective_dose_msv": [60.0, 50.0, 10.0],
        }
    )


def test_generate_out_names_write_cohort(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"'out' was removed .*write_cohort\(profile, out"):
        generate("small", out=tmp_path / "c")
    with pytest.raises(TypeError, match=r"'overwrite' was removed .*write_cohort"):
        generate("small", overwrite=True)
    with pytest.raises(TypeError):  # a positional folder no longer reaches a parameter
        generate("small", None, 0, tmp_path / "c")  # type: ignore[misc]
    assert not (tmp_path / "c").exists()


def test_measured_ci_bounds_are_value_lo_hi() -> None:
    with pytest.raises(TypeError, match="'ci_lo' was renamed to 'value_lo'"):
        Measured(1.0, ci_lo=0.5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'ci_hi' was renamed to 'value_hi'"):
        Measured(1.0, ci_hi=1.5)  # type: ignore[call-arg]
    m = Measured(1.0, value_lo=0.5, value_hi=1.5)
    assert (m.value_lo, m.value_hi) == (0.5, 1.5)


def test_trailing_dose_windows_is_window_days(exams: pl.DataFrame) -> None:
    with pytest.raises(TypeError, match="'windows' was renamed to 'window_days'"):
        recurct.trailing_dose(exams, windows=[90])
    res = recurct.trailing_dose(exams, 100, window_days=90)
    assert res.patients["date_reached_100_in_90"].to_list()[0] is not None


def test_lagged_dose_column_parameters(exams: pl.DataFrame) -> None:
    for old in ("entry", "exit", "event"):
        with pytest.raises(TypeError, match=f"'{old}' was renamed to '{old}_column'"):
            recurct.lagged_dose(exams, exams, **{old: "x"})


def test_bench_left_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    """``recurct.bench`` and ``recurct bench`` are gone: the runners are benchmarks/peers.py."""
    from recurct.cli import HANDLERS, main

    assert importlib.util.find_spec("recurct.bench") is None
    assert "bench" not in HANDLERS
    assert main(["bench", "--sizes", "1e6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recurct: bench: removed in recurct 0.2")
    assert "benchmarks/bench_cumulative.py" in err


def test_calibrate_write_is_out() -> None:
    from recurct.synthetic import calibrate

    with pytest.raises(TypeError, match=r"'write' was removed .*pass out="):
        calibrate("small", {"n_exams": {"value": 1e4}}, {"frailty_cv": (0.1, 1.0)}, write=False)
