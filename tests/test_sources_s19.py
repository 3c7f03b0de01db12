"""Provenance wording (audit s19): what the shipped texts say of their sources is what
docs/sources.md records, and the conventions the code follows are stated where it is used.

Wording only: no value or behaviour is changed by these fixes; the behavioural tests here pin
the conventions the texts now state.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path

import polars as pl
import pytest

import recurct
import recurct.dose as dose
from recurct.dose._tables import read_data_file

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
DATA = ROOT / "src" / "recurct" / "data"
KFACTOR_FILES = sorted(p.name for p in DATA.glob("kfactors_*.csv"))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _section(heading: str) -> str:
    """The text of the docs/sources.md section whose heading starts with ``heading``."""
    text = SOURCES.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return _flat(text[start : end if end > 0 else None])


def _entry(start: str) -> str:
    """The docs/sources.md list item that starts with ``start``, with its lines."""
    text = SOURCES.read_text(encoding="utf-8")
    for part in re.split(r"\n(?=#|- )", text):
        if part.startswith(f"- {start}"):
            return _flat(part)
    raise AssertionError(f"no entry {start!r} in docs/sources.md")


# ------------------------------------------------ the k-factor files' bibliographic details

#: The bibliographic details a header line can carry: a year, a volume:page, a first author
#: with or without initials ("Lee et al.", "Lee C et al."), a numbered report or publication,
#: a quoted title or column name.
_DETAILS = (
    re.compile(r"\b(?:19|20)\d\d\b"),
    re.compile(r"\b\d+:\d+\b"),
    re.compile(r"\b[A-Z][a-z]+(?: [A-Z]{1,3})? et al\."),
    re.compile(r"\b(?:Report|Publication)(?: No\.)? \d+"),
    re.compile(r'"([^"]+)"'),
)


def _header_lines(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.startswith("#")]


@pytest.mark.parametrize("name", KFACTOR_FILES)
def test_kfactor_headers_give_only_details_recorded_in_sources(name: str) -> None:
    """Every year, volume:page, author form, report number and quoted text of a k-factor
    file's header (its citation above all) is in docs/sources.md, section "Dose conversion":
    no title, year or initial that the record does not hold."""
    section = _section("Dose conversion")
    unrecorded = []
    for line in _header_lines(name):
        for pattern in _DETAILS:
            for m in pattern.finditer(line):
                detail = m.group(m.lastindex or 0)
                if detail not in section:
                    unrecorded.append((line.split(":", 1)[0], detail))
    assert not unrecorded, unrecorded


@pytest.mark.parametrize("name", KFACTOR_FILES)
def test_kfactor_rows_give_only_details_recorded_in_sources(name: str) -> None:
    section = _section("Dose conversion")
    _, rows = read_data_file(name)
    texts = rows["source"].drop_nulls().to_list() if "source" in rows.columns else []
    unrecorded = [
        m.group(m.lastindex or 0)
        for text in texts
        for pattern in _DETAILS
        for m in pattern.finditer(text)
        if m.group(m.lastindex or 0) not in section
    ]
    assert not unrecorded, unrecorded


def test_lee_2012_is_cited_as_recorded() -> None:
    section = _section("Dose conversion")
    cited = "Lee et al., Med Phys 2012 39:2129, Table XII"
    assert cited in section
    for name in ("kfactors_shrimpton_age.csv", "kfactors_nci_icrp103_120kv.csv"):
        citation = next(ln for ln in _header_lines(name) if ln.startswith("# citation:"))
        assert cited in citation, name


def test_dose_page_gives_no_unrecorded_aapm96_year() -> None:
    text = _flat((ROOT / "docs" / "dose.md").read_text(encoding="utf-8"))
    assert "AAPM Report No. 96 (2008)" not in text
    assert "Sources: AAPM Report 96 for `aapm96`" in text


# ------------------------------------------------ the ARPANSA 2018 quote (Lee et al. 2020)

#: The Results sentence of the abstract of Lee KL et al. 2020 (J Med Radiat Sci 67:5-15), as
#: docs/sources.md writes it (ASCII hyphens).
_RESULTS = (
    "head (52 mGy/880 mGycm), cervical spine (23 mGy/470 mGycm), soft-tissue neck "
    "(17 mGy/450 mGycm), chest (10 mGy/390 mGycm), abdomen-pelvis (13 mGy/600 mGycm), "
    "kidney-ureter-bladder (13 mGy/600 mGycm), chest-abdomen-pelvis (11 mGy/940 mGycm) and "
    "lumbar spine (26 mGy/670 mGycm)"
)


def _arpansa_2018_quote() -> str:
    section = _section("Diagnostic reference levels")
    start = section.index('abstract: "In 2018')
    return section[start : section.index('computed tomography dose index."', start)]


def test_arpansa_2018_quote_marks_what_it_inserts() -> None:
    """The quoted sentence, without the insertions in square brackets, is the abstract's
    Results sentence; the procedure descriptions are bracketed, and the page says so."""
    quote = _arpansa_2018_quote()
    assert re.sub(r" \[[^\]]*\]", "", quote).count(_RESULTS) == 1
    assert "head [non-contrast brain (trauma/headache)] (52 mGy/880 mGycm)" in quote
    # no description stitched in without brackets
    assert "(trauma/headache)) (52" not in quote
    section = _section("Diagnostic reference levels")
    assert "The text in square brackets is not in that sentence" in section
    assert "The revised NDRL procedure categories are: head (non-contrast brain" in section


def test_arpansa_2018_levels_are_those_of_the_quote() -> None:
    levels = dose.drl_table("arpansa_adult_2018")
    assert levels.height == 8
    for row in levels.iter_rows(named=True):
        pair = f"({row['ctdivol_mgy']:g} mGy/{row['dlp_mgycm']:g} mGycm)"
        assert pair in _RESULTS, row["exam_type"]


# ------------------------------------------------ the Okabe-Ito hex values


def test_okabe_ito_values_are_listed_with_their_source_entry() -> None:
    from recurct.plot import OKABE_ITO

    entry = _entry("Okabe M, Ito K.")
    assert len(OKABE_ITO) == 8
    for colour in OKABE_ITO:
        assert f"`{colour}`" in entry, colour
    assert "no further source for them is in the repository" in entry


# ------------------------------------------------ the DRL sets and the age-column labels


def test_dose_module_lists_every_drl_set() -> None:
    doc = _flat(dose.__doc__ or "")
    bullet = doc[doc.index(":func:`drl_tables`") :]
    bullet = bullet[: bullet.index("drl_<name>.csv")]
    for name in dose.drl_tables()["name"].to_list():
        assert f"``{name}``" in bullet, name


def test_dose_page_lists_every_drl_set() -> None:
    text = (ROOT / "docs" / "dose.md").read_text(encoding="utf-8")
    listing = text[text.index("## Diagnostic reference levels") :]
    listing = listing[: listing.index("\n\n", listing.index("\n* "))]
    names = dose.drl_tables()["name"].to_list()
    assert len(re.findall(r"\n\* `", listing)) == len(names)
    for name in names:
        assert f"* `{name}`" in listing, name


def test_shrimpton_age_columns_are_labelled_as_the_source_labels_them() -> None:
    listing = dose.tables().filter(pl.col("name") == "shrimpton_age").row(0, named=True)
    assert listing["ages"] == ["0", "1", "5", "10", "adult"]
    # the adult column still applies from 18 y: a label, not the rule, was changed
    assert listing["adult_from"] == 18.0
    assert dose.k_factors(["head", "head"], [17.99, 18.0], table="shrimpton_age").tolist() == [
        0.0032,
        0.0021,
    ]


@pytest.mark.parametrize("name", ["aapm96", "icrp103_adult", "shrimpton_age", "nci_icrp103_120kv"])
def test_tables_listing_labels_the_age_columns_as_table_does(name: str) -> None:
    listing = dose.tables().filter(pl.col("name") == name).row(0, named=True)["ages"]
    long = dose.table(name).sort("age", nulls_last=True)
    labels = long["age_label"].unique(maintain_order=True).to_list()
    assert [lab.removesuffix(" y") for lab in labels] == listing


# ------------------------------------------------ magnitude: the age convention


def _three_patients(ages: list[float]) -> pl.DataFrame:
    exams = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(len(ages))],
            "exam_date": [dt.date(2020, 1, 1)] * len(ages),
            "effective_dose_msv": [120.0] * len(ages),
            "age_years": ages,
        }
    )
    return recurct.cumulative_dose(exams)


def test_magnitude_docstring_states_the_age_convention() -> None:
    from recurct.stats import magnitude

    doc = _flat(inspect.getdoc(magnitude) or "")
    age_cut = doc[doc.index("age_cut : float") : doc.index("cluster : str")]
    assert "exact (decimal) age at the first exam" in age_cut
    assert "50.5 counts as > 50" in age_cut
    assert 'pl.col("age_first_exam").floor()' in age_cut
    assert "recurct.stats.standardise" in age_cut
    assert "synthetic cohorts' ages are continuous" in age_cut


def test_statistics_page_states_the_age_convention() -> None:
    text = _flat((ROOT / "docs" / "statistics.md").read_text(encoding="utf-8"))
    assert "compares the exact age at the first exam" in text
    assert "counts as > 50, though aged 50 in completed years" in text
    assert "floor the age first" in text


def test_magnitude_compares_the_exact_age_as_documented() -> None:
    """The stated convention holds (unchanged behaviour): 50.5 is > 50; floored, <= 50."""
    from recurct.stats import magnitude

    patients = _three_patients([50.0, 50.5, 50.99])
    assert magnitude(patients, 100, age_cut=50)["n_age_le_cut"].item() == 1
    floored = patients.with_columns(pl.col("age_first_exam").floor())
    assert magnitude(floored, 100, age_cut=50)["n_age_le_cut"].item() == 3


def test_calibration_compares_the_exact_age_too() -> None:
    from recurct.synthetic.calibration import patient_summary, statistics

    exams = pl.DataFrame(
        {
            "patient_id": ["a", "b"],
            "exam_date": [dt.date(2020, 1, 1)] * 2,
            "effective_dose_msv": [120.0, 120.0],
            "age_years": [50.0, 50.5],
            "facility": ["A", "A"],
        }
    )
    stats = statistics(patient_summary(exams))
    assert stats["site_share_age_le50_max"] == 0.5


def test_synthetic_ages_are_continuous() -> None:
    from recurct.synthetic import generate

    ages = generate("small", n_patients=200, seed=0)["age_years"]
    assert (ages != ages.floor()).mean() > 0.9  # type: ignore[operator]


def test_magnitude_module_does_not_credit_the_paper_with_recurct_s_additions() -> None:
    from recurct.stats import _magnitude

    doc = _flat(_magnitude.__doc__ or "")
    assert "the CED, time and exam count it took them" not in doc
    assert "recurct adds the median time and the exam count" in doc
    assert '"a single day"' in doc


# ------------------------------------------------ sodickson2009: "adults"


def test_sodickson_adult_age_is_labelled_our_reading() -> None:
    from recurct.studies import sodickson2009
    from recurct.synthetic import load_profile

    reading = ">= 18 years is our reading of 'adults'"
    selection = load_profile("sodickson2009").assumptions["selection"]
    assert "published design" not in selection and "(>= 18)" not in selection
    assert selection.startswith("published: adults") and reading in selection
    assert reading in sodickson2009.YOUR_DATA_NOTE
    assert "adults (>= 18)" not in sodickson2009.YOUR_DATA_NOTE
    # the record the age rule was read from says "adults" and no age
    assert "31,462 adults scanned in 2007" in _section("Sodickson et al. 2009")
    assert not re.search(r"\b18\b", _section("Sodickson et al. 2009"))
