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

import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import polars as pl

from recurct._compat import renamed
from recurct.dose import exam_region
from recurct.errors import PartialExamWarning
from recurct.io._result import ReadResult
from recurct.io.pseudonym import check_method, pseudonym
from recurct.io.rdsr import EXAM_COLUMNS, PROBLEM_COLUMNS, ReadReport

__all__ = ["EVENT_FIELDS", "STUDY_FIELDS", "PartialExamWarning", "read_openrem_ct"]

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
_NULLS = ["", "none", "n/a", "nan", "null"]
# their spellings in lower, upper and title case (a cheaper test than lower-casing every cell)
_NULL_SPELLINGS = sorted(
    {f(x) for x in _NULLS for f in (str.lower, str.upper, str.title)} | {"NaN"}
)
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y")
_TIME_FORMATS = ("%H:%M:%S%.f", "%H:%M:%S", "%H%M%S%.f", "%H%M%S", "%H:%M")
_LOCALIZER = "constant angle acquisition"  # OpenREM writes CT Acquisition Type's meaning
_ROW = "__row"


def _wanted(name: str) -> bool:
    """Columns the reader uses: the study fields and the event fields of each block."""
    if any(name in names for names in STUDY_FIELDS.values()):
        return True
    m = _EVENT_COLUMN.match(name)
    return bool(m and m.group(2) in EVENT_FIELDS)


