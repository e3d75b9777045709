"""Running a storage scenario against a backend URL, for the tests of every backend."""

from __future__ import annotations

import asyncio
import typing

from visitrail.collector.storage import Storage, open_storage


def run(url: str, scenario: typing.Callable[[Storage], typing.Awaitable[typing.Any]]) -> typing.Any:
    """Open the storage at `url`, await scenario(storage), close it; the scenario's result."""

    async def main() -> typing.Any:
        storage = open_storage(url)
        await storage.connect()
        try:
            return await scenario(storage)
        finally:
            await storage.disconnect()

    return asyncio.run(main())
