from dataclasses import replace
from typing import Any

import pytest

from server.domain.conditions import Compare, Operator
from server.domain.definition import MAX_PROBLEMS, load_process
from server.domain.errors import InvalidDefinition, Problem
from server.domain.fields import Entity, Field, FieldType
from server.domain.process import Branch, Process, ProcessStatus, Stage, StageCategory
from server.domain.validation import (
    MAX_BRANCHES,
    MAX_DESCRIPTION,
    MAX_STAGES,
    MAX_STEPS,
    validate,
)


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


def branch(to: str, when: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"to": to, "when": when or {"field": "title", "op": "is_set"}}


def problems_of(data: dict[str, Any], entity: Entity) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as exc:
        load_process(data, {entity.key: entity})
    assert exc.value.message == "; ".join(f"{p.path}: {p.message}" for p in exc.value.problems)
    return list(exc.value.problems)


def chain(n: int) -> list[dict[str, Any]]:
    """n stages, each leading to the next."""
    stages = [stage(f"s{i}", next=f"s{i + 1}") for i in range(n - 1)]
    return [*stages, stage(f"s{n - 1}")]


def test_a_sound_definition_has_no_problems(deal):
    process = load_process(
        flow(
            stage("qualify", steps=[{"field": "amount", "required": True}], next="close"),
            stage("close", category="CLOSE"),
        ),
        {"deal": deal},
    )
    assert [s.key for s in process.stages] == ["qualify", "close"]


@pytest.mark.parametrize(
    ("stages", "problem"),
    [
        (
            [stage("a", next="b"), stage("b"), stage("b")],
            Problem("stages[2].key", "duplicate stage key 'b'"),
        ),
        (
            [stage("a", steps=[{"field": "amount"}, {"field": "size"}, {"field": "amount"}])],
            Problem("stages[0].steps[2].field", "field 'amount' asked twice"),
        ),
        (
            [stage("a", next="b"), stage("b", steps=[{"field": "title"}, {"field": "colour"}])],
            Problem("stages[1].steps[1].field", "unknown field 'colour' of deal"),
        ),
        (
            [stage("a", next="nowhere")],
            Problem("stages[0].next", "unknown stage 'nowhere'"),
        ),
        (
            [stage("a", next="b", branches=[branch("b"), branch("nowhere")]), stage("b")],
            Problem("stages[0].branches[1].to", "unknown stage 'nowhere'"),
        ),
        (
            [stage("a", branches=[branch("b")]), stage("b")],
            Problem("stages[0].next", "a stage with branches needs a default next stage"),
        ),
        (
            [stage("a"), stage("b", next="a")],
            Problem("stages[1]", "stage 'b' cannot be reached from the first stage"),
        ),
        (
            [stage("Qualify")],
            Problem("stages[0].key", "use 1-64 lowercase letters, digits, - or _"),
        ),
        (
            [stage("a", name="n" * 101)],
            Problem("stages[0].name", "at most 100 characters"),
        ),
        (
            [stage("a", guidance="g" * 2001)],
            Problem("stages[0].guidance", "at most 2000 characters"),
        ),
        (
            [],
            Problem("stages", "a process needs at least one stage"),
        ),
    ],
)
def test_one_problem_per_broken_rule(deal, stages, problem):
    assert problems_of(flow(*stages), deal) == [problem]


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (
            {"field": "colour", "op": "eq", "value": "red"},
            Problem("stages[0].branches[0].when", "unknown field 'colour' of deal"),
        ),
        (
            {"field": "amount", "op": "gte", "value": "lots"},
            Problem(
                "stages[0].branches[0].when",
                "the value for amount is not a valid amount",
            ),
        ),
        (
            {"field": "title", "op": "gt", "value": "M"},
            Problem(
                "stages[0].branches[0].when",
                "gt needs a number, money or date field; title is text",
            ),
        ),
        (
            {"not": {"any": [{"field": "title", "op": "is_set"}, {"field": "x", "op": "is_set"}]}},
            Problem("stages[0].branches[0].when.not.any[1]", "unknown field 'x' of deal"),
        ),
        (
            {"all": []},
            Problem("stages[0].branches[0].when", "an all/any group needs at least one condition"),
        ),
    ],
)
def test_branch_conditions_are_checked_against_the_entity(deal, when, problem):
    stages = [stage("a", next="c", branches=[branch("b", when)]), stage("b", next="c"), stage("c")]
    assert problems_of(flow(*stages), deal) == [problem]


