"""Regression on the patients table: who reaches T (logistic) and how often they are scanned.

Thin wrappers over the statsmodels formula API: they build the design (an ``age_band`` from
``age_first_exam`` when the formula asks for it, a 0/1 outcome from a Boolean
``reached_<T>``, the person-time offset), drop incomplete rows with a warning, fit, and return a
tidy table of ratios with CIs. Pass ``return_model=True`` to get the statsmodels results too.

* :func:`risk_factors` - ``statsmodels.formula.api.logit``; odds ratios ``exp(coef)`` with
  Wald CIs; ``cluster="facility"`` gives cluster-robust standard errors by site
  (``cov_type="cluster"``).
* :func:`exam_rate` - repeat exams per day of observation: ``family="poisson"`` is a Poisson
  GLM (``statsmodels.formula.api.glm``); ``family="negbin"`` is the NB2 negative binomial
  model with its dispersion ``alpha`` estimated by maximum likelihood
  (``statsmodels.formula.api.negativebinomial``; the ``alpha`` row is left out of the table).

Estimates that do not exist
    Before fitting, both functions refuse a model that statsmodels would fit into garbage
    (an odds ratio of ``2.6e10`` with a CI of ``[0, inf]``, or an intercept silently split
    with a constant column): an outcome without variation (:class:`DataError`), a term with
    one value or a rank-deficient design (``numpy.linalg.matrix_rank`` of the design patsy
    builds, columns scaled to a maximum of 1), and separation, checked exactly by the linear
    programme of Konis (2007, "Linear programming algorithms for detecting separated data in
    binary logistic regression models", DPhil thesis, Oxford) with ``scipy.optimize.linprog``
    (:class:`ParameterError` naming the terms).

Person-time of :func:`exam_rate`
    A patient enters the patients table with his first exam, so that exam is the entry event,
    not an outcome. The outcome is ``n_repeat = n_exams - 1`` (built when the formula names it),
    the exams after the first; the exposure runs from the first exam to the end of observation
    (:func:`recurct.stats.observation_end`: by default the end of the data of the
    patient's facility), ``end - first_exam + 1`` days, as a log offset. The former exposure,
    ``followup_days + 1`` (last minus first exam), depends on the outcome itself (a patient with
    one exam has one exam in one day whatever his rate): with exams from a Poisson process over
    a fixed 5-year window and a true rate ratio of 2.0, it gave 1.54 (95% CI 1.51-1.57);
    ``n_exams`` over the full observation time still gave about 1.8 (the entry exam adds 1 to
    every count). ``tests/test_regression.py`` holds that simulation.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from recurct import _checks
from recurct._compat import renamed
from recurct._frames import _unwrap, from_polars
from recurct._stacklevel import user_stacklevel
from recurct.errors import DataError, ParameterError, RegressionWarning
from recurct.stats._common import (
    AGE_EDGES,
    TMP,
    _rows,
    band_expr,
    band_labels,
    check_patients,
    column_name,
    result_repr,
    stats_frame,
)
from recurct.stats._followup import end_days

if TYPE_CHECKING:
    from recurct._frames import Frame

__all__ = ["RegressionResult", "RegressionWarning", "exam_rate", "risk_factors"]

_WHAT_TO_DO_SEPARATION = (
    "drop the term, merge its sparse levels (a level in which every patient has the same "
    "outcome) with a neighbour, or use a penalised (Firth) model"
)


def _formula_names(formula: str) -> set[str]:
    """The names a formula may use as columns: identifiers, and the quoted names of patsy's
    ``Q("site type")``."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    names.update(m[1] for m in re.findall(r"""\bQ\(\s*(["'])(.*?)\1\s*\)""", formula))
    return names


def _frame(patients: Any, formula: str) -> tuple[pl.DataFrame, Any]:
    """:func:`recurct.stats._common.stats_frame` (a pandas ordered ``Categorical`` of text
    becomes an ``Enum`` of its categories), which also keeps the category order of an
    unordered pandas ``Categorical`` of text that the formula names: statsmodels takes the
    first category as the reference level, and so does recurct, whatever the input type
    (polars would read it as a ``Categorical`` in order of first appearance)."""
    df, kind = stats_frame(patients)
    if kind != "pandas" or not isinstance(formula, str):
        return df, kind
    names = _formula_names(formula)
    casts = []
    for name, dtype in _unwrap(patients).dtypes.items():
        col = str(name)
        if (
            col in names
            and isinstance(dtype, pd.CategoricalDtype)
            and not dtype.ordered
            and col in df.columns
            and isinstance(df.schema[col], pl.Categorical | pl.String)
            and all(isinstance(c, str) for c in dtype.categories)
        ):
            casts.append(pl.col(col).cast(pl.Utf8).cast(pl.Enum(list(dtype.categories))))
    return (df.with_columns(casts) if casts else df), kind


def _prepare(
    patients: Any,
    formula: str,
    extra: list[str],
    age_edges: Sequence[float],
    what: str,
    family: str,
    extra_columns: Sequence[pl.Series] = (),
) -> tuple[pd.DataFrame, Any]:
    df, kind = _frame(patients, formula)
    check_patients(df, what)
    if extra_columns:
        df = df.with_columns(*extra_columns)
    names = _formula_names(formula)
    lhs = formula.split("~", 1)[0].strip()
    if "~" not in formula or not lhs:
        raise ParameterError(f"formula must look like 'outcome ~ a + b', got {formula!r}")
    m = re.fullmatch(r"reached_([0-9.]+)", lhs)
    if lhs not in df.columns and m and "ced_msv" in df.columns:
        df = df.with_columns((pl.col("ced_msv") >= float(m.group(1))).alias(lhs))
    if "age_band" in names and "age_band" not in df.columns:
        if "age_first_exam" not in df.columns:
            raise DataError("the formula uses age_band but the table has no age_first_exam")
        df = df.with_columns(band_expr("age_first_exam", age_edges).alias("age_band"))
    if lhs not in df.columns:
        raise ParameterError(f"outcome column {lhs!r} is not in the patients table")
    used = [c for c in df.columns if c in names or c in extra]
    for c in extra:
        if c not in df.columns:
            raise ParameterError(f"column {c!r} is not in the patients table")
    # NaN counts as missing (a pandas table's NaN arrives as null; patsy would drop a polars
    # table's NaN silently)
    sub = df.select(used).with_columns(pl.col(pl.Float32, pl.Float64).fill_nan(None))
    _check_outcome(sub, lhs, what, family)
    complete = sub.drop_nulls()
    dropped = sub.height - complete.height
    if dropped:
        shown = [c.removeprefix(TMP) for c in used]
        warnings.warn(
            f"{what}: dropped {dropped} of {sub.height} rows with a null in {shown}",
            RegressionWarning,
            stacklevel=user_stacklevel(),
        )
    if complete.height == 0:
        raise DataError(f"{what}: no complete rows to fit")
    out_type = complete.schema[lhs]
    if not (out_type.is_numeric() or out_type == pl.Boolean):
        raise DataError(
            f"{what}: the outcome column {lhs!r} must hold numbers or true/false values, "
            f"got {out_type}"
        )
    bool_cols = [c for c, t in complete.schema.items() if t == pl.Boolean]
    complete = complete.with_columns(pl.col(bool_cols).cast(pl.Int64))
    enums = [c for c, t in complete.schema.items() if isinstance(t, pl.Enum)]
    pdf = complete.to_pandas()
    for c in pdf.columns:
        if c in enums:  # ordered levels (age bands by age; the lowest present is the reference)
            pdf[c] = pd.Categorical(pdf[c].astype(object), categories=complete[c].dtype.categories)
            pdf[c] = pdf[c].cat.remove_unused_categories()
        elif pd.api.types.is_string_dtype(pdf[c]) and not pd.api.types.is_object_dtype(pdf[c]):
            pdf[c] = pdf[c].astype(object)  # plain object strings: patsy treats as categorical
    return pdf, kind


def _check_outcome(sub: pl.DataFrame, lhs: str, what: str, family: str) -> None:
    """``DataError`` naming the outcome column and its first bad rows unless its values
    (where present) are 0 or 1 (true/false) for a logistic model, whole numbers >= 0 for a
    count model."""
    s = sub.get_column(lhs)
    if s.dtype == pl.Boolean or not s.dtype.is_numeric():
        return  # (a non-numeric outcome is refused after the nulls are dropped)
    v = s.cast(pl.Float64)
    if family == "logit":
        bad = ~v.is_in([0.0, 1.0])
        need = "0 or 1 (or true/false)"
    else:
        bad = ~v.is_finite() | (v < 0) | (v != v.floor())
        need = "whole numbers >= 0 (counts)"
    bad = bad & s.is_not_null()
    if bad.any():
        values = s.filter(bad.fill_null(False)).head(5).to_list()
        built = " (built as n_exams - 1)" if lhs == "n_repeat" and "n_exams" in sub.columns else ""
        raise DataError(
            f"{what}: the outcome column {lhs!r}{built} must hold {need}; {_rows(bad)} do not "
            f"(values {values})"
        )


def _fit(model: Any, what: str, family: str, **kwargs: Any) -> Any:
    """``model.fit(**kwargs)``, refused (``DataError``) when the fit did not converge or a
    standard error is not finite; statsmodels' warnings of such a fit go into the message,
    those of a good fit are passed on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(**kwargs)
    retvals = getattr(res, "mle_retvals", None)
    converged = bool((retvals or {}).get("converged", True)) and bool(
        getattr(res, "converged", True)
    )
    bse = np.asarray(res.bse, dtype=float)
    params = np.asarray(res.params, dtype=float)
    problems = []
    if not converged:
        problems.append("the maximum likelihood fit did not converge")
    if not np.all(np.isfinite(params)):
        problems.append("an estimate is not finite")
    if not np.all(np.isfinite(bse)):
        problems.append("a standard error is not finite (the information matrix is singular)")
    if not problems:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return res
    model_name = {
        "logit": "logistic model",
        "poisson": "Poisson model",
        "negbin": "negative binomial model",
    }[family]
    advice = "Rescale or centre large covariates, drop near-duplicate terms, or merge sparse levels"
    if family == "negbin":
        a = float(pd.Series(res.params).get("alpha", np.nan))
        if not np.isfinite(a) or a < 1e-3:
            advice = (
                f"The dispersion alpha is {a:.3g}, near 0: the counts show no overdispersion, "
                'so fit family="poisson"'
            )
    seen = "; ".join(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    raise DataError(
        f"{what}: the {model_name} could not be fitted: {'; '.join(problems)}"
        + (f" (statsmodels: {seen})" if seen else "")
        + f". {advice}."
    )


def _column_terms(model: Any) -> list[str]:
    """The formula term of each design column (the column name where patsy's is unknown)."""
    names = [str(c) for c in model.exog_names]
    slices = getattr(getattr(model.data, "model_spec", None), "term_name_slices", None)
    if not slices:
        return names
    out = list(names)
    for term, sl in slices.items():
        for j in range(sl.start, sl.stop):
            out[j] = str(term)
    return out


def _name(model: Any, j: int) -> str:
    """A design column named as ``'sex[T.M]' (term sex)`` or ``'age'``."""
    col, term = str(model.exog_names[j]), _column_terms(model)[j]
    return repr(col) if col == term else f"{col!r} (term {term!r})"


def _check_design(model: Any, pdf: pd.DataFrame, what: str, family: str) -> None:
    """Refuse a model whose estimates do not exist or are not identified.

    Raises :class:`DataError` when the outcome carries no information (constant for a
    logistic model, all zero for a count model) and :class:`ParameterError` when a formula
    term cannot be estimated: a term with one value (no column, or a column equal to the
    intercept), a column that is a linear combination of the others (rank-deficient design,
    checked with ``numpy.linalg.matrix_rank`` on the columns scaled to a maximum of 1), or
    (quasi-)complete separation: a direction ``b`` in which the linear predictor ``X b``
    orders the outcome perfectly (logistic: ``X b >= 0`` where the outcome is 1 and ``<= 0``
    where it is 0; counts: ``X b <= 0`` everywhere and ``= 0`` where the count is positive),
    found by the linear programme of Konis (2007) with ``scipy.optimize.linprog``; along it
    the likelihood keeps rising, so the maximum likelihood estimate is infinite.
    """
    y = np.asarray(model.endog, dtype=float)
    x = np.asarray(model.exog, dtype=float)
    outcome = str(model.endog_names)
    n, p = x.shape
    if family == "logit" and np.unique(y).size == 1:
        raise DataError(
            f"{what}: the outcome {outcome!r} is {int(y[0])} in all {n} rows fitted; a "
            "logistic model needs patients with and without the outcome (a lower threshold, "
            "a larger cohort, or the share with a CI from recurct.stats.magnitude)"
        )
    if family != "logit" and not np.any(y > 0):
        raise DataError(
            f"{what}: the outcome {outcome!r} is 0 in all {n} rows fitted (no repeat exams); "
            "a rate model has nothing to estimate (report the rate 0 with "
            "recurct.stats.poisson_ci)"
        )
    # terms that built no column: a categorical term with a single level
    slices = getattr(getattr(model.data, "model_spec", None), "term_name_slices", None) or {}
    empty = [str(t) for t, sl in slices.items() if sl.stop == sl.start and str(t) != "Intercept"]
    if empty:
        values = {t: sorted(map(str, pdf[t].unique()))[:3] for t in empty if t in pdf.columns}
        shown = ", ".join(f"{t!r}" + (f" (only {values[t]})" if t in values else "") for t in empty)
        raise ParameterError(
            f"{what}: term(s) {shown} take a single value in the {n} rows fitted, so there is "
            "nothing to estimate; drop them from the formula"
        )
    scale = np.max(np.abs(x), axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    if np.linalg.matrix_rank(xs) < p:
        kept: list[int] = []
        problems = []
        for j in range(p):
            if np.linalg.matrix_rank(xs[:, [*kept, j]]) == len(kept) + 1:
                kept.append(j)
                continue
            column = x[:, j]
            if np.ptp(column) == 0:
                problems.append(f"{_name(model, j)} is constant ({column[0]:g} in every row)")
            else:
                coef = np.linalg.lstsq(xs[:, kept], xs[:, j], rcond=None)[0]
                others = [_name(model, k) for k, c in zip(kept, coef) if abs(c) > 1e-8]
                problems.append(f"{_name(model, j)} is a linear combination of {', '.join(others)}")
        raise ParameterError(
            f"{what}: the design of {n} rows is rank deficient, so these terms cannot be "
            f"estimated: {'; '.join(problems)}. Drop them (or the columns they copy) from the "
            "formula"
        )
    direction = _separation(x / scale, y, family)
    if direction is not None:
        involved = [
            _name(model, j)
            for j in range(p)
            if abs(direction[j]) > 1e-6 and str(model.exog_names[j]) != "Intercept"
        ] or [_name(model, j) for j in range(p) if abs(direction[j]) > 1e-6]
        if family == "logit":
            raise ParameterError(
                f"{what}: separation: the outcome {outcome!r} is perfectly or quasi-perfectly "
                f"predicted by {', '.join(involved)} in the {n} rows fitted, so the odds ratio "
                "is infinite (or 0) and its Wald CI meaningless (a covariate derived from the "
                "outcome, such as ced_msv for reached_T, separates it by construction); "
                f"{_WHAT_TO_DO_SEPARATION}"
            )
        raise ParameterError(
            f"{what}: {', '.join(involved)} pick out patients who all have {outcome!r} = 0 "
            f"(of the {n} rows fitted), so the rate ratio is 0 (log -inf) and its Wald CI "
            "meaningless; drop the term, or merge its sparse levels (a level in which no "
            "patient has a count above 0) with a neighbour"
        )


def _separation(x: np.ndarray, y: np.ndarray, family: str) -> np.ndarray | None:
    """A direction along which the likelihood rises for ever, or None (the MLE exists)."""
    if family == "logit":
        return _cone_direction(np.where(y > 0, 1.0, -1.0)[:, None] * x)
    # counts: X b == 0 where y > 0 (b = N z, N a basis of the null space of those rows), and
    # X b <= 0 where y == 0
    pos = x[y > 0]
    if pos.shape[0] > pos.shape[1]:  # the same null space, from a p x p triangle
        pos = np.linalg.qr(pos, mode="r")
    _, sv, vt = np.linalg.svd(pos, full_matrices=True)
    rank = int(np.sum(sv > sv.max() * max(x.shape) * np.finfo(float).eps)) if sv.size else 0
    null = vt[rank:].T
    if null.shape[1] == 0 or not np.any(y == 0):
        return None
    z = _cone_direction(-x[y == 0] @ null)
    return None if z is None else null @ z


def _cone_direction(a: np.ndarray) -> np.ndarray | None:
    """``b`` in ``[-1, 1]^k`` with ``a @ b >= 0`` and some ``a_i @ b > 0``, or None.

    The linear programme ``max sum(a @ b)`` subject to ``a @ b >= 0`` (Konis 2007), solved by
    constraint generation: an LP over a subset of the rows, then the rows its solution
    violates are added, until none is (a few small LPs instead of one with every patient).
    """
    from scipy.optimize import linprog

    m, k = a.shape
    objective = -a.sum(axis=0)
    active = np.random.default_rng(0).permutation(m)[: min(m, 2000)]
    for _ in range(100):
        res = linprog(
            objective,
            A_ub=-a[active],
            b_ub=np.zeros(active.size),
            bounds=[(-1.0, 1.0)] * k,
            method="highs",
        )
        if res.status != 0 or res.x is None:
            return None
        margins = a @ res.x
        violated = np.setdiff1d(np.flatnonzero(margins < -1e-7), active)
        if violated.size == 0:
            break
        worst = violated[np.argsort(margins[violated])[:2000]]
        active = np.union1d(active, worst)
    else:  # pragma: no cover - the rows generate the cone long before
        return None
    if margins.max() > 1e-6 and margins.min() > -1e-6:
        return np.asarray(res.x)
    return None


def _tidy(res: Any, alpha: float, ratio: str, drop: Sequence[str] = ()) -> pl.DataFrame:
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
            f"{ratio}_lo": np.exp(coef - z * se),
            f"{ratio}_hi": np.exp(coef + z * se),
            "p_value": pvals[keep].to_numpy(dtype=float),
            "coef": coef,
            "se": se,
            "n": np.full(len(keep), int(res.nobs), dtype=np.int64),
        }
    )


def _cov(pdf: pd.DataFrame, cluster: str | None, what: str) -> dict[str, Any]:
    if cluster is None:
        return {}
    groups = pd.factorize(pdf[cluster])[0]
    if groups.size == 0 or groups.max() < 1:
        raise ParameterError(
            f"{what}: cluster-robust standard errors need at least 2 clusters; the column "
            f"{cluster!r} has {groups.max() + 1 if groups.size else 0} in the rows fitted "
            "(drop cluster=, or cluster by a column with more values)"
        )
    return {"cov_type": "cluster", "cov_kwds": {"groups": groups}}


@dataclass(frozen=True, eq=False, repr=False)
class RegressionResult:
    """Result of :func:`risk_factors` and :func:`exam_rate`.

    Attributes
    ----------
    table : DataFrame
        One row per term (pandas if the patients table was pandas): ``term``, the ratio
        (``odds_ratio`` or ``rate_ratio``) and its interval (``odds_ratio_lo``,
        ``odds_ratio_hi`` or ``rate_ratio_lo``, ``rate_ratio_hi``), ``p_value``, ``coef``,
        ``se``, ``n`` (rows fitted).
    model : statsmodels results
        The fitted statsmodels results object.
    formula : str
        The patsy formula.
    family : str
        ``"logit"``, ``"poisson"`` or ``"negbin"``.
    cluster : str or None
        The cluster column of the robust standard errors.
    alpha : float
        1 - confidence level of the Wald intervals.
    age_edges : tuple of float
        The age band edges.
    end : Any
        The ``end`` argument (:func:`exam_rate`; None for :func:`risk_factors`).
    """

    table: Frame
    model: Any
    formula: str
    family: str
    cluster: str | None
    alpha: float
    age_edges: tuple[float, ...]
    end: Any = None

    def __repr__(self) -> str:
        return result_repr(self)


@renamed(age_bands="age_edges", return_model="use risk_factors(...).model")
def risk_factors(
    patients: Any,
    formula: str = "reached_100 ~ age_band + sex + indication",
    *,
    cluster: str | None = None,
    alpha: float = 0.05,
    age_edges: Sequence[float] = AGE_EDGES,
) -> RegressionResult:
    """Logistic regression of reaching T on patient factors; odds ratios with CIs.

    Parameters
    ----------
    patients : DataFrame (polars, pandas or pyarrow)
        Patients table. A Boolean outcome is used as 0/1; a missing ``reached_<T>`` is computed
        from ``ced_msv``; ``age_band`` is built from ``age_first_exam`` with ``age_edges``
        (see :func:`recurct.stats.age_band`) unless present.
    formula : str
        A patsy formula (``C(age_band, Treatment("50-65"))`` picks a reference level;
        ``Q("site type")`` names a column that is not a Python name). The reference level
        of a categorical term is the first level present of a polars ``Enum`` or a pandas
        ``Categorical`` (ordered or not), the alphabetically first value of text (patsy's
        default), the first to appear of a polars ``Categorical``.
    cluster : str, optional
        Column of the clusters (e.g. ``"facility"``) for cluster-robust standard errors.
    alpha : float
        1 - confidence level of the Wald CIs.
    age_edges : sequence of float, default ``(0, 18, 30, 50, 65, inf)``
        Edges of the age bands, left-closed, labelled ``"18-30"`` and ``"65+"`` as by
        :func:`recurct.stats.age_band`; ages outside them are null (rows dropped with a
        warning). The lowest band present is the reference level.

    Returns
    -------
    RegressionResult
        ``.table``: ``term``, ``odds_ratio``, ``odds_ratio_lo``, ``odds_ratio_hi``,
        ``p_value``, ``coef`` (log odds), ``se``, ``n`` (rows fitted); the ``Intercept`` row
        holds the baseline odds; pandas in, pandas out. ``.model``: the statsmodels results.

    Warns
    -----
    RegressionWarning
        When rows with missing values are dropped.

    Raises
    ------
    DataError
        When the outcome is the same (all 0 or all 1) in every row fitted, holds values other
        than 0 and 1 (naming its first bad rows), or the fit did not converge or has a
        standard error that is not finite (statsmodels' warnings in the message).
    ParameterError
        When a term cannot be estimated, named in the message: a term with a single value, a
        column that is constant or a linear combination of others (rank-deficient design),
        or (quasi-)complete separation, where a term (or a combination) predicts the outcome
        of some patients perfectly and its maximum likelihood odds ratio is infinite or 0
        (e.g. a level in which nobody reached T, or a covariate derived from the outcome such
        as ``ced_msv``). Merge sparse levels, drop the term, or use a penalised (Firth) model.
        ``cluster`` with fewer than 2 clusters.
        A formula that cannot be parsed or evaluated (``"reached_100 ~ sex +"``, a level
        that is not in the data), with the formula engine's error (patsy's, or formulaic's)
        as ``__cause__``; a name in the formula that is neither a column nor a function is a
        ``DataError`` naming it and the columns of the table.

    Notes
    -----
    Reaching T depends on how long a patient was observed: a patient first scanned a month
    before the end of the data has had little time to accumulate dose. Factors that go with
    shorter observation (e.g. a site that joined late, a recent indication) then look
    protective. Adjust for the observation time (add ``np.log(person_days)``, a column of
    ``observation_end - first_exam + 1`` days, see
    :func:`recurct.stats.observation_end`, to the formula), or restrict the table to
    patients observed for a fixed window (first exam at least W years before the end) and use
    ``reached_T`` within W years (``max_ced_<days>`` of :func:`recurct.cumulative_dose`), or
    model the time to T with :func:`recurct.stats.time_to_threshold`.
    """
    import statsmodels.formula.api as smf

    _check_formula(formula, age_edges, "risk_factors")
    alpha = _checks.alpha(alpha, "risk_factors")
    if cluster is not None:
        column_name(cluster, "risk_factors(cluster=...)")
    df, kind = _frame(patients, formula)
    pdf, _ = _prepare(df, formula, [cluster] if cluster else [], age_edges, "risk_factors", "logit")
    model = _model(smf.logit, formula, pdf, "risk_factors", df.columns)
    _check_design(model, pdf, "risk_factors", "logit")
    res = _fit(model, "risk_factors", "logit", disp=0, **_cov(pdf, cluster, "risk_factors"))
    table = _tidy(res, alpha, "odds_ratio")
    return RegressionResult(
        table=from_polars(table, kind),
        model=res,
        formula=formula,
        family="logit",
        cluster=cluster,
        alpha=alpha,
        age_edges=tuple(float(e) for e in age_edges),
    )


@renamed(age_bands="age_edges", return_model="use exam_rate(...).model")
def exam_rate(
    patients: Any,
    formula: str = "n_repeat ~ age_band + sex",
    *,
    family: Literal["poisson", "negbin"] = "poisson",
    end: Any = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    age_edges: Sequence[float] = AGE_EDGES,
) -> RegressionResult:
    """Rate of repeat exams per day of observation (Poisson or negative binomial); rate ratios.

    Parameters
    ----------
    patients : DataFrame (polars, pandas or pyarrow)
        Patients table with ``first_exam``, ``n_exams`` (or the outcome column), ``last_exam``
        (for the default ``end`` and the check that no exam falls after it) and the
        covariates.
    formula : str, default ``"n_repeat ~ age_band + sex"``
        A patsy formula with the count on the left. ``n_repeat`` (built as ``n_exams - 1``
        unless present) counts the exams after the first, which opens the observation; an
        outcome ``n_exams`` includes that entry exam and biases rate ratios towards 1 (a
        :class:`RegressionWarning` says so).
    family : {"poisson", "negbin"}
        Poisson GLM or NB2 negative binomial (dispersion by maximum likelihood).
    end : None, date, ISO date str, column name or mapping, optional
        End of observation, as in :func:`recurct.stats.time_to_threshold` (see
        :func:`recurct.stats.observation_end`): ``None`` (default) is the end of the
        data, the latest ``last_exam`` of the patient's facility (of all patients without
        ``facility``); a date or ``"YYYY-MM-DD"``; a column name; a mapping
        ``{facility: date}``. The person-time
        is ``end - first_exam + 1`` days (log offset).
    cluster : str, optional
        Column of the clusters for cluster-robust standard errors.
    alpha : float
        1 - confidence level of the Wald CIs.
    age_edges : sequence of float, default ``(0, 18, 30, 50, 65, inf)``
        Edges of the age bands (when the formula uses ``age_band``), as in :func:`risk_factors`.

    Returns
    -------
    RegressionResult
        ``.table``: ``term``, ``rate_ratio``, ``rate_ratio_lo``, ``rate_ratio_hi``,
        ``p_value``, ``coef``, ``se``, ``n``; the ``Intercept`` row is the baseline rate of
        repeat exams per day; pandas in, pandas out. ``.model``: the statsmodels results.

    Warns
    -----
    RegressionWarning
        When rows with missing values are dropped, the outcome is ``n_exams``, or
        ``end="last_exam"`` (an exposure that depends on the count).

    Raises
    ------
    DataError
        When the outcome is 0 in every row fitted, holds values other than whole numbers
        >= 0 (naming its first bad rows), or the fit did not converge or has a standard
        error that is not finite (for ``"negbin"`` with a dispersion near 0: fit
        ``"poisson"``).
    ParameterError
        When a term cannot be estimated, named in the message: a term with a single value, a
        column that is constant or a linear combination of others (rank-deficient design),
        or a term (or combination) that picks out patients who all have a count of 0 (their
        rate ratio would be 0), as in :func:`risk_factors`; ``cluster`` with fewer than 2
        clusters; a formula that cannot be parsed or evaluated, as in :func:`risk_factors`
        (a name that is not a column: ``DataError``).
    ValueError
        On an unknown family, missing columns, or a patient whose ``last_exam`` is after his
        end of observation (filter the exams to the study window first).
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    if not isinstance(family, str) or family not in ("poisson", "negbin"):
        raise ParameterError(f"family must be 'poisson' or 'negbin', got {family!r}")
    _check_formula(formula, age_edges, "exam_rate")
    alpha = _checks.alpha(alpha, "exam_rate")
    if cluster is not None:
        column_name(cluster, "exam_rate(cluster=...)")
    df, kind = _frame(patients, formula)
    check_patients(df, "exam_rate")  # before first_exam and last_exam are used as dates
    df, days = _person_days(df, formula, end)
    person = pl.Series(f"{TMP}person_days", days.cast(pl.Float64) + 1.0)
    extra = [f"{TMP}person_days"] + ([cluster] if cluster else [])
    pdf, _ = _prepare(df, formula, extra, age_edges, "exam_rate", family, [person])
    person_time = pdf[f"{TMP}person_days"].to_numpy(dtype=float)
    if family == "poisson":
        model = _model(
            smf.glm,
            formula,
            pdf,
            "exam_rate",
            df.columns,
            family=sm.families.Poisson(),
            exposure=person_time,
        )
        _check_design(model, pdf, "exam_rate", family)
        res = _fit(model, "exam_rate", family, **_cov(pdf, cluster, "exam_rate"))
    else:
        model = _model(
            smf.negativebinomial, formula, pdf, "exam_rate", df.columns, exposure=person_time
        )
        _check_design(model, pdf, "exam_rate", family)
        res = _fit(
            model, "exam_rate", family, disp=0, maxiter=200, **_cov(pdf, cluster, "exam_rate")
        )
    table = _tidy(res, alpha, "rate_ratio", drop=("alpha",))
    return RegressionResult(
        table=from_polars(table, kind),
        model=res,
        formula=formula,
        family=family,
        cluster=cluster,
        alpha=alpha,
        age_edges=tuple(float(e) for e in age_edges),
        end=end,
    )


def _check_formula(formula: Any, age_edges: Any, what: str) -> None:
    """``ParameterError`` unless ``formula`` is text and ``age_edges`` valid band edges."""
    if not isinstance(formula, str):
        raise ParameterError(
            f"{what}: formula must be text such as 'outcome ~ a + b', got {formula!r:.60}"
        )
    if not isinstance(age_edges, Sequence | np.ndarray) or isinstance(age_edges, str | bytes):
        raise ParameterError(
            f"{what}: age_edges must be a sequence of numbers, got {age_edges!r:.60}"
        )
    try:
        band_labels(age_edges)
    except ParameterError as exc:
        raise ParameterError(f"{what}: age_edges: {exc}") from None


def _formula_errors() -> tuple[type[Exception], ...]:
    """The errors of the formula engines statsmodels may use (patsy, and formulaic with
    ``SM_FORMULA_ENGINE=formulaic`` or ``statsmodels.formula.options``), those installed."""
    errors: list[type[Exception]] = []
    try:
        from patsy import PatsyError
    except ImportError:  # pragma: no cover - statsmodels >= 0.15 may run on formulaic alone
        pass
    else:
        errors.append(PatsyError)
    try:
        from formulaic.errors import FormulaicError
    except ImportError:  # formulaic is optional
        pass
    else:
        errors.append(FormulaicError)
    return tuple(errors)


#: the name in a formula engine's ``NameError`` (patsy: ``name 'x' is not defined``, ``no
#: data named 'x' found`` for ``Q("x")``; formulaic: ```x` is not present in the dataset``)
_MISSING_NAME = re.compile(
    r"name '([^']+)' is not defined|no data named '([^']+)' found|`([^`]+)` is not present"
)


def _missing_name(exc: BaseException) -> str | None:
    """The name that ``exc`` (a formula engine's error) says is not defined, or None when it
    is about something else; "" when the name cannot be told."""
    cause: BaseException | None = exc
    while cause is not None:  # patsy and formulaic chain the NameError of the evaluation
        if isinstance(cause, NameError):
            m = _MISSING_NAME.search(str(cause))
            return next((g for g in m.groups() if g), "") if m else ""
        cause = cause.__cause__
    m = _MISSING_NAME.search(str(exc))
    if m is not None and "NameError" in str(exc):
        return next(g for g in m.groups() if g)
    return None


def _raised_by_engine(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside patsy or formulaic (formulaic raises a plain
    ``ValueError`` for a reference level that is not in the data)."""
    tb = exc.__traceback__
    module = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return module.split(".", 1)[0] in ("patsy", "formulaic")


def _model(
    build: Any, formula: str, pdf: pd.DataFrame, what: str, columns: Sequence[str], **kwargs: Any
) -> Any:
    """``build(formula, data=pdf, **kwargs)``. An error of the formula engine (patsy, or
    formulaic) becomes a recurct error naming the formula and ``columns`` (those of the
    patients table), with the engine's error as ``__cause__``: a name of the formula that is
    neither a column nor a function (a ``NameError``) a :class:`DataError` naming it, any
    other (a formula that cannot be parsed, a level that is not in the data, a term that
    cannot be evaluated) a :class:`ParameterError`."""
    try:
        return build(formula, data=pdf, **kwargs)
    except (*_formula_errors(), ValueError) as exc:
        if not isinstance(exc, _formula_errors()) and not _raised_by_engine(exc):
            raise  # statsmodels' own, not the formula's
        shown = [c for c in columns if not c.startswith(TMP)]
        name = _missing_name(exc)
        if name is not None:
            named = f"names {name!r}, which is" if name else "names something that is"
            raise DataError(
                f"{what}: the formula {formula!r} {named} not a column of the patients "
                f"table (columns: {shown})"
            ) from exc
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        reason = re.sub(r"\x1b\[[0-9;]*m", "", reason) or type(exc).__name__
        raise ParameterError(
            f"{what}: the formula {formula!r} cannot be used: {reason} (a formula looks like "
            f"'outcome ~ a + b', with columns of the patients table: {shown})"
        ) from exc


def _person_days(df: pl.DataFrame, formula: str, end: Any) -> tuple[pl.DataFrame, pl.Series]:
    """The table with ``n_repeat`` where the formula needs it, and each patient's days from
    the first exam to the end of observation (checked: no exam after it)."""
    if "first_exam" not in df.columns:
        raise DataError(
            "exam_rate: the patients table lacks 'first_exam' (the start of each patient's "
            "person-time); build it with recurct.cumulative_dose()"
        )
    lhs = formula.split("~", 1)[0].strip()
    if lhs == "n_exams":
        warnings.warn(
            "exam_rate: the outcome n_exams includes each patient's first exam, which opens "
            "his observation; rate ratios are biased towards 1. Model n_repeat (n_exams - 1).",
            RegressionWarning,
            stacklevel=user_stacklevel(),
        )
    if lhs == "n_repeat" and "n_repeat" not in df.columns:
        if "n_exams" not in df.columns:
            raise DataError("exam_rate: n_repeat needs the column 'n_exams'")
        df = df.with_columns((pl.col("n_exams") - 1).alias("n_repeat"))
    if isinstance(end, str) and end == "last_exam":
        warnings.warn(
            "exam_rate: end='last_exam' ends each patient's person-time at his own last exam, "
            "an exposure that depends on the outcome (a patient with one exam has one day "
            "whatever his rate); rate ratios are biased towards 1. Use the end of the data "
            "(end=None) or a fixed date.",
            RegressionWarning,
            stacklevel=user_stacklevel(),
        )
    days = end_days(df, end, "exam_rate")
    if "last_exam" in df.columns:
        ends = df.select(pl.col("first_exam").cast(pl.Date) + pl.duration(days=pl.lit(days)))
        late = (df["last_exam"].cast(pl.Date) > ends.to_series()).fill_null(False)
        if late.any():
            i = int(late.arg_true()[0])
            pid = df["patient_id"][i] if "patient_id" in df.columns else i
            raise DataError(
                f"exam_rate: {int(late.sum())} patient(s) have exams after their end of "
                f"observation (e.g. patient {pid!r}); their n_exams counts exams outside the "
                "person-time. Filter the exams to the study window, or pass a later end="
            )
    return df, days
