"""Engaged time and scroll depth of each page view, sent as a track named `Page Left`:

    track("Page Left", {"engagedMs": 12400, "scrollDepth": 85, "path": "/pricing",
                        "url": "https://www.example.com/pricing?plan=pro"})

- A page view starts when the page does (the time of the automatic page view the loader queued as
  the tag ran; without one, the document's start) and at every single-page-app navigation.
- engagedMs: milliseconds the page was visible **and** focused (not wall-clock time). Before the
  SDK is up nothing can watch the page: that stretch counts as engaged when the page is engaged
  once the SDK is up (a visitor who switched away and back while the runtime booted is counted
  as engaged meanwhile).
- scrollDepth: the deepest point the bottom of the viewport reached, 0-100 of the page's height
  (100 for a page that fits), kept by the platform (runtime.js watches scroll events in JS).
- path and url: the page view's (the page left), like the event's context.page.
- When: once per page view, at the first of hide (visibilitychange to hidden), pagehide, or a
  single-page-app navigation. A page hidden and then shown again sends nothing more until it is
  left (pagehide) or navigated away from: then one more Page Left, with what came after the first
  (its engagedMs is the engaged time since that one, so a page view's Page Lefts add up; its
  scrollDepth the deepest point of the whole page view), if anything did (engaged time, or a
  deeper scroll). Hidden again without being left sends nothing.
- The client calls hide() before the delivery beacons the queue on the same hide (client.py), so
  the Page Left goes out in that beacon: it arrives when the tab is closed.
- data-engagement="false": no Engagement at all.

The event is recorded like any call (recorder.py: consent, session, shape); only its properties
are made here.
"""

from . import links

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

    from .platform import Platform

PAGE_LEFT = "Page Left"


class Engagement:
    """emit(properties, page): records the Page Left of the page view on `page`."""

    def __init__(self, platform: "Platform", emit: "Callable[[dict[str, Any], dict[str, Any]], object]") -> "None":
        self.platform = platform
        self.emit = emit
        self.view: "dict[str, Any] | None" = None  # the page of the page view, as its page view had it
        self.engaged_ms = 0  # engaged time not yet reported, up to `since`
        self.since: "int | None" = None  # when the engaged stretch under way began, or None
        self.reported = False  # a Page Left of this page view went out
        self.reported_depth = 0
        self.left = False  # pagehide came: the clock waits for the page to come back (bfcache)

    def begin(self, page: "Any", start_ms: "int | None" = None, new_view: "bool" = True) -> "None":
        """A page view on `page` starts (at start_ms, or now). new_view: a navigation, whose
        scroll depth starts from the position now (not at the SDK's start: the page's first view
        keeps what the platform saw before)."""
        now = self.platform.now_ms()
        self.view = page if isinstance(page, dict) else {}
        self.engaged_ms = 0
        self.reported = False
        self.reported_depth = 0
        self.left = False
        self.since = None
        if new_view:
            self.platform.scroll_depth(True)
        if self.platform.engaged():
            self.since = now if start_ms is None else min(now, int(start_ms))

    def changed(self) -> "None":
        """The page's visibility or focus changed (the platform's "engaged" event)."""
        self.left = False
        self._sync(self.platform.now_ms())

    def hide(self, final: "bool") -> "None":
        """The page is hidden (final=False) or left (pagehide, final=True)."""
        if self.view is None:
            return
        now = self.platform.now_ms()
        self._sync(now)
        if not self.reported or (final and self._news(now)):
            self._send(now)
        if final:
            self.left = True  # nothing more counts until the page comes back (the bfcache)
            self.since = None

    def navigate(self, page: "Any") -> "None":
        """A single-page-app navigation to `page`: the page view left ends, a new one starts."""
        if self.view is None:
            return
        now = self.platform.now_ms()
        self._sync(now)
        if not self.reported or self._news(now):
            self._send(now)
        self.begin(page)

    # -----------------------------------------------------------------------------------------

    def _sync(self, now: "int") -> "None":
        engaged = not self.left and self.platform.engaged()
        if self.since is not None and not engaged:
            self.engaged_ms += max(0, now - self.since)
            self.since = None
        elif self.since is None and engaged:
            self.since = now

    def _pending(self, now: "int") -> "int":
        return self.engaged_ms + (max(0, now - self.since) if self.since is not None else 0)

    def _depth(self) -> "int":
        depth = self.platform.scroll_depth(False)
        if not isinstance(depth, (int, float)) or isinstance(depth, bool) or depth != depth:
            return 0
        return int(max(0, min(100, depth)))

    def _news(self, now: "int") -> "bool":
        return self._pending(now) > 0 or self._depth() > self.reported_depth

    def _send(self, now: "int") -> "None":
        view = self.view or {}
        depth = self._depth()
        properties: "dict[str, Any]" = {
            "engagedMs": self._pending(now),
            "scrollDepth": depth,
            "path": view.get("path") if isinstance(view.get("path"), str) else "",
            "url": links.without_token(view.get("url")) if isinstance(view.get("url"), str) else "",
        }
        self.engaged_ms = 0
        if self.since is not None:
            self.since = now
        self.reported = True
        self.reported_depth = depth
        self.emit(properties, view)
