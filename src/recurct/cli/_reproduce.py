"""Handler of ``recurct reproduce`` (the studies are :mod:`recurct.studies`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from recurct.cli._errors import EXIT_FAILED, EXIT_OK, InputError, cli_error
from recurct.cli._input import load_exams
from recurct.studies import STUDIES, reproduce

__all__ = ["cli_reproduce"]


def cli_reproduce(args: argparse.Namespace) -> int:
    """``recurct reproduce STUDY [--exams FILE] [--seed N | --seeds N|A-B|A,B] [--out DIR]``.

    Prints the comparison table, writes it (CSV, Markdown) and the figures (PNG, SVG) to
    ``--out`` (default ``results/STUDY/``). With ``--seeds``: runs the study on each seed (a
    progress bar on stderr), prints per figure the mean, SD, central 95% range and share of
    seeds within tolerance, and writes ``seeds.csv`` and ``seeds.md``. Exit code 0: every
    independent (``generated``) figure is within its tolerance (with ``--seeds``: its mean
    over the seeds within half the rounding unit + the calibration tolerance + z x its
    sampling SD over the square root of the number of seeds); 1: at least one
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
    return EXIT_OK if ok else EXIT_FAILED


def _exists_message(exc: Exception, args: argparse.Namespace) -> str:
    """The refusal, with the ``--overwrite`` hint only where that option would help."""
    from recurct._outdir import OutputExistsError

    helps = isinstance(exc, OutputExistsError) and not getattr(args, "overwrite", False)
    if not helps or "--overwrite" in str(exc):  # the library's message may already say it
        return str(exc)
    return f"{exc} (pass --overwrite to replace it whole)"


def _out_folder(args: argparse.Namespace) -> Path:
    """``--out``, or ``results/STUDY`` (``results/STUDY-seeds`` with ``--seeds``)."""
    if args.out:
        return Path(args.out)
    suffix = "-seeds" if getattr(args, "seeds", None) is not None else ""
    return Path("results") / f"{args.study}{suffix}"


def _replace(args: argparse.Namespace, out: Path) -> bool:
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


def _cli_reproduce_seeds(args: argparse.Namespace, spec: str) -> int:
    from recurct.studies._run import parse_seeds
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

