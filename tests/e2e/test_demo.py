"""The demo: its page works against the collector, and `visitrail demo` starts and stops both."""

import re
import signal
import subprocess
import sys

import httpx
import pytest

from visitrail.dev.lines import Lines

# The demo page's tag names no runtime: the default, MicroPython.
pytestmark = [pytest.mark.e2e, pytest.mark.runtimes("mpy")]


def test_the_demo_page_identifies_tracks_and_resets(open_page, collector):
    page = open_page("/")
    page.wait_for_function("document.getElementById('anonymous-id').textContent.length === 36")
    first_anonymous_id = page.text_content("#anonymous-id")

    page.fill("#uid", "demo-user")
    page.click("#identify")
    assert page.text_content("#user-id") == "demo-user"
    assert page.text_content("#traits") == '{"plan":"pro"}'
    page.click("#track")
    page.click("#flush")
    page.wait_for_function("document.getElementById('log').textContent.includes('flushed')")
    events = collector.events(userId="demo-user")
    assert [(e["type"], e.get("event")) for e in events] == [("identify", None), ("track", "Clicked")]
    assert {e["anonymousId"] for e in events} == {first_anonymous_id}

    page.click("#reset")
    assert page.text_content("#user-id") == "–"
    assert page.text_content("#anonymous-id") not in ("", first_anonymous_id)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_the_demo_command_serves_both_and_stops_both(dist, stop):
    # Started as a background job of a non-interactive shell starts it (CI): with SIGINT ignored,
    # which Python then never turns into KeyboardInterrupt unless the demo handles it itself.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from visitrail.collector.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--port", "0", "--collector-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = Lines(proc)
    try:
        text = lines.until("Ctrl-C stops both")
        site = re.search(r"demo site +(http://\S+)", text).group(1)
        collector = re.search(r"collector +(http://\S+)", text).group(1)
        assert re.search(r"admin token +\S{20,}", text)
        assert re.search(r"dashboard +" + re.escape(collector) + r"/ +\(log in with the admin token\)", text)
        # The demo gives its collector the token in the environment: no warning about one in `ps`.
        assert "warning" not in text, text

        page = httpx.get(site, timeout=10)
        assert page.status_code == 200
        assert f'src="{collector}/analytics/loader.js"' in page.text
        assert 'data-write-key="demo-key"' in page.text
        assert f'<a href="{collector}/">the dashboard</a>' in page.text
        loader = httpx.get(collector + "/analytics/loader.js", timeout=10)
        assert loader.status_code == 200 and "analytics" in loader.text
    finally:
        proc.send_signal(stop)
        assert lines.close(timeout_s=20) == 0
    with pytest.raises(httpx.ConnectError):  # the collector went with it
        httpx.get(collector + "/analytics/loader.js", timeout=10)
