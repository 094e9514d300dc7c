"""The credentials that requests present, kept between requests.

Every request, and every event a subscription sends, presents a credential; reading it
each time cost a statement per request. A credential is kept as the database had it,
keyed by the SHA-256 of its secret, until the event feed that every worker follows tells
of a change to it or to its user (a revocation, a user made inactive or given other roles):
from the moment this worker has read such an event it answers as the database does.
Expiry is checked against the clock at every use. Unknown secrets are not kept.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict

from server.db import accounts
from server.db.accounts import Credential
from server.domain.events import Event, EventKind

LIMIT = 10_000
# A safety net only: the feed drops a changed credential long before.
KEEP_SECONDS = 300.0

_CHANGES = frozenset({EventKind.CREDENTIAL_REVOKED, EventKind.USER_UPDATED})


class Credentials:
    # What may change a kept credential.
    CHANGES = _CHANGES

    def __init__(self, *, limit: int = LIMIT, keep_seconds: float = KEEP_SECONDS) -> None:
        self.limit = limit
        self.keep_seconds = keep_seconds
        self._kept: OrderedDict[str, tuple[Credential, float]] = OrderedDict()
        self._hashes: dict[int, str] = {}  # credential id -> secret hash
        # Bumped by every change the feed tells of: a read that began before one is not kept.
        self._generation = 0

    def __len__(self) -> int:
        return len(self._kept)

    async def by_secret_hash(
        self, secret_hash: str, *, now: float | None = None
    ) -> Credential | None:
        """The credential, valid now, that a secret with this hash stands for."""
        now = time.monotonic() if now is None else now
        kept = self._kept.get(secret_hash)
        if kept is not None and now - kept[1] < self.keep_seconds:
            credential: Credential | None = kept[0]
        else:
            generation = self._generation
            credential = await accounts.credential_by_secret(secret_hash)
            if credential is not None and generation == self._generation:
                self._keep(secret_hash, credential, now)
        return credential if credential is not None and _valid(credential) else None

    async def by_id(self, credential_id: int) -> Credential | None:
        """The credential, if it is still valid: a subscription asks before every event."""
        secret_hash = self._hashes.get(credential_id)
        if secret_hash is not None:
            return await self.by_secret_hash(secret_hash)
        credential = await accounts.credential_by_id(credential_id)
        return credential if credential is not None and _valid(credential) else None

    def observe(self, event: Event) -> None:
        """Told of every event this worker's feed reads."""
        if event.kind not in _CHANGES:
            return
        self._generation += 1
        after = event.after or {}
        gone = [
            h
            for h, (credential, _) in self._kept.items()
            if credential.id == after.get("credentialId")
            or credential.user.id == after.get("userId")
        ]
        for secret_hash in gone:
            self._drop(secret_hash)

    def _keep(self, secret_hash: str, credential: Credential, now: float) -> None:
        self._kept[secret_hash] = (credential, now)
        self._kept.move_to_end(secret_hash)
        self._hashes[credential.id] = secret_hash
        while len(self._kept) > self.limit:
            self._drop(next(iter(self._kept)))

    def _drop(self, secret_hash: str) -> None:
        kept = self._kept.pop(secret_hash, None)
        if kept is not None:
            self._hashes.pop(kept[0].id, None)


def _valid(credential: Credential) -> bool:
    return credential.valid_at(dt.datetime.now(dt.UTC))
