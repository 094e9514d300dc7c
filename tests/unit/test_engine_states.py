"""A stateful property test of the engine: random runs of every move over the shipped
processes, checked against rules written out here.

One record, every process of its entity. After each step: the path follows the forward
graph from the first stage and is what the stays replay to; exactly one stay is open
while the instance runs; versions grow by one per change; an accepted move left its
stage through the gate; a refused move changed nothing and said why with a domain error;
each change gave one event saying what it did; the bar's canAdvance and canFinish
agree with what advance and finish then do.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from server.domain import instance as rules
from server.domain.errors import (
    DomainError,
    InvalidOutcome,
    InvalidTransition,
    InvalidValue,
    StageGateBlocked,
)
from server.domain.events import Event, EventKind
from server.domain.fields import Entity, Field, FieldType
from server.domain.instance import Instance, InstanceStatus
from server.domain.process import Process, Stage
from server.domain.progress import progress
from server.domain.record import Record, create_record
from server.services.seed import templates

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def _catalogue() -> dict[str, tuple[Entity, list[Process]]]:
    """The shipped processes by entity, each with an id."""
    entities, processes = templates()
    by_entity: dict[str, tuple[Entity, list[Process]]] = {e.key: (e, []) for e in entities}
    for n, process in enumerate(processes, start=1):
        by_entity[process.entity.key][1].append(replace(process, id=n))
    return {key: found for key, found in by_entity.items() if found[1]}


CATALOGUE = _catalogue()

JUNK = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "  ", "lots", "2024-13-40", "1.234", "Maybe"]),
    st.lists(st.integers(), max_size=2),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _valid(field: Field) -> st.SearchStrategy[Any]:
    kinds: dict[FieldType, st.SearchStrategy[Any]] = {
        FieldType.TEXT: st.sampled_from(["Needs 50 laptops", "  ", "x"]),
        FieldType.NUMBER: st.one_of(st.integers(0, 10**6), st.sampled_from(["12", "3.5"])),
        FieldType.MONEY: st.sampled_from([100, "250000.50", 99999, "100000"]),
        FieldType.DATE: st.sampled_from(["2024-06-30", "2025-01-01"]),
        FieldType.BOOLEAN: st.sampled_from([True, True, False]),
        FieldType.CHOICE: st.sampled_from(field.choices or ("none",)),
        FieldType.USER: st.sampled_from(["ann", "bo"]),
    }
    return kinds[field.type]


def _done_value(field: Field) -> st.SearchStrategy[Any]:
    """A value that completes a required step of the field."""
    if field.type is FieldType.BOOLEAN:
        return st.just(True)
    if field.type is FieldType.TEXT:
        return st.just("Needs 50 laptops")
    return _valid(field)


def _done(field: Field | None, value: Any) -> bool:
    """The gate, written out: a required yes/no step is yes; any other holds a value."""
    if field is not None and field.type is FieldType.BOOLEAN:
        return value is True
    return value is not None and not (isinstance(value, str) and not value.strip())


def _gate_holds(stage: Stage, process: Process, values: dict[str, Any]) -> bool:
    return all(
        _done(process.entity.field(s.field), values.get(s.field)) for s in stage.steps if s.required
    )


def _replayed_path(instance: Instance) -> tuple[str, ...]:
    path: list[str] = []
    for visit in instance.visits:
        if visit.stage in path:
            del path[path.index(visit.stage) + 1 :]
        else:
            path.append(visit.stage)
    return tuple(path)


class Engine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.entity: Entity | None = None
        self.processes: dict[int, Process] = {}
        self.record: Record | None = None
        self.instances: dict[int, Instance] = {}  # by process id
        self.events: list[Event] = []
        self.changes = 0
        self.record_changes = 0
        self.clock = T0

    def _now(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=7)
        return self.clock

    @initialize(entity=st.sampled_from(sorted(CATALOGUE)))
    def begin(self, entity: str) -> None:
        self.entity, processes = CATALOGUE[entity]
        self.processes = {p.id: p for p in processes if p.id is not None}
        assert self.entity is not None
        record, _ = create_record(
            self.entity, name="Contoso", owner="ann", values={}, now=T0, by="ann"
        )
        self.record = replace(record, id=1)

    # Helpers

    @property
    def shown(self) -> Instance | None:
        assert self.record is not None
        if self.record.active_instance_id is None:
            return None
        return next(i for i in self.instances.values() if i.id == self.record.active_instance_id)

    def _process_of(self, instance: Instance) -> Process:
        return self.processes[instance.process_id]

    def _refused(self, error: Exception, *before: object) -> None:
        """A refusal is a domain error and leaves what it was given as it was."""
        assert isinstance(error, DomainError), repr(error)
        assert self.record is not None
        assert before == (copy.deepcopy(self.record), copy.deepcopy(self.shown))

    def _changed(self, event: Event, kind: EventKind, before: Instance, after: Instance) -> None:
        assert event.kind is kind
        assert event.instance_id == after.id and event.record_id == after.record_id
        assert after.version == before.version + 1
        if kind is not EventKind.STEP_COMPLETED:
            assert event.before == {
                "stage": before.active_stage,
                "status": before.status.value,
                "path": list(before.path),
            }
            said = {"outcome": after.outcome, "reason": after.outcome_reason}
            assert event.after == {
                "stage": after.active_stage,
                "status": after.status.value,
                "path": list(after.path),
                **(said if kind is EventKind.INSTANCE_FINISHED else {}),
            }
        self.events.append(event)
        self.changes += 1
        self.instances[after.process_id] = after

    def _snapshot(self) -> tuple[object, object]:
        return copy.deepcopy(self.record), copy.deepcopy(self.shown)

    # Rules

    @rule(data=st.data())
    def start_or_switch(self, data: st.DataObject) -> None:
        assert self.record is not None
        if self.record.active_instance_id is not None and data.draw(st.integers(0, 2)):
            return  # one time in three once a process runs: the others get their turn
        process = data.draw(st.sampled_from(sorted(self.processes.values(), key=lambda p: p.key)))
        now = self._now()
        running = self.instances.get(process.id)  # type: ignore[arg-type]
        if running is None:
            started, event = rules.start(process, self.record, now=now, by="ann")
            started = replace(started, id=100 + len(self.instances))
            event = replace(event, instance_id=started.id)
            assert event.kind is EventKind.INSTANCE_STARTED
            assert started.path == (process.first_stage.key,) and started.version == 1
            assert event.after == {
                "stage": started.active_stage,
                "status": "ACTIVE",
                "path": [started.active_stage],
            }
            self.instances[process.id] = started  # type: ignore[index]
            self.events.append(event)
            self.changes += 1
            if self.record.active_instance_id is None:
                # As starting does: the record's bar shows its first run.
                self.record = replace(
                    self.record, active_instance_id=started.id, version=self.record.version + 1
                )
                self.record_changes += 1
            return
        before = self._snapshot()
        try:
            switched, event = rules.switch_to(self.record, running, now=now, by="ann")
        except InvalidTransition as error:
            assert self.record.active_instance_id == running.id
            self._refused(error, *before)
            return
        assert event.kind is EventKind.PROCESS_SWITCHED
        assert switched.version == self.record.version + 1
        assert switched.active_instance_id == running.id
        self.record = switched
        self.record_changes += 1
        self.events.append(event)
        self.changes += 1

    @precondition(lambda self: self.shown is not None)
    @rule(data=st.data())
    def complete_step(self, data: st.DataObject) -> None:
        assert self.record is not None and self.shown is not None
        instance = self.shown
        process = self._process_of(instance)
        assert self.entity is not None
        asked = sorted({s.field for stage in process.stages for s in stage.steps})
        here = process.stage(instance.active_stage)
        assert here is not None
        keys = [s.field for s in here.steps] or asked
        key = data.draw(
            st.one_of(st.sampled_from(keys), st.sampled_from([*asked, "no_such_field"]))
        )
        field = self.entity.field(key)
        value = data.draw(
            st.one_of(_valid(field), _valid(field), st.none(), JUNK) if field else JUNK
        )
        self._complete(key, value)

    @precondition(lambda self: self.shown is not None)
    @rule(data=st.data())
    def fill_the_gate(self, data: st.DataObject) -> None:
        """Complete every required step of the active stage with a value that counts."""
        assert self.shown is not None and self.entity is not None
        here = self._process_of(self.shown).stage(self.shown.active_stage)
        assert here is not None
        for step in here.steps:
            field = self.entity.field(step.field)
            if step.required and field is not None:
                self._complete(step.field, data.draw(_done_value(field)))

    def _complete(self, key: str, value: Any) -> None:
        assert self.record is not None and self.shown is not None
        instance = self.shown
        process = self._process_of(instance)
        before = self._snapshot()
        try:
            moved, record, event = rules.complete_step(
                instance, process, self.record, key, value, now=self._now(), by="ann"
            )
        except (InvalidValue, InvalidTransition) as error:
            self._refused(error, *before)
            return
        except Exception as error:
            raise AssertionError(f"{key}={value!r}: {error!r}") from error
        reached = [s.key for s in process.stages if any(x.field == key for x in s.steps)]
        assert set(reached) & set(instance.path), "a step of a stage not reached was set"
        assert instance.status is InstanceStatus.ACTIVE
        assert record.version == self.record.version + 1
        assert event.after == {"values": {key: record.values.get(key)}}
        assert event.before == {"values": {key: self.record.values.get(key)}}
        if value is None:
            assert key not in record.values
        self.record = record
        self.record_changes += 1
        self._changed(event, EventKind.STEP_COMPLETED, instance, moved)

    @precondition(lambda self: self.shown is not None)
    @rule()
    def advance(self) -> None:
        assert self.record is not None and self.shown is not None
        instance = self.shown
        process = self._process_of(instance)
        bar = progress(instance, process, self.record.values)
        before = self._snapshot()
        try:
            moved, event = rules.advance(
                instance, process, self.record.values, now=self._now(), by="ann"
            )
        except (StageGateBlocked, InvalidTransition) as error:
            assert not bar.can_advance
            self._refused(error, *before)
            return
        stage = process.stage(instance.active_stage)
        assert stage is not None
        assert instance.status is InstanceStatus.ACTIVE
        assert _gate_holds(stage, process, dict(self.record.values)), "left through a shut gate"
        assert bar.can_advance and bar.next_stage is not None
        assert moved.active_stage == bar.next_stage.key
        assert moved.active_stage in stage.targets()
        self._changed(event, EventKind.STAGE_ADVANCED, instance, moved)

    @precondition(lambda self: self.shown is not None)
    @rule(data=st.data())
    def move_back(self, data: st.DataObject) -> None:
        assert self.record is not None and self.shown is not None
        instance = self.shown
        process = self._process_of(instance)
        key = data.draw(st.sampled_from([s.key for s in process.stages]))
        before = self._snapshot()
        try:
            moved, event = rules.move_to(instance, process, key, now=self._now(), by="ann")
        except InvalidTransition as error:
            assert (
                instance.status is not InstanceStatus.ACTIVE
                or key not in instance.path
                or key == instance.active_stage
            )
            self._refused(error, *before)
            return
        assert key in instance.path and key != instance.active_stage
        assert moved.path == instance.path[: instance.path.index(key) + 1]
        self._changed(event, EventKind.STAGE_MOVED_BACK, instance, moved)

    @precondition(lambda self: self.shown is not None)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        assert self.record is not None and self.shown is not None
        instance = self.shown
        process = self._process_of(instance)
        bar = progress(instance, process, self.record.values)
        outcome = data.draw(
            st.sampled_from([None, "unheard-of", *(o.key for o in process.outcomes)])
        )
        reason = data.draw(st.sampled_from([None, "", "  ", " Budget cut "]))
        before = self._snapshot()
        try:
            done, event = rules.finish(
                instance,
                process,
                self.record.values,
                outcome=outcome,
                reason=reason,
                now=self._now(),
                by="ann",
            )
        except (StageGateBlocked, InvalidTransition) as error:
            assert not bar.can_finish
            self._refused(error, *before)
            return
        except InvalidOutcome as error:
            assert bar.can_finish
            chosen = next((o for o in process.outcomes if o.key == outcome), None)
            if chosen is None:  # none named, an unknown one, or one where none are declared
                assert process.outcomes or outcome is not None
            else:
                assert chosen.reason_required and not (reason or "").strip()
                assert error.reason_required
            assert error.outcomes == process.outcomes
            self._refused(error, *before)
            return
        stage = process.stage(instance.active_stage)
        assert stage is not None and stage.is_last and bar.can_finish
        assert _gate_holds(stage, process, dict(self.record.values)), "finished through a gate"
        assert done.status is InstanceStatus.FINISHED and done.completed_at is not None
        assert done.outcome == outcome and done.completed_by == "ann"
        assert done.outcome_reason == ((reason or "").strip() or None)
        self._changed(event, EventKind.INSTANCE_FINISHED, instance, done)

    @precondition(lambda self: self.shown is not None)
    @rule(now=st.integers(0, 3))
    def abandon(self, now: int) -> None:
        assert self.shown is not None
        if now:  # one time in four: a run abandoned early stays short
            return
        instance = self.shown
        before = self._snapshot()
        try:
            done, event = rules.abandon(instance, now=self._now(), by="ann")
        except InvalidTransition as error:
            assert instance.status is not InstanceStatus.ACTIVE
            self._refused(error, *before)
            return
        assert done.status is InstanceStatus.ABANDONED and done.completed_by == "ann"
        assert (done.active_stage, done.path) == (instance.active_stage, instance.path)
        self._changed(event, EventKind.INSTANCE_ABANDONED, instance, done)

    @precondition(lambda self: self.shown is not None)
    @rule(now=st.integers(0, 3))
    def reactivate(self, now: int) -> None:
        assert self.shown is not None
        instance = self.shown
        if now and instance.status is InstanceStatus.ACTIVE:
            return  # tried on a running instance one time in four
        before = self._snapshot()
        try:
            back, event = rules.reactivate(
                instance, self._process_of(instance), now=self._now(), by="ann"
            )
        except InvalidTransition as error:
            assert instance.status is InstanceStatus.ACTIVE
            self._refused(error, *before)
            return
        assert instance.status is not InstanceStatus.ACTIVE
        assert back.status is InstanceStatus.ACTIVE and back.completed_at is None
        assert (back.outcome, back.outcome_reason, back.completed_by) == (None, None, None)
        assert (back.active_stage, back.path) == (instance.active_stage, instance.path)
        self._changed(event, EventKind.INSTANCE_REACTIVATED, instance, back)

    # Invariants

    @invariant()
    def every_instance_is_consistent(self) -> None:
        for instance in self.instances.values():
            process = self._process_of(instance)
            path = instance.path
            assert path and path[0] == process.first_stage.key
            assert path[-1] == instance.active_stage
            assert len(set(path)) == len(path)
            for here, there in itertools.pairwise(path):
                stage = process.stage(here)
                assert stage is not None and there in stage.targets()
            assert _replayed_path(instance) == path
            assert [v.n for v in instance.visits] == list(range(len(instance.visits)))
            open_stays = [v for v in instance.visits if v.exited_at is None]
            if instance.status is InstanceStatus.ACTIVE:
                assert [v.stage for v in open_stays] == [instance.active_stage]
                assert instance.visits[-1].entered_at == instance.active_since
                assert instance.completed_at is None
            else:
                assert open_stays == [] and instance.completed_at is not None
            for stay, after in zip(instance.visits, instance.visits[1:], strict=False):
                assert stay.exited_at is not None and stay.exited_at <= after.entered_at

    @invariant()
    def the_bar_shows_each_stage_once_path_first(self) -> None:
        assert self.record is not None
        for instance in self.instances.values():
            process = self._process_of(instance)
            bar = progress(instance, process, self.record.values)
            keys = [sp.stage.key for sp in bar.stages]
            assert sorted(keys) == sorted(s.key for s in process.stages)
            assert tuple(keys[: len(instance.path)]) == instance.path
            states = [sp.state.value for sp in bar.stages]
            assert set(states[: len(instance.path) - 1]) <= {"DONE"}
            if bar.can_advance or bar.can_finish:
                assert instance.status is InstanceStatus.ACTIVE and not bar.missing_steps
            assert bar.can_finish <= bar.active_stage.is_last
            assert (bar.next_stage is None) == bar.active_stage.is_last

    @invariant()
    def one_event_per_change(self) -> None:
        assert len(self.events) == self.changes
        assert [e.at for e in self.events] == sorted(e.at for e in self.events)
        # Versions count the changes: each instance's, and the record's.
        for instance in self.instances.values():
            mine = [e for e in self.events if e.instance_id == instance.id]
            moves = [e for e in mine if e.kind is not EventKind.PROCESS_SWITCHED]
            assert instance.version == len(moves)
        if self.record is not None:
            assert self.record.version == 1 + self.record_changes


Engine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_engine = Engine.TestCase
