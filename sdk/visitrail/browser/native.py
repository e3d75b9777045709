"""The SDK on a PyScript page without the tag: `from visitrail import analytics` is then a client
of this interpreter's own, configured by the page's PyScript config.

    <script type="py" config='{"packages": ["visitrail-sdk"],
                               "visitrail": {"write_key": "KEY", "endpoint": "https://collect.example.com"}}'>
    from visitrail import analytics
    analytics.identify("u1", {"plan": "pro"})
    </script>

(MicroPython: the collector's module manifest in `packages` instead, see README.md, "Runtimes".)

The same calls, arguments and answers as the bridge (bridge.py), made straight to a core Client on
the browser Platform, the tag's options read from the config's "visitrail" section
(core/options.from_config). What the tag adds is not here: no stub queue (the client is up as soon
as the package is imported, which starts it: visitrail/__init__.py), no last-chance beacon of calls
made before it was up, no window.analytics for the page's JavaScript. Never raises into the page:
a config without a write key or endpoint is one console error, and every call then does nothing.
build.py leaves this module out of the tag's files: only this way of installing uses it.
"""

from ..core import options, page_config
from ..core.client import Client
from . import ffi
from .ffi import is_nullish, once, then, window
from .platform import WebPlatform

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

P = "[visitrail] "

# What web/runtime.js defines on window.analytics for ffi.py and platform.py, here for a page
# without it, built with Function (PyScript itself needs 'unsafe-eval'): `_x` (ffi.js_call: on
# MicroPython a JS exception can only be caught in JS), `_nav` (the "navigate" event, with
# loader.js's `_p`) and `_sd` (Page Left's scroll depth). Keep them in step with runtime.js.
HELPERS_JS = (
    "var a={};"
    "a._x=function(o,p,x,y,z){try{var v=o[p];return[typeof v=='function'?v.call(o,x,y,z):v]}"
    "catch(e){return''+e}};"
    "a._p=function(){var l=location;return{path:l.pathname,url:l.href.replace(/#.*/,''),"
    "title:document.title,referrer:document.referrer,search:l.search}};"
    "a._nav=function(cb){function n(){var p=JSON.stringify(a._p());setTimeout(function(){cb(p)})}"
    "['pushState','replaceState'].forEach(function(k){var f=history[k];"
    "history[k]=function(){var r=f.apply(this,arguments);n();return r}});"
    "addEventListener('popstate',n)};"
    "var deep=0;function depth(){var e=document.documentElement,"
    "h=Math.max(e.scrollHeight,document.body?document.body.scrollHeight:0);"
    "return deep=Math.max(deep,h?Math.min(100,Math.round((scrollY+innerHeight)*100/h)):100)}"
    "addEventListener('scroll',depth,{passive:true});"
    "a._sd=function(r){if(r)deep=0;return depth()};"
    "return a"
)


def pyscript_config() -> "Any":
    """The config PyScript started this interpreter with (`pyscript.config`, a dict), or None."""
    try:
        import pyscript

        return pyscript.config
    except Exception:  # not PyScript
        return None


def _plain(value: "Any") -> "Any":
    # JS null and undefined, as the runtime hands them over, are None; the core checks the rest.
    return None if is_nullish(value) else value


def _promise() -> "tuple[Any, Callable[[Any], object]]":
    """A JS Promise (awaitable on PyScript), and the function that resolves it."""
    box: "list[Any]" = []
    promise = window.Promise.new(once(lambda resolve, reject=None: box.append(resolve)))
    return promise, box[0]


class _Getters:
    def __init__(self, owner: "NativeAnalytics", prefix: "str", names: "Iterable[str]") -> "None":
        for name in names:
            setattr(self, name, _getter(owner, prefix + "." + name))


def _getter(owner: "NativeAnalytics", method: "str") -> "Callable[[], Any]":
    return lambda: owner._call(method, ())


