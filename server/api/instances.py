"""Instances: what a process bar shows at a glance, and the events of their history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from server.api.context import Context, ctx
from server.api.definitions import Outcome, Process, Stage, Step
from server.api.enums import EventKind, InstanceStatus, StageState
from server.api.records import Record
from server.domain import events as domain_events
from server.domain import process as domain_process
from server.domain.instance import Instance as DomainInstance
from server.domain.instance import InstanceStatus as InstanceStatusValue
from server.domain.instance import Visit
from server.domain.migration import stay_versions
from server.domain.outcome import Outcome as DomainOutcome
from server.domain.progress import Progress, progress
from server.domain.record import Record as DomainRecord
from server.services.queries import INNER_PAGE, check_page


@strawberry.type
class StageProgress:
    stage: Stage
    state: StageState


@strawberry.type(description="One stay of the instance in a stage.")
class StageVisit:
    stage: Stage
    entered_at: dt.datetime
    exited_at: dt.datetime | None
    entered_by: str
    duration_seconds: float = strawberry.field(description="Time spent, up to now if still there.")
    due_at: dt.datetime | None = strawberry.field(
        description="When the stay was due, as its stage's due said; null: no due."
    )
    overdue_at: dt.datetime | None = strawberry.field(
        description="When the stay was found past its due and its STAGE_OVERDUE event written."
    )


@strawberry.type(
    description="One change, numbered by a global, increasing seq: whoever reads on "
    "after the last seq they saw misses no change."
)
class Event:
    seq: int
    kind: EventKind
    actor: str
    at: dt.datetime
    record_id: strawberry.ID | None
    instance_id: strawberry.ID | None
    process_id: strawberry.ID | None
    from_stage: str | None
    to_stage: str | None
    domain: strawberry.Private[domain_events.Event]

    @strawberry.field(description="What the change replaced; ids of what you may not see are null.")
    async def before(self, info: Info) -> JSON | None:
        return await _shown(ctx(info), self.domain.before)

    @strawberry.field(description="What the change made; ids of what you may not see are null.")
    async def after(self, info: Info) -> JSON | None:
        return await _shown(ctx(info), self.domain.after)

    @strawberry.field(description="The instance as it is now, after this change.")
    async def instance(self, info: Info) -> Instance | None:
        if self.domain.instance_id is None:
            return None
        found = await ctx(info).loaders.instances.load(self.domain.instance_id)
        return Instance.from_domain(found) if found else None

    @strawberry.field(description="The record as it is now, after this change.")
    async def record(self, info: Info) -> Record | None:
        if self.domain.record_id is None:
            return None
        found = await ctx(info).loaders.records.load(self.domain.record_id)
        return Record.from_domain(found) if found else None

    @classmethod
    def from_domain(cls, event: domain_events.Event) -> Event:
        return cls(
            seq=event.seq or 0,
            kind=event.kind,
            actor=event.actor,
            at=event.at,
            record_id=_id(event.record_id),
            instance_id=_id(event.instance_id),
            process_id=_id(event.process_id),
            from_stage=event.from_stage,
            to_stage=event.to_stage,
            domain=event,
        )


async def _shown(context: Context, values: dict[str, Any] | None) -> JSON | None:
    """An event's before or after as this user may see it: an instance of a process they may
    not run (switched away from, say) is not named."""
    if not values or values.get("instanceId") is None:
        return cast(JSON, values)
    other = await context.loaders.instances.load(int(values["instanceId"]))
    if other is None or await context.sees_process(other.process_id):
        return cast(JSON, values)
    return cast(JSON, {**values, "instanceId": None})


@strawberry.type(description="A record's run through one process.")
class Instance:
    id: strawberry.ID
    version: int
    status: InstanceStatus
    process_version: int
    started_at: dt.datetime
    active_since: dt.datetime
    completed_at: dt.datetime | None
    outcome_reason: str | None = strawberry.field(
        description="Why it ended as it did, if a reason was given when it finished."
    )
    completed_by: str | None = strawberry.field(
        description="Who finished or abandoned it; null while it is active."
    )
    due_at: dt.datetime | None = strawberry.field(
        description="When the active stay is due, as its stage's due says; null when the "
        "stage has none or the instance is not active."
    )
    domain: strawberry.Private[DomainInstance]

    @classmethod
    def from_domain(cls, instance: DomainInstance) -> Instance:
        return cls(
            id=strawberry.ID(str(instance.id)),
            version=instance.version,
            status=instance.status,
            process_version=instance.process_version,
            started_at=instance.started_at,
            active_since=instance.active_since,
            completed_at=instance.completed_at,
            outcome_reason=instance.outcome_reason,
            completed_by=instance.completed_by,
            due_at=instance.due_at if instance.status is InstanceStatusValue.ACTIVE else None,
            domain=instance,
        )

    @strawberry.field(description="Active, and past the active stay's due.")
    def overdue(self) -> bool:
        return self.domain.overdue(dt.datetime.now(dt.UTC))

    @strawberry.field(
        description="How it ended, as its process version declares the outcome; null unless "
        "it finished with one."
    )
    async def outcome(self, info: Info) -> Outcome | None:
        key = self.domain.outcome
        if key is None:
            return None
        return Outcome.from_domain(await _declared(ctx(info), self.domain, key))

    @strawberry.field(description="The process, as of the version this instance runs.")
    async def process(self, info: Info) -> Process:
        context = ctx(info)
        definition = await _definition(context, self.domain)
        current = await context.loaders.processes.load(self.domain.process_id)
        status = current.status if current else definition.status
        return _api_process(context, replace(definition, status=status))

    @strawberry.field(
        description="The record the instance started on, of its process's first entity."
    )
    async def record(self, info: Info) -> Record:
        found = await ctx(info).loaders.records.load(self.domain.record_id)
        assert found is not None, "an instance's record exists"
        return Record.from_domain(found)

    @strawberry.field(
        description="The records the instance is on, one per entity of its process it has "
        "reached, in the process's order: the record it started on, then each one it crossed "
        "into. Every one shows this instance's bar."
    )
    async def records(self, info: Info) -> list[InstanceRecord]:
        path = await _path(ctx(info), self.domain)
        definition = await _definition(ctx(info), self.domain)
        return [
            InstanceRecord(entity=e.key, record=Record.from_domain(path[e.key]))
            for e in definition.entities
            if e.key in path
        ]

    @strawberry.field(description="Every stage in bar order: traversed, active, upcoming, skipped.")
    async def stages(self, info: Info) -> list[StageProgress]:
        bar, stages = await self._bar(info)
        return [StageProgress(stage=stages[s.stage.key], state=s.state) for s in bar.stages]

    @strawberry.field
    async def active_stage(self, info: Info) -> Stage:
        bar, stages = await self._bar(info)
        return stages[bar.active_stage.key]

    @strawberry.field(description="Required steps of the active stage that are not done.")
    async def missing_steps(self, info: Info) -> list[Step]:
        bar, stages = await self._bar(info)
        wanted = {s.field for s in bar.missing_steps}
        return [s for s in stages[bar.active_stage.key].steps if s.field.key in wanted]

    @strawberry.field(description="Where advanceStage would lead now, after branching.")
    async def next_stage(self, info: Info) -> Stage | None:
        bar, stages = await self._bar(info)
        return stages[bar.next_stage.key] if bar.next_stage else None

    @strawberry.field
    async def can_advance(self, info: Info) -> bool:
        return (await self._bar(info))[0].can_advance

    @strawberry.field
    async def can_finish(self, info: Info) -> bool:
        return (await self._bar(info))[0].can_finish

    @strawberry.field(description="The traversed stages, first to active.")
    async def path(self, info: Info) -> list[Stage]:
        _, stages = await self._bar(info)
        return [stages[key] for key in self.domain.path]

    @strawberry.field(
        description="The newest stage visits (`last` of them), oldest first, with time spent."
    )
    async def history(self, info: Info, last: int = INNER_PAGE) -> list[StageVisit]:
        context = ctx(info)
        assert self.domain.id is not None
        visits = await context.loaders.visits.load((self.domain.id, check_page(last, "last")))
        _, stages = await self._bar(info)
        shown = await _stay_stages(context, self.domain, visits, stages)
        now = dt.datetime.now(dt.UTC)
        return [
            StageVisit(
                stage=stage,
                entered_at=v.entered_at,
                exited_at=v.exited_at,
                entered_by=v.by,
                duration_seconds=((v.exited_at or now) - v.entered_at).total_seconds(),
                due_at=v.due_at,
                overdue_at=v.overdue_at,
            )
            for v, stage in zip(visits, shown, strict=True)
        ]

    @strawberry.field(
        description="The audit trail of this instance after a seq, oldest first, `first` of it."
    )
    async def events(self, info: Info, after_seq: int = 0, first: int = INNER_PAGE) -> list[Event]:
        assert self.domain.id is not None
        page = (self.domain.id, after_seq, check_page(first))
        found = await ctx(info).loaders.events.load(page)
        return [Event.from_domain(e) for e in found]

    async def _bar(self, info: Info) -> tuple[Progress, dict[str, Stage]]:
        context = ctx(info)
        definition = await _definition(context, self.domain)
        if definition.crossings:
            path = await _path(context, self.domain)
        else:
            record = await context.loaders.records.load(self.domain.record_id)
            assert record is not None
            path = {record.entity: record}
        versions = tuple(sorted((r.id, r.version) for r in path.values()))
        key = ("bar", self.domain.id, self.domain.version, versions)
        if key not in context.memo:
            api = _api_process(context, definition)
            stages = {s.key: s for s in api.stages}
            values = {entity: r.values for entity, r in path.items()}
            bar = progress(self.domain, definition, values[definition.entity.key], values)
            context.memo[key] = (bar, stages)
        return context.memo[key]


@strawberry.type(description="A record an instance is on, and its entity.")
class InstanceRecord:
    entity: str
    record: Record


async def _path(context: Context, instance: DomainInstance) -> dict[str, DomainRecord]:
    """The records an instance is on, by entity."""
    assert instance.id is not None
    links = await context.loaders.links.load(instance.id)
    ids = [instance.record_id, *links.values()]
    found = await context.loaders.records.load_many(ids)
    return {r.entity: r for r in found if r is not None}


async def _definition(context: Context, instance: DomainInstance) -> domain_process.Process:
    key = (instance.process_id, instance.process_version)
    found = await context.loaders.versions.load(key)
    assert found is not None, "an instance's process version exists"
    return found


async def _stay_stages(
    context: Context, instance: DomainInstance, visits: list[Visit], stages: dict[str, Stage]
) -> list[Stage]:
    """The stage of each stay, as it was in the version the stay began on: a migration may
    have renamed or dropped it since."""
    if all(v.stage in stages for v in visits):
        return [stages[v.stage] for v in visits]
    assert instance.id is not None
    migrations = await context.loaders.migrations.load(instance.id)
    versions = stay_versions(visits, migrations, current=instance.process_version)
    out = []
    for visit, number in zip(visits, versions, strict=True):
        if visit.stage in stages and number == instance.process_version:
            out.append(stages[visit.stage])
            continue
        found = await _version_with(context, instance, visit.stage, number)
        out.append({s.key: s for s in found.stages}[visit.stage])
    return out


async def _version_with(
    context: Context, instance: DomainInstance, stage: str, number: int
) -> Process:
    """Version `number` as the API shows it if it has `stage`, else the newest that does."""
    definition = await context.loaders.versions.load((instance.process_id, number))
    if definition is None or definition.stage(stage) is None:
        listed = await context.runtime.catalog.version_list(instance.process_id)
        found = await context.loaders.versions.load_many(
            [(instance.process_id, n) for n, _, _ in sorted(listed, reverse=True)]
        )
        definition = next(d for d in found if d is not None and d.stage(stage) is not None)
    return _api_process(context, definition)


async def _declared(context: Context, instance: DomainInstance, key: str) -> DomainOutcome:
    """The outcome as the instance's version declares it; migrated since to a version without
    it, as the newest version that does (else only its key is known)."""
    found = _outcome(await _definition(context, instance), key)
    if found is None:
        listed = await context.runtime.catalog.version_list(instance.process_id)
        for number, _, _ in sorted(listed, reverse=True):
            definition = await context.loaders.versions.load((instance.process_id, number))
            found = _outcome(definition, key) if definition else None
            if found is not None:
                break
    return found or DomainOutcome(key=key, label=key)


def _outcome(process: domain_process.Process, key: str) -> DomainOutcome | None:
    return next((o for o in process.outcomes if o.key == key), None)


def _api_process(context: Context, process: domain_process.Process) -> Process:
    """One API value per process version and request, however many instances share it."""
    key = ("process", process.id, process.version)
    if key not in context.memo:
        context.memo[key] = Process.from_domain(process)
    return context.memo[key]


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None
