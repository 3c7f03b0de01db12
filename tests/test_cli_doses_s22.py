"""The doses to compute from the DLP are decided once per table and command (review s22):
``recurct validate``, ``analyze`` and ``reproduce --exams`` asked
:func:`recurct.dose.effective.dose_missing` twice of the same table (the command line, then
:func:`~recurct.dose.effective.fill_dose_from_dlp` again). Each command, and a study's
``reproduce(exams)``, now decides once, in :func:`recurct.cli._input.dose_noting` (the
command line) or ``fill_dose_from_dlp`` (a study), and computes the same doses as
``effective_dose(overwrite=False)`` in memory.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cli_helpers import run_cli

import recurct
import recurct.dose.effective as effective
from recurct.dose import SUPPLIED_METHOD, DoseConversionWarning

TODAY = "2024-01-01"
# doses given, missing (empty, placeholders) and their DLPs and regions; a child (age 4)
# makes the adult table's warning, a note on the command line
CSV = (
    "patient_id,exam_date,effective_dose_msv,dlp_mgycm,body_region,age_years\n"
    "a,2020-01-01,10.0,500,chest,40\n"
    "a,2020-02-01,,500,chest,40\n"
    "b,2020-01-05,n/a,1000,head,4\n"
    "b,2020-03-05,2.5,400,chest,4\n"
    "c,2020-01-09,NULL,200,abdomen,60\n"
)


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    p = tmp_path / "exams.csv"
    p.write_text(text)
    return p


def _expected(p: Path) -> list[float]:
    """The doses ``effective_dose(overwrite=False)`` gives the table read in memory."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseConversionWarning)
        out = recurct.effective_dose(recurct.read_exams(p, today=TODAY).exams, overwrite=False)
    doses = out["effective_dose_msv"].to_list()
    assert None not in doses and len(doses) == 5
    return doses


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Each call of ``dose_missing`` (its answer), each table ``fill_dose_from_dlp`` returns
    and each table ``cumulative_dose`` analyses."""
    seen: dict[str, list[Any]] = {"missing": [], "filled": [], "analysed": []}
    dose_missing, fill, cumulative = (
        effective.dose_missing,
        effective.fill_dose_from_dlp,
        recurct.cumulative_dose,
    )

    def counted(exams: pl.DataFrame) -> bool:
        answer = dose_missing(exams)
        seen["missing"].append(answer)
        return answer

    def filled(exams: pl.DataFrame, **kw: Any) -> tuple[pl.DataFrame, list[str]]:
        out = fill(exams, **kw)
        seen["filled"].append(out[0])
        return out

    def analysed(exams: Any, **kw: Any) -> Any:
        seen["analysed"].append(exams)
        return cumulative(exams, **kw)

    monkeypatch.setattr(effective, "dose_missing", counted)
    monkeypatch.setattr(effective, "fill_dose_from_dlp", filled)
    monkeypatch.setattr(recurct, "cumulative_dose", analysed)
    return seen


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_cli([*args, "--today", TODAY])
    return rc, out.getvalue(), err.getvalue()


def _doses(df: pl.DataFrame) -> list[float]:
    return df["effective_dose_msv"].to_list()


def test_validate_decides_once(tmp_path: Path, spies: dict[str, list[Any]]) -> None:
    p = _csv(tmp_path)
    rc, out, err = _cli(["validate", str(p)])
    assert rc == 0 and "clean" in out, out + err
    assert "note: " in out and "--table shrimpton_age" in out  # the child: a note, as before
    assert spies["missing"] == [True]  # once (twice before)
    assert [_doses(t) for t in spies["filled"]] == [pytest.approx(_expected(p))]


def test_analyze_decides_once(tmp_path: Path, spies: dict[str, list[Any]]) -> None:
    p = _csv(tmp_path)
    rc, out, err = _cli(["analyze", str(p), "--threshold", "10"])
    assert rc == 0, err
    assert "5 exams, 3 patients; effective dose:" in out
    assert spies["missing"] == [True]  # once (twice before)
    assert [_doses(t) for t in spies["analysed"]] == [pytest.approx(_expected(p))]


def test_reproduce_exams_decides_once(tmp_path: Path, spies: dict[str, list[Any]]) -> None:
    p = _csv(tmp_path)
    out_dir = tmp_path / "out"
    rc, _, err = _cli(["reproduce", "sodickson2009", "--exams", str(p), "--out", str(out_dir)])
    assert rc == 0, err
    # the file's table once (twice before); then the study's reproduce(exams) asks of the
    # table the command line hands it, every dose given
    assert spies["missing"] == [True, False]
    assert [_doses(t) for t in spies["analysed"]] == [pytest.approx(_expected(p))]


def test_a_studys_reproduce_decides_once(tmp_path: Path, spies: dict[str, list[Any]]) -> None:
    from recurct.studies import sodickson2009

    p = _csv(tmp_path)
    # the cells as written, in memory: text doses, "" and "n/a" among them
    header, *rows = p.read_text().splitlines()
    written = pl.DataFrame(
        [r.split(",") for r in rows], schema=header.split(","), orient="row"
    ).with_columns(pl.col("dlp_mgycm").cast(pl.Float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseConversionWarning)
        rep = sodickson2009.reproduce(written)
    assert spies["missing"] == [True]
    assert [_doses(t) for t in spies["analysed"]] == [pytest.approx(_expected(p))]
    assert sum(rep.dose_method.values()) == 5


def test_a_file_whose_every_dose_is_given_is_left_as_it_is(
    tmp_path: Path, spies: dict[str, list[Any]]
) -> None:
    given = CSV.replace(",,500", ",7.0,500").replace("n/a", "2.1").replace("NULL", "1.5")
    p = _csv(tmp_path, given)
    for command in (["validate", str(p)], ["analyze", str(p), "--threshold", "10"]):
        spies["missing"].clear()
        spies["filled"].clear()
        rc, out, err = _cli(command)
        assert rc == 0, err
        assert spies["missing"] == [False]
        assert all("dose_method" not in t.columns for t in spies["filled"])  # as it is
    assert f"effective dose: {SUPPLIED_METHOD} (5 exams)" in out


def test_no_region_to_compute_from(tmp_path: Path, spies: dict[str, list[Any]], capsys) -> None:
    text = (
        "patient_id,exam_date,effective_dose_msv,dlp_mgycm\n"
        "a,2020-01-01,10.0,500\na,2020-02-01,,500\n"
    )
    p = _csv(tmp_path, text)
    assert run_cli(["analyze", str(p), "--today", TODAY]) == 2
    err = capsys.readouterr().err
    assert "no effective_dose_msv (or empty values) and no body_region to compute it from" in err
    assert spies["missing"] == [True]
    # validate reports what analyze refuses (it said "clean" before), deciding once
    spies["missing"].clear()
    assert run_cli(["validate", str(p), "--today", TODAY]) == 1
    out = capsys.readouterr().out
    assert f"{p}: problems found" in out
    assert "no effective_dose_msv (or empty values) and no body_region to compute it from" in out
    assert spies["missing"] == [True]
    # every dose given: clean, as before
    q = tmp_path / "given.csv"
    q.write_text(text.replace(",,500", ",2.0,500"))
    spies["missing"].clear()
    assert run_cli(["validate", str(q), "--today", TODAY]) == 0
    assert spies["missing"] == [False]
