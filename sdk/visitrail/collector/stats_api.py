"""The overview's figures as JSON (admin bearer token, or the dashboard's cookie): exactly what the
dashboard's overview page shows (dashboard.py).

    GET /api/stats?range=today|7d|30d[&bots=include]
    -> 200 {
         "range": "7d",
         "from": "2026-11-19T00:00:00.000Z", "to": "2026-11-25T12:00:00.501Z",   [from, to): UTC days to now
         "previous": {"from": "2026-11-12T00:00:00.000Z", "to": "2026-11-18T12:00:00.501Z"},
         "bots": "exclude" | "include",
         "botSessions": 2,                     bots' sessions in the range, counted either way
         "totals": {
           "visitors" | "sessions" | "identifiedUsers" | "pageViews" | "medianEngagedMs":
               {"value": 3, "previous": 2, "change": 50.0},     change: percent, null when previous is 0
           "bounceRate": {"value": 40.0, "previous": 50.0, "change": -10.0}   percent; change in points
         },
         "days": [{"date": "2026-11-19", "visitors", "sessions", "identifiedUsers", "bounces",
                   "pageViews", "bounceRate"}, ...],          every day of the range, oldest first
         "topEntryPages": [{"url", "sessions"}, ...],         at most 10 each, most sessions first
         "topReferrers": [{"domain", "sessions"}, ...],
         "topSources": [{"source", "sessions"}, ...]
       }
    -> 400 {"code": "invalid_request", ...} for another range or bots value

range defaults to 7d. A rate or a median of no sessions is null. What each figure counts:
storage/stats.py; README.md, "The collector".
"""

from __future__ import annotations

import datetime
import typing

from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import invalid
from .logins import Logins
from .params import bots_param, single
from .storage import Storage
from .storage.stats import DEFAULT_RANGE, RANGES

__all__ = ["StatsAPI", "range_param"]


def range_param(request: Request) -> str:
    """`range`: one of stats.RANGES, DEFAULT_RANGE when absent; 400 otherwise."""
    value = single(request, "range")
    if value is None:
        return DEFAULT_RANGE
    if value not in RANGES:
        raise invalid(f"range must be one of {', '.join(RANGES)}")
    return value


class StatsAPI:
    def __init__(self, storage: Storage, logins: Logins, clock: typing.Callable[[], datetime.datetime]) -> None:
        self.storage = storage
        self.logins = logins
        self.clock = clock

    async def endpoint(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        name, bots = range_param(request), bots_param(request)
        return JSONResponse(await self.storage.stats(name, self.clock(), bots))
