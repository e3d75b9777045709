"""The tracking API: `POST /v1/{identify,track,page,screen,group,alias,batch}` and analytics-next's
one-letter aliases `/v1/{i,t,p,s,g,a,b}`; `/v1/calls`, the loader's raw calls (raw_calls.py);
`/v1/m` (analytics-next's remote metrics) is acknowledged and dropped.

Answers are 200 `{"success": true}` (plus `rejected`/`unverified` lists from trust.py), or a
JSON error: 400 for bad input, 401 for an unknown write key (or, for a single call, a missing or
invalid identity token where the source requires one), 429 over the write key's rate limit
(ratelimit.py). Never 3xx (analytics-python treats it as failure) and never 500 for bad input.

Every request takes the same path: read and parse the body (body.py), find the source, take the rate
limit, make messages (a beacon's calls become a batch first), validate and normalise them all or
nothing (messages.py), apply the source's identity mode (trust.py), store (deduped by messageId) and
resolve the events into profiles, in the same transaction (storage.Storage.add, profiles.py), which
holds the events of the other requests that arrived meanwhile (group.py). The client's address is
kept truncated, in its own column, if at all (client_ip.py).
"""

from __future__ import annotations

import datetime
import math
import typing

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from . import raw_calls
from .auth import write_key_from
from .body import parse_json, read_body
from .client_ip import client_address, client_ip, limit_key
from .config import Config, Source
from .cors import cors_headers, preflight
from .errors import ApiError
from .group import GroupCommit
from .messages import batch_items, normalise
from .ratelimit import RateLimiter
from .refresh import refreshed_cookies
from .storage import Storage
from .testhooks import Faults
from .trust import Screened, screen

__all__ = ["TrackingAPI", "KINDS", "RAW_CALLS"]

# Path segment -> message type, or "batch".
KINDS = {
    "identify": "identify", "track": "track", "page": "page", "screen": "screen",
    "group": "group", "alias": "alias", "batch": "batch",
    "i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch",
}  # fmt: skip
RAW_CALLS = "calls"  # POST /v1/calls: raw_calls.py


class TrackingAPI:
    def __init__(
        self,
        config: Config,
        storage: Storage,
        clock: typing.Callable[[], datetime.datetime],
        faults: Faults | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.faults = faults
        self.limiter = limiter if limiter is not None else RateLimiter(config.rate_limit, config.rate_burst)
        self.commits = GroupCommit(storage, storage.write_slots)
        self.blocked = frozenset(config.blocked_ids)
        self.address_limiter = RateLimiter(
            config.ip_rate_limit, max(1, math.ceil(2 * config.ip_rate_limit)), what="requests from this address"
        )

    async def endpoint(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request, self.config)
        origin = request.headers.get("origin")
        segment = request.path_params["kind"]
        if segment == "m":
            return JSONResponse({"success": True}, headers=cors_headers(self.config, origin))
        try:
            kind = RAW_CALLS if segment == RAW_CALLS else KINDS.get(segment)
            if kind is None:
                raise ApiError(404, "not_found", f"no tracking endpoint /v1/{segment}")
            fault = self.faults.take() if self.faults else None
            if fault is not None:
                raise fault
            source, screened = await self.ingest(request, kind)
        except ApiError as exc:
            exc.headers.update(cors_headers(self.config, origin))
            return exc.response()
        except ClientDisconnect:  # the client is gone; nothing will read this
            return Response(status_code=400)
        response = JSONResponse(screened.answer(), headers=cors_headers(self.config, origin, source))
        for cookie in refreshed_cookies(request, source):  # a same-site collector's, once a day
            response.headers.append("set-cookie", cookie)
        return response

    async def ingest(self, request: Request, kind: str) -> tuple[Source, Screened]:
        headers = request.headers
        received_at = self.clock()  # one receivedAt for the whole request, taken on arrival
        # Every request counts here, before its body is read: invalid ones and unknown keys too.
        address = client_address(request.client.host if request.client else None,
                                 headers.get("x-forwarded-for"), self.config.trust_proxy)  # fmt: skip
        self.address_limiter.take(limit_key(address), 1)
        raw = await read_body(
            request.stream(),
            headers.get("content-encoding"),
            headers.get("content-length"),
            timeout=self.config.body_timeout,
        )
        body = parse_json(raw)
        is_calls = kind == RAW_CALLS
        is_batch = kind == "batch" or is_calls
        items = raw_calls.check_body(body) if is_calls else batch_items(body, is_batch)
        source = self.authenticate(headers.get("authorization"), body, items)
        indexes = None
        if is_calls:
            expanded = raw_calls.expand(body)
            body, items, indexes = expanded.body, expanded.items, expanded.indexes
        normalised = normalise(
            body,
            items,
            is_batch=is_batch,
            default_type=None if is_batch else kind,
            write_key=source.write_key,
            received_at=received_at,
            ip=self.address(request) if self.config.store_ip else None,
            indexes=indexes,
            noun="call" if is_calls else "message",
            store_ip=self.config.store_ip,
            blocked=self.blocked,
            user_agent=headers.get("user-agent"),
            origin=headers.get("origin"),
        )
        # Charged for valid messages only: a stranger's junk must not spend a site's budget.
        self.limiter.take(source.write_key, len(normalised))
        screened = screen(source, normalised, indexes)
        error = None if is_batch else screened.single_call_error()
        if error is not None:
            raise error
        if screened.events:
            added = await self.commits.add(screened.events)
            screened.refuse(added.refused)
            error = None if is_batch else screened.single_call_refusal(added.refused)
            if error is not None:
                raise error
        return source, screened

    def authenticate(self, authorization: str | None, body: typing.Any, items: list[typing.Any]) -> Source:
        source = self.config.source(write_key_from(authorization, body, items))
        if source is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing or unknown write key: send HTTP Basic auth with the write key as username, "
                "or a writeKey field in the body",
            )
        return source

    def address(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        return client_ip(peer, request.headers.get("x-forwarded-for"), self.config.trust_proxy)
