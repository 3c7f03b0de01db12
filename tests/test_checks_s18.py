"""A single threshold that is not a finite positive number is named as one threshold."""

from __future__ import annotations

import math

import pytest

from recurct import _checks
from recurct.errors import ParameterError


@pytest.mark.parametrize("value", [math.nan, math.inf, 0, -5.0])
def test_one_threshold_message_names_it(value: float) -> None:
    with pytest.raises(ParameterError, match=r"f: threshold must be a finite number > 0 mSv"):
        _checks.threshold(value, "f")


def test_one_threshold_accepted() -> None:
    assert _checks.threshold(2.5, "f") == 2.5
