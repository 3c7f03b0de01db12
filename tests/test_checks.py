"""recurct._checks: the one place parameters of public functions are checked."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recurct import _checks
from recurct._checks import MAX_WINDOW_DAYS, ParameterError
from recurct._frames import param_label


def test_parameter_error_is_both_value_and_type_error() -> None:
    assert issubclass(ParameterError, ValueError) and issubclass(ParameterError, TypeError)


@pytest.mark.parametrize(
    "bad", [True, np.bool_(True), "100", None, math.nan, math.inf, -1.0, 0.0, [1, 1.0]]
)
def test_thresholds_refused(bad) -> None:
    with pytest.raises(ParameterError, match="f: thresholds must be"):
        _checks.thresholds(bad if bad is not None else [None], "f")


def test_thresholds_accepted_and_float32_at_its_decimal() -> None:
    got = _checks.thresholds(np.array([0.1, 62.5], dtype=np.float32), "f")
    assert got.dtype == np.float64 and got.tolist() == [0.1, 62.5]
    assert [param_label(t) for t in got] == ["0.1", "62.5"]
    assert _checks.thresholds(None, "f").size == 0
    assert _checks.thresholds(100, "f").tolist() == [100.0]


@pytest.mark.parametrize("bad", [0, -3, 30.5, math.nan, math.inf, 1e20, True, MAX_WINDOW_DAYS + 1])
def test_windows_refused(bad) -> None:
    with pytest.raises(ParameterError, match="f: window_days must be"):
        _checks.window_days(bad, "f")


def test_windows_accepted() -> None:
    assert _checks.window_days([365, 1826.0, np.int64(30)], "f").tolist() == [365, 1826, 30]
    assert _checks.window_days(MAX_WINDOW_DAYS, "f").tolist() == [MAX_WINDOW_DAYS]
    with pytest.raises(ParameterError, match="distinct"):
        _checks.window_days([30, 30.0], "f")


def test_ages_days_bounds_names() -> None:
    assert _checks.age(None, "f", "lo") is None
    assert _checks.age(np.float32(17.5), "f", "lo") == 17.5
    for bad in (math.nan, -0.1, 130.5, True):
        with pytest.raises(ParameterError, match="f: lo must be"):
            _checks.age(bad, "f", "lo")
    assert _checks.days(30.0, "f", "days") == 30
    assert _checks.optional_bound(None, "f", "b") is None
    with pytest.raises(ParameterError, match="b must be a finite number in \\(0, inf\\)"):
        _checks.optional_bound(0, "f", "b")
    assert _checks.names(["A", 7], "f", "facilities") == ["A", "7"]
    for bad in ([None], [" "], [1.5], [True], []):
        with pytest.raises(ParameterError, match="facilities"):
            _checks.names(bad, "f", "facilities")


def test_exams_path(tmp_path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(ParameterError, match=r"x\.csv is not a Parquet file"):
        _checks.exams_path(csv, "cumulative_dose")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _checks.exams_path(tmp_path / "nowhere.parquet", "cumulative_dose")
    with pytest.raises(FileNotFoundError, match=r"\*\.parquet: no file matches"):
        _checks.exams_path(tmp_path / "*.parquet", "cumulative_dose")  # polars: a raw error
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "ok.parquet")
    _checks.exams_path(tmp_path / "*.parquet", "cumulative_dose")
    _checks.exams_path(tmp_path, "cumulative_dose")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.parquet").write_bytes(b"PAR1 not parquet PAR1")
    for given in (tmp_path, tmp_path / "**" / "*.parquet", tmp_path / "sub" / "bad.parquet"):
        with pytest.raises(ValueError, match=r"bad\.parquet: not a readable Parquet table"):
            _checks.exams_path(given, "cumulative_dose")


def test_dose_sum() -> None:
    _checks.dose_sum(np.array([1e307, 1e307]), "f")
    with pytest.raises(ValueError, match=r"f: .*sums to more than .*row 1 \(1e\+308\)"):
        _checks.dose_sum(np.array([1.0, 1e308, 1e308]), "f")
