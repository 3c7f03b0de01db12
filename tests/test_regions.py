"""The shipped region rules (recurct.regions): every European export term and DICOM body part
maps to the region a radiographer would give it; extra rules come first."""

from __future__ import annotations

import polars as pl
import pytest

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
]


@pytest.mark.parametrize(("text", "region"), TERMS)
def test_shipped_term(text, region) -> None:
    assert regions.region_of(text) == region


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
