"""Debian's Chromium as every test and benchmark launches it (never a downloaded browser)."""

from __future__ import annotations

import typing

__all__ = ["EXECUTABLE", "FLAGS", "launch_args"]

EXECUTABLE = "/usr/bin/chromium"
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def launch_args(*extra: str, **options: typing.Any) -> dict[str, typing.Any]:
    """Keyword arguments for Playwright's `chromium.launch()`: these flags plus `extra`."""
    return {**options, "executable_path": EXECUTABLE, "args": [*FLAGS, *extra]}
