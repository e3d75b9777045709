"""Who is calling: the write key of a tracking request, and the admin of the read API and dashboard.

The admin proves it with `Authorization: Bearer <admin token>`, or, in a browser, with the session
cookie the dashboard's login form sets: `<expiry>.<HMAC-SHA256(admin token, expiry)>`. The cookie
holds no secret and no state, so it works across collector processes that share the token, and
changing the token logs every browser out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import typing

from starlette.requests import HTTPConnection

from .errors import ApiError

__all__ = [
    "SESSION_COOKIE", "SESSION_SECONDS", "write_key_from", "check_admin", "check_admin_request", "is_admin",
    "session_cookie",
]  # fmt: skip

SESSION_COOKIE = "visitrail_session"
SESSION_SECONDS = 12 * 3600


def basic_username(authorization: str | None) -> str | None:
    """The username of an HTTP Basic header, or None if there is no usable one.

    Segment's docs ask for base64("key:"), but keys encoded without the colon "might work due to
    backward compatibility", so the colon is optional.
    """
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def write_key_from(authorization: str | None, body: typing.Any, items: list[typing.Any]) -> str | None:
    """Basic auth first; else the body's `writeKey`; for a batch, else the first item's.

    Beacons can't set headers, and OAuth callers send `Bearer` plus the key in the body.
    """
    key = basic_username(authorization)
    if key is None and isinstance(body, dict):
        key = body.get("writeKey")
    if key is None and items and isinstance(items[0], dict):
        key = items[0].get("writeKey")
    return key if isinstance(key, str) and key else None


def _signature(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"visitrail-dashboard:{expires}".encode(), hashlib.sha256).hexdigest()


def session_cookie(token: str, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + SESSION_SECONDS
    return f"{expires}.{_signature(token, expires)}"


def valid_session(cookie: str | None, token: str, now: float | None = None) -> bool:
    expires, _, signature = (cookie or "").partition(".")
    if not (expires.isascii() and expires.isdigit()) or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, int(expires)).encode())


def is_admin(authorization: str | None, token: str, cookie: str | None = None) -> bool:
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    # compare_digest: the token's value must not leak through response timing.
    if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode()):
        return True
    return valid_session(cookie, token)


def check_admin(authorization: str | None, token: str, cookie: str | None = None) -> None:
    """Raise 401 unless the caller is the admin: by bearer token, or by session `cookie` if given."""
    if not is_admin(authorization, token, cookie):
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <admin token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_admin_request(request: HTTPConnection, token: str) -> None:
    """`check_admin` for a read request: the bearer token or the dashboard's session cookie."""
    check_admin(request.headers.get("authorization"), token, request.cookies.get(SESSION_COOKIE))
