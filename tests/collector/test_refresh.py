"""The visitor's cookies refreshed by a collector of the site's own domain (refresh.py), and the
helper a site's backend writes the same cookie with (visitrail.cookies)."""

from __future__ import annotations

import json
import pathlib
import typing
import urllib.parse

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config, Source
from visitrail.collector.refresh import REFRESHED
from visitrail.cookies import visitor_cookie

from .helpers import ADMIN_TOKEN, NOW, basic, track

KEY = "wk_site"
SITE = "http://www.example.test"
AID = "5e55e55e-0000-4000-8000-000000000001"


@pytest.fixture
def client(tmp_path: pathlib.Path) -> typing.Iterator[TestClient]:
    config = Config(
        sources=[Source(KEY, (SITE, "http://elsewhere.test"), cookie_domain=".example.test")],
        admin_token=ADMIN_TOKEN,
        db_url="sqlite:///:memory:",
        assets_dir=str(tmp_path),
    )
    with TestClient(create_app(config, clock=lambda: NOW), base_url="http://collect.example.test") as client:
        yield client


def send(client: TestClient, origin: str = SITE, **cookies: str) -> list[str]:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    response = client.post("/v1/batch", json={"batch": [track(1)]}, headers={**basic(KEY), "Origin": origin})
    assert response.status_code == 200, response.text
    return response.headers.get_list("set-cookie")


def test_a_same_site_collector_re_sets_both_cookies_as_they_are_for_a_year_once_a_day(client: TestClient) -> None:
    shared = urllib.parse.quote(json.dumps({"a": AID, "u": "u1"}))
    refreshed = send(client, visitrail_aid=AID, visitrail_uid=shared)
    assert refreshed[0] == f"visitrail_aid={AID}; Path=/; Max-Age=31536000; Domain=.example.test; SameSite=Lax"
    assert refreshed[1].startswith(f"visitrail_uid={shared}; Path=/; Max-Age=31536000; Domain=.example.test;")
    assert refreshed[2] == f"{REFRESHED}=1; Path=/; Max-Age=86400; Domain=.example.test; SameSite=Lax; HttpOnly"
    assert "HttpOnly" not in refreshed[0] + refreshed[1]  # the SDK reads them
    assert send(client, visitrail_aid=AID, **{REFRESHED: "1"}) == []  # done today already


@pytest.mark.parametrize(
    ("origin", "cookies"),
    [
        ("http://elsewhere.test", {"visitrail_aid": AID}),  # a cross-site page
        (SITE, {}),  # no cookie to refresh
        (SITE, {"visitrail_aid": "%00bad"}),  # not an ID the SDK would keep
    ],
    ids=["cross-site", "no-cookie", "not-an-id"],
)
def test_nothing_is_set_otherwise(client: TestClient, origin: str, cookies: dict[str, str]) -> None:
    assert send(client, origin, **cookies) == []


def test_a_uid_cookie_of_another_visitor_is_not_refreshed(client: TestClient) -> None:
    other = urllib.parse.quote(json.dumps({"a": "someone-else", "u": "u1"}))
    refreshed = send(client, visitrail_aid=AID, visitrail_uid=other)
    assert [c.split("=")[0] for c in refreshed] == ["visitrail_aid", REFRESHED]


def test_the_backend_helper_writes_the_sdks_cookie() -> None:
    assert visitor_cookie(AID, ".example.com") == (
        f"visitrail_aid={AID}; Path=/; Max-Age=31536000; Domain=.example.com; SameSite=Lax; Secure"
    )
    assert visitor_cookie("a b/c;d", secure=False).startswith("visitrail_aid=a%20b%2Fc%3Bd;")  # encodeURIComponent
    with pytest.raises(ValueError):
        visitor_cookie("\n")