class _Consent:
    def __init__(self, owner: "NativeAnalytics") -> "None":
        self._owner = owner

    def grant(self) -> "None":
        self._owner._call("consent.grant", ())

    def deny(self) -> "None":
        self._owner._call("consent.deny", ())


class NativeAnalytics:
    """The bridge's API over a client in this interpreter. `client` is None when the SDK is off
    (no usable config, or Do Not Track with respect_dnt): calls do nothing, getters answer None,
    flush() resolves to `idle_ok`."""

    def __init__(self, client: "Client | None", idle_ok: "bool" = False) -> "None":
        self.client = client
        self.idle_ok = idle_ok
        self.consent = _Consent(self)

    def _call(self, method: "str", args: "Iterable[Any]") -> "Any":
        if self.client is None:
            return None
        return self.client.call(method, [_plain(a) for a in args], None)  # never raises

    def identify(self, *args: "Any") -> "Any":
        return self._call("identify", args)

    def track(self, *args: "Any") -> "Any":
        return self._call("track", args)

    def page(self, *args: "Any") -> "Any":
        return self._call("page", args)

    def group(self, *args: "Any") -> "Any":
        return self._call("group", args)

    def alias(self, *args: "Any") -> "Any":
        return self._call("alias", args)

    def reset(self, *args: "Any") -> "Any":
        return self._call("reset", args)

    def rotate(self) -> "Any":
        return self._call("rotate", ())

    def setAnonymousId(self, *args: "Any") -> "Any":
        return self._call("setAnonymousId", args)

    def debug(self, *args: "Any") -> "Any":
        return self._call("debug", args)

    def user(self) -> "_Getters":
        return _Getters(self, "user", ("anonymousId", "id", "traits"))

    def session(self) -> "_Getters":
        return _Getters(self, "session", ("id",))

    def flush(self, callback: "Callable[[Any], object] | None" = None) -> "Any":
        """A Promise of True once everything queued so far is acknowledged (False if given up)."""
        promise, resolve = _promise()
        self._then(promise, callback)
        if self.client is None:
            resolve(self.idle_ok)
        else:

            def done(ok: "bool") -> "None":
                resolve(bool(ok))

            self.client.flush(done)
        return promise

    def ready(self, callback: "Callable[[Any], object] | None" = None) -> "Any":
        """The client is up as soon as it exists: a Promise resolved now."""
        promise, resolve = _promise()
        self._then(promise, callback)
        resolve(None)
        return promise

    def _then(self, promise: "Any", callback: "Callable[[Any], object] | None") -> "None":
        if callback is None:
            return

        def run(value: "Any" = None) -> "None":
            try:
                callback(_plain(value))
            except Exception as exc:
                window.console.error(P + "a flush() or ready() callback failed: " + repr(exc))

        then(promise, run, lambda error=None: None)


def _do_not_track() -> "bool":
    navigator = window.navigator
    return getattr(navigator, "doNotTrack", None) == "1" or getattr(navigator, "globalPrivacyControl", None) is True


def start(config: "Any" = None) -> "NativeAnalytics":
    """The client for this page, from its PyScript config (`pyscript.config` unless given)."""
    try:
        opts, warnings, error = page_config.from_config(pyscript_config() if config is None else config)
        for warning in warnings:
            window.console.warn(P + warning)
        if error is not None:
            window.console.error(P + error + "; the SDK is off")
            return NativeAnalytics(None)
        if options.flag(opts.pop("respectDnt", None), False) and _do_not_track():
            window.console.info(P + "Do Not Track / Global Privacy Control: nothing is stored or sent")
            return NativeAnalytics(None, True)
        ffi.use_helpers(window.Function.new(HELPERS_JS)())
        client = Client(WebPlatform(), opts)
        client.start()
        return NativeAnalytics(client)
    except Exception as exc:
        window.console.error(P + "the SDK failed to start: " + repr(exc))
        return NativeAnalytics(None)
