"""Identifiers and timestamps without uuid or datetime (MicroPython has neither)."""

import binascii
import hashlib

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import TypeGuard

HEX = "0123456789abcdef"


def _uuid_shape(b: "bytes | bytearray") -> "str":
    # RFC 9562 version-4 layout: version nibble 4, variant bits 10.
    b = bytearray(b[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = binascii.hexlify(bytes(b)).decode()
    return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]


def uuid4(random_bytes: "bytes") -> "str":
    """A UUID v4 string from 16 random bytes given by the platform."""
    if len(random_bytes) < 16:
        raise ValueError("uuid4 needs 16 random bytes")
    return _uuid_shape(random_bytes)


def uuid_from(seed: "str") -> "str":
    """A UUID-shaped ID derived from a string: the same seed gives the same ID in every tab."""
    return _uuid_shape(hashlib.sha256(seed.encode()).digest())


def digest(text: "str") -> "str":
    """A short stable fingerprint of a string (identify dedupe)."""
    return binascii.hexlify(hashlib.sha256(text.encode()).digest()).decode()[:32]


def _civil_from_days(z: "int") -> "tuple[int, int, int]":
    # Howard Hinnant's days-to-civil algorithm: days since 1970-01-01 -> (year, month, day).
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _pad(n: "int", width: "int") -> "str":
    s = str(n)
    return "0" * (width - len(s)) + s


def iso_utc(ms: "float") -> "str":
    """Epoch milliseconds -> '2026-11-25T02:55:20.123Z' (ISO 8601, UTC, millisecond precision)."""
    ms = int(ms)
    days, rem = divmod(ms, 86400000)
    y, m, d = _civil_from_days(days)
    secs, milli = divmod(rem, 1000)
    hh, rest = divmod(secs, 3600)
    mm, ss = divmod(rest, 60)
    return (
        _pad(y, 4)
        + "-"
        + _pad(m, 2)
        + "-"
        + _pad(d, 2)
        + "T"
        + _pad(hh, 2)
        + ":"
        + _pad(mm, 2)
        + ":"
        + _pad(ss, 2)
        + "."
        + _pad(milli, 3)
        + "Z"
    )


def looks_like_id(value: "object") -> "TypeGuard[str]":
    """A stored ID we are willing to reuse: a non-empty printable string of sane length."""
    if not isinstance(value, str) or not value or len(value) > 100:
        return False
    for ch in value:
        if ch < " " or ch > "~":
            return False
    return True


# What a page sends when it has no ID and did not notice: a JS value turned into text, a default
# of some framework, a literal. None of them is a person (PostHog refuses most of them for the same
# reason); a profile keyed on one of them would join everyone who sent it. Compared case-blind,
# spaces around ignored; blank text is one too.
PLACEHOLDER_IDS = (
    "undefined", "null", "none", "nan", "nil", "0", "-1", "true", "false", "anonymous", "guest",
    "[object object]", "distinct_id", "distinctid", "user_id", "userid", "not_authenticated",
)  # fmt: skip


def is_placeholder(value: "object") -> "bool":
    """Is this ID text one of PLACEHOLDER_IDS, or only spaces? (Not a string: not an ID at all.)"""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return text == "" or text in PLACEHOLDER_IDS
