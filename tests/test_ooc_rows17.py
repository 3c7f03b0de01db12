"""Out of core, a bad exam of a folder (or glob) of Parquet files is named with its file and
its own row there, as ``recurct.read_exams(folder)`` names it: ``8 (row 3 of b.parquet)``.

The files are numbered in the order the out-of-core scan reads them (their paths sorted as
text, which polars uses, not as ``pathlib`` sorts them); their rows are counted from their
footers only once an error is found, so a clean folder pays nothing. A single file and a
LazyFrame are named as before (input rows only).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recurct
from recurct import outofcore
from recurct.errors import DataError
from recurct.outofcore import cumulative_dose_chunked, write_patients

_ORDER = "0-based rows of the input, the files' rows one after another in the order read: "


def _named(message: str) -> list[tuple[int, str, int]]:
    """(input row, file, its row there) of each row the message names, in order."""
    rows = re.search(r"input rows? ([\d, ]+)", message)
    places = re.findall(r"row (\d+) of ([^,)]+)", message.split(_ORDER, 1)[1])
    assert rows is not None
    listed = [int(r) for r in rows.group(1).strip().split(", ")]
    assert len(listed) == len(places)
    return [(r, f, int(at)) for r, (at, f) in zip(listed, places, strict=True)]


def _exams(n: int, start: int, bad: tuple[int, ...] = ()) -> pl.DataFrame:
    """``n`` exams of patients P0-P6 (not sorted by id), null doses at rows ``bad``."""
    return pl.DataFrame(
        {
            "patient_id": [f"P{(start + i) % 7}" for i in range(n)],
            "exam_date": [dt.date(2020, 1, 1) + dt.timedelta(days=start + i) for i in range(n)],
            "effective_dose_msv": [None if i in bad else 1.0 for i in range(n)],
        },
        schema_overrides={"effective_dose_msv": pl.Float64},
    )


def _folder(root: Path) -> Path:
    """Three monthly files; null doses at row 3 of the 2nd and row 1 of the 3rd."""
    folder = root / "exams"
    folder.mkdir()
    _exams(5, 0).write_parquet(folder / "2020-03.parquet")
    _exams(6, 5, (3,)).write_parquet(folder / "2020-04.parquet")
    _exams(4, 11, (1,)).write_parquet(folder / "2020-05.parquet")
    return folder


_BOTH = f"input rows 8, 12 ({_ORDER}row 3 of 2020-04.parquet, row 1 of 2020-05.parquet)"


@pytest.mark.parametrize("buckets", [1, 2])
def test_chunked_names_files_and_rows(tmp_path: Path, buckets: int) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(DataError) as info:
        cumulative_dose_chunked(folder, buckets=buckets)
    text = str(info.value)
    assert _BOTH in text
    assert "column 'effective_dose_msv'" in text


def test_write_patients_names_files_and_rows(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=re.escape(_BOTH)):
        write_patients(folder, out, buckets=2)
    assert not out.exists()


def test_cumulative_dose_of_a_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(DataError, match=re.escape(_BOTH)):
        recurct.cumulative_dose(str(folder))
    with pytest.raises(DataError, match=re.escape(_BOTH)):  # a glob, named below its folder
        cumulative_dose_chunked(str(folder / "*.parquet"), buckets=2)


def test_sorted_folder_read_in_runs(tmp_path: Path) -> None:
    """A folder sorted by id is read in runs of row groups (no split): named the same way."""
    folder = tmp_path / "sorted"
    folder.mkdir()
    for j, bad in enumerate([(), (2,), (0,)]):
        exams = _exams(4, 0, bad).with_columns(
            pl.Series("patient_id", [f"P{j}{i}" for i in range(4)])
        )
        exams.write_parquet(folder / f"part{j}.parquet")
    assert outofcore._clustered_loaders(folder, outofcore.scan_exams(folder), 2, 12)
    with pytest.raises(DataError) as info:
        cumulative_dose_chunked(folder, buckets=2)
    assert _named(str(info.value)) == [(6, "part1.parquet", 2), (8, "part2.parquet", 0)]


def test_single_file_and_lazyframe_unchanged(tmp_path: Path) -> None:
    """No file to name: the input rows only, as before."""
    file = tmp_path / "one.parquet"
    pl.concat([_exams(5, 0), _exams(6, 5, (3,)), _exams(4, 11, (1,))]).write_parquet(file)
    for source in (file, pl.scan_parquet(file)):
        with pytest.raises(DataError) as info:
            cumulative_dose_chunked(source, buckets=2)
        assert "input rows 8, 12 (0-based rows of the input);" in str(info.value)
    # one bucket: the in-memory error, as it was
    with pytest.raises(DataError, match=r"is null in rows 8, 12 \(0-based\)"):
        cumulative_dose_chunked(file, buckets=1)


def test_ids_and_more_than_ten(tmp_path: Path) -> None:
    """Null ids (checked before doses) and the first ten of many, each with its file."""
    folder = tmp_path / "ids"
    folder.mkdir()
    _exams(3, 0).write_parquet(folder / "a.parquet")
    b = _exams(24, 3).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 1)
        .then(None)
        .otherwise("patient_id")
        .alias("patient_id")
    )
    b.write_parquet(folder / "b.parquet")
    _exams(2, 27, (0,)).write_parquet(folder / "c.parquet")  # a later, lesser problem
    for buckets in (1, 3):
        with pytest.raises(DataError) as info:
            cumulative_dose_chunked(folder, buckets=buckets)
        text = str(info.value)
        assert "column 'patient_id' is null in input rows 4, 6, " in text
        assert "20, 22 (first 10 of 12) (0-based rows" in text
        assert _named(text) == [(4 + 2 * i, "b.parquet", 1 + 2 * i) for i in range(10)]
        assert "c.parquet" not in text


def test_too_large_id(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    ids = [1, 2, 3, 2**63 + 5]
    for name in ("a.parquet", "b.parquet"):
        pl.DataFrame(
            {
                "patient_id": pl.Series(ids, dtype=pl.UInt64),
                "exam_date": [dt.date(2020, 1, 1)] * 4,
                "effective_dose_msv": [1.0] * 4,
            }
        ).write_parquet(folder / name)
    for buckets in (1, 2):
        with pytest.raises(DataError, match=r"row 3 \(row 3 of a\.parquet\) holds"):
            cumulative_dose_chunked(folder, buckets=buckets)


def test_other_errors_unchanged(tmp_path: Path) -> None:
    """An error that is not about bad exams (text doses) stands as it was."""
    folder = tmp_path / "text"
    folder.mkdir()
    for name in ("a.parquet", "b.parquet"):
        _exams(3, 0).with_columns(pl.col("effective_dose_msv").cast(pl.String)).write_parquet(
            folder / name
        )
    for buckets in (1, 2):
        with pytest.raises(recurct.errors.ParameterError, match="must be numeric"):
            cumulative_dose_chunked(folder, buckets=buckets)


def test_clean_folder_counts_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files' rows are counted only on an error."""
    folder = tmp_path / "clean"
    folder.mkdir()
    _exams(5, 0).write_parquet(folder / "a.parquet")
    _exams(5, 5).write_parquet(folder / "b.parquet")

    def boom(*args: object) -> None:
        raise AssertionError("files counted without an error")

    monkeypatch.setattr(outofcore, "_file_rows", boom)
    for buckets in (1, 2):
        assert cumulative_dose_chunked(folder, buckets=buckets).height == 7


