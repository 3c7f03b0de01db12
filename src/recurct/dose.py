"""Effective dose from DLP, body-region normalisation and comparison with reference levels.

Effective dose is estimated as ``E = k x DLP`` (mSv = mSv/(mGy·cm) x mGy·cm), with ``k`` from
a published conversion-factor table chosen by body region and, for paediatric tables, age.
Every table is a package data file (``recurct/data/kfactors_<name>.csv``) holding its
citation, its ICRP convention (60 or 103), its tube voltage where it applies and its age
columns; every value comes from ``docs/sources.md`` (section "Dose conversion").

Tables (see :func:`tables`):

====================== ============ ====== ========================= ==========================
name                   convention   kV     ages (y)                  regions
====================== ============ ====== ========================= ==========================
``aapm96``             ICRP 60      --     adult                     head, head_neck, neck,
                                                                     chest, abdomen_pelvis,
                                                                     abdomen, pelvis,
                                                                     chest_abdomen_pelvis
``icrp103_adult``      ICRP 103     --     adult                     head, neck, chest, abdomen,
                                                                     pelvis, chest_abdomen_pelvis
``shrimpton_age``      ICRP 60      120    0, 1, 5, 10, adult (18)   head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
``nci_icrp103_120kv``  ICRP 103     120    0, 1, 5, 10, 15, 30       head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
====================== ============ ====== ========================= ==========================

Every table states its convention, tube voltage and phantom (:func:`tables`). Your own
table (a CSV file or a data frame with ``region``, ``k`` and optional ``age``, ``sex``, ``kv``,
``source`` columns; see :func:`table`) can be used wherever a shipped one is named, alone or
with a shipped one as ``fallback_table`` (and the other way round).

A region a table does not tabulate is an error naming the region and the table, unless the
caller says what to use instead: ``fallback={"abdomen": "abdomen_pelvis"}`` (use another
region's factor of the same table) or ``fallback_table="aapm96"`` (use another table).
Nothing is derived silently.

Age rules (age-dependent tables; the tabulated ages ``a_0 < a_1 < ... < a_m``):

* ``"nearest-lower"``: the column of the largest tabulated age ``<= age``. With
  ``shrimpton_age`` (0, 1, 5, 10, 18): 0.5 -> 0 y, 1.0 -> 1 y, 4.99 -> 1 y, 5.0 -> 5 y,
  17.99 -> 10 y, 18.0 -> adult.
* ``"nearest"``: the column of the closest tabulated age, ties to the younger column
  (``shrimpton_age``: 3.0 -> 1 y, 3.01 -> 5 y, 14.01 -> adult).
* ``"interpolate"``: linear in age between neighbouring tabulated ages, constant beyond the
  last one (and at the first one, 0 y).

The adult (last) column of an age table applies from its ``adult_from`` age (18 y for
``shrimpton_age``, 30 y for ``nci_icrp103_120kv``); ``adult_from=`` moves that boundary for one
call, e.g. ``adult_from=18`` gives an 18-29-year-old the NCI adult factor.

Adult-only tables (``aapm96``, ``icrp103_adult``) ignore age: the adult factor is applied to
every row, children included, which is why age-dependent tables exist; :func:`effective_dose`
warns (:class:`DoseConversionWarning`) when it applies one to rows with ``age_years`` below 18
(the adult start of ``shrimpton_age``), without changing the values.

Public functions:

* :func:`tables`, :func:`table`, :func:`k_factors` -- the factor tables and a vectorised lookup;
* :func:`effective_dose` -- fill ``effective_dose_msv`` of an exam (or event) table, with the
  method recorded in ``dose_method``;
* :func:`exam_region` -- the one rule giving an exam its body region from its events;
* :func:`normalise_region`, :func:`region_rules` -- free text -> canonical body region by an
  ordered, extensible rule table (None when nothing matches);
* :func:`drls`, :func:`compare_to_drl`, :func:`flag_above_drl` -- diagnostic reference levels
  (``uk2022`` by clinical indication, ``arpansa_adult`` by region) from
  ``recurct/data/drl_<name>.csv``, or your own DRL table (CSV or frame).

See ``docs/dose.md`` for a guide.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from recurct import _checks
from recurct._frames import from_polars, to_polars
from recurct.errors import DoseConversionError, DoseConversionWarning
from recurct.regions import normalise_region, region_rules
from recurct.schema import BODY_REGIONS, MAX_EXAM_DOSE_MSV

__all__ = [
    "SUPPLIED_METHOD",
    "DoseConversionError",
    "DoseConversionWarning",
    "compare_to_drl",
    "drls",
    "effective_dose",
    "exam_region",
    "flag_above_drl",
    "k_factors",
    "normalise_region",
    "region_rules",
    "table",
    "tables",
]

AgeRule = Literal["nearest-lower", "nearest", "interpolate"]
AGE_RULES: tuple[str, ...] = ("nearest-lower", "nearest", "interpolate")

_MAX_AGE = 130.0


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
required (see :func:`drls`)."""


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


def _read_data_file(filename: str) -> tuple[dict[str, str], pl.DataFrame]:
    """Read a package data CSV: ``# key: value`` header lines, then a CSV body."""
    text = resources.files("recurct").joinpath("data", filename).read_text(encoding="utf-8")
    meta, body = _split_header(text)
    return meta, pl.read_csv(io.StringIO(body), infer_schema=False)


def _data_names(prefix: str) -> list[str]:
    folder = resources.files("recurct").joinpath("data")
    names = [
        p.name[len(prefix) : -len(".csv")]
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".csv")
    ]
    return sorted(names)


def _is_shipped_name(spec: Any, prefix: str) -> bool:
    """Whether ``spec`` names a shipped table (or is meant to: not a CSV name nor a file)."""
    return (
        isinstance(spec, str)
        and not spec.lower().endswith((".csv", ".txt", ".tsv"))
        and (spec in _data_names(prefix) or not Path(spec).is_file())
    )


