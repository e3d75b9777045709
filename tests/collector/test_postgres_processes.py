"""Two real `visitrail serve` processes writing to one PostgreSQL database at the same moment.

Each visitor browses anonymously, then signs in as the same user on both collectors at once, and
some messages reach both collectors (a client retrying against another instance). Afterwards exactly
one profile holds every ID and each message is stored once: the row locks of storage/postgres.py
order the batches that touch the same identities, in both processes.

No lock is shared by every writer: a batch held open (waiting for a lock the test holds on its
visitor's identity) blocks neither process for other visitors. A collector killed in the middle of
a batch leaves nothing of it, and the client's retry stores it once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import subprocess
import threading
import time
import typing

import httpx
import psycopg
import pytest

from .helpers import STARTUP_SECONDS, read_line, visitrail_command

WRITE_KEY = "wk_pg"
ADMIN = {"Authorization": "Bearer pg-admin"}
VISITORS = 16
EVENTS_EACH = 5


@contextlib.contextmanager
def collector(db_url: str, processes: dict[str, subprocess.Popen[str]] | None = None) -> typing.Iterator[str]:
    command = visitrail_command() + [
        "serve", "--port", "0", "--db", db_url, "--write-key", WRITE_KEY, "--admin-token", "pg-admin",
        "--log-level", "warning",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = read_line(process, STARTUP_SECONDS)
            assert line.startswith("visitrail collector listening on "), line
            url = line.split()[-1]
            if processes is not None:
                processes[url] = process
            yield url
        finally:
            process.terminate()
            process.wait(timeout=STARTUP_SECONDS)


@pytest.fixture
def processes() -> dict[str, subprocess.Popen[str]]:
    """Each collector process of `two_collectors`, by its URL."""
    return {}


@pytest.fixture
def two_collectors(postgres_url: str, processes: dict[str, subprocess.Popen[str]]) -> typing.Iterator[list[str]]:
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(2) as pool:
        # Both start (and find the schema to create) at once, too.
        starting = [pool.submit(stack.enter_context, collector(postgres_url, processes)) for _ in range(2)]
        yield [future.result() for future in starting]


def post(server: str, batch: list[dict[str, typing.Any]]) -> None:
    response = httpx.post(f"{server}/v1/batch", json={"batch": batch, "writeKey": WRITE_KEY}, timeout=30)
    assert response.status_code == 200, response.text


def waiting_for_locks(db_url: str) -> int:
    """Backends of this database waiting for a lock (a row lock the test holds)."""
    with psycopg.connect(db_url) as connection:
        sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return int(connection.execute(sql).fetchone()[0])  # type: ignore[index]


def until(condition: typing.Callable[[], bool], seconds: float = 30) -> None:
    """Poll `condition` (a state change we wait for, not a fixed sleep) until it holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@contextlib.contextmanager
def identity_locked(db_url: str, value: str) -> typing.Iterator[psycopg.Connection[typing.Any]]:
    """Hold a row lock on the identity `value`, as a batch naming it would, until the block ends."""
    with psycopg.connect(db_url) as connection:
        rows = connection.execute("SELECT 1 FROM identities WHERE value = %s FOR UPDATE", (value,)).fetchall()
        assert rows, value
        yield connection
        connection.rollback()


def track(anonymous: str, message_id: str, **fields: typing.Any) -> dict[str, typing.Any]:
    return {"type": "track", "event": "Viewed", "anonymousId": anonymous, "messageId": message_id, **fields}


def test_a_batch_held_open_in_one_process_blocks_no_other_visitor(two_collectors: list[str], postgres_url: str) -> None:
    first, second = two_collectors
    post(first, [track("held", "h0")])
    # The pool outside the lock: leaving the block releases the lock before waiting for the thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool, identity_locked(postgres_url, "held"):
        waiting = pool.submit(post, first, [track("held", "h1"), track("held-too", "h2")])
        until(lambda: waiting_for_locks(postgres_url) == 1)  # its transaction is open, waiting for us
        post(second, [track("bystander", "b1"), {"type": "identify", "userId": "B", "anonymousId": "bystander",
                                                 "messageId": "b2"}])  # fmt: skip
        post(first, [track("bystander-2", "b3")])  # the same process, too: no lock shared by every writer
        assert not waiting.done()
    waiting.result()  # once the lock is released
    stored = httpx.get(f"{second}/api/events", params={"limit": "100"}, headers=ADMIN).json()["events"]
    assert sorted(e["messageId"] for e in stored) == ["b1", "b2", "b3", "h0", "h1", "h2"]


