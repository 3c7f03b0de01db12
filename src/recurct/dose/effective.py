"""Effective dose ``E = k x DLP`` of exam and event tables (:func:`effective_dose`), in steps:
the columns needed, the numbers given, the regions looked up (a localizer's is its exam's),
the rows to convert, the factors, the problems, the method labels. Also the one rule of a
missing dose (:func:`missing_dose`) and the one count of the methods (:func:`dose_methods`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from recurct import _checks
from recurct._casts import missing_text
from recurct._frames import from_polars, input_index, is_enum, to_polars
from recurct._stacklevel import user_stacklevel
from recurct.dose._events import EVENTS_LOST, main_col, main_regions, sum_events
from recurct.dose._lookup import (
    BAD_AGE,
    NO_AGE,
    NO_SEX,
    NONCANON,
    NOT_IN_TABLE,
    NULL_REGION,
    REASONS,
    check_fallback,
    lookup_with_fallback_table,
    reason_text_of,
    region_codes,
    resolve_tables,
    sex_codes,
)
from recurct.dose._tables import (
    MAX_AGE,
    NUM_OK,
    NUM_WHAT,
    AgeRule,
    KTable,
    ktable,
    listing,
    numbers,
)
from recurct.errors import DataError, DoseConversionError, DoseConversionWarning, ParameterError
from recurct.schema import BODY_REGIONS, MAX_EXAM_DOSE_MSV

if TYPE_CHECKING:
    import pandas as pd

LOCALIZER_METHOD = "localizer: 0 (no DLP or no convertible region)"
"""``dose_method`` of a localizer event that contributes 0 mSv (see :func:`effective_dose`)."""

SUPPLIED_METHOD = "supplied (effective_dose_msv given in the input)"
"""``dose_method`` of a row whose dose came with the input and had no method recorded."""

CHILD_TABLES_HINT = "(table='shrimpton_age' or table='nci_icrp103_120kv')"
"""The advice of :func:`effective_dose`'s warning on children's doses converted with an
adult-only table, naming its own ``table`` parameter: a caller without that parameter
(``recurct reproduce --exams``, a study's ``reproduce``) replaces it with what its user can
pass."""


def missing_dose(dose: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Per row, whether the effective dose ``dose`` (an expression of a column of dtype
    ``dtype``) is missing: the one rule of recurct.

    A dose is **missing** where it is null, or text (``Utf8``, ``Categorical`` or ``Enum``)
    that, its surrounding spaces removed, is empty or a placeholder that
    :func:`recurct.read_exams` reads as missing (:data:`recurct.io.exams.NULL_STRINGS`:
    ``N/A``, ``NA``, ``-``, ``NULL``, ``#N/A``, ...; the one rule,
    :func:`recurct._casts.null_text`, by which every function reads a text dose, DLP,
    CTDIvol or age): so ``""``, ``"  "`` and ``"n/a"`` in an in-memory table are what an
    empty cell of a CSV file is. A missing dose is never zero.
    Any other value is a dose given, to be checked: NaN (a number, even written as text) and
    text that is no number are bad doses, reported by row, never estimated over. (A pandas
    NaN in a NumPy ``float64`` or ``double[pyarrow]`` column is pandas' missing value, read
    as null by every function, so a missing dose; one in a nullable ``Float64`` column is a
    NaN, as in polars.)

    Every step applies this rule: :func:`recurct.validate` (``missing dose`` where
    ``effective_dose_msv`` is required; where it is not, as :func:`recurct.read_exams` and
    the command line read, a missing dose is left null for :func:`effective_dose`, or is a
    ``no dose`` problem in a table without ``dlp_mgycm``); :func:`effective_dose` (with
    ``overwrite=False`` it computes the missing doses and keeps the others); and
    :func:`dose_missing` / :func:`fill_dose_from_dlp`, which decide for the command line
    (``recurct validate``, ``analyze``, ``reproduce --exams``) and a study's
    ``reproduce(exams)`` whether a table has doses to compute from its DLP and region.

    Parameters
    ----------
    dose : polars.Expr
        The ``effective_dose_msv`` column (or an expression of it).
    dtype : polars.DataType
        Its dtype.

    Returns
    -------
    polars.Expr
        Boolean, never null: True where the dose is missing.
    """
    if dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
        return missing_text(dose.cast(pl.Utf8))  # the rule of placeholders (null_text)
    return dose.is_null()


def missing_doses(dose: pl.Series) -> np.ndarray:
    """:func:`missing_dose` of the column ``dose``, as a boolean array (one per row)."""
    mask = dose.to_frame("d").select(missing_dose(pl.col("d"), dose.dtype)).to_series()
    return mask.to_numpy().astype(bool, copy=False)


def dose_missing(exams: pl.DataFrame) -> bool:
    """Whether an exam table lacks effective doses: no ``effective_dose_msv`` column, or a
    missing dose in it (:func:`missing_dose`: null, blank, or a placeholder such as
    ``"n/a"``).

    Parameters
    ----------
    exams : polars.DataFrame
        An exam table.

    Returns
    -------
    bool
        True where :func:`fill_dose_from_dlp` has doses to compute (given a DLP and a
        region).
    """
    if "effective_dose_msv" not in exams.columns:
        return True
    dose = exams.get_column("effective_dose_msv")
    return bool(missing_doses(dose).any())


def dose_methods(exams: pl.DataFrame) -> dict[str, int]:
    """How the effective doses of ``exams`` were obtained: the exams per ``dose_method``,
    most first (ties by name), :data:`SUPPLIED_METHOD` counting the doses given without a
    method (every exam's, where the table has no ``dose_method`` column); empty for a
    table without rows.

    The one count of ``recurct analyze``'s ``effective dose:`` line and of
    ``Reproduction.dose_method`` (a study's ``reproduce`` on your data), written by
    :func:`dose_methods_text`.

    Parameters
    ----------
    exams : polars.DataFrame
        An exam table (as :func:`effective_dose` or :func:`fill_dose_from_dlp` returns it).

    Returns
    -------
    dict of str to int
    """
    if "dose_method" not in exams.columns:
        return {SUPPLIED_METHOD: exams.height} if exams.height else {}
    counts = (
        exams.get_column("dose_method")
        .cast(pl.Utf8)
        .fill_null(SUPPLIED_METHOD)
        .alias("method")
        .value_counts(name="n")
        .sort(["n", "method"], descending=[True, False])
    )
    return {str(m): int(n) for m, n in counts.iter_rows()}


def dose_methods_text(counts: Mapping[str, int]) -> str:
    """:func:`dose_methods` in words: ``"aapm96/nearest-lower (3 exams); supplied (...) (1
    exam)"``."""
    return "; ".join(f"{m} ({n:,} exam{'s' if n != 1 else ''})" for m, n in counts.items())


def fill_dose_from_dlp(
    exams: pl.DataFrame,
    *,
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    **kwargs: Any,
) -> tuple[pl.DataFrame, list[str]]:
    """A missing effective dose computed from the DLP and region: the one rule of
    ``recurct analyze`` / ``recurct reproduce --exams`` and of a study's ``reproduce(exams)``.

    Where the dose is missing (:func:`dose_missing`: the column, or values in it by
    :func:`missing_dose`) and the table has ``dlp_mgycm`` and the region column
    (``body_region``, or ``region_column`` in ``kwargs``), the missing doses are computed by
    :func:`effective_dose` with
    ``overwrite=False`` (the doses given are kept, their ``dose_method``
    :data:`SUPPLIED_METHOD` where they have none); otherwise ``exams`` is returned as it is
    (no ``dose_method`` column is added: every dose was given, or none can be computed).

    Parameters
    ----------
    exams : polars.DataFrame
        An exam table, validated (:func:`recurct.validate`) or passed through ``prepare``.
    prepare : callable, optional
        Applied to ``exams`` before the conversion, and only when there is one (the
        validation a caller needs only then).
    **kwargs
        Passed to :func:`effective_dose` (``table``, ``fallback``, ``age_rule``, ...; not
        ``overwrite``).

    Returns
    -------
    tuple of (polars.DataFrame, list of str)
        The table, and the messages of the :class:`DoseConversionWarning` warnings the
        conversion gave, without their ``"effective_dose: "`` prefix, for the caller to give
        in its own words (:data:`CHILD_TABLES_HINT` names ``effective_dose``'s ``table``). Any other
        warning is given again as it came.

    Raises
    ------
    DoseConversionError, DataError, ParameterError
        As :func:`effective_dose`.
    """
    region = kwargs.get("region_column", "body_region")
    if not dose_missing(exams) or not {"dlp_mgycm", region} <= set(exams.columns):
        return exams, []
    if prepare is not None:
        exams = prepare(exams)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DoseConversionWarning)
        out = effective_dose(exams, overwrite=False, **kwargs)
    said = []
    for w in caught:
        if issubclass(w.category, DoseConversionWarning):
            said.append(str(w.message).removeprefix("effective_dose: "))
        else:  # pragma: no cover - not ours: pass it on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    assert isinstance(out, pl.DataFrame)
    return out, said


