"""Conversion between the frame libraries users hand us and the polars frames used inside.

Every public entry point accepts pandas, polars (eager or lazy) or pyarrow tables and, where
the caller gave pandas, returns pandas (DESIGN.md: "pandas and pyarrow accepted at every public
entry point and, where the caller gave pandas, pandas returned").
"""

from __future__ import annotations

import functools
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import polars as pl
import polars.selectors as cs

from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, IdentifierWarning, ParameterError

FrameKind = Literal["polars", "pandas", "arrow", "lazy"]

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    #: What a public function returns for a table: pandas for pandas input, else polars.
    Frame: TypeAlias = pl.DataFrame | pd.DataFrame

PLACEHOLDER_IDS: tuple[str, ...] = (
    "",
    "-",
    "?",
    "NULL",
    "(null)",
    "None",
    "nan",
    "NaN",
    "NaT",
    "NA",
    "N/A",
    "N.A.",
    "#N/A",
    "#NA",
    "#NV",
    "<NA>",
    "unknown",
)
"""Text that stands for a missing identifier (``patient_id``, ``study_uid``), compared after
surrounding whitespace is removed, as listed or in upper, lower or title case: empty text,
``-``, ``?``, ``NULL``, ``(null)``, ``None`` (Python), ``nan`` / ``NaN`` (what
``astype(str)`` makes of a pandas NaN), ``NaT``, ``NA``, ``N/A``, ``N.A.``, ``#N/A`` (Excel),
``#NA``, ``#NV`` (German Excel), ``<NA>`` (pandas) and ``unknown``. :func:`recurct.validate`
and :func:`recurct.read_exams` take ``placeholder_ids=`` to use another list; every other
public function uses this one.
"""

#: The labels (Utf8) of an Enum or Categorical id column and the code of each row, an index
#: into the labels, or ``None`` for an Enum's whole category list (its physical codes index
#: it): see :func:`clean_frame`, :func:`to_polars_coded` and ``cumulative._enum_ids``.
IdCategories: TypeAlias = "tuple[pl.Series, np.ndarray | None]"

#: Identifier columns: placeholders become null, surrounding whitespace is removed.
ID_COLUMNS: tuple[str, ...] = ("patient_id", "study_uid")

#: What surrounding "whitespace" of an id means: every Unicode White_Space character (what
#: the regex class ``\s`` of polars matches: U+0009-U+000D, U+0020, U+0085, U+00A0, U+1680,
#: U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) and NUL; the ids are stripped of
#: exactly these (:func:`id_key`), the same set the check below finds
ID_SPACES = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\x00"
)
_WS = r"^[\s\x00]|[\s\x00]$"

#: A patient id as a spreadsheet shows a long number, in scientific notation (``1,23457E+11``
#: for the MRN 123456789012, ``1.23457e+11``): its last digits are lost, so one such id may
#: be several patients'. The identity rules make it a missing id (:func:`scientific_ids`).
#: ``AB1E+5``, ``1E5``, hex pseudonyms, base64 and UUIDs are not such numbers.
SCIENTIFIC_ID = r"^[0-9](?:[.,][0-9]+)?[eE]\+[0-9]+$"
_SCIENTIFIC = re.compile(SCIENTIFIC_ID)

#: What :func:`clean_frame` calls with the ids in scientific notation it makes missing:
#: ``(column, 0-based rows, the ids as written on those rows)``, instead of its own
#: :class:`IdentifierWarning` (for a reader that names the file and its lines).
LostIds: TypeAlias = Callable[[str, np.ndarray, pl.Series], None]


def frame_kind(obj: Any) -> FrameKind:
    """Return which frame library ``obj`` belongs to, or raise ``TypeError``."""
    if isinstance(obj, pl.DataFrame):
        return "polars"
    if isinstance(obj, pl.LazyFrame):
        return "lazy"
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        return "pandas"
    if mod.startswith("pyarrow"):
        return "arrow"
    raise ParameterError(
        f"expected a polars, pandas or pyarrow table, got {type(obj).__name__}; "
        "read files with recurct.read_exams() first"
    )


