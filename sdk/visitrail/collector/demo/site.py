"""A static site of page templates, on its own port: the demo site, and the test and benchmark
pages. Another origin than the collector's, so the browser's CORS rules apply as they would for a
real customer site."""

from __future__ import annotations

import http.server
import mimetypes
import threading
import typing
from pathlib import Path

__all__ = ["SiteServer", "DEMO_PAGES"]

DEMO_PAGES = Path(__file__).resolve().parent / "pages"


class SiteServer(http.server.ThreadingHTTPServer):
    """`mounts` maps URL prefixes to directories, e.g. {"/": DEMO_PAGES, "/t/": tests/e2e/pages};
    `values` fills the {{name}} placeholders of .html files when they are served."""

    daemon_threads = True

    def __init__(
        self,
        port: int = 0,
        mounts: typing.Mapping[str, str | Path] | None = None,
        values: typing.Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.mounts = sorted((mounts or {"/": DEMO_PAGES}).items(), key=lambda m: -len(m[0]))
        self.values: dict[str, str] = dict(values or {})
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def resolve(self, path: str) -> Path | None:
        for prefix, directory in self.mounts:
            if path.startswith(prefix):
                rel = path[len(prefix) :] or "index.html"
                if rel.endswith("/"):
                    rel += "index.html"
                file = (Path(directory) / rel).resolve()
                if file.is_relative_to(Path(directory).resolve()) and file.is_file():
                    return file
        return None

    def render(self, file: Path) -> bytes:
        data = file.read_bytes()
        if file.suffix == ".html":
            text = data.decode()
            for name, value in self.values.items():
                text = text.replace("{{" + name + "}}", value)
            data = text.encode()
        return data

    def start(self) -> str:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        """Stop serving (after start()) and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:
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

    def log_message(self, format: str, *args: typing.Any) -> None:
        pass
