"""A record's run through one process, and the moves the engine allows."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from server.domain.due import due_at
from server.domain.errors import (
    InvalidTransition,
    InvalidValue,
    StageGateBlocked,
    TransitionCode,
)
from server.domain.events import Event, EventKind
from server.domain.fields import check_bounds, coerce
from server.domain.outcome import choose
from server.domain.process import (
    Crossing,
    Process,
    ProcessStatus,
    Stage,
    missing_steps,
    next_stage,
)
from server.domain.record import Record, create_record, update_record


class InstanceStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    FINISHED = "FINISHED"
    ABANDONED = "ABANDONED"


@dataclass(frozen=True)
class Visit:
    """One stay in a stage; `n` orders the visits of an instance."""

    n: int
    stage: str
    entered_at: dt.datetime
    exited_at: dt.datetime | None
    by: str
    # When the stay is due (None: its stage has no due), and when it was found overdue.
    due_at: dt.datetime | None = None
    overdue_at: dt.datetime | None = None


@dataclass(frozen=True)
class Instance:
    id: int | None
    process_id: int
    process_version: int
    record_id: int
    status: InstanceStatus
    active_stage: str
    path: tuple[str, ...]
    version: int
    started_at: dt.datetime
    active_since: dt.datetime
    completed_at: dt.datetime | None = None
    visits: tuple[Visit, ...] = ()
    # How it ended (an outcome's key) and why, if it finished with one; who finished or
    # abandoned it. Cleared when it is reactivated.
    outcome: str | None = None
    outcome_reason: str | None = None
    completed_by: str | None = None
    # When the open stay is due; None when its stage has no due or no stay is open.
    due_at: dt.datetime | None = None

    def overdue(self, now: dt.datetime) -> bool:
        """Whether the instance stands in its stage past the stage's due."""
        return (
            self.status is InstanceStatus.ACTIVE and self.due_at is not None and now >= self.due_at
        )


def start(process: Process, record: Record, *, now: dt.datetime, by: str) -> tuple[Instance, Event]:
    """A new instance at the process's first stage."""
    if process.entity.key != record.entity:
        raise InvalidTransition(
            TransitionCode.WRONG_ENTITY,
            f"process {process.key} runs on {process.entity.key}, not {record.entity}",
        )
    if process.status is not ProcessStatus.ACTIVE:
        raise InvalidTransition(
            TransitionCode.PROCESS_UNAVAILABLE, f"process {process.key} is not active"
        )
    assert process.id is not None and record.id is not None
    first = process.first_stage.key
    stay = _stay(0, process.first_stage, now=now, by=by)
    instance = Instance(
        id=None,
        process_id=process.id,
        process_version=process.version,
        record_id=record.id,
        status=InstanceStatus.ACTIVE,
        active_stage=first,
        path=(first,),
        version=1,
        started_at=now,
        active_since=now,
        visits=(stay,),
        due_at=stay.due_at,
    )
    return instance, _event(None, instance, EventKind.INSTANCE_STARTED, now=now, by=by)


def advance(
    instance: Instance,
    process: Process,
    values: Mapping[str, Any],
    *,
    now: dt.datetime,
    by: str,
    path: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Instance, Event]:
    """Leave the active stage forward, to the stage branching picks. `values` are those of
    the active stage's record; `path`, of every record on the instance by entity (what
    branches may read across entities)."""
    stage = _active(instance, process)
    if stage.is_last:
        raise InvalidTransition(
            TransitionCode.LAST_STAGE, f"{stage.key} is the last stage; finish the instance instead"
        )
    _gate(stage, process, values)
    target = next_stage(process, stage, values, path)
    assert target is not None  # validation guarantees every target exists
    moved = enter_stage(instance, target, (*instance.path, target.key), now=now, by=by)
    return moved, _event(instance, moved, EventKind.STAGE_ADVANCED, now=now, by=by)


def move_to(
    instance: Instance, process: Process, stage_key: str, *, now: dt.datetime, by: str
) -> tuple[Instance, Event]:
    """Go back to a stage on the traversed path; values stay."""
    _active(instance, process)
    stage = process.stage(stage_key)
    if stage_key == instance.active_stage:
        raise InvalidTransition(TransitionCode.NOT_ON_PATH, f"{stage_key} is the active stage")
    if stage is None or stage_key not in instance.path:
        raise InvalidTransition(
            TransitionCode.NOT_ON_PATH,
            f"{stage_key} is not on the traversed path ({' > '.join(instance.path)})",
        )
    path = instance.path[: instance.path.index(stage_key) + 1]
    moved = enter_stage(instance, stage, path, now=now, by=by)
    return moved, _event(instance, moved, EventKind.STAGE_MOVED_BACK, now=now, by=by)


