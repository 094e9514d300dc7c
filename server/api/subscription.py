"""Subscriptions: replay from a seq, then live events, over graphql-transport-ws."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from typing import Annotated

import strawberry
from starlette.websockets import WebSocket
from strawberry.types import Info

from server.api.context import Context, ctx, visible_instance
from server.api.ids import parse_id, parse_optional
from server.api.instances import Event
from server.domain import events
from server.domain.errors import InvalidValue, NotFound, Unauthenticated
from server.domain.instance import Instance as DomainInstance
from server.events.feed import follow
from server.services.runtime import patiently

AfterSeq = Annotated[
    int | None,
    strawberry.argument(
        description="Replay every event after this seq first; omit to receive every event "
        "committed after the subscription was sent."
    ),
]

# The database's last seq when the client's `subscribe` message arrived: a subscription
# without afterSeq starts there, so a change committed while it is being set up is not
# missed. Set by the websocket handler around the start of each operation's task.
SUBSCRIBED_AT: ContextVar[int | None] = ContextVar("subscribed_at", default=None)


def _start(after_seq: int | None) -> int | None:
    if after_seq is not None and after_seq < 0:
        raise InvalidValue("afterSeq", "a seq is 0 or more")
    return after_seq if after_seq is not None else SUBSCRIBED_AT.get()


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
        try:
            # While the database is away this waits: a blip does not end the subscription.
            shown = await patiently(functools.partial(_check, context, event, process_of))
        except Unauthenticated:
            if isinstance(context.request, WebSocket):
                with contextlib.suppress(RuntimeError):
                    await context.request.close(code=4401, reason="Unauthorized")
            raise
        if shown:
            context.streamed_seq = event.seq or 0
            yield Event.from_domain(event)


async def _check(
    context: Context, event: events.Event, process_of: Callable[[events.Event], int | None]
) -> bool:
    """Whether the user may still see the event; what its fields show is read in advance,
    so a database blip while they are resolved does not leave them empty."""
    context.refresh()
    await context.recheck()
    process = process_of(event)
    if process is not None and not await context.sees_process(process):
        return False
    if event.instance_id is not None:
        await context.loaders.instances.load(event.instance_id)
    if event.record_id is not None:
        await context.loaders.records.load(event.record_id)
    return True


async def _records_of(context: Context, instance: DomainInstance) -> tuple[set[int], bool]:
    """The records an instance is on, and whether it may be on several (its process runs
    across entities): those it crosses into later are added as the crossings are told."""
    assert instance.id is not None
    process = await context.runtime.catalog.version(instance.process_id, instance.process_version)
    links = await context.loaders.links.load(instance.id)
    return {instance.record_id, *links.values()}, bool(process.crossings or links)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Stage moves, starts, finishes, abandons, reactivations and stays past "
        "their due, in seq order."
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
        record_id = None
        if iid is not None:
            instance = await visible_instance(context, iid)
            # A process across entities tells its moves on the record of the stage entered.
            record_id = (
                instance.record_id if len(await _records_of(context, instance)) == 1 else None
            )
        pid = parse_optional("Process", process_id)
        if pid is not None and not await context.sees_process(pid):
            raise NotFound("Process", pid)

        def keep(event: events.Event) -> bool:
            return event.kind in events.STAGE_KINDS and (iid is None or event.instance_id == iid)

        stream = _stream(
            info,
            after_seq=_start(after_seq),
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
        start = _start(after_seq)
        context = ctx(info)
        instance = await visible_instance(context, iid)
        records, several = await _records_of(context, instance)

        def keep(event: events.Event) -> bool:
            if event.instance_id == iid:
                if event.record_id is not None:
                    records.add(event.record_id)  # a record crossed into is on it from now
                return True
            return event.instance_id is None and event.record_id in records

        async for event in _stream(
            info,
            after_seq=start,
            keep=keep,
            process_of=lambda _: instance.process_id,
            # A process across entities tells its changes on each of its records.
            record_id=None if several else instance.record_id,
        ):
            yield event
