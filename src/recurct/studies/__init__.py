"""Published studies of recurrent CT: their figures, with sources, and their reproduction.

One module per study: :mod:`~recurct.studies.rehani2020` (Rehani et al. 2020, Eur Radiol
30:1828), :mod:`~recurct.studies.eurosafe2021` (Frija et al. 2021, Eur Radiol 31:5514, the ESR
EuroSafe Imaging survey) and :mod:`~recurct.studies.sodickson2009` (Sodickson et al. 2009,
Radiology 251:175). Each holds ``SOURCE``, ``PUBLISHED`` (every figure, with its rounding and
how it is compared) and ``reproduce(exams=None, seed=0, progress=False)`` returning a
:class:`Reproduction`.

This module also holds the handler of ``recurct reproduce``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from recurct.studies._base import Measured, Published, Reproduction, format_table

__all__ = [
    "STUDIES",
    "Measured",
    "Published",
    "Reproduction",
    "cli_reproduce",
    "format_table",
    "get",
    "reproduce",
]

#: Known studies: name -> one-line description.
STUDIES: dict[str, str] = {
    "rehani2020": "Rehani et al. 2020, Eur Radiol 30:1828 (4 institutions, 2.5 M patients)",
    "eurosafe2021": "Frija et al. 2021, Eur Radiol 31:5514 (ESR EuroSafe Imaging survey)",
    "sodickson2009": "Sodickson et al. 2009, Radiology 251:175 (31,462 adults, 22 years)",
}


def get(study: str) -> ModuleType:
    """The module of a study by name; ``ValueError`` listing the known ones otherwise."""
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; known studies: {', '.join(STUDIES)}")
    return importlib.import_module(f"recurct.studies.{study}")


def reproduce(study: str, exams: Any = None, seed: int = 0, **kwargs: Any) -> Reproduction:
    """Reproduce a study by name (see the study module's ``reproduce``)."""
    return get(study).reproduce(exams=exams, seed=seed, **kwargs)


def __getattr__(name: str) -> Any:
    if name in STUDIES:
        return get(name)
    raise AttributeError(f"module 'recurct.studies' has no attribute {name!r}")


def _err(msg: str) -> None:
    sys.stderr.write(f"recurct: {msg}\n")


def cli_reproduce(args: Any) -> int:
    """``recurct reproduce STUDY [--exams FILE] [--seed N] [--out DIR]``.

    Prints the comparison table, writes it (CSV, Markdown) and the figures (PNG, SVG) to
    ``--out`` (default ``results/STUDY/``). Exit code 0: every comparable figure is within its
    tolerance; 1: at least one is not; 2: unknown study or unreadable input.
    """
    if args.study not in STUDIES:
        _err(f"unknown study {args.study!r}; known studies: {', '.join(STUDIES)}")
        return 2
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    exams = args.exams
    if exams is not None:  # the shared input options of analyze and validate
        from recurct._cli_input import InputError, load_exams

        try:
            loaded = load_exams(exams, args)
        except InputError as exc:
            _err(str(exc))
            return 2
        for note in loaded.notes:
            sys.stderr.write(f"[recurct] {note}\n")
        exams = loaded.exams
    try:
        rep = reproduce(args.study, exams=exams, seed=args.seed, progress=True)
    except (OSError, ValueError, TypeError) as exc:
        _err(str(exc))
        return 2
    out = Path(args.out) if args.out else Path("results") / args.study
    sys.stderr.write(f"[recurct] writing the table and figures to {out}/ ...\n")
    rep.save(out)
    print(rep.source)
    print()
    print(rep.to_text(), end="")
    print()
    print(rep.summary())
    sys.stderr.write(f"[recurct] done in {time.perf_counter() - t0:.1f} s\n")
    return 0 if rep.ok else 1
