from typing import Any

import pytest
import yaml

from server.domain.conditions import All, AnyOf, Compare, Not, Operator
from server.domain.definition import dump_entity, dump_process, load_entities, load_process
from server.domain.errors import InvalidDefinition, Problem
from server.domain.fields import Entity, Field, FieldType
from server.domain.process import Branch, ProcessStatus, Stage, StageCategory, Step


def stage(key: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "category": "QUALIFY", **extra}


def flow(*stages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "key": "deal-flow",
        "name": "Deal flow",
        "entity": "deal",
        "stages": list(stages),
        **extra,
    }


IS_SET = {"when": {"field": "title", "op": "is_set"}}


def problems_of(data: Any, entity: Entity) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_process(data, {entity.key: entity})
    return list(exc.value.problems)


def entity_problems(data: Any) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_entities(data)
    return list(exc.value.problems)


RICH = flow(
    stage(
        "qualify",
        guidance="Find the budget.",
        steps=[{"field": "amount", "required": True}, {"field": "size"}],
        next="develop",
    ),
    stage(
        "develop",
        category="DEVELOP",
        steps=[{"field": "seats", "required": False}],
        next="propose",
        branches=[
            {
                "to": "approve",
                "when": {
                    "any": [
                        {"field": "amount", "op": "gte", "value": 250000},
                        {
                            "all": [
                                {"field": "size", "op": "in", "value": ["Large"]},
                                {"not": {"field": "signed", "op": "eq", "value": True}},
                            ]
                        },
                    ]
                },
            },
            {"to": "propose", "when": {"field": "close_date", "op": "lt", "value": "2024-07-01"}},
        ],
    ),
    stage(
        "approve",
        category="APPROVAL",
        steps=[{"field": "signed", "required": True}],
        next="propose",
    ),
    stage("propose", category="PROPOSE", next="close"),
    stage("close", category="CLOSE", steps=[{"field": "sponsor", "required": True}]),
    description="Sell to a company.",
)


def test_load_process_reads_the_file_form(deal):
    process = load_process(RICH, {"deal": deal})
    assert (process.key, process.name, process.description) == (
        "deal-flow",
        "Deal flow",
        "Sell to a company.",
    )
    assert process.entity is deal
    assert (process.id, process.version, process.status) == (None, 1, ProcessStatus.ACTIVE)
    assert process.stages[0] == Stage(
        key="qualify",
        name="Qualify",
        category=StageCategory.QUALIFY,
        guidance="Find the budget.",
        steps=(Step("amount", required=True), Step("size", required=False)),
        next="develop",
    )
    assert process.stages[1].branches == (
        Branch(
            AnyOf(
                (
                    Compare("amount", Operator.GTE, "250000.00"),
                    All(
                        (
                            Compare("size", Operator.IN, ["Large"]),
                            Not(Compare("signed", Operator.EQ, True)),
                        )
                    ),
                )
            ),
            "approve",
        ),
        Branch(Compare("close_date", Operator.LT, "2024-07-01"), "propose"),
    )
    assert process.stages[-1].is_last


