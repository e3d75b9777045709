"""The dashboard in process: login, cookie, pages (the overview, profiles, a profile), escaping,
security headers."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import html.parser
import pathlib
import re
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.charts import day_chart, nice_scale
from visitrail.collector.config import Config
from visitrail.collector.dashboard import STYLE_HASH
from visitrail.collector.logins import LOGIN_COOKIE, LOGIN_SECONDS
from visitrail.collector.security import API_CSP, html_csp

from .helpers import ADMIN_TOKEN, NOW, WRITE_KEY, basic, visit

XSS = "<img src=x onerror=alert(1)>"


def send(client: TestClient, *batch: dict[str, typing.Any]) -> None:
    assert client.post("/v1/batch", json={"batch": list(batch)}, headers=basic(WRITE_KEY)).status_code == 200


def log_in(client: TestClient, next_path: str = "/") -> typing.Any:
    return client.post("/login", data={"token": ADMIN_TOKEN, "next": next_path}, follow_redirects=False)


class Elements(html.parser.HTMLParser):
    """ids, classes and the tags seen, enough to check a page's structure without a browser."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.classes: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(typing.cast(str, attributes["id"]))
        self.classes += (attributes.get("class") or "").split()


@pytest.fixture
def logged_in(client: TestClient) -> TestClient:
    response = log_in(client)
    assert response.status_code == 303
    return client


def test_without_login_every_page_is_the_login_form(client: TestClient) -> None:
    for path in ("/", "/?range=30d", "/?range=bad", "/profiles", "/profiles?q=x", "/profiles/abc", "/login"):
        response = client.get(path)
        assert response.status_code == (200 if path == "/login" else 401)
        page = Elements(response.text)
        assert "login" in page.ids and "profiles" not in page.ids and "logout" not in page.ids
    assert 'name="next" value="/profiles/abc"' in client.get("/profiles/abc").text
    assert client.get("/api/profiles").status_code == 401


def test_login_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    response = log_in(client, "/profiles/abc")
    assert response.status_code == 303 and response.headers["location"] == "/profiles/abc"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes and "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain http; set on https (test below)
    assert ADMIN_TOKEN not in cookie
    assert Elements(client.get("/").text).ids >= {"totals", "charts", "logout", "search", "nav-profiles"}
    assert Elements(client.get("/profiles").text).ids >= {"profiles", "logout", "search", "nav-overview"}
    assert client.get("/api/profiles").status_code == 200  # the cookie opens the JSON API too


def test_the_cookie_is_secure_over_https(config: typing.Any) -> None:
    from visitrail.collector.app import create_app

    with TestClient(create_app(config), base_url="https://collector.test") as client:
        assert "secure" in log_in(client).headers["set-cookie"].lower()


def test_wrong_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert response.status_code == 401
    assert "login-error" in Elements(response.text).ids and "set-cookie" not in response.headers


