"""The per-row lookup of conversion factors: region codes, age rules, fallbacks, and the reason
codes of rows that cannot be converted (shared by :func:`k_factors` and
:func:`effective_dose`)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import as_written
from recurct.dose._tables import AGE_RULES, MAX_AGE, KTable, as_ktable
from recurct.errors import DataError, ParameterError
from recurct.schema import BODY_REGIONS

# ---------------------------------------------------------------------------------------------
# k factors
# ---------------------------------------------------------------------------------------------

# reason codes of the per-row lookup
OK, NULL_REGION, NONCANON, NOT_IN_TABLE, NO_AGE, BAD_AGE, NO_SEX = range(7)
REASONS = {
    NULL_REGION: "missing body region",
    NONCANON: "not a canonical body region (map it with recurct.dose.normalise_region)",
    NOT_IN_TABLE: "region not tabulated in {table} (pass fallback= or fallback_table=)",
    NO_AGE: "missing age, needed by the age-dependent table {table}",
    BAD_AGE: f"age outside 0-{MAX_AGE:g} years",
    NO_SEX: "sex not F or M, needed by the sex-specific table {table}",
}
_NOT_IN_EITHER = (
    "region not tabulated in {table} nor in the fallback table {fallback} "
    "(pass fallback={{region: other}})"
)


def reason_text_of(code: int, t: KTable, ft: KTable | None) -> str:
    """The text of a lookup reason code; a region absent from both tables names both."""
    if code == NOT_IN_TABLE and ft is not None:
        return _NOT_IN_EITHER.format(table=repr(t.name), fallback=repr(ft.name))
    return REASONS.get(code, "").format(table=repr(t.name))


_ENUM = pl.Enum(list(BODY_REGIONS))


@dataclass(frozen=True)
class Regions:
    """Region values coded as BODY_REGIONS indices (-1: not canonical, -2: null)."""

    codes: np.ndarray
    values: pl.Series | np.ndarray  # the input, for error messages

    def __len__(self) -> int:
        return self.codes.shape[0]

    def pick(self, rows: np.ndarray) -> list[Any]:
        if isinstance(self.values, pl.Series):
            return self.values.gather(rows).to_list()
        return [None if v is None else str(v) for v in self.values[rows].tolist()]


def region_codes(values: Any, name: str = "regions") -> Regions:
    """Code regions without a Python loop over rows.

    Fast paths: polars Series (Utf8, Categorical or Enum: one cast to an Enum of the canonical
    regions) and numpy fixed-width string arrays (one comparison per canonical region). A
    column that holds no region at all (polars' Null dtype, or floats that are all null or
    NaN, as pandas reads an empty CSV column) is a column of null regions.
    """
    if type(values).__module__.startswith("pandas"):
        values = pl.from_pandas(values)
    if not isinstance(values, pl.Series):
        arr = np.asarray(values) if not isinstance(values, str | bytes | Mapping) else None
        if arr is None or arr.ndim != 1:
            raise ParameterError(
                f"{name} must be an array of strings, one canonical body region per exam, "
                f"got {values!r:.60}"
            )
        if arr.dtype.kind in "US":
            codes = np.full(arr.shape[0], -1, dtype=np.int64)
            left = arr.shape[0]
            for i, r in enumerate(BODY_REGIONS):
                hit = arr == r
                codes[hit] = i
                left -= int(np.count_nonzero(hit))
                if left == 0:
                    break
            return Regions(codes, arr)
        if arr.dtype.kind == "f" and np.isnan(arr).all():
            arr = np.full(arr.shape[0], None, dtype=object)
        if arr.dtype.kind != "O":
            raise ParameterError(
                f"{name} must hold strings (canonical body regions), got {arr.dtype}"
            )
        values = pl.Series(name, arr.tolist(), dtype=pl.Utf8, strict=False)
    s = values
    if s.dtype == pl.Null or (
        s.dtype.is_float() and (s.is_null() | s.is_nan().fill_null(True)).all()
    ):
        s = pl.Series(s.name, [None] * s.len(), dtype=pl.Utf8)
    if s.dtype not in (pl.Utf8, pl.Categorical) and not isinstance(s.dtype, pl.Enum):
        raise ParameterError(f"{name} must hold strings (canonical body regions), got {s.dtype}")
    coded = s.cast(_ENUM, strict=False).to_physical().cast(pl.Int64)
    codes = coded.fill_null(-1).to_numpy().copy()
    if s.null_count():
        codes[s.is_null().to_numpy()] = -2
    return Regions(codes, s)


def _narrow_float(dtype: Any) -> bool:
    """Whether a numpy or pandas dtype is a float32 or float16 (pandas' nullable and Arrow
    floats by their numpy dtype)."""
    dt = getattr(dtype, "numpy_dtype", dtype)
    return isinstance(dt, np.dtype) and dt.kind == "f" and dt.itemsize < 8


def _as_written(s: pl.Series) -> np.ndarray:
    """A ``Float32`` or ``Float16`` Series as float64, each value as written (its shortest
    decimal: :func:`recurct._casts.as_written`); NaN where null or NaN."""
    return s.to_frame().select(as_written(pl.first(), s.dtype)).to_series().to_numpy()


def as_float_array(values: Any, n: int) -> np.ndarray:
    """Ages as ``n`` float64 values (one given for all: repeated). A float32 or float16 age
    (polars, pandas or numpy) is read as written, by its shortest decimal: 12.3, not
    12.300000190734863; other numbers as they are."""
    if isinstance(values, pl.Series):
        if values.dtype in (pl.Float32, pl.Float16):
            arr = _as_written(values)
        else:
            arr = values.cast(pl.Float64).to_numpy()
    elif type(values).__module__.startswith("pandas"):
        if _narrow_float(getattr(values, "dtype", None)):
            arr = _as_written(pl.from_pandas(values))
        else:
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(values, np.floating) and _narrow_float(values.dtype):
        arr = np.full(n, _as_written(pl.Series([values]))[0])
    elif isinstance(values, np.ndarray) and values.ndim == 1 and _narrow_float(values.dtype):
        arr = _as_written(pl.Series(values))
    else:
        scalar = isinstance(values, numbers.Real) and not isinstance(values, bool | np.bool_)
        try:
            if scalar:
                arr = np.full(n, float(values))  # type: ignore[arg-type]
            elif isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
                raise TypeError
            else:
                arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(
                "ages must be numbers of years (one per region, or one for all), "
                f"got {values!r:.60}"
            ) from None
    if arr.shape != (n,):
        raise ParameterError(f"ages must have one value per region ({n}), got shape {arr.shape}")
    return arr


def check_fallback(t: KTable, fallback: Mapping[str, str] | None) -> dict[str, str]:
    if fallback is not None and not isinstance(fallback, Mapping):
        raise ParameterError(
            "fallback must map a region to another, e.g. {'abdomen': 'abdomen_pelvis'}; "
            f"got {fallback!r:.60}"
        )
    fb = dict(fallback or {})
    for src, dst in fb.items():
        for r in (src, dst):
            if r not in BODY_REGIONS:
                raise ParameterError(
                    f"fallback {src!r} -> {dst!r}: {r!r} is not a canonical body region "
                    f"({', '.join(BODY_REGIONS)})"
                )
        if dst not in t.regions:
            raise ParameterError(
                f"fallback {src!r} -> {dst!r}: table {t.name!r} has no factor for {dst!r} "
                f"either (it tabulates {', '.join(t.regions)})"
            )
    return fb


def check_kv(t: KTable, kv: float | None) -> None:
    """A ``kv`` given with table ``t`` must be the table's tube voltage."""
    if kv is None:
        return
    if t.kv is None:
        raise ParameterError(
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
        raise ParameterError(
            f"table {t.name!r} holds factors for {t.kv:g} kV only, not {float(kv):g} kV.{extra}"
        )


def lookup(
    regions: Regions,
    ages: np.ndarray | None,
    t: KTable,
    age_rule: str,
    fallback: dict[str, str],
    sexes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised k lookup.

    ``sexes``: 0 (F), 1 (M) or -1 (other or missing) per row, used by sex-specific tables.
    Age and sex are needed only by the rows whose region's factors depend on them (a table
    of yours may tabulate chest by sex and head for both, spine for all ages and chest by
    age): ``ages=None`` or ``sexes=None`` stand for missing values, and a row that needs one
    gets the reason ``NO_AGE`` / ``NO_SEX``.
    Returns ``(k, reason, used_region)``: ``k`` NaN where ``reason != OK``; ``used_region``
    the BODY_REGIONS index whose factor was used (-1 where none).
    """
    code = regions.codes
    n = code.shape[0]
    row = _region_rows(t, fallback)[code + 2]
    k_ext = np.concatenate([np.full((t.k.shape[0], 1, t.k.shape[2]), np.nan), t.k], axis=1)

    def at(sx: np.ndarray, r: np.ndarray, a: np.ndarray | int) -> np.ndarray:
        # one sex axis (every shipped table): plain 2-D indexing, the fast path
        return k_ext[0][r, a] if k_ext.shape[0] == 1 else k_ext[sx, r, a]

    if t.sexes:
        # sex is needed where the region's factors differ between F and M
        f, m = k_ext[0], k_ext[1]
        by_sex = ~np.all((f == m) | (np.isnan(f) & np.isnan(m)), axis=1)
        sx_given = np.full(n, -1, dtype=np.int64) if sexes is None else sexes
        no_sex = (sx_given < 0) & by_sex[row]
        sx = np.where(sx_given < 0, 0, sx_given).astype(np.intp)
    else:
        sx = np.zeros(n, dtype=np.intp)
        no_sex = np.zeros(n, dtype=bool)
    bad_age = None
    if not t.age_dependent:
        k = at(sx, row, 0)
    else:
        # age is needed where the region's factors (for the row's sex) vary with age
        first = k_ext[:, :, :1]
        same = (k_ext == first) | (np.isnan(k_ext) & np.isnan(first))
        by_age = ~np.all(same, axis=2)  # (sex, region row)
        needs = by_age[sx if by_age.shape[0] > 1 else 0, row]
        given = np.full(n, np.nan) if ages is None else ages
        bad_age = needs & ~((given >= 0.0) & (given <= MAX_AGE))  # NaN included
        use = np.where(needs, given, t.ages[0])  # any column serves a row that needs none
        k = _by_age(lambda j: at(sx, row, j), t.ages, use, age_rule)
        if bad_age.any():
            k[bad_age] = np.nan
        ages = given
    if no_sex.any():
        k[no_sex] = np.nan
    used = row.astype(np.int64) - 1
    reason = np.zeros(n, dtype=np.int8)
    nan = np.flatnonzero(np.isnan(k))
    if nan.size:
        reason[nan] = _reasons(nan, code, row, ages, bad_age, no_sex)
        used[nan] = -1
    return k, reason, used


def _region_rows(t: KTable, fallback: dict[str, str]) -> np.ndarray:
    """``(region code + 2) -> row of k`` with an all-NaN row 0 in front (null,
    non-canonical, untabulated); ``fallback`` maps an untabulated region to another's row
    (a fallback never overrides a tabulated factor)."""
    nreg = len(BODY_REGIONS)
    tabulated = np.zeros(nreg, dtype=bool)
    for r in t.regions:
        tabulated[BODY_REGIONS.index(r)] = True
    remap = np.arange(nreg)
    for src, dst in fallback.items():
        if src not in t.regions:
            remap[BODY_REGIONS.index(src)] = BODY_REGIONS.index(dst)
    lut = np.zeros(nreg + 2, dtype=np.intp)
    lut[2:] = np.where(tabulated[remap], remap + 1, 0)
    return lut


def _by_age(
    at: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, ages: np.ndarray, age_rule: str
) -> np.ndarray:
    """k at each row's age by the age rule (``at(j)``: the factors of age column ``j``)."""
    j = np.searchsorted(grid, ages, side="right") - 1
    if age_rule == "interpolate":  # linear between tabulated ages, constant beyond
        np.clip(j, 0, len(grid) - 2, out=j)
        lo = grid[j]
        w = np.clip((ages - lo) / (grid[j + 1] - lo), 0.0, 1.0)
        return at(j) * (1.0 - w) + at(j + 1) * w
    np.clip(j, 0, len(grid) - 1, out=j)
    if age_rule == "nearest":  # the closer tabulated age; ties go to the younger
        up = np.minimum(j + 1, len(grid) - 1)
        with np.errstate(invalid="ignore"):
            j = np.where((up > j) & (grid[up] - ages < ages - grid[j]), up, j)
    return at(j)


def _reasons(
    idx: np.ndarray,
    code: np.ndarray,
    row: np.ndarray,
    ages: np.ndarray | None,
    bad_age: np.ndarray | None,
    no_sex: np.ndarray,
) -> np.ndarray:
    """The reason code of each row ``idx`` without a factor (the first that applies of:
    null region, non-canonical, untabulated, no sex, bad or missing age)."""
    c, rw = code[idx], row[idx]
    # a region the table has for the other sex only stays "not tabulated"
    rs = np.full(idx.size, NOT_IN_TABLE, dtype=np.int8)
    if bad_age is not None:
        ba = bad_age[idx]
        rs[ba] = np.where(np.isnan(ages[idx][ba]), NO_AGE, BAD_AGE)  # type: ignore[index]
    rs[no_sex[idx]] = NO_SEX
    rs[rw == 0] = NOT_IN_TABLE
    rs[c == -1] = NONCANON
    rs[c == -2] = NULL_REGION
    return rs


def resolve_tables(
    table: Any,
    fallback_table: Any,
    kv: float | None,
    age_rule: str,
    adult_from: float | None = None,
) -> tuple[KTable, KTable | None]:
    if not isinstance(age_rule, str) or age_rule not in AGE_RULES:
        raise ParameterError(f"age_rule must be one of {AGE_RULES}, got {age_rule!r}")
    if kv is not None:  # NaN, inf, booleans and text are refused with a message
        kv = _checks.number(kv, "effective dose", "kv", lo=0.0, lo_open=True, what=" kV")
    adult_from = _checks.age(adult_from, "effective dose", "adult_from")
    t = as_ktable(table, kv)
    check_kv(t, kv)
    t = t.with_adult_from(adult_from)
    ft = None
    if fallback_table is not None:
        ft = as_ktable(fallback_table).with_adult_from(adult_from)
        if ft is t or (ft.shipped and t.shipped and ft.name == t.name):
            raise ParameterError("fallback_table must differ from table")
    return t, ft


def sex_codes(values: Any, n: int) -> np.ndarray:
    """0 (F), 1 (M), -1 (anything else, null included) per row."""
    if isinstance(values, pl.Series):
        s = values
    elif type(values).__module__.startswith("pandas"):
        s = pl.from_pandas(values)
    else:
        s = pl.Series("sex", list(values), dtype=pl.Utf8, strict=False)
    if s.len() != n:
        raise ParameterError(f"sexes must have one value per region ({n}), got {s.len()}")
    u = s.cast(pl.Utf8, strict=False).str.strip_chars().str.to_uppercase()
    return (
        pl.select(pl.when(u == "F").then(0).when(u == "M").then(1).otherwise(-1).alias("s"))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )


def lookup_with_fallback_table(
    regions: Regions,
    ages: np.ndarray | None,
    t: KTable,
    ft: KTable | None,
    age_rule: str,
    fallback: Mapping[str, str] | None,
    sexes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(k, reason, used_region, from_fallback_table)`` for every row."""
    fb = check_fallback(t, fallback)
    k, reason, used = lookup(regions, ages, t, age_rule, fb, sexes)
    from_ft = np.zeros(k.shape[0], dtype=bool)
    if ft is not None:
        redo = np.flatnonzero(reason == NOT_IN_TABLE)
        if redo.size:
            sub_ages = None if ages is None else ages[redo]
            sub_sex = None if sexes is None else sexes[redo]
            sub = Regions(regions.codes[redo], regions.values)
            fk, freason, fused = lookup(sub, sub_ages, ft, age_rule, {}, sub_sex)
            k[redo] = fk
            used[redo] = fused
            # a region absent from both tables stays "not in table" (named for the main table)
            reason[redo] = freason
            from_ft[redo] = freason == OK
    return k, reason, used, from_ft


def lookup_error(
    regions: Regions,
    ages: np.ndarray | None,
    reason: np.ndarray,
    t: KTable,
    ft: KTable | None = None,
) -> DataError:
    bad = np.flatnonzero(reason != OK)
    parts = []
    for code in np.unique(reason[bad]):
        rows = bad[reason[bad] == code]
        if code in (NO_AGE, NO_SEX):
            what = ""
        elif code == BAD_AGE:
            what = f"ages {[float(x) for x in ages[rows][:10]]}"  # type: ignore[index]
        else:
            vals = list(dict.fromkeys(regions.pick(rows[:1000])))[:10]
            what = f"regions {vals}"
        msg = reason_text_of(int(code), t, ft)
        where = f"{msg} {what}".strip()
        parts.append(f"{rows.size} value(s): {where} (first at position {rows[0]})")
    extra = f"; table {t.name!r} tabulates {', '.join(t.regions)}"
    return DataError("no conversion factor for " + "; ".join(parts) + extra)
