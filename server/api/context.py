"""Per-request context: who acts, the runtime, and DataLoaders that batch reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from server.domain.events import Event
from server.domain.instance import Instance, Visit
from server.domain.process import Process
from server.domain.record import Record
from server.services import queries
from server.services.runtime import Runtime

K = TypeVar("K")
V = TypeVar("V")

ACTOR_HEADER = "x-stageflow-user"
DEFAULT_ACTOR = "demo"


def _ordered(keys: Iterable[K], found: Mapping[K, V], default: Any = None) -> list[V]:
    return [found.get(key, default) for key in keys]


@dataclass
class Loaders:
    runtime: Runtime
    processes: DataLoader[int, Process | None] = field(init=False)
    versions: DataLoader[tuple[int, int], Process | None] = field(init=False)
    records: DataLoader[int, Record | None] = field(init=False)
    instances: DataLoader[int, Instance | None] = field(init=False)
    visits: DataLoader[int, list[Visit]] = field(init=False)
    record_instances: DataLoader[int, list[Instance]] = field(init=False)
    events: DataLoader[int, list[Event]] = field(init=False)

    def __post_init__(self) -> None:
        catalog = self.runtime.catalog

        async def processes(keys: list[int]) -> list[Process | None]:
            return _ordered(keys, await catalog.processes(keys))

        async def versions(keys: list[tuple[int, int]]) -> list[Process | None]:
            return _ordered(keys, await catalog.versions(keys))

        async def records(keys: list[int]) -> list[Record | None]:
            return _ordered(keys, await queries.records_by_id(keys))

        async def instances(keys: list[int]) -> list[Instance | None]:
            return _ordered(keys, await queries.instances_by_id(keys))

        async def visits(keys: list[int]) -> list[list[Visit]]:
            return _ordered(keys, await queries.visits_of(keys), [])

        async def record_instances(keys: list[int]) -> list[list[Instance]]:
            return _ordered(keys, await queries.instances_of_records(keys), [])

        async def events(keys: list[int]) -> list[list[Event]]:
            return _ordered(keys, await queries.events_of_instances(keys), [])

        self.processes = DataLoader(processes)
        self.versions = DataLoader(versions)
        self.records = DataLoader(records)
        self.instances = DataLoader(instances)
        self.visits = DataLoader(visits)
        self.record_instances = DataLoader(record_instances)
        self.events = DataLoader(events)


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    runtime: Runtime
    actor: str
    loaders: Loaders
    memo: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def for_stream(cls, context: Context) -> Context:
        """A context of its own for a stream shared by many sockets of one actor."""
        return cls(
            request=context.request,
            response=None,
            runtime=context.runtime,
            actor=context.actor,
            loaders=Loaders(context.runtime),
        )

    def refresh(self) -> None:
        """Forget what was read: a websocket's context outlives many events."""
        self.loaders = Loaders(self.runtime)
        self.memo = {}


def build_context(
    runtime: Runtime, request: Request | WebSocket, response: Response | WebSocket | None
) -> Context:
    # Until accounts exist, the acting user is a label the client gives.
    actor = (request.headers.get(ACTOR_HEADER) or DEFAULT_ACTOR).strip()[:200] or DEFAULT_ACTOR
    return Context(
        request=request,
        response=response,
        runtime=runtime,
        actor=actor,
        loaders=Loaders(runtime),
    )


def ctx(info: Info) -> Context:
    context: Context = info.context
    return context
