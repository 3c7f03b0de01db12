"""Effective dose from DLP, body-region normalisation and comparison with reference levels.

Effective dose is estimated as ``E = k x DLP`` (mSv = mSv/(mGy·cm) x mGy·cm), with ``k`` from
a published conversion-factor table chosen by body region and, for paediatric tables, age.
Every table is a package data file (``recurct/data/kfactors_<name>.csv``) holding its
citation, its ICRP convention (60 or 103), its tube voltage where it applies and its age
columns; every value comes from ``docs/sources.md`` (section "Dose conversion").

Tables (see :func:`tables`):

====================== ============ ====== ========================= ==========================
name                   convention   kV     ages (y)                  regions
====================== ============ ====== ========================= ==========================
``aapm96``             ICRP 60      --     adult                     head, head_neck, neck,
                                                                     chest, abdomen_pelvis,
                                                                     abdomen, pelvis,
                                                                     chest_abdomen_pelvis
``icrp103_adult``      ICRP 103     --     adult                     head, neck, chest, abdomen,
                                                                     pelvis, chest_abdomen_pelvis
``shrimpton_age``      ICRP 60      120    0, 1, 5, 10, adult (18)   head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
``nci_icrp103_120kv``  ICRP 103     120    0, 1, 5, 10, 15, 30       head, chest, abdomen_pelvis,
                                                                     chest_abdomen_pelvis
====================== ============ ====== ========================= ==========================

Every table states its convention, tube voltage and phantom (:func:`tables`). Your own
table (a CSV file or a data frame with ``region``, ``k`` and optional ``age``, ``sex``, ``kv``,
``source`` columns; see :func:`table`) can be used wherever a shipped one is named, alone or
with a shipped one as ``fallback_table`` (and the other way round).

A region a table does not tabulate is an error naming the region and the table, unless the
caller says what to use instead: ``fallback={"abdomen": "abdomen_pelvis"}`` (use another
region's factor of the same table) or ``fallback_table="aapm96"`` (use another table).
Nothing is derived silently.

Age rules (age-dependent tables; the tabulated ages ``a_0 < a_1 < ... < a_m``):

* ``"nearest-lower"``: the column of the largest tabulated age ``<= age``. With
  ``shrimpton_age`` (columns 0, 1, 5, 10 y and the source's "adult" column, applied from
  18 y): 0.5 -> 0 y, 1.0 -> 1 y, 4.99 -> 1 y, 5.0 -> 5 y, 17.99 -> 10 y, 18.0 -> adult.
* ``"nearest"``: the column of the closest tabulated age, ties to the younger column
  (``shrimpton_age``: 3.0 -> 1 y, 3.01 -> 5 y, 14.01 -> adult).
* ``"interpolate"``: linear in age between neighbouring tabulated ages, constant beyond the
  last one (and at the first one, 0 y).

The adult (last) column of an age table applies from its ``adult_from`` age (18 y for
``shrimpton_age``, 30 y for ``nci_icrp103_120kv``); ``adult_from=`` moves that boundary for one
call, e.g. ``adult_from=18`` gives an 18-29-year-old the NCI adult factor.

Adult-only tables (``aapm96``, ``icrp103_adult``) ignore age: the adult factor is applied to
every row, children included, which is why age-dependent tables exist; :func:`effective_dose`
warns (:class:`DoseConversionWarning`) when it applies one to rows with ``age_years`` below 18
(the age from which ``shrimpton_age`` uses adult factors), without changing the values.

Public functions:

* :func:`tables`, :func:`table`, :func:`k_factors` -- the factor tables and a vectorised lookup;
* :func:`effective_dose` -- fill ``effective_dose_msv`` of an exam (or event) table, with the
  method recorded in ``dose_method``;
* :func:`exam_region` -- the one rule giving an exam its body region from its events;
* :func:`region_of` (one text), :func:`normalise_region` (a column), :func:`region_rules` --
  free text -> canonical body region by an ordered, extensible rule table (None when nothing
  matches), from :mod:`recurct.regions`;
* :func:`drl_tables`, :func:`drl_table`, :func:`compare_to_drl`, :func:`flag_above_drl` --
  diagnostic reference levels
  (``uk2022`` by clinical indication, ``arpansa_adult`` by region, ``arpansa_adult_2018`` by
  procedure category) from ``recurct/data/drl_<name>.csv``, or your own DRL table (CSV or
  frame).

The package: ``_tables`` (the factor tables as data), ``_lookup`` (the per-row factor
lookup), :mod:`~recurct.dose.factors` (:func:`tables`, :func:`table`, :func:`k_factors`),
:mod:`~recurct.dose.effective` (:func:`effective_dose`), ``_events`` (:func:`exam_region`, events
summed to exams) and
:mod:`~recurct.dose.drl` (reference levels); this module re-exports the public names.

See ``docs/dose.md`` for a guide.
"""

from __future__ import annotations

from recurct._compat import removed
from recurct.dose._events import exam_region
from recurct.dose._tables import AGE_RULES, KTABLE_COLUMNS, AgeRule
from recurct.dose.drl import DRL_COLUMNS, compare_to_drl, drl_table, drl_tables, flag_above_drl
from recurct.dose.effective import LOCALIZER_METHOD, SUPPLIED_METHOD, effective_dose
from recurct.dose.factors import k_factors, table, tables
from recurct.errors import DoseConversionError, DoseConversionWarning
from recurct.regions import normalise_region, region_of, region_rules

__all__ = [
    "AGE_RULES",
    "DRL_COLUMNS",
    "KTABLE_COLUMNS",
    "LOCALIZER_METHOD",
    "SUPPLIED_METHOD",
    "AgeRule",
    "DoseConversionError",
    "DoseConversionWarning",
    "compare_to_drl",
    "drl_table",
    "drl_tables",
    "effective_dose",
    "exam_region",
    "flag_above_drl",
    "k_factors",
    "normalise_region",
    "region_of",
    "region_rules",
    "table",
    "tables",
]

drls = removed("recurct.dose.drls", "recurct.dose.drl_tables() (the catalogue) or drl_table(name)")
