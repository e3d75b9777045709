"""Visitrail beside the SDKs people use today: what the tag costs the page, and what it delivers.

    .venv/bin/python -m bench [--quick] [--runs 10] [--visits 100] [--return-visits 20] [--away-visits 50]
                              [--only mpy,mpy-async,py,brython,segment,posthog] [--load-rounds 60]
                              [--skip timing,load,leave,offline,away]
                              [--assets static|collector] [--no-build] [--out bench/results/latest.json]

Prints one table and writes it, with every run's figures, to bench/results/latest.json. The anchors
(bench/anchors/package.json) are installed with `npm ci --prefix bench/anchors` when missing; web/dist/
is rebuilt when stale (not with --no-build). A full run takes about 18 minutes on 2 CPUs, --quick
(3 runs, 20 visits) 5 to 8.

Rows: the page with no tag; Visitrail on each runtime (`mpy`, the default, also as an async tag
after README's snippet; `py`, Pyodide; `brython`),
"not built" when web/dist/ lacks its files; Segment analytics-next; PostHog (posthog-js); and, for
the navigate-away case only, Plausible's tracker. Everything runs on 127.0.0.1 (see servers.py), the
SDKs' files from one static server; a page request for anywhere else fails the run.

Each timing run is a fresh browser context (cold cache, empty storage) loading an article page with
the tag, which calls identify + track at once (plus each SDK's own page view); rows are interleaved
run by run. Figures:
- bytes: every GET the tag caused (everything not from the page's own origin), as served (no
  Content-Encoding here), and gzip -9 of each of those files (computed, not served);
- ready: ms from navigation start to the SDK's ready callback (Visitrail/Segment `ready`,
  PostHog `loaded`); ack: to the end of the first response to a request carrying an event;
- load: the page's `load` event; TBT: long tasks (PerformanceObserver, registered before any
  page script) summed as (duration - 50 ms), over the first 5 s or until ready if later;
  CPU: the page's main-thread CPU time (CDP ThreadTime) over the same window;
- memory after that window, after a forced GC: JS heap (CDP JSHeapUsedSize) plus ArrayBuffers
  (Runtime.getHeapUsage backingStorageSize), and WebAssembly memory, which neither counts (the
  byteLength of every WebAssembly.Memory the page made, tracked by the init script);
- differences from the page without a tag are taken within each round, then the median;
- load rounds: the load event alone (nothing else measured, so many more rounds fit), for no tag,
  the `mpy` tags and, as a control, an empty synchronous script from another local origin, in
  alternating order; each tag's difference from no tag in the same round, median and 95% bootstrap
  interval, against the 5% goal;
- leave: visits (fresh contexts) that identify + track and set location.href to another origin in
  the same task; events acknowledged by the endpoint, counted per visit. Visitrail: also after the
  first --return-visits visitors come back (same browser, 0.3 s later; the boot replays the saved calls);
- offline: 100 tracks made while the context is offline (`set_offline`), then back online: how
  many arrive within 30 s, and when the last one did.
- away-50: the same-task navigate-away, no return, 50 visits: tracks / identifies delivered and
  duplicates (one message acknowledged more than once), for Visitrail's default tag, Segment and
  PostHog both with their async snippet and with the library loaded by a blocking <script>, and
  Plausible's npm tracker.
"""

import argparse
import datetime
import gzip
import json
import os
import random
import statistics
import sys
import textwrap
import time
from collections import Counter, deque
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from visitrail import demo

from .env import BenchError, Env, ensure_anchors, ensure_dist, runtime_built

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
WINDOW_MS = 5000  # TBT and memory: the first 5 s (or until ready, if later)
# Each return boots the runtime again (Pyodide: seconds), so by default only the first 20 visitors
# of each runtime come back (--return-visits N).
RETURN_VISITS = 20

# Registered before any page script (add_init_script). Long tasks for TBT; and every WebAssembly
# memory the page creates (CDP's heap figures leave WebAssembly memory out), kept for its size.
INSTRUMENT = """(() => {
  const tasks = window.__longtasks = [];
  try {
    new PerformanceObserver(list => { for (const e of list.getEntries()) tasks.push([e.startTime, e.duration]); })
      .observe({type: "longtask", buffered: true});
  } catch (e) {}
  const W = window.WebAssembly, mems = window.__wasmMemories = [];
  if (!W) return;
  const keep = m => { if (m instanceof W.Memory && mems.indexOf(m) < 0) mems.push(m); };
  const scan = i => { try { Object.values(i.exports).forEach(keep); } catch (e) {} };
  W.Memory = new Proxy(W.Memory, {construct(t, a, n) { const m = Reflect.construct(t, a, n); keep(m); return m; }});
  W.Instance = new Proxy(W.Instance, {construct(t, a, n) { const i = Reflect.construct(t, a, n); scan(i); return i; }});
  for (const name of ["instantiate", "instantiateStreaming"]) {
    const f = W[name];
    if (f) W[name] = function () { return f.apply(this, arguments).then(r => { scan(r.instance || r); return r; }); };
  }
})();"""


