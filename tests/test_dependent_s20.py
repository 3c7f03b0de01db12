"""Session 20 fixes for recurct used as a dependency of another package: formula errors of
either statsmodels engine are recurct errors; ``cli.main reproduce`` keeps the host's
matplotlib backend; output writers keep an application's own SIGTERM action; a missing
optional dependency is not "a bug in recurct" on the command line; the many-strata warning
of ``time_to_threshold_curve`` is a ``RecurctWarning``."""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import recurct.cli._reproduce as cli_reproduce
from recurct import plot
from recurct._outdir import output_folder, terminate_as_exit
from recurct.cli import EXIT_INTERNAL, EXIT_USAGE, main
from recurct.errors import DataError, ParameterError, RecurctError, RecurctWarning
from recurct.stats import exam_rate, risk_factors


# ------------------------------------------------------------------ 1. formula errors
def _patients(n: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(20)
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "ced_msv": rng.uniform(1, 200, n),
            "sex": rng.choice(["F", "M"], n),
            "facility": rng.choice(["A", "B"], n),
            "x": rng.normal(size=n),
            "reached_100": np.arange(n) % 3 == 0,
        }
    )


@pytest.fixture(params=["patsy", "formulaic"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """statsmodels' formula engine for the test (``SM_FORMULA_ENGINE``'s option)."""
    if request.param == "formulaic":
        pytest.importorskip("formulaic")
    import statsmodels.formula as smformula

    options = getattr(smformula, "options", None)
    if options is None:  # statsmodels < 0.15: patsy only
        if request.param != "patsy":
            pytest.skip("this statsmodels has no formulaic engine")
        yield request.param
        return
    before = options.formula_engine
    options.formula_engine = request.param
    try:
        yield request.param
    finally:
        options.formula_engine = before


@pytest.mark.parametrize(
    "formula", ["reached_100 ~ sex +", "reached_100 ~ (((", "reached_100 ~ x ~ x"]
)
def test_a_malformed_formula_is_a_parameter_error(engine: str, formula: str) -> None:
    with pytest.raises(ParameterError) as err:
        risk_factors(_patients(), formula)
    assert isinstance(err.value, RecurctError) and isinstance(err.value, ValueError)
    text = str(err.value)
    assert text.startswith(f"risk_factors: the formula {formula!r} cannot be used: ")
    assert "'facility'" in text  # the columns of the patients table, not only the formula's
    assert err.value.__cause__ is not None  # the engine's own error
    assert type(err.value.__cause__).__module__.split(".")[0] == engine


def test_a_missing_column_names_the_columns_of_the_table(engine: str) -> None:
    with pytest.raises(DataError) as err:
        risk_factors(_patients(), "reached_100 ~ nosuchcol")
    text = str(err.value)
    assert "names 'nosuchcol', which is not a column of the patients table" in text
    # the patients table's columns (before: only those the formula named, ['reached_100'])
    assert "'patient_id', 'ced_msv', 'sex', 'facility', 'x', 'reached_100'" in text
    assert type(err.value.__cause__).__module__.split(".")[0] == engine


def test_a_level_not_in_the_data_is_a_parameter_error(engine: str) -> None:
    with pytest.raises(ParameterError, match=r"the formula .* cannot be used: ") as err:
        risk_factors(_patients(), "reached_100 ~ x + C(sex, Treatment('Z'))")
    assert err.value.__cause__ is not None


def test_exam_rate_shares_the_formula_errors() -> None:
    n = 60
    patients = _patients(n).with_columns(
        first_exam=pl.date(2020, 1, 1),
        last_exam=pl.date(2020, 6, 1),
        n_exams=pl.Series(1 + np.arange(n) % 4),
    )
    end = "2021-01-01"
    with pytest.raises(ParameterError, match=r"^exam_rate: the formula 'n_repeat ~ sex \+'"):
        exam_rate(patients, "n_repeat ~ sex +", end=end)
    with pytest.raises(DataError, match=r"names 'nosuchcol'.*'facility'"):
        exam_rate(patients, "n_repeat ~ nosuchcol", family="negbin", end=end)


# ------------------------------------------------------------------ 2. matplotlib backend
def test_cli_reproduce_keeps_the_hosts_matplotlib_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import matplotlib

    def refused(*args: Any, **kwargs: Any) -> Any:  # the study itself is not the point
        raise ValueError("refused for the test")

    monkeypatch.setattr(cli_reproduce, "reproduce", refused)
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # the host's (a notebook's inline backend, say)
    try:
        rc = main(["reproduce", "rehani2020", "--out", str(tmp_path / "out")])
        assert matplotlib.get_backend().lower() == "svg"  # before: Agg
    finally:
        matplotlib.use(before)
    assert rc == EXIT_USAGE
    assert "refused for the test" in capsys.readouterr().err


# ------------------------------------------------------------------ 3. SIGTERM
@pytest.fixture
def sigterm() -> Iterator[None]:
    """The test's SIGTERM action, put back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _deliver() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(20):  # Python runs the handler between bytecodes of the main thread
        time.sleep(0.005)


def test_an_ignored_sigterm_stays_ignored_while_recurct_writes(
    sigterm: None, tmp_path: Path
) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exited = None
    try:
        with output_folder(tmp_path / "out", kind="x") as out:
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            (out.path / "a.txt").write_text("a")
            _deliver()
            (out.path / "b.txt").write_text("b")
    except SystemExit as exc:  # before: SystemExit(143) although the app ignores SIGTERM
        exited = exc.code
    assert exited is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.txt",
        "b.txt",
        "recurct-manifest.json",
    ]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_an_applications_sigterm_handler_runs_while_recurct_writes(sigterm: None) -> None:
    calls: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        calls.append(signum)

    signal.signal(signal.SIGTERM, handler)
    exited = None
    try:
        with terminate_as_exit():
            assert signal.getsignal(signal.SIGTERM) is handler
            _deliver()
    except SystemExit as exc:
        exited = exc.code
    assert exited is None
    assert calls == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is handler


def test_the_default_sigterm_action_still_becomes_systemexit(sigterm: None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with terminate_as_exit():
        installed = signal.getsignal(signal.SIGTERM)
        assert callable(installed)
        with terminate_as_exit():  # nested (cli.main around an output writer)
            assert callable(signal.getsignal(signal.SIGTERM))
        assert signal.getsignal(signal.SIGTERM) is installed
        with pytest.raises(SystemExit) as exc:
            installed(signal.SIGTERM, None)  # what a SIGTERM would run
        assert exc.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# ------------------------------------------------------------------ 4. missing extra
def _workbook(path: Path) -> Path:
    """A file that passes recurct's workbook check (a zip holding ``xl/workbook.xml``)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return path


def test_validate_an_xlsx_without_openpyxl_is_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _workbook(tmp_path / "openrem.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # not installed
    rc = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert rc == EXIT_USAGE, err  # before: 70, "internal error ... a bug in recurct"
    assert err.splitlines() == [
        f"recurct: {path}: reading OpenREM .xlsx exports needs openpyxl: pip install openpyxl"
        " (or recurct[excel])"
    ]


def test_a_missing_extra_anywhere_in_a_command_is_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import recurct.cli._tables as tables
    from recurct.io.openrem import read_openrem_ct

    path = _workbook(tmp_path / "openrem.xlsx")

    def reads(args: Any) -> int:  # a handler that does not catch the ImportError itself
        read_openrem_ct(path)
        return 0

    monkeypatch.setattr(tables, "cli_validate", reads)
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    rc = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert rc == EXIT_USAGE, err
    assert "internal error" not in err and "needs openpyxl: pip install openpyxl" in err


def test_an_import_error_of_a_bug_is_still_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import recurct.cli._tables as tables

    def broken(args: Any) -> int:
        import recurct.no_such_module  # type: ignore[import-not-found]  # noqa: F401

        return 0

    monkeypatch.setattr(tables, "cli_validate", broken)
    assert main(["validate", str(tmp_path / "x.csv")]) == EXIT_INTERNAL
    assert "internal error: ModuleNotFoundError" in capsys.readouterr().err


# ------------------------------------------------------------------ 5. plot warning
def test_many_strata_warn_with_a_recurct_warning_at_the_callers_line() -> None:
    curve = pl.DataFrame(
        {
            "grp": [f"g{i:02d}" for i in range(33) for _ in range(2)],
            "time_years": [0.0, 1.0] * 33,
            "prob_reached": [0.0, 0.5] * 33,
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot.time_to_threshold_curve(curve, threshold=20)
    ours = [w for w in caught if "colour and line style pairs repeat" in str(w.message)]
    assert len(ours) == 1
    assert issubclass(ours[0].category, RecurctWarning)  # before: a plain UserWarning
    assert ours[0].filename == __file__
