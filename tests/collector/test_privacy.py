"""Privacy: truncated client addresses in their own column (client_ip.py), and the right to erasure."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import pathlib
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.cli import main
from visitrail.collector.client_ip import client_ip, truncated
from visitrail.collector.config import Config
from visitrail.collector.storage import Event, Storage
from visitrail.collector.storage.sql import SQLStorage

from .helpers import NOW, WRITE_KEY, admin, basic, message, orphans, run, stored


@contextlib.contextmanager
def collector(config: Config, peer: str = "203.0.113.77", **changes: typing.Any) -> typing.Iterator[TestClient]:
    app = create_app(dataclasses.replace(config, **changes), clock=lambda: NOW)
    with TestClient(app, client=(peer, 51234)) as client:
        yield client


def rows(client: TestClient, sql: str) -> list[tuple[typing.Any, ...]]:
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert isinstance(storage, SQLStorage)
    with storage.transaction(write=False) as db:
        return db.all(sql)


def send(client: TestClient, headers: dict[str, str] | None = None, **fields: typing.Any) -> None:
    message = {"type": "track", "event": "E", "anonymousId": "A1", **fields}
    response = client.post("/v1/batch", json={"batch": [message]}, headers={**basic(WRITE_KEY), **(headers or {})})
    assert response.status_code == 200, response.text


# Addresses


@pytest.mark.parametrize(
    "address, expected",
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.77:51234", "203.0.113.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("[2001:db8:abcd:12::1]:443", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),  # IPv4 on a dual-stack socket
        ("fe80::1%eth0", "fe80::"),
        ("testclient", None),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_truncation(address: str | None, expected: str | None) -> None:
    assert truncated(address) == expected


def test_forwarded_for_counts_trusted_hops_from_the_right() -> None:
    header = "198.51.100.1, 192.0.2.55, 203.0.113.9"
    assert client_ip("10.0.0.1", header, 0) == "10.0.0.0"  # not behind a proxy: the header is a forgery
    assert client_ip("10.0.0.1", header, 1) == "203.0.113.0"  # what our one proxy saw
    assert client_ip("10.0.0.1", header, 2) == "192.0.2.0"
    assert client_ip("10.0.0.1", header, 9) == "198.51.100.0"
    assert client_ip("10.0.0.1", " , ", 1) == "10.0.0.0"


def test_the_truncated_address_is_kept_in_its_own_column(config: Config) -> None:
    with collector(config) as client:
        send(client, {"User-Agent": "Mozilla/5.0 Secret Browser", "X-Forwarded-For": "198.51.100.1"})
        [(ip, body)] = rows(client, "SELECT ip, body FROM events")
        assert ip == "203.0.113.0"  # the peer: X-Forwarded-For is not trusted by default
        assert "203.0.113.77" not in body and "Secret Browser" not in body and "198.51.100" not in body
        [event] = stored(client)
        assert "ip" not in event["context"] and "userAgent" not in event["context"]
        assert "203.0.113.77" not in str(rows(client, "SELECT * FROM events"))  # nowhere, in no column


def test_behind_a_trusted_proxy(config: Config) -> None:
    with collector(config, peer="10.0.0.2", trust_proxy=1) as client:
        send(client, {"X-Forwarded-For": "192.0.2.1, 2001:db8:1:2::99"})
        assert rows(client, "SELECT ip FROM events") == [("2001:db8:1::",)]


def test_no_ip_keeps_nothing(config: Config) -> None:
    with collector(config, store_ip=False) as client:
        send(client)
        assert rows(client, "SELECT ip FROM events") == [(None,)]


def test_an_address_the_client_sends_is_truncated_too(config: Config) -> None:
    with collector(config) as client:
        send(client, context={"ip": "192.0.2.33", "userAgent": "UA"})
        send(client, context={"ip": "not an address"})
        first, second = stored(client)
        assert first["context"] == {"ip": "192.0.2.0", "userAgent": "UA"} and second["context"] == {}


def test_no_ip_keeps_no_address_the_client_sends_either(config: Config) -> None:
    with collector(config, store_ip=False) as client:
        send(client, context={"ip": "192.0.2.33"})
        [event] = stored(client)
        assert "ip" not in event["context"] and "192.0.2" not in str(rows(client, "SELECT * FROM events"))


def test_serve_flags(tmp_path: pathlib.Path) -> None:
    from visitrail.collector.cli import build_parser, config_from_args

    def parse(*argv: str) -> Config:
        return config_from_args(build_parser().parse_args(["serve", *argv]))

    assert parse().trust_proxy == 0 and parse().store_ip
    assert parse("--trust-proxy").trust_proxy == 1 and parse("--trust-proxy", "2").trust_proxy == 2
    assert not parse("--no-ip").store_ip


# Erasure


HISTORY = [
    message("m1", anonymousId="A1", session="s1"),
    message("m2", "identify", userId="U1", anonymousId="A1", traits={"email": "u1@example.com"}),
    message("m3", anonymousId="A2"),
    message("m4", userId="U1", anonymousId="A2"),  # A2 merges into U1's profile
    message("m5", "identify", userId="U2", anonymousId="B1", traits={"email": "u2@example.com"}),
]


@pytest.mark.parametrize("named_by", ["user_id", "anonymous_id", "profile_id"])
def test_erase_deletes_the_profile_its_ids_and_events(db_url: str, named_by: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(HISTORY)
        profile_id = await storage.find_profile(user_id="U1")
        assert profile_id is not None
        name = {"user_id": "U1", "anonymous_id": "A2", "profile_id": profile_id}[named_by]
        erased = await storage.erase_profile(**{named_by: name})
        assert erased == {"profileId": profile_id, "events": 4, "identities": 3}
        assert await storage.profile(profile_id) is None
        for ids in ({"user_id": "U1"}, {"anonymous_id": "A1"}, {"anonymous_id": "A2"}):
            assert await storage.find_profile(**ids) is None
        assert [e["messageId"] for e in await storage.find()] == ["m5"]
        assert await storage.search_profiles("u1@example") == []
        other = await storage.profile(typing.cast(str, await storage.find_profile(user_id="U2")))
        assert other is not None and other["traits"] == {"email": "u2@example.com"} and other["eventCount"] == 1
        assert orphans(storage) == (0, 0, 0, 0, 0, 0)
        assert await storage.erase_profile(**{named_by: name}) is None
        with pytest.raises(ValueError, match="exactly one"):
            await storage.erase_profile(user_id="U2", anonymous_id="B1")

    run(db_url, scenario)


def test_erase_is_one_transaction(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(HISTORY)
        assert isinstance(storage, SQLStorage)
        with pytest.raises(RuntimeError), storage.transaction(write=True) as db:
            from visitrail.collector.storage.erasure import erase

            profile_id = db.all("SELECT profile_id FROM identities WHERE value = 'U1'")[0][0]
            assert erase(db, profile_id, NOW) is not None
            raise RuntimeError("the disk is full")  # everything erase did is rolled back
        assert len(await storage.find()) == 5 and await storage.find_profile(user_id="U1") is not None

    run(db_url, scenario)


def test_erase_api(client: TestClient) -> None:
    batch = [
        {"type": "identify", "userId": "U1", "anonymousId": "A1", "traits": {"name": "Ann"}, "messageId": "m1"},
        {"type": "track", "event": "E", "anonymousId": "A1", "messageId": "m2"},
        {"type": "track", "event": "E", "userId": "U2", "messageId": "m3"},
    ]
    client.post("/v1/batch", json={"batch": batch}, headers=basic(WRITE_KEY))
    profile_id = client.get("/api/profiles/lookup", params={"userId": "U1"}, headers=admin()).json()["profileId"]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = client.delete(f"/api/profiles/{profile_id}", headers=headers)
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    cross_site = client.delete(f"/api/profiles/{profile_id}", headers={**admin(), "Origin": "http://evil.test"})
    assert cross_site.status_code == 403
    response = client.delete(f"/api/profiles/{profile_id}", headers=admin())
    assert response.status_code == 200
    assert response.json() == {"profileId": profile_id, "events": 2, "identities": 2}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/api/profiles/{profile_id}", headers=admin()).status_code == 404
    assert [e["messageId"] for e in stored(client)] == ["m3"]
    again = client.delete(f"/api/profiles/{profile_id}", headers=admin())
    assert again.status_code == 404 and again.json()["code"] == "not_found"


def test_erase_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    run(url, lambda storage: storage.add(HISTORY))
    assert main(["erase", "--db", url, "--anonymous-id", "A1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("visitrail: erased profile ") and out.endswith(": 4 events, 3 IDs\n")
    assert main(["erase", "--db", url, "--user-id", "U1"]) == 1
    assert "no profile has userId U1" in capsys.readouterr().err
    assert main(["erase", "--db", url, "--profile-id", "nope"]) == 1
    assert main(["erase", "--db", "mysql://x/y", "--user-id", "U2"]) == 2
    with pytest.raises(SystemExit):  # exactly one of the three
        main(["erase", "--db", url, "--user-id", "U2", "--anonymous-id", "B1"])
    capsys.readouterr()
    assert [e["messageId"] for e in run(url, lambda storage: storage.find())] == ["m5"]


# Erasure that leaves no copy behind, and no way back in by replay (issue 16)

EMAIL = "erase-me-7f3a@example.com"


def personal_history(copies: int = 9) -> list[Event]:
    """A person whose email is written again and again: one identify per copy."""
    return [
        message(f"p{n}", "identify", userId="U9", anonymousId="A9", traits={"email": EMAIL, "n": n},
                timestamp=f"2026-11-25T11:00:{n:02}.000Z")
        for n in range(copies)
    ]  # fmt: skip


def test_sqlite_erasure_leaves_no_copy_in_the_file_or_its_wal(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "events.db"

    async def scenario(storage: Storage) -> None:
        for event in personal_history():  # one transaction each: a WAL frame each
            await storage.add([event])
        assert _copies(path) > 0
        assert await storage.erase_profile(user_id="U9") is not None
        assert _copies(path) == 0
        assert isinstance(storage, SQLStorage)
        with storage.transaction(write=False) as db:
            assert db.all("PRAGMA secure_delete") == [(1,)]

    run(f"sqlite:///{path}", scenario)


def _copies(path: pathlib.Path) -> int:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(file.read_bytes().count(EMAIL.encode()) for file in files if file.exists())


PARTITIONS = "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass"


def test_postgresql_erasure_vacuums_the_dead_rows(postgres_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(personal_history())
        assert isinstance(storage, SQLStorage)
        with storage.transaction(write=True) as db:
            db.run("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        assert await storage.erase_profile(user_id="U9") is not None
        with storage.transaction(write=False) as db:
            # events is partitioned by day (partitions.py): its rows are in the partitions
            days = [name for (name,) in db.all(PARTITIONS)]
            assert days
            for table in (*days, "identities", "traits", "profiles", "merged", "profile_log"):
                assert db.all(f"SELECT dead_tuple_count FROM pgstattuple('{table}')") == [(0,)], table

    run(postgres_url, scenario)


@contextlib.contextmanager
def clocked(config: Config) -> typing.Iterator[tuple[TestClient, list[datetime.datetime]]]:
    now = [NOW]
    with TestClient(create_app(config, clock=lambda: now[0])) as client:
        yield client, now


def test_a_replay_of_erased_ids_is_refused_for_30_days(config: Config) -> None:
    old = [
        {"type": "identify", "userId": "U9", "anonymousId": "A9", "traits": {"email": EMAIL}, "messageId": "o1"},
        {"type": "track", "event": "E", "anonymousId": "A9", "messageId": "o2"},
        {"type": "alias", "userId": "U10", "previousId": "U9", "messageId": "o3"},
        {"type": "track", "event": "E", "anonymousId": "someone-else", "messageId": "o4"},
    ]
    with clocked(config) as (client, now):
        assert client.post("/v1/batch", json={"batch": old}, headers=basic(WRITE_KEY)).status_code == 200
        profile_id = client.get("/api/profiles/lookup", params={"userId": "U9"}, headers=admin()).json()["profileId"]
        assert client.delete(f"/api/profiles/{profile_id}", headers=admin()).status_code == 200
        now[0] = NOW + datetime.timedelta(days=29)
        replay = client.post("/v1/batch", json={"batch": old}, headers=basic(WRITE_KEY))
        assert replay.status_code == 200
        assert [entry["index"] for entry in replay.json()["rejected"]] == [0, 1, 2]
        assert "erased" in replay.json()["rejected"][0]["reason"]
        single = client.post("/v1/track", json={**old[1], "messageId": "o5"}, headers=basic(WRITE_KEY))
        assert single.status_code == 410 and single.json()["code"] == "erased"
        assert client.get("/api/profiles/lookup", params={"userId": "U9"}, headers=admin()).status_code == 404
        assert EMAIL not in str(rows(client, "SELECT * FROM erased"))  # digests, not the IDs
        now[0] = NOW + datetime.timedelta(days=30, seconds=1)
        again = client.post("/v1/batch", json={"batch": old}, headers=basic(WRITE_KEY))
        assert again.json() == {"success": True}
        assert client.get("/api/profiles/lookup", params={"userId": "U9"}, headers=admin()).status_code == 200


def test_per_address_limits_count_an_ipv6_host_by_its_64() -> None:
    from visitrail.collector.client_ip import limit_key

    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("203.0.113.7") == limit_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert limit_key(None) == "" and limit_key("testclient") == "testclient"
