"""POST /v1/calls (raw_calls.py): the loader's queued calls become the events the SDK would send."""

from __future__ import annotations

import datetime
import json
import pathlib
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.config import Config, Source
from visitrail.core.client import Client
from visitrail.memory import START_MS, MemoryPlatform, World

from .helpers import ADMIN_TOKEN, NOW, ORIGIN, SECRET, WRITE_KEY, admin, basic, stored, token

AID = "0b7e3c1a-5d2f-4c8e-9a61-2f4d8b6e1c35"
SENT_AT = "2026-11-25T12:00:00.500Z"  # the collector's clock (NOW): skew correction changes nothing
PAGE = {"path": "/pricing", "url": "http://127.0.0.1:8000/pricing?x=1", "title": "Pricing",
        "referrer": "http://127.0.0.1:8000/", "search": "?x=1"}  # fmt: skip
ENVIRONMENT = {"locale": "en-US", "timezone": "UTC"}  # what the memory platform reports
SERVER_FIELDS = ("receivedAt", "sentAt", "originalTimestamp")
COMPARED = ("type", "userId", "anonymousId", "traits", "properties", "event", "name", "groupId", "previousId")
REQUIRED_KEY = "wk_required_calls"


@pytest.fixture
def config(tmp_path: pathlib.Path) -> Config:
    return Config(
        sources=[
            Source(WRITE_KEY, (ORIGIN,)),
            Source(REQUIRED_KEY, (ORIGIN,), identity="required", identity_secret=SECRET),
        ],
        admin_token=ADMIN_TOKEN,
        db_url="sqlite:///:memory:",
        assets_dir=str(tmp_path / "assets"),
    )


def call(method: str, args: list[typing.Any], n: int, page: dict | None = PAGE) -> list[typing.Any]:
    return [method, args, START_MS + n * 1000, f"msg-{n}", page]


def session_record(last_activity_ago_ms: int) -> str:
    at = START_MS - last_activity_ago_ms
    return json.dumps({"id": "5e55e55e-0000-4000-8000-000000000001", "startedAt": at - 60_000, "lastActivity": at,
                       "sequence": 7})  # fmt: skip


def beacon(calls: list[list[typing.Any]], key: str = WRITE_KEY, **fields: typing.Any) -> dict[str, typing.Any]:
    body = {"writeKey": key, "anonymousId": AID, "userId": None, "session": None, "sentAt": SENT_AT,
            "environment": ENVIRONMENT, "calls": calls}  # fmt: skip
    return {**body, **fields}


def post(client: TestClient, body: typing.Any, headers: dict[str, str] | None = None) -> typing.Any:
    # As navigator.sendBeacon sends it: text/plain, no Authorization header.
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "text/plain;charset=UTF-8", **(headers or {})}
    return client.post("/v1/calls", content=content, headers=headers)


def sdk_messages(calls: list[list[typing.Any]], session: str | None, user_id: str | None) -> list[dict]:
    """What visitrail.core.client.Client sends for the same calls, on the memory platform."""
    world = World(now_ms=START_MS)
    world.local["visitrail_aid"] = AID
    if session is not None:
        world.local["visitrail_session"] = session
    if user_id is not None:
        world.local["visitrail_user"] = json.dumps({"id": user_id})
    platform = MemoryPlatform(world)
    client = Client(platform, {"writeKey": WRITE_KEY, "endpoint": "http://collector.test", "flushAt": 1})
    for method, args, at, message_id, page in calls:
        client.call(method, args, {"timestamp": at, "messageId": message_id, "page": page})
    client.flush()
    world.run_until_idle()
    assert platform.errors() == []
    return typing.cast(list[dict[str, typing.Any]], world.stored())


SCENARIO = [
    call("identify", ["u1", {"plan": "pro", "seats": 3}], 1),
    call("user.id", [], 2),  # a getter: nothing
    call("track", ["Signed up", {"source": "ad", "nested": {"a": [1, 2]}}], 3),
    call("debug", [True], 4),
    call("page", [], 5),
    call("page", ["Docs", {"section": "api"}], 6, page={**PAGE, "path": "/docs"}),
    call("group", ["acme", {"name": "Acme"}], 7),
    call("alias", ["u1-new"], 8),
]


