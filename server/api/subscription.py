"""Subscriptions: replay from a seq, then live events, over graphql-transport-ws."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Annotated

import strawberry
from starlette.websockets import WebSocket
from strawberry.types import Info

from server.api.context import ctx, visible_instance
from server.api.ids import parse_id, parse_optional
from server.api.instances import Event
from server.domain import events
from server.domain.errors import NotFound, Unauthenticated
from server.events.feed import follow

AfterSeq = Annotated[
    int | None,
    strawberry.argument(
        description="Replay every event after this seq first; omit to receive only new events."
    ),
]


async def _stream(
    info: Info,
    *,
    after_seq: int | None,
    keep: Callable[[events.Event], bool],
    process_of: Callable[[events.Event], int | None],
    record_id: int | None = None,
    process_id: int | None = None,
) -> AsyncGenerator[Event, None]:
    """Events as they come; before each, access is checked again: a revoked credential
    ends the stream (and closes its socket), and a process the user may no longer run
    sends nothing."""
    context = ctx(info)
    feed = follow(
        context.runtime.hub,
        after_seq=after_seq,
        keep=keep,
        record_id=record_id,
        process_id=process_id,
    )
    async for event in feed:
        context.refresh()
        try:
            await context.recheck()
        except Unauthenticated:
            if isinstance(context.request, WebSocket):
                with contextlib.suppress(RuntimeError):
                    await context.request.close(code=4401, reason="Unauthorized")
            raise
        process = process_of(event)
        if process is None or await context.sees_process(process):
            yield Event.from_domain(event)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Stage moves, starts, finishes, abandons and reactivations, in seq order."
    )
    async def stage_changed(
        self,
        info: Info,
        instance_id: strawberry.ID | None = None,
        process_id: strawberry.ID | None = None,
        after_seq: AfterSeq = None,
    ) -> AsyncGenerator[Event, None]:
        context = ctx(info)
        iid = parse_optional("Instance", instance_id)
        record_id = (await visible_instance(context, iid)).record_id if iid is not None else None
        pid = parse_optional("Process", process_id)
        if pid is not None and not await context.sees_process(pid):
            raise NotFound("Process", pid)

        def keep(event: events.Event) -> bool:
            return event.kind in events.STAGE_KINDS and (iid is None or event.instance_id == iid)

        stream = _stream(
            info,
            after_seq=after_seq,
            keep=keep,
            process_of=lambda event: event.process_id,
            record_id=record_id,
            process_id=pid,
        )
        async for event in stream:
            yield event

    @strawberry.subscription(
        description="Every change to an instance or to its record, step values included."
    )
    async def instance_events(
        self,
        info: Info,
        instance_id: strawberry.ID,
        after_seq: AfterSeq = None,
    ) -> AsyncGenerator[Event, None]:
        iid = parse_id("Instance", instance_id)
        instance = await visible_instance(ctx(info), iid)

        def keep(event: events.Event) -> bool:
            return event.instance_id in (iid, None)

        async for event in _stream(
            info,
            after_seq=after_seq,
            keep=keep,
            process_of=lambda _: instance.process_id,
            record_id=instance.record_id,
        ):
            yield event
