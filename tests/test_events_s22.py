"""A study's main region without a Python loop over the studies (review s22):
``main_regions`` (and so ``sum_events``, ``effective_dose`` at event level) called
:func:`recurct.dose.exam_region` once per study, 3-4 s per 10^6 events in 2x10^5 studies.
It now applies exam_region's rules to every study at once; the loop it replaced is kept
here (:func:`reference_main_regions`) and the two are compared on random tables and on the
edge cases (ties between regions, nulls, unknown regions, localizers, studies of one
event, DLPs outside the range where recurct's sums are proven to be math.fsum's).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recurct.dose._events as events
from recurct.dose._events import exam_region, main_regions, sum_events
from recurct.schema import BODY_REGIONS


def reference_main_regions(df: pl.DataFrame, region_column: str) -> pl.DataFrame:
    """The loop of recurct 0.x (before s22): exam_region of each study's events, in turn
    (so it follows exam_region's rules as they now are)."""
    region = pl.col(region_column)
    if df.schema[region_column].is_float():
        region = region.fill_nan(None)
    region = region.cast(pl.Utf8, strict=False)
    region = pl.when(region.is_in(list(BODY_REGIONS))).then(region)
    loc = (
        pl.col("localizer").cast(pl.Boolean).fill_null(False)
        if "localizer" in df.columns
        else pl.lit(False)
    )
    g = (
        df.select("study_uid", region.alias("__r"), "dlp_mgycm", loc.alias("__l"))
        .group_by("study_uid", maintain_order=True)
        .agg(
            pl.col("__r"),
            pl.col("dlp_mgycm").alias("__d"),
            pl.col("__l"),
        )
    )
    main = [
        exam_region(r, d, lc)
        for r, d, lc in zip(g["__r"].to_list(), g["__d"].to_list(), g["__l"].to_list())
    ]
    return pl.DataFrame({"study_uid": g["study_uid"], "__main": pl.Series(main, dtype=pl.Utf8)})


def _outcome(fn, df: pl.DataFrame) -> object:
    """The frame ``fn`` gives, or the kind of error it raises (math.fsum's, on DLPs that
    overflow or add +inf to -inf)."""
    try:
        return fn(df, "region").to_dicts()
    except (ValueError, OverflowError) as exc:
        return type(exc)


def _same(df: pl.DataFrame) -> None:
    got, want = _outcome(main_regions, df), _outcome(reference_main_regions, df)
    assert got == want, (df, got, want)


def _table(
    studies: list[object],
    regions: list[str | None],
    dlps: list[float | None] | None = None,
    localizer: list[bool | None] | None = None,
) -> pl.DataFrame:
    cols: dict[str, object] = {
        "study_uid": studies,
        "region": pl.Series(regions, dtype=pl.Utf8),
        "dlp_mgycm": pl.Series(dlps or [None] * len(studies), dtype=pl.Float64),
    }
    if localizer is not None:
        cols["localizer"] = pl.Series(localizer, dtype=pl.Boolean)
    return pl.DataFrame(cols)


# -------------------------------------------------------------------- random tables

REGIONS = [*BODY_REGIONS, None, "brain", "CHEST", ""]  # (unknown regions count as null)
# DLPs that tie (0.1 + 0.3 + 99.6 sums to 100.0), nulls, NaN, and any float, which
# reaches the studies left to exam_region (negative, infinite, 10^16 apart)
DLPS = st.one_of(
    st.sampled_from([None, math.nan, 0.0, 0.1, 0.3, 1.0, 2.0, 99.6, 100.0, 200.0]),
    st.floats(allow_nan=False, width=64),
    st.floats(min_value=0.0, max_value=1e4),
)
EVENT = st.tuples(
    st.sampled_from(["s1", "s2", "s3", "s4", None]),
    st.sampled_from(REGIONS),
    DLPS,
    st.sampled_from([False, False, True, None]),
)
DTYPES = st.tuples(
    st.sampled_from([pl.Utf8, pl.Categorical, "enum"]),
    st.sampled_from([pl.Float64, pl.Float32]),
    st.booleans(),  # a localizer column
    st.booleans(),  # integer study ids
)


def _frame(rows: list[tuple], dtypes: tuple) -> pl.DataFrame:
    region_type, dlp_type, with_localizer, int_ids = dtypes
    studies = [s if s is None or not int_ids else int(s[1:]) for s, *_ in rows]
    df = _table(
        studies,
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows] if with_localizer else None,
    )
    if region_type == "enum":
        labels = sorted({r for r in df["region"].to_list() if r is not None})
        region = df["region"].cast(pl.Enum(labels))
    else:
        region = df["region"].cast(region_type)
    with warnings.catch_warnings():  # (a Float32 overflows to inf, as it may)
        warnings.simplefilter("ignore")
        return df.with_columns(region, pl.col("dlp_mgycm").cast(dlp_type))


