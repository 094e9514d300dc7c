"""A process being designed: its file form, which may break rules until it is published."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.domain.conditions import fields_of
from server.domain.definition import load_process
from server.domain.errors import InvalidDefinition, Problem
from server.domain.fields import Entity
from server.domain.process import Process, ProcessStatus
from server.domain.text import unstorable_in
from server.domain.validation import KEY_PATTERN


@dataclass(frozen=True)
class Draft:
    """`open`: a designer's draft exists; otherwise this is the current version as a start."""

    process_id: int
    key: str
    entity: str
    definition: dict[str, Any]
    version: int
    based_on: int
    status: ProcessStatus
    updated_at: dt.datetime | None
    updated_by: str | None
    open: bool

    @property
    def name(self) -> str:
        name = self.definition.get("name")
        return name if isinstance(name, str) else self.key


def identity(data: Any, entities: Mapping[str, Entity]) -> tuple[str, str]:
    """The key and entity a new draft is filed under; refuse a definition without them."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise InvalidDefinition([Problem("", "a process definition is a mapping")])
    key, entity = data.get("key"), data.get("entity")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        problems.append(Problem("key", "use 1-64 lowercase letters, digits, - or _"))
    if not isinstance(entity, str) or entity not in entities:
        problems.append(Problem("entity", f"unknown entity {entity!r}"))
    if problems:
        raise InvalidDefinition(problems)
    return str(key), str(entity)


def check_storable(data: Any) -> None:
    """A draft is stored as it is, broken or not: refuse text anywhere in it that cannot be."""
    found = unstorable_in(data)
    if found is not None:
        path, reason = found
        raise InvalidDefinition([Problem(path, reason)])


def check_identity(data: Any, *, key: str, entity: str, published: bool) -> None:
    """A process keeps its key; once published, its entity too."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise InvalidDefinition([Problem("", "a process definition is a mapping")])
    if data.get("key") != key:
        problems.append(Problem("key", f"a process keeps its key {key!r}"))
    if published and data.get("entity") != entity:
        msg = f"records of {entity} run this process; its entity cannot change"
        problems.append(Problem("entity", msg))
    if problems:
        raise InvalidDefinition(problems)


def problems_of(data: Any, entities: Mapping[str, Entity]) -> list[Problem]:
    """Everything publishing would refuse, all at once."""
    try:
        load_process(data, entities)
    except InvalidDefinition as error:
        return list(error.problems)
    return []


def uses_field(process: Process, field: str) -> bool:
    """Whether a step, a branch condition or the pipeline of the process reads the field."""
    if field in (process.amount_field, process.close_date_field):
        return True
    for stage in process.stages:
        if any(step.field == field for step in stage.steps):
            return True
        if any(field in fields_of(branch.when) for branch in stage.branches):
            return True
    return False
