"""Process definitions: stages, their steps, and where each stage leads."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain.conditions import Condition, evaluate
from server.domain.due import Due
from server.domain.errors import InvalidValue
from server.domain.fields import Entity, FieldType, check_bounds, is_set
from server.domain.outcome import Outcome


class StageCategory(enum.Enum):
    QUALIFY = "QUALIFY"
    DEVELOP = "DEVELOP"
    PROPOSE = "PROPOSE"
    CLOSE = "CLOSE"
    IDENTIFY = "IDENTIFY"
    RESEARCH = "RESEARCH"
    RESOLVE = "RESOLVE"
    APPROVAL = "APPROVAL"


class ProcessStatus(enum.Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(frozen=True)
class Step:
    field: str
    required: bool = False


@dataclass(frozen=True)
class Branch:
    when: Condition
    to: str


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    category: StageCategory
    guidance: str = ""
    steps: tuple[Step, ...] = ()
    next: str | None = None
    branches: tuple[Branch, ...] = ()
    # How long a record should stay in the stage; None: as long as it takes.
    due: Due | None = None
    # How likely (0-100 %) an instance in this stage ends won: weighs the pipeline.
    probability: int | None = None

    @property
    def is_last(self) -> bool:
        return self.next is None and not self.branches

    def targets(self) -> list[str]:
        """Every stage this one can lead to, branches first."""
        out = [b.to for b in self.branches]
        if self.next is not None:
            out.append(self.next)
        return out


@dataclass(frozen=True)
class Process:
    """One version of a process definition, bound to its entity."""

    key: str
    name: str
    entity: Entity
    stages: tuple[Stage, ...]
    description: str = ""
    # How an instance may end when it finishes; empty: it finishes without an outcome.
    outcomes: tuple[Outcome, ...] = ()
    # The fields the pipeline is measured by: the amount (money or number) and the expected
    # close date (date); None: not measured.
    amount_field: str | None = None
    close_date_field: str | None = None
    id: int | None = None
    version: int = 1
    status: ProcessStatus = ProcessStatus.ACTIVE
    # Roles that may run it (empty: everyone signed in); not part of a version.
    roles: tuple[str, ...] = ()
    _by_key: Mapping[str, Stage] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {s.key: s for s in self.stages})

    @property
    def first_stage(self) -> Stage:
        return self.stages[0]

    def stage(self, key: str) -> Stage | None:
        return self._by_key.get(key)


def step_done(step: Step, value: Any, entity: Entity) -> bool:
    """A required yes/no step is done only when it is yes; a value stored before its field's
    bounds were declared counts only if it lies within them."""
    field = entity.field(step.field)
    if field is not None and field.type is FieldType.BOOLEAN:
        return value is True
    if field is not None and is_set(value):
        try:
            check_bounds(field, value)
        except InvalidValue:
            return False
    return is_set(value)


def missing_steps(stage: Stage, values: Mapping[str, Any], entity: Entity) -> tuple[Step, ...]:
    """The required steps of `stage` that do not hold a valid value yet."""
    return tuple(
        step
        for step in stage.steps
        if step.required and not step_done(step, values.get(step.field), entity)
    )


def next_stage(process: Process, stage: Stage, values: Mapping[str, Any]) -> Stage | None:
    """The stage after `stage`: the first branch that holds, else the default."""
    for branch in stage.branches:
        if evaluate(branch.when, values, process.entity):
            return process.stage(branch.to)
    return process.stage(stage.next) if stage.next is not None else None
