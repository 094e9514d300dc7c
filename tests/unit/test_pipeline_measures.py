"""A process's pipeline measures: its amount and close-date fields, and each stage's
probability, read, checked and written back."""

from typing import Any

import pytest

from server.domain.definition import dump_process, load_process
from server.domain.draft import uses_field
from server.domain.errors import InvalidDefinition


def _sales(**extra: Any) -> dict[str, Any]:
    stage = extra.pop("stage", {})
    return {
        "key": "deals",
        "name": "Deals",
        "entity": "opportunity",
        **extra,
        "stages": [
            {"key": "qualify", "name": "Qualify", "category": "QUALIFY", "next": "close", **stage},
            {"key": "close", "name": "Close", "category": "CLOSE", "probability": 90},
        ],
    }


def _problems(data: dict[str, Any], catalogue: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidDefinition) as refused:
        load_process(data, catalogue)
    return [(p.path, p.message) for p in refused.value.problems]


def test_measures_are_read_and_written_back(catalogue):
    data = _sales(
        amount_field="estimated_revenue",
        close_date_field="estimated_close_date",
        stage={"probability": 0},
    )
    process = load_process(data, catalogue)
    assert (process.amount_field, process.close_date_field) == (
        "estimated_revenue",
        "estimated_close_date",
    )
    assert [s.probability for s in process.stages] == [0, 90]
    dumped = dump_process(process)
    assert dumped["amount_field"] == "estimated_revenue"
    assert [s.get("probability") for s in dumped["stages"]] == [0, 90]
    assert load_process(dumped, catalogue) == process


def test_a_number_field_may_be_the_amount(catalogue):
    assert load_process(_sales(amount_field="discount_percent"), catalogue).amount_field == (
        "discount_percent"
    )


def test_without_measures_nothing_is_written(catalogue):
    dumped = dump_process(load_process(_sales(), catalogue))
    assert "amount_field" not in dumped and "close_date_field" not in dumped
    assert "probability" not in dumped["stages"][0]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"amount_field": "estimated_close_date"}, ("amount_field", "a date field")),
        ({"amount_field": "customer_need"}, ("amount_field", "a text field")),
        ({"amount_field": "no_such_field"}, ("amount_field", "unknown field")),
        ({"amount_field": 5}, ("amount_field", "expected a field key")),
        ({"amount_field": ""}, ("amount_field", "expected a field key")),
        ({"close_date_field": "estimated_revenue"}, ("close_date_field", "a money field")),
        ({"close_date_field": "nowhere"}, ("close_date_field", "unknown field")),
        ({"stage": {"probability": 101}}, ("stages[0].probability", "0 to 100")),
        ({"stage": {"probability": -1}}, ("stages[0].probability", "0 to 100")),
        ({"stage": {"probability": 12.5}}, ("stages[0].probability", "0 to 100")),
        ({"stage": {"probability": True}}, ("stages[0].probability", "0 to 100")),
        ({"stage": {"probability": "50"}}, ("stages[0].probability", "0 to 100")),
    ],
)
def test_bad_measures_are_refused_with_their_path(catalogue, extra, problem):
    found = _problems(_sales(**extra), catalogue)
    path, words = problem
    assert any(p == path and words in m for p, m in found), found


def test_a_field_the_pipeline_reads_is_in_use(catalogue):
    process = load_process(
        _sales(amount_field="estimated_revenue", close_date_field="estimated_close_date"),
        catalogue,
    )
    assert uses_field(process, "estimated_revenue")
    assert uses_field(process, "estimated_close_date")
    assert not uses_field(process, "discount_percent")
