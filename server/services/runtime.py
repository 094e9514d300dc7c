"""What every use case runs with, and the transaction each change runs in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.db import store
from server.db.catalog import Catalog
from server.domain.errors import InvalidTransition, TransitionCode, VersionConflict
from server.domain.events import Event, EventKind
from server.domain.instance import Instance
from server.domain.record import Record
from server.events.bus import LocalBus
from server.events.feed import Hub


@dataclass(frozen=True)
class Runtime:
    catalog: Catalog
    bus: LocalBus
    hub: Hub

    @classmethod
    def create(cls) -> Runtime:
        bus = LocalBus()
        return cls(catalog=Catalog(), bus=bus, hub=Hub(bus))


@dataclass(frozen=True)
class Change:
    """A committed change: its event, and the instance and record as they are after it."""

    event: Event
    instance: Instance | None = None
    record: Record | None = None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def commit(
    rt: Runtime,
    change: Callable[[], Awaitable[Change]],
    *,
    kind: EventKind,
    by: str,
    idempotency_key: str | None,
) -> Change:
    """Run `change` in one transaction with its event row; publish once committed.

    `change` returns the event without its seq; it is numbered and written last, so
    the counter lock is held as briefly as possible. A repeated idempotency key
    returns the first outcome instead of changing anything again.
    """
    if idempotency_key:
        done = await store.event_by_key(idempotency_key)
        if done is not None:
            return await _replay(done, kind=kind, by=by)
    try:
        async with in_transaction():
            pending = await change()
            event = await store.append_event(pending.event, idempotency_key=idempotency_key)
    except IntegrityError:
        done = await store.event_by_key(idempotency_key) if idempotency_key else None
        if done is None:
            raise
        return await _replay(done, kind=kind, by=by)
    await rt.bus.publish(event.seq or 0)
    return replace(pending, event=event)


def check_version(kind: str, id: int | None, *, current: int, expected: int | None) -> None:
    """Refuse a change made on a stale read of the object."""
    if expected is not None and expected != current:
        raise VersionConflict(kind, id, current=current, expected=expected)


async def _replay(event: Event, *, kind: EventKind, by: str) -> Change:
    if event.kind is not kind or event.actor != by:
        raise InvalidTransition(
            TransitionCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was already used for another change",
        )
    instance = await store.get_instance(event.instance_id) if event.instance_id else None
    record = await store.get_record(event.record_id) if event.record_id else None
    return Change(event=event, instance=instance, record=record)
