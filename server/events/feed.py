"""Following the event log: replay after a seq, then live, with no gap and no duplicate.

Every read that moves a cursor stops at the horizon, below which each seq has committed
or never will (store.events_after), so reading `seq > cursor` never skips an event that
commits later. One reader per process (the hub) reads each new event once and hands
it to every follower; the bus only says that something newer exists, and a safety poll
covers a missed announcement, so the rows stay the truth. While the database is away, readers wait
and read again: a live feed outlives a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from server.db.outage import patiently
from server.domain.events import Event, EventKind
from server.events.bus import LocalBus
from server.events.supervisor import Supervisor
from server.services import queries

log = logging.getLogger("stageflow.events")

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
    """Reads new events once for every follower in this process.

    Its reader runs under the supervisor: when the database goes away the reader fails,
    is started again after a pause, and goes on from its cursor, so nothing is skipped.
    """

    NAME = "event-reader"

    def __init__(
        self, bus: LocalBus, supervisor: Supervisor, *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.bus = bus
        self.supervisor = supervisor
        self.cursor = 0
        self._poll = poll_seconds
        self._followers: set[_Follower] = set()
        self._observers: list[Callable[[Event], None]] = []
        # The kinds of event the observers keep anything by.
        self._observed: frozenset[EventKind] = frozenset()
        self._started = False
        self._starting = asyncio.Lock()
        # (a seq the database had, when this reader was first seen behind it)
        self._behind: tuple[int, float] | None = None

    async def start(self) -> None:
        """Read from the database's last seq on; until stopped."""
        async with self._starting:  # followers joining at once start one reader, not several
            if not self._started:
                self.cursor = await patiently(queries.last_seq)
                self._started = True
            self.supervisor.start(self.NAME, self._run)

    async def join(self) -> _Follower:
        """A new follower; every event after `self.cursor` will reach its queue."""
        if not self.supervisor.running(self.NAME):
            await self.start()
        follower = _Follower()
        self._followers.add(follower)
        return follower

    def leave(self, follower: _Follower) -> None:
        self._followers.discard(follower)

    def observe(self, observer: Callable[[Event], None], *, kinds: Iterable[EventKind]) -> None:
        """Tell `observer` of every event read, before any follower receives it: what it
        keeps is up to date by the time the change is announced. While no follower is
        there, only events of `kinds` (those it keeps anything by) are read."""
        self._observers.append(observer)
        self._observed |= frozenset(kinds)

    def tell(self, event: Event) -> None:
        """Tell the observers of an event (also of one this worker has just committed, so
        that it never answers from what it kept before its own change)."""
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # an observer's fault stops neither it nor the feed
                log.exception("observing event %s", event.seq)

    async def stop(self) -> None:
        await self.supervisor.stop(self.NAME)

    def lag(self, newest: int, *, now: float) -> float:
        """Seconds this reader has been behind a seq the database had (`newest` now)."""
        if self.cursor >= newest:
            self._behind = None
            return 0.0
        if self._behind is None or self._behind[0] <= self.cursor:
            self._behind = (newest, now)
        return now - self._behind[1]

    async def _run(self) -> None:
        while True:
            # With no follower, only what the observers keep anything by is read: every
            # worker writing steps would otherwise read each of them back.
            narrowed = not self._followers
            events, horizon = await queries.feed_after(
                self.cursor, limit=BATCH, kinds=self._observed if narrowed else None
            )
            # No await from here to the cursor update: a follower joining now sees either
            # these events in its queue or a cursor past them.
            if narrowed and self._followers:
                continue  # one joined during a narrowed read: read again, every event
            for event in events:
                self.tell(event)
                for follower in list(self._followers):
                    follower.offer(event)
            if len(events) == BATCH:
                self.cursor = events[-1].seq or self.cursor
                continue
            self.cursor = max(self.cursor, horizon)
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
        # From now on: after the database's last seq (the reader may not have read it yet).
        cursor = after_seq if after_seq is not None else await patiently(queries.last_seq)
        while True:
            # Replay from the rows up to where the hub's queue takes over.
            while cursor < hub.cursor or follower.lagging:
                if follower.lagging:
                    follower.lagging = False
                    follower.queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
                    horizon = await patiently(queries.last_seq)
                else:
                    horizon = hub.cursor
                events = await patiently(
                    functools.partial(
                        queries.events_after,
                        cursor,
                        record_id=record_id,
                        process_id=process_id,
                        limit=BATCH,
                    )
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
