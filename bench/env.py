"""Everything a benchmark run needs, started and stopped together: the anchors (npm ci when
missing), web/dist/, the Visitrail collector, the local servers, Chromium behind the guard."""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

from visitrail import demo

from . import pages
from .servers import ANCHORS, Away, Guard, Hub, Site

HERE = Path(__file__).resolve().parent
ANCHOR_DIR = HERE / "anchors"
ANCHOR_FILES = [
    ANCHORS / "@segment" / "analytics-next" / "dist" / "umd" / "standalone.js",
    ANCHORS / "posthog-js" / "dist" / "array.js",
    ANCHORS / "@plausible-analytics" / "tracker" / "plausible.js",
]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # navigator.webdriver would make Plausible (and PostHog's bot filter) drop every event.
    "--disable-blink-features=AutomationControlled",
]
# HeadlessChrome in the user agent is on PostHog's blocked list; every context gets this one.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Visitrail's runtimes: data-runtime value -> (label, files in web/dist/ that show it is built).
RUNTIMES = {
    "mpy": ("MicroPython (PyScript)", ["micropython/micropython.wasm", "pyscript/core.js"]),
    "py": ("Pyodide", ["**/pyodide.asm.wasm"]),
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
    dist = demo.DIST
    for pattern in RUNTIMES[runtime][1]:
        if not (any(dist.glob(pattern)) if "*" in pattern else (dist / pattern).is_file()):
            return False
    return True


def ensure_dist(build):
    """web/dist/: built when missing; rebuilt when stale only if `build` (default: yes)."""
    if not (demo.DIST / "loader.js").exists():
        print("bench: web/dist/ is missing; running build.py", flush=True)
        demo.build_assets()
    elif build and demo.assets_stale():
        print("bench: web/dist/ is older than its sources; running build.py", flush=True)
        try:
            demo.build_assets(if_stale=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"bench: build.py failed ({exc}); measuring the web/dist/ that is there", flush=True)
    elif demo.assets_stale():
        print("bench: note: web/dist/ is older than its sources (--no-build: measured as it is)", flush=True)


class Env:
    """with Env() as env: env.hub, env.site, env.away, env.collector_url, env.browser, env.new_context()."""

    def __init__(self, echo_collector=False, assets="static"):
        """assets: where Visitrail's loader and runtime come from: "static" (the hub's static
        server, like the anchors' files) or "collector" (the collector's /analytics/)."""
        self.echo_collector = echo_collector
        self.assets = assets
        self.violations = []  # requests from a page to anywhere but 127.0.0.1

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="visitrail-bench-")
        self.guard = Guard().start()
        self.away = Away().start()
        self.site = Site(lambda path, query: None)
        self.collector = demo.Collector(
            "sqlite:///" + self.tmp.name + "/bench.db",
            "bench-token",
            self.site.url,
            write_key=pages.WRITE_KEY,
            echo=self.echo_collector,
        )
        self.collector_url = self.collector.start()
        self.hub = Hub(self.collector_url, demo.DIST).start()
        assets = self.hub.url + "/dist" if self.assets == "static" else self.collector_url + "/analytics"
        self.site.render = pages.render({"assets": assets, "hub": self.hub.url, "away": self.away.url})
        self.site.start()
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS
            + [
                f"--proxy-server=http://127.0.0.1:{self.guard.server_address[1]}",
                "--proxy-bypass-list=127.0.0.1;localhost",
            ],
        )
        self.user_agent = USER_AGENT.format(version=self.browser.version)
        return self

    def __exit__(self, *exc):
        for step in (
            self.browser.close,
            self.pw.stop,
            self.site.stop,
            self.hub.stop,
            self.collector.stop,
            self.away.stop,
            self.guard.stop,
            self.tmp.cleanup,
        ):
            try:
                step()
            except Exception as e:  # keep stopping the rest
                print(f"bench: while stopping: {e}", file=sys.stderr)

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
        from urllib.parse import urlencode

        return f"{self.site.url}/{sdk}.html" + ("?" + urlencode(query) if query else "")
