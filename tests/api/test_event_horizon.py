"""On PostgreSQL events are numbered from a sequence: changes on different instances commit
side by side, and every reader stops at the horizon, below which each seq has committed or
never will. A reader that meets a smaller seq still open waits for it; it never skips it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from making import budget_step, started_instance, take_seqs
from tortoise.transactions import in_transaction

from server.db import store
from server.domain.events import Event, EventKind
from server.events import feed
from server.events.postgres import asyncpg_dsn
from server.services import queries
from server.services.runtime import utcnow

pytestmark = pytest.mark.postgres

EVENTS = importlib.import_module("server.db.migrations.0008_event_sequence").EVENTS
# Far above how long any of these steps takes; reached only when something waits for good.
PATIENCE = 30


class Held:
    """A change that has taken its seq and has not committed until told to."""

    def __init__(self, instance_id: int) -> None:
        self.instance_id = instance_id
        self.seq = 0
        self.pid = 0
        self.numbered = asyncio.Event()
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with in_transaction() as conn:
            event = await store.append_event(
                Event(
                    kind=EventKind.STEP_COMPLETED,
                    actor="t",
                    at=utcnow(),
                    instance_id=self.instance_id,
                    after={"held": True},
                )
            )
            assert event.seq is not None
            self.seq = event.seq
            rows = await conn.execute_query_dict("SELECT pg_backend_pid() AS pid")
            self.pid = rows[0]["pid"]
            self.numbered.set()
            await self.release.wait()

    async def commit(self) -> None:
        self.release.set()
        await asyncio.wait_for(self.task, PATIENCE)


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield conn
    finally:
        await conn.close()


async def _waiting(admin: asyncpg.Connection) -> int:
    """Readers waiting at the horizon: waiters for the events lock."""
    return int(
        await admin.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
            " AND objid = 0 AND objsubid = 2 AND NOT granted",
            EVENTS,
        )
    )


async def _until_waiting(admin: asyncpg.Connection, readers: list[asyncio.Task[Any]]) -> None:
    """Until every reader waits at the horizon; a reader that answers instead fails."""

    async def waiting() -> None:
        while await _waiting(admin) < len(readers):
            done = [r for r in readers if r.done()]
            assert not done, f"a reader answered past an open seq: {done[0].result()}"
            await asyncio.sleep(0.01)

    await asyncio.wait_for(waiting(), PATIENCE)


async def _held_behind(runtime: Any, value: int) -> tuple[int, Held, int, int]:
    """With the feed stopped (only the test's readers wait): the last seq, a change on one
    instance holding the next seq open, and the seq and instance of a change on another
    instance that committed meanwhile without waiting for it (one counter row locked until
    commit would make it wait)."""
    first = await started_instance(runtime, "Horizon")
    second = await started_instance(runtime, "Horizon")
    start = await queries.last_seq()
    await runtime.hub.stop()
    held = Held(first)
    await asyncio.wait_for(held.numbered.wait(), PATIENCE)
    later = await asyncio.wait_for(budget_step(runtime, second, value), PATIENCE)
    assert later > held.seq > start
    return start, held, later, second


async def test_a_smaller_seq_still_open_holds_back_every_reader_until_it_commits(
    app: Any, admin: asyncpg.Connection
) -> None:
    runtime = app.state.runtime
    start, held, later, second = await _held_behind(runtime, 7)

    # Each waiting reader holds one of the pool's five connections, as the held change does.
    readers: list[asyncio.Task[Any]] = []
    for reader in (
        queries.feed_after(start, limit=100),  # the feed's read
        queries.events_after(start, instance_id=second),  # a narrowed one
        queries.last_seq(),
    ):
        readers.append(asyncio.create_task(reader))  # type: ignore[arg-type]
        await _until_waiting(admin, readers)
    stream = feed.follow(runtime.hub, after_seq=start, keep=lambda e: True)
    following = asyncio.create_task(take_seqs(stream, 2))
    readers.append(following)
    await _until_waiting(admin, readers)

    await held.commit()
    (fed, fed_to), narrowed, horizon, followed = await asyncio.wait_for(
        asyncio.gather(*readers), PATIENCE
    )
    await stream.aclose()
    assert [e.seq for e in fed] == [held.seq, later] and fed_to == later
    assert [e.seq for e in narrowed] == [later]
    assert horizon == later
    assert followed == [held.seq, later]


async def test_a_writer_killed_while_holding_its_seq_lets_the_readers_go(
    app: Any, admin: asyncpg.Connection
) -> None:
    runtime = app.state.runtime
    start, held, later, _ = await _held_behind(runtime, 8)
    reader = asyncio.create_task(queries.feed_after(start, limit=100))
    await _until_waiting(admin, [reader])

    assert await admin.fetchval("SELECT pg_terminate_backend($1)", held.pid)
    events, horizon = await asyncio.wait_for(reader, PATIENCE)
    assert [e.seq for e in events] == [later] and horizon == later
    held.release.set()
    with contextlib.suppress(Exception):  # its connection is gone: it cannot commit
        await asyncio.wait_for(held.task, PATIENCE)

    # Its seq is never used; nothing waits any more, and what follows is read on.
    after = await asyncio.wait_for(budget_step(runtime, held.instance_id, 9), PATIENCE)
    assert after > later
    events = await asyncio.wait_for(queries.events_after(start), PATIENCE)
    assert [e.seq for e in events] == [later, after]
    assert await queries.last_seq() == await queries.newest_seq() == after
    # The feed, started again, goes on to the horizon and reports itself caught up.
    await runtime.hub.start()
    while runtime.hub.cursor < after:
        runtime.bus.publish(after)
        await asyncio.sleep(0.01)
    assert runtime.hub.lag(await queries.newest_seq(), now=0.0) == 0.0


async def test_fifty_writers_on_fifty_instances_reach_every_follower_in_seq_order(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = app.state.runtime
    ids = [await started_instance(runtime, "Horizon") for _ in range(50)]
    ours = set(ids)
    start = await queries.last_seq()
    steps = 4

    def stream(after_seq: int | None) -> Any:
        return feed.follow(runtime.hub, after_seq=after_seq, keep=lambda e: e.instance_id in ours)

    live = stream(start)
    live_reader = asyncio.create_task(take_seqs(live, 50 * steps))
    await asyncio.sleep(0)

    async def writer(iid: int) -> list[int]:
        return [await budget_step(runtime, iid, value) for value in range(steps)]

    writers = [asyncio.create_task(writer(iid)) for iid in ids]
    # Joined while the writers run: one replays from the rows, one falls behind its queue.
    await asyncio.sleep(0.05)
    replay = stream(start)
    replay_reader = asyncio.create_task(take_seqs(replay, 50 * steps))
    monkeypatch.setattr(feed, "QUEUE_LIMIT", 5)
    lagging = stream(start)
    lagging_reader = asyncio.create_task(take_seqs(lagging, 50 * steps))

    written = sorted(seq for seqs in await asyncio.gather(*writers) for seq in seqs)
    received = await asyncio.wait_for(
        asyncio.gather(live_reader, replay_reader, lagging_reader), PATIENCE
    )
    for s in (live, replay, lagging):
        await s.aclose()

    stored = [e.seq for e in await queries.events_after(start, limit=1000)]
    assert len(written) == len(set(written)) == 50 * steps
    assert stored == written
    for got in received:
        assert got == written


async def test_the_feed_goes_on_past_a_seq_left_unused(app: Any) -> None:
    runtime = app.state.runtime
    iid = await started_instance(runtime, "Horizon")
    with pytest.raises(RuntimeError):
        async with in_transaction():
            unused = await store.append_event(
                Event(kind=EventKind.STEP_COMPLETED, actor="t", at=utcnow(), instance_id=iid)
            )
            raise RuntimeError("rolled back after taking its seq")
    assert unused.seq is not None and await queries.newest_seq() == unused.seq

    async def caught_up() -> None:
        while runtime.hub.cursor < unused.seq:  # type: ignore[operator]
            runtime.bus.publish(unused.seq)  # as the feed's safety poll would wake it
            await asyncio.sleep(0.01)

    await asyncio.wait_for(caught_up(), PATIENCE)
    assert runtime.hub.lag(await queries.newest_seq(), now=0.0) == 0.0
    assert await queries.feed_after(runtime.hub.cursor, limit=10) == ([], unused.seq)