def finish(
    instance: Instance,
    process: Process,
    values: Mapping[str, Any],
    *,
    outcome: str | None = None,
    reason: str | None = None,
    now: dt.datetime,
    by: str,
) -> tuple[Instance, Event]:
    """Finish from a last stage whose required steps are done, with one of the process's
    outcomes if it declares any (and the reason the outcome may ask for)."""
    stage = _active(instance, process)
    if not stage.is_last:
        raise InvalidTransition(
            TransitionCode.NOT_LAST_STAGE, f"{stage.key} is not a last stage; advance first"
        )
    _gate(stage, process, values)
    chosen, why = choose(process.outcomes, outcome, reason)
    done = replace(
        instance,
        status=InstanceStatus.FINISHED,
        version=instance.version + 1,
        completed_at=now,
        visits=_close(instance.visits, now),
        due_at=None,
        outcome=chosen.key if chosen else None,
        outcome_reason=why,
        completed_by=by,
    )
    event = _event(instance, done, EventKind.INSTANCE_FINISHED, now=now, by=by)
    after = {**(event.after or {}), "outcome": done.outcome, "reason": why}
    return done, replace(event, after=after)


def abandon(instance: Instance, *, now: dt.datetime, by: str) -> tuple[Instance, Event]:
    """Stop the instance wherever it is."""
    if instance.status is not InstanceStatus.ACTIVE:
        raise InvalidTransition(
            TransitionCode.NOT_ACTIVE, f"instance is {instance.status.value.lower()}"
        )
    done = replace(
        instance,
        status=InstanceStatus.ABANDONED,
        version=instance.version + 1,
        completed_at=now,
        visits=_close(instance.visits, now),
        due_at=None,
        completed_by=by,
    )
    return done, _event(instance, done, EventKind.INSTANCE_ABANDONED, now=now, by=by)


def reactivate(
    instance: Instance, process: Process, *, now: dt.datetime, by: str
) -> tuple[Instance, Event]:
    """Bring a finished or abandoned instance back to its active stage, in a new stay."""
    if instance.status is InstanceStatus.ACTIVE:
        raise InvalidTransition(TransitionCode.ALREADY_ACTIVE, "instance is already active")
    stage = process.stage(instance.active_stage)
    assert stage is not None, "an instance's active stage exists in its process version"
    stay = _stay(len(instance.visits), stage, now=now, by=by)
    back = replace(
        instance,
        status=InstanceStatus.ACTIVE,
        version=instance.version + 1,
        completed_at=None,
        active_since=now,
        visits=(*instance.visits, stay),
        due_at=stay.due_at,
        outcome=None,
        outcome_reason=None,
        completed_by=None,
    )
    return back, _event(instance, back, EventKind.INSTANCE_REACTIVATED, now=now, by=by)


def complete_step(
    instance: Instance,
    process: Process,
    record: Record,
    field: str,
    value: Any,
    *,
    now: dt.datetime,
    by: str,
) -> tuple[Instance, Record, Event]:
    """Set the value of a step on a stage the instance has reached."""
    stage = step_stage(instance, process, field, record.entity)
    updated, event = update_record(
        record,
        process.entity_of(stage),
        values={field: value},
        now=now,
        by=by,
        instance_id=instance.id,
        kind=EventKind.STEP_COMPLETED,
    )
    event = replace(event, process_id=instance.process_id, to_stage=stage.key)
    return replace(instance, version=instance.version + 1), updated, event


def step_stage(
    instance: Instance, process: Process, field: str, entity: str | None = None
) -> Stage:
    """The stage on the path whose step `field` a value is for: the last one reached that
    asks it, of `entity`'s record if given (a field of one key may be asked on the records
    of two entities)."""
    _active(instance, process)
    asking = [
        s
        for s in process.stages
        if any(step.field == field for step in s.steps)
        and (entity is None or process.entity_of(s).key == entity)
    ]
    if not asking:
        on = f" of {entity}" if entity is not None and process.crossings else ""
        raise InvalidTransition(
            TransitionCode.UNKNOWN_STEP, f"process {process.key} has no step {field!r}{on}"
        )
    # Stages on different branches may ask the same field: any one on the path will do.
    reached = [s for s in asking if s.key in instance.path]
    if not reached:
        raise InvalidTransition(
            TransitionCode.STAGE_NOT_REACHED,
            f"step {field!r} belongs to {asking[0].key}, not reached yet",
        )
    return max(reached, key=lambda s: instance.path.index(s.key))


