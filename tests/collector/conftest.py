from __future__ import annotations

import base64
import datetime
import typing

import pytest
from starlette.testclient import TestClient
from visitrail.collector.app import create_app
from visitrail.collector.config import Config, Source

WRITE_KEY = "wk_test_123"
OTHER_KEY = "wk_other"
ADMIN_TOKEN = "admin-secret"
ORIGIN = "http://127.0.0.1:8000"
OTHER_ORIGIN = "http://other.test:9000"
NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=datetime.UTC)


def basic(key: str, colon: bool = True) -> dict[str, str]:
    token = base64.b64encode(f"{key}{':' if colon else ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def track(n: int = 0, **fields: typing.Any) -> dict[str, typing.Any]:
    return {"type": "track", "event": f"Event {n}", "anonymousId": "A1", "messageId": f"m-{n}", **fields}


@pytest.fixture
def config(tmp_path: typing.Any) -> Config:
    return Config(
        sources=[Source(WRITE_KEY, (ORIGIN,)), Source(OTHER_KEY, (OTHER_ORIGIN,))],
        admin_token=ADMIN_TOKEN,
        db_url="sqlite:///:memory:",
        assets_dir=str(tmp_path / "assets"),
    )


@pytest.fixture
def client(config: Config) -> typing.Iterator[TestClient]:
    with TestClient(create_app(config, clock=lambda: NOW)) as client:
        yield client


def stored(client: TestClient, **filters: str) -> list[dict[str, typing.Any]]:
    response = client.get("/api/events", params=filters, headers=admin())
    assert response.status_code == 200, response.text
    return response.json()["events"]
