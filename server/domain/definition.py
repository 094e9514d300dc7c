"""The file form of entities and process definitions (YAML or JSON data)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from server.domain import conditions, due
from server.domain.errors import InvalidDefinition, InvalidValue, Problem
from server.domain.fields import (
    BOUNDED_TYPES,
    Entity,
    Field,
    FieldType,
    decimal_text,
    parse_bound,
)
from server.domain.outcome import Outcome
from server.domain.process import (
    Branch,
    Carry,
    Crossing,
    Process,
    Stage,
    StageCategory,
    Step,
)
from server.domain.text import unstorable
from server.domain.validation import KEY_PATTERN, Gaps, validate

_PROCESS_KEYS = (
    *("key", "name", "entity", "description", "amount_field", "close_date_field"),
    *("crossings", "stages", "outcomes"),
)
_CROSSING_KEYS = ("entity", "lookup", "map")
_CARRY_KEYS = ("field", "from")
_STAGE_KEYS = (
    *("key", "name", "entity", "category", "guidance", "due", "due_business_days"),
    "probability",
    *("steps", "next", "branches"),
)
_STEP_KEYS = ("field", "required")
_BRANCH_KEYS = ("to", "when")
_OUTCOME_KEYS = ("key", "label", "reason")
# The file form of an outcome's `reason_required`.
_REASONS = {"required": True, "optional": False}

# More problems than this only bury the first ones; a hostile file could produce millions.
MAX_PROBLEMS = 100

# Stands in for a condition that could not be read; its problem is reported already.
_UNREAD = conditions.All(())


def load_process(data: Any, entities: Mapping[str, Entity]) -> Process:
    """Read and validate a process; raise InvalidDefinition listing every problem.

    What can be read is checked against every rule, so one call reports mistakes in the
    file's shape and broken rules together, in document order.
    """
    found = _Found()
    process = _process(data, entities, found)
    problems = found.problems
    if process is not None:
        unknown = [e.key for e in process.entities if e.key not in entities]
        gaps = Gaps(frozenset(found.gaps), entity=bool(unknown))
        process, broken = validate(process, gaps=gaps)
        problems = sorted([*problems, *broken], key=_position)
    if problems or process is None:
        raise InvalidDefinition(_capped(problems))
    return process


def dump_process(process: Process) -> dict[str, Any]:
    """The file form of a process; `load_process(dump_process(p))` gives `p` back."""
    stages = []
    for stage in process.stages:
        out: dict[str, Any] = {"key": stage.key, "name": stage.name}
        if stage.entity is not None:
            out["entity"] = stage.entity
        out["category"] = stage.category.value
        if stage.guidance:
            out["guidance"] = stage.guidance
        if stage.due is not None:
            out["due"] = stage.due.text
            if stage.due.business_days:
                out["due_business_days"] = True
        if stage.probability is not None:
            out["probability"] = stage.probability
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
    if process.amount_field is not None:
        data["amount_field"] = process.amount_field
    if process.close_date_field is not None:
        data["close_date_field"] = process.close_date_field
    if process.outcomes:
        data["outcomes"] = [_dump_outcome(o) for o in process.outcomes]
    if process.crossings:
        data["crossings"] = [_dump_crossing(c) for c in process.crossings]
    data["stages"] = stages
    return data


def _dump_crossing(crossing: Crossing) -> dict[str, Any]:
    out: dict[str, Any] = {"entity": crossing.entity.key, "lookup": crossing.lookup}
    if crossing.carry:
        out["map"] = [{"field": c.field, "from": c.source} for c in crossing.carry]
    return out


def _dump_outcome(outcome: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {"key": outcome.key, "label": outcome.label}
    if outcome.reason_required:
        out["reason"] = "required"
    return out


def load_entities(data: Any, *, known: Collection[str] | None = ()) -> list[Entity]:
    """Read the entity catalogue; raise InvalidDefinition listing every problem.

    A lookup's target is an entity read here or one of `known`; None: targets are not
    checked (entities read back from storage, checked when they were saved).
    """
    found = _Found()
    if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
        raise InvalidDefinition([Problem("entities", "expected a list of entities")])
    entities = []
    seen: set[str] = set()
    lookups: list[tuple[str, Field]] = []
    for i, raw in enumerate(data["entities"]):
        path = f"entities[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
            found.add(path, "an entity has a key, a name and a list of fields")
            continue
        key = _str(raw, "key", path, found)
        if key in seen:
            found.add(f"{path}.key", f"duplicate entity {key!r}")
        seen.add(key)
        fields = [_field(f, f"{path}.fields[{j}]", found) for j, f in enumerate(raw["fields"])]
        keys = [f.key for f in fields]
        for dup in {k for k in keys if keys.count(k) > 1}:
            found.add(f"{path}.fields", f"duplicate field {dup!r}")
        entities.append(Entity(key=key, name=_str(raw, "name", path, found), fields=tuple(fields)))
        lookups += [(f"{path}.fields[{j}]", f) for j, f in enumerate(fields) if f.target]
    targets = None if known is None else {*seen, *known}
    for where, f in lookups:
        if targets is not None and f.target not in targets:
            found.add(f"{where}.target", f"unknown entity {f.target!r}")
    if found.problems:
        raise InvalidDefinition(found.problems)
    return entities


def dump_entity(entity: Entity) -> dict[str, Any]:
    fields = []
    for f in entity.fields:
        out: dict[str, Any] = {"key": f.key, "label": f.label, "type": f.type.value}
        if f.choices:
            out["choices"] = list(f.choices)
        if f.minimum is not None:
            out["minimum"] = decimal_text(f.minimum)
        if f.maximum is not None:
            out["maximum"] = decimal_text(f.maximum)
        if f.currency is not None:
            out["currency"] = f.currency
        if f.target is not None:
            out["target"] = f.target
        fields.append(out)
    return {"key": entity.key, "name": entity.name, "fields": fields}


def _field(raw: Any, path: str, found: _Found) -> Field:
    if not isinstance(raw, dict):
        found.add(path, "a field is a mapping")
        return Field("", "", FieldType.TEXT)
    key = _str(raw, "key", path, found)
    if key and not KEY_PATTERN.match(key):
        found.add(f"{path}.key", "use lowercase letters, digits, - or _")
    try:
        field_type = FieldType(raw.get("type"))
    except ValueError:
        names = ", ".join(t.value for t in FieldType)
        found.add(f"{path}.type", f"unknown type {raw.get('type')!r}; use {names}")
        field_type = FieldType.TEXT
    choices = raw.get("choices") or []
    if field_type is FieldType.CHOICE and (
        not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices)
    ):
        found.add(f"{path}.choices", "a choice field needs a list of text choices")
        choices = []
    for j, choice in enumerate(choices if isinstance(choices, list) else []):
        if isinstance(choice, str) and (reason := unstorable(choice)) is not None:
            found.add(f"{path}.choices[{j}]", reason)
            choices = []
            break
    minimum, maximum = (_bound(raw, name, field_type, path, found) for name in _BOUNDS)
    if minimum is not None and maximum is not None and minimum > maximum:
        found.add(f"{path}.minimum", "the minimum is more than the maximum")
    label = _str(raw, "label", path, found)
    currency = _currency(raw, field_type, path, found)
    return Field(
        key,
        label,
        field_type,
        tuple(choices),
        minimum=minimum,
        maximum=maximum,
        currency=currency,
        target=_target(raw, field_type, path, found),
    )


def _target(raw: dict[str, Any], field_type: FieldType, path: str, found: _Found) -> str | None:
    """A lookup field's target: the key of the entity its records are of."""
    value = raw.get("target")
    if field_type is not FieldType.LOOKUP:
        if value is not None:
            found.add(f"{path}.target", "only lookup fields have a target")
        return None
    if value is None:
        found.add(f"{path}.target", "a lookup field needs a target: the key of an entity")
        return None
    if not isinstance(value, str) or not value.strip():
        found.add(f"{path}.target", "expected the key of an entity")
        return None
    if (reason := unstorable(value)) is not None:
        found.add(f"{path}.target", reason)
        return None
    return value


