"""Page Left: engaged time (visible and focused) and scroll depth of each page view, on the memory
platform's clock; the automatic page view the loader queued. Plain asserts: these run on
MicroPython too."""

from support import deliver, options

from visitrail.core.client import Client
from visitrail.memory import MemoryPlatform, World

SECOND = 1000
LANDING = {"path": "/a", "url": "http://127.0.0.1:8000/a?x=1", "title": "A", "referrer": "", "search": "?x=1"}
NEXT = {"path": "/b", "url": "http://127.0.0.1:8000/b", "title": "B", "referrer": "", "search": ""}


def client(world=None, start=True, **extra):
    world = world or World()
    p = MemoryPlatform(world, page=dict(LANDING))
    o = options(engagement=True)
    for k, v in extra.items():
        o[k] = v
    c = Client(p, o)
    if start:
        c.start()
    return c, p, world


def left(world):
    return [e for e in deliver(world) if e["type"] == "track" and e["event"] == "Page Left"]


def blur(p):
    p.focused = False
    p.emit("engaged")


def focus(p):
    p.focused = True
    p.emit("engaged")


def hide(p, engaged_first=True):
    """visibilitychange to hidden: the platform's two listeners, in either order."""
    p.visible = False
    if engaged_first:
        p.emit("engaged")
        p.emit("hide", False)
    else:
        p.emit("hide", False)
        p.emit("engaged")


def show(p):
    p.visible = True
    p.emit("engaged")


def test_engaged_time_counts_only_while_visible_and_focused():
    for engaged_first in (True, False):
        c, p, w = client()
        w.advance(5 * SECOND)
        blur(p)
        w.advance(3 * SECOND)  # visible, not focused: not engaged
        focus(p)
        w.advance(4 * SECOND)
        hide(p, engaged_first)
        w.advance(60 * SECOND)  # hidden
        p.emit("hide", True)  # and left while hidden: nothing more to say
        (event,) = left(w)
        assert event["properties"] == {
            "engagedMs": 9 * SECOND,
            "scrollDepth": 0,
            "path": "/a",
            "url": "http://127.0.0.1:8000/a?x=1",
        }
        assert event["context"]["page"]["path"] == "/a"


def test_hidden_then_shown_sends_nothing_more_until_the_page_is_left():
    c, p, w = client()
    w.advance(2 * SECOND)
    hide(p)
    show(p)
    w.advance(3 * SECOND)
    hide(p)  # hidden again, not left: nothing
    show(p)
    w.advance(1 * SECOND)
    assert [e["properties"]["engagedMs"] for e in left(w)] == [2 * SECOND]
    p.emit("hide", True)  # left: what came after the first, which adds up to the page view's time
    assert [e["properties"]["engagedMs"] for e in left(w)] == [2 * SECOND, 4 * SECOND]


def test_a_tab_closed_while_visible_sends_page_left_in_the_last_beacon():
    c, p, w = client(flushInterval="600000")  # nothing goes out but the beacon
    c.call("track", ["Read"])
    w.advance(7 * SECOND)
    p.emit("hide", True)  # pagehide first (a closed tab), then visibilitychange
    hide(p)
    assert w.sent == []
    beaconed = [m for b in w.beacons for m in b["batch"]]
    assert [m.get("event") for m in beaconed] == ["Read", "Page Left"]
    assert beaconed[1]["properties"]["engagedMs"] == 7 * SECOND
    assert len([m for m in beaconed if m.get("event") == "Page Left"]) == 1


def test_scroll_depth_is_the_deepest_point_reached():
    c, p, w = client()
    p.scroll_to(20)
    p.scroll_to(85)
    p.scroll_to(10)
    p.emit("hide", True)
    (event,) = left(w)
    assert event["properties"]["scrollDepth"] == 85


def test_a_deeper_scroll_after_a_hide_is_news_when_the_page_is_left():
    c, p, w = client()
    p.scroll_to(30)
    hide(p)
    p.visible = True  # shown, but the window has no focus: no engaged time
    p.emit("engaged")
    p.scroll_to(90)
    p.emit("hide", True)
    assert [(e["properties"]["engagedMs"], e["properties"]["scrollDepth"]) for e in left(w)] == [(0, 30), (0, 90)]


