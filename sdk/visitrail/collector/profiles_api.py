"""The profiles read API (admin bearer token, or the dashboard's cookie).

    GET /api/profiles/lookup?userId=U1      (or ?anonymousId=A1)
    -> 200 {"profileId", "userIds", "anonymousIds", "traits", "eventCount", "firstSeen", "lastSeen",
            "sessions": [<session>, ...]}   the last active first: sessions_api.py's shape; the
       traits include the first visit's (initial_*: storage/reads.py, first_touch)
       404 {"code": "not_found"} if that ID was never seen
    GET /api/profiles/{profileId}           the same, by profileId (404 once merged into another)
    GET /api/profiles/{profileId}/log?limit=100
    -> 200 {"log": [{"kind": "merged" | "refused", "messageId", "writeKey", "ids": [{"kind", "value"}],
                     "reason", "otherProfileId", "receivedAt"}, ...]}   newest first: the merge log,
       every merge into the profile (and the profiles merged into it) and every link refused
       (identity limits, a shared device, an alias without proof), with the event that caused it
    GET /api/profiles?query=acme&limit=50
    -> 200 {"profiles": [<the same without sessions>, ...]}   last seen first; an ID or a trait value
       contains `query`, case-insensitively; no query lists the profiles seen last

    DELETE /api/profiles/{profileId}        the right to erasure
    -> 200 {"profileId", "events": 12, "identities": 3}   rows deleted, in one transaction: the
       profile, its traits, every ID it holds and every event that belongs to it
       404 if there is no such profile

A profile's events: GET /api/events?profileId=... (events_api.py). Identity rules: profiles.py.
"verified" (trust.py) is true once an event with a valid identity token reached the profile.
The CLI erases too: `visitrail erase --user-id U` (cli.py).
"""

from __future__ import annotations

import datetime
import typing

from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import check_same_origin
from .config import Config
from .errors import ApiError, invalid
from .logins import Logins
from .params import int_param
from .storage import Storage

__all__ = ["ProfilesAPI"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class ProfilesAPI:
    def __init__(
        self, config: Config, storage: Storage, logins: Logins, clock: typing.Callable[[], datetime.datetime]
    ) -> None:
        self.config = config
        self.storage = storage
        self.logins = logins
        self.clock = clock

    async def lookup(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        params = request.query_params
        given = [name for name in ("userId", "anonymousId") if params.get(name)]
        if len(given) != 1:
            raise invalid("give exactly one of userId or anonymousId")
        ids = {"user_id": params["userId"]} if given == ["userId"] else {"anonymous_id": params["anonymousId"]}
        profile = await self.storage.profile_of(**ids)
        if profile is None:
            raise ApiError(404, "not_found", f"no profile has {given[0]} {params[given[0]]!r}")
        return JSONResponse(profile)

    async def get(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        profile_id = request.path_params["profile_id"]
        return await self._profile(profile_id, f"no profile {profile_id!r}")

    async def _profile(self, profile_id: str | None, missing: str) -> JSONResponse:
        profile = None if profile_id is None else await self.storage.profile(profile_id)
        if profile is None:
            raise ApiError(404, "not_found", missing)
        return JSONResponse(profile)

    async def log(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        profile_id = request.path_params["profile_id"]
        limit = int_param(request, "limit", 100, MAX_LIMIT)
        if await self.storage.profile(profile_id) is None:
            raise ApiError(404, "not_found", f"no profile {profile_id!r}")
        return JSONResponse({"log": await self.storage.profile_log(profile_id, limit=limit)})

    async def erase(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        check_same_origin(request)  # with the dashboard's cookie, only the dashboard's own pages may erase
        profile_id = request.path_params["profile_id"]
        erased = await self.storage.erase_profile(profile_id=profile_id, now=self.clock())
        if erased is None:
            raise ApiError(404, "not_found", f"no profile {profile_id!r}")
        return JSONResponse(erased)

    async def search(self, request: Request) -> JSONResponse:
        await self.logins.require(request)
        query = request.query_params.get("query", "").strip()
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        return JSONResponse({"profiles": await self.storage.search_profiles(query, limit)})