def _user_table(spec: Any, prefix: str, what: str) -> tuple[str, dict[str, str], pl.DataFrame]:
    """A table given by the user: a CSV path (with optional ``# key: value`` lines) or a frame.

    Returns ``(name, meta, frame)``; ``name`` is the header's ``name``, else the file stem,
    else ``"custom"``.
    """
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.is_file():
            available = ", ".join(_data_names(prefix))
            raise ValueError(
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
            raise ValueError(f"{path.name}: not a readable CSV {what} ({exc})") from None
        df = df.rename({c: c.strip() for c in df.columns})
        if sep == ";":  # a European spreadsheet: numbers may have a decimal comma
            numeric = [c for c in ("k", "age", "kv", "ctdivol_mgy", "dlp_mgycm") if c in df.columns]
            df = df.with_columns(pl.col(numeric).str.replace(",", ".", literal=True))
        return meta.get("name") or path.stem, {"where": path.name, **meta}, df
    if isinstance(spec, Mapping) or not hasattr(spec, "__len__"):
        raise TypeError(
            f"{what} must be a shipped name, a CSV path or a data frame, got {type(spec).__name__}"
        )
    df, _ = to_polars(spec)
    return "custom", {"where": f"the {what} given"}, df


def _text_column(df: pl.DataFrame, name: str) -> pl.Series:
    """A column as stripped text, empty strings null (a missing column is all null)."""
    if name not in df.columns:
        return pl.Series(name, [None] * df.height, dtype=pl.Utf8)
    s = df[name].cast(pl.Utf8, strict=False).str.strip_chars()
    return pl.select(pl.when(s == "").then(None).otherwise(s).alias(name)).to_series()


_NUM_OK, _NUM_TEXT, _NUM_INF, _NUM_NEG = range(4)
_NUM_REASON = {_NUM_TEXT: "not a number", _NUM_INF: "not finite", _NUM_NEG: "negative"}
_NUM_WHAT = {_NUM_TEXT: "{} not a number", _NUM_INF: "non-finite {}", _NUM_NEG: "negative {}"}


def _numbers(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 (NaN for null or bad values) and a code per row.

    Codes: ``_NUM_OK`` (a number >= 0, or missing), ``_NUM_TEXT`` (text that is not a number,
    a boolean, a date...), ``_NUM_INF`` (infinite) and ``_NUM_NEG`` (negative). NaN counts as
    missing.
    """
    n = s.len()
    code = np.zeros(n, dtype=np.int8)
    if s.dtype.is_float():  # fast path: no copy unless a value is bad
        v = s.to_numpy()
        with np.errstate(invalid="ignore"):
            inf, neg = np.isinf(v), v < 0
        if not (inf.any() or neg.any()):
            return v, code
        code[inf] = _NUM_INF
        code[neg & ~inf] = _NUM_NEG
        v = v.astype(np.float64, copy=True)
        v[code != _NUM_OK] = np.nan
        return v, code
    if s.dtype == pl.Utf8:
        t = s.str.strip_chars()
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
        code[(code == _NUM_OK) & np.isinf(v)] = _NUM_INF
        code[(code == _NUM_OK) & (v < 0)] = _NUM_NEG
    v[code != _NUM_OK] = np.nan
    return v, code


def _listing(shown: Iterable[tuple[Any, str, Any, str]], total: int, show: int) -> str:
    """One ``row r, column 'c': reason (value: v)`` line per problem shown, then how many more."""
    lines = [
        f"  row {r}, column {c!r}: {why}" + ("" if v is None else f" (value: {v!r})")
        for r, c, v, why in shown
    ]
    more = f"\n  ... and {total - show} more" if total > show else ""
    return "\n".join(lines) + more


def _table_error(where: str, what: str, problems: list[tuple[int, str, Any, str]]) -> ValueError:
    return ValueError(
        f"{where}: invalid {what} ({len(problems)} problem(s)):\n"
        + _listing(problems[:20], len(problems), 20)
    )


def _check_numbers(
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
    v, code = _numbers(raw)
    v = np.array(v, dtype=np.float64, copy=True)  # the fast path may return a read-only view
    bad = code != _NUM_OK
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
class _KTable:
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

    def with_adult_from(self, adult_from: float | None) -> _KTable:
        """The table with its adult (last) column starting at ``adult_from`` years."""
        if adult_from is None or not self.age_dependent or float(adult_from) == self.adult_from:
            return self
        a = float(adult_from)
        if not (np.isfinite(a) and self.ages[-2] < a <= _MAX_AGE):
            raise ValueError(
                f"adult_from={adult_from!r}: table {self.name!r} has a paediatric column at "
                f"{self.ages[-2]:g} y, so its adult column must start after it (and by "
                f"{_MAX_AGE:g} y)"
            )
        ages = self.ages.copy()
        ages[-1] = a
        return replace(self, ages=ages, adult_from=a, name=f"{self.name} (adult from {a:g} y)")


def _build_ktable(
    meta: dict[str, str], df: pl.DataFrame, name: str, *, shipped: bool, kv: float | None = None
) -> _KTable:
    """Validate a conversion-factor table (shipped or the user's) and build its arrays."""
    where = meta.get("where", name)
    missing = [c for c in ("region", "k") if c not in df.columns]
    unknown = [c for c in df.columns if c not in KTABLE_COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"{where}: a conversion-factor table needs columns 'region' and 'k' and may have "
            f"{', '.join(repr(c) for c in KTABLE_COLUMNS[2:])}; "
            + (f"missing {missing}" if missing else f"unknown column(s) {unknown}")
            + f" (it has {df.columns})"
        )
    problems: list[tuple[int, str, Any, str]] = []
    region = _text_column(df, "region")
    for i, r in enumerate(region.to_list()):
        if r not in BODY_REGIONS:
            problems.append(
                (i, "region", r, f"not a canonical body region ({', '.join(BODY_REGIONS)})")
            )
    k = _check_numbers(df, "k", problems, positive=True, required=True)
    age = _check_numbers(df, "age", problems, upper=_MAX_AGE)
    sex = _text_column(df, "sex").str.to_uppercase()
    for i, s in enumerate(sex.to_list()):
        if s not in (None, "F", "M"):
            problems.append((i, "sex", s, "must be F, M or empty (both)"))
    kvs = _check_numbers(df, "kv", problems, positive=True)
    if problems:
        raise _table_error(where, "conversion-factor table", sorted(problems))
    keep = np.ones(df.height, dtype=bool)
    table_kv = float(meta["kv"]) if meta.get("kv") else None
    given = sorted(set(kvs[~np.isnan(kvs)].tolist()))
    if given:
        if kv is None and len(given) > 1:
            raise ValueError(
                f"{where}: the table holds factors for several tube voltages {given} kV; "
                "choose one with kv="
            )
        table_kv = float(kv) if kv is not None else given[0]
        if table_kv not in given:
            raise ValueError(f"{where}: no factors for {table_kv:g} kV (the table has {given} kV)")
        keep = np.isnan(kvs) | (kvs == table_kv)
        if len(given) > 1:
            name = f"{name} {table_kv:g} kV"
    rows = np.flatnonzero(keep)
    reg = [region[int(i)] for i in rows]
    has_age = ~np.isnan(age[rows])
    ages = np.array(sorted(set(age[rows][has_age].tolist())), dtype=np.float64)
    adult_from = float(meta.get("adult_from") or (ages[-1] if ages.size else 18.0))
    if ages.size and ages[-1] != adult_from:
        raise ValueError(
            f"{where}: adult_from {adult_from:g} must be the last tabulated age ({ages[-1]:g})"
        )
    if ages.size == 1:
        raise ValueError(
            f"{where}: one tabulated age ({ages[0]:g}) is not an age-dependent table; leave "
            "'age' empty for a factor that applies at every age"
        )
    if not ages.size:
        ages = np.array([adult_from])
    sexes = ("F", "M") if sex.drop_nulls().len() else ()
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
        raise _table_error(where, "conversion-factor table", dup)
    regions = tuple(r for r in BODY_REGIONS if r in set(reg))
    for r in regions:  # an age-dependent region needs a factor at every tabulated age
        for si in range(kk.shape[0]):
            lacking = np.isnan(kk[si, BODY_REGIONS.index(r), :])
            if lacking.any() and not lacking.all():
                who = f" (sex {sexes[si]})" if sexes else ""
                raise ValueError(
                    f"{where}: region {r!r}{who} has no factor at age(s) "
                    f"{ages[lacking].tolist()} that the table tabulates; give one row per age "
                    "column, or leave 'age' empty for a factor that applies at every age"
                )
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
            "age_label": _text_column(sub, "age_label"),
            "k": k[rows],
            "source_label": _text_column(sub, "source_label"),
        }
    )
    if sexes:
        long = long.with_columns(sex=sex.gather(rows.tolist()))
    if "source" in df.columns:
        long = long.with_columns(source=_text_column(sub, "source"))
    citation = meta.get("citation") or "; ".join(
        _text_column(sub, "source").drop_nulls().unique(maintain_order=True).to_list()
    )
    return _KTable(
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


@cache
def _ktable(name: str) -> _KTable:
    available = _data_names("kfactors_")
    if name not in available:
        hint = ""
        if name.startswith("nci") and name != "nci_icrp103_120kv":
            hint = (
                " The NCI table is included for 120 kV only ('nci_icrp103_120kv'): its 80 and "
                "100 kV rows are not in recurct's reference values."
            )
        raise ValueError(
            f"unknown conversion-factor table {name!r}; available: {', '.join(available)}, "
            f"or pass your own table (a CSV path or a data frame).{hint}"
        )
    meta, df = _read_data_file(f"kfactors_{name}.csv")
    return _build_ktable({"where": f"kfactors_{name}.csv", **meta}, df, name, shipped=True)


def _as_ktable(spec: Any, kv: float | None = None) -> _KTable:
    """A shipped table by name, or the user's (CSV path or frame), validated."""
    if isinstance(spec, _KTable):
        return spec
    if _is_shipped_name(spec, "kfactors_"):
        return _ktable(spec)
    name, meta, df = _user_table(spec, "kfactors_", "conversion-factor table")
    return _build_ktable(meta, df, name, shipped=False, kv=kv)


def tables() -> pl.DataFrame:
    """List the conversion-factor tables shipped with recurct.

    Returns
    -------
    polars.DataFrame
        One row per table: ``name``, ``title``, ``citation``, ``convention`` ("ICRP 60" or
        "ICRP 103"), ``kv`` (tube voltage, null where the table is not kV-specific),
        ``phantom`` (what the source says of the CTDI phantom behind the factors, or that it
        does not say), ``ages`` (the age-column labels), ``adult_from`` (the age in years from
        which the adult column applies), ``regions`` (the canonical regions tabulated) and
        ``notes``.

    Examples
    --------
    >>> import recurct.dose as d
    >>> "aapm96" in d.tables()["name"].to_list()
    True
    """
    rows = []
    for name in _data_names("kfactors_"):
        t = _ktable(name)
        rows.append(
            {
                "name": t.name,
                "title": t.title,
                "citation": t.citation,
                "convention": t.convention,
                "kv": t.kv,
                "phantom": t.phantom,
                "ages": list(t.age_labels),
                "adult_from": t.adult_from,
                "regions": list(t.regions),
                "notes": t.notes,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "name": pl.Utf8,
            "title": pl.Utf8,
            "citation": pl.Utf8,
            "convention": pl.Utf8,
            "kv": pl.Float64,
            "phantom": pl.Utf8,
            "ages": pl.List(pl.Utf8),
            "adult_from": pl.Float64,
            "regions": pl.List(pl.Utf8),
            "notes": pl.Utf8,
        },
    )


def table(name: Any, *, kv: float | None = None) -> pl.DataFrame:
    """Return one conversion-factor table in long form: a shipped one, or yours, validated.

    Parameters
    ----------
    name : str, path or data frame
        A table name from :func:`tables` (e.g. ``"aapm96"``, ``"shrimpton_age"``), or your own
        table: a CSV file or a polars / pandas / pyarrow frame with the columns below. A CSV
        may start with ``# key: value`` lines (``name``, ``citation``, ``convention``, ``kv``,
        ``phantom``, ``notes``), as the shipped files do.
    kv : float, optional
        For a table of your own with a ``kv`` column holding several tube voltages: the one to
        use (rows with an empty ``kv`` apply to every voltage).

    Returns
    -------
    polars.DataFrame
        ``region`` (canonical), ``age`` (Float64, the age in years from which the column
        applies; null where one factor applies at every age), ``age_label``, ``k`` (mSv per
        mGy·cm), ``source_label`` (the row as the source names it); for your tables also
        ``sex`` (F, M; null for both) where given and ``source`` where given.

    Raises
    ------
    ValueError
        Naming the row and column of every problem: a region that is not canonical
        (:data:`recurct.schema.BODY_REGIONS`), a factor that is missing, not a number, not
        finite or not > 0, an age outside 0-130, a sex other than F/M, two factors for the
        same region, age and sex, an age-dependent region without a factor at some
        tabulated age, or an unknown column.

    Examples
    --------
    >>> import polars as pl
    >>> mine = pl.DataFrame({"region": ["spine", "extremity"], "k": [0.015, 0.0008]})
    >>> table(mine)["k"].to_list()
    [0.015, 0.0008]
    """
    return _as_ktable(name, kv).long.clone()


# ---------------------------------------------------------------------------------------------
# k factors
# ---------------------------------------------------------------------------------------------

# reason codes of the per-row lookup
_OK, _NULL_REGION, _NONCANON, _NOT_IN_TABLE, _NO_AGE, _BAD_AGE, _NO_SEX = range(7)
_REASONS = {
    _NULL_REGION: "missing body region",
    _NONCANON: "not a canonical body region (map it with recurct.dose.normalise_region)",
    _NOT_IN_TABLE: "region not tabulated in {table} (pass fallback= or fallback_table=)",
    _NO_AGE: "missing age, needed by the age-dependent table {table}",
    _BAD_AGE: f"age outside 0-{_MAX_AGE:g} years",
    _NO_SEX: "sex not F or M, needed by the sex-specific table {table}",
}
_NOT_IN_EITHER = (
    "region not tabulated in {table} nor in the fallback table {fallback} "
    "(pass fallback={{region: other}})"
)


def _reason(code: int, t: _KTable, ft: _KTable | None) -> str:
    """The text of a lookup reason code; a region absent from both tables names both."""
    if code == _NOT_IN_TABLE and ft is not None:
        return _NOT_IN_EITHER.format(table=repr(t.name), fallback=repr(ft.name))
    return _REASONS.get(code, "").format(table=repr(t.name))


_ENUM = pl.Enum(list(BODY_REGIONS))


@dataclass(frozen=True)
class _Regions:
    """Region values coded as BODY_REGIONS indices (-1: not canonical, -2: null)."""

    codes: np.ndarray
    values: pl.Series | np.ndarray  # the input, for error messages

    def __len__(self) -> int:
        return self.codes.shape[0]

    def pick(self, rows: np.ndarray) -> list[Any]:
        if isinstance(self.values, pl.Series):
            return self.values.gather(rows).to_list()
        return [None if v is None else str(v) for v in self.values[rows].tolist()]


def _region_codes(values: Any, name: str = "regions") -> _Regions:
    """Code regions without a Python loop over rows.

    Fast paths: polars Series (Utf8, Categorical or Enum: one cast to an Enum of the canonical
    regions) and numpy fixed-width string arrays (one comparison per canonical region).
    """
    if type(values).__module__.startswith("pandas"):
        values = pl.from_pandas(values)
    if not isinstance(values, pl.Series):
        arr = np.asarray(values)
        if arr.dtype.kind in "US":
            codes = np.full(arr.shape[0], -1, dtype=np.int64)
            left = arr.shape[0]
            for i, r in enumerate(BODY_REGIONS):
                hit = arr == r
                codes[hit] = i
                left -= int(np.count_nonzero(hit))
                if left == 0:
                    break
            return _Regions(codes, arr)
        if arr.dtype.kind != "O":
            raise TypeError(f"{name} must hold strings (canonical body regions), got {arr.dtype}")
        values = pl.Series(name, arr.tolist(), dtype=pl.Utf8, strict=False)
    s = values
    if s.dtype not in (pl.Utf8, pl.Categorical) and not isinstance(s.dtype, pl.Enum):
        raise TypeError(f"{name} must hold strings (canonical body regions), got {s.dtype}")
    coded = s.cast(_ENUM, strict=False).to_physical().cast(pl.Int64)
    codes = coded.fill_null(-1).to_numpy().copy()
    if s.null_count():
        codes[s.is_null().to_numpy()] = -2
    return _Regions(codes, s)


def _as_float_array(values: Any, n: int) -> np.ndarray:
    if isinstance(values, pl.Series):
        arr = values.cast(pl.Float64).to_numpy()
    elif type(values).__module__.startswith("pandas"):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif np.isscalar(values):
        arr = np.full(n, float(values))  # type: ignore[arg-type]
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"ages must have one value per region ({n}), got shape {arr.shape}")
    return arr


def _check_fallback(t: _KTable, fallback: Mapping[str, str] | None) -> dict[str, str]:
    fb = dict(fallback or {})
    for src, dst in fb.items():
        for r in (src, dst):
            if r not in BODY_REGIONS:
                raise ValueError(
                    f"fallback {src!r} -> {dst!r}: {r!r} is not a canonical body region "
                    f"({', '.join(BODY_REGIONS)})"
                )
        if dst not in t.regions:
            raise ValueError(
                f"fallback {src!r} -> {dst!r}: table {t.name!r} has no factor for {dst!r} "
                f"either (it tabulates {', '.join(t.regions)})"
            )
    return fb


def _check_kv(t: _KTable, kv: float | None) -> None:
    if kv is None:
        return
    if t.kv is None:
        raise ValueError(
            f"table {t.name!r} is not tube-voltage specific; do not pass kv= with it "
            "(or choose a kV-specific table, see recurct.dose.tables())"
        )
    if float(kv) != t.kv:
        extra = ""
        if t.name.startswith("nci"):
            extra = (
                " The source (Lee et al., Med Phys 2012, Table XII) also has 80 and 100 kV "
                "rows, but they are not in recurct's reference values, so they are not shipped."
            )
        raise ValueError(
            f"table {t.name!r} holds factors for {t.kv:g} kV only, not {float(kv):g} kV.{extra}"
        )


def _lookup(
    regions: _Regions,
    ages: np.ndarray | None,
    t: _KTable,
    age_rule: str,
    fallback: dict[str, str],
    sexes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised k lookup.

    ``sexes``: 0 (F), 1 (M) or -1 (other or missing) per row, used by sex-specific tables.
    Returns ``(k, reason, used_region)``: ``k`` NaN where ``reason != _OK``; ``used_region``
    the BODY_REGIONS index whose factor was used (-1 where none).
    """
    code = regions.codes
    n = code.shape[0]
    nreg = len(BODY_REGIONS)
    # lut: (code + 2) -> row of k_ext; row 0 is all-NaN (null, non-canonical, untabulated)
    tabulated = np.zeros(nreg, dtype=bool)
    for r in t.regions:
        tabulated[BODY_REGIONS.index(r)] = True
    remap = np.arange(nreg)
    for src, dst in fallback.items():
        if src not in t.regions:  # a fallback never overrides a tabulated factor
            remap[BODY_REGIONS.index(src)] = BODY_REGIONS.index(dst)
    lut = np.zeros(nreg + 2, dtype=np.intp)
    lut[2:] = np.where(tabulated[remap], remap + 1, 0)
    k_ext = np.concatenate([np.full((t.k.shape[0], 1, t.k.shape[2]), np.nan), t.k], axis=1)
    row = lut[code + 2]

    def at(sx: np.ndarray, r: np.ndarray, a: np.ndarray | int) -> np.ndarray:
        # one sex axis (every shipped table): plain 2-D indexing, the fast path
        return k_ext[0][r, a] if k_ext.shape[0] == 1 else k_ext[sx, r, a]

    if t.sexes:
        if sexes is None:
            raise ValueError(f"table {t.name!r} depends on sex: pass sexes= (F or M per row)")
        sx = np.where(sexes < 0, 0, sexes).astype(np.intp)
        no_sex = sexes < 0
    else:
        sx = np.zeros(n, dtype=np.intp)
        no_sex = np.zeros(n, dtype=bool)
    if not t.age_dependent:
        k = at(sx, row, 0)
        bad_age = None
    else:
        if ages is None:
            raise ValueError(
                f"table {t.name!r} depends on age: pass ages= (age at the exam in years, "
                f"tabulated ages {', '.join(t.age_labels)})"
            )
        grid = t.ages
        bad_age = ~((ages >= 0.0) & (ages <= _MAX_AGE))  # NaN included
        j = np.searchsorted(grid, ages, side="right") - 1
        if age_rule == "interpolate":  # linear between tabulated ages, constant beyond
            np.clip(j, 0, len(grid) - 2, out=j)
            lo = grid[j]
            w = np.clip((ages - lo) / (grid[j + 1] - lo), 0.0, 1.0)
            k = at(sx, row, j) * (1.0 - w) + at(sx, row, j + 1) * w
        else:
            np.clip(j, 0, len(grid) - 1, out=j)
            if age_rule == "nearest":  # the closer tabulated age; ties go to the younger
                up = np.minimum(j + 1, len(grid) - 1)
                with np.errstate(invalid="ignore"):
                    j = np.where((up > j) & (grid[up] - ages < ages - grid[j]), up, j)
            k = at(sx, row, j)
        if bad_age.any():
            k[bad_age] = np.nan
    if no_sex.any():
        k[no_sex] = np.nan
    used = row.astype(np.int64) - 1
    reason = np.zeros(n, dtype=np.int8)
    nan = np.isnan(k)
    if nan.any():
        idx = np.flatnonzero(nan)
        c, rw = code[idx], row[idx]
        # a region the table has for the other sex only stays "not tabulated"
        rs = np.full(idx.size, _NOT_IN_TABLE, dtype=np.int8)
        if bad_age is not None:
            ba = bad_age[idx]
            rs[ba] = np.where(np.isnan(ages[idx][ba]), _NO_AGE, _BAD_AGE)  # type: ignore[index]
        rs[no_sex[idx]] = _NO_SEX
        rs[rw == 0] = _NOT_IN_TABLE
        rs[c == -1] = _NONCANON
        rs[c == -2] = _NULL_REGION
        reason[idx] = rs
        used[idx] = -1
    return k, reason, used


def _resolve_tables(
    table: Any,
    fallback_table: Any,
    kv: float | None,
    age_rule: str,
    adult_from: float | None = None,
) -> tuple[_KTable, _KTable | None]:
    if age_rule not in AGE_RULES:
        raise ValueError(f"age_rule must be one of {AGE_RULES}, got {age_rule!r}")
    if kv is not None:  # NaN, inf, booleans and text are refused with a message
        kv = _checks.number(kv, "effective dose", "kv", lo=0.0, lo_open=True, what=" kV")
    adult_from = _checks.age(adult_from, "effective dose", "adult_from")
    t = _as_ktable(table, kv)
    _check_kv(t, kv)
    t = t.with_adult_from(adult_from)
    ft = None
    if fallback_table is not None:
        ft = _as_ktable(fallback_table).with_adult_from(adult_from)
        if ft is t or (ft.shipped and t.shipped and ft.name == t.name):
            raise ValueError("fallback_table must differ from table")
    return t, ft


def _sex_codes(values: Any, n: int) -> np.ndarray:
    """0 (F), 1 (M), -1 (anything else, null included) per row."""
    if isinstance(values, pl.Series):
        s = values
    elif type(values).__module__.startswith("pandas"):
        s = pl.from_pandas(values)
    else:
        s = pl.Series("sex", list(values), dtype=pl.Utf8, strict=False)
    if s.len() != n:
        raise ValueError(f"sexes must have one value per region ({n}), got {s.len()}")
    u = s.cast(pl.Utf8, strict=False).str.strip_chars().str.to_uppercase()
    return (
        pl.select(pl.when(u == "F").then(0).when(u == "M").then(1).otherwise(-1).alias("s"))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )


def _lookup_with_fallback_table(
    regions: _Regions,
    ages: np.ndarray | None,
    t: _KTable,
    ft: _KTable | None,
    age_rule: str,
    fallback: Mapping[str, str] | None,
    sexes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(k, reason, used_region, from_fallback_table)`` for every row."""
    fb = _check_fallback(t, fallback)
    k, reason, used = _lookup(regions, ages, t, age_rule, fb, sexes)
    from_ft = np.zeros(k.shape[0], dtype=bool)
    if ft is not None:
        redo = np.flatnonzero(reason == _NOT_IN_TABLE)
        if redo.size:
            sub_ages = None if ages is None else ages[redo]
            sub_sex = None if sexes is None else sexes[redo]
            sub = _Regions(regions.codes[redo], regions.values)
            fk, freason, fused = _lookup(sub, sub_ages, ft, age_rule, {}, sub_sex)
            k[redo] = fk
            used[redo] = fused
            # a region absent from both tables stays "not in table" (named for the main table)
            reason[redo] = freason
            from_ft[redo] = freason == _OK
    return k, reason, used, from_ft


def _lookup_error(
    regions: _Regions,
    ages: np.ndarray | None,
    reason: np.ndarray,
    t: _KTable,
    ft: _KTable | None = None,
) -> ValueError:
    bad = np.flatnonzero(reason != _OK)
    parts = []
    for code in np.unique(reason[bad]):
        rows = bad[reason[bad] == code]
        if code in (_NO_AGE, _NO_SEX):
            what = ""
        elif code == _BAD_AGE:
            what = f"ages {[float(x) for x in ages[rows][:10]]}"  # type: ignore[index]
        else:
            vals = list(dict.fromkeys(regions.pick(rows[:1000])))[:10]
            what = f"regions {vals}"
        msg = _reason(int(code), t, ft)
        where = f"{msg} {what}".strip()
        parts.append(f"{rows.size} value(s): {where} (first at position {rows[0]})")
    extra = f"; table {t.name!r} tabulates {', '.join(t.regions)}"
    return ValueError("no conversion factor for " + "; ".join(parts) + extra)


def k_factors(
    regions: Any,
    ages: Any = None,
    *,
    table: Any = "aapm96",
    age_rule: AgeRule = "nearest-lower",
    fallback: Mapping[str, str] | None = None,
    fallback_table: Any = None,
    kv: float | None = None,
    sexes: Any = None,
    adult_from: float | None = None,
) -> np.ndarray:
    """Conversion factors k (mSv per mGy·cm) for arrays of body regions and ages.

    Vectorised: the work is a lookup into a (sex x region x age column) array, with no Python
    loop over rows, so millions of rows take milliseconds.

    Parameters
    ----------
    regions : array-like of str, polars or pandas Series
        Canonical body regions (:data:`recurct.schema.BODY_REGIONS`); map free text first with
        :func:`normalise_region`.
    ages : array-like of float, scalar or None
        Age at the exam in years; needed only by age-dependent tables.
    table : str, path or data frame
        A shipped table from :func:`tables`, or your own (a CSV path or a frame; see
        :func:`table` for the format).
    age_rule : {"nearest-lower", "nearest", "interpolate"}
        How an age between tabulated ages maps to a factor (see the module docstring).
    fallback : mapping, optional
        ``{region: other_region}``: use ``other_region``'s factor of the same table for a
        region the table does not tabulate, e.g. ``{"neck": "head_neck"}``. Never overrides a
        tabulated factor.
    fallback_table : str, path or data frame, optional
        Another table (shipped or yours) for regions ``table`` does not tabulate (after
        ``fallback``).
    kv : float, optional
        Tube voltage; checked against the table's (an error if the table is for another kV),
        or, for a table of yours with several voltages, the one to use.
    sexes : array-like of str, optional
        ``"F"``/``"M"`` per row; needed only by sex-specific tables (a ``sex`` column).
    adult_from : float, optional
        Age in years from which the adult (last) column of an age-dependent table applies,
        instead of the table's own (:func:`tables`, ``adult_from``); ignored by adult-only
        tables.

    Returns
    -------
    numpy.ndarray
        Float64 factors, one per region.

    Raises
    ------
    ValueError
        If any region is missing, not canonical or not tabulated (naming the regions and the
        table), or an age is missing or outside 0-130 years for an age-dependent table.

    Examples
    --------
    >>> k_factors(["head", "chest"], table="aapm96").tolist()
    [0.0021, 0.014]
    >>> k_factors(["head", "head"], [0.5, 5.0], table="shrimpton_age").tolist()
    [0.011, 0.004]
    >>> k_factors(["chest", "chest"], [18.0, 29.0], table="nci_icrp103_120kv").tolist()
    [0.0121, 0.0121]
    >>> k_factors(["chest"], [18.0], table="nci_icrp103_120kv", adult_from=18).tolist()
    [0.021]
    """
    t, ft = _resolve_tables(table, fallback_table, kv, age_rule, adult_from)
    reg = _region_codes(regions)
    age_arr = None if ages is None else _as_float_array(ages, len(reg))
    if age_arr is None and (t.age_dependent or (ft is not None and ft.age_dependent)):
        raise ValueError(
            f"table {(t if t.age_dependent else ft).name!r} depends on age: pass ages= "  # type: ignore[union-attr]
            "(age at the exam in years)"
        )
    sex_arr = None if sexes is None else _sex_codes(sexes, len(reg))
    if sex_arr is None and (t.sexes or (ft is not None and ft.sexes)):
        raise ValueError("the table depends on sex: pass sexes= ('F' or 'M' per row)")
    k, reason, _, _ = _lookup_with_fallback_table(reg, age_arr, t, ft, age_rule, fallback, sex_arr)
    if (reason != _OK).any():
        raise _lookup_error(reg, age_arr, reason, t, ft)
    return k


# ---------------------------------------------------------------------------------------------
# effective_dose
# ---------------------------------------------------------------------------------------------

_ROW = "__recurct_row"

# Components of the composite canonical regions (exam_region).
_COMPONENTS: dict[str, frozenset[str]] = {
    "head_neck": frozenset({"head", "neck"}),
    "abdomen_pelvis": frozenset({"abdomen", "pelvis"}),
    "chest_abdomen_pelvis": frozenset({"chest", "abdomen", "pelvis"}),
}
_COMBINED: dict[frozenset[str], str] = {v: k for k, v in _COMPONENTS.items()}

LOCALIZER_METHOD = "localizer: 0 (no DLP or no convertible region)"
"""``dose_method`` of a localizer event that contributes 0 mSv (see :func:`effective_dose`)."""

SUPPLIED_METHOD = "supplied (effective_dose_msv given in the input)"
"""``dose_method`` of a row whose dose came with the input and had no method recorded."""


def _age_values(s: pl.Series) -> np.ndarray:
    """Ages in years as float64; NaN where missing or not a number (text, booleans, dates),
    which the lookup reports as a missing age."""
    if s.dtype == pl.Utf8:
        s = s.str.strip_chars().cast(pl.Float64, strict=False)
    elif s.dtype.is_numeric():
        s = s.cast(pl.Float64)
    else:
        s = pl.Series(s.name, [None] * s.len(), dtype=pl.Float64)
    return s.to_numpy().astype(np.float64, copy=True)


def _raw_values(s: pl.Series, idx: np.ndarray) -> pl.Series:
    """The input's values at ``idx`` as text, for problem reports."""
    return s.gather(idx).cast(pl.Utf8, strict=False)


def exam_region(
    regions: Sequence[str | None],
    dlps: Sequence[float | None] | None = None,
    localizer: Sequence[bool | None] | None = None,
) -> str | None:
    """The body region of an exam from the canonical regions of its irradiation events.

    The one rule used by :func:`recurct.io.read_rdsr` (exam table) and by
    :func:`effective_dose` at event level:

    1. Localizer events (scout, topogram) are ignored if the exam has any other event.
    2. Null regions are ignored; none left: None. ``"other"`` counts only when nothing more
       specific is left (then the result is ``"other"``).
    3. One region, or regions that are parts of one region (``abdomen`` + ``abdomen_pelvis``):
       that region.
    4. Regions whose parts make a composite exactly: the composite (chest + abdomen + pelvis
       -> ``chest_abdomen_pelvis``, head + neck -> ``head_neck``, abdomen + pelvis ->
       ``abdomen_pelvis``).
    5. Otherwise the region with the largest summed DLP (ties: the first seen); ``"other"``
       if no event has a DLP.

    Parameters
    ----------
    regions : sequence of str or None
        Canonical region of each event.
    dlps : sequence of float or None, optional
        DLP of each event (mGy·cm); null counts as 0.
    localizer : sequence of bool or None, optional
        Whether each event is a localizer; null counts as False.

    Returns
    -------
    str or None

    Examples
    --------
    >>> exam_region(["chest", "abdomen_pelvis"])
    'chest_abdomen_pelvis'
    >>> exam_region(["head", "chest", "chest"], [300.0, 150.0, 200.0], [False, False, True])
    'head'
    """
    n = len(regions)
    dl = list(dlps) if dlps is not None else [None] * n
    lo = list(localizer) if localizer is not None else [False] * n
    if len(dl) != n or len(lo) != n:
        raise ValueError(
            f"exam_region: regions, dlps and localizer need the same length, got "
            f"{n}, {len(dl)}, {len(lo)}"
        )
    idx = [i for i in range(n) if not lo[i]] or list(range(n))
    idx = [i for i in idx if regions[i] is not None]
    if not idx:
        return None
    specific = [i for i in idx if regions[i] != "other"]
    if not specific:
        return "other"
    names = {str(regions[i]) for i in specific}
    parts: set[str] = set()
    for r in names:
        parts |= _COMPONENTS.get(r, {r})
    if len(parts) == 1:
        return next(iter(parts))
    whole = _COMBINED.get(frozenset(parts))
    if whole is not None:
        return whole
    totals: dict[str, float] = {}
    seen_dlp = False
    for i in specific:
        d = dl[i]
        ok = d is not None and d == d  # not null, not NaN
        seen_dlp = seen_dlp or ok
        totals[str(regions[i])] = totals.get(str(regions[i]), 0.0) + (float(d) if ok else 0.0)  # type: ignore[arg-type]
    if not seen_dlp:
        return "other"
    return max(totals, key=lambda r: totals[r])  # first seen wins ties (dict order)


def _main_regions(df: pl.DataFrame, region_column: str) -> pl.DataFrame:
    """``study_uid`` -> ``__main`` (:func:`exam_region` of the study's events)."""
    loc = (
        pl.col("localizer").cast(pl.Boolean).fill_null(False)
        if "localizer" in df.columns
        else pl.lit(False)
    )
    g = (
        df.select("study_uid", region_column, "dlp_mgycm", loc.alias("__l"))
        .group_by("study_uid", maintain_order=True)
        .agg(
            pl.col(region_column).cast(pl.Utf8).alias("__r"),
            pl.col("dlp_mgycm").alias("__d"),
            pl.col("__l"),
        )
    )
    main = [
        exam_region(r, d, lc)
        for r, d, lc in zip(g["__r"].to_list(), g["__d"].to_list(), g["__l"].to_list())
    ]
    return pl.DataFrame({"study_uid": g["study_uid"], "__main": pl.Series(main, dtype=pl.Utf8)})


def _raise_problems(problems: pl.DataFrame, show: int = 50) -> None:
    shown = problems.select("row", "column", "value", "reason").head(show).rows()
    raise DoseConversionError(
        f"effective dose could not be computed for {problems['row'].n_unique()} row(s) "
        f"({problems.height} problem(s)):\n"
        + _listing(shown, problems.height, show)
        + "\nFix the data, pass fallback=/fallback_table= for untabulated regions, or pass "
        "strict=False to leave these doses null.",
        problems,
    )


def effective_dose(
    exams: Any,
    table: Any = "aapm96",
    age_rule: AgeRule = "nearest-lower",
    region_column: str = "body_region",
    overwrite: bool = False,
    strict: bool = True,
    fallback: Mapping[str, str] | None = None,
    *,
    fallback_table: Any = None,
    kv: float | None = None,
    level: Literal["auto", "exam", "event"] = "auto",
    adult_from: float | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
) -> Any:
    """Fill ``effective_dose_msv = k x dlp_mgycm`` with k from a conversion-factor table.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        Canonical exam table (or event table, see ``level``) with ``dlp_mgycm`` (mGy·cm), the
        region column and, for age-dependent tables, ``age_years`` (for sex-specific tables of
        yours, ``sex``).
    table, age_rule, fallback, fallback_table, kv, adult_from
        As in :func:`k_factors`: ``table`` and ``fallback_table`` are shipped names or your
        own tables (a CSV path or a data frame, see :func:`table`), so a national table can
        be used with a shipped one as fallback.
    region_column : str
        Column with canonical body regions (map free text with :func:`normalise_region`).
    overwrite : bool
        If False (default), rows that already have a non-null ``effective_dose_msv`` keep it
        (and their ``dose_method``, or :data:`SUPPLIED_METHOD` where it had none); only null
        or missing doses are computed. Doses kept must be finite numbers >= 0.
    strict : bool
        If True, raise :class:`DoseConversionError` listing every row that cannot be
        converted (row, column, reason). If False, leave those doses null (never zero) and
        warn once with :class:`DoseConversionWarning`, counting them by reason.
    max_dose_msv : float or None, default :data:`recurct.schema.MAX_EXAM_DOSE_MSV`
        Plausibility bound of one row's effective dose (mSv), the one :func:`recurct.validate`
        applies (its rationale is documented there): a dose kept from the input, or computed
        from a DLP, above it is a problem (a unit or entry error), never a dose. ``None``: no
        bound (a computed dose is still finite).
    level : {"auto", "exam", "event"}
        ``"event"``: one row per irradiation event, several per ``study_uid``; each event is
        converted with its own region and DLP, then the events are summed to one row per
        study. ``"auto"`` (default) means ``"event"`` when the table has an ``event_uid``
        column, else ``"exam"``.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input (pandas if given pandas) with ``effective_dose_msv`` (Float64) filled and a
        ``dose_method`` column (Utf8): ``"<table>/<age_rule>"`` on the rows computed here,
        ``"<table>/<age_rule> (<region> as <other>)"`` where ``fallback`` was used,
        ``"<fallback_table>/<age_rule> (fallback table)"`` where ``fallback_table`` was used,
        the previous value on rows kept (:data:`SUPPLIED_METHOD` where it was null). The
        table name is the shipped name, the ``# name:`` line or file stem of your CSV, or
        ``"custom"`` for a frame; ``" (adult from A y)"`` is added when ``adult_from`` moves
        the adult column. Every computed dose is finite and >= 0.

        At event level the result has one row per ``study_uid``, in order of first
        appearance: ``dlp_mgycm`` and ``effective_dose_msv`` are sums over the events
        (``effective_dose_msv`` is null if any event's dose is null: a partial sum would
        understate the dose), ``ctdivol_mgy`` is the largest event CTDIvol, ``body_region`` is
        :func:`exam_region` of the events, ``n_events`` counts the events, ``dose_method``
        joins the distinct event methods with ``"; "``, and every other column takes its
        first non-null value. ``event_uid`` and ``localizer`` are dropped.

        Localizers (event level, boolean column ``localizer``, as written by
        :func:`recurct.io.read_rdsr`): a localizer's dose is in its own DLP where the report
        gives one, and that DLP is converted with the exam's main region
        (:func:`exam_region`; a topogram's own target is often "Entire body"). A localizer
        with no DLP, or whose exam has no convertible region, contributes 0 mSv by
        definition (``dose_method`` :data:`LOCALIZER_METHOD`) and is not a problem.

        Adult-only tables (``aapm96``, ``icrp103_adult``) applied to rows with ``age_years``
        below 18 (the adult start of ``shrimpton_age``) warn with
        :class:`DoseConversionWarning`, counting those rows; the values are not changed.

    Raises
    ------
    DoseConversionError
        With ``strict=True``, for rows with a missing, negative, infinite or non-numeric DLP
        (text, booleans), a kept dose that is negative, infinite or not a number, a missing,
        non-canonical or untabulated region, or a missing or out-of-range age (age-dependent
        tables only); and duplicated ``(study_uid, event_uid)`` pairs at event level.
    ValueError
        If a needed column is missing or an argument is invalid.

    Examples
    --------
    >>> import polars as pl
    >>> exams = pl.DataFrame({"dlp_mgycm": [500.0, 1000.0], "body_region": ["chest", "head"]})
    >>> effective_dose(exams)["effective_dose_msv"].to_list()
    [7.0, 2.1]
    """
    bound = _checks.optional_bound(max_dose_msv, "effective_dose", "max_dose_msv")
    df, kind = to_polars(exams)
    t, ft = _resolve_tables(table, fallback_table, kv, age_rule, adult_from)
    fb = _check_fallback(t, fallback)
    if level not in ("auto", "exam", "event"):
        raise ValueError(f"level must be 'auto', 'exam' or 'event', got {level!r}")
    event = level == "event" or (level == "auto" and "event_uid" in df.columns)
    needs_age = t.age_dependent or (ft is not None and ft.age_dependent)
    needs_sex = bool(t.sexes or (ft is not None and ft.sexes))
    required = ["dlp_mgycm", region_column] + (["age_years"] if needs_age else [])
    required += ["sex"] if needs_sex else []
    if event:
        required.append("study_uid")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"effective_dose needs column(s) {missing} (table {t.name!r}); "
            f"the table has {df.columns}. Map your columns first (recurct.read_exams)."
        )

    if "effective_dose_msv" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("effective_dose_msv"))
    if "dose_method" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("dose_method"))
    # doses and DLPs enter as finite numbers >= 0, or as problems naming row and column
    exams_raw = df
    existing, dose_code = _numbers(df["effective_dose_msv"])
    dlp_all, dlp_code = _numbers(df["dlp_mgycm"])

    def numeric(name: str, values: np.ndarray, code: np.ndarray) -> pl.Expr | pl.Series:
        if df.schema[name].is_float() and not code.any():  # already clean: keep the column
            return pl.col(name)
        return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)

    df = df.with_columns(
        numeric("effective_dose_msv", existing, dose_code),
        pl.col("dose_method").cast(pl.Utf8),
        numeric("dlp_mgycm", dlp_all, dlp_code),
    )
    n = df.height
    lookup_column = region_column
    loc = np.zeros(n, dtype=bool)
    if event and "localizer" in df.columns:
        loc = df["localizer"].cast(pl.Boolean).fill_null(False).to_numpy().astype(bool)
        if loc.any():
            # a localizer's DLP is converted with the exam's main region
            main = _main_regions(df, region_column)
            lookup_column = "__recurct_lookup_region"
            df = df.with_columns(
                pl.when(pl.Series(loc) & _main_col(df, main).is_not_null())
                .then(_main_col(df, main))
                .otherwise(pl.col(region_column).cast(pl.Utf8))
                .alias(lookup_column)
            )
    bad_kept = np.zeros(n, dtype=bool) if overwrite else dose_code != _NUM_OK
    kept_high = np.zeros(n, dtype=bool)
    if not overwrite and bound is not None:
        with np.errstate(invalid="ignore"):
            kept_high = (dose_code == _NUM_OK) & (existing > bound)
        bad_kept |= kept_high
    limit = np.inf if bound is None else bound
    too_high = f"dose above {limit:g} mSv (implausible for one exam)"
    todo = np.ones(n, dtype=bool) if overwrite else np.isnan(existing) & ~bad_kept
    rows = np.flatnonzero(todo)

    every = rows.size == n

    def pick(col: str) -> pl.Series:
        return df[col] if every else df[col].gather(rows)

    reg = _region_codes(pick(lookup_column), region_column)
    ages = _age_values(pick("age_years")) if needs_age else None
    sexes = _sex_codes(pick("sex"), rows.size) if needs_sex else None
    k, reason, used, from_ft = _lookup_with_fallback_table(reg, ages, t, ft, age_rule, fb, sexes)
    dlp = dlp_all if every else dlp_all[rows]
    dlp_bad = dlp_code if every else dlp_code[rows]

    reason_text = np.array(
        [_reason(c, t, ft) for c in range(len(_REASONS) + 1)],
        dtype=object,
    )
    parts: list[pl.DataFrame] = []

    def add_at(
        at: np.ndarray, column: str, values: pl.Series, reasons: Sequence[str] | np.ndarray
    ) -> None:
        """Problems at rows ``at`` of the user's input."""
        if at.size:
            parts.append(
                pl.DataFrame(
                    {
                        "row": at.astype(np.int64),
                        "column": [column] * at.size,
                        "value": values.cast(pl.Utf8),
                        "reason": pl.Series(list(reasons), dtype=pl.Utf8),
                    }
                )
            )

    def add(idx: np.ndarray, column: str, values: pl.Series, reasons: np.ndarray) -> None:
        """Problems at positions ``idx`` of the rows converted here."""
        add_at(rows[idx], column, values, reasons)

    bad_region = np.isin(reason, (_NULL_REGION, _NONCANON, _NOT_IN_TABLE))
    bad_age = np.isin(reason, (_NO_AGE, _BAD_AGE, _NO_SEX))
    neg_dlp = dlp_bad != _NUM_OK
    no_dlp = np.isnan(dlp) & ~neg_dlp
    # localizers without a DLP or a convertible region contribute 0 by definition
    exempt = loc[rows] & (bad_region | no_dlp) & ~bad_age & ~neg_dlp
    bad_region &= ~exempt
    no_dlp &= ~exempt
    with np.errstate(over="ignore", invalid="ignore"):
        est = k * dlp  # a DLP near the float limit times k may overflow: flagged below
    plausible = np.isfinite(est) & (est <= limit)
    high = ~(bad_region | bad_age | no_dlp | neg_dlp | exempt | plausible)
    idx = np.flatnonzero(bad_region)
    add(idx, region_column, df[region_column].gather(rows[idx]), reason_text[reason[idx]])
    idx = np.flatnonzero(bad_age & (reason != _NO_SEX))
    if idx.size:  # the ages as given (text that is not a number shows as itself)
        given = _raw_values(df["age_years"], rows[idx])
        why = reason_text[reason[idx]]
        why[(reason[idx] == _NO_AGE) & given.is_not_null().to_numpy()] = "age not a number"
        add(idx, "age_years", given, why)
    idx = np.flatnonzero(reason == _NO_SEX)
    if idx.size:
        add(idx, "sex", pick("sex").gather(idx), reason_text[reason[idx]])
    idx = np.flatnonzero(no_dlp | neg_dlp)
    dlp_why = {_NUM_OK: "missing DLP", **{c: w.format("DLP") for c, w in _NUM_WHAT.items()}}
    add(
        idx,
        "dlp_mgycm",
        _raw_values(exams_raw["dlp_mgycm"], rows[idx]),
        np.array([dlp_why[int(c)] for c in dlp_bad[idx]], dtype=object),
    )
    idx = np.flatnonzero(high)
    add(
        idx,
        "dlp_mgycm",
        _raw_values(exams_raw["dlp_mgycm"], rows[idx]),
        np.array(
            [
                f"effective {too_high}: {e:g} mSv from this DLP"
                if np.isfinite(e)
                else "effective dose from this DLP is not a finite number"
                for e in est[idx]
            ],
            dtype=object,
        ),
    )
    idx = np.flatnonzero(bad_kept)
    add_at(
        idx,
        "effective_dose_msv",
        _raw_values(exams_raw["effective_dose_msv"], idx),
        [too_high if kept_high[i] else _NUM_WHAT[int(dose_code[i])].format("dose") for i in idx],
    )
    if event and "event_uid" in df.columns:
        key = pl.struct("study_uid", "event_uid")
        repeated = df.select(~key.is_first_distinct()).to_series().to_numpy()
        idx = np.flatnonzero(repeated)
        add_at(
            idx,
            "event_uid",
            df["event_uid"].gather(idx),
            ["irradiation event repeated within the study (counted once)"] * idx.size,
        )
    problems = pl.concat(parts).sort("row", maintain_order=True) if parts else None

    ok = ~(bad_region | bad_age | no_dlp | neg_dlp | exempt | high)
    _warn_adult_only(t, df, rows, ok & ~from_ft)
    if ft is not None:
        _warn_adult_only(ft, df, rows, ok & from_ft)
    if problems is not None:
        prob = problems
        if strict:
            _raise_problems(prob)
        counts = prob.group_by("reason", maintain_order=True).len()
        summary = ", ".join(f"{c['len']} {c['reason']}" for c in counts.iter_rows(named=True))
        n_null = int((~ok & ~exempt).sum()) + int(bad_kept.sum())
        warnings.warn(
            f"effective_dose left {n_null} dose(s) null ({summary})",
            DoseConversionWarning,
            stacklevel=2,
        )

    # method labels per computed row, as small integer codes (no per-row Python strings):
    # 0 keeps the previous value, -1 is null, i >= 1 is names[i - 1]
    base = f"{t.name}/{age_rule}"
    names = [base]
    lab = np.where(ok, 1, -1).astype(np.int64)
    if exempt.any():
        names.append(LOCALIZER_METHOD)
        lab[exempt] = len(names)
    codes = reg.codes
    subst = np.flatnonzero(ok & ~from_ft & (used != codes))  # ok excludes localizer zeros
    if subst.size:
        pair = codes[subst] * len(BODY_REGIONS) + used[subst]
        uniq, inv = np.unique(pair, return_inverse=True)
        for p in uniq:
            src, dst = BODY_REGIONS[p // len(BODY_REGIONS)], BODY_REGIONS[p % len(BODY_REGIONS)]
            names.append(f"{base} ({src} as {dst})")
        lab[subst] = 2 + inv
    if ft is not None:
        names.append(f"{ft.name}/{age_rule} (fallback table)")
        lab[ok & from_ft] = len(names)
    label_code = np.zeros(n, dtype=np.int64)
    label_code[rows] = lab
    label_code[bad_kept] = -1
    names.append(SUPPLIED_METHOD)
    supplied = ~todo & ~bad_kept & df["dose_method"].is_null().to_numpy()
    label_code[supplied] = len(names)
    dose = existing.copy()
    dose[rows] = np.where(ok, est, np.where(exempt, 0.0, np.nan))
    new_label = pl.Series(label_code).replace_strict(
        {i + 1: name for i, name in enumerate(names)}, default=None, return_dtype=pl.Utf8
    )
    df = df.with_columns(
        pl.Series("effective_dose_msv", dose, dtype=pl.Float64).fill_nan(None),
        pl.when(pl.Series(label_code) == 0)
        .then(pl.col("dose_method"))
        .otherwise(pl.lit(new_label))
        .alias("dose_method"),
    )
    if lookup_column != region_column:
        df = df.drop(lookup_column)
    if event:
        df = _sum_events(df, region_column)
    return from_polars(df, kind)


def _main_col(df: pl.DataFrame, main: pl.DataFrame) -> pl.Series:
    """The study's main region (``main`` from :func:`_main_regions`) on every row of ``df``."""
    return df.select("study_uid").join(main, on="study_uid", how="left", maintain_order="left")[
        "__main"
    ]


def _warn_adult_only(t: _KTable, df: pl.DataFrame, rows: np.ndarray, ok: np.ndarray) -> None:
    """Warn when a shipped adult-only table converts the doses of children (ages below the
    adult start of ``shrimpton_age``, 18 y); the values are not changed. (A table of yours
    without ages may hold all-age factors, so it is not warned about.)"""
    if t.age_dependent or not t.shipped or "age_years" not in df.columns or not ok.any():
        return
    cut = _ktable("shrimpton_age").adult_from
    ages = df["age_years"].cast(pl.Float64, strict=False).to_numpy()[rows[ok]]
    n_child = int(np.count_nonzero(ages < cut))  # NaN compares False
    if n_child:
        warnings.warn(
            f"effective_dose: the adult-only table {t.name!r} was applied to {n_child} row(s) "
            f"with age_years below {cut:g} (the adult start of 'shrimpton_age'); adult k "
            "factors underestimate children's doses. Use an age-dependent table "
            "(table='shrimpton_age' or table='nci_icrp103_120kv'). Values left unchanged.",
            DoseConversionWarning,
            stacklevel=3,
        )


def _sum_events(df: pl.DataFrame, region_column: str) -> pl.DataFrame:
    """Events -> one row per study (see :func:`effective_dose`)."""
    if "event_uid" in df.columns:
        df = df.unique(subset=["study_uid", "event_uid"], keep="first", maintain_order=True)
    main_region = _main_regions(df, region_column).rename({"__main": "__region"})
    special = {"study_uid", "event_uid", "dlp_mgycm", "effective_dose_msv", "dose_method"}
    special |= {"ctdivol_mgy", region_column, "localizer"}
    aggs = [
        pl.col("dlp_mgycm").sum(),
        pl.when(pl.col("effective_dose_msv").null_count() == 0)
        .then(pl.col("effective_dose_msv").sum())
        .otherwise(None)
        .alias("effective_dose_msv"),
        pl.col("dose_method").drop_nulls().unique(maintain_order=True).str.join("; "),
        pl.len().cast(pl.Int64).alias("n_events"),
    ]
    if "ctdivol_mgy" in df.columns:
        aggs.append(pl.col("ctdivol_mgy").max())
    aggs += [pl.col(c).drop_nulls().first() for c in df.columns if c not in special]
    out = df.group_by("study_uid", maintain_order=True).agg(aggs)
    out = out.join(main_region, on="study_uid", how="left", maintain_order="left").rename(
        {"__region": region_column}
    )
    out = out.with_columns(pl.col(region_column).cast(df.schema[region_column], strict=False))
    out = out.with_columns(
        pl.when(pl.col("dose_method") == "").then(None).otherwise(pl.col("dose_method"))
    )
    order = [c for c in df.columns if c in out.columns] + ["n_events"]
    return out.select(order)


# ---------------------------------------------------------------------------------------------
# Diagnostic reference levels
# ---------------------------------------------------------------------------------------------


def _build_drl(meta: dict[str, str], df: pl.DataFrame) -> pl.DataFrame:
    """Validate a DRL table (shipped or the user's) into its canonical columns."""
    where = meta.get("where", "DRL table")
    unknown = [c for c in df.columns if c not in DRL_COLUMNS]
    if (
        unknown
        or "exam_type" not in df.columns
        or not {"ctdivol_mgy", "dlp_mgycm"} & set(df.columns)
    ):
        raise ValueError(
            f"{where}: a DRL table needs 'exam_type' and 'ctdivol_mgy' and/or 'dlp_mgycm' "
            f"and may have 'description', 'body_region', 'source', 'note'; it has {df.columns}"
        )
    problems: list[tuple[int, str, Any, str]] = []
    key = _text_column(df, "exam_type")
    seen: dict[str, int] = {}
    for i, v in enumerate(key.to_list()):
        if v is None:
            problems.append((i, "exam_type", None, "missing exam type"))
        elif v in seen:
            problems.append((i, "exam_type", v, f"exam type already on row {seen[v]}"))
        else:
            seen[v] = i
    region = _text_column(df, "body_region")
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
        c: _check_numbers(df, c, problems, positive=True) for c in ("ctdivol_mgy", "dlp_mgycm")
    }
    if problems:
        raise _table_error(where, "DRL table", sorted(problems))
    out = pl.DataFrame(
        {
            "exam_type": key,
            "description": _text_column(df, "description"),
            "body_region": region,
            "ctdivol_mgy": pl.Series(values["ctdivol_mgy"]).fill_nan(None),
            "dlp_mgycm": pl.Series(values["dlp_mgycm"]).fill_nan(None),
        }
    )
    if "source" in df.columns:
        out = out.with_columns(source=_text_column(df, "source"))
    return out


