"""Group commits: the events of requests that arrive while a write transaction is under way are
stored together in the next one, so a busy collector pays one transaction (one commit, one WAL
flush, one round of locks) for many small requests, as browsers send them (1 to 5 events each).

A request is answered only once the transaction holding its events has committed: durability is
the same as one transaction per request. An idle collector starts a request's transaction at
once (no waiting for company), so grouping costs no latency; `slots` transactions run at a time
(SQLite: one, its writers take turns anyway; PostgreSQL: several, each locking only its own
identities). A group whose transaction fails is stored again request by request, so one request's
fault (a database error on its data) fails that request alone.
"""

from __future__ import annotations

import asyncio
import typing

from .storage import Added, Event, Storage

__all__ = ["GroupCommit", "MAX_GROUP_EVENTS"]

MAX_GROUP_EVENTS = 2500  # events per group transaction: one full batch, or many small requests


class GroupCommit:
    def __init__(self, storage: Storage, slots: int, max_events: int = MAX_GROUP_EVENTS) -> None:
        self.storage = storage
        self.slots = max(1, slots)
        self.max_events = max_events
        self.queue: list[tuple[typing.Sequence[Event], asyncio.Future[Added]]] = []
        self.active = 0  # drains under way; counted by _drain itself, with no await between its check and its end
        self.tasks: set[asyncio.Task[None]] = set()  # referenced, so that none is collected mid-way

    async def add(self, events: typing.Sequence[Event]) -> Added:
        future: asyncio.Future[Added] = asyncio.get_running_loop().create_future()
        self.queue.append((events, future))
        if self.active < self.slots:
            self.active += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    def _take(self) -> list[tuple[typing.Sequence[Event], asyncio.Future[Added]]]:
        taken: list[tuple[typing.Sequence[Event], asyncio.Future[Added]]] = []
        count = 0
        while self.queue and (not taken or count + len(self.queue[0][0]) <= self.max_events):
            item = self.queue.pop(0)
            taken.append(item)
            count += len(item[0])
        return taken

    async def _drain(self) -> None:
        try:
            await self._drain_queue()
        finally:
            self.active -= 1  # right after the queue was seen empty: the next add starts a drain

    async def _drain_queue(self) -> None:
        while self.queue:
            taken = self._take()
            try:
                results = await self.storage.add_groups([events for events, _ in taken])
            except Exception as exc:
                if len(taken) == 1:
                    if not taken[0][1].done():
                        taken[0][1].set_exception(exc)
                    continue
                for events, future in taken:  # each alone: only the faulty request fails
                    try:
                        settle(future, await self.storage.add(events))
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for (_, future), added in zip(taken, results, strict=True):
                settle(future, added)


def settle(future: asyncio.Future[Added], added: Added) -> None:
    if not future.done():  # its request may have been cancelled (the client went away)
        future.set_result(added)
