"""The inline snippet (web/dist/inline.js, `visitrail assets snippet`): the stub in the page's HTML,
so the page makes no request for the tag; loader.js, fetched after `load`, hands it the version
to start. On the three runtimes."""

import pytest

from .helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("inline_snippet")]

# Every resource the page fetched from the collector's origin, and when (ms since navigation).
COLLECTOR_FETCHES = """origin => performance.getEntriesByType("resource")
    .filter(e => e.name.startsWith(origin)).map(e => [e.name.slice(origin.length).split("?")[0], e.startTime])"""


def visitrail_lines(record, kind):
    return [text for t, text in record.console if t == kind and text.startswith("[visitrail]")]


@pytest.mark.pyodide
def test_the_snippet_fetches_nothing_before_load_and_its_calls_arrive(page, site, collector, record, runtime):
    page.goto(site.url + "/t/inline.html")
    page.wait_for_function("window.inlineReady")
    assert page.evaluate("analytics.flush()") is True
    loaded = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventStart")
    fetches = page.evaluate(COLLECTOR_FETCHES, collector.url)
    # Not one request to the collector before the page's load event: loader.js comes after it,
    # then runtime.js from the version loader.js named.
    assert fetches and min(at for _, at in fetches) >= loaded
    paths = [path for path, _ in fetches]
    assert paths[0] == "/analytics/loader.js"
    assert any(p.startswith("/analytics/v/") and p.endswith("/runtime.js") for p in paths)
    assert page.evaluate("document.querySelectorAll('script[src*=\"/runtime.js\"]').length") == 1
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    events = collector.events(anonymousId=anonymous_id)
    tracks = [e for e in events if e["type"] == "track"]
    assert [(e["event"], e["properties"], e.get("userId")) for e in tracks] == [("Inline", {"early": True}, "u-inline")]
    # Queued before boot, so stamped with the time of the call, not of the replay.
    assert [e["context"]["page"]["path"] for e in events if e["type"] == "page"] == ["/t/inline.html"]
    assert visitrail_lines(record, "warning") == visitrail_lines(record, "error") == []


@pytest.mark.runtimes("mpy")
def test_the_snippet_runs_under_a_csp_that_names_its_hash(page, site, collector, record):
    # No 'unsafe-inline' and no 'unsafe-eval': the hash `visitrail assets snippet` prints allows
    # the stub, MicroPython needs only 'wasm-unsafe-eval'; any other inline script stays blocked.
    page.goto(site.url + "/t/inline-csp.html")
    # (Not wait_for_function: its predicate is evaluated with eval, which this policy forbids.)
    assert page.evaluate("analytics.ready().then(() => analytics.flush())") is True
    assert page.evaluate("window.otherInlineRan") is None
    anonymous_id = page.evaluate("analytics.user().anonymousId()")
    assert [e["event"] for e in collector.events(anonymousId=anonymous_id) if e["type"] == "track"] == ["Inline"]
    assert visitrail_lines(record, "warning") == []
    # The browser reports the page's own blocked inline script, nothing of the snippet's.
    assert any("Content Security Policy" in text for _, text in record.console)


def test_a_snippet_without_data_loader_keeps_the_page_working(page, site, collector, record):
    page.goto(site.url + "/t/inline-no-loader.html")
    # The page's calls went into the stub without throwing; it says once that the SDK did not
    # start, and fetches nothing from the collector.
    wait_for(lambda: visitrail_lines(record, "warning"), what="the stub's warning")
    assert visitrail_lines(record, "warning") == ["[visitrail] the SDK runtime did not start; calls stay queued"]
    assert page.evaluate("analytics._q.map(c => c[0])") == ["page", "identify", "track"]  # the loader's page view first
    assert page.evaluate(COLLECTOR_FETCHES, collector.url) == []
    assert record.errors == []
