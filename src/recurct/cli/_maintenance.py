"""The maintainers' commands: re-run a shipped calibration, validate a profile on many seeds.

``python -m recurct.synthetic.calibration PROFILE`` (:func:`calibrate_main`) refits a shipped
profile (:data:`recurct.synthetic.calibration.CALIBRATIONS`) and writes it, keeping the
profile's ``[calibration] notes`` (its fit history); ``python -m recurct.studies.validate STUDY
--seeds 1000-1099 --write`` (:func:`validate_main`) stores the study's spread over validation
seeds in the profile. Both exit 0 when every target is met, 1 when one is not.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from recurct.cli._errors import EXIT_FAILED, EXIT_OK

__all__ = ["calibrate_main", "validate_main"]


def calibrate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m recurct.synthetic.calibration PROFILE [--seed S | --seeds A-B]
    [--max-evaluations N] [--fraction F] [--out PATH]``."""
    from recurct.studies._run import parse_seeds
    from recurct.synthetic.calibration import CALIBRATIONS, calibrate
    from recurct.synthetic.model import PROFILE_DIR, load_profile

    ap = argparse.ArgumentParser(prog="python -m recurct.synthetic.calibration")
    ap.add_argument("profile", choices=sorted(CALIBRATIONS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--seeds",
        default=None,
        metavar="N | A-B | A,B,...",
        help="fit the mean over these seeds (common random numbers) instead of one seed",
    )
    ap.add_argument("--out", default=None, help="write the fitted profile here, not in place")
    ap.add_argument("--max-evaluations", type=int, default=200)
    ap.add_argument("--fraction", type=float, default=None)
    args = ap.parse_args(argv)
    spec = CALIBRATIONS[args.profile]
    opts = dict(spec["options"])
    # the fit seeds: --seeds, else the shipped spec's (a profile fitted on the mean over seeds)
    fit_seeds = opts.pop("seeds", None) if args.seeds is None else parse_seeds(args.seeds)
    if args.fraction is not None:
        opts["fraction"] = args.fraction

    def show(i: int, stats: dict[str, float], cost: float) -> None:
        keys = [k for k in spec["targets"] if k in stats]
        vals = ", ".join(f"{k}={stats[k]:.4g}" for k in keys)
        print(f"[{i:3d}] cost={cost:9.3f} {vals}", flush=True)

    res = calibrate(
        args.profile,
        spec["targets"],
        spec["free_params"],
        seed=args.seed,
        seeds=fit_seeds,
        out=PROFILE_DIR / f"{args.profile}.toml" if args.out is None else args.out,
        max_evaluations=args.max_evaluations,
        callback=show,
        notes=str((load_profile(args.profile).calibration or {}).get("notes", "")),
        **opts,
    )
    print(f"fitted in {res.seconds:.0f} s, {res.n_evaluations} evaluations -> {res.path}")
    for p, v in res.fitted.items():
        print(f"  {p} = {v:.6g}")
    for s, t in res.targets.items():
        got = res.achieved[t.get("check", s)]
        ok = "ok " if res.within[s] else "OUT"
        print(f"  {ok} {s}: target {t.get('value', (t.get('min'), t.get('max')))}, got {got:.6g}")
    return EXIT_OK if all(res.within.values()) else EXIT_FAILED


def validate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m recurct.studies.validate STUDY [--seeds 1000-1099] [--write]``."""
    from recurct.studies import STUDIES
    from recurct.studies.validate import validate

    ap = argparse.ArgumentParser(prog="python -m recurct.studies.validate")
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--seeds", default="1000-1099", help="validation seeds (a range or list)")
    ap.add_argument("--write", action="store_true", help="store the record in the profile")
    args = ap.parse_args(argv)
    rec = validate(args.study, args.seeds, write=args.write, progress=True)
    for key, v in rec["figures"].items():
        print(f"{key:28s} mean {v['mean']:<12.6g} sd {v['sd']:<10.4g} "
              f"95% {v['q_lo']:.6g} - {v['q_hi']:.6g}")  # fmt: skip
    return EXIT_OK