def to_polars(
    obj: Any,
    *,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    clean: bool = True,
    decimal: str | None = None,
) -> tuple[pl.DataFrame, FrameKind]:
    """Return ``(polars DataFrame, kind of the input)`` for any supported frame.

    The one entry point of every public function, so the identity rules hold everywhere:
    ``patient_id`` and ``study_uid`` text equal to a placeholder (:data:`PLACEHOLDER_IDS`, or
    ``placeholder_ids``) becomes null, surrounding whitespace is removed with a counted
    :class:`IdentifierWarning`, a text (or categorical) patient id in scientific notation
    (:data:`SCIENTIFIC_ID`, ``1,23457E+11``: digits lost) becomes null with an
    :class:`IdentifierWarning` naming the rows, float patient ids that are whole numbers
    below 2^53 (2^24 for float32) become Int64 (others, which a float may no longer hold
    exactly, are left for :func:`recurct.validate` to name), and NaN ages (``age_*`` float
    columns) and NaN float ``study_uid`` values become null as they do from pandas.
    Conversions that fail (repeated column names, a pandas column mixing numbers and text,
    unsigned ids above the Int64 range) raise ``ValueError`` naming the column and the first
    offending row. ``clean=False`` skips the identity and age rules (for a caller that
    applies :func:`clean_frame` itself and reports the values as given). ``decimal``: the
    decimal mark the caller reads text numbers by (:func:`recurct.read_exams`' ``decimal=``),
    which the Python numbers of a pandas ``object`` dose or age column are written with
    (:func:`objects_as_text`); None: each such column's text cells decide.
    """
    obj = _unwrap(obj)
    kind = frame_kind(obj)
    if kind == "polars":
        df = obj
    elif kind == "lazy":
        try:
            df = obj.collect()
        except Exception as exc:  # polars raises many kinds on a bad plan or file
            raise DataError(f"could not collect the LazyFrame: {exc}") from exc
    elif kind == "pandas":
        df = _from_pandas(obj, decimal)
    else:
        names = list(getattr(obj, "column_names", []))
        _no_repeats(names)
        try:
            df = pl.from_arrow(obj)  # type: ignore[assignment]
        except Exception as exc:
            raise DataError(f"could not convert the pyarrow table: {exc}") from exc
        if isinstance(df, pl.Series):
            df = df.to_frame()
    return (clean_frame(df, placeholder_ids) if clean else df), kind


def to_polars_coded(obj: Any) -> tuple[pl.DataFrame, FrameKind, dict[str, IdCategories]]:
    """:func:`to_polars` (cleaned), and what was read of each ``Enum`` or ``Categorical`` id
    column left as it is (see :func:`clean_frame`), for a caller that factorises the ids.
    An ``Enum`` ``patient_id`` is left unscreened: the caller screens the labels it reads
    (:func:`ids_need_cleaning`) and, if some need cleaning, cleans the column
    (:func:`clean_id_column`) before anything else reads it.

    A pandas ``Categorical`` ``patient_id`` of text categories is read through its codes and
    categories: its rows become text by one gather of the categories, and ``(categories,
    codes)`` is returned, the codes indexing the categories. Converting it to a polars
    ``Categorical`` instead costs about 2 s for 5 million categories (each is entered in
    polars' process-wide string cache). Missing ids, categories to clean and other
    categories take the general path (which cleans or refuses them as usual).
    """
    categories: dict[str, IdCategories] = {}
    obj = _unwrap(obj)
    got = _pandas_category_ids(obj) if frame_kind(obj) == "pandas" else None
    if got is None:
        df, kind = to_polars(obj, clean=False)
        return clean_frame(df, None, categories, ("patient_id",)), kind, categories
    labels, codes = got
    where = [str(c) for c in obj.columns].index("patient_id")
    rest, kind = to_polars(obj.drop(columns="patient_id"), clean=False)
    rest = clean_frame(rest, None, categories)
    categories["patient_id"] = (labels, codes)
    return rest.insert_column(where, labels.gather(codes)), kind, categories


def _unwrap(obj: Any) -> Any:
    """The exams of a :class:`recurct.io.ReadResult`, anything else as it is."""
    return getattr(obj, "exams", obj) if type(obj).__name__ == "ReadResult" else obj


def _pandas_category_ids(obj: Any) -> tuple[pl.Series, np.ndarray] | None:
    """``(categories as Utf8, int64 codes)`` of a pandas ``Categorical`` ``patient_id`` of
    clean text categories and no missing value, else ``None``; with fewer rows than
    categories, only the categories used (the codes renumbered, in the same order)."""
    import pandas as pd
    import pyarrow as pa

    names = [str(c) for c in obj.columns]
    if len(set(names)) != len(names) or "patient_id" not in names:
        return None  # repeated names: the general path names them
    col = obj["patient_id"]
    if not isinstance(col.dtype, pd.CategoricalDtype) or not len(col):
        return None
    codes = col.cat.codes.to_numpy().astype(np.int64)
    if codes.min() < 0:
        return None
    cats = col.cat.categories
    if codes.size < len(cats):
        # fewer rows than categories (a subset of a prepared table): only the categories
        # used, in their order (10^4 rows of 5.2 million categories: 230 ms to read them all),
        # coded as integer ids are
        from recurct._codes import int_codes

        got = int_codes(codes)  # (None only for a span past 2^62)
        if got is not None:
            codes, _, used = got
            cats = cats[used]
    try:
        arrow = pa.Array.from_pandas(cats)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        return None
    labels = pl.Series("patient_id", arrow).cast(pl.Utf8)
    if _needs_cleaning(labels, None, patient=True):
        return None
    return labels, codes


def _no_repeats(names: list[Any]) -> None:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if str(n) in seen:
            raise DataError(
                f"column {str(n)!r} appears twice (columns {seen[str(n)]} and {i}, 0-based); "
                "rename or drop one of them"
            )
        seen[str(n)] = i


