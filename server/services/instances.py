"""Use cases that move an instance through its process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from tortoise.exceptions import IntegrityError

from server.db import store
from server.domain import instance as rules
from server.domain.errors import InvalidTransition, NotFound, TransitionCode
from server.domain.events import Event, EventKind
from server.domain.instance import Instance
from server.domain.process import Process
from server.domain.record import Record
from server.services.runtime import Change, Decided, Runtime, check_version, commit, utcnow

# A rule that moves an instance: (instance, process, record, now, by) -> (moved, event).
Move = Callable[[Instance, Process, Record, dt.datetime, str], tuple[Instance, Event]]


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
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """Set a step's value; the record's field changes for every process on it."""

    async def decide(rows: tuple[Instance, Record] | None) -> Decided:
        if rows is None:
            instance, record = await store.get_instance_and_record(instance_id, visible=runnable)
        else:
            instance, record = rows
            if runnable is not None and instance.process_id not in runnable:
                raise NotFound("Instance", instance_id)
        check_version("Instance", instance.id, current=instance.version, expected=expected_version)
        process = await rt.catalog.version(instance.process_id, instance.process_version)
        moved, updated, event = rules.complete_step(
            instance, process, record, field, value, now=utcnow(), by=by
        )
        return Decided((instance, moved), (record, updated), event)

    async def change() -> Change:
        instance, record = await store.lock_instance_and_record(instance_id, visible=runnable)
        check_version("Instance", instance.id, current=instance.version, expected=expected_version)
        process = await rt.catalog.version(instance.process_id, instance.process_version)
        moved, updated, event = rules.complete_step(
            instance, process, record, field, value, now=utcnow(), by=by
        )
        await store.save_record_and_instance((record, updated), (instance, moved))
        return Change(event=event, instance=moved, record=updated)

    request = {
        "instanceId": instance_id,
        "field": field,
        "value": value,
        "expectedVersion": expected_version,
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


async def advance_stage(rt: Runtime, **kw: Any) -> Change:
    """Leave the active stage forward, through the gate and branching."""
    return await _move(
        rt,
        lambda i, p, r, now, by: rules.advance(i, p, r.values, now=now, by=by),
        kind=EventKind.STAGE_ADVANCED,
        **kw,
    )


async def move_to_stage(rt: Runtime, *, stage: str, **kw: Any) -> Change:
    """Go back to a stage on the traversed path."""
    return await _move(
        rt,
        lambda i, p, r, now, by: rules.move_to(i, p, stage, now=now, by=by),
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
        lambda i, p, r, now, by: rules.finish(
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
        lambda i, p, r, now, by: rules.abandon(i, now=now, by=by),
        kind=EventKind.INSTANCE_ABANDONED,
        **kw,
    )


async def reactivate_instance(rt: Runtime, **kw: Any) -> Change:
    return await _move(
        rt,
        lambda i, p, r, now, by: rules.reactivate(i, p, now=now, by=by),
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
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """`asked`: what else the request gave, which its idempotency key is bound to."""

    async def change() -> Change:
        instance, process, record = await _load(
            rt, instance_id, expected_version, runnable=runnable
        )
        moved, event = move(instance, process, record, utcnow(), by)
        await store.save_instance(instance, moved)
        return Change(event=event, instance=moved, record=record)

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
