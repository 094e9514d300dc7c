"""Sending webhook deliveries: planned from the event log, signed, tried, retried, settled.

Every worker runs one sender under the supervisor. Each plans what the log holds (one at a
time: server/db/deliveries.py), leases due deliveries up to its concurrency, sends each,
and settles it: delivered on a 2xx, else tried again after a growing, jittered pause, until
the retry window has passed. Failed tries in a row pause a webhook, with the reason, as one
audited event. A delivery whose sender died is leased again once its lease runs out:
receivers get each event at least once, and drop a repeat by its delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from server.db import deliveries, store, transaction, webhooks
from server.db.deliveries import Leased, Tried
from server.db.outage import patiently
from server.db.snapshots import Snapshot, snapshots
from server.domain.events import WEBHOOK_KINDS, Event, EventKind
from server.domain.webhook import SIGNATURE_HEADER, retry_delay, signature
from server.services import outbound
from server.services.runtime import Runtime, utcnow
from server.settings import Settings

log = logging.getLogger("stageflow.webhooks")

# How long an idle sender waits before looking again (deliveries another worker planned,
# a webhook resumed): announcements of new events wake it sooner.
IDLE_SECONDS = 1.0
ACTOR = "stageflow"


class Sender:
    NAME = "webhook-sender"

    def __init__(
        self,
        rt: Runtime,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.rt = rt
        self.settings = settings
        self.clock = clock
        self.idle_seconds = idle_seconds
        # Tries by how they went, for /metrics.
        self.tries: Counter[str] = Counter()
        self._inflight: set[asyncio.Task[None]] = set()
        # Tries that ended, to settle together.
        self._tried: list[Tried] = []
        self._wake = asyncio.Event()
        # Whether any webhook exists (None: to be read again). Without one, a sender reads
        # nothing: a change to webhooks, told by the feed, makes it look again.
        self._any: bool | None = None
        self._told = 0
        rt.hub.observe(self._observe, kinds=WEBHOOK_KINDS)

    def _observe(self, event: Event) -> None:
        if event.kind in WEBHOOK_KINDS:
            self._any = None
            self._told += 1
            self._wake.set()

    async def _webhooks_exist(self) -> bool | None:
        """Whether any webhook exists; None if a change to webhooks was told meanwhile."""
        told = self._told
        exist = bool(await webhooks.current_webhooks())
        return exist if told == self._told else None

    def start(self) -> None:
        self.rt.supervisor.start(self.NAME, self._run)

    async def stop(self) -> None:
        await self.rt.supervisor.stop(self.NAME)

    async def _run(self) -> None:
        try:
            while True:
                # Cleared before looking: whatever happens from here on wakes the wait below.
                self._wake.clear()
                seen = self.rt.bus.last_seq
                settled = await self._settle()
                if self._any is None:
                    self._any = await self._webhooks_exist()
                if self._any:
                    planned = await self.plan()
                    leased = await self._lease()
                    if planned or leased or settled:
                        continue
                if self._any is None:
                    continue
                await self._idle(seen if self._any else None)
        finally:
            for task in self._inflight:
                task.cancel()
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            self._inflight.clear()
            # Tries that ended stay unsettled if the database is away: their leases run
            # out and they are sent again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._settle(), timeout=2)

    async def plan(self) -> int:
        """Plan what the log holds now; the number of events read."""
        read = 0
        while True:
            count = await transaction.run(lambda: deliveries.plan(now=self.clock()))
            if not count:
                return read
            read += count
            if count < deliveries.PLAN_BATCH:
                return read

    async def _lease(self) -> int:
        """Lease what is due, once a quarter of the tries at once have ended (or none is in
        flight), and send each: one lease, and one read of what the batch tells, for many."""
        limit = self.settings.webhook_concurrency
        free = limit - len(self._inflight)
        if free <= 0 or (self._inflight and free < max(1, limit // 4)):
            return 0
        taken = await transaction.run(
            lambda: deliveries.lease(
                now=self.clock(),
                limit=free,
                lease_seconds=self.settings.webhook_timeout_seconds
                + self.settings.webhook_lease_seconds,
            )
        )
        if not taken:
            return 0
        told = await patiently(lambda: snapshots([leased.seq for leased in taken]))
        targets = await patiently(lambda: webhooks.targets_of(t.webhook_id for t in taken))
        for leased in taken:
            body = self.body(leased, told.get(leased.seq))
            task = asyncio.create_task(self._try(leased, body, targets.get(leased.webhook_id)))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(taken)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("sending a delivery failed", exc_info=task.exception())

    async def _idle(self, seen: int | None) -> None:
        """Wait for something to do: a try ended, a newer event (`seen`: the last one known
        when this round began; None: events do not matter, no webhook wants them)."""
        pause = self.idle_seconds if seen is not None else None
        due = await deliveries.next_due() if seen is not None else None
        if pause is not None and due is not None:
            pause = max(0.0, min(pause, (due - self.clock()).total_seconds()))
        if pause is not None and pause <= 0 and self._inflight:
            pause = self.idle_seconds  # what is due waits for an earlier one in flight
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
        if seen is not None:
            waits.append(asyncio.ensure_future(self.rt.bus.wait_beyond(seen)))
        try:
            await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await wait

    async def send_now(self) -> int:
        """Plan, then lease, send and settle what is due, once; the number of tries (for
        tests)."""
        await self.plan()
        taken = await self._lease()
        await asyncio.gather(*list(self._inflight), return_exceptions=True)
        await self._settle()
        return taken

    async def _try(
        self, leased: Leased, body: bytes | None, target: tuple[str, str] | None
    ) -> None:
        status: int | None
        error: str | None
        if target is None or body is None:
            status, error, took = None, "the webhook or its event is gone", 0
        else:
            url, secret = target
            sent = await outbound.post(
                url,
                body=body,
                headers=self.headers(leased, secret=secret, body=body),
                timeout=self.settings.webhook_timeout_seconds,
                allow_private=self.settings.webhook_allow_private,
                max_bytes=self.settings.webhook_response_bytes,
            )
            status, error, took = sent.status, sent.error, sent.duration_ms
        ok = status is not None and 200 <= status < 300
        self.tries["delivered" if ok else "failed"] += 1
        now = self.clock()
        again = None
        if not ok and target is not None and body is not None:
            pause = retry_delay(
                leased.attempts,
                first=self.settings.webhook_retry_first_seconds,
                longest=self.settings.webhook_retry_longest_seconds,
            )
            again = now + dt.timedelta(seconds=pause)
            if again > leased.created_at + dt.timedelta(hours=self.settings.webhook_retry_hours):
                again = None
        if not ok:
            log.info("delivery %s (seq %s) failed: %s", leased.uid, leased.seq, error)
        self._tried.append(Tried(leased, now, status, error, took, again))

    async def _settle(self) -> int:
        """Settle the tries that ended, in one transaction; announce any webhook paused."""
        tried, self._tried = self._tried, []
        if not tried:
            return 0
        pause_after = self.settings.webhook_pause_after

        async def settle() -> list[Event]:
            paused = await deliveries.settle(tried, pause_after=pause_after)
            return [
                await store.append_event(
                    Event(EventKind.WEBHOOK_PAUSED, ACTOR, tried[-1].at, after=fields)
                )
                for fields in paused
            ]

        try:
            events = await transaction.run(settle)
        except BaseException:
            self._tried = tried + self._tried  # settled on the next round
            raise
        for event in events:
            log.warning("webhook paused: %s", (event.after or {}).get("reason"))
            self.rt.hub.tell(event)
            self.rt.bus.publish(event.seq or 0)
        return len(tried)

    def headers(self, leased: Leased, *, secret: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        return {
            "Stageflow-Delivery": leased.uid,
            "Stageflow-Event-Seq": str(leased.seq),
            "Stageflow-Timestamp": str(timestamp),
            "Stageflow-Webhook-Id": str(leased.webhook_id),
            SIGNATURE_HEADER: signature(secret, timestamp=timestamp, body=body),
        }

    def body(self, leased: Leased, told: Snapshot | None) -> bytes | None:
        """The delivery's JSON: the event, and its instance and record as they were after it.
        The same bytes at every try."""
        if told is None:
            return None
        event = told.event
        payload: dict[str, Any] = {
            "id": leased.uid,
            "webhookId": str(leased.webhook_id),
            "topics": list(leased.topics),
            "event": {
                "seq": event.seq,
                "kind": event.kind.value,
                "actor": event.actor,
                "at": event.at.isoformat(),
                "recordId": _id(event.record_id),
                "instanceId": _id(event.instance_id),
                "processId": _id(event.process_id),
                "fromStage": event.from_stage,
                "toStage": event.to_stage,
                "before": event.before,
                "after": event.after,
            },
            "instance": told.instance,
            "record": told.record,
        }
        return json.dumps(payload, separators=(",", ":"), default=str).encode()


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)
