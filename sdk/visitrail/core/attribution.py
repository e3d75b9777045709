"""Where a session came from: its entry page's campaign, as Segment's `context.campaign`.

    https://www.example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring&gclid=abc

    -> {"source": "news", "medium": "email", "name": "spring", "gclid": "abc"}

`campaign(page)` reads the page's query: the five `utm_*` parameters under Segment's names
(utm_campaign is `name`), and the ad platforms' click IDs under their own names. Parameter names
are matched in any case; values are percent-decoded (`+` is a space), trimmed, and cut to
MAX_VALUE_CHARS; an empty value is no value; the first occurrence of a name wins. A query that
cannot be read gives what could be read, never an error.

sessions.py keeps the campaign of the page that started the session in the session record, so
every event of the session carries it (events.py), also on later pages whose URL has lost its
parameters. Plain string work: MicroPython has no urllib.
"""

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

# The query parameter -> its key in context.campaign.
UTM = (
    ("utm_campaign", "name"),
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_term", "term"),
    ("utm_content", "content"),
)
# Google Ads (gclid; gbraid and wbraid on iOS), Meta, Microsoft Ads, TikTok, LinkedIn, X.
CLICK_IDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid")
KEYS = dict(list(UTM) + [(c, c) for c in CLICK_IDS])
MAX_VALUE_CHARS = 500
MAX_URL_CHARS = 2048  # the entry URL and referrer the session record keeps
HEX = "0123456789abcdefABCDEF"


def unquote(text: "str") -> "str":
    """Percent-decoding of a query value (UTF-8; `+` is a space). Text that is not valid UTF-8
    once decoded is returned with only its `+` replaced."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    parts = text.split("%")
    out = bytearray(parts[0].encode())
    for part in parts[1:]:
        if len(part) >= 2 and part[0] in HEX and part[1] in HEX:
            out.append(int(part[:2], 16))
            out.extend(part[2:].encode())
        else:
            out.extend(b"%")
            out.extend(part.encode())
    try:
        return bytes(out).decode("utf-8")
    except Exception:  # UnicodeError; MicroPython raises it for a bad sequence too
        return text


def query_of(page: "Any") -> "str":
    """The query string (without "?") of an event's page: its url's, else its search's."""
    if not isinstance(page, dict):
        return ""
    for key in ("url", "search"):
        value = page.get(key)
        if isinstance(value, str) and "?" in value:
            query = value.split("#", 1)[0].split("?", 1)[1]
            if query:
                return query
    return ""


def campaign(page: "Any") -> "dict[str, str]":
    """context.campaign of a page (an event's {path, url, search, ...}): see the module docstring."""
    out: "dict[str, str]" = {}
    for part in query_of(page).split("&"):
        name, _, value = part.partition("=")
        key = KEYS.get(name.strip().lower())
        if key is None or key in out:
            continue
        value = unquote(value).strip()[:MAX_VALUE_CHARS]
        if value:
            out[key] = value
    return out


def clean(value: "Any") -> "dict[str, str] | None":
    """A campaign as a stored record holds it, if it is one (hand-edited storage is not trusted)."""
    if not isinstance(value, dict):
        return None
    out: "dict[str, str]" = {}
    for key, v in value.items():
        if isinstance(key, str) and isinstance(v, str) and v:
            out[key] = v[:MAX_VALUE_CHARS]
    return out


def cut(value: "Any") -> "str":
    """An entry URL or referrer as the session record keeps it: a string, at most MAX_URL_CHARS."""
    return value[:MAX_URL_CHARS] if isinstance(value, str) else ""
