"""Measurements of one page in a fresh browser context (cold HTTP cache, empty storage):

    timing_run    the comparison's figures of one tagged page: bytes, ready, first ack, load,
                  TBT, CPU, memory
    load_run      the page's load event alone: a load round
    offline_run   tracks made while the context is offline, then how many arrive once it is back
    cold_load     bench.runtimes: bytes until ready, ready, first event stored, when each file came
Times are ms since navigation start, read in the page.
"""

import time
from urllib.parse import urlsplit

from visitrail.collector.timestamps import parse_timestamp

WINDOW_MS = 5000  # TBT, CPU and memory: the first 5 s (or until ready, if later)
LOAD_EVENT = "performance.getEntriesByType('navigation')[0].loadEventStart"
# The offline part: how long the visitor stays offline after the last track. Part of the scenario,
# the same for every SDK (each gets to try and fail while offline), not a wait for something.
OFFLINE_AFTER_MS = 2000

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

PAGE_FIGURES = """() => {
    const n = performance.getEntriesByType("navigation")[0];
    return {load: n.loadEventStart, dcl: n.domContentLoadedEventEnd, tasks: window.__longtasks || [],
            ready: (window.bench && window.bench.ready) || null,
            wasm: (window.__wasmMemories || []).reduce((s, m) => s + m.buffer.byteLength, 0)};
}"""

TRACK_OFFLINE = """async ([n, c]) => {
    for (let k = 0; k < n; k++) {
        benchTrack("Offline Track", {k: String(k), case: c});
        await new Promise(r => setTimeout(r, 10));
    }
}"""

RUNTIME_FIGURES = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource").map(e => ({
        url: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize, method: e.initiatorType,
    }));
    return {bench: window.bench, origin: performance.timeOrigin, resources,
            nav: {transfer: nav.transferSize, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventStart}};
}"""


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


def wait_until(page, condition, timeout_s, step_ms=50):
    """condition()'s value once it is true, or its last value at the deadline. Waits in the page,
    so that Playwright delivers the browser's events meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(step_ms)


def epoch_ms(iso):
    """A timestamp the collector stored (receivedAt), as epoch ms: read as the collector reads them."""
    return parse_timestamp(iso).timestamp() * 1000


class Requests:
    """A context's requests as Playwright reports them: finished, failed, and still on their way."""

    def __init__(self, context):
        self.finished, self.failed, self.pending = [], [], set()
        self._acks, self._checked = [], 0
        # Playwright wraps each handler, which a builtin method (list.append) cannot take.
        context.on("request", self._started)
        context.on("requestfinished", lambda r: self._done(r, self.finished))
        context.on("requestfailed", lambda r: self._done(r, self.failed))

    def _started(self, request):
        self.pending.add(request)

    def _done(self, request, into):
        self.pending.discard(request)
        into.append(request)

    def in_flight(self, which=lambda r: True):
        return [r for r in self.pending if which(r)]

    def events_in_flight(self):
        return self.in_flight(lambda r: is_event_request(r.url, r.method))

    def first_ack(self, origin):
        """ms from navigation start (`origin`: the page's timeOrigin) to the end of the first 2xx
        answer to a request carrying events, or None yet."""
        for request in self.finished[self._checked :]:
            if not is_event_request(request.url, request.method):
                continue
            response, t = request.response(), request.timing
            if response is None or not 200 <= response.status < 300 or t["responseEnd"] < 0:
                continue
            self._acks.append(t["startTime"] + t["responseEnd"] - origin)
        self._checked = len(self.finished)
        return min(self._acks) if self._acks else None

    def bad(self):
        """Requests refused (4xx, 5xx) or failed, as "METHOD URL -> why"."""
        out = []
        for r in self.finished:
            response = r.response()
            if response is not None and response.status >= 400:
                out.append(f"{r.method} {r.url} -> {response.status}")
        return out + [f"{r.method} {r.url} -> {r.failure}" for r in self.failed]


# -- The comparison -------------------------------------------------------------------------------


def warm_up(env, row):
    """One load, not measured: the servers' first answers and the OS file cache, not the browser's."""
    context = env.new_context()
    page = context.new_page()
    try:
        url = env.url(row.sdk, **row.query(mode="timing", visit="w", case="warmup"))
        page.goto(url, wait_until="load", timeout=120_000)
        if row.ready:
            page.wait_for_function("window.bench.ready", timeout=120_000)
    except Exception as exc:
        print(f"  warm-up of {row.label} failed: {str(exc).splitlines()[0]}", flush=True)
    context.close()


