"""Small correctness items of session 21.

1. One summation rule for a study's event sums: ``sum_events`` (``effective_dose`` at event
   level) and ``read_openrem_ct`` sum a study's DLPs and doses as a patient's CED is summed
   (:func:`recurct._periods.list_sums`): the correctly rounded sum, ``math.fsum``'s, in any
   order of the events. They summed the sorted values one by one, the same in any order but
   not always correctly rounded.
2. A float ``by`` column holding 0.0 and -0.0: one stratum, labelled ``0.0`` whatever the
   order of the rows (it was labelled by whichever came first).
3. A ``Datetime("ms")`` exam date more than 5.8 million years from 1970 is refused, naming
   the column and row, instead of wrapping into another day.
4. ``list_sums`` refuses null lists and null values.

Expected sums are ``math.fsum``'s, never recurct's.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recurct import cumulative_dose, period_dose, stats
from recurct._periods import list_sums
from recurct.dose import effective_dose, exam_region
from recurct.dose._events import sum_events
from recurct.errors import DataError
from recurct.io.openrem import read_openrem_ct

FIXTURE = Path(__file__).parent / "data" / "openrem" / "ct_export_pid.csv"


def _sums_in_turn(v: tuple[float, float, float]) -> list[float]:
    """The three sums of ``v`` added in turn, two at a time (one per pair added first)."""
    a, b, c = v
    return [(a + b) + c, a + (b + c), (a + c) + b]


def _misses(k: int = 4, below: bool = False) -> list[tuple[float, float, float]]:
    """One-decimal values a <= b <= c (a seeded search) that no sum in turn adds up to the
    correctly rounded sum (``math.fsum``), in whatever order, sorted or not (``below``: all
    of those sums below it)."""
    rng = np.random.default_rng(21)
    out: list[tuple[float, float, float]] = []
    while len(out) < k:
        v = tuple(sorted(float(x) / 10 for x in rng.integers(1, 10_000, 3)))
        want, got = math.fsum(v), _sums_in_turn(v)  # type: ignore[arg-type]
        if all(s != want for s in got) and (not below or max(got) < want):
            out.append(v)  # type: ignore[arg-type]
    return out


MISSES = _misses()


def test_the_premise() -> None:
    for v in MISSES + _misses(1, below=True):
        assert all(s != math.fsum(v) for s in _sums_in_turn(v))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("values", MISSES)
def test_sum_events_is_the_correctly_rounded_sum_in_every_order(values) -> None:
    want = math.fsum(values)
    for perm in itertools.permutations(values):
        df = pl.DataFrame(
            {
                "study_uid": ["s1"] * 3 + ["s2"],
                "dlp_mgycm": [*perm, 5.0],
                "effective_dose_msv": [*perm, 1.0],
                "dose_method": ["m"] * 4,
                "region": ["chest"] * 4,
            }
        )
        out = _quiet(sum_events, df, "region")
        assert out["dlp_mgycm"].to_list() == [want, 5.0]
        assert out["effective_dose_msv"].to_list() == [want, 1.0]


def test_sum_events_keeps_its_null_rules() -> None:
    df = pl.DataFrame(
        {
            "study_uid": ["a", "a", "b", "b", "c", "c", "d"],
            "dlp_mgycm": [1.0, None, 2.0, None, 3.0, 4.0, None],
            "effective_dose_msv": [0.1, 0.2, 0.3, 0.0, None, 0.5, 0.0],
            "dose_method": ["m"] * 7,
            "region": ["chest"] * 7,
        }
    )
    skip = np.array([False, False, False, True, False, False, True])
    out = _quiet(sum_events, df, "region", skip)
    # a: a null DLP not skipped -> null; b: skipped (a localizer) -> the others' sum;
    # c: a null dose -> null dose and method; d: only a skipped null DLP -> 0.0
    assert out["dlp_mgycm"].to_list() == [None, 2.0, 7.0, 0.0]
    assert out["effective_dose_msv"].to_list() == [math.fsum([0.1, 0.2]), 0.3, None, 0.0]
    assert out["dose_method"].to_list() == ["m", "m", None, "m"]
    assert out["n_events"].to_list() == [2, 2, 2, 1]
    # a Float32 DLP sums to a Float32, as it did
    f32 = df.with_columns(pl.col("dlp_mgycm").cast(pl.Float32))
    assert _quiet(sum_events, f32, "region", skip).schema["dlp_mgycm"] == pl.Float32
    # no events: no studies
    assert _quiet(sum_events, df.head(0), "region").height == 0


@pytest.mark.parametrize("values", MISSES)
def test_effective_dose_at_event_level_sums_correctly_rounded(values) -> None:
    want = math.fsum(values)
    for perm in itertools.permutations(values):
        events = pl.DataFrame(
            {
                "study_uid": ["s1"] * 3,
                "event_uid": ["e1", "e2", "e3"],
                "dlp_mgycm": list(perm),
                "body_region": ["chest"] * 3,
                "effective_dose_msv": [x / 100 for x in perm],
                "dose_method": ["given"] * 3,
            }
        )
        out = _quiet(effective_dose, events, level="event")
        assert out["dlp_mgycm"].to_list() == [want]
        assert out["effective_dose_msv"].to_list() == [math.fsum(x / 100 for x in perm)]


def _openrem(tmp_path: Path, events: list[tuple[str, str]]) -> Path:
    """The fixture with its first study's four events replaced by the four ``events``
    ((protocol, DLP) each, all spiral acquisitions), its reported total blank."""
    assert len(events) == 4
    with FIXTURE.open(newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    for k, (protocol, dlp) in enumerate(events, start=1):
        rows[1][head.index(f"E{k} Protocol")] = protocol
        rows[1][head.index(f"E{k} Type")] = "Spiral Acquisition"
        rows[1][head.index(f"E{k} DLP")] = dlp
    rows[1][head.index("DLP total (mGy.cm)")] = ""
    out = tmp_path / "export.csv"
    with out.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return out


@pytest.mark.parametrize("values", MISSES)
def test_openrem_dlp_sum_is_correctly_rounded_in_every_order(tmp_path: Path, values) -> None:
    want = math.fsum(values)
    for perm in itertools.permutations(values):
        events = [("Chest", repr(x)) for x in perm] + [("Chest", "0")]  # (a 4th of 0)
        exams = _quiet(read_openrem_ct, _openrem(tmp_path, events)).exams
        assert exams.filter(pl.col("accession_number") == "ACC0001")["dlp_mgycm"][0] == want


def test_openrem_main_region_follows_the_correctly_rounded_sums(tmp_path: Path) -> None:
    """Chest's three DLPs sum (correctly rounded) to abdomen's one: a tie, won by the
    region seen first, as :func:`exam_region` decides; their sums in turn, not correctly
    rounded, are below it, and gave abdomen."""
    a, b, c = _misses(1, below=True)[0]
    tie = math.fsum((a, b, c))
    for perm in itertools.permutations(
        [("Chest", a), ("Chest", b), ("Chest", c), ("Abdomen", tie)]
    ):
        regions = ["chest" if p == "Chest" else "abdomen" for p, _ in perm]
        want = exam_region(regions, [x for _, x in perm])
        assert want == regions[0]  # (the tie: the first seen)
        path = _openrem(tmp_path, [(p, repr(x)) for p, x in perm])
        exams = _quiet(read_openrem_ct, path).exams
        assert exams.filter(pl.col("accession_number") == "ACC0001")["body_region"][0] == want


# -- 2. strata of 0.0 and -0.0 ----------------------------------------------------------------


def _zeros_table(n: int = 40) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    ced = rng.gamma(2.0, 40.0, n)
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "n_exams": rng.integers(1, 9, n),
            "ced_msv": ced,
            "x": [0.0] * (n // 2) + [-0.0] * (n - n // 2),
            "site": [f"h{i % 6}" for i in range(n)],
        }
    )


_BY_FUNCS = {
    "magnitude": lambda d: stats.magnitude(d, 50, by="x"),
    "magnitude_bootstrap": lambda d: stats.magnitude(
        d, 50, by="x", ci="bootstrap", cluster="site", n_boot=50, seed=1
    ),
    "dose_bands": lambda d: stats.dose_bands(d, by="x"),
    "exams_per_patient": lambda d: stats.exams_per_patient(d, by="x").distribution,
}


@pytest.mark.parametrize("func", sorted(_BY_FUNCS))
def test_a_zero_stratum_is_labelled_0_in_any_row_order(func: str) -> None:
    df = _zeros_table()
    fwd = _quiet(_BY_FUNCS[func], df)
    rev = _quiet(_BY_FUNCS[func], df.reverse())
    assert set(fwd["x"].to_list()) == {"all", "0.0"}
    assert fwd.equals(rev)


def test_a_zero_cluster_bootstrap_is_the_same_in_any_row_order() -> None:
    df = _zeros_table().with_columns(pl.col("x").alias("c"))
    kw = {"by": "x", "ci": "bootstrap", "cluster": "c", "n_boot": 50, "seed": 2}
    fwd = _quiet(stats.magnitude, df, 50, **kw)
    assert _quiet(stats.magnitude, df.reverse(), 50, **kw).equals(fwd)


# -- 3. day numbers beyond int32 --------------------------------------------------------------

_MS_PER_DAY = 86_400_000


def _far_exams(far_ms: int, tz: str | None = None) -> pl.DataFrame:
    t = pl.Series("exam_date", [0, 10 * _MS_PER_DAY, far_ms], pl.Int64)
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "exam_date": t.cast(pl.Datetime("ms", tz)),
            "effective_dose_msv": [1.0, 2.0, 3.0],
        }
    )


@pytest.mark.parametrize("far_days", [2**31, 2**33 + 5, -(2**31) - 1, -(2**34)])
def test_a_datetime_ms_beyond_the_day_range_is_refused(far_days: int) -> None:
    exams = _far_exams(far_days * _MS_PER_DAY)
    with pytest.raises(
        DataError, match=r"cumulative_dose: column 'exam_date' .* row 2 \(0-based\)"
    ):
        cumulative_dose(exams)
    with pytest.raises(DataError, match=r"period_dose: column 'exam_date' .* row 2"):
        period_dose(exams, every="1y")


#: chrono's dates, -262143-01-01 and 262142-12-31, as days since 1970 (by hand:
#: days_from_civil of H. Hinnant's "chrono-Compatible Low-Level Date Algorithms")
_CHRONO_FIRST, _CHRONO_LAST = -96_465_293, 95_026_236


@pytest.mark.parametrize(
    ("unit", "days"),
    [("ms", 2**32), ("ms", _CHRONO_LAST + 10), ("ms", _CHRONO_FIRST - 10), ("us", 98_000_000)],
)
def test_a_time_zone_aware_datetime_beyond_local_time_is_refused(unit: str, days: int) -> None:
    """Beyond chrono's dates polars cannot read a zoned time as local time: it panicked."""
    per_day = _MS_PER_DAY * (1000 if unit == "us" else 1)
    exams = _far_exams(0, "Europe/Paris").with_columns(
        pl.Series("exam_date", [0, 10 * per_day, days * per_day]).cast(
            pl.Datetime(unit, "Europe/Paris")
        )
    )
    with pytest.raises(DataError, match=r"column 'exam_date' .* local time\) in row 2"):
        cumulative_dose(exams)


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York", "Pacific/Kiritimati"])
def test_the_ends_of_the_zoned_range_are_counted(tz: str) -> None:
    for day in (_CHRONO_FIRST + 2, _CHRONO_LAST - 2):
        t = pl.Series("exam_date", [day * _MS_PER_DAY, (day + 1) * _MS_PER_DAY - 1])
        exams = pl.DataFrame(
            {"patient_id": ["a", "b"], "exam_date": t.cast(pl.Datetime("ms", tz))}
        ).with_columns(pl.lit(1.0).alias("effective_dose_msv"))
        assert cumulative_dose(exams).height == 2


