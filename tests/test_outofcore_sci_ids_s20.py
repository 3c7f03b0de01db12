"""Patient ids a spreadsheet wrote in scientific notation, out of core and on Dask.

``1.23457E+11`` may be several patients (the MRNs 123456789012 and 123457000001 both show so):
in memory the identity rules make such a text (or categorical) id a missing id, with an
``IdentifierWarning`` naming its rows, and ``cumulative_dose`` then refuses the null ids,
naming the rows. Every out-of-core and Dask entry point must do the same for the same input:
the same warning (category, wording, count and rows of the input) and the same rows refused.
Before, a bucket's in-memory run made them missing but lost the warning, and the error named
the rows of the bucket (or the Dask partition), not of the input.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import recurct
from recurct import outofcore
from recurct.errors import DataError, IdentifierWarning
from recurct.outofcore import cumulative_dose_chunked, write_patients

SCI = "1.23457E+11"  # two patients (MRNs 123456789012, 123457000001), as a spreadsheet shows them
#: the written ids, rows 1 and 4 the two patients above; "AB1E+5" and "1E5" are no such numbers
IDS = ["P1", SCI, "P2", "AB1E+5", SCI, "P1", "1E5", "P2", "P5", "AB1E+5", "1E5", "P5"]
LOST = [1, 4]


def _exams(ids: list[str] = IDS) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "patient_id": ids,
            "exam_date": [dt.date(2020, 1, 1) + dt.timedelta(days=5 * i) for i in range(n)],
            "effective_dose_msv": [10.0 + i for i in range(n)],
        }
    )


def _clean() -> pl.DataFrame:
    """The same exams with the MRNs as the hospital wrote them: two patients."""
    mrns = {1: "123456789012", 4: "123457000001"}
    return _exams([mrns.get(i, v) for i, v in enumerate(IDS)])


def _folder(root: Path, exams: pl.DataFrame, name: str = "exams") -> Path:
    """``exams`` as files of four rows each: a.parquet, b.parquet, ..."""
    folder = root / name
    folder.mkdir()
    for i, part in enumerate(exams.iter_slices(n_rows=4)):
        part.write_parquet(folder / f"{chr(97 + i)}.parquet", statistics=True, row_group_size=2)
    return folder


def _run(call: Callable[[], Any]) -> tuple[Any, str | None, list[warnings.WarningMessage]]:
    """``call()``: its result (None on a DataError), the error's text, its IdentifierWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, error = call(), None
        except DataError as exc:
            out, error = None, str(exc)
    return out, error, [w for w in caught if issubclass(w.category, IdentifierWarning)]


def _error_rows(text: str) -> list[int]:
    found = re.search(r"is null in (?:input )?rows? ([\d, ]+)", text)
    assert found is not None, text
    return [int(r) for r in found.group(1).strip(" ,").split(", ")]


def _warned_rows(text: str) -> list[int]:
    found = re.search(r"missing ids \(rows? (.*?)(?:,| of the input,) 0-based", text)
    assert found is not None, text
    return [int(r) for r in re.findall(r"\d+", found.group(1))]


def _wording(text: str) -> str:
    """The warning without its list of rows (out of core: "of the input", and the files)."""
    return re.sub(r"missing ids \(rows? [^)]*\)", "missing ids (ROWS)", text)


def _same_refusal(got: tuple, mem: tuple, lost: list[int] = LOST) -> None:
    """``got`` refuses what the in-memory run ``mem`` refused, after the same warning."""
    out, error, said = got
    assert out is None and error is not None, "the ids in scientific notation were kept"
    assert mem[1] is not None
    assert _error_rows(error) == _error_rows(mem[1]) == lost
    assert len(said) == len(mem[2]) == 1, [str(w.message) for w in said]
    w, m = said[0], mem[2][0]
    assert w.category is m.category is IdentifierWarning
    assert _wording(str(w.message)) == _wording(str(m.message))
    assert _warned_rows(str(w.message)) == _warned_rows(str(m.message)) == lost[:10]
    counted = [getattr(x.message, "scientific_ids", None) for x in (w, m)]
    assert counted == [len(lost), len(lost)]


def _memory(exams: Any) -> tuple:
    return _run(lambda: recurct.cumulative_dose(exams))


def test_in_memory_reference() -> None:
    """What every other entry point must match: refused, the rows named, one warning."""
    _, error, said = _memory(_exams())
    assert error is not None and "'patient_id' is null in rows 1, 4 (0-based)" in error
    (w,) = said
    assert "column 'patient_id': 2 patient id(s) are numbers in scientific notation " in str(
        w.message
    )
    assert f"({SCI!r})" in str(w.message) and "(rows 1, 4, 0-based)" in str(w.message)


