"""Sessions as a table (storage/sessions.py), their read API (GET /api/sessions), the derived
Session Started / Session Ended of a profile's timeline, the first visit's traits, and bots."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config
from visitrail.collector.storage import Storage, open_storage

from .helpers import NOW, ORIGIN, WRITE_KEY, admin, as_events, basic, run

LANDING = "https://shop.example/pricing?utm_source=news&utm_medium=email&utm_campaign=spring&gclid=G1"
CAMPAIGN = {"source": "news", "medium": "email", "name": "spring", "gclid": "G1"}
ENTRY = {"url": LANDING, "referrer": "https://news.example/today"}
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def at(minutes: float, day: int = 25) -> str:
    moment = datetime.datetime(2026, 11, day, 10, tzinfo=datetime.UTC) + datetime.timedelta(minutes=minutes)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def browser_event(
    n: int,
    type: str,
    minutes: float,
    path: str,
    *,
    session: str = "s1",
    anonymous_id: str = "A1",
    user_id: str | None = None,
    entry: dict[str, str] | None = None,
    campaign: dict[str, str] | None = None,
    **fields: typing.Any,
) -> dict[str, typing.Any]:
    """A message as the SDK sends it: the page of the moment, the session's entry and campaign."""
    context: dict[str, typing.Any] = {
        "sessionId": session,
        "page": {"url": "https://shop.example" + path, "path": path, "referrer": "https://news.example/today"},
        "sessionEntry": ENTRY if entry is None else entry,
    }
    if campaign is None or campaign:
        context["campaign"] = CAMPAIGN if campaign is None else campaign
    message: dict[str, typing.Any] = {"type": type, "messageId": f"{session}-m{n}", "timestamp": at(minutes),
                                      "anonymousId": anonymous_id, "context": context, **fields}  # fmt: skip
    if user_id is not None:
        message["userId"] = user_id
    return message


def page_left(n: int, minutes: float, path: str, engaged: typing.Any, **kw: typing.Any) -> dict[str, typing.Any]:
    properties = {"engagedMs": engaged, "scrollDepth": 50, "path": path}
    return browser_event(n, "track", minutes, path, event="Page Left", properties=properties, **kw)


# A visit: the landing page with its campaign, a click, a second page, both left.
VISIT = [
    browser_event(1, "page", 0, "/pricing"),
    browser_event(2, "track", 1, "/pricing", event="Clicked"),
    page_left(3, 2, "/pricing", 4000),
    browser_event(4, "page", 2, "/signup"),
    page_left(5, 5.5, "/signup", 3500),
]


async def only_session(storage: Storage, anonymous_id: str = "A1") -> dict[str, typing.Any]:
    profile_id = await storage.find_profile(anonymous_id=anonymous_id)
    assert profile_id is not None
    [session] = await storage.sessions(profile_id=profile_id)
    return session


def test_a_visit_becomes_one_session_row(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(VISIT))
        session = await only_session(storage)
        assert session == {
            "sessionId": "s1",
            "profileId": await storage.find_profile(anonymous_id="A1"),
            "firstSeen": at(0),
            "lastSeen": at(5.5),
            "durationMs": 330_000,
            "eventCount": 5,
            "pageViews": 2,
            "entryUrl": LANDING,
            "exitUrl": "https://shop.example/signup",
            "referrer": "https://news.example/today",
            "campaign": {"name": "spring", "source": "news", "medium": "email", "term": None, "content": None},
            "clickIds": {"gclid": "G1"},
            "engagedMs": 7500,
            "bounce": False,
            "bot": False,
        }

    run(db_url, scenario)


