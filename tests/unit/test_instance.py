import datetime as dt
from dataclasses import replace

import pytest

from server.domain.errors import (
    InvalidTransition,
    InvalidValue,
    StageGateBlocked,
    TransitionCode,
)
from server.domain.events import Event, EventKind
from server.domain.fields import Entity, Field, FieldType
from server.domain.instance import (
    Instance,
    InstanceStatus,
    Visit,
    abandon,
    advance,
    complete_step,
    finish,
    move_to,
    reactivate,
    start,
)
from server.domain.process import Process, ProcessStatus, Step

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)

# Every required step of the deal flow done, with a small amount (no approval).
SMALL = {
    "amount": "5000.00",
    "notes": "Needs 50 laptops",
    "signed": True,
    "close_date": "2024-06-30",
    "sponsor": "ann",
}
BIG = {**SMALL, "amount": "150000.00"}


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def begin(process: Process, record_values=None, *, make_record) -> Instance:
    instance, _ = start(process, make_record(record_values), now=T0, by="ann")
    return replace(instance, id=5)


def forward(instance: Instance, process: Process, values, to: str) -> Instance:
    """Advance until `to` is the active stage, one hour per move."""
    hour = 1
    while instance.active_stage != to:
        instance, _ = advance(instance, process, values, now=at(hour), by="ann")
        hour += 1
    return instance


def state(instance_stage: str, path: list[str], status: str = "ACTIVE") -> dict[str, object]:
    return {"stage": instance_stage, "status": status, "path": path}


def code_of(call, *args, **kwargs) -> TransitionCode:
    with pytest.raises(InvalidTransition) as exc:
        call(*args, **kwargs)
    return exc.value.code


def test_start_puts_the_instance_at_the_first_stage(make_process, make_record):
    process = make_process(version=3)
    instance, event = start(process, make_record(), now=T0, by="ann")
    assert instance.status is InstanceStatus.ACTIVE
    assert (instance.active_stage, instance.path, instance.version) == ("qualify", ("qualify",), 1)
    assert (instance.process_id, instance.process_version, instance.record_id) == (1, 3, 10)
    assert (instance.started_at, instance.active_since, instance.completed_at) == (T0, T0, None)
    assert instance.visits == (Visit(0, "qualify", T0, None, "ann"),)
    assert event == Event(
        kind=EventKind.INSTANCE_STARTED,
        actor="ann",
        at=T0,
        record_id=10,
        instance_id=None,
        process_id=1,
        from_stage=None,
        to_stage="qualify",
        before=None,
        after=state("qualify", ["qualify"]),
    )


def test_start_refuses_a_record_of_another_entity(make_process, make_record):
    lead = Entity("lead", "Lead", (Field("email", "Email", FieldType.TEXT),))
    record = make_record(entity=lead)
    assert code_of(start, make_process(), record, now=T0, by="ann") is TransitionCode.WRONG_ENTITY


@pytest.mark.parametrize("status", [ProcessStatus.DRAFT, ProcessStatus.INACTIVE])
def test_start_refuses_a_process_that_is_not_active(make_process, make_record, status):
    process = make_process(status=status)
    code = code_of(start, process, make_record(), now=T0, by="ann")
    assert code is TransitionCode.PROCESS_UNAVAILABLE


def test_advance_is_gated_by_the_required_steps(make_process, make_record):
    process = make_process()
    instance = begin(process, make_record=make_record)
    with pytest.raises(StageGateBlocked) as exc:
        advance(instance, process, {"size": "Large"}, now=at(1), by="ann")
    assert exc.value.stage == process.stage("qualify")
    assert exc.value.missing == (Step("amount", required=True),)
    assert "amount" in exc.value.message


