"""Query parameters of the read API and the dashboard, read one way."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import invalid

__all__ = ["MAX_OFFSET", "int_param", "bots_param", "PlainText"]

MAX_OFFSET = 2**62  # fits SQLite's and Postgres' int8


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    """A whole number from 0 to `maximum`, `default` when absent; 400 otherwise."""
    value = request.query_params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise invalid(f"{name} must be a whole number from 0 to {maximum}")
    return int(value)


def bots_param(request: Request) -> bool:
    """`bots=include` counts and lists bots' sessions too; without it they are left out."""
    value = request.query_params.get("bots")
    if value not in (None, "include", "exclude"):
        raise invalid("bots must be include or exclude")
    return value == "include"


class PlainText:
    """400 for a NUL in any path or query parameter, before a route sees it: PostgreSQL's text
    can't hold one (a 500 from the driver), and SQLite's LIKE stops at it (`query=%00` matched
    every profile). Tracking bodies are checked on their own (messages.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = urllib.parse.unquote_to_bytes(scope.get("query_string", b""))
            if "\x00" in scope["path"] or b"\x00" in query:
                await invalid("a NUL character (%00) can't be part of a path or a query")(scope, receive, send)
                return
        await self.app(scope, receive, send)