@pytest.mark.parametrize("target", ["//evil.test/x", "https://evil.test/", "/\\evil.test", "profiles"])
def test_login_only_redirects_to_local_paths(client: TestClient, target: str) -> None:
    assert log_in(client, target).headers["location"] == "/"


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    response = client.post(
        "/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "http://evil.test"}, follow_redirects=False
    )
    assert response.status_code == 403 and "set-cookie" not in response.headers
    same = client.post(
        "/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert same.status_code == 303


def test_forged_and_expired_cookies_are_refused(config: Config) -> None:
    now = [NOW]
    with TestClient(create_app(config, clock=lambda: now[0])) as client:
        assert log_in(client).status_code == 303
        cookie = client.cookies[LOGIN_COOKIE]
        now[0] = NOW + datetime.timedelta(seconds=LOGIN_SECONDS)
        # The old stateless cookies (<expiry>.<HMAC of the admin token>) mean nothing now either.
        for value in (cookie, "9999999999." + "0" * 64, "garbage", cookie[:-1] + "x"):
            client.cookies.set(LOGIN_COOKIE, value)
            assert client.get("/api/profiles").status_code == 401
            assert "login" in Elements(client.get("/").text).ids


def test_the_cookie_holds_nothing_of_the_admin_token(logged_in: TestClient) -> None:
    cookie = logged_in.cookies[LOGIN_COOKIE]
    assert len(cookie) >= 43 and ADMIN_TOKEN not in cookie and "." not in cookie  # 32 random bytes, nothing more
    assert logged_in.get("/api/profiles").status_code == 200


def test_a_cookie_ends_with_the_logout_even_if_a_copy_is_kept(logged_in: TestClient) -> None:
    copy = logged_in.cookies[LOGIN_COOKIE]
    assert logged_in.post("/logout", follow_redirects=False).status_code == 303
    logged_in.cookies.set(LOGIN_COOKIE, copy)
    assert logged_in.get("/api/profiles").status_code == 401


def test_a_new_admin_token_ends_every_login(config: Config, tmp_path: pathlib.Path) -> None:
    shared = dataclasses.replace(config, db_url=f"sqlite:///{tmp_path / 'events.db'}")
    with TestClient(create_app(shared, clock=lambda: NOW)) as client:
        assert log_in(client).status_code == 303
        cookie = client.cookies[LOGIN_COOKIE]
    with TestClient(create_app(dataclasses.replace(shared, admin_token="rotated"), clock=lambda: NOW)) as client:
        client.cookies.set(LOGIN_COOKIE, cookie)
        assert client.get("/api/profiles").status_code == 401


def test_wrong_tokens_and_logins_are_throttled_per_address(config: Config) -> None:
    app = create_app(config, clock=lambda: NOW)
    clock = [1000.0]
    app.state.login_failures.clock = lambda: clock[0]
    with TestClient(app) as client:
        for n in range(10):
            wrong = {"Authorization": f"Bearer guess-{n}"} if n % 2 else None
            response = (
                client.get("/api/profiles", headers=wrong)
                if wrong
                else client.post("/login", data={"token": f"guess-{n}"}, follow_redirects=False)
            )
            assert response.status_code == 401, n
        for attempt in (
            client.get("/api/profiles", headers={"Authorization": "Bearer guess-10"}),
            client.get("/api/profiles", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),  # even the right one
            log_in(client),
        ):
            assert attempt.status_code == 429 and int(attempt.headers["retry-after"]) == 6
        assert client.get("/").status_code == 401  # no credentials presented: not a guess
        clock[0] += 6
        assert client.get("/api/profiles", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_logout_clears_the_cookie(logged_in: TestClient) -> None:
    response = logged_in.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    assert (
        f'{LOGIN_COOKIE}=""' in response.headers["set-cookie"] or "max-age=0" in response.headers["set-cookie"].lower()
    )
    assert "login" in Elements(logged_in.get("/").text).ids


def test_profiles_list_and_search(logged_in: TestClient) -> None:
    send(
        logged_in,
        {"type": "identify", "userId": "ann", "traits": {"company": "Acme"}, "timestamp": "2026-11-25T10:00:00Z"},
        {"type": "track", "event": "E", "anonymousId": "visitor-1", "timestamp": "2026-11-25T11:00:00Z"},
    )
    page = Elements(logged_in.get("/profiles").text)
    assert page.classes.count("profile-row") == 2
    found = logged_in.get("/profiles", params={"q": "acme"}).text
    assert Elements(found).classes.count("profile-row") == 1 and "ann" in found and "visitor-1" not in found


def test_profile_page(logged_in: TestClient) -> None:
    send(
        logged_in,
        {"type": "page", "name": "Home", "anonymousId": "A1", "context": {"sessionId": "s1"},
         "timestamp": "2026-11-25T10:00:00Z", "messageId": "m1"},
        {"type": "identify", "userId": "U1", "anonymousId": "A1", "traits": {"plan": "pro"},
         "context": {"sessionId": "s1"}, "timestamp": "2026-11-25T10:01:00Z", "messageId": "m2"},
    )  # fmt: skip
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "U1"}).json()["profileId"]
    response = logged_in.get(f"/profiles/{profile_id}")
    assert response.status_code == 200
    page = Elements(response.text)
    assert page.ids >= {"profile", "user-ids", "anonymous-ids", "traits", "sessions", "timeline"}
    assert page.classes.count("trait") == 1 and page.classes.count("session") == 1
    timeline = [
        attrs["data-message-id"] for tag, attrs in page.tags if tag == "li" and "event" in (attrs.get("class") or "")
    ]
    # newest first, between the session's derived Session Started and (idle since) Session Ended
    assert timeline == ["derived-ended-s1", "m2", "m1", "derived-started-s1"]
    assert logged_in.get("/profiles/nope").status_code == 404