def _age_values(s: pl.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Ages in years as float64, of the rows ``rows`` (every row: ``None``): numbers as they
    are, a float32 age as written (12.3, not 12.300000190734863:
    :func:`recurct._casts.as_written`); text (or categories) as :func:`recurct.validate`
    and :func:`recurct.cumulative_dose` read it (:func:`recurct.cumulative.text_ages`: the
    whole column deciding its decimal mark, ``"1,5"`` is 1.5; else a DICOM age, ``067Y``).
    NaN where missing or not a number (other text, an ambiguous ``"1.234"``, booleans,
    dates), which the lookup reports as a missing age."""
    if is_enum(s) or isinstance(s.dtype, pl.String | pl.Categorical):
        from recurct.cumulative import text_ages

        s = text_ages(s)[0]  # before the rows are picked: the column decides its mark
    if rows is not None:
        s = s.gather(rows)
    if s.dtype.is_numeric():
        from recurct._casts import as_written

        s = s.to_frame("a").select(as_written(pl.col("a"), s.dtype)).to_series()
    else:
        s = pl.Series(s.name, [None] * s.len(), dtype=pl.Float64)
    return s.to_numpy().astype(np.float64, copy=True)


def _raw_values(s: pl.Series, idx: np.ndarray) -> pl.Series:
    """The input's values at ``idx`` as text, for problem reports."""
    return s.gather(idx).cast(pl.Utf8, strict=False)


def _raise_problems(
    problems: pl.DataFrame, examples: Mapping[str, str] | None = None, show: int = 50
) -> None:
    shown = problems.select("row", "column", "value", "reason").head(show).rows()
    notes = "".join(f"\n  ({why}: {ex})" for why, ex in (examples or {}).items())
    raise DoseConversionError(
        f"effective dose could not be computed for {problems['row'].n_unique()} row(s) "
        f"({problems.height} problem(s)):\n"
        + listing(shown, problems.height, show)
        + notes
        + "\nFix the data, pass fallback=/fallback_table= for untabulated regions, or pass "
        "strict=False to leave these doses null.",
        problems,
    )


def effective_dose(
    exams: Any,
    *,
    table: Any = "aapm96",
    age_rule: AgeRule = "nearest-lower",
    region_column: str = "body_region",
    overwrite: bool = False,
    strict: bool = True,
    fallback: Mapping[str, str] | None = None,
    fallback_table: Any = None,
    kv: float | None = None,
    level: Literal["auto", "exam", "event"] = "auto",
    adult_from: float | None = None,
    max_dose_msv: float | None = MAX_EXAM_DOSE_MSV,
) -> pl.DataFrame | pd.DataFrame:
    """Fill ``effective_dose_msv = k x dlp_mgycm`` with k from a conversion-factor table.

    Parameters
    ----------
    exams : polars, pandas or pyarrow table
        Canonical exam table (or event table, see ``level``) with ``dlp_mgycm`` (mGy·cm), the
        region column and, for age-dependent tables, ``age_years`` (for sex-specific tables of
        yours, ``sex``). Age and sex are needed only by the rows whose region's factors depend
        on them (a table of yours may give spine one factor for every age, or head one factor
        for both sexes). A text (or categorical) ``age_years`` is read as
        :func:`recurct.validate` and :func:`recurct.cumulative_dose` read it: numbers by the
        rule of numbers in text, the column deciding its decimal mark (``"1,5"`` is 1.5; an
        ambiguous ``"1.234"`` is no number), else DICOM ages (``"067Y"``).
    table, age_rule, fallback, fallback_table, kv, adult_from
        As in :func:`k_factors`: ``table`` and ``fallback_table`` are shipped names or your
        own tables (a CSV path or a data frame, see :func:`table`), so a national table can
        be used with a shipped one as fallback.
    region_column : str
        Column with canonical body regions (map free text with :func:`normalise_region`).
    overwrite : bool
        If False (default), rows whose ``effective_dose_msv`` is given keep it (and their
        ``dose_method``, or :data:`SUPPLIED_METHOD` where it had none); only the missing doses
        are computed (:func:`missing_dose`: null, blank text or a placeholder such as
        ``"n/a"``; a missing column). Doses kept must be finite numbers >= 0: NaN or other
        text is a bad dose, not a missing one.
    strict : bool
        If True, raise :class:`DoseConversionError` listing every row that cannot be
        converted (row, column, reason). If False, leave those doses null (never zero) and
        warn once with :class:`DoseConversionWarning`, counting them by reason (the
        implausible doses as one reason, with a few of the doses computed).
    max_dose_msv : float or None, default :data:`recurct.schema.MAX_EXAM_DOSE_MSV`
        Plausibility bound of one row's effective dose (mSv), the one :func:`recurct.validate`
        applies (its rationale is documented there): a dose kept from the input, or computed
        from a DLP, above it is a problem (a unit or entry error), never a dose. ``None``: no
        bound (a computed dose is still finite).
    level : {"auto", "exam", "event"}
        ``"event"``: one row per irradiation event, several per ``study_uid``; each event is
        converted with its own region and DLP, then the events are summed to one row per
        study. ``"auto"`` (default) means ``"event"`` when the table has an ``event_uid``
        column, else ``"exam"``.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input (pandas if given pandas) with ``effective_dose_msv`` (Float64) filled and a
        ``dose_method`` column (Utf8): ``"<table>/<age_rule>"`` on the rows computed here,
        ``"<table>/<age_rule> (<region> as <other>)"`` where ``fallback`` was used,
        ``"<fallback_table>/<age_rule> (fallback table)"`` where ``fallback_table`` was used,
        the previous value on rows kept (:data:`SUPPLIED_METHOD` where it was null). The
        table name is the shipped name, the ``# name:`` line or file stem of your CSV, or
        ``"custom"`` for a frame; ``" (adult from A y)"`` is added when ``adult_from`` moves
        the adult column. Every computed dose is finite and >= 0. Of an exam table, every
        other column, ``dlp_mgycm`` included, is returned as given: the DLP is read as a
        number (also from text) for the dose only, and a row whose DLP is missing or not a
        valid one (negative, infinite, text that is no number) keeps the value given and gets
        a null dose.

        The pandas result of an exam table keeps the input's index (one row per input row).
        At event level the rows are studies, not input rows: a pandas result has a fresh
        ``RangeIndex``.

        At event level the result has one row per ``study_uid``, in order of first
        appearance: ``dlp_mgycm`` (Float64) and ``effective_dose_msv`` are sums over the
        events, never partial ones (a partial sum would understate the dose): ``dlp_mgycm``
        is the sum of the events' DLPs read as numbers, null if an event's DLP is missing or
        not a valid DLP (negative, infinite, text that is no number; a localizer that
        contributes 0 by definition aside), ``effective_dose_msv`` is null if an event's dose
        is null, and ``dose_method`` is then null too; where the table has an
        ``events_lost`` column (as :func:`recurct.io.read_rdsr` and
        :func:`recurct.io.openrem.read_openrem_ct` write it: true on every event of an exam
        that lost events), a study with an event marked true has null ``dlp_mgycm``,
        ``effective_dose_msv`` and ``dose_method`` (the events present are not the whole
        exam), a problem of its first marked row, and the result's ``events_lost`` is true
        where any of a study's events is marked (a table without the column is summed as
        ever); ``ctdivol_mgy`` is the largest event
        CTDIvol, ``body_region`` is :func:`exam_region` of the events' canonical regions (a
        non-canonical one is a problem of its own event), ``n_events`` counts the events
        (an event whose non-null ``event_uid`` came earlier in its study is counted once; a
        null ``event_uid`` is never a repeat), ``dose_method``
        joins the distinct event methods with ``"; "``, and every other column takes its
        first non-null value. ``event_uid`` and ``localizer`` are dropped. ``localizer`` and
        ``events_lost`` are read as booleans (also from text or numbers: true/false, yes/no,
        y/n, 1/0, any case) and ``ctdivol_mgy`` as a number (also from text); a value that
        is neither becomes null (an unreadable localizer flag is not a localizer; an
        unreadable or null ``events_lost`` is no loss), counted in a
        :class:`DoseConversionWarning`.

        Localizers (event level, boolean column ``localizer``, as written by
        :func:`recurct.io.read_rdsr`): a localizer's dose is in its own DLP where the report
        gives one, and that DLP is converted with the exam's main region
        (:func:`exam_region`; a topogram's own target is often "Entire body"). A localizer
        with no DLP (whatever its age or sex), or whose exam has no convertible region,
        contributes 0 mSv by definition (``dose_method`` :data:`LOCALIZER_METHOD`) and is not
        a problem.

        Adult-only tables (``aapm96``, ``icrp103_adult``) applied to rows with ``age_years``
        below 18 (the age from which ``shrimpton_age`` uses adult factors) warn with
        :class:`DoseConversionWarning`, counting those rows (and, apart, the rows whose
        ``age_years`` is not an age: outside 0-130 or not a number); the values are not
        changed.

    Raises
    ------
    DoseConversionError
        With ``strict=True``, for rows with a missing, negative, infinite or non-numeric DLP
        (text, booleans), a kept dose that is negative, infinite, NaN or not a number, a
        missing, non-canonical or untabulated region, or a missing or out-of-range age
        (age-dependent tables only, rows whose factors depend on age); and at event level,
        events with a missing ``study_uid`` (with ``strict=False`` they are dropped, counted
        in the warning), repeated non-null ``(study_uid, event_uid)`` pairs (with
        ``strict=False`` counted once) and studies with an event marked ``events_lost``
        (with ``strict=False`` their sums are null, counted in the warning).
    DataError
        If a needed column is missing (``age_years`` / ``sex`` with ``strict=True``, when a
        row's factor depends on it).
    ParameterError
        If an argument is invalid.

    Examples
    --------
    >>> import polars as pl
    >>> exams = pl.DataFrame({"dlp_mgycm": [500.0, 1000.0], "body_region": ["chest", "head"]})
    >>> effective_dose(exams)["effective_dose_msv"].to_list()
    [7.0, 2.1]
    """
    overwrite = _checks.flag(overwrite, "effective_dose", "overwrite")
    strict = _checks.flag(strict, "effective_dose", "strict")
    region_column = _checks.column_name(region_column, "effective_dose", "region_column")
    bound = _checks.optional_bound(max_dose_msv, "effective_dose", "max_dose_msv")
    df, kind = to_polars(exams)
    t, ft = resolve_tables(table, fallback_table, kv, age_rule, adult_from)
    fb = check_fallback(t, fallback)
    if not isinstance(level, str) or level not in ("auto", "exam", "event"):
        raise ParameterError(f"level must be 'auto', 'exam' or 'event', got {level!r}")
    event = level == "event" or (level == "auto" and "event_uid" in df.columns)
    needs_age = t.age_dependent or (ft is not None and ft.age_dependent)
    needs_sex = bool(t.sexes or (ft is not None and ft.sexes))
    _require_columns(df, t.name, region_column, event)
    if event:
        df = _event_columns(df)
    raw = _with_dose_columns(df)  # values as given, for problem rows
    df, inp = _numeric_inputs(raw)
    df, lookup_column, loc = _lookup_regions(df, region_column, event)
    todo = _rows_to_convert(inp, overwrite, bound)
    rows = todo.rows
    every = rows.size == df.height

    def pick(col: str) -> pl.Series:
        return df[col] if every else df[col].gather(rows)

    reg = region_codes(pick(lookup_column), region_column)
    # age and sex are read where the tables use them; a row needs them only where its
    # region's factors depend on them (a missing column reads as missing values)
    ages = sexes = None
    if needs_age:
        ages = (
            _age_values(df["age_years"], None if every else rows)
            if "age_years" in df.columns
            else None
        )
        ages = np.full(rows.size, np.nan) if ages is None else ages
    if needs_sex:
        sexes = sex_codes(pick("sex"), rows.size) if "sex" in df.columns else None
        sexes = np.full(rows.size, -1, dtype=np.int64) if sexes is None else sexes
    k, reason, used, from_ft = lookup_with_fallback_table(reg, ages, t, ft, age_rule, fb, sexes)
    out = _classify(reason, inp, rows, every, loc, k, todo.limit)
    if strict:
        _needed_columns(df, t.name, out, ("age_years", NO_AGE), ("sex", NO_SEX))
    problems = _Problems(rows)
    _lookup_problems(problems, df, out, region_column, pick, t, ft)
    _dose_problems(problems, raw, out, inp, todo)
    no_study = _missing_studies(problems, df) if event else np.zeros(df.height, dtype=bool)
    if event and "event_uid" in df.columns:
        _repeated_events(problems, df, no_study)
    n_lost = _lost_events(problems, df, no_study) if event and EVENTS_LOST in df.columns else 0
    _warn_adult_only(t, df, rows, out.ok & ~from_ft)
    if ft is not None:
        _warn_adult_only(ft, df, rows, out.ok & from_ft)
    n_null = int((~out.ok & ~out.exempt).sum()) + int(todo.bad_kept.sum()) + n_lost
    _raise_or_warn(problems, strict, n_null, int(no_study.sum()))
    fallback_label = None if ft is None else f"{ft.name}/{age_rule} (fallback table)"
    base = f"{t.name}/{age_rule}"
    label = _method_labels(df, base, fallback_label, out, reg.codes, used, from_ft, todo)
    dose = inp.existing.copy()
    dose[rows] = np.where(out.ok, out.est, np.where(out.exempt, 0.0, np.nan))
    df = df.with_columns(
        pl.Series("effective_dose_msv", dose, dtype=pl.Float64).fill_nan(None),
        pl.when(label.is_null() & pl.Series(todo.keep_method))
        .then(pl.col("dose_method"))
        .otherwise(pl.lit(label))
        .alias("dose_method"),
    )
    if lookup_column != region_column:
        df = df.drop(lookup_column)
    if event:
        no_dlp_needed = np.zeros(df.height, dtype=bool)
        no_dlp_needed[rows[out.exempt]] = True  # localizers that contribute 0 by definition
        if no_study.any():  # events of no study are dropped (reported above)
            df, no_dlp_needed = df.filter(pl.Series(~no_study)), no_dlp_needed[~no_study]
        return from_polars(sum_events(df, region_column, no_dlp_needed), kind)
    # the DLP as given (the numbers read from it were used above)
    df = df.with_columns(raw["dlp_mgycm"])
    return from_polars(df, kind, input_index(exams))  # one row per input row: its index


def _require_columns(df: pl.DataFrame, table: str, region_column: str, event: bool) -> None:
    """The columns every conversion needs, or a DataError naming those missing."""
    required = ["dlp_mgycm", region_column] + (["study_uid"] if event else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"effective_dose needs column(s) {missing} (table {table!r}); "
            f"the table has {df.columns}. Map your columns first (recurct.read_exams)."
        )


def _needed_columns(df: pl.DataFrame, table: str, out: _Outcome, *cols: tuple[str, int]) -> None:
    """A DataError naming ``age_years`` / ``sex`` when the table has no such column and a
    row's factor depends on it (rows whose factors do not are converted without it; with
    ``strict=False`` the rows that need it are left null like rows with a missing value)."""
    for col, code in cols:
        n = int(np.count_nonzero(out.bad_age & (out.reason == code)))
        if col not in df.columns and n:
            raise DataError(
                f"effective_dose needs column(s) {[col]} (table {table!r}): the factors of "
                f"{n} row(s) depend on it; the table has {df.columns}. Map your columns first "
                "(recurct.read_exams)."
            )


_TRUE = ("true", "t", "yes", "y", "1", "1.0")
_FALSE = ("false", "f", "no", "n", "0", "0.0")


def _event_columns(df: pl.DataFrame) -> pl.DataFrame:
    """Event level: ``localizer`` and ``events_lost`` read as Boolean (true/false, yes/no,
    y/n, 1/0, any case) and ``ctdivol_mgy`` as Float64 (text read as a number where it is
    one); a value that is neither (for CTDIvol: negative, infinite or not a number) becomes
    null, and a :class:`DoseConversionWarning` counts them (an unreadable localizer flag is
    not a localizer, so its event needs a DLP like any other; an unreadable ``events_lost``
    is not a loss: a bad optional attribute never costs an exam its dose)."""
    bad: list[str] = []
    new: list[pl.Series] = []
    for col, taken in (("localizer", "not a localizer"), (EVENTS_LOST, "no events lost")):
        if col not in df.columns or df.schema[col] == pl.Boolean:
            continue
        s = df[col]
        if (
            s.dtype.is_numeric()
            or s.dtype in (pl.Utf8, pl.Categorical, pl.Null)
            or isinstance(s.dtype, pl.Enum)
        ):
            u = s.cast(pl.Utf8, strict=False).str.strip_chars().str.to_lowercase()
            flag = pl.select(
                pl.when(u.is_in(_TRUE)).then(True).when(u.is_in(_FALSE)).then(False)
            ).to_series()
        else:  # dates, lists, ...: no flag
            flag = pl.Series([None] * s.len(), dtype=pl.Boolean)
        unread = s.is_not_null() & flag.is_null()
        if s.dtype.is_float():
            unread = unread & ~s.is_nan()
        if unread.any():
            shown = s.filter(unread).cast(pl.Utf8, strict=False).unique(maintain_order=True)
            bad.append(
                f"{unread.sum()} {col} value(s) not true/false, yes/no, y/n or 1/0 "
                f"({shown.head(5).to_list()}; taken as {taken})"
            )
        new.append(flag.alias(col))
    if "ctdivol_mgy" in df.columns:
        v, code = numbers(df["ctdivol_mgy"])
        if code.any():
            shown = df["ctdivol_mgy"].filter(pl.Series(code != NUM_OK))
            shown = shown.cast(pl.Utf8, strict=False).unique(maintain_order=True).head(5)
            bad.append(
                f"{int(np.count_nonzero(code))} ctdivol_mgy value(s) negative, infinite or "
                f"not a number ({shown.to_list()}; set null)"
            )
        new.append(pl.Series("ctdivol_mgy", v, dtype=pl.Float64).fill_nan(None))
    if bad:
        warnings.warn(
            f"effective_dose: {'; '.join(bad)}", DoseConversionWarning, stacklevel=user_stacklevel()
        )
    return df.with_columns(new) if new else df


def _with_dose_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``effective_dose_msv`` and ``dose_method`` added (null) where the table lacks them."""
    if "effective_dose_msv" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("effective_dose_msv"))
    if "dose_method" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("dose_method"))
    return df


@dataclass(frozen=True)
class _Inputs:
    """The doses and DLPs given, as floats, each with its number code (NUM_OK or why not)."""

    existing: np.ndarray
    dose_code: np.ndarray
    dlp: np.ndarray
    dlp_code: np.ndarray


_NAN_DOSE = np.int8(max(NUM_WHAT) + 1)
"""The number code of a dose given as NaN: a bad dose (:func:`missing_dose`), not a
missing one."""


def _given_doses(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The doses given, by :func:`missing_dose`: a missing one NaN (to compute), any other
    read by :func:`recurct.dose._tables.numbers`, a NaN given (``NaN``, also as text)
    coded :data:`_NAN_DOSE`."""
    missing = missing_doses(s)
    if s.dtype == pl.Categorical or is_enum(s):  # categories of text: read as their text
        s = s.cast(pl.Utf8)
    if s.dtype == pl.Utf8 and missing.any():  # blanks and placeholders are no text
        blank = pl.lit(pl.Series(missing))
        kept = s.to_frame("d").select(pl.when(blank).then(None).otherwise(pl.col("d")).alias("d"))
        s = kept.to_series()
    existing, code = numbers(s)
    code[(code == NUM_OK) & np.isnan(existing) & ~missing] = _NAN_DOSE
    return existing, code


def _numeric_inputs(df: pl.DataFrame) -> tuple[pl.DataFrame, _Inputs]:
    """Doses and DLPs enter as finite numbers >= 0 (Float64 columns), or as problems."""
    existing, dose_code = _given_doses(df["effective_dose_msv"])
    dlp, dlp_code = numbers(df["dlp_mgycm"])

    def numeric(name: str, values: np.ndarray, code: np.ndarray) -> pl.Expr | pl.Series:
        if df.schema[name].is_float() and not code.any():  # already clean: keep the column
            return pl.col(name)
        return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)

    df = df.with_columns(
        numeric("effective_dose_msv", existing, dose_code),
        pl.col("dose_method").cast(pl.Utf8),
        numeric("dlp_mgycm", dlp, dlp_code),
    )
    return df, _Inputs(existing, dose_code, dlp, dlp_code)


