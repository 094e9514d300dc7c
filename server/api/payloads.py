"""Mutation inputs, success payloads and result unions."""

from __future__ import annotations

from typing import Annotated, Self

import strawberry
from strawberry.scalars import JSON

from server.api.errors import (
    InvalidOutcome,
    InvalidTransition,
    InvalidValue,
    NotFound,
    StageGateBlocked,
    VersionConflict,
)
from server.api.instances import Event, Instance
from server.api.records import Record
from server.services.runtime import Change

_KEY = "Repeating a key returns the first outcome instead of changing anything again."


@strawberry.input
class InstanceInput:
    instance_id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse with VersionConflict unless the instance is at it."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input
class StartInstanceInput:
    record_id: strawberry.ID
    process_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the first active process of the record's entity."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input
class CompleteStepInput(InstanceInput):
    field: str = strawberry.field(description="The key of the step's field.")
    value: JSON | None = strawberry.field(description="The value; null clears it.")
    entity: str | None = strawberry.field(
        default=None,
        description="In a process across entities, whose record the step is on, where both "
        "ask a field of this key; default: the last stage reached that asks it.",
    )


@strawberry.input
class FinishInstanceInput(InstanceInput):
    outcome: str | None = strawberry.field(
        default=None,
        description="The key of one of the process's outcomes; required when it declares any.",
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why it ended so; required by some outcomes. Trimmed; blank is none.",
    )


@strawberry.input
class MoveToStageInput(InstanceInput):
    stage: str = strawberry.field(description="A stage key on the traversed path.")


@strawberry.input
class SwitchProcessInput:
    record_id: strawberry.ID
    process_id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse with VersionConflict unless the record is at it."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input
class CreateRecordInput:
    entity: str
    name: str
    owner: str | None = strawberry.field(default=None, description="Default: the acting user.")
    values: JSON | None = strawberry.field(default=None, description="Field values by field key.")
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input
class UpdateRecordInput:
    record_id: strawberry.ID
    name: str | None = None
    owner: str | None = None
    values: JSON | None = strawberry.field(
        default=None, description="Field values to change; a null value clears the field."
    )
    expected_version: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.interface(description="A committed change to an instance.")
class InstanceChange:
    instance: Instance
    event: Event

    @classmethod
    def of(cls, change: Change) -> Self:
        assert change.instance is not None
        return cls(
            instance=Instance.from_domain(change.instance), event=Event.from_domain(change.event)
        )


@strawberry.interface(description="A committed change to a record.")
class RecordChange:
    record: Record
    event: Event

    @classmethod
    def of(cls, change: Change) -> Self:
        assert change.record is not None
        return cls(record=Record.from_domain(change.record), event=Event.from_domain(change.event))


@strawberry.type
class InstanceStarted(InstanceChange):
    pass


@strawberry.type
class StepCompleted(InstanceChange):
    pass


@strawberry.type
class StageAdvanced(InstanceChange):
    pass


@strawberry.type
class StageMoved(InstanceChange):
    pass


@strawberry.type
class InstanceFinished(InstanceChange):
    pass


@strawberry.type
class InstanceAbandoned(InstanceChange):
    pass


@strawberry.type
class InstanceReactivated(InstanceChange):
    pass


@strawberry.type
class ProcessSwitched(InstanceChange):
    pass


@strawberry.type
class RecordCreated(RecordChange):
    pass


@strawberry.type
class RecordUpdated(RecordChange):
    pass


StartInstanceResult = Annotated[
    InstanceStarted | NotFound | InvalidTransition | VersionConflict,
    strawberry.union("StartInstanceResult"),
]
CompleteStepResult = Annotated[
    StepCompleted | InvalidValue | NotFound | VersionConflict | InvalidTransition,
    strawberry.union("CompleteStepResult"),
]
AdvanceStageResult = Annotated[
    StageAdvanced
    | StageGateBlocked
    | VersionConflict
    | NotFound
    | InvalidTransition
    | InvalidValue,
    strawberry.union("AdvanceStageResult"),
]
MoveToStageResult = Annotated[
    StageMoved | VersionConflict | NotFound | InvalidTransition,
    strawberry.union("MoveToStageResult"),
]
FinishInstanceResult = Annotated[
    InstanceFinished
    | StageGateBlocked
    | InvalidOutcome
    | InvalidValue
    | VersionConflict
    | NotFound
    | InvalidTransition,
    strawberry.union("FinishInstanceResult"),
]
AbandonInstanceResult = Annotated[
    InstanceAbandoned | VersionConflict | NotFound | InvalidTransition,
    strawberry.union("AbandonInstanceResult"),
]
ReactivateInstanceResult = Annotated[
    InstanceReactivated | VersionConflict | NotFound | InvalidTransition,
    strawberry.union("ReactivateInstanceResult"),
]
SwitchProcessResult = Annotated[
    ProcessSwitched | VersionConflict | NotFound | InvalidTransition,
    strawberry.union("SwitchProcessResult"),
]
CreateRecordResult = Annotated[
    RecordCreated | InvalidValue | NotFound | InvalidTransition,
    strawberry.union("CreateRecordResult"),
]
UpdateRecordResult = Annotated[
    RecordUpdated | InvalidValue | NotFound | VersionConflict | InvalidTransition,
    strawberry.union("UpdateRecordResult"),
]
