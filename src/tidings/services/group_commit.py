"""Group commit: concurrent writers share one transaction and one commit.

SQLite allows one writer at a time, and every commit costs a WAL write (and an fsync with
`synchronous=FULL`). A plain insert-and-commit per request therefore serialises requests on the
lock and on the disk. Here each request hands its work to a single writer task; whatever queued up
while the previous commit ran is executed in the next transaction, and each request is answered
only after the commit that contains its work is durable. On PostgreSQL the same mechanism saves a
round trip and a WAL flush per request.

Failure isolation: work items run one after another in one transaction. If any of them raises,
the transaction is rolled back and each item is re-run in a transaction of its own, so one bad
request never fails its neighbours. Work must therefore only touch the database through the
connection it is given (it may run twice, the first attempt rolled back).

No library does this for SQLAlchemy's asyncio engines, hence our own small module.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[T]]

log = structlog.get_logger(__name__)


@dataclass
class _Job(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T]


class GroupCommitter:
    """Runs submitted work in shared transactions on one writer connection."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 512,
        on_begin: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._on_begin = on_begin
        self._queue: asyncio.Queue[_Job[Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.jobs = 0

    async def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tidings-group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then stop the writer task."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, work: Work[T]) -> T:
        """Run `work` in the next shared transaction; return its result after the commit."""
        if self._task is None:
            raise RuntimeError("the group committer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(work, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Job[Any]]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        try:
            async with self._engine.begin() as conn:
                if self._on_begin is not None:
                    await self._on_begin(conn)
                results = [await job.work(conn) for job in batch]
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exception=exc)
                return
            for job in batch:
                await self._commit([job])
            return
        for job, result in zip(batch, results, strict=True):
            _settle(job, result=result)


def _settle(job: _Job[Any], *, result: Any = None, exception: BaseException | None = None) -> None:
    if job.future.done():  # the caller went away (client disconnected); the work stands
        return
    if exception is not None:
        job.future.set_exception(exception)
    else:
        job.future.set_result(result)