class Row:
    def __init__(self, key, label, sdk, rt=None, load=None):
        self.key, self.label, self.sdk, self.rt, self.load = key, label, sdk, rt, load
        self.skip = None  # why it was not measured

    def query(self, **extra):
        q = dict(extra)
        if self.rt:
            q["rt"] = self.rt
        if self.load:
            q["load"] = self.load
        return q


def all_rows():
    return [
        Row("none", "No tag", "none"),
        Row("mpy", "Visitrail mpy", "visitrail"),
        Row("mpy-async", "Visitrail mpy, async tag", "visitrail", load="async"),
        Row("py", "Visitrail py", "visitrail", rt="py"),
        Row("brython", "Visitrail brython", "visitrail", rt="brython"),
        Row("segment", "analytics-next", "segment"),
        Row("posthog", "PostHog", "posthog"),
    ]


# The away-50 case: (key, label, sdk, runtime, load)
AWAY_ROWS = [
    ("mpy", "Visitrail mpy", "visitrail", None, None),
    ("segment", "analytics-next", "segment", None, "snippet"),
    ("segment-sync", "analytics-next, blocking <script>", "segment", None, "sync"),
    ("posthog", "PostHog", "posthog", None, "snippet"),
    ("posthog-sync", "PostHog, blocking <script>", "posthog", None, "sync"),
    ("plausible", "Plausible (npm tracker)", "plausible", None, None),
]


def is_event_request(url, method):
    """A request that carries analytics events (not config, flags or metrics)."""
    if method != "POST":
        return False
    path = urlsplit(url).path
    if path.startswith("/vt/v1/"):
        return True
    if path.startswith("/segapi/v1/"):
        return path.rsplit("/", 1)[-1] != "m"
    if path.startswith("/ph/"):
        return path.startswith(("/ph/e/", "/ph/i/v0/e", "/ph/batch", "/ph/capture", "/ph/track"))
    return path.startswith("/plausible/api/event")


def gz_size(data):
    return len(gzip.compress(data, 9))


class Sizes:
    """Raw and gzip -9 size of each URL's body, fetched once from the local servers."""

    def __init__(self):
        self.cache = {}
        self.http = httpx.Client(timeout=60, headers={"X-Bench-Sizing": "1"})

    def get(self, url):
        if url not in self.cache:
            body = self.http.get(url).content
            self.cache[url] = (len(body), gz_size(body))
        return self.cache[url]


def paired(run, base, key):
    if key == "memory":
        return (run["js_heap"] + run["backing"]) - (base["js_heap"] + base["backing"])
    return None if run[key] is None or base[key] is None else run[key] - base[key]


def median_spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# -- Timing runs ------------------------------------------------------------------------------------


def wait_until(page, condition, timeout_s, step_ms=50):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(step_ms)


def warm_up(env, row):
    """One load, not measured: the servers' first answers and the OS file cache, not the browser's."""
    context = env.new_context()
    page = context.new_page()
    try:
        page.goto(
            env.url(row.sdk, **row.query(mode="timing", visit="w", case="warmup")), wait_until="load", timeout=120_000
        )
        if row.sdk != "none":
            page.wait_for_function("window.bench.ready", timeout=120_000)
    except Exception as exc:
        print(f"  warm-up of {row.label} failed: {str(exc).splitlines()[0]}", flush=True)
    context.close()