def _from_pandas(obj: Any, decimal: str | None = None) -> pl.DataFrame:
    """A pandas frame as polars. A column polars cannot type (numbers mixed with text, what
    ``pd.read_excel`` gives for a column with an ``n.a.`` cell) is read as text when it is an
    optional attribute (``age_years``, ``ctdivol_mgy``, ``sex``, ``facility``, ...), its
    missing values (``None``, NaN, ``NaT``, ``pd.NA``) null (:func:`objects_as_text`; a
    number of a dose or age column as plain decimal text read as that number, whatever the
    column's text cells show of their decimal mark, with ``decimal`` where given), so that
    validation judges each cell as it does a CSV file's (a bad one set null with
    ``strict=False``, the exam kept), and a function that never reads the column does not
    fail on it. A required column (``patient_id``, ``exam_date``, ``effective_dose_msv``) or
    ``study_uid`` mixing types is an error naming its first odd row (is the integer ``1`` the
    patient ``"01"``? the user says which); any other column is carried through as it is
    (polars ``Object``)."""
    _no_repeats(list(obj.columns))
    try:
        return pl.from_pandas(obj, include_index=False)
    except Exception as exc:  # pyarrow ArrowInvalid / ArrowTypeError, polars errors
        from recurct.schema import DOSE_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

        refused = {*REQUIRED_COLUMNS, *ID_COLUMNS}
        attributes = set(OPTIONAL_COLUMNS) - refused
        numeric = {*DOSE_COLUMNS, "age_years"}  # recurct._casts.NUMBER_COLUMNS
        kept: dict[str, pl.Series] = {}
        for name in obj.columns:
            try:
                pl.from_pandas(obj[[name]], include_index=False)
            except Exception:
                if str(name) in refused:
                    raise DataError(_mixed_column(obj[name], str(name))) from exc
                if str(name) in attributes:
                    values = obj[name].tolist()
                    number = str(name) in numeric
                    kept[str(name)] = objects_as_text(values, str(name), number, decimal)
                else:
                    kept[str(name)] = pl.Series(str(name), obj[name].tolist(), dtype=pl.Object)
        if not kept:
            raise DataError(f"could not convert the pandas frame: {exc}") from exc
        rest = pl.from_pandas(obj.drop(columns=list(kept)), include_index=False)
        return rest.with_columns(kept.values()).select([str(c) for c in obj.columns])


def objects_as_text(
    values: Iterable[Any], name: str, numbers: bool = False, decimal: str | None = None
) -> pl.Series:
    """Python values (a pandas ``object`` column's, a polars ``Object`` column's) as a
    ``Utf8`` Series ``name``: text as it is, bytes decoded (their ``repr`` when they are not
    UTF-8), a missing value (:func:`is_missing_object`) null, anything else by ``str``.

    ``numbers`` (a dose or age column, read by the rule of numbers in text,
    :func:`recurct._casts.numeric_text`): a Python or numpy number (``int``, ``float``,
    ``Decimal``, numpy integers and floats; not a bool, which stays the text ``"True"``, no
    number) is written as plain decimal text that the rule reads as exactly that number,
    whatever the column's text cells show, and that never decides their decimal mark
    (:func:`_numbers_as_text`): ``300.125`` beside ``"250,5"`` is ``"300,125"`` (300.125, not
    300125), beside ``"12.5"``, ``"n.a."`` or nothing ``"300.125"``. ``decimal`` (``","`` or
    ``"."``: :func:`recurct.read_exams`' ``decimal=``) is the mark the column will be read
    by; None: the one its text cells decide (:func:`recurct._casts.column_mark`). The one
    reader of such values for every function (:func:`to_polars` of a pandas frame, the DRL
    comparisons of a polars ``Object`` column)."""

    def text(v: Any) -> str | None:
        if isinstance(v, str):
            return v
        if isinstance(v, bytes):
            try:
                return v.decode()
            except UnicodeDecodeError:
                return repr(v)
        if is_missing_object(v):
            return None
        return str(v)

    values = list(values)
    cells = [text(v) for v in values]  # a number's text replaced below
    at = [i for i, v in enumerate(values) if _is_number(v) and cells[i] is not None]
    at = at if numbers else []
    for i in at:
        cells[i] = None  # the text cells alone decide their mark
    if at:
        written = _numbers_as_text([values[i] for i in at], cells, decimal)
        for i, w in zip(at, written, strict=True):
            cells[i] = w
    return pl.Series(name, cells, dtype=pl.Utf8)


def _numbers_as_text(numbers: list[Any], cells: list[str | None], decimal: str | None) -> list[str]:
    """The Python ``numbers`` of a dose or age column whose text cells are ``cells`` (None
    where a number or a missing value is), as text that the rule of numbers in text reads as
    each number, without changing how it reads the text cells (:func:`objects_as_text`).

    Each number as plain decimal text (:func:`_plain_number`, ``300.125``), with the mark the
    column is read by: ``decimal`` where given, else the one the text cells decide
    (:func:`recurct._casts.column_mark`): a comma where they decide a decimal comma
    (``300,125``), else a point. Two cases need more: a number with one mark before exactly
    three digits (``300.125``) in a column that, numbers included, decides no mark would be
    ambiguous: it is written with a trailing zero (``300.1250``); and where the text cells
    decide no mark and hold such ambiguous numbers themselves (``"1,234"``), a number with a
    mark would decide theirs, so each number is written without one, by its digits and an
    exponent (:func:`number_as_text`: ``300125e-3``). (A number written so is shown so in
    messages and returned columns.)"""
    from recurct._casts import column_mark, could_be_either, null_text

    def marks(s: pl.Series) -> tuple[pl.DataFrame, bool, bool]:
        frame = s.to_frame("v").select(null_text(pl.col("v")).alias("v"))
        v = pl.col("v")
        comma, point = frame.select(
            c=v.str.contains(",", literal=True).any(), p=v.str.contains(".", literal=True).any()
        ).row(0)
        return frame, bool(comma), bool(point)

    text = pl.Series("v", cells, dtype=pl.Utf8)
    mark = decimal
    if decimal not in (",", "."):
        frame, comma, point = marks(text)
        mark = column_mark(frame, comma) if comma or point else "."
        if mark is None and could_be_either(frame.to_series()).any():
            return [number_as_text(n) for n in numbers]
    plain = [_plain_number(n) for n in numbers]
    if mark == ",":
        return [p.replace(".", ",") for p in plain]
    if decimal == ".":
        return plain
    combined, comma, point = marks(pl.concat([text, pl.Series("v", plain, dtype=pl.Utf8)]))
    if not (comma or point) or column_mark(combined, comma) == ".":
        return plain
    either = could_be_either(pl.Series("v", plain, dtype=pl.Utf8)).to_list()
    return [p + "0" if e else p for p, e in zip(plain, either, strict=True)]


