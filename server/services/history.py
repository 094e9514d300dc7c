"""Months of demo history: records moved through their processes as if users had done it.

Each record's life is planned (server/services/history_plan.py), then every action of
every record is carried out in the order of its time by the engine's rules, with that
time as `now`: each change gives its rows as the use cases would write them
(server/services/instances.py, records.py) and its one event, numbered in that order.
Stays still open at their due are found overdue at the due, with the overdue scan's own
event (server/db/overdue.py), as a running server would have found them. Everything is
then stored in one transaction (server/db/loading.py): a few seconds, not one round trip
per change. A fixed seed makes the history the same on every run, relative to `now`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import replace

from tortoise.transactions import in_transaction

from server.db import loading
from server.db.overdue import overdue_event
from server.domain import instance as rules
from server.domain import record as record_rules
from server.domain.events import Event
from server.domain.fields import Entity
from server.domain.instance import Instance
from server.domain.process import Process, Stage
from server.domain.record import Record
from server.services.history_plan import PROFILES, Action, Plan, plan_history
from server.services.runtime import Runtime

SEED = 20260601
DAYS = 183


async def seed_history(
    rt: Runtime,
    *,
    now: dt.datetime,
    owners: list[str],
    taken: set[str] | None = None,
    seed: int = SEED,
    days: int = DAYS,
) -> int:
    """Records of the sales, lead and case processes begun over the `days` before `now`,
    owned by `owners`, and everything done to them until `now`, in one transaction; how
    many records. Names in `taken` are not used."""
    processes = {}
    for profile in PROFILES:
        process_id = await rt.catalog.find_key(profile.process)
        assert process_id is not None, f"{profile.process} is not stored"
        processes[profile.process] = await rt.catalog.process(process_id)
    plans = plan_history(
        random.Random(seed),
        processes,
        now=now,
        days=days,
        owners=owners,
        users=owners,
        taken=set(taken or ()),
    )
    # Every action in the order it happened: ids and seqs follow time, as they would have.
    timeline = sorted(
        (action.at, n, i) for n, plan in enumerate(plans) for i, action in enumerate(plan.actions)
    )
    # A record of each entity a run reaches: its own, and one per crossing.
    records = sum(len(_entities(processes[p.process], p)) for p in plans)
    async with in_transaction():
        record_ids = iter(await loading.next_ids("record", records))
        instance_ids = iter(await loading.next_ids("instance", len(plans)))
        lives = [_Life(p, processes[p.process], record_ids, instance_ids) for p in plans]
        events = [e for _, n, i in timeline for e in lives[n].act(plans[n].actions[i])]
        seqs = await loading.next_seqs(len(events))
        await loading.load(
            [r for life in lives for r in life.records.values()],
            [life.instance for life in lives if life.instance is not None],
            [replace(event, seq=seq) for event, seq in zip(events, seqs, strict=True)],
            links=[link for life in lives for link in life.links],
        )
    return len(plans)


def _entities(process: Process, plan: Plan) -> set[str]:
    """The entities whose records a planned run reaches."""
    reached = {process.entity.key}
    for action in plan.actions:
        stage = process.stage(action.stage) if action.stage else None
        if stage is not None:
            reached.add(process.entity_of(stage).key)
    return reached


class _Life:
    """One record and its instance as the changes so far left them."""

    def __init__(
        self, plan: Plan, process: Process, record_ids: Iterator[int], instance_ids: Iterator[int]
    ) -> None:
        self.plan, self.process = plan, process
        self.entity: Entity = process.entity
        self.by = plan.owner
        self.record_ids, self.instance_ids = record_ids, instance_ids
        self.record: Record | None = None
        self.instance: Instance | None = None
        # The records the run crossed into by entity, and the links to them.
        self.crossed: dict[str, Record] = {}
        self.links: list[tuple[Instance, Record]] = []

    @property
    def records(self) -> dict[str, Record]:
        """The run's records by entity, as the changes so far left them."""
        own = {self.record.entity: self.record} if self.record is not None else {}
        return {**own, **self.crossed}

    def act(self, action: Action) -> list[Event]:
        """Carry out one action at its time; its events, not numbered yet (a crossing has
        two: the record it creates, and the move)."""
        instance = self.instance
        if instance is None or not self.process.crossings or action.kind in ("update", "scan"):
            return [self._act(action)]
        entity = self.process.entity_of(_stage(self.process, instance.active_stage)).key
        record = self.records[entity]
        if action.kind != "fill":
            return self._moved(instance, record, action)
        ((key, value),) = action.values.items()
        self.instance, updated, event = rules.complete_step(
            instance, self.process, record, key, value, now=action.at, by=self.by
        )
        if updated.entity in self.crossed:
            self.crossed[updated.entity] = updated
        else:
            self.record = updated
        return [event]

    def _moved(self, instance: Instance, record: Record, action: Action) -> list[Event]:
        """A move, decided on the active stage's record; into a stage of an entity not
        reached yet, with the record crossed into (as `instances.advance_stage`)."""
        moved, event = self._move(instance, record, action)
        # The rules took the path the plan foresaw (the same gate and branching).
        assert action.stage in (None, moved.active_stage), (action, moved.active_stage)
        self.instance = moved
        entity = self.process.entity_of(_stage(self.process, moved.active_stage)).key
        records = self.records
        made: list[Event] = []
        if entity not in records:
            crossing = self.process.crossing_into(entity)
            assert crossing is not None and moved.id is not None
            new, created = rules.crossed_record(
                self.process, crossing, records, now=action.at, by=self.by
            )
            new = replace(new, id=next(self.record_ids), active_instance_id=moved.id)
            self.crossed[entity] = new
            self.links.append((moved, new))
            made.append(
                replace(
                    created, record_id=new.id, instance_id=moved.id, process_id=moved.process_id
                )
            )
            crossed = {"crossed": {"entity": entity, "recordId": new.id, "created": True}}
            event = replace(event, after={**(event.after or {}), **crossed})
        shown = self.records[entity]
        return [*made, replace(event, record_id=shown.id)]

    def _act(self, action: Action) -> Event:
        """An action on the run's own record; its event."""
        at, by = action.at, self.by
        if action.kind == "create":
            created, event = record_rules.create_record(
                self.entity,
                name=self.plan.name,
                owner=self.plan.owner,
                values=self.plan.values,
                now=at,
                by=by,
            )
            self.record = replace(created, id=next(self.record_ids))
            return replace(event, record_id=self.record.id)
        record = self.record
        assert record is not None
        if action.kind == "update":
            self.record, event = record_rules.update_record(
                record, self.entity, values=action.values, now=at, by=by
            )
            return event
        if action.kind == "start":
            return self._start(record, at)
        instance = self.instance
        assert instance is not None
        if action.kind == "scan":
            return self._overdue(instance, at)
        if action.kind == "fill":
            ((key, value),) = action.values.items()
            self.instance, self.record, event = rules.complete_step(
                instance, self.process, record, key, value, now=at, by=by
            )
            return event
        moved, event = self._move(instance, record, action)
        # The rules took the path the plan foresaw (the same gate and branching).
        assert action.stage in (None, moved.active_stage), (action, moved.active_stage)
        self.instance = moved
        return event

    def _start(self, record: Record, at: dt.datetime) -> Event:
        """As `instances.start_instance`: the instance, and the record showing it."""
        instance, event = rules.start(self.process, record, now=at, by=self.by)
        self.instance = replace(instance, id=next(self.instance_ids))
        self.record = replace(
            record, active_instance_id=self.instance.id, version=record.version + 1, updated_at=at
        )
        return replace(event, instance_id=self.instance.id)

    def _overdue(self, instance: Instance, at: dt.datetime) -> Event:
        """As the overdue scan at `at`: the open stay marked, the instance left as it is."""
        stay = instance.visits[-1]
        assert stay.exited_at is None and stay.due_at == at, (stay, at)
        marked = replace(stay, overdue_at=at)
        self.instance = replace(instance, visits=(*instance.visits[:-1], marked))
        assert instance.id is not None and instance.record_id is not None
        # Told on the record the stay's stage works on, as the scan does.
        on = self.process.entity_of(_stage(self.process, stay.stage)).key
        return overdue_event(
            at,
            record_id=self.records[on].id or instance.record_id,
            instance_id=instance.id,
            process_id=instance.process_id,
            stage=stay.stage,
            entered_at=stay.entered_at,
            due_at=at,
        )

    def _move(self, instance: Instance, record: Record, action: Action) -> tuple[Instance, Event]:
        """As `instances.advance_stage` and the other moves."""
        at, by, process = action.at, self.by, self.process
        if action.kind == "advance":
            path = {entity: r.values for entity, r in self.records.items()}
            return rules.advance(instance, process, record.values, now=at, by=by, path=path)
        if action.kind == "back":
            assert action.stage is not None
            return rules.move_to(instance, process, action.stage, now=at, by=by)
        if action.kind == "finish":
            return rules.finish(
                instance,
                process,
                record.values,
                outcome=action.outcome,
                reason=action.reason,
                now=at,
                by=by,
            )
        if action.kind == "abandon":
            return rules.abandon(instance, now=at, by=by)
        assert action.kind == "reactivate", action.kind
        return rules.reactivate(instance, process, now=at, by=by)


def _stage(process: Process, key: str) -> Stage:
    stage = process.stage(key)
    assert stage is not None
    return stage
