"""`visitrail serve` as a real process, fed by httpx and by the official analytics-python client."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import types
import typing

import httpx
import pytest
import segment.analytics as segment
from segment.analytics.request import APIError

from visitrail.collector.cli import build_parser, config_from_args, main
from visitrail.collector.config import Config, Source

from .helpers import STARTUP_SECONDS, message, read_line, visitrail_command

WRITE_KEY = "wk_cli"
ADMIN = {"Authorization": "Bearer cli-admin"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[str]:
    db = tmp_path_factory.mktemp("serve") / "events.db"
    command = visitrail_command() + [
        "serve", "--port", "0", "--db", f"sqlite:///{db}", "--write-key", WRITE_KEY,
        "--admin-token", "cli-admin", "--allow-origin", "http://127.0.0.1:8000", "--log-level", "warning",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = read_line(process, STARTUP_SECONDS)  # the "listening" line: printed once the socket is bound
            assert line.startswith("visitrail collector listening on http://127.0.0.1:"), line
            assert "admin token" not in line  # it was given, so it is not echoed
            yield line.split()[-1]
        finally:
            process.terminate()
            # uvicorn shuts down cleanly, then re-raises the signal it caught, so -SIGTERM is a clean exit.
            assert process.wait(timeout=STARTUP_SECONDS) in (0, -signal.SIGTERM)


def events(server: str, **params: str) -> list[dict[str, typing.Any]]:
    response = httpx.get(f"{server}/api/events", params=params, headers=ADMIN)
    assert response.status_code == 200
    return response.json()["events"]


def test_real_server_stores_a_batch(server: str) -> None:
    batch = [{"type": "track", "event": f"E{n}", "anonymousId": "cli-A1", "messageId": f"cli-{n}"} for n in range(3)]
    body = gzip.compress(json.dumps({"batch": batch, "writeKey": WRITE_KEY}).encode())
    response = httpx.post(
        f"{server}/v1/b", content=body, headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert [e["event"] for e in events(server, anonymousId="cli-A1")] == ["E0", "E1", "E2"]
    assert httpx.get(f"{server}/healthz").json() == {"ok": True}


@pytest.mark.parametrize("gzip_body", [False, True], ids=["plain", "gzip"])
def test_segment_python_client_sync(server: str, gzip_body: bool) -> None:
    client = segment.Client(WRITE_KEY, host=server, sync_mode=True, gzip=gzip_body)
    user = f"py-sync-{gzip_body}"
    client.identify(user, {"email": "a@example.com"})
    client.track(user, "Signed Up", {"plan": "pro"})
    client.page(user, "Docs", "Install", {"path": "/docs"})
    client.screen(user, "App", "Home")
    client.group(user, "G1", {"name": "Acme"})
    client.alias(f"{user}-old", user)
    stored = events(server, userId=user)
    assert [e["type"] for e in stored] == ["identify", "track", "page", "screen", "group", "alias"]
    assert stored[1]["event"] == "Signed Up" and stored[1]["properties"] == {"plan": "pro"}
    assert stored[0]["context"]["library"]["name"] == "analytics-python"
    assert all(e["sentAt"] and e["timestamp"] and e["receivedAt"] for e in stored)


def test_segment_python_client_batches_through_its_queue(server: str) -> None:
    errors: list[Exception] = []
    client = segment.Client(WRITE_KEY, host=server, on_error=lambda exc, batch: errors.append(exc))
    for n in range(20):
        client.track(anonymous_id="py-queue", event=f"E{n}")
    client.flush()  # blocks until the consumer thread has uploaded the queue
    client.shutdown()
    assert errors == []
    assert [e["event"] for e in events(server, anonymousId="py-queue")] == [f"E{n}" for n in range(20)]


def test_segment_python_client_sees_401_for_a_wrong_key(server: str) -> None:
    client = segment.Client("wk_wrong", host=server, sync_mode=True)
    with pytest.raises(APIError) as exc:
        client.track("u", "E")
    assert exc.value.status == 401 and exc.value.code == "unauthorized"


# Argument handling, without a server


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_defaults() -> None:
    config = config_from_args(parse())
    assert config.db_url == "sqlite:///visitrail.db"
    assert config.sources == [] and not config.test_hooks
    assert config.token_generated and len(config.admin_token) >= 24


def test_flags_on_top_of_a_config_file(tmp_path: pathlib.Path) -> None:
    file = tmp_path / "visitrail.json"
    file.write_text(
        json.dumps(
            {
                "sources": [{"writeKey": "wk_file", "origins": ["http://a.test/"]}],
                "adminToken": "t",
                "db": "sqlite:///f.db",
            }
        )
    )
    config = config_from_args(
        parse(
            "--config",
            str(file),
            "--write-key",
            "k1",
            "--write-key",
            "k2",
            "--allow-origin",
            "http://b.test",
            "--db",
            "sqlite:///:memory:",
        )
    )
    assert [s.write_key for s in config.sources] == ["wk_file", "k1", "k2"]
    assert config.source("wk_file").origins == ("http://a.test",)  # type: ignore[union-attr]
    assert config.source("k2").origins == ("http://b.test",)  # type: ignore[union-attr]
    assert config.admin_token == "t" and not config.token_generated
    assert config.db_url == "sqlite:///:memory:"


def test_bad_config_file_is_an_error_not_a_traceback(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{"sources": [{"origins": []}]}')
    assert main(["serve", "--config", str(file)]) == 2
    assert "writeKey" in capsys.readouterr().err


def test_demo_gets_its_arguments_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []
    demo = types.ModuleType("visitrail.collector.demo")
    demo.main = received.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "visitrail.collector.demo", demo)
    assert main(["demo", "--help", "--port", "9"]) == 0
    assert received == [["--help", "--port", "9"]]


@pytest.mark.skipif(
    shutil.which("visitrail") is None and not os.path.exists(visitrail_command()[0]), reason="not installed"
)
def test_help_lists_serve_and_demo() -> None:
    result = subprocess.run(visitrail_command() + ["--help"], capture_output=True, text=True, timeout=STARTUP_SECONDS)
    assert result.returncode == 0
    assert "serve" in result.stdout and "demo" in result.stdout


def test_rebuild_profiles_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import sqlite3

    from visitrail.collector.storage import open_storage

    url = f"sqlite:///{tmp_path / 'events.db'}"

    async def add() -> None:
        storage = open_storage(url)
        await storage.connect()
        await storage.add([message("m1", anonymousId="A1"), message("m2", "identify", userId="U1", anonymousId="A1")])
        await storage.disconnect()

    asyncio.run(add())
    with sqlite3.connect(tmp_path / "events.db") as connection:  # lose the profiles, keep the events
        connection.execute("DELETE FROM identities")
        connection.execute("DELETE FROM profiles")
    connection.close()
    assert main(["rebuild-profiles", "--db", url]) == 0
    assert capsys.readouterr().out == "visitrail: rebuilt 1 profile\n"
    with sqlite3.connect(tmp_path / "events.db") as connection:
        assert sorted(connection.execute("SELECT kind, value FROM identities")) == [("anonymous", "A1"), ("user", "U1")]
    connection.close()
    assert main(["rebuild-profiles", "--db", "mysql://x/y"]) == 2
    assert "Unsupported database URL" in capsys.readouterr().err


def test_identity_privacy_and_rate_flags(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "s" * 32
    config = config_from_args(
        parse("--write-key", "k1", "--identity-mode", "required", "--identity-secret", secret, "--no-ip",
              "--trust-proxy", "--rate-limit", "50", "--rate-burst", "100")
    )  # fmt: skip
    [source] = config.sources
    assert (source.identity, source.identity_secret) == ("required", secret)
    assert (config.store_ip, config.trust_proxy, config.rate_limit, config.rate_burst) == (False, 1, 50, 100)
    assert main(["serve", "--write-key", "k1", "--identity-mode", "verified"]) == 2
    assert "needs an identity secret" in capsys.readouterr().err
    assert main(["serve", "--write-key", "k1", "--identity-mode", "verified", "--identity-secret", "short"]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err
    assert main(["serve", "--identity-mode", "verified", "--identity-secret", secret]) == 2
    assert "--write-key" in capsys.readouterr().err


def test_config_file_identity_and_privacy(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "visitrail.json"
    file.write_text(
        json.dumps(
            {
                "sources": [
                    {"writeKey": "wk_open"},
                    {"writeKey": "wk_v", "identity": "verified", "identitySecret": "v" * 40},
                ],
                "trustProxy": 2,
                "storeIp": False,
                "rateLimit": 10.5,
                "rateBurst": 20,
            }
        )
    )
    config = config_from_args(parse("--config", str(file)))
    assert [(s.write_key, s.identity) for s in config.sources] == [("wk_open", "open"), ("wk_v", "verified")]
    assert (config.trust_proxy, config.store_ip, config.rate_limit, config.rate_burst) == (2, False, 10.5, 20)
    for bad in ({"sources": [{"writeKey": "k", "identity": "required"}]}, {"storeIp": "no"}, {"rateBurst": 0}):
        file.write_text(json.dumps(bad))
        assert main(["serve", "--config", str(file)]) == 2
        assert "visitrail: " in capsys.readouterr().err


@pytest.fixture
def busy_port() -> typing.Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["serve", "--port", "{port}"], "--port"),
        (["demo", "--port", "{port}", "--collector-port", "0"], "--port"),
        (["demo", "--port", "0", "--collector-port", "{port}"], "--collector-port"),
    ],
    ids=["serve", "demo-site", "demo-collector"],
)
def test_a_busy_port_says_which_option_to_change(busy_port: int, command: list[str], flag: str) -> None:
    argv = [arg.format(port=busy_port) for arg in command]
    result = subprocess.run(
        visitrail_command() + argv, capture_output=True, text=True, timeout=STARTUP_SECONDS, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 1, result.stderr
    assert f"another with {flag} (0 picks a free one)" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_serve_option_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file\n")
    for name, value in {
        "VISITRAIL_HOST": "::1", "VISITRAIL_PORT": "9123", "VISITRAIL_WORKERS": "3",
        "VISITRAIL_DB": "sqlite:///env.db", "VISITRAIL_WRITE_KEY": "k1, k2", "VISITRAIL_ALLOW_ORIGIN": "http://a.test",
        "VISITRAIL_ADMIN_TOKEN_FILE": str(secret_file), "VISITRAIL_ASSETS": "/srv/assets",
        "VISITRAIL_IDENTITY_MODE": "verified", "VISITRAIL_IDENTITY_SECRET": "s" * 32, "VISITRAIL_TRUST_PROXY": "2",
        "VISITRAIL_NO_IP": "1", "VISITRAIL_RATE_LIMIT": "5", "VISITRAIL_RATE_BURST": "50",
        "VISITRAIL_LOG_LEVEL": "debug", "VISITRAIL_TEST_HOOKS": "true",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.workers, args.log_level) == ("::1", 9123, 3, "debug")
    config = config_from_args(args)
    assert [s.write_key for s in config.sources] == ["k1", "k2"]
    assert config.sources[0].origins == ("http://a.test",) and config.sources[0].identity == "verified"
    assert (config.db_url, config.admin_token, config.assets_dir) == ("sqlite:///env.db", "from-a-file", "/srv/assets")
    assert (config.trust_proxy, config.store_ip, config.rate_limit, config.rate_burst) == (2, False, 5.0, 50)
    assert config.test_hooks
    # The command line wins over the environment.
    override = config_from_args(build_parser().parse_args(["serve", "--write-key", "k3", "--db", "sqlite:///cli.db"]))
    assert [s.write_key for s in override.sources] == ["k3"] and override.db_url == "sqlite:///cli.db"


def test_the_configuration_crosses_to_worker_processes_whole() -> None:
    config = Config(sources=[Source("k", ("http://a.test",), "required", "s" * 32)], db_url="sqlite:///x.db")
    again = Config.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.token_generated == config.token_generated is True


def test_an_admin_token_on_the_command_line_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    import visitrail.collector.serve

    started: list[Config] = []
    monkeypatch.setattr(visitrail.collector.serve, "run", lambda config, *args: started.append(config) or 0)
    monkeypatch.delenv("VISITRAIL_ADMIN_TOKEN", raising=False)
    assert main(["serve", "--write-key", "k", "--admin-token", "on-the-line"]) == 0
    assert "--admin-token shows in every process listing" in capsys.readouterr().err
    monkeypatch.setenv("VISITRAIL_ADMIN_TOKEN", "from-the-environment")
    file = tmp_path / "token"
    file.write_text("from-a-file\n")
    assert main(["serve", "--write-key", "k"]) == 0
    assert main(["serve", "--write-key", "k", "--admin-token-file", str(file)]) == 0
    assert "process listing" not in capsys.readouterr().err
    assert [config.admin_token for config in started] == ["on-the-line", "from-the-environment", "from-a-file"]


def test_connection_limits_from_flags_the_environment_and_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    defaults = config_from_args(parse())
    assert (defaults.header_timeout, defaults.body_timeout, defaults.max_connections, defaults.shutdown_timeout,
            defaults.ip_rate_limit) == (10, 30, 1000, 10, 100)  # fmt: skip
    flags = config_from_args(parse("--header-timeout", "2", "--body-timeout", "3.5", "--max-connections", "7",
                                   "--shutdown-timeout", "1", "--ip-rate-limit", "0"))  # fmt: skip
    assert (flags.header_timeout, flags.body_timeout, flags.max_connections, flags.shutdown_timeout,
            flags.ip_rate_limit) == (2, 3.5, 7, 1, 0)  # fmt: skip
    monkeypatch.setenv("VISITRAIL_HEADER_TIMEOUT", "4")
    assert config_from_args(parse()).header_timeout == 4
    file = tmp_path / "visitrail.json"
    file.write_text(json.dumps({"maxConnections": 9, "bodyTimeout": 5}))
    from_file = config_from_args(parse("--config", str(file)))
    assert (from_file.max_connections, from_file.body_timeout) == (9, 5)
    with pytest.raises(ValueError, match="timeouts must be positive"):
        Config(header_timeout=0)
