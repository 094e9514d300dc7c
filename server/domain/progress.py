"""What a process bar shows: every stage with its state, and what to do next."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.domain.instance import Instance, InstanceStatus
from server.domain.process import Process, Stage, Step, missing_steps, next_stage


class StageState(enum.Enum):
    DONE = "DONE"
    ACTIVE = "ACTIVE"
    UPCOMING = "UPCOMING"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class StageProgress:
    stage: Stage
    state: StageState


@dataclass(frozen=True)
class Progress:
    stages: tuple[StageProgress, ...]
    active_stage: Stage
    missing_steps: tuple[Step, ...]
    next_stage: Stage | None
    can_advance: bool
    can_finish: bool


def progress(
    instance: Instance,
    process: Process,
    values: Mapping[str, Any],
    path: Mapping[str, Mapping[str, Any]] | None = None,
) -> Progress:
    """The bar: traversed path, active stage, projected stages after branching, the rest skipped.

    The projection follows branches with the values set so far, so it changes as
    values are entered; the server, not the client, decides the path. `values` are those
    of the instance's own record; `path`, of every record it is on by entity (a stage reads
    its own entity's, and a record not reached yet holds none).
    """
    held = {process.entity.key: values, **(path or {})}

    def own(stage: Stage) -> Mapping[str, Any]:
        return held.get(process.entity_of(stage).key, {})

    active = process.stage(instance.active_stage)
    assert active is not None
    finished = instance.status is InstanceStatus.FINISHED
    states: dict[str, StageState] = {key: StageState.DONE for key in instance.path[:-1]}
    states[active.key] = StageState.DONE if finished else StageState.ACTIVE
    upcoming = next_stage(process, active, own(active), held)
    cursor = upcoming
    while cursor is not None and cursor.key not in states and not finished:
        states[cursor.key] = StageState.UPCOMING
        cursor = next_stage(process, cursor, own(cursor), held)
    ordered = [StageProgress(process.stage(k), s) for k, s in states.items()]  # type: ignore[arg-type]
    ordered += [
        StageProgress(stage, StageState.SKIPPED)
        for stage in process.stages
        if stage.key not in states
    ]
    missing = missing_steps(active, own(active), process.entity_of(active))
    running = instance.status is InstanceStatus.ACTIVE
    return Progress(
        stages=tuple(ordered),
        active_stage=active,
        missing_steps=missing,
        next_stage=upcoming,
        can_advance=running and upcoming is not None and not missing,
        can_finish=running and active.is_last and not missing,
    )
