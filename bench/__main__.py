"""Visitrail beside the SDKs people use today: what the tag costs the page, and what it delivers.

    .venv/bin/python -m bench [--quick] [--runs 10] [--visits 100] [--return-visits 20] [--away-visits 50]
                              [--only mpy,mpy-async,py,brython,segment,posthog] [--load-rounds 60]
                              [--skip timing,load,leave,offline,away]
                              [--assets static|collector] [--no-build] [--out bench/results/latest.json]

Prints one table and writes it, with every run's figures, to bench/results/latest.json. The anchors
(bench/anchors/package.json) are installed with `npm ci --prefix bench/anchors` when missing; web/dist/
is rebuilt when stale (not with --no-build). A full run takes about 18 minutes on 2 CPUs, --quick
(3 runs, 20 visits) 5 to 8.

Rows (rows.py): the page with no tag; Visitrail on each runtime (`mpy`, the default, also as an
async tag after README's snippet; `py`, Pyodide; `brython`), "not built" when web/dist/ lacks its
files; Segment analytics-next; PostHog (posthog-js); and, for the navigate-away case only,
Plausible's tracker. Everything runs on 127.0.0.1 (servers.py), the SDKs' files from one static
server; a page request for anywhere else fails the run.

The steps (steps.py; --skip names them), measured in a browser by measure.py and visits.py:
- timing: each run is a fresh browser context (cold cache, empty storage) loading an article page
  with the tag, which calls identify + track at once (plus each SDK's own page view); rows are
  interleaved run by run.
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
  - differences from the page without a tag are taken within each round, then the median.
- load: the load event alone (nothing else measured, so many more rounds fit), for no tag, the
  `mpy` tags and, as a control, an empty synchronous script from another local origin, in
  alternating order; each tag's difference from no tag in the same round, median and 95% bootstrap
  interval, against the 5% goal.
- leave: visits (fresh contexts) that identify + track and set location.href to another origin in
  the same task; events acknowledged by the endpoint, counted per visit: the SDK's own page view,
  the track and the identify. Visitrail: also after the
  first --return-visits visitors come back (same browser, 0.3 s later; the boot replays the saved calls).
- offline: 100 tracks made while the context is offline (`set_offline`), then back online: how
  many arrive within 30 s, and when the last one did.
- away: the same-task navigate-away, no return, 50 visits: tracks / identifies delivered and
  duplicates (one message acknowledged more than once), for Visitrail's default tag, Segment and
  PostHog both with their async snippet and with the library loaded by a blocking <script>, and
  Plausible's npm tracker.
"""

import argparse
import sys
from pathlib import Path

from . import report, steps
from .env import BenchError, Env, ensure_anchors, ensure_dist

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
# Each return boots the runtime again (Pyodide: seconds), so by default only the first 20 visitors
# of each runtime come back (--return-visits N).
RETURN_VISITS = 20


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--runs", type=int, default=10, help="timing runs per row (default 10)")
    add("--visits", type=int, default=100, help="navigate-away visits per row (default 100)")
    add("--away-visits", type=int, default=50, help="visits per SDK in the away-50 case (default 50)")
    add(
        "--return-visits",
        type=int,
        default=RETURN_VISITS,
        help=f"of those, Visitrail visitors who come back (default {RETURN_VISITS})",
    )
    add("--offline-events", type=int, default=100)
    add("--quick", action="store_true", help="3 runs, 20 visits, 20 away visits, 20 load rounds")
    add("--only", help="comma-separated row keys: none,mpy,mpy-async,py,brython,segment,posthog")
    add("--skip", default="", help="comma-separated parts to skip: " + ",".join(steps.STEPS))
    add(
        "--load-rounds",
        type=int,
        default=60,
        help="rounds of the load-event-only comparison of no tag and the mpy tags (default 60)",
    )
    add(
        "--assets",
        choices=["static", "collector"],
        default="static",
        help="serve Visitrail's files from the same static server as the anchors' (default) "
        "or from the collector's /analytics/",
    )
    add("--no-build", action="store_true", help="measure web/dist/ as it is, even if stale")
    add("--out", default=str(RESULTS), help="the JSON results (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.visits, args.away_visits, args.load_rounds = 3, 20, 20, 20
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        ensure_anchors()
        ensure_dist(build=not args.no_build)
    except (BenchError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    run = steps.Comparison(args)
    print(report.intro(run), flush=True)
    with Env(assets=args.assets) as env:
        run.chromium = env.browser.version
        for name, step in steps.STEPS.items():
            if name not in run.skip:
                step(run, env)
        run.collect(env)
    print(report.comparison_text(run))
    report.write_json(args.out, report.comparison_json(run))
    print(f"Written: {args.out}")
    leaks = report.page_leaks(run)
    if leaks:
        print("\nFAILED: requests tried to leave 127.0.0.1:\n  " + "\n  ".join(leaks[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
