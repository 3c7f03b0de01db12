"""Review of the engine (session 18): write failures of polars named, other errors let
through; out-of-core errors naming the function called; date-time text as its day;
UInt64 ids checked from the footers; one clash rule in trailing_dose; rows_text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import _outdir
from recurct.cohort import Cohort
from recurct.errors import DataError, IncompleteOutputError, ParameterError
from recurct.outofcore import cumulative_dose_chunked, write_patients
from recurct.synthetic import write_cohort

FULL = (
    "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
)


def _exams(n: int = 600, patients: int = 80, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "patient_id": rng.integers(0, patients, n),
            "exam_date": pl.Series(rng.integers(10000, 18000, n).astype("int32")).cast(pl.Date),
            "effective_dose_msv": rng.random(n) * 10,
        }
    )


# ------------------------------------------------------------------ 1. write failures
@pytest.mark.parametrize("buckets", [1, 3])
def test_write_patients_names_a_polars_write_failure(tmp_path: Path, monkeypatch, buckets) -> None:
    def full(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        raise pl.exceptions.ComputeError(FULL)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    out = tmp_path / "new" / "out"
    with pytest.raises(IncompleteOutputError) as info:
        write_patients(_exams().lazy(), out, buckets=buckets)
    text = str(info.value)
    assert text.startswith("write_patients: cannot write the output folder")
    assert "part-00000.parquet" in text and "No space left on device" in text
    assert not (tmp_path / "new").exists()


def test_write_cohort_names_itself(tmp_path: Path, monkeypatch) -> None:
    def full(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
        raise pl.exceptions.ComputeError(FULL)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    with pytest.raises(IncompleteOutputError, match=r"^write_cohort: cannot write .*No space"):
        write_cohort("small", tmp_path / "c", n_patients=30)


def test_an_input_error_inside_the_block_is_not_a_write_failure(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError) as info,
        _outdir.output_folder(tmp_path / "o", kind="x"),
    ):
        open(tmp_path / "missing-input.csv")  # noqa: SIM115
    assert not isinstance(info.value, IncompleteOutputError)
    assert not (tmp_path / "o").exists()
    with pytest.raises(FileNotFoundError) as info, _outdir.atomic_file(tmp_path / "t.csv"):
        open(tmp_path / "missing-input.csv")  # noqa: SIM115
    assert not isinstance(info.value, IncompleteOutputError)
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_write_error_under_the_temporary_folder_is_named(tmp_path: Path) -> None:
    with (
        pytest.raises(IncompleteOutputError, match=r"^f: cannot write the output folder .*o "),
        _outdir.output_folder(tmp_path / "o", kind="x", fn="f") as out,
    ):
        open(out.path / "no" / "such.csv", "w")  # noqa: SIM115


# ------------------------------------------------------------------ 2. function named
@pytest.mark.parametrize("fn", ["chunked", "cumulative_dose"])
@pytest.mark.parametrize("buckets", [1, 3])
def test_out_of_core_errors_name_the_function_called(fn: str, buckets: int) -> None:
    call = (
        (lambda lf, **kw: cumulative_dose_chunked(lf, buckets=buckets, **kw))
        if fn == "chunked"
        else (lambda lf, **kw: recurct.cumulative_dose(lf, **kw))
    )
    name = "cumulative_dose_chunked" if fn == "chunked" else "cumulative_dose"
    ex = _exams()
    facility = ex.with_columns(facility=pl.lit([1]))
    with pytest.raises(DataError, match=rf"^{name}: column 'facility' has dtype List"):
        call(facility.lazy())
    text_dates = ex.with_columns(pl.col("exam_date").cast(pl.String))
    with pytest.raises(ParameterError, match=rf"^{name}: column 'exam_date' must be a Date"):
        call(text_dates.lazy())
    if fn == "chunked":
        with pytest.raises(ParameterError, match=rf"^{name}: "):
            cumulative_dose_chunked(ex.lazy(), thresholds=[-1], buckets=buckets)


# ------------------------------------------------------------------ 3. date-time text
def test_min_followup_reads_date_time_text_as_its_day() -> None:
    ex = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 3, 1), dt.date(2020, 5, 1)],
            "effective_dose_msv": [1.0, 1.0, 1.0],
        }
    )
    c = Cohort(ex)
    for end in ("2020-06-01 12:00", "2020-06-01T12:00", dt.datetime(2020, 6, 1, 12)):
        got = c.min_followup(days=60, end=end)
        want = c.min_followup(days=60, end="2020-06-01")
        assert got.exams.equals(want.exams)
    with pytest.raises(ParameterError, match=r"not a date|ISO date"):
        c.min_followup(days=60, end="2020-06-01 25:00")
    assert recurct._dates.as_date("2020-06-01 23:30", "x") == dt.date(2020, 6, 1)


# ------------------------------------------------------------------ 4. UInt64 ids
def test_uint64_ids_in_range_read_no_ids(tmp_path: Path, monkeypatch) -> None:
    from recurct import outofcore

    folder = tmp_path / "ex"
    folder.mkdir()
    ex = _exams()
    ex.slice(0, 300).write_parquet(folder / "a.parquet")
    ex.slice(300).with_columns(pl.col("patient_id").cast(pl.UInt64)).write_parquet(
        folder / "b.parquet"
    )
    read: list[object] = []
    real = pl.scan_parquet
    monkeypatch.setattr(
        outofcore.pl, "scan_parquet", lambda *a, **k: (read.append(a), real(*a, **k))[1]
    )
    lf = outofcore._int64_ids(
        str(folder), real(str(folder / "*.parquet")),
        [str(folder / "a.parquet"), str(folder / "b.parquet")],
        [pl.read_parquet_schema(folder / f) for f in ("a.parquet", "b.parquet")],
    )  # fmt: skip
    assert read == [] and lf.collect_schema()["patient_id"] == pl.Int64


# ------------------------------------------------------------------ 6. clash rule
@pytest.mark.parametrize("col", ["exam_index", "running_ced_msv", "trailing_ced_90"])
def test_trailing_dose_clashes_are_one_error(col: str) -> None:
    ex = _exams(10, 3).with_columns(pl.lit(1).alias(col))
    with pytest.raises(ParameterError, match=rf"^trailing_dose: exam column\(s\) \['{col}'\]"):
        recurct.trailing_dose(ex, thresholds=[100], window_days=[90])


# ------------------------------------------------------------------ 7. rows text, CLI
def test_lagged_dose_rows_use_rows_text() -> None:
    from recurct.timevarying import _rows

    assert _rows(pl.Series([True] * 12)) == "rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"


def test_missing_path_names_the_function() -> None:
    with pytest.raises(FileNotFoundError, match=r"^cumulative_dose_chunked: .*no such file"):
        cumulative_dose_chunked("no/such/folder")
