"""Entities and process definitions, with published versions cached in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from server.db import insight_days, mapping, pipeline_rows
from server.db.models import EntityRow, ProcessRow, ProcessVersionRow
from server.domain.access import User
from server.domain.definition import dump_entity, dump_process, load_process
from server.domain.draft import Draft
from server.domain.errors import NotFound, VersionConflict
from server.domain.events import Event, EventKind
from server.domain.fields import Entity
from server.domain.insights import forward_pairs
from server.domain.process import Process, ProcessStatus
from server.domain.text import unstorable

# As long as an entity key may be (the column's length).
_MAX_KEY = 64


def _may_be_key(text: str) -> bool:
    """Whether `text` could be a stored key; anything else names nothing, unasked."""
    return len(text) <= _MAX_KEY and unstorable(text) is None


def _current(version: Process, row: ProcessRow) -> Process:
    """A parsed version with what the process row says now: status and roles."""
    return replace(version, status=ProcessStatus(row.status), roles=tuple(row.roles or ()))


@dataclass(frozen=True)
class Shape:
    """How long the lists of definitions are, at most, across what is stored: what a list of
    them costs a query (`server.api.cost`)."""

    processes: int  # published processes: those lists show and instances run
    processes_per_entity: int
    entities: int
    stages: int  # of any published version
    steps: int  # of any stage of any published version
    branches: int
    fields: int  # of any entity
    choices: int  # of any field


def _items(definition: Any, key: str) -> list[dict[str, Any]]:
    """The mappings of a list in a stored definition (file form, as stored)."""
    found = definition.get(key) if isinstance(definition, dict) else None
    return [item for item in found or () if isinstance(item, dict)]


def _lengths(items: Any, key: str) -> list[int]:
    """The lengths of the `key` lists of stored definition parts (file form, as stored)."""
    return [len(item.get(key) or ()) for item in items or () if isinstance(item, dict)]


# What changes a Shape: a new version (a first one makes a process listed), a field.
_RESHAPING = frozenset({EventKind.PROCESS_PUBLISHED, EventKind.FIELD_SAVED})
# What may change what the catalog keeps: processes and fields.
_CHANGES = frozenset(k for k in EventKind if k.value.startswith(("PROCESS", "FIELD")))


class Catalog:
    """Reads processes and entities; one per app, so caches never mix databases."""

    CHANGES = _CHANGES

    def __init__(self) -> None:
        # Published versions are immutable, so a parsed version never goes stale.
        self._versions: dict[tuple[int, int], Process] = {}
        # Who may run each process, kept until the feed tells of a change to a process.
        self._roles: list[tuple[int, list[str]]] | None = None
        self._shape: Shape | None = None
        self._generation = 0

    @property
    def generation(self) -> int:
        """Counts the changes to processes and fields this worker has heard of."""
        return self._generation

    def observe(self, event: Event) -> None:
        """Told of every event the worker's feed reads, and of its own changes at once."""
        if event.kind in _CHANGES:
            self._generation += 1
            self._roles = None
            if event.kind in _RESHAPING:
                self._shape = None

    async def shape(self) -> Shape:
        """The longest lists of what is stored, kept until a process or field changes."""
        if self._shape is not None:
            return self._shape
        generation = self._generation
        # The entities each published process runs on, in any version: a record is on at
        # most one instance of each process running on its entity.
        published = ProcessRow.filter(current_version__gt=0)
        runs_on = {
            id: {str(entity)} for id, entity in await published.values_list("id", "entity_id")
        }
        stages, steps, branches = [0], [0], [0]
        versions = await ProcessVersionRow.all().values_list("process_id", "definition")
        for process_id, definition in versions:
            for crossing in _items(definition, "crossings"):
                if process_id in runs_on and isinstance(crossing.get("entity"), str):
                    runs_on[process_id].add(crossing["entity"])
            parts = definition.get("stages") if isinstance(definition, dict) else None
            stages.append(len(parts or ()))
            steps.extend(_lengths(parts, "steps"))
            branches.extend(_lengths(parts, "branches"))
        entities = await EntityRow.all().values_list("fields_", flat=True)
        fields = [len(f or ()) for f in entities]
        choices = [n for f in entities for n in _lengths(f, "choices")]
        per_entity: dict[str, int] = {}
        for entities_of in runs_on.values():
            for entity in entities_of:
                per_entity[entity] = per_entity.get(entity, 0) + 1
        shape = Shape(
            processes=len(runs_on),
            processes_per_entity=max(per_entity.values(), default=0),
            entities=len(entities),
            stages=max(stages),
            steps=max(steps),
            branches=max(branches),
            fields=max(fields, default=0),
            choices=max(choices, default=0),
        )
        if generation == self._generation:
            self._shape = shape
        return shape

    async def entities(self) -> dict[str, Entity]:
        rows = await EntityRow.all().order_by("key")
        return {row.key: mapping.entity(row) for row in rows}

    async def entity(self, key: str) -> Entity:
        row = await EntityRow.get_or_none(key=key) if _may_be_key(key) else None
        if row is None:
            raise NotFound("Entity", key[:_MAX_KEY])
        return mapping.entity(row)

    async def process(self, process_id: int) -> Process:
        """A process at its current version, with its current status."""
        found = await self.processes([process_id])
        if process_id not in found:
            raise NotFound("Process", process_id)
        return found[process_id]

    async def processes(self, ids: Iterable[int]) -> dict[int, Process]:
        """Processes by id at their current version, with their current status."""
        rows = await ProcessRow.filter(id__in=list(set(ids)))
        versions = await self.versions((row.id, row.current_version) for row in rows)
        return {
            row.id: _current(versions[(row.id, row.current_version)], row)
            for row in rows
            if (row.id, row.current_version) in versions
        }

    async def version(self, process_id: int, version: int) -> Process:
        """The definition a running instance follows (its status plays no part in moves)."""
        found = await self.versions([(process_id, version)])
        if (process_id, version) not in found:
            raise NotFound("Process", process_id)
        return found[(process_id, version)]

    async def versions(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Process]:
        """Process versions by (process id, version number), in one query for those not cached."""
        keys = set(keys)
        missing = keys - self._versions.keys()
        if missing:
            rows = await ProcessVersionRow.filter(
                process_id__in={pid for pid, _ in missing},
                number__in={number for _, number in missing},
            )
            entities = await self.entities()
            for row in rows:
                process = load_process(row.definition, entities)
                key = (row.process_id, row.number)
                self._versions[key] = replace(process, id=row.process_id, version=row.number)
        return {key: self._versions[key] for key in keys if key in self._versions}

    async def list_processes(self, *, entity: str | None = None) -> list[Process]:
        """Every process at its current version, in the order designers set."""
        if entity is not None and not _may_be_key(entity):
            return []
        query = ProcessRow.filter(current_version__gt=0).order_by("position", "id")
        if entity is not None:
            query = query.filter(entity_id=entity)
        rows = await query
        versions = await self.versions((row.id, row.current_version) for row in rows)
        return [_current(versions[(row.id, row.current_version)], row) for row in rows]

    async def default_process(
        self, entity: str, runnable: set[int] | None = None
    ) -> Process | None:
        """The first active process of an entity among those runnable (None: any)."""
        for process in await self.list_processes(entity=entity):
            if process.status is ProcessStatus.ACTIVE and (
                runnable is None or process.id in runnable
            ):
                return process
        return None

    async def runnable_ids(self, user: User) -> set[int] | None:
        """Ids of the processes the user may run; None: every process (an admin)."""
        if user.is_admin:
            return None
        rows = self._roles
        if rows is None:
            generation = self._generation
            rows = [
                (id, roles or []) for id, roles in await ProcessRow.all().values_list("id", "roles")
            ]
            if generation == self._generation:
                self._roles = rows
        return {id for id, roles in rows if user.may_run(roles)}

    async def set_roles(self, process_id: int, roles: list[str]) -> None:
        if not await ProcessRow.filter(id=process_id).update(roles=roles):
            raise NotFound("Process", process_id)

    async def save_entity(self, entity: Entity) -> None:
        data = dump_entity(entity)
        await EntityRow.update_or_create(
            key=entity.key, defaults={"name": entity.name, "fields_": data["fields"]}
        )

    async def publish_new(self, process: Process, *, position: int, now: dt.datetime) -> Process:
        """Store a validated process as the first published version of a new process."""
        row = await ProcessRow.create(
            key=process.key,
            name=process.name,
            entity_id=process.entity.key,
            status=ProcessStatus.ACTIVE.value,
            position=position,
            current_version=1,
            created_at=now,
            updated_at=now,
        )
        await ProcessVersionRow.create(
            process_id=row.id, number=1, definition=dump_process(process), published_at=now
        )
        await insight_days.add_pairs(row.id, forward_pairs([process]))
        return replace(process, id=row.id, version=1, status=ProcessStatus.ACTIVE)

    async def find_key(self, key: str) -> int | None:
        row = await ProcessRow.get_or_none(key=key)
        return row.id if row else None

    # Design: drafts, publishing, status and order

    async def create_draft(
        self, data: dict[str, Any], *, key: str, entity: str, by: str, now: dt.datetime
    ) -> Draft:
        last = await ProcessRow.filter(entity_id=entity).order_by("-position").first()
        row = await ProcessRow.create(
            key=key,
            name=str(data.get("name") or key)[:100],
            entity_id=entity,
            status=ProcessStatus.DRAFT.value,
            position=(last.position + 1) if last else 0,
            current_version=0,
            created_at=now,
            updated_at=now,
            draft=data,
            draft_version=1,
            draft_updated_at=now,
            draft_updated_by=by,
        )
        return mapping.draft(row)

    async def draft(self, process_id: int) -> Draft:
        """The process as designers edit it: its open draft, else its current version."""
        row = await ProcessRow.get_or_none(id=process_id)
        if row is None:
            raise NotFound("Process", process_id)
        draft = mapping.draft(row)
        if draft.open:
            return draft
        current = await self.version(row.id, row.current_version)
        return replace(draft, definition=dump_process(current))

    async def drafts(self, *, first: int) -> list[Draft]:
        """Open drafts, oldest process first."""
        rows = await ProcessRow.filter(draft__not_isnull=True).order_by("id").limit(first)
        return [mapping.draft(row) for row in rows]

    async def save_draft(
        self, draft: Draft, data: dict[str, Any] | None, *, by: str, now: dt.datetime
    ) -> Draft:
        """Replace (or with None, discard) the draft if no one else changed it since."""
        count = await ProcessRow.filter(id=draft.process_id, draft_version=draft.version).update(
            draft=data,
            draft_version=draft.version + 1,
            draft_updated_at=now if data is not None else None,
            draft_updated_by=by if data is not None else None,
            updated_at=now,
        )
        if count != 1:
            await self._draft_conflict(draft)
        return await self.draft(draft.process_id)

    async def publish(
        self, draft: Draft, process: Process, *, by: str, now: dt.datetime
    ) -> Process:
        """The draft becomes the next version; the versions before it stay as they were."""
        number = draft.based_on + 1
        status = ProcessStatus.ACTIVE if draft.status is ProcessStatus.DRAFT else draft.status
        count = await ProcessRow.filter(id=draft.process_id, draft_version=draft.version).update(
            name=process.name,
            current_version=number,
            status=status.value,
            draft=None,
            draft_version=draft.version + 1,
            draft_updated_at=None,
            draft_updated_by=None,
            updated_at=now,
        )
        if count != 1:
            await self._draft_conflict(draft)
        before = await ProcessVersionRow.get_or_none(
            process_id=draft.process_id, number=draft.based_on
        )
        await ProcessVersionRow.create(
            process_id=draft.process_id,
            number=number,
            definition=dump_process(process),
            published_at=now,
            published_by=by,
        )
        # The pipeline rows first: a change of an instance writes its row before its stays,
        # so the two locks these may take are taken in the same order.
        await pipeline_rows.refresh(
            draft.process_id,
            None if before is None else pipeline_rows.fields_of(before.definition),
            (process.amount_field, process.close_date_field),
        )
        await insight_days.add_pairs(draft.process_id, forward_pairs([process]))
        return replace(process, id=draft.process_id, version=number, status=status)

    async def set_status(self, process_id: int, status: ProcessStatus, *, now: dt.datetime) -> None:
        await ProcessRow.filter(id=process_id).update(status=status.value, updated_at=now)

    async def set_order(self, ids: list[int]) -> None:
        for position, process_id in enumerate(ids):
            await ProcessRow.filter(id=process_id).update(position=position)

    async def version_list(
        self, process_id: int, *, last: int | None = None
    ) -> list[tuple[int, dt.datetime, str]]:
        """(number, published at, published by) of every version, or of the newest `last`,
        oldest first."""
        query = ProcessVersionRow.filter(process_id=process_id).order_by("-number")
        rows = await (query if last is None else query.limit(last))
        return [(row.number, row.published_at, row.published_by) for row in reversed(rows)]

    async def published(self, entity: str) -> list[Process]:
        """Every published version of every process of an entity."""
        rows = await ProcessVersionRow.filter(process__entity_id=entity).values_list(
            "process_id", "number"
        )
        return list((await self.versions((pid, n) for pid, n in rows)).values())

    def forget(self) -> None:
        """Drop parsed versions: an entity they were read with has changed."""
        self._versions.clear()

    async def _draft_conflict(self, draft: Draft) -> None:
        row = await ProcessRow.get_or_none(id=draft.process_id)
        if row is None:
            raise NotFound("Process", draft.process_id)
        raise VersionConflict(
            "ProcessDraft", draft.process_id, current=row.draft_version, expected=draft.version
        )
