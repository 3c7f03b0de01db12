"""Effective dose from DLP, body-region normalisation and comparison with reference levels.

Effective dose is estimated as ``E = k x DLP`` (mSv = mSv/(mGy·cm) x mGy·cm), with ``k`` from
a published conversion-factor table chosen by body region and, for paediatric tables, age.
Every table is a package data file (``recurct/data/kfactors_<name>.csv``) holding its
citation, its ICRP convention (60 or 103), its tube voltage where it applies and its age
columns; every value comes from ``reference/PUBLISHED.md`` (section "Dose conversion").

Tables (see :func:`tables`):

====================== ============ ====== ========================= ==========================
name                   convention   kV     ages (y)                  regions
====================== ============ ====== ========================= ==========================
``aapm96``             ICRP 60      --     adult                     head, head_neck, neck,
                                                                     chest, abdomen, pelvis,
                                                                     chest_abdomen_pelvis
``icrp103_adult``      ICRP 103     --     adult                     head, neck, chest, abdomen,
                                                                     pelvis, chest_abdomen_pelvis
``shrimpton_age``      ICRP 60      120    0, 1, 5, 10, adult (18)   head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
``nci_icrp103_120kv``  ICRP 103     120    0, 1, 5, 10, 15, 30       head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
====================== ============ ====== ========================= ==========================

A region a table does not tabulate is an error naming the region and the table, unless the
caller says what to use instead: ``fallback={"abdomen": "abdomen_pelvis"}`` (use another
region's factor of the same table) or ``fallback_table="aapm96"`` (use another table).
Nothing is derived silently.

Age rules (age-dependent tables; the tabulated ages ``a_0 < a_1 < ... < a_m``):

* ``"nearest-lower"``: the column of the largest tabulated age ``<= age``. With
  ``shrimpton_age`` (0, 1, 5, 10, 18): 0.5 -> 0 y, 1.0 -> 1 y, 4.99 -> 1 y, 5.0 -> 5 y,
  17.99 -> 10 y, 18.0 -> adult.
* ``"interpolate"``: linear in age between neighbouring tabulated ages, constant beyond the
  last one (and at the first one, 0 y).

Adult-only tables (``aapm96``, ``icrp103_adult``) ignore age: the adult factor is applied to
every row, children included, which is why age-dependent tables exist.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np
import polars as pl

from recurct._frames import from_polars, to_polars
from recurct.schema import BODY_REGIONS

__all__ = [
    "DoseConversionError",
    "DoseConversionWarning",
    "compare_to_drl",
    "drls",
    "effective_dose",
    "flag_above_drl",
    "k_factors",
    "normalise_region",
    "region_rules",
    "table",
    "tables",
]

AgeRule = Literal["nearest-lower", "interpolate"]
AGE_RULES: tuple[str, ...] = ("nearest-lower", "interpolate")

_MAX_AGE = 130.0


class DoseConversionError(ValueError):
    """Effective dose could not be computed for some rows; the message lists every one.

    ``problems`` holds the rows as a polars DataFrame (``row``, ``column``, ``value``,
    ``reason``); ``row`` is the 0-based row of the input table.
    """

    def __init__(self, message: str, problems: pl.DataFrame | None = None) -> None:
        super().__init__(message)
        self.problems = problems


class DoseConversionWarning(UserWarning):
    """``strict=False`` left some effective doses null; the message counts them by reason."""


# ---------------------------------------------------------------------------------------------
# Data files
# ---------------------------------------------------------------------------------------------


def _read_data_file(filename: str) -> tuple[dict[str, str], pl.DataFrame]:
    """Read a package data CSV: ``# key: value`` header lines, then a CSV body."""
    text = resources.files("recurct").joinpath("data", filename).read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    df = pl.read_csv(io.StringIO("\n".join(body)), infer_schema=False)
    return meta, df


