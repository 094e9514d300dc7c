"""The demo history's plans: the same from the same seed and end, each record's actions in
time order up to the end, and different from another seed."""

from __future__ import annotations

import datetime as dt
import random

from server.services.history import SEED
from server.services.history_plan import Plan, plan_history
from server.services.seed import templates

NOW = dt.datetime(2026, 11, 18, 15, 30, tzinfo=dt.UTC)


def _plans(seed: int, now: dt.datetime = NOW) -> list[Plan]:
    _, processes = templates()
    by_key = {p.key: p for p in processes}
    return plan_history(
        random.Random(seed),
        by_key,
        now=now,
        days=183,
        owners=["ana", "ben"],
        users=["ana"],
        taken=set(),
    )


def test_a_seed_gives_the_same_plans_every_time() -> None:
    first, again, other = _plans(7), _plans(7), _plans(8)
    assert first == again
    assert first != other


def test_each_record_acts_in_time_order_up_to_the_end() -> None:
    for plan in _plans(7):
        times = [a.at for a in plan.actions]
        assert times == sorted(times)
        assert times[-1] <= NOW
        assert [a.kind for a in plan.actions[:2]] == ["create", "start"]


def test_every_end_shows_each_kind_of_run_in_each_process() -> None:
    """Whenever the demo is seeded, each process's history holds moves back, abandons,
    reactivations and every outcome: the draws do not depend on the day it ends."""
    _, processes = templates()
    by_key = {p.key: p for p in processes}
    for n in range(40):
        now = NOW + dt.timedelta(days=9.3 * n, hours=7 * n)
        kinds: dict[str, set[str]] = {}
        for plan in _plans(SEED, now):
            seen = kinds.setdefault(plan.process, set())
            seen |= {a.kind for a in plan.actions}
            seen |= {f"outcome:{a.outcome}" for a in plan.actions if a.outcome}
        assert len(kinds) == 3, kinds.keys()
        for key, seen in kinds.items():
            outcomes = {f"outcome:{o.key}" for o in by_key[key].outcomes}
            assert {"back", "abandon", "reactivate", *outcomes} <= seen, (now, key, seen)
