"""Delivery in a real browser: offline, a collector's bad minute, leaving the page at once (while
the runtime boots and after), a reload mid-flush, two tabs. Nothing lost, nothing stored twice."""

import json
from urllib.parse import urlsplit

import pytest

from visitrail.core import backoff

from .helpers import epoch_ms, pause_clock, wait_for

pytestmark = pytest.mark.e2e

READY = "window.analytics && window.analytics._q === 0"
# Events waiting in every tab's persisted queue (localStorage visitrail_queue_<tab>).
QUEUED = """Object.keys(localStorage).filter(k => k.startsWith('visitrail_queue_'))
    .reduce((n, k) => n + JSON.parse(localStorage[k]).items.length, 0)"""


def tracks(collector, **filters):
    """The page's own tracks (not the SDK's Page Left of a page left during the test)."""
    return [e for e in collector.events(**filters) if e["type"] == "track" and e["event"] != "Page Left"]


def sent_batches(record):
    """The event messageIds of every /v1/batch request the pages made, request by request."""
    return [
        [m["messageId"] for m in json.loads(body)["batch"]] for url, body in record.posts if url.endswith("/v1/batch")
    ]


@pytest.fixture
def posts(context, record):
    record.posts = []
    context.on("request", lambda r: record.posts.append((r.url, r.post_data)) if r.method == "POST" else None)
    return record


@pytest.mark.pyodide
def test_200_events_tracked_offline_arrive_once_when_back_online(open_page, context, collector):
    page = open_page("plain.html")
    visitor = page.evaluate("analytics.user().anonymousId()")
    context.set_offline(True)
    page.evaluate("for (let i = 0; i < 200; i++) analytics.track('offline ' + i)")
    assert page.evaluate(QUEUED) >= 200
    context.set_offline(False)
    stored = wait_for(
        lambda: (lambda t: t if len(t) >= 200 else None)(tracks(collector, anonymousId=visitor)),
        timeout_s=30,
        what="200 tracks",
    )
    assert len(stored) == 200
    assert sorted(e["event"] for e in stored) == sorted(f"offline {i}" for i in range(200))
    assert len({e["messageId"] for e in stored}) == 200


@pytest.mark.pyodide
def test_a_bad_minute_at_the_collector_is_retried_with_backoff(open_page, context, collector, posts):
    context.clock.install()
    page = open_page("plain.html")
    page.evaluate("analytics.flush()")
    visitor = page.evaluate("analytics.user().anonymousId()")
    # From here fake time moves only as the test moves it, and not while a batch is on the wire: the
    # gap between two sends is then the SDK's backoff plus at most one step, however long a busy
    # machine takes to answer (with time flowing, a slow 503 stretched the gap past the ceiling).
    pause_clock(context, page)  # a second ahead: nothing is pending after the flush
    on_wire = []
    context.on("request", lambda r: on_wire.append(r) if r.url.endswith("/v1/batch") else None)
    context.on("requestfinished", lambda r: r in on_wire and on_wire.remove(r))
    context.on("requestfailed", lambda r: r in on_wire and on_wire.remove(r))
    collector.fail_next(3, 503)
    page.evaluate("analytics.track('During the outage')")

    def delivered():
        if not on_wire:
            context.clock.run_for(250)  # fake time moves only as far as the test lets it
        return tracks(collector, anonymousId=visitor)

    stored = wait_for(delivered, timeout_s=30, what="the track after three 503s")
    assert len(stored) == 1
    mine = stored[0]["messageId"]
    attempts = [json.loads(body)["sentAt"] for url, body in posts.posts if url.endswith("/v1/batch") and mine in body]
    assert len(attempts) == 4
    ms = [epoch_ms(t) for t in attempts]
    for n, (a, b) in enumerate(zip(ms, ms[1:], strict=False), 1):
        # Full jitter below the ceiling for attempt n, plus at most one run_for step of slack.
        assert backoff.FLOOR_MS <= b - a <= backoff.ceiling(n) + 500, (n, b - a)


@pytest.mark.parametrize("booted", [False, True], ids=["runtime-booting", "runtime-booted"])
def test_identify_and_track_then_leaving_at_once_loses_nothing(page, site, collector, booted, runtime):
    away = f"http://localhost:{urlsplit(site.url).port}/t/no-sdk.html"  # another origin
    held = []

    def hold(route):
        held.append(route)  # never answered: the runtime is still on its way when the page leaves

    for visit in range(20):
        user = f"leaver-{'b' if booted else 'n'}-{visit}"
        if not booted:
            page.route(runtime.binary, hold)
        page.goto(site.url + "/t/plain.html")
        if booted:
            page.wait_for_function(READY)
        page.evaluate(
            f"""u => {{
            analytics.identify(u, {{visit: true}});
            analytics.track('Signed up');
            location.href = '{away}';
        }}""",
            user,
        )
        page.wait_for_url(away)
        if not booted:
            page.unroute(runtime.binary)
        # The visitor comes back to the site.
        page.goto(site.url + "/t/plain.html")
        page.wait_for_function(READY)
        page.evaluate("analytics.flush()")
        got = wait_for(
            lambda: (lambda e: e if len([x for x in e if x["type"] in ("identify", "track")]) >= 2 else None)(
                collector.events(userId=user)
            ),
            what=f"identify and track of {user}",
        )
        assert sorted(e["type"] for e in got if e["type"] != "page" and e.get("event") != "Page Left") == [
            "identify",
            "track",
        ]


def test_a_reload_in_the_middle_of_a_flush_loses_nothing_and_stores_nothing_twice(page, site, collector):
    page.goto(site.url + "/t/plain.html")
    page.wait_for_function(READY)
    visitor = page.evaluate("analytics.user().anonymousId()")
    arrived = []

    def deliver_then_hang(route):
        route.fetch()  # the collector gets and stores the batch...
        arrived.append(route)  # ...but the page is gone before the answer comes back

    page.route("**/v1/batch", deliver_then_hang)
    page.evaluate("for (let i = 0; i < 30; i++) analytics.track('reload ' + i)")
    wait_for(lambda: arrived, what="the batch to reach the collector")
    page.unroute("**/v1/batch")
    page.reload()
    page.wait_for_function(READY)
    page.evaluate("analytics.flush()")
    stored = wait_for(
        lambda: (lambda t: t if len(t) >= 30 else None)(tracks(collector, anonymousId=visitor)), what="30 tracks"
    )
    names = [e["event"] for e in stored]
    assert sorted(names) == sorted(f"reload {i}" for i in range(30))
    wait_for(lambda: page.evaluate(QUEUED) == 0, what="an empty persisted queue")


@pytest.mark.pyodide
def test_two_tabs_share_one_queue_and_send_each_event_once(context, site, collector, posts):
    a = context.new_page()
    b = context.new_page()
    for p in (a, b):
        p.goto(site.url + "/t/plain.html")
        p.wait_for_function(READY)
    visitor = a.evaluate("analytics.user().anonymousId()")
    for i in range(20):
        (a if i % 2 else b).evaluate("n => analytics.track(n)", f"tab event {i}")
    stored = wait_for(
        lambda: (lambda t: t if len(t) >= 20 else None)(tracks(collector, anonymousId=visitor)), what="20 tracks"
    )
    assert sorted(e["event"] for e in stored) == sorted(f"tab event {i}" for i in range(20))
    ids = [i for batch in sent_batches(posts) for i in batch if i in {e["messageId"] for e in stored}]
    assert len(ids) == len(set(ids))  # no event went out from both tabs
