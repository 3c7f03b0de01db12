"""The same cumulative-dose analysis on Dask, for exam tables larger than one machine.

Install with ``pip install "recurct[dask]"``. The computation is the in-memory one
(:func:`recurct.cumulative_dose`, numba kernels) run once per output partition after the exams
have been moved so that each patient's exams lie in one partition:

1. each input partition (only the columns the engine uses) is converted to polars once, in
   the dtypes every partition shares (integer ids as ``Int64``, ``float32`` doses and ages
   as ``float64`` as written), and split by a hash of ``patient_id`` into one piece per
   output partition, each piece in input order with the exams' positions in the partition;
2. each output partition concatenates its pieces in the order of the input partitions: the
   exams are then in input order, so ties in time keep it exactly as on one machine, and
   ``offsets[partition] + position`` is each exam's input row, which an error names;
3. :func:`recurct.cumulative_dose` runs on it and gives a partition of the Dask DataFrame of
   patients.

Pieces that stay on their worker are passed as they are (no serialisation); the graph has
input x output partitions small tasks, so above :data:`MAX_PIECES` of them the exams go
through Dask's shuffle instead (P2P on a cluster). With ``partitioned_by_patient=True``
nothing moves: one pass counts the rows of every partition (to name a bad exam by its input
row), then each partition is computed on its own as soon as it is read.

What moves over the network is the exam table once (about 28 bytes per exam for the id,
timestamp, dose and position, plus the optional columns the engine uses; about 36 through
Dask's shuffle, which also carries the partition number); what comes
back to the client is only what the statistics need. :func:`magnitude` computes counts by a
reduction and collects only the small subset of patients at or above the threshold, so its
medians, quartiles and maxima are exact, not approximations.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from recurct import _checks
from recurct._casts import as_written
from recurct._compat import renamed
from recurct._frames import (
    _from_pandas,
    _no_repeats,
    from_polars,
    id_key,
    normalised_ids,
    param_label,
    scientific_ids,
    to_polars,
)
from recurct._stacklevel import user_stacklevel
from recurct.cumulative import USED_COLUMNS
from recurct.errors import DataError, ParameterError
from recurct.schema import REQUIRED_COLUMNS

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pyarrow as pa

    from recurct.outofcore import _BadRows, _MergedWarnings

__all__ = ["cumulative_dose", "magnitude"]

#: input partitions x output partitions up to which the exams are moved by one split per
#: input partition and one concatenation per output partition (a graph of about that many
#: small tasks; no serialisation where a piece stays on its worker); above it, by Dask's
#: shuffle (P2P on a distributed cluster), whose graph grows linearly
MAX_PIECES = 2**16

_POS = "__recurct_pos"
_PART = "__recurct_part"
_KEY = "__recurct_key"  # the hash of a text id as the identity rules compare it, to shuffle on
_HASH_SEED = 0x5EED
_FN = "recurct.distributed.cumulative_dose"
#: the columns read as numbers whose 32- and 16-bit floats are read as written
_FLOATS = ("effective_dose_msv", "age_years")


def _dd() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError('recurct.distributed needs dask: pip install "recurct[dask]"') from err
    return dd


#: the category of a fake row's column whose categories are not known (text otherwise)
_FAKE_CATEGORY: dict[str, Any] = {
    "exam_date": pd.Timestamp("2000-01-01"),
    "effective_dose_msv": 1.0,
}


def _fake_row(meta: pd.DataFrame) -> pd.DataFrame:
    """One plausible row with the dtypes of ``meta``, to let recurct build the result's meta
    (a text ``age_years`` gets a number, which reads without a warning)."""
    values: dict[str, Any] = {}
    for col, dtype in meta.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):  # (one of its categories: never null)
            known = dtype.categories
            if not len(known) or _unknown_categories(dtype):
                known = pd.Index([_FAKE_CATEGORY.get(str(col), "1")])
            at = _kept_id(known) if col == "patient_id" else 0
            values[col] = pd.Series(known[at : at + 1], dtype=pd.CategoricalDtype(known))
        elif col == "exam_date" or pd.api.types.is_datetime64_any_dtype(dtype):
            values[col] = pd.Series([pd.Timestamp("2000-01-01", tz=_tz(dtype))]).astype(dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            values[col] = pd.Series([False], dtype=dtype)
        elif pd.api.types.is_numeric_dtype(dtype):
            values[col] = pd.Series([1], dtype=dtype)
        else:
            values[col] = pd.Series(["1" if col == "age_years" else "x"], dtype=dtype)
    return pd.DataFrame(values)


def _kept_id(known: pd.Index) -> int:
    """The position of the first of the first 64 ``patient_id`` categories ``known`` that
    the identity rules keep as an id (not a placeholder such as ``"NA"``, nor a number in
    scientific notation such as ``1.23457E+11``: either is a missing id, which the fake row
    must not hold); 0 if none is, or the categories are not text."""
    head = list(known[:64])
    if not all(isinstance(c, str) for c in head):
        return 0
    ids = pl.Series("patient_id", head, dtype=pl.String)
    cleaned = ids.to_frame().select(normalised_ids(pl.col("patient_id"))[0]).to_series()
    sci = scientific_ids(cleaned)
    lost = cleaned.is_null() if sci is None else cleaned.is_null() | sci
    kept = np.flatnonzero(~lost.to_numpy())
    return int(kept[0]) if kept.size else 0


def _unknown_categories(dtype: Any) -> bool:
    """Whether ``dtype`` is a Dask categorical whose categories are not known (its meta
    holds a placeholder category, not the data's)."""
    from dask.dataframe.utils import UNKNOWN_CATEGORIES

    cats = getattr(dtype, "categories", None)
    return cats is not None and len(cats) == 1 and cats[0] == UNKNOWN_CATEGORIES


def _tz(dtype: Any) -> Any:
    """The time zone of a pandas datetime dtype (``DatetimeTZDtype``, or an Arrow timestamp),
    None for a naive one."""
    tz = getattr(dtype, "tz", None)
    if tz is None and isinstance(dtype, pd.ArrowDtype):
        tz = getattr(dtype.pyarrow_dtype, "tz", None)
    return tz


def _check_meta(meta: pd.DataFrame, fn: str) -> None:
    """Refuse, from the dtypes of the Dask meta alone, what :func:`recurct.cumulative_dose`
    refuses from the dtypes, with its errors and messages, before any fake row is built from
    them: the meta goes through the in-memory conversion (:func:`recurct._frames.to_polars`:
    a float id becomes Int64, a dtype polars cannot read is a ``DataError`` naming a required
    column) and the in-memory checks, in their order (``patient_id``, ``exam_date``,
    ``effective_dose_msv``, the patient attributes). A pandas ``object`` column says nothing
    of its values' types (nor does a category whose categories Dask does not know, nor an
    empty one, whose polars dtype is ``Null``): it is checked per partition, at
    ``compute()``, by the same in-memory code."""
    from recurct._exam_arrays import exam_doses, exam_times
    from recurct.cumulative import _check_attributes, check_id_dtype

    known = [c for c in meta.columns if meta[c].dtype != object]
    typed, _ = to_polars(meta[[c for c in known if not _unknown_categories(meta[c].dtype)]])
    schema = typed.select(c for c in typed.columns if typed.schema[c] != pl.Null)
    if "patient_id" in schema.columns:
        check_id_dtype(schema.schema["patient_id"], fn)
    if "exam_date" in schema.columns:
        try:
            exam_times(schema, fn)
        except ParameterError as exc:
            import dask

            converts = dask.config.get("dataframe.convert-string", None) is not False
            if schema.schema["exam_date"] != pl.String or not converts:
                raise
            raise ParameterError(
                f"{exc}; note that Dask reads a pandas object column (Python dates, say) as "
                "text unless dask.config.set({'dataframe.convert-string': False}): convert "
                "it with pd.to_datetime before dd.from_pandas"
            ) from None
    if "effective_dose_msv" in schema.columns:
        exam_doses(schema, fn)
    _check_attributes(schema)  # (its message exactly as in memory's)


def _converted(pdf: pd.DataFrame, part: int | None = None) -> pl.DataFrame:
    """A partition as polars by the conversion of the in-memory path
    (:func:`recurct._frames._from_pandas`: a column of Python objects mixing types is read as
    text where it is an optional attribute, an error naming the column otherwise); its
    ``DataError`` says which partition the rows it names are counted in (input partition
    ``part``; None: the partition's ``_PART`` column says)."""
    try:
        return _from_pandas(pdf)
    except DataError as exc:
        if part is None:
            parts = pdf[_PART].unique()
            part = int(parts[0]) if len(parts) == 1 else None
        where = "a partition after the shuffle" if part is None else f"input partition {part}"
        raise DataError(
            f"recurct.distributed.cumulative_dose: {exc} (rows of {where}, not of the input)"
        ) from None


def _widened(exams: pl.DataFrame, part: int | None) -> pl.DataFrame:
    """A partition's exams (as polars) in the dtypes every partition shares, so that the
    pieces of different partitions join without a value changing: integer ids as ``Int64``
    (as out of core and :func:`recurct.read_exams` read them: ``UInt64`` beside ``Int64``
    would join to ``Int128``, which pyarrow cannot read), and ``Float32`` (or ``Float16``)
    doses and ages as ``Float64`` as written, by their shortest decimal
    (:func:`recurct._casts.as_written`, as out of core reads files of different float
    widths): a ``Float32`` 33.3 is 33.3, where joining it to a ``Float64`` piece would give
    its binary value 33.29999923706055. Nothing is copied where the dtypes are those
    already. An id outside the ``Int64`` range is refused (:func:`_as_int64`)."""
    casts = [
        as_written(pl.col(c), exams.schema[c])
        for c in _FLOATS
        if c in exams.columns and exams.schema[c] in (pl.Float32, pl.Float16)
    ]
    ids = exams.schema.get("patient_id")
    if ids is not None and ids.is_integer() and ids != pl.Int64:
        casts.append(_as_int64(exams.get_column("patient_id"), part))
    return exams.with_columns(casts) if casts else exams


def _as_int64(ids: pl.Series, part: int | None) -> pl.Series:
    """Integer ``ids`` as ``Int64``; a ``DataError`` naming the row of a ``UInt64`` id above
    the largest 64-bit signed integer (in its input partition ``part``; the client names
    its row of the input, :func:`_raise_whole_input_error`), in the words of the in-memory
    path."""
    from recurct._frames import OUTSIDE_INT64
    from recurct.outofcore import _too_large_ids

    big = _too_large_ids(ids.to_frame("patient_id"), np.arange(ids.len(), dtype=np.int64))
    if big is not None:
        where = "a partition" if part is None else f"input partition {part}"
        error = DataError(
            f"{_FN}: column 'patient_id': row {big[0]} of {where} (0-based) holds {big[1]}, "
            f"{OUTSIDE_INT64}"
        )
        error.recurct_bad_rows = True  # type: ignore[attr-defined]
        raise error
    return ids.cast(pl.Int64)


def _narrow(column: str, dtype: Any) -> bool:
    """Whether a pandas column of ``dtype`` (NumPy, nullable or Arrow) is one that
    :func:`_widened` widens: an integer ``patient_id`` other than 64-bit signed, a 32- or
    16-bit float dose or age."""
    if column != "patient_id" and column not in _FLOATS:
        return False
    try:
        kind = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:  # (object, text, categories, dates: not widened)
        return False
    if column == "patient_id":
        return kind.kind in "iu" and kind != np.int64
    return kind.kind == "f" and kind.itemsize < 8


def _widened_pandas(pdf: pd.DataFrame, part: int) -> pd.DataFrame:
    """:func:`_widened` of a pandas partition, before Dask's shuffle joins its rows to other
    partitions' (``pd.concat`` would widen a ``float32`` dose by its binary value, and join
    ``uint64`` and ``int64`` ids to ``float64``, losing digits): each column widened keeps
    its kind of dtype (NumPy, pandas' nullable, Arrow). ``pdf`` itself where nothing is to
    be widened."""
    import pyarrow as pa

    narrow = [c for c in pdf.columns if _narrow(str(c), pdf[c].dtype)]
    if not narrow:
        return pdf
    wide = _widened(_converted(pdf[narrow], part), part)
    columns = {}
    for c in narrow:
        dtype, values = pdf[c].dtype, wide.get_column(str(c))
        if isinstance(dtype, pd.ArrowDtype):
            column: Any = pd.arrays.ArrowExtensionArray(values.to_arrow())
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype):  # Int32, Float32, ...
            nullable = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype()}
            column = values.to_arrow().to_pandas(types_mapper=nullable.get).array
        else:
            column = values.to_numpy()
        columns[str(c)] = pd.Series(column, index=pdf.index)
    return pdf.assign(**columns)


