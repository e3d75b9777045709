"""What the end-to-end tests share: the collector's keys, and waiting on a condition. Tests import
these from here, never from conftest.py."""

import threading
import time

WRITE_KEY = "e2e-key"
ADMIN_TOKEN = "e2e-admin-token"


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
