"""The sessions read API (admin bearer token, or the dashboard's cookie).

    GET /api/sessions?profileId=P&limit=100
    -> 200 {"sessions": [<session>, ...]}   the profile's (and the profiles merged into it), the
       last active first, bots' included (the profile is what was asked for)
    GET /api/sessions?from=2026-11-01&to=2026-11-08&limit=100[&bots=include]
    -> 200 {"sessions": [<session>, ...]}   those that started in [from, to), the latest first;
       from and to are ISO-8601 dates or date-times (UTC unless they say otherwise), both optional

    <session> = {"sessionId", "profileId", "firstSeen", "lastSeen", "durationMs", "eventCount",
                 "pageViews", "entryUrl", "exitUrl", "referrer",
                 "campaign": {"source", "medium", "name", "term", "content"}, "clickIds": {...},
                 "engagedMs", "bounce", "bot"}

The table behind it: storage/sessions.py; the fields: README.md, "Sessions".
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import invalid
from .logins import Logins
from .params import bots_param, int_param
from .storage import Storage
from .timestamps import format_timestamp, parse_timestamp

__all__ = ["SessionsAPI"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def time_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise invalid(f"{name} must be an ISO-8601 date or date-time")
    return format_timestamp(parsed)


class SessionsAPI:
    def __init__(self, storage: Storage, logins: Logins) -> None:
        self.storage = storage
        self.logins = logins

    async def endpoint(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        params = request.query_params
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        if "profileId" in params:
            if any(name in params for name in ("from", "to", "bots")):
                raise invalid("profileId can't be combined with from, to or bots")
            return JSONResponse({"sessions": await self.storage.sessions(profile_id=params["profileId"], limit=limit)})
        start, end = time_param(request, "from"), time_param(request, "to")
        found = await self.storage.sessions(start=start, end=end, limit=limit, bots=bots_param(request))
        return JSONResponse({"sessions": found})