def _data_names(prefix: str) -> list[str]:
    folder = resources.files("recurct").joinpath("data")
    names = [
        p.name[len(prefix) : -len(".csv")]
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".csv")
    ]
    return sorted(names)


@dataclass(frozen=True)
class _KTable:
    """One conversion-factor table as arrays: ``k[region_index, age_index]`` (NaN: none)."""

    name: str
    title: str
    citation: str
    convention: str
    kv: float | None
    ages: np.ndarray  # tabulated ages (years), ascending; [18.] for adult-only tables
    age_labels: tuple[str, ...]
    adult_from: float
    regions: tuple[str, ...]  # regions tabulated (subset of BODY_REGIONS)
    k: np.ndarray  # shape (len(BODY_REGIONS), len(ages)); NaN where not tabulated
    notes: str
    long: pl.DataFrame

    @property
    def age_dependent(self) -> bool:
        return len(self.ages) > 1


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
            f"unknown conversion-factor table {name!r}; available: {', '.join(available)}.{hint}"
        )
    meta, df = _read_data_file(f"kfactors_{name}.csv")
    df = df.with_columns(
        pl.col("age").cast(pl.Float64),
        pl.col("k").cast(pl.Float64),
    )
    bad = set(df["region"].to_list()) - set(BODY_REGIONS)
    if bad:  # pragma: no cover - guards the data files
        raise ValueError(f"kfactors_{name}.csv: regions {sorted(bad)} are not canonical")
    age_labels = tuple(s.strip() for s in meta["ages"].split(","))
    adult_from = float(meta["adult_from"])
    if df["age"].null_count() == df.height:  # adult-only
        ages = np.array([adult_from])
    else:
        ages = np.array(sorted(set(df["age"].to_list())), dtype=np.float64)
    k = np.full((len(BODY_REGIONS), len(ages)), np.nan)
    for row in df.iter_rows(named=True):
        r = BODY_REGIONS.index(row["region"])
        a = 0 if row["age"] is None else int(np.searchsorted(ages, row["age"]))
        k[r, a] = row["k"]
    regions = tuple(r for r in BODY_REGIONS if r in set(df["region"].to_list()))
    long = df.select(
        "region",
        "age",
        "age_label",
        "k",
        "source_label",
    )
    kv = float(meta["kv"]) if meta.get("kv") else None
    return _KTable(
        name=name,
        title=meta.get("title", ""),
        citation=meta["citation"],
        convention=meta["convention"],
        kv=kv,
        ages=ages,
        age_labels=age_labels,
        adult_from=adult_from,
        regions=regions,
        k=k,
        notes=meta.get("notes", ""),
        long=long,
    )


