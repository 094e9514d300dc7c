"""How a finished instance ended: outcomes declared in the definition, and finishing with one."""

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from server.domain.definition import dump_process, load_process
from server.domain.errors import (
    InvalidDefinition,
    InvalidOutcome,
    InvalidValue,
    Problem,
    StageGateBlocked,
)
from server.domain.events import EventKind
from server.domain.instance import Instance, InstanceStatus, abandon, advance, finish, reactivate
from server.domain.instance import start as start_instance
from server.domain.outcome import Outcome, choose

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
WON = Outcome("won", "Won")
LOST = Outcome("lost", "Lost", reason_required=True)
OUTCOMES = (WON, LOST)
DECLARED = [{"key": "won", "label": "Won"}, {"key": "lost", "label": "Lost", "reason": "required"}]


@pytest.mark.parametrize(
    ("key", "reason", "expected"),
    [
        ("won", None, (WON, None)),
        ("won", "  Best price ", (WON, "Best price")),
        ("lost", "Budget cut", (LOST, "Budget cut")),
        ("lost", " Went elsewhere\n", (LOST, "Went elsewhere")),
        ("won", "   ", (WON, None)),
    ],
)
def test_an_outcome_is_chosen_with_its_reason_trimmed(key, reason, expected):
    assert choose(OUTCOMES, key, reason) == expected


@pytest.mark.parametrize(
    ("outcomes", "key", "reason", "reason_required"),
    [
        (OUTCOMES, None, None, False),  # none named
        (OUTCOMES, None, "because", False),
        (OUTCOMES, "draw", None, False),  # unknown
        (OUTCOMES, "WON", None, False),  # keys are compared exactly
        (OUTCOMES, "lost", None, True),  # its reason is missing
        (OUTCOMES, "lost", "", True),
        (OUTCOMES, "lost", " \t\n", True),  # blank counts as none
        ((), "won", None, False),  # one named where none are declared
    ],
)
def test_a_wrong_choice_is_refused_with_what_to_choose(outcomes, key, reason, reason_required):
    with pytest.raises(InvalidOutcome) as exc:
        choose(outcomes, key, reason)
    assert exc.value.outcomes == outcomes
    assert exc.value.reason_required is reason_required


def test_a_process_without_outcomes_finishes_without_one():
    assert choose((), None, None) == (None, None)
    assert choose((), None, " noted ") == (None, "noted")


@pytest.mark.parametrize(("reason", "why"), [("x" * 501, "at most 500"), ("a\x00b", "NUL")])
def test_a_reason_that_cannot_be_stored_is_refused(reason, why):
    with pytest.raises(InvalidValue) as exc:
        choose(OUTCOMES, "lost", reason)
    assert exc.value.field == "reason" and why in exc.value.reason


def test_a_reason_of_500_characters_after_trimming_is_taken():
    assert choose(OUTCOMES, "lost", f"  {'x' * 500}  ") == (LOST, "x" * 500)


def flow(**extra: Any) -> dict[str, Any]:
    stages = [
        {
            "key": "qualify",
            "name": "Qualify",
            "category": "QUALIFY",
            "steps": [{"field": "amount", "required": True}],
            "next": "close",
        },
        {
            "key": "close",
            "name": "Close",
            "category": "CLOSE",
            "steps": [{"field": "title", "required": True}],
        },
    ]
    return {"key": "deal-flow", "name": "Deal flow", "entity": "deal", "stages": stages, **extra}


@pytest.fixture
def at_close(deal, make_record):
    """A process declaring Won / Lost, and an instance of it on its last stage."""
    process = replace(load_process(flow(outcomes=DECLARED), {"deal": deal}), id=1)
    values = {"amount": "10.00", "title": "Fleet"}
    instance, _ = start_instance(process, make_record(values), now=T0, by="ann")
    instance, _ = advance(replace(instance, id=5), process, values, now=T0, by="ann")
    return process, instance, values


def test_finishing_records_the_outcome_its_reason_and_who(at_close):
    process, instance, values = at_close
    done, event = finish(
        instance, process, values, outcome="lost", reason=" Budget cut ", now=T0, by="bob"
    )
    assert done.status is InstanceStatus.FINISHED
    assert (done.outcome, done.outcome_reason, done.completed_by) == ("lost", "Budget cut", "bob")
    assert event.kind is EventKind.INSTANCE_FINISHED
    assert event.after == {
        "stage": "close",
        "status": "FINISHED",
        "path": ["qualify", "close"],
        "outcome": "lost",
        "reason": "Budget cut",
    }


