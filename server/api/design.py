"""Designing processes through the API: drafts, publishing, migration, files and fields."""

from __future__ import annotations

from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from server.api.context import ctx
from server.api.definitions import Entity, Problem, Process, ProcessDraft, Step
from server.api.enums import FieldType
from server.api.errors import (
    FieldInUse,
    InvalidDefinition,
    InvalidMigration,
    InvalidValue,
    NotFound,
    VersionConflict,
)
from server.api.ids import parse_id
from server.api.instances import Instance
from server.domain.errors import DomainError
from server.domain.errors import InvalidValue as InvalidValueError
from server.domain.errors import NotFound as NotFoundError
from server.services import accounts, design, queries

# Inputs


@strawberry.input
class CreateProcessInput:
    definition: JSON | None = strawberry.field(
        default=None, description="The definition in file form; it may be incomplete."
    )
    template: str | None = strawberry.field(
        default=None, description="Start from this ready-to-use process instead."
    )
    key: str | None = strawberry.field(default=None, description="The new process's key.")


@strawberry.input
class UpdateProcessInput:
    process_id: strawberry.ID
    definition: JSON
    expected_version: int | None = strawberry.field(
        default=None, description="The draft version read; refuse if someone saved since."
    )


@strawberry.input
class DraftInput:
    process_id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class StageMapping:
    from_: str = strawberry.field(name="from")
    to: str


@strawberry.input
class MigrateInstancesInput:
    process_id: strawberry.ID
    from_version: int
    to_version: int
    stage_mapping: list[StageMapping] = strawberry.field(
        default_factory=list,
        description="Where instances on a stage go; unmapped stages keep their key.",
    )
    dry_run: bool = strawberry.field(default=True, description="Only report what would happen.")


@strawberry.input
class ImportProcessInput:
    definition: JSON
    publish: bool = False


@strawberry.input
class SaveFieldInput:
    entity: str
    key: str
    label: str
    type: FieldType
    choices: list[str] | None = None
    minimum: str | None = strawberry.field(
        default=None, description="A number or money field's least value, as decimal text."
    )
    maximum: str | None = strawberry.field(
        default=None, description="A number or money field's greatest value, as decimal text."
    )
    currency: str | None = strawberry.field(
        default=None, description="A money field's currency, as its ISO 4217 code (EUR)."
    )
    target: str | None = strawberry.field(
        default=None, description="The entity a lookup field's records are of (its key)."
    )


# Results


@strawberry.type
class Template:
    key: str
    name: str
    entity: str
    description: str
    definition: JSON


@strawberry.type
class ProcessDraftSaved:
    draft: ProcessDraft


@strawberry.type
class ProcessPublished:
    process: Process


@strawberry.type
class ProcessStatusChanged:
    process: Process


@strawberry.type
class ProcessesReordered:
    processes: list[Process]


@strawberry.type
class MigratedInstance:
    instance: Instance = strawberry.field(description="As it is (or would be) after migrating.")
    from_stage: str
    to_stage: str
    missing_steps: list[Step] = strawberry.field(
        description="Required steps of the new stage not done."
    )


@strawberry.type
class InstancesMigrated:
    dry_run: bool
    shown: strawberry.Private[list[MigratedInstance]]
    count: int = strawberry.field(
        description="How many instances moved (or, in a dry run, would) that you may see."
    )
    hidden_count: int = strawberry.field(
        description="Instances moved that you may not see: the process's roles do not include "
        "yours."
    )

    @strawberry.field(
        description="The first instances moved (or, in a dry run, that would be) that you may see."
    )
    def instances(self, first: int = queries.MAX_PAGE) -> list[MigratedInstance]:
        return self.shown[: queries.check_page(first)]


@strawberry.type
class ProcessImported:
    process: Process | None = strawberry.field(description="Set when published.")
    draft: ProcessDraft | None = strawberry.field(description="Set when left as a draft.")


@strawberry.type
class FieldSaved:
    entity: Entity


SaveDraftResult = Annotated[
    ProcessDraftSaved | InvalidDefinition | NotFound | VersionConflict,
    strawberry.union("SaveDraftResult"),
]
PublishProcessResult = Annotated[
    ProcessPublished | InvalidDefinition | NotFound | VersionConflict,
    strawberry.union("PublishProcessResult"),
]


@strawberry.type
class ProcessRolesSet:
    process: Process