_CURRENCY = re.compile(r"[A-Z]{3}")


def _currency(raw: dict[str, Any], field_type: FieldType, path: str, found: _Found) -> str | None:
    """A money field's currency, as its ISO 4217 code."""
    value = raw.get("currency")
    if value is None:
        return None
    if field_type is not FieldType.MONEY:
        found.add(f"{path}.currency", "only money fields have a currency")
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        found.add(f"{path}.currency", "use a three-letter ISO 4217 code, such as EUR or USD")
        return None
    return value


_BOUNDS = ("minimum", "maximum")


def _bound(
    raw: dict[str, Any], name: str, field_type: FieldType, path: str, found: _Found
) -> Decimal | None:
    """A field's declared minimum or maximum, if it may have one."""
    value = raw.get(name)
    if value is None:
        return None
    if field_type not in BOUNDED_TYPES:
        found.add(f"{path}.{name}", "only number and money fields have a minimum or maximum")
        return None
    try:
        return parse_bound(field_type, value)
    except InvalidValue as error:
        found.add(f"{path}.{name}", f"the {name} {error.reason}")
        return None


@dataclass
class _Found:
    """Problems met while reading, and the paths of the parts replaced by a placeholder."""

    problems: list[Problem] = field(default_factory=list)
    gaps: set[str] = field(default_factory=set)

    def add(self, path: str, message: str, *, gap: bool = True) -> None:
        self.problems.append(Problem(path, message))
        if gap:
            self.gaps.add(path)


