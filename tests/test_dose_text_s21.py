"""Text doses and DLPs are read by the one rule of text numbers in ``effective_dose``, as in
``validate`` (docs/data-preparation.md, "Numbers in text").

Before, ``effective_dose`` cast text with polars' ``cast(Float64)``: ``"12,5"`` (a decimal
comma) was "not a number" and its dose left null (or refused), where ``validate`` and
``read_exams`` read 12.5.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings

import polars as pl
import pytest

import recurct
from recurct.dose import effective_dose
from recurct.dose._tables import numbers

COLUMNS = [
    ["12,5", "3,0", "0,25"],  # decimal commas
    ["12.5", "3", "0.25"],  # decimal points
    [" 12,5 ", "3", None],  # spaces and a null
    ["1.5", "2,5", "7"],  # both marks, each cell by its only reading
    ["0,125", "1,5", "2"],  # the column shows decimal commas: 0.125
    ["0.125", "1.5", "2"],  # the column shows decimal points: 0.125
]


def _validated(cells: list[str | None]) -> list[float | None]:
    n = len(cells)
    table = pl.DataFrame(
        {
            "patient_id": list(range(n)),
            "exam_date": [dt.date(2020, 1, 1)] * n,
            "effective_dose_msv": pl.Series(cells, dtype=pl.Utf8),
            "dlp_mgycm": [100.0] * n,
            "body_region": ["chest"] * n,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = recurct.validate(table, strict=False, required=("patient_id", "exam_date"))
    return out.sort("patient_id")["effective_dose_msv"].to_list()


@pytest.mark.parametrize("cells", COLUMNS)
def test_given_doses_are_read_as_validate_reads_them(cells: list[str | None]) -> None:
    n = len(cells)
    table = pl.DataFrame(
        {
            "effective_dose_msv": pl.Series(cells, dtype=pl.Utf8),
            "dlp_mgycm": [100.0] * n,
            "body_region": ["chest"] * n,
        }
    )
    got = effective_dose(table, table="aapm96")["effective_dose_msv"].to_list()
    want = _validated(cells)
    k = effective_dose(pl.DataFrame({"dlp_mgycm": [1.0], "body_region": ["chest"]}), table="aapm96")
    per_dlp = k["effective_dose_msv"][0]
    for g, w in zip(got, want, strict=True):
        # a missing dose is computed from the DLP (100 mGy cm), a given one kept as read
        assert math.isclose(g, 100 * per_dlp if w is None else w, rel_tol=1e-12), (cells, got)


def test_text_dlps_with_decimal_commas_are_converted() -> None:
    table = pl.DataFrame(
        {"dlp_mgycm": ["100,5", "1.234,5", "2.000,0"], "body_region": ["chest"] * 3}
    )
    got = effective_dose(table, table="aapm96")["effective_dose_msv"].to_list()
    want = effective_dose(
        pl.DataFrame({"dlp_mgycm": [100.5, 1234.5, 2000.0], "body_region": ["chest"] * 3}),
        table="aapm96",
    )["effective_dose_msv"].to_list()
    assert got == want


def test_an_ambiguous_number_is_no_number() -> None:
    v, code = numbers(pl.Series(["1.234", "x"]))
    assert math.isnan(v[0]) and code[0] != 0