def test_yaml_dates_are_read_as_dates(deal):
    text = """
key: deal-flow
name: Deal flow
entity: deal
stages:
  - key: qualify
    name: Qualify
    category: QUALIFY
    next: close
    branches:
      - to: rush
        when: {field: close_date, op: lt, value: 2024-07-01}
  - {key: rush, name: Rush, category: CLOSE, next: close}
  - {key: close, name: Close, category: CLOSE}
"""
    process = load_process(yaml.safe_load(text), {"deal": deal})
    assert process.stages[0].branches[0].when == Compare("close_date", Operator.LT, "2024-07-01")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (["qualify"], Problem("", "a process definition is a mapping")),
        (flow(stage("a"), owner="ann"), Problem("", "unknown keys: owner")),
        (flow(stage("a"), entity="ticket"), Problem("entity", "unknown entity 'ticket'")),
        ({**flow(stage("a")), "entity": None}, Problem("entity", "entity is required")),
        ({**flow(stage("a")), "key": ""}, Problem("key", "key is required")),
        ({**flow(stage("a")), "name": "  "}, Problem("name", "name is required")),
        (flow(stage("a"), description=["x"]), Problem("description", "expected text")),
        ({**flow(), "stages": None}, Problem("stages", "a process needs a list of stages")),
        (flow("qualify"), Problem("stages[0]", "a stage is a mapping")),
        (
            flow(stage("a", when="later", owner="ann")),
            Problem("stages[0]", "unknown keys: owner, when"),
        ),
        (
            flow(stage("a", category="WIN")),
            Problem(
                "stages[0].category",
                "unknown category 'WIN'; use one of QUALIFY, DEVELOP, PROPOSE, CLOSE, "
                "IDENTIFY, RESEARCH, RESOLVE, APPROVAL",
            ),
        ),
        (flow({"key": "a", "category": "CLOSE"}), Problem("stages[0].name", "name is required")),
        (flow({"name": "A", "category": "CLOSE"}), Problem("stages[0].key", "key is required")),
        (
            flow(stage("a", steps=[{"field": "title"}, "amount"])),
            Problem("stages[0].steps[1]", "a step names a field"),
        ),
        (
            flow(stage("a", steps=[{"field": "title", "required": "yes"}])),
            Problem("stages[0].steps[0].required", "expected true or false"),
        ),
        (
            flow(
                stage("a", next="b", branches=[{"when": {"field": "title", "op": "is_set"}}]),
                stage("b"),
            ),
            Problem("stages[0].branches[0].to", "a branch needs a target stage `to`"),
        ),
        (
            flow(stage("a", next="b", branches=["b"]), stage("b")),
            Problem("stages[0].branches[0]", "a branch is a mapping with `to` and `when`"),
        ),
        (
            flow(stage("a", next="b", branches=[{**IS_SET, "to": "b", "if": 1}]), stage("b")),
            Problem("stages[0].branches[0]", "unknown keys: if"),
        ),
        (
            flow(stage("a", steps=[{"field": "title", "requried": True}])),
            Problem("stages[0].steps[0]", "unknown keys: requried"),
        ),
        (
            flow(stage("a", steps="title")),
            Problem("stages[0].steps", "expected a list of steps"),
        ),
        (
            flow(stage("a", next="b", branches={"to": "b"}), stage("b")),
            Problem("stages[0].branches", "expected a list of branches"),
        ),
        (flow(stage("a", next=2)), Problem("stages[0].next", "expected a stage key")),
        (flow(stage("a", guidance=3)), Problem("stages[0].guidance", "expected text")),
        (
            flow(
                stage(
                    "a",
                    next="b",
                    branches=[{"to": "b", "when": {"field": "seats", "op": "between"}}],
                ),
                stage("b"),
            ),
            Problem(
                "stages[0].branches[0].when",
                "unknown operator 'between'; use one of eq, ne, gt, gte, lt, lte, in, contains, "
                "is_set",
            ),
        ),
        (
            flow(stage("a", next="b", branches=[{"to": "b", "when": "always"}]), stage("b")),
            Problem("stages[0].branches[0].when", "a condition is a mapping"),
        ),
    ],
)
def test_one_problem_per_malformed_part(deal, data, problem):
    assert problems_of(data, deal) == [problem]


def test_every_malformed_part_is_reported_at_once(deal):
    data = {
        "key": "deal-flow",
        "entity": "deal",
        "colour": "red",
        "stages": [
            stage("qualify", category="WIN", next="close"),
            stage(
                "close",
                steps=[{"required": True}],
                branches=[{"to": "qualify", "when": {"any": [{"field": "x", "op": "like"}]}}],
                owner="ann",
            ),
        ],
    }
    assert [(p.path, p.message[:30]) for p in problems_of(data, deal)] == [
        ("", "unknown keys: colour"),
        ("name", "name is required"),
        ("stages[0].category", "unknown category 'WIN'; use on"),
        ("stages[1]", "unknown keys: owner"),
        ("stages[1]", "cycle: qualify -> close -> qua"),
        ("stages[1].steps[0]", "a step names a field"),
        ("stages[1].next", "a stage with branches needs a "),
        ("stages[1].branches[0].when.any[0]", "unknown operator 'like'; use o"),
    ]


