"""Rows to domain values and back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.db.models import EntityRow, EventRow, InstanceRow, ProcessRow, RecordRow, VisitRow
from server.domain.definition import load_entities
from server.domain.draft import Draft
from server.domain.events import Event, EventKind
from server.domain.fields import Entity
from server.domain.instance import Instance, InstanceStatus, Visit
from server.domain.process import ProcessStatus
from server.domain.record import Record


def entity(row: EntityRow) -> Entity:
    data = {"entities": [{"key": row.key, "name": row.name, "fields": row.fields_}]}
    # Lookup targets were checked against the catalogue when the entity was saved.
    return load_entities(data, known=None)[0]


def record(row: RecordRow) -> Record:
    return Record(
        id=row.id,
        entity=row.entity_id,
        name=row.name,
        owner=row.owner,
        values=row.values,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        active_instance_id=row.active_instance_id,
    )


def record_columns(value: Record) -> dict[str, Any]:
    return {
        "name": value.name,
        "owner": value.owner,
        "values": dict(value.values),
        "version": value.version,
        "active_instance_id": value.active_instance_id,
        "updated_at": value.updated_at,
    }


def instance(row: InstanceRow, visits: Iterable[VisitRow] = ()) -> Instance:
    return Instance(
        id=row.id,
        process_id=row.process_id,
        process_version=row.process_version,
        record_id=row.record_id,
        status=InstanceStatus(row.status),
        active_stage=row.active_stage,
        path=tuple(row.path),
        version=row.version,
        started_at=row.started_at,
        active_since=row.active_since,
        completed_at=row.completed_at,
        visits=tuple(visit(v) for v in sorted(visits, key=lambda v: v.n)),
        outcome=row.outcome,
        outcome_reason=row.outcome_reason,
        completed_by=row.completed_by,
        due_at=row.due_at,
    )


def instance_columns(value: Instance) -> dict[str, Any]:
    return {
        "process_version": value.process_version,
        "status": value.status.value,
        "active_stage": value.active_stage,
        "path": list(value.path),
        "version": value.version,
        "active_since": value.active_since,
        "completed_at": value.completed_at,
        "outcome": value.outcome,
        "outcome_reason": value.outcome_reason,
        "completed_by": value.completed_by,
        "due_at": value.due_at,
    }


def visit(row: VisitRow) -> Visit:
    return Visit(
        n=row.n,
        stage=row.stage,
        entered_at=row.entered_at,
        exited_at=row.exited_at,
        by=row.entered_by,
        due_at=row.due_at,
        overdue_at=row.overdue_at,
    )


def event(row: EventRow) -> Event:
    return Event(
        seq=row.seq,
        kind=EventKind(row.kind),
        actor=row.actor,
        at=row.at,
        record_id=row.record_id,
        instance_id=row.instance_id,
        process_id=row.process_id,
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        before=row.before,
        after=row.after,
    )


def draft(row: ProcessRow) -> Draft:
    return Draft(
        process_id=row.id,
        key=row.key,
        entity=row.entity_id,
        definition=row.draft,
        version=row.draft_version,
        based_on=row.current_version,
        status=ProcessStatus(row.status),
        updated_at=row.draft_updated_at,
        updated_by=row.draft_updated_by,
        open=row.draft is not None,
    )
