"""The collector's HTTP connections: uvicorn's h11 protocol, with what a hostile client needs
bounded and uvicorn's own answers in the collector's JSON.

- The request head (request line and headers) must arrive within `header_timeout` seconds of the
  connection's opening, or of the previous response: uvicorn has no such timer (its keep-alive
  timer stops at the first byte), so 300 connections sending half a header would stay open for
  good. The connection is closed.
- At most `max_connections` connections at once, per process; one more is answered 503 and
  closed at once. uvicorn's `limit_concurrency` judges only at a request's end of head (so a
  half-sent head is never refused) and answers in plain text.
- Responses go out at once (TCP_NODELAY, `no_delay`).
- A head that HTTP/1.1 can't parse is answered 400 in JSON (uvicorn's is plain text), and the
  connection closed.
The body's own timeout is the app's (body.py), where the bytes are read; so is the refusal of a
request framed twice (framing.py).
"""

from __future__ import annotations

import asyncio
import json
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .security import API_HEADERS

__all__ = ["Protocol", "configure", "raw_response", "no_delay"]


def raw_response(status: int, reason: bytes, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON error body, for answers given outside any request."""
    body = json.dumps({"code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *API_HEADERS]  # fmt: skip
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(b"%s: %s\r\n" % pair for pair in headers)
    return head + b"\r\n" + body


def no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a connection's socket. A response is written as its head, then its body: with
    Nagle's algorithm on, the body waits for the client's delayed ACK of the head, 40 ms on Linux,
    on every request of a kept-alive connection (measured: every answer took 44 ms). The sockets
    accepted from the one serve.py binds came without it."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Protocol(H11Protocol):
    header_timeout: float = 10.0
    max_connections: int = 1000

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        no_delay(transport)
        if len(self.connections) > self.max_connections:
            transport.write(raw_response(503, b"Service Unavailable", "busy", "too many connections; retry later"))
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is in (or the connection is done with)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(raw_response(400, b"Bad Request", "invalid_request", f"invalid HTTP request: {msg}"))
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()


def configure(header_timeout: float, max_connections: int) -> None:
    """Set the limits of every Protocol in this process. Class attributes, not a class made per
    call: uvicorn's workers get the class by reference (pickled by name), then each process that
    runs the app sets its limits (serve.py)."""
    Protocol.header_timeout = header_timeout
    Protocol.max_connections = max_connections
