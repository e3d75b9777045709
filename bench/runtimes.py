"""Visitrail per runtime: bytes until `analytics` is ready, time until ready and until the first
event is stored, what the tag does to the page's load event, and when each file was fetched. Not a test.

    .venv/bin/python -m bench.runtimes [--runtime mpy|py|brython|all] [--runs 10] [--waterfall]

`--runtime` also takes a list (mpy,brython); the default is all three. Each load is a fresh browser
context (cold HTTP cache) of bench/html/page.html, whose tag names the runtime (data-runtime);
bench/html/bare.html is the same page without the tag, loaded in the same rounds. The site and the
collector (which serves web/dist/ at /analytics/, brotli-compressed) are two origins on 127.0.0.1;
"gzip -9" is what the same files weigh compressed with gzip -9 (bodies only), computed. Times are
ms since navigation start, read in the page; the first event's time is the collector's receivedAt
against the page's timeOrigin (one machine, one clock).

Prints a table (per runtime: ready, first event stored, load event, requests, bytes until ready as
served and gzip -9), loader.js's size, the SDK's compiled forms, and per runtime the milestones
before ready, each run's ready and stored times, Resource Timing's byte count and the largest
downloads; --waterfall adds, per runtime, when each file of the first run was fetched.
"""

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

from visitrail.collector import assets
from visitrail.collector.demo.process import CollectorProcess
from visitrail.collector.demo.site import SiteServer
from visitrail.dev import chromium
from visitrail.dev.readapi import ReadAPI

from .env import ADMIN_TOKEN, RUNTIMES, ensure_dist, runtime_built
from .measure import bare_load, cold_load
from .pages import WRITE_KEY
from .report import loader_size, spread_text, table
from .sizes import dist_gzip9, gzip9
from .stats import spread

HTML = Path(__file__).resolve().parent / "html"
SPREAD = "{median:,.0f} ({min:,.0f}-{max:,.0f})"
LARGEST = 6  # downloads listed per runtime


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.runtimes", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runtime",
        "--runtimes",
        default="all",
        help="mpy, py, brython, a comma-separated list of them, or all (default)",
    )
    parser.add_argument("--runs", type=int, default=10, help="cold loads per runtime (default 10)")
    parser.add_argument("--waterfall", action="store_true", help="print when each file was fetched (first run)")
    args = parser.parse_args(argv)
    args.runtimes = list(RUNTIMES) if args.runtime == "all" else [r for r in args.runtime.split(",") if r]
    unknown = sorted(set(args.runtimes) - set(RUNTIMES))
    if unknown or not args.runtimes:
        parser.error(f"--runtime: choose from {', '.join(RUNTIMES)} or all")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


@contextlib.contextmanager
def servers():
    """(the site, the collector's read API): the pages on one origin, the collector on another."""
    site = SiteServer(0, {"/": HTML})
    site.start()
    try:
        with tempfile.TemporaryDirectory(prefix="visitrail-bench-") as tmp:
            collector = CollectorProcess(f"sqlite:///{tmp}/bench.db", ADMIN_TOKEN, site.url, write_key=WRITE_KEY)
            site.values = {"collector": collector.start(), "writeKey": WRITE_KEY, "runtime": "mpy"}
            read = ReadAPI(collector.url, ADMIN_TOKEN)
            try:
                yield site, read
            finally:
                read.close()
                collector.stop()
    finally:
        site.stop()


def measure(runtimes, runs):
    """Every runtime's loads and the bare page's, interleaved, so that a slow minute of the machine
    does not land on one runtime."""
    results = {name: [] for name in ["bare", *runtimes]}
    with servers() as (site, read), sync_playwright() as p:
        browser = p.chromium.launch(**chromium.launch_args())
        for _ in range(runs):
            results["bare"].append(bare_load(browser, site.url + "/bare.html"))
            for runtime in runtimes:
                site.values["runtime"] = runtime
                results[runtime].append(cold_load(browser, site.url + "/page.html", read))
        browser.close()
    return results


def runtime_table(results, runtimes):
    head = ["runtime", "ready ms", "1st event stored ms", "load event ms", "requests", "bytes until ready"]
    head.append("same, gzip -9")
    rows = []
    for runtime in runtimes:
        runs = results[runtime]
        rows.append(
            [
                f"{RUNTIMES[runtime][0]} ({runtime})",
                spread_text(spread([r["ready"] for r in runs]), SPREAD),
                spread_text(spread([r["stored"] for r in runs]), SPREAD, missing="not stored"),
                spread_text(spread([r["load"] for r in runs]), SPREAD),
                f"{statistics.median(r['requests'] for r in runs):.0f}",
                f"{statistics.median(r['wire_bytes'] for r in runs):,.0f}",
                f"{dist_gzip9(runs[0]['wire']):,}",
            ]
        )
    rows.append(["the page without the tag", "", "", spread_text(spread(results["bare"]), SPREAD), "", "", ""])
    return table(head, rows, indent="  ")


