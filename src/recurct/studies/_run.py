"""The common path of every study's ``reproduce()``: the exams, the patients, the measured
figures, the comparison table; and the seeds of a run on many seeds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct.errors import ParameterError
from recurct.studies._figures import (
    SIZE_DEPENDENT_COMPARISONS,
    Measured,
    Published,
    calibration_record,
    calibration_tolerances,
    comparison_table,
    fit_seeds,
    sd_scale,
    validation_record,
)
from recurct.studies._reproduction import Reproduction

__all__ = [
    "MAX_SEEDS",
    "load_exams",
    "opt",
    "parse_seeds",
    "progress_fn",
    "run_study",
    "share_measured",
]


#: Most seeds one run takes (``--seeds``): a full-scale study takes seconds per seed, so
#: 10,000 seeds are already a day's computing; more is a typing error, not a plan.
MAX_SEEDS = 10_000
#: Seeds are stored as 64-bit integers (``seeds.csv``).
_SEED_LIMIT = 2**63


def parse_seeds(spec: str | int | Sequence[int]) -> list[int]:
    """Seeds from ``"20"`` (seeds 0..19), ``"100-119"`` (a range, both ends included),
    ``"1,5,9"`` (a list) or a sequence of ints: at most :data:`MAX_SEEDS` distinct seeds in
    0 .. 2**63 - 1; :class:`~recurct.errors.ParameterError` (a ``ValueError``) otherwise,
    before any list is built."""
    if isinstance(spec, int):
        spec = str(spec)
    if not isinstance(spec, str):
        seeds = [int(s) for s in spec]
    else:
        text = spec.strip()
        try:
            if "," in text:
                seeds = [int(s) for s in text.split(",") if s.strip()]
            elif "-" in text[1:]:
                i = text.index("-", 1)
                lo, hi = int(text[:i]), int(text[i + 1 :])
                if hi < lo:
                    raise ValueError
                _check_count(spec, hi - lo + 1)
                seeds = list(range(lo, hi + 1))
            else:
                n = int(text)
                if n < 1:
                    raise ValueError
                _check_count(spec, n)
                seeds = list(range(n))
        except ValueError as exc:
            if isinstance(exc, ParameterError):
                raise
            raise ParameterError(
                f"--seeds {spec!r}: give a count (20), a range (100-119) or a list (1,5,9)"
            ) from None
    _check_count(spec, len(seeds))
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ParameterError(f"seeds must be distinct non-negative integers, got {spec!r}")
    if max(seeds) >= _SEED_LIMIT:
        raise ParameterError(f"--seeds {spec!r}: a seed must be below 2**63")
    return seeds


def _check_count(spec: object, n: int) -> None:
    if n > MAX_SEEDS:
        raise ParameterError(
            f"--seeds {spec!r}: {n:,} seeds; at most {MAX_SEEDS:,} in one run (each seed is "
            "a full run of the study)"
        )


def progress_fn(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    """A function reporting progress lines: a callable as given, True -> stderr, False -> none."""
    if callable(progress):
        return progress
    if progress:
        import sys

        def report(msg: str) -> None:
            sys.stderr.write(f"[recurct] {msg}\n")
            sys.stderr.flush()

        return report
    return lambda msg: None


_WARM_PATIENTS = 200


def warm_up(profile: str, seed: int, thresholds: tuple[float, ...]) -> threading.Thread:
    """Compile the engine's kernels in a background thread while the cohort is generated.

    The thread generates a cohort of a few patients of the same profile (the same column
    types, so the same kernel specialisations) and computes its patients table, so a first run
    on an empty numba cache compiles the engine (about 1.6 s on the quiet development machine,
    README; 2.5-2.9 s measured while other work ran) beside the generation
    instead of after it; numba's compiler lock makes the main thread wait for, then reuse, a
    kernel being compiled. An error here is left for the main thread's own call to raise.
    """

    def run() -> None:
        import recurct.synthetic as synthetic
        from recurct import cumulative_dose

        try:
            small = synthetic.generate(profile, n_patients=_WARM_PATIENTS, seed=seed)
            cumulative_dose(small, thresholds=thresholds)
        except Exception:
            pass

    thread = threading.Thread(target=run, name="recurct-warm-up", daemon=True)
    thread.start()
    return thread


def load_exams(
    profile: str,
    exams: Any,
    seed: int,
    n_patients: int | None,
    report: Callable[[str], None],
    thresholds: tuple[float, ...] = (100.0,),
) -> tuple[pl.DataFrame, Literal["synthetic", "your data"]]:
    """The exam table to analyse: the user's (validated) or the study's synthetic cohort."""
    from recurct._frames import to_polars

    if exams is None:
        import recurct.synthetic as synthetic

        n = "the profile's" if n_patients is None else f"{n_patients:,}"
        report(f"generating the synthetic '{profile}' cohort ({n} patients, seed {seed}) ...")
        warm_up(profile, seed, thresholds)
        ex = synthetic.generate(profile, n_patients=n_patients, seed=seed)
        report(f"generated {ex.height:,} exams")
        return ex, "synthetic"
    if n_patients is not None:
        raise ParameterError("n_patients only applies to the synthetic cohort (exams=None)")
    if isinstance(exams, (str, Path)):
        from recurct.io import read_exams

        report(f"reading {exams} ...")
        exams = read_exams(exams).exams
    from recurct.schema import validate

    df, _ = to_polars(exams)
    return validate(df), "your data"


def share_measured(k: int, n: int, note: str = "") -> Measured:
    """``100 k / n`` in % with its Wilson 95% CI."""
    if n == 0:
        return Measured(None, note=note or "no patients")
    from recurct.stats import proportion_ci

    lo, hi = proportion_ci(k, n)
    return Measured(100.0 * k / n, 100.0 * float(lo), 100.0 * float(hi), note)


def opt(v: Any, scale: float = 1.0) -> float | None:
    """``float(v) * scale``, or None for a null."""
    return None if v is None else float(v) * scale


def run_study(
    *,
    study: str,
    source: str,
    published: Mapping[str, Published],
    not_published: tuple[str, ...],
    thresholds: tuple[float, ...],
    measure: Callable[[pl.DataFrame, pl.DataFrame, str], tuple[dict[str, Measured], dict]],
    figures: Callable[[Reproduction], dict[str, Any]],
    size_dependent: tuple[str, ...],
    exams: Any,
    seed: int,
    progress: bool | Callable[[str], None],
    n_patients: int | None,
    caveat: str = "",
    extremes_checked: Mapping[str, Any] | None = None,
) -> Reproduction:
    """The common path of every study's ``reproduce()``.

    Load the exams (the study's synthetic profile when ``exams`` is None), compute the patients
    table with :func:`recurct.cumulative_dose` at ``thresholds``, ``measure(exams, patients,
    mode)`` the figures, and compare them with ``published`` (in synthetic mode, with the
    profile's calibration tolerances, its calibration record and its validation record). On
    a reduced synthetic cohort (``n_patients``) the ``size_dependent`` figures (counts), the
    sample extremes and the per-site extremes (:data:`~recurct.studies._figures.
    SIZE_DEPENDENT_COMPARISONS`) are reported but not compared ("size-dependent: not compared
    at this size"), and the sampling SDs are scaled by ``sqrt(N / n)``. ``caveat``: what a
    run on the user's table does not do as the paper did (its cohort selection), printed in
    the summary in that mode. ``extremes_checked``: the rate at which the sample extremes
    fell outside their stored ranges on seeds outside the validation record, stated in the
    legend (:func:`~recurct.studies._reproduction.extremes_note`).
    """
    import time

    from recurct import _checks, cumulative_dose

    t0 = time.perf_counter()
    if n_patients is not None:
        n_patients = _checks.integer(n_patients, f"{study}.reproduce", "n_patients", lo=1)
    report = progress_fn(progress)
    ex, mode = load_exams(study, exams, seed, n_patients, report, thresholds)
    report("cumulative dose per patient ...")
    patients = cumulative_dose(ex, thresholds=thresholds)
    report("statistics ...")
    measured, extra = measure(ex, patients, mode)
    incomparable: dict[str, str] = {}
    validation = validation_record(study) if mode == "synthetic" else {}
    fit = calibration_record(study) if mode == "synthetic" else {}
    if n_patients is not None:
        why = (
            f"size-dependent: not compared at this size (a reduced cohort of {n_patients:,} "
            "patients: counts, sample extremes and per-site extremes change with the cohort "
            "size)"
        )
        keys = set(size_dependent) | {
            k for k, f in published.items() if f.compare in SIZE_DEPENDENT_COMPARISONS
        }
        incomparable = {k: why for k in published if k in keys}
    table = comparison_table(
        published,
        measured,
        calibration=calibration_tolerances(study) if mode == "synthetic" else {},
        mode=mode,
        incomparable=incomparable,
        validation=validation,
        sd_scale=sd_scale(validation, None if n_patients is None else patients.height),
        fit=fit,
        n_patients=patients.height if mode == "synthetic" else None,
    )
    rep = Reproduction(
        study=study,
        source=source,
        table=table,
        mode=mode,
        patients=patients,
        exams=ex,
        extra=extra,
        not_published=not_published,
        seconds=time.perf_counter() - t0,
        seed=seed if mode == "synthetic" else None,
        fit_seeds=fit_seeds(fit),
        validation_seeds=validation.get("n_seeds"),
        input_path=Path(exams) if isinstance(exams, str | Path) else None,
        caveat=caveat if mode == "your data" else "",
        extremes_checked=_still_valid(extremes_checked, validation),
        _figure_fn=figures,
    )
    return rep if _kind_of(exams) != "pandas" else _to_pandas(rep)


def _still_valid(
    checked: Mapping[str, Any] | None, validation: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """``checked`` (a study's ``EXTREMES_ON_NEW_SEEDS``) if the ranges it was measured against
    (its ``ranges``: figure -> (q_lo, q_hi)) are those of the validation record, else None (a
    record written since makes the count stale; and no record: your data)."""
    if not checked or not validation:
        return None
    figures = validation.get("figures", {})
    for key, (lo, hi) in checked.get("ranges", {}).items():
        rec = figures.get(key, {})
        if rec.get("q_lo") != lo or rec.get("q_hi") != hi:
            return None
    return checked


def _kind_of(exams: Any) -> str:
    """The library of the user's exam table ("pandas", "polars", ...); "polars" for None or a
    path (the synthetic cohort, or a file read here)."""
    from recurct._frames import frame_kind

    if exams is None or isinstance(exams, str | Path):
        return "polars"
    try:
        return frame_kind(exams)
    except TypeError:  # another input that to_polars reads (a reader's result)
        return "polars"


def _to_pandas(rep: Reproduction) -> Reproduction:
    """``rep`` with every table as pandas (its figures drawn from the polars tables)."""
    import dataclasses

    from recurct._frames import from_polars

    def pandas(x: Any) -> Any:
        return from_polars(x, "pandas") if isinstance(x, pl.DataFrame) else x

    def figures(_: Reproduction) -> dict[str, Any]:
        return rep.figures()

    return dataclasses.replace(
        rep,
        table=pandas(rep.table),
        patients=pandas(rep.patients),
        exams=pandas(rep.exams),
        extra={k: pandas(v) for k, v in rep.extra.items()},
        _figure_fn=figures,
    )
