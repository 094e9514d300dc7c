import datetime as dt

import pytest

from server.domain.conditions import (
    MAX_DEPTH,
    All,
    AnyOf,
    Compare,
    Not,
    Operator,
    check,
    dump,
    evaluate,
    fields_of,
    parse,
)
from server.domain.errors import Problem


def compare(field: str, op: str, value: object = None) -> Compare:
    return Compare(field, Operator(op), value)


@pytest.mark.parametrize(
    ("field", "op", "value", "actual", "expected"),
    [
        ("size", "eq", "Large", "Large", True),
        ("size", "eq", "Large", "Small", False),
        ("signed", "eq", False, False, True),
        ("signed", "eq", False, True, False),
        ("size", "ne", "Large", "Small", True),
        ("size", "ne", "Large", "Large", False),
        ("seats", "gt", 10, 11, True),
        ("seats", "gt", 10, 10, False),
        ("seats", "gte", 10, 10, True),
        ("seats", "gte", 10, 9.5, False),
        ("seats", "lt", 10, 9, True),
        ("seats", "lt", 10, 10, False),
        ("seats", "lte", 10, 10, True),
        ("seats", "lte", 10, 11, False),
        ("size", "in", ["Small", "Medium"], "Medium", True),
        ("size", "in", ["Small", "Medium"], "Large", False),
        ("title", "contains", "laptop", "50 LAPTOPS for Contoso", True),
        ("title", "contains", "Laptop", "50 desktops", False),
        ("title", "is_set", True, "Contoso", True),
        ("title", "is_set", None, "Contoso", True),
        ("title", "is_set", False, "Contoso", False),
    ],
)
def test_each_operator(deal, field, op, value, actual, expected):
    assert evaluate(compare(field, op, value), {field: actual}, deal) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "Contoso", False),
        ("ne", "Contoso", True),
        ("gt", "A", False),
        ("gte", "A", False),
        ("lt", "Z", False),
        ("lte", "Z", False),
        ("in", ["Contoso"], False),
        ("contains", "o", False),
        ("is_set", True, False),
        ("is_set", False, True),
    ],
)
@pytest.mark.parametrize("unset", [{}, {"title": None}, {"title": "   "}])
def test_an_unset_field_only_differs(deal, op, value, expected, unset):
    assert evaluate(compare("title", op, value), unset, deal) is expected


@pytest.mark.parametrize(
    ("actual", "expected"),
    [("99.00", False), ("250000.00", True), ("1000000.00", True), ("-5.00", False)],
)
def test_money_is_ordered_by_amount_not_by_text(deal, actual, expected):
    condition = compare("amount", "gte", "250000.00")
    assert evaluate(condition, {"amount": actual}, deal) is expected


def test_money_in_compares_amounts(deal):
    condition, problems = check(compare("amount", "in", [100, "250.5"]), deal, "when")
    assert problems == []
    assert evaluate(condition, {"amount": "250.50"}, deal) is True
    assert evaluate(condition, {"amount": "250.00"}, deal) is False


@pytest.mark.parametrize(
    ("actual", "expected"), [("2024-12-01", True), ("2024-06-30", False), ("2023-12-31", False)]
)
def test_dates_are_ordered_by_calendar(deal, actual, expected):
    condition = compare("close_date", "gt", "2024-06-30")
    assert evaluate(condition, {"close_date": actual}, deal) is expected


BIG_OR_LARGE_UNSIGNED = AnyOf(
    (
        compare("amount", "gte", "100000.00"),
        All(
            (
                compare("size", "in", ["Medium", "Large"]),
                Not(compare("signed", "eq", True)),
            )
        ),
    )
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"amount": "150000.00"}, True),
        ({"amount": "10.00", "size": "Large"}, True),
        ({"amount": "10.00", "size": "Large", "signed": False}, True),
        ({"amount": "10.00", "size": "Large", "signed": True}, False),
        ({"amount": "10.00", "size": "Small"}, False),
        ({}, False),
    ],
)
def test_nested_groups(deal, values, expected):
    assert evaluate(BIG_OR_LARGE_UNSIGNED, values, deal) is expected


def test_fields_of_lists_every_field_read():
    assert fields_of(BIG_OR_LARGE_UNSIGNED) == {"amount", "size", "signed"}
    assert fields_of(Not(compare("title", "is_set"))) == {"title"}


def test_parse_reads_comparisons_and_groups():
    data = {
        "any": [
            {"field": "amount", "op": "gte", "value": 5},
            {"not": {"all": [{"field": "title", "op": "is_set"}]}},
        ]
    }
    condition, problems = parse(data, "when")
    assert problems == []
    assert condition == AnyOf(
        (compare("amount", "gte", 5), Not(All((compare("title", "is_set"),))))
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("amount >= 5", "a condition is a mapping"),
        ({"all": [], "field": "x"}, "a group holds exactly one of all, any or not"),
        ({"any": {"field": "x", "op": "eq"}}, "any takes a list of conditions"),
        ({"field": "x", "op": "eq", "values": [1]}, "unknown keys in condition: values"),
        ({"op": "eq", "value": 1}, "a comparison needs a field"),
        (
            {"field": "x", "op": "equals", "value": 1},
            "unknown operator 'equals'; use one of eq, ne, gt, gte, lt, lte, in, contains, is_set",
        ),
        ({"field": "x", "value": 1}, "unknown operator None; use one of"),
    ],
)
def test_parse_refuses_malformed_conditions(data, message):
    condition, problems = parse(data, "stages[0].branches[0].when")
    assert condition is None
    assert len(problems) == 1
    assert problems[0].path == "stages[0].branches[0].when"
    assert problems[0].message.startswith(message)


