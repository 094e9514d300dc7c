"""Small factories for the domain tests: one entity with every field type, processes from
their file form, records, and the shipped templates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.domain.definition import load_entities, load_process
from server.domain.fields import Entity, Field, FieldType
from server.domain.files import load_text
from server.domain.process import Process
from server.domain.record import Record, create_record

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"
TEMPLATE_FILES = sorted(p.name for p in TEMPLATES.glob("*.yaml") if p.name != "entities.yaml")

DEAL = Entity(
    key="deal",
    name="Deal",
    fields=(
        Field("title", "Title", FieldType.TEXT),
        Field("notes", "Notes", FieldType.TEXT),
        Field("seats", "Seats", FieldType.NUMBER),
        Field("amount", "Amount", FieldType.MONEY),
        Field("close_date", "Close date", FieldType.DATE),
        Field("signed", "Signed", FieldType.BOOLEAN),
        Field("size", "Size", FieldType.CHOICE, ("Small", "Medium", "Large")),
        Field("sponsor", "Sponsor", FieldType.USER),
    ),
)

# qualify -> develop -> [approve when amount >= 100000] -> propose -> close
DEAL_STAGES: list[dict[str, Any]] = [
    {
        "key": "qualify",
        "name": "Qualify",
        "category": "QUALIFY",
        "steps": [{"field": "amount", "required": True}, {"field": "size"}],
        "next": "develop",
    },
    {
        "key": "develop",
        "name": "Develop",
        "category": "DEVELOP",
        "steps": [{"field": "notes", "required": True}, {"field": "seats"}],
        "next": "propose",
        "branches": [{"to": "approve", "when": {"field": "amount", "op": "gte", "value": 100000}}],
    },
    {
        "key": "approve",
        "name": "Approve",
        "category": "APPROVAL",
        "steps": [{"field": "signed", "required": True}],
        "next": "propose",
    },
    {
        "key": "propose",
        "name": "Propose",
        "category": "PROPOSE",
        "steps": [{"field": "close_date", "required": True}],
        "next": "close",
    },
    {
        "key": "close",
        "name": "Close",
        "category": "CLOSE",
        "steps": [{"field": "sponsor", "required": True}, {"field": "title"}],
    },
]


@pytest.fixture
def deal() -> Entity:
    """An entity with a field of every type."""
    return DEAL


@pytest.fixture
def make_process() -> Callable[..., Process]:
    """Load a (valid) process from its file form; the deal flow unless `stages` is given."""

    def make(
        stages: list[dict[str, Any]] | None = None,
        *,
        entity: Entity = DEAL,
        id: int = 1,
        **changes: Any,
    ) -> Process:
        data = {
            "key": "deal-flow",
            "name": "Deal flow",
            "entity": entity.key,
            "stages": DEAL_STAGES if stages is None else stages,
        }
        return replace(load_process(data, {entity.key: entity}), id=id, **changes)

    return make


@pytest.fixture
def make_record() -> Callable[..., Record]:
    """A stored record (it has an id) of the deal entity unless told otherwise."""

    def make(
        values: Mapping[str, Any] | None = None, *, entity: Entity = DEAL, id: int = 10
    ) -> Record:
        now = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
        record, _ = create_record(
            entity, name="Contoso - 50 laptops", owner="ann", values=values or {}, now=now, by="ann"
        )
        return replace(record, id=id)

    return make


@pytest.fixture(scope="session")
def catalogue() -> dict[str, Entity]:
    """The shipped entities, by key."""
    data = load_text((TEMPLATES / "entities.yaml").read_text(encoding="utf-8"), "yaml")
    return {entity.key: entity for entity in load_entities(data)}


@pytest.fixture(scope="session")
def template_data() -> dict[str, Any]:
    """The file form of every shipped process, by file name."""
    return {
        name: load_text((TEMPLATES / name).read_text(encoding="utf-8"), "yaml")
        for name in TEMPLATE_FILES
    }
