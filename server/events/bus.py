"""The in-process bus: it carries only `seq` numbers; subscribers read the event rows."""

from __future__ import annotations

import asyncio


class LocalBus:
    """Wakes waiters when a newer seq has been committed in this process."""

    def __init__(self) -> None:
        self.last_seq = 0
        self._changed = asyncio.Condition()

    async def publish(self, seq: int) -> None:
        """Announce that every event up to `seq` is committed."""
        async with self._changed:
            if seq > self.last_seq:
                self.last_seq = seq
                self._changed.notify_all()

    async def wait_beyond(self, seq: int, timeout: float | None = None) -> int:
        """Wait until an event after `seq` is announced; return the last announced seq."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.last_seq > seq), timeout=timeout
            )
            return self.last_seq
