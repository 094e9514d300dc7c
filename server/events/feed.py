"""Following the event log: replay after a seq, then live, with no gap and no duplicate.

Seqs become visible in commit order (the counter row is locked until commit), so
reading `seq > cursor` never skips an event that commits later. The bus only says
that something newer exists; the rows are the truth, so a missed announcement
costs at most one poll interval, never an event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from server.domain.events import Event
from server.events.bus import LocalBus
from server.services import queries

BATCH = 500
POLL_SECONDS = 5.0


async def follow(
    bus: LocalBus,
    *,
    after_seq: int | None,
    keep: Callable[[Event], bool],
    record_id: int | None = None,
    process_id: int | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[Event]:
    """Every kept event after `after_seq` (None: from now on), in seq order, forever.

    `record_id` and `process_id` narrow the read in SQL; `keep` decides per event.
    """
    cursor = after_seq if after_seq is not None else await queries.last_seq()
    while True:
        # Every seq up to the horizon is committed, so a read after it misses none of them.
        horizon = await queries.last_seq()
        events = await queries.events_after(
            cursor, record_id=record_id, process_id=process_id, limit=BATCH
        )
        for event in events:
            assert event.seq is not None
            cursor = event.seq
            if keep(event):
                yield event
        if len(events) == BATCH:
            continue
        cursor = max(cursor, horizon)
        with contextlib.suppress(TimeoutError):
            await bus.wait_beyond(cursor, timeout=poll_seconds)
