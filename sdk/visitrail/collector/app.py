"""The collector's Starlette application. Routes:

POST /v1/{identify,track,page,screen,group,alias,batch}, /v1/{i,t,p,s,g,a,b}, /v1/m   tracking.py
POST /v1/calls                                          the loader's raw calls, raw_calls.py
OPTIONS /v1/*                                           CORS preflight, cors.py
GET  /api/events?anonymousId=|userId=|messageId=|profileId=   read API (admin), events_api.py
GET  /api/profiles/lookup?userId=|anonymousId=, /api/profiles/{id}, /api/profiles?query=
                                                        profiles read API (admin), profiles_api.py
GET  /api/sessions?profileId=|from=&to=                 sessions read API (admin), sessions_api.py
GET  /api/stats?range=today|7d|30d                      the overview's figures (admin), stats_api.py
DELETE /api/profiles/{id}                               erasure (admin), profiles_api.py
GET  /, /profiles, /profiles/{id}; GET|POST /login; POST /logout; GET /favicon.ico   the dashboard, dashboard.py
POST /api/test/fail-next                                only with test_hooks, testhooks.py
GET  /analytics/...                                     built browser assets, static.py
GET  /healthz                                           {"ok": true}
Every answer but the assets' carries the security headers of security.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import typing

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from .config import Config
from .dashboard import STYLE_HASH, Dashboard
from .errors import ApiError
from .events_api import EventsAPI
from .framing import SingleFraming
from .logins import Logins
from .params import PlainText
from .profiles_api import ProfilesAPI
from .retention import run_retention
from .security import SecurityHeaders, secured
from .sessions_api import SessionsAPI
from .static import Assets
from .stats_api import StatsAPI
from .storage import Storage, open_storage
from .testhooks import Faults
from .tracking import TrackingAPI

__all__ = ["create_app"]

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405 are plain text; clients expect {"code", "message"} from every error.
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse({"code": code, "message": exc.detail}, exc.status_code, exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 500 is plain text and, coming from outside every middleware, bare: clients
    # read {"code", "message"} from every error, and no answer goes without the security headers.
    return JSONResponse(
        {"code": "internal_error", "message": "the collector failed on this request; it is logged"},
        500,
        secured({"Connection": "close"}),
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app(
    config: Config,
    *,
    storage: Storage | None = None,
    clock: typing.Callable[[], datetime.datetime] = utc_now,
) -> Starlette:
    """Build the collector. `storage` defaults to `open_storage(config.db_url)`; it is connected
    and disconnected by the app's lifespan. `clock` (aware UTC datetimes) is for tests."""
    store = storage if storage is not None else open_storage(config.db_url)
    store.limits = config.limits()
    faults = Faults() if config.test_hooks else None
    tracking = TrackingAPI(config, store, clock, faults)
    logins = Logins(config, store, clock)
    profiles = ProfilesAPI(config, store, logins, clock)
    dashboard = Dashboard(config, store, logins, clock)
    routes = [
        Route("/v1/{kind}", tracking.endpoint, methods=["POST", "OPTIONS"]),
        Route("/api/events", EventsAPI(config, store, logins, clock).endpoint, methods=["GET"]),
        Route("/api/sessions", SessionsAPI(store, logins).endpoint, methods=["GET"]),
        Route("/api/stats", StatsAPI(store, logins, clock).endpoint, methods=["GET"]),
        Route("/api/profiles", profiles.search, methods=["GET"]),
        Route("/api/profiles/lookup", profiles.lookup, methods=["GET"]),
        Route("/api/profiles/{profile_id}", profiles.get, methods=["GET"]),
        Route("/api/profiles/{profile_id}/log", profiles.log, methods=["GET"]),
        Route("/api/profiles/{profile_id}", profiles.erase, methods=["DELETE"]),
        Route("/", dashboard.overview, methods=["GET"]),
        Route("/profiles", dashboard.profiles, methods=["GET"]),
        Route("/profiles/{profile_id}", dashboard.profile, methods=["GET"]),
        Route("/login", dashboard.login_form, methods=["GET"]),
        Route("/login", dashboard.login, methods=["POST"]),
        Route("/logout", dashboard.logout, methods=["POST"]),
        Route("/favicon.ico", dashboard.favicon, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Mount("/analytics", app=Assets(config.assets_dir), name="analytics"),
    ]
    if faults is not None:

        async def fail_next(request: Request) -> Response:
            return await faults.arm(request, config.admin_token)

        routes.append(Route("/api/test/fail-next", fail_next, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> typing.AsyncIterator[None]:
        await store.connect()
        retention = None
        if config.retain_days:
            retention = asyncio.create_task(run_retention(store, config.retain_days, clock))
        try:
            yield
        finally:
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            await store.disconnect()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(SecurityHeaders, style_hash=STYLE_HASH),
            Middleware(SingleFraming),
            Middleware(PlainText),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
    )
    # No 307 from /v1/batch/ to /v1/batch: analytics-python takes any 3xx for a failure, and a JSON
    # 404 says what is wrong.
    app.router.redirect_slashes = False
    app.state.config = config
    app.state.storage = store
    app.state.faults = faults
    app.state.rate_limiter = tracking.limiter  # tests set their clocks
    app.state.address_limiter = tracking.address_limiter
    app.state.login_failures = logins.failures
    return app
