"""What a delivery tells: an event, and its instance and record as they were right after it.

Read for a batch of events at once (a handful of statements, whatever the batch's size) and
rebuilt from the log: the record as it is now with the changes made since undone, newest
first; the instance from its stage events up to the event. The same event always reads the
same, so a retry sends the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.db import mapping
from server.db.models import EventRow, InstanceRow, RecordRow
from server.domain.events import STAGE_KINDS, Event, EventKind

_RECORD_CHANGES = (EventKind.RECORD_UPDATED.value, EventKind.STEP_COMPLETED.value)
_MIGRATED = EventKind.INSTANCE_MIGRATED.value


@dataclass(frozen=True)
class Snapshot:
    event: Event
    instance: dict[str, Any] | None
    record: dict[str, Any] | None


async def snapshots(seqs: Iterable[int]) -> dict[int, Snapshot]:
    """The snapshot of each event that is stored, by seq."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    events = [mapping.event(row) for row in await EventRow.filter(seq__in=wanted)]
    instance_ids = {e.instance_id for e in events if e.instance_id is not None}
    record_ids = {e.record_id for e in events if e.record_id is not None}
    instances = {row.id: row for row in await InstanceRow.filter(id__in=instance_ids)}
    records = {row.id: row for row in await RecordRow.filter(id__in=record_ids)}
    stage_events: dict[int, list[EventRow]] = defaultdict(list)
    if instance_ids:
        kinds = [kind.value for kind in STAGE_KINDS]
        rows = await EventRow.filter(instance_id__in=instance_ids, kind__in=kinds).order_by("seq")
        for row in rows:
            stage_events[row.instance_id or 0].append(row)
    changes: dict[int, list[EventRow]] = defaultdict(list)
    if record_ids:
        rows = await EventRow.filter(
            record_id__in=record_ids, seq__gt=wanted[0], kind__in=_RECORD_CHANGES
        ).order_by("-seq")
        for row in rows:
            changes[row.record_id or 0].append(row)
    found: dict[int, Snapshot] = {}
    for event in events:
        seq = event.seq or 0
        instance = instances.get(event.instance_id or 0)
        record = records.get(event.record_id or 0)
        found[seq] = Snapshot(
            event=event,
            instance=_instance(instance, stage_events[instance.id], seq) if instance else None,
            record=_record(record, changes[record.id], seq) if record else None,
        )
    return found


def _record(row: RecordRow, newest_first: list[EventRow], seq: int) -> dict[str, Any]:
    values = dict(row.values)
    name, owner = row.name, row.owner
    for change in newest_first:
        if change.seq <= seq:
            break
        before: dict[str, Any] = change.before or {}
        for field, value in (before.get("values") or {}).items():
            if value is None:
                values.pop(field, None)
            else:
                values[field] = value
        name = before.get("name", name)
        owner = before.get("owner", owner)
    return {
        "id": str(row.id),
        "entity": row.entity_id,
        "name": name,
        "owner": owner,
        "values": values,
    }


def _instance(row: InstanceRow, events: list[EventRow], seq: int) -> dict[str, Any]:
    migrations = [e for e in events if e.kind == _MIGRATED]
    version = (migrations[0].before or {}).get("version") if migrations else None
    state: dict[str, Any] = {
        "stage": row.active_stage,
        "status": row.status,
        "path": list(row.path),
        "outcome": None,
        "outcomeReason": None,
        "processVersion": version if version is not None else row.process_version,
    }
    earlier = [e for e in events if e.seq <= seq]
    if not earlier and len(events) > len(migrations):
        # Begun without a stage event of its own (a switch to a new process): as it was
        # before the first one that followed.
        first = next(e for e in events if e.kind != _MIGRATED)
        state.update((k, v) for k, v in (first.before or {}).items() if k in state)
    for event in earlier:
        after = event.after or {}
        for key in ("stage", "status", "path"):
            if key in after:
                state[key] = after[key]
        if event.kind == _MIGRATED and "version" in after:
            state["processVersion"] = after["version"]
        if event.kind == EventKind.INSTANCE_FINISHED.value:
            state["outcome"], state["outcomeReason"] = after.get("outcome"), after.get("reason")
        elif event.kind == EventKind.INSTANCE_REACTIVATED.value:
            state["outcome"] = state["outcomeReason"] = None
    return {
        "id": str(row.id),
        "processId": str(row.process_id),
        "processVersion": state["processVersion"],
        "recordId": str(row.record_id),
        "status": state["status"],
        "activeStage": state["stage"],
        "path": state["path"],
        "outcome": state["outcome"],
        "outcomeReason": state["outcomeReason"],
        "startedAt": row.started_at.isoformat(),
    }
