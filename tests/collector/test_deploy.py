"""The deployment examples the package carries (collector/deploy/) are valid for the tools that
read them: systemd's own verifier, and nginx's configuration test."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "sdk" / "visitrail" / "collector" / "deploy"


def test_the_systemd_unit_verifies(tmp_path: pathlib.Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze (Debian's systemd) is needed"
    visitrail = pathlib.Path(sys.executable).with_name("visitrail")
    unit = (DEPLOY / "visitrail.service").read_text()
    assert "/opt/visitrail/bin/visitrail serve" in unit
    # The verifier checks that ExecStart's program exists: this machine's visitrail stands in for /opt's.
    (tmp_path / "visitrail.service").write_text(unit.replace("/opt/visitrail/bin/visitrail", str(visitrail)))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "visitrail.service")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


@pytest.mark.parametrize("broken", [False, True], ids=["as-shipped", "a-typo-is-caught"])
def test_the_nginx_snippet_passes_nginx_t(tmp_path: pathlib.Path, broken: bool) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert pathlib.Path(nginx).exists(), "nginx is needed (Debian: apt-get install nginx-light)"
    snippet = (DEPLOY / "nginx.conf").read_text()
    if broken:
        snippet = snippet.replace("proxy_pass", "proxy_pas")
    (tmp_path / "visitrail.conf").write_text(snippet)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {tmp_path}/visitrail.conf;\n}}\n"
    )
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)  # fmt: skip
    assert (result.returncode == 0) is not broken, result.stderr
