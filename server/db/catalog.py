"""Entities and process definitions, with published versions cached in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace

from server.db import mapping
from server.db.models import EntityRow, ProcessRow, ProcessVersionRow
from server.domain.definition import dump_entity, dump_process, load_process
from server.domain.errors import NotFound
from server.domain.fields import Entity
from server.domain.process import Process, ProcessStatus


class Catalog:
    """Reads processes and entities; one per app, so caches never mix databases."""

    def __init__(self) -> None:
        # Published versions are immutable, so a parsed version never goes stale.
        self._versions: dict[tuple[int, int], Process] = {}

    async def entities(self) -> dict[str, Entity]:
        rows = await EntityRow.all().order_by("key")
        return {row.key: mapping.entity(row) for row in rows}

    async def entity(self, key: str) -> Entity:
        row = await EntityRow.get_or_none(key=key)
        if row is None:
            raise NotFound("Entity", key)
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
            row.id: replace(
                versions[(row.id, row.current_version)], status=ProcessStatus(row.status)
            )
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
        query = ProcessRow.all().order_by("position", "id")
        if entity is not None:
            query = query.filter(entity_id=entity)
        rows = await query
        versions = await self.versions((row.id, row.current_version) for row in rows)
        return [
            replace(versions[(row.id, row.current_version)], status=ProcessStatus(row.status))
            for row in rows
        ]

    async def default_process(self, entity: str) -> Process | None:
        """The first active process of an entity."""
        for process in await self.list_processes(entity=entity):
            if process.status is ProcessStatus.ACTIVE:
                return process
        return None

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
        return replace(process, id=row.id, version=1, status=ProcessStatus.ACTIVE)

    async def find_key(self, key: str) -> int | None:
        row = await ProcessRow.get_or_none(key=key)
        return row.id if row else None
