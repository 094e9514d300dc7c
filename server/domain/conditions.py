"""Branch conditions: nested all / any / not groups over field comparisons."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.domain.errors import InvalidValue, Problem
from server.domain.fields import ORDERED_TYPES, Entity, FieldType, coerce, is_set, sort_key


class Operator(enum.Enum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    CONTAINS = "contains"
    IS_SET = "is_set"


_ORDERED_OPS = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})

# How an operator reads in a sentence, for problems a designer reads beside the condition.
OPERATOR_WORDS = {
    Operator.EQ: "equals",
    Operator.NE: "does not equal",
    Operator.GT: "is greater than",
    Operator.GTE: "is at least",
    Operator.LT: "is less than",
    Operator.LTE: "is at most",
    Operator.IN: "is one of",
    Operator.CONTAINS: "contains",
    Operator.IS_SET: "is filled in",
}

# Groups (all / any / not) nest at most this deep; reading stops there, so a hostile
# file cannot make the engine recurse without end.
MAX_DEPTH = 8


@dataclass(frozen=True)
class Compare:
    field: str
    op: Operator
    value: Any = None


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | All | AnyOf | Not


def fields_of(condition: Condition) -> set[str]:
    """Every field key a condition reads."""
    if isinstance(condition, Compare):
        return {condition.field}
    if isinstance(condition, Not):
        return fields_of(condition.item)
    return set().union(*(fields_of(item) for item in condition.items))


def evaluate(condition: Condition, values: Mapping[str, Any], entity: Entity) -> bool:
    """Whether `condition` holds for the record `values`."""
    if isinstance(condition, All):
        return all(evaluate(item, values, entity) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(evaluate(item, values, entity) for item in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, values, entity)
    return _compare(condition, values.get(condition.field), entity)


def _compare(cond: Compare, actual: Any, entity: Entity) -> bool:
    if cond.op is Operator.IS_SET:
        return is_set(actual) is (cond.value is not False)
    if not is_set(actual):
        # An unset field equals nothing, so it differs from everything.
        return cond.op is Operator.NE
    field = entity.field(cond.field)
    field_type = field.type if field else FieldType.TEXT
    if cond.op is Operator.EQ:
        return sort_key(field_type, actual) == sort_key(field_type, cond.value)
    if cond.op is Operator.NE:
        return sort_key(field_type, actual) != sort_key(field_type, cond.value)
    if cond.op is Operator.IN:
        wanted = {sort_key(field_type, v) for v in cond.value}
        return sort_key(field_type, actual) in wanted
    if cond.op is Operator.CONTAINS:
        return str(cond.value).casefold() in str(actual).casefold()
    left, right = sort_key(field_type, actual), sort_key(field_type, cond.value)
    if cond.op is Operator.GT:
        return bool(left > right)
    if cond.op is Operator.GTE:
        return bool(left >= right)
    if cond.op is Operator.LT:
        return bool(left < right)
    return bool(left <= right)


def check(condition: Condition, entity: Entity, path: str) -> tuple[Condition, list[Problem]]:
    """Check a condition against the entity; return it with values made canonical."""
    if isinstance(condition, All | AnyOf):
        if not condition.items:
            return condition, [Problem(path, "an all/any group needs at least one condition")]
        items, problems = [], []
        group = "all" if isinstance(condition, All) else "any"
        for i, item in enumerate(condition.items):
            checked, found = check(item, entity, f"{path}.{group}[{i}]")
            items.append(checked)
            problems += found
        return type(condition)(tuple(items)), problems
    if isinstance(condition, Not):
        inner, problems = check(condition.item, entity, f"{path}.not")
        return Not(inner), problems
    return _check_compare(condition, entity, path)


def _check_compare(cond: Compare, entity: Entity, path: str) -> tuple[Condition, list[Problem]]:
    field = entity.field(cond.field)
    if field is None:
        return cond, [Problem(path, f"unknown field {cond.field!r} of {entity.key}")]
    if cond.op is Operator.IS_SET:
        if cond.value not in (None, True, False):
            return cond, [Problem(path, "is_set takes true or false")]
        return cond, []
    if field.type is FieldType.LOOKUP:
        # A lookup holds a record id, which says nothing a branch should hang on.
        msg = f"{field.key} is a lookup: a condition can only test whether it is filled in (is_set)"
        return cond, [Problem(path, msg)]
    if cond.op in _ORDERED_OPS and field.type not in ORDERED_TYPES:
        msg = f"{cond.op.value} needs a number, money or date field; {field.key} is {field.type.value}"
        return cond, [Problem(path, msg)]
    if cond.op is Operator.CONTAINS:
        if field.type is not FieldType.TEXT or not isinstance(cond.value, str) or not cond.value:
            return cond, [Problem(path, "contains needs a text field and a non-empty text value")]
        return cond, []
    try:
        if cond.op is Operator.IN:
            if not isinstance(cond.value, list) or not cond.value:
                return cond, [Problem(path, "in needs a non-empty list of values")]
            value: Any = [coerce(field, v) for v in cond.value]
        else:
            value = coerce(field, cond.value)
    except InvalidValue as exc:
        return cond, [Problem(path, f"the value for {field.key} {exc.reason}")]
    if value is None or (isinstance(value, list) and None in value):
        words, filled = OPERATOR_WORDS[cond.op], OPERATOR_WORDS[Operator.IS_SET]
        msg = f"“{words}” needs a value; to test whether {field.label} is empty, use “{filled}”"
        return cond, [Problem(path, msg)]
    return Compare(cond.field, cond.op, value), []


def parse(data: Any, path: str, *, depth: int = 0) -> tuple[Condition | None, list[Problem]]:
    """Read a condition from its file form; `depth` counts the groups around it."""
    if not isinstance(data, dict):
        return None, [Problem(path, "a condition is a mapping")]
    groups = [k for k in ("all", "any", "not") if k in data]
    if groups:
        if len(data) != 1:
            return None, [Problem(path, "a group holds exactly one of all, any or not")]
        if depth >= MAX_DEPTH:
            return None, [Problem(path, f"groups (all, any, not) nest at most {MAX_DEPTH} deep")]
        key = groups[0]
        if key == "not":
            inner, problems = parse(data["not"], f"{path}.not", depth=depth + 1)
            return (Not(inner) if inner else None), problems
        if not isinstance(data[key], list):
            return None, [Problem(path, f"{key} takes a list of conditions")]
        items, problems = [], []
        for i, raw in enumerate(data[key]):
            item, found = parse(raw, f"{path}.{key}[{i}]", depth=depth + 1)
            problems += found
            if item is not None:
                items.append(item)
        group = All(tuple(items)) if key == "all" else AnyOf(tuple(items))
        return (None if problems else group), problems
    unknown = set(data) - {"field", "op", "value"}
    if unknown:
        return None, [
            Problem(path, f"unknown keys in condition: {', '.join(sorted(map(str, unknown)))}")
        ]
    field, op = data.get("field"), data.get("op")
    if not isinstance(field, str) or not field:
        return None, [Problem(path, "a comparison needs a field")]
    try:
        operator = Operator(op)
    except ValueError:
        names = ", ".join(o.value for o in Operator)
        return None, [Problem(path, f"unknown operator {op!r}; use one of {names}")]
    return Compare(field, operator, data.get("value")), []


def dump(condition: Condition) -> dict[str, Any]:
    """The file form of a condition."""
    if isinstance(condition, All):
        return {"all": [dump(c) for c in condition.items]}
    if isinstance(condition, AnyOf):
        return {"any": [dump(c) for c in condition.items]}
    if isinstance(condition, Not):
        return {"not": dump(condition.item)}
    out: dict[str, Any] = {"field": condition.field, "op": condition.op.value}
    if condition.value is not None:
        out["value"] = condition.value
    return out