@pytest.mark.parametrize(
    "session, user_id",
    [
        (None, None),
        (session_record(60_000), None),  # the tab's session goes on
        (session_record(2 * 3600_000), None),  # expired: the next session's ID is derived from it
        (session_record(5_000), "u1"),  # the same user, already signed in
        ("{corrupt", None),
    ],
    ids=["no-session", "continuing", "expired", "signed-in", "corrupt-session"],
)
def test_raw_calls_become_the_events_the_sdk_sends(
    client: TestClient, session: str | None, user_id: str | None
) -> None:
    response = post(client, beacon(SCENARIO, session=session, userId=user_id))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    expected = sdk_messages(SCENARIO, session, user_id)
    events = stored(client)
    assert [e["messageId"] for e in events] == [m["messageId"] for m in expected]
    assert len(events) == 6
    for event, sent in zip(events, expected, strict=True):
        assert event["originalTimestamp"] == sent["timestamp"] == event["timestamp"]
        assert {k: v for k, v in event.items() if k not in SERVER_FIELDS} == sent
        # The fields that matter, spelled out, should the comparison above ever be loosened:
        for field in COMPARED:
            assert event.get(field) == sent.get(field), field
        for field in ("page", "sessionId", "sessionSequence"):
            assert event["context"].get(field) == sent["context"].get(field), field
    assert events[0]["userId"] == "u1" and events[1]["userId"] == "u1"  # identify sets it for what follows
    assert events[-1]["previousId"] == "u1"  # alias' default: the userId


@pytest.mark.parametrize("timeout", [5, "5", 90, None, "soon", 0, 100_000])
def test_the_session_timeout_is_read_as_the_sdk_reads_it(client: TestClient, timeout: typing.Any) -> None:
    # 10 minutes since the last activity: a new session with a 5-minute timeout, the same one with 30 or 90.
    calls = [call("track", ["E"], 1)]
    session = session_record(10 * 60_000)
    assert post(client, beacon(calls, session=session, sessionTimeout=timeout)).status_code == 200
    world = World(now_ms=START_MS)
    world.local.update({"visitrail_aid": AID, "visitrail_session": session})
    platform = MemoryPlatform(world)
    sdk = Client(platform, {"writeKey": WRITE_KEY, "endpoint": "http://collector.test", "flushAt": 1,
                            "sessionTimeout": timeout})  # fmt: skip
    sdk.call("track", ["E"], {"timestamp": calls[0][2], "messageId": calls[0][3], "page": PAGE})
    sdk.flush()
    world.run_until_idle()
    [sent] = world.stored()
    [event] = stored(client)
    assert event["context"]["sessionId"] == sent["context"]["sessionId"]
    continued = event["context"]["sessionId"] == "5e55e55e-0000-4000-8000-000000000001"
    assert continued == (timeout in (90, None, "soon", 0, 100_000))


def test_set_anonymous_id_applies_to_later_calls(client: TestClient) -> None:
    calls = [call("track", ["Before"], 1), call("setAnonymousId", ["visitor-2"], 2), call("track", ["After"], 3)]
    assert post(client, beacon(calls)).status_code == 200
    expected = sdk_messages(calls, None, None)
    events = stored(client)
    assert [e["anonymousId"] for e in events] == [AID, "visitor-2"]
    assert [{k: v for k, v in e.items() if k not in SERVER_FIELDS} for e in events] == expected


@pytest.mark.parametrize(
    "stopper",
    [call("reset", [], 2), call("rotate", [], 2), call("identify", ["someone-else"], 2)],
    ids=["reset", "rotate", "another-user"],
)
def test_calls_whose_ids_are_not_known_yet_are_left_to_the_sdk(client: TestClient, stopper: list) -> None:
    calls = [call("track", ["Before"], 1), stopper, call("track", ["After"], 3)]
    assert post(client, beacon(calls, userId="u1")).status_code == 200
    assert [e["event"] for e in stored(client)] == ["Before"]


