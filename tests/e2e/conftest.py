"""End-to-end fixtures: Debian's Chromium, the real collector in a subprocess, a site on another
origin, and a guard that no request leaves this machine.

    collector   `visitrail serve` on a free port with a fresh SQLite file (one per runtime);
                .events(anonymousId=..., userId=...) reads the stored events back
                .fail_next(count, status, retry_after) makes the next tracking requests fail
    site        the demo site (web/demo/ at /) and the test pages (tests/e2e/pages/ at /t/), whose
                {{collector}}, {{writeKey}} and {{runtime}} are filled in; another origin than the
                collector, also reachable as http://a.example.test:PORT and b.example.test (the
                collector allows all three origins)
    runtime     the runtime this test's pages boot: every page's tag carries
                data-runtime="{{runtime}}" (see RUNTIMES below for which tests run on which)
    run_python  runs Python inside the page's interpreter (the SDK's), after the SDK booted
    inline_snippet  fills in the pages' {{inline}} (web/dist/inline.js) and {{inlineHash}} (its CSP source)
    sdk_wheel   the visitrail-sdk wheel, built from sdk/ once per session and served by the site at
                /wheels/ ({{sdkWheel}} is its URL): what a page's own PyScript installs with micropip
    wait_for    polls a condition until it holds or a deadline passes
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from visitrail.collector import assets, snippet
from visitrail.collector.demo.process import CollectorProcess
from visitrail.collector.demo.site import DEMO_PAGES, SiteServer
from visitrail.dev import chromium
from visitrail.dev.readapi import ReadAPI

from .helpers import ADMIN_TOKEN, WRITE_KEY, pump, wait_for

# $VISITRAIL_TEST_COLLECTOR: the `visitrail` executable of an installed wheel, which the collectors
# then run (from a folder outside the checkout) with the assets it carries
# (tests/packaging/test_install.py runs the slice so).
INSTALLED = (
    {"command": [os.environ["VISITRAIL_TEST_COLLECTOR"]], "cwd": tempfile.gettempdir()}
    if os.environ.get("VISITRAIL_TEST_COLLECTOR")
    else {}
)

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
READY_TIMEOUT_MS = 120_000  # open_page: how long the SDK may take to boot
LOCAL_SCHEMES = {"data", "blob", "about"}
# Test-only host names (RFC 2606 reserves .test) that Chromium resolves to 127.0.0.1, for sites
# on subdomains of one registrable domain (cookies with Domain=example.test).
MAPPED_DOMAIN = "example.test"
MAPPED_HOSTS = ["a." + MAPPED_DOMAIN, "b." + MAPPED_DOMAIN]


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).parents and item.get_closest_marker("e2e") is None:
            raise pytest.UsageError(f"{item.nodeid}: end-to-end tests carry @pytest.mark.e2e")


# -- Runtimes ------------------------------------------------------------------------------------

# Every test runs once per runtime it is collected for. By default: every test on "mpy" and
# "brython", and only the tests marked @pytest.mark.pyodide on "py" as well (Pyodide takes ~2.5 s
# to boot in each fresh context: the whole suite on it would double CI time). `--runtimes` (an
# option of tests/conftest.py) names the runtimes to run every test on instead
# (`--runtimes mpy,py,brython`: everything everywhere).
# @pytest.mark.runtimes("mpy") keeps a test to the runtimes it names.
RUNTIMES = ("mpy", "py", "brython")
DEFAULT_RUNTIMES = ("mpy", "brython")


class Runtime(str):
    """A runtime's name ("mpy", "py", "brython"), with what tests need to know of it."""

    # What the loader adds to the page to start it: blocking it keeps the SDK from starting.
    START = {
        "mpy": "**/micropython/micropython.mjs",
        "py": "**/pyscript/core.js",
        "brython": "**/brython/brython.min.js",
    }
    # The biggest file it waits for: holding it keeps the runtime booting.
    BINARY = {"mpy": "**/micropython.wasm*", "py": "**/pyodide.asm.wasm*", "brython": "**/brython/visitrail.js*"}
    SCRIPT_TYPE = {"mpy": "mpy", "py": "py", "brython": "text/python"}

    @property
    def start_file(self):
        return self.START[self]

    @property
    def binary(self):
        return self.BINARY[self]

    @property
    def script_type(self):
        return self.SCRIPT_TYPE[self]