def timing_run(env, row, index, sizes):
    context = env.new_context()
    context.add_init_script(INSTRUMENT)
    page = context.new_page()
    finished, failed = [], []
    context.on("requestfinished", finished.append)
    context.on("requestfailed", failed.append)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    url = env.url(row.sdk, **row.query(mode="timing", visit=str(index), case="timing-" + row.key))
    page.goto(url, wait_until="load", timeout=120_000)
    origin = page.evaluate("performance.timeOrigin")
    state = {"ready": None, "ack": None}

    acks, checked = [], set()

    def first_ack():
        for request in list(finished):
            if id(request) in checked:
                continue
            checked.add(id(request))
            if not is_event_request(request.url, request.method):
                continue
            response = request.response()
            t = request.timing
            if response is None or not 200 <= response.status < 300 or t["responseEnd"] < 0:
                continue
            acks.append(t["startTime"] + t["responseEnd"] - origin)
        return min(acks) if acks else None

    def settled():
        if row.sdk != "none" and state["ready"] is None:
            state["ready"] = page.evaluate("window.bench.ready || null")
        if row.sdk != "none" and state["ack"] is None:
            state["ack"] = first_ack()
        now = page.evaluate("performance.now()")
        window_end = max(WINDOW_MS, state["ready"] or 0)
        return now >= window_end and (row.sdk == "none" or (state["ready"] is not None and state["ack"] is not None))

    wait_until(page, settled, timeout_s=90)
    m = page.evaluate("""() => {
        const n = performance.getEntriesByType("navigation")[0];
        return {load: n.loadEventStart, dcl: n.domContentLoadedEventEnd, tasks: window.__longtasks || [],
                ready: (window.bench && window.bench.ready) || null,
                wasm: (window.__wasmMemories || []).reduce((s, m) => s + m.buffer.byteLength, 0)};
    }""")
    ready = m["ready"]
    window_end = max(WINDOW_MS, ready or 0)
    tbt = sum(max(0.0, d - 50) for s, d in m["tasks"] if s < window_end)
    tbt_to_load = sum(max(0.0, d - 50) for s, d in m["tasks"] if s < m["load"])
    times = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    heap = cdp.send("Runtime.getHeapUsage")
    site = urlsplit(env.site.url).netloc
    downloads = {}
    for request in finished:
        u = urlsplit(request.url)
        if request.method != "GET" or u.scheme not in ("http", "https") or u.netloc == site:
            continue
        body = request.sizes()["responseBodySize"]
        downloads[request.url] = body
    gz_total = 0
    for u in downloads:
        gz_total += sizes.get(u)[1]
    bad = [
        f"{r.method} {r.url} -> {r.response().status}"
        for r in finished
        if r.response() is not None and r.response().status >= 400
    ]
    bad += [f"{r.method} {r.url} -> {r.failure}" for r in failed]
    context.close()
    return {
        "load": m["load"],
        "dcl": m["dcl"],
        "ready": ready,
        "ack": state["ack"],
        "tbt": tbt,
        "tbt_to_load": tbt_to_load,
        "longtasks": len(m["tasks"]),
        "tasks": m["tasks"],
        "cpu": 1000 * times.get("ThreadTime", 0),
        "cpu_process": 1000 * times.get("ProcessTime", 0),
        "busy": 1000 * times.get("TaskDuration", 0),
        "js_heap": metrics.get("JSHeapUsedSize"),
        "backing": heap.get("backingStorageSize"),
        "wasm": m["wasm"],
        "requests": len(downloads),
        "bytes": sum(downloads.values()),
        "gzip": gz_total,
        "downloads": downloads,
        "bad": bad,
    }


# -- Navigate-away visits -----------------------------------------------------------------------------


def tally(recorder, case, visits=None):
    """Per kind, the visits with at least one acknowledged event; duplicates: a message (by id;
    Plausible's have none, so by kind and visit) acknowledged more than once. `visits`: only these."""
    got = {"identify": set(), "track": set()}
    seen = Counter()
    for _, event in recorder.events(case=case):
        visit = str(event.props.get("visit"))
        if event.kind in got and (visits is None or visit in visits):
            got[event.kind].add(visit)
            seen[event.mid or (event.kind, visit)] += 1
    return {
        "track": len(got["track"]),
        "identify": len(got["identify"]),
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
    }


class Visit:
    def __init__(self, index, context, page):
        self.index, self.context, self.page = index, context, page
        self.state, self.since = "leaving", time.monotonic()


