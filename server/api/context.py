"""Per-request context: who acts, the runtime, and DataLoaders that batch reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from server.db.accounts import Credential
from server.db.store import Visible
from server.domain.access import User
from server.domain.errors import Unauthenticated
from server.domain.events import Event, EventKind
from server.domain.instance import Instance, Visit
from server.domain.process import Process
from server.domain.record import Record
from server.services import accounts, queries
from server.services.accounts import SignInLimits
from server.services.runtime import Runtime

K = TypeVar("K")
V = TypeVar("V")

SESSION_COOKIE = "stageflow_session"
CSRF_HEADER = "x-csrf-token"
ANONYMOUS = "anonymous"
# Where a request notes the rows its process bar was built from (server/api/kept.py).
BAR_ROWS = "bar rows"


def _ordered(keys: Iterable[K], found: Mapping[K, V], default: Any = None) -> list[V]:
    return [found.get(key, default) for key in keys]


class Loaders:
    """The request's DataLoaders, each made when first used: most requests use one or two."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @cached_property
    def processes(self) -> DataLoader[int, Process | None]:
        async def load(keys: list[int]) -> list[Process | None]:
            return _ordered(keys, await self.runtime.catalog.processes(keys))

        return DataLoader(load)

    @cached_property
    def versions(self) -> DataLoader[tuple[int, int], Process | None]:
        async def load(keys: list[tuple[int, int]]) -> list[Process | None]:
            return _ordered(keys, await self.runtime.catalog.versions(keys))

        return DataLoader(load)

    @cached_property
    def records(self) -> DataLoader[int, Record | None]:
        async def load(keys: list[int]) -> list[Record | None]:
            return _ordered(keys, await queries.records_by_id(keys))

        return DataLoader(load)

    @cached_property
    def instances(self) -> DataLoader[int, Instance | None]:
        async def load(keys: list[int]) -> list[Instance | None]:
            return _ordered(keys, await queries.instances_by_id(keys))

        return DataLoader(load)

    @cached_property
    def visits(self) -> DataLoader[tuple[int, int], list[Visit]]:
        """(instance id, how many): the newest stays of an instance."""

        async def load(keys: list[tuple[int, int]]) -> list[list[Visit]]:
            found: dict[tuple[int, int], list[Visit]] = {}
            for last in {last for _, last in keys}:
                ids = [instance for instance, n in keys if n == last]
                for instance, visits in (await queries.last_visits(ids, last)).items():
                    found[(instance, last)] = visits
            return [found.get(key, []) for key in keys]

        return DataLoader(load)

    @cached_property
    def links(self) -> DataLoader[int, dict[str, int]]:
        """The records each instance crossed into, by entity."""

        async def load(keys: list[int]) -> list[dict[str, int]]:
            return _ordered(keys, await queries.links_of(keys), {})

        return DataLoader(load)

    @cached_property
    def record_instances(self) -> DataLoader[int, list[Instance]]:
        async def load(keys: list[int]) -> list[list[Instance]]:
            return _ordered(keys, await queries.instances_of_records(keys), [])

        return DataLoader(load)

    @cached_property
    def events(self) -> DataLoader[tuple[int, int, int], list[Event]]:
        """(instance id, after seq, how many): a page of an instance's events."""

        async def load(keys: list[tuple[int, int, int]]) -> list[list[Event]]:
            found: dict[tuple[int, int, int], list[Event]] = {}
            for after, first in {(after, first) for _, after, first in keys}:
                ids = [i for i, a, f in keys if (a, f) == (after, first)]
                pages = await queries.event_pages(ids, after_seq=after, first=first)
                for instance, events in pages.items():
                    found[(instance, after, first)] = events
            return [found.get(key, []) for key in keys]

        return DataLoader(load)

    @cached_property
    def migrations(self) -> DataLoader[int, list[Event]]:
        async def load(keys: list[int]) -> list[list[Event]]:
            found = await queries.events_of_instances(keys, kinds=[EventKind.INSTANCE_MIGRATED])
            return _ordered(keys, found, [])

        return DataLoader(load)