def _destination(ids: pl.Series, n_out: int) -> np.ndarray:
    """The output partition of each exam: a hash of its patient id modulo ``n_out``, the same
    in every process and for every partition's dtype (categoricals are hashed by their
    string, their codes being per process; integers of any width as 64-bit). Text ids are
    hashed as the identity rules compare them (:func:`recurct._frames.id_key`: without
    surrounding whitespace), so that ``" A"`` and ``"A"`` meet in one partition."""
    # n_out <= MAX_PIECES = 2^16 here: 16-bit destinations, which NumPy radix-sorts
    return (_id_hash(ids) % n_out).cast(pl.UInt16).to_numpy()


def _id_hash(ids: pl.Series) -> pl.Series:
    """The hash of each patient id as the identity rules compare it (text ids without
    surrounding whitespace: :func:`recurct._frames.id_key`; integers of any width as
    ``Int64``, :func:`_as_int64`), the same in every process (categoricals hashed by their
    text)."""
    if ids.dtype == pl.String or isinstance(ids.dtype, pl.Categorical | pl.Enum):
        ids = ids.to_frame().select(id_key(ids.dtype, ids.name)).to_series()
    elif ids.dtype.is_integer() and ids.dtype != pl.Int64:
        ids = _as_int64(ids, None)
    return ids.hash(_HASH_SEED)