@cache
def _drl(name: str) -> tuple[dict[str, str], pl.DataFrame]:
    available = _data_names("drl_")
    if name not in available:
        raise ValueError(
            f"unknown DRL set {name!r}; available: {', '.join(available)}, or pass your own "
            "DRL table (a CSV path or a data frame, see recurct.dose.drls)"
        )
    meta, df = _read_data_file(f"drl_{name}.csv")
    return meta, _build_drl({"where": f"drl_{name}.csv", **meta}, df)


def _as_drl(spec: Any) -> tuple[str, dict[str, str], pl.DataFrame]:
    """``(name, meta, levels)`` of a shipped DRL set or of the user's table."""
    if _is_shipped_name(spec, "drl_"):
        meta, levels = _drl(spec)
        return spec, meta, levels
    name, meta, df = _user_table(spec, "drl_", "DRL table")
    return name, meta, _build_drl(meta, df)


def drls(name: Any = None) -> pl.DataFrame:
    """Diagnostic reference levels: the sets shipped with recurct, or your table, validated.

    Parameters
    ----------
    name : str, path or data frame, optional
        A shipped DRL set (``"uk2022"``, ``"arpansa_adult"``), or your own DRL table: a CSV
        file (optionally starting with ``# key: value`` lines such as ``# citation: ...``) or
        a polars / pandas / pyarrow frame with ``exam_type`` (the key, unique), ``ctdivol_mgy``
        and/or ``dlp_mgycm`` (finite, > 0; empty where no DRL is set) and optionally
        ``description``, ``body_region`` (the canonical region that maps to the exam type, at
        most one exam type per region), ``source`` and ``note``. None lists the shipped sets.

    Returns
    -------
    polars.DataFrame
        With a set: ``exam_type``, ``description``, ``body_region`` (null where the set is not
        by region), ``ctdivol_mgy`` and ``dlp_mgycm`` (null where the source sets no DRL),
        and ``source`` where your table has one. Without: one row per shipped set with
        ``name``, ``title``, ``citation``, ``keyed_by`` and ``notes``.

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
    >>> drls(mine)["dlp_mgycm"].to_list()
    [800.0]
    """
    if name is None:
        rows = []
        for n in _data_names("drl_"):
            meta, _ = _drl(n)
            rows.append({k: meta.get(k, "") for k in ("name", "title", "citation", "keyed_by")})
            rows[-1]["notes"] = meta.get("notes", "")
        return pl.DataFrame(rows)
    return _as_drl(name)[2].clone()


