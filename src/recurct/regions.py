"""Free-text body regions (protocol names, study descriptions, DICOM body parts) -> canonical.

:func:`region_of` maps one text such as ``"Thorax^TAP (Adult)"``, ``"ABDOMEN/PELVIS"``,
``"Schädel nativ"``, ``"TC torace"`` or the DICOM Body Part Examined ``"CSPINE"`` to one of
:data:`recurct.schema.BODY_REGIONS` by an ordered rule table (:func:`region_rules`): every
region term in the text is found, whatever the word order, and the terms are combined by the
composite rules of :func:`recurct.dose.exam_region` (``"Pelvis/Abdomen/Chest"`` ->
``chest_abdomen_pelvis``). Nothing found, or terms that make no one region (``"Neck Chest"``),
give None: the function never guesses. The same rules are used by :func:`recurct.read_exams`
and :func:`recurct.validate` for the ``body_region`` column and by the RDSR and OpenREM
readers; :func:`normalise_region` maps a column of texts (a Series back, pandas for pandas).
``recurct.dose`` re-exports both.

The shipped rules cover common English, German, French, Italian, Dutch and Spanish terms of
CT exports and the DICOM Body Part Examined defined terms (PS3.16 Annex L) of the regions CT
dose work needs (e.g. ``HEADNECK``, ``CHESTABDPELVIS``, ``CTSPINE``, ``THIGH``,
``WHOLEBODY``; organ terms such as ``BLADDER`` or ``AORTA`` are not mapped). Each rule has
examples in ``tests/test_regions.py``, which also tests every one-word term of the
one-region rules on its own. A word the rules do not know is ignored, so the known words of
a text decide its region: texts whose known words would mislead are given rules of their own
(an anatomical range such as "skull base to mid thigh", a bone's head or neck such as
"femoral head" or "femoral neck", "pilonidal sinus", "brachiocephalic trunk", Scandinavian
"buk": None; "radial head", "sinus tarsi": extremity; "pancreatic head", "celiac trunk":
abdomen; "pulmonary trunk", "coronary sinus": chest; "carotid sinus": neck). Your
own rules (``region_rules=``) are tried first, so they extend or override the shipped ones:
the terms they find are theirs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recurct._compat import renamed
from recurct._frames import to_polars
from recurct.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["normalise_region", "normalise_text", "region_of", "region_rules"]

# word lists shared by several rules (normalised text: lower case, accents removed); "ch"
# counts as chest only in a list with the abdomen ("CH/ABD/PEL"), never alone
_CH = r"(chest|thorax|thoracic|thx|torace|torax|thoraco|thoracique|toracico|brustkorb|ch)"
_AB = r"(abdomen|abdominal|abdo|abd|abdomino|addome|addominale|bauch|buik|abdominopelvien)"
_PE = (
    r"(pelvis|pelvic|pel|pelv|becken|bassin|pelvien|pelvienne|pelvi|bacino|bekken|pelvico"
    r"|pelvica)"
)
_AND = r"((and|und|et|e|en|y|u) )?"
# the ends of an anatomical range ("skull base to mid thigh"): see the range rule
_START = (
    r"(vertex|skull base|skull|head|eyes|orbits|chin|neck|chest|thorax|lung apices|apices"
    r"|diaphragm|abdomen|pelvis|symphysis|hips?)"
)
_END = (
    r"(thighs?|knees?|toes?|feet|foot|pelvis|symphysis|groin|ischial tuberosities|abdomen"
    r"|diaphragm|chest|thorax|neck|hips?)"
)
# the level words after a Romance spine noun ("rachis thoraco-lombaire", "colonna toracica")
_LEVEL = (
    r"(cervicale?|cervico|cervicales|dorsale?|dorso|thoracique|thoraco|toracica|toracico"
    r"|toracale|lombaire|lombare|lumbar|lombar|lumbale|lombo|sacree?|sacrale?|sacral)"
)

# Ordered: each rule in turn takes every term it finds (re.search, repeatedly) in the
# normalised text, and the text of a term taken is blanked, so a later rule does not read it
# again ("thoracic spine" is the spine rule's, not a chest term); the regions of all terms
# found are then combined (combine_regions), so the result does not depend on word order.
# Normalised text (normalise_text): lower case, accents removed (Schädel -> schadel,
# crâne -> crane, ß -> ss, œ -> oe), every run of characters other than letters and digits
# replaced by one space, one space at each end (so " cap " matches a whole word).
# A rule whose region is None is a recognised term or combination that has no canonical
# region: a text holding one maps to None.
_RULES: tuple[tuple[str, str | None, str], ...] = (
    (
        r" (entire|whole|total) body | wholebody | ganzkorper | ganzkoerper | corps entier "
        r"| corpo intero | cuerpo entero | total body | hele lichaam ",
        "other",
        "whole-body scans (WHOLEBODY, Ganzkörper, corps entier): no canonical region, no k factor",
    ),
    (
        rf" (from )?(the )?{_START} to (the )?(mid |upper |lower |proximal |distal )?{_END} "
        r"| vertex ",
        None,
        "an anatomical range ('skull base to mid thigh', 'vertex to toes', 'chest to pelvis'): "
        "the rules cannot tell which regions lie between; 'vertex' names a range's start",
    ),
    (
        r" (femoral|femur|humeral|humerus) (heads?|necks?) "
        r"| (heads?|necks?) of (the )?(femur|femurs|humerus) "
        r"| (tete|col)s? (du |de l |de la )?(femur|humerus) | (tete|col) (femorale?|humerale?) "
        r"| (testa|collo) (del |dell )?(femore|omero) | (testa|collo) (femorale|omerale) "
        r"| (cabeza|cuello) (del |de )?(femur|humero) | (cabeza|cuello) (femoral|humeral) ",
        None,
        "femoral and humeral head and neck (femoral neck fracture, tête fémorale, collo del "
        "femore, cuello femoral): the hip and the shoulder, unmapped like them (not the head, "
        "not the neck)",
    ),
    (
        r" (radial|radius|ulnar|ulna|fibular|fibula|metacarpal|metatarsal) heads? "
        r"| heads? of (the )?(radius|ulna|fibula) "
        r"| tete (du |de l )?(radius|cubitus|perone|fibula) | tete radiale "
        r"| cabeza (del )?(radio|cubito|perone) | cabeza radial "
        r"| sinus tarsi ",
        "extremity",
        "the head of a limb bone (radial head, tête radiale, cabeza del radio: the elbow; "
        "fibular head: the knee); the sinus tarsi (the foot): a limb, not the head",
    ),
    (
        r" pilonidal (sinus|sinuses|cyst|cysts|abscess) | sinus pilonidalis | sinus tracts? "
        r"| (brachiocephalic|thyrocervical|costocervical|bicarotid|sympathetic|lumbosacral"
        r"|vagal) (arterial |artery |nerve )?trunks? ",
        None,
        "a sinus that is no paranasal or cranial sinus (pilonidal sinus: the skin over the "
        "sacrum; a sinus tract: a fistula), and a vessel or nerve named trunk whose scan the "
        "name does not place in one region (brachiocephalic trunk: the upper mediastinum and "
        "the root of the neck): no region (not the head, not the trunk)",
    ),
    (
        r" pulmonary (arterial |artery )?trunk | coronary sinus | sinus venosus "
        r"| (sinus|sinuses) of valsalva | valsalva sinus(es)? ",
        "chest",
        "the pulmonary trunk, the coronary sinus, the sinus venosus and the sinuses of "
        "Valsalva (heart and great vessels): the chest, not the trunk, not the head",
    ),
    (
        r" carotid (sinus|bulb) ",
        "neck",
        "the carotid sinus: the neck, not the head",
    ),
    (
        r" buk | backen ",
        None,
        "Scandinavian abdomen and pelvis (buk, bäcken): Scandinavian terms are not supported, "
        "and a text naming them maps to None, not to the other region it names",
    ),
    (
        r" (pancreatic|pancreas) head | head of (the )?pancreas "
        r"| tete (du )?pancreas | cabeza (del )?pancreas "
        r"| (celiac|coeliac|celiacomesenteric|coeliacomesenteric) (arterial |artery )?trunk ",
        "abdomen",
        "the head of the pancreas (tête du pancréas, cabeza del páncreas) and the celiac "
        "trunk (its CT angiography scans the upper abdomen): the abdomen, not the head, "
        "not the trunk",
    ),
    (
        r" (cap|tap|trunk|c a p|t a p|stamm|rumpf|chestabdpelvis|chestabdomenpelvis"
        r"|neckchestabdpelv|thoracoabdominopelvien) "
        rf"| {_CH} {_AND}{_AB} {_AND}{_PE} ",
        "chest_abdomen_pelvis",
        "chest-abdomen-pelvis (trunk): CAP, TAP, CHESTABDPELVIS, 'Chest, Abdomen and Pelvis', "
        "Thorax/Abdomen/Becken, thoraco-abdomino-pelvien, torace addome pelvi",
    ),
    (
        r" chestabdomen | thoracoabdominal | neckchest | neckchestabdomen "
        rf"| ch {_AND}{_AB} ",
        None,
        "chest and abdomen without pelvis in one word (CHESTABDOMEN, thoracoabdominal), "
        "NECKCHEST, NECKCHESTABDOMEN, CH/ABD: no canonical region (as separate words, chest "
        "and abdomen, or neck and chest, combine to none either)",
    ),
    (
        r" head (and )?neck | headneck | kopf (und )?hals | tete (et )?cou | testa (e )?collo "
        r"| hoofd (en )?hals | cabeza (y )?cuello | h n ",
        "head_neck",
        "head and neck (HEADNECK, H&N, Kopf-Hals, tête et cou, testa-collo, hoofd-hals, "
        "cabeza y cuello)",
    ),
    (
        rf" {_AB} {_AND}{_PE} | abdomenpelvis | kub | (colonography|colonografia|colonographie"
        r"|kolonographie|koloskopie|colografia) ",
        "abdomen_pelvis",
        "abdomen-pelvis (ABDOMENPELVIS, Abdomen/Becken, abdomino-pelvien, addome pelvi, "
        "buik-bekken); kidneys-ureters-bladder; CT colonography",
    ),
    (
        r" ((cervico|thoraco|dorso|lumbo) )?(c|t|l|s|cervical|thoracic|lumbar|lumbosacral"
        r"|sacral|thoracolumbar|cervicothoracic|whole) spine "
        r"| spine (cervical|thoracic|lumbar|lumbosacral|sacral) | spine | spinal "
        r"| (ct|tl|ls|[ctls]) ?spine | lumbar | lumbosacral | vertebra(e|l|le|li)? | sacrum "
        r"| coccyx | \w*wirbels(a|ae)ule | hws | bws | lws "
        r"| (rachis|rachide|colonna|columna|colonne|wervelkolom)( vertebrale?)?"
        rf"( {_LEVEL})* ",
        "spine",
        "any spine level (CSPINE, CTSPINE, TSPINE, TLSPINE, LSPINE, LSSPINE, SSPINE, C-spine, "
        "'spine, thoracic', lumbar, lumbosacral, HWS/BWS/LWS, Wirbelsäule, rachis, colonna, "
        "columna, wervelkolom, with their level: 'rachis thoracique' is the spine's)",
    ),
    (
        r" (extremity|extremities|limb|limbs|arm|arms|forearm|leg|legs|knee|knees|ankle|ankles"
        r"|foot|feet|hand|hands|wrist|wrists|elbow|elbows|finger|fingers|toe|toes|femur|tibia"
        r"|fibula|humerus|calcaneus|radius|ulna|lowerlimb|upperlimb|thigh|thighs|calf|calves"
        r"|patella|patellae|thumb|thumbs|heel|heels"
        r"|extremitat|extremitaten|bein|beine|knie|sprunggelenk|fuss|handgelenk|ellenbogen"
        r"|unterschenkel|oberschenkel|unterarm|oberarm"
        r"|genou|cheville|pied|poignet|coude|jambe|bras|membre"
        r"|ginocchio|caviglia|piede|polso|gomito|gamba|braccio|arto"
        r"|enkel|voet|pols|elleboog|onderbeen|bovenbeen"
        r"|rodilla|tobillo|muneca|codo|pierna|brazo|extremidad) ",
        "extremity",
        "limbs and their joints (THIGH, CALF, PATELLA, THUMB), in English, German, French, "
        "Italian, Dutch and Spanish (not hip or shoulder, which are left unmapped)",
    ),
    (
        r" (head|brain|skull|cranial|cranium|sinus|sinuses|orbit|orbits|facial|face|mastoid"
        r"|mastoids|petrous|iam|iac|tmj|jaw|dental|mandible|maxilla|maxillofacial"
        r"|orbita|orbitae|schadel|schaedel|kopf|hirn|gehirn|cct|nnh|nasennebenhohlen|felsenbein"
        r"|gesichtsschadel|crane|tete|cerveau|encephale|cerebral|cerebrale|orbites|rochers"
        r"|massif facial|circle of willis"
        r"|cranio|encefalo|cervello|seni paranasali|rocche"
        r"|hoofd|hersenen|schedel|craneo|cabeza|cerebro|senos paranasales) ",
        "head",
        "head, brain, sinuses, facial bones, orbits, temporal bones, circle of Willis "
        "(Schädel, Kopf, CCT, NNH, Orbita, "
        "crâne, tête, cerveau, cérébral(e), cranio, encefalo, hoofd, hersenen, cráneo, cabeza)",
    ),
    (
        r" (neck|larynx|laryngeal|thyroid|hals|halsweichteile|kehlkopf|schilddruse|cou"
        r"|collo|cuello|nek) ",
        "neck",
        "neck, larynx, thyroid (Hals, Kehlkopf, cou, collo, cuello, nek)",
    ),
    (
        r" (chest|thorax|thoracic|lung|lungs|pulmonary|ctpa|hrct|cardiac|heart|coronary"
        r"|mediastinum|mediastinal"
        r"|coronaryartery|lunge|lungen|herz|torace|torax|poumon|poumons|coeur|polmone|polmoni"
        r"|cuore|longen|hart|pulmon|corazon|brustkorb|thx|thoraco|thoracique|toracico) "
        r"| (calcium scor(e|es|ing)|agatston|(coronar|koronar)\w*) ",
        "chest",
        "chest, thorax, lungs, mediastinum, CTPA, HRCT, cardiac, coronary, calcium score "
        "(Lunge, Herz, "
        "Koronarangiographie, torace, toracico, thoracique, poumon, polmoni, longen, tórax)",
    ),
    (
        r" (abdomen|abdominal|abdo|abd|liver|pancreas|pancreatic|kidney|kidneys|renal|adrenal"
        r"|adrenals"
        r"|bauch|oberbauch|unterbauch|leber|niere|nieren|pankreas|foie|rein|reins|addome"
        r"|fegato|rene|reni|buik|nier|nieren|higado|rinon|rinones) ",
        "abdomen",
        "abdomen and its organs (Bauch, Oberbauch, Leber, Niere, foie, addome, fegato, buik, "
        "hígado)",
    ),
    (
        rf" {_PE} ",
        "pelvis",
        "pelvis (Becken, bassin, pelvi, bacino, bekken)",
    ),
)

_NON_ALNUM = re.compile(r"[\W_]+")
_LIGATURES = str.maketrans({"ß": "ss", "œ": "oe", "æ": "ae"})


def normalise_text(text: str) -> str:
    """The text the region rules see: lower case, accents removed, ``ß``, ``œ``, ``æ`` ->
    ``ss``, ``oe``, ``ae``, every
    run of characters other than letters and digits replaced by one space, one space at each
    end.

    >>> normalise_text("Schädel/Hals (nativ)")
    ' schadel hals nativ '
    """
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " " + _NON_ALNUM.sub(" ", plain).strip() + " "


def region_rules() -> pl.DataFrame:
    """The ordered rule table used by :func:`normalise_region`.

    Returns
    -------
    polars.DataFrame
        ``order`` (1 = tried first: each rule takes every term it finds before the next one
        reads the rest of the text), ``pattern`` (a Python regular expression searched for in
        the text of :func:`normalise_text`: lower case, accents removed, runs of
        non-alphanumeric characters replaced by one space, one space added at each end),
        ``region`` (canonical; null means "recognised, but no canonical region": a text with
        such a term maps to None) and ``note``. The regions of the terms found are combined
        as :func:`region_of` describes.
    """
    return pl.DataFrame(
        {
            "order": list(range(1, len(_RULES) + 1)),
            "pattern": [r[0] for r in _RULES],
            "region": [r[1] for r in _RULES],
            "note": [r[2] for r in _RULES],
        },
        schema={"order": pl.Int64, "pattern": pl.Utf8, "region": pl.Utf8, "note": pl.Utf8},
    )


def compile_rules(rules: Any) -> list[tuple[re.Pattern[str], str | None]]:
    """The user's ``rules`` (first) and the shipped ones, compiled; ``ValueError`` naming a
    rule whose region is not canonical or whose pattern is not a regular expression."""
    from recurct.schema import BODY_REGIONS

    extra: list[tuple[str, str | None]] = []
    if rules is not None:
        if isinstance(rules, Mapping):
            extra = list(rules.items())
        elif isinstance(rules, pl.DataFrame) or type(rules).__module__.startswith(
            ("pandas", "pyarrow")
        ):
            frame, _ = to_polars(rules)
            missing = {"pattern", "region"} - set(frame.columns)
            if missing:
                raise ParameterError(
                    f"region rules: a rule table needs columns 'pattern' and 'region', "
                    f"got {frame.columns}"
                )
            extra = list(zip(frame["pattern"].to_list(), frame["region"].to_list()))
        elif isinstance(rules, str | bytes):
            raise ParameterError(
                "region rules: give a mapping {pattern: region}, a sequence of "
                "(pattern, region) pairs or a table with columns pattern and region"
            )
        else:
            try:
                extra = [(p, r) for p, r in rules]
            except (TypeError, ValueError):
                raise ParameterError(
                    "region rules: give a mapping {pattern: region}, a sequence of "
                    f"(pattern, region) pairs or a table with columns pattern and region, "
                    f"got {rules!r}"
                ) from None
    compiled = []
    for pattern, region in [*extra, *((p, r) for p, r, _ in _RULES)]:
        if region is not None and region not in BODY_REGIONS:
            raise ParameterError(
                f"rule {pattern!r} -> {region!r}: region must be one of {BODY_REGIONS} or None"
            )
        if not isinstance(pattern, str):
            raise ParameterError(f"rule {pattern!r} -> {region!r}: the pattern must be a string")
        try:
            compiled.append((re.compile(pattern), region))
        except re.error as exc:
            raise ParameterError(f"rule {pattern!r}: not a regular expression ({exc})") from None
    return compiled


# Components of the composite canonical regions (the rules of combine_regions, used by
# recurct.dose.exam_region too).
COMPONENTS: dict[str, frozenset[str]] = {
    "head_neck": frozenset({"head", "neck"}),
    "abdomen_pelvis": frozenset({"abdomen", "pelvis"}),
    "chest_abdomen_pelvis": frozenset({"chest", "abdomen", "pelvis"}),
}
_COMBINED: dict[frozenset[str], str] = {v: k for k, v in COMPONENTS.items()}
# the parts of DICOM's NECKCHESTABDPELV (a staging scan from the neck down): combined to
# chest_abdomen_pelvis, as the text rule of that term maps it
_NECK_CAP = frozenset({"neck", "chest", "abdomen", "pelvis"})


def combine_regions(regions: Any) -> str | None:
    """The one region that canonical ``regions`` (``"other"`` and None aside) make together,
    or None if they make none.

    The composite rules of :func:`recurct.dose.exam_region` (its rules 3 and 4): one region,
    or regions that are parts of one region (``abdomen`` + ``abdomen_pelvis``), give that
    region; regions whose parts make a composite exactly give the composite (chest + abdomen
    + pelvis -> ``chest_abdomen_pelvis``, head + neck -> ``head_neck``, abdomen + pelvis ->
    ``abdomen_pelvis``); neck + chest + abdomen + pelvis give ``chest_abdomen_pelvis`` too,
    as the DICOM term NECKCHESTABDPELV does (a staging scan from the neck down). Anything
    else (chest + neck, head + chest, chest + abdomen) is None.

    >>> combine_regions(["pelvis", "abdomen", "chest"])
    'chest_abdomen_pelvis'
    >>> combine_regions(["neck", "chest", "abdomen", "pelvis"])
    'chest_abdomen_pelvis'
    >>> combine_regions(["neck", "chest"]) is None
    True
    """
    parts: set[str] = set()
    for r in regions:
        if r is not None and r != "other":
            parts |= COMPONENTS.get(str(r), {str(r)})
    if len(parts) == 1:
        return next(iter(parts))
    if parts == _NECK_CAP:
        return "chest_abdomen_pelvis"
    return _COMBINED.get(frozenset(parts))


def _terms(norm: str, compiled: list[tuple[re.Pattern[str], str | None]]) -> list[str | None]:
    """The region of every term the rules find in the normalised text, rule by rule; a
    term's text is blanked once taken, so no later rule reads it again."""
    found: list[str | None] = []
    for pattern, region in compiled:
        pos = 0
        while pos <= len(norm):
            m = pattern.search(norm, pos)
            if m is None:
                break
            if not m.group().strip():  # a match of spaces only (or empty) takes no term
                pos = m.end() + 1 if m.end() == m.start() else m.end()
                continue
            found.append(region)
            norm = norm[: m.start()] + " " * (m.end() - m.start()) + norm[m.end() :]
            pos = m.start()
    return found