def tables() -> pl.DataFrame:
    """List the conversion-factor tables shipped with recurct.

    Returns
    -------
    polars.DataFrame
        One row per table: ``name``, ``title``, ``citation``, ``convention`` ("ICRP 60" or
        "ICRP 103"), ``kv`` (tube voltage, null where the table is not kV-specific),
        ``ages`` (the age-column labels), ``adult_from`` (the age in years from which the
        adult column applies), ``regions`` (the canonical regions tabulated) and ``notes``.

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
            "ages": pl.List(pl.Utf8),
            "adult_from": pl.Float64,
            "regions": pl.List(pl.Utf8),
            "notes": pl.Utf8,
        },
    )


def table(name: str) -> pl.DataFrame:
    """Return one conversion-factor table in long form.

    Parameters
    ----------
    name : str
        A table name from :func:`tables` (e.g. ``"aapm96"``, ``"shrimpton_age"``).

    Returns
    -------
    polars.DataFrame
        ``region`` (canonical), ``age`` (Float64, the age in years where the column starts;
        null for adult-only tables), ``age_label`` (as in the source, e.g. ``"5 y"``,
        ``"adult"``), ``k`` (mSv per mGy·cm) and ``source_label`` (the row as the source
        names it). The citation is in :func:`tables`.
    """
    return _ktable(name).long.clone()


# ---------------------------------------------------------------------------------------------
# k factors
# ---------------------------------------------------------------------------------------------

# reason codes of the per-row lookup
_OK, _NULL_REGION, _NONCANON, _NOT_IN_TABLE, _NO_AGE, _BAD_AGE = range(6)
_REASONS = {
    _NULL_REGION: "missing body region",
    _NONCANON: "not a canonical body region (map it with recurct.dose.normalise_region)",
    _NOT_IN_TABLE: "region not tabulated in {table} (pass fallback= or fallback_table=)",
    _NO_AGE: "missing age, needed by the age-dependent table {table}",
    _BAD_AGE: f"age outside 0-{_MAX_AGE:g} years",
}


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
        arr = np.asarray(values.astype("float64"), dtype=np.float64)
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised k lookup.

    Returns ``(k, reason, used_region)``: ``k`` NaN where ``reason != _OK``; ``used_region``
    the BODY_REGIONS index whose factor was used (-1 where none).
    """
    code = regions.codes
    n = code.shape[0]
    reason = np.zeros(n, dtype=np.int8)
    reason[code == -2] = _NULL_REGION
    reason[code == -1] = _NONCANON
    # substitute fallback regions (region index -> region index)
    remap = np.arange(len(BODY_REGIONS))
    for src, dst in fallback.items():
        if src not in t.regions:  # a fallback never overrides a tabulated factor
            remap[BODY_REGIONS.index(src)] = BODY_REGIONS.index(dst)
    valid = code >= 0
    used = np.full(n, -1, dtype=np.int64)
    used[valid] = remap[code[valid]]
    tabulated = np.zeros(len(BODY_REGIONS), dtype=bool)
    for r in t.regions:
        tabulated[BODY_REGIONS.index(r)] = True
    not_in = valid & ~tabulated[np.where(valid, used, 0)]
    reason[not_in] = _NOT_IN_TABLE
    used[not_in] = -1
    ok = reason == _OK
    k = np.full(n, np.nan)
    if not t.age_dependent:
        k[ok] = t.k[used[ok], 0]
        return k, reason, used
    if ages is None:
        raise ValueError(
            f"table {t.name!r} depends on age: pass ages= (age at the exam in years, "
            f"tabulated ages {', '.join(t.age_labels)})"
        )
    missing = ok & np.isnan(ages)
    reason[missing] = _NO_AGE
    bad = ok & ~np.isnan(ages) & ((ages < 0) | (ages > _MAX_AGE))
    reason[bad] = _BAD_AGE
    ok = reason == _OK
    used[~ok] = -1
    a = ages[ok]
    r = used[ok]
    grid = t.ages
    if age_rule == "nearest-lower":
        j = np.searchsorted(grid, a, side="right") - 1
        k[ok] = t.k[r, np.clip(j, 0, len(grid) - 1)]
    else:  # interpolate
        j = np.clip(np.searchsorted(grid, a, side="right") - 1, 0, len(grid) - 2)
        lo, hi = grid[j], grid[j + 1]
        w = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
        k[ok] = t.k[r, j] * (1.0 - w) + t.k[r, j + 1] * w
    return k, reason, used


def _resolve_tables(
    table: str, fallback_table: str | None, kv: float | None, age_rule: str
) -> tuple[_KTable, _KTable | None]:
    if age_rule not in AGE_RULES:
        raise ValueError(f"age_rule must be one of {AGE_RULES}, got {age_rule!r}")
    t = _ktable(table)
    _check_kv(t, kv)
    ft = None
    if fallback_table is not None:
        ft = _ktable(fallback_table)
        if ft.name == t.name:
            raise ValueError("fallback_table must differ from table")
    return t, ft


