"""The canonical casts of the exam table's columns (sex and body-region codes, dates, doses),
the one rule of numbers in text (:func:`numeric_text`) and the one rule of placeholders
(:data:`NULL_STRINGS`, :func:`null_text`), shared by :func:`recurct.schema.validate`,
:func:`recurct.read_exams`, the dose functions and the duplicate rule."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from recurct._dates import parse_date_series, parse_dates, parse_dicom_age, warn_mixed_offsets
from recurct._frames import exact_float_ids
from recurct.errors import DataError
from recurct.schema import (
    BODY_REGIONS,
    DOSE_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SEX_TABLE,
)

#: Columns cast to Float64: the doses and the age.
NUMBER_COLUMNS: tuple[str, ...] = (*DOSE_COLUMNS, "age_years")

NULL_STRINGS: tuple[str, ...] = (
    *("", "N/A", "n/a", "NA", "na", "-"),
    *("NULL", "null", "Null", "None", "(null)", "#N/A", "#NA", "#NV", "<NA>"),
)
"""Cell values read as missing (after surrounding spaces are removed, :func:`null_text`):
empty, ``N/A``, ``NA``, ``-``, and the placeholders databases and spreadsheets write
(``NULL``, ``None``, ``(null)``, ``#N/A``, ``#NV`` of German Excel, ``<NA>`` of pandas), so
a ``NULL`` DLP is a missing DLP, not a row that fails. :func:`recurct.read_exams` applies
the rule to every canonical column of a file (``NULL`` is no facility either); in a table
in memory it applies to the text doses, CTDIvol and age (:data:`NUMBER_COLUMNS` of
``Utf8``, ``Categorical`` or ``Enum`` dtype), whatever function reads them, while text
attributes (facility, sex, ...) keep their text. Columns that are not canonical keep their
text in both. ``NaN`` stays a number (reported as a NaN dose)."""

# A cell that is one of NULL_STRINGS as it is (a padded one is found by its spaces)
_PLACEHOLDER = "^(?:" + "|".join(re.escape(v) for v in NULL_STRINGS) + ")$"


def null_text(e: pl.Expr) -> pl.Expr:
    """A text expression (``Utf8``) without surrounding spaces, its cells of
    :data:`NULL_STRINGS` null: the one rule of placeholders, which :func:`recurct.read_exams`
    applies to the canonical columns of a file and every function to text doses and ages in
    memory (:func:`numeric_text`, :func:`recurct.dose.effective.missing_dose`)."""
    s = e.str.strip_chars()
    return pl.when(s.is_in(NULL_STRINGS)).then(None).otherwise(s)


def missing_text(e: pl.Expr) -> pl.Expr:
    """Per cell of a text expression (``Utf8``), whether :func:`null_text` makes it null
    (null, blank, or a placeholder of :data:`NULL_STRINGS`): Boolean, never null, without
    building the text cleaned."""
    return e.str.strip_chars().is_in(NULL_STRINGS).fill_null(True)


# Numbers in text (:func:`numeric_text`): thousands groups are three digits after a lead of
# one to three digits (no leading zero); a decimal part is any number of digits.
#: A cell that can have a decimal comma: 12,5 1.234,5, or points as thousands 1.234 1.234.567.
COMMA_OK = r"^[+-]?(?:\d*,\d+|[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?)$"
#: A cell that can have a decimal point: 12.5 1,234.5, or commas as thousands 1,234 1,234,567.
POINT_OK = r"^[+-]?(?:\d*\.\d+|[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?)$"
_ONE = r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$"  # 1.234 or 1,234: either reading, the column decides
# points as thousands groups (1.234, 1.000.000): a column without commas holding one of these
# has its mark decided by the rule; without any, its points are decimal points as written
_GROUPED_P = r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+$"
_NOT_A_NUMBER = "\x00?"  # appended to a cell that contradicts the column's decimal mark
# the cells the rule may rewrite, by decimal mark: a column with none is returned as it is
# (the early exits of :func:`numeric_text` in one scan, for a column not stripped yet, with
# its surrounding spaces; a mark the rule reads must be here too: a test checks it)
_MAY_REWRITE: dict[str | None, str] = {
    None: rf"^\s|\s$|,|{_GROUPED_P}",  # commas, or points that may group thousands
    ",": r"^\s|\s$|[,.]",
    ".": r"^\s|\s$|,",
}
# the same, or a placeholder (made null), in the same scan
_MAY_REWRITE_OR_NULL = {k: f"{v}|{_PLACEHOLDER}" for k, v in _MAY_REWRITE.items()}

AMBIGUOUS_NUMBER = "\x00ambiguous"
"""Appended by :func:`numeric_text` to a number whose decimal mark is ambiguous (``1.234``:
1.234 or 1234?, the column's other cells not saying): never parsed, reported as such by
validation (the problem quotes the value as written)."""


def numeric_text(
    s: pl.Series, decimal: str | None = None, *, stripped: bool = False, placeholders: bool = True
) -> pl.Series:
    """The text numbers of a dose or age column rewritten with a decimal point and no
    thousands separators, by the one rule of docs/data-preparation.md ("Numbers in text"),
    which never guesses; :func:`recurct.read_exams` (by its ``decimal=``) and
    :func:`recurct.schema.validate` (``decimal=None``: :func:`number_text`) read text
    numbers by it.

    * ``decimal=","``: commas are decimal marks, points only thousands separators in groups
      of three (``1.234,5`` -> 1234.5, ``1.234`` -> 1234); another point makes the cell no
      number. ``decimal="."``: the same with the marks swapped (``1,234.5`` -> 1234.5).
    * ``decimal=None``: the column decides. A cell that can only have a decimal comma
      (``100,0``, ``1.234,5``, ``1.234.567``) or only a decimal point (``12.5``, ``0.500``,
      ``1,234.5``) is read so; a cell with one mark before exactly three digits (``1.234``,
      ``1,234``) is read as the other cells of the column show (decimal comma when some cell
      can only have one and none can only have a point, and the reverse), and is marked
      ambiguous (:data:`AMBIGUOUS_NUMBER`, reported by validation) when they show neither
      or both.
    * ``decimal="as-is"`` (a comma-separated file without ``decimal``): unchanged.

    A ``Categorical`` or ``Enum`` column is read as its text (returned as ``Utf8``); other
    dtypes are returned as they are. Surrounding spaces are removed (``" 12,5 "``) and the
    placeholders of :data:`NULL_STRINGS` (``""``, ``"n/a"``, ``"NULL"``, ...) made null, as
    :func:`recurct.read_exams` reads a file's cells (:func:`null_text`), unless ``stripped``
    says the caller did so already (``read_exams`` cleans every text column first): then
    they are not looked for. ``placeholders=False`` (a column of a reference table, such as
    a user's conversion-factor or DRL table, not of an exam table) leaves placeholders as
    text, no number. Cells that are no number stay as they are, for validation to report; a
    cell that contradicts the column's decimal mark (``12.5`` with ``decimal=","``) is made
    unreadable. A text ``s`` is returned itself when nothing is to be rewritten (a column
    without marks, spaces or placeholders is read as written)."""
    if decimal == "as-is":
        return s
    if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
        s = s.cast(pl.Utf8)
    if s.dtype != pl.Utf8:
        return s
    v = pl.col("v")
    if not stripped:  # nothing to rewrite, spaces and placeholders included, in one scan
        scan = (_MAY_REWRITE_OR_NULL if placeholders else _MAY_REWRITE)[decimal]
        if not s.to_frame("v").select(v.str.contains(scan).any()).item():
            return s
        if placeholders:
            s = s.to_frame("v").select(null_text(v).alias(s.name)).to_series()
        else:
            s = s.str.strip_chars()
    # The mark decided by a few scans of the column (literal marks first), then one rewrite
    # by it, each pattern evaluated once and only where the marks present need it.
    frame = s.to_frame("v")
    comma, point = frame.select(
        c=v.str.contains(",", literal=True).any(), p=v.str.contains(".", literal=True).any()
    ).row(0)
    if not comma and not point:
        return s  # no marks: nothing to rewrite
    if decimal is None:
        decimal = column_mark(frame, comma)
        if decimal is None:  # both or neither: each cell by its only reading
            return frame.select(_each_cell(v)).to_series().alias(s.name)
    if decimal == ",":
        # a cell without points: its commas made points (a decimal-comma cell has one);
        # with points: thousands groups before a comma or alone, else no number
        as_comma = v.str.replace_all(",", ".", literal=True)
        if point:
            cut = v.str.replace_all(".", "", literal=True).str.replace_all(",", ".", literal=True)
            stray = v.str.contains(".", literal=True) & ~v.str.contains(COMMA_OK)
            as_comma = pl.when(stray).then(v + _NOT_A_NUMBER).otherwise(cut)
        expr = as_comma
    elif not comma:
        return s  # decimal points and no thousands commas: as written
    else:
        expr = pl.when(v.str.contains(POINT_OK)).then(v.str.replace_all(",", "", literal=True))
        expr = expr.otherwise(v)
    return frame.select(expr).to_series().alias(s.name)


def column_mark(frame: pl.DataFrame, comma: bool) -> str | None:
    """The decimal mark a column of text numbers decides for itself (the rule of
    :func:`numeric_text` with ``decimal=None``, the one home of that decision): ``frame``'s
    column ``v`` holds the cells (stripped, placeholders null), ``comma`` whether some hold a
    comma. ``","`` where some cell can only have a decimal comma and none only a point;
    ``"."`` in the reverse case, and where no cell holds a comma or a point that may group
    thousands (points are decimal points, as written); None where the cells show both or
    neither (each cell by its only reading, ``1.234`` ambiguous)."""
    v = pl.col("v")
    if not comma and not frame.select(v.str.contains(_GROUPED_P).any()).item():
        return "."  # no comma and no thousands points: points are decimal points
    one = v.str.contains(_ONE)
    c_only, p_only = frame.select(
        c=(v.str.contains(COMMA_OK) & ~one).any(), p=(v.str.contains(POINT_OK) & ~one).any()
    ).row(0)
    if c_only == p_only:
        return None
    return "," if c_only else "."


def could_be_either(s: pl.Series) -> pl.Series:
    """Per cell of the text ``s`` (stripped), whether it is a number with one mark before
    exactly three digits (``1.234``, ``1,234``): read as its column's mark decides, ambiguous
    where the column decides none (:func:`column_mark`)."""
    return s.str.contains(_ONE).fill_null(False)


def _each_cell(v: pl.Expr) -> pl.Expr:
    """A column that does not decide its mark (:func:`numeric_text`): each cell by its only
    reading, the cells with either reading marked ambiguous."""
    as_comma = v.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return (
        pl.when(v.str.contains(_ONE))
        .then(v + AMBIGUOUS_NUMBER)
        .when(v.str.contains(COMMA_OK))
        .then(as_comma)
        .when(v.str.contains(POINT_OK))
        .then(v.str.replace_all(",", "", literal=True))
        .otherwise(v)
    )


def number_text(df: pl.DataFrame, decimal: str | None = None) -> pl.DataFrame:
    """``df`` with its text doses and ages (:data:`NUMBER_COLUMNS` of ``Utf8``,
    ``Categorical`` or ``Enum`` dtype) read by :func:`numeric_text` with ``decimal``, as
    ``Utf8`` (their placeholders, :data:`NULL_STRINGS`, null); other columns are left as
    they are, and ``df`` itself is returned when nothing is rewritten. With ``decimal=None``
    (what :func:`recurct.schema.validate` applies before its casts) each column decides its
    mark, as :func:`recurct.read_exams` reads a table without ``decimal=``: ``1.234`` beside
    ``850,5`` is 1234, beside ``12`` it is ambiguous (reported, never read).
    ``decimal="as-is"``: ``df`` as it is (``read_exams`` has rewritten its own by its
    ``decimal=``: they are not rewritten again)."""
    if decimal == "as-is":
        return df
    updates = []
    for name in NUMBER_COLUMNS:
        if name in df.columns:
            s = df.get_column(name)
            read = numeric_text(s, decimal)
            if read is not s:
                updates.append(read)
    return df.with_columns(updates) if updates else df


def as_written(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A ``Float32`` or ``Float16`` column (expression) as ``Float64`` by the shortest
    decimal of each value in its own precision, the number as written: a float32 ``12.3``
    is 12.3, not 12.300000190734863 (its exact value); NaN, infinities and nulls kept.
    Other dtypes cast as they are."""
    if dtype == pl.Float32:  # polars writes a Float32 as its shortest decimal (ryu)
        return e.cast(pl.Utf8).cast(pl.Float64)
    if dtype == pl.Float16:  # polars writes it as a float32: numpy, in its own precision
        return e.map_batches(_float16_as_written, return_dtype=pl.Float64)
    return e.cast(pl.Float64, strict=False)


@cache
def _float16_decimals() -> np.ndarray:
    """Each of the 65,536 float16 bit patterns as the Float64 of its shortest decimal
    (numpy's, in float16 precision); built once, on the first float16 column."""
    every = np.arange(65536, dtype=np.uint16).view(np.float16)
    return every.astype(str).astype(np.float64)


def _float16_as_written(s: pl.Series) -> pl.Series:
    bits = s.to_numpy().astype(np.float16, copy=False).view(np.uint16)
    out = pl.Series(s.name, _float16_decimals()[bits])  # a null's bits: set null below
    return out.set(s.is_null(), None) if s.null_count() else out


def norm_sex(e: Any) -> Any:
    """Sex text -> F/M/O/U through :data:`SEX_TABLE` (null where it is not in the table)."""
    up = e.cast(pl.Utf8).str.strip_chars().str.to_uppercase()
    return up.replace_strict(SEX_TABLE, default=None, return_dtype=pl.Utf8)


def norm_region(e: Any, rules: Any = None) -> Any:
    """Body-region text -> canonical: a canonical name (any case, spaces or hyphens for ``_``)
    as is, else the rules of :mod:`recurct.regions` (all terms found, combined; null when
    they give no region)."""
    from recurct.regions import normalise_region

    def one(s: pl.Series) -> pl.Series:
        s = s.cast(pl.Utf8)
        canon = s.str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
        mapped = normalise_region(s, region_rules=rules)
        return (
            pl.select(pl.when(canon.is_in(BODY_REGIONS)).then(canon).otherwise(mapped))
            .to_series()
            .alias(s.name)
        )

    if isinstance(e, pl.Series):
        return one(e)
    return e.map_batches(one, return_dtype=pl.Utf8)


# coded columns: (normaliser, reason when a value cannot be mapped)
CODES = {
    "sex": (norm_sex, "unknown sex code"),
    "body_region": (norm_region, "unknown body region"),
}


def as_text(e: Any, dtype: pl.DataType) -> Any:
    """A column (expression or Series) of ``dtype`` as text; a float NaN is a missing value
    (as in pandas), null, not the text ``"NaN"``."""
    if dtype == pl.Utf8:
        return e
    if dtype.is_float():
        e = e.fill_nan(None)
    return e.cast(pl.Utf8)


_WHAT = {
    "patient_id": "patient ids (text or integers)",
    "exam_date": "dates (dates, datetimes or date text)",
    **dict.fromkeys(NUMBER_COLUMNS, "numbers (numbers or their text)"),
}


def check_dtypes(df: pl.DataFrame, schema: pl.Schema | None = None) -> None:
    """Raise :class:`~recurct.errors.DataError` naming the first canonical column whose dtype
    cannot hold its values: a nested (``List``, ``Array``, ``Struct``) or Python-object
    (``Object``) column anywhere; a ``Duration`` where text, ids or dates are read; for the
    doses and the age (:data:`NUMBER_COLUMNS`) anything but numbers, booleans (reported row
    by row) or text; ``Binary`` that is not UTF-8 text. (Values of an accepted dtype that
    cannot be read are reported row by row by ``validate``.)"""
    schema = df.schema if schema is None else schema
    canonical = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS}
    for name, dtype in schema.items():
        if name not in canonical:
            continue
        text = dtype in (pl.Utf8, pl.Categorical, pl.Null) or isinstance(dtype, pl.Enum)
        if name in NUMBER_COLUMNS:
            ok = text or dtype.is_numeric() or dtype == pl.Boolean
        else:
            ok = not (dtype.is_nested() or dtype == pl.Object or isinstance(dtype, pl.Duration))
        if not ok:
            raise DataError(
                f"column {name!r} has dtype {dtype}, which recurct cannot read as "
                f"{_WHAT.get(name, 'text')}; convert the column, or rename it to carry it "
                "through unread"
            )
        if dtype == pl.Binary:
            try:
                df.get_column(name).cast(pl.Utf8)
            except pl.exceptions.PolarsError:
                raise DataError(
                    f"column {name!r} holds bytes (dtype Binary) that are not UTF-8 text; "
                    "decode the column to text first"
                ) from None


def code_maps_of(df: pl.DataFrame, region_rules: Any = None) -> dict[str, tuple[dict, list[str]]]:
    """For each coded column: ``({raw: canonical or None}, [raw values that map to nothing])``.

    Worked out on the distinct values, which is much cheaper than string operations on every
    row when, as usual, a column holds a handful of codes. Blank text is a missing value, not
    a code that maps to nothing; a float NaN is null.
    """
    maps = {}
    for name, (norm, _) in CODES.items():
        col = df.get_column(name) if name in df.columns else None
        if col is None or col.dtype == pl.Null:  # one column's dtype, not the whole schema
            continue
        raw = as_text(col, col.dtype).unique().drop_nulls()
        mapped = norm(raw, region_rules) if name == "body_region" else norm(raw)
        pairs = dict(zip(raw.to_list(), mapped.to_list()))
        maps[name] = (pairs, [r for r, n in pairs.items() if n is None and r.strip()])
    return maps


def dates_as(df: pl.DataFrame) -> pl.DataType | None:
    """``Date`` when text exam dates carry no time of day, else ``Datetime("us")``."""
    if "exam_date" not in df.columns or not is_text_date(df.get_column("exam_date").dtype):
        return None
    text = df.get_column("exam_date").cast(pl.Utf8)
    longest = text.str.strip_chars().str.len_chars().max()
    return pl.Datetime("us") if (longest or 0) > 10 else pl.Date()


def eager_casts(
    df: pl.DataFrame,
    *,
    dayfirst: bool = False,
    code_maps: dict | None = None,
    region_rules: Any = None,
    null_unmapped: bool = False,
    schema: pl.Schema | None = None,
    parsed_dates: pl.Series | None = None,
) -> dict[str, pl.Expr]:
    """:func:`cast_exprs` for a frame in memory, using the faster eager paths, after
    :func:`check_dtypes` (``schema``: ``df.schema`` where the caller has read it already).
    ``parsed_dates``: the text ``exam_date`` already parsed, row for row, as
    :func:`recurct._dates.parse_date_series` parses it (``read_exams`` parses it when it
    merges a time of day); used instead of parsing the text again."""
    parsed = None
    if schema is None:
        schema = df.schema  # read once: building it is slow for an Enum of many categories
    check_dtypes(df, schema)
    if "exam_date" in schema and is_text_date(schema["exam_date"]):
        if schema["exam_date"] in (pl.String, pl.Categorical):
            warn_mixed_offsets(df.get_column("exam_date"))
        if parsed_dates is not None and parsed_dates.len() == df.height:
            parsed = parsed_dates
        else:
            parsed = parse_date_series(df.get_column("exam_date"), dayfirst=dayfirst)
    return cast_exprs(
        schema,
        dayfirst=dayfirst,
        dates_as=dates_as(df),
        code_maps=code_maps_of(df, region_rules) if code_maps is None else code_maps,
        parsed_dates=parsed,
        region_rules=region_rules,
        null_unmapped=null_unmapped,
    )


def with_casts(df: pl.DataFrame, casts: dict[str, Any]) -> pl.DataFrame:
    """``df`` with the canonical casts applied; an added ``body_region_raw`` placed right
    after ``body_region``."""
    out = df.with_columns(**casts)
    if "body_region_raw" in df.columns or "body_region_raw" not in out.columns:
        return out
    order = [
        c for c in df.columns for c in ((c, "body_region_raw") if c == "body_region" else (c,))
    ]
    return out.select(order)


def is_text_date(dtype: pl.DataType) -> bool:
    return not (isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Null))


def cast_exprs(
    schema: pl.Schema,
    *,
    dayfirst: bool = False,
    dates_as: pl.DataType | None = None,
    code_maps: dict[str, tuple[dict[str, str | None], list[str]]] | None = None,
    parsed_dates: pl.Series | None = None,
    region_rules: Any = None,
    null_unmapped: bool = False,
) -> dict[str, pl.Expr]:
    """Expressions casting each canonical column present in ``schema`` to its canonical dtype.

    Values that cannot be converted become null (``validate`` reports them). ``dates_as``
    is the dtype string dates parse to (default ``Datetime("us")``). With ``body_region``,
    ``body_region_raw`` (the text as given) is added unless the table has it already. A sex
    code or body region that maps to nothing is kept as given, or set null with
    ``null_unmapped`` (what ``validate`` does, counting them): never nulled uncounted. Text
    ages may be DICOM age strings (``067Y``: :func:`recurct.schema.parse_dicom_age`) or
    numbers of years; a float NaN in a text column is null (no text ``"NaN"``); a float32
    (or float16) dose or age is read as written, by its shortest decimal (12.3, not
    12.300000190734863: :func:`as_written`). The dtypes are those :func:`check_dtypes`
    accepts.
    """
    out: dict[str, pl.Expr] = {}
    for name, dtype in schema.items():
        c = pl.col(name)
        if name == "patient_id":
            out[name] = _id_expr(c, dtype)
        elif name == "exam_date":
            out[name] = _date_expr(c, dtype, dayfirst, dates_as, parsed_dates)
        elif name in NUMBER_COLUMNS:
            out[name] = _number_expr(name, c, dtype)
        elif name in CODES:
            text = as_text(c, dtype)
            if name == "body_region" and "body_region_raw" not in schema:
                out["body_region_raw"] = text
            maps = None if code_maps is None else code_maps.get(name)
            out[name] = _code_expr(name, text, maps, region_rules, null_unmapped)
        elif name in OPTIONAL_COLUMNS:
            out[name] = as_text(c, dtype)
    return out


def _number_expr(name: str, c: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A dose or age column as Float64 (null where a value is no number); a float32 (or
    float16) value as written, by its shortest decimal (:func:`as_written`)."""
    if dtype == pl.Float64:
        return c
    if dtype == pl.Boolean:  # True is not 1 mSv
        return pl.lit(None, dtype=pl.Float64)
    if not (dtype.is_numeric() or dtype == pl.Null):  # text, Categorical, Enum
        text = c.cast(pl.Utf8)
        number = text.cast(pl.Float64, strict=False)
        if name == "age_years":  # a DICOM age string ('067Y', '018M'), else years
            return pl.coalesce(parse_dicom_age(text), number)
        return number
    return as_written(c, dtype)  # float32 12.3 is 12.3; integers exact


def _id_expr(c: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Utf8:
        return c
    if dtype.is_integer():
        return c.cast(pl.Int64, strict=False)
    if dtype.is_float():  # exact whole numbers only (a float is exact up to 2^53)
        e = pl.when((c == c.round()) & (c.abs() < exact_float_ids(dtype))).then(c)
        return e.cast(pl.Int64, strict=False)
    if dtype == pl.Boolean:  # True is no patient: reported
        return pl.lit(None, dtype=pl.Utf8)
    return c.cast(pl.Utf8)


def _date_expr(
    c: pl.Expr,
    dtype: pl.DataType,
    dayfirst: bool,
    dates_as: pl.DataType | None,
    parsed_dates: pl.Series | None,
) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        e = c.dt.replace_time_zone(None) if dtype.time_zone else c
        return e.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return c
    if dtype == pl.Null:
        return c.cast(pl.Datetime("us"))
    if parsed_dates is not None:
        e = pl.lit(parsed_dates)
    else:
        e = parse_dates(c.cast(pl.Utf8), dayfirst=dayfirst)
    return e if dates_as is None else e.cast(dates_as)


def _code_expr(
    name: str,
    text: pl.Expr,
    maps: tuple[dict[str, str | None], list[str]] | None,
    region_rules: Any,
    null_unmapped: bool,
) -> pl.Expr:
    """A coded column (sex, body region) mapped; what maps to nothing kept as given, or
    null with ``null_unmapped``."""
    if maps is not None:
        pairs = maps[0]
        if null_unmapped:
            return text.replace_strict(pairs, default=None, return_dtype=pl.Utf8)
        return text.replace({r: n for r, n in pairs.items() if n is not None})
    norm = norm_region(text, region_rules) if name == "body_region" else norm_sex(text)
    return norm if null_unmapped else pl.coalesce(norm, text)
