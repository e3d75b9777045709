"""Where the collector finds the browser assets it serves at /analytics/ (loader.js, runtime.js,
the runtimes, the SDK's modules): the folder build.py writes, `web/dist/` of the source checkout
this runs from. In a checkout, `build` runs build.py when that folder is missing or older than
its inputs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "DIST", "default_dir", "stale", "build", "dist_file"]

ROOT = Path(__file__).resolve().parents[3]  # sdk/visitrail/collector -> the checkout
DIST = ROOT / "web" / "dist"
# What build.py turns into web/dist/: the page's Python is core/ and browser/.
BUILD_INPUTS = [
    ROOT / "build.py",
    ROOT / "web" / "loader.js",
    ROOT / "web" / "runtime.js",
    ROOT / "package-lock.json",
    ROOT / "sdk" / "visitrail" / "__init__.py",
    ROOT / "sdk" / "visitrail" / "core",
    ROOT / "sdk" / "visitrail" / "browser",
]
VERSIONED = re.compile(r"(?:https?://[^/]+)?/analytics/(?:v/[0-9a-f]{10}/)?([^?#]+)")


def default_dir() -> str:
    return str(DIST)


def stale() -> bool:
    """True when web/dist/ is missing or older than any of its inputs."""
    loader = DIST / "loader.js"
    if not loader.exists():
        return True
    built = loader.stat().st_mtime
    for path in BUILD_INPUTS:
        for file in path.rglob("*.py") if path.is_dir() else [path]:
            if file.exists() and file.stat().st_mtime > built:
                return True
    return False


def build(force: bool = False, if_stale: bool = False) -> None:
    """Run build.py: when web/dist/ has no loader, when it is stale (if_stale), or always (force)."""
    if force or not (DIST / "loader.js").exists() or (if_stale and stale()):
        subprocess.run([sys.executable, str(ROOT / "build.py")], check=True)


def dist_file(url: str) -> Path | None:
    """The file of web/dist/ that a URL under /analytics/ names (versioned or not), else None."""
    match = VERSIONED.match(url)
    return DIST / match.group(1) if match else None
