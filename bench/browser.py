"""bench.ingest's browser-shaped traffic: 10,000 visitors, each request 1 to 5 of one visitor's
events (what a page sends: a page view, a click or two, an identify now and then), posted over
keep-alive connections by a small asyncio HTTP/1.1 client (one event loop, pre-serialised
requests), so that the clients' own CPU stays a small part of the 2 cores the collector shares.
Also the hub case of issue 17 (`hub_case`)."""

import asyncio
import base64
import json
import random
import time

from .stats import percentile
from .workload import COMPACT, PAGES, TRACKS, _context, _uuid4, iso

VISITORS = 10_000
CONNECTIONS = 32


def browser_requests(count, seed=7, visitors=VISITORS):
    """`count` request bodies (bytes) and their event counts."""
    rng = random.Random(seed)
    ids = [_uuid4(rng) for _ in range(visitors)]
    seen = {}
    bodies, sizes = [], []
    now = time.time()
    for _ in range(count):
        visitor = rng.choice(ids)
        messages = []
        for _ in range(rng.randint(1, 5)):
            n = seen[visitor] = seen.get(visitor, -1) + 1
            path, title = rng.choice(PAGES)
            roll = rng.random()
            message = {"messageId": _uuid4(rng), "anonymousId": visitor, "timestamp": iso(now),
                       "context": _context(visitor, path, title, n)}  # fmt: skip
            if roll < 0.5:
                message.update(type="page", name=title, properties={"path": path, "title": title})
            elif roll < 0.97:
                message.update(type="track", event=rng.choice(TRACKS), properties={"value": rng.randint(1, 500)})
            else:
                message.update(type="identify", userId=f"user-{rng.randrange(visitors // 4):05d}",
                               traits={"plan": rng.choice(["free", "pro"])})  # fmt: skip
            messages.append(message)
        bodies.append(json.dumps({"batch": messages, "sentAt": iso(now)}, separators=COMPACT).encode())
        sizes.append(len(messages))
    return bodies, sizes


def request_bytes(host, write_key, body, path="/v1/batch"):
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader, writer, data):
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


async def _post_all(host, port, requests, connections):
    """Every request once, over `connections` keep-alive connections: latencies s, wall s."""
    pending = iter(range(len(requests)))
    latencies = [None] * len(requests)
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]

    async def run(reader, writer):
        for index in pending:
            began = time.perf_counter()
            status, body = await _exchange(reader, writer, requests[index])
            latencies[index] = time.perf_counter() - began
            if status != 200:
                raise RuntimeError(f"request {index}: {status} {body[:300]!r}")

    began = time.perf_counter()
    await asyncio.gather(*(run(r, w) for r, w in streams))
    wall = time.perf_counter() - began
    for _, writer in streams:
        writer.close()
    return latencies, wall


def post_requests(url, write_key, bodies, connections=CONNECTIONS, path="/v1/batch"):
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    requests = [request_bytes(host, write_key, body, path) for body in bodies]
    return asyncio.run(_post_all(host, int(port), requests, connections))


def figures(latencies, wall, events):
    ms = [s * 1000 for s in latencies]
    return {
        "requests": len(ms),
        "events": events,
        "requests_per_s": len(ms) / wall,
        "events_per_s": events / wall,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "wall_s": wall,
    }


# -- The hub case ---------------------------------------------------------------------------------


def _one_event(anonymous_id, user_id, n):
    message = {"type": "track", "event": "Viewed", "anonymousId": anonymous_id, "messageId": f"{anonymous_id}-{n}"}
    if user_id:
        message["userId"] = user_id
    return json.dumps({"batch": [message]}, separators=COMPACT).encode()


async def _streams(host, port, write_key, loud, quiet, rounds):
    """4 streams of one-event tracks for `loud` (anonymousId, userId), and one bystander's, until
    the bystander has sent `rounds`: (loud latencies, bystander latencies)."""
    loud_ms, quiet_ms, done = [], [], asyncio.Event()

    async def stream(target, sink, count, tag):
        reader, writer = await asyncio.open_connection(host, port)
        n = 0
        while (count is None and not done.is_set()) or (count is not None and n < count):
            body = _one_event(f"{target[0]}", target[1], f"{tag}-{n}")
            began = time.perf_counter()
            status, text = await _exchange(reader, writer, request_bytes(host, write_key, body))
            sink.append((time.perf_counter() - began) * 1000)
            if status != 200:
                raise RuntimeError(f"{status} {text[:200]!r}")
            n += 1
        writer.close()
        if count is not None:
            done.set()

    await asyncio.gather(
        *(stream(loud, loud_ms, None, f"s{k}") for k in range(4)), stream(quiet, quiet_ms, rounds, "q")
    )
    return loud_ms, quiet_ms


def hub_case(url, write_key, hub_ids, rounds=400):
    """Build a hub (one user with `hub_ids` anonymous IDs, in batches of 2,500 identifies), then a
    bystander's one-event tracks beside 4 streams of one-event tracks: first for a visitor with 2 IDs
    (the baseline), then for the hub."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    port = int(port)
    bodies = []
    for start in range(0, hub_ids, 2500):
        batch = [{"type": "identify", "userId": "hub", "anonymousId": f"hub-{n}", "messageId": f"hub-{n}"}
                 for n in range(start, min(start + 2500, hub_ids))]  # fmt: skip
        bodies.append(json.dumps({"batch": batch}, separators=COMPACT).encode())
    began = time.perf_counter()
    post_requests(url, write_key, bodies, connections=1)
    built = time.perf_counter() - began
    post_requests(url, write_key, [_one_event("small", "small-user", "x")], connections=1)
    result = {"hub_ids": hub_ids, "build_s": built}
    for name, loud in (("baseline", ("small", "small-user")), ("hub", ("hub-17", "hub"))):
        loud_ms, quiet_ms = asyncio.run(_streams(host, port, write_key, loud, (f"bystander-{name}", None), rounds))
        result[name] = {
            "streams_p50_ms": percentile(loud_ms, 50),
            "streams_p95_ms": percentile(loud_ms, 95),
            "bystander_p50_ms": percentile(quiet_ms, 50),
            "bystander_p95_ms": percentile(quiet_ms, 95),
            "stream_requests": len(loud_ms),
        }
    return result
