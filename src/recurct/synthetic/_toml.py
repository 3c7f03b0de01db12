"""A minimal TOML writer for profile files (tables, arrays of tables, scalars, lists, dates)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from recurct.errors import ParameterError

__all__ = ["dumps"]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    if hasattr(v, "item"):  # numpy scalar
        return _scalar(v.item())
    raise ParameterError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _scalar(str(k))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(d: dict[str, Any], prefix: str, lines: list[str], inline: set[str]) -> None:
    simple = {
        k: v
        for k, v in d.items()
        if not (isinstance(v, dict) and k not in inline) and not _is_table_array(v)
    }
    for k, v in simple.items():
        lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in d.items():
        name = f"{prefix}{_key(k)}"
        if isinstance(v, dict) and k not in inline:
            lines.append("")
            lines.append(f"[{name}]")
            _table(v, name + ".", lines, inline)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append(f"[[{name}]]")
                _table(item, name + ".", lines, inline)


def dumps(d: dict[str, Any], header: str = "", inline: tuple[str, ...] = ()) -> str:
    """TOML text of a nested dict; keys in ``inline`` are written as inline tables."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    _table(d, "", lines, set(inline))
    return "\n".join(lines).strip("\n") + "\n"