_LOOKUP_REGION = "__recurct_lookup_region"


def _lookup_regions(
    df: pl.DataFrame, region_column: str, event: bool
) -> tuple[pl.DataFrame, str, np.ndarray]:
    """``(df, column of the regions looked up, localizer mask)``: at event level a
    localizer's DLP is converted with its exam's main region."""
    loc = np.zeros(df.height, dtype=bool)
    if not (event and "localizer" in df.columns):
        return df, region_column, loc
    loc = df["localizer"].cast(pl.Boolean).fill_null(False).to_numpy().astype(bool)
    if not loc.any():
        return df, region_column, loc
    main = main_col(df, main_regions(df, region_column))
    df = df.with_columns(
        pl.when(pl.Series(loc) & main.is_not_null())
        .then(main)
        .otherwise(pl.col(region_column).cast(pl.Utf8))
        .alias(_LOOKUP_REGION)
    )
    return df, _LOOKUP_REGION, loc


@dataclass(frozen=True)
class _Todo:
    """Which rows are converted here (``rows``), which kept doses are problems."""

    rows: np.ndarray
    bad_kept: np.ndarray
    kept_high: np.ndarray
    keep_method: np.ndarray  # rows whose dose_method stays as given
    limit: float


def _rows_to_convert(inp: _Inputs, overwrite: bool, bound: float | None) -> _Todo:
    n = inp.existing.size
    bad_kept = np.zeros(n, dtype=bool) if overwrite else inp.dose_code != NUM_OK
    kept_high = np.zeros(n, dtype=bool)
    if not overwrite and bound is not None:
        with np.errstate(invalid="ignore"):
            kept_high = (inp.dose_code == NUM_OK) & (inp.existing > bound)
        bad_kept = bad_kept | kept_high
    todo = np.ones(n, dtype=bool) if overwrite else np.isnan(inp.existing) & ~bad_kept
    return _Todo(
        rows=np.flatnonzero(todo),
        bad_kept=bad_kept,
        kept_high=kept_high,
        keep_method=~todo & ~bad_kept,
        limit=np.inf if bound is None else bound,
    )


