"""One CT acquisition (TID 10013) of a dose report into a plain event dict: its identity
(Irradiation Event UID, protocol, target region, localizer), its dose (CTDIvol, DLP, effective
dose; a lost or missing DLP flagged), and size-specific values (SSDE, water-equivalent
diameter, Dose Check alerts and notifications)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from recurct.io.rdsr._codes import (
    ACQUISITION_PROTOCOL,
    CONSTANT_ANGLE,
    CT_ACQUISITION_PARAMETERS,
    CT_ACQUISITION_TYPE,
    CT_DOSE,
    DLP,
    DOSE_CHECK_ALERT,
    DOSE_CHECK_NOTIFICATION,
    DOSE_CHECK_VALUES,
    EFFECTIVE_DOSE,
    IRRADIATION_EVENT_UID,
    MEAN_CTDIVOL,
    MEASUREMENT_METHOD,
    PHANTOM_TYPE,
    SCANNING_LENGTH,
    SSDE,
    TARGET_REGION,
    WATER_EQUIVALENT_DIAMETER,
    snomed_meaning,
)
from recurct.io.rdsr._items import (
    T_CONCEPT_CODE,
    T_TEXT,
    FileState,
    check_text,
    check_uid,
    child_items,
    code_meaning,
    concept_code,
    find_item,
    first_item,
    num_value,
    placeholder_note,
    tag_value,
    uid_text,
    uid_value,
)

__all__ = ["parse_event"]

_DOSE_VALUES = (
    (MEAN_CTDIVOL, "ctdivol_mgy", "Mean CTDIvol (113830)", "dose"),
    (DLP, "dlp_mgycm", "DLP (113838)", "dlp"),
    (EFFECTIVE_DOSE, "effective_dose_msv", "Effective Dose (113839)", "effective dose"),
)


def parse_event(
    i: int,
    acq: Any,
    state: FileState,
    uid: Callable[[str, Any], str],
    fallback_uid: str,
) -> dict[str, Any]:
    """The ``i``-th (1-based) CT acquisition; ``uid`` pseudonymises where asked;
    ``fallback_uid`` names the report where the event has no UID."""
    items = child_items(acq)
    ev: dict[str, Any] = {"localizer": False, "index": i}
    ev.update(_identity(i, items, state, uid, fallback_uid))
    ev.update(_dose(i, items, ev["localizer"], state))
    ev.update(_size_and_checks(i, items, state))
    return ev


def _identity(
    i: int,
    items: Sequence[Any],
    state: FileState,
    uid: Callable[[str, Any], str],
    fallback_uid: str,
) -> dict[str, Any]:
    ev: dict[str, Any] = {}
    uid_item = first_item(items, IRRADIATION_EVENT_UID)
    written = uid_text(uid_item).strip()
    event_uid = uid_value(uid_item) or ""  # a placeholder is no UID
    state.identifiers.append(event_uid)
    ev["uid_missing"] = not event_uid
    if not event_uid:
        event_uid = f"{fallback_uid}#{i}"
        state.lenient(
            f"CT acquisition {i} has no Irradiation Event UID{placeholder_note(written)}; "
            "cannot be merged across reports",
            "Irradiation Event UID (113769)",
        )
    else:
        check_uid(event_uid, f"Irradiation Event UID (113769), event {i}", state)
    ev["event_uid"] = uid(event_uid, "event_uid")
    proto = first_item(items, ACQUISITION_PROTOCOL)
    ev["protocol"] = check_text(
        (str(tag_value(proto, T_TEXT) or "").strip() or None) if proto is not None else None,
        f"Acquisition Protocol (125203), event {i}",
        state,
    )
    target = first_item(items, TARGET_REGION)
    ev["target_region"] = code_meaning(target) if target is not None else None
    if target is not None and not ev["target_region"]:
        ev["target_region"] = _target_from_code(i, concept_code(target, T_CONCEPT_CODE), state)
    elif target is None:
        state.lenient(f"CT acquisition {i} has no Target Region (123014)", "Target Region (123014)")
    check_text(ev["target_region"], f"Target Region (123014), event {i}", state)
    acq_type = first_item(items, CT_ACQUISITION_TYPE)
    ev["acquisition_type"] = code_meaning(acq_type) if acq_type is not None else None
    localizer = acq_type is not None and concept_code(acq_type, T_CONCEPT_CODE) == CONSTANT_ANGLE
    ev["localizer"] = localizer
    params = first_item(items, CT_ACQUISITION_PARAMETERS)
    length = first_item(child_items(params), SCANNING_LENGTH) if params is not None else None
    ev["scanning_length_mm"] = (
        num_value(length, f"Scanning Length (113825), event {i}", state, "length")
        if length is not None
        else None
    )
    return ev


def _target_from_code(i: int, code: tuple[str, str] | None, state: FileState) -> str | None:
    """The text of a Target Region given without a Code Meaning: the meaning of its SNOMED
    code (CID 4030, or the SNOMED RT code it replaces: :func:`snomed_meaning`), with a
    lenient problem row either way (none where the code is unknown)."""
    label = "Target Region (123014)"
    if code is None or not code[0]:
        state.lenient(f"CT acquisition {i} has no Target Region (123014)", label)
        return None
    meaning = snomed_meaning(code)
    if meaning is None:
        state.lenient(
            f"CT acquisition {i}: Target Region code {code[0]!r} (scheme {code[1]!r}) has no "
            "Code Meaning and is no SNOMED code DICOM uses (CID 4030): not mapped; the "
            "event's region comes from its protocol or the study's descriptions",
            label,
        )
        return None
    state.lenient(
        f"CT acquisition {i}: Target Region has no Code Meaning; read from its code "
        f"{code[0]!r} (scheme {code[1]!r}) as {meaning!r} (DICOM CID 4030 / SNOMED)",
        label,
    )
    return meaning


def _dose(i: int, items: Sequence[Any], localizer: bool, state: FileState) -> dict[str, Any]:
    """CTDIvol, DLP and effective dose of the CT Dose container; a DLP is missing where the
    event is not a localizer, or where a CT Dose container (in which DLP is mandatory) is
    present or damaged."""
    ev: dict[str, Any] = {}
    dose = first_item(items, CT_DOSE)
    dose_items = child_items(dose) if dose is not None else ()
    dose_lost = dose is None and any(
        concept_code(k) in (MEAN_CTDIVOL, DLP) for it in items for k in child_items(it)
    )
    if dose_lost:
        state.lenient(
            f"CT acquisition {i}: a content item holds CT dose values but is not coded CT "
            "Dose (113829): its dose is lost (damaged report?); the exam DLP is left null",
            "CT Dose (113829)",
        )
    for concept, col, label, quantity in _DOSE_VALUES:
        it = first_item(dose_items, concept)
        ev[col] = num_value(it, f"{label}, event {i}", state, quantity) if it is not None else None
        if dose is not None and it is None and concept != EFFECTIVE_DOSE:
            # mandatory in the CT Dose container (TID 10013), localizers included
            state.lenient(f"CT Dose of CT acquisition {i} has no {label}", label)
    ev["dlp_missing"] = ev["dlp_mgycm"] is None and (
        not localizer or dose is not None or dose_lost
    )
    if ev["dlp_missing"] and dose is None and not dose_lost:
        state.lenient(
            f"CT acquisition {i} has no DLP (113838); the exam DLP is left null", "DLP (113838)"
        )
    phantom = first_item(dose_items, PHANTOM_TYPE)
    ev["phantom_type"] = code_meaning(phantom) if phantom is not None else None
    return ev


def _size_and_checks(i: int, items: Sequence[Any], state: FileState) -> dict[str, Any]:
    """Size Specific Dose Estimate, its method, the water-equivalent diameter, and the
    values of Dose Check alerts and notifications."""
    ssde = find_item(items, SSDE)
    ev: dict[str, Any] = {
        "ssde_mgy": num_value(ssde, f"SSDE (113930), event {i}", state, "dose") if ssde else None
    }
    method = first_item(child_items(ssde), MEASUREMENT_METHOD) if ssde is not None else None
    ev["ssde_method"] = code_meaning(method) if method is not None else None
    wed = find_item(items, WATER_EQUIVALENT_DIAMETER)
    ev["water_equivalent_diameter_mm"] = (
        num_value(wed, f"Water Equivalent Diameter (113980), event {i}", state, "length")
        if wed
        else None
    )
    for col in DOSE_CHECK_VALUES.values():
        ev[col] = None
    dose = first_item(items, CT_DOSE)
    for container in child_items(dose) if dose is not None else ():
        if concept_code(container) in (DOSE_CHECK_ALERT, DOSE_CHECK_NOTIFICATION):
            for it in child_items(container):
                col = DOSE_CHECK_VALUES.get(concept_code(it))  # type: ignore[arg-type]
                if col is not None:
                    quantity = "dlp" if col.endswith("_mgycm") else "dose"  # else _mgy
                    label = f"{col} ({concept_code(it)[0]}), event {i}"  # type: ignore[index]
                    ev[col] = num_value(it, label, state, quantity)
    return ev
