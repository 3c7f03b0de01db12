"""Read DICOM CT dose reports (X-Ray Radiation Dose SR and Enhanced SR, TID 10011).

:func:`read_rdsr` reads one file, a list of files or a folder (searched recursively, any file
name) and returns a :class:`recurct.io.ReadResult`: one row per study in the canonical exam
schema (``.exams``), one row per CT irradiation event (``.events``) and a :class:`ReadReport`
that lists every file it skipped or read leniently (``.report``).

Content is found by DICOM codes (code value and coding scheme, CID/TID 10011-10013), never by
display text, so that vendor spellings ("Start of X-ray Irradiation", "mGycm") do not matter.

Double counting: a scanner may send several reports for one study (e.g. one after each
acquisition, each repeating the earlier events, or continued reports with disjoint events).
Reports of the same Study Instance UID *and* the same patient are merged so that each
Irradiation Event UID (113769) counts once; the exam DLP is the sum over the unique events
(never a partial sum), and a reported CT Dose Length Product Total (113813, summed over
continued reports) that disagrees with that sum beyond rounding is flagged in
``dlp_total_mismatch``.

The package: ``_codes`` (DICOM codes), ``_bytes`` (a fast Explicit VR Little Endian reader and
truncation checks), ``_parse`` (one file into plain data, pseudonymised inside), ``_merge``
(reports into exams and events), ``_tables`` (columns and the read report); this module holds
the public functions, file collection and parallel reading.

pydicom is imported lazily (``pip install "recurct[dicom]"``).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import math
import multiprocessing
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._stacklevel import user_stacklevel
from recurct.errors import (
    DroppedRowsWarning,
    InputNotFoundError,
    ParameterError,
    PartialExamWarning,
    RecurctWarning,
    UnmappedValuesWarning,
)
from recurct.io._result import ReadResult
from recurct.io.pseudonym import (
    _file_label,
    check_method,
    check_secret,
    coarsen_ages,
    pseudonymise_id,
)
from recurct.io.rdsr._codes import DOSE_CHECK_VALUES, SOP_CLASS_NAMES
from recurct.io.rdsr._items import import_pydicom
from recurct.io.rdsr._merge import build
from recurct.io.rdsr._parse import parse_chunk, parse_file
from recurct.io.rdsr._tables import (
    EVENT_COLUMNS,
    EXAM_COLUMNS,
    EXAM_EXTRA_COLUMNS,
    PROBLEM_COLUMNS,
    PROGRESS_FROM,
    REPORTED_DOSE_METHOD,
    SERIAL_BELOW,
    RdsrReadError,
    ReadReport,
)

__all__ = [
    "DOSE_CHECK_VALUES",
    "EVENT_COLUMNS",
    "EXAM_COLUMNS",
    "EXAM_EXTRA_COLUMNS",
    "PROBLEM_COLUMNS",
    "REPORTED_DOSE_METHOD",
    "SOP_CLASS_NAMES",
    "RdsrReadError",
    "ReadReport",
    "file_pseudonym",
    "pseudonymise_id",
    "read_rdsr",
]


# --------------------------------------------------------------------------------------------
# Files, parallel reading
# --------------------------------------------------------------------------------------------
def _check_workers(workers: Any) -> int | None:
    """None, or a whole number >= 1 (ParameterError naming ``workers``)."""
    if workers is None:
        return None
    return _checks.whole(workers, "read_rdsr", "workers", what=" of processes, or None")


def _check_patterns(patterns: Any) -> list[str] | None:
    """None, or the glob patterns as a list: a str, or an iterable of str (ParameterError naming
    ``non_patient_patterns`` otherwise, before any file is opened)."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        return [patterns]
    if isinstance(patterns, Iterable) and not isinstance(patterns, bytes | bytearray | Mapping):
        given = list(patterns)
        bad = [p for p in given if not isinstance(p, str)]
        if not bad:
            return given or None
        raise ParameterError(
            "read_rdsr: non_patient_patterns must be a str or a sequence of str (glob "
            f"patterns such as '*qa*'), got an item {bad[0]!r}"
        )
    raise ParameterError(
        "read_rdsr: non_patient_patterns must be a str or a sequence of str (glob patterns "
        f"such as '*qa*'), got {patterns!r}"
    )


