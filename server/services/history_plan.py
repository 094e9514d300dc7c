"""Plans of the demo history: for each record, what its users did and when.

Pure: a plan is decided from a random generator and the process definitions, as a list of
timed actions per record (create, start, fill a step, advance, go back, finish, abandon,
reactivate, update the close date, and the overdue scan finding a stay past its due).
The engine's rules then carry them out (server/services/history.py), and must reach the
stages planned here: the plan follows the same gate and branching (`missing_steps`,
`next_stage`).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from server.domain.due import due_at
from server.domain.process import Process, Stage, missing_steps, next_stage
from server.services import demo_values as demo

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
# Actions that end the open stay.
LEAVING = frozenset({"advance", "back", "finish", "abandon"})
# Actions that open a stay, in the stage they name.
ENTERING = frozenset({"start", "advance", "back", "reactivate"})


@dataclass(frozen=True)
class Profile:
    """How records of one process behave: median hours in each stage, the chance to be
    abandoned in a stage (first visit), to go back from it, and how runs end."""

    process: str
    count: int
    hours: dict[str, float]
    drop: dict[str, float]
    back: dict[str, float]
    outcomes: list[tuple[str, float]]
    reactivate: float = 0.08
    stall: float = 0.08


PROFILES = [
    Profile(
        "opportunity-sales",
        190,
        hours={"qualify": 70, "develop": 160, "propose": 110, "close": 190},
        drop={"qualify": 0.3, "develop": 0.2, "propose": 0.12},
        back={"propose": 0.15, "close": 0.1},
        outcomes=[("won", 0.55), ("lost", 0.45)],
    ),
    Profile(
        "lead-to-opportunity",
        150,
        hours={
            **{"qualify": 30, "identify": 40, "fast_track": 14, "discovery": 100},
            **{"develop": 120, "executive_review": 30, "propose": 90, "close": 150},
        },
        drop={"qualify": 0.22, "identify": 0.18, "discovery": 0.25, "develop": 0.15},
        back={"discovery": 0.05, "develop": 0.06, "propose": 0.12, "close": 0.1},
        outcomes=[("won", 0.5), ("lost", 0.5)],
    ),
    Profile(
        "phone-to-case",
        140,
        hours={"identify": 2.5, "research": 18, "resolve": 30, "dispatch": 20, "visit": 40},
        drop={"identify": 0.1, "research": 0.04},
        back={"resolve": 0.1, "visit": 0.05},
        outcomes=[("resolved", 0.9), ("cancelled", 0.1)],
        stall=0.06,
    ),
]


@dataclass(frozen=True)
class Action:
    """One thing done to a record at `at`: `stage` is the stage entered (or the stay found
    overdue), `values` what a fill or an update writes."""

    at: dt.datetime
    kind: str
    stage: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    reason: str | None = None


@dataclass
class Plan:
    """A record's life: its entity, name, owner and first values, and what happened."""

    process: str
    entity: str
    name: str
    owner: str
    values: dict[str, Any]
    actions: list[Action]


def plan_history(
    rnd: random.Random,
    processes: dict[str, Process],
    *,
    now: dt.datetime,
    days: int,
    owners: list[str],
    users: list[str],
    taken: set[str],
) -> list[Plan]:
    """Plans of every profile's records, begun over the `days` before `now`; names in
    `taken` are left to others."""
    plans = []
    for profile in PROFILES:
        process = processes[profile.process]
        for _ in range(profile.count):
            # Each record draws from generators of its own: how its run goes (`fate`) and
            # when and with which values (`own`). Draws that depend on the calendar (a
            # weekend, a close date passed by `now`) then shift nothing else, and the runs
            # are the same whatever day the history ends on.
            own, fate = random.Random(rnd.getrandbits(64)), random.Random(rnd.getrandbits(64))
            # Later months see a little more business than earlier ones.
            begun = now - days * DAY * (1 - own.random() ** 0.8)
            owner = own.choice(owners)
            name, values = _first_values(own, process.entity.key, taken, begun)
            plan = Plan(profile.process, process.entity.key, name, owner, values, [])
            _Life(own, fate, process, profile, plan, users).live(_working(own, begun))
            _cut(plan, now)
            if len(plan.actions) < 2:
                continue  # begun on a weekend just passed: not even started yet
            _reforecast(own, plan, now)
            plan.actions.extend(_scans(plan, process, now))
            plan.actions.sort(key=lambda a: a.at)
            plans.append(plan)
    return plans