def _split(pdf: pd.DataFrame, n_out: int, part: int = 0) -> tuple[Any, ...]:
    """One input partition (number ``part``) as ``n_out`` pieces (the exams of each output
    partition, in input order, with their position in the partition) followed by the
    partition's length.

    The pieces are Arrow tables (zero-copy from polars): Dask sizes them right (for memory
    and placement) and moves them without copying into a pickle. The partition is read in
    the dtypes every partition shares (:func:`_widened`)."""
    exams = _widened(_converted(pdf, part), part)
    n = exams.height
    pos = pl.Series(_POS, np.arange(n, dtype=np.uint32 if n < 2**32 else np.int64))
    exams = exams.with_columns(pos)
    if n_out == 1:
        return (exams.to_arrow(), n)
    dest = _destination(exams["patient_id"], n_out)
    order = np.argsort(dest, kind="stable")  # stable: input order within a piece
    bounds = np.concatenate([[0], np.cumsum(np.bincount(dest, minlength=n_out))])
    # one gather per piece: each owns its buffers (a slice of one gathered frame would keep,
    # and be sized by Dask as, the whole partition)
    pieces = [exams[order[a:b]].to_arrow() for a, b in itertools.pairwise(bounds)]
    return (*pieces, n)


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    """The input row of each partition's first exam."""
    return np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]])


