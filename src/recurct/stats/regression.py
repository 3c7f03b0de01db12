"""Regression on the patients table: who reaches T (logistic) and how often they are scanned.

Thin wrappers over the statsmodels formula API: they build the design (an ``age_band`` from
``age_first_exam`` when the formula asks for it, a 0/1 outcome from a Boolean
``reached_<T>``, the person-time offset), drop incomplete rows with a warning, fit, and return a
tidy table of ratios with CIs. Pass ``return_model=True`` to get the statsmodels results too.

* :func:`risk_factors` - ``statsmodels.formula.api.logit``; odds ratios ``exp(coef)`` with
  Wald CIs; ``cluster="facility"`` gives cluster-robust standard errors by site
  (``cov_type="cluster"``).
* :func:`exam_rate` - exams per person-time: ``family="poisson"`` is a Poisson GLM
  (``statsmodels.formula.api.glm``); ``family="negbin"`` is the NB2 negative binomial model with
  its dispersion ``alpha`` estimated by maximum likelihood
  (``statsmodels.formula.api.negativebinomial``; the ``alpha`` row is left out of the table).
  Both use ``exposure = followup_days + 1`` days (log offset): a patient with all exams on one
  day contributes one day, so the intercept is exams per day of follow-up. ``n_exams`` is >= 1
  by construction of the patients table; model ``n_exams - 1`` (repeat exams) by adding such a
  column yourself if that is the question.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from recurct._frames import from_polars, to_polars

__all__ = ["DEFAULT_AGE_BANDS", "RegressionWarning", "age_band", "exam_rate", "risk_factors"]

#: Default lower edges of the age bands (years at first exam): 0-17, 18-34, 35-49, 50-64, 65+.
DEFAULT_AGE_BANDS: tuple[float, ...] = (0, 18, 35, 50, 65)


class RegressionWarning(UserWarning):
    """Rows dropped before a regression (missing values in the model's columns)."""


def age_band(age: Any, edges: Sequence[float] = DEFAULT_AGE_BANDS) -> pd.Series:
    """Label ages by band: edges ``(0, 18, 50)`` give ``"0-17"``, ``"18-49"``, ``"50+"``.

    Bands are in completed years (``floor(age)``); ages below the first edge or null get null.
    """
    e = [float(x) for x in edges]
    if len(e) < 2 or any(b <= a for a, b in pairwise(e)):
        raise ValueError(f"age band edges must be increasing (at least two), got {edges}")

    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else repr(x)

    labels = [f"{fmt(a)}-{fmt(b - 1)}" for a, b in pairwise(e)] + [f"{fmt(e[-1])}+"]
    a = np.floor(pd.to_numeric(pd.Series(age), errors="coerce").to_numpy(dtype=float))
    idx = np.searchsorted(np.asarray(e), a, side="right") - 1
    out = np.where(
        np.isnan(a) | (idx < 0), None, np.asarray(labels, dtype=object)[np.clip(idx, 0, None)]
    )
    return pd.Series(out, dtype=object)


def _prepare(
    patients: Any,
    formula: str,
    extra: list[str],
    age_edges: Sequence[float],
    what: str,
) -> tuple[pd.DataFrame, Any]:
    df, kind = to_polars(patients)
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    lhs = formula.split("~", 1)[0].strip()
    if "~" not in formula or not lhs:
        raise ValueError(f"formula must look like 'outcome ~ a + b', got {formula!r}")
    m = re.fullmatch(r"reached_([0-9.]+)", lhs)
    if lhs not in df.columns and m and "ced_msv" in df.columns:
        df = df.with_columns((pl.col("ced_msv") >= float(m.group(1))).alias(lhs))
    if "age_band" in names and "age_band" not in df.columns:
        if "age_first_exam" not in df.columns:
            raise ValueError("the formula uses age_band but the table has no age_first_exam")
        df = df.with_columns(
            pl.Series("age_band", age_band(df.get_column("age_first_exam").to_numpy(), age_edges))
        )
    if lhs not in df.columns:
        raise ValueError(f"outcome column {lhs!r} is not in the patients table")
    used = [c for c in df.columns if c in names or c in extra]
    for c in extra:
        if c not in df.columns:
            raise ValueError(f"column {c!r} is not in the patients table")
    sub = df.select(used)
    complete = sub.drop_nulls()
    dropped = sub.height - complete.height
    if dropped:
        warnings.warn(
            f"{what}: dropped {dropped} of {sub.height} rows with a null in {used}",
            RegressionWarning,
            stacklevel=3,
        )
    if complete.height == 0:
        raise ValueError(f"{what}: no complete rows to fit")
    bool_cols = [c for c, t in complete.schema.items() if t == pl.Boolean]
    complete = complete.with_columns(pl.col(bool_cols).cast(pl.Int64))
    pdf = complete.to_pandas()
    for c in pdf.columns:  # plain object strings, which patsy treats as categorical
        if pd.api.types.is_string_dtype(pdf[c]) and not pd.api.types.is_object_dtype(pdf[c]):
            pdf[c] = pdf[c].astype(object)
    return pdf, kind


def _tidy(
    res: Any, alpha: float, ratio: str, lo: str, hi: str, drop: Sequence[str] = ()
) -> pl.DataFrame:
    params = pd.Series(res.params)
    bse = pd.Series(res.bse)
    pvals = pd.Series(res.pvalues)
    keep = [t for t in params.index if t not in drop]
    z = stats.norm.ppf(1 - alpha / 2)
    coef = params[keep].to_numpy(dtype=float)
    se = bse[keep].to_numpy(dtype=float)
    return pl.DataFrame(
        {
            "term": [str(t) for t in keep],
            ratio: np.exp(coef),
            lo: np.exp(coef - z * se),
            hi: np.exp(coef + z * se),
            "p_value": pvals[keep].to_numpy(dtype=float),
            "coef": coef,
            "se": se,
            "n": np.full(len(keep), int(res.nobs), dtype=np.int64),
        }
    )


def _cov(pdf: pd.DataFrame, cluster: str | None) -> dict[str, Any]:
    if cluster is None:
        return {}
    groups = pd.factorize(pdf[cluster])[0]
    return {"cov_type": "cluster", "cov_kwds": {"groups": groups}}


def risk_factors(
    patients: Any,
    formula: str = "reached_100 ~ age_band + sex + indication",
    *,
    cluster: str | None = None,
    alpha: float = 0.05,
    age_bands: Sequence[float] = DEFAULT_AGE_BANDS,
    return_model: bool = False,
) -> Any:
    """Logistic regression of reaching T on patient factors; odds ratios with CIs.

    Parameters
    ----------
    patients : DataFrame (polars, pandas or pyarrow)
        Patients table. A Boolean outcome is used as 0/1; a missing ``reached_<T>`` is computed
        from ``ced_msv``; ``age_band`` is built from ``age_first_exam`` with ``age_bands``
        (see :func:`age_band`) unless present.
    formula : str
        A patsy formula (``C(age_band, Treatment("50-64"))`` picks a reference level).
    cluster : str, optional
        Column of the clusters (e.g. ``"facility"``) for cluster-robust standard errors.
    alpha : float
        1 - confidence level of the Wald CIs.
    age_bands : sequence of float
        Lower edges of the age bands.
    return_model : bool
        Also return the statsmodels results.

    Returns
    -------
    DataFrame, or (DataFrame, results)
        ``term``, ``odds_ratio``, ``or_lo``, ``or_hi``, ``p_value``, ``coef`` (log odds),
        ``se``, ``n`` (rows fitted). The ``Intercept`` row holds the baseline odds.
        pandas in, pandas out.

    Warns
    -----
    RegressionWarning
        When rows with missing values are dropped.
    """
    import statsmodels.formula.api as smf

    pdf, kind = _prepare(patients, formula, [cluster] if cluster else [], age_bands, "risk_factors")
    res = smf.logit(formula, data=pdf).fit(disp=0, **_cov(pdf, cluster))
    table = from_polars(_tidy(res, alpha, "odds_ratio", "or_lo", "or_hi"), kind)
    return (table, res) if return_model else table


def exam_rate(
    patients: Any,
    formula: str = "n_exams ~ age_band + sex",
    *,
    family: Literal["poisson", "negbin"] = "poisson",
    exposure: str = "followup_days",
    cluster: str | None = None,
    alpha: float = 0.05,
    age_bands: Sequence[float] = DEFAULT_AGE_BANDS,
    return_model: bool = False,
) -> Any:
    """Rate of exams per day of follow-up (Poisson or negative binomial); rate ratios with CIs.

    Parameters
    ----------
    patients : DataFrame (polars, pandas or pyarrow)
        Patients table with the outcome count, the ``exposure`` column and the covariates.
    formula : str
        A patsy formula with the count on the left.
    family : {"poisson", "negbin"}
        Poisson GLM or NB2 negative binomial (dispersion by maximum likelihood).
    exposure : str
        Column of follow-up days; the person-time is ``exposure + 1`` days (log offset).
    cluster : str, optional
        Column of the clusters for cluster-robust standard errors.
    alpha : float
        1 - confidence level of the Wald CIs.
    age_bands : sequence of float
        Lower edges of the age bands (when the formula uses ``age_band``).
    return_model : bool
        Also return the statsmodels results.

    Returns
    -------
    DataFrame, or (DataFrame, results)
        ``term``, ``rate_ratio``, ``rr_lo``, ``rr_hi``, ``p_value``, ``coef``, ``se``, ``n``;
        the ``Intercept`` row is the baseline rate of exams per day. pandas in, pandas out.
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    if family not in ("poisson", "negbin"):
        raise ValueError(f"family must be 'poisson' or 'negbin', got {family!r}")
    extra = [exposure] + ([cluster] if cluster else [])
    pdf, kind = _prepare(patients, formula, extra, age_bands, "exam_rate")
    if (pdf[exposure] < 0).any():
        raise ValueError(f"{exposure!r} must be >= 0 days")
    person_time = pdf[exposure].to_numpy(dtype=float) + 1.0
    if family == "poisson":
        res = smf.glm(formula, data=pdf, family=sm.families.Poisson(), exposure=person_time).fit(
            **_cov(pdf, cluster)
        )
    else:
        res = smf.negativebinomial(formula, data=pdf, exposure=person_time).fit(
            disp=0, maxiter=200, **_cov(pdf, cluster)
        )
    table = from_polars(_tidy(res, alpha, "rate_ratio", "rr_lo", "rr_hi", drop=("alpha",)), kind)
    return (table, res) if return_model else table