def test_parse_reads_groups_nested_up_to_the_limit_and_refuses_one_more():
    def nested(depth: int) -> dict:
        data: dict = {"field": "title", "op": "is_set"}
        for i in range(depth):
            data = {"not": data} if i % 2 else {"all": [data]}
        return data

    condition, problems = parse(nested(MAX_DEPTH), "when")
    assert problems == []
    assert condition is not None and fields_of(condition) == {"title"}
    condition, problems = parse(nested(MAX_DEPTH + 1), "when")
    assert condition is None
    assert problems == [
        Problem(
            "when.all[0].not.all[0].not.all[0].not.all[0].not",
            "groups (all, any, not) nest at most 8 deep",
        )
    ]


def test_parse_refuses_a_hostile_nesting_without_recursing_through_it():
    data: dict = {"field": "title", "op": "is_set"}
    for _ in range(100_000):
        data = {"not": data}
    condition, problems = parse(data, "when")
    assert condition is None
    assert [p.message for p in problems] == ["groups (all, any, not) nest at most 8 deep"]


def test_parse_reports_every_nested_problem_with_its_path():
    data = {
        "any": [
            {"field": "title", "op": "is_set"},
            {"all": [{"field": "title", "op": "like", "value": "x"}]},
            {"not": "signed"},
        ]
    }
    condition, problems = parse(data, "when")
    assert condition is None
    assert [p.path for p in problems] == ["when.any[1].all[0]", "when.any[2].not"]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (compare("colour", "eq", "red"), "unknown field 'colour' of deal"),
        (compare("title", "gt", "M"), "gt needs a number, money or date field; title is text"),
        (
            compare("size", "lte", "Large"),
            "lte needs a number, money or date field; size is choice",
        ),
        (
            compare("signed", "lt", True),
            "lt needs a number, money or date field; signed is boolean",
        ),
        (
            compare("size", "contains", "ar"),
            "contains needs a text field and a non-empty text value",
        ),
        (
            compare("title", "contains", ""),
            "contains needs a text field and a non-empty text value",
        ),
        (compare("title", "contains", 5), "contains needs a text field and a non-empty text value"),
        (compare("size", "in", "Large"), "in needs a non-empty list of values"),
        (compare("size", "in", []), "in needs a non-empty list of values"),
        (compare("size", "in", ["Large", None]), "“is one of” needs a value; to test whether"),
        (compare("size", "in", ["Large", "Huge"]), "the value for size must be one of: Small"),
        (compare("amount", "gte", "lots"), "the value for amount is not a valid amount"),
        (compare("amount", "gte", "1.005"), "the value for amount has more than two"),
        (compare("close_date", "gt", "next week"), "the value for close_date is not a date"),
        (compare("seats", "eq", True), "the value for seats must be a number"),
        (compare("signed", "eq", "yes"), "the value for signed must be yes or no"),
        (compare("size", "eq"), "“equals” needs a value; to test whether"),
        (compare("title", "is_set", "yes"), "is_set takes true or false"),
        (All(()), "an all/any group needs at least one condition"),
        (AnyOf(()), "an all/any group needs at least one condition"),
    ],
)
def test_check_refuses_conditions_that_cannot_be_right(deal, condition, message):
    _, problems = check(condition, deal, "stages[2].branches[1].when")
    assert len(problems) == 1
    assert problems[0].path == "stages[2].branches[1].when"
    assert problems[0].message.startswith(message)


def test_check_paths_follow_the_file_form(deal):
    condition = All(
        (
            compare("title", "is_set"),
            AnyOf((compare("colour", "eq", "red"),)),
            Not(compare("title", "gt", "M")),
        )
    )
    _, problems = check(condition, deal, "when")
    assert [p.path for p in problems] == ["when.all[1].any[0]", "when.all[2].not"]


@pytest.mark.parametrize("value", [None, True, False])
def test_check_accepts_is_set_with_or_without_a_flag(deal, value):
    condition = compare("sponsor", "is_set", value)
    assert check(condition, deal, "when") == (condition, [])


def test_check_makes_values_canonical(deal):
    condition = All(
        (
            compare("amount", "gte", 250000),
            compare("seats", "lt", "15"),
            Not(compare("close_date", "eq", dt.date(2024, 6, 30))),
            compare("amount", "in", [1, "2.5"]),
            compare("title", "contains", "Laptop"),
        )
    )
    checked, problems = check(condition, deal, "when")
    assert problems == []
    assert checked == All(
        (
            compare("amount", "gte", "250000.00"),
            compare("seats", "lt", 15),
            Not(compare("close_date", "eq", "2024-06-30")),
            compare("amount", "in", ["1.00", "2.50"]),
            compare("title", "contains", "Laptop"),
        )
    )


@pytest.mark.parametrize(
    "condition",
    [
        compare("title", "is_set"),
        compare("signed", "is_set", False),
        compare("amount", "gte", "100.00"),
        compare("size", "in", ["Small", "Large"]),
        BIG_OR_LARGE_UNSIGNED,
        Not(AnyOf((compare("seats", "eq", 0), compare("signed", "eq", False)))),
    ],
)
def test_dump_and_parse_round_trip(condition):
    assert parse(dump(condition), "when") == (condition, [])


def test_dump_leaves_out_a_missing_value():
    assert dump(compare("title", "is_set")) == {"field": "title", "op": "is_set"}
    assert dump(compare("seats", "eq", 0)) == {"field": "seats", "op": "eq", "value": 0}
