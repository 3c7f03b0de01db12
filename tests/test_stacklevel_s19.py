"""Warnings point at the user's line, whatever chain of recurct functions and wrappers
(``@renamed``) raised them: the line of this file that called recurct.

These warnings used fixed ``stacklevel`` numbers, which pointed into recurct (e.g.
``_compat.py``, the ``@renamed`` wrapper) when the call chain differed from the one counted.
"""

from __future__ import annotations

import datetime as dt
import warnings

import polars as pl
import pytest

import recurct
from recurct import stats, synthetic

RDSR = __import__("pathlib").Path(__file__).parent / "data" / "rdsr"


def _warned(call, category: type[Warning]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    hits = [w for w in caught if issubclass(w.category, category)]
    assert hits, [str(w.message) for w in caught]
    return hits


def _exams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2020, 2, 1)] * 1
            + [dt.date(2020, 3, 1)],
            "dlp_mgycm": [800.0, None, 500.0, 400.0],
            "body_region": ["chest"] * 4,
            "ctdivol_mgy": [10.0, 12.0, 30.0, 8.0],
            "age_years": [40.0, 40.0, 5.0, 60.0],
        }
    )


CASES = {
    "effective_dose": (
        lambda: recurct.effective_dose(_exams(), table="aapm96", strict=False),
        recurct.DoseConversionWarning,
    ),
    "compare_to_drl": (
        lambda: recurct.compare_to_drl(_exams(), drl="arpansa_adult", site=None),
        recurct.DroppedRowsWarning,
    ),
    "exam_rate": (
        lambda: stats.exam_rate(
            recurct.cumulative_dose(
                recurct.effective_dose(_exams().drop_nulls("dlp_mgycm"), table="aapm96")
            ).with_columns(sex=pl.Series(["F", "M", "F"])),
            "n_exams ~ sex",
            end="2021-01-01",
        ),
        recurct.RegressionWarning,
    ),
    "magnitude (bootstrap, few clusters)": (
        lambda: stats.magnitude(
            recurct.cumulative_dose(synthetic.generate("small", 300, seed=1)),
            50,
            ci="bootstrap",
            cluster="facility",
            n_boot=50,
            seed=0,
        ),
        recurct.RecurctWarning,
    ),
    "read_rdsr (a folder with a file that is no report)": (
        lambda: recurct.read_rdsr(RDSR),
        recurct.RecurctWarning,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_warning_points_at_the_callers_line(name: str) -> None:
    call, category = CASES[name]
    for w in _warned(call, category):
        assert w.filename == __file__, (name, w.filename, w.lineno, str(w.message)[:80])
