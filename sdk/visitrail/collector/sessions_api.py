"""The sessions read API (admin bearer token, or the dashboard's cookie).

    GET /api/sessions?profileId=P&limit=100&offset=0
    -> 200 {"sessions": [<session>, ...], "next": 100 | null}   the profile's (and the profiles
       merged into it), the last active first, bots' included (the profile is what was asked for)
    GET /api/sessions?from=2026-11-01&to=2026-11-08&limit=100&offset=0[&bots=include]
    -> 200 {"sessions": [<session>, ...], "next": 100 | null}   those that started in [from, to),
       the latest first; from and to are ISO-8601 dates or date-times (UTC unless they say
       otherwise), both optional

`next` is the offset of the next page, null on the last one (as GET /api/events pages).

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
from .params import MAX_OFFSET, bots_param, int_param, single
from .storage import Storage
from .timestamps import format_timestamp, parse_timestamp

__all__ = ["SessionsAPI"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def time_param(request: Request, name: str) -> str | None:
    value = single(request, name)
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
        offset = int_param(request, "offset", 0, MAX_OFFSET)
        # Each asks for one more than `limit`: whether it comes back says if there is a next page.
        profile_id = single(request, "profileId")
        if profile_id is not None:
            if any(name in params for name in ("from", "to", "bots")):
                raise invalid("profileId can't be combined with from, to or bots")
            found = await self.storage.sessions(profile_id=profile_id, limit=limit + 1, offset=offset)
        else:
            start, end = time_param(request, "from"), time_param(request, "to")
            found = await self.storage.sessions(
                start=start, end=end, limit=limit + 1, offset=offset, bots=bots_param(request)
            )
        more = len(found) > limit
        return JSONResponse({"sessions": found[:limit], "next": offset + limit if more else None})
