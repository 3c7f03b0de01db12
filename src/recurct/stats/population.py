"""A population denominator: shares among all people, with or without CT.

The patients table holds people with at least one CT. A population-based figure ("per 1,000
residents", or the share of all enrolees reaching 100 mSv) needs the people without CT too.
``population=`` in :func:`recurct.stats.magnitude` and :func:`recurct.stats.dose_bands` takes

* an ``int``: the size of the whole population (used on the ``"all"`` rows; strata rows get a
  null denominator, since the split of the population by stratum is unknown); a float that is
  a whole number, such as ``1.2e9``, is taken as that int, any other float is refused; or
* a table of people, one row per person, with the ``by`` columns (and ``patient_id`` where
  the patients table has one: every patient must then be in it, once, and a null
  ``patient_id`` is refused with the rows named): each stratum's denominator
  is its number of people. Every stratum of the patients must be in it with at least as
  many people as patients (a :class:`recurct.errors.DataError` names the strata that are
  not, with both counts). Its ``by`` columns are matched to the patients' by value: numbers
  of another numeric dtype are compared as numbers (a region ``1.0``, as pandas reads an
  integer column with a missing value, is region ``1``; a person whose value equals none of
  the patients' dtype, such as ``1.5`` against integers, is in none of their strata but
  still counted in the total), text of any text dtype as text; values of another kind
  (text against numbers, dates against text, ...) are refused with a ``DataError`` naming
  the column and both dtypes, rather than matched by their printed form (``"1"`` is not
  the number ``1``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from recurct._frames import frame_kind, to_polars
from recurct.errors import DataError, ParameterError
from recurct.stats._common import TMP, _rows, unsigned_zeros
from recurct.stats.proportion import proportion_ci

__all__ = ["add_population"]

_ALL = "all"


def _population_size(population: Any, patients: pl.DataFrame | None) -> int | None:
    """The population as a number of people (an int, or a whole float), checked against the
    patients; ``None`` for anything else (a table)."""
    if isinstance(population, bool | np.bool_) or population is None:
        raise ParameterError("population must be an int or a table of people")
    if isinstance(population, float | np.floating):  # 1.2e9: a whole number of people
        if not (math.isfinite(population) and population == int(population)):
            raise ParameterError(
                f"population must be a whole number of people (an int such as 1_200_000_000, "
                f"or a whole float such as 1.2e9), got {population!r}"
            )
        population = int(population)
    if isinstance(population, int | np.integer):
        if population < 1:
            raise ParameterError(f"population must be >= 1 person, got {population}")
        if patients is not None and population < patients.height:
            raise ParameterError(
                f"population ({population}) is smaller than the number of patients "
                f"({patients.height}): it must count people with and without CT"
            )
        return int(population)
    return None


def population_counts(
    population: Any, by_cols: list[str], patients: pl.DataFrame | None = None
) -> tuple[int, pl.DataFrame | None]:
    """Total population and, for a table of people, the number per stratum (``__recurct_n_pop``)."""
    size = _population_size(population, patients)
    if size is not None:
        return size, None
    try:
        frame_kind(population)
    except ParameterError:
        raise ParameterError(
            "population must be an int (the number of people) or a table of people "
            f"(polars, pandas or pyarrow), got {type(population).__name__}"
        ) from None
    pop, _ = to_polars(population)
    missing = [c for c in by_cols if c not in pop.columns]
    if missing:
        raise DataError(f"the population table lacks the by column(s) {missing}")
    pop = unsigned_zeros(pop, by_cols)  # (its strata 0.0 for -0.0 too, as the patients')
    if patients is not None and "patient_id" in pop.columns and "patient_id" in patients.columns:
        ids = pop["patient_id"]
        if ids.null_count():
            raise DataError(
                f"the population table's column 'patient_id' is null in {_rows(ids.is_null())} "
                "(0-based): every person needs an id to match the patients (or drop the "
                "column: each stratum is then counted without matching patients)"
            )
        if ids.is_duplicated().any():
            raise DataError(
                "the population table lists a patient_id more than once (column 'patient_id', "
                f"{_rows(ids.is_duplicated())} (0-based)); list each person once"
            )
        absent = patients.join(pop.select("patient_id"), on="patient_id", how="anti")
        if absent.height:
            raise DataError(
                f"{absent.height} patient(s) are not in the population table (e.g. "
                f"{absent['patient_id'][0]!r}): it must list every person, with or without CT"
            )
    if patients is not None and pop.height < patients.height:
        raise DataError(
            f"the population table lists {pop.height} people, fewer than the "
            f"{patients.height} patients: it must list every person, with or without CT"
        )
    counts = None
    if by_cols:
        people = pop if patients is None else _as_patients_keys(pop, patients, by_cols)
        counts = (
            people.group_by(by_cols)
            .agg(pl.len().cast(pl.Int64).alias(f"{TMP}n_pop"))
            .with_columns(pl.col(c).cast(pl.Utf8) for c in by_cols)
        )
        if patients is not None:
            _check_strata(patients, counts, by_cols)
    return pop.height, counts


def _kind(dtype: pl.DataType) -> str:
    """The kind of values of a ``by`` column: what can be matched across tables."""
    if dtype.is_numeric():
        return "number"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "text"
    return str(dtype.base_type())


def _as_patients_keys(
    pop: pl.DataFrame, patients: pl.DataFrame, by_cols: list[str]
) -> pl.DataFrame:
    """``pop`` with each ``by`` column in the patients' dtype, so that both tables' strata
    are labelled alike (``1`` and ``1.0`` are one stratum: an integer region code read as a
    float, as pandas reads a column with a missing value). Numbers of another numeric dtype
    are compared by value: a person whose value has no exact equal in the patients' dtype
    (``1.5`` or NaN against integers) is in no stratum of the patients (still counted in the
    total). Values of another kind (text against numbers, dates against text...) are refused
    rather than matched by their text: ``"1"`` is not the number 1."""
    casts: list[pl.Expr] = []
    exact: list[pl.Expr] = []
    for c in by_cols:
        want, have = patients.schema[c], pop.schema[c]
        if want == have or pl.Null in (want, have) or _kind(want) == _kind(have) == "text":
            continue
        if _kind(want) != "number" or _kind(have) != "number":
            raise DataError(
                f"the population table's column {c!r} is {have}, the patients table's is "
                f"{want}: their strata cannot be matched; cast one of them so that both hold "
                "the same kind of values (numbers, text or dates)"
            )
        cast = pl.col(c).cast(want, strict=False)
        casts.append(cast)
        exact.append(pl.col(c).is_null() | (cast.cast(have, strict=False) == pl.col(c)))
    if not casts:
        return pop
    # a value with no exact equal is in no stratum of the patients: left out of the counts
    # of the strata (not of the total), never merged into another (a null) stratum
    return pop.filter(pl.all_horizontal(exact).fill_null(False)).with_columns(casts)


def _check_strata(patients: pl.DataFrame, counts: pl.DataFrame, by_cols: list[str]) -> None:
    """Every stratum of the patients has at least as many people in the population table."""
    have = (
        patients.group_by(by_cols)
        .agg(pl.len().cast(pl.Int64).alias(f"{TMP}n_pat"))
        .with_columns(pl.col(c).cast(pl.Utf8) for c in by_cols)
        .join(counts, on=by_cols, how="left", nulls_equal=True)
        .with_columns(pl.col(f"{TMP}n_pop").fill_null(0))
        .filter(pl.col(f"{TMP}n_pop") < pl.col(f"{TMP}n_pat"))
    )
    if have.height == 0:
        return
    shown = [
        ", ".join(f"{c}={row[c]!r}" for c in by_cols)
        + f": {row[TMP + 'n_pat']} patient(s), {row[TMP + 'n_pop']} in the population table"
        for row in have.head(5).iter_rows(named=True)
    ]
    raise DataError(
        f"the population table has fewer people than patients in {have.height} stratum(s) "
        f"({'; '.join(shown)}{'; ...' if have.height > 5 else ''}); it must list every person, "
        f"with or without CT, under the same {by_cols} values as the patients table"
    )


def add_population(
    table: pl.DataFrame,
    population: Any,
    by_cols: list[str],
    count: str,
    *,
    patients: pl.DataFrame | None = None,
    alpha: float = 0.05,
    ci: str = "wilson",
) -> pl.DataFrame:
    """Add ``n_population``, ``share_population`` (``count / n_population``) and its CI.

    Parameters
    ----------
    table : polars.DataFrame
        A result table with the ``by`` columns as strings (``"all"`` on overall rows).
    population : int or table
        See the module docstring.
    by_cols : list of str
        The strata columns.
    count : str
        The numerator column (``n_reached``, ``n_patients`` of a band, ...).
    patients : polars.DataFrame, optional
        The patients table, to check that every patient is in the population.
    alpha, ci
        Interval of the share (see :func:`recurct.stats.proportion_ci`).

    Returns
    -------
    polars.DataFrame
        ``table`` with ``n_population``, ``share_population``, ``share_population_lo``,
        ``share_population_hi``.
    """
    total, counts = population_counts(population, by_cols, patients)
    all_rows = pl.lit(True)
    for c in by_cols:
        all_rows = all_rows & (pl.col(c) == _ALL)
    out = table.with_row_index(f"{TMP}order")
    if counts is not None:
        out = out.join(counts, on=by_cols, how="left", nulls_equal=True)
        out = out.with_columns(
            pl.when(all_rows)
            .then(pl.lit(total))
            .otherwise(pl.col(f"{TMP}n_pop"))
            .alias(f"{TMP}n_pop")
        )
    else:
        out = out.with_columns(
            pl.when(all_rows)
            .then(pl.lit(total))
            .otherwise(None)
            .cast(pl.Int64)
            .alias(f"{TMP}n_pop")
        )
    out = out.sort(f"{TMP}order").drop(f"{TMP}order")
    n = out[f"{TMP}n_pop"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    k = out[count].cast(pl.Float64).to_numpy()
    method = "wilson" if ci == "bootstrap" else ci
    ok = np.isfinite(n) & (n > 0)
    lo = np.full(n.shape, np.nan)
    hi = np.full(n.shape, np.nan)
    if ok.any():
        lo[ok], hi[ok] = proportion_ci(k[ok], n[ok], alpha, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(ok, k / n, np.nan)
    return (
        out.rename({f"{TMP}n_pop": "n_population"})
        .with_columns(
            pl.col("n_population").cast(pl.Int64),
            pl.Series("share_population", share),
            pl.Series("share_population_lo", lo),
            pl.Series("share_population_hi", hi),
        )
        .with_columns(
            pl.col("share_population", "share_population_lo", "share_population_hi").fill_nan(None)
        )
    )
