"""Conversion-factor tables as data: the shipped files (``recurct/data/kfactors_*.csv``) and
the user's tables (CSV or frame), read, checked and held as :class:`KTable`; the data-file
and number-checking helpers the DRL tables share."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from recurct._casts import as_written, numeric_text
from recurct._frames import to_polars
from recurct.errors import DataError, ParameterError
from recurct.schema import BODY_REGIONS

AgeRule = Literal["nearest-lower", "nearest", "interpolate"]
"""How an age-dependent k-factor table is read at an age between its tabulated ages: the type
of ``age_rule`` (see :mod:`recurct.dose`)."""
AGE_RULES: tuple[str, ...] = ("nearest-lower", "nearest", "interpolate")
"""The values of ``age_rule`` (:data:`AgeRule`), the default first."""

MAX_AGE = 130.0


# ---------------------------------------------------------------------------------------------
# Data files and user tables
# ---------------------------------------------------------------------------------------------

KTABLE_COLUMNS: tuple[str, ...] = (
    "region",
    "k",
    "age",
    "age_label",
    "sex",
    "kv",
    "source",
    "source_label",
    "note",
)
"""Columns a conversion-factor table may have: ``region`` and ``k`` are required (see
:func:`table`)."""


def _split_header(text: str) -> tuple[dict[str, str], str]:
    """``# key: value`` header lines (anywhere) and the CSV body."""
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    return meta, "\n".join(body)


def read_data_file(filename: str) -> tuple[dict[str, str], pl.DataFrame]:
    """Read a package data CSV: ``# key: value`` header lines, then a CSV body."""
    text = resources.files("recurct").joinpath("data", filename).read_text(encoding="utf-8")
    meta, body = _split_header(text)
    return meta, pl.read_csv(io.StringIO(body), infer_schema=False)


def data_names(prefix: str) -> list[str]:
    folder = resources.files("recurct").joinpath("data")
    names = [
        p.name[len(prefix) : -len(".csv")]
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".csv")
    ]
    return sorted(names)


def is_shipped_name(spec: Any, prefix: str) -> bool:
    """Whether ``spec`` names a shipped table (or is meant to: not a CSV name nor a file)."""
    return (
        isinstance(spec, str)
        and not spec.lower().endswith((".csv", ".txt", ".tsv"))
        and (spec in data_names(prefix) or not Path(spec).is_file())
    )


def user_table(spec: Any, prefix: str, what: str) -> tuple[str, dict[str, str], pl.DataFrame]:
    """A table given by the user: a CSV path (with optional ``# key: value`` lines) or a frame.

    Returns ``(name, meta, frame)``; ``name`` is the header's ``name``, else the file stem,
    else ``"custom"``.
    """
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.is_file():
            available = ", ".join(data_names(prefix))
            raise ParameterError(
                f"unknown {what} {str(spec)!r}: not a shipped table ({available}) and not a "
                "CSV file; pass a shipped name, a CSV path or a data frame"
            )
        try:
            meta, body = _split_header(path.read_text(encoding="utf-8-sig"))
            sep = (
                ";"
                if body.partition("\n")[0].count(";") > body.partition("\n")[0].count(",")
                else ","
            )
            df = pl.read_csv(io.StringIO(body), infer_schema=False, separator=sep)
        except (UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"{path.name}: not a readable CSV {what} ({exc})") from None
        df = df.rename({c: c.strip() for c in df.columns})
        if sep == ";":  # a European spreadsheet: numbers may have a decimal comma
            numeric = [c for c in ("k", "age", "kv", "ctdivol_mgy", "dlp_mgycm") if c in df.columns]
            df = df.with_columns(pl.col(numeric).str.replace(",", ".", literal=True))
        return meta.get("name") or path.stem, {"where": path.name, **meta}, df
    if isinstance(spec, Mapping) or not hasattr(spec, "__len__"):
        raise ParameterError(
            f"{what} must be a shipped name, a CSV path or a data frame, got {type(spec).__name__}"
        )
    df, _ = to_polars(spec)
    return "custom", {"where": f"the {what} given"}, df


