"""The collector's ingest path, per storage backend: events/s through `POST /v1/batch`, the same
events inserted straight into a bare table (the ceiling without the collector), and profile lookup
latency once the store is full. Not a test.

    .venv/bin/python -m bench.ingest [--events 100000] [--batch 100] [--clients 4] [--lookups 200]
                                     [--backends sqlite,postgres] [--out bench/results/ingest.json]

Run from the repository root (PostgreSQL comes from tests/collector/postgres.py). Prints one table
and writes the figures to bench/results/ingest.json.

- HTTP: a real `visitrail serve` subprocess (demo.Collector, rate limit off) on a fresh database;
  --clients threads, each with its own keep-alive httpx client, post the pre-serialised batches of
  --batch Segment messages (mostly track, some page and identify; --events/20 anonymous IDs, about
  a quarter of which sign in as one of fewer user IDs, so profiles get linked and merged). events/s
  is events acknowledged over the wall time from the first request to the last answer; latency is
  per request. "collector CPU" is the serve process's CPU time over that wall time (1.0 = one core).
- raw: the same messages, one bare table (message_id, type, anonymous_id, user_id, timestamp, body;
  no index, no key), one INSERT ... executemany per batch in its own transaction, one connection,
  with sqlite3 / psycopg directly: no HTTP, validation, dedup or profile resolution. SQLite in WAL
  mode with the collector's (default) synchronous setting, in the same temporary directory.
- lookups: `GET /api/profiles/lookup?anonymousId=|userId=` (admin bearer token) of --lookups random
  IDs that were sent, one after another on one keep-alive connection, after the ingest.
PostgreSQL is a throwaway cluster from Debian's binaries with fsync off (as in the tests), or the
server that $VISITRAIL_TEST_DATABASE_URLS names; each part gets a database of its own.

Clients, collector and database share the machine's CPUs: on 2 CPUs the figures are what one small
box does end to end, not what the collector would do with the database elsewhere.
"""

import argparse
import base64
import datetime
import json
import math
import os
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from visitrail import demo
from visitrail.collector.body import MAX_BODY_BYTES
from visitrail.collector.messages import MAX_BATCH_MESSAGES as MAX_BATCH

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "ingest.json"
BACKENDS = ("sqlite", "postgres")
WRITE_KEY = "bench-key"
ADMIN_TOKEN = "bench-admin-token"
ORIGIN = "http://127.0.0.1:9"  # no browser here; `serve` only wants some origin
SEED = 20261125

NO_POSTGRES = "postgres: skipped (PostgreSQL is not installed: apt-get install postgresql)"
RAW_TABLE = """CREATE TABLE raw_events (
    message_id TEXT NOT NULL, type TEXT NOT NULL, anonymous_id TEXT, user_id TEXT, timestamp TEXT NOT NULL,
    body TEXT NOT NULL
)"""
RAW_INSERT = (
    "INSERT INTO raw_events (message_id, type, anonymous_id, user_id, timestamp, body) VALUES (?, ?, ?, ?, ?, ?)"
)