def test_consent_calls(client: TestClient) -> None:
    calls = [
        call("track", ["Held, then dropped"], 1),
        call("consent.deny", [], 2),
        call("track", ["Denied"], 3),
        call("consent.grant", [], 4),
        call("consent.state", [], 5),
        call("track", ["Granted"], 6),
    ]
    assert post(client, beacon(calls)).status_code == 200
    assert [e["event"] for e in stored(client)] == ["Granted"]


def test_calls_made_after_a_grant_are_kept_even_when_consent_was_denied_again_later(client: TestClient) -> None:
    # The SDK's own rule (core/recorder.py): a call counts by the consent of its moment.
    calls = [
        call("consent.deny", [], 1),
        call("consent.grant", [], 2),
        call("track", ["Granted first"], 3),
        call("consent.deny", [], 4),
        call("track", ["Denied"], 5),
        call("consent.grant", [], 6),
        call("track", ["Granted again"], 7),
    ]
    assert post(client, beacon(calls)).status_code == 200
    assert [e["event"] for e in stored(client)] == ["Granted first", "Granted again"]


def test_a_later_batch_replay_is_stored_once(client: TestClient) -> None:
    assert post(client, beacon(SCENARIO)).status_code == 200
    first = stored(client)
    replay = {"batch": sdk_messages(SCENARIO, None, None), "sentAt": SENT_AT}
    response = client.post("/v1/batch", json=replay, headers=basic(WRITE_KEY))
    assert response.status_code == 200 and response.json() == {"success": True}
    assert stored(client) == first
    assert post(client, beacon(SCENARIO)).status_code == 200  # the beacon twice: the same
    assert stored(client) == first


def test_skew_is_corrected_with_sent_at(client: TestClient) -> None:
    # The device's clock is an hour slow: sentAt says 11:00:00.500, the collector received it at 12:00:00.500.
    at = int((NOW - datetime.timedelta(hours=1, seconds=1)).timestamp() * 1000)  # 10:59:59.500 by the device
    calls = [["track", ["E"], at, "skewed", PAGE]]
    assert post(client, beacon(calls, sentAt="2026-11-25T11:00:00.500Z")).status_code == 200
    [event] = stored(client)
    assert event["originalTimestamp"] == "2026-11-25T10:59:59.500Z"
    assert event["timestamp"] == "2026-11-25T11:59:59.500Z" and event["receivedAt"] == "2026-11-25T12:00:00.500Z"


