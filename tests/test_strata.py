"""Stratified statistics against the same statistic of each stratum alone.

Every function of :mod:`recurct.stats` that takes ``by`` must give, for each stratum, the
rows it gives for that stratum's patients alone (``by=None``), labelled with the stratum's
values, the whole table's rows first (labelled ``"all"``), strata in the one order of
:func:`recurct.stats._common.stratum_keys`. The reference here filters each stratum with
polars and calls the function on it: no code of the stratification is shared.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from recurct import stats
from recurct.stats._common import stratum_keys, stratum_rows

#: the end of observation of every stratum (by default it is the whole table's last exam, so
#: a stratum alone would end earlier)
END = date(2027, 1, 1)

STRATIFIED: dict[str, Callable[..., pl.DataFrame]] = {
    "dose_bands": lambda df, by: stats.dose_bands(df, by=by),
    "dose_bands_window": lambda df, by: stats.dose_bands(
        df, edges=(0, 20, 100, float("inf")), by=by, column="max_ced_1826", labels="interval"
    ),
    "exams_at_least": lambda df, by: stats.exams_per_patient(df, by=by).at_least,
    "exams_distribution": lambda df, by: stats.exams_per_patient(df, by=by).distribution,
    "incidence_rate": lambda df, by: stats.incidence_rate(df, 50, by=by, horizons=(1, 3), end=END),
    "incidence_rate_window": lambda df, by: stats.incidence_rate(
        df, 50, by=by, window_days=1826, entry=date(2016, 6, 1), end=END
    ),
    "standardise": lambda df, by: stats.standardise(df, 50, by=by, ci="normal"),
    "time_to_threshold": lambda df, by: stats.time_to_threshold(df, 50, by=by, end=END).curve,
    "time_to_threshold_at": lambda df, by: stats.time_to_threshold(df, 50, by=by, end=END).at(
        [0.5, 2]
    ),
    "time_to_threshold_entry": lambda df, by: (
        stats.time_to_threshold(df, 50, by=by, end=END, entry=date(2016, 6, 1), ci="plain").curve
    ),
    "cumulative_incidence_entry": lambda df, by: (
        stats.cumulative_incidence(df, 50, by=by, end=END, entry=date(2016, 6, 1)).curve
    ),
    "cumulative_incidence": lambda df, by: stats.cumulative_incidence(df, 50, by=by, end=END).curve,
    "cumulative_incidence_death": lambda df, by: stats.cumulative_incidence(
        df, 50, by=by, death="death_date", end=END
    ).at([1, 4]),
}

EXAM_STRATIFIED: dict[str, Callable[..., pl.DataFrame]] = {
    "dose_share": lambda ex, by: stats.dose_share(ex, by=by),
    "single_exam_share": lambda ex, by: stats.single_exam_share(ex, 20, by=by),
}


def _patients(rng: np.random.Generator, n: int, n_sites: int) -> pl.DataFrame:
    """A patients table of ``n`` patients: CED, counts, dates, ages, a death date for some,
    and strata columns: ``site`` (integers, some null), ``sex`` (strings, some null),
    ``age_group`` (an ``Enum`` whose categories are out of text order, one unused)."""
    n_exams = rng.geometric(0.4, n)
    ced = rng.lognormal(2.5, 1.2, n) * n_exams / 2
    first = date(2015, 1, 1)
    start = rng.integers(0, 2000, n)
    follow = np.where(n_exams > 1, rng.integers(0, 2500, n), 0)
    reached = ced >= 50
    crossing = np.where(reached, (follow * rng.uniform(0, 1, n)).astype(np.int64), 0)
    days = [first + timedelta(days=int(s)) for s in start]
    death = [
        d + timedelta(days=int(f) + 30) if rng.uniform() < 0.1 else None
        for d, f in zip(days, follow)
    ]
    site = rng.integers(0, n_sites, n).astype(object)
    site[rng.uniform(size=n) < 0.05] = None
    sex = rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.48, 0.48, 0.04])
    band = rng.choice(["young", "old", "middle"], n)
    return (
        pl.DataFrame(
            {
                "patient_id": np.arange(n),
                "n_exams": n_exams,
                "first_exam": days,
                "last_exam": [d + timedelta(days=int(f)) for d, f in zip(days, follow)],
                "followup_days": follow,
                "ced_msv": ced,
                "age_first_exam": rng.uniform(0, 95, n),
                "reached_50": reached,
                "days_to_50": pl.Series(np.where(reached, crossing, 0)).cast(pl.Int64),
                "max_ced_1826": ced * rng.uniform(0.5, 1, n),
                "death_date": death,
                "site": pl.Series(site.tolist(), dtype=pl.Int64),
                "sex": sex.tolist(),
                "age_group": pl.Series(band).cast(pl.Enum(["old", "young", "unused", "middle"])),
            }
        )
        .with_columns(
            pl.when(pl.col("reached_50")).then(pl.col("days_to_50")).alias("days_to_50"),
            pl.when(pl.col("reached_50"))
            .then(pl.col("first_exam") + pl.duration(days=pl.col("days_to_50")))
            .alias("date_reached_50"),
            pl.when(pl.col("reached_50"))
            .then(
                pl.col("ced_msv") > 50 * pl.lit(1.0)  # reached within 5 years: some
            )
            .otherwise(False)
            .alias("reached_50_in_1826"),
        )
        .with_columns(
            pl.when(pl.col("reached_50_in_1826"))
            .then(pl.col("date_reached_50"))
            .alias("date_reached_50_in_1826")
        )
    )


def _exams(rng: np.random.Generator, n: int, n_sites: int) -> pl.DataFrame:
    """An exam table with strata columns as :func:`_patients`'s, and a body region."""
    site = rng.integers(0, n_sites, n).astype(object)
    site[rng.uniform(size=n) < 0.05] = None
    return pl.DataFrame(
        {
            "patient_id": rng.integers(0, n // 3 + 1, n),
            "effective_dose_msv": rng.lognormal(1.5, 1, n),
            "body_region": rng.choice(np.array(["head", "chest", "abdomen", None], object), n),
            "site": pl.Series(site.tolist(), dtype=pl.Int64),
            "sex": rng.choice(np.array(["F", "M", None], dtype=object), n).tolist(),
        }
    )


def _stratum_filter(by: list[str], key: tuple) -> pl.Expr:
    cond = pl.lit(True)
    for c, v in zip(by, key):
        cond = cond & (pl.col(c).is_null() if v is None else pl.col(c) == v)
    return cond


def _each_alone(f: Callable[..., pl.DataFrame], df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The reference: ``f`` on the whole table, then on each stratum's rows alone."""
    keys = stratum_keys(df, by)
    blocks = [f(df, None).with_columns(pl.lit("all", pl.Utf8).alias(c) for c in by)]
    for key in keys.iter_rows():
        labels = [None if v is None else str(v) for v in key]
        part = df.filter(_stratum_filter(by, key))
        blocks.append(
            f(part, None).with_columns(pl.lit(v, pl.Utf8).alias(c) for c, v in zip(by, labels))
        )
    out = pl.concat(blocks, how="vertical_relaxed")
    return out.select(*by, pl.exclude(by))


def _check(f: Callable[..., pl.DataFrame], df: pl.DataFrame, by: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = f(df, by)
        want = _each_alone(f, df, by)
    assert_frame_equal(got, want, check_dtypes=False, rel_tol=1e-12, abs_tol=1e-15)


BYS = [["site"], ["sex"], ["age_group"], ["age_group", "sex"], ["sex", "site"]]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(STRATIFIED))
def test_stratified_patients_statistics_equal_each_stratum_alone(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = _patients(rng, 1_500, 12)
    for by in BYS:
        _check(STRATIFIED[name], df, by)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(EXAM_STRATIFIED))
def test_stratified_exam_statistics_equal_each_stratum_alone(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ex = _exams(rng, 3_000, 12)
    for by in (["site"], ["sex"], ["sex", "site"]):
        _check(EXAM_STRATIFIED[name], ex, by)


@pytest.mark.parametrize("name", ["dose_bands", "exams_at_least", "incidence_rate"])
def test_many_small_strata(name: str) -> None:
    """Hundreds of strata, most of one or two patients (a stratum of one patient, one
    without an event)."""
    rng = np.random.default_rng(7)
    df = _patients(rng, 900, 500)
    _check(STRATIFIED[name], df, ["site"])


@pytest.mark.parametrize("name", sorted(STRATIFIED))
@pytest.mark.parametrize("by", [True, 3, ["site", 1]])
def test_a_by_that_is_not_column_names_is_refused_clearly(name: str, by: object) -> None:
    df = _patients(np.random.default_rng(3), 50, 3)
    with pytest.raises(ValueError, match="by: give a column name"):
        STRATIFIED[name](df, by)


def test_bad_ci_and_edges_are_refused_clearly() -> None:
    df = _patients(np.random.default_rng(3), 50, 3)
    for ci in (["wilson"], {"a": 1}, 3):
        with pytest.raises(ValueError, match="unknown CI method"):
            stats.dose_bands(df, ci=ci)  # type: ignore[arg-type]
    for edges in (True, 100, None, "0-10"):
        with pytest.raises(ValueError, match="band edges: give a sequence"):
            stats.dose_bands(df, edges=edges)  # type: ignore[arg-type]
    # a by column named as an output column would be overwritten or doubled: refused
    clashes = {
        "band": lambda d: stats.dose_bands(d, by="band"),
        "n_events": lambda d: stats.incidence_rate(d, 50, by="n_events", horizons=1),
        "incidence_1y": lambda d: stats.incidence_rate(d, 50, by="incidence_1y", horizons=1),
        "se": lambda d: stats.time_to_threshold(d, 50, by="se"),
        "prob_died": lambda d: stats.cumulative_incidence(d, 50, by="prob_died"),
        "std_share": lambda d: stats.standardise(d, 50, by="std_share"),
        "n_total": lambda d: stats.exams_per_patient(d, by="n_total"),
        "share_lo": lambda d: stats.magnitude(d, 50, by="share_lo"),
    }
    for name, call in clashes.items():
        with pytest.raises(ValueError, match="name of an output column"):
            call(df.rename({"sex": name}))


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=1, max_size=60),
    st.lists(st.sampled_from(["b", "a", None]), min_size=60, max_size=60),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_stratum_rows_against_a_loop(site: list, sex: list, enum: bool) -> None:
    """Strata in order of first appearance (an Enum's own order first), null keys last; each
    row's code; the rows of each stratum in input order."""
    df = pl.DataFrame({"site": pl.Series(site, dtype=pl.Int64), "sex": sex[: len(site)]})
    if enum:
        df = df.with_columns(pl.col("sex").cast(pl.Enum(["b", "a"])))
    groups = stratum_rows(df, ["site", "sex"])
    assert groups is not None
    keys: list[tuple] = []
    for row in zip(site, sex[: len(site)]):
        if row not in keys:
            keys.append(row)
    rank = {"b": 0, "a": 1}
    first = {k: i for i, k in enumerate(keys)}  # order of first appearance

    def order(k: tuple) -> tuple:
        return (k[0] is None, k[1] is None, rank.get(k[1], 0) if enum else 0, first[k])

    keys.sort(key=order)
    want_labels = [(None if s is None else str(s), x) for s, x in keys]
    assert list(groups.labels.iter_rows()) == want_labels
    rows = list(zip(site, sex[: len(site)]))
    assert groups.codes.tolist() == [keys.index(r) for r in rows]
    for k, (lo, hi) in enumerate(itertools.pairwise(groups.bounds)):
        assert groups.order[lo:hi].tolist() == [i for i, r in enumerate(rows) if r == keys[k]]
