"""The read API, for tests and debugging: stored events as JSON.

    GET /api/events?anonymousId=A1            Authorization: Bearer <admin token>
    -> 200 {"events": [<stored message, with receivedAt>, ...]}   oldest first

Filters (all optional, combined with AND): anonymousId, userId, messageId, writeKey.
Paging: order=asc|desc, limit (default 1000, at most 10000), offset.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import check_admin
from .config import Config
from .errors import invalid
from .storage import Storage

__all__ = ["EventsAPI"]

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise invalid(f"{name} must be a whole number from 0 to {maximum}")
    return int(value)


class EventsAPI:
    def __init__(self, config: Config, storage: Storage) -> None:
        self.config = config
        self.storage = storage

    async def endpoint(self, request: Request) -> JSONResponse:
        check_admin(request.headers.get("authorization"), self.config.admin_token)
        params = request.query_params
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
            offset=int_param(request, "offset", 0, 2**62),  # 2**62: fits SQLite's and Postgres' int8
        )
        return JSONResponse({"events": events})