def _first_values(
    rnd: random.Random, entity: str, taken: set[str], begun: dt.datetime
) -> tuple[str, dict[str, Any]]:
    """A new record's name and the values it is created with."""
    while True:
        if entity == "opportunity":
            name = f"{rnd.choice(demo.COMPANIES)} - {rnd.choice(demo.DEALS)}"
            close = begun.date() + rnd.randrange(30, 120) * DAY
            values = {
                "estimated_revenue": demo.money(rnd, 8000, 400000),
                "estimated_close_date": close.isoformat(),
            }
        elif entity == "lead":
            company = rnd.choice(demo.COMPANIES)
            name = f"{company} {rnd.choice(demo.LEAD_CHANNELS)}"
            values = {"company_name": company}
        else:
            customer = rnd.choice(demo.COMPANIES)
            name = f"{rnd.choice(demo.PROBLEMS)} ({customer})"
            origin = rnd.choice(["Phone", "Phone", "Email", "Web", "Chat"])
            priority = rnd.choice(["Low", "Normal", "Normal", "Normal", "High", "Critical"])
            values = {"customer": customer, "origin": origin, "priority": priority}
        if name not in taken:
            taken.add(name)
            return name, values


class _Life:
    """Plans one record's run through its process, stay by stay."""

    def __init__(
        self,
        rnd: random.Random,
        fate: random.Random,
        process: Process,
        profile: Profile,
        plan: Plan,
        users: list[str],
    ) -> None:
        self.rnd, self.fate, self.process, self.profile, self.plan, self.users = (
            rnd,
            fate,
            process,
            profile,
            plan,
            users,
        )
        self.values = dict(plan.values)
        # The values of each record on the path by entity; `values` are the active stage's.
        self.held = {process.entity.key: self.values}
        self.path: list[str] = []
        self.backs = 0
        self.reactivated = False
        self.visited: set[str] = set()

    def live(self, begun: dt.datetime) -> None:
        self._do(begun, "create")
        at = self._do(begun + self.rnd.randrange(1, 15) * dt.timedelta(minutes=1), "start")
        stage = self.process.first_stage
        self.path = [stage.key]
        self.plan.actions[-1] = _with_stage(self.plan.actions[-1], stage.key)
        while True:
            at, fate = self._stay(stage, at)
            if fate == "advance":
                target = next_stage(self.process, stage, self.values, self.held)
                assert target is not None
                self.path.append(target.key)
                stage = target
                self.values = self._on(stage)
            elif fate == "back":
                stage = self._stage(self.path[-2])
                self.path.pop()
                self.values = self._on(stage)
            elif not self._reactivates():
                return
            else:
                at = self._do(at + self.rnd.uniform(2, 30) * DAY, "reactivate")
                self.reactivated = True
            self.plan.actions[-1] = _with_stage(self.plan.actions[-1], stage.key)

    def _stay(self, stage: Stage, entered: dt.datetime) -> tuple[dt.datetime, str]:
        """The steps filled in one stay and how it ends; when and with which move."""
        rnd, profile = self.rnd, self.profile
        hours = profile.hours[stage.key] * math.exp(rnd.gauss(0, 0.6))
        if rnd.random() < profile.stall:
            hours *= rnd.uniform(4, 9)  # the record is forgotten for a while
        leave = entered + hours * HOUR
        first = stage.key not in self.visited
        self.visited.add(stage.key)
        drop, back = self.fate.random(), self.fate.random()
        if first and drop < profile.drop.get(stage.key, 0):
            fate = "abandon"
        elif self.backs < 2 and len(self.path) > 1 and back < profile.back.get(stage.key, 0):
            fate = "back"
        else:
            fate = "finish" if stage.is_last else "advance"
        fills = [s.field for s in stage.steps if s.required or rnd.random() < 0.5]
        fills = [f for f in fills if f not in self.values]
        if fate == "abandon":
            fills = fills[: rnd.randrange(len(fills) + 1)]
        for n, key in enumerate(fills, start=1):
            moment = entered + (leave - entered) * n / (len(fills) + 1)
            value = demo.step_value(
                rnd, key, values=self.values, today=moment.date(), users=self.users
            )
            self._do(moment, "fill", values={key: value})
            self.values[key] = value
        if fate in ("advance", "finish"):
            assert not missing_steps(stage, self.values, self.process.entity_of(stage))
        if fate == "back":
            self.backs += 1
            self._do(leave, "back")
        elif fate == "finish":
            outcome = _weighted(self.fate, profile.outcomes)
            needs = any(o.key == outcome and o.reason_required for o in self.process.outcomes)
            reason = self.fate.choice(demo.REASONS[outcome]) if needs else None
            self._do(leave, "finish", outcome=outcome, reason=reason)
        else:
            self._do(leave, fate)
        return self.plan.actions[-1].at, fate

    def _on(self, stage: Stage) -> dict[str, Any]:
        """The values of the record `stage` works on; crossed into, it begins with those
        its crossing carries over (as `instance.crossed_record`)."""
        entity = self.process.entity_of(stage)
        if entity.key not in self.held:
            crossing = self.process.crossing_into(entity.key)
            assert crossing is not None
            carried = {
                c.field: self.held[c.source_entity][c.source_field]
                for c in crossing.carry
                if self.held.get(c.source_entity, {}).get(c.source_field) is not None
            }
            self.held[entity.key] = carried
        return self.held[entity.key]

    def _reactivates(self) -> bool:
        last = self.plan.actions[-1]
        if self.reactivated or last.outcome in ("won", "qualified", "resolved"):
            return False
        return self.fate.random() < self.profile.reactivate * (3 if last.outcome else 1)

    def _stage(self, key: str) -> Stage:
        stage = self.process.stage(key)
        assert stage is not None
        return stage

    def _do(self, at: dt.datetime, kind: str, **kw: Any) -> dt.datetime:
        """Add an action at the first working moment from `at`, after the last one."""
        at = _working(self.rnd, at).replace(microsecond=0)
        if self.plan.actions and at <= self.plan.actions[-1].at:
            at = self.plan.actions[-1].at + self.rnd.randrange(1, 20) * dt.timedelta(minutes=1)
        self.plan.actions.append(Action(at, kind, **kw))
        return at