def test_a_single_page_app_navigation_ends_the_page_view():
    c, p, w = client(autoPage=True)
    p.scroll_to(60)
    w.advance(4 * SECOND)
    p.current_page = dict(NEXT)
    p.depth = 25  # the new route, scrolled to the top
    p.emit("navigate")
    w.advance(6 * SECOND)
    p.scroll_to(40)
    p.emit("hide", True)
    events = deliver(w)
    shapes = [(e["type"], e.get("event"), e["context"]["page"]["path"]) for e in events]
    assert shapes == [
        ("page", None, "/a"),
        ("track", "Page Left", "/a"),  # the page left, before the new page view
        ("page", None, "/b"),
        ("track", "Page Left", "/b"),
    ]
    first, second = events[1]["properties"], events[3]["properties"]
    assert first == {"engagedMs": 4 * SECOND, "scrollDepth": 60, "path": "/a", "url": LANDING["url"]}
    assert second == {"engagedMs": 6 * SECOND, "scrollDepth": 40, "path": "/b", "url": NEXT["url"]}
    assert len({e["context"]["sessionId"] for e in events}) == 1


def test_data_engagement_false_sends_no_page_left():
    c, p, w = client(engagement="false", autoPage=True)
    w.advance(3 * SECOND)
    hide(p)
    p.current_page = dict(NEXT)
    p.emit("navigate")
    p.emit("hide", True)
    assert [e["type"] for e in deliver(w)] == ["page", "page"]


def test_page_left_waits_for_consent_like_any_call():
    c, p, w = client(consent="pending")
    w.advance(2 * SECOND)
    hide(p)
    assert deliver(w) == []
    c.call("consent.grant")
    (event,) = left(w)
    assert event["properties"]["engagedMs"] == 2 * SECOND


def test_the_loaders_page_view_is_replayed_first_and_not_made_again():
    w = World()
    tag_ran = w.now
    w.advance(3 * SECOND)  # the runtime boots
    c, p, _ = client(w, start=False, autoPage=True)
    c.call("page", [], {"timestamp": tag_ran, "messageId": "loader-page", "page": dict(LANDING)})
    c.call("identify", ["u1"], {"timestamp": tag_ran + 1, "messageId": "m2", "page": dict(LANDING)})
    c.start({"timestamp": tag_ran, "page": dict(LANDING)}, True)
    w.advance(2 * SECOND)
    p.emit("hide", True)
    events = deliver(w)
    assert [(e["type"], e["messageId"]) for e in events[:2]] == [("page", "loader-page"), ("identify", "m2")]
    assert [e["type"] for e in events].count("page") == 1
    # Engaged since the tag ran: the page was engaged when the SDK came up.
    assert events[-1]["event"] == "Page Left" and events[-1]["properties"]["engagedMs"] == 5 * SECOND


def test_without_the_loaders_page_view_the_sdk_makes_it_and_counts_from_the_documents_start():
    w = World()
    c, p, _ = client(w, start=False, autoPage=True)
    p.uptime = 1500  # performance.now(): the document started before the SDK
    c.start()
    w.advance(SECOND)
    p.emit("hide", True)
    page, page_left = deliver(w)
    assert page["type"] == "page" and page_left["properties"]["engagedMs"] == 2500


def test_a_page_not_engaged_when_the_sdk_came_up_counts_from_when_it_is():
    w = World()
    tag_ran = w.now
    w.advance(3 * SECOND)
    c, p, _ = client(w, start=False)
    p.visible = False  # opened in a background tab
    c.start({"timestamp": tag_ran, "page": dict(LANDING)}, True)
    w.advance(10 * SECOND)
    show(p)
    w.advance(2 * SECOND)
    p.emit("hide", True)
    (event,) = left(w)
    assert event["properties"]["engagedMs"] == 2 * SECOND


def test_the_bfcache_brings_the_page_view_back():
    c, p, w = client()
    w.advance(SECOND)
    p.emit("hide", True)  # pagehide into the back/forward cache, still "visible"
    w.advance(30 * SECOND)  # in the cache: not engaged
    p.emit("engaged")  # pageshow: visible and focused again
    w.advance(2 * SECOND)
    p.emit("hide", True)
    assert [e["properties"]["engagedMs"] for e in left(w)] == [SECOND, 2 * SECOND]
