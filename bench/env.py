"""What the benchmarks need before they measure, and the comparison's environment, started and
stopped together: the anchors (npm ci when missing), web/dist/ (built when stale), the Visitrail
collector, the local servers (servers.py), Chromium behind the guard.

    with Env() as env:   env.hub, env.site, env.away, env.collector_url, env.read (the collector's
                         read API), env.browser, env.new_context(), env.url(sdk, **query), env.leaks()
"""

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import sync_playwright

from visitrail.collector import assets
from visitrail.collector.demo.process import CollectorProcess
from visitrail.dev import chromium
from visitrail.dev.readapi import ReadAPI

from . import pages
from .servers import ANCHORS, Away, Guard, Hub, Site

HERE = Path(__file__).resolve().parent
ANCHOR_DIR = HERE / "anchors"
ANCHOR_FILES = [
    ANCHORS / "@segment" / "analytics-next" / "dist" / "umd" / "standalone.js",
    ANCHORS / "posthog-js" / "dist" / "array.js",
    ANCHORS / "@plausible-analytics" / "tracker" / "plausible.js",
]
ADMIN_TOKEN = "bench-token"
# navigator.webdriver would make Plausible (and PostHog's bot filter) drop every event.
UNDETECTED = "--disable-blink-features=AutomationControlled"
# HeadlessChrome in the user agent is on PostHog's blocked list; every context gets this one.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Visitrail's runtimes: data-runtime value -> (label, files in web/dist/ that show it is built).
RUNTIMES = {
    "mpy": ("PyScript + MicroPython", ["micropython/micropython.wasm", "pyscript/core.js"]),
    "py": ("PyScript + Pyodide", ["**/pyodide.asm.wasm"]),
    "brython": ("Brython", ["**/brython*.js"]),
}


class BenchError(Exception):
    pass


def anchors_installed():
    """Every anchor file is there, at the version bench/anchors/package.json pins."""
    if not all(f.is_file() for f in ANCHOR_FILES):
        return False
    try:
        wanted = json.loads((ANCHOR_DIR / "package.json").read_text())["dependencies"]
        for name, version in wanted.items():
            if json.loads((ANCHORS / name / "package.json").read_text()).get("version") != version:
                return False
    except (OSError, ValueError, KeyError):
        return False
    return True


def ensure_anchors():
    """Install the anchors into bench/anchors/node_modules (npm ci) when missing or not as pinned."""
    if anchors_installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError(
            "the anchor SDKs are not installed and npm is not on PATH; install Node/npm, then "
            "run: npm ci --prefix bench/anchors"
        )
    print(
        "bench: the anchor SDKs (analytics-next, posthog-js, Plausible's tracker) are not installed; running "
        "`npm ci --prefix bench/anchors` (for the benchmark only, not the project's own node_modules)",
        flush=True,
    )
    done = subprocess.run([npm, "ci", "--prefix", str(ANCHOR_DIR), "--ignore-scripts", "--no-audit", "--no-fund"])
    if done.returncode != 0 or not anchors_installed():
        raise BenchError("`npm ci --prefix bench/anchors` failed (see above)")


def runtime_built(runtime):
    for pattern in RUNTIMES[runtime][1]:
        if not (any(assets.DIST.glob(pattern)) if "*" in pattern else (assets.DIST / pattern).is_file()):
            return False
    return True


def ensure_dist(build=True):
    """web/dist/: built when missing; rebuilt when stale only if `build`."""
    if not (assets.DIST / "loader.js").exists():
        print("bench: web/dist/ is missing; running build.py", flush=True)
        assets.build()
    elif build and assets.stale():
        print("bench: web/dist/ is older than its sources; running build.py", flush=True)
        try:
            assets.build(if_stale=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"bench: build.py failed ({exc}); measuring the web/dist/ that is there", flush=True)
    elif assets.stale():
        print("bench: note: web/dist/ is older than its sources (--no-build: measured as it is)", flush=True)


def _quietly(stop):
    """`stop`, whose failure is said and does not keep the rest from stopping."""

    def step():
        try:
            stop()
        except Exception as exc:
            print(f"bench: while stopping: {exc}", file=sys.stderr)

    return step


class Env:
    """assets: where Visitrail's loader and runtime come from: "static" (the hub's static server,
    like the anchors' files) or "collector" (the collector's /analytics/)."""

    def __init__(self, echo_collector=False, assets="static"):
        self.echo_collector = echo_collector
        self.assets = assets
        self.violations = []  # requests from a page to anywhere but 127.0.0.1

    def __enter__(self):
        self.stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def _start(self):
        started = self.stack.callback
        tmp = tempfile.TemporaryDirectory(prefix="visitrail-bench-")
        started(_quietly(tmp.cleanup))
        self.guard = self._serve(Guard())
        self.away = self._serve(Away())
        self.site = Site(lambda path, query: None)
        self.collector = CollectorProcess(
            f"sqlite:///{tmp.name}/bench.db",
            ADMIN_TOKEN,
            self.site.url,
            write_key=pages.WRITE_KEY,
            echo=self.echo_collector,
        )
        self.collector_url = self.collector.start()
        started(_quietly(self.collector.stop))
        self.read = ReadAPI(self.collector_url, ADMIN_TOKEN, timeout_s=30)
        started(_quietly(self.read.close))
        self.hub = self._serve(Hub(self.collector_url, assets.DIST))
        dist = self.hub.url + "/dist" if self.assets == "static" else self.collector_url + "/analytics"
        self.site.render = pages.render({"assets": dist, "hub": self.hub.url, "away": self.away.url})
        self._serve(self.site)
        self.pw = sync_playwright().start()
        started(_quietly(self.pw.stop))
        proxy = f"--proxy-server=http://127.0.0.1:{self.guard.server_address[1]}"
        self.browser = self.pw.chromium.launch(
            **chromium.launch_args(UNDETECTED, proxy, "--proxy-bypass-list=127.0.0.1;localhost")
        )
        started(_quietly(self.browser.close))
        self.user_agent = USER_AGENT.format(version=self.browser.version)

    def _serve(self, server):
        server.start()
        self.stack.callback(_quietly(server.stop))
        return server

    def __exit__(self, *exc):
        self.stack.close()

    def new_context(self, **kwargs):
        context = self.browser.new_context(user_agent=self.user_agent, **kwargs)
        context.on("request", self._check)
        return context

    def _check(self, request):
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            self.violations.append(request.url)

    def leaks(self):
        """Everything that tried to leave: page requests to other hosts, and what reached the guard."""
        return list(self.violations) + [f"{m} {t}" for m, t in self.guard.attempts]

    def url(self, sdk, **query):
        return f"{self.site.url}/{sdk}.html" + ("?" + urlencode(query) if query else "")