@dataclass(frozen=True)
class _Outcome:
    """Per converted row (positions in ``rows``): the lookup reason, what is wrong, the
    estimate; localizers without a DLP or a convertible region are ``exempt`` (0 mSv)."""

    rows: np.ndarray
    reason: np.ndarray
    dlp_code: np.ndarray
    bad_region: np.ndarray
    bad_age: np.ndarray
    no_dlp: np.ndarray
    neg_dlp: np.ndarray
    exempt: np.ndarray
    high: np.ndarray
    est: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        bad = self.bad_region | self.bad_age | self.no_dlp | self.neg_dlp
        return ~(bad | self.exempt | self.high)


def _classify(
    reason: np.ndarray,
    inp: _Inputs,
    rows: np.ndarray,
    every: bool,
    loc: np.ndarray,
    k: np.ndarray,
    limit: float,
) -> _Outcome:
    dlp = inp.dlp if every else inp.dlp[rows]
    dlp_code = inp.dlp_code if every else inp.dlp_code[rows]
    bad_region = np.isin(reason, (NULL_REGION, NONCANON, NOT_IN_TABLE))
    bad_age = np.isin(reason, (NO_AGE, BAD_AGE, NO_SEX))
    neg_dlp = dlp_code != NUM_OK
    no_dlp = np.isnan(dlp) & ~neg_dlp
    # localizers without a DLP (whatever their age or sex) or without a convertible region
    # contribute 0 by definition
    exempt = loc[rows] & (bad_region | no_dlp) & ~neg_dlp
    with np.errstate(over="ignore", invalid="ignore"):
        est = k * dlp  # a DLP near the float limit times k may overflow: flagged below
    plausible = np.isfinite(est) & (est <= limit)
    bad_region = bad_region & ~exempt
    bad_age = bad_age & ~exempt
    no_dlp = no_dlp & ~exempt
    high = ~(bad_region | bad_age | no_dlp | neg_dlp | exempt | plausible)
    return _Outcome(rows, reason, dlp_code, bad_region, bad_age, no_dlp, neg_dlp, exempt, high, est)


