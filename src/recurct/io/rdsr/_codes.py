"""DICOM codes of the CT dose report templates (DCMR TID 10011-10013, CID 10011-10015)."""

from __future__ import annotations

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
