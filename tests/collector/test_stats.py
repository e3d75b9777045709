"""The overview's figures (storage/stats.py) on a dataset whose answers are worked out by hand, on
SQLite and PostgreSQL, and GET /api/stats: its shape, its parameters, its login."""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config
from visitrail.collector.storage import Storage
from visitrail.collector.storage.db import Transaction
from visitrail.collector.storage.sql import SQLStorage
from visitrail.collector.storage.stats import (
    entry_page,
    entry_page_sql,
    referring_domain,
    referring_domain_sql,
    session_source,
    window,
)

from .helpers import NOW, WRITE_KEY, admin, as_events, basic, run, statements, visit

# NOW is 2026-11-25T12:00:00.500Z. "7d": 11-19 00:00 to now; before it: 11-12 00:00 to 11-18 12:00:00.500.
GOOGLE = "https://www.google.com/search?q=shoes"


def dataset() -> list[dict[str, typing.Any]]:
    return [
        # The range's first millisecond: a bounce (one page, 2 s).
        *visit("s1", "A1", "2026-11-19T00:00:00.000Z", [("/", 2000)], entry_suffix="?ref=ad", referrer=GOOGLE),
        # Three pages from the newsletter, no referrer.
        *visit("s2", "A2", "2026-11-20T09:00:00.000Z", [("/", 5000), ("/pricing", 20000), ("/signup", 10000)],
               entry_suffix="?utm_source=newsletter&utm_medium=email", campaign={"source": "newsletter"}),
        # One page, but 15 s engaged: not a bounce. Identifies as mia.
        *visit("m1", "M1", "2026-11-20T10:00:00.000Z", [("/pricing", 15000)], user_id="mia",
               referrer="https://news.ycombinator.com/item?id=1", campaign={"source": "hn", "medium": "social"}),
        # mia on another device: identified there too, so the two profiles merge (one visitor).
        *visit("m2", "M2", "2026-11-24T10:00:00.000Z", [("/blog/launch", 4000), ("/pricing", 3000)],
               user_id="mia", referrer="https://mail.example:8443/inbox?x=1#y", campaign={"source": "newsletter"}),
        # A1 comes back at `now` itself: one page, 9.999 s, a bounce by a millisecond.
        *visit("s3", "A1", "2026-11-25T12:00:00.500Z", [("/", 9999)], entry_suffix="#intro",
               referrer="https://www.google.com/"),
        # Bots: left out unless asked for, counted all the same.
        *visit("b1", "B1", "2026-11-22T03:00:00.000Z", [("/", None)], referrer="https://www.google.com/", bot=True),
        *visit("b2", "B2", "2026-11-25T08:00:00.000Z", [("/spam", None), ("/", None)],
               campaign={"source": "spam"}, bot=True),
        # In neither range: after the previous range's end, before the range's start; after now.
        *visit("x1", "X1", "2026-11-18T23:59:59.999Z", [("/", 1000)]),
        *visit("x2", "X2", "2026-11-25T12:00:00.501Z", [("/", 1000)]),
        # The previous range: its first millisecond and its last.
        *visit("p1", "P1", "2026-11-12T00:00:00.000Z", [("/", 1000)], referrer=GOOGLE),
        *visit("p2", "P2", "2026-11-18T12:00:00.500Z", [("/", 10000), ("/pricing", 20000)], user_id="pat"),
        *visit("p3", "P3", "2026-11-15T10:00:00.000Z", [("/", None)], bot=True),
    ]  # fmt: skip


def day(date: str, visitors: int = 0, sessions: int = 0, identified: int = 0, bounces: int = 0, views: int = 0,
        rate: float | None = None) -> dict[str, typing.Any]:  # fmt: skip
    return {"date": date, "visitors": visitors, "sessions": sessions, "identifiedUsers": identified,
            "bounces": bounces, "pageViews": views, "bounceRate": rate}  # fmt: skip


def total(value: typing.Any, previous: typing.Any, change: float | None) -> dict[str, typing.Any]:
    return {"value": value, "previous": previous, "change": change}


