"""The file form of entities and process definitions (YAML or JSON data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.domain import conditions
from server.domain.errors import InvalidDefinition, Problem
from server.domain.fields import Entity, Field, FieldType
from server.domain.process import Branch, Process, Stage, StageCategory, Step
from server.domain.validation import KEY_PATTERN, validate

_PROCESS_KEYS = {"key", "name", "entity", "description", "stages"}
_STAGE_KEYS = {"key", "name", "category", "guidance", "steps", "next", "branches"}


def load_process(data: Any, entities: Mapping[str, Entity]) -> Process:
    """Read and validate a process; raise InvalidDefinition listing every problem."""
    process, problems = _parse_process(data, entities)
    if process is not None and not problems:
        process, problems = validate(process)
    if problems or process is None:
        raise InvalidDefinition(problems)
    return process


def dump_process(process: Process) -> dict[str, Any]:
    """The file form of a process; `load_process(dump_process(p))` gives `p` back."""
    stages = []
    for stage in process.stages:
        out: dict[str, Any] = {
            "key": stage.key,
            "name": stage.name,
            "category": stage.category.value,
        }
        if stage.guidance:
            out["guidance"] = stage.guidance
        out["steps"] = [{"field": s.field, "required": s.required} for s in stage.steps]
        if stage.next is not None:
            out["next"] = stage.next
        if stage.branches:
            out["branches"] = [
                {"to": b.to, "when": conditions.dump(b.when)} for b in stage.branches
            ]
        stages.append(out)
    data: dict[str, Any] = {"key": process.key, "name": process.name, "entity": process.entity.key}
    if process.description:
        data["description"] = process.description
    data["stages"] = stages
    return data


def load_entities(data: Any) -> list[Entity]:
    """Read the entity catalogue; raise InvalidDefinition listing every problem."""
    problems: list[Problem] = []
    if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
        raise InvalidDefinition([Problem("entities", "expected a list of entities")])
    entities = []
    seen: set[str] = set()
    for i, raw in enumerate(data["entities"]):
        path = f"entities[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
            problems.append(Problem(path, "an entity has a key, a name and a list of fields"))
            continue
        key = _str(raw, "key", path, problems)
        if key in seen:
            problems.append(Problem(f"{path}.key", f"duplicate entity {key!r}"))
        seen.add(key)
        fields = [_field(f, f"{path}.fields[{j}]", problems) for j, f in enumerate(raw["fields"])]
        keys = [f.key for f in fields]
        for dup in {k for k in keys if keys.count(k) > 1}:
            problems.append(Problem(f"{path}.fields", f"duplicate field {dup!r}"))
        entities.append(
            Entity(key=key, name=_str(raw, "name", path, problems), fields=tuple(fields))
        )
    if problems:
        raise InvalidDefinition(problems)
    return entities


def dump_entity(entity: Entity) -> dict[str, Any]:
    fields = []
    for f in entity.fields:
        out: dict[str, Any] = {"key": f.key, "label": f.label, "type": f.type.value}
        if f.choices:
            out["choices"] = list(f.choices)
        fields.append(out)
    return {"key": entity.key, "name": entity.name, "fields": fields}


def _field(raw: Any, path: str, problems: list[Problem]) -> Field:
    if not isinstance(raw, dict):
        problems.append(Problem(path, "a field is a mapping"))
        return Field("", "", FieldType.TEXT)
    key = _str(raw, "key", path, problems)
    if key and not KEY_PATTERN.match(key):
        problems.append(Problem(f"{path}.key", "use lowercase letters, digits, - or _"))
    try:
        field_type = FieldType(raw.get("type"))
    except ValueError:
        names = ", ".join(t.value for t in FieldType)
        problems.append(Problem(f"{path}.type", f"unknown type {raw.get('type')!r}; use {names}"))
        field_type = FieldType.TEXT
    choices = raw.get("choices") or []
    if field_type is FieldType.CHOICE and (
        not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices)
    ):
        problems.append(Problem(f"{path}.choices", "a choice field needs a list of text choices"))
        choices = []
    return Field(key, _str(raw, "label", path, problems), field_type, tuple(choices))


def _parse_process(
    data: Any, entities: Mapping[str, Entity]
) -> tuple[Process | None, list[Problem]]:
    if not isinstance(data, dict):
        return None, [Problem("", "a process definition is a mapping")]
    problems: list[Problem] = []
    unknown = set(data) - _PROCESS_KEYS
    if unknown:
        problems.append(Problem("", f"unknown keys: {', '.join(sorted(map(str, unknown)))}"))
    key = _str(data, "key", "", problems)
    name = _str(data, "name", "", problems)
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems.append(Problem("description", "expected text"))
        description = ""
    entity_key = _str(data, "entity", "", problems)
    entity = entities.get(entity_key)
    if entity is None and entity_key:
        problems.append(Problem("entity", f"unknown entity {entity_key!r}"))
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list):
        problems.append(Problem("stages", "a process needs a list of stages"))
        raw_stages = []
    stages = [_stage(raw, f"stages[{i}]", problems) for i, raw in enumerate(raw_stages)]
    if entity is None or problems:
        return None, problems
    process = Process(
        key=key,
        name=name,
        entity=entity,
        stages=tuple(s for s in stages if s is not None),
        description=description,
    )
    return process, problems


def _stage(raw: Any, path: str, problems: list[Problem]) -> Stage | None:
    if not isinstance(raw, dict):
        problems.append(Problem(path, "a stage is a mapping"))
        return None
    unknown = set(raw) - _STAGE_KEYS
    if unknown:
        problems.append(Problem(path, f"unknown keys: {', '.join(sorted(map(str, unknown)))}"))
    try:
        category = StageCategory(raw.get("category"))
    except ValueError:
        names = ", ".join(c.value for c in StageCategory)
        msg = f"unknown category {raw.get('category')!r}; use one of {names}"
        problems.append(Problem(f"{path}.category", msg))
        category = StageCategory.QUALIFY
    steps = []
    for j, step in enumerate(raw.get("steps") or []):
        step_path = f"{path}.steps[{j}]"
        if not isinstance(step, dict) or not isinstance(step.get("field"), str):
            problems.append(Problem(step_path, "a step names a field"))
            continue
        required = step.get("required", False)
        if not isinstance(required, bool):
            problems.append(Problem(f"{step_path}.required", "expected true or false"))
        steps.append(Step(field=step["field"], required=required is True))
    branches = []
    for j, branch in enumerate(raw.get("branches") or []):
        branch_path = f"{path}.branches[{j}]"
        if not isinstance(branch, dict) or not isinstance(branch.get("to"), str):
            problems.append(Problem(branch_path, "a branch has a target stage `to` and a `when`"))
            continue
        when, found = conditions.parse(branch.get("when"), f"{branch_path}.when")
        problems += found
        if when is not None:
            branches.append(Branch(when=when, to=branch["to"]))
    next_key = raw.get("next")
    if next_key is not None and not isinstance(next_key, str):
        problems.append(Problem(f"{path}.next", "expected a stage key"))
        next_key = None
    guidance = raw.get("guidance") or ""
    if not isinstance(guidance, str):
        problems.append(Problem(f"{path}.guidance", "expected text"))
        guidance = ""
    return Stage(
        key=_str(raw, "key", path, problems),
        name=_str(raw, "name", path, problems),
        category=category,
        guidance=guidance,
        steps=tuple(steps),
        next=next_key,
        branches=tuple(branches),
    )


def _str(raw: dict[str, Any], key: str, path: str, problems: list[Problem]) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(f"{path}.{key}" if path else key, f"{key} is required"))
        return ""
    return value