def test_the_ends_of_the_day_range_are_counted() -> None:
    for day in (-(2**31), 2**31 - 1):
        t = pl.Series("exam_date", [day * _MS_PER_DAY, (day + 1) * _MS_PER_DAY - 1])
        exams = pl.DataFrame({"patient_id": ["a", "b"], "exam_date": t.cast(pl.Datetime("ms"))})
        out = cumulative_dose(exams.with_columns(pl.lit(1.0).alias("effective_dose_msv")))
        assert out["last_exam"].cast(pl.Int32).to_list() == [day, day]


def test_a_datetime_ms_within_the_day_range_is_counted() -> None:
    exams = _far_exams(_MS_PER_DAY * 1000 + 5)  # 1972-09-27, in ms
    out = cumulative_dose(exams)
    assert out["last_exam"].to_list()[1] == dt.date(1972, 9, 27)


# -- 4. list_sums' precondition ---------------------------------------------------------------


def test_list_sums_sums_and_refuses_nulls() -> None:
    lists = pl.Series("d", [[0.1, 0.2, 0.3], [], [5.0]], pl.List(pl.Float64))
    assert list_sums(lists).to_list() == [math.fsum([0.1, 0.2, 0.3]), 0.0, 5.0]
    with pytest.raises(ValueError, match="null value"):
        list_sums(pl.Series("d", [[0.1, None], [1.0]], pl.List(pl.Float64)))
    with pytest.raises(ValueError, match="null list"):
        list_sums(pl.Series("d", [[0.1], None], pl.List(pl.Float64)))


def test_population_table_with_both_zeros_in_any_order() -> None:
    """Review helper-190: the population table's strata were not normalised: a -0.0 first
    made the stratum '-0.0' there and '0.0' for the patients (an error, 0 in the table)."""
    import numpy as np

    from recurct import stats

    n = 40
    rng = np.random.default_rng(5)
    pat = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "n_exams": rng.integers(1, 9, n),
            "ced_msv": rng.gamma(2.0, 40.0, n),
            "x": [0.0] * 20 + [-0.0] * 20,
        }
    )
    pop = pl.DataFrame({"x": [-0.0] * 50 + [0.0] * 50})
    got = [
        stats.magnitude(pat, 50, by="x", population=p).select("x", "n_patients", "n_population")
        for p in (pop, pop.reverse())
    ]
    assert got[0].rows() == got[1].rows() == [("all", 40, 100), ("0.0", 40, 100)]
