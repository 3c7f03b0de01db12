"""Every error recurct raises on purpose is a ``recurct.errors.RecurctError`` (CONTRIBUTING.md,
"Errors and warnings"), and keeps the built-in base it had before (``ValueError`` or
``TypeError``), so both ``except RecurctError`` and the old ``except ValueError`` catch it.

(a) real user errors through the public API; (b) a static scan of the sources for a bare
``ValueError(...)`` / ``TypeError(...)`` (raised or built to be raised) that is not marked
``# internal: not a user error``."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import recurct
from recurct import errors
from recurct.errors import DataError, ParameterError, RecurctError

SRC = Path(recurct.__file__).parent

_MARK = "# internal: not a user error"


def _exams(**overrides: list[Any]) -> pl.DataFrame:
    data: dict[str, list[Any]] = {
        "patient_id": ["a", "a", "b"],
        "exam_date": [dt.date(2020, 1, 1), dt.date(2020, 6, 1), dt.date(2021, 3, 1)],
        "effective_dose_msv": [5.0, 7.0, 2.0],
    }
    data.update(overrides)
    return pl.DataFrame(data)


def _check(call: Callable[[], Any], builtin: type[Exception], cls: type[Exception]) -> None:
    with pytest.raises(RecurctError) as info:
        call()
    assert isinstance(info.value, builtin), type(info.value).__mro__
    assert isinstance(info.value, cls), type(info.value).__mro__


# ------------------------------------------------------------------- (a) the public API
@pytest.mark.parametrize("fn", [recurct.cumulative_dose, recurct.prepare_exams])
@pytest.mark.parametrize(
    ("overrides", "builtin", "cls"),
    [
        ({"patient_id": ["a", None, "b"]}, ValueError, DataError),  # a null id
        ({"effective_dose_msv": [5.0, -1.0, 2.0]}, ValueError, DataError),  # a negative dose
        ({"effective_dose_msv": [5.0, float("nan"), 2.0]}, ValueError, DataError),  # NaN
        ({"effective_dose_msv": [5.0, None, 2.0]}, ValueError, DataError),  # a null dose
        ({"exam_date": ["2020-01-01", "2020-06-01", "2021-03-01"]}, TypeError, ParameterError),
        ({"effective_dose_msv": ["5", "7", "2"]}, TypeError, ParameterError),  # text doses
        ({"patient_id": [1.5, 2.5, 3.5]}, TypeError, ParameterError),  # float ids
    ],
)
def test_bad_exam_tables(
    fn: Callable[[Any], Any], overrides: dict[str, list[Any]], builtin: type, cls: type
) -> None:
    _check(lambda: fn(_exams(**overrides)), builtin, cls)


def test_cumulative_dose_missing_column_and_bad_arguments() -> None:
    _check(lambda: recurct.cumulative_dose(_exams().drop("exam_date")), ValueError, DataError)
    _check(lambda: recurct.cumulative_dose(_exams(), indication="last"), ValueError, ParameterError)
    _check(lambda: recurct.cumulative_dose([1, 2, 3]), TypeError, ParameterError)  # not a table


def test_cumulative_dose_out_of_core(tmp_path: Path) -> None:
    bad = _exams(patient_id=["a", None, "b"])
    bad.write_parquet(tmp_path / "exams.parquet")
    _check(lambda: recurct.cumulative_dose(bad.lazy()), ValueError, DataError)
    _check(lambda: recurct.cumulative_dose(tmp_path / "exams.parquet"), ValueError, DataError)


def test_cohort() -> None:
    _check(lambda: recurct.Cohort(_exams().drop("patient_id")), ValueError, DataError)
    _check(lambda: recurct.Cohort(_exams(patient_id=["a", None, "b"])), ValueError, DataError)
    _check(lambda: recurct.Cohort(_exams(exam_date=["2020-01-01"] * 3)), TypeError, ParameterError)
    cohort = recurct.Cohort(_exams())
    _check(lambda: cohort.sex(), ValueError, ParameterError)
    _check(lambda: cohort.where("effective_dose_msv > 1"), TypeError, ParameterError)  # type: ignore[arg-type]
    _check(lambda: cohort.period(start="2021-01-01", end="2020-01-01"), ValueError, ParameterError)
    _check(lambda: cohort.modality("CT"), ValueError, DataError)  # no modality column


def test_dose() -> None:
    _check(
        lambda: recurct.dose.k_factors(["chest"], table="no such table"),
        ValueError,
        ParameterError,
    )
    _check(lambda: recurct.dose.k_factors(["not_a_region"]), ValueError, DataError)
    _check(lambda: recurct.dose.drl_table(None), TypeError, ParameterError)  # type: ignore[arg-type]
    _check(lambda: recurct.dose.region_of(3), TypeError, ParameterError)  # type: ignore[arg-type]
    exams = pl.DataFrame({"body_region": ["chest"], "dlp_mgycm": [100.0]})
    _check(lambda: recurct.dose.effective_dose(exams, level="visit"), ValueError, ParameterError)


def test_synthetic() -> None:
    _check(
        lambda: recurct.synthetic.generate("rehani2020", n_patients=-5), ValueError, ParameterError
    )
    _check(
        lambda: recurct.synthetic.generate("no_such_profile", n_patients=10),
        ValueError,
        ParameterError,
    )


def test_stats_by() -> None:
    patients = recurct.cumulative_dose(_exams())
    _check(lambda: recurct.stats.magnitude(patients, by="site"), ValueError, ParameterError)
    _check(lambda: recurct.stats.magnitude(patients, by=[1, 2]), ValueError, ParameterError)  # type: ignore[arg-type]
    _check(lambda: recurct.stats.magnitude(patients.head(0)), ValueError, DataError)


def test_period_dose_and_renamed_keywords() -> None:
    _check(lambda: recurct.period_dose(_exams()), ValueError, ParameterError)  # no periods
    _check(lambda: recurct.period_dose(_exams(), every="1 decade"), ValueError, ParameterError)
    _check(lambda: recurct.stats.proportion_ci(1, 10, method="wilson"), TypeError, ParameterError)


# recurct.stats: a bad argument is a ParameterError (TypeError and ValueError), a table that
# holds something unusable a DataError (ValueError); both keep the old built-in.
def _patients() -> pl.DataFrame:
    exams = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c", "c"],
            "exam_date": [dt.date(2020, m, 1) for m in (1, 6, 12, 2, 3)],
            "effective_dose_msv": [60.0, 70.0, 2.0, 30.0, 20.0],
            "age_years": [40.0, 40.5, 70.0, 8.0, 8.1],
            "facility": ["X", "X", "Y", "Y", "Y"],
        }
    )
    return recurct.cumulative_dose(exams)


def _check_all(cases: list[tuple[Callable[[], Any], type, type]]) -> None:
    """:func:`_check` of every case, failing once with all the cases that fail."""
    failed = []
    for i, (call, builtin, cls) in enumerate(cases):
        try:
            _check(call, builtin, cls)
        except BaseException as exc:  # pytest's Failed, or an error of another class
            failed.append(f"case {i}: {type(exc).__name__}: {str(exc)[:120]}")
    assert not failed, "\n".join(failed)


def test_stats_bad_arguments() -> None:
    p = _patients()
    stats = recurct.stats
    cases: list[tuple[Callable[[], Any], type]] = [
        (lambda: stats.magnitude(p, ci="nonsense"), ValueError),
        (lambda: stats.magnitude(p, cluster="facility"), ValueError),  # not ci="bootstrap"
        (lambda: stats.magnitude(p, ci="bootstrap", n_boot=0), ValueError),
        (lambda: stats.magnitude(p, population=True), TypeError),
        (lambda: stats.magnitude(p, population=0), ValueError),
        (lambda: stats.magnitude(p, population=2), ValueError),  # fewer than the 3 patients
        (lambda: stats.exams_per_patient(p, at_least=[2.5]), ValueError),
        (lambda: stats.exams_per_patient(p, at_least=[0]), ValueError),
        (lambda: stats.standardise(p, ci="exact"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.standardise(p, standard="who2000"), ValueError),
        (lambda: stats.standardise(p, age_column="age"), ValueError),
        (lambda: stats.risk_factors(p, "no formula"), ValueError),
        (lambda: stats.risk_factors(p, "outcome ~ n_exams"), ValueError),  # no such column
        (lambda: stats.exam_rate(p, "n_repeat ~ 1", family="gamma"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.site_table(p, site="hospital"), ValueError),
        (lambda: stats.meta_proportion(p, model="bayes"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.meta_proportion(p, tau2="ml"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.meta_proportion(p, ci="t"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.meta_proportion(p, transform="probit"), ValueError),  # type: ignore[arg-type]
        (lambda: stats.meta_proportion(p, model="glmm", transform="raw"), ValueError),
        (lambda: stats.meta_proportion(p, subgroup="country"), ValueError),
        (lambda: stats.meta_proportion(p, continuity=0), ValueError),  # a site with 0 events
        (lambda: stats.proportion_ci(-1, 10), ValueError),
        (lambda: stats.proportion_ci(float("nan"), 10), ValueError),
        (lambda: stats.proportion_ci(11, 10), ValueError),
        (lambda: stats.proportion_ci(1, 10, ci="exactly"), ValueError),
        (lambda: stats.poisson_ci(-1, 10.0), ValueError),
        (lambda: stats.extrapolate(1.0), ValueError),  # no population
        (lambda: stats.extrapolate(1.0, 1e6, rate_ci=(2.0, 3.0)), ValueError),
        (lambda: stats.extrapolate(1.0, 1e6, per_country=pl.DataFrame()), ValueError),
        (lambda: stats.export_table(p, "table.html"), ValueError),
        (lambda: stats.readable(3), TypeError),  # not a table
        (lambda: stats.time_to_threshold(p, end={"X": dt.date(2022, 1, 1)}), ValueError),
    ]
    _check_all([(call, builtin, ParameterError) for call, builtin in cases])


@pytest.mark.filterwarnings("ignore::recurct.errors.RegressionWarning")  # rows with a null
def test_stats_bad_data() -> None:
    p = _patients()
    stats = recurct.stats
    null_ced = p.with_columns(ced_msv=pl.lit(None, pl.Float64))
    no_first = p.with_columns(first_exam=pl.lit(None, pl.Date))
    per_country = pl.DataFrame({"country": ["A"], "rate_per_1000": [-1.0], "population": [1e6]})
    aggregates = pl.DataFrame({"site": ["A", "B"], "n_patients": [10, 5], "n_reached": [2, 9]})
    none = pl.DataFrame({"site": ["A", "B"], "n_patients": [10, 5], "n_reached": [0, 0]})
    people = pl.DataFrame({"patient_id": ["a", "a", "b", "c"]})
    doses = pl.DataFrame({"effective_dose_msv": [-1.0], "body_region": ["chest"]})
    cases: list[Callable[[], Any]] = [
        lambda: stats.dose_bands(null_ced),
        lambda: stats.exams_per_patient(p.with_columns(n_exams=pl.lit(None, pl.Int64))),
        lambda: stats.magnitude(p.with_columns(facility=None), ci="bootstrap", cluster="facility"),
        lambda: stats.magnitude(p, population=people),  # a patient_id listed twice
        lambda: stats.magnitude(p, by="facility", population=pl.DataFrame({"n": [1, 2, 3]})),
        lambda: stats.dose_share(doses),  # a negative dose
        lambda: stats.single_exam_share(_exams(effective_dose_msv=[1.0, None, 2.0])),
        lambda: stats.time_to_threshold(no_first),
        lambda: stats.time_to_threshold(p, end=dt.date(2019, 1, 1)),  # ends before first exams
        lambda: stats.cumulative_incidence(p.with_columns(reached_100=True, days_to_100=None)),
        lambda: stats.incidence_rate(p, window_days=30),  # no date_reached_100_in_30
        lambda: stats.incidence_rate(no_first.drop("date_reached_100")),
        lambda: stats.standardise(p.with_columns(age_first_exam=None)),
        lambda: stats.standardise(p, standard=pl.DataFrame({"age_lo": [0.0], "weight": [1.0]})),
        lambda: stats.risk_factors(p.with_columns(facility=None), "reached_100 ~ facility"),
        lambda: stats.risk_factors(p.drop("age_first_exam"), "reached_100 ~ age_band"),
        lambda: stats.exam_rate(p.drop("first_exam"), "n_repeat ~ 1"),
        lambda: stats.site_table(p.with_columns(facility=None)),
        lambda: stats.site_table(aggregates),  # n_reached > n_patients
        lambda: stats.site_table(aggregates.with_columns(site=pl.lit("A"), n_reached=1)),
        lambda: stats.site_table(aggregates.rename({"n_reached": "n_high"})),  # renamed in 0.2
        lambda: stats.time_to_threshold(p.with_columns(end=None), end="end"),  # a null end
        lambda: stats.meta_proportion(aggregates.head(0)),
        lambda: stats.meta_proportion(none, model="glmm"),  # no site has an event
        lambda: stats.extrapolate(per_country=per_country),
        lambda: stats.extrapolate(per_country=per_country.drop("population")),
    ]
    _check_all([(call, ValueError, DataError) for call in cases])


_HEADER = "patient_id,exam_date,effective_dose_msv\n"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file, no header line"),
        (b"patient_id,exam_date,patient_id\na,2020-01-01,b\n", "appears twice in the header"),
        (_HEADER.encode() + b"a,2020-01-01,5.0,extra\n", "has 4 field"),  # a ragged row
        (_HEADER.encode() + b"a,31/12/2020,5.0\n", "may be day-first or month-first"),
        (b"PK\x03\x04" + bytes(60), r"Excel workbook \(\.xlsx\)"),  # .xlsx saved as .csv
        (b"\x00\x01\x02binary", "binary content"),
        (_HEADER.encode() + b"a,2020-01-01,5.0\nb,2020-01-01,\xe9\xc3\xa9\n", "mixes encodings"),
        (_HEADER.encode() + b'a,"2020-01-01,5.0\n', "closing quote"),
        (b"\x1f\x8bnot gzip at all", "damaged gzip"),
    ],
    ids=["empty", "twice", "ragged", "dayfirst", "xlsx", "binary", "mixed", "quote", "gzip"],
)
def test_read_exams_bad_csv_files(tmp_path: Path, content: bytes, match: str) -> None:
    f = tmp_path / "exams.csv"
    f.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        recurct.read_exams(f)
    assert isinstance(info.value, ValueError)


def test_read_exams_bad_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no tables here", encoding="utf-8")
    empty = tmp_path / "empty"
    _check(lambda: recurct.read_exams(empty), FileNotFoundError, errors.InputNotFoundError)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 but nothing after it")
    _check(lambda: recurct.read_exams(tmp_path / "bad.parquet"), ValueError, DataError)


def test_read_exams_bad_arguments(tmp_path: Path) -> None:
    f = tmp_path / "exams.csv"
    f.write_text(_HEADER + "a,2020-01-01,5.0\n", encoding="utf-8")
    _check(lambda: recurct.read_exams(f, columns=["id"]), TypeError, ParameterError)  # type: ignore[arg-type]
    _check(lambda: recurct.read_exams(f, columns={"pid": "patient_id"}), ValueError, ParameterError)
    _check(lambda: recurct.read_exams(f, sep=";;"), ValueError, ParameterError)
    _check(lambda: recurct.read_exams(f, decimal=";"), ValueError, ParameterError)  # type: ignore[arg-type]
    two = {"patient_id": "exam_date"}  # two columns would be named exam_date
    _check(lambda: recurct.read_exams(f, columns=two), ValueError, ParameterError)
    g = tmp_path / "aliases.csv"
    g.write_text("PatientID,Patient ID,exam_date\na,a,2020-01-01\n", encoding="utf-8")
    _check(lambda: recurct.read_exams(g), ValueError, DataError)  # which one is patient_id?
    with pytest.raises(FileNotFoundError):  # left a FileNotFoundError (OSError) on purpose
        recurct.read_exams(tmp_path / "missing.csv")


def test_dates_given_as_arguments() -> None:
    _check(lambda: recurct.validate(_exams(), today="yesterday"), ValueError, ParameterError)
    _check(lambda: recurct.validate(_exams(), today=20200101), TypeError, ParameterError)  # type: ignore[arg-type]
    periods = [(dt.date(2020, 1, 1), 2021)]
    _check(lambda: recurct.period_dose(_exams(), periods=periods), TypeError, ParameterError)  # type: ignore[list-item]


def test_read_rdsr_bad_arguments(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    _check(lambda: recurct.read_rdsr(tmp_path, strict="yes"), TypeError, ParameterError)  # type: ignore[arg-type]
    _check(lambda: recurct.read_rdsr(tmp_path, workers=0), ValueError, ParameterError)
    _check(
        lambda: recurct.read_rdsr(tmp_path, pseudonymise="md5", secret="x" * 40),  # type: ignore[arg-type]
        ValueError,
        ParameterError,
    )
    _check(
        lambda: recurct.read_rdsr(tmp_path, pseudonymise="hmac-sha256", secret="short"),
        ValueError,
        errors.WeakSecretError,
    )


def test_the_classes_are_those_of_recurct_errors() -> None:
    assert errors.ParameterError is ParameterError and errors.DataError is DataError
    assert issubclass(ParameterError, TypeError) and issubclass(ParameterError, ValueError)
    assert issubclass(DataError, ValueError) and not issubclass(DataError, TypeError)


# ------------------------------------------------------------------- (b) the sources
def _bare_builtin_errors(path: Path, root: Path = SRC) -> list[str]:
    """``file:line`` of each ``ValueError(...)``, ``TypeError(...)`` or
    ``FileNotFoundError(...)`` built in ``path`` (in a
    ``raise``, or returned to be raised by the caller) whose lines lack the mark. A bare
    ``raise ValueError`` (the class, no message) is a jump to a local ``except``: not
    flagged."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("ValueError", "TypeError", "FileNotFoundError")
        ):
            continue
        span = lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if any(_MARK in line for line in span):
            continue
        found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {node.func.id}")
    return found


