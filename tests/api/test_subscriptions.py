"""A subscription starts where the client subscribed, however long it takes to set it up.

The client's `subscribe` message arrives, then the document is parsed, checked and its
resolver joins the feed. A change committed in between belongs to the subscription: it is
delivered, whether the operation runs on its own or joins a stream other sockets share.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from making import new_instance, set_budget
from sockets import Socket

from server.api.fanout import Fanout
from server.events.feed import Hub

EVENTS = "subscription($id: ID!) { instanceEvents(instanceId: $id) { seq kind } }"
EVENTS_AFTER = """subscription($id: ID!, $after: Int) {
  instanceEvents(instanceId: $id, afterSeq: $after) { seq } }"""


async def _next_seq(socket: Socket) -> int:
    message = await socket.receive()
    assert message["type"] == "next", message
    return message["payload"]["data"]["instanceEvents"]["seq"]  # type: ignore[no-any-return]


class _Gate:
    """Holds whatever it wraps until opened, and tells when something is waiting."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    def wrap(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def held(*args: Any, **kwargs: Any) -> Any:
            self.waiting.set()
            await self.open.wait()
            return await original(*args, **kwargs)

        return held


@pytest.fixture
async def token(gql: Any) -> AsyncIterator[str]:
    yield await gql.token("demo")


async def test_a_change_while_the_subscription_is_set_up_is_delivered(
    gql: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql, "Late")
    gate = _Gate()
    monkeypatch.setattr(Hub, "join", gate.wrap(Hub.join))
    async with Socket(gql.app, token) as socket:
        await socket.subscribe("1", EVENTS, id=instance)
        await asyncio.wait_for(gate.waiting.wait(), 5)
        during = await set_budget(gql, instance, 10)  # committed before the feed is joined
        gate.open.set()
        after = await set_budget(gql, instance, 20)
        assert [await _next_seq(socket), await _next_seq(socket)] == [during, after]


async def test_joining_a_shared_stream_that_moved_on_misses_nothing(
    gql: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql, "Late")
    async with Socket(gql.app, token) as first, Socket(gql.app, token) as second:
        await first.subscribe("1", EVENTS, id=instance)
        ready = await set_budget(gql, instance, 1)
        assert await _next_seq(first) == ready  # the first socket's stream is running

        gate = _Gate()
        monkeypatch.setattr(Fanout, "follow", gate.wrap(Fanout.follow))
        await second.subscribe("1", EVENTS, id=instance)
        await asyncio.wait_for(gate.waiting.wait(), 5)
        during = await set_budget(gql, instance, 2)  # the shared stream sends it before the join
        assert await _next_seq(first) == during
        gate.open.set()
        after = await set_budget(gql, instance, 3)
        assert [await _next_seq(second), await _next_seq(second)] == [during, after]
        assert await _next_seq(first) == after


async def test_a_negative_after_seq_is_refused(gql: Any, token: str) -> None:
    instance = await new_instance(gql, "Late")
    async with Socket(gql.app, token) as socket:
        await socket.subscribe("1", EVENTS_AFTER, id=instance, after=-1)
        message = await socket.receive()
        assert message["type"] in {"error", "next"}, message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "afterSeq" in errors[0]["message"]