def test_a_collector_killed_mid_batch_leaves_nothing_and_the_retry_stores_it_once(
    two_collectors: list[str], processes: dict[str, subprocess.Popen[str]], postgres_url: str
) -> None:
    first, second = two_collectors
    post(first, [track("held", "h0")])
    batch = [
        track("held", "k1"),
        {"type": "identify", "userId": "K", "anonymousId": "new-visitor", "traits": {"plan": "pro"}, "messageId": "k2"},
        {"type": "alias", "userId": "K", "previousId": "held", "messageId": "k3"},
    ]
    with concurrent.futures.ThreadPoolExecutor(1) as pool, identity_locked(postgres_url, "held"):
        doomed = pool.submit(httpx.post, f"{first}/v1/batch", json={"batch": batch, "writeKey": WRITE_KEY}, timeout=30)
        until(lambda: waiting_for_locks(postgres_url) == 1)  # mid-transaction: IDs claimed, events not yet in
        processes[first].kill()  # SIGKILL: no handler runs, the transaction is left open
        with pytest.raises(httpx.HTTPError):
            doomed.result()
    # The killed process's backend finds its client gone once our lock is released, and rolls back.
    until(lambda: busy_backends(postgres_url) == 0)
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)
        assert connection.execute("SELECT value FROM identities ORDER BY value").fetchall() == [("held",)]
    for _ in range(2):  # the client's retry, to the other process, then once more
        post(second, batch)
    profile = httpx.get(f"{second}/api/profiles/lookup", params={"userId": "K"}, headers=ADMIN).json()
    assert profile["anonymousIds"] == ["held", "new-visitor"] and profile["eventCount"] == 4
    assert profile["traits"] == {"plan": "pro"}
    stored = httpx.get(f"{second}/api/events", params={"limit": "100"}, headers=ADMIN).json()["events"]
    assert sorted(e["messageId"] for e in stored) == ["h0", "k1", "k2", "k3"]


def busy_backends(db_url: str) -> int:
    """Other backends of this database in a transaction (or running one statement)."""
    with psycopg.connect(db_url) as connection:
        sql = (
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state <> 'idle'"
        )
        return int(connection.execute(sql).fetchone()[0])  # type: ignore[index]


def test_the_same_message_ids_with_different_ids_at_once_on_both_processes(two_collectors: list[str]) -> None:
    """An attacker replays messageIds with other visitors' IDs on both collectors at once: each message
    is stored once, and every profile counts exactly the events that are stored as its own."""
    barrier = threading.Barrier(2)

    def send(n: int) -> None:
        for round_ in range(10):
            batch = [track(f"V{n}-{round_}-{k}", f"r{round_}-{k}") for k in range(5)]
            barrier.wait()
            post(two_collectors[n], batch)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(send, n) for n in range(2)]:
            future.result()
    server = two_collectors[0]
    stored = httpx.get(f"{server}/api/events", params={"limit": "1000"}, headers=ADMIN).json()["events"]
    assert len(stored) == 50 == len({e["messageId"] for e in stored})
    profiles = httpx.get(f"{server}/api/profiles", params={"limit": "1000"}, headers=ADMIN).json()["profiles"]
    assert sum(p["eventCount"] for p in profiles) == 50


def visitor(n: int) -> list[list[dict[str, typing.Any]]]:
    """The batches of visitor n: browse anonymously, then sign in as U while still browsing."""
    anonymous = f"A{n}"
    browse: list[dict[str, typing.Any]] = [
        {"type": "track", "event": "Viewed", "anonymousId": anonymous, "messageId": f"v{n}-{k}"}
        for k in range(EVENTS_EACH)
    ]
    sign_in: list[dict[str, typing.Any]] = [
        {"type": "identify", "userId": "U", "anonymousId": anonymous, "traits": {"visitor": n}, "messageId": f"i{n}"},
        {"type": "track", "event": "Signed In", "userId": "U", "anonymousId": anonymous, "messageId": f"s{n}"},
    ]
    return [browse, sign_in]


def test_two_processes_one_profile(two_collectors: list[str]) -> None:
    barrier = threading.Barrier(VISITORS)

    def run(n: int) -> None:
        browse, sign_in = visitor(n)
        mine, other = two_collectors[n % 2], two_collectors[(n + 1) % 2]
        post(mine, browse)
        barrier.wait()  # every visitor signs in at the same moment, half on each collector
        post(mine, sign_in)
        post(other, sign_in)  # the same messages again, to the other process: stored once

    with concurrent.futures.ThreadPoolExecutor(VISITORS) as pool:
        for future in [pool.submit(run, n) for n in range(VISITORS)]:
            future.result()

    server = two_collectors[0]
    profiles = httpx.get(f"{server}/api/profiles", params={"limit": "100"}, headers=ADMIN).json()["profiles"]
    assert len(profiles) == 1
    [profile] = profiles
    expected_events = VISITORS * (EVENTS_EACH + 2)
    assert profile["userIds"] == ["U"]
    assert profile["anonymousIds"] == sorted(f"A{n}" for n in range(VISITORS))
    assert profile["eventCount"] == expected_events
    assert len(profile["traits"]) == 1 and profile["traits"]["visitor"] in range(VISITORS)
    stored = httpx.get(f"{server}/api/events", params={"limit": "10000"}, headers=ADMIN).json()["events"]
    assert len(stored) == expected_events == len({e["messageId"] for e in stored})
    mine = httpx.get(
        f"{two_collectors[1]}/api/events", params={"profileId": profile["profileId"], "limit": "1000"}, headers=ADMIN
    ).json()
    assert len(mine["events"]) == expected_events and mine["next"] is None