def test_no_bare_builtin_error_is_raised() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        problems += _bare_builtin_errors(path)
    assert not problems, (
        "raise recurct.errors.ParameterError (a bad argument) or DataError (bad input data) "
        f"instead, or mark an unreachable check '{_MARK}':\n" + "\n".join(problems)
    )


def test_the_scan_finds_a_bare_error(tmp_path: Path) -> None:
    hits = []
    for text in (
        "def f(x):\n    if x:\n        raise ValueError('bad')\n    return TypeError('t')\n",
        "def g():\n    raise TypeError(\n        'never'\n    )  # internal: not a user error\n",
        "def h(s):\n    try:\n        raise ValueError\n    except ValueError:\n        pass\n",
    ):
        f = tmp_path / "m.py"
        f.write_text(text, encoding="utf-8")
        hits.append(len(_bare_builtin_errors(f, tmp_path)))
    assert hits == [2, 0, 0]


@pytest.mark.parametrize(
    "read",
    [
        lambda p: recurct.read_exams(p),
        lambda p: recurct.cumulative_dose(p),
        lambda p: recurct.io.read_rdsr(p),
        lambda p: recurct.io.read_openrem_ct(p),
    ],
)
def test_a_missing_input_file_is_a_recurct_error(read: Callable[[Path], Any], tmp_path) -> None:
    with pytest.raises(errors.InputNotFoundError) as info:
        read(tmp_path / "absent.csv")
    assert isinstance(info.value, RecurctError) and isinstance(info.value, FileNotFoundError)