# ------------------------------------------------------------------ out of core, from files

FILES = "row 1 of a.parquet, row 0 of b.parquet"


@pytest.mark.parametrize(
    "entry",
    [
        "chunked, 1 bucket",
        "chunked, 3 range buckets",
        "chunked, 70 hash buckets",
        "chunked, glob, 2 buckets",
        "cumulative_dose(folder)",
        "write_patients, 3 buckets",
    ],
)
def test_files_refused_as_in_memory(tmp_path: Path, entry: str) -> None:
    exams = _exams()
    folder = _folder(tmp_path, exams)
    calls: dict[str, Callable[[], Any]] = {
        "chunked, 1 bucket": lambda: cumulative_dose_chunked(folder, buckets=1),
        "chunked, 3 range buckets": lambda: cumulative_dose_chunked(folder, buckets=3),
        "chunked, 70 hash buckets": lambda: cumulative_dose_chunked(folder, buckets=70),
        "chunked, glob, 2 buckets": lambda: cumulative_dose_chunked(
            str(folder / "*.parquet"), buckets=2
        ),
        "cumulative_dose(folder)": lambda: recurct.cumulative_dose(folder),
        "write_patients, 3 buckets": lambda: write_patients(folder, tmp_path / "out", buckets=3),
    }
    got = _run(calls[entry])
    _same_refusal(got, _memory(exams))
    error, (w,) = got[1], got[2]
    assert FILES in error  # each row with its file and its row there, as for a null id
    if not entry.endswith("1 bucket") and entry != "cumulative_dose(folder)":
        # several buckets: the rows of the input (one bucket: the in-memory warning itself)
        assert f"(rows 1, 4 of the input, 0-based; {FILES})" in str(w.message)
    assert not (tmp_path / "out").exists()


def test_sorted_source_refused_as_in_memory(tmp_path: Path) -> None:
    """A source sorted by patient is read in runs of row groups, without a split."""
    exams = _exams().sort("patient_id", maintain_order=True)
    folder = _folder(tmp_path, exams)
    scan = outofcore.scan_exams(folder)
    assert outofcore._clustered_loaders(folder, scan, 2) is not None  # (the path tested)
    lost = [i for i, v in enumerate(exams["patient_id"]) if v == SCI]
    _same_refusal(_run(lambda: cumulative_dose_chunked(folder, buckets=2)), _memory(exams), lost)


# ------------------------------------------------------------------ out of core, LazyFrames


@pytest.mark.parametrize("dtype", ["text", "Categorical", "Enum"])
@pytest.mark.parametrize("buckets", [None, 1, 3])
def test_lazyframe_refused_as_in_memory(dtype: str, buckets: int | None) -> None:
    exams = _exams()
    if dtype == "Categorical":
        exams = exams.with_columns(pl.col("patient_id").cast(pl.Categorical))
    elif dtype == "Enum":
        exams = exams.with_columns(pl.col("patient_id").cast(pl.Enum(sorted(set(IDS)))))
    if buckets is None:
        got = _run(lambda: recurct.cumulative_dose(exams.lazy()))
    else:
        got = _run(lambda: cumulative_dose_chunked(exams.lazy(), buckets=buckets))
    _same_refusal(got, _memory(exams))


def test_many_ids_over_buckets_said_once_as_in_memory(tmp_path: Path) -> None:
    """Twelve ids in scientific notation, five distinct, over the buckets: one warning for
    the whole input, counting them all, quoting the first three in input order."""
    written = ["1.23457E+11", "9,87654E+11", "2.5e+12", "3E+13", "4,1E+9"]
    ids = [written[i % 5] if i % 2 else f"P{i}" for i in range(24)]
    exams = _exams(ids)
    folder = _folder(tmp_path, exams)
    lost = [i for i in range(24) if i % 2]
    got = _run(lambda: cumulative_dose_chunked(folder, buckets=4))
    mem = _memory(exams)
    _, error, (w,) = got
    (m,) = mem[2]
    assert _wording(str(w.message)) == _wording(str(m.message))
    assert "12 patient id(s)" in str(w.message)
    assert "('9,87654E+11', '3E+13', '1.23457E+11', ...)" in str(w.message)
    assert _warned_rows(str(w.message)) == lost[:10] == _warned_rows(str(m.message))
    assert ", ... of the input, 0-based; row 1 of a.parquet, row 3 of a.parquet, " in str(w.message)
    assert error is not None and _error_rows(error) == lost[:10]
    assert _error_rows(mem[1] or "")[:5] == lost[:5]


