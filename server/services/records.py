"""Use cases on records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from server.db import store
from server.domain import record as rules
from server.domain.events import EventKind
from server.services.lookups import check_lookups
from server.services.runtime import Change, Runtime, check_version, commit, utcnow


async def create_record(
    rt: Runtime,
    *,
    entity: str,
    name: str,
    owner: str | None,
    values: Mapping[str, Any],
    by: str,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """A new record; a lookup value names a record the user may see (`runnable`: the
    processes they may run; None: all)."""

    async def change() -> Change:
        now = utcnow()
        kind = await rt.catalog.entity(entity)
        record, event = rules.create_record(
            kind,
            name=name,
            owner=by if owner is None else owner,
            values=values,
            now=now,
            by=by,
        )
        await check_lookups(kind, record.values, runnable)
        record = await store.insert_record(record)
        return Change(event=replace(event, record_id=record.id), record=record)

    request = {"entity": entity, "name": name, "owner": owner, "values": dict(values)}
    return await commit(
        rt,
        change,
        kind=EventKind.RECORD_CREATED,
        by=by,
        idempotency_key=idempotency_key,
        request=request,
    )


async def update_record(
    rt: Runtime,
    *,
    record_id: int,
    name: str | None,
    owner: str | None,
    values: Mapping[str, Any] | None,
    expected_version: int | None,
    by: str,
    idempotency_key: str | None = None,
    runnable: set[int] | None = None,
) -> Change:
    """Change a record; a lookup value set anew names a record the user may see."""

    async def change() -> Change:
        record = await store.lock_record(record_id)
        check_version("Record", record.id, current=record.version, expected=expected_version)
        entity = await rt.catalog.entity(record.entity)
        updated, event = rules.update_record(
            record,
            entity,
            name=name,
            owner=owner,
            values=values,
            now=utcnow(),
            by=by,
        )
        # A value kept as it was is not read again: its record may be out of sight by now.
        changed = {
            k: v for k in values or {} if (v := updated.values.get(k)) != record.values.get(k)
        }
        await check_lookups(entity, changed, runnable)
        await store.save_record(record, updated)
        return Change(event=event, record=updated)

    request = {
        "recordId": record_id,
        "name": name,
        "owner": owner,
        "values": None if values is None else dict(values),
        "expectedVersion": expected_version,
    }
    return await commit(
        rt,
        change,
        kind=EventKind.RECORD_UPDATED,
        by=by,
        idempotency_key=idempotency_key,
        request=request,
        visible=runnable,
    )
