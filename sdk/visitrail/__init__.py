"""Visitrail: visitor, user and session identity on every event, from one script tag.

    visitrail/core/        the SDK itself, runtime-free: CPython, MicroPython, Pyodide, Brython
    visitrail/browser/     the page's glue (FFI, browser platform, boot, the page-Python bridge)
    visitrail/memory.py    the in-memory platform the core's tests run on
    visitrail/collector/   the collector: a CPython server, its CLI and `visitrail demo`

core/ and browser/ are what a page runs (build.py ships exactly those two folders). In a page,
`from visitrail import analytics` is window.analytics from Python (browser/bridge.py); it is loaded
on first use, so importing this package imports nothing of a browser.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # true for mypy only: these imports never run (MicroPython has no typing)
if TYPE_CHECKING:
    from typing import Any


class _Analytics:
    # Not a module __getattr__: MicroPython then stops `from . import submodule` short.
    def __getattr__(self, name: "str") -> "Any":
        from .browser.bridge import analytics

        return getattr(analytics, name)


analytics = _Analytics()