def test_cors_and_write_key(client: TestClient) -> None:
    response = post(client, beacon([call("track", ["E"], 1)]), {"Origin": ORIGIN})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == ORIGIN
    unknown = post(client, beacon([call("track", ["E"], 2)], key="wk_nope"), {"Origin": ORIGIN})
    assert unknown.status_code == 401 and unknown.json()["code"] == "unauthorized"
    assert "access-control-allow-origin" in unknown.headers  # errors are readable by configured origins
    assert len(stored(client)) == 1
    options = client.options("/v1/calls", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert options.status_code == 204


GOOD = call("track", ["Fine"], 0)


@pytest.mark.parametrize(
    "bad, reason",
    [
        (["track", ["E"], START_MS, "m"], "a call must be a list"),
        ("track", "a call must be a list"),
        (["fly", [], START_MS, "m", PAGE], "unknown method 'fly'"),
        (["track", "E", START_MS, "m", PAGE], "args must be a list"),
        (["track", [], START_MS, "m", PAGE], "track(): the event name must be a non-empty string"),
        (["identify", [42], START_MS, "m", PAGE], "identify(): userId must be a string"),
        (["identify", [], START_MS, "m", PAGE], "identify(): needs a userId"),
        (["group", [], START_MS, "m", PAGE], "group(): groupId is required"),
        (["setAnonymousId", [""], START_MS, "m", PAGE], "setAnonymousId(): the anonymous ID must be"),
        (["track", ["E"], "yesterday", "m", PAGE], "the time must be a number"),
        (["track", ["E"], True, "m", PAGE], "the time must be a number"),
        (["track", ["E"], -1, "m", PAGE], "the time must be a number"),
        (["track", ["E"], 1e20, "m", PAGE], "the time must be a number"),
        (["track", ["E"], START_MS, "", PAGE], "messageId must be a non-empty string"),
        (["track", ["E"], START_MS, "m" * 100, PAGE], "messageId must be a non-empty string"),
        (["track", ["E"], START_MS, 7, PAGE], "messageId must be a non-empty string"),
        (["track", ["E"], START_MS, "m", "/"], "page must be an object"),
        (["track", ["E", {"pad": "x" * 33_000}], START_MS, "m", PAGE], "32 KB per message"),
    ],
)
def test_a_malformed_call_refuses_the_whole_beacon(client: TestClient, bad: typing.Any, reason: str) -> None:
    response = post(client, beacon([GOOD, bad, GOOD[:3] + ["m2", PAGE]]))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_request" and body["message"].startswith("call 1: ")
    [error] = body["errors"]
    assert error["index"] == 1 and reason in error["reason"]
    assert stored(client) == []


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"anonymousId": None}, "anonymousId is required"),
        ({"anonymousId": ""}, "anonymousId is required"),
        ({"anonymousId": 17}, "anonymousId is required"),
        ({"anonymousId": "a\nb"}, "anonymousId is required"),
        ({"userId": 5}, "userId must be null or a string"),
        ({"session": {"id": "s"}}, "session must be null"),
        ({"sentAt": "soon"}, "sentAt must be an ISO-8601"),
        ({"environment": "en"}, "environment must be an object"),
        ({"calls": None}, "needs a 'calls' array"),
        ({"calls": [GOOD] * 2501}, "the limit is 2500"),
    ],
)
def test_a_malformed_beacon_is_400(client: TestClient, fields: dict[str, typing.Any], reason: str) -> None:
    response = post(client, {**beacon([GOOD]), **fields})
    assert response.status_code == 400 and reason in response.json()["message"]
    assert stored(client) == []


def test_not_an_object_or_not_json(client: TestClient) -> None:
    for content in (b"[1]", b"{", b"", b'"calls"'):
        response = post(client, content)
        assert response.status_code == 400 and response.json()["code"] == "invalid_request"
    assert post(client, beacon([])).json() == {"success": True}  # nothing queued: nothing to do


def test_a_call_without_a_page_has_no_page_context(client: TestClient) -> None:
    # The loader always records the page; without one the SDK would take the page it runs on.
    assert post(client, beacon([call("track", ["E"], 1, page=None)])).status_code == 200
    [event] = stored(client)
    assert "page" not in event["context"] and event["context"]["sessionId"]


def test_required_identity_mode(client: TestClient) -> None:
    calls = [
        call("track", ["Anonymous"], 1),
        call("identify", ["U1", {"plan": "pro"}], 2),  # no token
        call("track", ["Still U1"], 3),
    ]
    response = post(client, beacon(calls, key=REQUIRED_KEY))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "rejected": [
            {"index": 1, "reason": "identity token is missing"},
            {"index": 2, "reason": "identity token is missing"},
        ],
    }
    assert [e["event"] for e in stored(client)] == ["Anonymous"]
    signed = [call("identify", ["U1", {"plan": "pro"}, {"identityToken": token("U1")}], 4), call("track", ["Paid"], 5)]
    assert post(client, beacon(signed, key=REQUIRED_KEY)).json() == {"success": True}
    held = [call("track", ["Held token"], 6)]
    answer = post(client, beacon(held, key=REQUIRED_KEY, userId="U1", identityToken=token("U1"))).json()
    assert answer == {"success": True}
    events = stored(client)
    assert [e.get("event") or e["type"] for e in events] == ["Anonymous", "identify", "Paid", "Held token"]
    assert all("identityToken" not in e["context"] for e in events)
    lookup = client.get("/api/profiles/lookup", params={"userId": "U1"}, headers=admin())
    assert lookup.json()["verified"] is True


