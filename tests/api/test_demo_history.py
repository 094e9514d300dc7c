"""The demo's months of history (`stageflow seed --demo`) are what the engine would have
written had its users made those changes then: events numbered without a gap in the order
of their time, each instance's events replaying to its stored state, stays that chain,
gates kept, dues and overdue stays as the rules and the scan make them, and counts that
agree; and it holds every kind of run the insights show."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from tortoise.connection import get_connection

from server.db import store
from server.domain.due import due_at
from server.domain.events import Event, EventKind
from server.domain.instance import Instance, InstanceStatus, Visit
from server.domain.process import Process, missing_steps
from server.domain.record import Record
from server.services.runtime import utcnow
from server.services.seed import seed_demo, seed_demo_users

ENTERING = {
    EventKind.INSTANCE_STARTED,
    EventKind.STAGE_ADVANCED,
    EventKind.STAGE_MOVED_BACK,
    EventKind.INSTANCE_REACTIVATED,
}
VALUES = {EventKind.RECORD_CREATED, EventKind.RECORD_UPDATED, EventKind.STEP_COMPLETED}
HISTORY = ("opportunity-sales", "lead-to-opportunity", "phone-to-case")
NOT_MOVES = {EventKind.STAGE_OVERDUE, EventKind.RECORD_CREATED}


@dataclass
class Seeded:
    began: dt.datetime
    events: list[Event]
    records: dict[int, Record]
    instances: dict[int, Instance]
    processes: dict[int, Process]

    def of(self, instance_id: int) -> list[Event]:
        return [e for e in self.events if e.instance_id == instance_id]

    def key(self, instance: Instance) -> str:
        return self.processes[instance.process_id].key


async def _ids(table: str) -> list[int]:
    rows = await get_connection("default").execute_query_dict(f'SELECT "id" FROM "{table}"')
    return [int(row["id"]) for row in rows]


async def _seeded(app: Starlette) -> Seeded:
    rt = app.state.runtime
    await seed_demo_users(rt)
    began = utcnow() - dt.timedelta(days=2)
    assert await seed_demo(rt, now=began) >= 300
    events = await store.events_after(0, limit=1_000_000)
    records = await store.records_by_id(await _ids("record"))
    instances = await store.instances_by_id(await _ids("instance"))
    stays = await store.visits_of(instances)
    instances = {i: _with(instance, stays.get(i, [])) for i, instance in instances.items()}
    processes = {
        pid: await rt.catalog.process(pid) for pid in {i.process_id for i in instances.values()}
    }
    return Seeded(began, events, records, instances, processes)


def _state(after: dict[str, Any] | None) -> dict[str, Any]:
    """Where an instance stands, as an event tells it."""
    assert after is not None
    return {key: after[key] for key in ("stage", "status", "path")}


def _with(instance: Instance, stays: list[Visit]) -> Instance:
    return replace(instance, visits=tuple(stays))


async def test_events_are_numbered_in_time_order_and_replay_to_each_instance(
    app: Starlette,
) -> None:
    seeded = await _seeded(app)
    seqs = [e.seq for e in seeded.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert await store.last_seq() == len(seqs)
    changes = [e for e in seeded.events if e.record_id is not None]
    assert all(a.at <= b.at for a, b in itertools.pairwise(changes))
    for iid, instance in seeded.instances.items():
        events = seeded.of(iid)
        moves = [e for e in events if e.kind not in NOT_MOVES]
        # Every change but the scan's finding (and the record a crossing made) made the
        # instance one version newer.
        assert instance.version == len(moves)
        states = [e for e in moves if e.kind is not EventKind.STEP_COMPLETED]
        assert states[0].kind is EventKind.INSTANCE_STARTED and states[0].before is None
        for before, after in itertools.pairwise(states):
            assert after.before == _state(before.after)
            if after.kind is EventKind.STAGE_ADVANCED:
                assert after.after["path"] == [*before.after["path"], after.to_stage]
            if after.kind is EventKind.STAGE_MOVED_BACK:
                path = before.after["path"]
                assert after.after["path"] == path[: path.index(after.to_stage) + 1]
        assert _state(states[-1].after) == {
            "stage": instance.active_stage,
            "status": instance.status.value,
            "path": list(instance.path),
        }
        finished = states[-1].kind is EventKind.INSTANCE_FINISHED
        assert instance.outcome == (states[-1].after["outcome"] if finished else None)
        assert instance.outcome_reason == (states[-1].after["reason"] if finished else None)


async def test_values_replay_and_every_gate_was_kept(app: Starlette) -> None:
    seeded = await _seeded(app)
    links = await store.links_of(seeded.instances)
    crossed = 0

    def record_of(instance: Instance, entity: str) -> int:
        """The instance's record of `entity`: its own, or one it crossed into."""
        own = seeded.records[instance.record_id]
        return own.id if own.entity == entity else links[instance.id or 0][entity]  # type: ignore[return-value]

    values: dict[int, dict[str, Any]] = {rid: {} for rid in seeded.records}
    changes = Counter[int]()
    for event in seeded.events:
        if event.record_id is None:
            continue
        if event.kind in VALUES:
            values[event.record_id].update(event.after["values"])
            changes[event.record_id] += 1
        elif event.kind is EventKind.INSTANCE_STARTED:
            changes[event.record_id] += 1
        elif event.kind in (EventKind.STAGE_ADVANCED, EventKind.INSTANCE_FINISHED):
            instance = seeded.instances[event.instance_id or 0]
            process = seeded.processes[instance.process_id]
            left = process.stage(event.from_stage or "")
            assert left is not None
            # Each gate was kept on the record of the stage left.
            on = record_of(instance, process.entity_of(left).key)
            crossed += on != event.record_id
            assert not missing_steps(left, values[on], process.entity_of(left)), (on, left.key)
    for rid, record in seeded.records.items():
        assert values[rid] == dict(record.values)
        assert record.version == changes[rid]
    assert crossed > 20  # the lead runs that went on to an opportunity
    for instance in seeded.instances.values():
        if instance.status is InstanceStatus.FINISHED:
            process = seeded.processes[instance.process_id]
            stage = process.stage(instance.active_stage)
            assert stage is not None and stage.is_last
            entity = process.entity_of(stage)
            held = seeded.records[record_of(instance, entity.key)].values
            assert not missing_steps(stage, held, entity)