@dataclass(frozen=True)
class BarRows:
    """The rows a process bar's answer was built from, by the versions they were at."""

    instance_id: int
    instance_version: int
    record_version: int
    process_id: int

    @classmethod
    def of(cls, instance: Instance, record: Record) -> BarRows:
        assert instance.id is not None and record.id is not None
        return cls(instance.id, instance.version, record.version, instance.process_id)


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    runtime: Runtime
    loaders: Loaders
    # Who is signed in, and how: a session cookie (which mutations must pair with the
    # CSRF header) or a bearer token (HTTP header, or `token` in connection_init).
    credential: Credential | None = None
    via_cookie: bool = False
    sign_in_limits: SignInLimits = field(default_factory=SignInLimits)
    secure_cookie: bool = False
    # Webhooks may name private addresses (STAGEFLOW_WEBHOOK_ALLOW_PRIVATE).
    webhooks_reach_private: bool = False
    connection_params: dict[str, Any] | None = None
    memo: dict[Any, Any] = field(default_factory=dict)
    # The seq of the event a subscription is resolving now.
    streamed_seq: int = 0

    @classmethod
    def for_stream(cls, context: Context) -> Context:
        """A context of its own for a stream shared by many sockets of one credential."""
        return cls(
            request=context.request,
            response=None,
            runtime=context.runtime,
            loaders=Loaders(context.runtime),
            credential=context.credential,
            via_cookie=context.via_cookie,
        )

    @property
    def user(self) -> User | None:
        return self.credential.user if self.credential else None

    @property
    def actor(self) -> str:
        return self.credential.user.name if self.credential else ANONYMOUS

    @property
    def address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    def require_credential(self) -> Credential:
        if self.credential is None:
            raise Unauthenticated()
        return self.credential

    def require_user(self) -> User:
        return self.require_credential().user

    async def visible(self) -> Visible:
        """Ids of the processes this user may run (None: all); read once per request."""
        if "visible" not in self.memo:
            self.memo["visible"] = await self.runtime.catalog.runnable_ids(self.require_user())
        visible: Visible = self.memo["visible"]
        return visible

    async def sees_process(self, process_id: int) -> bool:
        visible = await self.visible()
        return visible is None or process_id in visible

    async def recheck(self) -> None:
        """Before each event of a long-lived operation: is the credential still good?"""
        if self.credential is None:
            raise Unauthenticated()
        fresh = await accounts.still_valid(self.runtime, self.credential.id)
        if fresh is None:
            self.credential = None
            raise Unauthenticated("the session or token was revoked")
        self.credential = fresh
        self.memo.pop("visible", None)

    def set_session_cookie(self, secret: str, *, max_age: int) -> None:
        if isinstance(self.response, Response):
            self.response.set_cookie(
                SESSION_COOKIE,
                secret,
                max_age=max_age,
                httponly=True,
                samesite="strict",
                secure=self.secure_cookie,
                path="/",
            )

    def clear_session_cookie(self) -> None:
        if isinstance(self.response, Response):
            self.response.delete_cookie(
                SESSION_COOKIE,
                httponly=True,
                samesite="strict",
                secure=self.secure_cookie,
                path="/",
            )

    def refresh(self) -> None:
        """Forget what was read: a websocket's context outlives many events."""
        self.loaders = Loaders(self.runtime)
        self.memo = {}


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, secret = (headers.get("authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


async def build_context(
    runtime: Runtime,
    request: Request | WebSocket,
    response: Response | WebSocket | None,
    *,
    sign_in_limits: SignInLimits | None = None,
    secure_cookie: bool = False,
    webhooks_reach_private: bool = False,
) -> Context:
    """Who asks: a bearer token wins over the session cookie."""
    context = Context(
        request=request,
        response=response,
        runtime=runtime,
        loaders=Loaders(runtime),
        sign_in_limits=sign_in_limits or SignInLimits(),
        secure_cookie=secure_cookie,
        webhooks_reach_private=webhooks_reach_private,
    )
    context.credential, context.via_cookie = await credential_of(runtime, request)
    return context


async def credential_of(
    runtime: Runtime, request: Request | WebSocket
) -> tuple[Credential | None, bool]:
    """Who asks, and whether by the session cookie: a bearer token wins over the cookie."""
    token = bearer(request.headers)
    if token is not None:
        credential = await accounts.authenticate(runtime, token)
        return (credential if credential and credential.kind == accounts.TOKEN else None), False
    if (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        credential = await accounts.authenticate(runtime, cookie)
        if credential is not None and credential.kind == accounts.SESSION:
            return credential, True
    return None, False


def ctx(info: Info) -> Context:
    context: Context = info.context
    return context


async def visible_instance(context: Context, instance_id: int) -> Instance:
    """The instance, if this user may run its process; else it is not found."""
    return await queries.get_instance(instance_id, visible=await context.visible())


async def visible_instance_with_record(context: Context, instance_id: int) -> Instance:
    """`visible_instance`, its record read in the same statement and kept for the request
    (what the process bar needs, in one statement)."""
    visible = await context.visible()
    instance, record = await queries.get_instance_and_record(instance_id, visible=visible)
    context.loaders.records.prime(instance.record_id, record)
    context.memo[BAR_ROWS] = BarRows.of(instance, record)
    return instance


async def visible_record(context: Context, record_id: int) -> Record:
    """The record, if it has no run yet or a run of a process this user may run."""
    return await queries.get_record(record_id, visible=await context.visible())