SetProcessRolesResult = Annotated[
    ProcessRolesSet | InvalidValue | NotFound, strawberry.union("SetProcessRolesResult")
]
ProcessStatusResult = Annotated[
    ProcessStatusChanged | NotFound, strawberry.union("ProcessStatusResult")
]
ReorderProcessesResult = Annotated[
    ProcessesReordered | InvalidValue, strawberry.union("ReorderProcessesResult")
]
MigrateInstancesResult = Annotated[
    InstancesMigrated | InvalidMigration | NotFound | VersionConflict,
    strawberry.union("MigrateInstancesResult"),
]
ImportProcessResult = Annotated[
    ProcessImported | InvalidDefinition | NotFound | VersionConflict,
    strawberry.union("ImportProcessResult"),
]
SaveFieldResult = Annotated[
    FieldSaved | InvalidDefinition | FieldInUse | NotFound, strawberry.union("SaveFieldResult")
]


def _template(t: design.Template) -> Template:
    data: dict[str, Any] = t.definition
    return Template(
        key=t.key,
        name=data.get("name", t.key),
        entity=data.get("entity", ""),
        description=data.get("description", ""),
        definition=cast(JSON, data),
    )


@strawberry.type
class DesignQuery:
    """Designing processes: designers and admins only (the access policy reads these
    fields)."""

    @strawberry.field(description="Ready-to-use processes to start a design from.")
    def templates(self) -> list[Template]:
        return [_template(t) for t in design.templates()]

    @strawberry.field(description="Open drafts, new processes and edits of published ones.")
    async def drafts(self, info: Info, first: int = 50) -> list[ProcessDraft]:
        found = await ctx(info).runtime.catalog.drafts(first=queries.check_page(first))
        return [ProcessDraft.from_domain(d) for d in found]

    @strawberry.field(
        description="A process as a designer edits it: its draft, else its current version."
    )
    async def design(self, info: Info, process_id: strawberry.ID) -> ProcessDraft | None:
        try:
            draft = await ctx(info).runtime.catalog.draft(parse_id("Process", process_id))
        except DomainError:
            return None
        return ProcessDraft.from_domain(draft)

    @strawberry.field(description="A published version in file form (default: the current one).")
    async def export_process(
        self, info: Info, process_id: strawberry.ID, version: int | None = None
    ) -> JSON | None:
        try:
            data = await design.export_process(
                ctx(info).runtime, process_id=parse_id("Process", process_id), version=version
            )
            return cast(JSON, data)
        except DomainError:
            return None