def _read_frame(path: Path) -> pl.DataFrame:
    """The used columns of the export as text (nulls for empty and "n/a"-like cells)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        import pandas as pd

        try:
            with pd.ExcelFile(path) as sheets:
                names = [str(n) for n in sheets.sheet_names]
                sheet = "All data" if "All data" in names else names[0]
                frame = pd.read_excel(sheets, sheet_name=sheet, dtype=str, keep_default_na=False)
        except ImportError as exc:  # pragma: no cover
            raise ImportError(
                "reading OpenREM .xlsx exports needs openpyxl: pip install openpyxl"
            ) from exc
        frame.columns = [str(c) for c in frame.columns]
        frame = frame[[c for c in frame.columns if _wanted(c)]]
        df = pl.from_pandas(frame.astype(object).where(frame.notna(), None)).cast(pl.Utf8)
    else:
        opts: dict[str, Any] = {
            "infer_schema": False,
            "encoding": "utf8-lossy",
            "truncate_ragged_lines": True,
        }
        header = pl.read_csv(path, n_rows=0, **opts).columns
        df = pl.read_csv(path, columns=[c for c in header if _wanted(c)] or None, **opts)
    stripped = [pl.col(c).str.strip_chars() for c in df.columns]
    return df.with_columns(
        pl.when(s.is_in(_NULL_SPELLINGS)).then(None).otherwise(s).alias(c)
        for s, c in zip(stripped, df.columns)
    )


def _numbers(df: pl.DataFrame, columns: list[str], where: str) -> pl.DataFrame:
    """Text columns as Float64 (a decimal comma read too), all in one pass; a bad cell raises
    naming its row and column."""
    if not columns:
        return df
    conv = {
        c: pl.col(c).str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
        for c in columns
    }
    bad = df.select(
        (conv[c].is_null() & pl.col(c).is_not_null()).any().alias(c) for c in columns
    ).row(0, named=True)
    for c in columns:
        if bad[c]:
            out = df.select(conv[c]).to_series()
            i = int((out.is_null() & df[c].is_not_null()).arg_true()[0])
            raise ValueError(f"{where} row {i + 2}, column {c!r}: {df[c][i]!r} is not a number")
    return df.with_columns(e.alias(c) for c, e in conv.items())


def _dates(df: pl.DataFrame, day_col: str, time_col: str | None, where: str) -> pl.Series:
    day = df[day_col]
    part = pl.when(day.str.contains(":")).then(day.str.split(" ").list.first()).otherwise(day)
    parsed = df.select(
        pl.coalesce(
            [part.str.strptime(pl.Datetime("us"), f, strict=False) for f in _DATE_FORMATS]
            + [day.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)]
        )
    ).to_series()
    bad = parsed.is_null() & day.is_not_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ValueError(f"{where} row {i + 2}: study date {day[i]!r} is not YYYY-MM-DD")
    if time_col is None:
        return parsed.alias("exam_date")
    clock = df.select(
        pl.coalesce(
            [pl.col(time_col).str.strptime(pl.Time, f, strict=False) for f in _TIME_FORMATS]
        )
    ).to_series()
    return (
        pl.DataFrame({"d": parsed, "t": clock})
        .select(
            pl.when(pl.col("t").is_not_null())
            .then(pl.col("d").dt.truncate("1d").dt.combine(pl.col("t")))
            .otherwise(pl.col("d"))
        )
        .to_series()
        .alias("exam_date")
    )


def _pseudonyms(values: pl.Series, key: bytes | None, domain: Any) -> pl.Series:
    if key is None:
        return values
    uniq = values.drop_nulls().unique().to_list()
    mapping = {v: pseudonym(v, key, domain) for v in uniq}
    return values.replace_strict(mapping, default=None, return_dtype=pl.Utf8)


def _regions(values: pl.Series, rules: Any) -> pl.Series:
    from recurct.dose import normalise_region

    if values.null_count() == values.len():
        return pl.Series(values.name, [None] * values.len(), dtype=pl.Utf8)
    return normalise_region(values, region_rules=rules).cast(pl.Utf8)


def _exam_regions(events: pl.DataFrame, n_rows: int) -> pl.Series:
    """:func:`recurct.dose.exam_region` of each exam's events. An exam with one region gets
    it; the others call the rule once per distinct pattern: the exam's regions in first-seen
    order with the rank of their summed DLP (all the rule needs: the set of regions and which
    one has the largest DLP sum)."""
    per_region = (
        events.filter(pl.col("body_region").is_not_null())
        .group_by("exam_row", "body_region", maintain_order=True)
        .agg(pl.when(pl.col("dlp_mgycm").count() > 0).then(pl.col("dlp_mgycm").sum()).alias("dlp"))
        .with_columns(
            pl.col("dlp").rank("dense", descending=True).over("exam_row").alias("r"),
            pl.len().over("exam_row").alias("k"),
        )
    )
    single = per_region.filter(pl.col("k") == 1).select("exam_row", "body_region")
    multi = (
        per_region.filter(pl.col("k") > 1)
        .group_by("exam_row", maintain_order=True)
        .agg(pl.col("body_region"), pl.col("r"))
        .with_columns(
            (
                pl.col("body_region").list.join(",")
                + "|"
                + pl.col("r").cast(pl.List(pl.Utf8)).list.join(",")
            ).alias("pattern")
        )
    )
    patterns = multi.unique("pattern").select("pattern", "body_region", "r")
    mapping = {
        pat: exam_region(list(reg), [None if x is None else 1e6 - x for x in rank])
        for pat, reg, rank in patterns.iter_rows()
    }
    multi = multi.select(
        "exam_row",
        pl.col("pattern").replace_strict(mapping, return_dtype=pl.Utf8).alias("body_region"),
    )
    full = pl.DataFrame({"exam_row": pl.arange(0, n_rows, eager=True, dtype=pl.Int64)})
    both = pl.concat([single, multi])
    return full.join(both, on="exam_row", how="left")["body_region"]


@renamed(csv_or_xlsx="source", salt="secret")
def read_openrem_ct(
    source: str | os.PathLike[str],
    *,
    pseudonymise: Literal["hmac-sha256"] | None = None,
    secret: bytes | str | None = None,
    include_non_patient: bool = False,
    region_rules: Any = None,
) -> ReadResult:
    """Read an OpenREM CT export into exam and event tables.

    Parameters
    ----------
    source : path
        OpenREM CT CSV export, or XLSX export (its "All data" sheet is read).
    pseudonymise, secret
        As in :func:`recurct.io.rdsr.read_rdsr`: "Patient ID", "Study UID" and "Accession
        number" become their HMAC-SHA256 pseudonyms (``"hmac-sha256"``, a secret of at least
        128 bits).
    include_non_patient : bool
        Keep studies marked in OpenREM's "Test patient?" column (with a ``non_patient``
        column); by default they are dropped.
    region_rules : optional
        Extra region rules, as in :func:`recurct.dose.normalise_region`.

    Returns
    -------
    ReadResult
        ``.exams``, ``.events`` (below) and ``.report``, a
        :class:`recurct.io.rdsr.ReadReport` of the one file: its problems are the exams whose
        DLP was left null (action ``"lenient"``, ``file`` the file name, ``reason`` naming the
        CSV row).

    Notes
    -----
    ``exams``: one row per study, canonical exam columns (:data:`recurct.io.rdsr.EXAM_COLUMNS`;
    no ``study_uid`` in most OpenREM versions, so ``accession_number`` is added, with
    ``study_description`` and ``requested_procedure``): ``dlp_mgycm`` is the sum of the event
    DLPs (the reported total where the export has no event columns), null where an event other
    than a localizer (Type "Constant Angle Acquisition") has no DLP, with a
    :class:`PartialExamWarning`; ``dlp_total_mismatch`` true where the reported DLP total and
    the event sum differ beyond rounding, null where there is no complete event sum;
    ``ctdivol_mgy`` the CTDIvol of the event with the largest DLP; ``body_region`` the
    combination (:func:`recurct.dose.exam_region`) of the events' regions, each from its
    protocol, else from the study description, else from the requested procedure
    (:func:`recurct.dose.normalise_region`); ``effective_dose_msv`` null (fill it with
    :func:`recurct.dose.effective_dose`). Patient names and birth dates are never carried.

    ``events``: one row per event: ``exam_row`` (0-based row of ``exams`` before filtering),
    ``accession_number``, ``patient_id``, ``exam_date``, ``event`` (1-based), and the
    columns of :data:`EVENT_FIELDS` found in the file, plus ``body_region``.
    """
    key = check_method(pseudonymise, secret)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    df = _read_frame(path)
    if df.height == 0:
        raise ValueError(f"{path}: no rows")
    cols = _study_columns(df.columns, path)
    blocks = _event_blocks(df.columns)
    event_fields = sorted(
        {f for b in blocks.values() for f in b}, key=list(EVENT_FIELDS.values()).index
    )
    where = path.name
    numeric = [cols[c] for c in ("age_years", "reported_dlp_total_mgycm", "n_events_reported")]
    numeric += [c for b in blocks.values() for f, c in b.items() if f in _NUMERIC_EVENT]
    df = _numbers(df, [c for c in numeric if c is not None], where)
    study = _study_frame(df, cols, key, where, region_rules)
    events = _stack_events(df, blocks, event_fields, study, region_rules)
    exams = _exam_frame(df, cols, key, study, events)
    partial = exams.filter(pl.col("n_no_dlp") > 0)
    if partial.height:
        _warn_partial(where, partial)
    exams = _exam_values(exams, bool(blocks))
    exam_cols: dict[str, Any] = {
        **EXAM_COLUMNS,
        "accession_number": pl.Utf8(),
        "study_description": pl.Utf8(),
        "requested_procedure": pl.Utf8(),
    }
    exam_cols.pop("n_reports")
    if include_non_patient:
        exam_cols["non_patient"] = pl.Boolean()
    keep = exams if include_non_patient else exams.filter(~pl.col("non_patient"))
    exam_df = keep.select(pl.col(c).cast(t) for c, t in exam_cols.items())
    ev_cols: dict[str, Any] = {
        "exam_row": pl.Int64(),
        "accession_number": pl.Utf8(),
        "patient_id": pl.Utf8(),
        "exam_date": pl.Datetime("us"),
        "event": pl.Int64(),
        **{f: (pl.Float64() if f in _NUMERIC_EVENT else pl.Utf8()) for f in event_fields},
        "body_region": pl.Utf8(),
    }
    event_df = events.filter(pl.col("exam_row").is_in(keep["exam_row"].implode())).select(
        pl.col(c).cast(t) for c, t in ev_cols.items()
    )
    return ReadResult(exams=exam_df, events=event_df, report=_report(where, partial))


def _study_columns(header: list[str], path: Path) -> dict[str, str | None]:
    """Canonical study field -> the export's column (None where absent)."""
    cols = {
        canon: next((n for n in names if n in header), None)
        for canon, names in STUDY_FIELDS.items()
    }
    if cols["study_date"] is None or cols["reported_dlp_total_mgycm"] is None:
        raise ValueError(
            f"{path}: not an OpenREM CT export (needs 'Study date' and 'DLP total (mGy.cm)'; "
            f"found columns {header[:12]}...)"
        )
    return cols


