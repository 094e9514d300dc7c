"""Process definitions: stages, their steps, and where each stage leads."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    # The entity whose record the stage works on; None: the process's first entity.
    entity: str | None = None

    @property
    def is_last(self) -> bool:
        return self.next is None and not self.branches

    def targets(self) -> list[str]:
        """Every stage this one can lead to, branches first."""
        out = [b.to for b in self.branches]
        if self.next is not None:
            out.append(self.next)
        return out


# The most entities one process runs across, its first included.
MAX_ENTITIES = 5


@dataclass(frozen=True)
class Carry:
    """A value a crossing copies into the new record: into `field`, from `source`, a field
    of a record already on the path named with its entity (`lead.company_name`)."""

    field: str
    source: str

    @property
    def source_entity(self) -> str:
        return self.source.partition(".")[0]

    @property
    def source_field(self) -> str:
        return self.source.partition(".")[2]


@dataclass(frozen=True)
class Crossing:
    """Where a process goes on to a record of the next entity of its chain: the record is
    created (with the values carried over and its lookup back set) or an existing one is
    linked. `lookup` is the field of that entity that points at the record before it."""

    entity: Entity
    lookup: str
    carry: tuple[Carry, ...] = ()


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
    # The entities after the first, in order, and how the process crosses into each.
    crossings: tuple[Crossing, ...] = ()
    _by_key: Mapping[str, Stage] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {s.key: s for s in self.stages})

    @property
    def entities(self) -> tuple[Entity, ...]:
        """The entities the process runs across, in order, its first one first."""
        return (self.entity, *(c.entity for c in self.crossings))

    def position(self, entity: str) -> int | None:
        """Where an entity stands in the chain (0: the first); None: not in it."""
        keys = [e.key for e in self.entities]
        return keys.index(entity) if entity in keys else None

    def entity_of(self, stage: Stage) -> Entity:
        """The entity whose record `stage` works on."""
        if stage.entity is None:
            return self.entity
        return next((e for e in self.entities if e.key == stage.entity), self.entity)

    def crossing_into(self, entity: str) -> Crossing | None:
        return next((c for c in self.crossings if c.entity.key == entity), None)

    def view(self, stage: Stage) -> Entity:
        """What the conditions of `stage` can read: the fields of its own record, and of
        every record before it on the chain (its own too) named with their entity."""
        own = self.entity_of(stage)
        if not self.crossings:
            return own
        last = self.position(own.key) or 0
        named = tuple(
            replace(f, key=f"{e.key}.{f.key}") for e in self.entities[: last + 1] for f in e.fields
        )
        return Entity(own.key, own.name, (*own.fields, *named))

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


def seen_values(
    process: Process,
    stage: Stage,
    values: Mapping[str, Any],
    path: Mapping[str, Mapping[str, Any]] | None = None,
) -> Mapping[str, Any]:
    """The values the conditions of `stage` read (`Process.view`): `values` are those of
    its own record, `path` those of every record on the path by entity."""
    if not process.crossings:
        return values
    named = {
        f"{entity}.{key}": value
        for entity, held in (path or {}).items()
        for key, value in held.items()
    }
    return {**named, **values}


def next_stage(
    process: Process,
    stage: Stage,
    values: Mapping[str, Any],
    path: Mapping[str, Mapping[str, Any]] | None = None,
) -> Stage | None:
    """The stage after `stage`: the first branch that holds, else the default. `values`
    are those of the stage's own record; `path`, of every record on the path by entity."""
    if stage.branches:
        seen, view = seen_values(process, stage, values, path), process.view(stage)
        for branch in stage.branches:
            if evaluate(branch.when, seen, view):
                return process.stage(branch.to)
    return process.stage(stage.next) if stage.next is not None else None
