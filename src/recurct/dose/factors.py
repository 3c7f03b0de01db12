"""Conversion-factor tables (:func:`tables`, :func:`table`) and the vectorised factor lookup
(:func:`k_factors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from recurct import _checks
from recurct.dose._lookup import (
    NO_AGE,
    NO_SEX,
    OK,
    as_float_array,
    check_kv,
    lookup_error,
    lookup_with_fallback_table,
    region_codes,
    resolve_tables,
    sex_codes,
)
from recurct.dose._tables import AgeRule, as_ktable, data_names, ktable
from recurct.errors import ParameterError


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
    for name in data_names("kfactors_"):
        t = ktable(name)
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
    A table of yours (the factors are **made-up** example values, for the format only, not
    from any publication):

    >>> import polars as pl
    >>> mine = pl.DataFrame({"region": ["spine", "extremity"], "k": [0.015, 0.0008]})
    >>> table(mine)["k"].to_list()
    [0.015, 0.0008]
    """
    if kv is not None:  # NaN, inf, booleans and text are refused with a message
        kv = _checks.number(kv, "table", "kv", lo=0.0, lo_open=True, what=" kV")
    t = as_ktable(name, kv)
    check_kv(t, kv)  # a shipped table's kV is fixed: kv=80 with a 120 kV table is refused
    return t.long.clone()


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
        Age at the exam in years; needed only by age-dependent tables, and only for the
        regions whose factors depend on age (a table of yours may give spine one factor for
        every age).
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
        ``"F"``/``"M"`` per row; needed only by sex-specific tables (a ``sex`` column), and
        only for the regions whose factors differ between the sexes.
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
    t, ft = resolve_tables(table, fallback_table, kv, age_rule, adult_from)
    reg = region_codes(regions)
    age_arr = None if ages is None else as_float_array(ages, len(reg))
    sex_arr = None if sexes is None else sex_codes(sexes, len(reg))
    k, reason, _, _ = lookup_with_fallback_table(reg, age_arr, t, ft, age_rule, fallback, sex_arr)
    # ages and sexes are needed only where a region's factors depend on them
    if age_arr is None and (reason == NO_AGE).any():
        raise ParameterError(
            f"table {(t if t.age_dependent else ft).name!r} depends on age: pass ages= "  # type: ignore[union-attr]
            "(age at the exam in years)"
        )
    if sex_arr is None and (reason == NO_SEX).any():
        raise ParameterError("the table depends on sex: pass sexes= ('F' or 'M' per row)")
    if (reason != OK).any():
        raise lookup_error(reg, age_arr, reason, t, ft)
    return k


# ---------------------------------------------------------------------------------------------
# effective_dose
# ---------------------------------------------------------------------------------------------
