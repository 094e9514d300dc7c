import datetime as dt
from dataclasses import replace

from server.domain.instance import Instance, abandon, advance, finish, move_to, start
from server.domain.process import Process, Step
from server.domain.progress import Progress, StageState, progress

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
SMALL = {
    "amount": "5000.00",
    "notes": "Needs 50 laptops",
    "signed": True,
    "close_date": "2024-06-30",
    "sponsor": "ann",
}
BIG = {**SMALL, "amount": "150000.00"}

DONE, ACTIVE, UPCOMING, SKIPPED = (
    StageState.DONE,
    StageState.ACTIVE,
    StageState.UPCOMING,
    StageState.SKIPPED,
)


def begin(process: Process, make_record) -> Instance:
    instance, _ = start(process, make_record(), now=T0, by="ann")
    return replace(instance, id=5)


def forward(instance: Instance, process: Process, values, to: str) -> Instance:
    while instance.active_stage != to:
        instance, _ = advance(instance, process, values, now=T0, by="ann")
    return instance


def states(bar: Progress) -> dict[str, StageState]:
    keys = [p.stage.key for p in bar.stages]
    assert len(keys) == len(set(keys)), "each stage is shown once"
    return {p.stage.key: p.state for p in bar.stages}


def test_a_new_instance_projects_the_default_path(make_process, make_record):
    process = make_process()
    bar = progress(begin(process, make_record), process, {})
    assert states(bar) == {
        "qualify": ACTIVE,
        "develop": UPCOMING,
        "approve": SKIPPED,
        "propose": UPCOMING,
        "close": UPCOMING,
    }
    assert bar.active_stage == process.stage("qualify")
    assert bar.missing_steps == (Step("amount", required=True),)
    assert bar.next_stage == process.stage("develop")
    assert (bar.can_advance, bar.can_finish) == (False, False)


def test_the_projection_follows_branches_with_the_values_so_far(make_process, make_record):
    process = make_process()
    bar = progress(begin(process, make_record), process, {"amount": "150000.00"})
    assert states(bar) == {
        "qualify": ACTIVE,
        "develop": UPCOMING,
        "approve": UPCOMING,
        "propose": UPCOMING,
        "close": UPCOMING,
    }
    assert bar.missing_steps == ()
    assert bar.can_advance is True


def test_changing_a_branch_field_changes_the_projection(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, SMALL, "develop")
    small = progress(instance, process, SMALL)
    big = progress(instance, process, BIG)
    assert (states(small)["approve"], small.next_stage.key) == (SKIPPED, "propose")
    assert (states(big)["approve"], big.next_stage.key) == (UPCOMING, "approve")
    assert states(big)["qualify"] is DONE
    assert states(big)["develop"] is ACTIVE


def test_a_branch_not_taken_stays_skipped(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, SMALL, "propose")
    # The amount grows after develop was left: the path is history, approve stays skipped.
    bar = progress(instance, process, BIG)
    assert states(bar) == {
        "qualify": DONE,
        "develop": DONE,
        "approve": SKIPPED,
        "propose": ACTIVE,
        "close": UPCOMING,
    }


def test_moving_back_makes_later_stages_upcoming_again(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, BIG, "propose")
    back, _ = move_to(instance, process, "develop", now=T0, by="ann")
    assert states(progress(back, process, BIG)) == {
        "qualify": DONE,
        "develop": ACTIVE,
        "approve": UPCOMING,
        "propose": UPCOMING,
        "close": UPCOMING,
    }


def test_on_the_last_stage_the_instance_can_finish_not_advance(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, SMALL, "close")
    ready = progress(instance, process, SMALL)
    assert (ready.can_advance, ready.can_finish, ready.next_stage) == (False, True, None)
    blocked = progress(instance, process, {**SMALL, "sponsor": None})
    assert (blocked.can_finish, blocked.missing_steps) == (False, (Step("sponsor", True),))


def test_a_finished_instance_shows_its_path_done(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, BIG, "close")
    done, _ = finish(instance, process, BIG, now=T0, by="ann")
    bar = progress(done, process, BIG)
    assert states(bar) == {
        key: DONE for key in ("qualify", "develop", "approve", "propose", "close")
    }
    assert (bar.can_advance, bar.can_finish) == (False, False)


def test_a_finished_instance_shows_branches_not_taken_skipped(make_process, make_record):
    process = make_process()
    instance = forward(begin(process, make_record), process, SMALL, "close")
    done, _ = finish(instance, process, SMALL, now=T0, by="ann")
    assert states(progress(done, process, BIG)) == {
        "qualify": DONE,
        "develop": DONE,
        "approve": SKIPPED,
        "propose": DONE,
        "close": DONE,
    }


def test_an_abandoned_instance_can_neither_advance_nor_finish(make_process, make_record):
    process = make_process()
    for stage in ("develop", "close"):
        instance = forward(begin(process, make_record), process, SMALL, stage)
        stopped, _ = abandon(instance, now=T0, by="ann")
        bar = progress(stopped, process, SMALL)
        assert (bar.can_advance, bar.can_finish) == (False, False)
