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
    # B's write of the session's last activity reaches A's localStorage asynchronously.
    last = "JSON.parse(localStorage.visitrail_session).lastActivity"
    wait_for(lambda: a.evaluate(last) == b.evaluate(last), what="tab A to see tab B's activity")
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


def events_of(collector, page, count):
    """At least `count` stored events of the visitor of `page`, after a flush."""
    visitor = page.evaluate("analytics.user().anonymousId()")
    page.evaluate("analytics.flush()")
    return wait_for(
        lambda: (lambda e: e if len(e) >= count else None)(collector.events(anonymousId=visitor)),
        what=f"{count} events",
    )


def test_a_session_ends_at_its_maximum_length_however_active(context, site, collector):
    context.clock.install()
    page = context.new_page()
    page.goto(site.url + "/t/session-max.html")  # data-session-max-hours="1"
    page.wait_for_function(READY)
    track(page, "start")
    for minutes in (20, 40, 55):  # never idle for 30 minutes
        context.clock.fast_forward("20:00" if minutes < 55 else "15:00")
        track(page, f"at {minutes}")
    context.clock.fast_forward("06:00")  # an hour after the session started
    track(page, "past the hour")
    ids = stored_sessions(collector, page, ["start", "at 20", "at 40", "at 55", "past the hour"])
    assert len({ids["start"], ids["at 20"], ids["at 40"], ids["at 55"]}) == 1
    assert ids["past the hour"] != ids["start"]


@pytest.mark.pyodide
def test_identify_group_a_consent_grant_and_a_reload_keep_the_session(context, site, collector):
    page = context.new_page()
    page.goto(site.url + "/t/consent.html")  # data-consent="pending"; an identify and a track, held
    page.wait_for_function(READY)
    page.evaluate("analytics.consent.grant()")
    granted = session(page)
    page.evaluate("analytics.identify('consent-user', {seats: 3}); analytics.group('acme', {name: 'Acme'})")
    page.reload()
    page.wait_for_function(READY)
    track(page, "after the reload")
    events = events_of(collector, page, 9)
    kinds = sorted(e["type"] + " " + (e.get("event") or "") for e in events)
    assert kinds == [
        "group ",
        "identify ",
        "identify ",  # the reloaded page's identify is unchanged: not sent again
        "page ",
        "page ",
        "track Before consent",
        "track Before consent",  # the reloaded page's own
        "track Page Left",
        "track after the reload",
    ]
    assert {e["context"]["sessionId"] for e in events} == {granted}
    assert sorted(e["context"]["sessionSequence"] for e in events) == list(range(1, 10))


def test_reset_and_rotate_start_new_sessions(tabs, collector):
    (page,) = tabs(1)
    track(page, "first")
    page.evaluate("analytics.rotate()")
    track(page, "after rotate")
    page.evaluate("analytics.reset({keepAnonymousId: true})")
    track(page, "after reset")
    ids = stored_sessions(collector, page, ["first", "after rotate", "after reset"])
    assert len(set(ids.values())) == 3


def test_five_tabs_no_event_without_a_session_and_one_session_per_idle_window(tabs, context, collector):
    pages = tabs(5)
    windows = []
    for window in range(3):
        names = [f"window {window} event {i}" for i in range(10)]
        for i, name in enumerate(names):
            track(pages[(i * 3 + window) % 5], name)
            context.clock.fast_forward("02:00")
        windows.append(names)
        context.clock.fast_forward("31:00")  # idle in every tab: the next event starts a session
    for p in pages:
        p.evaluate("analytics.flush()")
    ids = stored_sessions(collector, pages[0], [n for names in windows for n in names])
    per_window = [{ids[n] for n in names} for names in windows]
    assert all(len(s) == 1 for s in per_window), per_window
    assert len({next(iter(s)) for s in per_window}) == 3
    visitor = pages[0].evaluate("analytics.user().anonymousId()")
    stored = collector.events(anonymousId=visitor)
    assert stored and all(e["context"].get("sessionId") for e in stored)  # page views too
