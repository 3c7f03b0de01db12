"""Handler of ``recurct reproduce`` (the studies are :mod:`recurct.studies`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from recurct.cli._errors import EXIT_FAILED, EXIT_OK, InputError, cli_error
from recurct.cli._input import Loaded, load_exams
from recurct.cli._options import check_input_options, given_input_options, input_paths
from recurct.errors import OutputExistsError, ParameterError, RecurctError
from recurct.studies import STUDIES, reproduce
from recurct.studies._run import site_refusal

__all__ = ["cli_reproduce"]


def cli_reproduce(args: argparse.Namespace) -> int:
    """``recurct reproduce STUDY [--exams FILE] [--seed N | --seeds N|A-B|A,B] [--out DIR]``.

    Prints the comparison table, writes it (CSV, Markdown) and the figures (PNG, SVG) to
    ``--out`` (default ``results/STUDY/``). With ``--seeds``: runs the study on each seed (a
    progress bar on stderr), prints per figure the mean, SD, range over the seeds and share
    of seeds within tolerance, and writes ``seeds.csv`` and ``seeds.md``. Exit code 0: every
    counted figure (``generated``, not a sample extreme; a derived row whose source is not
    compared) is within its tolerance (with ``--seeds``: its mean over the seeds within half
    the rounding unit + the calibration tolerance + z x its sampling SD over the square root
    of the number of seeds); 1: at least one is not, which includes a calibration target the
    profile's record says the fit did not meet (missed on every seed; none in the shipped
    profiles), or (one seed) the cohort's design differs from the paper's (a reduced cohort
    without one of its institutions); with ``--exams`` nothing computed from your file is
    compared, so 0 says nothing about it; 2: unknown study, bad or contradictory options,
    unreadable input, an output folder that cannot be written. The counted figures of the
    shipped studies are calibration targets (the synthetic cohort was fitted to them), and
    the output says so, and says when a seed run is one the profile was fitted on
    ("in-sample").

    The options and the output folder are checked before any work starts.
    """
    if args.study not in STUDIES:
        return cli_error(f"unknown study {args.study!r}; known studies: {', '.join(STUDIES)}")
    try:
        seeds = _checked_options(args)
    except (InputError, ParameterError) as exc:
        return cli_error(str(exc))
    out = _out_folder(args)
    try:
        _check_out(args, out)
    except OutputExistsError as exc:
        return cli_error(_exists_message(exc, args))
    except ParameterError as exc:  # a folder that cannot be created
        return cli_error(str(exc))
    if seeds is not None:
        return _cli_reproduce_seeds(args, seeds, out)
    t0 = time.perf_counter()
    exams = args.exams
    loaded = None
    if exams is not None:  # the shared input options of analyze and validate
        try:
            loaded = load_exams(exams, args)
        except InputError as exc:
            return cli_error(str(exc))
        for note in loaded.notes:
            sys.stderr.write(f"[recurct] {note}\n")
        if loaded.exams.height == 0:  # a file without data rows, or all left out
            from recurct.cli._tables import _no_rows

            return cli_error(_no_rows(loaded))
        exams = loaded.exams
    seed = 0 if args.seed is None else args.seed
    try:
        rep = reproduce(args.study, exams=exams, seed=seed, progress=True)
    except (RecurctError, OSError, ValueError) as exc:  # bad input; any other error is a bug
        refused = site_refusal(exc)
        if refused is not None and loaded is not None:
            return cli_error(_missing_site_message(*refused, loaded))
        return cli_error(str(exc))
    if loaded is not None:  # what the result came from: the file, its rows, those left out
        rep = dataclasses.replace(
            rep,
            input_path=Path(loaded.source),
            n_rows_in=loaded.n_rows_in,
            dropped_by_reason=dict(loaded.dropped),
        )
    sys.stderr.write(f"[recurct] writing the table and figures to {out}/ ...\n")
    try:
        rep.save(out, overwrite=_replace(args, out))
    except FileExistsError as exc:
        return cli_error(_exists_message(exc, args))
    took = f"done in {time.perf_counter() - t0:.1f} s"
    return _report(rep.to_text(), rep.summary(), rep.ok, took)


def _missing_site_message(study: str, rows: list[int], n_patients: int, loaded: Loaded) -> str:
    """The study's refusal of patients without a facility (``rows``: of the exam table
    analysed), naming the rows of the file (and their lines of a CSV file, their files and
    rows of a folder of Parquet files) and what the command line offers."""
    from recurct.cli._input import lines_text
    from recurct.studies._run import missing_site_text

    kept = loaded.exams.height
    if loaded.dropped or kept != loaded.n_rows_in:  # the rows of the file are not known
        of, at = f"of the {kept:,} exams kept after --drop-bad", ""
    else:
        of = "of the file" if loaded.kind == "csv" else "of the table read"
        at = lines_text(rows[:5], loaded.lines)
    return (
        f"{loaded.source}: {study} compares institutions and every patient needs a "
        f"'facility': {missing_site_text(rows, n_patients, of, at)}; fill it in (e.g. "
        "'unknown', which then counts as an institution of its own), or map another column "
        "to it with --map 'their name=facility'; recurct reproduce rehani2020 and recurct "
        f"analyze {loaded.source} --by facility report such patients apart"
    )


def _checked_options(args: argparse.Namespace) -> list[int] | None:
    """Refuse contradictory options and bad values before any work; the seeds of ``--seeds``
    (None without).

    ``--seed`` and ``--seeds`` choose the synthetic cohort: neither goes with the other nor
    with ``--exams`` (your file); the reading options go with ``--exams`` only.
    """
    from recurct.studies._run import parse_seeds

    seeds_spec = getattr(args, "seeds", None)
    if seeds_spec is not None and args.exams is not None:
        raise InputError("--seeds runs the synthetic cohort; it cannot be combined with --exams")
    if seeds_spec is not None and args.seed is not None:
        raise InputError(
            f"--seed {args.seed} and --seeds {seeds_spec} contradict each other: --seeds "
            "chooses the seeds (e.g. --seeds 1 for seed 0, --seeds 7,8,9), --seed one cohort"
        )
    if args.exams is not None and args.seed is not None:
        raise InputError(
            "--seed chooses the synthetic cohort; it cannot be combined with --exams (your "
            "file is analysed as it is)"
        )
    if args.out is not None and not args.out.strip():
        raise InputError("--out is empty: give a folder (default results/STUDY/)")
    if args.exams is None:
        given = given_input_options(args)
        if given:
            raise InputError(
                f"{', '.join(given)}: option(s) for reading your exam file; they apply with "
                "--exams FILE only (the synthetic cohort needs none)"
            )
    else:
        check_input_options(args)
    return None if seeds_spec is None else parse_seeds(seeds_spec)


def _report(text: str, summary: str, ok: bool, note: str) -> int:
    """Print the table and its summary, the timing note to stderr; the exit status."""
    print(text, end="")
    print()
    print(summary)
    sys.stderr.write(f"[recurct] {note}\n")
    return EXIT_OK if ok else EXIT_FAILED


def _exists_message(exc: Exception, args: argparse.Namespace) -> str:
    """The refusal, with the ``--overwrite`` hint only where that option would help (a
    folder that holds files, without ``--overwrite``; never a file, an input, or a folder
    that cannot be created)."""
    helps = (
        isinstance(exc, OutputExistsError)
        and not getattr(args, "overwrite", False)
        and "already holds files" in str(exc)
    )
    if not helps or "--overwrite" in str(exc):  # the library's message may already say it
        return str(exc)
    return f"{exc} (pass --overwrite to replace it whole)"


def _out_folder(args: argparse.Namespace) -> Path:
    """``--out``, or ``results/STUDY`` (``results/STUDY-seeds`` with ``--seeds``)."""
    if args.out is not None:
        return Path(args.out)
    suffix = "-seeds" if getattr(args, "seeds", None) is not None else ""
    return Path("results") / f"{args.study}{suffix}"


def _check_out(args: argparse.Namespace, out: Path) -> None:
    """Refuse an output folder that cannot be written, before any work starts: a file, a
    folder that holds files (without ``--overwrite``; the default folder may hold this
    command's own earlier result), one that is, holds or lies inside an input (``--exams``,
    ``--region-rules``, a ``--table`` or ``--fallback`` CSV; whatever ``--overwrite`` says), or
    one that cannot be created (a file in its path, a folder that is not writable)."""
    from recurct._outdir import check_inputs, check_target

    name = f"--out {out}" if args.out is not None else None
    inputs = input_paths(args, args.exams)
    check_inputs(out, inputs, name=name)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"--out {out} is a file, not a folder: give the path of a new or empty folder "
            "(--overwrite replaces a folder, never a file)"
        )
    check_target(out, overwrite=_replace(args, out), inputs=inputs, name=name)


def _replace(args: argparse.Namespace, out: Path) -> bool:
    """Replace ``out`` whole: with ``--overwrite``, or when ``--out`` was not given and the
    default folder holds a previous ``recurct reproduce`` result (its manifest says so) and
    nothing else, so that re-running the same command refreshes its own results and nothing
    else.

    Raises
    ------
    OutputExistsError
        The default folder holds a previous result and files that are not part of it (added
        or changed since): replacing it would delete them.
    """
    if getattr(args, "overwrite", False):
        return True
    if args.out is not None:
        return False
    import json

    from recurct._outdir import MANIFEST, foreign_files

    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (isinstance(manifest, dict) and str(manifest.get("kind", "")).startswith("reproduce")):
        return False
    foreign = foreign_files(out)
    if foreign is None:
        return False
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise OutputExistsError(
            f"{out} holds an earlier recurct result and files that are not (or no longer) "
            f"recurct's ({', '.join(foreign[:5])}{more}): refreshing it would delete them; "
            "move them out of the folder, write to another folder with --out DIR, or pass "
            "--overwrite to replace the folder whole "
            "(deleting them)"
        )
    return True


def _cli_reproduce_seeds(args: argparse.Namespace, seeds: list[int], out: Path) -> int:
    from recurct._outdir import output_folder
    from recurct.studies.validate import reproduce_seeds

    t0 = time.perf_counter()
    runs = reproduce_seeds(args.study, seeds, progress=True)
    params = {"study": args.study, "seeds": seeds}
    try:
        with output_folder(
            out,
            overwrite=_replace(args, out),
            kind="reproduce-seeds",
            parameters=params,
            hashes=True,
        ) as f:
            runs.table.write_csv(f.path / "seeds.csv")
            f.record("seeds.csv", runs.table.height)
            (f.path / "seeds.md").write_text(
                f"# {args.study}\n\n{runs.to_markdown()}\n{runs.summary()}\n",
                encoding="utf-8",
            )
    except OutputExistsError as exc:
        return cli_error(_exists_message(exc, args))
    took = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} in {time.perf_counter() - t0:.1f} s"
    return _report(runs.to_text(), runs.summary(), runs.ok, took)
