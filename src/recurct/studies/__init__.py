"""Published studies of recurrent CT: their figures, with sources, and their reproduction.

One module per study: :mod:`~recurct.studies.rehani2020` (Rehani et al. 2020, Eur Radiol
30:1828), :mod:`~recurct.studies.eurosafe2021` (Frija et al. 2021, Eur Radiol 31:5514, the ESR
EuroSafe Imaging survey) and :mod:`~recurct.studies.sodickson2009` (Sodickson et al. 2009,
Radiology 251:175). Each holds ``SOURCE``, ``PUBLISHED`` (every figure, with its rounding and
how it is compared) and ``reproduce(exams=None, *, seed=0, progress=False)`` returning a
:class:`Reproduction`.

The command ``recurct reproduce`` is in :mod:`recurct.cli`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from recurct.errors import ParameterError
from recurct.studies._figures import Measured, Published
from recurct.studies._format import format_table
from recurct.studies._reproduction import Reproduction

__all__ = [
    "STUDIES",
    "Measured",
    "Published",
    "Reproduction",
    "format_table",
    "get",
    "reproduce",
]

STUDIES: dict[str, str] = {
    "rehani2020": "Rehani et al. 2020, Eur Radiol 30:1828 (4 institutions, 2.5 M patients)",
    "eurosafe2021": "Frija et al. 2021, Eur Radiol 31:5514 (ESR EuroSafe Imaging survey)",
    "sodickson2009": "Sodickson et al. 2009, Radiology 251:175 (31,462 adults, 22 years)",
}
"""Known studies: name -> one-line description."""


def get(study: str) -> ModuleType:
    """The module of a study by name; ``ValueError`` listing the known ones otherwise."""
    if not isinstance(study, str) or study not in STUDIES:
        raise ParameterError(f"unknown study {study!r}; known studies: {', '.join(STUDIES)}")
    return importlib.import_module(f"recurct.studies.{study}")


def reproduce(study: str, exams: Any = None, *, seed: int = 0, **kwargs: Any) -> Reproduction:
    """Reproduce a study by name (see the study module's ``reproduce``); its tables are pandas
    when ``exams`` is a pandas table, else polars. ``seed`` and ``n_patients`` choose the
    synthetic cohort: with ``exams`` (your table, analysed as it is) a seed other than the
    default 0, or any ``n_patients``, is refused (:class:`~recurct.errors.ParameterError`)."""
    return get(study).reproduce(exams=exams, seed=seed, **kwargs)


# A study's module (``recurct.studies.rehani2020``) is imported on first use. Type checkers see
# the modules, and no ``__getattr__`` (which would make every attribute ``Any`` to them).
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from recurct.studies import eurosafe2021 as eurosafe2021
    from recurct.studies import rehani2020 as rehani2020
    from recurct.studies import sodickson2009 as sodickson2009
else:

    def __getattr__(name: str) -> Any:
        if name in STUDIES:
            return get(name)
        raise AttributeError(f"module 'recurct.studies' has no attribute {name!r}")