class _Problems:
    """Problem rows (row of the user's input, column, value as given, reason), and for a
    reason shared by rows with different details (the implausible doses) a few of them."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.parts: list[pl.DataFrame] = []
        self.examples: dict[str, str] = {}

    def add_at(
        self, at: np.ndarray, column: str, values: pl.Series, reasons: Sequence[str] | np.ndarray
    ) -> None:
        """Problems at rows ``at`` of the user's input."""
        if at.size:
            self.parts.append(
                pl.DataFrame(
                    {
                        "row": at.astype(np.int64),
                        "column": [column] * at.size,
                        "value": values.cast(pl.Utf8),
                        "reason": pl.Series(list(reasons), dtype=pl.Utf8),
                    }
                )
            )

    def add(self, idx: np.ndarray, column: str, values: pl.Series, reasons: np.ndarray) -> None:
        """Problems at positions ``idx`` of the rows converted here."""
        self.add_at(self.rows[idx], column, values, reasons)

    def frame(self) -> pl.DataFrame | None:
        return pl.concat(self.parts).sort("row", maintain_order=True) if self.parts else None


def _lookup_problems(
    p: _Problems,
    df: pl.DataFrame,
    out: _Outcome,
    region_column: str,
    pick: Callable[[str], pl.Series],
    t: KTable,
    ft: KTable | None,
) -> None:
    """Rows whose region, age or sex gives no factor."""
    rows, reason = out.rows, out.reason
    texts = np.array([reason_text_of(c, t, ft) for c in range(len(REASONS) + 1)], dtype=object)
    idx = np.flatnonzero(out.bad_region)
    p.add(idx, region_column, df[region_column].gather(rows[idx]), texts[reason[idx]])
    idx = np.flatnonzero(out.bad_age & (reason != NO_SEX))
    if idx.size:  # the ages as given (text that is not a number shows as itself)
        given = _raw_values(_column(df, "age_years"), rows[idx])
        why = texts[reason[idx]]
        why[(reason[idx] == NO_AGE) & _age_given(given)] = "age not a number"
        p.add(idx, "age_years", given, why)
    idx = np.flatnonzero(out.bad_age & (reason == NO_SEX))
    if idx.size:
        p.add(idx, "sex", _column(df, "sex").gather(rows[idx]), texts[reason[idx]])