def test_a_wrong_outcome_is_refused_before_anything_is_decided(at_close):
    process, instance, values = at_close
    with pytest.raises(InvalidOutcome) as exc:
        finish(instance, process, values, outcome="lost", now=T0, by="bob")
    assert exc.value.reason_required and exc.value.outcomes == OUTCOMES
    with pytest.raises(InvalidOutcome):
        finish(instance, process, values, now=T0, by="bob")


def test_the_gate_is_told_before_the_outcome(at_close):
    process, instance, _ = at_close
    with pytest.raises(StageGateBlocked):
        finish(instance, process, {"amount": "10.00"}, now=T0, by="bob")


def test_reactivating_forgets_how_it_ended_and_abandoning_says_who(at_close):
    process, instance, values = at_close
    done, _ = finish(instance, process, values, outcome="won", now=T0, by="bob")
    back, event = reactivate(done, process, now=T0, by="ann")
    assert (back.outcome, back.outcome_reason, back.completed_by) == (None, None, None)
    assert event.after == {"stage": "close", "status": "ACTIVE", "path": ["qualify", "close"]}
    stopped, _ = abandon(back, now=T0, by="cy")
    assert (stopped.completed_by, stopped.outcome) == ("cy", None)


def test_outcomes_load_dump_and_round_trip(deal):
    process = load_process(flow(outcomes=DECLARED), {"deal": deal})
    assert process.outcomes == OUTCOMES
    dumped = dump_process(process)
    assert dumped["outcomes"] == DECLARED
    assert list(dumped) == ["key", "name", "entity", "outcomes", "stages"]
    assert load_process(dumped, {"deal": deal}) == process
    assert "outcomes" not in dump_process(load_process(flow(), {"deal": deal}))
    optional = [{"key": "won", "label": "Won", "reason": "optional"}]
    assert load_process(flow(outcomes=optional), {"deal": deal}).outcomes == (WON,)


def problems_of(data: dict[str, Any], deal: Any) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_process(data, {"deal": deal})
    return list(exc.value.problems)


def outcome(key: str = "won", **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": key.title(), **extra}


@pytest.mark.parametrize(
    ("outcomes", "problem"),
    [
        ("won", Problem("outcomes", "expected a list of outcomes")),
        (["won"], Problem("outcomes[0]", "an outcome is a mapping with a key and a label")),
        ([outcome(), outcome()], Problem("outcomes[1].key", "duplicate outcome key 'won'")),
        (
            [outcome(f"o{n}") for n in range(11)],
            Problem("outcomes", "at most 10 outcomes, got 11"),
        ),
        (
            [outcome("Won")],
            Problem("outcomes[0].key", "use 1-64 lowercase letters, digits, - or _"),
        ),
        (
            [outcome("k" * 65)],
            Problem("outcomes[0].key", "use 1-64 lowercase letters, digits, - or _"),
        ),
        ([{"key": "won"}], Problem("outcomes[0].label", "label is required")),
        ([{"key": "won", "label": " "}], Problem("outcomes[0].label", "label is required")),
        ([{"label": "Won"}], Problem("outcomes[0].key", "key is required")),
        ([outcome(label="L" * 101)], Problem("outcomes[0].label", "at most 100 characters")),
        ([outcome(reason="yes")], Problem("outcomes[0].reason", "use required or optional")),
        ([outcome(reason=True)], Problem("outcomes[0].reason", "use required or optional")),
        ([outcome(colour="red")], Problem("outcomes[0]", "unknown keys: colour")),
        ([outcome(label="a\x00")], Problem("outcomes[0].label", "NUL characters cannot be stored")),
    ],
)
def test_outcomes_that_break_a_rule_are_refused(deal, outcomes, problem):
    assert problems_of(flow(outcomes=outcomes), deal) == [problem]


def test_ten_outcomes_with_labels_of_100_characters_are_taken(deal):
    declared = [{"key": f"o{n}", "label": "L" * 100} for n in range(10)]
    assert len(load_process(flow(outcomes=declared), {"deal": deal}).outcomes) == 10


def test_shipped_processes_declare_their_outcomes(template_data, catalogue):
    expected = {
        "opportunity-sales.yaml": [("won", False), ("lost", True)],
        "enterprise-deal.yaml": [("won", False), ("lost", True)],
        "phone-to-case.yaml": [("resolved", False), ("cancelled", True)],
        "warranty-claim.yaml": [("approved", False), ("rejected", True)],
        "lead-to-opportunity.yaml": [("won", False), ("lost", True)],
    }
    for name, outcomes in expected.items():
        process = load_process(template_data[name], catalogue)
        assert [(o.key, o.reason_required) for o in process.outcomes] == outcomes, name


def test_an_instance_holds_nothing_of_an_ending_while_it_runs(at_close):
    _, instance, _ = at_close
    assert isinstance(instance, Instance)
    assert (instance.outcome, instance.outcome_reason, instance.completed_by) == (None, None, None)
