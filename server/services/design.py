"""Designing processes: drafts, publishing, status and order, migration, files, fields."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tortoise.exceptions import IntegrityError

from server.db import store, transaction
from server.domain import draft as drafts
from server.domain import migration
from server.domain.definition import dump_entity, dump_process, load_entities, load_process
from server.domain.draft import Draft
from server.domain.errors import (
    FieldInUse,
    InvalidDefinition,
    InvalidMigration,
    InvalidValue,
    NotFound,
    Problem,
)
from server.domain.events import Event, EventKind
from server.domain.fields import Entity
from server.domain.process import Process, ProcessStatus
from server.services import seed
from server.services.runtime import Change, Runtime, check_version, commit, utcnow


@dataclass(frozen=True)
class Template:
    key: str
    definition: dict[str, Any]


def templates() -> list[Template]:
    """The ready-to-use processes a designer can start from."""
    files = seed.template_files()
    files.pop("entities.yaml", None)
    return [Template(key=data["key"], definition=data) for data in files.values()]


async def create_process(
    rt: Runtime, *, definition: Any, template: str | None, key: str | None, by: str
) -> Draft:
    """A new process, as a draft: from a definition, or from a template under a new key."""
    if template is not None:
        found = {t.key: t for t in templates()}.get(template)
        if found is None:
            raise NotFound("Template", template)
        definition = copy.deepcopy(found.definition)
        definition["key"] = key or definition["key"]
    elif key is not None and isinstance(definition, dict):
        definition = {**definition, "key": key}
    drafts.check_storable(definition)
    entities = await rt.catalog.entities()
    process_key, entity = drafts.identity(definition, entities)
    if await rt.catalog.find_key(process_key) is not None:
        raise InvalidDefinition([Problem("key", f"a process {process_key!r} exists already")])
    made: list[Draft] = []

    async def change() -> Change:
        now = utcnow()
        made.append(
            await rt.catalog.create_draft(
                definition, key=process_key, entity=entity, by=by, now=now
            )
        )
        return Change(event=_draft_event(EventKind.PROCESS_DRAFT_SAVED, None, made[-1], by, now))

    try:
        await commit(rt, change, kind=EventKind.PROCESS_DRAFT_SAVED, by=by, idempotency_key=None)
        return made[-1]
    except IntegrityError:  # created by someone else meanwhile
        raise InvalidDefinition(
            [Problem("key", f"a process {process_key!r} exists already")]
        ) from None


async def update_process(
    rt: Runtime, *, process_id: int, definition: Any, expected_version: int | None, by: str
) -> Draft:
    """Replace the draft; editing a published process opens a draft, the version stays."""
    drafts.check_storable(definition)
    draft = await _draft_at(rt, process_id, expected_version)
    drafts.check_identity(
        definition, key=draft.key, entity=draft.entity, published=draft.based_on > 0
    )
    return await _save_draft(rt, draft, definition, kind=EventKind.PROCESS_DRAFT_SAVED, by=by)


async def discard_draft(
    rt: Runtime, *, process_id: int, expected_version: int | None, by: str
) -> Draft:
    """Drop the open draft of a published process; the process is as it was."""
    draft = await _draft_at(rt, process_id, expected_version)
    if draft.based_on == 0:
        raise InvalidDefinition([Problem("", "a process never published has only its draft")])
    return await _save_draft(rt, draft, None, kind=EventKind.PROCESS_DRAFT_DISCARDED, by=by)


async def _save_draft(
    rt: Runtime, draft: Draft, definition: Any, *, kind: EventKind, by: str
) -> Draft:
    """Replace (None: discard) the draft, with its event."""
    saved: list[Draft] = []

    async def change() -> Change:
        now = utcnow()
        saved.append(await rt.catalog.save_draft(draft, definition, by=by, now=now))
        return Change(event=_draft_event(kind, draft, saved[-1], by, now))

    await commit(rt, change, kind=kind, by=by, idempotency_key=None)
    return saved[-1]


def _draft_event(
    kind: EventKind, before: Draft | None, after: Draft, by: str, now: dt.datetime
) -> Event:
    """An event about a draft. Drafts are for designers: the event names its process in
    `after` only, so the audit trail shows it to admins, not to everyone who runs it."""
    return Event(
        kind=kind,
        actor=by,
        at=now,
        before={"draftVersion": before.version, "open": before.open} if before else None,
        after={
            "processId": after.process_id,
            "key": after.key,
            "draftVersion": after.version,
            "open": after.open,
        },
    )


async def _draft_at(rt: Runtime, process_id: int, expected_version: int | None) -> Draft:
    """The process as designers edit it, refused if it changed since the caller read it."""
    draft = await rt.catalog.draft(process_id)
    check_version("ProcessDraft", process_id, current=draft.version, expected=expected_version)
    return draft


async def publish_process(
    rt: Runtime, *, process_id: int, expected_version: int | None, by: str
) -> Process:
    """Validate the draft (every problem at once) and make it the next immutable version."""
    draft = await _draft_at(rt, process_id, expected_version)
    if not draft.open:
        raise InvalidDefinition([Problem("", "nothing to publish: the process has no draft")])
    process = load_process(draft.definition, await rt.catalog.entities())
    published: list[Process] = []

    async def change() -> Change:
        now = utcnow()
        published.append(await rt.catalog.publish(draft, process, by=by, now=now))
        event = Event(
            kind=EventKind.PROCESS_PUBLISHED,
            actor=by,
            at=now,
            process_id=process_id,
            before={"version": draft.based_on},
            after={"version": draft.based_on + 1},
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.PROCESS_PUBLISHED, by=by, idempotency_key=None)
    return published[-1]


async def set_active(rt: Runtime, *, process_id: int, active: bool, by: str) -> Process:
    """Deactivate: no new instances (running ones carry on). Activate: offered again."""
    process = await rt.catalog.process(process_id)
    status = ProcessStatus.ACTIVE if active else ProcessStatus.INACTIVE
    if process.status is status:
        return process
    kind = EventKind.PROCESS_ACTIVATED if active else EventKind.PROCESS_DEACTIVATED

    async def change() -> Change:
        now = utcnow()
        await rt.catalog.set_status(process_id, status, now=now)
        before, after = {"status": process.status.value}, {"status": status.value}
        event = Event(kind, by, now, process_id=process_id, before=before, after=after)
        return Change(event=event)

    await commit(rt, change, kind=kind, by=by, idempotency_key=None)
    return await rt.catalog.process(process_id)


REORDER_RULE = "list each published process of {} once"


async def reorder_processes(
    rt: Runtime, *, entity: str, process_ids: list[int], by: str
) -> list[Process]:
    """Set the order processes are offered in; the first active one is the default."""
    current = await rt.catalog.list_processes(entity=entity)
    known = [p.id for p in current]
    if sorted(process_ids) != sorted(known):  # type: ignore[type-var]
        raise InvalidValue("processIds", REORDER_RULE.format(entity))
    if process_ids == known:
        return current

    async def change() -> Change:
        await rt.catalog.set_order(process_ids)
        event = Event(
            EventKind.PROCESSES_REORDERED,
            by,
            utcnow(),
            before={"entity": entity, "processIds": known},
            after={"entity": entity, "processIds": process_ids},
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.PROCESSES_REORDERED, by=by, idempotency_key=None)
    return await rt.catalog.list_processes(entity=entity)


async def migrate_instances(
    rt: Runtime,
    *,
    process_id: int,
    from_version: int,
    to_version: int,
    stage_mapping: Mapping[str, str],
    dry_run: bool,
    by: str,
) -> list[migration.Outcome]:
    """Move every instance on one version to another; a dry run only reports."""
    if from_version == to_version:
        raise InvalidMigration([Problem("toVersion", "choose another version")])
    source = await rt.catalog.version(process_id, from_version)
    target = await rt.catalog.version(process_id, to_version)

    async def plan(*, lock: bool, now: dt.datetime) -> list[migration.Outcome]:
        instances = await store.instances_on(process_id, from_version, lock=lock)
        links = await store.links_of(i.id for i in instances if i.id is not None)
        reached = {
            i.id: {source.entity.key, *links.get(i.id, {})} for i in instances if i.id is not None
        }
        problems = migration.check_mapping(stage_mapping, source, target, instances, reached)
        if problems:
            raise InvalidMigration(problems)
        ids = [i.record_id for i in instances] + [r for on in links.values() for r in on.values()]
        records = await store.records_by_id(ids)
        return [
            migration.migrate(
                i,
                target,
                stage_mapping,
                records[i.record_id].values,
                now=now,
                by=by,
                crossed={e: records[r].values for e, r in links.get(i.id or 0, {}).items()},
            )
            for i in instances
        ]

    if dry_run:
        return await plan(lock=False, now=utcnow())

    async def move() -> tuple[list[migration.Outcome], list[Event]]:
        # The instances stay locked from the plan to the writes: a move made meanwhile
        # waits for the migration, or is migrated as it is.
        now = utcnow()
        outcomes = await plan(lock=True, now=now)
        events = []
        for outcome in outcomes:
            await store.save_instance(outcome.before, outcome.after)
            event = migration.event(outcome, now=now, by=by)
            events.append(await store.append_event(event))
        return outcomes, events

    async def landed(done: tuple[list[migration.Outcome], list[Event]]) -> bool:
        return not done[1] or await store.event_landed(done[1][-1])

    outcomes, events = await transaction.run(move, landed=landed)
    if events:
        rt.bus.publish(events[-1].seq or 0)
    return outcomes


async def import_process(rt: Runtime, *, definition: Any, publish: bool, by: str) -> Draft:
    """A process from its file form: validated first, nothing written if it breaks a rule.

    A new key makes a new process; a known key becomes the draft of that process.
    """
    drafts.check_storable(definition)
    entities = await rt.catalog.entities()
    load_process(definition, entities)  # raises with every problem
    key, _ = drafts.identity(definition, entities)
    existing = await rt.catalog.find_key(key)
    if existing is None:
        draft = await create_process(rt, definition=definition, template=None, key=None, by=by)
    else:
        draft = await update_process(
            rt, process_id=existing, definition=definition, expected_version=None, by=by
        )
    if publish:
        await publish_process(
            rt, process_id=draft.process_id, expected_version=draft.version, by=by
        )
        return await rt.catalog.draft(draft.process_id)
    return draft


async def export_process(rt: Runtime, *, process_id: int, version: int | None) -> dict[str, Any]:
    """The file form of a published version (default: the current one)."""
    process = await rt.catalog.process(process_id)
    if version is not None and version != process.version:
        process = await rt.catalog.version(process_id, version)
    return dump_process(process)


async def save_field(rt: Runtime, *, entity: str, field: dict[str, Any], by: str) -> Entity:
    """Add a field to an entity or change one; a type (or a lookup's target) published
    processes rely on stays."""
    current = await rt.catalog.entity(entity)
    data = dump_entity(current)
    fields = [f for f in data["fields"] if f["key"] != field.get("key")]
    position = next((i for i, f in enumerate(data["fields"]) if f["key"] == field.get("key")), None)
    at = len(fields) if position is None else position
    fields.insert(at, field)
    data["fields"] = fields
    try:
        updated = load_entities({"entities": [data]}, known=await rt.catalog.entities())[0]
    except InvalidDefinition as error:
        # Said of the field as the designer gave it: `minimum`, not entities[0].fields[27]...
        raise InvalidDefinition(
            [replace(p, path=_within(p.path, f"entities[0].fields[{at}]")) for p in error.problems]
        ) from None
    old = current.field(str(field.get("key")))
    new = updated.field(str(field.get("key")))
    assert new is not None
    if old is not None and (
        old.type != new.type or old.target != new.target or not set(old.choices) <= set(new.choices)
    ):
        users = [p for p in await rt.catalog.published(entity) if drafts.uses_field(p, new.key)]
        if users:
            names = sorted({f"{p.name} v{p.version}" for p in users})
            raise FieldInUse(entity, new.key, names)
    before = next((f for f in dump_entity(current)["fields"] if f["key"] == new.key), None)
    after = next(f for f in dump_entity(updated)["fields"] if f["key"] == new.key)
    if before == after:
        return current

    async def change() -> Change:
        await rt.catalog.save_entity(updated)
        event = Event(
            EventKind.FIELD_SAVED,
            by,
            utcnow(),
            before={"entity": entity, "field": dict(before)} if before else None,
            after={"entity": entity, "field": dict(after)},
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.FIELD_SAVED, by=by, idempotency_key=None)
    rt.catalog.forget()
    return updated


def _within(path: str, part: str) -> str:
    """`path` said from inside `part`, if it lies there."""
    if path == part:
        return ""
    return path.removeprefix(f"{part}.") if path.startswith(f"{part}.") else path
