"""DICOM codes of the CT dose report templates (DCMR TID 10011-10013, CID 10011-10015), and
the meaning of a SNOMED code (:func:`snomed_meaning`) for a Target Region given without one."""

from __future__ import annotations

import functools
import re

XRAY_DOSE_REPORT = ("113701", "DCM")  # root concept of TID 10001 / 10011
CT_ACCUMULATED = ("113811", "DCM")  # CT Accumulated Dose Data (TID 10012)
CT_DLP_TOTAL = ("113813", "DCM")  # CT Dose Length Product Total
CT_ACQUISITION = ("113819", "DCM")  # CT Acquisition (TID 10013)
IRRADIATION_EVENT_UID = ("113769", "DCM")
ACQUISITION_PROTOCOL = ("125203", "DCM")
TARGET_REGION = ("123014", "DCM")
CT_ACQUISITION_TYPE = ("113820", "DCM")
CT_ACQUISITION_PARAMETERS = ("113822", "DCM")
SCANNING_LENGTH = ("113825", "DCM")
CT_DOSE = ("113829", "DCM")
MEAN_CTDIVOL = ("113830", "DCM")
PHANTOM_TYPE = ("113835", "DCM")  # CTDIw Phantom Type
DLP = ("113838", "DCM")
EFFECTIVE_DOSE = ("113839", "DCM")
START_OF_IRRADIATION = ("113809", "DCM")
SCOPE_OF_ACCUMULATION = ("113705", "DCM")
STUDY_INSTANCE_UID = ("110180", "DCM")
CONSTANT_ANGLE = ("113805", "DCM")  # localizer (scout / topogram) acquisition type
XRAY_EVENT = ("113706", "DCM")  # Irradiation Event X-Ray Data (projection, TID 10003)
TOTAL_NUMBER_OF_EVENTS = ("113812", "DCM")  # Total Number of Irradiation Events (TID 10012)
SSDE = ("113930", "DCM")  # Size Specific Dose Estimate (TID 10013, CT Dose)
WATER_EQUIVALENT_DIAMETER = ("113980", "DCM")
MEASUREMENT_METHOD = ("370129005", "SCT")  # method of SSDE (CID 10023) / WED (CID 10024)
# Dose check (NEMA XR-25; DCMR TID 10013 row "CT Dose Check Details", CID 10015).
DOSE_CHECK_ALERT = ("113900", "DCM")  # Dose Check Alert Details
DOSE_CHECK_NOTIFICATION = ("113908", "DCM")  # Dose Check Notification Details
DOSE_CHECK_VALUES: dict[tuple[str, str], str] = {
    ("113903", "DCM"): "dlp_alert_value_mgycm",
    ("113904", "DCM"): "ctdivol_alert_value_mgy",
    ("113905", "DCM"): "dlp_forward_estimate_alert_mgycm",  # Accumulated DLP Forward Estimate
    ("113906", "DCM"): "ctdivol_forward_estimate_alert_mgy",  # Accumulated CTDIvol Fwd Est.
    ("113911", "DCM"): "dlp_notification_value_mgycm",
    ("113912", "DCM"): "ctdivol_notification_value_mgy",
    ("113913", "DCM"): "dlp_forward_estimate_notification_mgycm",  # DLP Forward Estimate
    ("113914", "DCM"): "ctdivol_forward_estimate_notification_mgy",  # CTDIvol Forward Est.
}
"""Dose check values of a report (NEMA XR-25; DICOM TID 10013 "CT Dose Check Details", CID
10015): concept code -> the column of the events table that holds the value (alert and
notification values, and their forward estimates)."""

SOP_CLASS_NAMES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
}
"""SR storage classes searched for a CT dose report (TID 10011)."""


ANATOMY_IMAGED = 4030  # CID 4030 CT, MR and PET Anatomy Imaged: the Target Region's codes
_SEMANTIC_TAG = re.compile(r"\s*\(body structure\)$")


@functools.cache
def _snomed_meanings() -> tuple[dict[str, str], dict[str, str]]:
    """``(SNOMED CT code -> meaning, SNOMED RT code -> SNOMED CT code)`` from pydicom's
    tables of DICOM PS3.16 (every SNOMED concept of its context groups, CID 4030 "CT, MR and
    PET Anatomy Imaged" among them, and the SNOMED RT codes they replace). Empty where the
    installed pydicom holds no such tables (then no code is known)."""
    try:
        from pydicom.sr._concepts_dict import concepts
        from pydicom.sr._snomed_dict import mapping

        meanings: dict[str, str] = {}
        for by_code in concepts["SCT"].values():
            for code, (meaning, cids) in by_code.items():
                if code not in meanings or ANATOMY_IMAGED in cids:  # CID 4030's name first
                    meanings[code] = _SEMANTIC_TAG.sub("", str(meaning))
        return meanings, dict(mapping["SRT"])
    except (ImportError, KeyError, TypeError, ValueError, AttributeError):  # pragma: no cover
        return {}, {}


def snomed_meaning(code: tuple[str, str] | None) -> str | None:
    """The meaning of a SNOMED code (scheme ``SCT``, or the retired SNOMED RT ``SRT``, e.g.
    ``("T-D3000", "SRT")`` -> ``"Thoracic structure"``) as DICOM PS3.16 gives it (the
    body-structure tag of a full SNOMED name dropped), or None for a code of another scheme
    or one DICOM does not use. Reads the anatomy of a Target Region (CID 4030) that has a
    code but no Code Meaning; the text is then mapped to a region as a meaning would be."""
    if code is None or code[1] not in ("SCT", "SRT"):
        return None
    meanings, srt_to_sct = _snomed_meanings()
    value = code[0] if code[1] == "SCT" else srt_to_sct.get(code[0])
    return meanings.get(value) if value is not None else None
