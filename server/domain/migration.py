"""Moving running instances from one published version of a process to another."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from server.domain.due import due_at
from server.domain.errors import InvalidMigration, Problem
from server.domain.events import Event, EventKind
from server.domain.instance import Instance, InstanceStatus, Visit, enter_stage
from server.domain.process import Process, Stage, Step, missing_steps


@dataclass(frozen=True)
class Outcome:
    """What migrating one instance does: where it lands and what it then lacks."""

    before: Instance
    after: Instance
    missing: tuple[Step, ...]


def check_mapping(
    mapping: Mapping[str, str],
    source: Process,
    target: Process,
    instances: Sequence[Instance],
    reached: Mapping[int, set[str]] | None = None,
) -> list[Problem]:
    """Every reason the mapping cannot be applied to these instances, all at once.

    `reached`: the entities each instance (by id) has a record of, its own first one
    included; an instance lands only on a stage of one of them, and only on a version
    that runs on every one of them."""
    problems: list[Problem] = []
    for i, (old, new) in enumerate(mapping.items()):
        if source.stage(old) is None:
            msg = f"version {source.version} has no stage {old!r}"
            problems.append(Problem(f"stageMapping[{i}].from", msg))
        if target.stage(new) is None:
            msg = f"version {target.version} has no stage {new!r}"
            problems.append(Problem(f"stageMapping[{i}].to", msg))
    if problems:
        return problems
    stranded: dict[str, list[int]] = {}
    for instance in instances:
        if target.stage(mapping.get(instance.active_stage, instance.active_stage)) is None:
            stranded.setdefault(instance.active_stage, []).append(instance.id or 0)
    for stage, ids in stranded.items():
        msg = (
            f"version {target.version} has no stage {stage!r}, where {len(ids)} instance(s) "
            f"stand ({', '.join(map(str, ids[:10]))}); map it to a stage of version {target.version}"
        )
        problems.append(Problem(f"stageMapping.{stage}", msg))
    if problems or not reached:
        return problems
    chain = {e.key for e in target.entities}
    # Grouped as `stranded` is: one problem per entity left out, and per stage landed on.
    stray: dict[str, list[int]] = {}
    unreached: dict[str, list[int]] = {}
    for instance in instances:
        has = reached.get(instance.id or 0, {target.entity.key})
        lands = target.stage(mapping.get(instance.active_stage, instance.active_stage))
        assert lands is not None
        for entity in sorted(has - chain):
            stray.setdefault(entity, []).append(instance.id or 0)
        if has <= chain and target.entity_of(lands).key not in has:
            unreached.setdefault(lands.key, []).append(instance.id or 0)
    for entity, ids in stray.items():
        msg = (
            f"version {target.version} does not run on {entity}, which {len(ids)} instance(s) "
            f"are on ({', '.join(map(str, ids[:10]))})"
        )
        problems.append(Problem("toVersion", msg))
    for stage, ids in unreached.items():
        entity = target.entity_of(target.stage(stage)).key  # type: ignore[arg-type]
        msg = (
            f"stage {stage!r} works on {entity}, which {len(ids)} instance(s) have not crossed "
            f"into ({', '.join(map(str, ids[:10]))}); map them to a stage of an entity they are on"
        )
        problems.append(Problem(f"stageMapping.{stage}", msg))
    return problems


def migrate(
    instance: Instance,
    target: Process,
    mapping: Mapping[str, str],
    values: Mapping[str, Any],
    *,
    now: dt.datetime,
    by: str,
    crossed: Mapping[str, Mapping[str, Any]] | None = None,
) -> Outcome:
    """The instance on `target`, its stage and path translated by `mapping`. `values` are
    those of its own record; `crossed`, of every record it crossed into by entity."""
    stage_key = mapping.get(instance.active_stage, instance.active_stage)
    stage = target.stage(stage_key)
    if stage is None:
        raise InvalidMigration([Problem("stageMapping", f"no stage {stage_key!r}")])
    path: list[str] = []
    for old in instance.path:
        new = mapping.get(old, old)
        if target.stage(new) is not None and new not in path:
            path.append(new)
    if stage_key in path:
        del path[path.index(stage_key) + 1 :]
    else:
        path.append(stage_key)
    if stage_key != instance.active_stage and instance.status is InstanceStatus.ACTIVE:
        after = enter_stage(instance, stage, tuple(path), now=now, by=by)
    else:  # the same stay goes on, or none is open
        after = replace(
            instance, active_stage=stage_key, path=tuple(path), version=instance.version + 1
        )
        if instance.status is InstanceStatus.ACTIVE:
            after = _due_again(after, stage)
    after = replace(after, process_version=target.version)
    entity = target.entity_of(stage)
    held = {target.entity.key: values, **(crossed or {})}
    missing = missing_steps(stage, held.get(entity.key, {}), entity)
    return Outcome(before=instance, after=after, missing=missing)


def _due_again(instance: Instance, stage: Stage) -> Instance:
    """The open stay due as the stage of the new version says, unless it was overdue
    already: its one overdue event has been told."""
    visits = list(instance.visits)
    for i, visit in enumerate(visits):
        if visit.exited_at is None and visit.overdue_at is None:
            visits[i] = replace(visit, due_at=due_at(visit.entered_at, stage.due))
    stays = [v for v in visits if v.exited_at is None]
    return replace(
        instance,
        visits=tuple(visits),
        due_at=stays[-1].due_at if stays else instance.due_at,
    )


def event(outcome: Outcome, *, now: dt.datetime, by: str) -> Event:
    before, after = outcome.before, outcome.after
    return Event(
        kind=EventKind.INSTANCE_MIGRATED,
        actor=by,
        at=now,
        record_id=after.record_id,
        instance_id=after.id,
        process_id=after.process_id,
        from_stage=before.active_stage,
        to_stage=after.active_stage,
        before={"version": before.process_version, "stage": before.active_stage},
        after={
            "version": after.process_version,
            "stage": after.active_stage,
            "path": list(after.path),
            "missing": [step.field for step in outcome.missing],
        },
    )


def stay_versions(
    visits: Sequence[Visit], migrations: Sequence[Event], *, current: int
) -> list[int]:
    """The process version each stay began on, as the instance's migration events tell.

    A stay began on the version the instance left by the first migration after it; a
    stay begun by a migration (or after the last one) is on the version the instance runs.
    """
    moves = sorted(
        (e.at, int(e.before["version"]))
        for e in migrations
        if e.kind is EventKind.INSTANCE_MIGRATED and e.before and "version" in e.before
    )
    versions = []
    for visit in visits:
        left = [version for at, version in moves if at > visit.entered_at]
        versions.append(left[0] if left else current)
    return versions