def _lookup_with_fallback_table(
    regions: _Regions,
    ages: np.ndarray | None,
    t: _KTable,
    ft: _KTable | None,
    age_rule: str,
    fallback: Mapping[str, str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(k, reason, used_region, from_fallback_table)`` for every row."""
    fb = _check_fallback(t, fallback)
    k, reason, used = _lookup(regions, ages, t, age_rule, fb)
    from_ft = np.zeros(k.shape[0], dtype=bool)
    if ft is not None:
        redo = np.flatnonzero(reason == _NOT_IN_TABLE)
        if redo.size:
            sub_ages = None if ages is None else ages[redo]
            sub = _Regions(regions.codes[redo], regions.values)
            fk, freason, fused = _lookup(sub, sub_ages, ft, age_rule, {})
            k[redo] = fk
            used[redo] = fused
            # a region absent from both tables stays "not in table" (named for the main table)
            freason = np.where(freason == _NOT_IN_TABLE, _NOT_IN_TABLE, freason)
            reason[redo] = freason
            from_ft[redo] = freason == _OK
    return k, reason, used, from_ft


def _lookup_error(
    regions: _Regions, ages: np.ndarray | None, reason: np.ndarray, t: _KTable
) -> ValueError:
    bad = np.flatnonzero(reason != _OK)
    parts = []
    for code in np.unique(reason[bad]):
        rows = bad[reason[bad] == code]
        if code == _NO_AGE:
            what = ""
        elif code == _BAD_AGE:
            what = f"ages {[float(x) for x in ages[rows][:10]]}"  # type: ignore[index]
        else:
            vals = list(dict.fromkeys(regions.pick(rows[:1000])))[:10]
            what = f"regions {vals}"
        msg = _REASONS[int(code)].format(table=repr(t.name))
        parts.append(f"{rows.size} value(s): {msg} {what} (first at position {rows[0]})".strip())
    extra = f"; table {t.name!r} tabulates {', '.join(t.regions)}"
    return ValueError("no conversion factor for " + "; ".join(parts) + extra)


def k_factors(
    regions: Any,
    ages: Any = None,
    *,
    table: str = "aapm96",
    age_rule: AgeRule = "nearest-lower",
    fallback: Mapping[str, str] | None = None,
    fallback_table: str | None = None,
    kv: float | None = None,
) -> np.ndarray:
    """Conversion factors k (mSv per mGy·cm) for arrays of body regions and ages.

    Vectorised: the work is a lookup into a (region x age column) matrix, with no Python loop
    over rows, so millions of rows take milliseconds.

    Parameters
    ----------
    regions : array-like of str, polars or pandas Series
        Canonical body regions (:data:`recurct.schema.BODY_REGIONS`); map free text first with
        :func:`normalise_region`.
    ages : array-like of float, scalar or None
        Age at the exam in years; needed only by age-dependent tables.
    table : str
        A table from :func:`tables`.
    age_rule : {"nearest-lower", "interpolate"}
        How an age between tabulated ages maps to a factor (see the module docstring).
    fallback : mapping, optional
        ``{region: other_region}``: use ``other_region``'s factor of the same table for a
        region the table does not tabulate, e.g. ``{"neck": "head_neck"}``. Never overrides a
        tabulated factor.
    fallback_table : str, optional
        Another table to use for regions ``table`` does not tabulate (after ``fallback``).
    kv : float, optional
        Tube voltage; checked against the table's (an error if the table is for another kV).

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
    """
    t, ft = _resolve_tables(table, fallback_table, kv, age_rule)
    reg = _region_codes(regions)
    age_arr = None if ages is None else _as_float_array(ages, len(reg))
    if age_arr is None and (t.age_dependent or (ft is not None and ft.age_dependent)):
        raise ValueError(
            f"table {(t if t.age_dependent else ft).name!r} depends on age: pass ages= "  # type: ignore[union-attr]
            "(age at the exam in years)"
        )
    k, reason, _, _ = _lookup_with_fallback_table(reg, age_arr, t, ft, age_rule, fallback)
    if (reason != _OK).any():
        raise _lookup_error(reg, age_arr, reason, t)
    return k
