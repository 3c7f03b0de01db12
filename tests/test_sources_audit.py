"""The audit of cited figures: every citation has a source entry, stated numbers match the
shipped tables, and "a single day" is one rule in the study table and its calibration target.

The checks read the repository's own text (src/, docs/, README.md) and data tables; they
run in well under a second but for the small cohorts of the last tests.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
import warnings
from pathlib import Path

import polars as pl
import pytest

from recurct import dose

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"

# ----------------------------------------------------------------- citations have entries

_NAME = r"[A-Z][\w-]*[a-z][\w-]*"
#: The forms of a citation: "X et al. 2020", "X et al. (2016", "X & Y 2019", "X, Y & Z 2009",
#: "X and Y (1997", "X's (1978)", "X (2007", and a single name in brackets: "(Garwood 1936)".
_FORMS = (
    re.compile(rf"\b(?P<a>{_NAME}) et al\.,? \(?(?P<y>(?:19|20)\d\d)\b"),
    re.compile(rf"\b(?P<a>{_NAME})(?:, {_NAME})* (?:&|and) {_NAME},? \(?(?P<y>(?:19|20)\d\d)\b"),
    re.compile(rf"\b(?P<a>{_NAME})(?:'s)? \((?P<y>(?:19|20)\d\d)\b"),
    re.compile(rf"\((?P<a>{_NAME}) (?P<y>(?:19|20)\d\d)[,)]"),
)
#: Words in those forms that are not authors (a date, a version, a unit of text).
_NOT_AUTHORS = {
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep",
    "Oct", "Nov", "Dec", "Run", "Refit", "See", "From", "Since", "Before", "After",
    "In", "On", "Of", "At", "The", "Python", "Windows", "Excel", "Version",
}  # fmt: skip


def _texts() -> list[tuple[Path, str]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "src" / "recurct").rglob("*.py"))
    files += sorted((ROOT / "src" / "recurct").rglob("*.toml"))
    # whitespace normalised: a citation may be broken over two lines
    return [(f, re.sub(r"\s+", " ", f.read_text(encoding="utf-8"))) for f in files]


def _entries() -> list[str]:
    """docs/sources.md cut into its entries: headings and list items with their lines."""
    text = SOURCES.read_text(encoding="utf-8")
    parts = re.split(r"\n(?=#|- )", text)
    return [re.sub(r"\s+", " ", p) for p in parts]


def citations() -> dict[tuple[str, str], str]:
    """(first author, year) -> the first file that cites it in one of the forms above."""
    out: dict[tuple[str, str], str] = {}
    for path, text in _texts():
        for form in _FORMS:
            for m in form.finditer(text):
                if m.group("a") in _NOT_AUTHORS:
                    continue
                out.setdefault((m.group("a"), m.group("y")), str(path.relative_to(ROOT)))
    return out


def test_the_citation_scan_finds_the_known_forms() -> None:
    found = citations()
    # one of each form, so that a scan that finds nothing cannot pass the next test
    for key in [
        ("Rehani", "2020"),  # X et al. 2020
        ("Stopsack", "2019"),  # X & Y 2019
        ("IntHout", "2014"),  # X, Y & Z 2014
        ("Fay", "1997"),  # X & Y (1997
        ("Veroniki", "2016"),  # X et al. (2016, over a line break
        ("Miller", "1978"),  # X's (1978)
        ("Garwood", "1936"),  # (X 1936)
    ]:
        assert key in found, key


def test_every_author_year_citation_has_an_entry_in_sources() -> None:
    """Whatever the project cites lives, with its source, in docs/sources.md: an entry (a
    heading or a list item) that names the first author and the year."""
    entries = _entries()
    missing = [
        f"{a} {y} ({where})"
        for (a, y), where in sorted(citations().items())
        if not any(a in e and y in e for e in entries)
    ]
    assert not missing, missing


def test_one_form_for_stopsack_and_cerhan() -> None:
    for path, text in _texts():
        assert "Stopsack et al" not in text, path


@pytest.mark.parametrize(
    ("obj", "unsourced"),
    [
        ("recurct.stats.bands:dose_share", "67.2"),
        ("recurct.stats.bands:single_exam_share", "0.002"),
        ("recurct.stats.survival", "4.5-year"),
    ],
)
def test_no_published_figure_without_a_source(obj: str, unsourced: str) -> None:
    import importlib

    mod, _, name = obj.partition(":")
    target = importlib.import_module(mod)
    doc = inspect.getdoc(getattr(target, name) if name else target) or ""
    assert unsourced not in doc
    assert "docs/sources.md" in doc


def test_no_unsourced_figure_in_the_docs() -> None:
    for page in ("statistics.md", "epidemiology.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert "4.5-year" not in text and "67.2" not in text and "0.002%" not in text, page


# ------------------------------------------------------------- the plausibility bound


def _all_factors() -> pl.DataFrame:
    names = dose.tables()["name"].to_list()
    return pl.concat([dose.table(n).select("region", "age_label", "k") for n in names])


def test_plausibility_bound_rationale_uses_the_largest_shipped_factor() -> None:
    """schema.MAX_EXAM_DOSE_MSV's rationale: largest DRL x largest factor, and the margin."""
    k = _all_factors()
    k_max = float(k["k"].max())  # type: ignore[arg-type]
    drl = max(float(dose.drl_table(n)["dlp_mgycm"].max()) for n in dose.drl_tables()["name"])  # type: ignore[arg-type]
    assert (k_max, drl) == (0.0508, 1200.0)
    text = re.sub(r"\s+", " ", (ROOT / "src" / "recurct" / "schema.py").read_text("utf-8"))
    rationale = text[text.index("Rationale (figures in") :]
    product = round(drl * k_max)
    assert f"the largest conversion factor there, {k_max:g} mSv/(mGy·cm)" in rationale
    assert f"gives {product} mSv" in rationale
    assert f"a factor of about {int(1000 / product)} " in rationale
    assert "0.049" not in rationale


