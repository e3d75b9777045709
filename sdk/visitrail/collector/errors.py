"""The collector's one error type, rendered as Segment-style JSON: `{"code", "message"[, "errors"]}`.

analytics-python reads `code` and `message` from any non-2xx body (segment/analytics/request.py),
so every refusal, including 404 and 405, is answered this way.
"""

from __future__ import annotations

import typing

from starlette.responses import JSONResponse

__all__ = ["ApiError", "invalid"]


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        errors: list[dict[str, typing.Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, typing.Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the body, e.g. the "error" our browser SDK reads

    def response(self) -> JSONResponse:
        content: dict[str, typing.Any] = {"code": self.code, "message": self.message, **self.extra}
        if self.errors is not None:
            content["errors"] = self.errors
        return JSONResponse(content, status_code=self.status_code, headers=self.headers)

    async def __call__(self, scope: typing.Any, receive: typing.Any, send: typing.Any) -> None:
        """Answer as an ASGI app, for middleware that refuses a request itself."""
        await self.response()(scope, receive, send)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.status_code}, {self.code!r}, {self.message!r})"


def invalid(message: str, errors: list[dict[str, typing.Any]] | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, errors)