EXPECTED_7D = {
    "range": "7d",
    "from": "2026-11-19T00:00:00.000Z",
    "to": "2026-11-25T12:00:00.501Z",
    "previous": {"from": "2026-11-12T00:00:00.000Z", "to": "2026-11-18T12:00:00.501Z"},
    "bots": "exclude",
    "botSessions": 2,
    "totals": {
        "visitors": total(3, 2, 50.0),  # A1 (twice), A2, mia (two devices); P1, pat
        "sessions": total(5, 2, 150.0),
        "identifiedUsers": total(1, 1, 0.0),  # mia; pat
        "bounceRate": total(40.0, 50.0, -10.0),  # s1 and s3 of 5; p1 of 2: in points
        "pageViews": total(8, 3, 166.7),
        # 2000, 7000, 9999, 15000, 35000: the third; 1000, 30000: the upper of two
        "medianEngagedMs": total(9999, 30000, -66.7),
    },
    "days": [
        day("2026-11-19", 1, 1, 0, 1, 1, 100.0),
        day("2026-11-20", 2, 2, 1, 0, 4, 0.0),
        day("2026-11-21"),
        day("2026-11-22"),  # b1's day
        day("2026-11-23"),
        day("2026-11-24", 1, 1, 1, 0, 2, 0.0),
        day("2026-11-25", 1, 1, 0, 1, 1, 100.0),
    ],
    "topEntryPages": [
        {"url": "https://shop.test/", "sessions": 3},  # its query and its fragment cut off
        {"url": "https://shop.test/blog/launch", "sessions": 1},
        {"url": "https://shop.test/pricing", "sessions": 1},
    ],
    "topReferrers": [
        {"domain": "www.google.com", "sessions": 2},
        {"domain": "mail.example", "sessions": 1},
        {"domain": "news.ycombinator.com", "sessions": 1},
    ],
    "topSources": [{"source": "newsletter", "sessions": 2}, {"source": "hn", "sessions": 1}],
}


def test_the_figures_of_seven_days(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(dataset()))
        assert await storage.stats("7d", NOW) == EXPECTED_7D
        assert await storage.stats("7d", NOW, bots=False) == EXPECTED_7D

    run(db_url, scenario)


def test_bots_are_counted_when_asked_for(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(dataset()))
        found = await storage.stats("7d", NOW, bots=True)
        assert found["bots"] == "include" and found["botSessions"] == 2
        assert found["totals"] == {
            "visitors": total(5, 3, 66.7),  # and B1, B2; and P3
            "sessions": total(7, 3, 133.3),
            "identifiedUsers": total(1, 1, 0.0),
            "bounceRate": total(42.9, 66.7, -23.8),  # b1 bounced (one page, nothing engaged), b2 did not
            "pageViews": total(11, 4, 175.0),
            "medianEngagedMs": total(7000, 1000, 600.0),  # 0, 0, 2000, 7000, ...; 0, 1000, 30000
        }
        days = {d["date"]: d for d in found["days"]}
        assert days["2026-11-22"] == day("2026-11-22", 1, 1, 0, 1, 1, 100.0)
        assert days["2026-11-25"] == day("2026-11-25", 2, 2, 0, 1, 3, 50.0)
        assert found["topSources"] == [
            {"source": "newsletter", "sessions": 2},
            {"source": "hn", "sessions": 1},
            {"source": "spam", "sessions": 1},
        ]
        assert found["topReferrers"][0] == {"domain": "www.google.com", "sessions": 3}
        assert found["topEntryPages"][0] == {"url": "https://shop.test/", "sessions": 4}

    run(db_url, scenario)


def test_today_and_thirty_days(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(dataset()))
        today = await storage.stats("today", NOW)
        assert (today["from"], today["to"]) == ("2026-11-25T00:00:00.000Z", "2026-11-25T12:00:00.501Z")
        assert today["previous"] == {"from": "2026-11-24T00:00:00.000Z", "to": "2026-11-24T12:00:00.501Z"}
        assert [d["date"] for d in today["days"]] == ["2026-11-25"]
        assert today["totals"]["sessions"] == total(1, 1, 0.0)  # s3; yesterday's morning: m2
        assert today["totals"]["visitors"] == total(1, 1, 0.0)
        assert today["botSessions"] == 1  # b2
        month = await storage.stats("30d", NOW)
        assert month["from"] == "2026-10-27T00:00:00.000Z" and len(month["days"]) == 30
        # Everything but the bots and x2 (after now); nothing in the 30 days before.
        assert month["totals"]["sessions"] == total(8, 0, None)
        assert month["totals"]["visitors"] == total(6, 0, None)  # A1, A2, mia, X1, P1, pat
        assert month["totals"]["identifiedUsers"] == total(2, 0, None)
        assert month["totals"]["bounceRate"] == total(50.0, None, None)  # s1, s3, x1, p1 of 8
        assert month["botSessions"] == 3

    run(db_url, scenario)