def _attach_drl(
    df: pl.DataFrame, drl: Any, exam_type_column: str, region_column: str, strict: bool
) -> tuple[pl.DataFrame, str]:
    """Add ``__exam_type``, ``drl_ctdivol_mgy``, ``drl_dlp_mgycm``; check the keys."""
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
        raise ValueError(
            f"compare_to_drl needs a column {exam_type_column!r} holding the DRL set's exam "
            f"types ({', '.join(levels['exam_type'].to_list())}; see recurct.dose.drls"
            f"({drl!r}))"
            + (f" or a {region_column!r} column" if by_region else "")
            + f". DRL set {drl!r} is keyed by "
            + ("body region" if by_region else "clinical indication")
            + "."
        )
    df = df.with_columns(key.alias("__exam_type"))
    known = set(levels["exam_type"].to_list())
    if source == exam_type_column:
        unknown = df.filter(
            pl.col("__exam_type").is_not_null() & ~pl.col("__exam_type").is_in(list(known))
        )
        if unknown.height and strict:
            vals = unknown["__exam_type"].unique(maintain_order=True).head(10).to_list()
            raise ValueError(
                f"{unknown.height} row(s) have exam types not in DRL set {drl!r}: {vals}; "
                f"valid keys: {sorted(known)} (recurct.dose.drls({drl!r})). "
                "Pass strict=False to leave them out."
            )
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
    return df, source


