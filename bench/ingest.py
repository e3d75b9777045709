"""The collector's ingest path, per storage backend: events/s through `POST /v1/batch`, the same
events inserted straight into a bare table (the ceiling without the collector), and profile lookup
latency once the store is full. Not a test.

    .venv/bin/python -m bench.ingest [--events 100000] [--batch 100] [--clients 4] [--lookups 200]
                                     [--browser-requests 20000] [--hub-ids 50000] [--lookup-events 1000000]
                                     [--workers 1] [--backends sqlite,postgres] [--out bench/results/ingest.json]

Prints one table and writes the figures to bench/results/ingest.json.

- HTTP: a real `visitrail serve` subprocess (CollectorProcess, rate limit off) on a fresh database;
  --clients threads, each with its own keep-alive httpx client, post the pre-serialised batches of
  --batch Segment messages (workload.py). events/s is events acknowledged over the wall time from
  the first request to the last answer; latency is per request. "collector CPU" is the serve
  process's CPU time over that wall time (1.0 = one core). (clients.py)
- raw: the same messages into one bare table, with sqlite3 / psycopg directly, SQLite in the same
  temporary directory. (databases.py)
- lookups: `GET /api/profiles/lookup?anonymousId=|userId=` (admin bearer token) of --lookups random
  IDs that were sent, one after another on one keep-alive connection, after the ingest.
- browser-shaped: --browser-requests requests of 1 to 5 events of one of 10,000 visitors, over 32
  keep-alive connections of an asyncio client (browser.py), on the same collector after the batches.
  "CPU µs/event" is the collector's CPU time (every process of it) per event stored.
- hub case: a collector with no identity limits (--max-anonymous-ids 0), one user given --hub-ids
  anonymous IDs, then a bystander's one-event tracks beside 4 streams of one-event tracks, first for
  a visitor with 2 IDs (the baseline), then for the hub (browser.hub_case).
- lookups at scale: --lookup-events events written straight through Storage (fill.py), then
  --lookups lookups through a collector.
PostgreSQL runs --workers collector processes (SQLite one: it has one writer anyway).
PostgreSQL is a throwaway cluster from Debian's binaries with fsync off (visitrail.dev.postgres, as
in the tests), or the server that $VISITRAIL_TEST_DATABASE_URLS names; each part gets a database of
its own.

Clients, collector and database share the machine's CPUs: on 2 CPUs the figures are what one small
box does end to end, not what the collector would do with the database elsewhere.
"""

import argparse
import datetime
import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

from visitrail.collector.demo.process import CollectorProcess
from visitrail.collector.messages import MAX_BATCH_MESSAGES as MAX_BATCH

from . import browser, databases, fill, machine
from .clients import lookups, post_batches, throughput_by_part
from .report import number, rounded, shown, table, write_json
from .stats import percentile
from .workload import SEED, Workload

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
BACKENDS = ("sqlite", "postgres")
WRITE_KEY = "bench-key"
ADMIN_TOKEN = "bench-admin-token"
ORIGIN = "http://127.0.0.1:9"  # no browser here; `serve` only wants some origin
# The default limit (1,000 events/s per write key) would measure the token bucket, not the ingest.
SERVE_ARGS = ["--rate-limit", "0", "--ip-rate-limit", "0", "--no-ip"]  # every client is 127.0.0.1


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100, help=f"messages per request (at most {MAX_BATCH})")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (threads)")
    parser.add_argument("--lookups", type=int, default=200, help="profile lookups after the ingest (0: none)")
    parser.add_argument("--browser-requests", type=int, default=20_000, help="browser-shaped requests (0: none)")
    parser.add_argument("--hub-ids", type=int, default=50_000, help="anonymous IDs of the hub case's hub (0: skip)")
    parser.add_argument("--lookup-events", type=int, default=1_000_000, help="events stored before lookups at scale")
    parser.add_argument("--workers", type=int, default=1, help="collector processes on PostgreSQL")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backend_list) - set(BACKENDS) or not args.backend_list:
        parser.error(f"--backends: choose from {','.join(BACKENDS)}")
    if args.events < 1 or not 1 <= args.batch <= MAX_BATCH or args.clients < 1 or args.lookups < 0:
        parser.error(f"--events and --clients must be at least 1, --batch 1 to {MAX_BATCH}, --lookups at least 0")
    return args