def _patients(
    exams: pl.DataFrame, rows: np.ndarray, thresholds: tuple[float, ...], window_days: Any
) -> tuple[pd.DataFrame, _MergedWarnings]:
    """:func:`recurct.cumulative_dose` of one output partition, in input order (``rows``: the
    input row of each exam, ascending), as pandas, and its warnings as data (recorded, not
    given: the client gives those of all the partitions once, :func:`_give_warnings`)."""
    from recurct.outofcore import _MergedWarnings, chunk_patients

    record = _MergedWarnings()
    out = chunk_patients(
        exams, rows, "recurct.distributed.cumulative_dose", thresholds, window_days, record
    )
    return from_polars(out, "pandas"), record  # (the dtypes of the in-memory path's pandas)


def _no_warnings(meta: pd.DataFrame) -> tuple[pd.DataFrame, _MergedWarnings]:
    """An empty partition: the meta, no warnings."""
    from recurct.outofcore import _MergedWarnings

    return meta, _MergedWarnings()


def _give_warnings(records: Sequence[_MergedWarnings]) -> None:
    """Give the warnings of all the partitions once, merged, as in memory, at the user's line
    (this runs on the client, under the user's call)."""
    from recurct.outofcore import _MergedWarnings

    merged = _MergedWarnings()
    for record in records:
        merged.update(record)
    merged.emit()


def _give_error_warnings(exc: BaseException) -> None:
    """Give, on the client, the warnings that a partition's error carries as data (its
    ``recurct_warnings``: :func:`recurct.outofcore.bad_input_rows`), which in memory come
    before the error: the patient ids in scientific notation that the identity rules made
    missing, naming their rows of the input. Given under the lock of the partitions'
    recording (:data:`recurct.outofcore._RECORDING`): Dask raises the error while other
    partitions may still run in this process's threads, one of which may be recording its
    warnings, and would record this one instead."""
    from recurct.outofcore import _RECORDING

    said = getattr(exc, "recurct_warnings", None)
    if not said:
        return
    with _RECORDING:
        for w in said:
            warnings.warn(w, stacklevel=user_stacklevel())


def _compute_warned(collection: Any, patients: Any, **kwargs: Any) -> Any:
    """``collection.compute()``, computing with it the warnings of ``patients`` (the result
    of :func:`cumulative_dose`) if they have not been given yet, and giving them here, on
    the client: once for the whole table, whatever the scheduler or process the partitions
    ran in (their tasks are shared with ``collection``'s, so run once). A partition's error
    is raised after the warnings it carries (:func:`_give_error_warnings`), or replaced
    by the error of the whole input's first bad exams (:func:`_raise_whole_input_error`)."""
    import dask

    records = getattr(patients, "_recurct_records", None)
    try:
        if not records:
            return collection.compute(**kwargs)
        # (the frame as its partitions' delayed objects: Dask computes a graph of delayed
        # objects and an expression together only by materialising the expression, with a
        # warning; the partitions are concatenated here, as compute() does on the cluster)
        parts, done = dask.compute(collection.to_delayed(), records, **kwargs)
    except Exception as exc:
        _raise_whole_input_error(patients, exc, kwargs)
        _give_error_warnings(exc)
        raise
    patients._recurct_records = None  # given once
    _give_warnings(done)
    return pd.concat(parts) if parts else collection._meta


def _bad_rows_of(pdf: pd.DataFrame, part: int) -> tuple[int, _BadRows]:
    """The length of input partition ``part`` and its bad exams
    (:class:`recurct.outofcore._BadRows`, its rows counted from the partition's first): one
    task of the pass over the input that :func:`_raise_whole_input_error` makes on the
    error path only."""
    from recurct.outofcore import _BadRows

    found = _BadRows()
    if len(pdf):
        exams = _converted(pdf, part)
        found.add(exams, np.arange(exams.height, dtype=np.int64))
    return len(pdf), found


