"""The one interface between the SDK core and the world outside it.

The core (client, identity, sessions, events, delivery) never touches a browser, a clock or a
socket directly: it asks a Platform. Adapters implement it:

    visitrail/browser/platform.py  a browser page, on every runtime (PyScript + MicroPython or
                                   Pyodide, Brython), through the FFI shim browser/ffi.py
    visitrail/memory.py            CPython and MicroPython tests: fake clock, dict stores, recorded sends

Like httpx's BaseTransport this is a plain class (MicroPython has no `abc.ABC` worth the name):
each method an adapter must provide raises NotImplementedError.

Rules every adapter keeps, because the core relies on them:
- nothing here raises into the core except Store.get/set/remove, whose errors the core catches
  to fall back to another store (blocked storage, quota);
- callbacks given to `send`, `set_timeout` and `listen` are called later, never re-entrantly
  from inside the call that registered them (except MemoryPlatform's synchronous mode, documented
  there);
- values crossing the boundary are plain Python: str, int, float, bool, None, list, dict.
"""

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable


class QuotaError(Exception):
    """Raised by Store.set when the browser refuses the write for lack of room
    (QuotaExceededError); any other exception means the store cannot be used at all."""


class Store:
    """A string key-value store: localStorage, a cookie jar, or memory.

    get() returns None for a missing key. Any method may raise: QuotaError when a write does not fit,
    anything else when the store is blocked; the core catches and falls back.
    """

    name = "store"

    def get(self, key: "str") -> "str | None":
        raise NotImplementedError

    def set(self, key: "str", value: "str") -> "None":
        raise NotImplementedError

    def remove(self, key: "str") -> "None":
        raise NotImplementedError

    def keys(self) -> "list[str]":
        """Every key in the store (the delivery queue looks for other tabs' queues)."""
        raise NotImplementedError


class MemoryStore(Store):
    """A store that lives as long as the page (or the test)."""

    name = "memory"

    def __init__(self, data: "dict[str, str] | None" = None) -> "None":
        self.data: "dict[str, str]" = {} if data is None else data

    def get(self, key: "str") -> "str | None":
        return self.data.get(key)

    def set(self, key: "str", value: "str") -> "None":
        self.data[key] = value

    def remove(self, key: "str") -> "None":
        self.data.pop(key, None)

    def keys(self) -> "list[str]":
        return list(self.data)


class Platform:
    """What a runtime gives the core. See the module docstring for the contract."""

    # Clock and randomness -------------------------------------------------------------------

    def now_ms(self) -> "int":
        """Wall-clock time, integer milliseconds since the Unix epoch."""
        raise NotImplementedError

    def random_bytes(self, n: "int") -> "bytes":
        """n cryptographically random bytes (crypto.getRandomValues in a browser)."""
        raise NotImplementedError

    # Storage -------------------------------------------------------------------------------

    def local_store(self) -> "Store | None":
        """The origin's persistent store (localStorage), or None when the runtime has none."""
        return None

    def cookie_store(self, domain: "str | None" = None, max_age_s: "int" = 31536000) -> "Store | None":
        """A store backed by cookies for `domain` (None: the current host), or None."""
        return None

    # Network -------------------------------------------------------------------------------

    def send(
        self,
        url: "str",
        body: "str",
        on_done: "Callable[[int, int | None, str | None], None]",
        credentialed: "bool" = False,
    ) -> "None":
        """POST `body` (a JSON string, sent as text/plain so no CORS preflight is needed).

        Calls on_done(status, retry_after_s, text) later: status is the HTTP status, 0 for a network
        error; retry_after_s is the Retry-After header in seconds, or None; text is the response
        body (the collector explains refusals there), or None. `credentialed`: with the site's
        cookies, for a collector of the site's own domain, which may then refresh them.
        """
        raise NotImplementedError

    def beacon(self, url: "str", body: "str") -> "bool":
        """Hand `body` to the browser to send even if the page is going away. True if queued."""
        return False

    # Timers and page lifecycle --------------------------------------------------------------

    def set_timeout(self, fn: "Callable[[], None]", ms: "int") -> "Any":
        """Call fn() once after ms milliseconds; returns a handle for clear_timeout."""
        raise NotImplementedError

    def clear_timeout(self, handle: "Any") -> "None":
        raise NotImplementedError

    def listen(self, name: "str", fn: "Callable[..., None]") -> "None":
        """Subscribe to a page event the core cares about:

        "hide"      the page is hidden (visibilitychange): fn(False); or left (pagehide): fn(True)
        "online"    the browser came back online: fn()
        "storage"   another tab changed localStorage: fn(key, new_value)
        "navigate"  a single-page-app navigation (pushState, replaceState, popstate): fn()
        "engaged"   the page may have become visible or hidden, focused or not (visibilitychange,
                    focus, blur): fn(); engaged() says what it is now
        "link"      a link is being followed (click, middle click): fn(href) -> the URL to follow
                    instead, or None to leave it (the cross-domain linker, links.py)
        """

    def is_online(self) -> "bool":
        return True

    # Attention (engagement.py) ----------------------------------------------------------------

    def engaged(self) -> "bool":
        """The page is visible and has the focus now."""
        return True

    def scroll_depth(self, reset: "bool" = False) -> "int":
        """The deepest point of the page that the bottom of the viewport has reached, 0-100 (100:
        the page fits). reset: from the position now on (a new page view of a single-page app)."""
        return 0

    def uptime_ms(self) -> "int":
        """Milliseconds since this document started (performance.now()); 0 where unknown."""
        return 0

    # Page and console -----------------------------------------------------------------------

    def page(self) -> "dict[str, Any]":
        """The page as seen now: {path, url, title, referrer, search}."""
        return {}

    def replace_url(self, url: "str") -> "None":
        """Show `url` in the address bar instead of the current one, with no navigation
        (history.replaceState): the linker takes its token out of it."""

    def environment(self) -> "dict[str, Any]":
        """Static facts for context: {locale, timezone} (never the user agent or IP)."""
        return {}

    def log(self, level: "str", message: "str") -> "None":
        """One console line; level is "error", "warn", "info" or "debug"."""
        print("[visitrail] " + level + ": " + message)
