"""A request framed twice is refused: Transfer-Encoding and Content-Length together are how request
smuggling starts (a proxy reads one framing, the server the other). RFC 9112 6.1 lets a server
reject it, and says to close the connection after answering: 400 in JSON, `Connection: close`."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import invalid

__all__ = ["SingleFraming"]


class SingleFraming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name for name, _ in scope["headers"]}
            if b"transfer-encoding" in names and b"content-length" in names:
                error = invalid("a request must not have both Transfer-Encoding and Content-Length")
                error.headers["Connection"] = "close"
                await error(scope, receive, send)
                return
        await self.app(scope, receive, send)