def test_dump_process_writes_only_what_is_set(deal):
    data = dump_process(load_process(flow(stage("a", next="b"), stage("b")), {"deal": deal}))
    assert data == {
        "key": "deal-flow",
        "name": "Deal flow",
        "entity": "deal",
        "stages": [
            {"key": "a", "name": "A", "category": "QUALIFY", "steps": [], "next": "b"},
            {"key": "b", "name": "B", "category": "QUALIFY", "steps": []},
        ],
    }


def test_dump_process_round_trips(deal):
    process = load_process(RICH, {"deal": deal})
    dumped = dump_process(process)
    assert dumped["description"] == "Sell to a company."
    assert dumped["stages"][0]["guidance"] == "Find the budget."
    assert dumped["stages"][1]["branches"][0]["when"]["any"][0]["value"] == "250000.00"
    assert load_process(dumped, {"deal": deal}) == process
    assert dump_process(load_process(dumped, {"deal": deal})) == dumped
    assert load_process(yaml.safe_load(yaml.safe_dump(dumped)), {"deal": deal}) == process


ENTITIES = {
    "entities": [
        {
            "key": "deal",
            "name": "Deal",
            "fields": [
                {"key": "amount", "label": "Amount", "type": "money"},
                {"key": "size", "label": "Size", "type": "choice", "choices": ["S", "L"]},
            ],
        },
        {"key": "lead", "name": "Lead", "fields": []},
    ]
}


def test_load_entities_reads_the_catalogue():
    deal, lead = load_entities(ENTITIES)
    assert deal == Entity(
        "deal",
        "Deal",
        (
            Field("amount", "Amount", FieldType.MONEY),
            Field("size", "Size", FieldType.CHOICE, ("S", "L")),
        ),
    )
    assert lead == Entity("lead", "Lead", ())


def test_dump_entity_round_trips():
    entities = load_entities(ENTITIES)
    dumped = {"entities": [dump_entity(e) for e in entities]}
    assert dumped == ENTITIES
    assert load_entities(dumped) == entities


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], Problem("entities", "expected a list of entities")),
        ({"entities": {"deal": {}}}, Problem("entities", "expected a list of entities")),
        (
            {"entities": [{"key": "deal", "name": "Deal"}]},
            Problem("entities[0]", "an entity has a key, a name and a list of fields"),
        ),
        (
            {"entities": [{"key": "deal", "fields": []}]},
            Problem("entities[0].name", "name is required"),
        ),
        (
            {"entities": [{"key": "deal", "name": "D", "fields": ["amount"]}]},
            Problem("entities[0].fields[0]", "a field is a mapping"),
        ),
        (
            {"entities": [{"key": "deal", "name": "D", "fields": [{"key": "a", "type": "text"}]}]},
            Problem("entities[0].fields[0].label", "label is required"),
        ),
        (
            {
                "entities": [
                    {
                        "key": "deal",
                        "name": "D",
                        "fields": [{"key": "A b", "label": "A", "type": "text"}],
                    }
                ]
            },
            Problem("entities[0].fields[0].key", "use lowercase letters, digits, - or _"),
        ),
        (
            {
                "entities": [
                    {
                        "key": "deal",
                        "name": "D",
                        "fields": [{"key": "a", "label": "A", "type": "url"}],
                    }
                ]
            },
            Problem(
                "entities[0].fields[0].type",
                "unknown type 'url'; use text, number, money, date, boolean, choice, user, lookup",
            ),
        ),
        (
            {
                "entities": [
                    {
                        "key": "deal",
                        "name": "D",
                        "fields": [{"key": "a", "label": "A", "type": "choice"}],
                    }
                ]
            },
            Problem("entities[0].fields[0].choices", "a choice field needs a list of text choices"),
        ),
        (
            {
                "entities": [
                    {
                        "key": "deal",
                        "name": "D",
                        "fields": [
                            {"key": "a", "label": "A", "type": "text"},
                            {"key": "a", "label": "A again", "type": "date"},
                        ],
                    }
                ]
            },
            Problem("entities[0].fields", "duplicate field 'a'"),
        ),
        (
            {"entities": [{"key": "deal", "name": "D", "fields": []}] * 2},
            Problem("entities[1].key", "duplicate entity 'deal'"),
        ),
    ],
)
def test_load_entities_reports_one_problem_per_mistake(data, problem):
    assert entity_problems(data) == [problem]