def leave_visits(env, sdk, n, case, rt=None, load=None, returns=0, parallel=2, linger=4):
    """n visits (fresh contexts) that leave in the same task, `parallel` at a time. The first
    `returns` visitors come back to the site 0.3 s after they left, in the same browser (same
    context: storage and HTTP cache), wait for ready and flush(); what arrived before each return
    is counted apart (before_return). A left visit's context stays open while the next `linger`
    visits run, so what it sent on its way out can finish."""
    query = {"mode": "leave", "case": case}
    if rt:
        query["rt"] = rt
    if load:
        query["load"] = load
    away = env.away.url + "/away.html"
    active, closing = [], deque()
    returned_at, errors = {}, []
    next_index = 0

    def start(i):
        context = env.new_context()
        page = context.new_page()
        visit = Visit(i, context, page)
        try:
            page.goto(env.url(sdk, visit=str(i), **query), wait_until="commit", timeout=30_000)
        except Exception:  # the page navigates itself away; goto may report that as an abort
            pass
        return visit

    def finish(visit, error=None):
        if error:
            errors.append(f"visit {visit.index}: {error}")
        active.remove(visit)
        closing.append(visit.context)
        while len(closing) > linger:
            closing.popleft().close()

    while next_index < n or active:
        while len(active) < parallel and next_index < n:
            active.append(start(next_index))
            next_index += 1
        for visit in list(active):
            page, waited = visit.page, time.monotonic() - visit.since
            try:
                if visit.state == "leaving":
                    if page.url.startswith(away):
                        if visit.index < returns:
                            visit.state, visit.since = "away", time.monotonic()
                        else:
                            finish(visit)
                    elif waited > 30:
                        finish(visit, f"did not leave ({page.url})")
                elif visit.state == "away" and waited >= 0.3:
                    back = {"mode": "return", "case": case, "visit": str(visit.index)}
                    if rt:
                        back["rt"] = rt
                    returned_at[str(visit.index)] = time.time() * 1000
                    page.goto(env.url(sdk, **back), wait_until="commit", timeout=60_000)
                    visit.state, visit.since = "returning", time.monotonic()
                elif visit.state == "returning":
                    if page.evaluate("!!(window.bench && window.bench.ready)"):
                        ok = page.evaluate(
                            "Promise.race([analytics.flush(), new Promise(r => setTimeout(() => r('timeout'), 20000))])"
                        )
                        finish(visit, None if ok is True else f"flush() -> {ok}")
                    elif waited > 120:
                        finish(visit, "not ready after 120 s")
            except Exception as exc:  # e.g. evaluate while the page is between documents: next round
                if time.monotonic() - visit.since > 120:
                    finish(visit, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        if active:
            active[0].page.wait_for_timeout(20)  # lets Playwright deliver navigation events
    time.sleep(1.5)  # anything still in flight from the last visits
    while closing:
        closing.popleft().close()
    return returned_at, errors


def before_return(recorder, case, returned_at, visits=None):
    """Visits whose track / identify was acknowledged before the visitor came back (or at all, for
    visits without a return)."""
    got = {"identify": set(), "track": set()}
    for arrival, event in recorder.events(case=case):
        v = str(event.props.get("visit"))
        if visits is not None and v not in visits:
            continue
        if event.kind in got and arrival.at_ms < returned_at.get(v, float("inf")):
            got[event.kind].add(v)
    return {k: len(v) for k, v in got.items()}


def stored_counts(collector_url, case, visits):
    """Visitrail: per visit, whether the collector stored its track / identify, and any stored twice
    (it deduplicates by messageId, so a beacon and a replay of one call are stored once)."""
    http = httpx.Client(base_url=collector_url, headers={"Authorization": "Bearer bench-token"}, timeout=30)
    counts = Counter(track=0, identify=0, stored_twice=0)
    for i in visits:
        events = http.get("/api/events", params={"userId": f"{case}-{i}"}).raise_for_status().json()["events"]
        kinds = Counter(e.get("type") for e in events)
        counts["track"] += bool(kinds["track"])
        counts["identify"] += bool(kinds["identify"])
        counts["stored_twice"] += max(0, kinds["track"] - 1) + max(0, kinds["identify"] - 1)
    http.close()
    return dict(counts)


# -- The load event alone ----------------------------------------------------------------------------


def load_run(env, row, index):
    """The page's load event (ms since navigation start) alone, in a fresh context."""
    context = env.new_context()
    page = context.new_page()
    page.goto(
        env.url(row.sdk, **row.query(mode="timing", visit=str(index), case="load-" + row.key)),
        wait_until="load",
        timeout=60_000,
    )
    load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventStart")
    context.close()
    return load


def median_ci(values, rounds=2000, seed=1):
    """The median and a 95% bootstrap interval of it."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return {
        "median": statistics.median(values),
        "low": medians[int(0.025 * rounds)],
        "high": medians[int(0.975 * rounds)],
        "n": len(values),
    }


# -- Offline --------------------------------------------------------------------------------------------


def offline_run(env, row, n=100):
    case = "offline-" + row.key
    context = env.new_context()
    page = context.new_page()
    finished = []
    context.on("requestfinished", finished.append)
    page.goto(env.url(row.sdk, **row.query(mode="timing", visit="0", case=case)), wait_until="load", timeout=120_000)
    page.wait_for_function("window.bench.ready", timeout=120_000)
    wait_until(page, lambda: any(is_event_request(r.url, r.method) for r in finished), timeout_s=30)
    page.wait_for_timeout(500)
    context.set_offline(True)
    page.evaluate(
        """async ([n, c]) => {
        for (let k = 0; k < n; k++) { benchTrack("Offline Track", {k: String(k), case: c}); await new Promise(r => setTimeout(r, 10)); }
    }""",
        [n, case],
    )
    page.wait_for_timeout(2000)
    online_at = time.time() * 1000
    context.set_offline(False)

    def arrived():
        ks = {}
        for arrival, event in env.hub.recorder.events(case=case):
            if event.kind == "track" and event.name == "Offline Track":
                k = str(event.props.get("k"))
                ks[k] = min(ks.get(k, arrival.at_ms), arrival.at_ms)
        return ks

    wait_until(page, lambda: len(arrived()) >= n, timeout_s=30, step_ms=200)
    ks = arrived()
    context.close()
    return {"delivered": len(ks), "of": n, "last_after_online_s": (max(ks.values()) - online_at) / 1000 if ks else None}


# -- The table ----------------------------------------------------------------------------------------------


def fmt_ms(s):
    if not s:
        return "—"
    return f"{s['median']:.0f} [{s['min']:.0f}–{s['max']:.0f}]"


def table(rows, results, away, args):
    header = [
        "",
        "KB raw",
        "KB gz-9",
        "req",
        "ready ms",
        "1st ack ms",
        "load ms (Δ)",
        "TBT ms",
        "CPU ms",
        "heap+AB / wasm MB",
        f"leave /{args.visits}",
        "+return",
        f"offline /{args.offline_events}",
        f"away /{args.away_visits} t/i/dup",
    ]
    lines, notes = [], {}

    def med(summary, key):
        return summary[key]["median"] if summary.get(key) else None

    for row in rows + away_only_rows(away):
        if row.skip:
            notes[len(lines)] = row.label
            lines.append([row.label, row.skip])
            continue
        res = results.get(row.key, {})
        s = res.get("summary", {})
        d = res.get("paired", {})
        load, cpu = med(s, "load"), med(s, "cpu")
        load_txt = "—" if load is None else f"{load:.0f}" + (f" ({med(d, 'load'):+.0f})" if d.get("load") else "")
        cpu_txt = "—" if cpu is None else (f"{med(d, 'cpu'):+.0f}" if d.get("cpu") else f"{cpu:.0f}")
        heap = None if med(s, "js_heap") is None else med(s, "js_heap") + (med(s, "backing") or 0)
        wasm = (med(s, "wasm") or 0) / 1048576
        if heap is None:
            mem = "—"
        elif d.get("memory"):
            mem = f"{med(d, 'memory') / 1048576:+.1f} / {wasm:.1f}"
        else:
            mem = f"{heap / 1048576:.1f} / {wasm:.1f}"
        lv = res.get("leave")
        off = res.get("offline")
        a = away.get(row.key)
        lines.append(
            [
                row.label,
                "—" if med(s, "bytes") is None else f"{med(s, 'bytes') / 1024:,.1f}",
                "—" if med(s, "gzip") is None else f"{med(s, 'gzip') / 1024:,.1f}",
                "—" if med(s, "requests") is None else f"{med(s, 'requests'):.0f}",
                fmt_ms(s.get("ready")),
                fmt_ms(s.get("ack")),
                load_txt,
                fmt_ms(s.get("tbt")),
                cpu_txt,
                mem,
                f"{lv['before']['track']}/{lv['before']['identify']}" if lv else "—",
                "—"
                if not (lv and lv.get("after"))
                else f"{lv['after']['track']}/{lv['after']['identify']}"
                + ("" if lv["returns"] == lv["visits"] else f" of {lv['returns']}"),
                "—"
                if not off
                else f"{off['delivered']}"
                + ("" if off["last_after_online_s"] is None else f" ({off['last_after_online_s']:.1f} s)"),
                "—" if not a else f"{a['track']}/{a['identify']}/{a['duplicates']}",
            ]
        )
    full = [line for i, line in enumerate(lines) if i not in notes]
    widths = [max(len(str(x[i])) for x in [header] + full) for i in range(len(header))]
    widths[0] = max(widths[0], *(len(lines[i][0]) for i in notes)) if notes else widths[0]

    def fmt(line):
        return "  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(line))

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    for i, line in enumerate(lines):
        out.append(line[0].ljust(widths[0]) + "  " + line[1] if i in notes else fmt(line))
    return "\n".join(out)


def away_only_rows(away):
    """The away-50 variants that are not rows of their own."""
    out = []
    for key, label, *_ in AWAY_ROWS:
        if key in away and key not in ("mpy", "segment", "posthog"):
            out.append(Row(key, label, None))
    return out


# -- Main ---------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timing runs per row (default 10)")
    parser.add_argument("--visits", type=int, default=100, help="navigate-away visits per row (default 100)")
    parser.add_argument("--away-visits", type=int, default=50, help="visits per SDK in the away-50 case (default 50)")
    parser.add_argument(
        "--return-visits",
        type=int,
        default=RETURN_VISITS,
        help=f"of those, Visitrail visitors who come back (default {RETURN_VISITS})",
    )
    parser.add_argument("--offline-events", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="3 runs, 20 visits, 20 away visits, 20 load rounds")
    parser.add_argument("--only", help="comma-separated row keys: none,mpy,mpy-async,py,brython,segment,posthog")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: timing,load,leave,offline,away")
    parser.add_argument(
        "--load-rounds",
        type=int,
        default=60,
        help="rounds of the load-event-only comparison of no tag and the mpy tags (default 60)",
    )
    parser.add_argument(
        "--assets",
        choices=["static", "collector"],
        default="static",
        help="serve Visitrail's files from the same static server as the anchors' (default) "
        "or from the collector's /analytics/",
    )
    parser.add_argument("--no-build", action="store_true", help="measure web/dist/ as it is, even if stale")
    parser.add_argument("--out", default=str(RESULTS), help="the JSON results (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.visits, args.away_visits, args.load_rounds = 3, 20, 20, 20
    skip = set(filter(None, args.skip.split(",")))
    load_rounds = {}
    started = time.monotonic()

    try:
        ensure_anchors()
        ensure_dist(build=not args.no_build)
    except (BenchError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    rows = all_rows()
    only = set(args.only.split(",")) if args.only else None
    for row in rows:
        if only and row.key not in only and row.key != "none":
            row.skip = "not selected"
        elif row.sdk == "visitrail" and not runtime_built(row.rt or "mpy"):
            row.skip = "not built (web/dist/ lacks its files)"
    measured = [r for r in rows if not r.skip]
    cpu = os.cpu_count()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpu
    loader = (demo.DIST / "loader.js").read_bytes()
    results = {r.key: {} for r in rows}
    away = {}
    sizes = Sizes()
    loads = [os.getloadavg()[0]]  # the machine's 1-minute load average, sampled during the timing runs
    print(
        f"bench: {cpu} CPUs ({affinity} usable); {args.runs} runs per row, {args.visits} navigate-away visits, "
        f"{args.away_visits} away-50 visits",
        flush=True,
    )

    def log(msg):
        print(f"  [{time.monotonic() - started:5.0f}s] {msg}", flush=True)

    with Env(assets=args.assets) as env:
        chromium = env.browser.version
        if "timing" not in skip:
            # Interleaved (row 1, row 2, ..., row 1, ...), so drift on the machine hits every row alike.
            runs = {r.key: [] for r in measured}
            for row in measured:
                warm_up(env, row)
            log("warm-up done")
            for i in range(args.runs):
                for row in measured:
                    runs[row.key].append(timing_run(env, row, i, sizes))
                    loads.append(os.getloadavg()[0])
                log(f"timing run {i + 1}/{args.runs} done (load average {loads[-1]:.1f})")
            for row in measured:
                rs = runs[row.key]
                summary = {
                    k: median_spread([r[k] for r in rs])
                    for k in (
                        "load",
                        "dcl",
                        "ready",
                        "ack",
                        "tbt",
                        "tbt_to_load",
                        "cpu",
                        "cpu_process",
                        "busy",
                        "js_heap",
                        "backing",
                        "wasm",
                        "requests",
                        "bytes",
                        "gzip",
                    )
                }
                files = {}
                for r in rs:
                    for u, b in r["downloads"].items():
                        files.setdefault(urlsplit(u).path, (b, sizes.get(u)[1]))
                results[row.key].update(runs=rs, summary=summary, files=files)
            # Differences from the page without a tag, run by run (same round, so drift cancels).
            if "none" in runs:
                for row in measured:
                    if row.key == "none":
                        continue
                    results[row.key]["paired"] = {
                        k: median_spread([paired(a, b, k) for a, b in zip(runs[row.key], runs["none"])])
                        for k in ("load", "dcl", "cpu", "cpu_process", "busy", "memory")
                    }
        # With a control: an empty synchronous script, what any blocking <script src> costs the page.
        load_rows = [r for r in measured if r.key in ("none", "mpy", "mpy-async")]
        load_rows += [Row("empty", "empty synchronous script", "none", load="empty")] if len(load_rows) > 1 else []
        if "load" not in skip and args.load_rounds and len(load_rows) > 1:
            # The load event alone, in many more rounds than the timing runs: a 5% difference is a
            # few ms, under what one round varies. Each round alternates the order of the rows.
            onload = {r.key: [] for r in load_rows}
            for i in range(args.load_rounds):
                for row in load_rows if i % 2 else load_rows[::-1]:
                    onload[row.key].append(load_run(env, row, i))
            load_rounds = {"none": median_ci(onload["none"])}
            for key in onload.keys() - {"none"}:
                diffs = [a - b for a, b in zip(onload[key], onload["none"])]
                load_rounds[key] = median_ci(diffs)
            log(f"load rounds done ({args.load_rounds})")
        if "leave" not in skip:
            for row in measured:
                if row.sdk == "none":
                    continue
                case = f"leave-{row.key}"
                returns = 0
                if row.sdk == "visitrail":
                    returns = min(args.visits, args.return_visits)
                returned, errors = leave_visits(
                    env, row.sdk, args.visits, case, rt=row.rt, load=row.load, returns=returns
                )
                entry = {"visits": args.visits, "errors": errors[:10], "error_count": len(errors)}
                if returns:
                    entry["before"] = before_return(env.hub.recorder, case, returned)
                    back = set(returned)
                    entry["returns"] = returns
                    entry["after"] = tally(env.hub.recorder, case, visits=back)
                    entry["before_returned"] = before_return(env.hub.recorder, case, returned, visits=back)
                    entry["stored"] = stored_counts(env.collector_url, case, range(args.visits))
                else:
                    t = tally(env.hub.recorder, case)
                    entry["before"] = {"track": t["track"], "identify": t["identify"]}
                    entry["duplicates"] = t["duplicates"]
                results[row.key]["leave"] = entry
                log(
                    f"leave {row.label}: {entry['before']}"
                    + (f", after {returns} returns {entry['after']}, stored {entry['stored']}" if returns else "")
                    + (f" ({len(errors)} errors: {errors[0]})" if errors else "")
                )
        if "offline" not in skip:
            for row in measured:
                if row.sdk == "none":
                    continue
                try:
                    results[row.key]["offline"] = offline_run(env, row, args.offline_events)
                except Exception as exc:
                    results[row.key]["offline"] = None
                    log(f"offline {row.label}: failed: {exc}")
                    continue
                log(f"offline {row.label}: {results[row.key]['offline']}")
        if "away" not in skip:
            for key, label, sdk, rt, load in AWAY_ROWS:
                if (
                    key == "mpy"
                    and not runtime_built("mpy")
                    or (only and key.split("-")[0] not in only and key != "plausible")
                ):
                    continue
                case = f"away-{key}"
                _, errors = leave_visits(env, sdk, args.away_visits, case, rt=rt, load=load)
                away[key] = dict(
                    tally(env.hub.recorder, case), visits=args.away_visits, error_count=len(errors), errors=errors[:10]
                )
                if sdk == "visitrail":
                    away[key]["stored"] = stored_counts(env.collector_url, case, range(args.away_visits))
                log(f"away-50 {label}: {away[key]}")
        leaks = env.leaks()
        unreadable = [a for a in env.hub.recorder.snapshot() if a.error and 200 <= a.status < 300]
        refused = Counter((a.sdk, a.path, a.status) for a in env.hub.recorder.snapshot() if not 200 <= a.status < 300)

    elapsed = time.monotonic() - started
    base = results["none"].get("summary", {})
    load_deltas = {}  # the default tag, synchronous and async
    for key in ("mpy", "mpy-async"):
        delta = results.get(key, {}).get("paired", {}).get("load")
        if base.get("load") and delta:
            load_deltas[key] = {
                "ms": delta["median"],
                "pct": 100 * delta["median"] / base["load"]["median"],
                "min": delta["min"],
                "max": delta["max"],
                "none_ms": base["load"]["median"],
            }

    # Chromium's own update/sign-in/clock requests come from the browser, not a page; the guard
    # refused them (nothing left the machine). Anything else that tried to leave fails the run.
    chromium_own = [x for x in leaks if _is_chromium_service(x)]
    page_leaks = [x for x in leaks if not _is_chromium_service(x)]

    title = (
        f"Visitrail bench — {datetime.date.today()} — Chromium {chromium}, {cpu} CPUs — "
        f"median [min–max] of {args.runs} cold loads; article page ~0.6 MB; all on 127.0.0.1"
    )
    print()
    print(title)
    print()
    print(table(rows, results, away, args))
    print()
    gz = gz_size(loader)
    print(f"loader.js: {len(loader):,} B raw, {gz:,} B gzip -9 (goal ≤ 1,536 B: {'met' if gz <= 1536 else 'NOT met'})")
    if load_rounds:
        none = load_rounds["none"]
        for key in sorted(load_rounds.keys() - {"none"}):
            d = load_rounds[key]
            pct = [100 * d[k] / none["median"] for k in ("median", "low", "high")]
            verdict = "met" if pct[2] <= 5 else "NOT met" if pct[1] > 5 else "inconclusive"
            verdict = verdict if key != "empty" else "n/a, the control"
            what = {"mpy": "the tag", "mpy-async": "the async tag", "empty": "an empty synchronous script"}[key]
            print(
                f"Load event, {d['n']} rounds of its own, {what} vs no tag: "
                f"{d['median']:+.1f} ms (95% CI {d['low']:+.1f} to {d['high']:+.1f}) on {none['median']:.0f} ms = "
                f"{pct[0]:+.1f}% (CI {pct[1]:+.1f}% to {pct[2]:+.1f}%); goal within 5%: {verdict}"
            )
    for key, d in load_deltas.items():
        print(
            f"{'Default tag (mpy)' if key == 'mpy' else 'Async tag (mpy)'}: page load event {d['ms']:+.0f} ms vs no tag "
            f"(median of paired runs, [{d['min']:+.0f}–{d['max']:+.0f}]; no tag: {d['none_ms']:.0f} ms) = "
            f"{d['pct']:+.1f}%; goal within 5%: {'met' if d['pct'] <= 5 else 'NOT met'}"
            + (
                " (inconclusive here: the rounds' differences spread more than ±5%)"
                if d["max"] - d["min"] > 0.1 * d["none_ms"]
                else ""
            )
        )
    print(
        f"CPUs: {cpu} ({affinity} usable); 1-min load average during the timing runs {min(loads):.1f}–{max(loads):.1f}"
        f".  Run took {elapsed / 60:.1f} min."
    )
    if max(loads) > 1.5 * cpu:  # the bench itself (Chromium, the servers) accounts for about 1-2
        print(
            f"WARNING: the machine was busy (load average up to {max(loads):.1f} on {cpu} CPUs): times are inflated "
            "and noisy; the byte counts, CPU ms and delivery counts hold up better."
        )
    print(
        legend(
            visits=args.visits,
            offline=args.offline_events,
            away=args.away_visits,
            returns=min(args.visits, args.return_visits),
        )
    )
    if chromium_own:
        print(
            f"Chromium's own service requests refused by the guard (not from any page): {len(chromium_own)} "
            f"({', '.join(sorted({urlsplit(x.split(' ', 1)[-1]).hostname or x for x in chromium_own}))})"
        )
    bad = Counter(
        b.split(" -> ")[0].split("?")[0] + " -> " + b.split(" -> ")[1]
        for r in results.values()
        for run in r.get("runs", [])
        for b in run["bad"]
    )
    if bad:
        print(
            "Failed or refused requests during the timing runs: "
            + "; ".join(f"{n}× {b}" for b, n in bad.most_common(6))
        )
    if refused:
        print(
            "Requests an endpoint refused: "
            + "; ".join(f"{n}× {s} {p} {st}" for (s, p, st), n in refused.most_common(5))
        )
    if unreadable:
        print(
            f"Acknowledged requests whose body the bench could not read: {len(unreadable)} (e.g. {unreadable[0].path}: {unreadable[0].error})"
        )

    out = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "chromium": chromium,
        "cpus": cpu,
        "cpus_usable": affinity,
        "load_average": loads,
        "args": vars(args),
        "elapsed_s": elapsed,
        "loader": {"raw": len(loader), "gzip9": gz},
        "load_delta": load_deltas,
        "load_rounds": load_rounds,
        "rows": {r.key: {"label": r.label, "skip": r.skip, **results.get(r.key, {})} for r in rows},
        "away50": away,
        "chromium_own_requests": chromium_own,
        "leaks": page_leaks,
        "table": table(rows, results, away, args),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"Written: {args.out}")
    if page_leaks:
        print("\nFAILED: requests tried to leave 127.0.0.1:\n  " + "\n  ".join(page_leaks[:20]), file=sys.stderr)
        return 1
    return 0


LEGEND_ROWS = [
    (
        "KB raw / KB gz-9",
        "bodies of every GET the tag caused, as served here (uncompressed) / gzip -9 of those files (computed)",
    ),
    ("req", "those GETs"),
    ("ready", "navigation start → the SDK's ready callback (Visitrail, Segment: ready(); PostHog: loaded)"),
    ("1st ack", "navigation start → end of the first response to a request carrying an event"),
    ("load", "the page's load event (Δ vs no tag)"),
    ("TBT", "long tasks' time over 50 ms, first 5 s or until ready if later"),
    (
        "CPU ms",
        "CPU time of the page's main thread until the end of that window, Δ vs no tag (CDP ThreadTime; "
        "the whole renderer's, ProcessTime, is in the JSON)",
    ),
    ("heap+AB / wasm", "MB: JS heap + ArrayBuffers after a GC, Δ vs no tag (no tag: absolute) / WebAssembly memory"),
    (
        "leave /{visits}",
        "visits whose track/identify was acknowledged, when the page calls identify + track and sets "
        "location.href to another origin in the same task (Segment, PostHog: their async snippet)",
    ),
    (
        "+return",
        "Visitrail: the same for the first {returns} visitors, after each came back to the site (the boot "
        "replays the saved calls)",
    ),
    ("offline /{offline}", "tracks made offline that arrived within 30 s of going online (when the last did)"),
    (
        "away /{away}",
        "same-task navigate-away, no return: tracks / identifies delivered / duplicates (a message "
        "acknowledged twice; Visitrail's collector stores it once)",
    ),
]


def legend(**values):
    out = [
        "Columns (medians [min–max]; Δ and +/− = minus the page without a tag in the same round, median over rounds):"
    ]
    for name, text in LEGEND_ROWS:
        out.append(
            textwrap.fill(
                text.format(**values), 118, initial_indent=f"  {name.format(**values):<18}", subsequent_indent=" " * 20
            )
        )
    return "\n".join(out)


CHROMIUM_SERVICES = (".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com")


def _is_chromium_service(entry):
    """A guard record (not a page request) for one of Chromium's own Google service hosts."""
    if not entry.startswith(("CONNECT ", "GET ", "POST ", "HEAD ")):
        return False
    host = urlsplit(entry.split(" ", 1)[1]).hostname or ""
    return any(host.endswith(s) or host == s[1:] for s in CHROMIUM_SERVICES)


if __name__ == "__main__":
    sys.exit(main())
