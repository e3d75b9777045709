"""The dashboard in process: login, cookie, pages, escaping, security headers."""

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
from visitrail.collector.config import Config
from visitrail.collector.logins import LOGIN_COOKIE, LOGIN_SECONDS

from .helpers import ADMIN_TOKEN, NOW, WRITE_KEY, basic

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
