"""The common path of every study's ``reproduce()``: the exams, the patients, the measured
figures, the comparison table; and the seeds of a run on many seeds."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct.errors import DataError, ParameterError
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
    "NOTES_KEY",
    "check_sites",
    "load_exams",
    "missing_site_text",
    "opt",
    "parse_seeds",
    "progress_fn",
    "run_study",
    "share_measured",
    "site_refusal",
]


#: Most seeds one run takes (``--seeds``): a full-scale study takes seconds per seed, so
#: 10,000 seeds are already a day's computing; more is a typing error, not a plan.
MAX_SEEDS = 10_000
#: Seeds are stored as 64-bit integers (``seeds.csv``).
_SEED_LIMIT = 2**63
#: The key of ``extra`` under which a study's ``measure`` returns notes on your table (lines
#: of the summary, after the study's caveat); taken out of ``extra`` by :func:`run_study`.
NOTES_KEY = "_notes"


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
) -> tuple[pl.DataFrame, Literal["synthetic", "your data"], dict[str, Any]]:
    """The exam table to analyse: the user's (validated) or the study's synthetic cohort;
    ``(exams, mode, input)`` with ``input`` what was read (``n_rows_in``, ``n_rows_out``,
    ``dropped_by_reason``; empty for the synthetic cohort).

    Your table (``exams``: a frame or a path read with :func:`recurct.read_exams`) is refused
    when it has no rows; where ``effective_dose_msv`` is missing (the column, or values in
    it) and ``dlp_mgycm`` and ``body_region`` are there, the dose is computed by the rule of
    ``recurct reproduce --exams`` (:func:`recurct.dose.effective.fill_dose_from_dlp`: table
    ``aapm96``, its warnings given in words ``reproduce`` can follow) and recorded in
    ``dose_method``. A ``seed`` other than 0 (any integer type; not a bool) is refused.
    For the synthetic cohort, a ``seed`` that is not an integer >= 0 is refused before any
    work (``"rehani2020.reproduce: seed must be an integer >= 0, got -1"``).
    The errors name ``profile`` (the study) and never a parameter its ``reproduce`` lacks."""
    from recurct._frames import to_polars

    if exams is None:
        import recurct.synthetic as synthetic
        from recurct import _checks

        seed = _checks.integer(seed, f"{profile}.reproduce", "seed")
        n = "the profile's" if n_patients is None else f"{n_patients:,}"
        report(f"generating the synthetic '{profile}' cohort ({n} patients, seed {seed}) ...")
        warm_up(profile, seed, thresholds)
        ex = synthetic.generate(profile, n_patients=n_patients, seed=seed)
        report(f"generated {ex.height:,} exams")
        return ex, "synthetic", {}
    if n_patients is not None:
        raise ParameterError("n_patients only applies to the synthetic cohort (exams=None)")
    if seed is not None and not _is_zero(seed):
        raise ParameterError(
            f"{profile}.reproduce: seed={seed!r} chooses the synthetic cohort (exams=None); it "
            "cannot be combined with exams (your table is analysed as it is)"
        )
    from recurct.schema import ExamValidationError, validate

    what = "the exam table"
    dropped: dict[str, int] = {}
    n_in: int | None = None
    is_path = isinstance(exams, (str, Path))
    try:
        if is_path:
            from recurct.io import read_exams

            report(f"reading {exams} ...")
            what = str(exams)
            read = read_exams(exams)
            exams = read.exams
            dropped = dict(read.report.dropped_by_reason)
            n_in = read.report.n_rows_in
        df, _ = to_polars(exams)
        if df.height == 0:
            raise DataError(f"{profile}.reproduce: {what} has no data rows: nothing to analyse")
        n_in = df.height if n_in is None else n_in
        df = validate(_dose_from_dlp(df, profile, validate))
    except ExamValidationError as exc:
        raise _reworded(exc, profile, is_path) from None
    return (
        df,
        "your data",
        {
            "n_rows_in": n_in,
            "n_rows_out": df.height,
            "dropped_by_reason": dropped,
        },
    )


def _is_zero(seed: object) -> bool:
    """``seed`` is the integer 0 of any integer type (``0``, ``np.int64(0)``), not ``False``."""
    import numbers

    return isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed == 0


#: The end of :func:`recurct.schema.validate`'s message, naming its own ``strict``.
_STRICT_HINT = (
    "or pass strict=False to drop the bad rows and set bad optional attributes null (a "
    "missing column cannot be dropped)."
)


def _reworded(exc: Any, study: str, from_path: bool) -> Exception:
    """``exc`` (an :class:`~recurct.errors.ExamValidationError`) with a hint that names what
    ``reproduce`` takes: it has no ``strict``, so the bad rows are dropped by validating (or
    reading) first; and a missing ``effective_dose_msv`` says how to compute it."""
    import polars as pl

    first = (
        "recurct.read_exams(path, strict=False).exams"
        if from_path
        else "recurct.validate(exams, strict=False)"
    )
    hint = (
        f"or drop the bad rows first: {study}.reproduce has no strict=, so pass it "
        f"{first} (which drops them with a warning counting them, and sets bad optional "
        "attributes null)."
    )
    text = str(exc)
    text = text.replace(_STRICT_HINT, hint) if _STRICT_HINT in text else f"{text}\n{hint}"
    problems = getattr(exc, "problems", None)
    dose = (pl.col("column") == "effective_dose_msv") & pl.col("reason").str.contains("missing")
    if problems is not None and problems.filter(dose).height:
        text += (
            f"\n{study}.reproduce computes a missing effective_dose_msv only from dlp_mgycm and "
            "body_region (table 'aapm96', as recurct reproduce --exams does); otherwise compute "
            "it with recurct.effective_dose(exams, table=...) and pass the result."
        )
    new = type(exc)(exc.problems, exc.source, exc.hint, exc.lines)
    new.args = (text,)
    return new


#: The advice on children's doses a caller of ``reproduce`` (which has no ``table``) can
#: follow, in place of :data:`recurct.dose.effective.CHILD_TABLES_HINT`.
_TABLE_INSTEAD = (
    "(compute the dose with recurct.effective_dose(exams, table='shrimpton_age') or "
    "table='nci_icrp103_120kv', and pass the result)"
)


def _dose_from_dlp(df: pl.DataFrame, study: str, validate: Callable[..., Any]) -> pl.DataFrame:
    """``df`` with ``effective_dose_msv`` computed from ``dlp_mgycm`` and ``body_region``
    where it is missing, by the rule of ``recurct reproduce --exams``
    (:func:`recurct.dose.effective.fill_dose_from_dlp` with :func:`recurct.effective_dose`'s
    default table, ``aapm96``; the supplied doses kept; ``df`` validated first when doses
    are computed); ``df`` as it is where nothing is missing or there is no DLP and region."""
    from recurct._stacklevel import user_stacklevel
    from recurct.dose import DoseConversionError
    from recurct.dose.effective import CHILD_TABLES_HINT, fill_dose_from_dlp
    from recurct.errors import DoseConversionWarning
    from recurct.io.exams import READ_REQUIRED

    try:
        out, said = fill_dose_from_dlp(df, prepare=lambda d: validate(d, required=READ_REQUIRED))
        for text in said:  # given again: the study's, with a hint that reproduce can follow
            warnings.warn(
                f"{study}.reproduce computed effective_dose_msv from dlp_mgycm "
                f"(recurct.effective_dose, table 'aapm96', as recurct reproduce --exams "
                f"does): {text.replace(CHILD_TABLES_HINT, _TABLE_INSTEAD)}",
                DoseConversionWarning,
                stacklevel=user_stacklevel(),
            )
        return out
    except DoseConversionError as exc:
        lines = str(exc).splitlines()
        if lines and lines[-1].startswith("Fix the data"):
            lines = lines[:-1]
        raise DoseConversionError(
            "\n".join(
                [
                    f"{study}.reproduce: effective_dose_msv is missing and the DLP could not be "
                    "converted (recurct.effective_dose, table 'aapm96', as recurct reproduce "
                    "--exams does): " + (lines[0] if lines else ""),
                    *lines[1:],
                    f"Fix the data, or compute the dose yourself and pass the result to "
                    f"{study}.reproduce: recurct.effective_dose(exams, table=..., "
                    "fallback=...) chooses the table and a fallback for untabulated regions.",
                ]
            ),
            exc.problems,
        ) from None


class _MissingSiteError(DataError):
    """A study that compares institutions got patients without a facility: ``rows`` (the
    0-based rows of the exam table analysed of their exams), ``n_patients`` (how many) and
    ``study``; the command line names the file's rows instead (:func:`site_refusal`)."""

    def __init__(self, study: str, rows: list[int], n_patients: int) -> None:
        self.study, self.rows, self.n_patients = study, rows, n_patients
        super().__init__(
            f"{study}.reproduce compares institutions and every patient needs a 'facility': "
            f"{missing_site_text(rows, n_patients, 'of the exam table')}; fill it in (e.g. "
            "'unknown', which then counts as an institution of its own) or leave those exams "
            "out (rehani2020 and recurct.stats.magnitude(..., by='facility') report such "
            "patients apart)"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable
        return (type(self), (self.study, self.rows, self.n_patients))


def missing_site_text(rows: list[int], n_patients: int, of: str, at: str = "") -> str:
    """``1 patient has none: their 3 exams are rows 17, 18, 19 of the exam table, counted
    from 0``: the first five ``rows``, ``of`` what, and ``at``, where they are in a file, as
    the command line writes it (``" (lines 19, 20, 21 of the file)"``, ``" (row 0 of
    b.parquet, row 1 of b.parquet)"``: :func:`recurct.cli._input.lines_text` of the first
    five rows), after them."""
    first = ", ".join(str(r) for r in rows[:5])
    more = f" and {len(rows) - 5:,} more" if len(rows) > 5 else ""
    who = "1 patient has none" if n_patients == 1 else f"{n_patients:,} patients have none"
    exams = "1 exam is row" if len(rows) == 1 else f"{len(rows):,} exams are rows"
    return f"{who}: their {exams} {first}{more} {of}, counted from 0{at}"


def site_refusal(exc: BaseException) -> tuple[str, list[int], int] | None:
    """``(study, rows, n_patients)`` of a study's refusal of patients without a facility
    (:func:`check_sites`: the 0-based rows of the exam table analysed of their exams, how
    many patients), for the command line to name the rows of the file; None for any other
    error."""
    if isinstance(exc, _MissingSiteError):
        return exc.study, list(exc.rows), exc.n_patients
    return None


def check_sites(study: str, exams: pl.DataFrame, patients: pl.DataFrame) -> None:
    """Raise a :class:`~recurct.errors.DataError` when a patient has no ``facility`` (none
    of his exams has one), naming the rows of his exams (:func:`site_refusal` reads them)."""
    missing = patients.filter(pl.col("facility").is_null())
    if not missing.height:
        return
    theirs = pl.col("facility").is_null() & pl.col("patient_id").is_in(missing["patient_id"])
    rows = exams.with_row_index("__row").filter(theirs)["__row"].to_list()
    raise _MissingSiteError(study, [int(r) for r in rows], missing.height)


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
    the summary in that mode; ``measure`` may add notes on your table (patients left out of
    some figures) under ``extra[NOTES_KEY]``, summary lines after it. ``extremes_checked``:
    the rate at which the sample extremes fell outside their stored ranges on seeds outside
    the validation record, stated in the legend (:func:`~recurct.studies._reproduction.
    extremes_note`).

    A synthetic cohort's ``seed`` must be an integer >= 0 (a :class:`~recurct.errors.
    ParameterError` naming ``STUDY.reproduce`` otherwise).
    On your table (:func:`load_exams`): a table without rows is refused, a missing
    ``effective_dose_msv`` is computed from ``dlp_mgycm`` and ``body_region`` where it can be,
    and a ``seed`` other than the default 0 is refused (it chooses the synthetic cohort),
    as ``n_patients`` is. The result records what was read (``n_rows_in``, ``n_rows_out``,
    ``dropped_by_reason``) and how the doses were obtained (``dose_method``, counted once
    here).
    """
    import time

    from recurct import _checks, cumulative_dose
    from recurct.dose.effective import dose_methods

    t0 = time.perf_counter()
    if n_patients is not None:
        n_patients = _checks.integer(n_patients, f"{study}.reproduce", "n_patients", lo=1)
    report = progress_fn(progress)
    ex, mode, read = load_exams(study, exams, seed, n_patients, report, thresholds)
    report("cumulative dose per patient ...")
    patients = cumulative_dose(ex, thresholds=thresholds)
    report("statistics ...")
    measured, extra = measure(ex, patients, mode)
    # what a study says of your table beyond its rows (patients left out of some figures)
    notes = [caveat] if caveat else []
    notes += list(extra.pop(NOTES_KEY, ()))
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
        caveat="\n".join(notes) if mode == "your data" else "",
        n_rows_in=read.get("n_rows_in"),
        n_rows_out=read.get("n_rows_out"),
        dropped_by_reason=read.get("dropped_by_reason", {}),
        dose_method=dose_methods(ex) if mode == "your data" else {},
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
