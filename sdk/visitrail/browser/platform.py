"""The Platform for a browser page: localStorage, cookies, fetch, beacons, timers, page events.

Written once against the FFI shim (browser/ffi.py) and run unchanged on PyScript + MicroPython,
PyScript + Pyodide and Brython. Data crosses the boundary as strings and numbers, or as JSON text.

A fact of MicroPython (PyScript's build, 1.28) shapes this module: a JS integer crosses as 32 bits,
in both directions, so a number beyond +-2**31 (epoch milliseconds) must cross as text, or not at
all (ffi.now_ms reads MicroPython's own clock).
"""

import json

from ..core.platform import Platform, QuotaError, Store
from . import ffi
from .ffi import JsError, create_proxy, document, is_nullish, js_call, js_obj, js_set, then, window

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable

# -- Stores ------------------------------------------------------------------------------------


class LocalStore(Store):
    """localStorage. Where storage is blocked, `window.localStorage` itself throws; that, and a
    full quota on setItem, reach the core (which falls back) as JsError."""

    name = "localStorage"

    def __init__(self) -> "None":
        self._storage: "Any" = None  # the JS Storage object, once asked for

    def _js(self) -> "Any":
        if self._storage is None:
            self._storage = js_call(window, "localStorage")
        return self._storage

    def get(self, key: "str") -> "str | None":
        value = js_call(self._js(), "getItem", key)
        return None if is_nullish(value) else value

    def set(self, key: "str", value: "str") -> "None":
        try:
            js_call(self._js(), "setItem", key, value)
        except JsError as exc:
            if "quota" in str(exc).lower():
                raise QuotaError(str(exc)) from exc
            raise

    def remove(self, key: "str") -> "None":
        js_call(self._js(), "removeItem", key)

    def keys(self) -> "list[str]":
        storage = self._js()
        return [js_call(storage, "key", i) for i in range(js_call(storage, "length"))]


