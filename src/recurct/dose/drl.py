"""Diagnostic reference levels: the shipped sets (``recurct/data/drl_*.csv``) and yours
(:func:`drl_tables`, :func:`drl_table`), and the comparison of exams with them
(:func:`compare_to_drl`, :func:`flag_above_drl`)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars, input_index, to_polars
from recurct.dose._tables import (
    NUM_OK,
    NUM_WHAT,
    check_numbers,
    data_names,
    is_shipped_name,
    listing,
    numbers,
    read_data_file,
    table_error,
    text_column,
    user_table,
)
from recurct.errors import DataError, DroppedRowsWarning, ParameterError
from recurct.schema import BODY_REGIONS

if TYPE_CHECKING:
    import pandas as pd

DRL_COLUMNS: tuple[str, ...] = (
    "exam_type",
    "description",
    "body_region",
    "ctdivol_mgy",
    "dlp_mgycm",
    "source",
    "note",
)
"""Columns a DRL table may have: ``exam_type`` and one of ``ctdivol_mgy`` / ``dlp_mgycm`` are
required (see :func:`drl_table`)."""


def _build_drl(meta: dict[str, str], df: pl.DataFrame) -> pl.DataFrame:
    """Validate a DRL table (shipped or the user's) into its canonical columns."""
    where = meta.get("where", "DRL table")
    unknown = [c for c in df.columns if c not in DRL_COLUMNS]
    if (
        unknown
        or "exam_type" not in df.columns
        or not {"ctdivol_mgy", "dlp_mgycm"} & set(df.columns)
    ):
        raise DataError(
            f"{where}: a DRL table needs 'exam_type' and 'ctdivol_mgy' and/or 'dlp_mgycm' "
            f"and may have 'description', 'body_region', 'source', 'note'; it has {df.columns}"
        )
    problems: list[tuple[int, str, Any, str]] = []
    key = text_column(df, "exam_type")
    seen: dict[str, int] = {}
    for i, v in enumerate(key.to_list()):
        if v is None:
            problems.append((i, "exam_type", None, "missing exam type"))
        elif v in seen:
            problems.append((i, "exam_type", v, f"exam type already on row {seen[v]}"))
        else:
            seen[v] = i
    region = text_column(df, "body_region")
    mapped: dict[str, int] = {}
    for i, r in enumerate(region.to_list()):
        if r is None:
            continue
        if r not in BODY_REGIONS:
            problems.append((i, "body_region", r, "not a canonical body region"))
        elif r in mapped:
            problems.append((i, "body_region", r, f"region already mapped on row {mapped[r]}"))
        else:
            mapped[r] = i
    values = {
        c: check_numbers(df, c, problems, positive=True) for c in ("ctdivol_mgy", "dlp_mgycm")
    }
    if problems:
        raise table_error(where, "DRL table", sorted(problems))
    out = pl.DataFrame(
        {
            "exam_type": key,
            "description": text_column(df, "description"),
            "body_region": region,
            "ctdivol_mgy": pl.Series(values["ctdivol_mgy"]).fill_nan(None),
            "dlp_mgycm": pl.Series(values["dlp_mgycm"]).fill_nan(None),
        }
    )
    if "source" in df.columns:
        out = out.with_columns(source=text_column(df, "source"))
    return out


@cache
def _drl(name: str) -> tuple[dict[str, str], pl.DataFrame]:
    available = data_names("drl_")
    if name not in available:
        raise ParameterError(
            f"unknown DRL set {name!r}; available: {', '.join(available)}, or pass your own "
            "DRL table (a CSV path or a data frame, see recurct.dose.drl_table)"
        )
    meta, df = read_data_file(f"drl_{name}.csv")
    return meta, _build_drl({"where": f"drl_{name}.csv", **meta}, df)


def _as_drl(spec: Any) -> tuple[str, dict[str, str], pl.DataFrame]:
    """``(name, meta, levels)`` of a shipped DRL set or of the user's table."""
    if is_shipped_name(spec, "drl_"):
        meta, levels = _drl(spec)
        return spec, meta, levels
    name, meta, df = user_table(spec, "drl_", "DRL table")
    return name, meta, _build_drl(meta, df)


def drl_tables() -> pl.DataFrame:
    """The diagnostic reference level sets shipped with recurct.

    Returns
    -------
    polars.DataFrame
        One row per shipped set (``"uk2022"``, ``"arpansa_adult"``): ``name``, ``title``,
        ``citation``, ``keyed_by`` and ``notes``. Read one with :func:`drl_table`.
    """
    rows = []
    for n in data_names("drl_"):
        meta, _ = _drl(n)
        rows.append({k: meta.get(k, "") for k in ("name", "title", "citation", "keyed_by")})
        rows[-1]["notes"] = meta.get("notes", "")
    return pl.DataFrame(rows)


def drl_table(name: str | os.PathLike[str] | Any) -> pl.DataFrame:
    """One set of diagnostic reference levels: a shipped one, or your table, validated.

    Parameters
    ----------
    name : str, path or data frame
        A shipped DRL set (``"uk2022"``, ``"arpansa_adult"``; see :func:`drl_tables`), or your
        own DRL table: a CSV file (optionally starting with ``# key: value`` lines such as
        ``# citation: ...``) or a polars / pandas / pyarrow frame with ``exam_type`` (the key,
        unique), ``ctdivol_mgy`` and/or ``dlp_mgycm`` (finite, > 0; empty where no DRL is
        set) and optionally ``description``, ``body_region`` (the canonical region that maps
        to the exam type, at most one exam type per region), ``source`` and ``note``.

    Returns
    -------
    polars.DataFrame
        ``exam_type``, ``description``, ``body_region`` (null where the set is not by
        region), ``ctdivol_mgy`` and ``dlp_mgycm`` (null where the source sets no DRL), and
        ``source`` where your table has one.

    Raises
    ------
    ValueError
        For your table: naming the row and column of every problem (a missing or repeated
        exam type, a region that is not canonical or mapped twice, a level that is not a
        finite number > 0) or the columns that are missing or unknown.

    Examples
    --------
    >>> import polars as pl
    >>> mine = pl.DataFrame({"exam_type": ["head"], "body_region": ["head"], "dlp_mgycm": [800]})
    >>> drl_table(mine)["dlp_mgycm"].to_list()
    [800.0]
    """
    if name is None:
        raise ParameterError(
            "drl_table needs a set name or a table; list the sets with drl_tables()"
        )
    return _as_drl(name)[2].clone()


# the quantities compared: (name in the output, column, label in messages)
_QUANTITIES = (("ctdivol", "ctdivol_mgy", "CTDIvol"), ("dlp", "dlp_mgycm", "DLP"))


@dataclass
class _LeftOut:
    """What a DRL comparison left out: exams (by reason, with a few of their keys) and
    values (by reason); ``strict=False`` warns with these counts."""

    exams: dict[str, list[Any]] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)

    def exam(self, reason: str, keys: pl.Series) -> None:
        if keys.len():
            shown = keys.cast(pl.Utf8).unique(maintain_order=True).head(5).to_list()
            self.exams[reason] = [keys.len(), shown]

    def warn(self, fn: str, drl: str) -> None:
        parts = []
        if self.exams:
            n = sum(c for c, _ in self.exams.values())
            why = ", ".join(f"{c} {r} {shown}" for r, (c, shown) in self.exams.items())
            parts.append(f"left {n} exam(s) out of the comparison with DRL set {drl!r} ({why})")
        if self.values:
            n = sum(self.values.values())
            why = ", ".join(f"{c} {r}" for r, c in self.values.items())
            parts.append(f"left {n} value(s) out as no value ({why})")
        if parts:
            warnings.warn(f"{fn} {'; '.join(parts)}", DroppedRowsWarning, stacklevel=3)


