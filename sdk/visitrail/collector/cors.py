"""CORS for the tracking API.

analytics-next (and our SDK's fetch path) sends `Authorization: Basic ...`, so every cross-origin
event is preceded by a preflight. Origins are configured per source, but a preflight carries no
credentials, so it is allowed when any source lists the origin; the POST that follows gets CORS
headers only if its origin is allowed for the write key it authenticated with, so a page can read
the responses for its own key only. Errors are readable by any configured origin, so an SDK can
tell a 400 or 401 from a network failure.
Events are stored either way, as Segment does: a write key is public, and CORS only controls
whether the page may read the response.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .config import Config, Source
from .errors import ApiError

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "cors_headers", "preflight"]

ALLOW_HEADERS = "authorization, content-type, x-retry-count"  # x-retry-count: added by client retries
ALLOW_METHODS = "POST, OPTIONS"
MAX_AGE = "600"  # seconds a browser may cache a preflight (Chromium caps it at 7,200)


def cors_headers(config: Config, origin: str | None, source: Source | None = None) -> dict[str, str]:
    headers = {"Vary": "Origin"}  # the answer depends on Origin: caches must not share it
    if origin and config.origin_allowed(origin, source):
        # Echo the exact origin: credentialed requests may not use "*".
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def preflight(request: Request, config: Config) -> Response:
    origin = request.headers.get("origin")
    headers = cors_headers(config, origin)
    if origin is None:  # not a CORS preflight, just OPTIONS
        return Response(status_code=204, headers={**headers, "Allow": ALLOW_METHODS})
    if "Access-Control-Allow-Origin" not in headers:
        raise ApiError(403, "origin_not_allowed", f"origin {origin!r} is not allowed by any source", headers=headers)
    headers.update(
        {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }
    )
    return Response(status_code=204, headers=headers)
