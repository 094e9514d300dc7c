"""Moving an instance to another version of its process: stage, path, visits, what it lacks."""

import datetime as dt
from dataclasses import replace

from server.domain.events import EventKind
from server.domain.instance import InstanceStatus, advance, start
from server.domain.migration import check_mapping, event, migrate, stay_versions

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=3)

V1 = [
    {
        "key": "qualify",
        "name": "Qualify",
        "category": "QUALIFY",
        "steps": [{"field": "notes", "required": True}],
        "next": "close",
    },
    {"key": "close", "name": "Close", "category": "CLOSE", "steps": []},
]
V2 = [
    {
        "key": "qualify",
        "name": "Qualify",
        "category": "QUALIFY",
        "steps": [{"field": "notes", "required": True}],
        "next": "propose",
    },
    {
        "key": "propose",
        "name": "Propose",
        "category": "PROPOSE",
        "steps": [{"field": "signed", "required": True}],
        "next": "won",
    },
    {"key": "won", "name": "Won", "category": "CLOSE", "steps": []},
]


def _on_close(make_process, make_record):
    v1 = make_process(V1, version=1)
    instance, _ = start(v1, make_record({"notes": "x"}), now=T0, by="ann")
    instance = replace(instance, id=7)
    instance, _ = advance(instance, v1, {"notes": "x"}, now=T0, by="ann")
    return v1, instance


def test_a_mapped_stage_moves_the_instance_and_says_what_it_lacks(make_process, make_record):
    v1, instance = _on_close(make_process, make_record)
    v2 = make_process(V2, version=2)
    assert check_mapping({"close": "propose"}, v1, v2, [instance]) == []

    outcome = migrate(instance, v2, {"close": "propose"}, {"notes": "x"}, now=LATER, by="bo")
    after = outcome.after
    assert (after.process_version, after.active_stage, after.path) == (
        2,
        "propose",
        ("qualify", "propose"),
    )
    assert after.version == instance.version + 1
    assert after.active_since == LATER
    assert [(v.stage, v.exited_at) for v in after.visits] == [
        ("qualify", T0),
        ("close", LATER),
        ("propose", None),
    ]
    assert [s.field for s in outcome.missing] == ["signed"]

    written = event(outcome, now=LATER, by="bo")
    assert written.kind is EventKind.INSTANCE_MIGRATED
    assert (written.from_stage, written.to_stage, written.actor) == ("close", "propose", "bo")
    assert written.before == {"version": 1, "stage": "close"}
    assert written.after is not None and written.after["missing"] == ["signed"]


def test_a_stage_both_versions_have_keeps_its_stay(make_process, make_record):
    v1 = make_process(V1, version=1)
    instance, _ = start(v1, make_record(), now=T0, by="ann")
    outcome = migrate(instance, make_process(V2, version=2), {}, {}, now=LATER, by="bo")
    assert outcome.after.active_stage == "qualify"
    assert outcome.after.active_since == T0
    assert outcome.after.visits == instance.visits
    assert [s.field for s in outcome.missing] == ["notes"]


def test_a_mapping_that_strands_instances_names_the_stage_and_the_instances(
    make_process, make_record
):
    v1, instance = _on_close(make_process, make_record)
    v2 = make_process(V2, version=2)
    problems = check_mapping({}, v1, v2, [instance, replace(instance, id=8)])
    assert [(p.path, p.message) for p in problems] == [
        (
            "stageMapping.close",
            "version 2 has no stage 'close', where 2 instance(s) stand (7, 8); map it to a stage of version 2",
        )
    ]
    wrong = check_mapping({"closing": "won", "close": "lost"}, v1, v2, [instance])
    assert [p.path for p in wrong] == ["stageMapping[0].from", "stageMapping[1].to"]


def test_a_finished_instance_moves_without_reopening_a_stay(make_process, make_record):
    _, instance = _on_close(make_process, make_record)
    done = replace(instance, status=InstanceStatus.FINISHED, completed_at=T0)
    outcome = migrate(done, make_process(V2, version=2), {"close": "won"}, {}, now=LATER, by="bo")
    assert outcome.after.status is InstanceStatus.FINISHED
    assert outcome.after.active_stage == "won"
    assert outcome.after.visits == done.visits


def test_each_stay_is_on_the_version_it_began_on(make_process, make_record):
    v1, instance = _on_close(make_process, make_record)
    v2 = make_process(V2, version=2)
    there = migrate(instance, v2, {"close": "propose"}, {"notes": "x"}, now=LATER, by="bo")
    back_at = LATER + dt.timedelta(days=1)
    back = migrate(there.after, v1, {"propose": "close"}, {}, now=back_at, by="bo")
    moves = [event(there, now=LATER, by="bo"), event(back, now=back_at, by="bo")]
    visits = back.after.visits
    assert [v.stage for v in visits] == ["qualify", "close", "propose", "close"]
    assert stay_versions(visits, moves, current=1) == [1, 1, 2, 1]
    # Without migrations every stay is on the version the instance runs.
    assert stay_versions(instance.visits, [], current=1) == [1, 1]
