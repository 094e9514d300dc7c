"""Entities, processes, stages and steps as the API shows them."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from server.api.enums import FieldType, ProcessStatus, StageCategory
from server.domain import conditions
from server.domain import fields as domain_fields
from server.domain import process as domain


@strawberry.type
class Field:
    key: str
    label: str
    type: FieldType
    choices: list[str]

    @classmethod
    def from_domain(cls, field: domain_fields.Field) -> Field:
        return cls(key=field.key, label=field.label, type=field.type, choices=list(field.choices))


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

    @classmethod
    def from_domain(cls, stage: domain.Stage, entity: domain_fields.Entity) -> Stage:
        return cls(
            key=stage.key,
            name=stage.name,
            category=stage.category,
            guidance=stage.guidance,
            steps=[Step.from_domain(s, entity) for s in stage.steps],
            next=stage.next,
            branches=[Branch(to=b.to, when=_when(b.when)) for b in stage.branches],
            is_last=stage.is_last,
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
            stages=[Stage.from_domain(s, process.entity) for s in process.stages],
        )


def _when(condition: conditions.Condition) -> Any:
    return conditions.dump(condition)
