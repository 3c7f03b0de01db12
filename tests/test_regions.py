"""The shipped region rules (recurct.regions): every European export term and DICOM body part
maps to the region a radiographer would give it; extra rules come first."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct import dose, regions
from recurct.schema import BODY_REGIONS

# (text as an export writes it, canonical region); one line per shipped term
TERMS = [
    # DICOM Body Part Examined defined terms (PS3.16 Annex L)
    ("CSPINE", "spine"), ("TSPINE", "spine"), ("LSPINE", "spine"), ("SSPINE", "spine"),
    ("HEADNECK", "head_neck"), ("WHOLEBODY", "other"), ("CHESTABDPELVIS", "chest_abdomen_pelvis"),
    ("CHESTABDOMEN", None), ("ABDOMENPELVIS", "abdomen_pelvis"), ("HEAD", "head"),
    ("BRAIN", "head"), ("SKULL", "head"), ("IAC", "head"), ("TMJ", "head"), ("JAW", "head"),
    ("NECK", "neck"), ("CHEST", "chest"), ("HEART", "chest"), ("CORONARYARTERY", "chest"),
    ("ABDOMEN", "abdomen"), ("LIVER", "abdomen"), ("KIDNEY", "abdomen"), ("PELVIS", "pelvis"),
    ("EXTREMITY", "extremity"), ("KNEE", "extremity"), ("HIP", None), ("SHOULDER", None),
    ("NECKCHESTABDPELV", "chest_abdomen_pelvis"),
    # German
    ("Schädel nativ", "head"), ("Schaedel", "head"), ("SCHÄDEL", "head"), ("Kopf", "head"),
    ("CCT nativ", "head"), ("NNH", "head"), ("Felsenbein", "head"), ("Gehirn", "head"),
    ("Kopf/Hals", "head_neck"), ("Hals", "neck"), ("Halsweichteile", "neck"),
    ("Kehlkopf", "neck"), ("Thorax", "chest"), ("Lunge", "chest"), ("Herz", "chest"),
    ("Abdomen", "abdomen"), ("Oberbauch", "abdomen"), ("Leber", "abdomen"), ("Niere", "abdomen"),
    ("Becken", "pelvis"), ("Abdomen/Becken", "abdomen_pelvis"), ("Bauch-Becken", "abdomen_pelvis"),
    ("Thorax/Abdomen/Becken", "chest_abdomen_pelvis"), ("Thorax und Abdomen", None),
    ("HWS", "spine"), ("LWS", "spine"), ("Halswirbelsäule", "spine"), ("Wirbelsaeule", "spine"),
    ("Knie links", "extremity"), ("Sprunggelenk", "extremity"), ("Ganzkörper", "other"),
    # French
    ("Crâne", "head"), ("crane sans injection", "head"), ("Cerveau", "head"), ("Cou", "neck"),
    ("Tête et cou", "head_neck"), ("Thorax", "chest"), ("Poumons", "chest"), ("Cœur", "chest"),
    ("Abdomen", "abdomen"), ("Foie", "abdomen"), ("Bassin", "pelvis"),
    ("Abdomino-pelvien", "abdomen_pelvis"), ("Thoraco-abdomino-pelvien", "chest_abdomen_pelvis"),
    ("TAP", "chest_abdomen_pelvis"), ("Rachis cervical", "spine"), ("Genou", "extremity"),
    ("Corps entier", "other"),
    # Italian
    ("TC cranio", "head"), ("Encefalo", "head"), ("Collo", "neck"), ("Torace", "chest"),
    ("Polmoni", "chest"), ("Addome", "abdomen"), ("Addome e pelvi", "abdomen_pelvis"),
    ("Pelvi", "pelvis"), ("Bacino", "pelvis"), ("Torace addome pelvi", "chest_abdomen_pelvis"),
    ("Colonna lombare", "spine"), ("Ginocchio", "extremity"),
    # Dutch
    ("Hoofd", "head"), ("Hersenen", "head"), ("Hoofd-hals", "head_neck"), ("Longen", "chest"),
    ("Buik", "abdomen"), ("Bekken", "pelvis"), ("Buik/bekken", "abdomen_pelvis"),
    ("Wervelkolom", "spine"), ("Enkel", "extremity"),
    # Spanish
    ("Cráneo", "head"), ("Cabeza", "head"), ("Cuello", "neck"), ("Tórax", "chest"),
    ("Columna lumbar", "spine"), ("Rodilla", "extremity"),
    # English forms of the issue
    ("ABDOMEN/PELVIS", "abdomen_pelvis"), ("Thorax^TAP (Adult)", "chest_abdomen_pelvis"),
    # texts once mapped to a wrong region: a known word beside one the rules read otherwise
    ("TDM thoraco-abdominal", None), ("CTA thoraco-abdominal aorta", None),
    ("PET/CT skull base to mid thigh", None), ("Skull base to thigh", None),
    ("Vertex to toes", None), ("Head to toe", None), ("Chest to pelvis", None),
    ("CT femoral head", None), ("CT humeral head", None), ("Head of femur", None),
    ("femoral head and neck", None), ("CT radial head", "extremity"),
    ("Fibular head", "extremity"), ("Pancreatic head", "abdomen"),
    ("Head of the pancreas", "abdomen"), ("CH/ABD/PEL", "chest_abdomen_pelvis"),
    ("CH/ABD", None), ("ABD-PELV", "abdomen_pelvis"), ("DT thorax buk", None),
    ("DT buk", None), ("DT buk och bäcken", None),
    # ... and their kin that stay as they were
    ("CT skull base", "head"), ("CT head due to fall", "head"), ("CT spine", "spine"),
    ("Thoraco-abdomino-pelvien", "chest_abdomen_pelvis"),
    ("Neck Chest Abdomen Pelvis", "chest_abdomen_pelvis"),
    # terms once unmapped
    ("TDM thoracique", "chest"), ("Angioscanner thoracique", "chest"), ("TC toracico", "chest"),
    ("Brustkorb", "chest"), ("CT Calcium score", "chest"), ("CT Calcium Scoring", "chest"),
    ("CT Koronarangiographie", "chest"), ("Coronarografia", "chest"),
    ("CTSPINE", "spine"), ("TLSPINE", "spine"), ("LSSPINE", "spine"), ("THIGH", "extremity"),
    ("CALF", "extremity"), ("PATELLA", "extremity"), ("THUMB", "extremity"),
    ("NECKCHEST", None), ("NECKCHESTABDOMEN", None), ("CT Lumbosacral", "spine"),
    ("CT Orbita", "head"), ("CT nek", "neck"),
    # a spine noun with its level is the spine's, not also a chest term
    ("Rachis thoracique", "spine"), ("Rachis dorsal", "spine"),
    ("Rachis thoraco-lombaire", "spine"), ("Colonne vertébrale thoracique", "spine"),
    ("Colonna toracica", "spine"), ("Rachide toracico", "spine"), ("Columna torácica", "spine"),
    ("CT thoraco-lumbar spine", "spine"), ("Cervico-thoracic spine", "spine"),
]


def _one_word_terms() -> list[tuple[str, str]]:
    """(word, region) of every word of the rules that are one list of words (the region
    words: extremity, head, neck, chest, abdomen, pelvis)."""
    rules = regions.region_rules()
    out = []
    for pattern, region in zip(rules["pattern"], rules["region"]):
        m = re.fullmatch(r" \(([a-z| ]+)\) (\| .*)?", pattern)
        if m and region is not None:
            out += [(word, region) for word in m.group(1).split("|")]
    return out


ONE_WORD = _one_word_terms()


@pytest.mark.parametrize(("text", "region"), TERMS)
def test_shipped_term(text, region) -> None:
    assert regions.region_of(text) == region


def test_one_word_terms_are_found() -> None:
    regions_seen = {region for _, region in ONE_WORD}
    assert {"extremity", "head", "neck", "chest", "abdomen", "pelvis"} <= regions_seen
    assert len(ONE_WORD) > 200


@pytest.mark.parametrize(("word", "region"), ONE_WORD, ids=[w for w, _ in ONE_WORD])
def test_every_one_word_term(word, region) -> None:
    # each word of a one-region rule maps to that region on its own
    assert regions.region_of(word) == region
    assert regions.region_of(f"CT {word.upper()} nativ") == region


_PARTS = ["head", "neck", "chest", "abdomen", "pelvis", "spine", "extremity"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PARTS), min_size=1, max_size=6))
def test_text_and_events_combine_alike(parts) -> None:
    # region_of of the words joined and exam_region of the events make the same composite
    combined = regions.combine_regions(parts)
    assert regions.region_of(" / ".join(parts)) == combined
    if combined is not None:
        assert dose.exam_region(parts, [100.0] * len(parts)) == combined


def test_ligatures_and_mojibake() -> None:
    # œ and ß are not split by NFKD: they are spelled out; mis-decoded UTF-8 maps to nothing
    assert regions.region_of("Coeur") == "chest"
    assert regions.region_of("Fuß") == "extremity"
    assert regions.region_of("testÃ¦Ã¸Ã¥") is None


def test_dose_module_uses_the_same_function() -> None:
    assert dose.normalise_region is regions.normalise_region
    assert dose.region_rules is regions.region_rules


def test_rules_table_is_canonical() -> None:
    rules = regions.region_rules()
    assert set(rules["region"].drop_nulls()) <= set(BODY_REGIONS)
    assert rules["order"].to_list() == list(range(1, rules.height + 1))


def test_normalise_text() -> None:
    assert regions.normalise_text("Schädel/Hals (nativ)") == " schadel hals nativ "
    assert regions.normalise_text("Fuß") == " fuss "


def test_bad_user_rules_are_named() -> None:
    with pytest.raises(ValueError, match="not a regular expression"):
        regions.region_of("x", region_rules=[("(", "head")])
    with pytest.raises(ValueError, match="region must be one of"):
        regions.region_of("x", region_rules={" x ": "brain"})
    with pytest.raises(ValueError, match="needs columns"):
        regions.region_of("x", region_rules=pl.DataFrame({"p": ["x"]}))
    with pytest.raises(TypeError, match="mapping"):
        regions.region_of("x", region_rules="x")
