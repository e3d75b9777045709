"""The tracking API end to end, in process: routes, auth, bodies, validation, dedupe, timestamps."""

from __future__ import annotations

import gzip
import json

import pytest
from starlette.testclient import TestClient

from visitrail.collector.tracking import KINDS

from .helpers import OTHER_KEY, WRITE_KEY, admin, basic, stored, track

SUCCESS = {"success": True}


def test_batch_is_stored_in_order(client: TestClient) -> None:
    batch = [track(n) for n in range(3)]
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY))
    assert response.status_code == 200
    assert response.json() == SUCCESS
    events = stored(client, anonymousId="A1")
    assert [e["messageId"] for e in events] == ["m-0", "m-1", "m-2"]
    assert [e["event"] for e in events] == ["Event 0", "Event 1", "Event 2"]
    assert all(e["receivedAt"] == "2026-11-25T12:00:00.500Z" for e in events)


@pytest.mark.parametrize("segment", sorted(KINDS))
def test_every_path_and_short_alias(client: TestClient, segment: str) -> None:
    kind = KINDS[segment]
    message = {"anonymousId": "A1", "userId": "U1", "previousId": "A0", "event": "E", "groupId": "G1", "messageId": "x"}
    body = {"batch": [{**message, "type": "identify"}]} if kind == "batch" else message
    response = client.post(f"/v1/{segment}", json=body, headers=basic(WRITE_KEY))
    assert response.status_code == 200, response.text
    [event] = stored(client, messageId="x")
    assert event["type"] == ("identify" if kind == "batch" else kind)  # single calls: type from the path


def test_body_type_wins_over_path(client: TestClient) -> None:
    client.post("/v1/t", json={"type": "page", "anonymousId": "A1", "name": "Home"}, headers=basic(WRITE_KEY))
    [event] = stored(client)
    assert event["type"] == "page"


def test_metrics_path_is_acknowledged_and_ignored(client: TestClient) -> None:
    response = client.post("/v1/m", content=b"not even json")
    assert response.status_code == 200
    assert stored(client) == []


def test_unknown_tracking_path_is_json_404(client: TestClient) -> None:
    response = client.post("/v1/x", json=track(), headers=basic(WRITE_KEY))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_get_is_json_405_not_a_redirect(client: TestClient) -> None:
    response = client.get("/v1/track", follow_redirects=False)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


# Authentication


@pytest.mark.parametrize(
    "headers, body",
    [
        (basic(WRITE_KEY), {"batch": [track()]}),
        (basic(WRITE_KEY, colon=False), {"batch": [track()]}),  # "might work due to backward compatibility"
        ({}, {"batch": [track()], "writeKey": WRITE_KEY}),
        ({}, {"batch": [track(writeKey=WRITE_KEY)]}),  # analytics-next puts it on every item
        ({"Authorization": "Bearer some-oauth-token"}, {"batch": [track()], "writeKey": WRITE_KEY}),
    ],
    ids=["basic", "basic-no-colon", "body", "first-item", "bearer+body"],
)
def test_write_key_accepted_from(client: TestClient, headers: dict[str, str], body: dict) -> None:
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == 200, response.text
    [event] = stored(client, writeKey=WRITE_KEY)
    assert "writeKey" not in event  # the key is kept in its column, not in the stored message


def test_single_call_with_body_write_key(client: TestClient) -> None:
    response = client.post("/v1/track", json={**track(), "writeKey": WRITE_KEY})
    assert response.status_code == 200
    assert len(stored(client)) == 1


@pytest.mark.parametrize(
    "headers, body",
    [
        ({}, {"batch": [track()]}),
        (basic("wk_unknown"), {"batch": [track()]}),
        ({}, {"batch": [track()], "writeKey": "wk_unknown"}),
        ({"Authorization": "Basic !!!not-base64"}, {"batch": [track()]}),
        (basic("wk_unknown"), {"batch": [track()], "writeKey": WRITE_KEY}),  # the header is what counts
    ],
    ids=["missing", "unknown-basic", "unknown-body", "garbled-basic", "header-beats-body"],
)
def test_missing_or_unknown_write_key_is_401(client: TestClient, headers: dict[str, str], body: dict) -> None:
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.json()["message"]
    assert stored(client) == []


