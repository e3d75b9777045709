"""The Platform for a browser page under PyScript (MicroPython now, Pyodide next).

Everything that differs between the runtimes' FFIs ends in the shim just below; the rest of the
module is written against it. Data crosses the boundary as strings and numbers, or as JSON text:
on MicroPython a JS object must never be iterated or passed to dict(), and on Pyodide JS null is
`jsnull`, not None.

Two MicroPython facts (PyScript's build, 1.28) shape this module:
- a JS integer crosses as 32 bits, in both directions: a number beyond +-2**31 (epoch
  milliseconds) must cross as text, or not at all (now_ms reads MicroPython's own clock);
- a JS exception is not turned into a Python exception: it unwinds through the interpreter, past
  every `except`, to the JS that called into Python. So every JS call that can throw (blocked
  storage or cookies, a malformed cookie, a bad URL) goes through `js_call`, which uses the
  loader's `analytics._x` to catch it in JS and raises JsError here.
"""

import json
import time

import pyscript
from pyscript.ffi import create_proxy

from ..platform import Platform, QuotaError, Store

# -- FFI shim ----------------------------------------------------------------------------------

# pyscript.window is the `js` module. On MicroPython a function looked up on that module is
# called with a wrong `this` ("TypeError: Illegal invocation" from window.setTimeout(...) or
# window.addEventListener(...)); its `window` attribute is a plain JS object proxy that behaves.
window = pyscript.window.window
document = pyscript.document

JSNULL = window.JSON.parse("null")


def is_nullish(value):
    return value is None or value is JSNULL


class JsError(Exception):
    """A JS exception, caught in JS by js_call; its message is the JS error's text."""


_catching = getattr(getattr(window, "analytics", None), "_x", None)


def js_call(obj, name, *args):
    """obj[name](*args) when that is a function, else the property obj[name] itself; a JS
    exception raised there becomes JsError. Without the loader (a page that imports the SDK from
    its own Python) the call is made directly: fine on Pyodide, unguarded on MicroPython."""
    if _catching is None:
        value = getattr(obj, name)
        return value(*args) if args else value
    result = _catching(obj, name, *args)
    if isinstance(result, str):
        raise JsError(result)
    return result[0]


def js_obj(value):
    """A plain JS object (or array) from JSON-able Python data: identical on every runtime."""
    return window.JSON.parse(json.dumps(value))


try:  # Pyodide: a proxy for a one-shot callback, released after its call
    from pyodide.ffi import create_once_callable as once
except ImportError:  # MicroPython
    once = create_proxy


# -- Stores ------------------------------------------------------------------------------------


class LocalStore(Store):
    """localStorage. Where storage is blocked, `window.localStorage` itself throws; that, and a
    full quota on setItem, reach the core (which falls back) as JsError."""

    name = "localStorage"

    def __init__(self):
        self._storage = None

    def _js(self):
        if self._storage is None:
            self._storage = js_call(window, "localStorage")
        return self._storage

    def get(self, key):
        value = js_call(self._js(), "getItem", key)
        return None if is_nullish(value) else value

    def set(self, key, value):
        try:
            js_call(self._js(), "setItem", key, value)
        except JsError as exc:
            if "quota" in str(exc).lower():
                raise QuotaError(str(exc))
            raise

    def remove(self, key):
        js_call(self._js(), "removeItem", key)

    def keys(self):
        storage = self._js()
        return [js_call(storage, "key", i) for i in range(js_call(storage, "length"))]