# -- Through the collector ----------------------------------------------------------------------------


def serve(db_url, args, backend, extra=()):
    workers = ["--workers", str(args.workers)] if backend == "postgres" and args.workers > 1 else []
    return CollectorProcess(
        db_url, ADMIN_TOKEN, ORIGIN, write_key=WRITE_KEY, extra_args=[*SERVE_ARGS, *workers, *extra]
    )


def collector_cpu(collector):
    """CPU seconds of the collector: its process and (--workers) its children."""
    own = machine.cpu_seconds(collector.proc.pid) or 0.0
    return own + sum(machine.children_cpu(collector.proc.pid).values())


def through_http(backend, db_url, workload, args):
    collector = serve(db_url, args, backend)
    url = collector.start()
    try:
        db_before = databases.postgres_cpu(db_url) if backend == "postgres" else None
        cpu_before = collector_cpu(collector)
        latencies, answered, wall, client_cpu = post_batches(url, WRITE_KEY, workload.bodies, args.clients)
        cpu_after = collector_cpu(collector)
        db_after = databases.postgres_cpu(db_url) if db_before is not None else None
        stored = databases.count_rows(backend, db_url)
        ids = workload.lookup_ids(args.lookups) if args.lookups else []
        lookup_latencies, lookup_events = lookups(url, ADMIN_TOKEN, ids) if ids else ([], [])
        shaped = None
        if args.browser_requests:
            bodies, sizes = browser.browser_requests(args.browser_requests)
            before = collector_cpu(collector)
            shaped = browser.figures(*browser.post_requests(url, WRITE_KEY, bodies), sum(sizes))
            shaped["cpu_us_per_event"] = (collector_cpu(collector) - before) / sum(sizes) * 1e6
    finally:
        collector.stop()
    if stored["events"] != workload.events:
        raise RuntimeError(f"{backend}: {workload.events} events sent, {stored['events']} stored")
    first, last = throughput_by_part([len(rows) for rows in workload.rows], answered)
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
    result["cpu_us_per_event"] = (cpu_after - cpu_before) / workload.events * 1e6
    if lookup_latencies:
        result["lookup"] = lookup_figures(ids, lookup_latencies, lookup_events)
    if shaped is not None:
        result["browser"] = shaped
    return result


def hub_case(backend, db_url, args):
    collector = serve(db_url, args, backend, ["--max-anonymous-ids", "0"])
    url = collector.start()
    try:
        return browser.hub_case(url, WRITE_KEY, args.hub_ids)
    finally:
        collector.stop()


def lookups_at_scale(backend, db_url, args):
    fill_s, ids = fill.fill(db_url, args.lookup_events)
    collector = serve(db_url, args, backend)
    url = collector.start()
    try:
        picked = (ids * (args.lookups // max(1, len(ids)) + 1))[: args.lookups]
        latencies, events = lookups(url, ADMIN_TOKEN, picked)
    finally:
        collector.stop()
    ms = [t * 1000 for t in latencies]
    return {
        "events": args.lookup_events,
        "fill_s": fill_s,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms),
        "profile_events_median": statistics.median(events),
    }


def lookup_figures(ids, latencies, events):
    ms = [s * 1000 for s in latencies]
    by = {k: [t for (kind, _), t in zip(ids, ms, strict=True) if kind == k] for k in ("anonymousId", "userId")}
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms),
        "by": {k: len(v) for k, v in by.items()},
        "p50_ms_by": {k: percentile(v, 50) if v else None for k, v in by.items()},
        "profile_events_median": statistics.median(events),
        "profile_events_max": max(events),
    }


