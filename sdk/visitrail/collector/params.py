"""Query parameters of the read API and the dashboard, read one way."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import invalid

__all__ = ["MAX_OFFSET", "single", "int_param", "bots_param", "PlainText"]

MAX_OFFSET = 2**62  # fits SQLite's and Postgres' int8


def single(request: Request, name: str) -> str | None:
    """The one value of parameter `name`, None when absent; 400 when it is given twice (Starlette's
    `get` would take the last, so `bots=bad&bots=include` passed)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid(f"{name} must be given once")
    return values[0] if values else None


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    """A whole number from 0 to `maximum`, `default` when absent; 400 otherwise."""
    value = single(request, name)
    if value is None:
        return default
    # Length first: int() of a string over 4,300 digits raises ValueError (a 500).
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(maximum)) or int(value) > maximum:
        raise invalid(f"{name} must be a whole number from 0 to {maximum}")
    return int(value)


def bots_param(request: Request) -> bool:
    """`bots=include` counts and lists bots' sessions too; without it they are left out."""
    value = single(request, "bots")
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
