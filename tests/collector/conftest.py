from __future__ import annotations

import os
import pathlib
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.config import Config, Source
from visitrail.dev.postgres import PostgresServer, server_or_reason

from .helpers import ADMIN_TOKEN, NOW, ORIGIN, OTHER_KEY, OTHER_ORIGIN, WRITE_KEY


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


# Databases. Storage suites take `db_url`: SQLite in memory and on disk always, and PostgreSQL: the
# server named by VISITRAIL_TEST_DATABASE_URLS (comma-separated; its first postgresql:// URL, on
# which the tests CREATE DATABASE), else a throwaway server started from Debian's binaries. Without
# either the PostgreSQL cases skip, except under CI=true, where they fail: CI must test both.


@pytest.fixture(scope="session")
def postgres_found() -> typing.Iterator[tuple[PostgresServer | None, str]]:
    """(the server, what it is) or (None, why there is none)."""
    server, what = server_or_reason()
    try:
        yield server, what
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def postgres_server(postgres_found: tuple[PostgresServer | None, str]) -> PostgresServer | None:
    return postgres_found[0]


@pytest.fixture
def postgres_url(postgres_found: tuple[PostgresServer | None, str]) -> typing.Iterator[str]:
    """A new, empty PostgreSQL database for this test. Without a server the test skips, except under
    CI=true (.ci/run sets it), where it fails: CI must test both backends."""
    postgres_server, why = postgres_found
    if postgres_server is None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    with postgres_server.database() as url:
        yield url


def database(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgresql":
        return typing.cast(str, request.getfixturevalue("postgres_url"))
    return {"sqlite-memory": "sqlite:///:memory:", "sqlite-file": f"sqlite:///{tmp_path / 'events.db'}"}[request.param]


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return database(request, tmp_path)


@pytest.fixture(params=["sqlite-file", "postgresql"])
def shared_db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """A database that two storages (or a storage opened twice) can share: not SQLite's :memory:."""
    return database(request, tmp_path)