def match_region(text: Any, compiled: list[tuple[re.Pattern[str], str | None]]) -> str | None:
    """The region of ``text`` by the rules ``compiled``: every term found (:func:`_terms`),
    combined by :func:`combine_regions`. None if no term is
    found, if a term whose rule has no region (None) is found, or if the terms make no one
    region; ``"other"`` (whole body)
    only when every term found is ``"other"`` (a whole-body scan is not narrowed by a region
    named beside it)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    found = _terms(normalise_text(str(text)), compiled)
    if not found or None in found:
        return None
    if "other" in found:
        return "other" if set(found) == {"other"} else None
    return combine_regions(found)


@renamed(rules="region_rules")
def region_of(text: str | None, *, region_rules: Any = None) -> str | None:
    """The canonical body region of one free-text protocol name or DICOM target region.

    The text is normalised (:func:`normalise_text`: lower case, accents removed, every run of
    characters other than letters and digits becomes one space, one space at each end), then
    the rules of :func:`region_rules` are tried in order, each taking every term it finds
    (a term taken is not read again by a later rule, so "thoracic spine" is one spine term,
    not also a chest term). The regions of all the terms are then combined, whatever their
    order in the text, by the composite rules of :func:`recurct.dose.exam_region`: one region,
    or parts of one region (``abdomen`` + ``abdomen_pelvis``), give it; parts that make a
    composite exactly give the composite (chest + abdomen + pelvis in any order ->
    ``"chest_abdomen_pelvis"``, head + neck -> ``"head_neck"``, abdomen + pelvis ->
    ``"abdomen_pelvis"``; neck + chest + abdomen + pelvis -> ``"chest_abdomen_pelvis"``, as
    DICOM's NECKCHESTABDPELV). Nothing found, a term whose rule has no region, or terms that
    make no one region ("Neck Chest", "Head Chest") give None.

    Decisions worth knowing: "Entire body"/"whole body"/``WHOLEBODY`` -> ``"other"`` (a
    recognised region outside the canonical list, which no conversion-factor table covers),
    but None when a specific region is named beside it (a whole-body scan is not narrowed by
    it); CAP/TAP/trunk, "chest, abdomen and pelvis" and "CH/ABD/PEL" ->
    ``"chest_abdomen_pelvis"``; chest with abdomen but without pelvis ("thoraco-abdominal")
    -> None; "Thorax", "thoracique", "toracico" -> ``"chest"`` (but "thoracic spine",
    "rachis thoracique" -> ``"spine"``); sinus, brain, facial bones -> ``"head"``; KUB and CT
    colonography -> ``"abdomen_pelvis"``; cardiac, coronary, calcium score -> ``"chest"``;
    hip and shoulder -> None (they fit neither pelvis nor extremity cleanly), and so do the
    femoral and humeral head and neck ("head" or "neck" after a bone or organ is no head or
    neck: "femoral neck fracture" -> None, "radial head" -> ``"extremity"``, "pancreatic
    head" -> ``"abdomen"``); "trunk" alone is the trunk (``"chest_abdomen_pelvis"``), but a
    vessel named trunk is not: "pulmonary trunk" -> ``"chest"``, "celiac trunk" ->
    ``"abdomen"``, "brachiocephalic trunk" -> None (upper chest and neck); a sinus that is
    not a paranasal or cranial one is no head: "pilonidal sinus" -> None, "coronary sinus"
    -> ``"chest"``, "carotid sinus" -> ``"neck"``; an anatomical range ("skull base to
    mid thigh", "vertex to toes") -> None; localisers, bolus tracking and test names
    ("Topogram", "Monitoring") -> None. German, French, Italian, Dutch and Spanish terms map
    like their English ones (``Schädel`` and ``Schaedel`` -> head, ``Abdomen/Becken`` ->
    abdomen_pelvis, ``crâne`` and ``tête`` -> head, ``bassin`` -> pelvis, ``torace`` ->
    chest, ``hoofd`` -> head). A word the rules do not know is ignored (the known words
    decide).

    Parameters
    ----------
    text : str or None
        The text (for a column of them use :func:`normalise_region`).
    region_rules : mapping, sequence of (pattern, region) pairs, or a table with columns
        ``pattern`` and ``region``, optional
        Extra rules, tried before the built-in ones (so they can override them: a term your
        rule finds is not read by a shipped one). Patterns are searched in the normalised text
        described above; a text in which a rule with region None finds a term maps to None.

    Returns
    -------
    str or None
        A canonical body region, ``"other"``, or None when no rule matches.

    Examples
    --------
    >>> region_of("Thorax^TAP (Adult)")
    'chest_abdomen_pelvis'
    >>> region_of("C-spine"), region_of("Topogram")
    ('spine', None)
    >>> region_of("Schädel nativ"), region_of("Abdomen/Becken")
    ('head', 'abdomen_pelvis')
    >>> region_of("Hüfte", region_rules=[(r" hufte ", "pelvis")])
    'pelvis'
    """
    if text is not None and not isinstance(text, str):
        raise ParameterError(
            f"region_of takes one string, got {type(text).__name__}; "
            "map a column with normalise_region(values)"
        )
    return match_region(text, compile_rules(region_rules))


@renamed(rules="region_rules")
def normalise_region(values: Any, *, region_rules: Any = None) -> pl.Series | pd.Series:
    """Map a column of free-text protocol names and DICOM target regions to canonical body
    regions, by the rules of :func:`region_of` (each distinct value mapped once).

    Parameters
    ----------
    values : polars Series, pandas Series, or a sequence of str / None
        The texts. One string is refused (use :func:`region_of`), so the result is always a
        Series. A value that is not a string (a number in a spreadsheet's column of texts)
        is read as its text, so it maps to None unless a rule of yours names it; a missing
        value (None, NaN, pandas' NA) maps to None.
    region_rules : optional
        Extra rules, tried before the built-in ones, as in :func:`region_of`.

    Returns
    -------
    polars.Series or pandas.Series
        Utf8 regions (None where no rule matches), one per value in order, with the input's
        name (``"region"`` for a sequence): pandas (with the input's index) for pandas, else
        polars.

    Examples
    --------
    >>> normalise_region(["CT Thorax", "Schädel nativ", "Topogram"]).to_list()
    ['chest', 'head', None]
    """
    if isinstance(values, str) or values is None:
        raise ParameterError(
            "normalise_region maps a Series or a sequence of texts; for one string use "
            "recurct.regions.region_of(text) (recurct 0.2)"
        )
    compiled = compile_rules(region_rules)
    is_pandas = type(values).__module__.startswith("pandas")
    if is_pandas and type(values).__name__ == "Series":
        if values.dtype == object:  # texts beside numbers (a spreadsheet's column): as text
            s = pl.Series("region", [_as_text(v) for v in values], dtype=pl.Utf8)
        else:
            s = pl.from_pandas(values)
    elif isinstance(values, pl.Series):
        s = values
    elif (
        isinstance(values, Iterable)
        and not is_pandas
        and not isinstance(values, bytes | Mapping | pl.DataFrame)
    ):
        s = pl.Series("region", [_as_text(v) for v in values], dtype=pl.Utf8)
    else:
        raise ParameterError(
            "normalise_region maps a Series or a sequence of texts, got "
            f"{type(values).__name__}"
        )
    s = s.cast(pl.Utf8)
    uniq = s.drop_nulls().unique().to_list()
    mapping = {u: match_region(u, compiled) for u in uniq}
    out = s.replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(s.name)
    if is_pandas:
        res = out.to_pandas()
        res.index = values.index
        res.name = values.name
        return res
    return out


def _as_text(value: Any) -> str | None:
    """A value of a column of texts as the rules read it: a string as it is, a missing
    value (None, NaN, pandas' NA or NaT) and bytes as None, anything else (a number) as its
    text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes) or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return str(value)
