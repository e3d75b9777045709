"""A fault switch for end-to-end tests: make the next N tracking requests fail.

Mounted only with `visitrail serve --test-hooks`, and guarded by the admin token:

    POST /api/test/fail-next
    Authorization: Bearer <admin token>
    {"count": 3, "status": 503, "retryAfter": 1}      -> 200 {"count": 3, "status": 503}

The next `count` POSTs to /v1/* (not /v1/m, not preflights) are answered with `status` and a JSON
error body, without being read or stored. `retryAfter` (seconds) adds a Retry-After header, e.g.
with status 429. `{"count": 0}` disarms it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import check_admin
from .body import parse_json, read_body
from .errors import ApiError, invalid

__all__ = ["Faults"]


class Faults:
    def __init__(self) -> None:
        self.remaining = 0
        self.status = 503
        self.retry_after: int | None = None

    def take(self) -> ApiError | None:
        """The error the current request must fail with, if the switch is armed."""
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return ApiError(self.status, "test_failure", "failure injected by POST /api/test/fail-next", headers=headers)

    async def arm(self, request: Request, admin_token: str) -> JSONResponse:
        check_admin(request.headers.get("authorization"), admin_token)
        body = parse_json(await read_body(request.stream(), limit=1024))
        if not isinstance(body, dict):
            raise invalid('expected {"count": N, "status"?: 4xx/5xx, "retryAfter"?: seconds}')
        count = body.get("count")
        status = body.get("status", 503)
        retry_after = body.get("retryAfter")
        if not isinstance(count, int) or count < 0:
            raise invalid('expected {"count": N, "status"?: 4xx/5xx, "retryAfter"?: seconds}')
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise invalid("status must be an HTTP error status, 400-599")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise invalid("retryAfter must be a whole number of seconds")
        self.remaining, self.status, self.retry_after = count, status, retry_after
        return JSONResponse({"count": count, "status": status})
