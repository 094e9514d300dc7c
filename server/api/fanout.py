"""Live subscriptions shared: identical operations run once, every socket gets the same text.

A live-only subscription (no `afterSeq`) sent by many sockets with the same document,
operation name, variables and credential (session or token) has one answer per event. The first such
operation opens a shared stream that executes the document once per event, encodes
the payload once, and sends it to every socket following the stream, each under its
own operation id. Operations with a replay (`afterSeq` set) run on their own, because
what they receive depends on when they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from server.api.context import Context
from server.api.limits import Limits
from server.api.subscription import SUBSCRIBED_AT

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
        Operation,
    )

    Handler = BaseGraphQLTransportWSHandler[Context, None]

log = logging.getLogger("stageflow.fanout")

REPLAY_ARGUMENT = "afterSeq"


@lru_cache(maxsize=512)
def _replay_variables(
    query: str, operation_name: str | None, limits: Limits | None
) -> tuple[str, ...] | None:
    """The variables that must be null for this operation to be live-only.

    None when the operation cannot be shared: not a subscription, not parseable within
    the limits, a literal replay seq, or a root selection other than plain fields.
    """
    try:
        document = parse(
            query,
            max_tokens=limits.max_tokens if limits else None,
            max_source_length=limits.max_query_length if limits else None,
        )
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
        return None
    operation = operations[0]
    defaults = {
        v.variable.name.value: v.default_value for v in operation.variable_definitions or ()
    }
    names: list[str] = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None
        for argument in selection.arguments or ():
            if argument.name.value != REPLAY_ARGUMENT or isinstance(argument.value, NullValueNode):
                continue
            if not isinstance(argument.value, VariableNode):
                return None
            name = argument.value.name.value
            if defaults.get(name) is not None and not isinstance(defaults[name], NullValueNode):
                return None
            names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class _Key:
    query: str
    operation_name: str | None
    variables: str
    # Sharing stays within one credential: what it may see, and when it is revoked.
    credential: int | None


@dataclass(eq=False)
class _Member:
    handler: Handler
    operation: Operation[Context, None]
    # The last seq before the client subscribed: it receives what comes after.
    after: int | None = None
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = '{"id":' + json.dumps(self.operation.id) + ',"type":"next","payload":'

    @property
    def active(self) -> bool:
        """Still registered on its socket: a `complete` from the client removes it at once."""
        return self.handler.operations.get(self.operation.id) is self.operation


@dataclass(eq=False)
class _Stream:
    key: _Key
    # Where it began following, and the seq of the last event it sent.
    start: int | None = None
    sent: int = 0
    members: set[_Member] = field(default_factory=set)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def covers(self, after: int | None) -> bool:
        """Whether a client that subscribed after `after` would miss nothing by joining:
        the stream has sent nothing newer and did not begin after it."""
        if after is None:
            return True
        return self.sent <= after and (self.start is None or self.start <= after)


class Fanout:
    """The shared streams of one app."""

    def __init__(self, schema: BaseSchema, *, limits: Limits | None = None) -> None:
        self.schema = schema
        self.limits = limits
        self._streams: dict[_Key, _Stream] = {}
        self.solo = 0

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def shared(self) -> int:
        return sum(len(s.members) for s in self._streams.values())

    def key(self, operation: Operation[Context, None], context: Context) -> _Key | None:
        """The group this operation belongs to, or None if it must run on its own."""
        replay = _replay_variables(operation.query, operation.operation_name, self.limits)
        if replay is None:
            return None
        variables = operation.variables or {}
        if any(variables.get(name) is not None for name in replay):
            return None
        try:
            canonical = json.dumps(variables, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        credential = context.credential.id if context.credential else None
        return _Key(operation.query, operation.operation_name, canonical, credential)

    async def follow(
        self, key: _Key, handler: Handler, operation: Operation[Context, None]
    ) -> bool:
        """Receive the shared stream's results until it ends or the operation is cancelled.

        False, at once, when the stream has gone past where this client subscribed: it
        must run on its own to receive what it would miss.
        """
        after = SUBSCRIBED_AT.get()
        stream = self._streams.get(key)
        if stream is not None and not stream.covers(after):
            return False
        if stream is None:
            stream = _Stream(key, start=after)
            self._streams[key] = stream
            context = Context.for_stream(handler.context)
            stream.task = asyncio.create_task(self._run(stream, context), name="stageflow-fanout")
        member = _Member(handler, operation, after)
        stream.members.add(member)
        try:
            await stream.finished.wait()
        finally:
            stream.members.discard(member)
            if not stream.members and not stream.finished.is_set():
                self._close(stream)
                assert stream.task is not None
                stream.task.cancel()
        return True

    def _close(self, stream: _Stream) -> None:
        """No one joins the stream from here on."""
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]

    async def _run(self, stream: _Stream, context: Context) -> None:
        key = stream.key
        try:
            source = await self.schema.stream(
                key.query,
                variable_values=json.loads(key.variables),
                context_value=context,
                operation_name=key.operation_name,
            )
            async with aclosing(source):
                async for result in source:
                    if isinstance(result, PreExecutionError):
                        await self._fail(stream, result.errors or [])
                        return
                    if not isinstance(result, ExecutionResult):
                        error = GraphQLError("Incremental delivery is not supported here")
                        await self._fail(stream, [error])
                        return
                    await self._send(stream, self._encode(result), context.streamed_seq)
            await self._complete(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Shared subscription failed")
            await self._complete(stream)
        finally:
            self._close(stream)
            stream.finished.set()

    @staticmethod
    def _encode(result: ExecutionResult) -> str:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        return json.dumps(payload, separators=(",", ":"))

    async def _send(self, stream: _Stream, payload: str, seq: int) -> None:
        """`seq`: the event the payload shows (0 for an answer that is not an event)."""
        stream.sent = max(stream.sent, seq)
        for member in list(stream.members):
            if not member.active or (seq and member.after is not None and seq <= member.after):
                continue
            try:
                await member.handler.websocket.ws.send_text(member.prefix + payload + "}")  # type: ignore[attr-defined]
            except Exception:  # a closed socket; its handler cleans up its operations
                stream.members.discard(member)

    async def _fail(self, stream: _Stream, errors: list[GraphQLError]) -> None:
        self._close(stream)
        for member in list(stream.members):
            if member.active:
                with contextlib.suppress(Exception):
                    await member.operation.send_initial_errors(errors)

    async def _complete(self, stream: _Stream) -> None:
        self._close(stream)
        for member in list(stream.members):
            if member.active:
                with contextlib.suppress(Exception):
                    await member.operation.send_operation_message(
                        {"id": member.operation.id, "type": "complete"}
                    )
