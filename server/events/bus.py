"""The in-process bus: it carries only `seq` numbers; subscribers read the event rows."""

from __future__ import annotations

import asyncio


class LocalBus:
    """Wakes waiters when a newer seq has been committed in this process."""

    def __init__(self) -> None:
        self.last_seq = 0
        # Set, and replaced, whenever a newer seq is announced.
        self._newer = asyncio.Event()

    def publish(self, seq: int) -> None:
        """Announce that every event up to `seq` is committed (it takes no lock and does not
        wait: a notification's callback calls it)."""
        if seq > self.last_seq:
            self.last_seq = seq
            self._newer.set()
            self._newer = asyncio.Event()

    async def wait_beyond(self, seq: int, timeout: float | None = None) -> int:
        """Wait until an event after `seq` is announced; return the last announced seq."""
        async with asyncio.timeout(timeout):
            while self.last_seq <= seq:
                await self._newer.wait()
        return self.last_seq
