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
``body_region_raw``    ``Utf8``                        added: the body region as given
``age_years``          ``Float64``                     optional, age at the exam, 0-130
``sex``                ``Utf8``                        optional, one of F, M, O, U
``facility``           ``Utf8``                        optional
``study_uid``          ``Utf8``                        optional
``indication``         ``Utf8``                        optional
=====================  ==============================  ====================================

Unknown columns are carried through unchanged.

Free text is mapped at the door: ``body_region`` through the rules of
:func:`recurct.regions.normalise_region` (the original text kept in ``body_region_raw``), ``sex``
through :data:`SEX_TABLE`; a value neither maps is set null, counted and reported, and the exam
is kept, as is a bad optional attribute with ``strict=False`` (an age outside 0-130, a negative
CTDIvol: see :func:`validate`). Identifiers follow :func:`recurct._frames.to_polars`: placeholders
(:data:`PLACEHOLDER_IDS`) are missing, surrounding whitespace is removed with a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._dates import DICOM_AGE_UNITS, dicom_age_years, parse_dates, parse_dicom_age
from recurct._frames import (
    PLACEHOLDER_IDS,
    IdentifierWarning,
    _unwrap,
    frame_kind,
    from_polars,
    input_index,
)
from recurct._lazy import lazy_getattr
from recurct.errors import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning

if TYPE_CHECKING:
    from datetime import date, datetime

    import pandas as pd
    import pyarrow as pa

    # the lazily loaded names (``_LAZY`` below), seen by type checkers as the real objects
    from recurct._duplicates import DUPLICATE_RULE, duplicate_mask
    from recurct._validation import EARLIEST_DATE as EARLIEST_DATE
    from recurct._validation import MAX_AGE_YEARS as MAX_AGE_YEARS
    from recurct._validation import ValidationReport
    from recurct.io._result import ReadResult

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

SEX_TABLE: dict[str, str] = {
    **dict.fromkeys(("F", "FEMALE", "W", "WEIBLICH", "FEMME", "FEMININ", "FEMMINA"), "F"),
    **dict.fromkeys(("FEMMINILE", "VROUW", "VROUWELIJK", "MUJER", "FEMENINO"), "F"),
    **dict.fromkeys(("M", "MALE", "MÄNNLICH", "MAENNLICH", "MANNLICH", "H", "HOMME"), "M"),
    **dict.fromkeys(("MASCULIN", "MASCHIO", "MASCHILE", "MAN", "MANNELIJK", "HOMBRE"), "M"),
    **dict.fromkeys(("MASCULINO",), "M"),
    **dict.fromkeys(("O", "OTHER", "D", "DIVERS", "X", "AUTRE", "ALTRO", "ANDERS", "OTRO"), "O"),
    **dict.fromkeys(("U", "UNKNOWN", "UNBEKANNT", "INCONNU", "SCONOSCIUTO", "ONBEKEND"), "U"),
    **dict.fromkeys(("DESCONOCIDO",), "U"),
}
"""Sex codes and words (compared in upper case, surrounding spaces removed) -> F, M, O, U.

DICOM F/M/O and U; English, German (``W`` weiblich, ``D`` divers, männlich), French (``H``
homme, femme), Italian, Dutch and Spanish words; ``X`` (non-binary, as in passports) -> O.
Deliberately absent because they are ambiguous: ``V`` (Dutch *vrouw* = F, Spanish *varón* =
M) and numeric codes (ISO/IEC 5218 uses 1 = male, 2 = female, but exports disagree). Another
value is set null, counted and reported; the exam is kept.
"""

MAX_EXAM_DOSE_MSV: float = 1000.0
"""Default plausibility bound of one exam's effective dose (mSv): above it, a value is a unit or
entry error (a dose in µSv, a DLP in the dose column), not an exam.

Rationale (figures in ``docs/sources.md``): the largest adult reference level there,
1200 mGy·cm (ARPANSA chest-abdomen-pelvis), times the largest conversion factor there, 0.0508
mSv/(mGy·cm) (NCI chest, 0 y, ICRP 103, 120 kV), gives 61 mSv; 1000 mSv leaves a factor of
about 16 for repeated phases and overscans, and is below the largest *cumulative* dose among
2.5 million patients over up to 5 years (1185 mSv, Rehani et al. 2020), which no single exam
can exceed. Pass ``max_dose_msv=`` to :func:`validate` / :func:`recurct.read_exams` to change
it (``None``: no bound).
"""

DOSE_COLUMNS: tuple[str, ...] = ("effective_dose_msv", "dlp_mgycm", "ctdivol_mgy")
"""Columns that hold doses: finite and >= 0 where present."""

