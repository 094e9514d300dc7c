"""Queries."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from server.api.accounts import AccountQuery, AdminQuery, User
from server.api.connection import Connection, connection
from server.api.context import ctx, visible_instance_with_record, visible_record
from server.api.definitions import Entity, Process
from server.api.design import DesignQuery
from server.api.enums import EventKind, InstanceStatus
from server.api.ids import parse_id, parse_optional
from server.api.insights import InsightsQuery
from server.api.instances import Event, Instance
from server.api.records import Record
from server.api.webhooks import WebhookQuery
from server.domain.errors import DomainError
from server.services import queries

_connection = connection


@strawberry.type
class Query(DesignQuery, AccountQuery, AdminQuery, WebhookQuery, InsightsQuery):
    @strawberry.field(
        description="Processes at their current version, in offering order: those you may "
        "run (designers and admins: all)."
    )
    async def processes(self, info: Info, entity: str | None = None) -> list[Process]:
        context = ctx(info)
        entity = queries.check_filter("entity", entity, limit=queries.MAX_KEY)
        found = await context.runtime.catalog.list_processes(entity=entity)
        if not context.require_user().designs:
            found = [p for p in found if p.id is not None and await context.sees_process(p.id)]
        return [Process.from_domain(p) for p in found]

    @strawberry.field
    async def process(self, info: Info, id: strawberry.ID) -> Process | None:
        context = ctx(info)
        try:
            pid = parse_id("Process", id)
            if not context.require_user().designs and not await context.sees_process(pid):
                return None
            return Process.from_domain(await context.runtime.catalog.process(pid))
        except DomainError:
            return None

    @strawberry.field
    async def entities(self, info: Info) -> list[Entity]:
        found = await ctx(info).runtime.catalog.entities()
        return [Entity.from_domain(e) for e in found.values()]

    @strawberry.field(
        description="Records; processId, stage, status and overdue filter by the instance the "
        "bar shows (overdue: false keeps records without one too)."
    )
    async def records(
        self,
        info: Info,
        entity: str | None = None,
        search: str | None = None,
        owner: str | None = None,
        process_id: strawberry.ID | None = None,
        stage: str | None = None,
        status: InstanceStatus | None = None,
        first: int = 20,
        after: str | None = None,
        overdue: bool | None = None,
    ) -> Connection[Record]:
        page = await queries.list_records(
            entity=entity,
            search=search,
            owner=owner,
            process_id=parse_optional("Process", process_id),
            stage=stage,
            status=status,
            overdue=overdue,
            first=first,
            after=after,
            visible=await ctx(info).visible(),
        )
        return _connection(page, Record.from_domain)  # type: ignore[arg-type]

    @strawberry.field
    async def record(self, info: Info, id: strawberry.ID) -> Record | None:
        try:
            return Record.from_domain(await visible_record(ctx(info), parse_id("Record", id)))
        except DomainError:
            return None

    @strawberry.field
    async def instances(
        self,
        info: Info,
        process_id: strawberry.ID | None = None,
        stage: str | None = None,
        status: InstanceStatus | None = None,
        record_id: strawberry.ID | None = None,
        owner: str | None = None,
        first: int = 20,
        after: str | None = None,
        overdue: Annotated[
            bool | None,
            strawberry.argument(
                description="Only instances past their active stay's due (true), or only others."
            ),
        ] = None,
    ) -> Connection[Instance]:
        page = await queries.list_instances(
            process_id=parse_optional("Process", process_id),
            stage=stage,
            status=status,
            overdue=overdue,
            record_id=parse_optional("Record", record_id),
            owner=owner,
            first=first,
            after=after,
            visible=await ctx(info).visible(),
        )
        for id, record in page.records.items():
            ctx(info).loaders.records.prime(id, record)
        return _connection(page, Instance.from_domain)  # type: ignore[arg-type]

    @strawberry.field
    async def instance(self, info: Info, id: strawberry.ID) -> Instance | None:
        try:
            found = await visible_instance_with_record(ctx(info), parse_id("Instance", id))
            return Instance.from_domain(found)
        except DomainError:
            return None

    @strawberry.field(
        description="The audit trail after a seq, oldest first: the first `first` of it, or "
        "with `newest` the newest `first`; `kinds` keeps only those kinds."
    )
    async def events(
        self,
        info: Info,
        after_seq: int = 0,
        instance_id: strawberry.ID | None = None,
        record_id: strawberry.ID | None = None,
        kinds: list[EventKind] | None = None,
        first: int = 100,
        newest: bool = False,
    ) -> list[Event]:
        found = await queries.list_events(
            after_seq=after_seq,
            instance_id=parse_optional("Instance", instance_id),
            record_id=parse_optional("Record", record_id),
            kinds=None if kinds is None else set(kinds),
            first=first,
            newest=newest,
            visible=await ctx(info).visible(),
            designs=ctx(info).require_user().designs,
        )
        return [Event.from_domain(e) for e in found]

    @strawberry.field(
        description="The newest event's seq: subscribe with it as afterSeq to miss nothing "
        "that happens after a read made in the same request."
    )
    async def last_event_seq(self, info: Info) -> int:
        return await queries.last_seq()

    @strawberry.field(description="The signed-in user; null when nobody is.")
    def me(self, info: Info) -> User | None:
        context = ctx(info)
        if context.credential is None:
            return None
        csrf = context.credential.csrf if context.via_cookie else None
        return User.from_domain(context.credential.user, csrf)
