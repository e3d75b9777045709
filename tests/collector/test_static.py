"""The /analytics/ asset route: media types, CORS, and a missing directory."""

from __future__ import annotations

import pathlib

import pytest
from starlette.testclient import TestClient

from visitrail.collector.config import Config


@pytest.fixture
def assets(config: Config) -> pathlib.Path:
    directory = pathlib.Path(config.assets_dir)
    (directory / "pkg").mkdir(parents=True)
    (directory / "loader.js").write_text("export {}")
    (directory / "loader.mjs").write_text("export {}")
    (directory / "runtime.wasm").write_bytes(b"\0asm\1\0\0\0")
    (directory / "pkg" / "tracker.py").write_text("print('hi')")
    (directory / "pkg" / "tracker.mpy").write_bytes(b"M\x06")
    return directory


@pytest.mark.parametrize(
    "path, media_type",
    [
        ("runtime.wasm", "application/wasm"),
        ("loader.js", "text/javascript"),
        ("loader.mjs", "text/javascript"),
        ("pkg/tracker.py", "text/plain; charset=utf-8"),
        ("pkg/tracker.mpy", "application/octet-stream"),
    ],
)
def test_media_types_and_cors(client: TestClient, assets: pathlib.Path, path: str, media_type: str) -> None:
    response = client.get(f"/analytics/{path}", headers={"Origin": "http://127.0.0.1:8000"})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.content == (assets / path).read_bytes()


def test_missing_file_is_404_with_cors(client: TestClient, assets: pathlib.Path) -> None:
    response = client.get("/analytics/nope.js")
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"


def test_no_escape_from_the_directory(client: TestClient, assets: pathlib.Path) -> None:
    (assets.parent / "secret.txt").write_text("secret")
    response = client.get("/analytics/..%2Fsecret.txt")
    assert response.status_code == 404


def test_missing_directory_is_a_clear_404(client: TestClient, config: Config) -> None:
    response = client.get("/analytics/loader.js")
    assert response.status_code == 404
    message = response.json()["message"]
    assert "--assets" in message and "build.py" in message and "visitrail assets export" in message
    assert config.assets_dir not in message and "/" not in message.replace("--assets DIR", "")  # no path of ours
