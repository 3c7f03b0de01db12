"""The canonical exam table: one row per CT examination (see DESIGN.md).

Columns and dtypes (polars):

=====================  ==============================  ====================================
column                 dtype                           notes
=====================  ==============================  ====================================
``patient_id``         ``Utf8`` or ``Int64``           required; kept as given
``exam_date``          ``Datetime("us")`` or ``Date``  required; time of day orders exams
``effective_dose_msv`` ``Float64``                     required for dose analysis, >= 0
``dlp_mgycm``          ``Float64``                     optional, >= 0
``ctdivol_mgy``        ``Float64``                     optional, >= 0
``body_region``        ``Utf8``                        optional, one of :data:`BODY_REGIONS`
``age_years``          ``Float64``                     optional, age at the exam, 0-130
``sex``                ``Utf8``                        optional, one of F, M, O, U
``facility``           ``Utf8``                        optional
``study_uid``          ``Utf8``                        optional
``indication``         ``Utf8``                        optional
=====================  ==============================  ====================================

Unknown columns are carried through unchanged.
"""

from __future__ import annotations

import polars as pl

REQUIRED_COLUMNS: tuple[str, ...] = ("patient_id", "exam_date", "effective_dose_msv")
"""Columns every exam table must have for a dose analysis."""

OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "dlp_mgycm": pl.Float64(),
    "ctdivol_mgy": pl.Float64(),
    "body_region": pl.Utf8(),
    "age_years": pl.Float64(),
    "sex": pl.Utf8(),
    "facility": pl.Utf8(),
    "study_uid": pl.Utf8(),
    "indication": pl.Utf8(),
}
"""Optional canonical columns and their polars dtypes."""

BODY_REGIONS: tuple[str, ...] = (
    "head",
    "neck",
    "head_neck",
    "chest",
    "abdomen",
    "pelvis",
    "abdomen_pelvis",
    "chest_abdomen_pelvis",
    "spine",
    "extremity",
    "other",
)
"""Canonical body regions."""

SEX_CODES: tuple[str, ...] = ("F", "M", "O", "U")
"""Canonical sex codes (DICOM Patient's Sex: F, M, O; U for unknown)."""

DOSE_COLUMNS: tuple[str, ...] = ("effective_dose_msv", "dlp_mgycm", "ctdivol_mgy")
"""Columns that hold doses: finite and >= 0 where present."""
