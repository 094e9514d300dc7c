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
from server.db.deliveries import Leased
from server.db.outage import patiently
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
                if self._any is None:
                    self._any = await self._webhooks_exist()
                if self._any:
                    planned = await self.plan()
                    leased = await self._lease()
                    if planned or leased:
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
        free = self.settings.webhook_concurrency - len(self._inflight)
        if free <= 0:
            return 0
        taken = await transaction.run(
            lambda: deliveries.lease(
                now=self.clock(),
                limit=free,
                lease_seconds=self.settings.webhook_timeout_seconds
                + self.settings.webhook_lease_seconds,
            )
        )
        for leased in taken:
            task = asyncio.create_task(self._deliver(leased))
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
        """Plan, then lease and send what is due, once; the number of tries (for tests)."""
        await self.plan()
        taken = await self._lease()
        tasks = list(self._inflight)
        await asyncio.gather(*tasks, return_exceptions=True)
        return taken

    async def _deliver(self, leased: Leased) -> None:
        target = await patiently(lambda: webhooks.target_of(leased.webhook_id))
        body = await patiently(lambda: self.body(leased))
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

        async def settle() -> Event | None:
            kept = await deliveries.settle(
                leased, now=now, status=status, error=error, duration_ms=took, next_at=again
            )
            if not kept:
                return None
            failures = await deliveries.count_failure(leased.webhook_id, ok=ok)
            if ok or failures < self.settings.webhook_pause_after:
                return None
            reason = f"Paused after {failures} failed tries in a row; the last: {error}"
            paused = await deliveries.pause(leased.webhook_id, reason=reason[:500], now=now)
            if paused is None:
                return None
            return await store.append_event(
                Event(EventKind.WEBHOOK_PAUSED, ACTOR, now, after=paused)
            )

        event = await transaction.run(settle)
        if event is not None:
            log.warning("webhook %s paused: %s", leased.webhook_id, (event.after or {})["reason"])
            self.rt.hub.tell(event)
            self.rt.bus.publish(event.seq or 0)

    def headers(self, leased: Leased, *, secret: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        return {
            "Stageflow-Delivery": leased.uid,
            "Stageflow-Event-Seq": str(leased.seq),
            "Stageflow-Timestamp": str(timestamp),
            "Stageflow-Webhook-Id": str(leased.webhook_id),
            SIGNATURE_HEADER: signature(secret, timestamp=timestamp, body=body),
        }

    async def body(self, leased: Leased) -> bytes | None:
        """The delivery's JSON: the event, and its instance and record as they were after it.
        The same bytes at every try."""
        event = await deliveries.event_at(leased.seq)
        if event is None:
            return None
        instance = (
            await deliveries.instance_after(event.instance_id, leased.seq)
            if event.instance_id
            else None
        )
        record = (
            await deliveries.record_after(event.record_id, leased.seq) if event.record_id else None
        )
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
            "instance": instance,
            "record": record,
        }
        return json.dumps(payload, separators=(",", ":"), default=str).encode()


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)