def text_column(df: pl.DataFrame, name: str) -> pl.Series:
    """A column as stripped text, empty strings null (a missing column is all null)."""
    if name not in df.columns:
        return pl.Series(name, [None] * df.height, dtype=pl.Utf8)
    s = df[name].cast(pl.Utf8, strict=False).str.strip_chars()
    return pl.select(pl.when(s == "").then(None).otherwise(s).alias(name)).to_series()


NUM_OK, _NUM_TEXT, _NUM_INF, _NUM_NEG = range(4)
_NUM_REASON = {_NUM_TEXT: "not a number", _NUM_INF: "not finite", _NUM_NEG: "negative"}
NUM_WHAT = {_NUM_TEXT: "{} not a number", _NUM_INF: "non-finite {}", _NUM_NEG: "negative {}"}


def numbers(s: pl.Series, *, placeholders: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 (NaN for null or bad values) and a code per row.

    Codes: ``NUM_OK`` (a number >= 0, or missing), ``_NUM_TEXT`` (text that is not a number,
    a boolean, a date...), ``_NUM_INF`` (infinite) and ``_NUM_NEG`` (negative). NaN counts as
    missing. A ``Float32`` (or ``Float16``) value is read as written, by its shortest decimal
    (12.3, not 12.300000190734863: :func:`recurct._casts.as_written`); text (or categories
    of text) by the one rule of text numbers (:func:`recurct._casts.numeric_text`: ``"12,5"``
    is 12.5 in a column of decimal commas, as :func:`recurct.validate` reads it), a blank
    cell or a placeholder (:data:`recurct._casts.NULL_STRINGS`: ``"n/a"``, ``"NULL"``, ...)
    missing, as :func:`recurct.read_exams` reads a file's cells; with
    ``placeholders=False`` (a reference table's column, :func:`check_numbers`) a
    placeholder is text that is not a number.
    """
    n = s.len()
    code = np.zeros(n, dtype=np.int8)
    if s.dtype in (pl.Float32, pl.Float16):  # as written: 12.3, not 12.300000190734863
        s = s.to_frame().select(as_written(pl.first(), s.dtype)).to_series()
    if s.dtype.is_float():  # fast path: no copy unless a value is bad
        v = s.to_numpy()
        with np.errstate(invalid="ignore"):
            inf, neg = np.isinf(v), v < 0
        if not (inf.any() or neg.any()):
            return v, code
        code[inf] = _NUM_INF
        code[neg & ~inf] = _NUM_NEG
        v = v.astype(np.float64, copy=True)
        v[code != NUM_OK] = np.nan
        return v, code
    if isinstance(s.dtype, pl.Categorical | pl.Enum):  # categories of text: their text
        s = s.cast(pl.Utf8)
    if s.dtype == pl.Utf8:
        # text numbers by the one rule (decimal commas, thousands separators: the column
        # decides, as validate and read_exams read them; an ambiguous cell is no number)
        t = numeric_text(s, placeholders=placeholders).str.strip_chars()
        num = t.cast(pl.Float64, strict=False)
        code[(t.is_not_null() & (t != "") & num.is_null()).to_numpy()] = _NUM_TEXT
    elif s.dtype.is_numeric():
        num = s.cast(pl.Float64)
    elif s.dtype == pl.Null:
        num = pl.Series(s.name, [None] * n, dtype=pl.Float64)
    else:  # Boolean, dates, lists...: never a dose
        num = pl.Series(s.name, [None] * n, dtype=pl.Float64)
        code[s.is_not_null().to_numpy()] = _NUM_TEXT
    v = num.to_numpy().astype(np.float64, copy=True)
    with np.errstate(invalid="ignore"):
        code[(code == NUM_OK) & np.isinf(v)] = _NUM_INF
        code[(code == NUM_OK) & (v < 0)] = _NUM_NEG
    v[code != NUM_OK] = np.nan
    return v, code


def listing(shown: Iterable[tuple[Any, str, Any, str]], total: int, show: int) -> str:
    """One ``row r, column 'c': reason (value: v)`` line per problem shown, then how many more."""
    lines = [
        f"  row {r}, column {c!r}: {why}" + ("" if v is None else f" (value: {v!r})")
        for r, c, v, why in shown
    ]
    more = f"\n  ... and {total - show} more" if total > show else ""
    return "\n".join(lines) + more


def table_error(where: str, what: str, problems: list[tuple[int, str, Any, str]]) -> DataError:
    return DataError(
        f"{where}: invalid {what} ({len(problems)} problem(s)):\n"
        + listing(problems[:20], len(problems), 20)
    )


def check_numbers(
    df: pl.DataFrame,
    column: str,
    problems: list[tuple[int, str, Any, str]],
    *,
    positive: bool = False,
    upper: float | None = None,
    required: bool = False,
) -> np.ndarray:
    """Float values of a column; bad (or, if ``required``, missing) values go to ``problems``."""
    if column not in df.columns:
        return np.full(df.height, np.nan)
    raw = df[column]
    v, code = numbers(raw, placeholders=False)  # a reference table: "n/a" is no number
    v = np.array(v, dtype=np.float64, copy=True)  # the fast path may return a read-only view
    bad = code != NUM_OK
    reasons = np.array([_NUM_REASON.get(int(c), "") for c in code], dtype=object)
    if positive:
        zero = ~bad & (v == 0)
        reasons[zero], bad = "must be > 0", bad | zero
    if upper is not None:
        high = ~bad & (v > upper)
        reasons[high], bad = f"above {upper:g}", bad | high
    if required:
        absent = ~bad & np.isnan(v)
        reasons[absent], bad = "missing value", bad | absent
    for i in np.flatnonzero(bad):
        problems.append((int(i), column, raw[int(i)], str(reasons[i])))
    v[bad] = np.nan
    return v


@dataclass(frozen=True)
class KTable:
    """One conversion-factor table as arrays: ``k[sex, region, age]`` (NaN: none)."""

    name: str
    title: str
    citation: str
    convention: str
    kv: float | None
    phantom: str
    ages: np.ndarray  # tabulated ages (years), ascending; [adult_from] for adult-only tables
    age_labels: tuple[str, ...]
    adult_from: float
    regions: tuple[str, ...]  # regions tabulated (subset of BODY_REGIONS)
    sexes: tuple[str, ...]  # () or ("F", "M"): the first axis of k
    k: np.ndarray  # shape (max(1, len(sexes)), len(BODY_REGIONS), len(ages))
    notes: str
    long: pl.DataFrame
    shipped: bool

    @property
    def age_dependent(self) -> bool:
        return len(self.ages) > 1

    def with_adult_from(self, adult_from: float | None) -> KTable:
        """The table with its adult (last) column starting at ``adult_from`` years."""
        if adult_from is None or not self.age_dependent or float(adult_from) == self.adult_from:
            return self
        a = float(adult_from)
        if not (np.isfinite(a) and self.ages[-2] < a <= MAX_AGE):
            raise ParameterError(
                f"adult_from={adult_from!r}: table {self.name!r} has a paediatric column at "
                f"{self.ages[-2]:g} y, so its adult column must start after it (and by "
                f"{MAX_AGE:g} y)"
            )
        ages = self.ages.copy()
        ages[-1] = a
        return replace(self, ages=ages, adult_from=a, name=f"{self.name} (adult from {a:g} y)")


def _build_ktable(
    meta: dict[str, str], df: pl.DataFrame, name: str, *, shipped: bool, kv: float | None = None
) -> KTable:
    """Validate a conversion-factor table (shipped or the user's) and build its arrays."""
    where = meta.get("where", name)
    _check_ktable_columns(where, df)
    region, k, age, sex, kvs = _ktable_values(where, df)
    keep, table_kv, name = _choose_kv(where, name, meta, kvs, kv)
    rows = np.flatnonzero(keep)
    reg = [region[int(i)] for i in rows]
    has_age = ~np.isnan(age[rows])
    ages, adult_from = _tabulated_ages(where, meta, age[rows][has_age])
    sexes = ("F", "M") if sex.drop_nulls().len() else ()
    kk = _factor_array(where, rows, reg, k, age, has_age, sex, sexes, ages)
    regions = tuple(r for r in BODY_REGIONS if r in set(reg))
    _check_every_age(where, kk, regions, sexes, ages)
    if meta.get("ages"):
        age_labels = tuple(s.strip() for s in meta["ages"].split(","))
    elif len(ages) > 1:
        age_labels = tuple(f"{a:g} y" for a in ages)
    else:
        age_labels = ("all ages",)
    sub = df[rows.tolist()] if rows.size < df.height else df
    long = pl.DataFrame(
        {
            "region": reg,
            "age": pl.Series(age[rows], dtype=pl.Float64).fill_nan(None),
            "age_label": text_column(sub, "age_label"),
            "k": k[rows],
            "source_label": text_column(sub, "source_label"),
        }
    )
    if sexes:
        long = long.with_columns(sex=sex.gather(rows.tolist()))
    if "source" in df.columns:
        long = long.with_columns(source=text_column(sub, "source"))
    citation = meta.get("citation") or "; ".join(
        text_column(sub, "source").drop_nulls().unique(maintain_order=True).to_list()
    )
    return KTable(
        name=name,
        title=meta.get("title", ""),
        citation=citation or "user-supplied table (no source given)",
        convention=meta.get("convention", ""),
        kv=table_kv,
        phantom=meta.get("phantom", ""),
        ages=ages,
        age_labels=age_labels,
        adult_from=adult_from,
        regions=regions,
        sexes=sexes,
        k=kk,
        notes=meta.get("notes", ""),
        long=long,
        shipped=shipped,
    )


def _check_ktable_columns(where: str, df: pl.DataFrame) -> None:
    missing = [c for c in ("region", "k") if c not in df.columns]
    unknown = [c for c in df.columns if c not in KTABLE_COLUMNS]
    if missing or unknown:
        raise DataError(
            f"{where}: a conversion-factor table needs columns 'region' and 'k' and may have "
            f"{', '.join(repr(c) for c in KTABLE_COLUMNS[2:])}; "
            + (f"missing {missing}" if missing else f"unknown column(s) {unknown}")
            + f" (it has {df.columns})"
        )


def _ktable_values(
    where: str, df: pl.DataFrame
) -> tuple[pl.Series, np.ndarray, np.ndarray, pl.Series, np.ndarray]:
    """``(region, k, age, sex, kv)`` checked; every bad value is named in one error."""
    problems: list[tuple[int, str, Any, str]] = []
    region = text_column(df, "region")
    for i, r in enumerate(region.to_list()):
        if r not in BODY_REGIONS:
            problems.append(
                (i, "region", r, f"not a canonical body region ({', '.join(BODY_REGIONS)})")
            )
    k = check_numbers(df, "k", problems, positive=True, required=True)
    age = check_numbers(df, "age", problems, upper=MAX_AGE)
    sex = text_column(df, "sex").str.to_uppercase()
    for i, s in enumerate(sex.to_list()):
        if s not in (None, "F", "M"):
            problems.append((i, "sex", s, "must be F, M or empty (both)"))
    kvs = check_numbers(df, "kv", problems, positive=True)
    if problems:
        raise table_error(where, "conversion-factor table", sorted(problems))
    return region, k, age, sex, kvs


def _choose_kv(
    where: str, name: str, meta: dict[str, str], kvs: np.ndarray, kv: float | None
) -> tuple[np.ndarray, float | None, str]:
    """``(rows kept, the table's kV, its name)``: one tube voltage of a table holding several."""
    keep = np.ones(kvs.size, dtype=bool)
    table_kv = float(meta["kv"]) if meta.get("kv") else None
    given = sorted(set(kvs[~np.isnan(kvs)].tolist()))
    if not given:
        return keep, table_kv, name
    if kv is None and len(given) > 1:
        raise ParameterError(
            f"{where}: the table holds factors for several tube voltages {given} kV; "
            "choose one with kv="
        )
    table_kv = float(kv) if kv is not None else given[0]
    if table_kv not in given:
        raise ParameterError(f"{where}: no factors for {table_kv:g} kV (the table has {given} kV)")
    keep = np.isnan(kvs) | (kvs == table_kv)
    if len(given) > 1:
        name = f"{name} {table_kv:g} kV"
    return keep, table_kv, name


def _tabulated_ages(
    where: str, meta: dict[str, str], tabulated: np.ndarray
) -> tuple[np.ndarray, float]:
    """The ascending age columns (``[adult_from]`` for an adult-only table) and the age
    the last one starts at."""
    ages = np.array(sorted(set(tabulated.tolist())), dtype=np.float64)
    adult_from = float(meta.get("adult_from") or (ages[-1] if ages.size else 18.0))
    if ages.size and ages[-1] != adult_from:
        raise DataError(
            f"{where}: adult_from {adult_from:g} must be the last tabulated age ({ages[-1]:g})"
        )
    if ages.size == 1:
        raise DataError(
            f"{where}: one tabulated age ({ages[0]:g}) is not an age-dependent table; leave "
            "'age' empty for a factor that applies at every age"
        )
    return (ages if ages.size else np.array([adult_from])), adult_from


def _factor_array(
    where: str,
    rows: np.ndarray,
    reg: list[str],
    k: np.ndarray,
    age: np.ndarray,
    has_age: np.ndarray,
    sex: pl.Series,
    sexes: tuple[str, ...],
    ages: np.ndarray,
) -> np.ndarray:
    """``k[sex, region, age]`` (NaN: none); two factors for one cell are an error."""
    kk = np.full((max(1, len(sexes)), len(BODY_REGIONS), len(ages)), np.nan)
    seen: dict[tuple[str, int, int], int] = {}
    dup: list[tuple[int, str, Any, str]] = []
    for pos, i in enumerate(rows):
        r = BODY_REGIONS.index(reg[pos])
        s_idx = range(kk.shape[0]) if sex[int(i)] is None else [sexes.index(sex[int(i)])]
        a_idx = range(len(ages)) if not has_age[pos] else [int(np.searchsorted(ages, age[i]))]
        for s in s_idx:
            for a in a_idx:
                key = (reg[pos], s, a)
                if key in seen:
                    dup.append((int(i), "region", reg[pos], f"a second factor for the same "
                                f"region, age and sex as row {seen[key]}"))  # fmt: skip
                seen[key] = int(i)
                kk[s, r, a] = k[i]
    if dup:
        raise table_error(where, "conversion-factor table", dup)
    return kk


def _check_every_age(
    where: str, kk: np.ndarray, regions: tuple[str, ...], sexes: tuple[str, ...], ages: np.ndarray
) -> None:
    """An age-dependent region needs a factor at every tabulated age."""
    for r in regions:
        for si in range(kk.shape[0]):
            lacking = np.isnan(kk[si, BODY_REGIONS.index(r), :])
            if lacking.any() and not lacking.all():
                who = f" (sex {sexes[si]})" if sexes else ""
                raise DataError(
                    f"{where}: region {r!r}{who} has no factor at age(s) "
                    f"{ages[lacking].tolist()} that the table tabulates; give one row per age "
                    "column, or leave 'age' empty for a factor that applies at every age"
                )


@cache
def ktable(name: str) -> KTable:
    available = data_names("kfactors_")
    if name not in available:
        hint = ""
        if name.startswith("nci") and name != "nci_icrp103_120kv":
            hint = (
                " The NCI table is included for 120 kV only ('nci_icrp103_120kv'): its 80 and "
                "100 kV rows are not in recurct's reference values."
            )
        raise ParameterError(
            f"unknown conversion-factor table {name!r}; available: {', '.join(available)}, "
            f"or pass your own table (a CSV path or a data frame).{hint}"
        )
    meta, df = read_data_file(f"kfactors_{name}.csv")
    return _build_ktable({"where": f"kfactors_{name}.csv", **meta}, df, name, shipped=True)


def as_ktable(spec: Any, kv: float | None = None) -> KTable:
    """A shipped table by name, or the user's (CSV path or frame), validated."""
    if isinstance(spec, KTable):
        return spec
    if is_shipped_name(spec, "kfactors_"):
        return ktable(spec)
    name, meta, df = user_table(spec, "kfactors_", "conversion-factor table")
    return _build_ktable(meta, df, name, shipped=False, kv=kv)
