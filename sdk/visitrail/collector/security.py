"""Security headers for everything but the browser assets: the dashboard, the read API, and the
tracking API's JSON answers.

- `X-Content-Type-Options: nosniff` everywhere: a JSON answer holding an event's text can't be
  sniffed into HTML or script.
- A Content-Security-Policy: HTML pages (the dashboard) may load nothing but their own hashed
  inline style sheet and post forms to this origin; other answers may load nothing at all. Both
  forbid framing (`frame-ancestors 'none'`, and X-Frame-Options for older browsers).
- `Referrer-Policy: same-origin` and `Cache-Control: no-store` (unless a route set its own):
  profile pages and API answers hold personal data, and their URLs name people. Not no-referrer:
  under it Chromium sends `Origin: null` with the login form's POST, which the dashboard's
  same-origin check (dashboard.py) must then refuse.
/analytics/ is left alone: its files are served to other origins' pages, CORS and all (static.py).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "API_CSP", "API_HEADERS", "html_csp", "secured"]

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# For answers given where no middleware runs: uvicorn's protocol errors, a 500 (connections.py, app.py).
API_HEADERS = [
    (b"content-security-policy", API_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def secured(headers: dict[str, str] | None = None) -> dict[str, str]:
    """`headers` plus API_HEADERS, for a response built by hand."""
    return {**{name.decode(): value.decode() for name, value in API_HEADERS}, **(headers or {})}


UNTOUCHED_PREFIXES = ("/analytics/",)


def html_csp(style_hash: str) -> str:
    return (
        f"default-src 'none'; style-src '{style_hash}'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, style_hash: str) -> None:
        self.app = app
        self.html_csp = html_csp(style_hash)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTOUCHED_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_html = headers.get("content-type", "").startswith("text/html")
                headers["Content-Security-Policy"] = self.html_csp if is_html else API_CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
