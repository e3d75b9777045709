"""Who is the admin: the bearer token of the read API, and the dashboard's logins, both throttled.

- `Authorization: Bearer <admin token>`, compared in constant time.
- The login cookie is a random value (32 bytes), kept in the database as its SHA-256 with an
  HMAC of the admin token keyed by the cookie, and an expiry (LOGIN_SECONDS). So it tells nothing
  about the token (a stolen cookie allows no offline guessing), logout ends it in every process,
  and changing the admin token ends every login.
- Wrong credentials (a bearer token, a login cookie, the login form's token) are counted per
  client address: after FAILURE_BURST of them, one more every 1/FAILURE_RATE seconds; past that
  every admin request from the address is 429 with Retry-After, right token or not, until the
  bucket refills. A request presenting no credentials is not a guess and counts nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import typing

from starlette.requests import HTTPConnection

from .client_ip import client_address, limit_key
from .config import Config
from .errors import ApiError
from .ratelimit import RateLimiter
from .storage import Storage
from .timestamps import format_timestamp

__all__ = ["LOGIN_COOKIE", "LOGIN_SECONDS", "FAILURE_BURST", "FAILURE_RATE", "Logins"]

# Not "session": an analytics session is something else, and the SDK's localStorage key.
LOGIN_COOKIE = "visitrail_login"
LOGIN_SECONDS = 12 * 3600
FAILURE_BURST = 10
FAILURE_RATE = 1 / 6  # wrong credentials per second, once the burst is spent: 10 a minute


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _token_mac(cookie: str, token: str) -> str:
    return hmac.new(cookie.encode(), token.encode(), hashlib.sha256).hexdigest()


class Logins:
    def __init__(self, config: Config, storage: Storage, clock: typing.Callable[[], datetime.datetime]) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.failures = RateLimiter(FAILURE_RATE, FAILURE_BURST, what="wrong admin credentials from this address")

    def _address(self, request: HTTPConnection) -> str:
        peer = request.client.host if request.client else None
        return limit_key(client_address(peer, request.headers.get("x-forwarded-for"), self.config.trust_proxy))

    def _token_is(self, given: str) -> bool:
        # compare_digest: the token's value must not leak through response timing.
        return hmac.compare_digest(given.encode(), self.config.admin_token.encode())

    async def _cookie_is_valid(self, cookie: str) -> bool:
        found = await self.storage.find_login(_digest(cookie))
        if found is None:
            return False
        token_mac, expires = found
        return expires > format_timestamp(self.clock()) and hmac.compare_digest(
            token_mac, _token_mac(cookie, self.config.admin_token)
        )

    async def is_admin(self, request: HTTPConnection, bearer: bool = True) -> bool:
        """The bearer token (if `bearer`) or the login cookie; 429 once the address is throttled."""
        scheme, _, credentials = (request.headers.get("authorization") or "").strip().partition(" ")
        given_token = credentials.strip() if bearer and scheme.lower() == "bearer" else None
        cookie = request.cookies.get(LOGIN_COOKIE)
        if given_token is None and not cookie:
            return False
        address = self._address(request)
        self.failures.check(address)
        if given_token is not None and self._token_is(given_token):
            return True
        if cookie and await self._cookie_is_valid(cookie):
            return True
        self.failures.take(address, 1)
        return False

    async def require(self, request: HTTPConnection) -> None:
        """Raise 401 unless the caller is the admin (429 once throttled)."""
        if not await self.is_admin(request):
            raise ApiError(
                401,
                "unauthorized",
                "this endpoint needs Authorization: Bearer <admin token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def open(self, request: HTTPConnection, token: str) -> str | None:
        """A new login's cookie value if `token` is the admin token, else None (and a failure)."""
        address = self._address(request)
        self.failures.check(address)
        if not self._token_is(token):
            self.failures.take(address, 1)
            return None
        cookie = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + datetime.timedelta(seconds=LOGIN_SECONDS)
        await self.storage.add_login(
            _digest(cookie), _token_mac(cookie, self.config.admin_token), format_timestamp(expires),
            format_timestamp(now),
        )  # fmt: skip
        return cookie

    async def close(self, request: HTTPConnection) -> None:
        cookie = request.cookies.get(LOGIN_COOKIE)
        if cookie:
            await self.storage.remove_login(_digest(cookie))