async def test_stays_chain_with_their_dues_and_overdue_findings(app: Starlette) -> None:
    seeded = await _seeded(app)
    overdue = Counter(
        (e.instance_id, e.after["enteredAt"])
        for e in seeded.events
        if e.kind is EventKind.STAGE_OVERDUE
    )
    assert sum(overdue.values()) == sum(
        1 for i in seeded.instances.values() for v in i.visits if v.overdue_at
    )
    for iid, instance in seeded.instances.items():
        process = seeded.processes[instance.process_id]
        stays = instance.visits
        entering = [e for e in seeded.of(iid) if e.kind in ENTERING]
        assert [(v.stage, v.entered_at) for v in stays] == [(e.to_stage, e.at) for e in entering]
        assert [v.n for v in stays] == list(range(len(stays)))
        for stay, following in itertools.pairwise(stays):
            assert stay.exited_at is not None and stay.entered_at <= stay.exited_at
            ended = [e for e in seeded.of(iid) if e.at == stay.exited_at]
            if following.entered_at != stay.exited_at:  # a run ended, then reactivated
                assert ended[-1].kind in (EventKind.INSTANCE_FINISHED, EventKind.INSTANCE_ABANDONED)
                assert following.entered_at > stay.exited_at
        assert (stays[-1].exited_at is None) == (instance.status is InstanceStatus.ACTIVE)
        for stay in stays:
            stage = process.stage(stay.stage)
            assert stage is not None
            assert stay.due_at == due_at(stay.entered_at, stage.due)
            open_at_due = stay.due_at is not None and (
                stay.exited_at is None or stay.exited_at > stay.due_at
            )
            if open_at_due and stay.due_at is not None and stay.due_at <= seeded.began:
                # The scan would have found it, once, at its due.
                assert stay.overdue_at == stay.due_at
                assert overdue[(iid, stay.entered_at.isoformat())] == 1
            elif stay.overdue_at is None:
                assert overdue[(iid, stay.entered_at.isoformat())] == 0
        assert instance.due_at == (
            stays[-1].due_at if instance.status is InstanceStatus.ACTIVE else None
        )


async def test_the_history_holds_every_kind_of_run_and_its_counts(app: Starlette) -> None:
    seeded = await _seeded(app)
    by_process: dict[str, list[Instance]] = {}
    for instance in seeded.instances.values():
        by_process.setdefault(seeded.key(instance), []).append(instance)
    for key in HISTORY:
        runs = by_process[key]
        process = next(p for p in seeded.processes.values() if p.key == key)
        kinds = Counter(e.kind for i in runs for e in seeded.of(i.id or 0))
        assert kinds[EventKind.STAGE_MOVED_BACK] > 0, key
        assert kinds[EventKind.INSTANCE_REACTIVATED] > 0, key
        statuses = Counter(i.status for i in runs)
        assert statuses[InstanceStatus.ACTIVE] > 0 and statuses[InstanceStatus.ABANDONED] > 0
        assert {i.outcome for i in runs if i.outcome} == {o.key for o in process.outcomes}, key
        for instance in runs:
            if instance.outcome in {o.key for o in process.outcomes if o.reason_required}:
                assert instance.outcome_reason
        # Most runs that stop do so early: more in the first stage than in any later one.
        dropped = Counter(i.active_stage for i in runs if i.status is InstanceStatus.ABANDONED)
        assert dropped[process.first_stage.key] == max(dropped.values()), (key, dropped)
        assert min(i.started_at for i in runs) <= seeded.began - dt.timedelta(days=90)
    active = [i for i in seeded.instances.values() if i.status is InstanceStatus.ACTIVE]
    assert any(i.overdue(seeded.began) for i in active)
    assert any(seeded.began - i.active_since > dt.timedelta(days=14) for i in active)
    assert len({r.owner for r in seeded.records.values()}) >= 3
    open_deals = [
        seeded.records[i.record_id].values
        for i in active
        if seeded.key(i) == "opportunity-sales" and i.started_at < seeded.began
    ]
    assert open_deals and all(v.get("estimated_revenue") for v in open_deals)
    assert all(v["estimated_close_date"] > seeded.began.date().isoformat() for v in open_deals)
    conn = get_connection("default")
    for table, counted in (
        (
            "instance_count",
            'SELECT "process_id", "active_stage", "status", COUNT(*) AS "n" FROM "instance"'
            ' GROUP BY "process_id", "active_stage", "status"',
        ),
        (
            "shown_count",
            'SELECT r."entity_id", i."process_id", i."active_stage", i."status", COUNT(*) AS "n"'
            ' FROM "record" r JOIN "instance" i ON i."id" = r."active_instance_id"'
            ' GROUP BY r."entity_id", i."process_id", i."active_stage", i."status"',
        ),
    ):
        kept = await conn.execute_query_dict(f'SELECT * FROM "{table}" WHERE "n" <> 0')
        fresh = await conn.execute_query_dict(counted)
        assert {tuple(map(str, r.values())) for r in kept} == {
            tuple(map(str, r.values())) for r in fresh
        }
