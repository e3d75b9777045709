"""CORS: preflights are answered for any configured origin; responses are readable per source."""

from __future__ import annotations

from starlette.testclient import TestClient

from .helpers import ORIGIN, OTHER_KEY, OTHER_ORIGIN, WRITE_KEY, basic, stored, track

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_preflight_echoes_an_allowed_origin(client: TestClient) -> None:
    for origin in (ORIGIN, OTHER_ORIGIN):  # each allowed by one source: preflights carry no key
        response = client.options("/v1/t", headers={"Origin": origin, **PREFLIGHT})
        assert response.status_code in (200, 204)
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["access-control-allow-headers"] == "authorization, content-type, x-retry-count"
        assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert response.headers["vary"] == "Origin"


def test_preflight_refuses_other_origins(client: TestClient) -> None:
    for origin in ("http://evil.test", "http://127.0.0.1:8001", ORIGIN + ".evil.test"):
        response = client.options("/v1/batch", headers={"Origin": origin, **PREFLIGHT})
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        assert response.json()["code"] == "origin_not_allowed"


def test_options_without_origin_is_plain(client: TestClient) -> None:
    response = client.options("/v1/batch")
    assert response.status_code == 204
    assert response.headers["allow"] == "POST, OPTIONS"


def test_post_from_the_sources_origin_is_readable(client: TestClient) -> None:
    response = client.post("/v1/t", json=track(), headers={"Origin": ORIGIN, **basic(WRITE_KEY)})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


def test_post_with_another_sources_key_is_stored_but_not_readable(client: TestClient) -> None:
    response = client.post("/v1/t", json=track(), headers={"Origin": ORIGIN, **basic(OTHER_KEY)})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert len(stored(client)) == 1


def test_errors_are_readable_by_configured_origins(client: TestClient) -> None:
    response = client.post("/v1/t", json=track(), headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_wildcard_source_allows_any_origin() -> None:
    from visitrail.collector.config import Config, Source

    config = Config(sources=[Source("k", ("*",))])
    assert config.origin_allowed("http://anything.test")
    assert not config.origin_allowed(None)
