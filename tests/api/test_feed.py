"""Following the event log: replay then live, no gap and no duplicate, even under writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from making import budget_step, started_instance, take_seqs
from tortoise.connection import get_connection

from server.events import feed
from server.services import queries


async def _changes(runtime: Any, iid: int, values: range) -> list[int]:
    return [await budget_step(runtime, iid, value) for value in values]


@pytest.mark.parametrize("queue_limit", [feed.QUEUE_LIMIT, 3], ids=["keeping-up", "lagging"])
async def test_replay_then_live_while_changes_commit(
    app: Any, monkeypatch: pytest.MonkeyPatch, queue_limit: int
) -> None:
    monkeypatch.setattr(feed, "QUEUE_LIMIT", queue_limit)
    runtime = app.state.runtime
    iid = await started_instance(runtime, "Feed")
    start = await queries.last_seq()
    before = await _changes(runtime, iid, range(1, 51))

    stream = feed.follow(runtime.hub, after_seq=start, keep=lambda e: e.instance_id == iid)
    reader = asyncio.create_task(take_seqs(stream, 100))
    during = await _changes(runtime, iid, range(51, 101))  # committed while it replays
    received = await asyncio.wait_for(reader, timeout=30)
    await stream.aclose()

    assert received == before + during
    assert received == list(range(start + 1, start + 101))


async def test_live_only_starts_after_the_newest_event(app: Any) -> None:
    runtime = app.state.runtime
    iid = await started_instance(runtime, "Feed")
    await _changes(runtime, iid, range(1, 4))
    stream = feed.follow(runtime.hub, after_seq=None, keep=lambda e: True)
    reader = asyncio.create_task(take_seqs(stream, 2))
    await asyncio.sleep(0.05)
    new = await _changes(runtime, iid, range(4, 6))
    assert await asyncio.wait_for(reader, timeout=10) == new
    await stream.aclose()


@pytest.mark.postgres
async def test_with_no_follower_only_what_observers_keep_by_is_read(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps are not read back by a worker no subscription follows, yet its cursor reaches
    the horizon, and another worker's process change still reaches its catalog."""
    runtime = app.state.runtime
    reads: list[tuple[Any, list[int]]] = []
    original = queries.feed_after

    async def counted(seq: int, **kw: Any) -> Any:
        events, horizon = await original(seq, **kw)
        reads.append((kw.get("kinds"), [e.seq for e in events]))
        return events, horizon

    monkeypatch.setattr(queries, "feed_after", counted)
    iid = await started_instance(runtime, "Narrow")
    steps = await _changes(runtime, iid, range(1, 6))
    newest = await queries.newest_seq()
    for _ in range(100):
        if runtime.hub.cursor >= newest:
            break
        await asyncio.sleep(0.02)
    assert runtime.hub.cursor == newest == steps[-1]
    assert reads and all(kinds for kinds, _ in reads)
    assert not {seq for _, seqs in reads for seq in seqs} & set(steps)

    # A process change another worker made: written here only as a row and its notice.
    generation = runtime.catalog.generation
    conn = get_connection("default")
    await conn.execute_query(
        "INSERT INTO event (seq, kind, actor, at, process_id) SELECT stageflow_next_seq(),"
        " 'PROCESS_ROLES_CHANGED', 'elsewhere', now(), 1 RETURNING seq"
    )
    runtime.bus.publish(await queries.newest_seq())
    for _ in range(100):
        if runtime.catalog.generation > generation:
            break
        await asyncio.sleep(0.02)
    assert runtime.catalog.generation > generation


async def test_a_follower_joining_during_a_narrowed_read_misses_nothing(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = app.state.runtime
    iid = await started_instance(runtime, "Narrow")
    await asyncio.sleep(0.1)  # the hub has read up to here
    original = queries.feed_after
    joined: list[Any] = []

    async def joining(seq: int, **kw: Any) -> Any:
        found = await original(seq, **kw)
        if kw.get("kinds") is not None and not joined:
            # A subscription starts while this narrowed read is on its way.
            stream = feed.follow(runtime.hub, after_seq=seq, keep=lambda e: e.instance_id == iid)
            joined.append((stream, asyncio.create_task(take_seqs(stream, 1))))
            await asyncio.sleep(0.05)
        return found

    monkeypatch.setattr(queries, "feed_after", joining)
    step = await budget_step(runtime, iid, 7)
    for _ in range(100):
        if joined:
            break
        await asyncio.sleep(0.02)
    stream, reader = joined[0]
    assert await asyncio.wait_for(reader, timeout=10) == [step]
    await stream.aclose()
