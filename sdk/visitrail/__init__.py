"""Visitrail: visitor, user and session identity on every event, from one script tag.

The browser SDK (this package, minus `collector`) runs on MicroPython, Pyodide and Brython; the
collector (`visitrail.collector`) is a CPython server.
"""

__version__ = "0.1.0"
