"""Visitrail: visitor, user and session identity on every event, from one script tag.

    visitrail/core/        the SDK itself, runtime-free: CPython, MicroPython, Pyodide, Brython
    visitrail/browser/     the page's glue (FFI, browser platform, boot, the page-Python bridge)
    visitrail/memory.py    the in-memory platform the core's tests run on
    visitrail/collector/   the collector: a CPython server, its CLI and `visitrail demo`

core/ and browser/ are what a page runs (build.py ships exactly those two folders). In a page,
`from visitrail import analytics` is window.analytics from Python when the tag is there
(browser/bridge.py); on a PyScript page without the tag, the SDK's own client, configured by the
page's PyScript config (browser/native.py), which starts when this package is imported, for the
page view. Elsewhere (the collector, the core's tests) importing it imports nothing of a browser.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any


class _Analytics:
    # Not a module __getattr__: MicroPython then stops `from . import submodule` short.
    def __getattr__(self, name: "str") -> "Any":
        from .browser.bridge import target

        return getattr(target(), name)


analytics = _Analytics()

# On a PyScript page, decided now, not at the first call: a page without the tag gets its page
# view on load. Not on Brython (asked first: `import sys` would make Brython fetch its sys.py), nor
# on CPython or on MicroPython in Node (the core's tests), which have no `pyscript`.
try:
    __BRYTHON__  # type: ignore[name-defined]  # noqa: B018, F821 (a builtin on Brython only)
except NameError:
    import sys

    if sys.platform in ("emscripten", "webassembly"):  # Pyodide, MicroPython's WebAssembly port
        try:
            import pyscript  # noqa: F401
        except ImportError:
            pass
        else:
            from .browser.bridge import target

            target()
