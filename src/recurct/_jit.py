"""numba's ``njit`` for recurct's kernels, cached on disk where numba can cache them.

``njit(cache=True)`` raises ``RuntimeError: cannot cache function ...: no locator available``
when decorating a function where numba finds no folder to cache it in: an install folder it
cannot write to (a read-only container image, a system site-packages) and no writable user
cache folder (a service account without a home). :func:`njit` then compiles the kernel in
each process instead, and says so once with a :class:`~recurct.errors.RecurctWarning` naming
the remedy: ``NUMBA_CACHE_DIR`` set to a writable folder before Python starts. Every other
error of numba is raised as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from numba import njit as _numba_njit

from recurct._stacklevel import user_stacklevel
from recurct.errors import RecurctWarning

__all__ = ["njit"]

#: The start of numba's message when it finds no folder to cache a function in.
NO_LOCATOR = "no locator available"

_warned: list[bool] = []  # one warning a process


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` as a decorator; with ``cache=True`` where numba cannot cache
    (no writable folder), the kernel compiled without a cache, and one
    :class:`~recurct.errors.RecurctWarning` a process saying so."""

    def decorate(func: Callable[..., Any]) -> Any:
        if not options.get("cache"):
            return _numba_njit(**options)(func)
        try:
            return _numba_njit(**options)(func)
        except RuntimeError as exc:
            if NO_LOCATOR not in str(exc):
                raise
            _warn_once(func)
            return _numba_njit(**{**options, "cache": False})(func)

    return decorate


def _warn_once(func: Callable[..., Any]) -> None:
    if _warned:
        return
    _warned.append(True)
    warnings.warn(
        f"recurct: numba cannot cache its compiled kernels here (no writable folder beside "
        f"{func.__module__!r} nor in the user's cache folder), so each process compiles them "
        "again (seconds on a first call); set the environment variable NUMBA_CACHE_DIR to a "
        "writable folder before starting Python to keep them",
        RecurctWarning,
        stacklevel=user_stacklevel(),
    )
