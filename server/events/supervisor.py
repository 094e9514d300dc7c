"""Long-running work, kept running: a task that fails or stops is started again.

Each restart is logged with its reason and counted (`/metrics`); the pause before it
doubles from `first_delay` up to `max_delay`, with jitter so workers do not reconnect
in step, and starts small again once the task has run well for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from server.db.outage import DatabaseUnavailable, is_transient

log = logging.getLogger("stageflow.supervisor")

# A task that ran this long before failing is not failing in a loop.
_HEALTHY_SECONDS = 1.0


class Supervisor:
    def __init__(self, *, first_delay: float = 0.05, max_delay: float = 1.0) -> None:
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.restarts: Counter[str] = Counter()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` under `name` until stopped; a second start of a running name does nothing."""
        running = self._tasks.get(name)
        if running is not None and not running.done():
            return
        self._tasks[name] = asyncio.create_task(self._keep(name, work), name=f"stageflow-{name}")

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def stop(self, name: str | None = None) -> None:
        """Stop one task, or all of them."""
        names = [name] if name is not None else list(self._tasks)
        for each in names:
            task = self._tasks.pop(each, None)
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def delay(self, failures: int) -> float:
        """The pause before the restart after `failures` failures in a row."""
        base = min(self.max_delay, self.first_delay * 2 ** max(0, failures - 1))
        return base * random.uniform(0.5, 1.0)

    async def _keep(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await work()
                reason = "it stopped"
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_transient(error) or isinstance(error, DatabaseUnavailable):
                    reason = f"the database connection failed ({type(error).__name__}: {error})"
                else:
                    log.exception("%s failed", name)
                    reason = f"{type(error).__name__}: {error}"
            failures = 1 if time.monotonic() - started > _HEALTHY_SECONDS else failures + 1
            self.restarts[name] += 1
            pause = self.delay(failures)
            log.warning("%s restarts in %.2f s: %s", name, pause, reason[:300])
            await asyncio.sleep(pause)
