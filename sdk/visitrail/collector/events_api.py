"""The read API, for tests and debugging: stored events as JSON.

    GET /api/events?anonymousId=A1            Authorization: Bearer <admin token> (or the dashboard's cookie)
    -> 200 {"events": [<stored message, with receivedAt>, ...]}   oldest first

Filters (all optional, combined with AND): anonymousId, userId, messageId, writeKey.
Paging: order=asc|desc, limit (default 1000, at most 10000), offset.

    GET /api/events?profileId=P&limit=100&offset=0
    -> 200 {"events": [...], "next": 100 | null}    newest first, by skew-corrected timestamp

A profile's events, whichever IDs they carry, with its sessions' Session Started and Session Ended
(`type: "track"`, `derived: true`: made by the collector from the sessions table, never sent by a
browser; Ended once the session has been idle past the SDK's default timeout, 30 minutes); `next`
is the offset of the next page, null on the last one. profileId takes no other filter and no `order`.
"""

from __future__ import annotations

import datetime
import typing

from starlette.requests import Request
from starlette.responses import JSONResponse

from .config import Config
from .errors import invalid
from .logins import Logins
from .params import MAX_OFFSET, int_param
from .storage import Storage

__all__ = ["EventsAPI"]

DEFAULT_LIMIT = 1000
DEFAULT_PROFILE_LIMIT = 100
MAX_LIMIT = 10000
FILTERS = ("anonymousId", "userId", "messageId", "writeKey", "order")


class EventsAPI:
    def __init__(
        self, config: Config, storage: Storage, logins: Logins, clock: typing.Callable[[], datetime.datetime]
    ) -> None:
        self.config = config
        self.storage = storage
        self.logins = logins
        self.clock = clock

    async def endpoint(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        params = request.query_params
        if "profileId" in params:
            return await self.profile_events(request)
        order = params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise invalid("order must be asc or desc")
        events = await self.storage.find(
            write_key=params.get("writeKey"),
            anonymous_id=params.get("anonymousId"),
            user_id=params.get("userId"),
            message_id=params.get("messageId"),
            descending=order == "desc",
            limit=int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT),
            offset=int_param(request, "offset", 0, MAX_OFFSET),
        )
        return JSONResponse({"events": events})

    async def profile_events(self, request: Request) -> JSONResponse:
        params = request.query_params
        if any(name in params for name in FILTERS):
            raise invalid("profileId can't be combined with other filters or order; its events are newest first")
        limit = int_param(request, "limit", DEFAULT_PROFILE_LIMIT, MAX_LIMIT)
        offset = int_param(request, "offset", 0, MAX_OFFSET)
        # One more than asked for: whether it comes back says if there is a next page.
        events = await self.storage.profile_events(
            params["profileId"], limit=limit + 1, offset=offset, now=self.clock()
        )
        more = len(events) > limit
        return JSONResponse({"events": events[:limit], "next": offset + limit if more else None})