def _plain_number(value: int | float | Decimal | np.integer | np.floating) -> str:
    """One number as plain decimal text with a point, as Python writes it: an integer's
    digits, a float's shortest decimal in its own precision (``300.125``; a float32 12.3 is
    ``12.3``; ``1e+20`` as Python writes it), a ``Decimal`` as written (``300.1250``),
    ``inf`` or ``-inf``."""
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, Decimal):
        if value.is_infinite():
            return "-inf" if value.is_signed() else "inf"
        return str(value)
    if np.isinf(value):
        return "-inf" if value < 0 else "inf"
    return str(value)


def is_missing_object(value: Any) -> bool:
    """Whether one Python value of an ``object`` column is a missing value: ``None``, a NaN
    (a Python, numpy or ``Decimal`` one), ``pd.NA`` or ``pd.NaT``."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(value != value)
    if isinstance(value, Decimal):
        return value.is_nan()
    kind = type(value)
    return kind.__module__.startswith("pandas") and kind.__name__ in ("NAType", "NaTType")


def _is_number(value: Any) -> bool:
    """A Python or numpy integer or float, or a ``Decimal``; not a bool."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, int | float | Decimal | np.integer | np.floating)


def number_as_text(value: int | float | Decimal | np.integer | np.floating) -> str:
    """One number as text that the rule of numbers in text
    (:func:`recurct._casts.numeric_text`) reads as that number and only as it, in any column:
    a sign, digits and a decimal exponent, never a ``.`` or a ``,``, so that it is neither
    read by nor counted in the column's decision on its decimal mark (``300`` for 300.0,
    ``300125e-3`` for 300.125, ``-55e-1`` for -5.5, ``1e20``, ``inf``). A float by its
    shortest decimal in its own precision (a float32 12.3 is ``123e-1``), as
    :func:`recurct._casts.as_written` reads a float32 column; an integer or a ``Decimal``
    exactly."""
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, Decimal):
        number = value
    elif np.isinf(value):
        return "-inf" if value < 0 else "inf"
    else:  # str: the shortest decimal of a Python float, or of a numpy float in its precision
        number = Decimal(str(value))
    if number.is_infinite():
        return "-inf" if number.is_signed() else "inf"
    sign, digits, exponent = number.as_tuple()
    written = "".join(map(str, digits)).lstrip("0")
    if not written:
        return "-0" if sign else "0"
    exponent = int(exponent) + len(written) - len(written.rstrip("0"))
    written = written.rstrip("0")
    if exponent >= 0 and len(written) + exponent <= 21:
        written += "0" * exponent  # a whole number as its digits
    elif exponent:
        written += f"e{exponent}"
    return ("-" if sign else "") + written


def _mixed_column(col: Any, name: str) -> str:
    """Name the first row whose Python type differs from the column's first value."""
    first_type = None
    for pos, v in enumerate(col.tolist()):
        if v is None or (isinstance(v, float) and v != v):
            continue
        if first_type is None:
            first_type, first_pos, first_v = type(v), pos, v
        elif not isinstance(v, first_type) and not (
            isinstance(v, int | float) and issubclass(first_type, int | float)
        ):
            return (
                f"column {name!r}: row {pos} holds {type(v).__name__} {v!r} but row {first_pos} "
                f"{first_type.__name__} {first_v!r} (0-based); make the column one type, e.g. "
                f"all text (df[{name!r}].astype('string'))"
            )
    return f"column {name!r}: values of a type polars cannot read"


