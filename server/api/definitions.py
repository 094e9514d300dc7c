"""Entities, processes, stages and steps as the API shows them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from server.api.enums import FieldType, ProcessStatus, StageCategory
from server.domain import conditions
from server.domain import fields as domain_fields
from server.domain import outcome as domain_outcome
from server.domain import process as domain
from server.domain.definition import dump_process
from server.domain.draft import Draft, problems_of
from server.services.queries import INNER_PAGE, check_page


@strawberry.type
class Field:
    key: str
    label: str
    type: FieldType
    choices: list[str]
    minimum: str | None = strawberry.field(
        description="The least value a number or money field takes, as decimal text; "
        "null: unbounded."
    )
    maximum: str | None = strawberry.field(
        description="The greatest value a number or money field takes, as decimal text; "
        "null: unbounded."
    )
    max_length: int | None = strawberry.field(
        description="The most characters a text field's value may have; null for other types."
    )
    currency: str | None = strawberry.field(
        description="The currency of a money field's amounts (ISO 4217); null: not declared."
    )
    target: str | None = strawberry.field(
        description="The entity a lookup field's records are of (its key); null for other "
        "types. A lookup's value is a record id."
    )

    @classmethod
    def from_domain(cls, field: domain_fields.Field) -> Field:
        return cls(
            key=field.key,
            label=field.label,
            type=field.type,
            choices=list(field.choices),
            minimum=_decimal(field.minimum),
            maximum=_decimal(field.maximum),
            max_length=field.max_length,
            currency=field.currency,
            target=field.target,
        )


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else domain_fields.decimal_text(value)


@strawberry.type(description="One way a finished instance may end, as its process declares it.")
class Outcome:
    key: str
    label: str
    reason_required: bool = strawberry.field(description="Finishing with it needs a reason.")

    @classmethod
    def from_domain(cls, outcome: domain_outcome.Outcome) -> Outcome:
        return cls(key=outcome.key, label=outcome.label, reason_required=outcome.reason_required)


@strawberry.type
class Entity:
    key: str
    name: str
    fields: list[Field]

    @classmethod
    def from_domain(cls, entity: domain_fields.Entity) -> Entity:
        return cls(
            key=entity.key, name=entity.name, fields=[Field.from_domain(f) for f in entity.fields]
        )


@strawberry.type(description="A field of the record that a stage asks for.")
class Step:
    field: Field
    required: bool

    @classmethod
    def from_domain(cls, step: domain.Step, entity: domain_fields.Entity) -> Step:
        field = entity.field(step.field) or domain_fields.Field(
            step.field, step.field, domain_fields.FieldType.TEXT
        )
        return cls(field=Field.from_domain(field), required=step.required)


@strawberry.type
class Branch:
    to: str
    when: JSON = strawberry.field(description="The condition, in the definition file form.")


@strawberry.type
class Stage:
    key: str
    name: str
    category: StageCategory
    guidance: str
    steps: list[Step]
    next: str | None = strawberry.field(description="The default next stage; null on a last stage.")
    branches: list[Branch]
    is_last: bool
    due: str | None = strawberry.field(
        description="How long a record should stay in the stage, as an ISO 8601 duration "
        "(P5D, PT4H); null: no due."
    )
    due_business_days: bool = strawberry.field(
        description="The due counts Monday to Friday only (in UTC)."
    )
    probability: int | None = strawberry.field(
        description="How likely (0-100 %) an instance in this stage ends won; weighs the "
        "pipeline. Null: not said."
    )
    entity: str = strawberry.field(
        description="The entity whose record the stage works on (its steps are its fields)."
    )

    @classmethod
    def from_domain(cls, stage: domain.Stage, entity: domain_fields.Entity) -> Stage:
        """`entity`: the one the stage works on."""
        return cls(
            key=stage.key,
            name=stage.name,
            entity=entity.key,
            category=stage.category,
            guidance=stage.guidance,
            steps=[Step.from_domain(s, entity) for s in stage.steps],
            next=stage.next,
            branches=[Branch(to=b.to, when=_when(b.when)) for b in stage.branches],
            is_last=stage.is_last,
            due=stage.due.text if stage.due else None,
            due_business_days=stage.due.business_days if stage.due else False,
            probability=stage.probability,
        )


@strawberry.type
class Process:
    id: strawberry.ID
    key: str
    name: str
    description: str
    status: ProcessStatus
    version: int
    entity: Entity
    stages: list[Stage]
    outcomes: list[Outcome] = strawberry.field(
        description="How a finished instance may end; empty: it finishes without an outcome."
    )
    amount_field: str | None = strawberry.field(
        description="The money or number field the pipeline adds up; null: not measured."
    )
    close_date_field: str | None = strawberry.field(
        description="The date field the pipeline is forecast by; null: not said."
    )
    source: strawberry.Private[domain.Process]

    @classmethod
    def from_domain(cls, process: domain.Process) -> Process:
        return cls(
            id=strawberry.ID(str(process.id)),
            key=process.key,
            name=process.name,
            description=process.description,
            status=process.status,
            version=process.version,
            entity=Entity.from_domain(process.entity),
            stages=[Stage.from_domain(s, process.entity_of(s)) for s in process.stages],
            outcomes=[Outcome.from_domain(o) for o in process.outcomes],
            amount_field=process.amount_field,
            close_date_field=process.close_date_field,
            source=process,
        )

    @strawberry.field(
        description="This version in file form: what exportProcess writes and importProcess reads."
    )
    def definition(self) -> JSON:
        return cast(JSON, dump_process(self.source))

    @strawberry.field(description="The newest published versions (`last` of them), oldest first.")
    async def versions(self, info: Info, last: int = INNER_PAGE) -> list[ProcessVersion]:
        catalog = info.context.runtime.catalog
        found = await catalog.version_list(int(self.id), last=check_page(last, "last"))
        return [ProcessVersion(number=n, published_at=at, published_by=by) for n, at, by in found]

    @strawberry.field(
        description="The roles that may run it; empty: every signed-in user. "
        "Admins run every process."
    )
    async def roles(self, info: Info) -> list[str]:
        current = await info.context.loaders.processes.load(int(self.id))
        return list(current.roles) if current else []

    @strawberry.field(
        description="The open draft, if a designer is changing this process "
        "(shown to designers and admins)."
    )
    async def draft(self, info: Info) -> ProcessDraft | None:
        user = info.context.user
        if user is None or not user.designs:
            return None
        found: Draft = await info.context.runtime.catalog.draft(int(self.id))
        return ProcessDraft.from_domain(found) if found.open else None


@strawberry.type
class ProcessVersion:
    number: int
    published_at: dt.datetime
    published_by: str


@strawberry.type(description="One broken rule; `path` points at what it concerns.")
class Problem:
    path: str = strawberry.field(description="e.g. stages[1].steps[0].field; empty: the whole.")
    message: str


@strawberry.type(description="A process being designed; it may break rules until published.")
class ProcessDraft:
    process_id: strawberry.ID
    key: str
    name: str
    entity: str
    status: ProcessStatus
    definition: JSON = strawberry.field(description="The definition in file form.")
    version: int = strawberry.field(description="Pass as expectedVersion to edit or publish.")
    based_on: int = strawberry.field(description="The version it will follow; 0: never published.")
    updated_at: dt.datetime | None
    updated_by: str | None

    @classmethod
    def from_domain(cls, draft: Draft) -> ProcessDraft:
        return cls(
            process_id=strawberry.ID(str(draft.process_id)),
            key=draft.key,
            name=draft.name,
            entity=draft.entity,
            status=draft.status,
            definition=cast(JSON, draft.definition),
            version=draft.version,
            based_on=draft.based_on,
            updated_at=draft.updated_at,
            updated_by=draft.updated_by,
        )

    @strawberry.field(description="Everything publishing would refuse, all at once.")
    async def problems(self, info: Info) -> list[Problem]:
        entities = await info.context.runtime.catalog.entities()
        return [
            Problem(path=p.path, message=p.message) for p in problems_of(self.definition, entities)
        ]


def _when(condition: conditions.Condition) -> Any:
    return conditions.dump(condition)
