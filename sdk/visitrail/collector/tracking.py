"""The tracking API: `POST /v1/{identify,track,page,screen,group,alias,batch}` and analytics-next's
one-letter aliases `/v1/{i,t,p,s,g,a,b}`; `/v1/m` (analytics-next's remote metrics) is acknowledged
and dropped. Answers are 200 `{"success": true}`, or a JSON error: 400 for bad input, 401 for an
unknown write key. Never 3xx (analytics-python treats it as failure) and never 500 for bad input.
"""

from __future__ import annotations

import datetime
import typing

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .auth import write_key_from
from .body import parse_json, read_body
from .config import Config, Source
from .cors import cors_headers, preflight
from .errors import ApiError
from .messages import batch_items, normalise
from .storage import Storage
from .testhooks import Faults

__all__ = ["TrackingAPI", "KINDS"]

# Path segment -> message type, or "batch".
KINDS = {
    "identify": "identify", "track": "track", "page": "page", "screen": "screen",
    "group": "group", "alias": "alias", "batch": "batch",
    "i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch",
}  # fmt: skip


class TrackingAPI:
    def __init__(
        self,
        config: Config,
        storage: Storage,
        clock: typing.Callable[[], datetime.datetime],
        faults: Faults | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.faults = faults

    async def endpoint(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request, self.config)
        origin = request.headers.get("origin")
        segment = request.path_params["kind"]
        if segment == "m":
            return JSONResponse({"success": True}, headers=cors_headers(self.config, origin))
        try:
            kind = KINDS.get(segment)
            if kind is None:
                raise ApiError(404, "not_found", f"no tracking endpoint /v1/{segment}")
            fault = self.faults.take() if self.faults else None
            if fault is not None:
                raise fault
            source = await self.ingest(request, kind)
        except ApiError as exc:
            exc.headers.update(cors_headers(self.config, origin))
            return exc.response()
        except ClientDisconnect:  # the client is gone; nothing will read this
            return Response(status_code=400)
        return JSONResponse({"success": True}, headers=cors_headers(self.config, origin, source))

    async def ingest(self, request: Request, kind: str) -> Source:
        headers = request.headers
        received_at = self.clock()  # one receivedAt for the whole request, taken on arrival
        raw = await read_body(request.stream(), headers.get("content-encoding"), headers.get("content-length"))
        body = parse_json(raw)
        is_batch = kind == "batch"
        items = batch_items(body, is_batch)
        source = self.config.source(write_key_from(headers.get("authorization"), body, items))
        if source is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing or unknown write key: send HTTP Basic auth with the write key as username, "
                "or a writeKey field in the body",
            )
        events = normalise(
            body,
            items,
            is_batch=is_batch,
            default_type=None if is_batch else kind,
            write_key=source.write_key,
            received_at=received_at,
        )
        if events:
            await self.storage.add(events)
        return source