def _attach_drl(
    df: pl.DataFrame,
    drl: Any,
    exam_type_column: str,
    region_column: str,
    strict: bool,
    left: _LeftOut,
) -> tuple[pl.DataFrame, str, str]:
    """Add ``__exam_type``, ``drl_ctdivol_mgy``, ``drl_dlp_mgycm``; check the keys.

    Returns ``(df, the column matched, the DRL set's name)``. Keys that are not the set's
    (an exam type not in it; a region that is not canonical) are an error (``strict``) or
    counted in ``left``; a null key or a canonical region without a DRL is left out as
    documented, without a count.
    """
    drl, _, levels = _as_drl(drl)
    if exam_type_column in df.columns:
        key = pl.col(exam_type_column).cast(pl.Utf8)
        source = exam_type_column
    elif levels["body_region"].null_count() < levels.height and region_column in df.columns:
        pairs = levels.filter(pl.col("body_region").is_not_null())
        mapping = dict(zip(pairs["body_region"].to_list(), pairs["exam_type"].to_list()))
        key = pl.col(region_column).cast(pl.Utf8).replace_strict(mapping, default=None)
        source = region_column
    else:
        by_region = levels["body_region"].null_count() < levels.height
        raise ParameterError(
            f"compare_to_drl needs a column {exam_type_column!r} holding the DRL set's exam "
            f"types ({', '.join(levels['exam_type'].to_list())}; see recurct.dose.drl_table"
            f"({drl!r}))"
            + (f" or a {region_column!r} column" if by_region else "")
            + f". DRL set {drl!r} is keyed by "
            + ("body region" if by_region else "clinical indication")
            + "."
        )
    df = df.with_columns(key.alias("__exam_type"))
    known = set(levels["exam_type"].to_list())
    if source == exam_type_column:
        given = df[exam_type_column].cast(pl.Utf8, strict=False)
        unknown = given.filter(given.is_not_null() & ~given.is_in(list(known)))
        what, hint = f"exam type not in DRL set {drl!r}", f"valid keys: {sorted(known)}"
    else:
        given = df[region_column].cast(pl.Utf8, strict=False)
        unknown = given.filter(given.is_not_null() & ~given.is_in(list(BODY_REGIONS)))
        what = "body region that is not canonical"
        hint = "map free text with recurct.dose.normalise_region first"
    if unknown.len():
        if strict:
            vals = unknown.unique(maintain_order=True).head(10).to_list()
            raise DataError(
                f"{unknown.len()} row(s) have a{'n' if what[0] == 'e' else ''} {what} "
                f"(column {source!r}): {vals}; {hint} (recurct.dose.drl_table({drl!r})). "
                "Pass strict=False to leave them out."
            )
        left.exam(f"with a{'n' if what[0] == 'e' else ''} {what}", unknown)
    lv = levels.select(
        pl.col("exam_type").alias("__exam_type"),
        pl.col("ctdivol_mgy").alias("drl_ctdivol_mgy"),
        pl.col("dlp_mgycm").alias("drl_dlp_mgycm"),
    )
    df = df.join(lv, on="__exam_type", how="left", maintain_order="left")
    df = df.with_columns(
        pl.when(pl.col("__exam_type").is_in(list(known)))
        .then(pl.col("__exam_type"))
        .alias("__exam_type")
    )
    return df, source, drl