def _age_given(s: pl.Series) -> np.ndarray:
    """Per value of the ages ``s``, whether one is given: not null, not NaN, and as text
    neither blank nor a placeholder (:func:`recurct._casts.missing_text`: ``"n/a"`` and
    ``"NULL"`` are missing ages, as :func:`recurct.read_exams` reads a file's cells)."""
    if is_enum(s) or isinstance(s.dtype, pl.String | pl.Categorical):
        text = s.cast(pl.Utf8).to_frame("a")
        return text.select(~missing_text(pl.col("a"))).to_series().to_numpy()
    given = s.is_not_null()
    if s.dtype.is_float():
        given &= ~s.is_nan().fill_null(False)
    return given.to_numpy()


def _column(df: pl.DataFrame, name: str) -> pl.Series:
    """A column of ``df``, or all null where the table has none."""
    if name in df.columns:
        return df[name]
    return pl.Series(name, [None] * df.height, dtype=pl.Utf8)


def _dose_problems(
    p: _Problems, raw: pl.DataFrame, out: _Outcome, inp: _Inputs, todo: _Todo
) -> None:
    """Rows whose DLP is missing or bad, whose estimate is implausible, or whose kept dose
    is not a plausible number."""
    rows = out.rows
    too_high = f"dose above {todo.limit:g} mSv (implausible for one exam)"
    idx = np.flatnonzero(out.no_dlp | out.neg_dlp)
    dlp_why = {NUM_OK: "missing DLP", **{c: w.format("DLP") for c, w in NUM_WHAT.items()}}
    why = np.array([dlp_why[int(c)] for c in out.dlp_code[idx]], dtype=object)
    p.add(idx, "dlp_mgycm", _raw_values(raw["dlp_mgycm"], rows[idx]), why)
    idx = np.flatnonzero(out.high)
    finite = np.isfinite(out.est[idx])
    why = np.where(
        finite, f"effective {too_high}", "effective dose from this DLP is not a finite number"
    ).astype(object)
    p.add(idx, "dlp_mgycm", _raw_values(raw["dlp_mgycm"], rows[idx]), why)
    if finite.any():  # one reason for every such row; a few of the doses shown once
        doses = list(dict.fromkeys(f"{e:g}" for e in out.est[idx][finite][:100]))
        more = ", ..." if len(doses) > 3 else ""
        p.examples[f"effective {too_high}"] = f"computed {', '.join(doses[:3])}{more} mSv"
    idx = np.flatnonzero(todo.bad_kept)
    kept_why = [
        too_high
        if todo.kept_high[i]
        else "NaN dose"
        if inp.dose_code[i] == _NAN_DOSE
        else NUM_WHAT[int(inp.dose_code[i])].format("dose")
        for i in idx
    ]
    p.add_at(idx, "effective_dose_msv", _raw_values(raw["effective_dose_msv"], idx), kept_why)


