"""A transaction that meets others in a deadlock runs again, several times if it must, and
gives up (raising the deadlock) only after CLASHES tries in all."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from server.db import transaction
from server.db.models import CounterRow


def _deadlock() -> asyncpg.exceptions.DeadlockDetectedError:
    return asyncpg.exceptions.DeadlockDetectedError("deadlock detected")


@pytest.fixture
def tries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The tries of a body, counted; no pause between them."""
    monkeypatch.setattr(transaction, "clash_pause", lambda clashes: 0)
    return []


async def test_a_transaction_meeting_deadlocks_in_a_row_commits_in_the_end(
    app: Any, tries: list[int]
) -> None:
    async def body() -> int:
        tries.append(1)
        await CounterRow.create(name=f"clash-{len(tries)}", value=len(tries))
        if len(tries) < transaction.CLASHES:
            raise _deadlock()
        return len(tries)

    assert await transaction.run(body) == transaction.CLASHES
    # Every try but the last was rolled back whole.
    names = await CounterRow.filter(name__startswith="clash-").values_list("name", flat=True)
    assert names == [f"clash-{transaction.CLASHES}"]


async def test_a_transaction_that_keeps_meeting_deadlocks_gives_up_with_the_deadlock(
    app: Any, tries: list[int]
) -> None:
    async def body() -> None:
        tries.append(1)
        raise _deadlock()

    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await transaction.run(body)
    assert len(tries) == transaction.CLASHES


def test_the_pause_after_a_deadlock_grows_and_is_bounded() -> None:
    pauses = [transaction.clash_pause(n) for n in range(1, 12)]
    assert all(0.005 <= p <= 0.32 for p in pauses), pauses
    assert transaction.clash_pause(1) <= 0.01 < 0.08 <= transaction.clash_pause(5) * 2
