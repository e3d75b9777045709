"""The core imports nothing that MicroPython lacks and nothing from a browser runtime."""

import subprocess
import sys
from pathlib import Path

SDK = Path(__file__).resolve().parents[2] / "sdk"
# Every module of core/, found, not listed: a new module is checked the day it is added.
CORE = ["visitrail", "visitrail.memory"] + sorted(
    "visitrail.core." + p.stem if p.stem != "__init__" else "visitrail.core"
    for p in (SDK / "visitrail" / "core").glob("*.py")
)
BLOCKED = ["js", "pyscript", "browser", "typing", "enum", "dataclasses", "uuid", "datetime", "urllib"]


def test_every_core_module_is_checked():
    assert "visitrail.core.client" in CORE and "visitrail.core.recorder" in CORE and len(CORE) > 15


def test_core_imports_with_browser_and_cpython_only_modules_blocked():
    code = (
        # The stdlib modules the core uses load first (they may use enum & co. themselves);
        # then the blocked names are forgotten so that only an import by the core can reach them.
        "import sys, json, random, hashlib, binascii\n"
        f"for name in {BLOCKED!r}: sys.modules.pop(name, None)\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BLOCKED!r}: raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {CORE!r}: __import__(m)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=SDK, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
