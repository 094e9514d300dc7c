"""Users and bearer tokens for tests, written straight to the tables."""

from __future__ import annotations

import datetime as dt
import secrets

from server.db import accounts as stored
from server.domain.access import BaseRole, User
from server.services import accounts


async def make_user(
    name: str, role: BaseRole = BaseRole.ADMIN, teams: frozenset[str] = frozenset()
) -> tuple[User, str]:
    """A user and a bearer token (no password, no event)."""
    now = dt.datetime.now(dt.UTC)
    user = await stored.insert_user(User(0, name, role, teams), "!", now)
    secret = accounts.TOKEN_PREFIX + secrets.token_urlsafe(32)
    await stored.insert_credential(
        user,
        kind=accounts.TOKEN,
        label="tests",
        secret_hash=accounts.secret_hash(secret),
        csrf=None,
        now=now,
        expires_at=None,
    )
    return user, secret