class CookieStore(Store):
    """First-party cookies: `key=URI-encoded value; Path=/; SameSite=Lax; Max-Age=...`."""

    name = "cookie"

    def __init__(self, domain: "str | None", max_age_s: "int") -> "None":
        attrs = "; Path=/; SameSite=Lax"
        if domain:
            attrs += "; Domain=" + domain
        if window.location.protocol == "https:":
            attrs += "; Secure"
        self._attrs = attrs
        self._max_age_s = max_age_s

    def get(self, key: "str") -> "str | None":
        for part in js_call(document, "cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == key:
                decoded: "str" = js_call(window, "decodeURIComponent", value)  # a JS string crosses as str
                return decoded
        return None

    def set(self, key: "str", value: "str") -> "None":
        encoded = js_call(window, "encodeURIComponent", value)
        self._write(key + "=" + encoded + self._attrs + "; Max-Age=" + str(self._max_age_s))
        # The browser drops a cookie silently (cookies disabled, a Domain that does not match,
        # over 4 KB): say so, so that the core can fall back to another store.
        if self.get(key) != value:
            raise JsError("cookie " + key + " was not stored")

    def remove(self, key: "str") -> "None":
        self._write(key + "=" + self._attrs + "; Max-Age=0")

    def _write(self, cookie: "str") -> "None":
        js_set(document, "cookie", cookie)


# -- The platform ------------------------------------------------------------------------------


def _retry_after_s(value: "Any") -> "int | None":
    if is_nullish(value):
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None  # an HTTP date: rare enough to ignore


class WebPlatform(Platform):
    """The browser Platform; see the module docstring."""

    def __init__(self) -> "None":
        self._listeners: "dict[str, list[Callable[..., None]]]" = {}
        self._nav_page: "dict[str, Any] | None" = None  # during "navigate" listeners: the page navigated to

    # Clock and randomness

    def now_ms(self) -> "int":
        return ffi.now_ms()

    def random_bytes(self, n: "int") -> "bytes":
        array = window.Uint8Array.new(n)
        window.crypto.getRandomValues(array)
        return bytes([array[i] for i in range(n)])

    # Storage

    def local_store(self) -> "LocalStore":
        return LocalStore()

    def cookie_store(self, domain: "str | None" = None, max_age_s: "int" = 31536000) -> "CookieStore":
        return CookieStore(domain, max_age_s)

    # Network

    def send(
        self,
        url: "str",
        body: "str",
        on_done: "Callable[[int, int | None, str | None], None]",
        credentialed: "bool" = False,
    ) -> "None":
        done = [False]

        def finish(status: "int", retry_after_s: "int | None", text: "str | None" = None) -> "None":
            if done[0]:
                return
            done[0] = True
            try:
                on_done(status, retry_after_s, text)
            except Exception as exc:  # never let a core bug become an unhandled rejection
                self.log("error", "send callback failed: " + repr(exc))

        def on_response(response: "Any") -> "None":
            try:
                status, retry = int(response.status), _retry_after_s(response.headers.get("Retry-After"))
            except Exception:
                finish(0, None)
                return
            # The body says why events were refused (an expired identity token, say).
            then(
                response.text(),
                lambda text: finish(status, retry, text if isinstance(text, str) else None),
                lambda error: finish(status, retry),
            )

        def on_error(error: "Any") -> "None":
            finish(0, None)

        init = js_obj(
            {
                "method": "POST",
                "headers": {"Content-Type": "text/plain"},
                # A keepalive request survives the page being closed, up to 64 KiB in flight.
                "keepalive": len(body.encode()) < 60000,
                # A collector of the site's own domain (same-site) gets the site's cookies, so that
                # it can refresh the visitor's; any other collector gets none.
                "credentials": "include" if credentialed else "omit",
            }
        )
        init.body = body
        # fetch() reports every failure (bad URL, CORS, offline, keepalive quota) by rejecting.
        then(window.fetch(url, init), on_response, on_error)

    def beacon(self, url: "str", body: "str") -> "bool":
        try:
            return bool(js_call(window.navigator, "sendBeacon", url, body))
        except JsError:  # an invalid URL
            return False

    # Timers and page lifecycle

    def set_timeout(self, fn: "Callable[[], None]", ms: "int") -> "Any":
        return ffi.set_timeout(fn, ms)

    def clear_timeout(self, handle: "Any") -> "None":
        ffi.clear_timeout(handle)

    def listen(self, name: "str", fn: "Callable[..., None]") -> "None":
        fns = self._listeners.get(name)
        if fns is None:
            fns = self._listeners[name] = []
            self._subscribe(name, fns)
        fns.append(fn)

    def _subscribe(self, name: "str", fns: "list[Callable[..., None]]") -> "None":
        def fire(*args: "Any") -> "None":
            for fn in fns:
                try:
                    fn(*args)
                except Exception as exc:
                    self.log("error", name + " handler failed: " + repr(exc))

        if name == "hide":
            # Hidden (tab switch, minimised) may be the last chance to send on mobile; pagehide is
            # the page being left for good (or for the back/forward cache). The core beacons on
            # both and marks its queue closed only on the second.
            def on_visibility(event: "Any") -> "None":
                if document.visibilityState == "hidden":
                    fire(False)

            document.addEventListener("visibilitychange", create_proxy(on_visibility))
            window.addEventListener("pagehide", create_proxy(lambda event: fire(True)))
        elif name == "online":
            window.addEventListener("online", create_proxy(lambda event: fire()))
        elif name == "storage":

            def on_storage(event: "Any") -> "None":
                key, value = event.key, event.newValue
                fire(None if is_nullish(key) else key, None if is_nullish(value) else value)

            window.addEventListener("storage", create_proxy(on_storage))
        elif name == "navigate":
            # pushState/replaceState are wrapped in JS, by runtime.js's `analytics._nav` (native.py's
            # copy on a page without the tag): a Python wrapper would turn an `undefined` URL
            # argument into null, which the browser reads as "/null". It hands over the page as it
            # was when the navigation happened; page() answers with it while the listeners run.
            def on_navigate(page_json: "Any" = None) -> "None":
                self._nav_page = json.loads(page_json) if isinstance(page_json, str) else None
                try:
                    fire()
                finally:
                    self._nav_page = None

            hook = getattr(ffi.helpers, "_nav", None)
            if hook is not None:
                hook(create_proxy(on_navigate))
            else:
                window.addEventListener("popstate", create_proxy(lambda event: on_navigate()))
        elif name == "link":
            self._follow_links(fns)
        elif name == "engaged":
            # What engaged() reads (visibilityState, hasFocus) may have changed. The hide listener
            # above is a listener of its own on visibilitychange: the core reads the page's state
            # itself on both, so their order does not matter.
            def on_change(event: "Any") -> "None":
                fire()

            document.addEventListener("visibilitychange", create_proxy(on_change))
            for kind in ("focus", "blur"):
                window.addEventListener(kind, create_proxy(on_change))

    def _follow_links(self, fns: "list[Callable[..., Any]]") -> "None":
        # In the capture phase, before the page's own handlers and before the browser follows the
        # link: the href is changed in place, at the moment of the click (the linker's token holds
        # the time it was made). A middle click (auxclick) opens a tab: the same.
        def on_click(event: "Any") -> "None":
            try:
                target = js_call(event, "target")
                anchor = None if is_nullish(target) else js_call(target, "closest", "a[href]")
                if is_nullish(anchor):
                    return
                href = js_call(anchor, "href")
                for fn in fns:
                    new = fn(href)
                    if isinstance(new, str) and new != href:
                        js_set(anchor, "href", new)
                        href = new
            except Exception as exc:  # a text node's click, an SVG link: never the page's problem
                self.log("debug", "link not decorated: " + repr(exc))

        for kind in ("click", "auxclick"):
            document.addEventListener(kind, create_proxy(on_click), True)

    def is_online(self) -> "bool":
        return bool(window.navigator.onLine)

    # Attention (core/engagement.py)

    def engaged(self) -> "bool":
        try:
            return js_call(document, "visibilityState") == "visible" and js_call(document, "hasFocus") is True
        except JsError:
            return False

    def scroll_depth(self, reset: "bool" = False) -> "int":
        # runtime.js keeps the deepest point in JS (`_sd`: a scroll event per frame is no work for
        # Python); native.py's helpers have the same.
        if ffi.helpers is None:
            return 0
        try:
            depth = js_call(ffi.helpers, "_sd", 1 if reset else 0)
        except JsError:
            return 0
        return int(depth) if isinstance(depth, (int, float)) else 0

    def uptime_ms(self) -> "int":
        try:
            return int(js_call(window.performance, "now"))
        except (JsError, TypeError, ValueError):
            return 0

    # Page and console

    def page(self) -> "dict[str, Any]":
        if self._nav_page is not None:
            return dict(self._nav_page)
        location = window.location
        return {
            "path": location.pathname,
            "url": location.href.split("#")[0],
            "title": document.title,
            "referrer": document.referrer,
            "search": location.search,
        }

    def replace_url(self, url: "str") -> "None":
        # The page's history state is kept: a single-page app's router may hold its own there.
        history = window.history
        js_call(history, "replaceState", js_call(history, "state"), "", url)

    def environment(self) -> "dict[str, Any]":
        return {
            "locale": window.navigator.language,
            "timezone": window.Intl.DateTimeFormat.new().resolvedOptions().timeZone,
            # A browser driven by automation (WebDriver, Playwright, Puppeteer) says so; the core
            # sends it as context.automation, and the collector decides what it means.
            "automation": js_call(window.navigator, "webdriver") is True,
        }

    def log(self, level: "str", message: "str") -> "None":
        console = window.console
        method = console.log
        if level == "error":
            method = console.error
        elif level == "warn":
            method = console.warn
        elif level == "info":
            method = console.info
        elif level == "debug":
            method = console.debug
        method("[visitrail] " + message)
