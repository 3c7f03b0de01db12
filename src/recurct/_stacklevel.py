"""Where a warning points: the user's line, however deep in recurct it is raised."""

from __future__ import annotations

import os
import sys

#: The folder of the recurct package.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called in the function that calls this
    one, that points at the first caller outside the recurct package (whatever chain of
    recurct functions and wrappers led there)."""
    frame = sys._getframe(2)  # the caller of the function that warns: stacklevel 2
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level
