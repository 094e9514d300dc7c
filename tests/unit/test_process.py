import pytest

from server.domain.conditions import Compare, Operator
from server.domain.process import (
    Branch,
    Process,
    Stage,
    StageCategory,
    Step,
    missing_steps,
    next_stage,
    step_done,
)


def make_stage(key: str, *steps: Step, **kwargs: object) -> Stage:
    return Stage(key=key, name=key.title(), category=StageCategory.QUALIFY, steps=steps, **kwargs)


def make_process(deal, *stages: Stage) -> Process:
    return Process(key="deal-flow", name="Deal flow", entity=deal, stages=stages, id=1)


def test_missing_steps_lists_required_steps_not_done_in_order(deal):
    stage = make_stage(
        "qualify",
        Step("amount", required=True),
        Step("size"),
        Step("title", required=True),
        Step("close_date", required=True),
    )
    missing = missing_steps(stage, {"close_date": "2024-06-30"}, deal)
    assert missing == (Step("amount", required=True), Step("title", required=True))


def test_optional_steps_never_block(deal):
    stage = make_stage("qualify", Step("size"), Step("signed"), Step("notes"))
    assert missing_steps(stage, {}, deal) == ()
    assert missing_steps(stage, {"signed": False, "notes": " "}, deal) == ()


@pytest.mark.parametrize(("value", "done"), [(True, True), (False, False), (None, False)])
def test_a_required_yes_no_step_is_done_only_when_yes(deal, value, done):
    step = Step("signed", required=True)
    assert step_done(step, value, deal) is done
    assert missing_steps(make_stage("approve", step), {"signed": value}, deal) == (
        () if done else (step,)
    )


@pytest.mark.parametrize(
    ("field", "value", "done"),
    [
        ("title", "Contoso", True),
        ("title", "", False),
        ("title", "  \t", False),
        ("seats", 0, True),
        ("amount", "0.00", True),
        ("size", "Small", True),
        ("sponsor", None, False),
    ],
)
def test_a_step_is_done_when_it_holds_a_value(deal, field, value, done):
    assert step_done(Step(field, required=True), value, deal) is done


def test_last_stage_and_targets():
    branch = Branch(Compare("seats", Operator.GT, 10), "big")
    branching = make_stage("develop", next="propose", branches=(branch,))
    assert branching.targets() == ["big", "propose"]
    assert branching.is_last is False
    assert make_stage("close").is_last is True
    assert make_stage("close").targets() == []


def test_process_finds_stages_by_key(deal):
    qualify, close = make_stage("qualify", next="close"), make_stage("close")
    process = make_process(deal, qualify, close)
    assert process.first_stage == qualify
    assert process.stage("close") == close
    assert process.stage("develop") is None


def branching_process(deal) -> Process:
    return make_process(
        deal,
        make_stage("qualify", Step("amount", required=True), Step("size"), next="develop"),
        make_stage(
            "develop",
            Step("seats"),
            next="propose",
            branches=(
                Branch(Compare("amount", Operator.GTE, "100000.00"), "approve"),
                Branch(Compare("size", Operator.EQ, "Large"), "review"),
            ),
        ),
        make_stage("approve", next="review"),
        make_stage("review", next="propose"),
        make_stage("propose"),
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"amount": "150000.00", "size": "Large"}, "approve"),
        ({"amount": "150000.00"}, "approve"),
        ({"amount": "500.00", "size": "Large"}, "review"),
        ({"amount": "500.00", "size": "Small"}, "propose"),
        ({}, "propose"),
    ],
)
def test_the_first_branch_that_holds_picks_the_next_stage(deal, values, expected):
    process = branching_process(deal)
    develop = process.stage("develop")
    assert next_stage(process, develop, values) == process.stage(expected)


def test_conditions_test_fields_set_in_earlier_stages(deal):
    # amount and size are steps of qualify; develop branches on them.
    process = branching_process(deal)
    develop = process.stage("develop")
    assert not {"amount", "size"} & {step.field for step in develop.steps}
    assert next_stage(process, develop, {"size": "Large", "seats": 3}).key == "review"


def test_without_branches_the_default_next_is_taken(deal):
    process = branching_process(deal)
    assert next_stage(process, process.stage("qualify"), {"amount": "1.00"}).key == "develop"
    assert next_stage(process, process.stage("propose"), {}) is None