class CookieStore(Store):
    """First-party cookies: `key=URI-encoded value; Path=/; SameSite=Lax; Max-Age=...`."""

    name = "cookie"

    def __init__(self, domain, max_age_s):
        attrs = "; Path=/; SameSite=Lax"
        if domain:
            attrs += "; Domain=" + domain
        if window.location.protocol == "https:":
            attrs += "; Secure"
        self._attrs = attrs
        self._max_age_s = max_age_s

    def get(self, key):
        for part in js_call(document, "cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == key:
                return js_call(window, "decodeURIComponent", value)
        return None

    def set(self, key, value):
        encoded = js_call(window, "encodeURIComponent", value)
        self._write(key + "=" + encoded + self._attrs + "; Max-Age=" + str(self._max_age_s))
        # The browser drops a cookie silently (cookies disabled, a Domain that does not match,
        # over 4 KB): say so, so that the core can fall back to another store.
        if self.get(key) != value:
            raise JsError("cookie " + key + " was not stored")

    def remove(self, key):
        self._write(key + "=" + self._attrs + "; Max-Age=0")

    def _write(self, cookie):
        if _catching is None:
            document.cookie = cookie
        else:
            js_call(window.Reflect, "set", document, "cookie", cookie)


# -- The platform ------------------------------------------------------------------------------


def _retry_after_s(value):
    if is_nullish(value):
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None  # an HTTP date: rare enough to ignore


class PyScriptPlatform(Platform):
    def __init__(self):
        self._listeners = {}
        self._nav_page = None  # during "navigate" listeners: the page navigated to

    # Clock and randomness

    def now_ms(self):
        # Not window.Date.now(): MicroPython carries a JS integer across as 32 bits, so an epoch
        # in ms arrives wrapped. Its own clock reads the same JS clock, as a 64-bit integer.
        return time.time_ns() // 1000000

    def random_bytes(self, n):
        array = window.Uint8Array.new(n)
        window.crypto.getRandomValues(array)
        return bytes([array[i] for i in range(n)])

    # Storage

    def local_store(self):
        return LocalStore()

    def cookie_store(self, domain=None, max_age_s=31536000):
        return CookieStore(domain, max_age_s)

    # Network

    def send(self, url, body, on_done):
        done = [False]

        def finish(status, retry_after_s, text=None):
            if done[0]:
                return
            done[0] = True
            try:
                on_done(status, retry_after_s, text)
            except Exception as exc:  # never let a core bug become an unhandled rejection
                self.log("error", "send callback failed: " + repr(exc))

        def on_response(response):
            try:
                status, retry = int(response.status), _retry_after_s(response.headers.get("Retry-After"))
            except Exception:
                finish(0, None)
                return
            # The body says why events were refused (an expired identity token, say).
            response.text().then(once(lambda text: finish(status, retry, text if isinstance(text, str) else None)),
                                 once(lambda error: finish(status, retry)))

        def on_error(error):
            finish(0, None)

        init = js_obj(
            {
                "method": "POST",
                "headers": {"Content-Type": "text/plain"},
                # A keepalive request survives the page being closed, up to 64 KiB in flight.
                "keepalive": len(body.encode()) < 60000,
                "credentials": "omit",
            }
        )
        init.body = body
        # fetch() reports every failure (bad URL, CORS, offline, keepalive quota) by rejecting.
        window.fetch(url, init).then(once(on_response), once(on_error))

    def beacon(self, url, body):
        try:
            return bool(js_call(window.navigator, "sendBeacon", url, body))
        except JsError:  # an invalid URL
            return False

    # Timers and page lifecycle

    def set_timeout(self, fn, ms):
        return window.setTimeout(once(lambda *_: fn()), ms)

    def clear_timeout(self, handle):
        window.clearTimeout(handle)

    def listen(self, name, fn):
        fns = self._listeners.get(name)
        if fns is None:
            fns = self._listeners[name] = []
            self._subscribe(name, fns)
        fns.append(fn)

    def _subscribe(self, name, fns):
        def fire(*args):
            for fn in fns:
                try:
                    fn(*args)
                except Exception as exc:
                    self.log("error", name + " handler failed: " + repr(exc))

        if name == "hide":
            # Hidden (tab switch, minimised) may be the last chance to send on mobile; pagehide is
            # the page being left for good (or for the back/forward cache). The core beacons on
            # both and marks its queue closed only on the second.
            def on_visibility(event):
                if document.visibilityState == "hidden":
                    fire(False)

            document.addEventListener("visibilitychange", create_proxy(on_visibility))
            window.addEventListener("pagehide", create_proxy(lambda event: fire(True)))
        elif name == "online":
            window.addEventListener("online", create_proxy(lambda event: fire()))
        elif name == "storage":

            def on_storage(event):
                key, value = event.key, event.newValue
                fire(None if is_nullish(key) else key, None if is_nullish(value) else value)

            window.addEventListener("storage", create_proxy(on_storage))
        elif name == "navigate":
            # pushState/replaceState are wrapped by the loader, in JS: a Python wrapper would
            # turn an `undefined` URL argument into null, which the browser reads as "/null".
            # The loader hands over the page as it was when the navigation happened; page()
            # answers with it while the listeners run.
            def on_navigate(page_json=None):
                self._nav_page = json.loads(page_json) if isinstance(page_json, str) else None
                try:
                    fire()
                finally:
                    self._nav_page = None

            hook = getattr(getattr(window, "analytics", None), "_nav", None)
            if hook is not None:
                hook(create_proxy(on_navigate))
            else:
                window.addEventListener("popstate", create_proxy(lambda event: on_navigate()))

    def is_online(self):
        return bool(window.navigator.onLine)

    # Page and console

    def page(self):
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

    def environment(self):
        return {
            "locale": window.navigator.language,
            "timezone": window.Intl.DateTimeFormat.new().resolvedOptions().timeZone,
        }

    def log(self, level, message):
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
