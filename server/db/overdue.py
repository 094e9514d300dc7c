"""Stays past their due: found, marked and told, each once, whichever worker looks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from server.db import store
from server.db.models import InstanceRow, VisitRow
from server.domain.events import Event, EventKind

ACTOR = "stageflow"


# The entity whose record a stage works on: (process id, version, stage key) -> entity key.
EntityOf = Callable[[int, int, str], Awaitable[str]]


async def mark_batch(
    now: dt.datetime, *, limit: int, entity_of: EntityOf | None = None
) -> list[Event]:
    """Inside a transaction: up to `limit` open stays due by `now` and not marked yet,
    marked overdue, with one STAGE_OVERDUE event each (numbered, not yet announced). An
    instance that crossed into other records tells it on the record the stay's stage works
    on (`entity_of`).

    On PostgreSQL the stays are locked with SKIP LOCKED: a stay another scanner holds is
    left to it, and a stay a move is closing waits for neither (the move holds it; once
    the move commits the stay is no longer open). The instance is not written: its version
    stays, so no caller meets a conflict it did not cause.
    """
    query = (
        VisitRow.filter(exited_at=None, overdue_at=None, due_at__not_isnull=True, due_at__lte=now)
        .order_by("due_at", "id")
        .limit(limit)
        .select_for_update(skip_locked=True, no_key=True)
    )
    stays = await query
    if not stays:
        return []
    await VisitRow.filter(id__in=[s.id for s in stays]).update(overdue_at=now)
    instances = {
        row.id: row
        for row in await InstanceRow.filter(id__in={s.instance_id for s in stays}).only(
            "id", "record_id", "process_id", "process_version"
        )
    }
    links = await store.links_of(instances) if entity_of is not None else {}
    events = []
    for stay in stays:
        instance = instances[stay.instance_id]
        assert stay.due_at is not None
        record_id = instance.record_id
        if entity_of is not None and (crossed := links.get(instance.id)):
            entity = await entity_of(instance.process_id, instance.process_version, stay.stage)
            record_id = crossed.get(entity, record_id)
        event = overdue_event(
            now,
            record_id=record_id,
            instance_id=instance.id,
            process_id=instance.process_id,
            stage=stay.stage,
            entered_at=stay.entered_at,
            due_at=stay.due_at,
        )
        events.append(await store.append_event(event))
    return events


def overdue_event(
    now: dt.datetime,
    *,
    record_id: int,
    instance_id: int,
    process_id: int,
    stage: str,
    entered_at: dt.datetime,
    due_at: dt.datetime,
) -> Event:
    """The one event telling that a stay, found at `now`, is past its due."""
    return Event(
        kind=EventKind.STAGE_OVERDUE,
        actor=ACTOR,
        at=now,
        record_id=record_id,
        instance_id=instance_id,
        process_id=process_id,
        to_stage=stage,
        after={"stage": stage, "enteredAt": entered_at.isoformat(), "dueAt": due_at.isoformat()},
    )
