"""The visitor's cookies, refreshed by the collector (README, "One person across domains").

When a source names the site's cookie domain (`cookieDomain`, `--cookie-domain .example.com`) and a
page of that domain sends to a collector of that domain (same-site: `https://collect.example.com` or
a path of the site's own host behind a reverse proxy), the SDK's requests carry the site's cookies
(core/links.same_site) and the answer re-sets `visitrail_aid` and `visitrail_uid` as they are, for a
year, with the attributes the SDK gives them (visitrail/cookies.py). At most once a day per browser:
`visitrail_refreshed` (a day, HttpOnly, of no use to anyone else) says it was done, and costs no
request of its own. A cross-site collector gets no cookies and sets none.

Why it matters: Safari caps a cookie that script writes at 7 days, so a weekly visitor would be new
each week; a cookie set by a first-party server's answer is not capped so. A collector on a host
that merely CNAMEs to a third party's does not count as first-party for Safari (it checks where the
name resolves), hence the reverse-proxy recipe (deploy/nginx.conf).
"""

from __future__ import annotations

import json
import urllib.parse

from starlette.requests import Request

from visitrail.cookies import ANON_KEY, SHARED_KEY, set_cookie
from visitrail.core.identity import MAX_SHARED_CHARS
from visitrail.core.ids import looks_like_id
from visitrail.core.links import linked_domain

from .config import Source

__all__ = ["REFRESHED", "refreshed_cookies"]

REFRESHED = "visitrail_refreshed"
DAY_S = 24 * 3600


def _within(url_or_host: str | None, domain: str) -> bool:
    if not url_or_host:
        return False
    url = url_or_host if "://" in url_or_host else "http://" + url_or_host
    return linked_domain(url, [domain.lstrip(".").lower()])


def _shared_ok(raw: str, aid: str) -> bool:
    try:
        record = json.loads(urllib.parse.unquote(raw))
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("a") == aid and len(raw) <= 3 * MAX_SHARED_CHARS


def refreshed_cookies(request: Request, source: Source) -> list[str]:
    """The Set-Cookie values for this answer: none, or the two cookies and the day's marker."""
    domain = source.cookie_domain
    cookies = request.cookies
    if not domain or REFRESHED in cookies or ANON_KEY not in cookies:
        return []
    if not (_within(request.headers.get("origin"), domain) and _within(request.headers.get("host"), domain)):
        return []  # not same-site: the browser would not have sent them anyway
    aid = urllib.parse.unquote(cookies[ANON_KEY])
    if not looks_like_id(aid):
        return []
    secure = request.url.scheme == "https"
    out = [set_cookie(ANON_KEY, aid, domain, secure)]
    if SHARED_KEY in cookies and _shared_ok(cookies[SHARED_KEY], aid):
        out.append(set_cookie(SHARED_KEY, urllib.parse.unquote(cookies[SHARED_KEY]), domain, secure))
    out.append(set_cookie(REFRESHED, "1", domain, secure, DAY_S, http_only=True))
    return out
