"""A number or money field's minimum and maximum: declared in the catalogue, checked when
the catalogue is read, and enforced on every value written."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from server.domain.definition import dump_entity, load_entities
from server.domain.errors import InvalidDefinition, InvalidValue, Problem
from server.domain.fields import Entity, Field, FieldType, coerce, coerce_values
from server.domain.process import Stage, StageCategory, Step, missing_steps
from server.domain.record import create_record, update_record

BUDGET = Field("budget", "Budget", FieldType.MONEY, minimum=Decimal("0"))
SEATS = Field("seats", "Seats", FieldType.NUMBER, minimum=Decimal("1"), maximum=Decimal("1000"))
SHARE = Field("share", "Share", FieldType.NUMBER, minimum=Decimal("-0.5"), maximum=Decimal("0.5"))
NOW = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
DEAL = Entity("deal", "Deal", (BUDGET, SEATS, SHARE, Field("notes", "Notes", FieldType.TEXT)))


def refused(values: dict[str, Any]) -> InvalidValue:
    with pytest.raises(InvalidValue) as exc:
        coerce_values(DEAL, values)
    return exc.value


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"budget": -5}, "budget", "must be at least 0"),
        ({"budget": "-0.01"}, "budget", "must be at least 0"),
        ({"seats": 0}, "seats", "must be at least 1"),
        ({"seats": "1000.5"}, "seats", "must be at most 1000"),
        ({"seats": 1e6}, "seats", "must be at most 1000"),
        ({"share": -0.75}, "share", "must be at least -0.5"),
        ({"share": "0.500001"}, "share", "must be at most 0.5"),
    ],
)
def test_a_value_out_of_bounds_is_refused_in_words_read_next_to_the_field(values, field, reason):
    error = refused(values)
    assert (error.field, error.reason) == (field, reason)
    assert error.message == f"{field}: {reason}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"budget": 0}, {"budget": "0.00"}),
        ({"budget": "250000"}, {"budget": "250000.00"}),
        ({"seats": 1, "share": -0.5}, {"seats": 1, "share": -0.5}),
        ({"seats": "1000", "share": "0.5"}, {"seats": 1000, "share": 0.5}),
        ({"budget": None, "seats": None}, {"budget": None, "seats": None}),
    ],
)
def test_values_on_or_within_the_bounds_are_taken(values, expected):
    assert coerce_values(DEAL, values) == expected


def test_bounds_hold_on_creating_and_updating_a_record():
    with pytest.raises(InvalidValue) as exc:
        create_record(DEAL, name="Deal", owner="ann", values={"budget": -1}, now=NOW, by="ann")
    assert exc.value.reason == "must be at least 0"
    record, _ = create_record(
        DEAL, name="Deal", owner="ann", values={"budget": 10}, now=NOW, by="ann"
    )
    with pytest.raises(InvalidValue) as exc:
        update_record(record, DEAL, values={"seats": 5000}, now=NOW, by="ann")
    assert exc.value.reason == "must be at most 1000"


def test_conditions_compare_with_any_value_of_the_type():
    # A branch may test `budget lt 0` (never true): bounds apply to values written only.
    assert coerce(BUDGET, "-5") == "-5.00"


def test_a_text_field_says_how_long_its_value_may_be():
    assert Field("notes", "Notes", FieldType.TEXT).max_length == 4000
    assert BUDGET.max_length is None
    assert Field("who", "Who", FieldType.USER).max_length is None


def one_entity(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"entities": [{"key": "deal", "name": "Deal", "fields": list(fields)}]}


def test_the_catalogue_declares_bounds_and_round_trips():
    data = one_entity(
        {"key": "budget", "label": "Budget", "type": "money", "minimum": 0},
        {"key": "seats", "label": "Seats", "type": "number", "minimum": "1", "maximum": 1000},
        {"key": "share", "label": "Share", "type": "number", "minimum": -0.5, "maximum": "0.50"},
    )
    (deal,) = load_entities(data)
    assert deal.field("budget") == Field("budget", "Budget", FieldType.MONEY, minimum=Decimal(0))
    assert (deal.field("seats").minimum, deal.field("seats").maximum) == (1, 1000)  # type: ignore[union-attr]
    dumped = dump_entity(deal)
    assert [(f.get("minimum"), f.get("maximum")) for f in dumped["fields"]] == [
        ("0", None),
        ("1", "1000"),
        ("-0.5", "0.5"),
    ]
    assert load_entities({"entities": [dumped]}) == [deal]


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (
            {"key": "a", "label": "A", "type": "number", "minimum": 10, "maximum": 9},
            Problem("entities[0].fields[0].minimum", "the minimum is more than the maximum"),
        ),
        (
            {"key": "a", "label": "A", "type": "text", "minimum": 0},
            Problem(
                "entities[0].fields[0].minimum",
                "only number and money fields have a minimum or maximum",
            ),
        ),
        (
            {"key": "a", "label": "A", "type": "date", "maximum": "2024-01-01"},
            Problem(
                "entities[0].fields[0].maximum",
                "only number and money fields have a minimum or maximum",
            ),
        ),
        (
            {"key": "a", "label": "A", "type": "money", "minimum": "none"},
            Problem(
                "entities[0].fields[0].minimum",
                "the minimum is not a number within the field's range",
            ),
        ),
        (
            {"key": "a", "label": "A", "type": "money", "maximum": "0.001"},
            Problem(
                "entities[0].fields[0].maximum",
                "the maximum is not a number within the field's range",
            ),
        ),
        (
            {"key": "a", "label": "A", "type": "number", "maximum": "1e20"},
            Problem(
                "entities[0].fields[0].maximum",
                "the maximum is not a number within the field's range",
            ),
        ),
        (
            {"key": "a", "label": "A", "type": "number", "minimum": True},
            Problem("entities[0].fields[0].minimum", "the minimum is not a number"),
        ),
        (
            {"key": "a", "label": "A", "type": "number", "minimum": [0]},
            Problem("entities[0].fields[0].minimum", "the minimum is not a number"),
        ),
    ],
)
def test_bounds_that_cannot_hold_are_refused(field, problem):
    with pytest.raises(InvalidDefinition) as exc:
        load_entities(one_entity(field))
    assert list(exc.value.problems) == [problem]


def test_the_shipped_amounts_and_counts_cannot_be_negative(catalogue):
    money = [f for e in catalogue.values() for f in e.fields if f.type is FieldType.MONEY]
    assert money and all(f.minimum == 0 for f in money)
    lead = catalogue["lead"]
    assert lead.field("employee_count").minimum == 0  # type: ignore[union-attr]
    probability = catalogue["opportunity"].field("probability")
    assert (probability.minimum, probability.maximum) == (0, 100)  # type: ignore[union-attr]


def test_a_value_stored_before_its_bound_does_not_pass_the_gate():
    stage = Stage("qualify", "Qualify", StageCategory.QUALIFY, steps=(Step("budget", True),))
    assert missing_steps(stage, {"budget": "-5.00"}, DEAL) == (Step("budget", True),)
    assert missing_steps(stage, {"budget": "0.00"}, DEAL) == ()
