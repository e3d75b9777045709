"""The Platform under Brython (`<script type="text/python">`, its `browser` module).

The code is platforms/web.py's; what differs from PyScript is hidden by platforms/ffi.py: Brython
wraps Python callables for JS itself (no proxies), JS null arrives as NullType, a nested dict
passed to JS must go through JSON, and its clock is read from JS (its `time` module is heavy).
"""

from .ffi import JsError, create_proxy, document, window
from .web import CookieStore, LocalStore, WebPlatform


class BrythonPlatform(WebPlatform):
    pass


__all__ = ["BrythonPlatform", "LocalStore", "CookieStore", "JsError", "create_proxy", "window", "document"]
