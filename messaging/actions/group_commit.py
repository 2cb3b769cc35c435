"""Group commit for one process's sockets, as PostgreSQL and every database does for its log:
while a batch of writes is on the database thread, the writes that arrive wait, and go together
in the next transaction (one commit). An idle queue writes a request at once, so a lone one
waits for nothing; under load the batches grow with the load. Each caller is answered only
after the commit that stored its request, with its own outcome or refusal.

Used for sends (`messages.post_messages`) and read pointers (`memberships.move_read_pointers`):
each writes a list of requests in one transaction and returns one outcome (or exception) per
request, in order.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

Request = TypeVar("Request")
Outcome = TypeVar("Outcome")


class GroupCommit(Generic[Request, Outcome]):
    def __init__(self, write: Callable[[list[Request]], list[Outcome | Exception]], *, max_batch: int):
        self.write = write
        self.max_batch = max_batch
        self.waiting: list[tuple[Request, asyncio.Future]] = []
        self.writer: asyncio.Task | None = None

    async def submit(self, request: Request) -> Outcome:
        """The request's outcome once committed; its refusal (or the batch's failure) raised."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.writer is None:
            self.writer = asyncio.create_task(self._write_waiting())
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _write_waiting(self) -> None:
        batch: list[tuple[Request, asyncio.Future]] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
                try:
                    outcomes = await database_sync_to_async(self.write)([request for request, _ in batch])
                except Exception as error:  # the database failed the whole batch
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # else its caller went away
                        future.set_result(outcome)
                batch = []
        finally:
            self.writer = None
            # Cancelled (the server is stopping): nobody is left waiting forever.
            for _, future in batch + self.waiting:
                if not future.done():
                    future.cancel()


class PerLoop(Generic[Request, Outcome]):
    """One queue per event loop: tests run many loops in one process; a server runs one. The
    write is looked up by name at each new loop, so a test that replaces it is obeyed."""

    def __init__(self, module, write_name: str, *, max_batch: int):
        self.module, self.write_name, self.max_batch = module, write_name, max_batch
        self.queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> GroupCommit[Request, Outcome]:
        loop = asyncio.get_running_loop()
        queue = self.queues.get(loop)
        if queue is None:
            queue = self.queues[loop] = GroupCommit(
                lambda requests: getattr(self.module, self.write_name)(requests), max_batch=self.max_batch
            )
        return queue
