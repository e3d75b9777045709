"""The core's unit tests again, on the MicroPython WebAssembly build the SDK ships (in Node), so a
construct MicroPython lacks fails CI even though CPython accepts it."""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_unit_tests_pass_on_micropython():
    assert shutil.which("node"), "node is needed to run MicroPython's WebAssembly build"
    assert (ROOT / "node_modules/@micropython").is_dir(), "run npm ci first"
    out = subprocess.run(["node", "tests/micropython/run.mjs"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = re.search(r"micropython: (\d+) passed, (\d+) failed", out.stdout)
    assert summary, out.stdout[-2000:] + out.stderr[-2000:]
    assert int(summary.group(2)) == 0 and out.returncode == 0, out.stdout[-4000:]
    assert int(summary.group(1)) >= 50
