"""The app behind httpx's ASGI transport, seeded with the ready-to-use processes."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from graphql_client import GraphQL
from starlette.applications import Starlette

from server.app import create_app
from server.services.seed import seed
from server.settings import Settings


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    application = create_app(Settings(database_url=database_url))
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


@pytest.fixture
async def gql(app: Starlette) -> AsyncIterator[GraphQL]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stageflow.test") as http:
        yield GraphQL(http, app)


# The block a statement runs in, if any: a task started inside it (a request's) inherits
# it; the app's own loops, started before, do not, so what they run meanwhile is not
# counted.
_COUNTING: contextvars.ContextVar[_Counter | None] = contextvars.ContextVar(
    "counting", default=None
)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _COUNTING.get() is not self:
            return
        text = record.getMessage().lstrip().upper()
        if text.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(record.getMessage())


@contextmanager
def _count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block, by it or by the tasks it starts."""
    logger = logging.getLogger("tortoise.db_client")
    counter = _Counter()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    mine = _COUNTING.set(counter)
    try:
        yield counter.statements
    finally:
        _COUNTING.reset(mine)
        logger.removeHandler(counter)
        logger.setLevel(level)


@pytest.fixture
def count_queries() -> Any:
    """`with count_queries() as statements:` collects the SQL run inside the block."""
    return _count_queries
