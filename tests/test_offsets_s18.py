"""A text ``exam_date`` column whose times carry different UTC offsets is read as written
(offsets dropped, as documented) with a warning: its times are on different clocks."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

from recurct import validate
from recurct._dates import warn_mixed_offsets
from recurct.errors import RecurctWarning


def _table(dates: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["A"] * len(dates),
            "exam_date": dates,
            "effective_dose_msv": [1.0] * len(dates),
        }
    )


@pytest.mark.parametrize(
    ("dates", "shown"),
    [
        (
            ["2020-01-01T23:30:00+02:00", "2020-01-01T22:00:00Z"],
            r"\+02:00 in row 0, \+00:00 in row 1",
        ),
        (
            ["2020-01-01 08:00", "2020-01-01 09:00+0100", "2020-01-01 10:00-05"],
            r"\+01:00 in row 1, -05:00 in row 2",
        ),
        (["20200101080000+0100", "20200101090000+0000"], r"\+01:00 in row 0, \+00:00 in row 1"),
    ],
)
def test_mixed_offsets_warn(dates: list[str], shown: str) -> None:
    with pytest.warns(RecurctWarning, match=shown):
        out = validate(_table(dates))
    assert out.height == len(dates)  # nothing dropped: the times are read as written


@pytest.mark.parametrize(
    "dates",
    [
        ["2020-01-01T23:30:00+02:00", "2020-01-02T08:00:00+0200", "2020-01-03"],
        ["2020-01-01T23:30:00Z", "2020-01-01T22:00:00+00:00"],
        ["2020-01-01", "2020-01-01-05:00"],  # no time of day: no offset
        ["2020-01-01 08:00", "2020-01-02 09:30:00"],
    ],
)
def test_one_offset_or_none_is_quiet(dates: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_mixed_offsets(pl.Series("exam_date", dates))


def test_more_than_three_offsets_are_counted() -> None:
    dates = [f"2020-01-01T08:00:00+0{h}:00" for h in range(6)]
    with pytest.warns(RecurctWarning, match=r"mixes 6 UTC offsets .* and 3 more"):
        warn_mixed_offsets(pl.Series("exam_date", dates))


def test_plain_dates_and_times_do_not_match_the_offset_test() -> None:
    """The column test must not match a date alone (``2020-01-05`` ends like ``1-05``), so
    that a clean column costs one test and nothing more."""
    from recurct._dates import _ANY_OFFSET

    plain = pl.Series(
        ["2020-01-05", "2020-12-31 08:15", "20200105", "20200105081500", "2020-01-05T08:15:00"]
    )
    assert not plain.str.contains(_ANY_OFFSET).any()
    marked = pl.Series(["2020-01-05 08:15+01", "2020-01-05T08:15:00Z", "20200105081500+0100"])
    assert marked.str.contains(_ANY_OFFSET).all()


def test_the_warning_points_at_the_caller() -> None:
    with pytest.warns(RecurctWarning) as caught:
        validate(_table(["2020-01-01T23:30:00+02:00", "2020-01-01T22:00:00Z"]))
    assert caught[0].filename == __file__


def test_a_dicom_date_time_offset_needs_four_digits() -> None:
    """``20200101080000+01`` is no DICOM DT (validation refuses it): not an offset here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_mixed_offsets(pl.Series("exam_date", ["20200101080000+01", "20200101090000+0000"]))
