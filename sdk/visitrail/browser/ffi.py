"""The FFI shim: the only module that knows which browser runtime it runs on.

    runtime       window / document               callbacks to JS        JS null arrives as
    MicroPython   pyscript.window.window          create_proxy           None
    Pyodide       pyscript.window.window          create_proxy, once     pyodide.ffi.jsnull
    Brython       browser.window                  plain Python callable  NullType

browser/platform.py is written against the names below and runs unchanged on all three. Rules that
make that work: data crosses as strings, numbers or JSON text (`js_obj` out, JSON.stringify in),
never by iterating a JS object or calling dict() on it (an uncatchable JS TypeError on
MicroPython); null checks use `is_nullish`; every JS call that may throw goes through `js_call`.

A JS exception does not become a Python exception on MicroPython: it unwinds through the
interpreter, past every `except`, to the JS that called into Python. So `js_call` uses
`analytics._x` (defined by web/runtime.js), which catches it in JS, and raises JsError here.
"""

import json

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

try:  # only Brython has a `browser` module
    import browser
except ImportError:
    browser = None

if browser is not None:
    RUNTIME = "brython"
    window = browser.window
    document = window.document

    def create_proxy(fn: "Callable[..., Any]") -> "Any":
        # Brython wraps a Python callable handed to JS itself, and keeps it alive.
        return fn

    once = create_proxy

    def now_ms() -> "int":
        # Brython's `time` module is a Python module of its own (and pulls in more); JS's clock
        # is the same clock, and its integers cross whole.
        return int(window.Date.now())

else:
    import time

    try:
        import pyscript

        # no-redef: a page-only module (untyped for mypy) gives the name the other branch defines.
        from pyscript.ffi import create_proxy  # type: ignore[no-redef]

        # pyscript.window is the `js` module. On MicroPython a function looked up on that module is
        # called with a wrong `this` ("TypeError: Illegal invocation" from window.setTimeout(...));
        # its `window` attribute is a plain JS object proxy that behaves, on both interpreters.
        window = pyscript.window.window
        document = pyscript.document
    except ImportError:  # MicroPython started by runtime.js itself, without PyScript
        import js
        from jsffi import create_proxy  # type: ignore[no-redef]

        window = js.window
        document = window.document

    try:  # Pyodide: a Python callable passed to JS must be a proxy that outlives the call
        from pyodide.ffi import create_once_callable as once  # type: ignore[no-redef]

        RUNTIME = "pyodide"
    except ImportError:
        RUNTIME = "micropython"
        once = create_proxy

    def now_ms() -> "int":
        # Not window.Date.now(): MicroPython carries a JS integer across as 32 bits, so an epoch
        # in ms arrives wrapped. Its own clock reads the same JS clock, as a 64-bit integer.
        return time.time_ns() // 1000000


# JS null and undefined as this runtime hands them over: None, jsnull (Pyodide), NullType or
# UndefinedType (Brython), an `undefined` object (MicroPython). Never pass them back to JS.
JSNULL = window.JSON.parse("null")
JSUNDEFINED = window.Reflect.get(window.Object.new(), "undefined")


def is_nullish(value: "object") -> "bool":
    """True for JS null and undefined, whatever form they take in this runtime."""
    return value is None or value is JSNULL or value is JSUNDEFINED


class JsError(Exception):
    """A JS exception, caught in JS by js_call; its message is the JS error's text."""


# The JS helpers web/runtime.js defines on window.analytics: `_x` (js_call, below) and `_nav`
# (platform.py's "navigate" event). A page without the tag has no runtime.js: native.py builds the
# same and hands them over (use_helpers) before the platform is made.
helpers = getattr(window, "analytics", None)
_catching = getattr(helpers, "_x", None)


def use_helpers(obj: "Any") -> "None":
    global helpers, _catching
    helpers, _catching = obj, obj._x


def js_call(obj: "Any", name: "str", *args: "Any") -> "Any":
    """obj[name](*args) when that is a function, else the property obj[name] itself; a JS
    exception raised there becomes JsError. Without the helpers (a page without the tag, before
    native.py set them) the call is made directly: fine on Pyodide and Brython, unguarded on
    MicroPython."""
    if _catching is None:
        value = getattr(obj, name)
        return value(*args) if args else value
    result = _catching(obj, name, *args)
    if isinstance(result, str):
        raise JsError(result)
    return result[0]


def js_set(obj: "Any", name: "str", value: "Any") -> "None":
    """obj[name] = value; a JS exception raised there (a setter) becomes JsError."""
    if _catching is None:
        setattr(obj, name, value)
    else:
        js_call(window.Reflect, "set", obj, name, value)


def then(promise: "Any", on_value: "Callable[..., object]", on_error: "Callable[..., object]") -> "Any":
    """promise.then(on_value, on_error): one of the two runs, once. On Pyodide both are
    once-callables: the one that runs releases itself, and releases the other."""
    if RUNTIME != "pyodide":
        return promise.then(create_proxy(on_value), create_proxy(on_error))
    pair: "list[Any]" = []

    def settle(fn: "Callable[..., object]", other: "int") -> "Callable[..., object]":
        def run(arg: "Any" = None) -> "object":
            pair[other].destroy()
            return fn(arg)

        return run

    pair.append(once(settle(on_value, 1)))
    pair.append(once(settle(on_error, 0)))
    return promise.then(pair[0], pair[1])


def js_obj(value: "Any") -> "Any":
    """A plain JS object (or array) from JSON-able Python data, nested ones too, the same on every
    runtime (Brython's own conversion of a nested dict breaks fetch's `headers`)."""
    return window.JSON.parse(json.dumps(value))


def js_apply(fn: "Any", this: "Any", args: "Iterable[Any]") -> "Any":
    """fn.apply(this, args) with a Python list of JSON-able arguments."""
    return window.Reflect.apply(fn, this, js_obj(list(args)))


# Timers. On Pyodide a callable handed to setTimeout is a once-callable, released after its run;
# one whose timer is cleared never runs, so it is kept here until then and released on clear.
_timers: "dict[Any, Any]" = {}  # setTimeout handle -> its once-callable


def set_timeout(fn: "Callable[[], None]", ms: "int") -> "Any":
    if RUNTIME != "pyodide":
        return window.setTimeout(create_proxy(lambda *_: fn()), ms)
    handle: "list[Any]" = []

    def fire(*_: "Any") -> "None":
        _timers.pop(handle[0], None)
        fn()

    callback = once(fire)
    handle.append(window.setTimeout(callback, ms))
    _timers[handle[0]] = callback
    return handle[0]


def clear_timeout(handle: "Any") -> "None":
    window.clearTimeout(handle)
    callback = _timers.pop(handle, None)
    if callback is not None:
        callback.destroy()
