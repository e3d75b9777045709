"""POST /api/test/fail-next: only with test_hooks, only with the admin token."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config

from .helpers import WRITE_KEY, admin, basic, stored, track


@pytest.fixture
def hooked(config: Config) -> typing.Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(config, test_hooks=True))) as client:
        yield client


def test_absent_without_the_flag(client: TestClient) -> None:
    response = client.post("/api/test/fail-next", json={"count": 1}, headers=admin())
    assert response.status_code == 404


def test_needs_the_admin_token(hooked: TestClient) -> None:
    assert hooked.post("/api/test/fail-next", json={"count": 1}).status_code == 401


def test_next_requests_fail_then_recover(hooked: TestClient) -> None:
    armed = hooked.post("/api/test/fail-next", json={"count": 2, "status": 429, "retryAfter": 1}, headers=admin())
    assert armed.json() == {"count": 2, "status": 429}
    hooked.options("/v1/t", headers={"Origin": "http://127.0.0.1:8000"})  # preflights don't count
    hooked.post("/v1/m", content=b"")  # nor do metrics
    for _ in range(2):
        response = hooked.post("/v1/t", json=track(), headers=basic(WRITE_KEY))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "test_failure"
    assert stored(hooked) == []
    assert hooked.post("/v1/t", json=track(), headers=basic(WRITE_KEY)).status_code == 200
    assert len(stored(hooked)) == 1


@pytest.mark.parametrize(
    "body", [{}, {"count": -1}, {"count": 1, "status": 200}, {"count": 1, "retryAfter": "soon"}, [1]]
)
def test_bad_arming_is_400(hooked: TestClient, body: object) -> None:
    assert hooked.post("/api/test/fail-next", json=body, headers=admin()).status_code == 400