#: names whose paths sort differently as text (polars' order) and as pathlib paths
_NAMES = ["a-c.parquet", "a/b.parquet", "a.b.parquet", "a/z/y.parquet", "B.parquet"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    heights=st.lists(st.integers(1, 6), min_size=len(_NAMES), max_size=len(_NAMES)),
    bad=st.sets(st.integers(0, 29), min_size=1, max_size=4),
    buckets=st.sampled_from([1, 2, 3]),
)
def test_named_rows_hold_the_bad_exams(heights: list[int], bad: set[int], buckets: int) -> None:
    """Property: every (file, row) named holds a bad exam, and they are exactly the bad ones,
    whatever the order the files' paths sort in."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "nested"
        start, truth = 0, set()
        for name, n in zip(_NAMES, heights, strict=True):
            here = {r - start for r in bad if start <= r < start + n}
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _exams(n, start, tuple(here)).write_parquet(path)
            truth |= {(name, r) for r in here}
            start += n
        if not truth:
            cumulative_dose_chunked(folder, buckets=buckets)
            return
        with pytest.raises(DataError) as info:
            cumulative_dose_chunked(folder, buckets=buckets)
        named = _named(str(info.value))
        assert {(f, r) for _, f, r in named} == truth
        # the input rows: those of the scan, which reads the files in its own order
        read = pl.read_parquet(folder / "**" / "*.parquet", hive_partitioning=False)
        nulls = read["effective_dose_msv"].is_null().arg_true().to_list()
        assert [r for r, _, _ in named] == nulls
        for _, f, r in named:
            assert pl.read_parquet(folder / f)["effective_dose_msv"][r] is None