def _values(df: pl.DataFrame, fn: str, strict: bool, left: _LeftOut) -> pl.DataFrame:
    """``__ctdivol_mgy`` and ``__dlp_mgycm``: the values compared, as Float64.

    Null or NaN is no value (not counted); a value that is negative, infinite or not a
    number (text is read as a number where it is one) is no value either, and on a row
    compared (one with an exam type of the set) it is an error (``strict``) naming the rows
    and column, or counted in ``left``.
    """
    compared = df["__exam_type"].is_not_null().to_numpy()
    cols, problems = [], []
    for _, col, label in _QUANTITIES:
        if col not in df.columns:
            cols.append(pl.lit(None, pl.Float64).alias(f"__{col}"))
            continue
        v, code = numbers(df[col])
        idx = np.flatnonzero((code != NUM_OK) & compared)
        if idx.size:
            raw = df[col].gather(idx).cast(pl.Utf8, strict=False).to_list()
            for i, r in zip(idx.tolist(), raw):
                problems.append((i, col, r, NUM_WHAT[int(code[i])].format(label)))
        cols.append(pl.Series(f"__{col}", v, dtype=pl.Float64).fill_nan(None))
    if problems and strict:
        problems.sort()
        raise DataError(
            f"{fn}: {len(problems)} value(s) cannot be compared with a DRL:\n"
            + listing(problems[:20], len(problems), 20)
            + "\nFix them, or pass strict=False to leave them out (as no value)."
        )
    for _, _, _, why in problems:
        left.values[why] = left.values.get(why, 0) + 1
    return df.with_columns(cols)


