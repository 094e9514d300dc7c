"""Expected failures of the process engine.

Each error carries the data a client needs to act on it, not only prose.

    DomainError
    ├── NotFound                 an id names nothing (or nothing visible)
    ├── InvalidValue             a value does not fit its field
    ├── StageGateBlocked         required steps of the stage are not done
    ├── InvalidTransition        the move is not allowed from the current state
    ├── InvalidOutcome           finishing names no outcome, an unknown one, or lacks a reason
    ├── VersionConflict          the object changed since the caller read it
    ├── InvalidDefinition        a process definition breaks the rules
    ├── InvalidMigration         a stage mapping would strand instances
    ├── FieldInUse               a field's type cannot change under published processes
    ├── Unauthenticated          no valid session or token (or a wrong password)
    ├── Forbidden                signed in, but the role does not allow it
    └── RateLimited              too many failed sign-ins; try again later
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.domain.fields import Entity
    from server.domain.outcome import Outcome
    from server.domain.process import Stage, Step


class DomainError(Exception):
    """Base class of every expected failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    def __init__(self, kind: str, id: object) -> None:
        super().__init__(f"{kind} {id} not found")
        self.kind = kind
        self.id = str(id)


class InvalidValue(DomainError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class StageGateBlocked(DomainError):
    def __init__(self, stage: Stage, missing: Sequence[Step], entity: Entity | None = None) -> None:
        names = ", ".join(step.field for step in missing)
        super().__init__(f"stage {stage.key} has required steps not done: {names}")
        self.stage = stage
        self.missing = tuple(missing)
        self.entity = entity


class TransitionCode(enum.Enum):
    """Why a transition was refused."""

    NOT_ACTIVE = "NOT_ACTIVE"
    ALREADY_ACTIVE = "ALREADY_ACTIVE"
    LAST_STAGE = "LAST_STAGE"
    NOT_LAST_STAGE = "NOT_LAST_STAGE"
    NOT_ON_PATH = "NOT_ON_PATH"
    STAGE_NOT_REACHED = "STAGE_NOT_REACHED"
    UNKNOWN_STEP = "UNKNOWN_STEP"
    ALREADY_RUNNING = "ALREADY_RUNNING"
    WRONG_ENTITY = "WRONG_ENTITY"
    PROCESS_UNAVAILABLE = "PROCESS_UNAVAILABLE"
    NO_PROCESS = "NO_PROCESS"
    # A record to link was given to a move that crosses into no new record.
    NO_CROSSING = "NO_CROSSING"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    DELIVERY_PENDING = "DELIVERY_PENDING"


class InvalidTransition(DomainError):
    def __init__(self, code: TransitionCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidOutcome(DomainError):
    """`outcomes`: those the process declares; `reason_required`: the one chosen needs a reason."""

    def __init__(
        self, message: str, outcomes: Sequence[Outcome], *, reason_required: bool = False
    ) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)
        self.reason_required = reason_required


class VersionConflict(DomainError):
    def __init__(self, kind: str, id: object, *, current: int, expected: int | None) -> None:
        super().__init__(f"{kind} {id} is at version {current}, not {expected}")
        self.kind = kind
        self.id = str(id)
        self.current = current
        self.expected = expected


@dataclass(frozen=True)
class Problem:
    """One broken rule in a definition; `path` points at what it concerns."""

    path: str
    message: str


class InvalidDefinition(DomainError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = tuple(problems)


class InvalidMigration(DomainError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = tuple(problems)


class FieldInUse(DomainError):
    def __init__(self, entity: str, field: str, processes: Sequence[str]) -> None:
        names = ", ".join(processes)
        super().__init__(f"{entity}.{field} is used by published processes: {names}")
        self.entity = entity
        self.field = field
        self.processes = tuple(processes)


class Unauthenticated(DomainError):
    def __init__(self, message: str = "sign in first") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class RateLimited(DomainError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after
