"""What every use case runs with, and the transaction each change runs in."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tortoise.exceptions import IntegrityError

from server.db import store, transaction
from server.db.catalog import Catalog
from server.db.outage import DatabaseUnavailable as DatabaseUnavailable
from server.db.outage import OutcomeUnknown as OutcomeUnknown
from server.db.outage import is_transient as is_transient
from server.db.outage import patiently as patiently
from server.domain.errors import (
    DomainError,
    InvalidTransition,
    InvalidValue,
    TransitionCode,
    VersionConflict,
)
from server.domain.events import Event, EventKind
from server.domain.instance import Instance
from server.domain.record import Record
from server.events.bus import LocalBus
from server.events.feed import Hub
from server.events.supervisor import Supervisor
from server.services.credentials import Credentials
from server.services.written import Written


@dataclass(frozen=True)
class Runtime:
    catalog: Catalog
    bus: LocalBus
    hub: Hub
    supervisor: Supervisor
    credentials: Credentials
    written: Written

    @classmethod
    def create(cls) -> Runtime:
        bus = LocalBus()
        supervisor = Supervisor()
        hub = Hub(bus, supervisor)
        credentials, catalog = Credentials(), Catalog()
        hub.observe(credentials.observe, kinds=Credentials.CHANGES)
        hub.observe(catalog.observe, kinds=Catalog.CHANGES)
        return cls(
            catalog=catalog,
            bus=bus,
            hub=hub,
            supervisor=supervisor,
            credentials=credentials,
            written=Written(),
        )


@dataclass(frozen=True)
class Change:
    """A committed change: its event, and the instance and record as they are after it."""

    event: Event
    instance: Instance | None = None
    record: Record | None = None


# Decides a change on the instance and record given, or on those read now (None); None when
# the change is to be made under the locks only.
Decide = Callable[["tuple[Instance, Record] | None"], Awaitable["Decided | None"]]


@dataclass(frozen=True)
class Decided:
    """A change decided on rows read without a lock: each row as read and as decided, and
    the event without its seq."""

    instance: tuple[Instance, Instance]
    record: tuple[Record, Record]
    event: Event


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def commit(
    rt: Runtime,
    change: Callable[[], Awaitable[Change]],
    *,
    kind: EventKind,
    by: str,
    idempotency_key: str | None,
    request: Mapping[str, Any] | None = None,
    visible: store.Visible = None,
    decide: Decide | None = None,
    instance_id: int | None = None,
) -> Change:
    """Run `change` in one transaction with its event row; publish once committed.

    `change` returns the event without its seq; it is numbered and written last, so
    that readers waiting for the numbers before theirs wait as briefly as possible. An idempotency key belongs to the
    acting user: repeated with the same `request` it returns the first outcome instead of
    changing anything again, also while the first is still running; with another request
    it is refused. A first outcome is answered as it is now, for what the user may see now
    (`visible`: the processes they may run; None: all). A lost connection runs the change
    again (server/db/transaction.py).

    Given `decide` and the instance it concerns, the change is first decided on rows read
    without a lock and written in one statement (PostgreSQL: `_at_once`); `change` runs
    only if those rows moved on meanwhile.
    """
    key = check_idempotency_key(idempotency_key)
    digest = request_digest(kind, request) if key is not None else None
    if decide is not None and instance_id is not None and store.writes_at_once():
        done = await _at_once(
            rt,
            decide,
            kind=kind,
            by=by,
            key=key,
            digest=digest,
            visible=visible,
            instance_id=instance_id,
        )
        if done is not None:
            return done

    async def attempt() -> Change | _Earlier:
        if key is not None:
            await store.hold_key(by, key)
            earlier = await store.event_by_key(by, key)
            if earlier is not None:
                return _Earlier(*earlier)
        pending = await change()
        event = await store.append_event(pending.event, idempotency_key=key, request_hash=digest)
        return replace(pending, event=event)

    async def landed(result: Change | _Earlier) -> bool:
        return isinstance(result, _Earlier) or await store.event_landed(result.event)

    try:
        result = await transaction.run(attempt, landed=landed)
    except IntegrityError:
        # Only an event row written under the same key meanwhile breaks a constraint here.
        earlier = await store.event_by_key(by, key) if key is not None else None
        if earlier is None:
            raise
        result = _Earlier(*earlier)
    if isinstance(result, _Earlier):
        return await _replay(result, kind=kind, digest=digest, visible=visible)
    announce(rt, result.event)
    return result


def announce(rt: Runtime, event: Event) -> None:
    """Announce a committed change. What this worker keeps follows its own changes at once;
    other workers' feeds tell them."""
    rt.hub.tell(event)
    rt.bus.publish(event.seq or 0)


MAX_KEY_LENGTH = 200


def check_idempotency_key(key: str | None) -> str | None:
    """A key has 1 to 200 printable characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidValue(
            "idempotencyKey", f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters"
        )
    if not key.isprintable() or any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise InvalidValue("idempotencyKey", "an idempotency key has printable characters only")
    return key


def request_digest(kind: EventKind, request: Mapping[str, Any] | None) -> str:
    """What a key was used for: the kind of change and the request's own values."""
    text = json.dumps(
        {"kind": kind.value, "request": request or {}},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def check_version(kind: str, id: int | None, *, current: int, expected: int | None) -> None:
    """Refuse a change made on a stale read of the object."""
    if expected is not None and expected != current:
        raise VersionConflict(kind, id, current=current, expected=expected)


@dataclass(frozen=True)
class _Earlier:
    """The event an idempotency key already produced."""

    event: Event
    request_hash: str | None


async def _replay(
    earlier: _Earlier, *, kind: EventKind, digest: str | None, visible: store.Visible
) -> Change:
    event = earlier.event
    # Keys stored before requests were recorded carry no digest: their kind must match.
    if event.kind is not kind or earlier.request_hash not in (None, digest):
        raise InvalidTransition(
            TransitionCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was already used for another request",
        )
    # As for a missing id when the user may no longer see what the change concerned.
    instance = (
        await store.get_instance(event.instance_id, visible=visible) if event.instance_id else None
    )
    record = await store.get_record(event.record_id, visible=visible) if event.record_id else None
    return Change(event=event, instance=instance, record=record)


async def _at_once(
    rt: Runtime,
    decide: Decide,
    *,
    kind: EventKind,
    by: str,
    key: str | None,
    digest: str | None,
    visible: store.Visible,
    instance_id: int,
) -> Change | None:
    """The change decided on rows read without a lock and written in one statement, if
    they are still as they were read: first those this worker wrote last, then those read
    now. None when a row moved on each time (nothing was written: the caller runs it
    locked)."""
    kept = rt.written.get(instance_id)
    for rows in (kept, None) if kept is not None else (None,):
        try:
            decided = await decide(rows)
            if decided is None:
                break
            event = await store.write_at_once(
                decided.instance,
                decided.record,
                decided.event,
                idempotency_key=key,
                request_hash=digest,
            )
        except (DomainError, IntegrityError) as refused:
            if isinstance(refused, DomainError) and rows is not None:
                continue  # decided on what may be out of date: judged again on what is there
            # The key's first outcome, if it has one (an IntegrityError: it was stored meanwhile).
            earlier = await store.event_by_key(by, key) if key is not None else None
            if earlier is None:
                raise
            return await _replay(_Earlier(*earlier), kind=kind, digest=digest, visible=visible)
        if event is None:
            continue
        instance, record = decided.instance[1], decided.record[1]
        rt.written.put(instance, record)
        announce(rt, event)
        return Change(event=event, instance=instance, record=record)
    rt.written.drop(instance_id)
    return None