def compiled_forms():
    """The SDK as shipped to each runtime: plain sources (Pyodide), bytecode (MicroPython), the
    Brython bundle (sources without docstrings and comments, plus the stdlib modules it needs)."""
    visitrail = assets.DIST / "visitrail"
    py = [f.read_bytes() for f in visitrail.rglob("*.py")]
    mpy = [f.read_bytes() for f in visitrail.rglob("*.mpy")]
    bundle = (assets.DIST / "brython" / "visitrail.js").read_bytes()
    text = bundle.decode()
    vfs = json.loads(text[text.index(",{") + 1 : text.rindex(");")])
    sdk = [v[1].encode() for k, v in vfs.items() if k.split(".")[0] == "visitrail"]
    return [
        (".py sources (py)", sum(map(len, py)), sum(map(gzip9, py)), len(py)),
        (".mpy bytecode (mpy)", sum(map(len, mpy)), sum(map(gzip9, mpy)), len(mpy)),
        ("Brython bundle, SDK + stdlib (brython)", len(bundle), gzip9(bundle), 1),
        ("  of which the SDK, stripped sources", sum(map(len, sdk)), gzip9(b"".join(sdk)), len(sdk)),
    ]


def details(runtime, runs, waterfall):
    """One runtime's milestones before ready, each run's times, and what the first run fetched."""

    def med(key):
        return statistics.median(r[key] for r in runs)

    stored = [r["stored"] for r in runs]
    rows = [
        ("loader.js executed", f"{med('loader'):.0f} ms"),
        ("DOMContentLoaded", f"{med('dcl'):.0f} ms"),
        ("ready, each run", ", ".join(f"{r['ready']:.0f}" for r in runs)),
        ("first event stored, each run", ", ".join("-" if s is None else f"{s:.0f}" for s in stored)),
        ("bytes until ready (Resource Timing transferSize)", f"{med('rt_bytes'):,.0f} B"),
    ]
    width = max(len(name) for name, _ in rows)
    out = [f"\n  {RUNTIMES[runtime][0]} ({runtime}), median of {len(runs)}:"]
    out += [f"    {name:<{width}}  {value:>12}" for name, value in rows]
    first = runs[0]
    out.append("    largest downloads (first run):")
    for url in sorted(first["wire"], key=first["wire"].get, reverse=True)[:LARGEST]:
        out.append(f"      {first['wire'][url]:>10,} B  {urlsplit(url).path}")
    if waterfall:
        out.append(
            f"    waterfall (first run; ms since navigation start; load event at {first['load']:.0f}, "
            f"ready at {first['ready']:.0f}):"
        )
        for e in sorted(first["resources"], key=lambda e: e["start"]):
            out.append(f"      {e['start']:>7.0f} {e['end']:>7.0f}  {e['method']:<14} {urlsplit(e['url']).path}")
    return out


def main(argv=None):
    args = parse_args(argv)
    ensure_dist()
    built = [r for r in args.runtimes if runtime_built(r)]
    results = measure(built, args.runs) if built else {}
    print(
        f"Visitrail per runtime: median (min-max) of {args.runs} cold loads each; Chromium, 127.0.0.1, "
        "bytes as the collector serves them (brotli)\n"
    )
    if built:
        print(runtime_table(results, built))
    for runtime in args.runtimes:
        if runtime not in built:
            print(f"  {RUNTIMES[runtime][0]} ({runtime}): not built (web/dist/ lacks its files)")
    raw, gz = loader_size()
    print(f"\n  loader.js: {raw:,} B raw, {gz:,} B gzip -9")
    print("\n  The SDK's compiled forms (web/dist/):")
    for label, size, packed, count in compiled_forms():
        print(f"    {label:40} {size:>9,} B  {packed:>8,} B gzip -9  ({count} file{'s' if count > 1 else ''})")
    for runtime in built:
        print("\n".join(details(runtime, results[runtime], args.waterfall)))
    if any(_hidden_by_resource_timing(results[r]) for r in built):
        print("\n  (Resource Timing reports 0 bytes for cross-origin responses without Timing-Allow-Origin.)")
    return 0 if built else 1


def _hidden_by_resource_timing(runs):
    return statistics.median(r["rt_bytes"] for r in runs) < statistics.median(r["wire_bytes"] for r in runs) / 2


if __name__ == "__main__":
    sys.exit(main())