TRACKS = [
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
    "Search Performed",
    "Video Played",
    "Article Read",
    "Button Clicked",
    "Form Submitted",
]
PAGES = [
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/docs", "Docs"),
    ("/blog/launch", "Launch"),
    ("/products/42", "Blue kettle"),
    ("/cart", "Cart"),
    ("/account", "Account"),
]
PLANS = ["free", "pro", "team", "enterprise"]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Workload:
    """Every batch as the bytes the clients post and as the rows the raw insert writes, built before
    any clock starts. Seeded: the same sizes give the same events on every run and backend."""

    def __init__(self, events, batch):
        rng = random.Random(SEED)
        self.visitors = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(max(1, events // 20))]
        # Fewer users than signed-in visitors: a user met again on a second device links (and, when
        # that device browsed anonymously first, merges) two profiles.
        users = [f"user-{n:06d}" for n in range(max(1, round(len(self.visitors) * 0.25 / 1.25)))]
        user_of = {v: rng.choice(users) for v in self.visitors if rng.random() < 0.25}
        sign_in_at = {v: rng.randint(0, 12) for v in user_of}
        seen = {}
        start = time.time() - 3600  # an hour of traffic, oldest first
        step = 3600 / max(events, 1)
        self.bodies, self.rows, self.kinds = [], [], {}
        self.users_seen = set()
        message_bytes = 0
        for first in range(0, events, batch):
            messages = []
            for i in range(first, min(first + batch, events)):
                visitor = rng.choice(self.visitors)
                count = seen[visitor] = seen.get(visitor, -1) + 1
                user = user_of.get(visitor) if count >= sign_in_at.get(visitor, 1 << 30) else None
                path, title = rng.choice(PAGES)
                roll = rng.random()
                if user and count == sign_in_at[visitor]:
                    kind = "identify"  # the sign-in: links the visitor to its user
                else:
                    kind = "track" if roll < 0.80 else "page" if roll < 0.93 else "identify"
                message = {
                    "type": kind,
                    "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "anonymousId": visitor,
                    "timestamp": iso(start + i * step),
                    "context": {
                        "library": {"name": "visitrail", "version": "0.1.0"},
                        "page": {
                            "path": path,
                            "title": title,
                            "url": "https://shop.example.com" + path,
                            "referrer": "https://www.example.org/",
                        },
                        "userAgent": USER_AGENT,
                        "locale": "en-GB",
                        "sessionId": f"{visitor[:8]}-{count // 15}",
                    },
                }
                if user:
                    message["userId"] = user
                    self.users_seen.add(user)
                if kind == "track":
                    message["event"] = rng.choice(TRACKS)
                    message["properties"] = {
                        "value": rng.randint(1, 500),
                        "currency": "EUR",
                        "sku": f"SKU-{rng.randint(1, 999):03d}",
                    }
                elif kind == "page":
                    message["name"] = title
                    message["properties"] = {"path": path, "title": title}
                else:
                    message["traits"] = {"plan": rng.choice(PLANS), "visits": count + 1}
                    if user:
                        message["traits"].update(email=f"{user}@example.com", name=user.replace("-", " ").title())
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                messages.append(message)
            body = json.dumps(
                {"batch": messages, "sentAt": iso(start + first * step + 60)}, separators=(",", ":")
            ).encode()
            if len(body) > MAX_BODY_BYTES:
                raise SystemExit(
                    f"a batch of {batch} messages is {len(body):,} bytes, over the collector's "
                    f"{MAX_BODY_BYTES:,}; use a smaller --batch"
                )
            message_bytes += len(body)
            self.bodies.append(body)
            self.rows.append(
                [
                    (
                        m["messageId"],
                        m["type"],
                        m["anonymousId"],
                        m.get("userId"),
                        m["timestamp"],
                        json.dumps(m, separators=(",", ":")),
                    )
                    for m in messages
                ]
            )
        self.events = events
        self.visitors_seen = list(seen)
        self.message_bytes = message_bytes / max(events, 1)

    def lookup_ids(self, count):
        """Half by userId (profiles that signed in, often merged), half by anonymousId, shuffled."""
        rng = random.Random(SEED + 1)
        users = [("userId", u) for u in sorted(self.users_seen)]
        visitors = [("anonymousId", v) for v in self.visitors_seen]
        by_user = count // 2 if users else 0

        def pick(pool, k):
            return rng.sample(pool, k) if k <= len(pool) else rng.choices(pool, k=k)

        ids = pick(users, by_user) + pick(visitors, count - by_user)
        rng.shuffle(ids)
        return ids


def percentile(values, p):
    """Nearest rank: a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(db_url):
    """CPU seconds of each process of the PostgreSQL server behind `db_url`, by pid, when it runs on
    this machine (the postmaster's children: backends, WAL writer, checkpointer...), else None."""
    import psycopg

    with psycopg.connect(db_url) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    try:
        postmaster = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1]
        if not Path(f"/proc/{postmaster}/comm").read_text().startswith("postgres"):
            return None
    except OSError:  # a server elsewhere, or in another PID namespace
        return None
    pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    used = {}
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == postmaster:
                used[pid] = cpu_seconds(pid)
        except OSError:  # gone meanwhile
            pass
    return {pid: cpu for pid, cpu in used.items() if cpu is not None}


def post_batches(url, bodies, clients):
    """Every body posted once by `clients` threads: per-request latency and answer time, the wall
    time and this process's CPU time over it."""
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    lock = threading.Lock()
    pending = iter(range(len(bodies)))
    latencies = [None] * len(bodies)
    answered = [None] * len(bodies)
    failures = []
    # Connections are opened before the clock starts, then every client starts at once.
    ready = threading.Barrier(clients + 1)

    def client():
        http = httpx.Client(base_url=url, headers=headers, timeout=120)
        try:
            try:
                http.get("/healthz").raise_for_status()
            finally:
                ready.wait()
            while not failures:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                began = time.perf_counter()
                response = http.post("/v1/batch", content=bodies[index])
                ended = time.perf_counter()
                if response.status_code != 200 or not response.json().get("success"):
                    failures.append(f"batch {index}: {response.status_code} {response.text[:300]}")
                    return
                latencies[index], answered[index] = ended - began, ended
        except Exception as exc:  # reported by the main thread, which stops the run
            failures.append(repr(exc))
        finally:
            http.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures or None in answered:
        raise RuntimeError("a batch failed: " + (failures or ["a client thread ended early"])[0])
    return latencies, [t - began for t in answered], wall, cpu


def throughput_by_part(workload, answered, parts=5):
    """events/s in the first and the last fifth of the run, by answer time: does a fuller store slow it?"""
    order = sorted(range(len(answered)), key=answered.__getitem__)
    sizes = [len(rows) for rows in workload.rows]
    chunk = max(1, len(order) // parts)
    if len(order) < 2 * chunk or chunk < 2:
        return None, None

    def rate(indexes, since):
        return sum(sizes[i] for i in indexes) / (answered[indexes[-1]] - since)

    first, last = order[:chunk], order[-chunk:]
    return rate(first, 0.0), rate(last, answered[order[-chunk - 1]])


def count_rows(backend, db_url):
    """Rows the collector stored, read from the database itself."""
    tables = ("events", "profiles", "identities")
    if backend == "sqlite":
        with sqlite3.connect(f"file:{db_url.split(':///', 1)[1]}?mode=ro", uri=True) as connection:
            return {t: connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    import psycopg

    with psycopg.connect(db_url) as connection:
        return {t: connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def lookups(url, ids):
    latencies, events = [], []
    headers = {"Authorization": "Bearer " + ADMIN_TOKEN}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        http.get("/healthz").raise_for_status()
        for kind, value in ids:
            began = time.perf_counter()
            response = http.get("/api/profiles/lookup", params={kind: value})
            latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"lookup {kind}={value}: {response.status_code} {response.text[:300]}")
            events.append(response.json()["eventCount"])
    return latencies, events


def through_http(backend, db_url, workload, args):
    collector = demo.Collector(
        db_url, ADMIN_TOKEN, ORIGIN, write_key=WRITE_KEY, extra_args=["--rate-limit", "0", "--no-ip"]
    )
    # The default limit (1,000 events/s per write key) would measure the token bucket, not the ingest.
    url = collector.start()
    try:
        db_before = postgres_cpu(db_url) if backend == "postgres" else None
        cpu_before = cpu_seconds(collector.proc.pid)
        latencies, answered, wall, client_cpu = post_batches(url, workload.bodies, args.clients)
        cpu_after = cpu_seconds(collector.proc.pid)
        db_after = postgres_cpu(db_url) if db_before is not None else None
        stored = count_rows(backend, db_url)
        ids = workload.lookup_ids(args.lookups) if args.lookups else []
        lookup_latencies, lookup_events = lookups(url, ids) if ids else ([], [])
    finally:
        collector.stop()
    if stored["events"] != workload.events:
        raise RuntimeError(f"{backend}: {workload.events} events sent, {stored['events']} stored")
    first, last = throughput_by_part(workload, answered)
    ms = [s * 1000 for s in latencies]
    result = {
        "events_per_s": workload.events / wall,
        "wall_s": wall,
        "batch_ms": {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms)},
        "events_per_s_first_fifth": first,
        "events_per_s_last_fifth": last,
        "collector_cpu_s": None if cpu_before is None else cpu_after - cpu_before,
        "client_cpu_s": client_cpu,
        # Backends that ended during the run are missed; the collector's pool keeps its connections.
        "database_cpu_s": None
        if db_after is None
        else sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items()),
        "stored": stored,
    }
    if lookup_latencies:
        ms = [s * 1000 for s in lookup_latencies]
        by = {k: [t for (kind, _), t in zip(ids, ms) if kind == k] for k in ("anonymousId", "userId")}
        result["lookup"] = {
            "count": len(ms),
            "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95),
            "max_ms": max(ms),
            "by": {k: len(v) for k, v in by.items()},
            "p50_ms_by": {k: percentile(v, 50) if v else None for k, v in by.items()},
            "profile_events_median": statistics.median(lookup_events),
            "profile_events_max": max(lookup_events),
        }
    return result


def raw_sqlite(path, workload):
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")  # as the collector's file
        connection.execute(RAW_TABLE)
        began = time.perf_counter()
        for rows in workload.rows:
            connection.execute("BEGIN")
            connection.executemany(RAW_INSERT, rows)
            connection.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        connection.close()


def raw_postgres(db_url, workload):
    import psycopg

    insert = RAW_INSERT.replace("?", "%s")
    with psycopg.connect(db_url, autocommit=True) as connection:
        connection.execute(RAW_TABLE)
        began = time.perf_counter()
        for rows in workload.rows:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(insert, rows)
        return time.perf_counter() - began


def run_backend(backend, workload, args, tmp, postgres):
    if backend == "sqlite":
        result = through_http(backend, f"sqlite:///{tmp}/collector.db", workload, args)
        raw_wall = raw_sqlite(f"{tmp}/raw.db", workload)
    else:
        with postgres.database() as db_url:
            result = through_http(backend, db_url, workload, args)
        with postgres.database() as db_url:
            raw_wall = raw_postgres(db_url, workload)
    result["raw_events_per_s"] = workload.events / raw_wall
    result["raw_wall_s"] = raw_wall
    return result


def start_postgres():
    """(server, what it is), or (None, why not). The server the tests would use, started the same way."""
    try:
        from tests.collector.postgres import URLS_ENV, PostgresServer, find_binaries
    except ImportError:
        return None, "postgres: skipped (tests/collector/postgres.py not importable: run from the repository root)"
    given = [u for u in os.environ.get(URLS_ENV, "").split(",") if u.startswith(("postgresql:", "postgres:"))]
    if given:
        return PostgresServer(given[0]), f"postgres: the server ${URLS_ENV} names"
    bin_dir = find_binaries()
    if bin_dir is None:
        return None, NO_POSTGRES
    try:
        server = PostgresServer.start(bin_dir)
    except RuntimeError as exc:
        return None, f"postgres: skipped ({str(exc).splitlines()[0]})"
    version = bin_dir.rstrip("/").split("/")[-2]
    return server, (
        f"postgres: a throwaway PostgreSQL {version} cluster, fsync=off and full_page_writes=off (as in the tests)"
    )


def shown(path):
    """`path` relative to the working directory when it is inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path


def command_line(argv):
    return shlex.join([shown(sys.executable), "-m", "bench.ingest", *argv])


def rounded(value):
    """Floats to 4 significant digits, all the way down: the figures are not more precise."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100, help=f"messages per request (at most {MAX_BATCH})")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (threads)")
    parser.add_argument("--lookups", type=int, default=200, help="profile lookups after the ingest (0: none)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        parser.error(f"--backends: choose from {','.join(BACKENDS)}")
    if args.events < 1 or not 1 <= args.batch <= MAX_BATCH or args.clients < 1 or args.lookups < 0:
        parser.error(f"--events and --clients must be at least 1, --batch 1 to {MAX_BATCH}, --lookups at least 0")

    cpus = os.cpu_count()
    load = os.getloadavg()
    command = command_line(argv)
    workload = Workload(args.events, args.batch)
    requests = len(workload.bodies)
    print(
        f"Visitrail collector ingest: {args.events:,} events in {requests:,} batches of up to {args.batch}, "
        f"{args.clients} clients, {args.lookups} lookups"
    )
    print(f"  command: {command}")
    print(f"  machine: {cpus} CPUs, load average {load[0]:.2f} at start; Python {sys.version.split()[0]}")
    by_count = sorted(workload.kinds, key=workload.kinds.get, reverse=True)
    kinds = ", ".join(f"{workload.kinds[k] / args.events:.0%} {k}" for k in by_count)
    print(
        f"  events: {kinds}; {len(workload.visitors_seen):,} anonymous IDs, {len(workload.users_seen):,} user IDs; "
        f"{workload.message_bytes:,.0f} bytes per message in its batch"
    )

    results = {}
    postgres, postgres_note = None, None
    if "postgres" in backends:
        postgres, postgres_note = start_postgres()
        if postgres is None:
            print(postgres_note)
            results["postgres"] = {"skipped": postgres_note}
    try:
        with tempfile.TemporaryDirectory(prefix="visitrail-ingest-") as tmp:
            for backend in backends:
                if backend == "postgres" and postgres is None:
                    continue
                print(f"  {backend}: running", flush=True)
                results[backend] = run_backend(backend, workload, args, tmp, postgres)
    finally:
        if postgres is not None:
            postgres.stop()

    done = [b for b in backends if "skipped" not in results.get(b, {"skipped": True})]
    head = [
        "backend",
        "HTTP events/s",
        "first/last fifth",
        "batch p50 ms",
        "p95 ms",
        "collector CPU",
        "raw events/s",
        "HTTP/raw",
        "lookup p50 ms",
        "p95 ms",
        "max ms",
    ]
    rows = [head]
    for backend in done:
        r = results[backend]
        look = r.get("lookup", {})
        cpu = r["collector_cpu_s"]
        rows.append(
            [
                backend,
                fmt(r["events_per_s"]),
                f"{fmt(r['events_per_s_first_fifth'])}/{fmt(r['events_per_s_last_fifth'])}",
                fmt(r["batch_ms"]["p50"], 1),
                fmt(r["batch_ms"]["p95"], 1),
                # /proc counts in ticks of 10 ms: a share of a shorter run means little.
                "-" if cpu is None or cpu < 0.1 else f"{cpu / r['wall_s']:.2f} core",
                fmt(r["raw_events_per_s"]),
                f"{r['events_per_s'] / r['raw_events_per_s']:.1%}",
                fmt(look.get("p50_ms"), 1),
                fmt(look.get("p95_ms"), 1),
                fmt(look.get("max_ms"), 1),
            ]
        )
    print()
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        for n, row in enumerate(rows):
            print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))
        print()
    for backend in done:
        r = results[backend]
        stored, look, indent = r["stored"], r.get("lookup"), " " * (len(backend) + 4)
        print(
            f"  {backend}: {stored['events']:,} events stored in {r['wall_s']:.2f} s ({stored['profiles']:,} "
            f"profiles, {stored['identities']:,} IDs); the raw insert took {r['raw_wall_s']:.2f} s"
        )
        cpu = f"collector {fmt(r['collector_cpu_s'], 1)} s, clients {r['client_cpu_s']:.1f} s"
        if r.get("database_cpu_s") is not None:
            cpu += f", PostgreSQL {r['database_cpu_s']:.1f} s"
        print(f"{indent}CPU during the HTTP ingest: {cpu}")
        if look:
            by = ", ".join(
                f"{look['by'][k]} by {k} (p50 {look['p50_ms_by'][k]:.1f} ms)"
                for k in ("anonymousId", "userId")
                if look["by"][k]
            )
            print(
                f"{indent}lookups: {by}; profiles of {look['profile_events_median']:,.0f} events (median), "
                f"{look['profile_events_max']:,} (max)"
            )
    if "postgres" in done:
        print("  " + postgres_note)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            rounded(
                {
                    "command": command,
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "cpus": cpus,
                    "load_average_at_start": load,
                    "python": sys.version.split()[0],
                    "sizes": {
                        "events": args.events,
                        "batch": args.batch,
                        "requests": requests,
                        "clients": args.clients,
                        "lookups": args.lookups,
                    },
                    "workload": {
                        "kinds": workload.kinds,
                        "anonymous_ids": len(workload.visitors_seen),
                        "user_ids": len(workload.users_seen),
                        "bytes_per_message": round(workload.message_bytes, 1),
                        "seed": SEED,
                    },
                    "backends": results,
                }
            ),
            indent=2,
        )
        + "\n"
    )
    print(f"  written to {shown(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
