"""Sessions in real tabs of one browser, with Playwright's clock instead of real waiting."""

import pytest

from .helpers import wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"


@pytest.fixture
def tabs(context, site, collector):
    """tabs(n) -> n ready pages of plain.html in one browser context, on a fake clock."""
    context.clock.install()

    def open_(n):
        pages = []
        for _ in range(n):
            p = context.new_page()
            p.goto(site.url + "/t/plain.html")
            p.wait_for_function(READY)
            pages.append(p)
        return pages

    return open_


def session(page):
    return page.evaluate("analytics.session().id()")


def track(page, name):
    page.evaluate("n => analytics.track(n)", name)


def stored_sessions(collector, page, names):
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")

    def found():
        events = {e["event"]: e for e in collector.events(anonymousId=visitor) if e["type"] == "track"}
        return events if all(n in events for n in names) else None

    events = wait_for(found, what=f"tracks {names}")
    return {n: events[n]["context"]["sessionId"] for n in names}


@pytest.mark.pyodide
def test_two_tabs_share_one_session(tabs):
    a, b = tabs(2)
    track(a, "A")
    shared = session(a)
    assert shared is not None
    wait_for(lambda: session(b) == shared, what="tab B to see tab A's session")


def test_activity_in_one_tab_keeps_the_other_tabs_session_alive(tabs, context, collector):
    a, b = tabs(2)
    track(a, "minute 0")
    context.clock.fast_forward("20:00")
    track(b, "minute 20")
    context.clock.fast_forward("20:00")
    track(a, "minute 40")
    ids = stored_sessions(collector, a, ["minute 0", "minute 20", "minute 40"])
    assert len(set(ids.values())) == 1


@pytest.mark.pyodide
def test_after_31_idle_minutes_the_next_event_starts_a_session_both_tabs_see(tabs, context, collector):
    a, b = tabs(2)
    track(a, "before")
    old = session(a)
    context.clock.fast_forward("31:00")
    track(b, "after idle")
    new = session(b)
    assert new != old
    # localStorage reaches another renderer process a moment later: wait for it, not a guess.
    wait_for(lambda: session(a) == new, what="tab A to see the new session")
    ids = stored_sessions(collector, b, ["before", "after idle"])
    assert ids == {"before": old, "after idle": new}


def test_rotate_in_one_tab_changes_the_session_seen_in_the_other(tabs):
    a, b = tabs(2)
    track(a, "x")
    before = session(b)
    a.evaluate("analytics.rotate()")
    rotated = session(a)
    assert rotated != before
    wait_for(lambda: session(b) == rotated, what="tab B to see the rotated session")


def test_five_tabs_crossing_the_timeout_together_make_one_new_session(tabs, context, collector):
    pages = tabs(5)
    track(pages[0], "start")
    old = session(pages[0])
    context.clock.fast_forward("30:01")
    # All five fire in the same moment, each from its own page.
    for i, p in enumerate(pages):
        p.evaluate("n => setTimeout(() => analytics.track(n))", f"tab {i}")
    context.clock.run_for(1)
    ids = stored_sessions(collector, pages[0], [f"tab {i}" for i in range(5)])
    assert len(set(ids.values())) == 1 and old not in ids.values()


@pytest.mark.pyodide
def test_page_views_on_load_and_on_single_page_navigation(tabs, collector):
    (page,) = tabs(1)
    page.evaluate("history.pushState({}, '', '/t/plain.html?step=2')")
    page.evaluate("document.title = 'Step 3'; history.pushState({}, '', '/t/checkout')")
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    views = wait_for(
        lambda: (lambda v: v if len(v) >= 3 else None)(
            [e for e in collector.events(anonymousId=visitor) if e["type"] == "page"]
        ),
        what="three page views",
    )
    by_url = {v["context"]["page"]["path"] + v["context"]["page"]["search"]: v for v in views}
    assert set(by_url) == {"/t/plain.html", "/t/plain.html?step=2", "/t/checkout"}
    assert by_url["/t/checkout"]["context"]["page"]["title"] == "Step 3"
    assert len({v["context"]["sessionId"] for v in views}) == 1
    assert [v["context"]["sessionSequence"] for v in views] == sorted(v["context"]["sessionSequence"] for v in views)