def test_the_clock_is_the_collectors() -> None:
    assert NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z") == SENT_AT


# Bodies a page can produce that the core can't replay: each is a 400, never a 500

SESSION_AT = START_MS - 60_000


def record(**fields: typing.Any) -> str:
    return json.dumps({"id": "5e55e55e-0000-4000-8000-000000000001", "startedAt": SESSION_AT - 60_000,
                       "lastActivity": SESSION_AT, "sequence": 3, **fields})  # fmt: skip


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"session": record(id="\ud800")}, "the session record contains invalid Unicode"),
        ({"session": record(id="a\x00b")}, "the session record contains a NUL"),
        # Expired, so the next session's ID is hashed from the old one's: a lone surrogate can't be.
        ({"session": record(id="\ud800", lastActivity=SESSION_AT - 3_600_000)}, "invalid Unicode"),
        # 4,300 digits: the next one can't be written back; 4,301: Python's json can't even read it.
        ({"session": record().replace('"sequence": 3', '"sequence": ' + "9" * 4300)}, "out of range"),
        ({"session": record().replace('"sequence": 3', '"sequence": 1' + "0" * 4300)}, "out of range"),
        ({"session": record(lastActivity=10**30)}, "out of range"),
        ({"session": record(startedAt=-(10**30))}, "out of range"),
        ({"session": record(sequence=1e300)}, "out of range"),
    ],
)
def test_a_session_record_the_core_would_fail_on_is_400(
    client: TestClient, fields: dict[str, typing.Any], reason: str
) -> None:
    response = post(client, {**beacon([GOOD]), **fields})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert reason in response.json()["message"]
    assert stored(client) == []


@pytest.mark.parametrize(
    "calls",
    [
        [["setAnonymousId", ["\ud800"], START_MS, "c1", PAGE], ["track", ["E"], START_MS, "c2", PAGE]],
        [["identify", ["\ud800", {"plan": "pro"}], START_MS, "c1", PAGE]],
        [["track", ["E", {"\ud800": 1}], START_MS, "c1", PAGE]],
        [["track", ["E"], START_MS, "c1", {"path": "\ud800"}]],
    ],
    ids=["setAnonymousId", "identify", "property-name", "page"],
)
def test_lone_surrogates_in_calls_are_never_a_500(client: TestClient, calls: list[typing.Any]) -> None:
    response = post(client, beacon(calls, session=record()))
    assert response.status_code in (200, 400), response.text
    assert response.headers["content-type"] == "application/json"
    assert all("\ud800" not in json.dumps(event, ensure_ascii=False) for event in stored(client))


def test_an_unreadable_session_record_starts_a_new_session_as_in_the_sdk(client: TestClient) -> None:
    for n, raw in enumerate(["{", "[1]", '{"id": 5}', "null"]):
        assert post(client, beacon([call("track", ["E"], n)], session=raw)).status_code == 200, raw
    assert len(stored(client)) == 4 and all(event["context"]["sessionId"] for event in stored(client))


def _sdk_session(calls: list[list[typing.Any]], session: str, **options: typing.Any) -> dict[str, typing.Any]:
    """The one event the SDK makes of `calls[0]` over `session`, with the tag's `options`."""
    world = World(now_ms=START_MS)
    world.local.update({"visitrail_aid": AID, "visitrail_session": session})
    platform = MemoryPlatform(world)
    sdk = Client(platform, {"writeKey": WRITE_KEY, "endpoint": "http://collector.test", "flushAt": 1, **options})
    method, args, at, message_id, page = calls[0]
    sdk.call(method, args, {"timestamp": at, "messageId": message_id, "page": page})
    sdk.flush()
    world.run_until_idle()
    [sent] = world.stored()
    return typing.cast(dict[str, typing.Any], sent)