def test_an_empty_range(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        found = await storage.stats("today", NOW)
        assert found["totals"] == {
            "visitors": total(0, 0, None),
            "sessions": total(0, 0, None),
            "identifiedUsers": total(0, 0, None),
            "bounceRate": total(None, None, None),
            "pageViews": total(0, 0, None),
            "medianEngagedMs": total(None, None, None),
        }
        assert found["days"] == [day("2026-11-25")] and found["botSessions"] == 0
        assert found["topEntryPages"] == found["topReferrers"] == found["topSources"] == []

    run(db_url, scenario)


def test_top_lists_keep_the_ten_largest_in_order(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        messages = []
        # source "s<k>" on k sessions (k = 1..12): s12 first, ..., s3 tenth; s2 and s1 left out.
        for k in range(1, 13):
            for n in range(k):
                messages += visit(f"v{k}-{n}", f"A{k}-{n}", f"2026-11-24T{k:02}:{n:02}:00.000Z", [(f"/p{k}", 1000)],
                                  campaign={"source": f"s{k}"}, referrer=f"https://r{k}.test/")  # fmt: skip
        await storage.add(as_events(messages))
        found = await storage.stats("7d", NOW)
        assert [(s["source"], s["sessions"]) for s in found["topSources"]] == [(f"s{k}", k) for k in range(12, 2, -1)]
        assert [r["domain"] for r in found["topReferrers"]] == [f"r{k}.test" for k in range(12, 2, -1)]
        assert [p["url"] for p in found["topEntryPages"]] == [f"https://shop.test/p{k}" for k in range(12, 2, -1)]

    run(db_url, scenario)


def test_ranges_are_utc_days_whatever_the_clock_says() -> None:
    # 01:00 in UTC+2 is 23:00 the day before in UTC: that day is today.
    late = window("today", datetime.datetime(2026, 11, 25, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))))
    assert (late.start, late.end) == ("2026-11-24T00:00:00.000Z", "2026-11-24T23:00:00.001Z")
    assert late.days == ("2026-11-24",)
    first = window("7d", datetime.datetime(2026, 3, 1, 0, 0, 0, 999, tzinfo=datetime.UTC))  # its first millisecond
    assert first.days == tuple(f"2026-02-{d}" for d in range(23, 29)) + ("2026-03-01",)
    assert (first.start, first.end) == ("2026-02-23T00:00:00.000Z", "2026-03-01T00:00:00.001Z")
    assert (first.previous_start, first.previous_end) == ("2026-02-16T00:00:00.000Z", "2026-02-22T00:00:00.001Z")
    with pytest.raises(ValueError, match="range"):
        window("1y", NOW)


URLS = [
    "https://www.google.com/search?q=1", "https://mail.example:8443/inbox?x=1#y", "http://localhost:8080",
    "https://a.test", "https://a.test?x", "https://a.test#f", "android-app://com.google.android.gm/",
    "no-scheme.test/path", "", "://", "https://", "?", "https://ünïcode.test/ä?ö#ü", "https://a.test/%3F?%23",
    'https://x.test/"><script>alert(1)</script>', "https://a.test/p?q=1&r=%25#f?g",
]  # fmt: skip


def sql_forms(db: Transaction, storage: SQLStorage, url: str) -> tuple[typing.Any, typing.Any]:
    domain, domain_params = referring_domain_sql("u", storage.dialect)
    page, page_params = entry_page_sql("u", storage.dialect)
    [row] = db.all(f"SELECT {domain}, {page} FROM (SELECT ? AS u) AS given", [*domain_params, *page_params, url])
    return row[0], row[1]


def test_the_referring_domain_and_entry_page_rules_agree_in_python_and_sql(db_url: str) -> None:
    assert referring_domain("https://www.google.com/search?q=1") == "www.google.com"
    assert referring_domain("https://mail.example:8443/inbox") == "mail.example"
    assert referring_domain("android-app://com.google.android.gm/") == "com.google.android.gm"
    assert referring_domain("") is None and referring_domain(None) is None and referring_domain("https://") is None
    assert entry_page("https://a.test/p?utm_source=x#top") == "https://a.test/p"
    assert entry_page("https://a.test/p#top?x") == "https://a.test/p" and entry_page("?x") is None

    async def scenario(storage: Storage) -> None:
        assert isinstance(storage, SQLStorage)
        with storage.transaction(write=False) as db:
            for url in URLS:
                assert sql_forms(db, storage, url) == (referring_domain(url), entry_page(url)), url

            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.text(alphabet=st.sampled_from("ab:/?#.%é"), max_size=16))
            def any_text(url: str) -> None:
                assert sql_forms(db, storage, url) == (referring_domain(url), entry_page(url)), url

            any_text()

    run(db_url, scenario)