def test_timeline_pages(logged_in: TestClient) -> None:
    send(logged_in, *[{"type": "track", "event": f"E{n}", "userId": "U1", "messageId": f"m{n:02}",
                       "timestamp": f"2026-11-25T10:00:{n:02}Z"} for n in range(55)])  # fmt: skip
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "U1"}).json()["profileId"]
    first = Elements(logged_in.get(f"/profiles/{profile_id}").text)
    assert first.classes.count("event") == 50 and "older" in first.ids and "newer" not in first.ids
    second = Elements(logged_in.get(f"/profiles/{profile_id}", params={"offset": "50"}).text)
    assert second.classes.count("event") == 5 and "older" not in second.ids and "newer" in second.ids


def test_tracked_values_are_escaped(logged_in: TestClient) -> None:
    send(
        logged_in,
        {"type": "identify", "userId": f"u{XSS}", "anonymousId": f"a{XSS}", "context": {"sessionId": XSS},
         "traits": {XSS: XSS, "nested": {"html": XSS}}, "messageId": f"m{XSS}"[:90]},
        {"type": "track", "event": XSS, "userId": f"u{XSS}", "properties": {"x": XSS}},
    )  # fmt: skip
    pages = [logged_in.get("/profiles").text, logged_in.get("/profiles", params={"q": XSS}).text]
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": f"u{XSS}"}).json()["profileId"]
    pages.append(logged_in.get(f"/profiles/{profile_id}").text)
    for page in pages:
        assert XSS not in page and "<img" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert not any(tag in {"img", "script"} for tag, _ in Elements(page).tags)


def csp(response: typing.Any) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in response.headers["content-security-policy"].split(";")
    }


def test_dashboard_security_headers(logged_in: TestClient) -> None:
    for response in (
        logged_in.get("/"),
        logged_in.get("/", params={"range": "30d", "bots": "include"}),
        logged_in.get("/", params={"range": "bad"}),
        logged_in.get("/profiles"),
        logged_in.get("/profiles/nope"),
        TestClient(logged_in.app).get("/"),
    ):
        policy = csp(response)
        assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert "script-src" not in policy and "unsafe-inline" not in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        # Not no-referrer: Chromium would then send Origin: null with the login POST.
        assert response.headers["referrer-policy"] == "same-origin"
        # The one inline style sheet is the one the policy's hash allows.
        [style] = re.findall(r"<style>(.*?)</style>", response.text, re.S)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert policy["style-src"] == f"'sha256-{digest}'"
        assert not any("style" in attrs for _, attrs in Elements(response.text).tags)  # no style="": unhashable