def _with_stage(action: Action, stage: str) -> Action:
    return Action(action.at, action.kind, stage, action.values, action.outcome, action.reason)


def _working(rnd: random.Random, at: dt.datetime) -> dt.datetime:
    """`at`, or a moment in the first working hour after it (Monday to Friday, 8:00 to
    18:00 UTC)."""
    # Drawn whether needed or not: the draws that follow do not depend on the weekday.
    minute, second = rnd.randrange(60), rnd.randrange(60)
    if 8 <= at.hour < 18 and at.weekday() < 5:
        return at
    if at.hour >= 8:
        at += DAY
    at = at.replace(hour=8, minute=minute, second=second)
    return at if at.weekday() < 5 else at + (7 - at.weekday()) * DAY


def _weighted(rnd: random.Random, choices: list[tuple[str, float]]) -> str:
    return rnd.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _cut(plan: Plan, now: dt.datetime) -> None:
    """Only what happened by `now`: the rest is still to come."""
    plan.actions[:] = [a for a in plan.actions if a.at <= now]


def _reforecast(rnd: random.Random, plan: Plan, now: dt.datetime) -> None:
    """An open deal whose close date has passed (or nearly) is given a new one by its owner."""
    close = plan.values.get("estimated_close_date")
    last = plan.actions[-1]
    if close is None or last.kind in ("finish", "abandon"):
        return
    if dt.date.fromisoformat(close) > (now + 7 * DAY).date():
        return
    at = (last.at + (now - last.at) * rnd.uniform(0.2, 0.9)).replace(microsecond=0)
    later = now.date() + rnd.randrange(10, 100) * DAY
    plan.actions.append(Action(at, "update", values={"estimated_close_date": later.isoformat()}))


def _scans(plan: Plan, process: Process, now: dt.datetime) -> list[Action]:
    """The overdue scan finding each stay still open at its due (by `now`), at the due."""
    found = []
    stays = [a for a in plan.actions if a.kind in ENTERING or a.kind in LEAVING]
    for n, action in enumerate(stays):
        if action.kind not in ENTERING:
            continue
        stage = process.stage(action.stage or "")
        assert stage is not None
        due = due_at(action.at, stage.due)
        left = stays[n + 1].at if n + 1 < len(stays) else None
        if due is not None and due <= now and (left is None or left > due):
            found.append(Action(due, "scan", stage.key))
    return found
