"""Serving the built browser assets (`web/dist/`) at /analytics/.

The demo site runs on another port and PyScript fetch()es its .wasm and .py files, so every
asset carries `Access-Control-Allow-Origin: *` (they are public and sent without credentials).
Media types are fixed here rather than left to `mimetypes`, which reads the host's /etc/mime.types:
on Debian that maps .mpy to "application/vnd.ibm.MiniPay", and Python 3.11 doesn't know .wasm.

Caching. loader.js is the URL in the page's script tag, so it can't carry a version; it tells the
page the build's version (`web/dist/VERSION`), and everything else is fetched as
/analytics/v/<version>/<path>, which is cached for good. A page whose loader.js predates a deploy
asks for an old version: it gets the current file, since the old one is gone, but not as cacheable
under a URL that promises the old content. Files asked for without a version are revalidated each
time (ETag / Last-Modified), except loader.js, which may be a few minutes stale, and so may
visitrail-mpy.json (the SDK as a PyScript package, for a page without the tag: it names the
versioned .mpy files).

Compression. The build writes X.br and X.gz next to compressible files; a client that accepts one
gets its bytes for X, with X's media type. The collector never compresses anything itself.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
import typing

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["Assets", "MEDIA_TYPES"]

MEDIA_TYPES = {
    ".js": "text/javascript",
    ".ts": "text/plain; charset=utf-8",  # declarations, read by editors and tsc, never run
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",  # needed for WebAssembly.instantiateStreaming
    ".mpy": "application/octet-stream",
    ".vtb": "application/octet-stream",  # the SDK's .mpy modules in one file (build.py, mpy_bundle)
    ".py": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".whl": "application/zip",  # the wheels Pyodide's loadPackage fetches (micropip)
}

LOADER = "loader.js"
# URLs a page names itself, so without a version, which may be minutes stale: the tag's loader.js,
# and the PyScript package of the SDK's .mpy modules a page without the tag names in its config.
FIXED = {LOADER, "visitrail-mpy.json"}
VERSION_FILE = "VERSION"
VERSION = re.compile(r"[0-9a-f]{10}")

IMMUTABLE = "public, max-age=31536000, immutable"
# A deploy reaches pages within minutes; meanwhile repeat page views don't wait on a revalidation.
LOADER_CACHE = "public, max-age=300, stale-while-revalidate=86400"
REVALIDATE = "no-cache"

ENCODINGS = (("br", ".br"), ("gzip", ".gz"))  # in order of preference: brotli is smaller

_Found = dict[str, tuple[str, os.stat_result]]  # Content-Encoding -> the sibling's path and stat
_SIBLINGS = "visitrail.siblings"  # scope key: file_response can't await the thread pool itself


def accepted_encodings(accept_encoding: str) -> set[str]:
    """Which of ENCODINGS an Accept-Encoding header accepts: listed with q > 0, or covered by `*`."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # unreadable: don't bet a compressed body on it
        if coding:
            qualities[coding.lower()] = quality
    wildcard = qualities.get("*", 0.0)
    return {coding for coding, _ in ENCODINGS if qualities.get(coding, wildcard) > 0}


def choose_encoding(request_headers: Headers, available: typing.Container[str]) -> str | None:
    if "range" in request_headers:  # a byte range of X can't be cut from X.br: ranges get X itself
        return None
    acceptable = accepted_encodings(request_headers.get("accept-encoding", ""))
    return next((coding for coding, _ in ENCODINGS if coding in acceptable and coding in available), None)