# ------------------------------------------------------ children's factors against adults'


def _age_table(name: str) -> dict[str, dict[float, float]]:
    t = dose.table(name)
    out: dict[str, dict[float, float]] = {}
    for r in t.iter_rows(named=True):
        out.setdefault(r["region"], {})[float(r["age"])] = float(r["k"])
    return out


@pytest.mark.parametrize("name", ["shrimpton_age", "nci_icrp103_120kv"])
def test_what_docs_say_about_childrens_factors_holds(name: str) -> None:
    """docs/dose.md: higher for the head at every age and every region up to 5 y; equal or
    lower for the trunk of older children (10 y and over)."""
    t = _age_table(name)
    adult_age = max(t["head"])
    for region, by_age in t.items():
        adult = by_age[adult_age]
        for age, k in by_age.items():
            if age == adult_age:
                continue
            if region == "head" or age <= 5:
                assert k > adult, (region, age)
            else:
                assert k <= adult, (region, age)
    assert any(t[r][a] < t[r][adult_age] for r in t if r != "head" for a in t[r] if a >= 10)


def test_adult_table_warning_does_not_claim_an_underestimate() -> None:
    kids = pl.DataFrame(
        {"dlp_mgycm": [300.0, 300.0], "body_region": ["chest", "head"], "age_years": [12.0, 3.0]}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dose.effective_dose(kids)
    msg = " ".join(
        str(w.message) for w in caught if issubclass(w.category, dose.DoseConversionWarning)
    )
    assert "adult-only table 'aapm96' was applied to 2 row(s)" in msg
    assert "underestimate" not in msg
    assert "differ" in msg and "table='shrimpton_age'" in msg


def test_dose_page_attributes_no_dose_method_to_rehani() -> None:
    text = re.sub(r"\s+", " ", (ROOT / "docs" / "dose.md").read_text("utf-8"))
    assert "most registry studies" not in text
    assert "(Rehani et al. 2020, most" not in text
    assert "dose method is not known" in text


# ------------------------------------------------------ the synthetic DLP medians as shipped


def test_dlp_median_text_states_how_each_shipped_value_was_set() -> None:
    from recurct.synthetic import describe
    from recurct.synthetic.model import PARAMETERS

    med = PARAMETERS["dlp_median"].default
    sigma = PARAMETERS["dlp_sigma"].default
    drl = {"head": 790.0, "chest": 290.0, "abdomen_pelvis": 530.0, "chest_abdomen_pelvis": 660.0}
    # head: DRL x exp(-0.674 sigma), rounded; the trunk: DRL x 0.736, rounded, which is
    # not DRL x exp(-0.674 x 0.45) rounded (that gives 214, 391, 487)
    assert med["head"] == round(drl["head"] * math.exp(-0.674 * sigma["head"]))
    for r in ("chest", "abdomen_pelvis", "chest_abdomen_pelvis"):
        assert med[r] == round(drl[r] * 0.736)
        assert med[r] != round(drl[r] * math.exp(-0.674 * sigma[r]))
    why = dict(zip(describe()["parameter"], describe()["why"]))["dlp_median"]
    assert "213, 390, 486 = 290, 530, 660 x 0.736" in why
    assert "median = DRL x exp(-0.674 sigma)" not in why
    for name in ("rehani2020", "eurosafe2021", "sodickson2009"):
        toml = (ROOT / "src/recurct/synthetic/profiles" / f"{name}.toml").read_text("utf-8")
        assert "median = DRL x exp(-0.674 sigma)" not in toml, name
        assert "213, 390, 486 = 290, 530, 660 x 0.736" in toml, name


# ----------------------------------------------------------- "a single day": one rule


def _two_sites(days_apart: int) -> pl.DataFrame:
    """Site A: one patient reaching 100 mSv in two exams ``days_apart`` days apart; site B:
    one patient reaching it in two exams on one day."""
    d0 = dt.date(2019, 3, 1)
    return pl.DataFrame(
        {
            "patient_id": ["a", "a", "b", "b"],
            "exam_date": [d0, d0 + dt.timedelta(days=days_apart), d0, d0],
            "effective_dose_msv": [60.0, 60.0, 60.0, 60.0],
            "age_years": [60.0, 60.0, 40.0, 40.0],
            "facility": ["A", "A", "B", "B"],
        }
    )


@pytest.mark.parametrize("days_apart", [0, 1, 2])
def test_single_day_is_one_rule_for_the_study_and_its_target(days_apart: int) -> None:
    """The study row counts calendar days spanned (published: 1, "a single day"); the
    calibration target counts days elapsed: both accept the same cohorts."""
    from recurct import cumulative_dose
    from recurct.studies import rehani2020
    from recurct.synthetic.calibration import CALIBRATIONS, patient_summary, statistics
    from recurct.synthetic.calibration._fit import _within

    exams = _two_sites(days_apart)
    patients = cumulative_dose(exams, thresholds=(100,))
    measured, _ = rehani2020.measure(exams, patients)
    spanned = measured["days_to_100_min_site_max"].value
    assert spanned == days_apart + 1
    published = rehani2020.PUBLISHED["days_to_100_min_site_max"].value
    study_says_single_day = spanned <= published

    elapsed = statistics(patient_summary(exams))["site_days_to_min_max"]
    assert elapsed == days_apart
    target = CALIBRATIONS["rehani2020"]["targets"]["site_days_to_min_max"]
    assert _within(target, elapsed) is study_says_single_day is (days_apart == 0)


def test_stored_target_and_verdict_follow_the_rule() -> None:
    from recurct.synthetic.calibration import CALIBRATIONS
    from recurct.synthetic.calibration._fit import _within
    from recurct.synthetic.model import load_profile

    cal = load_profile("rehani2020").calibration
    stat = "site_days_to_min_max"
    assert cal["targets"][stat] == CALIBRATIONS["rehani2020"]["targets"][stat]
    assert cal["targets"][stat]["max"] == 0.0
    assert cal["within_tolerance"][stat] is _within(cal["targets"][stat], cal["achieved"][stat])
