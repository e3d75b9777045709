"""Two real `visitrail serve` processes writing to one PostgreSQL database at the same moment.

Each visitor browses anonymously, then signs in as the same user on both collectors at once, and
some messages reach both collectors (a client retrying against another instance). Afterwards exactly
one profile holds every ID and each message is stored once: the advisory lock of
storage/postgres.py serialises the batches of both processes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import subprocess
import threading
import typing

import httpx
import pytest

from .helpers import STARTUP_SECONDS, read_line, visitrail_command

WRITE_KEY = "wk_pg"
ADMIN = {"Authorization": "Bearer pg-admin"}
VISITORS = 16
EVENTS_EACH = 5


@contextlib.contextmanager
def collector(db_url: str) -> typing.Iterator[str]:
    command = visitrail_command() + [
        "serve", "--port", "0", "--db", db_url, "--write-key", WRITE_KEY, "--admin-token", "pg-admin",
        "--log-level", "warning",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = read_line(process, STARTUP_SECONDS)
            assert line.startswith("visitrail collector listening on "), line
            yield line.split()[-1]
        finally:
            process.terminate()
            process.wait(timeout=STARTUP_SECONDS)


@pytest.fixture
def two_collectors(postgres_url: str) -> typing.Iterator[list[str]]:
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(2) as pool:
        # Both start (and find the schema to create) at once, too.
        starting = [pool.submit(stack.enter_context, collector(postgres_url)) for _ in range(2)]
        yield [future.result() for future in starting]


def post(server: str, batch: list[dict[str, typing.Any]]) -> None:
    response = httpx.post(f"{server}/v1/batch", json={"batch": batch, "writeKey": WRITE_KEY}, timeout=30)
    assert response.status_code == 200, response.text


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
