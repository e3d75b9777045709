"""The inline snippet: loader.js's stub (web/dist/inline.js, made by build.py) as a <script> element
for a page's HTML, with the tag's data-* attributes, and the Content-Security-Policy source that
allows it.

The tag (<script src=".../loader.js">) costs the page one request before it renders, and a CSP
allows it by origin. The snippet costs no request (loader.js is fetched after `load`), but a CSP
that allows no 'unsafe-inline' scripts needs it named: by the hash of its text (attributes are not
hashed, so they can change) or by a nonce the page's server puts on it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

INLINE = "inline.js"
# The tag's data-* attributes are lowercase words joined by "-" (data-write-key).
NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def script_hash(text: str) -> str:
    """The CSP source for an inline script of this text: 'sha256-<base64>'."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline_element(assets_dir: str | Path, loader_url: str, attributes: dict[str, str]) -> tuple[str, str]:
    """(the <script> element, its CSP source). attributes: data-* names without the prefix
    (write-key, endpoint, ...) and their values; data-loader is loader_url."""
    text = (Path(assets_dir) / INLINE).read_text(encoding="utf-8").strip()
    if "</script" in text.lower():  # would end the element early; build.py's terser output never has it
        raise ValueError(f"{INLINE} contains </script")
    attrs = {"loader": loader_url, **attributes}
    for name in attrs:
        if not NAME.fullmatch(name):
            raise ValueError(f"data-{name}: not a data attribute name (lowercase words joined by '-')")
    shown = "".join(f' data-{name}="{html.escape(value, quote=True)}"' for name, value in attrs.items())
    return f"<script{shown}>{text}</script>", script_hash(text)