def _raise_whole_input_error(patients: Any, exc: BaseException, kwargs: dict[str, Any]) -> None:
    """When a partition of ``patients`` failed on bad exams (``exc``, marked
    ``recurct_bad_rows`` by :func:`recurct.outofcore.bad_input_rows` or :func:`_as_int64`),
    raise the error of the whole input's first bad exams instead, as in memory and out of
    core: the first kind of problem in the in-memory order, its smallest input rows (up to
    ten) and how many there are, whichever partitions they lie in. It costs one more pass
    over the input's partitions (:func:`_bad_rows_of`, a reduction of their bad rows): on
    this error path only, never on clean input. The ids in scientific notation made
    missing are said first, once for the whole input, as in memory. Returns (the caller
    raises ``exc``) when ``exc`` is another error, or the pass does not complete."""
    exams = getattr(patients, "_recurct_exams", None)
    if exams is None or not getattr(exc, "recurct_bad_rows", False):
        return
    import dask

    from recurct.outofcore import _RECORDING, _BadRows

    try:
        (done,) = dask.compute(
            [dask.delayed(_bad_rows_of)(p, i) for i, p in enumerate(exams.to_delayed())],
            **kwargs,
        )
    except Exception:  # (a partition that cannot be read: the partition's error stands)
        return
    found = _BadRows()
    start = 0
    for n, part in done:
        found.update(part, start)
        start += n
    better = found.error(_FN)
    if better is None:
        return
    said = found.scientific.warning(None)
    if said is not None:  # (under the lock, as _give_error_warnings gives its warnings)
        with _RECORDING:
            warnings.warn(said, stacklevel=user_stacklevel())
    raise better from exc


def _from_delayed(tables: list[Any], meta: pd.DataFrame) -> Any:
    """The Dask DataFrame of the partitions' patients ``tables`` (delayed), their text
    columns as in the pandas of the in-memory path (``object``), not converted to Arrow
    strings by Dask (``dataframe.convert-string``): ``compute()`` gives exactly what
    :func:`recurct.cumulative_dose` gives."""
    import dask

    dd = _dd()
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(tables, meta=meta, verify_meta=False)


def _patients_frame(ddf: Any, records: list[Any], exams: Any) -> Any:
    """``ddf`` as a :class:`dask.dataframe.DataFrame` that gives the partitions' warnings
    (``records``, delayed) once, on the client, at its first ``compute()``, and names the
    first bad exams of the whole input (``exams``: :func:`_raise_whole_input_error`)."""
    out = _frame_class()(ddf.expr)
    out._recurct_records = records
    out._recurct_exams = exams
    return out


@functools.cache
def _frame_class() -> type:
    """The class of :func:`_patients_frame` (dask is imported only when used)."""
    dd = _dd()

    class PatientsFrame(dd.DataFrame):  # type: ignore[misc, name-defined]
        """The patients table of :func:`cumulative_dose`, a Dask DataFrame whose
        ``compute()`` (also after ``persist()``) gives the partitions' warnings once."""

        _recurct_records: list[Any] | None = None
        _recurct_exams: Any = None

        def compute(self, **kwargs: Any) -> Any:
            return _compute_warned(dd.DataFrame(self.expr), self, **kwargs)

        def persist(self, **kwargs: Any) -> Any:
            if not self._recurct_records:
                return super().persist(**kwargs)
            import dask

            # the tables and the warnings of each partition come from one task: persisted
            # together (as delayed objects, see _compute_warned), so computed once
            parts = dd.DataFrame(self.expr).to_delayed()
            try:  # (a local scheduler computes here: a partition's error too)
                done = dask.persist(*parts, *self._recurct_records, **kwargs)
            except Exception as exc:
                _raise_whole_input_error(self, exc, kwargs)
                _give_error_warnings(exc)
                raise
            frame = _from_delayed(list(done[: len(parts)]), self._meta)
            return _patients_frame(frame, list(done[len(parts) :]), self._recurct_exams)

    PatientsFrame.__module__ = __name__
    PatientsFrame.__qualname__ = "_PatientsFrame"
    return PatientsFrame


def _combine(
    pieces: Sequence[pa.Table],
    parts: Sequence[int],
    offsets: np.ndarray,
    thresholds: tuple[float, ...],
    window_days: tuple[int, ...] | None,
    meta: pd.DataFrame,
) -> tuple[pd.DataFrame, _MergedWarnings]:
    """The patients of one output partition from its pieces (``pieces[k]`` from input
    partition ``parts[k]``)."""
    kept = [(i, pl.from_arrow(p)) for i, p in zip(parts, pieces, strict=True) if p.num_rows]
    if not kept:
        return _no_warnings(meta)
    # pieces in input-partition order, each in input order: the rows ascend already
    rows = np.concatenate([offsets[i] + p[_POS].to_numpy().astype(np.int64) for i, p in kept])
    exams = pl.concat([p.drop(_POS) for _, p in kept], how="vertical_relaxed", rechunk=True)
    return _patients(exams, rows, thresholds, window_days)


def _combine_frame(
    pdf: pd.DataFrame,
    offsets: np.ndarray,
    thresholds: tuple[float, ...],
    window_days: tuple[int, ...] | None,
    meta: pd.DataFrame,
) -> tuple[pd.DataFrame, _MergedWarnings]:
    """:func:`_combine` of a partition of exams carrying their input partition and position
    (from Dask's shuffle, or an input partition that holds all its patients' exams)."""
    if len(pdf) == 0:
        return _no_warnings(meta)
    exams = _converted(pdf)
    rows = offsets[exams[_PART].to_numpy()] + exams[_POS].to_numpy().astype(np.int64)
    from recurct.outofcore import in_input_order

    exams, rows = in_input_order(exams.drop(_PART, _POS, _KEY, strict=False), rows)
    return _patients(exams, rows, thresholds, window_days)