def _event_blocks(header: list[str]) -> dict[int, dict[str, str]]:
    """Event number -> {event field: the export's column} ("E1 DLP" -> {1: {dlp_mgycm: ...}})."""
    blocks: dict[int, dict[str, str]] = {}
    for name in header:
        m = _EVENT_COLUMN.match(str(name))
        if m and m.group(2) in EVENT_FIELDS:
            blocks.setdefault(int(m.group(1)), {})[EVENT_FIELDS[m.group(2)]] = name
    return blocks


def _field(df: pl.DataFrame, cols: dict[str, str | None], canon: str, dtype: Any) -> pl.Series:
    """A study field's column, or nulls of ``dtype`` where the export lacks it."""
    col = cols[canon]
    return df[col] if col is not None else pl.Series([None] * df.height, dtype=dtype)


def _study_frame(
    df: pl.DataFrame, cols: dict[str, str | None], key: bytes | None, where: str, rules: Any
) -> pl.DataFrame:
    """One row per study: row, pseudonymised ids, date, and the region of its descriptions
    (the fallback of events whose protocol maps to none)."""
    desc_region = _regions(_field(df, cols, "study_description", pl.Utf8), rules)
    req_region = _regions(_field(df, cols, "requested_procedure", pl.Utf8), rules)
    study_date, study_time = cols["study_date"], cols["study_time"]
    return pl.DataFrame(
        {
            "exam_row": pl.arange(0, df.height, eager=True, dtype=pl.Int64),
            "patient_id": _pseudonyms(_field(df, cols, "patient_id", pl.Utf8), key, "patient_id"),
            "accession_number": _pseudonyms(
                _field(df, cols, "accession_number", pl.Utf8), key, "accession_number"
            ),
            "exam_date": _dates(df, study_date, study_time, where),  # type: ignore[arg-type]
            "fallback_region": desc_region.fill_null(req_region),
        }
    )