def test_advance_moves_to_the_next_stage(make_process, make_record):
    process = make_process()
    instance = begin(process, make_record=make_record)
    moved, event = advance(instance, process, {"amount": "10.00"}, now=at(1), by="bob")
    assert (moved.active_stage, moved.path) == ("develop", ("qualify", "develop"))
    assert (moved.version, moved.active_since, moved.status) == (2, at(1), InstanceStatus.ACTIVE)
    assert moved.visits == (
        Visit(0, "qualify", T0, at(1), "ann"),
        Visit(1, "develop", at(1), None, "bob"),
    )
    assert event == Event(
        kind=EventKind.STAGE_ADVANCED,
        actor="bob",
        at=at(1),
        record_id=10,
        instance_id=5,
        process_id=1,
        from_stage="qualify",
        to_stage="develop",
        before=state("qualify", ["qualify"]),
        after=state("develop", ["qualify", "develop"]),
    )


@pytest.mark.parametrize(
    ("values", "path"),
    [
        (BIG, ("qualify", "develop", "approve", "propose", "close")),
        (SMALL, ("qualify", "develop", "propose", "close")),
    ],
)
def test_advance_follows_the_branches(make_process, make_record, values, path):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, values, "close")
    assert instance.path == path
    assert [v.stage for v in instance.visits] == list(path)
    assert [v.n for v in instance.visits] == list(range(len(path)))
    assert all(v.exited_at is not None for v in instance.visits[:-1])
    assert instance.visits[-1].exited_at is None
    assert instance.version == len(path)


def test_advance_from_a_last_stage_is_refused(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "close")
    code = code_of(advance, instance, process, SMALL, now=at(9), by="ann")
    assert code is TransitionCode.LAST_STAGE


def test_move_to_goes_back_along_the_path(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, BIG, "propose")
    back, event = move_to(instance, process, "develop", now=at(9), by="cy")
    assert (back.active_stage, back.path) == ("develop", ("qualify", "develop"))
    assert (back.version, back.active_since) == (instance.version + 1, at(9))
    assert back.visits[:-1] == tuple(
        replace(v, exited_at=v.exited_at or at(9)) for v in instance.visits
    )
    assert back.visits[-1] == Visit(4, "develop", at(9), None, "cy")
    assert (event.kind, event.from_stage, event.to_stage, event.actor) == (
        EventKind.STAGE_MOVED_BACK,
        "propose",
        "develop",
        "cy",
    )
    assert event.before == state("propose", ["qualify", "develop", "approve", "propose"])
    assert event.after == state("develop", ["qualify", "develop"])


def test_values_stay_when_moving_back_and_branching_is_decided_again(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, BIG, "propose")
    back, _ = move_to(instance, process, "qualify", now=at(9), by="ann")
    # No step has to be entered again; with a smaller amount the approval is skipped.
    again = forward(back, process, SMALL, "close")
    assert again.path == ("qualify", "develop", "propose", "close")


@pytest.mark.parametrize("target", ["propose", "approve", "close", "nowhere", "develop"])
def test_move_to_only_reaches_stages_behind_on_the_path(make_process, make_record, target):
    # The path is qualify > develop; approve is a branch not taken.
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "develop")
    code = code_of(move_to, instance, process, target, now=at(9), by="ann")
    assert code is TransitionCode.NOT_ON_PATH


def test_finish_closes_the_instance_on_its_last_stage(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "close")
    done, event = finish(instance, process, SMALL, now=at(9), by="ann")
    assert (done.status, done.completed_at) == (InstanceStatus.FINISHED, at(9))
    assert (done.active_stage, done.path) == ("close", instance.path)
    assert done.version == instance.version + 1
    assert all(v.exited_at is not None for v in done.visits)
    assert done.visits[-1].exited_at == at(9)
    assert (event.kind, event.from_stage, event.to_stage) == (
        EventKind.INSTANCE_FINISHED,
        "close",
        "close",
    )
    assert event.after == {
        **state("close", list(instance.path), "FINISHED"),
        "outcome": None,
        "reason": None,
    }
    assert (done.outcome, done.outcome_reason, done.completed_by) == (None, None, "ann")