def flag_above_drl(
    exams: Any,
    drl: Any = "uk2022",
    exam_type_column: str = "exam_type",
    region_column: str = "body_region",
    strict: bool = True,
) -> Any:
    """Add per-exam DRL values and flags.

    Adds ``drl_ctdivol_mgy`` and ``drl_dlp_mgycm`` (the DRLs of the exam's type; null where
    the exam type is not in the set or the source sets none) and ``above_drl_ctdivol`` and
    ``above_drl_dlp`` (Boolean: the exam's value is strictly greater than the DRL; null where
    the value or the DRL is null). Exam types are matched as in :func:`compare_to_drl`.
    """
    df, kind = to_polars(exams)
    out, _ = _attach_drl(df, drl, exam_type_column, region_column, strict)
    flags = []
    for q, col in (("ctdivol", "ctdivol_mgy"), ("dlp", "dlp_mgycm")):
        val = pl.col(col).cast(pl.Float64) if col in df.columns else pl.lit(None, pl.Float64)
        flags.append((val > pl.col(f"drl_{col}")).alias(f"above_drl_{q}"))
    out = out.with_columns(flags).drop("__exam_type")
    return from_polars(out, kind)


def compare_to_drl(
    exams: Any,
    drl: Any = "uk2022",
    exam_type_column: str = "exam_type",
    by: str | Sequence[str] | None = "facility",
    region_column: str = "body_region",
    strict: bool = True,
) -> Any:
    """Compare typical (median) CTDIvol and DLP per exam type and facility with DRLs.

    Exam types are matched by key: the ``exam_type_column`` must hold the DRL set's
    ``exam_type`` values, listed by :func:`drls` (UK DRLs are set per clinical indication, so
    the user assigns them, e.g. ``"chest_lung_cancer"``). For sets keyed by region
    (``arpansa_adult``), when there is no ``exam_type_column`` the canonical ``body_region``
    is mapped instead (``head`` -> ``head``, ...; regions without a DRL are left out).
    Exams with no exam type (null, or an unmapped region) are left out; an exam type that is
    not a key of the set is an error (``strict=True``) or left out (``strict=False``).

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        With ``ctdivol_mgy`` and/or ``dlp_mgycm``, the exam-type (or region) column and the
        ``by`` columns.
    drl : str, path or data frame
        A shipped DRL set from ``drls()``, or your own DRL table (a CSV path or a frame, in
        the format of :func:`drls`): a national or local set is used exactly like a shipped
        one.
    exam_type_column, region_column : str
        See above.
    by : str, sequence of str or None
        Grouping columns besides the exam type (default ``"facility"``); None for one row per
        exam type.
    strict : bool
        See above.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per exam type and ``by`` group, sorted by them: ``exam_type``, the ``by``
        columns, ``n_exams``, and for each quantity q in (``ctdivol``, ``dlp``):
        ``n_q`` (exams with a value), ``median_q`` (median of the exams' values),
        ``drl_q`` (the DRL), ``ratio_q`` (median / DRL), ``n_above_q`` (exams with a value
        strictly above the DRL) and ``share_above_q`` (``n_above_q / n_q``, a fraction).
        Statistics without data or without a DRL are null. The units are those of the input:
        mGy for CTDIvol, mGy·cm for DLP.
    """
    df, kind = to_polars(exams)
    by_cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in by_cols if c not in df.columns]
    if missing:
        raise ValueError(f"compare_to_drl: by column(s) {missing} not in the table; pass by=None")
    if "ctdivol_mgy" not in df.columns and "dlp_mgycm" not in df.columns:
        raise ValueError("compare_to_drl needs a ctdivol_mgy or dlp_mgycm column")
    flagged, _ = _attach_drl(df, drl, exam_type_column, region_column, strict)
    flagged = flagged.filter(pl.col("__exam_type").is_not_null())
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("n_exams")]
    for q, col in (("ctdivol", "ctdivol_mgy"), ("dlp", "dlp_mgycm")):
        val = pl.col(col).cast(pl.Float64) if col in df.columns else pl.lit(None, pl.Float64)
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
