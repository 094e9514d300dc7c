"""Databases for tests: a migrated SQLite file per test, or a PostgreSQL database per test.

Set STAGEFLOW_TEST_POSTGRES to an admin URL (`make test-postgres` does) to run on
PostgreSQL; each test gets a database cloned from a migrated template, dropped after.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from server.cli import migrate
from server.settings import Settings

POSTGRES_ADMIN = os.environ.get("STAGEFLOW_TEST_POSTGRES")


def _pg_url(name: str) -> str:
    assert POSTGRES_ADMIN
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests belong to `make test-postgres`; elsewhere they are not collected."""
    if POSTGRES_ADMIN:
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database to copy for each test."""
    if POSTGRES_ADMIN:
        name = f"stageflow_tpl_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        asyncio.run(migrate(Settings(database_url=_pg_url(name))))
        yield name
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "stageflow.db"
        asyncio.run(migrate(Settings(database_url=f"sqlite://{path}")))
        yield str(path)


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    if POSTGRES_ADMIN:
        name = f"stageflow_t_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
        yield _pg_url(name)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path / "stageflow.db"
        shutil.copy(template_database, path)
        yield f"sqlite://{path}"
