"""Synthetic CT exam cohorts from a generative model calibrated to published figures.

Patient-level dose data cannot be shared, so benchmarks, teaching and the reproduction of
published tables use synthetic cohorts. The model (:mod:`recurct.synthetic.model`) describes
a health system's CT use: sites with a study period, patients with a clinical group, age and
sex, a renewal process of exams truncated at the period end, body regions, lognormal DLP and
effective dose ``k(region, age) x DLP``. Its free parameters are fitted to published marginals
by :func:`calibrate` (re-run with ``python -m recurct.synthetic.calibrate <profile>``).

Public functions: :func:`generate`, :func:`sites`, :func:`calibrate`, :func:`load_profile`,
:func:`describe`, :func:`profile_names`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from recurct.synthetic.generate import generate, iter_chunks, site_sizes, sites
from recurct.synthetic.model import (
    GROUPS,
    REGIONS,
    Profile,
    defaults,
    describe,
    load_profile,
    profile_names,
)

__all__ = [
    "GROUPS",
    "REGIONS",
    "CalibrationResult",
    "Profile",
    "calibrate",
    "cli_synth",
    "defaults",
    "describe",
    "generate",
    "iter_chunks",
    "load_profile",
    "profile_names",
    "site_sizes",
    "sites",
]


def __getattr__(name: str) -> Any:
    # ``calibrate`` is the module recurct.synthetic.calibrate, which is callable (it calls
    # its function calibrate()), imported on first use so that ``python -m`` runs it cleanly.
    if name in ("calibrate", "CalibrationResult"):
        import importlib

        mod = importlib.import_module("recurct.synthetic.calibrate")
        return mod if name == "calibrate" else mod.CalibrationResult
    raise AttributeError(f"module 'recurct.synthetic' has no attribute {name!r}")


def cli_synth(args: argparse.Namespace) -> int:
    """``recurct synth PROFILE [--n-patients N] [--seed S] [--out DIR] [--overwrite]``.

    Writes partitioned Parquet under ``--out`` (default ``data/synthetic/<profile>/``; a
    folder that is complete or absent, with its manifest, see :func:`generate`) and prints
    where, how many patients and exams, and how long it took. An existing non-empty folder is
    refused unless ``--overwrite`` (then it is replaced whole).
    """
    from recurct._cli_input import cli_error
    from recurct._outdir import OutputExistsError, check_output

    try:
        prof = load_profile(args.profile)
    except (ValueError, FileNotFoundError) as e:
        return cli_error(str(e))
    t0 = time.perf_counter()
    out = args.out if args.out is not None else True
    try:
        folder = generate(
            prof,
            n_patients=args.n_patients,
            seed=args.seed,
            out=out,
            overwrite=bool(getattr(args, "overwrite", False)),
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
    return 0
