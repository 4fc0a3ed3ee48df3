"""Personal identifiers (email, phone) as ad platforms match them: normalised, then SHA-256.

Google's and Meta's customer-list uploads and their conversion APIs hash the same way:
an email trimmed and lower-cased, a phone in E.164 (`+33612345678`), the UTF-8 text hashed
with SHA-256 and written as 64 lower-case hex digits. parcours hashes at load, so a hash it
stores matches the hash those platforms compute from the same person's identifier. Phones
are parsed by `phonenumbers` (Google's libphonenumber metadata: every country's prefixes
and lengths), national numbers read as of a configured default country.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Any

import phonenumbers

# An id (of an event, a device, an account, a customer) is one token: at most MAX_TOKEN
# characters, none of them a space, a control or an invisible format character (U+202E turns
# the text around it, U+200B hides). NOT_TOKEN finds one in the engine (RE2), is_token in Python.
MAX_TOKEN = 256
# Unicode's default-ignorable characters that are letters or marks, not format characters: a
# grapheme joiner, Hangul fillers, variation selectors. They show as nothing, like U+200B.
_INVISIBLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))
NOT_TOKEN = r"[\s\p{Z}\p{C}" + "".join(f"\\x{{{a:04X}}}-\\x{{{b:04X}}}" for a, b in _INVISIBLE) + "]"  # RE2


_NOT_IN_TOKENS = frozenset(("Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"))  # RE2's \p{C} and \p{Z}


def _invisible(c: str) -> bool:
    return any(a <= ord(c) <= b for a, b in _INVISIBLE)


def is_token(text: str) -> bool:
    return 0 < len(text) <= MAX_TOKEN and not any(
        c.isspace() or unicodedata.category(c) in _NOT_IN_TOKENS or _invisible(c) for c in text)


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")  # the shape: one @, a dot in the domain, no spaces
SHA256 = re.compile(r"[0-9a-f]{64}")
_LOCAL_SIGNS = frozenset("!#$%&'*+/=?^_`{|}~.-")  # RFC 5322's atext and the dot


def _word(c: str) -> bool:
    """A letter, a mark or a digit of any script (an internationalised address has them);
    never a symbol (an emoji), a control or an invisible format character (U+202E)."""
    return unicodedata.category(c)[0] in "LMN"


@lru_cache(maxsize=1 << 16)
def normal_email(text: str) -> str | None:
    """Trimmed and lower-cased; None when it is no email address: one @, a local part of
    letters, digits and RFC 5322's signs, a domain of dotted labels of letters, digits and
    hyphens; at most 254 characters (RFC 5321)."""
    email = text.strip().lower()
    if not EMAIL.fullmatch(email) or len(email) > 254:
        return None
    local, domain = email.split("@")
    if len(local) > 64 or not all(_word(c) or c in _LOCAL_SIGNS for c in local):
        return None
    labels = domain.split(".")
    if not all(labels) or not all(_word(c) or c == "-" for label in labels for c in label):
        return None
    return email


EMAIL_FUNCTION = "parcours_email"  # normal_email as an engine function (DuckDB: registered by the warehouse)


def email_arrow(email: Any) -> Any:
    """normal_email over a batch (an Arrow array), once per distinct text; null in, null out. Typed
    Any: DuckDB evaluates a function's annotations, and pyarrow is imported here, not with the module."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(email)
    normal = pa.array([None if v is None else normal_email(v) for v in distinct.to_pylist()], pa.string())
    return pc.take(normal, pc.index_in(email, distinct))


@lru_cache(maxsize=1 << 16)
def normal_phone(text: str, country: str) -> str | None:
    """E.164 (`+` and digits), a national number read as of `country` (ISO 3166 alpha-2);
    None when it is no valid number there or anywhere (an international one)."""
    try:
        number = phonenumbers.parse(text.strip(), country.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


E164_FUNCTION = "parcours_e164"  # normal_phone as an engine function (DuckDB: registered by the warehouse)


def e164_arrow(phone: Any, country: Any) -> Any:
    """normal_phone over a batch (Arrow arrays), once per distinct (country, text); null in, null out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pairs = pc.binary_join_element_wise(country, phone, "\t")
    distinct = pc.unique(pairs)
    normal = pa.array([None if v is None else normal_phone(*reversed(v.split("\t", 1)))
                       for v in distinct.to_pylist()], pa.string())
    return pc.take(normal, pc.index_in(pairs, distinct))


def normal(kind: str, text: str, country: str) -> str | None:
    return normal_email(text) if kind == "email" else normal_phone(text, country)


def sha256(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def hashed(kind: str, text: str, country: str) -> str | None:
    """The stored hash of an identifier given plain or already hashed (64 hex digits)."""
    if SHA256.fullmatch(text.strip().lower()):
        return text.strip().lower()
    value = normal(kind, text, country)
    return sha256(value) if value is not None else None


def known_country(country: str) -> bool:
    return phonenumbers.country_code_for_region(country.upper()) != 0
