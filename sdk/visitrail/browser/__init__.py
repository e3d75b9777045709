"""The page's glue, shipped to the page with core/: the only code that knows it runs in a browser.

ffi.py        the one module that knows the runtime (PyScript + MicroPython or Pyodide, Brython)
platform.py   the core's Platform for a browser page (localStorage, cookies, fetch, beacons, timers)
boot.py       the SDK's start: a Client over that platform behind window.analytics
bridge.py     `from visitrail import analytics` for the page's own Python
"""