__all__ = [
    "BODY_REGIONS",
    "DICOM_AGE_UNITS",
    "DOSE_COLUMNS",
    "DUPLICATE_RULE",
    "MAX_EXAM_DOSE_MSV",
    "OPTIONAL_COLUMNS",
    "PLACEHOLDER_IDS",
    "REQUIRED_COLUMNS",
    "SEX_CODES",
    "SEX_TABLE",
    "DroppedRowsWarning",
    "ExamValidationError",
    "IdentifierWarning",
    "UnmappedValuesWarning",
    "ValidationReport",
    "dicom_age_years",
    "duplicate_mask",
    "parse_dates",
    "parse_dicom_age",
    "validate",
]

# defined beside the code that uses them (they import the constants above), loaded on use
_LAZY = {
    "DUPLICATE_RULE": "recurct._duplicates",
    "duplicate_mask": "recurct._duplicates",
    "ValidationReport": "recurct._validation",
    "EARLIEST_DATE": "recurct._validation",
    "MAX_AGE_YEARS": "recurct._validation",
}


# no ``__getattr__`` for type checkers (it would make every attribute ``Any`` to them): they
# see the names of ``_LAZY`` through the imports under ``TYPE_CHECKING`` above
if not TYPE_CHECKING:
    __getattr__ = lazy_getattr("recurct.schema", _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


@overload
def validate(
    exams: pl.DataFrame | pl.LazyFrame | ReadResult[pl.DataFrame],
    *,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    required: tuple[str, ...] | list[str] = ...,
    dayfirst: bool = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> pl.DataFrame: ...
@overload
def validate(
    exams: pd.DataFrame | ReadResult[pd.DataFrame],
    *,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    required: tuple[str, ...] | list[str] = ...,
    dayfirst: bool = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> pd.DataFrame: ...
@overload
def validate(
    exams: pl.DataFrame | pd.DataFrame | ReadResult[Any],
    *,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    required: tuple[str, ...] | list[str] = ...,
    dayfirst: bool = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> pl.DataFrame | pd.DataFrame: ...
@overload
def validate(
    exams: pa.Table | pa.RecordBatch,
    *,
    strict: bool = ...,
    today: date | datetime | str | None = ...,
    required: tuple[str, ...] | list[str] = ...,
    dayfirst: bool = ...,
    region_rules: Any = ...,
    placeholder_ids: tuple[str, ...] | list[str] | None = ...,
    max_dose_msv: float | None = ...,
) -> pl.DataFrame: ...
@renamed(return_report="use read_exams(exams, strict=False).report, which holds the report")
def validate(
    exams: Any,
    *,
    strict: bool = True,
    today: date | datetime | str | None = None,
    required: tuple[str, ...] | list[str] = REQUIRED_COLUMNS,
    dayfirst: bool = False,
    region_rules: Any = None,
    placeholder_ids: tuple[str, ...] | list[str] | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
) -> pl.DataFrame | pd.DataFrame:
    """Check an exam table against the canonical schema and return it in canonical form.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        One row per CT examination (see the module docstring for the columns).
    strict : bool, default True
        Raise :class:`ExamValidationError` listing every problem. With ``False``, drop the
        rows that have a problem (warning once, :class:`DroppedRowsWarning`, counts by
        reason), except a bad optional attribute, which is set null with the exam and its dose
        kept (counted, :class:`UnmappedValuesWarning`; see Returns), and return the rows in
        input order.
    today : date, datetime or ``YYYY-MM-DD`` str, optional
        Latest plausible exam date (default: today).
    required : sequence of str, default :data:`REQUIRED_COLUMNS`
        Columns that must exist and must not be null (a bad value in one of them is never
        set null: its row is a problem).
    dayfirst : bool, default False
        String dates may be ``31/12/2019``, ``31.12.2019`` or ``31-12-2019``.
    region_rules : mapping, sequence of (pattern, region) pairs, or table, optional
        Extra rules for ``body_region`` text, tried before the shipped ones (see
        :func:`recurct.regions.normalise_region`).
    placeholder_ids : sequence of str, optional
        Identifier text meaning "missing" (default :data:`PLACEHOLDER_IDS`).
    max_dose_msv : float or None, default :data:`MAX_EXAM_DOSE_MSV`
        Plausibility bound of one exam's ``effective_dose_msv``; a larger value is a problem
        (``None``: no bound). A ``dlp_mgycm`` above ``max_dose_msv`` divided by the smallest
        conversion factor of the shipped tables (0.0017 mSv/(mGy·cm), head: about 590,000
        mGy·cm for 1000 mSv) is a problem too: no table turns it into a plausible dose.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        pandas when given pandas, else polars; a pandas result keeps the input's index
        labels of the rows kept (in input order, as ``df.dropna()`` keeps them), so the rows
        dropped are those missing from it. The report of what was dropped or set null
        is ``recurct.read_exams(exams, strict=False).report``. The table has canonical
        dtypes: ``patient_id`` Utf8 or Int64 (other integers and
        integral floats cast to Int64), ``exam_date`` ``Datetime("us")`` or ``Date`` (strings
        parse to ``Date`` when none has a time of day), doses and ``age_years`` Float64
        (text read as :func:`recurct.read_exams` reads it without ``decimal=``: each column
        decides its decimal mark, docs/data-preparation.md "Numbers in text"; a float32 value
        as written, by its shortest decimal: 12.3, not 12.300000190734863),
        ``sex`` through :data:`SEX_TABLE` (``female``, ``W`` -> ``F``), ``body_region``
        through the region rules (``ABDOMEN/PELVIS`` -> ``abdomen_pelvis``) with the text as
        given in ``body_region_raw``, other canonical columns Utf8. Unknown columns are carried
        through unchanged. A sex code or body region that maps to nothing is set null (the exam
        kept), counted in the report and in an :class:`UnmappedValuesWarning`. With
        ``strict=False`` so is a bad optional attribute (a column of neither
        :data:`REQUIRED_COLUMNS` nor ``required``): an ``age_years`` that is not a number or
        outside 0-130, a ``ctdivol_mgy`` or ``dlp_mgycm`` that is not a number, NaN,
        infinite, negative or above the bound (``max_dose_msv``). A ``dlp_mgycm`` on a row
        without an effective dose is that row's dose (:func:`recurct.dose.effective_dose`
        converts it): a bad one drops the row, like a bad ``effective_dose_msv``.

    Raises
    ------
    ExamValidationError
        With ``strict=True`` when any problem is found, and always when a required column is
        missing. Problems checked: missing required columns; null (or blank) values in required
        columns; non-integral float patient ids; unparseable dates, dates before 1900-01-01
        or after ``today``; doses that are not numbers (booleans included) or whose decimal
        mark is ambiguous (text ``1.234`` in a column that does not show it), NaN, infinite or
        negative (a null dose is allowed in a column that is not required, except a null
        ``effective_dose_msv`` in a table without a ``dlp_mgycm`` column: nothing could
        convert one; with a DLP column, ``effective_dose`` reports a row with neither);
        effective doses
        and DLPs above the bound of ``max_dose_msv``; ages that are neither numbers nor DICOM
        age strings (``067Y``), or outside 0-130; duplicate exams.
    recurct.errors.DataError
        (a ``ValueError``) A canonical column has a dtype that cannot hold its values (a
        ``List``, ``Struct`` or ``Object`` column; a ``Duration`` date or id; a date, time or
        binary dose or age), naming the column and the dtype.

    Warns
    -----
    recurct.errors.RecurctWarning
        A text ``exam_date`` column mixes UTC offsets (``+01:00`` in some rows, ``Z`` or
        ``+02:00`` in others): each time is read as the wall-clock time written, its offset
        dropped, so times written with different offsets are on different clocks (two exams
        of one day may be ordered wrongly). The warning names the offsets and the first row
        of each; convert the times to one zone first where that matters.

    Notes
    -----
    Duplicate exams follow :data:`DUPLICATE_RULE` (see :func:`duplicate_mask`): same
    ``patient_id`` and ``study_uid``; without a ``study_uid``, the same ``patient_id``,
    ``exam_date`` and every other canonical column (every column, ``body_region_raw``
    included, when their date carries no time of day). Values are compared as they are
    returned (codes that map to nothing null), except a bad optional attribute set null
    (with ``strict=False``), which is compared **as given**: setting a value null never
    makes two exams one (CTDIvol ``12,5`` and ``13,1`` in a ``,``-separated file stay two
    exams). The returned table holds those values null, so validating it again (or
    :meth:`recurct.Cohort.dedupe` on it) compares them null and counts once two rows that
    differed only there: ``validate(validate(x, strict=False), strict=False)`` can keep
    fewer rows than ``validate(x, strict=False)``. Validate the data as given once and keep
    its result (a table from :func:`recurct.read_exams` is already validated). The copy
    with the earliest ``exam_date`` (ties: input order) is kept and the others are the
    problems. Duplicates are looked for among rows without other problems, so a good copy of
    a bad row survives.
    """
    strict = _checks.flag(strict, "validate", "strict")
    dayfirst = _checks.flag(dayfirst, "validate", "dayfirst")
    from recurct._validation import check_exams_kept

    out, _, kept = check_exams_kept(
        exams,
        strict=strict,
        today=today,
        required=required,
        dayfirst=dayfirst,
        region_rules=region_rules,
        placeholder_ids=placeholder_ids,
        max_dose_msv=max_dose_msv,
        decimal=None,  # text doses and ages by the rule, each column deciding its mark
        caller="validate",
    )
    return from_polars(out, frame_kind(_unwrap(exams)), input_index(exams, kept))