def _collect_paths(source: str | os.PathLike[str] | Iterable[Any]) -> list[tuple[str, str]]:
    """Every file to read, with its name relative to the input root: the folder given, or
    (for a file, or several inputs) the deepest folder that holds them all, so that two files
    of one name in two folders keep apart names (and pseudonyms). No file at all (an empty
    folder, or no path) is :class:`InputNotFoundError`."""
    what = "a file or folder, or an iterable of paths"
    if isinstance(source, (str, os.PathLike)):
        items: list[Path] = [_checks.path(source, "read_rdsr", "source", what=what)]
    elif isinstance(source, Iterable) and not isinstance(source, bytes | Mapping):
        items = [_checks.path(item, "read_rdsr", "source", what=what) for item in source]
    else:
        raise ParameterError(f"read_rdsr: source must be the path of {what}, got {source!r}")
    for p in items:
        if not (p.is_dir() or p.is_file()):
            raise InputNotFoundError(f"no such file or folder: {str(p)!r}")
    if len(items) == 1 and items[0].is_dir():
        root: Path | None = items[0].absolute()
    else:
        try:
            root = Path(os.path.commonpath([p.absolute().parent for p in items]))
        except ValueError:  # no input, or inputs on two drives (Windows)
            root = None
    out: list[tuple[str, str]] = []
    for p in items:
        found = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in found:
            rel = f.absolute().relative_to(root).as_posix() if root is not None else f.name
            out.append((str(f), rel))
    if not out:  # a mistyped export folder must not read as an empty cohort
        if not items:
            raise InputNotFoundError("read_rdsr: source is empty: no file or folder to read")
        if len(items) == 1:
            raise InputNotFoundError(f"read_rdsr: folder {str(items[0])!r} holds no file")
        where = ", ".join(repr(str(p)) for p in items)
        raise InputNotFoundError(f"read_rdsr: the folders {where} hold no file")
    return out


def file_pseudonym(relative_path: str, secret: bytes | str) -> str:
    """How :func:`read_rdsr` names a file under ``pseudonymise=``: ``"file:"`` and the
    HMAC-SHA256 of its path relative to the input root: the folder given; for one file, its
    name; for several files or folders, the deepest folder that holds them all (e.g.
    ``"PAT1/IM0001.dcm"`` for ``[root/PAT1, root/PAT2]``).

    Compute it for a file you hold to find the rows and problems of that file.
    """
    return _file_label(relative_path, check_secret(secret))


def _show_progress(progress: bool | None, n: int) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return n >= PROGRESS_FROM and sys.stderr.isatty()
    except (AttributeError, ValueError):  # pragma: no cover
        return False


