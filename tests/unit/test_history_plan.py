"""The demo history's plans: the same from the same seed and end, each record's actions in
time order up to the end, and different from another seed."""

from __future__ import annotations

import datetime as dt
import random

from server.services.history_plan import Plan, plan_history
from server.services.seed import templates

NOW = dt.datetime(2026, 11, 18, 15, 30, tzinfo=dt.UTC)


def _plans(seed: int) -> list[Plan]:
    _, processes = templates()
    by_key = {p.key: p for p in processes}
    return plan_history(
        random.Random(seed),
        by_key,
        now=NOW,
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
