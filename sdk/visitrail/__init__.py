"""Visitrail: visitor, user and session identity on every event, from one script tag.

The browser SDK (this package, minus `collector`) runs on MicroPython, Pyodide and Brython; the
collector (`visitrail.collector`) is a CPython server.

In a page, `from visitrail import analytics` is window.analytics from Python (api.py). It is loaded
on first use, so importing this package imports nothing of a browser.
"""

__version__ = "0.1.0"


class _Analytics:
    # Not a module __getattr__: MicroPython then stops `from . import submodule` short.
    def __getattr__(self, name):
        from .api import analytics

        return getattr(analytics, name)


analytics = _Analytics()