def run_backend(backend, workload, args, tmp, postgres):
    if backend == "sqlite":
        result = through_http(backend, f"sqlite:///{tmp}/collector.db", workload, args)
        raw_wall = databases.raw_sqlite(f"{tmp}/raw.db", workload)
        if args.hub_ids:
            result["hub"] = hub_case(backend, f"sqlite:///{tmp}/hub.db", args)
        if args.lookup_events and args.lookups:
            result["lookup_at_scale"] = lookups_at_scale(backend, f"sqlite:///{tmp}/big.db", args)
    else:
        with postgres.database() as db_url:
            result = through_http(backend, db_url, workload, args)
        with postgres.database() as db_url:
            raw_wall = databases.raw_postgres(db_url, workload)
        if args.hub_ids:
            with postgres.database() as db_url:
                result["hub"] = hub_case(backend, db_url, args)
        if args.lookup_events and args.lookups:
            with postgres.database() as db_url:
                result["lookup_at_scale"] = lookups_at_scale(backend, db_url, args)
    result["raw_events_per_s"] = workload.events / raw_wall
    result["raw_wall_s"] = raw_wall
    return result


def run_all(workload, args):
    """Each backend's result (or why it was skipped), and what PostgreSQL was, if it ran."""
    results, postgres, note = {}, None, None
    if "postgres" in args.backend_list:
        postgres, note = databases.start_postgres()
        if postgres is None:
            print(note)
            results["postgres"] = {"skipped": note}
    try:
        with tempfile.TemporaryDirectory(prefix="visitrail-ingest-") as tmp:
            for backend in args.backend_list:
                if backend == "postgres" and postgres is None:
                    continue
                print(f"  {backend}: running", flush=True)
                results[backend] = run_backend(backend, workload, args, tmp, postgres)
    finally:
        if postgres is not None:
            postgres.stop()
    return results, note


# -- The report ---------------------------------------------------------------------------------------


def command_line(argv):
    return shlex.join([shown(sys.executable), "-m", "bench.ingest", *argv])


def header_lines(args, workload, command, load):
    by_count = sorted(workload.kinds, key=workload.kinds.get, reverse=True)
    kinds = ", ".join(f"{workload.kinds[k] / args.events:.0%} {k}" for k in by_count)
    return [
        f"Visitrail collector ingest: {args.events:,} events in {len(workload.bodies):,} batches of up to "
        f"{args.batch}, {args.clients} clients, {args.lookups} lookups",
        f"  command: {command}",
        f"  machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} at start; Python {sys.version.split()[0]}",
        f"  events: {kinds}; {len(workload.visitors_seen):,} anonymous IDs, {len(workload.users_seen):,} user IDs; "
        f"{workload.message_bytes:,.0f} bytes per message in its batch",
    ]


def results_table(results, done):
    head = ["backend", "HTTP events/s", "first/last fifth", "batch p50 ms", "p95 ms", "collector CPU"]
    head += ["raw events/s", "HTTP/raw", "lookup p50 ms", "p95 ms", "max ms"]
    rows = []
    for backend in done:
        r = results[backend]
        look, cpu = r.get("lookup", {}), r["collector_cpu_s"]
        rows.append(
            [
                backend,
                number(r["events_per_s"]),
                f"{number(r['events_per_s_first_fifth'])}/{number(r['events_per_s_last_fifth'])}",
                number(r["batch_ms"]["p50"], 1),
                number(r["batch_ms"]["p95"], 1),
                # /proc counts in ticks of 10 ms: a share of a shorter run means little.
                "-" if cpu is None or cpu < 0.1 else f"{cpu / r['wall_s']:.2f} core",
                number(r["raw_events_per_s"]),
                f"{r['events_per_s'] / r['raw_events_per_s']:.1%}",
                number(look.get("p50_ms"), 1),
                number(look.get("p95_ms"), 1),
                number(look.get("max_ms"), 1),
            ]
        )
    return table(head, rows, indent="  ")