def _process(data: Any, entities: Mapping[str, Entity], found: _Found) -> Process | None:
    if not isinstance(data, dict):
        found.add("", "a process definition is a mapping")
        return None
    _unknown_keys(data, _PROCESS_KEYS, "", found)
    key = _str(data, "key", "", found)
    name = _str(data, "name", "", found)
    description = _text(data, "description", "", found)
    entity_key = _str(data, "entity", "", found)
    amount_field = _field_key(data, "amount_field", found)
    close_date_field = _field_key(data, "close_date_field", found)
    entity = entities.get(entity_key)
    if entity is None and entity_key:
        found.add("entity", f"unknown entity {entity_key!r}")
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list):
        found.add("stages", "a process needs a list of stages")
        raw_stages = []
    stages = tuple(_stage(raw, f"stages[{i}]", found) for i, raw in enumerate(raw_stages))
    outcomes = tuple(
        _outcome(item, item_path, found) for item_path, item in _items(data, "outcomes", "", found)
    )
    crossings = tuple(
        _crossing(item, item_path, entities, found)
        for item_path, item in _items(data, "crossings", "", found)
    )
    return Process(
        key=key,
        name=name,
        # An unknown entity is reported; the rules about its fields are skipped.
        entity=entity or Entity(entity_key, entity_key, ()),
        stages=stages,
        description=description,
        outcomes=outcomes,
        amount_field=amount_field,
        close_date_field=close_date_field,
        crossings=crossings,
    )


def _crossing(raw: Any, path: str, entities: Mapping[str, Entity], found: _Found) -> Crossing:
    if not isinstance(raw, dict):
        found.add(path, "a crossing is a mapping with an entity and a lookup")
        return Crossing(Entity("", "", ()), "")
    _unknown_keys(raw, _CROSSING_KEYS, path, found)
    key = _str(raw, "entity", path, found)
    entity = entities.get(key)
    if entity is None and key:
        found.add(f"{path}.entity", f"unknown entity {key!r}")
    lookup = _str(raw, "lookup", path, found)
    carry = []
    for item_path, item in _items(raw, "map", path, found):
        if not isinstance(item, dict):
            found.add(item_path, "a map entry names a `field` and where it comes `from`")
            continue
        _unknown_keys(item, _CARRY_KEYS, item_path, found)
        target, source = _str(item, "field", item_path, found), _str(item, "from", item_path, found)
        if source and "." not in source:
            found.add(f"{item_path}.from", "name the field with its entity: lead.company_name")
            continue
        if target and source:
            carry.append(Carry(target, source))
    # An unknown entity is reported; the rules about its fields are skipped.
    return Crossing(entity or Entity(key, key, ()), lookup, tuple(carry))


def _field_key(raw: dict[str, Any], key: str, found: _Found) -> str | None:
    """An optional field named by the process; whether its entity has it is a rule."""
    value = raw.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    found.add(key, "expected a field key")
    return None


def _probability(raw: dict[str, Any], path: str, found: _Found) -> int | None:
    """A stage's optional probability: a whole percentage."""
    value = raw.get("probability")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        found.add(f"{path}.probability", "expected a whole percentage from 0 to 100")
        return None
    return value


def _stage(raw: Any, path: str, found: _Found) -> Stage:
    if not isinstance(raw, dict):
        found.add(path, "a stage is a mapping")
        return Stage(key="", name="", category=StageCategory.QUALIFY)
    _unknown_keys(raw, _STAGE_KEYS, path, found)
    key = _str(raw, "key", path, found)
    name = _str(raw, "name", path, found)
    try:
        category = StageCategory(raw.get("category"))
    except ValueError:
        names = ", ".join(c.value for c in StageCategory)
        msg = f"unknown category {raw.get('category')!r}; use one of {names}"
        found.add(f"{path}.category", msg)
        category = StageCategory.QUALIFY
    guidance = _text(raw, "guidance", path, found)
    try:
        stage_due = due.from_file(raw.get("due"), raw.get("due_business_days", False))
    except due.BadDue as bad:
        found.add(f"{path}.{bad.key}", bad.reason)
        stage_due = None
    steps = tuple(
        _step(item, item_path, found) for item_path, item in _items(raw, "steps", path, found)
    )
    next_key = raw.get("next")
    if next_key is not None and not isinstance(next_key, str):
        found.add(f"{path}.next", "expected a stage key")
        next_key = None
    branches = tuple(
        _branch(item, item_path, found) for item_path, item in _items(raw, "branches", path, found)
    )
    entity = raw.get("entity")
    if entity is not None and (not isinstance(entity, str) or not entity):
        found.add(f"{path}.entity", "expected an entity key")
        entity = None
    return Stage(
        key=key,
        name=name,
        entity=entity,
        category=category,
        guidance=guidance,
        steps=steps,
        next=next_key,
        branches=branches,
        due=stage_due,
        probability=_probability(raw, path, found),
    )