def pytest_generate_tests(metafunc):
    if "runtime" not in metafunc.fixturenames or HERE not in Path(str(metafunc.definition.path)).parents:
        return
    chosen = metafunc.config.getoption("--runtimes")
    if chosen:
        names = [r for r in chosen.split(",") if r]
        unknown = set(names) - set(RUNTIMES)
        if unknown:
            raise pytest.UsageError("--runtimes: unknown " + ", ".join(sorted(unknown)))
    else:
        names = list(DEFAULT_RUNTIMES)
        if metafunc.definition.get_closest_marker("pyodide"):
            names.insert(1, "py")
    only = metafunc.definition.get_closest_marker("runtimes")
    if only:
        names = [r for r in names if r in only.args] or [only.args[0]]
    metafunc.parametrize("runtime", [Runtime(r) for r in names], ids=list(names), indirect=True, scope="function")


@pytest.fixture(autouse=True)
def runtime(request, site, collectors):
    """The runtime this test's pages boot; the site serves it as {{runtime}}, the type of a
    page's own Python script for it as {{scriptType}}, and its collector as {{collector}}."""
    value = getattr(request, "param", Runtime("mpy"))
    site.values.update(runtime=value, scriptType=value.script_type, collector=collectors(value).url, writeKey=WRITE_KEY)
    yield value
    site.values.update(runtime="mpy", scriptType="mpy")


# -- Build, servers ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dist():
    """web/dist/, rebuilt once per session if any of its inputs is newer than it."""
    assets.build(if_stale=True)
    return assets.DIST


class CollectorHandle(ReadAPI):
    def wait_for_events(self, count, timeout_s=15.0, **filters):
        """At least `count` stored events matching the filters."""
        return wait_for(
            lambda: (lambda e: e if len(e) >= count else None)(self.events(**filters)),
            timeout_s,
            what=f"{count} events matching {filters}",
        )


