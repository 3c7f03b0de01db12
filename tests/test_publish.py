"""recurct.stats.publish: readable labels, "n (%, 95% CI)" cells and the four export formats.

Cells are checked against numbers formatted here by hand from the input table, and the CIs
against statsmodels' Wilson interval, never against recurct's own formatting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from recurct.stats import (
    export_table,
    magnitude,
    meta_proportion,
    publication_table,
    readable,
    site_table,
    standardise,
)
from recurct.stats.publish import table_kind, to_latex, to_markdown


@pytest.fixture
def patients() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    ced = rng.lognormal(3.0, 1.2, n)
    return pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "n_exams": rng.integers(1, 6, n),
            "ced_msv": ced,
            "age_first_exam": rng.uniform(0, 99, n),
            "sex": rng.choice(["F", "M"], n),
            "facility": rng.choice(["North", "South", "East"], n),
        }
    )


def test_magnitude_cells_by_hand(patients: pl.DataFrame) -> None:
    table = magnitude(patients, 100, by="sex")
    paper = publication_table(table)
    col = "Patients with CED ≥ 100 mSv, n (%, 95% CI)"
    assert list(paper.columns[:3]) == ["Sex", "Patients", "Exams"]
    ced = patients["ced_msv"].to_numpy()
    for i, sex in enumerate(paper["Sex"].to_list()):
        mask = np.ones(len(ced), bool) if sex == "all" else (patients["sex"] == sex).to_numpy()
        k, n = int((ced[mask] >= 100).sum()), int(mask.sum())
        lo, hi = proportion_confint(k, n, method="wilson")
        assert paper[col][i] == f"{k:,} ({100 * k / n:.2f}%, {100 * lo:.2f}–{100 * hi:.2f})"
        assert paper["Patients"][i] == f"{n:,}"
        high = ced[mask][ced[mask] >= 100]
        q1, med, q3 = np.percentile(high, [25, 50, 75])
        got = paper["CED among patients ≥ 100 mSv, median (IQR), mSv"][i]
        assert got == f"{med:.1f} ({q1:.1f}–{q3:.1f})"


def test_readable_percent_and_labels(patients: pl.DataFrame) -> None:
    table = magnitude(patients, [50, 100])
    out = readable(table)
    assert "Threshold (mSv)" in out.columns
    assert "Patients ≥ the threshold (%)" in out.columns  # several thresholds: generic label
    np.testing.assert_allclose(
        out["Patients ≥ the threshold (%)"].to_numpy(), 100 * table["share"].to_numpy()
    )
    frac = readable(magnitude(patients, 100), percent=False)
    assert "Patients ≥ 100 mSv (fraction)" in frac.columns
    assert "Median CED of patients ≥ 100 mSv (mSv)" in frac.columns
    assert not any("_" in c for c in frac.columns)


def test_site_meta_and_standardised_tables(patients: pl.DataFrame) -> None:
    st = site_table(patients, 100, site="facility")
    assert table_kind(st) == "sites"
    paper = publication_table(st, threshold=100)
    row = st.sites.row(0, named=True)
    k, n = row["n_reached"], row["n_patients"]
    lo, hi = proportion_confint(k, n, method="wilson")
    assert paper.row(0)[0] == row["site"]
    assert paper.row(0)[2] == f"{k:,} ({100 * k / n:.2f}%, {100 * lo:.2f}–{100 * hi:.2f})"
    meta = meta_proportion(patients, threshold=100)
    assert "Weight (%)" in publication_table(meta).columns
    std = standardise(patients, threshold=100)
    assert table_kind(std) == "standardised"
    cells = publication_table(std, threshold=100)
    s = std.row(0, named=True)
    assert cells["Age-standardised share ≥ 100 mSv, % (95% CI)"][0] == (
        f"{100 * s['std_share']:.2f}%, {100 * s['std_share_lo']:.2f}–{100 * s['std_share_hi']:.2f}"
    )


def test_reproduction_table() -> None:
    rep = pl.DataFrame(
        {
            "figure": ["share_ced_ge100"],
            "description": ["share"],
            "unit": ["%"],
            "published": [1.33],
            "reproduced": [1.3412],
            "reproduced_lo": [1.2],
            "reproduced_hi": [1.5],
            "tolerance": [0.1],
            "within_tolerance": [True],
            "comparison": ["abs"],
            "note": [None],
        }
    )
    assert table_kind(rep) == "reproduction"
    paper = publication_table(rep)
    # the readable description, not the cryptic ID; the ID where there is no description
    assert paper.row(0) == ("share", "%", "1.33", "1.34 (1.20–1.50)", "yes")
    bare = publication_table(rep.with_columns(pl.lit(None, pl.Utf8).alias("description")))
    assert bare.row(0)[0] == "share_ced_ge100"


def test_latex_escapes_and_markdown() -> None:
    t = pl.DataFrame({"a_b": ["50% & more ≥ 1"], "c": ["x|y"]})
    tex = to_latex(t, caption="T_1")
    assert r"a\_b" in tex and r"50\% \& more $\geq$ 1" in tex and r"\caption{T\_1}" in tex
    assert "x\\|y" in to_markdown(t)


@pytest.mark.parametrize("ext", [".md", ".tex", ".csv", ".xlsx"])
def test_export_formats_round_trip(patients: pl.DataFrame, tmp_path: Path, ext: str) -> None:
    table = magnitude(patients, 100)
    path = export_table(table, tmp_path / f"sub/t{ext}", caption="Table 1")
    cell = publication_table(table).row(0)[2]
    if ext == ".csv":
        assert pl.read_csv(path).row(0)[2] == cell
    elif ext == ".xlsx":
        back = pd.read_excel(path, skiprows=1)
        assert back.iloc[0, 2] == cell
    else:
        text = path.read_text(encoding="utf-8")
        assert (cell if ext == ".md" else cell.replace("%", r"\%").replace("–", "--")) in text
    with pytest.raises(ValueError, match=r"\.md, \.tex, \.csv or \.xlsx"):
        export_table(table, tmp_path / "t.docx")


def test_pandas_input(patients: pl.DataFrame) -> None:
    table = magnitude(patients.to_pandas(), 100)
    assert isinstance(table, pd.DataFrame)
    cells = publication_table(table)
    nums = readable(table)
    # pandas in, pandas out (the project's rule), with the same content as from polars
    assert isinstance(cells, pd.DataFrame) and isinstance(nums, pd.DataFrame)
    from_pl = publication_table(pl.from_pandas(table))
    assert cells.columns.tolist() == from_pl.columns
    assert cells.values.tolist() == [list(r) for r in from_pl.rows()]
    assert nums.columns.tolist() == readable(pl.from_pandas(table)).columns
    # and the writers take it as it is
    assert to_markdown(cells) == to_markdown(from_pl)
    assert to_latex(cells) == to_latex(from_pl)
