"""A real `visitrail serve` against clients that misbehave at the connection level: heads and bodies
that never finish, too many connections, a SIGTERM during a stalled upload, proxy headers it was not
told to believe, requests HTTP can't parse or that are framed twice (connections.py, framing.py,
serve.py). Every wait is on the server's own timer, with a generous socket timeout as the only
bound: nothing here measures time."""

from __future__ import annotations

import contextlib
import json
import pathlib
import signal
import socket
import sqlite3
import typing
import urllib.parse

import httpx
import pytest

from visitrail.collector.connections import no_delay
from visitrail.collector.demo.process import CollectorProcess

from .helpers import STARTUP_SECONDS

ADMIN = "connections-admin"
KEY = "demo-key"
WAIT = 30.0  # seconds a socket waits before the test gives up: far above every server timer here


@contextlib.contextmanager
def serving(tmp_path: pathlib.Path, *args: str) -> typing.Iterator[tuple[str, CollectorProcess]]:
    process = CollectorProcess(
        f"sqlite:///{tmp_path / 'events.db'}", ADMIN, "http://127.0.0.1:8000", extra_args=list(args)
    )
    url = process.start(STARTUP_SECONDS)
    try:
        yield url, process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[str]:
    with serving(tmp_path_factory.mktemp("connections"), "--header-timeout", "0.5", "--body-timeout", "0.5") as (
        url,
        _,
    ):
        yield url


def connect(url: str) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One response of a connection that stays open: its head, then Content-Length bytes of body."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    length = int(answer_head(raw)[1]["content-length"])
    while len(raw.partition(b"\r\n\r\n")[2]) < length:
        raw += sock.recv(65536)
    return raw


def answer_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}


def answer(raw: bytes) -> tuple[int, dict[str, str], typing.Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def batch_request(body: bytes, *extra: str) -> bytes:
    head = ["POST /v1/batch HTTP/1.1", "Host: 127.0.0.1", "Content-Type: text/plain", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


BODY = json.dumps({"writeKey": KEY, "batch": [{"type": "track", "event": "E", "anonymousId": "A1"}]}).encode()


def test_heads_that_never_finish_are_closed(server: str) -> None:
    socks = [connect(server) for _ in range(20)]
    for sock in socks:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
    for sock in socks:
        with sock:
            assert read_all(sock) == b""  # closed by the server, not by our timeout


def test_a_kept_alive_connection_that_starts_a_head_and_stalls_is_closed(server: str) -> None:
    with connect(server) as sock:
        sock.sendall(batch_request(BODY, f"Content-Length: {len(BODY)}"))
        assert answer(read_response(sock))[0] == 200
        sock.sendall(b"P")  # uvicorn's keep-alive timer stops at the first byte
        assert read_all(sock) == b""


def test_an_upload_that_stalls_one_byte_short_is_408_and_closed(server: str) -> None:
    with connect(server) as sock:
        sock.sendall(batch_request(BODY[:-1], f"Content-Length: {len(BODY)}"))
        status, headers, body = answer(read_all(sock))
    assert status == 408 and body["code"] == "timeout"
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"


def test_sigterm_during_a_stalled_upload_stops_the_collector(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path, "--body-timeout", "3600", "--shutdown-timeout", "0.5") as (url, process):
        stalled = connect(url)
        stalled.sendall(batch_request(BODY[:-1], f"Content-Length: {len(BODY)}"))
        # Once another request is answered, the server has read the stalled one's head too.
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert process.proc is not None
        process.proc.send_signal(signal.SIGTERM)
        try:
            assert process.proc.wait(WAIT) in (0, -signal.SIGTERM)
        finally:
            stalled.close()


def test_connections_beyond_the_cap_are_503_in_json(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path, "--max-connections", "3") as (url, _):
        held = [connect(url) for _ in range(3)]
        try:
            for sock in held:  # answered: so each is an open connection the server counts
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert answer(read_response(sock))[0] == 200
            with connect(url) as extra:
                status, headers, body = answer(read_all(extra))
            assert status == 503 and body["code"] == "busy" and headers["content-type"] == "application/json"
        finally:
            for sock in held:
                sock.close()
        assert httpx.get(f"{url}/healthz").status_code == 200  # the cap frees up with the connections


def test_proxy_headers_from_loopback_are_ignored_without_trust_proxy(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path) as (url, _):
        forged = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https", "Content-Type": "text/plain"}
        assert httpx.post(f"{url}/v1/batch", content=BODY, headers=forged).status_code == 200
        login = httpx.post(
            f"{url}/login", data={"token": ADMIN}, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False
        )
        assert login.status_code == 303
        assert "secure" not in login.headers["set-cookie"].lower()  # the scheme is the connection's: http
    with contextlib.closing(sqlite3.connect(tmp_path / "events.db")) as db:
        assert db.execute("SELECT ip FROM events").fetchall() == [("127.0.0.0",)]


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000,  # past h11's 16 KB, still no end
    ],
    ids=["not-http", "bad-length", "bad-header-name", "head-too-large"],
)
def test_requests_http_cant_parse_get_json(server: str, raw: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(raw)
        status, headers, body = answer(read_all(sock))
    assert status == 400 and body["code"] == "invalid_request"
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_a_request_framed_twice_is_refused_and_the_connection_closed(server: str) -> None:
    smuggled = b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (len(BODY), BODY)
    with connect(server) as sock:
        sock.sendall(smuggled + chunked)
        raw = read_all(sock)
    status, headers, body = answer(raw)
    assert status == 400 and "Transfer-Encoding and Content-Length" in body["message"]
    assert raw.count(b"HTTP/1.1 ") == 1  # and nothing after it is read as another request


class Accepted:
    """A transport's view of an accepted socket, as asyncio's get_extra_info gives it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> socket.socket | None:
        return self.sock if name == "socket" else None


def test_answers_are_not_held_back_by_nagles_algorithm() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # as accepted
            no_delay(Accepted(accepted))  # type: ignore[arg-type]
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
