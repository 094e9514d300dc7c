"""Users, their credentials (sessions and API tokens), and sign-in attempts and addresses,
in the tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from server.db import transaction
from server.db.models import CredentialRow, SignInAddressRow, SignInAttemptRow, UserRow
from server.domain.access import User, stored_roles, user_from_roles
from server.domain.errors import InvalidValue, NotFound


@dataclass(frozen=True)
class Credential:
    id: int
    user: User
    kind: str
    label: str
    csrf: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def valid_at(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None or not self.user.active:
            return False
        return self.expires_at is None or now < self.expires_at


def _user(row: UserRow) -> User:
    return user_from_roles(row.id, row.name, row.roles, row.active)


def _credential(row: CredentialRow, user: User) -> Credential:
    return Credential(
        id=row.id,
        user=user,
        kind=row.kind,
        label=row.label,
        csrf=row.csrf,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def count_users() -> int:
    return await UserRow.all().count()


async def insert_user(user: User, password_hash: str, now: dt.datetime) -> User:
    try:
        row = await UserRow.create(
            name=user.name,
            password_hash=password_hash,
            roles=stored_roles(user),
            active=user.active,
            created_at=now,
        )
    except IntegrityError:
        raise InvalidValue("name", f"a user named {user.name!r} exists") from None
    return _user(row)


async def update_user(user: User, password_hash: str | None = None) -> User:
    values: dict[str, object] = {"roles": stored_roles(user), "active": user.active}
    if password_hash is not None:
        values["password_hash"] = password_hash
    if not await UserRow.filter(id=user.id).update(**values):
        raise NotFound("User", user.id)
    return user


async def user_by_name(name: str) -> tuple[User, str] | None:
    """The user and their password hash."""
    row = await UserRow.get_or_none(name=name)
    return (_user(row), row.password_hash) if row else None


async def user_by_id(id: int) -> User:
    row = await UserRow.get_or_none(id=id)
    if row is None:
        raise NotFound("User", id)
    return _user(row)


async def active_admins() -> int:
    return sum(_user(row).is_admin for row in await UserRow.filter(active=True))


async def list_users(*, first: int, after: str | None = None) -> list[User]:
    """Users by name, `first` of them after the name `after`."""
    query = UserRow.all() if after is None else UserRow.filter(name__gt=after)
    return [_user(row) for row in await query.order_by("name").limit(first)]


async def insert_credential(
    user: User,
    *,
    kind: str,
    label: str,
    secret_hash: str,
    csrf: str | None,
    now: dt.datetime,
    expires_at: dt.datetime | None,
) -> Credential:
    row = await CredentialRow.create(
        user_id=user.id,
        kind=kind,
        label=label,
        secret_hash=secret_hash,
        csrf=csrf,
        created_at=now,
        expires_at=expires_at,
    )
    return _credential(row, user)


async def credential_by_secret(secret_hash: str) -> Credential | None:
    row = await CredentialRow.get_or_none(secret_hash=secret_hash).select_related("user")
    return _credential(row, _user(row.user)) if row else None


async def credential_by_id(id: int) -> Credential | None:
    row = await CredentialRow.get_or_none(id=id).select_related("user")
    return _credential(row, _user(row.user)) if row else None


async def tokens_of(user_id: int, *, first: int, after: int = 0) -> list[Credential]:
    """The user's tokens not revoked, oldest first, `first` of them after the id `after`."""
    rows = (
        await CredentialRow.filter(user_id=user_id, kind="token", revoked_at=None, id__gt=after)
        .order_by("id")
        .limit(first)
    )
    user = await user_by_id(user_id)
    return [_credential(row, user) for row in rows]


async def revoke(credential_id: int, now: dt.datetime) -> bool:
    """Revoke once; False when already revoked."""
    return bool(
        await CredentialRow.filter(id=credential_id, revoked_at=None).update(revoked_at=now)
    )


async def revoke_all_of(user_id: int, now: dt.datetime) -> list[int]:
    ids = await CredentialRow.filter(user_id=user_id, revoked_at=None).values_list("id", flat=True)
    await CredentialRow.filter(id__in=list(ids)).update(revoked_at=now)
    return list(ids)  # type: ignore[arg-type]