def _repeated_events(p: _Problems, df: pl.DataFrame, no_study: np.ndarray) -> None:
    """Events whose non-null ``event_uid`` came earlier in the same study (a null
    ``event_uid`` is no repeat; events without a study are reported apart)."""
    known = df["event_uid"].is_not_null().to_numpy() & ~no_study
    first = (
        df.select("study_uid", "event_uid")
        .filter(pl.Series(known))
        .select(pl.struct("study_uid", "event_uid").is_first_distinct())
        .to_series()
        .to_numpy()
    )
    idx = np.flatnonzero(known)[~first]
    p.add_at(
        idx,
        "event_uid",
        df["event_uid"].gather(idx),
        ["irradiation event repeated within the study (counted once)"] * idx.size,
    )


def _missing_studies(p: _Problems, df: pl.DataFrame) -> np.ndarray:
    """Events with a missing ``study_uid`` (null, or NaN in a float column): they belong to
    no study, so they are problems, dropped with ``strict=False``. Returns their mask."""
    s = df["study_uid"]
    missing = s.is_null()
    if s.dtype.is_float():
        missing = missing | s.is_nan().fill_null(True)
    mask = missing.to_numpy().astype(bool)
    idx = np.flatnonzero(mask)
    p.add_at(idx, "study_uid", s.gather(idx), [MISSING_STUDY] * idx.size)
    return mask