@pytest.fixture(scope="session")
def site():
    untagged = [
        p.name
        for p in PAGES.glob("*.html")
        if "/analytics/loader.js" in p.read_text() and 'data-runtime="{{runtime}}"' not in p.read_text()
    ]
    assert not untagged, f'test pages whose tag lacks data-runtime="{{{{runtime}}}}": {untagged}'
    server = SiteServer(0, {"/": DEMO_PAGES, "/t/": PAGES}, {"runtime": "mpy", "scriptType": "mpy"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def inline_snippet(dist, site):
    """The inline snippet (web/dist/inline.js) as the site's {{inline}}, and the CSP source that
    allows it as {{inlineHash}}: the pages paste it as `visitrail assets snippet` prints it."""
    text = (dist / snippet.INLINE).read_text().strip()
    site.values.update(inline=text, inlineHash=snippet.script_hash(text))
    return text


@pytest.fixture(scope="session")
def sdk_wheel(site, tmp_path_factory):
    """The visitrail-sdk wheel (sdk/pyproject.toml), built into a temp folder that the site serves
    at /wheels/; the site's {{sdkWheel}} is its URL. Not committed, not from an index: the page
    installs the code under test."""
    out = tmp_path_factory.mktemp("sdk-wheel")
    # Run from elsewhere: in the checkout, `python -m build` is build.py, not pypa's build.
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(assets.ROOT / "sdk")],
        capture_output=True,
        text=True,
        cwd=out,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = out.glob("visitrail_sdk-*.whl")
    site.mounts = sorted([*site.mounts, ("/wheels/", out)], key=lambda m: -len(m[0]))
    site.values["sdkWheel"] = site.url + "/wheels/" + wheel.name
    return wheel


@pytest.fixture(scope="session")
def collectors(dist, site, tmp_path_factory):
    """collectors(runtime) -> the collector of that runtime's tests, started on first use: one
    per runtime, so that the same test on two runtimes (same user IDs) never sees the other's
    events."""
    started = {}

    def get(runtime):
        if runtime not in started:
            db = "sqlite:///" + str(tmp_path_factory.mktemp("collector-" + runtime) / "events.db")
            port = site.server_address[1]
            origins = [site.url] + [f"http://{host}:{port}" for host in MAPPED_HOSTS]
            proc = CollectorProcess(db, ADMIN_TOKEN, origins, write_key=WRITE_KEY, test_hooks=True, **INSTALLED)
            url = proc.start()
            started[runtime] = (proc, CollectorHandle(url, ADMIN_TOKEN))
        return started[runtime][1]

    yield get
    for proc, handle in started.values():
        handle.close()
        proc.stop()


@pytest.fixture
def collector(collectors, runtime):
    """The collector (`visitrail serve` with a fresh SQLite file) of this test's runtime, which
    the site's pages send to."""
    return collectors(runtime)


# -- Browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return chromium.launch_args(f"--host-resolver-rules=MAP *.{MAPPED_DOMAIN} 127.0.0.1", **browser_type_launch_args)


class PageRecord:
    """What the pages of one test did: requests, console messages, uncaught errors."""

    def __init__(self):
        self.requests = []
        self.console = []
        self.errors = []

    def console_of(self, *types):
        return [m for m in self.console if m[0] in types]


def _is_local(url):
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme in LOCAL_SCHEMES or host in LOCAL_HOSTS or host.endswith("." + MAPPED_DOMAIN)


@pytest.fixture(autouse=True)
def slow_machine_timeouts(context):
    """Every wait of Playwright's in the test (wait_for_function, expect_console_message, ...) may
    take as long as open_page's: Pyodide boots in seconds on a quiet machine and in more than
    Playwright's default 30 s on a busy one. A generous bound on conditions, not a wait."""
    context.set_default_timeout(READY_TIMEOUT_MS)


@pytest.fixture(autouse=True)
def record(context):
    """Every request any page of the test makes must stay on this machine; uncaught page errors
    (including unhandled promise rejections) fail the test too."""
    rec = PageRecord()

    def on_page(page):
        page.on("console", lambda m: rec.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: rec.errors.append(str(e)))

    context.on("request", lambda r: rec.requests.append(r.url))
    context.on("page", on_page)
    pump[0] = context.cookies  # a round trip to the browser that does not depend on any page
    yield rec
    pump[0] = None
    for page in context.pages:  # one round trip each, so that every pending event is delivered
        page.evaluate("0")
    remote = [u for u in rec.requests if not _is_local(u)]
    assert not remote, f"requests left the machine: {remote}"
    assert not rec.errors, f"uncaught errors in the page: {rec.errors}"


@pytest.fixture
def open_page(page, site, collector):
    """Open a test page (a path under tests/e2e/pages/, or / for the demo) and wait for the SDK."""

    def open_(path, ready=True):
        page.goto(site.url + (path if path.startswith("/") else "/t/" + path))
        if ready:
            # Pyodide boots in ~5 s on a quiet machine; on a busy one (CI beside other work) several
            # times that: a generous bound on a condition, not a wait.
            page.wait_for_function("window.analytics && window.analytics._q === 0", timeout=READY_TIMEOUT_MS)
        return page

    return open_


@pytest.fixture
def run_python(page, runtime):
    """run_python(code) -> value: exec `code` in the page's interpreter (the SDK's: MicroPython,
    Pyodide or Brython) and return the JSON-able `result` it assigns; a Python exception fails
    the test with its repr."""

    wrapper = (
        "import json\n"
        "from visitrail.browser.ffi import window\n"
        "_g = {}\n"
        "try:\n"
        "    exec(json.loads(window.__vt_code), _g)\n"
        "    window.__vt_out = json.dumps({'result': _g.get('result')})\n"
        "except Exception as e:\n"
        "    window.__vt_out = json.dumps({'error': repr(e)})\n"
        "window.__vt_done()\n"
    )

    def run(code):
        out = page.evaluate(
            """([code, wrapper, type]) => new Promise(resolve => {
                window.__vt_code = JSON.stringify(code);
                window.__vt_out = undefined;
                window.__vt_done = () => resolve(window.__vt_out);
                // MicroPython started by runtime.js alone (a page without Python of its own): its
                // interpreter is analytics._mp. A JS exception that escapes the snippet rejects.
                if (window.analytics && window.analytics._mp) {
                    try { window.analytics._mp.runPython(wrapper); } catch (e) { resolve(undefined); }
                    return;
                }
                const s = document.createElement("script");
                window.__vt_done = () => { s.remove(); resolve(window.__vt_out); };
                s.type = type;
                s.id = "vt-run-" + Math.random().toString(36).slice(2);
                s.setAttribute("target", s.id);
                s.textContent = wrapper;
                // PyScript: also when a JS exception escaped the snippet (on MicroPython).
                s.addEventListener(type + ":done", () => window.__vt_done());
                document.head.appendChild(s);
            })""",
            [code, wrapper, runtime.script_type],
        )
        assert out is not None, "the Python snippet did not finish (a JS exception escaped it?)"
        out = json.loads(out)
        assert "error" not in out, out["error"]
        return out["result"]

    return run