class _AssetFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        # StaticFiles checks the method, finds X (or raises the 404) and calls file_response for it.
        siblings = await anyio.to_thread.run_sync(self.lookup_siblings, path)
        return await super().get_response(path, {**scope, _SIBLINGS: siblings})

    def lookup_siblings(self, path: str) -> _Found:
        found: _Found = {}
        for encoding, suffix in ENCODINGS:
            try:  # lookup_path keeps StaticFiles' checks against escaping the directory
                full_path, stat_result = self.lookup_path(path + suffix)
            except (OSError, ValueError):  # StaticFiles answers for X, which has the same trouble
                return {}
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                found[encoding] = (full_path, stat_result)
        return found

    def file_response(
        self, full_path: typing.Any, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        request_headers = Headers(scope=scope)
        siblings: _Found = scope.get(_SIBLINGS, {})
        # The media type is X's, whichever file is sent.
        fixed_type = MEDIA_TYPES.get(os.path.splitext(str(full_path))[1].lower())
        media_type = fixed_type or mimetypes.guess_type(str(full_path))[0]
        encoding = choose_encoding(request_headers, siblings)
        if encoding is not None:
            full_path, stat_result = siblings[encoding]

        response = FileResponse(full_path, status_code, media_type=media_type, stat_result=stat_result)
        if fixed_type is not None:  # as is: FileResponse adds "; charset=utf-8" to text/*
            response.headers["content-type"] = fixed_type
        if siblings:
            response.headers["vary"] = "Accept-Encoding"
        if encoding is not None:
            response.headers["content-encoding"] = encoding
            # The ETag comes from size and mtime, which two variants can share (tiny files, a build
            # that sets mtimes): naming the coding in it keeps caches from mixing them up.
            response.headers["etag"] = response.headers["etag"][:-1] + f'-{encoding}"'
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


class Assets:
    """An ASGI app serving `directory`; if it doesn't exist (assets not built), a JSON 404 saying so."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files = _AssetFiles(directory=directory, check_dir=False)
        self._version: tuple[tuple[int, int] | None, str | None] = (None, None)  # (VERSION's stat key, its version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.files(scope, receive, send)  # which closes a websocket
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"access-control-allow-origin", b"*")]
            await send(message)

        try:
            response = await self.get_response(scope)
        except HTTPException as exc:  # answer here, so a missing file's 404 carries the CORS header too
            response = JSONResponse({"code": "not_found", "message": exc.detail}, exc.status_code, exc.headers)
        await response(scope, receive, send_with_cors)

    async def get_response(self, scope: Scope) -> Response:
        if not os.path.isdir(self.directory):
            return JSONResponse(
                {
                    "code": "not_found",
                    # No path: an answer to the world names nothing of this machine's file system.
                    "message": "this collector has no browser assets to serve: in a source checkout run "
                    "`python build.py` (after `npm ci`), else install the `visitrail` wheel, which carries "
                    "them, or give `visitrail serve --assets DIR` (a folder `visitrail assets export` wrote)",
                },
                status_code=404,
            )
        # Relative and normalized ("a/./b/../c" is "a/c"); StaticFiles' lookup refuses a leading "..".
        path = self.files.get_path(scope)
        parts = path.split(os.sep, 2)
        if parts[0] == "v":
            if len(parts) < 3 or not VERSION.fullmatch(parts[1]):
                raise HTTPException(status_code=404)
            path = parts[2]
            current = await anyio.to_thread.run_sync(self.current_version)
            cache_control = IMMUTABLE if parts[1] == current else REVALIDATE
        else:
            cache_control = LOADER_CACHE if path in FIXED else REVALIDATE
        response = await self.files.get_response(path, scope)
        response.headers["cache-control"] = cache_control
        return response

    def current_version(self) -> str | None:
        """web/dist/VERSION, read again only when the file changes: a rebuild under a running server
        is seen at the next request, and the other requests cost one stat."""
        path = os.path.join(self.directory, VERSION_FILE)
        try:
            stat_result = os.stat(path)
        except OSError:  # no VERSION (an older build)
            return None
        key = (stat_result.st_ino, stat_result.st_mtime_ns)  # build.py writes a new file each time
        if self._version[0] != key:
            try:
                with open(path, encoding="ascii") as file:
                    version = file.read(64).strip()
            except (OSError, ValueError):  # gone meanwhile, or not text
                return None
            self._version = (key, version if VERSION.fullmatch(version) else None)
        return self._version[1]
