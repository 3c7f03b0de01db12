"""Published tables and figures, audit s22: a threshold= that is not the table's, a magnitude
table by site taken for a site table, the τ² scale of the forest plot, percentages at an
exact tie, formatted=False Markdown and LaTeX, control characters and time zones in .xlsx,
sample extremes of a reproduction, and the minor ones (funnel legend, Markdown caption, the
function named in errors, negative zero). Rounding is checked against an exact Fraction
reference."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from recurct import plot, stats
from recurct.errors import DataError, ParameterError
from recurct.stats.publish import _num, _pct, export_table, publication_table, readable

D = dt.date


def _magnitude(thresholds: list[float], reached: list[int], n: int = 2000) -> pl.DataFrame:
    k = len(thresholds)
    return pl.DataFrame(
        {
            "threshold": thresholds,
            "n_patients": [n] * k,
            "n_exams": [2 * n] * k,
            "n_reached": reached,
            "share": [r / n for r in reached],
            "share_lo": [0.8 * r / n for r in reached],
            "share_hi": [1.2 * r / n for r in reached],
        }
    )


def _legend(fig) -> list[str]:
    legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


# ------------------------------------------------------------------ S1: threshold=


def test_threshold_not_the_only_one_of_the_table_is_refused(tmp_path: Path) -> None:
    two = _magnitude([50.0, 100.0], [80, 31])
    for call, fn in (
        (lambda: publication_table(two, threshold=100), "publication_table"),
        (lambda: readable(two, threshold=100), "readable"),
        (lambda: export_table(two, tmp_path / "t.csv", threshold=100), "export_table"),
    ):
        with pytest.raises(ParameterError, match=rf"^{fn}: threshold=100.*50, 100"):
            call()
    assert not (tmp_path / "t.csv").exists()
    one = _magnitude([100.0], [31])
    with pytest.raises(ParameterError, match=r"threshold=50.*holds 100 mSv"):
        publication_table(one, threshold=50)
    with pytest.raises(ParameterError, match=r"threshold=50.*holds 100 mSv"):
        readable(one, threshold=50)
    # the table's own threshold is fine
    assert "Patients with CED ≥ 100 mSv, n (%, 95% CI)" in publication_table(
        one, threshold=100
    ).columns


def test_several_thresholds_keep_their_column_and_numbers() -> None:
    two = _magnitude([50.0, 100.0], [80, 31])
    out = publication_table(two)
    assert out["Threshold (mSv)"].to_list() == ["50", "100"]
    cell = "Patients with CED ≥ the threshold, n (%, 95% CI)"
    assert out[cell].to_list() == ["80 (4.00%, 3.20–4.80)", "31 (1.55%, 1.24–1.86)"]
    assert readable(two)["Threshold (mSv)"].to_list() == [50.0, 100.0]


def test_threshold_other_than_a_site_tables_is_refused() -> None:
    patients = pl.DataFrame(
        {"patient_id": ["a", "b", "c", "d"], "site": ["A", "A", "B", "B"],
         "ced_msv": [10.0, 60.0, 70.0, 20.0]}
    )  # fmt: skip
    st = stats.site_table(patients, 50, site="site")
    with pytest.raises(ParameterError, match=r"threshold=100.*threshold=50"):
        publication_table(st, threshold=100)
    assert "Patients with CED ≥ 50 mSv, n (%, 95% CI)" in publication_table(st).columns


# ------------------------------------------------------------------ S2: magnitude by site


def test_magnitude_by_site_is_a_magnitude_table() -> None:
    patients = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(8)],
            "site": ["a", "a", "a", "b", "b", "b", "b", "a"],
            "n_exams": [1, 2, 3, 1, 4, 2, 1, 5],
            "ced_msv": [10.0, 120.0, 150.0, 5.0, 200.0, 30.0, 99.0, 101.0],
            "first_exam": [D(2020, 1, 1)] * 8,
            "reached_100": [False, True, True, False, True, False, False, True],
            "days_to_100": [None, 10, 20, None, 30, None, None, 40],
        }
    )
    m = stats.magnitude(patients, 100, by="site")
    assert stats.publish.table_kind(m) == "magnitude"
    out = publication_table(m)
    assert out.columns[:3] == ["Site", "Patients", "Exams"]
    assert "CED among patients ≥ 100 mSv, median (IQR), mSv" in out.columns
    assert "Days from first exam to 100 mSv, median (min)" in out.columns
    assert out["Site"].to_list() == m["site"].to_list()
    assert out["Exams"].to_list() == [f"{v:,}" for v in m["n_exams"]]


def test_site_table_keeps_columns_it_does_not_show() -> None:
    sites = pl.DataFrame(
        {
            "site": ["a", "b"],
            "n_patients": [100, 200],
            "n_reached": [1, 2],
            "share": [0.01, 0.01],
            "n_exams": [150, 300],
            "share_female": [0.5, 0.25],
            "mean_ced": [12.5, 13.25],
        }
    )
    assert stats.publish.table_kind(sites) == "sites"
    out = publication_table(sites, threshold=100)
    assert out["Exams"].to_list() == ["150", "300"]
    assert out["Female of patients ≥ 100 mSv (%)"].to_list() == ["50.00", "25.00"]
    assert out["mean_ced"].to_list() == ["12.50", "13.25"]


# ------------------------------------------------------------------ S3: forest τ² scale


@pytest.mark.parametrize(
    ("transform", "scale"),
    [("logit", "logit"), ("raw", "proportion"), ("arcsine", "double-arcsine")],
)
def test_forest_names_the_scale_of_its_transform(transform: str, scale: str) -> None:
    agg = pl.DataFrame(
        {"site": ["a", "b", "c", "d"], "n_patients": [1000, 800, 1200, 500],
         "n_reached": [5, 1, 30, 2]}
    )  # fmt: skip
    r = stats.meta_proportion(agg, transform=transform)
    title = plot.forest(r, threshold=100).axes[0].get_title()
    assert f"({scale} scale)" in title
    assert f"τ² = {r.pooled['tau2'][0]:.3g}" in title
    if transform != "logit":
        assert "logit" not in title


def test_forest_without_a_named_transform_names_no_scale() -> None:
    sites = pl.DataFrame(
        {"site": ["A", "B"], "share": [0.01, 0.02], "share_lo": [0.005, 0.01],
         "share_hi": [0.02, 0.03]}
    )  # fmt: skip
    pooled = {"share": 0.015, "share_lo": 0.01, "share_hi": 0.02, "i2": 0.5, "tau2": 0.1}
    title = plot.forest(sites, pooled=pooled).axes[0].get_title()
    assert "τ² = 0.1" in title and "scale" not in title


# ------------------------------------------------------------------ M1: exact ties


def _exact(k: int, n: int, digits: int) -> str:
    """100 k/n rounded to ``digits`` decimals, an exact tie to the even digit, by Fraction;
    with the "<0.01" / ">99.99" rule of the tables."""
    scaled = Fraction(100 * k, n) * 10**digits
    floor = scaled.numerator // scaled.denominator
    rem = scaled - floor
    r = floor + (rem > Fraction(1, 2) or (rem == Fraction(1, 2) and floor % 2 == 1))
    step = Decimal(1).scaleb(-digits)
    if k > 0 and r == 0:
        return f"<{step:.{digits}f}"
    if k < n and r == 100 * 10**digits:
        return f">{100 - step:.{digits}f}"
    return f"{Decimal(r).scaleb(-digits):,.{digits}f}"


@pytest.mark.parametrize("digits", [0, 1, 2, 3])
def test_percentages_equal_exact_rounding_of_k_over_n(digits: int) -> None:
    bad = [
        (k, n, _pct(k / n, digits), _exact(k, n, digits))
        for n in range(1, 301)
        for k in range(n + 1)
        if _pct(k / n, digits) != _exact(k, n, digits)
    ]
    assert not bad, bad[:10]


def test_percentages_at_two_digit_ties_of_large_cohorts() -> None:
    bad = [
        (k, n, _pct(k / n, 2), _exact(k, n, 2))
        for n in range(2000, 60001, 1000)
        for k in range(400)
        if _pct(k / n, 2) != _exact(k, n, 2)
    ]
    assert not bad, bad[:10]
    # the auditor's examples
    assert [_pct(3 / 4000, 2), _pct(63 / 4000, 2), _pct(1 / 32, 2)] == ["0.08", "1.58", "3.12"]
    assert [_pct(109 / 200, 0), _pct(23 / 40, 0)] == ["54", "58"]


def test_a_tie_in_a_table_and_a_legend() -> None:
    t = pl.DataFrame(
        {"n_patients": [4000], "n_reached": [3], "share": [3 / 4000], "share_lo": [0.00015],
         "share_hi": [0.00225]}
    )  # fmt: skip
    assert publication_table(t, threshold=100).row(0)[1] == "3 (0.08%, 0.02–0.22)"
    agg = pl.DataFrame({"site": ["a", "b"], "n_patients": [2000, 2000], "n_reached": [1, 2]})
    assert "pooled 0.08%" in _legend(plot.funnel(agg, threshold=100))


# ------------------------------------------------------------------ M2: formatted=False


def test_unformatted_markdown_and_latex_follow_the_rules_of_the_tables(tmp_path: Path) -> None:
    t = pl.DataFrame(
        {"sex": ["F", None], "threshold": [100.0] * 2, "n_patients": [1_000_000, 999_999],
         "n_reached": [1, 999_998], "share": [1e-6, 999_998 / 999_999],
         "share_lo": [1.8e-7, None], "share_hi": [5.7e-6, 0.9999999]}
    )  # fmt: skip
    md = export_table(t, tmp_path / "t.md", formatted=False).read_text(encoding="utf-8")
    assert "| F | 100.00 | 1,000,000 | 1 | <0.01 | <0.01 | <0.01 |" in md
    assert "| (missing) | 100.00 | 999,999 | 999,998 | >99.99 | – | >99.99 |" in md
    tex = export_table(t, tmp_path / "t.tex", formatted=False).read_text(encoding="utf-8")
    assert r"(missing) & 100.00 & 999,999 & 999,998 & \textgreater{}99.99 & --" in tex
    assert r"F & 100.00 & 1,000,000 & 1 & \textless{}0.01" in tex
    # .csv keeps full precision
    csv = pl.read_csv(export_table(t, tmp_path / "t.csv", formatted=False))
    assert csv["Patients ≥ 100 mSv (%)"][0] == pytest.approx(1e-4)


# ------------------------------------------------------------------ M3: control characters


def test_xlsx_control_character_is_a_data_error_naming_column_row_and_character(
    tmp_path: Path,
) -> None:
    pytest.importorskip("openpyxl")
    t = pl.DataFrame(
        {"site": ["ok", "Site\x1bA"], "n_patients": [10, 10], "n_reached": [1, 1],
         "share": [0.1, 0.1]}
    )  # fmt: skip
    for formatted in (True, False):
        path = tmp_path / "new" / f"{formatted}.xlsx"
        with pytest.raises(DataError) as info:
            export_table(t, path, formatted=formatted)
        msg = str(info.value)
        assert msg.startswith("export_table: column 'site', row 1")
        assert "'\\x1b'" in msg and "Site" not in msg.split("'site'")[1]
        assert not path.exists()
    assert not (tmp_path / "new").exists() or not list((tmp_path / "new").iterdir())
    with pytest.raises(DataError, match=r"name of column .*'\\x07'"):
        export_table(t.rename({"site": "si\x07te"}), tmp_path / "n.xlsx")
    with pytest.raises(ParameterError, match=r"caption .*'\\x1b'"):
        export_table(t.head(1), tmp_path / "c.xlsx", caption="T\x1b1")


# ------------------------------------------------------------------ M4: time zones in .xlsx


def test_xlsx_writes_a_zoned_datetime_as_iso_text_and_keeps_other_types(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    t = pl.DataFrame(
        {"period": [dt.datetime(2020, 1, 1)], "day": [D(2020, 1, 2)], "threshold": [100.0],
         "n_patients": [10], "n_reached": [1], "share": [0.1], "share_lo": [0.01],
         "share_hi": [0.4]}
    ).with_columns(pl.col("period").dt.replace_time_zone("Europe/Paris"))  # fmt: skip
    path = export_table(t, tmp_path / "t.xlsx", formatted=False)
    ws = openpyxl.load_workbook(path).active
    row = [c.value for c in ws[2]]
    assert row[0] == "2020-01-01T00:00:00+01:00"
    assert isinstance(row[1], dt.datetime) and row[1].date() == D(2020, 1, 2)
    assert row[3] == 10 and row[5] == pytest.approx(10.0)


# ------------------------------------------------------------------ M5: sample extremes


def test_reproduction_extreme_is_in_or_out_as_in_the_studys_table() -> None:
    from recurct.studies._format import ok_text

    rep = pl.DataFrame(
        {"figure": ["ced_max", "ced_min", "n"], "description": ["largest", "smallest", "n"],
         "unit": ["mSv", "mSv", "mSv"], "published": [1185.0, 1.0, 3.0],
         "reproduced": [2400.0, 1.0, 4.0], "within_tolerance": [False, True, False],
         "comparison": ["extreme", "extreme", "rounding"]}
    )  # fmt: skip
    got = publication_table(rep)["Within tolerance"].to_list()
    assert got == [ok_text(False, True), ok_text(True, True), "no"] == ["out", "in", "no"]


# ------------------------------------------------------------------ minor


def test_funnel_legend_shows_a_tiny_pooled_share_by_the_rule_of_the_tables() -> None:
    agg = pl.DataFrame(
        {"site": ["a", "b", "c"], "n_patients": [100_000, 200_000, 300_000],
         "n_reached": [1, 3, 2]}
    )  # fmt: skip
    texts = _legend(plot.funnel(agg, threshold=100))
    assert "pooled <0.01%" in texts and "pooled 0.00%" not in texts


def test_markdown_caption_is_escaped(tmp_path: Path) -> None:
    t = _magnitude([100.0], [31])
    md = export_table(t, tmp_path / "c.md", caption="Table 1 | *draft* _x_\nsecond line")
    head = md.read_text(encoding="utf-8").split("\n\n")[0]
    assert head == r"**Table 1 \| \*draft\* \_x\_<br>second line**"


def test_export_table_errors_name_export_table(tmp_path: Path) -> None:
    bad = _magnitude([100.0], [31]).with_columns(pl.lit("x").alias("share"))
    with pytest.raises(DataError, match=r"^export_table: column 'share'"):
        export_table(bad, tmp_path / "t.md")
    with pytest.raises(DataError, match=r"^export_table: column 'share'"):
        export_table(bad, tmp_path / "t.csv", formatted=False)


def test_negative_zero_is_printed_as_zero() -> None:
    assert [_pct(-0.0, 2), _pct(-1e-9, 2), _pct(-0.0019, 2)] == ["0.00", "0.00", "-0.19"]
    assert [_num(-0.0, 2), _num(-0.001, 2), _num(-0.5, 0)] == ["0.00", "0.00", "0"]
    t = pl.DataFrame(
        {"n_patients": [20000], "n_reached": [1], "share": [5e-5], "share_lo": [-0.0],
         "share_hi": [2.8e-4]}
    )  # fmt: skip
    assert publication_table(t, threshold=100).row(0)[1] == "1 (<0.01%, 0.00–0.03)"


# ------------------------------------------------------------------ review of s22


def test_a_site_table_with_weight_and_exams_is_a_site_table() -> None:
    """A hand-made site table with ``weight`` and ``n_exams``: before, taken for a magnitude
    table (``n_exams`` is a magnitude column) and its weight dropped silently."""
    sites = pl.DataFrame(
        {
            "site": ["a", "b"],
            "n_patients": [100, 300],
            "n_exams": [150, 420],
            "n_reached": [1, 6],
            "share": [0.01, 0.02],
            "share_lo": [0.0003, 0.007],
            "share_hi": [0.054, 0.043],
            "weight": [0.25, 0.75],
        }
    )
    assert stats.publish.table_kind(sites) == "sites"
    out = publication_table(sites, threshold=100)
    assert out["Weight (%)"].to_list() == ["25.00", "75.00"]
    assert out["Exams"].to_list() == ["150", "420"]
    assert out["Site"].to_list() == ["a", "b"]
    # without the weight, a magnitude table by site, as before
    assert stats.publish.table_kind(sites.drop("weight")) == "magnitude"


def test_the_exactness_claim_is_capped_where_a_share_runs_out_of_digits() -> None:
    """100·k/n is rounded exactly wherever n·10**digits <= 10**13; at 20 digits the decimals
    past a share's 17 significant digits are zeros, and the docs say so."""
    assert _pct(1 / 3, 20) == "33.33333333333333000000"
    assert _pct(1 / 3, 11) == _exact(1, 3, 11)
    n = 10**11  # 2 digits: any n up to 10**11; a tie and the numbers beside it
    for k in (5 * 10**6 - 1, 5 * 10**6, 5 * 10**6 + 1, 12_345_678_905, 12_345_678_906):
        assert _pct(k / n, 2) == _exact(k, n, 2), k
    text = " ".join(Path(__file__).parents[1].joinpath("docs", "publication.md").read_text(
        encoding="utf-8").split())  # fmt: skip
    assert "at most 10^13" in text and '"33.33333333333333000000"' in text


