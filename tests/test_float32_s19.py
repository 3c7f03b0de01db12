"""A float32 (or float16) dose or age is read as written, by its shortest decimal, in every
reader of the exam table's doses and ages, not only in cumulative_dose's engine.

float32 doses 12.4 and 87.6 add up to 100.0 as written, but to 99.99999809265137 widened
exactly (12.399999618530273 + 87.5999984741211): every path must reach 100 mSv, or none.
A float32 age 12.3 is 12.3, not 12.300000190734863. Expected values are worked out by hand
in the comments, never by recurct.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import dose, stats
from recurct.alerts import trailing_dose
from recurct.errors import UnmappedValuesWarning

D = dt.date
F32 = pl.Float32

# the premise: as written the doses reach 100 mSv, widened they do not
assert 12.4 + 87.6 == 100.0
assert float(np.float32(12.4)) + float(np.float32(87.6)) < 100.0


def _exams(dtype: pl.DataType = F32, **extra: object) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [1, 1],
            "exam_date": [D(2020, 1, 1), D(2020, 2, 1)],
            "effective_dose_msv": pl.Series([12.4, 87.6], dtype=dtype),
            "body_region": ["chest", "chest"],
            **extra,
        }
    )


# float16 12.4 and 87.6 (12.3984375 and 87.625 exactly) are 12.4 and 87.6 as written too
@pytest.fixture(params=[pl.Float32, pl.Float16, pl.Float64], ids=["f32", "f16", "f64"])
def dtype(request: pytest.FixtureRequest) -> pl.DataType:
    return request.param


# ------------------------------------------------------------------ 1. every path: 100 mSv
def test_cumulative_and_running_dose_reach_100(dtype: pl.DataType) -> None:
    df = _exams(dtype)
    patients = recurct.cumulative_dose(df, thresholds=100)
    assert patients["ced_msv"].item() == 100.0
    assert patients["reached_100"].item() is True
    assert recurct.running_dose(df)["running_ced_msv"].to_list()[-1] == 100.0


def test_period_dose_reaches_100(dtype: pl.DataType) -> None:
    assert recurct.period_dose(_exams(dtype), every="1y")["ced_msv"].item() == 100.0


def test_trailing_dose_reaches_100(dtype: pl.DataType) -> None:
    res = trailing_dose(_exams(dtype), thresholds=100, window_days=365)
    assert res.exams["trailing_ced_365"].to_list() == [12.4, 100.0]
    assert res.exams["reached_100_in_365"].to_list() == [False, True]
    row = res.patients.row(0, named=True)
    assert row["date_reached_100_in_365"] == D(2020, 2, 1)  # the second exam
    assert row["ced_in_window_100_in_365"] == 100.0
    assert res.alerts.height == 2  # both exams make up the window


def test_lagged_dose_reaches_100(dtype: pl.DataType) -> None:
    subjects = pl.DataFrame(
        {"patient_id": [1], "entry": [D(2019, 1, 1)], "exit": [D(2021, 1, 1)], "event": [0]}
    )
    out = recurct.lagged_dose(_exams(dtype), subjects, lags=0)
    # lag 0: rows [entry, 2020-01-01), [.., 2020-02-01), [.., exit) with CED 0, 12.4, 100
    assert out["ced_lag0"].to_list() == [0.0, 12.4, 100.0]


def test_dose_share_sums_to_100(dtype: pl.DataType) -> None:
    share = stats.dose_share(_exams(dtype))
    assert share["dose_msv"].to_list() == [100.0]
    assert share["mean_dose_msv"].to_list() == [50.0]


def test_single_exam_share_compares_the_dose_as_written() -> None:
    # 87.6 as written is below 87.6000001; polars would compare the float32 87.6 with
    # the threshold rounded to float32 (87.6 again): >=
    df = _exams()
    assert stats.single_exam_share(df, 87.6000001)["n_exams_ge"].to_list() == [0]
    assert stats.single_exam_share(df, 87.6)["n_exams_ge"].to_list() == [1]
    f64 = df.with_columns(pl.Series("effective_dose_msv", [12.4, 87.6]))
    assert stats.single_exam_share(f64, 87.6000001)["n_exams_ge"].to_list() == [0]


# ------------------------------------------------------------------ 2. ages as written
def test_float32_ages_as_written_in_cumulative_dose() -> None:
    df = _exams(pl.Float64, age_years=pl.Series([12.3, 12.4], dtype=F32))
    patients = recurct.cumulative_dose(df, thresholds=100)
    assert patients["age_first_exam"].to_list() == [12.3]  # not 12.300000190734863
    assert patients["age_reached_100"].to_list() == [12.4]


def test_float32_ages_outside_named_as_written() -> None:
    df = _exams(pl.Float64, age_years=pl.Series([-1.1, 12.3], dtype=F32))
    with pytest.warns(UnmappedValuesWarning, match=r"1 value\(s\).*\('-1.1'\)"):
        patients = recurct.cumulative_dose(df)
    assert patients["age_first_exam"].to_list() == [None]


def test_read_ages_gives_the_unread_without_a_warning() -> None:
    from recurct.cumulative import read_ages

    s = pl.Series("age_years", ["40", "067Y", "old", "", None, "200"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        age, n, values = read_ages(s)
    assert age.to_list() == [40.0, 67.0, None, None, None, None]
    assert (n, values) == (2, ["old", "200"])
    age, n, values = read_ages(pl.Series("age_years", [12.3, 130.5], dtype=F32))
    assert age.to_list() == [12.3, None] and (n, values) == (1, ["130.5"])
    age, n, values = read_ages(pl.Series("age_years", [1.5, 2.0]))
    assert age.to_list() == [1.5, 2.0] and (n, values) == (0, [])


# ------------------------------------------------------------------ 3. the DRL comparison
def _drl_csv(tmp_path: Path, age_from: str) -> Path:
    path = tmp_path / "drl_mine.csv"
    path.write_text(
        "# name: mine\n"
        f"# age_from_years: {age_from}\n"
        "exam_type,ctdivol_mgy,dlp_mgycm\n"
        "chest,12.3,450.1\n",
        encoding="utf-8",
    )
    return path


def test_drl_values_compared_as_written(tmp_path: Path) -> None:
    # float32 450.1 is 450.10000610351562 exactly: widened it is above the DRL of 450.1
    exams = pl.DataFrame(
        {
            "exam_type": ["chest", "chest"],
            "ctdivol_mgy": pl.Series([12.3, 12.4], dtype=F32),
            "dlp_mgycm": pl.Series([450.1, 450.2], dtype=F32),
        }
    )
    path = _drl_csv(tmp_path, "")
    flags = dose.flag_above_drl(exams, path)
    assert flags["above_drl_dlp"].to_list() == [False, True]
    assert flags["above_drl_ctdivol"].to_list() == [False, True]
    out = dose.compare_to_drl(exams, path, site=None)
    assert out["n_above_dlp"].to_list() == [1]
    assert out["median_dlp"].to_list() == [pytest.approx(450.15, abs=1e-12)]
    # a DRL table of float32 values: its levels as written
    levels = pl.DataFrame({"exam_type": ["chest"], "dlp_mgycm": pl.Series([450.1], dtype=F32)})
    assert dose.drl_table(levels)["dlp_mgycm"].to_list() == [450.1]


def test_drl_ages_as_written(tmp_path: Path) -> None:
    # float32 87.6 is 87.59999847412109 exactly: widened it is younger than 87.6
    exams = pl.DataFrame(
        {
            "exam_type": ["chest", "chest"],
            "dlp_mgycm": [400.0, 500.0],
            "age_years": pl.Series([87.6, 50.0], dtype=F32),
        }
    )
    with pytest.warns(recurct.errors.DroppedRowsWarning, match=r"younger than 87.6"):
        out = dose.compare_to_drl(exams, _drl_csv(tmp_path, "87.6"), site=None)
    assert out["n_exams"].to_list() == [1]
    assert out["median_dlp"].to_list() == [400.0]  # the exam aged 87.6 is compared


def test_drl_ages_read_without_warnings_or_the_out_of_core_lock(tmp_path: Path) -> None:
    """The DRL comparison reads ages with the reader, not by catching cumulative_dose's
    warning under the out-of-core lock: held by another thread, it does not wait for it."""
    from recurct import outofcore

    exams = pl.DataFrame(
        {
            "exam_type": ["chest"] * 3,
            "dlp_mgycm": [400.0, 500.0, 600.0],
            "age_years": ["40", "old", "10"],
        }
    )
    path = _drl_csv(tmp_path, "15")
    result: dict[str, object] = {}

    def compare() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result["out"] = dose.compare_to_drl(exams, path, site=None)
        result["caught"] = [w.message for w in caught]

    # the lock under which out-of-core and Dask record warnings: renamed, this test must be
    # updated (it would pass without testing anything)
    assert hasattr(outofcore, "_RECORDING"), "outofcore._RECORDING is gone: rename it here"
    lock = outofcore._RECORDING
    lock.acquire()
    try:
        worker = threading.Thread(target=compare, daemon=True)
        worker.start()
        worker.join(timeout=30)
        finished = not worker.is_alive()
    finally:
        lock.release()
    worker.join()
    assert finished, "the DRL comparison waited for the out-of-core lock"
    assert result["out"]["n_exams"].to_list() == [2]  # 40 and 'old' (no age: kept)
    caught = result["caught"]
    assert not [m for m in caught if isinstance(m, UnmappedValuesWarning)]
    (left,) = caught
    assert "kept 1 exam(s) with no age_years (1 of them with a value that is neither" in str(left)
    assert "'old'" in str(left) and "younger than 15" in str(left)


# ------------------------------------------------------------------ 4. one require, one by_list
def test_exam_table_columns_checked_as_the_exam_tables() -> None:
    """dose_share's columns are the exam table's (by_list and require with table=): a
    category named like a patients-table column is not checked as one."""
    from recurct.errors import DataError, ParameterError

    df = _exams(pl.Float64, ced_msv=["low", "high"])
    assert stats.dose_share(df, "ced_msv")["ced_msv"].to_list() == ["high", "low"]
    with pytest.raises(DataError, match=r"^dose_share: the exam table lacks column\(s\) \['x'\] "):
        stats.dose_share(df, "x")
    with pytest.raises(ParameterError, match=r"by: column\(s\) \['y'\] not in the exam table"):
        stats.dose_share(df, by="y")
    patients = recurct.cumulative_dose(df)
    with pytest.raises(ParameterError, match=r"by: column\(s\) \['sex'\] not in the patients"):
        stats.dose_bands(patients, by="sex")
    with pytest.raises(DataError, match=r"the patients table lacks .*build it with"):
        stats.dose_bands(patients.drop("ced_msv"))


def test_cohort_ages_and_period_sums_read_float32_as_written() -> None:
    """``Cohort.ages`` compares a float32 age as written (18.0 is 18, 17.99 is not) and
    ``period_dose(sums=...)`` sums float32 values as written (12.4 + 87.6 = 100)."""
    import datetime as dt

    df = pl.DataFrame(
        {
            "patient_id": [1, 2],
            "exam_date": [dt.date(2020, 1, 1)] * 2,
            "effective_dose_msv": [1.0, 2.0],
            "age_years": pl.Series([50.3, 50.29999], dtype=pl.Float32),
            "dlp_mgycm": pl.Series([12.4, 87.6], dtype=pl.Float32),
        }
    )
    kept = recurct.Cohort(df).ages(lo=50.3).patients()["patient_id"].to_list()
    assert kept == [1]  # float32 50.3 widens to 50.29999923706055 < 50.3
    each = recurct.Cohort(df).ages(lo=50.3, at="each").patients()["patient_id"].to_list()
    assert each == [1]
    one = df.with_columns(patient_id=pl.lit(1))
    sums = recurct.period_dose(one, every="1y", sums=["dlp_mgycm"])["dlp_mgycm"].to_list()
    assert sums == [100.0]
