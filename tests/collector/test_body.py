"""read_body: the limit is enforced while reading, on decompressed bytes."""

from __future__ import annotations

import asyncio
import gzip
import typing
import zlib

import pytest

from visitrail.collector.body import MAX_BODY_BYTES, read_body
from visitrail.collector.errors import ApiError


class Stream:
    """An endless request body that records how much of it was pulled."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        while True:
            self.pulled += 1
            yield self.chunk


def read(chunks: typing.Any, **kwargs: typing.Any) -> bytes:
    return asyncio.run(read_body(chunks.__aiter__(), **kwargs))


async def chunks_of(data: bytes, size: int = 4096) -> typing.AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_endless_body_stops_just_past_the_limit() -> None:
    stream = Stream(b"x" * 65536)
    with pytest.raises(ApiError, match="500 KB") as exc:
        read(stream)
    assert exc.value.status_code == 400
    assert stream.pulled == MAX_BODY_BYTES // 65536 + 1  # 9 chunks, not the whole stream


def test_endless_gzip_stream_stops_too() -> None:
    # A gzip header followed by deflate blocks that never end: the decompressed size trips the limit.
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    header = compressor.compress(b"")
    block = compressor.compress(b"a" * 1_000_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stream = Stream(block)

    async def body() -> typing.AsyncIterator[bytes]:
        yield header
        async for chunk in stream:
            yield chunk

    with pytest.raises(ApiError, match="500 KB"):
        read(body(), content_encoding="gzip")
    assert stream.pulled == 1


def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    stream = Stream(b"x")
    with pytest.raises(ApiError, match="500 KB"):
        read(stream, content_length=str(MAX_BODY_BYTES + 1))
    assert stream.pulled == 0


def test_gzip_round_trip_in_small_chunks() -> None:
    data = b'{"batch": []}' * 10_000
    assert read(chunks_of(gzip.compress(data), 100), content_encoding="GZIP") == data


def test_exactly_the_limit_is_fine() -> None:
    data = b"x" * MAX_BODY_BYTES
    assert read(chunks_of(data)) == data
    assert read(chunks_of(gzip.compress(data)), content_encoding="gzip") == data


def test_a_non_numeric_content_length_is_ignored() -> None:
    assert read(chunks_of(b"{}"), content_length="²") == b"{}"


def test_trailing_data_after_gzip_is_refused() -> None:
    with pytest.raises(ApiError, match="after the gzip stream"):
        read(chunks_of(gzip.compress(b"{}") + b"junk"), content_encoding="gzip")
