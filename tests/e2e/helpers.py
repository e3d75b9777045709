"""What the end-to-end tests share: the collector's keys, and waiting on a condition. Tests import
these from here, never from conftest.py."""

import threading
import time
from datetime import UTC, datetime, timedelta

WRITE_KEY = "e2e-key"
ADMIN_TOKEN = "e2e-admin-token"


def epoch_ms(iso):
    """An ISO timestamp the SDK wrote, as whole epoch ms. By integer arithmetic: int(timestamp() *
    1000) reads ...24.938 as ...24937 (a float product), which once made a 100 ms backoff 99 ms."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pause_clock(context, page):
    """From now on the page's time moves only as the test moves it (after `context.clock.install()`);
    returns the page's now. A second ahead: until paused the fake clock flows with real time, and
    pausing at a moment it has already passed fails ("Cannot fast-forward to the past")."""
    now = page.evaluate("Date.now()")
    context.clock.pause_at(datetime.fromtimestamp(now / 1000 + 1, tz=UTC))
    return page.evaluate("Date.now()")


# -- Waiting on conditions -----------------------------------------------------------------------


# Playwright's sync API delivers events (console, request, route handlers) only while the test is
# inside one of its calls. wait_for makes one cheap call per try, so that waiting on a condition
# that depends on them (a route handler, a console line) works.
pump = [None]  # set by conftest.py's `record` fixture


def wait_for(condition, timeout_s=15.0, interval_s=0.05, what="the condition"):
    """Call condition() until it returns something truthy, and return that; fail at the deadline.
    The pause between tries is the polling interval, not a guess at how long something takes."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    last = None
    while True:
        if pump[0] is not None:
            pump[0]()
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last value: {last!r}")
        pause.wait(interval_s)


# -- The page's attention, scripted ---------------------------------------------------------------

# Headless Chromium keeps every page visible and focused. A test says otherwise the way the browser
# would: the state that document.visibilityState / document.hasFocus() read, then the event.
_VISIBILITY = """state => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
}"""
_FOCUS = """on => {
    document.hasFocus = () => on;
    window.dispatchEvent(new Event(on ? "focus" : "blur"));
}"""
_SCROLL = """y => new Promise(resolve => {
    if (window.scrollY === y) return resolve();
    addEventListener("scroll", () => resolve(), { once: true });
    scrollTo(0, y);
})"""


def set_visibility(page, state):
    """The page becomes `state`, "hidden" or "visible", as a tab switch makes it (visibilitychange)."""
    page.evaluate(_VISIBILITY, state)


def set_focus(page, on):
    """The window gains (True) or loses (False) the focus (focus, blur)."""
    page.evaluate(_FOCUS, on)


def scroll_to(page, y):
    """Scrolls the page to y px and waits for its scroll event; returns the depth that is then
    (the viewport's bottom, in % of the page's height)."""
    page.evaluate(_SCROLL, y)
    return page.evaluate("Math.round((scrollY + innerHeight) * 100 / document.documentElement.scrollHeight)")
