"""The three runtimes: each page fetches its own runtime's files and nothing of the others, all
from this machine; MicroPython runs the SDK as bytecode; Brython takes every module from its one
bundle; the page's own Python shares the SDK (`from visitrail import analytics`); and a page that
runs PyScript or Brython itself keeps it, with the SDK joining its interpreter; a repeat visit takes
all of it from the browser's cache."""

from urllib.parse import urlsplit

import pytest

from visitrail.collector import assets

from .helpers import wait_for

pytestmark = pytest.mark.e2e

# What a page of each runtime fetches from the collector's /analytics/ (besides loader.js).
FOLDERS = {
    "mpy": {"micropython", "visitrail"},  # MicroPython alone: a page without Python of its own needs no PyScript
    "py": {"pyscript", "pyodide", "visitrail"},
    "brython": {"brython"},
}
PYODIDE_FILES = {"pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"}


def asset(url):
    """A URL's file in web/dist/: /analytics/loader.js is loader.js, /analytics/v/<version>/x is x."""
    return assets.dist_file(url).relative_to(assets.DIST).as_posix()


def fetched(record, collector):
    prefix = collector.url + "/analytics/"
    return {asset(u) for u in record.requests if u.startswith(prefix)}


def visitrail_lines(record):
    return [(kind, text) for kind, text in record.console if text.startswith("[visitrail]")]


@pytest.mark.pyodide
def test_a_page_fetches_its_own_runtime_and_nothing_of_the_others(open_page, record, collector, runtime):
    page = open_page("plain.html")
    assert page.evaluate("analytics.flush()") is True
    files = fetched(record, collector)
    assert {f.split("/")[0] for f in files if "/" in f} == FOLDERS[runtime]
    # Each once: what runtime.js preloads is what the runtime then takes (a preload whose mode does
    # not match the runtime's own fetch would be downloaded twice).
    ours = [asset(u) for u in record.requests if u.startswith(collector.url + "/analytics/")]
    assert sorted(ours) == sorted(set(ours))
    modules = {f for f in files if f.startswith("visitrail/")}
    if runtime == "mpy":
        assert modules == {"visitrail/sdk.vtb"}  # bytecode (every .mpy module in one file), no sources
    elif runtime == "py":
        assert modules and all(f.endswith(".py") for f in modules)
        assert {f.split("/")[1] for f in files if f.startswith("pyodide/")} == PYODIDE_FILES
    else:
        assert files == {"loader.js", "runtime.js", "brython/brython.min.js", "brython/visitrail.js"}
    # The `record` fixture fails the test if any request left 127.0.0.1 (no runtime CDN).


@pytest.mark.runtimes("mpy")
def test_micropython_runs_the_sdk_as_bytecode_of_its_own_version(open_page, run_python, dist):
    open_page("plain.html")
    mpy, file = run_python(
        "import sys, visitrail.core.client\nresult = [sys.implementation._mpy, visitrail.core.client.__file__]"
    )
    assert file.endswith("visitrail/core/client.mpy")
    header = (dist / "visitrail" / "core" / "client.mpy").read_bytes()[:2]
    assert header == b"M" + bytes([mpy & 0xFF])  # the version build.py's mpy-cross wrote


@pytest.mark.runtimes("brython")
def test_brython_takes_every_module_from_its_bundle(open_page, record):
    page = open_page("plain.html")
    assert not [u for u in record.requests if urlsplit(u).path.endswith(".py")]
    imported = set(page.evaluate("Object.keys(__BRYTHON__.imported)"))
    bundled = set(page.evaluate("Object.keys(__BRYTHON__.VFS)"))
    # No stdlib module bundled in vain: each was imported (crypto_js is eval'ed by hashlib; the
    # rest of `imported` is built into brython.js, or the entry script).
    assert {m for m in bundled - imported if not m.startswith("visitrail")} == {"crypto_js.rollups.sha256"}