def test_finish_needs_a_last_stage(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "propose")
    code = code_of(finish, instance, process, SMALL, now=at(9), by="ann")
    assert code is TransitionCode.NOT_LAST_STAGE


def test_finish_needs_the_required_steps_of_the_last_stage(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "close")
    with pytest.raises(StageGateBlocked) as exc:
        finish(instance, process, {**SMALL, "sponsor": None}, now=at(9), by="ann")
    assert exc.value.missing == (Step("sponsor", required=True),)


@pytest.mark.parametrize("stage", ["qualify", "propose", "close"])
def test_abandon_from_anywhere(make_process, make_record, stage):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, stage)
    stopped, event = abandon(instance, now=at(9), by="ann")
    assert (stopped.status, stopped.completed_at) == (InstanceStatus.ABANDONED, at(9))
    assert (stopped.active_stage, stopped.version) == (stage, instance.version + 1)
    assert all(v.exited_at is not None for v in stopped.visits)
    assert (event.kind, event.from_stage, event.to_stage) == (
        EventKind.INSTANCE_ABANDONED,
        stage,
        stage,
    )
    assert event.after == state(stage, list(instance.path), "ABANDONED")


def test_reactivate_a_finished_instance(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "close")
    done, _ = finish(instance, process, SMALL, now=at(9), by="ann")
    back, event = reactivate(done, process, now=at(10), by="bob")
    assert (back.status, back.completed_at, back.active_since) == (
        InstanceStatus.ACTIVE,
        None,
        at(10),
    )
    assert (back.active_stage, back.path, back.version) == ("close", done.path, done.version + 1)
    assert back.visits == (*done.visits, Visit(len(done.visits), "close", at(10), None, "bob"))
    assert event.kind is EventKind.INSTANCE_REACTIVATED
    assert (event.before["status"], event.after["status"]) == ("FINISHED", "ACTIVE")
    finished_again, _ = finish(back, process, SMALL, now=at(11), by="bob")
    assert finished_again.status is InstanceStatus.FINISHED


def test_reactivate_an_abandoned_instance(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "develop")
    stopped, _ = abandon(instance, now=at(9), by="ann")
    back, _ = reactivate(stopped, process, now=at(10), by="ann")
    assert (back.status, back.active_stage) == (InstanceStatus.ACTIVE, "develop")
    moved, _ = advance(back, process, SMALL, now=at(11), by="ann")
    assert moved.active_stage == "propose"


def test_reactivate_an_active_instance_is_refused(make_process, make_record):
    process = make_process()
    instance = begin(process, make_record=make_record)
    assert (
        code_of(reactivate, instance, process, now=at(1), by="ann") is TransitionCode.ALREADY_ACTIVE
    )


def ended(process: Process, how: str, make_record) -> Instance:
    instance = forward(begin(process, make_record=make_record), process, SMALL, "close")
    if how == "finished":
        return finish(instance, process, SMALL, now=at(9), by="ann")[0]
    return abandon(instance, now=at(9), by="ann")[0]


ACTIONS = {
    "advance": lambda i, p, r: advance(i, p, SMALL, now=at(10), by="ann"),
    "move_to": lambda i, p, r: move_to(i, p, "qualify", now=at(10), by="ann"),
    "finish": lambda i, p, r: finish(i, p, SMALL, now=at(10), by="ann"),
    "abandon": lambda i, p, r: abandon(i, now=at(10), by="ann"),
    "complete_step": lambda i, p, r: complete_step(i, p, r, "title", "x", now=at(10), by="ann"),
}


