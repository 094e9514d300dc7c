"""Following the event log: replay then live, no gap and no duplicate, even under writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from making import budget_step, started_instance, take_seqs

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
