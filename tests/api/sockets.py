"""A graphql-transport-ws connection to the ASGI app, in the test's event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette


class Closed(Exception):
    """The server closed the socket."""

    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class Socket:
    """Connects, sends connection_init (with `token` if given) and waits for the ack;
    a refusal raises Closed with the close code."""

    def __init__(
        self,
        app: Starlette,
        token: str | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        scheme: str = "ws",
        query_string: bytes = b"",
    ) -> None:
        self.app = app
        self.token = token
        self.headers = headers or []
        self.scheme = scheme
        self.query_string = query_string
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Messages that came before the answer `subscribe` waits for.
        self._early: list[dict[str, Any]] = []

    async def __aenter__(self) -> Socket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": self.scheme,
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": self.query_string,
            "headers": [(b"host", b"stageflow.test"), *self.headers],
            "subprotocols": ["graphql-transport-ws"],
            "client": ("127.0.0.1", 50000),
            "server": ("stageflow.test", 80),
        }
        receive: Callable[[], Awaitable[dict[str, Any]]] = self.incoming.get
        self.task = asyncio.create_task(self.app(scope, receive, self.outgoing.put))  # type: ignore[arg-type]
        await self.incoming.put({"type": "websocket.connect"})
        accepted = await self._next()
        if accepted["type"] == "websocket.close":
            raise Closed(accepted.get("code", 1000))
        assert accepted["type"] == "websocket.accept", accepted
        payload = {"token": self.token} if self.token else {}
        await self.send({"type": "connection_init", "payload": payload})
        try:
            assert (await self.receive())["type"] == "connection_ack"
        except Closed:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 5)

    async def _next(self, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(self.outgoing.get(), timeout)

    async def send(self, message: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def subscribe(self, op: str, query: str, **variables: Any) -> None:
        """Subscribe, and return once the server has taken the message in: a subscription
        receives what is committed after that (the server handles a socket's messages in
        order, so its answer to a ping that follows says so)."""
        payload = {"query": query, "variables": variables}
        await self.send({"id": op, "type": "subscribe", "payload": payload})
        await self.send({"type": "ping"})
        while (message := await self._protocol())["type"] != "pong":
            self._early.append(message)

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        """The next protocol message, server pings skipped; Closed if the socket closes."""
        if self._early:
            return self._early.pop(0)
        return await self._protocol(timeout)

    async def _protocol(self, timeout: float = 5) -> dict[str, Any]:
        while True:
            message = await self._next(timeout)
            if message["type"] == "websocket.close":
                raise Closed(message.get("code", 1000))
            assert message["type"] == "websocket.send", message
            data: dict[str, Any] = json.loads(message["text"])
            if data["type"] != "ping":
                return data
