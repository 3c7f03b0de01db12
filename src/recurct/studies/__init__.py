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

from recurct._cli_input import cli_error
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


def cli_reproduce(args: Any) -> int:
    """``recurct reproduce STUDY [--exams FILE] [--seed N | --seeds N|A-B|A,B] [--out DIR]``.

    Prints the comparison table, writes it (CSV, Markdown) and the figures (PNG, SVG) to
    ``--out`` (default ``results/STUDY/``). With ``--seeds``: runs the study on each seed (a
    progress bar on stderr), prints per figure the mean, SD, central 95% range and share of
    seeds within tolerance, and writes ``seeds.csv`` and ``seeds.md``. Exit code 0: every
    independent (``generated``) figure is within its tolerance (with ``--seeds``: its mean
    over the seeds within half the rounding unit + the calibration tolerance); 1: at least one
    is not; 2: unknown study, bad option or unreadable input.
    """
    if args.study not in STUDIES:
        return cli_error(f"unknown study {args.study!r}; known studies: {', '.join(STUDIES)}")
    seeds_spec = getattr(args, "seeds", None)
    if seeds_spec is not None:
        return _cli_reproduce_seeds(args, seeds_spec)
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    exams = args.exams
    if exams is not None:  # the shared input options of analyze and validate
        from recurct._cli_input import InputError, load_exams

        try:
            loaded = load_exams(exams, args)
        except InputError as exc:
            return cli_error(str(exc))
        for note in loaded.notes:
            sys.stderr.write(f"[recurct] {note}\n")
        exams = loaded.exams
    try:
        rep = reproduce(args.study, exams=exams, seed=args.seed, progress=True)
    except (OSError, ValueError, TypeError) as exc:
        return cli_error(str(exc))
    out = _out_folder(args)
    sys.stderr.write(f"[recurct] writing the table and figures to {out}/ ...\n")
    try:
        rep.save(out, overwrite=_replace(args, out))
    except FileExistsError as exc:
        return cli_error(_exists_message(exc, args))
    took = f"done in {time.perf_counter() - t0:.1f} s"
    return _report(rep.to_text(), rep.summary(), rep.ok, took)


def _report(text: str, summary: str, ok: bool, note: str) -> int:
    """Print the table and its summary, the timing note to stderr; the exit status."""
    print(text, end="")
    print()
    print(summary)
    sys.stderr.write(f"[recurct] {note}\n")
    return 0 if ok else 1


def _exists_message(exc: Exception, args: Any) -> str:
    """The refusal, with the ``--overwrite`` hint only where that option would help."""
    from recurct._outdir import OutputExistsError

    helps = isinstance(exc, OutputExistsError) and not getattr(args, "overwrite", False)
    return f"{exc} (pass --overwrite to replace it whole)" if helps else str(exc)


def _out_folder(args: Any) -> Path:
    """``--out``, or ``results/STUDY`` (``results/STUDY-seeds`` with ``--seeds``)."""
    if args.out:
        return Path(args.out)
    suffix = "-seeds" if getattr(args, "seeds", None) is not None else ""
    return Path("results") / f"{args.study}{suffix}"


def _replace(args: Any, out: Path) -> bool:
    """Replace ``out`` whole: with ``--overwrite``, or when ``--out`` was not given and the
    default folder holds a previous ``recurct reproduce`` result (its manifest says so), so
    that re-running the same command refreshes its own results and nothing else."""
    if getattr(args, "overwrite", False):
        return True
    if args.out:
        return False
    import json

    from recurct._outdir import MANIFEST

    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("kind", "")).startswith("reproduce")


def _cli_reproduce_seeds(args: Any, spec: str) -> int:
    from recurct.studies._base import parse_seeds
    from recurct.studies.validate import reproduce_seeds

    if args.exams is not None:
        return cli_error("--seeds runs the synthetic cohort; it cannot be combined with --exams")
    try:
        seeds = parse_seeds(spec)
    except ValueError as exc:
        return cli_error(str(exc))
    from recurct._outdir import OutputExistsError, output_folder

    out = _out_folder(args)
    t0 = time.perf_counter()
    runs = reproduce_seeds(args.study, seeds, progress=True)
    params = {"study": args.study, "seeds": seeds}
    try:
        with output_folder(
            out, overwrite=_replace(args, out), kind="reproduce-seeds", parameters=params
        ) as f:
            runs.table.write_csv(f.path / "seeds.csv")
            f.record("seeds.csv", runs.table.height)
            (f.path / "seeds.md").write_text(
                f"# {args.study}\n\n{runs.to_markdown()}\n{runs.headline()}\n",
                encoding="utf-8",
            )
    except OutputExistsError as exc:
        return cli_error(_exists_message(exc, args))
    took = f"{len(seeds)} seeds in {time.perf_counter() - t0:.1f} s"
    return _report(runs.to_text(), runs.headline(), runs.ok, took)