def _stack_events(
    df: pl.DataFrame,
    blocks: dict[int, dict[str, str]],
    event_fields: list[str],
    study: pl.DataFrame,
    rules: Any,
) -> pl.DataFrame:
    """One row per event (one block of columns per event, stacked), with its study's ids
    and date and its region: its protocol's, else its study's."""
    ev_schema = {
        "exam_row": pl.Int64(),
        "event": pl.Int64(),
        **{f: (pl.Float64() if f in _NUMERIC_EVENT else pl.Utf8()) for f in event_fields},
    }
    lazy = df.lazy().with_row_index("exam_row").with_columns(pl.col("exam_row").cast(pl.Int64))
    parts = [
        lazy.select(
            "exam_row",
            pl.lit(k, dtype=pl.Int64).alias("event"),
            *(
                pl.col(blocks[k][f]).alias(f)
                if f in blocks[k]
                else pl.lit(None, dtype=ev_schema[f]).alias(f)
                for f in event_fields
            ),
        )
        # an exam with fewer events than the widest one: its empty blocks are no events
        .filter(pl.any_horizontal(pl.col(f).is_not_null() for f in blocks[k]))
        for k in sorted(blocks)
    ]
    events = (
        pl.concat(parts).sort("exam_row", "event").collect()
        if parts
        else pl.DataFrame(schema=ev_schema)  # type: ignore[arg-type]
    )
    for f in ("protocol", "acquisition_type", "dlp_mgycm", "ctdivol_mgy"):
        if f not in events.columns:
            events = events.with_columns(
                pl.lit(None, dtype=pl.Float64 if f in _NUMERIC_EVENT else pl.Utf8).alias(f)
            )
    return events.join(study, on="exam_row", how="left").with_columns(
        pl.coalesce(_regions(events["protocol"], rules), pl.col("fallback_region")).alias(
            "body_region"
        )
    )


