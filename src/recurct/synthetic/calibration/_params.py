"""A profile's parameters by dotted path (``"groups.oncology.interval_mean_days"``)."""

from __future__ import annotations

from typing import Any

from recurct.errors import ParameterError
from recurct.synthetic.model import GROUPS, Profile

__all__ = ["get_param", "set_param"]


def _site(profile: Profile, name: str) -> dict[str, Any]:
    for s in profile.sites:
        if s["facility"] == name:
            return s
    names = ", ".join(s["facility"] for s in profile.sites)
    raise ParameterError(f"no site {name!r} in profile {profile.name!r} (sites: {names})")


def _locate(profile: Profile, path: str) -> tuple[Any, Any]:
    parts = path.split(".")
    if parts[0] == "sites":
        if len(parts) < 3:
            raise ParameterError(f"site parameter {path!r} must read sites.<facility>.<field>")
        node: Any = _site(profile, parts[1])
        parts = parts[2:]
    else:
        node = profile.params
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict | list):
            raise ParameterError(f"unknown parameter {path!r} (at {p!r})")
        node = node[p]
    if isinstance(node, list):  # an element of a list parameter: "...phase_mix.1"
        if not parts[-1].isdigit() or int(parts[-1]) >= len(node):
            raise ParameterError(f"{path!r}: {parts[-1]!r} is not an index of a {len(node)}-list")
        return node, int(parts[-1])
    if parts[-1] not in node and not (path.startswith("sites.") and "group_share" in path):
        raise ParameterError(f"unknown parameter {path!r}; see recurct.synthetic.describe()")
    return node, parts[-1]


def get_param(profile: Profile, path: str) -> Any:
    """Value of a parameter by dotted path: ``"frailty_cv"``,
    ``"groups.oncology.interval_mean_days"``, ``"sites.USA-1.age_shift"``, an element of a
    list parameter ``"groups.oncology.phase_mix.1"`` (the weight of 2 phases). A site's
    ``group_share.<group>`` that the site does not override is the group's base share."""
    node, key = _locate(profile, path)
    if isinstance(node, list):
        return node[key]
    if key not in node:  # sites.<facility>.group_share.<group>, not overridden
        if key not in profile.params["groups"]:
            raise ParameterError(f"unknown group in {path!r}; groups are {', '.join(GROUPS)}")
        return profile.params["groups"][key]["share"]
    return node[key]


def set_param(profile: Profile, path: str, value: Any) -> None:
    """Set a parameter by dotted path (in place); see :func:`get_param`."""
    node, key = _locate(profile, path)
    node[key] = value
