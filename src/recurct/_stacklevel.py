"""Where a warning points: the user's line, however deep in recurct it is raised.

:func:`user_stacklevel` walks the calling thread's stack out of recurct. Where recurct was
called by dask or polars (``dask.delayed(recurct.validate)(...).compute(scheduler="sync")``,
``df.pipe(recurct.validate)``, a polars ``map_batches`` callback), it walks on past their
frames too, to the user's line that started the computation, if that line is on this
thread's stack. A worker thread (Dask's threaded scheduler) holds no user frame: its stack
ends in the standard library's thread machinery (:data:`RUNNERS`), and the warning points
at the dask or polars line that called recurct. The walk never runs off the stack: with no
frame outside recurct at all (a callback on a thread that native code started), the warning
points at the outermost frame.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import FrameType

#: The folder of the recurct package.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: The packages whose frames may lie between the user's line and recurct's: they call user
#: functions (delayed tasks, ``pipe``, ``map_batches``) and are skipped like recurct's own.
CALLERS = ("dask", "distributed", "polars")

#: The standard library's packages that run worker threads and processes: a stack that ends
#: in them past the dask frames holds no user line.
RUNNERS = ("threading", "concurrent", "multiprocessing", "asyncio")


def _in_recurct(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(PACKAGE_DIR)


def _top_package(frame: FrameType) -> str:
    """The top-level package of the module of ``frame`` ("" if it has no name)."""
    name = frame.f_globals.get("__name__")
    return name.partition(".")[0] if isinstance(name, str) else ""


def _passed(frame: FrameType) -> bool:
    """Whether the walk to the user's line goes past ``frame``: recurct's, dask's, polars'."""
    return _in_recurct(frame) or _top_package(frame) in CALLERS


def _outward(
    frame: FrameType, level: int, past: Callable[[FrameType], bool]
) -> tuple[FrameType, int]:
    """The first frame from ``frame`` outward (and its stacklevel) that the walk does not go
    ``past``, or the outermost frame."""
    while frame.f_back is not None and past(frame):
        frame = frame.f_back
        level += 1
    return frame, level


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called in the function that calls this
    one, that points at the first caller outside the recurct package (whatever chain of
    recurct functions and wrappers led there) or, where that caller is dask or polars, at
    the user's line beyond them on this thread (see the module's docstring); at most the
    outermost frame."""
    caller, level = _outward(sys._getframe(1), 1, _in_recurct)  # 1: the function that warns
    if _top_package(caller) not in CALLERS:
        return level  # the caller of recurct (or, with none, the outermost frame)
    user, user_level = _outward(caller, level, _passed)
    if _passed(user) or _top_package(user) in RUNNERS:
        return level  # no user line on this thread (a worker's): the dask/polars line
    return user_level