def _exam_frame(
    df: pl.DataFrame,
    cols: dict[str, str | None],
    key: bytes | None,
    study: pl.DataFrame,
    events: pl.DataFrame,
) -> pl.DataFrame:
    """One row per study with its fields and its events' counts, DLP sum and main CTDIvol."""
    localizer = pl.col("acquisition_type").str.to_lowercase() == _LOCALIZER
    agg = events.group_by("exam_row").agg(
        pl.len().alias("n_ev"),
        pl.col("dlp_mgycm").count().alias("n_dlp"),
        pl.col("dlp_mgycm").sum().alias("dlp_sum"),
        (pl.col("dlp_mgycm").is_null() & ~localizer.fill_null(False)).sum().alias("n_no_dlp"),
        # CTDIvol of the largest-DLP event (the first of equal ones), null without DLPs
        pl.when(pl.col("dlp_mgycm").count() > 0)
        .then(
            pl.col("ctdivol_mgy")
            .sort_by("dlp_mgycm", descending=True, nulls_last=True, maintain_order=True)
            .first()
        )
        .alias("main_ctdi"),
    )

    def text(canon: str) -> pl.Series:
        return _field(df, cols, canon, pl.Utf8)

    def number(canon: str) -> pl.Series:
        return _field(df, cols, canon, pl.Float64)

    return (
        study.with_columns(
            number("reported_dlp_total_mgycm").alias("reported_dlp_total_mgycm"),
            _exam_regions(events, df.height).alias("body_region"),
            number("age_years").alias("age_years"),
            text("sex").str.to_uppercase().str.slice(0, 1).alias("sex"),
            *(text(c).alias(c) for c in ("facility", "station_name", "manufacturer", "model")),
            text("study_description").alias("study_description"),
            text("requested_procedure").alias("requested_procedure"),
            _pseudonyms(text("study_uid"), key, "study_uid").alias("study_uid"),
            number("n_events_reported").alias("n_events_reported"),
            text("test_patient")
            .str.to_lowercase()
            .is_in(["false", "0", "no"])
            .not_()
            .fill_null(False)
            .alias("non_patient"),
        )
        .join(agg, on="exam_row", how="left")
        .with_columns(
            pl.col("n_ev").fill_null(0),
            pl.col("n_dlp").fill_null(0),
            pl.col("n_no_dlp").fill_null(0),
        )
    )


def _warn_partial(where: str, partial: pl.DataFrame) -> None:
    rows = ", ".join(str(r + 2) for r in partial["exam_row"].head(5).to_list())
    warnings.warn(
        f"{where}: {partial.height} exam(s) have events without a DLP (other than "
        f"localizers): their exam DLP is left null, not a partial sum (CSV row(s) {rows}"
        + (", ..." if partial.height > 5 else "")
        + ")",
        PartialExamWarning,
        stacklevel=4,
    )


def _exam_values(exams: pl.DataFrame, has_events: bool) -> pl.DataFrame:
    """The exam's DLP (the event sum, never a partial one; the reported total without event
    columns), its mismatch with the reported total, CTDIvol, region, sex and event count."""
    # as recurct.io.rdsr._merge._mismatch: 0.05 mGy·cm per summed value, or 0.1 %
    rep_total = pl.col("reported_dlp_total_mgycm")
    tol = pl.max_horizontal(0.05 * (pl.col("n_dlp") + 1), 1e-3 * rep_total.abs())
    # like with like: no comparison where the exam has no complete event sum (null DLP)
    complete = (pl.col("n_dlp") > 0) & (pl.col("n_no_dlp") == 0)
    mismatch = pl.when(complete).then((rep_total - pl.col("dlp_sum")).abs() > tol)
    n_events = (
        pl.col("n_ev") if has_events else pl.col("n_events_reported").cast(pl.Int64, strict=False)
    )
    return exams.with_columns(
        pl.when(pl.col("n_no_dlp") > 0)
        .then(None)
        .when(pl.col("n_dlp") > 0)
        .then(pl.col("dlp_sum"))
        .otherwise(pl.col("reported_dlp_total_mgycm"))
        .alias("dlp_mgycm"),
        mismatch.alias("dlp_total_mismatch"),
        pl.col("main_ctdi").alias("ctdivol_mgy"),
        pl.coalesce(pl.col("body_region"), pl.col("fallback_region")).alias("body_region"),
        pl.when(pl.col("sex").is_in(["F", "M", "O"])).then(pl.col("sex")).alias("sex"),
        n_events.alias("n_events"),
        pl.lit(None, dtype=pl.Float64).alias("effective_dose_msv"),
    )


def _report(where: str, partial: pl.DataFrame) -> ReadReport:
    """The report of one export: each exam whose DLP was left null is a lenient problem."""
    rows = [
        {
            "file": where,
            "reason": f"CSV row {r + 2}: an event other than a localizer has no DLP; the "
            "exam DLP is left null, not a partial sum",
            "field": "DLP",
            "action": "lenient",
        }
        for r in partial["exam_row"].to_list()
    ]
    problems = pl.DataFrame(rows, schema=PROBLEM_COLUMNS)  # type: ignore[arg-type]
    return ReadReport(files_read=1, files_skipped=0, problems=problems)
