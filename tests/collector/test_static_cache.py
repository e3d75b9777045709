"""The /analytics/ asset route: versioned URLs, Cache-Control, and the build's precompressed files."""

from __future__ import annotations

import gzip
import pathlib

import httpx
import pytest
from starlette.testclient import TestClient

from visitrail.collector.config import Config

try:
    import brotli
except ImportError:  # the collector never needs it: it only sends the build's .br files
    brotli = None

VERSION = "0123abcdef"
OTHER_VERSION = "fedcba9876"
IMMUTABLE = "public, max-age=31536000, immutable"
LOADER_CACHE = "public, max-age=300, stale-while-revalidate=86400"
WASM = "micropython/micropython.wasm"


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9)
    return brotli.compress(data) if brotli is not None else b"not really brotli: " + data[:10]


@pytest.fixture
def dist(config: Config) -> pathlib.Path:
    directory = pathlib.Path(config.assets_dir)
    (directory / "micropython").mkdir(parents=True)
    (directory / "visitrail").mkdir()
    (directory / "VERSION").write_text(VERSION + "\n")
    files = {
        "loader.js": b"const version = '0123abcdef';\n" * 20,
        WASM: b"\0asm\1\0\0\0" + bytes(range(256)) * 40,
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / f"{name}.gz").write_bytes(compress(data, "gzip"))
        (directory / f"{name}.br").write_bytes(compress(data, "br"))
    (directory / "boot.js").write_text("export {}")  # too small to be worth compressing: no siblings
    (directory / "visitrail" / "client.mpy").write_bytes(b"M\x06")
    (directory / "visitrail-mpy.json").write_text('{"name": "visitrail", "files": {}}')
    return directory


