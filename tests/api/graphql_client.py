"""A GraphQL client for the API tests: the app behind httpx's ASGI transport."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from users import make_user


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