def crossed_record(
    process: Process,
    crossing: Crossing,
    path: Mapping[str, Record],
    *,
    now: dt.datetime,
    by: str,
) -> tuple[Record, Event]:
    """The record a crossing creates: named and owned as the record before it, its lookup
    pointing back at that record, with the values the crossing maps from the records on
    the path. A value its field would refuse (a bound, a choice it lacks) is left unset."""
    position = process.position(crossing.entity.key)
    assert position, "a crossing's entity comes after the first"
    before = path[process.entities[position - 1].key]
    values: dict[str, Any] = {}
    for carry in crossing.carry:
        source = path.get(carry.source_entity)
        value = source.values.get(carry.source_field) if source is not None else None
        target = crossing.entity.field(carry.field)
        if value is None or target is None:
            continue
        try:
            values[carry.field] = check_bounds(target, coerce(target, value))
        except InvalidValue:
            continue
    values[crossing.lookup] = before.id
    return create_record(
        crossing.entity, name=before.name, owner=before.owner, values=values, now=now, by=by
    )


def _active(instance: Instance, process: Process) -> Stage:
    if instance.status is not InstanceStatus.ACTIVE:
        raise InvalidTransition(
            TransitionCode.NOT_ACTIVE,
            f"instance is {instance.status.value.lower()}; reactivate it first",
        )
    stage = process.stage(instance.active_stage)
    assert stage is not None, "an instance's active stage exists in its process version"
    return stage


def _gate(stage: Stage, process: Process, values: Mapping[str, Any]) -> None:
    entity = process.entity_of(stage)
    missing = missing_steps(stage, values, entity)
    if missing:
        raise StageGateBlocked(stage, missing, entity)


def _close(visits: tuple[Visit, ...], now: dt.datetime) -> tuple[Visit, ...]:
    return tuple(replace(v, exited_at=now) if v.exited_at is None else v for v in visits)


def enter_stage(
    instance: Instance, stage: Stage, path: tuple[str, ...], *, now: dt.datetime, by: str
) -> Instance:
    """The instance in `stage`: the open stay closed, a new one begun, due as the stage says."""
    visits = _close(instance.visits, now)
    stay = _stay(len(visits), stage, now=now, by=by)
    return replace(
        instance,
        active_stage=stage.key,
        path=path,
        version=instance.version + 1,
        active_since=now,
        visits=(*visits, stay),
        due_at=stay.due_at,
    )


def _stay(n: int, stage: Stage, *, now: dt.datetime, by: str) -> Visit:
    """A stay in `stage` begun now, with its deadline."""
    return Visit(n, stage.key, now, None, by, due_at=due_at(now, stage.due))


def _event(
    before: Instance | None, after: Instance, kind: EventKind, *, now: dt.datetime, by: str
) -> Event:
    return Event(
        kind=kind,
        actor=by,
        at=now,
        record_id=after.record_id,
        instance_id=after.id,
        process_id=after.process_id,
        from_stage=before.active_stage if before else None,
        to_stage=after.active_stage,
        before=_state(before) if before else None,
        after=_state(after),
    )


def _state(instance: Instance) -> dict[str, Any]:
    return {
        "stage": instance.active_stage,
        "status": instance.status.value,
        "path": list(instance.path),
    }


def switch_to(
    record: Record, target: Instance, *, now: dt.datetime, by: str
) -> tuple[Record, Event]:
    """Make `target` the instance the record's process bar shows; the old one keeps its state."""
    if record.active_instance_id == target.id:
        raise InvalidTransition(
            TransitionCode.ALREADY_ACTIVE, "the record already runs this process"
        )
    switched = replace(
        record, active_instance_id=target.id, version=record.version + 1, updated_at=now
    )
    event = Event(
        kind=EventKind.PROCESS_SWITCHED,
        actor=by,
        at=now,
        record_id=record.id,
        instance_id=target.id,
        process_id=target.process_id,
        to_stage=target.active_stage,
        before={"instanceId": record.active_instance_id},
        after={"instanceId": target.id, "processId": target.process_id},
    )
    return switched, event
