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
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from recurct.errors import ParameterError, WeakSecretError

__all__ = [
    "METHOD",
    "MIN_SECRET_BYTES",
    "WeakSecretError",
    "check_method",
    "check_secret",
    "pseudonym",
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