def test_a_float32_share_is_read_as_written() -> None:
    """A Float32 share column (or a float32 scalar) is read at its shortest decimal in its
    own precision, as recurct reads Float32 elsewhere: 0.575 -> 57.5% -> "58" (a tie to
    even), not "57" (its binary value 0.574999988...)."""
    import numpy as np

    assert _pct(np.float32(0.575), 0) == "58"
    assert _pct(np.float16(0.575), 1) == "57.5"
    assert _pct(np.float32(0.0125), 1) == "1.2"  # 1.25: a tie to even, not 1.2500000186...
    t = pl.DataFrame(
        {"n_patients": [40], "n_reached": [23], "share": [0.575], "share_lo": [0.4125],
         "share_hi": [0.7125]},
        schema_overrides={"share": pl.Float32, "share_lo": pl.Float32, "share_hi": pl.Float32},
    )  # fmt: skip
    assert publication_table(t, threshold=100, digits=0).row(0)[1] == "23 (58%, 41–71)"
    assert publication_table(t.to_pandas(), threshold=100, digits=0).iloc[0, 1] == (
        "23 (58%, 41–71)"
    )


def test_no_cell_shows_a_negative_zero() -> None:
    """CED, days, τ² and reproduction cells: before, "-0.0", "-0" (today's fix covered only
    shares and other numbers)."""
    mag = pl.DataFrame(
        {"n_patients": [10], "n_exams": [12], "n_reached": [1], "share": [0.1],
         "share_lo": [0.01], "share_hi": [0.4], "ced_median": [-0.01], "ced_q1": [-0.04],
         "ced_q3": [-0.0], "days_to_median": [-0.2], "days_to_min": [0.0]}
    )  # fmt: skip
    row = publication_table(mag, threshold=100).row(0, named=True)
    assert row["CED among patients ≥ 100 mSv, median (IQR), mSv"] == "0.0 (0.0–0.0)"
    assert row["Days from first exam to 100 mSv, median (min)"] == "0 (0)"
    rep = pl.DataFrame(
        {"figure": ["f1"], "unit": ["mSv"], "published": [0.1], "reproduced": [-0.04],
         "reproduced_lo": [-0.01], "reproduced_hi": [0.2], "within_tolerance": [True]}
    )  # fmt: skip
    assert publication_table(rep)["Reproduced (95% CI)"].to_list() == ["0.0 (0.0–0.2)"]
    pooled = pl.DataFrame(
        {"model": ["random"], "n_sites": [3], "effect": [0.0], "se": [0.1], "share": [0.01],
         "share_lo": [0.005], "share_hi": [0.02], "tau2": [-0.0], "i2": [0.0]}
    )  # fmt: skip
    assert publication_table(pooled, threshold=100)["τ²"].to_list() == ["0"]
    for cell in (*row.values(), *publication_table(rep).row(0)):
        assert not cell.startswith("-0"), cell
