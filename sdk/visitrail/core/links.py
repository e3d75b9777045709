"""The cross-domain linker: a link to a site on another registrable domain carries the visitor and
the session, so that both sites' events are one person's without an alias.

    https://shop.example/cart?vt_link=<token>

The token is base64url of the JSON [1, visitor ID, session ID, time in ms, write key digest]: made
at click time (decorate), it is taken on the landing page only when it is at most `max_age_ms` old,
well-formed, and for the same write key (a link from another Visitrail customer's site names
another visitor space); never when this browser already has a signed-in user, whose identity wins.
Taken or not, it is removed from the address bar and from every event's page (strip), so it never
travels further (a shared link would otherwise hand the visitor to whoever opens it).

Plain string work: MicroPython has no urllib.
"""

import binascii
import json

from .ids import digest, looks_like_id

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any

PARAM = "vt_link"
FORMAT = 1
DEFAULT_MAX_AGE_S = 120


def key_digest(write_key: "str") -> "str":
    return digest("visitrail-link|" + write_key)[:12]


def token(anonymous_id: "str", session_id: "str | None", now_ms: "int", write_key: "str") -> "str":
    raw = json.dumps([FORMAT, anonymous_id, session_id, now_ms, key_digest(write_key)]).encode()
    text = binascii.b2a_base64(raw).decode().strip()
    return text.replace("+", "-").replace("/", "_").rstrip("=")


def read(text: "str", write_key: "str", now_ms: "int", max_age_ms: "int") -> "tuple[str | None, Any]":
    """(why it is refused, None) or (None, (visitor ID, session ID or None, time ms))."""
    try:
        padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
        value = json.loads(binascii.a2b_base64(padded.encode()).decode())  # bytes: MicroPython takes no str
    except Exception:
        return "malformed", None
    if not isinstance(value, list) or len(value) != 5 or value[0] != FORMAT:
        return "malformed", None
    _format, aid, sid, at, key = value
    if not looks_like_id(aid) or (sid is not None and not looks_like_id(sid)):
        return "malformed", None
    if not isinstance(at, int) or isinstance(at, bool):
        return "malformed", None
    if key != key_digest(write_key):
        return "for another write key", None
    if now_ms - at > max_age_ms or at - now_ms > max_age_ms:
        return "expired", None
    return None, (aid, sid, at)


def _split(url: "str") -> "tuple[str, str, str]":
    """(everything before the query, the query without "?", the fragment with its "#")."""
    fragment = ""
    if "#" in url:
        url, fragment = url.split("#", 1)
        fragment = "#" + fragment
    base, query = url, ""
    if "?" in url:
        base, query = url.split("?", 1)
    return base, query, fragment


def _without(query: "str") -> "list[str]":
    return [p for p in query.split("&") if p and p.split("=", 1)[0] != PARAM]


def param(url: "str") -> "str | None":
    """The link token a URL carries, if any."""
    for part in _split(url)[1].split("&"):
        name, _, value = part.partition("=")
        if name == PARAM and value:
            return value
    return None


def without_token(url: "Any") -> "Any":
    """`url` without the link token (anything else is returned as it is)."""
    if not isinstance(url, str) or PARAM + "=" not in url:
        return url
    base, query, fragment = _split(url)
    rest = _without(query)
    return base + ("?" + "&".join(rest) if rest else "") + fragment


def decorate(url: "str", value: "str") -> "str":
    """`url` with the link token (a previous one replaced)."""
    base, query, fragment = _split(url)
    return base + "?" + "&".join(_without(query) + [PARAM + "=" + value]) + fragment  # no [*x]: MicroPython


def page_without_token(page: "Any") -> "Any":
    """An event's page, the token taken out of its url, search and referrer."""
    if not isinstance(page, dict):
        return page
    out = dict(page)
    for key in ("url", "referrer", "search"):
        if key in out:
            out[key] = without_token(out[key])
    return out


def host_of(url: "str") -> "str":
    rest = url.split("://", 1)[1] if "://" in url else ""
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0].lower()


def linked_domain(url: "str", domains: "list[str]") -> "bool":
    """Does `url` go to one of the domains a site links to (data-link-domains), or a subdomain of one?"""
    host = host_of(url)
    return bool(host) and any(host == d or host.endswith("." + d) for d in domains)


def same_site(endpoint: "str", cookie_domain: "Any") -> "bool":
    """Is the collector at `endpoint` within the site's cookie domain (data-domain, e.g.
    ".example.com")? Then its requests may carry the site's cookies, and it may refresh them."""
    if not isinstance(cookie_domain, str) or not cookie_domain.strip(". "):
        return False
    return linked_domain(endpoint, [cookie_domain.strip().lower().lstrip(".")])


def domains_of(value: "Any") -> "list[str]":
    """data-link-domains: comma-separated host names."""
    if not isinstance(value, str):
        return []
    return [d.strip().lower().lstrip(".") for d in value.split(",") if d.strip()]
