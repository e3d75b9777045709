"""The visitor's cookie, written by a server: a site's own backend, or the collector when it is of
the site's own domain (collector/refresh.py). Browsers cap the lifetime of cookies a script writes
(Safari: 7 days) but not of those a first-party server sets, so a server that re-sets the cookie
keeps a visitor recognisable for as long as the SDK's own intends (a year).

    from visitrail.cookies import visitor_cookie
    response.headers.append("Set-Cookie", visitor_cookie(anonymous_id, domain=".example.com"))

The same name, domain, path and format as the SDK's (core/identity.py: `visitrail_aid`, the value
URI-encoded as encodeURIComponent does, `Path=/; SameSite=Lax`, `Secure` on https), and readable
by it: never HttpOnly. CPython (and Pyodide): not part of what a page runs.
"""

from __future__ import annotations

import urllib.parse

from .core.identity import ANON_KEY, ONE_YEAR_S, SHARED_KEY
from .core.ids import looks_like_id

__all__ = ["ANON_KEY", "SHARED_KEY", "ONE_YEAR_S", "set_cookie", "visitor_cookie"]

# What encodeURIComponent leaves as it is, so that the browser reads back the SDK's own encoding.
URI_SAFE = "-_.!~*'()"


def set_cookie(
    name: str, value: str, domain: str | None = None, secure: bool = True, max_age_s: int = ONE_YEAR_S,
    http_only: bool = False,
) -> str:  # fmt: skip
    """A Set-Cookie header value: `value` URI-encoded, for `domain` (None: the host alone)."""
    parts = [f"{name}={urllib.parse.quote(value, safe=URI_SAFE)}", "Path=/", f"Max-Age={int(max_age_s)}"]
    if domain:
        parts.append(f"Domain={domain}")
    parts.append("SameSite=Lax")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)


def visitor_cookie(anonymous_id: str, domain: str | None = None, secure: bool = True) -> str:
    """The SDK's visitor cookie for `anonymous_id`, for a year. `domain`: the tag's data-domain
    (e.g. ".example.com"), so that every subdomain reads it."""
    if not looks_like_id(anonymous_id):
        raise ValueError("an anonymous ID is printable text of at most 100 characters")
    return set_cookie(ANON_KEY, anonymous_id, domain, secure)
