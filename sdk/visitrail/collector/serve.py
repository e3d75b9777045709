"""`visitrail serve`: the collector under uvicorn, in one process or several sharing one socket.

The socket is bound here, before uvicorn starts, so that a port in use is one clear line (naming
--port) rather than a traceback, and so that one line, printed once the socket is bound, tells
scripts and tests where the collector listens:

    visitrail collector listening on http://127.0.0.1:8001 (admin token: ...)

(the token only when it was generated). With `--workers N`, uvicorn's supervisor runs N processes on
that socket; each builds the same app from the configuration this process resolved, handed over in
the environment ($VISITRAIL_SERVE_CONFIG), so a generated admin token is the same in all of them.
Several processes want PostgreSQL: SQLite serialises every writer (storage/sqlite.py).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import typing

import uvicorn
from starlette.applications import Starlette

from . import connections
from .app import create_app
from .config import Config

__all__ = ["run", "worker_app", "CONFIG_ENV"]

CONFIG_ENV = "VISITRAIL_SERVE_CONFIG"


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn's factory)."""
    config = Config.from_dict(json.loads(os.environ[CONFIG_ENV]))
    connections.configure(config.header_timeout, config.max_connections)
    return create_app(config)


def server_options(config: Config, log_level: str) -> dict[str, typing.Any]:
    """uvicorn's options, one and several processes alike. Its proxy headers are off: by default it
    believes X-Forwarded-For and -Proto from 127.0.0.1, which --trust-proxy must decide
    (client_ip.py reads them itself, counting hops)."""
    return {
        "http": connections.Protocol,
        "proxy_headers": False,
        "timeout_graceful_shutdown": config.shutdown_timeout,
        "log_level": log_level,
    }


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _announce(sock: socket.socket, config: Config) -> None:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, e.g. --host ::1
    token = f" (admin token: {config.admin_token})" if config.token_generated else ""
    # One line on stdout, flushed: scripts and tests wait for it.
    print(f"visitrail collector listening on http://{host}:{port}{token}", flush=True)


def run(config: Config, host: str, port: int, log_level: str, workers: int = 1) -> int:
    try:
        app = create_app(config) if workers <= 1 else None
    except ValueError as exc:  # e.g. an unsupported database URL
        print(f"visitrail: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(
            f"visitrail: cannot listen on {host}:{port} ({exc.strerror or exc}): choose another with --port "
            "(0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    with sock:
        if app is not None:
            return _single(app, sock, config, log_level)
        return _several(sock, config, log_level, workers)


class _Server(uvicorn.Server):
    announce: tuple[socket.socket, Config] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce is not None:
            _announce(*self.announce)


def _single(app: Starlette, sock: socket.socket, config: Config, log_level: str) -> int:
    connections.configure(config.header_timeout, config.max_connections)
    server = _Server(uvicorn.Config(app, **server_options(config, log_level)))
    server.announce = (sock, config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _several(sock: socket.socket, config: Config, log_level: str, workers: int) -> int:
    os.environ[CONFIG_ENV] = json.dumps(config.to_dict())
    _announce(sock, config)
    # uvicorn's own supervisor, on our socket (fd): workers are started, restarted and stopped by it.
    uvicorn.run(
        "visitrail.collector.serve:worker_app",
        factory=True,
        workers=workers,
        fd=sock.fileno(),
        **server_options(config, log_level),
    )
    return 0