def _options(fn: str, strict: Any, exam_type: Any, region: Any) -> tuple[bool, str, str]:
    """The options the two DRL comparisons share, checked (``ParameterError`` naming them)."""
    return (
        _checks.flag(strict, fn, "strict"),
        _checks.column_name(exam_type, fn, "exam_type_column"),
        _checks.column_name(region, fn, "region_column"),
    )


def flag_above_drl(
    exams: Any,
    drl: Any = "uk2022",
    *,
    exam_type_column: str = "exam_type",
    region_column: str = "body_region",
    strict: bool = True,
) -> pl.DataFrame | pd.DataFrame:
    """Add per-exam DRL values and flags.

    Adds ``drl_ctdivol_mgy`` and ``drl_dlp_mgycm`` (the DRLs of the exam's type; null where
    the exam type is not in the set or the source sets none) and ``above_drl_ctdivol`` and
    ``above_drl_dlp`` (Boolean: the exam's value is strictly greater than the DRL; null where
    the value or the DRL is null). Exam types are matched as in :func:`compare_to_drl`, and
    values are read as there: null or NaN is no value; a negative, infinite or non-numeric
    value is an error (``strict=True``) or no value, counted in a warning (``strict=False``).

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        With ``ctdivol_mgy`` and/or ``dlp_mgycm`` and the exam-type (or region) column.
    drl, exam_type_column, region_column, strict
        As in :func:`compare_to_drl`.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input with the four columns added, one row per input row (pandas with the
        input's index).

    Raises
    ------
    DataError
        With ``strict=True``: an exam type not in the set (a body region that is not
        canonical, for a set matched by region), or a value that is negative, infinite or
        not a number on a row compared, naming them.

    Warns
    -----
    DroppedRowsWarning
        With ``strict=False``, counting by reason the exams and values left out.
    """
    strict, exam_type_column, region_column = _options(
        "flag_above_drl", strict, exam_type_column, region_column
    )
    df, kind = to_polars(exams)
    left = _LeftOut()
    out, _, name = _attach_drl(df, drl, exam_type_column, region_column, strict, left)
    out = _values(out, "flag_above_drl", strict, left)
    left.warn("flag_above_drl", name)
    flags = [
        (pl.col(f"__{col}") > pl.col(f"drl_{col}")).alias(f"above_drl_{q}")
        for q, col, _ in _QUANTITIES
    ]
    out = out.with_columns(flags).drop("__exam_type", *(f"__{c}" for _, c, _ in _QUANTITIES))
    return from_polars(out, kind, input_index(exams))  # one row per input row: its index