def test_events_are_stored_under_their_own_write_key(client: TestClient) -> None:
    client.post("/v1/batch", json={"batch": [track(1)]}, headers=basic(WRITE_KEY))
    client.post("/v1/batch", json={"batch": [track(1)]}, headers=basic(OTHER_KEY))  # same messageId, other key
    assert len(stored(client, writeKey=WRITE_KEY)) == 1
    assert len(stored(client, writeKey=OTHER_KEY)) == 1


# Bodies


def test_text_plain_body_is_parsed_as_json(client: TestClient) -> None:
    body = json.dumps({"batch": [track()], "writeKey": WRITE_KEY})
    response = client.post("/v1/b", content=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert response.status_code == 200
    assert len(stored(client)) == 1


def test_gzip_body_is_decoded(client: TestClient) -> None:
    body = gzip.compress(json.dumps({"batch": [track(n) for n in range(5)]}).encode())
    headers = {**basic(WRITE_KEY), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert len(stored(client)) == 5


@pytest.mark.parametrize(
    "content, headers",
    [
        (b'{"batch": [', {}),
        (b"", {}),
        (b"\xff\xfe\x00garbage", {}),
        (b'{"batch": [{"type": "track", "event": NaN, "anonymousId": "A"}]}', {}),
        (b"not gzip at all", {"Content-Encoding": "gzip"}),
        (gzip.compress(b'{"batch": []}')[:-6], {"Content-Encoding": "gzip"}),
        (b'{"batch": []}', {"Content-Encoding": "br"}),
        (b"[1, 2, 3]", {}),
        (b'{"batch": {"type": "track"}}', {}),
        (b"[" * 100_000, {}),
    ],
    ids=[
        "truncated",
        "empty",
        "bad-utf8",
        "nan",
        "bad-gzip",
        "truncated-gzip",
        "brotli",
        "array",
        "batch-not-list",
        "deep",
    ],
)
def test_malformed_body_is_400_json_and_nothing_stored(client: TestClient, content: bytes, headers: dict) -> None:
    response = client.post("/v1/batch", content=content, headers={**basic(WRITE_KEY), **headers})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert stored(client) == []


def test_huge_body_is_refused(client: TestClient) -> None:
    body = json.dumps({"batch": [track(n, properties={"pad": "x" * 20_000}) for n in range(40)]})
    assert len(body) > 500 * 1024
    response = client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert "500 KB" in response.json()["message"]
    assert stored(client) == []


def test_gzip_bomb_is_refused_after_decompression(client: TestClient) -> None:
    body = gzip.compress(b'{"batch": [' + b" " * (5 * 1024 * 1024) + b"]}")
    assert len(body) < 500 * 1024
    response = client.post("/v1/batch", content=body, headers={**basic(WRITE_KEY), "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "500 KB" in response.json()["message"]


# Validation: a batch is all or nothing


def test_one_bad_message_rejects_the_whole_batch(client: TestClient) -> None:
    batch = [track(0), track(1), {"type": "track", "anonymousId": "A1"}, track(3)]
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"] == [{"index": 2, "reason": "track needs an 'event' string"}]
    assert "message 2" in body["message"]
    assert stored(client) == []


@pytest.mark.parametrize(
    "message, reason",
    [
        ({"type": "track", "event": "E"}, "userId or anonymousId is required"),
        ({"type": "track", "event": "E", "userId": None, "anonymousId": None}, "userId or anonymousId is required"),
        ({"type": "alias", "userId": "U1", "anonymousId": "A1"}, "alias needs userId and previousId"),
        ({"type": "group", "userId": "U1"}, "group needs a groupId"),
        ({"type": "track", "event": 42, "userId": "U1"}, "track needs an 'event' string"),
        ({"type": "bogus", "userId": "U1"}, "unknown type 'bogus'"),
        ({"userId": "U1"}, "type is required"),
        ({"type": ["track"], "userId": "U1"}, "unknown type"),
        ({"type": "identify", "userId": {"id": 1}}, "userId must be a string or a number"),
        ({"type": "identify", "userId": "U1", "traits": []}, "traits must be an object"),
        ({"type": "identify", "userId": "U1", "context": {"traitsOnce": []}}, "context.traitsOnce must be an object"),
        ({"type": "identify", "userId": "U1", "context": {"traitsOnce": "x"}}, "context.traitsOnce must be an object"),
        ({"type": "identify", "userId": "U1", "context": {"traitsOnce": {"k" * 513: 1}}}, "at most 512 characters"),
        ({"type": "identify", "userId": "U1", "context": {"traitsOnce": {"a": "\x00"}}}, "NUL"),
        ({"type": "identify", "userId": "U1", "timestamp": "yesterday"}, "timestamp must be an ISO-8601"),
        ({"type": "identify", "userId": "U1", "messageId": 7}, "messageId must be a string"),
        ({"type": "identify", "userId": "U1", "name": "\ud800"}, "invalid Unicode"),
        ("track", "message must be a JSON object"),
    ],
)
def test_invalid_message_reasons(client: TestClient, message: object, reason: str) -> None:
    body = json.dumps({"batch": [track(0), message]})  # ASCII-escaped, so a lone surrogate can be sent
    response = client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["index"] == 1
    assert reason in error["reason"]
    assert stored(client) == []


def test_set_once_traits_are_checked_with_the_batch_and_reach_the_profile(client: TestClient) -> None:
    first = {"type": "identify", "userId": "U1", "messageId": "i1", "timestamp": "2026-11-25T11:00:00.000Z",
             "context": {"traitsOnce": {"signup": "first"}}}  # fmt: skip
    bad_level = {"batch": [first], "context": {"traitsOnce": 7}}
    response = client.post("/v1/batch", json=bad_level, headers=basic(WRITE_KEY))
    assert (
        response.status_code == 400 and "batch-level context.traitsOnce must be an object" in response.json()["message"]
    )
    # The batch-level context.traitsOnce is an identify's when it has none of its own.
    later = {"type": "identify", "userId": "U1", "messageId": "i2", "timestamp": "2026-11-25T11:30:00.000Z"}
    body = {"batch": [first, later], "context": {"traitsOnce": {"signup": "batch", "via": "batch"}}}
    assert client.post("/v1/batch", json=body, headers=basic(WRITE_KEY)).status_code == 200
    # Set-once traits mean something on an identify only: elsewhere they are stored, unread.
    other = track(3, userId="U1", context={"traitsOnce": "junk"})
    assert client.post("/v1/batch", json={"batch": [other]}, headers=basic(WRITE_KEY)).status_code == 200
    profile = client.get("/api/profiles/lookup", params={"userId": "U1"}, headers=admin()).json()
    assert profile["traits"] == {"signup": "first", "via": "batch"}
    assert [e["context"]["traitsOnce"] for e in stored(client, userId="U1")][:2] == [
        {"signup": "first"}, {"signup": "batch", "via": "batch"}
    ]  # fmt: skip


def test_alias_needs_no_anonymous_id_and_numbers_are_ids(client: TestClient) -> None:
    batch = [{"type": "alias", "userId": "U1", "previousId": "A1"}, {"type": "identify", "userId": 42}]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY)).status_code == 200
    assert stored(client, userId="42")[0]["userId"] == 42  # the body is stored as sent


def test_python_style_explicit_null_ids(client: TestClient) -> None:
    message = track(userId=None, anonymousId="A1")
    assert client.post("/v1/batch", json={"batch": [message]}, headers=basic(WRITE_KEY)).status_code == 200


def test_empty_batch_is_fine(client: TestClient) -> None:
    assert client.post("/v1/batch", json={"batch": []}, headers=basic(WRITE_KEY)).json() == SUCCESS


# Limits


def test_message_over_32_kb_is_refused(client: TestClient) -> None:
    big = track(1, properties={"pad": "x" * (33 * 1024)})
    response = client.post("/v1/batch", json={"batch": [track(0), big]}, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["index"] == 1 and "32 KB per message" in error["reason"]
    assert stored(client) == []


def test_single_call_over_32_kb_is_refused(client: TestClient) -> None:
    response = client.post("/v1/track", json=track(properties={"pad": "x" * (33 * 1024)}), headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert "32 KB per message" in response.json()["message"]


def test_more_than_2500_messages_is_refused(client: TestClient) -> None:
    batch = [{"type": "page", "anonymousId": "A"} for _ in range(2501)]
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert "2500 messages per batch" in response.json()["message"]
    assert stored(client) == []


def test_2500_messages_are_fine(client: TestClient) -> None:
    batch = [{"type": "page", "anonymousId": "A", "messageId": str(n)} for n in range(2500)]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY)).status_code == 200
    assert len(stored(client, limit="10000")) == 2500


def test_message_id_of_100_characters_is_refused(client: TestClient) -> None:
    response = client.post("/v1/batch", json={"batch": [track(messageId="m" * 100)]}, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert "fewer than 100 characters" in response.json()["errors"][0]["reason"]
    ok = client.post("/v1/batch", json={"batch": [track(messageId="m" * 99)]}, headers=basic(WRITE_KEY))
    assert ok.status_code == 200


def test_errors_list_is_capped(client: TestClient) -> None:
    batch = [{"type": "track"} for _ in range(500)]
    body = client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY)).json()
    assert len(body["errors"]) == 100
    assert "and 499 more" in body["message"]


# Normalisation


def test_batch_context_and_integrations_are_merged_message_wins(client: TestClient) -> None:
    body = {
        "batch": [
            track(0, context={"page": {"path": "/a"}, "locale": "fr"}, integrations={"All": False}),
            track(1),
        ],
        "context": {"library": {"name": "analytics-python"}, "locale": "en"},
        "integrations": {"All": True, "Amplitude": True},
    }
    assert client.post("/v1/batch", json=body, headers=basic(WRITE_KEY)).status_code == 200
    first, second = stored(client)
    assert first["context"] == {"library": {"name": "analytics-python"}, "locale": "fr", "page": {"path": "/a"}}
    assert first["integrations"] == {"All": False, "Amplitude": True}
    assert second["context"] == {"library": {"name": "analytics-python"}, "locale": "en"}
    assert second["integrations"] == {"All": True, "Amplitude": True}


def test_missing_message_id_is_generated(client: TestClient) -> None:
    message = {"type": "page", "anonymousId": "A1"}
    client.post("/v1/batch", json={"batch": [message, message]}, headers=basic(WRITE_KEY))
    first, second = stored(client)
    assert first["messageId"] and second["messageId"] and first["messageId"] != second["messageId"]


def test_same_batch_twice_is_stored_once(client: TestClient) -> None:
    body = {"batch": [track(n) for n in range(3)]}
    for _ in range(2):
        response = client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
        assert response.status_code == 200 and response.json() == SUCCESS
    assert len(stored(client)) == 3


def test_duplicate_within_one_batch_is_stored_once(client: TestClient) -> None:
    body = {"batch": [track(1, event="first"), track(1, event="retry"), track(2)]}
    assert client.post("/v1/batch", json=body, headers=basic(WRITE_KEY)).status_code == 200
    events = stored(client)
    assert [e["event"] for e in events] == ["first", "Event 2"]


def test_skew_correction_with_batch_sent_at(client: TestClient) -> None:
    # The device clock is a day behind; the event happened 3 s before the batch was sent.
    body = {
        "batch": [track(timestamp="2026-11-24T12:00:00.000Z")],
        "sentAt": "2026-11-24T12:00:03.000+00:00",
    }
    client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
    [event] = stored(client)
    assert event["originalTimestamp"] == "2026-11-24T12:00:00.000Z"
    assert event["sentAt"] == "2026-11-24T12:00:03.000Z"
    assert event["receivedAt"] == "2026-11-25T12:00:00.500Z"
    assert event["timestamp"] == "2026-11-25T11:59:57.500Z"


def test_skew_correction_prefers_message_fields(client: TestClient) -> None:
    message = track(
        timestamp="2030-01-01T00:00:00Z",
        originalTimestamp="2026-11-25T13:00:00.250+01:00",  # 12:00:00.250Z
        sentAt="2026-11-25T12:00:01.250Z",
    )
    client.post("/v1/batch", json={"batch": [message], "sentAt": "2000-01-01T00:00:00Z"}, headers=basic(WRITE_KEY))
    [event] = stored(client)
    assert event["timestamp"] == "2026-11-25T11:59:59.500Z"


def test_without_sent_at_the_client_timestamp_is_kept(client: TestClient) -> None:
    client.post("/v1/track", json=track(timestamp="2026-11-25T01:54:26.808399+00:00"), headers=basic(WRITE_KEY))
    client.post("/v1/track", json=track(1), headers=basic(WRITE_KEY))
    first, second = stored(client)
    assert first["timestamp"] == "2026-11-25T01:54:26.808Z"
    assert second["timestamp"] == second["receivedAt"] == "2026-11-25T12:00:00.500Z"
    assert "sentAt" not in second and "originalTimestamp" not in second


@pytest.mark.parametrize(
    "times",
    [
        {"timestamp": "9999-12-31T23:59:59.999Z"},
        {"timestamp": "0001-01-01T00:00:00Z"},
        {"timestamp": "2026-11-25T13:00:00.501Z"},  # an hour and a millisecond ahead
        {"timestamp": "2024-11-25T12:00:00.499Z"},  # two years (730 days) and a millisecond ago
        {"originalTimestamp": "2026-11-25T11:59:00.000Z", "sentAt": "0001-01-01T00:00:00Z"},  # "year 4052"
        {"originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"},  # overflows the correction
    ],
)
def test_a_time_outside_the_window_is_the_time_of_receipt(client: TestClient, times: dict[str, str]) -> None:
    response = client.post("/v1/batch", json={"batch": [track(**times)]}, headers=basic(WRITE_KEY))
    assert response.status_code == 200, response.text
    [event] = stored(client)
    assert event["timestamp"] == event["receivedAt"] == "2026-11-25T12:00:00.500Z"
    # The client's own claims stay as it sent them, for whoever debugs its clock.
    for field in ("originalTimestamp", "sentAt"):
        if field in times:
            assert event[field][:4] == times[field][:4]


@pytest.mark.parametrize("timestamp", ["2026-11-25T13:00:00.500Z", "2024-11-25T12:00:00.500Z"])
def test_a_time_inside_the_window_is_kept(client: TestClient, timestamp: str) -> None:
    assert client.post("/v1/track", json=track(timestamp=timestamp), headers=basic(WRITE_KEY)).status_code == 200
    assert stored(client)[0]["timestamp"] == timestamp


def test_a_future_dated_identify_pins_nothing(client: TestClient) -> None:
    far = {"type": "identify", "userId": "U1", "traits": {"plan": "pinned"}, "messageId": "i1",
           "timestamp": "9999-12-31T23:59:59.999Z"}  # fmt: skip
    later = {**far, "traits": {"plan": "pro"}, "messageId": "i2", "timestamp": "2026-11-25T12:00:00.600Z"}
    client.post("/v1/batch", json={"batch": [far]}, headers=basic(WRITE_KEY))
    client.post("/v1/batch", json={"batch": [later]}, headers=basic(WRITE_KEY))
    client.post(
        "/v1/track", json=track(2, anonymousId="A2", timestamp="2026-11-25T12:00:00.700Z"), headers=basic(WRITE_KEY)
    )
    found = client.get("/api/profiles/lookup", params={"userId": "U1"}, headers=admin()).json()
    assert found["traits"] == {"plan": "pro"} and found["lastSeen"] == "2026-11-25T12:00:00.600Z"
    # Not pinned to the top of the dashboard's list either: most recently seen first.
    listed = client.get("/api/profiles", headers=admin()).json()["profiles"]
    assert [p["userIds"] for p in listed] == [[], ["U1"]]


def test_bad_batch_level_fields_are_400(client: TestClient) -> None:
    for extra in ({"context": "x"}, {"integrations": [1]}, {"sentAt": "soon"}):
        response = client.post("/v1/batch", json={"batch": [track()], **extra}, headers=basic(WRITE_KEY))
        assert response.status_code == 400, extra


@pytest.mark.parametrize("field", ["userId", "anonymousId", "previousId", "groupId"])
@pytest.mark.parametrize("value", ["undefined", "null", " None ", "NaN", "0", -1, "anonymous", "[object Object]", "  "])
def test_placeholder_ids_never_become_identities(client: TestClient, field: str, value: object) -> None:
    message = {"type": "alias" if field == "previousId" else "group" if field == "groupId" else "identify",
               "userId": "u-real", "previousId": "p-real", "groupId": "g-real", "anonymousId": "a-real",
               "messageId": "placeholder", field: value}  # fmt: skip
    response = client.post("/v1/batch", json={"batch": [message]}, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert "is a placeholder, not an ID" in response.json()["errors"][0]["reason"]
    assert stored(client) == []
