"""Columns of the tables, the read report and the error of :func:`recurct.io.rdsr.read_rdsr`."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from recurct.errors import RdsrReadError  # noqa: F401 (imported from here by the rdsr modules)
from recurct.io.rdsr._codes import DOSE_CHECK_VALUES

DICOM_INSTALL = 'reading DICOM dose reports needs pydicom: pip install "recurct[dicom]"'

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "study_uid": pl.Utf8(),
    "event_uid": pl.Utf8(),
    "patient_id": pl.Utf8(),
    "exam_date": pl.Datetime("us"),
    "acquisition_type": pl.Utf8(),
    "localizer": pl.Boolean(),
    "events_lost": pl.Boolean(),
    "protocol": pl.Utf8(),
    "target_region": pl.Utf8(),
    "body_region": pl.Utf8(),
    "ctdivol_mgy": pl.Float64(),
    "dlp_mgycm": pl.Float64(),
    "effective_dose_msv": pl.Float64(),
    "dose_method": pl.Utf8(),
    "phantom_type": pl.Utf8(),
    "scanning_length_mm": pl.Float64(),
    **{name: pl.Float64() for name in DOSE_CHECK_VALUES.values()},
    "ssde_mgy": pl.Float64(),
    "ssde_method": pl.Utf8(),
    "water_equivalent_diameter_mm": pl.Float64(),
    "region_source": pl.Utf8(),
    "source_file": pl.Utf8(),
}
"""Columns of the event table (``level="event"``), in order. ``events_lost`` is true on
every event of an exam that lost events (fewer than its reports count, or a damaged report):
its events are not the whole exam, so :func:`recurct.dose.effective_dose` at event level
leaves its sums null, as the exam table leaves its DLP."""

EXAM_COLUMNS: dict[str, pl.DataType] = {
    "patient_id": pl.Utf8(),
    "exam_date": pl.Datetime("us"),
    "study_uid": pl.Utf8(),
    "age_years": pl.Float64(),
    "sex": pl.Utf8(),
    "facility": pl.Utf8(),
    "station_name": pl.Utf8(),
    "manufacturer": pl.Utf8(),
    "model": pl.Utf8(),
    "dlp_mgycm": pl.Float64(),
    "reported_dlp_total_mgycm": pl.Float64(),
    "dlp_total_mismatch": pl.Boolean(),
    "ctdivol_mgy": pl.Float64(),
    "body_region": pl.Utf8(),
    "n_events": pl.Int64(),
    "n_reports": pl.Int64(),
    "effective_dose_msv": pl.Float64(),
}
"""Canonical columns of the exam table (``level="exam"``), in order; :func:`read_rdsr` adds
:data:`EXAM_EXTRA_COLUMNS` after them."""

EXAM_EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "dose_method": pl.Utf8(),
    "accession_number": pl.Utf8(),
    "study_description": pl.Utf8(),
    "requested_procedure": pl.Utf8(),
    "patient_weight_kg": pl.Float64(),
    "patient_size_m": pl.Float64(),
    "ssde_mgy": pl.Float64(),
    "ssde_method": pl.Utf8(),
    "water_equivalent_diameter_mm": pl.Float64(),
    "identity_conflict": pl.Boolean(),
}
"""Columns :func:`read_rdsr` adds after :data:`EXAM_COLUMNS` (see its docstring)."""

PROBLEM_COLUMNS: dict[str, pl.DataType] = {
    "file": pl.Utf8(),
    "reason": pl.Utf8(),
    "field": pl.Utf8(),
    "action": pl.Utf8(),
}
"""Columns of :attr:`ReadReport.problems` and their types (one row per problem: ``file``,
``reason``, ``field``, ``action``)."""

REPORTED_DOSE_METHOD = "reported (DICOM 113839)"
"""``dose_method`` of an effective dose taken from the report (Effective Dose, 113839)."""

SERIAL_BELOW = 64
"""Fewer files than this are read in the calling process (a pool costs ~1 s to start)."""

PROGRESS_FROM = 200
"""With ``progress=None`` a progress bar is shown from this many files (stderr a terminal)."""


@dataclass(frozen=True, eq=False)
class ReadReport:
    """What :func:`read_rdsr` (or :func:`recurct.io.openrem.read_openrem_ct`) read, skipped
    and read leniently.

    Attributes
    ----------
    files_read : int
        Files that gave at least one CT irradiation event.
    files_skipped : int
        Files not read (not DICOM, not a CT dose report, unreadable).
    problems : polars.DataFrame
        One row per problem: ``file``, ``reason``, ``field`` (the DICOM attribute or SR concept
        concerned, null for the whole file) and ``action`` (``"skipped"``: the file was not
        used; ``"lenient"``: the file was used, the value was repaired or left null;
        ``"kept apart"``: reports of one Study Instance UID belong to different patients and
        were kept as separate exams; ``"not checked"``: an exam's dose was kept but could not
        be checked, as events lost from a report without a Total Number of Irradiation
        Events, 113812, cannot be detected; ``"dropped"``: a row of an OpenREM export that is
        no study, with no key, such as a totals row, was left out). Under pseudonymisation
        ``file`` is the file's pseudonym (:func:`file_pseudonym`) and no reason holds a raw
        identifier.
    non_patient_studies : int
        Studies whose patient ID or name matched a ``non_patient`` pattern (QA / phantom).
    non_patient_excluded : bool
        Whether those studies were left out of the table (``include_non_patient=False``).
    duplicate_events : int
        Irradiation events found in more than one report of a study and counted once.
    """

    files_read: int = 0
    files_skipped: int = 0
    problems: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=PROBLEM_COLUMNS)  # type: ignore[arg-type]
    )
    non_patient_studies: int = 0
    non_patient_excluded: bool = True
    duplicate_events: int = 0

    def __str__(self) -> str:
        return (
            f"ReadReport: {self.files_read} file(s) read, {self.files_skipped} skipped, "
            f"{self.problems.height} problem(s), {self.duplicate_events} duplicate event(s) "
            f"merged, {self.non_patient_studies} non-patient stud(ies)"
            + (" excluded" if self.non_patient_excluded else " kept")
        )
