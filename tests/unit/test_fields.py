import datetime as dt
import math

import pytest

from server.domain.errors import InvalidValue
from server.domain.fields import (
    MAX_SHORT_TEXT,
    MAX_TEXT,
    Entity,
    Field,
    FieldType,
    coerce,
    coerce_values,
    is_set,
)


def make_field(type: FieldType, *, choices: tuple[str, ...] = ()) -> Field:
    return Field(key="f", label="F", type=type, choices=choices)


def reason_of(type: FieldType, raw: object, **kwargs: tuple[str, ...]) -> str:
    with pytest.raises(InvalidValue) as exc:
        coerce(make_field(type, **kwargs), raw)
    assert exc.value.field == "f"
    return exc.value.reason


@pytest.mark.parametrize("type", list(FieldType))
def test_none_clears_every_type(type):
    assert coerce(make_field(type, choices=("A",)), None) is None


def test_text_is_kept_as_given():
    assert coerce(make_field(FieldType.TEXT), "  Needs 50 laptops ") == "  Needs 50 laptops "


@pytest.mark.parametrize("raw", [12, True, ["a"], {"a": 1}])
def test_text_refuses_other_kinds(raw):
    assert reason_of(FieldType.TEXT, raw).startswith("must be text, not ")


def test_text_has_a_length_limit():
    assert coerce(make_field(FieldType.TEXT), "x" * MAX_TEXT) == "x" * MAX_TEXT
    assert (
        reason_of(FieldType.TEXT, "x" * (MAX_TEXT + 1)) == f"is longer than {MAX_TEXT} characters"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12),
        (-3, -3),
        (2.5, 2.5),
        (4.0, 4),
        ("12", 12),
        (" 3.25 ", 3.25),
        ("-7", -7),
        ("1e3", 1000),
    ],
)
def test_number_accepts_numbers_and_numeric_text(raw, expected):
    value = coerce(make_field(FieldType.NUMBER), raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (True, "must be a number, not a boolean"),
        (False, "must be a number, not a boolean"),
        ("abc", "is not a number"),
        ("", "is not a number"),
        ("   ", "is not a number"),
        ("12 seats", "is not a number"),
        ([1], "must be a number, not a list"),
        ({"n": 1}, "must be a number, not an object"),
    ],
)
def test_number_refuses_non_numbers(raw, reason):
    assert reason_of(FieldType.NUMBER, raw) == reason


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity", "1e400"])
def test_number_refuses_nan_and_infinity(raw):
    assert "finite" in reason_of(FieldType.NUMBER, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", "12.50"),
        ("12.50", "12.50"),
        (12, "12.00"),
        (12.5, "12.50"),
        (" 7 ", "7.00"),
        ("1e3", "1000.00"),
        ("-4.1", "-4.10"),
        ("250000", "250000.00"),
    ],
)
def test_money_is_a_string_with_two_places(raw, expected):
    assert coerce(make_field(FieldType.MONEY), raw) == expected


@pytest.mark.parametrize("raw", ["12.345", 0.125, "0.001"])
def test_money_refuses_more_than_two_decimal_places(raw):
    assert "two decimal places" in reason_of(FieldType.MONEY, raw)


@pytest.mark.parametrize("raw", [True, "twelve", "", "12,50", ["12"]])
def test_money_refuses_non_amounts(raw):
    assert reason_of(FieldType.MONEY, raw) == "is not a valid amount"


@pytest.mark.parametrize("raw", ["1e15", -(10**15), "1e999999"])
def test_money_refuses_amounts_out_of_range(raw):
    assert reason_of(FieldType.MONEY, raw) == "is too large: amounts stay below 10^15"


@pytest.mark.parametrize("raw", ["NaN", "Infinity", math.inf])
def test_money_refuses_what_is_no_amount(raw):
    assert reason_of(FieldType.MONEY, raw) == "is not a valid amount"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-29", "2024-02-29"),
        (" 2024-01-05 ", "2024-01-05"),
        (dt.date(2024, 6, 30), "2024-06-30"),
    ],
)
def test_date_is_an_iso_string(raw, expected):
    assert coerce(make_field(FieldType.DATE), raw) == expected


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "05/01/2024", "tomorrow", "", 20240105, dt.datetime(2024, 1, 5, 10, 0)]
)
def test_date_refuses_what_is_not_a_calendar_date(raw):
    assert reason_of(FieldType.DATE, raw) == "is not a date (YYYY-MM-DD)"


@pytest.mark.parametrize("raw", [True, False])
def test_boolean_takes_true_and_false(raw):
    assert coerce(make_field(FieldType.BOOLEAN), raw) is raw


@pytest.mark.parametrize("raw", ["true", "yes", 1, 0, ""])
def test_boolean_is_strict(raw):
    assert reason_of(FieldType.BOOLEAN, raw) == "must be yes or no"


def test_choice_takes_one_of_its_choices():
    field = make_field(FieldType.CHOICE, choices=("Small", "Large"))
    assert coerce(field, "Large") == "Large"


@pytest.mark.parametrize("raw", ["Medium", "large", "", 1, ["Large"]])
def test_choice_refuses_anything_else_and_lists_the_choices(raw):
    reason = reason_of(FieldType.CHOICE, raw, choices=("Small", "Large"))
    assert reason == "must be one of: Small, Large"


def test_user_is_a_trimmed_name():
    assert coerce(make_field(FieldType.USER), "  ann ") == "ann"


@pytest.mark.parametrize("raw", ["", "   "])
def test_user_refuses_a_blank_name(raw):
    assert reason_of(FieldType.USER, raw) == "needs a user name"


def test_user_refuses_non_text_and_overlong_names():
    assert reason_of(FieldType.USER, 42) == "must be text, not a number"
    long = "u" * (MAX_SHORT_TEXT + 1)
    assert reason_of(FieldType.USER, long) == f"is longer than {MAX_SHORT_TEXT} characters"


def make_entity() -> Entity:
    return Entity(
        key="deal",
        name="Deal",
        fields=(
            Field("amount", "Amount", FieldType.MONEY),
            Field("seats", "Seats", FieldType.NUMBER),
            Field("notes", "Notes", FieldType.TEXT),
        ),
    )


def test_entity_finds_fields_by_key():
    entity = make_entity()
    assert entity.field("seats") == Field("seats", "Seats", FieldType.NUMBER)
    assert entity.field("stage") is None


def test_coerce_values_coerces_every_value():
    values = coerce_values(make_entity(), {"amount": "99.5", "seats": "40", "notes": None})
    assert values == {"amount": "99.50", "seats": 40, "notes": None}


def test_coerce_values_refuses_unknown_fields():
    with pytest.raises(InvalidValue) as exc:
        coerce_values(make_entity(), {"amount": "1", "colour": "red"})
    assert exc.value.field == "colour"
    assert exc.value.reason == "is not a field of Deal"


def test_coerce_values_names_the_field_with_a_bad_value():
    with pytest.raises(InvalidValue) as exc:
        coerce_values(make_entity(), {"notes": "ok", "seats": "many"})
    assert exc.value.field == "seats"
    assert exc.value.reason == "is not a number"
    assert exc.value.message == "seats: is not a number"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("  \n", False), ("x", True), (0, True), (False, True)],
)
def test_is_set_treats_blank_text_as_unset(value, expected):
    assert is_set(value) is expected
