"""The dashboard: server-rendered HTML pages over the profiles, for the admin.

    GET  /                        profiles, last seen first; ?q= searches IDs and trait values
    GET  /profiles/{profileId}    IDs, merged traits, sessions, event timeline (newest first, ?offset=)
    GET  /login, POST /login      the login form: the admin token in, a login cookie out
    POST /logout
    GET  /favicon.ico             204: browsers ask for it; an answer keeps their consoles quiet

Without a valid login cookie every page answers 401 with the login form. The cookie (auth.py)
is HttpOnly and SameSite=Strict, so no other site can make the browser send it; POSTs must also
come from the dashboard's own origin. Templates are Jinja2 with autoescaping on, so every value (traits and IDs
come straight from tracked events) is HTML-escaped. The pages run no script; the one inline style
sheet is allowed by its hash in the Content-Security-Policy (security.py sends it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import typing
import urllib.parse

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .auth import check_same_origin
from .body import read_body
from .client_ip import client_scheme
from .config import Config
from .logins import LOGIN_COOKIE, LOGIN_SECONDS, Logins
from .storage import Storage

__all__ = ["Dashboard", "CSS", "STYLE_HASH"]

LOG_ENTRIES = 50  # of the merge log, newest first (the read API pages further)
TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"
CSS = (TEMPLATES / "dashboard.css").read_text(encoding="utf-8")
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
PROFILES_SHOWN = 100
EVENTS_PER_PAGE = 50
MAX_FORM_BYTES = 4096


def trait_text(value: typing.Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def event_details(event: dict[str, typing.Any]) -> str:
    """What an event carries beyond its type and name: properties, traits, previousId, groupId."""
    fields = {key: event[key] for key in ("properties", "traits", "previousId", "groupId") if event.get(key)}
    return json.dumps(fields, ensure_ascii=False, indent=1) if fields else ""


def local_path(value: str | None) -> str:
    """`value` if it is a path on this site, else "/": the login form must not redirect elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
ENVIRONMENT.filters["trait"] = trait_text
ENVIRONMENT.filters["details"] = event_details


class Dashboard:
    def __init__(self, config: Config, storage: Storage, logins: Logins) -> None:
        self.config = config
        self.storage = storage
        self.logins = logins

    async def logged_in(self, request: Request) -> bool:
        return await self.logins.is_admin(request, bearer=False)

    def render(self, name: str, status_code: int = 200, **context: typing.Any) -> HTMLResponse:
        html = ENVIRONMENT.get_template(name).render(css=Markup(CSS), **context)
        return HTMLResponse(html, status_code=status_code)

    def login_page(self, next_path: str | None, error: str = "", status_code: int = 200) -> HTMLResponse:
        return self.render("login.html", status_code, logged_in=False, next=local_path(next_path), error=error)

    def login_here(self, request: Request) -> HTMLResponse:
        """The login form in place of the page asked for, which it returns to. 401, as the read API
        answers: the page was refused (Bearer, not Basic, so browsers show the form, not a prompt)."""
        response = self.login_page(request.url.path + (f"?{request.url.query}" if request.url.query else ""), "", 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def home(self, request: Request) -> Response:
        if not await self.logged_in(request):
            return self.login_here(request)
        query = request.query_params.get("q", "").strip()
        profiles = await self.storage.search_profiles(query, PROFILES_SHOWN)
        return self.render("profiles.html", logged_in=True, profiles=profiles, query=query)

    async def profile(self, request: Request) -> Response:
        if not await self.logged_in(request):
            return self.login_here(request)
        profile = await self.storage.profile(request.path_params["profile_id"])
        if profile is None:
            return self.render(
                "message.html",
                404,
                logged_in=True,
                heading="No such profile",
                message="There is no profile with this ID. A profile merged into another one keeps no ID "
                "of its own: look its user or anonymous ID up from the profiles list.",
            )
        offset = request.query_params.get("offset", "0")
        offset_n = int(offset) if offset.isascii() and offset.isdigit() and len(offset) < 12 else 0
        events = await self.storage.profile_events(profile["profileId"], limit=EVENTS_PER_PAGE + 1, offset=offset_n)
        more = len(events) > EVENTS_PER_PAGE
        log = await self.storage.profile_log(profile["profileId"], limit=LOG_ENTRIES)
        return self.render(
            "profile.html",
            logged_in=True,
            profile=profile,
            log=log,
            events=events[:EVENTS_PER_PAGE],
            offset=offset_n,
            limit=EVENTS_PER_PAGE,
            next=offset_n + EVENTS_PER_PAGE if more else None,
        )

    async def login_form(self, request: Request) -> Response:
        if await self.logged_in(request):
            return RedirectResponse(local_path(request.query_params.get("next")), status_code=303)
        return self.login_page(request.query_params.get("next"))

    async def login(self, request: Request) -> Response:
        check_same_origin(request)
        form = urllib.parse.parse_qs(
            (await read_body(request.stream(), limit=MAX_FORM_BYTES, timeout=self.config.body_timeout)).decode(
                "utf-8", "replace"
            )
        )
        token = (form.get("token") or [""])[0]
        next_path = local_path((form.get("next") or ["/"])[0])
        cookie = await self.logins.open(request, token)
        if cookie is None:
            return self.login_page(next_path, "That is not the admin token.", 401)
        response = RedirectResponse(next_path, status_code=303)
        scheme = client_scheme(request.url.scheme, request.headers.get("x-forwarded-proto"), self.config.trust_proxy)
        response.set_cookie(
            LOGIN_COOKIE,
            cookie,
            max_age=LOGIN_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=scheme == "https",
        )
        return response

    async def favicon(self, request: Request) -> Response:
        return Response(status_code=204)

    async def logout(self, request: Request) -> Response:
        check_same_origin(request)
        await self.logins.close(request)  # the cookie itself may be kept by a copy: it is now worthless
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
        return response
