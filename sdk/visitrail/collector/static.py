"""Serving the built browser assets (`web/dist/`) at /analytics/.

The demo site runs on another port and PyScript fetch()es its .wasm and .py files, so every
asset carries `Access-Control-Allow-Origin: *` (they are public and sent without credentials).
Media types are fixed here rather than left to `mimetypes`, which reads the host's /etc/mime.types:
on Debian that maps .mpy to "application/vnd.ibm.MiniPay", and Python 3.11 doesn't know .wasm.
"""

from __future__ import annotations

import os
import typing

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["Assets", "MEDIA_TYPES"]

MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",  # needed for WebAssembly.instantiateStreaming
    ".mpy": "application/octet-stream",
    ".py": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
}


class _AssetFiles(StaticFiles):
    def file_response(
        self, full_path: typing.Any, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = MEDIA_TYPES.get(os.path.splitext(str(full_path))[1].lower())
        if media_type is not None and isinstance(response, FileResponse):
            response.media_type = media_type
            response.headers["content-type"] = media_type
        return response


class Assets:
    """An ASGI app serving `directory`; if it doesn't exist (assets not built), a JSON 404 saying so."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files = _AssetFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"access-control-allow-origin", b"*")]
            await send(message)

        if scope["type"] == "http" and not os.path.isdir(self.directory):
            response = JSONResponse(
                {
                    "code": "not_found",
                    "message": f"assets directory {self.directory!r} does not exist; build the browser "
                    "assets first, or pass `visitrail serve --assets DIR`",
                },
                status_code=404,
            )
            await response(scope, receive, send_with_cors)
            return
        try:
            await self.files(scope, receive, send_with_cors)
        except HTTPException as exc:  # answer here, so a missing file's 404 carries the CORS header too
            response = JSONResponse({"code": "not_found", "message": exc.detail}, exc.status_code, exc.headers)
            await response(scope, receive, send_with_cors)
