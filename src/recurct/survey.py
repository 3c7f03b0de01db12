"""Questionnaire answers as a tidy table (question, answer, count), with shares and CIs.

The published answers of the ESR EuroSafe Imaging survey ship with the package
(:func:`eurosafe2021`): Frija G, et al. "Cumulative effective dose from recurrent CT
examinations in Europe: proposal for clinical guidance based on an ESR EuroSafe Imaging survey",
Eur Radiol 31:5514-5523 (2021), doi 10.1007/s00330-021-07696-1.

>>> t = survey_table(eurosafe2021())
>>> t.filter(t["question"] == "Q4")["percent"].to_list()
[75.7, 20.0, 4.3]
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import from_polars, rows_text, to_polars
from recurct.errors import DataError, ParameterError
from recurct.stats._common import check_stripped_keys
from recurct.stats.multisite import whole_counts
from recurct.stats.proportion import proportion_ci

if TYPE_CHECKING:
    from recurct.stats._common import Frame

__all__ = [
    "EUROSAFE2021_SOURCE",
    "EUROSAFE2021_SURVEY",
    "eurosafe2021",
    "survey_table",
]

EUROSAFE2021_SOURCE = (
    "Frija G, et al. Cumulative effective dose from recurrent CT examinations in Europe: "
    "proposal for clinical guidance based on an ESR EuroSafe Imaging survey. "
    "Eur Radiol 31:5514-5523 (2021), doi 10.1007/s00330-021-07696-1"
)
"""The publication of the EuroSafe Imaging survey (Frija et al. 2021) whose answer counts
recurct ships (:func:`survey_table`)."""

EUROSAFE2021_SURVEY: dict[str, Any] = {
    "open_from": "2019-11-20",
    "open_to": "2020-01-22",
    "n_sent": 605,
    "n_questions": 16,
    "n_mandatory": 3,
    "n_responses": 85,
    "n_countries": 23,
    "q5_period": (2015, 2018),
    "q5_n_institutions": 18,
    "q5_n_patients": 1_218_429,
    "q5_n_high": 6_082,
    "q5_share_min": 0.0,  # 0% at the lowest institution
    "q5_share_max": 0.0272,  # 2.72% at the highest
    "q5_share_mean": 0.005,  # "mean 0.5%" of the institutions' shares
    "q5_n_academic": 12,
    "not_reported": (1, 13, 14, 15),  # questions not reported in the paper
}
"""Survey facts beside the answer counts (same source)."""


def eurosafe2021() -> pl.DataFrame:
    """Published answer counts of the EuroSafe Imaging survey (Frija et al. 2021).

    Returns
    -------
    polars.DataFrame
        ``question``, ``topic``, ``unit`` (respondents, institutions or patients), ``answer``,
        ``count``. Q4 (dose-management system: 53 yes, 14 no, 3 other of 70); Q5 patients
        (6,082 of 1,218,429 with CED >= 100 mSv); the 18 Q5 institutions by country, academic
        status (12 academic) and dose-management system (15 yes, 2 other, 1 not stated).
        Two rows are derived by subtraction (``CED < 100 mSv`` and ``not academic``); the data
        file header says so.
    """
    path = resources.files("recurct") / "data" / "eurosafe2021_survey.csv"
    with resources.as_file(path) as p:
        return pl.read_csv(p, comment_prefix="#", schema_overrides={"count": pl.Int64})


@renamed(decimals="digits")
def survey_table(
    answers: Any, *, ci: str = "wilson", alpha: float = 0.05, digits: int = 1
) -> Frame:
    """Shares of each answer among the answers to its question, with binomial CIs.

    Parameters
    ----------
    answers : DataFrame (polars, pandas or pyarrow)
        One row per (``question``, ``answer``) with a ``count`` (a whole number >= 0;
        ``3.0`` is taken as 3, ``2.5`` is an error, never truncated). Other columns (e.g.
        ``topic``, ``unit``) are carried. ``question`` and ``answer`` may not be null, and
        two of them that differ only by surrounding whitespace (``"Q4"``, ``"Q4 "``) are an
        error, not two questions or answers: strip them, or correct the one that is wrong.
        (Keys that differ only in case, ``"Yes"`` and ``"yes"``, stay two answers.) A
        column named like an output column (``n_answered``, ``share``, ``share_lo``,
        ``share_hi``, ``percent``) is refused (``ParameterError``): it would be overwritten.
    ci : str
        CI method (``"wilson"``, ``"clopper-pearson"``, ``"jeffreys"``, ``"agresti-coull"``,
        ``"normal"``), from ``statsmodels.stats.proportion.proportion_confint``.
    alpha : float
        1 - confidence level.
    digits : int
        Decimals of the ``percent`` column (1 reproduces the survey's 75.7%, 20%, 4.3%).

    Returns
    -------
    DataFrame
        The input columns in input order, plus ``n_answered`` (sum of counts of the question),
        ``share`` (fraction), ``share_lo``, ``share_hi`` and ``percent`` (``100 * share``
        rounded half away from zero). pandas in, pandas out.

    Raises
    ------
    DataError
        A column missing; a count that is not a whole number >= 0; a null ``question`` or
        ``answer``, or two that differ only by surrounding whitespace, naming their rows; a
        (question, answer) repeated; a question whose counts sum beyond 2**63 - 1.
    """
    digits = int(_checks.number(digits, "survey_table", "digits", lo=0, hi=15))
    df, kind = to_polars(answers)
    taken = [c for c in _OUTPUT_COLUMNS if c in df.columns]
    if taken:
        raise ParameterError(
            f"survey_table: the answers have column(s) {taken}, the name(s) of columns "
            f"survey_table adds ({', '.join(_OUTPUT_COLUMNS)}); rename or drop them first"
        )
    missing = [c for c in ("question", "answer", "count") if c not in df.columns]
    if missing:
        raise DataError(f"survey answers lack column(s) {missing}; need question, answer, count")
    df = whole_counts(df, ("count",), "survey_table")  # 2.5 refused, not truncated to 2
    bad = df.with_row_index("row").filter(pl.col("count").is_null() | (pl.col("count") < 0))
    if bad.height:
        raise DataError(f"counts must be integers >= 0; bad rows: {bad['row'].to_list()[:10]}")
    _check_keys(df)
    dup = df.filter(pl.struct("question", "answer").is_duplicated())
    if dup.height:
        pairs = dup.select("question", "answer").rows()[:5]
        raise DataError(f"each (question, answer) must appear once; repeated: {pairs}")
    _check_totals(df)
    df = df.with_columns(pl.col("count").sum().over("question").alias("n_answered"))
    x = df.get_column("count").to_numpy()
    n = df.get_column("n_answered").to_numpy()
    lo, hi = proportion_ci(x, n, alpha, ci)
    share = pl.when(pl.col("n_answered") > 0).then(pl.col("count") / pl.col("n_answered"))
    out = df.with_columns(
        share.alias("share"),
        pl.Series("share_lo", lo).fill_nan(None),
        pl.Series("share_hi", hi).fill_nan(None),
    ).with_columns(
        (pl.col("share") * 100).round(digits, mode="half_away_from_zero").alias("percent")
    )
    return from_polars(out, kind)


_INT64_MAX = 2**63 - 1

#: The columns survey_table adds to the answers (an input column of one of these names is
#: refused: it would be overwritten).
_OUTPUT_COLUMNS = ("n_answered", "share", "share_lo", "share_hi", "percent")


def _check_keys(df: pl.DataFrame) -> None:
    """Refuse null keys and keys that differ only by surrounding whitespace, naming rows."""
    for col in ("question", "answer"):
        rows = df.select(pl.col(col).is_null().arg_true()).to_series().to_list()
        if rows:
            raise DataError(
                f"survey_table: {len(rows)} row(s) have no {col} (null): {rows_text(rows)}; "
                f"give every row its {col}"
            )
    within: dict[str, list[str]] = {"question": [], "answer": ["question"]}
    for col, by in within.items():
        check_stripped_keys(df, col, by, "survey_table", col)


def _check_totals(df: pl.DataFrame) -> None:
    """Refuse a question whose counts sum beyond int64 (the sum would wrap around)."""
    totals: dict[Any, int] = {}
    for q, c in zip(df["question"].to_list(), df["count"].to_list()):
        totals[q] = totals.get(q, 0) + int(c)
    over = [q for q, t in totals.items() if t > _INT64_MAX]
    if over:
        raise DataError(
            f"survey_table: the counts of question(s) {over[:5]} sum to more than 2**63 - 1 "
            f"({totals[over[0]]}), too large to count; check the count column"
        )
