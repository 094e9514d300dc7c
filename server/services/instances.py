"""Use cases that move an instance through its process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from tortoise.exceptions import IntegrityError

from server.db import store
from server.domain import instance as rules
from server.domain.errors import InvalidTransition, InvalidValue, NotFound, TransitionCode
from server.domain.events import Event, EventKind
from server.domain.fields import FieldType
from server.domain.instance import Instance
from server.domain.process import Crossing, Process, Stage
from server.domain.record import Record, update_record
from server.domain.validation import KEY_PATTERN
from server.services.lookups import check_lookups
from server.services.runtime import Change, Decided, Runtime, check_version, commit, utcnow

# A rule that moves an instance: (instance, process, the active stage's record, the values of
# every record on the instance by entity, now, by) -> (moved, event).
Move = Callable[
    [Instance, Process, Record, Mapping[str, Mapping[str, Any]], dt.datetime, str],
    tuple[Instance, Event],
]


async def start_instance(
    rt: Runtime,
    *,
    record_id: int,
    process_id: int | None,
    by: str,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """Start a process on a record (default: the entity's first active process).

    `runnable` limits the processes to those the acting user may run (None: all).
    """

    async def change() -> Change:
        record = await store.lock_record(record_id)
        process = await _process_for(rt, record, process_id, runnable)
        existing = await store.find_instance(record_id, process.id)  # type: ignore[arg-type]
        if existing is not None:
            raise InvalidTransition(
                TransitionCode.ALREADY_RUNNING,
                f"record {record_id} already runs {process.key} (instance {existing.id}); "
                "switch to it instead",
            )
        return await _start(record, process, by=by)

    request = {"recordId": record_id, "processId": process_id}
    return await _retry_once(
        lambda: commit(
            rt,
            change,
            kind=EventKind.INSTANCE_STARTED,
            by=by,
            idempotency_key=idempotency_key,
            request=request,
            visible=runnable,
        )
    )


async def switch_process(
    rt: Runtime,
    *,
    record_id: int,
    process_id: int,
    expected_version: int | None,
    by: str,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """Show another process on the record, resuming its instance or starting one."""

    async def change() -> Change:
        record = await store.lock_record(record_id)
        check_version("Record", record.id, current=record.version, expected=expected_version)
        process = await _process_for(rt, record, process_id, runnable)
        target = await store.find_instance(record_id, process_id)
        if target is None and (crossed := await store.linked_instance(record_id, process_id)):
            target = await store.get_instance(crossed)  # the run it was crossed into
        if target is None:
            # Two changes, two events: the run starts, then the bar shows it.
            target, started = rules.start(process, record, now=utcnow(), by=by)
            target = await store.insert_instance(target)
            await store.append_event(replace(started, instance_id=target.id))
        switched, event = rules.switch_to(record, target, now=utcnow(), by=by)
        await store.save_record(record, switched)
        return Change(event=event, instance=target, record=switched)

    request = {"recordId": record_id, "processId": process_id, "expectedVersion": expected_version}
    return await _retry_once(
        lambda: commit(
            rt,
            change,
            kind=EventKind.PROCESS_SWITCHED,
            by=by,
            idempotency_key=idempotency_key,
            request=request,
            visible=runnable,
        )
    )


async def complete_step(
    rt: Runtime,
    *,
    instance_id: int,
    field: str,
    value: Any,
    expected_version: int | None,
    by: str,
    entity: str | None = None,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """Set a step's value; the record's field changes for every process on it. In a process
    across entities, the value goes to the record of the last stage reached that asks it
    (of `entity`'s record, if given)."""

    if entity is not None and not KEY_PATTERN.match(entity):
        raise InvalidValue("entity", "is not an entity key")

    async def decide(rows: tuple[Instance, Record] | None) -> Decided | None:
        if rows is None:
            instance, record = await store.get_instance_and_record(instance_id, visible=runnable)
        else:
            instance, record = rows
            if runnable is not None and instance.process_id not in runnable:
                raise NotFound("Instance", instance_id)
        check_version("Instance", instance.id, current=instance.version, expected=expected_version)
        process = await rt.catalog.version(instance.process_id, instance.process_version)
        if process.crossings or _lookup(process, field):
            return None  # its record is found, and its value checked, under the locks
        moved, updated, event = rules.complete_step(
            instance, process, record, field, value, now=utcnow(), by=by
        )
        return Decided((instance, moved), (record, updated), event)

    async def change() -> Change:
        instance, record = await store.lock_instance_and_record(instance_id, visible=runnable)
        check_version("Instance", instance.id, current=instance.version, expected=expected_version)
        process = await rt.catalog.version(instance.process_id, instance.process_version)
        if process.crossings:
            # The step's stage says whose record the value is for.
            stage = rules.step_stage(instance, process, field, entity)
            on = process.entity_of(stage).key
            if on != record.entity:
                assert instance.id is not None
                links = (await store.links_of([instance.id])).get(instance.id, {})
                record = (await store.lock_records([links[on]]))[links[on]]
        moved, updated, event = rules.complete_step(
            instance, process, record, field, value, now=utcnow(), by=by
        )
        if _lookup(process, field):
            own = next(e for e in process.entities if e.key == record.entity)
            await check_lookups(own, {field: updated.values.get(field)}, runnable)
        await store.save_record_and_instance((record, updated), (instance, moved))
        return Change(event=event, instance=moved, record=updated)

    request = {
        "instanceId": instance_id,
        "field": field,
        "value": value,
        "expectedVersion": expected_version,
        **({"entity": entity} if entity is not None else {}),
    }
    return await commit(
        rt,
        change,
        decide=decide,
        instance_id=instance_id,
        kind=EventKind.STEP_COMPLETED,
        by=by,
        idempotency_key=idempotency_key,
        request=request,
        visible=runnable,
    )


async def advance_stage(rt: Runtime, *, link_record_id: int | None = None, **kw: Any) -> Change:
    """Leave the active stage forward, through the gate and branching. Into a stage of the
    process's next entity, the instance crosses: into the record given (`link_record_id`),
    or into one created from the records on its path, in the same transaction."""
    return await _move(
        rt,
        lambda i, p, r, held, now, by: rules.advance(i, p, r.values, now=now, by=by, path=held),
        kind=EventKind.STAGE_ADVANCED,
        link_record_id=link_record_id,
        # Left out when absent: a key used before crossings existed is bound to the same.
        asked={"linkRecordId": link_record_id} if link_record_id is not None else None,
        **kw,
    )


async def _cross(
    instance: Instance,
    process: Process,
    crossing: Crossing,
    path: dict[str, Record],
    link_record_id: int | None,
    *,
    now: dt.datetime,
    by: str,
    runnable: set[int] | None,
) -> Record:
    """The record the instance crosses into, on the instance and showing it: created, or the
    one given (which must be of the entity, visible to the user and on no other instance of
    the process), its lookup set back to the record before it. Each change is an event."""
    if link_record_id is None:
        made, created = rules.crossed_record(process, crossing, path, now=now, by=by)
        made = await store.insert_record(replace(made, active_instance_id=instance.id))
        await store.append_event(
            replace(
                created, record_id=made.id, instance_id=instance.id, process_id=instance.process_id
            )
        )
        await store.insert_link(instance, made, now=now)
        path[made.entity] = made
        return made
    await store.get_record(link_record_id, visible=runnable)  # NotFound if not to be seen
    target = (await store.lock_records([link_record_id]))[link_record_id]
    if target.entity != crossing.entity.key:
        raise InvalidValue(
            "linkRecordId",
            f"record {target.id} is a {target.entity}; this crossing links a {crossing.entity.key}",
        )
    assert process.id is not None and target.id is not None
    if (
        await store.find_instance(target.id, process.id) is not None
        or await store.linked_instance(target.id, process.id) is not None
    ):
        raise InvalidTransition(
            TransitionCode.ALREADY_RUNNING,
            f"record {target.id} is on another instance of {process.key} already",
        )
    before = path[process.entities[(process.position(crossing.entity.key) or 0) - 1].key]
    linked, event = update_record(
        target,
        crossing.entity,
        values={crossing.lookup: before.id},
        now=now,
        by=by,
        instance_id=instance.id,
    )
    linked = replace(linked, active_instance_id=instance.id)
    await store.save_record(target, linked)
    await store.append_event(replace(event, process_id=instance.process_id))
    await store.insert_link(instance, linked, now=now)
    path[linked.entity] = linked
    return linked


async def _path(instance: Instance, process: Process, record: Record) -> dict[str, Record]:
    """The records on the instance by entity, those it crossed into locked (after its own,
    locked already) until commit."""
    if not process.crossings:
        return {record.entity: record}
    assert instance.id is not None
    links = (await store.links_of([instance.id])).get(instance.id, {})
    locked = await store.lock_records(links.values())
    return {record.entity: record, **{r.entity: r for r in locked.values()}}


def _lookup(process: Process, field: str) -> bool:
    """Whether a step of `field` is a lookup on any of the process's entities."""
    return any(
        (found := e.field(field)) is not None and found.type is FieldType.LOOKUP
        for e in process.entities
    )


def _stage(process: Process, key: str) -> Stage:
    stage = process.stage(key)
    assert stage is not None, "an instance's active stage exists in its process version"
    return stage


async def move_to_stage(rt: Runtime, *, stage: str, **kw: Any) -> Change:
    """Go back to a stage on the traversed path."""
    return await _move(
        rt,
        lambda i, p, r, _, now, by: rules.move_to(i, p, stage, now=now, by=by),
        kind=EventKind.STAGE_MOVED_BACK,
        stage=stage,
        **kw,
    )


async def finish_instance(
    rt: Runtime, *, outcome: str | None = None, reason: str | None = None, **kw: Any
) -> Change:
    """Finish from a last stage, with one of the process's outcomes if it declares any."""
    return await _move(
        rt,
        lambda i, p, r, _, now, by: rules.finish(
            i, p, r.values, outcome=outcome, reason=reason, now=now, by=by
        ),
        kind=EventKind.INSTANCE_FINISHED,
        # Absent ones are left out: a key used before outcomes existed is bound to the same.
        asked={k: v for k, v in (("outcome", outcome), ("reason", reason)) if v is not None},
        **kw,
    )


async def abandon_instance(rt: Runtime, **kw: Any) -> Change:
    return await _move(
        rt,
        lambda i, p, r, _, now, by: rules.abandon(i, now=now, by=by),
        kind=EventKind.INSTANCE_ABANDONED,
        **kw,
    )


async def reactivate_instance(rt: Runtime, **kw: Any) -> Change:
    return await _move(
        rt,
        lambda i, p, r, _, now, by: rules.reactivate(i, p, now=now, by=by),
        kind=EventKind.INSTANCE_REACTIVATED,
        **kw,
    )


async def _move(
    rt: Runtime,
    move: Move,
    *,
    instance_id: int,
    expected_version: int | None,
    by: str,
    kind: EventKind,
    stage: str | None = None,
    asked: dict[str, Any] | None = None,
    link_record_id: int | None = None,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """`asked`: what else the request gave, which its idempotency key is bound to.

    Each stage is worked on its entity's record: the move is decided on the active stage's,
    and told on the record of the stage it leaves the instance in. Only a move forward can
    reach an entity with no record on the instance yet: it crosses into one (`_cross`)."""

    async def change() -> Change:
        instance, process, record = await _load(
            rt, instance_id, expected_version, runnable=runnable
        )
        path = await _path(instance, process, record)
        now = utcnow()
        held = {entity: on.values for entity, on in path.items()}
        own = path[process.entity_of(_stage(process, instance.active_stage)).key]
        moved, event = move(instance, process, own, held, now, by)
        entity = process.entity_of(_stage(process, moved.active_stage)).key
        shown = path.get(entity)
        if shown is not None and link_record_id is not None:
            raise InvalidTransition(
                TransitionCode.NO_CROSSING,
                f"this move stays on the {entity} record already on the instance; "
                "leave linkRecordId out",
            )
        if shown is None:
            crossing = process.crossing_into(entity)
            assert crossing is not None, "validation puts every stage's entity on the chain"
            shown = await _cross(
                moved, process, crossing, path, link_record_id, now=now, by=by, runnable=runnable
            )
            made = link_record_id is None
            crossed = {"entity": entity, "recordId": shown.id, "created": made}
            event = replace(event, after={**(event.after or {}), "crossed": crossed})
        await store.save_instance(instance, moved)
        return Change(event=replace(event, record_id=shown.id), instance=moved, record=shown)

    request = {
        "instanceId": instance_id,
        "stage": stage,
        "expectedVersion": expected_version,
        **(asked or {}),
    }
    return await commit(
        rt,
        change,
        kind=kind,
        by=by,
        idempotency_key=idempotency_key,
        request=request,
        visible=runnable,
    )


async def _load(
    rt: Runtime,
    instance_id: int,
    expected_version: int | None,
    *,
    runnable: set[int] | None,
    stays: bool = True,
) -> tuple[Instance, Process, Record]:
    """The instance and its record, locked for the rest of the transaction: the moves and
    values decided on them are written as decided, whatever runs at the same time. An
    instance of a process the user may not run is not found (`runnable`; None: any)."""
    instance = await store.lock_instance(instance_id, visible=runnable, stays=stays)
    check_version("Instance", instance.id, current=instance.version, expected=expected_version)
    process = await rt.catalog.version(instance.process_id, instance.process_version)
    record = await store.lock_record(instance.record_id)
    return instance, process, record


async def _process_for(
    rt: Runtime, record: Record, process_id: int | None, runnable: set[int] | None
) -> Process:
    if process_id is not None:
        if runnable is not None and process_id not in runnable:
            raise NotFound("Process", process_id)
        return await rt.catalog.process(process_id)
    process = await rt.catalog.default_process(record.entity, runnable)
    if process is None:
        raise InvalidTransition(
            TransitionCode.NO_PROCESS, f"no active process runs on {record.entity}"
        )
    return process


async def _start(record: Record, process: Process, *, by: str) -> Change:
    now = utcnow()
    instance, event = rules.start(process, record, now=now, by=by)
    instance = await store.insert_instance(instance)
    shown = replace(
        record, active_instance_id=instance.id, version=record.version + 1, updated_at=now
    )
    await store.save_record(record, shown)
    return Change(event=replace(event, instance_id=instance.id), instance=instance, record=shown)


async def _retry_once(attempt: Callable[[], Awaitable[Change]]) -> Change:
    """A concurrent start of the same (record, process) breaks the unique constraint;
    the second attempt then sees the instance the other request made."""
    try:
        return await attempt()
    except IntegrityError:
        return await attempt()
