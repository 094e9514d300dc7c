"""Following the event log: replay after a seq, then live, with no gap and no duplicate.

Seqs become visible in commit order (the counter row is locked until commit), so
reading `seq > cursor` never skips an event that commits later. One reader per
process (the hub) reads each new event once and hands it to every follower; the
bus only says that something newer exists, and a safety poll covers a missed
announcement, so the rows stay the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from server.domain.events import Event
from server.events.bus import LocalBus
from server.services import queries

BATCH = 500
POLL_SECONDS = 5.0
QUEUE_LIMIT = 10_000


class _Follower:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.lagging = False

    def offer(self, event: Event) -> None:
        if self.lagging:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Too slow to keep up: it drops its queue and re-reads from the rows.
            self.lagging = True


class Hub:
    """Reads new events once for every follower in this process."""

    def __init__(self, bus: LocalBus, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.bus = bus
        self.cursor = 0
        self._poll = poll_seconds
        self._followers: set[_Follower] = set()
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def join(self) -> _Follower:
        """A new follower; every event after `self.cursor` will reach its queue."""
        async with self._starting:  # followers joining at once start one reader, not several
            if self._task is None:
                self.cursor = await queries.last_seq()
                self._task = asyncio.create_task(self._run(), name="stageflow-event-hub")
        follower = _Follower()
        self._followers.add(follower)
        return follower

    def leave(self, follower: _Follower) -> None:
        self._followers.discard(follower)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            events = await queries.events_after(self.cursor, limit=BATCH)
            # No await from here to the cursor update: a follower joining now sees either
            # these events in its queue or a cursor past them.
            for event in events:
                for follower in list(self._followers):
                    follower.offer(event)
            if events:
                self.cursor = events[-1].seq or self.cursor
            if len(events) == BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await self.bus.wait_beyond(self.cursor, timeout=self._poll)


async def follow(
    hub: Hub,
    *,
    after_seq: int | None,
    keep: Callable[[Event], bool],
    record_id: int | None = None,
    process_id: int | None = None,
) -> AsyncIterator[Event]:
    """Every kept event after `after_seq` (None: from now on), in seq order, forever.

    `record_id` and `process_id` narrow the replay in SQL; `keep` decides per event.
    """

    def wanted(event: Event) -> bool:
        if record_id is not None and event.record_id != record_id:
            return False
        if process_id is not None and event.process_id != process_id:
            return False
        return keep(event)

    follower = await hub.join()
    try:
        cursor = after_seq if after_seq is not None else hub.cursor
        while True:
            # Replay from the rows up to where the hub's queue takes over.
            while cursor < hub.cursor or follower.lagging:
                if follower.lagging:
                    follower.lagging = False
                    follower.queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
                    horizon = await queries.last_seq()
                else:
                    horizon = hub.cursor
                events = await queries.events_after(
                    cursor, record_id=record_id, process_id=process_id, limit=BATCH
                )
                events = [e for e in events if (e.seq or 0) <= horizon]
                for event in events:
                    cursor = event.seq or cursor
                    if keep(event):
                        yield event
                if len(events) < BATCH:
                    cursor = max(cursor, horizon)
            event = await follower.queue.get()
            if (event.seq or 0) <= cursor:
                continue
            cursor = event.seq or cursor
            if wanted(event):
                yield event
    finally:
        hub.leave(follower)
