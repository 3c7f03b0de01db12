"""Read OpenREM's CT export (CSV or XLSX "All data" sheet) into exam and event tables.

OpenREM (https://openrem.org) exports one row per CT study: study columns ("Institution name",
"Study date", "Patient age", "DLP total (mGy.cm)", ...) followed by one block of columns per
irradiation event, "E1 Protocol", "E1 Type", ..., "E1 CTDIvol", "E1 DLP", "E2 Protocol", ...
(``exportCT2excel`` in ``openrem/remapp/exports/exportcsv.py``; later versions build the same
blocks in ``ct_export.py`` / ``export_common.py`` and rename a few study columns, e.g.
"Institution", "Age", "Sex", "No. events", "Study Time": both spellings are read).
Patient ID and name appear only in exports made with patient-identifiable data permission.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct.dose import exam_region
from recurct.io.pseudonym import check_method, pseudonym
from recurct.io.rdsr import EXAM_COLUMNS, _mismatch

__all__ = ["EVENT_FIELDS", "STUDY_FIELDS", "read_openrem_ct"]

STUDY_FIELDS: dict[str, tuple[str, ...]] = {
    "patient_id": ("Patient ID",),
    "study_uid": ("Study UID", "Study instance UID"),
    "accession_number": ("Accession number",),
    "facility": ("Institution name", "Institution"),
    "manufacturer": ("Manufacturer",),
    "model": ("Model name",),
    "station_name": ("Station name",),
    "display_name": ("Display name",),
    "study_date": ("Study date",),
    "study_time": ("Study time", "Study Time"),
    "age_years": ("Patient age", "Age"),
    "sex": ("Patient sex", "Sex"),
    "test_patient": ("Test patient?", "Not patient?"),
    "study_description": ("Study description",),
    "requested_procedure": ("Requested procedure",),
    "n_events_reported": ("Number of events", "No. events"),
    "reported_dlp_total_mgycm": ("DLP total (mGy.cm)",),
}
"""Canonical name -> OpenREM study column names (all known spellings)."""

EVENT_FIELDS: dict[str, str] = {
    "Protocol": "protocol",
    "Type": "acquisition_type",
    "Exposure time": "exposure_time_s",
    "Scanning length": "scanning_length_mm",
    "Slice thickness": "slice_thickness_mm",
    "Total collimation": "total_collimation_mm",
    "Pitch": "pitch",
    "No. sources": "n_sources",
    "CTDIvol": "ctdivol_mgy",
    "Phantom": "phantom_type",
    "DLP": "dlp_mgycm",
    "mA Modulation type": "modulation_type",
    "Comments": "comment",
}
"""OpenREM event column name (after "E<n> ") -> event table column. Others are ignored."""

_NUMERIC_EVENT = {
    "exposure_time_s",
    "scanning_length_mm",
    "slice_thickness_mm",
    "total_collimation_mm",
    "pitch",
    "n_sources",
    "ctdivol_mgy",
    "dlp_mgycm",
}
_EVENT_COLUMN = re.compile(r"^E(\d+) (.+)$")
_NULLS = {"", "none", "n/a", "nan", "null"}


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    return None if s.lower() in _NULLS else s


def _number(value: Any, where: str) -> float | None:
    s = _text(value)
    if s is None:
        return None
    try:
        return float(s)
    except ValueError:
        try:
            return float(s.replace(",", "."))
        except ValueError:
            raise ValueError(f"{where}: {s!r} is not a number") from None


def _date(day: Any, time: Any, where: str) -> datetime | None:
    d = _text(day)
    if d is None:
        return None
    d = d.split(" ")[0] if ":" in d else d
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            out = datetime.strptime(d, fmt)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"{where}: study date {d!r} is not YYYY-MM-DD")
    t = _text(time)
    if t:
        for fmt in ("%H:%M:%S.%f", "%H:%M:%S", "%H%M%S.%f", "%H%M%S", "%H:%M"):
            try:
                tt = datetime.strptime(t, fmt)
                return out.replace(
                    hour=tt.hour, minute=tt.minute, second=tt.second, microsecond=tt.microsecond
                )
            except ValueError:
                continue
    return out


def _truthy(value: Any) -> bool:
    s = _text(value)
    return s is not None and s.lower() not in ("false", "0", "no")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        import pandas as pd

        try:
            with pd.ExcelFile(path) as sheets:
                names = [str(n) for n in sheets.sheet_names]
                sheet = "All data" if "All data" in names else names[0]
                frame = pd.read_excel(sheets, sheet_name=sheet, dtype=object)
        except ImportError as exc:  # pragma: no cover
            raise ImportError(
                "reading OpenREM .xlsx exports needs openpyxl: pip install openpyxl"
            ) from exc
        return frame.to_dict("records")  # type: ignore[return-value]
    df = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True)
    return df.to_dicts()


def read_openrem_ct(
    csv_or_xlsx: str | os.PathLike[str],
    *,
    pseudonymise: Literal["salted-sha256"] | None = None,
    salt: str | None = None,
    include_non_patient: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read an OpenREM CT export into ``(exams, events)``.

    Parameters
    ----------
    csv_or_xlsx : path
        OpenREM CT CSV export, or XLSX export (its "All data" sheet is read).
    pseudonymise, salt
        As in :func:`recurct.io.rdsr.read_rdsr`: replace "Patient ID" by a salted SHA-256.
    include_non_patient : bool
        Keep studies marked in OpenREM's "Test patient?" column (with a ``non_patient``
        column); by default they are dropped.

    Returns
    -------
    exams : polars.DataFrame
        One row per study, canonical exam columns (:data:`recurct.io.rdsr.EXAM_COLUMNS`; no
        ``study_uid`` in most OpenREM versions, so ``accession_number`` is added):
        ``dlp_mgycm`` is the sum of the event DLPs (the reported total where no event has a
        DLP), ``ctdivol_mgy`` the CTDIvol of the event with the largest DLP, ``body_region``
        the combination of the events' protocol regions (:func:`recurct.dose.normalise_region`),
        ``effective_dose_msv`` null (fill it with :func:`recurct.dose.effective_dose`).
        Patient names and birth dates are never carried.
    events : polars.DataFrame
        One row per event: ``exam_row`` (0-based row of ``exams`` before filtering),
        ``accession_number``, ``patient_id``, ``exam_date``, ``event`` (1-based), and the
        columns of :data:`EVENT_FIELDS` found in the file, plus ``body_region``.
    """
    key = check_method(pseudonymise, salt)
    path = Path(csv_or_xlsx)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    header = list(rows[0].keys())
    cols = {
        canon: next((n for n in names if n in header), None)
        for canon, names in STUDY_FIELDS.items()
    }
    if cols["study_date"] is None or cols["reported_dlp_total_mgycm"] is None:
        raise ValueError(
            f"{path}: not an OpenREM CT export (needs 'Study date' and 'DLP total (mGy.cm)'; "
            f"found columns {header[:12]}...)"
        )
    blocks: dict[int, dict[str, str]] = {}
    for name in header:
        m = _EVENT_COLUMN.match(str(name))
        if m and m.group(2) in EVENT_FIELDS:
            blocks.setdefault(int(m.group(1)), {})[EVENT_FIELDS[m.group(2)]] = name
    event_fields = sorted(
        {f for b in blocks.values() for f in b}, key=list(EVENT_FIELDS.values()).index
    )

    from recurct.dose import normalise_region

    cache: dict[str, str | None] = {}

    def region(text: str | None) -> str | None:
        if text is None:
            return None
        if text not in cache:
            cache[text] = normalise_region(text)
        return cache[text]

    exams: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        where = f"{path.name} row {i + 2}"

        def get(canon: str, row: dict[str, Any] = row) -> Any:
            col = cols[canon]
            return row.get(col) if col is not None else None

        pid = _text(get("patient_id"))
        if pid is not None and key is not None:
            pid = pseudonym(pid, key)
        exam_date = _date(get("study_date"), get("study_time"), where)
        evs = []
        for n in sorted(blocks):
            block = blocks[n]
            ev: dict[str, Any] = {}
            for field_name, col in block.items():
                value = row.get(col)
                ev[field_name] = (
                    _number(value, f"{where}, column {col!r}")
                    if field_name in _NUMERIC_EVENT
                    else _text(value)
                )
            if all(v is None for v in ev.values()):
                continue  # an exam with fewer events than the widest one
            ev.update(
                exam_row=i,
                accession_number=_text(get("accession_number")),
                patient_id=pid,
                exam_date=exam_date,
                event=n,
                body_region=region(ev.get("protocol")),
            )
            evs.append(ev)
        events.extend(evs)
        dlps = [e["dlp_mgycm"] for e in evs if e.get("dlp_mgycm") is not None]
        reported = _number(get("reported_dlp_total_mgycm"), f"{where}, DLP total")
        dlp = math.fsum(dlps) if dlps else reported
        main = max(
            (e for e in evs if e.get("dlp_mgycm") is not None),
            key=lambda e: e["dlp_mgycm"],
            default=None,
        )
        has_region = any(e["body_region"] is not None for e in evs)
        sex = (_text(get("sex")) or "").upper()[:1] or None
        exams.append(
            {
                "patient_id": pid,
                "exam_date": exam_date,
                "study_uid": _text(get("study_uid")),
                "age_years": _number(get("age_years"), f"{where}, Patient age"),
                "sex": sex if sex in ("F", "M", "O") else None,
                "facility": _text(get("facility")),
                "station_name": _text(get("station_name")),
                "manufacturer": _text(get("manufacturer")),
                "model": _text(get("model")),
                "dlp_mgycm": dlp,
                "reported_dlp_total_mgycm": reported,
                "dlp_total_mismatch": _mismatch(reported, math.fsum(dlps), len(dlps))
                if dlps
                else None,
                "ctdivol_mgy": main.get("ctdivol_mgy") if main is not None else None,
                "body_region": exam_region(
                    [e["body_region"] for e in evs], [e.get("dlp_mgycm") for e in evs]
                )
                if has_region
                else None,
                "n_events": len(evs) if blocks else _number(get("n_events_reported"), where),
                "n_reports": 1,
                "effective_dose_msv": None,
                "accession_number": _text(get("accession_number")),
                "study_description": _text(get("study_description")),
                "non_patient": _truthy(get("test_patient")),
            }
        )
    exam_cols: dict[str, Any] = {
        **EXAM_COLUMNS,
        "accession_number": pl.Utf8(),
        "study_description": pl.Utf8(),
    }
    exam_cols.pop("n_reports")
    if include_non_patient:
        exam_cols["non_patient"] = pl.Boolean()
    keep = [e for e in exams if include_non_patient or not e["non_patient"]]
    for e in keep:
        if e["n_events"] is not None:
            e["n_events"] = int(e["n_events"])
    exam_df = pl.DataFrame([{k: e[k] for k in exam_cols} for e in keep], schema=exam_cols)
    kept_rows = {i for i, e in enumerate(exams) if include_non_patient or not e["non_patient"]}
    ev_cols: dict[str, Any] = {
        "exam_row": pl.Int64(),
        "accession_number": pl.Utf8(),
        "patient_id": pl.Utf8(),
        "exam_date": pl.Datetime("us"),
        "event": pl.Int64(),
        **{f: (pl.Float64() if f in _NUMERIC_EVENT else pl.Utf8()) for f in event_fields},
        "body_region": pl.Utf8(),
    }
    event_df = pl.DataFrame(
        [{k: e.get(k) for k in ev_cols} for e in events if e["exam_row"] in kept_rows],
        schema=ev_cols,
    )
    return exam_df, event_df