def clean_frame(
    df: pl.DataFrame,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    categories: dict[str, IdCategories] | None = None,
    deferred: tuple[str, ...] = (),
    lost: LostIds | None = None,
) -> pl.DataFrame:
    """The identity and age rules of :func:`to_polars` on a polars frame (an ``Enum`` id
    column named in ``deferred`` is not screened: see :func:`to_polars_coded`). ``lost``:
    called with the patient ids in scientific notation made missing, instead of the
    :class:`IdentifierWarning` this gives (:data:`LostIds`). ``categories``:
    a dict that receives, for each ``Enum`` or ``Categorical`` id column left as it is,
    ``(labels, codes)``: an Enum's categories (Utf8) and ``None`` (its physical codes index
    them), or a Categorical's distinct values and the dense code of each row
    (:func:`recurct._codes.category_codes`), so that the caller does not read them again
    (about 0.1 s for 5 million)."""
    cleaned = (
        _clean_id(df, n, placeholder_ids, categories, n in deferred, lost) for n in ID_COLUMNS
    )
    updates = [s for s in cleaned if s is not None]
    # selectors, not df.schema: the dtype of an Enum of millions of categories is slow to read
    for name in df.select(cs.starts_with("age_") & cs.float()).columns:
        s = df.get_column(name)
        if s.is_nan().any():
            updates.append(s.fill_nan(None))
    return df.with_columns(updates) if updates else df


def is_enum(s: pl.Series) -> bool:
    """Whether ``s`` is an ``Enum``, without reading ``s.dtype`` (which builds the whole
    category list in Python: about 0.3 s for 5 million categories)."""
    return s.to_frame().select(cs.enum()).width == 1


def enum_categories(s: pl.Series) -> pl.Series:
    """The categories of the ``Enum`` ``s`` in their order, as Utf8 (through the Arrow
    dictionary of string views: a third of the cost of ``s.dtype.categories``)."""
    arrow = s.head(0).to_arrow(compat_level=pl.CompatLevel.newest())
    return pl.Series(s.name, arrow.dictionary).cast(pl.Utf8)


def _clean_id(
    df: pl.DataFrame,
    name: str,
    placeholder_ids: tuple[str, ...] | list[str] | None,
    categories: dict[str, IdCategories] | None = None,
    defer_enum: bool = False,
    lost: LostIds | None = None,
) -> pl.Series | None:
    if name not in df.columns:
        return None
    s = df.get_column(name)
    enum = is_enum(s)
    if enum and defer_enum:
        return None
    dtype = pl.Utf8 if enum else s.dtype  # an Enum's dtype is not read (slow): see is_enum
    big = np.iinfo(np.int64)
    above = dtype in (pl.UInt64, pl.Int128) and s.len() and (s.max() or 0) > big.max
    below = dtype == pl.Int128 and s.len() and (s.min() or 0) < big.min
    if above or below:
        outside = (s > big.max) | (s < big.min) if below else s > big.max
        row = int(np.flatnonzero(outside.fill_null(False).to_numpy())[0])
        raise DataError(
            f"{_public_caller()}: column {name!r}: row {row} (0-based) holds {s[row]}, "
            f"{OUTSIDE_INT64}"
        )
    if dtype.is_float() and name == "patient_id":
        return _integral_ids(s)
    if dtype.is_float():  # a float study_uid: NaN is no UID, as a placeholder is
        return s.fill_nan(None) if s.is_nan().any() else None
    patient = name == "patient_id"  # (ids in scientific notation: patient ids only)
    if enum or dtype == pl.Categorical:
        # an Enum's categories (a superset of those used), a Categorical's distinct values
        # (its dtype's categories are the process-wide ones, iterated in Python: 1.6 s for 5M)
        from recurct._codes import category_codes

        codes: np.ndarray | None = None
        if enum:
            cats = enum_categories(s)
        elif (got := category_codes(s)) is not None:
            codes, cats = got
        else:
            cats = s.unique().cast(pl.Utf8)
        needs = _needs_cleaning(cats, placeholder_ids, patient)
        text = s.cast(pl.Utf8) if needs else None
        if text is None or not _needs_cleaning(text, placeholder_ids, patient):
            # nothing to clean, or only categories that no row uses: the column as it is
            if categories is not None and (enum or codes is not None):
                categories[name] = (cats, codes)
            return None
        s = text
    elif dtype != pl.Utf8 or not _needs_cleaning(s, placeholder_ids, patient):
        return None
    value, placeholder_expr = normalised_ids(pl.col(name), placeholder_ids)
    cleaned = s.to_frame(name).select(value.alias("v"), placeholder_expr.alias("p"))
    ids = cleaned.get_column("v").alias(name)
    placeholder = cleaned.get_column("p")
    missing = scientific_ids_missing(ids) if patient else None
    spaced = s.str.contains(_WS).fill_null(False) & ~placeholder
    if missing is not None:
        ids, sci_rows = missing
        spaced = spaced.scatter(sci_rows, False)  # made missing, and said so below
    n_spaced = int(spaced.sum())
    if n_spaced:
        rows = np.flatnonzero(spaced.to_numpy())
        shown = ", ".join(str(int(r)) for r in rows[:5])
        warnings.warn(
            f"{name}: removed surrounding whitespace from {n_spaced} id(s) (rows {shown}"
            f"{', ...' if n_spaced > 5 else ''}, 0-based); ' A' and 'A' are the same id",
            IdentifierWarning,
            stacklevel=user_stacklevel(),
        )
    if missing is not None:
        (lost or _warn_scientific_ids)(name, sci_rows, s.gather(sci_rows))
    return ids


