"""The websocket's protocol, graphql-transport-ws, as Stageflow speaks it: server pings,
live subscriptions shared, each starting where its subscribe message arrived, malformed
messages refused, and sockets registered under their credential for revocation."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from server.api.context import Context
from server.api.fanout import Fanout
from server.api.sockets import UNAUTHORIZED
from server.api.subscription import SUBSCRIBED_AT
from server.services import queries
from server.services.runtime import DatabaseUnavailable, is_transient


class TransportHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with server pings, so idle proxies keep the socket open and a
    dead peer is noticed, and with identical live subscriptions sharing one execution."""

    _pinger: asyncio.Task[None] | None = None
    _held: int | None = None  # the credential this socket is registered under

    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        interval = self.view.ping_interval  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(interval)
                if self.connection_acknowledged:
                    await self.send_message({"type": "ping"})

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Live-only subscriptions identical to others follow one shared execution."""
        fanout: Fanout = self.view.fanout  # type: ignore[attr-defined]
        key = fanout.key(operation, self.context)
        if key is not None and await fanout.follow(key, self, operation):
            return
        fanout.solo += 1
        try:
            await super().run_operation(operation)
        finally:
            fanout.solo -= 1

    async def handle_subscribe(self, message: Any) -> None:
        """An operation starts where the client sent it: the database's last seq now is
        where a subscription without afterSeq begins (None if the database is away: then
        it begins where this worker's feed is)."""
        newest = None
        if self.connection_acknowledged:
            try:
                newest = await queries.last_seq()
            except Exception as error:
                if not (isinstance(error, DatabaseUnavailable) or is_transient(error)):
                    raise
        token = SUBSCRIBED_AT.set(newest)
        try:
            await super().handle_subscribe(message)
        finally:
            SUBSCRIBED_AT.reset(token)

    async def handle_message(self, message: Any) -> None:
        """A message that is no object, or a subscribe or complete whose members are not of
        their types, closes the socket with 4400, as the protocol says."""
        problem = _message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        credential = self.context.credential
        if self.connection_acknowledged and credential is not None:
            self._held = credential.id
            self.view.sockets.add(credential, self)  # type: ignore[attr-defined]

    async def close_unauthorized(self) -> None:
        """The credential was revoked (or its user made inactive): end the connection."""
        await self.websocket.close(code=UNAUTHORIZED, reason="Unauthorized")

    async def shutdown(self) -> None:
        if self._held is not None:
            self.view.sockets.discard(self._held, self)  # type: ignore[attr-defined]
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        await super().shutdown()


_PAYLOAD: dict[str, tuple[type, ...]] = {
    "query": (str,),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}
_BAD_PAYLOAD = (
    "a subscribe payload has a query (text), and may have variables and extensions "
    "(objects) and an operationName (text)"
)


def _message_problem(message: Any) -> str | None:
    """What is wrong with the shape of a graphql-transport-ws message, if anything."""
    if not isinstance(message, dict):
        return "a message is a JSON object"
    if message.get("type") not in ("subscribe", "complete"):
        return None
    if not isinstance(message.get("id"), str):
        return "an operation's id is text"
    payload = message.get("payload")
    if message["type"] == "subscribe" and (
        not isinstance(payload, dict)
        or any(not isinstance(payload.get(key), kinds) for key, kinds in _PAYLOAD.items())
    ):
        return _BAD_PAYLOAD
    return None