# Sign-in attempts. Each attempt is counted against every key it concerns before its
# password is checked, in one transaction, all keys or none: on PostgreSQL the upsert takes
# the key's row lock until commit, so concurrent attempts on a key are counted one after the
# other (each takes its keys in sorted order, so no two wait on each other in a circle);
# SQLite runs one transaction at a time. Windows are read from the server's clock.

_COUNT = """INSERT INTO sign_in_attempt ("key", attempts, window_start) VALUES ({0}, 1, {1})
ON CONFLICT ("key") DO UPDATE SET
  attempts = CASE WHEN sign_in_attempt.window_start <= {2} THEN 1
                  ELSE sign_in_attempt.attempts + 1 END,
  window_start = CASE WHEN sign_in_attempt.window_start <= {2} THEN {1}
                      ELSE sign_in_attempt.window_start END
RETURNING attempts, window_start"""

_REMEMBER = """INSERT INTO sign_in_address (user_id, address, last_seen) VALUES ({0}, {1}, {2})
ON CONFLICT (user_id, address) DO UPDATE SET last_seen = {2}"""


@dataclass(frozen=True)
class Full:
    """The key whose limit an attempt would pass, and when its window began."""

    key: str
    window_start: int


class _Refused(Exception):
    def __init__(self, full: Full) -> None:
        self.full = full


def _sql(template: str, conn: Any, count: int) -> str:
    """`template` with its numbered parameters as the database spells them."""
    sign = "$" if _postgres(conn) else "?"
    return template.format(*(f"{sign}{i}" for i in range(1, count + 1)))


def _postgres(conn: Any) -> bool:
    return bool(conn.capabilities.dialect == "postgres")


def micros(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


async def count_attempt(
    limits: list[tuple[str, int]], *, now: dt.datetime, window: dt.timedelta
) -> Full | None:
    """Count one attempt against each (key, limit); None if every key stays within its
    limit, else nothing is counted and the first key that would pass its limit is told."""
    start, expired = micros(now), micros(now - window)

    async def count() -> None:
        conn = get_connection("default")
        query = _sql(_COUNT, conn, 3)
        for key, limit in sorted(limits):
            [row] = await conn.execute_query_dict(query, [key, start, expired])
            if int(row["attempts"]) > limit:
                raise _Refused(Full(key, int(row["window_start"])))

    try:
        # A commit whose answer was lost is counted again: an attempt is counted once or
        # twice, never not at all.
        await transaction.run(count, landed=_not_known)
    except _Refused as refused:
        return refused.full
    return None


async def _not_known(_: None) -> bool:
    return False


async def give_back(*, forget: list[str], one: list[str]) -> None:
    """After a sign-in: the keys in `forget` start again, those in `one` count one less."""
    await SignInAttemptRow.filter(key__in=forget).delete()
    await SignInAttemptRow.filter(key__in=one, attempts__gt=0).update(attempts=F("attempts") - 1)


async def forget_attempts_before(before: dt.datetime) -> None:
    """Drop the counts whose window has passed (they start again at their next attempt)."""
    await transaction.run(
        lambda: SignInAttemptRow.filter(window_start__lt=micros(before)).delete(),
        landed=_gone,
    )


async def _gone(_: object) -> bool:
    return True  # dropping stale counts again is harmless, and so is leaving them


async def address_known(user_id: int, address: str, *, since: dt.datetime) -> bool:
    """Whether the user signed in from `address` since then."""
    return await SignInAddressRow.filter(
        user_id=user_id, address=address, last_seen__gte=micros(since)
    ).exists()


async def remember_address(user_id: int, address: str, now: dt.datetime) -> None:
    """Within the sign-in's transaction: the user signed in from `address` now."""
    conn = get_connection("default")
    await conn.execute_query(_sql(_REMEMBER, conn, 3), [user_id, address, micros(now)])


async def forget_addresses_before(user_id: int, before: dt.datetime) -> None:
    """The user's addresses not signed in from since then are usual no more."""
    await SignInAddressRow.filter(user_id=user_id, last_seen__lt=micros(before)).delete()