def test_a_cycle_is_reported_with_the_loop(deal):
    stages = [
        stage("qualify", next="develop"),
        stage("develop", next="review"),
        stage("review", next="close", branches=[branch("develop")]),
        stage("close"),
    ]
    assert problems_of(flow(*stages), deal) == [
        Problem("stages[2]", "cycle: develop -> review -> develop")
    ]


def test_a_stage_leading_to_itself_is_a_cycle(deal):
    stages = [stage("qualify", next="close", branches=[branch("qualify")]), stage("close")]
    assert problems_of(flow(*stages), deal) == [Problem("stages[0]", "cycle: qualify -> qualify")]


def test_a_stage_may_be_reached_by_several_routes(deal):
    stages = [
        stage("a", next="c", branches=[branch("b")]),
        stage("b", next="c"),
        stage("c", next="d"),
        stage("d"),
    ]
    assert [s.key for s in load_process(flow(*stages), {"deal": deal}).stages] == list("abcd")


def test_at_most_thirty_stages(deal):
    assert len(load_process(flow(*chain(MAX_STAGES)), {"deal": deal}).stages) == MAX_STAGES
    assert problems_of(flow(*chain(MAX_STAGES + 1)), deal) == [
        Problem("stages", "at most 30 stages, got 31")
    ]


def test_a_very_long_definition_is_refused_without_crashing(deal):
    assert problems_of(flow(*chain(2000)), deal) == [
        Problem("stages", "at most 30 stages, got 2000")
    ]


def test_at_most_thirty_steps_in_a_stage():
    wide = Entity("wide", "Wide", tuple(Field(f"f{i}", f"F{i}", FieldType.TEXT) for i in range(31)))
    steps = [{"field": f"f{i}"} for i in range(31)]
    data = {"key": "wide-flow", "name": "Wide", "entity": "wide"}
    ok = load_process({**data, "stages": [stage("a", steps=steps[:MAX_STEPS])]}, {"wide": wide})
    assert len(ok.stages[0].steps) == MAX_STEPS
    assert problems_of({**data, "stages": [stage("a", steps=steps)]}, wide) == [
        Problem("stages[0].steps", "at most 30 steps, got 31")
    ]


def test_at_most_ten_branches_in_a_stage(deal):
    def fan(n: int) -> list[dict[str, Any]]:
        targets = [f"t{i}" for i in range(n)]
        return [
            stage("a", next="z", branches=[branch(t) for t in targets]),
            *(stage(t, next="z") for t in targets),
            stage("z"),
        ]

    ok = load_process(flow(*fan(MAX_BRANCHES)), {"deal": deal})
    assert len(ok.stages[0].branches) == MAX_BRANCHES
    assert problems_of(flow(*fan(MAX_BRANCHES + 1)), deal) == [
        Problem("stages[0].branches", "at most 10 branches, got 11")
    ]


def test_a_description_of_at_most_two_thousand_characters(deal):
    ok = load_process(flow(stage("a"), description="d" * MAX_DESCRIPTION), {"deal": deal})
    assert len(ok.description) == MAX_DESCRIPTION
    assert problems_of(flow(stage("a"), description="d" * (MAX_DESCRIPTION + 1)), deal) == [
        Problem("description", "at most 2000 characters")
    ]


def test_a_hostile_file_gets_a_bounded_list_of_problems(deal):
    problems = problems_of(flow(*["not a stage"] * 500), deal)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0] == Problem("stages", "at most 30 stages, got 500")
    assert problems[-1] == Problem("", "401 more problems not listed")


def test_an_unknown_entity_skips_the_rules_about_its_fields(deal):
    when = {"field": "colour", "op": "gt", "value": "red"}
    stages = [
        stage("a", steps=[{"field": "colour"}, {"field": "colour"}], next="b"),
        stage("b", next="c", branches=[branch("nowhere", when)]),
        stage("c"),
    ]
    assert problems_of(flow(*stages, entity="ticket"), deal) == [
        Problem("entity", "unknown entity 'ticket'"),
        Problem("stages[0].steps[1].field", "field 'colour' asked twice"),
        Problem("stages[1].branches[0].to", "unknown stage 'nowhere'"),
    ]