def fetch(
    client: TestClient, path: str, accept_encoding: str | None = "identity", method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """/analytics/<path>, and the body's bytes as sent: not decoded as httpx would.

    `if_none_match="..."` sends If-None-Match; `accept_encoding=None`, no Accept-Encoding at all.
    """
    request = client.build_request(method, f"/analytics/{path}")
    request.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    if accept_encoding is None:
        del request.headers["accept-encoding"]
    else:
        request.headers["accept-encoding"] = accept_encoding
    response = client.send(request, stream=True)
    try:
        return response, b"".join(response.iter_raw())
    finally:
        response.close()


def test_the_current_version_is_immutable(client: TestClient, dist: pathlib.Path) -> None:
    response, body = fetch(client, f"v/{VERSION}/{WASM}", accept_encoding="gzip")
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"] == "application/wasm"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == str(len(body))
    assert body == (dist / f"{WASM}.gz").read_bytes()
    assert gzip.decompress(body) == (dist / WASM).read_bytes()
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["boot.js", "visitrail/client.mpy", "loader.js", WASM])
def test_an_older_version_gets_the_current_file_revalidated(client: TestClient, dist: pathlib.Path, path: str) -> None:
    response, body = fetch(client, f"v/{OTHER_VERSION}/{path}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert body == (dist / path).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "v/0123ABCDEF/boot.js",  # versions are lowercase
        "v/0123abcde/boot.js",
        "v/0123abcdef0/boot.js",
        "v/0123abcdeg/boot.js",
        "v/latest/boot.js",
        f"v/{VERSION}",
        f"v/{VERSION}/",
        "v",
        f"v/{VERSION}/nope.js",
    ],
)
def test_a_bad_versioned_url_is_a_json_404(client: TestClient, dist: pathlib.Path, path: str) -> None:
    response = client.get(f"/analytics/{path}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path, cache_control",
    [
        ("loader.js", LOADER_CACHE),
        ("visitrail-mpy.json", LOADER_CACHE),  # the PyScript package a page without the tag names
        ("boot.js", "no-cache"),
        (WASM, "no-cache"),
        ("visitrail/client.mpy", "no-cache"),
        ("VERSION", "no-cache"),
        ("loader.js.gz", "no-cache"),
    ],
)
def test_unversioned_urls(client: TestClient, dist: pathlib.Path, path: str, cache_control: str) -> None:
    response, body = fetch(client, path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == cache_control
    assert body == (dist / path).read_bytes()


@pytest.mark.parametrize(
    "accept_encoding, encoding",
    [
        ("br, gzip", "br"),
        ("gzip, deflate, br, zstd", "br"),  # Chromium's
        ("gzip;q=1.0, br;q=0.5", "br"),  # any br will do: it's smaller
        ("gzip", "gzip"),
        ("GZip", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("br ; q=0.000, gzip;q=0.1", "gzip"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("br;q=0, *", "gzip"),
        ("br;q=nope, gzip;q=0", None),
        ("gzip;q=0, br;q=0", None),
        ("deflate", None),
        ("identity", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_encoding_picks_the_file(
    client: TestClient, dist: pathlib.Path, accept_encoding: str | None, encoding: str | None
) -> None:
    response, body = fetch(client, f"v/{VERSION}/{WASM}", accept_encoding=accept_encoding)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/wasm"
    assert response.headers["vary"] == "Accept-Encoding"  # on the uncompressed answer too
    assert response.headers.get("content-encoding") == encoding
    suffix = {"br": ".br", "gzip": ".gz", None: ""}[encoding]
    assert body == (dist / f"{WASM}{suffix}").read_bytes()
    assert response.headers["content-length"] == str(len(body))


def test_the_loader_is_precompressed_too(client: TestClient, dist: pathlib.Path) -> None:
    response, body = fetch(client, "loader.js", accept_encoding="br, gzip")
    assert response.headers["content-encoding"] == "br"
    assert response.headers["content-type"] == "text/javascript"
    assert response.headers["cache-control"] == LOADER_CACHE
    assert body == (dist / "loader.js.br").read_bytes()
    if brotli is not None:
        assert brotli.decompress(body) == (dist / "loader.js").read_bytes()


@pytest.mark.parametrize("path", ["boot.js", "visitrail/client.mpy"])
def test_a_file_without_siblings_is_sent_as_is(client: TestClient, dist: pathlib.Path, path: str) -> None:
    response, body = fetch(client, f"v/{VERSION}/{path}", accept_encoding="br, gzip")
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert body == (dist / path).read_bytes()


def test_each_variant_has_its_own_etag_and_revalidates(client: TestClient, dist: pathlib.Path) -> None:
    url = f"v/{VERSION}/{WASM}"
    codings = ("br", "gzip", "identity")
    etags = {coding: fetch(client, url, accept_encoding=coding)[0].headers["etag"] for coding in codings}
    assert len(set(etags.values())) == 3

    for coding, etag in etags.items():
        response, body = fetch(client, url, accept_encoding=coding, if_none_match=etag)
        assert response.status_code == 304, coding
        assert body == b""
        assert response.headers["etag"] == etag
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["access-control-allow-origin"] == "*"

    # A cached plain copy doesn't stand in for the gzip one.
    response, body = fetch(client, url, accept_encoding="gzip", if_none_match=etags["identity"])
    assert response.status_code == 200
    assert body == (dist / f"{WASM}.gz").read_bytes()


def test_if_modified_since_still_answers_304(client: TestClient, dist: pathlib.Path) -> None:
    first, _ = fetch(client, "loader.js", accept_encoding="gzip")
    response, _ = fetch(client, "loader.js", accept_encoding="gzip", if_modified_since=first.headers["last-modified"])
    assert response.status_code == 304
    assert response.headers["cache-control"] == LOADER_CACHE
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_rebuild_changes_the_current_version(client: TestClient, dist: pathlib.Path) -> None:
    def cache_control(version: str) -> str:
        return fetch(client, f"v/{version}/boot.js")[0].headers["cache-control"]

    assert (cache_control(VERSION), cache_control(OTHER_VERSION)) == (IMMUTABLE, "no-cache")
    (dist / "VERSION").write_text(OTHER_VERSION)  # no newline: also allowed
    assert (cache_control(VERSION), cache_control(OTHER_VERSION)) == ("no-cache", IMMUTABLE)
    (dist / "VERSION").unlink()  # a build from before versions: nothing is immutable
    assert (cache_control(VERSION), cache_control(OTHER_VERSION)) == ("no-cache", "no-cache")
    (dist / "VERSION").write_text("not a version\n")
    assert (cache_control(VERSION), cache_control(OTHER_VERSION)) == ("no-cache", "no-cache")


def test_a_range_gets_the_plain_file(client: TestClient, dist: pathlib.Path) -> None:
    response, body = fetch(client, f"v/{VERSION}/{WASM}", accept_encoding="br, gzip", range="bytes=4-11")
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == "application/wasm"
    assert body == (dist / WASM).read_bytes()[4:12]


@pytest.mark.parametrize("accept_encoding, suffix", [("br", ".br"), ("gzip", ".gz"), ("identity", "")])
def test_head(client: TestClient, dist: pathlib.Path, accept_encoding: str, suffix: str) -> None:
    response, body = fetch(client, f"v/{VERSION}/{WASM}", method="HEAD", accept_encoding=accept_encoding)
    assert response.status_code == 200
    assert body == b""
    assert response.headers["content-length"] == str((dist / f"{WASM}{suffix}").stat().st_size)
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"] == "application/wasm"


def test_a_decoding_client_gets_the_original(client: TestClient, dist: pathlib.Path) -> None:
    # What a browser sees: whichever file is sent, it decodes to X.
    response = client.get(f"/analytics/v/{VERSION}/loader.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == (dist / "loader.js").read_bytes()


@pytest.mark.parametrize("name", ["secret.txt", "secret.txt.br"])
def test_no_escape_through_a_versioned_url(client: TestClient, dist: pathlib.Path, name: str) -> None:
    (dist.parent / "secret.txt").write_text("secret")
    (dist.parent / "secret.txt.br").write_text("secret too")
    response = client.get(f"/analytics/v/{VERSION}/..%2F..%2F..%2F{name}", headers={"Accept-Encoding": "br"})
    assert response.status_code == 404
    assert "secret" not in response.text


def test_other_methods_are_refused(client: TestClient, dist: pathlib.Path) -> None:
    response = client.post(f"/analytics/v/{VERSION}/{WASM}")
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == "*"


def test_unbuilt_assets_still_explain_themselves(client: TestClient, config: Config) -> None:
    response = client.get(f"/analytics/v/{VERSION}/boot.js")
    assert response.status_code == 404
    assert "--assets" in response.json()["message"]
    assert response.headers["access-control-allow-origin"] == "*"
