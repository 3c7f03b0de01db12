"""Events to exams: the one rule giving an exam its body region from its events
(:func:`exam_region`, used by the DICOM and OpenREM readers too), and the summation of an
event table's converted doses to one row per study."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from recurct.errors import ParameterError
from recurct.regions import COMPONENTS, combine_regions
from recurct.schema import BODY_REGIONS


def exam_region(
    regions: Sequence[str | None],
    dlps: Sequence[float | None] | None = None,
    localizer: Sequence[bool | None] | None = None,
) -> str | None:
    """The body region of an exam from the canonical regions of its irradiation events.

    The one rule used by :func:`recurct.io.read_rdsr` (exam table) and by
    :func:`effective_dose` at event level:

    1. Localizer events (scout, topogram) are ignored if the exam has any other event.
    2. Null regions (None or NaN) are ignored; none left: None. The ``"other"`` region
       (whole body) of a localizer counts only when nothing more specific is left (a
       topogram's "Entire body" target does not name the exam); ``"other"`` of any other
       event is a region of its own, part of no other region and combined with none, so an
       exam with a whole-body scan and a scan of a specific region is decided by rule 5.
    3. One region, or regions that are parts of one region (``abdomen`` + ``abdomen_pelvis``):
       that region (``"other"`` alone: ``"other"``).
    4. Regions whose parts make a composite exactly: the composite (chest + abdomen + pelvis
       -> ``chest_abdomen_pelvis``, head + neck -> ``head_neck``, abdomen + pelvis ->
       ``abdomen_pelvis``; neck + chest + abdomen + pelvis -> ``chest_abdomen_pelvis``, as
       the DICOM term NECKCHESTABDPELV). These are the rules by which :func:`region_of`
       combines the terms of one text.
    5. Otherwise the region with the largest summed DLP (ties: the first seen); ``"other"``
       if no event has a DLP. Regions are compared as named: a composite's DLP is not
       shared out among its parts (head 300 + head_neck 200 + chest 400 -> chest), as no
       one knows which part of it fell on which region. A whole-body scan (``"other"``) that
       wins makes the exam ``"other"``, which no conversion-factor table covers, so its dose
       is refused (or null) rather than given another region's factor.

    An exam whose events lie in several regions is given one region, whose conversion
    factor :func:`effective_dose` applies to the exam's whole DLP; converting its events
    (``effective_dose(events, level="event")``) gives each event its own region's factor.

    Parameters
    ----------
    regions : sequence of str or None
        Canonical region of each event (one of :data:`recurct.schema.BODY_REGIONS`, or None
        / NaN). Free text such as ``"Brain"`` is refused: map it first with
        :func:`normalise_region`.
    dlps : sequence of float or None, optional
        DLP of each event (mGy·cm); null counts as 0.
    localizer : sequence of bool or None, optional
        Whether each event is a localizer; null counts as False.

    Returns
    -------
    str or None

    Raises
    ------
    ParameterError
        If a region is neither canonical nor missing, or the sequences differ in length.

    Examples
    --------
    >>> exam_region(["chest", "abdomen_pelvis"])
    'chest_abdomen_pelvis'
    >>> exam_region(["head", "chest", "chest"], [300.0, 150.0, 200.0], [False, False, True])
    'head'
    >>> exam_region(["other", "head"], [708.2, 4.81])  # a whole-body scan and bolus tracking
    'other'
    """
    for name, arg in (("regions", regions), ("dlps", dlps), ("localizer", localizer)):
        if (arg is not None or name == "regions") and (
            isinstance(arg, str | bytes) or not isinstance(arg, Iterable)
        ):
            raise ParameterError(
                f"exam_region: {name} must be a sequence (one value per event), got {arg!r:.60}"
            )
    regions = list(regions)
    n = len(regions)
    dl = list(dlps) if dlps is not None else [None] * n
    lo = list(localizer) if localizer is not None else [False] * n
    if len(dl) != n or len(lo) != n:
        raise ParameterError(
            f"exam_region: regions, dlps and localizer need the same length, got "
            f"{n}, {len(dl)}, {len(lo)}"
        )
    regions = [None if _missing(r) else r for r in regions]
    odd = [r for r in regions if r is not None and not (isinstance(r, str) and r in BODY_REGIONS)]
    if odd:
        raise ParameterError(
            f"exam_region: {odd[0]!r:.60} is not a canonical body region (one of "
            f"{', '.join(BODY_REGIONS)}, or None); map free text with normalise_region first"
        )
    idx = [i for i in range(n) if not lo[i]] or list(range(n))  # rule 1
    idx = [i for i in idx if regions[i] is not None]
    if not idx:
        return None
    # rule 2: "other" of a localizer counts only where nothing more specific is left
    specific = [i for i in idx if regions[i] != "other" or not lo[i]]
    if not specific:
        return "other"
    named = {str(regions[i]) for i in specific}
    if named == {"other"}:
        return "other"
    if "other" not in named:  # "other" combines with no region
        whole = combine_regions(named)  # rules 3 and 4
        if whole is not None:
            return whole
    parts: dict[str, list[float]] = {}
    seen_dlp = False
    for i in specific:
        d = dl[i]
        ok = d is not None and d == d  # not null, not NaN
        seen_dlp = seen_dlp or ok
        parts.setdefault(str(regions[i]), []).append(float(d) if ok else 0.0)  # type: ignore[arg-type]
    if not seen_dlp:
        return "other"
    # each region's DLP correctly rounded (math.fsum), so the same whatever the events' order
    totals = {r: math.fsum(v) for r, v in parts.items()}
    return max(totals, key=lambda r: totals[r])  # first seen wins ties (dict order)


def _missing(value: object) -> bool:
    """None, a float NaN or pandas' NA."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return type(value).__name__ == "NAType"


EVENTS_LOST = "events_lost"
"""The event-table column (Boolean) that marks every event of an exam that lost irradiation
events, as :func:`recurct.io.read_rdsr` and :func:`recurct.io.openrem.read_openrem_ct`
write it: the events present are not the whole exam, so their sum is null, never partial
(:func:`sum_events`)."""

_SKIP = "__recurct_no_dlp_needed"
_ROW = "__recurct_event_row"
_DLPS, _NO_DLP = "__recurct_dlps", "__recurct_no_dlp"
_DOSES, _DOSE_KNOWN = "__recurct_doses", "__recurct_dose_known"


def _float_type(dtype: pl.DataType) -> pl.DataType:
    """The type of a sum of a column of ``dtype``: its own (``Float32``, ``Float64``), else
    ``Float64``."""
    return dtype if dtype in (pl.Float32, pl.Float64) else pl.Float64


# --------------------------------------------------------------- the main region, vectorised
# exam_region's rules applied to every study at once (main_regions): each region as a code
# (its index in BODY_REGIONS, -1 for a null or unknown region), each region's parts as a bit
# mask, and for each union of parts the code of the region combine_regions makes of them
_REGIONS: tuple[str, ...] = tuple(BODY_REGIONS)
_OTHER = _REGIONS.index("other")
_PARTS: tuple[str, ...] = tuple(sorted({p for r in _REGIONS for p in COMPONENTS.get(r, {r})}))
#: The bit mask of each region's parts (a composite: its parts'; ``"other"``: a part of its
#: own, which combines with none).
_PART_MASK = np.array(
    [sum(1 << _PARTS.index(p) for p in COMPONENTS.get(r, {r})) for r in _REGIONS],
    dtype=np.int64,
)


def _combined(mask: int) -> int:
    """The code of the region the parts of ``mask`` make (:func:`combine_regions`; ``"other"``
    alone makes ``"other"``, with another part none), -1 if none."""
    parts = [p for i, p in enumerate(_PARTS) if mask >> i & 1]
    if "other" in parts:
        return _OTHER if parts == ["other"] else -1
    region = combine_regions(parts)
    return -1 if region is None else _REGIONS.index(region)


#: :func:`combine_regions` of every union of parts, by its mask.
_COMBINED = np.array([_combined(m) for m in range(1 << len(_PARTS))], dtype=np.int64)


def main_regions(df: pl.DataFrame, region_column: str) -> pl.DataFrame:
    """``study_uid`` -> ``__main``: :func:`exam_region` of each study's events (a region
    that is not canonical, a problem of its own event, counts as null), one row per study in
    the order the studies first appear (a null ``study_uid`` is a study of its own).

    The rules of :func:`exam_region`, applied to every study at once (no Python loop over
    the studies). Rule 5's DLP sums are recurct's (:func:`recurct.kernels.segment_sums`),
    which are ``math.fsum``'s, as :func:`exam_region` sums them, wherever that is proven
    (:func:`recurct.kernels._neumaier_add`: values >= 0 and ``n * S <= 2^53 * m``); a study
    with a sum outside that range (a negative or infinite DLP, or DLPs 10^16 apart) is
    given :func:`exam_region` itself, so the result is always the same as its.
    """
    region = pl.col(region_column)
    if df.schema[region_column].is_float():
        region = region.fill_nan(None)
    region = region.cast(pl.Utf8, strict=False)
    region = pl.when(region.is_in(list(_REGIONS))).then(region)
    loc = (
        pl.col("localizer").cast(pl.Boolean).fill_null(False)
        if "localizer" in df.columns
        else pl.lit(False)
    )
    ev = df.with_row_index(_ROW).select(
        pl.col(_ROW).min().over("study_uid").alias("first"),  # the study's first event
        region.cast(pl.Enum(_REGIONS)).to_physical().cast(pl.Int64).fill_null(-1).alias("r"),
        pl.col("dlp_mgycm").cast(pl.Float64).fill_null(float("nan")).alias("d"),
        loc.alias("l"),
    )
    first = ev["first"].to_numpy()
    new = first == np.arange(first.size)
    firsts = np.flatnonzero(new)  # each study's first event
    k = firsts.size
    study = (np.cumsum(new) - 1)[first]  # the studies' codes, in their order of appearance
    reg = ev["r"].to_numpy()
    dlp = ev["d"].to_numpy()
    localizer = ev["l"].to_numpy().astype(bool, copy=False)
    # rule 1: a study's localizers are ignored if it has another event; rule 2: null regions
    # are ignored (none left: None), a localizer's "other" counts where nothing more
    # specific is left, another event's "other" is a region (a part of its own)
    has_scan = np.bincount(study[~localizer], minlength=k) > 0  # an event not a localizer
    used = (reg >= 0) & (~localizer | ~has_scan[study])
    main = np.full(k, -1, dtype=np.int64)
    main[np.bincount(study[used], minlength=k) > 0] = _OTHER
    specific = used & ~(localizer & (reg == _OTHER))
    st, rg, d = study[specific], reg[specific], dlp[specific]
    # rules 3 and 4: the region the parts of the specific regions make (combine_regions;
    # "other" combines with none)
    parts = np.zeros(k, dtype=np.int64)
    np.bitwise_or.at(parts, st, _PART_MASK[rg])
    whole = _COMBINED[parts]
    has_specific = np.bincount(st, minlength=k) > 0
    main = np.where(has_specific & (whole >= 0), whole, main)
    # rule 5: the largest summed DLP (ties: the first seen); "other" if no event has a DLP
    dlp_known = ~np.isnan(d)
    rest = has_specific & (whole < 0)
    seen_dlp = np.bincount(st[dlp_known], minlength=k) > 0
    main[rest & ~seen_dlp] = _OTHER
    main = _largest_dlp(main, rest & seen_dlp, st, rg, np.where(dlp_known, d, 0.0))
    exact = main >= -1  # the studies left to exam_region are marked -2 (see _largest_dlp)
    if not exact.all():
        main = _exam_regions(main, ~exact, study, reg, dlp, localizer)
    names = pl.Series("__main", [*_REGIONS, None], dtype=pl.Utf8)  # -1: the last, None
    return pl.DataFrame(
        [
            df.get_column("study_uid").gather(firsts),
            names.gather(np.where(main < 0, len(_REGIONS), main)),
        ]
    )


def _largest_dlp(
    main: np.ndarray,
    rest: np.ndarray,
    st: np.ndarray,
    rg: np.ndarray,
    dlp: np.ndarray,
) -> np.ndarray:
    """``main`` with the region of the largest summed DLP (ties: the first seen) of each
    study of ``rest`` (``exam_region``'s rule 5); ``st``, ``rg``, ``dlp``: the study, region
    and DLP (null: 0) of each specific event, in the order of the events. A study with a
    sum that may not be ``math.fsum``'s is marked -2, for :func:`exam_region`."""
    from recurct.kernels import segment_sums  # (numba's kernels: not at import)

    main = main.copy()
    pick = rest[st]
    if not pick.any():
        return main
    key = st[pick] * len(_REGIONS) + rg[pick]  # (study, region)
    order = np.argsort(key, kind="stable")  # each pair's events in their order
    key, values = key[order], dlp[pick][order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    bounds = np.r_[starts, key.size]
    totals = segment_sums(bounds, values)
    # math.fsum's sum where proven (see recurct.kernels._neumaier_add): values >= 0 and
    # n * S <= 2^53 * m (m the smallest value above 0), here with a factor 2 to spare for
    # the rounding of this test (a bound that overflows is above every finite sum); every
    # other study is exam_region's
    smallest = np.minimum.reduceat(np.where(values > 0, values, np.inf), starts)
    with np.errstate(over="ignore"):
        bound = (2.0**52 / np.diff(bounds)) * smallest
    exact = (np.minimum.reduceat(values, starts) >= 0) & np.isfinite(totals)
    exact &= (totals == 0) | (totals <= bound)
    pair_study, pair_region = key[starts] // len(_REGIONS), key[starts] % len(_REGIONS)
    seen = order[starts]  # each pair's first event (the pairs of a study: side by side)
    study_starts = np.flatnonzero(np.r_[True, pair_study[1:] != pair_study[:-1]])
    n_pairs = np.diff(np.r_[study_starts, pair_study.size])
    largest = totals == np.repeat(np.maximum.reduceat(totals, study_starts), n_pairs)
    first_seen = np.minimum.reduceat(np.where(largest, seen, key.size), study_starts)
    won = largest & (seen == np.repeat(first_seen, n_pairs))  # one pair per study
    main[pair_study[won]] = pair_region[won]
    main[pair_study[~exact]] = -2
    return main


def _exam_regions(
    main: np.ndarray,
    todo: np.ndarray,
    study: np.ndarray,
    reg: np.ndarray,
    dlp: np.ndarray,
    localizer: np.ndarray,
) -> np.ndarray:
    """``main`` with :func:`exam_region` of the events of each study of ``todo``."""
    main = main.copy()
    rows = np.flatnonzero(todo[study])
    rows = rows[np.argsort(study[rows], kind="stable")]  # by study, in the events' order
    cuts = np.flatnonzero(np.r_[True, study[rows][1:] != study[rows][:-1]])
    for part in np.split(rows, cuts[1:]):
        region = exam_region(
            [None if r < 0 else _REGIONS[r] for r in reg[part]],
            dlp[part].tolist(),
            localizer[part].tolist(),
        )
        main[study[part[0]]] = -1 if region is None else _REGIONS.index(region)
    return main


def main_col(df: pl.DataFrame, main: pl.DataFrame) -> pl.Series:
    """The study's main region (``main`` from :func:`main_regions`) on every row of ``df``."""
    return df.select("study_uid").join(main, on="study_uid", how="left", maintain_order="left")[
        "__main"
    ]


def sum_events(
    df: pl.DataFrame, region_column: str, no_dlp_needed: np.ndarray | None = None
) -> pl.DataFrame:
    """Events -> one row per study (see :func:`effective_dose`).

    No partial sums: a study's ``dlp_mgycm`` is null if an event's DLP is null (except the
    events of ``no_dlp_needed``, localizers that contribute 0 by definition), its
    ``effective_dose_msv`` null if an event's dose is null, and its ``dose_method`` null
    where its dose is; where the table has an :data:`EVENTS_LOST` column (Boolean, null read
    as false), a study with an event marked true lost events, so its ``dlp_mgycm``,
    ``effective_dose_msv``, ``dose_method`` and ``ctdivol_mgy`` are null too (the main scan
    cannot be known, as the readers leave the exam's), and its ``events_lost`` is true
    (whether any of its events is marked). An event whose non-null ``event_uid`` came
    earlier in its study is counted once; events with a null ``event_uid`` are all counted.
    The sums are recurct's
    (:func:`recurct._periods.list_sums`, as a patient's CED is summed): the correctly
    rounded sum of the events' values (``math.fsum``'s), whatever their order.
    """
    from recurct._periods import list_sums  # (numba's kernels: not at import)

    skip = np.zeros(df.height, dtype=bool) if no_dlp_needed is None else no_dlp_needed
    df = df.with_columns(pl.Series(_SKIP, skip, dtype=pl.Boolean))
    if "event_uid" in df.columns:  # a repeated event counts once; a null event_uid is no repeat
        key = pl.struct("study_uid", "event_uid")
        df = df.filter(pl.col("event_uid").is_null() | key.is_first_distinct())
    main_region = main_regions(df, region_column).rename({"__main": "__region"})
    special = {"study_uid", "event_uid", "dlp_mgycm", "effective_dose_msv", "dose_method"}
    special |= {"ctdivol_mgy", region_column, "localizer", EVENTS_LOST, _SKIP}
    # an exam that lost events (the readers' events_lost): the events present are not the
    # whole exam, so its sums are null, never partial
    lost = (
        pl.col(EVENTS_LOST).cast(pl.Boolean, strict=False).fill_null(False).any()
        if EVENTS_LOST in df.columns
        else pl.lit(False)
    )
    dose_known = (pl.col("effective_dose_msv").null_count() == 0) & ~lost
    # the sums by recurct's summation rule (list_sums, below): each study's values as a list
    # (nulls left out: a null that is not skipped makes the sum null, below), and whether
    # the sum is null
    aggs = [
        pl.col("dlp_mgycm").drop_nulls().alias(_DLPS),
        ((pl.col("dlp_mgycm").is_null() & ~pl.col(_SKIP)).any() | lost).alias(_NO_DLP),
        pl.col("effective_dose_msv").drop_nulls().alias(_DOSES),
        dose_known.alias(_DOSE_KNOWN),
        pl.when(dose_known)
        .then(pl.col("dose_method").drop_nulls().unique(maintain_order=True).str.join("; "))
        .otherwise(None)
        .alias("dose_method"),
        pl.len().cast(pl.Int64).alias("n_events"),
    ]
    if "ctdivol_mgy" in df.columns:  # unknown where events were lost, as the readers say
        aggs.append(pl.when(~lost).then(pl.col("ctdivol_mgy").max()).alias("ctdivol_mgy"))
    if EVENTS_LOST in df.columns:
        aggs.append(lost.alias(EVENTS_LOST))
    aggs += [pl.col(c).drop_nulls().first() for c in df.columns if c not in special]
    out = df.group_by("study_uid", maintain_order=True).agg(aggs)
    # the correctly rounded sums (math.fsum's), the same in any order of the events, as a
    # patient's CED is summed; the DLP keeps its type (a Float32 DLP sums to a Float32)
    out = out.with_columns(
        pl.when(pl.col(_NO_DLP))
        .then(None)
        .otherwise(list_sums(out.get_column(_DLPS)))
        .cast(_float_type(df.schema["dlp_mgycm"]))
        .alias("dlp_mgycm"),
        pl.when(pl.col(_DOSE_KNOWN))
        .then(list_sums(out.get_column(_DOSES)))
        .otherwise(None)
        .cast(_float_type(df.schema["effective_dose_msv"]))
        .alias("effective_dose_msv"),
    ).drop(_DLPS, _NO_DLP, _DOSES, _DOSE_KNOWN)
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
