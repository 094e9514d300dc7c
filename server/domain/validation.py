"""The rules a process definition must obey before it can be published."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from difflib import get_close_matches

from server.domain.conditions import check
from server.domain.errors import Problem
from server.domain.fields import Entity, FieldType
from server.domain.outcome import MAX_LABEL as MAX_OUTCOME_LABEL
from server.domain.outcome import MAX_OUTCOMES, Outcome
from server.domain.process import MAX_ENTITIES, Branch, Carry, Process, Stage

MAX_STAGES = 30
MAX_STEPS = 30
MAX_BRANCHES = 10
MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_GUIDANCE = 2000
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

_PATH_PARTS = re.compile(r"[.\[]")


@dataclass(frozen=True)
class Gaps:
    """The parts reading the file form could not supply, each already reported.

    `paths` name the parts replaced by a placeholder (`stages[1]`, `stages[0].next`); a rule
    faulting one of them, or anything inside, would only repeat that problem. `entity` is
    true when the entity is unknown: the rules about its fields are skipped.
    """

    paths: frozenset[str] = frozenset()
    entity: bool = False

    def cover(self, path: str) -> bool:
        """Whether `path` is a gap or lies inside one."""
        ends = [m.start() for m in _PATH_PARTS.finditer(path)]
        return any(path[:end] in self.paths for end in [*ends, len(path)])


def validate(process: Process, *, gaps: Gaps | None = None) -> tuple[Process, list[Problem]]:
    """Check every rule; return the process with canonical condition values and all problems."""
    gaps = gaps or Gaps()
    problems: list[Problem] = []
    if not KEY_PATTERN.match(process.key):
        problems.append(Problem("key", "use 1-64 lowercase letters, digits, - or _"))
    problems += _name(process.name, "name")
    if len(process.description) > MAX_DESCRIPTION:
        problems.append(Problem("description", f"at most {MAX_DESCRIPTION} characters"))
    problems += _outcomes(process.outcomes)
    if not gaps.entity:
        problems += _measures(process)
    problems += _crossings(process, gaps)
    if not process.stages:
        problems.append(Problem("stages", "a process needs at least one stage"))
        return process, _uncovered(problems, gaps)
    if len(process.stages) > MAX_STAGES:
        problems.append(
            Problem("stages", f"at most {MAX_STAGES} stages, got {len(process.stages)}")
        )
    stages = []
    seen: set[str] = set()
    for i, stage in enumerate(process.stages):
        path = f"stages[{i}]"
        if stage.key in seen:
            problems.append(Problem(f"{path}.key", f"duplicate stage key {stage.key!r}"))
        seen.add(stage.key)
        checked, found = _stage(process, stage, path, gaps)
        stages.append(checked)
        problems += found
    process = Process(
        key=process.key,
        name=process.name,
        entity=process.entity,
        stages=tuple(stages),
        description=process.description,
        outcomes=process.outcomes,
        amount_field=process.amount_field,
        close_date_field=process.close_date_field,
        id=process.id,
        version=process.version,
        status=process.status,
        crossings=process.crossings,
    )
    # The graph walk recurses; past the stage limit it is not worth (or safe) doing. With a
    # stage or a target that could not be read, unreachable stages would only echo that
    # mistake. An unknown target is reported on its own, and the walk takes it for the
    # stage it most likely meant, so only stages no route could reach are reported too.
    too_many = len(process.stages) > MAX_STAGES
    unkeyed = any(not s.key for s in process.stages)
    unread = any(
        gaps.cover(f"stages[{i}].next") or not all(stage.targets())
        for i, stage in enumerate(process.stages)
    )
    if not too_many and not unkeyed and not unread:
        problems += _graph(process)
    if process.crossings:
        problems += _chain(process)
    return process, _uncovered(problems, gaps)


def _uncovered(problems: list[Problem], gaps: Gaps) -> list[Problem]:
    return [p for p in problems if not gaps.cover(p.path)] if gaps.paths else problems


def _name(name: str, path: str) -> list[Problem]:
    if not name.strip():
        return [Problem(path, "a name is required")]
    if len(name) > MAX_NAME:
        return [Problem(path, f"at most {MAX_NAME} characters")]
    return []


def _outcomes(outcomes: tuple[Outcome, ...]) -> list[Problem]:
    problems: list[Problem] = []
    if len(outcomes) > MAX_OUTCOMES:
        problems.append(
            Problem("outcomes", f"at most {MAX_OUTCOMES} outcomes, got {len(outcomes)}")
        )
    seen: set[str] = set()
    for i, outcome in enumerate(outcomes):
        path = f"outcomes[{i}]"
        if not KEY_PATTERN.match(outcome.key):
            problems.append(Problem(f"{path}.key", "use 1-64 lowercase letters, digits, - or _"))
        elif outcome.key in seen:
            problems.append(Problem(f"{path}.key", f"duplicate outcome key {outcome.key!r}"))
        seen.add(outcome.key)
        if not outcome.label.strip():
            problems.append(Problem(f"{path}.label", "a label is required"))
        elif len(outcome.label) > MAX_OUTCOME_LABEL:
            problems.append(Problem(f"{path}.label", f"at most {MAX_OUTCOME_LABEL} characters"))
    return problems


def _stage(process: Process, stage: Stage, path: str, gaps: Gaps) -> tuple[Stage, list[Problem]]:
    problems: list[Problem] = []
    if not KEY_PATTERN.match(stage.key):
        problems.append(Problem(f"{path}.key", "use 1-64 lowercase letters, digits, - or _"))
    problems += _name(stage.name, f"{path}.name")
    if len(stage.guidance) > MAX_GUIDANCE:
        problems.append(Problem(f"{path}.guidance", f"at most {MAX_GUIDANCE} characters"))
    if len(stage.steps) > MAX_STEPS:
        problems.append(
            Problem(f"{path}.steps", f"at most {MAX_STEPS} steps, got {len(stage.steps)}")
        )
    fields: set[str] = set()
    entity = process.entity_of(stage)
    if stage.entity is not None and process.position(stage.entity) is None:
        msg = f"unknown entity {stage.entity!r}: a process runs on its entity and its crossings'"
        problems.append(Problem(f"{path}.entity", msg))
    for j, step in enumerate(stage.steps):
        step_path = f"{path}.steps[{j}]"
        if not gaps.entity and entity.field(step.field) is None:
            msg = f"unknown field {step.field!r} of {entity.key}"
            problems.append(Problem(f"{step_path}.field", msg))
        if step.field in fields:
            problems.append(Problem(f"{step_path}.field", f"field {step.field!r} asked twice"))
        fields.add(step.field)
    if stage.next is not None and process.stage(stage.next) is None:
        problems.append(Problem(f"{path}.next", f"unknown stage {stage.next!r}"))
    if stage.branches and stage.next is None:
        problems.append(Problem(f"{path}.next", "a stage with branches needs a default next stage"))
    if len(stage.branches) > MAX_BRANCHES:
        problems.append(
            Problem(
                f"{path}.branches", f"at most {MAX_BRANCHES} branches, got {len(stage.branches)}"
            )
        )
    branches = []
    for j, branch in enumerate(stage.branches):
        branch_path = f"{path}.branches[{j}]"
        if process.stage(branch.to) is None:
            problems.append(Problem(f"{branch_path}.to", f"unknown stage {branch.to!r}"))
        when = branch.when
        if not gaps.entity and not gaps.cover(f"{branch_path}.when"):
            when, found = check(branch.when, process.view(stage), f"{branch_path}.when")
            problems += found
        branches.append(Branch(when=when, to=branch.to))
    checked = replace(stage, branches=tuple(branches))
    return checked, problems


def _graph(process: Process) -> list[Problem]:
    """Every stage reachable from the first; no cycle going forward."""
    problems: list[Problem] = []
    index = {s.key: i for i, s in enumerate(process.stages)}
    keys = [s.key for s in process.stages]
    reached: set[str] = set()
    todo = [process.first_stage.key]
    while todo:
        key = todo.pop()
        if key in reached:
            continue
        reached.add(key)
        stage = process.stage(key)
        for target in stage.targets() if stage else []:
            todo += [target] if target in index else get_close_matches(target, keys, n=1)
    for stage in process.stages:
        if stage.key not in reached:
            path = f"stages[{index[stage.key]}]"
            problems.append(
                Problem(path, f"stage {stage.key!r} cannot be reached from the first stage")
            )

    state: dict[str, int] = {}  # 1: on the current walk, 2: done

    def walk(key: str, trail: list[str]) -> None:
        state[key] = 1
        stage = process.stage(key)
        for target in stage.targets() if stage else []:
            if state.get(target) == 1:
                loop = " -> ".join([*trail[trail.index(target) :], target])
                path = f"stages[{index[key]}]"
                problems.append(Problem(path, f"cycle: {loop}"))
            elif target not in state:
                walk(target, [*trail, target])
        state[key] = 2

    for stage in process.stages:
        if stage.key not in state:
            walk(stage.key, [stage.key])
    return problems


def _crossings(process: Process, gaps: Gaps) -> list[Problem]:
    """At most MAX_ENTITIES entities, each once; each crossing related to the entity before
    it by its lookup; each map entry from a field before it, of the same type."""
    problems: list[Problem] = []
    if len(process.entities) > MAX_ENTITIES:
        msg = f"at most {MAX_ENTITIES} entities in a process, got {len(process.entities)}"
        problems.append(Problem("crossings", msg))
    seen = [process.entity.key]
    for i, crossing in enumerate(process.crossings):
        path, entity, before = f"crossings[{i}]", crossing.entity, seen[-1]
        if entity.key in seen:
            msg = f"entity {entity.key!r} is on the process already; each entity is crossed once"
            problems.append(Problem(f"{path}.entity", msg))
        earlier = {e.key: e for e in process.entities[: i + 1]}
        seen.append(entity.key)
        if gaps.entity:
            continue
        lookup = entity.field(crossing.lookup)
        if lookup is None:
            msg = f"unknown field {crossing.lookup!r} of {entity.key}"
            problems.append(Problem(f"{path}.lookup", msg))
        elif lookup.type is not FieldType.LOOKUP or lookup.target != before:
            msg = (
                f"no relation: {entity.key}.{lookup.key} must be a lookup to {before}, "
                "the entity before it"
            )
            problems.append(Problem(f"{path}.lookup", msg))
        filled: set[str] = set()
        for j, carry in enumerate(crossing.carry):
            problems += _carry(carry, entity, earlier, f"{path}.map[{j}]", filled, crossing.lookup)
    return problems


def _carry(
    carry: Carry,
    entity: Entity,
    earlier: dict[str, Entity],
    path: str,
    filled: set[str],
    lookup: str,
) -> list[Problem]:
    target = entity.field(carry.field)
    if target is None:
        return [Problem(f"{path}.field", f"unknown field {carry.field!r} of {entity.key}")]
    if carry.field in filled or carry.field == lookup:
        return [Problem(f"{path}.field", f"field {carry.field!r} is filled twice")]
    filled.add(carry.field)
    source_entity = earlier.get(carry.source_entity)
    if source_entity is None:
        msg = (
            f"{carry.source_entity!r} is not an entity before {entity.key}; "
            f"values come from {', '.join(earlier)}"
        )
        return [Problem(f"{path}.from", msg)]
    source = source_entity.field(carry.source_field)
    if source is None:
        msg = f"unknown field {carry.source_field!r} of {source_entity.key}"
        return [Problem(f"{path}.from", msg)]
    if source.type is not target.type or source.target != target.target:
        msg = (
            f"{carry.source} is a {source.type.value} field and {entity.key}.{target.key} "
            f"a {target.type.value} field; a map joins fields of one type"
        )
        return [Problem(f"{path}.from", msg)]
    extra = [c for c in source.choices if c not in target.choices]
    if extra:
        msg = f"{entity.key}.{target.key} has no choice {extra[0]!r} that {carry.source} has"
        return [Problem(f"{path}.from", msg)]
    return []


def _chain(process: Process) -> list[Problem]:
    """The first stage works on the first entity; every move goes to a stage of the same
    entity or of the next one; every crossed entity has a stage."""
    problems: list[Problem] = []
    index = {s.key: i for i, s in enumerate(process.stages)}
    where = {s.key: process.position(process.entity_of(s).key) or 0 for s in process.stages}
    if process.first_stage.entity not in (None, process.entity.key):
        msg = f"the first stage works on {process.entity.key}, the process's first entity"
        problems.append(Problem("stages[0].entity", msg))
    for i, stage in enumerate(process.stages):
        targets = [(f"branches[{j}].to", b.to) for j, b in enumerate(stage.branches)]
        targets += [("next", stage.next)] if stage.next is not None else []
        for part, target in targets:
            if target not in index or where[target] in (where[stage.key], where[stage.key] + 1):
                continue
            entities = process.entities
            msg = (
                f"entity out of order: {stage.key} works on {entities[where[stage.key]].key} "
                f"and {target} on {entities[where[target]].key}; a stage leads to a stage of "
                "its own entity or of the next one"
            )
            problems.append(Problem(f"stages[{i}].{part}", msg))
    used = set(where.values())
    for i, crossing in enumerate(process.crossings):
        if i + 1 not in used:
            msg = f"no stage works on {crossing.entity.key}"
            problems.append(Problem(f"crossings[{i}].entity", msg))
    return problems


_AMOUNT_TYPES = frozenset({FieldType.MONEY, FieldType.NUMBER})


def _measures(process: Process) -> list[Problem]:
    """The pipeline's fields: an amount that is money or a number, a close date that is a date."""
    problems = []
    for key, name, types, kind in (
        ("amount_field", process.amount_field, _AMOUNT_TYPES, "a money or number field"),
        ("close_date_field", process.close_date_field, {FieldType.DATE}, "a date field"),
    ):
        if name is None:
            continue
        found = process.entity.field(name)
        if found is None:
            problems.append(Problem(key, f"unknown field {name!r} of {process.entity.key}"))
        elif found.type not in types:
            problems.append(Problem(key, f"{name!r} is a {found.type.value} field; use {kind}"))
    return problems