# ------------------------------------------------------------------ Dask


@pytest.mark.parametrize("how", ["split", "shuffle", "partitioned", "category", "threads"])
def test_dask_refused_as_in_memory(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    rd = pytest.importorskip("recurct.distributed")
    pdf = _exams().to_pandas()
    if how == "category":
        pdf = pdf.astype({"patient_id": "category"})
    if how == "shuffle":
        monkeypatch.setattr(rd, "MAX_PIECES", 0)
    mem = _memory(pdf)
    ddf = dd.from_pandas(pdf, npartitions=1 if how == "partitioned" else 3, sort=False)
    # (threads: one output partition, so that no other partition still runs, recording its
    # warnings in the process-wide state, when the error reaches this test)
    kwargs = {
        "partitioned_by_patient": how == "partitioned",
        "buckets": 1 if how == "threads" else None,
    }
    with dask.config.set(scheduler="threads" if how == "threads" else "sync"):
        got = _run(lambda: rd.cumulative_dose(ddf, **kwargs).compute())
    _same_refusal(got, mem)
    assert "(rows 1, 4 of the input, 0-based)" in str(got[2][0].message)


# ------------------------------------------------------------------ clean input: unchanged


def test_clean_input_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MRNs written out (and ids with ``E+`` that are no numbers): no warning, and the
    patients table of memory from every entry point; the rows of ids in scientific notation
    are never looked for (only a failed bucket pays for it)."""

    def never(chunk: pl.DataFrame) -> None:
        raise AssertionError("clean input looked for ids in scientific notation")

    monkeypatch.setattr(outofcore, "_scientific_rows", never, raising=False)
    exams = _clean()
    expected = recurct.cumulative_dose(exams)
    assert expected.height == 7
    folder = _folder(tmp_path, exams)
    ordered = _folder(tmp_path, exams.sort("patient_id", maintain_order=True), "sorted")
    for call in (
        lambda: cumulative_dose_chunked(folder, buckets=1),
        lambda: cumulative_dose_chunked(folder, buckets=3),
        lambda: cumulative_dose_chunked(folder, buckets=70),
        lambda: cumulative_dose_chunked(ordered, buckets=2),
        lambda: recurct.cumulative_dose(exams.lazy()),
        lambda: cumulative_dose_chunked(
            exams.lazy().with_columns(pl.col("patient_id").cast(pl.Categorical)), buckets=3
        ),
    ):
        out, error, said = _run(call)
        assert error is None and not said
        out = out.with_columns(pl.col("patient_id").cast(pl.String))
        assert out.sort("patient_id").equals(expected)
    written = write_patients(folder, tmp_path / "out", buckets=3)
    assert pl.read_parquet(str(written / "*.parquet")).sort("patient_id").equals(expected)


def test_clean_input_unchanged_on_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    dask = pytest.importorskip("dask")
    monkeypatch.setattr(outofcore, "_scientific_rows", None, raising=False)  # (never called)
    dd = pytest.importorskip("dask.dataframe")
    rd = pytest.importorskip("recurct.distributed")
    exams = _clean()
    expected = recurct.cumulative_dose(exams)
    for pdf in (exams.to_pandas(), exams.to_pandas().astype({"patient_id": "category"})):
        with dask.config.set(scheduler="sync"):
            out, error, said = _run(
                lambda pdf=pdf: rd.cumulative_dose(dd.from_pandas(pdf, npartitions=3)).compute()
            )
        assert error is None and not said
        got = pl.from_pandas(out).with_columns(pl.col("patient_id").cast(pl.String))
        assert got.sort("patient_id")["ced_msv"].to_list() == expected["ced_msv"].to_list()
        assert got.sort("patient_id")["patient_id"].to_list() == expected["patient_id"].to_list()


def test_a_placeholder_or_scientific_first_category_is_no_fake_row() -> None:
    """Dask builds its meta from one fake row holding the first category of a categorical
    ``patient_id``: not one the identity rules make missing (refused at the call)."""
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    rd = pytest.importorskip("recurct.distributed")
    import pandas as pd

    exams = _clean().to_pandas()
    for first in ("", "1,2E+11"):  # a placeholder, a number in scientific notation
        cats = [first, *sorted(set(exams["patient_id"]))]
        pdf = exams.astype({"patient_id": pd.CategoricalDtype(cats)})
        with dask.config.set(scheduler="sync"):
            out = rd.cumulative_dose(dd.from_pandas(pdf, npartitions=2)).compute()
        assert len(out) == 7, first
