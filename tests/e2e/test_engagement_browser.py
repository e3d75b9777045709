"""Page Left in a real browser: engaged time (visible and focused) on Playwright's clock, the
deepest scroll, the beacon of a closed tab, hidden and shown again, a single-page-app navigation,
and data-engagement="false"."""

import pytest

from .helpers import epoch_ms, pause_clock, scroll_to, set_focus, set_visibility, wait_for

pytestmark = pytest.mark.e2e

PAGE_LEFT = "Page Left"


def visitor(page):
    return page.evaluate("analytics.user().anonymousId()")


def events_of(collector, anonymous_id, count, what):
    return wait_for(
        lambda: (lambda e: e if len(e) >= count else None)(collector.events(anonymousId=anonymous_id)),
        what=what,
    )


def page_lefts(events):
    return [e for e in events if e["type"] == "track" and e["event"] == PAGE_LEFT]


@pytest.mark.pyodide
def test_page_left_counts_the_time_visible_and_focused_and_the_deepest_scroll(open_page, context, collector, site):
    context.clock.install()
    page = open_page("engagement.html")
    deepest = scroll_to(page, 2000)
    scroll_to(page, 0)
    assert 0 < deepest < 100
    ready_at = pause_clock(context, page)
    # The scripted timeline: 5 s engaged, 3 s visible without the focus, 4 s engaged, then hidden.
    context.clock.run_for(5000)
    set_focus(page, False)
    context.clock.run_for(3000)
    set_focus(page, True)
    context.clock.run_for(4000)
    set_visibility(page, "hidden")  # the Page Left goes out in the hide's beacon
    anonymous_id = visitor(page)
    events = events_of(collector, anonymous_id, 2, "the page view and its Page Left")
    (view,) = [e for e in events if e["type"] == "page"]
    (left,) = page_lefts(events)
    # Engaged from the tag's page view until the runtime was up (the page was visible and
    # focused), then 5 s + 4 s: within a second of that.
    expected = ready_at - epoch_ms(view["originalTimestamp"]) + 9000
    assert abs(left["properties"]["engagedMs"] - expected) <= 1000, (left["properties"], expected)
    assert left["properties"]["scrollDepth"] == deepest
    assert left["properties"]["path"] == "/t/engagement.html"
    assert left["properties"]["url"] == site.url + "/t/engagement.html"
    assert left["context"]["page"]["path"] == "/t/engagement.html"
    assert left["context"]["sessionId"] == view["context"]["sessionId"]

    # Shown again, hidden again: nothing more; left: what came after, 2 s.
    set_visibility(page, "visible")
    context.clock.run_for(2000)
    set_visibility(page, "hidden")
    set_visibility(page, "visible")
    context.clock.run_for(500)
    page.close()
    second = wait_for(
        lambda: (lambda e: e if len(e) >= 2 else None)(page_lefts(collector.events(anonymousId=anonymous_id))),
        what="the second Page Left",
    )
    assert len(second) == 2
    later = [e for e in second if e["messageId"] != left["messageId"]][0]
    assert abs(later["properties"]["engagedMs"] - 2500) <= 1000
    assert later["properties"]["scrollDepth"] == deepest


@pytest.mark.pyodide
def test_closing_the_tab_sends_page_left_in_the_last_beacon(open_page, context, collector):
    posts = []
    context.on("request", lambda r: posts.append(r.post_data or "") if r.url.endswith("/v1/batch") else None)
    page = open_page("engagement.html")
    # The calls queued before the SDK was up (the loader's page view) go at once; from then on
    # batches wait 10 minutes.
    assert page.evaluate("analytics.flush()") is True
    page.evaluate("analytics.track('Read to the end')")
    anonymous_id = visitor(page)
    sent_before_close = list(posts)
    page.close()
    events = events_of(collector, anonymous_id, 3, "the page view, the track and the Page Left")
    (left,) = page_lefts(events)
    assert left["properties"]["path"] == "/t/engagement.html" and left["properties"]["engagedMs"] >= 0
    assert 0 < left["properties"]["scrollDepth"] <= 100
    # Batches wait 10 minutes on this page: these came in the pagehide beacon.
    assert not [b for b in sent_before_close if "Read to the end" in b or PAGE_LEFT in b]


def test_a_single_page_app_navigation_sends_the_page_left_of_the_page_it_leaves(open_page, site, collector):
    page = open_page("plain.html")
    page.evaluate("history.pushState({}, '', '/t/plain.html?step=2')")
    anonymous_id = visitor(page)
    events = events_of(collector, anonymous_id, 3, "two page views and a Page Left")
    ordered = sorted(events, key=lambda e: e["context"]["sessionSequence"])
    assert [(e["type"], e["context"]["page"]["search"]) for e in ordered] == [
        ("page", ""),
        ("track", ""),  # the Page Left of the page left, before the new page view
        ("page", "?step=2"),
    ]
    assert ordered[1]["event"] == PAGE_LEFT
    assert ordered[1]["properties"]["url"] == site.url + "/t/plain.html"
    assert ordered[1]["properties"]["scrollDepth"] == 100  # the page fits in the window


def test_data_engagement_false_sends_no_page_left(open_page, context, collector):
    posts = []
    context.on("request", lambda r: posts.append(r.post_data or "") if r.url.endswith("/v1/batch") else None)
    page = open_page("no-engagement.html")
    set_visibility(page, "hidden")
    set_visibility(page, "visible")
    page.evaluate("history.pushState({}, '', '/t/no-engagement.html?step=2')")
    page.evaluate("analytics.track('Still here')")
    anonymous_id = visitor(page)
    page.close()  # "Still here" goes in the beacon a Page Left would have gone in
    events = wait_for(
        lambda: (lambda e: e if any(x.get("event") == "Still here" for x in e) else None)(
            collector.events(anonymousId=anonymous_id)
        ),
        what="the track sent on close",
    )
    assert page_lefts(events) == []
    assert not [b for b in posts if PAGE_LEFT in b]
