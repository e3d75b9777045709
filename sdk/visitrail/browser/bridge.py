"""The SDK from the page's own Python: `from visitrail import analytics`.

    <script type="mpy">                       (or type="py" with Pyodide, "text/python" with Brython)
    from visitrail import analytics
    analytics.identify("u1", {"plan": "pro"})
    analytics.track("Clicked", {"button": "buy"})
    analytics.user().id()                      # "u1"
    </script>

The same calls, arguments and answers as `window.analytics` in JS, because that is what they call:
the loader's object, which copies the arguments, queues them until the SDK is up and then hands
them to boot.py's client. One client, one queue, one consent and Do Not Track decision for JS and
Python alike. Like the JS calls, these never raise: a problem is one console error.

The page's script must run in the SDK's interpreter, which it does when it has no config of its
own (the tag's config then applies to it), or with Brython.

Without the tag, on a page that runs PyScript itself and installed the SDK the PyScript way,
`visitrail.analytics` is not this bridge but a client of the page's own (target(), native.py).
"""

import json

from .ffi import RUNTIME, is_nullish, js_apply, then, window

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable


def tagged() -> "bool":
    """Is window.analytics Visitrail's (the tag's loader.js)?"""
    stub = getattr(window, "analytics", None)
    return not is_nullish(stub) and bool(getattr(stub, "_vt", None))


def _stub() -> "Any":
    if not tagged():
        raise RuntimeError("window.analytics is not Visitrail's: add the Visitrail tag (loader.js) to the page")
    return window.analytics


_target: "list[Any]" = []


def target() -> "Any":
    """What `visitrail.analytics` stands for in this page, decided once: this bridge to
    window.analytics when the tag is there (or on Brython, which has no PyScript config), else the
    SDK's own client in this interpreter, configured by the page's PyScript config (native.py,
    which the tag never ships)."""
    if not _target:
        if tagged() or RUNTIME == "brython":
            _target.append(analytics)
        else:
            try:
                from .native import start

                _target.append(start())
            except Exception as exc:  # never into the page: one error, then calls that do nothing
                window.console.error("[visitrail] the SDK failed to start: " + repr(exc))
                _target.append(_Off())
    return _target[0]


class _Off:
    """`visitrail.analytics` when the SDK could not start: every call does nothing, answers None."""

    def __getattr__(self, name: "str") -> "Any":
        if name == "consent":
            return self
        return lambda *args: self if name in ("user", "session") else None


def _py(value: "Any") -> "Any":
    if is_nullish(value):
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.loads(window.JSON.stringify(value))


def _call(path: "list[str]", args: "Iterable[Any]") -> "Any":
    """window.analytics.<path>(*args), the answer as plain Python; never raises. A "name()" step
    calls a getter-object factory on the way: ["user()", "id"] is analytics.user().id()."""
    try:
        this = _stub()
        for name in path[:-1]:
            if name.endswith("()"):
                this = js_apply(getattr(this, name[:-2]), this, [])
            else:
                this = getattr(this, name)
        return _py(js_apply(getattr(this, path[-1]), this, list(args)))
    except Exception as exc:
        window.console.error("[visitrail] " + ".".join(path) + "(): " + str(exc))
        return None


class _Getters:
    """What analytics.user() and analytics.session() return: getters, as in JS."""

    def __init__(self, owner: "str", names: "Iterable[str]") -> "None":
        for name in names:
            setattr(self, name, _getter(owner, name))


def _getter(owner: "str", name: "str") -> "Callable[[], Any]":
    return lambda: _call([owner + "()", name], [])


class _Consent:
    def grant(self) -> "None":
        _call(["consent", "grant"], [])

    def deny(self) -> "None":
        _call(["consent", "deny"], [])


class Analytics:
    """`window.analytics`, from Python. flush() and ready() return the JS Promise (awaitable on
    PyScript) and take an optional callback; the rest returns what the JS call returns."""

    def __init__(self) -> "None":
        self.consent = _Consent()

    def identify(self, *args: "Any") -> "Any":
        return _call(["identify"], args)

    def track(self, *args: "Any") -> "Any":
        return _call(["track"], args)

    def page(self, *args: "Any") -> "Any":
        return _call(["page"], args)

    def group(self, *args: "Any") -> "Any":
        return _call(["group"], args)

    def alias(self, *args: "Any") -> "Any":
        return _call(["alias"], args)

    def reset(self) -> "Any":
        return _call(["reset"], [])

    def rotate(self) -> "Any":
        return _call(["rotate"], [])

    def setAnonymousId(self, *args: "Any") -> "Any":
        return _call(["setAnonymousId"], args)

    def debug(self, *args: "Any") -> "Any":
        return _call(["debug"], args)

    def user(self) -> "_Getters":
        return _Getters("user", ("anonymousId", "id", "traits"))

    def session(self) -> "_Getters":
        return _Getters("session", ("id",))

    def flush(self, callback: "Callable[[Any], object] | None" = None) -> "Any":
        return self._promise("flush", callback)

    def ready(self, callback: "Callable[[Any], object] | None" = None) -> "Any":
        return self._promise("ready", callback)

    def _promise(self, name: "str", callback: "Callable[[Any], object] | None") -> "Any":
        stub = _stub()
        promise = js_apply(getattr(stub, name), stub, [])
        if callback is not None:
            then(promise, lambda value=None: callback(_py(value)), lambda error=None: None)
        return promise


analytics = Analytics()
