"""Conversion between the frame libraries users hand us and the polars frames used inside.

Every public entry point accepts pandas, polars (eager or lazy) or pyarrow tables and, where
the caller gave pandas, returns pandas (DESIGN.md: "pandas and pyarrow accepted at every public
entry point and, where the caller gave pandas, pandas returned").
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

FrameKind = Literal["polars", "pandas", "arrow", "lazy"]


def frame_kind(obj: Any) -> FrameKind:
    """Return which frame library ``obj`` belongs to, or raise ``TypeError``."""
    if isinstance(obj, pl.DataFrame):
        return "polars"
    if isinstance(obj, pl.LazyFrame):
        return "lazy"
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        return "pandas"
    if mod.startswith("pyarrow"):
        return "arrow"
    raise TypeError(
        f"expected a polars, pandas or pyarrow table, got {type(obj).__name__}; "
        "read files with recurct.read_exams() first"
    )


def to_polars(obj: Any) -> tuple[pl.DataFrame, FrameKind]:
    """Return ``(polars DataFrame, kind of the input)`` for any supported frame."""
    kind = frame_kind(obj)
    if kind == "polars":
        return obj, kind
    if kind == "lazy":
        return obj.collect(), kind
    if kind == "pandas":
        return pl.from_pandas(obj, include_index=False), kind
    return pl.from_arrow(obj), kind  # type: ignore[return-value]


def _pandas_types() -> dict[Any, Any]:
    import pandas as pd
    import pyarrow as pa

    return {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }


def from_polars(df: pl.DataFrame, kind: FrameKind) -> Any:
    """Return ``df`` as the caller's frame library (pandas for pandas, else polars).

    Integer and boolean columns become pandas' nullable ``Int64`` / ``boolean`` dtypes, so a
    count with missing values (``days_to_100`` of a patient who never reached 100 mSv) stays
    an integer with ``<NA>`` instead of turning into a float with ``NaN``; dates become
    ``datetime64``.
    """
    if kind == "pandas":
        return df.to_pandas(types_mapper=_pandas_types().get)
    return df


def param_label(value: float) -> str:
    """Shortest decimal form of a threshold or window, used in column names.

    >>> param_label(100.0), param_label(62.5), param_label(1826)
    ('100', '62.5', '1826')
    """
    f = float(value)
    if f.is_integer():
        return str(int(f))
    return repr(f)