def scientific_ids(ids: pl.Series) -> pl.Series | None:
    """Which text ``ids`` are numbers in scientific notation (:data:`SCIENTIFIC_ID`; False
    for a null id), or None when none is. Found first by a cheap pass: on a large column
    one threaded pass that reads the first four bytes of each id and only a candidate's rest
    (:func:`_scientific_heads`), else a test for ``+``; the pattern only where that finds
    one."""
    from recurct._strings import MIN_ROWS

    if ids.len() >= MIN_ROWS:
        if not _scientific_candidates(ids.drop_nulls() if ids.null_count() else ids):
            return None
    elif not ids.str.contains("+", literal=True).any():
        return None
    lost = ids.str.contains(SCIENTIFIC_ID).fill_null(False)
    return lost if lost.any() else None


def scientific_ids_missing(ids: pl.Series) -> tuple[pl.Series, np.ndarray] | None:
    """The identity rule of ids in scientific notation, the one home of it: ``(ids, rows)``,
    the text patient ids ``ids`` (as cleaned: without surrounding whitespace) with those in
    scientific notation (:func:`scientific_ids`) made missing (null), and their 0-based rows;
    None where none is. Used by :func:`clean_frame`, :func:`recurct.io.pseudonym.normalise_ids`
    and :func:`recurct.io.openrem.read_openrem_ct`, each of which says so
    (:func:`scientific_ids_warning`)."""
    lost = scientific_ids(ids)
    if lost is None:
        return None
    return ids.set(lost, None), np.flatnonzero(lost.to_numpy())  # type: ignore[arg-type]


def is_scientific_id(text: str) -> bool:
    """Whether one text patient id (without surrounding whitespace) is a number in
    scientific notation (:data:`SCIENTIFIC_ID`): :func:`scientific_ids_missing` of one
    value, for :func:`recurct.io.pseudonym.normalise_id`."""
    return _SCIENTIFIC.fullmatch(text) is not None


def scientific_ids_text(column: str, values: pl.Series, rows: str, withhold: bool = False) -> str:
    """What the identity rules say of the patient ids in scientific notation ``values`` (as
    written, one per row) of ``column``, made missing on ``rows`` (as listed: ``row 3,
    0-based``): one wording for every entry point (:func:`recurct.read_exams` adds the file
    and its lines). ``withhold`` (a pseudonymising read): the values are counted, never
    quoted (``<withheld>``)."""
    if withhold:
        quoted = "<withheld>"
    else:
        distinct = values.unique(maintain_order=True)
        quoted = ", ".join(repr(v) for v in distinct.head(3).to_list())
        quoted += ", ..." if distinct.len() > 3 else ""
    return (
        f"column {column!r}: {values.len()} patient id(s) are numbers in scientific notation "
        f"({quoted}), as a spreadsheet shows long numbers: their last digits are lost, so "
        f"different patients may share one; they are read as missing ids ({rows}); format "
        "the column as text in the spreadsheet and export the file again"
    )


def scientific_ids_warning(
    column: str, values: pl.Series, rows: str, where: str = "", withhold: bool = False
) -> IdentifierWarning:
    """The :class:`IdentifierWarning` of the patient ids in scientific notation made missing:
    :func:`scientific_ids_text` (``where``: the file, its first words where given), with
    their number as its ``scientific_ids`` (for the command line)."""
    text = scientific_ids_text(column, values, rows, withhold)
    w = IdentifierWarning(f"{where}: {text}" if where else text)
    w.scientific_ids = int(values.len())  # type: ignore[attr-defined]
    return w


def _warn_scientific_ids(name: str, rows: np.ndarray, values: pl.Series) -> None:
    """The :class:`IdentifierWarning` of :func:`clean_frame` for ids in scientific
    notation made missing (``scientific_ids``: their count, for the command line)."""
    listed = ", ".join(str(int(r)) for r in rows[:10]) + (", ..." if rows.size > 10 else "")
    where = f"{'row' if rows.size == 1 else 'rows'} {listed}, 0-based"
    warnings.warn(scientific_ids_warning(name, values, where), stacklevel=user_stacklevel())


