"""Warnings point at the user's line, whatever chain of recurct functions and wrappers
(``@renamed``) raised them: the line of this file that called recurct.

These warnings used fixed ``stacklevel`` numbers, which pointed into recurct (e.g.
``_compat.py``, the ``@renamed`` wrapper) when the call chain differed from the one counted.
"""

from __future__ import annotations

import _thread
import collections
import datetime as dt
import functools
import operator
import os
import threading
import warnings

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import stats, synthetic

RDSR = __import__("pathlib").Path(__file__).parent / "data" / "rdsr"


def _warned(call, category: type[Warning]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    hits = [w for w in caught if issubclass(w.category, category)]
    assert hits, [str(w.message) for w in caught]
    return hits


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2020, 2, 1)] * 1
            + [dt.date(2020, 3, 1)],
            "dlp_mgycm": [800.0, None, 500.0, 400.0],
            "body_region": ["chest"] * 4,
            "ctdivol_mgy": [10.0, 12.0, 30.0, 8.0],
            "age_years": [40.0, 40.0, 5.0, 60.0],
        }
    )


CASES = {
    "effective_dose": (
        lambda: recurct.effective_dose(_exams(), table="aapm96", strict=False),
        recurct.DoseConversionWarning,
    ),
    "compare_to_drl": (
        lambda: recurct.compare_to_drl(_exams(), drl="arpansa_adult", site=None),
        recurct.DroppedRowsWarning,
    ),
    "exam_rate": (
        lambda: stats.exam_rate(
            recurct.cumulative_dose(
                recurct.effective_dose(_exams().drop_nulls("dlp_mgycm"), table="aapm96")
            ).with_columns(sex=pl.Series(["F", "M", "F"])),
            "n_exams ~ sex",
            end="2021-01-01",
        ),
        recurct.RegressionWarning,
    ),
    "magnitude (bootstrap, few clusters)": (
        lambda: stats.magnitude(
            recurct.cumulative_dose(synthetic.generate("small", 300, seed=1)),
            50,
            ci="bootstrap",
            cluster="facility",
            n_boot=50,
            seed=0,
        ),
        recurct.RecurctWarning,
    ),
    "read_rdsr (a folder with a file that is no report)": (
        lambda: recurct.read_rdsr(RDSR),
        recurct.RecurctWarning,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_warning_points_at_the_callers_line(name: str) -> None:
    call, category = CASES[name]
    for w in _warned(call, category):
        assert w.filename == __file__, (name, w.filename, w.lineno, str(w.message)[:80])


# --------------------------------------------------------------------------- Dask, out of core

#: ids with surrounding whitespace and unreadable ages: an IdentifierWarning and an
#: UnmappedValuesWarning, merged over the chunks
_SPACED_AND_BAD_AGES = {
    "patient_id": [" a", "a", "b", "c", "d "],
    "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 2, 1), dt.date(2020, 1, 1)]
    + [dt.date(2020, 3, 1)] * 2,
    "effective_dose_msv": [1.0, 2.0, 3.0, 4.0, 5.0],
    "age_years": ["abc", "40", "200", "50", "x"],
}


def _both_at_this_line(call) -> None:
    caught = _warned(call, recurct.RecurctWarning)
    kinds = {w.category for w in caught}
    assert {recurct.IdentifierWarning, recurct.UnmappedValuesWarning} <= kinds, kinds
    for w in caught:
        assert w.filename == __file__, (w.category.__name__, w.filename, w.lineno)


def _ddf():
    dd = pytest.importorskip("dask.dataframe")
    pdf = pl.DataFrame(_SPACED_AND_BAD_AGES).to_pandas()
    pdf["exam_date"] = pdf["exam_date"].astype("datetime64[ns]")
    return dd.from_pandas(pdf, npartitions=2)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_distributed_warnings_point_at_the_callers_line(scheduler: str) -> None:
    """The partitions' warnings, recorded in the workers, are given on the client at the
    line that computed (``compute()``) or summarised (``magnitude``) the patients table.
    (``compute()`` pointed right before; ``magnitude`` pointed into recurct/_compat.py.)"""
    dask = pytest.importorskip("dask")
    from recurct import distributed as rd

    with dask.config.set(scheduler=scheduler):
        _both_at_this_line(lambda: rd.cumulative_dose(_ddf(), [1]).compute())
        _both_at_this_line(lambda: rd.magnitude(rd.cumulative_dose(_ddf(), [1]), 1))


def test_out_of_core_warnings_point_at_the_callers_line(tmp_path) -> None:
    """The buckets' warnings, merged, point at the line that called the out-of-core path
    (they pointed into recurct/outofcore.py)."""
    from recurct.outofcore import cumulative_dose_chunked, write_patients

    exams = pl.DataFrame(_SPACED_AND_BAD_AGES)
    exams.write_parquet(tmp_path / "exams.parquet")
    _both_at_this_line(lambda: cumulative_dose_chunked(exams.lazy(), rows_per_bucket=2))
    _both_at_this_line(
        lambda: cumulative_dose_chunked(tmp_path / "exams.parquet", rows_per_bucket=2)
    )
    _both_at_this_line(
        lambda: write_patients(tmp_path / "exams.parquet", tmp_path / "out", rows_per_bucket=2)
    )


def test_a_chunks_warnings_given_unmerged_point_at_the_callers_line() -> None:
    """``chunk_patients`` without a record gives a chunk's warnings at once (the ids one
    pointed into recurct/outofcore.py)."""
    from recurct.outofcore import chunk_patients

    chunk = pl.DataFrame(_SPACED_AND_BAD_AGES)
    _both_at_this_line(lambda: chunk_patients(chunk, np.arange(5) + 10, "t", (100.0,), None))


def test_a_chunks_other_warning_is_given_at_the_callers_line() -> None:
    """A chunk's warning other than ids and ages is given at the line under which the
    merged warnings are given, not where it was recorded (a Dask worker thread's stack,
    where there is no user line; it was given there)."""
    from recurct.outofcore import _MergedWarnings

    merged = _MergedWarnings()
    message = recurct.RecurctWarning("something else")
    worker = warnings.WarningMessage(message, recurct.RecurctWarning, "dask/_task_spec.py", 767)
    merged.add(worker, pl.DataFrame(_SPACED_AND_BAD_AGES), np.arange(5))
    caught = _warned(merged.emit, recurct.RecurctWarning)
    assert [(str(w.message), w.filename) for w in caught] == [("something else", __file__)]


def _outermost(fn, *args) -> list[warnings.WarningMessage]:
    """The warnings of ``fn(*args)`` run as the outermost frame of a new thread (as a
    callback on a thread that native code started: no frame outside recurct), all of them:
    the thread signals ``done`` once ``fn`` has returned. The calls are made by C code that
    puts no Python frame below ``fn``'s (``deque`` drains a ``map`` that calls ``fn``, then
    ``done.set``)."""
    done = threading.Event()
    calls = map(operator.call, [functools.partial(fn, *args), done.set])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _thread.start_new_thread(collections.deque, (calls, 0))
        assert done.wait(timeout=30), f"{fn} did not return within 30 s"
    return list(caught)


def test_no_user_frame_on_the_stack_points_at_the_outermost_frame() -> None:
    """With no frame outside recurct, the warning points at the outermost frame, in recurct:
    the walk stopped past it (Python reported ``sys:1``) or, from the outermost frame
    itself, raised ValueError (no warning at all)."""
    from recurct import _dates, outofcore
    from recurct.outofcore import _MergedWarnings

    mixed = pl.Series("exam_date", ["2020-01-01T10:00:00+01:00", "2020-02-01T10:00:00Z"])
    caught = _outermost(_dates.warn_mixed_offsets, mixed)
    assert [(w.filename, w.category) for w in caught] == [(_dates.__file__, recurct.RecurctWarning)]

    merged = _MergedWarnings()
    merged.spaced.append(np.array([3]))
    merged.n_ages, merged.age_values = 1, ["abc"]
    caught = _outermost(merged.emit)
    # (the spaced ids warning is one frame deeper: the same outermost frame, emit's)
    assert [(w.category, w.filename) for w in caught] == [
        (recurct.IdentifierWarning, outofcore.__file__),
        (recurct.UnmappedValuesWarning, outofcore.__file__),
    ]


# --------------------------------------------------------------------------- through dask, polars

_BAD = {
    "patient_id": ["a", "b"],
    "exam_date": ["2020-01-01", "2020-01-02"],
    "effective_dose_msv": [1.0, -1.0],
}


def test_recurct_called_by_dask_points_at_the_line_that_computed() -> None:
    """``dask.delayed(recurct.validate)``: dask's frames are walked past, to the line that
    computed (they pointed at dask/_task_spec.py). In a worker thread (the threaded
    scheduler) no user line is on the stack: the warning points at dask's line that called
    recurct, not past the stack."""
    dask = pytest.importorskip("dask")
    task = dask.delayed(recurct.validate)(pl.DataFrame(_BAD), strict=False)
    for w in _warned(lambda: task.compute(scheduler="sync"), recurct.DroppedRowsWarning):
        assert w.filename == __file__, (w.filename, w.lineno)
    for w in _warned(lambda: task.compute(scheduler="threads"), recurct.DroppedRowsWarning):
        assert f"{os.sep}dask{os.sep}" in w.filename, (w.filename, w.lineno)


def test_recurct_called_by_polars_points_at_the_users_line() -> None:
    """``df.pipe(recurct.validate)`` and recurct as a polars callback: polars' frames are
    walked past (they pointed at polars/dataframe/frame.py and polars/dataframe/group_by.py)."""
    df = pl.DataFrame(_BAD)
    for w in _warned(lambda: df.pipe(recurct.validate, strict=False), recurct.DroppedRowsWarning):
        assert w.filename == __file__, (w.filename, w.lineno)
    by = df.with_columns(g=pl.lit(1)).group_by("g")
    for w in _warned(
        lambda: by.map_groups(functools.partial(recurct.validate, strict=False)),
        recurct.DroppedRowsWarning,
    ):
        assert w.filename == __file__, (w.filename, w.lineno)
