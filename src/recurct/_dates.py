"""One conversion of user-given dates (arguments, profile fields) to ``datetime.date``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np


def as_date(value: Any, name: str, *, none_ok: bool = False) -> dt.date | None:
    """``value`` as a date: a date, a datetime (its date), a numpy datetime64 or an ISO string
    (YYYY-MM-DD); ``None`` passes through if ``none_ok``. Errors name ``name``, the argument
    or field the value came from."""
    if value is None and none_ok:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]").item()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None
    raise TypeError(f"{name} must be a date or an ISO date string (YYYY-MM-DD), got {value!r}")
