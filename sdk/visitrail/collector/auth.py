"""Who is calling: the write key of a tracking request, and the admin of the read API and dashboard.

The admin proves it with `Authorization: Bearer <admin token>`, or, in a browser, with the login
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
import urllib.parse

from starlette.requests import HTTPConnection, Request

from .errors import ApiError

__all__ = [
    "LOGIN_COOKIE", "LOGIN_SECONDS", "write_key_from", "check_admin", "check_admin_request", "is_admin",
    "login_cookie", "check_same_origin",
]  # fmt: skip

# Not "session": an analytics session is something else, and the SDK's localStorage key.
LOGIN_COOKIE = "visitrail_login"
LOGIN_SECONDS = 12 * 3600


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


def login_cookie(token: str, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + LOGIN_SECONDS
    return f"{expires}.{_signature(token, expires)}"


def valid_login(cookie: str | None, token: str, now: float | None = None) -> bool:
    expires, _, signature = (cookie or "").partition(".")
    if not (expires.isascii() and expires.isdigit()) or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, int(expires)).encode())


def is_admin(authorization: str | None, token: str, cookie: str | None = None) -> bool:
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    # compare_digest: the token's value must not leak through response timing.
    if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode()):
        return True
    return valid_login(cookie, token)


def check_admin(authorization: str | None, token: str, cookie: str | None = None) -> None:
    """Raise 401 unless the caller is the admin: by bearer token, or by login `cookie` if given."""
    if not is_admin(authorization, token, cookie):
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <admin token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_admin_request(request: HTTPConnection, token: str) -> None:
    """`check_admin` for a read request: the bearer token or the dashboard's login cookie."""
    check_admin(request.headers.get("authorization"), token, request.cookies.get(LOGIN_COOKIE))


def check_same_origin(request: Request) -> None:
    """Refuse a form POST (or an erasure) sent from another site. Browsers send Origin with every
    POST and DELETE; a client without one (curl) isn't a browser that another site could drive."""
    origin = request.headers.get("origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, "cross_origin", "this form only accepts posts from the dashboard itself")