@pytest.mark.parametrize("hours", [1, "1", 24, None, "later", 0, 10_000])
def test_the_session_maximum_length_is_read_as_the_sdk_reads_it(client: TestClient, hours: typing.Any) -> None:
    # A session that started 90 minutes ago and was active a minute ago: over a 1-hour maximum only.
    calls = [call("track", ["E"], 1)]
    at = START_MS - 60_000
    session = json.dumps({"v": 2, "id": "5e55e55e-0000-4000-8000-000000000002", "startedAt": at - 89 * 60_000,
                          "lastActivity": at, "sequence": 3})  # fmt: skip
    assert post(client, beacon(calls, session=session, sessionMaxHours=hours)).status_code == 200
    sent = _sdk_session(calls, session, sessionMaxHours=hours)
    [event] = stored(client)
    assert event["context"]["sessionId"] == sent["context"]["sessionId"]
    continued = event["context"]["sessionId"] == "5e55e55e-0000-4000-8000-000000000002"
    assert continued == (hours not in (1, "1"))


def test_a_beacon_gives_its_events_the_entry_pages_campaign_as_the_sdk_does(client: TestClient) -> None:
    landing = {**PAGE, "url": "http://127.0.0.1:8000/?utm_source=news&gclid=G1", "search": "?utm_source=news&gclid=G1"}
    calls = [call("page", [], 1, page=landing), call("track", ["Clicked"], 2, page=PAGE)]
    assert post(client, beacon(calls)).status_code == 200
    expected = sdk_messages(calls, None, None)
    events = stored(client)
    for event, sent in zip(events, expected, strict=True):
        assert event["context"]["campaign"] == sent["context"]["campaign"] == {"source": "news", "gclid": "G1"}
        assert event["context"]["sessionEntry"] == sent["context"]["sessionEntry"]
        assert event["context"]["sessionEntry"] == {"url": landing["url"], "referrer": PAGE["referrer"]}


@pytest.mark.parametrize("automation, hinted", [(True, True), (False, False), ("yes", False), (None, False)])
def test_the_automation_hint_of_a_beacon(client: TestClient, automation: typing.Any, hinted: bool) -> None:
    environment = {**ENVIRONMENT, "automation": automation}
    assert post(client, beacon([call("track", ["E"], 1)], environment=environment)).status_code == 200
    [event] = stored(client)
    assert event["context"].get("automation") is (True if hinted else None)
    assert event["context"]["locale"] == "en-US"


def test_the_tags_other_data_attributes_in_a_beacon_change_nothing(client: TestClient) -> None:
    # The loader sends the tag's data-* attributes as they are (writeKey, sessionTimeout, ...): the
    # collector reads the ones it knows.
    body = beacon([call("track", ["E"], 1)], runtime="mpy", endpoint="http://c.test", debug="", linkDomains="a.b")
    assert post(client, body).status_code == 200
    assert [e["event"] for e in stored(client)] == ["E"]


def test_a_beacons_set_once_traits_are_the_sdks_and_reach_the_profile(client: TestClient) -> None:
    calls = [
        call("identify", ["u1", {"plan": "pro"}, {"setOnce": {"signup": "/pricing", "plan": "trial"}}], 1),
        call("identify", ["u1", None, {"setOnce": {"signup": "/later"}}], 2),  # nothing new: not sent
    ]
    assert post(client, beacon(calls)).status_code == 200
    expected = sdk_messages(calls, None, None)
    [event] = stored(client)
    assert (
        event["context"]["traitsOnce"]
        == expected[0]["context"]["traitsOnce"]
        == {"signup": "/pricing", "plan": "trial"}
    )
    profile = client.get("/api/profiles/lookup", params={"userId": "u1"}, headers=admin()).json()
    own = {key: value for key, value in profile["traits"].items() if not key.startswith("initial_")}
    assert own == {"plan": "trial", "signup": "/pricing"}  # besides the first visit's (reads.first_touch)