def _mp_context() -> Any:
    """Fork where available (Linux): a spawned child re-imports the caller's ``__main__``, which
    fails in scripts without an ``if __name__ == "__main__":`` guard. Elsewhere spawn."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_parse(
    jobs: list[tuple[str, str]],
    *,
    key: bytes | None,
    non_patient: Sequence[str] | None,
    workers: int | None,
    progress: bool | None,
) -> Iterable[dict[str, Any]]:
    n = len(jobs)
    workers = _check_workers(workers) or os.cpu_count() or 1
    bar: Any = None
    if _show_progress(progress, n):
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="file", desc="read_rdsr")
    try:
        if workers == 1 or n < SERIAL_BELOW:
            for p, d in jobs:
                yield parse_file(p, display=d, key=key, non_patient=non_patient)
                if bar is not None:
                    bar.update(1)
            return
        workers = min(workers, n)
        chunk = max(1, min(256, math.ceil(n / (workers * 8))))
        chunks = [jobs[i : i + chunk] for i in range(0, n, chunk)]
        fn = functools.partial(parse_chunk, key=key, non_patient=non_patient)
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
            with warnings.catch_warnings():
                # polars and CPython (3.12+) warn that fork() may deadlock a child that uses
                # their thread pools; the children here only parse DICOM with pydicom.
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                futures = [pool.submit(fn, c) for c in chunks]
            for fut in futures:
                results = fut.result()
                yield from results
                if bar is not None:
                    bar.update(len(results))
    finally:
        if bar is not None:
            bar.close()


@renamed(
    path_or_paths="source",
    level="the result holds both levels: use .exams and .events",
    salt="secret",
    non_patient="non_patient_patterns",
    errors='use strict=True for errors="raise", strict=False (the default) for errors="skip"',
)
def read_rdsr(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    pseudonymise: Literal["hmac-sha256"] | None = None,
    secret: bytes | str | None = None,
    non_patient_patterns: str | Sequence[str] | None = None,
    include_non_patient: bool = False,
    workers: int | None = None,
    strict: bool = False,
    progress: bool | None = None,
    region_rules: Any = None,
) -> ReadResult[pl.DataFrame]:
    """Read CT dose reports (DICOM RDSR or Enhanced SR with TID 10011) into exam and event
    tables, with a report of every file skipped or read leniently.

    Parameters
    ----------
    source : path or iterable of paths
        A file, a list of files, or a folder searched recursively (any file name, with or
        without ``.dcm``; files that are not CT dose reports are skipped and listed). No
        file at all (an empty folder, an empty list) raises
        :class:`~recurct.errors.InputNotFoundError`, as does a path that does not exist.
    pseudonymise : {"hmac-sha256"} or None
        Pseudonymise inside the reader, before anything is returned: patient IDs, Study and
        Irradiation Event UIDs and accession numbers become their keyed pseudonyms
        (:func:`pseudonymise_id`, consistent across files and runs, so exams still link), file
        names become :func:`file_pseudonym` of their path relative to the input root,
        problem texts are scrubbed of raw identifiers, and ``age_years`` is coarsened so that
        it does not give away the birth date (see Notes). Requires ``secret``.
    secret : bytes or str, optional
        Secret key of at least 128 bits for ``pseudonymise`` (e.g. ``secrets.token_hex(32)``,
        kept outside the code; rule in :mod:`recurct.io.pseudonym`); weaker secrets are
        refused. Keep it to link later extractions.
    non_patient_patterns : str or sequence of str, optional
        Case-insensitive glob patterns (e.g. ``["*qa*", "*phantom*", "*test*"]``) matched on
        the patient ID and patient name; matching studies are QA / phantom scans. Anything
        else (bytes, numbers) raises :class:`recurct.errors.ParameterError`.
    include_non_patient : bool
        Keep those studies, with a boolean column ``non_patient``; by default they are left out
        (and counted in the report).
    workers : int, optional
        Processes for reading many files (None: ``os.cpu_count()``); fewer than
        :data:`SERIAL_BELOW` files are read in the calling process.
    strict : bool, default False
        False: skip unusable files (not DICOM, not a CT dose report, truncated: "truncated
        at byte N") and repair or null malformed values, listing each in
        :attr:`ReadReport.problems` (a folder from a PACS holds other files too, hence the
        default). True: raise :class:`RdsrReadError` (naming the file and the field) at the
        first problem.
    progress : bool, optional
        Show a tqdm progress bar; None: when stderr is a terminal and there are many files.
    region_rules : optional
        Extra region rules, tried before the shared ones, as in
        :func:`recurct.dose.normalise_region`.

    Returns
    -------
    ReadResult
        ``.exams``: one row per exam in the canonical exam schema (:data:`EXAM_COLUMNS`, then
        :data:`EXAM_EXTRA_COLUMNS`); ``.events``: one row per unique CT irradiation event
        (:data:`EVENT_COLUMNS`); ``.report``: the :class:`ReadReport` (files read and skipped,
        every problem as file, reason, field, action). Patient names and birth dates are
        never included (nor, under ``pseudonymise``, an age from which the birth date could
        be worked out: see Notes). Both tables are polars.

    Warns
    -----
    RecurctWarning
        Once per call, where (and only where) ``.report.problems`` has rows, with the counts
        by kind: files skipped, values read leniently, exams whose DLP, CTDIvol and effective
        dose are null because of them, exams whose lost events cannot be detected, reports
        kept apart. Its class is that of the gravest kind present:
        :class:`~recurct.errors.DroppedRowsWarning` where files were skipped, else
        :class:`~recurct.errors.PartialExamWarning` where an exam's DLP is null, else
        :class:`~recurct.errors.UnmappedValuesWarning` where values were read leniently,
        else :class:`~recurct.errors.RecurctWarning` (all subclasses of it). The text holds
        counts only (no file name or identifier, pseudonymised or not).

    Notes
    -----
    Identifiers (Patient ID, Study Instance UID, the Scope of Accumulation's Study UID,
    SOP Instance UID, Irradiation Event UID, accession number) are read without surrounding
    whitespace, and an empty one or a placeholder (``unknown``, ``-``, ``#N/A``, ...:
    :data:`recurct.schema.PLACEHOLDER_IDS`, as :func:`recurct.io.pseudonym.normalise_id`
    reads them) is missing, with or without ``pseudonymise``: never hashed, never matched.
    So two patients exported with Patient ID ``UNKNOWN`` are not one patient: each such
    report has a null ``patient_id`` and a problem row (field ``PatientID``, ``"no Patient
    ID"``), as a report without one; a placeholder Study UID is no study (the Scope of
    Accumulation's, else the report is its own study), a placeholder event UID no event
    UID (the event is not merged across reports), a placeholder accession number null.

    An exam is the reports of one Study Instance UID *and* one patient (patient ID, and birth
    date and sex where given): reports of one UID that name different patients are kept
    as separate exams (``identity_conflict`` true, a ``"kept apart"`` problem row naming
    every file). ``dlp_mgycm`` is the sum of DLP over the unique events of the exam, or
    null (never a partial sum) where an event other than a localizer has no DLP or events
    were lost (fewer than the reports' Total Number of Irradiation Events, 113812, or a
    damaged CT Acquisition), each with a problem row; every event of an exam that lost
    events is marked ``events_lost`` (true) in the event table, so that
    :func:`recurct.dose.effective_dose` at event level leaves its sums null too (never a
    partial sum of the events present). Where a report whose events make up
    the exam gives no usable Total Number of Irradiation Events (113812), events lost from it
    cannot be detected: the dose is kept (the sum over the events present) and the exam gets
    a problem row (field ``Total Number of Irradiation Events (113812)``, action
    ``"not checked"``). Every value is converted from the unit
    its report gives (a DLP in ``mGy.m``, ``cGy.cm``, ...: any prefix of Gy times any of m);
    one in a unit of another quantity, an unknown or no unit, or negative, is lost (null,
    with a problem row; an event DLP so lost nulls the exam DLP and CTDIvol, the main
    event's CTDIvol the exam's). So is a value whose text is not one number as a whole
    (``7O8.2``, ``70 .2``, ``70.8,2``: never a part of it read) or whose comma may group
    thousands (``1,234``: ambiguous); a comma that is the number's only mark is read as a
    decimal mark (``12,5`` is 12.5, with a problem row). ``reported_dlp_total_mgycm`` is the
    CT Dose Length Product Total (113813) of the report with the most events, plus those
    of the reports that add events to it (a continued study: disjoint events), null where
    such reports share some events; ``dlp_total_mismatch`` is true where
    ``reported_dlp_total_mgycm`` and the event sum differ by more than rounding (0.05
    mGy·cm per summed value or 0.1 %); ``ctdivol_mgy`` is the Mean CTDIvol of the
    event with the largest DLP (the main scan, not a bolus-tracking or localizer event),
    null where that is lost or cannot be known (an event's DLP missing or lost, events lost);
    an exam of localizers without a CT Dose container has ``dlp_mgycm`` 0;
    ``n_events`` is the number of unique irradiation events of the exam, ``n_reports`` the
    number of distinct reports merged into it, by SOP Instance UID (a file given twice, or
    a byte-identical copy, counts once; a report that only repeats events counts; a report
    without a SOP Instance UID counts once per file);
    ``body_region`` is :func:`recurct.dose.exam_region` of the events' regions, DLPs and
    localizer flags; ``effective_dose_msv`` is the accumulated Effective Dose (113839) of
    a report that holds every unique event of the study, else the sum of the event
    Effective Doses where every event with a DLP has one, else null (fill it with
    :func:`recurct.dose.effective_dose`). Each event's region is that of its Target Region
    and Acquisition Protocol, else of the Study Description, else of the Requested
    Procedure Description (``region_source`` in the event table); a Target Region given
    without its Code Meaning is read from its SNOMED code (DICOM CID 4030, or the SNOMED RT
    code it replaces, e.g. ``T-D3000``) with a problem row, and one whose code is unknown
    too is not mapped (a problem row). Copies of one
    Irradiation Event UID (in two reports of a study, or twice in one) that differ in DLP or
    CTDIvol leave the event's value and the exam's DLP, CTDIvol and effective dose null;
    in the event's Effective Dose, the event's and the exam's effective dose; in its SSDE,
    the event's SSDE and the exam's size values where they would be this event's (never
    another event's); each with a problem row naming every copy's value and file. After
    the canonical columns (:data:`EXAM_EXTRA_COLUMNS`): ``dose_method``
    (:data:`REPORTED_DOSE_METHOD` where the dose is the report's), ``accession_number``,
    ``study_description``, ``requested_procedure``, ``patient_weight_kg`` and
    ``patient_size_m`` (Patient's Weight and Size; null above 1000 kg or 3 m, another
    unit), ``ssde_mgy`` (Size Specific Dose Estimate, 113930), ``ssde_method`` (its
    Measurement Method) and ``water_equivalent_diameter_mm`` (113980) of the largest-DLP
    event that has them, and ``identity_conflict``; null where absent. ``age_years``
    comes from the birth date and study date when both are valid, else from Patient's
    Age (either outside 0-130 years is not used: null where neither is in range, with a
    problem row, field ``PatientAge``); a patient ID whose reports give different birth
    dates is listed in the report (field ``PatientBirthDate``). Under ``pseudonymise`` an
    exact age and the exam date would give the birth date back, so ``age_years`` is
    :func:`recurct.io.pseudonym.coarsen_ages` of the exams: per patient (within the read),
    the completed years at the patient's first exam plus the years since that exam (days /
    365.25), which keeps the differences between a patient's exams but leaves the birth
    date anywhere in a year; the floor of the age where the exam has no patient ID or
    date. An age up to one year lower can put an exam in a younger age column of an
    age-dependent conversion table (docs/dose.md, "Ages of a pseudonymising read"): compute
    effective doses from a read without ``pseudonymise`` first, or accept that. Event
    tables carry
    ``localizer`` (CT Acquisition Type 113805, Constant Angle Acquisition) and
    ``dose_method``.
    """
    include_non_patient = _checks.flag(include_non_patient, "read_rdsr", "include_non_patient")
    strict = _checks.flag(strict, "read_rdsr", "strict")
    progress = _checks.optional_flag(progress, "read_rdsr", "progress")
    import_pydicom()
    key = check_method(pseudonymise, secret)
    patterns = _check_patterns(non_patient_patterns)
    _check_workers(workers)  # before any file is opened
    jobs = _collect_paths(source)
    if key is not None:
        jobs = [(p, _file_label(rel, key)) for p, rel in jobs]
    else:
        jobs = [(p, p) for p, _ in jobs]
    results = _run_parse(
        jobs,
        key=key,
        non_patient=patterns,
        workers=workers,
        progress=progress,
    )
    exams, events, report = build(
        results,
        strict=strict,
        include_non_patient=include_non_patient,
        non_patient_given=bool(patterns),
        region_rules=region_rules,
    )
    if key is not None:  # ages that do not give away the birth date (coarsen_ages)
        exams = exams.with_columns(coarsen_ages(exams).alias("age_years"))
    if report.problems.height:
        _warn_problems(exams, report)
    return ReadResult(exams=exams, events=events, report=report)


def _warn_problems(exams: pl.DataFrame, report: ReadReport) -> None:
    """One warning that counts the report's problems by kind and points to them; its class
    is that of the gravest kind present (:func:`read_rdsr`, Warns). Counts only: no file
    name or identifier, so a pseudonymising read leaks nothing through it."""
    actions = report.problems["action"]
    skipped = report.files_skipped
    lenient = int((actions == "lenient").sum())
    null_dose = exams["dlp_mgycm"].null_count()
    unchecked = int((actions == "not checked").sum())
    apart = int((actions == "kept apart").sum())
    parts = []
    if skipped:
        parts.append(f"{skipped} file(s) skipped (not a CT dose report, unreadable or truncated)")
    if lenient:
        parts.append(f"{lenient} value(s) read leniently (missing, repaired, set null or in doubt)")
    if null_dose:
        parts.append(
            f"{null_dose} exam(s) with DLP, CTDIvol and effective dose left null because of "
            "them (an event's DLP missing, lost or conflicting, or events lost: never a "
            "partial sum)"
        )
    if unchecked:
        parts.append(
            f"{unchecked} exam(s) whose lost events cannot be detected (no Total Number of "
            "Irradiation Events, 113812: dose kept, not checked)"
        )
    if apart:
        parts.append(
            f"{apart} report(s) kept apart as separate exams (one Study Instance UID, "
            "different patients)"
        )
    category: type[RecurctWarning] = RecurctWarning
    if skipped:
        category = DroppedRowsWarning
    elif null_dose:
        category = PartialExamWarning
    elif lenient:
        category = UnmappedValuesWarning
    warnings.warn(
        f"read_rdsr: {'; '.join(parts)}; each is a row of result.report.problems (file, "
        "field, reason, action)",
        category,
        stacklevel=user_stacklevel(),
    )
