"""Subscriptions: replay from a seq, then live events, over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Annotated

import strawberry
from strawberry.types import Info

from server.api.context import ctx
from server.api.ids import parse_id, parse_optional
from server.api.instances import Event
from server.domain import events
from server.events.feed import follow
from server.services import queries

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
    record_id: int | None = None,
    process_id: int | None = None,
) -> AsyncGenerator[Event, None]:
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
        iid = parse_optional("Instance", instance_id)
        record_id = (await queries.get_instance(iid)).record_id if iid is not None else None

        def keep(event: events.Event) -> bool:
            return event.kind in events.STAGE_KINDS and (iid is None or event.instance_id == iid)

        stream = _stream(
            info,
            after_seq=after_seq,
            keep=keep,
            record_id=record_id,
            process_id=parse_optional("Process", process_id),
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
        instance = await queries.get_instance(iid)

        def keep(event: events.Event) -> bool:
            return event.instance_id in (iid, None)

        async for event in _stream(
            info, after_seq=after_seq, keep=keep, record_id=instance.record_id
        ):
            yield event
