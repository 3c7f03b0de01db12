"""Where a warning points: the user's line, however deep in recurct it is raised.

:func:`user_stacklevel` walks the calling thread's stack out of recurct. Where recurct was
called by dask, polars or pandas (``dask.delayed(recurct.validate)(...).compute(
scheduler="sync")``, ``df.pipe(recurct.validate)`` of polars or pandas, a polars
``map_batches`` callback), it walks on past their frames too, to the user's line that started
the computation, if that line is on this thread's stack. A worker thread (Dask's threaded
scheduler) holds no user line: its stack ends in the standard library's thread machinery
(:data:`RUNNERS`), and the warning points at the dask, polars or pandas line that called
recurct. The walk never runs off the stack: with no frame outside recurct at all (a callback
on a thread that native code started), the warning points at the outermost frame.

A frame belongs to a package by its file, as recurct's own frames do: a file in the package's
folder (its ``__path__``), or the module's file (``threading``). A user's module named like
one of them (``polars_helpers``, or ``polars.my_ext`` registered under polars' name from a
file of the user's) is the user's line, not walked past.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from types import FrameType

#: The folder of the recurct package.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: The packages whose frames may lie between the user's line and recurct's: they call user
#: functions (delayed tasks, ``pipe``, ``map_batches``) and are walked past like recurct's own.
CALLERS = ("dask", "distributed", "polars", "pandas")

#: The standard library's modules that run worker threads and processes: a stack that ends
#: in them past the callers' frames holds no user line.
RUNNERS = ("threading", "concurrent", "multiprocessing", "asyncio")


def _in_recurct(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(PACKAGE_DIR)


def _files_of(names: Iterable[str]) -> tuple[str, ...]:
    """The file-name prefixes of the modules ``names`` that are imported (a frame of one
    that is not imported is on no stack): a package's folders, a plain module's file."""
    prefixes: list[str] = []
    for name in names:
        module = sys.modules.get(name)
        folders = getattr(module, "__path__", None)
        file = getattr(module, "__file__", None)
        try:
            if folders is not None:  # a package: every file in its folders
                prefixes += [os.path.join(os.path.abspath(f), "") for f in folders]
            elif isinstance(file, str):
                prefixes.append(os.path.abspath(file))
        except TypeError:  # something other than a module under its name: none of its files
            continue
    return tuple(prefixes)


def _in(frame: FrameType, files: tuple[str, ...]) -> bool:
    return bool(files) and frame.f_code.co_filename.startswith(files)


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
    recurct functions and wrappers led there) or, where that caller is dask, polars or
    pandas, at the user's line beyond them on this thread (see the module's docstring); at
    most the outermost frame."""
    caller, level = _outward(sys._getframe(1), 1, _in_recurct)  # 1: the function that warns
    callers = _files_of(CALLERS)
    if not _in(caller, callers):
        return level  # the caller of recurct (or, with none, the outermost frame)

    def passed(frame: FrameType) -> bool:
        return _in_recurct(frame) or _in(frame, callers)

    user, user_level = _outward(caller, level, passed)
    if passed(user) or _in(user, _files_of(RUNNERS)):
        return level  # no user line on this thread (a worker's): the caller's line
    return user_level