@pytest.mark.parametrize("how", ["finished", "abandoned"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_ended_instance_must_be_reactivated_first(make_process, make_record, how, action):
    process = make_process()
    instance = ended(process, how, make_record)
    code = code_of(ACTIONS[action], instance, process, make_record(SMALL))
    assert code is TransitionCode.NOT_ACTIVE


def test_complete_step_sets_the_value_on_the_record(make_process, make_record):
    process = make_process()
    record = make_record({"size": "Small"})
    instance = begin(process, make_record=make_record)
    moved, updated, event = complete_step(
        instance, process, record, "amount", "150000", now=at(1), by="bob"
    )
    assert updated.values == {"size": "Small", "amount": "150000.00"}
    assert (updated.version, updated.updated_at) == (record.version + 1, at(1))
    assert moved == replace(instance, version=instance.version + 1)
    assert event == Event(
        kind=EventKind.STEP_COMPLETED,
        actor="bob",
        at=at(1),
        record_id=10,
        instance_id=5,
        process_id=1,
        from_stage=None,
        to_stage="qualify",
        before={"values": {"amount": None}},
        after={"values": {"amount": "150000.00"}},
    )


def test_complete_step_clears_with_none(make_process, make_record):
    process = make_process()
    record = make_record({"amount": "10.00", "size": "Small"})
    instance = begin(process, make_record=make_record)
    _, updated, event = complete_step(instance, process, record, "size", None, now=at(1), by="ann")
    assert updated.values == {"amount": "10.00"}
    assert (event.before, event.after) == (
        {"values": {"size": "Small"}},
        {"values": {"size": None}},
    )


def test_complete_step_on_an_earlier_stage_of_the_path(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "propose")
    _, updated, event = complete_step(
        instance, process, make_record(SMALL), "size", "Large", now=at(9), by="ann"
    )
    assert updated.values["size"] == "Large"
    assert event.to_stage == "qualify"


def test_complete_step_refuses_a_wrong_value(make_process, make_record):
    process = make_process()
    instance = begin(process, make_record=make_record)
    with pytest.raises(InvalidValue) as exc:
        complete_step(instance, process, make_record(), "amount", "lots", now=at(1), by="ann")
    assert exc.value.field == "amount"
    assert exc.value.reason == "is not a valid amount"


def test_complete_step_refuses_a_stage_not_reached(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record=make_record), process, SMALL, "develop")
    record = make_record(SMALL)
    code = code_of(
        complete_step, instance, process, record, "close_date", "2024-07-01", now=at(9), by="a"
    )
    assert code is TransitionCode.STAGE_NOT_REACHED
    # approve was skipped by the branch: its steps are not reachable either.
    code = code_of(complete_step, instance, process, record, "signed", True, now=at(9), by="a")
    assert code is TransitionCode.STAGE_NOT_REACHED


def test_complete_step_refuses_fields_the_process_does_not_ask(make_process, make_record):
    process = make_process(
        [
            {"key": "qualify", "name": "Q", "category": "QUALIFY", "steps": [{"field": "amount"}]},
        ]
    )
    instance = begin(process, make_record=make_record)
    for field in ["title", "colour"]:
        code = code_of(
            complete_step, instance, process, make_record(), field, "x", now=at(1), by="a"
        )
        assert code is TransitionCode.UNKNOWN_STEP


def test_complete_step_on_a_field_asked_by_two_branches(make_process, make_record):
    process = make_process(
        [
            {
                "key": "qualify",
                "name": "Qualify",
                "category": "QUALIFY",
                "steps": [{"field": "size", "required": True}],
                "next": "small",
                "branches": [
                    {"to": "large", "when": {"field": "size", "op": "eq", "value": "Large"}}
                ],
            },
            {
                "key": "small",
                "name": "Small deal",
                "category": "DEVELOP",
                "steps": [{"field": "notes"}],
                "next": "close",
            },
            {
                "key": "large",
                "name": "Large deal",
                "category": "DEVELOP",
                "steps": [{"field": "notes", "required": True}],
                "next": "close",
            },
            {"key": "close", "name": "Close", "category": "CLOSE"},
        ]
    )
    record = make_record({"size": "Large"})
    instance = forward(begin(process, make_record=make_record), process, record.values, "large")
    _, updated, event = complete_step(instance, process, record, "notes", "Big", now=at(9), by="a")
    assert updated.values["notes"] == "Big"
    assert event.to_stage == "large"