def _keyed(
    pdf: pd.DataFrame, partition_info: dict | None = None, text: bool = False
) -> pd.DataFrame:
    """The exams of one input partition with their partition number and position in it; with
    ``text`` (text ids, to be shuffled), the hash of each id as the identity rules compare it
    (:func:`_destination`), which the shuffle groups by: ``" A"`` and ``"A"`` together. The
    partition is in the dtypes every partition shares (:func:`_widened_pandas`), which the
    shuffle joins without changing a value."""
    part = partition_info["number"] if partition_info else 0
    pdf = _widened_pandas(pdf, part)
    if text:
        ids = _converted(pdf[["patient_id"]], part)["patient_id"]
        extra = {_KEY: _id_hash(ids).to_numpy()}
    else:
        extra = {}
    return pdf.assign(
        **{
            _PART: np.full(len(pdf), part, dtype=np.int32),
            _POS: np.arange(len(pdf), dtype=np.int64),
            **extra,
        }
    )


@renamed(ddf="exams")
def cumulative_dose(
    exams: Any,
    thresholds: Sequence[float] | float = (100.0,),
    window_days: Sequence[int] | int | None = None,
    *,
    partitioned_by_patient: bool = False,
    buckets: int | None = None,
) -> dd.DataFrame:
    """The patients table of a Dask DataFrame of exams, computed partition by partition.

    Parameters
    ----------
    exams
        ``dask.dataframe.DataFrame`` with the canonical exam columns (``patient_id``,
        ``exam_date``, ``effective_dose_msv``; ``age_years``, ``sex``, ``facility``,
        ``indication`` are used where present; other columns are not read).
    thresholds, window_days
        As for :func:`recurct.cumulative_dose`.
    partitioned_by_patient
        Declare that every patient's exams already lie in a single partition (e.g. the data
        were written partitioned by patient); nothing then moves, and each partition is
        computed on its own after one pass that counts the rows of every partition. A wrong
        declaration gives wrong results, so only use it when it is guaranteed.
    buckets
        Number of patient-hash buckets, i.e. partitions of the patients table (each holds the
        exams of its patients while it is computed): default as many as ``exams`` has
        partitions, so that one needs about the memory of an input partition. Ignored with
        ``partitioned_by_patient``.

    Returns
    -------
    dask.dataframe.DataFrame
        The patients table (lazy). Bad exams (a null or too large ``patient_id``, a null
        date, a null, negative, NaN or infinite dose) raise at ``compute()`` a
        :class:`~recurct.errors.DataError` (a ``ValueError``) naming their rows in the input
        (0-based, in the order of the partitions), not in their partition: the first kind of
        problem in the in-memory order, its smallest input rows (up to ten) and how many
        there are, whichever partitions they lie in, in the words of the in-memory error.
        To find them, ``compute()`` (and :func:`magnitude`) make one more pass over the
        input's partitions, on that error path only; other computations of the table
        (``client.compute``, ``to_parquet``, a selection) raise the failing partition's
        error, which names only its own bad rows. A text or categorical ``patient_id`` in
        scientific notation (``1,23457E+11``, as a spreadsheet shows a long number: possibly
        several patients) is a missing id, as in memory: ``compute()`` gives the
        :class:`~recurct.errors.IdentifierWarning` of the identity rules naming those rows of
        the input, then raises the error of null ids. Each patient appears exactly once; rows
        are sorted by ``patient_id`` within a partition, not globally. ``.compute()`` gives a
        pandas frame equal, after sorting by ``patient_id`` (``sort_values("patient_id",
        ignore_index=True)``), to ``recurct.cumulative_dose`` on the whole table as one
        pandas frame: the same values and dtypes (``Int64``, ``boolean``, ``datetime64[ms]``,
        ``float64``, text ``object``, whatever Dask's ``dataframe.convert-string``).
        Partitions may differ in dtype as files do: integer ids of any width (``UInt64``
        beside ``Int64``) are read as ``Int64``, ``float32`` doses and ages beside
        ``float64`` ones as written (a ``float32`` 33.3 is 33.3), as out of core reads
        such files; so integer ids always come back ``Int64`` (in memory, ``int32`` or
        ``uint64`` ids keep their dtype). Its warnings (ids with surrounding whitespace,
        unreadable ages, any other) are returned by each partition as data beside its
        table and given once,
        merged as in memory, on the client by the first ``compute()`` of this table (or of
        its ``persist()``-ed copy) or :func:`magnitude` on it, at the line of that call,
        whatever the scheduler;
        ``client.compute``, ``to_parquet`` or a selection of the table do not give them.

    Raises
    ------
    ParameterError, DataError
        At the call, what :func:`recurct.cumulative_dose` refuses from the columns' dtypes,
        with its messages, read from the Dask meta: a column name given twice, a missing
        required column, a ``patient_id`` neither text nor integer, an ``exam_date`` neither
        a date nor a datetime, a non-numeric ``effective_dose_msv``, a patient attribute of
        a type that cannot be one. A column of Python objects (pandas ``object``: its type
        is per value) is checked in each partition at ``compute()``, by the in-memory code.
        ``exams`` not a Dask DataFrame, bad ``thresholds``, ``window_days`` or ``buckets``.

    Notes
    -----
    Each input partition is converted to polars once and split by a hash of the patient id
    into one piece per output partition; each output partition concatenates its pieces in
    input order and runs the in-memory computation, which keeps ties in time in input order.
    Pieces that stay on their worker are never serialised. Where input x output partitions
    exceed :data:`MAX_PIECES` (a graph too large for the scheduler), the exams go through
    Dask's own shuffle instead, with their partition number and position.
    """
    dd = _dd()
    import dask

    fn = "recurct.distributed.cumulative_dose"  # the arguments read as in memory
    thr = tuple(_checks.thresholds(thresholds, fn).tolist())
    win = tuple(_checks.window_days(window_days, fn).tolist()) or None
    if not isinstance(exams, dd.DataFrame):
        raise ParameterError(
            "recurct.distributed.cumulative_dose: exams must be a dask.dataframe.DataFrame, "
            f"not {type(exams).__name__}; for a table in memory use recurct.cumulative_dose"
        )
    _no_repeats(list(exams.columns))  # as in memory, before a column is selected
    missing = [c for c in REQUIRED_COLUMNS if c not in exams.columns]
    if missing:
        raise DataError(f"recurct.distributed.cumulative_dose: missing column(s) {missing}")
    exams = exams[[c for c in USED_COLUMNS if c in exams.columns]]
    n_in = exams.npartitions
    n_out = 1 if partitioned_by_patient else int(n_in if buckets is None else buckets)
    if n_out < 1:
        raise ParameterError(f"recurct.distributed.cumulative_dose: buckets={buckets} < 1")

    _check_meta(exams._meta, fn)  # the in-memory dtype checks, before the fake row
    first = _widened(_from_pandas(_fake_row(exams._meta)), None)  # (as every partition)
    rows0 = np.zeros(1, dtype=np.int64)
    meta = _patients(first, rows0, thr, win)[0].iloc[:0]  # (a fake row's warnings: dropped)

    if partitioned_by_patient or n_in * n_out > MAX_PIECES:
        text = not partitioned_by_patient and not pd.api.types.is_integer_dtype(
            exams._meta["patient_id"].dtype
        )
        keyed = exams.map_partitions(
            _keyed, text=text, meta=_keyed(exams._meta, text=text), align_dataframes=False
        )
        if partitioned_by_patient:
            # the input rows of each partition's exams first (a pass over the partitions), so
            # that each partition is then computed on its own as soon as it is read
            offsets: Any = _offsets(exams.map_partitions(len).compute())
        else:
            offsets = dask.delayed(_offsets)(exams.map_partitions(len))
            keyed = keyed.shuffle(on=_KEY if text else "patient_id", npartitions=n_out)
        combine_frame = dask.delayed(_combine_frame, nout=2)
        outs = [combine_frame(p, offsets, thr, win, meta) for p in keyed.to_delayed()]
    else:
        split = [
            dask.delayed(_split, nout=n_out + 1)(p, n_out, i)
            for i, p in enumerate(exams.to_delayed())
        ]
        offsets = dask.delayed(_offsets)([s[n_out] for s in split])
        combine = dask.delayed(_combine, nout=2)
        parts = list(range(n_in))
        outs = [
            combine([s[j] for s in split], parts, offsets, thr, win, meta) for j in range(n_out)
        ]
    # each partition gives its table and its warnings as data: the tables make the result,
    # whose compute() gives the warnings of all the partitions once, on the client
    tables = _from_delayed([t for t, _ in outs], meta)
    return _patients_frame(tables, [w for _, w in outs], exams)


