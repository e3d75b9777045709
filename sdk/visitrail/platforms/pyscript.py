"""The Platform under PyScript: MicroPython (`<script type="mpy">`) or Pyodide (`type="py"`).

The code is platforms/web.py's; what differs between the two interpreters (Pyodide's JS null is
`jsnull`, its callbacks need proxies that are released) is hidden by platforms/ffi.py.
"""

from .ffi import JsError, create_proxy, document, window
from .web import CookieStore, LocalStore, WebPlatform


class PyScriptPlatform(WebPlatform):
    pass


__all__ = ["PyScriptPlatform", "LocalStore", "CookieStore", "JsError", "create_proxy", "window", "document"]
