"""The dashboard: server-rendered HTML pages over the sessions and profiles, for the admin.

    GET  /                        the overview: ?range=today|7d|30d (7d), ?bots=include; totals against
                                  the previous range, per-day charts (SVG drawn here: charts.py), top
                                  entry pages, referrers and sources: GET /api/stats's figures
    GET  /profiles                profiles, last seen first; ?q= searches IDs and trait values
    GET  /profiles/{profileId}    IDs, merged traits, sessions (source, entry and exit, duration,
                                  engaged time, bot), event timeline (newest first, ?offset=)
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
import dataclasses
import datetime
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
from .charts import Chart, day_chart
from .client_ip import client_scheme
from .config import Config
from .errors import ApiError
from .logins import LOGIN_COOKIE, LOGIN_SECONDS, Logins
from .params import bots_param
from .stats_api import range_param
from .storage import Storage
from .storage.reads import BOUNCE_ENGAGED_MS
from .storage.stats import RANGES, session_source

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


def count_text(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value:g}%"


def duration_text(ms: int | None) -> str:
    """Milliseconds as people read a visit's length: 0s, 9s, 1m 05s, 2h 03m."""
    if ms is None:
        return "–"
    seconds = int(ms) // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02}m"


def bare_url(url: str | None) -> str:
    """A URL without its scheme, shorter to read in a list."""
    if not url:
        return ""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


def url_path(url: str | None) -> str:
    """A URL's path and query, without its scheme and host: a profile's pages are on its site."""
    rest = bare_url(url)
    if not url or rest == url:  # none, or not http(s): shown whole
        return rest
    cut = min((rest.find(mark) for mark in "/?#" if mark in rest), default=len(rest))
    path = rest[cut:]
    return path if path.startswith("/") else "/" + path


def minute_text(timestamp: str | None) -> str:
    """An ISO-8601 timestamp to the minute, as a table shows it (the <time> keeps it whole)."""
    return timestamp[:16].replace("T", " ") if timestamp else ""


ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
ENVIRONMENT.filters["trait"] = trait_text
ENVIRONMENT.filters["details"] = event_details
ENVIRONMENT.filters["duration"] = duration_text
ENVIRONMENT.filters["count"] = count_text
ENVIRONMENT.filters["bare_url"] = bare_url
ENVIRONMENT.filters["url_path"] = url_path
ENVIRONMENT.filters["minute"] = minute_text
ENVIRONMENT.filters["source"] = session_source
ENVIRONMENT.globals["bounce_seconds"] = f"{BOUNCE_ENGAGED_MS / 1000:g}"  # the pages say what a bounce is

RANGE_NAMES = {"today": "Today", "7d": "7 days", "30d": "30 days"}
PREVIOUS = {"today": "yesterday until this time", "7d": "the 7 days before", "30d": "the 30 days before"}
assert RANGE_NAMES.keys() == PREVIOUS.keys() == RANGES.keys()


@dataclasses.dataclass(frozen=True)
class Total:
    """One of the overview's totals, as its card shows it."""

    key: str
    label: str
    value: str
    change: str  # "+50%", "−10 pts"; "–" when there is nothing to compare with
    trend: str  # up, down, same or none: the arrow
    judged: str  # good, bad or "": its colour (a bounce rate going up is bad)
    previous: str


def total_card(key: str, label: str, figure: dict[str, typing.Any], text: typing.Callable[[typing.Any], str],
               points: bool = False, lower_is_better: bool = False) -> Total:  # fmt: skip
    change = figure["change"]
    if change is None:
        shown, trend = "–", "none"
    else:
        trend = "up" if change > 0 else "down" if change < 0 else "same"
        sign = "+" if change > 0 else "−" if change < 0 else "±"
        shown = f"{sign}{abs(change):g}{' pts' if points else '%'}"
    judged = "" if trend in ("none", "same") else "good" if (trend == "up") != lower_is_better else "bad"
    return Total(key, label, text(figure["value"]), shown, trend, judged, text(figure["previous"]))


def overview_view(found: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """What overview.html shows of GET /api/stats's figures: nothing more, nothing else."""
    totals, days = found["totals"], found["days"]
    cards = [
        total_card("visitors", "Visitors", totals["visitors"], count_text),
        total_card("sessions", "Sessions", totals["sessions"], count_text),
        total_card("identifiedUsers", "Identified users", totals["identifiedUsers"], count_text),
        total_card("bounceRate", "Bounce rate", totals["bounceRate"], percent_text, points=True, lower_is_better=True),
        total_card("pageViews", "Page views", totals["pageViews"], count_text),
        total_card("medianEngagedMs", "Median engaged time", totals["medianEngagedMs"], duration_text),
    ]
    dates = [d["date"] for d in days]
    charts: list[Chart] = [
        day_chart("visitors", "Visitors", cards[0].value, dates, [d["visitors"] for d in days], "visitors"),
        day_chart("sessions", "Sessions", cards[1].value, dates, [d["sessions"] for d in days], "sessions"),
        day_chart("identifiedUsers", "Identified users", cards[2].value, dates,
                  [d["identifiedUsers"] for d in days], "identified users"),
        day_chart("bounceRate", "Bounce rate", cards[3].value, dates, [d["bounceRate"] for d in days],
                  "bounce rate", percent=True),
    ]  # fmt: skip
    return {"cards": cards, "charts": charts}


class Dashboard:
    def __init__(
        self,
        config: Config,
        storage: Storage,
        logins: Logins,
        clock: typing.Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.config = config
        self.storage = storage
        self.logins = logins
        self.clock = clock

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

    async def overview(self, request: Request) -> Response:
        if not await self.logged_in(request):
            return self.login_here(request)
        try:
            name, bots = range_param(request), bots_param(request)
        except ApiError as exc:  # the API's rules and words, as a page
            return self.render("message.html", 400, logged_in=True, heading="Not a range", message=exc.message)
        found = await self.storage.stats(name, self.clock(), bots)
        return self.render(
            "overview.html",
            logged_in=True,
            section="overview",
            stats=found,
            ranges=RANGE_NAMES,
            previous=PREVIOUS[name],
            **overview_view(found),
        )

    async def profiles(self, request: Request) -> Response:
        if not await self.logged_in(request):
            return self.login_here(request)
        query = request.query_params.get("q", "").strip()
        profiles = await self.storage.search_profiles(query, PROFILES_SHOWN)
        return self.render("profiles.html", logged_in=True, section="profiles", profiles=profiles, query=query)

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
            section="profiles",
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
