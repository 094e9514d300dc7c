"""A task goes on after the database's backends are cut: the transaction whose BEGIN met a
dead backend is not left behind as the task's connection."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from tortoise.connection import get_connection

from server.db import transaction
from server.db.models import CounterRow
from server.events.postgres import asyncpg_dsn


async def _cut(database_url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def _events() -> Any:
    return await CounterRow.get(name="event").values_list("value", flat=True)


@pytest.mark.postgres
async def test_one_task_runs_transactions_again_after_its_backends_are_cut(
    app: Any, database_url: str
) -> None:
    client = get_connection("default")
    before = await transaction.run(_events)
    for _ in range(3):
        assert await _cut(database_url) >= 1
        # In the same task, as a supervised loop runs: the retry takes a fresh connection.
        assert await transaction.run(_events) == before
        assert get_connection("default") is client
