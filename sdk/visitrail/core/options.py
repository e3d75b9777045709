"""The tag's options, read once: each `data-*` attribute arrives as a string (or, from Python, as a
value), and this is the one place that says what it means.

Flags: a flag is on when it is present, unless its value is one of "false", "0", "no" or "off"
(any case, surrounding spaces ignored); so a bare `data-debug` is on. web/loader.js reads the one
flag it needs before Python is up (`data-respect-dnt`) by the same rule.
Numbers outside their range, or unreadable, mean the default.
"""

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

FALSE_WORDS = ("false", "0", "no", "off")
ID_STORAGE_MODES = ("localStorage", "cookie", "memory")
CONSENT_STATES = ("pending", "granted", "denied")
DEFAULT_TIMEOUT_MIN = 30
MAX_TIMEOUT_MIN = 24 * 60
DEFAULT_MAX_HOURS = 24
MIN_MAX_HOURS = 0.25  # a quarter of an hour: shorter than that is not a visit
MAX_MAX_HOURS = 720  # 30 days


def flag(value: "object", default: "bool") -> "bool":
    """A data-* flag (or a Python bool): see the module docstring."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def number(value: "Any", default: "float", lo: "float", hi: "float") -> "float":
    """A number within [lo, hi], else `default`."""
    if isinstance(value, bool):
        return default
    try:
        n = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if n != n or n < lo or n > hi:
        return default
    return n


def session_timeout_ms(value: "object") -> "int":
    """data-session-timeout (minutes) in milliseconds."""
    return int(number(value, DEFAULT_TIMEOUT_MIN, 1, MAX_TIMEOUT_MIN) * 60000)


def session_max_ms(value: "object") -> "int":
    """data-session-max-hours (hours, fractions allowed) in milliseconds: the longest a session
    runs; the next event after it starts a new one."""
    return int(number(value, DEFAULT_MAX_HOURS, MIN_MAX_HOURS, MAX_MAX_HOURS) * 3600000)


def id_storage(value: "object") -> "tuple[str, str | None]":
    """(the data-id-storage mode, a warning or None): an unknown mode means localStorage."""
    if value is None or value == "":
        return "localStorage", None
    if value in ID_STORAGE_MODES:
        return value, None
    return "localStorage", "unknown data-id-storage " + repr(value) + "; using localStorage"


def initial_consent(value: "object") -> "str":
    """data-consent: "pending" holds everything until consent.grant(); anything else is granted."""
    return "pending" if value == "pending" else "granted"
