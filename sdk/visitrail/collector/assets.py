"""Where the collector finds the browser assets it serves at /analytics/ (loader.js, runtime.js,
the runtimes, the SDK's modules): in a source checkout, the folder build.py writes (`web/dist/`);
installed from the wheel, the copy the wheel carries (`visitrail/collector/static/`, put there by
build.py's build hook). In a checkout, `build` runs build.py when web/dist/ is missing or older
than its inputs; an installed collector builds nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "ROOT", "DIST", "PACKAGED", "in_checkout", "default_dir", "stale", "build", "dist_file", "export", "version_of",
]  # fmt: skip

ROOT = Path(__file__).resolve().parents[3]  # sdk/visitrail/collector -> the checkout, if this is one
DIST = ROOT / "web" / "dist"
PACKAGED = Path(__file__).resolve().parent / "static"  # what the wheel carries
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


def in_checkout() -> bool:
    """Is this the source checkout (an editable install), where build.py builds the assets?"""
    return (ROOT / "build.py").is_file() and (ROOT / "sdk" / "visitrail" / "collector").is_dir()


def default_dir() -> str:
    """The assets `visitrail serve` serves when not told otherwise."""
    return str(DIST if in_checkout() else PACKAGED)


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
    """In a checkout, run build.py: when web/dist/ has no loader, when it is stale (if_stale), or
    always (force). Installed, there is nothing to build."""
    if not in_checkout():
        return
    if force or not (DIST / "loader.js").exists() or (if_stale and stale()):
        subprocess.run([sys.executable, str(ROOT / "build.py")], check=True)


def dist_file(url: str) -> Path | None:
    """The file of web/dist/ that a URL under /analytics/ names (versioned or not), else None."""
    match = VERSIONED.match(url)
    return DIST / match.group(1) if match else None


def version_of(directory: str | Path) -> str | None:
    """The build's version, as its VERSION file says (every URL but loader.js's carries it)."""
    try:
        return (Path(directory) / "VERSION").read_text(encoding="ascii").strip() or None
    except (OSError, ValueError):
        return None


def export(source: str | Path, target: str | Path) -> int:
    """Copy the assets at `source` (with their .br/.gz forms and VERSION) to `target`, a folder that
    is new or empty; returns how many files were written."""
    source, target = Path(source), Path(target)
    if not (source / "loader.js").is_file() or version_of(source) is None:
        raise ValueError(f"{source} holds no built assets (no loader.js and VERSION)")
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty: export into a new or empty folder")
    shutil.copytree(source, target, dirs_exist_ok=True)
    return sum(1 for path in target.rglob("*") if path.is_file())
