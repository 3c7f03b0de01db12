"""A study's event sums and main region do not depend on the order of its events (review
helper-182): events of 0.1, 0.3 and 99.6 mSv made a study of 100.0 or 99.99999999999999
mSv by order, and the main region flipped between chest and abdomen."""

from __future__ import annotations

import itertools
import warnings

import polars as pl

from recurct.dose._events import exam_region, main_regions, sum_events


def test_study_sums_are_the_same_in_any_event_order() -> None:
    seen = set()
    for perm in itertools.permutations([0.1, 0.3, 99.6]):
        df = pl.DataFrame(
            {
                "study_uid": ["s1"] * 3,
                "dlp_mgycm": [10 * x for x in perm],
                "effective_dose_msv": list(perm),
                "dose_method": ["m"] * 3,
                "region": ["chest"] * 3,
            }
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = sum_events(df, "region")
        seen.add((out["effective_dose_msv"][0], out["dlp_mgycm"][0]))
    assert len(seen) == 1, seen


def test_main_region_is_the_same_in_any_event_order() -> None:
    regions = []
    for perm in itertools.permutations([0.1, 0.3, 99.6, 100.0]):
        rg = ["abdomen" if d == 100.0 else "chest" for d in perm]
        regions.append(exam_region(rg, list(perm)))
        df = pl.DataFrame({"study_uid": ["s1"] * 4, "dlp_mgycm": list(perm), "region": rg})
        assert main_regions(df, "region")["__main"][0] == regions[-1]
    # chest's DLP sums to exactly 100.0 (correctly rounded), tying abdomen's: the first seen
    assert regions == ["abdomen" if p[0] == 100.0 else "chest"
                       for p in itertools.permutations([0.1, 0.3, 99.6, 100.0])]  # fmt: skip
