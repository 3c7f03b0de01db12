"""Handler of ``recurct synth`` (the generator is :mod:`recurct.synthetic`)."""

from __future__ import annotations

import argparse
import time

from recurct.cli._errors import EXIT_OK, cli_error

__all__ = ["cli_synth"]


def cli_synth(args: argparse.Namespace) -> int:
    """``recurct synth PROFILE [--n-patients N] [--seed S] [--out DIR] [--overwrite]``.

    ``PROFILE`` is a shipped profile's name or the path of a profile TOML file (its errors
    name the file and the key). Writes partitioned Parquet under ``--out`` (default
    ``data/synthetic/<profile>/``; a folder that is complete or absent, with its manifest, see
    :func:`recurct.synthetic.write_cohort`) and prints where, how many patients and exams, and
    how long it took. An existing non-empty folder is refused unless ``--overwrite`` (then it
    is replaced whole); a folder that is, holds or lies inside the profile file it reads, or
    that cannot be created, is refused whatever ``--overwrite`` says. All before any work.
    A file that cannot be written (a full disk) is one ``recurct:`` line naming it, exit 2.
    """
    import os
    from pathlib import Path

    from recurct._outdir import OutputExistsError, check_output, check_target
    from recurct.synthetic import load_profile, write_cohort

    if args.out is not None and not args.out.strip():
        return cli_error("--out is empty: give a folder (default data/synthetic/PROFILE/)")
    try:
        prof = load_profile(args.profile)
    except (ValueError, FileNotFoundError) as e:
        return cli_error(str(e))
    overwrite = bool(getattr(args, "overwrite", False))
    out = Path("data/synthetic") / prof.name if args.out is None else Path(args.out)
    # a profile is read from a file when it is given as a path with a suffix (load_profile)
    given = Path(args.profile)
    inputs = [given] if given.suffix and os.path.lexists(given) else []
    name = None if args.out is None else f"--out {args.out}"
    try:
        check_target(out, overwrite=overwrite, inputs=inputs, name=name)
    except (ValueError, OutputExistsError) as e:
        return cli_error(str(e))
    t0 = time.perf_counter()
    try:
        folder = write_cohort(
            args.profile,  # (a file's path, not the Profile: the manifest names the file)
            args.out,
            n_patients=args.n_patients,
            seed=args.seed,
            overwrite=overwrite,
        )
    except (ValueError, OutputExistsError) as e:
        return cli_error(str(e))
    manifest = check_output(folder) or {}
    params = manifest.get("parameters", {})
    print(
        f"wrote {params.get('patients', 0):,} patients, {manifest.get('rows', 0):,} exams "
        f"(synthetic profile {prof.name!r}, seed {args.seed}) to {folder} "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return EXIT_OK