def timing_run(env, row, index, sizes):
    """One cold load of the row's page, measured (sizes: a sizes.Sizes, for gzip -9); then a warm
    one: the same context (its HTTP cache, storage and code caches), the next page view."""
    context = env.new_context()
    context.add_init_script(INSTRUMENT)
    page = context.new_page()
    requests = Requests(context)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    url = env.url(row.sdk, **row.query(mode="timing", visit=str(index), case="timing-" + row.key))
    page.goto(url, wait_until="load", timeout=120_000)
    ack = _settle(page, row, requests)
    figures = _page_figures(page)
    figures["ack"] = ack
    figures.update(_cdp_figures(cdp))
    figures.update(_downloads(requests.finished, env.site.url, sizes))
    figures["bad"] = requests.bad()
    warm = env.url(row.sdk, **row.query(mode="timing", visit=f"{index}w", case="timing-" + row.key))
    page.goto(warm, wait_until="load", timeout=120_000)
    _settle(page, row, None)
    figures.update({"warm_" + k: v for k, v in _page_figures(page).items() if k in WARM_KEYS})
    figures["warm_fetched"] = page.evaluate(FETCHED, list(figures["downloads"]))
    context.close()
    order = ("load", "dcl", "ready", "ack", "tbt", "tbt_to_load", "longtasks", "longest", "tasks", "cpu")
    order += ("cpu_process",)
    order += ("busy", "js_heap", "backing", "wasm", "requests", "bytes", "gzip", "downloads", "bad")
    return {k: figures[k] for k in order + tuple("warm_" + k for k in WARM_KEYS + ("fetched",))}


WARM_KEYS = ("load", "ready", "tbt", "longtasks", "longest", "tasks")
# The tag's files (the cold load's downloads) that the page fetched from the network again, not
# from the cache: Resource Timing's transferSize is 0 for a cache hit (the hub sends
# Timing-Allow-Origin, so cross-origin entries carry sizes).
FETCHED = """urls => performance.getEntriesByType("resource")
    .filter(e => urls.includes(e.name) && e.transferSize > 0).map(e => e.name)"""


def _settle(page, row, requests):
    """Waits for the end of the window and, on a tagged page, for ready and (with `requests`, on a
    page that sends events) the first ack, which it returns."""
    origin = page.evaluate("performance.timeOrigin")
    state = {"ready": None, "ack": None}
    acked = requests is not None and row.sends

    def settled():
        if row.ready and state["ready"] is None:
            state["ready"] = page.evaluate("window.bench.ready || null")
        if acked and state["ack"] is None:
            state["ack"] = requests.first_ack(origin)
        window_end = max(WINDOW_MS, state["ready"] or 0)
        done = (not row.ready or state["ready"] is not None) and (not acked or state["ack"] is not None)
        return page.evaluate("performance.now()") >= window_end and done

    wait_until(page, settled, timeout_s=90)
    return state["ack"]


def _page_figures(page):
    m = page.evaluate(PAGE_FIGURES)
    window_end = max(WINDOW_MS, m["ready"] or 0)
    return {
        "load": m["load"],
        "dcl": m["dcl"],
        "ready": m["ready"],
        "tbt": sum(max(0.0, d - 50) for s, d in m["tasks"] if s < window_end),
        "tbt_to_load": sum(max(0.0, d - 50) for s, d in m["tasks"] if s < m["load"]),
        "longtasks": len(m["tasks"]),
        "longest": max([d for s, d in m["tasks"] if s < window_end], default=0.0),
        "tasks": m["tasks"],
        "wasm": m["wasm"],
    }


def _cdp_figures(cdp):
    """The main thread's CPU time over the window; memory after a forced GC."""
    times = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    heap = cdp.send("Runtime.getHeapUsage")
    return {
        "cpu": 1000 * times.get("ThreadTime", 0),
        "cpu_process": 1000 * times.get("ProcessTime", 0),
        "busy": 1000 * times.get("TaskDuration", 0),
        "js_heap": metrics.get("JSHeapUsedSize"),
        "backing": heap.get("backingStorageSize"),
    }


