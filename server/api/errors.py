"""Expected failures as union members, and the handlers that map domain errors to them."""

from __future__ import annotations

from typing import Any

import strawberry

from server.api.definitions import Outcome, Problem, Stage, Step
from server.api.enums import TransitionCode
from server.domain import errors
from server.domain.fields import Entity


@strawberry.interface(description="An expected failure; nothing was changed.")
class Error:
    message: str


@strawberry.type
class NotFound(Error):
    kind: str
    id: str


@strawberry.type
class InvalidValue(Error):
    field: str
    reason: str


@strawberry.type
class StageGateBlocked(Error):
    stage: Stage
    missing_steps: list[Step]


@strawberry.type
class InvalidTransition(Error):
    code: TransitionCode


@strawberry.type(
    description="Finishing needs one of the process's outcomes (and a reason, if the chosen "
    "one asks for it), or, for a process that declares none, no outcome."
)
class InvalidOutcome(Error):
    outcomes: list[Outcome] = strawberry.field(description="The outcomes the process declares.")
    reason_required: bool = strawberry.field(description="The outcome chosen needs a reason.")


@strawberry.type
class VersionConflict(Error):
    kind: str
    id: str
    current_version: int
    expected_version: int | None


@strawberry.type(description="A definition breaks rules; every problem is listed at once.")
class InvalidDefinition(Error):
    problems: list[Problem]


@strawberry.type(description="A stage mapping would strand instances; nothing was migrated.")
class InvalidMigration(Error):
    problems: list[Problem]


@strawberry.type(description="Published processes rely on the field as it is.")
class FieldInUse(Error):
    entity_key: str
    field: str
    processes: list[str]


def _problems(exception: errors.InvalidDefinition | errors.InvalidMigration) -> list[Problem]:
    return [Problem(path=p.path, message=p.message) for p in exception.problems]


class _InvalidDefinition(strawberry.ExceptionHandler[errors.InvalidDefinition, InvalidDefinition]):
    def handle(self, exception: errors.InvalidDefinition, **_: Any) -> InvalidDefinition:
        return InvalidDefinition(message=exception.message, problems=_problems(exception))


class _InvalidMigration(strawberry.ExceptionHandler[errors.InvalidMigration, InvalidMigration]):
    def handle(self, exception: errors.InvalidMigration, **_: Any) -> InvalidMigration:
        return InvalidMigration(message=exception.message, problems=_problems(exception))


class _FieldInUse(strawberry.ExceptionHandler[errors.FieldInUse, FieldInUse]):
    def handle(self, exception: errors.FieldInUse, **_: Any) -> FieldInUse:
        return FieldInUse(
            message=exception.message,
            entity_key=exception.entity,
            field=exception.field,
            processes=list(exception.processes),
        )


class _NotFound(strawberry.ExceptionHandler[errors.NotFound, NotFound]):
    def handle(self, exception: errors.NotFound, **_: Any) -> NotFound:
        return NotFound(message=exception.message, kind=exception.kind, id=exception.id)


class _InvalidValue(strawberry.ExceptionHandler[errors.InvalidValue, InvalidValue]):
    def handle(self, exception: errors.InvalidValue, **_: Any) -> InvalidValue:
        return InvalidValue(
            message=exception.message, field=exception.field, reason=exception.reason
        )


class _Blocked(strawberry.ExceptionHandler[errors.StageGateBlocked, StageGateBlocked]):
    def handle(self, exception: errors.StageGateBlocked, **_: Any) -> StageGateBlocked:
        entity = exception.entity or Entity("", "", ())
        return StageGateBlocked(
            message=exception.message,
            stage=Stage.from_domain(exception.stage, entity),
            missing_steps=[Step.from_domain(s, entity) for s in exception.missing],
        )


class _Transition(strawberry.ExceptionHandler[errors.InvalidTransition, InvalidTransition]):
    def handle(self, exception: errors.InvalidTransition, **_: Any) -> InvalidTransition:
        return InvalidTransition(message=exception.message, code=exception.code)


class _Outcome(strawberry.ExceptionHandler[errors.InvalidOutcome, InvalidOutcome]):
    def handle(self, exception: errors.InvalidOutcome, **_: Any) -> InvalidOutcome:
        return InvalidOutcome(
            message=exception.message,
            outcomes=[Outcome.from_domain(o) for o in exception.outcomes],
            reason_required=exception.reason_required,
        )


class _Conflict(strawberry.ExceptionHandler[errors.VersionConflict, VersionConflict]):
    def handle(self, exception: errors.VersionConflict, **_: Any) -> VersionConflict:
        return VersionConflict(
            message=exception.message,
            kind=exception.kind,
            id=exception.id,
            current_version=exception.current,
            expected_version=exception.expected,
        )


HANDLERS = (
    _NotFound(),
    _InvalidValue(),
    _Blocked(),
    _Transition(),
    _Outcome(),
    _Conflict(),
    _InvalidDefinition(),
    _InvalidMigration(),
    _FieldInUse(),
)
