"""Scaling a cohort's rate of patients reaching T to a population.

The formula, and nothing more:

    expected           = rate_per_1000 / 1000 x population
    expected_per_year  = expected / years

``rate_per_1000`` is the number of people per 1,000 of the population who reach the threshold
over a period of ``years`` years (e.g. Rehani & Hauptmann, Phys Med 2020: about 2.5 million of
1.2 billion people in 35 OECD countries, 0.21%, reach >= 100 mSv over 5 years; 0.51 per 1,000
in Finland to 2.9 per 1,000 in the USA). ``expected_per_year`` spreads the period's count evenly
over its years: it is an average, which is only a count of distinct patients per year if a
patient is counted in one year only. A rate's CI maps linearly onto the counts (the bounds are
multiplied by the same constant). Totals over countries sum the counts and the bounds; summing
bounds treats the countries' errors as perfectly correlated, so the total's interval is
conservative (wider than under independence).

The IAEA estimate of "about 0.9 to 1 million patients a year worldwide" reaching 100 mSv
(Brambilla et al., Eur Radiol 2020) was computed by a method that is not published in any source
we found; this module does not reproduce it and makes no claim to.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import polars as pl

from recurct import _checks
from recurct._frames import from_polars, to_polars
from recurct.errors import DataError, ParameterError
from recurct.stats._common import check_stripped_keys

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = ["extrapolate"]


#: A rate per 1,000 people is at most 1,000 (everyone reaches the threshold).
MAX_RATE_PER_1000 = 1000.0


def _check(name: str, value: float, *, positive: bool = False, hi: float | None = None) -> float:
    """``value`` as a float: a finite number >= 0 (> 0 with ``positive``), at most ``hi``."""
    x = _checks._scalar(value, "extrapolate", name)  # (a number: else a ParameterError)
    if not math.isfinite(x) or x < 0 or (positive and x == 0) or (hi is not None and x > hi):
        need = f"in [0, {hi:g}]" if hi is not None else "> 0" if positive else ">= 0"
        raise ParameterError(f"extrapolate: {name} must be a finite number {need}, got {value!r}")
    return x


def extrapolate(
    rate_per_1000: float | None = None,
    population: float | None = None,
    years: float = 1,
    *,
    rate_ci: tuple[float, float] | None = None,
    per_country: Any = None,
) -> Frame:
    """Expected number of people reaching the threshold in a population (module docstring).

    Parameters
    ----------
    rate_per_1000 : float
        People reaching T per 1,000 population over ``years`` years: from 0 to 1,000 (a
        larger rate would mean more people reaching T than live in the population).
    population : float
        Population size (finite, >= 0).
    years : float
        Length of the period the rate covers (finite, > 0);
        ``expected_per_year = expected / years``.
    rate_ci : (lo, hi), optional
        CI of ``rate_per_1000`` (both bounds from 0 to 1,000); mapped linearly to the counts.
    per_country : DataFrame, optional
        Instead of ``rate_per_1000`` and ``population``: a table with ``country``,
        ``rate_per_1000``, ``population`` and optionally ``rate_per_1000_lo``,
        ``rate_per_1000_hi`` (the columns ``rate_lo``/``rate_hi`` of recurct 0.1 are refused
        with an error naming the new ones), one row per country. The rate and population
        columns must hold numbers, finite and as for the scalar arguments (the interval
        columns may be null); anything else raises :class:`recurct.errors.DataError` naming
        the column and the rows, as do an empty table and a ``country`` that is null,
        ``"total"`` in any case (the name of the row added) or named on more than one row,
        or two that differ only by surrounding whitespace (``"France"``, ``"France "``).
        Names that differ only in case (``"Germany"``, ``"germany"``) stay two countries,
        as in :func:`recurct.survey.survey_table`.

    Returns
    -------
    DataFrame
        Columns ``country`` (per-country input only; last row ``"total"``), ``rate_per_1000``,
        ``rate_per_1000_lo``, ``rate_per_1000_hi``, ``population``, ``years``, ``share``
        (``rate_per_1000 / 1000``: the fraction expected to reach T, which is
        ``expected / population`` where the population is > 0), ``expected``,
        ``expected_lo``, ``expected_hi``, ``expected_per_year``, ``expected_per_year_lo``,
        ``expected_per_year_hi``. The total row's ``rate_per_1000`` is
        ``1000 x total expected / total population`` (population-weighted) and its ``share``
        ``total expected / total population``; both are null where the total population is
        0. pandas in, pandas out (per_country); polars otherwise.

    Examples
    --------
    >>> t = extrapolate(2.5e6 / 1.2e9 * 1000, 1.2e9, years=5)
    >>> round(t["expected"][0]), round(t["expected_per_year"][0])
    (2500000, 500000)
    """
    years = _check("years", years, positive=True)
    if per_country is not None:
        if rate_per_1000 is not None or population is not None or rate_ci is not None:
            raise ParameterError(
                "pass either per_country or rate_per_1000/population/rate_ci, not both"
            )
        return _per_country(per_country, years)
    if rate_per_1000 is None or population is None:
        raise ParameterError("pass rate_per_1000 and population (or per_country=...)")
    rate = _check("rate_per_1000", rate_per_1000, hi=MAX_RATE_PER_1000)
    pop = _check("population", population)
    lo = hi = None
    if rate_ci is not None:
        if isinstance(rate_ci, str | bytes) or len(bounds := list(_checks.many(rate_ci))) != 2:
            raise ParameterError(f"rate_ci must be two numbers (lower, upper), got {rate_ci!r:.60}")
        lo, hi = (_check("rate_ci", b, hi=MAX_RATE_PER_1000) for b in bounds)
        if not lo <= rate <= hi:
            raise ParameterError(f"rate_ci {rate_ci} must contain rate_per_1000 {rate}")
    df = pl.DataFrame(
        {
            "rate_per_1000": [rate],
            "rate_per_1000_lo": [lo],
            "rate_per_1000_hi": [hi],
            "population": [pop],
        },
        schema=dict.fromkeys(
            ("rate_per_1000", "rate_per_1000_lo", "rate_per_1000_hi", "population"), pl.Float64
        ),
    )
    return _expected(df, years)


def _expected(df: pl.DataFrame, years: float) -> pl.DataFrame:
    k = pl.col("population") / 1000.0
    return df.with_columns(
        pl.lit(years).alias("years"),
        (pl.col("rate_per_1000") / 1000.0).alias("share"),
        (pl.col("rate_per_1000") * k).alias("expected"),
        (pl.col("rate_per_1000_lo") * k).alias("expected_lo"),
        (pl.col("rate_per_1000_hi") * k).alias("expected_hi"),
    ).with_columns(
        (pl.col("expected") / years).alias("expected_per_year"),
        (pl.col("expected_lo") / years).alias("expected_per_year_lo"),
        (pl.col("expected_hi") / years).alias("expected_per_year_hi"),
    )


def _per_country(table: Any, years: float) -> Frame:
    df, kind = to_polars(table)
    missing = [c for c in ("country", "rate_per_1000", "population") if c not in df.columns]
    if missing:
        raise DataError(f"per_country lacks column(s) {missing}")
    old = [c for c in ("rate_lo", "rate_hi") if c in df.columns]
    if old:
        raise DataError(
            f"per_country: the column(s) {old} were renamed to 'rate_per_1000_lo' / "
            "'rate_per_1000_hi' in recurct 0.2 (an interval is named after its estimate)"
        )
    for c in ("rate_per_1000_lo", "rate_per_1000_hi"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    numbers = ("rate_per_1000", "rate_per_1000_lo", "rate_per_1000_hi", "population")
    for c in numbers:  # the types first: a text or Boolean column cannot be compared
        dtype = df.schema[c]
        if dtype != pl.Null and (not dtype.is_numeric() or dtype == pl.Boolean):
            raise DataError(f"per_country: column {c!r} must hold numbers, got {dtype}")
    if df.height == 0:
        raise DataError("per_country is empty: give one row per country")
    df = df.select(pl.col("country").cast(pl.Utf8), *[pl.col(c).cast(pl.Float64) for c in numbers])
    country = pl.col("country")
    _refuse_rows(df, country.is_null(), "per_country: column 'country' must not be null")
    _refuse_rows(
        df,
        country.str.strip_chars().str.to_lowercase() == "total",
        "per_country: 'total' (in any case) is the name of the row extrapolate adds; rename "
        "that country",
    )
    check_stripped_keys(df, "country", [], "extrapolate(per_country=...)", "country name")
    _refuse_rows(
        df,
        country.is_duplicated(),
        "per_country: column 'country' names a country more than once (its rows would be "
        "counted twice in the total); give one row per country",
    )
    for c in numbers:  # finite values, in range; null only in the optional CI columns
        col = pl.col(c)
        bad = ~col.is_finite() | (col < 0)
        if c != "population":
            bad = bad | (col > MAX_RATE_PER_1000)
        if c in ("rate_per_1000", "population"):
            bad = bad | col.is_null()
        _refuse_rows(
            df,
            bad.fill_null(False),
            f"per_country: column {c!r} must hold finite numbers "
            + ("from 0 to 1,000" if c != "population" else ">= 0")
            + (" (null allowed)" if c.endswith(("_lo", "_hi")) else ", not null"),
        )
    _refuse_rows(
        df,
        (
            (pl.col("rate_per_1000_lo") > pl.col("rate_per_1000"))
            | (pl.col("rate_per_1000_hi") < pl.col("rate_per_1000"))
        ).fill_null(False),
        "per_country needs rate_per_1000_lo <= rate_per_1000 <= rate_per_1000_hi",
    )
    out = _expected(df, years)
    total = _total_row(out, years)
    out = pl.concat([out, pl.DataFrame([total], schema=out.schema)])
    return from_polars(out, kind)


def _refuse_rows(df: pl.DataFrame, bad: pl.Expr, message: str) -> None:
    """``DataError`` with ``message`` and the first bad rows (0-based row, country)."""
    rows = df.with_row_index("row").filter(bad)
    if rows.height:
        raise DataError(
            f"{message}; {rows.height} bad rows (0-based row, country): "
            f"{rows.select('row', 'country').rows()[:5]}"
        )


def _total_row(out: pl.DataFrame, years: float) -> dict[str, Any]:
    """The ``"total"`` row: sums, and the population-weighted rate."""
    pop = out.get_column("population").sum()
    has_ci = (
        out.get_column("rate_per_1000_lo").null_count() == 0
        and out.get_column("rate_per_1000_hi").null_count() == 0
    )

    def tot(c: str) -> float | None:
        return float(out.get_column(c).sum()) if has_ci or c in ("expected", "population") else None

    e = tot("expected")
    total = {
        "country": "total",
        "rate_per_1000": 1000.0 * e / pop if pop else None,
        "rate_per_1000_lo": 1000.0 * tot("expected_lo") / pop if pop and has_ci else None,
        "rate_per_1000_hi": 1000.0 * tot("expected_hi") / pop if pop and has_ci else None,
        "population": float(pop),
        "years": years,
        "share": e / pop if pop else None,
        "expected": e,
        "expected_lo": tot("expected_lo"),
        "expected_hi": tot("expected_hi"),
    }
    total["expected_per_year"] = e / years
    for end in ("lo", "hi"):
        v = total[f"expected_{end}"]
        total[f"expected_per_year_{end}"] = None if v is None else v / years
    return total
