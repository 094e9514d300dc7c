"""Following the event log: replay then live, no gap and no duplicate, even under writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.events import feed
from server.services import instances, queries, records


async def _instance(runtime: Any) -> int:
    created = await records.create_record(
        runtime, entity="opportunity", name="Feed", owner="t", values={}, by="t"
    )
    assert created.record is not None and created.record.id is not None
    started = await instances.start_instance(
        runtime, record_id=created.record.id, process_id=None, by="t"
    )
    assert started.instance is not None and started.instance.id is not None
    return started.instance.id


async def _changes(runtime: Any, iid: int, values: range) -> list[int]:
    seqs = []
    for value in values:
        change = await instances.complete_step(
            runtime,
            instance_id=iid,
            field="estimated_budget",
            value=value,
            expected_version=None,
            by="t",
        )
        assert change.event.seq is not None
        seqs.append(change.event.seq)
    return seqs


async def _take(stream: Any, count: int) -> list[int]:
    got = []
    async for event in stream:
        got.append(event.seq)
        if len(got) == count:
            break
    return got


@pytest.mark.parametrize("queue_limit", [feed.QUEUE_LIMIT, 3], ids=["keeping-up", "lagging"])
async def test_replay_then_live_while_changes_commit(
    app: Any, monkeypatch: pytest.MonkeyPatch, queue_limit: int
) -> None:
    monkeypatch.setattr(feed, "QUEUE_LIMIT", queue_limit)
    runtime = app.state.runtime
    iid = await _instance(runtime)
    start = await queries.last_seq()
    before = await _changes(runtime, iid, range(1, 51))

    stream = feed.follow(runtime.hub, after_seq=start, keep=lambda e: e.instance_id == iid)
    reader = asyncio.create_task(_take(stream, 100))
    during = await _changes(runtime, iid, range(51, 101))  # committed while it replays
    received = await asyncio.wait_for(reader, timeout=30)
    await stream.aclose()

    assert received == before + during
    assert received == list(range(start + 1, start + 101))


async def test_live_only_starts_after_the_newest_event(app: Any) -> None:
    runtime = app.state.runtime
    iid = await _instance(runtime)
    await _changes(runtime, iid, range(1, 4))
    stream = feed.follow(runtime.hub, after_seq=None, keep=lambda e: True)
    reader = asyncio.create_task(_take(stream, 2))
    await asyncio.sleep(0.05)
    new = await _changes(runtime, iid, range(4, 6))
    assert await asyncio.wait_for(reader, timeout=10) == new
    await stream.aclose()