def _downloads(finished, site_url, sizes):
    """Every GET the tag caused: everything not from the page's own origin."""
    site = urlsplit(site_url).netloc
    downloads = {}
    for request in finished:
        u = urlsplit(request.url)
        if request.method == "GET" and u.scheme in ("http", "https") and u.netloc != site:
            downloads[request.url] = request.sizes()["responseBodySize"]
    return {
        "requests": len(downloads),
        "bytes": sum(downloads.values()),
        "gzip": sum(sizes.get(u)[1] for u in downloads),
        "downloads": downloads,
    }


def load_run(env, row, index):
    """The page's load event (ms since navigation start) alone, in a fresh context."""
    context = env.new_context()
    page = context.new_page()
    url = env.url(row.sdk, **row.query(mode="timing", visit=str(index), case="load-" + row.key))
    page.goto(url, wait_until="load", timeout=60_000)
    load = page.evaluate(LOAD_EVENT)
    context.close()
    return load


def offline_run(env, row, n=100):
    """n tracks made while the context is offline, then back online: how many arrive within 30 s,
    and when the last one did (s after going online)."""
    case = "offline-" + row.key
    context = env.new_context()
    page = context.new_page()
    requests = Requests(context)
    page.goto(env.url(row.sdk, **row.query(mode="timing", visit="0", case=case)), wait_until="load", timeout=120_000)
    page.wait_for_function("window.bench.ready", timeout=120_000)

    # The page's own first events answered, and none on its way: from here on, only the offline tracks.
    def quiet():
        answered = any(is_event_request(r.url, r.method) for r in requests.finished)
        return answered and not requests.events_in_flight()

    wait_until(page, quiet, timeout_s=30)
    context.set_offline(True)
    page.evaluate(TRACK_OFFLINE, [n, case])
    page.wait_for_timeout(OFFLINE_AFTER_MS)
    online_at = time.time() * 1000
    context.set_offline(False)
    wait_until(page, lambda: len(_offline_arrivals(env, case)) >= n, timeout_s=30, step_ms=200)
    ks = _offline_arrivals(env, case)
    context.close()
    return {"delivered": len(ks), "of": n, "last_after_online_s": (max(ks.values()) - online_at) / 1000 if ks else None}


def _offline_arrivals(env, case):
    """Each offline track that arrived (by its index k): when it first did (epoch ms)."""
    ks = {}
    for arrival, event in env.hub.recorder.events(case=case):
        if event.kind == "track" and event.name == "Offline Track":
            k = str(event.props.get("k"))
            ks[k] = min(ks.get(k, arrival.at_ms), arrival.at_ms)
    return ks


# -- bench.runtimes -------------------------------------------------------------------------------


def cold_load(browser, url, read):
    """One cold load of a tagged page (bench/html/page.html); read: the collector's ReadAPI, for
    when the first event was stored (its receivedAt against the page's timeOrigin: one machine,
    one clock; a fetch whose body is never read gets no Resource Timing entry, so the page cannot tell)."""
    context = browser.new_context()
    page = context.new_page()
    gets = []
    context.on("request", lambda r: gets.append(r) if r.method == "GET" else None)
    page.goto(url)
    page.wait_for_function("window.bench && window.bench.ready", timeout=60_000)
    fetched = list(gets)  # everything the page fetched until the SDK was ready
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    stored = wait_until(page, lambda: read.events(anonymousId=visitor), timeout_s=10, step_ms=100)
    m = page.evaluate(RUNTIME_FIGURES)
    ready = m["bench"]["ready"]
    # Resource Timing hides transferSize of cross-origin responses without Timing-Allow-Origin;
    # Playwright's own byte counts (body + headers, as sent on the wire) don't depend on it.
    rt_bytes = m["nav"]["transfer"] + sum(
        e["transfer"] for e in m["resources"] if e["end"] <= ready and "/v1/" not in e["url"]
    )
    wire = {}
    for request in fetched:
        sizes = request.sizes()
        wire[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]
    context.close()
    return {
        "loader": m["bench"]["loader"],
        "dcl": m["nav"]["dcl"],
        "load": m["nav"]["load"],
        "ready": ready,
        "stored": min(epoch_ms(e["receivedAt"]) for e in stored) - m["origin"] if stored else None,
        "requests": len(fetched),
        "wire_bytes": sum(wire.values()),
        "rt_bytes": rt_bytes,
        "wire": wire,
        "resources": m["resources"],
    }


def bare_load(browser, url):
    """The load event of a page without the tag, in a fresh context."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(f"{LOAD_EVENT} > 0")
    load = page.evaluate(LOAD_EVENT)
    context.close()
    return load
