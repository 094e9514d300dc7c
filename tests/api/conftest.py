"""The app behind httpx's ASGI transport, seeded with the ready-to-use processes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from users import make_user

from server.app import create_app
from server.services.seed import seed
from server.settings import Settings


class GraphQL:
    """Posts documents to /graphql as a user (default: the admin `demo`, made on first
    use); `execute` insists on an answer without errors."""

    def __init__(self, http: httpx.AsyncClient, app: Starlette) -> None:
        self.http = http
        self.app = app
        self.tokens: dict[str, str] = {}

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = (await make_user(user))[1]
        return self.tokens[user]

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: str | None = "demo",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if user is not None:
            sent["authorization"] = f"Bearer {await self.token(user)}"
        body = {"query": query, "variables": variables or {}}
        return await self.http.post("/graphql", json=body, headers=sent)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, user: str | None = "demo"
    ) -> dict[str, Any]:
        response = await self.post(query, variables, user=user)
        payload = response.json()
        assert response.status_code == 200, payload
        assert "errors" not in payload, payload["errors"]
        return payload["data"]  # type: ignore[no-any-return]


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


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().lstrip().upper()
        if text.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(record.getMessage())


@contextmanager
def _count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block."""
    logger = logging.getLogger("tortoise.db_client")
    counter = _Counter()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter.statements
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)


@pytest.fixture
def count_queries() -> Any:
    """`with count_queries() as statements:` collects the SQL run inside the block."""
    return _count_queries
