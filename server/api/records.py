"""Records as the API shows them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from server.api.context import ctx
from server.domain.record import Record as DomainRecord

if TYPE_CHECKING:
    from server.api.instances import Instance


@strawberry.type
class Record:
    id: strawberry.ID
    entity: str
    name: str
    owner: str
    values: JSON = strawberry.field(
        description="Field values by field key; unset fields are absent."
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    domain: strawberry.Private[DomainRecord]

    @classmethod
    def from_domain(cls, record: DomainRecord) -> Record:
        return cls(
            id=strawberry.ID(str(record.id)),
            entity=record.entity,
            name=record.name,
            owner=record.owner,
            values=cast(JSON, dict(record.values)),
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            domain=record,
        )

    @strawberry.field(description="The process run the record's process bar shows.")
    async def active_instance(
        self, info: Info
    ) -> Annotated[Instance, strawberry.lazy("server.api.instances")] | None:
        from server.api.instances import Instance

        if self.domain.active_instance_id is None:
            return None
        context = ctx(info)
        found = await context.loaders.instances.load(self.domain.active_instance_id)
        if found is None or not await context.sees_process(found.process_id):
            return None
        return Instance.from_domain(found)

    @strawberry.field(description="Every process run on this record, one per process.")
    async def instances(
        self, info: Info
    ) -> list[Annotated[Instance, strawberry.lazy("server.api.instances")]]:
        from server.api.instances import Instance

        assert self.domain.id is not None
        context = ctx(info)
        found = await context.loaders.record_instances.load(self.domain.id)
        return [Instance.from_domain(i) for i in found if await context.sees_process(i.process_id)]
