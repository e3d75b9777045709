"""Visitrail as a user installs it. Both wheels are built from a clean copy of the checkout (its
files, none of its build output), the way a package index user gets them: the sdist, then the wheel
from the sdist. They are installed into a fresh virtualenv outside the repository and run from
another folder: `visitrail serve` serves the assets the wheel carries, with their cache headers;
the vertical slice passes in Chromium against that installed collector; `visitrail demo` runs with
no checkout to build from."""

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from visitrail import __version__
from visitrail.collector.demo.process import CollectorProcess
from visitrail.dev.lines import Lines

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 600


def run(*command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def env_for_pip():
    env = dict(os.environ)
    env.setdefault("PIP_CONSTRAINT", str(ROOT / ".ci" / "constraints.txt"))
    return env


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory):
    """The checkout's files (tracked, and new ones not ignored) without anything built or installed."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout
    target = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / "web" / "dist").exists() and not (target / "node_modules").exists()
    return target


@pytest.fixture(scope="module")
def wheels(clean_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    build = Path(sys.executable).with_name("pyproject-build")
    # From another folder: in the checkout, `build` would name build.py.
    for project in (clean_copy, clean_copy / "sdk"):
        run(str(build), "--outdir", str(out), str(project), cwd=out, env=env_for_pip())
    return out


@pytest.fixture(scope="module")
def installed(wheels, tmp_path_factory):
    """The bin/ folder of a fresh virtualenv with `pip install visitrail` from the built wheels."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", str(venv))
    run(str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--find-links", str(wheels),
        "visitrail", cwd=venv, env=env_for_pip())  # fmt: skip
    return venv / "bin"


def wheel_files(wheels, name):
    [path] = wheels.glob(f"{name}-{__version__}-py3-none-any.whl")
    return set(zipfile.ZipFile(path).namelist())


def test_the_two_wheels_hold_their_halves(wheels):
    collector = wheel_files(wheels, "visitrail")
    sdk = wheel_files(wheels, "visitrail_sdk")
    static = "visitrail/collector/static/"
    for built in ("loader.js", "loader.js.br", "loader.js.gz", "VERSION", "micropython/micropython.wasm",
                  "brython/visitrail.js", "pyodide/pyodide.asm.wasm", "visitrail/core/client.mpy"):  # fmt: skip
        assert static + built in collector, built
    assert "visitrail/collector/demo/pages/index.html" in collector
    assert not [f for f in collector if f.startswith(("visitrail/core/", "visitrail/browser/", "visitrail/dev/"))]
    assert {"visitrail/__init__.py", "visitrail/core/client.py", "visitrail/browser/boot.py"} <= sdk
    assert not [f for f in sdk if f.startswith(("visitrail/collector/", "visitrail/dev/"))]
    for files, dist in ((collector, "visitrail"), (sdk, "visitrail_sdk")):
        assert f"{dist}-{__version__}.dist-info/licenses/LICENSE" in files
    assert (ROOT / "LICENSE").read_bytes() == (ROOT / "sdk" / "LICENSE").read_bytes()


def test_the_installed_cli_knows_its_version(installed):
    result = run(str(installed / "visitrail"), "--version")
    assert result.stdout.strip() == f"visitrail {__version__}"


def test_serve_from_another_folder_serves_the_assets_the_wheel_carries(installed, tmp_path):
    proc = CollectorProcess(f"sqlite:///{tmp_path / 'events.db'}", "t", "http://127.0.0.1:1",
                            command=[str(installed / "visitrail")], cwd=str(tmp_path))  # fmt: skip
    url = proc.start()
    try:
        loader = httpx.get(url + "/analytics/loader.js", headers={"Accept-Encoding": "br"})
        assert loader.status_code == 200 and loader.headers["content-encoding"] == "br"
        assert loader.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=86400"
        version = httpx.get(url + "/analytics/VERSION").text.strip()
        assert version in loader.text
        runtime = httpx.get(f"{url}/analytics/v/{version}/runtime.js")
        assert runtime.status_code == 200
        assert runtime.headers["cache-control"] == "public, max-age=31536000, immutable"
        wasm = httpx.get(f"{url}/analytics/v/{version}/micropython/micropython.wasm")
        assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    finally:
        proc.stop()


def test_the_vertical_slice_passes_against_the_installed_collector(installed):
    # The e2e suite's own test, with its collectors run by the installed `visitrail`.
    env = {**os.environ, "VISITRAIL_TEST_COLLECTOR": str(installed / "visitrail")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_vertical_slice.py", "--runtimes", "mpy", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"\b[1-9]\d* passed", result.stdout)


def test_the_demo_runs_from_the_installed_wheel(installed, tmp_path):
    proc = subprocess.Popen(
        [str(installed / "visitrail"), "demo", "--port", "0", "--collector-port", "0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        text = lines.until("Ctrl-C stops both")
        assert "build.py" not in text  # nothing built: the wheel's assets
        site = re.search(r"demo site +(http://\S+)", text).group(1)
        collector = re.search(r"collector +(http://\S+)", text).group(1)
        assert f'src="{collector}/analytics/loader.js"' in httpx.get(site).text
        assert httpx.get(collector + "/analytics/loader.js").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert lines.close() == 0
