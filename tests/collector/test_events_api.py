"""The read API: admin bearer token, filters, order and paging."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from .helpers import ADMIN_TOKEN, WRITE_KEY, admin, basic, stored, track


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}, basic(WRITE_KEY)],
    ids=["none", "wrong", "not-bearer", "write-key"],
)
def test_needs_the_admin_token(client: TestClient, headers: dict[str, str]) -> None:
    client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    response = client.get("/api/events", params={"anonymousId": "A1"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert "events" not in response.json()


def test_filters_order_and_paging(client: TestClient) -> None:
    batch = [track(0), track(1, anonymousId="A2"), track(2, userId="U1"), track(3)]
    client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY))
    assert [e["messageId"] for e in stored(client, anonymousId="A1")] == ["m-0", "m-2", "m-3"]
    assert [e["messageId"] for e in stored(client, userId="U1")] == ["m-2"]
    assert [e["messageId"] for e in stored(client, messageId="m-1")] == ["m-1"]
    assert [e["messageId"] for e in stored(client, anonymousId="A1", order="desc")] == ["m-3", "m-2", "m-0"]
    assert [e["messageId"] for e in stored(client, limit="2", offset="1")] == ["m-1", "m-2"]
    assert stored(client, anonymousId="nobody") == []


def test_events_carry_received_at(client: TestClient) -> None:
    client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    [event] = stored(client)
    assert event["receivedAt"] == "2026-11-25T12:00:00.500Z"


@pytest.mark.parametrize(
    "params",
    [{"limit": "-1"}, {"limit": "10001"}, {"offset": "x"}, {"order": "up"},
     {"offset": "0" * 4301}, {"limit": "9" * 4301},  # int() of over 4,300 digits raises: it was a 500
     {"limit": ["x", "5"]}],  # given twice
)  # fmt: skip
def test_bad_paging_is_400(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/events", params=params, headers=admin())
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