def test_a_stage_that_cannot_be_read_leaves_no_follow_on_problems(deal):
    # Without stage 1, stage 2 would look unreachable; without a key, stage 3 too.
    stages = [
        stage("a", next="b"),
        ["b"],
        {"name": "C", "category": "CLOSE", "next": "d"},
        stage("d"),
    ]
    assert problems_of(flow(*stages), deal) == [
        Problem("stages[0].next", "unknown stage 'b'"),
        Problem("stages[1]", "a stage is a mapping"),
        Problem("stages[2].key", "key is required"),
    ]


def test_a_branch_with_a_broken_condition_still_counts_as_a_route(deal):
    when = {"field": "amount", "op": "between", "value": [1, 2]}
    stages = [stage("a", next="c", branches=[branch("b", when)]), stage("b", next="c"), stage("c")]
    assert problems_of(flow(*stages), deal) == [
        Problem(
            "stages[0].branches[0].when",
            "unknown operator 'between'; use one of eq, ne, gt, gte, lt, lte, in, contains, is_set",
        )
    ]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"key": "Deal Flow"}, Problem("key", "use 1-64 lowercase letters, digits, - or _")),
        ({"name": "n" * 101}, Problem("name", "at most 100 characters")),
    ],
)
def test_the_process_key_and_name_are_checked(deal, changes, problem):
    assert problems_of(flow(stage("a"), **changes), deal) == [problem]


def test_every_problem_is_reported_at_once(deal):
    when = {
        "any": [
            {"field": "colour", "op": "eq", "value": "red"},
            {"field": "title", "op": "gt", "value": "M"},
        ]
    }
    stages = [
        stage("qualify", steps=[{"field": "amount"}, {"field": "amount"}], next="develop"),
        stage(
            "develop",
            steps=[{"field": "colour", "required": True}],
            next="close",
            branches=[branch("approve", when)],
        ),
        stage("approve", next="develop"),
        stage("orphan", branches=[branch("close")]),
        stage("close"),
    ]
    assert problems_of(flow(*stages), deal) == [
        Problem("stages[0].steps[1].field", "field 'amount' asked twice"),
        Problem("stages[1].steps[0].field", "unknown field 'colour' of deal"),
        Problem("stages[1].branches[0].when.any[0]", "unknown field 'colour' of deal"),
        Problem(
            "stages[1].branches[0].when.any[1]",
            "gt needs a number, money or date field; title is text",
        ),
        Problem("stages[2]", "cycle: develop -> approve -> develop"),
        Problem("stages[3]", "stage 'orphan' cannot be reached from the first stage"),
        Problem("stages[3].next", "a stage with branches needs a default next stage"),
    ]


def test_validate_makes_condition_values_canonical_and_keeps_the_version(deal):
    process = Process(
        key="deal-flow",
        name="Deal flow",
        entity=deal,
        stages=(
            Stage(
                "qualify",
                "Qualify",
                StageCategory.QUALIFY,
                next="close",
                branches=(Branch(Compare("amount", Operator.GTE, 250000), "approve"),),
            ),
            Stage("approve", "Approve", StageCategory.APPROVAL, next="close"),
            Stage("close", "Close", StageCategory.CLOSE),
        ),
        id=7,
        version=3,
        status=ProcessStatus.DRAFT,
    )
    checked, problems = validate(process)
    assert problems == []
    assert checked.stages[0].branches[0].when == Compare("amount", Operator.GTE, "250000.00")
    assert (checked.id, checked.version, checked.status) == (7, 3, ProcessStatus.DRAFT)
    assert checked == replace(process, stages=checked.stages)
    assert checked != process


def test_an_unknown_target_does_not_hide_a_stage_no_route_reaches(deal):
    stages = [
        stage("qualify", next="develop", branches=[branch("aproval")]),
        stage("develop", next="close"),
        stage("approval", next="close"),
        stage("orphan", next="close"),
        stage("close", category="CLOSE"),
    ]
    assert problems_of(flow(*stages), deal) == [
        Problem("stages[0].branches[0].to", "unknown stage 'aproval'"),
        # approval is what the misspelt target meant: reporting it would only echo that.
        Problem("stages[3]", "stage 'orphan' cannot be reached from the first stage"),
    ]


def test_unreachable_stages_are_reported_beside_an_unknown_next(deal):
    stages = [stage("a", next="b"), stage("b", next="zzz"), stage("c", next="d"), stage("d")]
    assert problems_of(flow(*stages), deal) == [
        Problem("stages[1].next", "unknown stage 'zzz'"),
        Problem("stages[2]", "stage 'c' cannot be reached from the first stage"),
        Problem("stages[3]", "stage 'd' cannot be reached from the first stage"),
    ]