@renamed(threshold="thresholds")
def magnitude(
    patients: Any,
    thresholds: float | Sequence[float] = 100.0,
    by: str | Sequence[str] | None = None,
    **kwargs: Any,
) -> pl.DataFrame:
    """The magnitude table of a Dask patients table, exact, without collecting all patients.

    Counts (patients, exams) are computed by a reduction on the cluster; the patients at or
    above the threshold (a small subset: 1-2 % in published cohorts) are collected to the
    client, where :func:`recurct.stats.magnitude` computes their medians, quartiles, extremes
    and shares exactly. The share and its confidence interval then use the reduced counts.

    Parameters
    ----------
    patients
        Dask DataFrame from :func:`cumulative_dose` (must hold ``reached_T`` for each
        threshold).
    thresholds
        Threshold(s) in mSv; several give one block per threshold, as in
        :func:`recurct.stats.magnitude`.
    by
        Stratification column(s), as in :func:`recurct.stats.magnitude`.
    **kwargs
        ``ci``, ``alpha``, ``age_cut`` as in :func:`recurct.stats.magnitude` (the cluster
        bootstrap needs all patients and is not available here).

    Returns
    -------
    polars.DataFrame
        The magnitude table, equal to ``recurct.stats.magnitude(patients.compute(), ...)``.

    Raises
    ------
    ParameterError
        ``patients`` is not a Dask DataFrame (a table in memory: use
        :func:`recurct.stats.magnitude`), lacks ``reached_T`` for a threshold, or the cluster
        bootstrap is asked for.
    """
    dd = _dd()
    if not isinstance(patients, dd.DataFrame):
        raise ParameterError(
            "recurct.distributed.magnitude: patients must be a dask.dataframe.DataFrame (from "
            f"recurct.distributed.cumulative_dose), not {type(patients).__name__}; for a table "
            "in memory use recurct.stats.magnitude"
        )
    if kwargs.get("cluster") is not None or kwargs.get("ci") == "bootstrap":
        raise ParameterError("the cluster bootstrap needs every patient: compute() the table first")
    ts = _checks.some_thresholds(thresholds, "distributed.magnitude")
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    blocks = [_magnitude_one(patients, t, cols, kwargs) for t in ts]
    return pl.concat(blocks, how="vertical_relaxed")