def _scientific_heads(lo, hi, views, bases, data, count):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``count[0]``: how many of the strings ``lo:hi`` of
    :func:`recurct._strings.string_views` are numbers in scientific notation
    (:data:`SCIENTIFIC_ID`: a digit, optionally ``.`` or ``,`` and digits, then ``e`` or
    ``E``, ``+`` and digits, nothing else). The first four bytes are read from the view (a
    short string's bytes, a longer one's prefix); only a string that starts so (``1E+5``,
    ``1.2E``, ``1.23``: no hexadecimal pseudonym) is read on, where its bytes are.
    Compiled by :func:`_heads_kernel`."""
    k = 0
    for i in range(lo, hi):
        n = views[4 * i]
        if n < 4:
            continue
        if bases[1] >= 0:  # Arrow string views: the bytes, or a longer string's prefix
            a = bases[0] + 16 * i + 4
        else:  # views made from offsets (no prefix): the string in its buffer
            a = bases[2 + views[4 * i + 2]] + views[4 * i + 3]
        c0 = data[a]
        c1 = data[a + 1]
        c2 = data[a + 2]  # the view holds 4 bytes at least: "1E+5" is the shortest
        c3 = data[a + 3]
        mark = c1 == 0x2E or c1 == 0x2C
        starts = 0x30 <= c0 <= 0x39 and (
            ((c1 | 0x20) == 0x65 and c2 == 0x2B and 0x30 <= c3 <= 0x39)  # 1E+5
            or (mark and 0x30 <= c2 <= 0x39 and (0x30 <= c3 <= 0x39 or (c3 | 0x20) == 0x65))
        )  # 1.2E+5, 1.23E+5
        if not starts:
            continue
        if n > bases[1] >= 0:  # a longer string: its bytes are in a buffer
            a = bases[2 + views[4 * i + 2]] + views[4 * i + 3]
        j = 1
        if mark:  # a decimal mark, then digits (the first one is c2)
            j = 3
            while j < n and 0x30 <= data[a + j] <= 0x39:
                j += 1
        if j + 2 >= n or (data[a + j] | 0x20) != 0x65 or data[a + j + 1] != 0x2B:
            continue
        j += 2  # past "E+": digits to the end
        while j < n and 0x30 <= data[a + j] <= 0x39:
            j += 1
        if j == n:
            k += 1
    count[0] = k


@functools.cache
def _heads_kernel() -> Any:
    """:func:`_scientific_heads` compiled (numba imported only when a large column is
    screened)."""
    from recurct._jit import njit

    return njit(cache=True, nogil=True)(_scientific_heads)


def _scientific_candidates(known: pl.Series) -> bool:
    """Whether some of the null-free text ids ``known`` are numbers in scientific notation:
    one pass over them where polars keeps them (the first four bytes of each, the rest of a
    candidate's), in threads."""
    from recurct import _parallel
    from recurct._strings import string_views

    place = string_views(known)
    kernel = _heads_kernel()
    ranges = _parallel.row_ranges(known.len())
    count = np.zeros((len(ranges), 8), np.int64)  # a cache line per thread
    _parallel.in_threads(kernel, [(a, b, *place, count[q]) for q, (a, b) in enumerate(ranges)])
    return bool(count[:, 0].sum())


def normalised_ids(
    ids: pl.Expr, placeholder_ids: tuple[str, ...] | list[str] | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """The identifier rule, the one home of it for columns: ``ids`` as text stripped of
    surrounding whitespace (:data:`ID_SPACES`), null where that is a placeholder
    (:func:`placeholder_variants` of ``placeholder_ids``; the empty text is one), and whether
    each id is such a placeholder (False for a null id). Used by :func:`_clean_id` (which
    also warns of the whitespace), :func:`recurct.io.pseudonym.normalise_ids` and the
    out-of-core check of null ids."""
    stripped = ids.cast(pl.String).str.strip_chars(ID_SPACES)
    placeholder = stripped.is_in(placeholder_variants(placeholder_ids)).fill_null(False)
    return pl.when(placeholder).then(None).otherwise(stripped), placeholder


def id_key(dtype: pl.DataType, name: str = "patient_id") -> pl.Expr:
    """Column ``name`` (of ``dtype``) as the identity rules compare ids, for splitting exams
    by patient (out-of-core buckets, Dask partitions) so that ids the rules make one (``" A"``
    and ``"A"``) go to the same part: text ids (``String``, ``Categorical``, ``Enum``) as
    text without surrounding whitespace (:data:`ID_SPACES`), other ids as they are.
    (Placeholders are not mapped: they become null in whichever part they land, and are
    refused there as in memory.)"""
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return pl.col(name).cast(pl.String).str.strip_chars(ID_SPACES)
    return pl.col(name)


def spaced_ids(name: str = "patient_id") -> pl.Expr:
    """Whether each text id of column ``name`` has surrounding whitespace (:data:`ID_SPACES`),
    which the identity rules remove (null for a null id)."""
    ids = pl.col(name).cast(pl.String)
    return ids.str.strip_chars(ID_SPACES) != ids


def ids_need_cleaning(labels: pl.Series) -> bool:
    """Whether some of the text patient ids ``labels`` (distinct, null-free) would be changed
    by the identity rules (surrounding whitespace, placeholders such as ``"NA"``, numbers in
    scientific notation)."""
    return _needs_cleaning(labels, None, patient=True)


def clean_id_column(
    df: pl.DataFrame, name: str, categories: dict[str, IdCategories]
) -> pl.DataFrame:
    """``df`` with the id column ``name`` cleaned by the identity rules, as
    :func:`clean_frame` cleans it (its warnings; ``categories`` receives what was read of a
    coded column left as it is); for a column :func:`to_polars_coded` left unscreened."""
    cleaned = _clean_id(df, name, None, categories)
    return df if cleaned is None else df.with_columns(cleaned)


#: How an integer id outside the ``Int64`` range is refused, after the function's name, the
#: column and the row, on every engine path (in memory :func:`_clean_id`, out of core and
#: Dask: :mod:`recurct.outofcore`, :mod:`recurct.distributed`).
OUTSIDE_INT64 = (
    "outside the range of 64-bit signed integers; ids this large must be text (cast the "
    "column to string)"
)


def _public_caller() -> str:
    """The name of the recurct function the user called (the outermost frame of the recurct
    package, outside its command line, whose function's name is public), for an error raised
    below it that its caller does not name; ``"recurct"`` where there is none."""
    from recurct._stacklevel import PACKAGE_DIR

    cli = os.path.join(PACKAGE_DIR, "cli", "")
    name = "recurct"
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        inside = code.co_filename.startswith(PACKAGE_DIR) and not code.co_filename.startswith(cli)
        if inside and not code.co_name.startswith(("_", "<")) and code.co_name != "wrapper":
            name = code.co_name
        frame = frame.f_back
    return name


def exact_float_ids(dtype: pl.DataType) -> int:
    """Whole numbers below this are exact in a float ``dtype`` (at it, a larger one may have
    been rounded onto it)."""
    return 2**24 if dtype == pl.Float32 else 2**53


def _integral_ids(s: pl.Series) -> pl.Series | None:
    """Float ids (pandas makes integer ids float when one is missing) as Int64 when every one
    is a whole number the float holds exactly (below 2^53; 2^24 for float32); otherwise left
    as they are, for validation to name the rows (a larger float id may have lost digits:
    two patients may share it).
    """
    known = s.drop_nulls().drop_nans()
    exact = exact_float_ids(s.dtype)
    if known.len() and not bool(((known == known.round()) & (known.abs() < exact)).all()):
        return None
    return s.fill_nan(None).cast(pl.Int64)


def placeholder_variants(placeholder_ids: tuple[str, ...] | list[str] | None) -> list[str]:
    """The placeholder ids (``None``: :data:`PLACEHOLDER_IDS`) as the identity rules match
    them: as listed, in upper, lower and title case."""
    if isinstance(placeholder_ids, str):  # one placeholder, not its characters
        placeholder_ids = (placeholder_ids,)
    base = PLACEHOLDER_IDS if placeholder_ids is None else tuple(placeholder_ids)
    return sorted({f(str(p)) for p in base for f in (str.upper, str.lower, str.title, str)})


def _is_placeholder(s: pl.Series, placeholder_ids: Any) -> pl.Series:
    """Placeholders as listed, in upper, lower or title case (one hash lookup per value)."""
    return s.is_in(placeholder_variants(placeholder_ids)).fill_null(False)


def _needs_cleaning(s: pl.Series, placeholder_ids: Any, patient: bool = False) -> bool:
    """Whether the identity rules change some of the text ids ``s``; ``patient``: they are
    patient ids, of which those in scientific notation are missing too
    (:func:`scientific_ids`)."""
    from recurct._strings import may_need_cleaning

    if patient and scientific_ids(s) is not None:
        return True
    longest = max((len(v.encode()) for v in placeholder_variants(placeholder_ids)), default=0)
    s = may_need_cleaning(s, longest)  # one pass over the bytes: most ids are plainly clean
    if s is None:
        return False
    return bool(s.str.contains(_WS).any() or _is_placeholder(s, placeholder_ids).any())


def _pandas_types() -> dict[Any, Any]:
    import pandas as pd
    import pyarrow as pa

    return {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }


def input_index(exams: Any, rows: np.ndarray | None = None) -> pd.Index | None:
    """The pandas index labels of the exam rows a function returns (the index rule).

    A public function that returns rows of the user's exam table (all of them, a filtered
    subset, or reordered) gives a pandas result the labels of those rows in the input, as
    ``df.dropna()`` and ``df.sort_values()`` do, so the rows dropped can be seen and the
    result joined back. ``rows``: the 0-based input position of each returned row, in the
    order returned (``None``: every row, in input order). ``None`` when ``exams`` (or the
    exams of a :class:`recurct.io.ReadResult`) is not a pandas frame: polars results have no
    index and are built exactly as before. Pass the result to :func:`from_polars`.
    """
    obj = _unwrap(exams)
    if not type(obj).__module__.startswith("pandas") or not hasattr(obj, "index"):
        return None
    return obj.index if rows is None else obj.index.take(rows)


def from_polars(df: pl.DataFrame, kind: FrameKind, index: pd.Index | None = None) -> Any:
    """Return ``df`` as the caller's frame library (pandas for pandas, else polars).

    Integer and boolean columns become pandas' nullable ``Int64`` / ``boolean`` dtypes, so a
    count with missing values (``days_to_100`` of a patient who never reached 100 mSv) stays
    an integer with ``<NA>`` instead of turning into a float with ``NaN``; dates become
    ``datetime64``. ``index``: the labels of a pandas result's rows (from
    :func:`input_index`, for rows of the user's exam table), else a fresh ``RangeIndex``;
    ignored for polars.
    """
    if kind == "pandas":
        out = df.to_pandas(types_mapper=_pandas_types().get)
        if index is not None:
            if len(index) != len(out):
                raise RuntimeError(
                    f"recurct internal error: {len(index)} index labels for {len(out)} rows"
                )
            out.index = index
        return out
    return df


def param_label(value: float) -> str:
    """Shortest decimal form of a threshold or window, used in column names.

    A float32 (or float16) value is written in the shortest form of its own precision, so
    ``np.float32(0.1)`` gives ``0.1``, not ``0.10000000149011612``.

    >>> param_label(100.0), param_label(62.5), param_label(1826), param_label(np.float32(0.1))
    ('100', '62.5', '1826', '0.1')
    """
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        text = np.format_float_positional(value, unique=True, trim="-")
        return text[:-1] if text.endswith(".") else text
    f = float(value)
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def rows_text(rows: Sequence[int]) -> str:
    """``rows 1, 3`` (0-based positions in messages), the first 10 and how many more."""
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:10]))}{more}"
