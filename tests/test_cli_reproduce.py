"""`recurct reproduce` (handler in recurct.studies); `recurct analyze` is in test_cli_tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest

from recurct.cli import main

CSV = """patient_id,exam_date,effective_dose_msv,age_years,sex,facility
1,2017-01-02,60,40,F,A
1,2017-01-02,50,40,F,A
2,2017-02-01,10,70,M,A
3,2017-01-02,30,60,M,B
3,2017-01-12,40,60,M,B
3,2018-02-07,50,61,M,B
4,2017-01-07,5,30,F,B
5,2017-01-04,200,55,F,C
"""


@pytest.fixture
def exam_csv(tmp_path):
    path = tmp_path / "exams.csv"
    path.write_text(CSV)
    return path


def test_reproduce_unknown_study_exits_2(capsys) -> None:
    assert main(["reproduce", "nope2000"]) == 2
    err = capsys.readouterr().err
    assert "unknown study 'nope2000'" in err
    for name in ("rehani2020", "eurosafe2021", "sodickson2009"):
        assert name in err


@pytest.mark.slow
def test_reproduce_your_data_writes_table_and_figures(exam_csv, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["reproduce", "sodickson2009", "--exams", str(exam_csv), "--out", str(out)])
    assert code == 0  # your data: nothing judged against the paper
    cap = capsys.readouterr()
    assert "generating" not in cap.err and "cumulative dose" in cap.err
    assert "share_ced_gt100" in cap.out and "your data" in cap.out
    names = {p.name for p in out.iterdir()}
    assert {"table.csv", "table.md", "ced_distribution.png", "ced_distribution.svg"} <= names
    table = pl.read_csv(out / "table.csv")
    assert table.filter(pl.col("figure") == "share_ced_gt100")["reproduced"][0] == pytest.approx(
        60.0
    )
