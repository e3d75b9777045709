"""Reading a request body: gzip decoding and the size limit, enforced while the stream is read.

The limit applies to the decompressed bytes (Segment: 500 KB per batch request), and decompression
is capped so a small gzip bomb can never expand past limit + 1 bytes in memory.

Parsing is strict JSON: no NaN or Infinity (nor numbers too big for a float, which Python would
read as infinity), and at most `MAX_DEPTH` nested arrays and objects.
"""

from __future__ import annotations

import asyncio
import json
import math
import typing
import zlib

from .errors import ApiError, invalid

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "read_body", "parse_json"]

MAX_BODY_BYTES = 500 * 1024
# Segment messages nest a few levels (batch > message > context > page); 64 leaves properties
# plenty of room and keeps every later walk over a body (validation, JSON encoding) shallow.
MAX_DEPTH = 64
# Deflate's worst case adds 5 bytes per 16 KB stored block, plus an 18-byte gzip header and trailer,
# so any gzip body that decompresses within the limit is at most this much bigger than it.
GZIP_OVERHEAD = 1024


def too_large(limit: int) -> ApiError:
    return invalid(f"request body exceeds the {limit // 1024} KB limit")


async def read_body(
    chunks: typing.AsyncIterator[bytes],
    content_encoding: str | None = None,
    content_length: str | None = None,
    limit: int = MAX_BODY_BYTES,
    timeout: float | None = None,
) -> bytes:
    """The body, decoded; 400 when it is too large or not what it claims, 408 when it has not
    arrived within `timeout` seconds."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: expect a gzip header
        raw_limit = limit + GZIP_OVERHEAD
    elif encoding == "identity":
        decoder = None
        raw_limit = limit
    else:
        raise invalid(f"unsupported Content-Encoding {content_encoding!r}; send gzip or none")

    # Refuse before reading a byte when the client announces the size.
    if (
        content_length is not None
        and content_length.isascii()
        and content_length.isdigit()
        and int(content_length) > raw_limit
    ):
        raise too_large(limit)

    try:
        async with asyncio.timeout(timeout):
            return await _read(chunks, decoder, raw_limit, limit)
    except TimeoutError:
        # A body that stalls holds a connection and what it sent so far: end both.
        raise ApiError(
            408, "timeout", f"the request body did not arrive within {timeout:g} s", headers={"Connection": "close"}
        ) from None


async def _read(chunks: typing.AsyncIterator[bytes], decoder: typing.Any, raw_limit: int, limit: int) -> bytes:
    out = bytearray()
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > raw_limit:
            raise too_large(limit)
        if decoder is None:
            out += chunk
        else:
            try:
                # Ask for at most one byte past the limit: anything left unread means "too large".
                out += decoder.decompress(chunk, limit + 1 - len(out))
            except zlib.error:
                raise invalid("body is not valid gzip") from None
        if len(out) > limit:
            raise too_large(limit)
    if decoder is not None and not decoder.eof:
        raise invalid("gzip body is truncated")
    if decoder is not None and decoder.unused_data:
        raise invalid("unexpected data after the gzip stream")
    return bytes(out)


def _reject_constant(name: str) -> typing.NoReturn:
    # Python's json accepts NaN and Infinity, which no other JSON reader of the stored bodies would.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but no float holds it and json.dumps would write Infinity
        raise ValueError(f"number {text[:40]} is too large")
    return value


def depth(value: typing.Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: typing.Iterable[typing.Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> typing.Any:
    """Parse a body as JSON whatever its Content-Type: analytics-next always sends text/plain."""
    if not body.strip():
        raise invalid("request body is empty; expected a JSON object")
    try:
        value = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # ValueError covers bad UTF-8 and JSONDecodeError
        raise invalid(f"request body is not valid JSON: {exc}") from None
    if depth(value) > max_depth:
        raise invalid(f"request body nests arrays and objects more than {max_depth} levels deep")
    return value
