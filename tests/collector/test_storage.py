"""One suite for every storage backend, chosen by URL (as encode/databases tests its backends):
SQLite in memory and on disk, and PostgreSQL (see `db_url` in conftest.py). Profiles have their
own suite in test_profile_storage.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
import sqlite3
import typing

import pytest

from visitrail.collector.storage import Event, Storage, open_storage

from .helpers import run


def event(n: int, key: str = "wk", anonymous_id: str | None = "A1", **changes: typing.Any) -> Event:
    base = Event(
        write_key=key,
        message_id=f"m-{n}",
        type="track",
        anonymous_id=anonymous_id,
        user_id=None,
        event=f"E{n}",
        timestamp="2026-11-25T12:00:00.000Z",
        original_timestamp=None,
        sent_at=None,
        received_at="2026-11-25T12:00:00.000Z",
        body=json.dumps({"messageId": f"m-{n}", "n": n}),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def url(db_url: str) -> str:
    return db_url


def test_add_and_find_in_order(url: str) -> None:
    async def scenario(storage: Storage) -> None:
        assert (await storage.add([event(n) for n in range(3)])).inserted == 3
        assert [e["n"] for e in await storage.find(anonymous_id="A1")] == [0, 1, 2]
        assert [e["n"] for e in await storage.find(anonymous_id="A1", descending=True, limit=2)] == [2, 1]
        assert [e["n"] for e in await storage.find(message_id="m-1")] == [1]

    run(url, scenario)


def test_duplicates_are_skipped_per_write_key(url: str) -> None:
    async def scenario(storage: Storage) -> None:
        assert (await storage.add([event(1), event(1, event="again"), event(2)])).inserted == 2
        assert (await storage.add([event(1), event(2)])).inserted == 0
        assert (await storage.add([event(1, key="other")])).inserted == 1
        assert len(await storage.find()) == 3
        assert len(await storage.find(write_key="other")) == 1

    run(url, scenario)


def test_a_failing_batch_stores_nothing(url: str) -> None:
    async def scenario(storage: Storage) -> None:
        broken = event(2, body=None)  # violates NOT NULL: the database refuses this row mid-batch
        with pytest.raises(Exception):  # noqa: B017 - each backend raises its own driver's error
            await storage.add([event(1), broken, event(3)])
        assert await storage.find() == []
        assert (await storage.add([event(1)])).inserted == 1  # and the storage is still usable

    run(url, scenario)


def test_concurrent_batches(url: str) -> None:
    async def scenario(storage: Storage) -> None:
        batches = [[event(b * 10 + n, anonymous_id=f"A{b}") for n in range(10)] for b in range(20)]
        # Every batch twice, all at once: each message must end up stored exactly once.
        counts = await asyncio.gather(*(storage.add(batch) for batch in batches + batches))
        assert sum(added.inserted for added in counts) == 200
        assert len(await storage.find(limit=1000)) == 200

    run(url, scenario)


def test_sqlite_file_persists_and_uses_wal(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    run(url, lambda storage: storage.add([event(1)]))
    assert run(url, lambda storage: storage.find()) == [{"messageId": "m-1", "n": 1}]
    with sqlite3.connect(tmp_path / "events.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_relative_url_is_in_the_working_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run("sqlite:///relative.db", lambda storage: storage.add([event(1)]))
    assert (tmp_path / "relative.db").is_file()


def test_sqlite_missing_directory_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        run(f"sqlite:///{tmp_path / 'no' / 'such.db'}", lambda storage: storage.find())


@pytest.mark.parametrize("url", ["mysql://localhost/db", "visitrail.db", "sqlite:", "sqlite://"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_storage(url)