def scale_table(results, done):
    """The figures of issue 17, side by side."""
    head = ["backend", "raw ev/s", "batch-100 ev/s", "of raw", "CPU µs/ev", "browser req/s", "ev/s",
            "p50/p95 ms", "CPU µs/ev", "lookup p95 ms", "at events", "hub: bystander p95 base/hub ms",
            "hub streams p95 ms"]  # fmt: skip
    rows = []
    for backend in done:
        r = results[backend]
        b, hub, big = r.get("browser", {}), r.get("hub"), r.get("lookup_at_scale", {})
        rows.append([
            backend, number(r["raw_events_per_s"]), number(r["events_per_s"]),
            f"{r['events_per_s'] / r['raw_events_per_s']:.1%}", number(r.get("cpu_us_per_event"), 0),
            number(b.get("requests_per_s")), number(b.get("events_per_s")),
            f"{number(b.get('p50_ms'), 1)}/{number(b.get('p95_ms'), 1)}", number(b.get("cpu_us_per_event"), 0),
            number(big.get("p95_ms"), 1), number(big.get("events")),
            "-" if not hub else f"{hub['baseline']['bystander_p95_ms']:.1f}/{hub['hub']['bystander_p95_ms']:.1f}"
            f" ({hub['hub_ids']:,} IDs)",
            "-" if not hub else f"{hub['baseline']['streams_p95_ms']:.1f}/{hub['hub']['streams_p95_ms']:.1f}",
        ])  # fmt: skip
    return table(head, rows, indent="  ")


def backend_lines(backend, r):
    stored, look, indent = r["stored"], r.get("lookup"), " " * (len(backend) + 4)
    out = [
        f"  {backend}: {stored['events']:,} events stored in {r['wall_s']:.2f} s ({stored['profiles']:,} "
        f"profiles, {stored['identities']:,} IDs); the raw insert took {r['raw_wall_s']:.2f} s"
    ]
    cpu = f"collector {number(r['collector_cpu_s'], 1)} s, clients {r['client_cpu_s']:.1f} s"
    if r.get("database_cpu_s") is not None:
        cpu += f", PostgreSQL {r['database_cpu_s']:.1f} s"
    out.append(f"{indent}CPU during the HTTP ingest: {cpu}")
    if look:
        by = ", ".join(
            f"{look['by'][k]} by {k} (p50 {look['p50_ms_by'][k]:.1f} ms)"
            for k in ("anonymousId", "userId")
            if look["by"][k]
        )
        out.append(
            f"{indent}lookups: {by}; profiles of {look['profile_events_median']:,.0f} events (median), "
            f"{look['profile_events_max']:,} (max)"
        )
    return out


def result_json(args, workload, command, load, results):
    return rounded(
        {
            "command": command,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "python": sys.version.split()[0],
            "sizes": {
                "events": args.events,
                "batch": args.batch,
                "requests": len(workload.bodies),
                "clients": args.clients,
                "lookups": args.lookups,
                "browser_requests": args.browser_requests,
                "hub_ids": args.hub_ids,
                "lookup_events": args.lookup_events,
                "workers_postgres": args.workers,
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
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    load, command = os.getloadavg(), command_line(argv)
    workload = Workload(args.events, args.batch)
    print("\n".join(header_lines(args, workload, command, load)))
    results, postgres_note = run_all(workload, args)
    done = [b for b in args.backend_list if "skipped" not in results.get(b, {"skipped": True})]
    print()
    if done:
        print(results_table(results, done))
        print()
    for backend in done:
        print("\n".join(backend_lines(backend, results[backend])))
    print()
    print(scale_table(results, done))
    if "postgres" in done:
        print("  " + postgres_note)
    write_json(args.out, result_json(args, workload, command, load, results), indent=2)
    print(f"  written to {shown(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
