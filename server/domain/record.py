"""Records: business objects holding field values, shared by every process on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from server.domain.errors import InvalidValue
from server.domain.events import Event, EventKind
from server.domain.fields import MAX_SHORT_TEXT, Entity, coerce_values
from server.domain.text import check_text


@dataclass(frozen=True)
class Record:
    id: int | None
    entity: str
    name: str
    owner: str
    values: Mapping[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    active_instance_id: int | None = None


def create_record(
    entity: Entity,
    *,
    name: str,
    owner: str,
    values: Mapping[str, Any],
    now: dt.datetime,
    by: str,
) -> tuple[Record, Event]:
    """A new record with coerced values; unset values are not stored."""
    coerced = {k: v for k, v in coerce_values(entity, values).items() if v is not None}
    record = Record(
        id=None,
        entity=entity.key,
        name=_name(name),
        owner=_owner(owner),
        values=coerced,
        version=1,
        created_at=now,
        updated_at=now,
    )
    event = Event(
        kind=EventKind.RECORD_CREATED,
        actor=by,
        at=now,
        after={"name": record.name, "owner": record.owner, "values": dict(coerced)},
    )
    return record, event


def update_record(
    record: Record,
    entity: Entity,
    *,
    name: str | None = None,
    owner: str | None = None,
    values: Mapping[str, Any] | None = None,
    now: dt.datetime,
    by: str,
    instance_id: int | None = None,
    kind: EventKind = EventKind.RECORD_UPDATED,
) -> tuple[Record, Event]:
    """Change a record's name, owner or values (a value of None clears it)."""
    changes = coerce_values(entity, values or {})
    new_values = {**record.values, **changes}
    new_values = {k: v for k, v in new_values.items() if v is not None}
    before: dict[str, Any] = {"values": {k: record.values.get(k) for k in changes}}
    after: dict[str, Any] = {"values": dict(changes)}
    updated = replace(record, values=new_values, version=record.version + 1, updated_at=now)
    if name is not None:
        before["name"], after["name"] = record.name, _name(name)
        updated = replace(updated, name=after["name"])
    if owner is not None:
        before["owner"], after["owner"] = record.owner, _owner(owner)
        updated = replace(updated, owner=after["owner"])
    event = Event(
        kind=kind,
        actor=by,
        at=now,
        record_id=record.id,
        instance_id=instance_id,
        before=before,
        after=after,
    )
    return updated, event


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidValue("name", "a record needs a name")
    return check_text("name", name, limit=MAX_SHORT_TEXT)


def _owner(owner: str) -> str:
    return check_text("owner", owner.strip(), limit=MAX_SHORT_TEXT)
