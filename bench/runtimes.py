"""The three runtimes side by side: bytes until `analytics` is ready, time until ready and until the
first event is stored, and what the tag does to the page's own load event. Not a test.

    .venv/bin/python bench/runtimes.py [--runs 10] [--runtimes mpy,py,brython]

Each load is a fresh browser context (cold HTTP cache) of bench/page.html, whose tag names the
runtime (data-runtime); bench/bare.html is the same page without the tag. The site and the
collector (which serves web/dist/ at /analytics/) are two origins on 127.0.0.1, without
compression: "gzip" is what the same files weigh compressed with gzip -9 (bodies only).
Times are ms since navigation start, read in the page; the first event's time is the collector's
receivedAt against the page's timeOrigin (one machine, one clock).
"""

import argparse
import datetime
import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from visitrail import demo

HERE = Path(__file__).resolve().parent
RUNTIMES = {"mpy": "PyScript + MicroPython", "py": "PyScript + Pyodide", "brython": "Brython"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOAD = "performance.getEntriesByType('navigation')[0].loadEventStart"


def _epoch_ms(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def one_load(browser, url, events=None):
    """One cold load; with `events` (the collector's read API), of the tagged page."""
    context = browser.new_context()
    page = context.new_page()
    requests = []
    context.on("request", lambda r: requests.append(r) if r.method == "GET" else None)
    page.goto(url)
    if events is None:
        page.wait_for_function(f"{LOAD} > 0")
        load = page.evaluate(LOAD)
        context.close()
        return {"load": load}
    page.wait_for_function("window.bench && window.bench.ready", timeout=60000)
    fetched = list(requests)  # everything the page fetched until the SDK was ready
    ready, load, origin = page.evaluate(f"[window.bench.ready, {LOAD}, performance.timeOrigin]")
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    stored = min(_epoch_ms(e["receivedAt"]) for e in events(anonymousId=visitor)) - origin
    wire = {}
    for request in fetched:
        sizes = request.sizes()
        wire[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]
    context.close()
    return {"ready": ready, "stored": stored, "load": load, "wire": wire}


def gz(data):
    return len(gzip.compress(data, 9))


def spread(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def compiled_forms():
    """The SDK as shipped to each runtime: plain sources (Pyodide), bytecode (MicroPython), the
    Brython bundle (sources without docstrings and comments, plus the stdlib modules it needs)."""
    visitrail = demo.DIST / "visitrail"
    py = [f.read_bytes() for f in visitrail.rglob("*.py")]
    mpy = [f.read_bytes() for f in visitrail.rglob("*.mpy")]
    bundle = (demo.DIST / "brython" / "visitrail.js").read_bytes()
    text = bundle.decode()
    vfs = json.loads(text[text.index(",{") + 1 : text.rindex(");")])
    sdk = [v[1].encode() for k, v in vfs.items() if k.split(".")[0] == "visitrail"]
    return [
        (".py sources (py)", sum(map(len, py)), sum(map(gz, py)), len(py)),
        (".mpy bytecode (mpy)", sum(map(len, mpy)), sum(map(gz, mpy)), len(mpy)),
        ("Brython bundle, SDK + stdlib (brython)", len(bundle), gz(bundle), 1),
        ("  of which the SDK, stripped sources", sum(map(len, sdk)), gz(b"".join(sdk)), len(sdk)),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    args = parser.parse_args(argv)
    runtimes = [r for r in args.runtimes.split(",") if r]

    demo.build_assets(if_stale=True)
    site = demo.SiteServer(0, {"/": HERE})
    site.start()
    results = {}
    with tempfile.TemporaryDirectory(prefix="visitrail-bench-") as tmp:
        collector = demo.Collector("sqlite:///" + tmp + "/bench.db", "bench-token", site.url, write_key="bench-key")
        site.values = {"collector": collector.start(), "writeKey": "bench-key"}
        reader = httpx.Client(base_url=collector.url, headers={"Authorization": "Bearer bench-token"}, timeout=10)

        def events(**filters):
            return reader.get("/api/events", params=filters).raise_for_status().json()["events"]

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                # Interleaved, so that a slow minute of the machine does not land on one runtime.
                for _ in range(args.runs):
                    results.setdefault("bare", []).append(one_load(browser, site.url + "/bare.html"))
                    for runtime in runtimes:
                        site.values["runtime"] = runtime
                        results.setdefault(runtime, []).append(one_load(browser, site.url + "/page.html", events))
                browser.close()
        finally:
            reader.close()
            collector.stop()
            site.shutdown()

    print(
        f"Visitrail per runtime: median (min-max) of {args.runs} cold loads each; Chromium, 127.0.0.1, "
        "bytes as the collector serves them (brotli)\n"
    )
    head = [
        "runtime",
        "ready ms",
        "1st event stored ms",
        "load event ms",
        "requests",
        "bytes until ready",
        "same, gzip -9",
    ]
    rows = [head]
    for runtime in runtimes:
        runs = results[runtime]
        first = runs[0]["wire"]
        files = [f for f in map(demo.dist_file, first) if f is not None and f.is_file()]
        rows.append(
            [
                f"{RUNTIMES[runtime]} ({runtime})",
                spread([r["ready"] for r in runs]),
                spread([r["stored"] for r in runs]),
                spread([r["load"] for r in runs]),
                f"{statistics.median(len(r['wire']) for r in runs):.0f}",
                f"{statistics.median(sum(r['wire'].values()) for r in runs):,.0f}",
                f"{sum(gz(f.read_bytes()) for f in files):,}",
            ]
        )
    rows.append(["the page without the tag", "", "", spread([r["load"] for r in results["bare"]]), "", "", ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        print(
            "  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))

    print("\n  The SDK's compiled forms (web/dist/):")
    for label, raw, packed, count in compiled_forms():
        print(f"    {label:40} {raw:>9,} B  {packed:>8,} B gzip -9  ({count} file{'s' if count > 1 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
