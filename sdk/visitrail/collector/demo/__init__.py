"""`visitrail demo`: the collector and a demo site, on two ports of 127.0.0.1.

    visitrail demo [--port 8000] [--collector-port 8001] [--db sqlite:///abs/path.db]

The site and the collector are different origins, so the browser's CORS rules apply as they would
for a real customer site. The site's pages (pages/) are templates: `{{collector}}` and
`{{writeKey}}` are filled in when served. The end-to-end tests and the benchmarks use the same two
pieces: process.CollectorProcess and site.SiteServer.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from .. import assets
from .process import CollectorProcess
from .site import DEMO_PAGES, SiteServer

__all__ = ["main", "WRITE_KEY"]

WRITE_KEY = "demo-key"


def _free(port: int) -> bool:
    """Can the collector bind this port of 127.0.0.1 (0: any port can)?"""
    if port == 0:
        return True
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="visitrail demo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the demo site (default: 8000)")
    parser.add_argument("--collector-port", type=int, default=8001, help="the collector (default: 8001)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary directory)")
    args = parser.parse_args(argv)
    # Ctrl-C and `kill` stop both, from the first moment: the collector is a child process, which a
    # plain SIGTERM to this one would orphan. SIGINT is set too: a process started in the background
    # by a non-interactive shell inherits SIGINT ignored, and Python then never raises
    # KeyboardInterrupt. Set before anything starts, so a signal sent as soon as the demo says it
    # is up is never lost.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 0


def _run(args: argparse.Namespace) -> int:
    try:
        assets.build()
    except (OSError, subprocess.CalledProcessError):
        print("visitrail demo: could not build web/dist/ (see above)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="visitrail-demo-") as tmp:
        db = args.db or "sqlite:///" + str(Path(tmp) / "visitrail-demo.db")
        token = secrets.token_urlsafe(18)
        try:
            site = SiteServer(args.port, {"/": DEMO_PAGES})
        except OSError as exc:
            print(
                f"visitrail demo: cannot serve the site on port {args.port} ({exc.strerror or exc}): choose "
                "another with --port (0 picks a free one)",
                file=sys.stderr,
            )
            return 1
        if not _free(args.collector_port):
            site.server_close()
            print(
                f"visitrail demo: port {args.collector_port} is in use: give the collector another with "
                "--collector-port (0 picks a free one)",
                file=sys.stderr,
            )
            return 1
        collector = CollectorProcess(
            db, token, site.url, port=args.collector_port, write_key=WRITE_KEY, echo=True, log_level="info"
        )
        try:
            try:
                url = collector.start()
            except RuntimeError as exc:
                print("visitrail demo: " + str(exc), file=sys.stderr)
                return 1
            site.values = {"collector": url, "writeKey": WRITE_KEY}
            print()
            print("  demo site    " + site.url + "/")
            print("  collector    " + url + "   (write key " + WRITE_KEY + ")")
            print("  dashboard    " + url + "/   (log in with the admin token)")
            print("  admin token  " + token)
            print("  events       curl -H 'Authorization: Bearer " + token + "' '" + url + "/api/events?userId=...'")
            print("  database     " + db)
            print("\nCtrl-C stops both.", flush=True)
            try:
                site.serve_forever()
            except KeyboardInterrupt:
                print("\nstopping", flush=True)
        finally:
            site.server_close()
            collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