def test_any_arrival_order_and_batching_gives_the_same_row(db_url: str) -> None:
    shuffled = random.Random(7).sample(VISIT, len(VISIT))

    async def scenario(storage: Storage) -> tuple[dict[str, typing.Any], dict[str, typing.Any]]:
        await storage.add(as_events(VISIT, write_key="one"))
        for n in range(0, len(shuffled), 2):  # the other site's copy, out of order, two per batch
            await storage.add(as_events(shuffled[n : n + 2], write_key="two"))
        one, two = (await storage.sessions(limit=10, bots=True))[:2]
        return one, two

    one, two = run(db_url, scenario)
    assert {**one, "profileId": None} == {**two, "profileId": None}
    assert one["entryUrl"] == LANDING and one["exitUrl"] == "https://shop.example/signup"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(VISIT))), cuts=st.sets(st.integers(1, len(VISIT) - 1)))
def test_the_row_does_not_depend_on_arrival(order: list[int], cuts: set[int]) -> None:
    async def scenario(storage: Storage) -> dict[str, typing.Any]:
        events = as_events([VISIT[i] for i in order])
        bounds = [0, *sorted(cuts), len(events)]
        for start, end in zip(bounds, bounds[1:], strict=False):
            await storage.add(events[start:end])
        return {**await only_session(storage), "profileId": None}

    async def reference(storage: Storage) -> dict[str, typing.Any]:
        await storage.add(as_events(VISIT))
        return {**await only_session(storage), "profileId": None}

    assert run("sqlite:///:memory:", scenario) == run("sqlite:///:memory:", reference)


@pytest.mark.parametrize(
    "engaged, counted",
    [(9_999, 9_999), (10_000, 10_000), (-5, 0), (1e30, 86_400_000), ("9000", 0), (True, 0), (None, 0), (12.7, 12)],
)
def test_engaged_time_is_bounded_and_bounce_is_one_page_under_ten_seconds(engaged: typing.Any, counted: int) -> None:
    async def scenario(storage: Storage) -> dict[str, typing.Any]:
        await storage.add(as_events([browser_event(1, "page", 0, "/"), page_left(2, 1, "/", engaged)]))
        return await only_session(storage)

    session = run("sqlite:///:memory:", scenario)
    assert session["engagedMs"] == counted and session["pageViews"] == 1
    assert session["bounce"] is (counted < 10_000)


def test_a_sessions_engaged_time_is_bounded_however_many_page_lefts_it_gets(db_url: str) -> None:
    day = 86_400_000

    async def scenario(storage: Storage) -> dict[str, typing.Any]:
        # 2,500 Page Lefts of a day each in one batch (folded in Python), then more in another (in SQL).
        await storage.add(as_events([page_left(n, n / 1000, "/", day) for n in range(2500)]))
        assert (await only_session(storage))["engagedMs"] == day
        await storage.add(as_events([page_left(n, 3, "/", day) for n in range(2500, 2510)]))
        return await only_session(storage)

    assert run(db_url, scenario)["engagedMs"] == day


def test_hostile_session_fields_are_cut_or_left_out() -> None:
    long_url = "https://shop.example/?" + "x" * 10_000
    hostile = browser_event(1, "page", 0, "/", entry={"url": long_url, "referrer": 5},
                            campaign={"source": {"$ne": 1}, "medium": "m" * 9000, "gclid": ["a"]})  # fmt: skip

    async def scenario(storage: Storage) -> dict[str, typing.Any]:
        await storage.add(as_events([hostile]))
        return await only_session(storage)

    session = run("sqlite:///:memory:", scenario)
    assert len(session["entryUrl"]) == 2048 and session["referrer"] is None
    assert session["campaign"]["source"] is None and len(session["campaign"]["medium"]) == 500
    assert session["clickIds"] == {}


def test_the_rebuild_makes_the_same_sessions(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(VISIT[:2]))
        automated = [{**m, "context": {**m["context"], "automation": True}} for m in VISIT[2:]]
        await storage.add(as_events(automated))
        await storage.add(as_events([browser_event(9, "identify", 7, "/signup", session="s2", user_id="U1")]))
        before = await storage.sessions(limit=10, bots=True)
        await storage.rebuild_profiles()
        after = await storage.sessions(limit=10, bots=True)
        assert [{**s, "profileId": None} for s in after] == [{**s, "profileId": None} for s in before]
        assert [s["bot"] for s in after] == [False, True]  # s2 started later: listed first

    run(db_url, scenario)