def _step(raw: Any, path: str, found: _Found) -> Step:
    if not isinstance(raw, dict) or not isinstance(raw.get("field"), str) or not raw["field"]:
        found.add(path, "a step names a field")
        return Step(field="")
    _unknown_keys(raw, _STEP_KEYS, path, found)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        found.add(f"{path}.required", "expected true or false")
    return Step(field=raw["field"], required=required is True)


def _branch(raw: Any, path: str, found: _Found) -> Branch:
    if not isinstance(raw, dict):
        found.add(path, "a branch is a mapping with `to` and `when`")
        return Branch(when=_UNREAD, to="")
    _unknown_keys(raw, _BRANCH_KEYS, path, found)
    to = raw.get("to")
    if not isinstance(to, str) or not to:
        found.add(f"{path}.to", "a branch needs a target stage `to`")
        to = ""
    if raw.get("when") is None:
        # Without a condition the branch would always be taken, like the stage's `next`.
        found.add(f"{path}.when", "a stage has one default, its `next`; this branch needs a `when`")
        return Branch(when=_UNREAD, to=to)
    when, problems = conditions.parse(raw["when"], f"{path}.when")
    for problem in problems:
        found.add(problem.path, problem.message)
    if when is None:
        found.gaps.add(f"{path}.when")
        return Branch(when=_UNREAD, to=to)
    return Branch(when=when, to=to)


def _outcome(raw: Any, path: str, found: _Found) -> Outcome:
    if not isinstance(raw, dict):
        found.add(path, "an outcome is a mapping with a key and a label")
        return Outcome(key="", label="")
    _unknown_keys(raw, _OUTCOME_KEYS, path, found)
    reason = raw.get("reason", "optional")
    if not isinstance(reason, str) or reason not in _REASONS:
        found.add(f"{path}.reason", "use required or optional")
        reason = "optional"
    key, label = _str(raw, "key", path, found), _str(raw, "label", path, found)
    return Outcome(key=key, label=label, reason_required=_REASONS[reason])


def _items(raw: dict[str, Any], key: str, path: str, found: _Found) -> list[tuple[str, Any]]:
    """The entries of an optional list in a process or a stage, each with its path."""
    items = raw.get(key)
    where = f"{path}.{key}" if path else key
    if items is None:
        return []
    if not isinstance(items, list):
        found.add(where, f"expected a list of {key}")
        return []
    return [(f"{where}[{i}]", item) for i, item in enumerate(items)]


def _unknown_keys(raw: dict[Any, Any], known: tuple[str, ...], path: str, found: _Found) -> None:
    unknown = set(raw) - set(known)
    if unknown:
        # The rest of the part is still read, so this is no gap.
        found.add(path, f"unknown keys: {', '.join(sorted(map(str, unknown)))}", gap=False)


def _text(raw: dict[str, Any], key: str, path: str, found: _Found) -> str:
    """An optional text; missing is empty."""
    value = raw.get(key)
    where = f"{path}.{key}" if path else key
    if value is None or isinstance(value, str):
        if value and (reason := unstorable(value)) is not None:
            found.add(where, reason)
            return ""
        return value or ""
    found.add(where, "expected text")
    return ""


# Where a path sits in a file written in the canonical order: the parts of the process,
# a stage, a step and a branch each keep their relative order in this one list.
_ORDER = {
    name: rank
    for rank, name in enumerate(
        (
            *("key", "name", "entity", "category", "description", "amount_field"),
            *("close_date_field", "guidance", "due", "due_business_days", "probability"),
            *("outcomes", "crossings", "lookup", "map"),
            *("label", "reason", "stages"),
            *("steps", "field", "from", "required", "next", "branches", "to", "when"),
        )
    )
}
_PART = re.compile(r"\[(\d+)\]|([^.\[]+)")


def _position(problem: Problem) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (0, int(index), "") if index else (1, _ORDER.get(name, len(_ORDER)), name)
        for index, name in _PART.findall(problem.path)
    )


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem("", f"{more} more problems not listed")]


def _str(raw: dict[str, Any], key: str, path: str, found: _Found) -> str:
    """A required text."""
    value = raw.get(key)
    where = f"{path}.{key}" if path else key
    if isinstance(value, str) and value.strip():
        if (reason := unstorable(value)) is None:
            return value
        found.add(where, reason)
        return ""
    found.add(
        where, f"{key} is required" if value is None or isinstance(value, str) else "expected text"
    )
    return ""
