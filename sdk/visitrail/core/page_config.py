"""The SDK's options from a page's own PyScript config, for a page without the tag
(browser/native.py): the tag's options, in a section of the config of their own, under snake_case
names, with JSON's or TOML's values (strings, numbers, booleans):

    {"packages": [...], "visitrail": {"write_key": "KEY", "endpoint": "https://collect.example.com"}}

    [visitrail]                       (TOML)
    write_key = "KEY"
    endpoint = "https://collect.example.com"

from_config turns the section into the options boot.py gives the Client from the tag's data-*
attributes (camelCase keys); the Client reads them with options.py, as it reads the tag's.
"""

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

SECTION = "visitrail"
# snake_case key -> the Client option (the tag's data-* attribute, camelCased)
KEYS = {
    "write_key": "writeKey",
    "endpoint": "endpoint",
    "id_storage": "idStorage",
    "domain": "domain",
    "consent": "consent",
    "identity_token": "identityToken",
    "session_timeout": "sessionTimeout",
    "session_max_hours": "sessionMaxHours",
    "engagement": "engagement",
    "flush_at": "flushAt",
    "flush_interval": "flushInterval",
    "persist_user": "persistUser",
    "debug": "debug",
    "auto_page": "autoPage",
    "respect_dnt": "respectDnt",  # not the Client's: native.py reads it, as loader.js data-respect-dnt
}
REQUIRED = ("write_key", "endpoint")
STRINGS = ("write_key", "endpoint", "id_storage", "domain", "consent", "identity_token")
EXAMPLE = '"' + SECTION + '": {"write_key": "KEY", "endpoint": "https://collect.example.com"}'


def from_config(config: "object") -> "tuple[dict[str, Any], list[str], str | None]":
    """(options, warnings, error) from a page's PyScript config (a dict, as `pyscript.config` is).

    error, for one console error, says what is missing when the section, its write key or its
    endpoint is; the options are then empty, and no client should start. A value of the wrong kind
    or an unknown key is left out, each with a warning. The endpoint loses a trailing "/"."""
    section = config.get(SECTION) if isinstance(config, dict) else None
    if section is None:
        return {}, [], "the PyScript config has no " + repr(SECTION) + " section: add " + EXAMPLE
    if not isinstance(section, dict):
        return {}, [], "the PyScript config's " + repr(SECTION) + " is not a table of options: " + EXAMPLE
    opts: "dict[str, Any]" = {}
    warnings: "list[str]" = []
    snake = {v: k for k, v in KEYS.items()}
    for key in sorted(section):
        value = section[key]
        name = KEYS.get(key)
        where = "the PyScript config's " + SECTION + "." + str(key)
        if name is None:
            hint = "; did you mean " + snake[key] + "?" if key in snake else ""
            warnings.append(where + " is not an option (ignored" + hint + ")")
            continue
        if not isinstance(value, str if key in STRINGS else (str, bool, int, float)):
            kind = "a string" if key in STRINGS else "a string, number or boolean"
            warnings.append(where + " must be " + kind + ", not " + type(value).__name__ + " (ignored)")
            continue
        if key == "endpoint":
            value = str(value).strip().rstrip("/")
        if value != "" or key not in REQUIRED:
            opts[name] = value
    missing = [k for k in REQUIRED if KEYS[k] not in opts]
    if missing:
        lacks = " and no ".join(missing)
        return {}, warnings, "the PyScript config's " + repr(SECTION) + " section has no " + lacks + ": " + EXAMPLE
    return opts, warnings, None
