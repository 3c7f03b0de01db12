"""Kernels where numba cannot cache them (a read-only install without a writable home:
numba's "no locator available"): compiled in the process, with one warning naming
NUMBA_CACHE_DIR, instead of a raw numba RuntimeError from read_exams or cumulative_dose."""

from __future__ import annotations

from typing import Any

import numba.core.caching as caching
import numpy as np
import pytest

from recurct import _jit
from recurct.errors import RecurctWarning


def _twice(x: Any) -> Any:  # pragma: no cover - numba
    return 2 * x


@pytest.fixture
def no_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba finds no folder to cache in (its locators all decline), as in a read-only
    install whose user has no writable home."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # numba < 0.60
    monkeypatch.setattr(impl, "_locator_classes", [])
    monkeypatch.setattr(_jit, "_warned", [])


def test_numba_itself_refuses_to_cache_there(no_cache_folder: None) -> None:
    """The condition the wrapper handles (so the test below tests something real)."""
    from numba import njit

    with pytest.raises(RuntimeError, match=_jit.NO_LOCATOR):
        njit(cache=True)(_twice)


def test_a_kernel_is_compiled_without_a_cache_and_said_once(no_cache_folder: None) -> None:
    with pytest.warns(RecurctWarning, match="NUMBA_CACHE_DIR") as seen:
        one = _jit.njit(cache=True, nogil=True)(_twice)
        two = _jit.njit(cache=True)(lambda x: x + 1)
    assert len([w for w in seen if issubclass(w.category, RecurctWarning)]) == 1
    assert seen[0].filename == __file__  # at the caller's line
    assert one(np.int64(21)) == 42 and two(1) == 2


def test_other_numba_errors_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**options: Any) -> Any:
        raise RuntimeError("something else")

    monkeypatch.setattr(_jit, "_numba_njit", refuse)
    with pytest.raises(RuntimeError, match="something else"):
        _jit.njit(cache=True)(_twice)


def test_where_numba_can_cache_nothing_is_said(recwarn: pytest.WarningsRecorder) -> None:
    assert _jit.njit(cache=True)(_twice)(3) == 6
    assert not [w for w in recwarn if issubclass(w.category, RecurctWarning)]