def test_api_and_tracking_answers_carry_nosniff_and_a_locked_policy(client: TestClient) -> None:
    responses = [
        client.get("/api/profiles"),
        client.get("/api/events"),
        client.post("/v1/track", json={"event": "E", "anonymousId": "A"}, headers=basic(WRITE_KEY)),
        client.get("/healthz"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert csp(response)["default-src"] == "'none'" and csp(response)["frame-ancestors"] == "'none'"


def test_assets_are_left_alone(client: TestClient) -> None:
    response = client.get("/analytics/loader.js")
    assert "content-security-policy" not in response.headers


def test_favicon_is_an_empty_answer(client: TestClient) -> None:
    assert client.get("/favicon.ico").status_code == 204


def test_behind_a_trusted_proxy_the_cookie_follows_its_scheme(config: Config) -> None:
    from visitrail.collector.client_ip import client_scheme

    assert client_scheme("http", "https", 0) == "http" and client_scheme("http", "https", 1) == "https"
    assert client_scheme("http", "https, http", 1) == "http" and client_scheme("https", "gopher", 1) == "https"
    with TestClient(create_app(dataclasses.replace(config, trust_proxy=1), clock=lambda: NOW)) as client:
        login = client.post(
            "/login", data={"token": ADMIN_TOKEN}, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False
        )
        assert "secure" in login.headers["set-cookie"].lower()


# The overview (/), on a few visits sent as the SDK sends them; NOW is 2026-11-25T12:00:00.500Z.


def visits() -> list[dict[str, typing.Any]]:
    return [
        *visit("o1", "A1", "2026-11-20T09:00:00.000Z", [("/", 2000)], referrer="https://www.google.com/search"),
        *visit("o2", "A2", "2026-11-24T10:00:00.000Z", [("/pricing", 30000), ("/signup", 5000)], user_id="ann",
               entry_suffix="?utm_source=newsletter", campaign={"source": "newsletter", "medium": "email"}),
        *visit("o3", "A1", "2026-11-25T08:00:00.000Z", [("/", 12000)], referrer="https://news.ycombinator.com/"),
        *visit("o4", "B1", "2026-11-25T09:00:00.000Z", [("/", None)], bot=True),
        *visit("o5", "A3", "2026-11-14T09:00:00.000Z", [("/", 1000)]),  # the previous 7 days
    ]  # fmt: skip


def send_all(client: TestClient, messages: list[dict[str, typing.Any]]) -> None:
    send(client, *messages)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with this id (and its children)."""

    class Text(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.depth, self.parts = 0, []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if self.depth or dict(attrs).get("id") == element_id:
                self.depth += 1

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            pass  # <rect/>, <line/>: nothing inside

        def handle_endtag(self, tag: str) -> None:
            if self.depth:
                self.depth -= 1

        def handle_data(self, data: str) -> None:
            if self.depth:
                self.parts.append(data)

    parser = Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def attrs_of(page: Elements, tag: str, class_name: str) -> list[dict[str, str | None]]:
    return [attrs for t, attrs in page.tags if t == tag and class_name in (attrs.get("class") or "").split()]


def test_the_overview_shows_the_api_figures(logged_in: TestClient) -> None:
    send_all(logged_in, visits())
    for query in ({}, {"range": "today"}, {"range": "30d"}, {"range": "7d", "bots": "include"}):
        figures = logged_in.get("/api/stats", params=query).json()
        response = logged_in.get("/", params=query)
        assert response.status_code == 200
        page, elements = response.text, Elements(response.text)
        for key, total in figures["totals"].items():
            card = [a for t, a in elements.tags if a.get("id") == f"total-{key}"]
            assert card and card[0]["data-value"] == ("None" if total["value"] is None else str(total["value"])), key
        columns = attrs_of(elements, "g", "day")
        assert len(columns) == 4 * len(figures["days"])  # four charts, a column a day
        for entry in figures["topEntryPages"]:
            assert f'data-key="{entry["url"]}"' in page
        rows = [a["data-key"] for a in attrs_of(elements, "tr", "top-row")]
        assert rows == [
            *(e["url"] for e in figures["topEntryPages"]),
            *(r["domain"] for r in figures["topReferrers"]),
            *(s["source"] for s in figures["topSources"]),
        ]
        [bots] = [a for t, a in elements.tags if a.get("id") == "bots"]
        assert bots["data-bot-sessions"] == str(figures["botSessions"]) and bots["data-bots"] == figures["bots"]
    seven = Elements(logged_in.get("/").text)
    # 7 days: o1, o2, o3 (the bot left out); before: o5.
    assert {a["id"]: a["data-value"] for t, a in seven.tags if (a.get("id") or "").startswith("total-")} == {
        "total-visitors": "2", "total-sessions": "3", "total-identifiedUsers": "1", "total-bounceRate": "33.3",
        "total-pageViews": "4", "total-medianEngagedMs": "12000",
    }  # fmt: skip
    page = logged_in.get("/").text
    assert "1 bot session left out" in text_of(page, "bots")
    assert "↑ +200%" in text_of(page, "total-sessions")  # 3 against 1
    assert "↓ −66.7 pts" in text_of(page, "total-bounceRate")  # 33.3% against 100%
    assert text_of(page, "total-medianEngagedMs").startswith("Median engaged time 12s")
    titles = text_of(page, "chart-sessions")
    assert "24 Nov: 1 sessions" in titles and "25 Nov: 1 sessions" in titles and "21 Nov: 0 sessions" in titles
    assert "22 Nov: no sessions" in text_of(page, "chart-bounceRate")  # a rate of nothing: no bar


def test_the_range_picker_and_the_bots_link(logged_in: TestClient) -> None:
    page = Elements(logged_in.get("/", params={"range": "30d"}).text)
    links = {a["data-range"]: a for t, a in page.tags if t == "a" and "data-range" in a}
    assert {key: a["href"] for key, a in links.items()} == {"today": "/?range=today", "7d": "/?range=7d",
                                                            "30d": "/?range=30d"}  # fmt: skip
    assert [key for key, a in links.items() if a.get("aria-current") == "page"] == ["30d"]
    [toggle] = [a for t, a in page.tags if a.get("id") == "bots-toggle"]
    assert toggle["href"] == "/?range=30d&bots=include"
    included = Elements(logged_in.get(toggle["href"]).text)
    assert {a["href"] for t, a in included.tags if "data-range" in a} == {
        "/?range=today&bots=include", "/?range=7d&bots=include", "/?range=30d&bots=include"
    }  # fmt: skip
    assert [a["href"] for t, a in included.tags if a.get("id") == "bots-toggle"] == ["/?range=30d"]
    assert [a.get("aria-current") for t, a in page.tags if a.get("id") == "nav-overview"] == ["page"]
    profiles = Elements(logged_in.get("/profiles").text)
    assert [a["href"] for t, a in profiles.tags if a.get("id") == "nav-overview"] == ["/"]
    assert [a.get("aria-current") for t, a in profiles.tags if a.get("id") == "nav-profiles"] == ["page"]


@pytest.mark.parametrize(
    "query",
    [{"range": "1y"}, {"range": ""}, {"range": "<script>"}, {"bots": "yes"}, {"range": "7d", "bots": "all"},
     {"range": ["7d", "today"]}],
)  # fmt: skip
def test_bad_overview_parameters_are_a_400_page(logged_in: TestClient, query: dict[str, typing.Any]) -> None:
    response = logged_in.get("/", params=query)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "message" in Elements(response.text).ids and "<script>" not in response.text


HOSTILE = "\"'><script>alert(1)</script>"


def test_hostile_entry_pages_referrers_and_sources_are_escaped(logged_in: TestClient) -> None:
    send_all(
        logged_in,
        visit("h1", "H1", "2026-11-25T08:00:00.000Z", [(f"/{HOSTILE}", 2000), (f"/x{HOSTILE}", 1000)],
              referrer=f"https://{HOSTILE}/", campaign={"source": HOSTILE, "medium": HOSTILE, "name": HOSTILE},
              user_id="hostile"),
    )  # fmt: skip
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "hostile"}).json()["profileId"]
    figures = logged_in.get("/api/stats").json()
    domain = figures["topReferrers"][0]["domain"]
    assert "<script>" in domain and figures["topSources"][0]["source"] == HOSTILE  # stored as sent
    overview = logged_in.get("/").text
    profile = logged_in.get(f"/profiles/{profile_id}").text
    for page in (overview, profile):
        elements = Elements(page)
        assert "<script>" not in page and not any(tag == "script" for tag, _ in elements.tags)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        # A quote can't end an attribute: every value is still whole inside its attribute.
        assert not any(name not in ALLOWED_ATTRIBUTES for _, attrs in elements.tags for name in attrs)
    elements = Elements(overview)
    keys = [a["data-key"] for a in attrs_of(elements, "tr", "top-row")]
    assert f"https://shop.test/{HOSTILE}" in keys and domain in keys and HOSTILE in keys
    titles = [a["title"] for t, a in elements.tags if t == "span" and a.get("title")]
    assert f"https://shop.test/{HOSTILE}" in titles and HOSTILE in titles
    # Inside the SVG meters' <title>s: escaped text, not markup.
    meters = re.findall(r'<svg class="meter"[^>]*>(.*?)</svg>', overview, re.S)
    titles = [raw for meter in meters for raw in re.findall(r"<title>(.*?)</title>", meter, re.S)]
    assert all("<" not in raw and '"' not in raw for raw in titles)
    assert {f"{HOSTILE}: 1 sessions", f"https://shop.test/{HOSTILE}: 1 sessions"} <= {html.unescape(t) for t in titles}
    [row] = attrs_of(Elements(profile), "tr", "session")
    assert row["data-session-id"] == "h1"
    cells = text_of(profile, "sessions")
    assert HOSTILE in cells and f"/{HOSTILE}" in cells and f"/x{HOSTILE}" in cells  # source, entry, exit


ALLOWED_ATTRIBUTES = {
    "lang", "charset", "name", "content", "href", "id", "class", "method", "action", "type", "value", "placeholder",
    "aria-label", "aria-current", "role", "title", "data-range", "data-bots", "data-bot-sessions", "data-value",
    "data-key", "viewbox", "preserveaspectratio", "aria-hidden", "width", "height", "x", "y", "x1", "x2", "y1", "y2",
    "text-anchor", "datetime", "data-session-id", "data-bot", "data-profile-id", "data-kind", "data-message-id",
    "data-type", "autocomplete", "hidden", "required", "autofocus", "colspan",
}  # fmt: skip
LINKING = ("href", "src", "action", "xlink:href", "srcset", "formaction", "poster", "data")


def test_the_pages_reach_nothing_outside(logged_in: TestClient) -> None:
    send_all(
        logged_in,
        [*visits(), *visit("e1", "E1", "2026-11-25T07:00:00.000Z", [("/", 1000)], user_id="ext",
                           referrer="https://evil.test/x", campaign={"source": "https://evil.test/"})],
    )  # fmt: skip
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "ext"}).json()["profileId"]
    for path in ("/", "/?range=30d&bots=include", "/profiles", f"/profiles/{profile_id}"):
        page = logged_in.get(path).text
        assert "evil.test" in page or path == "/profiles"  # shown as text...
        for tag, attrs in Elements(page).tags:
            for name in LINKING:
                value = attrs.get(name)
                # ...but every link, form and resource is this collector's own
                assert value is None or (value.startswith(("/", "?")) and not value.startswith("//")), (tag, attrs)
        assert "url(" not in page and "@import" not in page and "xmlns" not in page


def test_the_overview_and_profile_pages_keep_the_csp(logged_in: TestClient) -> None:
    send_all(logged_in, visits())
    expected = html_csp(STYLE_HASH)
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "ann"}).json()["profileId"]
    for path in ("/", "/?range=today", "/?range=30d&bots=include", "/?range=nope", "/profiles",
                 f"/profiles/{profile_id}"):  # fmt: skip
        response = logged_in.get(path)
        assert response.headers["content-security-policy"] == expected, path
        assert not any("style" in attrs for _, attrs in Elements(response.text).tags)  # no style="": unhashable
    assert logged_in.get("/api/stats").headers["content-security-policy"] == API_CSP


def test_the_profile_page_shows_each_session(logged_in: TestClient) -> None:
    send_all(
        logged_in,
        [
            *visit("p1", "A1", "2026-11-24T10:00:00.000Z", [("/pricing", 30000), ("/signup", 5000)], user_id="ann",
                   entry_suffix="?utm_source=newsletter", campaign={"source": "newsletter", "medium": "email"},
                   referrer="https://www.google.com/"),
            *visit("p2", "A1", "2026-11-25T08:00:00.000Z", [("/", 3000)], referrer="https://news.ycombinator.com/"),
            *visit("p3", "A1", "2026-11-25T09:00:00.000Z", [("/docs", 90000)], bot=True),
        ],
    )  # fmt: skip
    profile_id = logged_in.get("/api/profiles/lookup", params={"userId": "ann"}).json()["profileId"]
    page = logged_in.get(f"/profiles/{profile_id}").text
    rows = {a["data-session-id"]: a for a in attrs_of(Elements(page), "tr", "session")}
    assert list(rows) == ["p3", "p2", "p1"]  # the last active first
    assert rows["p3"]["data-bot"] == "true" and rows["p2"]["data-bot"] == "false"

    def cells(session: str) -> list[str]:
        row = page[page.index(f'data-session-id="{session}"') :]
        row = row[: row.index("</tr>")]
        return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]

    # Started, source, entry, exit, pages, events, duration, engaged, marks, session
    assert cells("p1") == ["2026-11-24 10:00", "newsletter / email", "/pricing?utm_source=newsletter", "/signup",
                           "2", "5", "1m 30s", "35s", "", "p1"]  # fmt: skip
    assert cells("p2") == ["2026-11-25 08:00", "news.ycombinator.com", "/", "/", "1", "2", "30s", "3s", "bounce", "p2"]
    assert cells("p3") == ["2026-11-25 09:00", "direct", "/docs", "/docs", "1", "2", "30s", "1m 30s", "bot", "p3"]


def test_chart_geometry() -> None:
    assert nice_scale(0) == (1, 1) and nice_scale(1) == (1, 1) and nice_scale(3) == (3, 1)
    assert nice_scale(7) == (8, 2) and nice_scale(95) == (100, 50) and nice_scale(1234) == (1500, 500)
    days = ["2026-11-23", "2026-11-24", "2026-11-25"]
    chart = day_chart("sessions", "Sessions", "6", days, [2, 0, 4], "sessions")
    heights = [c.bar_height for c in chart.columns]
    assert heights[1] == 0 and heights[2] == pytest.approx(2 * heights[0]) and heights[2] == chart.base - chart.top
    assert [c.title for c in chart.columns] == ["23 Nov: 2 sessions", "24 Nov: 0 sessions", "25 Nov: 4 sessions"]
    assert [t.label for t in chart.ticks] == ["0", "1", "2", "3", "4"] and [lbl.text for lbl in chart.labels] == [
        "23 Nov", "24 Nov", "25 Nov"]  # fmt: skip
    rates = day_chart("bounceRate", "Bounce rate", "50%", days, [50.0, None, 100.0], "bounce rate", percent=True)
    assert [c.drawn for c in rates.columns] == [True, False, True] and rates.ticks[-1].label == "100%"
    assert rates.columns[0].bar_height == pytest.approx(rates.columns[2].bar_height / 2)
    month = day_chart("v", "V", "0", [f"2026-11-{d:02}" for d in range(1, 31)], [0] * 30, "visitors")
    assert [lbl.text for lbl in month.labels] == ["2 Nov", "9 Nov", "16 Nov", "23 Nov", "30 Nov"]  # weeks to today
    one = day_chart("v", "V", "1", ["2026-11-25"], [1], "visitors")
    assert one.columns[0].bar_width <= 48  # today alone: one bar, not a wall