@renamed(by="site")
def compare_to_drl(
    exams: Any,
    drl: Any = "uk2022",
    *,
    exam_type_column: str = "exam_type",
    site: str | None = "facility",
    region_column: str = "body_region",
    strict: bool = True,
) -> pl.DataFrame | pd.DataFrame:
    """Compare typical (median) CTDIvol and DLP per exam type and site with DRLs.

    Exam types are matched by key: the ``exam_type_column`` must hold the DRL set's
    ``exam_type`` values, listed by :func:`drl_table` (UK DRLs are set per clinical indication, so
    the user assigns them, e.g. ``"chest_lung_cancer"``). For sets keyed by region
    (``arpansa_adult``), when there is no ``exam_type_column`` the canonical ``body_region``
    is mapped instead (``head`` -> ``head``, ...; canonical regions without a DRL, such as
    ``spine``, are left out). Exams with no exam type (null, or a canonical region without a
    DRL) are left out. An exam type that is not a key of the set, or (matching by region) a
    region that is not canonical (``"Head"``, ``"chest "``: map free text with
    :func:`normalise_region`), is an error (``strict=True``) or left out, counted by reason in
    a :class:`~recurct.errors.DroppedRowsWarning` (``strict=False``).

    Values: null (or NaN) is no value, as in ``n_q`` below. Text is read as a number where it
    is one (``"790"``). A value that is negative, infinite or not a number is not a value
    either: with ``strict=True`` an error naming its rows and column, with ``strict=False``
    left out and counted in the warning.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        With ``ctdivol_mgy`` and/or ``dlp_mgycm``, the exam-type (or region) column and the
        ``site`` column.
    drl : str, path or data frame
        A shipped DRL set (:func:`drl_tables`), or your own DRL table (a CSV path or a frame,
        in the format of :func:`drl_table`): a national or local set is used exactly like a
        shipped one.
    exam_type_column, region_column : str
        See above.
    site : str or None
        The column naming the site (facility) whose exams are compared (default
        ``"facility"``); None for one row per exam type over all sites.
    strict : bool
        See above.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per exam type and site, sorted by them: ``exam_type``, the ``site``
        column, ``n_exams``, and for each quantity q in (``ctdivol``, ``dlp``):
        ``n_q`` (exams with a value), ``median_q`` (median of the exams' values),
        ``drl_q`` (the DRL), ``ratio_q`` (median / DRL), ``n_above_q`` (exams with a value
        strictly above the DRL) and ``share_above_q`` (``n_above_q / n_q``, a fraction).
        Statistics without data or without a DRL are null. The units are those of the input:
        mGy for CTDIvol, mGy·cm for DLP.

    Raises
    ------
    DataError
        With ``strict=True``: exam types not in the set (regions that are not canonical, for
        a set matched by region), or values that are negative, infinite or not a number on
        rows compared, naming them.

    Warns
    -----
    DroppedRowsWarning
        With ``strict=False``, counting by reason the exams and values left out.
    """
    strict, exam_type_column, region_column = _options(
        "compare_to_drl", strict, exam_type_column, region_column
    )
    df, kind = to_polars(exams)
    if site is not None and not isinstance(site, str):
        raise ParameterError(f"compare_to_drl: site must be one column name or None, got {site!r}")
    by_cols = [] if site is None else [site]
    if site is not None and site not in df.columns:
        raise ParameterError(
            f"compare_to_drl: site column {site!r} not in the table; pass site=None for one "
            "row per exam type"
        )
    if "ctdivol_mgy" not in df.columns and "dlp_mgycm" not in df.columns:
        raise DataError("compare_to_drl needs a ctdivol_mgy or dlp_mgycm column")
    left = _LeftOut()
    flagged, _, name = _attach_drl(df, drl, exam_type_column, region_column, strict, left)
    flagged = _values(flagged, "compare_to_drl", strict, left)
    left.warn("compare_to_drl", name)
    flagged = flagged.filter(pl.col("__exam_type").is_not_null())
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("n_exams")]
    for q, col, _ in _QUANTITIES:
        val = pl.col(f"__{col}")
        lvl = pl.col(f"drl_{col}").first()
        aggs += [
            val.count().cast(pl.Int64).alias(f"n_{q}"),
            val.median().alias(f"median_{q}"),
            lvl.alias(f"drl_{q}"),
            (val.median() / lvl).alias(f"ratio_{q}"),
            pl.when(lvl.is_not_null()).then((val > lvl).sum().cast(pl.Int64)).alias(f"n_above_{q}"),
        ]
    keys = ["__exam_type", *by_cols]
    out = flagged.group_by(keys).agg(aggs).sort(keys, nulls_last=True)
    out = out.rename({"__exam_type": "exam_type"})
    out = out.with_columns(
        (
            pl.col(f"n_above_{q}")
            / pl.when(pl.col(f"n_{q}") > 0).then(pl.col(f"n_{q}")).otherwise(None)
        ).alias(f"share_above_{q}")
        for q in ("ctdivol", "dlp")
    )
    cols = ["exam_type", *by_cols, "n_exams"]
    for q in ("ctdivol", "dlp"):
        cols += [f"n_{q}", f"median_{q}", f"drl_{q}", f"ratio_{q}", f"n_above_{q}"]
        cols.append(f"share_above_{q}")
    return from_polars(out.select(cols), kind)