def _magnitude_one(
    patients: Any, threshold: float, cols: list[str], kwargs: dict[str, Any]
) -> pl.DataFrame:
    """The magnitude block of one threshold (see :func:`magnitude`)."""
    from recurct.stats import magnitude as stats_magnitude
    from recurct.stats.proportion import proportion_ci

    reached = f"reached_{param_label(threshold)}"
    if reached not in patients.columns:
        raise ParameterError(f"patients table has no column {reached!r}; recompute with threshold")

    # the patients >= T, plus one patient below T per stratum so that every stratum (and the
    # "all" row) appears in the table even where nobody reached T; their counts are replaced
    # by the reduced ones below, and statistics among patients >= T ignore them.
    flag = patients[reached]
    # (with the warnings of the patients table, if not given yet: once, here)
    high = _compute_warned(patients[flag], patients)
    below = patients[~flag]
    if cols:
        reps = below.drop_duplicates(subset=cols, split_out=1).compute()
    else:
        reps = below.head(1, npartitions=-1)
    subset = pl.from_pandas(pd.concat([high, reps], ignore_index=True), include_index=False)
    if subset.height == 0:
        raise DataError("the patients table is empty")
    table = stats_magnitude(subset, thresholds=threshold, by=cols or None, **kwargs)

    if cols:
        str_cols = {c: patients[c].astype("string") for c in cols}
        counts = (
            patients.assign(**str_cols)
            .groupby(cols, dropna=False)
            .agg({"patient_id": ["count", "min"], "n_exams": "sum"})
            .compute()
        )
        counts.columns = ["n_patients", "_first_id", "n_exams"]
        table = _with_stratum_counts(table, pl.from_pandas(counts.reset_index()), cols)
    else:
        n_patients = int(patients["patient_id"].count().compute())
        n_exams = int(patients["n_exams"].sum().compute())
        table = table.with_columns(
            pl.lit(n_patients, dtype=pl.Int64).alias("n_patients"),
            pl.lit(n_exams, dtype=pl.Int64).alias("n_exams"),
        )
    n = table["n_patients"].to_numpy()
    k = table["n_reached"].to_numpy()
    lo, hi = proportion_ci(k, n, alpha=kwargs.get("alpha", 0.05), ci=kwargs.get("ci", "wilson"))
    table = table.with_columns(
        pl.Series("share", k / n, dtype=pl.Float64),
        pl.Series("share_lo", np.asarray(lo, dtype=np.float64)),
        pl.Series("share_hi", np.asarray(hi, dtype=np.float64)),
    )
    order = [*cols, *[c for c in _magnitude_columns() if c in table.columns]]
    return table.select(order)


def _with_stratum_counts(
    table: pl.DataFrame, counts: pl.DataFrame, cols: list[str]
) -> pl.DataFrame:
    """The reduced counts joined on the strata of ``table``, whose strata rows are put in the
    order of :func:`recurct.stats.magnitude` on the patients table of
    :func:`recurct.cumulative_dose` (sorted by ``patient_id``): the order of each stratum's
    first patient, null strata last."""
    counts = counts.with_columns(pl.col(c).cast(pl.Utf8) for c in cols)
    order = counts.sort([*(pl.col(c).is_null() for c in cols), "_first_id"]).select(cols)
    all_row = counts.select(
        *(pl.lit("all", dtype=pl.Utf8).alias(c) for c in cols),
        pl.col("n_patients").sum(),
        pl.col("n_exams").sum(),
    )
    counts = pl.concat([counts.drop("_first_id"), all_row], how="vertical_relaxed")
    table = table.drop("n_patients", "n_exams").join(
        counts, on=cols, how="left", nulls_equal=True, maintain_order="left"
    )
    strata = order.join(
        table.slice(1), on=cols, how="left", nulls_equal=True, maintain_order="left"
    )
    return pl.concat([table.slice(0, 1), strata], how="vertical_relaxed")


def _magnitude_columns() -> tuple[str, ...]:
    from recurct.stats._magnitude import MAGNITUDE_COLUMNS

    return MAGNITUDE_COLUMNS
