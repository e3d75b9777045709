"""`visitrail demo`: the collector and a demo site, on two ports of 127.0.0.1.

    visitrail demo [--port 8000] [--collector-port 8001] [--db sqlite:///abs/path.db]

The site and the collector are different origins, so the browser's CORS rules apply as they would
for a real customer site. The site's pages are templates: `{{collector}}` and `{{writeKey}}` are
filled in when served. The end-to-end tests use the same two pieces (Collector, SiteServer).

This module runs on CPython only and is not shipped to the browser.
"""

import argparse
import http.server
import mimetypes
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["Collector", "SiteServer", "assets_stale", "build_assets", "main"]

ROOT = Path(__file__).resolve().parents[2]  # the source checkout (an editable install)
DIST = ROOT / "web" / "dist"
DEMO_SITE = ROOT / "web" / "demo"
WRITE_KEY = "demo-key"
LISTENING = re.compile(r"listening on (http://\S+)")


# What build.py turns into web/dist/ (the collector's sources are not among them).
BUILD_INPUTS = [ROOT / "build.py", ROOT / "web" / "loader.js", ROOT / "web" / "runtime.js", ROOT / "package-lock.json",
                ROOT / "sdk" / "visitrail"]


def dist_file(url):
    """The file of web/dist/ that a URL under /analytics/ names (versioned or not), else None."""
    match = re.match(r"(?:https?://[^/]+)?/analytics/(?:v/[0-9a-f]{10}/)?([^?#]+)", url)
    return DIST / match.group(1) if match else None


def assets_stale():
    """True when web/dist/ is missing or older than any of its inputs."""
    loader = DIST / "loader.js"
    if not loader.exists():
        return True
    built = loader.stat().st_mtime
    for path in BUILD_INPUTS:
        for file in (path.rglob("*.py") if path.is_dir() else [path]):
            if "collector" not in file.parts and file.exists() and file.stat().st_mtime > built:
                return True
    return False


def build_assets(force=False, if_stale=False):
    """Run build.py: when web/dist/ has no loader, when it is stale (if_stale), or always (force)."""
    if force or not (DIST / "loader.js").exists() or (if_stale and assets_stale()):
        subprocess.run([sys.executable, str(ROOT / "build.py")], check=True)


class Collector:
    """`visitrail serve` in a subprocess; start() returns once it accepts connections.
    allow_origin: one origin or a list of them."""

    def __init__(self, db, admin_token, allow_origin, port=0, write_key=WRITE_KEY, echo=False,
                 log_level="warning", test_hooks=False, extra_args=()):
        origins = [allow_origin] if isinstance(allow_origin, str) else list(allow_origin)
        self.args = [
            "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db,
            "--write-key", write_key, "--admin-token", admin_token,
            "--assets", str(DIST), "--log-level", log_level,
        ]
        for origin in origins:
            self.args += ["--allow-origin", origin]
        if test_hooks:
            self.args.append("--test-hooks")
        self.args += list(extra_args)
        self.echo = echo
        self.output = []
        self.proc = None
        self.url = None

    def start(self, timeout_s=30):
        code = "import sys; from visitrail.collector.cli import main; sys.exit(main())"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        lines = queue.Queue()

        def drain():  # keeps reading, so that the collector never blocks on a full pipe
            for line in self.proc.stdout:
                self.output.append(line)
                if self.echo:
                    sys.stdout.write(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=timeout_s)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the collector did not start:\n" + "".join(self.output))
            found = LISTENING.search(line)
            if found:
                self.url = found.group(1)
                return self.url

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SiteServer(http.server.ThreadingHTTPServer):
    """A static site of page templates. `mounts` maps URL prefixes to directories, e.g.
    {"/": web/demo, "/t/": tests/e2e/pages}; `values` fills the {{name}} placeholders in .html."""

    daemon_threads = True

    def __init__(self, port=0, mounts=None, values=None, host="127.0.0.1"):
        self.mounts = sorted((mounts or {"/": DEMO_SITE}).items(), key=lambda m: -len(m[0]))
        self.values = dict(values or {})
        super().__init__((host, port), _SiteHandler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)

    def resolve(self, path):
        for prefix, directory in self.mounts:
            if path.startswith(prefix):
                rel = path[len(prefix):] or "index.html"
                if rel.endswith("/"):
                    rel += "index.html"
                file = (Path(directory) / rel).resolve()
                if file.is_relative_to(Path(directory).resolve()) and file.is_file():
                    return file
        return None

    def render(self, file):
        data = file.read_bytes()
        if file.suffix == ".html":
            text = data.decode()
            for name, value in self.values.items():
                text = text.replace("{{" + name + "}}", value)
            data = text.encode()
        return data

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self.url


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        file = self.server.resolve(self.path.split("?")[0])
        if file is None:
            self.send_error(404)
            return
        body = self.server.render(file)
        self.send_response(200)
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(prog="visitrail demo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the demo site (default: 8000)")
    parser.add_argument("--collector-port", type=int, default=8001, help="the collector (default: 8001)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary directory)")
    args = parser.parse_args(argv)
    if not DEMO_SITE.is_dir():
        print("visitrail demo: web/demo/ not found; run it from a source checkout", file=sys.stderr)
        return 1
    try:
        build_assets()
    except (OSError, subprocess.CalledProcessError):
        print("visitrail demo: could not build web/dist/ (see above)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="visitrail-demo-") as tmp:
        db = args.db or "sqlite:///" + str(Path(tmp) / "visitrail-demo.db")
        token = secrets.token_urlsafe(18)
        try:
            site = SiteServer(args.port)
        except OSError as exc:
            print("visitrail demo: cannot serve the site on port %d: %s" % (args.port, exc), file=sys.stderr)
            return 1
        collector = Collector(db, token, site.url, port=args.collector_port, echo=True, log_level="info")
        try:
            site.values = {"collector": collector.start(), "writeKey": WRITE_KEY}
        except RuntimeError as exc:
            site.server_close()
            print("visitrail demo: " + str(exc), file=sys.stderr)
            return 1
        print()
        print("  demo site    " + site.url + "/")
        print("  collector    " + collector.url + "   (write key " + WRITE_KEY + ")")
        print("  admin token  " + token)
        print("  events       curl -H 'Authorization: Bearer " + token + "' '" + collector.url
              + "/api/events?userId=...'")
        print("  database     " + db)
        print("\nCtrl-C stops both.", flush=True)
        # `kill` too: the collector is a child process, which a plain SIGTERM to this one would orphan.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            site.serve_forever()
        except KeyboardInterrupt:
            print("\nstopping")
        finally:
            site.server_close()
            collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
