"""Who is calling: the write key of a tracking request; the admin's bearer token for the test
hooks (the read API and the dashboard: logins.py); whether a form post comes from the dashboard."""

from __future__ import annotations

import base64
import binascii
import hmac
import typing
import urllib.parse

from starlette.requests import Request

from .errors import ApiError

__all__ = ["write_key_from", "check_admin", "check_same_origin"]


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


def check_admin(authorization: str | None, token: str) -> None:
    """Raise 401 unless `authorization` is `Bearer <token>` (the test hooks; the read API and the
    dashboard, throttled and with logins, go through logins.py)."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    # compare_digest: the token's value must not leak through response timing.
    if not (scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())):
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <admin token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_same_origin(request: Request) -> None:
    """Refuse a form POST (or an erasure) sent from another site. Browsers send Origin with every
    POST and DELETE; a client without one (curl) isn't a browser that another site could drive."""
    origin = request.headers.get("origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, "cross_origin", "this form only accepts posts from the dashboard itself")
