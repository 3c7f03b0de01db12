"""Keyed pseudonyms (HMAC-SHA256) for patient IDs, UIDs, accession numbers and file names.

A pseudonym must not be reversible by someone who does not hold the secret. A plain or salted
hash of a patient ID is not: IDs are short (a 7-digit number has 10^7 values), so hashing every
candidate with a known salt recovers the ID in seconds. recurct therefore uses a keyed hash,
HMAC-SHA256 (RFC 2104), with a secret key of at least 128 bits, and refuses anything weaker.

The secret rule (:func:`check_secret`):

* ``bytes`` (or ``bytearray``): at least 16 bytes, used as the key as they are;
* ``str`` of hexadecimal digits (e.g. ``secrets.token_hex(32)``): at least 32 digits, an even
  number of them; the key is the decoded bytes (so ``key`` and ``key.hex()`` give the same
  pseudonyms);
* ``str`` of URL-safe base64 characters (``A-Z a-z 0-9 - _``, e.g. ``secrets.token_urlsafe(32)``):
  at least 22 characters (22 x 6 bits >= 128 bits); the key is the UTF-8 bytes of the text.

In every case the secret must not be patterned: at least 8 different characters (or byte
values), no block repeated throughout (``"0123456789abcdef" * 2``) and no run of 8 or more
consecutive characters (``"12345678"``, ``"abcdefgh"``, ``"87654321"``), which rules out
``"0000..."``, ``"abab..."`` and ``"Password1234567890123456"``; a random 32-digit hex key has
such a run with a probability of about 2e-7. Surrounding whitespace (the newline that ends a
key file) is not part of a text secret, and ``bytes`` that are printable ASCII apart from
surrounding whitespace (and a UTF-8 byte order mark) are text typed as bytes, or a key file
read with ``read_bytes()``: they are judged as that text, stripped (``b"0123456789abcdef"``
is 64 bits of hex; ``b"<64 hex digits>\\n"`` is the same key as the text). Other ``bytes``
are the key as they are.

Anything else (pass phrases with spaces or punctuation, short strings) is refused. The rule
checks the form, not the randomness: a phrase written as one URL-safe word
(``"CorrectHorseBatteryStaple1"``) cannot be told from ``secrets.token_urlsafe`` output and
is accepted, though it holds far fewer than 128 bits (no test of the text could refuse it
without refusing random keys too), and non-ASCII text passed as ``bytes`` is taken as raw
bytes. Make a secret with ``python -c "import secrets; print(secrets.token_hex(32))"``, never
by hand, and keep it outside the code: the same secret gives the same pseudonyms, so later
extractions link to earlier ones.

Each kind of value is hashed in its own domain (``patient_id``, ``study_uid``, ``event_uid``,
``accession_number``, ``file``): the pseudonym of a study UID never equals that of an equal
patient ID.

What the readers share, so that every path gives one pseudonym for one value:

* :func:`normalise_id` / :func:`normalise_ids`: an identifier is hashed without its
  surrounding whitespace (:data:`recurct._frames.ID_SPACES`), and an empty or placeholder
  identifier (:data:`recurct.schema.PLACEHOLDER_IDS`, as listed or in upper, lower or title
  case: ``unknown``, ``-``, ``#N/A``, ...) is missing, never hashed: two unrelated patients
  whose ID is ``unknown`` must not become one pseudonym. A patient ID in scientific
  notation (``1,23457E+11``, as a spreadsheet shows a long number:
  :data:`recurct._frames.SCIENTIFIC_ID`) is missing too (``patient=True``): its last digits
  are lost, so it may be several patients'. :func:`pseudonymise_id` (the public function)
  applies the same rule and returns None for a missing identifier.
* ``_file_label`` (public as :func:`recurct.io.rdsr.file_pseudonym`): a file is named
  ``"file:"`` and the pseudonym of its path relative to the input root, in every table,
  problem row, warning and error.
* :func:`coarsen_ages`: the ages of a pseudonymising read tell completed years at each
  patient's first exam of the read, and the time since then, so that an exact age (an
  RDSR's, from the birth date; an OpenREM export's decimal age, days / 365.25) and the exam
  date do not give away the birth date.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from typing import Literal, get_args

import polars as pl

from recurct._compat import renamed
from recurct._frames import (
    ID_SPACES,
    is_scientific_id,
    normalised_ids,
    placeholder_variants,
    scientific_ids_missing,
)
from recurct.errors import ParameterError, WeakSecretError

__all__ = [
    "DOMAINS",
    "METHOD",
    "MIN_SECRET_BYTES",
    "WeakSecretError",
    "check_method",
    "check_secret",
    "coarsen_ages",
    "normalise_id",
    "normalise_ids",
    "pseudonym",
    "pseudonymise_id",
]

METHOD = "hmac-sha256"
"""The pseudonymisation method (``pseudonymise=`` of the readers)."""

MIN_SECRET_BYTES = 16
"""A secret holds at least 128 bits (16 random bytes)."""

_HEX = re.compile(r"[0-9a-fA-F]+")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
_BOM = "\ufeff"  # the UTF-8 byte order mark some editors write at the start of a text file
_MIN_DISTINCT = 8  # a random 32-digit hex key has fewer with a probability of about 4e-8
_MAX_RUN = 7  # longest allowed run of characters that step by +1 (or by -1) throughout
_HOW = (
    'make one with: python -c "import secrets; print(secrets.token_hex(32))" '
    "and pass it as secret=... (keep it outside your code; the same secret links later "
    "extractions)"
)

Domain = Literal["patient_id", "study_uid", "event_uid", "accession_number", "file"]

DOMAINS: tuple[str, ...] = get_args(Domain)
"""The kinds of value, each hashed apart (``domain=`` of :func:`pseudonymise_id`)."""

# the placeholder ids as the identity rules match them (as listed, upper, lower, title case)
_PLACEHOLDERS = frozenset(placeholder_variants(None))
_DAYS_PER_YEAR = 365.25


def check_secret(secret: object) -> bytes:
    """The HMAC key of a secret, or :class:`WeakSecretError` saying how to make one.

    Parameters
    ----------
    secret : bytes or str
        See the module docstring for the rule (>= 128 bits: 16 bytes, 32 hex digits or 22
        URL-safe base64 characters; not repetitive).

    Returns
    -------
    bytes
        The key.
    """
    if secret is None or (isinstance(secret, (str, bytes, bytearray)) and len(secret) == 0):
        raise WeakSecretError(f"pseudonymisation needs a secret of at least 128 bits; {_HOW}")
    if isinstance(secret, (bytes, bytearray)):
        key = bytes(secret)
        text = _ascii_text(key)
        if text is not None:  # text typed as bytes, or a key file read as bytes: the text rule
            return check_secret(text)
        if len(key) < MIN_SECRET_BYTES or len(set(key)) < _MIN_DISTINCT or _pattern(key):
            raise WeakSecretError(
                f"a secret of {len(key)} byte(s) ({len(set(key))} distinct) is too weak: at "
                f"least {MIN_SECRET_BYTES} random bytes (128 bits) are needed; {_HOW}"
            )
        return key
    if not isinstance(secret, str):
        raise ParameterError(f"secret must be bytes or str, got {type(secret).__name__}")
    text = secret.removeprefix(_BOM).strip()
    if len(set(text)) < _MIN_DISTINCT:
        raise WeakSecretError(
            f"the secret is repetitive ({len(set(text))} distinct characters); {_HOW}"
        )
    why = _pattern(text.lower().encode("utf-8"))
    if why:
        raise WeakSecretError(f"the secret is patterned ({why}); {_HOW}")
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        if len(text) < 2 * MIN_SECRET_BYTES:
            raise WeakSecretError(
                f"a hex secret of {len(text)} digits holds {4 * len(text)} bits, fewer than "
                f"128; {_HOW}"
            )
        return bytes.fromhex(text)
    if _URLSAFE.fullmatch(text):
        if len(text) * 6 < 8 * MIN_SECRET_BYTES:
            raise WeakSecretError(
                f"a secret of {len(text)} characters holds at most {6 * len(text)} bits, fewer "
                f"than 128; {_HOW}"
            )
        return text.encode("utf-8")
    raise WeakSecretError(
        "the secret must be random hex (>= 32 digits) or URL-safe base64 (>= 22 characters): "
        f"words, phrases and other text cannot be shown to hold 128 bits; {_HOW}"
    )


def _ascii_text(key: bytes) -> str | None:
    """The text of ``key`` where it is printable ASCII apart from surrounding whitespace (and
    a UTF-8 byte order mark): what ``read_text()`` of the same key file gives, stripped;
    None for anything else (random bytes, the key as they are)."""
    body = key.removeprefix(_BOM.encode("utf-8"))
    if not body.isascii():
        return None
    text = body.decode("ascii")
    stripped = text.strip()
    return text if stripped and stripped.isprintable() else None


def _pattern(seq: bytes) -> str:
    """What makes a secret predictable: a block repeated throughout, or a run of more than
    ``_MAX_RUN`` characters stepping by +1 or -1 ("12345678", "hgfedcba"); "" where neither."""
    n = len(seq)
    for period in range(1, n // 2 + 1):
        if all(seq[i] == seq[i - period] for i in range(period, n)):
            return f"a block of {period} repeated"
    run, last = 1, 0
    for i in range(1, n):
        step = seq[i] - seq[i - 1]
        run = (run + 1 if step == last else 2) if step in (1, -1) else 1
        last = step
        if run > _MAX_RUN:
            return f"a run of {run} consecutive characters"
    return ""


def check_method(pseudonymise: object, secret: object) -> bytes | None:
    """Validate ``pseudonymise=`` and its secret; the key, or None without pseudonymisation."""
    if pseudonymise is None:
        if secret is not None:
            raise ParameterError(f'a secret was given without pseudonymise="{METHOD}"')
        return None
    if pseudonymise == "salted-sha256":
        raise ParameterError(
            'pseudonymise="salted-sha256" was replaced by pseudonymise="hmac-sha256": a salted '
            "hash of a short patient ID can be reversed by hashing every candidate ID; the "
            f"pseudonyms of the two methods differ; {_HOW}"
        )
    if pseudonymise != METHOD:
        raise ParameterError(f'pseudonymise must be None or "{METHOD}", got {pseudonymise!r}')
    return check_secret(secret)


def pseudonym(value: str, key: bytes, domain: Domain = "patient_id") -> str:
    """HMAC-SHA256 of ``domain + "\\x1f" + value`` under ``key``, as 64 hex digits.

    ``key`` is the output of :func:`check_secret`.
    """
    msg = domain.encode("ascii") + b"\x1f" + value.encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def normalise_id(text: str, *, patient: bool = False) -> str | None:
    """An identifier as the readers hash it: without surrounding whitespace, or None where it
    is missing.

    Parameters
    ----------
    text : str
        A patient ID, Study or Irradiation Event UID or accession number as read.
    patient : bool, default False
        ``text`` is a patient ID: one in scientific notation is missing too (Returns).

    Returns
    -------
    str or None
        ``text`` stripped of surrounding whitespace (:data:`recurct._frames.ID_SPACES`: every
        Unicode White_Space character and NUL, as :func:`recurct.validate` strips ids); None
        where that is empty or a placeholder (:data:`recurct.schema.PLACEHOLDER_IDS`, as
        listed or in upper, lower or title case), as :func:`recurct.validate` and
        :func:`recurct.read_exams` read it; with ``patient``, None too where that is a
        number in scientific notation (``1,23457E+11``, ``1.23457e+11``:
        :data:`recurct._frames.SCIENTIFIC_ID`, a long number as a spreadsheet shows it, its
        last digits lost, so possibly several patients'), which every reader makes a
        missing patient ID. :func:`normalise_ids` is the same rule over a column.
    """
    if not isinstance(text, str):
        raise ParameterError(f"an identifier must be text (str), got {type(text).__name__}")
    stripped = text.strip(ID_SPACES)
    if stripped in _PLACEHOLDERS or (patient and is_scientific_id(stripped)):
        return None
    return stripped


def normalise_ids(values: pl.Series, *, patient: bool = False) -> pl.Series:
    """:func:`normalise_id` of each value of a text column (null stays null).

    Parameters
    ----------
    values : polars.Series
        Identifiers as text.
    patient : bool, default False
        ``values`` are patient IDs: those in scientific notation are missing too (Returns).

    Returns
    -------
    polars.Series
        ``values`` (String, same name) stripped of surrounding whitespace, null where empty or
        a placeholder, and with ``patient`` null where a number in scientific notation
        (:func:`normalise_id`; :func:`recurct._frames.scientific_ids_missing`).
    """
    value, _ = normalised_ids(pl.col(values.name))
    ids = values.to_frame().select(value.alias(values.name)).to_series()
    missing = scientific_ids_missing(ids) if patient else None
    return ids if missing is None else missing[0]


@renamed(salt="secret")
def pseudonymise_id(
    patient_id: str,
    secret: bytes | str,
    domain: Domain = "patient_id",
) -> str | None:
    """Keyed pseudonym (HMAC-SHA256, 64 hex digits) of a patient ID or another identifier, as
    the readers (``pseudonymise="hmac-sha256"``) compute it.

    Parameters
    ----------
    patient_id : str
        The value, as text (a number read from a spreadsheet must be turned into the text the
        reports hold first: is ``123`` the ID ``"123"`` or ``"000123"``?).
    secret : bytes or str
        The secret key: at least 128 bits (16 random bytes, 32 hex digits or 22 URL-safe
        base64 characters; rule in :mod:`recurct.io.pseudonym`); weaker secrets raise
        :class:`recurct.io.pseudonym.WeakSecretError`.
    domain : str
        The kind of value (:data:`DOMAINS`): each kind is hashed apart, so that equal texts of
        two kinds do not get equal pseudonyms. The readers use ``"patient_id"``,
        ``"study_uid"``, ``"event_uid"``, ``"accession_number"`` and ``"file"``.

    Returns
    -------
    str or None
        The pseudonym of the value as the readers hash it (:func:`normalise_id`: surrounding
        whitespace removed, so ``" MRN42 "`` gives the pseudonym a reader gives ``MRN42``);
        None for a missing value (empty, whitespace or a placeholder such as ``unknown``,
        ``nan``, ``None``, ``#N/A``: :data:`recurct.schema.PLACEHOLDER_IDS`; for
        ``domain="patient_id"`` also a number in scientific notation such as
        ``"1,23457E+11"`` or ``"1.23457e+11"``, a long ID as a spreadsheet shows it, its
        last digits lost: :data:`recurct._frames.SCIENTIFIC_ID`), which the readers leave
        null: a missing ID stays missing rather than joining every other missing ID, or
        another patient's, under one pseudonym. ``domain="file"`` hashes the text as given
        (a path, as :func:`recurct.io.rdsr.file_pseudonym` does, without its ``"file:"``
        prefix).
        The same value and secret give the same pseudonym (links across files and runs);
        the value cannot be recovered, nor checked against a guess, without the secret.

    Raises
    ------
    recurct.errors.ParameterError
        ``patient_id`` is not a str (a number, None, NaN), or ``domain`` is not one of
        :data:`DOMAINS` (a misspelt domain would give a pseudonym that links to nothing).
    """
    if domain not in DOMAINS:
        raise ParameterError(
            f"pseudonymise_id: domain must be one of {', '.join(map(repr, DOMAINS))}, got "
            f"{domain!r}"
        )
    if not isinstance(patient_id, str):
        what = type(patient_id).__name__
        if isinstance(patient_id, float) and math.isnan(patient_id):
            what = "NaN (a missing value: it has no pseudonym)"
        elif patient_id is None:
            what = "None (a missing value: it has no pseudonym)"
        raise ParameterError(
            f"pseudonymise_id: the value must be text (str), got {what}; the readers "
            "read identifiers as text: pass the text the reports hold (str(...), keeping any "
            "leading zeros)"
        )
    key = check_secret(secret)
    if domain == "file":
        text: str | None = patient_id
    else:
        text = normalise_id(patient_id, patient=domain == "patient_id")
    return None if text is None else pseudonym(text, key, domain)


def _file_label(relative_path: str, key: bytes) -> str:
    """How a pseudonymising reader names a file: ``"file:"`` and the pseudonym of its path
    relative to the input root (for one file, its name), under the checked ``key``
    (:func:`check_secret`); the public form is :func:`recurct.io.rdsr.file_pseudonym`."""
    return "file:" + pseudonym(relative_path, key, "file")


def coarsen_ages(exams: pl.DataFrame) -> pl.Series:
    """The ages of a pseudonymising read: completed years at each patient's first exam, and
    the time since then.

    An exact age (an RDSR's, computed from the birth date to the day; an OpenREM export's
    decimal age, the days since birth / 365.25) together with the exam date gives the birth
    date back. Per patient (within ``exams``, one read), each exam's age becomes the
    completed years of age at the patient's first exam with an age and a date (the floor of
    its age) plus the years since that exam (days / 365.25): a patient's ages stay
    consistent between exams (their differences are the times between the exams), but tell
    only the completed years at the first exam, which leaves the birth date anywhere in a
    year. Where several exams share the first date, the lowest age is taken.

    Parameters
    ----------
    exams : polars.DataFrame
        One row per exam, with the columns ``patient_id`` (pseudonymised), ``exam_date``
        (Date or Datetime; only the day counts) and ``age_years`` (the age in years), as the
        readers return them.

    Returns
    -------
    polars.Series
        Float64, named ``age_years``, one value per row of ``exams`` in order: null where the
        row has no age; the floor of its age where the row has no patient ID or no date.

    Notes
    -----
    The window is one year within one read. Reads that start a patient at different first
    exams (yearly extractions under one secret, whose pseudonyms link) can narrow it when
    combined: read all of a patient's files at once.
    """
    age = pl.col("age_years").cast(pl.Float64)
    day = pl.col("exam_date").cast(pl.Date)
    frame = exams.select(
        pl.col("patient_id").alias("p"), day.alias("d"), age.alias("a")
    ).with_row_index("i")
    usable = pl.col("a").is_not_null() & pl.col("d").is_not_null() & pl.col("p").is_not_null()
    first = (
        frame.filter(usable)
        .sort("d", "a")
        .group_by("p", maintain_order=True)
        .agg(pl.col("d").first().alias("d0"), pl.col("a").first().floor().alias("n0"))
    )
    since = (pl.col("d") - pl.col("d0")).dt.total_days() / _DAYS_PER_YEAR
    return (
        frame.join(first, on="p", how="left")
        .sort("i")
        .select(
            pl.when(pl.col("a").is_null())
            .then(None)
            .when(pl.col("d0").is_not_null() & pl.col("d").is_not_null())
            .then(pl.col("n0") + since)
            .otherwise(pl.col("a").floor())
            .cast(pl.Float64)
            .alias("age_years")
        )
        .to_series()
    )