MISSING_STUDY = "missing study_uid (the event belongs to no study)"

LOST_EVENTS = "exam lost irradiation events (events_lost): its sums would be partial"
"""The reason of the problem row of a study with an event marked ``events_lost``."""


def _lost_events(p: _Problems, df: pl.DataFrame, no_study: np.ndarray) -> int:
    """One problem row per study with an event marked ``events_lost`` (read as Boolean by
    :func:`_event_columns`), at its first such event: the study's sums are null
    (:func:`sum_events`). Events without a study are reported apart. Returns the number of
    such studies."""
    marked = df[EVENTS_LOST].fill_null(False).to_numpy().astype(bool) & ~no_study
    if not marked.any():
        return 0
    idx = np.flatnonzero(marked)
    first = (
        df.select("study_uid")
        .filter(pl.Series(marked))
        .select(pl.col("study_uid").is_first_distinct())
        .to_series()
        .to_numpy()
    )
    idx = idx[first]
    p.add_at(idx, EVENTS_LOST, df[EVENTS_LOST].gather(idx), [LOST_EVENTS] * idx.size)
    return int(idx.size)


def _raise_or_warn(p: _Problems, strict: bool, n_null: int, n_dropped: int) -> None:
    problems = p.frame()
    if problems is None:
        return
    if strict:
        _raise_problems(problems, p.examples)
    counts = problems.group_by("reason", maintain_order=True).len()
    summary = ", ".join(
        f"{c['len']} {c['reason']}"
        + (f" ({p.examples[c['reason']]})" if c["reason"] in p.examples else "")
        for c in counts.iter_rows(named=True)
    )
    dropped = f" and dropped {n_dropped} event(s)" if n_dropped else ""
    warnings.warn(
        f"effective_dose left {n_null} dose(s) null{dropped} ({summary})",
        DoseConversionWarning,
        stacklevel=user_stacklevel(),
    )


def _method_labels(
    df: pl.DataFrame,
    base: str,
    fallback_label: str | None,
    out: _Outcome,
    codes: np.ndarray,
    used: np.ndarray,
    from_ft: np.ndarray,
    todo: _Todo,
) -> pl.Series:
    """The new ``dose_method`` of every row (null where the previous value stays): method
    labels as small integer codes (no per-row Python strings), 0 keeping the previous
    value, -1 null, i >= 1 ``names[i - 1]``."""
    ok, exempt = out.ok, out.exempt
    names = [base]
    lab = np.where(ok, 1, -1).astype(np.int64)
    if exempt.any():
        names.append(LOCALIZER_METHOD)
        lab[exempt] = len(names)
    subst = np.flatnonzero(ok & ~from_ft & (used != codes))  # ok excludes localizer zeros
    if subst.size:
        pair = codes[subst] * len(BODY_REGIONS) + used[subst]
        uniq, inv = np.unique(pair, return_inverse=True)
        for p in uniq:
            src, dst = BODY_REGIONS[p // len(BODY_REGIONS)], BODY_REGIONS[p % len(BODY_REGIONS)]
            names.append(f"{base} ({src} as {dst})")
        lab[subst] = 2 + inv
    if fallback_label is not None:
        names.append(fallback_label)
        lab[ok & from_ft] = len(names)
    label_code = np.zeros(df.height, dtype=np.int64)
    label_code[out.rows] = lab
    label_code[todo.bad_kept] = -1
    names.append(SUPPLIED_METHOD)
    supplied = todo.keep_method & df["dose_method"].is_null().to_numpy()
    label_code[supplied] = len(names)
    return pl.Series(label_code).replace_strict(
        {i + 1: name for i, name in enumerate(names)}, default=None, return_dtype=pl.Utf8
    )


def _warn_adult_only(t: KTable, df: pl.DataFrame, rows: np.ndarray, ok: np.ndarray) -> None:
    """Warn when a shipped adult-only table converts the doses of children (ages below the
    age from which ``shrimpton_age`` uses adult factors, 18 y); the values are not changed.
    (A table of yours without ages may hold all-age factors, so it is not warned about.)"""
    if t.age_dependent or not t.shipped or "age_years" not in df.columns or not ok.any():
        return
    cut = ktable("shrimpton_age").adult_from
    given = df["age_years"].gather(rows[ok])
    ages = _age_values(df["age_years"], rows[ok])
    valid = (ages >= 0.0) & (ages <= MAX_AGE)  # NaN compares False
    n_child = int(np.count_nonzero(valid & (ages < cut)))
    # an age given that is no age (negative, above 130, text that is not a number) is not
    # counted as a child's; null, NaN, blank text and placeholders are missing ages
    n_bad = int(np.count_nonzero(_age_given(given) & ~valid))
    if not (n_child or n_bad):
        return
    parts = []
    if n_child:
        parts.append(
            f"the adult-only table {t.name!r} was applied to {n_child} row(s) with age_years "
            f"below {cut:g} (the age from which 'shrimpton_age' uses adult factors); children's "
            "k factors differ from adult ones (higher for young children and the head, lower "
            "for the trunk of some older children). Use an age-dependent table "
            f"{CHILD_TABLES_HINT}"
        )
    if n_bad:
        parts.append(
            f"{'it' if n_child else f'the adult-only table {t.name!r}'} was applied to "
            f"{n_bad} row(s) whose age_years is not an age (outside 0-{MAX_AGE:g} years or "
            "not a number), not counted as children"
        )
    warnings.warn(
        f"effective_dose: {'; '.join(parts)}. Values left unchanged.",
        DoseConversionWarning,
        stacklevel=user_stacklevel(),
    )