@given(st.lists(EVENT, max_size=30), DTYPES)
@settings(max_examples=300, deadline=None)
def test_main_regions_is_the_loop_on_random_tables(rows: list[tuple], dtypes: tuple) -> None:
    _same(_frame(rows, dtypes))


@given(st.lists(EVENT, min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_sum_events_gives_each_study_the_loops_region(rows: list[tuple]) -> None:
    rows = [("s0" if r[0] is None else r[0], *r[1:]) for r in rows]  # (effective_dose's)
    df = _frame(rows, (pl.Utf8, pl.Float64, True, False)).with_columns(
        pl.col("dlp_mgycm").abs().clip(upper_bound=1e6).fill_nan(None),
        pl.lit(1.0).alias("effective_dose_msv"),
        pl.lit("m").alias("dose_method"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sum_events(df, "region")
    want = reference_main_regions(df, "region")
    got = out.select("study_uid", pl.col("region").alias("__main"))
    assert got.to_dicts() == want.to_dicts()


# -------------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    ("regions", "dlps", "localizer", "expected"),
    [
        # ties between regions: the first seen wins, the sums correctly rounded
        (["chest", "chest", "chest", "abdomen"], [0.1, 0.3, 99.6, 100.0], None, "chest"),
        (["abdomen", "chest", "chest", "chest"], [100.0, 0.1, 0.3, 99.6], None, "abdomen"),
        (["head", "chest"], [5.0, 5.0], None, "head"),
        (["chest", "head", "head"], [2.0, 1.0, 1.0], None, "chest"),
        (["chest", "head"], [1.0, 2.0], None, "head"),
        # nulls: a null DLP counts 0, no DLP at all is "other"; null regions are ignored
        (["chest", "head"], [None, 1.0], None, "head"),
        (["chest", "head"], [None, math.nan], None, "other"),
        ([None, None], [1.0, 2.0], None, None),
        ([None, "chest"], [9.0, 1.0], None, "chest"),
        # unknown regions count as null; "other" (whole body) of a scan is a region of its
        # own that combines with none (rule 5 decides: review s22, it was ignored beside a
        # specific region, which gave the whole DLP that region's factor); "other" of a
        # localizer only where nothing more specific is left
        (["brain", "other"], [1.0, 1.0], None, "other"),
        (["other", "spine"], [9.0, 1.0], None, "other"),
        (["other", "spine"], [1.0, 9.0], None, "spine"),
        (["other", "head"], [708.2, 4.81], None, "other"),
        (["other", "head"], [None, None], None, "other"),
        (["other", "head", "neck"], [1.0, 1.0, 1.0], None, "other"),  # (regions as named)
        (["other", "head", "neck"], [0.5, 1.0, 1.0], None, "head"),
        (["other", "chest", "abdomen", "pelvis"], [5.0] * 4, None, "other"),
        (["other", "head"], [708.2, 4.81], [True, False], "head"),
        (["other", "head"], [708.2, 4.81], [True, True], "head"),
        (["other", "other"], [708.2, 4.81], [True, True], "other"),
        (["other", "head"], [708.2, None], [False, None], "other"),
        # composites: parts make one region, whatever the DLPs
        (["head", "neck"], [1.0, 9.0], None, "head_neck"),
        (["abdomen_pelvis", "abdomen"], [None, None], None, "abdomen_pelvis"),
        (["neck", "chest", "abdomen", "pelvis"], [1.0] * 4, None, "chest_abdomen_pelvis"),
        (["chest", "abdomen_pelvis"], [1.0, 2.0], None, "chest_abdomen_pelvis"),
        (["chest", "neck"], [3.0, 2.0], None, "chest"),
        # localizers: ignored beside another event, used where there is none other
        (["head", "chest"], [900.0, 1.0], [True, False], "chest"),
        (["head", "chest"], [900.0, 1.0], [True, True], "head"),
        (["head", None], [900.0, 1.0], [True, False], None),
        (["head", "chest"], [900.0, 1.0], [None, False], "head"),
        # studies of one event
        (["pelvis"], [None], None, "pelvis"),
        (["other"], [3.0], None, "other"),
        ([None], [3.0], None, None),
        # outside the proven range: exam_region itself (negative, infinite, far apart)
        (["chest", "head", "head"], [1.0, 2.0, -1.5], None, "chest"),
        (["chest", "head"], [math.inf, 1e308], None, "chest"),
        (["chest", "head", "head"], [1.0, 1.0, 1e-300], None, "chest"),  # 1.0 each: a tie
    ],
)
def test_edge_cases(
    regions: list[str | None],
    dlps: list[float | None],
    localizer: list[bool | None] | None,
    expected: str | None,
) -> None:
    df = _table(["s"] * len(regions), regions, dlps, localizer)
    assert main_regions(df, "region")["__main"].to_list() == [expected]
    canonical = [r if r in BODY_REGIONS else None for r in regions]
    assert exam_region(canonical, dlps, localizer) == expected  # the rule itself
    _same(df)


def test_studies_in_order_of_appearance_and_null_study_of_its_own() -> None:
    df = _table(
        ["b", None, "a", "b", None, "c"],
        ["head", "chest", "pelvis", "neck", "chest", None],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    )
    out = main_regions(df, "region")
    assert out.to_dicts() == [
        {"study_uid": "b", "__main": "head_neck"},
        {"study_uid": None, "__main": "chest"},
        {"study_uid": "a", "__main": "pelvis"},
        {"study_uid": "c", "__main": None},
    ]
    _same(df)


def test_region_column_of_other_types() -> None:
    # a float column (all null: NaN is null), an integer column (no region is canonical)
    for region in (pl.Series([math.nan, None], dtype=pl.Float64), pl.Series([1, 2])):
        df = pl.DataFrame({"study_uid": ["s", "s"], "region": region, "dlp_mgycm": [1.0, 2.0]})
        assert main_regions(df, "region")["__main"].to_list() == [None]
        _same(df)


def test_no_events_no_studies() -> None:
    df = _table([], [], [])
    out = main_regions(df, "region")
    assert out.height == 0 and out.schema == reference_main_regions(df, "region").schema


def test_overflowing_sums_fail_as_math_fsum_does() -> None:
    for dlps in ([1e308, 1e308, 1.0], [math.inf, -math.inf, 1.0]):
        df = _table(["s"] * 3, ["chest", "chest", "head"], dlps)
        _same(df)
        with pytest.raises((OverflowError, ValueError)):
            main_regions(df, "region")


def test_no_loop_over_the_studies(monkeypatch: pytest.MonkeyPatch) -> None:
    """exam_region is called only for a study outside the proven range (none here)."""
    rng = np.random.default_rng(22)
    n = 5_000
    df = pl.DataFrame(
        {
            "study_uid": rng.integers(0, 1_000, n),
            "region": pl.Series(
                np.array(BODY_REGIONS, dtype=object)[rng.integers(0, len(BODY_REGIONS), n)],
                dtype=pl.Utf8,
            ),
            "dlp_mgycm": rng.gamma(2.0, 150.0, n).round(1),
            "localizer": rng.random(n) < 0.1,
        }
    )
    want = reference_main_regions(df, "region")
    calls: list[int] = []

    def counted(*args: object) -> str | None:
        calls.append(1)
        return exam_region(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(events, "exam_region", counted)
    assert main_regions(df, "region").equals(want)
    assert calls == []
    # a study with a negative DLP is exam_region's: called for that study only
    extra = {"study_uid": [-1, -1], "region": ["chest", "head"], "dlp_mgycm": [-1.0, 2.0]}
    neg = pl.concat(
        [df, pl.DataFrame(extra | {"localizer": [False, False]})], how="vertical_relaxed"
    )
    monkeypatch.setattr(events, "exam_region", exam_region)
    want = reference_main_regions(neg, "region")
    monkeypatch.setattr(events, "exam_region", counted)
    assert main_regions(neg, "region").equals(want)
    assert len(calls) == 1
