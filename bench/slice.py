"""The vertical slice's figures: loader size, bytes and time until `analytics` is ready, time until
the first event is stored. Not a test.

    .venv/bin/python bench/slice.py [--runs 5]

Each run is a fresh browser context (cold HTTP cache) loading bench/page.html from one origin,
with the collector (which also serves web/dist/ at /analytics/) on another, both on 127.0.0.1.
Times are ms since navigation start, read in the page (Resource Timing, performance.now()).
"""

import argparse
import datetime
import gzip
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import sync_playwright

from visitrail import demo

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

MEASURE = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource").map(e => ({
        url: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize, method: e.initiatorType,
    }));
    return { bench: window.bench, nav: { transfer: nav.transferSize, dcl: nav.domContentLoadedEventEnd }, resources };
}"""


def gz(data):
    return len(gzip.compress(data, 9))


def _epoch_ms(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


class CollectorReader:
    def __init__(self, url, token):
        self.http = httpx.Client(base_url=url, headers={"Authorization": "Bearer " + token}, timeout=10)

    def events(self, **filters):
        return self.http.get("/api/events", params=filters).raise_for_status().json()["events"]


def one_run(browser, site_url, collector):
    context = browser.new_context()
    page = context.new_page()
    gets = []
    context.on("request", lambda r: gets.append(r) if r.method == "GET" else None)
    page.goto(site_url + "/page.html")
    page.wait_for_function("window.bench && window.bench.ready", timeout=30000)
    loaded = list(gets)  # everything the page fetched until the SDK was ready
    # The first event stored: the collector's receivedAt (same machine, same clock) against the
    # page's navigation start. (A fetch whose response body is never read gets no Resource
    # Timing entry, so the page cannot tell.)
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    received = [_epoch_ms(e["receivedAt"]) for e in collector.events(anonymousId=anonymous_id)]
    stored = min(received) - page.evaluate("performance.timeOrigin")
    m = page.evaluate(MEASURE)
    ready = m["bench"]["ready"]
    # Resource Timing hides transferSize of cross-origin responses without Timing-Allow-Origin;
    # Playwright's own byte counts (body + headers, as sent on the wire) don't depend on it.
    rt_bytes = m["nav"]["transfer"] + sum(
        e["transfer"] for e in m["resources"] if e["end"] <= ready and "/v1/" not in e["url"]
    )
    wire = {}
    for request in loaded:
        sizes = request.sizes()
        wire[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]
    context.close()
    return {
        "loader": m["bench"]["loader"],
        "dcl": m["nav"]["dcl"],
        "load": m["bench"]["load"],
        "ready": ready,
        "stored": stored,
        "requests": len(loaded),
        "wire_bytes": sum(wire.values()),
        "rt_bytes": rt_bytes,
        "urls": sorted(wire, key=wire.get, reverse=True),
        "wire": wire,
        "resources": m["resources"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--waterfall", action="store_true", help="print when each file was fetched (first run)")
    args = parser.parse_args(argv)

    demo.build_assets(if_stale=True)
    loader = (demo.DIST / "loader.js").read_bytes()

    site = demo.SiteServer(0, {"/": HERE})
    site.start()
    with tempfile.TemporaryDirectory(prefix="visitrail-bench-") as tmp:
        collector = demo.Collector("sqlite:///" + tmp + "/bench.db", "bench-token", site.url, write_key="bench-key")
        site.values = {"collector": collector.start(), "writeKey": "bench-key", "runtime": "mpy"}
        reader = CollectorReader(collector.url, "bench-token")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                runs = [one_run(browser, site.url, reader) for _ in range(args.runs)]
                browser.close()
        finally:
            collector.stop()
            site.shutdown()

    def med(key):
        return statistics.median(r[key] for r in runs)

    fetched = [f for f in map(demo.dist_file, runs[0]["urls"]) if f is not None and f.is_file()]
    gz_total = sum(gz(f.read_bytes()) for f in fetched)

    print(
        f"Visitrail vertical slice, median of {len(runs)} cold loads (Chromium, 127.0.0.1, files as the collector serves them)"
    )
    print()
    rows = [
        ("loader.js raw", f"{len(loader):,} B"),
        ("loader.js gzip -9", f"{gz(loader):,} B"),
        ("requests until ready", f"{med('requests'):.0f}"),
        ("bytes until ready (wire: bodies + headers)", f"{med('wire_bytes'):,.0f} B"),
        ("bytes until ready (Resource Timing transferSize)", f"{med('rt_bytes'):,.0f} B"),
        ("  same files if served gzip -9 (bodies only)", f"{gz_total:,} B"),
        ("loader.js executed", f"{med('loader'):.0f} ms"),
        ("DOMContentLoaded", f"{med('dcl'):.0f} ms"),
        ("load event (runtime starts)", f"{med('load'):.0f} ms"),
        ("analytics ready", f"{med('ready'):.0f} ms"),
        ("  ready, each run", ", ".join(f"{r['ready']:.0f}" for r in runs)),
        ("first event received by the collector", f"{med('stored'):.0f} ms"),
        ("  stored, each run", ", ".join(f"{r['stored']:.0f}" for r in runs)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>24}")
    if med("rt_bytes") < med("wire_bytes") / 2:
        print("\n  (Resource Timing reports 0 bytes for cross-origin responses without Timing-Allow-Origin.)")
    if args.waterfall:
        print(
            "\n  waterfall (first run; ms since navigation start; load event at "
            f"{runs[0]['load']:.0f}, ready at {runs[0]['ready']:.0f}):"
        )
        for e in sorted(runs[0]["resources"], key=lambda e: e["start"]):
            print(f"    {e['start']:>7.0f} {e['end']:>7.0f}  {e['method']:<14} {urlsplit(e['url']).path}")
    print("\n  largest downloads (first run):")
    for url in runs[0]["urls"][:6]:
        print(f"    {runs[0]['wire'][url]:>10,} B  {urlsplit(url).path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
