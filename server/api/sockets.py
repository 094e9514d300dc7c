"""Open websockets by credential, closed as soon as their credential stops being valid.

Every worker follows the event log for changes to access (a revoked session or token, a
user changed or made inactive) and closes the sockets it holds for them with 4401, so a
revocation takes effect at once, also on a socket that is receiving nothing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Protocol

from server.domain import events
from server.events.feed import follow
from server.services import accounts
from server.services.runtime import Runtime, patiently

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401


class Held(Protocol):
    """A connection the registry can close."""

    async def close_unauthorized(self) -> None: ...


class Sockets:
    NAME = "access-watch"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._by_credential: dict[int, set[Held]] = {}
        self._users: dict[int, int] = {}  # credential id -> user id
        # The last event the watch has looked at: a restarted watch goes on from there.
        self._seen: int | None = None

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_credential.values())

    def add(self, credential: accounts.Credential, held: Held) -> None:
        self._by_credential.setdefault(credential.id, set()).add(held)
        self._users[credential.id] = credential.user.id
        self.runtime.supervisor.start(self.NAME, self._watch)

    def discard(self, credential_id: int, held: Held) -> None:
        found = self._by_credential.get(credential_id)
        if found is None:
            return
        found.discard(held)
        if not found:
            del self._by_credential[credential_id]
            self._users.pop(credential_id, None)

    async def stop(self) -> None:
        await self.runtime.supervisor.stop(self.NAME)

    async def _watch(self) -> None:
        """Runs under the supervisor; a restart goes on after the last event looked at."""
        feed = follow(
            self.runtime.hub, after_seq=self._seen, keep=lambda e: e.kind in events.ACCESS_KINDS
        )
        async for event in feed:
            try:  # waits while the database is away; another failure skips this event only
                await patiently(functools.partial(self._recheck, event))
            except Exception:
                log.exception("re-checking sockets after event %s", event.seq)
            self._seen = event.seq

    async def _recheck(self, event: events.Event) -> None:
        after = event.after or {}
        if event.kind is events.EventKind.CREDENTIAL_REVOKED:
            suspects = [after.get("credentialId")]
        elif event.kind is events.EventKind.USER_UPDATED:
            suspects = [c for c, u in self._users.items() if u == after.get("userId")]
        else:
            return
        for credential_id in suspects:
            if not isinstance(credential_id, int) or credential_id not in self._by_credential:
                continue
            if await accounts.still_valid(self.runtime, credential_id) is not None:
                continue
            for held in list(self._by_credential.get(credential_id, ())):
                with contextlib.suppress(Exception):
                    await held.close_unauthorized()