def test_a_sessions_source() -> None:
    campaign = {"source": None, "medium": None, "name": None, "term": None, "content": None}
    assert session_source({"campaign": {**campaign, "source": "newsletter"}, "referrer": GOOGLE}) == "newsletter"
    assert session_source({"campaign": campaign, "referrer": GOOGLE}) == "www.google.com"
    assert session_source({"campaign": campaign, "referrer": None}) == "direct"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_query_reads_the_range_through_the_first_seen_index(
    backend: str, tmp_path: typing.Any, request: pytest.FixtureRequest
) -> None:
    """Bounded work: each statement reaches sessions by first_seen's index (never a scan of the
    table), and a top list returns at most ten rows."""
    url = f"sqlite:///{tmp_path / 'events.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")

    async def scenario(storage: Storage) -> None:
        assert isinstance(storage, SQLStorage)
        messages = []
        for n in range(2000):  # months of sessions, so that PostgreSQL's planner prefers the index
            start = datetime.datetime(2026, 7, 1, tzinfo=datetime.UTC) + datetime.timedelta(minutes=60 * n)
            iso = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            messages += visit(f"s{n}", f"A{n % 700}", iso, [("/", 1000)], referrer=f"https://r{n % 40}.test/")
        await storage.add(as_events(messages))
        seen = statements(storage)
        await storage.stats("today", NOW)
        await storage.stats("7d", NOW, bots=True)
        del storage.transaction
        assert len(seen) >= 8
        if backend == "postgresql":
            with storage.transaction(write=True) as db:
                db.run("ANALYZE")
        explain = "EXPLAIN " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
        with storage.transaction(write=False) as db:
            for sql, params in seen:
                plan = "\n".join(str(row[-1]) for row in db.all(explain + sql, params))
                assert "sessions_first_seen" in plan, (sql, plan)
                assert "Seq Scan on sessions" not in plan and "SCAN sessions\n" not in plan + "\n", (sql, plan)

    run(url, scenario)


# GET /api/stats


def send(client: TestClient, messages: list[dict[str, typing.Any]]) -> None:
    for start in range(0, len(messages), 100):
        batch = {"batch": messages[start : start + 100]}
        assert client.post("/v1/batch", json=batch, headers=basic(WRITE_KEY)).status_code == 200


def test_the_api_gives_the_storage_figures(client: TestClient) -> None:
    send(client, dataset())
    response = client.get("/api/stats", params={"range": "7d"}, headers=admin())
    assert response.status_code == 200, response.text
    found = response.json()
    assert found == EXPECTED_7D
    assert client.get("/api/stats", headers=admin()).json() == found  # 7 days unless asked
    included = client.get("/api/stats", params={"range": "7d", "bots": "include"}, headers=admin()).json()
    assert included["totals"]["sessions"]["value"] == 7 and included["bots"] == "include"
    excluded = client.get("/api/stats", params={"range": "7d", "bots": "exclude"}, headers=admin()).json()
    assert excluded == found
    assert client.get("/api/stats", params={"range": "today"}, headers=admin()).json()["range"] == "today"


@pytest.mark.parametrize(
    "query",
    [{"range": "1y"}, {"range": ""}, {"range": "7D"}, {"range": "7d", "bots": "yes"}, {"range": "7d", "bots": ""},
     {"range": "today\x00"}, {"range": ["7d", "30d"]}, {"bots": ["bad", "include"]}],
)  # fmt: skip
def test_bad_parameters_are_400(client: TestClient, query: dict[str, typing.Any]) -> None:
    response = client.get("/api/stats", params=query, headers=admin())
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"


def test_the_api_wants_the_admin(client: TestClient, config: Config) -> None:
    assert client.get("/api/stats").status_code == 401
    assert client.get("/api/stats", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/api/stats", params={"range": "1y"}).status_code == 401  # not a 400: nothing said first
    assert client.post("/v1/batch", json={"batch": []}, headers=basic(WRITE_KEY)).status_code == 200
    with TestClient(create_app(dataclasses.replace(config), clock=lambda: NOW)) as other:
        assert other.post("/login", data={"token": "admin-secret"}, follow_redirects=False).status_code == 303
        assert other.get("/api/stats").status_code == 200  # the dashboard's cookie
