"""Out of core reads a Parquet folder of mixed kinds of value as read_exams reads it, and
cumulative_dose sets ages outside 0-130 years null as it does unreadable ones.

1. A column holding different kinds of value in different files (a ``Boolean`` or date
   ``age_years`` among numbers) is read as text in every file, each value as written, as
   :func:`recurct.read_exams` reads it (so ``True`` is no age, not 1 year), and text of
   differing dtypes (``Enum`` categories in another order) is read as text instead of being
   refused. The patients table of ``cumulative_dose(folder)`` is that of ``cumulative_dose``
   on ``read_exams(folder)``'s exams, with 1 to 3 buckets.
2. An age outside 0-:data:`recurct._checks.MAX_AGE_YEARS` (999, -5, NaN) is set null in
   ``age_first_exam`` and ``age_reached_T`` with the :class:`UnmappedValuesWarning` counting
   the unreadable ages, and the exam keeps its dose, in memory and out of core.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_ooc_schemas import _exams  # the same small exam table

import recurct
from recurct._checks import MAX_AGE_YEARS
from recurct.errors import DataError, UnmappedValuesWarning
from recurct.outofcore import cumulative_dose_chunked, scan_exams, write_patients


def _folder(path: Path, frames: list[pl.DataFrame]) -> Path:
    path.mkdir()
    for k, frame in enumerate(frames):
        frame.write_parquet(path / f"part-{k}.parquet")
    return path


def _recorded(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w.message for w in caught]


def _ages_warned(caught: list) -> list[int]:
    """The counts of the unreadable-age warnings among ``caught``."""
    return [w.count for w in caught if isinstance(w, UnmappedValuesWarning) and "age" in str(w)]


_AGE = "age_years"

#: each case: the first and the second of three files (the third is plain), and whether
#: read_exams(strict=True) accepts the folder
CASES = {
    "Boolean age in one file": (
        pl.lit(True).alias(_AGE),
        pl.lit(40.0).alias(_AGE),
        False,
    ),
    "Date age in one file": (
        pl.lit(dt.date(1970, 2, 1)).alias(_AGE),
        pl.lit(40.0).alias(_AGE),
        False,
    ),
    "Enum categories in another order": (
        pl.lit("F").cast(pl.Enum(["F", "M"])).alias("sex"),
        pl.lit("M").cast(pl.Enum(["M", "F"])).alias("sex"),
        True,
    ),
    "Int32 and Float64 ages (unchanged)": (
        pl.lit(30, dtype=pl.Int32).alias(_AGE),
        pl.lit(40.5).alias(_AGE),
        True,
    ),
    "Int32 and Float64 doses (unchanged)": (
        pl.col("effective_dose_msv").round().cast(pl.Int32),
        None,
        True,
    ),
}


def _case(name: str, n: int = 120) -> list[pl.DataFrame]:
    first, second, _ = CASES[name]
    frames = [_exams(n, k * n) for k in range(3)]
    frames[0] = frames[0].with_columns(first)
    frames[1] = frames[1].with_columns(second) if second is not None else frames[1]
    return frames


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("buckets", [1, 2, 3])
def test_a_folder_of_mixed_kinds_gives_the_table_of_read_exams(tmp_path, name, buckets):
    folder = _folder(tmp_path / "exams", _case(name))
    kwargs = {"thresholds": [20, 50], "window_days": [365]}
    strict = CASES[name][2]
    read, _ = _recorded(lambda: recurct.read_exams(folder, strict=strict).exams)
    want, warned = _recorded(lambda: recurct.cumulative_dose(read, **kwargs))
    got, seen = _recorded(lambda: cumulative_dose_chunked(folder, buckets=buckets, **kwargs))
    assert_frame_equal(got, want, check_dtypes=False)
    # read_exams(strict=False) set the first file's 120 ages null; cumulative_dose does
    assert _ages_warned(seen) == ([] if strict else [120]) and _ages_warned(warned) == []
    if buckets == 1:  # the top-level entry point
        top, _ = _recorded(lambda: recurct.cumulative_dose(folder, **kwargs))
        assert_frame_equal(top, got)


@pytest.mark.parametrize("value", [True, dt.date(1970, 2, 1)])
def test_a_boolean_or_date_age_among_numbers_is_no_age(tmp_path, value):
    # before: True read as 1 year, 1970-02-01 as 31 (days since 1970)
    frames = [_exams(60, k * 60) for k in range(3)]
    frames[0] = frames[0].with_columns(pl.lit(value).alias(_AGE))
    frames[1] = frames[1].with_columns(pl.lit(40.0).alias(_AGE))
    folder = _folder(tmp_path / "exams", frames)
    assert scan_exams(folder).collect_schema()[_AGE] == pl.String
    got, seen = _recorded(lambda: cumulative_dose_chunked(folder, buckets=2))
    files = pl.concat(
        [f.select(pl.exclude(_AGE)).with_columns(file=k) for k, f in enumerate(frames)]
    )
    first = (
        files.sort("patient_id", "exam_date", maintain_order=True)
        .group_by("patient_id", maintain_order=True)
        .first()
    )
    want = [40.0 if f == 1 else None for f in first["file"]]  # file 0's ages are none
    assert 0 in first["file"].to_list() and got["age_first_exam"].to_list() == want
    assert _ages_warned(seen) == [60]
    assert_frame_equal(
        got.select(pl.col("ced_msv").sum()),
        pl.concat(frames, how="diagonal_relaxed").select(
            pl.col("effective_dose_msv").sum().alias("ced_msv")
        ),
    )


def test_enum_categories_in_another_order_are_read_as_text(tmp_path):
    # before: a DataError ("the dtypes have no common type")
    folder = _folder(tmp_path / "exams", _case("Enum categories in another order"))
    assert scan_exams(folder).collect_schema()["sex"] == pl.String
    out = write_patients(folder, tmp_path / "patients", buckets=3)
    got = pl.scan_parquet(str(out / "*.parquet")).collect().sort("patient_id")
    assert set(got["sex"].to_list()) == {"F", "M"}
    want = recurct.cumulative_dose(recurct.read_exams(folder).exams)
    assert_frame_equal(got, want, check_dtypes=False)


@pytest.mark.parametrize("as_glob", [False, True])
def test_a_boolean_dose_in_one_file_is_refused_not_read_as_one(tmp_path, as_glob):
    frames = [_exams(40, k * 40) for k in range(2)]
    frames[0] = frames[0].with_columns(effective_dose_msv=pl.lit(True))
    folder = _folder(tmp_path / "exams", frames)
    source = str(folder / "*.parquet") if as_glob else folder
    with pytest.raises(Exception, match="not a number"):  # in memory: each value judged
        recurct.read_exams(folder)
    for run in (lambda: cumulative_dose_chunked(source, buckets=2), lambda: scan_exams(source)):
        with pytest.raises(DataError) as err:
            run()
        text = str(err.value)
        assert text.startswith(f"{source}: column 'effective_dose_msv' is Boolean in ")
        assert "part-0.parquet" in text and "part-1.parquet" in text
        assert "Boolean in some files, numbers in others" in text


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),  # exams in the file
            st.sampled_from(["none", "float", "int", "bool", "date", "dicom", "text", "999"]),
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 3),
)
def test_any_mix_of_age_kinds_gives_the_table_of_read_exams(tmp_path_factory, files, k):
    ages = {
        "float": pl.lit(33.5),
        "int": pl.lit(20, dtype=pl.Int16),
        "bool": pl.lit(False),
        "date": pl.lit(dt.date(2000, 1, 1)),
        "dicom": pl.lit("067Y"),
        "text": pl.lit("x"),
        "999": pl.lit(999.0),
    }
    folder = tmp_path_factory.mktemp("exams")
    start = 0
    for j, (n, kind) in enumerate(files):
        frame = _exams(n, start)
        if kind != "none":
            frame = frame.with_columns(ages[kind].alias(_AGE))
        frame.write_parquet(folder / f"part-{j}.parquet")
        start += n
    one_kind = len({kind for _, kind in files if kind != "none"}) <= 1
    if one_kind and any(kind in ("bool", "date") for _, kind in files):
        return  # one dtype in every file: a Boolean or date age is refused (test_cumulative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = recurct.cumulative_dose(recurct.read_exams(folder, strict=False).exams)
        got = cumulative_dose_chunked(folder, buckets=k)
    assert_frame_equal(got, want, check_dtypes=False)


# 2: ages outside 0-130 years


def _aged(ages: list) -> pl.DataFrame:
    n = len(ages)
    return pl.DataFrame(
        {
            "patient_id": list(range(n)),
            "exam_date": [dt.date(2020, 1, 1)] * n,
            "effective_dose_msv": [60.0 + i for i in range(n)],
            _AGE: ages,
        },
        strict=False,
    )


@pytest.mark.parametrize("kind", ["polars", "pandas"])
def test_an_age_outside_the_range_is_null_warned_and_counted(kind):
    df = _aged([999.0, -5.0, 40.0, 0.0, MAX_AGE_YEARS, float("nan")])
    exams = df.to_pandas() if kind == "pandas" else df
    got, seen = _recorded(lambda: recurct.cumulative_dose(exams, thresholds=[50]))
    got = pl.from_pandas(got) if kind == "pandas" else got
    want = [None, None, 40.0, 0.0, MAX_AGE_YEARS, None]
    assert got["age_first_exam"].to_list() == want
    assert got["age_reached_50"].to_list() == want
    assert got["ced_msv"].to_list() == df["effective_dose_msv"].to_list()  # doses kept
    assert _ages_warned(seen) == [2]  # NaN is a missing age (read as null), not counted
    assert "'999.0', '-5.0'" in str(seen[0]) and "outside 0-130 years" in str(seen[0])


def test_text_ages_outside_the_range_are_counted_with_unreadable_ones():
    df = _aged(["999", "150Y", "x", "067Y", " 12 ", ""])
    got, seen = _recorded(lambda: recurct.cumulative_dose(df))
    assert got["age_first_exam"].to_list() == [None, None, None, 67.0, 12.0, None]
    assert _ages_warned(seen) == [3]
    assert "'999', '150Y', 'x'" in str(seen[0])


def test_out_of_core_counts_the_ages_of_all_buckets_once(tmp_path):
    frames = [
        _exams(90, k * 90).with_columns(pl.lit(age).alias(_AGE))
        for k, age in enumerate([-1.0, 35.0, 200.0])
    ]
    folder = _folder(tmp_path / "exams", frames)
    want, warned = _recorded(lambda: recurct.cumulative_dose(pl.concat(frames)))
    for k in (1, 3):
        got, seen = _recorded(lambda k=k: cumulative_dose_chunked(folder, buckets=k))
        assert_frame_equal(got, want)
        assert _ages_warned(seen) == _ages_warned(warned) == [180]
    assert set(want["age_first_exam"].drop_nulls().to_list()) <= {35.0}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=64),
            st.floats(-1.0, MAX_AGE_YEARS + 1.0),
            st.none(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_age_first_exam_is_the_first_age_when_it_is_one(ages):
    df = _aged(ages).with_columns(pl.col(_AGE).cast(pl.Float64))
    got, seen = _recorded(lambda: recurct.cumulative_dose(df, thresholds=()))
    ok = [a is not None and 0.0 <= a <= MAX_AGE_YEARS for a in ages]  # NaN compares False
    assert got["age_first_exam"].to_list() == [a if g else None for a, g in zip(ages, ok)]
    bad = sum(a is not None and not math.isnan(a) and not g for a, g in zip(ages, ok))
    assert _ages_warned(seen) == ([bad] if bad else [])