@pytest.mark.pyodide
def test_a_repeat_visit_takes_the_runtime_from_the_cache(open_page, collector):
    """Everything but loader.js is versioned and immutable: a second page view asks the collector
    for none of it, not even to revalidate; loader.js is fresh for 5 minutes."""
    page = open_page("plain.html")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls, received = {}, {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.reload()
    page.wait_for_function("window.analytics && window.analytics._q === 0")

    def ours():
        return {rid for rid, url in urls.items() if url.startswith(collector.url + "/analytics/")}

    wait_for(lambda: ours() <= set(received), what="every asset response of the reload to finish")
    again = {asset(urls[rid]): received[rid] for rid in ours()}
    assert "runtime.js" in again and len(again) > 2
    assert again == dict.fromkeys(again, 0)  # no byte over the network: each came from the cache


@pytest.mark.pyodide
def test_the_pages_own_python_shares_the_sdk(open_page, run_python, collector, record):
    page = open_page("api.html")
    page.wait_for_function("window.pythonRan === true")
    # Called before the SDK was up, from Python: queued by the loader like an early JS call.
    assert page.evaluate("analytics.user().id()") == "py-user"
    result = run_python(
        "from visitrail import analytics\n"
        "from visitrail.browser.ffi import window\n"
        "analytics.track('Live from Python', {'k': [1, 2]})\n"
        "def flushed(ok):\n"
        "    window.pyFlushed = ok\n"
        "analytics.flush(flushed)\n"
        "result = [analytics.user().id(), analytics.user().traits(), analytics.user().anonymousId(),\n"
        "          analytics.session().id(), analytics.track()]\n"
    )
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert result == [
        "py-user",
        {"plan": "pro", "seats": 3},
        anonymous_id,
        page.evaluate("analytics.session().id()"),
        None,
    ]
    page.wait_for_function("window.pyFlushed === true")
    events = wait_for(
        lambda: (lambda e: e if len(e) >= 4 else None)(collector.events(anonymousId=anonymous_id)),
        what="the page's Python and JS calls",
    )
    by_name = {e.get("event") or e["type"]: e for e in events}
    assert set(by_name) == {"identify", "From Python", "From JS", "Live from Python"}
    assert by_name["From Python"]["properties"] == {"n": 1, "tags": ["a", "b"]}
    assert by_name["Live from Python"]["properties"] == {"k": [1, 2]}
    assert "userId" not in by_name["From JS"]  # made as the page was parsed, before Python's identify
    assert {e.get("userId") for e in events if e is not by_name["From JS"]} == {"py-user"}
    # analytics.track() without a name is dropped with one console error, as from JS.
    (line,) = visitrail_lines(record)
    assert line[0] == "error" and line[1].startswith("[visitrail] track() was dropped: ")


@pytest.mark.runtimes("mpy")
def test_a_page_with_its_own_pyscript_config_keeps_it_and_the_sdk_joins_its_interpreter(
    open_page, run_python, collector, record
):
    page = open_page("host-pyscript.html")
    page.wait_for_function("window.hostRan === true")
    assert page.text_content("#host-out") == "host Python ran"
    assert visitrail_lines(record) == [
        (
            "info",
            "[visitrail] this page runs PyScript (mpy) of its own: the SDK runs in the page's mpy "
            "interpreter, under the page's config",
        )
    ]
    assert page.evaluate("analytics.flush()") is True
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"] == [
        "On a PyScript page"
    ]
    # One interpreter: the page's later Python sees the SDK's client.
    assert run_python("from visitrail import analytics\nresult = analytics.user().anonymousId()") == anonymous_id
    assert record.console_of("error") == []


@pytest.mark.runtimes("brython")
def test_a_page_that_runs_brython_itself_keeps_it_and_the_sdk_joins_it(open_page, collector, record):
    page = open_page("host-brython.html")
    page.wait_for_function("window.hostRan === true")
    assert page.text_content("#host-out") == "host Python ran"
    assert visitrail_lines(record) == [("info", "[visitrail] this page runs Brython of its own: the SDK runs in it")]
    assert len([u for u in record.requests if u.endswith("/brython.min.js")]) == 1
    assert page.evaluate("analytics.flush()") is True
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"] == [
        "On a Brython page"
    ]
    assert record.console_of("error") == []
