from typing import Any

import pytest

from server.domain.conditions import Compare, Operator, check
from server.domain.definition import dump_entity, load_entities
from server.domain.errors import InvalidDefinition, InvalidValue, Problem
from server.domain.fields import (
    BOUNDED_TYPES,
    MAX_RECORD_ID,
    ORDERED_TYPES,
    Entity,
    Field,
    FieldType,
    coerce,
    coerce_values,
)

LEAD = Field("lead", "Originating lead", FieldType.LOOKUP, target="lead")
DEAL = Entity("deal", "Deal", (LEAD, Field("size", "Size", FieldType.NUMBER)))


def reason_of(raw: object) -> str:
    with pytest.raises(InvalidValue) as exc:
        coerce(LEAD, raw)
    assert exc.value.field == "lead"
    return exc.value.reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, 1), (42, 42), ("42", 42), ("007", 7), (MAX_RECORD_ID, MAX_RECORD_ID), (None, None)],
)
def test_a_lookup_is_a_record_id(raw, expected):
    value = coerce(LEAD, raw)
    assert value == expected
    assert value is None or type(value) is int


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        0,
        -3,
        "-3",
        "+3",
        " 3",
        "3 ",
        "",
        "abc",
        "4.0",
        4.0,
        2.5,
        "١٢",  # digits, but not ASCII ones
        MAX_RECORD_ID + 1,
        str(MAX_RECORD_ID + 1),
        10**40,
        "9" * 400,
        [3],
        {"id": 3},
    ],
)
def test_a_lookup_refuses_anything_but_a_record_id(raw):
    assert reason_of(raw) == "must be a record id"


def test_record_values_coerce_lookups():
    assert coerce_values(DEAL, {"lead": "12", "size": 3}) == {"lead": 12, "size": 3}


def test_lookups_are_neither_ordered_nor_bounded():
    assert FieldType.LOOKUP not in ORDERED_TYPES
    assert FieldType.LOOKUP not in BOUNDED_TYPES


def two_entities(*fields: dict[str, Any]) -> dict[str, Any]:
    """An opportunity with `fields`, before the lead entity it may point at."""
    return {
        "entities": [
            {"key": "opportunity", "name": "Opportunity", "fields": list(fields)},
            {
                "key": "lead",
                "name": "Lead",
                "fields": [{"key": "company", "label": "Company", "type": "text"}],
            },
        ]
    }


def problems_of(data: Any, **kwargs: Any) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_entities(data, **kwargs)
    return list(exc.value.problems)


ORIGIN = {"key": "origin", "label": "Origin", "type": "lookup", "target": "lead"}


def test_a_lookup_names_its_target_and_round_trips():
    opportunity, lead = load_entities(two_entities(ORIGIN))
    assert opportunity.field("origin") == Field("origin", "Origin", FieldType.LOOKUP, target="lead")
    dumped = dump_entity(opportunity)
    assert dumped["fields"] == [ORIGIN]
    assert "target" not in dump_entity(lead)["fields"][0]
    again = load_entities({"entities": [dumped, dump_entity(lead)]})
    assert again == [opportunity, lead]


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (
            {"key": "origin", "label": "Origin", "type": "lookup"},
            Problem(
                "entities[0].fields[0].target",
                "a lookup field needs a target: the key of an entity",
            ),
        ),
        (
            {**ORIGIN, "target": "contact"},
            Problem("entities[0].fields[0].target", "unknown entity 'contact'"),
        ),
        (
            {**ORIGIN, "target": ["lead"]},
            Problem("entities[0].fields[0].target", "expected the key of an entity"),
        ),
        (
            {**ORIGIN, "target": " "},
            Problem("entities[0].fields[0].target", "expected the key of an entity"),
        ),
        (
            {"key": "origin", "label": "Origin", "type": "text", "target": "lead"},
            Problem("entities[0].fields[0].target", "only lookup fields have a target"),
        ),
    ],
)
def test_a_lookup_without_a_known_target_is_a_problem(field, problem):
    assert problems_of(two_entities(field)) == [problem]


def test_a_target_may_be_an_entity_known_beyond_the_file():
    (opportunity,) = load_entities(
        {"entities": [two_entities(ORIGIN)["entities"][0]]}, known={"lead"}
    )
    assert opportunity.field("origin").target == "lead"  # type: ignore[union-attr]
    assert problems_of({"entities": [two_entities(ORIGIN)["entities"][0]]}) == [
        Problem("entities[0].fields[0].target", "unknown entity 'lead'")
    ]


def test_stored_entities_are_read_without_their_catalogue():
    data = {"entities": [two_entities(ORIGIN)["entities"][0]]}
    (opportunity,) = load_entities(data, known=None)
    assert opportunity.field("origin").target == "lead"  # type: ignore[union-attr]


def test_the_shipped_opportunity_points_at_its_lead(catalogue):
    origin = catalogue["opportunity"].field("originating_lead")
    assert origin == Field("originating_lead", "Originating lead", FieldType.LOOKUP, target="lead")


@pytest.mark.parametrize("value", [None, True, False])
def test_a_condition_tests_whether_a_lookup_is_set(value):
    condition = Compare("lead", Operator.IS_SET, value)
    assert check(condition, DEAL, "when") == (condition, [])


@pytest.mark.parametrize(
    ("op", "value"),
    [("eq", 12), ("ne", "12"), ("in", [12]), ("gt", 3), ("contains", "1")],
)
def test_a_condition_compares_no_lookup(op, value):
    _, problems = check(Compare("lead", Operator(op), value), DEAL, "when")
    assert problems == [
        Problem(
            "when", "lead is a lookup: a condition can only test whether it is filled in (is_set)"
        )
    ]
