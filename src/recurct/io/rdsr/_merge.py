"""Reports into exams (one Study Instance UID and one patient) and events, with problems."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import polars as pl

from recurct.dose import exam_region, region_of
from recurct.io.rdsr._tables import (
    EVENT_COLUMNS,
    EXAM_COLUMNS,
    EXAM_EXTRA_COLUMNS,
    PROBLEM_COLUMNS,
    REPORTED_DOSE_METHOD,
    RdsrReadError,
    ReadReport,
)
from recurct.regions import combine_regions

# --------------------------------------------------------------------------------------------
# Merge and tables
# --------------------------------------------------------------------------------------------
Problem = tuple[str, str | None, str, str | None]


def _cached_region(text: str | None, cache: dict[str | None, str | None], rules: Any) -> str | None:
    if text not in cache:
        cache[text] = region_of(text, region_rules=rules) if text else None
    return cache[text]


def _event_region(
    ev: dict[str, Any], head: dict[str, Any], cache: dict[str | None, str | None], rules: Any
) -> tuple[str | None, str | None]:
    """Region of an event and where it came from: its Target Region and Acquisition Protocol
    (:func:`_own_region`), else the Study Description, else the Requested Procedure
    Description of its report."""
    region = _own_region(ev, cache, rules)
    if region is not None:
        return region, "event"
    for col in ("study_description", "requested_procedure"):
        region = _cached_region(head[col], cache, rules)
        if region is not None:
            return region, col
    return None, None


def _own_region(ev: dict[str, Any], cache: dict[str | None, str | None], rules: Any) -> str | None:
    """The region an event's Target Region and Acquisition Protocol give, combined as
    :func:`recurct.regions.region_of` combines the terms of one text: the one that maps, or
    the region both make (``abdomen`` + ``chest_abdomen_pelvis``, head + neck); None if
    neither maps or if they conflict (:func:`_region_conflict`)."""
    texts = (ev["target_region"], ev["protocol"])
    found = {_cached_region(t, cache, rules) for t in texts} - {None}
    if len(found) == 1:
        return found.pop()
    return None if "other" in found else combine_regions(found)


def _region_conflict(
    ev: dict[str, Any], cache: dict[str | None, str | None], rules: Any
) -> str | None:
    """The reason of a problem row where an event's Target Region and Acquisition Protocol
    map to regions that make no one region (protocol "C-Spine", target "Abdomen"; a
    whole-body target beside a specific protocol), else None; after :func:`_event_region`
    (the reason says what the event's region became)."""
    target, protocol = ev["target_region"], ev["protocol"]
    t, p = _cached_region(target, cache, rules), _cached_region(protocol, cache, rules)
    if t is None or p is None or _own_region(ev, cache, rules) is not None:
        return None
    source = {
        "study_description": "the Study Description",
        "requested_procedure": "the Requested Procedure Description",
    }.get(ev["region_source"])
    outcome = (
        f"taken from {source} ({ev['body_region']}; region_source {ev['region_source']!r})"
        if source is not None
        else "null"
    )
    return (
        f"the Acquisition Protocol {protocol!r} ({p}) and the Target Region {target!r} ({t}) "
        "of this event name regions that make no one region, so neither is used: the "
        f"event's body_region is {outcome} (pass region_rules= to map them otherwise)"
    )


def _birth_date_conflicts(headers: list[dict[str, Any]]) -> list[Problem]:
    """One problem per report of a patient ID whose reports give different birth dates."""
    dates: dict[str, set[Any]] = {}
    files: dict[str, list[str]] = {}
    for h in headers:
        if h["patient_id"] is None or h["birth_date"] is None:
            continue
        dates.setdefault(h["patient_id"], set()).add(h["birth_date"])
        files.setdefault(h["patient_id"], []).append(h["source_file"])
    out: list[Problem] = []
    for pid in sorted(dates):
        if len(dates[pid]) > 1:
            reason = (
                f"the reports of this patient ID give {len(dates[pid])} different birth dates "
                f"({len(files[pid])} reports); each report's age uses its own birth date"
            )
            out += [(f, "PatientBirthDate", "lenient", reason) for f in sorted(files[pid])]
    return out


def _join_unidentified(by_pid: dict[str | None, list[dict[str, Any]]]) -> list[Problem]:
    """Join the reports without a Patient ID (key ``None``) of one study to its one identified
    patient, where it has exactly one and no birth date or sex given differs: they take that
    patient's ID, with a lenient problem row each. Otherwise nothing changes."""
    ids = [pid for pid in by_pid if pid is not None]
    if None not in by_pid or len(ids) != 1:
        return []
    hs = by_pid[None] + by_pid[ids[0]]
    for col in ("birth_date", "sex"):
        if len({h[col] for h in hs} - {None}) > 1:
            return []
    joined = by_pid.pop(None)
    by_pid[ids[0]].extend(joined)
    out: list[Problem] = []
    for h in joined:
        h["patient_id"] = ids[0]
        out.append(
            (
                h["source_file"],
                "PatientID",
                "lenient",
                "the report has no Patient ID: joined to the one identified patient of its "
                "Study Instance UID (reports: "
                + "; ".join(sorted(g["source_file"] for g in by_pid[ids[0]]))
                + "), whose ID it takes",
            )
        )
    return out


def _assign_exams(headers: list[dict[str, Any]]) -> list[Problem]:
    """Give each report its exam: one Study Instance UID *and* one patient.

    A report without a Patient ID joins the one identified patient of its study
    (:func:`_join_unidentified`). Reports of a study whose patient IDs differ (a report
    without one where the study has several identified patients), or whose birth dates or
    sexes differ where given, are different exams (``exam_key`` = (study UID, index)); each
    such report gets a problem row naming every file of the study, and nothing is merged
    across patients.
    """
    by_study: dict[str, list[dict[str, Any]]] = {}
    for h in headers:
        by_study.setdefault(h["study_uid"], []).append(h)
    problems: list[Problem] = []
    for study, hs in by_study.items():
        by_pid: dict[str | None, list[dict[str, Any]]] = {}
        for h in hs:
            by_pid.setdefault(h["patient_id"], []).append(h)
        problems += _join_unidentified(by_pid)
        groups: list[list[dict[str, Any]]] = []
        differ: set[str] = set()
        unjoined = ""
        if len(by_pid) > 1:
            differ.add("patient ID")
            if None in by_pid and len(by_pid) > 2:
                unjoined = (
                    "; a report without Patient ID cannot be joined to one of the "
                    f"{len(by_pid) - 1} identified patients"
                )
            elif None in by_pid:
                unjoined = (
                    "; a report without Patient ID is not joined to the identified patient, "
                    "whose birth date or sex differs"
                )
        for phs in by_pid.values():
            births = {h["birth_date"] for h in phs} - {None}
            sexes = {h["sex"] for h in phs} - {None}
            if len(births) <= 1 and len(sexes) <= 1:
                groups.append(phs)
                continue
            differ |= {"birth date"} if len(births) > 1 else set()
            differ |= {"sex"} if len(sexes) > 1 else set()
            sub: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
            for h in phs:
                sub.setdefault((h["birth_date"], h["sex"]), []).append(h)
            groups.extend(sub.values())
        groups.sort(key=lambda g: min(h["source_file"] for h in g))
        for j, g in enumerate(groups):
            for h in g:
                h["exam_key"] = (study, j)
                h["identity_conflict"] = len(groups) > 1
        if len(groups) > 1:
            files = sorted(h["source_file"] for h in hs)
            reason = (
                f"the reports of one Study Instance UID belong to {len(groups)} different "
                f"patients ({', '.join(sorted(differ))} differ{unjoined}; reports: "
                f"{'; '.join(files)}): kept as {len(groups)} separate exams, nothing merged"
            )
            problems += [(f, "PatientID", "kept apart", reason) for f in files]
    return problems


def _cover(reports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The reports whose events make up the exam: the report with the most events, then each
    report that adds events (a continued study). A report that only repeats events is left
    out. The flag says whether two chosen reports share some events (then their totals cannot
    be added)."""
    covered: set[str] = set()
    chosen = []
    overlap = False
    for h in reports:  # most events first
        if h["event_uids"] <= covered:
            continue
        overlap = overlap or bool(h["event_uids"] & covered)
        chosen.append(h)
        covered |= h["event_uids"]
    return chosen, overlap


def _mismatch(reported: float | None, total: float | None, n_values: int) -> bool | None:
    """Reported total differs from the event sum beyond rounding.

    Tolerance: 0.05 mGy·cm per value summed (event DLPs and reported totals, rounded to one
    decimal place at worst) or 0.1 % of the reported total, whichever is larger.
    """
    if reported is None or total is None:
        return None
    tol = max(0.05 * (n_values + 1), 1e-3 * abs(reported))
    return abs(reported - total) > tol


def _exam_row(
    evs: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    problems: list[Problem],
    dlp_rows: dict[tuple[str, int], int],
) -> dict[str, Any]:
    """One exam from its unique events and its reports (the report with the most events
    first); ``dlp_rows`` is :func:`_dlp_rows` of ``problems``."""
    b = reports[0]
    chosen, overlap = _cover(reports)
    dlps = [e["dlp_mgycm"] for e in evs if e["dlp_mgycm"] is not None]
    missing = [e for e in evs if e["dlp_missing"]]
    # an exam of localizers without a CT Dose container (none missing a DLP) counts 0
    event_sum = math.fsum(dlps) if dlps or not missing else None
    lost, unmatched = _lost_events(evs, reports, chosen, overlap, event_sum, problems)
    # copies of one event that differ in a dose value (a problem row each): nothing is picked
    conflict = any(e.get("dose_conflict") for e in evs)
    incomplete = lost or unmatched or bool(missing) or conflict
    dlp = None if incomplete else event_sum
    if dlp is not None:
        _note_unchecked(evs, chosen, dlp, problems)
    totals = [h["reported_dlp_total_mgycm"] for h in chosen]
    reported = (
        None if overlap or unmatched or any(t is None for t in totals) else math.fsum(totals)  # type: ignore[arg-type]
    )
    with_dlp = [e for e in evs if e["dlp_mgycm"] is not None]
    main = max(with_dlp, key=lambda e: e["dlp_mgycm"]) if with_dlp else None
    # the main scan's CTDIvol; where it is lost (a problem row) it stays null rather than
    # becoming another event's (a localizer's 0.14 mGy is no exam CTDIvol). Where an event's
    # DLP is missing or lost, or events are lost, the main scan cannot be known: null too.
    ctdi = main["ctdivol_mgy"] if main is not None and not conflict else None
    if lost or missing:
        ctdi = None
        if any(e["ctdivol_mgy"] is not None for e in evs) and not (lost and not unmatched):
            _note_ctdi_unknown(missing, dlp_rows, problems, b["source_file"])
    region = exam_region(
        [e["body_region"] for e in evs],
        [e["dlp_mgycm"] for e in evs],
        [e["localizer"] for e in evs],
    )
    # copies of an event that differ in its Effective Dose: no exam dose is picked either
    ed_conflict = any(e.get("ed_conflict") for e in evs)
    ed = None if incomplete or ed_conflict else _reported_dose(evs, reports, chosen, overlap)
    # the size values of the main event, else of the first that has them; an event whose
    # SSDE copies differ has one, unknown: the exam's is null, never another event's
    sized = lambda e: e["ssde_mgy"] is not None or e.get("ssde_conflict")  # noqa: E731
    size_ev = main if main is not None and sized(main) else None
    size_ev = size_ev or next((e for e in evs if sized(e)), None)
    first = lambda col: next((h[col] for h in reports if h[col] is not None), None)  # noqa: E731
    return {
        **{k: b[k] for k in ("patient_id", "exam_date", "study_uid", "age_years", "sex")},
        **{k: b[k] for k in ("facility", "station_name", "manufacturer", "model")},
        "dlp_mgycm": dlp,
        "reported_dlp_total_mgycm": reported,
        "dlp_total_mismatch": _mismatch(
            reported, None if dlp is None else event_sum, len(dlps) + len(chosen) - 1
        ),
        "ctdivol_mgy": ctdi,
        "body_region": region,
        "n_events": len(evs),
        "n_reports": len({h["report_id"] for h in reports}),  # a copy of a report counts once
        "effective_dose_msv": ed,
        "dose_method": REPORTED_DOSE_METHOD if ed is not None else None,
        **{col: first(col) for col in _FIRST_GIVEN},
        **{
            col: size_ev[col] if size_ev is not None and not size_ev.get("ssde_conflict") else None
            for col in ("ssde_mgy", "ssde_method", "water_equivalent_diameter_mm")
        },
        "identity_conflict": b["identity_conflict"],
        "events_lost": lost,  # not an exam column: marks the exam's events (build)
    }


_CTDI_NOTE = (
    "; so the main scan (the event with the largest DLP) cannot be known: the exam CTDIvol is "
    "left null too, not another event's"
)
_EVENT_DLP_FIELD = re.compile(r"DLP \(113838\), event (\d+)")
_ACQUISITION_IN_REASON = re.compile(r"CT acquisition (\d+)\b")


def _dlp_rows(problems: list[Problem]) -> dict[tuple[str, int], int]:
    """``(file, event index)`` -> position of the last problem row that says why that event's
    DLP is missing or lost (its DLP value, its CT Dose container, or no DLP at all)."""
    rows: dict[tuple[str, int], int] = {}
    for n, (file, field, _action, reason) in enumerate(problems):
        m = _EVENT_DLP_FIELD.fullmatch(field or "")
        if m is None and field in ("DLP (113838)", "CT Dose (113829)"):
            m = _ACQUISITION_IN_REASON.search(reason or "")
        if m is not None:
            rows[(file, int(m.group(1)))] = n
    return rows


def _note_ctdi_unknown(
    missing: list[dict[str, Any]],
    dlp_rows: dict[tuple[str, int], int],
    problems: list[Problem],
    file: str,
) -> None:
    """Say in the problem row of the first event whose DLP is missing that the exam CTDIvol is
    left null; a row of its own (for ``file``) where there is no such row."""
    for ev in missing:
        n = dlp_rows.get((ev["source_file"], ev["index"]))
        if n is not None:
            f, field, action, reason = problems[n]
            if not (reason or "").endswith(_CTDI_NOTE):
                problems[n] = (f, field, action, (reason or "") + _CTDI_NOTE)
            return
    problems.append(
        (
            file,
            "Mean CTDIvol (113830)",
            "lenient",
            "an event's DLP is missing or lost, or events are lost" + _CTDI_NOTE,
        )
    )


# exam columns taken from the first report that gives them
_FIRST_GIVEN = (
    "accession_number",
    "study_description",
    "requested_procedure",
    "patient_weight_kg",
    "patient_size_m",
)


def _lost_events(
    evs: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    chosen: list[dict[str, Any]],
    overlap: bool,
    event_sum: float | None,
    problems: list[Problem],
) -> tuple[bool, bool]:
    """``(events lost, events unmatched)``, one problem row for either: fewer events than the
    reports count or a damaged report; events without a UID in several reports that add
    events (a repeated event cannot be told from a new one)."""
    b = reports[0]
    counts = [h["reported_n_events"] for h in chosen]
    if not overlap and all(c is not None for c in counts):
        expected: int | None = sum(counts)  # type: ignore[arg-type]
    else:
        expected = max((h["reported_n_events"] or 0 for h in reports), default=0) or None
    lost = (expected is not None and expected > len(evs)) or any(h["damaged"] for h in chosen)
    unmatched = len(chosen) > 1 and any(e["uid_missing"] for e in evs)
    if unmatched:
        problems.append(
            (
                b["source_file"],
                "Irradiation Event UID (113769)",
                "lenient",
                f"{len(chosen)} reports of this study add events, some without an Irradiation "
                "Event UID: a repeated event cannot be told from a new one, so the event sum "
                f"({event_sum} mGy·cm) may count one twice; exam DLP and effective dose left "
                "null",
            )
        )
    elif lost:
        problems.append(
            (
                b["source_file"],
                "Total Number of Irradiation Events (113812)",
                "lenient",
                f"the exam holds {len(evs)} irradiation events"
                + (f" of {expected} reported" if expected is not None else "")
                + " (events lost from a damaged report): exam DLP, CTDIvol (the main scan "
                "cannot be known) and effective dose left null",
            )
        )
    return lost, unmatched


def _note_unchecked(
    evs: list[dict[str, Any]],
    chosen: list[dict[str, Any]],
    dlp: float,
    problems: list[Problem],
) -> None:
    """One ``"not checked"`` row for an exam whose dose is kept but some of whose reports
    (those its events come from) give no usable Total Number of Irradiation Events (113812):
    events lost from such a report cannot be detected, so its sums are over the events
    present, unchecked."""
    uncounted = [h["source_file"] for h in chosen if h["reported_n_events"] is None]
    if not uncounted:
        return
    if len(chosen) == 1:
        which, them = "the report gives", "it"
    else:
        which = (
            f"{len(uncounted)} of the {len(chosen)} reports whose events make up the exam "
            f"({'; '.join(uncounted)}) give"
        )
        them = "it" if len(uncounted) == 1 else "them"
    problems.append(
        (
            uncounted[0],
            "Total Number of Irradiation Events (113812)",
            "not checked",
            f"{which} no usable Total Number of Irradiation Events (113812): events lost from "
            f"{them} cannot be detected; the exam's DLP ({dlp:g} mGy·cm) is kept: the sum over "
            f"the {len(evs)} events present, not checked against a count",
        )
    )


def _reported_dose(
    evs: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    chosen: list[dict[str, Any]],
    overlap: bool,
) -> float | None:
    """The accumulated Effective Dose of a report that holds every unique event, else the sum
    of those of the reports of a continued study, else the sum of the event Effective Doses
    where every event with a DLP has one."""
    uids = {e["event_uid"] for e in evs}
    ed = next(
        (
            h["accumulated_effective_dose_msv"]
            for h in reports
            if h["accumulated_effective_dose_msv"] is not None and uids <= h["event_uids"]
        ),
        None,
    )
    eds = [h["accumulated_effective_dose_msv"] for h in chosen]
    if ed is None and not overlap and all(x is not None for x in eds):
        ed = math.fsum(eds)  # type: ignore[arg-type]
    if ed is None:
        dosed = [e for e in evs if e["dlp_mgycm"] is not None]
        if dosed and all(e["effective_dose_msv"] is not None for e in dosed):
            ed = math.fsum(e["effective_dose_msv"] for e in dosed)
    return ed


def _collect(
    results: Iterable[dict[str, Any]], strict: bool
) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """``(headers of the reports read, problems, files skipped)``; with ``strict`` the first
    problem raises."""
    headers: list[dict[str, Any]] = []
    problems: list[Problem] = []
    files_skipped = 0
    for res in results:
        if strict and res["problems"]:
            file, reason_field, _action, reason = res["problems"][0]
            raise RdsrReadError(
                f"{file}: {reason} (field: {reason_field or 'whole file'}); "
                "use strict=False to skip or repair such values and list them in the report"
            )
        problems.extend(res["problems"])
        if not res["ok"]:
            files_skipped += 1
            continue
        headers.append(
            {
                **res["header"],
                "n_events_in_report": len(res["events"]),
                "event_uids": {ev["event_uid"] for ev in res["events"]},
                "events": res["events"],
            }
        )
    return headers, problems, files_skipped


def build(
    results: Iterable[dict[str, Any]],
    *,
    strict: bool,
    include_non_patient: bool,
    non_patient_given: bool,
    region_rules: Any = None,
) -> tuple[pl.DataFrame, pl.DataFrame, ReadReport]:
    """``(exams, events, report)`` of the parsed files."""
    headers, problems, files_skipped = _collect(results, strict)
    files_read = len(headers)
    events: list[dict[str, Any]] = []
    problems.extend(_birth_date_conflicts(headers))
    problems.extend(_assign_exams(headers))
    if strict and problems:
        file, reason_field, _action, reason = problems[-1]
        raise RdsrReadError(
            f"{file}: {reason} (field: {reason_field}); "
            "use strict=False to list such problems in the report"
        )

    # reports of an exam: the report with the most events first, then by file (order free)
    headers.sort(key=lambda h: (h["exam_key"], -h["n_events_in_report"], h["source_file"]))
    by_exam: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for h in headers:
        by_exam.setdefault(h["exam_key"], []).append(h)
        for ev in h["events"]:
            events.append(
                {
                    **ev,
                    "exam_key": h["exam_key"],
                    "source_file": h["source_file"],
                    "n_events_in_report": h["n_events_in_report"],
                }
            )
    non_patient_exam = {k: any(h["non_patient"] for h in hs) for k, hs in by_exam.items()}

    unique, conflicts = _unique_events(events)
    duplicate_events = len(events) - len(unique)
    if strict and conflicts:
        file, reason_field, _action, reason = conflicts[0]
        raise RdsrReadError(
            f"{file}: {reason} (field: {reason_field}); "
            "use strict=False to list such problems in the report"
        )
    problems.extend(conflicts)
    problems.extend(_event_regions(unique, by_exam, region_rules))
    for ev in unique:
        b = by_exam[ev["exam_key"]][0]
        ev["non_patient"] = non_patient_exam[ev["exam_key"]]
        ev["dose_method"] = REPORTED_DOSE_METHOD if ev["effective_dose_msv"] is not None else None
        for col in ("study_uid", "patient_id", "exam_date"):  # one exam: one patient, one date
            ev[col] = b[col]

    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for ev in unique:
        by_key.setdefault(ev["exam_key"], []).append(ev)
    rows = []  # every exam, at both levels, so that both report the same problems
    dlp_rows = _dlp_rows(problems)
    for k, evs in by_key.items():
        row = _exam_row(evs, by_exam[k], problems, dlp_rows)
        row["non_patient"] = non_patient_exam[k]
        for ev in evs:  # an exam that lost events: no event-level sum over its events either
            ev["events_lost"] = row["events_lost"]
        rows.append(row)
    report = ReadReport(
        files_read=files_read,
        files_skipped=files_skipped,
        problems=_problem_frame(problems),
        non_patient_excluded=not include_non_patient,
        non_patient_studies=sum(non_patient_exam.values()),
        duplicate_events=duplicate_events,
    )
    keep_flag = include_non_patient and non_patient_given
    return (
        _exam_table(rows, include_non_patient, keep_flag),
        _event_table(unique, include_non_patient, keep_flag),
        report,
    )


def _unique_events(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """One event per (exam, event UID), from the report with the most events, and a problem
    row for each event whose copies differ in a dose value (:data:`_COMPARED`).

    Copies that agree (within :data:`_SAME_VALUE`, relative) merge silently. Where they
    differ, no copy is picked: the differing values are left null on the event and the event
    is marked: ``dose_conflict`` (DLP or CTDIvol), so that the exam's DLP, CTDIvol and
    effective dose are null too (as for lost events); ``ed_conflict`` (Effective Dose), so
    that the exam's effective dose is; ``ssde_conflict`` (SSDE), so that the exam's size
    values are where they would be this event's.
    """
    events.sort(
        key=lambda e: (e["exam_key"], e["event_uid"], -e["n_events_in_report"], e["source_file"])
    )
    groups: list[list[dict[str, Any]]] = []
    last: tuple[Any, str] | None = None
    for ev in events:
        k = (ev["exam_key"], ev["event_uid"])
        if k != last:
            groups.append([])
        groups[-1].append(ev)
        last = k
    problems: list[Problem] = []
    for copies in groups:
        if len(copies) > 1:
            problems.extend(_conflicting_copies(copies))
    return [g[0] for g in groups], problems


# values that the copies of one event must agree on: column, field name, unit, the flag set
# on the event where they differ, and what of the exam is left null then
_COMPARED = (
    ("dlp_mgycm", "DLP (113838)", "mGy·cm", "dose_conflict", "DLP, CTDIvol and effective dose"),
    (
        "ctdivol_mgy",
        "Mean CTDIvol (113830)",
        "mGy",
        "dose_conflict",
        "DLP, CTDIvol and effective dose",
    ),
    ("effective_dose_msv", "Effective Dose (113839)", "mSv", "ed_conflict", "effective dose"),
    (
        "ssde_mgy",
        "SSDE (113930)",
        "mGy",
        "ssde_conflict",
        "SSDE, SSDE method and water-equivalent diameter where it takes them from this "
        "event (never another event's)",
    ),
)
_SAME_VALUE = 1e-6  # relative tolerance: the same value written with other float formatting


def _conflicting_copies(copies: list[dict[str, Any]]) -> list[Problem]:
    """Problem rows (one per differing value) of the copies of one event (``copies[0]`` is
    the one kept); the kept copy's differing values become null and the flag of each
    (:data:`_COMPARED`: ``dose_conflict`` for DLP and CTDIvol, ``ed_conflict``,
    ``ssde_conflict``) is set. A value absent from a copy is no conflict."""
    kept = copies[0]
    out: list[Problem] = []
    for col, field, unit, flag, exam_cols in _COMPARED:
        given = [e for e in copies if e[col] is not None]
        values = [e[col] for e in given]
        if all(math.isclose(v, values[0], rel_tol=_SAME_VALUE) for v in values):
            continue
        where = "; ".join(
            f"{e[col]} {unit} in {e['source_file']} (event {e['index']})" for e in given
        )
        out.append(
            (
                kept["source_file"],
                f"{field}, event {kept['index']}",
                "lenient",
                f"the copies of Irradiation Event UID {kept['event_uid']} differ in {field}: "
                f"{where}; none is chosen: the event's {field} and the exam's {exam_cols} "
                "left null",
            )
        )
        kept[col] = None
        kept[flag] = True
    if kept["dlp_mgycm"] is None and kept.get("dose_conflict"):
        kept["effective_dose_msv"] = None  # the event's dose of a DLP nobody can pick
    return out


def _event_regions(
    unique: list[dict[str, Any]],
    by_exam: dict[tuple[str, int], list[dict[str, Any]]],
    region_rules: Any,
) -> list[Problem]:
    """Set each event's ``body_region`` and ``region_source``; a Target Region that maps to
    nothing is a lenient problem of its file."""
    cache: dict[str | None, str | None] = {}
    unmapped: set[tuple[str, str]] = set()
    conflicts: list[Problem] = []
    for ev in unique:
        b = by_exam[ev["exam_key"]][0]
        ev["body_region"], ev["region_source"] = _event_region(ev, b, cache, region_rules)
        target = ev["target_region"]
        if target and _cached_region(target, cache, region_rules) is None:
            unmapped.add((ev["source_file"], target))
        conflict = _region_conflict(ev, cache, region_rules)
        if conflict is not None:
            field = f"Acquisition Protocol (125203), Target Region (123014), event {ev['index']}"
            conflicts.append((ev["source_file"], field, "lenient", conflict))
    return [
        (
            file,
            "Target Region (123014)",
            "lenient",
            f"Target Region {target!r} maps to no body region (pass region_rules= to map "
            "it); the event's region comes from its protocol or the study's descriptions",
        )
        for file, target in sorted(unmapped)
    ] + conflicts


def _event_table(
    unique: list[dict[str, Any]], include_non_patient: bool, keep_flag: bool
) -> pl.DataFrame:
    """The event level: exams in time order, events in the order of their report."""
    cols = dict(EVENT_COLUMNS)
    if keep_flag:
        cols["non_patient"] = pl.Boolean()
    evrows = [ev for ev in unique if include_non_patient or not ev["non_patient"]]
    # exams in time order, events in the order of the report they were taken from
    evrows.sort(
        key=lambda e: (
            e["exam_date"] is None,
            e["exam_date"] or datetime.min,
            e["exam_key"],
            e["source_file"],
            e["index"],
        )
    )
    return pl.DataFrame(
        [{k: ev.get(k) for k in cols} for ev in evrows],
        schema=cols,  # type: ignore[arg-type]
    )


def _exam_table(
    rows: list[dict[str, Any]], include_non_patient: bool, keep_flag: bool
) -> pl.DataFrame:
    """The exam level, in the canonical exam schema, by patient and date."""
    rows = [r for r in rows if include_non_patient or not r["non_patient"]]
    cols = {**EXAM_COLUMNS, **EXAM_EXTRA_COLUMNS}
    if keep_flag:
        cols["non_patient"] = pl.Boolean()
    table = pl.DataFrame(
        [{k: r[k] for k in cols} for r in rows],
        schema=cols,  # type: ignore[arg-type]
    )
    return table.sort(["patient_id", "exam_date", "study_uid"], nulls_last=True)


def _problem_frame(problems: list[Problem]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"file": f, "reason": r, "field": fld, "action": a} for f, fld, a, r in problems],
        schema=PROBLEM_COLUMNS,  # type: ignore[arg-type]
    )