@strawberry.type
class DesignMutation:
    """Designing processes: designers and admins only (the access policy reads these
    fields)."""

    @strawberry.mutation(description="A new process as a draft, from a definition or a template.")
    async def create_process(self, info: Info, input: CreateProcessInput) -> SaveDraftResult:
        draft = await design.create_process(
            ctx(info).runtime,
            definition=input.definition,
            template=input.template,
            key=input.key,
            by=ctx(info).actor,
        )
        return ProcessDraftSaved(draft=ProcessDraft.from_domain(draft))

    @strawberry.mutation(
        description="Save the draft; a published process gets a draft, its version stays."
    )
    async def update_process(self, info: Info, input: UpdateProcessInput) -> SaveDraftResult:
        draft = await design.update_process(
            ctx(info).runtime,
            process_id=parse_id("Process", input.process_id),
            definition=input.definition,
            expected_version=input.expected_version,
            by=ctx(info).actor,
        )
        return ProcessDraftSaved(draft=ProcessDraft.from_domain(draft))

    @strawberry.mutation(description="Drop the open draft of a published process.")
    async def discard_draft(self, info: Info, input: DraftInput) -> SaveDraftResult:
        draft = await design.discard_draft(
            ctx(info).runtime,
            process_id=parse_id("Process", input.process_id),
            expected_version=input.expected_version,
            by=ctx(info).actor,
        )
        return ProcessDraftSaved(draft=ProcessDraft.from_domain(draft))

    @strawberry.mutation(description="Validate the draft and make it the next immutable version.")
    async def publish_process(self, info: Info, input: DraftInput) -> PublishProcessResult:
        process = await design.publish_process(
            ctx(info).runtime,
            process_id=parse_id("Process", input.process_id),
            expected_version=input.expected_version,
            by=ctx(info).actor,
        )
        return ProcessPublished(process=Process.from_domain(process))

    @strawberry.mutation(description="No new instances; running ones carry on.")
    async def deactivate_process(
        self, info: Info, process_id: strawberry.ID
    ) -> ProcessStatusResult:
        return await _set_active(info, process_id, active=False)

    @strawberry.mutation(description="Offer the process for new instances again.")
    async def activate_process(self, info: Info, process_id: strawberry.ID) -> ProcessStatusResult:
        return await _set_active(info, process_id, active=True)

    @strawberry.mutation(
        description="The order processes are offered in; the first active one is the default."
    )
    async def reorder_processes(
        self, info: Info, entity: str, process_ids: list[strawberry.ID]
    ) -> ReorderProcessesResult:
        try:
            ids = [parse_id("Process", i) for i in process_ids]
        except NotFoundError:  # an id no process can have is as wrong as an unknown one
            raise InvalidValueError("processIds", design.REORDER_RULE.format(entity)) from None
        found = await design.reorder_processes(
            ctx(info).runtime, entity=entity, process_ids=ids, by=ctx(info).actor
        )
        return ProcessesReordered(processes=[Process.from_domain(p) for p in found])

    @strawberry.mutation(
        description="Move instances between versions; one event per instance moved."
    )
    async def migrate_instances(
        self, info: Info, input: MigrateInstancesInput
    ) -> MigrateInstancesResult:
        context = ctx(info)
        pid = parse_id("Process", input.process_id)
        outcomes = await design.migrate_instances(
            context.runtime,
            process_id=pid,
            from_version=input.from_version,
            to_version=input.to_version,
            stage_mapping={m.from_: m.to for m in input.stage_mapping},
            dry_run=input.dry_run,
            by=ctx(info).actor,
        )
        target = await context.runtime.catalog.version(pid, input.to_version)
        # Designing a process is not running it: its records stay with those who may.
        shown = outcomes if await context.sees_process(pid) else []
        return InstancesMigrated(
            dry_run=input.dry_run,
            count=len(shown),
            shown=[
                MigratedInstance(
                    instance=Instance.from_domain(o.after),
                    from_stage=o.before.active_stage,
                    to_stage=o.after.active_stage,
                    missing_steps=[Step.from_domain(s, target.entity) for s in o.missing],
                )
                for o in shown
            ],
            hidden_count=len(outcomes) - len(shown),
        )

    @strawberry.mutation(
        description="A process from its file form; nothing is written if it breaks a rule."
    )
    async def import_process(self, info: Info, input: ImportProcessInput) -> ImportProcessResult:
        draft = await design.import_process(
            ctx(info).runtime,
            definition=input.definition,
            publish=input.publish,
            by=ctx(info).actor,
        )
        if input.publish:
            process = await ctx(info).runtime.catalog.process(draft.process_id)
            return ProcessImported(process=Process.from_domain(process), draft=None)
        return ProcessImported(process=None, draft=ProcessDraft.from_domain(draft))

    @strawberry.mutation(description="Add a field to an entity or change one.")
    async def save_field(self, info: Info, input: SaveFieldInput) -> SaveFieldResult:
        given: dict[str, Any] = {
            **{"key": input.key, "label": input.label, "type": input.type.value},
            **{"choices": input.choices, "minimum": input.minimum, "maximum": input.maximum},
            **{"currency": input.currency, "target": input.target},
        }
        field = {name: value for name, value in given.items() if value is not None}
        entity = await design.save_field(
            ctx(info).runtime, entity=input.entity, field=field, by=ctx(info).actor
        )
        return FieldSaved(entity=Entity.from_domain(entity))

    @strawberry.mutation(
        description="The roles that may run a process; empty: every signed-in user."
    )
    async def set_process_roles(
        self, info: Info, process_id: strawberry.ID, roles: list[str]
    ) -> SetProcessRolesResult:
        context = ctx(info)
        pid = parse_id("Process", process_id)
        await accounts.set_process_roles(
            context.runtime,
            process_id=pid,
            roles=roles,
            by=context.actor,
            user=context.require_user(),
        )
        return ProcessRolesSet(
            process=Process.from_domain(await context.runtime.catalog.process(pid))
        )


async def _set_active(
    info: Info, process_id: strawberry.ID, *, active: bool
) -> ProcessStatusChanged:
    process = await design.set_active(
        ctx(info).runtime,
        process_id=parse_id("Process", process_id),
        active=active,
        by=ctx(info).actor,
    )
    return ProcessStatusChanged(process=Process.from_domain(process))


__all__ = ["DesignMutation", "DesignQuery", "Problem"]
