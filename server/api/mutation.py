"""Mutations: each parses its input, calls one service and maps the result."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from server.api import payloads as p
from server.api.accounts import AccountMutation, AdminMutation
from server.api.context import ctx, visible_record
from server.api.design import DesignMutation
from server.api.ids import parse_id, parse_optional
from server.api.webhooks import WebhookMutation
from server.domain.errors import InvalidValue
from server.services import instances, records


async def _instance_args(info: Info, input: p.InstanceInput) -> dict[str, Any]:
    """The arguments of a move; the service finds only an instance the user may see."""
    context = ctx(info)
    instance_id = parse_id("Instance", input.instance_id)
    return {
        "instance_id": instance_id,
        "expected_version": input.expected_version,
        "by": context.actor,
        "idempotency_key": input.idempotency_key,
        "runnable": await context.visible(),
    }


def _values(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidValue("values", "expected an object of field values by field key")
    return raw


@strawberry.type
class Mutation(DesignMutation, AccountMutation, AdminMutation, WebhookMutation):
    @strawberry.mutation
    async def start_instance(
        self, info: Info, input: p.StartInstanceInput
    ) -> p.StartInstanceResult:
        context = ctx(info)
        record = await visible_record(context, parse_id("Record", input.record_id))
        change = await instances.start_instance(
            context.runtime,
            record_id=record.id,  # type: ignore[arg-type]
            process_id=parse_optional("Process", input.process_id),
            by=context.actor,
            idempotency_key=input.idempotency_key,
            runnable=await context.visible(),
        )
        return p.InstanceStarted.of(change)

    @strawberry.mutation
    async def complete_step(self, info: Info, input: p.CompleteStepInput) -> p.CompleteStepResult:
        change = await instances.complete_step(
            ctx(info).runtime,
            field=input.field,
            value=input.value,
            entity=input.entity,
            **await _instance_args(info, input),
        )
        return p.StepCompleted.of(change)

    @strawberry.mutation(
        description="Leave the active stage forward, through its gate and branches. Into a "
        "stage of the process's next entity, the instance crosses into a new record of it, "
        "or into the one given as linkRecordId."
    )
    async def advance_stage(
        self,
        info: Info,
        input: p.InstanceInput,
        link_record_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="At a crossing: link this existing record of the next entity "
                "instead of creating one."
            ),
        ] = None,
    ) -> p.AdvanceStageResult:
        change = await instances.advance_stage(
            ctx(info).runtime,
            link_record_id=parse_optional("Record", link_record_id),
            **await _instance_args(info, input),
        )
        return p.StageAdvanced.of(change)

    @strawberry.mutation(description="Go back to a stage on the traversed path; values stay.")
    async def move_to_stage(self, info: Info, input: p.MoveToStageInput) -> p.MoveToStageResult:
        change = await instances.move_to_stage(
            ctx(info).runtime, stage=input.stage, **await _instance_args(info, input)
        )
        return p.StageMoved.of(change)

    @strawberry.mutation
    async def finish_instance(
        self, info: Info, input: p.FinishInstanceInput
    ) -> p.FinishInstanceResult:
        change = await instances.finish_instance(
            ctx(info).runtime,
            outcome=input.outcome,
            reason=input.reason,
            **await _instance_args(info, input),
        )
        return p.InstanceFinished.of(change)

    @strawberry.mutation
    async def abandon_instance(self, info: Info, input: p.InstanceInput) -> p.AbandonInstanceResult:
        change = await instances.abandon_instance(
            ctx(info).runtime, **await _instance_args(info, input)
        )
        return p.InstanceAbandoned.of(change)

    @strawberry.mutation
    async def reactivate_instance(
        self, info: Info, input: p.InstanceInput
    ) -> p.ReactivateInstanceResult:
        change = await instances.reactivate_instance(
            ctx(info).runtime, **await _instance_args(info, input)
        )
        return p.InstanceReactivated.of(change)

    @strawberry.mutation(description="Show another process on a record; each keeps its state.")
    async def switch_process(
        self, info: Info, input: p.SwitchProcessInput
    ) -> p.SwitchProcessResult:
        context = ctx(info)
        record = await visible_record(context, parse_id("Record", input.record_id))
        change = await instances.switch_process(
            context.runtime,
            record_id=record.id,  # type: ignore[arg-type]
            process_id=parse_id("Process", input.process_id),
            expected_version=input.expected_version,
            by=context.actor,
            idempotency_key=input.idempotency_key,
            runnable=await context.visible(),
        )
        return p.ProcessSwitched.of(change)

    @strawberry.mutation
    async def create_record(self, info: Info, input: p.CreateRecordInput) -> p.CreateRecordResult:
        context = ctx(info)
        change = await records.create_record(
            context.runtime,
            entity=input.entity,
            name=input.name,
            owner=input.owner,
            values=_values(input.values),
            by=context.actor,
            idempotency_key=input.idempotency_key,
            runnable=await context.visible(),
        )
        return p.RecordCreated.of(change)

    @strawberry.mutation
    async def update_record(self, info: Info, input: p.UpdateRecordInput) -> p.UpdateRecordResult:
        context = ctx(info)
        record = await visible_record(context, parse_id("Record", input.record_id))
        change = await records.update_record(
            context.runtime,
            record_id=record.id,  # type: ignore[arg-type]
            name=input.name,
            owner=input.owner,
            values=_values(input.values),
            expected_version=input.expected_version,
            by=ctx(info).actor,
            idempotency_key=input.idempotency_key,
            runnable=await context.visible(),
        )
        return p.RecordUpdated.of(change)
