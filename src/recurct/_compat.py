"""The names recurct 0.2 renamed or removed, refused with a message naming the new one.

For one release (0.2) a call with an old argument name, or to an old function, raises a
:class:`TypeError` that names its replacement (``magnitude() argument 'threshold' was
renamed to 'thresholds' in recurct 0.2``) instead of Python's bare "unexpected keyword
argument". The migration table is in CHANGELOG.md. Remove this module's uses in 0.3.

:func:`renamed` wraps a function (``functools.wraps``: ``inspect.signature`` and the docstring
are the function's own, so the glossary test sees only the new names). :func:`removed` makes a
stand-in for a function that was renamed or replaced; it is not listed in ``__all__``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from recurct.errors import ParameterError

F = TypeVar("F", bound=Callable[..., Any])

#: The release that renamed the names handled here.
RELEASE = "recurct 0.2"


def _message(fn: str, old: str, new: str) -> str:
    if new.isidentifier():
        return f"{fn}() argument {old!r} was renamed to {new!r} in {RELEASE}"
    return f"{fn}() argument {old!r} was removed in {RELEASE}: {new}"


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Refuse old keyword names of a function with a :class:`TypeError` naming the new one.

    Parameters
    ----------
    **old_to_new
        ``old_name="new_name"`` for a renamed argument, or ``old_name="<what to do instead>"``
        (any text that is not an identifier) for an argument that was removed.

    Returns
    -------
    callable
        A decorator. The wrapped function keeps its signature and docstring.
    """

    def decorate(func: F) -> F:
        name = func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = next((k for k in old_to_new if k in kwargs), None)
            if old is not None:
                raise ParameterError(_message(name, old, old_to_new[old]))
            return func(*args, **kwargs)

        wrapper.__recurct_renamed__ = dict(old_to_new)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def removed(old: str, new: str) -> Callable[..., Any]:
    """A stand-in for a function removed in 0.2 that raises :class:`TypeError` naming ``new``.

    Parameters
    ----------
    old
        The old qualified name, e.g. ``"recurct.dose.drls"``.
    new
        The replacement, e.g. ``"recurct.dose.drl_table(name) or recurct.dose.drl_tables()"``.

    Returns
    -------
    callable
        A function that raises on every call.
    """

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise ParameterError(f"{old}() was replaced in {RELEASE} by {new}")

    stand_in.__name__ = old.rsplit(".", 1)[-1]
    stand_in.__qualname__ = stand_in.__name__
    stand_in.__doc__ = f"Removed in {RELEASE}: use {new}."
    stand_in.__recurct_removed__ = new  # type: ignore[attr-defined]
    return stand_in
