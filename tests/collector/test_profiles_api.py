"""The profiles read API and /api/events?profileId=, in process, fed through the tracking API."""

from __future__ import annotations

import typing

import pytest
from starlette.testclient import TestClient

from .helpers import WRITE_KEY, admin, basic


def send(client: TestClient, *batch: dict[str, typing.Any], **body: typing.Any) -> None:
    response = client.post("/v1/batch", json={"batch": list(batch), **body}, headers=basic(WRITE_KEY))
    assert response.status_code == 200, response.text


def msg(n: int, type: str = "track", **fields: typing.Any) -> dict[str, typing.Any]:
    base: dict[str, typing.Any] = {"type": type, "messageId": f"m{n}", "timestamp": f"2026-11-25T11:00:{n:02}.000Z"}
    if type == "track":
        base["event"] = f"E{n}"
    return {**base, **fields}


def get(client: TestClient, path: str, **params: typing.Any) -> typing.Any:
    response = client.get(path, params=params, headers=admin())
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "path",
    ["/api/profiles", "/api/profiles/lookup?userId=U1", "/api/profiles/abc", "/api/events?profileId=abc"],
)
def test_needs_the_admin_token(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_lookup_by_either_id(client: TestClient) -> None:
    send(
        client,
        msg(1, "page", anonymousId="A1", name="Home", context={"sessionId": "s1"}),
        msg(
            2, "identify", userId="U1", anonymousId="A1", traits={"email": "u@example.com"}, context={"sessionId": "s1"}
        ),
        msg(3, anonymousId="A2", context={"sessionId": "s2"}),
    )
    send(client, msg(4, userId="U1", anonymousId="A2", context={"sessionId": "s2"}))
    profile = get(client, "/api/profiles/lookup", userId="U1")
    assert get(client, "/api/profiles/lookup", anonymousId="A2") == profile
    assert get(client, f"/api/profiles/{profile['profileId']}") == profile
    assert profile == {
        "profileId": profile["profileId"],
        "userIds": ["U1"],
        "anonymousIds": ["A1", "A2"],
        "traits": {"email": "u@example.com"},
        "eventCount": 4,
        "firstSeen": "2026-11-25T11:00:01.000Z",
        "lastSeen": "2026-11-25T11:00:04.000Z",
        "verified": False,
        "sessions": [session("s2", "11:00:03", "11:00:04", profile["profileId"], page_views=0),
                     session("s1", "11:00:01", "11:00:02", profile["profileId"], page_views=1)],
    }  # fmt: skip


def session(sid: str, first: str, last: str, profile_id: str, page_views: int) -> dict[str, typing.Any]:
    """A session of events sent without a page (as a server sends them) in the lookup's shape."""
    return {
        "sessionId": sid,
        "profileId": profile_id,
        "firstSeen": f"2026-11-25T{first}.000Z",
        "lastSeen": f"2026-11-25T{last}.000Z",
        "durationMs": 1000,
        "eventCount": 2,
        "pageViews": page_views,
        "entryUrl": None,
        "exitUrl": None,
        "referrer": None,
        "campaign": {"name": None, "source": None, "medium": None, "term": None, "content": None},
        "clickIds": {},
        "engagedMs": 0,
        "bounce": page_views == 1,
        "bot": False,
    }


def test_amplitude_session_ids_count_as_sessions(client: TestClient) -> None:
    send(client, msg(1, anonymousId="A1", integrations={"Actions Amplitude": {"session_id": 1764068400000}}))
    assert get(client, "/api/profiles/lookup", anonymousId="A1")["sessions"][0]["sessionId"] == "1764068400000:A1"


def test_numeric_ids_are_looked_up_as_text(client: TestClient) -> None:
    send(client, msg(1, userId=42, anonymousId="A1"))
    assert get(client, "/api/profiles/lookup", userId="42")["userIds"] == ["42"]


def test_a_lookup_after_a_merge_reads_the_surviving_profile(client: TestClient) -> None:
    send(client, msg(1, anonymousId="A1"), msg(2, userId="U1", anonymousId="A2"))
    gone = get(client, "/api/profiles/lookup", anonymousId="A1")["profileId"]
    send(client, msg(3, userId="U1", anonymousId="A1"))  # A1's profile merges into U1's
    # The ID and its profile are read in one snapshot (storage.profile_of): no merge between them.
    profile = get(client, "/api/profiles/lookup", anonymousId="A1")
    assert profile["profileId"] != gone
    assert profile["anonymousIds"] == ["A1", "A2"] and profile["userIds"] == ["U1"]


@pytest.mark.parametrize(
    "params, status",
    [({}, 400), ({"userId": "U1", "anonymousId": "A1"}, 400), ({"userId": "nobody"}, 404)],
)
def test_lookup_errors(client: TestClient, params: dict[str, str], status: int) -> None:
    response = client.get("/api/profiles/lookup", params=params, headers=admin())
    assert response.status_code == status
    assert response.json()["code"] == ("invalid_request" if status == 400 else "not_found")


def test_unknown_profile_id_is_404(client: TestClient) -> None:
    response = client.get("/api/profiles/nope", headers=admin())
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_traits_use_the_skew_corrected_timestamp(client: TestClient) -> None:
    # The collector's clock says 12:00:00.5 (conftest.NOW). The first device runs an hour slow, the
    # second an hour fast: by their own clocks the second identify is later, in fact the first is.
    slow = msg(1, "identify", userId="U1", traits={"plan": "pro"}, timestamp="2026-11-25T10:50:00.000Z")
    fast = msg(2, "identify", userId="U1", traits={"plan": "free"}, timestamp="2026-11-25T12:40:00.000Z")
    send(client, slow, sentAt="2026-11-25T11:00:00.000Z")  # happened at 11:50:00.5
    send(client, fast, sentAt="2026-11-25T13:00:00.000Z")  # happened at 11:40:00.5
    profile = get(client, "/api/profiles/lookup", userId="U1")
    assert profile["traits"] == {"plan": "pro"}
    assert (profile["firstSeen"], profile["lastSeen"]) == ("2026-11-25T11:40:00.500Z", "2026-11-25T11:50:00.500Z")


def test_search(client: TestClient) -> None:
    send(
        client,
        msg(1, "identify", userId="ann", traits={"company": "Acme Corp"}),
        msg(2, "identify", userId="bob", traits={"company": "Initech"}),
        msg(3, anonymousId="visitor-acme"),
    )
    found = get(client, "/api/profiles", query="ACME")["profiles"]
    assert [p["userIds"] or p["anonymousIds"] for p in found] == [["visitor-acme"], ["ann"]]
    assert set(found[1]) == {
        "profileId", "userIds", "anonymousIds", "traits", "eventCount", "firstSeen", "lastSeen", "verified",
    }  # fmt: skip
    assert len(get(client, "/api/profiles")["profiles"]) == 3
    assert len(get(client, "/api/profiles", limit="1")["profiles"]) == 1
    assert client.get("/api/profiles", params={"limit": "1001"}, headers=admin()).status_code == 400
    assert client.get("/api/profiles", params={"limit": "9" * 4301}, headers=admin()).status_code == 400


def test_a_profiles_events_newest_first_with_next(client: TestClient) -> None:
    send(client, *[msg(n, userId="U1" if n % 2 else None, anonymousId="A1") for n in range(5)])
    send(client, msg(9, anonymousId="someone-else"))
    profile_id = get(client, "/api/profiles/lookup", userId="U1")["profileId"]
    first = get(client, "/api/events", profileId=profile_id, limit="2")
    assert [e["messageId"] for e in first["events"]] == ["m4", "m3"] and first["next"] == 2
    second = get(client, "/api/events", profileId=profile_id, limit="2", offset="2")
    assert [e["messageId"] for e in second["events"]] == ["m2", "m1"] and second["next"] == 4
    last = get(client, "/api/events", profileId=profile_id, limit="2", offset="4")
    assert [e["messageId"] for e in last["events"]] == ["m0"] and last["next"] is None
    assert get(client, "/api/events", profileId="nope") == {"events": [], "next": None}


@pytest.mark.parametrize("extra", [{"userId": "U1"}, {"order": "asc"}, {"limit": "x"}])
def test_profile_events_bad_params_are_400(client: TestClient, extra: dict[str, str]) -> None:
    response = client.get("/api/events", params={"profileId": "p", **extra}, headers=admin())
    assert response.status_code == 400


def test_events_without_profile_id_keep_their_old_shape(client: TestClient) -> None:
    send(client, msg(1, anonymousId="A1"))
    assert list(get(client, "/api/events", anonymousId="A1")) == ["events"]