def test_erasure_and_retention_take_the_sessions_along(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events(VISIT))
        await storage.add(as_events([browser_event(1, "page", 0, "/", session="s9", anonymous_id="A9")]))
        assert len(await storage.sessions(limit=10)) == 2
        assert await storage.erase_profile(anonymous_id="A1") is not None
        assert [s["sessionId"] for s in await storage.sessions(limit=10)] == ["s9"]
        await storage.expire("2026-11-26")  # every event was received on the 25th
        assert await storage.sessions(limit=10) == []

    run(db_url, scenario)


def test_a_session_of_a_merged_profile_is_listed_under_the_survivor(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(as_events([browser_event(1, "page", 0, "/", session="phone", anonymous_id="P")]))
        await storage.add(as_events([browser_event(1, "page", 5, "/", session="laptop", anonymous_id="L")]))
        await storage.add(as_events([browser_event(2, "identify", 6, "/", session="phone", anonymous_id="P",
                                                   user_id="U1")]))  # fmt: skip
        await storage.add(as_events([browser_event(2, "identify", 7, "/", session="laptop", anonymous_id="L",
                                                    user_id="U1")]))  # fmt: skip
        survivor = await storage.find_profile(user_id="U1")
        listed = await storage.sessions(profile_id=typing.cast(str, survivor))
        assert sorted(s["sessionId"] for s in listed) == ["laptop", "phone"]
        assert {s["profileId"] for s in listed} == {survivor}
        assert {s["profileId"] for s in await storage.sessions(limit=10)} == {survivor}

    run(db_url, scenario)


# Through the HTTP API: bots, /api/sessions, the timeline's derived events, first-touch traits


def post(client: TestClient, *batch: dict[str, typing.Any], **headers: str) -> None:
    response = client.post("/v1/batch", json={"batch": list(batch)}, headers={**basic(WRITE_KEY), **headers})
    assert response.status_code == 200, response.text


def sessions(client: TestClient, **params: str) -> list[dict[str, typing.Any]]:
    response = client.get("/api/sessions", params=params, headers=admin())
    assert response.status_code == 200, response.text
    return typing.cast(list[dict[str, typing.Any]], response.json()["sessions"])


@pytest.mark.parametrize(
    "fields, headers, bot",
    [
        ({}, {"origin": ORIGIN, "user-agent": CHROME}, False),
        ({"automation": True}, {"origin": ORIGIN, "user-agent": CHROME}, True),  # navigator.webdriver
        ({"automation": "yes"}, {"origin": ORIGIN, "user-agent": CHROME}, False),  # only true is true
        ({}, {"origin": ORIGIN, "user-agent": GOOGLEBOT}, True),  # a browser request with a crawler's UA
        ({}, {"origin": ORIGIN, "user-agent": "HeadlessChrome/131.0.0.0"}, True),
        ({}, {"user-agent": "curl/8.5.0"}, False),  # a server's own request: its UA is not the visitor's
        ({"userAgent": GOOGLEBOT}, {"user-agent": "python-requests/2.32"}, True),  # a server passing its user's
        ({"userAgent": CHROME}, {"origin": ORIGIN, "user-agent": GOOGLEBOT}, False),  # the event's own wins
    ],
)
def test_bots_are_stored_flagged_and_left_out_unless_asked(
    client: TestClient, fields: dict[str, typing.Any], headers: dict[str, str], bot: bool
) -> None:
    message = browser_event(1, "page", 0, "/")
    message["context"].update(fields)
    post(client, message, **headers)
    assert len(client.get("/api/events", headers=admin()).json()["events"]) == 1  # stored either way
    [listed] = sessions(client, bots="include")
    assert listed["bot"] is bot
    assert sessions(client) == ([] if bot else [listed])
    assert sessions(client, profileId=listed["profileId"]) == [listed]  # a profile's own: bots' too


def test_sessions_by_start_time(client: TestClient) -> None:
    for day in (24, 25, 26):
        message = browser_event(day, "page", 0, "/", session=f"s{day}", anonymous_id=f"A{day}")
        message["timestamp"] = at(0, day=day - 2)  # the 22nd to the 24th: before NOW, the 25th
        post(client, message)
    assert [s["sessionId"] for s in sessions(client)] == ["s26", "s25", "s24"]  # the latest first
    assert [s["sessionId"] for s in sessions(client, **{"from": "2026-11-23"})] == ["s26", "s25"]
    assert [s["sessionId"] for s in sessions(client, to="2026-11-23T10:00:00Z")] == ["s24"]
    assert [s["sessionId"] for s in sessions(client, limit="1")] == ["s26"]


def test_sessions_come_in_pages(client: TestClient) -> None:
    # Three sessions that started in the same millisecond (a page boundary inside equal start times),
    # and three of one profile.
    post(client, *[browser_event(1, "page", 0, "/", session=f"s{n}", anonymous_id=f"A{n}") for n in range(3)])
    post(client, *[browser_event(1, "page", n + 1, "/", session=f"p{n}", anonymous_id="P") for n in range(3)])
    profile_id = client.get("/api/profiles/lookup", params={"anonymousId": "P"}, headers=admin()).json()["profileId"]

    def pages(**params: str) -> list[list[str]]:
        offset: int | None = 0
        found = []
        while offset is not None:
            response = client.get("/api/sessions", params={**params, "offset": str(offset)}, headers=admin())
            assert response.status_code == 200, response.text
            found.append([s["sessionId"] for s in response.json()["sessions"]])
            offset = response.json()["next"]
        return found

    assert pages(to=at(0.5), limit="2") == [["s0", "s1"], ["s2"]]  # equal starts: by session ID
    assert pages(profileId=profile_id, limit="2") == [["p2", "p1"], ["p0"]]  # the last active first
    assert pages(limit="6") == [["p2", "p1", "p0", "s0", "s1", "s2"]]  # a full page, and no next


@pytest.fixture
def any_client(config: Config, db_url: str) -> typing.Iterator[TestClient]:
    """`client` on each backend: SQLite in memory and on disk, and PostgreSQL."""
    with TestClient(create_app(dataclasses.replace(config, db_url=db_url), clock=lambda: NOW)) as client:
        yield client


def test_a_session_id_too_long_to_index_is_refused_with_its_batch(any_client: TestClient) -> None:
    client = any_client
    # PostgreSQL's B-tree refused the key (a 500, the whole batch lost); now a 400 naming the message.
    fine = browser_event(1, "page", 0, "/")
    for session in ("s" * 2300, "é" * 1200):
        long_one = browser_event(2, "page", 0, "/", session=session, anonymous_id="A2", messageId="long")
        response = client.post("/v1/batch", json={"batch": [fine, long_one]}, headers=basic(WRITE_KEY))
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith("message 1: the session ID")
    assert client.get("/api/events", headers=admin()).json()["events"] == []
    post(client, browser_event(3, "page", 0, "/", session="s" * 2200, messageId="at-the-bound"))  # stored
    assert [s["sessionId"] for s in sessions(client)] == ["s" * 2200]


def test_blank_session_ids_are_no_session(client: TestClient) -> None:
    post(client, browser_event(1, "page", 0, "/", session="  "))
    assert len(client.get("/api/events", headers=admin()).json()["events"]) == 1
    assert sessions(client) == []


def amplitude_page(n: int, anonymous_id: str, start: int = 1764068400000) -> dict[str, typing.Any]:
    """A page view as analytics-next sends it with the Amplitude (Actions) plugin: no context.sessionId."""
    return {"type": "page", "messageId": f"{anonymous_id}-{n}", "anonymousId": anonymous_id, "timestamp": at(n),
            "context": {"page": {"url": f"https://shop.example/{anonymous_id}"}},
            "integrations": {"Actions Amplitude": {"session_id": start}}}  # fmt: skip


def test_amplitude_sessions_that_start_in_the_same_millisecond_stay_apart(any_client: TestClient) -> None:
    client = any_client
    # Two visitors whose sessions started in the same ms: one shared row counted them as one visit,
    # owned by one of them, and erasing the other left her URL in it.
    post(client, amplitude_page(1, "A1"), amplitude_page(2, "A2"), amplitude_page(3, "A1"))
    listed = sorted(sessions(client), key=lambda s: s["sessionId"])
    assert [(s["sessionId"], s["eventCount"]) for s in listed] == [("1764068400000:A1", 2), ("1764068400000:A2", 1)]
    assert client.delete(f"/api/profiles/{listed[1]['profileId']}", headers=admin()).status_code == 200
    assert [s["sessionId"] for s in sessions(client)] == ["1764068400000:A1"]
    assert "A2" not in client.get("/api/sessions", headers=admin()).text


@pytest.mark.parametrize(
    "query",
    ["from=yesterday", "to=2026-13-01", "limit=-1", "limit=1001", "bots=maybe", "profileId=P&from=2026-11-01",
     "profileId=P&bots=include",
     # int() refuses a string of over 4,300 digits with a ValueError: it was a 500
     "limit=" + "0" * 4301, "offset=" + "9" * 4301, "offset=-1",
     # given twice: Starlette's get() took the last, so a bad first value passed
     "bots=bad&bots=include", "limit=x&limit=5", "from=x&from=2026-11-01", "profileId=P&profileId=Q"],
)  # fmt: skip
def test_bad_session_queries_are_400(client: TestClient, query: str) -> None:
    response = client.get(f"/api/sessions?{query}", headers=admin())
    assert response.status_code == 400 and response.json()["code"] == "invalid_request", response.text


def test_sessions_need_the_admin_token(client: TestClient) -> None:
    assert client.get("/api/sessions").status_code == 401
    assert client.get("/api/sessions", headers={"Authorization": "Bearer wrong"}).status_code == 401


def timeline(client: TestClient, profile_id: str, **params: str) -> list[dict[str, typing.Any]]:
    response = client.get("/api/events", params={"profileId": profile_id, **params}, headers=admin())
    assert response.status_code == 200, response.text
    return typing.cast(list[dict[str, typing.Any]], response.json()["events"])


def names(events: list[dict[str, typing.Any]]) -> list[str]:
    return [("*" if e.get("derived") else "") + (e.get("event") or e["type"]) for e in events]


def test_the_timeline_has_each_sessions_derived_start_and_end(config: Config) -> None:
    clock = {"now": datetime.datetime(2026, 11, 25, 10, 20, tzinfo=datetime.UTC)}
    with TestClient(create_app(config, clock=lambda: clock["now"])) as client:
        post(client, *VISIT)
        profile_id = sessions(client)[0]["profileId"]
        # 14.5 minutes after the last event: the session is still going.
        assert names(timeline(client, profile_id)) == [
            "Page Left", "page", "Page Left", "Clicked", "page", "*Session Started",
        ]  # fmt: skip
        clock["now"] = datetime.datetime(2026, 11, 25, 10, 36, tzinfo=datetime.UTC)  # 30.5 minutes idle
        events = timeline(client, profile_id)
        assert names(events) == [
            "*Session Ended", "Page Left", "page", "Page Left", "Clicked", "page", "*Session Started",
        ]  # fmt: skip
        ended, started = events[0], events[-1]
        assert ended["type"] == started["type"] == "track" and ended["derived"] is started["derived"] is True
        assert started["timestamp"] == at(0) and ended["timestamp"] == at(5.5)
        assert started["properties"]["entryUrl"] == LANDING and started["properties"]["campaign"]["source"] == "news"
        assert ended["properties"]["durationMs"] == 330_000 and ended["properties"]["engagedMs"] == 7500
        assert ended["context"]["sessionId"] == started["context"]["sessionId"] == "s1"
        # Pages of three: every row once, in the same order.
        paged = [e for offset in (0, 3, 6) for e in timeline(client, profile_id, limit="3", offset=str(offset))]
        assert [e["messageId"] for e in paged] == [e["messageId"] for e in events]
        # Never stored: the events table has the browser's five.
        assert len(client.get("/api/events", headers=admin()).json()["events"]) == 5


def profile_traits(client: TestClient, **ids: str) -> dict[str, typing.Any]:
    response = client.get("/api/profiles/lookup", params=ids, headers=admin())
    assert response.status_code == 200, response.text
    return typing.cast(dict[str, typing.Any], response.json()["traits"])


ORGANIC = {
    "initial_referrer": "$direct",
    "initial_referring_domain": "$direct",
    "initial_landing_url": "https://shop.example/",
    "initial_utm_source": "$direct",
    "initial_utm_medium": "$direct",
    "initial_utm_campaign": "$direct",
    "initial_utm_term": "$direct",
    "initial_utm_content": "$direct",
}


def organic_visit(
    session: str, anonymous_id: str, minutes: float, n: int = 1, type: str = "page", **kw: typing.Any
) -> dict[str, typing.Any]:
    return browser_event(n, type, minutes, "/", session=session, anonymous_id=anonymous_id,
                         entry={"url": "https://shop.example/"}, campaign={}, **kw)  # fmt: skip


def test_a_later_campaign_never_overwrites_an_organic_first_visit(client: TestClient) -> None:
    post(client, organic_visit("first", "A1", 0))
    post(client, browser_event(1, "page", 60, "/pricing", session="second"))  # the campaign, an hour later
    assert profile_traits(client, anonymousId="A1") == ORGANIC
    post(client, browser_event(2, "identify", 61, "/", session="second", user_id="U1", traits={"plan": "pro"}))
    assert profile_traits(client, userId="U1") == {**ORGANIC, "plan": "pro"}


def test_the_earliest_visit_wins_across_devices_whatever_the_arrival_order(client: TestClient) -> None:
    # The laptop's campaign visit arrives first; the phone's earlier organic visit (queued offline)
    # arrives later, and both devices then sign in as U1.
    post(client, browser_event(1, "page", 30, "/pricing", session="laptop", anonymous_id="L"))
    laptop = profile_traits(client, anonymousId="L")
    assert laptop["initial_utm_source"] == "news" and laptop["initial_referring_domain"] == "news.example"
    assert laptop["initial_landing_url"] == LANDING and laptop["initial_utm_campaign"] == "spring"
    post(client, browser_event(2, "identify", 31, "/", session="laptop", anonymous_id="L", user_id="U1"))
    post(client, organic_visit("phone", "P", 0), organic_visit("phone", "P", 1, n=2, type="identify", user_id="U1"))
    assert profile_traits(client, userId="U1") == ORGANIC


def test_a_profile_known_from_a_server_only_has_no_first_visit(client: TestClient) -> None:
    post(client, {"type": "track", "event": "Paid", "userId": "U7", "messageId": "srv-1",
                  "timestamp": at(0), "context": {"sessionId": "srv"}})  # fmt: skip
    assert profile_traits(client, userId="U7") == {}


def test_the_lookup_lists_sessions_with_their_fields(client: TestClient) -> None:
    post(client, *VISIT)
    response = client.get("/api/profiles/lookup", params={"anonymousId": "A1"}, headers=admin())
    [session] = response.json()["sessions"]
    assert set(session) == {
        "sessionId", "profileId", "firstSeen", "lastSeen", "durationMs", "eventCount", "pageViews", "entryUrl",
        "exitUrl", "referrer", "campaign", "clickIds", "engagedMs", "bounce", "bot",
    }  # fmt: skip
    assert session == sessions(client)[0]


def test_concurrent_batches_of_one_session_both_count(shared_db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        other = open_storage(shared_db_url)
        await other.connect()
        try:
            halves = as_events(VISIT[:3]), as_events(VISIT[3:])
            await asyncio.gather(storage.add(halves[0]), other.add(halves[1]))
        finally:
            await other.disconnect()
        session = await only_session(storage)
        assert session["eventCount"] == 5 and session["pageViews"] == 2 and session["engagedMs"] == 7500

    run(shared_db_url, scenario)
